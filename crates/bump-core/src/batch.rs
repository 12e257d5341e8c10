/*! The canonical trip batch a phone uploads. Documented in
`docs/formats.md`, with a JSON Schema in `docs/schema/trip-batch.schema.json`.

Accelerometer readings travel as parallel arrays (columnar) because a batch
holds thousands of them and per-sample objects would triple the payload. */

use serde::{Deserialize, Serialize};

use crate::{AccelFrame, AccelSample, DeviceId, DeviceInfo, GpsFix, STANDARD_GRAVITY, Trip, TripId};

/// The value of `schema` in every batch of this version.
pub const BATCH_SCHEMA: &str = "streetbump.trip-batch/1";
/// Most accelerometer samples one batch may carry (about 8 minutes at 200 Hz).
pub const MAX_BATCH_SAMPLES: usize = 100_000;
/// Most GPS fixes one batch may carry.
pub const MAX_BATCH_FIXES: usize = 10_000;
/// Largest accelerometer magnitude accepted on one axis, m/s² (16 g, the
/// widest range phone accelerometers offer).
pub const MAX_ABS_ACCEL_MPS2: f64 = 16.0 * STANDARD_GRAVITY;
/// Earliest and latest accepted time stamps: 2000-01-01 and 2100-01-01 UTC.
pub const TIME_RANGE: (f64, f64) = (946_684_800.0, 4_102_444_800.0);
/// Fastest credible ground speed, m/s (250 km/h).
pub const MAX_SPEED_MPS: f64 = 70.0;

/// Unit of the accelerometer arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccelUnit {
    /// Metres per second squared.
    #[serde(rename = "m/s2")]
    MetersPerSecondSquared,
    /// Standard gravities (9.80665 m/s²).
    #[serde(rename = "g")]
    G,
}

impl AccelUnit {
    /// Factor converting a reading in this unit to m/s².
    #[must_use]
    pub const fn to_mps2(self) -> f64 {
        match self {
            Self::MetersPerSecondSquared => 1.0,
            Self::G => STANDARD_GRAVITY,
        }
    }
}

/// The accelerometer part of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccelBlock {
    /// Unit of `x`, `y`, `z`.
    pub unit: AccelUnit,
    /// Whether the readings include gravity (raw accelerometer) or not
    /// (linear acceleration).
    pub gravity_included: bool,
    /// UTC seconds since the Unix epoch of the time origin.
    pub t0: f64,
    /// Seconds after `t0` of each sample, non-decreasing.
    pub dt: Vec<f64>,
    /// Device-frame axis readings.
    pub x: Vec<f64>,
    /// Device-frame axis readings.
    pub y: Vec<f64>,
    /// Device-frame axis readings.
    pub z: Vec<f64>,
}

/// One upload: a slice of one trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TripBatch {
    /// Always [`BATCH_SCHEMA`].
    pub schema: String,
    /// The trip this batch belongs to.
    pub trip_id: TripId,
    /// The device that recorded it.
    pub device_id: DeviceId,
    /// Position of this batch in its trip, from 0.
    pub seq: u32,
    /// Whether this is the trip's last batch.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// What is known of the device.
    #[serde(default)]
    pub device: DeviceInfo,
    /// Accelerometer readings.
    pub accel: AccelBlock,
    /// GPS fixes recorded during this batch.
    #[serde(default)]
    pub gps: Vec<GpsFix>,
}

/// Names [`TripBatch::content_bytes`]' layout, so a digest taken over it
/// changes if the layout ever does.
const CONTENT_VERSION: &str = "streetbump.batch.content/1";

/// The writer behind [`TripBatch::content_bytes`]: lengths before
/// variable parts, so no two batches share a form.
struct Content(Vec<u8>);

impl Content {
    fn len(&mut self, n: usize) {
        self.0.extend_from_slice(&(n as u64).to_le_bytes());
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn flag(&mut self, b: bool) {
        self.0.push(u8::from(b));
    }

    fn f64s(&mut self, v: &[f64]) {
        for x in v {
            self.0.extend_from_slice(&x.to_bits().to_le_bytes());
        }
    }
}

/// Why a batch was refused: the field (a JSON path) and the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct BatchError {
    /// Path of the offending field, e.g. `accel.x[12]`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl BatchError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

fn check_time(field: impl FnOnce() -> String, t: f64) -> Result<(), BatchError> {
    if !t.is_finite() || t < TIME_RANGE.0 || t > TIME_RANGE.1 {
        return Err(BatchError::new(
            field(),
            format!("time {t} is not between 2000-01-01 and 2100-01-01 in UTC seconds"),
        ));
    }
    Ok(())
}

impl TripBatch {
    /// Parses a batch from JSON bytes and validates it.
    ///
    /// # Errors
    /// A [`BatchError`] naming the field: `body` for malformed JSON (with
    /// line and column), otherwise the first invalid field.
    pub fn from_json(bytes: &[u8]) -> Result<Self, BatchError> {
        let batch: Self = serde_json::from_slice(bytes).map_err(|e| BatchError::new("body", e.to_string()))?;
        batch.validate()?;
        Ok(batch)
    }

