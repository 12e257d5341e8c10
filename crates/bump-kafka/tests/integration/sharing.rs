//! Two members of the detect group share the batches topic's partitions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bump_core::TripId;
use bump_kafka::{Consumer, HandlerError, LagMonitor, Message, Output, Producer, Role, Topic, batch_key, evidence_key};

use crate::support::{batch_payload, cluster, parse_batch, spawn, wait_until};

const TRIPS: u32 = 8;
const BATCHES: u32 = 12;

/// One handling: which worker, which trip and batch, from which partition.
type Seen = Arc<Mutex<Vec<(usize, String, u32, i32)>>>;

async fn detect(worker: usize, seen: Seen, evidence: String, msg: Message) -> Result<Vec<Output>, HandlerError> {
    let (trip, seq) = parse_batch(&msg)?;
    seen.lock().unwrap().push((worker, trip, seq, msg.partition()));
    // One bump per batch, somewhere in Boston.
    let key = evidence_key(42.36 + f64::from(seq) * 0.01, -71.06).map_err(HandlerError::poison)?;
    Ok(vec![Output::new(evidence, key, msg.payload())])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_share_partitions_and_keep_trip_order() {
    let c = cluster("sharing", 4);
    let producer = Producer::new(&c.config).unwrap();
    let evidence = c.config.topic(Topic::Evidence);
    let seen: Seen = Arc::default();

    let workers: Vec<_> = (0..2)
        .map(|w| {
            let consumer = Consumer::for_role(&c.config, Role::Detect, producer.clone()).unwrap();
            let (seen, evidence) = (Arc::clone(&seen), evidence.clone());
            spawn(consumer, move |m| detect(w, Arc::clone(&seen), evidence.clone(), m))
        })
        .collect();
    // Produce only once both members hold partitions, so no rebalance
    // interrupts the stream and every batch is handled exactly once.
    wait_until("both members hold partitions", || {
        let held: Vec<usize> = workers.iter().map(|w| w.consumer.assignment().unwrap().len()).collect();
        held.iter().all(|&n| n > 0) && held.iter().sum::<usize>() == 4
    })
    .await;

    let batches = c.config.topic(Topic::Batches);
    for seq in 0..BATCHES {
        for t in 0..TRIPS {
            let trip = format!("trip-{t}");
            let key = batch_key(&TripId::new(trip.as_str()).unwrap());
            producer.send(&batches, &key, &batch_payload(&trip, seq)).await.unwrap();
        }
    }
    let total = (TRIPS * BATCHES) as usize;
    wait_until("every batch is handled", || seen.lock().unwrap().len() >= total).await;

    let mut stats = Vec::new();
    for w in workers {
        stats.push(w.stop().await.unwrap());
    }
    assert!(stats.iter().all(|s| s.handled > 0), "both members worked: {stats:?}");
    assert_eq!(stats.iter().map(|s| s.handled).sum::<u64>(), u64::from(TRIPS * BATCHES));
    assert_eq!(stats.iter().map(|s| s.outputs).sum::<u64>(), u64::from(TRIPS * BATCHES));

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let mut by_trip: BTreeMap<&str, Vec<(usize, u32, i32)>> = BTreeMap::new();
    for (w, trip, seq, p) in seen.iter() {
        by_trip.entry(trip).or_default().push((*w, *seq, *p));
    }
    assert_eq!(by_trip.len(), TRIPS as usize);
    for (trip, handled) in &by_trip {
        let seqs: Vec<u32> = handled.iter().map(|h| h.1).collect();
        assert_eq!(seqs, (0..BATCHES).collect::<Vec<_>>(), "{trip} in order, each once");
        assert!(
            handled.iter().all(|h| h.0 == handled[0].0 && h.2 == handled[0].2),
            "{trip} on one partition"
        );
    }

    // Every output was acknowledged: a group that never read the evidence
    // topic lags by exactly the number of outputs.
    let fresh = LagMonitor::new(&c.config, "sharing.nobody").unwrap();
    assert_eq!(fresh.lag(&evidence).await.unwrap(), i64::from(TRIPS * BATCHES));
}
