//! Aggregate accumulators: one aggregate call's running state over a group's rows, fed one row
//! at a time and finished into the aggregate's value.
//!
//! This is the only implementation of the aggregates: the materialising path (`compute_agg`,
//! over a group's rows in memory) and the streaming hash aggregation (`ops`, over rows as they
//! are read) both feed an [`Accumulator`]. Running sums, extremes and counts take constant
//! space; what an aggregate must keep (the inputs of `agg(x ORDER BY y)`, `string_agg`,
//! `array_agg`, the values seen by `DISTINCT`) is charged to the statement's memory account
//! when one is given (53200 beyond it). Errors a value causes are reported when the aggregate
//! finishes, exactly as the whole-group computation reports them (e.g. `sum` over DECIMAL and
//! FLOAT values is "unknown signature", a DECIMAL overflow is 22003 only if every input was
//! exact).

use super::aggregate::AggCall;
use crate::sql::error::{Result, SqlError};
use crate::sql::exec::MemoryAccount;
use crate::sql::expr::{self, EvalContext, Row};
use crate::sql::sqlstate::SqlState;
use crate::sql::types::{Datum, SqlType};
use rust_decimal::Decimal;

/// One aggregate call's state over the rows of one group.
#[derive(Debug)]
pub(super) struct Accumulator {
    /// Rows that passed the FILTER (the value of `count(*)`).
    rows: i64,
    /// `agg(DISTINCT x)`: the values fed so far (by SQL equality).
    seen: Option<std::collections::HashSet<String>>,
    /// `agg(x ORDER BY y)`: the values with their sort keys, fed in order at the end.
    ordered: Vec<(Vec<Datum>, Vec<Datum>)>,
    fold: Fold,
}

/// The running value of one aggregate over the non-NULL values fed to it.
#[derive(Debug)]
enum Fold {
    Count(i64),
    /// `sum`/`avg`: exact (DECIMAL) while every value is INT or DECIMAL, and in FLOAT alongside.
    Sum {
        n: i64,
        exact: bool,
        dec: Decimal,
        overflow: bool,
        float: f64,
        /// The type of the first value FLOAT summing refuses (e.g. a DECIMAL beside FLOATs).
        float_bad: Option<String>,
    },
    /// `min` (`max` false) or `max`.
    Extreme {
        max: bool,
        best: Option<Datum>,
    },
    /// `string_agg`, `array_agg`.
    Values(Vec<Datum>),
    /// `variance`, `stddev` and their forms: exact sums and Welford's running mean alongside.
    Dispersion {
        n: i64,
        exact: bool,
        sum: Decimal,
        squares: Decimal,
        overflow: bool,
        mean: f64,
        m2: f64,
        float_err: Option<SqlError>,
    },
    Bool {
        n: i64,
        any: bool,
        all: bool,
    },
    Unknown,
}

fn range_error() -> SqlError {
    SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range")
}

impl Accumulator {
    /// An empty accumulator for `a`.
    pub(super) fn new(a: &AggCall) -> Accumulator {
        let fold = match a.name.as_str() {
            "count" => Fold::Count(0),
            "sum" | "avg" => Fold::Sum {
                n: 0,
                exact: true,
                dec: Decimal::ZERO,
                overflow: false,
                float: 0.0,
                float_bad: None,
            },
            "min" | "max" => Fold::Extreme {
                max: a.name == "max",
                best: None,
            },
            "string_agg" | "array_agg" => Fold::Values(Vec::new()),
            "variance" | "var_samp" | "var_pop" | "stddev" | "stddev_samp" | "stddev_pop" => {
                Fold::Dispersion {
                    n: 0,
                    exact: true,
                    sum: Decimal::ZERO,
                    squares: Decimal::ZERO,
                    overflow: false,
                    mean: 0.0,
                    m2: 0.0,
                    float_err: None,
                }
            }
            "bool_and" | "every" | "bool_or" => Fold::Bool {
                n: 0,
                any: false,
                all: true,
            },
            _ => Fold::Unknown,
        };
        Accumulator {
            rows: 0,
            seen: a.distinct.then(Default::default),
            ordered: Vec::new(),
            fold,
        }
    }

