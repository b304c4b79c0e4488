//! Scalar expression evaluation over [`Datum`]s with SQL's three-valued logic.
//!
//! Supported: literals, `$n` placeholders, column references (optionally qualified), arithmetic,
//! comparison, `AND`/`OR`/`NOT`, `IS [NOT] NULL`, `IN (list)`, `BETWEEN`, `LIKE`/`ILIKE`, `||`,
//! casts, `CASE`, and a handful of functions (`version()`, `current_user`, `current_database()`,
//! `now()`, `lower`, `upper`, `length`, `abs`, `coalesce`). Anything else is a clear 0A000 or
//! 42883 error, never a panic.

use super::error::{Result, SqlError};
use super::sqlstate::SqlState;
use super::types::{Datum, SqlType, parse_float};
use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, InTarget, UnaryOperator,
    Value,
};

/// What an expression can refer to besides columns.
pub struct EvalContext<'a> {
    /// `$1..$n` values.
    pub params: &'a [Datum],
    /// Session user.
    pub user: &'a str,
    /// Current database.
    pub database: &'a str,
    /// Statement timestamp (nanoseconds since the epoch).
    pub now_nanos: u64,
}

/// The row an expression is evaluated against: column names and values, aligned.
pub struct Row<'a> {
    /// Column names (lowercase).
    pub names: &'a [String],
    /// Values.
    pub values: &'a [Datum],
}

/// The product version string shown by `version()`.
pub fn version_string() -> String {
    format!(
        "tandem {} (x86_64-linux, compatible with CockroachDB v24.3)",
        env!("CARGO_PKG_VERSION")
    )
}

fn ident_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(normalize(&i.value, i.quote_style.is_some())),
        Expr::CompoundIdentifier(parts) => parts
            .last()
            .map(|i| normalize(&i.value, i.quote_style.is_some())),
        _ => None,
    }
}

/// Prefix of a synthetic identifier naming a column by position (`*` expansions, where names
/// may repeat).
pub const POSITIONAL: &str = "\u{1}#";

/// Prefix of scope names of hidden columns (see `query::Relation::scope_names`).
pub const HIDDEN: &str = "\u{3}";

/// Whether a bare column name matches columns of more than one table in `names`.
pub fn is_ambiguous(names: &[String], e: &Expr) -> Option<String> {
    let Expr::Identifier(i) = e else { return None };
    if i.value.starts_with(POSITIONAL) {
        return None;
    }
    let n = normalize(&i.value, i.quote_style.is_some());
    if names.contains(&n) {
        return None;
    }
    let tables: std::collections::BTreeSet<&str> = names
        .iter()
        .filter(|x| !x.starts_with(HIDDEN))
        .filter_map(|x| x.rsplit_once('.').filter(|(_, c)| *c == n).map(|(t, _)| t))
        .collect();
    (tables.len() > 1).then_some(n)
}

/// Finds the column a reference names: names in `names` are `column` or `table.column`; a
/// bare reference matches either form by column, a qualified one matches `table.column`.
pub fn lookup(names: &[String], e: &Expr) -> Option<usize> {
    let plain = |x: &String| {
        x.strip_prefix(HIDDEN)
            .map(str::to_string)
            .unwrap_or_else(|| x.clone())
    };
    match e {
        Expr::Identifier(i) => {
            if let Some(pos) = i.value.strip_prefix(POSITIONAL) {
                return pos.parse::<usize>().ok().filter(|p| *p < names.len());
            }
            let n = normalize(&i.value, i.quote_style.is_some());
            names
                .iter()
                .position(|x| *x == n)
                .or_else(|| {
                    names.iter().position(|x| {
                        !x.starts_with(HIDDEN) && x.rsplit_once('.').is_some_and(|(_, c)| c == n)
                    })
                })
                .or_else(|| {
                    names
                        .iter()
                        .position(|x| x.rsplit_once('.').is_some_and(|(_, c)| c == n))
                })
        }
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let t = &parts[parts.len() - 2];
            let c = &parts[parts.len() - 1];
            let full = format!(
                "{}.{}",
                normalize(&t.value, t.quote_style.is_some()),
                normalize(&c.value, c.quote_style.is_some())
            );
            let bare = normalize(&c.value, c.quote_style.is_some());
            names
                .iter()
                .position(|x| plain(x) == full)
                .or_else(|| names.iter().position(|x| !x.contains('.') && *x == bare))
        }
        Expr::CompoundIdentifier(parts) => parts
            .first()
            .and_then(|i| lookup(names, &Expr::Identifier(i.clone()))),
        _ => None,
    }
}

