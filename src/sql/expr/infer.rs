//! Static typing of expressions: the type a result column is described with before any row
//! exists (Describe, empty results). Unknown shapes are STRING; evaluation decides the value.

use super::*;
use sqlparser::ast::Subscript;

/// The static type of an expression, when it can be known before evaluation.
pub fn infer_type(e: &Expr, columns: &[(String, SqlType)]) -> SqlType {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
            // Scope names (`t.c`) resolve as evaluation does (a qualified name exactly).
            let names: Vec<String> = columns.iter().map(|(c, _)| c.clone()).collect();
            if let Some(i) = lookup(&names, e) {
                return columns[i].1;
            }
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
                    SqlType::Decimal
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
            | BinaryOperator::Or
            | BinaryOperator::AtArrow
            | BinaryOperator::ArrowAt
            | BinaryOperator::Question
            | BinaryOperator::QuestionAnd
            | BinaryOperator::QuestionPipe
            | BinaryOperator::PGRegexMatch
            | BinaryOperator::PGRegexIMatch
            | BinaryOperator::PGRegexNotMatch
            | BinaryOperator::PGRegexNotIMatch
            | BinaryOperator::PGLikeMatch
            | BinaryOperator::PGILikeMatch
            | BinaryOperator::PGNotLikeMatch
            | BinaryOperator::PGNotILikeMatch => SqlType::Bool,
            BinaryOperator::StringConcat => {
                match (infer_type(left, columns), infer_type(right, columns)) {
                    (t @ SqlType::Array(_), _) | (_, t @ SqlType::Array(_)) => t,
                    _ => SqlType::String,
                }
            }
            BinaryOperator::LongArrow | BinaryOperator::HashLongArrow => SqlType::String,
            BinaryOperator::Arrow | BinaryOperator::HashArrow => SqlType::Jsonb,
            BinaryOperator::Divide => match (infer_type(left, columns), infer_type(right, columns))
            {
                (SqlType::Float, _) | (_, SqlType::Float) => SqlType::Float,
                (SqlType::Interval, _) => SqlType::Interval,
                // INT / INT is DECIMAL in CockroachDB.
                _ => SqlType::Decimal,
            },
            _ => arithmetic_type(op, infer_type(left, columns), infer_type(right, columns)),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            ..
        }
        | Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotTrue(_)
        | Expr::IsNotFalse(_)
        | Expr::IsUnknown(_)
        | Expr::IsNotUnknown(_)
        | Expr::SimilarTo { .. }
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::In { .. }
        | Expr::Exists { .. }
        | Expr::AnyOp { .. }
        | Expr::AllOp { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::ILike { .. } => SqlType::Bool,
        Expr::UnaryOp { expr, .. } | Expr::Ceil { expr, .. } | Expr::Floor { expr, .. } => {
            infer_type(expr, columns)
        }
        Expr::TypedString(t) => SqlType::from_ast(&t.data_type).unwrap_or(SqlType::String),
        Expr::Interval(_) => SqlType::Interval,
        Expr::Extract { .. } => SqlType::Float,
        Expr::Position { .. } => SqlType::Int,
        Expr::AtTimeZone { .. } => SqlType::Timestamp,
        Expr::Case {
            conditions,
            else_result,
            ..
        } => {
            // The first typed branch's type, widened over numeric types (INT and DECIMAL
            // branches make a DECIMAL, any FLOAT branch a FLOAT).
            let mut ty: Option<SqlType> = None;
            for t in conditions
                .iter()
                .map(|c| &c.result)
                .chain(else_result.as_deref())
                .map(|e| infer_type(e, columns))
                .filter(|t| *t != SqlType::String)
            {
                ty = Some(match ty {
                    None => t,
                    Some(cur) => cur.numeric_common(t).unwrap_or(cur),
                });
            }
            ty.unwrap_or(SqlType::String)
        }
        Expr::Function(f) => function_type(f, columns),
        Expr::Array(a) => a
            .elem
            .iter()
            .map(|x| infer_type(x, columns))
            .find(|t| *t != SqlType::String)
            .unwrap_or(SqlType::String)
            .array_of()
            .unwrap_or(SqlType::Array(crate::sql::types::ElemType::String)),
        Expr::CompoundFieldAccess { root, access_chain } => {
            let t = infer_type(root, columns);
            match (t, access_chain.as_slice()) {
                (SqlType::Array(e), [AccessExpr::Subscript(Subscript::Index { .. })]) => {
                    e.sql_type()
                }
                (SqlType::Jsonb, _) => SqlType::Jsonb,
                _ => t,
            }
        }
        _ => SqlType::String,
    }
}

/// The result type of `+ - * %` on operands of these types (PostgreSQL's rules for the
/// common cases; unknown combinations are FLOAT).
fn arithmetic_type(op: &BinaryOperator, l: SqlType, r: SqlType) -> SqlType {
    use SqlType::*;
    match (l, r) {
        (Int, Int) => Int,
        (Decimal, Int | Decimal) | (Int, Decimal) => Decimal,
        (Timestamp | TimestampTz, Interval) | (Interval, Timestamp | TimestampTz) => {
            if l == Interval { r } else { l }
        }
        (Timestamp | TimestampTz, Timestamp | TimestampTz) => Interval,
        (Date, Int) | (Int, Date) => Date,
        (Date, Date) if *op == BinaryOperator::Minus => Int,
        (Date, Interval) | (Interval, Date) => Timestamp,
        (Interval, Interval | Int | Float) | (Int | Float, Interval) => Interval,
        _ => Float,
    }
}

/// The result type of `sum` and `avg` over values of type `t`: FLOAT and INTERVAL stay, anything
/// else (INT, DECIMAL) is DECIMAL, as in CockroachDB.
pub fn sum_type(t: SqlType) -> SqlType {
    match t {
        SqlType::Float | SqlType::Interval => t,
        _ => SqlType::Decimal,
    }
}

/// The result type of a function call, for describing results before any row exists: the
/// builtin registry's rule for the arguments' static types (STRING when unknown).
fn function_type(f: &sqlparser::ast::Function, columns: &[(String, SqlType)]) -> SqlType {
    let Some(b) = crate::sql::functions::registry::lookup(&f.name.to_string()) else {
        return SqlType::String;
    };
    let args: Vec<SqlType> = match &f.args {
        FunctionArguments::List(l) => l
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => infer_type(e, columns),
                _ => SqlType::String,
            })
            .collect(),
        _ => Vec::new(),
    };
    b.result_type(&args)
}
