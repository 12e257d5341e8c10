use bump_store::{Error, MIGRATIONS, Store};

#[tokio::test]
async fn migrates_once_and_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let s = Store::open(&data).await.expect("open");
    let latest = MIGRATIONS.last().expect("migrations").0;
    assert_eq!(s.schema_version().await.expect("version"), latest);
    drop(s);
    let s = Store::open(&data).await.expect("reopen");
    assert_eq!(s.schema_version().await.expect("version"), latest);
    assert!(data.join("streetbump.db").is_file());
}

#[tokio::test]
async fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(dir.path()).await.expect("open");
    s.audit("test", "x", "y", None).await.expect("audit");
    drop(s);
    // Pretend a newer program migrated it.
    let url = format!("sqlite:{}", dir.path().join("streetbump.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
    sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 'now')")
        .execute(&pool)
        .await
        .expect("insert");
    pool.close().await;
    let e = Store::open(dir.path()).await.expect_err("too new");
    assert!(matches!(e, Error::TooNew { found: 999, .. }), "{e}");
}

#[tokio::test]
async fn a_data_dir_that_is_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("file");
    std::fs::write(&f, "x").expect("write");
    let e = Store::open(&f).await.expect_err("not a dir").to_string();
    assert!(e.contains("cannot create data directory"), "{e}");
}

#[tokio::test]
async fn postgres_migrates_once_even_when_processes_start_together() {
    let Some(url) = bump_fixtures::fresh_postgres("postgres_migrates_once").await else {
        return;
    };
    // Four processes' worth of stores connecting at once: the advisory lock
    // makes one migrate and the others find the schema current.
    let (a, b, c, d) = tokio::join!(
        Store::connect(&url),
        Store::connect(&url),
        Store::connect(&url),
        Store::connect(&url)
    );
    let stores = [a, b, c, d].map(|r| r.expect("connect"));
    let latest = MIGRATIONS.last().expect("migrations").0;
    for s in &stores {
        assert_eq!(s.schema_version().await.expect("version"), latest);
        assert_eq!(s.backend(), bump_store::Backend::Postgres);
    }
}

#[tokio::test]
async fn an_unknown_url_scheme_is_a_clear_error() {
    let e = Store::connect("mysql://root:secret@db/x")
        .await
        .expect_err("refused")
        .to_string();
    assert!(e.contains("expected postgres://"), "{e}");
    assert!(!e.contains("secret"), "password leaked: {e}");
}
