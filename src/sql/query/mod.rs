//! SELECT: planning and execution of queries over relations.
//!
//! A query is evaluated bottom-up into [`Relation`]s (columns plus rows): FROM items (tables,
//! CTEs, derived tables, joins), WHERE, GROUP BY/aggregates/HAVING, the select list, DISTINCT,
//! set operations, ORDER BY and LIMIT/OFFSET. Equi-joins are hash joins; other joins are nested
//! loops. A WHERE clause over a single table that fixes the whole primary key becomes a point
//! read. Uncorrelated subqueries (scalar, `IN`, `EXISTS`, in FROM) are evaluated once and
//! substituted as values; correlated ones run per outer row (see `subquery`).
//!
//! Column references resolve against `table.column` names: a bare name matches any column with
//! that name (the first one, if several tables have it), a qualified name matches exactly.
//!
//! Single-table queries outside explicit transactions may instead run through the pull-based
//! operator pipeline of `ops` (see `sql::stream`), which reuses this module's select-list,
//! aggregate (`accumulate`) and ORDER BY functions so both paths give the same results.

use super::catalog::TableDesc;
use super::error::{Result, SqlError};
use super::exec::{Ctx, matching_rows_labeled, resolve_table};
use super::expr::{self, EvalContext, Row, normalize};
use super::session::Column;
use super::sqlstate::SqlState;
use super::types::{Datum, SqlType};
use crate::kv::Txn;
use futures::future::BoxFuture;
use sqlparser::ast::{self as pg, Expr, SelectItem, SetExpr, TableFactor};
use std::collections::{BTreeMap, HashMap};

mod accumulate;
mod aggregate;
mod correlated;
mod from_list;
mod join;
pub mod locking;
pub mod ops;
mod order;
mod project;
mod select;
mod subquery;
mod table_functions;
mod walk;
mod window;

use aggregate::{AggCall, compute_agg, extract_aggs};
use join::{hash_key, join};
use project::{Projection, grouped_rows, output_relation, plain_rows};
pub(crate) use select::label as column_label;
use select::{materialize_if, run_select, sort_by_output};
pub use subquery::literal_expr;
use subquery::*;

/// A column of a relation.
#[derive(Clone, Debug)]
pub struct RelCol {
    /// Table alias or name this column came from (for `t.col`).
    pub table: Option<String>,
    /// Column name.
    pub name: String,
    /// Type.
    pub ty: SqlType,
    /// Hidden from `*` (the implicit `rowid`).
    pub hidden: bool,
    /// The table column's declared width, for plain references to it.
    pub typmod: crate::sql::typmod::TypeMod,
    /// Part of its table's primary key: grouping by all of a table's key columns determines
    /// the table's other columns (functional dependency, as in PostgreSQL and CockroachDB).
    pub key: bool,
}

/// Rows with named columns.
#[derive(Clone, Debug, Default)]
pub struct Relation {
    /// Columns.
    pub cols: Vec<RelCol>,
    /// Rows.
    pub rows: Vec<Vec<Datum>>,
}

impl Relation {
    /// The columns' types, in order (beside [`Self::scope_names`]).
    fn col_types(&self) -> Vec<SqlType> {
        self.cols.iter().map(|c| c.ty).collect()
    }

    fn scope_names(&self) -> Vec<String> {
        self.cols
            .iter()
            .map(|c| match &c.table {
                // Hidden columns (rowid, merged USING columns) never make a bare name ambiguous.
                Some(t) if c.hidden => format!("{}{t}.{}", expr::HIDDEN, c.name),
                Some(t) => format!("{t}.{}", c.name),
                None => c.name.clone(),
            })
            .collect()
    }

    /// Output columns for a client.
    pub fn columns(&self) -> Vec<Column> {
        self.cols
            .iter()
            .map(|c| Column {
                typmod: c.typmod,
                ..Column::new(c.name.clone(), c.ty)
            })
            .collect()
    }
}

type Ctes = BTreeMap<String, Relation>;

/// Work (in row pairs) above which a synchronous step runs via [`heavy`]'s hand-off.
const HEAVY_WORK: usize = 50_000;

