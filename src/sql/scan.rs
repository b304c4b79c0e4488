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
    keys::index_span(tenant, t.id, t.primary_index())
}

pub fn row_key(tenant: TenantId, t: &TableDesc, row: &[Datum]) -> Result<Vec<u8>> {
    let mut k = keys::index_prefix(tenant, t.id, t.primary_index());
    for id in &t.primary_key {
        let i = t
            .column_index(*id)
            .ok_or_else(|| SqlError::internal("primary key column missing"))?;
        encode_key_column(t, *id, &row[i], &mut k)?;
    }
    Ok(k)
}

/// The first key after every key that starts with `prefix` (DESC columns complement their
/// bytes, so a key may continue with 0xFF and appending 0xFF is not enough).
pub fn prefix_end(mut prefix: Vec<u8>) -> Vec<u8> {
    while let Some(last) = prefix.pop() {
        if last < 0xFF {
            prefix.push(last + 1);
            return prefix;
        }
    }
    // All 0xFF (never a table key): everything after.
    vec![0xFF; 64]
}

/// Appends the key encoding of primary-key column `id`'s value `v`: memcomparable, with every
/// byte complemented when the column is DESC (the encoding is prefix-free, so complemented
/// keys sort in reverse value order).
pub fn encode_key_column(t: &TableDesc, id: u32, v: &Datum, out: &mut Vec<u8>) -> Result<()> {
    if !t.descending.contains(&id) {
        return v.encode_key(out);
    }
    let at = out.len();
    v.encode_key(out)?;
    for b in &mut out[at..] {
        *b = !*b;
    }
    Ok(())
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

/// The names a query uses for `t`'s columns when it calls the table `label` (`label.column`).
pub fn column_names(t: &TableDesc, label: &str) -> Vec<String> {
    t.columns
        .iter()
        .map(|c| format!("{label}.{}", c.name))
        .collect()
}

/// How a table is read for a WHERE clause, chosen by [`plan_access`].
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// Every primary-key column is fixed by equality: one key.
    Point(Vec<u8>),
    /// Leading primary-key columns fixed by equality (`prefix` of them) and/or a range on the
    /// next one (`ranged`): one span of the primary index.
    PrimarySpan {
        /// The span.
        span: Span,
        /// How many leading key columns are fixed.
        prefix: usize,
        /// Whether a range predicate bounds the next key column.
        ranged: bool,
    },
    /// A secondary index whose columns are all fixed by equality.
    Index {
        /// Position of the index in the table's indexes.
        index: usize,
        /// The indexed columns' values.
        values: Vec<Datum>,
    },
    /// No predicate narrows the read: the whole table.
    Full,
    /// A fixed value cannot be a value of its column (e.g. `int_col = 'abc'`): no rows.
    Nothing,
}

impl Access {
    /// The `spans:` line of EXPLAIN.
    pub fn describe(&self, t: &TableDesc) -> String {
        match self {
            Access::Point(_) => "1 span (point lookup)".into(),
            Access::PrimarySpan { ranged: true, .. } => "1 span (primary key range)".into(),
            Access::PrimarySpan { .. } => "1 span (primary key prefix)".into(),
            Access::Index { index, .. } => {
                format!("1 span (index {})", t.indexes[*index].name)
            }
            Access::Full => "FULL SCAN".into(),
            Access::Nothing => "no spans (contradiction)".into(),
        }
    }
}

/// Bounds on one column from `col > v`, `col >= v`, `col < v`, `col <= v`, `col BETWEEN a AND
/// b` (either side of the operator). Lower bounds are inclusive here (the filter still drops an
/// excluded endpoint); upper bounds remember whether they are inclusive.
#[derive(Debug, Default)]
struct Bounds {
    lower: Option<Datum>,
    upper: Option<(Datum, bool)>,
}

