//! Poison and retryable failures.

use std::sync::{Arc, Mutex};

use bump_core::TripId;
use bump_kafka::{
    Consumer, ERROR_HEADER, Error, GROUP_HEADER, HandlerError, LagMonitor, Message, Output, Producer, Role,
    SOURCE_OFFSET_HEADER, SOURCE_TOPIC_HEADER, Topic, batch_key,
};

use crate::support::{QUICK, batch_payload, cluster, parse_batch, spawn, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_goes_to_dead_letter_with_its_reason() {
    let c = cluster("poison", 2);
    let producer = Producer::new(&c.config).unwrap();
    let batches = c.config.topic(Topic::Batches);
    let key = batch_key(&TripId::new("trip-p").unwrap());
    for seq in 0..4 {
        producer
            .send(&batches, &key, &batch_payload("trip-p", seq))
            .await
            .unwrap();
    }
    let bad = Output::new(batches.as_str(), key.clone(), "not a batch").with_header("trace-id", "t-17");
    producer.send_all(&[bad]).await.unwrap();
    producer
        .send(&batches, &key, &batch_payload("trip-p", 4))
        .await
        .unwrap();

    let good: Arc<Mutex<Vec<u32>>> = Arc::default();
    let g = Arc::clone(&good);
    let consumer = Consumer::for_role(&c.config, Role::Detect, producer.clone()).unwrap();
    let worker = spawn(consumer, move |m: Message| {
        let g = Arc::clone(&g);
        async move {
            let (_, seq) = parse_batch(&m)?;
            g.lock().unwrap().push(seq);
            Ok(Vec::new())
        }
    });
    wait_until("the good batches are handled", || good.lock().unwrap().len() == 5).await;
    let stats = worker.stop().await.unwrap();
    assert_eq!((stats.handled, stats.dead_lettered), (6, 1));
    assert_eq!(
        *good.lock().unwrap(),
        vec![0, 1, 2, 3, 4],
        "the poison did not block its trip"
    );

    // The poison's offset was stored too: the group is not stuck on it.
    let monitor = LagMonitor::new(&c.config, &c.config.group(Role::Detect)).unwrap();
    assert_eq!(monitor.lag(&batches).await.unwrap(), 0);

    // Read the dead letter back.
    let dead: Arc<Mutex<Vec<Message>>> = Arc::default();
    let d = Arc::clone(&dead);
    let dead_letter = c.config.topic(Topic::DeadLetter);
    let reader = Consumer::new(&c.config, "poison.reader", &[&dead_letter], producer).unwrap();
    let reader = spawn(reader, move |m| {
        d.lock().unwrap().push(m);
        async { Ok(Vec::new()) }
    });
    wait_until("the dead letter is read", || !dead.lock().unwrap().is_empty()).await;
    reader.stop().await.unwrap();
    let dead = dead.lock().unwrap();
    assert_eq!(dead.len(), 1);
    let m = &dead[0];
    assert_eq!(m.payload(), b"not a batch");
    assert_eq!(m.key(), Some(key.as_slice()));
    let reason = std::str::from_utf8(m.header(ERROR_HEADER).unwrap()).unwrap();
    assert!(reason.contains("no '/'"), "{reason}");
    assert_eq!(m.header(SOURCE_TOPIC_HEADER), Some(batches.as_bytes()));
    assert_eq!(m.header(SOURCE_OFFSET_HEADER), Some(&b"4"[..]));
    assert_eq!(m.header(GROUP_HEADER), Some(c.config.group(Role::Detect).as_bytes()));
    assert_eq!(m.header("trace-id"), Some(&b"t-17"[..]), "original headers are kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failure_is_retried_in_place() {
    let c = cluster("retry", 1);
    let producer = Producer::new(&c.config).unwrap();
    let batches = c.config.topic(Topic::Batches);
    let key = batch_key(&TripId::new("trip-r").unwrap());
    for seq in 0..3 {
        producer
            .send(&batches, &key, &batch_payload("trip-r", seq))
            .await
            .unwrap();
    }

    let calls: Arc<Mutex<Vec<u32>>> = Arc::default();
    let k = Arc::clone(&calls);
    let consumer = Consumer::for_role(&c.config, Role::Detect, producer)
        .unwrap()
        .with_options(QUICK);
    let worker = spawn(consumer, move |m: Message| {
        let k = Arc::clone(&k);
        async move {
            let (_, seq) = parse_batch(&m)?;
            let mut calls = k.lock().unwrap();
            calls.push(seq);
            // Batch 1 fails twice (the database is briefly away), then works.
            if seq == 1 && calls.iter().filter(|&&s| s == 1).count() <= 2 {
                return Err(HandlerError::retryable("database unavailable"));
            }
            Ok(Vec::new())
        }
    });
    wait_until("all batches are handled", || calls.lock().unwrap().len() == 5).await;
    let stats = worker.stop().await.unwrap();
    assert_eq!((stats.handled, stats.retries), (3, 2));
    assert_eq!(
        *calls.lock().unwrap(),
        vec![0, 1, 1, 1, 2],
        "batch 2 waited for batch 1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_run_out_without_storing_the_offset() {
    let c = cluster("exhaust", 1);
    let producer = Producer::new(&c.config).unwrap();
    let batches = c.config.topic(Topic::Batches);
    let key = batch_key(&TripId::new("trip-x").unwrap());
    for seq in 0..2 {
        producer
            .send(&batches, &key, &batch_payload("trip-x", seq))
            .await
            .unwrap();
    }
    let consumer = Consumer::for_role(&c.config, Role::Detect, producer)
        .unwrap()
        .with_options(QUICK);
    let worker = spawn(consumer, |m: Message| async move {
        match parse_batch(&m)? {
            (_, 1) => Err(HandlerError::retryable("still down")),
            _ => Ok(Vec::new()),
        }
    });
    let err = worker.task.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, Error::RetriesExhausted { offset: 1, attempts: 3, reason, .. } if reason == "still down"),
        "{err}"
    );
    // Closing commits what was stored: batch 0, not batch 1.
    drop(worker.consumer);
    let monitor = LagMonitor::new(&c.config, &c.config.group(Role::Detect)).unwrap();
    assert_eq!(monitor.lag(&batches).await.unwrap(), 1);
}
