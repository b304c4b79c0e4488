//! Arrays and quantified comparisons in expressions: array literals' element type, subscripts
//! and slices, and `op ANY/ALL (array)`.

use super::*;
use sqlparser::ast::Subscript;

/// `left op ANY (right)`, or `ALL` when `all`: the right side is an array (a string is read as
/// an array of the left side's type); NULL when it is NULL.
pub(super) fn any_all(
    left: &Expr,
    compare_op: &BinaryOperator,
    right: &Expr,
    all: bool,
    row: Option<&Row<'_>>,
    ctx: &EvalContext<'_>,
) -> Result<Datum> {
    let l = eval(left, row, ctx)?;
    let items = match eval(right, row, ctx)? {
        Datum::Null => return Ok(Datum::Null),
        Datum::Array(items) => items,
        Datum::String(s) => {
            let ty = l
                .sql_type()
                .and_then(SqlType::array_of)
                .unwrap_or(SqlType::Array(crate::sql::types::ElemType::String));
            match Datum::String(s).coerce(ty)? {
                Datum::Array(items) => items,
                _ => Vec::new(),
            }
        }
        other => {
            return Err(SqlError::new(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "op {} {} <{}>: right operand must be an array or a subquery",
                    compare_op,
                    if all { "ALL" } else { "ANY" },
                    other
                        .sql_type()
                        .map_or("unknown", |t| t.name())
                        .to_lowercase()
                ),
            ));
        }
    };
    quantified(compare_op, &l, items, all)
}

/// `l op ANY(items)` (or ALL) with SQL's three-valued logic: ANY is true if some comparison
/// is, else NULL if some comparison is NULL, else false; ALL dually.
pub fn quantified(op: &BinaryOperator, l: &Datum, items: Vec<Datum>, all: bool) -> Result<Datum> {
    let mut saw_null = false;
    for item in items {
        match truth(&binary(op, l.clone(), item)?)? {
            None => saw_null = true,
            Some(b) if b != all => return Ok(Datum::Bool(b)),
            Some(_) => {}
        }
    }
    Ok(if saw_null {
        Datum::Null
    } else {
        Datum::Bool(all)
    })
}

/// Gives an array literal's elements one type: mixed numbers widen (INT to FLOAT or DECIMAL),
/// untyped strings take the type of the other elements; other mixes are 42804.
pub fn unify_elements(items: Vec<Datum>) -> Result<Vec<Datum>> {
    let mut target: Option<SqlType> = None;
    for t in items.iter().filter_map(Datum::sql_type) {
        target = Some(match (target, t) {
            (None, t) => t,
            (Some(a), b) if a == b => a,
            (Some(SqlType::String), b) | (Some(b), SqlType::String) => b,
            (Some(SqlType::Int), SqlType::Float) | (Some(SqlType::Float), SqlType::Int) => {
                SqlType::Float
            }
            (Some(SqlType::Decimal), SqlType::Int | SqlType::Float)
            | (Some(SqlType::Int | SqlType::Float), SqlType::Decimal) => SqlType::Decimal,
            (Some(SqlType::Timestamp), SqlType::TimestampTz)
            | (Some(SqlType::TimestampTz), SqlType::Timestamp) => SqlType::TimestampTz,
            (Some(a), b) => {
                return Err(SqlError::new(
                    SqlState::DATATYPE_MISMATCH,
                    format!(
                        "expected {} to be of type {}, found type {}",
                        "ARRAY element",
                        a.name().to_lowercase(),
                        b.name().to_lowercase()
                    ),
                ));
            }
        });
    }
    if let Some(SqlType::Array(_)) = target {
        return Err(SqlError::unsupported("nested arrays (arrays of arrays)"));
    }
    match target {
        Some(t) => items.into_iter().map(|d| d.coerce(t)).collect(),
        None => Ok(items),
    }
}

/// `v[i]` (1-based; NULL out of range) or `v[lo:hi]` (a slice, bounds clamped).
pub(super) fn subscript(
    v: Datum,
    sub: &Subscript,
    row: Option<&Row<'_>>,
    ctx: &EvalContext<'_>,
) -> Result<Datum> {
    let index = |x: &Option<Expr>| -> Result<Option<Option<i64>>> {
        match x {
            None => Ok(Some(None)),
            Some(x) => match eval(x, row, ctx)? {
                Datum::Null => Ok(None),
                other => match other.coerce(SqlType::Int)? {
                    Datum::Int(i) => Ok(Some(Some(i))),
                    _ => Ok(None),
                },
            },
        }
    };
    let items = match v {
        Datum::Null => return Ok(Datum::Null),
        Datum::Array(items) => items,
        Datum::Json(j) => {
            // jsonb['key'] / jsonb[0] is the same as ->.
            let Subscript::Index { index: k } = sub else {
                return Err(SqlError::unsupported("jsonb slices"));
            };
            return binary(&BinaryOperator::Arrow, Datum::Json(j), eval(k, row, ctx)?);
        }
        other => {
            return Err(SqlError::new(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "cannot subscript type {} because it is not an array",
                    other
                        .sql_type()
                        .map_or("unknown", |t| t.name())
                        .to_lowercase()
                ),
            ));
        }
    };
    match sub {
        Subscript::Index { index: i } => {
            let Some(Some(i)) = index(&Some(i.clone()))? else {
                return Ok(Datum::Null);
            };
            Ok(usize::try_from(i - 1)
                .ok()
                .and_then(|i| items.get(i).cloned())
                .unwrap_or(Datum::Null))
        }
        Subscript::Slice {
            lower_bound,
            upper_bound,
            stride: None,
        } => {
            let (Some(lo), Some(hi)) = (index(lower_bound)?, index(upper_bound)?) else {
                return Ok(Datum::Null);
            };
            let lo = lo.unwrap_or(1).max(1);
            let hi = hi.unwrap_or(items.len() as i64).min(items.len() as i64);
            if lo > hi {
                return Ok(Datum::Array(Vec::new()));
            }
            Ok(Datum::Array(items[(lo - 1) as usize..hi as usize].to_vec()))
        }
        Subscript::Slice { .. } => Err(SqlError::unsupported("array slices with a stride")),
    }
}
