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
    AccessExpr, BinaryOperator, CaseWhen, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArguments, InTarget, Interval, TrimWhereField, UnaryOperator, Value,
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
    /// Object names by oid (`reg*` casts, catalog functions), when the statement uses them.
    pub oids: Option<&'a super::system_tables::oids::OidNames>,
}

/// The row an expression is evaluated against: column names and values, aligned.
pub struct Row<'a> {
    /// Column names (lowercase).
    pub names: &'a [String],
    /// Values.
    pub values: &'a [Datum],
}

use super::functions::{call, extract};
pub use super::functions::{datum_to_json, unique_rowid};
use super::operators::binary;
pub use super::operators::compare;

mod arrays;
mod infer;
mod names;
use arrays::{any_all, subscript};
pub use arrays::{quantified, unify_elements};
pub use infer::{infer_type, sum_type};
use names::ident_name;
pub use names::{
    HIDDEN, NO_DATA_SOURCE, POSITIONAL, check_references, is_ambiguous, lookup, normalize,
    qualified_name,
};

/// The product version string shown by `version()`: tandem's version, the CockroachDB version
/// it is compatible with, and the PostgreSQL version of its wire protocol and catalogs (the one
/// `server_version` reports), which PostgreSQL drivers and ORMs parse out of this string.
pub fn version_string() -> String {
    format!(
        "tandem {} (x86_64-linux, compatible with CockroachDB v24.3 and PostgreSQL 13.0)",
        env!("CARGO_PKG_VERSION")
    )
}

/// Parses a numeric literal.
pub fn number(s: &str) -> Result<Datum> {
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Datum::Int(i));
    }
    // As in CockroachDB, a numeric literal with a decimal point or an exponent (or an integer
    // too large for INT8) is a DECIMAL: `0.1 + 0.2` is exactly `0.3`. A literal beyond
    // DECIMAL's range here is an error, never a rounded float.
    if let Some(d) = super::types::parse_decimal(s) {
        return Ok(Datum::Decimal(d));
    }
    if parse_float(s).is_some() {
        return Err(SqlError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            format!(
                "numeric constant {s} is out of the supported DECIMAL range (28 significant digits, exponent -28..28)"
            ),
        ));
    }
    parse_float(s).map(Datum::Float).ok_or_else(|| {
        SqlError::new(
            SqlState::INVALID_TEXT_REPRESENTATION,
            format!("invalid number {s}"),
        )
    })
}

