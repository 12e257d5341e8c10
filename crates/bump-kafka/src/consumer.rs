/*!
The consumer loop: at-least-once delivery, one message or one batch at a time.

librdkafka commits offsets in the background (`enable.auto.commit=true`),
but only offsets this loop stored (`enable.auto.offset.store=false`), and it
stores a message's offset only after the handler succeeded **and** every
output it returned was acknowledged by the broker. A worker that dies
between the two has its uncommitted messages delivered again to whichever
worker gets the partition next, so handlers must be idempotent (keyed by
batch and bump ids downstream).

Messages of a partition are handled in order, one at a time; a retryable
failure holds the partition (later messages wait) so a trip's batches are
never reordered. A poison message is written to the dead-letter topic with
the reason in a header, and only then is its offset stored.

Nothing is held across messages but what the handler owns, so a rebalance
needs no care here: a message whose partition was revoked while it was
being handled fails to store its offset (logged) and is handled again by
the new owner.
*/

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Headers as _, Message as _};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::config::{KafkaConfig, Role, Topic};
use crate::error::{Error, HandlerError};
use crate::producer::{Output, Producer};

/// Header naming why a message was dead-lettered.
pub const ERROR_HEADER: &str = "bump-error";
/// Header naming the topic a dead-lettered message came from.
pub const SOURCE_TOPIC_HEADER: &str = "bump-source-topic";
/// Header naming the partition a dead-lettered message came from.
pub const SOURCE_PARTITION_HEADER: &str = "bump-source-partition";
/// Header naming the offset a dead-lettered message had.
pub const SOURCE_OFFSET_HEADER: &str = "bump-source-offset";
/// Header naming the consumer group that refused a dead-lettered message.
pub const GROUP_HEADER: &str = "bump-group";

/// A consumed message, owned, so a handler's future borrows nothing from
/// the consumer. Cloning is cheap (the bytes are shared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
    key: Option<Arc<[u8]>>,
    payload: Option<Arc<[u8]>>,
    headers: Arc<[(String, Option<Vec<u8>>)]>,
}

impl Message {
    fn from_borrowed(m: &BorrowedMessage<'_>) -> Self {
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        Self {
            topic: m.topic().into(),
            partition: m.partition(),
            offset: m.offset(),
            timestamp_ms: m.timestamp().to_millis(),
            key: m.key().map(Into::into),
            payload: m.payload().map(Into::into),
            headers: headers.into(),
        }
    }

    /// Topic it was read from.
    #[must_use]
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Partition it was read from.
    #[must_use]
    pub const fn partition(&self) -> i32 {
        self.partition
    }

    /// Its offset in the partition.
    #[must_use]
    pub const fn offset(&self) -> i64 {
        self.offset
    }

    /// Its timestamp, milliseconds since the Unix epoch, when it has one.
    #[must_use]
    pub const fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }

    /// Its key, if any.
    #[must_use]
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// Its payload, empty when it has none.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        self.payload.as_deref().unwrap_or_default()
    }

    /// The value of the first header called `name`.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every header, in order.
    #[must_use]
    pub fn headers(&self) -> &[(String, Option<Vec<u8>>)] {
        &self.headers
    }
}

/// How the loop retries a message whose handler failed retryably.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// Wait before the first retry; doubles after each.
    pub initial_backoff: Duration,
    /// Longest wait between retries.
    pub max_backoff: Duration,
    /// Attempts (the first included) before [`Consumer::run`] gives up
    /// with [`Error::RetriesExhausted`], leaving the offset unstored. The
    /// default, 12, waits about two minutes in all, well within
    /// librdkafka's `max.poll.interval.ms` (5 minutes), after which the
    /// group would take the partition away anyway.
    pub max_attempts: u32,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            max_attempts: 12,
        }
    }
}

/// What one [`Consumer::run`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Messages whose offset was stored, dead-lettered ones included.
    pub handled: u64,
    /// Messages sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Outputs produced and acknowledged.
    pub outputs: u64,
    /// Retries after retryable failures.
    pub retries: u64,
}

/// Logs commits that failed and partitions that move.
struct LoggingContext {
    group: String,
}

impl ClientContext for LoggingContext {}

impl ConsumerContext for LoggingContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => info!(message = "Partitions assigned.", group = %self.group, count = tpl.count()),
            Rebalance::Revoke(tpl) => info!(message = "Partitions revoked.", group = %self.group, count = tpl.count()),
            Rebalance::Error(e) => warn!(message = "Rebalance failed.", group = %self.group, error = %e),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => warn!(message = "Offset commit failed.", group = %self.group, error = %e),
        }
    }
}

