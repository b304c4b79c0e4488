//! Aggregates: extraction of aggregate calls from expressions (replaced by `__agg_<n>`
//! references) and their computation over a group's rows.

use crate::sql::error::{Result, SqlError};
use crate::sql::expr::{self, EvalContext, Row};
use crate::sql::sqlstate::SqlState;
use crate::sql::types::{Datum, SqlType};
use sqlparser::ast::{self as pg, Expr};

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
    Ok(match e {
        Expr::Function(f) if AGGREGATES.contains(&f.name.to_string().to_lowercase().as_str()) => {
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
                                return Err(SqlError::unsupported(format!(
                                    "aggregate argument {other}"
                                )));
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
            Expr::Identifier(pg::Ident::new(format!("__agg_{idx}")))
        }
        Expr::BinaryOp { left, op, right } => Expr::BinaryOp {
            left: Box::new(extract_aggs(left, aggs)?),
            op: op.clone(),
            right: Box::new(extract_aggs(right, aggs)?),
        },
        Expr::UnaryOp { op, expr: x } => Expr::UnaryOp {
            op: *op,
            expr: Box::new(extract_aggs(x, aggs)?),
        },
        Expr::Nested(x) => Expr::Nested(Box::new(extract_aggs(x, aggs)?)),
        Expr::Cast {
            kind,
            expr: x,
            data_type,
            format,
        } => Expr::Cast {
            kind: kind.clone(),
            expr: Box::new(extract_aggs(x, aggs)?),
            data_type: data_type.clone(),
            format: format.clone(),
        },
        Expr::IsNull(x) => Expr::IsNull(Box::new(extract_aggs(x, aggs)?)),
        Expr::IsNotNull(x) => Expr::IsNotNull(Box::new(extract_aggs(x, aggs)?)),
        Expr::Function(f) => {
            let mut f = f.clone();
            if let pg::FunctionArguments::List(l) = &mut f.args {
                for a in &mut l.args {
                    if let pg::FunctionArg::Unnamed(pg::FunctionArgExpr::Expr(x)) = a {
                        *x = extract_aggs(x, aggs)?;
                    }
                }
            }
            Expr::Function(f)
        }
        Expr::Case {
            case_token,
            end_token,
            operand,
            conditions,
            else_result,
        } => {
            let mut conds = Vec::new();
            for c in conditions {
                conds.push(pg::CaseWhen {
                    condition: extract_aggs(&c.condition, aggs)?,
                    result: extract_aggs(&c.result, aggs)?,
                });
            }
            Expr::Case {
                case_token: case_token.clone(),
                end_token: end_token.clone(),
                operand: operand
                    .as_ref()
                    .map(|o| extract_aggs(o, aggs).map(Box::new))
                    .transpose()?,
                conditions: conds,
                else_result: else_result
                    .as_ref()
                    .map(|o| extract_aggs(o, aggs).map(Box::new))
                    .transpose()?,
            }
        }
        other => other.clone(),
    })
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
