use bump_pipeline::PipelineConfig;

use crate::support::{Server, fixture_batches, fixture_lines};

/// (cluster id, hits, trips, passes) of every cluster, sorted.
type Key = Vec<(String, u64, u64, u64)>;

fn replayed() -> Key {
    let mapping = bump_pipeline::mapping::preset("streetbump").unwrap();
    let r = bump_replay::replay(&fixture_batches(), &mapping, &PipelineConfig::default(), &mut ());
    let mut k: Key = r
        .clusters
        .iter()
        .map(|c| (c.cluster_id.clone(), c.hits as u64, c.trips as u64, c.passes as u64))
        .collect();
    k.sort();
    k
}

async fn served(lines: &[String]) -> Key {
    let s = Server::start(|_| {}).await;
    for l in lines {
        assert_eq!(s.upload(l).await.0, 202);
    }
    s.settle(6.0).await;
    let k = clusters_of(&s).await;
    s.stop().await;
    k
}

async fn clusters_of(s: &Server) -> Key {
    let ana = s.login("ana").await;
    let (_, list) = s.get("/api/clusters", &ana).await;
    let mut k: Key = list["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["cluster_id"].as_str().unwrap().to_owned(),
                c["hits"].as_u64().unwrap(),
                c["trips"].as_u64().unwrap(),
                c["passes"].as_u64().unwrap(),
            )
        })
        .collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_replay_give_the_same_clusters_in_any_order() {
    let expected = replayed();
    assert!(!expected.is_empty());
    let lines = fixture_lines();
    assert_eq!(served(&lines).await, expected);
    // Batches late and out of order: last trip first, final batches first.
    let mut shuffled = lines.clone();
    shuffled.reverse();
    assert_eq!(served(&shuffled).await, expected);
}

/// A batch that comes after its trip was processed without it: the trip is
/// processed again and its new evidence replaces the old in the running
/// index, ending where a replay of every batch ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_batch_replaces_its_trips_evidence() {
    let expected = replayed();
    let lines = fixture_lines();
    let field = |l: &str, k: &str| serde_json::from_str::<serde_json::Value>(l).unwrap()[k].clone();
    // The first batch of a trip comes last: the trip is processed from its
    // final batch alone when `trip_timeout_s` has passed.
    let mut per_trip: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for l in &lines {
        *per_trip
            .entry(field(l, "trip_id").as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let (trip, n) = per_trip.iter().max_by_key(|(_, n)| **n).unwrap();
    assert!(*n >= 2, "a trip of several batches");
    let late = lines
        .iter()
        .position(|l| field(l, "trip_id") == trip.as_str() && field(l, "seq") == 0)
        .unwrap();
    let s = Server::start(|c| c.serve.trip_timeout_s = 1.0).await;
    for (i, l) in lines.iter().enumerate() {
        if i != late {
            assert_eq!(s.upload(l).await.0, 202);
        }
    }
    // Six trips processed, one of them without its first batch.
    s.settle(6.0).await;
    assert_eq!(s.metric("streetbump_trips_processed_total ").await, 6.0);
    assert_eq!(s.upload(&lines[late]).await.0, 202);
    s.settle(7.0).await;
    assert_eq!(clusters_of(&s).await, expected);
    s.stop().await;
}
