//! The review page in a real browser, driven through WebDriver: a reviewer
//! signs in, opens a cluster, confirms it, and sees it filed with the city
//! over Open311 (a strict test server standing in for the city's).
//!
//! Needs `chromium` and `chromedriver` (`scripts/install-browser.sh`
//! installs both); without them the test says so and passes, unless
//! `STREETBUMP_REQUIRE_BROWSER=1` is set. Base map tiles come from a local
//! server that answers 404, as a closed network would: the page must work
//! without them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bump_cluster::{CLASSES, Model};
use bump_filing::Registry;
use bump_open311_server::{ServerConfig, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{PASSWORD, Server, fixture_lines};

/// How long anything the page does may take to show.
const WAIT: Duration = Duration::from_secs(20);
/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Ids the page promises (tests and the city's own scripts rely on them).
const STABLE_IDS: [&str; 18] = [
    "login-form",
    "login-username",
    "login-password",
    "login-submit",
    "login-error",
    "whoami",
    "logout",
    "filter-class",
    "filter-status",
    "filter-min-confidence",
    "apply-filters",
    "cluster-list",
    "cluster-detail",
    "detail-class",
    "detail-status",
    "detail-filing",
    "action-confirm",
    "action-result",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_confirms_a_cluster_in_the_browser_and_it_is_filed() {
    let Some((chromedriver, chromium)) = browser_programs() else {
        return;
    };
    let t0 = Instant::now();

    // The city's Open311 endpoint, and the page's base map that is not there.
    let (key_var, key) = key_variable();
    let city = TestServer::start(ServerConfig::example("city.example", &key)).unwrap();
    let tiles = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tiles_url = format!("http://{}/tiles/{{z}}/{{x}}/{{y}}.png", tiles.local_addr().unwrap());
    let tiles_task = tokio::spawn(async move {
        let none = axum::Router::new().fallback(|| async { axum::http::StatusCode::NOT_FOUND });
        let _ = axum::serve(tiles, none).await;
    });

    let s = Server::start_with(
        |cfg| {
            // Whatever class the classifier picks, a confirmation files it...
            cfg.filing.classes = CLASSES.iter().map(ToString::to_string).collect();
            // ...and only a confirmation: no cluster reaches the thresholds,
            // and no scheduled round runs during the test.
            cfg.filing.min_confidence = 2.0;
            cfg.filing.min_trips = usize::MAX;
            cfg.serve.filing_interval_s = 3600.0;
            cfg.serve.tiles_url = tiles_url;
        },
        Some(registry(&city.base_url(), &key_var)),
        Some(model()),
    )
    .await;
    for l in fixture_lines() {
        assert_eq!(s.upload(&l).await.0, 202);
    }
    s.settle(6.0).await;

    let mut browser = match Browser::launch(&chromedriver, &chromium).await {
        Ok(b) => b,
        Err(why) => panic!("cannot start the browser: {why}"),
    };
    let outcome = review(&browser, &s, &city).await;
    if let Err(why) = outcome {
        let shot = match browser.screenshot().await {
            Ok(png) => {
                let path = std::env::temp_dir().join(format!(
                    "streetbump-browser-{}-{}.png",
                    std::process::id(),
                    chrono::Utc::now().timestamp_millis()
                ));
                match std::fs::write(&path, png) {
                    Ok(()) => format!("screenshot of the page: {}", path.display()),
                    Err(e) => format!("could not write the screenshot to {}: {e}", path.display()),
                }
            }
            Err(e) => format!("could not take a screenshot: {e}"),
        };
        browser.quit().await;
        s.stop().await;
        tiles_task.abort();
        panic!("{why}\n{shot}");
    }
    browser.quit().await;
    s.stop().await;
    tiles_task.abort();
    drop(city);
    eprintln!("browser test: {:.1} s in all", t0.elapsed().as_secs_f64());
}

/// Signs in as a reviewer, confirms the first cluster that is not a known
/// obstacle, waits until the page shows it filed, and checks the city got
/// exactly one request for it.
async fn review(b: &Browser, s: &Server, city: &TestServer) -> Result<(), String> {
    let t0 = Instant::now();
    b.call(Method::POST, "/url", Some(json!({"url": format!("{}/", s.url)})))
        .await?;
    let mut missing = Vec::new();
    for id in STABLE_IDS {
        if b.find(&format!("#{id}")).await?.is_none() {
            missing.push(id);
        }
    }
    if !missing.is_empty() {
        return Err(format!("the page has no element with id {}", missing.join(", ")));
    }

    // Sign in.
    let user = until("the sign-in form", async || {
        let el = b.find("#login-username").await?;
        Ok(match el {
            Some(el) if b.displayed(&el).await? => Some(el),
            _ => None,
        })
    })
    .await?;
    b.type_text(&user, "ana").await?;
    let pw = b.find("#login-password").await?.ok_or("no #login-password")?;
    b.type_text(&pw, PASSWORD).await?;
    let submit = b.find("#login-submit").await?.ok_or("no #login-submit")?;
    b.click(&submit).await?;
    until("#whoami to name ana", async || {
        let Some(who) = b.find("#whoami").await? else {
            return Ok(None);
        };
        let text = b.text(&who).await?;
        if text.contains("ana") {
            return Ok(Some(()));
        }
        let error = match b.find("#login-error").await? {
            Some(e) => b.text(&e).await?,
            None => String::new(),
        };
        if error.is_empty() {
            Ok(None)
        } else {
            Err(format!("#login-error says {error:?}"))
        }
    })
    .await?;

    // The list, in the page's order; the first cluster not a known obstacle.
    let rows = until("cluster rows", async || {
        let mut ids = Vec::new();
        for el in b.find_all(".cluster-row").await? {
            ids.push(b.attribute(&el, "data-cluster-id").await?);
        }
        Ok((!ids.is_empty()).then_some(ids))
    })
    .await?;
    let cookie = s.login("ana").await;
    let (st, list) = s.get("/api/clusters", &cookie).await;
    if st != 200 {
        return Err(format!("GET /api/clusters: {st} {list}"));
    }
    let api = list["clusters"].as_array().cloned().unwrap_or_default();
    let id = rows
        .iter()
        .flatten()
        .find(|id| {
            api.iter()
                .any(|c| c["cluster_id"].as_str() == Some(id.as_str()) && c["known"].is_null())
        })
        .cloned()
        .ok_or_else(|| format!("no row of {rows:?} is a cluster that is not a known obstacle: {list}"))?;
    let row = format!(".cluster-row[data-cluster-id=\"{id}\"]");
    eprintln!(
        "browser test: signed in, {} rows, opening {id} after {:.1} s",
        rows.len(),
        t0.elapsed().as_secs_f64()
    );

    // Open it.
    b.click_when_there(&row).await?;
    until(&format!("#cluster-detail to show cluster {id}"), async || {
        let Some(detail) = b.find("#cluster-detail").await? else {
            return Ok(None);
        };
        if !b.displayed(&detail).await? {
            return Ok(None);
        }
        let Some(filing) = b.find("#detail-filing").await? else {
            return Ok(None);
        };
        let heading = b.text(&detail).await?;
        let filing = b.text(&filing).await?;
        Ok((heading.contains(&id) && !filing.is_empty()).then_some(()))
    })
    .await?;

    // Confirm and file.
    b.click_when_there("#action-confirm").await?;
    until("#action-result to say the action was done", async || {
        let Some(r) = b.find("#action-result").await? else {
            return Ok(None);
        };
        let text = b.text(&r).await?;
        match b.attribute(&r, "class").await?.as_deref() {
            Some("ok") => Ok(Some(())),
            Some("error") => Err(format!("#action-result says {text:?}")),
            _ => Ok(None),
        }
    })
    .await?;
    let right_after = match b.find("#detail-filing").await? {
        Some(f) => b.text(&f).await?,
        None => String::new(),
    };
    eprintln!("browser test: right after confirming, #detail-filing says {right_after:?}");
    // The page polls every 30 s; opening the row again re-reads it sooner.
    let mut clicked = Instant::now();
    let shown = until(&format!("#detail-filing of {id} to say \"filed\""), async || {
        let text = match b.find("#detail-filing").await? {
            Some(f) => b.text(&f).await?,
            None => String::new(),
        };
        if text.starts_with("filed") {
            return Ok(Some(text));
        }
        if clicked.elapsed() >= Duration::from_secs(2) {
            clicked = Instant::now();
            if let Some(r) = b.find(&row).await? {
                b.click(&r).await?;
            }
        }
        Ok(None)
    })
    .await?;
    eprintln!(
        "browser test: the page shows {shown:?} after {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // The city has it, once.
    let requests: Vec<_> = city
        .requests()
        .into_iter()
        .filter(|r| r.description.as_deref().is_some_and(|d| d.contains(&id)))
        .collect();
    if requests.len() != 1 {
        return Err(format!(
            "the Open311 server got {} requests for cluster {id}, not one: {requests:?}",
            requests.len()
        ));
    }
    let want = format!("filed {}", requests[0].service_request_id);
    if shown != want {
        return Err(format!("#detail-filing says {shown:?}, the Open311 server {want:?}"));
    }

    // Filtered by status "filed", the list is that cluster alone.
    b.click_when_there("#filter-status option[value=\"filed\"]").await?;
    b.click_when_there("#apply-filters").await?;
    until("the list filtered by status \"filed\"", async || {
        let mut ids = Vec::new();
        for el in b.find_all(".cluster-row").await? {
            ids.push(b.attribute(&el, "data-cluster-id").await?);
        }
        Ok((ids == [Some(id.clone())]).then_some(()))
    })
    .await?;
    Ok(())
}

/// Retries `probe` every 100 ms until it gives a value, for [`WAIT`] at
/// most. An error is retried too (an element replaced while it was read),
/// and named when time runs out.
async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Result<Option<T>, String>) -> Result<T, String> {
    let start = Instant::now();
    let mut last = None;
    loop {
        match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = Some(e),
        }
        if start.elapsed() >= WAIT {
            let why = last.map(|e| format!(" (last error: {e})")).unwrap_or_default();
            return Err(format!("waited {} s for {what} in vain{why}", WAIT.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `chromedriver` and `chromium`, or `None` (after saying why) when either
/// is missing and the browser is not required.
fn browser_programs() -> Option<(PathBuf, PathBuf)> {
    let found = (program("chromedriver"), program("chromium"));
    if let (Some(d), Some(c)) = found {
        return Some((d, c));
    }
    let missing: Vec<&str> = [("chromedriver", &found.0), ("chromium", &found.1)]
        .into_iter()
        .filter(|(_, p)| p.is_none())
        .map(|(n, _)| n)
        .collect();
    let why = format!(
        "{} {} not installed (scripts/install-browser.sh installs them)",
        missing.join(" and "),
        if missing.len() == 1 { "is" } else { "are" }
    );
    assert!(
        std::env::var("STREETBUMP_REQUIRE_BROWSER").as_deref() != Ok("1"),
        "STREETBUMP_REQUIRE_BROWSER=1 but {why}"
    );
    eprintln!("skipped: the browser test cannot run: {why}");
    None
}

/// An executable of that name on `PATH` or in /usr/bin.
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The variable the registry names for the API key, and its value.
///
/// The filer reads keys from the environment by name, and this workspace
/// forbids `unsafe` (so no `std::env::set_var`): the registry names a
/// variable the test process already has, and the Open311 server is given
/// its value as the key. Cargo sets `CARGO_PKG_NAME` for every test it runs;
/// a binary started by hand uses the first other variable that will do.
fn key_variable() -> (String, String) {
    let usable = |name: &str, value: &str| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !value.trim().is_empty()
    };
    let preferred = std::env::var("CARGO_PKG_NAME")
        .ok()
        .filter(|v| usable("CARGO_PKG_NAME", v))
        .map(|v| ("CARGO_PKG_NAME".to_owned(), v));
    preferred
        .or_else(|| {
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .find(|(k, v)| usable(k, v))
        })
        .expect("no environment variable can carry the test's API key")
}

/// One municipality around Boston (the fixture city), filing every class
/// to `endpoint`.
fn registry(endpoint: &str, key_var: &str) -> Registry {
    let codes: serde_json::Map<String, Value> = CLASSES.iter().map(|c| ((*c).to_owned(), json!("REQPOTHL"))).collect();
    let g = json!({"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[
            [-71.2, 42.2], [-70.9, 42.2], [-70.9, 42.5], [-71.2, 42.5], [-71.2, 42.2]
        ]]},
        "properties": {
            "name": "Boston",
            "jurisdiction_id": "city.example",
            "endpoint": endpoint,
            "format": "json",
            "api_key_env": key_var,
            "service_codes": codes,
        },
    }]});
    Registry::from_geojson(&g.to_string(), "the browser test's registry").unwrap()
}

/// The committed signature classifier: without one every cluster is
/// `unknown`, a class never filed.
fn model() -> Model {
    let path = bump_fixtures::workspace_root().join("models/signature.json");
    let m: Model = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    m.check().unwrap();
    m
}

/// `chromedriver` and one headless Chromium session; both end on drop.
struct Browser {
    driver: Child,
    base: String,
    session: Option<String>,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn launch(chromedriver: &Path, chromium: &Path) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", chromedriver.display()))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let mut b = Self {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: None,
            http,
            _profile: profile,
        };
        until("chromedriver to be ready", async || {
            let r = b.http.get(format!("{}/status", b.base)).send().await;
            let Ok(r) = r else { return Ok(None) };
            let v: Value = serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or_default();
            Ok((v["value"]["ready"] == true).then_some(()))
        })
        .await?;
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain([format!("--user-data-dir={}", b._profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"implicit": 0, "pageLoad": 30_000, "script": 10_000},
            "goog:chromeOptions": {"binary": chromium.display().to_string(), "args": args},
        }}});
        let v = b.send(Method::POST, "/session", Some(caps)).await?;
        let id = v["sessionId"].as_str().ok_or_else(|| format!("no session id in {v}"))?;
        b.session = Some(id.to_owned());
        Ok(b)
    }

    /// A WebDriver command; its `value`, or the error it names.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let mut rq = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            rq = rq.header("content-type", "application/json").body(body.to_string());
        }
        let r = rq.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = r.status();
        let text = r.text().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{method} {path}: {e}: {text}"))?;
        if status.is_success() {
            Ok(v["value"].clone())
        } else {
            let e = &v["value"];
            Err(format!(
                "{method} {path}: {status} {}: {}",
                e["error"].as_str().unwrap_or_default(),
                e["message"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
            ))
        }
    }

    /// A command of the session.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let session = self.session.as_deref().ok_or("no session")?;
        self.send(method, &format!("/session/{session}{path}"), body).await
    }

    /// The first element matching a CSS selector, if any.
    async fn find(&self, css: &str) -> Result<Option<String>, String> {
        Ok(self.find_all(css).await?.into_iter().next())
    }

    async fn find_all(&self, css: &str) -> Result<Vec<String>, String> {
        let v = self
            .call(
                Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
            .collect())
    }

    async fn text(&self, el: &str) -> Result<String, String> {
        let v = self.call(Method::GET, &format!("/element/{el}/text"), None).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    async fn attribute(&self, el: &str, name: &str) -> Result<Option<String>, String> {
        let v = self
            .call(Method::GET, &format!("/element/{el}/attribute/{name}"), None)
            .await?;
        Ok(v.as_str().map(str::to_owned))
    }

    async fn displayed(&self, el: &str) -> Result<bool, String> {
        let v = self
            .call(Method::GET, &format!("/element/{el}/displayed"), None)
            .await?;
        Ok(v == true)
    }

    async fn click(&self, el: &str) -> Result<(), String> {
        self.call(Method::POST, &format!("/element/{el}/click"), Some(json!({})))
            .await
            .map(drop)
    }

    /// Clicks the element matching `css` once it is there and enabled
    /// (retrying while the page re-renders it).
    async fn click_when_there(&self, css: &str) -> Result<(), String> {
        until(&format!("{css} to be clickable"), async || {
            let Some(el) = self.find(css).await? else {
                return Ok(None);
            };
            if !self.displayed(&el).await? {
                return Ok(None);
            }
            let enabled = self.call(Method::GET, &format!("/element/{el}/enabled"), None).await?;
            if enabled != true {
                return Ok(None);
            }
            self.click(&el).await.map(Some)
        })
        .await
    }

    async fn type_text(&self, el: &str, text: &str) -> Result<(), String> {
        self.call(
            Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await
        .map(drop)
    }

    /// The viewport as PNG.
    async fn screenshot(&self) -> Result<Vec<u8>, String> {
        let v = self.call(Method::GET, "/screenshot", None).await?;
        base64_decode(v.as_str().ok_or("the screenshot is not a string")?)
    }

    /// Ends the session (Chromium quits); chromedriver ends on drop.
    async fn quit(&mut self) {
        if let Some(s) = &self.session {
            let _ = self.send(Method::DELETE, &format!("/session/{s}"), None).await;
            self.session = None;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed half-way still closes Chromium: killing
        // chromedriver alone would leave it running.
        if let Some(s) = self.session.take() {
            let addr = self.base.trim_start_matches("http://").to_owned();
            let _ = delete_blocking(&addr, &format!("/session/{s}"));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE path` over plain HTTP/1.1, without a runtime (for `Drop`).
fn delete_blocking(addr: &str, path: &str) -> std::io::Result<()> {
    let mut c = std::net::TcpStream::connect(addr)?;
    c.set_read_timeout(Some(Duration::from_secs(10)))?;
    c.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(c, "DELETE {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut reply = Vec::new();
    c.read_to_end(&mut reply)?;
    Ok(())
}

/// Standard base64 (with padding), as WebDriver sends screenshots.
fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    fn sextet(c: u8) -> Option<u32> {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        Some(u32::from(v))
    }
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let body = clean
        .strip_suffix(b"==")
        .or_else(|| clean.strip_suffix(b"="))
        .unwrap_or(&clean);
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= sextet(c).ok_or("the screenshot is not base64")? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Ok(out)
}
