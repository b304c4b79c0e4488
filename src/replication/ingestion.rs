//! The consumer's work for one `REPLICATION STREAM INGESTION` job: connect to the primary,
//! stream, ingest, persist progress, heartbeat, and fail over when asked.
//!
//! The job loop reads the job record and acts on it: a paused job waits; a job whose failover
//! time is reached reverts and completes; otherwise it streams. The job runs on its
//! coordinator node (the node that created it, or the node that adopted it after the
//! coordinator died: see [`crate::actors::replication_consumer`]); its progress writes are
//! refused once the record names another coordinator.
//!
//! Streaming: a control connection to the primary's system virtual cluster (through the URI's
//! node or, if it is down, any source node a previous spec named, kept in the job record)
//! fetches the stream spec (one partition per primary node holding leases) and heartbeats the
//! producer. Each partition gets a processor ([`super::processor`]): partition `i` runs on the
//! `i`-th live standby node (this node first), which connects to the partition's primary
//! node, ingests, and reports durable resolved spans. The coordinator forwards them into the
//! [`SpanFrontier`], whose minimum is the replicated time. Progress (replicated time, and the
//! destination's protected timestamp at the retained time) is persisted every
//! `persist_every` in the job record, so a restart, pause, lost connection or re-plan resumes
//! from the replicated time with no new initial scan (versions above it are replayed, which is
//! idempotent). A failed processor (its primary node died, its standby node died, the
//! partition's leases moved) ends the attempt: every processor is stopped and the job
//! re-plans with a fresh spec. Before a failover (or any stop that is not an error) every
//! processor has acknowledged its stop, or had time to stop by itself, so nothing is written
//! behind the revert.
//!
//! Failure: any error (connection refused or lost, remote error, malformed event) marks the job
//! `replication error` with the reason and retries with exponential back-off (250 ms up to
//! 15 s, reset once progress is made). The job never fails or stops by itself; only a user
//! (failover, DROP) ends it.

use super::ReplicationError;
use super::event::ResolvedSpan;
use super::frontier::SpanFrontier;
use super::metrics::ReplicationMetrics;
use super::plan::{Plan, Report, start_plan};
use super::processor::{self, connect_url};
use super::spec::{StreamSpec, StreamState, StreamStatus};
use super::status::ReplicationStatus;
use crate::actors::tenant_registry::RegistryInner;
use crate::client::{self, ConnUrl};
use crate::clock::Timestamp;
use crate::config::DataState;
use crate::ids::JobId;
use crate::jobs::{self, IngestionDetails, JobDetails, JobStatus};
use crate::kv::Store;
use crate::storage::keys::tenant_span;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Live views of the jobs running on this node (fresher than the persisted records).
pub type LiveJobs = Arc<Mutex<HashMap<JobId, IngestionDetails>>>;

/// Timing of the ingestion loop.
#[derive(Clone, Debug)]
pub struct IngestionSettings {
    /// How often the replicated time is persisted.
    pub persist_every: Duration,
    /// How often the source is heartbeated.
    pub heartbeat_every: Duration,
    /// Longest back-off between retries.
    pub max_backoff: Duration,
    /// Flush the buffer once it holds this many bytes, even without a checkpoint. An initial
    /// scan reads all of a partition's ranges at once, so a flush holds about this much divided
    /// by their number for each range: 64 MiB gives the ~20 ranges of a gigabyte chunks of
    /// ~3 MiB, which the standby writes as table files (the range actor's `TABLE_APPLY_BYTES`,
    /// 2 MiB) instead of through its journal and memtable.
    pub flush_bytes: usize,
    /// Connecting to the primary (and any control query) gives up after this long.
    pub connect_timeout: Duration,
    /// A stream with no event for this long is broken (a network cut leaves no error).
    pub idle_timeout: Duration,
}