    /// Every field of the batch in a fixed binary form: what a digest of
    /// the batch itself (not of the bytes a phone sent) is taken over, so
    /// the same batch serialised differently digests the same. Numbers go
    /// in as their bits, which costs a tenth of printing them as JSON.
    #[must_use]
    pub fn content_bytes(&self) -> Vec<u8> {
        // Destructured whole, so a new field cannot be left out unnoticed.
        let Self {
            schema,
            trip_id,
            device_id,
            seq,
            is_final,
            device,
            accel,
            gps,
        } = self;
        let DeviceInfo { model, os, app_version } = device;
        let AccelBlock {
            unit,
            gravity_included,
            t0,
            dt,
            x,
            y,
            z,
        } = accel;
        let mut w = Content(Vec::with_capacity(64 + 32 * dt.len() + 64 * gps.len()));
        w.str(CONTENT_VERSION);
        w.str(schema);
        w.str(trip_id.as_str());
        w.str(device_id.as_str());
        w.0.extend_from_slice(&seq.to_le_bytes());
        w.flag(*is_final);
        for o in [model, os, app_version] {
            w.flag(o.is_some());
            w.str(o.as_deref().unwrap_or_default());
        }
        w.0.push(match unit {
            AccelUnit::MetersPerSecondSquared => 0,
            AccelUnit::G => 1,
        });
        w.flag(*gravity_included);
        w.f64s(&[*t0]);
        for v in [dt, x, y, z] {
            w.len(v.len());
            w.f64s(v);
        }
        w.len(gps.len());
        for f in gps {
            let GpsFix {
                t,
                lat,
                lon,
                speed_mps,
                accuracy_m,
                heading_deg,
            } = f;
            w.f64s(&[*t, *lat, *lon]);
            for o in [speed_mps, accuracy_m, heading_deg] {
                w.flag(o.is_some());
                w.f64s(&[o.unwrap_or(0.0)]);
            }
        }
        w.0
    }

    /// Number of accelerometer samples.
    #[must_use]
    pub fn len(&self) -> usize {
        self.accel.dt.len()
    }

    /// Whether the batch carries no accelerometer sample.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.accel.dt.is_empty()
    }

    /// Checks every rule of `docs/formats.md`.
    ///
    /// # Errors
    /// The first rule broken, with the field's path.
    pub fn validate(&self) -> Result<(), BatchError> {
        if self.schema != BATCH_SCHEMA {
            return Err(BatchError::new(
                "schema",
                format!("expected {BATCH_SCHEMA:?}, got {:?}", self.schema),
            ));
        }
        let a = &self.accel;
        let n = a.dt.len();
        if n > MAX_BATCH_SAMPLES {
            return Err(BatchError::new(
                "accel.dt",
                format!("{n} samples, more than the limit of {MAX_BATCH_SAMPLES}"),
            ));
        }
        for (name, v) in [("x", &a.x), ("y", &a.y), ("z", &a.z)] {
            if v.len() != n {
                return Err(BatchError::new(
                    format!("accel.{name}"),
                    format!("has {} values but accel.dt has {n}", v.len()),
                ));
            }
        }
        check_time(|| "accel.t0".into(), a.t0)?;
        let limit = MAX_ABS_ACCEL_MPS2 / a.unit.to_mps2();
        let mut prev = f64::NEG_INFINITY;
        for (i, &dt) in a.dt.iter().enumerate() {
            if !dt.is_finite() || dt < 0.0 {
                return Err(BatchError::new(
                    format!("accel.dt[{i}]"),
                    format!("{dt} is not a finite, non-negative offset in seconds"),
                ));
            }
            if dt < prev {
                return Err(BatchError::new(
                    format!("accel.dt[{i}]"),
                    format!("{dt} is earlier than the sample before it ({prev}); samples must be in order"),
                ));
            }
            prev = dt;
        }
        if let Some(&last) = a.dt.last() {
            check_time(|| format!("accel.dt[{}]", n - 1), a.t0 + last)?;
        }
        for (name, v) in [("x", &a.x), ("y", &a.y), ("z", &a.z)] {
            if let Some((i, val)) = v.iter().enumerate().find(|(_, x)| !x.is_finite() || x.abs() > limit) {
                return Err(BatchError::new(
                    format!("accel.{name}[{i}]"),
                    format!("{val} is not a finite reading within ±{limit} {:?}", a.unit),
                ));
            }
        }
        if self.gps.len() > MAX_BATCH_FIXES {
            return Err(BatchError::new(
                "gps",
                format!("{} fixes, more than the limit of {MAX_BATCH_FIXES}", self.gps.len()),
            ));
        }
        for (i, f) in self.gps.iter().enumerate() {
            check_fix(f).map_err(|(field, reason)| BatchError::new(format!("gps[{i}].{field}"), reason))?;
        }
        Ok(())
    }

