//! One SELECT block: FROM, WHERE, grouping and aggregates, the select list, DISTINCT and
//! ORDER BY.

pub(super) use super::order::{
    check_distinct_on_order, compare_keys, output_ref, resolve_order, sort_by_output, sort_keys,
    sort_rows,
};
use super::*;

/// The output column name of an unaliased select item, by PostgreSQL's (and CockroachDB's) rules.
pub(crate) fn label(e: &Expr) -> String {
    match e {
        Expr::Identifier(i) => normalize(&i.value, i.quote_style.is_some()),
        Expr::CompoundIdentifier(p) => p
            .last()
            .map(|i| normalize(&i.value, i.quote_style.is_some()))
            .unwrap_or_default(),
        Expr::Function(f) => f.name.to_string().to_lowercase(),
        Expr::Cast { expr, .. } | Expr::Nested(expr) => label(expr),
        Expr::Case { .. } => "case".into(),
        Expr::Exists { .. } => "exists".into(),
        Expr::Subquery(q) => subquery_label(&q.body),
        _ => "?column?".into(),
    }
}

/// A scalar subquery's column name, as PostgreSQL and CockroachDB derive it: its one select
/// item's alias or name (`column1` for a one-column VALUES).
fn subquery_label(body: &SetExpr) -> String {
    match body {
        SetExpr::Query(q) => subquery_label(&q.body),
        SetExpr::Values(v) if v.rows.first().is_some_and(|r| r.len() == 1) => "column1".into(),
        SetExpr::Select(sel) => match sel.projection.as_slice() {
            [SelectItem::ExprWithAlias { alias, .. }] => {
                normalize(&alias.value, alias.quote_style.is_some())
            }
            [SelectItem::UnnamedExpr(e)] => label(e),
            _ => "?column?".into(),
        },
        _ => "?column?".into(),
    }
}