fn interval_overflow() -> SqlError {
    SqlError::new(SqlState("22008"), "interval out of range")
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

/// Evaluates `e` against `row` (None when there is no FROM clause): dispatches on the form of
/// the expression, one step per form.
pub fn eval(e: &Expr, row: Option<&Row<'_>>, ctx: &EvalContext<'_>) -> Result<Datum> {
    match e {
        Expr::Value(v) => literal(&v.value, ctx),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => column_or_keyword(e, row, ctx),
        Expr::Nested(inner) => eval(inner, row, ctx),
        Expr::IsNull(inner) => Ok(Datum::Bool(eval(inner, row, ctx)?.is_null())),
        Expr::IsNotNull(inner) => Ok(Datum::Bool(!eval(inner, row, ctx)?.is_null())),
        Expr::IsTrue(inner) => Ok(Datum::Bool(truth(&eval(inner, row, ctx)?)? == Some(true))),
        Expr::IsFalse(inner) => Ok(Datum::Bool(truth(&eval(inner, row, ctx)?)? == Some(false))),
        Expr::IsNotTrue(inner) => Ok(Datum::Bool(truth(&eval(inner, row, ctx)?)? != Some(true))),
        Expr::IsNotFalse(inner) => Ok(Datum::Bool(truth(&eval(inner, row, ctx)?)? != Some(false))),
        Expr::IsUnknown(inner) => Ok(Datum::Bool(truth(&eval(inner, row, ctx)?)?.is_none())),
        Expr::IsNotUnknown(inner) => Ok(Datum::Bool(truth(&eval(inner, row, ctx)?)?.is_some())),
        Expr::IsDistinctFrom(a, b) => distinct_from(a, b, false, row, ctx),
        Expr::IsNotDistinctFrom(a, b) => distinct_from(a, b, true, row, ctx),
        // `-9223372036854775808` is the smallest INT, not the negation of a too-large one.
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: inner,
        } if matches!(inner.as_ref(), Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if !n.starts_with('-'))) => {
            match inner.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => number(&format!("-{n}")),
                    _ => Err(SqlError::internal("negated literal")),
                },
                _ => Err(SqlError::internal("negated literal")),
            }
        }
        Expr::UnaryOp { op, expr } => unary(op, eval(expr, row, ctx)?),
        Expr::BinaryOp { left, op, right } => binary_op(left, op, right, row, ctx),
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated,
            ..
        } => in_list(expr, list, *negated, row, ctx),
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => between(expr, low, high, *negated, row, ctx),
        Expr::Like {
            negated,
            expr,
            pattern,
            ..
        } => like_op(expr, pattern, false, *negated, row, ctx),
        Expr::ILike {
            negated,
            expr,
            pattern,
            ..
        } => like_op(expr, pattern, true, *negated, row, ctx),
        Expr::Cast {
            expr, data_type, ..
        } => cast(expr, data_type, row, ctx),
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => case(
            operand.as_deref(),
            conditions,
            else_result.as_deref(),
            row,
            ctx,
        ),
        Expr::Function(f) => function(f, row, ctx),
        Expr::Interval(iv) => interval(iv, row, ctx),
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
        } => substring(
            x,
            substring_from.as_deref(),
            substring_for.as_deref(),
            row,
            ctx,
        ),
        Expr::Trim {
            expr: x,
            trim_where,
            trim_what,
            ..
        } => trim(x, trim_where.as_ref(), trim_what.as_deref(), row, ctx),
        Expr::Position { expr: x, r#in } => {
            let (needle, hay) = (eval(x, row, ctx)?, eval(r#in, row, ctx)?);
            call("strpos", vec![hay, needle], ctx)
        }
        Expr::Ceil { expr: x, .. } => call("ceil", vec![eval(x, row, ctx)?], ctx),
        Expr::Floor { expr: x, .. } => call("floor", vec![eval(x, row, ctx)?], ctx),
        Expr::Array(a) => {
            let items = a
                .elem
                .iter()
                .map(|x| eval(x, row, ctx))
                .collect::<Result<Vec<_>>>()?;
            Ok(Datum::Array(unify_elements(items)?))
        }
        Expr::CompoundFieldAccess { root, access_chain } => {
            let mut v = eval(root, row, ctx)?;
            for access in access_chain {
                v = match access {
                    AccessExpr::Subscript(sub) => subscript(v, sub, row, ctx)?,
                    AccessExpr::Dot(_) => {
                        return Err(SqlError::unsupported(format!("field access {e}")));
                    }
                };
            }
            Ok(v)
        }
        Expr::AnyOp {
            left,
            compare_op,
            right,
            ..
        } => any_all(left, compare_op, right, false, row, ctx),
        Expr::AllOp {
            left,
            compare_op,
            right,
        } => any_all(left, compare_op, right, true, row, ctx),
        other => Err(SqlError::unsupported(format!("expression {other}"))),
    }
}

/// A column reference: the row's column it names (42702 when the bare name matches columns of
/// several tables), else one of the keyword-like functions written without parentheses
/// (`current_user`, `current_date`, ...), else 42703.
fn column_or_keyword(e: &Expr, row: Option<&Row<'_>>, ctx: &EvalContext<'_>) -> Result<Datum> {
    if let Some(r) = row {
        if let Some(n) = is_ambiguous(r.names, e) {
            return Err(names::ambiguous_column(&n));
        }
        if let Some(i) = lookup(r.names, e) {
            return Ok(r.values[i].clone());
        }
    }
    let name = ident_name(e).unwrap_or_default();
    match names::keyword(&name) {
        Some(names::Keyword::User) => Ok(Datum::String(ctx.user.to_string())),
        Some(names::Keyword::Database) => Ok(Datum::String(ctx.database.to_string())),
        Some(names::Keyword::Now) => Ok(Datum::TimestampTz((ctx.now_nanos / 1000) as i64)),
        Some(names::Keyword::Date) => Ok(Datum::Date((ctx.now_nanos / 86_400_000_000_000) as i32)),
        None => Err(names::unresolved(e, row.map_or(&[], |r| r.names))
            .unwrap_or_else(|| names::undefined_column(&name))),
    }
}