/// Runs CPU-heavy synchronous work (a large join) without stalling the node: on tokio's
/// multi-threaded runtime the worker first hands its other tasks (new connections, cancel
/// requests, other sessions' statements) to another thread, so a big query cannot starve the
/// listener. Small work, or a single-threaded runtime (unit tests), runs inline.
fn heavy<T>(work: usize, f: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if work >= HEAVY_WORK && multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// Runs a query.
pub fn run_query<'a>(
    ctx: &'a Ctx<'a>,
    txn: &'a mut Txn,
    q: &'a pg::Query,
    params: &'a [Datum],
    outer: &'a Ctes,
) -> BoxFuture<'a, Result<Relation>> {
    run_query_locking(ctx, txn, q, params, outer, None)
}

/// Runs a query whose FROM tables are locked by the clauses `inherited` from an enclosing
/// query (a subquery in FROM) and by its own (see [`locking`]).
fn run_query_locking<'a>(
    ctx: &'a Ctx<'a>,
    txn: &'a mut Txn,
    q: &'a pg::Query,
    params: &'a [Datum],
    outer: &'a Ctes,
    inherited: Option<locking::LockSpec>,
) -> BoxFuture<'a, Result<Relation>> {
    Box::pin(async move {
        let lock = locking::LockSpec::for_query(q, inherited);
        if let Some(l) = &lock {
            l.check_query(txn, q)?;
        }
        let mut ctes = outer.clone();
        if let Some(w) = &q.with {
            if w.recursive {
                return Err(SqlError::unsupported("WITH RECURSIVE"));
            }
            for cte in &w.cte_tables {
                let mut rel = run_query(ctx, txn, &cte.query, params, &ctes).await?;
                let name = normalize(&cte.alias.name.value, cte.alias.name.quote_style.is_some());
                rename_columns(
                    &mut rel,
                    &cte.alias
                        .columns
                        .iter()
                        .map(|c| normalize(&c.name.value, c.name.quote_style.is_some()))
                        .collect::<Vec<_>>(),
                )?;
                for c in &mut rel.cols {
                    c.table = Some(name.clone());
                }
                ctes.insert(name, rel);
            }
        }
        let order: Vec<pg::OrderByExpr> = match &q.order_by {
            Some(ob) => match &ob.kind {
                pg::OrderByKind::Expressions(v) => v.clone(),
                pg::OrderByKind::All(_) => return Err(SqlError::unsupported("ORDER BY ALL")),
            },
            None => Vec::new(),
        };
        let mut rel = match q.body.as_ref() {
            SetExpr::Select(sel) => {
                run_select(ctx, txn, sel, params, &ctes, &order, lock.as_ref()).await?
            }
            other => {
                let mut rel = run_set_expr(ctx, txn, other, params, &ctes).await?;
                if !order.is_empty() {
                    sort_by_output(ctx, &mut rel, &order, params)?;
                }
                rel
            }
        };
        let ectx = ectx(ctx, params);
        let (mut off, mut lim) = (0, usize::MAX);
        if let Some(pg::LimitClause::LimitOffset { limit, offset, .. }) = &q.limit_clause {
            if let Some(o) = offset {
                off = count(&expr::eval(&o.value, None, &ectx)?)?;
            }
            if let Some(l) = limit {
                lim = count(&expr::eval(l, None, &ectx)?)?;
            }
        }
        if let Some(l) = &lock {
            locking::lock_output(ctx, txn, &mut rel, l, off.saturating_add(lim)).await?;
        }
        if (off, lim) != (0, usize::MAX) {
            rel.rows = rel.rows.into_iter().skip(off).take(lim).collect();
        }
        Ok(rel)
    })
}

/// Whether a call makes a select list produce a different number of rows than its input: an
/// aggregate, a window function or a set-returning function.
pub fn changes_row_count(f: &pg::Function) -> bool {
    let name = f.name.to_string().to_lowercase();
    f.over.is_some()
        || aggregate::is_aggregate(name.trim_start_matches("pg_catalog."))
        || table_functions::is_set_returning(&name)
}

fn ectx<'a>(ctx: &'a Ctx<'a>, params: &'a [Datum]) -> EvalContext<'a> {
    EvalContext {
        params,
        user: ctx.user,
        database: ctx.database,
        now_nanos: ctx.now_nanos,
        oids: ctx.oids.as_deref(),
    }
}

