/*!
Domain types shared by every streetbump crate.

Every quantity carries its unit in its name: times are UTC seconds since the
Unix epoch (`t`, fractional), accelerations are metres per second squared
(`*_mps2`), speeds metres per second (`speed_mps`), positions WGS84 degrees,
headings degrees clockwise from true north.

The key types:

- [`TripId`], [`DeviceId`]: validated identifiers.
- [`AccelSample`], [`GpsFix`]: one reading each.
- [`TripBatch`]: the canonical upload a phone sends (see `docs/formats.md`).
- [`Trip`]: a whole recorded trip, as the readers produce it.
- [`Bump`]: one detected physical event, with its stable [`BumpId`].

This crate does no I/O and never logs.
*/

mod batch;
mod bump;
mod ids;
mod sample;

pub use batch::{
    AccelBlock, AccelUnit, BATCH_SCHEMA, BatchError, MAX_ABS_ACCEL_MPS2, MAX_BATCH_FIXES, MAX_BATCH_SAMPLES,
    MAX_SPEED_MPS, TIME_RANGE, TripBatch,
};
pub use bump::{BAND_EDGES_HZ, Bump, BumpId, Excursion};
pub use ids::{DeviceId, IdError, MAX_ID_LEN, TripId};
pub use sample::{AccelFrame, AccelSample, Axis, DeviceInfo, GpsFix, STANDARD_GRAVITY, Trip};
