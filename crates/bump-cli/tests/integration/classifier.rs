use crate::{run, run_ok};

/// Simulates a small city (an 8 × 8 grid, every phone at `rate_hz`) into
/// `out`, with `args` (seed, trips, formats...) added; asserts success.
fn simulate_small(dir: &std::path::Path, rate_hz: f64, out: &str, args: &[&str]) -> std::process::Output {
    let cfg = dir.join("sim.toml");
    std::fs::write(&cfg, format!("sample_rate_hz = {rate_hz:.1}\ngrid_nodes = 8\n")).unwrap();
    let mut all = vec!["simulate", "--config", cfg.to_str().unwrap(), "--out", out];
    all.extend_from_slice(args);
    run_ok(&all)
}

/// Trains on one simulated city and classifies another: the model file
/// round-trips, the replay writes classes, and known obstacles override
/// the signature.
#[test]
fn train_then_classify() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).to_str().unwrap().to_owned();
    simulate_small(
        tmp.path(),
        50.0,
        &p("train"),
        &["--seed", "5", "--trips", "60", "--minutes", "5", "--formats", "json"],
    );
    let o = run_ok(&["classifier", "train", "--data", &p("train"), "--out", &p("model.json")]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("trained on") && out.contains("pothole"), "{out}");
    // Placement copies are for window folders; trips are refused.
    let o = run(&[
        "classifier",
        "train",
        "--data",
        &p("train"),
        "--out",
        &p("m2.json"),
        "--placement-copies",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--placement-copies"));
    run_ok(&[
        "replay",
        &p("train/trips"),
        "--model",
        &p("model.json"),
        "--inventory",
        &p("train/city/inventory.geojson"),
        "--out",
        &p("out"),
    ]);
    let csv = std::fs::read_to_string(tmp.path().join("out/clusters.csv")).unwrap();
    assert!(csv.contains(",signature,"), "some cluster classified by signature");
    assert!(csv.contains(",inventory,"), "some cluster labelled from the inventory");
    run_ok(&["eval", "--truth", &p("train"), "--results", &p("out")]);
    let ev: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("out/eval.json")).unwrap()).unwrap();
    assert!(ev["clusters"]["confusion"].is_object(), "{ev}");
    assert!(ev["clusters"]["would_file"].is_array(), "{ev}");
    // The stages of the pothole target: every phone here runs at 50 Hz, so
    // the fast-phone count equals the hit count, and hits per rate are
    // keyed by 50 alone.
    let pot = &ev["clusters"]["potholes"];
    assert!(pot["hit"].is_u64() && pot["felt"].is_u64(), "{pot}");
    assert_eq!(pot["hit"], pot["hit_fast"], "{pot}");
    assert!(pot["hit"].as_u64() >= pot["felt"].as_u64(), "{pot}");
    let rates = ev["pothole_hits_by_rate_hz"].as_object().expect("per-rate hits");
    assert!(rates.keys().all(|k| k == "50"), "{rates:?}");
    // A model from a different format is refused with its path.
    std::fs::write(
        tmp.path().join("bad.json"),
        r#"{"format":"x","features":[],"classes":[]}"#,
    )
    .unwrap();
    let o = run(&[
        "replay",
        &p("train/trips"),
        "--model",
        &p("bad.json"),
        "--out",
        &p("o2"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.json"));
}

/// A city whose road crews fill half its potholes while the trips run:
/// the truth says which and when, and `eval` scores them apart.
#[test]
fn filled_potholes_are_in_the_truth_and_scored_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).to_str().unwrap().to_owned();
    std::fs::write(
        tmp.path().join("sim.toml"),
        "sample_rate_hz = 50.0\ngrid_nodes = 8\nrepair_share = 0.5\n",
    )
    .unwrap();
    run_ok(&[
        "simulate",
        "--config",
        &p("sim.toml"),
        "--out",
        &p("city"),
        "--seed",
        "3",
        "--trips",
        "40",
        "--minutes",
        "4",
        "--formats",
        "json",
    ]);
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("city/truth/obstacles.geojson")).unwrap()).unwrap();
    let (mut filled, mut potholes) = (0, 0);
    for f in truth["features"].as_array().unwrap() {
        let props = &f["properties"];
        let at = props.get("repaired_at").and_then(serde_json::Value::as_f64);
        if props["kind"] == "pothole" {
            potholes += 1;
            filled += usize::from(at.is_some());
        } else {
            assert!(at.is_none(), "only potholes are filled: {props}");
        }
    }
    assert!(filled > 0 && filled < potholes, "{filled} of {potholes} filled");
    run_ok(&["replay", &p("city/trips"), "--out", &p("out"), "-q"]);
    run_ok(&["eval", "--truth", &p("city"), "--results", &p("out")]);
    let ev: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("out/eval.json")).unwrap()).unwrap();
    let pot = &ev["clusters"]["potholes"];
    let outcomes = pot["repaired_outcome"].as_object().expect("outcomes");
    let total: u64 = outcomes.values().filter_map(serde_json::Value::as_u64).sum();
    assert_eq!(pot["repaired"].as_u64(), Some(total), "{pot}");
    assert!(total as usize <= filled, "{pot}");
}

