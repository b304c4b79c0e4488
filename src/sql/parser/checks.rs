//! Statements `sqlparser` accepts but CockroachDB rejects for their shape alone, whatever the
//! tables hold (checked after parsing, before anything runs):
//!
//! - `f(*, x)` / `count(*, 1)`: `*` is an argument only on its own (42601 syntax error).
//! - `VALUES` rows of different lengths (42601 `VALUES lists must all be the same length`).
//! - `INSERT`/`UPSERT` naming a column twice, or an `UPDATE` assigning one twice (42601
//!   `multiple assignments to the same column "a"`); `INSERT (a, b) VALUES (...)` rows with a
//!   different number of values than columns (42601 `INSERT has more target columns than
//!   expressions, 1 expressions for 2 targets`, and the converse).
//! - `ORDER BY n` / `GROUP BY n` naming a position outside a select list without `*`
//!   (42P10 `ORDER BY position 3 is not in select list`), and a literal there that is not an
//!   integer (`1.5`, `'x'`, `TRUE`, `NULL`: 42601 `non-integer constant in ORDER BY: 1.5`).
//!
//! `SELECT FROM t` (no select list) is accepted: PostgreSQL and CockroachDB (since v24.1) both
//! return its rows without columns.

use super::ParseError;
use crate::sql::expr::normalize;
use sqlparser::ast::{
    self as pg, AssignmentTarget, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    GroupByExpr, Query, SelectItem, SetExpr, Visit, Visitor,
};
use std::ops::ControlFlow;

/// 42P10 (invalid_column_reference).
const INVALID_COLUMN_REFERENCE: &str = "42P10";

/// The first shape error in `stmt`, if any.
pub(super) fn check(stmt: &pg::Statement) -> Result<(), ParseError> {
    // In CockroachDB's order: target columns, then the rows, then their count.
    match stmt {
        pg::Statement::Insert(ins) => {
            no_duplicates(&ins.columns.iter().map(column).collect::<Vec<_>>())?
        }
        pg::Statement::Update(u) => {
            let mut names = Vec::new();
            for a in &u.assignments {
                match &a.target {
                    AssignmentTarget::ColumnName(n) => names.push(column(n)),
                    AssignmentTarget::Tuple(ns) => names.extend(ns.iter().map(column)),
                }
            }
            no_duplicates(&names)?;
        }
        _ => {}
    }
    let mut v = Shapes { err: None };
    let _ = stmt.visit(&mut v);
    if let Some(e) = v.err {
        return Err(e);
    }
    match stmt {
        pg::Statement::Insert(ins) => check_insert(ins),
        _ => Ok(()),
    }
}

fn column(n: &pg::ObjectName) -> String {
    n.0.last()
        .and_then(|p| p.as_ident())
        .map(|i| normalize(&i.value, i.quote_style.is_some()))
        .unwrap_or_default()
}

fn syntax(message: String) -> ParseError {
    ParseError {
        message,
        position: None,
        code: ParseError::SQLSTATE,
    }
}

fn no_duplicates(names: &[String]) -> Result<(), ParseError> {
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(syntax(format!(
                "multiple assignments to the same column \"{n}\""
            )));
        }
    }
    Ok(())
}

fn check_insert(ins: &pg::Insert) -> Result<(), ParseError> {
    let names = &ins.columns;
    let Some(source) = &ins.source else {
        return Ok(());
    };
    let SetExpr::Values(values) = source.body.as_ref() else {
        return Ok(());
    };
    if names.is_empty() {
        return Ok(());
    }
    let kw = if ins.replace_into { "UPSERT" } else { "INSERT" };
    for row in &values.rows {
        let (got, want) = (row.len(), names.len());
        if got != want {
            let (more, less) = if got > want {
                ("expressions", "target columns")
            } else {
                ("target columns", "expressions")
            };
            return Err(syntax(format!(
                "{kw} has more {more} than {less}, {got} expressions for {want} targets"
            )));
        }
    }
    Ok(())
}

/// Finds the first shape error below a statement.
struct Shapes {
    err: Option<ParseError>,
}

impl Shapes {
    fn fail(&mut self, e: ParseError) -> ControlFlow<()> {
        self.err = Some(e);
        ControlFlow::Break(())
    }
}

