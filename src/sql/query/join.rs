//! Joins: hash joins on column equalities of the ON clause, nested loops otherwise; inner, left,
//! right, full and cross, with USING merging the named columns.
//!
//! Subqueries in ON: one that does not refer to the joined rows is run once and replaced by its
//! value before the join ([`with_on`]); one that does (correlated) is run for every pair of rows
//! by [`join_correlated`], a nested loop whose per-pair results are memoized by their bindings.

use super::subquery::{Correlation, materialize_correlated};
use super::{Ctes, Relation, ectx};
use crate::kv::Txn;
use crate::sql::error::{Result, SqlError};
use crate::sql::exec::Ctx;
use crate::sql::expr::{self, Row, normalize};
use crate::sql::types::Datum;
use sqlparser::ast::{self as pg, Expr};
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
}

pub(super) fn join(
    ctx: &Ctx<'_>,
    l: Relation,
    r: Relation,
    op: &pg::JoinOperator,
    params: &[Datum],
) -> Result<Relation> {
    let work = l.rows.len().saturating_mul(r.rows.len().max(1));
    super::heavy(work, || join_rows(ctx, l, r, op, params))
}

/// The kind of join `op` is and its constraint (none for a cross join).
pub(super) fn kind_of(op: &pg::JoinOperator) -> Result<(JoinKind, Option<&pg::JoinConstraint>)> {
    Ok(match op {
        pg::JoinOperator::Join(c) | pg::JoinOperator::Inner(c) => (JoinKind::Inner, Some(c)),
        pg::JoinOperator::Left(c) | pg::JoinOperator::LeftOuter(c) => (JoinKind::Left, Some(c)),
        pg::JoinOperator::Right(c) | pg::JoinOperator::RightOuter(c) => (JoinKind::Right, Some(c)),
        pg::JoinOperator::FullOuter(c) => (JoinKind::Full, Some(c)),
        pg::JoinOperator::CrossJoin(_) => (JoinKind::Inner, None),
        other => return Err(SqlError::unsupported(format!("join {other:?}"))),
    })
}

/// The ON condition of `op`, if it has one.
pub(super) fn on_condition(op: &pg::JoinOperator) -> Option<&Expr> {
    match kind_of(op) {
        Ok((_, Some(pg::JoinConstraint::On(e)))) => Some(e),
        _ => None,
    }
}

/// `op` with its ON condition replaced by `on` (`op` must have one).
pub(super) fn with_on(op: &pg::JoinOperator, on: Expr) -> pg::JoinOperator {
    let c = pg::JoinConstraint::On(on);
    match op {
        pg::JoinOperator::Join(_) => pg::JoinOperator::Join(c),
        pg::JoinOperator::Inner(_) => pg::JoinOperator::Inner(c),
        pg::JoinOperator::Left(_) => pg::JoinOperator::Left(c),
        pg::JoinOperator::LeftOuter(_) => pg::JoinOperator::LeftOuter(c),
        pg::JoinOperator::Right(_) => pg::JoinOperator::Right(c),
        pg::JoinOperator::RightOuter(_) => pg::JoinOperator::RightOuter(c),
        pg::JoinOperator::FullOuter(_) => pg::JoinOperator::FullOuter(c),
        other => other.clone(),
    }
}

