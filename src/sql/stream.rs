//! Streaming large scans: `SELECT <exprs> FROM <table> [WHERE ...] [LIMIT ...] [OFFSET ...]`
//! outside an explicit transaction sends its rows to the client batch by batch instead of
//! materialising them (the executor otherwise builds the whole result first, bounded by
//! `--max-sql-memory`).
//!
//! A query qualifies when it reads one real table (no join, CTE, virtual table or table
//! function), has no grouping, aggregate, window, DISTINCT, ORDER BY, locking clause or
//! subquery, and its WHERE clause leaves a full or primary-key range scan. Queries whose scan
//! holds at most [`BATCH`] rows run on the ordinary path (so small results keep the implicit
//! transaction's automatic retries); larger ones stream. The stream owns a read-only
//! transaction at the statement's timestamp, so every batch reads the same snapshot, and it
//! checks the statement timeout and cancel requests between batches. An error after rows
//! were sent ends the result with that error, as in PostgreSQL.

use futures::StreamExt;
use futures::stream::BoxStream;
use sqlparser::ast::{self as pg, Expr, SelectItem, SetExpr, TableFactor};

use super::catalog::{Catalog, TableDesc};
use super::error::{Result, SqlError};
use super::exec::{Ctx, MemoryAccount, resolve_table};
use super::expr::{self, EvalContext, Row};
use super::scan::{Access, column_names, decode_row, plan_access, table_span};
use super::session::{Column, QueryResult, Session};
use super::types::Datum;
use crate::kv::Txn;
use crate::storage::keys::Span;

/// Rows read from KV per batch; a scan with at most this many rows is not streamed.
pub const BATCH: usize = 1024;

/// The parts of a streamable query.
struct Plan<'a> {
    table: &'a pg::ObjectName,
    label: String,
    filter: Option<&'a Expr>,
    items: &'a [SelectItem],
    limit: Option<&'a Expr>,
    offset: Option<&'a Expr>,
}

/// The query's plan when it has the streamable shape.
fn shape(q: &pg::Query) -> Option<Plan<'_>> {
    if q.with.is_some() || q.order_by.is_some() || !q.locks.is_empty() || q.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return None;
    };
    if sel.distinct.is_some()
        || sel.having.is_some()
        || sel.top.is_some()
        || sel.into.is_some()
        || !sel.named_window.is_empty()
        || sel.qualify.is_some()
        || !matches!(&sel.group_by, pg::GroupByExpr::Expressions(v, _) if v.is_empty())
        || sel.from.len() != 1
        || !sel.from[0].joins.is_empty()
    {
        return None;
    }
    let TableFactor::Table {
        name,
        alias,
        args: None,
        ..
    } = &sel.from[0].relation
    else {
        return None;
    };
    if sel.selection.as_ref().is_some_and(unsuitable_filter) {
        return None;
    }
    // Aggregates, windows and set-returning functions change the row count; subqueries need
    // the ordinary path.
    let mut plain = true;
    for item in &sel.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            let _ = pg::visit_expressions(e, |x| {
                let changes = match x {
                    Expr::Function(f) => super::query::changes_row_count(f),
                    Expr::Subquery(_) | Expr::Exists { .. } => true,
                    _ => false,
                };
                if changes {
                    plain = false;
                }
                std::ops::ControlFlow::<()>::Continue(())
            });
        }
    }
    if !plain {
        return None;
    }
    let label = alias.as_ref().map_or_else(
        || {
            name.0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| expr::normalize(&i.value, i.quote_style.is_some()))
                .unwrap_or_default()
        },
        |a| expr::normalize(&a.name.value, a.name.quote_style.is_some()),
    );
    let (limit, offset) = match &q.limit_clause {
        None => (None, None),
        Some(pg::LimitClause::LimitOffset { limit, offset, .. }) => {
            (limit.as_ref(), offset.as_ref().map(|o| &o.value))
        }
        Some(_) => return None,
    };
    Some(Plan {
        table: name,
        label,
        filter: sel.selection.as_ref(),
        items: &sel.projection,
        limit,
        offset,
    })
}

/// Whether `e` has a subquery, or an equality among its top-level conjuncts (a likely point or
/// index lookup, which the ordinary path answers without a scan).
fn unsuitable_filter(e: &Expr) -> bool {
    fn has_equality(e: &Expr) -> bool {
        match e {
            Expr::BinaryOp {
                left,
                op: pg::BinaryOperator::And,
                right,
            } => has_equality(left) || has_equality(right),
            Expr::BinaryOp {
                op: pg::BinaryOperator::Eq,
                ..
            } => true,
            Expr::Nested(x) => has_equality(x),
            _ => false,
        }
    }
    has_equality(e) || has_subquery(e)
}

