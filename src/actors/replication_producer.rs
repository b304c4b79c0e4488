//! The replication producer (primary side of physical cluster replication), one per node.
//!
//! It serves the `crdb_internal` builtins the standby calls over pgwire:
//! [`StartStream`] creates a `REPLICATION STREAM PRODUCER` job for a virtual cluster and
//! protects its span at the start time; [`GetStreamSpec`] plans the stream (one partition per
//! node holding leases in the tenant span, with its SQL address); [`OpenPartition`] starts
//! the event stream of one partition ([`crate::replication::producer_stream`]);
//! [`Heartbeat`] moves the protected timestamp up to the consumer's retained time and extends
//! the job's expiration; [`CompleteStream`] finishes the job. Privileges are checked by the SQL
//! layer before a message is sent.
//!
//! Invariants: the protected timestamp never moves down, so the source keeps every version the
//! consumer may still need (down to its retained time); a job that is not `running` serves no
//! stream. Every second the actor fails the jobs whose expiration passed without a
//! heartbeat ("replication stream N timed out") and releases their protection; completing a
//! stream releases it too. State lives in the job records: if the actor restarts, it reloads
//! nothing and serves from KV; open partition streams of a finished job stop within a second.

use crate::clock::Timestamp;
use crate::ids::{JobId, NodeId, TenantId};
use crate::jobs::{self, JobDetails, JobRecord, JobStatus, JobType, ProducerDetails};
use crate::kv::{KvError, Store};
use crate::replication::spec::{
    Partition, PartitionSpec, ProducerSpec, StreamSpec, StreamState, StreamStatus,
};
use crate::sql::error::SqlError;
use crate::sql::session::RowStream;
use crate::sql::sqlstate::SqlState;
use crate::storage::keys::{Span, tenant_span};
use actix::prelude::*;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

type SqlResult<T> = Result<T, SqlError>;

/// Default expiration window of a producer job (CockroachDB: 24 h); the cluster setting
/// `stream_replication.job_liveness.timeout` overrides it for new streams.
pub const DEFAULT_EXPIRATION_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Looks up a virtual cluster by name (the tenant registry answers).
pub type TenantLookup = Arc<dyn Fn(&str) -> Option<(TenantId, String)> + Send + Sync>;

/// The producer actor.
pub struct ReplicationProducer {
    store: Store,
    sql_address: String,
    lookup: TenantLookup,
    expiration_window: Duration,
    liveness_check: Duration,
    /// Liveness flags of the streams with open partitions.
    live: Arc<Mutex<HashMap<JobId, Arc<AtomicBool>>>>,
}

impl ReplicationProducer {
    /// A producer serving `store`'s data; `sql_address` is this node's SQL address.
    pub fn new(store: Store, sql_address: String, lookup: TenantLookup) -> ReplicationProducer {
        ReplicationProducer {
            store,
            sql_address,
            lookup,
            expiration_window: DEFAULT_EXPIRATION_WINDOW,
            liveness_check: Duration::from_secs(1),
            live: Default::default(),
        }
    }
}

fn kv(e: KvError) -> SqlError {
    SqlError::from(e)
}

fn no_stream(id: JobId) -> SqlError {
    SqlError::new(
        SqlState::UNDEFINED_OBJECT,
        format!("replication stream {id} does not exist"),
    )
}

