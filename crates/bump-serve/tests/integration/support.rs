use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bump_cluster::Model;
use bump_filing::Registry;
use bump_pipeline::PipelineConfig;
use bump_serve::{ServeOptions, auth};
use bump_store::Store;
use tokio::sync::oneshot;

pub(crate) struct Server {
    pub(crate) url: String,
    pub(crate) tokens: BTreeMap<String, String>,
    pub(crate) http: reqwest::Client,
    /// The server's store, for tests that set up what an older server left.
    pub(crate) store: Store,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

pub(crate) const PASSWORD: &str = "a long test password";

/// The committed sample city's batch files.
pub(crate) fn fixture_batches() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(bump_fixtures::fixture("city/trips"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Every batch line of the fixtures, in file order.
pub(crate) fn fixture_lines() -> Vec<String> {
    fixture_batches()
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

pub(crate) fn device_of(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["device_id"].as_str().unwrap().to_owned()
}

impl Server {
    pub(crate) async fn start(tweak: impl FnOnce(&mut PipelineConfig)) -> Self {
        Self::start_with(tweak, None, None).await
    }

    /// As [`Server::start`], with a jurisdiction registry (filing) and a
    /// signature classifier.
    pub(crate) async fn start_with(
        tweak: impl FnOnce(&mut PipelineConfig),
        registry: Option<Registry>,
        model: Option<Model>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut tokens = BTreeMap::new();
        for line in fixture_lines() {
            let d = device_of(&line);
            if tokens.contains_key(&d) {
                continue;
            }
            let t = auth::new_token().unwrap();
            store.add_device(&d, &d, &auth::token_hash(&t)).await.unwrap();
            tokens.insert(d, t);
        }
        store
            .put_user("ana", "reviewer", &auth::hash_password(PASSWORD).unwrap())
            .await
            .unwrap();
        store
            .put_user("root", "admin", &auth::hash_password(PASSWORD).unwrap())
            .await
            .unwrap();
        let mut cfg = PipelineConfig::default();
        cfg.serve.trip_timeout_s = 3600.0;
        tweak(&mut cfg);
        let opts = ServeOptions {
            cfg,
            store: store.clone(),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            registry,
            model,
            inventory: Vec::new(),
            process: true,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let (addr_tx, addr_rx) = oneshot::channel::<SocketAddr>();
        let task = tokio::spawn(async move {
            bump_serve::run(
                opts,
                async move {
                    let _ = stopped.await;
                },
                move |a| {
                    let _ = addr_tx.send(a);
                },
            )
            .await
            .unwrap();
        });
        let addr = addr_rx.await.unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            url: format!("http://{addr}"),
            tokens,
            http,
            store,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Uploads one batch line with its device's token.
    pub(crate) async fn upload(&self, line: &str) -> (u16, serde_json::Value) {
        let token = &self.tokens[&device_of(line)];
        let r = self
            .http
            .post(format!("{}/api/v1/batches", self.url))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(line.to_owned())
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, serde_json::from_str(&r.text().await.unwrap()).unwrap_or_default())
    }

    /// Signs in; returns the cookie header value.
    pub(crate) async fn login(&self, user: &str) -> String {
        let r = self
            .http
            .post(format!("{}/api/login", self.url))
            .header("content-type", "application/json")
            .body(serde_json::json!({"username": user, "password": PASSWORD}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let c = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"), "{c}");
        c.split(';').next().unwrap().to_owned()
    }

    pub(crate) async fn get(&self, path: &str, cookie: &str) -> (u16, serde_json::Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, serde_json::from_str(&r.text().await.unwrap()).unwrap_or_default())
    }

    pub(crate) async fn post(&self, path: &str, cookie: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("cookie", cookie)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, serde_json::from_str(&r.text().await.unwrap()).unwrap_or_default())
    }

    pub(crate) async fn metric(&self, name: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(f64::NAN)
    }

    /// Waits until no batch is pending and `trips` trips were processed.
    pub(crate) async fn settle(&self, trips: f64) {
        for _ in 0..600 {
            if self.metric("streetbump_pending_batches ").await == 0.0
                && self.metric("streetbump_trips_processed_total ").await >= trips
            {
                // One more clustering pass may be in flight.
                tokio::time::sleep(Duration::from_millis(300)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the pipeline did not settle");
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }
}
