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

/// Runs `bench` on a small simulated city over HTTP and returns its report.
fn serve_report(extra: &[&str]) -> serde_json::Value {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("serve.json");
    let mut args = vec![
        "bench",
        "--trips",
        "3",
        "--minutes",
        "2",
        "--rate-hz",
        "50",
        "--serve-only",
        "--clients",
        "3",
        "--batches-per-s",
        "100",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

/// Serve mode uploads every sample of the simulated trips, each batch
/// acknowledged once, and processes every trip; `--ingest-only` stores and
/// acknowledges the same uploads without processing them, and both
/// report the server's own CPU time.
#[test]
fn serve_mode_uploads_every_sample_and_ingest_only_processes_none() {
    for (extra, processed) in [(&[][..], true), (&["--ingest-only"][..], false)] {
        let r = serve_report(extra);
        let samples = r["input"]["samples"].as_u64().unwrap();
        let s = &r["serve"];
        assert_eq!(s["refused"], 0, "{r}");
        assert_eq!(s["samples_acknowledged"].as_u64(), Some(samples), "{r}");
        assert_eq!(s["ingest_only"], !processed, "{r}");
        let clustered = s["final_batch_to_clustered_ms"]["p50"].as_f64();
        assert_eq!(clustered.is_some_and(f64::is_finite), processed, "{r}");
        if cfg!(target_os = "linux") {
            assert!(s["server_cpu_s"].as_f64().unwrap() > 0.0, "{r}");
            assert!(s["samples_per_server_cpu_s"].as_f64().unwrap() > 0.0, "{r}");
        }
    }
}
