//! Subqueries: uncorrelated ones are evaluated once and replaced by their values; correlated
//! ones are re-run per outer row with the row's values bound in (qualified outer references
//! always; bare ones only where they provably cannot name an inner column, see
//! [`materialize_correlated`]; a bare outer name used through a nested subquery is 0A000).
//! Correlated conjuncts of a WHERE clause run after the other conjuncts have filtered the rows,
//! and per-row results are memoized by their bound subquery (see [`Correlation`]).

use super::*;

/// Replaces uncorrelated subqueries in `e` by their values.
pub(super) fn materialize<'a>(
    ctx: &'a Ctx<'a>,
    txn: &'a mut Txn,
    e: &'a Expr,
    params: &'a [Datum],
    ctes: &'a Ctes,
) -> BoxFuture<'a, Result<Expr>> {
    Box::pin(async move {
        Ok(match e {
            Expr::Subquery(q) => {
                let rel = run_query(ctx, txn, q, params, ctes)
                    .await
                    .map_err(correlated)?;
                if rel.cols.len() != 1 {
                    return Err(SqlError::syntax(format!(
                        "subquery must return only one column, found {}",
                        rel.cols.len()
                    )));
                }
                if rel.rows.len() > 1 {
                    return Err(SqlError::new(
                        SqlState::SYNTAX_ERROR,
                        "more than one row returned by a subquery used as an expression",
                    )
                    .with_hint("scalar subqueries return at most one row"));
                }
                let value = rel
                    .rows
                    .first()
                    .map(|r| r[0].clone())
                    .unwrap_or(Datum::Null);
                typed_literal(value, rel.cols[0].ty)
            }
            Expr::Exists { subquery, negated } => {
                let rel = run_query(ctx, txn, subquery, params, ctes)
                    .await
                    .map_err(correlated)?;
                literal_expr(Datum::Bool(rel.rows.is_empty() == *negated))
            }
            Expr::In {
                expr: x,
                target: pg::InTarget::Subquery(q),
                negated,
                ..
            } => {
                let rel = run_query(ctx, txn, q, params, ctes)
                    .await
                    .map_err(correlated)?;
                let inner = materialize(ctx, txn, x, params, ctes).await?;
                let list: Vec<Expr> = rel
                    .rows
                    .into_iter()
                    .map(|r| literal_expr(r.into_iter().next().unwrap_or(Datum::Null)))
                    .collect();
                if list.is_empty() {
                    return Ok(literal_expr(Datum::Bool(*negated)));
                }
                Expr::In {
                    expr: Box::new(inner),
                    target: pg::InTarget::List(list),
                    negated: *negated,
                    global: false,
                }
            }
            // `x op ANY (SELECT ...)` / `ALL`: the subquery's column becomes an array.
            Expr::AnyOp {
                left,
                compare_op,
                right,
                is_some,
            } if matches!(right.as_ref(), Expr::Subquery(_)) => Expr::AnyOp {
                left: Box::new(materialize(ctx, txn, left, params, ctes).await?),
                compare_op: compare_op.clone(),
                right: Box::new(column_array(ctx, txn, right, params, ctes).await?),
                is_some: *is_some,
            },
            Expr::AllOp {
                left,
                compare_op,
                right,
            } if matches!(right.as_ref(), Expr::Subquery(_)) => Expr::AllOp {
                left: Box::new(materialize(ctx, txn, left, params, ctes).await?),
                compare_op: compare_op.clone(),
                right: Box::new(column_array(ctx, txn, right, params, ctes).await?),
            },
            // ARRAY(SELECT ...).
            Expr::Function(f)
                if matches!(f.args, pg::FunctionArguments::Subquery(_))
                    && f.name.to_string().eq_ignore_ascii_case("array") =>
            {
                let pg::FunctionArguments::Subquery(q) = &f.args else {
                    return Err(SqlError::internal("ARRAY subquery"));
                };
                column_array(ctx, txn, &Expr::Subquery(q.clone()), params, ctes).await?
            }
            Expr::BinaryOp { left, op, right } => Expr::BinaryOp {
                left: Box::new(materialize(ctx, txn, left, params, ctes).await?),
                op: op.clone(),
                right: Box::new(materialize(ctx, txn, right, params, ctes).await?),
            },
            Expr::UnaryOp { op, expr: x } => Expr::UnaryOp {
                op: *op,
                expr: Box::new(materialize(ctx, txn, x, params, ctes).await?),
            },
            Expr::Nested(x) => {
                Expr::Nested(Box::new(materialize(ctx, txn, x, params, ctes).await?))
            }
            Expr::IsNull(x) => {
                Expr::IsNull(Box::new(materialize(ctx, txn, x, params, ctes).await?))
            }
            Expr::IsNotNull(x) => {
                Expr::IsNotNull(Box::new(materialize(ctx, txn, x, params, ctes).await?))
            }
            // Anything else (CASE, function arguments, casts, ...): materialize the outermost
            // subqueries inside it and substitute their values.
            other => {
                let found = outermost_subqueries(other);
                if found.is_empty() {
                    return Ok(other.clone());
                }
                let mut values = Vec::with_capacity(found.len());
                for f in &found {
                    values.push(materialize(ctx, txn, f, params, ctes).await?);
                }
                let mut out = other.clone();
                let _ = pg::visit_expressions_mut(&mut out, |x| {
                    if let Some(i) = found.iter().position(|f| f == x) {
                        *x = values[i].clone();
                    }
                    std::ops::ControlFlow::<()>::Continue(())
                });
                out
            }
        })
    })
}

