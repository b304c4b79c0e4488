//! The select list evaluated over a SELECT block's input (after FROM, WHERE and window
//! columns): grouped rows (GROUP BY, aggregates, HAVING) or one output row per input row (with
//! set-returning functions expanding it), each with its ORDER BY keys; then the output columns'
//! types.
//!
//! Correlated subqueries in the select list, HAVING and ORDER BY run per output row or group
//! ([`materialize_correlated`]; in a grouped query they may name only grouped outer columns);
//! a correlated column without a value to type it by is typed by running its subqueries once
//! with NULL outer columns. Errors in evaluation end the statement; nothing is partial.

use super::select::{GroupedCols, check_grouping, resolve_group_exprs, sort_keys, static_type};
use super::*;

/// A select list ready to evaluate, with everything extracted from it.
pub(super) struct Projection<'a> {
    /// Output names and expressions (window calls replaced by their columns).
    pub items: Vec<(String, Expr)>,
    /// The items with aggregate calls replaced by `__agg_<n>` references.
    pub rewritten: Vec<Expr>,
    /// Items that are correlated subqueries.
    pub correlated_items: std::collections::BTreeSet<usize>,
    /// Items that are set-returning function calls.
    pub srf_items: Vec<usize>,
    /// The aggregate calls of the items, HAVING and ORDER BY.
    pub aggs: Vec<(String, AggCall)>,
    /// HAVING, rewritten like the items.
    pub having: Option<Expr>,
    /// Whether HAVING has correlated subqueries (run per group).
    pub correlated_having: bool,
    /// ORDER BY (then DISTINCT ON) expressions, rewritten like the items.
    pub order_rewritten: Vec<Expr>,
    /// The ORDER BY expressions with correlated subqueries (run per output row).
    pub correlated_order: std::collections::BTreeSet<usize>,
    /// The input's scope names and column types.
    pub names: Vec<String>,
    pub in_types: Vec<SqlType>,
    /// Output names, for ORDER BY output references.
    pub out_names: Vec<String>,
    /// GROUP BY expressions as written.
    pub group_exprs: Vec<Expr>,
    pub params: &'a [Datum],
    pub ctes: &'a Ctes,
}

/// Output rows and their sort keys.
pub(super) type KeyedRows = Vec<(Vec<Datum>, Vec<Datum>)>;

