//! Row writes with everything that must stay consistent with them row by row: secondary index
//! entries, CHECK and UNIQUE constraints; and the foreign-key primitives (a key's values, whether
//! a referenced key exists) that statements use for their end-of-statement checks and
//! referential actions (`crate::sql::dml`'s `fk` module).
//!
//! Every function runs inside the statement's KV transaction, so a failed check leaves nothing
//! behind. Error codes follow PostgreSQL: 23505 unique, 23514 check, 23503 foreign key.

use super::catalog::{FkMatch, ForeignKeyDesc, IndexDesc, TableDesc};
use super::error::{Result, SqlError};
use super::exec::{Ctx, decode_row, encode_row, parse_expr, row_key, table_span};
use super::expr::{self, Row};
use super::sqlstate::SqlState;
use super::types::Datum;
use crate::ids::TenantId;
use crate::kv::Txn;
use crate::storage::keys::{self, Span};

mod mutations;
pub use mutations::{backfill_rows, new_column_value};

const UNIQUE_VIOLATION: SqlState = SqlState::UNIQUE_VIOLATION;
const CHECK_VIOLATION: SqlState = SqlState("23514");
const FK_VIOLATION: SqlState = SqlState("23503");

/// The values of columns `ids` of `row`.
pub fn column_values(t: &TableDesc, row: &[Datum], ids: &[u32]) -> Result<Vec<Datum>> {
    ids.iter()
        .map(|id| {
            t.column_index(*id)
                .map(|i| row[i].clone())
                .ok_or_else(|| SqlError::internal(format!("column {id} missing in {}", t.name)))
        })
        .collect()
}

/// The key of `row`'s entry in `idx`; `None` when a unique index has a NULL column (NULLs never
/// conflict) — such rows get a non-unique style entry.
fn index_key(
    tenant: TenantId,
    t: &TableDesc,
    idx: &IndexDesc,
    row: &[Datum],
) -> Result<(Vec<u8>, bool)> {
    let mut k = keys::index_prefix(tenant, t.id, idx.id);
    let vals = column_values(t, row, &idx.columns)?;
    let has_null = vals.iter().any(Datum::is_null);
    for (id, v) in idx.columns.iter().zip(&vals) {
        encode_index_column(idx, *id, v, &mut k)?;
    }
    let unique = idx.unique && !has_null;
    if !unique {
        // The primary key exactly as the primary index encodes it: readers take this suffix
        // as the row's key.
        for (id, v) in t
            .primary_key
            .iter()
            .zip(column_values(t, row, &t.primary_key)?)
        {
            crate::sql::scan::encode_key_column(t, *id, &v, &mut k)?;
        }
    }
    Ok((k, unique))
}

/// Appends the key encoding of indexed column `id`'s value `v` in `idx`: a NULL marker (0x00
/// for NULL, 0x01 before a value), then the value's memcomparable encoding; every byte is
/// complemented when the column is DESC, so larger values (and NULLs last) come first.
pub fn encode_index_column(idx: &IndexDesc, id: u32, v: &Datum, out: &mut Vec<u8>) -> Result<()> {
    let at = out.len();
    match v {
        Datum::Null => out.push(0x00),
        v => {
            out.push(0x01);
            v.encode_key(out)?;
        }
    }
    if idx.is_descending(id) {
        for b in &mut out[at..] {
            *b = !*b;
        }
    }
    Ok(())
}

/// The span of index entries whose indexed columns equal `vals` (a prefix of the index).
pub fn index_prefix_span(
    tenant: TenantId,
    t: &TableDesc,
    idx: &IndexDesc,
    vals: &[Datum],
) -> Result<crate::storage::keys::Span> {
    let mut k = keys::index_prefix(tenant, t.id, idx.id);
    for (id, v) in idx.columns.iter().zip(vals) {
        encode_index_column(idx, *id, v, &mut k)?;
    }
    let end = crate::sql::scan::prefix_end(k.clone());
    Ok(crate::storage::keys::Span::new(k, end))
}

