/*!
The stages as tokio tasks joined by bounded channels.

```text
 store ──▶ scheduler ──trip ids──▶ workers (N, blocking threads) ──evidence──▶ clusterer ──▶ store + snapshot
 (batches)  ready trips            assemble, TripProcessor            one transaction per trip
                                                                        ClusterIndex, classify
 filer: every filing_interval_s, the snapshot ──▶ Open311 (bump-filing) ──▶ outbox
 retention: hourly, processed raw batches older than raw_retention_days are deleted
```

The stage code is the replay's: `TripProcessor` per trip (with the same
privacy trim), then `ClusterIndex`, `match_known` and `classify_clusters`
over all evidence, so the same trips give the same clusters either way.
A trip's evidence and the marks that its batches were processed are
committed together; a trip killed mid-way is simply processed again, and
bumps have stable ids, so nothing is lost or counted twice. A channel that
is full makes the stage before it wait; the backlog that builds up is the
store's pending batches, which uploads see as 503.
*/

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bump_cluster::{BumpObs, CellIndex, Cluster, ClusterIndex, KnownObstacle, classify_clusters, match_known};
use bump_core::{TripBatch, TripId};
use bump_filing::{Candidate, Filer};
use bump_pipeline::{Trace, TripProcessor};
use bump_store::StoredBump;
use chrono::Utc;
use tokio::sync::{mpsc, watch};

use crate::state::{AppState, ClusterView, Snapshot};

/// A processed trip on its way to the clusterer.
#[derive(Debug)]
pub(crate) struct Evidence {
    pub(crate) trip_id: String,
    pub(crate) started: chrono::DateTime<Utc>,
    pub(crate) bumps: Vec<StoredBump>,
    pub(crate) coverage: Vec<(String, f64)>,
    /// Whether the coverage counts as passes (`TripOutcome::gives_passes`).
    pub(crate) gives_passes: bool,
    pub(crate) failed: Option<String>,
}

/// Starts the stage tasks; they stop when `stop` turns true, after
/// finishing the trips in flight.
pub(crate) fn spawn(state: Arc<AppState>, stop: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
    let cap = state.cfg.serve.channel_capacity;
    let (trip_tx, trip_rx) = mpsc::channel::<String>(cap);
    let (ev_tx, ev_rx) = mpsc::channel::<Evidence>(cap);
    let trip_rx = Arc::new(tokio::sync::Mutex::new(trip_rx));
    let in_flight = Arc::new(std::sync::Mutex::new(HashSet::<String>::new()));
    let mut tasks = vec![tokio::spawn(scheduler(
        Arc::clone(&state),
        trip_tx,
        Arc::clone(&in_flight),
        stop.clone(),
    ))];
    for _ in 0..state.cfg.serve.workers {
        tasks.push(tokio::spawn(worker(
            Arc::clone(&state),
            Arc::clone(&trip_rx),
            ev_tx.clone(),
        )));
    }
    drop(ev_tx);
    tasks.push(tokio::spawn(clusterer(Arc::clone(&state), ev_rx, in_flight)));
    tasks.push(tokio::spawn(filer(Arc::clone(&state), stop.clone())));
    tasks.push(tokio::spawn(retention(state, stop)));
    tasks
}

