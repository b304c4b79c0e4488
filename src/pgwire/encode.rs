//! Conversions between the SQL layer and the wire: [`SqlError`] → `ErrorInfo` (the one SQLSTATE
//! mapping), [`SqlType`] → PostgreSQL types, result rows → `DataRow`s in text or binary format,
//! bind parameters (text or binary) → [`Datum`]s, and command tags.
//!
//! Binary formats follow PostgreSQL's `*send`/`*recv` functions: big-endian integers and IEEE
//! floats, one byte for bool, raw bytes for text and bytea.

use ::pgwire::api::Type;
use ::pgwire::api::portal::Format;
use ::pgwire::api::results::{FieldFormat, FieldInfo, Tag};
use ::pgwire::error::{ErrorInfo, PgWireError, SEVERITY_ERROR, SEVERITY_FATAL};
use ::pgwire::messages::data::DataRow;
use bytes::{BufMut, BytesMut};
use postgres_types::Kind;

use crate::sql::error::SqlError;
use crate::sql::session::Column;
use crate::sql::sqlstate::SqlState;
use crate::sql::types::{Datum, SqlType};
use crate::sql::typmod::TypeMod;

/// 22P03: a binary bind parameter that does not decode.
pub const INVALID_BINARY_REPRESENTATION: SqlState = SqlState("22P03");
/// 22021: text that is not valid UTF-8.
pub const CHARACTER_NOT_IN_REPERTOIRE: SqlState = SqlState("22021");
/// 28000: the user may not log in (unknown in insecure mode, or `NOLOGIN`).
pub const INVALID_AUTHORIZATION: SqlState = SqlState::INVALID_AUTHORIZATION_SPECIFICATION;

/// The one mapping from SQL errors to wire errors: severity ERROR, the error's SQLSTATE, message
/// and hint. Startup failures use [`fatal`], which only raises the severity.
impl From<SqlError> for ErrorInfo {
    fn from(e: SqlError) -> ErrorInfo {
        let mut info = ErrorInfo::new(SEVERITY_ERROR.to_owned(), e.state.0.to_owned(), e.message);
        info.hint = e.hint;
        info
    }
}

/// A statement-level error for pgwire.
pub fn error(e: SqlError) -> PgWireError {
    PgWireError::UserError(Box::new(e.into()))
}

/// A FATAL error: pgwire sends it and closes the connection (startup and authentication
/// failures, drain).
pub fn fatal(e: SqlError) -> PgWireError {
    let mut info: ErrorInfo = e.into();
    info.severity = SEVERITY_FATAL.to_owned();
    PgWireError::UserError(Box::new(info))
}

/// The PostgreSQL type of a column type.
pub fn pg_type(t: SqlType) -> Type {
    match t {
        SqlType::Int => Type::INT8,
        SqlType::Float => Type::FLOAT8,
        SqlType::String => Type::TEXT,
        SqlType::Bool => Type::BOOL,
        SqlType::Bytes => Type::BYTEA,
        SqlType::Decimal => Type::NUMERIC,
        SqlType::Uuid => Type::UUID,
        SqlType::Timestamp => Type::TIMESTAMP,
        SqlType::TimestampTz => Type::TIMESTAMPTZ,
        SqlType::Date => Type::DATE,
        SqlType::Time => Type::TIME,
        SqlType::Interval => Type::INTERVAL,
        SqlType::Jsonb => Type::JSONB,
        SqlType::Array(_) => Type::from_oid(t.oid()).unwrap_or(Type::TEXT_ARRAY),
    }
}

/// The PostgreSQL type of a column declared with type `t` and modifier `m` (`INT2` columns are
/// int2, `FLOAT4` ones float4, ...).
pub fn declared_pg_type(t: SqlType, m: TypeMod) -> Type {
    match (t, m) {
        (SqlType::Int, TypeMod::Int2) => Type::INT2,
        (SqlType::Int, TypeMod::Int4) => Type::INT4,
        (SqlType::Float, TypeMod::Float4) => Type::FLOAT4,
        (SqlType::Array(_), TypeMod::Int2Vector) => Type::INT2_VECTOR,
        _ => pg_type(t),
    }
}