/// The labelled-cluster count `classifier train` reports.
fn trained_on(o: &std::process::Output) -> usize {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let n = out
        .split("trained on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next());
    n.and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {out}"))
}

/// Several `--data` folders: each city is clustered on its own (the two
/// simulated cities share their streets' coordinates, so pooling their
/// trips would mix their defects) and their labelled clusters add up. A
/// window folder trains alone.
#[test]
fn train_pools_several_cities() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).to_str().unwrap().to_owned();
    for (seed, out) in [("5", "a"), ("6", "b")] {
        simulate_small(
            tmp.path(),
            50.0,
            &p(out),
            &["--seed", seed, "--trips", "40", "--minutes", "5", "--formats", "json"],
        );
    }
    let train = |data: &[&str]| {
        let mut args = vec!["classifier", "train", "--out"];
        let out = p("m.json");
        args.push(&out);
        let dirs: Vec<String> = data.iter().map(|d| p(d)).collect();
        for d in &dirs {
            args.extend(["--data", d.as_str()]);
        }
        run(&args)
    };
    let (a, b) = (trained_on(&train(&["a"])), trained_on(&train(&["b"])));
    assert!(a > 0 && b > 0, "{a} {b}");
    let both = train(&["a", "b"]);
    assert_eq!(trained_on(&both), a + b);
    let out = String::from_utf8_lossy(&both.stdout);
    assert!(out.contains("in 2 folders"), "{out}");
    // Each city scored by a model of the other alone.
    assert!(
        out.contains("accuracy leaving one folder out") && out.contains("by folder 1:"),
        "{out}"
    );
    assert!(
        out.contains(&format!("/{a} 2:")) && out.contains(&format!("/{b})")),
        "{out}"
    );
    let o = train(&["a", "a"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("given twice"));
    // A window folder with another folder is refused, naming the count.
    let w = tmp.path().join("w/hole");
    std::fs::create_dir_all(&w).unwrap();
    std::fs::write(w.join("0.csv"), "acc_z\n9.8\n").unwrap();
    let o = train(&["w", "a"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stderr).contains("2 --data folders"));
}

