//! Built-in SQL functions: the [`registry`] (every builtin's class, volatility, overloads and
//! implementation: the one place that knows them), the dispatcher [`call`] that evaluates a
//! scalar builtin through it, and the implementations by area (`catalog`, `strings`, `math`,
//! `conditional`, `datetime`, `json`, `ids`, `arrays`) plus `EXTRACT`. Unknown functions and
//! argument counts no overload takes are 42883; wrong argument types never panic.

use super::error::{Result, SqlError};
use super::expr::{EvalContext, version_string};
use super::operators::{binary, compare};
use super::sqlstate::SqlState;
use super::types::{Datum, ElemType, SqlType};
use registry::Overload;
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

/// Calls a string builtin.
fn string_call(name: &str, args: Vec<Datum>, _ctx: &EvalContext<'_>) -> Result<Datum> {
    strings::call(name, args)
}

/// Calls an array builtin.
fn array_call(name: &str, args: Vec<Datum>, _ctx: &EvalContext<'_>) -> Result<Datum> {
    arrays::call(name, args)
}

/// The catalog and session builtins (see `catalog`).
fn catalog_entries(r: &mut Reg) {
    use Param::{Any, T};
    use SqlType::*;
    let mut add = |names: &[&'static str], ov: Vec<Overload>| {
        r.add(
            names,
            Class::Scalar,
            Volatility::Stable,
            Some(catalog::call),
            ov,
        )
    };
    let text = Ret::T(String);
    add(
        &[
            "pg_table_is_visible",
            "pg_type_is_visible",
            "pg_function_is_visible",
            "pg_collation_is_visible",
        ],
        vec![o(&[T(Int)], Ret::T(Bool))],
    );
    add(
        &[
            "has_table_privilege",
            "has_schema_privilege",
            "has_database_privilege",
        ],
        vec![
            o(&[Any, Any], Ret::T(Bool)),
            o(&[Any, Any, Any], Ret::T(Bool)),
        ],
    );
    add(
        &["obj_description", "col_description", "shobj_description"],
        vec![o(&[T(Int)], text), o(&[T(Int), Any], text)],
    );
    add(
        &["pg_get_expr"],
        vec![o(&[Any, T(Int)], text), o(&[Any, T(Int), T(Bool)], text)],
    );
    add(
        &[
            "pg_get_userbyid",
            "pg_encoding_to_char",
            "pg_tablespace_location",
        ],
        vec![o(&[T(Int)], text)],
    );
    add(
        &["pg_get_indexdef"],
        vec![o(&[T(Int)], text), o(&[T(Int), T(Int), T(Bool)], text)],
    );
    add(
        &[
            "pg_get_constraintdef",
            "pg_get_viewdef",
            "pg_get_triggerdef",
        ],
        vec![o(&[Any], text), o(&[Any, T(Bool)], text)],
    );
    add(
        &[
            "pg_get_statisticsobjdef_columns",
            "pg_get_functiondef",
            "pg_get_function_result",
            "pg_get_function_arguments",
            "pg_get_function_identity_arguments",
        ],
        vec![o(&[T(Int)], text)],
    );
    add(&["pg_get_serial_sequence"], vec![o(&[Any, Any], text)]);
    add(
        &["to_regclass", "to_regtype", "to_regnamespace", "to_regrole"],
        vec![o(&[T(String)], Ret::T(Int))],
    );
    add(&["pg_partition_root"], vec![o(&[Any], Ret::T(Int))]);
    add(
        &["pg_relation_is_publishable"],
        vec![o(&[Any], Ret::T(Bool))],
    );
    add(
        &[
            "pg_table_size",
            "pg_relation_size",
            "pg_total_relation_size",
            "pg_indexes_size",
            "pg_database_size",
        ],
        vec![o(&[Any], Ret::T(Int))],
    );
    add(&["pg_size_pretty"], vec![o(&[T(Int)], text)]);
    add(&["pg_is_in_recovery"], vec![o(&[], Ret::T(Bool))]);
    add(
        &[
            "current_schema",
            "version",
            "current_user",
            "session_user",
            "current_database",
        ],
        vec![o(&[], text)],
    );
    add(
        &["current_schemas"],
        vec![o(&[T(Bool)], Ret::T(Array(ElemType::String)))],
    );
    add(&["format_type"], vec![o(&[T(Int), Any], text)]);
    r.add(
        &["pg_partition_ancestors"],
        Class::SetReturning,
        Volatility::Stable,
        Some(catalog::call),
        vec![o(&[Any], Ret::T(Int))],
    );
}