fn count(d: &Datum) -> Result<usize> {
    match d {
        Datum::Int(i) if *i >= 0 => Ok(*i as usize),
        Datum::Null => Ok(usize::MAX),
        _ => Err(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "LIMIT/OFFSET must be a non-negative integer",
        )),
    }
}

fn rename_columns(rel: &mut Relation, names: &[String]) -> Result<()> {
    if names.len() > rel.cols.len() {
        return Err(SqlError::syntax(format!(
            "table has {} columns available but {} columns specified",
            rel.cols.len(),
            names.len()
        )));
    }
    for (c, n) in rel.cols.iter_mut().zip(names) {
        c.name = n.clone();
    }
    Ok(())
}

fn run_set_expr<'a>(
    ctx: &'a Ctx<'a>,
    txn: &'a mut Txn,
    body: &'a SetExpr,
    params: &'a [Datum],
    ctes: &'a Ctes,
) -> BoxFuture<'a, Result<Relation>> {
    Box::pin(async move {
        match body {
            SetExpr::Select(sel) => run_select(ctx, txn, sel, params, ctes, &[], None).await,
            SetExpr::Query(q) => run_query(ctx, txn, q, params, ctes).await,
            SetExpr::Values(v) => {
                let ectx = ectx(ctx, params);
                let rows: Vec<Vec<Datum>> = v
                    .rows
                    .iter()
                    .map(|r| {
                        r.iter()
                            .map(|e| expr::eval(e, None, &ectx))
                            .collect::<Result<_>>()
                    })
                    .collect::<Result<_>>()?;
                let width = rows.first().map_or(0, Vec::len);
                let mut rows = rows;
                let mut cols = Vec::with_capacity(width);
                for i in 0..width {
                    // The column's type: the first value's, widened over numeric types (`VALUES
                    // (1), (1.5)` is DECIMAL), every value converted to it.
                    let mut ty: Option<SqlType> = None;
                    for t in rows
                        .iter()
                        .filter_map(|r| r.get(i).and_then(Datum::sql_type))
                    {
                        ty = Some(match ty {
                            None => t,
                            Some(cur) => {
                                if cur == t {
                                    cur
                                } else {
                                    cur.numeric_common(t).unwrap_or(cur)
                                }
                            }
                        });
                    }
                    let ty = ty.unwrap_or(SqlType::String);
                    if matches!(ty, SqlType::Decimal | SqlType::Float) {
                        for r in &mut rows {
                            if let Some(v) = r.get_mut(i) {
                                let d = std::mem::replace(v, Datum::Null);
                                *v = d.coerce(ty)?;
                            }
                        }
                    }
                    cols.push(RelCol {
                        table: None,
                        name: format!("column{}", i + 1),
                        ty,
                        hidden: false,
                        typmod: Default::default(),
                        key: false,
                    });
                }
                Ok(Relation { cols, rows })
            }
            SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                let l = run_set_expr(ctx, txn, left, params, ctes).await?;
                let r = run_set_expr(ctx, txn, right, params, ctes).await?;
                if l.cols.len() != r.cols.len() {
                    return Err(SqlError::syntax(format!(
                        "each {op} query must have the same number of columns: {} vs {}",
                        l.cols.len(),
                        r.cols.len()
                    )));
                }
                let (l, r) = unify_set_types(l, r)?;
                let all = matches!(set_quantifier, pg::SetQuantifier::All);
                let key = |row: &Vec<Datum>| hash_key(row.iter());
                let rows = match op {
                    pg::SetOperator::Union => {
                        let mut rows = l.rows;
                        rows.extend(r.rows);
                        if !all {
                            dedup(&mut rows);
                        }
                        rows
                    }
                    pg::SetOperator::Intersect
                    | pg::SetOperator::Except
                    | pg::SetOperator::Minus => {
                        let mut counts: HashMap<String, usize> = HashMap::new();
                        for row in &r.rows {
                            *counts.entry(key(row)).or_default() += 1;
                        }
                        let intersect = matches!(op, pg::SetOperator::Intersect);
                        let mut out = Vec::new();
                        for row in l.rows {
                            let k = key(&row);
                            let n = counts.get(&k).copied().unwrap_or(0);
                            let keep = if intersect { n > 0 } else { n == 0 };
                            if all && n > 0 {
                                counts.insert(k, n - 1);
                                if intersect {
                                    out.push(row);
                                }
                                continue;
                            }
                            if keep {
                                out.push(row);
                            }
                        }
                        if !all {
                            dedup(&mut out);
                        }
                        out
                    }
                };
                let mut cols = l.cols;
                for c in &mut cols {
                    c.table = None;
                }
                Ok(Relation { cols, rows })
            }
            SetExpr::Table(t) => {
                let name = t
                    .table_name
                    .clone()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                let q: pg::Query = parse_query(&format!("SELECT * FROM {name}"))?;
                run_query(ctx, txn, &q, params, ctes).await
            }
            other => Err(SqlError::unsupported(format!("{other}"))),
        }
    })
}

