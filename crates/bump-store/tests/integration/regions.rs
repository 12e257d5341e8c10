use bump_store::{StoredBump, TripEvidence};
use chrono::{TimeDelta, TimeZone, Utc};

fn bump(id: &str, trip: &str) -> StoredBump {
    StoredBump {
        bump_id: id.into(),
        trip_id: trip.into(),
        t: 1.5,
        obs: format!("{{\"id\":\"{id}\"}}"),
        trace: None,
    }
}

/// `cN` as a real cell.
fn named(c: &str) -> String {
    crate::cell(c.trim_start_matches('c').parse().expect("cN"))
}

fn evidence(trip: &str, region: &str, bumps: &[&str], cells: &[&str]) -> TripEvidence {
    TripEvidence {
        trip_id: trip.into(),
        region: region.into(),
        bumps: bumps.iter().map(|b| bump(b, trip)).collect(),
        coverage: cells.iter().map(|c| (named(c), 2.0)).collect(),
        passes: true,
    }
}

#[tokio::test]
async fn evidence_is_replaced_per_trip_and_region_and_redelivery_changes_nothing() {
    for place in crate::places("evidence_is_replaced_per_trip_and_region").await {
        let s = place.open().await;
        let dirty = vec!["r1".to_owned(), "r2".to_owned()];
        let a = evidence("trip-a", "r1", &["b1", "b2"], &["c1", "c2"]);
        let b = evidence("trip-a", "r2", &["b3"], &["c3"]);
        s.put_evidence(&[a.clone(), b.clone()], &dirty).await.expect("put");
        // The same messages again (a worker died before committing offsets).
        s.put_evidence(&[a, b], &dirty).await.expect("put again");
        assert_eq!(s.bumps().await.expect("bumps").len(), 3);
        assert_eq!(s.coverage().await.expect("coverage").len(), 3);
        // The trip reprocessed: r1 now has one bump, r2 none.
        let a2 = evidence("trip-a", "r1", &["b1"], &["c1"]);
        let b2 = evidence("trip-a", "r2", &[], &[]);
        s.put_evidence(&[a2, b2], &dirty).await.expect("replace");
        let ids: Vec<String> = s.bumps().await.expect("bumps").into_iter().map(|b| b.bump_id).collect();
        assert_eq!(ids, ["b1"]);
        assert_eq!(s.coverage().await.expect("coverage").len(), 1);
        assert_eq!(s.dirty_regions().await.expect("dirty"), dirty);
    }
}

#[tokio::test]
async fn a_region_stays_dirty_when_evidence_arrives_while_it_is_computed() {
    for place in crate::places("a_region_stays_dirty_when_evidence_arrives").await {
        let s = place.open().await;
        s.put_evidence(&[evidence("t1", "r1", &["b1"], &["c1"])], &["r1".into()])
            .await
            .expect("put");
        let halo = vec!["r1".to_owned(), "r0".to_owned()];
        // A slow phone's trip: its coverage is kept but not read as passes.
        let slow = TripEvidence {
            passes: false,
            ..evidence("t9", "r1", &[], &["c2"])
        };
        s.put_evidence(&[slow], &[]).await.expect("put slow");
        assert_eq!(s.coverage().await.expect("coverage").len(), 2);
        // Computed with the evidence as it is: the mark is cleared.
        let cleared = s
            .recompute_region("r1", &halo, |ev| {
                assert_eq!(ev.bumps.len(), 1);
                assert_eq!(ev.coverage, vec![("t1".to_owned(), named("c1"), 2.0)]);
                vec![("k1".into(), "{\"n\":1}".into())]
            })
            .await
            .expect("recompute");
        assert!(cleared);
        assert!(s.dirty_regions().await.expect("dirty").is_empty());
        assert_eq!(
            s.region_clusters().await.expect("clusters"),
            vec![("r1".to_owned(), "k1".to_owned(), "{\"n\":1}".to_owned())]
        );
        // New evidence lands while another worker computes (simulated by a
        // second store handle writing inside the computation): the mark
        // must survive so that the region is computed again.
        s.put_evidence(&[evidence("t2", "r1", &["b2"], &[])], &["r1".into()])
            .await
            .expect("put");
        let other = place.open().await;
        let other2 = other.clone();
        let handle = tokio::spawn(async move {
            other2
                .put_evidence(&[evidence("t3", "r0", &["b3"], &[])], &["r1".into()])
                .await
        });
        let cleared = s
            .recompute_region("r1", &halo, |ev| vec![(format!("k{}", ev.bumps.len()), "{}".into())])
            .await
            .expect("recompute");
        handle.await.expect("join").expect("put during compute");
        if cleared {
            // Either the concurrent write committed after the computation
            // read the region (then it is still marked), or before (then
            // the computation saw its bump): never cleared without it.
            let dirty = s.dirty_regions().await.expect("dirty");
            let computed = s.region_clusters().await.expect("clusters");
            assert!(
                dirty == ["r1"] || computed == [("r1".to_owned(), "k3".to_owned(), "{}".to_owned())],
                "cleared without the concurrent evidence: dirty {dirty:?}, computed {computed:?}"
            );
        }
        let cleared = s
            .recompute_region("r1", &halo, |ev| vec![(format!("k{}", ev.bumps.len()), "{}".into())])
            .await
            .expect("recompute");
        assert!(cleared);
        assert!(s.dirty_regions().await.expect("dirty").is_empty());
        let clusters = s.region_clusters().await.expect("clusters");
        assert_eq!(clusters, vec![("r1".to_owned(), "k3".to_owned(), "{}".to_owned())]);
        other.close().await;
    }
}

#[tokio::test]
async fn trips_are_found_by_partition_and_remember_their_regions() {
    for place in crate::places("trips_are_found_by_partition").await {
        let s = place.open().await;
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("time");
        s.put_batch_in(Some(3), "trip-p3", 0, "dev", true, b"x", "dx", t0)
            .await
            .expect("put");
        s.put_batch_in(Some(1), "trip-p1", 0, "dev", true, b"y", "dy", t0)
            .await
            .expect("put");
        assert_eq!(s.ready_trips_in(&[3], t0, 600.0).await.expect("ready"), ["trip-p3"]);
        assert_eq!(s.ready_trips_in(&[1, 3], t0, 600.0).await.expect("ready").len(), 2);
        assert!(s.ready_trips_in(&[], t0, 600.0).await.expect("ready").is_empty());
        let regions = vec!["r1".to_owned(), "r9".to_owned()];
        let later = t0 + TimeDelta::seconds(1);
        s.mark_trip_processed("trip-p3", 2, &regions, later, later)
            .await
            .expect("mark");
        assert_eq!(s.trip_regions("trip-p3").await.expect("regions"), regions);
        assert!(s.trip_regions("trip-p1").await.expect("regions").is_empty());
        assert_eq!(
            s.ready_trips_in(&[1, 3], later, 600.0).await.expect("ready"),
            ["trip-p1"]
        );
        assert_eq!(s.pending_batches().await.expect("pending"), 1);
    }
}
