/*!
The replay: recorded trips in, bumps out as files, with a summary.

- [`read`]: CSV and Parquet (polars) through a column mapping, and
  canonical JSON batches.
- [`write`]: `bumps.csv` and `bumps.parquet`.
- [`replay`]: the loop over files that drives the pure stages of
  `bump-pipeline`, and its [`Summary`].
*/

pub mod eval;
pub mod inventory;
pub mod read;
pub mod replay;
pub mod windows;
pub mod write;

pub use read::{ReadError, ReadReport, ReadTrip, read_trips, trip_files};
pub use replay::{Failure, Progress, Replayed, Summary, TripSummary, replay};
pub use write::{BUMP_COLUMNS, ParquetCodec, WriteError, write_bumps, write_clusters, write_recording};