fn parse_query(sql: &str) -> Result<pg::Query> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut p = sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(sql)
        .map_err(|e| SqlError::syntax(e.to_string()))?;
    p.parse_query()
        .map(|q| *q)
        .map_err(|e| SqlError::syntax(e.to_string()))
}

/// Removes rows equal to an earlier one (SQL equality per column, NULLs equal: `1.0` and `1.00`
/// are one row).
fn dedup(rows: &mut Vec<Vec<Datum>>) {
    let mut seen = std::collections::HashSet::new();
    rows.retain(|r| seen.insert(hash_key(r.iter())));
}

/// Gives both inputs of a set operation the same column types: INT with DECIMAL is DECIMAL,
/// INT or DECIMAL with FLOAT is FLOAT, a column of only NULLs takes the other side's type;
/// values are converted to the common type.
fn unify_set_types(mut l: Relation, mut r: Relation) -> Result<(Relation, Relation)> {
    use SqlType::String;
    for i in 0..l.cols.len() {
        let (lt, rt) = (l.cols[i].ty, r.cols[i].ty);
        if lt == rt {
            continue;
        }
        let all_null = |rel: &Relation| rel.rows.iter().all(|row| row[i].is_null());
        let common = match (lt, rt) {
            (String, t) if all_null(&l) => t,
            (t, String) if all_null(&r) => t,
            _ => match lt.numeric_common(rt) {
                Some(t) => t,
                None => continue,
            },
        };
        for rel in [&mut l, &mut r] {
            if rel.cols[i].ty != common {
                rel.cols[i].typmod = Default::default();
            }
            rel.cols[i].ty = common;
            for row in &mut rel.rows {
                let v = std::mem::replace(&mut row[i], Datum::Null);
                row[i] = v.coerce(common)?;
            }
        }
    }
    Ok((l, r))
}

