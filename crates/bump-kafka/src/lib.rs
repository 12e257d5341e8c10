/*!
The Kafka transport for running the pipeline's stages as separate
processes: ingest writes trip batches to a topic, detect workers turn them
into bump evidence on a second topic, cluster workers fold the evidence into
shared cluster state. This crate knows topics, keys and delivery; it knows
nothing of the stores or the stages. The topology is described in
`docs/deployment.md`.

- [`KafkaConfig`]: brokers, topic and group prefixes, partitions, librdkafka
  settings passed through (TLS, SASL) and the lag bound for backpressure;
  [`Topic`] and [`Role`] name the topics and groups.
- [`batch_key`], [`evidence_key`], [`cluster_key`]: what keeps order and
  spreads load (see [`keys`]).
- [`Producer`]: idempotent, `acks=all`; [`Producer::send`] returns once the
  broker acknowledged.
- [`Consumer`]: the at-least-once loop. A handler returns [`Output`]s or a
  [`HandlerError`]; the outputs are acknowledged before the input's offset
  is stored; poison messages go to the dead-letter topic.
- [`LagMonitor`]: a group's lag on a topic, for ingest's 503.

Delivery is at-least-once: a message may be handled twice (after a crash or
a rebalance), never skipped, so handlers update state idempotently, by
batch and bump ids.

# Example

A detect worker's loop, stopped by a watch channel:

```no_run
use bump_kafka::{Consumer, HandlerError, KafkaConfig, Output, Producer, Role, Topic, evidence_key};

# async fn detect_worker(stop: tokio::sync::watch::Receiver<bool>) -> Result<(), bump_kafka::Error> {
let config = KafkaConfig::new("kafka-1:9092,kafka-2:9092");
let producer = Producer::new(&config)?;
let consumer = Consumer::for_role(&config, Role::Detect, producer)?;
let evidence = config.topic(Topic::Evidence);
consumer
    .run(
        |msg| {
            let evidence = evidence.clone();
            async move {
                let batch = std::str::from_utf8(msg.payload()).map_err(HandlerError::poison)?;
                // ... preprocess and detect `batch`; for each bump found:
                let key = evidence_key(42.36, -71.06).map_err(HandlerError::poison)?;
                Ok(vec![Output::new(evidence, key, batch.as_bytes())])
            }
        },
        stop,
    )
    .await?;
# Ok(())
# }
```

# Features

librdkafka is built from its bundled source with no optional codecs or
security libraries: lz4 and snappy compression and SASL PLAIN are built in;
TLS, SCRAM and Kerberos need rdkafka's `ssl` / `gssapi` features (see
`docs/deployment.md`).
*/

pub mod admin;
pub mod config;
pub mod consumer;
pub mod error;
pub mod keys;
pub mod lag;
pub mod producer;
pub mod redrive;

pub use admin::ensure_topics;
pub use config::{ConfigError, ConfigErrors, KafkaConfig, Role, Topic, TopicSpec};
pub use consumer::{
    Consumer, ConsumerOptions, ERROR_HEADER, GROUP_HEADER, Message, RunStats, SOURCE_OFFSET_HEADER,
    SOURCE_PARTITION_HEADER, SOURCE_TOPIC_HEADER,
};
pub use error::{Error, HandlerError};
pub use keys::{EVIDENCE_KEY_RESOLUTION, KeyError, batch_key, cluster_key, evidence_key};
pub use lag::LagMonitor;
pub use producer::{Delivered, Output, Producer};
pub use redrive::{Redriven, redrive, redrive_group, republished};
