/*!
Pure signal processing for streetbump: no I/O, no runtime, no logging.

- [`biquad`]: Butterworth filters as cascaded biquads designed from the
  sample rate.
- [`resample`]: linear resampling of irregular samples to a uniform grid,
  split at gaps.
- [`orient`]: gravity estimation and rotation into the vertical
  (Nericell), shift detection, yaw from braking.
- [`detect`]: the speed-aware bump detector and its per-event features.
- [`spectrum`]: band energies by FFT.

Every function states its units; accelerations are m/s², times seconds,
frequencies Hz.
*/

pub mod biquad;
pub mod detect;
pub mod orient;
pub mod resample;
pub mod spectrum;

pub use biquad::{Biquad, Cascade, FilterError, GainCascade};
pub use detect::{DetectParams, Detector, Event};
pub use orient::{OrientParams, Oriented, Reorienter, YawFit, estimate_yaw};
pub use resample::{Segment, resample_uniform};
pub use spectrum::BandEnergy;
