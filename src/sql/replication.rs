//! The SQL surface of physical cluster replication.
//!
//! Primary side: the `crdb_internal` producer builtins, recognised when a statement is exactly
//! `SELECT crdb_internal.<builtin>(args)` or `SELECT * FROM crdb_internal.stream_partition(args)`
//! ([`builtin_statement`]) and run outside the query engine ([`execute_builtin`]): they need the
//! system virtual cluster and the `REPLICATION` system privilege (or admin), and
//! `stream_partition` returns an endless streamed result. Standby side: `SHOW VIRTUAL CLUSTERS`
//! with replication states, `WITH REPLICATION STATUS` (CockroachDB v23.2's columns followed by
//! `replication_lag` and `status`), `WITH PRIOR REPLICATION DETAILS`, plus
//! `SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER` and `SHOW JOBS` on both sides.
//!
//! SQL does not know how streams are produced or ingested: the node provides a
//! [`ReplicationService`] (its producer and consumer actors) in the session environment.

use super::admin::has_system_privilege;
use super::ast::{AlterVirtualClusterAction, ReplicationBuiltin, ReplicationSource, Statement};
use super::catalog::Catalog;
use super::error::{Result, SqlError};
use super::expr::{EvalContext, eval};
use super::session::{Column, QueryResult, RowStream, Session, VirtualClusterInfo};
use super::sqlstate::SqlState;
use super::types::{Datum, SqlType};
use crate::clock::Timestamp;
use crate::ids::{JobId, TenantId};
use crate::jobs::{JobRecord, JobStatus, JobType};
use crate::storage::keys::tenant_span;
use sqlparser::ast as pg;

/// What SQL needs from the node's replication actors.
#[async_trait::async_trait]
pub trait ReplicationService: Send + Sync + 'static {
    /// `start_replication_stream`: the encoded producer spec.
    async fn start_stream(&self, tenant: &str, user: &str) -> Result<Vec<u8>>;
    /// `replication_stream_spec`: the encoded stream spec.
    async fn stream_spec(&self, id: JobId) -> Result<Vec<u8>>;
    /// `stream_partition`: the event rows.
    async fn stream_partition(&self, id: JobId, spec: Vec<u8>) -> Result<RowStream>;
    /// `replication_stream_progress`: the encoded stream status.
    async fn stream_progress(&self, id: JobId, ts: Timestamp) -> Result<Vec<u8>>;
    /// `complete_replication_stream`.
    async fn complete_stream(&self, id: JobId, successful: bool) -> Result<()>;
    /// `CREATE VIRTUAL CLUSTER ... FROM REPLICATION OF ...`.
    async fn create_replication(
        &self,
        dest: &str,
        if_not_exists: bool,
        like: Option<&str>,
        source: &ReplicationSource,
        user: &str,
    ) -> Result<()>;
    /// `ALTER VIRTUAL CLUSTER x PAUSE | RESUME | SET REPLICATION RETENTION | COMPLETE ...`.
    async fn alter_replication(
        &self,
        name: &str,
        action: &AlterVirtualClusterAction,
    ) -> Result<QueryResult>;
    /// Stops replication into `name` before it is dropped (nothing if it does not replicate).
    async fn cancel_replication(&self, name: &str) -> Result<()>;
    /// Every job, ingestion jobs with their freshest progress.
    async fn jobs(&self) -> Result<Vec<JobRecord>>;
}

fn service(session: &Session) -> Result<std::sync::Arc<dyn ReplicationService>> {
    session
        .env
        .replication
        .clone()
        .ok_or_else(|| SqlError::internal("physical cluster replication is not available"))
}

/// Whether an `ALTER VIRTUAL CLUSTER` action belongs to replication.
pub fn is_replication_action(a: &AlterVirtualClusterAction) -> bool {
    use AlterVirtualClusterAction as A;
    matches!(
        a,
        A::PauseReplication
            | A::ResumeReplication
            | A::SetReplicationRetention(_)
            | A::CompleteReplicationToLatest
            | A::CompleteReplicationToSystemTime(_)
    )
}

