/*!
The Kafka runtime: the same stages as the embedded server, one role per
process (or several roles in one), Kafka between them, PostgreSQL for the
shared state.

```text
 phones ─HTTP─▶ ingest ──batches (key: trip)──▶ detect ×N ──evidence (key: H3 res-7 region)──▶ cluster ×M
                  │ 202 after the broker's ack      │ raw batches → PostgreSQL           │ evidence → PostgreSQL
                  │ 503 while detect lags            │ trip ready → TripProcessor        │ dirty regions → ClusterIndex
                  ▼                                  ▼                                   ▼
              PostgreSQL ◀──────────── review (HTTP) and file (Open311) read the region clusters ──▶ clusters topic
```

- **ingest** validates an upload exactly as the embedded server does, and
  answers 202 only once the broker acknowledged the batch (`acks=all`,
  idempotent producer). A batch already stored under the same key is a
  duplicate (same digest) or a 409 (different), as in the embedded server.
- **detect** stores each batch in PostgreSQL with the Kafka partition it
  came on, and only then lets Kafka forget it. A trip is processed when
  complete (or silent for `trip_timeout_s`) by the detector that owns its
  partition now: after a rebalance the new owner finds the trip in the
  store. Its evidence goes out per region — every region it touches now or
  touched before, so a reprocessed trip replaces its old evidence — and
  the trip is marked processed once the broker acknowledged all of it.
- **cluster** replaces each (trip, region) evidence and marks the region
  and its neighbours dirty in one transaction, then recomputes dirty
  regions: the replay's `ClusterIndex` over the region and its ring of
  neighbours, keeping the clusters whose mode lies in the region. Regions
  are about 5 km²; a defect's cluster spans metres, so the result equals
  the one-process computation.
- **review** serves the review page and API over the regions' clusters;
  **file** runs the Open311 filer, one round at a time across processes
  (a PostgreSQL advisory lock), so the outbox stays exactly-once.

Every input is handled at least once and every state update is idempotent
(batch key, bump id, (trip, region) replacement), so a worker killed at any
moment changes nothing but timing.
*/

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bump_cluster::{BumpObs, CellIndex, ClusterIndex, KnownObstacle};
use bump_core::{TripBatch, TripId};
use bump_kafka::{
    Consumer, HandlerError, KafkaConfig, LagMonitor, Message, Output, Producer, Role as KafkaRole, Topic,
};
use bump_store::{BatchPut, NewBatch, RegionEvidence, TripEvidence};
use chrono::Utc;
use h3o::Resolution;
use tokio::sync::{Notify, watch};

use crate::auth::batch_digest;
use crate::pipeline;
use crate::state::{AppState, ClusterView, Snapshot};

/// Resolution of the regions evidence is keyed and clusters are owned by.
pub const REGION_RESOLUTION: Resolution = Resolution::Seven;

/// Most messages a worker stores in one transaction.
const FETCH: usize = 64;

/// Quiet time after which dirty regions are recomputed.
const SETTLE: Duration = Duration::from_millis(250);
/// Longest a dirty region waits for the evidence to settle.
const SETTLE_MAX: Duration = Duration::from_secs(2);

/// Largest evidence message; beyond it the traces (shown on the review
/// page only) are left out rather than the message refused by the broker.
const MAX_EVIDENCE_BYTES: usize = 900_000;

/// A role of the Kafka runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// HTTP uploads to the batches topic.
    Ingest,
    /// Batches to evidence.
    Detect,
    /// Evidence to clusters.
    Cluster,
    /// The Open311 filer and status sync.
    File,
    /// The review page and API.
    Review,
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim() {
            "ingest" => Self::Ingest,
            "detect" => Self::Detect,
            "cluster" => Self::Cluster,
            "file" => Self::File,
            "review" => Self::Review,
            other => {
                return Err(format!(
                    "unknown role {other:?} (ingest, detect, cluster, file, review)"
                ));
            }
        })
    }
}

/// The Kafka side of an ingest process.
#[derive(Debug)]
pub struct KafkaSink {
    producer: Producer,
    topic: String,
    /// The detect group's latest measured lag on the batches topic.
    lag: AtomicI64,
    max_lag: u64,
}

impl KafkaSink {
    /// Whether uploads must wait.
    #[must_use]
    pub fn lagging(&self) -> bool {
        LagMonitor::over(self.lag.load(Ordering::Relaxed), self.max_lag)
    }