/// `a IS [NOT] DISTINCT FROM b`: equality where two NULLs are the same and one NULL differs.
fn distinct_from(
    a: &Expr,
    b: &Expr,
    not: bool,
    row: Option<&Row<'_>>,
    ctx: &EvalContext<'_>,
) -> Result<Datum> {
    let (a, b) = (eval(a, row, ctx)?, eval(b, row, ctx)?);
    let same = match (a.is_null(), b.is_null()) {
        (true, true) => true,
        (false, false) => compare(&a, &b)? == Some(std::cmp::Ordering::Equal),
        _ => false,
    };
    Ok(Datum::Bool(same == not))
}

/// A unary operator applied to a value: `-`, `+`, `NOT`, `~`; NULL in, NULL out.
fn unary(op: &UnaryOperator, v: Datum) -> Result<Datum> {
    match (op, v) {
        (UnaryOperator::Minus, Datum::Decimal(d)) => Ok(Datum::Decimal(-d)),
        (
            UnaryOperator::Minus,
            Datum::Interval {
                months,
                days,
                micros,
            },
        ) => Ok(Datum::Interval {
            months: months.checked_neg().ok_or_else(interval_overflow)?,
            days: days.checked_neg().ok_or_else(interval_overflow)?,
            micros: micros.checked_neg().ok_or_else(interval_overflow)?,
        }),
        (UnaryOperator::Plus, v @ (Datum::Decimal(_) | Datum::Interval { .. })) => Ok(v),
        (_, Datum::Null) => Ok(Datum::Null),
        (UnaryOperator::Not, v) => Ok(truth(&v)?.map_or(Datum::Null, |b| Datum::Bool(!b))),
        (UnaryOperator::Minus, Datum::Int(i)) => i.checked_neg().map(Datum::Int).ok_or_else(|| {
            SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range")
        }),
        (UnaryOperator::Minus, Datum::Float(f)) => Ok(Datum::Float(-f)),
        (UnaryOperator::Plus, v @ (Datum::Int(_) | Datum::Float(_))) => Ok(v),
        (UnaryOperator::BitwiseNot, Datum::Int(i)) => Ok(Datum::Int(!i)),
        (op, v) => Err(SqlError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!(
                "unsupported unary operator: {op} {}",
                v.sql_type().map_or("unknown", |t| t.name())
            ),
        )),
    }
}

/// A binary operator: `AND` and `OR` short-circuit with three-valued logic (the right side is
/// not evaluated when the left decides); the others evaluate both sides and apply
/// [`binary`].
fn binary_op(
    left: &Expr,
    op: &BinaryOperator,
    right: &Expr,
    row: Option<&Row<'_>>,
    ctx: &EvalContext<'_>,
) -> Result<Datum> {
    let l = eval(left, row, ctx)?;
    match op {
        BinaryOperator::And => {
            let lb = truth(&l)?;
            if lb == Some(false) {
                return Ok(Datum::Bool(false));
            }
            let rb = truth(&eval(right, row, ctx)?)?;
            Ok(match (lb, rb) {
                (_, Some(false)) => Datum::Bool(false),
                (Some(true), Some(true)) => Datum::Bool(true),
                _ => Datum::Null,
            })
        }
        BinaryOperator::Or => {
            let lb = truth(&l)?;
            if lb == Some(true) {
                return Ok(Datum::Bool(true));
            }
            let rb = truth(&eval(right, row, ctx)?)?;
            Ok(match (lb, rb) {
                (_, Some(true)) => Datum::Bool(true),
                (Some(false), Some(false)) => Datum::Bool(false),
                _ => Datum::Null,
            })
        }
        _ => binary(op, l, eval(right, row, ctx)?),
    }
}

