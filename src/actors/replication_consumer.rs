//! The replication consumer (standby side of physical cluster replication), one per node.
//!
//! It owns the node's `REPLICATION STREAM INGESTION` jobs: [`CreateReplication`] validates the
//! source URI, connects, starts a stream on the primary (which checks the credentials, the
//! `REPLICATION` privilege and that the source cluster exists), and only then creates the
//! destination virtual cluster (`data_state = add`, no catalog: its whole keyspace comes from
//! the source) and the job; a failure at any step leaves nothing behind on the standby and
//! cancels the stream on the primary. [`AlterReplication`] pauses, resumes, changes the
//! retention or sets the failover time; [`CancelReplication`] stops a job before its cluster
//! is dropped. Each job runs as a task ([`crate::replication::ingestion::run_job`]) woken
//! through a watch channel whenever its record changes.
//!
//! On start the actor resumes every unfinished job from its record. If the actor restarts its
//! tasks are aborted with it (they hold no state that is not persisted) and resumed. In a
//! cluster of several nodes a job runs on its coordinator node; every [`ADOPT_EVERY`] each live
//! node looks for unfinished jobs whose coordinator's liveness expired and takes them over
//! (one transaction per job decides the winner), so a standby node's death stops a job for
//! about the liveness expiration (4.5 s) plus a pass.

use crate::clock::Timestamp;
use crate::ids::JobId;
use crate::jobs::{self, IngestionDetails, JobDetails, JobRecord, JobStatus, JobType};
use crate::kv::KvError;
use crate::replication::ingestion::{self, IngestionEnv};
use crate::replication::spec::ProducerSpec;
use crate::replication::status::ReplicationStatus;
use crate::sql::ast::{AlterVirtualClusterAction, ReplicationSource};
use crate::sql::error::SqlError;
use crate::sql::session::{Column, QueryResult};
use crate::sql::sqlstate::SqlState;
use crate::sql::types::SqlType;
use actix::prelude::*;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;

type SqlResult<T> = Result<T, SqlError>;

/// Default `RETENTION` (CockroachDB's `defaultRetentionTTLSeconds`: 4 h).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(4 * 3600);

struct RunningJob {
    task: tokio::task::JoinHandle<()>,
    control: watch::Sender<u64>,
}

/// The consumer actor.
pub struct ReplicationConsumer {
    env: IngestionEnv,
    running: HashMap<JobId, RunningJob>,
}

impl ReplicationConsumer {
    /// A consumer over the node's services.
    pub fn new(env: IngestionEnv) -> ReplicationConsumer {
        ReplicationConsumer {
            env,
            running: HashMap::new(),
        }
    }

    fn spawn_job(&mut self, id: JobId) {
        if let Some(j) = self.running.get(&id)
            && !j.task.is_finished()
        {
            j.control.send_modify(|n| *n += 1);
            return;
        }
        let (tx, rx) = watch::channel(0u64);
        let task = tokio::spawn(ingestion::run_job(self.env.clone(), id, rx));
        self.running.insert(id, RunningJob { task, control: tx });
    }

    fn poke(&mut self, id: JobId) {
        self.spawn_job(id);
    }
}

impl Actor for ReplicationConsumer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let store = self.env.store.clone();
        ctx.spawn(
            async move { jobs::list(&store).await }
                .into_actor(self)
                .map(|r, act, _| match r {
                    Ok(all) => {
                        for j in all {
                            if j.job_type == JobType::ReplicationStreamIngestion
                                && !j.status.is_terminal()
                            {
                                tracing::info!(job = %j.id, "resuming replication ingestion job");
                                act.spawn_job(j.id);
                            }
                        }
                    }
                    Err(e) => tracing::error!(%e, "could not load replication jobs"),
                }),
        );
        ctx.run_interval(ADOPT_EVERY, |act, ctx| {
            if !act.env.store.system_writes().is_shared() {
                return;
            }
            let store = act.env.store.clone();
            ctx.spawn(
                async move { adopt_orphans(&store).await }
                    .into_actor(act)
                    .map(|adopted, act, _| {
                        for id in adopted {
                            act.spawn_job(id);
                        }
                    }),
            );
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        for (_, j) in self.running.drain() {
            j.task.abort();
        }
    }
}

