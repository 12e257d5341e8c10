//! `streetbump replay --file` and `streetbump open311 …` against two strict
//! GeoReport v2 test servers on 127.0.0.1 (two municipalities; a third has
//! no endpoint), through real processes and sockets.
//!
//! One simulated city serves every scenario, run in sequence: filing once
//! at the right endpoint with the right code; idempotent reruns; dry runs;
//! status sync and reopening; a crash at each step of a filing; a server
//! that fails after creating the request; rate limiting.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bump_filing::Registry;

use crate::streetbump;
use bump_open311_server::{Fault, FaultRule, Route, ServerConfig, ServiceKind, StoredRequest, TestServer};
use chrono::{TimeZone, Utc};

pub(crate) const WEST: &str = "westbury.example";
pub(crate) const CENTRE: &str = "centreville.example";

pub(crate) fn ok(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{:?}\nstdout:\n{out}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// A city with enough traffic for a handful of likely potholes.
pub(crate) fn simulate(dir: &Path) -> PathBuf {
    let city = dir.join("city");
    ok(&streetbump()
        .args([
            "simulate",
            "--seed",
            "5",
            "--trips",
            "200",
            "--minutes",
            "6",
            "--formats",
            "json",
            "--out",
        ])
        .arg(&city)
        .output()
        .unwrap());
    city
}

pub(crate) struct Servers {
    pub(crate) west: TestServer,
    pub(crate) centre: TestServer,
}

pub(crate) fn servers() -> Servers {
    servers_with(ServiceKind::Batch)
}

fn servers_with(centre_kind: ServiceKind) -> Servers {
    let west = TestServer::start(ServerConfig::example(WEST, "key-west")).unwrap();
    // Centreville's pothole service is a batch one: tokens first.
    let mut c = ServerConfig::example(CENTRE, "key-centre");
    c.token_polls = 0;
    c.jurisdictions[0].services[0].kind = centre_kind;
    let centre = TestServer::start(c).unwrap();
    Servers { west, centre }
}

/// The simulated municipalities with endpoints for two of them: Westbury
/// speaks JSON, Centreville XML; Eastport has none.
pub(crate) fn registry(city: &Path, s: &Servers, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(city.join("city/municipalities.geojson")).unwrap();
    let mut g: serde_json::Value = serde_json::from_str(&text).unwrap();
    for f in g["features"].as_array_mut().unwrap() {
        let props = f["properties"].as_object_mut().unwrap();
        let id = props["jurisdiction_id"].as_str().unwrap().to_owned();
        let (url, format, var) = match id.as_str() {
            WEST => (s.west.base_url(), "json", "TEST_KEY_WEST"),
            CENTRE => (s.centre.base_url(), "xml", "TEST_KEY_CENTRE"),
            _ => continue,
        };
        props.insert("endpoint".into(), url.into());
        props.insert("format".into(), format.into());
        props.insert("api_key_env".into(), var.into());
        props.insert("service_codes".into(), serde_json::json!({"pothole": "REQPOTHL"}));
    }
    let path = dir.join("registry.geojson");
    std::fs::write(&path, serde_json::to_vec_pretty(&g).unwrap()).unwrap();
    path
}

pub(crate) fn replay(city: &Path, registry: &Path, data: &Path, out: &Path, extra: &[&str]) -> Command {
    let root = bump_fixtures::workspace_root();
    let mut c = streetbump();
    c.arg("replay")
        .arg(city.join("trips"))
        .arg("--model")
        .arg(root.join("models/signature.json"))
        .arg("--inventory")
        .arg(city.join("city/inventory.geojson"))
        .arg("--registry")
        .arg(registry)
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--file", "-q"])
        .args(extra)
        .env("TEST_KEY_WEST", "key-west")
        .env("TEST_KEY_CENTRE", "key-centre")
        .env_remove("STREETBUMP_FAILPOINT");
    c
}

fn sync(registry: &Path, data: &Path) -> Command {
    let mut c = streetbump();
    c.args(["open311", "sync", "--registry"])
        .arg(registry)
        .arg("--data-dir")
        .arg(data)
        .env("TEST_KEY_WEST", "key-west")
        .env("TEST_KEY_CENTRE", "key-centre");
    c
}

/// The plan written by the last replay (`filing.json`).
pub(crate) fn plan(out: &Path) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("filing.json")).unwrap()).unwrap();
    v.as_array().unwrap().clone()
}

