//! Bodies no sane server sends but a broken proxy or a hostile endpoint can:
//! the client must answer them with an error in reasonable time, not crash
//! the process or stall the runtime thread.
//!
//! A stack overflow aborts the whole test binary, so the test that could
//! overflow runs its body in a child process (this same binary, filtered to
//! the one test) and checks how the child ended.

use std::process::Command;
use std::time::{Duration, Instant};

use bump_open311::decode::{DecodeError, decode};
use bump_open311::error::parse_error_body;

const CHILD: &str = "BUMP_OPEN311_HOSTILE_BODY_CHILD";

/// Runs the named test of this module in a child process with `CHILD` set,
/// and returns whether it ended well, with its output.
fn in_child(test: &str) -> (bool, String) {
    let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([
            &format!("{module}::{test}"),
            "--exact",
            "--include-ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("the test binary runs");
    let text = format!(
        "{}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("1 passed"), text)
}

fn nested(open: &str, close: &str, depth: usize) -> String {
    let mut s = String::with_capacity((open.len() + close.len()) * depth);
    for _ in 0..depth {
        s.push_str(open);
    }
    for _ in 0..depth {
        s.push_str(close);
    }
    s
}

#[test]
fn deeply_nested_json_is_refused_by_the_parsers_limit() {
    for body in [nested("[", "]", 100_000), nested("{\"a\":", "}", 100_000)] {
        let err = decode(&body).expect_err("too deep");
        assert!(matches!(err, DecodeError::Malformed { format: "JSON", .. }), "{err}");
        assert!(!parse_error_body(502, &body).is_empty());
    }
}

#[test]
fn moderately_nested_xml_reads() {
    let body = nested("<a>", "</a>", 200);
    let doc = decode(&body).expect("well-formed");
    assert_eq!(doc.root.as_deref(), Some("a"));
}

#[test]
fn deeply_nested_xml_does_not_crash_the_process() {
    if std::env::var_os(CHILD).is_some() {
        let body = nested("<a>", "</a>", 100_000);
        let _ = decode(&body);
        let _ = parse_error_body(500, &body);
        return;
    }
    let (ok, output) = in_child("deeply_nested_xml_does_not_crash_the_process");
    assert!(ok, "the child ended badly:\n{output}");
}

#[test]
fn a_malformed_body_with_long_whitespace_fails_promptly() {
    // Linear work on 200 kB takes milliseconds; allow far more than that.
    let body = format!("[{}x]", " ".repeat(200_000));
    let t0 = Instant::now();
    let err = decode(&body).expect_err("malformed");
    let took = t0.elapsed();
    assert!(matches!(err, DecodeError::Malformed { format: "JSON", .. }), "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_malformed_pretty_printed_body_fails_promptly() {
    // Indentation is whitespace too, but in short runs: this stays linear.
    let item = "\n    {\n        \"service_request_id\": 006,\n        \"status\": open\n    },";
    let body = format!("[{}]", item.repeat(20_000));
    let t0 = Instant::now();
    let err = decode(&body).expect_err("malformed");
    assert!(matches!(err, DecodeError::Malformed { .. }), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(5), "took {:?}", t0.elapsed());
}