impl Supervised for ReplicationConsumer {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        tracing::warn!("replication consumer restarting");
        for (_, j) in self.running.drain() {
            j.task.abort();
        }
    }
}

/// How often a node of a multi-node cluster looks for ingestion jobs whose coordinator died.
const ADOPT_EVERY: Duration = Duration::from_secs(2);

/// Takes over the unfinished ingestion jobs whose coordinator node is not live (its liveness
/// record expired), if this node is live: one transaction per job moves `coordinator` here
/// only if it still names the dead node, so one node wins. Returns the adopted jobs. The old
/// coordinator, should it come back, sees another node in the record and stops its task; its
/// progress writes are refused meanwhile ([`ingestion`] fences on the coordinator).
async fn adopt_orphans(store: &crate::kv::Store) -> Vec<JobId> {
    let me = store.node_id();
    let now = store.now();
    let Ok(all) = jobs::list(store).await else {
        return Vec::new();
    };
    match store.liveness(me).await {
        Ok(Some(l)) if l.is_live(now) && !l.draining => {}
        _ => return Vec::new(),
    }
    let mut adopted = Vec::new();
    for j in all {
        if j.job_type != JobType::ReplicationStreamIngestion
            || j.status.is_terminal()
            || j.coordinator == me.0
        {
            continue;
        }
        let dead = j.coordinator;
        match store.liveness(crate::ids::NodeId(dead)).await {
            Ok(Some(l)) if l.is_live(now) => continue,
            Ok(_) => {}
            Err(_) => continue,
        }
        let r = jobs::update(store, j.id, |r| {
            if r.coordinator == dead {
                r.coordinator = me.0;
            }
            Ok(())
        })
        .await;
        if let Ok(r) = r
            && r.coordinator == me.0
        {
            tracing::warn!(job = %j.id, from = dead, "adopted a replication job whose coordinator node is not live");
            adopted.push(j.id);
        }
    }
    adopted
}

fn kv(e: KvError) -> SqlError {
    SqlError::from(e)
}

/// Seconds of a positive interval text (`'36h'`, `'1 day'`, `'30m'`).
pub fn parse_retention(text: &str) -> SqlResult<u64> {
    let bad = || {
        SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("invalid RETENTION {text:?}: expected a positive interval such as '4h'"),
        )
    };
    let total = crate::sql::types::interval_total_micros(text).ok_or_else(bad)?;
    if total < 1_000_000 {
        return Err(bad());
    }
    u64::try_from(total / 1_000_000).map_err(|_| bad())
}

/// The failover time `COMPLETE REPLICATION TO SYSTEM TIME` names: a decimal HLC timestamp, a
/// timestamp string, or an interval relative to now (`'-1h'`, `'+5m'`).
pub fn parse_failover_time(now: Timestamp, text: &str) -> SqlResult<Timestamp> {
    let t = text.trim();
    let bad = || {
        SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!(
                "invalid failover time {t:?}: expected a timestamp, a decimal HLC timestamp or an interval such as '-1h'"
            ),
        )
    };
    if let Some(rest) = t
        .strip_prefix('+')
        .or_else(|| t.starts_with('-').then_some(t))
    {
        let total = crate::sql::types::interval_total_micros(rest).ok_or_else(bad)?;
        let d = Duration::from_micros(u64::try_from(total.unsigned_abs()).map_err(|_| bad())?);
        return Ok(if total < 0 {
            now.sub_duration(d)
        } else {
            now.add_duration(d)
        });
    }
    crate::sql::exec::absolute_timestamp(t).ok_or_else(bad)
}

fn connect_failed(e: impl std::fmt::Display) -> SqlError {
    SqlError::new(
        SqlState::CONNECTION_FAILURE,
        format!("could not connect to the source cluster: {e}"),
    )
}

/// A remote (primary) error, keeping its SQLSTATE.
fn source_error(e: &tokio_postgres::Error) -> SqlError {
    match e.as_db_error() {
        Some(db) => SqlError::new(
            SqlState::from_code(db.code().code()),
            format!("source cluster: {}", db.message()),
        ),
        None => connect_failed(crate::client::describe_pg_error(e)),
    }
}

