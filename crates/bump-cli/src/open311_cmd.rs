/*!
`streetbump open311 …` and the filing step of `streetbump replay --file`.

The filing runs on a current-thread tokio runtime made here: the rest of
the CLI is synchronous, and filing is a few HTTP calls at a time.
*/

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bump_filing::{Candidate, Filer, MemoryOutbox, Outbox, PlannedOutcome, Registry};
use bump_open311::{Client, EndpointConfig};
use bump_pipeline::PipelineConfig;
use bump_store::Store;
use clap::{Args, Subcommand};
use geo::InteriorPoint;

/// Open311 filing commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Open311Command {
    /// Check the jurisdiction registry against each endpoint: discovery,
    /// service codes, API keys.
    Check(CommonArgs),
    /// Deliver pending filings and read the status of filed requests.
    Sync(CommonArgs),
    /// List the filings in the store.
    Status(CommonArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// Configuration file (default: built-in defaults, as in pipeline.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Jurisdiction registry; overrides pipeline.toml's [filing] registry.
    #[arg(long)]
    registry: Option<PathBuf>,
    /// Data directory; overrides pipeline.toml's [store] data_dir.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(crate) fn load_registry(cfg: &PipelineConfig, flag: Option<&PathBuf>) -> anyhow::Result<Registry> {
    let path = flag
        .cloned()
        .or_else(|| (!cfg.filing.registry.is_empty()).then(|| PathBuf::from(&cfg.filing.registry)))
        .context("no jurisdiction registry: set [filing] registry in pipeline.toml or pass --registry")?;
    Ok(Registry::load(&path)?)
}

fn env_key(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn failpoint() -> Option<String> {
    std::env::var("STREETBUMP_FAILPOINT").ok().filter(|s| !s.is_empty())
}

/// Options of the filing step of a replay.
#[derive(Debug)]
pub(crate) struct FileOptions<'a> {
    pub(crate) registry: Option<&'a PathBuf>,
    pub(crate) data_dir: Option<&'a PathBuf>,
    pub(crate) dry_run: bool,
    pub(crate) out: &'a Path,
    pub(crate) quiet: bool,
}

/// Files (or, dry, shows what would be filed for) the candidates, then
/// delivers and syncs. Returns whether everything went through.
pub(crate) fn file(cfg: &PipelineConfig, candidates: &[Candidate], opts: &FileOptions<'_>) -> anyhow::Result<bool> {
    let mut registry = load_registry(cfg, opts.registry)?;
    let data_dir = opts
        .data_dir
        .cloned()
        .unwrap_or_else(|| PathBuf::from(&cfg.store.data_dir));
    let rt = runtime()?;
    rt.block_on(async {
        for p in registry.discover(Duration::from_millis(cfg.filing.timeout_ms)).await {
            eprintln!("filing: {p}");
        }
        let mut o = std::io::stdout().lock();
        if opts.dry_run {
            // Read the store when there is one, never create or change it.
            let plan = if data_dir.join(bump_store::DB_FILE).exists() {
                let store = Store::open(&data_dir).await?;
                Filer::new(&store, &registry, &cfg.filing, &env_key).plan(candidates).await?
            } else {
                let mem = MemoryOutbox::default();
                Filer::new(&mem, &registry, &cfg.filing, &env_key).plan(candidates).await?
            };
            let planned: Vec<_> = plan.into_iter().map(|(p, _)| p).collect();
            write_plan(opts.out, &planned)?;
            for p in &planned {
                if let PlannedOutcome::File {
                    jurisdiction_id,
                    service_code,
                    marker,
                    reopens,
                } = &p.outcome
                {
                    let again = reopens.as_ref().map(|r| format!(" (reopens {r})")).unwrap_or_default();
                    writeln!(
                        o,
                        "would file {} {} -> {jurisdiction_id} {service_code} [{marker}]{again}",
                        p.cluster_id, p.class
                    )?;
                }
            }
            let n = planned
                .iter()
                .filter(|p| matches!(p.outcome, PlannedOutcome::File { .. }))
                .count();
            writeln!(o, "dry run   {n} would be filed; nothing filed, nothing stored")?;
            return Ok(true);
        }
        let store = Store::open(&data_dir).await?;
        let mut filer = Filer::new(&store, &registry, &cfg.filing, &env_key);
        filer.failpoint = failpoint();
        let now = chrono::Utc::now();
        let planned = filer.enqueue(candidates, now).await?;
        write_plan(opts.out, &planned)?;
        let d = filer.deliver(now).await?;
        let s = filer.sync(chrono::Utc::now()).await?;
        if !opts.quiet {
            writeln!(
                o,
                "filing    {} posted, {} filed ({} found after an unknown outcome), {} tokens pending, {} refused, {} deferred",
                d.posted, d.filed, d.reconciled, d.pending_tokens, d.failed, d.deferred
            )?;
            writeln!(o, "status    {} checked, {} newly closed", s.checked, s.closed.len())?;
            writeln!(o, "store     {}", store.location())?;
        }
        for e in d.errors.iter().chain(&s.errors) {
            eprintln!("filing: {e}");
        }
        Ok(d.errors.is_empty() && s.errors.is_empty())
    })
}

