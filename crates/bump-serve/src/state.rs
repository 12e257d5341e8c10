/*!
Shared state of the server: the store, the configuration, the latest
cluster snapshot the API reads, and the signals between tasks.
*/

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, RwLock};

use bump_cluster::{Classified, Cluster, KnownMatch, KnownObstacle, Model};
use bump_filing::Registry;
use bump_pipeline::PipelineConfig;
use bump_store::Store;
use tokio::sync::Notify;

use crate::auth::LoginLimiter;
use crate::metrics::Metrics;

/// A cluster as reviewers see it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ClusterView {
    /// The cluster.
    pub cluster: Cluster,
    /// Its classification.
    pub class: Classified,
    /// The known obstacle it matched.
    pub known: Option<KnownMatch>,
    /// Municipality, by polygon.
    pub jurisdiction_id: Option<String>,
}

/// The latest clusters.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Strongest first.
    pub clusters: Vec<ClusterView>,
    /// Index by id.
    pub by_id: BTreeMap<String, usize>,
}

impl Snapshot {
    /// Builds the index.
    #[must_use]
    pub fn new(clusters: Vec<ClusterView>) -> Self {
        let by_id = clusters
            .iter()
            .enumerate()
            .map(|(i, c)| (c.cluster.cluster_id.clone(), i))
            .collect();
        Self { clusters, by_id }
    }

    /// A cluster by id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&ClusterView> {
        self.by_id.get(id).and_then(|&i| self.clusters.get(i))
    }
}

/// Everything the tasks and handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The configuration.
    pub cfg: PipelineConfig,
    /// Jurisdictions, when filing is configured.
    pub registry: Option<Registry>,
    /// Signature classifier.
    pub model: Option<Model>,
    /// The city's inventory from the configuration.
    pub inventory: Vec<KnownObstacle>,
    /// Latest clusters.
    pub snapshot: RwLock<Arc<Snapshot>>,
    /// A batch was stored.
    pub batch_stored: Notify,
    /// The clusters must be recomputed (a reviewer changed the inventory).
    pub recompute: Notify,
    /// Batches stored and not yet processed.
    pub pending: AtomicUsize,
    /// Trips queued for the workers.
    pub queued_trips: AtomicUsize,
    /// False once shutting down: uploads get 503.
    pub accepting: AtomicBool,
    /// True once the evidence is loaded and the stages run.
    pub ready: AtomicBool,
    /// Metrics.
    pub metrics: Metrics,
    /// Sign-in limiter.
    pub logins: LoginLimiter,
    /// One filing round at a time: two rounds reading the same intent
    /// would both post it.
    pub filing: tokio::sync::Mutex<()>,
    /// Kafka runtime, ingest role: uploads go to the batches topic instead
    /// of the store.
    pub kafka: Option<Arc<crate::scale::KafkaSink>>,
    /// Uploads waiting to be stored together.
    pub commits: crate::commit::Committer,
}

impl AppState {
    /// The current snapshot.
    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .map(|s| Arc::clone(&s))
            .unwrap_or_else(|e| Arc::clone(&e.into_inner()))
    }

    /// Replaces the snapshot.
    pub fn set_snapshot(&self, s: Snapshot) {
        match self.snapshot.write() {
            Ok(mut g) => *g = Arc::new(s),
            Err(e) => *e.into_inner() = Arc::new(s),
        }
    }
}
