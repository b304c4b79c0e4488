//! INSERT, UPSERT, UPDATE, DELETE and COPY.
//!
//! Rows are written through [`super::rows`], which keeps secondary indexes, CHECK and UNIQUE
//! constraints consistent row by row. `INSERT ... ON CONFLICT` and `UPSERT` arbitrate conflicts
//! on unique constraints as [`conflict`] describes. Foreign keys are checked, and their
//! `ON DELETE` / `ON UPDATE` actions (CASCADE, SET NULL, SET DEFAULT, NO ACTION, RESTRICT) run,
//! at the end of each statement in its transaction, as [`fk`] describes. `RETURNING` returns the
//! written rows (expressions over the table's columns).

use super::catalog::{ColumnDesc, TableDesc};
use super::error::{Result, SqlError};
use super::exec::{Ctx, eval_ctx, object_last, resolve_table, row_key};
use super::expr::{self, Row, normalize};
use super::rows;
use super::session::{Column, QueryResult};
use super::sqlstate::SqlState;
use super::types::{Datum, SqlType};
use crate::kv::Txn;
use sqlparser::ast::{self as pg, Expr, SelectItem, SetExpr, TableFactor};

mod conflict;
mod fk;

fn default_value(ctx: &Ctx<'_>, c: &ColumnDesc, params: &[Datum]) -> Result<Datum> {
    match c.default.as_deref() {
        None => Ok(Datum::Null),
        Some("unique_rowid()") => Ok(Datum::Int(expr::unique_rowid())),
        Some(text) => {
            let e = super::exec::parse_expr(text)?;
            expr::eval(&e, None, &eval_ctx(ctx, params))?.coerce(c.ty)
        }
    }
}

/// The RETURNING projection: output columns and a function evaluating them for a row.
fn returning_columns(t: &TableDesc, items: &[SelectItem]) -> Result<Vec<(String, Expr, SqlType)>> {
    let cols: Vec<(String, SqlType)> = t.columns.iter().map(|c| (c.name.clone(), c.ty)).collect();
    let mut out = Vec::new();
    for it in items {
        match it {
            SelectItem::Wildcard(_) => {
                for c in t.columns.iter().filter(|c| !c.hidden) {
                    out.push((
                        c.name.clone(),
                        Expr::Identifier(pg::Ident::with_quote('"', c.name.clone())),
                        c.ty,
                    ));
                }
            }
            SelectItem::UnnamedExpr(e) => {
                let name = super::query::column_label(e);
                out.push((name, e.clone(), expr::infer_type(e, &cols)));
            }
            SelectItem::ExprWithAlias { expr: e, alias } => out.push((
                normalize(&alias.value, alias.quote_style.is_some()),
                e.clone(),
                expr::infer_type(e, &cols),
            )),
            other => return Err(SqlError::unsupported(format!("RETURNING {other}"))),
        }
    }
    Ok(out)
}

/// Result columns of a RETURNING clause (for Describe).
pub fn returning_columns_of(t: &TableDesc, items: &[SelectItem]) -> Result<Vec<Column>> {
    Ok(returning_columns(t, items)?
        .into_iter()
        .map(|(n, _, ty)| Column::new(n, ty))
        .collect())
}

struct Returning {
    cols: Vec<(String, Expr, SqlType)>,
    rows: Vec<Vec<Datum>>,
}

impl Returning {
    fn new(t: &TableDesc, items: Option<&Vec<SelectItem>>) -> Result<Option<Returning>> {
        Ok(match items {
            Some(items) => Some(Returning {
                cols: returning_columns(t, items)?,
                rows: Vec::new(),
            }),
            None => None,
        })
    }