fn write_plan(out: &Path, planned: &[bump_filing::Planned]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join("filing.json");
    std::fs::write(&path, serde_json::to_vec_pretty(planned)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

pub(crate) fn run(cmd: &Open311Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Open311Command::Check(a) => check(a),
        Open311Command::Sync(a) => sync(a),
        Open311Command::Status(a) => status(a),
    }
}

fn data_dir(cfg: &PipelineConfig, a: &CommonArgs) -> PathBuf {
    a.data_dir.clone().unwrap_or_else(|| PathBuf::from(&cfg.store.data_dir))
}

fn sync(a: &CommonArgs) -> anyhow::Result<ExitCode> {
    let cfg = crate::load_config(a.config.as_ref())?;
    let mut registry = load_registry(&cfg, a.registry.as_ref())?;
    let dir = data_dir(&cfg, a);
    runtime()?.block_on(async {
        for p in registry.discover(Duration::from_millis(cfg.filing.timeout_ms)).await {
            eprintln!("filing: {p}");
        }
        let store = Store::open(&dir).await?;
        let mut filer = Filer::new(&store, &registry, &cfg.filing, &env_key);
        filer.failpoint = failpoint();
        let d = filer.deliver(chrono::Utc::now()).await?;
        let s = filer.sync(chrono::Utc::now()).await?;
        let mut o = std::io::stdout().lock();
        writeln!(
            o,
            "filing    {} posted, {} filed, {} tokens pending, {} refused, {} deferred",
            d.posted, d.filed, d.pending_tokens, d.failed, d.deferred
        )?;
        writeln!(o, "status    {} checked, {} newly closed", s.checked, s.closed.len())?;
        for (cluster, id) in &s.closed {
            writeln!(o, "closed    {id} (cluster {cluster}): fixed")?;
        }
        for e in d.errors.iter().chain(&s.errors) {
            eprintln!("filing: {e}");
        }
        Ok(if d.errors.is_empty() && s.errors.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

fn status(a: &CommonArgs) -> anyhow::Result<ExitCode> {
    let cfg = crate::load_config(a.config.as_ref())?;
    let dir = data_dir(&cfg, a);
    if !dir.join(bump_store::DB_FILE).exists() {
        anyhow::bail!("no store in {}", dir.display());
    }
    runtime()?.block_on(async {
        let store = Store::open(&dir).await?;
        let mut o = std::io::stdout().lock();
        writeln!(
            o,
            "{:<28} {:<8} {:<18} {:<10} {:<16} error",
            "marker", "state", "jurisdiction", "code", "request"
        )?;
        for f in store.filings().await? {
            writeln!(
                o,
                "{:<28} {:<8} {:<18} {:<10} {:<16} {}",
                f.marker,
                f.state.as_str(),
                f.jurisdiction_id,
                f.service_code,
                f.service_request_id.as_deref().or(f.token.as_deref()).unwrap_or("-"),
                f.last_error.as_deref().unwrap_or("")
            )?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn check(a: &CommonArgs) -> anyhow::Result<ExitCode> {
    let cfg = crate::load_config(a.config.as_ref())?;
    let registry = load_registry(&cfg, a.registry.as_ref())?;
    let timeout = Duration::from_millis(cfg.filing.timeout_ms);
    let problems = runtime()?.block_on(async {
        let mut problems = 0usize;
        let mut o = std::io::stdout().lock();
        for j in &registry.jurisdictions {
            writeln!(o, "{} ({})", j.name, j.jurisdiction_id)?;
            let mut bad = |o: &mut std::io::StdoutLock<'_>, msg: String| -> std::io::Result<()> {
                problems += 1;
                writeln!(o, "  PROBLEM  {msg}")
            };
            if let Some(url) = &j.discovery {
                match Client::discover(url, timeout).await {
                    Ok(d) => match d.georeport_v2("production").or_else(|| d.georeport_v2("test")) {
                        Some(e) => writeln!(o, "  ok       discovery lists {} ({:?})", e.url, e.formats)?,
                        None => bad(&mut o, format!("discovery {url} lists no GeoReport v2 endpoint"))?,
                    },
                    Err(e) => bad(&mut o, format!("discovery: {e}"))?,
                }
            }
            let Some(base) = &j.endpoint else {
                writeln!(o, "  note     no endpoint: clusters here are kept and shown, never filed")?;
                continue;
            };
            let mut ec = EndpointConfig::new(base, j.format);
            ec.timeout = timeout;
            ec.jurisdiction_id = j.send_jurisdiction_id.then(|| j.jurisdiction_id.clone());
            let var = j.api_key_env.clone().unwrap_or_default();
            ec.api_key = std::env::var(&var).ok().filter(|k| !k.trim().is_empty());
            if ec.api_key.is_none() {
                bad(&mut o, format!("the API key variable {var} is not set"))?;
            }
            let client = match Client::new(ec) {
                Ok(c) => c,
                Err(e) => {
                    bad(&mut o, e.to_string())?;
                    continue;
                }
            };
            match client.services().await {
                Ok(services) => {
                    for (class, code) in &j.service_codes {
                        match services.iter().find(|s| &s.service_code == code) {
                            Some(s) => {
                                writeln!(o, "  ok       {class} -> {code} ({:?}, {:?})", s.service_name.as_deref().unwrap_or(""), s.kind)?;
                                if s.metadata {
                                    match client.service_definition(code).await {
                                        Ok(def) => {
                                            let sent = j.attributes.get(class).cloned().unwrap_or_default();
                                            for attr in def.attributes.iter().filter(|x| x.required && x.variable) {
                                                if !sent.iter().any(|(k, _)| *k == attr.code) {
                                                    bad(&mut o, format!("{code} requires attribute {}, which the registry does not send", attr.code))?;
                                                }
                                            }
                                        }
                                        Err(e) => bad(&mut o, format!("definition of {code}: {e}"))?,
                                    }
                                }
                            }
                            None => bad(&mut o, format!("service code {code} (for {class}) is not in the service list"))?,
                        }
                    }
                }
                Err(e) => bad(&mut o, format!("service list: {e}"))?,
            }
            if client.config().api_key.is_some() {
                let p = j.boundary.interior_point();
                match p {
                    Some(p) => match client.probe_key(p.y(), p.x()).await {
                        Ok(true) => writeln!(o, "  ok       API key accepted")?,
                        Ok(false) => bad(&mut o, format!("the API key in {var} is refused"))?,
                        Err(e) => bad(&mut o, format!("API key check: {e}"))?,
                    },
                    None => bad(&mut o, "the boundary has no interior point".into())?,
                }
            }
        }
        anyhow::Ok(problems)
    })?;
    writeln!(std::io::stdout(), "{problems} problem(s)")?;
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
