//! Parameter types of the extended protocol's statements: how many placeholders a statement
//! has, and the types implied where a placeholder meets a column (`col = $1`,
//! `INSERT INTO t (col) VALUES ($1)`, `SET col = $1`, `$1::INT8`, `col = ANY($1)`, `LIKE $1`,
//! `LIMIT $1`). Best effort: tables that do not resolve are skipped, and a placeholder nothing
//! says anything about is left for the caller (which makes it `text`).

use std::collections::HashMap;
use std::ops::ControlFlow;

use ::pgwire::api::Type;
use sqlparser::ast::{
    self as pg, AssignmentTarget, Expr, InTarget, LimitClause, SetExpr, TableObject, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::encode;
use crate::sql::ast::Statement;
use crate::sql::catalog::Catalog;
use crate::sql::exec::{self, Ctx};
use crate::sql::session::Session;
use crate::sql::types::SqlType;

/// The highest `$n` in `sql` (0 when there is none).
pub(super) fn placeholder_count(sql: &str) -> usize {
    let dialect = PostgreSqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else {
        return 0;
    };
    tokens
        .iter()
        .filter_map(|t| {
            if let Token::Placeholder(p) = t {
                placeholder_number(p)
            } else {
                None
            }
        })
        .max()
        .unwrap_or(0)
}

fn placeholder_number(p: &str) -> Option<usize> {
    p.strip_prefix('$')?.parse().ok()
}

/// The 0-based index of a bare `$n` placeholder expression.
fn placeholder(e: &Expr) -> Option<usize> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => placeholder_number(p)?.checked_sub(1),
            _ => None,
        },
        Expr::Nested(inner) => placeholder(inner),
        _ => None,
    }
}

fn column_name(e: &Expr) -> Option<String> {
    let ident = match e {
        Expr::Identifier(i) => i,
        Expr::CompoundIdentifier(parts) => parts.last()?,
        Expr::Nested(inner) => return column_name(inner),
        _ => return None,
    };
    Some(crate::sql::expr::normalize(
        &ident.value,
        ident.quote_style.is_some(),
    ))
}

/// Parameter types implied by where placeholders meet columns of the statement's tables (best
/// effort: tables that do not resolve are skipped).
pub(super) async fn infer_param_types(
    session: &mut Session,
    stmt: &Statement,
) -> HashMap<usize, Type> {
    let mut out = HashMap::new();
    if let Statement::ReplicationBuiltin { func, .. } = stmt {
        for (i, t) in func.arg_types().iter().enumerate() {
            out.insert(i, encode::declared_pg_type(*t, Default::default()));
        }
        return out;
    }
    let Statement::Pg(s) = stmt else { return out };
    let s = s.as_ref();
    let mut names = Vec::new();
    if let pg::Statement::Insert(ins) = s
        && let TableObject::TableName(n) = &ins.table
    {
        names.push(n.clone());
    }
    let _ = pg::visit_relations(s, |n| {
        names.push(n.clone());
        ControlFlow::<()>::Continue(())
    });
    let ctx = Ctx {
        tenant: session.tenant,
        user: &session.user,
        database: &session.database,
        catalog: Catalog::new(session.tenant),
        now_nanos: 0,
        describe_only: true,
        memory: exec::MemoryAccount::default(),
        oids: None,
        search_path: session.search_path(),
        jobs: Default::default(),
        lock_timeout: None,
    };
    let mut txn = session.env.store.begin();
    let mut tables = Vec::new();
    for n in &names {
        if let Ok(t) = exec::resolve_table(&ctx, &mut txn, n).await {
            tables.push(t);
        }
    }
    txn.rollback();
    let col_type = |name: &str| {
        tables
            .iter()
            .flat_map(|t| t.columns.iter())
            .find(|c| c.name == name)
            .map(|c| encode::declared_pg_type(c.ty, c.typmod))
    };
    let of_column = |e: &Expr| column_name(e).and_then(|n| col_type(&n));

    let _ = pg::visit_expressions(s, |e| {
        let mut pair = |col: &Expr, other: &Expr| {
            if let (Some(i), Some(t)) = (placeholder(other), of_column(col)) {
                out.entry(i).or_insert(t);
            }
        };
        match e {
            Expr::BinaryOp { left, right, .. } => {
                pair(left, right);
                pair(right, left);
            }
            Expr::In {
                expr,
                target: InTarget::List(list),
                ..
            } => list.iter().for_each(|item| pair(expr, item)),
            Expr::Between {
                expr, low, high, ..
            } => {
                pair(expr, low);
                pair(expr, high);
            }
            Expr::Cast {
                expr, data_type, ..
            } => {
                if let (Some(i), Ok(t)) = (placeholder(expr), SqlType::from_ast(data_type)) {
                    let m = crate::sql::typmod::TypeMod::from_ast(data_type).unwrap_or_default();
                    out.entry(i).or_insert(encode::declared_pg_type(t, m));
                }
            }
            Expr::AnyOp { left, right, .. } | Expr::AllOp { left, right, .. } => {
                if let (Some(i), Some(t)) = (placeholder(right), of_column(left)) {
                    out.entry(i).or_insert(encode::array_type_of(&t));
                }
            }
            Expr::Like { pattern, .. } | Expr::ILike { pattern, .. } => {
                if let Some(i) = placeholder(pattern) {
                    out.entry(i).or_insert(Type::TEXT);
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });

    match s {
        pg::Statement::Insert(ins) => {
            if let (Some(t), Some(source)) = (tables.first(), &ins.source)
                && let SetExpr::Values(values) = source.body.as_ref()
            {
                let declared =
                    |c: &crate::sql::catalog::ColumnDesc| encode::declared_pg_type(c.ty, c.typmod);
                let targets: Vec<Type> = if ins.columns.is_empty() {
                    t.columns
                        .iter()
                        .filter(|c| !c.hidden)
                        .map(declared)
                        .collect()
                } else {
                    ins.columns
                        .iter()
                        .filter_map(|c| t.column(&exec::object_last(c)).map(declared))
                        .collect()
                };
                for row in &values.rows {
                    for (e, ty) in row.iter().zip(&targets) {
                        if let Some(i) = placeholder(e) {
                            out.entry(i).or_insert(ty.clone());
                        }
                    }
                }
            }
        }
        pg::Statement::Update(u) => {
            for a in &u.assignments {
                if let (AssignmentTarget::ColumnName(n), Some(i)) =
                    (&a.target, placeholder(&a.value))
                    && let Some(ty) = col_type(&exec::object_last(n))
                {
                    out.entry(i).or_insert(ty);
                }
            }
        }
        pg::Statement::Query(q) => {
            if let Some(LimitClause::LimitOffset { limit, offset, .. }) = &q.limit_clause {
                for e in limit.iter().chain(offset.iter().map(|o| &o.value)) {
                    if let Some(i) = placeholder(e) {
                        out.entry(i).or_insert(Type::INT8);
                    }
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_counted() {
        assert_eq!(placeholder_count("SELECT 1"), 0);
        assert_eq!(placeholder_count("INSERT INTO t VALUES ($1, $2)"), 2);
        assert_eq!(placeholder_count("SELECT $3, '$9'"), 3);
        assert_eq!(placeholder_count("SELECT $1 + $1"), 1);
    }
}
