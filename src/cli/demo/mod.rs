//! `tandem demo`: physical cluster replication end to end with one command, on this machine.
//!
//! The demo creates certificates for two clusters of `--nodes` nodes each (default 3), starts a
//! primary (`--config-profile=replication-source`) and a standby (`replication-target`) as
//! child processes on ephemeral loopback ports (several nodes: `tandem start --join` and
//! `tandem init`, as an operator would), loads movr into the primary's `application` virtual
//! cluster and runs the movr workload on it while the standby replicates that virtual cluster
//! (`CREATE VIRTUAL CLUSTER application LIKE template FROM REPLICATION OF application ON ...`),
//! printing the replication status and lag as it goes. With several nodes the stream has one
//! partition per primary node holding leases, ingested on all standby nodes. When the workload
//! stops and the standby has caught up, it cuts over (`COMPLETE REPLICATION TO LATEST`), starts
//! SQL service on the standby's `application` (and waits until every standby node serves it),
//! checks that both clusters hold the same data at the cutover time (fingerprints and per-table
//! row counts) and prints the connection strings.
//!
//! Invariants: everything the demo prints comes from the two clusters (nothing is assumed or
//! simulated); it listens only on 127.0.0.1 with ports the nodes choose; the nodes are owned by
//! [`run`] and stopped (SIGTERM, then SIGKILL) however the demo ends: success, a failed step,
//! or SIGINT / SIGTERM to the demo. On failure the error names the step and the server's
//! message, the working directory (certificates, stores, node logs, movr log) is kept, and the
//! exit status is non-zero; it is also non-zero (1) when the clusters differ at the cutover
//! time. A temporary working directory is removed after a successful run.

mod nodes;
mod pcr;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::Rng;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::cli::workload::movr::{self, ConnFlags, InitOptions, RunOptions, RunSummary};
use nodes::Node;
use pcr::VC;

/// The primary's CA certificate, copied into the standby's certificates directory; the
/// replication source URL names it relative to the standby's `--certs-dir`.
const PRIMARY_CA_FILE: &str = "ca_primary.crt";
/// How often the replication status is sampled while the workload runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// How often a status line is printed.
const PRINT_EVERY: Duration = Duration::from_secs(2);
/// How long the standby may take to catch up with the end of the workload.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the cutover may take until the standby's `application` serves SQL.
const CUTOVER_TIMEOUT: Duration = Duration::from_secs(120);
/// movr workers during the run.
const MOVR_WORKERS: usize = 2;

/// Flags of `tandem demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoFlags {
    /// How long the movr workload runs on the primary while the standby replicates (e.g. 20s,
    /// 1m).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// After the demo, leave both clusters running until Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
    /// Nodes per cluster: 3 (the default) starts each cluster as an operator would, with
    /// `tandem start --join` and `tandem init`; 1 uses `tandem start-single-node`.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub nodes: u8,
    /// Working directory for certificates, stores and logs (must be empty or absent; kept).
    /// Default: a new temporary directory, removed after a successful run.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// SIGINT and SIGTERM, caught for the whole demo so that the nodes are always stopped.
struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("install the SIGINT handler")?,
            term: signal(SignalKind::terminate()).context("install the SIGTERM handler")?,
        })
    }

    /// Waits for either signal; returns its name and the conventional exit status.
    async fn recv(&mut self) -> (&'static str, u8) {
        tokio::select! {
            _ = self.int.recv() => ("SIGINT", 130),
            _ = self.term.recv() => ("SIGTERM", 143),
        }
    }
}

/// What the steps established.
struct Outcome {
    /// Both clusters hold the same data at the cutover time.
    verified: bool,
}

