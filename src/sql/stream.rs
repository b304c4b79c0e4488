//! Streaming queries: a query over one table that the operator pipeline covers
//! ([`super::query::ops`]: scans with WHERE, projection, GROUP BY and aggregates, HAVING,
//! ORDER BY, LIMIT and OFFSET) and that runs outside an explicit transaction sends its rows to
//! the client as the pipeline produces them, instead of materialising the table (the
//! materialising path holds every row, bounded by `--max-sql-memory`). A plain scan's first
//! rows go out after the first KV batch; an aggregate or sort reads its whole input but holds
//! only its groups or (under LIMIT) its top rows.
//!
//! A query qualifies when [`super::query::ops::shape`] accepts it, its table is a real table
//! (CTE names and virtual tables take the ordinary path), and its WHERE clause leaves a full or
//! primary-key range scan (point and index lookups take the ordinary path). Queries whose scan
//! holds at most [`BATCH`] rows run on the ordinary path (so small results keep the implicit
//! transaction's automatic retries); larger ones stream. Result columns are the statement's
//! description, computed by the ordinary path's planner, which also reports its semantic
//! errors (unknown columns, ungrouped columns) before any row is read. The stream owns a
//! read-only transaction at the statement's timestamp, so every batch reads the same snapshot;
//! its memory account draws from the node's pool and carries the statement timeout and the
//! session's cancel flag, checked by every operator at least once per batch. An error after
//! rows were sent ends the result with that error, as in PostgreSQL.
//!
//! Inside an explicit transaction queries materialise: the stream is drained after the
//! session lock is released (it must own what it reads), while the transaction belongs to the
//! session and must see its own writes and the next statement's.

use super::catalog::Catalog;
use super::error::Result;
use super::exec::{Ctx, MemoryAccount, resolve_table};
use super::expr::EvalContext;
use super::query::ops::{self, Env};
use super::scan::{Access, column_names, plan_access, table_span};
use super::session::{QueryResult, Session};
use super::types::Datum;
use sqlparser::ast as pg;
use std::sync::Arc;

pub use super::query::ops::BATCH;

/// Runs `q` as a stream when it qualifies and its scan is large; None to use the ordinary path.
pub async fn try_stream(
    session: &mut Session,
    stmt: &super::ast::Statement,
    q: &pg::Query,
    params: &[Datum],
) -> Result<Option<QueryResult>> {
    let Some(shape) = ops::shape(q) else {
        return Ok(None);
    };
    let mut txn = session.env.store.begin();
    let (user, database) = (session.user.clone(), session.database.clone());
    let now_nanos = txn.read_timestamp().wall;
    let ctx = Ctx {
        tenant: session.tenant,
        user: &user,
        database: &database,
        catalog: Catalog::new(session.tenant),
        now_nanos,
        describe_only: false,
        memory: MemoryAccount::default(),
        oids: None,
        search_path: session.search_path(),
        jobs: Default::default(),
        lock_timeout: None,
    };
    // Virtual tables and CTE names do not resolve as tables: the ordinary path takes them.
    let Ok(t) = resolve_table(&ctx, &mut txn, shape.table).await else {
        txn.rollback();
        return Ok(None);
    };
    let names = column_names(&t, &shape.label);
    let ectx = EvalContext {
        params,
        user: &user,
        database: &database,
        now_nanos,
        oids: None,
    };
    let span = match plan_access(session.tenant, &t, shape.filter, &names, &ectx)? {
        Access::Full => table_span(session.tenant, &t),
        Access::PrimarySpan { span, .. } => span,
        _ => {
            txn.rollback();
            return Ok(None);
        }
    };
    // Small scans: the ordinary path (it keeps automatic retries and exact result typing).
    if txn.scan(&span, BATCH + 1).await?.len() <= BATCH {
        txn.rollback();
        return Ok(None);
    }
    let columns = super::exec::describe(session, stmt).await?;
    let env = Arc::new(Env {
        params: params.to_vec(),
        user,
        database,
        now_nanos,
        memory: MemoryAccount::in_pool(session.env.sql_memory.clone())
            .with_timeout(super::exec::statement_timeout(session))
            .with_cancel(session.cancel.clone()),
    });
    let pipeline = shape.build(t, txn, span, env)?;
    Ok(Some(QueryResult::Stream {
        columns,
        rows: super::session::RowStream(pipeline.into_stream()),
    }))
}
