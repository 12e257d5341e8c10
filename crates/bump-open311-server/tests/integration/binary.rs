//! The `open311-test-server` binary and its `/_admin/` routes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::support::{Answer, client, get_url, send};

/// The child process, killed (by its own handle) when the test ends.
struct Process {
    child: Child,
    base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        // Only this test's own child; ignore "already exited".
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_open311-test-server"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the first line");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("`listening on http://ADDR`")
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    Process { child, base }
}

async fn admin_post(process: &Process, path: &str, body: Value) -> Answer {
    send(
        client()
            .post(format!("{}/_admin/{path}", process.base))
            .body(body.to_string()),
    )
    .await
}

#[tokio::test]
async fn admin_routes_steer_a_real_process() {
    let process = spawn(&[]);
    let base = &process.base;
    let discovery = get_url(&format!("{base}/open311/discovery.json")).await;
    assert_eq!(discovery.json()["endpoints"][0]["url"], format!("{base}/open311/v2/"));

    let fault = json!({"route": "PostRequest", "fault": {"CommitThenStatus": 502}});
    assert_eq!(admin_post(&process, "faults", fault).await.status, 200);
    let form = "api_key=test-key&service_code=REQPOTHL&lat=42.1&long=-71.2";
    let answer = send(
        client()
            .post(format!("{base}/open311/v2/requests.json"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form),
    )
    .await;
    assert_eq!(answer.status, 502);

    let requests = get_url(&format!("{base}/_admin/requests")).await.json();
    assert_eq!(requests[0]["service_request_id"], "SR-000001");
    assert_eq!(requests[0]["lat"], 42.1);
    let closed = admin_post(
        &process,
        "requests/SR-000001/close",
        json!({"closed_at": "2030-01-02T03:04:05Z", "notes": "done"}),
    )
    .await;
    assert_eq!(closed.status, 200);
    let missing = admin_post(
        &process,
        "requests/SR-9/close",
        json!({"closed_at": "2030-01-02T03:04:05Z"}),
    )
    .await;
    assert_eq!(missing.status, 404);
    let listed = get_url(&format!("{base}/open311/v2/requests.json?service_request_id=SR-000001")).await;
    assert_eq!(listed.json()[0]["status"], "closed");
    assert_eq!(listed.json()[0]["updated_datetime"], "2030-01-02T03:04:05Z");

    assert_eq!(admin_post(&process, "quirk", json!("NumericIds")).await.status, 200);
    assert_eq!(
        get_url(&format!("{base}/_admin/quirk")).await.json(),
        json!("NumericIds")
    );
    assert_eq!(admin_post(&process, "quirk", json!(null)).await.status, 200);
    assert_eq!(admin_post(&process, "quirk", json!("Nonsense")).await.status, 400);

    let hang = json!({"route": "Services", "fault": {"Hang": 50}, "times": 1});
    assert_eq!(admin_post(&process, "faults", hang).await.status, 200);
    assert_eq!(get_url(&format!("{base}/open311/v2/services.xml")).await.status, 200);
    let hits = get_url(&format!("{base}/_admin/hits")).await.json();
    let statuses: Vec<u64> = hits
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["status"].as_u64().expect("status"))
        .collect();
    assert_eq!(statuses, [200, 502, 200, 200]);
    assert_eq!(hits[2]["query"], "service_request_id=SR-000001");
}

#[tokio::test]
async fn reads_a_toml_config() {
    let path = std::env::temp_dir().join(format!("open311-test-server-{}.toml", std::process::id()));
    let config = r#"
        token_polls = 0
        json = false
        [[jurisdictions]]
        jurisdiction_id = "city.example"
        api_key = "k"
        [[jurisdictions.services]]
        service_code = "LIGHT"
        service_name = "Street light"
        type = "batch"
    "#;
    std::fs::write(&path, config).expect("write config");
    let process = spawn(&["--config", path.to_str().expect("utf-8 path")]);
    let services = get_url(&format!("{}/open311/v2/services.xml", process.base)).await;
    assert!(
        services.body.contains("<service_code>LIGHT</service_code>"),
        "{}",
        services.body
    );
    assert_eq!(
        get_url(&format!("{}/open311/v2/services.json", process.base))
            .await
            .status,
        404
    );
    drop(process);
    let _ = std::fs::remove_file(&path);
}
