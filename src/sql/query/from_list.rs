//! FROM lists (`FROM a, b, c WHERE ...`): the items joined without building their full cross
//! product.
//!
//! The WHERE clause (its uncorrelated subqueries already values) is split into its top-level
//! conjuncts, and each conjunct is attributed to the FROM items whose columns it names:
//! - a conjunct of one item filters that item as it is loaded (a plain table gets it as its scan
//!   filter, so `k = 5` is still a point read);
//! - the others join the items: starting from the first item, the next item joined is the first
//!   (in FROM order) that a conjunct connects to those already joined, joined with every
//!   conjunct that becomes complete (an equality between the two sides makes it a hash join);
//!   with no connected item left, the next one in FROM order is crossed in.
//!
//! An item that is an explicit join tree (`a JOIN b ON ... LEFT JOIN c ...`) gets the same
//! treatment inside it ([`join_input_filters`]): a conjunct of one table's columns filters that
//! table as it is loaded, when the table is never the null-extended side of an outer join (the
//! left of a later RIGHT or FULL join, the right of its own LEFT or FULL join): filtering such a
//! side would turn rows the WHERE clause drops into null-extended rows it keeps.
//!
//! Only deterministic conjuncts are attributed: a filter is evaluated again by the caller, and
//! `random() < 0.5` evaluated twice keeps a quarter of the rows.
//!
//! The result has its columns in FROM order whatever the join order. A conjunct that names no
//! item's column, or a bare name more than one item has, is left to the caller, which applies
//! the whole WHERE clause to the result anyway: attributing conjuncts only decides where rows
//! are dropped early, never which rows are kept (for inner joins and cross products, filtering
//! an input by a conjunct of its own columns keeps exactly the product rows the conjunct keeps).

use super::correlated::and_all;
use super::join::{self, JoinKind};
use super::*;

/// A WHERE conjunct and the FROM items whose columns it names.
struct Conjunct {
    expr: Expr,
    items: Vec<usize>,
    applied: bool,
}

/// The FROM items `items` joined as the module doc describes, filtered by the conjuncts of
/// `selection` that could be attributed (the caller applies all of `selection` afterwards).
pub(super) async fn load_from_list(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    items: &[pg::TableWithJoins],
    params: &[Datum],
    ctes: &Ctes,
    selection: Option<&Expr>,
    lock: Option<&locking::LockSpec>,
) -> Result<Relation> {
    let mut conjuncts = unattributed(selection);
    // Every item's columns: a plain table's from a describe-only load (it is loaded below with
    // its own conjuncts as scan filter, so `k = 5` stays a point read), anything else loaded.
    let mut loaded: Vec<Option<Relation>> = Vec::with_capacity(items.len());
    let mut scopes: Vec<Vec<String>> = Vec::with_capacity(items.len());
    for item in items {
        let plain_table = item.joins.is_empty()
            && matches!(&item.relation, TableFactor::Table { args: None, .. });
        if plain_table && !conjuncts.is_empty() {
            let describe = ctx.describing();
            let shape = load_from_item(&describe, txn, item, params, ctes, None, None).await?;
            scopes.push(shape.scope_names());
            loaded.push(None);
        } else {
            let rel = load_from_item(ctx, txn, item, params, ctes, None, lock).await?;
            scopes.push(rel.scope_names());
            loaded.push(Some(rel));
        }
    }
    attribute(&mut conjuncts, &scopes);
    let mut parts: Vec<Relation> = Vec::with_capacity(items.len());
    for (i, (item, rel)) in items.iter().zip(loaded).enumerate() {
        let own: Vec<usize> = (0..conjuncts.len())
            .filter(|&c| conjuncts[c].items == [i])
            .collect();
        let filter = and_all(own.iter().map(|&c| conjuncts[c].expr.clone()).collect());
        let mut rel = match rel {
            Some(r) => r,
            None => load_from_item(ctx, txn, item, params, ctes, filter.as_ref(), lock).await?,
        };
        if let Some(f) = &filter {
            rel.rows = keep_matching(ctx, params, &scopes[i], rel.rows, f)?;
        }
        for c in own {
            conjuncts[c].applied = true;
        }
        parts.push(rel);
    }
    join_parts(ctx, parts, &mut conjuncts, params)
}

/// The top-level conjuncts of `selection`, not yet attributed to any item.
fn unattributed(selection: Option<&Expr>) -> Vec<Conjunct> {
    selection
        .map(super::correlated::conjuncts)
        .unwrap_or_default()
        .into_iter()
        .map(|e| Conjunct {
            expr: e.clone(),
            items: Vec::new(),
            applied: false,
        })
        .collect()
}

/// Records, for each conjunct not yet applied, the items whose columns it names; a conjunct with
/// a name no item (or more than one item) resolves keeps no items and is left to the caller.
fn attribute(conjuncts: &mut [Conjunct], scopes: &[Vec<String>]) {
    for c in conjuncts.iter_mut().filter(|c| !c.applied) {
        let mut items = Vec::new();
        let mut ok = true;
        let _ = super::walk::with_depth(&c.expr, |x, depth| {
            if depth == 0 && matches!(x, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                let owners: Vec<usize> = (0..scopes.len())
                    .filter(|&i| expr::lookup(&scopes[i], x).is_some())
                    .collect();
                match owners.as_slice() {
                    [one] => {
                        if !items.contains(one) {
                            items.push(*one);
                        }
                    }
                    _ => {
                        ok = false;
                        return std::ops::ControlFlow::Break(());
                    }
                }
            }
            std::ops::ControlFlow::Continue(())
        });
        c.items = if ok && super::subquery::deterministic(&c.expr) {
            items
        } else {
            Vec::new()
        };
    }
}