/// `x [NOT] IN (list)`: true on the first equal item (items after it are not evaluated), else
/// NULL when `x` or some item is NULL, else false (negated: the opposite, NULL stays NULL).
fn in_list(
    x: &Expr,
    list: &[Expr],
    negated: bool,
    row: Option<&Row<'_>>,
    ctx: &EvalContext<'_>,
) -> Result<Datum> {
    let v = eval(x, row, ctx)?;
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
        Datum::Bool(negated)
    })
}

/// `x [NOT] BETWEEN low AND high`: `x >= low AND x <= high` with three-valued logic; NULL
/// when `x` is NULL.
fn between(
    x: &Expr,
    low: &Expr,
    high: &Expr,
    negated: bool,
    row: Option<&Row<'_>>,
    ctx: &EvalContext<'_>,
) -> Result<Datum> {
    let v = eval(x, row, ctx)?;
    if v.is_null() {
        // NULL whatever the bounds are: they are not evaluated (as PostgreSQL and CockroachDB
        // fold it), so an error in them does not end the statement.
        return Ok(Datum::Null);
    }
    let lo = binary(&BinaryOperator::GtEq, v.clone(), eval(low, row, ctx)?)?;
    let hi = binary(&BinaryOperator::LtEq, v, eval(high, row, ctx)?)?;
    let both = match (truth(&lo)?, truth(&hi)?) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    };
    Ok(both.map_or(Datum::Null, |b| Datum::Bool(b != negated)))
}

/// `x [NOT] LIKE pattern`, or `ILIKE` (case-insensitive) when `ci`; strings only.
fn like_op(
    x: &Expr,
    pattern: &Expr,
    ci: bool,
    negated: bool,
    row: Option<&Row<'_>>,
    ctx: &EvalContext<'_>,
) -> Result<Datum> {
    let (v, p) = (eval(x, row, ctx)?, eval(pattern, row, ctx)?);
    match (v, p) {
        (Datum::String(s), Datum::String(p)) => {
            let m = if ci {
                like(&s.to_lowercase(), &p.to_lowercase())
            } else {
                like(&s, &p)
            };
            Ok(Datum::Bool(m != negated))
        }
        (Datum::Null, _) | (_, Datum::Null) => Ok(Datum::Null),
        _ => Err(SqlError::new(
            SqlState::UNDEFINED_FUNCTION,
            "unsupported comparison operator: LIKE on non-strings",
        )),
    }
}

/// `x::type`: `reg*` casts look names up in the catalog (`x::regclass::oid` is the oid itself);
/// a numeric literal cast to FLOAT is read as a float; other values are coerced, then the
/// type's modifier applies.
fn cast(
    x: &Expr,
    data_type: &DataType,
    row: Option<&Row<'_>>,
    ctx: &EvalContext<'_>,
) -> Result<Datum> {
    use super::system_tables::oids::{RegKind, reg_cast};
    if let Some(kind) = RegKind::of(data_type) {
        let v = eval(x, row, ctx)?;
        return reg_cast(kind, v, ctx.oids, true);
    }
    // `x::regclass::oid`: the object's oid, not its display name.
    if let (
        DataType::Custom(n, _),
        Expr::Cast {
            expr: inner,
            data_type: inner_type,
            ..
        },
    ) = (data_type, x)
        && n.to_string().eq_ignore_ascii_case("oid")
        && let Some(kind) = RegKind::of(inner_type)
    {
        return match eval(inner, row, ctx)? {
            v @ Datum::Int(_) => Ok(v),
            v => reg_cast(kind, v, ctx.oids, true),
        };
    }
    let ty = SqlType::from_ast(data_type)?;
    // A numeric literal cast to FLOAT is read as a float (`1e300::FLOAT` is beyond
    // DECIMAL's range here, not beyond FLOAT's).
    if ty == SqlType::Float
        && let Expr::Value(v) = x
        && let Value::Number(n, _) = &v.value
        && let Some(f) = parse_float(n)
    {
        return Ok(Datum::Float(f));
    }
    let v = eval(x, row, ctx)?.coerce(ty)?;
    // The type's modifier applies too: `1.005::DECIMAL(4,2)` is 1.01, `'abcd'::VARCHAR(2)`
    // is `ab` (an explicit cast truncates), `2147483648::INT4` is out of range.
    match super::typmod::TypeMod::from_ast(data_type)? {
        super::typmod::TypeMod::MaxChars(n) => Ok(match v {
            Datum::String(s) if s.chars().count() > n as usize => {
                Datum::String(s.chars().take(n as usize).collect())
            }
            v => v,
        }),
        m => m.apply(v),
    }
}

