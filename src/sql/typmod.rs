//! Column type modifiers: what a column's declared type says beyond its [`SqlType`] family.
//!
//! `INT2`/`SMALLINT` and `INT4` are 16- and 32-bit integers (CockroachDB's `INT`/`INTEGER` is
//! `INT8`); `FLOAT4`/`REAL` is single precision; `VARCHAR(n)`/`CHAR(n)`/`STRING(n)` hold at most
//! `n` characters; `DECIMAL(p, s)` rounds to `s` fractional digits and holds at most `p` digits.
//! Values are checked when they are written to the column ([`TypeMod::apply`]), with
//! PostgreSQL's SQLSTATEs: 22003 for an integer or numeric overflow, 22001 for a string that is
//! too long. Columns of the narrower types are described to clients with the narrower type
//! (int2, int4, float4) so that typed drivers bind and read them natively.

use serde::{Deserialize, Serialize};
use sqlparser::ast::{CharacterLength, DataType, ExactNumberInfo};

use super::error::{Result, SqlError};
use super::sqlstate::SqlState;
use super::types::{Datum, SqlType};

/// 22001 string_data_right_truncation.
const STRING_TOO_LONG: SqlState = SqlState("22001");

/// A column's type modifier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TypeMod {
    /// Nothing beyond the type family.
    #[default]
    None,
    /// A 16-bit integer.
    Int2,
    /// A 32-bit integer.
    Int4,
    /// A single-precision float.
    Float4,
    /// At most this many characters.
    MaxChars(u32),
    /// `DECIMAL(precision, scale)`.
    Numeric {
        /// Total digits.
        precision: u32,
        /// Digits after the decimal point.
        scale: u32,
    },
    /// An `INT8[]` that clients see as PostgreSQL's `int2vector` (`pg_index.indkey`): text form
    /// `1 2`, but unnest-able and subscriptable like an array. Only catalog columns have it.
    Int2Vector,
}

impl TypeMod {
    /// The modifier a declared type carries (`INT2`, `VARCHAR(20)`, `DECIMAL(10,2)`, ...).
    pub fn from_ast(dt: &DataType) -> Result<TypeMod> {
        let chars = |len: &Option<CharacterLength>| match len {
            Some(CharacterLength::IntegerLength { length, .. }) => {
                u32::try_from(*length).map(TypeMod::MaxChars).map_err(|_| {
                    SqlError::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        format!("length for type {dt} cannot exceed {}", u32::MAX),
                    )
                })
            }
            _ => Ok(TypeMod::None),
        };
        Ok(match dt {
            DataType::SmallInt(_) | DataType::Int2(_) => TypeMod::Int2,
            DataType::Int4(_) => TypeMod::Int4,
            DataType::Real | DataType::Float4 => TypeMod::Float4,
            DataType::Float(info) => match info {
                ExactNumberInfo::Precision(p) if *p <= 24 => TypeMod::Float4,
                _ => TypeMod::None,
            },
            DataType::Varchar(len)
            | DataType::Char(len)
            | DataType::Character(len)
            | DataType::CharVarying(len)
            | DataType::CharacterVarying(len) => chars(len)?,
            DataType::String(Some(n)) => TypeMod::MaxChars(u32::try_from(*n).unwrap_or(u32::MAX)),
            DataType::Decimal(info) | DataType::Numeric(info) | DataType::Dec(info) => {
                let (precision, scale) = match info {
                    ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s),
                    ExactNumberInfo::Precision(p) => (*p, 0),
                    ExactNumberInfo::None => return Ok(TypeMod::None),
                };
                let (precision, scale) = (
                    u32::try_from(precision).unwrap_or(u32::MAX),
                    u32::try_from(scale).unwrap_or(u32::MAX),
                );
                if precision == 0 || precision > 1000 {
                    return Err(SqlError::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        format!("NUMERIC precision {precision} must be between 1 and 1000"),
                    ));
                }
                if scale > precision {
                    return Err(SqlError::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        format!(
                            "NUMERIC scale {scale} must be between 0 and precision {precision}"
                        ),
                    ));
                }
                TypeMod::Numeric { precision, scale }
            }
            DataType::Custom(name, _) => match name.to_string().to_ascii_lowercase().as_str() {
                "int2" => TypeMod::Int2,
                "int4" => TypeMod::Int4,
                "float4" => TypeMod::Float4,
                _ => TypeMod::None,
            },
            _ => TypeMod::None,
        })
    }

    /// Checks (and for DECIMAL and FLOAT4 rounds) a value of the column's family.
    pub fn apply(&self, v: Datum) -> Result<Datum> {
        Ok(match (self, v) {
            (TypeMod::Int2, Datum::Int(i)) => {
                i16::try_from(i).map_err(|_| out_of_range("int2"))?;
                Datum::Int(i)
            }
            (TypeMod::Int4, Datum::Int(i)) => {
                i32::try_from(i).map_err(|_| out_of_range("int4"))?;
                Datum::Int(i)
            }
            (TypeMod::Float4, Datum::Float(f)) => Datum::Float(f64::from(f as f32)),
            (TypeMod::MaxChars(n), Datum::String(s)) => {
                if s.chars().count() > *n as usize {
                    return Err(SqlError::new(
                        STRING_TOO_LONG,
                        format!("value too long for type VARCHAR({n})"),
                    ));
                }
                Datum::String(s)
            }
            (TypeMod::Numeric { precision, scale }, Datum::Decimal(d)) => {
                // Rounded to the scale, and padded to it with zeros (`17` is `17.00` in a
                // DECIMAL(10,2)), as CockroachDB stores it.
                let mut r = d.round_dp_with_strategy(
                    *scale,
                    rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                );
                if r.scale() < *scale {
                    r.rescale(*scale);
                }
                let int_digits = precision - scale;
                let limit = rust_decimal::Decimal::from_i128_with_scale(
                    10i128.saturating_pow(int_digits.min(28)),
                    0,
                );
                if int_digits < 28 && r.abs() >= limit {
                    return Err(SqlError::new(
                        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                        "numeric field overflow",
                    )
                    .with_hint(format!(
                        "a field with precision {precision}, scale {scale} must round to an absolute value less than 10^{int_digits}"
                    )));
                }
                Datum::Decimal(r)
            }
            (_, v) => v,
        })
    }

    /// The type as `SHOW CREATE TABLE` and `information_schema` print it, for a column of
    /// family `ty` (`None`: the family's own name).
    pub fn type_name(&self, ty: SqlType) -> Option<String> {
        Some(match (self, ty) {
            (TypeMod::Int2, _) => "INT2".into(),
            (TypeMod::Int4, _) => "INT4".into(),
            (TypeMod::Float4, _) => "FLOAT4".into(),
            (TypeMod::MaxChars(n), _) => format!("VARCHAR({n})"),
            (TypeMod::Numeric { precision, scale }, _) => format!("DECIMAL({precision},{scale})"),
            (TypeMod::Int2Vector, _) => "INT2VECTOR".into(),
            (TypeMod::None, _) => return None,
        })
    }
}