    /// Feeds one input row (`names` are its columns); what must be kept is charged to
    /// `memory` when given.
    pub(super) fn add(
        &mut self,
        a: &AggCall,
        names: &[String],
        values: &[Datum],
        ectx: &EvalContext<'_>,
        memory: Option<&MemoryAccount>,
    ) -> Result<()> {
        let row = Row { names, values };
        if let Some(p) = &a.filter
            && expr::eval(p, Some(&row), ectx)? != Datum::Bool(true)
        {
            return Ok(());
        }
        self.rows += 1;
        let Some(arg) = &a.arg else {
            return Ok(());
        };
        if !a.order_by.is_empty() {
            let keys = a
                .order_by
                .iter()
                .map(|o| expr::eval(&o.expr, Some(&row), ectx))
                .collect::<Result<Vec<_>>>()?;
            let entry = (vec![expr::eval(arg, Some(&row), ectx)?], keys);
            if let Some(m) = memory {
                m.charge([&entry.0, &entry.1])?;
            }
            self.ordered.push(entry);
            return Ok(());
        }
        let v = expr::eval(arg, Some(&row), ectx)?;
        self.feed(a, v, memory)
    }

    /// Feeds one argument value, in input order.
    fn feed(&mut self, a: &AggCall, v: Datum, memory: Option<&MemoryAccount>) -> Result<()> {
        // array_agg keeps NULL inputs as NULL elements; the other aggregates skip them.
        if v.is_null() && a.name != "array_agg" {
            return Ok(());
        }
        if let Some(seen) = &mut self.seen {
            // SQL equality decides what is distinct (1.0 = 1.00, -0 = 0), as in GROUP BY.
            let key = super::hash_key(std::iter::once(&v));
            if let Some(m) = memory {
                m.charge([&vec![Datum::String(key.clone())]])?;
            }
            if !seen.insert(key) {
                return Ok(());
            }
        }
        if let (Fold::Values(_), Some(m)) = (&self.fold, memory) {
            m.charge([&vec![v.clone()]])?;
        }
        self.fold.push(v);
        Ok(())
    }

    /// The aggregate's value.
    pub(super) fn finish(mut self, a: &AggCall, ectx: &EvalContext<'_>) -> Result<Datum> {
        if a.arg.is_none() {
            return Ok(Datum::Int(self.rows));
        }
        if !self.ordered.is_empty() {
            let mut ordered = std::mem::take(&mut self.ordered);
            // A stable sort: rows with equal keys keep their input order.
            super::select::sort_rows(&mut ordered, &a.order_by);
            for (mut v, _) in ordered {
                self.feed(a, v.pop().unwrap_or(Datum::Null), None)?;
            }
        }
        self.fold.finish(a, ectx)
    }
}

