//! Assignment casts between SQL types ([`Datum::coerce`]): one step per target type, each
//! accepting the values PostgreSQL converts to it (text in that type's input syntax included)
//! and answering any other value with 42804. Text that does not parse is 22P02; a number out of
//! the target's range is 22003. NULL converts to NULL of every type.

use super::*;

impl Datum {
    /// Converts to `ty` (assignment cast), with PostgreSQL's error codes.
    pub fn coerce(self, ty: SqlType) -> Result<Datum> {
        if self.is_null() {
            return Ok(Datum::Null);
        }
        match ty {
            SqlType::Int => to_int(self),
            SqlType::Float => to_float(self),
            SqlType::String => to_string(self),
            SqlType::Bool => to_bool(self),
            SqlType::Bytes => match self {
                Datum::Bytes(b) => Ok(Datum::Bytes(b)),
                Datum::String(s) => Ok(Datum::Bytes(parse_bytea(&s))),
                v => Err(mismatch(ty, v)),
            },
            SqlType::Decimal => to_decimal(self),
            SqlType::Uuid => to_uuid(self),
            SqlType::Timestamp | SqlType::TimestampTz => to_timestamp(ty, self),
            SqlType::Date | SqlType::Time | SqlType::Interval => to_date_or_time(ty, self),
            SqlType::Jsonb => match self {
                Datum::Json(j) => Ok(Datum::Json(j)),
                Datum::String(s) => Ok(Datum::Json(canonical_json(&s).ok_or_else(|| {
                    SqlError::new(
                        SqlState::INVALID_TEXT_REPRESENTATION,
                        format!("could not parse JSON: {s}"),
                    )
                })?)),
                v => Err(mismatch(ty, v)),
            },
            SqlType::Array(e) => match self {
                Datum::Array(items) => Ok(Datum::Array(
                    items
                        .into_iter()
                        .map(|d| d.coerce(e.sql_type()))
                        .collect::<Result<_>>()?,
                )),
                Datum::String(s) => Ok(Datum::Array(
                    parse_array(&s)?
                        .into_iter()
                        .map(|d| d.coerce(e.sql_type()))
                        .collect::<Result<_>>()?,
                )),
                v => Err(mismatch(ty, v)),
            },
        }
    }
}

/// 22P02: `v` (text that did not parse, or a value beyond the type) is no `ty`.
fn bad(v: &Datum, ty: SqlType) -> SqlError {
    SqlError::new(
        SqlState::INVALID_TEXT_REPRESENTATION,
        format!(
            "could not parse {} as type {}",
            v.to_text().unwrap_or_default(),
            ty.name().to_lowercase()
        ),
    )
}

/// 42804: values of `v`'s type do not convert to `ty`.
fn mismatch(ty: SqlType, v: Datum) -> SqlError {
    SqlError::new(
        SqlState::DATATYPE_MISMATCH,
        format!(
            "value type {} doesn't match type {} of column",
            v.sql_type().map_or("unknown", |t| t.name()).to_lowercase(),
            ty.name().to_lowercase()
        ),
    )
}

/// 22003 `integer out of range`.
fn int_out_of_range() -> SqlError {
    SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range")
}

/// To INT: floats round half to even, decimals half away from zero (as PostgreSQL and
/// CockroachDB round each), booleans are 0 or 1.
fn to_int(v: Datum) -> Result<Datum> {
    Ok(match v {
        Datum::Int(i) => Datum::Int(i),
        Datum::Float(f) => {
            // 2^63 itself is out of range (`as` would saturate it to i64::MAX).
            let r = f.round_ties_even();
            if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r) {
                return Err(int_out_of_range());
            }
            Datum::Int(r as i64)
        }
        Datum::String(s) => Datum::Int(
            s.trim()
                .parse()
                .map_err(|_| bad(&Datum::String(s.clone()), SqlType::Int))?,
        ),
        Datum::Bool(b) => Datum::Int(i64::from(b)),
        Datum::Decimal(d) => Datum::Int(
            rust_decimal::prelude::ToPrimitive::to_i64(
                &d.round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero),
            )
            .ok_or_else(int_out_of_range)?,
        ),
        v => return Err(mismatch(SqlType::Int, v)),
    })
}

/// To FLOAT: from INT, DECIMAL (NaN when it does not convert) and text.
fn to_float(v: Datum) -> Result<Datum> {
    Ok(match v {
        Datum::Float(f) => Datum::Float(f),
        Datum::Int(i) => Datum::Float(i as f64),
        Datum::String(s) => Datum::Float(
            parse_float(&s).ok_or_else(|| bad(&Datum::String(s.clone()), SqlType::Float))?,
        ),
        Datum::Decimal(d) => {
            Datum::Float(rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or(f64::NAN))
        }
        v => return Err(mismatch(SqlType::Float, v)),
    })
}

