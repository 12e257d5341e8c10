/*!
`streetbump serve`, `devices add`, `users add` and `upload`.
*/

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bump_serve::{ServeOptions, auth};
use bump_store::Store;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Configuration file (default: built-in defaults, as in pipeline.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory; overrides pipeline.toml's [store] data_dir.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Listen address; overrides pipeline.toml's [serve] listen (port 0 picks one).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Jurisdiction registry for filing; overrides [filing] registry.
    #[arg(long)]
    registry: Option<PathBuf>,
    /// The city's inventory; overrides [known] inventory.
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Signature classifier; overrides [classify] model.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Demonstration: simulate a city (unless --demo-trips is given),
    /// register its phones and a reviewer, and upload its trips to this
    /// server; print the review page's address and a sign-in.
    #[arg(long)]
    demo: bool,
    /// Trip batches (JSONL) to upload in the demonstration.
    #[arg(long, requires = "demo")]
    demo_trips: Option<PathBuf>,
    /// Kafka runtime (`[runtime] mode = "kafka"`): the roles this process
    /// runs, comma-separated: ingest, detect, cluster, file, review
    /// (default: all of them).
    #[arg(long, value_delimiter = ',')]
    role: Vec<bump_serve::scale::Role>,
    /// Kafka runtime: a stable name for this process (static group
    /// membership): restarted under the same name, it takes its partitions
    /// back at once.
    #[arg(long)]
    instance_id: Option<String>,
}

/// Device commands.
#[derive(Debug, Subcommand)]
pub(crate) enum DevicesCommand {
    /// Register a device (or every device found in trip files) and print
    /// its token; only the token's hash is stored.
    Add(DevicesAdd),
}

#[derive(Debug, Args)]
pub(crate) struct DevicesAdd {
    /// Device id, as the phone puts it in its batches.
    #[arg(long, required_unless_present = "from_trips")]
    device_id: Option<String>,
    /// A name for people.
    #[arg(long, default_value = "")]
    name: String,
    /// Register every device named in these JSONL batch files instead.
    #[arg(long)]
    from_trips: Option<PathBuf>,
    /// Write device id → token as JSON here (for `streetbump upload`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory; overrides [store] data_dir.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// User commands.
#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// Add a reviewer or admin (or reset their password). The password is
    /// read from standard input with --password-stdin, else generated and
    /// printed once.
    Add(UsersAdd),
}

