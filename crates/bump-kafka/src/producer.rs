/*!
The producer: idempotent, waits for every in-sync replica, and answers only
once the broker has acknowledged, so ingest can reply 202 knowing the batch
is durable, and a consumer can store its input's offset knowing the outputs
are.

Idempotence (`enable.idempotence=true`) makes librdkafka's own retries free
of duplicates and keeps per-partition order with several requests in
flight. It does not make a re-run of a handler free of duplicates: that is
what idempotent updates downstream are for.

The partitioner is `murmur2_random`, the Java client's, so a key lands on
the same partition whichever client (Kafka Connect, a replay tool) wrote it.
Compression is lz4, built into the bundled librdkafka (gzip and zstd are
not built: see `docs/deployment.md`); `extra` may choose another.
*/

use std::fmt;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::KafkaConfig;
use crate::error::Error;

/// How long to wait between tries to enqueue while librdkafka's local
/// queue is full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(50);

/// Where the broker put an acknowledged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delivered {
    /// Partition written to.
    pub partition: i32,
    /// Offset of the message in that partition.
    pub offset: i64,
}

/// A message a handler asks to be produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Full topic name.
    pub topic: String,
    /// Key (decides the partition).
    pub key: Vec<u8>,
    /// Payload.
    pub payload: Vec<u8>,
    /// Headers, name and value.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Output {
    /// An output without headers.
    #[must_use]
    pub fn new(topic: impl Into<String>, key: impl Into<Vec<u8>>, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            topic: topic.into(),
            key: key.into(),
            payload: payload.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// An idempotent producer whose sends complete on the broker's
/// acknowledgement. Cheap to clone; clones share one librdkafka client.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer").finish_non_exhaustive()
    }
}

impl Producer {
    /// Creates the producer.
    ///
    /// # Errors
    /// [`Error::Config`] when `config` is invalid; [`Error::Client`] when
    /// librdkafka refuses a setting from `extra`.
    pub fn new(config: &KafkaConfig) -> Result<Self, Error> {
        config.validate()?;
        let mut c = config.base_client_config();
        c.set("enable.idempotence", "true").set("acks", "all");
        // Defaults that `extra` may override.
        for (key, value) in [("partitioner", "murmur2_random"), ("compression.type", "lz4")] {
            if c.get(key).is_none() && !(key == "compression.type" && c.get("compression.codec").is_some()) {
                c.set(key, value);
            }
        }
        let inner = c.create().map_err(Error::client("producer creation"))?;
        Ok(Self { inner })
    }

    /// Sends one message and waits until the broker acknowledged it.
    ///
    /// # Errors
    /// [`Error::Delivery`] when the broker refused the message or did not
    /// acknowledge it within `delivery.timeout.ms` (librdkafka retries
    /// until then).
    pub async fn send(&self, topic: &str, key: &[u8], payload: &[u8]) -> Result<Delivered, Error> {
        let fut = self.enqueue(topic, key, payload, &[]).await?;
        await_delivery(topic, fut).await
    }

    /// Sends all `outputs` and waits until the broker acknowledged every
    /// one. They are enqueued together, so they travel in as few requests
    /// as librdkafka can make, in order per partition.
    ///
    /// # Errors
    /// [`Error::Delivery`] for the first output that failed; the others may
    /// or may not have been written.
    pub async fn send_all(&self, outputs: &[Output]) -> Result<Vec<Delivered>, Error> {
        let mut pending = Vec::with_capacity(outputs.len());
        for o in outputs {
            pending.push((
                o.topic.as_str(),
                self.enqueue(&o.topic, &o.key, &o.payload, &o.headers).await?,
            ));
        }
        let mut delivered = Vec::with_capacity(pending.len());
        for (topic, fut) in pending {
            delivered.push(await_delivery(topic, fut).await?);
        }
        Ok(delivered)
    }

    /// Waits up to `timeout` for every enqueued message to be acknowledged.
    ///
    /// # Errors
    /// [`Error::Client`] when messages are still unacknowledged at the end.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        self.inner.flush(timeout).map_err(Error::client("producer flush"))
    }

    /// Puts one message on librdkafka's queue, waiting while it is full.
    async fn enqueue(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: &[(String, Vec<u8>)],
    ) -> Result<DeliveryFuture, Error> {
        loop {
            let mut record = FutureRecord::to(topic).key(key).payload(payload);
            if !headers.is_empty() {
                let h = headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
                    h.insert(Header {
                        key: k,
                        value: Some(v.as_slice()),
                    })
                });
                record = record.headers(h);
            }
            match self.inner.send_result(record) {
                Ok(fut) => return Ok(fut),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
                }
                Err((source, _)) => {
                    return Err(Error::Delivery {
                        topic: topic.to_owned(),
                        source,
                    });
                }
            }
        }
    }
}

async fn await_delivery(topic: &str, fut: DeliveryFuture) -> Result<Delivered, Error> {
    match fut.await {
        Ok(Ok(d)) => Ok(Delivered {
            partition: d.partition,
            offset: d.offset,
        }),
        Ok(Err((source, _))) => Err(Error::Delivery {
            topic: topic.to_owned(),
            source,
        }),
        // The producer is alive (we hold it), so librdkafka dropped the
        // report only on shutdown: the fate of the message is unknown.
        Err(_canceled) => Err(Error::Delivery {
            topic: topic.to_owned(),
            source: KafkaError::Canceled,
        }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundled_librdkafka_has_the_documented_features() {
        let native = rdkafka::ClientConfig::new().create_native_config().unwrap();
        let features = native.get("builtin.features").unwrap();
        let features: Vec<&str> = features.split(',').collect();
        let tls = cfg!(feature = "tls");
        let mut needed = vec!["lz4", "snappy", "sasl_plain"];
        // What the `tls` feature adds; without it these must be absent.
        let with_tls = ["ssl", "sasl_scram"];
        if tls {
            needed.extend(with_tls);
        }
        for needed in needed {
            assert!(features.contains(&needed), "{needed} missing from {features:?}");
        }
        // Turning on another rdkafka feature lands here: say so in
        // docs/deployment.md ("Building").
        let mut absent = vec!["gzip", "zstd", "sasl_gssapi"];
        if !tls {
            absent.extend(with_tls);
        }
        for absent in absent {
            assert!(
                !features.contains(&absent),
                "{absent} now built in: update docs/deployment.md"
            );
        }
    }
}