/// The format of result column `idx`. Unlike `Format::format_for`, a client that sent fewer
/// format codes than there are columns gets text instead of a panic.
pub fn format_for(format: &Format, idx: usize) -> FieldFormat {
    match format {
        Format::UnifiedText => FieldFormat::Text,
        Format::UnifiedBinary => FieldFormat::Binary,
        Format::Individual(codes) => codes
            .get(idx)
            .map_or(FieldFormat::Text, |c| FieldFormat::from(*c)),
    }
}

/// Row description fields for `columns` in the requested result formats (text when `format` is
/// None, as for simple queries and statement descriptions). Every tandem type has a binary form.
pub fn fields(columns: &[Column], format: Option<&Format>) -> Vec<FieldInfo> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let f = format.map_or(FieldFormat::Text, |f| format_for(f, i));
            FieldInfo::new(
                c.name.clone(),
                None,
                None,
                declared_pg_type(c.ty, c.typmod),
                f,
            )
        })
        .collect()
}

/// The array type whose elements have wire type `t` (`int4` -> `int4[]`); text[] when `t` has
/// no array type tandem produces.
pub fn array_type_of(t: &Type) -> Type {
    match *t {
        Type::INT2 => Type::INT2_ARRAY,
        Type::INT4 => Type::INT4_ARRAY,
        Type::FLOAT4 => Type::FLOAT4_ARRAY,
        _ => sql_type_of(t)
            .and_then(SqlType::array_of)
            .map_or(Type::TEXT_ARRAY, pg_type),
    }
}

/// The column type a field was described with (None for a type tandem does not produce).
fn sql_type_of(t: &Type) -> Option<SqlType> {
    Some(match *t {
        Type::INT8 | Type::INT4 | Type::INT2 => SqlType::Int,
        Type::FLOAT8 | Type::FLOAT4 => SqlType::Float,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => SqlType::String,
        Type::BOOL => SqlType::Bool,
        Type::BYTEA => SqlType::Bytes,
        Type::NUMERIC => SqlType::Decimal,
        Type::UUID => SqlType::Uuid,
        Type::TIMESTAMP => SqlType::Timestamp,
        Type::TIMESTAMPTZ => SqlType::TimestampTz,
        Type::DATE => SqlType::Date,
        Type::TIME => SqlType::Time,
        Type::INTERVAL => SqlType::Interval,
        Type::JSONB | Type::JSON => SqlType::Jsonb,
        _ => match t.kind() {
            Kind::Array(inner) => sql_type_of(inner)?.array_of()?,
            _ => return None,
        },
    })
}

/// Checks a parameter type a client declared in Parse: 0 (left to the server) or a type whose
/// values [`decode_param`] decodes. 08P01 for an OID that names no type (as CockroachDB), 0A000
/// for a type tandem has no parameters of (its values would otherwise pass as text).
pub fn check_declared_param(oid: u32) -> Result<(), SqlError> {
    if oid == 0 {
        return Ok(());
    }
    let Some(t) = Type::from_oid(oid) else {
        return Err(SqlError::new(
            SqlState::PROTOCOL_VIOLATION,
            format!("unknown oid type: {oid}"),
        ));
    };
    if param_type_supported(&t) {
        Ok(())
    } else {
        Err(SqlError::unsupported(format!(
            "parameters of type {}",
            t.name()
        )))
    }
}

fn param_type_supported(t: &Type) -> bool {
    matches!(*t, Type::UNKNOWN | Type::OID) || sql_type_of(t).is_some()
}