/// Runs `tandem demo` (needs a multi-threaded tokio runtime). Returns the exit status: 0 when
/// the clusters matched after cutover, 1 when they differed, 128+signal when interrupted; an
/// error when a step failed (the nodes are stopped in every case).
pub async fn run(flags: DemoFlags) -> anyhow::Result<ExitCode> {
    if flags.duration < Duration::from_secs(1) {
        bail!("--duration must be at least 1s");
    }
    let mut signals = Signals::new()?;
    let (dir, temporary) = working_dir(flags.dir.as_deref())?;
    println!(
        "tandem demo: physical cluster replication of virtual cluster {VC} from a primary to a standby cluster"
    );
    println!("[demo] working directory {}", dir.display());
    let mut nodes: Vec<Node> = Vec::new();
    let result = tokio::select! {
        r = steps(&flags, &dir, &mut nodes) => r,
        (sig, code) = signals.recv() => {
            println!("[demo] received {sig}: stopping the clusters");
            stop_all(&mut nodes).await;
            println!("[demo] interrupted; files kept in {}", dir.display());
            return Ok(ExitCode::from(code));
        }
    };
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            stop_all(&mut nodes).await;
            println!(
                "[demo] failed; certificates, stores and logs kept in {}",
                dir.display()
            );
            return Err(e);
        }
    };
    let mut code = if outcome.verified {
        ExitCode::SUCCESS
    } else {
        println!("[demo] the clusters differ at the cutover time: the demo exits with status 1");
        ExitCode::FAILURE
    };
    if !flags.keep_running {
        println!(
            "[demo] stopping both clusters; `tandem demo --keep-running` leaves them up for the connection strings above"
        );
    }
    if flags.keep_running {
        println!("[demo] both clusters keep running; press Ctrl-C to stop them");
        tokio::select! {
            (sig, _) = signals.recv() => {
                println!("[demo] received {sig}: stopping the clusters");
            }
            name = first_exit(&mut nodes) => {
                println!("[{name}] the node exited unexpectedly; see its log in {}", dir.display());
                code = ExitCode::FAILURE;
            }
        }
    }
    stop_all(&mut nodes).await;
    if temporary && code == ExitCode::SUCCESS {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => println!("[demo] removed {}", dir.display()),
            Err(e) => println!("[demo] could not remove {}: {e}", dir.display()),
        }
    } else {
        println!("[demo] files kept in {}", dir.display());
    }
    Ok(code)
}

/// The working directory (absolute) and whether the demo created it as a temporary one.
fn working_dir(dir: Option<&Path>) -> anyhow::Result<(PathBuf, bool)> {
    let (dir, temporary) = match dir {
        Some(d) => {
            if d.exists() {
                let mut entries =
                    std::fs::read_dir(d).with_context(|| format!("--dir {}", d.display()))?;
                if entries.next().is_some() {
                    bail!(
                        "--dir {} is not empty: the demo needs new stores and certificates",
                        d.display()
                    );
                }
            } else {
                std::fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
            }
            (d.to_path_buf(), false)
        }
        None => {
            let d = std::env::temp_dir().join(format!("tandem-demo-{:08x}", rand::random::<u32>()));
            std::fs::create_dir(&d).with_context(|| format!("create {}", d.display()))?;
            (d, true)
        }
    };
    let abs = dir
        .canonicalize()
        .with_context(|| format!("resolve {}", dir.display()))?;
    Ok((abs, temporary))
}

/// Stops every node (SIGTERM, then SIGKILL after a timeout), printing how each ended.
async fn stop_all(nodes: &mut [Node]) {
    let stops = nodes.iter_mut().map(|n| async move {
        let how = n.stop().await;
        (n.name.clone(), how)
    });
    for (name, how) in futures::future::join_all(stops).await {
        println!("[{name}] stopped: {how}");
    }
}

