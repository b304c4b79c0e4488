//! Built-in SQL functions: the [`registry`] (every builtin's class, volatility, overloads and
//! implementation: the one place that knows them), the dispatcher [`call`] that evaluates a
//! scalar builtin through it, and the implementations by area (`catalog`, `strings`, `math`,
//! `conditional`, `datetime`, `json`, `ids`, `arrays`, each registering its own builtins) plus
//! `EXTRACT`. Unknown functions and argument counts no overload takes are 42883; wrong argument
//! types never panic.

use super::error::{Result, SqlError};
use super::expr::{EvalContext, version_string};
use super::operators::{binary, compare};
use super::sqlstate::SqlState;
use super::types::{Datum, ElemType, SqlType};
use sqlparser::ast::BinaryOperator;

pub(crate) fn extract(field: &str, v: &Datum) -> Result<Datum> {
    use chrono::{Datelike, Timelike};
    let micros = match v {
        Datum::Null => return Ok(Datum::Null),
        Datum::Interval {
            months,
            days,
            micros,
        } if field == "epoch" => {
            // PostgreSQL: a month is 30 days, a day 24 hours.
            let secs = f64::from(*months) * 30.0 * 86_400.0
                + f64::from(*days) * 86_400.0
                + *micros as f64 / 1e6;
            return Ok(Datum::Float(secs));
        }
        Datum::Timestamp(t) | Datum::TimestampTz(t) => *t,
        Datum::Date(d) => i64::from(*d) * 86_400_000_000,
        other => {
            return Err(SqlError::new(
                SqlState::UNDEFINED_FUNCTION,
                format!(
                    "unknown signature: extract(string, {})",
                    other
                        .sql_type()
                        .map_or("unknown", |t| t.name())
                        .to_lowercase()
                ),
            ));
        }
    };
    let dt = chrono::DateTime::from_timestamp_micros(micros).ok_or_else(|| {
        SqlError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "timestamp out of range",
        )
    })?;
    Ok(match field {
        "year" => Datum::Float(f64::from(dt.year())),
        "month" => Datum::Float(f64::from(dt.month())),
        "day" => Datum::Float(f64::from(dt.day())),
        "hour" => Datum::Float(f64::from(dt.hour())),
        "minute" => Datum::Float(f64::from(dt.minute())),
        "second" => Datum::Float(f64::from(dt.second()) + f64::from(dt.nanosecond()) / 1e9),
        "dow" => Datum::Float(f64::from(dt.weekday().num_days_from_sunday())),
        "doy" => Datum::Float(f64::from(dt.ordinal())),
        "epoch" => Datum::Float(micros as f64 / 1e6),
        "quarter" => Datum::Float(f64::from((dt.month() - 1) / 3 + 1)),
        "week" => Datum::Float(f64::from(dt.iso_week().week())),
        other => {
            return Err(SqlError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("unsupported timespan: {other}"),
            ));
        }
    })
}

/// The last `unique_rowid()` timestamp handed out (10 µs units), so ids never repeat.
static ROWID_LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// CockroachDB's `unique_rowid()`: the wall clock in 10 µs units in the high bits and the node
/// id in the low 15. Unique and increasing on this node however many rows one statement makes:
/// when the clock has not moved, the timestamp part advances by one unit instead.
pub fn unique_rowid() -> i64 {
    use std::sync::atomic::Ordering;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_micros() / 10) as u64)
        .unwrap_or(0);
    let mut last = ROWID_LAST.load(Ordering::Relaxed);
    let units = loop {
        let next = now.max(last + 1);
        match ROWID_LAST.compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => last = seen,
        }
    };
    ((units << 15) | NODE_ID_BITS) as i64 & i64::MAX
}

/// The node id in `unique_rowid()` (single-node clusters are node 1).
const NODE_ID_BITS: u64 = 1;

pub(crate) fn json_get(j: &str, key: &Datum) -> Result<Option<serde_json::Value>> {
    let v: serde_json::Value =
        serde_json::from_str(j).map_err(|e| SqlError::internal(format!("stored JSON: {e}")))?;
    Ok(match (v, key) {
        (serde_json::Value::Object(mut m), Datum::String(k)) => m.remove(k),
        (serde_json::Value::Array(a), Datum::Int(i)) => {
            let idx = if *i < 0 { a.len() as i64 + *i } else { *i };
            usize::try_from(idx).ok().and_then(|i| a.get(i).cloned())
        }
        _ => None,
    })
}

pub(crate) fn json_contains(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => y
            .iter()
            .all(|(k, v)| x.get(k).is_some_and(|xv| json_contains(xv, v))),
        (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
            y.iter().all(|v| x.iter().any(|xv| json_contains(xv, v)))
        }
        (serde_json::Value::Array(x), v) if !v.is_object() && !v.is_array() => x.contains(v),
        (x, y) => x == y,
    }
}

mod arrays;
mod catalog;
mod conditional;
mod datetime;
mod ids;
mod json;
mod math;
pub mod registry;
mod strings;

use registry::{Class, Param, Reg, Ret, Volatility, o, v};