fn has_subquery(e: &Expr) -> bool {
    let mut found = false;
    let _ = pg::visit_expressions(e, |x| {
        if matches!(
            x,
            Expr::Subquery(_)
                | Expr::Exists { .. }
                | Expr::In {
                    target: pg::InTarget::Subquery(_),
                    ..
                }
        ) || matches!(x, Expr::Function(f) if matches!(f.args, pg::FunctionArguments::Subquery(_)))
        {
            found = true;
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    });
    found
}

/// Runs `q` as a stream when it qualifies and its scan is large; None to use the ordinary path.
pub async fn try_stream(
    session: &mut Session,
    stmt: &super::ast::Statement,
    q: &pg::Query,
    params: &[Datum],
) -> Result<Option<QueryResult>> {
    let Some(plan) = shape(q) else {
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
    let Ok(t) = resolve_table(&ctx, &mut txn, plan.table).await else {
        txn.rollback();
        return Ok(None);
    };
    let names = column_names(&t, &plan.label);
    let ectx = EvalContext {
        params,
        user: &user,
        database: &database,
        now_nanos,
        oids: None,
    };
    let span = match plan_access(session.tenant, &t, plan.filter, &names, &ectx)? {
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
    let count = |e: Option<&Expr>| -> Result<Option<usize>> {
        match e.map(|e| expr::eval(e, None, &ectx)).transpose()? {
            None | Some(Datum::Null) => Ok(None),
            Some(Datum::Int(n)) if n >= 0 => Ok(Some(n as usize)),
            Some(other) => Err(SqlError::new(
                super::sqlstate::SqlState::INVALID_PARAMETER_VALUE,
                format!("LIMIT/OFFSET must be a non-negative integer, not {other}"),
            )),
        }
    };
    let limit = count(plan.limit)?;
    let offset = count(plan.offset)?.unwrap_or(0);
    let columns: Vec<Column> = super::exec::describe(session, stmt).await?;
    let state = ScanState {
        txn,
        table: t,
        names,
        cursor: span.start.0.clone(),
        end: span.end.0.clone(),
        filter: plan.filter.cloned(),
        items: plan.items.to_vec(),
        params: params.to_vec(),
        user,
        database,
        now_nanos,
        skip: offset,
        left: limit,
        memory: MemoryAccount::new(0)
            .with_timeout(super::exec::statement_timeout(session))
            .with_cancel(session.cancel.clone()),
        done: false,
    };
    Ok(Some(QueryResult::Stream {
        columns,
        rows: super::session::RowStream(rows(state)),
    }))
}

/// What a streaming scan carries between batches.
struct ScanState {
    txn: Txn,
    table: TableDesc,
    names: Vec<String>,
    cursor: Vec<u8>,
    end: Vec<u8>,
    filter: Option<Expr>,
    items: Vec<SelectItem>,
    params: Vec<Datum>,
    user: String,
    database: String,
    now_nanos: u64,
    skip: usize,
    left: Option<usize>,
    memory: MemoryAccount,
    done: bool,
}

impl ScanState {
    /// The next batch of output rows (empty when the scan is over).
    async fn next_batch(&mut self) -> Result<Vec<Vec<Datum>>> {
        let mut out = Vec::new();
        while out.is_empty() && !self.done {
            self.memory.check()?;
            if self.left == Some(0) {
                self.done = true;
                break;
            }
            let span = Span::new(self.cursor.clone(), self.end.clone());
            let batch = self.txn.scan(&span, BATCH).await?;
            if batch.len() < BATCH {
                self.done = true;
            }
            if let Some((k, _)) = batch.last() {
                let mut next = k.clone();
                next.push(0);
                self.cursor = next;
            }
            let ectx = EvalContext {
                params: &self.params,
                user: &self.user,
                database: &self.database,
                now_nanos: self.now_nanos,
                oids: None,
            };
            for (_, raw) in batch {
                let row = decode_row(&self.table, &raw)?;
                let scope = Row {
                    names: &self.names,
                    values: &row,
                };
                if let Some(f) = &self.filter
                    && !matches!(expr::eval(f, Some(&scope), &ectx)?, Datum::Bool(true))
                {
                    continue;
                }
                if self.skip > 0 {
                    self.skip -= 1;
                    continue;
                }
                if self.left == Some(0) {
                    self.done = true;
                    break;
                }
                out.push(project(&self.items, &self.table, &scope, &ectx)?);
                if let Some(n) = &mut self.left {
                    *n -= 1;
                }
            }
        }
        if self.done {
            self.txn.rollback();
        }
        Ok(out)
    }
}

/// The select list over one table row: `*`, `t.*` (visible columns) and expressions.
fn project(
    items: &[SelectItem],
    t: &TableDesc,
    scope: &Row<'_>,
    ectx: &EvalContext<'_>,
) -> Result<Vec<Datum>> {
    let mut out = Vec::with_capacity(scope.values.len());
    for item in items {
        match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                for (c, v) in t.columns.iter().zip(scope.values) {
                    if !c.hidden {
                        out.push(v.clone());
                    }
                }
            }
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                out.push(expr::eval(e, Some(scope), ectx)?);
            }
            other => return Err(SqlError::unsupported(format!("select item {other}"))),
        }
    }
    Ok(out)
}

/// The stream of output rows, batch by batch.
fn rows(state: ScanState) -> BoxStream<'static, Result<Vec<Datum>>> {
    futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        match state.next_batch().await {
            Ok(batch) if batch.is_empty() => None,
            Ok(batch) => Some((
                futures::stream::iter(batch.into_iter().map(Ok).collect::<Vec<_>>()),
                Some(state),
            )),
            Err(e) => {
                state.txn.rollback();
                Some((futures::stream::iter(vec![Err(e)]), None))
            }
        }
    })
    .flatten()
    .boxed()
}