/// Picks the access path for `selection` over `t` (column names as `names`, qualified the way
/// the query refers to them). Values that do not fit a column's type exactly never narrow a
/// range (`int_col < 2.5` scans more, the filter decides).
pub fn plan_access(
    tenant: TenantId,
    t: &TableDesc,
    selection: Option<&Expr>,
    names: &[String],
    ectx: &EvalContext<'_>,
) -> Result<Access> {
    let Some(sel) = selection else {
        return Ok(Access::Full);
    };
    let mut fixed: Vec<Option<Datum>> = vec![None; t.columns.len()];
    collect_equalities(sel, names, ectx, &mut fixed)?;
    // The primary key: a fixed prefix, then maybe a range on the next column.
    let mut prefix = keys::index_prefix(tenant, t.id, t.primary_index());
    let mut n = 0;
    let mut next_col = None;
    for id in &t.primary_key {
        let i = t
            .column_index(*id)
            .ok_or_else(|| SqlError::internal("primary key column missing"))?;
        let Some(v) = fixed[i].clone() else {
            next_col = Some(i);
            break;
        };
        let Ok(v) = v.coerce(t.columns[i].ty) else {
            return Ok(Access::Nothing);
        };
        encode_key_column(t, *id, &v, &mut prefix)?;
        n += 1;
    }
    if n == t.primary_key.len() {
        return Ok(Access::Point(prefix));
    }
    let mut bounds = Bounds::default();
    // A range narrows the scan only on an ascending column (a DESC one is filtered instead).
    if let Some(i) = next_col
        && !t.descending.contains(&t.columns[i].id)
    {
        collect_bounds(sel, names, i, t.columns[i].ty, ectx, &mut bounds)?;
    }
    let ranged = bounds.lower.is_some() || bounds.upper.is_some();
    if n > 0 || ranged {
        let mut start = prefix.clone();
        if let Some(lo) = &bounds.lower {
            lo.encode_key(&mut start)?;
        }
        let mut end = prefix;
        match &bounds.upper {
            Some((hi, inclusive)) => {
                hi.encode_key(&mut end)?;
                if *inclusive {
                    end = prefix_end(end);
                }
            }
            None => end = prefix_end(end),
        }
        if start >= end {
            return Ok(Access::Nothing);
        }
        return Ok(Access::PrimarySpan {
            span: Span::new(start, end),
            prefix: n,
            ranged,
        });
    }
    // A secondary index whose columns are all fixed.
    for (index, idx) in t.indexes.iter().enumerate() {
        let values: Option<Vec<Datum>> = idx
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
        if let Some(values) = values {
            return Ok(Access::Index { index, values });
        }
    }
    Ok(Access::Full)
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
    let names = column_names(t, label);
    if let Some(s) = selection {
        // Names resolve even when no row is read (an empty table, a key that is absent).
        crate::sql::expr::check_references(s, &names)?;
    }
    let ectx = eval_ctx(ctx, params);
    let keep = |row: &[Datum]| -> Result<bool> {
        selection.map_or(Ok(true), |s| passes(s, &names, row, &ectx))
    };
    let mut out = Vec::new();
    match plan_access(ctx.tenant, t, selection, &names, &ectx)? {
        Access::Nothing => {}
        Access::Point(key) => {
            if let Some(raw) = txn.get(&key).await? {
                let row = decode_row(t, &raw)?;
                if keep(&row)? {
                    out.push((key, row));
                }
            }
        }
        Access::Index { index, values } => {
            let idx = &t.indexes[index];
            for (k, row) in super::rows::rows_from_index(ctx, txn, t, idx, &values).await? {
                if keep(&row)? {
                    out.push((k, row));
                }
            }
        }
        Access::PrimarySpan { span, .. } => {
            scan_span(ctx, txn, t, &span, &keep, &mut out).await?;
        }
        Access::Full => {
            scan_span(ctx, txn, t, &table_span(ctx.tenant, t), &keep, &mut out).await?;
        }
    }
    Ok(out)
}

/// The rows of `span` that `keep` accepts, checking for cancellation every 1024 rows.
async fn scan_span(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    span: &Span,
    keep: &(dyn Fn(&[Datum]) -> Result<bool> + Sync),
    out: &mut Vec<(Vec<u8>, Vec<Datum>)>,
) -> Result<()> {
    for (n, (k, v)) in txn.scan(span, usize::MAX).await?.into_iter().enumerate() {
        if n % 1024 == 0 {
            ctx.memory.check()?;
        }
        let row = decode_row(t, &v)?;
        if keep(&row)? {
            out.push((k, row));
        }
    }
    Ok(())
}

