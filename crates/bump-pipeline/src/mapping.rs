/*!
Column mappings: how a recorded trip's table (CSV or Parquet) maps onto
[`bump_core::Trip`]. A mapping names the columns, their units and the time
format; it can come from a named preset, `pipeline.toml` and CLI flags,
in that order of precedence (later wins).

Presets, each documented in `docs/formats.md`:

- `streetbump`: the project's own recording format (`t` epoch seconds,
  `lat`, `lon`, `speed_mps`, `accuracy_m`, `heading_deg`, `ax`, `ay`, `az`
  in m/s², device frame, gravity included).
- `lublin`: the Lublin survey logger (`Time` as `YYYY-MM-DD HH:MM:SS,fff`
  local time with trailing zeros of the fraction dropped, `N,E,Z2` earth
  frame in g with `Z2` vertical, `Speed` m/s, `Course`, `Accuracy`).
- `pittsburgh`: the Pittsburgh iPhone logger (`timestamp` epoch seconds,
  `accelerometerX/Y/Z` in g, device frame, `speed` m/s with negative
  meaning invalid).
*/

use bump_core::{AccelUnit, Axis};
use serde::{Deserialize, Serialize};

use crate::timefmt::TimeFormat;

/// Unit of a speed column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpeedUnit {
    /// Metres per second.
    #[serde(rename = "m/s")]
    MetersPerSecond,
    /// Kilometres per hour.
    #[serde(rename = "km/h")]
    KilometersPerHour,
}

impl SpeedUnit {
    /// Factor to m/s.
    #[must_use]
    pub const fn to_mps(self) -> f64 {
        match self {
            Self::MetersPerSecond => 1.0,
            Self::KilometersPerHour => 1.0 / 3.6,
        }
    }
}

/// Whether readings include gravity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gravity {
    /// Decide per trip from the mean magnitude: about 1 g means included.
    Auto,
    /// Raw accelerometer, gravity included.
    Included,
    /// Linear acceleration, gravity removed.
    Removed,
}

/// The frame of the accelerometer columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Frame {
    /// The phone's axes; the vertical is found from gravity.
    Device,
    /// An earth frame; `vertical_axis` is vertical.
    Earth,
}

/// A complete column mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMapping {
    /// Column holding the time of each row.
    pub time: String,
    /// How to read it: `epoch_s`, `epoch_ms`, `epoch_us`, or a pattern
    /// with `%Y %m %d %H %M %S %f` (fraction of any length).
    pub time_format: TimeFormat,
    /// Minutes to subtract from date-time values to get UTC (local time
    /// east of Greenwich is positive). Ignored for epoch formats.
    #[serde(default)]
    pub utc_offset_min: i32,
    /// Latitude column, WGS84 degrees.
    pub lat: String,
    /// Longitude column, WGS84 degrees.
    pub lon: String,
    /// Speed column, if any.
    #[serde(default)]
    pub speed: Option<String>,
    /// Unit of the speed column.
    #[serde(default = "default_speed_unit")]
    pub speed_unit: SpeedUnit,
    /// Horizontal accuracy column (m), if any.
    #[serde(default)]
    pub accuracy: Option<String>,
    /// Course column (degrees from north), if any.
    #[serde(default)]
    pub heading: Option<String>,
    /// The three accelerometer columns, in axis order x, y, z.
    pub accel: [String; 3],
    /// Unit of the accelerometer columns.
    pub accel_unit: AccelUnit,
    /// Frame of the accelerometer columns.
    pub frame: Frame,
    /// In an earth frame, which of the three columns is vertical.
    #[serde(default = "default_vertical")]
    pub vertical_axis: Axis,
    /// In an earth frame without gravity, whether positive means up.
    #[serde(default = "default_true")]
    pub up_positive: bool,
    /// Whether readings include gravity.
    #[serde(default = "default_gravity")]
    pub gravity: Gravity,
    /// Column naming the trip, when one file holds several trips; by
    /// default the trip id is the file name without extension.
    #[serde(default)]
    pub trip_id: Option<String>,
    /// Column naming the device; by default the device id is the trip id.
    #[serde(default)]
    pub device_id: Option<String>,
}