/// A join whose ON condition `on` holds correlated subqueries: for every pair of rows, the
/// subqueries are bound to the pair's values and run (see `materialize_correlated`), then `on`
/// decides. Outer joins pad unmatched rows as [`join`] does.
pub(super) async fn join_correlated(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    (l, r, op): (Relation, Relation, &pg::JoinOperator),
    on: &Expr,
    params: &[Datum],
    ctes: &Ctes,
) -> Result<Relation> {
    let (kind, _) = kind_of(op)?;
    let mut cols = l.cols.clone();
    cols.extend(r.cols.iter().cloned());
    let scope = Relation {
        cols,
        rows: Vec::new(),
    };
    let (names, types) = (scope.scope_names(), scope.col_types());
    let ectx = ectx(ctx, params);
    let mut state = Correlation::default();
    let (lw, rw) = (l.cols.len(), r.cols.len());
    let mut out = Vec::new();
    let mut r_matched = vec![false; r.rows.len()];
    for lrow in &l.rows {
        let mut any = false;
        for (ri, rrow) in r.rows.iter().enumerate() {
            ctx.memory.check()?;
            let mut v = lrow.clone();
            v.extend(rrow.iter().cloned());
            let outer = (names.as_slice(), types.as_slice(), v.as_slice());
            let e = materialize_correlated(ctx, txn, on, outer, params, ctes, &mut state).await?;
            let row = Row {
                names: &names,
                values: &v,
            };
            if matches!(expr::eval(&e, Some(&row), &ectx)?, Datum::Bool(true)) {
                ctx.memory.charge(std::iter::once(&v))?;
                out.push(v);
                r_matched[ri] = true;
                any = true;
            }
        }
        if !any && matches!(kind, JoinKind::Left | JoinKind::Full) {
            out.push(padded(ctx, (Some(lrow), None), (lw, rw))?);
        }
    }
    if matches!(kind, JoinKind::Right | JoinKind::Full) {
        for (ri, rrow) in r.rows.iter().enumerate() {
            if !r_matched[ri] {
                out.push(padded(ctx, (None, Some(rrow)), (lw, rw))?);
            }
        }
    }
    Ok(Relation {
        cols: scope.cols,
        rows: out,
    })
}

/// An unmatched row of an outer join: the side that is `None` (`lw` or `rw` columns wide) is all
/// NULL; charged to the statement's memory.
fn padded(
    ctx: &Ctx<'_>,
    (lrow, rrow): (Option<&[Datum]>, Option<&[Datum]>),
    (lw, rw): (usize, usize),
) -> Result<Vec<Datum>> {
    let mut v = lrow.map_or_else(|| vec![Datum::Null; lw], <[Datum]>::to_vec);
    match rrow {
        Some(r) => v.extend(r.iter().cloned()),
        None => v.extend(std::iter::repeat_n(Datum::Null, rw)),
    }
    ctx.memory.charge(std::iter::once(&v))?;
    Ok(v)
}

