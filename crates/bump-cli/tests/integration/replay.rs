use std::path::Path;

use crate::run;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn replays_the_fixtures_deterministically() {
    let recordings = bump_fixtures::fixture("city/recordings");
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for out in [&a, &b] {
        let o = run(&["replay", s(&recordings), "--out", s(out)]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("trips     6 from 6 files"), "{stdout}");
        assert!(stdout.contains("samples/s"), "{stdout}");
    }
    for f in [
        "bumps.csv",
        "bumps.parquet",
        "clusters.csv",
        "clusters.parquet",
        "summary.json",
    ] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let csv = std::fs::read_to_string(a.join("bumps.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    for col in ["trip_id", "t", "lat", "lon", "speed_mps", "score"] {
        assert!(header.split(',').any(|c| c == col), "{col} missing from {header}");
    }
    assert!(csv.lines().count() > 1, "the fixture trips contain bumps");
}

#[test]
fn json_batches_replay_too_and_eval_scores_them() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(&[
        "replay",
        s(&bump_fixtures::fixture("city/trips")),
        "--out",
        s(tmp.path()),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&[
        "eval",
        "--truth",
        s(&bump_fixtures::fixture("city")),
        "--results",
        s(tmp.path()),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("rule:") && out.contains("precision") && out.contains("pothole"),
        "{out}"
    );
    let ev: serde_json::Value = serde_json::from_slice(&std::fs::read(tmp.path().join("eval.json")).unwrap()).unwrap();
    assert!(ev["true_positives"].as_u64().unwrap() >= 1, "{ev}");
    // The replay wrote clusters, so the evaluation scores them too.
    assert!(ev["clusters"]["likely"].is_u64(), "{ev}");
    // The pothole target, split between detection and clustering.
    let p = &ev["clusters"]["potholes"];
    let n = |k: &str| p[k].as_u64().unwrap_or_else(|| panic!("{k} in {p}"));
    assert!(
        n("felt") <= n("passed") && n("found_felt") <= n("felt").min(n("found")),
        "{p}"
    );
    assert_eq!(n("felt_min_trips"), 3, "{p}");
}

#[test]
fn a_bad_file_is_reported_and_the_rest_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(
        bump_fixtures::fixture("city/recordings/trip-00001.csv"),
        input.join("good.csv"),
    )
    .unwrap();
    std::fs::write(input.join("broken.csv"), "when,what\n1,2\n").unwrap();
    let out = tmp.path().join("out");
    let o = run(&["replay", s(&input), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(1), "non-zero at the end");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("broken.csv") && err.contains("no column"), "{err}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("trips     1 from 2 files"), "{stdout}");
    assert!(out.join("bumps.csv").is_file());
}

#[test]
fn usage_and_config_errors_exit_2_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("p.toml");
    std::fs::write(&cfg, "[detect]\nhighpass_hz = -1\nk_sigm = 3\n").unwrap();
    let o = run(&["replay", "nowhere", "--config", s(&cfg)]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("p.toml") && err.contains("k_sigm"), "{err}");
    let o = run(&["replay", "x.csv", "--preset", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown preset"));
    let o = run(&["replay", "missing-file.csv", "--out", s(&tmp.path().join("o"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing-file.csv"));
}

#[test]
fn clusters_are_labelled_with_the_inventory() {
    let tmp = tempfile::tempdir().unwrap();
    let inv = bump_fixtures::fixture("city/city/inventory.geojson");
    let o = run(&[
        "replay",
        s(&bump_fixtures::fixture("city/recordings")),
        "--inventory",
        s(&inv),
        "--out",
        s(tmp.path()),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(tmp.path().join("clusters.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    for col in [
        "cluster_id",
        "status",
        "confidence",
        "passes",
        "known_kind",
        "known_distance_m",
    ] {
        assert!(header.split(',').any(|c| c == col), "{col} missing from {header}");
    }
    let gj: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("clusters.geojson")).unwrap()).unwrap();
    let n = csv.lines().count() - 1;
    assert_eq!(gj["features"].as_array().unwrap().len(), n);
    // Without a model, clusters away from known obstacles are "unknown".
    for f in gj["features"].as_array().unwrap() {
        let class = f["properties"]["class"].as_str().unwrap();
        let known = !f["properties"]["known_obstacle"].is_null();
        assert!(known || class == "unknown", "{f}");
    }
    // A malformed inventory is a configuration error naming the file.
    let bad = tmp.path().join("inv.geojson");
    std::fs::write(&bad, r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[200,1]},"properties":{"kind":"x"}}]}"#).unwrap();
    let o = run(&[
        "replay",
        s(&bump_fixtures::fixture("city/recordings")),
        "--inventory",
        s(&bad),
        "--out",
        s(&tmp.path().join("o2")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("inv.geojson") && err.contains("out of range"), "{err}");
}

/// Survey-style truth (points per trip): the source's rule, and the false
/// positives that sit on a point another trip labelled.
#[test]
fn eval_scores_survey_points_and_counts_labels_of_other_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    crate::run_ok(&[
        "replay",
        s(&bump_fixtures::fixture("city/recordings")),
        "--out",
        s(&out),
    ]);
    let csv = std::fs::read_to_string(out.join("bumps.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|c| *c == n).unwrap();
    let (ti, la, lo) = (col("trip_id"), col("lat"), col("lon"));
    // The first bump of each trip.
    let mut first: Vec<(String, String, String)> = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        if !first.iter().any(|x| x.0 == f[ti]) {
            first.push((f[ti].to_owned(), f[la].to_owned(), f[lo].to_owned()));
        }
    }
    assert!(first.len() >= 2, "two trips with bumps: {first:?}");
    let (x, y) = (&first[0], &first[1]);
    let truth = tmp.path().join("truth");
    std::fs::create_dir_all(&truth).unwrap();
    // X's labels: its own first bump and Y's; Y's label is far away, so
    // Y's first bump is a false positive on a point X labelled.
    std::fs::write(
        truth.join(format!("{}(bumps).csv", x.0)),
        format!("Latitude,Longitude\n{},{}\n{},{}\n", x.1, x.2, y.1, y.2),
    )
    .unwrap();
    std::fs::write(
        truth.join(format!("{}(bumps).csv", y.0)),
        "Latitude,Longitude\n10.0,10.0\n",
    )
    .unwrap();
    let o = crate::run_ok(&["eval", "--truth", s(&truth), "--results", s(&out)]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("TOTAL"), "{stdout}");
    let ev: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("eval.json")).unwrap()).unwrap();
    let yt = &ev["per_trip"][&y.0];
    assert_eq!(yt["true_positives"], 0, "{ev}");
    assert!(yt["elsewhere"].as_u64().unwrap() >= 1, "{ev}");
    assert!(ev["per_trip"][&x.0]["found"].as_u64().unwrap() >= 1, "{ev}");
    let fp = ev["total"]["detections"].as_u64().unwrap() - ev["total"]["true_positives"].as_u64().unwrap();
    let line = format!(
        "false positives within 20 m of a point labelled on another trip: {} of {fp}",
        ev["total"]["elsewhere"]
    );
    assert!(stdout.contains(&line), "{line} in {stdout}");
}