/// Markers planned for filing, by jurisdiction.
pub(crate) fn planned_markers(out: &Path, jurisdiction: &str) -> BTreeSet<String> {
    plan(out)
        .iter()
        .filter(|p| p["outcome"]["action"] == "file" && p["outcome"]["jurisdiction_id"] == jurisdiction)
        .map(|p| p["outcome"]["marker"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn marker_of(r: &StoredRequest) -> String {
    let d = r.description.clone().unwrap_or_default();
    d.rsplit("Ref: ").next().unwrap_or_default().trim().to_owned()
}

/// Markers on a server, asserting none is there twice.
pub(crate) fn filed_markers(s: &TestServer) -> BTreeSet<String> {
    let reqs = s.requests();
    let markers: Vec<String> = reqs.iter().map(marker_of).collect();
    let set: BTreeSet<String> = markers.iter().cloned().collect();
    assert_eq!(set.len(), markers.len(), "a defect filed twice: {markers:?}");
    set
}

#[test]
fn files_each_pothole_once_at_the_right_endpoint_and_follows_it() {
    let tmp = tempfile::tempdir().unwrap();
    let city = simulate(tmp.path());
    let s = servers();
    let reg_path = registry(&city, &s, tmp.path());
    let reg = Registry::load(&reg_path).unwrap();

    // Dry run: prints, writes the plan, sends and stores nothing.
    let dry_out = tmp.path().join("dry");
    let data = tmp.path().join("data");
    let printed = ok(&replay(&city, &reg_path, &data, &dry_out, &["--dry-run"])
        .output()
        .unwrap());
    assert!(printed.contains("would file"), "{printed}");
    assert!(
        s.west.hits().is_empty() && s.centre.hits().is_empty(),
        "a dry run sent something"
    );
    assert!(!data.exists(), "a dry run created the store");
    let west_plan = planned_markers(&dry_out, WEST);
    let centre_plan = planned_markers(&dry_out, CENTRE);
    assert!(
        west_plan.len() + centre_plan.len() >= 3,
        "too few potholes to test: {west_plan:?} {centre_plan:?}"
    );
    let eastport = plan(&dry_out)
        .iter()
        .filter(|p| p["outcome"]["reason"] == "no_endpoint")
        .count();
    assert!(eastport > 0, "Eastport's potholes are kept, not filed");

    // File for real. Centreville answers with tokens, resolved on the first
    // poll, one second later: a sync then turns them into ids.
    let out = tmp.path().join("out");
    ok(&replay(&city, &reg_path, &data, &out, &[]).output().unwrap());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ok(&sync(&reg_path, &data).output().unwrap());
    assert_eq!(filed_markers(&s.west), west_plan);
    assert_eq!(filed_markers(&s.centre), centre_plan);
    for (server, id) in [(&s.west, WEST), (&s.centre, CENTRE)] {
        for r in server.requests() {
            assert_eq!(r.service_code, "REQPOTHL");
            assert_eq!(r.jurisdiction_id, id);
            let (lat, lon) = (r.lat.unwrap(), r.long.unwrap());
            assert_eq!(
                reg.locate(lat, lon).map(|j| j.jurisdiction_id.as_str()),
                Some(id),
                "routed by polygon"
            );
            let d = r.description.unwrap();
            assert!(d.contains("distinct trips") && d.contains("Cluster: http"), "{d}");
            assert!(
                !r.form.iter().any(|(k, v)| k == "api_key" || v.contains("key-")),
                "key leaked into form copy"
            );
        }
    }
    let status = ok(&streetbump()
        .args(["open311", "status", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap());
    assert!(!status.contains("intent") && !status.contains("posting"), "{status}");

    // The same trips again: nothing new anywhere.
    let posts_before = s.west.requests().len() + s.centre.requests().len();
    ok(&replay(&city, &reg_path, &data, &out, &[]).output().unwrap());
    assert_eq!(s.west.requests().len() + s.centre.requests().len(), posts_before);

    // The city closes two requests: one after the last bump (fixed for
    // good), one before it (the bumps recur: reopened, naming the old one).
    let reqs = s.west.requests();
    let mut all: Vec<(&TestServer, StoredRequest)> = reqs.into_iter().map(|r| (&s.west, r)).collect();
    all.extend(s.centre.requests().into_iter().map(|r| (&s.centre, r)));
    assert!(all.len() >= 2);
    let (fixed_srv, fixed) = &all[0];
    let (recur_srv, recur) = &all[1];
    assert!(fixed_srv.close_request(
        &fixed.service_request_id,
        Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap(),
        "Repaired"
    ));
    assert!(recur_srv.close_request(
        &recur.service_request_id,
        Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap(),
        "Repaired"
    ));
    let synced = ok(&sync(&reg_path, &data).output().unwrap());
    assert!(synced.contains("2 newly closed"), "{synced}");
    assert!(synced.contains(&fixed.service_request_id) && synced.contains(&recur.service_request_id));
    let before = all.len();
    ok(&replay(&city, &reg_path, &data, &out, &[]).output().unwrap());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ok(&sync(&reg_path, &data).output().unwrap());
    let mut after: Vec<StoredRequest> = s.west.requests();
    after.extend(s.centre.requests());
    assert_eq!(after.len(), before + 1, "exactly the recurring defect is filed again");
    let new = after
        .iter()
        .find(|r| marker_of(r).ends_with("-2"))
        .expect("a second-generation filing");
    let d = new.description.clone().unwrap();
    assert!(
        d.contains(&format!("Reopens request {}", recur.service_request_id)),
        "{d}"
    );
}

/// Kills the filer at each step of a filing; a restart files each pothole
/// exactly once.
#[test]
fn a_crash_at_any_step_files_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let city = simulate(tmp.path());
    for step in ["after-intent", "after-posting", "after-post", "after-record"] {
        // Realtime both: a token lost in a crash is waited for (a day by
        // default) before the server is searched; that path is tested in
        // bump-filing.
        let s = servers_with(ServiceKind::Realtime);
        let dir = tmp.path().join(step);
        std::fs::create_dir_all(&dir).unwrap();
        let reg = registry(&city, &s, &dir);
        let data = dir.join("data");
        let out = dir.join("out");
        let dry = dir.join("dry");
        ok(&replay(&city, &reg, &data, &dry, &["--dry-run"]).output().unwrap());
        let crashed = replay(&city, &reg, &data, &out, &[])
            .env("STREETBUMP_FAILPOINT", step)
            .output()
            .unwrap();
        assert!(!crashed.status.success(), "{step}: the failpoint did not fire");
        ok(&replay(&city, &reg, &data, &out, &[]).output().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(1100));
        ok(&sync(&reg, &data).output().unwrap());
        assert_eq!(filed_markers(&s.west), planned_markers(&dry, WEST), "{step}");
        assert_eq!(filed_markers(&s.centre), planned_markers(&dry, CENTRE), "{step}");
        let status = ok(&streetbump()
            .args(["open311", "status", "--data-dir"])
            .arg(&data)
            .output()
            .unwrap());
        assert!(
            !status.contains(" posting ") && !status.contains(" intent "),
            "{step}: {status}"
        );
    }
}

/// A server that creates the request and then answers 500, and one that
/// rate-limits: no duplicate, nothing lost, the rest keeps working.
#[test]
fn server_failures_neither_duplicate_nor_lose_a_filing() {
    let tmp = tempfile::tempdir().unwrap();
    let city = simulate(tmp.path());
    let s = servers();
    s.west.push_fault(FaultRule {
        route: Route::PostRequest,
        fault: Fault::CommitThenStatus(500),
        times: 1,
    });
    s.centre.push_fault(FaultRule {
        route: Route::PostRequest,
        fault: Fault::RateLimited { retry_after_s: 1 },
        times: 1,
    });
    let reg = registry(&city, &s, tmp.path());
    let data = tmp.path().join("data");
    let out = tmp.path().join("out");
    let first = replay(&city, &reg, &data, &out, &[]).output().unwrap();
    assert_eq!(
        first.status.code(),
        Some(1),
        "errors are reported: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(err.contains("HTTP 500") && err.contains("HTTP 429"), "{err}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ok(&sync(&reg, &data).output().unwrap());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ok(&sync(&reg, &data).output().unwrap());
    assert_eq!(filed_markers(&s.west), planned_markers(&out, WEST));
    assert_eq!(filed_markers(&s.centre), planned_markers(&out, CENTRE));
    // The 500'd request was found by its marker, not posted again.
    let west_posts = s.west.hits().iter().filter(|h| h.method == "POST").count();
    assert_eq!(west_posts, planned_markers(&out, WEST).len());
}

/// `streetbump open311 check` passes a correct registry and names each
/// problem of a wrong one.
#[test]
fn check_validates_the_registry_against_each_endpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let s = servers();
    let fixture_city = bump_fixtures::fixture("city");
    let reg = registry(&fixture_city, &s, tmp.path());
    let check = |reg: &Path, west_key: &str| {
        let mut c = streetbump();
        c.args(["open311", "check", "--registry"])
            .arg(reg)
            .env("TEST_KEY_WEST", west_key)
            .env("TEST_KEY_CENTRE", "key-centre");
        c.output().unwrap()
    };
    let good = check(&reg, "key-west");
    let text = ok(&good);
    assert!(text.contains("0 problem(s)"), "{text}");
    assert!(
        text.contains("API key accepted") && text.contains("pothole -> REQPOTHL"),
        "{text}"
    );
    assert!(text.contains("no endpoint"), "Eastport is reported as unfiled: {text}");
    assert!(
        s.west.requests().is_empty() && s.centre.requests().is_empty(),
        "a check created a request"
    );

    // A wrong key, an unknown service code, a discovery URL that is not one.
    let mut g: serde_json::Value = serde_json::from_slice(&std::fs::read(&reg).unwrap()).unwrap();
    for f in g["features"].as_array_mut().unwrap() {
        let props = f["properties"].as_object_mut().unwrap();
        if props["jurisdiction_id"] == CENTRE {
            props.insert("service_codes".into(), serde_json::json!({"pothole": "REQNOPE"}));
        }
        if props["jurisdiction_id"] == WEST {
            props.insert("discovery".into(), format!("{}nowhere.json", s.west.base_url()).into());
        }
    }
    let bad_reg = tmp.path().join("bad.geojson");
    std::fs::write(&bad_reg, serde_json::to_vec(&g).unwrap()).unwrap();
    let bad = check(&bad_reg, "wrong");
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad.stdout);
    for needle in [
        "the API key in TEST_KEY_WEST is refused",
        "service code REQNOPE (for pothole) is not in the service list",
        "discovery:",
        "3 problem(s)",
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
    assert!(!text.contains("wrong"), "the key itself is never printed");
}