pub(super) async fn run_select(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    sel: &pg::Select,
    params: &[Datum],
    ctes: &Ctes,
    order: &[pg::OrderByExpr],
    lock: Option<&locking::LockSpec>,
) -> Result<Relation> {
    let (mut input, selection) = filtered_input(ctx, txn, sel, params, ctes, lock).await?;
    let ectx = ectx(ctx, params);
    // Correlated subqueries in aggregate and window arguments become hidden input columns.
    let mut projection =
        super::correlated::hoist_correlated(ctx, txn, &sel.projection, &mut input, params, ctes)
            .await?;
    let group_exprs: Vec<Expr> = match &sel.group_by {
        pg::GroupByExpr::Expressions(v, _) => v
            .iter()
            .map(|g| subquery_item_at(g, &projection).unwrap_or_else(|| g.clone()))
            .collect(),
        pg::GroupByExpr::All(_) => return Err(SqlError::unsupported("GROUP BY ALL")),
    };
    // GROUP BY subqueries: values, or (correlated) hidden input columns named where repeated.
    let (group_exprs, group_subs) =
        super::correlated::group_by_subqueries(ctx, txn, group_exprs, &mut input, params, ctes)
            .await?;
    name_group_columns(&mut projection, &group_subs);
    let names = input.scope_names();
    // The select list, expanded.
    let (mut items, correlated_items) =
        expand_items(ctx, txn, &projection, &input, &names, (params, ctes)).await?;
    // Names resolve before any row is read: a select list, HAVING or ORDER BY over no rows
    // still refuses a column that is not there (see `expr::check_references`).
    for (_, e) in &items {
        expr::check_references(e, &names)?;
    }
    // The scope of HAVING and ORDER BY / DISTINCT ON (built only for a query that has them: a
    // point select does not pay for it).
    let later_clauses = sel.having.is_some()
        || !order.is_empty()
        || matches!(sel.distinct, Some(pg::Distinct::On(_)));
    let with_outputs: Vec<String> = if later_clauses {
        names
            .iter()
            .cloned()
            .chain(items.iter().map(|(n, _)| n.clone()))
            .collect()
    } else {
        Vec::new()
    };
    // A locking block's output carries the locked rows' keys (hidden) to `lock_output`.
    if lock.is_some() {
        for (i, c) in input.cols.iter().enumerate() {
            if c.name.starts_with(locking::LOCK_COL) {
                items.push((c.name.clone(), col_ref(i)));
            }
        }
    }
    // Window calls become hidden columns computed below.
    let mut wins = Vec::new();
    for (_, e) in items.iter_mut() {
        *e = super::window::extract_windows(e, &mut wins)?;
    }
    // Set-returning functions in the select list (`SELECT unnest(a), generate_subscripts(a, 1)`):
    // each input row yields as many rows as the longest of them, the others padded with NULL.
    let srf_items: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, (_, e))| match e {
            Expr::Function(f) => {
                super::table_functions::is_set_returning(&f.name.to_string().to_lowercase())
            }
            _ => false,
        })
        .map(|(i, _)| i)
        .collect();
    let mut aggs: Vec<(String, AggCall)> = Vec::new();
    let rewritten: Vec<Expr> = items
        .iter()
        .map(|(_, e)| extract_aggs(e, &mut aggs))
        .collect::<Result<_>>()?;
    let (having, correlated_having) = match &sel.having {
        Some(h) => {
            let h = super::correlated::substitute(h, &group_subs);
            let (h, correlated) = subqueries_as_values(ctx, txn, h, params, ctes).await?;
            expr::check_references(&h, &with_outputs)?;
            (Some(extract_aggs(&h, &mut aggs)?), correlated)
        }
        None => (None, false),
    };
    // DISTINCT ON (exprs): evaluated like ORDER BY expressions and carried after the sort keys;
    // after sorting, the first row of each run of equal values is kept (PostgreSQL's rule: the
    // ORDER BY decides which row that is).
    let distinct_on: &[Expr] = match &sel.distinct {
        Some(pg::Distinct::On(exprs)) => exprs,
        _ => &[],
    };
    let mut order_rewritten: Vec<Expr> = Vec::new();
    let mut correlated_order = std::collections::BTreeSet::new();
    for e in order.iter().map(|o| &o.expr).chain(distinct_on) {
        expr::check_references(e, &with_outputs)?;
        let r = resolve_order(e, &items);
        // A correlated subquery item sorts by the value computed for the row.
        if let Some(i) = correlated_items.iter().find(|&&i| items[i].1 == r) {
            order_rewritten.push(output_ref(*i));
            continue;
        }
        let r = super::correlated::substitute(&r, &group_subs);
        let (r, correlated) = subqueries_as_values(ctx, txn, r, params, ctes).await?;
        if correlated {
            correlated_order.insert(order_rewritten.len());
        }
        order_rewritten.push(extract_aggs(&r, &mut aggs)?);
    }
    // HAVING alone makes the query grouped too (one group over all rows, even none).
    let grouped = !aggs.is_empty() || !group_exprs.is_empty() || having.is_some();
    if grouped && !srf_items.is_empty() {
        return Err(SqlError::unsupported(
            "set-returning functions in the select list of a grouped query",
        ));
    }
    let names = if wins.is_empty() {
        names
    } else {
        if grouped {
            return Err(SqlError::unsupported(
                "window functions in a query with GROUP BY or aggregates",
            ));
        }
        super::window::add_window_columns(&mut input, &wins, &ectx)?;
        input.scope_names()
    };
    let in_types = input.col_types();
    let out_names: Vec<String> = items.iter().map(|(n, _)| n.clone()).collect();
    let p = Projection {
        items,
        rewritten,
        correlated_items,
        srf_items,
        aggs,
        having,
        correlated_having,
        order_rewritten,
        correlated_order,
        names,
        in_types,
        out_names,
        group_exprs,
        params,
        ctes,
    };
    let mut out = if grouped {
        grouped_rows(ctx, txn, &p, &input).await?
    } else {
        plain_rows(ctx, txn, &p, &input, selection.as_ref()).await?
    };
    if let Some(pg::Distinct::Distinct) = &sel.distinct {
        let mut seen = std::collections::HashSet::new();
        out.retain(|(v, _)| seen.insert(hash_key(v.iter())));
    }
    if !order.is_empty() {
        sort_rows(&mut out, order);
    }
    if !distinct_on.is_empty() {
        check_distinct_on_order(distinct_on, order, &p.items)?;
        let on = order.len();
        let mut seen = std::collections::HashSet::new();
        out.retain(|(_, keys)| seen.insert(hash_key(keys[on..].iter())));
    }
    output_relation(ctx, txn, &p, &input, out).await
}