/// Primary keys of the rows an index span points at.
pub async fn rows_from_index(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    idx: &IndexDesc,
    vals: &[Datum],
) -> Result<Vec<(Vec<u8>, Vec<Datum>)>> {
    let span = index_prefix_span(ctx.tenant, t, idx, vals)?;
    let mut out = Vec::new();
    for (k, v) in txn.scan(&span, usize::MAX).await? {
        let pk = if v.is_empty() {
            // Non-unique entry: the primary key is the key's suffix after the indexed values; re-read
            // through the row itself by matching on the decoded row below.
            let prefix_len = keys::index_prefix(ctx.tenant, t.id, idx.id).len();
            let mut pk = keys::index_prefix(ctx.tenant, t.id, t.primary_index());
            // Skip the indexed values: decode them one by one is not possible without types, so
            // keep the suffix after the last indexed column by re-encoding the values.
            let mut skip = prefix_len;
            for (id, v) in idx.columns.iter().zip(vals) {
                let mut e = Vec::new();
                encode_index_column(idx, *id, v, &mut e)?;
                skip += e.len();
            }
            if vals.len() < idx.columns.len() {
                // A partial prefix: fall back to scanning the table for correctness.
                return Ok(Vec::new());
            }
            pk.extend_from_slice(&k[skip.min(k.len())..]);
            pk
        } else {
            v
        };
        if let Some(raw) = txn.get(&pk).await? {
            out.push((pk, decode_row(t, &raw)?));
        }
    }
    Ok(out)
}

/// Checks CHECK constraints and outbound foreign keys of a row, immediately (ALTER TABLE
/// validation of existing rows). Statements defer their foreign-key checks to their end
/// (`crate::sql::dml`'s `fk` module).
pub async fn check_constraints(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    row: &[Datum],
) -> Result<()> {
    check_checks(ctx, t, row)?;
    for fk in &t.foreign_keys {
        check_foreign_key(ctx, txn, t, fk, row, "insert").await?;
    }
    Ok(())
}

/// 23514 when a CHECK constraint of `t` is false for `row` (NULL passes).
fn check_checks(ctx: &Ctx<'_>, t: &TableDesc, row: &[Datum]) -> Result<()> {
    if t.checks.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
    let ectx = super::exec::eval_ctx(ctx, &[]);
    for c in &t.checks {
        let e = parse_expr(&c.expr)?;
        if matches!(
            expr::eval(
                &e,
                Some(&Row {
                    names: &names,
                    values: row
                }),
                &ectx
            )?,
            Datum::Bool(false)
        ) {
            return Err(SqlError::new(
                CHECK_VIOLATION,
                format!("failed to satisfy CHECK constraint ({})", c.expr),
            ));
        }
    }
    Ok(())
}

/// The values of `row`'s referencing columns of `fk`, or `None` when the key references nothing:
/// any NULL under `MATCH SIMPLE`, all NULL under `MATCH FULL`. A `MATCH FULL` key mixing NULL and
/// non-NULL values is 23503.
pub fn fk_key(t: &TableDesc, fk: &ForeignKeyDesc, row: &[Datum]) -> Result<Option<Vec<Datum>>> {
    let vals = column_values(t, row, &fk.columns)?;
    let nulls = vals.iter().filter(|v| v.is_null()).count();
    if nulls == 0 {
        return Ok(Some(vals));
    }
    if fk.match_type == FkMatch::Full && nulls < vals.len() {
        return Err(SqlError::new(
            FK_VIOLATION,
            format!(
                "foreign key violation: MATCH FULL does not allow mixing of null and nonnull values (constraint \"{}\")",
                fk.name
            ),
        ));
    }
    Ok(None)
}

/// Whether `t` has a row whose columns `cols` equal `vals` (no NULLs): a point read of the
/// primary key or of a unique index over the columns `cols` (in any order), else a scan.
pub async fn key_exists(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    cols: &[u32],
    vals: &[Datum],
) -> Result<bool> {
    let mut probe = vec![Datum::Null; t.columns.len()];
    let mut coerced = Vec::with_capacity(vals.len());
    for (id, v) in cols.iter().zip(vals) {
        let i = t
            .column_index(*id)
            .ok_or_else(|| SqlError::internal(format!("column {id} missing in {}", t.name)))?;
        let v = v.clone().coerce(t.columns[i].ty)?;
        probe[i] = v.clone();
        coerced.push(v);
    }
    // The probe has the values at their columns, so the key's column order does not matter.
    let sorted = |v: &[u32]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    };
    let wanted = sorted(cols);
    if sorted(&t.primary_key) == wanted {
        return Ok(txn.get(&row_key(ctx.tenant, t, &probe)?).await?.is_some());
    }
    if let Some(idx) = t
        .indexes
        .iter()
        .find(|i| i.unique && sorted(&i.columns) == wanted)
    {
        let (k, unique) = index_key(ctx.tenant, t, idx, &probe)?;
        if unique {
            return Ok(txn.get(&k).await?.is_some());
        }
    }
    for (_, v) in txn.scan(&table_span(ctx.tenant, t), usize::MAX).await? {
        let r = decode_row(t, &v)?;
        if same_values(&column_values(t, &r, cols)?, &coerced) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether two keys are the same value by value (as a unique index compares them).
pub fn same_values(a: &[Datum], b: &[Datum]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.compare(y) == Some(std::cmp::Ordering::Equal))
}