/// `CASE [operand] WHEN ... THEN ... [ELSE ...] END`: the result of the first condition that
/// holds (equals the operand, when there is one); only that branch is evaluated.
fn case(
    operand: Option<&Expr>,
    conditions: &[CaseWhen],
    else_result: Option<&Expr>,
    row: Option<&Row<'_>>,
    ctx: &EvalContext<'_>,
) -> Result<Datum> {
    let op = operand.map(|o| eval(o, row, ctx)).transpose()?;
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

/// A function call: positional arguments evaluated, then the builtin looked up by name.
fn function(f: &Function, row: Option<&Row<'_>>, ctx: &EvalContext<'_>) -> Result<Datum> {
    let name = f.name.to_string().to_lowercase();
    // COALESCE/IFNULL stop at the first non-NULL argument (PostgreSQL and CockroachDB do not
    // evaluate the rest): the later ones are still evaluated for their types, which make the
    // result's, but an error in one of them does not end the statement.
    let lazy = matches!(name.as_str(), "coalesce" | "ifnull");
    let mut decided = false;
    let args: Vec<Datum> = match &f.args {
        FunctionArguments::None => Vec::new(),
        FunctionArguments::List(l) => l
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => {
                    let v = eval(x, row, ctx);
                    if !lazy {
                        return v;
                    }
                    if decided {
                        return Ok(v.unwrap_or(Datum::Null));
                    }
                    decided = v.as_ref().is_ok_and(|d| !d.is_null());
                    v
                }
                _ => Err(SqlError::unsupported(format!("arguments of {name}"))),
            })
            .collect::<Result<_>>()?,
        FunctionArguments::Subquery(_) => {
            return Err(SqlError::unsupported("subquery arguments"));
        }
    };
    call(&name, args, ctx)
}

/// `INTERVAL 'text' [field]`: a bare number takes the leading field as its unit.
fn interval(iv: &Interval, row: Option<&Row<'_>>, ctx: &EvalContext<'_>) -> Result<Datum> {
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

/// `SUBSTRING(x FROM f FOR n)`: `substr(x, f, n)`, `f` 1 when left out.
fn substring(
    x: &Expr,
    from: Option<&Expr>,
    len: Option<&Expr>,
    row: Option<&Row<'_>>,
    ctx: &EvalContext<'_>,
) -> Result<Datum> {
    let v = eval(x, row, ctx)?;
    let from = from.map(|f| eval(f, row, ctx)).transpose()?;
    let len = len.map(|f| eval(f, row, ctx)).transpose()?;
    let mut args = vec![v, from.unwrap_or(Datum::Int(1))];
    if let Some(l) = len {
        args.push(l);
    }
    call("substr", args, ctx)
}

/// `TRIM([LEADING | TRAILING | BOTH] [what FROM] x)`: `ltrim`, `rtrim` or `btrim`.
fn trim(
    x: &Expr,
    trim_where: Option<&TrimWhereField>,
    what: Option<&Expr>,
    row: Option<&Row<'_>>,
    ctx: &EvalContext<'_>,
) -> Result<Datum> {
    let v = eval(x, row, ctx)?;
    let what = what.map(|w| eval(w, row, ctx)).transpose()?;
    let name = match trim_where {
        Some(TrimWhereField::Leading) => "ltrim",
        Some(TrimWhereField::Trailing) => "rtrim",
        _ => "btrim",
    };
    let mut args = vec![v];
    if let Some(w) = what {
        args.push(w);
    }
    call(name, args, ctx)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(sql: &str) -> Result<Datum> {
        let ctx = EvalContext {
            params: &[Datum::Int(7)],
            oids: None,
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
