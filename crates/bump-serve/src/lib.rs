/*!
`streetbump serve`: one process, one data directory.

- [`ingest`]: phones upload trip batches (`POST /api/v1/batches`),
  acknowledged once durably stored, idempotent per (trip, seq).
- [`pipeline`]: the replay's stages as tokio tasks over bounded channels;
  the filer and status sync on a schedule; raw-batch retention.
- [`api`]: the review API; the web page (`assets/`) is served at `/`.
- [`auth`]: device tokens, reviewers' passwords and sessions.
- [`metrics`]: Prometheus text at `/metrics`; `/healthz`, `/readyz`.

Shutdown (SIGTERM or Ctrl-C, or the future given to [`run`]): uploads get
503 at once, the HTTP server stops taking connections and finishes the
requests it has, the scheduler stops handing out trips, the workers finish
theirs and the clusterer commits them, then the store is closed. Whatever
is left is durable and picked up at the next start.
*/

pub mod api;
pub mod auth;
pub mod commit;
pub mod ingest;
pub mod metrics;
pub mod pipeline;
pub mod scale;
pub mod state;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bump_cluster::{KnownObstacle, Model};
use bump_filing::Registry;
use bump_pipeline::PipelineConfig;
use bump_store::Store;
use tokio::sync::{Notify, watch};

use crate::state::{AppState, Snapshot};

/// What `serve` needs.
#[derive(Debug)]
pub struct ServeOptions {
    /// Configuration.
    pub cfg: PipelineConfig,
    /// Opened store.
    pub store: Store,
    /// Listen address (overrides `[serve] listen`).
    pub listen: Option<SocketAddr>,
    /// Jurisdictions, when filing.
    pub registry: Option<Registry>,
    /// Signature classifier.
    pub model: Option<Model>,
    /// The city's inventory.
    pub inventory: Vec<KnownObstacle>,
    /// Whether the pipeline runs on what is stored. Without it the server
    /// only takes uploads: batches are stored, acknowledged and left
    /// pending for the next server that processes them (how the benchmark
    /// measures the upload path alone).
    pub process: bool,
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: String,
        /// OS error.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Http(std::io::Error),
}

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");
const OPENAPI: &str = include_str!("../../../docs/openapi.json");