/// Lowercases unquoted identifiers like PostgreSQL.
pub fn normalize(s: &str, quoted: bool) -> String {
    if quoted {
        s.to_string()
    } else {
        s.to_lowercase()
    }
}

/// Parses a numeric literal.
pub fn number(s: &str) -> Result<Datum> {
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Datum::Int(i));
    }
    parse_float(s).map(Datum::Float).ok_or_else(|| {
        SqlError::new(
            SqlState::INVALID_TEXT_REPRESENTATION,
            format!("invalid number {s}"),
        )
    })
}

/// Evaluates a literal value.
pub fn literal(v: &Value, ctx: &EvalContext<'_>) -> Result<Datum> {
    Ok(match v {
        Value::Number(n, _) => number(n)?,
        Value::SingleQuotedString(s)
        | Value::DoubleQuotedString(s)
        | Value::EscapedStringLiteral(s) => Datum::String(s.clone()),
        Value::Boolean(b) => Datum::Bool(*b),
        Value::Null => Datum::Null,
        Value::Placeholder(p) => {
            let n: usize = p
                .trim_start_matches('$')
                .parse()
                .map_err(|_| SqlError::syntax(format!("invalid placeholder {p}")))?;
            ctx.params.get(n.wrapping_sub(1)).cloned().ok_or_else(|| {
                SqlError::new(
                    SqlState::PROTOCOL_VIOLATION,
                    format!("no value given for placeholder {p}"),
                )
            })?
        }
        other => return Err(SqlError::unsupported(format!("literal {other}"))),
    })
}

fn truth(d: &Datum) -> Result<Option<bool>> {
    match d {
        Datum::Null => Ok(None),
        Datum::Bool(b) => Ok(Some(*b)),
        other => Err(SqlError::new(
            SqlState::DATATYPE_MISMATCH,
            format!(
                "argument of boolean expression must be type bool, not {}",
                other
                    .sql_type()
                    .map_or("unknown", |t| t.name())
                    .to_lowercase()
            ),
        )),
    }
}