/// The model the project ships loads and classifies the fixture city.
#[test]
fn shipped_model_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let model = bump_fixtures::workspace_root().join("models/signature.json");
    run_ok(&[
        "replay",
        bump_fixtures::fixture("city/recordings").to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(tmp.path().join("clusters.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains("class_probability"));
}

/// The shipped window model votes in the replay: clusters of the fixture
/// city pool both models; a file that is not a window model stops the run
/// with its name.
#[test]
fn shipped_window_model_votes_in_the_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let root = bump_fixtures::workspace_root();
    let replay = |window: &std::path::Path, out: &std::path::Path| {
        run(&[
            "replay",
            bump_fixtures::fixture("city/recordings").to_str().unwrap(),
            "--model",
            root.join("models/signature.json").to_str().unwrap(),
            "--window-model",
            window.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let o = replay(&root.join("models/window.json"), tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(tmp.path().join("clusters.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let src = header.iter().position(|h| *h == "class_source").unwrap();
    let sources: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(src).unwrap().to_owned())
        .collect();
    assert!(!sources.is_empty());
    assert!(
        sources.iter().all(|s| s == "signature+window" || s == "inventory"),
        "{sources:?}"
    );
    let o = replay(&root.join("models/signature.json"), &tmp.path().join("bad"));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("signature.json") && err.contains("window model"), "{err}");
}

/// Window folders: train, evaluate and cross-validate on synthetic
/// labelled windows (humps rise slowly, holes drop sharply).
#[test]
fn window_folders_train_eval_and_cv() {
    let tmp = tempfile::tempdir().unwrap();
    for (class, n) in [("hump", 12), ("hole", 12)] {
        let d = tmp.path().join("w").join(class);
        std::fs::create_dir_all(&d).unwrap();
        for k in 0..n {
            let mut s = String::from("acc_z\n");
            for i in 0..100 {
                let noise = 0.05 * f64::from((i * 7 + k * 13) % 11);
                let v = match class {
                    "hump" if (40..60).contains(&i) => 3.0 * (std::f64::consts::PI * f64::from(i - 40) / 20.0).sin(),
                    "hole" if i == 50 => -6.0,
                    "hole" if i == 51 => 5.0,
                    _ => 0.0,
                };
                s.push_str(&format!("{}\n", 9.81 + v + noise));
            }
            std::fs::write(d.join(format!("{k}.csv")), s).unwrap();
        }
    }
    let w = tmp.path().join("w");
    let model = tmp.path().join("m.json");
    run_ok(&[
        "classifier",
        "train",
        "--data",
        w.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    let o = run_ok(&[
        "classifier",
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        w.to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("accuracy 1.000"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = run_ok(&["classifier", "cv", "--data", w.to_str().unwrap(), "--folds", "3"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("3-fold stratified") && out.contains("confusion"), "{out}");
    // Peaks: the holes' -6 m/s² against the humps' 3 m/s², so a threshold
    // catching every hole is reached by no hump.
    let o = run_ok(&[
        "classifier",
        "amplitudes",
        "--data",
        w.to_str().unwrap(),
        "--event",
        "hole",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    let row = |name: &str| -> Vec<String> {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in {out}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let hole: f64 = row("hole")[4].parse().unwrap();
    let hump: f64 = row("hump")[4].parse().unwrap();
    assert!(hole > 5.5 && hole < 6.6 && hump > 2.5 && hump < 3.6, "{out}");
    assert_eq!(row("90 %").last().map(String::as_str), Some("0.00"), "{out}");
    let o = run(&[
        "classifier",
        "amplitudes",
        "--data",
        w.to_str().unwrap(),
        "--event",
        "pothole",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such class folder"));
    // A bad value names the file and line.
    std::fs::write(w.join("hole/bad.csv"), "acc_z\n1.0\nx\n").unwrap();
    let o = run(&["classifier", "cv", "--data", w.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.csv") && err.contains("row 2"), "{err}");
}

/// `simulate --formats windows` writes a window folder in the González
/// layout that `classifier` reads: every class present, capped per class,
/// 50 Hz files with the `acc_z` header; a model trained on it scores it.
#[test]
fn simulated_windows_train_a_window_model() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).to_str().unwrap().to_owned();
    let o = simulate_small(
        tmp.path(),
        100.0,
        &p("sim"),
        &[
            "--seed",
            "9",
            "--trips",
            "40",
            "--minutes",
            "4",
            "--formats",
            "windows",
            "--windows-per-class",
            "20",
        ],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("labelled windows:"), "{stdout}");
    let w = tmp.path().join("sim/windows");
    let mut classes = 0;
    for class in [
        "asphalt_bumps",
        "metal_bumps",
        "potholes",
        "regular_road",
        "worn_out_road",
    ] {
        let files: Vec<_> = std::fs::read_dir(w.join(class)).unwrap().flatten().collect();
        assert!(files.len() <= 20, "{class}: capped");
        if let Some(f) = files.first() {
            classes += 1;
            let text = std::fs::read_to_string(f.path()).unwrap();
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some("acc_z"));
            let n = lines
                .inspect(|l| assert!(l.parse::<f64>().unwrap().is_finite()))
                .count();
            assert!((40..=300).contains(&n), "{class}: {n} samples at 50 Hz");
        }
    }
    assert!(classes >= 4, "most classes occur in 40 trips");
    let windows_in = |o: &std::process::Output| -> usize {
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let n = out
            .split(" features on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next());
        n.and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in {out}"))
    };
    let plain = windows_in(&run_ok(&[
        "classifier",
        "train",
        "--data",
        &p("sim/windows"),
        "--out",
        &p("w.json"),
    ]));
    // Placed copies: two more of each window.
    let placed = windows_in(&run_ok(&[
        "classifier",
        "train",
        "--data",
        &p("sim/windows"),
        "--out",
        &p("wp.json"),
        "--trees",
        "20",
        "--placement-copies",
        "2",
    ]));
    assert_eq!(placed, 3 * plain);
    run_ok(&[
        "classifier",
        "eval",
        "--model",
        &p("wp.json"),
        "--data",
        &p("sim/windows"),
    ]);
    let o = run_ok(&[
        "classifier",
        "eval",
        "--model",
        &p("w.json"),
        "--data",
        &p("sim/windows"),
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("accuracy"));
    // A cluster-signature model is not a window model: refused by name.
    std::fs::write(tmp.path().join("bad.json"), "{\"format\": \"x\"}").unwrap();
    let o = run(&[
        "classifier",
        "eval",
        "--model",
        &p("bad.json"),
        "--data",
        &p("sim/windows"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.json"));
}