/// Loads a producer job that is running.
async fn running_job(store: &Store, id: JobId) -> SqlResult<(JobRecord, ProducerDetails)> {
    let rec = jobs::load(store, id)
        .await
        .map_err(kv)?
        .ok_or_else(|| no_stream(id))?;
    let Some(d) = rec.producer().cloned() else {
        return Err(no_stream(id));
    };
    if rec.status != JobStatus::Running {
        return Err(SqlError::new(
            SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "replication stream {id} is not running (status {}{})",
                rec.status.as_str(),
                rec.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok((rec, d))
}

/// Finishes a producer job and releases its protection.
async fn finish(
    store: &Store,
    id: JobId,
    status: JobStatus,
    error: Option<String>,
) -> SqlResult<()> {
    let rec = jobs::update(store, id, |r| {
        if !r.status.is_terminal() {
            r.status = status;
            r.error = error.clone();
            r.finished = Some(store.now());
        }
        Ok(())
    })
    .await
    .map_err(kv)?;
    if let Some(d) = rec.producer()
        && let Err(e) = store.release_protected(d.pts_id).await
    {
        tracing::debug!(%e, job = %id, "release protected timestamp");
    }
    Ok(())
}

/// `kv.rangefeed.enabled` and the expiration window (`stream_replication.job_liveness.timeout`,
/// `default` when unset) from the system virtual cluster's settings.
async fn stream_settings(store: &Store, default: Duration) -> SqlResult<(bool, Duration)> {
    let rangefeed = {
        let mut txn = store.begin();
        let v = crate::sql::catalog::Catalog::new(TenantId::SYSTEM)
            .setting(&mut txn, "kv.rangefeed.enabled")
            .await;
        txn.rollback();
        v?.is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    let window = crate::sql::cluster_settings::system_duration(
        store,
        "stream_replication.job_liveness.timeout",
    )
    .await?
    .unwrap_or(default);
    Ok((rangefeed, window))
}

impl Actor for ReplicationProducer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.liveness_check, |act, ctx| {
            let store = act.store.clone();
            let live = act.live.clone();
            let fut = async move {
                let Ok(all) = jobs::list(&store).await else {
                    return;
                };
                let now = store.now();
                // Partitions this node serves for streams that ended through another node stop
                // too (a job missing from the list was created after it was read).
                live.lock().retain(|id, flag| {
                    let ended = all
                        .iter()
                        .any(|j| j.id == *id && j.status != JobStatus::Running);
                    if ended {
                        flag.store(false, Ordering::Relaxed);
                    }
                    !ended
                });
                for j in all {
                    if j.status != JobStatus::Running {
                        continue;
                    }
                    if let Some(d) = j.producer()
                        && d.expiration < now
                    {
                        tracing::warn!(job = %j.id, "replication stream timed out");
                        let _ = finish(
                            &store,
                            j.id,
                            JobStatus::Failed,
                            Some(format!("replication stream {} timed out", j.id)),
                        )
                        .await;
                        if let Some(flag) = live.lock().remove(&j.id) {
                            flag.store(false, Ordering::Relaxed);
                        }
                    }
                }
            };
            ctx.spawn(fut.into_actor(act));
        });
    }
}

impl Supervised for ReplicationProducer {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        tracing::warn!("replication producer restarting");
    }
}

/// `crdb_internal.start_replication_stream(tenant)`: answers the encoded [`ProducerSpec`].
#[derive(Message)]
#[rtype(result = "SqlResult<Vec<u8>>")]
pub struct StartStream {
    /// The virtual cluster to replicate.
    pub tenant_name: String,
    /// The calling user.
    pub user: String,
}

impl Handler<StartStream> for ReplicationProducer {
    type Result = ResponseFuture<SqlResult<Vec<u8>>>;
    fn handle(&mut self, m: StartStream, _: &mut Context<Self>) -> Self::Result {
        let (store, lookup, window) = (
            self.store.clone(),
            self.lookup.clone(),
            self.expiration_window,
        );
        Box::pin(async move {
            let (tenant, name) = lookup(&m.tenant_name).ok_or_else(|| {
                SqlError::new(
                    SqlState::UNDEFINED_OBJECT,
                    format!("virtual cluster \"{}\" does not exist", m.tenant_name),
                )
            })?;
            let (rangefeeds, window) = stream_settings(&store, window).await?;
            if !rangefeeds {
                return Err(SqlError::new(
                    SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "kv.rangefeed.enabled must be true to start a replication stream (SET CLUSTER SETTING kv.rangefeed.enabled = true on the source)",
                ));
            }
            let start = store.now();
            let pts_id = store
                .protect(tenant_span(tenant), start)
                .await
                .map_err(kv)?;
            let id = jobs::new_job_id();
            let rec = JobRecord {
                id,
                job_type: JobType::ReplicationStreamProducer,
                description: format!("History Retention for Physical Replication of {name}"),
                user: m.user,
                status: JobStatus::Running,
                coordinator: store.node_id().0,
                created: start,
                modified: start,
                finished: None,
                error: None,
                details: JobDetails::Producer(ProducerDetails {
                    tenant,
                    tenant_name: name,
                    start_time: start,
                    pts_id,
                    protected_time: start,
                    expiration_window_secs: window.as_secs(),
                    expiration: start.add_duration(window),
                }),
            };
            if let Err(e) = jobs::create(&store, &rec).await {
                let _ = store.release_protected(pts_id).await;
                return Err(kv(e));
            }
            let cluster_id = store.cluster_id().await.map_err(kv)?;
            Ok(ProducerSpec {
                stream_id: id,
                start_time: start,
                source_cluster_id: cluster_id,
                source_tenant_id: tenant,
            }
            .encode())
        })
    }
}

