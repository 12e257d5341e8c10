/*!
Re-publishing dead letters: once the cause of a poison message is fixed (a
bug in a worker, a missing migration), its messages go back to the topic
they came from and are handled as if new. Handlers are idempotent, so a
message that is re-published twice counts once.

The re-publisher is a consumer group of its own on the dead-letter topic,
with the same at-least-once loop as the workers: a message's offset is
stored only after the broker acknowledged its copy on the source topic, so
a re-publisher killed midway repeats some messages and loses none. The
copy keeps the key (so a trip's batches still land on one partition),
the payload and the original headers; the dead-letter headers are dropped.
*/

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::{KafkaConfig, Topic};
use crate::consumer::{
    Consumer, ERROR_HEADER, GROUP_HEADER, Message, SOURCE_OFFSET_HEADER, SOURCE_PARTITION_HEADER, SOURCE_TOPIC_HEADER,
};
use crate::error::Error;
use crate::producer::{Output, Producer};

/// What a [`redrive`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redriven {
    /// Messages copied back to their source topic.
    pub republished: u64,
    /// Dead letters with no source topic header (not written by this
    /// pipeline), left where they are.
    pub skipped: u64,
}

/// The group that re-publishes dead letters.
#[must_use]
pub fn redrive_group(config: &KafkaConfig) -> String {
    format!("{}redrive", config.group_prefix)
}

/// The copy of a dead letter for its source topic, or `None` when it does
/// not say where it came from.
#[must_use]
pub fn republished(msg: &Message) -> Option<Output> {
    let source = std::str::from_utf8(msg.header(SOURCE_TOPIC_HEADER)?).ok()?;
    let mut out = Output::new(source, msg.key().unwrap_or_default(), msg.payload());
    let ours = [
        ERROR_HEADER,
        SOURCE_TOPIC_HEADER,
        SOURCE_PARTITION_HEADER,
        SOURCE_OFFSET_HEADER,
        GROUP_HEADER,
    ];
    out.headers = msg
        .headers()
        .iter()
        .filter(|(k, _)| !ours.contains(&k.as_str()))
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
        .collect();
    Some(out)
}

/// Re-publishes every dead letter not yet re-published, and returns once
/// none has come for `idle`.
///
/// # Errors
/// As [`Consumer::run`].
pub async fn redrive(config: &KafkaConfig, idle: Duration) -> Result<Redriven, Error> {
    let producer = Producer::new(config)?;
    let topic = config.topic(Topic::DeadLetter);
    let consumer = Consumer::new(config, &redrive_group(config), &[&topic], producer)?;
    let (stop, rx) = watch::channel(false);
    let start = Instant::now();
    // Milliseconds since `start` of the last message seen.
    let last = Arc::new(AtomicU64::new(0));
    let skipped = Arc::new(AtomicU64::new(0));
    let (l, s) = (Arc::clone(&last), Arc::clone(&skipped));
    let handler = move |msg: Message| {
        l.store(millis(start.elapsed()), Ordering::Relaxed);
        let out = republished(&msg);
        if out.is_none() {
            tracing::warn!(
                message = "Dead letter without a source topic; left in place.",
                partition = msg.partition(),
                offset = msg.offset()
            );
            s.fetch_add(1, Ordering::Relaxed);
        }
        async move { Ok(out.into_iter().collect()) }
    };
    let watch_idle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            // Quiet time counts only once the group gave us the partitions.
            if consumer.assignment().map_or(true, |a| a.is_empty()) {
                last.store(millis(start.elapsed()), Ordering::Relaxed);
                continue;
            }
            let quiet = millis(start.elapsed()).saturating_sub(last.load(Ordering::Relaxed));
            if quiet >= millis(idle) {
                let _ = stop.send(true);
                return;
            }
        }
    };
    let (stats, ()) = tokio::join!(consumer.run(handler, rx), watch_idle);
    let stats = stats?;
    let skipped = skipped.load(Ordering::Relaxed);
    Ok(Redriven {
        republished: stats.outputs,
        skipped,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
