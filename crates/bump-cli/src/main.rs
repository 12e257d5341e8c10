/*!
`streetbump`: the command-line tool.

Thin by design: it parses flags, loads `pipeline.toml`, calls the library
crates and maps errors to exit codes. `anyhow` is used here and nowhere
else. Exit status: 0 on success, 1 when some input failed (the rest was
still processed), 2 on a usage or configuration error.
*/

mod bench_cmd;
mod classifier_cmd;
mod eval_cmd;
mod open311_cmd;
mod replay_cmd;
mod serve_cmd;
mod simulate_cmd;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Road-condition sensing from phones: replay recorded trips into bumps.
#[derive(Debug, Parser)]
#[command(name = "streetbump", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay recorded trips (CSV, Parquet, JSON batches) and write their bumps.
    Replay(Box<replay_cmd::ReplayArgs>),
    /// Score a replay's bumps against ground-truth positions.
    Eval(eval_cmd::EvalArgs),
    /// Build a synthetic city with known defects and drive trips through it.
    Simulate(simulate_cmd::SimulateArgs),
    /// Train the signature classifier of clusters.
    #[command(subcommand)]
    Classifier(classifier_cmd::ClassifierCommand),
    /// File likely defects through Open311: check the registry, deliver and
    /// sync, list filings.
    #[command(subcommand)]
    Open311(open311_cmd::Open311Command),
    /// Run the server: phone uploads, the pipeline as a stream, the review
    /// page and API, filing on a schedule.
    Serve(Box<serve_cmd::ServeArgs>),
    /// Register phones.
    #[command(subcommand)]
    Devices(serve_cmd::DevicesCommand),
    /// Add reviewers and admins.
    #[command(subcommand)]
    Users(serve_cmd::UsersCommand),
    /// The Kafka runtime's maintenance: re-publish dead letters.
    #[command(subcommand)]
    Kafka(serve_cmd::KafkaCommand),
    /// Upload trip batches (JSONL) to a server, as phones do.
    Upload(serve_cmd::UploadArgs),
    /// Measure every stage and the whole on a simulated city; with --serve,
    /// the server over HTTP.
    Bench(bench_cmd::BenchArgs),
}

/// The replay and the server allocate and free many large column buffers
/// (Parquet pages, per-trip sample vectors); glibc's allocator hands those
/// back to the kernel and faults them in again, which cost about a sixth of
/// a Parquet replay's wall time (docs/performance.md). mimalloc reuses them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => replay_cmd::run(&args, std::io::stderr().is_terminal()),
        Command::Eval(args) => eval_cmd::run(&args),
        Command::Simulate(args) => simulate_cmd::run(&args),
        Command::Classifier(cmd) => classifier_cmd::run(&cmd),
        Command::Open311(cmd) => open311_cmd::run(&cmd),
        Command::Serve(args) => serve_cmd::serve(&args),
        Command::Devices(cmd) => serve_cmd::devices(&cmd),
        Command::Users(cmd) => serve_cmd::users(&cmd),
        Command::Kafka(cmd) => serve_cmd::kafka(&cmd),
        Command::Upload(args) => serve_cmd::upload(&args),
        Command::Bench(args) => bench_cmd::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The configuration file: the one given, else built-in defaults (which
/// the committed `pipeline.toml` spells out).
fn load_config(path: Option<&PathBuf>) -> anyhow::Result<bump_pipeline::PipelineConfig> {
    let mut cfg = match path {
        Some(p) => bump_pipeline::PipelineConfig::load(p)?,
        None => bump_pipeline::PipelineConfig::default(),
    };
    cfg.load_models()?;
    Ok(cfg)
}