impl ColumnMapping {
    /// Every column the mapping reads, each once, in a fixed order.
    #[must_use]
    pub fn columns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let named = [Some(&self.time), Some(&self.lat), Some(&self.lon)]
            .into_iter()
            .chain(self.accel.iter().map(Some))
            .chain(
                [
                    &self.speed,
                    &self.accuracy,
                    &self.heading,
                    &self.trip_id,
                    &self.device_id,
                ]
                .map(Option::as_ref),
            )
            .flatten();
        for c in named {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        out
    }
}

const fn default_speed_unit() -> SpeedUnit {
    SpeedUnit::MetersPerSecond
}
const fn default_vertical() -> Axis {
    Axis::Z
}
const fn default_true() -> bool {
    true
}
const fn default_gravity() -> Gravity {
    Gravity::Auto
}

/// A partial mapping: every field optional, laid over a preset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingOverrides {
    /// Preset to start from (default `streetbump`).
    pub preset: Option<String>,
    /// See [`ColumnMapping::time`].
    pub time: Option<String>,
    /// See [`ColumnMapping::time_format`].
    pub time_format: Option<TimeFormat>,
    /// See [`ColumnMapping::utc_offset_min`].
    pub utc_offset_min: Option<i32>,
    /// See [`ColumnMapping::lat`].
    pub lat: Option<String>,
    /// See [`ColumnMapping::lon`].
    pub lon: Option<String>,
    /// See [`ColumnMapping::speed`]; an empty string means "no column".
    pub speed: Option<String>,
    /// See [`ColumnMapping::speed_unit`].
    pub speed_unit: Option<SpeedUnit>,
    /// See [`ColumnMapping::accuracy`]; empty means none.
    pub accuracy: Option<String>,
    /// See [`ColumnMapping::heading`]; empty means none.
    pub heading: Option<String>,
    /// See [`ColumnMapping::accel`].
    pub accel: Option<[String; 3]>,
    /// See [`ColumnMapping::accel_unit`].
    pub accel_unit: Option<AccelUnit>,
    /// See [`ColumnMapping::frame`].
    pub frame: Option<Frame>,
    /// See [`ColumnMapping::vertical_axis`].
    pub vertical_axis: Option<Axis>,
    /// See [`ColumnMapping::up_positive`].
    pub up_positive: Option<bool>,
    /// See [`ColumnMapping::gravity`].
    pub gravity: Option<Gravity>,
    /// See [`ColumnMapping::trip_id`]; empty means none.
    pub trip_id: Option<String>,
    /// See [`ColumnMapping::device_id`]; empty means none.
    pub device_id: Option<String>,
}

/// The names of the built-in presets.
pub const PRESETS: [&str; 3] = ["streetbump", "lublin", "pittsburgh"];

fn s(x: &str) -> String {
    x.to_owned()
}

/// A built-in preset by name.
#[must_use]
pub fn preset(name: &str) -> Option<ColumnMapping> {
    Some(match name {
        "streetbump" => ColumnMapping {
            time: s("t"),
            time_format: TimeFormat::EpochSeconds,
            utc_offset_min: 0,
            lat: s("lat"),
            lon: s("lon"),
            speed: Some(s("speed_mps")),
            speed_unit: SpeedUnit::MetersPerSecond,
            accuracy: Some(s("accuracy_m")),
            heading: Some(s("heading_deg")),
            accel: [s("ax"), s("ay"), s("az")],
            accel_unit: AccelUnit::MetersPerSecondSquared,
            frame: Frame::Device,
            vertical_axis: Axis::Z,
            up_positive: true,
            gravity: Gravity::Auto,
            trip_id: None,
            device_id: None,
        },
        "lublin" => ColumnMapping {
            time: s("Time"),
            time_format: TimeFormat::Pattern(s("%Y-%m-%d %H:%M:%S,%f")),
            // Poland is UTC+1 in winter and UTC+2 in summer; the surveys
            // span both, so times are left as recorded (offset 0) and only
            // differences matter to the detector.
            utc_offset_min: 0,
            lat: s("Latitude"),
            lon: s("Longitude"),
            speed: Some(s("Speed")),
            speed_unit: SpeedUnit::MetersPerSecond,
            accuracy: Some(s("Accuracy")),
            heading: Some(s("Course")),
            accel: [s("N"), s("E"), s("Z2")],
            accel_unit: AccelUnit::G,
            frame: Frame::Earth,
            vertical_axis: Axis::Z,
            // The logger reports gravity as -1 g on Z2 (reading = gravity
            // minus acceleration), so its linear acceleration is negative
            // when the car accelerates upward.
            up_positive: false,
            gravity: Gravity::Auto,
            trip_id: None,
            device_id: None,
        },
        "pittsburgh" => ColumnMapping {
            time: s("timestamp"),
            time_format: TimeFormat::EpochSeconds,
            utc_offset_min: 0,
            lat: s("latitude"),
            lon: s("longitude"),
            speed: Some(s("speed")),
            speed_unit: SpeedUnit::MetersPerSecond,
            accuracy: None,
            heading: None,
            accel: [s("accelerometerX"), s("accelerometerY"), s("accelerometerZ")],
            accel_unit: AccelUnit::G,
            frame: Frame::Device,
            vertical_axis: Axis::Z,
            up_positive: true,
            gravity: Gravity::Included,
            trip_id: None,
            device_id: None,
        },
        _ => return None,
    })
}