/// `crdb_internal.replication_stream_spec(id)`: answers the encoded [`StreamSpec`].
#[derive(Message)]
#[rtype(result = "SqlResult<Vec<u8>>")]
pub struct GetStreamSpec {
    /// The stream.
    pub id: JobId,
}

impl Handler<GetStreamSpec> for ReplicationProducer {
    type Result = ResponseFuture<SqlResult<Vec<u8>>>;
    fn handle(&mut self, m: GetStreamSpec, _: &mut Context<Self>) -> Self::Result {
        let (store, addr) = (self.store.clone(), self.sql_address.clone());
        Box::pin(async move {
            let (_, d) = running_job(&store, m.id).await?;
            let partitions = plan_partitions(&store, &addr, &tenant_span(d.tenant)).await?;
            let mut sql_addresses = vec![addr.clone()];
            if store.peers().is_some() {
                let now = store.now();
                for (n, l) in store.nodes().await.map_err(kv)? {
                    if l.is_some_and(|l| l.is_live(now)) && !sql_addresses.contains(&n.sql_address)
                    {
                        sql_addresses.push(n.sql_address);
                    }
                }
            }
            Ok(StreamSpec {
                source_tenant_id: d.tenant,
                partitions,
                sql_addresses,
            }
            .encode())
        })
    }
}

/// One partition per node holding leases in `span`, with that node's SQL address (`local_sql`
/// for this node), the node's spans merged where adjacent, in node order.
async fn plan_partitions(store: &Store, local_sql: &str, span: &Span) -> SqlResult<Vec<Partition>> {
    let ranges = store
        .ranges_for(span)
        .await
        .map_err(|e| kv(KvError::from(e)))?;
    let me = store.node_id();
    let mut by_node: BTreeMap<NodeId, Vec<Span>> = BTreeMap::new();
    for (h, part) in ranges {
        let spans = by_node.entry(h.node(me)).or_default();
        match spans.last_mut() {
            Some(last) if last.end == part.start => last.end = part.end,
            _ => spans.push(part),
        }
    }
    let addresses: HashMap<NodeId, String> = if by_node.keys().any(|n| *n != me) {
        store
            .nodes()
            .await
            .map_err(kv)?
            .into_iter()
            .map(|(d, _)| (d.node_id, d.sql_address))
            .collect()
    } else {
        HashMap::new()
    };
    by_node
        .into_iter()
        .map(|(node, spans)| {
            let sql_address = if node == me {
                local_sql.to_string()
            } else {
                addresses.get(&node).cloned().ok_or_else(|| {
                    SqlError::new(
                        SqlState::INTERNAL_ERROR,
                        format!("node {node} holds leases but has no node descriptor"),
                    )
                })?
            };
            Ok(Partition {
                node_id: node,
                sql_address,
                spans,
            })
        })
        .collect()
}

/// `crdb_internal.stream_partition(id, spec)`: the partition's endless event rows.
#[derive(Message)]
#[rtype(result = "SqlResult<RowStream>")]
pub struct OpenPartition {
    /// The stream.
    pub id: JobId,
    /// The encoded [`PartitionSpec`].
    pub spec: Vec<u8>,
}

