//! The `tandem` binary. Argument parsing and process setup only; everything else lives in the
//! library. `anyhow` is used here, at the edge, and nowhere else.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Start a node that joins a cluster (the cluster is initialised with `tandem init`).
    Start(tandem::cli::start::StartFlags),
    /// Start a single-node cluster that initialises itself.
    StartSingleNode(tandem::cli::start::StartFlags),
    /// Initialise a cluster whose nodes were started with `tandem start`.
    Init {
        /// Address of a node (host:port).
        #[arg(long)]
        host: String,
        /// Certificate directory (needs ca.crt and client.root.crt/key).
        #[arg(long)]
        certs_dir: Option<PathBuf>,
        /// Plaintext.
        #[arg(long)]
        insecure: bool,
    },
    /// Create and list certificates.
    #[command(subcommand)]
    Cert(Cert),
    /// Inspect the nodes of a cluster.
    #[command(subcommand)]
    Node(Node),
    /// An interactive SQL shell, or run statements with -e.
    Sql {
        /// Connection URL (postgresql://user@host:port/db?...).
        #[arg(long)]
        url: Option<String>,
        /// Certificate directory.
        #[arg(long)]
        certs_dir: Option<PathBuf>,
        /// Plaintext.
        #[arg(long)]
        insecure: bool,
        /// Statements to run (repeatable); exits non-zero on the first error.
        #[arg(short = 'e', long = "execute")]
        execute: Vec<String>,
        /// Output format: table, tsv or csv.
        #[arg(long)]
        format: Option<String>,
        /// Print each statement before running it.
        #[arg(long)]
        echo_sql: bool,
    },
    /// Load generators (`workload init movr`, `workload run movr`).
    #[command(subcommand)]
    Workload(tandem::cli::workload::WorkloadCommand),
    /// Tools for the storage and KV layers.
    #[command(subcommand)]
    Debug(Debug),
    /// Physical cluster replication end to end: a primary and a standby cluster on this
    /// machine, movr on the primary, replication, cutover and a check that the data matches.
    Demo(tandem::cli::demo::DemoFlags),
}

#[derive(clap::Args, Clone)]
struct CertCommon {
    /// Certificate directory.
    #[arg(long)]
    certs_dir: PathBuf,
    /// Path of the CA key.
    #[arg(long)]
    ca_key: PathBuf,
    /// Validity (e.g. 43800h, 365d, 10y).
    #[arg(long)]
    lifetime: Option<String>,
    /// Replace existing files.
    #[arg(long)]
    overwrite: bool,
    /// Reuse an existing CA key.
    #[arg(long)]
    allow_ca_key_reuse: bool,
}

#[derive(Subcommand)]
enum Node {
    /// Every node of the cluster: addresses, build, liveness, replicas and leases.
    Status {
        /// Address of any node (host:port).
        #[arg(long, default_value = "localhost:26257")]
        host: String,
        /// Certificate directory (needs ca.crt and client.root.crt/key).
        #[arg(long)]
        certs_dir: Option<PathBuf>,
        /// Plaintext.
        #[arg(long)]
        insecure: bool,
    },
}

#[derive(Subcommand)]
enum Cert {
    /// Create the CA certificate and key.
    CreateCa(CertCommon),
    /// Create a node certificate for the given hosts.
    CreateNode {
        /// Host names and IP addresses the node is reached at.
        #[arg(required = true)]
        hosts: Vec<String>,
        #[command(flatten)]
        common: CertCommon,
    },
    /// Create a client certificate for a SQL user.
    CreateClient {
        /// The SQL user.
        user: String,
        #[command(flatten)]
        common: CertCommon,
    },
    /// List the certificates in a directory.
    List {
        /// Certificate directory.
        #[arg(long)]
        certs_dir: PathBuf,
    },
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

fn cert_options(c: &CertCommon) -> anyhow::Result<tandem::security::certs::CertOptions> {
    Ok(tandem::security::certs::CertOptions {
        lifetime: c
            .lifetime
            .as_deref()
            .map(tandem::security::certs::parse_lifetime)
            .transpose()?,
        overwrite: c.overwrite,
        allow_ca_key_reuse: c.allow_ca_key_reuse,
    })
}

fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    tandem::security::tls::install_crypto_provider();
    match cli.command {
        Command::Start(flags) => tandem::actors::supervisor::main(flags, false),
        Command::StartSingleNode(flags) => tandem::actors::supervisor::main(flags, true),
        Command::Node(Node::Status {
            host,
            certs_dir,
            insecure,
        }) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("start runtime")?;
            rt.block_on(tandem::cli::node::node_status(
                &host,
                certs_dir.as_deref(),
                insecure,
            ))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Init {
            host,
            certs_dir,
            insecure,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("start runtime")?;
            rt.block_on(tandem::cli::node::run(
                &host,
                certs_dir.as_deref(),
                insecure,
            ))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Cert(c) => {
            use tandem::security::certs;
            match c {
                Cert::CreateCa(c) => certs::create_ca(&c.certs_dir, &c.ca_key, &cert_options(&c)?)?,
                Cert::CreateNode { hosts, common } => certs::create_node(
                    &common.certs_dir,
                    &common.ca_key,
                    &hosts,
                    &cert_options(&common)?,
                )?,
                Cert::CreateClient { user, common } => certs::create_client(
                    &common.certs_dir,
                    &common.ca_key,
                    &user,
                    &cert_options(&common)?,
                )?,
                Cert::List { certs_dir } => {
                    println!("Certificate directory: {}", certs_dir.display());
                    print!("{}", certs::format_list(&certs::list(&certs_dir)?));
                }
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Sql {
            url,
            certs_dir,
            insecure,
            execute,
            format,
            echo_sql,
        } => {
            let format = match format.as_deref() {
                None => None,
                Some(f) => Some(
                    f.parse::<tandem::cli::sql_shell::OutputFormat>()
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                ),
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("start runtime")?;
            let code = rt.block_on(tandem::cli::sql_shell::run(
                tandem::cli::sql_shell::SqlShellOptions {
                    url,
                    certs_dir,
                    insecure,
                    execute,
                    format,
                    echo: echo_sql,
                },
            ))?;
            Ok(std::process::ExitCode::from(code.clamp(0, 255) as u8))
        }
        Command::Version => {
            println!(
                "tandem {} (KV engine: fjall 3, raft-rs 0.7)",
                env!("CARGO_PKG_VERSION")
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Workload(w) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("start runtime")?;
            rt.block_on(tandem::cli::workload::main(w))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Demo(flags) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("start runtime")?;
            rt.block_on(tandem::cli::demo::run(flags))
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
            println!(
                "bulk batches {:>10}  ({} versions of ~1 KB each, ingested)",
                sum.bulk_batches,
                kv_workload::BULK_ROWS
            );
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
                "acknowledged {}  present {}  lost {}  partial {}  bulk acknowledged {}  bulk lost {}",
                r.acknowledged,
                r.present,
                r.lost.len(),
                r.partial.len(),
                r.bulk_acknowledged,
                r.bulk_lost.len()
            );
            Ok(if r.ok() {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            })
        }
    }
}