/// One row per group that passes HAVING.
pub(super) async fn grouped_rows(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    p: &Projection<'_>,
    input: &Relation,
) -> Result<KeyedRows> {
    let Projection {
        items,
        rewritten,
        correlated_items,
        aggs,
        having,
        correlated_having,
        order_rewritten,
        names,
        in_types,
        out_names,
        group_exprs,
        params,
        ctes,
        ..
    } = p;
    let ectx = ectx(ctx, params);
    let (mut bare_items, mut bare_having, mut bare_order) = Default::default();
    let mut out: KeyedRows = Vec::new();
    let group_exprs = resolve_group_exprs(group_exprs, items, names);
    for g in &group_exprs {
        expr::check_references(g, names)?;
    }
    let checked = rewritten
        .iter()
        .chain(having.iter())
        .chain(order_rewritten.iter());
    check_grouping(checked, &group_exprs, names, input)?;
    let cols = GroupedCols::new(&group_exprs, names, input);
    let mut scope_names = names.clone();
    for i in 0..aggs.len() {
        scope_names.push(format!("__agg_{i}"));
    }
    // Grouping and aggregation are synchronous and can be long: see `heavy`.
    let scopes = super::heavy(input.rows.len(), || -> Result<Vec<Vec<Datum>>> {
        let mut groups: Vec<(Vec<Datum>, Vec<&Vec<Datum>>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (n, r) in input.rows.iter().enumerate() {
            if n % 4096 == 0 {
                ctx.memory.check()?;
            }
            let key: Vec<Datum> = group_exprs
                .iter()
                .map(|g| expr::eval(g, Some(&Row { names, values: r }), &ectx))
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
        let mut scopes = Vec::with_capacity(groups.len());
        for (_, rows) in &groups {
            let mut scope = rows
                .first()
                .map(|r| (*r).clone())
                .unwrap_or_else(|| null_row.clone());
            for (_, a) in aggs {
                scope.push(compute_agg(a, rows, names, &ectx)?);
            }
            scopes.push(scope);
        }
        Ok(scopes)
    })?;
    for scope in scopes {
        let row = Row {
            names: &scope_names,
            values: &scope,
        };
        let outer = (
            scope_names.as_slice(),
            in_types.as_slice(),
            scope.as_slice(),
        );
        // Correlated subqueries run for the group, naming only grouped outer columns.
        let grouped = |e: &Expr, state: &Correlation| {
            state.per_form(e, |f, bare| {
                refuse_ungrouped_outer(f, &scope_names, bare, |i| cols.allows(i))
            })
        };
        if let Some(h) = &having {
            let h = if *correlated_having {
                let m = materialize_correlated(ctx, txn, h, outer, params, ctes, &mut bare_having)
                    .await?;
                grouped(h, &bare_having)?;
                std::borrow::Cow::Owned(m)
            } else {
                std::borrow::Cow::Borrowed(h)
            };
            if !matches!(expr::eval(&h, Some(&row), &ectx)?, Datum::Bool(true)) {
                continue;
            }
        }
        let mut vals: Vec<Datum> = Vec::with_capacity(rewritten.len());
        for (i, e) in rewritten.iter().enumerate() {
            if correlated_items.contains(&i) {
                let m = materialize_correlated(ctx, txn, e, outer, params, ctes, &mut bare_items)
                    .await?;
                grouped(e, &bare_items)?;
                vals.push(expr::eval(&m, Some(&row), &ectx)?);
            } else {
                vals.push(expr::eval(e, Some(&row), &ectx)?);
            }
        }
        let order = order_exprs(ctx, txn, p, outer, &mut bare_order).await?;
        for &i in &p.correlated_order {
            grouped(&order_rewritten[i], &bare_order)?;
        }
        let keys = sort_keys(&order, out_names, &vals, &row, &ectx)?;
        out.push((vals, keys));
    }
    Ok(out)
}

/// The ORDER BY expressions for one output row: its correlated ones run for the row's outer
/// values (`outer`), the others as they are.
async fn order_exprs<'p>(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    p: &'p Projection<'_>,
    outer: (&[String], &[SqlType], &[Datum]),
    state: &mut Correlation,
) -> Result<std::borrow::Cow<'p, [Expr]>> {
    if p.correlated_order.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(&p.order_rewritten));
    }
    let mut v = p.order_rewritten.clone();
    for &i in &p.correlated_order {
        v[i] = materialize_correlated(ctx, txn, &v[i], outer, p.params, p.ctes, state).await?;
    }
    Ok(std::borrow::Cow::Owned(v))
}

