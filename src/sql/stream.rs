//! Streaming queries: a query over one table that the operator pipeline covers
//! ([`super::query::ops`]: scans with WHERE, projection, GROUP BY and aggregates, HAVING,
//! ORDER BY, LIMIT and OFFSET) sends its rows to the client as the pipeline produces them, instead of materialising the table (the
//! materialising path holds every row, bounded by `--max-sql-memory`). A plain scan's first
//! rows go out after the first KV batch; an aggregate or sort reads its whole input but holds
//! only its groups or (under LIMIT) its top rows.
//!
//! A query qualifies when [`super::query::ops::shape`] accepts it, its table is a real table
//! (CTE names and virtual tables take the ordinary path), and its WHERE clause leaves a full or
//! primary-key range scan (point and index lookups take the ordinary path). A query that joins
//! its table with a second one (inner or left, ON a condition) qualifies when the second is a
//! real table of at most [`BUILD_MAX`] rows: it is read whole first and held, and the first
//! table streams through the join (both are read whole, as on the materialising path, and
//! WHERE filters the joined rows). Queries whose scan
//! holds at most [`BATCH`] rows run on the ordinary path (so small results keep the implicit
//! transaction's automatic retries); larger ones stream. Result columns are the statement's
//! description, computed by the ordinary path's planner, which also reports its semantic
//! errors (unknown columns, ungrouped columns) before any row is read. Outside an explicit
//! transaction the stream reads through a reader of its own read-only transaction at the
//! statement's timestamp, so every batch reads the same snapshot; its memory account draws from the node's pool and carries the statement timeout and the
//! session's cancel flag, checked by every operator at least once per batch. An error after
//! rows were sent ends the result with that error, as in PostgreSQL.
//!
//! Inside an explicit transaction a query streams the same way, through a reader of the
//! transaction ([`crate::kv::TxnReader`]): it reads at the transaction's timestamp, sees the
//! transaction's writes made before the statement (and its schema), and its whole span counts
//! as read by the transaction, so the transaction's commit checks what the stream read even if
//! the stream is consumed later. A statement runs only after the previous statement's rows were
//! sent or dropped (the connection handles one message at a time); a portal suspended by a row
//! limit keeps its snapshot while other statements run, as in PostgreSQL. An error while the
//! rows are produced aborts the transaction (the connection does this, as for any failed
//! statement: 25P02 until ROLLBACK).
//!
//! A statement followed by others in the same query string never streams (its rows would be
//! produced after the later statements ran, which an error in it must prevent).

use super::catalog::Catalog;
use super::catalog::TableDesc;
use super::error::Result;
use super::exec::{Ctx, MemoryAccount, resolve_table};
use super::expr::EvalContext;
use super::query::ops::{self, Env};
use super::scan::{Access, column_names, decode_row, plan_access, table_span};
use super::session::{QueryResult, Session, TxnState};
use super::types::Datum;
use crate::kv::{Txn, TxnReader};
use crate::storage::keys::Span;
use sqlparser::ast as pg;
use std::sync::Arc;

pub use super::query::ops::BATCH;

/// Runs `q` outside an explicit transaction as a stream when it qualifies and its scan is
/// large; None to use the ordinary path.
pub async fn try_stream(
    session: &mut Session,
    stmt: &super::ast::Statement,
    q: &pg::Query,
    params: &[Datum],
) -> Result<Option<QueryResult>> {
    let Some(shape) = ops::shape(q) else {
        return Ok(None);
    };
    // The statement's own read-only transaction: the reader keeps its snapshot.
    let mut txn = session.env.store.begin();
    let planned = plan(session, &mut txn, &shape, params).await;
    txn.rollback();
    match planned? {
        Some(p) => start(session, stmt, &shape, p, params).await.map(Some),
        None => Ok(None),
    }
}

