//! Comparison and binary operators over [`Datum`]s: arithmetic (exact for integers and
//! decimals, with overflow errors), string concatenation, date/time arithmetic, JSONB operators
//! and regular expressions.

use super::error::{Result, SqlError};
use super::functions::{json_contains, json_get};
use super::sqlstate::SqlState;
use super::types::{Datum, SqlType};
use sqlparser::ast::BinaryOperator;

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

/// `l op r` for every binary operator but `AND`/`OR` (which short-circuit in `expr`):
/// comparisons (NULL when either side is), then NULL in, NULL out, then the first family of
/// operators that applies to the operands.
pub(crate) fn binary(op: &BinaryOperator, l: Datum, r: Datum) -> Result<Datum> {
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
    if let Some(d) = json_op(op, &l, &r)? {
        return Ok(d);
    }
    if let Some(d) = array_op(op, &l, &r)? {
        return Ok(d);
    }
    if let Some(d) = regex_op(op, &l, &r)? {
        return Ok(d);
    }
    if matches!(op, BinaryOperator::PGExp) {
        return power(&l, &r);
    }
    // Decimal arithmetic (exact) when either side is DECIMAL and the other is exact.
    if matches!(
        (&l, &r),
        (Datum::Decimal(_), Datum::Decimal(_) | Datum::Int(_)) | (Datum::Int(_), Datum::Decimal(_))
    ) {
        return decimal_arith(op, &l, &r);
    }
    if let Some(d) = datetime_op(op, &l, &r)? {
        return Ok(d);
    }
    scalar_arith(op, l, r)
}

/// 22003 `integer out of range`.
fn int_overflow() -> SqlError {
    SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range")
}

/// The JSONB operators: `->`, `->>`, `@>`, `<@` and `||` (with a JSONB or string side); `None`
/// when `op` is not one of them for these operands.
fn json_op(op: &BinaryOperator, l: &Datum, r: &Datum) -> Result<Option<Datum>> {
    Ok(Some(match (op, l, r) {
        (BinaryOperator::Arrow, Datum::Json(j), k) => {
            json_get(j, k)?.map_or(Datum::Null, |v| Datum::Json(super::types::json_text(&v)))
        }
        (BinaryOperator::LongArrow, Datum::Json(j), k) => {
            json_get(j, k)?.map_or(Datum::Null, |v| match v {
                serde_json::Value::String(s) => Datum::String(s),
                serde_json::Value::Null => Datum::Null,
                other => Datum::String(super::types::json_text(&other)),
            })
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
            Datum::Bool(json_contains(&av, &bv))
        }
        (BinaryOperator::StringConcat, Datum::Json(a), Datum::Json(b) | Datum::String(b))
        | (BinaryOperator::StringConcat, Datum::String(a), Datum::Json(b)) => json_concat(a, b)?,
        _ => return Ok(None),
    }))
}