/// A consumer-group member running the at-least-once loop.
pub struct Consumer {
    inner: StreamConsumer<LoggingContext>,
    producer: Producer,
    group: String,
    dead_letter: String,
    options: ConsumerOptions,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("group", &self.group)
            .field("dead_letter", &self.dead_letter)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

enum Flow {
    Next,
    Stop,
}

enum BatchFlow {
    Done,
    Split,
    Stop,
}

impl Consumer {
    /// Joins `group` and subscribes to `topics` (full names). Outputs and
    /// dead letters go through `producer`.
    ///
    /// # Errors
    /// [`Error::Config`] when `config` is invalid; [`Error::Client`] when
    /// librdkafka refuses a setting or the subscription.
    pub fn new(config: &KafkaConfig, group: &str, topics: &[&str], producer: Producer) -> Result<Self, Error> {
        config.validate()?;
        let mut c = config.base_client_config();
        c.set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false");
        // A fetch answer larger than this fails the connection, and the
        // same fetch fails again forever. Kafka keeps answers within
        // `fetch.max.bytes`, but some compatible brokers send a partition's
        // whole backlog (110 MB measured after 1,200 batches): accept up
        // to librdkafka's largest rather than stall.
        if c.get("receive.message.max.bytes").is_none() {
            c.set("receive.message.max.bytes", "2147483647");
        }
        if let Some(id) = &config.instance_id {
            c.set("group.instance.id", format!("{id}.{group}"));
        }
        let inner: StreamConsumer<LoggingContext> = c
            .create_with_context(LoggingContext {
                group: group.to_owned(),
            })
            .map_err(Error::client("consumer creation"))?;
        inner.subscribe(topics).map_err(Error::client("subscribe"))?;
        Ok(Self {
            inner,
            producer,
            group: group.to_owned(),
            dead_letter: config.topic(Topic::DeadLetter),
            options: ConsumerOptions::default(),
        })
    }

    /// Joins `role`'s group, subscribed to its input topic.
    ///
    /// # Errors
    /// As [`Consumer::new`].
    pub fn for_role(config: &KafkaConfig, role: Role, producer: Producer) -> Result<Self, Error> {
        Self::new(config, &config.group(role), &[&config.topic(role.input())], producer)
    }

    /// Replaces the retry options.
    #[must_use]
    pub const fn with_options(mut self, options: ConsumerOptions) -> Self {
        self.options = options;
        self
    }

    /// The group id.
    #[must_use]
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The partitions this member holds now, as (topic, partition).
    ///
    /// # Errors
    /// [`Error::Client`] when librdkafka cannot tell.
    pub fn assignment(&self) -> Result<Vec<(String, i32)>, Error> {
        let tpl = self.inner.assignment().map_err(Error::client("assignment"))?;
        Ok(tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect())
    }

    /// Consumes until `stop` turns true (or its sender is dropped), calling
    /// `handler` on each message, producing its outputs and awaiting their
    /// acknowledgement, and only then storing the message's offset.
    ///
    /// A handler in progress when `stop` turns true is finished; a retry
    /// backoff is cut short (that message is not stored, so it comes
    /// again). On return the stored offsets have been committed. Drop the
    /// consumer afterwards so it leaves the group and its partitions move
    /// on at once.
    ///
    /// # Errors
    /// [`Error::RetriesExhausted`] when a message failed retryably
    /// [`ConsumerOptions::max_attempts`] times; the worker should exit and
    /// be restarted, and the message comes again.
    pub async fn run<F, Fut>(&self, mut handler: F, stop: watch::Receiver<bool>) -> Result<RunStats, Error>
    where
        F: FnMut(Message) -> Fut,
        Fut: Future<Output = Result<Vec<Output>, HandlerError>>,
    {
        // Batches of one: `run_batched` hands each over alone.
        self.run_batched(1, move |mut one: Vec<Message>| handler(one.swap_remove(0)), stop)
            .await
    }