/// Evaluates `e` against `row` (None when there is no FROM clause).
pub fn eval(e: &Expr, row: Option<&Row<'_>>, ctx: &EvalContext<'_>) -> Result<Datum> {
    match e {
        Expr::Value(v) => literal(&v.value, ctx),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
            let name = ident_name(e).unwrap_or_default();
            if let Some(r) = row {
                if let Some(n) = is_ambiguous(r.names, e) {
                    return Err(SqlError::new(
                        SqlState("42702"),
                        format!("column reference \"{n}\" is ambiguous"),
                    ));
                }
                if let Some(i) = lookup(r.names, e) {
                    return Ok(r.values[i].clone());
                }
            }
            match name.as_str() {
                "current_user" | "session_user" | "user" => Ok(Datum::String(ctx.user.to_string())),
                "current_database" => Ok(Datum::String(ctx.database.to_string())),
                "current_timestamp" | "now" => {
                    Ok(Datum::TimestampTz((ctx.now_nanos / 1000) as i64))
                }
                "current_date" => Ok(Datum::Date((ctx.now_nanos / 86_400_000_000_000) as i32)),
                _ => Err(SqlError::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!("column \"{name}\" does not exist"),
                )),
            }
        }
        Expr::Nested(inner) => eval(inner, row, ctx),
        Expr::IsNull(inner) => Ok(Datum::Bool(eval(inner, row, ctx)?.is_null())),
        Expr::IsNotNull(inner) => Ok(Datum::Bool(!eval(inner, row, ctx)?.is_null())),
        Expr::IsTrue(inner) => Ok(Datum::Bool(truth(&eval(inner, row, ctx)?)? == Some(true))),
        Expr::IsFalse(inner) => Ok(Datum::Bool(truth(&eval(inner, row, ctx)?)? == Some(false))),
        Expr::UnaryOp { op, expr } => {
            let v = eval(expr, row, ctx)?;
            match (op, v) {
                (_, Datum::Null) => Ok(Datum::Null),
                (UnaryOperator::Not, v) => Ok(truth(&v)?.map_or(Datum::Null, |b| Datum::Bool(!b))),
                (UnaryOperator::Minus, Datum::Int(i)) => {
                    i.checked_neg().map(Datum::Int).ok_or_else(|| {
                        SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range")
                    })
                }
                (UnaryOperator::Minus, Datum::Float(f)) => Ok(Datum::Float(-f)),
                (UnaryOperator::Plus, v @ (Datum::Int(_) | Datum::Float(_))) => Ok(v),
                (op, v) => Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!(
                        "unsupported unary operator: {op} {}",
                        v.sql_type().map_or("unknown", |t| t.name())
                    ),
                )),
            }
        }
        Expr::BinaryOp { left, op, right } => {
            let l = eval(left, row, ctx)?;
            // Short-circuit AND/OR with three-valued logic.
            match op {
                BinaryOperator::And => {
                    let lb = truth(&l)?;
                    if lb == Some(false) {
                        return Ok(Datum::Bool(false));
                    }
                    let rb = truth(&eval(right, row, ctx)?)?;
                    return Ok(match (lb, rb) {
                        (_, Some(false)) => Datum::Bool(false),
                        (Some(true), Some(true)) => Datum::Bool(true),
                        _ => Datum::Null,
                    });
                }
                BinaryOperator::Or => {
                    let lb = truth(&l)?;
                    if lb == Some(true) {
                        return Ok(Datum::Bool(true));
                    }
                    let rb = truth(&eval(right, row, ctx)?)?;
                    return Ok(match (lb, rb) {
                        (_, Some(true)) => Datum::Bool(true),
                        (Some(false), Some(false)) => Datum::Bool(false),
                        _ => Datum::Null,
                    });
                }
                _ => {}
            }
            let r = eval(right, row, ctx)?;
            binary(op, l, r)
        }
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated,
            ..
        } => {
            let v = eval(expr, row, ctx)?;
            if v.is_null() {
                return Ok(Datum::Null);
            }
            let mut saw_null = false;
            for item in list {
                let x = eval(item, row, ctx)?;
                match compare(&v, &x)? {
                    None => saw_null = true,
                    Some(std::cmp::Ordering::Equal) => return Ok(Datum::Bool(!negated)),
                    Some(_) => {}
                }
            }
            Ok(if saw_null {
                Datum::Null
            } else {
                Datum::Bool(*negated)
            })
        }
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let v = eval(expr, row, ctx)?;
            let lo = binary(&BinaryOperator::GtEq, v.clone(), eval(low, row, ctx)?)?;
            let hi = binary(&BinaryOperator::LtEq, v, eval(high, row, ctx)?)?;
            let both = match (truth(&lo)?, truth(&hi)?) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            };
            Ok(both.map_or(Datum::Null, |b| Datum::Bool(b != *negated)))
        }
        Expr::Like {
            negated,
            expr,
            pattern,
            ..
        }
        | Expr::ILike {
            negated,
            expr,
            pattern,
            ..
        } => {
            let ci = matches!(e, Expr::ILike { .. });
            let (v, p) = (eval(expr, row, ctx)?, eval(pattern, row, ctx)?);
            match (v, p) {
                (Datum::String(s), Datum::String(p)) => {
                    let m = if ci {
                        like(&s.to_lowercase(), &p.to_lowercase())
                    } else {
                        like(&s, &p)
                    };
                    Ok(Datum::Bool(m != *negated))
                }
                (Datum::Null, _) | (_, Datum::Null) => Ok(Datum::Null),
                _ => Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    "unsupported comparison operator: LIKE on non-strings",
                )),
            }
        }
        Expr::Cast {
            expr, data_type, ..
        } => {
            let ty = SqlType::from_ast(data_type)?;
            eval(expr, row, ctx)?.coerce(ty)
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            let op = operand.as_ref().map(|o| eval(o, row, ctx)).transpose()?;
            for cw in conditions {
                let c = eval(&cw.condition, row, ctx)?;
                let hit = match &op {
                    Some(o) => compare(o, &c)? == Some(std::cmp::Ordering::Equal),
                    None => truth(&c)? == Some(true),
                };
                if hit {
                    return eval(&cw.result, row, ctx);
                }
            }
            match else_result {
                Some(e) => eval(e, row, ctx),
                None => Ok(Datum::Null),
            }
        }
        Expr::Function(f) => {
            let name = f.name.to_string().to_lowercase();
            let args: Vec<Datum> = match &f.args {
                FunctionArguments::None => Vec::new(),
                FunctionArguments::List(l) => l
                    .args
                    .iter()
                    .map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => eval(x, row, ctx),
                        _ => Err(SqlError::unsupported(format!("arguments of {name}"))),
                    })
                    .collect::<Result<_>>()?,
                FunctionArguments::Subquery(_) => {
                    return Err(SqlError::unsupported("subquery arguments"));
                }
            };
            call(&name, args, ctx)
        }
        Expr::Interval(iv) => {
            let text = match eval(&iv.value, row, ctx)? {
                Datum::Null => return Ok(Datum::Null),
                v => v.to_text().unwrap_or_default(),
            };
            let text = match &iv.leading_field {
                Some(f) if !text.chars().any(|c| c.is_ascii_alphabetic()) => {
                    format!("{text} {}", f.to_string().to_lowercase())
                }
                _ => text,
            };
            Datum::String(text).coerce(SqlType::Interval)
        }
        Expr::Collate { expr: x, .. } => eval(x, row, ctx),
        Expr::TypedString(ts) => {
            let ty = SqlType::from_ast(&ts.data_type)?;
            let text = match &ts.value.value {
                Value::SingleQuotedString(v) | Value::DoubleQuotedString(v) => v.clone(),
                other => other.to_string(),
            };
            Datum::String(text).coerce(ty)
        }
        Expr::Extract { field, expr: x, .. } => {
            let v = eval(x, row, ctx)?;
            extract(&field.to_string().to_lowercase(), &v)
        }
        Expr::Substring {
            expr: x,
            substring_from,
            substring_for,
            ..
        } => {
            let v = eval(x, row, ctx)?;
            let from = substring_from
                .as_ref()
                .map(|f| eval(f, row, ctx))
                .transpose()?;
            let len = substring_for
                .as_ref()
                .map(|f| eval(f, row, ctx))
                .transpose()?;
            let mut args = vec![v, from.unwrap_or(Datum::Int(1))];
            if let Some(l) = len {
                args.push(l);
            }
            call("substr", args, ctx)
        }
        Expr::Trim {
            expr: x,
            trim_where,
            trim_what,
            ..
        } => {
            let v = eval(x, row, ctx)?;
            let what = trim_what.as_ref().map(|w| eval(w, row, ctx)).transpose()?;
            let name = match trim_where {
                Some(sqlparser::ast::TrimWhereField::Leading) => "ltrim",
                Some(sqlparser::ast::TrimWhereField::Trailing) => "rtrim",
                _ => "btrim",
            };
            let mut args = vec![v];
            if let Some(w) = what {
                args.push(w);
            }
            call(name, args, ctx)
        }
        Expr::Position { expr: x, r#in } => {
            let (needle, hay) = (eval(x, row, ctx)?, eval(r#in, row, ctx)?);
            call("strpos", vec![hay, needle], ctx)
        }
        Expr::Ceil { expr: x, .. } => call("ceil", vec![eval(x, row, ctx)?], ctx),
        Expr::Floor { expr: x, .. } => call("floor", vec![eval(x, row, ctx)?], ctx),
        other => Err(SqlError::unsupported(format!("expression {other}"))),
    }
}