impl Default for IngestionSettings {
    fn default() -> Self {
        IngestionSettings {
            persist_every: Duration::from_millis(250),
            heartbeat_every: Duration::from_secs(5),
            max_backoff: Duration::from_secs(15),
            flush_bytes: 64 << 20,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
        }
    }
}

/// What a job needs from the node.
#[derive(Clone)]
pub struct IngestionEnv {
    /// The store.
    pub store: Store,
    /// The tenant registry (marks the tenant `ready` after failover).
    pub registry: Arc<RegistryInner>,
    /// Relative `sslrootcert` paths are looked up here.
    pub certs_dir: Option<PathBuf>,
    /// Metrics.
    pub metrics: ReplicationMetrics,
    /// Live views.
    pub live: LiveJobs,
    /// Processors this node runs for coordinators on other nodes.
    pub processors: processor::HostedProcessors,
    /// Timing.
    pub settings: IngestionSettings,
}

fn remote(e: impl std::fmt::Display) -> ReplicationError {
    ReplicationError::Remote(e.to_string())
}

fn pg(e: tokio_postgres::Error) -> ReplicationError {
    ReplicationError::Remote(client::describe_pg_error(&e))
}

/// Connects to the primary's URI.
pub async fn connect_source(
    uri: &str,
    certs_dir: Option<&std::path::Path>,
    timeout: Duration,
) -> Result<tokio_postgres::Client, ReplicationError> {
    let url = ConnUrl::parse_with_certs_dir(uri, certs_dir).map_err(remote)?;
    connect_url(&url, timeout).await
}

/// Connects to the source through its URI or, if that node is down, through any other node a
/// stream spec named (same credentials; not with `crdb_route=gateway`, where the URI is the
/// only way in); the error is the URI's.
async fn connect_any(
    env: &IngestionEnv,
    d: &IngestionDetails,
    timeout: Duration,
) -> Result<tokio_postgres::Client, ReplicationError> {
    let url =
        ConnUrl::parse_with_certs_dir(&d.source_uri, env.certs_dir.as_deref()).map_err(remote)?;
    let first = match connect_url(&url, timeout).await {
        Ok(c) => return Ok(c),
        Err(e) if url.route_gateway => return Err(e),
        Err(e) => e,
    };
    for addr in &d.source_nodes {
        let Ok(u) = url.with_address(addr) else {
            continue;
        };
        if u.host_port() == url.host_port() {
            continue;
        }
        if let Ok(c) = connect_url(&u, timeout).await {
            tracing::info!(stream = %d.stream_id, node = %addr, "source URI unreachable; using another source node");
            return Ok(c);
        }
    }
    Err(first)
}

/// Whether `spans` exactly tile `root` (in any order, no gaps, no overlaps).
fn tiles(root: &crate::storage::keys::Span, spans: &[crate::storage::keys::Span]) -> bool {
    let mut sorted: Vec<_> = spans.iter().collect();
    sorted.sort_by(|a, b| a.start.cmp(&b.start));
    sorted.first().is_some_and(|s| s.start == root.start)
        && sorted.last().is_some_and(|s| s.end == root.end)
        && sorted.windows(2).all(|w| w[0].end == w[1].start)
        && sorted.iter().all(|s| s.start < s.end)
}

