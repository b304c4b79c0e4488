//! Partition processors: the standby's work for one partition of a stream, on whichever
//! standby node the job's coordinator assigned it to.
//!
//! A processor connects to the primary node serving its partition (the job's URI with that
//! node's SQL address: same credentials and TLS settings; with `crdb_route=gateway` in the URI,
//! to the URI's address itself, e.g. a load balancer in front of the primary), runs
//! `crdb_internal.stream_partition`, re-keys versions from the source tenant to the destination
//! tenant, buffers them and writes them through [`crate::kv::Store::ingest`] (raft, durable,
//! routed to the destination ranges' leaseholders wherever they are). A checkpoint first
//! flushes what came before it; only once that flush is durable are its resolved spans handed
//! to the coordinator, whose frontier turns them into the replicated time. One flush runs while
//! the next events are received.
//!
//! On the coordinator's node a processor is a task; on another node it runs under
//! [`serve`] (the node service `Replication`): the coordinator starts it, long-polls its
//! resolved spans and stops it. A remote processor that is not polled for [`PROCESSOR_TTL`]
//! (coordinator dead or cut off) stops by itself. Stopping always waits for the flush in
//! flight, so once a stop is acknowledged the processor writes nothing more (a failover's
//! revert must not race with late versions).
//!
//! Failure: any error (connection, remote error, malformed event, idle source) ends the
//! processor with that error; the coordinator then stops the others and re-plans.

use super::ReplicationError;
use super::event::{EventBody, ResolvedSpan, StreamEvent};
use super::ingestion::IngestionEnv;
use super::producer_stream::REPLAN_HINT;
use super::spec::{Partition, PartitionSpec};
use super::status::ReplicationStatus;
use crate::client::{self, ConnUrl};
use crate::clock::Timestamp;
use crate::ids::{JobId, TenantId};
use crate::storage::keys::{Span, decode_tenant, rewrite_tenant, tenant_span};
use crate::storage::mvcc::Version;
use futures::StreamExt;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, watch};

/// A remote processor not polled for this long stops by itself.
pub const PROCESSOR_TTL: Duration = Duration::from_secs(5);

/// How long a poll waits for news before answering with none.
const POLL_WAIT: Duration = Duration::from_millis(500);

/// What a processor runs: one partition of a stream, from where the job is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessorSpec {
    /// The ingestion job.
    pub job: JobId,
    /// The plan this processor belongs to (a new one per streaming attempt).
    pub generation: u64,
    /// The partition's position in the plan.
    pub index: u32,
    /// The partition (primary node, its SQL address, the spans).
    pub partition: Partition,
    /// The job's source URI (credentials included; node connections are mutual TLS).
    pub source_uri: String,
    /// The producer's stream.
    pub stream_id: JobId,
    /// The source tenant (keys outside it are refused).
    pub source_tenant: TenantId,
    /// The destination tenant (keys are re-written into it).
    pub dest_tenant: TenantId,
    /// The initial scan's timestamp.
    pub initial_scan_ts: Timestamp,
    /// Resume above this timestamp (no initial scan).
    pub previous_replicated_ts: Option<Timestamp>,
    /// Flush the buffer once it holds this many bytes, even without a checkpoint.
    pub flush_bytes: u64,
    /// Connecting gives up after this long (milliseconds).
    pub connect_timeout_ms: u64,
    /// A partition with no event for this long is broken (milliseconds).
    pub idle_timeout_ms: u64,
}

impl ProcessorSpec {
    fn key(&self) -> ProcessorKey {
        (self.job, self.generation, self.index)
    }

    /// `n<id> (<sql address>)` of the primary node serving the partition.
    pub fn source_node(&self) -> String {
        format!(
            "{} ({})",
            self.partition.node_id, self.partition.sql_address
        )
    }
}

type ProcessorKey = (JobId, u64, u32);

fn remote(e: impl std::fmt::Display) -> ReplicationError {
    ReplicationError::Remote(e.to_string())
}