fn extract(field: &str, v: &Datum) -> Result<Datum> {
    use chrono::{Datelike, Timelike};
    let micros = match v {
        Datum::Null => return Ok(Datum::Null),
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

static ROWID_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// CockroachDB-style `unique_rowid()`: microseconds in the high bits, a per-process counter low.
pub fn unique_rowid(now_nanos: u64) -> i64 {
    let seq = ROWID_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0x7FFF;
    (((now_nanos / 1000) << 15) | seq) as i64 & i64::MAX
}

fn json_get(j: &str, key: &Datum) -> Result<Option<serde_json::Value>> {
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

fn json_contains(a: &serde_json::Value, b: &serde_json::Value) -> bool {
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

fn call(name: &str, args: Vec<Datum>, ctx: &EvalContext<'_>) -> Result<Datum> {
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
        "pg_get_userbyid" => Datum::String("root".into()),
        "pg_table_is_visible"
        | "pg_type_is_visible"
        | "pg_function_is_visible"
        | "has_table_privilege"
        | "has_schema_privilege"
        | "has_database_privilege" => Datum::Bool(true),
        "obj_description"
        | "col_description"
        | "shobj_description"
        | "pg_get_expr"
        | "pg_get_constraintdef"
        | "pg_get_indexdef" => match args.first() {
            Some(Datum::String(s)) if name == "pg_get_expr" => Datum::String(s.clone()),
            _ => Datum::Null,
        },
        "current_schema" => Datum::String("public".into()),
        "current_schemas" => Datum::String("{pg_catalog,public}".into()),
        "pg_encoding_to_char" => Datum::String("UTF8".into()),
        "array_to_string" => match args.as_slice() {
            [Datum::String(a), Datum::String(sep), ..] => Datum::String(
                a.trim_start_matches('{')
                    .trim_end_matches('}')
                    .split(',')
                    .filter(|x| !x.is_empty())
                    .collect::<Vec<_>>()
                    .join(sep),
            ),
            _ => Datum::Null,
        },
        "format_type" => match args.first() {
            Some(Datum::Int(oid)) => Datum::String(
                match oid {
                    16 => "boolean",
                    17 => "bytea",
                    20 => "bigint",
                    21 => "smallint",
                    23 => "integer",
                    25 => "text",
                    700 => "real",
                    701 => "double precision",
                    1043 => "character varying",
                    1082 => "date",
                    1083 => "time without time zone",
                    1114 => "timestamp without time zone",
                    1184 => "timestamp with time zone",
                    1186 => "interval",
                    1700 => "numeric",
                    2950 => "uuid",
                    3802 => "jsonb",
                    _ => "unknown",
                }
                .into(),
            ),
            _ => Datum::Null,
        },
        "gen_random_uuid" | "uuid_generate_v4" | "uuid_v4" => {
            Datum::Uuid(*uuid::Uuid::new_v4().as_bytes())
        }
        "unique_rowid" => Datum::Int(unique_rowid(ctx.now_nanos)),
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
                let c: Vec<char> = s.chars().collect();
                let k = (*n).clamp(0, c.len() as i64) as usize;
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
                if *n >= 0 && (*n as usize).saturating_mul(s.len()) <= 1 << 26 =>
            {
                Datum::String(s.repeat(*n as usize))
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
                "{:032x}",
                md5_digest(v.to_text().unwrap_or_default().as_bytes())
            )),
        },
        "round" | "floor" | "ceil" | "ceiling" | "trunc" | "sqrt" | "exp" | "ln" | "sign" => {
            let v = args.first().cloned().unwrap_or(Datum::Null);
            let places = match args.get(1) {
                Some(Datum::Int(p)) => Some(*p),
                _ => None,
            };
            match v {
                Datum::Null => Datum::Null,
                Datum::Decimal(d) if !matches!(name, "sqrt" | "exp" | "ln") => {
                    Datum::Decimal(match name {
                        "round" => d.round_dp(places.unwrap_or(0).max(0) as u32),
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
                            let m = 10f64.powi(places.unwrap_or(0) as i32);
                            (f * m).round() / m
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
        "to_jsonb" | "to_json" => {
            Datum::Json(super::types::json_text(&datum_to_json(&one(&args)?)))
        }
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

/// Compares two values; `Ok(None)` when either is NULL; an error when incomparable.
pub fn compare(a: &Datum, b: &Datum) -> Result<Option<std::cmp::Ordering>> {
    if a.is_null() || b.is_null() {
        return Ok(None);
    }
    // Untyped string literals compare against the other side's type.
    let (a, b) = match (a, b) {
        (Datum::String(s), other) if !matches!(other, Datum::String(_)) => (
            Datum::String(s.clone()).coerce(other.sql_type().unwrap_or(SqlType::String))?,
            other.clone(),
        ),
        (other, Datum::String(s)) if !matches!(other, Datum::String(_)) => (
            other.clone(),
            Datum::String(s.clone()).coerce(other.sql_type().unwrap_or(SqlType::String))?,
        ),
        _ => (a.clone(), b.clone()),
    };
    a.compare(&b).map(Some).ok_or_else(|| {
        SqlError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!(
                "unsupported comparison operator: <{}> = <{}>",
                a.sql_type().map_or("unknown", |t| t.name()).to_lowercase(),
                b.sql_type().map_or("unknown", |t| t.name()).to_lowercase()
            ),
        )
    })
}

fn binary(op: &BinaryOperator, l: Datum, r: Datum) -> Result<Datum> {
    use std::cmp::Ordering::*;
    let cmp = |want: &dyn Fn(std::cmp::Ordering) -> bool| -> Result<Datum> {
        Ok(compare(&l, &r)?.map_or(Datum::Null, |o| Datum::Bool(want(o))))
    };
    match op {
        BinaryOperator::Eq => return cmp(&|o| o == Equal),
        BinaryOperator::NotEq => return cmp(&|o| o != Equal),
        BinaryOperator::Lt => return cmp(&|o| o == Less),
        BinaryOperator::LtEq => return cmp(&|o| o != Greater),
        BinaryOperator::Gt => return cmp(&|o| o == Greater),
        BinaryOperator::GtEq => return cmp(&|o| o != Less),
        _ => {}
    }
    if l.is_null() || r.is_null() {
        return Ok(Datum::Null);
    }
    let overflow = || SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range");
    // JSONB operators.
    match (op, &l, &r) {
        (BinaryOperator::Arrow, Datum::Json(j), k) => {
            return Ok(
                json_get(j, k)?.map_or(Datum::Null, |v| Datum::Json(super::types::json_text(&v)))
            );
        }
        (BinaryOperator::LongArrow, Datum::Json(j), k) => {
            return Ok(json_get(j, k)?.map_or(Datum::Null, |v| match v {
                serde_json::Value::String(s) => Datum::String(s),
                serde_json::Value::Null => Datum::Null,
                other => Datum::String(super::types::json_text(&other)),
            }));
        }
        (BinaryOperator::AtArrow, Datum::Json(a), b)
        | (BinaryOperator::ArrowAt, b, Datum::Json(a)) => {
            let b = match b {
                Datum::Json(s) | Datum::String(s) => s.clone(),
                other => other.to_text().unwrap_or_default(),
            };
            let av: serde_json::Value =
                serde_json::from_str(a).map_err(|e| SqlError::internal(e.to_string()))?;
            let bv: serde_json::Value = serde_json::from_str(&b).map_err(|_| {
                SqlError::new(
                    SqlState::INVALID_TEXT_REPRESENTATION,
                    format!("could not parse JSON: {b}"),
                )
            })?;
            return Ok(Datum::Bool(json_contains(&av, &bv)));
        }
        _ => {}
    }
    // Regular expressions (~, ~*, !~, !~*), also as OPERATOR(pg_catalog.~).
    let regex_op = match op {
        BinaryOperator::PGRegexMatch => Some((false, false)),
        BinaryOperator::PGRegexIMatch => Some((true, false)),
        BinaryOperator::PGRegexNotMatch => Some((false, true)),
        BinaryOperator::PGRegexNotIMatch => Some((true, true)),
        BinaryOperator::PGCustomBinaryOperator(parts) => match parts.last().map(String::as_str) {
            Some("~") => Some((false, false)),
            Some("~*") => Some((true, false)),
            Some("!~") => Some((false, true)),
            Some("!~*") => Some((true, true)),
            _ => None,
        },
        _ => None,
    };
    if let Some((ci, negate)) = regex_op {
        let (Some(text), Some(pattern)) = (l.to_text(), r.to_text()) else {
            return Ok(Datum::Null);
        };
        let re = regex::RegexBuilder::new(&pattern)
            .case_insensitive(ci)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                SqlError::new(
                    SqlState("2201B"),
                    format!("invalid regular expression: {e}"),
                )
            })?;
        return Ok(Datum::Bool(re.is_match(&text) != negate));
    }
    // Decimal arithmetic (exact) when either side is DECIMAL and the other is exact.
    if matches!(
        (&l, &r),
        (Datum::Decimal(_), Datum::Decimal(_) | Datum::Int(_)) | (Datum::Int(_), Datum::Decimal(_))
    ) {
        let (a, b) = match (
            l.clone().coerce(SqlType::Decimal)?,
            r.clone().coerce(SqlType::Decimal)?,
        ) {
            (Datum::Decimal(a), Datum::Decimal(b)) => (a, b),
            _ => return Err(SqlError::internal("decimal coercion")),
        };
        let out = match op {
            BinaryOperator::Plus => a.checked_add(b),
            BinaryOperator::Minus => a.checked_sub(b),
            BinaryOperator::Multiply => a.checked_mul(b),
            BinaryOperator::Divide if b.is_zero() => {
                return Err(SqlError::new(
                    SqlState::DIVISION_BY_ZERO,
                    "division by zero",
                ));
            }
            BinaryOperator::Divide => a.checked_div(b),
            BinaryOperator::Modulo if b.is_zero() => {
                return Err(SqlError::new(
                    SqlState::DIVISION_BY_ZERO,
                    "division by zero",
                ));
            }
            BinaryOperator::Modulo => a.checked_rem(b),
            BinaryOperator::StringConcat => return Ok(Datum::String(format!("{a}{b}"))),
            other => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("unsupported binary operator: <decimal> {other} <decimal>"),
                ));
            }
        };
        return out.map(Datum::Decimal).ok_or_else(|| {
            SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range")
        });
    }
    // Date/time arithmetic.
    match (op, &l, &r) {
        (
            BinaryOperator::Plus | BinaryOperator::Minus,
            Datum::Timestamp(t) | Datum::TimestampTz(t),
            Datum::Interval {
                months,
                days,
                micros,
            },
        ) => {
            let sign = if matches!(op, BinaryOperator::Minus) {
                -1
            } else {
                1
            };
            let dt = chrono::DateTime::from_timestamp_micros(*t).ok_or_else(overflow)?;
            let dt = if *months != 0 {
                let m = chrono::Months::new(months.unsigned_abs());
                if (*months > 0) == (sign > 0) {
                    dt.checked_add_months(m)
                } else {
                    dt.checked_sub_months(m)
                }
                .ok_or_else(overflow)?
            } else {
                dt
            };
            let nt = dt.timestamp_micros() + sign * (i64::from(*days) * 86_400_000_000 + micros);
            return Ok(if matches!(l, Datum::Timestamp(_)) {
                Datum::Timestamp(nt)
            } else {
                Datum::TimestampTz(nt)
            });
        }
        (
            BinaryOperator::Plus,
            Datum::Interval { .. },
            Datum::Timestamp(_) | Datum::TimestampTz(_),
        ) => return binary(op, r.clone(), l.clone()),
        (
            BinaryOperator::Minus,
            Datum::Timestamp(a) | Datum::TimestampTz(a),
            Datum::Timestamp(b) | Datum::TimestampTz(b),
        ) => {
            let d = a - b;
            return Ok(Datum::Interval {
                months: 0,
                days: (d / 86_400_000_000) as i32,
                micros: d % 86_400_000_000,
            });
        }
        (BinaryOperator::Plus | BinaryOperator::Minus, Datum::Date(d), Datum::Int(n)) => {
            let n = i32::try_from(*n).map_err(|_| overflow())?;
            return Ok(Datum::Date(if matches!(op, BinaryOperator::Plus) {
                d + n
            } else {
                d - n
            }));
        }
        (BinaryOperator::Minus, Datum::Date(a), Datum::Date(b)) => {
            return Ok(Datum::Int(i64::from(a - b)));
        }
        (
            BinaryOperator::Plus | BinaryOperator::Minus,
            Datum::Interval {
                months: m1,
                days: d1,
                micros: u1,
            },
            Datum::Interval {
                months: m2,
                days: d2,
                micros: u2,
            },
        ) => {
            let s = if matches!(op, BinaryOperator::Minus) {
                -1
            } else {
                1
            };
            return Ok(Datum::Interval {
                months: m1 + s * m2,
                days: d1 + s * d2,
                micros: u1 + i64::from(s) * u2,
            });
        }
        _ => {}
    }
    let (l, r) = match (&l, &r) {
        (Datum::Decimal(d), Datum::Float(_)) => (
            Datum::Float(rust_decimal::prelude::ToPrimitive::to_f64(d).unwrap_or(f64::NAN)),
            r,
        ),
        (Datum::Float(_), Datum::Decimal(d)) => (
            l,
            Datum::Float(rust_decimal::prelude::ToPrimitive::to_f64(d).unwrap_or(f64::NAN)),
        ),
        _ => (l, r),
    };
    match (op, l, r) {
        (BinaryOperator::StringConcat, a, b) => Ok(Datum::String(format!(
            "{}{}",
            a.to_text().unwrap_or_default(),
            b.to_text().unwrap_or_default()
        ))),
        (BinaryOperator::Plus, Datum::Int(a), Datum::Int(b)) => {
            a.checked_add(b).map(Datum::Int).ok_or_else(overflow)
        }
        (BinaryOperator::Minus, Datum::Int(a), Datum::Int(b)) => {
            a.checked_sub(b).map(Datum::Int).ok_or_else(overflow)
        }
        (BinaryOperator::Multiply, Datum::Int(a), Datum::Int(b)) => {
            a.checked_mul(b).map(Datum::Int).ok_or_else(overflow)
        }
        (BinaryOperator::Divide | BinaryOperator::Modulo, Datum::Int(_), Datum::Int(0)) => Err(
            SqlError::new(SqlState::DIVISION_BY_ZERO, "division by zero"),
        ),
        (BinaryOperator::Divide, Datum::Int(a), Datum::Int(b)) => {
            Ok(Datum::Float(a as f64 / b as f64))
        }
        (BinaryOperator::Modulo, Datum::Int(a), Datum::Int(b)) => Ok(Datum::Int(a.wrapping_rem(b))),
        (op, a @ (Datum::Int(_) | Datum::Float(_)), b @ (Datum::Int(_) | Datum::Float(_))) => {
            let (x, y) = (as_f64(&a), as_f64(&b));
            match op {
                BinaryOperator::Plus => Ok(Datum::Float(x + y)),
                BinaryOperator::Minus => Ok(Datum::Float(x - y)),
                BinaryOperator::Multiply => Ok(Datum::Float(x * y)),
                BinaryOperator::Divide if y == 0.0 => Err(SqlError::new(
                    SqlState::DIVISION_BY_ZERO,
                    "division by zero",
                )),
                BinaryOperator::Divide => Ok(Datum::Float(x / y)),
                BinaryOperator::Modulo => Ok(Datum::Float(x % y)),
                other => Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("unsupported binary operator: {other}"),
                )),
            }
        }
        (op, a, b) => Err(SqlError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!(
                "unsupported binary operator: <{}> {op} <{}>",
                a.sql_type().map_or("unknown", |t| t.name()).to_lowercase(),
                b.sql_type().map_or("unknown", |t| t.name()).to_lowercase()
            ),
        )),
    }
}

