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
    s.stop().await;
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