/// Why a mapping could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The preset named does not exist.
    #[error("unknown preset {0:?}; known presets: streetbump, lublin, pittsburgh")]
    UnknownPreset(String),
}

fn opt(v: Option<String>, current: Option<String>) -> Option<String> {
    match v {
        Some(x) if x.is_empty() => None,
        Some(x) => Some(x),
        None => current,
    }
}

impl MappingOverrides {
    /// Lays `other` over `self`: fields set in `other` win.
    #[must_use]
    pub fn merge(self, other: Self) -> Self {
        macro_rules! pick {
            ($($f:ident),*) => { Self { $($f: other.$f.or(self.$f)),* } };
        }
        pick!(
            preset,
            time,
            time_format,
            utc_offset_min,
            lat,
            lon,
            speed,
            speed_unit,
            accuracy,
            heading,
            accel,
            accel_unit,
            frame,
            vertical_axis,
            up_positive,
            gravity,
            trip_id,
            device_id
        )
    }

    /// Resolves to a full mapping: the preset, then every set field.
    ///
    /// # Errors
    /// [`MappingError::UnknownPreset`].
    pub fn resolve(&self) -> Result<ColumnMapping, MappingError> {
        let name = self.preset.as_deref().unwrap_or("streetbump");
        let mut m = preset(name).ok_or_else(|| MappingError::UnknownPreset(name.to_owned()))?;
        let o = self.clone();
        if let Some(v) = o.time {
            m.time = v;
        }
        if let Some(v) = o.time_format {
            m.time_format = v;
        }
        if let Some(v) = o.utc_offset_min {
            m.utc_offset_min = v;
        }
        if let Some(v) = o.lat {
            m.lat = v;
        }
        if let Some(v) = o.lon {
            m.lon = v;
        }
        m.speed = opt(o.speed, m.speed);
        if let Some(v) = o.speed_unit {
            m.speed_unit = v;
        }
        m.accuracy = opt(o.accuracy, m.accuracy);
        m.heading = opt(o.heading, m.heading);
        if let Some(v) = o.accel {
            m.accel = v;
        }
        if let Some(v) = o.accel_unit {
            m.accel_unit = v;
        }
        if let Some(v) = o.frame {
            m.frame = v;
        }
        if let Some(v) = o.vertical_axis {
            m.vertical_axis = v;
        }
        if let Some(v) = o.up_positive {
            m.up_positive = v;
        }
        if let Some(v) = o.gravity {
            m.gravity = v;
        }
        m.trip_id = opt(o.trip_id, m.trip_id);
        m.device_id = opt(o.device_id, m.device_id);
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_resolve_and_overrides_win() {
        for p in PRESETS {
            assert!(preset(p).is_some());
        }
        let base = MappingOverrides {
            preset: Some("lublin".into()),
            ..MappingOverrides::default()
        };
        let cli = MappingOverrides {
            speed: Some(String::new()),
            accel_unit: Some(AccelUnit::MetersPerSecondSquared),
            ..MappingOverrides::default()
        };
        let m = base.merge(cli).resolve().unwrap();
        assert_eq!(m.time, "Time");
        assert_eq!(m.speed, None);
        assert_eq!(m.accel_unit, AccelUnit::MetersPerSecondSquared);
        assert!(matches!(
            MappingOverrides {
                preset: Some("nope".into()),
                ..MappingOverrides::default()
            }
            .resolve(),
            Err(MappingError::UnknownPreset(_))
        ));
    }
}
