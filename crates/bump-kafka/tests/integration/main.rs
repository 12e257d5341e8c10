//! Integration tests of bump-kafka, against librdkafka's in-process mock
//! cluster (`rdkafka::mocking::MockCluster`): no broker to install, but no
//! admin API either (topics are made with `MockCluster::create_topic`), and
//! a rebalance waits for heartbeats, so tests run with short session
//! timeouts and take seconds, not milliseconds.
#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

/// Several messages per handler call; poison batches split, failed ones
/// retried whole.
mod batched;
/// Poison messages go to the dead-letter topic; retryable failures are
/// retried in place, then given up with the offset unstored.
mod errors;
/// Lag rises with what is produced and falls with what is consumed.
mod lag;
/// A consumer dropped in the middle of a message: the message comes again
/// to the other member, and an idempotent handler counts it once.
mod redelivery;
/// Dead letters re-published to their source topic, once.
mod redrive;
/// Two members of one group share the partitions; every batch is handled
/// once, each trip's in order.
mod sharing;
/// The mock cluster, configurations with unique names, spawned workers.
mod support;