/// Runs `q` inside the session's open explicit transaction as a stream when it qualifies and
/// its scan is large; None to use the ordinary path. A statement that streams counts as one of
/// the transaction's; an error aborts the transaction, as for any statement.
pub async fn try_stream_in_txn(
    session: &mut Session,
    stmt: &super::ast::Statement,
    q: &pg::Query,
    params: &[Datum],
) -> Result<Option<QueryResult>> {
    match stream_in_txn(session, stmt, q, params).await {
        Ok(None) => Ok(None),
        Ok(Some(r)) => {
            session.txn_statements += 1;
            Ok(Some(r))
        }
        Err(e) => {
            session.txn_statements += 1;
            if let TxnState::Open(txn) = std::mem::replace(&mut session.txn, TxnState::Idle) {
                session.abort_txn(txn, e.is_retryable());
            }
            Err(e)
        }
    }
}

async fn stream_in_txn(
    session: &mut Session,
    stmt: &super::ast::Statement,
    q: &pg::Query,
    params: &[Datum],
) -> Result<Option<QueryResult>> {
    let Some(shape) = ops::shape(q) else {
        return Ok(None);
    };
    let TxnState::Open(mut txn) = std::mem::replace(&mut session.txn, TxnState::Idle) else {
        return Ok(None);
    };
    let planned = plan(session, &mut txn, &shape, params).await;
    session.txn = TxnState::Open(txn);
    match planned? {
        // The description sees the transaction's schema.
        Some(p) => start(session, stmt, &shape, p, params).await.map(Some),
        None => Ok(None),
    }
}

/// What a stream reads: the table, its span, and a reader of the span at `txn`'s snapshot.
struct Planned {
    table: TableDesc,
    span: Span,
    reader: TxnReader,
    /// The joined table and its rows.
    build: Option<(TableDesc, Vec<Vec<Datum>>)>,
}

/// The most rows a joined table may have for the join to stream (they are held, indexed).
const BUILD_MAX: usize = 10_000;

/// Resolves the table and its span in `txn`; None when the query takes the ordinary path
/// (not a real table, a point or index lookup, a small scan).
async fn plan(
    session: &Session,
    txn: &mut Txn,
    shape: &ops::Shape<'_>,
    params: &[Datum],
) -> Result<Option<Planned>> {
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
    let Ok(t) = resolve_table(&ctx, txn, shape.table).await else {
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
    // With a join, WHERE filters the joined rows (both tables are read whole, as on the
    // materialising path).
    let access = match shape.join {
        Some(_) => Access::Full,
        None => plan_access(session.tenant, &t, shape.filter, &names, &ectx)?,
    };
    let span = match access {
        Access::Full => table_span(session.tenant, &t),
        Access::PrimarySpan { span, .. } => span,
        _ => return Ok(None),
    };
    let build = match &shape.join {
        None => None,
        Some(j) => {
            let Ok(bt) = resolve_table(&ctx, txn, j.table).await else {
                return Ok(None);
            };
            // Only a small joined table is held; a larger one takes the ordinary path.
            let kvs = txn
                .scan(&table_span(session.tenant, &bt), BUILD_MAX + 1)
                .await?;
            if kvs.len() > BUILD_MAX {
                return Ok(None);
            }
            let rows = kvs
                .iter()
                .map(|(_, raw)| decode_row(&bt, raw))
                .collect::<Result<Vec<_>>>()?;
            Some((bt, rows))
        }
    };
    // Small scans: the ordinary path (it keeps automatic retries and exact result typing).
    if txn.scan(&span, BATCH + 1).await?.len() <= BATCH {
        return Ok(None);
    }
    let reader = txn.reader(&span)?;
    Ok(Some(Planned {
        table: t,
        span,
        reader,
        build,
    }))
}

/// Describes the statement and starts its pipeline.
async fn start(
    session: &mut Session,
    stmt: &super::ast::Statement,
    shape: &ops::Shape<'_>,
    p: Planned,
    params: &[Datum],
) -> Result<QueryResult> {
    let columns = super::exec::describe(session, stmt).await?;
    let env = Arc::new(Env {
        params: params.to_vec(),
        user: session.user.clone(),
        database: session.database.clone(),
        now_nanos: p.reader.read_timestamp().wall,
        memory: MemoryAccount::in_pool(session.env.sql_memory.clone())
            .with_timeout(super::exec::statement_timeout(session))
            .with_cancel(session.cancel.clone()),
    });
    let pipeline = shape.build(p.table, p.reader, p.span, p.build, env)?;
    Ok(QueryResult::Stream {
        columns,
        rows: super::session::RowStream(pipeline.into_stream()),
    })
}