/// Loads one FROM item.
fn load_factor<'a>(
    ctx: &'a Ctx<'a>,
    txn: &'a mut Txn,
    f: &'a TableFactor,
    params: &'a [Datum],
    ctes: &'a Ctes,
    filter: Option<&'a Expr>,
    lock: Option<&'a locking::LockSpec>,
) -> BoxFuture<'a, Result<Relation>> {
    Box::pin(async move {
        match f {
            TableFactor::Table {
                name,
                alias,
                args: Some(args),
                with_ordinality,
                ..
            } => {
                let exprs = function_args(&args.args)?;
                let fname = name.to_string().to_lowercase();
                let Some(rel) =
                    table_functions::table_function(ctx, &fname, &exprs, params, *with_ordinality)?
                else {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_FUNCTION,
                        format!("unknown table function: {name}()"),
                    ));
                };
                Ok(label_function_rel(rel, alias, &fname))
            }
            TableFactor::UNNEST {
                alias,
                array_exprs,
                with_ordinality,
                with_offset: false,
                ..
            } => {
                let rel = table_functions::table_function(
                    ctx,
                    "unnest",
                    array_exprs,
                    params,
                    *with_ordinality,
                )?
                .ok_or_else(|| SqlError::internal("unnest"))?;
                Ok(label_function_rel(rel, alias, "unnest"))
            }
            TableFactor::Table { name, alias, .. } => {
                let parts: Vec<String> = name
                    .0
                    .iter()
                    .filter_map(|p| p.as_ident())
                    .map(|i| normalize(&i.value, i.quote_style.is_some()))
                    .collect();
                let label = alias
                    .as_ref()
                    .map(|a| normalize(&a.name.value, a.name.quote_style.is_some()))
                    .or_else(|| parts.last().cloned())
                    .unwrap_or_default();
                let mut rel = if let (1, Some(cte)) =
                    (parts.len(), parts.first().and_then(|p| ctes.get(p)))
                {
                    cte.clone()
                } else if let Some(rel) =
                    super::system_tables::virtual_table(ctx, txn, &parts).await?
                {
                    rel
                } else {
                    let t = resolve_table(ctx, txn, name).await?;
                    let locked = lock.is_some_and(|l| l.for_label(&label).is_some());
                    scan_table(ctx, txn, &t, filter, params, &label, locked).await?
                };
                if let Some(a) = alias {
                    rename_columns(
                        &mut rel,
                        &a.columns
                            .iter()
                            .map(|c| normalize(&c.name.value, c.name.quote_style.is_some()))
                            .collect::<Vec<_>>(),
                    )?;
                }
                for c in &mut rel.cols {
                    c.table = Some(label.clone());
                }
                Ok(rel)
            }
            TableFactor::Derived {
                subquery,
                alias,
                lateral,
                ..
            } => {
                if *lateral {
                    return Err(SqlError::unsupported("LATERAL"));
                }
                let label = alias
                    .as_ref()
                    .map(|a| normalize(&a.name.value, a.name.quote_style.is_some()));
                let inherited = lock.and_then(|l| l.inherited_by(label.as_deref().unwrap_or("")));
                let mut rel =
                    run_query_locking(ctx, txn, subquery, params, ctes, inherited).await?;
                if let Some(a) = alias {
                    rename_columns(
                        &mut rel,
                        &a.columns
                            .iter()
                            .map(|c| normalize(&c.name.value, c.name.quote_style.is_some()))
                            .collect::<Vec<_>>(),
                    )?;
                }
                for c in &mut rel.cols {
                    c.table = label.clone();
                }
                Ok(rel)
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let mut rel =
                    load_from_item(ctx, txn, table_with_joins, params, ctes, None, lock).await?;
                if let Some(a) = alias {
                    let label = normalize(&a.name.value, a.name.quote_style.is_some());
                    for c in &mut rel.cols {
                        c.table = Some(label.clone());
                    }
                }
                Ok(rel)
            }
            other => Err(SqlError::unsupported(format!("FROM item {other}"))),
        }
    })
}

/// The plain expressions of a table function's arguments.
fn function_args(args: &[pg::FunctionArg]) -> Result<Vec<Expr>> {
    args.iter()
        .map(|a| match a {
            pg::FunctionArg::Unnamed(pg::FunctionArgExpr::Expr(e)) => Ok(e.clone()),
            other => Err(SqlError::unsupported(format!(
                "table function argument {other}"
            ))),
        })
        .collect()
}

