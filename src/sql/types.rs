//! SQL types and values.
//!
//! [`Datum`] is one SQL value; [`SqlType`] a column type. Primary-key values are encoded into
//! keys with memcomparable (so key order is value order); rows are stored as postcard-encoded
//! `(column id, datum)` lists of their non-NULL columns, so columns can be added later without
//! rewriting rows. Text formatting follows PostgreSQL's text output.

use super::error::{Result, SqlError};
use super::sqlstate::SqlState;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

mod array;
mod coerce;
mod datetime;
pub use array::{format_array, parse_array};
pub use datetime::*;
mod text;
pub use text::*;

/// A column type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SqlType {
    /// INT8 (INT, INTEGER, BIGINT, INT4, INT2, SMALLINT are stored as INT8).
    Int,
    /// FLOAT8.
    Float,
    /// STRING / TEXT / VARCHAR.
    String,
    /// BOOL.
    Bool,
    /// BYTES / BYTEA.
    Bytes,
    /// DECIMAL / NUMERIC.
    Decimal,
    /// UUID.
    Uuid,
    /// TIMESTAMP (without time zone).
    Timestamp,
    /// TIMESTAMPTZ.
    TimestampTz,
    /// DATE.
    Date,
    /// TIME.
    Time,
    /// INTERVAL.
    Interval,
    /// JSONB.
    Jsonb,
    /// A one-dimensional array of a scalar type (`INT8[]`, `STRING[]`, ...).
    Array(ElemType),
}

/// The element type of an array: any scalar [`SqlType`]. Arrays do not nest (as in CockroachDB).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElemType {
    /// INT8.
    Int,
    /// FLOAT8.
    Float,
    /// STRING.
    String,
    /// BOOL.
    Bool,
    /// BYTES.
    Bytes,
    /// DECIMAL.
    Decimal,
    /// UUID.
    Uuid,
    /// TIMESTAMP.
    Timestamp,
    /// TIMESTAMPTZ.
    TimestampTz,
    /// DATE.
    Date,
    /// TIME.
    Time,
    /// INTERVAL.
    Interval,
    /// JSONB.
    Jsonb,
}

impl ElemType {
    /// The element's scalar type.
    pub fn sql_type(self) -> SqlType {
        match self {
            ElemType::Int => SqlType::Int,
            ElemType::Float => SqlType::Float,
            ElemType::String => SqlType::String,
            ElemType::Bool => SqlType::Bool,
            ElemType::Bytes => SqlType::Bytes,
            ElemType::Decimal => SqlType::Decimal,
            ElemType::Uuid => SqlType::Uuid,
            ElemType::Timestamp => SqlType::Timestamp,
            ElemType::TimestampTz => SqlType::TimestampTz,
            ElemType::Date => SqlType::Date,
            ElemType::Time => SqlType::Time,
            ElemType::Interval => SqlType::Interval,
            ElemType::Jsonb => SqlType::Jsonb,
        }
    }

    /// The element type for scalar `t` (None for an array: arrays do not nest).
    pub fn of(t: SqlType) -> Option<ElemType> {
        Some(match t {
            SqlType::Int => ElemType::Int,
            SqlType::Float => ElemType::Float,
            SqlType::String => ElemType::String,
            SqlType::Bool => ElemType::Bool,
            SqlType::Bytes => ElemType::Bytes,
            SqlType::Decimal => ElemType::Decimal,
            SqlType::Uuid => ElemType::Uuid,
            SqlType::Timestamp => ElemType::Timestamp,
            SqlType::TimestampTz => ElemType::TimestampTz,
            SqlType::Date => ElemType::Date,
            SqlType::Time => ElemType::Time,
            SqlType::Interval => ElemType::Interval,
            SqlType::Jsonb => ElemType::Jsonb,
            SqlType::Array(_) => return None,
        })
    }
}

impl SqlType {
    /// The type two numeric types meet in: INT with DECIMAL is DECIMAL, either with FLOAT is
    /// FLOAT (`None` unless both are numeric).
    pub fn numeric_common(self, other: SqlType) -> Option<SqlType> {
        use SqlType::*;
        match (self, other) {
            (Int, Int) | (Decimal, Decimal) | (Float, Float) => Some(self),
            (Int, Decimal) | (Decimal, Int) => Some(Decimal),
            (Int | Decimal, Float) | (Float, Int | Decimal) => Some(Float),
            _ => None,
        }
    }