fn asset(ctype: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let snap = state.snapshot();
    let mut by_class: BTreeMap<String, usize> = BTreeMap::new();
    for v in &snap.clusters {
        *by_class.entry(v.class.class.clone()).or_default() += 1;
    }
    let body = state.metrics.render(
        state.pending.load(Ordering::Relaxed),
        state.queued_trips.load(Ordering::Relaxed),
        &by_class,
        &state.store.write_times(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Relaxed) && state.accepting.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

/// The HTTP routes.
pub fn router(state: Arc<AppState>) -> Router {
    router_for(state, true, true)
}

/// The routes of an ingest and/or review process (health, readiness and
/// metrics always).
pub fn router_for(state: Arc<AppState>, ingest: bool, review: bool) -> Router {
    let limit = state.cfg.serve.max_body_bytes;
    let mut r = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if ingest {
        r = r.route("/api/v1/batches", post(ingest::upload));
    }
    if review {
        r = r.merge(review_routes());
    }
    r.layer(DefaultBodyLimit::max(limit)).with_state(state)
}

fn review_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route(
            "/api/openapi.json",
            get(|| async { asset("application/json", OPENAPI) }),
        )
        .route("/api/login", post(api::login))
        .route("/api/logout", post(api::logout))
        .route("/api/me", get(api::me))
        .route("/api/config", get(api::config))
        .route("/api/clusters", get(api::clusters))
        .route("/api/clusters/{id}", get(api::cluster))
        .route("/api/clusters/{id}/actions", post(api::act))
        .route("/api/coverage", get(api::coverage))
        .route("/api/audit", get(api::audit))
}

/// The state for `opts`, before anything runs.
#[must_use]
pub fn state(opts: ServeOptions) -> Arc<AppState> {
    Arc::new(AppState {
        store: opts.store,
        cfg: opts.cfg,
        registry: opts.registry,
        model: opts.model,
        inventory: opts.inventory,
        snapshot: std::sync::RwLock::new(Arc::new(Snapshot::default())),
        batch_stored: Notify::new(),
        recompute: Notify::new(),
        pending: AtomicUsize::new(0),
        queued_trips: AtomicUsize::new(0),
        accepting: AtomicBool::new(true),
        ready: AtomicBool::new(false),
        metrics: metrics::Metrics::default(),
        logins: auth::LoginLimiter::default(),
        filing: tokio::sync::Mutex::new(()),
        kafka: None,
        commits: commit::Committer::default(),
    })
}

/// Runs until `shutdown` completes, then stops gracefully. `on_listen` is
/// called with the bound address (port 0 picks one).
///
/// # Errors
///
/// [`ServeError`] when the address cannot be bound or the server fails.
pub async fn run(
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listen: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let addr = match opts.listen {
        Some(a) => a.to_string(),
        None => opts.cfg.serve.listen.clone(),
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.clone(),
            source,
        })?;
    let local = listener.local_addr().map_err(ServeError::Http)?;
    let process = opts.process;
    let state = state(opts);
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks = if process {
        pipeline::spawn(Arc::clone(&state), stop_rx)
    } else {
        Vec::new()
    };
    on_listen(local);
    tracing::info!(message = "Listening.", addr = %local);
    let st = Arc::clone(&state);
    let result = axum::serve(listener, router(Arc::clone(&state)))
        .with_graceful_shutdown(async move {
            shutdown.await;
            st.accepting.store(false, Ordering::Relaxed);
            tracing::info!(message = "Shutting down: draining.");
        })
        .await;
    state.accepting.store(false, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    tracing::info!(message = "Stopped.");
    result.map_err(ServeError::Http)
}

/// Why a role process could not start.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// The `[kafka]` section.
    #[error("{0}")]
    Config(String),
    /// The broker.
    #[error(transparent)]
    Kafka(#[from] bump_kafka::Error),
    /// The HTTP side.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// Runs `roles` of the Kafka runtime until `shutdown` completes, then
/// stops gracefully. `on_listen` is called with the bound address when a
/// role serves HTTP (ingest, review).
///
/// # Errors
///
/// [`RoleError`] when the configuration is invalid, the topics cannot be
/// created or the address cannot be bound.
pub async fn run_roles(
    opts: ServeOptions,
    roles: &std::collections::BTreeSet<scale::Role>,
    instance_id: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listen: impl FnOnce(SocketAddr),
) -> Result<(), RoleError> {
    let mut kafka = scale::kafka_config(&opts.cfg).map_err(RoleError::Config)?;
    kafka.instance_id = instance_id;
    let created = bump_kafka::ensure_topics(&kafka).await?;
    if !created.is_empty() {
        tracing::info!(message = "Created topics.", topics = ?created);
    }
    let http = scale::serves_http(roles);
    let listener = if http {
        let addr = match opts.listen {
            Some(a) => a.to_string(),
            None => opts.cfg.serve.listen.clone(),
        };
        Some(
            tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|source| ServeError::Bind { addr, source })?,
        )
    } else {
        None
    };
    let mut st = state(opts);
    if roles.contains(&scale::Role::Ingest)
        && let Some(s) = Arc::get_mut(&mut st)
    {
        s.kafka = Some(scale::sink(&kafka)?);
    }
    let state = st;
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks = scale::spawn(&state, &kafka, roles, &stop_rx).await?;
    tracing::info!(message = "Roles started.", roles = ?roles);
    let result = if let Some(listener) = listener {
        let local = listener.local_addr().map_err(ServeError::Http)?;
        on_listen(local);
        tracing::info!(message = "Listening.", addr = %local);
        let st = Arc::clone(&state);
        let app = router_for(
            Arc::clone(&state),
            roles.contains(&scale::Role::Ingest),
            roles.contains(&scale::Role::Review),
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                st.accepting.store(false, Ordering::Relaxed);
                tracing::info!(message = "Shutting down: draining.");
            })
            .await
            .map_err(ServeError::Http)
    } else {
        shutdown.await;
        Ok(())
    };
    state.accepting.store(false, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    let mut tasks = tasks;
    let drain = async {
        for t in &mut tasks {
            let _ = t.await;
        }
    };
    // A task waiting on an unreachable broker or database could hold the
    // process for minutes (librdkafka's message timeout is 5). Whatever it
    // had not finished is delivered again, so stopping is safe.
    if tokio::time::timeout(ROLE_DRAIN, drain).await.is_err() {
        tracing::warn!(
            message = "Tasks still busy after the drain time; stopping anyway (their input is delivered again).",
            drain_s = ROLE_DRAIN.as_secs()
        );
        for t in &tasks {
            t.abort();
        }
    }
    tracing::info!(message = "Stopped.");
    result.map_err(RoleError::Serve)
}

/// Longest a role process waits for its tasks to finish after a stop.
const ROLE_DRAIN: std::time::Duration = std::time::Duration::from_secs(15);

/// Completes on SIGTERM or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