/// `CREATE VIRTUAL CLUSTER <dest> [LIKE t] FROM REPLICATION OF <src> ON '<uri>' [WITH ...]`.
#[derive(Message)]
#[rtype(result = "SqlResult<()>")]
pub struct CreateReplication {
    /// The destination virtual cluster.
    pub dest: String,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// `LIKE <template>` (must exist; tandem virtual clusters have no capabilities to copy and
    /// their settings arrive with the replicated keyspace).
    pub like: Option<String>,
    /// The source.
    pub source: ReplicationSource,
    /// The user running the statement.
    pub user: String,
}

impl Handler<CreateReplication> for ReplicationConsumer {
    type Result = ResponseActFuture<Self, SqlResult<()>>;
    fn handle(&mut self, m: CreateReplication, _: &mut Context<Self>) -> Self::Result {
        let env = self.env.clone();
        let fut = async move {
            let registry = &env.registry;
            if registry.find(&m.dest).is_some() {
                if m.if_not_exists {
                    return Ok(None);
                }
                return Err(SqlError::new(
                    SqlState::DUPLICATE_OBJECT,
                    format!("virtual cluster with name \"{}\" already exists", m.dest),
                ));
            }
            crate::actors::tenant_registry::validate_name(&m.dest)?;
            if let Some(t) = &m.like
                && registry.find(t).is_none()
            {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_OBJECT,
                    format!("virtual cluster \"{t}\" does not exist"),
                ));
            }
            let retention = match &m.source.retention {
                Some(r) => parse_retention(r)?,
                None => DEFAULT_RETENTION.as_secs(),
            };
            let url = crate::client::ConnUrl::parse_with_certs_dir(
                &m.source.uri,
                env.certs_dir.as_deref(),
            )
            .map_err(|e| {
                SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("invalid source cluster URI: {e}"),
                )
            })?;
            let client = ingestion::connect_source(
                &m.source.uri,
                env.certs_dir.as_deref(),
                env.settings.connect_timeout,
            )
            .await
            .map_err(|e| match e {
                crate::replication::ReplicationError::Remote(r) => connect_failed(r),
                other => connect_failed(other),
            })?;
            let row = client
                .query_one(
                    "SELECT crdb_internal.start_replication_stream($1)",
                    &[&m.source.source],
                )
                .await
                .map_err(|e| source_error(&e))?;
            let bytes: Vec<u8> = row.try_get(0).map_err(|e| source_error(&e))?;
            let spec = ProducerSpec::decode(&bytes).map_err(|e| {
                SqlError::new(SqlState::PROTOCOL_VIOLATION, format!("source cluster: {e}"))
            })?;
            let cancel_source = |why: SqlError| async {
                let _ = client
                    .query_one(
                        "SELECT crdb_internal.complete_replication_stream($1, false)",
                        &[&(spec.stream_id.0 as i64)],
                    )
                    .await;
                why
            };
            let dest = match registry.create_replication_target(&m.dest).await {
                Ok(id) => id,
                Err(e) => return Err(cancel_source(e).await),
            };
            let now = env.store.now();
            let rec = JobRecord {
                id: jobs::new_job_id(),
                job_type: JobType::ReplicationStreamIngestion,
                description: format!(
                    "CREATE VIRTUAL CLUSTER {} FROM REPLICATION OF {} ON '{}'",
                    m.dest,
                    m.source.source,
                    url.redacted()
                ),
                user: m.user,
                status: JobStatus::Running,
                coordinator: env.store.node_id().0,
                created: now,
                modified: now,
                finished: None,
                error: None,
                details: JobDetails::Ingestion(IngestionDetails {
                    dest_tenant: dest,
                    source_tenant_name: m.source.source.clone(),
                    source_tenant_id: spec.source_tenant_id,
                    source_cluster_id: spec.source_cluster_id.clone(),
                    source_uri: m.source.uri.clone(),
                    stream_id: spec.stream_id,
                    start_time: spec.start_time,
                    retention_secs: retention,
                    replicated_time: None,
                    dest_pts: None,
                    status: ReplicationStatus::Initializing,
                    cutover_time: None,
                    failover_progress: 0.0,
                    last_error: None,
                    source_nodes: Vec::new(),
                }),
            };
            if let Err(e) = jobs::create(&env.store, &rec).await {
                let _ = registry.remove_record(dest).await;
                return Err(cancel_source(kv(e)).await);
            }
            Ok(Some(rec.id))
        };
        Box::pin(fut.into_actor(self).map(|r, act, _| {
            if let Ok(Some(id)) = &r {
                act.spawn_job(*id);
            }
            r.map(|_| ())
        }))
    }
}

