//! `tandem workload init|run <workload> [URL...]`: load generators in the manner of
//! `cockroach workload`. The only workload is [`movr`] (spec: `shared/reference/movr.md`).
//!
//! Connections go through [`crate::client`] (TLS URLs, `--certs-dir`, `options=-ccluster=`),
//! statements through the extended protocol with typed bind parameters ([`sql::Value`]).
//! Progress and the reports are written to the terminal; everything a caller needs is also
//! returned ([`RunSummary`]).
//!
//! Wiring into the binary (a subcommand of the top-level `Command` enum):
//! ```ignore
//! /// Load generators (`workload init movr`, `workload run movr`).
//! #[command(subcommand)]
//! Workload(tandem::cli::workload::WorkloadCommand),
//! // ...
//! Command::Workload(w) => {
//!     let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
//!     rt.block_on(tandem::cli::workload::main(w))?;
//!     Ok(std::process::ExitCode::SUCCESS)
//! }
//! ```

pub mod histogram;
pub mod movr;
pub mod report;
pub mod rng;
pub mod sql;

pub use movr::{InitOptions, RunOptions, RunSummary, init, run};

/// `tandem workload ...`.
#[derive(clap::Subcommand, Clone, Debug, PartialEq, Eq)]
pub enum WorkloadCommand {
    /// Create a workload's database and tables and load its initial data.
    #[command(subcommand)]
    Init(InitCommand),
    /// Run a workload's operations, printing throughput and latency per operation.
    #[command(subcommand)]
    Run(RunCommand),
}

/// `tandem workload init <workload>`.
#[derive(clap::Subcommand, Clone, Debug, PartialEq, Eq)]
pub enum InitCommand {
    /// MovR, a fictional vehicle-sharing company (CockroachDB's movr workload).
    Movr(InitOptions),
}

/// `tandem workload run <workload>`.
#[derive(clap::Subcommand, Clone, Debug, PartialEq, Eq)]
pub enum RunCommand {
    /// MovR, a fictional vehicle-sharing company (CockroachDB's movr workload).
    Movr(RunOptions),
}

/// Runs a `tandem workload` command (needs a multi-threaded tokio runtime). An error means
/// the command failed (the process should exit non-zero); it carries the failing statement,
/// the server's message and its SQLSTATE.
pub async fn main(cmd: WorkloadCommand) -> anyhow::Result<()> {
    match cmd {
        WorkloadCommand::Init(InitCommand::Movr(opts)) => init(&opts).await,
        WorkloadCommand::Run(RunCommand::Movr(opts)) => run(&opts).await.map(|_| ()),
    }
}
