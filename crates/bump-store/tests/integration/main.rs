//! Integration tests of the store, on SQLite and (when the test server is
//! there) on PostgreSQL: the same interface must behave the same.

/// Coverage in blocks: queries, the move from rows, damaged input.
mod coverage;
/// The filing outbox and reviews, through the `Outbox` interface.
mod outbox;
/// The Kafka runtime's evidence by region and recomputation queue.
mod regions;
/// Migrations, reopening, refusing a newer schema.
mod schema;
/// What `serve` keeps: batches, trips, evidence, retention.
mod serve;

use bump_store::Store;

/// Where a test store lives, so that it can be opened again.
#[derive(Debug)]
pub enum Place {
    /// A SQLite file in a temporary directory.
    Dir(tempfile::TempDir),
    /// A fresh PostgreSQL database.
    Url(String),
}

impl Place {
    /// Opens (again).
    pub async fn open(&self) -> Store {
        match self {
            Self::Dir(d) => Store::open(d.path()).await.expect("open sqlite"),
            Self::Url(u) => Store::connect(u).await.expect("connect postgres"),
        }
    }
}

/// A fresh SQLite store, and a fresh PostgreSQL one when the server is
/// there.
pub async fn places(test: &str) -> Vec<Place> {
    let mut out = vec![Place::Dir(tempfile::tempdir().expect("tempdir"))];
    if let Some(url) = bump_fixtures::fresh_postgres(test).await {
        out.push(Place::Url(url));
    }
    out
}

/// A resolution-13 cell `n` steps of about 11 m north of a fixed point, as
/// H3 text.
pub fn cell(n: u32) -> String {
    h3o::LatLng::new(42.36 + f64::from(n) * 1e-4, -71.06)
        .expect("valid")
        .to_cell(h3o::Resolution::Thirteen)
        .to_string()
}
