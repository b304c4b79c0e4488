//! Aggregates: extraction of aggregate calls from expressions (replaced by `__agg_<n>`
//! references) and their computation over a group's rows.

use crate::sql::error::{Result, SqlError};
use crate::sql::expr::{self, EvalContext, Row};
use crate::sql::sqlstate::SqlState;
use crate::sql::types::{Datum, SqlType};
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
    struct Find {
        depth: usize,
    }
    impl pg::Visitor for Find {
        type Break = ();
        fn pre_visit_query(&mut self, _q: &pg::Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &pg::Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::Function(f)
                    if self.depth == 0
                        && f.over.is_none()
                        && is_aggregate(&f.name.to_string().to_lowercase()) =>
                {
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    pg::Visit::visit(e, &mut Find { depth: 0 }).is_break()
}

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "string_agg",
    "array_agg",
    "bool_and",
    "bool_or",
    "every",
];

/// Replaces aggregate calls in `e` by `__agg_<n>` identifiers, collecting them.
/// Whether `name` (lower case) is an aggregate function.
pub(super) fn is_aggregate(name: &str) -> bool {
    AGGREGATES.contains(&name)
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

pub(super) fn compute_agg(
    a: &AggCall,
    rows: &[&Vec<Datum>],
    names: &[String],
    ectx: &EvalContext<'_>,
) -> Result<Datum> {
    let filtered: Vec<&Vec<Datum>>;
    let rows = match &a.filter {
        Some(p) => {
            let mut keep = Vec::with_capacity(rows.len());
            for r in rows {
                if expr::eval(p, Some(&Row { names, values: r }), ectx)? == Datum::Bool(true) {
                    keep.push(*r);
                }
            }
            filtered = keep;
            &filtered[..]
        }
        None => rows,
    };
    let Some(arg) = &a.arg else {
        return Ok(Datum::Int(rows.len() as i64));
    };
    // ORDER BY inside the call: feed the rows in that order.
    let mut ordered: Vec<&Vec<Datum>> = rows.to_vec();
    if !a.order_by.is_empty() {
        let order: Vec<Expr> = a.order_by.iter().map(|o| o.expr.clone()).collect();
        let mut keyed = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            let row = Row { names, values: r };
            let keys = order
                .iter()
                .map(|e| expr::eval(e, Some(&row), ectx))
                .collect::<Result<Vec<_>>>()?;
            keyed.push((vec![Datum::Int(i as i64)], keys));
        }
        super::select::sort_rows(&mut keyed, &a.order_by);
        ordered = keyed
            .iter()
            .filter_map(|(i, _)| match i.first() {
                Some(Datum::Int(i)) => rows.get(*i as usize).copied(),
                _ => None,
            })
            .collect();
    }
    let mut vals = Vec::new();
    for r in ordered {
        let v = expr::eval(arg, Some(&Row { names, values: r }), ectx)?;
        // array_agg keeps NULL inputs as NULL elements; the other aggregates skip them.
        if !v.is_null() || a.name == "array_agg" {
            vals.push(v);
        }
    }
    if a.distinct {
        let mut seen = std::collections::HashSet::new();
        vals.retain(|v| seen.insert(format!("{v:?}")));
    }
    Ok(match a.name.as_str() {
        "count" => Datum::Int(vals.len() as i64),
        "sum" | "avg" => {
            if vals.is_empty() {
                return Ok(Datum::Null);
            }
            // INT and DECIMAL inputs sum exactly as DECIMAL (CockroachDB: sum(INT) and avg(INT)
            // are DECIMAL, so a sum never overflows INT8); avg divides as DECIMAL `/` does.
            if vals
                .iter()
                .all(|v| matches!(v, Datum::Decimal(_) | Datum::Int(_)))
            {
                let mut acc = rust_decimal::Decimal::ZERO;
                for v in &vals {
                    if let Datum::Decimal(d) = v.clone().coerce(SqlType::Decimal)? {
                        acc = acc.checked_add(d).ok_or_else(|| {
                            SqlError::new(
                                SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                                "value out of range",
                            )
                        })?;
                    }
                }
                return Ok(Datum::Decimal(if a.name == "avg" {
                    crate::sql::operators::decimal_div(
                        acc,
                        rust_decimal::Decimal::from(vals.len() as i64),
                    )?
                } else {
                    acc
                }));
            } else {
                let mut s = 0.0;
                for v in &vals {
                    s += match v {
                        Datum::Int(i) => *i as f64,
                        Datum::Float(f) => *f,
                        other => {
                            return Err(SqlError::new(
                                SqlState::UNDEFINED_FUNCTION,
                                format!(
                                    "unknown signature: {}({})",
                                    a.name,
                                    other
                                        .sql_type()
                                        .map_or("unknown", |t| t.name())
                                        .to_lowercase()
                                ),
                            ));
                        }
                    };
                }
                if a.name == "avg" {
                    Datum::Float(s / vals.len() as f64)
                } else {
                    Datum::Float(s)
                }
            }
        }
        "min" | "max" => {
            let mut best: Option<Datum> = None;
            for v in vals {
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let o = v.compare(&b).unwrap_or(std::cmp::Ordering::Equal);
                        if (a.name == "min" && o == std::cmp::Ordering::Less)
                            || (a.name == "max" && o == std::cmp::Ordering::Greater)
                        {
                            v
                        } else {
                            b
                        }
                    }
                });
            }
            best.unwrap_or(Datum::Null)
        }
        "string_agg" => {
            if vals.is_empty() {
                return Ok(Datum::Null);
            }
            let sep = match &a.separator {
                Some(s) => expr::eval(s, None, ectx)?.to_text().unwrap_or_default(),
                None => {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_FUNCTION,
                        "unknown signature: string_agg(string)",
                    ));
                }
            };
            Datum::String(
                vals.iter()
                    .map(|v| v.to_text().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(&sep),
            )
        }
        "array_agg" => {
            if vals.is_empty() {
                return Ok(Datum::Null);
            }
            Datum::Array(expr::unify_elements(vals)?)
        }
        "bool_and" | "every" | "bool_or" => {
            if vals.is_empty() {
                return Ok(Datum::Null);
            }
            let bools: Vec<bool> = vals
                .iter()
                .map(|v| matches!(v, Datum::Bool(true)))
                .collect();
            Datum::Bool(if a.name == "bool_or" {
                bools.iter().any(|b| *b)
            } else {
                bools.iter().all(|b| *b)
            })
        }
        other => {
            return Err(SqlError::new(
                SqlState::UNDEFINED_FUNCTION,
                format!("unknown function: {other}()"),
            ));
        }
    })
}
