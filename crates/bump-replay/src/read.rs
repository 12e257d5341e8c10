/*!
Reading recorded trips: CSV and Parquet through polars and a
[`ColumnMapping`], and canonical JSON batches.

Mapped numeric columns are forced to `Float64` so a column that starts
with whole numbers (`1490542045`) and later has fractions is not
mis-typed; values that do not parse become nulls, and rows with nulls in
the accelerometer or time columns are dropped and counted, never fatal.
A file is refused as a whole only when it is unreadable or lacks a mapped
column, and then the error names the file, and the row where it can.
*/

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bump_core::{AccelFrame, DeviceId, GpsFix, Trip, TripBatch, TripId};
use bump_pipeline::mapping::{ColumnMapping, Frame, Gravity};
use polars::prelude::*;
use serde::Serialize;

/// Why a trip file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The table is malformed (polars' message names the row or column).
    #[error("{path}: malformed table: {reason}")]
    Table {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A mapped column is absent.
    #[error("{path}: no column {column:?} (mapped as {role}); the file has: {available}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column name.
        column: String,
        /// What it was mapped as.
        role: &'static str,
        /// The columns present.
        available: String,
    },
    /// A value could not be read.
    #[error("{path}: row {row}: {reason}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based data row (the header is row 0).
        row: usize,
        /// What is wrong.
        reason: String,
    },
    /// The file's extension says nothing we read.
    #[error("{path}: unknown format; expected .csv, .parquet, .json or .jsonl")]
    Format {
        /// The file.
        path: PathBuf,
    },
}

/// What reading one trip dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReadReport {
    /// The file.
    pub path: String,
    /// Data rows read.
    pub rows: usize,
    /// Rows without usable accelerometer values, by reason.
    pub dropped: BTreeMap<&'static str, usize>,
    /// The first dropped row and why, to point at the problem.
    pub first_problem: Option<String>,
}

/// A trip as read, with what reading dropped.
#[derive(Debug, Clone)]
pub struct ReadTrip {
    /// The trip.
    pub trip: Trip,
    /// What was dropped.
    pub report: ReadReport,
}

