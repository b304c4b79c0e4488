//! Joins: hash joins on column equalities of the ON clause, nested loops otherwise; inner, left,
//! right, full and cross, with USING merging the named columns.

use super::{Relation, ectx, parse_expr};
use crate::sql::error::{Result, SqlError};
use crate::sql::exec::Ctx;
use crate::sql::expr::{self, Row, normalize};
use crate::sql::types::Datum;
use sqlparser::ast::{self as pg, Expr};
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq, Eq)]
enum JoinKind {
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

fn join_rows(
    ctx: &Ctx<'_>,
    l: Relation,
    r: Relation,
    op: &pg::JoinOperator,
    params: &[Datum],
) -> Result<Relation> {
    let (kind, constraint) = match op {
        pg::JoinOperator::Join(c) | pg::JoinOperator::Inner(c) => (JoinKind::Inner, Some(c)),
        pg::JoinOperator::Left(c) | pg::JoinOperator::LeftOuter(c) => (JoinKind::Left, Some(c)),
        pg::JoinOperator::Right(c) | pg::JoinOperator::RightOuter(c) => (JoinKind::Right, Some(c)),
        pg::JoinOperator::FullOuter(c) => (JoinKind::Full, Some(c)),
        pg::JoinOperator::CrossJoin(_) => (JoinKind::Inner, None),
        other => return Err(SqlError::unsupported(format!("join {other:?}"))),
    };
    let mut cols = l.cols.clone();
    cols.extend(r.cols.iter().cloned());
    // JOIN ... USING (c): the right side's `c` merges into the left's (shown once by `*`,
    // not ambiguous as a bare name).
    if let Some(pg::JoinConstraint::Using(using)) = constraint {
        let merged: Vec<String> = using.iter().map(crate::sql::exec::object_last).collect();
        for c in cols.iter_mut().skip(l.cols.len()) {
            if merged.contains(&c.name) {
                c.hidden = true;
            }
        }
    }
    let names: Vec<String> = Relation {
        cols: cols.clone(),
        rows: vec![],
    }
    .scope_names();
    let ectx = ectx(ctx, params);
    let on: Option<Expr> = match constraint {
        None | Some(pg::JoinConstraint::None) => None,
        Some(pg::JoinConstraint::On(e)) => Some(e.clone()),
        Some(pg::JoinConstraint::Using(cols_)) => {
            let lt = l
                .cols
                .first()
                .and_then(|c| c.table.clone())
                .unwrap_or_default();
            let rt = r
                .cols
                .first()
                .and_then(|c| c.table.clone())
                .unwrap_or_default();
            let mut e: Option<Expr> = None;
            for c in cols_ {
                let n = crate::sql::exec::object_last(c);
                let eq = parse_expr(&format!("\"{lt}\".\"{n}\" = \"{rt}\".\"{n}\""))?;
                e = Some(match e {
                    None => eq,
                    Some(prev) => Expr::BinaryOp {
                        left: Box::new(prev),
                        op: pg::BinaryOperator::And,
                        right: Box::new(eq),
                    },
                });
            }
            e
        }
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
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, row) in r.rows.iter().enumerate() {
            if keys.iter().any(|(_, rk)| row[*rk].is_null()) {
                continue;
            }
            index
                .entry(hash_key(keys.iter().map(|(_, rk)| &row[*rk])))
                .or_default()
                .push(i);
        }
        for lrow in &l.rows {
            let mut any = false;
            if !keys.iter().any(|(lk, _)| lrow[*lk].is_null())
                && let Some(cands) = index.get(&hash_key(keys.iter().map(|(lk, _)| &lrow[*lk])))
            {
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
                let mut v = lrow.clone();
                v.extend(std::iter::repeat_n(Datum::Null, rw));
                ctx.memory.charge(std::iter::once(&v))?;
                out.push(v);
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
                let mut v = lrow.clone();
                v.extend(std::iter::repeat_n(Datum::Null, rw));
                ctx.memory.charge(std::iter::once(&v))?;
                out.push(v);
            }
        }
    }
    if matches!(kind, JoinKind::Right | JoinKind::Full) {
        for (ri, rrow) in r.rows.iter().enumerate() {
            if !r_matched[ri] {
                let mut v: Vec<Datum> = std::iter::repeat_n(Datum::Null, lw).collect();
                v.extend(rrow.iter().cloned());
                ctx.memory.charge(std::iter::once(&v))?;
                out.push(v);
            }
        }
    }
    Ok(Relation { cols, rows: out })
}

pub(super) fn hash_key<'a>(vals: impl Iterator<Item = &'a Datum>) -> String {
    vals.map(|d| match d {
        Datum::Int(i) => format!("n{}", *i as f64),
        Datum::Float(f) => format!("n{f}"),
        other => format!("{other:?}"),
    })
    .collect::<Vec<_>>()
    .join("\u{1}")
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

fn equi_keys(
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
