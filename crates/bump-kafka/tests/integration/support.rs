//! Shared set-up for the integration tests.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bump_kafka::{Consumer, ConsumerOptions, Error, HandlerError, KafkaConfig, Message, Output, RunStats};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a test waits for something that should happen.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// Retries fast and few, so tests of retrying take milliseconds.
pub(crate) const QUICK: ConsumerOptions = ConsumerOptions {
    initial_backoff: Duration::from_millis(10),
    max_backoff: Duration::from_millis(40),
    max_attempts: 3,
};

/// A one-broker mock cluster with the pipeline's topics created.
pub(crate) struct Cluster {
    // Kept alive for as long as the test runs: dropping it stops the broker.
    _mock: MockCluster<'static, DefaultProducerContext>,
    pub(crate) config: KafkaConfig,
}

/// A mock cluster whose topics and groups are prefixed with `name`, each
/// topic with `partitions` partitions.
pub(crate) fn cluster(name: &str, partitions: u32) -> Cluster {
    let mock = MockCluster::new(1).unwrap();
    let mut config = KafkaConfig::new(mock.bootstrap_servers());
    config.topic_prefix = format!("{name}.");
    config.group_prefix = format!("{name}.");
    config.partitions = partitions;
    // Rebalances on the mock cluster wait for heartbeats: keep them short.
    for (k, v) in [
        ("session.timeout.ms", "3000"),
        ("heartbeat.interval.ms", "1000"),
        ("auto.commit.interval.ms", "200"),
        // The settings above are consumer settings; producers would log a
        // warning for each.
        ("log_level", "3"),
    ] {
        config.extra.insert(k.to_owned(), v.to_owned());
    }
    for spec in config.topic_specs() {
        mock.create_topic(&spec.name, i32::try_from(spec.partitions).unwrap(), 1)
            .unwrap();
    }
    Cluster { _mock: mock, config }
}

/// A consumer running its loop in a task.
pub(crate) struct Worker {
    pub(crate) consumer: Arc<Consumer>,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) task: JoinHandle<Result<RunStats, Error>>,
}

impl Worker {
    /// Stops the loop and returns what it did.
    pub(crate) async fn stop(self) -> Result<RunStats, Error> {
        self.stop.send(true).unwrap();
        let stats = self.task.await.unwrap();
        drop(self.consumer);
        stats
    }

    /// Kills the worker as a crash would, in the middle of whatever it is
    /// doing: nothing more is stored.
    pub(crate) async fn kill(self) {
        self.task.abort();
        assert!(self.task.await.unwrap_err().is_cancelled());
        drop(self.consumer);
    }
}

/// Runs `consumer` with `handler` in a task.
pub(crate) fn spawn<F, Fut>(consumer: Consumer, handler: F) -> Worker
where
    F: FnMut(Message) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<Output>, HandlerError>> + Send + 'static,
{
    let consumer = Arc::new(consumer);
    let (stop, rx) = watch::channel(false);
    let c = Arc::clone(&consumer);
    let task = tokio::spawn(async move { c.run(handler, rx).await });
    Worker { consumer, stop, task }
}

/// Waits until `cond` holds, failing the test after [`PATIENCE`].
pub(crate) async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The payload of batch `seq` of trip `trip`: `trip/seq`.
pub(crate) fn batch_payload(trip: &str, seq: u32) -> Vec<u8> {
    format!("{trip}/{seq}").into_bytes()
}

/// Parses [`batch_payload`].
pub(crate) fn parse_batch(msg: &Message) -> Result<(String, u32), HandlerError> {
    let text = std::str::from_utf8(msg.payload()).map_err(HandlerError::poison)?;
    let (trip, seq) = text
        .split_once('/')
        .ok_or_else(|| HandlerError::poison(format!("no '/' in {text:?}")))?;
    Ok((trip.to_owned(), seq.parse().map_err(HandlerError::poison)?))
}