    /// The array type whose elements are `self` (None when `self` is an array).
    pub fn array_of(self) -> Option<SqlType> {
        ElemType::of(self).map(SqlType::Array)
    }

    /// The element type of an array type (None for a scalar).
    pub fn elem(self) -> Option<SqlType> {
        match self {
            SqlType::Array(e) => Some(e.sql_type()),
            _ => None,
        }
    }

    /// The CockroachDB name shown by SHOW COLUMNS / SHOW CREATE.
    pub fn name(&self) -> &'static str {
        match self {
            SqlType::Int => "INT8",
            SqlType::Float => "FLOAT8",
            SqlType::String => "STRING",
            SqlType::Bool => "BOOL",
            SqlType::Bytes => "BYTES",
            SqlType::Decimal => "DECIMAL",
            SqlType::Uuid => "UUID",
            SqlType::Timestamp => "TIMESTAMP",
            SqlType::TimestampTz => "TIMESTAMPTZ",
            SqlType::Date => "DATE",
            SqlType::Time => "TIME",
            SqlType::Interval => "INTERVAL",
            SqlType::Jsonb => "JSONB",
            SqlType::Array(e) => match e {
                ElemType::Int => "INT8[]",
                ElemType::Float => "FLOAT8[]",
                ElemType::String => "STRING[]",
                ElemType::Bool => "BOOL[]",
                ElemType::Bytes => "BYTES[]",
                ElemType::Decimal => "DECIMAL[]",
                ElemType::Uuid => "UUID[]",
                ElemType::Timestamp => "TIMESTAMP[]",
                ElemType::TimestampTz => "TIMESTAMPTZ[]",
                ElemType::Date => "DATE[]",
                ElemType::Time => "TIME[]",
                ElemType::Interval => "INTERVAL[]",
                ElemType::Jsonb => "JSONB[]",
            },
        }
    }

    /// The PostgreSQL type OID.
    pub fn oid(&self) -> u32 {
        match self {
            SqlType::Int => 20,
            SqlType::Float => 701,
            SqlType::String => 25,
            SqlType::Bool => 16,
            SqlType::Bytes => 17,
            SqlType::Decimal => 1700,
            SqlType::Uuid => 2950,
            SqlType::Timestamp => 1114,
            SqlType::TimestampTz => 1184,
            SqlType::Date => 1082,
            SqlType::Time => 1083,
            SqlType::Interval => 1186,
            SqlType::Jsonb => 3802,
            SqlType::Array(e) => match e {
                ElemType::Int => 1016,
                ElemType::Float => 1022,
                ElemType::String => 1009,
                ElemType::Bool => 1000,
                ElemType::Bytes => 1001,
                ElemType::Decimal => 1231,
                ElemType::Uuid => 2951,
                ElemType::Timestamp => 1115,
                ElemType::TimestampTz => 1185,
                ElemType::Date => 1182,
                ElemType::Time => 1183,
                ElemType::Interval => 1187,
                ElemType::Jsonb => 3807,
            },
        }
    }

    /// Maps a parsed data type.
    pub fn from_ast(dt: &sqlparser::ast::DataType) -> Result<SqlType> {
        use sqlparser::ast::DataType as D;
        let t = match dt {
            D::Int(_)
            | D::Integer(_)
            | D::BigInt(_)
            | D::SmallInt(_)
            | D::Int2(_)
            | D::Int4(_)
            | D::Int8(_)
            | D::TinyInt(_) => SqlType::Int,
            D::Float(_)
            | D::Real
            | D::Double(_)
            | D::DoublePrecision
            | D::Float4
            | D::Float8
            | D::Float64 => SqlType::Float,
            D::Text
            | D::String(_)
            | D::Varchar(_)
            | D::Char(_)
            | D::CharVarying(_)
            | D::Character(_)
            | D::CharacterVarying(_) => SqlType::String,
            D::Bool | D::Boolean => SqlType::Bool,
            D::Decimal(_) | D::Numeric(_) | D::Dec(_) => SqlType::Decimal,
            D::Uuid => SqlType::Uuid,
            D::Timestamp(_, tz) => match tz {
                sqlparser::ast::TimezoneInfo::WithTimeZone | sqlparser::ast::TimezoneInfo::Tz => {
                    SqlType::TimestampTz
                }
                _ => SqlType::Timestamp,
            },
            D::Date => SqlType::Date,
            D::Time(..) => SqlType::Time,
            D::Interval { .. } => SqlType::Interval,
            D::JSON | D::JSONB => SqlType::Jsonb,
            D::Bytea | D::Bytes(_) | D::Blob(_) | D::Binary(_) | D::Varbinary(_) => SqlType::Bytes,
            D::Array(
                sqlparser::ast::ArrayElemTypeDef::SquareBracket(inner, _)
                | sqlparser::ast::ArrayElemTypeDef::Qualified(inner, _)
                | sqlparser::ast::ArrayElemTypeDef::AngleBracket(inner)
                | sqlparser::ast::ArrayElemTypeDef::Parenthesis(inner),
            ) => SqlType::from_ast(inner)?
                .array_of()
                .ok_or_else(|| SqlError::unsupported("nested arrays (arrays of arrays)"))?,
            D::Custom(name, _) => match name
                .to_string()
                .to_ascii_lowercase()
                .trim_start_matches("pg_catalog.")
            {
                "string" | "text" | "name" | "varchar" | "bpchar" | "char" | "\"char\"" => {
                    SqlType::String
                }
                "oid" | "regproc" | "xid" | "cid" => SqlType::Int,
                "bool" | "boolean" => SqlType::Bool,
                "int2vector" | "oidvector" => SqlType::Array(ElemType::Int),
                "int" | "int8" | "int4" | "int2" | "serial" | "bigserial" => SqlType::Int,
                "bytes" => SqlType::Bytes,
                "float" | "float8" | "float4" => SqlType::Float,
                "timestamptz" => SqlType::TimestampTz,
                "decimal" | "numeric" => SqlType::Decimal,
                "json" | "jsonb" => SqlType::Jsonb,
                "uuid" => SqlType::Uuid,
                other => {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("type \"{other}\" does not exist"),
                    ));
                }
            },
            other => return Err(SqlError::unsupported(format!("type {other}"))),
        };
        Ok(t)
    }
}

