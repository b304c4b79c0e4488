//! The `tandem` binary. Argument parsing and process setup only; everything else lives in the
//! library. `anyhow` is used here, at the edge, and nowhere else.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "tandem",
    version,
    about = "A distributed SQL database with physical cluster replication"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the version.
    Version,
    /// Tools for the storage and KV layers.
    #[command(subcommand)]
    Debug(Debug),
}

#[derive(Subcommand)]
enum Debug {
    /// Run a concurrent two-range transactional workload on a store and print its throughput.
    KvWorkload {
        /// Store directory (created if missing).
        #[arg(long)]
        store: PathBuf,
        /// How long to run, e.g. `10s`, `500ms`, `2m`.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        duration: Duration,
        /// Concurrent writers.
        #[arg(long, default_value_t = 8)]
        writers: u64,
        /// Append one line per acknowledged commit to this file.
        #[arg(long)]
        ack_file: Option<PathBuf>,
    },
    /// Verify a store against a workload's acknowledgement file (exit 1 on lost or partial writes).
    KvCheck {
        /// Store directory.
        #[arg(long)]
        store: PathBuf,
        /// The workload's acknowledgement file.
        #[arg(long)]
        ack_file: PathBuf,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 10s, 500ms, 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => {
            return Err(format!(
                "invalid duration unit {other:?} in {s:?}: use ms, s, m or h"
            ));
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ERROR: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Version => {
            println!(
                "tandem {} (KV engine: fjall 3, raft-rs 0.7)",
                env!("CARGO_PKG_VERSION")
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Debug(d) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("start runtime")?;
            rt.block_on(debug(d))
        }
    }
}

async fn debug(d: Debug) -> anyhow::Result<std::process::ExitCode> {
    use tandem::cli::kv_workload;
    match d {
        Debug::KvWorkload {
            store,
            duration,
            writers,
            ack_file,
        } => {
            if writers == 0 {
                anyhow::bail!("--writers must be at least 1");
            }
            let s = kv_workload::open_store(&store)
                .with_context(|| format!("open store {}", store.display()))?;
            println!(
                "running {writers} writers for {duration:?} on {}",
                store.display()
            );
            let sum = kv_workload::run(&s, writers, duration, ack_file.as_deref())
                .await
                .context("run workload")?;
            let m = s.metrics();
            let secs = sum.elapsed.as_secs_f64().max(1e-9);
            println!(
                "commits      {:>10}  ({:.0}/s, each a two-range transaction)",
                sum.commits,
                sum.commits as f64 / secs
            );
            println!("retries      {:>10}", sum.retries);
            println!("ranges       {:>10}", s.range_descriptors().len());
            let syncs = s
                .engine()
                .syncer()
                .stats()
                .syncs
                .load(std::sync::atomic::Ordering::Relaxed);
            let reqs = s
                .engine()
                .syncer()
                .stats()
                .requests
                .load(std::sync::atomic::Ordering::Relaxed);
            println!(
                "fsyncs       {:>10}  ({:.1} log appends per fsync)",
                syncs,
                reqs as f64 / syncs.max(1) as f64
            );
            println!(
                "1PC commits  {:>10}",
                m.txn_commits_1pc.load(std::sync::atomic::Ordering::Relaxed)
            );
            s.shutdown().await;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Debug::KvCheck { store, ack_file } => {
            let s = kv_workload::open_store(&store)
                .with_context(|| format!("open store {}", store.display()))?;
            let r = kv_workload::check(&s, &ack_file)
                .await
                .context("check store")?;
            s.shutdown().await;
            println!(
                "acknowledged {}  present {}  lost {}  partial {}",
                r.acknowledged,
                r.present,
                r.lost.len(),
                r.partial.len()
            );
            Ok(if r.ok() {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            })
        }
    }
}