/// To STRING: every value, in its text output form; `CAST(b AS STRING)` spells a boolean out
/// (the wire's text format says `t`/`f`) and bytes are read as UTF-8.
fn to_string(v: Datum) -> Result<Datum> {
    Ok(match v {
        Datum::String(s) => Datum::String(s),
        Datum::Bool(b) => Datum::String(if b { "true" } else { "false" }.into()),
        Datum::Bytes(b) => Datum::String(String::from_utf8_lossy(&b).into_owned()),
        v @ (Datum::Int(_)
        | Datum::Float(_)
        | Datum::Array(_)
        | Datum::Decimal(_)
        | Datum::Uuid(_)
        | Datum::Timestamp(_)
        | Datum::TimestampTz(_)
        | Datum::Date(_)
        | Datum::Time(_)
        | Datum::Interval { .. }
        | Datum::Json(_)) => Datum::String(v.to_text().unwrap_or_default()),
        v => return Err(mismatch(SqlType::String, v)),
    })
}

/// To BOOL: from text (PostgreSQL's spellings) and INT (non-zero is true).
fn to_bool(v: Datum) -> Result<Datum> {
    Ok(match v {
        Datum::Bool(b) => Datum::Bool(b),
        Datum::String(s) => Datum::Bool(
            parse_bool(&s).ok_or_else(|| bad(&Datum::String(s.clone()), SqlType::Bool))?,
        ),
        Datum::Int(i) => Datum::Bool(i != 0),
        v => return Err(mismatch(SqlType::Bool, v)),
    })
}

/// To DECIMAL: from INT, FLOAT (22P02 for NaN and infinities) and text.
fn to_decimal(v: Datum) -> Result<Datum> {
    Ok(match v {
        Datum::Decimal(d) => Datum::Decimal(d),
        Datum::Int(i) => Datum::Decimal(rust_decimal::Decimal::from(i)),
        Datum::Float(f) => Datum::Decimal(
            rust_decimal::Decimal::try_from(f)
                .map_err(|_| bad(&Datum::Float(f), SqlType::Decimal))?,
        ),
        Datum::String(s) => Datum::Decimal(
            parse_decimal(&s).ok_or_else(|| bad(&Datum::String(s.clone()), SqlType::Decimal))?,
        ),
        v => return Err(mismatch(SqlType::Decimal, v)),
    })
}

/// To UUID: from text and from exactly 16 bytes.
fn to_uuid(v: Datum) -> Result<Datum> {
    Ok(match v {
        Datum::Uuid(u) => Datum::Uuid(u),
        Datum::String(s) => Datum::Uuid(
            *uuid::Uuid::parse_str(s.trim())
                .map_err(|_| {
                    SqlError::new(
                        SqlState::INVALID_TEXT_REPRESENTATION,
                        format!("could not parse \"{s}\" as type uuid"),
                    )
                })?
                .as_bytes(),
        ),
        Datum::Bytes(b) if b.len() == 16 => Datum::Uuid(
            b.as_slice()
                .try_into()
                .map_err(|_| SqlError::internal("uuid length"))?,
        ),
        v => return Err(mismatch(SqlType::Uuid, v)),
    })
}

/// To TIMESTAMP or TIMESTAMPTZ (`ty`): from either of them (the same instant), a date
/// (its midnight) and text.
fn to_timestamp(ty: SqlType, v: Datum) -> Result<Datum> {
    let micros = match v {
        Datum::Timestamp(t) | Datum::TimestampTz(t) => t,
        Datum::Date(d) => i64::from(d) * 86_400_000_000,
        Datum::String(s) => parse_timestamp(&s).ok_or_else(|| {
            let name = if ty == SqlType::Timestamp {
                "timestamp"
            } else {
                "timestamptz"
            };
            SqlError::new(
                SqlState::INVALID_TEXT_REPRESENTATION,
                format!("parsing as type {name}: could not parse \"{s}\""),
            )
        })?,
        v => return Err(mismatch(ty, v)),
    };
    Ok(if ty == SqlType::Timestamp {
        Datum::Timestamp(micros)
    } else {
        Datum::TimestampTz(micros)
    })
}

/// To DATE (from a timestamp's day, or text), TIME or INTERVAL (from text) (`ty`).
fn to_date_or_time(ty: SqlType, v: Datum) -> Result<Datum> {
    let unparsable = |kind: &str, s: &str| {
        SqlError::new(
            SqlState::INVALID_TEXT_REPRESENTATION,
            format!("parsing as type {kind}: could not parse \"{s}\""),
        )
    };
    Ok(match (ty, v) {
        (SqlType::Date, Datum::Date(d)) => Datum::Date(d),
        (SqlType::Date, Datum::Timestamp(t) | Datum::TimestampTz(t)) => {
            Datum::Date(t.div_euclid(86_400_000_000) as i32)
        }
        (SqlType::Date, Datum::String(s)) => {
            Datum::Date(parse_date(&s).ok_or_else(|| unparsable("date", &s))?)
        }
        (SqlType::Time, Datum::Time(t)) => Datum::Time(t),
        (SqlType::Time, Datum::String(s)) => {
            Datum::Time(parse_time(&s).ok_or_else(|| unparsable("time", &s))?)
        }
        (SqlType::Interval, v @ Datum::Interval { .. }) => v,
        (SqlType::Interval, Datum::String(s)) => parse_interval(&s).ok_or_else(|| {
            SqlError::new(
                SqlState::INVALID_TEXT_REPRESENTATION,
                format!("could not parse \"{s}\" as type interval"),
            )
        })?,
        (ty, v) => return Err(mismatch(ty, v)),
    })
}