/// One SQL value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Datum {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A decimal.
    Decimal(#[serde(with = "rust_decimal::serde::str")] rust_decimal::Decimal),
    /// A UUID.
    Uuid([u8; 16]),
    /// TIMESTAMP: microseconds since the Unix epoch, no zone.
    Timestamp(i64),
    /// TIMESTAMPTZ: microseconds since the Unix epoch, UTC.
    TimestampTz(i64),
    /// DATE: days since the Unix epoch.
    Date(i32),
    /// TIME: microseconds since midnight.
    Time(i64),
    /// INTERVAL.
    Interval {
        /// Months.
        months: i32,
        /// Days.
        days: i32,
        /// Microseconds.
        micros: i64,
    },
    /// JSONB, as canonical text.
    Json(String),
    /// A one-dimensional array (elements of one type, or NULL), 1-based in SQL.
    Array(Vec<Datum>),
}

impl Datum {
    /// Whether this is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// The value's natural type (None for NULL).
    pub fn sql_type(&self) -> Option<SqlType> {
        Some(match self {
            Datum::Null => return None,
            Datum::Int(_) => SqlType::Int,
            Datum::Float(_) => SqlType::Float,
            Datum::String(_) => SqlType::String,
            Datum::Bool(_) => SqlType::Bool,
            Datum::Bytes(_) => SqlType::Bytes,
            Datum::Decimal(_) => SqlType::Decimal,
            Datum::Uuid(_) => SqlType::Uuid,
            Datum::Timestamp(_) => SqlType::Timestamp,
            Datum::TimestampTz(_) => SqlType::TimestampTz,
            Datum::Date(_) => SqlType::Date,
            Datum::Time(_) => SqlType::Time,
            Datum::Interval { .. } => SqlType::Interval,
            Datum::Json(_) => SqlType::Jsonb,
            Datum::Array(items) => SqlType::Array(
                items
                    .iter()
                    .find_map(Datum::sql_type)
                    .and_then(ElemType::of)
                    .unwrap_or(ElemType::String),
            ),
        })
    }