fn join_rows(
    ctx: &Ctx<'_>,
    l: Relation,
    r: Relation,
    op: &pg::JoinOperator,
    params: &[Datum],
) -> Result<Relation> {
    let (kind, constraint) = kind_of(op)?;
    let mut cols = l.cols.clone();
    cols.extend(r.cols.iter().cloned());
    // JOIN ... USING (c): both sides' `c` are hidden (still reachable qualified, `l.c`) and
    // a merged `c` comes first; see `using_pairs` and `merge_using`.
    let using = match constraint {
        Some(pg::JoinConstraint::Using(names)) => Some(using_pairs(&l, &r, names)?),
        _ => None,
    };
    if let Some(pairs) = &using {
        for (_, li, ri) in pairs {
            cols[*li].hidden = true;
            cols[l.cols.len() + *ri].hidden = true;
        }
    }
    let names: Vec<String> = Relation {
        cols: cols.clone(),
        rows: vec![],
    }
    .scope_names();
    let ectx = ectx(ctx, params);
    let on: Option<Expr> = match constraint {
        None | Some(pg::JoinConstraint::None) | Some(pg::JoinConstraint::Using(_)) => None,
        Some(pg::JoinConstraint::On(e)) => Some(e.clone()),
        Some(other) => return Err(SqlError::unsupported(format!("join constraint {other:?}"))),
    };
    let lw = l.cols.len();
    let rw = r.cols.len();
    // Hash join when ON is a conjunction of column equalities between the two sides.
    let mut keys: Vec<(usize, usize)> = Vec::new();
    let mut residual = false;
    if let Some(e) = &on {
        equi_keys(e, &names, lw, &mut keys, &mut residual);
    }
    if let Some(pairs) = &using {
        keys = pairs.iter().map(|(_, li, ri)| (*li, *ri)).collect();
    }
    let mut out = Vec::new();
    let mut r_matched = vec![false; r.rows.len()];
    let matches = |lrow: &[Datum], rrow: &[Datum]| -> Result<bool> {
        match &on {
            None => Ok(true),
            Some(e) => {
                let mut vals = lrow.to_vec();
                vals.extend_from_slice(rrow);
                Ok(matches!(
                    expr::eval(
                        e,
                        Some(&Row {
                            names: &names,
                            values: &vals
                        }),
                        &ectx
                    )?,
                    Datum::Bool(true)
                ))
            }
        }
    };
    if !keys.is_empty() {
        let index = build_index(&r.rows, &keys);
        for lrow in &l.rows {
            let mut any = false;
            if let Some(cands) = probe_index(&index, lrow, &keys) {
                for &ri in cands {
                    if !residual || matches(lrow, &r.rows[ri])? {
                        let mut v = lrow.clone();
                        v.extend(r.rows[ri].iter().cloned());
                        ctx.memory.charge(std::iter::once(&v))?;
                        out.push(v);
                        r_matched[ri] = true;
                        any = true;
                    }
                }
            }
            if !any && matches!(kind, JoinKind::Left | JoinKind::Full) {
                out.push(padded(ctx, (Some(lrow), None), (lw, rw))?);
            }
        }
    } else {
        for lrow in &l.rows {
            let mut any = false;
            for (ri, rrow) in r.rows.iter().enumerate() {
                if matches(lrow, rrow)? {
                    let mut v = lrow.clone();
                    v.extend(rrow.iter().cloned());
                    ctx.memory.charge(std::iter::once(&v))?;
                    out.push(v);
                    r_matched[ri] = true;
                    any = true;
                }
            }
            if !any && matches!(kind, JoinKind::Left | JoinKind::Full) {
                out.push(padded(ctx, (Some(lrow), None), (lw, rw))?);
            }
        }
    }
    if matches!(kind, JoinKind::Right | JoinKind::Full) {
        for (ri, rrow) in r.rows.iter().enumerate() {
            if !r_matched[ri] {
                out.push(padded(ctx, (None, Some(rrow)), (lw, rw))?);
            }
        }
    }
    let rel = Relation { cols, rows: out };
    Ok(match &using {
        Some(pairs) => merge_using(rel, pairs, kind, lw),
        None => rel,
    })
}

/// The right rows of a hash join by key: the positions of the rows whose key columns
/// (`keys`: (left column, right column) pairs) are all non-NULL, under their [`hash_key`].
pub(super) fn build_index(
    rows: &[Vec<Datum>],
    keys: &[(usize, usize)],
) -> HashMap<String, Vec<usize>> {
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        if keys.iter().any(|(_, rk)| row[*rk].is_null()) {
            continue;
        }
        index
            .entry(hash_key(keys.iter().map(|(_, rk)| &row[*rk])))
            .or_default()
            .push(i);
    }
    index
}

/// The right rows whose keys equal `lrow`'s (none when one of its keys is NULL).
pub(super) fn probe_index<'a>(
    index: &'a HashMap<String, Vec<usize>>,
    lrow: &[Datum],
    keys: &[(usize, usize)],
) -> Option<&'a Vec<usize>> {
    if keys.iter().any(|(lk, _)| lrow[*lk].is_null()) {
        return None;
    }
    index.get(&hash_key(keys.iter().map(|(lk, _)| &lrow[*lk])))
}

/// The columns named by `USING (...)`: (name, position on the left, position on the right),
/// each the one visible column of that name on its side (42703 when missing, 42702 when a side
/// has several).
fn using_pairs(
    l: &Relation,
    r: &Relation,
    names: &[pg::ObjectName],
) -> Result<Vec<(String, usize, usize)>> {
    use crate::sql::sqlstate::SqlState;
    let find = |rel: &Relation, n: &str, side: &str| -> Result<usize> {
        let mut found = rel
            .cols
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.hidden && c.name == n)
            .map(|(i, _)| i);
        match (found.next(), found.next()) {
            (Some(i), None) => Ok(i),
            (None, _) => Err(SqlError::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{n}\" specified in USING clause does not exist in {side} table"),
            )),
            (Some(_), Some(_)) => Err(SqlError::new(
                SqlState("42702"),
                format!("common column name \"{n}\" appears more than once in {side} table"),
            )),
        }
    };
    let mut pairs = Vec::with_capacity(names.len());
    for name in names {
        let n = crate::sql::exec::object_last(name);
        if pairs.iter().any(|(p, _, _)| *p == n) {
            return Err(SqlError::new(
                SqlState("42701"),
                format!("column name \"{n}\" appears more than once in USING clause"),
            ));
        }
        let (li, ri) = (find(l, &n, "left")?, find(r, &n, "right")?);
        pairs.push((n, li, ri));
    }
    Ok(pairs)
}