/// The files a replay reads under `path`: the file itself, or every
/// `.csv`, `.parquet`, `.json`, `.jsonl` below a folder, sorted by path so
/// output order never depends on the file system.
///
/// # Errors
/// [`ReadError::Io`] when `path` or a folder under it cannot be listed.
pub fn trip_files(path: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let io = |p: &Path, e: std::io::Error| ReadError::Io {
        path: p.to_path_buf(),
        reason: e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let p = entry.map_err(|e| io(&dir, e))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(ext(&p).as_str(), "csv" | "parquet" | "json" | "jsonl") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn ext(p: &Path) -> String {
    p.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Reads the trips of one file.
///
/// # Errors
/// [`ReadError`] when the file as a whole cannot be used.
pub fn read_trips(path: &Path, mapping: &ColumnMapping) -> Result<Vec<ReadTrip>, ReadError> {
    match ext(path).as_str() {
        "csv" | "parquet" => read_table(path, mapping),
        "json" | "jsonl" => read_batches(path),
        _ => Err(ReadError::Format {
            path: path.to_path_buf(),
        }),
    }
}

pub(crate) fn table_error(path: &Path, e: &PolarsError) -> ReadError {
    ReadError::Table {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Parquet files above this size are decoded in parallel by polars.
const LARGE_PARQUET_BYTES: u64 = 64 << 20;

fn load_frame(path: &Path, mapping: &ColumnMapping) -> Result<DataFrame, ReadError> {
    if ext(path) == "parquet" {
        let file = std::fs::File::open(path).map_err(|e| ReadError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        // A trip's file is decoded on the calling thread: the replay already
        // reads one file per core, and polars' pool on top only adds
        // hand-offs. A large file (a fleet's day in one table) is decoded
        // by the pool, column by column or row group by row group.
        let large = file.metadata().is_ok_and(|m| m.len() > LARGE_PARQUET_BYTES);
        let mut reader = ParquetReader::new(file).read_parallel(if large {
            ParallelStrategy::Auto
        } else {
            ParallelStrategy::None
        });
        // Decode only the mapped columns; when one is missing, read them all
        // so the error can list what the file has.
        let schema = reader.schema().map_err(|e| table_error(path, &e))?;
        let wanted = mapping.columns();
        if wanted.iter().all(|c| schema.contains(c.as_str())) {
            reader = reader.with_columns(Some(wanted));
        }
        return reader.finish().map_err(|e| table_error(path, &e));
    }
    // Force mapped numeric columns to f64 (see the module docs).
    let mut numeric: Vec<&str> = vec![mapping.lat.as_str(), mapping.lon.as_str()];
    numeric.extend(mapping.accel.iter().map(String::as_str));
    numeric.extend(
        [&mapping.speed, &mapping.accuracy, &mapping.heading]
            .into_iter()
            .flatten()
            .map(String::as_str),
    );
    let time_dtype = if mapping.time_format.epoch_scale().is_some() {
        DataType::Float64
    } else {
        DataType::String
    };
    let mut fields: Vec<Field> = numeric
        .iter()
        .map(|c| Field::new((*c).into(), DataType::Float64))
        .collect();
    fields.push(Field::new(mapping.time.as_str().into(), time_dtype));
    for c in [&mapping.trip_id, &mapping.device_id].into_iter().flatten() {
        fields.push(Field::new(c.as_str().into(), DataType::String));
    }
    let schema = Schema::from_iter(fields);
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(1000))
        .with_ignore_errors(true)
        .with_schema_overwrite(Some(Arc::new(schema)))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .map_err(|e| table_error(path, &e))?
        .finish()
        .map_err(|e| table_error(path, &e))
}

fn column<'a>(df: &'a DataFrame, path: &Path, name: &str, role: &'static str) -> Result<&'a Column, ReadError> {
    df.column(name).map_err(|_| ReadError::MissingColumn {
        path: path.to_path_buf(),
        column: name.to_owned(),
        role,
        available: df
            .get_column_names()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// A column as `f64` values (unparseable ones are `None`).
///
/// # Errors
/// [`ReadError::MissingColumn`] naming the columns present.
pub(crate) fn f64_column(
    df: &DataFrame,
    path: &Path,
    name: &str,
    role: &'static str,
) -> Result<Vec<Option<f64>>, ReadError> {
    let v = f64_values(df, path, name, role)?;
    Ok((0..v.values.len()).map(|i| v.get(i)).collect())
}

/// A column as text values.
///
/// # Errors
/// [`ReadError::MissingColumn`] naming the columns present.
pub(crate) fn str_column(
    df: &DataFrame,
    path: &Path,
    name: &str,
    role: &'static str,
) -> Result<Vec<Option<String>>, ReadError> {
    let cast = column(df, path, name, role)?
        .cast(&DataType::String)
        .map_err(|e| table_error(path, &e))?;
    let ca = cast.str().map_err(|e| table_error(path, &e))?;
    Ok(ca.iter().map(|v| v.map(str::to_owned)).collect())
}

/// A numeric column as one contiguous slice of values plus, only when
/// some are null, which are present: read without a branchy iterator per
/// value, since the replay reads tens of millions of them. A `Float64`
/// column in one chunk (a Parquet column of a small file) is borrowed, not
/// copied.
struct F64Values<'a> {
    values: std::borrow::Cow<'a, [f64]>,
    present: Option<Vec<bool>>,
}

impl F64Values<'_> {
    #[inline(always)]
    fn get(&self, i: usize) -> Option<f64> {
        match &self.present {
            Some(p) if !p[i] => None,
            _ => Some(self.values[i]),
        }
    }
}

/// A column as `f64` values (unparseable ones are null).
///
/// # Errors
/// [`ReadError::MissingColumn`] naming the columns present.
fn f64_values<'a>(df: &'a DataFrame, path: &Path, name: &str, role: &'static str) -> Result<F64Values<'a>, ReadError> {
    let col = column(df, path, name, role)?;
    if let Ok(ca) = col.f64()
        && let Ok(slice) = ca.cont_slice()
    {
        return Ok(F64Values {
            values: std::borrow::Cow::Borrowed(slice),
            present: None,
        });
    }
    let cast = col.cast(&DataType::Float64).map_err(|e| table_error(path, &e))?;
    let ca = cast.f64().map_err(|e| table_error(path, &e))?;
    let mut values = Vec::with_capacity(ca.len());
    let mut present = (ca.null_count() > 0).then(|| Vec::with_capacity(ca.len()));
    for arr in ca.downcast_iter() {
        values.extend_from_slice(arr.values().as_slice());
        if let Some(p) = &mut present {
            match arr.validity() {
                Some(bits) => p.extend(bits.iter()),
                None => p.extend(std::iter::repeat_n(true, arr.len())),
            }
        }
    }
    Ok(F64Values {
        values: std::borrow::Cow::Owned(values),
        present,
    })
}

/// A trip being read: the trip, its report, the last position seen.
type Partial = (Trip, ReadReport, Option<(f64, f64)>);

fn read_table(path: &Path, m: &ColumnMapping) -> Result<Vec<ReadTrip>, ReadError> {
    let df = load_frame(path, m)?;
    let n = df.height();
    let mut bad_times: Vec<(usize, String)> = Vec::new();
    let times: F64Values<'_> = match m.time_format.epoch_scale() {
        Some(scale) => {
            let mut c = f64_values(&df, path, &m.time, "time")?;
            if scale != 1.0 {
                c.values.to_mut().iter_mut().for_each(|x| *x *= scale);
            }
            c
        }
        None => {
            let offset = f64::from(m.utc_offset_min) * 60.0;
            let mut values = Vec::with_capacity(n);
            let mut present = Vec::with_capacity(n);
            for (i, v) in str_column(&df, path, &m.time, "time")?.into_iter().enumerate() {
                let t = match v.map(|s| m.time_format.parse_datetime(&s)) {
                    None => None,
                    Some(Ok(t)) => Some(t - offset),
                    Some(Err(e)) => {
                        // Dropped with the row; the first one is reported.
                        bad_times.push((i + 1, e.to_string()));
                        None
                    }
                };
                values.push(t.unwrap_or(f64::NAN));
                present.push(t.is_some());
            }
            F64Values {
                values: std::borrow::Cow::Owned(values),
                present: Some(present),
            }
        }
    };
    let k = m.accel_unit.to_mps2();
    let ax = f64_values(&df, path, &m.accel[0], "accel x")?;
    let ay = f64_values(&df, path, &m.accel[1], "accel y")?;
    let az = f64_values(&df, path, &m.accel[2], "accel z")?;
    let lat = f64_values(&df, path, &m.lat, "latitude")?;
    let lon = f64_values(&df, path, &m.lon, "longitude")?;
    let opt_col = |c: &Option<String>, role| c.as_ref().map(|c| f64_values(&df, path, c, role)).transpose();
    let speed = opt_col(&m.speed, "speed")?;
    let acc = opt_col(&m.accuracy, "accuracy")?;
    let heading = opt_col(&m.heading, "heading")?;
    let trip_col = m
        .trip_id
        .as_ref()
        .map(|c| str_column(&df, path, c, "trip id"))
        .transpose()?;
    let dev_col = m
        .device_id
        .as_ref()
        .map(|c| str_column(&df, path, c, "device id"))
        .transpose()?;

    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("trip");
    let default_trip = TripId::from_file_stem(stem);
    let frame = match m.frame {
        Frame::Device => AccelFrame::Device,
        Frame::Earth => AccelFrame::Earth {
            vertical: m.vertical_axis,
            up_positive: m.up_positive,
        },
    };
    let gravity_included = match m.gravity {
        Gravity::Auto => None,
        Gravity::Included => Some(true),
        Gravity::Removed => Some(false),
    };
    // Trips in first-seen order; rows of one trip usually come together, so
    // the trip of the previous row is tried before the map.
    let mut trips: Vec<Partial> = Vec::new();
    let mut by_id: BTreeMap<TripId, usize> = BTreeMap::new();
    let mut current: Option<(Option<&str>, usize)> = None;
    let speed_k = m.speed_unit.to_mps();
    for i in 0..n {
        let raw = trip_col.as_ref().and_then(|c| c[i].as_deref());
        let slot = match current {
            Some((id, slot)) if id == raw => slot,
            _ => {
                let trip_id = match raw.map(TripId::new) {
                    Some(Ok(id)) => id,
                    Some(Err(e)) => {
                        return Err(ReadError::Row {
                            path: path.to_path_buf(),
                            row: i + 1,
                            reason: e.to_string(),
                        });
                    }
                    None => default_trip.clone(),
                };
                let slot = *by_id.entry(trip_id.clone()).or_insert_with(|| {
                    let device_id = dev_col
                        .as_ref()
                        .and_then(|c| c[i].as_deref())
                        .and_then(|d| DeviceId::new(d).ok())
                        .unwrap_or_else(|| DeviceId::new(trip_id.as_str()).unwrap_or_else(|_| unreachable_device()));
                    // A file holding one trip: its rows are its samples.
                    let capacity = if trip_col.is_none() { n } else { 0 };
                    trips.push((
                        Trip {
                            trip_id: trip_id.clone(),
                            device_id,
                            device: bump_core::DeviceInfo::default(),
                            frame,
                            gravity_included,
                            accel: Vec::with_capacity(capacity),
                            gps: Vec::new(),
                        },
                        ReadReport {
                            path: path.display().to_string(),
                            ..ReadReport::default()
                        },
                        None,
                    ));
                    trips.len() - 1
                });
                current = Some((raw, slot));
                slot
            }
        };
        let (trip, rep, last_pos) = &mut trips[slot];
        rep.rows += 1;
        let Some(t) = times.get(i).filter(|t| t.is_finite()) else {
            *rep.dropped.entry("bad_time").or_default() += 1;
            if rep.first_problem.is_none() {
                let why = bad_times
                    .iter()
                    .find(|(r, _)| *r == i + 1)
                    .map_or("missing or unreadable time", |(_, e)| e.as_str());
                rep.first_problem = Some(format!("row {}: {why}", i + 1));
            }
            continue;
        };
        match (ax.get(i), ay.get(i), az.get(i)) {
            (Some(x), Some(y), Some(z)) => trip.accel.push(bump_core::AccelSample {
                t,
                x: x * k,
                y: y * k,
                z: z * k,
            }),
            _ => {
                *rep.dropped.entry("missing_accel").or_default() += 1;
                if rep.first_problem.is_none() {
                    rep.first_problem = Some(format!("row {}: missing or unreadable accelerometer value", i + 1));
                }
            }
        }
        // Loggers repeat the last fix on every row: a fix is a row whose
        // position differs from the previous one.
        if let (Some(la), Some(lo)) = (lat.get(i), lon.get(i))
            && *last_pos != Some((la, lo))
        {
            *last_pos = Some((la, lo));
            trip.gps.push(GpsFix {
                t,
                lat: la,
                lon: lo,
                speed_mps: speed.as_ref().and_then(|c| c.get(i)).map(|s| s * speed_k),
                // Some loggers write 0 for "unknown accuracy".
                accuracy_m: acc.as_ref().and_then(|c| c.get(i)).filter(|a| *a > 0.0),
                heading_deg: heading.as_ref().and_then(|c| c.get(i)),
            });
        }
    }
    Ok(trips
        .into_iter()
        .map(|(trip, report, _)| ReadTrip { trip, report })
        .collect())
}

fn unreachable_device() -> DeviceId {
    // Trip ids satisfy the device id rules too; this is never reached.
    DeviceId::new("unknown").unwrap_or_else(|_| unreachable!("a literal valid id"))
}

fn read_batches(path: &Path) -> Result<Vec<ReadTrip>, ReadError> {
    let bytes = std::fs::read(path).map_err(|e| ReadError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut batches = Vec::new();
    let row_err = |row, e: bump_core::BatchError| ReadError::Row {
        path: path.to_path_buf(),
        row,
        reason: e.to_string(),
    };
    if ext(path) == "jsonl" {
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            batches.push(TripBatch::from_json(line).map_err(|e| row_err(i + 1, e))?);
        }
    } else {
        let trimmed = bytes.iter().position(|b| !b.is_ascii_whitespace());
        if trimmed.is_some_and(|p| bytes[p] == b'[') {
            let values: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|e| ReadError::Table {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
            for (i, v) in values.into_iter().enumerate() {
                let b: TripBatch = serde_json::from_value(v).map_err(|e| {
                    row_err(
                        i + 1,
                        bump_core::BatchError {
                            field: "body".into(),
                            reason: e.to_string(),
                        },
                    )
                })?;
                b.validate().map_err(|e| row_err(i + 1, e))?;
                batches.push(b);
            }
        } else {
            batches.push(TripBatch::from_json(&bytes).map_err(|e| row_err(1, e))?);
        }
    }
    let mut by_trip: BTreeMap<TripId, Vec<TripBatch>> = BTreeMap::new();
    for b in batches {
        by_trip.entry(b.trip_id.clone()).or_default().push(b);
    }
    by_trip
        .into_values()
        .map(|bs| {
            let rows = bs.len();
            let trip = TripBatch::assemble(bs).map_err(|e| row_err(0, e))?;
            Ok(ReadTrip {
                trip,
                report: ReadReport {
                    path: path.display().to_string(),
                    rows,
                    ..ReadReport::default()
                },
            })
        })
        .collect()
}