    /// PostgreSQL text output (`None` for NULL).
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Datum::Null => return None,
            Datum::Int(i) => i.to_string(),
            Datum::Float(f) => format_float(*f),
            Datum::String(s) => s.clone(),
            Datum::Bool(b) => {
                if *b {
                    "t".into()
                } else {
                    "f".into()
                }
            }
            Datum::Bytes(b) => {
                let mut s = String::with_capacity(2 + b.len() * 2);
                s.push_str("\\x");
                for c in b {
                    s.push_str(&format!("{c:02x}"));
                }
                s
            }
            Datum::Decimal(d) => d.to_string(),
            Datum::Uuid(u) => uuid::Uuid::from_bytes(*u).hyphenated().to_string(),
            Datum::Timestamp(t) => format_timestamp(*t, false),
            Datum::TimestampTz(t) => format_timestamp(*t, true),
            Datum::Date(d) => format_date(*d),
            Datum::Time(t) => format_time(*t),
            Datum::Interval {
                months,
                days,
                micros,
            } => format_interval(*months, *days, *micros),
            Datum::Json(j) => j.clone(),
            Datum::Array(items) => format_array(items),
        })
    }

    /// SQL comparison; `None` when either side is NULL or the types are incomparable.
    pub fn compare(&self, other: &Datum) -> Option<Ordering> {
        match (self, other) {
            (Datum::Int(a), Datum::Int(b)) => Some(a.cmp(b)),
            (Datum::Float(a), Datum::Float(b)) => a.partial_cmp(b),
            (Datum::Int(a), Datum::Float(b)) => (*a as f64).partial_cmp(b),
            (Datum::Float(a), Datum::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Datum::String(a), Datum::String(b)) => Some(a.cmp(b)),
            (Datum::Bool(a), Datum::Bool(b)) => Some(a.cmp(b)),
            (Datum::Bytes(a), Datum::Bytes(b)) => Some(a.cmp(b)),
            (Datum::Decimal(a), Datum::Decimal(b)) => Some(a.cmp(b)),
            (Datum::Decimal(a), Datum::Int(b)) => Some(a.cmp(&rust_decimal::Decimal::from(*b))),
            (Datum::Int(a), Datum::Decimal(b)) => Some(rust_decimal::Decimal::from(*a).cmp(b)),
            (Datum::Decimal(a), Datum::Float(b)) => {
                rust_decimal::prelude::ToPrimitive::to_f64(a).and_then(|x| x.partial_cmp(b))
            }
            (Datum::Float(a), Datum::Decimal(b)) => {
                rust_decimal::prelude::ToPrimitive::to_f64(b).and_then(|y| a.partial_cmp(&y))
            }
            (Datum::Uuid(a), Datum::Uuid(b)) => Some(a.cmp(b)),
            (
                Datum::Timestamp(a) | Datum::TimestampTz(a),
                Datum::Timestamp(b) | Datum::TimestampTz(b),
            ) => Some(a.cmp(b)),
            (Datum::Date(a), Datum::Date(b)) => Some(a.cmp(b)),
            (Datum::Time(a), Datum::Time(b)) => Some(a.cmp(b)),
            (
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
                let f = |m: i32, d: i32, u: i64| {
                    i128::from(m) * 30 * 86_400_000_000
                        + i128::from(d) * 86_400_000_000
                        + i128::from(u)
                };
                Some(f(*m1, *d1, *u1).cmp(&f(*m2, *d2, *u2)))
            }
            (Datum::Json(a), Datum::Json(b)) => Some(a.cmp(b)),
            // Element by element, NULL elements after all others, then by length (PostgreSQL).
            (Datum::Array(a), Datum::Array(b)) => {
                for (x, y) in a.iter().zip(b) {
                    let o = match (x.is_null(), y.is_null()) {
                        (true, true) => Ordering::Equal,
                        (true, false) => Ordering::Greater,
                        (false, true) => Ordering::Less,
                        (false, false) => x.compare(y)?,
                    };
                    if o != Ordering::Equal {
                        return Some(o);
                    }
                }
                Some(a.len().cmp(&b.len()))
            }
            _ => None,
        }
    }

    /// Appends the memcomparable key encoding (for primary-key columns; never NULL).
    pub fn encode_key(&self, out: &mut Vec<u8>) -> Result<()> {
        let enc = match self {
            Datum::Null => {
                return Err(SqlError::new(
                    SqlState::NOT_NULL_VIOLATION,
                    "primary key columns cannot be NULL",
                ));
            }
            Datum::Int(i) => memcomparable::to_vec(&(0u8, *i)),
            Datum::Float(f) => memcomparable::to_vec(&(1u8, *f)),
            Datum::String(s) => memcomparable::to_vec(&(2u8, s)),
            Datum::Bool(b) => memcomparable::to_vec(&(3u8, *b)),
            Datum::Bytes(b) => memcomparable::to_vec(&(4u8, serde_bytes_vec(b))),
            Datum::Uuid(u) => memcomparable::to_vec(&(5u8, u.to_vec())),
            Datum::Timestamp(t) | Datum::TimestampTz(t) => memcomparable::to_vec(&(6u8, *t)),
            Datum::Date(d) => memcomparable::to_vec(&(7u8, *d)),
            Datum::Time(t) => memcomparable::to_vec(&(8u8, *t)),
            Datum::Decimal(d) => {
                // Ordered by value: a float prefix for order, then the exact text for uniqueness.
                let f = rust_decimal::prelude::ToPrimitive::to_f64(d).unwrap_or(0.0);
                memcomparable::to_vec(&(9u8, f, d.normalize().to_string()))
            }
            Datum::Array(items) => {
                // Each element is preceded by 1 (then 0 for NULL or 1 and its encoding); a
                // final 0 ends the array, so a prefix sorts before any longer array.
                out.push(10);
                for item in items {
                    out.push(1);
                    if item.is_null() {
                        out.push(2);
                    } else {
                        out.push(1);
                        item.encode_key(out)?;
                    }
                }
                out.push(0);
                return Ok(());
            }
            Datum::Interval { .. } | Datum::Json(_) => {
                return Err(SqlError::unsupported(
                    "INTERVAL and JSONB primary key columns",
                ));
            }
        }
        .map_err(|e| SqlError::internal(format!("encode key: {e}")))?;
        out.extend_from_slice(&enc);
        Ok(())
    }
}

