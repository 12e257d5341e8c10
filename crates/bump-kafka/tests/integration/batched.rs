//! `Consumer::run_batched`: several messages per handler call, poison
//! batches split so only the bad message is dead-lettered, retryable
//! failures retried for the whole batch.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bump_core::TripId;
use bump_kafka::{Consumer, HandlerError, LagMonitor, Message, Producer, Role, Topic, batch_key};
use tokio::sync::watch;

use crate::support::{QUICK, batch_payload, cluster, parse_batch, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_split_around_poison_and_retry_whole() {
    let c = cluster("batched", 1);
    let producer = Producer::new(&c.config).unwrap();
    let batches = c.config.topic(Topic::Batches);
    let key = batch_key(&TripId::new("trip-b").unwrap());
    // Everything is in the topic before the consumer starts, so its first
    // fetch holds several messages.
    for seq in 0..20 {
        if seq == 7 {
            producer.send(&batches, &key, b"not a batch").await.unwrap();
        }
        producer
            .send(&batches, &key, &batch_payload("trip-b", seq))
            .await
            .unwrap();
    }

    // What was committed (a batch handled whole, or one message at a time),
    // and how big the calls were.
    let good: Arc<Mutex<Vec<u32>>> = Arc::default();
    let sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
    let failed_once = Arc::new(Mutex::new(false));
    let (g, z, f) = (Arc::clone(&good), Arc::clone(&sizes), Arc::clone(&failed_once));
    let consumer = Arc::new(
        Consumer::for_role(&c.config, Role::Detect, producer.clone())
            .unwrap()
            .with_options(QUICK),
    );
    let (stop, rx) = watch::channel(false);
    let runner = Arc::clone(&consumer);
    let task = tokio::spawn(async move {
        runner
            .run_batched(
                8,
                move |msgs: Vec<Message>| {
                    let (g, z, f) = (Arc::clone(&g), Arc::clone(&z), Arc::clone(&f));
                    async move {
                        z.lock().unwrap().push(msgs.len());
                        // Parse all first: a transaction would be rolled back
                        // on the first bad message.
                        let seqs = msgs.iter().map(parse_batch).collect::<Result<Vec<_>, _>>()?;
                        // The first multi-message call that parses fails once
                        // as a database outage would.
                        if msgs.len() > 1 && !std::mem::replace(&mut *f.lock().unwrap(), true) {
                            return Err(HandlerError::retryable("database unavailable"));
                        }
                        g.lock().unwrap().extend(seqs.into_iter().map(|(_, s)| s));
                        Ok(Vec::new())
                    }
                },
                rx,
            )
            .await
    });
    wait_until("every good batch is handled", || good.lock().unwrap().len() >= 20).await;
    stop.send(true).unwrap();
    let stats = task.await.unwrap().unwrap();
    drop(consumer);

    assert_eq!(
        *good.lock().unwrap(),
        (0..20).collect::<Vec<_>>(),
        "once each, in order"
    );
    assert_eq!((stats.handled, stats.dead_lettered), (21, 1));
    assert!(stats.retries >= 1, "the outage was retried: {stats:?}");
    let sizes = sizes.lock().unwrap().clone();
    assert!(sizes.iter().any(|&n| n > 1), "messages were batched: {sizes:?}");
    assert!(sizes.iter().all(|&n| n <= 8), "no batch beyond the maximum: {sizes:?}");
    let monitor = LagMonitor::new(&c.config, &c.config.group(Role::Detect)).unwrap();
    let mut lag = monitor.lag(&batches).await.unwrap();
    for _ in 0..50 {
        if lag == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        lag = monitor.lag(&batches).await.unwrap();
    }
    assert_eq!(lag, 0, "the poison's offset was stored too");
}