    /// [`Consumer::run`] over batches: the message awaited and up to
    /// `max - 1` more already fetched are given to `handler` together, so
    /// a handler can store them in one transaction instead of one each.
    /// Offsets are stored only after the handler succeeded and its outputs
    /// were acknowledged, as in [`Consumer::run`]. A batch the handler
    /// calls poison is handled again one message at a time, so only the bad
    /// messages are dead-lettered.
    ///
    /// # Errors
    /// As [`Consumer::run`].
    pub async fn run_batched<F, Fut>(
        &self,
        max: usize,
        mut handler: F,
        mut stop: watch::Receiver<bool>,
    ) -> Result<RunStats, Error>
    where
        F: FnMut(Vec<Message>) -> Fut,
        Fut: Future<Output = Result<Vec<Output>, HandlerError>>,
    {
        let mut stats = RunStats::default();
        info!(message = "Consumer started.", group = %self.group, batch = max);
        'consume: loop {
            let first = tokio::select! {
                biased;
                () = stop_requested(&mut stop) => break,
                r = self.inner.recv() => match r {
                    Ok(m) => Message::from_borrowed(&m),
                    Err(e) => {
                        warn!(message = "Consume failed.", group = %self.group, error = %e);
                        continue;
                    }
                },
            };
            let mut batch = vec![first];
            // Only what librdkafka already fetched: waiting for more would
            // add latency when the stream is slow.
            while batch.len() < max {
                match tokio::time::timeout(Duration::from_millis(1), self.inner.recv()).await {
                    Ok(Ok(m)) => batch.push(Message::from_borrowed(&m)),
                    Ok(Err(e)) => {
                        warn!(message = "Consume failed.", group = %self.group, error = %e);
                        break;
                    }
                    Err(_) => break,
                }
            }
            let split = batch.len() > 1
                && match self.handle_batch(&mut handler, &batch, &mut stop, &mut stats).await? {
                    BatchFlow::Done => false,
                    BatchFlow::Stop => break,
                    BatchFlow::Split => true,
                };
            if batch.len() == 1 || split {
                for msg in &batch {
                    let mut one = |m: Message| handler(vec![m]);
                    match self.handle(&mut one, msg, &mut stop, &mut stats).await? {
                        Flow::Next => {}
                        Flow::Stop => break 'consume,
                    }
                }
            }
        }
        self.commit_stored();
        info!(
            message = "Consumer stopped.",
            group = %self.group,
            handled = stats.handled,
            dead_lettered = stats.dead_lettered,
            retries = stats.retries,
        );
        Ok(stats)
    }

