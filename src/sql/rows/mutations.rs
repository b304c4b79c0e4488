//! Row writes for schema changes in progress ([`Mutation`]s in their write-only state): every
//! insert, update and delete also writes or deletes the row's entries in the index being
//! built, or the row itself under the primary key being built, so that once the backfill job
//! has covered the rows that existed before the change, the new index is complete. A column
//! being added is written into every row written, with its default (the job fills the rows
//! that existed the same way; a volatile default gets a value per row, and since nobody reads
//! the column before it is public, a row written twice may get two).
//!
//! Writers check what they can see: a unique entry or new primary key taken by another row is
//! 23505, a NULL in a new key column 23502. The backfill ([`backfill_rows`]) writes blindly
//! (its rows already passed those checks when they were written) and the job validates the
//! result by counting entries, so two old rows with the same key fail the job, not a writer.

use super::{UNIQUE_VIOLATION, index_key, write_entries};
use crate::kv::Txn;
use crate::sql::catalog::{ColumnDesc, Mutation, TableDesc};
use crate::sql::error::{Result, SqlError};
use crate::sql::exec::{Ctx, encode_row, eval_ctx, parse_expr, row_key};
use crate::sql::expr;
use crate::sql::sqlstate::SqlState;
use crate::sql::types::Datum;
use sqlparser::ast::Expr;

/// 23502 when a column of `v`'s primary key is NULL in `row`.
fn check_key_not_null(v: &TableDesc, row: &[Datum]) -> Result<()> {
    for id in &v.primary_key {
        if let Some(i) = v.column_index(*id)
            && row[i].is_null()
        {
            return Err(SqlError::new(
                SqlState::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{}\" violates not-null constraint",
                    v.columns[i].name
                ),
            ));
        }
    }
    Ok(())
}

/// Keeps every mutation of `t` up to date with a row written as `new` (formerly `old`).
pub(super) async fn write(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    old: Option<&[Datum]>,
    new: &[Datum],
) -> Result<()> {
    for m in &t.changes.mutations {
        let (v, primary) = t.mutation_view(m);
        let new_key = row_key(ctx.tenant, &v, new)?;
        let old_key = old.map(|o| row_key(ctx.tenant, &v, o)).transpose()?;
        if primary {
            check_key_not_null(&v, new)?;
            if old_key.as_deref() != Some(new_key.as_slice()) && txn.get(&new_key).await?.is_some()
            {
                return Err(SqlError::new(
                    UNIQUE_VIOLATION,
                    format!(
                        "duplicate key value violates unique constraint \"{}_pkey\"",
                        t.name
                    ),
                ));
            }
        }
        let old = match (&old_key, old) {
            (Some(k), Some(r)) => Some((k.as_slice(), r)),
            _ => None,
        };
        write_entries(ctx, txn, &v, old, new, &new_key, primary).await?;
        if let Mutation::Column { column: c, .. } = m {
            // The row again, with the column's value (replacing what write_entries wrote).
            let d = parse_default(c)?;
            let mut row = new.to_vec();
            row.push(column_default(ctx, c, d.as_ref(), ctx.now_nanos)?);
            txn.put(&new_key, &encode_row(&v, &row))?;
        }
    }
    Ok(())
}

/// The value column `c` (being added) gets in a row written now without it.
pub fn new_column_value(ctx: &Ctx<'_>, c: &ColumnDesc) -> Result<Datum> {
    column_default(ctx, c, parse_default(c)?.as_ref(), ctx.now_nanos)
}

/// Column `c`'s default expression, parsed.
fn parse_default(c: &ColumnDesc) -> Result<Option<Expr>> {
    match c.default.as_deref() {
        None | Some("unique_rowid()") => Ok(None),
        Some(text) => parse_expr(text).map(Some),
    }
}

/// The value column `c` gets in a row written without it: its default (`parsed` by
/// [`parse_default`]), with `now()` at `now_nanos`; 23502 when that is NULL and the column is
/// NOT NULL.
fn column_default(
    ctx: &Ctx<'_>,
    c: &ColumnDesc,
    parsed: Option<&Expr>,
    now_nanos: u64,
) -> Result<Datum> {
    let v = match (parsed, c.default.as_deref()) {
        (Some(e), _) => {
            let mut ec = eval_ctx(ctx, &[]);
            ec.now_nanos = now_nanos;
            expr::eval(e, None, &ec)?
        }
        (None, Some(_)) => Datum::Int(expr::unique_rowid()),
        (None, None) => Datum::Null,
    };
    let v = c.coerce(v)?;
    if v.is_null() && !c.nullable {
        return Err(SqlError::new(
            SqlState::NOT_NULL_VIOLATION,
            format!(
                "null value in column \"{}\" violates not-null constraint",
                c.name
            ),
        ));
    }
    Ok(v)
}

/// Removes a deleted row's entries from every mutation of `t`.
pub(super) fn delete(ctx: &Ctx<'_>, txn: &mut Txn, t: &TableDesc, row: &[Datum]) -> Result<()> {
    for m in &t.changes.mutations {
        let (v, primary) = t.mutation_view(m);
        for idx in &v.indexes {
            let (k, _) = index_key(ctx.tenant, &v, idx, row)?;
            txn.delete(&k)?;
        }
        if primary {
            txn.delete(&row_key(ctx.tenant, &v, row)?)?;
        }
    }
    Ok(())
}

/// Writes mutation `m`'s entries for rows of `t` that existed before it (one backfill batch).
/// Entries are written blindly; the job validates unique ones by counting afterwards.
pub fn backfill_rows(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    m: &Mutation,
    rows: &[Vec<Datum>],
) -> Result<()> {
    let (v, primary) = t.mutation_view(m);
    if let Mutation::Column {
        column: c,
        now_nanos,
        ..
    } = m
    {
        let d = parse_default(c)?;
        for row in rows {
            let mut row = row.clone();
            row.push(column_default(ctx, c, d.as_ref(), *now_nanos)?);
            txn.put(&row_key(ctx.tenant, &v, &row)?, &encode_row(&v, &row))?;
        }
        return Ok(());
    }
    for row in rows {
        let key = row_key(ctx.tenant, &v, row)?;
        for idx in &v.indexes {
            let (k, unique) = index_key(ctx.tenant, &v, idx, row)?;
            txn.put(&k, if unique { key.as_slice() } else { &[] })?;
        }
        if primary {
            check_key_not_null(&v, row).map_err(|_| {
                let name = v
                    .primary_key
                    .iter()
                    .filter_map(|id| v.column_index(*id))
                    .find(|i| row[*i].is_null())
                    .map_or_else(String::new, |i| v.columns[i].name.clone());
                SqlError::new(
                    SqlState::NOT_NULL_VIOLATION,
                    format!("column \"{name}\" contains null values"),
                )
            })?;
            txn.put(&key, &encode_row(&v, row))?;
        }
    }
    Ok(())
}
