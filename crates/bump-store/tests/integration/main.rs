//! Integration tests of the embedded store.

/// The filing outbox and reviews, through the `Outbox` interface.
mod outbox;
/// Migrations, reopening, refusing a newer schema.
mod schema;
/// What `serve` keeps: batches, trips, evidence, retention.
mod serve;