async fn scheduler(
    state: Arc<AppState>,
    tx: mpsc::Sender<String>,
    in_flight: Arc<std::sync::Mutex<HashSet<String>>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        match state
            .store
            .ready_trips(Utc::now(), state.cfg.serve.trip_timeout_s)
            .await
        {
            Ok(trips) => {
                for t in trips {
                    let fresh = in_flight.lock().is_ok_and(|mut s| s.insert(t.clone()));
                    if !fresh {
                        continue;
                    }
                    state.queued_trips.fetch_add(1, Ordering::Relaxed);
                    // Waits while the workers are busy: backpressure.
                    tokio::select! {
                        r = tx.send(t) => if r.is_err() { return },
                        _ = stop.changed() => return,
                    }
                }
            }
            Err(e) => tracing::error!(message = "Cannot list ready trips.", error = %e),
        }
        tokio::select! {
            () = state.batch_stored.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn worker(state: Arc<AppState>, rx: Arc<tokio::sync::Mutex<mpsc::Receiver<String>>>, tx: mpsc::Sender<Evidence>) {
    loop {
        let next = rx.lock().await.recv().await;
        let Some(trip_id) = next else { return };
        state.queued_trips.fetch_sub(1, Ordering::Relaxed);
        let started = Utc::now();
        let t0 = Instant::now();
        let ev = match state.store.trip_batches(&trip_id).await {
            Ok(bodies) => {
                let cfg = state.cfg.clone();
                let id = trip_id.clone();
                tokio::task::spawn_blocking(move || process(&id, &bodies, cfg, started))
                    .await
                    .unwrap_or_else(|e| Evidence {
                        trip_id: trip_id.clone(),
                        started,
                        bumps: Vec::new(),
                        coverage: Vec::new(),
                        gives_passes: true,
                        failed: Some(format!("worker panicked: {e}")),
                    })
            }
            Err(e) => {
                tracing::error!(message = "Cannot read a trip's batches.", trip = %trip_id, error = %e);
                continue;
            }
        };
        state.metrics.stage("process", t0.elapsed().as_secs_f64());
        if tx.send(ev).await.is_err() {
            return;
        }
    }
}

/// Assembles and processes one trip: pure, on a blocking thread.
pub(crate) fn process(
    trip_id: &str,
    bodies: &[Vec<u8>],
    cfg: bump_pipeline::PipelineConfig,
    started: chrono::DateTime<Utc>,
) -> Evidence {
    let fail = |why: String| Evidence {
        trip_id: trip_id.to_owned(),
        started,
        bumps: Vec::new(),
        coverage: Vec::new(),
        gives_passes: true,
        failed: Some(why),
    };
    let batches: Result<Vec<TripBatch>, _> = bodies.iter().map(|b| TripBatch::from_json(b)).collect();
    let trip = match batches.and_then(TripBatch::assemble) {
        Ok(t) => t,
        Err(e) => return fail(e.to_string()),
    };
    let mut proc = TripProcessor::new(cfg);
    match proc.run_with_traces(&trip, 1.0) {
        Ok((out, traces)) => Evidence {
            trip_id: trip_id.to_owned(),
            started,
            bumps: out
                .bumps
                .iter()
                .zip(traces.iter().map(Some).chain(std::iter::repeat(None)))
                .map(|(b, tr)| StoredBump {
                    bump_id: b.bump_id.to_string(),
                    trip_id: trip_id.to_owned(),
                    t: b.t,
                    obs: serde_json::to_string(&BumpObs::from_bump(b)).unwrap_or_default(),
                    trace: tr
                        .and_then(Option::as_ref)
                        .and_then(|t: &Trace| serde_json::to_string(t).ok()),
                })
                .collect(),
            coverage: out.coverage.iter().map(|(c, t)| (c.to_string(), *t)).collect(),
            gives_passes: out.gives_passes,
            failed: None,
        },
        Err(e) => fail(e.to_string()),
    }
}

/// Loads every stored bump and coverage row into a fresh index.
pub(crate) async fn load_index(state: &AppState) -> Result<(ClusterIndex, HashSet<String>), bump_store::Error> {
    let mut index = ClusterIndex::new(state.cfg.cluster);
    let mut trips = HashSet::new();
    for (trip, cells) in &state.store.pass_coverage_by_trip().await? {
        if let Ok(id) = TripId::new(trip.clone()) {
            index.add_coverage(&id, cells);
            trips.insert(trip.clone());
        }
    }
    for b in state.store.bumps().await? {
        if let Ok(obs) = serde_json::from_str::<BumpObs>(&b.obs) {
            index.add_bump(obs);
            trips.insert(b.trip_id);
        }
    }
    Ok((index, trips))
}

/// The inventory: the city's, plus obstacles reviewers added.
pub(crate) async fn inventory(state: &AppState) -> Vec<KnownObstacle> {
    let mut inventory: Vec<KnownObstacle> = state.inventory.clone();
    if let Ok(added) = state.store.known().await {
        inventory.extend(added.into_iter().map(|(asset_id, kind, lat, lon)| KnownObstacle {
            asset_id,
            kind,
            lat,
            lon,
        }));
    }
    inventory
}

/// Known obstacles, classes and jurisdictions of clusters: the replay's
/// steps after clustering.
pub(crate) fn views_of(state: &AppState, clusters: Vec<Cluster>, inventory: &[KnownObstacle]) -> Vec<ClusterView> {
    let known = match_known(&clusters, inventory, state.cfg.known.max_distance_m);
    let classes = classify_clusters(&clusters, &known, state.model.as_ref());
    clusters
        .into_iter()
        .zip(classes)
        .zip(known)
        .map(|((cluster, class), known)| ClusterView {
            jurisdiction_id: state
                .registry
                .as_ref()
                .and_then(|r| r.locate(cluster.lat, cluster.lon))
                .map(|j| j.jurisdiction_id.clone()),
            cluster,
            class,
            known,
        })
        .collect()
}

/// Clusters, known obstacles and classes from an index: the replay's steps.
pub(crate) async fn snapshot_of(state: &AppState, index: &ClusterIndex) -> Snapshot {
    let inventory = inventory(state).await;
    Snapshot::new(views_of(state, index.clusters(), &inventory))
}

async fn publish(state: &AppState, index: &ClusterIndex) {
    let t0 = Instant::now();
    let snap = snapshot_of(state, index).await;
    let rows: Vec<(String, String)> = snap
        .clusters
        .iter()
        .map(|v| {
            (
                v.cluster.cluster_id.clone(),
                serde_json::to_string(&crate::api::summary_json(v, None, None)).unwrap_or_default(),
            )
        })
        .collect();
    if let Err(e) = state.store.save_clusters(&rows).await {
        tracing::error!(message = "Cannot store the clusters.", error = %e);
    }
    state.set_snapshot(snap);
    state.metrics.stage("cluster", t0.elapsed().as_secs_f64());
}

async fn clusterer(
    state: Arc<AppState>,
    mut rx: mpsc::Receiver<Evidence>,
    in_flight: Arc<std::sync::Mutex<HashSet<String>>>,
) {
    let (mut index, mut seen) = match load_index(&state).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(message = "Cannot load the evidence; the pipeline does not start.", error = %e);
            return;
        }
    };
    publish(&state, &index).await;
    if let Ok(n) = state.store.pending_batches().await {
        state.pending.store(n, Ordering::Relaxed);
    }
    state.ready.store(true, Ordering::Relaxed);
    loop {
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            () = state.recompute.notified() => {
                publish(&state, &index).await;
                continue;
            }
        };
        let Some(first) = ev else { break };
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        for ev in batch {
            let t0 = Instant::now();
            if let Some(why) = &ev.failed {
                tracing::warn!(message = "Trip has nothing usable; marked processed.", trip = %ev.trip_id, reason = %why);
                state.metrics.trips_failed.fetch_add(1, Ordering::Relaxed);
            }
            if let Err(e) = state
                .store
                .commit_trip(
                    &ev.trip_id,
                    &ev.bumps,
                    &ev.coverage,
                    ev.gives_passes,
                    ev.started,
                    Utc::now(),
                )
                .await
            {
                tracing::error!(message = "Cannot store a trip's evidence; it will be processed again.", trip = %ev.trip_id, error = %e);
                if let Ok(mut s) = in_flight.lock() {
                    s.remove(&ev.trip_id);
                }
                continue;
            }
            state.metrics.stage("commit", t0.elapsed().as_secs_f64());
            state.metrics.trips_processed.fetch_add(1, Ordering::Relaxed);
            let counted = ev.bumps.iter().filter(|b| !b.is_support()).count();
            state.metrics.bumps.fetch_add(counted as u64, Ordering::Relaxed);
            if let Ok(id) = TripId::new(ev.trip_id.clone()) {
                if !seen.insert(ev.trip_id.clone()) {
                    // Processed again (a late batch): the new evidence
                    // replaces the old, as in the store.
                    index.remove_trip(&id);
                }
                if ev.gives_passes {
                    let cells: BTreeMap<CellIndex, f64> = ev
                        .coverage
                        .iter()
                        .filter_map(|(c, t)| c.parse().ok().map(|c| (c, *t)))
                        .collect();
                    index.add_coverage(&id, &cells);
                }
                for b in &ev.bumps {
                    if let Ok(obs) = serde_json::from_str::<BumpObs>(&b.obs) {
                        index.add_bump(obs);
                    }
                }
            }
            if let Ok(mut s) = in_flight.lock() {
                s.remove(&ev.trip_id);
            }
        }
        if let Ok(n) = state.store.pending_batches().await {
            state.pending.store(n, Ordering::Relaxed);
        }
        publish(&state, &index).await;
        state.batch_stored.notify_one();
    }
    publish(&state, &index).await;
}