/// The select list with the GROUP BY expressions hoisted into hidden columns (`subs`) naming
/// those columns where it repeats them; an unaliased item keeps the name of what was written.
fn name_group_columns(projection: &mut [SelectItem], subs: &[(Expr, Expr)]) {
    for item in projection {
        match item {
            SelectItem::UnnamedExpr(e) => {
                let new = super::correlated::substitute(e, subs);
                if new != *e {
                    // The output column keeps the name of what was written.
                    let alias = pg::Ident::with_quote('"', label(e));
                    *item = SelectItem::ExprWithAlias { expr: new, alias };
                }
            }
            SelectItem::ExprWithAlias { expr: e, .. } => {
                *e = super::correlated::substitute(e, subs);
            }
            _ => {}
        }
    }
}

/// The select item a GROUP BY position (`GROUP BY 2`) names, when it has a subquery: grouped by
/// like a GROUP BY expression with one (other positions are resolved later, with the items).
fn subquery_item_at(g: &Expr, projection: &[SelectItem]) -> Option<Expr> {
    let Expr::Value(v) = g else { return None };
    let pg::Value::Number(n, _) = &v.value else {
        return None;
    };
    let i = n.parse::<usize>().ok()?.checked_sub(1)?;
    match projection.get(i)? {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }
            if contains_subquery(e) =>
        {
            Some(e.clone())
        }
        _ => None,
    }
}

/// `e` with its uncorrelated subqueries replaced by values, and whether it has correlated ones
/// (then `e` is returned as it is, to run per row or group).
async fn subqueries_as_values(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    e: Expr,
    params: &[Datum],
    ctes: &Ctes,
) -> Result<(Expr, bool)> {
    if !contains_subquery(&e) {
        return Ok((e, false));
    }
    match materialize(ctx, txn, &e, params, ctes).await {
        Ok(m) => Ok((m, false)),
        Err(err) if is_correlated(&err) => Ok((e, true)),
        Err(err) => Err(err),
    }
}

/// FROM and WHERE: the block's input rows, filtered by the plain conjuncts first (which may also
/// choose the scan), then by the correlated ones, run per remaining row; and the plain part of
/// WHERE (with its uncorrelated subqueries replaced by values).
async fn filtered_input(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    sel: &pg::Select,
    params: &[Datum],
    ctes: &Ctes,
    lock: Option<&locking::LockSpec>,
) -> Result<(Relation, Option<Expr>)> {
    // WHERE with subqueries replaced by values; correlated conjuncts run per row, after the
    // others have filtered the rows (and the others can still choose the scan).
    let (selection, correlated_where) =
        super::correlated::split_where(ctx, txn, sel.selection.as_ref(), params, ctes).await?;
    // FROM.
    let mut input = match sel.from.as_slice() {
        [] => Relation {
            cols: Vec::new(),
            rows: vec![Vec::new()],
        },
        [only] => load_from_item(ctx, txn, only, params, ctes, selection.as_ref(), lock).await?,
        items => {
            super::from_list::load_from_list(
                ctx,
                txn,
                items,
                params,
                ctes,
                selection.as_ref(),
                lock,
            )
            .await?
        }
    };
    let names = input.scope_names();
    let in_types = input.col_types();
    let ectx = ectx(ctx, params);
    for w in selection.iter().chain(correlated_where.iter()) {
        expr::check_references(w, &names)?;
    }
    if let Some(w) = &selection {
        input.rows = super::from_list::keep_matching(ctx, params, &names, input.rows, w)?;
    }
    if let Some(w) = &correlated_where {
        // Correlated subqueries: bind the outer row's values and run them per row.
        let mut kept = Vec::new();
        let mut bare = Correlation::default();
        for r in std::mem::take(&mut input.rows) {
            let e = materialize_correlated(
                ctx,
                txn,
                w,
                (&names, &in_types, &r),
                params,
                ctes,
                &mut bare,
            )
            .await?;
            if matches!(
                expr::eval(
                    &e,
                    Some(&Row {
                        names: &names,
                        values: &r
                    }),
                    &ectx
                )?,
                Datum::Bool(true)
            ) {
                kept.push(r);
            }
        }
        input.rows = kept;
    }
    Ok((input, selection))
}