/// Puts the merged USING columns first, as PostgreSQL and CockroachDB show them: the left
/// side's value for inner and left joins, the right side's for right joins and the first
/// non-NULL of the two for full joins.
fn merge_using(
    rel: Relation,
    pairs: &[(String, usize, usize)],
    kind: JoinKind,
    lw: usize,
) -> Relation {
    let mut cols: Vec<super::RelCol> = pairs
        .iter()
        .map(|(n, li, ri)| {
            let from = if kind == JoinKind::Right {
                lw + ri
            } else {
                *li
            };
            super::RelCol {
                table: None,
                name: n.clone(),
                hidden: false,
                key: false,
                ..rel.cols[from].clone()
            }
        })
        .collect();
    cols.extend(rel.cols);
    let rows = rel
        .rows
        .into_iter()
        .map(|row| {
            let mut out: Vec<Datum> = pairs
                .iter()
                .map(|(_, li, ri)| {
                    let (lv, rv) = (&row[*li], &row[lw + ri]);
                    match kind {
                        JoinKind::Inner | JoinKind::Left => lv.clone(),
                        JoinKind::Right => rv.clone(),
                        JoinKind::Full => {
                            if lv.is_null() {
                                rv.clone()
                            } else {
                                lv.clone()
                            }
                        }
                    }
                })
                .collect();
            out.extend(row);
            out
        })
        .collect();
    Relation { cols, rows }
}

/// A key under which values are equal exactly when SQL equality says so (hash joins, GROUP BY,
/// DISTINCT, window partitions, set operations): `1`, `1.0`, `1.00` and `1::FLOAT` share a key,
/// `-0.0` and `0` too, NaN equals NaN (as in PostgreSQL and CockroachDB), and integers beyond
/// 2^53 stay distinct.
pub(super) fn hash_key<'a>(vals: impl Iterator<Item = &'a Datum>) -> String {
    let mut out = String::new();
    for (i, d) in vals.enumerate() {
        if i > 0 {
            out.push('\u{1}');
        }
        push_key(d, &mut out);
    }
    out
}

fn push_key(d: &Datum, out: &mut String) {
    use std::fmt::Write;
    match d {
        Datum::Int(i) => {
            let _ = write!(out, "i{i}");
        }
        Datum::Decimal(x) => {
            if x.is_zero() {
                out.push_str("i0");
            } else if x.fract().is_zero()
                && let Some(i) = rust_decimal::prelude::ToPrimitive::to_i128(&x.trunc())
            {
                let _ = write!(out, "i{i}");
            } else {
                let _ = write!(out, "d{}", x.normalize());
            }
        }
        Datum::Float(f) => push_float_key(*f, out),
        Datum::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_key(x, out);
            }
            out.push(']');
        }
        other => {
            let _ = write!(out, "{other:?}");
        }
    }
}

/// A float's key: integral values as integers, others as their exact decimal expansion when a
/// DECIMAL could equal them (at most 28 digits after the point), else by their bits.
fn push_float_key(f: f64, out: &mut String) {
    use std::fmt::Write;
    if f.is_nan() {
        out.push_str("nan");
        return;
    }
    if f.is_infinite() || f.abs() >= 1e38 {
        let _ = write!(out, "f{}", f.to_bits());
        return;
    }
    if f.fract() == 0.0 {
        let _ = write!(out, "i{}", f as i128);
        return;
    }
    // f = m * 2^-k with m odd; its exact expansion has k digits after the point:
    // m * 5^k / 10^k.
    let bits = f.abs().to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    };
    while m & 1 == 0 {
        m >>= 1;
        e += 1;
    }
    let k = -e;
    if k > 28 {
        let _ = write!(out, "f{}", f.to_bits());
        return;
    }
    let scaled = i128::from(m) * 5i128.pow(k as u32);
    let digits = scaled.to_string();
    let k = k as usize;
    let (int_part, frac_part) = if digits.len() > k {
        digits.split_at(digits.len() - k)
    } else {
        ("0", digits.as_str())
    };
    let sign = if f < 0.0 { "-" } else { "" };
    let pad = k.saturating_sub(frac_part.len());
    let _ = write!(out, "d{sign}{int_part}.{}{frac_part}", "0".repeat(pad));
}