fn as_f64(d: &Datum) -> f64 {
    match d {
        Datum::Int(i) => *i as f64,
        Datum::Float(f) => *f,
        _ => 0.0,
    }
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
        other => serde_json::Value::String(other.to_text().unwrap_or_default()),
    }
}

fn md5_digest(data: &[u8]) -> u128 {
    // A small MD5 (RFC 1321) so md5() needs no extra crate.
    let s: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32)
        .collect();
    let (mut a0, mut b0, mut c0, mut d0): (u32, u32, u32, u32) =
        (0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476);
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f2 = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f2.rotate_left(s[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&a0.to_le_bytes());
    out[4..8].copy_from_slice(&b0.to_le_bytes());
    out[8..12].copy_from_slice(&c0.to_le_bytes());
    out[12..].copy_from_slice(&d0.to_le_bytes());
    u128::from_be_bytes(out)
}

/// SQL LIKE with `%` and `_` (backslash escapes the next character).
pub fn like(s: &str, p: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = p.chars().collect();
    fn go(s: &[char], p: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('%') => (0..=s.len()).any(|i| go(&s[i..], &p[1..])),
            Some('_') => !s.is_empty() && go(&s[1..], &p[1..]),
            Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && go(&s[1..], &p[2..]),
            Some(c) => s.first() == Some(c) && go(&s[1..], &p[1..]),
        }
    }
    go(&s, &p)
}