/// Encodes one row for `fields`: each value is converted to its field's described type (so a
/// value whose runtime type differs from the description still decodes on the client), then
/// written as text or binary.
pub fn encode_row(fields: &[FieldInfo], row: &[Datum]) -> Result<DataRow, SqlError> {
    if row.len() != fields.len() {
        return Err(SqlError::internal(format!(
            "row has {} values for {} columns",
            row.len(),
            fields.len()
        )));
    }
    let mut buf = BytesMut::with_capacity(16 * row.len() + 8);
    for (field, value) in fields.iter().zip(row) {
        let typed;
        let value = match (sql_type_of(field.datatype()), value.sql_type()) {
            (Some(want), Some(have)) if want != have => {
                typed = value.clone().coerce(want)?;
                &typed
            }
            _ => value,
        };
        if value.is_null() {
            buf.put_i32(-1);
            continue;
        }
        let at = buf.len();
        buf.put_i32(0);
        match field.format() {
            // int2vector's text form: the elements separated by spaces.
            FieldFormat::Text if *field.datatype() == Type::INT2_VECTOR => {
                if let Datum::Array(items) = value {
                    let parts: Vec<String> = items.iter().filter_map(Datum::to_text).collect();
                    buf.put_slice(parts.join(" ").as_bytes());
                }
            }
            FieldFormat::Text => buf.put_slice(value.to_text().unwrap_or_default().as_bytes()),
            FieldFormat::Binary => match (field.datatype(), value) {
                // Narrow types: the value was checked against the width when it was written.
                (&Type::INT2, Datum::Int(i)) => buf.put_i16(*i as i16),
                (&Type::INT4, Datum::Int(i)) => buf.put_i32(*i as i32),
                (&Type::FLOAT4, Datum::Float(f)) => buf.put_f32(*f as f32),
                (&Type::INT2_VECTOR, Datum::Array(items)) => {
                    // array_send with int2 elements (int2vectorsend).
                    buf.put_i32(1);
                    buf.put_i32(0);
                    buf.put_u32(Type::INT2.oid());
                    buf.put_i32(items.len() as i32);
                    buf.put_i32(0);
                    for item in items {
                        buf.put_i32(2);
                        buf.put_i16(match item {
                            Datum::Int(i) => *i as i16,
                            _ => 0,
                        });
                    }
                }
                // The described element type, also for an empty array.
                (t, Datum::Array(items)) if matches!(t.kind(), Kind::Array(_)) => {
                    let Kind::Array(elem) = t.kind() else {
                        return Err(SqlError::internal("array kind"));
                    };
                    encode_array(items, elem.oid(), &mut buf)
                }
                _ => encode_binary(value, &mut buf),
            },
        }
        let len = i32::try_from(buf.len() - at - 4).map_err(|_| {
            SqlError::new(
                SqlState::OUT_OF_MEMORY,
                "value too large for the wire protocol",
            )
        })?;
        buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
    let count = i16::try_from(fields.len())
        .map_err(|_| SqlError::new(SqlState::INVALID_PARAMETER_VALUE, "too many result columns"))?;
    Ok(DataRow::new(buf, count))
}

fn encode_binary(value: &Datum, buf: &mut BytesMut) {
    match value {
        Datum::Null => {}
        Datum::Int(i) => buf.put_i64(*i),
        Datum::Float(f) => buf.put_f64(*f),
        Datum::Bool(b) => buf.put_u8(u8::from(*b)),
        Datum::String(s) => buf.put_slice(s.as_bytes()),
        Datum::Bytes(b) => buf.put_slice(b),
        Datum::Decimal(d) => encode_numeric(d, buf),
        Datum::Uuid(u) => buf.put_slice(u),
        Datum::Timestamp(t) | Datum::TimestampTz(t) => buf.put_i64(t - PG_EPOCH_MICROS),
        Datum::Date(d) => buf.put_i32(d - PG_EPOCH_DAYS),
        Datum::Time(t) => buf.put_i64(*t),
        Datum::Interval {
            months,
            days,
            micros,
        } => {
            buf.put_i64(*micros);
            buf.put_i32(*days);
            buf.put_i32(*months);
        }
        Datum::Json(j) => {
            buf.put_u8(1);
            buf.put_slice(j.as_bytes());
        }
        Datum::Array(items) => {
            let elem = value
                .sql_type()
                .and_then(SqlType::elem)
                .unwrap_or(SqlType::String);
            encode_array(items, elem.oid(), buf);
        }
    }
}

/// array_send: dimensions, has-nulls flag, element oid, (length, lower bound) per dimension,
/// then each element as length + binary value (-1 for NULL).
fn encode_array(items: &[Datum], elem_oid: u32, buf: &mut BytesMut) {
    buf.put_i32(i32::from(!items.is_empty()));
    buf.put_i32(i32::from(items.iter().any(Datum::is_null)));
    buf.put_u32(elem_oid);
    if !items.is_empty() {
        buf.put_i32(items.len() as i32);
        buf.put_i32(1);
    }
    for item in items {
        if item.is_null() {
            buf.put_i32(-1);
            continue;
        }
        let at = buf.len();
        buf.put_i32(0);
        encode_binary(item, buf);
        let len = (buf.len() - at - 4) as i32;
        buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// Decodes PostgreSQL's binary array (array_recv) of one dimension (or none: empty).
fn decode_binary_array(n: usize, raw: &[u8], elem_ty: &Type) -> Result<Datum, SqlError> {
    let bad = || {
        SqlError::new(
            INVALID_BINARY_REPRESENTATION,
            format!("incorrect binary array format in bind parameter ${n}"),
        )
    };
    let word = |at: usize| -> Result<i32, SqlError> {
        raw.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(i32::from_be_bytes)
            .ok_or_else(bad)
    };
    let ndim = word(0)?;
    let elem_oid = word(8)? as u32;
    if ndim == 0 {
        return Ok(Datum::Array(Vec::new()));
    }
    if ndim != 1 {
        return Err(SqlError::unsupported(format!(
            "{ndim}-dimensional arrays (bind parameter ${n})"
        )));
    }
    // As PostgreSQL's array_recv: the elements must be of the parameter's element type (an
    // unknown or other OID would otherwise be decoded as something it is not).
    if elem_oid != elem_ty.oid() {
        return Err(SqlError::new(
            SqlState::DATATYPE_MISMATCH,
            format!(
                "binary data has array element type {elem_oid} instead of expected {} ({}) in bind parameter ${n}",
                elem_ty.oid(),
                elem_ty.name()
            ),
        ));
    }
    let count = usize::try_from(word(12)?).map_err(|_| bad())?;
    let mut at = 20;
    let mut items = Vec::with_capacity(count.min(raw.len() / 4));
    for _ in 0..count {
        let len = word(at)?;
        at += 4;
        if len == -1 {
            items.push(Datum::Null);
            continue;
        }
        if len < -1 {
            return Err(bad());
        }
        let end = at + len as usize;
        let bytes = raw.get(at..end).ok_or_else(bad)?;
        items.push(decode_binary(n, bytes, elem_ty)?);
        at = end;
    }
    if at != raw.len() {
        return Err(bad());
    }
    Ok(Datum::Array(items))
}

/// 2000-01-01 in microseconds since the Unix epoch (PostgreSQL's binary timestamp origin).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// 2000-01-01 in days since the Unix epoch.
const PG_EPOCH_DAYS: i32 = 10_957;

/// PostgreSQL's binary NUMERIC: base-10000 digits with weight, sign and display scale.
fn encode_numeric(d: &rust_decimal::Decimal, buf: &mut BytesMut) {
    let scale = d.scale() as u16;
    let text = d.abs().to_string();
    let (int_part, frac_part) = text.split_once('.').unwrap_or((&text, ""));
    let int_part = int_part.trim_start_matches('0');
    // Group the integer part from the right and the fraction from the left, 4 digits each.
    let pad_left = (4 - int_part.len() % 4) % 4;
    let int_digits: String = "0".repeat(pad_left) + int_part;
    let pad_right = (4 - frac_part.len() % 4) % 4;
    let frac_digits: String = frac_part.to_string() + &"0".repeat(pad_right);
    let mut digits: Vec<i16> = Vec::new();
    for c in int_digits
        .as_bytes()
        .chunks(4)
        .chain(frac_digits.as_bytes().chunks(4))
    {
        digits.push(
            std::str::from_utf8(c)
                .ok()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0),
        );
    }
    let mut weight = (int_digits.len() / 4) as i16 - 1;
    while digits.first() == Some(&0) {
        digits.remove(0);
        weight -= 1;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    buf.put_i16(digits.len() as i16);
    buf.put_i16(weight);
    buf.put_u16(if d.is_sign_negative() && !d.is_zero() {
        0x4000
    } else {
        0
    });
    buf.put_u16(scale);
    for dg in digits {
        buf.put_i16(dg);
    }
}

fn decode_numeric(raw: &[u8]) -> Option<rust_decimal::Decimal> {
    let rd =
        |i: usize| -> Option<i16> { Some(i16::from_be_bytes([*raw.get(i)?, *raw.get(i + 1)?])) };
    let n = rd(0)? as usize;
    let weight = rd(2)? as i32;
    let sign = rd(4)? as u16;
    let scale = rd(6)? as u16;
    let mut v = rust_decimal::Decimal::ZERO;
    for k in 0..n {
        let dg = rd(8 + 2 * k)?;
        let power = weight - k as i32;
        let mut term = rust_decimal::Decimal::from(dg);
        let base = rust_decimal::Decimal::from(10_000i64);
        for _ in 0..power.unsigned_abs() {
            term = if power >= 0 {
                term.checked_mul(base)?
            } else {
                term.checked_div(base)?
            };
        }
        v = v.checked_add(term)?;
    }
    if sign == 0x4000 {
        v = -v;
    }
    Some(v.round_dp(u32::from(scale)))
}

/// Decodes bind parameter `idx` (0-based) of type `ty`; `raw` None is SQL NULL.
pub fn decode_param(
    idx: usize,
    raw: Option<&[u8]>,
    ty: &Type,
    binary: bool,
) -> Result<Datum, SqlError> {
    let Some(raw) = raw else {
        return Ok(Datum::Null);
    };
    let n = idx + 1;
    if binary {
        return decode_binary(n, raw, ty);
    }
    let text = std::str::from_utf8(raw).map_err(|_| {
        SqlError::new(
            SqlState::INVALID_TEXT_REPRESENTATION,
            format!("invalid UTF-8 in bind parameter ${n}"),
        )
    })?;
    let s = Datum::String(text.to_owned());
    let target = match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => SqlType::Int,
        Type::FLOAT4 | Type::FLOAT8 => SqlType::Float,
        Type::BOOL => SqlType::Bool,
        Type::BYTEA => SqlType::Bytes,
        Type::NUMERIC => SqlType::Decimal,
        Type::UUID => SqlType::Uuid,
        Type::TIMESTAMP => SqlType::Timestamp,
        Type::TIMESTAMPTZ => SqlType::TimestampTz,
        Type::DATE => SqlType::Date,
        Type::TIME => SqlType::Time,
        Type::INTERVAL => SqlType::Interval,
        Type::JSONB | Type::JSON => SqlType::Jsonb,
        ref other => match other.kind() {
            Kind::Array(inner) => match sql_type_of(inner).and_then(SqlType::array_of) {
                Some(t) => t,
                None => return Ok(s),
            },
            _ => return Ok(s),
        },
    };
    s.coerce(target)
        .map_err(|e| SqlError::new(e.state, format!("bind parameter ${n}: {}", e.message)))
}

fn decode_binary(n: usize, raw: &[u8], ty: &Type) -> Result<Datum, SqlError> {
    let bad = || {
        SqlError::new(
            INVALID_BINARY_REPRESENTATION,
            format!("incorrect binary data format in bind parameter ${n}"),
        )
    };
    Ok(match *ty {
        Type::INT2 => Datum::Int(i64::from(i16::from_be_bytes(
            raw.try_into().map_err(|_| bad())?,
        ))),
        Type::INT4 => Datum::Int(i64::from(i32::from_be_bytes(
            raw.try_into().map_err(|_| bad())?,
        ))),
        Type::OID => Datum::Int(i64::from(u32::from_be_bytes(
            raw.try_into().map_err(|_| bad())?,
        ))),
        Type::INT8 => Datum::Int(i64::from_be_bytes(raw.try_into().map_err(|_| bad())?)),
        Type::FLOAT4 => Datum::Float(f64::from(f32::from_be_bytes(
            raw.try_into().map_err(|_| bad())?,
        ))),
        Type::FLOAT8 => Datum::Float(f64::from_be_bytes(raw.try_into().map_err(|_| bad())?)),
        Type::BOOL => match raw {
            [b] => Datum::Bool(*b != 0),
            _ => return Err(bad()),
        },
        Type::BYTEA => Datum::Bytes(raw.to_vec()),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            Datum::String(String::from_utf8(raw.to_vec()).map_err(|_| bad())?)
        }
        Type::JSON => Datum::String(String::from_utf8(raw.to_vec()).map_err(|_| bad())?)
            .coerce(SqlType::Jsonb)?,
        Type::JSONB => match raw.split_first() {
            Some((1, rest)) => Datum::String(String::from_utf8(rest.to_vec()).map_err(|_| bad())?)
                .coerce(SqlType::Jsonb)?,
            _ => return Err(bad()),
        },
        Type::UUID => Datum::Uuid(raw.try_into().map_err(|_| bad())?),
        Type::TIMESTAMP => Datum::Timestamp(
            i64::from_be_bytes(raw.try_into().map_err(|_| bad())?) + PG_EPOCH_MICROS,
        ),
        Type::TIMESTAMPTZ => Datum::TimestampTz(
            i64::from_be_bytes(raw.try_into().map_err(|_| bad())?) + PG_EPOCH_MICROS,
        ),
        Type::DATE => {
            Datum::Date(i32::from_be_bytes(raw.try_into().map_err(|_| bad())?) + PG_EPOCH_DAYS)
        }
        Type::TIME => Datum::Time(i64::from_be_bytes(raw.try_into().map_err(|_| bad())?)),
        Type::INTERVAL => {
            if raw.len() != 16 {
                return Err(bad());
            }
            let micros = i64::from_be_bytes(raw[0..8].try_into().map_err(|_| bad())?);
            let days = i32::from_be_bytes(raw[8..12].try_into().map_err(|_| bad())?);
            let months = i32::from_be_bytes(raw[12..16].try_into().map_err(|_| bad())?);
            Datum::Interval {
                months,
                days,
                micros,
            }
        }
        Type::NUMERIC => Datum::Decimal(decode_numeric(raw).ok_or_else(bad)?),
        ref other if matches!(other.kind(), Kind::Array(_)) => {
            let Kind::Array(inner) = other.kind() else {
                return Err(bad());
            };
            return decode_binary_array(n, raw, inner);
        }
        ref other => {
            return Err(SqlError::unsupported(format!(
                "binary format for bind parameter ${n} of type {}",
                other.name()
            )));
        }
    })
}

/// The command tag of a statement's `QueryResult::Command` text: `INSERT 0 3` → INSERT with
/// oid 0 and 3 rows, `UPDATE 2` / `DELETE 2` / `SELECT 2` with rows, anything else verbatim.
pub fn command_tag(text: &str) -> Tag {
    let parts: Vec<&str> = text.split(' ').collect();
    match parts.as_slice() {
        ["INSERT", oid, rows] => match (oid.parse(), rows.parse()) {
            (Ok(oid), Ok(rows)) => Tag::new("INSERT").with_oid(oid).with_rows(rows),
            _ => Tag::new(text),
        },
        [
            cmd @ ("UPDATE" | "DELETE" | "SELECT" | "MOVE" | "FETCH" | "COPY" | "MERGE"),
            rows,
        ] => match rows.parse() {
            Ok(rows) => Tag::new(cmd).with_rows(rows),
            Err(_) => Tag::new(text),
        },
        _ => Tag::new(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::pgwire::messages::response::CommandComplete;

    fn tag_text(t: Tag) -> String {
        CommandComplete::from(t).tag
    }

    #[test]
    fn command_tags_keep_counts() {
        assert_eq!(tag_text(command_tag("INSERT 0 1")), "INSERT 0 1");
        assert_eq!(tag_text(command_tag("UPDATE 7")), "UPDATE 7");
        assert_eq!(tag_text(command_tag("CREATE TABLE")), "CREATE TABLE");
        assert_eq!(tag_text(command_tag("SELECT x")), "SELECT x");
    }

    #[test]
    fn binary_arrays_check_element_type_and_lengths() {
        let array = |elem_oid: u32, items: &[i32]| {
            let mut b = Vec::new();
            for w in [1, 0, elem_oid as i32, items.len() as i32, 1] {
                b.extend_from_slice(&w.to_be_bytes());
            }
            for i in items {
                if *i < 0 {
                    b.extend_from_slice(&i.to_be_bytes());
                } else {
                    b.extend_from_slice(&8i32.to_be_bytes());
                    b.extend_from_slice(&i64::from(*i).to_be_bytes());
                }
            }
            b
        };
        let decode = |raw: &[u8]| decode_param(0, Some(raw), &Type::INT8_ARRAY, true);
        assert_eq!(
            decode(&array(20, &[5, -1])),
            Ok(Datum::Array(vec![Datum::Int(5), Datum::Null]))
        );
        for elem in [25, 23, 99_999] {
            assert_eq!(
                decode(&array(elem, &[5])).map_err(|e| e.state),
                Err(SqlState::DATATYPE_MISMATCH),
                "{elem}"
            );
        }
        assert_eq!(
            decode(&array(20, &[-2])).map_err(|e| e.state),
            Err(INVALID_BINARY_REPRESENTATION)
        );
    }

    #[test]
    fn params_decode_in_both_formats() {
        assert_eq!(
            decode_param(0, Some(b"42"), &Type::INT8, false),
            Ok(Datum::Int(42))
        );
        assert_eq!(
            decode_param(0, Some(&42i64.to_be_bytes()), &Type::INT8, true),
            Ok(Datum::Int(42))
        );
        assert_eq!(
            decode_param(0, Some(&7i32.to_be_bytes()), &Type::INT4, true),
            Ok(Datum::Int(7))
        );
        assert_eq!(
            decode_param(0, Some(&1.5f64.to_be_bytes()), &Type::FLOAT8, true),
            Ok(Datum::Float(1.5))
        );
        assert_eq!(
            decode_param(0, Some(b"t"), &Type::BOOL, false),
            Ok(Datum::Bool(true))
        );
        assert_eq!(
            decode_param(0, Some(b"\\x01ff"), &Type::BYTEA, false),
            Ok(Datum::Bytes(vec![1, 255]))
        );
        assert_eq!(
            decode_param(0, Some(b"hi"), &Type::TEXT, true),
            Ok(Datum::String("hi".into()))
        );
        assert_eq!(decode_param(0, None, &Type::INT8, true), Ok(Datum::Null));
        assert_eq!(
            decode_param(0, Some(b"abc"), &Type::INT8, true).map_err(|e| e.state),
            Err(INVALID_BINARY_REPRESENTATION)
        );
        assert_eq!(
            decode_param(1, Some(b"x"), &Type::INT8, false).map_err(|e| e.state),
            Err(SqlState::INVALID_TEXT_REPRESENTATION)
        );
        assert_eq!(
            decode_param(0, Some(b"\x00"), &Type::TIMESTAMP, true).map_err(|e| e.state),
            Err(INVALID_BINARY_REPRESENTATION)
        );
        assert_eq!(
            decode_param(
                0,
                Some(
                    &946_684_800_000_000i64
                        .wrapping_sub(946_684_800_000_000)
                        .to_be_bytes()
                ),
                &Type::TIMESTAMP,
                true
            ),
            Ok(Datum::Timestamp(946_684_800_000_000))
        );
        assert_eq!(
            decode_param(0, Some(b"123.45"), &Type::NUMERIC, false).map(|d| d.to_text()),
            Ok(Some("123.45".into()))
        );
        let mut buf = BytesMut::new();
        let d = rust_decimal::Decimal::new(-1234567, 3);
        encode_numeric(&d, &mut buf);
        assert_eq!(decode_numeric(&buf), Some(d));
        assert_eq!(
            decode_param(0, Some(b"point"), &Type::POINT, true).map_err(|e| e.state),
            Err(SqlState::FEATURE_NOT_SUPPORTED)
        );
    }

    #[test]
    fn rows_encode_text_and_binary() {
        let cols = [
            Column::new("k", SqlType::Int),
            Column::new("v", SqlType::String),
        ];
        let text =
            encode_row(&fields(&cols, None), &[Datum::Int(5), Datum::Null]).expect("text row");
        assert_eq!(text.field_count, 2);
        assert_eq!(&text.data[..], &[0, 0, 0, 1, b'5', 0xff, 0xff, 0xff, 0xff]);
        let bin = encode_row(
            &fields(&cols, Some(&Format::UnifiedBinary)),
            &[Datum::Int(5), Datum::String("a".into())],
        )
        .expect("binary row");
        assert_eq!(
            &bin.data[..],
            &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, b'a']
        );
        // A value whose runtime type differs from the description is converted to it.
        let f = fields(
            &[Column::new("x", SqlType::Float)],
            Some(&Format::UnifiedBinary),
        );
        let row = encode_row(&f, &[Datum::Int(2)]).expect("coerced");
        assert_eq!(&row.data[4..], &2.0f64.to_be_bytes());
        // Too few format codes: text, not a panic.
        assert_eq!(
            format_for(&Format::Individual(vec![1]), 3),
            FieldFormat::Text
        );
    }

    #[test]
    fn errors_keep_sqlstate_and_hint() {
        let info: ErrorInfo = SqlError::new(SqlState::UNIQUE_VIOLATION, "dup")
            .with_hint("h")
            .into();
        assert_eq!(
            (
                info.severity.as_str(),
                info.code.as_str(),
                info.message.as_str(),
                info.hint.as_deref()
            ),
            ("ERROR", "23505", "dup", Some("h"))
        );
        match fatal(SqlError::new(SqlState::INVALID_PASSWORD, "no")) {
            PgWireError::UserError(i) => {
                assert_eq!((i.severity.as_str(), i.code.as_str()), ("FATAL", "28P01"))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