#[derive(Debug, Args)]
pub(crate) struct UsersAdd {
    /// User name.
    #[arg(long)]
    username: String,
    /// reviewer or admin.
    #[arg(long, default_value = "reviewer")]
    role: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory; overrides [store] data_dir.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct UploadArgs {
    /// Batch files (JSONL, one trip batch per line) or folders of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// JSON object of device id → token (from `devices add --out`).
    #[arg(long)]
    tokens: PathBuf,
    /// Send bodies gzip-compressed.
    #[arg(long)]
    gzip: bool,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn data_dir(cfg: &bump_pipeline::PipelineConfig, flag: Option<&PathBuf>) -> PathBuf {
    flag.cloned().unwrap_or_else(|| PathBuf::from(&cfg.store.data_dir))
}

/// The store of the configured runtime: SQLite in the data directory, or
/// the shared PostgreSQL database of the Kafka runtime
/// (`STREETBUMP_DATABASE_URL`, else `[runtime] database_url`).
pub(crate) async fn open_store(cfg: &bump_pipeline::PipelineConfig, dir: &Path) -> anyhow::Result<Store> {
    if cfg.runtime.mode == bump_pipeline::RuntimeMode::Kafka {
        let url = std::env::var("STREETBUMP_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| cfg.runtime.database_url.clone());
        if url.is_empty() {
            anyhow::bail!(
                "the kafka runtime needs a PostgreSQL URL: STREETBUMP_DATABASE_URL or [runtime] database_url"
            );
        }
        Ok(Store::connect(&url).await?)
    } else {
        Ok(Store::open(dir).await?)
    }
}

fn jsonl_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            for e in std::fs::read_dir(p).with_context(|| format!("cannot read {}", p.display()))? {
                let f = e?.path();
                if f.extension().is_some_and(|x| x == "jsonl") {
                    out.push(f);
                }
            }
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    Ok(out)
}

/// Device ids named in batch files.
fn devices_in(paths: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut ids = std::collections::BTreeSet::new();
    for f in jsonl_files(paths)? {
        let file = std::fs::File::open(&f).with_context(|| format!("cannot open {}", f.display()))?;
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value =
                serde_json::from_str(&line).with_context(|| format!("{}:{}: not JSON", f.display(), i + 1))?;
            if let Some(d) = v.get("device_id").and_then(serde_json::Value::as_str) {
                ids.insert(d.to_owned());
            }
            // One line per file is enough to know its device.
            break;
        }
    }
    Ok(ids.into_iter().collect())
}

pub(crate) fn devices(cmd: &DevicesCommand) -> anyhow::Result<ExitCode> {
    let DevicesCommand::Add(a) = cmd;
    let cfg = crate::load_config(a.config.as_ref())?;
    let dir = data_dir(&cfg, a.data_dir.as_ref());
    let ids: Vec<(String, String)> = match (&a.device_id, &a.from_trips) {
        (_, Some(trips)) => devices_in(std::slice::from_ref(trips))?
            .into_iter()
            .map(|d| (d.clone(), d))
            .collect(),
        (Some(id), None) => {
            bump_core::DeviceId::new(id.clone()).map_err(|e| anyhow::anyhow!("--device-id: {e}"))?;
            vec![(id.clone(), if a.name.is_empty() { id.clone() } else { a.name.clone() })]
        }
        (None, None) => anyhow::bail!("give --device-id or --from-trips"),
    };
    let tokens = runtime()?.block_on(async {
        let store = open_store(&cfg, &dir).await?;
        register_or_rotate(&store, &ids).await
    })?;
    match &a.out {
        Some(p) => {
            std::fs::write(p, serde_json::to_vec_pretty(&tokens)?)
                .with_context(|| format!("cannot write {}", p.display()))?;
            writeln!(
                std::io::stdout(),
                "{} device(s) registered; tokens written to {}",
                tokens.len(),
                p.display()
            )?;
        }
        None => {
            for (id, t) in &tokens {
                writeln!(std::io::stdout(), "{id} {t}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn users(cmd: &UsersCommand) -> anyhow::Result<ExitCode> {
    let UsersCommand::Add(a) = cmd;
    if a.role != "reviewer" && a.role != "admin" {
        anyhow::bail!("--role must be reviewer or admin, not {:?}", a.role);
    }
    let cfg = crate::load_config(a.config.as_ref())?;
    let dir = data_dir(&cfg, a.data_dir.as_ref());
    let (password, generated) = if a.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let p = line.trim_end_matches(['\r', '\n']).to_owned();
        if p.chars().count() < 10 {
            anyhow::bail!("the password must have at least 10 characters");
        }
        (p, false)
    } else {
        (auth::new_token().context("no randomness")?[..20].to_owned(), true)
    };
    let hash = auth::hash_password(&password).map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    runtime()?.block_on(async {
        let store = open_store(&cfg, &dir).await?;
        store.put_user(&a.username, &a.role, &hash).await?;
        store.audit("cli", "user.add", &a.username, Some(&a.role)).await?;
        anyhow::Ok(())
    })?;
    if generated {
        writeln!(std::io::stdout(), "{} ({}) password: {password}", a.username, a.role)?;
    } else {
        writeln!(std::io::stdout(), "{} ({}) saved", a.username, a.role)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Uploads every batch line; retries 429/503 and connection failures after
/// `Retry-After` (at most 30 s), up to 20 times per batch.
pub(crate) async fn upload_all(
    url: &str,
    tokens: &BTreeMap<String, String>,
    files: &[PathBuf],
    gzip: bool,
) -> anyhow::Result<(usize, usize, Vec<String>)> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let endpoint = format!("{}/api/v1/batches", url.trim_end_matches('/'));
    let (mut accepted, mut duplicates, mut failures) = (0, 0, Vec::new());
    for f in files {
        let text = std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let device = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("device_id").and_then(|d| d.as_str()).map(str::to_owned))
                .unwrap_or_default();
            let Some(token) = tokens.get(&device) else {
                failures.push(format!("{}:{}: no token for device {device:?}", f.display(), i + 1));
                continue;
            };
            let body = if gzip {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(line.as_bytes())?;
                e.finish()?
            } else {
                line.as_bytes().to_vec()
            };
            let mut attempt = 0;
            loop {
                attempt += 1;
                let mut rb = client
                    .post(&endpoint)
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body.clone());
                if gzip {
                    rb = rb.header("content-encoding", "gzip");
                }
                let wait = match rb.send().await {
                    Ok(r) if r.status().as_u16() == 202 => {
                        let v: serde_json::Value =
                            serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or_default();
                        if v["duplicate"] == true {
                            duplicates += 1;
                        } else {
                            accepted += 1;
                        }
                        break;
                    }
                    Ok(r) if matches!(r.status().as_u16(), 429 | 503) => r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(1)
                        .min(30),
                    Ok(r) => {
                        let s = r.status();
                        let t = r.text().await.unwrap_or_default();
                        failures.push(format!("{}:{}: HTTP {s}: {t}", f.display(), i + 1));
                        break;
                    }
                    Err(_) => 1,
                };
                if attempt >= 20 {
                    failures.push(format!("{}:{}: gave up after {attempt} attempts", f.display(), i + 1));
                    break;
                }
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
        }
    }
    Ok((accepted, duplicates, failures))
}

pub(crate) fn upload(a: &UploadArgs) -> anyhow::Result<ExitCode> {
    let tokens: BTreeMap<String, String> = serde_json::from_slice(
        &std::fs::read(&a.tokens).with_context(|| format!("cannot read {}", a.tokens.display()))?,
    )
    .with_context(|| format!("{}: expected a JSON object of device id -> token", a.tokens.display()))?;
    let files = jsonl_files(&a.paths)?;
    let (accepted, duplicates, failures) = runtime()?.block_on(upload_all(&a.url, &tokens, &files, a.gzip))?;
    writeln!(
        std::io::stdout(),
        "uploaded  {accepted} batches accepted, {duplicates} already there, {} refused",
        failures.len()
    )?;
    for f in &failures {
        eprintln!("error: {f}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Structured logs (JSON lines) on standard error; `RUST_LOG` filters
/// (default `info`).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub(crate) fn serve(a: &ServeArgs) -> anyhow::Result<ExitCode> {
    init_logs();
    let mut cfg = crate::load_config(a.config.as_ref())?;
    let dir = data_dir(&cfg, a.data_dir.as_ref());
    let mut registry = match a
        .registry
        .clone()
        .or_else(|| (!cfg.filing.registry.is_empty()).then(|| PathBuf::from(&cfg.filing.registry)))
    {
        Some(p) => Some(bump_filing::Registry::load(&p)?),
        None => None,
    };
    let model = match a
        .model
        .clone()
        .or_else(|| (!cfg.classify.model.is_empty()).then(|| PathBuf::from(&cfg.classify.model)))
        .or_else(|| {
            a.demo
                .then(|| PathBuf::from("models/signature.json"))
                .filter(|p| p.exists())
        }) {
        Some(p) => Some(crate::classifier_cmd::load_model(&p)?),
        None => None,
    };
    let inventory_path = a
        .inventory
        .clone()
        .or_else(|| (!cfg.known.inventory.is_empty()).then(|| PathBuf::from(&cfg.known.inventory)));
    if a.demo {
        // Uploads in a demonstration arrive all at once: process trips as
        // soon as their final batch is in.
        cfg.serve.max_pending_batches = cfg.serve.max_pending_batches.max(100_000);
    }
    let kafka = cfg.runtime.mode == bump_pipeline::RuntimeMode::Kafka;
    if !a.role.is_empty() && !kafka {
        anyhow::bail!("--role runs a role of the kafka runtime: set [runtime] mode = \"kafka\" in the configuration");
    }
    if kafka && a.demo {
        anyhow::bail!("--demo runs the embedded runtime; the kafka runtime is started role by role");
    }
    let rt = runtime()?;
    rt.block_on(async move {
        if let Some(r) = registry.as_mut() {
            for p in r.discover(Duration::from_millis(cfg.filing.timeout_ms)).await {
                tracing::warn!(message = "Discovery failed; the registry's values stand.", problem = %p);
            }
        }
        let store = open_store(&cfg, &dir).await?;
        let mut demo: Option<(Vec<PathBuf>, BTreeMap<String, String>, String)> = None;
        let mut inventory_path = inventory_path;
        if a.demo {
            let trips = match &a.demo_trips {
                Some(t) => t.clone(),
                None => simulate_demo(&dir)?,
            };
            if inventory_path.is_none() {
                let inv = trips.join("../city/inventory.geojson");
                inventory_path = inv.exists().then_some(inv);
            }
            let files = jsonl_files(std::slice::from_ref(&trips))?;
            let ids: Vec<(String, String)> = devices_in(&files)?.into_iter().map(|d| (d.clone(), d)).collect();
            // Tokens are shown once; a demo on an existing data directory
            // registers its phones again under new tokens.
            let tokens = register_or_rotate(&store, &ids).await?;
            let password = auth::new_token().context("no randomness")?[..16].to_owned();
            let hash = auth::hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
            store.put_user("reviewer", "admin", &hash).await?;
            demo = Some((files, tokens, password));
        }
        let inventory = match &inventory_path {
            Some(p) => bump_replay::inventory::read_inventory(p)?,
            None => Vec::new(),
        };
        let opts = ServeOptions {
            cfg,
            store,
            listen: a.listen,
            registry,
            model,
            inventory,
            process: true,
        };
        if kafka {
            use bump_serve::scale::Role;
            let roles: std::collections::BTreeSet<Role> = if a.role.is_empty() {
                [Role::Ingest, Role::Detect, Role::Cluster, Role::File, Role::Review].into()
            } else {
                a.role.iter().copied().collect()
            };
            bump_serve::run_roles(opts, &roles, a.instance_id.clone(), bump_serve::signal(), |addr| {
                announce(format_args!("listening on http://{addr}"));
            })
            .await?;
            return anyhow::Ok(());
        }
        bump_serve::run(opts, bump_serve::signal(), move |addr| {
            announce(format_args!("listening on http://{addr}"));
            if let Some((files, tokens, password)) = demo {
                tokio::spawn(async move {
                    let url = format!("http://{addr}");
                    match upload_all(&url, &tokens, &files, true).await {
                        Ok((n, d, f)) => announce(format_args!(
                            "demo      {n} batches uploaded ({d} already there, {} refused)",
                            f.len()
                        )),
                        Err(e) => eprintln!("demo upload failed: {e:#}"),
                    }
                    announce(format_args!(
                        "review    open http://{addr}/ and sign in as reviewer / {password}"
                    ));
                });
            }
        })
        .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a line a running server announces and flushes it. A closed or
/// full stdout must not stop the server, so write errors are ignored.
fn announce(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

async fn register_or_rotate(store: &Store, ids: &[(String, String)]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut tokens = BTreeMap::new();
    for (id, name) in ids {
        let token = auth::new_token().context("no randomness")?;
        if store.add_device(id, name, &auth::token_hash(&token)).await.is_err() {
            store.rotate_device_token(id, &auth::token_hash(&token)).await?;
        }
        tokens.insert(id.clone(), token);
    }
    Ok(tokens)
}

/// The demonstration city: 100 trips of 6 minutes (simulated once per data
/// directory).
fn simulate_demo(dir: &Path) -> anyhow::Result<PathBuf> {
    let out = dir.join("demo-city");
    let trips = out.join("trips");
    if !trips.is_dir() {
        writeln!(
            std::io::stdout(),
            "demo      simulating a city (100 trips of 6 minutes)..."
        )?;
        let exe = std::env::current_exe().context("cannot find this program")?;
        let status = std::process::Command::new(exe)
            .args([
                "simulate",
                "--seed",
                "5",
                "--trips",
                "100",
                "--minutes",
                "6",
                "--formats",
                "json",
                "--out",
            ])
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            anyhow::bail!("the simulation failed");
        }
    }
    Ok(trips)
}

/// Kafka runtime commands.
#[derive(Debug, Subcommand)]
pub(crate) enum KafkaCommand {
    /// Re-publish dead letters to the topic they came from, once the cause
    /// is fixed; returns when none has come for --idle-s.
    Redrive(RedriveArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RedriveArgs {
    /// Pipeline configuration with a [kafka] section.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seconds without a dead letter after which it stops.
    #[arg(long, default_value_t = 5.0)]
    idle_s: f64,
}

pub(crate) fn kafka(cmd: &KafkaCommand) -> anyhow::Result<ExitCode> {
    let KafkaCommand::Redrive(a) = cmd;
    let cfg = crate::load_config(a.config.as_ref())?;
    let kafka = bump_serve::scale::kafka_config(&cfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !(a.idle_s.is_finite() && a.idle_s > 0.0 && a.idle_s <= 3600.0) {
        anyhow::bail!("--idle-s must be more than 0 and at most 3600, not {}", a.idle_s);
    }
    let idle = std::time::Duration::from_secs_f64(a.idle_s);
    let done = runtime()?.block_on(bump_kafka::redrive(&kafka, idle))?;
    writeln!(
        std::io::stdout(),
        "re-published {} dead letters; left {} without a source topic",
        done.republished,
        done.skipped
    )?;
    Ok(ExitCode::SUCCESS)
}