/// One row per input row (or as many as its longest set-returning item yields).
pub(super) async fn plain_rows(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    p: &Projection<'_>,
    input: &Relation,
    selection: Option<&Expr>,
) -> Result<KeyedRows> {
    let Projection {
        rewritten,
        correlated_items,
        srf_items,
        names,
        in_types,
        out_names,
        params,
        ctes,
        ..
    } = p;
    let ectx = ectx(ctx, params);
    let (mut bare_items, mut bare_order) = (Correlation::default(), Correlation::default());
    let mut out: KeyedRows = Vec::new();
    if input.rows.is_empty() {
        // Nothing to evaluate: still report unknown columns and functions, as PostgreSQL
        // does at planning time.
        let nulls = vec![Datum::Null; names.len()];
        let row = Row {
            names,
            values: &nulls,
        };
        let checks = rewritten
            .iter()
            .enumerate()
            .filter(|(i, _)| !correlated_items.contains(i) && !srf_items.contains(i))
            .map(|(_, e)| e)
            .chain(selection);
        for e in checks {
            if let Err(err) = expr::eval(e, Some(&row), &ectx)
                && matches!(err.state.0, "42703" | "42702" | "42883")
            {
                return Err(err);
            }
        }
    }
    for r in &input.rows {
        let row = Row { names, values: r };
        let mut vals: Vec<Datum> = Vec::with_capacity(rewritten.len());
        let mut sets: Vec<(usize, Vec<Datum>)> = Vec::new();
        for (i, e) in rewritten.iter().enumerate() {
            if correlated_items.contains(&i) {
                let m = materialize_correlated(
                    ctx,
                    txn,
                    e,
                    (names, in_types, r),
                    params,
                    ctes,
                    &mut bare_items,
                )
                .await?;
                vals.push(expr::eval(&m, Some(&row), &ectx)?);
            } else if let (true, Expr::Function(f)) = (srf_items.contains(&i), e) {
                sets.push((
                    i,
                    super::table_functions::select_list_values(ctx, f, &row, &ectx)?,
                ));
                vals.push(Datum::Null);
            } else {
                vals.push(expr::eval(e, Some(&row), &ectx)?);
            }
        }
        let order = order_exprs(ctx, txn, p, (names, in_types, r), &mut bare_order).await?;
        if srf_items.is_empty() {
            let keys = sort_keys(&order, out_names, &vals, &row, &ectx)?;
            out.push((vals, keys));
            continue;
        }
        let n = sets.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
        for k in 0..n {
            let mut v = vals.clone();
            for (i, set) in &sets {
                v[*i] = set.get(k).cloned().unwrap_or(Datum::Null);
            }
            let keys = sort_keys(&order, out_names, &v, &row, &ectx)?;
            out.push((v, keys));
        }
        ctx.memory
            .charge(out[out.len() - n..].iter().map(|(v, _)| v))?;
    }
    Ok(out)
}

/// The output relation: each column typed by its first non-NULL value, else statically; a
/// plain column reference keeps its declared width.
pub(super) async fn output_relation(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    p: &Projection<'_>,
    input: &Relation,
    out: KeyedRows,
) -> Result<Relation> {
    let Projection {
        items,
        correlated_items,
        names,
        in_types,
        params,
        ctes,
        ..
    } = p;
    let mut types: Vec<SqlType> = items
        .iter()
        .enumerate()
        .map(|(i, (_, e))| {
            out.iter()
                .find_map(|(v, _)| v.get(i).and_then(Datum::sql_type))
                .unwrap_or_else(|| static_type(e, input))
        })
        .collect();
    // A correlated subquery column with no value to type it by (no rows, or all NULL): run its
    // subqueries once with the outer columns NULL, which types them (`CAST(NULL AS t)`).
    for &i in correlated_items {
        if out
            .iter()
            .any(|(v, _)| v.get(i).and_then(Datum::sql_type).is_some())
        {
            continue;
        }
        let nulls = vec![Datum::Null; names.len()];
        let mut state = Correlation::default();
        let e = &items[i].1;
        let outer = (names.as_slice(), in_types.as_slice(), nulls.as_slice());
        let run = materialize_correlated(ctx, txn, e, outer, params, ctes, &mut state).await;
        // With no outer rows, an aggregate of outer columns is found here at the latest.
        state.per_form(e, |f, bare| refuse_outer_aggregates(f, names, bare))?;
        if let Ok(m) = run {
            types[i] = static_type(&m, input);
        }
    }
    // A plain reference to a table column keeps the column's declared width.
    let typmod_of = |e: &Expr, ty: SqlType| {
        if !matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
            return Default::default();
        }
        expr::lookup(names, e)
            .and_then(|i| input.cols.get(i))
            .filter(|c| c.ty == ty)
            .map(|c| c.typmod)
            .unwrap_or_default()
    };
    Ok(Relation {
        cols: items
            .iter()
            .zip(types)
            .map(|((n, e), ty)| RelCol {
                table: None,
                name: n.clone(),
                ty,
                hidden: n.starts_with(locking::LOCK_COL),
                typmod: typmod_of(e, ty),
                key: false,
            })
            .collect(),
        rows: out.into_iter().map(|(v, _)| v).collect(),
    })
}