    /// The batch's samples in m/s², with absolute times.
    #[must_use]
    pub fn samples(&self) -> Vec<AccelSample> {
        let a = &self.accel;
        let k = a.unit.to_mps2();
        (0..a.dt.len())
            .map(|i| AccelSample {
                t: a.t0 + a.dt[i],
                x: a.x[i] * k,
                y: a.y[i] * k,
                z: a.z[i] * k,
            })
            .collect()
    }

    /// Assembles a trip from its batches (any order; duplicates of a
    /// sequence number are ignored after the first).
    ///
    /// # Errors
    /// When `batches` is empty or they disagree on trip or device.
    pub fn assemble(mut batches: Vec<Self>) -> Result<Trip, BatchError> {
        batches.sort_by_key(|b| b.seq);
        batches.dedup_by_key(|b| b.seq);
        let first = batches
            .first()
            .ok_or_else(|| BatchError::new("batches", "no batch to assemble"))?;
        let (trip_id, device_id) = (first.trip_id.clone(), first.device_id.clone());
        let device = first.device.clone();
        let gravity_included = first.accel.gravity_included;
        let mut accel = Vec::new();
        let mut gps = Vec::new();
        for b in &batches {
            if b.trip_id != trip_id || b.device_id != device_id {
                return Err(BatchError::new(
                    format!("batch {}", b.seq),
                    format!(
                        "belongs to trip {} of device {}, not trip {trip_id} of device {device_id}",
                        b.trip_id, b.device_id
                    ),
                ));
            }
            accel.extend(b.samples());
            gps.extend_from_slice(&b.gps);
        }
        Ok(Trip {
            trip_id,
            device_id,
            device,
            frame: AccelFrame::Device,
            gravity_included: Some(gravity_included),
            accel,
            gps,
        })
    }
}

impl Trip {
    /// Splits the trip into upload batches of `batch_s` seconds each, as a
    /// phone would send them, with readings in `unit`. GPS fixes go with
    /// the batch whose time span holds them. The last batch is `final`.
    #[must_use]
    pub fn to_batches(&self, batch_s: f64, unit: AccelUnit) -> Vec<TripBatch> {
        let k = 1.0 / unit.to_mps2();
        let Some(first) = self.accel.first() else {
            return Vec::new();
        };
        let start = first.t;
        let mut out: Vec<TripBatch> = Vec::new();
        let mut gps = self.gps.iter().peekable();
        for chunk in self
            .accel
            .chunk_by(|a, b| ((a.t - start) / batch_s).floor() == ((b.t - start) / batch_s).floor())
        {
            let t0 = chunk[0].t;
            let end = chunk[chunk.len() - 1].t;
            let mut fixes = Vec::new();
            while let Some(f) = gps.peek() {
                if f.t <= end {
                    fixes.push(**f);
                    gps.next();
                } else {
                    break;
                }
            }
            out.push(TripBatch {
                schema: BATCH_SCHEMA.to_owned(),
                trip_id: self.trip_id.clone(),
                device_id: self.device_id.clone(),
                seq: u32::try_from(out.len()).unwrap_or(u32::MAX),
                is_final: false,
                device: self.device.clone(),
                accel: AccelBlock {
                    unit,
                    gravity_included: self.gravity_included.unwrap_or(true),
                    t0,
                    dt: chunk.iter().map(|a| a.t - t0).collect(),
                    x: chunk.iter().map(|a| a.x * k).collect(),
                    y: chunk.iter().map(|a| a.y * k).collect(),
                    z: chunk.iter().map(|a| a.z * k).collect(),
                },
                gps: fixes,
            });
        }
        if let Some(last) = out.last_mut() {
            last.gps.extend(gps.copied());
            last.is_final = true;
        }
        out
    }
}