/// The scalar builtins other than the catalog's.
fn scalar_entries(r: &mut Reg) {
    use Param::{Any, AnyArray, T};
    use SqlType::*;
    let text = Ret::T(String);
    // Strings.
    let s = string_call;
    r.scalar(&["concat"], s, vec![v(&[Any], text)]);
    r.scalar(&["concat_ws"], s, vec![v(&[T(String), Any], text)]);
    r.scalar(
        &["substr", "substring"],
        s,
        vec![
            o(&[T(String), T(Int)], text),
            o(&[T(String), T(Int), T(Int)], text),
        ],
    );
    r.scalar(
        &["btrim", "ltrim", "rtrim"],
        s,
        vec![o(&[T(String)], text), o(&[T(String), T(String)], text)],
    );
    r.scalar(
        &["strpos"],
        s,
        vec![o(&[T(String), T(String)], Ret::T(Int))],
    );
    r.scalar(
        &["replace", "translate"],
        s,
        vec![o(&[T(String), T(String), T(String)], text)],
    );
    r.scalar(
        &["split_part"],
        s,
        vec![o(&[T(String), T(String), T(Int)], text)],
    );
    r.scalar(
        &["left", "right", "repeat"],
        s,
        vec![o(&[T(String), T(Int)], text)],
    );
    r.scalar(
        &["lpad", "rpad"],
        s,
        vec![
            o(&[T(String), T(Int)], text),
            o(&[T(String), T(Int), T(String)], text),
        ],
    );
    r.scalar(
        &["reverse", "lower", "upper", "initcap"],
        s,
        vec![o(&[T(String)], text)],
    );
    r.scalar(&["md5"], s, vec![o(&[Any], text)]);
    r.scalar(&["to_hex"], s, vec![o(&[T(Int)], text)]);
    r.scalar(
        &["length", "char_length"],
        s,
        vec![o(&[T(String)], Ret::T(Int)), o(&[T(Bytes)], Ret::T(Int))],
    );
    // Numbers.
    let m = math::call;
    r.scalar(
        &["round", "trunc"],
        m,
        vec![
            o(&[T(Decimal)], Ret::Arg(0)),
            o(&[T(Decimal), T(Int)], Ret::Fn(math::rounded_type)),
        ],
    );
    r.scalar(
        &["floor", "ceil", "ceiling", "sign", "abs"],
        m,
        vec![o(&[T(Decimal)], Ret::Arg(0))],
    );
    r.scalar(
        &["sqrt", "exp", "ln"],
        m,
        vec![o(&[T(Float)], Ret::T(Float))],
    );
    r.scalar(
        &["power", "pow"],
        m,
        vec![o(&[T(Float), T(Float)], Ret::T(Float))],
    );
    r.scalar(&["mod"], m, vec![o(&[T(Decimal), T(Decimal)], Ret::Common)]);
    r.add(
        &["random"],
        Class::Scalar,
        Volatility::Volatile,
        Some(m),
        vec![o(&[], Ret::T(Float))],
    );
    // Conditionals.
    let c = conditional::call;
    r.scalar(&["nullif"], c, vec![o(&[Any, Any], Ret::Arg(0))]);
    r.scalar(
        &["coalesce", "ifnull", "greatest", "least"],
        c,
        vec![v(&[Any], Ret::Common)],
    );
    // Dates and times.
    let d = datetime::call;
    r.scalar(
        &["date_trunc"],
        d,
        vec![o(
            &[T(String), T(TimestampTz)],
            Ret::Fn(datetime::truncated_type),
        )],
    );
    let stable = |r: &mut Reg, names: &[&'static str], ty: SqlType| {
        r.add(
            names,
            Class::Scalar,
            Volatility::Stable,
            Some(d),
            vec![o(&[], Ret::T(ty))],
        )
    };
    stable(
        r,
        &[
            "now",
            "current_timestamp",
            "statement_timestamp",
            "transaction_timestamp",
        ],
        TimestampTz,
    );
    stable(r, &["current_date"], Date);
    stable(r, &["localtimestamp"], Timestamp);
    r.add(
        &["clock_timestamp"],
        Class::Scalar,
        Volatility::Volatile,
        Some(d),
        vec![o(&[], Ret::T(TimestampTz))],
    );
    // JSON.
    let j = json::call;
    r.scalar(
        &["jsonb_typeof", "json_typeof"],
        j,
        vec![o(&[T(Jsonb)], text)],
    );
    r.scalar(
        &["jsonb_build_object", "json_build_object"],
        j,
        vec![v(&[Any], Ret::T(Jsonb))],
    );
    r.scalar(&["to_jsonb", "to_json"], j, vec![o(&[Any], Ret::T(Jsonb))]);
    // Identifiers.
    r.add(
        &["gen_random_uuid", "uuid_generate_v4", "uuid_v4"],
        Class::Scalar,
        Volatility::Volatile,
        Some(ids::call),
        vec![o(&[], Ret::T(Uuid))],
    );
    r.add(
        &["unique_rowid"],
        Class::Scalar,
        Volatility::Volatile,
        Some(ids::call),
        vec![o(&[], Ret::T(Int))],
    );
    // Arrays.
    let a = array_call;
    let arr = Ret::Fn(|name, args| {
        arrays::result_type(name, args.first().copied(), args.get(1).copied())
    });
    r.scalar(
        &["array_length", "array_upper", "array_lower"],
        a,
        vec![o(&[AnyArray, T(Int)], arr)],
    );
    r.scalar(
        &["cardinality", "array_ndims"],
        a,
        vec![o(&[AnyArray], arr)],
    );
    r.scalar(
        &[
            "array_append",
            "array_remove",
            "array_position",
            "array_positions",
        ],
        a,
        vec![o(&[AnyArray, Any], arr)],
    );
    r.scalar(&["array_prepend"], a, vec![o(&[Any, AnyArray], arr)]);
    r.scalar(&["array_cat"], a, vec![o(&[AnyArray, AnyArray], arr)]);
    r.scalar(&["array_replace"], a, vec![o(&[AnyArray, Any, Any], arr)]);
    r.scalar(
        &["array_to_string"],
        a,
        vec![
            o(&[AnyArray, T(String)], arr),
            o(&[AnyArray, T(String), T(String)], arr),
        ],
    );
    r.scalar(
        &["string_to_array"],
        a,
        vec![
            o(&[T(String), T(String)], arr),
            o(&[T(String), T(String), T(String)], arr),
        ],
    );
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
