use crate::support::{Server, fixture_lines};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_without_signing_in_and_every_action_recorded() {
    let s = Server::start(|_| {}).await;
    for l in fixture_lines() {
        assert_eq!(s.upload(&l).await.0, 202);
    }
    s.settle(6.0).await;
    for path in [
        "/api/clusters",
        "/api/clusters/x",
        "/api/coverage",
        "/api/me",
        "/api/config",
        "/api/audit",
    ] {
        assert_eq!(s.get(path, "").await.0, 401, "{path}");
        assert_eq!(s.get(path, "sb_session=forged").await.0, 401, "{path}");
    }
    assert_eq!(
        s.post("/api/clusters/x/actions", "", serde_json::json!({"action": "dismiss"}))
            .await
            .0,
        401
    );
    // The page itself loads without a session (it shows the sign-in form).
    let page = s.http.get(format!("{}/", s.url)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("login-form"));

    let ana = s.login("ana").await;
    let (st, me) = s.get("/api/me", &ana).await;
    assert_eq!((st, me["role"].as_str()), (200, Some("reviewer")));
    let (_, list) = s.get("/api/clusters", &ana).await;
    let clusters = list["clusters"].as_array().unwrap();
    assert!(!clusters.is_empty());
    assert!(!list.to_string().contains("dev-"), "device ids never reach reviewers");
    let id = clusters[0]["cluster_id"].as_str().unwrap().to_owned();
    let (st, d) = s.get(&format!("/api/clusters/{id}"), &ana).await;
    assert_eq!(st, 200);
    assert!(!d["magnitudes_mps2"].as_array().unwrap().is_empty());
    assert!(
        d["example_trace"]["values_mps2"]
            .as_array()
            .is_some_and(|v| v.len() > 5),
        "{d}"
    );
    assert!(!d.to_string().contains("trip-0"), "trip ids never reach reviewers");
    // Passes per day come from the stored coverage of the cluster's cells:
    // every trip that hit it passed it.
    let per_day: u64 = d["passes_per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["passes"].as_u64().unwrap())
        .sum();
    assert!(per_day >= clusters[0]["trips"].as_u64().unwrap() && per_day > 0, "{d}");
    assert_eq!(s.get("/api/clusters/8d2a306638a9a3f", &ana).await.0, 404);
    // Where the six trips drove, from the stored coverage, by period.
    let (st, cov) = s.get("/api/coverage", &ana).await;
    assert_eq!(st, 200, "{cov}");
    let cells = cov["cells"].as_array().unwrap();
    assert!(cells.len() > 10, "{cov}");
    assert!(
        cells.iter().all(|c| (1..=6).contains(&c["trips"].as_u64().unwrap())),
        "{cov}"
    );
    let (_, later) = s.get("/api/coverage?since=2026-04-02", &ana).await;
    assert_eq!(
        later["cells"].as_array().map(Vec::len),
        Some(0),
        "the trips drove on 2026-04-01: {later}"
    );
    let (_, that_day) = s.get("/api/coverage?since=2026-04-01&until=2026-04-01", &ana).await;
    assert_eq!(that_day["cells"], cov["cells"]);

    // Bad actions are named.
    let (st, v) = s
        .post(
            &format!("/api/clusters/{id}/actions"),
            &ana,
            serde_json::json!({"action": "delete"}),
        )
        .await;
    assert_eq!((st, v["field"].as_str()), (400, Some("action")));
    let (st, v) = s
        .post(
            &format!("/api/clusters/{id}/actions"),
            &ana,
            serde_json::json!({"action": "reclassify", "class": "crater"}),
        )
        .await;
    assert_eq!((st, v["field"].as_str()), (400, Some("class")));
    // Reclassify, then dismiss: the list shows both, the audit log who did it.
    let (st, v) = s
        .post(
            &format!("/api/clusters/{id}/actions"),
            &ana,
            serde_json::json!({"action": "reclassify", "class": "casting"}),
        )
        .await;
    assert_eq!(
        (st, v["class"].as_str(), v["class_source"].as_str()),
        (200, Some("casting"), Some("review"))
    );
    let (st, v) = s
        .post(
            &format!("/api/clusters/{id}/actions"),
            &ana,
            serde_json::json!({"action": "dismiss", "note": "a drain"}),
        )
        .await;
    assert_eq!((st, v["effective_status"].as_str()), (200, Some("dismissed")));
    let (_, list) = s.get("/api/clusters?status=dismissed", &ana).await;
    assert_eq!(list["total"], 1);
    // Reviewers cannot read the audit log; admins can, with who and when.
    assert_eq!(s.get("/api/audit", &ana).await.0, 403);
    let root = s.login("root").await;
    let (st, log) = s.get("/api/audit", &root).await;
    assert_eq!(st, 200);
    let entries = log["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "review.dismiss" && e["actor"] == "ana" && e["subject"] == id.as_str())
    );
    // Sign-out ends the session.
    let r = s
        .http
        .post(format!("{}/api/logout", s.url))
        .header("cookie", &ana)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(s.get("/api/me", &ana).await.0, 401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_passwords_is_slowed_down() {
    let s = Server::start(|_| {}).await;
    let attempt = |pw: &'static str| {
        let s = &s;
        async move {
            s.http
                .post(format!("{}/api/login", s.url))
                .header("content-type", "application/json")
                .body(serde_json::json!({"username": "ana", "password": pw}).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong").await, 401);
    }
    assert_eq!(attempt("wrong").await, 429);
    assert_eq!(
        attempt(crate::support::PASSWORD).await,
        429,
        "locked for a while, even with the right one"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_answer() {
    let s = Server::start(|_| {}).await;
    let h = s.http.get(format!("{}/healthz", s.url)).send().await.unwrap();
    assert_eq!(h.status().as_u16(), 200);
    let r = s.http.get(format!("{}/openapi.json", s.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = s.http.get(format!("{}/api/openapi.json", s.url)).send().await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert!(doc["paths"]["/api/v1/batches"].is_object());
    for _ in 0..50 {
        if s.http
            .get(format!("{}/readyz", s.url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
            == 200
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        s.http
            .get(format!("{}/readyz", s.url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    s.stop().await;
}
