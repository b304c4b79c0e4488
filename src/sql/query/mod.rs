//! SELECT: planning and execution of queries over relations.
//!
//! A query is evaluated bottom-up into [`Relation`]s (columns plus rows): FROM items (tables,
//! CTEs, derived tables, joins), WHERE, GROUP BY/aggregates/HAVING, the select list, DISTINCT,
//! set operations, ORDER BY and LIMIT/OFFSET. Equi-joins are hash joins; other joins are nested
//! loops. A WHERE clause over a single table that fixes the whole primary key becomes a point
//! read. Uncorrelated subqueries (scalar, `IN`, `EXISTS`, in FROM) are evaluated once and
//! substituted as values; correlated subqueries are reported as unsupported (0A000).
//!
//! Column references resolve against `table.column` names: a bare name matches any column with
//! that name (the first one, if several tables have it), a qualified name matches exactly.

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

mod aggregate;
mod join;

use aggregate::{AggCall, compute_agg, extract_aggs};
use join::{hash_key, join};

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
            .map(|c| Column::new(c.name.clone(), c.ty))
            .collect()
    }
}

type Ctes = BTreeMap<String, Relation>;

/// Runs a query.
pub fn run_query<'a>(
    ctx: &'a Ctx<'a>,
    txn: &'a mut Txn,
    q: &'a pg::Query,
    params: &'a [Datum],
    outer: &'a Ctes,
) -> BoxFuture<'a, Result<Relation>> {
    Box::pin(async move {
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
            SetExpr::Select(sel) => run_select(ctx, txn, sel, params, &ctes, &order).await?,
            other => {
                let mut rel = run_set_expr(ctx, txn, other, params, &ctes).await?;
                if !order.is_empty() {
                    sort_by_output(ctx, &mut rel, &order, params)?;
                }
                rel
            }
        };
        let ectx = ectx(ctx, params);
        if let Some(pg::LimitClause::LimitOffset { limit, offset, .. }) = &q.limit_clause {
            let off = match offset {
                Some(o) => count(&expr::eval(&o.value, None, &ectx)?)?,
                None => 0,
            };
            let lim = match limit {
                Some(l) => count(&expr::eval(l, None, &ectx)?)?,
                None => usize::MAX,
            };
            rel.rows = rel.rows.into_iter().skip(off).take(lim).collect();
        }
        Ok(rel)
    })
}