/// Whether `e` itself is a subquery form [`materialize`] evaluates.
fn is_subquery_form(e: &Expr) -> bool {
    match e {
        Expr::Subquery(_)
        | Expr::Exists { .. }
        | Expr::In {
            target: pg::InTarget::Subquery(_),
            ..
        } => true,
        Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } => {
            matches!(right.as_ref(), Expr::Subquery(_))
        }
        Expr::Function(f) => {
            matches!(f.args, pg::FunctionArguments::Subquery(_))
                && f.name.to_string().eq_ignore_ascii_case("array")
        }
        _ => false,
    }
}

/// The subquery forms inside `e` that are not themselves inside another one (nor `e`).
pub(super) fn outermost_subqueries(e: &Expr) -> Vec<Expr> {
    let mut all = Vec::new();
    let _ = pg::visit_expressions(e, |x| {
        if is_subquery_form(x) && x != e {
            all.push(x.clone());
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    let contains = |outer: &Expr, inner: &Expr| {
        let mut hit = false;
        let _ = pg::visit_expressions(outer, |x| {
            if x == inner && !std::ptr::eq(x, outer) {
                hit = true;
                return std::ops::ControlFlow::Break(());
            }
            std::ops::ControlFlow::Continue(())
        });
        hit
    };
    let mut out: Vec<Expr> = Vec::new();
    for (i, x) in all.iter().enumerate() {
        let nested = all
            .iter()
            .enumerate()
            .any(|(j, y)| i != j && y != x && contains(y, x));
        if !nested && !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

/// Runs the one-column subquery `e` and returns its values as an array literal.
async fn column_array<'a>(
    ctx: &'a Ctx<'a>,
    txn: &'a mut Txn,
    e: &'a Expr,
    params: &'a [Datum],
    ctes: &'a Ctes,
) -> Result<Expr> {
    let Expr::Subquery(q) = e else {
        return Ok(e.clone());
    };
    let rel = run_query(ctx, txn, q, params, ctes)
        .await
        .map_err(correlated)?;
    if rel.cols.len() != 1 {
        return Err(SqlError::syntax(format!(
            "subquery must return only one column, found {}",
            rel.cols.len()
        )));
    }
    let items: Vec<Datum> = rel
        .rows
        .into_iter()
        .map(|r| r.into_iter().next().unwrap_or(Datum::Null))
        .collect();
    if items.is_empty() {
        let ty = rel.cols[0].ty.array_of();
        return Ok(match ty {
            Some(t) => Expr::Cast {
                kind: pg::CastKind::DoubleColon,
                expr: Box::new(Expr::value(pg::Value::SingleQuotedString("{}".into()))),
                data_type: array_data_type(t),
                format: None,
            },
            None => literal_expr(Datum::Array(Vec::new())),
        });
    }
    Ok(literal_expr(Datum::Array(items)))
}

/// `d` as a literal; a NULL keeps the subquery column's type (`CAST(NULL AS t)`), so that the
/// result column is typed the same whether or not the subquery found a row.
fn typed_literal(d: Datum, ty: SqlType) -> Expr {
    if !matches!(d, Datum::Null) || ty == SqlType::String {
        return literal_expr(d);
    }
    let data_type = match ty {
        SqlType::Array(_) => array_data_type(ty),
        _ => scalar_data_type(ty),
    };
    Expr::Cast {
        kind: pg::CastKind::Cast,
        expr: Box::new(literal_expr(Datum::Null)),
        data_type,
        format: None,
    }
}

/// A parsed type naming array type `t` (for literals).
fn array_data_type(t: SqlType) -> pg::DataType {
    let elem = t.elem().unwrap_or(SqlType::String);
    pg::DataType::Array(pg::ArrayElemTypeDef::SquareBracket(
        Box::new(scalar_data_type(elem)),
        None,
    ))
}

/// A parsed type naming scalar type `t`.
fn scalar_data_type(t: SqlType) -> pg::DataType {
    match t {
        SqlType::Int => pg::DataType::Int8(None),
        SqlType::Float => pg::DataType::Float8,
        SqlType::Bool => pg::DataType::Bool,
        SqlType::Bytes => pg::DataType::Bytea,
        SqlType::Decimal => pg::DataType::Decimal(pg::ExactNumberInfo::None),
        SqlType::Uuid => pg::DataType::Uuid,
        SqlType::Timestamp => pg::DataType::Timestamp(None, pg::TimezoneInfo::None),
        SqlType::TimestampTz => pg::DataType::Timestamp(None, pg::TimezoneInfo::WithTimeZone),
        SqlType::Date => pg::DataType::Date,
        SqlType::Time => pg::DataType::Time(None, pg::TimezoneInfo::None),
        SqlType::Interval => pg::DataType::Interval {
            fields: None,
            precision: None,
        },
        SqlType::Jsonb => pg::DataType::JSONB,
        SqlType::String | SqlType::Array(_) => pg::DataType::Text,
    }
}

pub(super) fn correlated(e: SqlError) -> SqlError {
    if e.state == SqlState::UNDEFINED_COLUMN
        || (e.state == SqlState::UNDEFINED_TABLE && e.message.starts_with(expr::NO_DATA_SOURCE))
    {
        SqlError::unsupported(format!("correlated subqueries ({})", e.message))
    } else {
        e
    }
}

pub(super) fn is_correlated(e: &SqlError) -> bool {
    e.state == SqlState::FEATURE_NOT_SUPPORTED && e.message.contains("correlated")
}

/// What the per-row runs of one query block's correlated subqueries share: the bare outer names
/// learnt so far, and earlier results by their bound expression.
///
/// Two outer rows that bind the same values get the same result (the statement reads one
/// snapshot), so a bound expression that was run before is not run again. That turns the
/// rows-times-rows cost of a correlated subquery into distinct-bindings-times-rows, and nested
/// correlation from a product of table sizes into a product of distinct values. Expressions with a
/// volatile (or unknown) function are never memoized; results are kept up to [`MEMO_BYTES`] of
/// SQL text, after which new ones are not kept.
#[derive(Default)]
pub(super) struct Correlation {
    /// Per subquery form: the bare names found to be the outer query's columns in it (only in
    /// it: another subquery of the same expression may have a column of that name).
    bare: HashMap<Expr, Vec<String>>,
    memo: HashMap<Expr, Expr>,
    memo_bytes: usize,
    /// Per expression (set on its first row): whether its results may be memoized, and its
    /// outermost subquery forms.
    plans: HashMap<Expr, std::sync::Arc<(bool, Vec<Expr>)>>,
}

impl Correlation {
    /// The bare names found so far to be the outer query's columns in subquery form `form`.
    fn bare(&self, form: &Expr) -> &[String] {
        self.bare.get(form).map_or(&[], Vec::as_slice)
    }

    /// Runs `check` on each outermost subquery form of `e` with the bare outer names learnt for
    /// that form.
    pub(super) fn per_form(
        &self,
        e: &Expr,
        mut check: impl FnMut(&Expr, &[String]) -> Result<()>,
    ) -> Result<()> {
        let forms = if is_subquery_form(e) {
            vec![e.clone()]
        } else {
            outermost_subqueries(e)
        };
        forms.iter().try_for_each(|f| check(f, self.bare(f)))
    }
}

/// Size bound of a [`Correlation`]'s memo (bytes of the results' SQL text).
const MEMO_BYTES: usize = 16 << 20;

/// Whether `e` calls no volatile or unknown function (the same bindings give the same result).
pub(super) fn deterministic(e: &Expr) -> bool {
    let mut ok = true;
    let _ = pg::visit_expressions(e, |x| {
        if let Expr::Function(f) = x {
            let name = f.name.to_string();
            let volatile = crate::sql::functions::registry::lookup(&name).is_none_or(|b| {
                b.volatility == crate::sql::functions::registry::Volatility::Volatile
            });
            if volatile && !name.eq_ignore_ascii_case("array") {
                ok = false;
                return std::ops::ControlFlow::Break(());
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    ok
}

/// Runs the correlated subqueries of `e` for one outer row (its scope `names` and values) and
/// returns `e` with them replaced by their values (the rest of `e` is evaluated against the row
/// by the caller).
///
/// Each outermost subquery form is bound and run on its own, so the memo (see [`Correlation`])
/// keys on the outer values that form uses, not on the whole row. Qualified outer references
/// (`t.c`) are bound to the row's values. A bare outer reference (`c`) is bound only when every
/// subquery in `e` is a single SELECT without nested subqueries, the subquery itself reported
/// `c` as unknown, and the outer row has exactly one visible `c`: then `c` cannot name anything
/// inside. The names learnt are kept in `state`, per subquery, for later rows (another subquery
/// of `e` may have a column of the same name). Anything else stays unsupported
/// (0A000), never a guess.
pub(super) async fn materialize_correlated(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    e: &Expr,
    (names, types, row): (&[String], &[SqlType], &[Datum]),
    params: &[Datum],
    ctes: &Ctes,
    state: &mut Correlation,
) -> Result<Expr> {
    let plan = match state.plans.get(e) {
        Some(p) => p.clone(),
        None => {
            let forms = if is_subquery_form(e) {
                vec![e.clone()]
            } else {
                outermost_subqueries(e)
            };
            let p = std::sync::Arc::new((deterministic(e), forms));
            state.plans.insert(e.clone(), p.clone());
            p
        }
    };
    let (cacheable, forms) = (plan.0, &plan.1);
    let mut values = Vec::with_capacity(forms.len());
    for f in forms {
        values.push(
            materialize_form(
                ctx,
                txn,
                (e, f, cacheable),
                (names, types, row),
                params,
                ctes,
                state,
            )
            .await?,
        );
    }
    if let [only] = forms.as_slice()
        && only == e
    {
        return Ok(values.pop().unwrap_or_else(|| e.clone()));
    }
    let mut out = e.clone();
    let _ = pg::visit_expressions_mut(&mut out, |x| {
        if let Some(i) = forms.iter().position(|f| f == x) {
            *x = values[i].clone();
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    Ok(out)
}

/// One subquery form `f` of `e` for one outer row: bound, then taken from the memo or run
/// (and memoized when `cacheable`).
async fn materialize_form(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    (e, f, cacheable): (&Expr, &Expr, bool),
    (names, types, row): (&[String], &[SqlType], &[Datum]),
    params: &[Datum],
    ctes: &Ctes,
    state: &mut Correlation,
) -> Result<Expr> {
    loop {
        refuse_outer_aggregates(f, names, state.bare(f))?;
        let bound = bind_outer(f, (names, types, row), state.bare(f));
        if let Some(hit) = state.memo.get(&bound) {
            return Ok(hit.clone());
        }
        let err = match materialize(ctx, txn, &bound, params, ctes).await {
            Ok(m) => {
                if cacheable && state.memo_bytes < MEMO_BYTES {
                    state.memo_bytes += m.to_string().len() + bound.to_string().len();
                    state.memo.insert(bound, m.clone());
                }
                return Ok(m);
            }
            Err(err) => err,
        };
        if !is_correlated(&err) || !single_level_subqueries(e) {
            return Err(err);
        }
        let Some(missing) = missing_column(&err.message) else {
            return Err(err);
        };
        let visible = names
            .iter()
            .filter(|n| !n.starts_with(expr::HIDDEN))
            .filter(|n| n.rsplit_once('.').map_or(n.as_str(), |(_, c)| c) == missing)
            .count();
        if visible != 1 || state.bare(f).contains(&missing) {
            return Err(err);
        }
        state.bare.entry(f.clone()).or_default().push(missing);
    }
}

/// The column named by a correlated-subquery error (`... (column "c" does not exist)`).
fn missing_column(message: &str) -> Option<String> {
    let rest = message.split_once("column \"")?.1;
    Some(rest.split_once('"')?.0.to_string())
}

/// Whether every subquery in `e` is one SELECT with no subquery of its own.
fn single_level_subqueries(e: &Expr) -> bool {
    let mut ok = true;
    let _ = pg::visit_expressions(e, |x| {
        let q = match x {
            Expr::Subquery(q) | Expr::Exists { subquery: q, .. } => Some(q),
            Expr::In {
                target: pg::InTarget::Subquery(q),
                ..
            } => Some(q),
            _ => None,
        };
        if let Some(q) = q {
            let text = q.to_string().to_ascii_uppercase();
            if text.matches("SELECT").count() != 1 || q.with.is_some() {
                ok = false;
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    ok
}

/// Replaces references to the outer row's qualified columns (`t.c` present in `names`), and the
/// bare names in `bare`, by their values, so a correlated subquery can run for that row. A NULL
/// keeps its column's type (from `types`, where known), so the subquery resolves functions and
/// types its result as it would for a value (`date_trunc('month', CAST(NULL AS TIMESTAMP))`).
fn bind_outer(
    e: &Expr,
    (names, types, row): (&[String], &[SqlType], &[Datum]),
    bare: &[String],
) -> Expr {
    let mut out = e.clone();
    let scope = OuterScope::new(names, bare, e);
    let _ = pg::visit_expressions_mut(&mut out, |x| {
        if let Some(pos) = scope.position(x) {
            *x = match types.get(pos) {
                Some(ty) => typed_literal(row[pos].clone(), *ty),
                None => literal_expr(row[pos].clone()),
            };
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    out
}

/// The outer row's columns as a subquery form sees them: `names`, the bare names found to be the
/// outer query's in it, and the table names and aliases the form's own queries define (a
/// qualified `t.c` whose `t` the subquery defines names the subquery's table: scoping goes
/// innermost first).
struct OuterScope<'a> {
    names: &'a [String],
    bare: &'a [String],
    shadowed: Vec<String>,
}

impl<'a> OuterScope<'a> {
    fn new(names: &'a [String], bare: &'a [String], form: &Expr) -> Self {
        OuterScope {
            names,
            bare,
            shadowed: inner_relations(form),
        }
    }

    /// The position in `names` of the outer column `x` refers to, if it is one.
    fn position(&self, x: &Expr) -> Option<usize> {
        if let Expr::CompoundIdentifier(parts) = x
            && let [.., qualifier, _] = parts.as_slice()
            && self.shadowed.contains(&normalize(
                &qualifier.value,
                qualifier.quote_style.is_some(),
            ))
        {
            return None;
        }
        outer_position(x, self.names, self.bare)
    }
}

/// The names (alias, else table name) of the relations the queries inside `form` read from.
fn inner_relations(form: &Expr) -> Vec<String> {
    struct Relations(Vec<String>);
    impl pg::Visitor for Relations {
        type Break = ();
        fn pre_visit_table_factor(&mut self, tf: &TableFactor) -> std::ops::ControlFlow<()> {
            let alias = match tf {
                TableFactor::Table { name, alias, .. } => {
                    if alias.is_none()
                        && let Some(last) = name.0.last().and_then(|p| p.as_ident())
                    {
                        self.0
                            .push(normalize(&last.value, last.quote_style.is_some()));
                    }
                    alias
                }
                TableFactor::Derived { alias, .. }
                | TableFactor::TableFunction { alias, .. }
                | TableFactor::Function { alias, .. }
                | TableFactor::UNNEST { alias, .. }
                | TableFactor::NestedJoin { alias, .. } => alias,
                _ => &None,
            };
            if let Some(a) = alias {
                self.0
                    .push(normalize(&a.name.value, a.name.quote_style.is_some()));
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut v = Relations(Vec::new());
    let _ = pg::Visit::visit(form, &mut v);
    v.0
}

/// The position in `names` of the outer column `x` refers to: a qualified `t.c` in `names`, or a
/// bare name found to be the outer query's (`bare`).
fn outer_position(x: &Expr, names: &[String], bare: &[String]) -> Option<usize> {
    match x {
        Expr::Identifier(i) if !bare.is_empty() => {
            let n = normalize(&i.value, i.quote_style.is_some());
            if !bare.contains(&n) {
                return None;
            }
            names.iter().position(|c| {
                !c.starts_with(expr::HIDDEN)
                    && c.rsplit_once('.').map_or(c.as_str(), |(_, col)| col) == n
            })
        }
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let full = expr::qualified_name(parts);
            // A column merged by JOIN ... USING stays reachable qualified (hidden in `names`).
            names
                .iter()
                .position(|n| *n == full || n.strip_prefix(expr::HIDDEN).is_some_and(|h| h == full))
        }
        _ => None,
    }
}

/// 42803 when a subquery inside `e` names an outer column that `grouped` refuses: in a grouped
/// query a subquery runs once per group, where only grouped columns (and those a grouped
/// primary key determines) have one value (PostgreSQL: "subquery uses ungrouped column ...").
pub(super) fn refuse_ungrouped_outer(
    e: &Expr,
    names: &[String],
    bare: &[String],
    grouped: impl Fn(usize) -> bool,
) -> Result<()> {
    let mut bad = None;
    let scope = OuterScope::new(names, bare, e);
    let _ = super::walk::with_depth(e, |x, depth| {
        if depth > 0
            && let Some(pos) = scope.position(x)
            && !grouped(pos)
        {
            bad = Some(x.to_string());
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    });
    match bad {
        Some(col) => Err(SqlError::new(
            SqlState("42803"),
            format!("subquery uses ungrouped column \"{col}\" from outer query"),
        )),
        None => Ok(()),
    }
}

/// Refuses (0A000) an aggregate inside a subquery of `e` whose arguments refer only to the outer
/// query's columns: SQL makes that an aggregate of the outer query (`SELECT (SELECT max(o.v) FROM
/// i) FROM o` is one group over `o`), which per-row evaluation would silently get wrong.
pub(super) fn refuse_outer_aggregates(e: &Expr, names: &[String], bare: &[String]) -> Result<()> {
    let mut found = None;
    let _ = pg::visit_expressions(e, |q| {
        if is_subquery_form(q) {
            found = outer_aggregate(q, names, bare);
        }
        match found {
            Some(_) => std::ops::ControlFlow::Break(()),
            None => std::ops::ControlFlow::Continue(()),
        }
    });
    match found {
        Some(agg) => Err(SqlError::unsupported(format!(
            "aggregate {agg} of only outer-query columns inside a subquery"
        ))),
        None => Ok(()),
    }
}

/// The first aggregate call in `q` whose arguments name columns, all of them the outer query's
/// (PostgreSQL's rule: an aggregate belongs to the level of its arguments' columns). Columns
/// inside a nested subquery of the arguments count when they are the outer query's; the others
/// there may be that subquery's own and are not counted.
fn outer_aggregate(q: &Expr, names: &[String], bare: &[String]) -> Option<String> {
    let mut found = None;
    let scope = OuterScope::new(names, bare, q);
    let _ = pg::visit_expressions(q, |x| {
        if let Expr::Function(f) = x
            && f.over.is_none()
            && super::aggregate::is_aggregate(&f.name.to_string().to_lowercase())
        {
            let (mut outer, mut inner) = (0, 0);
            let _ = super::walk::with_depth(&f.args, |a, depth| {
                if matches!(a, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                    match scope.position(a) {
                        Some(_) => outer += 1,
                        None if depth == 0 => inner += 1,
                        None => {}
                    }
                }
                std::ops::ControlFlow::Continue(())
            });
            if outer > 0 && inner == 0 {
                found = Some(x.to_string());
                return std::ops::ControlFlow::Break(());
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    found
}

pub(super) fn contains_subquery(e: &Expr) -> bool {
    let s = e.to_string().to_ascii_uppercase();
    s.contains("SELECT ")
}

/// A literal expression for a value.
pub fn literal_expr(d: Datum) -> Expr {
    let v = match d {
        Datum::Null => pg::Value::Null,
        Datum::Int(i) => pg::Value::Number(i.to_string(), false),
        // Always a cast: a bare `2.5` would be a DECIMAL literal (and round differently).
        Datum::Float(f) => {
            return Expr::Cast {
                kind: pg::CastKind::DoubleColon,
                expr: Box::new(Expr::value(pg::Value::SingleQuotedString(
                    if f.is_finite() {
                        format!("{f:?}")
                    } else {
                        crate::sql::types::format_float(f)
                    },
                ))),
                data_type: pg::DataType::Float8,
                format: None,
            };
        }
        Datum::String(s) => pg::Value::SingleQuotedString(s),
        Datum::Bool(b) => pg::Value::Boolean(b),
        Datum::Array(items) if !items.is_empty() => {
            return Expr::Array(pg::Array {
                elem: items.into_iter().map(literal_expr).collect(),
                named: true,
            });
        }
        Datum::Array(_) => {
            return Expr::Cast {
                kind: pg::CastKind::DoubleColon,
                expr: Box::new(Expr::value(pg::Value::SingleQuotedString("{}".into()))),
                data_type: array_data_type(SqlType::Array(crate::sql::types::ElemType::String)),
                format: None,
            };
        }
        other @ (Datum::Decimal(_)
        | Datum::Uuid(_)
        | Datum::Timestamp(_)
        | Datum::TimestampTz(_)
        | Datum::Date(_)
        | Datum::Time(_)
        | Datum::Interval { .. }
        | Datum::Json(_)) => {
            let data_type = scalar_data_type(other.sql_type().unwrap_or(SqlType::String));
            return Expr::Cast {
                kind: pg::CastKind::DoubleColon,
                expr: Box::new(Expr::value(pg::Value::SingleQuotedString(
                    other.to_text().unwrap_or_default(),
                ))),
                data_type,
                format: None,
            };
        }
        Datum::Bytes(b) => {
            return Expr::Cast {
                kind: pg::CastKind::DoubleColon,
                expr: Box::new(Expr::value(pg::Value::SingleQuotedString(
                    Datum::Bytes(b).to_text().unwrap_or_default(),
                ))),
                data_type: pg::DataType::Bytea,
                format: None,
            };
        }
    };
    Expr::value(v)
}
