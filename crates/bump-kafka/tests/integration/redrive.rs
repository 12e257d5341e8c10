//! Dead letters go back to their source topic once the cause is fixed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bump_core::TripId;
use bump_kafka::{Consumer, ERROR_HEADER, Message, Output, Producer, Role, Topic, batch_key, redrive};

use crate::support::{cluster, spawn, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_go_back_to_their_topic_once() {
    let c = cluster("redrive", 1);
    let producer = Producer::new(&c.config).unwrap();
    let batches = c.config.topic(Topic::Batches);
    let key = batch_key(&TripId::new("trip-r").unwrap());
    let bad = Output::new(batches.as_str(), key.clone(), "trip-r/later").with_header("trace-id", "t-9");
    producer.send_all(&[bad]).await.unwrap();

    // A worker with a bug: everything is poison to it.
    let seen: Arc<Mutex<Vec<Message>>> = Arc::default();
    let s = Arc::clone(&seen);
    let buggy = Consumer::for_role(&c.config, Role::Detect, producer.clone()).unwrap();
    let buggy = spawn(buggy, move |m: Message| {
        s.lock().unwrap().push(m);
        async { Err(bump_kafka::HandlerError::poison("a bug")) }
    });
    wait_until("the worker saw the batch", || !seen.lock().unwrap().is_empty()).await;
    let stats = buggy.stop().await.unwrap();
    assert_eq!(stats.dead_lettered, 1);

    // The bug is fixed: re-publish, then a fixed worker reads the batch
    // again, as it was.
    let done = redrive(&c.config, Duration::from_secs(2)).await.unwrap();
    assert_eq!((done.republished, done.skipped), (1, 0));
    let again: Arc<Mutex<Vec<Message>>> = Arc::default();
    let a = Arc::clone(&again);
    let fixed = Consumer::new(&c.config, "redrive.fixed", &[&batches], producer.clone()).unwrap();
    let fixed = spawn(fixed, move |m: Message| {
        a.lock().unwrap().push(m);
        async { Ok(Vec::new()) }
    });
    wait_until("the fixed worker saw both copies", || again.lock().unwrap().len() == 2).await;
    fixed.stop().await.unwrap();
    let again = again.lock().unwrap().clone();
    let copy = &again[1];
    assert_eq!(copy.payload(), b"trip-r/later");
    assert_eq!(copy.key(), Some(key.as_slice()));
    assert_eq!(copy.header("trace-id"), Some(&b"t-9"[..]), "its own headers are kept");
    assert_eq!(copy.header(ERROR_HEADER), None, "the dead-letter headers are not");

    // A second run finds nothing new: the group remembers.
    let done = redrive(&c.config, Duration::from_secs(2)).await.unwrap();
    assert_eq!((done.republished, done.skipped), (0, 0));
}