/// Finds the unfinished ingestion job replicating into virtual cluster `name`.
async fn job_for(env: &IngestionEnv, name: &str) -> SqlResult<JobRecord> {
    let rec = env.registry.find(name).ok_or_else(|| {
        SqlError::new(
            SqlState::UNDEFINED_OBJECT,
            format!("virtual cluster \"{name}\" does not exist"),
        )
    })?;
    let all = jobs::list(&env.store).await.map_err(kv)?;
    all.into_iter()
        .rev()
        .find(|j| !j.status.is_terminal() && j.ingestion().is_some_and(|d| d.dest_tenant == rec.id))
        .ok_or_else(|| {
            SqlError::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("virtual cluster \"{name}\" is not replicating"),
            )
        })
}

/// `ALTER VIRTUAL CLUSTER <name> PAUSE | RESUME | SET REPLICATION RETENTION | COMPLETE ...`.
#[derive(Message)]
#[rtype(result = "SqlResult<QueryResult>")]
pub struct AlterReplication {
    /// The replicating virtual cluster.
    pub name: String,
    /// The action.
    pub action: AlterVirtualClusterAction,
}

impl Handler<AlterReplication> for ReplicationConsumer {
    type Result = ResponseActFuture<Self, SqlResult<QueryResult>>;
    fn handle(&mut self, m: AlterReplication, _: &mut Context<Self>) -> Self::Result {
        let env = self.env.clone();
        let fut = async move {
            let job = job_for(&env, &m.name).await?;
            let id = job.id;
            let live = env.live.lock().get(&id).cloned();
            let now = env.store.now();
            type A = AlterVirtualClusterAction;
            let refuse = |msg: String| KvError::InvalidArgument(msg);
            let result = match &m.action {
                A::PauseReplication => {
                    jobs::update(&env.store, id, |r| {
                        if r.status == JobStatus::Running {
                            r.status = JobStatus::Paused;
                            if let JobDetails::Ingestion(d) = &mut r.details {
                                if d.status == ReplicationStatus::FailingOver {
                                    return Err(refuse(
                                        "cannot pause replication while failing over".into(),
                                    ));
                                }
                                d.status = ReplicationStatus::Paused;
                            }
                        }
                        Ok(())
                    })
                    .await
                    .map_err(alter_err)?;
                    QueryResult::Command("ALTER VIRTUAL CLUSTER".into())
                }
                A::ResumeReplication => {
                    jobs::update(&env.store, id, |r| {
                        if r.status == JobStatus::Paused {
                            r.status = JobStatus::Running;
                            if let JobDetails::Ingestion(d) = &mut r.details {
                                d.status = if d.cutover_time.is_some() {
                                    ReplicationStatus::PendingFailover
                                } else if d.replicated_time.is_some() {
                                    ReplicationStatus::Replicating
                                } else {
                                    ReplicationStatus::Initializing
                                };
                            }
                        }
                        Ok(())
                    })
                    .await
                    .map_err(alter_err)?;
                    QueryResult::Command("ALTER VIRTUAL CLUSTER".into())
                }
                A::SetReplicationRetention(text) => {
                    let secs = parse_retention(text)?;
                    jobs::update(&env.store, id, |r| {
                        if let JobDetails::Ingestion(d) = &mut r.details {
                            d.retention_secs = secs;
                        }
                        Ok(())
                    })
                    .await
                    .map_err(alter_err)?;
                    QueryResult::Command("ALTER VIRTUAL CLUSTER".into())
                }
                A::CompleteReplicationToLatest | A::CompleteReplicationToSystemTime(_) => {
                    let requested = match &m.action {
                        A::CompleteReplicationToSystemTime(t) => Some(parse_failover_time(now, t)?),
                        _ => None,
                    };
                    let live_replicated = live.and_then(|l| l.replicated_time);
                    let rec = jobs::update(&env.store, id, |r| {
                        let JobDetails::Ingestion(d) = &mut r.details else {
                            return Ok(());
                        };
                        if d.status == ReplicationStatus::FailingOver {
                            return Err(refuse(format!(
                                "job {} already started cutting over to timestamp {}",
                                r.id,
                                d.cutover_time.unwrap_or_default()
                            )));
                        }
                        let replicated = d.replicated_time.max(live_replicated);
                        let at = match requested {
                            Some(t) => t,
                            None => replicated.ok_or_else(|| {
                                refuse("cannot complete replication to LATEST: the initial scan has not finished and there is no replicated time yet".into())
                            })?,
                        };
                        let earliest = d.retained_time();
                        if at < earliest {
                            return Err(refuse(format!(
                                "cutover time {at} is before earliest safe cutover time {earliest}"
                            )));
                        }
                        // The live replicated time may be ahead of the persisted one.
                        if let Some(rt) = replicated
                            && d.replicated_time.is_none_or(|p| p < rt)
                        {
                            d.replicated_time = Some(rt);
                        }
                        d.cutover_time = Some(at);
                        d.status = ReplicationStatus::PendingFailover;
                        r.status = JobStatus::Running;
                        Ok(())
                    })
                    .await
                    .map_err(alter_err)?;
                    let at = rec
                        .ingestion()
                        .and_then(|d| d.cutover_time)
                        .unwrap_or_default();
                    QueryResult::Rows {
                        columns: vec![Column::new("cutover_time", SqlType::Decimal)],
                        rows: vec![vec![crate::sql::replication::decimal(at)]],
                    }
                }
                other => {
                    return Err(SqlError::internal(format!(
                        "{other:?} is not a replication action"
                    )));
                }
            };
            Ok((id, result))
        };
        Box::pin(fut.into_actor(self).map(|r, act, _| {
            r.map(|(id, res)| {
                act.poke(id);
                res
            })
        }))
    }
}