fn builtin_named(name: &pg::ObjectName) -> Option<ReplicationBuiltin> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.to_string().trim_matches('"').to_ascii_lowercase())
        .collect();
    let [schema, func] = parts.as_slice() else {
        return None;
    };
    if schema != "crdb_internal" {
        return None;
    }
    ReplicationBuiltin::ALL
        .iter()
        .find(|(_, n)| n == func)
        .map(|(b, _)| *b)
}

fn plain_args(args: &pg::FunctionArgumentList) -> Option<Vec<pg::Expr>> {
    if args.duplicate_treatment.is_some() || !args.clauses.is_empty() {
        return None;
    }
    args.args
        .iter()
        .map(|a| match a {
            pg::FunctionArg::Unnamed(pg::FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The builtin statement `stmt` is, if it is exactly a call of a replication builtin.
pub fn builtin_statement(stmt: &pg::Statement) -> Option<Statement> {
    let pg::Statement::Query(q) = stmt else {
        return None;
    };
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() {
        return None;
    }
    let pg::SetExpr::Select(sel) = q.body.as_ref() else {
        return None;
    };
    if sel.selection.is_some() || sel.projection.len() != 1 {
        return None;
    }
    match (sel.from.as_slice(), &sel.projection[0]) {
        ([], pg::SelectItem::UnnamedExpr(pg::Expr::Function(f)))
        | (
            [],
            pg::SelectItem::ExprWithAlias {
                expr: pg::Expr::Function(f),
                ..
            },
        ) => {
            let func = builtin_named(&f.name)?;
            if func == ReplicationBuiltin::StreamPartition {
                return None;
            }
            let pg::FunctionArguments::List(list) = &f.args else {
                return None;
            };
            Some(Statement::ReplicationBuiltin {
                func,
                args: plain_args(list)?,
            })
        }
        ([from], pg::SelectItem::Wildcard(_)) if from.joins.is_empty() => {
            let pg::TableFactor::Table {
                name,
                args: Some(args),
                ..
            } = &from.relation
            else {
                return None;
            };
            let func = builtin_named(name)?;
            if func != ReplicationBuiltin::StreamPartition || args.settings.is_some() {
                return None;
            }
            let args = args
                .args
                .iter()
                .map(|a| match a {
                    pg::FunctionArg::Unnamed(pg::FunctionArgExpr::Expr(e)) => Some(e.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            Some(Statement::ReplicationBuiltin { func, args })
        }
        _ => None,
    }
}

fn arg_error(func: ReplicationBuiltin, what: &str) -> SqlError {
    SqlError::new(
        SqlState::INVALID_PARAMETER_VALUE,
        format!("crdb_internal.{}: {what}", func.name()),
    )
}

fn stream_id(func: ReplicationBuiltin, d: &Datum) -> Result<JobId> {
    match d {
        Datum::Int(n) if *n > 0 => Ok(JobId(*n as u64)),
        Datum::String(s) => s
            .trim()
            .parse::<u64>()
            .map(JobId)
            .map_err(|_| arg_error(func, "stream id must be a positive integer")),
        _ => Err(arg_error(func, "stream id must be a positive integer")),
    }
}

/// Runs a producer builtin (see the module docs).
pub async fn execute_builtin(
    session: &mut Session,
    func: ReplicationBuiltin,
    args: &[pg::Expr],
    params: &[Datum],
) -> Result<QueryResult> {
    if session.tenant != TenantId::SYSTEM {
        return Err(SqlError::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!(
                "crdb_internal.{} can only be called from the system virtual cluster",
                func.name()
            ),
        ));
    }
    if !matches!(session.txn, super::session::TxnState::Idle) {
        return Err(SqlError::new(
            SqlState::ACTIVE_SQL_TRANSACTION,
            format!(
                "crdb_internal.{} cannot run inside an explicit transaction",
                func.name()
            ),
        ));
    }
    {
        let catalog = Catalog::new(session.tenant);
        let mut txn = session.env.store.begin();
        let ok = has_system_privilege(
            &mut txn,
            &catalog,
            &session.user,
            super::ast::SystemPrivilege::Replication,
        )
        .await;
        txn.rollback();
        if !ok? {
            return Err(SqlError::privilege(format!(
                "user {} does not have REPLICATION system privilege",
                session.user
            )));
        }
    }
    let types = func.arg_types();
    if args.len() != types.len() {
        return Err(SqlError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!(
                "unknown signature: crdb_internal.{}() with {} argument(s) (expects {})",
                func.name(),
                args.len(),
                types.len()
            ),
        ));
    }
    let ctx = EvalContext {
        params,
        user: &session.user,
        database: &session.database,
        now_nanos: session.env.store.now().wall,
        oids: None,
    };
    let vals = args
        .iter()
        .map(|a| eval(a, None, &ctx))
        .collect::<Result<Vec<Datum>>>()?;
    if vals.iter().any(Datum::is_null) {
        return Err(arg_error(func, "arguments must not be NULL"));
    }
    let svc = service(session)?;
    let (col, ty) = func.result_column();
    let one = |d: Datum| QueryResult::Rows {
        columns: vec![Column::new(col, ty)],
        rows: vec![vec![d]],
    };
    match func {
        ReplicationBuiltin::StartReplicationStream => {
            let Datum::String(name) = &vals[0] else {
                return Err(arg_error(func, "tenant name must be a string"));
            };
            Ok(one(Datum::Bytes(
                svc.start_stream(name, &session.user).await?,
            )))
        }
        ReplicationBuiltin::ReplicationStreamSpec => {
            let id = stream_id(func, &vals[0])?;
            Ok(one(Datum::Bytes(svc.stream_spec(id).await?)))
        }
        ReplicationBuiltin::StreamPartition => {
            let id = stream_id(func, &vals[0])?;
            let Datum::Bytes(spec) = &vals[1] else {
                return Err(arg_error(func, "partition spec must be BYTES"));
            };
            let rows = svc.stream_partition(id, spec.clone()).await?;
            Ok(QueryResult::Stream {
                columns: vec![Column::new(col, ty)],
                rows,
            })
        }
        ReplicationBuiltin::ReplicationStreamProgress => {
            let id = stream_id(func, &vals[0])?;
            let Datum::String(t) = &vals[1] else {
                return Err(arg_error(func, "frontier timestamp must be a string"));
            };
            let ts = Timestamp::parse_decimal(t.trim()).ok_or_else(|| {
                arg_error(func, "frontier timestamp must be a decimal HLC timestamp")
            })?;
            Ok(one(Datum::Bytes(svc.stream_progress(id, ts).await?)))
        }
        ReplicationBuiltin::CompleteReplicationStream => {
            let id = stream_id(func, &vals[0])?;
            let Datum::Bool(ok) = &vals[1] else {
                return Err(arg_error(func, "successful_ingestion must be a boolean"));
            };
            svc.complete_stream(id, *ok).await?;
            Ok(one(Datum::Int(id.0 as i64)))
        }
    }
}

/// The result columns of a builtin statement.
pub fn builtin_columns(func: ReplicationBuiltin) -> Vec<Column> {
    let (c, t) = func.result_column();
    vec![Column::new(c, t)]
}

fn s(v: impl Into<String>) -> Datum {
    Datum::String(v.into())
}

fn tz(ts: Timestamp) -> Datum {
    Datum::TimestampTz((ts.wall / 1000) as i64)
}

/// A timestamp as CockroachDB's decimal (`<wall nanos>.<logical, 10 digits>`).
pub fn decimal(ts: Timestamp) -> Datum {
    match ts.to_string().parse::<rust_decimal::Decimal>() {
        Ok(d) => Datum::Decimal(d),
        Err(_) => Datum::String(ts.to_string()),
    }
}

fn redacted_uri(uri: &str) -> String {
    crate::client::ConnUrl::parse(uri)
        .map(|u| u.redacted())
        .unwrap_or_else(|_| "<unparseable URI>".into())
}

/// Columns of `SHOW VIRTUAL CLUSTERS` in its three forms.
pub fn show_columns(with_status: bool, with_prior: bool) -> Vec<Column> {
    let mut c = vec![
        Column::new("id", SqlType::Int),
        Column::new("name", SqlType::String),
        Column::new("data_state", SqlType::String),
        Column::new("service_mode", SqlType::String),
    ];
    if with_status {
        c.extend([
            Column::new("source_tenant_name", SqlType::String),
            Column::new("source_cluster_uri", SqlType::String),
            Column::new("replication_job_id", SqlType::Int),
            Column::new("replicated_time", SqlType::TimestampTz),
            Column::new("retained_time", SqlType::TimestampTz),
            Column::new("cutover_time", SqlType::Decimal),
            Column::new("replication_lag", SqlType::Interval),
            Column::new("status", SqlType::String),
        ]);
    } else if with_prior {
        c.extend([
            Column::new("source_id", SqlType::String),
            Column::new("activation_time", SqlType::Decimal),
        ]);
    }
    c
}

/// `SHOW VIRTUAL CLUSTER[S] [x] [WITH REPLICATION STATUS | WITH PRIOR REPLICATION DETAILS]`
/// over `clusters` (already filtered and sorted).
pub async fn show_virtual_clusters(
    session: &Session,
    clusters: Vec<VirtualClusterInfo>,
    with_status: bool,
    with_prior: bool,
) -> Result<QueryResult> {
    let jobs = match &session.env.replication {
        Some(svc) => svc.jobs().await?,
        None => Vec::new(),
    };
    let active = |id: TenantId| {
        jobs.iter()
            .rev()
            .find(|j| !j.status.is_terminal() && j.ingestion().is_some_and(|d| d.dest_tenant == id))
    };
    let prior = |id: TenantId| {
        jobs.iter().rev().find(|j| {
            j.status == JobStatus::Succeeded && j.ingestion().is_some_and(|d| d.dest_tenant == id)
        })
    };
    let now = session.env.store.now();
    let mut rows = Vec::with_capacity(clusters.len());
    for c in clusters {
        let job = active(c.id);
        let state = match job.and_then(JobRecord::replication_status) {
            Some(status) if c.data_state == "add" => status.as_str().to_string(),
            _ => c.data_state.clone(),
        };
        let mut row = vec![
            Datum::Int(c.id.0 as i64),
            s(c.name.clone()),
            s(state.clone()),
            s(c.service_mode.clone()),
        ];
        if with_status {
            match job.and_then(|j| j.ingestion().map(|d| (j, d))) {
                Some((j, d)) => {
                    let lag = d.replicated_time.map(|r| {
                        let micros = (now.wall.saturating_sub(r.wall) / 1000) as i64;
                        Datum::Interval {
                            months: 0,
                            days: 0,
                            micros,
                        }
                    });
                    let status = match (&d.last_error, state.as_str()) {
                        (Some(e), "replication error") => format!("replication error: {e}"),
                        _ => state.clone(),
                    };
                    row.extend([
                        s(d.source_tenant_name.clone()),
                        s(redacted_uri(&d.source_uri)),
                        Datum::Int(j.id.0 as i64),
                        d.replicated_time.map_or(Datum::Null, tz),
                        {
                            let r = d.retained_time();
                            Datum::TimestampTz((r.wall / 1000) as i64 + 1)
                        },
                        d.cutover_time.map_or(Datum::Null, decimal),
                        lag.unwrap_or(Datum::Null),
                        s(status),
                    ]);
                }
                None => row.extend(std::iter::repeat_n(Datum::Null, 8)),
            }
        } else if with_prior {
            match prior(c.id).and_then(JobRecord::ingestion) {
                Some(d) => row.extend([
                    s(format!("{}:{}", d.source_cluster_id, d.source_tenant_id)),
                    d.cutover_time.map_or(Datum::Null, decimal),
                ]),
                None => row.extend([Datum::Null, Datum::Null]),
            }
        }
        rows.push(row);
    }
    Ok(QueryResult::Rows {
        columns: show_columns(with_status, with_prior),
        rows,
    })
}

/// Columns of `SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER`.
pub fn fingerprint_columns() -> Vec<Column> {
    vec![
        Column::new("tenant_name", SqlType::String),
        Column::new("start_ts", SqlType::Decimal),
        Column::new("end_ts", SqlType::Decimal),
        Column::new("fingerprint", SqlType::Int),
    ]
}

/// `SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER x [AS OF SYSTEM TIME t]`: a
/// deterministic fingerprint of the cluster's whole keyspace at `t` (now by default), equal on
/// two clusters exactly when their data at `t` is equal, whatever their tenant ids.
pub async fn show_fingerprints(
    session: &Session,
    info: VirtualClusterInfo,
    as_of: Option<&str>,
) -> Result<QueryResult> {
    let now = session.env.store.now();
    let ts = match as_of {
        Some(t) => super::exec::as_of_timestamp(now, t)?,
        None => now,
    };
    let fp = session
        .env
        .store
        .fingerprint(&tenant_span(info.id), ts, None)
        .await?;
    Ok(QueryResult::Rows {
        columns: fingerprint_columns(),
        rows: vec![vec![
            s(info.name),
            Datum::Null,
            decimal(ts),
            Datum::Int(fp as i64),
        ]],
    })
}

/// Columns of `SHOW JOBS`.
pub fn jobs_columns() -> Vec<Column> {
    vec![
        Column::new("job_id", SqlType::Int),
        Column::new("job_type", SqlType::String),
        Column::new("description", SqlType::String),
        Column::new("statement", SqlType::String),
        Column::new("user_name", SqlType::String),
        Column::new("status", SqlType::String),
        Column::new("running_status", SqlType::String),
        Column::new("created", SqlType::TimestampTz),
        Column::new("started", SqlType::TimestampTz),
        Column::new("finished", SqlType::TimestampTz),
        Column::new("modified", SqlType::TimestampTz),
        Column::new("fraction_completed", SqlType::Float),
        Column::new("error", SqlType::String),
        Column::new("coordinator_id", SqlType::Int),
    ]
}

/// `SHOW JOBS`: the virtual cluster's schema-change jobs, and in the system virtual cluster
/// the replication jobs.
pub async fn show_jobs(session: &Session) -> Result<QueryResult> {
    let mut jobs: Vec<JobRecord> =
        match (&session.env.replication, session.tenant == TenantId::SYSTEM) {
            (Some(svc), true) => svc.jobs().await?,
            _ => Vec::new(),
        };
    jobs.retain(|j| j.schema_tenant().is_none());
    jobs.extend(
        crate::jobs::list(&session.env.store)
            .await?
            .into_iter()
            .filter(|j| j.schema_tenant() == Some(session.tenant)),
    );
    jobs.sort_by_key(|j| (j.created, j.id));
    let rows = jobs
        .iter()
        .map(|j| {
            let fraction = j.fraction_completed();
            vec![
                Datum::Int(j.id.0 as i64),
                s(j.job_type.as_str()),
                s(j.description.clone()),
                s(if j.job_type != JobType::ReplicationStreamProducer {
                    j.description.clone()
                } else {
                    String::new()
                }),
                s(j.user.clone()),
                s(j.status.as_str()),
                s(j.running_status()),
                tz(j.created),
                tz(j.created),
                j.finished.map_or(Datum::Null, tz),
                tz(j.modified),
                Datum::Float(fraction),
                s(j.error.clone().unwrap_or_default()),
                Datum::Int(j.coordinator as i64),
            ]
        })
        .collect();
    Ok(QueryResult::Rows {
        columns: jobs_columns(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Statement {
        crate::sql::parser::parse_one(sql).unwrap()
    }

    #[test]
    fn recognises_builtin_statements_only_in_their_exact_shape() {
        let s = parse("SELECT crdb_internal.start_replication_stream('application')");
        assert!(matches!(
            s,
            Statement::ReplicationBuiltin {
                func: ReplicationBuiltin::StartReplicationStream,
                ref args
            } if args.len() == 1
        ));
        let s = parse("SELECT * FROM crdb_internal.stream_partition($1, $2)");
        assert!(matches!(
            s,
            Statement::ReplicationBuiltin {
                func: ReplicationBuiltin::StreamPartition,
                ref args
            } if args.len() == 2
        ));
        assert!(matches!(
            parse("select CRDB_INTERNAL.replication_stream_progress(1, '5.0')"),
            Statement::ReplicationBuiltin {
                func: ReplicationBuiltin::ReplicationStreamProgress,
                ..
            }
        ));
        // Other shapes stay ordinary queries (and fail there as unknown functions).
        for sql in [
            "SELECT crdb_internal.start_replication_stream('a'), 1",
            "SELECT crdb_internal.stream_partition(1, 'x')",
            "SELECT * FROM crdb_internal.replication_stream_spec(1)",
            "SELECT pg_catalog.start_replication_stream('a')",
            "SELECT crdb_internal.start_replication_stream('a') FROM t",
        ] {
            assert!(matches!(parse(sql), Statement::Pg(_)), "{sql}");
        }
    }
}
