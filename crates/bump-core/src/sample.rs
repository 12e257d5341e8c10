/*! Readings and trips. */

use serde::{Deserialize, Serialize};

use crate::{DeviceId, TripId};

/// Standard gravity, m/s² (CGPM 1901), used to convert readings in g.
pub const STANDARD_GRAVITY: f64 = 9.806_65;

/// One accelerometer reading, in m/s², in the frame of its [`Trip`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AccelSample {
    /// UTC seconds since the Unix epoch.
    pub t: f64,
    /// First axis, m/s².
    pub x: f64,
    /// Second axis, m/s².
    pub y: f64,
    /// Third axis, m/s².
    pub z: f64,
}

impl AccelSample {
    /// The magnitude of the reading, m/s².
    #[must_use]
    pub fn norm(&self) -> f64 {
        (self.x * self.x + self.y * self.y + self.z * self.z).sqrt()
    }
}

/// One GPS fix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GpsFix {
    /// UTC seconds since the Unix epoch.
    pub t: f64,
    /// WGS84 latitude, degrees.
    pub lat: f64,
    /// WGS84 longitude, degrees.
    pub lon: f64,
    /// Ground speed reported by the receiver, m/s, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_mps: Option<f64>,
    /// Horizontal accuracy (68 % radius), metres, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
    /// Course over ground, degrees clockwise from true north, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading_deg: Option<f64>,
}

/// One of the three accelerometer axes, as the trip's columns name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    /// The first axis.
    X,
    /// The second axis.
    Y,
    /// The third axis.
    Z,
}

/// The frame accelerometer readings are expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "frame", rename_all = "lowercase")]
pub enum AccelFrame {
    /// The phone's own axes, in any orientation: the preprocessor finds the
    /// vertical from gravity.
    Device,
    /// Already rotated to an earth frame: `vertical` is the vertical axis
    /// and `up_positive` says whether a positive value means upward.
    Earth {
        /// Which axis is vertical.
        vertical: Axis,
        /// Whether positive readings on `vertical` mean upward
        /// acceleration. With gravity included this is inferred from its
        /// sign and the flag is ignored.
        up_positive: bool,
    },
}

/// What is known of the device that recorded a trip.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Manufacturer and model, free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Operating system and version, free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Version of the recording app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
}

/// A whole recorded trip: everything the preprocessor needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Trip {
    /// The trip.
    pub trip_id: TripId,
    /// The device that recorded it.
    pub device_id: DeviceId,
    /// What is known of the device.
    pub device: DeviceInfo,
    /// The frame of `accel`.
    pub frame: AccelFrame,
    /// Whether `accel` includes gravity; `None` lets the preprocessor decide
    /// from the mean magnitude.
    pub gravity_included: Option<bool>,
    /// Accelerometer readings, m/s², in the order they were recorded.
    pub accel: Vec<AccelSample>,
    /// GPS fixes, in the order they were recorded.
    pub gps: Vec<GpsFix>,
}