fn alter_err(e: KvError) -> SqlError {
    match e {
        KvError::InvalidArgument(m) => SqlError::new(SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE, m),
        other => SqlError::from(other),
    }
}

/// Stops the replication into virtual cluster `name` (before `DROP VIRTUAL CLUSTER`): the job
/// is canceled and the primary's stream completed as unsuccessful (best effort). Nothing to do
/// if the cluster is not replicating.
#[derive(Message)]
#[rtype(result = "SqlResult<()>")]
pub struct CancelReplication {
    /// The virtual cluster.
    pub name: String,
}

impl Handler<CancelReplication> for ReplicationConsumer {
    type Result = ResponseActFuture<Self, SqlResult<()>>;
    fn handle(&mut self, m: CancelReplication, _: &mut Context<Self>) -> Self::Result {
        let env = self.env.clone();
        let fut = async move {
            let job = match job_for(&env, &m.name).await {
                Ok(j) => j,
                Err(e) if e.state == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE => return Ok(None),
                Err(e) if e.state == SqlState::UNDEFINED_OBJECT => return Ok(None),
                Err(e) => return Err(e),
            };
            let now = env.store.now();
            let rec = jobs::update(&env.store, job.id, |r| {
                r.status = JobStatus::Canceled;
                r.finished = Some(now);
                r.error = Some("virtual cluster dropped".into());
                Ok(())
            })
            .await
            .map_err(kv)?;
            Ok(Some(rec))
        };
        Box::pin(fut.into_actor(self).then(|r, act, _| {
            let env = act.env.clone();
            // The job's task sees the canceled record, lets its flush in flight finish and
            // ends; only then may the cluster's data be removed.
            let running = match &r {
                Ok(Some(rec)) => act.running.remove(&rec.id),
                _ => None,
            };
            if let Some(j) = &running {
                j.control.send_modify(|n| *n += 1);
            }
            async move {
                let Some(rec) = r? else {
                    return Ok(());
                };
                if let Some(mut j) = running
                    && tokio::time::timeout(CANCEL_WAIT, &mut j.task).await.is_err()
                {
                    tracing::warn!(job = %rec.id, "replication job did not stop in time; aborting it");
                    j.task.abort();
                }
                // Processors on other nodes (the coordinator may be another node) stop too
                // before the cluster's data is removed.
                crate::replication::processor::stop_everywhere(&env, rec.id).await;
                env.live.lock().remove(&rec.id);
                env.metrics.set_replicated(rec.id, None);
                if let Some(d) = rec.ingestion().cloned() {
                    if let Some(id) = d.dest_pts {
                        let _ = env.store.release_protected(id).await;
                    }
                    tokio::spawn(async move {
                        ingestion::complete_source(&env, &d, false).await;
                    });
                }
                Ok(())
            }
            .into_actor(act)
        }))
    }
}

