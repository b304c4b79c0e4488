//! Built-in SQL functions (string, math, date/time, JSON, UUID and the pg_catalog helpers psql
//! uses) and `EXTRACT`. Unknown functions are 42883; wrong argument types never panic.

use super::error::{Result, SqlError};
use super::expr::{EvalContext, version_string};
use super::operators::{binary, compare};
use super::sqlstate::SqlState;
use super::types::{Datum, SqlType};
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
mod strings;

pub use arrays::result_type as array_result_type;

pub(crate) fn call(name: &str, args: Vec<Datum>, ctx: &EvalContext<'_>) -> Result<Datum> {
    let name = name.strip_prefix("pg_catalog.").unwrap_or(name);
    let one = |args: &[Datum]| -> Result<Datum> {
        if args.len() != 1 {
            return Err(SqlError::new(
                SqlState::UNDEFINED_FUNCTION,
                format!("unknown signature: {name}() with {} arguments", args.len()),
            ));
        }
        Ok(args[0].clone())
    };
    if arrays::NAMES.contains(&name) {
        return arrays::call(name, args);
    }
    if strings::NAMES.contains(&name) {
        return strings::call(name, args);
    }
    Ok(match name {
        "nullif" => match args.as_slice() {
            [a, b] => {
                if compare(a, b)? == Some(std::cmp::Ordering::Equal) {
                    Datum::Null
                } else {
                    a.clone()
                }
            }
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    "unknown signature: nullif",
                ));
            }
        },
        "pg_table_is_visible"
        | "pg_type_is_visible"
        | "pg_function_is_visible"
        | "has_table_privilege"
        | "has_schema_privilege"
        | "has_database_privilege" => Datum::Bool(true),
        "obj_description" | "col_description" | "shobj_description" => Datum::Null,
        "pg_get_expr" => match args.first() {
            Some(Datum::String(e)) => Datum::String(e.clone()),
            _ => Datum::Null,
        },
        "pg_get_userbyid" => match args.first() {
            Some(Datum::Int(oid)) => Datum::String(
                ctx.oids
                    .and_then(|n| n.role_name(*oid))
                    .unwrap_or_else(|| format!("unknown (OID={oid})")),
            ),
            _ => Datum::Null,
        },
        "pg_get_indexdef" => match (args.first(), args.get(1)) {
            (Some(Datum::Int(oid)), col) => {
                let col = match col {
                    Some(Datum::Int(c)) => *c,
                    _ => 0,
                };
                ctx.oids
                    .and_then(|n| n.index_def(*oid, col))
                    .map_or(Datum::Null, Datum::String)
            }
            _ => Datum::Null,
        },
        "pg_get_constraintdef" => match args.first() {
            Some(Datum::Int(oid)) => ctx
                .oids
                .and_then(|n| n.constraint_def(*oid))
                .map_or(Datum::Null, Datum::String),
            _ => Datum::Null,
        },
        "to_regclass" | "to_regtype" | "to_regnamespace" | "to_regrole" => {
            use super::system_tables::oids::{RegKind, reg_cast};
            let kind = match name {
                "to_regclass" => RegKind::Class,
                "to_regtype" => RegKind::Type,
                "to_regnamespace" => RegKind::Namespace,
                _ => RegKind::Role,
            };
            match one(&args)? {
                Datum::String(s) => reg_cast(kind, Datum::String(s), ctx.oids, false)?,
                Datum::Null => Datum::Null,
                other => {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_FUNCTION,
                        format!(
                            "unknown signature: {name}({})",
                            other
                                .sql_type()
                                .map_or("unknown", |t| t.name())
                                .to_lowercase()
                        ),
                    ));
                }
            }
        }
        // No table is partitioned: a relation's only "ancestor" is itself.
        "pg_partition_ancestors" | "pg_partition_root" => match one(&args)? {
            Datum::Null => Datum::Null,
            v => super::system_tables::oids::reg_cast(
                super::system_tables::oids::RegKind::Class,
                match v {
                    Datum::Int(i) => Datum::String(i.to_string()),
                    other => other,
                },
                ctx.oids,
                true,
            )?,
        },
        "pg_relation_is_publishable" => Datum::Bool(false),
        // Sizes are not tracked per relation: unknown (NULL), never a made-up number.
        "pg_table_size"
        | "pg_relation_size"
        | "pg_total_relation_size"
        | "pg_indexes_size"
        | "pg_database_size" => Datum::Null,
        "pg_size_pretty" => match one(&args)? {
            Datum::Null => Datum::Null,
            v => match v.coerce(SqlType::Int)? {
                Datum::Int(n) => Datum::String(size_pretty(n)),
                _ => Datum::Null,
            },
        },
        "pg_collation_is_visible" | "pg_is_in_recovery" => Datum::Bool(name != "pg_is_in_recovery"),
        "pg_get_serial_sequence"
        | "pg_get_statisticsobjdef_columns"
        | "pg_get_triggerdef"
        | "pg_get_viewdef"
        | "pg_get_functiondef"
        | "pg_get_function_result"
        | "pg_get_function_arguments"
        | "pg_get_function_identity_arguments"
        | "pg_tablespace_location" => Datum::Null,
        "current_schema" => Datum::String("public".into()),
        "current_schemas" => Datum::Array(vec![
            Datum::String("pg_catalog".into()),
            Datum::String("public".into()),
        ]),
        "pg_encoding_to_char" => Datum::String("UTF8".into()),
        "format_type" => match (args.first(), args.get(1)) {
            (Some(Datum::Int(oid)), typmod) => {
                let typmod = match typmod {
                    Some(Datum::Int(m)) => *m,
                    _ => -1,
                };
                Datum::String(super::system_tables::oids::format_type(*oid, typmod))
            }
            _ => Datum::Null,
        },
        "gen_random_uuid" | "uuid_generate_v4" | "uuid_v4" => {
            Datum::Uuid(*uuid::Uuid::new_v4().as_bytes())
        }
        "unique_rowid" => Datum::Int(unique_rowid()),
        "current_date" => Datum::Date((ctx.now_nanos / 86_400_000_000_000) as i32),
        "localtimestamp" => Datum::Timestamp((ctx.now_nanos / 1000) as i64),
        "concat" => Datum::String(args.iter().filter_map(Datum::to_text).collect()),
        "substr" | "substring" => match args.as_slice() {
            [Datum::Null, ..] => Datum::Null,
            [v, from, rest @ ..] => {
                let s: Vec<char> = v.to_text().unwrap_or_default().chars().collect();
                let from = match from {
                    Datum::Int(i) => *i,
                    _ => 1,
                };
                let len = match rest.first() {
                    Some(Datum::Int(l)) => Some(*l),
                    _ => None,
                };
                let start = ((from - 1).max(0) as usize).min(s.len());
                let end = match len {
                    Some(l) => ((from - 1 + l).max(0) as usize).min(s.len()),
                    None => s.len(),
                }
                .max(start);
                Datum::String(s[start..end].iter().collect())
            }
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    "unknown signature: substr",
                ));
            }
        },
        "btrim" | "ltrim" | "rtrim" => match args.as_slice() {
            [Datum::Null, ..] => Datum::Null,
            [v, rest @ ..] => {
                let s = v.to_text().unwrap_or_default();
                let chars: Vec<char> = match rest.first() {
                    Some(c) => c.to_text().unwrap_or_default().chars().collect(),
                    None => vec![' '],
                };
                let f = |c: char| chars.contains(&c);
                Datum::String(match name {
                    "ltrim" => s.trim_start_matches(f).to_string(),
                    "rtrim" => s.trim_end_matches(f).to_string(),
                    _ => s.trim_matches(f).to_string(),
                })
            }
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    "unknown signature: trim",
                ));
            }
        },
        "strpos" => match args.as_slice() {
            [Datum::String(h), Datum::String(n)] => Datum::Int(
                h.find(n.as_str())
                    .map_or(0, |i| h[..i].chars().count() as i64 + 1),
            ),
            _ => Datum::Null,
        },
        "replace" => match args.as_slice() {
            [Datum::String(s), Datum::String(a), Datum::String(b)] => {
                Datum::String(s.replace(a.as_str(), b))
            }
            _ => Datum::Null,
        },
        "split_part" => match args.as_slice() {
            [Datum::String(s), Datum::String(d), Datum::Int(n)] if *n >= 1 => Datum::String(
                s.split(d.as_str())
                    .nth((*n - 1) as usize)
                    .unwrap_or("")
                    .to_string(),
            ),
            _ => Datum::Null,
        },
        "left" | "right" => match args.as_slice() {
            [Datum::String(s), Datum::Int(n)] => {
                // A negative count leaves out that many characters from the other end.
                let c: Vec<char> = s.chars().collect();
                let len = c.len() as i64;
                let k = if *n < 0 {
                    len + (*n).max(-len)
                } else {
                    (*n).min(len)
                } as usize;
                Datum::String(if name == "left" {
                    c[..k].iter().collect()
                } else {
                    c[c.len() - k..].iter().collect()
                })
            }
            _ => Datum::Null,
        },
        "repeat" => match args.as_slice() {
            [Datum::String(s), Datum::Int(n)]
                if ((*n).max(0) as usize).saturating_mul(s.len()) <= 1 << 26 =>
            {
                Datum::String(s.repeat((*n).max(0) as usize))
            }
            [Datum::String(_), Datum::Int(_)] => {
                return Err(SqlError::new(
                    SqlState::OUT_OF_MEMORY,
                    "requested length too large",
                ));
            }
            _ => Datum::Null,
        },
        "reverse" => match one(&args)? {
            Datum::String(s) => Datum::String(s.chars().rev().collect()),
            v => v,
        },
        "md5" => match one(&args)? {
            Datum::Null => Datum::Null,
            v => Datum::String(format!(
                "{:x}",
                md5::compute(v.to_text().unwrap_or_default().as_bytes())
            )),
        },
        "round" | "floor" | "ceil" | "ceiling" | "trunc" | "sqrt" | "exp" | "ln" | "sign" => {
            let v = args.first().cloned().unwrap_or(Datum::Null);
            let places = match args.get(1) {
                Some(Datum::Int(p)) => Some(*p),
                _ => None,
            };
            // round(INT, places) rounds like the DECIMAL it is taken as (`round(1250, -2)` is
            // 1300).
            let v = match v {
                Datum::Int(i) if places.is_some() && name == "round" => {
                    Datum::Decimal(rust_decimal::Decimal::from(i))
                }
                v => v,
            };
            match v {
                Datum::Null => Datum::Null,
                Datum::Decimal(d) if !matches!(name, "sqrt" | "exp" | "ln") => {
                    Datum::Decimal(match name {
                        "round" => round_decimal(d, places.unwrap_or(0))?,
                        "floor" => d.floor(),
                        "ceil" | "ceiling" => d.ceil(),
                        "trunc" => d.trunc(),
                        _ => rust_decimal::Decimal::from(if d.is_zero() {
                            0
                        } else if d.is_sign_negative() {
                            -1
                        } else {
                            1
                        }),
                    })
                }
                Datum::Int(i) if !matches!(name, "sqrt" | "exp" | "ln") => {
                    if name == "sign" {
                        Datum::Int(i.signum())
                    } else {
                        Datum::Int(i)
                    }
                }
                other => {
                    let f = match other.coerce(SqlType::Float)? {
                        Datum::Float(f) => f,
                        _ => f64::NAN,
                    };
                    Datum::Float(match name {
                        "round" => {
                            // Half to even (banker's rounding), as CockroachDB documents.
                            let p = places.unwrap_or(0).clamp(-400, 400) as i32;
                            if p == 0 {
                                f.round_ties_even()
                            } else {
                                let m = 10f64.powi(p);
                                let r = (f * m).round_ties_even() / m;
                                if r.is_finite() { r } else { f }
                            }
                        }
                        "floor" => f.floor(),
                        "ceil" | "ceiling" => f.ceil(),
                        "trunc" => f.trunc(),
                        "sqrt" => {
                            if f < 0.0 {
                                return Err(SqlError::new(
                                    SqlState::INVALID_PARAMETER_VALUE,
                                    "cannot take square root of a negative number",
                                ));
                            }
                            f.sqrt()
                        }
                        "exp" => f.exp(),
                        "ln" => f.ln(),
                        _ => f.signum(),
                    })
                }
            }
        }
        "power" | "pow" => match args.as_slice() {
            [a, b] if !a.is_null() && !b.is_null() => {
                let x = match a.clone().coerce(SqlType::Float)? {
                    Datum::Float(f) => f,
                    _ => f64::NAN,
                };
                let y = match b.clone().coerce(SqlType::Float)? {
                    Datum::Float(f) => f,
                    _ => f64::NAN,
                };
                Datum::Float(x.powf(y))
            }
            _ => Datum::Null,
        },
        "mod" => match args.as_slice() {
            [a, b] => binary(&BinaryOperator::Modulo, a.clone(), b.clone())?,
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    "unknown signature: mod",
                ));
            }
        },
        "random" => Datum::Float(rand::random::<f64>()),
        "greatest" | "least" => {
            let mut best: Option<Datum> = None;
            for a in args.into_iter().filter(|a| !a.is_null()) {
                best = Some(match best {
                    None => a,
                    Some(b) => {
                        let o = compare(&a, &b)?.unwrap_or(std::cmp::Ordering::Equal);
                        let better = if name == "greatest" {
                            o == std::cmp::Ordering::Greater
                        } else {
                            o == std::cmp::Ordering::Less
                        };
                        if better { a } else { b }
                    }
                });
            }
            best.unwrap_or(Datum::Null)
        }
        "date_trunc" => match args.as_slice() {
            [
                Datum::String(unit),
                v @ (Datum::Timestamp(_) | Datum::TimestampTz(_)),
            ] => {
                let t = match v {
                    Datum::Timestamp(t) | Datum::TimestampTz(t) => *t,
                    _ => 0,
                };
                let unit_micros: i64 = match unit.to_lowercase().as_str() {
                    "second" => 1_000_000,
                    "minute" => 60_000_000,
                    "hour" => 3_600_000_000,
                    "day" => 86_400_000_000,
                    other => {
                        return Err(SqlError::new(
                            SqlState::INVALID_PARAMETER_VALUE,
                            format!("unsupported timespan: {other}"),
                        ));
                    }
                };
                let tr = t - t.rem_euclid(unit_micros);
                if matches!(v, Datum::Timestamp(_)) {
                    Datum::Timestamp(tr)
                } else {
                    Datum::TimestampTz(tr)
                }
            }
            _ => Datum::Null,
        },
        "jsonb_typeof" | "json_typeof" => match one(&args)? {
            Datum::Json(j) => Datum::String(
                match serde_json::from_str::<serde_json::Value>(&j)
                    .map_err(|e| SqlError::internal(e.to_string()))?
                {
                    serde_json::Value::Object(_) => "object",
                    serde_json::Value::Array(_) => "array",
                    serde_json::Value::String(_) => "string",
                    serde_json::Value::Number(_) => "number",
                    serde_json::Value::Bool(_) => "boolean",
                    serde_json::Value::Null => "null",
                }
                .into(),
            ),
            _ => Datum::Null,
        },
        "jsonb_build_object" | "json_build_object" => {
            let mut m = serde_json::Map::new();
            for pair in args.chunks(2) {
                if let [k, v] = pair {
                    m.insert(k.to_text().unwrap_or_default(), datum_to_json(v));
                }
            }
            Datum::Json(super::types::json_text(&serde_json::Value::Object(m)))
        }
        "to_jsonb" | "to_json" => match one(&args)? {
            // Strict: SQL NULL in, SQL NULL out (not the JSON `null`).
            Datum::Null => Datum::Null,
            v => Datum::Json(super::types::json_text(&datum_to_json(&v))),
        },
        "version" => Datum::String(version_string()),
        "current_user" | "session_user" => Datum::String(ctx.user.into()),
        "current_database" => Datum::String(ctx.database.into()),
        "now"
        | "current_timestamp"
        | "statement_timestamp"
        | "transaction_timestamp"
        | "clock_timestamp" => Datum::TimestampTz((ctx.now_nanos / 1000) as i64),
        "lower" => match one(&args)? {
            Datum::String(s) => Datum::String(s.to_lowercase()),
            v => v,
        },
        "upper" => match one(&args)? {
            Datum::String(s) => Datum::String(s.to_uppercase()),
            v => v,
        },
        "length" | "char_length" => match one(&args)? {
            Datum::String(s) => Datum::Int(s.chars().count() as i64),
            Datum::Bytes(b) => Datum::Int(b.len() as i64),
            Datum::Null => Datum::Null,
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("unknown signature: {name}"),
                ));
            }
        },
        "abs" => match one(&args)? {
            Datum::Int(i) => Datum::Int(i.checked_abs().ok_or_else(|| {
                SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range")
            })?),
            Datum::Float(f) => Datum::Float(f.abs()),
            Datum::Decimal(d) => Datum::Decimal(d.abs()),
            Datum::Null => Datum::Null,
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("unknown signature: {name}"),
                ));
            }
        },
        "coalesce" | "ifnull" => args
            .into_iter()
            .find(|a| !a.is_null())
            .unwrap_or(Datum::Null),
        _ => {
            return Err(SqlError::new(
                SqlState::UNDEFINED_FUNCTION,
                format!("unknown function: {name}()"),
            ));
        }
    })
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

/// The names of the array functions (for static typing).
pub fn array_names() -> &'static [&'static str] {
    arrays::NAMES
}

/// `round(d, places)` on a DECIMAL: half away from zero (PostgreSQL's and CockroachDB's rule for
/// DECIMAL), the result carrying exactly `places` digits after the point (`round(1.5, 3)` is
/// `1.500`); negative `places` round to tens, hundreds, ... (`round(1250, -2)` is `1300`).
pub(crate) fn round_decimal(
    d: rust_decimal::Decimal,
    places: i64,
) -> Result<rust_decimal::Decimal> {
    use rust_decimal::{Decimal, RoundingStrategy::MidpointAwayFromZero};
    let out_of_range = || SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range");
    if places >= 0 {
        let places = u32::try_from(places.min(28)).map_err(|_| out_of_range())?;
        let mut r = d.round_dp_with_strategy(places, MidpointAwayFromZero);
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
    q.round_dp_with_strategy(0, MidpointAwayFromZero)
        .checked_mul(unit)
        .ok_or_else(out_of_range)
}