/// The one primary key `selection` fixes, if it fixes one (the point-read access path).
pub fn point_key(
    ctx: &Ctx<'_>,
    t: &TableDesc,
    selection: Option<&Expr>,
    params: &[Datum],
    label: &str,
) -> Result<Option<Vec<u8>>> {
    let names = column_names(t, label);
    let ectx = eval_ctx(ctx, params);
    Ok(
        match plan_access(ctx.tenant, t, selection, &names, &ectx)? {
            Access::Point(k) => Some(k),
            _ => None,
        },
    )
}

/// Whether `row` of `t` (referred to as `label`) satisfies `selection`.
pub fn row_matches(
    ctx: &Ctx<'_>,
    t: &TableDesc,
    selection: Option<&Expr>,
    params: &[Datum],
    label: &str,
    row: &[Datum],
) -> Result<bool> {
    let Some(sel) = selection else {
        return Ok(true);
    };
    let names = column_names(t, label);
    passes(sel, &names, row, &eval_ctx(ctx, params))
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

/// Range predicates on column `col` (of type `ty`) in the AND-ed conjuncts of `e`.
fn collect_bounds(
    e: &Expr,
    names: &[String],
    col: usize,
    ty: super::types::SqlType,
    ectx: &EvalContext<'_>,
    b: &mut Bounds,
) -> Result<()> {
    use pg::BinaryOperator as Op;
    use std::cmp::Ordering;
    // The bound's value as the column's type, only when that conversion is exact.
    let value = |x: &Expr| -> Option<Datum> {
        let v = expr::eval(x, None, ectx).ok()?;
        if v.is_null() {
            return None;
        }
        let c = v.clone().coerce(ty).ok()?;
        (c.compare(&v) == Some(Ordering::Equal)).then_some(c)
    };
    let is_col = |x: &Expr| {
        matches!(x, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
            && expr::lookup(names, x) == Some(col)
    };
    let lower = |v: Datum, b: &mut Bounds| {
        if b.lower
            .as_ref()
            .is_none_or(|cur| v.compare(cur) == Some(Ordering::Greater))
        {
            b.lower = Some(v);
        }
    };
    let upper = |v: Datum, inclusive: bool, b: &mut Bounds| {
        let tighter = match &b.upper {
            None => true,
            Some((cur, cur_inc)) => match v.compare(cur) {
                Some(Ordering::Less) => true,
                Some(Ordering::Equal) => *cur_inc && !inclusive,
                _ => false,
            },
        };
        if tighter {
            b.upper = Some((v, inclusive));
        }
    };
    match e {
        Expr::BinaryOp {
            left,
            op: Op::And,
            right,
        } => {
            collect_bounds(left, names, col, ty, ectx, b)?;
            collect_bounds(right, names, col, ty, ectx, b)?;
        }
        Expr::Nested(inner) => collect_bounds(inner, names, col, ty, ectx, b)?,
        Expr::Between {
            expr: x,
            negated: false,
            low,
            high,
        } if is_col(x) => {
            if let Some(v) = value(low) {
                lower(v, b);
            }
            if let Some(v) = value(high) {
                upper(v, true, b);
            }
        }
        Expr::BinaryOp { left, op, right } => {
            // Normalise to `col <op> value`.
            let (op, other) = if is_col(left) {
                (op.clone(), right)
            } else if is_col(right) {
                let flipped = match op {
                    Op::Lt => Op::Gt,
                    Op::LtEq => Op::GtEq,
                    Op::Gt => Op::Lt,
                    Op::GtEq => Op::LtEq,
                    other => other.clone(),
                };
                (flipped, left)
            } else {
                return Ok(());
            };
            match op {
                Op::Gt | Op::GtEq => {
                    if let Some(v) = value(other) {
                        lower(v, b);
                    }
                }
                Op::Lt => {
                    if let Some(v) = value(other) {
                        upper(v, false, b);
                    }
                }
                Op::LtEq => {
                    if let Some(v) = value(other) {
                        upper(v, true, b);
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
    Ok(())
}
