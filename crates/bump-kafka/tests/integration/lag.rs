//! Consumer-group lag for backpressure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bump_core::TripId;
use bump_kafka::{Consumer, Error, LagMonitor, Message, Producer, Role, Topic, batch_key};

use crate::support::{batch_payload, cluster, spawn, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_rises_with_production_and_falls_with_consumption() {
    let c = cluster("lag", 3);
    let producer = Producer::new(&c.config).unwrap();
    let batches = c.config.topic(Topic::Batches);
    let monitor = LagMonitor::new(&c.config, &c.config.group(Role::Detect)).unwrap();
    assert_eq!(monitor.lag(&batches).await.unwrap(), 0);

    for t in 0..6 {
        let trip = format!("trip-{t}");
        let key = batch_key(&TripId::new(trip.as_str()).unwrap());
        for seq in 0..5 {
            producer.send(&batches, &key, &batch_payload(&trip, seq)).await.unwrap();
        }
    }
    let lag = monitor.lag(&batches).await.unwrap();
    assert_eq!(lag, 30);
    assert!(LagMonitor::over(lag, 20));
    assert!(!LagMonitor::over(lag, 30));

    let handled = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&handled);
    let consumer = Consumer::for_role(&c.config, Role::Detect, producer.clone()).unwrap();
    let worker = spawn(consumer, move |_m: Message| {
        h.fetch_add(1, Ordering::SeqCst);
        async { Ok(Vec::new()) }
    });
    wait_until("all 30 are handled", || handled.load(Ordering::SeqCst) == 30).await;
    worker.stop().await.unwrap();
    assert_eq!(monitor.lag(&batches).await.unwrap(), 0);

    let key = batch_key(&TripId::new("trip-late").unwrap());
    for seq in 0..4 {
        producer
            .send(&batches, &key, &batch_payload("trip-late", seq))
            .await
            .unwrap();
    }
    assert_eq!(monitor.lag(&batches).await.unwrap(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_of_an_unknown_topic_is_an_error() {
    let c = cluster("nolag", 1);
    let monitor = LagMonitor::new(&c.config, "nolag.detect").unwrap();
    let err = monitor.lag("nolag.nonexistent").await.unwrap_err();
    assert!(matches!(err, Error::Client { what: "metadata", .. }), "{err}");
}
