//! Aggregates: extraction of aggregate calls from expressions (replaced by `__agg_<n>`
//! references) and their computation over a group's rows.

use crate::sql::error::{Result, SqlError};
use crate::sql::expr::EvalContext;
use crate::sql::sqlstate::SqlState;
use crate::sql::types::Datum;
use sqlparser::ast::{self as pg, Expr};
use std::ops::ControlFlow;

#[derive(Clone, Debug)]
pub(super) struct AggCall {
    pub(super) name: String,
    pub(super) distinct: bool,
    pub(super) arg: Option<Expr>,
    pub(super) separator: Option<Expr>,
    /// `agg(x ORDER BY y)`: the order the inputs are fed in.
    pub(super) order_by: Vec<pg::OrderByExpr>,
    /// `agg(x) FILTER (WHERE p)`: only rows where `p` is true are aggregated.
    pub(super) filter: Option<Expr>,
}

impl AggCall {
    /// Whether an argument, the ORDER BY or the FILTER holds another aggregate call (42803).
    fn args_contain_aggregate(&self) -> bool {
        self.arg
            .iter()
            .chain(self.separator.iter())
            .chain(self.filter.iter())
            .chain(self.order_by.iter().map(|o| &o.expr))
            .any(contains_aggregate)
    }
}

/// Whether `e` calls an aggregate outside its subqueries.
fn contains_aggregate(e: &Expr) -> bool {
    super::walk::with_depth(e, |x, depth| match x {
        Expr::Function(f)
            if depth == 0
                && f.over.is_none()
                && is_aggregate(&f.name.to_string().to_lowercase()) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Replaces aggregate calls in `e` by `__agg_<n>` identifiers, collecting them.
/// Whether `name` (lower case) is an aggregate function.
pub(super) fn is_aggregate(name: &str) -> bool {
    crate::sql::functions::registry::is(name, crate::sql::functions::registry::Class::Aggregate)
}

pub(super) fn extract_aggs(e: &Expr, aggs: &mut Vec<(String, AggCall)>) -> Result<Expr> {
    let mut out = e.clone();
    let mut v = Extract { aggs, depth: 0 };
    match pg::VisitMut::visit(&mut out, &mut v) {
        ControlFlow::Break(err) => Err(err),
        ControlFlow::Continue(()) => Ok(out),
    }
}

/// The walk behind [`extract_aggs`]: every expression kind is visited (sqlparser's visitor),
/// except the insides of subqueries, whose aggregates belong to them, and of the aggregate
/// calls it replaces.
struct Extract<'a> {
    aggs: &'a mut Vec<(String, AggCall)>,
    /// Subqueries entered.
    depth: usize,
}

impl pg::VisitorMut for Extract<'_> {
    type Break = SqlError;

    fn pre_visit_query(&mut self, _q: &mut pg::Query) -> ControlFlow<SqlError> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &mut pg::Query) -> ControlFlow<SqlError> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<SqlError> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        if let Expr::Function(f) = &*e
            && f.over.is_none()
            && is_aggregate(&f.name.to_string().to_lowercase())
        {
            match aggregate_ref(e, f, self.aggs) {
                Ok(r) => *e = r,
                Err(err) => return ControlFlow::Break(err),
            }
        }
        ControlFlow::Continue(())
    }
}