fn resolve_col(e: &Expr, names: &[String]) -> Option<usize> {
    match e {
        Expr::Identifier(i) => {
            let n = normalize(&i.value, i.quote_style.is_some());
            names
                .iter()
                .position(|x| *x == n || x.rsplit_once('.').is_some_and(|(_, c)| c == n))
        }
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let t = normalize(
                &parts[parts.len() - 2].value,
                parts[parts.len() - 2].quote_style.is_some(),
            );
            let c = normalize(
                &parts[parts.len() - 1].value,
                parts[parts.len() - 1].quote_style.is_some(),
            );
            let full = format!("{t}.{c}");
            names.iter().position(|x| *x == full)
        }
        Expr::Nested(x) => resolve_col(x, names),
        _ => None,
    }
}

/// The column equalities between the two sides in a conjunction `e` (scope `names`, the left
/// side's `lw` columns first), as (left column, right column) pairs; `residual` is set when
/// `e` has any other conjunct.
pub(super) fn equi_keys(
    e: &Expr,
    names: &[String],
    lw: usize,
    keys: &mut Vec<(usize, usize)>,
    residual: &mut bool,
) {
    match e {
        Expr::BinaryOp {
            left,
            op: pg::BinaryOperator::And,
            right,
        } => {
            equi_keys(left, names, lw, keys, residual);
            equi_keys(right, names, lw, keys, residual);
        }
        Expr::Nested(x) => equi_keys(x, names, lw, keys, residual),
        Expr::BinaryOp {
            left,
            op: pg::BinaryOperator::Eq,
            right,
        } => match (resolve_col(left, names), resolve_col(right, names)) {
            (Some(a), Some(b)) if a < lw && b >= lw => keys.push((a, b - lw)),
            (Some(a), Some(b)) if b < lw && a >= lw => keys.push((b, a - lw)),
            _ => *residual = true,
        },
        _ => *residual = true,
    }
}

#[cfg(test)]
mod tests {
    use super::hash_key;
    use crate::sql::types::Datum;

    fn key(d: Datum) -> String {
        hash_key(std::iter::once(&d))
    }

    #[test]
    fn equal_values_share_a_key_and_unequal_ones_do_not() {
        let dec = |s: &str| Datum::Decimal(s.parse().unwrap());
        assert_eq!(key(Datum::Int(1)), key(dec("1.00")));
        assert_eq!(key(Datum::Int(1)), key(Datum::Float(1.0)));
        assert_eq!(key(dec("1.0")), key(dec("1.00")));
        assert_eq!(key(dec("0.5")), key(Datum::Float(0.5)));
        assert_eq!(key(dec("-1.25")), key(Datum::Float(-1.25)));
        assert_eq!(key(dec("0.0625")), key(Datum::Float(0.0625)));
        assert_eq!(key(Datum::Float(-0.0)), key(Datum::Float(0.0)));
        assert_eq!(key(dec("-0.00")), key(Datum::Int(0)));
        assert_eq!(key(Datum::Float(f64::NAN)), key(Datum::Float(f64::NAN)));
        assert_ne!(
            key(Datum::Int(9007199254740993)),
            key(Datum::Int(9007199254740992))
        );
        assert_ne!(key(dec("0.1")), key(Datum::Float(0.1)));
        assert_ne!(key(dec("0.5")), key(dec("0.50001")));
        assert_eq!(
            key(Datum::Array(vec![dec("1.0"), Datum::Null])),
            key(Datum::Array(vec![Datum::Int(1), Datum::Null]))
        );
    }
}