fn out_of_range(ty: &str) -> SqlError {
    SqlError::new(
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("integer out of range for type {ty}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(ty: &str) -> TypeMod {
        let sql = format!("CREATE TABLE t (c {ty})");
        let stmts =
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, &sql)
                .unwrap();
        let sqlparser::ast::Statement::CreateTable(ct) = &stmts[0] else {
            panic!("not create table")
        };
        TypeMod::from_ast(&ct.columns[0].data_type).unwrap()
    }

    #[test]
    fn declared_types_carry_modifiers() {
        assert_eq!(parse("SMALLINT"), TypeMod::Int2);
        assert_eq!(parse("INT4"), TypeMod::Int4);
        assert_eq!(parse("INT"), TypeMod::None);
        assert_eq!(parse("REAL"), TypeMod::Float4);
        assert_eq!(parse("VARCHAR(20)"), TypeMod::MaxChars(20));
        assert_eq!(parse("CHAR(3)"), TypeMod::MaxChars(3));
        assert_eq!(
            parse("DECIMAL(10, 2)"),
            TypeMod::Numeric {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(parse("TEXT"), TypeMod::None);
    }

    #[test]
    fn values_are_checked_and_rounded() {
        assert_eq!(
            TypeMod::Int2.apply(Datum::Int(32767)).unwrap(),
            Datum::Int(32767)
        );
        assert_eq!(
            TypeMod::Int2.apply(Datum::Int(32768)).unwrap_err().state,
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE
        );
        assert!(TypeMod::Int4.apply(Datum::Int(1 << 31)).is_err());
        assert_eq!(
            TypeMod::MaxChars(3)
                .apply(Datum::String("abcd".into()))
                .unwrap_err()
                .state,
            STRING_TOO_LONG
        );
        assert!(
            TypeMod::MaxChars(3)
                .apply(Datum::String("äöü".into()))
                .is_ok()
        );
        let num = TypeMod::Numeric {
            precision: 5,
            scale: 2,
        };
        let d = |s: &str| Datum::Decimal(s.parse().unwrap());
        assert_eq!(num.apply(d("123.455")).unwrap(), d("123.46"));
        assert_eq!(num.apply(d("-1.005")).unwrap(), d("-1.01"));
        assert_eq!(num.apply(d("17")).unwrap().to_text().unwrap(), "17.00");
        assert_eq!(num.apply(d("1.5")).unwrap().to_text().unwrap(), "1.50");
        assert_eq!(
            num.apply(d("999.995")).unwrap_err().state,
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE
        );
        assert_eq!(
            TypeMod::None.apply(Datum::Int(1 << 40)).unwrap(),
            Datum::Int(1 << 40)
        );
    }
}