/// Names a table function's result by its alias (`AS s(n)`), else by the function's name; a
/// one-column result takes the alias as its column name too, as in PostgreSQL.
fn label_function_rel(mut rel: Relation, alias: &Option<pg::TableAlias>, fname: &str) -> Relation {
    let short = fname.rsplit('.').next().unwrap_or(fname).to_string();
    let label = alias
        .as_ref()
        .map(|a| normalize(&a.name.value, a.name.quote_style.is_some()))
        .unwrap_or(short);
    let names: Vec<String> = alias
        .as_ref()
        .map(|a| {
            a.columns
                .iter()
                .map(|c| normalize(&c.name.value, c.name.quote_style.is_some()))
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() && alias.is_some() && rel.cols.len() == 1 {
        rel.cols[0].name = label.clone();
    }
    for (c, n) in rel.cols.iter_mut().zip(&names) {
        c.name = n.clone();
    }
    for c in &mut rel.cols {
        c.table = Some(label.clone());
    }
    rel
}

/// Reads the rows of `t` that may match `filter`; a `locked` table's rows carry their key in a
/// hidden lock column (see [`locking`]).
async fn scan_table(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    filter: Option<&Expr>,
    params: &[Datum],
    label: &str,
    locked: bool,
) -> Result<Relation> {
    let rows = if ctx.describe_only {
        Vec::new()
    } else {
        matching_rows_labeled(ctx, txn, t, filter, params, label).await?
    };
    ctx.memory.charge(rows.iter().map(|(_, r)| r))?;
    let mut cols: Vec<RelCol> = t
        .columns
        .iter()
        .map(|c| RelCol {
            table: Some(t.name.clone()),
            name: c.name.clone(),
            ty: c.ty,
            hidden: c.hidden,
            typmod: c.typmod,
            key: t.primary_key.contains(&c.id),
        })
        .collect();
    let rows = if locked {
        cols.push(locking::lock_column(label));
        rows.into_iter()
            .map(|(k, mut r)| {
                let v = locking::lock_value(t, k, &r);
                r.push(v);
                r
            })
            .collect()
    } else {
        rows.into_iter().map(|(_, r)| r).collect()
    };
    Ok(Relation { cols, rows })
}

/// `factor` loaded with `filter` as its scan filter, and (unless the caller filters the
/// result itself: `filtered_later`) its rows filtered by it.
#[allow(clippy::too_many_arguments)]
async fn load_filtered(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    factor: &TableFactor,
    params: &[Datum],
    ctes: &Ctes,
    filter: Option<&Expr>,
    lock: Option<&locking::LockSpec>,
    filtered_later: bool,
) -> Result<Relation> {
    let mut rel = load_factor(ctx, txn, factor, params, ctes, filter, lock).await?;
    if let Some(f) = filter.filter(|_| !filtered_later) {
        let names = rel.scope_names();
        rel.rows = from_list::keep_matching(ctx, params, &names, rel.rows, f)?;
    }
    Ok(rel)
}

fn load_from_item<'a>(
    ctx: &'a Ctx<'a>,
    txn: &'a mut Txn,
    item: &'a pg::TableWithJoins,
    params: &'a [Datum],
    ctes: &'a Ctes,
    filter: Option<&'a Expr>,
    lock: Option<&'a locking::LockSpec>,
) -> BoxFuture<'a, Result<Relation>> {
    Box::pin(async move {
        let single = item.joins.is_empty();
        // A join tree's tables are filtered by the WHERE conjuncts that may filter them early
        // (the caller applies the whole clause to the result in any case).
        let pushed = match filter {
            Some(f) if !single => {
                from_list::join_input_filters(ctx, txn, item, params, ctes, f).await?
            }
            _ => Vec::new(),
        };
        let load = |i: usize| {
            if single {
                filter
            } else {
                pushed.get(i).and_then(Option::as_ref)
            }
        };
        let mut left = load_filtered(
            ctx,
            txn,
            &item.relation,
            params,
            ctes,
            load(0),
            lock,
            single,
        )
        .await?;
        for (n, j) in item.joins.iter().enumerate() {
            let right = load_filtered(
                ctx,
                txn,
                &j.relation,
                params,
                ctes,
                load(n + 1),
                lock,
                false,
            )
            .await?;
            let op = &j.join_operator;
            // ON sees only the two sides (`FROM a, b JOIN c ON a.k = c.k` is an error), even
            // when one side is empty and the condition never runs.
            if let Some(on) = join::on_condition(op) {
                let mut scope = left.cols.clone();
                scope.extend(right.cols.iter().cloned());
                let scope = Relation {
                    cols: scope,
                    rows: Vec::new(),
                };
                expr::check_references(on, &scope.scope_names())?;
            }
            left = match join::on_condition(op).filter(|e| contains_subquery(e)) {
                None => join(ctx, left, right, op, params)?,
                Some(on) => match materialize_if(ctx, txn, on, params, ctes).await {
                    Ok(on) => join(ctx, left, right, &join::with_on(op, on), params)?,
                    Err(err) if is_correlated(&err) => {
                        join::join_correlated(ctx, txn, (left, right, op), on, params, ctes).await?
                    }
                    Err(err) => return Err(err),
                },
            };
        }
        Ok(left)
    })
}