/// The static type of an expression, when it can be known before evaluation.
pub fn infer_type(e: &Expr, columns: &[(String, SqlType)]) -> SqlType {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
            let n = ident_name(e).unwrap_or_default();
            columns
                .iter()
                .find(|(c, _)| *c == n)
                .map(|(_, t)| *t)
                .unwrap_or(SqlType::String)
        }
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => {
                if n.parse::<i64>().is_ok() {
                    SqlType::Int
                } else {
                    SqlType::Float
                }
            }
            Value::Boolean(_) => SqlType::Bool,
            _ => SqlType::String,
        },
        Expr::Nested(x) => infer_type(x, columns),
        Expr::Cast { data_type, .. } => SqlType::from_ast(data_type).unwrap_or(SqlType::String),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq
            | BinaryOperator::And
            | BinaryOperator::Or => SqlType::Bool,
            BinaryOperator::StringConcat => SqlType::String,
            BinaryOperator::Divide => SqlType::Float,
            _ => match (infer_type(left, columns), infer_type(right, columns)) {
                (SqlType::Int, SqlType::Int) => SqlType::Int,
                _ => SqlType::Float,
            },
        },
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            ..
        }
        | Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::In { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::ILike { .. } => SqlType::Bool,
        Expr::UnaryOp { expr, .. } => infer_type(expr, columns),
        Expr::Function(f) => match f.name.to_string().to_lowercase().as_str() {
            "length" | "char_length" | "now" | "count" => SqlType::Int,
            _ => SqlType::String,
        },
        _ => SqlType::String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(sql: &str) -> Result<Datum> {
        let ctx = EvalContext {
            params: &[Datum::Int(7)],
            user: "root",
            database: "defaultdb",
            now_nanos: 0,
        };
        let stmt = crate::sql::parser::parse(&format!("SELECT {sql}")).expect("parse");
        let crate::sql::ast::Statement::Pg(s) = &stmt[0] else {
            panic!("not pg")
        };
        let sqlparser::ast::Statement::Query(q) = s.as_ref() else {
            panic!("not query")
        };
        let sqlparser::ast::SetExpr::Select(sel) = q.body.as_ref() else {
            panic!("not select")
        };
        let sqlparser::ast::SelectItem::UnnamedExpr(e) = &sel.projection[0] else {
            panic!("not expr")
        };
        eval(e, None, &ctx)
    }

    #[test]
    fn expressions_follow_sql_semantics() {
        assert_eq!(ev("1 + 2 * 3").expect("eval"), Datum::Int(7));
        assert_eq!(ev("NULL AND false").expect("eval"), Datum::Bool(false));
        assert_eq!(ev("NULL OR false").expect("eval"), Datum::Null);
        assert_eq!(ev("$1 IN (1, 7)").expect("eval"), Datum::Bool(true));
        assert_eq!(ev("'abc' LIKE 'a%'").expect("eval"), Datum::Bool(true));
        assert_eq!(ev("'12'::INT + 1").expect("eval"), Datum::Int(13));
        assert_eq!(
            ev("1 / 0").expect_err("div").state,
            SqlState::DIVISION_BY_ZERO
        );
        assert_eq!(
            ev("9223372036854775807 + 1").expect_err("overflow").state,
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE
        );
        assert_eq!(
            ev("nosuch").expect_err("col").state,
            SqlState::UNDEFINED_COLUMN
        );
        assert_eq!(
            ev("CASE WHEN 1 = 2 THEN 'a' ELSE 'b' END").expect("eval"),
            Datum::String("b".into())
        );
    }
}
