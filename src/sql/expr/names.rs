//! Column references: how a name in an expression finds its column in a row's names
//! (`column` or `table.column`, positional names of `*` expansions, hidden columns), and
//! PostgreSQL's identifier case folding.

use super::*;
use std::ops::ControlFlow;

/// The column name an identifier refers to (its last part), case-folded.
pub(super) fn ident_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(normalize(&i.value, i.quote_style.is_some())),
        Expr::CompoundIdentifier(parts) => parts
            .last()
            .map(|i| normalize(&i.value, i.quote_style.is_some())),
        _ => None,
    }
}

/// Prefix of a synthetic identifier naming a column by position (`*` expansions, where names
/// may repeat).
pub const POSITIONAL: &str = "\u{1}#";

/// Prefix of scope names of hidden columns (see `query::Relation::scope_names`).
pub const HIDDEN: &str = "\u{3}";

/// Whether a bare column name matches columns of more than one table in `names`.
pub fn is_ambiguous(names: &[String], e: &Expr) -> Option<String> {
    let Expr::Identifier(i) = e else { return None };
    if i.value.starts_with(POSITIONAL) {
        return None;
    }
    let n = normalize(&i.value, i.quote_style.is_some());
    if names.contains(&n) {
        return None;
    }
    let tables: std::collections::BTreeSet<&str> = names
        .iter()
        .filter(|x| !x.starts_with(HIDDEN))
        .filter_map(|x| x.rsplit_once('.').filter(|(_, c)| *c == n).map(|(t, _)| t))
        .collect();
    (tables.len() > 1).then_some(n)
}

/// The keyword-like functions written without parentheses, which a name that is no column
/// evaluates to.
pub(super) enum Keyword {
    /// `current_user`, `session_user`, `user`.
    User,
    /// `current_database`.
    Database,
    /// `current_timestamp`, `now`.
    Now,
    /// `current_date`.
    Date,
}

/// The keyword-like function `name` (case-folded) stands for, if any.
pub(super) fn keyword(name: &str) -> Option<Keyword> {
    match name {
        "current_user" | "session_user" | "user" => Some(Keyword::User),
        "current_database" => Some(Keyword::Database),
        "current_timestamp" | "now" => Some(Keyword::Now),
        "current_date" => Some(Keyword::Date),
        _ => None,
    }
}

/// 42702 for a bare name that matches columns of several tables.
pub(super) fn ambiguous_column(name: &str) -> SqlError {
    SqlError::new(
        SqlState("42702"),
        format!("column reference \"{name}\" is ambiguous"),
    )
}

/// 42703 for a column name no scope has.
pub(super) fn undefined_column(name: &str) -> SqlError {
    SqlError::new(
        SqlState::UNDEFINED_COLUMN,
        format!("column \"{name}\" does not exist"),
    )
}

/// Why column reference `e` does not resolve in `names` (42702 when a bare name matches
/// columns of several tables, 42703 when it matches none and is no keyword-like function);
/// `None` when it resolves.
pub(super) fn unresolved(e: &Expr, names: &[String]) -> Option<SqlError> {
    if let Some(n) = is_ambiguous(names, e) {
        return Some(ambiguous_column(&n));
    }
    if lookup(names, e).is_some() {
        return None;
    }
    if let Expr::CompoundIdentifier(parts) = e
        && parts.len() >= 2
    {
        let t = &parts[parts.len() - 2];
        let prefix = normalize(&t.value, t.quote_style.is_some());
        let known = names.iter().any(|x| {
            let x = x.strip_prefix(HIDDEN).unwrap_or(x);
            x.rsplit_once('.').is_some_and(|(t, _)| t == prefix)
        });
        if !known {
            return Some(SqlError::new(
                SqlState::UNDEFINED_TABLE,
                format!("{NO_DATA_SOURCE}{prefix} in this context"),
            ));
        }
    }
    let name = ident_name(e).unwrap_or_default();
    keyword(&name).is_none().then(|| undefined_column(&name))
}

/// How [`unresolved`] starts the 42P01 of a qualified name whose table is not in scope (as
/// CockroachDB words it): in a subquery, the mark of a reference to an enclosing query.
pub const NO_DATA_SOURCE: &str = "no data source matches prefix: ";

/// Checks, before any row exists, that every column reference of `e` outside its subqueries
/// resolves in `names`: the error evaluation would raise on the first row (an expression over
/// no rows, such as the ON condition of a join with an empty side, is still refused when it
/// names a column that is not there, as CockroachDB resolves names before running anything).
/// A reference to an enclosing query's column fails here as it would on a row, which is how a
/// subquery is found to be correlated (see `query::subquery`).
pub fn check_references(e: &Expr, names: &[String]) -> Result<()> {
    struct Check<'n> {
        names: &'n [String],
        depth: usize,
    }
    impl sqlparser::ast::Visitor for Check<'_> {
        type Break = SqlError;
        fn pre_visit_query(&mut self, _q: &sqlparser::ast::Query) -> ControlFlow<SqlError> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &sqlparser::ast::Query) -> ControlFlow<SqlError> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<SqlError> {
            if self.depth == 0
                && matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
                && let Some(err) = unresolved(e, self.names)
            {
                return ControlFlow::Break(err);
            }
            ControlFlow::Continue(())
        }
    }
    match sqlparser::ast::Visit::visit(e, &mut Check { names, depth: 0 }) {
        ControlFlow::Break(err) => Err(err),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Finds the column a reference names: names in `names` are `column` or `table.column`; a
/// bare reference matches either form by column, a qualified one matches `table.column`.
pub fn lookup(names: &[String], e: &Expr) -> Option<usize> {
    let plain = |x: &String| {
        x.strip_prefix(HIDDEN)
            .map(str::to_string)
            .unwrap_or_else(|| x.clone())
    };
    match e {
        Expr::Identifier(i) => {
            if let Some(pos) = i.value.strip_prefix(POSITIONAL) {
                return pos.parse::<usize>().ok().filter(|p| *p < names.len());
            }
            let n = normalize(&i.value, i.quote_style.is_some());
            names
                .iter()
                .position(|x| *x == n)
                .or_else(|| {
                    names.iter().position(|x| {
                        !x.starts_with(HIDDEN) && x.rsplit_once('.').is_some_and(|(_, c)| c == n)
                    })
                })
                .or_else(|| {
                    names
                        .iter()
                        .position(|x| x.rsplit_once('.').is_some_and(|(_, c)| c == n))
                })
        }
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let full = qualified_name(parts);
            let c = &parts[parts.len() - 1];
            let bare = normalize(&c.value, c.quote_style.is_some());
            names
                .iter()
                .position(|x| plain(x) == full)
                .or_else(|| names.iter().position(|x| !x.contains('.') && *x == bare))
        }
        Expr::CompoundIdentifier(parts) => parts
            .first()
            .and_then(|i| lookup(names, &Expr::Identifier(i.clone()))),
        _ => None,
    }
}

/// `table.column` of a qualified reference (its last two parts, normalized); `parts` has at
/// least two.
pub fn qualified_name(parts: &[sqlparser::ast::Ident]) -> String {
    let part = |i: &sqlparser::ast::Ident| normalize(&i.value, i.quote_style.is_some());
    match parts {
        [.., t, c] => format!("{}.{}", part(t), part(c)),
        [c] => part(c),
        [] => String::new(),
    }
}

/// Lowercases unquoted identifiers like PostgreSQL.
pub fn normalize(s: &str, quoted: bool) -> String {
    if quoted {
        s.to_string()
    } else {
        s.to_lowercase()
    }
}
