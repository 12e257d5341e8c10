//! `streetbump serve` as a real process: killed with SIGKILL at various
//! moments while phones upload, restarted, and checked against a replay of
//! the same trips; stopped with SIGTERM and restarted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::streetbump;

fn trips() -> std::path::PathBuf {
    bump_fixtures::fixture("city/trips")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the server and waits for its "listening on" line.
fn start(data: &Path, port: u16) -> Child {
    let mut child = streetbump()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on http://"), "{line}");
    child
}

/// A minimal HTTP/1.1 exchange; returns (status, body).
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn metric(port: u16, name: &str) -> Option<f64> {
    let (_, text) = http(port, "GET", "/metrics", &[], "");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
}

/// Waits until nothing is pending and the clusters stop changing.
fn settle(port: u16, cookie: &str) -> Vec<(String, u64, u64, u64)> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = None;
    while Instant::now() < deadline {
        if metric(port, "streetbump_pending_batches ") == Some(0.0) {
            let now = clusters(port, cookie);
            if last.as_ref() == Some(&now) {
                return now;
            }
            last = Some(now);
        }
        std::thread::sleep(Duration::from_millis(700));
    }
    panic!("the server did not settle");
}

fn login(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = r#"{"username":"ana","password":"a long test password"}"#;
    write!(
        s,
        "POST /api/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let line = resp
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap();
    line.split_once(':')
        .unwrap()
        .1
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn clusters(port: u16, cookie: &str) -> Vec<(String, u64, u64, u64)> {
    let (status, body) = http(port, "GET", "/api/clusters", &[("Cookie", cookie)], "");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut k: Vec<_> = v["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["cluster_id"].as_str().unwrap().to_owned(),
                c["hits"].as_u64().unwrap(),
                c["trips"].as_u64().unwrap(),
                c["passes"].as_u64().unwrap(),
            )
        })
        .collect();
    k.sort();
    k
}

/// The same trips replayed from files.
fn replayed(dir: &Path) -> Vec<(String, u64, u64, u64)> {
    let out = dir.join("replay");
    let o = streetbump()
        .arg("replay")
        .arg(trips())
        .arg("--out")
        .arg(&out)
        .arg("-q")
        .output()
        .unwrap();
    assert!(o.status.success());
    clusters_csv(&out)
}

/// (id, hits, distinct trips, passes) of `clusters.csv` in `out`, sorted.
pub(crate) fn clusters_csv(out: &Path) -> Vec<(String, u64, u64, u64)> {
    let text = std::fs::read_to_string(out.join("clusters.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (id, hits, trips, passes) = (col("cluster_id"), col("hits"), col("distinct_trips"), col("passes"));
    let mut k: Vec<_> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[id].to_owned(),
                f[hits].parse().unwrap(),
                f[trips].parse().unwrap(),
                f[passes].parse().unwrap(),
            )
        })
        .collect();
    k.sort();
    k
}

/// A data directory with the fixture phones and a reviewer.
fn prepare(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    let tokens = dir.join("tokens.json");
    let o = streetbump()
        .args(["devices", "add", "--from-trips"])
        .arg(trips())
        .arg("--out")
        .arg(&tokens)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut c = streetbump()
        .args(["users", "add", "--username", "ana", "--password-stdin", "--data-dir"])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b"a long test password\n").unwrap();
    assert!(c.wait().unwrap().success());
    tokens
}

fn upload(port: u16, tokens: &Path) -> Command {
    let mut c = streetbump();
    c.arg("upload")
        .arg(trips())
        .args(["--url", &format!("http://127.0.0.1:{port}"), "--tokens"])
        .arg(tokens)
        .arg("--gzip");
    c
}

#[test]
fn killed_at_any_moment_it_loses_nothing_and_counts_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = replayed(tmp.path());
    assert!(!expected.is_empty());
    // Kill while uploads arrive, right after, and while trips are processed.
    for (round, delay_ms) in [0u64, 150, 400, 900].into_iter().enumerate() {
        let dir = tmp.path().join(format!("round-{round}"));
        std::fs::create_dir_all(&dir).unwrap();
        let tokens = prepare(&dir);
        let data = dir.join("data");
        let port = free_port();
        let mut server = start(&data, port);
        // The phones keep retrying while the server is down.
        let phones = upload(port, &tokens).stdout(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        let mut server = start(&data, port);
        let out = phones.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        // Everything again: all of it was acknowledged before, so nothing is new.
        let again = upload(port, &tokens).output().unwrap();
        let text = String::from_utf8_lossy(&again.stdout);
        assert!(
            text.contains("0 batches accepted, 12 already there"),
            "round {round}: {text}"
        );
        let cookie = login(port);
        assert_eq!(settle(port, &cookie), expected, "round {round}");
        server.kill().unwrap();
        server.wait().unwrap();
    }
}

#[test]
fn sigterm_drains_and_a_restart_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = replayed(tmp.path());
    let tokens = prepare(tmp.path());
    let data = tmp.path().join("data");
    let port = free_port();
    let mut server = start(&data, port);
    assert!(upload(port, &tokens).output().unwrap().status.success());
    let t0 = Instant::now();
    let st = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
    assert!(t0.elapsed() < Duration::from_secs(60));
    let mut server = start(&data, port);
    let cookie = login(port);
    assert_eq!(settle(port, &cookie), expected);
    server.kill().unwrap();
    server.wait().unwrap();
}