fn ectx<'a>(ctx: &'a Ctx<'a>, params: &'a [Datum]) -> EvalContext<'a> {
    EvalContext {
        params,
        user: ctx.user,
        database: ctx.database,
        now_nanos: ctx.now_nanos,
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
            SetExpr::Select(sel) => run_select(ctx, txn, sel, params, ctes, &[]).await,
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
                let cols = (0..width)
                    .map(|i| RelCol {
                        table: None,
                        name: format!("column{}", i + 1),
                        ty: rows
                            .iter()
                            .find_map(|r| r.get(i).and_then(Datum::sql_type))
                            .unwrap_or(SqlType::String),
                        hidden: false,
                    })
                    .collect();
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
                let all = matches!(set_quantifier, pg::SetQuantifier::All);
                let key = |row: &Vec<Datum>| {
                    row.iter()
                        .map(|d| format!("{d:?}"))
                        .collect::<Vec<_>>()
                        .join("\u{1}")
                };
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
                run_query(ctx, txn, Box::leak(Box::new(q)), params, ctes).await
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

fn dedup(rows: &mut Vec<Vec<Datum>>) {
    let mut seen = std::collections::HashSet::new();
    rows.retain(|r| {
        seen.insert(
            r.iter()
                .map(|d| format!("{d:?}"))
                .collect::<Vec<_>>()
                .join("\u{1}"),
        )
    });
}

/// Loads one FROM item.
fn load_factor<'a>(
    ctx: &'a Ctx<'a>,
    txn: &'a mut Txn,
    f: &'a TableFactor,
    params: &'a [Datum],
    ctes: &'a Ctes,
    filter: Option<&'a Expr>,
) -> BoxFuture<'a, Result<Relation>> {
    Box::pin(async move {
        match f {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                if args.is_some() {
                    return Err(SqlError::unsupported(format!("table function {name}")));
                }
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
                    scan_table(ctx, txn, &t, filter, params, &label).await?
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
                let mut rel = run_query(ctx, txn, subquery, params, ctes).await?;
                let label = alias
                    .as_ref()
                    .map(|a| normalize(&a.name.value, a.name.quote_style.is_some()));
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
                    load_from_item(ctx, txn, table_with_joins, params, ctes, None).await?;
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

async fn scan_table(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    filter: Option<&Expr>,
    params: &[Datum],
    label: &str,
) -> Result<Relation> {
    let rows = if ctx.describe_only {
        Vec::new()
    } else {
        matching_rows_labeled(ctx, txn, t, filter, params, label).await?
    };
    ctx.memory.charge(rows.iter().map(|(_, r)| r))?;
    Ok(Relation {
        cols: t
            .columns
            .iter()
            .map(|c| RelCol {
                table: Some(t.name.clone()),
                name: c.name.clone(),
                ty: c.ty,
                hidden: c.hidden,
            })
            .collect(),
        rows: rows.into_iter().map(|(_, r)| r).collect(),
    })
}

fn load_from_item<'a>(
    ctx: &'a Ctx<'a>,
    txn: &'a mut Txn,
    item: &'a pg::TableWithJoins,
    params: &'a [Datum],
    ctes: &'a Ctes,
    filter: Option<&'a Expr>,
) -> BoxFuture<'a, Result<Relation>> {
    Box::pin(async move {
        let single = item.joins.is_empty();
        let mut left = load_factor(
            ctx,
            txn,
            &item.relation,
            params,
            ctes,
            if single { filter } else { None },
        )
        .await?;
        for j in &item.joins {
            let right = load_factor(ctx, txn, &j.relation, params, ctes, None).await?;
            left = join(ctx, left, right, &j.join_operator, params)?;
        }
        Ok(left)
    })
}

fn parse_expr(text: &str) -> Result<Expr> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::syntax(e.to_string()))
}

/// Replaces uncorrelated subqueries in `e` by their values.
fn materialize<'a>(
    ctx: &'a Ctx<'a>,
    txn: &'a mut Txn,
    e: &'a Expr,
    params: &'a [Datum],
    ctes: &'a Ctes,
) -> BoxFuture<'a, Result<Expr>> {
    Box::pin(async move {
        Ok(match e {
            Expr::Subquery(q) => {
                let rel = run_query(ctx, txn, q, params, ctes)
                    .await
                    .map_err(correlated)?;
                if rel.cols.len() != 1 {
                    return Err(SqlError::syntax(format!(
                        "subquery must return only one column, found {}",
                        rel.cols.len()
                    )));
                }
                if rel.rows.len() > 1 {
                    return Err(SqlError::new(
                        SqlState::SYNTAX_ERROR,
                        "more than one row returned by a subquery used as an expression",
                    )
                    .with_hint("scalar subqueries return at most one row"));
                }
                literal_expr(
                    rel.rows
                        .first()
                        .map(|r| r[0].clone())
                        .unwrap_or(Datum::Null),
                )
            }
            Expr::Exists { subquery, negated } => {
                let rel = run_query(ctx, txn, subquery, params, ctes)
                    .await
                    .map_err(correlated)?;
                literal_expr(Datum::Bool(rel.rows.is_empty() == *negated))
            }
            Expr::In {
                expr: x,
                target: pg::InTarget::Subquery(q),
                negated,
                ..
            } => {
                let rel = run_query(ctx, txn, q, params, ctes)
                    .await
                    .map_err(correlated)?;
                let inner = materialize(ctx, txn, x, params, ctes).await?;
                let list: Vec<Expr> = rel
                    .rows
                    .into_iter()
                    .map(|r| literal_expr(r.into_iter().next().unwrap_or(Datum::Null)))
                    .collect();
                if list.is_empty() {
                    return Ok(literal_expr(Datum::Bool(*negated)));
                }
                Expr::In {
                    expr: Box::new(inner),
                    target: pg::InTarget::List(list),
                    negated: *negated,
                    global: false,
                }
            }
            Expr::BinaryOp { left, op, right } => Expr::BinaryOp {
                left: Box::new(materialize(ctx, txn, left, params, ctes).await?),
                op: op.clone(),
                right: Box::new(materialize(ctx, txn, right, params, ctes).await?),
            },
            Expr::UnaryOp { op, expr: x } => Expr::UnaryOp {
                op: *op,
                expr: Box::new(materialize(ctx, txn, x, params, ctes).await?),
            },
            Expr::Nested(x) => {
                Expr::Nested(Box::new(materialize(ctx, txn, x, params, ctes).await?))
            }
            Expr::IsNull(x) => {
                Expr::IsNull(Box::new(materialize(ctx, txn, x, params, ctes).await?))
            }
            Expr::IsNotNull(x) => {
                Expr::IsNotNull(Box::new(materialize(ctx, txn, x, params, ctes).await?))
            }
            other => other.clone(),
        })
    })
}