/// Runs the job until it completes or is canceled (the task is aborted).
pub async fn run_job(env: IngestionEnv, job: JobId, mut control: watch::Receiver<u64>) {
    let mut backoff = Duration::from_millis(250);
    let mut replans = 0u32;
    loop {
        let rec = match jobs::load(&env.store, job).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(%e, %job, "load ingestion job");
                wait(&mut control, Duration::from_secs(1)).await;
                continue;
            }
        };
        let Some(d) = rec.ingestion().cloned() else {
            return;
        };
        // The job runs on its coordinator node only; statements on other nodes change its
        // record, which the coordinator re-reads (at the latest every second while paused).
        if rec.coordinator != env.store.node_id().0 {
            env.live.lock().remove(&job);
            env.metrics.set_replicated(job, None);
            return;
        }
        if rec.status.is_terminal() {
            env.live.lock().remove(&job);
            env.metrics.set_replicated(job, None);
            return;
        }
        env.live.lock().insert(job, d.clone());
        if rec.status == JobStatus::Paused {
            env.metrics.set_replicated(job, None);
            wait(&mut control, Duration::from_secs(1)).await;
            continue;
        }
        let cutover_due = d.status == ReplicationStatus::FailingOver
            || matches!((d.cutover_time, d.replicated_time), (Some(c), Some(r)) if r >= c);
        let result = if cutover_due {
            match cutover(&env, job, &d).await {
                Ok(()) => return,
                Err(e) => Err((e, false)),
            }
        } else {
            env.metrics.running.inc();
            let r = stream(&env, job, d.clone(), &mut control).await;
            env.metrics.running.dec();
            r
        };
        match result {
            Ok(()) => backoff = Duration::from_millis(250),
            Err((ReplicationError::Replan(why), progressed)) => {
                // Leases moved on the source: a new plan, at once, is the whole remedy (again
                // and again without progress, the source's view of its leases is behind: wait
                // a little longer each time).
                replans = if progressed { 0 } else { replans + 1 };
                let pause = Duration::from_millis(20 << replans.min(7));
                tracing::debug!(%job, %why, ?pause, "re-planning the replication stream");
                wait(&mut control, pause).await;
            }
            Err((e, progressed)) => {
                if progressed {
                    backoff = Duration::from_millis(250);
                }
                let reason = e.to_string();
                tracing::warn!(%job, error = %reason, retry_in = ?backoff, "replication stream failed; retrying");
                env.metrics.set_replicated(job, None);
                let me = env.store.node_id().0;
                let r = jobs::update(&env.store, job, |r| {
                    if r.coordinator == me
                        && let JobDetails::Ingestion(d) = &mut r.details
                        && d.status != ReplicationStatus::FailingOver
                    {
                        d.status = ReplicationStatus::Error;
                        d.last_error = Some(reason.clone());
                    }
                    Ok(())
                })
                .await;
                if let Ok(r) = r
                    && let Some(d) = r.ingestion()
                {
                    env.live.lock().insert(job, d.clone());
                }
                wait(&mut control, backoff).await;
                backoff = (backoff * 2).min(env.settings.max_backoff);
            }
        }
    }
}

/// Sleeps `d` or until the job's control changes.
async fn wait(control: &mut watch::Receiver<u64>, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = control.changed() => {}
    }
}

/// Streams until the control changes, the failover time is reached (`Ok`), or an error
/// (`Err((error, whether progress was made))`).
async fn stream(
    env: &IngestionEnv,
    job: JobId,
    d: IngestionDetails,
    control: &mut watch::Receiver<u64>,
) -> Result<(), (ReplicationError, bool)> {
    // Whatever ends the stream, the processors stop (finishing their flushes) before anything
    // else happens: a revert (failover, DROP) must never race with versions still being
    // written.
    let mut plan: Option<Plan> = None;
    let r = stream_until_done(env, job, d, control, &mut plan).await;
    if let Some(p) = plan.take() {
        p.stop(r.is_ok()).await;
    }
    r
}