fn check_fix(f: &GpsFix) -> Result<(), (&'static str, String)> {
    check_time(String::new, f.t).map_err(|e| ("t", e.reason))?;
    if !(f.lat.is_finite() && (-90.0..=90.0).contains(&f.lat)) {
        return Err(("lat", format!("{} is not a latitude in [-90, 90]", f.lat)));
    }
    if !(f.lon.is_finite() && (-180.0..=180.0).contains(&f.lon)) {
        return Err(("lon", format!("{} is not a longitude in [-180, 180]", f.lon)));
    }
    if let Some(s) = f.speed_mps
        && !(s.is_finite() && (0.0..=MAX_SPEED_MPS).contains(&s))
    {
        return Err(("speed_mps", format!("{s} is not a speed in [0, {MAX_SPEED_MPS}] m/s")));
    }
    if let Some(a) = f.accuracy_m
        && !(a.is_finite() && a >= 0.0)
    {
        return Err(("accuracy_m", format!("{a} is not a non-negative accuracy in metres")));
    }
    if let Some(h) = f.heading_deg
        && !(h.is_finite() && (0.0..=360.0).contains(&h))
    {
        return Err(("heading_deg", format!("{h} is not a heading in [0, 360] degrees")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_json() -> String {
        r#"{"schema":"streetbump.trip-batch/1","trip_id":"t1","device_id":"d1","seq":0,"final":true,
            "accel":{"unit":"g","gravity_included":true,"t0":1700000000.0,
                     "dt":[0.0,0.02,0.04],"x":[0,0,0],"y":[0,0,0],"z":[1,1.1,0.9]},
            "gps":[{"t":1700000000.0,"lat":42.35,"lon":-71.06,"speed_mps":8.0}]}"#
            .to_owned()
    }

    /// The content form is the batch's, not its text's: reformatted JSON
    /// gives the same bytes, and any change of a value, a missing optional
    /// or an array's split gives others.
    #[test]
    fn content_bytes_follow_the_batch_not_the_text() {
        let a = TripBatch::from_json(sample_json().as_bytes()).unwrap();
        let spaced = sample_json()
            .replace("\"z\":[1,1.1,0.9]", "\"z\" : [1.0, 1.10, 9e-1]")
            .replace("\"seq\":0", "\"seq\": 0");
        let b = TripBatch::from_json(spaced.as_bytes()).unwrap();
        assert_eq!(a.content_bytes(), b.content_bytes());
        let canonical = serde_json::to_vec(&a).unwrap();
        assert_eq!(
            TripBatch::from_json(&canonical).unwrap().content_bytes(),
            a.content_bytes()
        );
        for changed in [
            sample_json().replace("\"z\":[1,1.1,0.9]", "\"z\":[1,1.1,0.91]"),
            sample_json().replace("\"seq\":0", "\"seq\":1"),
            sample_json().replace("\"final\":true", "\"final\":false"),
            sample_json().replace("\"unit\":\"g\"", "\"unit\":\"m/s2\""),
            sample_json().replace(",\"speed_mps\":8.0", ""),
            sample_json().replace(",\"speed_mps\":8.0", ",\"speed_mps\":8.0,\"heading_deg\":0.0"),
            sample_json().replace("\"trip_id\":\"t1\"", "\"trip_id\":\"t2\""),
        ] {
            let c = TripBatch::from_json(changed.as_bytes()).unwrap();
            assert_ne!(c.content_bytes(), a.content_bytes(), "{changed}");
        }
    }

    #[test]
    fn parses_and_converts_units() {
        let b = TripBatch::from_json(sample_json().as_bytes()).unwrap();
        assert_eq!(b.len(), 3);
        let s = b.samples();
        assert!((s[1].z - 1.1 * STANDARD_GRAVITY).abs() < 1e-9);
        assert!((s[2].t - 1_700_000_000.04).abs() < 1e-6);
    }

    #[test]
    fn names_the_bad_field() {
        let bad = sample_json().replace("[0.0,0.02,0.04]", "[0.0,0.04,0.02]");
        let e = TripBatch::from_json(bad.as_bytes()).unwrap_err();
        assert_eq!(e.field, "accel.dt[2]");
        let bad = sample_json().replace("\"lat\":42.35", "\"lat\":142.35");
        assert_eq!(TripBatch::from_json(bad.as_bytes()).unwrap_err().field, "gps[0].lat");
        let bad = sample_json().replace("\"z\":[1,1.1,0.9]", "\"z\":[1,1.1]");
        assert_eq!(TripBatch::from_json(bad.as_bytes()).unwrap_err().field, "accel.z");
        let bad = sample_json().replace("\"z\":[1,1.1,0.9]", "\"z\":[1,17,0.9]");
        assert_eq!(TripBatch::from_json(bad.as_bytes()).unwrap_err().field, "accel.z[1]");
        let e = TripBatch::from_json(b"{\"schema\": ").unwrap_err();
        assert_eq!(e.field, "body");
        let bad = sample_json().replace("\"final\":true", "\"final\":true,\"extra\":1");
        assert_eq!(TripBatch::from_json(bad.as_bytes()).unwrap_err().field, "body");
    }

    #[test]
    fn assembles_out_of_order_and_duplicate_batches() {
        let mut a = TripBatch::from_json(sample_json().as_bytes()).unwrap();
        a.is_final = false;
        let mut b = a.clone();
        b.seq = 1;
        b.accel.t0 += 1.0;
        let t = TripBatch::assemble(vec![b.clone(), a.clone(), b]).unwrap();
        assert_eq!(t.accel.len(), 6);
        assert!(t.accel.windows(2).all(|w| w[0].t <= w[1].t));
        let mut other = a.clone();
        other.trip_id = TripId::new("t2").unwrap();
        other.seq = 5;
        assert!(TripBatch::assemble(vec![a, other]).is_err());
    }
}

#[cfg(test)]
mod prop_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Arbitrary bytes never panic the parser (the fuzz target does the
        // same at scale, see fuzz/).
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = TripBatch::from_json(&data);
        }

        // Splitting a trip into batches and assembling them back, in any
        // order, gives the same readings.
        #[test]
        fn batches_round_trip(n in 1usize..400, batch_s in 0.5f64..5.0, rot in 0usize..8) {
            let trip = Trip {
                trip_id: TripId::new("t").unwrap(),
                device_id: DeviceId::new("d").unwrap(),
                device: DeviceInfo::default(),
                frame: AccelFrame::Device,
                gravity_included: Some(true),
                accel: (0..n).map(|i| AccelSample { t: 1.7e9 + i as f64 * 0.05, x: 0.0, y: 1.0, z: (i % 100) as f64 }).collect(),
                gps: vec![],
            };
            let mut batches = trip.to_batches(batch_s, AccelUnit::MetersPerSecondSquared);
            prop_assert!(batches.last().unwrap().is_final);
            let k = rot % batches.len();
            batches.rotate_left(k);
            for b in &batches {
                prop_assert!(b.validate().is_ok());
            }
            let back = TripBatch::assemble(batches).unwrap();
            prop_assert_eq!(back.accel.len(), n);
            for (a, b) in back.accel.iter().zip(&trip.accel) {
                prop_assert!((a.t - b.t).abs() < 1e-6 && (a.z - b.z).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn schema_file_lists_every_field() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/schema/trip-batch.schema.json");
        let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let json = r#"{"schema":"streetbump.trip-batch/1","trip_id":"t","device_id":"d","seq":0,"final":true,
            "accel":{"unit":"g","gravity_included":true,"t0":1700000000.0,"dt":[0.0],"x":[0],"y":[0],"z":[1]},
            "gps":[{"t":1700000000.0,"lat":1.0,"lon":2.0,"speed_mps":1.0,"accuracy_m":3.0,"heading_deg":4.0}]}"#;
        let b = TripBatch::from_json(json.as_bytes()).unwrap();
        let v = serde_json::to_value(&b).unwrap();
        let props = &schema["properties"];
        for k in v.as_object().unwrap().keys() {
            assert!(props.get(k).is_some(), "schema lacks {k}");
        }
        for k in v["accel"].as_object().unwrap().keys() {
            assert!(props["accel"]["properties"].get(k).is_some(), "schema lacks accel.{k}");
        }
        for k in v["gps"][0].as_object().unwrap().keys() {
            assert!(
                props["gps"]["items"]["properties"].get(k).is_some(),
                "schema lacks gps.{k}"
            );
        }
        for k in schema["required"].as_array().unwrap() {
            assert!(v.get(k.as_str().unwrap()).is_some(), "batch lacks required {k}");
        }
    }
}
