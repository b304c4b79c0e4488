//! Column references: how a name in an expression finds its column in a row's names
//! (`column` or `table.column`, positional names of `*` expansions, hidden columns), and
//! PostgreSQL's identifier case folding.

use super::*;

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
