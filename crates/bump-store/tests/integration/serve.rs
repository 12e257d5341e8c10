use bump_store::{BatchPut, NewBatch};
use chrono::{TimeDelta, TimeZone, Utc};

#[tokio::test]
async fn batches_are_idempotent_and_deleted_only_after_processing_and_retention() {
    for place in crate::places("batches_are_idempotent_and_deleted_only_after_processing_and_retention").await {
        let s = place.open().await;
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("time");
        let put = |seq: u32, body: &'static [u8], digest: &'static str, is_final: bool| {
            let s = s.clone();
            async move {
                s.put_batch("trip-1", seq, "dev-1", is_final, body, digest, t0)
                    .await
                    .expect("put")
            }
        };
        assert_eq!(put(0, b"a", "da", false).await, BatchPut::Inserted);
        assert_eq!(put(0, b"a", "da", false).await, BatchPut::Duplicate);
        assert_eq!(put(0, b"b", "db", false).await, BatchPut::Conflict);
        assert_eq!(s.pending_batches().await.expect("pending"), 1);
        // Not complete and not silent long enough: not ready.
        assert!(
            s.ready_trips(t0 + TimeDelta::seconds(10), 600.0)
                .await
                .expect("ready")
                .is_empty()
        );
        assert_eq!(put(1, b"c", "dc", true).await, BatchPut::Inserted);
        assert_eq!(
            s.ready_trips(t0, 600.0).await.expect("ready"),
            vec!["trip-1".to_owned()]
        );
        // Processing commits evidence and marks the batches.
        s.commit_trip(
            "trip-1",
            &[],
            &[("8d2a306638a9a3f".into(), 1.0)],
            true,
            t0,
            t0 + TimeDelta::seconds(1),
        )
        .await
        .expect("commit");
        assert_eq!(s.pending_batches().await.expect("pending"), 0);
        assert!(
            s.ready_trips(t0 + TimeDelta::days(1), 600.0)
                .await
                .expect("ready")
                .is_empty()
        );
        // Retention: nothing processed before the cut-off is kept, nothing after is lost.
        assert_eq!(s.delete_processed_batches(t0).await.expect("delete"), 0);
        assert_eq!(s.trip_batches("trip-1").await.expect("batches").len(), 2);
        assert_eq!(
            s.delete_processed_batches(t0 + TimeDelta::days(31))
                .await
                .expect("delete"),
            2
        );
        assert!(s.trip_batches("trip-1").await.expect("batches").is_empty());
        // The evidence stays.
        assert_eq!(s.coverage().await.expect("coverage").len(), 1);
    }
}

#[tokio::test]
async fn a_late_batch_makes_its_trip_pending_again() {
    for place in crate::places("a_late_batch_makes_its_trip_pending_again").await {
        let s = place.open().await;
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("time");
        s.put_batch("trip-2", 0, "dev-1", false, b"a", "da", t0)
            .await
            .expect("put");
        let later = t0 + TimeDelta::seconds(700);
        assert_eq!(
            s.ready_trips(later, 600.0).await.expect("ready"),
            vec!["trip-2".to_owned()]
        );
        s.commit_trip("trip-2", &[], &[], true, later, later)
            .await
            .expect("commit");
        assert!(s.ready_trips(later, 600.0).await.expect("ready").is_empty());
        // The final batch arrives after the timeout: the trip is processed again.
        s.put_batch("trip-2", 1, "dev-1", true, b"b", "db", later + TimeDelta::seconds(5))
            .await
            .expect("put");
        assert_eq!(
            s.ready_trips(later + TimeDelta::seconds(5), 600.0)
                .await
                .expect("ready"),
            vec!["trip-2".to_owned()]
        );
    }
}

#[tokio::test]
async fn batches_stored_together_answer_one_by_one() {
    for place in crate::places("batches_stored_together_answer_one_by_one").await {
        let s = place.open().await;
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("time");
        s.put_batch("trip-3", 0, "dev-1", false, b"a", "da", t0)
            .await
            .expect("put");
        let b = |trip_id, seq, body, digest, is_final| NewBatch {
            part: Some(2),
            trip_id,
            seq,
            device_id: "dev-1",
            is_final,
            body,
            digest,
        };
        let answers = s
            .put_batches(
                &[
                    b("trip-3", 0, b"a", "da", false),
                    b("trip-3", 1, b"b", "db", false),
                    b("trip-4", 0, b"x", "dx", true),
                    b("trip-3", 0, b"z", "dz", false),
                    b("trip-3", 2, b"c", "dc", true),
                ],
                t0,
            )
            .await
            .expect("put");
        assert_eq!(
            answers,
            [
                BatchPut::Duplicate,
                BatchPut::Inserted,
                BatchPut::Inserted,
                BatchPut::Conflict,
                BatchPut::Inserted
            ]
        );
        // The conflict stopped nothing: both trips are complete, in their
        // partition.
        assert_eq!(s.trip_batches("trip-3").await.expect("batches").len(), 3);
        assert_eq!(
            s.ready_trips_in(&[2], t0, 600.0).await.expect("ready"),
            vec!["trip-3".to_owned(), "trip-4".to_owned()]
        );
        assert!(s.ready_trips_in(&[1], t0, 600.0).await.expect("ready").is_empty());
    }
}
