use std::path::Path;

use bump_pipeline::mapping::{MappingOverrides, preset};
use bump_pipeline::{PipelineConfig, TimeFormat};
use bump_replay::{ReadError, read_trips, replay, trip_files, write_recording};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A simulated city whose trips all sample at `rate_hz`.
fn simulation(seed: u64, minutes: f64, rate_hz: f64) -> bump_sim::Simulation {
    bump_sim::Simulation::new(bump_sim::SimParams {
        seed,
        trip_minutes: minutes,
        sample_rate_hz: Some(rate_hz),
        ..bump_sim::SimParams::default()
    })
    .unwrap()
}

const HEADER: &str = "t,ax,ay,az,lat,lon,speed_mps,accuracy_m,heading_deg\n";

fn rows(n: usize, t0: f64) -> String {
    (0..n)
        .map(|i| {
            let t = t0 + i as f64 * 0.02;
            let lat = 42.35 + (i / 50) as f64 * 1e-4;
            format!("{t},0.1,0.2,9.8,{lat},-71.06,11.1,5,0\n")
        })
        .collect()
}

#[test]
fn bad_rows_are_dropped_and_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(HEADER);
    text.push_str(&rows(200, 1_700_000_000.0));
    text.push_str("1700000004.1,NaN,0.2,9.8,42.36,-71.06,11,5,0\n");
    text.push_str("1700000004.2,abc,0.2,9.8,42.36,-71.06,11,5,0\n");
    text.push_str("not-a-time,0.1,0.2,9.8,42.36,-71.06,11,5,0\n");
    text.push_str("1700000004.3,0.1,0.2,9.8,42.36,-71.06,11,5,0\n");
    let p = write(dir.path(), "t1.csv", &text);
    let trips = read_trips(&p, &preset("streetbump").unwrap()).unwrap();
    assert_eq!(trips.len(), 1);
    let r = &trips[0].report;
    assert_eq!(r.rows, 204);
    assert_eq!(r.dropped.get("missing_accel"), Some(&1), "{r:?}");
    assert_eq!(r.dropped.get("bad_time"), Some(&1), "{r:?}");
    // NaN parses as a float and is dropped later by preprocessing.
    assert_eq!(trips[0].trip.accel.len(), 202);
    assert_eq!(trips[0].trip.trip_id.as_str(), "t1");
}

#[test]
fn missing_column_names_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "x.csv", "time,a,b\n1,2,3\n");
    let err = read_trips(&p, &preset("streetbump").unwrap()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ReadError::MissingColumn { .. }), "{msg}");
    assert!(
        msg.contains("x.csv") && msg.contains("\"t\"") && msg.contains("time, a, b"),
        "{msg}"
    );
}

#[test]
fn empty_truncated_and_binary_files_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let m = preset("streetbump").unwrap();
    for (name, body) in [
        ("empty.csv", &b""[..]),
        ("header.csv", HEADER.as_bytes()),
        ("trunc.csv", &b"t,ax,ay,az,lat,lon\n1700000000,0.1,0.2"[..]),
        ("bin.csv", &[0u8, 159, 146, 150, 255, 10, 1, 2][..]),
        ("bad.parquet", &b"PAR1 not really"[..]),
        ("bad.json", &b"{\"schema\": 3"[..]),
        ("bad.jsonl", &b"{}\n{\"schema\":\"streetbump.trip-batch/1\"}\n"[..]),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        // Either a clear error naming the file, or trips without panicking.
        if let Err(e) = read_trips(&p, &m) {
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
    }
    // The replay goes on past them and reports each.
    let files = trip_files(dir.path()).unwrap();
    let bump_replay::Replayed { summary, .. } = replay(&files, &m, &PipelineConfig::default(), &mut ());
    assert!(summary.failures.len() >= 4, "{:?}", summary.failures);
}