fn serde_bytes_vec(b: &[u8]) -> Vec<u8> {
    b.to_vec()
}

impl fmt::Display for Datum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_text() {
            Some(s) => f.write_str(&s),
            None => f.write_str("NULL"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_encoding_orders_like_values() {
        let vals = [Datum::Int(-5), Datum::Int(3), Datum::Int(40)];
        let enc: Vec<Vec<u8>> = vals
            .iter()
            .map(|v| {
                let mut o = Vec::new();
                v.encode_key(&mut o).expect("enc");
                o
            })
            .collect();
        assert!(enc[0] < enc[1] && enc[1] < enc[2]);
        let mut a = Vec::new();
        Datum::String("ab".into()).encode_key(&mut a).expect("enc");
        let mut b = Vec::new();
        Datum::String("b".into()).encode_key(&mut b).expect("enc");
        assert!(a < b);
        assert!(Datum::Null.encode_key(&mut Vec::new()).is_err());
    }

    #[test]
    fn coercions_follow_postgres() {
        assert_eq!(
            Datum::String("42".into())
                .coerce(SqlType::Int)
                .expect("int"),
            Datum::Int(42)
        );
        assert_eq!(
            Datum::String("x".into())
                .coerce(SqlType::Int)
                .expect_err("bad")
                .state,
            SqlState::INVALID_TEXT_REPRESENTATION
        );
        assert_eq!(Datum::Bool(true).to_text().as_deref(), Some("t"));
        assert_eq!(
            Datum::Bytes(vec![1, 255]).to_text().as_deref(),
            Some("\\x01ff")
        );
    }

    #[test]
    fn array_text_round_trips() {
        let a = Datum::Array(vec![
            Datum::String("a b".into()),
            Datum::Null,
            Datum::String("NULL".into()),
            Datum::String("q\"\\".into()),
            Datum::String(String::new()),
        ]);
        let text = a.to_text().expect("text");
        assert_eq!(text, r#"{"a b",NULL,"NULL","q\"\\",""}"#);
        assert_eq!(
            Datum::String(text)
                .coerce(SqlType::Array(ElemType::String))
                .expect("parse"),
            a
        );
        assert_eq!(
            Datum::String(" { 1 , 2 } ".into())
                .coerce(SqlType::Array(ElemType::Int))
                .expect("ints"),
            Datum::Array(vec![Datum::Int(1), Datum::Int(2)])
        );
        for bad in ["1,2", "{1,,2}", "{\"a}", "{a\"b}"] {
            assert_eq!(
                parse_array(bad).expect_err(bad).state,
                SqlState::INVALID_TEXT_REPRESENTATION,
                "{bad}"
            );
        }
        let mut short = Vec::new();
        Datum::Array(vec![Datum::Int(1)])
            .encode_key(&mut short)
            .expect("key");
        let mut long = Vec::new();
        Datum::Array(vec![Datum::Int(1), Datum::Int(0)])
            .encode_key(&mut long)
            .expect("key");
        assert!(short < long, "a prefix sorts first");
    }
}