/// Connects to one node of the source.
pub async fn connect_url(
    url: &ConnUrl,
    timeout: Duration,
) -> Result<tokio_postgres::Client, ReplicationError> {
    let target = url.host_port();
    let (c, _) = tokio::time::timeout(timeout, client::connect(url))
        .await
        .map_err(|_| {
            remote(format!(
                "cannot connect to {target}: timed out after {timeout:?}"
            ))
        })?
        .map_err(remote)?;
    Ok(c)
}

/// A flush running in its own task; dropping it (only when a processor task is aborted, e.g.
/// the node stops) aborts it, and an interrupted flush is redone after a resume.
struct FlushTask(tokio::task::JoinHandle<Result<(), ReplicationError>>);

impl Drop for FlushTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Writes buffered versions durably (through raft) with their source timestamps, if the job
/// still streams: once it fails over, is paused or ends (statements on any node change its
/// record), a processor that missed its stop writes nothing more.
async fn flush(
    env: IngestionEnv,
    job: JobId,
    versions: Vec<Version>,
) -> Result<(), ReplicationError> {
    let rec = crate::jobs::load(&env.store, job).await?;
    let streaming = rec.as_ref().is_some_and(|r| {
        r.status == crate::jobs::JobStatus::Running
            && r.ingestion().is_some_and(|d| {
                !matches!(
                    d.status,
                    ReplicationStatus::FailingOver | ReplicationStatus::Completed
                )
            })
    });
    if !streaming {
        return Err(remote(format!("job {job} no longer streams")));
    }
    let max = versions.iter().map(|v| v.ts).max();
    let t0 = Instant::now();
    env.store.ingest(versions).await?;
    env.metrics.flushes.inc();
    env.metrics
        .flush_seconds
        .observe(t0.elapsed().as_secs_f64());
    // Local writes after failover must be above everything replicated.
    if let Some(ts) = max
        && let Err(e) = env.store.clock().update(ts)
    {
        tracing::warn!(%e, "replicated timestamp is ahead of the local clock");
    }
    Ok(())
}

/// What a buffered version counts towards the flush threshold.
fn buffered_bytes(v: &Version) -> usize {
    v.key.len() + v.value.as_ref().map_or(0, Vec::len) + 16
}

/// The resolved spans (source keys) as sorted, disjoint spans of destination keys.
fn dest_spans(resolved: &[ResolvedSpan], source: TenantId, dest: TenantId) -> Vec<Span> {
    let (src, dst) = (tenant_span(source), tenant_span(dest));
    let mut spans: Vec<Span> = resolved
        .iter()
        .filter_map(|r| r.span.intersect(&src))
        .filter_map(|s| {
            let start = rewrite_tenant(s.start.as_bytes(), dest)?;
            let end = if s.end == src.end {
                dst.end.0.clone()
            } else {
                rewrite_tenant(s.end.as_bytes(), dest)?
            };
            Some(Span::new(start, end))
        })
        .collect();
    spans.sort_by(|a, b| a.start.cmp(&b.start));
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match merged.last_mut() {
            Some(last) if s.start <= last.end => {
                if s.end > last.end {
                    last.end = s.end;
                }
            }
            _ => merged.push(s),
        }
    }
    merged
}

/// Whether `key` lies in one of the sorted, disjoint `spans`.
fn covers(spans: &[Span], key: &[u8]) -> bool {
    let i = spans.partition_point(|s| s.start.as_bytes() <= key);
    i > 0 && spans[i - 1].contains_key(key)
}