#[test]
fn lublin_style_time_and_custom_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("Time,X,Y,Z,Lat,Lon,Kmh\n");
    for i in 0..300 {
        let ms = (i % 10) * 100;
        // Trailing zeros of the fraction dropped, as the Lublin logger does.
        let frac = format!("{ms:03}").trim_end_matches('0').to_owned();
        text.push_str(&format!(
            "\"2015-01-24 09:29:{:02},{frac}\",0,0,-1,{},22.54,36\n",
            i / 10,
            51.27 + f64::from(i / 10) * 1e-4
        ));
    }
    let p = write(dir.path(), "2015-01-24 09-31-21.csv", &text);
    let m = MappingOverrides {
        time: Some("Time".into()),
        time_format: Some("%Y-%m-%d %H:%M:%S,%f".parse::<TimeFormat>().unwrap()),
        lat: Some("Lat".into()),
        lon: Some("Lon".into()),
        speed: Some("Kmh".into()),
        speed_unit: Some(bump_pipeline::mapping::SpeedUnit::KilometersPerHour),
        accuracy: Some(String::new()),
        heading: Some(String::new()),
        accel: Some(["X".into(), "Y".into(), "Z".into()]),
        accel_unit: Some(bump_core::AccelUnit::G),
        ..MappingOverrides::default()
    }
    .resolve()
    .unwrap();
    let trips = read_trips(&p, &m).unwrap();
    let t = &trips[0].trip;
    assert_eq!(t.accel.len(), 300);
    assert!((t.accel[1].t - t.accel[0].t - 0.1).abs() < 1e-6);
    assert!((t.accel[0].z + 9.80665).abs() < 1e-9, "g converted to m/s²");
    assert!(
        (t.gps[0].speed_mps.unwrap() - 10.0).abs() < 1e-9,
        "km/h converted to m/s"
    );
    assert_eq!(t.gps.len(), 30, "a fix only where the position changes");
}

#[test]
fn csv_parquet_and_json_give_the_same_bumps() {
    let sim = simulation(5, 3.0, 100.0);
    let dir = tempfile::tempdir().unwrap();
    let st = sim.trip(2);
    write_recording(
        &dir.path().join("rec"),
        &st.trip,
        true,
        Some(bump_replay::ParquetCodec::default()),
    )
    .unwrap();
    let jdir = dir.path().join("json");
    std::fs::create_dir_all(&jdir).unwrap();
    let lines: Vec<String> = st
        .trip
        .to_batches(30.0, bump_core::AccelUnit::MetersPerSecondSquared)
        .iter()
        .map(|b| serde_json::to_string(b).unwrap())
        .collect();
    std::fs::write(jdir.join("trip.jsonl"), lines.join("\n")).unwrap();
    let m = preset("streetbump").unwrap();
    let cfg = PipelineConfig::default();
    let run = |p: &Path| {
        let bump_replay::Replayed {
            bumps: b, summary: s, ..
        } = replay(&[p.to_path_buf()], &m, &cfg, &mut ());
        assert!(s.failures.is_empty(), "{:?}", s.failures);
        b
    };
    let csv = run(&dir.path().join("rec/trip-00003.csv"));
    let pq = run(&dir.path().join("rec/trip-00003.parquet"));
    let js = run(&jdir.join("trip.jsonl"));
    // Serialised, since bands above Nyquist are NaN (never equal).
    assert_eq!(
        serde_json::to_string(&csv).unwrap(),
        serde_json::to_string(&pq).unwrap()
    );
    // JSON keeps GPS fix times exactly; a recording moves each fix to the
    // next accelerometer row. The same events are found at the same times.
    assert_eq!(csv.len(), js.len());
    for (a, b) in csv.iter().zip(&js) {
        assert!((a.t - b.t).abs() < 1e-6);
        assert_eq!(a.bump_id, b.bump_id);
    }
}

#[test]
fn output_does_not_depend_on_the_number_of_workers() {
    let files = trip_files(&bump_fixtures::fixture("city/recordings")).unwrap();
    let m = preset("streetbump").unwrap();
    let run = |workers| {
        let mut cfg = PipelineConfig::default();
        cfg.replay.workers = workers;
        let bump_replay::Replayed {
            bumps: b, summary: s, ..
        } = replay(&files, &m, &cfg, &mut ());
        assert!(!b.is_empty());
        // Serialised, since bands above Nyquist are NaN (never equal).
        (serde_json::to_string(&b).unwrap(), serde_json::to_string(&s).unwrap())
    };
    let (b1, s1) = run(1);
    let (b3, s3) = run(3);
    assert_eq!(b1, b3);
    assert_eq!(s1, s3);
}

