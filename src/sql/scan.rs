//! Reading a table's rows: the row codec and the access paths (primary-key point reads and
//! prefix scans, secondary-index lookups, full scans) chosen from a WHERE clause.

use super::catalog::TableDesc;
use super::error::{Result, SqlError};
use super::exec::{Ctx, eval_ctx};
use super::expr::{self, EvalContext, Row};
use super::types::Datum;
use crate::ids::TenantId;
use crate::kv::Txn;
use crate::storage::keys::{self, Span};
use crate::storage::records::{decode, encode};
use sqlparser::ast::{self as pg, Expr};

/// The key span of a table's rows.
pub fn table_span(tenant: TenantId, t: &TableDesc) -> Span {
    keys::index_span(tenant, t.id, 1)
}

pub fn row_key(tenant: TenantId, t: &TableDesc, row: &[Datum]) -> Result<Vec<u8>> {
    let mut k = keys::index_prefix(tenant, t.id, 1);
    for id in &t.primary_key {
        let i = t
            .column_index(*id)
            .ok_or_else(|| SqlError::internal("primary key column missing"))?;
        row[i].encode_key(&mut k)?;
    }
    Ok(k)
}

pub fn encode_row(t: &TableDesc, row: &[Datum]) -> Vec<u8> {
    let cols: Vec<(u32, Datum)> = t
        .columns
        .iter()
        .zip(row)
        .filter(|(_, d)| !d.is_null())
        .map(|(c, d)| (c.id, d.clone()))
        .collect();
    encode(&cols)
}

pub fn decode_row(t: &TableDesc, raw: &[u8]) -> Result<Vec<Datum>> {
    let cols: Vec<(u32, Datum)> =
        decode(raw).map_err(|e| SqlError::internal(format!("corrupt row: {e}")))?;
    let mut row = vec![Datum::Null; t.columns.len()];
    for (id, d) in cols {
        if let Some(i) = t.column_index(id) {
            row[i] = d;
        }
    }
    Ok(row)
}

/// Rows of `t` matching `selection` (a point read when the primary key is fixed).
pub async fn matching_rows_pub(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    selection: Option<&Expr>,
    params: &[Datum],
) -> Result<Vec<(Vec<u8>, Vec<Datum>)>> {
    matching_rows(ctx, txn, t, selection, params, None).await
}

/// [`matching_rows_pub`] with the name the query gave the table (its alias).
pub async fn matching_rows_labeled(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    selection: Option<&Expr>,
    params: &[Datum],
    label: &str,
) -> Result<Vec<(Vec<u8>, Vec<Datum>)>> {
    matching_rows(ctx, txn, t, selection, params, Some(label)).await
}