/// Runs one partition until it fails (`Err`), `stop` is set or `out` is dropped (`Ok`).
/// Durable resolved spans go to `out`. Returns only after the flush in flight finished.
pub async fn run(
    env: IngestionEnv,
    spec: ProcessorSpec,
    out: mpsc::Sender<Vec<ResolvedSpan>>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ReplicationError> {
    let mut inflight: InFlight = None;
    let r = run_until_done(&env, &spec, &out, &mut stop, &mut inflight).await;
    if let Some((mut task, resolved)) = inflight.take() {
        match (&mut task.0).await {
            Ok(Ok(())) => {
                let _ = out.try_send(resolved);
            }
            Ok(Err(e)) => {
                tracing::debug!(%e, job = %spec.job, "flush in flight when the partition ended failed")
            }
            Err(e) => tracing::debug!(%e, job = %spec.job, "flush task ended"),
        }
    }
    r
}

/// The flush in flight, with the resolved spans that wait for it to be durable.
type InFlight = Option<(FlushTask, Vec<ResolvedSpan>)>;

/// One attempt of [`run`]: opens the partition's stream on its source node and ingests its
/// events until done (see [`run`]).
async fn run_until_done(
    env: &IngestionEnv,
    spec: &ProcessorSpec,
    out: &mpsc::Sender<Vec<ResolvedSpan>>,
    stop: &mut watch::Receiver<bool>,
    inflight: &mut InFlight,
) -> Result<(), ReplicationError> {
    let errs = SourceErrors {
        node: spec.source_node(),
    };
    let idle_timeout = Duration::from_millis(spec.idle_timeout_ms);
    let (_data, rows) = open_partition(env, spec, &errs).await?;
    let mut rows = std::pin::pin!(rows);
    let mut pending = Pending {
        buffer: Vec::new(),
        buffered: 0,
        waiting: Vec::new(),
        flush_bytes: spec.flush_bytes.max(1) as usize,
    };
    let mut last_event = Instant::now();
    let mut idle = tokio::time::interval(Duration::from_millis(250));
    idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            done = async { match inflight.as_mut() { Some((h, _)) => (&mut h.0).await, None => std::future::pending().await } } => {
                let (_, resolved) = inflight.take().unwrap_or_else(|| unreachable!());
                done.map_err(|e| remote(format!("flush task failed: {e}")))??;
                if out.send(resolved).await.is_err() {
                    return Ok(());
                }
            }
            row = rows.next() => {
                let row = match row {
                    None => return Err(errs.at(remote("the source ended the partition"))),
                    Some(r) => r.map_err(|e| errs.pg(e))?,
                };
                last_event = Instant::now();
                let bytes: &[u8] = row.try_get(0).map_err(|e| errs.pg(e))?;
                let ev = StreamEvent::decode(bytes)?;
                env.metrics.logical_bytes.inc_by(ev.logical_bytes());
                let next = match ev.body {
                    EventBody::Batch(vs) => pending.batch(env, spec, vs, &errs)?,
                    EventBody::Checkpoint(resolved) => {
                        pending.checkpoint(env, spec, resolved, inflight)
                    }
                };
                let open = match next {
                    Next::Wait => true,
                    Next::Send(resolved) => out.send(resolved).await.is_ok(),
                    Next::Flush(due) => pending.start_flush(env, spec, due, out, inflight).await?,
                };
                if !open {
                    return Ok(());
                }
            }
            _ = idle.tick() => {
                if last_event.elapsed() >= idle_timeout {
                    return Err(errs.at(remote(format!(
                        "no events for {:?} (network cut or source unresponsive)",
                        last_event.elapsed()
                    ))));
                }
                if out.is_closed() {
                    return Ok(());
                }
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Errors of one partition, naming its source node.
struct SourceErrors {
    node: String,
}

impl SourceErrors {
    fn at(&self, e: ReplicationError) -> ReplicationError {
        remote(format!("partition on source node {}: {e}", self.node))
    }

    /// A source error; the hint that the partition's leases moved asks for a re-plan.
    fn pg(&self, e: tokio_postgres::Error) -> ReplicationError {
        let text = client::describe_pg_error(&e);
        if text.contains(REPLAN_HINT) {
            ReplicationError::Replan(format!("partition on source node {}: {text}", self.node))
        } else {
            self.at(remote(text))
        }
    }
}

/// Connects to the partition's source node (or the URI's address with `crdb_route=gateway`:
/// every partition goes through it, e.g. a load balancer) and starts
/// `crdb_internal.stream_partition`. Returns the connection and its row stream.
async fn open_partition(
    env: &IngestionEnv,
    spec: &ProcessorSpec,
    errs: &SourceErrors,
) -> Result<(tokio_postgres::Client, tokio_postgres::RowStream), ReplicationError> {
    let connect_timeout = Duration::from_millis(spec.connect_timeout_ms);
    let url = ConnUrl::parse_with_certs_dir(&spec.source_uri, env.certs_dir.as_deref())
        .map_err(remote)?;
    let url = if url.route_gateway {
        url
    } else {
        url.with_address(&spec.partition.sql_address)
            .map_err(remote)
            .map_err(|e| errs.at(e))?
    };
    let data = connect_url(&url, connect_timeout)
        .await
        .map_err(|e| errs.at(e))?;
    data.batch_execute("SET statement_timeout = 0")
        .await
        .map_err(|e| errs.pg(e))?;
    let pspec = PartitionSpec {
        spans: spec.partition.spans.clone(),
        initial_scan_ts: spec.initial_scan_ts,
        previous_replicated_ts: spec.previous_replicated_ts,
        compressed: true,
        batch_bytes: 1 << 20,
    };
    let stream_id = spec.stream_id.0 as i64;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&stream_id, &pspec.encode()];
    let rows = data
        .query_raw(
            "SELECT * FROM crdb_internal.stream_partition($1, $2)",
            params.iter().copied(),
        )
        .await
        .map_err(|e| errs.pg(e))?;
    Ok((data, rows))
}

/// What an event asks of the processor.
enum Next {
    /// Nothing yet.
    Wait,
    /// Write these versions (after the flush in flight).
    Flush(Vec<Version>),
    /// These spans are resolved now.
    Send(Vec<ResolvedSpan>),
}

/// Received versions not yet written, and resolved spans not yet handed on.
struct Pending {
    buffer: Vec<Version>,
    /// Bytes in `buffer`, as [`buffered_bytes`] counts them.
    buffered: usize,
    /// Resolved spans of the checkpoints that followed the data of the flush in flight wait
    /// with it; those that came with no new data wait here for the next flush or are sent at
    /// once.
    waiting: Vec<ResolvedSpan>,
    flush_bytes: usize,
}

impl Pending {
    /// Buffers a batch's versions, re-keyed into the destination virtual cluster; the whole
    /// buffer is due once it holds `flush_bytes`. A key outside the source virtual cluster is
    /// an error.
    fn batch(
        &mut self,
        env: &IngestionEnv,
        spec: &ProcessorSpec,
        vs: Vec<Version>,
        errs: &SourceErrors,
    ) -> Result<Next, ReplicationError> {
        env.metrics.events_ingested.inc_by(vs.len() as u64);
        for mut v in vs {
            if decode_tenant(&v.key) != Some(spec.source_tenant) {
                return Err(errs.at(remote(
                    "the source sent a key outside the replicated virtual cluster",
                )));
            }
            let Some(k) = rewrite_tenant(&v.key, spec.dest_tenant) else {
                return Err(errs.at(remote("the source sent a malformed key")));
            };
            v.key = k;
            self.buffered += buffered_bytes(&v);
            self.buffer.push(v);
        }
        Ok(if self.buffered >= self.flush_bytes {
            Next::Flush(std::mem::take(&mut self.buffer))
        } else {
            Next::Wait
        })
    }

    /// A checkpoint: the buffered versions inside its resolved spans are due. Only those must
    /// be durable before the spans count as resolved; the others wait for their own spans'
    /// checkpoints or the size threshold. During an initial scan the ranges already scanned
    /// checkpoint every few hundred milliseconds while the big ones are still being read:
    /// flushing everything on each checkpoint cut the big ranges' data into chunks too small
    /// to be written as table files. With nothing due, the spans are resolved once what is in
    /// flight (if anything) is durable.
    fn checkpoint(
        &mut self,
        env: &IngestionEnv,
        spec: &ProcessorSpec,
        resolved: Vec<ResolvedSpan>,
        inflight: &mut InFlight,
    ) -> Next {
        env.metrics.resolved_events_ingested.inc();
        let covered = dest_spans(&resolved, spec.source_tenant, spec.dest_tenant);
        let (due, rest): (Vec<Version>, Vec<Version>) = std::mem::take(&mut self.buffer)
            .into_iter()
            .partition(|v| covers(&covered, &v.key));
        self.buffer = rest;
        self.waiting.extend(resolved);
        if !due.is_empty() {
            return Next::Flush(due);
        }
        match inflight.as_mut() {
            Some((_, after)) => {
                after.append(&mut self.waiting);
                Next::Wait
            }
            None => Next::Send(std::mem::take(&mut self.waiting)),
        }
    }

    /// Waits for the flush in flight and sends what waited on it, then starts writing `due`
    /// with the spans waiting now. `false` once `out` is gone (nothing is started then).
    async fn start_flush(
        &mut self,
        env: &IngestionEnv,
        spec: &ProcessorSpec,
        due: Vec<Version>,
        out: &mpsc::Sender<Vec<ResolvedSpan>>,
        inflight: &mut InFlight,
    ) -> Result<bool, ReplicationError> {
        if let Some((mut h, resolved)) = inflight.take() {
            (&mut h.0)
                .await
                .map_err(|e| remote(format!("flush task failed: {e}")))??;
            if out.send(resolved).await.is_err() {
                return Ok(false);
            }
        }
        let task = FlushTask(tokio::spawn(flush(env.clone(), spec.job, due)));
        *inflight = Some((task, std::mem::take(&mut self.waiting)));
        self.buffered = self.buffer.iter().map(buffered_bytes).sum();
        Ok(true)
    }
}

/// A call to another node's processors (node service `Replication`).
#[derive(Debug, Serialize, Deserialize)]
pub enum ProcessorCall {
    /// Start a processor (idempotent for the same job, generation and index).
    Start(Box<ProcessorSpec>),
    /// Resolved spans since the last poll (waits up to half a second for some).
    Poll {
        /// The job.
        job: JobId,
        /// The plan.
        generation: u64,
        /// The partition.
        index: u32,
    },
    /// Stop every processor of a job on this node, of any plan; answered once they wrote their
    /// last flushes.
    StopJob {
        /// The job.
        job: JobId,
    },
    /// Stop a processor; answered once it wrote its last flush.
    Stop {
        /// The job.
        job: JobId,
        /// The plan.
        generation: u64,
        /// The partition.
        index: u32,
    },
}

/// The answer to a [`ProcessorCall`].
#[derive(Debug, Serialize, Deserialize)]
pub enum ProcessorReply {
    /// Running.
    Started,
    /// Durable resolved spans, and the processor's error once it failed.
    Progress {
        /// Resolved spans (source keys).
        resolved: Vec<ResolvedSpan>,
        /// Why the processor ended, if it did, and whether a new plan is all it takes.
        failed: Option<(String, bool)>,
    },
    /// Stopped; nothing more is written.
    Stopped,
}

#[derive(Default)]
struct Outbox {
    resolved: Vec<ResolvedSpan>,
    failed: Option<(String, bool)>,
    last_poll: Option<Instant>,
}

struct Hosted {
    outbox: Arc<Mutex<Outbox>>,
    news: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The processors this node runs for coordinators on other nodes.
#[derive(Default, Clone)]
pub struct HostedProcessors(Arc<Mutex<HashMap<ProcessorKey, Hosted>>>);

/// Serves one [`ProcessorCall`] (the node service `Replication`).
pub async fn serve(env: &IngestionEnv, body: &[u8]) -> Result<Vec<u8>, String> {
    let call: ProcessorCall = crate::rpc::decode_body(body).map_err(|e| e.to_string())?;
    let hosted = env.processors.clone();
    let reply = match call {
        ProcessorCall::Start(spec) => {
            let key = spec.key();
            let mut map = hosted.0.lock();
            map.entry(key)
                .or_insert_with(|| host(env.clone(), *spec, hosted.clone()));
            ProcessorReply::Started
        }
        ProcessorCall::Poll {
            job,
            generation,
            index,
        } => {
            let key = (job, generation, index);
            let (outbox, news) = {
                let map = hosted.0.lock();
                let h = map.get(&key).ok_or_else(|| {
                    format!(
                        "no processor for partition {index} of job {job} on node {} (restarted or timed out)",
                        env.store.node_id()
                    )
                })?;
                (h.outbox.clone(), h.news.clone())
            };
            let take = || {
                let mut o = outbox.lock();
                o.last_poll = Some(Instant::now());
                if o.resolved.is_empty() && o.failed.is_none() {
                    None
                } else {
                    Some((std::mem::take(&mut o.resolved), o.failed.clone()))
                }
            };
            let notified = news.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (resolved, failed) = match take() {
                Some(x) => x,
                None => {
                    let _ = tokio::time::timeout(POLL_WAIT, notified).await;
                    take().unwrap_or_default()
                }
            };
            ProcessorReply::Progress { resolved, failed }
        }
        ProcessorCall::StopJob { job } => {
            stop_hosted(&hosted, job).await;
            ProcessorReply::Stopped
        }
        ProcessorCall::Stop {
            job,
            generation,
            index,
        } => {
            let h = hosted.0.lock().remove(&(job, generation, index));
            if let Some(h) = h {
                let _ = h.stop.send(true);
                let _ = tokio::time::timeout(Duration::from_secs(30), h.task).await;
            }
            ProcessorReply::Stopped
        }
    };
    crate::rpc::encode_body(&reply).map_err(|e| e.to_string())
}

/// Stops this node's hosted processors of `job` and waits for them.
async fn stop_hosted(hosted: &HostedProcessors, job: JobId) {
    let stopped: Vec<Hosted> = {
        let mut map = hosted.0.lock();
        let keys: Vec<ProcessorKey> = map.keys().filter(|k| k.0 == job).copied().collect();
        keys.into_iter().filter_map(|k| map.remove(&k)).collect()
    };
    for h in stopped {
        let _ = h.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(30), h.task).await;
    }
}

/// Stops every processor of `job` on every node of this cluster, whichever plan (or earlier
/// coordinator) started it, and waits until each wrote its last flush: what a failover or a
/// DROP does before it touches the destination's data. A live node that cannot be reached is
/// waited out ([`PROCESSOR_TTL`] and a grace period: its processors stop once not polled, and
/// check the job record before every flush); a node whose liveness expired cannot commit
/// anything.
pub async fn stop_everywhere(env: &IngestionEnv, job: JobId) {
    stop_hosted(&env.processors, job).await;
    let (Some(peers), me) = (env.store.peers().cloned(), env.store.node_id()) else {
        return;
    };
    let Ok(nodes) = env.store.nodes().await else {
        tokio::time::sleep(PROCESSOR_TTL + STOP_GRACE).await;
        return;
    };
    let now = env.store.now();
    let mut unreachable = Vec::new();
    for (d, l) in nodes {
        if d.node_id == me || !l.is_some_and(|l| l.is_live(now)) {
            continue;
        }
        let stopped = async {
            let body = crate::rpc::encode_body(&ProcessorCall::StopJob { job })
                .map_err(|e| e.to_string())?;
            let raw = peers
                .call_node(
                    d.node_id,
                    crate::rpc::Service::Replication,
                    body,
                    Duration::from_secs(35),
                )
                .await
                .map_err(|e| e.to_string())?;
            match crate::rpc::decode_body::<ProcessorReply>(&raw).map_err(|e| e.to_string())? {
                ProcessorReply::Stopped => Ok(()),
                other => Err(format!("unexpected answer {other:?}")),
            }
        };
        if let Err(e) = stopped.await {
            unreachable.push(format!("{}: {e}", d.node_id));
        }
    }
    if !unreachable.is_empty() {
        tracing::warn!(%job, ?unreachable, "could not stop the replication processors of some nodes; waiting them out");
        tokio::time::sleep(PROCESSOR_TTL + STOP_GRACE).await;
    }
}

/// Extra time given to a processor that could not be told to stop, beyond its TTL, to finish
/// the flush it may have in flight.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Starts a hosted processor with its outbox and its watchdog.
fn host(env: IngestionEnv, spec: ProcessorSpec, hosted: HostedProcessors) -> Hosted {
    let key = spec.key();
    let outbox = Arc::new(Mutex::new(Outbox {
        last_poll: Some(Instant::now()),
        ..Default::default()
    }));
    let news = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, mut rx) = mpsc::channel::<Vec<ResolvedSpan>>(64);
    {
        let (outbox, news) = (outbox.clone(), news.clone());
        tokio::spawn(async move {
            while let Some(r) = rx.recv().await {
                outbox.lock().resolved.extend(r);
                news.notify_waiters();
            }
        });
    }
    let task = {
        let (outbox, news) = (outbox.clone(), news.clone());
        tokio::spawn(async move {
            tracing::info!(job = %spec.job, partition = spec.index, source = %spec.source_node(), "running a replication partition for its coordinator");
            let run = run(env, spec, tx, stop_rx);
            tokio::pin!(run);
            // Stop when the coordinator stops polling.
            let watchdog = async {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let last = outbox.lock().last_poll;
                    if last.is_none_or(|t| t.elapsed() >= PROCESSOR_TTL) {
                        return;
                    }
                }
            };
            tokio::pin!(watchdog);
            let r = tokio::select! {
                r = &mut run => r,
                _ = &mut watchdog => {
                    tracing::warn!(job = %key.0, partition = key.2, "replication partition not polled for {PROCESSOR_TTL:?}: stopping it");
                    hosted.0.lock().remove(&key);
                    // `run` stops once the sender side of its stop signal is gone or set;
                    // the entry (with the sender) was just removed, dropping it.
                    run.await
                }
            };
            outbox.lock().failed = Some(match r {
                Ok(()) => ("stopped".to_string(), false),
                Err(e) => (e.to_string(), matches!(e, ReplicationError::Replan(_))),
            });
            news.notify_waiters();
        })
    };
    Hosted {
        outbox,
        news,
        stop: stop_tx,
        task,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::keys::tenant_prefix;

    fn key(tenant: u64, suffix: &[u8]) -> Vec<u8> {
        let mut k = tenant_prefix(TenantId(tenant));
        k.extend_from_slice(suffix);
        k
    }

    fn resolved(start: Vec<u8>, end: Vec<u8>) -> ResolvedSpan {
        ResolvedSpan {
            span: Span::new(start, end),
            ts: Timestamp::from_wall(1),
        }
    }

    #[test]
    fn checkpoint_spans_are_rekeyed_merged_and_cover_only_their_keys() {
        let (src, dst) = (TenantId(3), TenantId(5));
        let spans = dest_spans(
            &[
                resolved(key(3, b"m"), key(3, b"p")),
                resolved(key(3, b"a"), key(3, b"c")),
                resolved(key(3, b"b"), key(3, b"d")),
                // The end of the source tenant maps to the end of the destination tenant.
                resolved(key(3, b"x"), key(4, b"")),
                // Outside the source tenant: ignored.
                resolved(key(9, b"a"), key(9, b"z")),
            ],
            src,
            dst,
        );
        assert_eq!(
            spans,
            vec![
                Span::new(key(5, b"a"), key(5, b"d")),
                Span::new(key(5, b"m"), key(5, b"p")),
                Span::new(key(5, b"x"), key(6, b"")),
            ]
        );
        for (k, want) in [
            (key(5, b"a"), true),
            (key(5, b"c\xff"), true),
            (key(5, b"d"), false),
            (key(5, b"l"), false),
            (key(5, b"o"), true),
            (key(5, b"p"), false),
            (key(5, b"zzz"), true),
            (key(3, b"b"), false),
            (key(6, b""), false),
        ] {
            assert_eq!(covers(&spans, &k), want, "{k:?}");
        }
        assert!(!covers(&[], &key(5, b"a")));
    }
}