/// How long a canceled job may take to stop before its task is aborted.
const CANCEL_WAIT: Duration = Duration::from_secs(30);

/// Every ingestion job with its freshest state (live progress of jobs running here overlaid on
/// the records).
pub async fn ingestion_jobs(env: &IngestionEnv) -> SqlResult<Vec<JobRecord>> {
    let mut all = jobs::list(&env.store).await.map_err(kv)?;
    let live = env.live.lock().clone();
    for j in &mut all {
        if let JobDetails::Ingestion(d) = &mut j.details
            && let Some(l) = live.get(&j.id)
            && !j.status.is_terminal()
        {
            if l.replicated_time > d.replicated_time {
                d.replicated_time = l.replicated_time;
            }
            // States a user sets (pending failover) win over the task's view until it has
            // reloaded the record.
            if j.status == JobStatus::Running
                && !matches!(
                    d.status,
                    ReplicationStatus::PendingFailover | ReplicationStatus::FailingOver
                )
            {
                d.status = l.status;
                d.last_error = l.last_error.clone();
            }
            d.failover_progress = l.failover_progress;
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_and_failover_times_parse() {
        assert_eq!(parse_retention("36h").unwrap(), 36 * 3600);
        assert_eq!(parse_retention("1 day").unwrap(), 86_400);
        for bad in ["", "forever", "-1h", "0s", "500ms"] {
            assert!(parse_retention(bad).is_err(), "{bad}");
        }
        let now = Timestamp {
            wall: 10_000_000_000_000,
            logical: 0,
        };
        assert_eq!(
            parse_failover_time(now, "-1s").unwrap().wall,
            now.wall - 1_000_000_000
        );
        assert_eq!(
            parse_failover_time(now, "+5m").unwrap().wall,
            now.wall + 300_000_000_000
        );
        assert_eq!(
            parse_failover_time(now, "1795739921101223217.0000000005").unwrap(),
            Timestamp {
                wall: 1_795_739_921_101_223_217,
                logical: 5
            }
        );
        assert_eq!(
            parse_failover_time(now, "2026-01-01 00:00:00")
                .unwrap()
                .wall,
            1_767_225_600_000_000_000
        );
        for bad in ["", "soon", "+", "12.34.56"] {
            assert!(parse_failover_time(now, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retained_time_is_bounded_by_start_and_cutover() {
        let ts = |s: u64| Timestamp {
            wall: s * 1_000_000_000,
            logical: 0,
        };
        let mut d = IngestionDetails {
            dest_tenant: crate::ids::TenantId(3),
            source_tenant_name: "application".into(),
            source_tenant_id: crate::ids::TenantId(3),
            source_cluster_id: "c".into(),
            source_uri: "postgresql://x".into(),
            stream_id: JobId(1),
            start_time: ts(1000),
            retention_secs: 100,
            replicated_time: None,
            dest_pts: None,
            status: ReplicationStatus::Replicating,
            cutover_time: None,
            failover_progress: 0.0,
            last_error: None,
            source_nodes: Vec::new(),
        };
        assert_eq!(d.retained_time(), ts(1000));
        d.replicated_time = Some(ts(1050));
        assert_eq!(d.retained_time(), ts(1000));
        d.replicated_time = Some(ts(1500));
        assert_eq!(d.retained_time(), ts(1400));
        d.cutover_time = Some(ts(1200));
        assert_eq!(d.retained_time(), ts(1200));
    }
}