/// Waits until one of the nodes exits; returns its name (never returns without nodes).
async fn first_exit(nodes: &mut [Node]) -> String {
    loop {
        for n in nodes.iter_mut() {
            if !n.is_running() {
                return n.name.clone();
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn random_password() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// Aborts a spawned task when dropped (a cancelled demo must not leave the workload running).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The demo's steps; the nodes it starts are pushed into `nodes` so that the caller stops
/// them whatever happens here.
async fn steps(flags: &DemoFlags, dir: &Path, nodes: &mut Vec<Node>) -> anyhow::Result<Outcome> {
    let certs = certificates(dir)?;
    let n = start_clusters(flags, &certs, nodes).await?;
    let (p_all, s_all) = nodes.split_at(n);
    let (primary, standby) = (&p_all[0], &s_all[0]);
    let p_sys = pcr::connect(&primary.root_url("system"))
        .await
        .context("[primary] connect to the system virtual cluster")?;
    let s_sys = pcr::connect(&standby.root_url("system"))
        .await
        .context("[standby] connect to the system virtual cluster")?;
    let passwords = create_users(&p_sys, &s_sys).await?;
    let workload = start_movr(flags, dir, primary).await?;
    let ended = replicate_during_workload(&s_sys, primary, &passwords.repl, workload).await?;
    if n > 1 {
        print_leases(primary).await;
    }
    print_workload_report(&ended);
    wait_caught_up(&s_sys, ended.at).await?;
    let (cutover, s_app) = cut_over(&s_sys, s_all).await?;
    let verified = verify(&p_sys, &s_sys, primary, &s_app, &cutover).await?;
    print_connection_strings(primary, standby, p_all, s_all, &passwords.console);
    Ok(Outcome { verified })
}

/// Where each cluster keeps its files and certificates.
struct ClusterDirs {
    p_dir: PathBuf,
    s_dir: PathBuf,
    p_certs: PathBuf,
    s_certs: PathBuf,
}

/// Certificates: one CA per cluster; the standby trusts the primary's CA for the stream.
fn certificates(dir: &Path) -> anyhow::Result<ClusterDirs> {
    let p_dir = dir.join("primary");
    let s_dir = dir.join("standby");
    let p_certs = nodes::make_certs(&p_dir).context("[primary] certificates")?;
    let s_certs = nodes::make_certs(&s_dir).context("[standby] certificates")?;
    let primary_ca = s_certs.join(PRIMARY_CA_FILE);
    std::fs::copy(
        p_certs.join(crate::security::certs::CA_CERT_FILE),
        &primary_ca,
    )
    .with_context(|| {
        format!(
            "copy the primary's CA certificate to {}",
            primary_ca.display()
        )
    })?;
    for (name, certs) in [("primary", &p_certs), ("standby", &s_certs)] {
        println!(
            "[{name}] certificates: own CA, node (localhost, 127.0.0.1), client root in {}",
            certs.display()
        );
    }
    println!(
        "[standby] trusts the primary's CA for the replication stream: {}",
        primary_ca.display()
    );
    Ok(ClusterDirs {
        p_dir,
        s_dir,
        p_certs,
        s_certs,
    })
}

/// Nodes: both clusters start side by side; each node joins `nodes` as soon as it runs (the
/// primary's first). Returns the nodes per cluster.
async fn start_clusters(
    flags: &DemoFlags,
    d: &ClusterDirs,
    nodes: &mut Vec<Node>,
) -> anyhow::Result<usize> {
    let t = Instant::now();
    let n = usize::from(flags.nodes);
    let (mut p_nodes, mut s_nodes) = (Vec::new(), Vec::new());
    let started = tokio::join!(
        nodes::start_cluster(
            "primary",
            &d.p_dir,
            &d.p_certs,
            "replication-source",
            n,
            &mut p_nodes
        ),
        nodes::start_cluster(
            "standby",
            &d.s_dir,
            &d.s_certs,
            "replication-target",
            n,
            &mut s_nodes
        ),
    );
    nodes.append(&mut p_nodes);
    nodes.append(&mut s_nodes);
    started.0?;
    started.1?;
    let (p_all, s_all) = nodes.split_at(n);
    for (all, profile) in [(p_all, "replication-source"), (s_all, "replication-target")] {
        for node in all {
            println!(
                "[{}] started (pid {}, profile {profile}): SQL {}, DB Console {}, log {}",
                node.name,
                node.pid,
                node.sql_addr,
                node.console_url(),
                node.log.display()
            );
        }
    }
    if n == 1 {
        println!("[demo] both nodes ready after {}", secs(t.elapsed()));
    } else {
        println!(
            "[demo] both {n}-node clusters initialized (tandem start --join, tandem init) and ready after {}",
            secs(t.elapsed())
        );
    }
    Ok(n)
}

/// The passwords of the demo's users.
struct Passwords {
    /// `repl`, which the standby streams as.
    repl: String,
    /// `demo`, the DB Console login on both clusters.
    console: String,
}

/// Users: repl streams from the primary; demo logs into both DB Consoles.
async fn create_users(
    p_sys: &tokio_postgres::Client,
    s_sys: &tokio_postgres::Client,
) -> anyhow::Result<Passwords> {
    let repl = random_password();
    let console = random_password();
    pcr::query(p_sys, &format!("CREATE USER repl WITH PASSWORD '{repl}'"))
        .await
        .context("[primary]")?;
    pcr::query(p_sys, "GRANT SYSTEM REPLICATION TO repl")
        .await
        .context("[primary]")?;
    println!("[primary] created user repl WITH PASSWORD and GRANT SYSTEM REPLICATION TO repl");
    for (name, c) in [("primary", p_sys), ("standby", s_sys)] {
        pcr::query(c, &format!("CREATE USER demo WITH PASSWORD '{console}'"))
            .await
            .with_context(|| format!("[{name}] create the DB Console user"))?;
    }
    Ok(Passwords { repl, console })
}

/// The movr workload, running on the primary until it ends or is dropped.
type Workload = AbortOnDrop<anyhow::Result<RunSummary>>;

/// Loads movr into the primary's application virtual cluster and starts the workload on it
/// (its per-second report goes to `movr.log`).
async fn start_movr(flags: &DemoFlags, dir: &Path, primary: &Node) -> anyhow::Result<Workload> {
    let conn = ConnFlags {
        urls: vec![primary.root_url(VC)],
        ..ConnFlags::default()
    };
    println!("[primary] loading movr into virtual cluster {VC}");
    let t = Instant::now();
    movr::init(&InitOptions {
        conn: conn.clone(),
        init_conns: 4,
        ..InitOptions::default()
    })
    .await
    .context("[primary] tandem workload init movr")?;
    println!("[primary] movr loaded in {}", secs(t.elapsed()));

    let movr_log = dir.join("movr.log");
    let mut log = std::fs::File::create(&movr_log)
        .with_context(|| format!("create {}", movr_log.display()))?;
    let run_opts = RunOptions {
        conn,
        duration: flags.duration,
        concurrency: MOVR_WORKERS,
        ..RunOptions::default()
    };
    println!(
        "[primary] movr workload running for {} ({MOVR_WORKERS} workers; per-second report in {})",
        humantime::format_duration(flags.duration),
        movr_log.display()
    );
    Ok(AbortOnDrop(tokio::spawn(async move {
        movr::run_with_output(&run_opts, &mut log).await
    })))
}

/// The workload's end: its summary, the replication lag sampled while it ran, and when it
/// ended.
struct WorkloadEnded {
    summary: RunSummary,
    lag: pcr::LagStats,
    at: Instant,
}

/// Replication, while the workload runs: creates the standby's replicating virtual cluster and
/// prints its status as it changes (at least every [`PRINT_EVERY`]) until the workload ends.
async fn replicate_during_workload(
    s_sys: &tokio_postgres::Client,
    primary: &Node,
    repl_password: &str,
    mut workload: Workload,
) -> anyhow::Result<WorkloadEnded> {
    let source = format!(
        "postgresql://repl:{repl_password}@localhost:{}/defaultdb?options=-ccluster=system&sslmode=verify-full&sslrootcert={PRIMARY_CA_FILE}",
        primary.sql_port()
    );
    let create =
        format!("CREATE VIRTUAL CLUSTER {VC} LIKE template FROM REPLICATION OF {VC} ON '{source}'");
    pcr::query(s_sys, &create).await.context("[standby]")?;
    println!("[standby] {}", pcr::redact(&create));
    let mut lag = pcr::LagStats::default();
    let mut last_print: Option<(Instant, String)> = None;
    while !workload.0.is_finished() {
        let st = pcr::status(s_sys).await.context("[standby]")?;
        if let Some(l) = st.lag
            && st.status == "replicating"
        {
            lag.add(l);
        }
        let due = last_print
            .as_ref()
            .is_none_or(|(at, status)| at.elapsed() >= PRINT_EVERY || *status != st.status);
        if due {
            println!("[standby] {}", status_line(&st));
            last_print = Some((Instant::now(), st.status.clone()));
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    let summary = (&mut workload.0)
        .await
        .context("[primary] the movr workload task failed")?
        .context("[primary] tandem workload run movr")?;
    Ok(WorkloadEnded {
        summary,
        lag,
        at: Instant::now(),
    })
}

/// Prints the workload's summary and the replication lag sampled while it ran.
fn print_workload_report(ended: &WorkloadEnded) {
    print_movr_summary(&ended.summary);
    match ended.lag.summary() {
        Some(s) => println!(
            "[standby] replication lag during the workload ({} samples every {}): median {}, p99 {}, max {}",
            s.count,
            secs(SAMPLE_EVERY),
            secs(s.median),
            secs(s.p99),
            secs(s.max)
        ),
        None => println!(
            "[standby] no replication lag sampled during the workload (replication was still initializing)"
        ),
    }
}

/// Prints the leases per primary node. Leases spread over the primary's nodes (rebalancing
/// moves them as tables get their ranges); the stream has one partition per node holding
/// leases, and the standby spreads them over its nodes.
async fn print_leases(primary: &Node) {
    match crate::cli::node::fetch_status(&primary.listen_addr, Some(&primary.certs_dir), false)
        .await
    {
        Ok(rows) => {
            let leases: Vec<String> = rows
                .iter()
                .map(|r| format!("{} {}", r.node_id, r.leases))
                .collect();
            println!(
                "[primary] leases per node at the end of the workload (tandem node status): {}",
                leases.join(", ")
            );
        }
        Err(e) => println!("[primary] tandem node status: {e:#}"),
    }
}

/// Waits until everything the workload wrote is replicated: replicated_time = (time of the
/// status query) - lag, so lag < time since the workload ended means it is past the end.
/// Fails after [`CATCH_UP_TIMEOUT`].
async fn wait_caught_up(
    s_sys: &tokio_postgres::Client,
    workload_end: Instant,
) -> anyhow::Result<()> {
    loop {
        let since_end = workload_end.elapsed();
        let st = pcr::status(s_sys).await.context("[standby]")?;
        if let (Some(l), Some(_)) = (st.lag, &st.replicated_time)
            && l < since_end
        {
            println!(
                "[standby] caught up: {} (past the workload's last write)",
                status_line(&st)
            );
            return Ok(());
        }
        if since_end > CATCH_UP_TIMEOUT {
            bail!(
                "[standby] replication did not catch up within {}s after the workload stopped: {}",
                CATCH_UP_TIMEOUT.as_secs(),
                status_line(&st)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Cutover: completes replication, waits until the standby's virtual cluster is ready, starts
/// its SQL service and waits until every standby node serves it. Returns the cutover time and
/// a connection to the standby's application virtual cluster.
async fn cut_over(
    s_sys: &tokio_postgres::Client,
    s_all: &[Node],
) -> anyhow::Result<(String, tokio_postgres::Client)> {
    let t0 = Instant::now();
    let cutover = pcr::complete_replication(s_sys)
        .await
        .context("[standby]")?;
    println!(
        "[standby] ALTER VIRTUAL CLUSTER {VC} COMPLETE REPLICATION TO LATEST: cutover time {cutover}"
    );
    pcr::wait_ready(s_sys, CUTOVER_TIMEOUT, |state, at| {
        println!("[standby] {VC}: data_state {state} (+{})", secs(at));
    })
    .await
    .context("[standby]")?;
    pcr::query(
        s_sys,
        &format!("ALTER VIRTUAL CLUSTER {VC} START SERVICE SHARED"),
    )
    .await
    .context("[standby]")?;
    println!("[standby] ALTER VIRTUAL CLUSTER {VC} START SERVICE SHARED");
    let s_app = serving_sql(s_all, t0).await?;
    println!(
        "[standby] {VC} serves SQL {} after COMPLETE REPLICATION",
        secs(t0.elapsed())
    );
    Ok((cutover, s_app))
}

/// Verification at the cutover time: the fingerprints of the virtual cluster and the row
/// count of every movr table on both clusters. Returns whether all of them match.
async fn verify(
    p_sys: &tokio_postgres::Client,
    s_sys: &tokio_postgres::Client,
    primary: &Node,
    s_app: &tokio_postgres::Client,
    cutover: &str,
) -> anyhow::Result<bool> {
    let fp_primary = pcr::fingerprint(p_sys, cutover)
        .await
        .context("[primary]")?;
    let fp_standby = pcr::fingerprint(s_sys, cutover)
        .await
        .context("[standby]")?;
    let fp_ok = fp_primary == fp_standby;
    println!(
        "[verify] fingerprint of {VC} AS OF SYSTEM TIME {cutover}: primary {fp_primary}, standby {fp_standby}"
    );
    println!(
        "[verify] fingerprints {}",
        if fp_ok { "match" } else { "DIFFER" }
    );
    let p_app = pcr::connect(&primary.root_url(VC))
        .await
        .with_context(|| format!("[primary] connect to virtual cluster {VC}"))?;
    let mut counts_ok = true;
    for table in movr::TABLE_NAMES {
        let p = pcr::row_count(&p_app, table, Some(cutover))
            .await
            .context("[primary]")?;
        let s = pcr::row_count(s_app, table, None)
            .await
            .context("[standby]")?;
        counts_ok &= p == s;
        println!(
            "[verify] movr.{table}: primary {p} rows at the cutover time, standby {s} rows: {}",
            if p == s { "match" } else { "DIFFER" }
        );
    }
    println!(
        "[verify] {}",
        if fp_ok && counts_ok {
            "the standby holds exactly the primary's data at the cutover time"
        } else {
            "the standby's data DIFFERS from the primary's at the cutover time"
        }
    );
    Ok(fp_ok && counts_ok)
}

/// Where to go from here: the connection strings of both clusters and the DB Console logins.
fn print_connection_strings(
    primary: &Node,
    standby: &Node,
    p_all: &[Node],
    s_all: &[Node],
    console_password: &str,
) {
    println!(
        "[demo] connection strings (tandem sql --url '<url>'; any node of a cluster serves it):"
    );
    for node in [primary, standby] {
        for vc in ["system", VC] {
            println!("  {:<11} {:<12} {}", node.name, vc, node.root_url(vc));
        }
    }
    println!("[demo] DB Console (log in as user demo, password {console_password}):");
    for node in p_all.iter().chain(s_all) {
        println!("  {:<11} {}", node.name, node.console_url());
    }
}

/// One status line: the status, the replicated time and the lag as the server reports them.
fn status_line(st: &pcr::Status) -> String {
    let mut line = st.status.clone();
    match (&st.replicated_time, st.lag) {
        (Some(t), Some(l)) => line.push_str(&format!(", replicated time {t}, lag {}", secs(l))),
        (Some(t), None) => line.push_str(&format!(", replicated time {t}")),
        _ => line.push_str(", replicated time not yet known"),
    }
    line
}

fn print_movr_summary(s: &RunSummary) {
    let writes: u64 = s
        .ops
        .iter()
        .filter(|o| o.name != "readVehicles")
        .map(|o| o.count)
        .sum();
    println!(
        "[primary] movr finished: {} operations ({writes} writes) in {:.1}s, {:.0} ops/s, p50 {:.1} ms, p99 {:.1} ms, {} retried serialization failures",
        s.result.count,
        s.elapsed.as_secs_f64(),
        s.result.ops_per_sec,
        s.result.p50_ms,
        s.result.p99_ms,
        s.errors
    );
}

/// Connects to the standby's `application` until a movr query succeeds there on every standby
/// node; returns the first node's connection; gives up [`CUTOVER_TIMEOUT`] after `since`.
async fn serving_sql(standby: &[Node], since: Instant) -> anyhow::Result<tokio_postgres::Client> {
    let mut first = None;
    for node in standby {
        let c = serving_sql_on(node, since).await?;
        first.get_or_insert(c);
    }
    first.context("no standby node")
}

async fn serving_sql_on(standby: &Node, since: Instant) -> anyhow::Result<tokio_postgres::Client> {
    let url = standby.root_url(VC);
    loop {
        let attempt = async {
            let c = pcr::connect(&url).await?;
            pcr::query(&c, "SELECT count(*) FROM movr.rides").await?;
            anyhow::Ok(c)
        };
        match attempt.await {
            Ok(c) => return Ok(c),
            Err(e) if since.elapsed() > CUTOVER_TIMEOUT => {
                return Err(e.context(format!(
                    "[standby] {VC} does not serve SQL {}s after COMPLETE REPLICATION",
                    CUTOVER_TIMEOUT.as_secs()
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
