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
}

impl SqlType {
    /// The CockroachDB name shown by SHOW COLUMNS / SHOW CREATE.
    pub fn name(&self) -> &'static str {
        match self {
            SqlType::Int => "INT8",
            SqlType::Float => "FLOAT8",
            SqlType::String => "STRING",
            SqlType::Bool => "BOOL",
            SqlType::Bytes => "BYTES",
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
            D::Bytea | D::Bytes(_) | D::Blob(_) | D::Binary(_) | D::Varbinary(_) => SqlType::Bytes,
            D::Custom(name, _) => match name.to_string().to_ascii_lowercase().as_str() {
                "string" => SqlType::String,
                "int" | "int8" | "int4" | "int2" | "serial" | "bigserial" => SqlType::Int,
                "bytes" => SqlType::Bytes,
                "float" | "float8" | "float4" => SqlType::Float,
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
        })
    }

    /// Converts to `ty` (assignment cast), with PostgreSQL's error codes.
    pub fn coerce(self, ty: SqlType) -> Result<Datum> {
        let bad = |v: &Datum| {
            SqlError::new(
                SqlState::INVALID_TEXT_REPRESENTATION,
                format!(
                    "could not parse {} as type {}",
                    v.to_text().unwrap_or_default(),
                    ty.name().to_lowercase()
                ),
            )
        };
        Ok(match (ty, self) {
            (_, Datum::Null) => Datum::Null,
            (SqlType::Int, Datum::Int(i)) => Datum::Int(i),
            (SqlType::Int, Datum::Float(f)) => {
                if !f.is_finite() || f.round() > i64::MAX as f64 || f.round() < i64::MIN as f64 {
                    return Err(SqlError::new(
                        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                        "integer out of range",
                    ));
                }
                Datum::Int(f.round() as i64)
            }
            (SqlType::Int, Datum::String(s)) => Datum::Int(
                s.trim()
                    .parse()
                    .map_err(|_| bad(&Datum::String(s.clone())))?,
            ),
            (SqlType::Int, Datum::Bool(b)) => Datum::Int(i64::from(b)),
            (SqlType::Float, Datum::Float(f)) => Datum::Float(f),
            (SqlType::Float, Datum::Int(i)) => Datum::Float(i as f64),
            (SqlType::Float, Datum::String(s)) => {
                Datum::Float(parse_float(&s).ok_or_else(|| bad(&Datum::String(s.clone())))?)
            }
            (SqlType::String, Datum::String(s)) => Datum::String(s),
            (SqlType::String, v @ (Datum::Int(_) | Datum::Float(_) | Datum::Bool(_))) => {
                Datum::String(v.to_text().unwrap_or_default())
            }
            (SqlType::String, Datum::Bytes(b)) => {
                Datum::String(String::from_utf8_lossy(&b).into_owned())
            }
            (SqlType::Bool, Datum::Bool(b)) => Datum::Bool(b),
            (SqlType::Bool, Datum::String(s)) => {
                Datum::Bool(parse_bool(&s).ok_or_else(|| bad(&Datum::String(s.clone())))?)
            }
            (SqlType::Bool, Datum::Int(i)) => Datum::Bool(i != 0),
            (SqlType::Bytes, Datum::Bytes(b)) => Datum::Bytes(b),
            (SqlType::Bytes, Datum::String(s)) => Datum::Bytes(parse_bytea(&s)),
            (ty, v) => {
                return Err(SqlError::new(
                    SqlState::DATATYPE_MISMATCH,
                    format!(
                        "value type {} doesn't match type {} of column",
                        v.sql_type().map_or("unknown", |t| t.name()).to_lowercase(),
                        ty.name().to_lowercase()
                    ),
                ));
            }
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
        }
        .map_err(|e| SqlError::internal(format!("encode key: {e}")))?;
        out.extend_from_slice(&enc);
        Ok(())
    }
}

fn serde_bytes_vec(b: &[u8]) -> Vec<u8> {
    b.to_vec()
}

/// Parses a float the way PostgreSQL does (including NaN and Infinity).
pub fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "infinity" | "+infinity" | "inf" => Some(f64::INFINITY),
        "-infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ => t.parse().ok(),
    }
}

/// Parses a boolean literal the way PostgreSQL does.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "yes" | "y" | "on" | "1" => Some(true),
        "f" | "false" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn parse_bytea(s: &str) -> Vec<u8> {
    if let Some(hex) = s.strip_prefix("\\x") {
        let mut out = Vec::with_capacity(hex.len() / 2);
        let b = hex.as_bytes();
        let mut i = 0;
        while i + 1 < b.len() {
            match u8::from_str_radix(&hex[i..i + 2], 16) {
                Ok(v) => out.push(v),
                Err(_) => return s.as_bytes().to_vec(),
            }
            i += 2;
        }
        return out;
    }
    s.as_bytes().to_vec()
}

/// PostgreSQL's float8 text output (shortest round-trip form).
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        let s = format!("{f}");
        s
    }
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
}
