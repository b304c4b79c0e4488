//! Where a SELECT block runs its correlated subqueries (the running itself, per outer row, is
//! `materialize_correlated`'s).
//!
//! WHERE: the clause is split into conjuncts; the plain ones (with their uncorrelated subqueries
//! replaced by values) filter first and may choose the scan, the correlated ones run only for the
//! rows that remain ([`split_where`]).
//!
//! Aggregate and window-function arguments (`sum((SELECT ... WHERE i.k = o.k))`,
//! `first_value((SELECT ...)) OVER (...)`): aggregates and window functions evaluate their
//! arguments row by row on their own, where a subquery cannot run. So each correlated subquery
//! found in such an argument (outside nested subqueries) is run first, once per input row, bound
//! to the row as `materialize_correlated` does (results memoized by binding), and its value kept
//! in a hidden input column that the argument then names ([`hoist_correlated`]). Uncorrelated
//! subqueries are left to the usual materialization. The hidden columns are charged to the
//! statement's memory; an error of any per-row run fails the statement.
//!
//! GROUP BY (`GROUP BY (SELECT ... WHERE i.k = o.k)`): such an expression is computed the same
//! way, per input row into a hidden column, and the rows are grouped by that column
//! ([`group_by_subqueries`]); the select list, HAVING and ORDER BY name it where they repeat the
//! expression. HAVING, ORDER BY and select-list subqueries of a grouped query run once per group
//! with the group's values bound; an outer column they name must be grouped (42803).

use super::*;

/// The WHERE clause `w` split in two: its conjuncts with their uncorrelated subqueries replaced
/// by values, and (when some conjuncts are correlated) those conjuncts, to run per row.
pub(super) async fn split_where(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    w: Option<&Expr>,
    params: &[Datum],
    ctes: &Ctes,
) -> Result<(Option<Expr>, Option<Expr>)> {
    let Some(w) = w.filter(|w| contains_subquery(w)) else {
        return Ok((w.cloned(), None));
    };
    match materialize(ctx, txn, w, params, ctes).await {
        Ok(e) => return Ok((Some(e), None)),
        Err(e) if !is_correlated(&e) => return Err(e),
        Err(_) => {}
    }
    let (mut plain, mut correlated) = (Vec::new(), Vec::new());
    for c in conjuncts(w) {
        if !contains_subquery(c) {
            plain.push(c.clone());
            continue;
        }
        match materialize(ctx, txn, c, params, ctes).await {
            Ok(e) => plain.push(e),
            Err(e) if is_correlated(&e) => correlated.push(c.clone()),
            Err(e) => return Err(e),
        }
    }
    Ok((and_all(plain), and_all(correlated)))
}

/// The top-level AND operands of `e`.
pub(super) fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::BinaryOp {
            left,
            op: pg::BinaryOperator::And,
            right,
        } => {
            let mut v = conjuncts(left);
            v.extend(conjuncts(right));
            v
        }
        Expr::Nested(x)
            if matches!(
                x.as_ref(),
                Expr::BinaryOp {
                    op: pg::BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(x)
        }
        other => vec![other],
    }
}

/// `a AND b AND ...` (None for no operand).
pub(super) fn and_all(v: Vec<Expr>) -> Option<Expr> {
    v.into_iter().reduce(|a, b| Expr::BinaryOp {
        left: Box::new(a),
        op: pg::BinaryOperator::And,
        right: Box::new(b),
    })
}

/// Prefix of the hidden input columns holding hoisted subquery values.
const HOISTED: &str = "\u{1}sq_";

/// The select list with the correlated subqueries of aggregate and window arguments replaced by
/// hidden columns appended to `input` (see the module doc); `projection` itself when none.
pub(super) async fn hoist_correlated(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    projection: &[SelectItem],
    input: &mut Relation,
    params: &[Datum],
    ctes: &Ctes,
) -> Result<Vec<SelectItem>> {
    let mut forms: Vec<Expr> = Vec::new();
    for e in projection.iter().filter_map(item_expr) {
        collect_forms(e, &mut forms);
    }
    let mut hoisted = Vec::new();
    // Uncorrelated ones are run once here and replaced by their values: a select item that is
    // correlated elsewhere is evaluated per row later, and its window arguments are computed
    // before that, so they must hold no subquery.
    let mut subs: Vec<(Expr, Expr)> = Vec::new();
    for f in forms {
        match select::materialize_if(ctx, txn, &f, params, ctes).await {
            Ok(value) => subs.push((f, value)),
            Err(err) if is_correlated(&err) => hoisted.push(f),
            Err(err) => return Err(err),
        }
    }
    if hoisted.is_empty() && subs.is_empty() {
        return Ok(projection.to_vec());
    }
    if !hoisted.is_empty() {
        let columns = run_per_row(ctx, txn, &hoisted, input, params, ctes).await?;
        add_hidden_columns(input, HOISTED, columns);
    }
    for (i, f) in hoisted.into_iter().enumerate() {
        subs.push((f, Expr::Identifier(pg::Ident::new(format!("{HOISTED}{i}")))));
    }
    let mut out = projection.to_vec();
    for item in &mut out {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            let _ = walk::replace_outside_subqueries(e, |x| {
                if let Some((_, to)) = subs.iter().find(|(f, _)| f == x) {
                    *x = to.clone();
                }
                std::ops::ControlFlow::<()>::Continue(())
            });
        }
    }
    Ok(out)
}