/// One attempt of [`stream`]: reads the source's spec, starts the plan's processors (into
/// `plan`, which the caller stops) and follows their resolved spans until done.
async fn stream_until_done(
    env: &IngestionEnv,
    job: JobId,
    mut d: IngestionDetails,
    control: &mut watch::Receiver<u64>,
    plan: &mut Option<Plan>,
) -> Result<(), (ReplicationError, bool)> {
    // Nothing is replicated before the processors start: setup errors made no progress.
    let settings = current_settings(env).await.map_err(|e| (e, false))?;
    let source = read_spec(env, &d, &settings)
        .await
        .map_err(|e| (e, false))?;
    learn_source_nodes(env, job, &mut d, &source.spec)
        .await
        .map_err(|e| (e, false))?;
    let want = if d.replicated_time.is_some() {
        ReplicationStatus::Replicating
    } else {
        ReplicationStatus::InitialScan
    };
    d = set_status(env, job, want).await.map_err(|e| (e, false))?;
    // One processor per partition, spread over the standby's live nodes; their durable
    // resolved spans come back here. A processor that fails ends the whole attempt: the job
    // re-plans (a new spec, from the replicated time).
    let (tx, reports) = mpsc::channel::<Report>(256);
    *plan = Some(start_plan(env, job, &d, &source.spec, &settings, tx).await);
    let mut progress = Progress::new(env, job, d);
    let r = follow(&mut progress, &source, &settings, reports, control).await;
    r.map_err(|e| (e, progress.progressed))
}

/// The source side of one attempt: the control connection and the stream's spec.
struct Source {
    ctl: tokio_postgres::Client,
    stream_id: i64,
    spec: StreamSpec,
}

/// Connects to the source (any node it is known by) and reads the stream's spec, which must
/// tile the source virtual cluster's span.
async fn read_spec(
    env: &IngestionEnv,
    d: &IngestionDetails,
    s: &IngestionSettings,
) -> Result<Source, ReplicationError> {
    let ctl = connect_any(env, d, s.connect_timeout).await?;
    let stream_id = d.stream_id.0 as i64;
    let row = bounded(
        s.connect_timeout,
        ctl.query_one(
            "SELECT crdb_internal.replication_stream_spec($1)",
            &[&stream_id],
        ),
    )
    .await?;
    let spec_bytes: Vec<u8> = row.try_get(0).map_err(pg)?;
    let spec = StreamSpec::decode(&spec_bytes)?;
    let spans: Vec<_> = spec
        .partitions
        .iter()
        .flat_map(|p| p.spans.clone())
        .collect();
    if !tiles(&tenant_span(d.source_tenant_id), &spans) {
        return Err(remote(
            "the source's stream spec does not cover the source virtual cluster",
        ));
    }
    Ok(Source {
        ctl,
        stream_id,
        spec,
    })
}

/// Records the source SQL addresses the spec names that the job does not know yet, so that a
/// later attempt can connect through them when the URI's node is down.
async fn learn_source_nodes(
    env: &IngestionEnv,
    job: JobId,
    d: &mut IngestionDetails,
    spec: &StreamSpec,
) -> Result<(), ReplicationError> {
    let mut learned: Vec<String> = spec
        .partitions
        .iter()
        .map(|p| &p.sql_address)
        .chain(&spec.sql_addresses)
        .filter(|a| !d.source_nodes.contains(a))
        .cloned()
        .collect();
    learned.dedup();
    if learned.is_empty() {
        return Ok(());
    }
    let rec = jobs::update(&env.store, job, |r| {
        if let JobDetails::Ingestion(x) = &mut r.details {
            for a in &learned {
                if !x.source_nodes.contains(a) {
                    x.source_nodes.push(a.clone());
                }
            }
        }
        Ok(())
    })
    .await?;
    if let Some(x) = rec.ingestion() {
        d.source_nodes = x.source_nodes.clone();
    }
    Ok(())
}

/// The coordinator's view of one attempt: the frontier of the processors' resolved spans, the
/// job's details with the replicated time it implies, and what of it is persisted.
struct Progress<'a> {
    env: &'a IngestionEnv,
    job: JobId,
    d: IngestionDetails,
    frontier: SpanFrontier,
    persisted: Option<Timestamp>,
    last_persist: Instant,
    /// The replicated time advanced in this attempt (the retry back-off resets).
    progressed: bool,
}

