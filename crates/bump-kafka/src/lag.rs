/*!
Consumer-group lag, for backpressure: ingest asks how far the detect group
is behind on the batches topic and answers 503 while that exceeds
[`KafkaConfig::max_lag`], instead of letting an outage pile up days of
unprocessed uploads.

Lag is the sum over the topic's partitions of the high watermark minus the
group's committed offset. A partition the group never committed counts from
its low watermark, since the workers start there (`auto.offset.reset =
earliest`). Committed offsets trail the stored ones by up to
`auto.commit.interval.ms` (5 s by default), so lag reads a little high, on
the safe side.

Each call makes a metadata, a committed-offsets and one watermark request
per partition; ingest should refresh a cached value every second or so,
not ask on every upload.
*/

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::KafkaConfig;
use crate::error::Error;

/// Timeout of each request to the brokers.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads one consumer group's lag. It never joins the group, so it does
/// not disturb the group's members.
#[derive(Clone)]
pub struct LagMonitor {
    client: Arc<BaseConsumer>,
    group: String,
}

impl fmt::Debug for LagMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LagMonitor")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl LagMonitor {
    /// A monitor of `group` (its full id).
    ///
    /// # Errors
    /// [`Error::Config`] when `config` is invalid; [`Error::Client`] when
    /// librdkafka refuses a setting.
    pub fn new(config: &KafkaConfig, group: &str) -> Result<Self, Error> {
        config.validate()?;
        let mut c = config.base_client_config();
        c.set("group.id", group).set("enable.auto.commit", "false");
        let client: BaseConsumer = c.create().map_err(Error::client("lag client creation"))?;
        Ok(Self {
            client: Arc::new(client),
            group: group.to_owned(),
        })
    }

    /// The group's lag on `topic`, in messages.
    ///
    /// # Errors
    /// [`Error::Client`] when the topic is unknown or a request fails;
    /// [`Error::Task`] if the blocking request task panicked.
    pub async fn lag(&self, topic: &str) -> Result<i64, Error> {
        let client = Arc::clone(&self.client);
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || lag_blocking(&client, &topic))
            .await
            .map_err(|e| Error::Task {
                what: "lag",
                reason: e.to_string(),
            })?
    }

    /// Whether `lag` exceeds `max_lag`, the point where ingest answers 503.
    #[must_use]
    pub fn over(lag: i64, max_lag: u64) -> bool {
        u64::try_from(lag).is_ok_and(|l| l > max_lag)
    }
}

fn lag_blocking(client: &BaseConsumer, topic: &str) -> Result<i64, Error> {
    let md = client
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .map_err(Error::client("metadata"))?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Err(Error::Client {
            what: "metadata",
            source: KafkaError::MetadataFetch(rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition),
        });
    };
    if let Some(code) = t.error() {
        return Err(Error::Client {
            what: "metadata",
            source: KafkaError::MetadataFetch(code.into()),
        });
    }
    let mut tpl = TopicPartitionList::with_capacity(t.partitions().len());
    for p in t.partitions() {
        tpl.add_partition(topic, p.id());
    }
    let committed = client
        .committed_offsets(tpl, REQUEST_TIMEOUT)
        .map_err(Error::client("committed offsets"))?;
    let mut total = 0_i64;
    for e in committed.elements_for_topic(topic) {
        let (low, high) = client
            .fetch_watermarks(topic, e.partition(), REQUEST_TIMEOUT)
            .map_err(Error::client("watermarks"))?;
        let from = match e.offset() {
            Offset::Offset(n) => n.max(low),
            _ => low,
        };
        total += (high - from).max(0);
    }
    Ok(total)
}