async fn matching_rows(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    selection: Option<&Expr>,
    params: &[Datum],
    label: Option<&str>,
) -> Result<Vec<(Vec<u8>, Vec<Datum>)>> {
    let label = label.unwrap_or(&t.name);
    let names: Vec<String> = t
        .columns
        .iter()
        .map(|c| format!("{label}.{}", c.name))
        .collect();
    let ectx = eval_ctx(ctx, params);
    // Point lookup when every primary-key column is fixed by equality.
    if let Some(sel) = selection {
        let mut fixed: Vec<Option<Datum>> = vec![None; t.columns.len()];
        collect_equalities(sel, &names, &ectx, &mut fixed)?;
        if t.primary_key
            .iter()
            .all(|id| t.column_index(*id).is_some_and(|i| fixed[i].is_some()))
        {
            let mut probe = vec![Datum::Null; t.columns.len()];
            for id in &t.primary_key {
                let i = t
                    .column_index(*id)
                    .ok_or_else(|| SqlError::internal("pk column"))?;
                let v = fixed[i].take().unwrap_or(Datum::Null);
                probe[i] = match v.coerce(t.columns[i].ty) {
                    Ok(v) => v,
                    Err(_) => return Ok(Vec::new()),
                };
            }
            let key = row_key(ctx.tenant, t, &probe)?;
            let mut out = Vec::new();
            if let Some(raw) = txn.get(&key).await? {
                let row = decode_row(t, &raw)?;
                if passes(sel, &names, &row, &ectx)? {
                    out.push((key, row));
                }
            }
            return Ok(out);
        }
    }
    // A primary-key prefix fixed by equality: scan just that part of the table.
    if let Some(sel) = selection {
        let mut fixed: Vec<Option<Datum>> = vec![None; t.columns.len()];
        collect_equalities(sel, &names, &ectx, &mut fixed)?;
        let mut prefix = keys::index_prefix(ctx.tenant, t.id, 1);
        let mut n = 0;
        for id in &t.primary_key {
            let Some(i) = t.column_index(*id) else { break };
            let Some(v) = fixed[i].clone() else { break };
            let Ok(v) = v.coerce(t.columns[i].ty) else {
                return Ok(Vec::new());
            };
            v.encode_key(&mut prefix)?;
            n += 1;
        }
        if n > 0 {
            let mut end = prefix.clone();
            end.push(0xFF);
            let mut out = Vec::new();
            for (k, v) in txn.scan(&Span::new(prefix, end), usize::MAX).await? {
                let row = decode_row(t, &v)?;
                if passes(sel, &names, &row, &ectx)? {
                    out.push((k, row));
                }
            }
            return Ok(out);
        }
    }
    // A secondary index whose columns are all fixed by equality.
    if let Some(sel) = selection {
        let mut fixed: Vec<Option<Datum>> = vec![None; t.columns.len()];
        collect_equalities(sel, &names, &ectx, &mut fixed)?;
        for idx in &t.indexes {
            let vals: Option<Vec<Datum>> = idx
                .columns
                .iter()
                .map(|id| {
                    t.column_index(*id).and_then(|i| {
                        fixed[i]
                            .clone()
                            .and_then(|v| v.coerce(t.columns[i].ty).ok())
                    })
                })
                .collect();
            if let Some(vals) = vals {
                let mut out = Vec::new();
                for (k, row) in super::rows::rows_from_index(ctx, txn, t, idx, &vals).await? {
                    if passes(sel, &names, &row, &ectx)? {
                        out.push((k, row));
                    }
                }
                return Ok(out);
            }
        }
    }
    let mut out = Vec::new();
    for (n, (k, v)) in txn
        .scan(&table_span(ctx.tenant, t), usize::MAX)
        .await?
        .into_iter()
        .enumerate()
    {
        if n % 1024 == 0 {
            ctx.memory.check()?;
        }
        let row = decode_row(t, &v)?;
        if selection
            .map(|s| passes(s, &names, &row, &ectx))
            .transpose()?
            .unwrap_or(true)
        {
            out.push((k, row));
        }
    }
    Ok(out)
}

fn passes(sel: &Expr, names: &[String], row: &[Datum], ectx: &EvalContext<'_>) -> Result<bool> {
    Ok(matches!(
        expr::eval(sel, Some(&Row { names, values: row }), ectx)?,
        Datum::Bool(true)
    ))
}

fn collect_equalities(
    e: &Expr,
    names: &[String],
    ectx: &EvalContext<'_>,
    fixed: &mut [Option<Datum>],
) -> Result<()> {
    match e {
        Expr::BinaryOp {
            left,
            op: pg::BinaryOperator::And,
            right,
        } => {
            collect_equalities(left, names, ectx, fixed)?;
            collect_equalities(right, names, ectx, fixed)
        }
        Expr::Nested(inner) => collect_equalities(inner, names, ectx, fixed),
        Expr::BinaryOp {
            left,
            op: pg::BinaryOperator::Eq,
            right,
        } => {
            for (col, val) in [(left, right), (right, left)] {
                if !matches!(
                    col.as_ref(),
                    Expr::Identifier(_) | Expr::CompoundIdentifier(_)
                ) {
                    continue;
                }
                if let Some(i) = expr::lookup(names, col)
                    && let Ok(v) = expr::eval(val, None, ectx)
                    && !v.is_null()
                {
                    fixed[i] = Some(v);
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