impl<'a> Progress<'a> {
    fn new(env: &'a IngestionEnv, job: JobId, d: IngestionDetails) -> Progress<'a> {
        let frontier = SpanFrontier::new(
            tenant_span(d.source_tenant_id),
            d.replicated_time.unwrap_or(Timestamp::MIN),
        );
        Progress {
            env,
            job,
            persisted: d.replicated_time,
            d,
            frontier,
            last_persist: Instant::now(),
            progressed: false,
        }
    }

    /// Forwards durable resolved spans; returns whether the failover time is reached. During
    /// the initial scan every advance is persisted at once.
    async fn advance(&mut self, resolved: &[ResolvedSpan]) -> Result<bool, ReplicationError> {
        let (env, job) = (self.env, self.job);
        let mut advanced = false;
        for r in resolved {
            advanced |= self.frontier.forward(&r.span, r.ts);
        }
        let f = self.frontier.frontier();
        let d = &mut self.d;
        if !(advanced && f >= d.start_time && d.replicated_time.is_none_or(|r| f > r)) {
            return Ok(false);
        }
        self.progressed = true;
        d.replicated_time = Some(f);
        env.metrics.set_replicated(job, Some(f.wall));
        if d.status == ReplicationStatus::InitialScan {
            *d = persist(env, job, f).await?;
            self.persisted = Some(f);
            self.last_persist = Instant::now();
        }
        env.live.lock().insert(job, d.clone());
        if d.cutover_time.is_some_and(|c| f >= c) {
            persist(env, job, f).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The periodic persist: returns `true` when the job record (changed by a statement on
    /// another node: pause, drop) says the job no longer runs; otherwise persists the
    /// replicated time if it moved and `every` has passed, taking the record's fresh
    /// failover time, retention and status.
    async fn tick(&mut self, every: Duration) -> Result<bool, ReplicationError> {
        let (env, job) = (self.env, self.job);
        if env.store.system_writes().is_shared()
            && let Ok(Some(rec)) = jobs::load(&env.store, job).await
            && rec.status != JobStatus::Running
        {
            self.persist_last().await?;
            return Ok(true);
        }
        if self.d.replicated_time != self.persisted
            && self.last_persist.elapsed() >= every
            && let Some(f) = self.d.replicated_time
        {
            let fresh = persist(env, job, f).await?;
            self.d.cutover_time = fresh.cutover_time;
            self.d.retention_secs = fresh.retention_secs;
            self.d.status = fresh.status;
            self.persisted = Some(f);
            self.last_persist = Instant::now();
        }
        Ok(false)
    }

    /// Persists the replicated time unless it already is (the attempt ends without error).
    async fn persist_last(&self) -> Result<(), ReplicationError> {
        if let Some(f) = self.d.replicated_time
            && self.persisted != Some(f)
        {
            persist(self.env, self.job, f).await?;
        }
        Ok(())
    }
}

/// Follows the processors' reports, persisting progress every `persist_every` and
/// heartbeating the source every `heartbeat_every`, until the failover time is reached or the
/// control changes (`Ok`), or a processor, the source or a write fails.
async fn follow(
    p: &mut Progress<'_>,
    source: &Source,
    s: &IngestionSettings,
    mut reports: mpsc::Receiver<Report>,
    control: &mut watch::Receiver<u64>,
) -> Result<(), ReplicationError> {
    let mut heartbeat = tokio::time::interval(s.heartbeat_every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut persist_tick = tokio::time::interval(s.persist_every);
    persist_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            report = reports.recv() => match report {
                Some(Report::Resolved(resolved)) => {
                    if p.advance(&resolved).await? {
                        return Ok(());
                    }
                }
                Some(Report::Failed { error, replan }) => {
                    return Err(if replan { ReplicationError::Replan(error) } else { remote(error) });
                }
                None => return Err(remote("every partition processor ended")),
            },
            _ = persist_tick.tick() => {
                // In a cluster of several nodes, statements on other nodes (pause, drop) change
                // the record without reaching this task's control channel: look at it.
                if p.tick(s.persist_every).await? {
                    return Ok(());
                }
            }
            _ = heartbeat.tick() => heartbeat_source(source, &p.d, s).await?,
            _ = control.changed() => {
                p.persist_last().await?;
                return Ok(());
            }
        }
    }
}

/// Heartbeats the stream on the source with the retained time (the source keeps history
/// from it); an inactive stream is an error.
async fn heartbeat_source(
    source: &Source,
    d: &IngestionDetails,
    s: &IngestionSettings,
) -> Result<(), ReplicationError> {
    let retained = d.retained_time().to_string();
    let row = bounded(
        s.connect_timeout,
        source.ctl.query_one(
            "SELECT crdb_internal.replication_stream_progress($1, $2)",
            &[&source.stream_id, &retained],
        ),
    )
    .await?;
    let b: Vec<u8> = row.try_get(0).map_err(pg)?;
    let st = StreamStatus::decode(&b)?;
    if st.state == StreamState::Inactive {
        return Err(remote(format!(
            "replication stream {} is no longer active on the source",
            d.stream_id
        )));
    }
    Ok(())
}

/// A control query to the source, bounded in time (a cut network gives no error by itself).
async fn bounded<T>(
    limit: Duration,
    q: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, ReplicationError> {
    tokio::time::timeout(limit, q)
        .await
        .map_err(|_| remote(format!("the source did not answer within {limit:?}")))?
        .map_err(pg)
}

/// The node's timing with the consumer's cluster settings applied
/// (`physical_replication.consumer.heartbeat_frequency`, `...stream_idle_timeout`).
async fn current_settings(env: &IngestionEnv) -> Result<IngestionSettings, ReplicationError> {
    use crate::sql::cluster_settings::system_duration;
    let read = |name| async move {
        system_duration(&env.store, name)
            .await
            .map_err(|e| remote(e.message))
    };
    let mut s = env.settings.clone();
    if let Some(d) = read("physical_replication.consumer.heartbeat_frequency").await? {
        s.heartbeat_every = d;
    }
    if let Some(d) = read("physical_replication.consumer.stream_idle_timeout").await? {
        s.idle_timeout = d;
    }
    Ok(s)
}

/// Sets the replication status (clearing the last error).
async fn set_status(
    env: &IngestionEnv,
    job: JobId,
    status: ReplicationStatus,
) -> Result<IngestionDetails, ReplicationError> {
    let rec = jobs::update(&env.store, job, |r| {
        if let JobDetails::Ingestion(d) = &mut r.details {
            if !matches!(
                d.status,
                ReplicationStatus::PendingFailover | ReplicationStatus::FailingOver
            ) {
                d.status = status;
            }
            d.last_error = None;
        }
        Ok(())
    })
    .await?;
    let d = rec
        .ingestion()
        .cloned()
        .ok_or_else(|| remote("job record changed kind"))?;
    env.live.lock().insert(job, d.clone());
    Ok(d)
}

/// Persists the replicated time and moves the destination's protected timestamp to the
/// retained time. Returns the record's details as written (with the latest user changes:
/// failover time, retention).
async fn persist(
    env: &IngestionEnv,
    job: JobId,
    replicated: Timestamp,
) -> Result<IngestionDetails, ReplicationError> {
    let me = env.store.node_id().0;
    let rec = jobs::update(&env.store, job, |r| {
        if r.coordinator != me {
            return Err(crate::kv::KvError::InvalidArgument(format!(
                "job {job} is now coordinated by node {}",
                r.coordinator
            )));
        }
        if let JobDetails::Ingestion(d) = &mut r.details {
            if d.replicated_time.is_none_or(|t| t < replicated) {
                d.replicated_time = Some(replicated);
            }
            if matches!(
                d.status,
                ReplicationStatus::InitialScan
                    | ReplicationStatus::Initializing
                    | ReplicationStatus::Error
            ) {
                d.status = ReplicationStatus::Replicating;
            }
            d.last_error = None;
        }
        Ok(())
    })
    .await?;
    let mut d = rec
        .ingestion()
        .cloned()
        .ok_or_else(|| remote("job record changed kind"))?;
    let retained = d.retained_time();
    match d.dest_pts {
        Some(id) => env.store.update_protected(id, retained).await?,
        None => {
            let id = env
                .store
                .protect(tenant_span(d.dest_tenant), retained)
                .await?;
            let rec = jobs::update(&env.store, job, |r| {
                if let JobDetails::Ingestion(x) = &mut r.details {
                    x.dest_pts = Some(id);
                }
                Ok(())
            })
            .await?;
            if let Some(x) = rec.ingestion() {
                d = x.clone();
            }
        }
    }
    env.live.lock().insert(job, d.clone());
    Ok(d)
}

/// Fails over: reverts the destination to the failover time, marks it `ready`, completes the
/// job and (best effort) the source's producer job. Safe to re-run after an interruption.
async fn cutover(
    env: &IngestionEnv,
    job: JobId,
    d: &IngestionDetails,
) -> Result<(), ReplicationError> {
    let Some(at) = d.cutover_time else {
        return Err(remote("no failover time set"));
    };
    tracing::info!(%job, cutover = %at, "failing over");
    let rec = jobs::update(&env.store, job, |r| {
        if let JobDetails::Ingestion(d) = &mut r.details {
            d.status = ReplicationStatus::FailingOver;
            d.last_error = None;
        }
        Ok(())
    })
    .await?;
    if let Some(x) = rec.ingestion() {
        env.live.lock().insert(job, x.clone());
    }
    env.metrics.set_replicated(job, None);
    // No processor of this job, of any plan or earlier coordinator, writes behind the revert.
    processor::stop_everywhere(env, job).await;
    let span = tenant_span(d.dest_tenant);
    let total = env
        .store
        .ranges_for(&span)
        .await
        .map_or(1, |r| r.len().max(1)) as i64;
    env.metrics.failover_progress.set(total);
    let m = env.metrics.clone();
    let live = env.live.clone();
    env.store
        .revert_span(&span, at, 10_000, move |f| {
            m.failover_progress
                .set(((1.0 - f) * total as f64).round() as i64);
            if let Some(x) = live.lock().get_mut(&job) {
                x.failover_progress = f;
            }
        })
        .await?;
    env.metrics.failover_progress.set(0);
    env.registry
        .set_data_state(d.dest_tenant, DataState::Ready)
        .await
        .map_err(|e| remote(e.message))?;
    if let Some(id) = d.dest_pts
        && let Err(e) = env.store.release_protected(id).await
    {
        tracing::debug!(%e, "release destination protected timestamp");
    }
    let now = env.store.now();
    jobs::update(&env.store, job, |r| {
        r.status = JobStatus::Succeeded;
        r.finished = Some(now);
        if let JobDetails::Ingestion(d) = &mut r.details {
            d.status = ReplicationStatus::Completed;
            d.failover_progress = 1.0;
            d.dest_pts = None;
        }
        Ok(())
    })
    .await?;
    env.live.lock().remove(&job);
    tracing::info!(%job, cutover = %at, "failover complete");
    complete_source(env, d, true).await;
    Ok(())
}

/// Tells the source its stream is finished (best effort, bounded wait).
pub async fn complete_source(env: &IngestionEnv, d: &IngestionDetails, ok: bool) {
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        let c = connect_any(env, d, env.settings.connect_timeout).await?;
        c.query_one(
            "SELECT crdb_internal.complete_replication_stream($1, $2)",
            &[&(d.stream_id.0 as i64), &ok],
        )
        .await
        .map_err(pg)?;
        Ok::<(), ReplicationError>(())
    })
    .await;
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(%e, stream = %d.stream_id, "could not complete the source's replication stream")
        }
        Err(_) => {
            tracing::warn!(stream = %d.stream_id, "completing the source's replication stream timed out")
        }
    }
}