    /// Sends a validated batch; returns once the broker acknowledged it.
    pub(crate) async fn send(&self, trip: &TripId, body: &[u8], digest: &str) -> Result<(), bump_kafka::Error> {
        let out = Output::new(self.topic.clone(), bump_kafka::batch_key(trip), body.to_vec())
            .with_header("digest", digest.as_bytes().to_vec());
        self.producer.send_all(&[out]).await.map(|_| ())
    }
}

/// The `[kafka]` section as the transport's configuration.
///
/// # Errors
///
/// The section is missing, has unknown keys or invalid values.
pub fn kafka_config(cfg: &bump_pipeline::PipelineConfig) -> Result<KafkaConfig, String> {
    let table = cfg
        .kafka
        .clone()
        .ok_or("runtime.mode = \"kafka\" needs a [kafka] section")?;
    let k: KafkaConfig = table.try_into().map_err(|e| format!("[kafka]: {e}"))?;
    k.validate().map_err(|e| format!("[kafka]: {e}"))?;
    Ok(k)
}

/// The H3 resolution-7 region of a cell.
fn region_of(cell: CellIndex) -> Option<CellIndex> {
    cell.parent(REGION_RESOLUTION)
}

/// A region and its ring of neighbours, as text.
fn halo(region: CellIndex) -> Vec<String> {
    region.grid_disk::<Vec<_>>(1).iter().map(ToString::to_string).collect()
}