/// The regular expression operators `~`, `~*`, `!~` and `!~*` (also as
/// `OPERATOR(pg_catalog.~)`); `None` when `op` is none of them.
fn regex_op(op: &BinaryOperator, l: &Datum, r: &Datum) -> Result<Option<Datum>> {
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
    let Some((ci, negate)) = regex_op else {
        return Ok(None);
    };
    let (Some(text), Some(pattern)) = (l.to_text(), r.to_text()) else {
        return Ok(Some(Datum::Null));
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
    Ok(Some(Datum::Bool(re.is_match(&text) != negate)))
}

/// Exact DECIMAL arithmetic, for a DECIMAL with a DECIMAL or an INT (`||` spells both
/// sides); out of range is 22003, division by zero 22012.
fn decimal_arith(op: &BinaryOperator, l: &Datum, r: &Datum) -> Result<Datum> {
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
        BinaryOperator::Divide => return decimal_div(a, b).map(Datum::Decimal),
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
    out.map(Datum::Decimal)
        .ok_or_else(|| SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range"))
}

/// Date and time arithmetic: timestamp ± interval (months first, calendar-aware), timestamp -
/// timestamp, date ± days, date - date, interval × int and interval ± interval; `None` when
/// the operands are not one of these pairs.
fn datetime_op(op: &BinaryOperator, l: &Datum, r: &Datum) -> Result<Option<Datum>> {
    match (op, l, r) {
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
            let dt = chrono::DateTime::from_timestamp_micros(*t).ok_or_else(int_overflow)?;
            let dt = if *months != 0 {
                let m = chrono::Months::new(months.unsigned_abs());
                if (*months > 0) == (sign > 0) {
                    dt.checked_add_months(m)
                } else {
                    dt.checked_sub_months(m)
                }
                .ok_or_else(int_overflow)?
            } else {
                dt
            };
            let nt = dt.timestamp_micros() + sign * (i64::from(*days) * 86_400_000_000 + micros);
            return Ok(Some(if matches!(l, Datum::Timestamp(_)) {
                Datum::Timestamp(nt)
            } else {
                Datum::TimestampTz(nt)
            }));
        }
        (
            BinaryOperator::Plus,
            Datum::Interval { .. },
            Datum::Timestamp(_) | Datum::TimestampTz(_),
        ) => return binary(op, r.clone(), l.clone()).map(Some),
        (
            BinaryOperator::Minus,
            Datum::Timestamp(a) | Datum::TimestampTz(a),
            Datum::Timestamp(b) | Datum::TimestampTz(b),
        ) => {
            let d = a - b;
            return Ok(Some(Datum::Interval {
                months: 0,
                days: (d / 86_400_000_000) as i32,
                micros: d % 86_400_000_000,
            }));
        }
        (BinaryOperator::Plus | BinaryOperator::Minus, Datum::Date(d), Datum::Int(n)) => {
            let n = i32::try_from(*n).map_err(|_| int_overflow())?;
            return Ok(Some(Datum::Date(if matches!(op, BinaryOperator::Plus) {
                d + n
            } else {
                d - n
            })));
        }
        (
            BinaryOperator::Multiply,
            Datum::Interval {
                months,
                days,
                micros,
            },
            Datum::Int(n),
        )
        | (
            BinaryOperator::Multiply,
            Datum::Int(n),
            Datum::Interval {
                months,
                days,
                micros,
            },
        ) => {
            let bad = || SqlError::new(SqlState("22008"), "interval out of range");
            let n32 = i32::try_from(*n).map_err(|_| bad())?;
            return Ok(Some(Datum::Interval {
                months: months.checked_mul(n32).ok_or_else(bad)?,
                days: days.checked_mul(n32).ok_or_else(bad)?,
                micros: micros.checked_mul(*n).ok_or_else(bad)?,
            }));
        }
        (BinaryOperator::Minus, Datum::Date(a), Datum::Date(b)) => {
            return Ok(Some(Datum::Int(i64::from(a - b))));
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
            return Ok(Some(Datum::Interval {
                months: m1 + s * m2,
                days: d1 + s * d2,
                micros: u1 + i64::from(s) * u2,
            }));
        }
        _ => {}
    }
    Ok(None)
}

/// Arithmetic, concatenation and bitwise operators on INTs and FLOATs (a DECIMAL beside a
/// FLOAT is taken as a FLOAT), and `||` on any other pair of values.
fn scalar_arith(op: &BinaryOperator, l: Datum, r: Datum) -> Result<Datum> {
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
        // Each side as CAST(x AS STRING) spells it (`'a' || true` is `atrue`).
        (BinaryOperator::StringConcat, a, b) => {
            let text = |d: Datum| match d {
                Datum::Bool(b) => if b { "true" } else { "false" }.to_string(),
                other => other.to_text().unwrap_or_default(),
            };
            Ok(Datum::String(format!("{}{}", text(a), text(b))))
        }
        (BinaryOperator::Plus, Datum::Int(a), Datum::Int(b)) => {
            a.checked_add(b).map(Datum::Int).ok_or_else(int_overflow)
        }
        (BinaryOperator::Minus, Datum::Int(a), Datum::Int(b)) => {
            a.checked_sub(b).map(Datum::Int).ok_or_else(int_overflow)
        }
        (BinaryOperator::Multiply, Datum::Int(a), Datum::Int(b)) => {
            a.checked_mul(b).map(Datum::Int).ok_or_else(int_overflow)
        }
        (BinaryOperator::Divide | BinaryOperator::Modulo, Datum::Int(_), Datum::Int(0)) => Err(
            SqlError::new(SqlState::DIVISION_BY_ZERO, "division by zero"),
        ),
        // INT / INT is DECIMAL in CockroachDB (`1 / 3` is 0.33333333333333333333).
        (BinaryOperator::Divide, Datum::Int(a), Datum::Int(b)) => {
            decimal_div(a.into(), b.into()).map(Datum::Decimal)
        }
        (BinaryOperator::Modulo, Datum::Int(a), Datum::Int(b)) => Ok(Datum::Int(a.wrapping_rem(b))),
        // Bitwise operators on INT (`#` is exclusive or); a shift outside 0..=63 is an error, as
        // in CockroachDB (PostgreSQL would shift modulo 64).
        (BinaryOperator::BitwiseAnd, Datum::Int(a), Datum::Int(b)) => Ok(Datum::Int(a & b)),
        (BinaryOperator::BitwiseOr, Datum::Int(a), Datum::Int(b)) => Ok(Datum::Int(a | b)),
        (BinaryOperator::PGBitwiseXor, Datum::Int(a), Datum::Int(b)) => Ok(Datum::Int(a ^ b)),
        (
            BinaryOperator::PGBitwiseShiftLeft | BinaryOperator::PGBitwiseShiftRight,
            Datum::Int(a),
            Datum::Int(b),
        ) => {
            let Ok(n @ 0..=63) = u32::try_from(b) else {
                return Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    "shift argument out of range",
                ));
            };
            Ok(Datum::Int(
                if matches!(op, BinaryOperator::PGBitwiseShiftLeft) {
                    a.wrapping_shl(n)
                } else {
                    a >> n
                },
            ))
        }
        (op, a @ (Datum::Int(_) | Datum::Float(_)), b @ (Datum::Int(_) | Datum::Float(_))) => {
            let (x, y) = (as_f64(&a), as_f64(&b));
            // Finite operands with an infinite result overflowed (PostgreSQL: 22003).
            let finite = |v: f64| {
                if v.is_infinite() && x.is_finite() && y.is_finite() {
                    Err(SqlError::new(
                        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                        "value out of range: overflow",
                    ))
                } else {
                    Ok(Datum::Float(v))
                }
            };
            match op {
                BinaryOperator::Plus => finite(x + y),
                BinaryOperator::Minus => finite(x - y),
                BinaryOperator::Multiply => finite(x * y),
                BinaryOperator::Divide if y == 0.0 => Err(SqlError::new(
                    SqlState::DIVISION_BY_ZERO,
                    "division by zero",
                )),
                BinaryOperator::Divide => finite(x / y),
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

/// `a || b` on JSONB: two objects merge (the right side's value wins for a key both have);
/// otherwise both sides are taken as arrays (a non-array is a one-element array) and joined.
fn json_concat(a: &str, b: &str) -> Result<Datum> {
    let parse = |s: &str| -> Result<serde_json::Value> {
        serde_json::from_str(s).map_err(|_| {
            SqlError::new(
                SqlState::INVALID_TEXT_REPRESENTATION,
                format!("could not parse JSON: {s}"),
            )
        })
    };
    use serde_json::Value;
    let out = match (parse(a)?, parse(b)?) {
        (Value::Object(mut l), Value::Object(r)) => {
            l.extend(r);
            Value::Object(l)
        }
        (l, r) => {
            let as_vec = |v: Value| match v {
                Value::Array(items) => items,
                other => vec![other],
            };
            let mut items = as_vec(l);
            items.extend(as_vec(r));
            Value::Array(items)
        }
    };
    Ok(Datum::Json(super::types::json_text(&out)))
}

/// Significant digits of an inexact DECIMAL quotient (CockroachDB's decimal context).
const DIVISION_DIGITS: u32 = 20;

/// `a / b` on DECIMALs as CockroachDB computes it (its decimal context has 20 digits): an
/// exact quotient of at most 20 significant digits keeps the ideal scale (the dividend's minus
/// the divisor's, or as many digits as it needs: `1.0 / 4` is `0.25`, `4.0 / 2` is `2.0`,
/// `6 / 3` is `2`); any other is rounded half up to 20 significant digits (`2 / 3` is
/// `0.66666666666666666667`). Computed on exact big integers, so the rounding is decided by the
/// true remainder. A quotient needing more than 28 digits after the point (below about 1e-8,
/// beyond what DECIMAL holds here) is an error rather than a shorter answer.
pub(crate) fn decimal_div(
    a: rust_decimal::Decimal,
    b: rust_decimal::Decimal,
) -> Result<rust_decimal::Decimal> {
    use num_bigint::BigUint;
    use rust_decimal::Decimal;
    if b.is_zero() {
        return Err(SqlError::new(
            SqlState::DIVISION_BY_ZERO,
            "division by zero",
        ));
    }
    let out_of_range = || {
        SqlError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "decimal quotient out of range (more than 28 digits after the decimal point)",
        )
    };
    let (sa, sb) = (i64::from(a.scale()), i64::from(b.scale()));
    let ideal = (sa - sb).max(0);
    if a.is_zero() {
        return Ok(Decimal::new(0, ideal as u32));
    }
    let negative = a.is_sign_negative() != b.is_sign_negative();
    let ma = BigUint::from(a.mantissa().unsigned_abs());
    let mb = BigUint::from(b.mantissa().unsigned_abs());
    let digits = |x: &BigUint| x.to_string().len() as i64;
    // a / b = (ma / mb) * 10^(sb - sa); find k >= 0 with floor(ma * 10^k / mb) of 20 digits
    // (this k gives 19 or 20; one more step when 19).
    let mut k = (i64::from(DIVISION_DIGITS) - 1 - digits(&ma) + digits(&mb)).max(0);
    let ten = BigUint::from(10u32);
    let (mut q, mut r) = loop {
        let n = &ma * ten.pow(k as u32);
        let (q, r) = (&n / &mb, &n % &mb);
        let have = digits(&q);
        if have >= i64::from(DIVISION_DIGITS) || k > 80 {
            break (q, r);
        }
        k += i64::from(DIVISION_DIGITS) - have;
    };
    let mut scale = k + sa - sb;
    if r == BigUint::ZERO {
        // Exact: drop trailing zeros down to the ideal scale.
        while scale > ideal && (&q % &ten) == BigUint::ZERO {
            q /= &ten;
            scale -= 1;
        }
    } else {
        // Inexact: round half up on the remainder.
        r *= 2u32;
        if r >= mb {
            q += 1u32;
        }
    }
    if scale < 0 {
        q *= ten.pow((-scale) as u32);
        scale = 0;
    }
    if scale > 28 {
        return Err(out_of_range());
    }
    let m = i128::try_from(q).map_err(|_| out_of_range())?;
    let d = Decimal::try_from_i128_with_scale(if negative { -m } else { m }, scale as u32)
        .map_err(|_| out_of_range())?;
    Ok(d)
}

/// `x ^ y`: INT ^ INT is an INT (an error when it overflows; negative exponents are not
/// supported for INT), DECIMAL to an integral power is exact, anything with a FLOAT is FLOAT.
fn power(l: &Datum, r: &Datum) -> Result<Datum> {
    use rust_decimal::Decimal;
    use rust_decimal::prelude::ToPrimitive;
    let overflow = || SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range");
    match (l, r) {
        (Datum::Int(a), Datum::Int(b)) => {
            let e = u32::try_from(*b).map_err(|_| {
                SqlError::unsupported("INT ^ negative INT (cast an operand to DECIMAL or FLOAT)")
            })?;
            a.checked_pow(e).map(Datum::Int).ok_or_else(int_overflow)
        }
        (Datum::Decimal(_) | Datum::Int(_), Datum::Decimal(_) | Datum::Int(_)) => {
            let (Datum::Decimal(a), Datum::Decimal(b)) = (
                l.clone().coerce(SqlType::Decimal)?,
                r.clone().coerce(SqlType::Decimal)?,
            ) else {
                return Err(SqlError::internal("decimal coercion"));
            };
            if !b.fract().is_zero() {
                return Err(SqlError::unsupported(
                    "DECIMAL ^ a fractional DECIMAL (cast the operands to FLOAT)",
                ));
            }
            let n = b
                .abs()
                .to_u32()
                .filter(|n| *n <= 4096)
                .ok_or_else(overflow)?;
            let mut acc = Decimal::ONE;
            for _ in 0..n {
                acc = acc.checked_mul(a).ok_or_else(overflow)?;
            }
            if b.is_sign_negative() {
                acc = decimal_div(Decimal::ONE, acc)?;
            }
            Ok(Datum::Decimal(acc))
        }
        (
            Datum::Float(_) | Datum::Int(_) | Datum::Decimal(_),
            Datum::Float(_) | Datum::Int(_) | Datum::Decimal(_),
        ) => {
            let f = |d: &Datum| match d.clone().coerce(SqlType::Float) {
                Ok(Datum::Float(f)) => f,
                _ => f64::NAN,
            };
            let (x, y) = (f(l), f(r));
            if x == 0.0 && y < 0.0 {
                return Err(SqlError::new(
                    SqlState("2201F"),
                    "zero raised to a negative power is undefined",
                ));
            }
            if x < 0.0 && y.fract() != 0.0 {
                return Err(SqlError::new(
                    SqlState("2201F"),
                    "a negative number raised to a non-integer power yields a complex result",
                ));
            }
            Ok(Datum::Float(x.powf(y)))
        }
        (a, b) => Err(SqlError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!(
                "unsupported binary operator: <{}> ^ <{}>",
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

/// `other` as an array shaped like `like` (a string literal `'{1,2}'` is parsed with the
/// element type of `like`).
fn as_array(other: &Datum, like: &Datum) -> Result<Option<Vec<Datum>>> {
    Ok(match other {
        Datum::Array(items) => Some(items.clone()),
        Datum::String(s) if s.trim_start().starts_with('{') => {
            let ty = like
                .sql_type()
                .unwrap_or(SqlType::Array(super::types::ElemType::String));
            match Datum::String(s.clone()).coerce(ty)? {
                Datum::Array(items) => Some(items),
                _ => None,
            }
        }
        _ => None,
    })
}

/// Whether every non-NULL element of `needles` equals some element of `hay` (a NULL element
/// is never contained, as in PostgreSQL).
fn array_contains(hay: &[Datum], needles: &[Datum]) -> Result<bool> {
    for n in needles {
        let mut found = false;
        for h in hay {
            if compare(h, n)? == Some(std::cmp::Ordering::Equal) {
                found = true;
                break;
            }
        }
        if !found {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Array operators: `@>` and `<@` (containment), `&&` (overlap), `||` (concatenation of two
/// arrays, or of an array and an element). None when neither side is an array.
fn array_op(op: &BinaryOperator, l: &Datum, r: &Datum) -> Result<Option<Datum>> {
    if !matches!(l, Datum::Array(_)) && !matches!(r, Datum::Array(_)) {
        return Ok(None);
    }
    let pair = || -> Result<Option<(Vec<Datum>, Vec<Datum>)>> {
        match (as_array(l, r)?, as_array(r, l)?) {
            (Some(a), Some(b)) => Ok(Some((a, b))),
            _ => Ok(None),
        }
    };
    Ok(Some(match op {
        BinaryOperator::AtArrow | BinaryOperator::ArrowAt | BinaryOperator::PGOverlap => {
            let Some((a, b)) = pair()? else {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("unsupported binary operator: {op} between an array and a non-array"),
                ));
            };
            match op {
                BinaryOperator::AtArrow => Datum::Bool(array_contains(&a, &b)?),
                BinaryOperator::ArrowAt => Datum::Bool(array_contains(&b, &a)?),
                _ => {
                    let mut any = false;
                    for x in &a {
                        if !x.is_null() && array_contains(&b, std::slice::from_ref(x))? {
                            any = true;
                            break;
                        }
                    }
                    Datum::Bool(any)
                }
            }
        }
        BinaryOperator::StringConcat => match (l, r) {
            (Datum::Array(a), Datum::Array(b)) => {
                Datum::Array(a.iter().chain(b).cloned().collect())
            }
            (Datum::Array(a), x) => {
                if let Some(b) = as_array(x, l)? {
                    Datum::Array(a.iter().chain(&b).cloned().collect())
                } else {
                    let mut out = a.clone();
                    out.push(elem_like(x.clone(), l)?);
                    Datum::Array(out)
                }
            }
            (x, Datum::Array(b)) => {
                let mut out = vec![elem_like(x.clone(), r)?];
                out.extend(b.iter().cloned());
                Datum::Array(out)
            }
            _ => return Ok(None),
        },
        _ => return Ok(None),
    }))
}

/// `x` converted to the element type of array `like`.
fn elem_like(x: Datum, like: &Datum) -> Result<Datum> {
    match like {
        Datum::Array(items) if items.iter().any(|d| !d.is_null()) => {
            match like.sql_type().and_then(SqlType::elem) {
                Some(t) => x.coerce(t),
                None => Ok(x),
            }
        }
        _ => Ok(x),
    }
}

#[cfg(test)]
mod tests {
    use super::decimal_div;
    use rust_decimal::Decimal;

    fn div(a: &str, b: &str) -> String {
        let (a, b): (Decimal, Decimal) = (a.parse().unwrap(), b.parse().unwrap());
        decimal_div(a, b).unwrap().to_string()
    }

    #[test]
    fn decimal_division_follows_cockroachdb() {
        assert_eq!(div("1", "3"), "0.33333333333333333333");
        assert_eq!(div("2", "3"), "0.66666666666666666667");
        assert_eq!(div("-2", "3"), "-0.66666666666666666667");
        assert_eq!(div("10.0", "3"), "3.3333333333333333333");
        assert_eq!(div("1", "30000"), "0.000033333333333333333333");
        assert_eq!(div("1.0", "4"), "0.25");
        assert_eq!(div("4.0", "2"), "2.0");
        assert_eq!(div("6", "3"), "2");
        assert_eq!(div("4.50", "3"), "1.50");
        assert_eq!(div("100000000000000000000", "3"), "33333333333333333333");
        // A quotient whose first 20 digits are followed by exactly one half rounds up.
        assert_eq!(
            div("0.000000000000000000025", "1"),
            "0.000000000000000000025"
        );
        assert_eq!(div("1", "8"), "0.125");
        assert_eq!(div("5", "3"), "1.6666666666666666667");
        assert_eq!(div("99", "7"), "14.142857142857142857");
        assert!(decimal_div(Decimal::ONE, Decimal::ZERO).is_err());
        // Quotients that would need more than 28 digits after the point are errors.
        assert!(decimal_div(Decimal::ONE, "3000000000".parse().unwrap()).is_err());
    }
}