/// 23503 unless `row`'s key of `fk` references nothing or exists in the referenced table.
/// `op` names the statement kind in the message (`insert`, `update`, `upsert`).
pub async fn check_foreign_key(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    fk: &ForeignKeyDesc,
    row: &[Datum],
    op: &str,
) -> Result<()> {
    let Some(vals) = fk_key(t, fk, row)? else {
        return Ok(());
    };
    let parent = ctx
        .catalog
        .table_by_id(txn, fk.ref_table)
        .await?
        .ok_or_else(|| {
            SqlError::internal(format!(
                "foreign key {} references a dropped table",
                fk.name
            ))
        })?;
    if key_exists(ctx, txn, &parent, &fk.ref_columns, &vals).await? {
        return Ok(());
    }
    Err(SqlError::new(
        FK_VIOLATION,
        format!(
            "{op} on table \"{}\" violates foreign key constraint \"{}\"",
            t.name, fk.name
        ),
    )
    .with_hint(format!(
        "Key ({})=({}) is not present in table \"{}\".",
        column_names(t, &fk.columns),
        vals.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        parent.name
    )))
}

/// `a, b` for column ids of `t`.
pub fn column_names(t: &TableDesc, ids: &[u32]) -> String {
    ids.iter()
        .map(|id| {
            t.column_index(*id)
                .map_or_else(|| format!("@{id}"), |i| t.columns[i].name.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows of `t` whose columns `cols` equal one of `targets` (no NULLs), each with the position
/// of the key it matched: ranges of the primary key when `cols` start it, point lookups in an
/// index over exactly `cols`, else one scan of the table.
pub async fn rows_with_keys(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    cols: &[u32],
    targets: &[Vec<Datum>],
) -> Result<Vec<(Vec<u8>, Vec<Datum>, usize)>> {
    let mut types = Vec::with_capacity(cols.len());
    for id in cols {
        let i = t
            .column_index(*id)
            .ok_or_else(|| SqlError::internal(format!("column {id} missing in {}", t.name)))?;
        types.push(t.columns[i].ty);
    }
    let targets: Vec<Vec<Datum>> = targets
        .iter()
        .map(|k| {
            k.iter()
                .zip(&types)
                .map(|(v, ty)| v.clone().coerce(*ty))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    if t.primary_key.starts_with(cols) {
        for (n, k) in targets.iter().enumerate() {
            let mut start = keys::index_prefix(ctx.tenant, t.id, t.primary_index());
            for (id, v) in cols.iter().zip(k) {
                crate::sql::scan::encode_key_column(t, *id, v, &mut start)?;
            }
            let end = crate::sql::scan::prefix_end(start.clone());
            for (rk, v) in txn.scan(&Span::new(start, end), usize::MAX).await? {
                let row = decode_row(t, &v)?;
                if same_values(&column_values(t, &row, cols)?, k) {
                    out.push((rk, row, n));
                }
            }
            ctx.memory.check()?;
        }
        return Ok(out);
    }
    if let Some(idx) = t.indexes.iter().find(|i| i.columns == cols) {
        for (n, k) in targets.iter().enumerate() {
            for (rk, row) in rows_from_index(ctx, txn, t, idx, k).await? {
                if same_values(&column_values(t, &row, cols)?, k) {
                    out.push((rk, row, n));
                }
            }
            ctx.memory.check()?;
        }
        return Ok(out);
    }
    let mut wanted = std::collections::HashMap::new();
    for (n, k) in targets.iter().enumerate() {
        wanted.entry(encoded(k)?).or_insert(n);
    }
    for (rk, v) in txn.scan(&table_span(ctx.tenant, t), usize::MAX).await? {
        let row = decode_row(t, &v)?;
        let vals = column_values(t, &row, cols)?;
        if vals.iter().any(Datum::is_null) {
            continue;
        }
        if let Some(n) = wanted.get(&encoded(&vals)?) {
            out.push((rk, row, *n));
        }
    }
    Ok(out)
}

/// The row of `t` whose values in unique index `idx` equal `row`'s (`None` when `row` has a NULL
/// there, as NULLs never conflict).
pub async fn row_by_unique_index(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    idx: &IndexDesc,
    row: &[Datum],
) -> Result<Option<(Vec<u8>, Vec<Datum>)>> {
    let (k, unique) = index_key(ctx.tenant, t, idx, row)?;
    if !unique {
        return Ok(None);
    }
    let Some(pk) = txn.get(&k).await? else {
        return Ok(None);
    };
    match txn.get(&pk).await? {
        Some(raw) => Ok(Some((pk, decode_row(t, &raw)?))),
        None => Err(SqlError::internal(format!(
            "index {} of {} points at a missing row",
            idx.name, t.name
        ))),
    }
}

/// The key encoding of non-NULL values, one after the other (equal for equal values).
pub fn encoded(vals: &[Datum]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for v in vals {
        v.encode_key(&mut out)?;
    }
    Ok(out)
}

/// Writes a new row or a new version of an existing one (`old`), maintaining indexes and
/// checking CHECK and UNIQUE constraints. Foreign keys are the caller's business (statements
/// check them, and run referential actions, at their end). The caller has made sure no other
/// row has the new primary key.
pub async fn write_row(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    old: Option<(&[u8], &[Datum])>,
    new: &[Datum],
) -> Result<()> {
    check_checks(ctx, t, new)?;
    let new_key = row_key(ctx.tenant, t, new)?;
    write_entries(ctx, txn, t, old, new, &new_key, true).await?;
    mutations::write(ctx, txn, t, old.map(|(_, r)| r), new).await
}

/// Writes `new`'s primary entry (when `primary`) and its entries in `t.indexes`, after
/// deleting `old`'s, checking unique indexes.
async fn write_entries(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    old: Option<(&[u8], &[Datum])>,
    new: &[Datum],
    new_key: &[u8],
    primary: bool,
) -> Result<()> {
    if let Some((old_key, old_row)) = old {
        if primary && old_key != new_key {
            txn.delete(old_key)?;
        }
        for idx in &t.indexes {
            let (k, _) = index_key(ctx.tenant, t, idx, old_row)?;
            txn.delete(&k)?;
        }
    }
    for idx in &t.indexes {
        let (k, unique) = index_key(ctx.tenant, t, idx, new)?;
        if unique {
            if let Some(existing) = txn.get(&k).await?
                && existing != new_key
            {
                return Err(SqlError::new(
                    UNIQUE_VIOLATION,
                    format!(
                        "duplicate key value violates unique constraint \"{}\"",
                        idx.name
                    ),
                ));
            }
            txn.put(&k, new_key)?;
        } else {
            txn.put(&k, &[])?;
        }
    }
    if primary {
        txn.put(new_key, &encode_row(t, new))?;
    }
    Ok(())
}

/// Deletes a row with its index entries. Rows referencing it are the caller's business.
pub async fn delete_row(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    key: &[u8],
    row: &[Datum],
) -> Result<()> {
    for idx in &t.indexes {
        let (k, _) = index_key(ctx.tenant, t, idx, row)?;
        txn.delete(&k)?;
    }
    txn.delete(key)?;
    mutations::delete(ctx, txn, t, row)
}

/// Writes index entries for every existing row (CREATE INDEX backfill).
pub async fn backfill_index(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    idx: &IndexDesc,
) -> Result<()> {
    for (k, v) in txn.scan(&table_span(ctx.tenant, t), usize::MAX).await? {
        let row = decode_row(t, &v)?;
        let (ik, unique) = index_key(ctx.tenant, t, idx, &row)?;
        if unique {
            if txn.get(&ik).await?.is_some() {
                return Err(SqlError::new(
                    UNIQUE_VIOLATION,
                    format!(
                        "could not create unique index \"{}\": duplicate key",
                        idx.name
                    ),
                ));
            }
            txn.put(&ik, &k)?;
        } else {
            txn.put(&ik, &[])?;
        }
    }
    Ok(())
}