/// The `__agg_<n>` reference for the aggregate call `e` (= `f`), recording it in `aggs`.
fn aggregate_ref(e: &Expr, f: &pg::Function, aggs: &mut Vec<(String, AggCall)>) -> Result<Expr> {
    let key = e.to_string();
    let idx = match aggs.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            let name = f.name.to_string().to_lowercase();
            let mut order_by = Vec::new();
            let (distinct, args) = match &f.args {
                pg::FunctionArguments::List(l) => {
                    for clause in &l.clauses {
                        match clause {
                            pg::FunctionArgumentClause::OrderBy(o) => {
                                order_by.extend(o.iter().cloned())
                            }
                            other => {
                                return Err(SqlError::unsupported(format!(
                                    "{other} in an aggregate"
                                )));
                            }
                        }
                    }
                    (
                        matches!(
                            l.duplicate_treatment,
                            Some(pg::DuplicateTreatment::Distinct)
                        ),
                        l.args.clone(),
                    )
                }
                pg::FunctionArguments::None => (false, Vec::new()),
                pg::FunctionArguments::Subquery(_) => {
                    return Err(SqlError::unsupported("subquery aggregate arguments"));
                }
            };
            let mut exprs = Vec::new();
            let mut star = false;
            for a in args {
                match a {
                    pg::FunctionArg::Unnamed(pg::FunctionArgExpr::Expr(x)) => exprs.push(x),
                    pg::FunctionArg::Unnamed(pg::FunctionArgExpr::Wildcard) => star = true,
                    other => {
                        return Err(SqlError::unsupported(format!("aggregate argument {other}")));
                    }
                }
            }
            if star && name != "count" {
                return Err(SqlError::syntax(format!("{name}(*) is not valid")));
            }
            let arg = exprs.first().cloned();
            if arg.is_none() && !star {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("unknown signature: {name}()"),
                ));
            }
            let separator = exprs.get(1).cloned();
            aggs.push((
                key,
                AggCall {
                    name,
                    distinct,
                    arg,
                    separator,
                    order_by,
                    filter: f.filter.as_deref().cloned(),
                },
            ));
            aggs.len() - 1
        }
    };
    if let Some((_, call)) = aggs.get(idx)
        && call.args_contain_aggregate()
    {
        return Err(SqlError::new(
            SqlState("42803"),
            "aggregate function calls cannot be nested",
        ));
    }
    Ok(Expr::Identifier(pg::Ident::new(format!("__agg_{idx}"))))
}

/// The value of the aggregate `a` over a group's `rows` (see [`super::accumulate`]).
pub(super) fn compute_agg(
    a: &AggCall,
    rows: &[&Vec<Datum>],
    names: &[String],
    ectx: &EvalContext<'_>,
) -> Result<Datum> {
    let mut acc = super::accumulate::Accumulator::new(a);
    for r in rows {
        acc.add(a, names, r, ectx, None)?;
    }
    acc.finish(a, ectx)
}

/// `variance`/`var_samp`, `var_pop`, `stddev`/`stddev_samp`, `stddev_pop` of `n` INT or DECIMAL
/// values (n·Σx² − (Σx)² over n(n−1) or n², divided in CockroachDB's 20-digit context; the
/// square root refined by Newton steps in that context).
pub(super) fn exact_dispersion(
    n: i64,
    sum: rust_decimal::Decimal,
    squares: rust_decimal::Decimal,
    population: bool,
    root: bool,
) -> Result<Datum> {
    use rust_decimal::Decimal;
    let range = || SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range");
    let count = Decimal::from(n);
    let numerator = count
        .checked_mul(squares)
        .and_then(|a| sum.checked_mul(sum).and_then(|b| a.checked_sub(b)))
        .ok_or_else(range)?;
    let denominator = if population {
        count.checked_mul(count)
    } else {
        count.checked_mul(count - Decimal::ONE)
    }
    .ok_or_else(range)?;
    let var = crate::sql::operators::decimal_div(numerator, denominator)?.max(Decimal::ZERO);
    if !root {
        return Ok(Datum::Decimal(var));
    }
    Ok(Datum::Decimal(decimal_sqrt(var)?))
}

/// The square root of a non-negative DECIMAL in the 20-digit division context.
fn decimal_sqrt(x: rust_decimal::Decimal) -> Result<rust_decimal::Decimal> {
    use rust_decimal::Decimal;
    use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
    if x.is_zero() {
        return Ok(Decimal::ZERO);
    }
    let estimate = x.to_f64().map(f64::sqrt).and_then(Decimal::from_f64);
    let mut r = estimate.filter(|e| !e.is_zero()).unwrap_or(Decimal::ONE);
    let two = Decimal::from(2);
    for _ in 0..8 {
        let next =
            crate::sql::operators::decimal_div(r + crate::sql::operators::decimal_div(x, r)?, two)?;
        if next == r {
            break;
        }
        r = next;
    }
    Ok(r.normalize())
}
