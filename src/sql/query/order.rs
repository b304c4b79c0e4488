//! ORDER BY of a SELECT block: resolving output positions and aliases, sort keys per output
//! row (a correlated select-list item sorts by its computed value), CockroachDB's NULL order
//! (first ascending, last descending), and DISTINCT ON's agreement with ORDER BY.

use super::select::col_ref;
use super::*;

/// ORDER BY / GROUP BY may name an output column by position or alias.
pub(super) fn resolve_order(e: &Expr, items: &[(String, Expr)]) -> Expr {
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

/// PostgreSQL: "SELECT DISTINCT ON expressions must match initial ORDER BY expressions" (42P10).
pub(super) fn check_distinct_on_order(
    on: &[Expr],
    order: &[pg::OrderByExpr],
    items: &[(String, Expr)],
) -> Result<()> {
    let norm = |e: &Expr| resolve_order(e, items).to_string().to_lowercase();
    let on_set: Vec<String> = on.iter().map(norm).collect();
    for o in order.iter().take(on.len()) {
        if !on_set.contains(&norm(&o.expr)) {
            return Err(SqlError::new(
                SqlState::INVALID_COLUMN_REFERENCE,
                "SELECT DISTINCT ON expressions must match initial ORDER BY expressions",
            ));
        }
    }
    Ok(())
}

pub(super) fn sort_keys(
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
            if let Some(v) = id
                .value
                .strip_prefix(OUTPUT_REF)
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| out_vals.get(i))
            {
                keys.push(v.clone());
                continue;
            }
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

/// Prefix of a sort key that is output column `n` itself (see [`output_ref`]).
const OUTPUT_REF: &str = "\u{1}out_";

/// A sort key taking output column `i`'s value as computed (a correlated subquery item, which
/// cannot be evaluated again from the row alone).
pub(super) fn output_ref(i: usize) -> Expr {
    Expr::Identifier(pg::Ident::new(format!("{OUTPUT_REF}{i}")))
}

pub(super) fn sort_rows(rows: &mut [(Vec<Datum>, Vec<Datum>)], order: &[pg::OrderByExpr]) {
    rows.sort_by(|a, b| compare_keys(&a.1, &b.1, order));
}

/// How two rows' ORDER BY keys compare.
pub(super) fn compare_keys(
    a: &[Datum],
    b: &[Datum],
    order: &[pg::OrderByExpr],
) -> std::cmp::Ordering {
    for (i, o) in order.iter().enumerate() {
        let desc = matches!(o.options.sort, Some(pg::OrderBySort::Desc));
        // CockroachDB: NULLs sort as smaller than any value (first in ascending order, last
        // in descending order) unless NULLS FIRST/LAST says otherwise.
        let nulls_first = o.options.nulls_first.unwrap_or(!desc);
        let (Some(x), Some(y)) = (a.get(i), b.get(i)) else {
            continue;
        };
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
}

pub(super) fn sort_by_output(
    ctx: &Ctx<'_>,
    rel: &mut Relation,
    order: &[pg::OrderByExpr],
    params: &[Datum],
) -> Result<()> {
    let names: Vec<String> = rel.cols.iter().map(|c| c.name.clone()).collect();
    let ectx = ectx(ctx, params);
    // Ordinals pick columns by position: output columns may share a name (`SELECT a.x, b.x
    // ... UNION ... ORDER BY 2`).
    let items: Vec<(String, Expr)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), col_ref(i)))
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