impl Fold {
    fn push(&mut self, v: Datum) {
        match self {
            Fold::Count(n) => *n += 1,
            Fold::Sum {
                n,
                exact,
                dec,
                overflow,
                float,
                float_bad,
            } => {
                *n += 1;
                match &v {
                    Datum::Int(_) | Datum::Decimal(_) if *exact && !*overflow => {
                        match v.clone().coerce(SqlType::Decimal) {
                            Ok(Datum::Decimal(d)) => match dec.checked_add(d) {
                                Some(s) => *dec = s,
                                None => *overflow = true,
                            },
                            _ => *overflow = true,
                        }
                    }
                    Datum::Int(_) | Datum::Decimal(_) => {}
                    _ => *exact = false,
                }
                if float_bad.is_none() {
                    match &v {
                        Datum::Int(i) => *float += *i as f64,
                        Datum::Float(f) => *float += *f,
                        other => {
                            *float_bad = Some(
                                other
                                    .sql_type()
                                    .map_or("unknown", |t| t.name())
                                    .to_lowercase(),
                            )
                        }
                    }
                }
            }
            Fold::Extreme { max, best } => {
                *best = Some(match best.take() {
                    None => v,
                    Some(b) => {
                        let o = v.compare(&b).unwrap_or(std::cmp::Ordering::Equal);
                        if (!*max && o == std::cmp::Ordering::Less)
                            || (*max && o == std::cmp::Ordering::Greater)
                        {
                            v
                        } else {
                            b
                        }
                    }
                });
            }
            Fold::Values(vals) => vals.push(v),
            Fold::Dispersion {
                n,
                exact,
                sum,
                squares,
                overflow,
                mean,
                m2,
                float_err,
            } => {
                *n += 1;
                if matches!(v, Datum::Int(_) | Datum::Decimal(_)) {
                    if *exact && !*overflow {
                        let next = match v.clone().coerce(SqlType::Decimal) {
                            Ok(Datum::Decimal(d)) => d.checked_mul(d).and_then(|dd| {
                                Some((sum.checked_add(d)?, squares.checked_add(dd)?))
                            }),
                            _ => None,
                        };
                        match next {
                            Some((s, q)) => (*sum, *squares) = (s, q),
                            None => *overflow = true,
                        }
                    }
                } else {
                    *exact = false;
                }
                if float_err.is_none() {
                    match v.coerce(SqlType::Float) {
                        Ok(Datum::Float(x)) => {
                            let delta = x - *mean;
                            *mean += delta / *n as f64;
                            *m2 += delta * (x - *mean);
                        }
                        Ok(_) => *float_err = Some(SqlError::internal("float coercion")),
                        Err(e) => *float_err = Some(e),
                    }
                }
            }
            Fold::Bool { n, any, all } => {
                *n += 1;
                let b = matches!(v, Datum::Bool(true));
                *any |= b;
                *all &= b;
            }
            Fold::Unknown => {}
        }
    }

    fn finish(self, a: &AggCall, ectx: &EvalContext<'_>) -> Result<Datum> {
        let name = a.name.as_str();
        Ok(match self {
            Fold::Count(n) => Datum::Int(n),
            Fold::Sum {
                n,
                exact,
                dec,
                overflow,
                float,
                float_bad,
            } => {
                if n == 0 {
                    return Ok(Datum::Null);
                }
                // INT and DECIMAL inputs sum exactly as DECIMAL (CockroachDB: sum(INT) and
                // avg(INT) are DECIMAL, so a sum never overflows INT8); avg divides as DECIMAL
                // `/` does.
                if exact {
                    if overflow {
                        return Err(range_error());
                    }
                    return Ok(Datum::Decimal(if name == "avg" {
                        crate::sql::operators::decimal_div(dec, Decimal::from(n))?
                    } else {
                        dec
                    }));
                }
                if let Some(ty) = float_bad {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_FUNCTION,
                        format!("unknown signature: {name}({ty})"),
                    ));
                }
                Datum::Float(if name == "avg" {
                    float / n as f64
                } else {
                    float
                })
            }
            Fold::Extreme { best, .. } => best.unwrap_or(Datum::Null),
            Fold::Values(vals) => {
                if vals.is_empty() {
                    return Ok(Datum::Null);
                }
                if name == "array_agg" {
                    return Ok(Datum::Array(expr::unify_elements(vals)?));
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
            Fold::Dispersion {
                n,
                exact,
                sum,
                squares,
                overflow,
                mean: _,
                m2,
                float_err,
            } => {
                let population = name.ends_with("_pop");
                if n == 0 || (!population && n < 2) {
                    return Ok(Datum::Null);
                }
                let root = name.starts_with("stddev");
                if exact {
                    if overflow {
                        return Err(range_error());
                    }
                    return super::aggregate::exact_dispersion(n, sum, squares, population, root);
                }
                if let Some(e) = float_err {
                    return Err(e);
                }
                let var = m2 / if population { n as f64 } else { (n - 1) as f64 };
                Datum::Float(if root { var.sqrt() } else { var })
            }
            Fold::Bool { n, any, all } => {
                if n == 0 {
                    return Ok(Datum::Null);
                }
                Datum::Bool(if name == "bool_or" { any } else { all })
            }
            Fold::Unknown => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("unknown function: {name}()"),
                ));
            }
        })
    }
}
