use crate::run;

/// `bench --core` times the detector over every preprocessed segment of
/// the fixture city's trips; whatever the number of threads, the same
/// segments give the same events, and the figures land in the JSON report.
#[test]
fn core_mode_runs_the_detector_over_every_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("core.json");
    let trips = bump_fixtures::fixture("city/trips");
    let o = run(&[
        "bench",
        "--core",
        trips.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(report["input"]["files"], 6);
    let samples = report["input"]["samples"].as_u64().unwrap();
    assert!(samples > 10_000, "{report}");
    let rows = report["core"].as_array().unwrap();
    assert_eq!(rows[0]["threads"], 1);
    let events = rows[0]["events"].as_u64().unwrap();
    assert!(events > 0, "the fixture city has defects: {report}");
    for r in rows {
        assert_eq!(r["events"].as_u64(), Some(events), "{report}");
        assert!(r["samples_per_s"].as_f64().unwrap() > 0.0);
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("M samples/s"), "{stdout}");
}

/// A folder with nothing to read is an error that names it, not an empty
/// report.
#[test]
fn core_mode_refuses_a_folder_without_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(&["bench", "--core", tmp.path().to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no preprocessed signal under"), "{err}");
}