/// For an explicit join tree `item`, the conjunction of `selection`'s conjuncts that can filter
/// each of its tables (the relation, then each join's) as it is loaded (see the module doc);
/// empty when nothing can.
pub(super) async fn join_input_filters(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    item: &pg::TableWithJoins,
    params: &[Datum],
    ctes: &Ctes,
    selection: &Expr,
) -> Result<Vec<Option<Expr>>> {
    let factors: Vec<&TableFactor> = std::iter::once(&item.relation)
        .chain(item.joins.iter().map(|j| &j.relation))
        .collect();
    let Some(kinds) = item
        .joins
        .iter()
        .map(|j| join::kind_of(&j.join_operator).ok().map(|(k, _)| k))
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(Vec::new());
    };
    // Factor i is null-extended by its own LEFT/FULL join, or by any later RIGHT/FULL join.
    let preserved: Vec<bool> = (0..factors.len())
        .map(|i| {
            let own = i == 0 || matches!(kinds[i - 1], JoinKind::Inner | JoinKind::Right);
            own && kinds[i..]
                .iter()
                .all(|k| matches!(k, JoinKind::Inner | JoinKind::Left))
        })
        .collect();
    let pushable = |f: &TableFactor| matches!(f, TableFactor::Table { args: None, .. });
    if !(0..factors.len()).any(|i| preserved[i] && pushable(factors[i])) {
        return Ok(Vec::new());
    }
    let describe = ctx.describing();
    let mut scopes = Vec::with_capacity(factors.len());
    for f in &factors {
        let shape = load_factor(&describe, txn, f, params, ctes, None, None).await?;
        scopes.push(shape.scope_names());
    }
    let mut conjuncts = unattributed(Some(selection));
    attribute(&mut conjuncts, &scopes);
    Ok((0..factors.len())
        .map(|i| {
            if !(preserved[i] && pushable(factors[i])) {
                return None;
            }
            and_all(
                conjuncts
                    .iter()
                    .filter(|c| c.items == [i])
                    .map(|c| c.expr.clone())
                    .collect(),
            )
        })
        .collect())
}

/// Joins the loaded items (see the module doc) and puts the columns back in FROM order.
fn join_parts(
    ctx: &Ctx<'_>,
    parts: Vec<Relation>,
    conjuncts: &mut [Conjunct],
    params: &[Datum],
) -> Result<Relation> {
    let widths: Vec<usize> = parts.iter().map(|p| p.cols.len()).collect();
    let mut rest: Vec<Option<Relation>> = parts.into_iter().map(Some).collect();
    let Some(first) = rest.first_mut().and_then(Option::take) else {
        return Ok(Relation::default());
    };
    let mut acc = first;
    let mut order = vec![0usize];
    while order.len() < rest.len() {
        let pending: Vec<usize> = (0..rest.len()).filter(|i| rest[*i].is_some()).collect();
        let connected = pending.iter().copied().find(|&cand| {
            conjuncts.iter().any(|c| {
                !c.applied
                    && c.items.contains(&cand)
                    && c.items.iter().all(|i| *i == cand || order.contains(i))
            })
        });
        // Unconnected items are crossed in FROM order (a product's size is the same in any).
        let next = connected.unwrap_or(pending[0]);
        let Some(right) = rest[next].take() else {
            break;
        };
        let mut on = Vec::new();
        for c in conjuncts.iter_mut() {
            if !c.applied
                && !c.items.is_empty()
                && c.items.iter().all(|i| *i == next || order.contains(i))
            {
                c.applied = true;
                on.push(c.expr.clone());
            }
        }
        let op = match and_all(on) {
            Some(e) => pg::JoinOperator::Inner(pg::JoinConstraint::On(e)),
            None => pg::JoinOperator::CrossJoin(pg::JoinConstraint::None),
        };
        acc = join(ctx, acc, right, &op, params)?;
        order.push(next);
    }
    Ok(in_from_order(acc, &order, &widths))
}

/// `rel`, whose column blocks are the items in `order` (of `widths` columns each), with its
/// columns rearranged into FROM order.
fn in_from_order(rel: Relation, order: &[usize], widths: &[usize]) -> Relation {
    if order.windows(2).all(|w| w[0] < w[1]) {
        return rel;
    }
    let mut start = vec![0usize; widths.len()];
    let mut at = 0;
    for &i in order {
        start[i] = at;
        at += widths[i];
    }
    let perm: Vec<usize> = (0..widths.len())
        .flat_map(|i| start[i]..start[i] + widths[i])
        .collect();
    let cols = perm.iter().map(|&p| rel.cols[p].clone()).collect();
    let rows = rel
        .rows
        .into_iter()
        .map(|mut r: Vec<Datum>| {
            perm.iter()
                .map(|&p| std::mem::replace(&mut r[p], Datum::Null))
                .collect()
        })
        .collect();
    Relation { cols, rows }
}

/// The rows for which `filter` is true.
pub(super) fn keep_matching(
    ctx: &Ctx<'_>,
    params: &[Datum],
    names: &[String],
    rows: Vec<Vec<Datum>>,
    filter: &Expr,
) -> Result<Vec<Vec<Datum>>> {
    let ectx = ectx(ctx, params);
    let mut kept = Vec::with_capacity(rows.len());
    for r in rows {
        let row = Row { names, values: &r };
        if matches!(expr::eval(filter, Some(&row), &ectx)?, Datum::Bool(true)) {
            kept.push(r);
        }
    }
    Ok(kept)
}