/// What the filer needs of a cluster, with reviewers' decisions applied.
pub(crate) async fn candidates(state: &AppState) -> Vec<Candidate> {
    let reviews = state.store.latest_reviews().await.unwrap_or_default();
    let snap = state.snapshot();
    snap.clusters
        .iter()
        .map(|v| {
            let mut c = Candidate::new(&v.cluster, &v.class, v.known.as_ref());
            if let Some(r) = reviews.iter().find(|r| r.cluster_id == c.cluster_id) {
                match r.action.as_str() {
                    "confirm" => c.confirmed = true,
                    "reclassify" => c.class = r.value.clone().unwrap_or(c.class),
                    #[allow(clippy::cast_precision_loss, reason = "seconds since 1970 fit f64")]
                    "fixed" => c.fixed_at = Some(r.at.timestamp() as f64),
                    _ => {}
                }
            }
            c
        })
        .collect()
}

/// One round of filing: enqueue, deliver, sync.
pub(crate) async fn file_round(state: &AppState) {
    let Some(registry) = &state.registry else { return };
    let _one = state.filing.lock().await;
    let cands = candidates(state).await;
    let key_of = |name: &str| std::env::var(name).ok();
    let filer = Filer::new(&state.store, registry, &state.cfg.filing, &key_of);
    let now = Utc::now();
    if let Err(e) = filer.enqueue(&cands, now).await {
        tracing::error!(message = "Cannot record filing intents.", error = %e);
        return;
    }
    match filer.deliver(now).await {
        Ok(d) => {
            state.metrics.filings("posted", d.posted);
            state.metrics.filings("filed", d.filed);
            state.metrics.filings("reconciled", d.reconciled);
            state.metrics.filings("refused", d.failed);
            state.metrics.filings("deferred", d.deferred);
            for e in d.errors {
                tracing::warn!(message = "Filing did not go through.", error = %e);
            }
        }
        Err(e) => tracing::error!(message = "Cannot deliver filings.", error = %e),
    }
    match filer.sync(Utc::now()).await {
        Ok(s) => {
            state.metrics.filings("closed", s.closed.len());
            for e in s.errors {
                tracing::warn!(message = "Status sync failed.", error = %e);
            }
        }
        Err(e) => tracing::error!(message = "Cannot sync statuses.", error = %e),
    }
}