/// Appends `columns` (type and one value per row) to `input` as hidden columns named
/// `<prefix><n>`.
fn add_hidden_columns(input: &mut Relation, prefix: &str, columns: Vec<(SqlType, Vec<Datum>)>) {
    for (i, (ty, values)) in columns.into_iter().enumerate() {
        input.cols.push(RelCol {
            table: None,
            name: format!("{prefix}{i}"),
            ty,
            hidden: true,
            typmod: Default::default(),
            key: false,
        });
        for (row, v) in input.rows.iter_mut().zip(values) {
            row.push(v);
        }
    }
}

/// Prefix of the hidden input columns holding correlated GROUP BY expressions.
const GROUP_HOISTED: &str = "\u{1}gq_";

/// GROUP BY expressions with their subqueries run: uncorrelated subqueries become values; an
/// expression with a correlated subquery is computed per input row into a hidden input column
/// (as aggregate arguments are, see the module doc) and grouped by. Returns the expressions to
/// group by and, for each hoisted one, the pair (expression, column reference) that the caller
/// substitutes where the select list, HAVING and ORDER BY repeat the expression.
pub(super) async fn group_by_subqueries(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    group_exprs: Vec<Expr>,
    input: &mut Relation,
    params: &[Datum],
    ctes: &Ctes,
) -> Result<(Vec<Expr>, Vec<(Expr, Expr)>)> {
    let mut hoisted = Vec::new();
    let mut out = Vec::with_capacity(group_exprs.len());
    for g in group_exprs {
        if !contains_subquery(&g) {
            out.push(g);
            continue;
        }
        match select::materialize_if(ctx, txn, &g, params, ctes).await {
            // In parentheses: the value of `GROUP BY (SELECT 1)` is a constant to group by,
            // not the position of a select item (which grouped by the aggregate `min(k)` in
            // position 1: 42803).
            Ok(m) => out.push(Expr::Nested(Box::new(m))),
            Err(err) if is_correlated(&err) => {
                let column =
                    Expr::Identifier(pg::Ident::new(format!("{GROUP_HOISTED}{}", hoisted.len())));
                hoisted.push((g, column.clone()));
                out.push(column);
            }
            Err(err) => return Err(err),
        }
    }
    if !hoisted.is_empty() {
        let forms: Vec<Expr> = hoisted.iter().map(|(g, _)| g.clone()).collect();
        let columns = run_per_row(ctx, txn, &forms, input, params, ctes).await?;
        add_hidden_columns(input, GROUP_HOISTED, columns);
    }
    Ok((out, hoisted))
}

/// `e` with every whole occurrence (outside subqueries) of a substituted expression replaced.
pub(super) fn substitute(e: &Expr, subs: &[(Expr, Expr)]) -> Expr {
    let mut out = e.clone();
    if subs.is_empty() {
        return out;
    }
    if let Some((_, to)) = subs.iter().find(|(from, _)| from == e) {
        return to.clone();
    }
    let _ = walk::replace_outside_subqueries(&mut out, |x| {
        if let Some((_, to)) = subs.iter().find(|(from, _)| from == x) {
            *x = to.clone();
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    out
}

/// The expression of a select item (none for wildcards).
fn item_expr(item: &SelectItem) -> Option<&Expr> {
    match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
        _ => None,
    }
}

/// Adds to `forms` the outermost subqueries inside the aggregate and window calls of `e` that
/// are not themselves inside a subquery.
fn collect_forms(e: &Expr, forms: &mut Vec<Expr>) {
    let _ = walk::with_depth(e, |x, depth| {
        if let Expr::Function(f) = x
            && depth == 0
            && (f.over.is_some() || aggregate::is_aggregate(&f.name.to_string().to_lowercase()))
        {
            for form in outermost_subqueries(x) {
                if !forms.contains(&form) {
                    forms.push(form);
                }
            }
        }
        std::ops::ControlFlow::Continue(())
    });
}

/// Each of `hoisted` run for every row of `input`: per subquery, its type and its values.
async fn run_per_row(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    hoisted: &[Expr],
    input: &Relation,
    params: &[Datum],
    ctes: &Ctes,
) -> Result<Vec<(SqlType, Vec<Datum>)>> {
    let names = input.scope_names();
    let types = input.col_types();
    let ectx = ectx(ctx, params);
    let mut states: Vec<Correlation> = hoisted.iter().map(|_| Correlation::default()).collect();
    let mut columns: Vec<(Option<SqlType>, Vec<Datum>)> = hoisted
        .iter()
        .map(|_| (None, Vec::with_capacity(input.rows.len())))
        .collect();
    for r in &input.rows {
        ctx.memory.check()?;
        let row = Row {
            names: &names,
            values: r,
        };
        let mut added = Vec::with_capacity(hoisted.len());
        for ((f, state), (ty, values)) in hoisted.iter().zip(&mut states).zip(&mut columns) {
            let outer = (names.as_slice(), types.as_slice(), r.as_slice());
            let m = materialize_correlated(ctx, txn, f, outer, params, ctes, state).await?;
            let v = expr::eval(&m, Some(&row), &ectx)?;
            if ty.is_none() {
                *ty = v.sql_type();
            }
            added.push(v.clone());
            values.push(v);
        }
        ctx.memory.charge(std::iter::once(&added))?;
    }
    // A column with no value to type it by: one run with the outer columns NULL types it.
    let nulls = vec![Datum::Null; names.len()];
    let mut out = Vec::with_capacity(columns.len());
    for (f, (ty, values)) in hoisted.iter().zip(columns) {
        let ty = match ty {
            Some(t) => t,
            None => {
                let mut state = Correlation::default();
                let outer = (names.as_slice(), types.as_slice(), nulls.as_slice());
                match materialize_correlated(ctx, txn, f, outer, params, ctes, &mut state).await {
                    Ok(m) => select::static_type(&m, input),
                    Err(_) => SqlType::String,
                }
            }
        };
        out.push((ty, values));
    }
    Ok(out)
}