/// The select list expanded (wildcards to columns) with its uncorrelated subqueries replaced by
/// values: (label, expression) per output column, and the positions of the items with correlated
/// subqueries (run per row later).
async fn expand_items(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    projection: &[SelectItem],
    input: &Relation,
    names: &[String],
    (params, ctes): (&[Datum], &Ctes),
) -> Result<(Vec<(String, Expr)>, std::collections::BTreeSet<usize>)> {
    let mut items: Vec<(String, Expr)> = Vec::new();
    let mut correlated_items: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
    for item in projection {
        match item {
            SelectItem::Wildcard(_) => {
                if input.cols.is_empty() {
                    return Err(SqlError::syntax(
                        "SELECT * with no tables specified is not valid",
                    ));
                }
                for (i, c) in input.cols.iter().enumerate() {
                    if !c.hidden {
                        items.push((c.name.clone(), col_ref(i)));
                    }
                }
            }
            SelectItem::QualifiedWildcard(kind, _) => {
                let t = match kind {
                    pg::SelectItemQualifiedWildcardKind::ObjectName(n) => {
                        crate::sql::exec::object_last(n)
                    }
                    other => return Err(SqlError::unsupported(format!("{other}.*"))),
                };
                if !input
                    .cols
                    .iter()
                    .any(|c| c.table.as_deref() == Some(t.as_str()))
                {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_TABLE,
                        format!("no data source matches pattern: {t}.*"),
                    ));
                }
                for (i, c) in input.cols.iter().enumerate() {
                    if !c.hidden && c.table.as_deref() == Some(t.as_str()) {
                        items.push((c.name.clone(), col_ref(i)));
                    }
                }
            }
            SelectItem::UnnamedExpr(e) => {
                let x = match materialize_if(ctx, txn, e, params, ctes).await {
                    Ok(x) => x,
                    Err(err) if is_correlated(&err) => {
                        refuse_outer_aggregates(e, names, &[])?;
                        correlated_items.insert(items.len());
                        e.clone()
                    }
                    Err(err) => return Err(err),
                };
                items.push((label(e), x))
            }
            SelectItem::ExprWithAlias { expr: e, alias } => items.push((
                normalize(&alias.value, alias.quote_style.is_some()),
                match materialize_if(ctx, txn, e, params, ctes).await {
                    Ok(x) => x,
                    Err(err) if is_correlated(&err) => {
                        refuse_outer_aggregates(e, names, &[])?;
                        correlated_items.insert(items.len());
                        e.clone()
                    }
                    Err(err) => return Err(err),
                },
            )),
            other => return Err(SqlError::unsupported(format!("select item {other}"))),
        }
    }
    Ok((items, correlated_items))
}

/// GROUP BY names an input column first, else an output column's alias (or position).
pub(super) fn resolve_group_exprs(
    group_exprs: &[Expr],
    items: &[(String, Expr)],
    names: &[String],
) -> Vec<Expr> {
    group_exprs
        .iter()
        .map(|g| {
            // A position names an output column; a name that is also an output alias is the
            // input column (`SELECT -a AS a ... GROUP BY a` groups by the column a).
            let r = match g {
                Expr::Identifier(_) => g.clone(),
                _ => resolve_order(g, items),
            };
            if let Expr::Identifier(id) = &r
                && expr::lookup(names, &r).is_none()
            {
                let n = normalize(&id.value, id.quote_style.is_some());
                if let Some((_, x)) = items.iter().find(|(name, _)| *name == n) {
                    return x.clone();
                }
            }
            r
        })
        .collect()
}

pub(super) async fn materialize_if(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    e: &Expr,
    params: &[Datum],
    ctes: &Ctes,
) -> Result<Expr> {
    if contains_subquery(e) {
        materialize(ctx, txn, e, params, ctes).await
    } else {
        Ok(e.clone())
    }
}