async fn filer(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    if state.registry.is_none() {
        return;
    }
    let every = Duration::from_secs_f64(state.cfg.serve.filing_interval_s);
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if state.ready.load(Ordering::Relaxed) {
            file_round(&state).await;
        }
    }
}

async fn retention(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let keep = chrono::TimeDelta::seconds((state.cfg.privacy.raw_retention_days * 86_400.0) as i64);
    loop {
        match state.store.delete_processed_batches(Utc::now() - keep).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(message = "Deleted raw batches past retention.", batches = n),
            Err(e) => tracing::error!(message = "Cannot delete old raw batches.", error = %e),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store tells support jolts from bumps by the JSON `BumpObs`
    /// writes: the two must agree, or trips' bump counts go wrong. And a
    /// bump whose course is unknown (NaN, `null` in JSON) must load back,
    /// or the index rebuilt from the store would lack it.
    #[test]
    fn a_stored_support_jolt_is_known_by_its_obs() {
        let trip = TripId::new("t-1").unwrap();
        let stored = |support: bool| {
            let obs = BumpObs {
                bump_id: bump_core::BumpId::new(&trip, 5.0),
                trip_id: trip.clone(),
                device_id: bump_core::DeviceId::new("d-1").unwrap(),
                t: 5.0,
                lat: 42.35,
                lon: -71.08,
                heading_deg: f64::NAN,
                peak_mps2: 3.0,
                up_first: false,
                speed_mps: 9.0,
                duration_s: 0.1,
                low_band_share: 0.5,
                window_probs: Vec::new(),
                support,
            };
            StoredBump {
                bump_id: obs.bump_id.to_string(),
                trip_id: trip.to_string(),
                t: obs.t,
                obs: serde_json::to_string(&obs).unwrap(),
                trace: None,
            }
        };
        assert!(stored(true).is_support());
        assert!(!stored(false).is_support());
        let back: BumpObs = serde_json::from_str(&stored(true).obs).unwrap();
        assert!(back.support);
        assert!(back.heading_deg.is_nan(), "an unknown course comes back unknown");
    }
}