    /// Handles a batch until it succeeds, is found poisoned (to be split),
    /// runs out of attempts or the loop is stopped during a backoff.
    async fn handle_batch<F, Fut>(
        &self,
        handler: &mut F,
        batch: &[Message],
        stop: &mut watch::Receiver<bool>,
        stats: &mut RunStats,
    ) -> Result<BatchFlow, Error>
    where
        F: FnMut(Vec<Message>) -> Fut,
        Fut: Future<Output = Result<Vec<Output>, HandlerError>>,
    {
        let mut backoff = self.options.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let reason = match handler(batch.to_vec()).await {
                Ok(outputs) => match self.producer.send_all(&outputs).await {
                    Ok(d) => {
                        stats.outputs += d.len() as u64;
                        break;
                    }
                    Err(e) => e.to_string(),
                },
                Err(HandlerError::Poison(reason)) => {
                    debug!(message = "Batch poisoned; handling its messages one by one.", group = %self.group, error = %reason);
                    return Ok(BatchFlow::Split);
                }
                Err(HandlerError::Retryable(reason)) => reason,
            };
            let first = &batch[0];
            if attempt >= self.options.max_attempts {
                return Err(Error::RetriesExhausted {
                    topic: first.topic().to_owned(),
                    partition: first.partition,
                    offset: first.offset,
                    attempts: attempt,
                    reason,
                });
            }
            warn!(
                message = "Batch handler failed; retrying.",
                group = %self.group,
                messages = batch.len(),
                attempt,
                backoff_ms = backoff.as_millis(),
                error = %reason,
            );
            if !self.back_off(stop, &mut backoff, stats).await {
                return Ok(BatchFlow::Stop);
            }
        }
        for msg in batch {
            self.store(msg);
        }
        stats.handled += batch.len() as u64;
        Ok(BatchFlow::Done)
    }

    /// Handles one message until it succeeds, is dead-lettered, runs out
    /// of attempts or the loop is stopped during a backoff.
    async fn handle<F, Fut>(
        &self,
        handler: &mut F,
        msg: &Message,
        stop: &mut watch::Receiver<bool>,
        stats: &mut RunStats,
    ) -> Result<Flow, Error>
    where
        F: FnMut(Message) -> Fut,
        Fut: Future<Output = Result<Vec<Output>, HandlerError>>,
    {
        let mut backoff = self.options.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match handler(msg.clone()).await {
                Ok(outputs) => match self.producer.send_all(&outputs).await {
                    Ok(d) => Ok((d.len(), false)),
                    Err(e) => Err(e.to_string()),
                },
                Err(HandlerError::Poison(reason)) => match self.dead_letter(msg, &reason).await {
                    Ok(()) => Ok((0, true)),
                    Err(e) => Err(format!("dead-lettering failed: {e}")),
                },
                Err(HandlerError::Retryable(reason)) => Err(reason),
            };
            match result {
                Ok((outputs, dead)) => {
                    stats.outputs += outputs as u64;
                    stats.dead_lettered += u64::from(dead);
                    break;
                }
                Err(reason) if attempt >= self.options.max_attempts => {
                    return Err(Error::RetriesExhausted {
                        topic: msg.topic().to_owned(),
                        partition: msg.partition,
                        offset: msg.offset,
                        attempts: attempt,
                        reason,
                    });
                }
                Err(reason) => {
                    warn!(
                        message = "Handler failed; retrying.",
                        group = %self.group,
                        topic = msg.topic(),
                        partition = msg.partition,
                        offset = msg.offset,
                        attempt,
                        backoff_ms = backoff.as_millis(),
                        error = %reason,
                    );
                    if !self.back_off(stop, &mut backoff, stats).await {
                        return Ok(Flow::Stop);
                    }
                }
            }
        }
        self.store(msg);
        stats.handled += 1;
        Ok(Flow::Next)
    }

    /// Waits `backoff` before a retry and doubles it for the next (up to
    /// the maximum); false when the loop was stopped meanwhile.
    async fn back_off(&self, stop: &mut watch::Receiver<bool>, backoff: &mut Duration, stats: &mut RunStats) -> bool {
        stats.retries += 1;
        let stopped = tokio::select! {
            biased;
            () = stop_requested(stop) => true,
            () = tokio::time::sleep(*backoff) => false,
        };
        *backoff = (*backoff * 2).min(self.options.max_backoff);
        !stopped
    }

    /// Writes `msg` to the dead-letter topic with the reason and its origin
    /// in headers, keeping its key, payload and headers.
    async fn dead_letter(&self, msg: &Message, reason: &str) -> Result<(), Error> {
        warn!(
            message = "Poison message dead-lettered.",
            group = %self.group,
            topic = msg.topic(),
            partition = msg.partition,
            offset = msg.offset,
            error = %reason,
        );
        let mut out = Output::new(self.dead_letter.as_str(), msg.key().unwrap_or_default(), msg.payload());
        out.headers = msg
            .headers()
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect();
        let out = out
            .with_header(ERROR_HEADER, reason)
            .with_header(SOURCE_TOPIC_HEADER, msg.topic())
            .with_header(SOURCE_PARTITION_HEADER, msg.partition.to_string())
            .with_header(SOURCE_OFFSET_HEADER, msg.offset.to_string())
            .with_header(GROUP_HEADER, self.group.as_str());
        self.producer.send_all(&[out]).await.map(|_| ())
    }

    /// Stores the offset after `msg`, to be committed in the background.
    fn store(&self, msg: &Message) {
        let mut tpl = TopicPartitionList::with_capacity(1);
        let stored = tpl
            .add_partition_offset(msg.topic(), msg.partition, Offset::Offset(msg.offset + 1))
            .and_then(|()| self.inner.store_offsets(&tpl));
        match stored {
            Ok(()) => debug!(
                message = "Offset stored.",
                topic = msg.topic(),
                partition = msg.partition,
                offset = msg.offset
            ),
            // Typically the partition was revoked while the message was
            // handled: its new owner handles it again.
            Err(e) => warn!(
                message = "Offset not stored; the message will be delivered again.",
                group = %self.group,
                topic = msg.topic(),
                partition = msg.partition,
                offset = msg.offset,
                error = %e,
            ),
        }
    }

    /// Commits the stored offsets now, so a stop loses no progress. It
    /// blocks the thread for one round trip, once, at shutdown.
    fn commit_stored(&self) {
        match self.inner.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => warn!(message = "Final offset commit failed.", group = %self.group, error = %e),
        }
    }
}

/// Resolves once `stop` holds true or its sender is gone.
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    // An error means the sender was dropped: nobody can stop us any more,
    // so stop now rather than run unstoppable.
    let _stopped = stop.wait_for(|s| *s).await;
}
