use bump_store::{Error, MIGRATIONS};
use chrono::{TimeZone, Utc};

use crate::cell;

#[tokio::test]
async fn coverage_reads_back_by_trip_and_by_cell() {
    for place in crate::places("coverage_reads_back_by_trip_and_by_cell").await {
        let s = place.open().await;
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("time");
        // 400 cells over 4.4 km: many blocks; one cell twice (its first time stands).
        let mut a: Vec<(String, f64)> = (0..400).map(|i| (cell(i), 100.0 + f64::from(i))).collect();
        a.push((cell(7), 50.0));
        let b: Vec<(String, f64)> = (5..10).map(|i| (cell(i), 900.0)).collect();
        s.commit_trip("trip-a", &[], &a, true, t0, t0).await.expect("commit a");
        s.commit_trip("trip-b", &[], &b, true, t0, t0).await.expect("commit b");
        let all = s.coverage().await.expect("coverage");
        assert_eq!(all.len(), 405);
        assert!(
            all.windows(2).all(|w| (&w[0].0, &w[0].1) < (&w[1].0, &w[1].1)),
            "sorted, unique"
        );
        assert!(all.contains(&("trip-a".into(), cell(7), 50.0)));
        assert!(all.contains(&("trip-a".into(), cell(399), 499.0)));
        // The same, grouped by trip and typed.
        let by_trip = s.coverage_by_trip().await.expect("by trip");
        let flat: Vec<(String, String, f64)> = by_trip
            .iter()
            .flat_map(|(trip, cells)| cells.iter().map(move |(c, t)| (trip.clone(), c.to_string(), *t)))
            .collect();
        assert_eq!(flat, all);

        let near = s
            .coverage_in(&[cell(7), cell(300), "not a cell".into()])
            .await
            .expect("in");
        assert_eq!(
            near,
            vec![
                ("trip-a".to_owned(), cell(300), 400.0),
                ("trip-a".to_owned(), cell(7), 50.0),
                ("trip-b".to_owned(), cell(7), 900.0),
            ]
            .into_iter()
            .fold(Vec::new(), |mut v, r| {
                v.push(r);
                v.sort_by(|x: &(String, String, f64), y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
                v
            })
        );

        // Reprocessing replaces the trip's coverage whole.
        s.commit_trip("trip-a", &[], &a[..3], true, t0, t0)
            .await
            .expect("again");
        assert_eq!(s.coverage().await.expect("coverage").len(), 8);
        assert!(s.coverage_in(&[cell(300)]).await.expect("in").is_empty());
        assert_eq!(
            s.pass_coverage_by_trip().await.expect("passes"),
            s.coverage_by_trip().await.expect("all")
        );

        // A slow phone's trip shows where it drove, but gives no passes;
        // processed again as a fast one, it does.
        s.commit_trip("trip-c", &[], &b, false, t0, t0).await.expect("slow");
        assert!(s.coverage_by_trip().await.expect("all").contains_key("trip-c"));
        assert!(
            s.coverage_in(&[cell(7)])
                .await
                .expect("in")
                .iter()
                .any(|r| r.0 == "trip-c")
        );
        let passes = s.pass_coverage_by_trip().await.expect("passes");
        assert!(!passes.contains_key("trip-c"));
        assert!(passes.contains_key("trip-b"));
        s.commit_trip("trip-c", &[], &b, true, t0, t0).await.expect("fast");
        assert!(s.pass_coverage_by_trip().await.expect("passes").contains_key("trip-c"));
    }
}

#[tokio::test]
async fn text_that_is_not_a_cell_is_refused_and_nothing_is_committed() {
    for place in crate::places("text_that_is_not_a_cell_is_refused").await {
        let s = place.open().await;
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("time");
        s.commit_trip("trip-a", &[], &[(cell(1), 1.0)], true, t0, t0)
            .await
            .expect("commit");
        let bad = vec![(cell(2), 2.0), ("8d2a30663zzzzzz".to_owned(), 3.0)];
        let e = s
            .commit_trip("trip-a", &[], &bad, true, t0, t0)
            .await
            .expect_err("bad cell");
        assert!(matches!(e, Error::Invalid { .. }), "{e}");
        assert!(
            e.to_string().contains("trip-a") && e.to_string().contains("8d2a30663zzzzzz"),
            "{e}"
        );
        // The transaction rolled back: the old coverage stands.
        assert_eq!(
            s.coverage().await.expect("coverage"),
            vec![("trip-a".to_owned(), cell(1), 1.0)]
        );
    }
}

/// A store written before coverage moved into blocks and batch bodies into
/// their own table opens with its rows moved, none lost: on SQLite and on
/// PostgreSQL.
#[tokio::test]
async fn a_store_of_the_old_layout_is_moved_into_blocks_and_bodies() {
    sqlx::any::install_default_drivers();
    for place in crate::places("a_store_of_the_old_layout_is_moved").await {
        let (url, postgres) = match &place {
            crate::Place::Dir(d) => (
                format!("sqlite:{}?mode=rwc", d.path().join("streetbump.db").display()),
                false,
            ),
            crate::Place::Url(u) => (u.clone(), true),
        };
        let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
        let int = if postgres { "BIGINT" } else { "INTEGER" };
        sqlx::raw_sql(&format!(
            "CREATE TABLE schema_migrations (version {int} PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        ))
        .execute(&pool)
        .await
        .expect("create");
        for (v, name, sqlite, pg) in MIGRATIONS.iter().filter(|m| m.0 < 5) {
            sqlx::raw_sql(if postgres { pg } else { sqlite })
                .execute(&pool)
                .await
                .expect("old migration");
            sqlx::query("INSERT INTO schema_migrations VALUES ($1, $2, '2026-01-01T00:00:00Z')")
                .bind(*v)
                .bind(*name)
                .execute(&pool)
                .await
                .expect("record");
        }
        let rows: Vec<(String, String, f64)> = (0..60)
            .map(|i| (format!("trip-{}", i % 3), cell(i * 7), f64::from(i)))
            .collect();
        for (trip, c, t) in &rows {
            sqlx::query("INSERT INTO coverage (trip_id, cell, t) VALUES ($1, $2, $3)")
                .bind(trip)
                .bind(c)
                .bind(t)
                .execute(&pool)
                .await
                .expect("old row");
        }
        for seq in 0..3i64 {
            sqlx::query(
                "INSERT INTO batches (trip_id, seq, device_id, body, digest, received_at)
                 VALUES ('trip-0', $1, 'dev', $2, 'd', '2026-01-01T00:00:00Z')",
            )
            .bind(seq)
            .bind(format!("body {seq}").into_bytes())
            .execute(&pool)
            .await
            .expect("old batch");
        }
        pool.close().await;

        let s = place.open().await;
        assert_eq!(
            s.schema_version().await.expect("version"),
            MIGRATIONS.last().expect("some").0
        );
        let mut want = rows.clone();
        want.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        assert_eq!(s.coverage().await.expect("coverage"), want);
        assert_eq!(
            s.trip_batches("trip-0").await.expect("bodies"),
            [b"body 0".to_vec(), b"body 1".to_vec(), b"body 2".to_vec()]
        );
        assert_eq!(s.stored_batches().await.expect("batches"), 3);
        drop(s);
        // The old table is gone.
        let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
        assert!(sqlx::query("SELECT 1 FROM coverage").fetch_all(&pool).await.is_err());
        pool.close().await;
    }
}