/// Evaluates builtin `name` on `args` (already evaluated): looked up in the [`registry`]
/// (42883 when unknown or no overload takes that many arguments; aggregates, window and
/// set-returning functions outside their place are errors, not NULLs), then its implementation.
pub(crate) fn call(name: &str, args: Vec<Datum>, ctx: &EvalContext<'_>) -> Result<Datum> {
    let Some(b) = registry::lookup(name) else {
        return Err(SqlError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!("unknown function: {name}()"),
        ));
    };
    let imp = match (b.imp, b.class) {
        (Some(imp), _) => imp,
        (None, Class::Aggregate) => {
            return Err(SqlError::new(
                SqlState("42803"),
                format!("aggregate function {}() is not allowed here", b.name),
            ));
        }
        (None, Class::Window) => {
            return Err(SqlError::new(
                SqlState("42809"),
                format!("window function {}() requires an OVER clause", b.name),
            ));
        }
        (None, _) => {
            return Err(SqlError::unsupported(format!(
                "set-returning function {}() in this position",
                b.name
            )));
        }
    };
    if !b.accepts_arity(args.len()) {
        return Err(signature_error(b.name, &args));
    }
    imp(b.name, args, ctx)
}

/// 42883 for a call whose arguments no overload takes.
pub(crate) fn signature_error(name: &str, args: &[Datum]) -> SqlError {
    let types: Vec<String> = args
        .iter()
        .map(|a| a.sql_type().map_or("unknown", |t| t.name()).to_lowercase())
        .collect();
    SqlError::new(
        SqlState::UNDEFINED_FUNCTION,
        format!("unknown signature: {name}({})", types.join(", ")),
    )
}

/// The single argument of a one-argument function (42883 otherwise).
fn one_arg(name: &str, args: &[Datum]) -> Result<Datum> {
    match args {
        [a] => Ok(a.clone()),
        _ => Err(signature_error(name, args)),
    }
}

/// A call routed to a module that does not implement it: a registry entry names the wrong
/// implementation (a bug, caught by the registry's tests).
fn not_here(name: &str) -> SqlError {
    SqlError::internal(format!("builtin {name}() not routed to its implementation"))
}

/// A JSON value for a datum (`to_jsonb`).
pub fn datum_to_json(d: &Datum) -> serde_json::Value {
    match d {
        Datum::Null => serde_json::Value::Null,
        Datum::Int(i) => serde_json::Value::from(*i),
        Datum::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Datum::Bool(b) => serde_json::Value::Bool(*b),
        Datum::Json(j) => serde_json::from_str(j).unwrap_or(serde_json::Value::Null),
        Datum::Decimal(x) => {
            serde_json::from_str(&x.to_string()).unwrap_or(serde_json::Value::Null)
        }
        Datum::Array(items) => serde_json::Value::Array(items.iter().map(datum_to_json).collect()),
        other => serde_json::Value::String(other.to_text().unwrap_or_default()),
    }
}

/// PostgreSQL's `pg_size_pretty`: bytes up to 10 kB, then kB, MB, GB, TB, rounding half up.
fn size_pretty(n: i64) -> String {
    let mut v = n;
    for unit in ["bytes", "kB", "MB", "GB", "TB"] {
        if v.unsigned_abs() < 10 * 1024 || unit == "TB" {
            return format!("{v} {unit}");
        }
        v = (v + v.signum() * 512) / 1024;
    }
    format!("{v} PB")
}

/// `round(d, places)` on a DECIMAL: half away from zero (PostgreSQL's and CockroachDB's rule for
/// DECIMAL), the result carrying exactly `places` digits after the point (`round(1.5, 3)` is
/// `1.500`); negative `places` round to tens, hundreds, ... (`round(1250, -2)` is `1300`).
pub(crate) fn round_decimal(
    d: rust_decimal::Decimal,
    places: i64,
) -> Result<rust_decimal::Decimal> {
    scale_decimal(
        d,
        places,
        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
    )
}

/// `d` brought to `places` digits after the point with `strategy` (`round`: half away from
/// zero; `trunc`: toward zero), padded to exactly that many; negative `places` work on tens,
/// hundreds, ...
pub(crate) fn scale_decimal(
    d: rust_decimal::Decimal,
    places: i64,
    strategy: rust_decimal::RoundingStrategy,
) -> Result<rust_decimal::Decimal> {
    use rust_decimal::Decimal;
    let out_of_range = || SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range");
    if places >= 0 {
        let places = u32::try_from(places.min(28)).map_err(|_| out_of_range())?;
        let mut r = d.round_dp_with_strategy(places, strategy);
        if r.scale() < places {
            r.rescale(places);
            if r.scale() != places {
                return Err(out_of_range());
            }
        }
        return Ok(r);
    }
    if places < -28 {
        return Ok(Decimal::ZERO);
    }
    let unit = Decimal::from_i128_with_scale(10i128.pow((-places) as u32), 0);
    let q = d.checked_div(unit).ok_or_else(out_of_range)?;
    q.round_dp_with_strategy(0, strategy)
        .checked_mul(unit)
        .ok_or_else(out_of_range)
}