/// Support jolts are not bumps: the bump table leaves them out, the
/// summary counts them apart, and with them off the bumps are the same.
#[test]
fn support_jolts_stay_out_of_the_bumps() {
    let files = trip_files(&bump_fixtures::fixture("city/recordings")).unwrap();
    let m = preset("streetbump").unwrap();
    let run = |support_ratio: f64| {
        let mut cfg = PipelineConfig::default();
        cfg.detect.support_ratio = support_ratio;
        replay(&files, &m, &cfg, &mut ())
    };
    let (on, off) = (run(0.6), run(0.0));
    assert!(on.summary.support_jolts > 0);
    assert_eq!(off.summary.support_jolts, 0);
    assert!(on.bumps.iter().all(|b| !b.is_support()));
    assert_eq!(on.summary.bumps, on.bumps.len());
    assert_eq!(
        serde_json::to_string(&on.bumps).unwrap(),
        serde_json::to_string(&off.bumps).unwrap()
    );
    let per_trip: usize = on.summary.per_trip.iter().map(|t| t.bumps).sum();
    assert_eq!(per_trip, on.bumps.len());
    // They make no cluster: the clusters are those of the bumps.
    let ids = |r: &bump_replay::Replayed| {
        r.clusters
            .iter()
            .map(|c| c.cluster_id.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(ids(&on), ids(&off));
}

/// A file holding several trips, named by a column: rows go to their trip
/// even when trips interleave, trips keep the order they first appear in,
/// and the device column names each trip's device.
#[test]
fn a_trip_column_splits_a_file_into_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("trip,phone,t,ax,ay,az,lat,lon,speed_mps,accuracy_m,heading_deg\n");
    let row =
        |trip: &str, phone: &str, t: f64, lat: f64| format!("{trip},{phone},{t},0.1,0.2,9.8,{lat},-71.06,10,5,0\n");
    for i in 0..10 {
        text.push_str(&row(
            "beta",
            "p2",
            100.0 + f64::from(i) * 0.1,
            42.35 + f64::from(i) * 1e-5,
        ));
    }
    for i in 0..5 {
        text.push_str(&row("alpha", "p1", 200.0 + f64::from(i) * 0.1, 42.36));
    }
    text.push_str(&row("beta", "p2", 101.0, 42.3501));
    let p = write(dir.path(), "fleet.csv", &text);
    let m = MappingOverrides {
        trip_id: Some("trip".into()),
        device_id: Some("phone".into()),
        ..MappingOverrides::default()
    }
    .resolve()
    .unwrap();
    let trips = read_trips(&p, &m).unwrap();
    let ids: Vec<&str> = trips.iter().map(|t| t.trip.trip_id.as_str()).collect();
    assert_eq!(ids, ["beta", "alpha"]);
    assert_eq!(trips[0].trip.accel.len(), 11);
    assert_eq!(trips[0].report.rows, 11);
    assert_eq!(trips[1].trip.accel.len(), 5);
    assert_eq!(trips[0].trip.device_id.as_str(), "p2");
    assert_eq!(trips[1].trip.device_id.as_str(), "p1");
    assert!((trips[0].trip.accel[10].t - 101.0).abs() < 1e-9);
    // The last row of beta returns to a new position: a fix of its own.
    assert_eq!(trips[0].trip.gps.len(), 11);

    // A trip id that is not a valid id names its row.
    text.push_str(&row("no/slashes", "p3", 300.0, 42.37));
    let p = write(dir.path(), "bad.csv", &text);
    let err = read_trips(&p, &m).unwrap_err();
    assert!(matches!(err, ReadError::Row { row: 17, .. }), "{err}");
}

/// Parquet recordings read back the same whatever their codec, and a
/// mapped column that is missing is reported with every column the file
/// has, not only those the mapping asked for.
#[test]
fn parquet_codecs_read_the_same_and_missing_columns_are_listed() {
    let sim = simulation(8, 1.0, 50.0);
    let st = sim.trip(0);
    let dir = tempfile::tempdir().unwrap();
    let m = preset("streetbump").unwrap();
    let mut read = Vec::new();
    for (i, codec) in [
        bump_replay::ParquetCodec::Zstd,
        bump_replay::ParquetCodec::Snappy,
        bump_replay::ParquetCodec::Lz4,
        bump_replay::ParquetCodec::Uncompressed,
    ]
    .into_iter()
    .enumerate()
    {
        let sub = dir.path().join(i.to_string());
        write_recording(&sub, &st.trip, false, Some(codec)).unwrap();
        let p = sub.join(format!("{}.parquet", st.trip.trip_id));
        let trips = read_trips(&p, &m).unwrap();
        assert_eq!(trips.len(), 1);
        read.push(serde_json::to_string(&(&trips[0].trip.accel, &trips[0].trip.gps)).unwrap());
    }
    assert!(read.windows(2).all(|w| w[0] == w[1]), "every codec reads the same");
    let accel = serde_json::to_string(&st.trip.accel).unwrap();
    assert!(read[0].starts_with(&format!("[{accel},")), "the samples as written");

    let m = MappingOverrides {
        speed: Some("speed_kmh".into()),
        ..MappingOverrides::default()
    }
    .resolve()
    .unwrap();
    let p = dir.path().join("0").join(format!("{}.parquet", st.trip.trip_id));
    let err = read_trips(&p, &m).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ReadError::MissingColumn { .. }), "{msg}");
    assert!(
        msg.contains("\"speed_kmh\"") && msg.contains("accuracy_m, heading_deg"),
        "{msg}"
    );
}