impl Visitor for Shapes {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e
            && let FunctionArguments::List(list) = &f.args
        {
            let star = |a: &FunctionArg| {
                matches!(
                    a,
                    FunctionArg::Unnamed(FunctionArgExpr::Wildcard)
                        | FunctionArg::Unnamed(FunctionArgExpr::QualifiedWildcard(_))
                )
            };
            if list.args.iter().any(star)
                && (list.args.len() > 1 || list.duplicate_treatment.is_some())
            {
                let near = if list.args.len() > 1 { "," } else { "*" };
                return self.fail(ParseError::near(near, "", None));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Err(e) = check_values(&q.body).and_then(|()| check_positions(q)) {
            return self.fail(e);
        }
        ControlFlow::Continue(())
    }
}

/// Every `VALUES` of `body` (outside nested queries) has rows of one length.
fn check_values(body: &SetExpr) -> Result<(), ParseError> {
    let mut stack = vec![body];
    while let Some(e) = stack.pop() {
        match e {
            SetExpr::SetOperation { left, right, .. } => {
                stack.push(left);
                stack.push(right);
            }
            SetExpr::Values(v) => {
                if let Some(first) = v.rows.first()
                    && let Some(bad) = v.rows.iter().find(|r| r.len() != first.len())
                {
                    return Err(syntax(format!(
                        "VALUES lists must all be the same length, expected {} columns, found {}",
                        first.len(),
                        bad.len()
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The number of output columns of `body`, when its select list has no `*`.
fn width(body: &SetExpr) -> Option<usize> {
    let mut e = body;
    loop {
        match e {
            SetExpr::SetOperation { left, .. } => e = left,
            SetExpr::Select(s) => {
                return s
                    .projection
                    .iter()
                    .all(|i| {
                        matches!(
                            i,
                            SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. }
                        )
                    })
                    .then_some(s.projection.len());
            }
            SetExpr::Values(v) => return v.rows.first().map(|r| r.len()),
            SetExpr::Query(q) => e = &q.body,
            _ => return None,
        }
    }
}

/// A positional reference: a plain integer literal.
fn position(e: &Expr) -> Option<i128> {
    match e {
        Expr::Value(v) => match &v.value {
            pg::Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// A constant `ORDER BY`/`GROUP BY` cannot mean: a literal other than an integer (a string,
/// `1.5`, `TRUE`, `NULL`), in parentheses or not. A parameter is not a constant here.
fn non_integer_constant(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) => non_integer_constant(inner),
        Expr::Value(v) => match &v.value {
            pg::Value::Number(n, _) => n.parse::<i64>().is_err(),
            pg::Value::Placeholder(_) => false,
            _ => true,
        },
        _ => false,
    }
}

/// Rewrites each literal `ORDER BY`/`GROUP BY` item written in parentheses or negated
/// (`(2)`, `-1`, `(-0.5)`) to the plain literal, as PostgreSQL's and CockroachDB's grammars
/// read them: `ORDER BY (2)` names the second column and `ORDER BY -1` is a position out of
/// range, not a constant that sorts nothing.
pub(super) fn literal_positions(stmt: &mut pg::Statement) {
    struct Walk;
    impl pg::VisitorMut for Walk {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            if let Some(pg::OrderByKind::Expressions(items)) =
                q.order_by.as_mut().map(|o| &mut o.kind)
            {
                for item in items {
                    plain_literal(&mut item.expr);
                }
            }
            group_by_literals(&mut q.body);
            ControlFlow::Continue(())
        }
    }
    let _ = pg::VisitMut::visit(stmt, &mut Walk);
}

/// [`literal_positions`] for the GROUP BY and DISTINCT ON lists of the SELECTs of a query body.
fn group_by_literals(body: &mut SetExpr) {
    match body {
        SetExpr::Select(s) => {
            if let GroupByExpr::Expressions(exprs, _) = &mut s.group_by {
                exprs.iter_mut().for_each(plain_literal);
            }
            if let Some(pg::Distinct::On(exprs)) = &mut s.distinct {
                exprs.iter_mut().for_each(plain_literal);
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            group_by_literals(left);
            group_by_literals(right);
        }
        _ => {}
    }
}

/// `e` as a plain literal when it is one in parentheses, or a number under minus signs and
/// parentheses (`- -3.5` is 3.5, `-(1)` is -1), as both grammars fold them.
fn plain_literal(e: &mut Expr) {
    let mut inner = &*e;
    let mut negative = false;
    let mut negated = false;
    loop {
        match inner {
            Expr::Nested(x) => inner = x,
            Expr::UnaryOp {
                op: pg::UnaryOperator::Minus,
                expr,
            } => {
                negative = !negative;
                negated = true;
                inner = expr;
            }
            _ => break,
        }
    }
    let plain = match inner {
        Expr::Value(v) => match &v.value {
            pg::Value::Number(n, long) if negated => {
                let (core_negative, digits) = match n.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, n.as_str()),
                };
                let sign = if negative != core_negative { "-" } else { "" };
                Some(Expr::Value(
                    pg::Value::Number(format!("{sign}{digits}"), *long).into(),
                ))
            }
            _ if !negated => Some(inner.clone()),
            _ => None,
        },
        _ => None,
    };
    if let Some(p) = plain {
        *e = p;
    }
}

fn check_positions(q: &Query) -> Result<(), ParseError> {
    let order_by: &[pg::OrderByExpr] = match &q.order_by {
        Some(ob) => match &ob.kind {
            pg::OrderByKind::Expressions(items) => items,
            _ => &[],
        },
        None => &[],
    };
    let group_by: &[Expr] = match q.body.as_ref() {
        SetExpr::Select(s) => match &s.group_by {
            GroupByExpr::Expressions(exprs, _) => exprs,
            _ => &[],
        },
        _ => &[],
    };
    // Before positions, as CockroachDB and PostgreSQL check (42601).
    let constants = order_by
        .iter()
        .map(|i| ("ORDER BY", &i.expr))
        .chain(group_by.iter().map(|e| ("GROUP BY", e)));
    for (clause, e) in constants {
        if non_integer_constant(e) {
            return Err(syntax(format!("non-integer constant in {clause}: {e}")));
        }
    }
    let Some(n) = width(&q.body) else {
        return Ok(());
    };
    let out_of_range = |clause: &str, e: &Expr| match position(e) {
        Some(p) if p < 1 || p > n as i128 => Err(ParseError {
            message: format!("{clause} position {p} is not in select list"),
            position: None,
            code: INVALID_COLUMN_REFERENCE,
        }),
        _ => Ok(()),
    };
    for item in order_by {
        out_of_range("ORDER BY", &item.expr)?;
    }
    for e in group_by {
        out_of_range("GROUP BY", e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;

    fn err(sql: &str) -> Option<(String, &'static str)> {
        let mut stmt = sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .expect("parse")
            .remove(0);
        literal_positions(&mut stmt);
        check(&stmt).err().map(|e| (e.message, e.code))
    }

    #[test]
    fn shapes() {
        assert_eq!(err("SELECT a, b FROM t ORDER BY 2"), None);
        for (sql, msg) in [
            (
                "SELECT a FROM t ORDER BY 1.5",
                "non-integer constant in ORDER BY: 1.5",
            ),
            (
                "SELECT * FROM t ORDER BY 'x'",
                "non-integer constant in ORDER BY: 'x'",
            ),
            (
                "SELECT a FROM t ORDER BY (1e0)",
                "non-integer constant in ORDER BY: 1e0",
            ),
            (
                "SELECT a FROM t ORDER BY NULL",
                "non-integer constant in ORDER BY: NULL",
            ),
            (
                "SELECT count(*) FROM t GROUP BY 99.99, a",
                "non-integer constant in GROUP BY: 99.99",
            ),
            (
                "SELECT 1 FROM t GROUP BY true",
                "non-integer constant in GROUP BY: true",
            ),
            // A negated or parenthesized literal is the literal (was accepted as a constant).
            (
                "SELECT count(*) FROM t GROUP BY (- 0.001)",
                "non-integer constant in GROUP BY: -0.001",
            ),
            (
                "SELECT a FROM t UNION SELECT b FROM u ORDER BY (-2.5)",
                "non-integer constant in ORDER BY: -2.5",
            ),
            (
                "SELECT count(*) FROM t GROUP BY (- -3.5), a",
                "non-integer constant in GROUP BY: 3.5",
            ),
        ] {
            assert_eq!(err(sql), Some((msg.into(), "42601")), "{sql}");
        }
        for sql in [
            "SELECT a FROM t ORDER BY $1, 1::FLOAT8, a",
            "SELECT * FROM t ORDER BY 3",
            "SELECT a, b FROM t ORDER BY (2), -a, - -1",
        ] {
            assert_eq!(err(sql), None, "{sql}");
        }
        for (sql, msg) in [
            ("SELECT a, b FROM t ORDER BY 3", "ORDER BY position 3"),
            ("SELECT a FROM t ORDER BY 0", "ORDER BY position 0"),
            ("SELECT a FROM t ORDER BY -1", "ORDER BY position -1"),
            ("SELECT a, b FROM t GROUP BY (3)", "GROUP BY position 3"),
            ("SELECT a FROM t ORDER BY -(1)", "ORDER BY position -1"),
            ("SELECT a FROM t GROUP BY 2", "GROUP BY position 2"),
            ("SELECT 1 UNION SELECT 2 ORDER BY 2", "ORDER BY position 2"),
        ] {
            let want = format!("{msg} is not in select list");
            assert_eq!(err(sql), Some((want, "42P10")), "{sql}");
        }
        assert_eq!(err("SELECT count(*) FROM t"), None);
        assert_eq!(
            err("SELECT count(*, 1) FROM t"),
            Some(("at or near \",\": syntax error".into(), "42601"))
        );
        assert_eq!(
            err("UPDATE t SET a = 1, b = 2, a = 3"),
            Some((
                "multiple assignments to the same column \"a\"".into(),
                "42601"
            ))
        );
        assert_eq!(
            err("INSERT INTO t (a, \"a\") VALUES (1, 2)"),
            Some((
                "multiple assignments to the same column \"a\"".into(),
                "42601"
            ))
        );
        assert_eq!(
            err("INSERT INTO t (a, b) VALUES (1)"),
            Some((
                "INSERT has more target columns than expressions, 1 expressions for 2 targets"
                    .into(),
                "42601"
            ))
        );
        assert_eq!(
            err("INSERT INTO t (a) VALUES (1, 2)"),
            Some((
                "INSERT has more expressions than target columns, 2 expressions for 1 targets"
                    .into(),
                "42601"
            ))
        );
        assert_eq!(
            err("INSERT INTO t VALUES (1), (1, 2)"),
            Some((
                "VALUES lists must all be the same length, expected 1 columns, found 2".into(),
                "42601"
            ))
        );
        assert_eq!(err("INSERT INTO t VALUES (1), (2)"), None);
        assert_eq!(err("INSERT INTO t (a, b) SELECT 1, 2"), None);
    }
}
