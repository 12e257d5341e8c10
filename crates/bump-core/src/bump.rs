/*! A detected bump: one physical event felt by one phone on one trip. */

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{DeviceId, TripId};

/// Edges of the spectral bands reported per bump, Hz: `[0.5, 2)`, `[2, 5)`,
/// `[5, 10)`, `[10, 20)`, `[20, 50)`. Body bounce sits in the first band,
/// wheel hop (10–15 Hz) in the fourth; a band above the trip's Nyquist
/// frequency is reported as missing, not as zero.
pub const BAND_EDGES_HZ: [f64; 6] = [0.5, 2.0, 5.0, 10.0, 20.0, 50.0];

/// Stable identity of a bump: a 64-bit FNV-1a hash of the trip id and the
/// peak time in whole microseconds. The same trip replayed, or redelivered,
/// yields the same id, so stores can ignore duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BumpId(pub u64);

impl BumpId {
    /// The id of the bump of `trip` whose peak is at `t` (UTC seconds).
    #[must_use]
    pub fn new(trip: &TripId, t: f64) -> Self {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        // Rounded to whole microseconds so float noise cannot change the id.
        #[allow(clippy::cast_possible_truncation, reason = "epoch microseconds fit i64")]
        let micros = (t * 1e6).round() as i64;
        let mut h = OFFSET;
        for b in trip.as_str().bytes().chain([0]).chain(micros.to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
        Self(h)
    }
}

impl fmt::Display for BumpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Which way the vertical acceleration went first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Excursion {
    /// Upward first: the wheel rose (hump, raised casting, joint).
    Up,
    /// Downward first: the wheel dropped (pothole, sunk casting).
    Down,
}

impl Excursion {
    /// `"up"` or `"down"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// One detected bump with its features. Units are in the field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bump {
    /// Stable identity, see [`BumpId`].
    pub bump_id: BumpId,
    /// The trip.
    pub trip_id: TripId,
    /// The device.
    pub device_id: DeviceId,
    /// Time of the peak, UTC seconds since the epoch.
    pub t: f64,
    /// WGS84 latitude of the phone at the peak, degrees.
    pub lat: f64,
    /// WGS84 longitude of the phone at the peak, degrees.
    pub lon: f64,
    /// Ground speed at the peak, m/s.
    pub speed_mps: f64,
    /// Course over ground at the peak, degrees from north; NaN when unknown.
    pub heading_deg: f64,
    /// Largest absolute filtered vertical acceleration, m/s².
    pub peak_mps2: f64,
    /// Peak-to-peak filtered vertical acceleration, m/s².
    pub p2p_mps2: f64,
    /// Time the filtered signal stayed above half the threshold, s.
    pub duration_s: f64,
    /// Integral of the squared filtered vertical acceleration over the
    /// event, m²/s³.
    pub energy_m2ps3: f64,
    /// Direction of the first excursion beyond half the threshold.
    pub first: Excursion,
    /// Energy per band of [`BAND_EDGES_HZ`], m²/s³; NaN above Nyquist.
    pub band_energy: [f64; 5],
    /// Peak over the speed-aware threshold (≥ 1 for every bump).
    pub score: f64,
    /// Sample rate the detector ran at, Hz.
    pub sample_rate_hz: f64,
    /// Class probabilities from the window model, in the cluster classes'
    /// order (pothole, speed hump, casting, rail crossing, rough road);
    /// empty without a window model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub window_probs: Vec<f64>,
}

impl Bump {
    /// Whether this is a support jolt rather than a bump: the detector's
    /// peak reached only part of its threshold (score below 1). Support
    /// jolts are not reported as bumps; clustering counts them only as
    /// further hits of a defect that bumps found.
    #[must_use]
    pub fn is_support(&self) -> bool {
        self.score < 1.0
    }
}
