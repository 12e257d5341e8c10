//! `open311-test-server`: the strict GeoReport v2 test server as a process, for tests that run
//! real binaries. Prints `listening on http://ADDR` once bound, then serves until SIGTERM or
//! ctrl-c. Steer it over HTTP under `/_admin/`:
//!
//! - `GET /_admin/requests`, `GET /_admin/hits`: JSON arrays
//! - `POST /_admin/requests/{id}/close` with `{"closed_at": "2026-11-20T14:03:11Z", "notes": "Fixed"}`
//! - `POST /_admin/faults` with e.g. `{"route": "PostRequest", "fault": {"CommitThenStatus": 502}, "times": 1}`
//!   (durations in milliseconds: `{"Hang": 1500}`); `DELETE /_admin/faults` clears them
//! - `POST /_admin/quirk` with e.g. `"NumericIds"` or `null`

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use bump_open311_server::{ServerConfig, ServerState, serve};
use clap::Parser;

/// A strict Open311 GeoReport v2 server for tests, steerable under /_admin/.
#[derive(Debug, Parser)]
#[command(name = "open311-test-server", version)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// TOML server configuration; without it, one jurisdiction `example.org` with key `test-key`.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot parse {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn load(path: Option<PathBuf>) -> Result<ServerConfig, Error> {
    let Some(path) = path else {
        return Ok(ServerConfig::example("example.org", "test-key"));
    };
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| Error::Parse { path, source })
}

async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    // Without SIGTERM handling, ctrl-c alone; if even that fails, serve until killed.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn run(args: Args) -> Result<(), Error> {
    let config = load(args.config)?;
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    {
        // The parent process waits for this line to learn the port.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{addr}")?;
        stdout.flush()?;
    }
    tokio::select! {
        result = serve(listener, ServerState::new(config)) => result?,
        () = shutdown() => {}
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("open311-test-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("open311-test-server: {e}");
            ExitCode::FAILURE
        }
    }
}