impl Handler<OpenPartition> for ReplicationProducer {
    type Result = ResponseFuture<SqlResult<RowStream>>;
    fn handle(&mut self, m: OpenPartition, _: &mut Context<Self>) -> Self::Result {
        let (store, live) = (self.store.clone(), self.live.clone());
        Box::pin(async move {
            let (_, d) = running_job(&store, m.id).await?;
            let spec = PartitionSpec::decode(&m.spec)
                .map_err(|e| SqlError::new(SqlState::INVALID_PARAMETER_VALUE, e.to_string()))?;
            let span = tenant_span(d.tenant);
            if spec.spans.is_empty() || !spec.spans.iter().all(|s| span.contains(s)) {
                return Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!(
                        "partition spans must be non-empty and inside the span of virtual cluster \"{}\"",
                        d.tenant_name
                    ),
                ));
            }
            if let Some(prev) = spec.previous_replicated_ts
                && prev < d.protected_time
            {
                return Err(SqlError::new(
                    SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!(
                        "cannot resume replication stream {} from {prev}: history is only retained since {}",
                        m.id, d.protected_time
                    ),
                ));
            }
            let flag = live
                .lock()
                .entry(m.id)
                .or_insert_with(|| Arc::new(AtomicBool::new(true)))
                .clone();
            Ok(crate::replication::producer_stream::start(
                store, m.id.0, spec, flag,
            ))
        })
    }
}

/// `crdb_internal.replication_stream_progress(id, ts)`: answers the encoded [`StreamStatus`].
#[derive(Message)]
#[rtype(result = "SqlResult<Vec<u8>>")]
pub struct Heartbeat {
    /// The stream.
    pub id: JobId,
    /// The consumer's retained time: history below it is no longer needed.
    pub ts: Timestamp,
}

impl Handler<Heartbeat> for ReplicationProducer {
    type Result = ResponseFuture<SqlResult<Vec<u8>>>;
    fn handle(&mut self, m: Heartbeat, _: &mut Context<Self>) -> Self::Result {
        let store = self.store.clone();
        Box::pin(async move {
            let rec = jobs::load(&store, m.id)
                .await
                .map_err(kv)?
                .ok_or_else(|| no_stream(m.id))?;
            let Some(d) = rec.producer() else {
                return Err(no_stream(m.id));
            };
            if rec.status != JobStatus::Running {
                return Ok(StreamStatus {
                    state: StreamState::Inactive,
                    protected_timestamp: d.protected_time,
                }
                .encode());
            }
            if m.ts > store.now() {
                return Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("heartbeat timestamp {} is in the future", m.ts),
                ));
            }
            let now = store.now();
            let rec = jobs::update(&store, m.id, |r| {
                if let JobDetails::Producer(p) = &mut r.details {
                    p.protected_time = p.protected_time.max(m.ts);
                    p.expiration = now.add_duration(Duration::from_secs(p.expiration_window_secs));
                }
                Ok(())
            })
            .await
            .map_err(kv)?;
            let Some(d) = rec.producer() else {
                return Err(no_stream(m.id));
            };
            store
                .update_protected(d.pts_id, d.protected_time)
                .await
                .map_err(kv)?;
            Ok(StreamStatus {
                state: StreamState::Active,
                protected_timestamp: d.protected_time,
            }
            .encode())
        })
    }
}

/// `crdb_internal.complete_replication_stream(id, ok)`: finishes the producer job.
#[derive(Message)]
#[rtype(result = "SqlResult<()>")]
pub struct CompleteStream {
    /// The stream.
    pub id: JobId,
    /// Whether ingestion succeeded (failover) or was abandoned.
    pub successful: bool,
}

impl Handler<CompleteStream> for ReplicationProducer {
    type Result = ResponseFuture<SqlResult<()>>;
    fn handle(&mut self, m: CompleteStream, _: &mut Context<Self>) -> Self::Result {
        let (store, live) = (self.store.clone(), self.live.clone());
        Box::pin(async move {
            let rec = jobs::load(&store, m.id)
                .await
                .map_err(kv)?
                .ok_or_else(|| no_stream(m.id))?;
            if rec.producer().is_none() {
                return Err(no_stream(m.id));
            }
            let (status, error) = if m.successful {
                (JobStatus::Succeeded, None)
            } else {
                (
                    JobStatus::Failed,
                    Some("replication stream canceled by the consumer".to_string()),
                )
            };
            finish(&store, m.id, status, error).await?;
            if let Some(flag) = live.lock().remove(&m.id) {
                flag.store(false, Ordering::Relaxed);
            }
            Ok(())
        })
    }
}
