use std::path::Path;

use crate::{run, streetbump};

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// The committed fixture is exactly what the simulator makes from its
/// seed: the same seed gives byte-identical output, and the fixture is
/// never stale.
#[test]
fn regenerating_the_fixture_gives_identical_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("city");
    let cfg = bump_fixtures::fixture("city.toml");
    let o = run(&[
        "simulate",
        "--config",
        cfg.to_str().unwrap(),
        "--trips",
        "6",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let committed = bump_fixtures::fixture("city");
    let (a, b) = (files(&committed), files(&out));
    assert_eq!(a, b);
    for f in &a {
        assert!(
            std::fs::read(committed.join(f)).unwrap() == std::fs::read(out.join(f)).unwrap(),
            "{} differs: regenerate with the command in fixtures/city.toml",
            f.display()
        );
    }
}

#[test]
fn bad_parameters_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("s.toml");
    std::fs::write(&cfg, "grid_nodes = 1\n").unwrap();
    let o = run(&[
        "simulate",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("grid_nodes"));
}

/// A reader that stops early (`streetbump simulate ... | head -1`) closes
/// the pipe: the command's work is done, so it exits quietly and
/// successfully instead of panicking on the summary line.
#[test]
fn a_closed_stdout_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("city");
    let mut child = streetbump()
        .args([
            "simulate",
            "--trips",
            "2",
            "--minutes",
            "1",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before the summary is written.
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "exit {:?}: {stderr}", o.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.join("truth/trips.csv").is_file(), "the work was done");
}