fn correlated(e: SqlError) -> SqlError {
    if e.state == SqlState::UNDEFINED_COLUMN {
        SqlError::unsupported(format!("correlated subqueries ({})", e.message))
    } else {
        e
    }
}

fn is_correlated(e: &SqlError) -> bool {
    e.state == SqlState::FEATURE_NOT_SUPPORTED && e.message.contains("correlated")
}

/// Replaces references to the outer row's qualified columns (`t.c` present in `names`) by their
/// values, so a correlated subquery can run for that row.
fn bind_outer(e: &Expr, names: &[String], row: &[Datum]) -> Expr {
    let mut out = e.clone();
    let _ = pg::visit_expressions_mut(&mut out, |x| {
        if let Expr::CompoundIdentifier(parts) = x
            && parts.len() >= 2
        {
            let t = &parts[parts.len() - 2];
            let c = &parts[parts.len() - 1];
            let full = format!(
                "{}.{}",
                normalize(&t.value, t.quote_style.is_some()),
                normalize(&c.value, c.quote_style.is_some())
            );
            if let Some(i) = names.iter().position(|n| *n == full) {
                *x = literal_expr(row[i].clone());
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    out
}

fn contains_subquery(e: &Expr) -> bool {
    let s = e.to_string().to_ascii_uppercase();
    s.contains("SELECT ")
}

/// A literal expression for a value.
pub fn literal_expr(d: Datum) -> Expr {
    let v = match d {
        Datum::Null => pg::Value::Null,
        Datum::Int(i) => pg::Value::Number(i.to_string(), false),
        Datum::Float(f) => {
            if f.is_finite() {
                pg::Value::Number(format!("{f:?}"), false)
            } else {
                return Expr::Cast {
                    kind: pg::CastKind::DoubleColon,
                    expr: Box::new(Expr::value(pg::Value::SingleQuotedString(
                        super::types::format_float(f),
                    ))),
                    data_type: pg::DataType::Float8,
                    format: None,
                };
            }
        }
        Datum::String(s) => pg::Value::SingleQuotedString(s),
        Datum::Bool(b) => pg::Value::Boolean(b),
        other @ (Datum::Decimal(_)
        | Datum::Uuid(_)
        | Datum::Timestamp(_)
        | Datum::TimestampTz(_)
        | Datum::Date(_)
        | Datum::Time(_)
        | Datum::Interval { .. }
        | Datum::Json(_)) => {
            let ty = other.sql_type().map(|t| t.name()).unwrap_or("STRING");
            let data_type = match ty {
                "DECIMAL" => pg::DataType::Decimal(pg::ExactNumberInfo::None),
                "UUID" => pg::DataType::Uuid,
                "TIMESTAMP" => pg::DataType::Timestamp(None, pg::TimezoneInfo::None),
                "TIMESTAMPTZ" => pg::DataType::Timestamp(None, pg::TimezoneInfo::WithTimeZone),
                "DATE" => pg::DataType::Date,
                "TIME" => pg::DataType::Time(None, pg::TimezoneInfo::None),
                "INTERVAL" => pg::DataType::Interval {
                    fields: None,
                    precision: None,
                },
                _ => pg::DataType::JSONB,
            };
            return Expr::Cast {
                kind: pg::CastKind::DoubleColon,
                expr: Box::new(Expr::value(pg::Value::SingleQuotedString(
                    other.to_text().unwrap_or_default(),
                ))),
                data_type,
                format: None,
            };
        }
        Datum::Bytes(b) => {
            return Expr::Cast {
                kind: pg::CastKind::DoubleColon,
                expr: Box::new(Expr::value(pg::Value::SingleQuotedString(
                    Datum::Bytes(b).to_text().unwrap_or_default(),
                ))),
                data_type: pg::DataType::Bytea,
                format: None,
            };
        }
    };
    Expr::value(v)
}

/// An aggregate call found in a select list, HAVING or ORDER BY.
fn label(e: &Expr) -> String {
    match e {
        Expr::Identifier(i) => normalize(&i.value, i.quote_style.is_some()),
        Expr::CompoundIdentifier(p) => p
            .last()
            .map(|i| normalize(&i.value, i.quote_style.is_some()))
            .unwrap_or_default(),
        Expr::Function(f) => f.name.to_string().to_lowercase(),
        Expr::Cast { expr, .. } | Expr::Nested(expr) => label(expr),
        Expr::Case { .. } => "case".into(),
        Expr::Exists { .. } => "exists".into(),
        _ => "?column?".into(),
    }
}

async fn run_select(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    sel: &pg::Select,
    params: &[Datum],
    ctes: &Ctes,
    order: &[pg::OrderByExpr],
) -> Result<Relation> {
    // WHERE with subqueries replaced by values.
    let mut correlated_where: Option<Expr> = None;
    let selection = match &sel.selection {
        Some(w) if contains_subquery(w) => match materialize(ctx, txn, w, params, ctes).await {
            Ok(e) => Some(e),
            Err(e) if is_correlated(&e) => {
                correlated_where = Some(w.clone());
                None
            }
            Err(e) => return Err(e),
        },
        other => other.clone(),
    };
    // FROM.
    let mut input = match sel.from.as_slice() {
        [] => Relation {
            cols: Vec::new(),
            rows: vec![Vec::new()],
        },
        [only] => load_from_item(ctx, txn, only, params, ctes, selection.as_ref()).await?,
        items => {
            let mut acc: Option<Relation> = None;
            for it in items {
                let rel = load_from_item(ctx, txn, it, params, ctes, None).await?;
                acc = Some(match acc {
                    None => rel,
                    Some(l) => join(
                        ctx,
                        l,
                        rel,
                        &pg::JoinOperator::CrossJoin(pg::JoinConstraint::None),
                        params,
                    )?,
                });
            }
            acc.unwrap_or_default()
        }
    };
    let names = input.scope_names();
    let ectx = ectx(ctx, params);
    if let Some(w) = &correlated_where {
        // Correlated subqueries: bind the outer row's values and run them per row.
        let mut kept = Vec::new();
        for r in std::mem::take(&mut input.rows) {
            let bound = bind_outer(w, &names, &r);
            let e = materialize(ctx, txn, &bound, params, ctes).await?;
            if matches!(
                expr::eval(
                    &e,
                    Some(&Row {
                        names: &names,
                        values: &r
                    }),
                    &ectx
                )?,
                Datum::Bool(true)
            ) {
                kept.push(r);
            }
        }
        input.rows = kept;
    }
    if let Some(w) = &selection {
        let mut kept = Vec::with_capacity(input.rows.len());
        for r in input.rows {
            if matches!(
                expr::eval(
                    w,
                    Some(&Row {
                        names: &names,
                        values: &r
                    }),
                    &ectx
                )?,
                Datum::Bool(true)
            ) {
                kept.push(r);
            }
        }
        input.rows = kept;
    }
    // The select list, expanded.
    let mut items: Vec<(String, Expr)> = Vec::new();
    let mut correlated_items: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
    for item in &sel.projection {
        match item {
            SelectItem::Wildcard(_) => {
                if input.cols.is_empty() {
                    return Err(SqlError::syntax(
                        "SELECT * with no tables specified is not valid",
                    ));
                }
                for (i, c) in input.cols.iter().enumerate() {
                    if !c.hidden {
                        items.push((c.name.clone(), col_ref(i)));
                    }
                }
            }
            SelectItem::QualifiedWildcard(kind, _) => {
                let t = match kind {
                    pg::SelectItemQualifiedWildcardKind::ObjectName(n) => {
                        crate::sql::exec::object_last(n)
                    }
                    other => return Err(SqlError::unsupported(format!("{other}.*"))),
                };
                if !input
                    .cols
                    .iter()
                    .any(|c| c.table.as_deref() == Some(t.as_str()))
                {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_TABLE,
                        format!("no data source matches pattern: {t}.*"),
                    ));
                }
                for (i, c) in input.cols.iter().enumerate() {
                    if !c.hidden && c.table.as_deref() == Some(t.as_str()) {
                        items.push((c.name.clone(), col_ref(i)));
                    }
                }
            }
            SelectItem::UnnamedExpr(e) => {
                let x = match materialize_if(ctx, txn, e, params, ctes).await {
                    Ok(x) => x,
                    Err(err) if is_correlated(&err) => {
                        correlated_items.insert(items.len());
                        e.clone()
                    }
                    Err(err) => return Err(err),
                };
                items.push((label(e), x))
            }
            SelectItem::ExprWithAlias { expr: e, alias } => items.push((
                normalize(&alias.value, alias.quote_style.is_some()),
                match materialize_if(ctx, txn, e, params, ctes).await {
                    Ok(x) => x,
                    Err(err) if is_correlated(&err) => {
                        correlated_items.insert(items.len());
                        e.clone()
                    }
                    Err(err) => return Err(err),
                },
            )),
            other => return Err(SqlError::unsupported(format!("select item {other}"))),
        }
    }
    let group_exprs: Vec<Expr> = match &sel.group_by {
        pg::GroupByExpr::Expressions(v, _) => v.clone(),
        pg::GroupByExpr::All(_) => return Err(SqlError::unsupported("GROUP BY ALL")),
    };
    let mut aggs: Vec<(String, AggCall)> = Vec::new();
    let rewritten: Vec<Expr> = items
        .iter()
        .map(|(_, e)| extract_aggs(e, &mut aggs))
        .collect::<Result<_>>()?;
    let having = sel
        .having
        .as_ref()
        .map(|h| extract_aggs(h, &mut aggs))
        .transpose()?;
    let order_rewritten: Vec<Expr> = order
        .iter()
        .map(|o| extract_aggs(&resolve_order(&o.expr, &items), &mut aggs))
        .collect::<Result<_>>()?;
    let grouped = !aggs.is_empty() || !group_exprs.is_empty();
    // Output rows with their sort keys.
    let mut out: Vec<(Vec<Datum>, Vec<Datum>)> = Vec::new();
    let out_names: Vec<String> = items.iter().map(|(n, _)| n.clone()).collect();
    if grouped {
        let group_exprs: Vec<Expr> = group_exprs
            .iter()
            .map(|g| resolve_order(g, &items))
            .collect();
        let mut groups: Vec<(Vec<Datum>, Vec<&Vec<Datum>>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for r in &input.rows {
            let key: Vec<Datum> = group_exprs
                .iter()
                .map(|g| {
                    expr::eval(
                        g,
                        Some(&Row {
                            names: &names,
                            values: r,
                        }),
                        &ectx,
                    )
                })
                .collect::<Result<_>>()?;
            let k = hash_key(key.iter());
            match index.get(&k) {
                Some(&i) => groups[i].1.push(r),
                None => {
                    index.insert(k, groups.len());
                    groups.push((key, vec![r]));
                }
            }
        }
        if groups.is_empty() && group_exprs.is_empty() {
            groups.push((Vec::new(), Vec::new()));
        }
        let null_row: Vec<Datum> = vec![Datum::Null; input.cols.len()];
        let mut scope_names = names.clone();
        for i in 0..aggs.len() {
            scope_names.push(format!("__agg_{i}"));
        }
        for (_, rows) in &groups {
            let mut scope = rows
                .first()
                .map(|r| (*r).clone())
                .unwrap_or_else(|| null_row.clone());
            for (_, a) in &aggs {
                scope.push(compute_agg(a, rows, &names, &ectx)?);
            }
            let row = Row {
                names: &scope_names,
                values: &scope,
            };
            if let Some(h) = &having
                && !matches!(expr::eval(h, Some(&row), &ectx)?, Datum::Bool(true))
            {
                continue;
            }
            let mut vals: Vec<Datum> = Vec::with_capacity(rewritten.len());
            for (i, e) in rewritten.iter().enumerate() {
                if correlated_items.contains(&i) {
                    let bound = bind_outer(e, &scope_names, &scope);
                    let m = materialize(ctx, txn, &bound, params, ctes).await?;
                    vals.push(expr::eval(&m, Some(&row), &ectx)?);
                } else {
                    vals.push(expr::eval(e, Some(&row), &ectx)?);
                }
            }
            let keys = sort_keys(&order_rewritten, &out_names, &vals, &row, &ectx)?;
            out.push((vals, keys));
        }
    } else {
        if input.rows.is_empty() {
            // Nothing to evaluate: still report unknown columns and functions, as PostgreSQL
            // does at planning time.
            let nulls = vec![Datum::Null; names.len()];
            let row = Row {
                names: &names,
                values: &nulls,
            };
            let checks = rewritten
                .iter()
                .enumerate()
                .filter(|(i, _)| !correlated_items.contains(i))
                .map(|(_, e)| e)
                .chain(selection.iter());
            for e in checks {
                if let Err(err) = expr::eval(e, Some(&row), &ectx)
                    && matches!(err.state.0, "42703" | "42702" | "42883")
                {
                    return Err(err);
                }
            }
        }
        for r in &input.rows {
            let row = Row {
                names: &names,
                values: r,
            };
            let mut vals: Vec<Datum> = Vec::with_capacity(rewritten.len());
            for (i, e) in rewritten.iter().enumerate() {
                if correlated_items.contains(&i) {
                    let bound = bind_outer(e, &names, r);
                    let m = materialize(ctx, txn, &bound, params, ctes).await?;
                    vals.push(expr::eval(&m, Some(&row), &ectx)?);
                } else {
                    vals.push(expr::eval(e, Some(&row), &ectx)?);
                }
            }
            let keys = sort_keys(&order_rewritten, &out_names, &vals, &row, &ectx)?;
            out.push((vals, keys));
        }
    }
    match &sel.distinct {
        Some(pg::Distinct::Distinct) => {
            let mut seen = std::collections::HashSet::new();
            out.retain(|(v, _)| seen.insert(hash_key(v.iter())));
        }
        Some(pg::Distinct::On(_)) => return Err(SqlError::unsupported("DISTINCT ON")),
        _ => {}
    }
    if !order.is_empty() {
        sort_rows(&mut out, order);
    }
    let types: Vec<SqlType> = items
        .iter()
        .enumerate()
        .map(|(i, (_, e))| {
            out.iter()
                .find_map(|(v, _)| v.get(i).and_then(Datum::sql_type))
                .unwrap_or_else(|| static_type(e, &input, &aggs))
        })
        .collect();
    Ok(Relation {
        cols: items
            .iter()
            .zip(types)
            .map(|((n, _), ty)| RelCol {
                table: None,
                name: n.clone(),
                ty,
                hidden: false,
            })
            .collect(),
        rows: out.into_iter().map(|(v, _)| v).collect(),
    })
}

async fn materialize_if(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    e: &Expr,
    params: &[Datum],
    ctes: &Ctes,
) -> Result<Expr> {
    if contains_subquery(e) {
        materialize(ctx, txn, e, params, ctes).await
    } else {
        Ok(e.clone())
    }
}

fn col_ref(pos: usize) -> Expr {
    Expr::Identifier(pg::Ident::new(format!("{}{pos}", expr::POSITIONAL)))
}

/// ORDER BY / GROUP BY may name an output column by position or alias.
fn resolve_order(e: &Expr, items: &[(String, Expr)]) -> Expr {
    if let Expr::Value(v) = e
        && let pg::Value::Number(n, _) = &v.value
        && let Ok(i) = n.parse::<usize>()
        && i >= 1
        && i <= items.len()
    {
        return items[i - 1].1.clone();
    }
    if let Expr::Identifier(id) = e {
        let n = normalize(&id.value, id.quote_style.is_some());
        if let Some((_, x)) = items.iter().find(|(name, x)| {
            *name == n && !matches!(x, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
        }) {
            return x.clone();
        }
    }
    e.clone()
}

fn sort_keys(
    order: &[Expr],
    out_names: &[String],
    out_vals: &[Datum],
    row: &Row<'_>,
    ectx: &EvalContext<'_>,
) -> Result<Vec<Datum>> {
    let mut keys = Vec::with_capacity(order.len());
    for e in order {
        // Output column names first (aliases), then the input scope.
        if let Expr::Identifier(id) = e {
            let n = normalize(&id.value, id.quote_style.is_some());
            if let Some(i) = out_names.iter().position(|x| *x == n) {
                keys.push(out_vals[i].clone());
                continue;
            }
        }
        keys.push(expr::eval(e, Some(row), ectx)?);
    }
    Ok(keys)
}

fn sort_rows(rows: &mut [(Vec<Datum>, Vec<Datum>)], order: &[pg::OrderByExpr]) {
    rows.sort_by(|a, b| {
        for (i, o) in order.iter().enumerate() {
            let desc = matches!(o.options.sort, Some(pg::OrderBySort::Desc));
            // PostgreSQL: NULLs sort as larger than any value unless NULLS FIRST/LAST says otherwise.
            let nulls_first = o.options.nulls_first.unwrap_or(desc);
            let (x, y) = (&a.1[i], &b.1[i]);
            let ord = match (x.is_null(), y.is_null()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => {
                    if nulls_first {
                        std::cmp::Ordering::Less
                    } else {
                        std::cmp::Ordering::Greater
                    }
                }
                (false, true) => {
                    if nulls_first {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Less
                    }
                }
                _ => {
                    let o = x.compare(y).unwrap_or(std::cmp::Ordering::Equal);
                    if desc { o.reverse() } else { o }
                }
            };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        std::cmp::Ordering::Equal
    });
}

fn sort_by_output(
    ctx: &Ctx<'_>,
    rel: &mut Relation,
    order: &[pg::OrderByExpr],
    params: &[Datum],
) -> Result<()> {
    let names: Vec<String> = rel.cols.iter().map(|c| c.name.clone()).collect();
    let ectx = ectx(ctx, params);
    let items: Vec<(String, Expr)> = names
        .iter()
        .map(|n| (n.clone(), Expr::Identifier(pg::Ident::with_quote('"', n))))
        .collect();
    let mut keyed = Vec::with_capacity(rel.rows.len());
    for r in std::mem::take(&mut rel.rows) {
        let row = Row {
            names: &names,
            values: &r,
        };
        let keys = order
            .iter()
            .map(|o| expr::eval(&resolve_order(&o.expr, &items), Some(&row), &ectx))
            .collect::<Result<Vec<_>>>()?;
        keyed.push((r, keys));
    }
    sort_rows(&mut keyed, order);
    rel.rows = keyed.into_iter().map(|(r, _)| r).collect();
    Ok(())
}

fn static_type(e: &Expr, input: &Relation, aggs: &[(String, AggCall)]) -> SqlType {
    let cols: Vec<(String, SqlType)> = input.cols.iter().map(|c| (c.name.clone(), c.ty)).collect();
    if let Expr::Function(f) = e {
        match f.name.to_string().to_lowercase().as_str() {
            "count" => return SqlType::Int,
            "avg" => return SqlType::Float,
            "string_agg" | "array_agg" => return SqlType::String,
            "bool_and" | "bool_or" | "every" => return SqlType::Bool,
            "sum" | "min" | "max" => {
                if let Some((_, a)) = aggs.iter().find(|(k, _)| *k == e.to_string())
                    && let Some(arg) = &a.arg
                {
                    return expr::infer_type(arg, &cols);
                }
            }
            _ => {}
        }
    }
    expr::infer_type(e, &cols)
}