/// Starts the tasks of `roles` (besides HTTP, which the caller serves).
pub(crate) async fn spawn(
    state: &Arc<AppState>,
    kafka: &KafkaConfig,
    roles: &BTreeSet<Role>,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, bump_kafka::Error> {
    let mut tasks = Vec::new();
    if roles.contains(&Role::Ingest)
        && let Some(sink) = state.kafka.clone()
    {
        let monitor = LagMonitor::new(kafka, &kafka.group(KafkaRole::Detect))?;
        tasks.push(tokio::spawn(watch_lag(sink, monitor, stop.clone())));
    }
    if roles.contains(&Role::Detect) {
        tasks.extend(detect(state, kafka, stop)?);
    }
    if roles.contains(&Role::Cluster) {
        tasks.extend(cluster(state, kafka, stop)?);
    }
    if roles.contains(&Role::Review) || roles.contains(&Role::File) {
        tasks.push(tokio::spawn(follow_clusters(Arc::clone(state), stop.clone())));
    } else {
        state.ready.store(true, Ordering::Relaxed);
    }
    if roles.contains(&Role::Review) {
        tasks.push(tokio::spawn(recompute_on_review(Arc::clone(state), stop.clone())));
    }
    if roles.contains(&Role::File) {
        tasks.push(tokio::spawn(file(Arc::clone(state), stop.clone())));
    }
    Ok(tasks)
}

async fn watch_lag(sink: Arc<KafkaSink>, monitor: LagMonitor, mut stop: watch::Receiver<bool>) {
    loop {
        match monitor.lag(&sink.topic).await {
            Ok(l) => sink.lag.store(l, Ordering::Relaxed),
            Err(e) => tracing::warn!(message = "Cannot measure the detect group's lag.", error = %e),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The ingest sink for `kafka`.
///
/// # Errors
///
/// When the producer cannot be created.
pub fn sink(kafka: &KafkaConfig) -> Result<Arc<KafkaSink>, bump_kafka::Error> {
    Ok(Arc::new(KafkaSink {
        producer: Producer::new(kafka)?,
        topic: kafka.topic(Topic::Batches),
        lag: AtomicI64::new(0),
        max_lag: kafka.max_lag,
    }))
}

/// Runs `consumer`'s loop in a task, storing each fetch with `store`,
/// which wakes the stage's other task through `notify`.
fn consume<F, Fut>(
    consumer: Arc<Consumer>,
    state: &Arc<AppState>,
    notify: &Arc<Notify>,
    stop: &watch::Receiver<bool>,
    store: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(Arc<AppState>, Arc<Notify>, Vec<Message>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<Output>, HandlerError>> + Send,
{
    let (st, n, stop) = (Arc::clone(state), Arc::clone(notify), stop.clone());
    tokio::spawn(async move {
        let handler = move |msgs: Vec<Message>| store(Arc::clone(&st), Arc::clone(&n), msgs);
        if let Err(e) = consumer.run_batched(FETCH, handler, stop).await {
            tracing::error!(message = "A consumer stopped.", group = consumer.group(), error = %e);
        }
    })
}

fn detect(
    state: &Arc<AppState>,
    kafka: &KafkaConfig,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, bump_kafka::Error> {
    let producer = Producer::new(kafka)?;
    let consumer = Arc::new(Consumer::for_role(kafka, KafkaRole::Detect, producer.clone())?);
    let stored = Arc::new(Notify::new());
    let consume = consume(Arc::clone(&consumer), state, &stored, stop, |st, n, msgs| async move {
        store_batches(&st, &n, &msgs).await
    });
    let batches = kafka.topic(Topic::Batches);
    let evidence = kafka.topic(Topic::Evidence);
    let schedule = tokio::spawn(detect_trips(
        Arc::clone(state),
        consumer,
        producer,
        batches,
        evidence,
        stored,
        stop.clone(),
    ));
    Ok(vec![consume, schedule])
}

async fn store_batches(state: &AppState, stored: &Notify, msgs: &[Message]) -> Result<Vec<Output>, HandlerError> {
    // Parse all first: one bad message poisons the batch, which the
    // consumer then hands over one message at a time.
    let parsed = msgs
        .iter()
        .map(|m| {
            TripBatch::from_json(m.payload()).map(|b| {
                let d = batch_digest(&b);
                (b, d)
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(HandlerError::poison)?;
    let news: Vec<NewBatch<'_>> = parsed
        .iter()
        .zip(msgs)
        .map(|((b, d), m)| NewBatch {
            part: Some(m.partition()),
            trip_id: b.trip_id.as_str(),
            seq: b.seq,
            device_id: b.device_id.as_str(),
            is_final: b.is_final,
            body: m.payload(),
            digest: d,
        })
        .collect();
    let answers = state
        .store
        .put_batches(&news, Utc::now())
        .await
        .map_err(HandlerError::retryable)?;
    let mut conflict = None;
    for (answer, b) in answers.iter().zip(&news) {
        match answer {
            BatchPut::Inserted => {
                state.metrics.batches_accepted.fetch_add(1, Ordering::Relaxed);
            }
            BatchPut::Duplicate => {
                state.metrics.batches_duplicate.fetch_add(1, Ordering::Relaxed);
            }
            // Two different batches under one key reached Kafka before
            // either was stored; the first stored stands.
            BatchPut::Conflict => {
                conflict = Some(format!(
                    "batch {} of trip {} conflicts with the one stored",
                    b.seq, b.trip_id
                ));
            }
        }
    }
    if answers.contains(&BatchPut::Inserted) {
        stored.notify_one();
    }
    match conflict {
        // The others are stored; handled alone they come back as
        // duplicates and only the conflicting one is dead-lettered.
        Some(why) => Err(HandlerError::poison(why)),
        None => Ok(Vec::new()),
    }
}

async fn detect_trips(
    state: Arc<AppState>,
    consumer: Arc<Consumer>,
    producer: Producer,
    batches: String,
    evidence: String,
    stored: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    state.ready.store(true, Ordering::Relaxed);
    let width = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    loop {
        if *stop.borrow() {
            return;
        }
        let parts: Vec<i32> = consumer
            .assignment()
            .unwrap_or_default()
            .into_iter()
            .filter(|(t, _)| *t == batches)
            .map(|(_, p)| p)
            .collect();
        match state
            .store
            .ready_trips_in(&parts, Utc::now(), state.cfg.serve.trip_timeout_s)
            .await
        {
            Ok(trips) => {
                // Trips are independent: one per core at a time, so the
                // database and broker round trips of one overlap the
                // detection of another.
                let mut running = tokio::task::JoinSet::new();
                for trip in trips {
                    if *stop.borrow() {
                        break;
                    }
                    while running.len() >= width {
                        running.join_next().await;
                    }
                    let (st, p, topic) = (Arc::clone(&state), producer.clone(), evidence.clone());
                    running.spawn(async move {
                        if let Err(e) = detect_trip(&st, &p, &topic, &trip).await {
                            tracing::error!(message = "Cannot process a trip; it stays pending.", trip = %trip, error = %e);
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    });
                }
                while running.join_next().await.is_some() {}
            }
            Err(e) => tracing::error!(message = "Cannot list ready trips.", error = %e),
        }
        tokio::select! {
            () = stored.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(300)) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn detect_trip(state: &AppState, producer: &Producer, topic: &str, trip: &str) -> Result<(), String> {
    let started = Utc::now();
    let t0 = std::time::Instant::now();
    let bodies = state.store.trip_batches(trip).await.map_err(|e| e.to_string())?;
    let t_load = t0.elapsed();
    let cfg = state.cfg.clone();
    let id = trip.to_owned();
    let ev = tokio::task::spawn_blocking(move || pipeline::process(&id, &bodies, cfg, started))
        .await
        .map_err(|e| format!("worker panicked: {e}"))?;
    let t_process = t0.elapsed();
    if let Some(why) = &ev.failed {
        tracing::warn!(message = "Trip has nothing usable; marked processed.", trip = %trip, reason = %why);
        state.metrics.trips_failed.fetch_add(1, Ordering::Relaxed);
    }
    let mut by_region: BTreeMap<String, TripEvidence> = BTreeMap::new();
    fn entry<'a>(
        map: &'a mut BTreeMap<String, TripEvidence>,
        trip: &str,
        region: String,
        passes: bool,
    ) -> &'a mut TripEvidence {
        map.entry(region.clone()).or_insert_with(|| TripEvidence {
            trip_id: trip.to_owned(),
            region,
            bumps: Vec::new(),
            coverage: Vec::new(),
            passes,
        })
    }
    let passes = ev.gives_passes;
    for b in ev.bumps {
        let region = serde_json::from_str::<BumpObs>(&b.obs)
            .ok()
            .and_then(|o| bump_cluster::cell_of(o.lat, o.lon))
            .and_then(region_of);
        if let Some(r) = region {
            entry(&mut by_region, trip, r.to_string(), passes).bumps.push(b);
        }
    }
    for (cell, t) in ev.coverage {
        if let Some(r) = cell.parse::<CellIndex>().ok().and_then(region_of) {
            entry(&mut by_region, trip, r.to_string(), passes)
                .coverage
                .push((cell, t));
        }
    }
    let regions: Vec<String> = by_region.keys().cloned().collect();
    // Regions the previous run touched and this one does not get an empty
    // replacement, so nothing of the old evidence survives.
    for old in state.store.trip_regions(trip).await.map_err(|e| e.to_string())? {
        entry(&mut by_region, trip, old, passes);
    }
    let n_bumps: usize = by_region
        .values()
        .map(|e| e.bumps.iter().filter(|b| !b.is_support()).count())
        .sum();
    let mut outputs = Vec::with_capacity(by_region.len());
    for (region, mut item) in by_region {
        let mut body = serde_json::to_vec(&item).map_err(|e| e.to_string())?;
        if body.len() > MAX_EVIDENCE_BYTES {
            for b in &mut item.bumps {
                b.trace = None;
            }
            body = serde_json::to_vec(&item).map_err(|e| e.to_string())?;
        }
        outputs.push(Output::new(topic.to_owned(), region.into_bytes(), body));
    }
    let t_regions = t0.elapsed();
    producer.send_all(&outputs).await.map_err(|e| e.to_string())?;
    let t_send = t0.elapsed();
    state
        .store
        .mark_trip_processed(trip, n_bumps, &regions, started, Utc::now())
        .await
        .map_err(|e| e.to_string())?;
    tracing::debug!(
        message = "Trip processed.",
        trip = %trip,
        load_ms = t_load.as_millis(),
        process_ms = (t_process - t_load).as_millis(),
        regions_ms = (t_regions - t_process).as_millis(),
        send_ms = (t_send - t_regions).as_millis(),
        mark_ms = (t0.elapsed() - t_send).as_millis(),
    );
    state.metrics.stage("process", t0.elapsed().as_secs_f64());
    state.metrics.trips_processed.fetch_add(1, Ordering::Relaxed);
    state.metrics.bumps.fetch_add(n_bumps as u64, Ordering::Relaxed);
    Ok(())
}

fn cluster(
    state: &Arc<AppState>,
    kafka: &KafkaConfig,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, bump_kafka::Error> {
    let producer = Producer::new(kafka)?;
    let consumer = Arc::new(Consumer::for_role(kafka, KafkaRole::Cluster, producer.clone())?);
    let dirty = Arc::new(Notify::new());
    let consume = consume(consumer, state, &dirty, stop, |st, n, msgs| async move {
        store_evidence(&st, &n, &msgs).await
    });
    let recompute = tokio::spawn(recompute_regions(
        Arc::clone(state),
        producer,
        kafka.topic(Topic::Clusters),
        dirty,
        stop.clone(),
    ));
    Ok(vec![consume, recompute])
}

async fn store_evidence(state: &AppState, dirty: &Notify, msgs: &[Message]) -> Result<Vec<Output>, HandlerError> {
    let mut items = Vec::with_capacity(msgs.len());
    let mut marks = BTreeSet::new();
    for msg in msgs {
        let ev: TripEvidence = serde_json::from_slice(msg.payload()).map_err(HandlerError::poison)?;
        let region: CellIndex = ev
            .region
            .parse()
            .map_err(|e| HandlerError::poison(format!("region {:?}: {e}", ev.region)))?;
        if region.resolution() != REGION_RESOLUTION {
            return Err(HandlerError::poison(format!(
                "region {} is not resolution 7",
                ev.region
            )));
        }
        marks.extend(halo(region));
        items.push(ev);
    }
    let marks: Vec<String> = marks.into_iter().collect();
    state
        .store
        .put_evidence(&items, &marks)
        .await
        .map_err(HandlerError::retryable)?;
    dirty.notify_one();
    Ok(Vec::new())
}

/// The clusters of one region from the evidence of it and its neighbours:
/// the replay's `ClusterIndex`, then known obstacles and classes.
fn region_views(
    state: &AppState,
    region: CellIndex,
    ev: RegionEvidence,
    inventory: &[KnownObstacle],
) -> Vec<ClusterView> {
    let mut index = ClusterIndex::new(state.cfg.cluster);
    let mut cov: BTreeMap<String, BTreeMap<CellIndex, f64>> = BTreeMap::new();
    for (trip, cell, t) in ev.coverage {
        if let Ok(c) = cell.parse::<CellIndex>() {
            cov.entry(trip).or_default().insert(c, t);
        }
    }
    for (trip, cells) in &cov {
        if let Ok(id) = TripId::new(trip.clone()) {
            index.add_coverage(&id, cells);
        }
    }
    for b in ev.bumps {
        if let Ok(obs) = serde_json::from_str::<BumpObs>(&b.obs) {
            index.add_bump(obs);
        }
    }
    let mine = index
        .clusters()
        .into_iter()
        .filter(|c| {
            bump_cluster::cell_of_cluster_id(&c.cluster_id)
                .and_then(region_of)
                .is_some_and(|r| r == region)
        })
        .collect();
    pipeline::views_of(state, mine, inventory)
}

async fn recompute_regions(
    state: Arc<AppState>,
    producer: Producer,
    topic: String,
    dirty: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    state.ready.store(true, Ordering::Relaxed);
    loop {
        match state.store.dirty_regions().await {
            Ok(regions) if !regions.is_empty() => {
                let inventory = pipeline::inventory(&state).await;
                for r in regions {
                    if *stop.borrow() {
                        return;
                    }
                    let Ok(region) = r.parse::<CellIndex>() else {
                        continue;
                    };
                    let t0 = std::time::Instant::now();
                    let mut views = Vec::new();
                    let done = state
                        .store
                        .recompute_region(&r, &halo(region), |ev| {
                            views = region_views(&state, region, ev, &inventory);
                            views
                                .iter()
                                .map(|v| {
                                    (
                                        v.cluster.cluster_id.clone(),
                                        serde_json::to_string(v).unwrap_or_default(),
                                    )
                                })
                                .collect()
                        })
                        .await;
                    match done {
                        Ok(_) => {
                            state.metrics.stage("cluster", t0.elapsed().as_secs_f64());
                            // The region's clusters, whole, keyed by region: a
                            // compacted topic keeps the latest set of each.
                            let body = serde_json::to_vec(&views).unwrap_or_default();
                            let out = Output::new(topic.clone(), r.clone().into_bytes(), body);
                            if let Err(e) = producer.send_all(&[out]).await {
                                tracing::warn!(message = "Cannot publish a region's clusters.", region = %r, error = %e);
                            }
                        }
                        Err(e) => tracing::error!(message = "Cannot recompute a region.", region = %r, error = %e),
                    }
                }
                settle(&dirty, &mut stop).await;
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(message = "Cannot list dirty regions.", error = %e),
        }
        tokio::select! {
            () = dirty.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => return,
        }
        settle(&dirty, &mut stop).await;
    }
}

/// Waits while evidence keeps coming (a pause of [`SETTLE`], at most
/// [`SETTLE_MAX`] in all): a region is recomputed whole, from all its
/// evidence, so recomputing once per burst instead of once per stored
/// fetch keeps the cost linear in the evidence.
async fn settle(dirty: &Notify, stop: &mut watch::Receiver<bool>) {
    let until = tokio::time::Instant::now() + SETTLE_MAX;
    loop {
        tokio::select! {
            () = dirty.notified() => {}
            () = tokio::time::sleep(SETTLE) => return,
            () = tokio::time::sleep_until(until) => return,
            _ = stop.changed() => return,
        }
    }
}

/// Loads every region's clusters into the snapshot the API and the filer
/// read, once a second.
async fn follow_clusters(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        match state.store.region_clusters().await {
            Ok(rows) => {
                let mut views: Vec<ClusterView> = rows
                    .iter()
                    .filter_map(|(_, _, v)| serde_json::from_str(v).ok())
                    .collect();
                // The embedded order: most trips first, then by id.
                views.sort_by(|a, b| {
                    b.cluster
                        .trips
                        .cmp(&a.cluster.trips)
                        .then_with(|| a.cluster.cluster_id.cmp(&b.cluster.cluster_id))
                });
                state.set_snapshot(Snapshot::new(views));
                state.ready.store(true, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(message = "Cannot read the clusters.", error = %e),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// A reviewer added a known obstacle: the regions with clusters are
/// computed again (by the cluster workers) so classes follow.
async fn recompute_on_review(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = state.recompute.notified() => {}
            _ = stop.changed() => return,
        }
        let regions: BTreeSet<String> = state
            .snapshot()
            .clusters
            .iter()
            .filter_map(|v| bump_cluster::cell_of_cluster_id(&v.cluster.cluster_id).and_then(region_of))
            .map(|r| r.to_string())
            .collect();
        let regions: Vec<String> = regions.into_iter().collect();
        if let Err(e) = state.store.put_evidence(&[], &regions).await {
            tracing::error!(message = "Cannot ask for the clusters to be recomputed.", error = %e);
        }
    }
}

/// The filer: one round at a time across every filer process.
async fn file(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    if state.registry.is_none() {
        tracing::warn!(message = "The file role has no jurisdiction registry; nothing will be filed.");
        return;
    }
    let every = Duration::from_secs_f64(state.cfg.serve.filing_interval_s);
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if !state.ready.load(Ordering::Relaxed) {
            continue;
        }
        match state.store.exclusive("streetbump.filer").await {
            Ok(_lease) => pipeline::file_round(&state).await,
            Err(e) => tracing::error!(message = "Cannot take the filer lock.", error = %e),
        }
    }
}

/// Whether this process's roles are served over HTTP.
#[must_use]
pub fn serves_http(roles: &BTreeSet<Role>) -> bool {
    roles.contains(&Role::Ingest) || roles.contains(&Role::Review)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bump_cluster::Classified;

    #[test]
    fn roles_parse_and_unknown_ones_are_named() {
        assert_eq!("detect".parse::<Role>(), Ok(Role::Detect));
        assert_eq!(" review ".parse::<Role>(), Ok(Role::Review));
        let e = "clusterer".parse::<Role>().unwrap_err();
        assert!(e.contains("clusterer") && e.contains("ingest"), "{e}");
        assert!(serves_http(&[Role::Review].into()));
        assert!(!serves_http(&[Role::Detect, Role::Cluster, Role::File].into()));
    }

    #[test]
    fn a_region_is_the_resolution_7_parent_and_its_halo_has_seven_cells() {
        let cell = bump_cluster::cell_of(42.3601, -71.0589).unwrap();
        let region = region_of(cell).unwrap();
        assert_eq!(region.resolution(), REGION_RESOLUTION);
        let h = halo(region);
        assert_eq!(h.len(), 7);
        assert!(h.contains(&region.to_string()));
    }

    #[test]
    fn a_view_with_nan_survives_the_store_round_trip() {
        // serde_json writes NaN as null; what the cluster workers store must
        // read back, or the review role would drop the cluster.
        let class = Classified {
            class: "unknown".into(),
            probability: f64::NAN,
            source: "none".into(),
            probabilities: [f64::NAN; 5],
        };
        let text = serde_json::to_string(&class).unwrap();
        let back: Classified = serde_json::from_str(&text).unwrap();
        assert!(back.probability.is_nan() && back.probabilities.iter().all(|p| p.is_nan()));
        assert_eq!(back.source, "none");
    }
}