pub(super) fn col_ref(pos: usize) -> Expr {
    Expr::Identifier(pg::Ident::new(format!("{}{pos}", expr::POSITIONAL)))
}

/// 42803 unless every column a grouped query's output, HAVING or ORDER BY uses outside an
/// aggregate is grouped: it is a GROUP BY expression, lies inside one, or belongs to a table
/// whose whole primary key is grouped (functional dependency). Subqueries are not looked into.
pub(super) fn check_grouping<'e>(
    exprs: impl Iterator<Item = &'e Expr>,
    group_exprs: &[Expr],
    names: &[String],
    input: &Relation,
) -> Result<()> {
    struct Mask<'g>(&'g [Expr]);
    impl pg::VisitorMut for Mask<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> std::ops::ControlFlow<()> {
            let masked = self.0.contains(e)
                || matches!(
                    e,
                    Expr::Subquery(_)
                        | Expr::Exists { .. }
                        | Expr::In {
                            target: pg::InTarget::Subquery(_),
                            ..
                        }
                );
            if masked {
                *e = Expr::Identifier(pg::Ident::new("__grouped"));
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let cols = GroupedCols::new(group_exprs, names, input);
    for e in exprs {
        let mut masked = e.clone();
        let _ = pg::VisitMut::visit(&mut masked, &mut Mask(group_exprs));
        let mut bad: Option<String> = None;
        let _ = pg::visit_expressions(&masked, |x| {
            if !matches!(x, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                return std::ops::ControlFlow::Continue(());
            }
            let text = x.to_string();
            if text.starts_with("__agg_") || text == "__grouped" {
                return std::ops::ControlFlow::Continue(());
            }
            if let Some(i) = expr::lookup(names, x)
                && !cols.allows(i)
            {
                bad = Some(text);
                return std::ops::ControlFlow::Break(());
            }
            std::ops::ControlFlow::Continue(())
        });
        if let Some(col) = bad {
            return Err(SqlError::new(
                SqlState("42803"),
                format!(
                    "column \"{col}\" must appear in the GROUP BY clause or be used in an aggregate function"
                ),
            ));
        }
    }
    Ok(())
}

/// The input columns a grouped query may use outside aggregates: the GROUP BY columns, and every
/// column of a table whose whole primary key is grouped (functional dependency).
pub(super) struct GroupedCols<'r> {
    grouped: std::collections::HashSet<usize>,
    determined: std::collections::HashSet<&'r str>,
    input: &'r Relation,
}

impl<'r> GroupedCols<'r> {
    pub(super) fn new(group_exprs: &[Expr], names: &[String], input: &'r Relation) -> Self {
        let grouped: std::collections::HashSet<usize> = group_exprs
            .iter()
            .filter_map(|g| expr::lookup(names, g))
            .collect();
        let mut determined = std::collections::HashSet::new();
        for c in &input.cols {
            if let Some(t) = &c.table
                && c.key
            {
                let all = input.cols.iter().enumerate().all(|(i, d)| {
                    !(d.key && d.table.as_deref() == Some(t.as_str())) || grouped.contains(&i)
                });
                if all {
                    determined.insert(t.as_str());
                }
            }
        }
        GroupedCols {
            grouped,
            determined,
            input,
        }
    }

    /// Whether input column `i` has one value per group (positions past the input's columns,
    /// the aggregates' results, do).
    pub(super) fn allows(&self, i: usize) -> bool {
        let Some(c) = self.input.cols.get(i) else {
            return true;
        };
        self.grouped.contains(&i)
            || c.table
                .as_deref()
                .is_some_and(|t| self.determined.contains(t))
    }
}

pub(super) fn static_type(e: &Expr, input: &Relation) -> SqlType {
    // A column reference (including `*`'s positional ones) has its column's type.
    if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
        && let Some(c) = expr::lookup(&input.scope_names(), e).and_then(|i| input.cols.get(i))
    {
        return c.ty;
    }
    // Anything else, aggregates included, is typed by the builtin registry's rules.
    let cols: Vec<(String, SqlType)> = (input.scope_names().into_iter())
        .zip(input.cols.iter().map(|c| c.ty))
        .collect();
    expr::infer_type(e, &cols)
}