    fn push(
        &mut self,
        ctx: &Ctx<'_>,
        t: &TableDesc,
        row: &[Datum],
        params: &[Datum],
    ) -> Result<()> {
        let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        let ectx = eval_ctx(ctx, params);
        let vals = self
            .cols
            .iter()
            .map(|(_, e, _)| {
                expr::eval(
                    e,
                    Some(&Row {
                        names: &names,
                        values: row,
                    }),
                    &ectx,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        self.rows.push(vals);
        Ok(())
    }

    fn finish(self) -> QueryResult {
        let mut columns: Vec<Column> = self
            .cols
            .iter()
            .map(|(n, _, t)| Column::new(n.clone(), *t))
            .collect();
        for (i, c) in columns.iter_mut().enumerate() {
            if let Some(t) = self
                .rows
                .iter()
                .find_map(|r| r.get(i).and_then(Datum::sql_type))
            {
                c.ty = t;
            }
        }
        QueryResult::Rows {
            columns,
            rows: self.rows,
        }
    }
}

fn not_null(t: &TableDesc, row: &[Datum]) -> Result<()> {
    for (c, v) in t.columns.iter().zip(row) {
        if v.is_null() && !c.nullable {
            return Err(SqlError::new(
                SqlState::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{}\" violates not-null constraint",
                    c.name
                ),
            ));
        }
    }
    Ok(())
}

/// Applies `ORDER BY ... LIMIT n` of UPDATE/DELETE to the matched rows.
fn order_and_limit(
    ctx: &Ctx<'_>,
    t: &TableDesc,
    mut rows_: Vec<(Vec<u8>, Vec<Datum>)>,
    order: &[pg::OrderByExpr],
    limit: Option<&Expr>,
    params: &[Datum],
) -> Result<Vec<(Vec<u8>, Vec<Datum>)>> {
    let ectx = eval_ctx(ctx, params);
    if !order.is_empty() {
        let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        let mut keyed = Vec::with_capacity(rows_.len());
        for (k, r) in rows_ {
            let keys = order
                .iter()
                .map(|o| {
                    expr::eval(
                        &o.expr,
                        Some(&Row {
                            names: &names,
                            values: &r,
                        }),
                        &ectx,
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            keyed.push((keys, k, r));
        }
        keyed.sort_by(|a, b| {
            for (i, o) in order.iter().enumerate() {
                let mut ord = a.0[i]
                    .compare(&b.0[i])
                    .unwrap_or_else(|| a.0[i].is_null().cmp(&b.0[i].is_null()));
                if matches!(o.options.sort, Some(pg::OrderBySort::Desc)) {
                    ord = ord.reverse();
                }
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
        rows_ = keyed.into_iter().map(|(_, k, r)| (k, r)).collect();
    }
    if let Some(l) = limit {
        match expr::eval(l, None, &ectx)? {
            Datum::Int(n) if n >= 0 => rows_.truncate(n as usize),
            Datum::Null => {}
            _ => {
                return Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    "LIMIT must be a non-negative integer",
                ));
            }
        }
    }
    Ok(rows_)
}

/// INSERT / UPSERT.
pub async fn insert(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    ins: &pg::Insert,
    params: &[Datum],
) -> Result<QueryResult> {
    let pg::TableObject::TableName(name) = &ins.table else {
        return Err(SqlError::unsupported("INSERT into a table function"));
    };
    let t = resolve_table(ctx, txn, name).await?;
    let listed_names: Vec<String> = ins.columns.iter().map(object_last).collect();
    let targets = target_columns(&t, &listed_names)?;
    let source = ins
        .source
        .as_ref()
        .ok_or_else(|| SqlError::unsupported("INSERT without VALUES"))?;
    // The rows to insert: VALUES (evaluated here, DEFAULT allowed) or any query.
    let ectx = eval_ctx(ctx, params);
    let mut input: Vec<Vec<Option<Datum>>> = Vec::new();
    match source.body.as_ref() {
        SetExpr::Values(values) => {
            for row_exprs in &values.rows {
                if row_exprs.len() > targets.len() {
                    return Err(SqlError::syntax(format!(
                        "INSERT has more expressions than target columns, {} expressions for {} targets",
                        row_exprs.len(),
                        targets.len()
                    )));
                }
                let mut r = Vec::with_capacity(row_exprs.len());
                for e in row_exprs.iter() {
                    r.push(match e {
                        Expr::Identifier(id)
                            if id.value.eq_ignore_ascii_case("default")
                                && id.quote_style.is_none() =>
                        {
                            None
                        }
                        e => Some(expr::eval(e, None, &ectx)?),
                    });
                }
                input.push(r);
            }
        }
        _ => {
            let rel =
                super::query::run_query(ctx, txn, source, params, &Default::default()).await?;
            if rel.cols.len() > targets.len() {
                return Err(SqlError::syntax(format!(
                    "INSERT has more expressions than target columns, {} expressions for {} targets",
                    rel.cols.len(),
                    targets.len()
                )));
            }
            input = rel
                .rows
                .into_iter()
                .map(|r| r.into_iter().map(Some).collect())
                .collect();
        }
    }
    let mut returning = Returning::new(&t, ins.returning.as_ref())?;
    let mut writer = conflict::Writer::new(ctx, &t, conflict::mode(&t, ins)?, params);
    let mut n = 0u64;
    for r in input {
        let (full, listed) = complete_row(ctx, &t, &targets, r, params)?;
        if let Some(w) = writer.write(txn, full, &listed).await? {
            n += 1;
            if let Some(r) = &mut returning {
                r.push(ctx, &t, &w, params)?;
            }
        }
    }
    writer.fks.finish(ctx, txn).await?;
    if let Some(r) = returning {
        return Ok(r.finish());
    }
    Ok(QueryResult::Command(format!("INSERT 0 {n}")))
}

/// The columns an INSERT or COPY lists, as indexes into the table's columns (none listed: the
/// visible columns in order). 42703 for an unknown column.
pub fn target_columns(t: &TableDesc, names: &[String]) -> Result<Vec<usize>> {
    if names.is_empty() {
        return Ok((0..t.columns.len())
            .filter(|i| !t.columns[*i].hidden)
            .collect());
    }
    names
        .iter()
        .map(|n| {
            t.columns.iter().position(|x| x.name == *n).ok_or_else(|| {
                SqlError::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!("column \"{n}\" does not exist"),
                )
            })
        })
        .collect()
}

/// A whole row from the values given for `targets` (`None`: DEFAULT), coerced to the columns'
/// types, with defaults for the columns not given; also which columns were listed.
fn complete_row(
    ctx: &Ctx<'_>,
    t: &TableDesc,
    targets: &[usize],
    values: Vec<Option<Datum>>,
    params: &[Datum],
) -> Result<(Vec<Datum>, Vec<bool>)> {
    let mut given: Vec<Option<Datum>> = vec![None; t.columns.len()];
    let mut listed = vec![false; t.columns.len()];
    for (v, &i) in values.into_iter().zip(targets) {
        listed[i] = true;
        given[i] = match v {
            Some(v) => Some(t.columns[i].coerce(v)?),
            None => None,
        };
    }
    let mut full = Vec::with_capacity(t.columns.len());
    for (i, c) in t.columns.iter().enumerate() {
        full.push(match given[i].take() {
            Some(v) => v,
            None => default_value(ctx, c, params)?,
        });
    }
    Ok((full, listed))
}

/// Inserts the rows of a `COPY ... FROM STDIN` (text fields, `None` = NULL) like a plain INSERT:
/// defaults for unlisted columns, constraints checked, 23505 on a duplicate key. An error names
/// the row's position in the data.
pub async fn copy_rows(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    copy: &super::copy::CopyFromStdin,
    data: &[super::copy::CopyRow],
) -> Result<QueryResult> {
    let t = resolve_table(ctx, txn, &copy.table).await?;
    let targets = target_columns(&t, &copy.columns)?;
    let mut fks = fk::ForeignKeys::new();
    for (n, fields) in data.iter().enumerate() {
        let at_row = |e: SqlError| SqlError {
            message: format!("COPY {}, row {}: {}", t.name, n + 1, e.message),
            ..e
        };
        let values: Vec<Option<Datum>> = fields
            .iter()
            .map(|f| Some(f.clone().map_or(Datum::Null, Datum::String)))
            .collect();
        let (full, _) = complete_row(ctx, &t, &targets, values, &[]).map_err(at_row)?;
        ctx.memory.charge(std::iter::once(&full))?;
        not_null(&t, &full).map_err(at_row)?;
        let key = row_key(ctx.tenant, &t, &full)?;
        if txn.get(&key).await?.is_some() {
            return Err(at_row(SqlError::new(
                SqlState::UNIQUE_VIOLATION,
                format!(
                    "duplicate key value violates unique constraint \"{}_pkey\"",
                    t.name
                ),
            )));
        }
        rows::write_row(ctx, txn, &t, None, &full)
            .await
            .map_err(at_row)?;
        fks.inserted(ctx, &t, &key, &full, "insert")?;
    }
    fks.finish(ctx, txn).await?;
    Ok(QueryResult::Command(format!("COPY {}", data.len())))
}

/// UPDATE/DELETE of one row by primary key: lock it before reading it, so that waiting for
/// another writer ends with a fresh read instead of a stale one that the commit would reject.
async fn lock_point(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    selection: Option<&Expr>,
    params: &[Datum],
    label: Option<&str>,
) -> Result<()> {
    if let Some(key) = super::scan::point_key(ctx, t, selection, params, label.unwrap_or(&t.name))?
    {
        lock_for_write(ctx, txn, t, &key, None).await?;
    }
    Ok(())
}

/// Takes the implicit write lock on the row at `key` (see [`crate::kv::locks`]); whether the
/// transaction waited for another holder. Waits honour `lock_timeout` (55P03, naming the row
/// when it is known), `statement_timeout` and cancel requests.
async fn lock_for_write(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    key: &[u8],
    row: Option<&[Datum]>,
) -> Result<bool> {
    let stop = super::query::locking::interrupted(ctx);
    match txn.lock_for_update(key, ctx.lock_timeout, stop).await {
        Ok(waited) => Ok(waited),
        Err(crate::kv::KvError::LockTimeout) => {
            // A point UPDATE/DELETE locks before reading: read the row to name it.
            let row = match row {
                Some(r) => Some(r.to_vec()),
                None => match txn.get(key).await {
                    Ok(Some(raw)) => super::exec::decode_row(t, &raw).ok(),
                    _ => None,
                },
            };
            let desc = match row {
                Some(r) => super::query::locking::describe_row(t, &r),
                None => format!("in {}@{}_pkey", t.name, t.name),
            };
            Err(SqlError::new(
                SqlState::LOCK_NOT_AVAILABLE,
                format!("canceling statement due to lock timeout on row {desc}"),
            ))
        }
        Err(crate::kv::KvError::Interrupted) => Err(ctx
            .memory
            .check()
            .err()
            .unwrap_or_else(|| crate::kv::KvError::Interrupted.into())),
        Err(e) => Err(e.into()),
    }
}

/// Locks the row at `key` before the statement changes it (see [`crate::kv::locks`]). When
/// another transaction held the lock, the row is read again as of after that transaction and
/// must still satisfy the WHERE clause; `None` when it is gone or no longer matches.
#[allow(clippy::too_many_arguments)]
async fn lock_row(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    key: &[u8],
    row: Vec<Datum>,
    selection: Option<&Expr>,
    params: &[Datum],
    label: &str,
) -> Result<Option<Vec<Datum>>> {
    if !lock_for_write(ctx, txn, t, key, Some(&row)).await? {
        return Ok(Some(row));
    }
    let Some(raw) = txn.get(key).await? else {
        return Ok(None);
    };
    let row = super::exec::decode_row(t, &raw)?;
    if !super::scan::row_matches(ctx, t, selection, params, label, &row)? {
        return Ok(None);
    }
    Ok(Some(row))
}

/// UPDATE.
pub async fn update(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    u: &pg::Update,
    params: &[Datum],
) -> Result<QueryResult> {
    let TableFactor::Table { name, alias, .. } = &u.table.relation else {
        return Err(SqlError::unsupported("UPDATE of this relation"));
    };
    let label = alias
        .as_ref()
        .map(|a| normalize(&a.name.value, a.name.quote_style.is_some()));
    if u.from.is_some() {
        return Err(SqlError::unsupported("UPDATE ... FROM"));
    }
    let t = resolve_table(ctx, txn, name).await?;
    let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
    let mut sets = Vec::new();
    for a in &u.assignments {
        let pg::AssignmentTarget::ColumnName(c) = &a.target else {
            return Err(SqlError::unsupported("tuple assignment"));
        };
        let n = object_last(c);
        let i = names.iter().position(|x| *x == n).ok_or_else(|| {
            SqlError::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{n}\" does not exist"),
            )
        })?;
        // Resolved before any row is read (an empty table still refuses a misspelt column).
        expr::check_references(&a.value, &names)?;
        sets.push((i, &a.value));
    }
    let ectx = eval_ctx(ctx, params);
    lock_point(ctx, txn, &t, u.selection.as_ref(), params, label.as_deref()).await?;
    let matched = super::exec::matching_rows_labeled(
        ctx,
        txn,
        &t,
        u.selection.as_ref(),
        params,
        label.as_deref().unwrap_or(&t.name),
    )
    .await?;
    let matched = order_and_limit(ctx, &t, matched, &u.order_by, u.limit.as_ref(), params)?;
    let mut returning = Returning::new(&t, u.returning.as_ref())?;
    let label = label.as_deref().unwrap_or(&t.name);
    let mut n = 0;
    let mut fks = fk::ForeignKeys::new();
    for (key, row) in matched {
        let Some(row) =
            lock_row(ctx, txn, &t, &key, row, u.selection.as_ref(), params, label).await?
        else {
            continue;
        };
        n += 1;
        let mut new = row.clone();
        for (i, e) in &sets {
            new[*i] = t.columns[*i].coerce(expr::eval(
                e,
                Some(&Row {
                    names: &names,
                    values: &row,
                }),
                &ectx,
            )?)?;
        }
        not_null(&t, &new)?;
        let new_key = row_key(ctx.tenant, &t, &new)?;
        if new_key != key && txn.get(&new_key).await?.is_some() {
            return Err(SqlError::new(
                SqlState::UNIQUE_VIOLATION,
                format!(
                    "duplicate key value violates unique constraint \"{}_pkey\"",
                    t.name
                ),
            ));
        }
        rows::write_row(ctx, txn, &t, Some((&key, &row)), &new).await?;
        fks.updated(ctx, txn, &t, &row, &new_key, &new, "update")
            .await?;
        if let Some(r) = &mut returning {
            r.push(ctx, &t, &new, params)?;
        }
    }
    fks.finish(ctx, txn).await?;
    if let Some(r) = returning {
        return Ok(r.finish());
    }
    Ok(QueryResult::Command(format!("UPDATE {n}")))
}

/// DELETE.
pub async fn delete(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    d: &pg::Delete,
    params: &[Datum],
) -> Result<QueryResult> {
    let tables = match &d.from {
        pg::FromTable::WithFromKeyword(t) | pg::FromTable::WithoutKeyword(t) => t,
    };
    let [tw] = tables.as_slice() else {
        return Err(SqlError::unsupported("DELETE from several tables"));
    };
    let TableFactor::Table { name, alias, .. } = &tw.relation else {
        return Err(SqlError::unsupported("DELETE of this relation"));
    };
    let label = alias
        .as_ref()
        .map(|a| normalize(&a.name.value, a.name.quote_style.is_some()));
    if d.using.is_some() {
        return Err(SqlError::unsupported("DELETE ... USING"));
    }
    let t = resolve_table(ctx, txn, name).await?;
    lock_point(ctx, txn, &t, d.selection.as_ref(), params, label.as_deref()).await?;
    let matched = super::exec::matching_rows_labeled(
        ctx,
        txn,
        &t,
        d.selection.as_ref(),
        params,
        label.as_deref().unwrap_or(&t.name),
    )
    .await?;
    let matched = order_and_limit(ctx, &t, matched, &d.order_by, d.limit.as_ref(), params)?;
    let mut returning = Returning::new(&t, d.returning.as_ref())?;
    let label = label.as_deref().unwrap_or(&t.name);
    let mut n = 0;
    let mut fks = fk::ForeignKeys::new();
    for (k, row) in matched {
        let Some(row) =
            lock_row(ctx, txn, &t, &k, row, d.selection.as_ref(), params, label).await?
        else {
            continue;
        };
        n += 1;
        rows::delete_row(ctx, txn, &t, &k, &row).await?;
        fks.deleted(ctx, txn, &t, &row).await?;
        if let Some(r) = &mut returning {
            r.push(ctx, &t, &row, params)?;
        }
    }
    fks.finish(ctx, txn).await?;
    if let Some(r) = returning {
        return Ok(r.finish());
    }
    Ok(QueryResult::Command(format!("DELETE {n}")))
}
