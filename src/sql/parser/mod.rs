//! The SQL parser: `sqlparser`'s PostgreSQL dialect plus a thin wrapper for the CockroachDB
//! statements it cannot parse (virtual clusters, cluster settings, users and roles, system
//! privileges, fingerprints).
//!
//! [`parse`] tokenizes the input once with `sqlparser`, then walks it statement by statement: it
//! peeks at the first few tokens, parses tandem's own statements itself (with `sqlparser`'s token
//! API) and hands everything else to [`sqlparser::parser::Parser::parse_statement`], wrapped in
//! [`Statement::Pg`].
//!
//! Words are matched case-insensitively whether or not `sqlparser` knows them as keywords
//! (`CLUSTERS`, `VIRTUAL`, `SETTING`, ... are not all keywords). Names follow PostgreSQL: unquoted
//! names are lowercased, double-quoted names keep their case.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan};

mod checks;
pub mod limits;
mod locking;
mod statements;
mod tokens;

use tokens::*;

use super::ast::{
    AlterVirtualClusterAction, ReplicationSource, RoleOptions, SettingValue, Statement,
    SystemPrivilege,
};

/// A syntax error, or a statement too complex to parse (see [`limits`]).
///
/// The message reads like CockroachDB's: `at or near "x": syntax error: <detail>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// The whole message, `at or near "<token>": syntax error: <detail>`.
    pub message: String,
    /// 1-based character offset into the input of the offending token (PostgreSQL's
    /// ErrorResponse `P` field), if known. End-of-input errors point just past the last
    /// character.
    pub position: Option<usize>,
    /// The SQLSTATE: [`ParseError::SQLSTATE`], or [`limits::TOO_COMPLEX`].
    pub code: &'static str,
}

impl ParseError {
    /// The SQLSTATE of syntax errors: `42601` (syntax_error).
    pub const SQLSTATE: &'static str = "42601";

    /// The SQLSTATE code: `42601`, or `54001` for a statement too complex to parse.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// A syntax error without a position.
    fn syntax(message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
            position: None,
            code: Self::SQLSTATE,
        }
    }

    /// 54001: the statement is too complex (see [`limits`]).
    pub fn too_complex(e: limits::TooComplex) -> ParseError {
        ParseError {
            message: e.0,
            position: None,
            code: limits::TOO_COMPLEX,
        }
    }

    fn near(near: &str, detail: &str, position: Option<usize>) -> ParseError {
        let message = if detail.is_empty() {
            format!("at or near \"{near}\": syntax error")
        } else {
            format!("at or near \"{near}\": syntax error: {detail}")
        };
        ParseError {
            message,
            position,
            code: Self::SQLSTATE,
        }
    }

    /// An error about token `tok` of `sql`.
    fn at(sql: &str, tok: &TokenWithSpan, detail: &str) -> ParseError {
        let position = if tok.token == Token::EOF {
            Some(end_position(sql))
        } else {
            char_position(sql, tok.span.start)
        };
        ParseError::near(&tok.token.to_string(), detail, position)
    }

    /// Translates a `sqlparser` error (`Expected: X, found: Y at Line: 1, Column: 5`).
    fn from_sqlparser(sql: &str, err: ParserError) -> ParseError {
        let msg = match err {
            ParserError::TokenizerError(s) | ParserError::ParserError(s) => s,
            ParserError::RecursionLimitExceeded => {
                return ParseError::too_complex(limits::TooComplex(
                    "statement is too complex: it nests too deeply to parse".to_string(),
                ));
            }
        };
        let (body, location) = split_location(&msg);
        let mut position = location.and_then(|l| char_position(sql, l));
        let (near, detail) = match body
            .strip_prefix("Expected: ")
            .and_then(|rest| rest.rsplit_once(", found: "))
        {
            Some((expected, found)) => (found.to_string(), format!("expected {expected}")),
            None => (
                lexeme_at(sql, position),
                lower_first(body.trim_end_matches('.')),
            ),
        };
        if position.is_none() && near == "EOF" {
            position = Some(end_position(sql));
        }
        ParseError::near(&near, &detail, position)
    }
}

impl From<ParseError> for crate::sql::error::SqlError {
    fn from(e: ParseError) -> Self {
        crate::sql::error::SqlError::new(crate::sql::sqlstate::SqlState(e.code), e.message)
    }
}

/// Parses `sql` into its statements. Empty input, or input with only semicolons, gives an empty
/// `Vec`.
pub fn parse(sql: &str) -> Result<Vec<Statement>, ParseError> {
    if let Some((outer, shows)) = extract_show_sources(sql) {
        let mut stmts = parse(&outer)?;
        if stmts.len() != 1 {
            return Err(ParseError::syntax(
                "syntax error: [SHOW ...] sources apply to exactly one statement",
            ));
        }
        let mut sources = Vec::with_capacity(shows.len());
        for (name, text) in shows {
            let mut inner = parse(&text)?;
            let (1, Some(first)) = (inner.len(), inner.pop()) else {
                return Err(ParseError::syntax(format!(
                    "syntax error: [{text}] must hold one SHOW statement"
                )));
            };
            sources.push((name, first));
        }
        return Ok(vec![Statement::WithShowSources {
            sources,
            stmt: Box::new(stmts.remove(0)),
        }]);
    }
    if let Some((rest, time)) = strip_as_of_system_time(sql) {
        let mut stmts = parse_plain(&rest)?;
        if stmts.len() != 1 {
            return Err(ParseError::syntax(
                "syntax error: AS OF SYSTEM TIME applies to exactly one statement",
            ));
        }
        let stmt = stmts.remove(0);
        return Ok(vec![Statement::AsOfSystemTime {
            time,
            stmt: Box::new(stmt),
        }]);
    }
    parse_plain(sql)
}

/// Replaces each CockroachDB `[SHOW ...]` source in `sql` by a placeholder name
/// (`__show_<n>`), returning the rewritten text and the SHOW statements' texts. None when there
/// is none. `AS OF SYSTEM TIME` after a `[SHOW EXPERIMENTAL_FINGERPRINTS ...]` source belongs to
/// the fingerprint (it is moved inside).
fn extract_show_sources(sql: &str) -> Option<(String, Vec<(String, String)>)> {
    if !sql.contains('[') {
        return None;
    }
    let upper = sql.to_ascii_uppercase();
    if !upper.contains("SHOW") {
        return None;
    }
    let dialect = PostgreSqlDialect {};
    let tokens = sqlparser::tokenizer::Tokenizer::new(&dialect, sql)
        .tokenize()
        .ok()?;
    let mut out = String::with_capacity(sql.len());
    let mut shows: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let starts_show = matches!(tokens[i], Token::LBracket)
            && tokens[i + 1..]
                .iter()
                .find(|t| !matches!(t, Token::Whitespace(_)))
                .is_some_and(|t| is_word(t, "SHOW"));
        if !starts_show {
            out.push_str(&tokens[i].to_string());
            i += 1;
            continue;
        }
        let mut depth = 0;
        let mut j = i;
        let mut end = None;
        while j < tokens.len() {
            match tokens[j] {
                Token::LBracket => depth += 1,
                Token::RBracket => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        let end = end?;
        let inner: String = tokens[i + 1..end].iter().map(|t| t.to_string()).collect();
        let name = format!("__show_{}", shows.len());
        out.push_str(&name);
        shows.push((name, inner.trim().to_string()));
        i = end + 1;
    }
    if shows.is_empty() {
        return None;
    }
    // `... FROM [SHOW EXPERIMENTAL_FINGERPRINTS ...] AS OF SYSTEM TIME t`: the time is the
    // fingerprint's.
    if shows
        .iter()
        .any(|(_, t)| t.to_ascii_uppercase().contains("EXPERIMENTAL_FINGERPRINTS"))
        && let Some((rest, _)) = strip_as_of_system_time(&out)
        && let Some(pos) = out.to_ascii_uppercase().find("AS OF SYSTEM TIME")
    {
        let clause = out[pos..].trim_end().trim_end_matches(';').to_string();
        for (_, t) in shows.iter_mut() {
            if t.to_ascii_uppercase().contains("EXPERIMENTAL_FINGERPRINTS") {
                t.push(' ');
                t.push_str(&clause);
            }
        }
        out = rest;
    }
    Some((out, shows))
}

/// Removes CockroachDB's `AS OF SYSTEM TIME <value>` clause, returning the rest of the text and
/// the value (a string literal's contents, a number, or a function call's text).
fn strip_as_of_system_time(sql: &str) -> Option<(String, String)> {
    let upper = sql.to_ascii_uppercase();
    // SHOW EXPERIMENTAL_FINGERPRINTS parses its own AS OF SYSTEM TIME.
    if !upper.contains("SYSTEM") || upper.contains("EXPERIMENTAL_FINGERPRINTS") {
        return None;
    }
    let dialect = PostgreSqlDialect {};
    let tokens = sqlparser::tokenizer::Tokenizer::new(&dialect, sql)
        .tokenize()
        .ok()?;
    let sig: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t, Token::Whitespace(_)))
        .map(|(i, _)| i)
        .collect();
    for w in 0..sig.len().saturating_sub(4) {
        let words = ["AS", "OF", "SYSTEM", "TIME"];
        if (0..4).all(|k| is_word(&tokens[sig[w + k]], words[k])) {
            let start = sig[w];
            let vstart = sig[w + 4];
            // The value: one literal, or a function call `name(...)`.
            let mut end = vstart + 1;
            let time = match &tokens[vstart] {
                Token::SingleQuotedString(s) => s.clone(),
                Token::Number(n, _) => n.clone(),
                Token::Minus => match tokens.get(vstart + 1) {
                    Some(Token::Number(n, _)) => {
                        end = vstart + 2;
                        format!("-{n}")
                    }
                    _ => return None,
                },
                Token::Word(wd) => {
                    let mut depth = 0;
                    let mut text = wd.value.clone();
                    let mut i = vstart + 1;
                    while let Some(t) = tokens.get(i) {
                        match t {
                            Token::LParen => depth += 1,
                            Token::RParen => depth -= 1,
                            _ => {}
                        }
                        text.push_str(&t.to_string());
                        i += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    end = i;
                    text
                }
                _ => return None,
            };
            let rest: String = tokens[..start]
                .iter()
                .chain(tokens[end..].iter())
                .map(|t| t.to_string())
                .collect();
            return Some((rest, time));
        }
    }
    None
}

fn parse_plain(sql: &str) -> Result<Vec<Statement>, ParseError> {
    static DIALECT: PostgreSqlDialect = PostgreSqlDialect {};
    static GENERIC: sqlparser::dialect::GenericDialect = sqlparser::dialect::GenericDialect {};
    if has_inline_index(sql)
        && let Ok(v) = parse_with(sql, &GENERIC)
    {
        return Ok(v);
    }
    match parse_with(sql, &DIALECT) {
        Ok(v) => Ok(v),
        // CockroachDB's inline `INDEX name (cols)` in CREATE TABLE is not PostgreSQL syntax;
        // sqlparser's generic dialect accepts it (and is otherwise close enough for DDL).
        Err(e)
            if sql.to_ascii_uppercase().contains("INDEX")
                && sql.to_ascii_uppercase().contains("CREATE TABLE") =>
        {
            parse_with(sql, &GENERIC).map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

/// Whether a CREATE TABLE body holds CockroachDB's inline `INDEX name (...)` (which the
/// PostgreSQL dialect would take for a column named `index`).
fn has_inline_index(sql: &str) -> bool {
    let norm: String = sql
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    norm.contains("CREATE TABLE")
        && [
            ", INDEX ",
            ",INDEX ",
            "( INDEX ",
            ", UNIQUE INDEX ",
            ",UNIQUE INDEX ",
        ]
        .iter()
        .any(|p| norm.contains(p))
}

/// Tokenizes `sql`, checks the tokens against [`limits`], and parses them on a stack large
/// enough for what they can build (see [`limits::parse_stack_bytes`]).
fn parse_with(
    sql: &str,
    dialect: &dyn sqlparser::dialect::Dialect,
) -> Result<Vec<Statement>, ParseError> {
    let tokens = sqlparser::tokenizer::Tokenizer::new(dialect, sql)
        .with_unescape(true)
        .tokenize_with_location()
        .map_err(|e| ParseError::from_sqlparser(sql, e.into()))?;
    let tokens = locking::rewrite(tokens);
    let stats = limits::scan(&tokens).map_err(ParseError::too_complex)?;
    let stack = limits::parse_stack_bytes(stats);
    stacker::maybe_grow(stack, stack, || {
        let parser = Parser::new(dialect)
            .with_recursion_limit(limits::PARSER_RECURSION_LIMIT)
            .with_tokens_with_locations(tokens);
        parse_tokens(P { p: parser, sql })
    })
}

/// Parses every statement of `p`, rejecting any that nests deeper than [`limits::MAX_DEPTH`].
fn parse_tokens(mut p: P<'_>) -> Result<Vec<Statement>, ParseError> {
    let sql = p.sql;
    let mut out = Vec::new();
    loop {
        while p.p.consume_token(&Token::SemiColon) {}
        if p.peek(0) == &Token::EOF {
            break;
        }
        let mut stmt = match p.ours()? {
            Some(stmt) => stmt,
            // UPSERT INTO t ... is an INSERT that overwrites existing rows (marked replace_into).
            None if p.peek_is(0, "UPSERT") => {
                let tok = p.p.next_token();
                let mut st =
                    p.p.parse_insert(tok)
                        .map_err(|e| ParseError::from_sqlparser(sql, e))?;
                if let sqlparser::ast::Statement::Insert(ins) = &mut st {
                    ins.replace_into = true;
                }
                Statement::Pg(Box::new(st))
            }
            None => {
                let st =
                    p.p.parse_statement()
                        .map_err(|e| ParseError::from_sqlparser(sql, e))?;
                crate::sql::replication::builtin_statement(&st)
                    .unwrap_or_else(|| Statement::Pg(Box::new(st)))
            }
        };
        p.expect_end()?;
        check_depth(&stmt)?;
        if let Statement::Pg(s) = &mut stmt {
            checks::literal_positions(s);
            checks::check(s)?;
        }
        out.push(stmt);
    }
    Ok(out)
}

/// How deeply `stmt` nests, in [`limits`] units (at most [`limits::MAX_DEPTH`] + 1).
pub fn statement_depth(stmt: &Statement) -> usize {
    match stmt {
        Statement::Pg(s) => limits::depth(s.as_ref(), limits::MAX_DEPTH),
        Statement::AlterTableSplitAt { rows, .. } => limits::depth(rows, limits::MAX_DEPTH),
        Statement::ReplicationBuiltin { args, .. } => limits::depth(args, limits::MAX_DEPTH),
        Statement::AsOfSystemTime { stmt, .. } => statement_depth(stmt),
        Statement::WithShowSources { sources, stmt } => sources
            .iter()
            .map(|(_, s)| statement_depth(s))
            .fold(statement_depth(stmt), usize::max),
        _ => 0,
    }
}

/// 54001 when `stmt` nests deeper than [`limits::MAX_DEPTH`].
fn check_depth(stmt: &Statement) -> Result<(), ParseError> {
    let r = match stmt {
        Statement::Pg(s) => limits::check(s.as_ref()),
        Statement::AlterTableSplitAt { rows, .. } => limits::check(rows),
        Statement::ReplicationBuiltin { args, .. } => limits::check(args),
        _ => Ok(()),
    };
    r.map_err(ParseError::too_complex)
}

/// Parses exactly one statement (a trailing `;` is fine). Zero or several statements are an
/// error, as for PostgreSQL's prepared statements.
pub fn parse_one(sql: &str) -> Result<Statement, ParseError> {
    let mut stmts = parse(sql)?;
    match stmts.len() {
        1 => Ok(stmts.remove(0)),
        0 => Err(ParseError::near(
            "EOF",
            "expected a statement",
            Some(end_position(sql)),
        )),
        n => Err(ParseError::syntax(format!(
            "syntax error: expected exactly one statement, got {n}"
        ))),
    }
}

/// Splits `"... at Line: 3, Column: 7"` into the message and the location.
fn split_location(msg: &str) -> (&str, Option<Location>) {
    if let Some(i) = msg.rfind(" at Line: ") {
        let rest = &msg[i + " at Line: ".len()..];
        if let Some((line, col)) = rest.split_once(", Column: ")
            && let (Ok(line), Ok(column)) = (line.trim().parse(), col.trim().parse())
        {
            return (&msg[..i], Some(Location { line, column }));
        }
    }
    (msg, None)
}

/// Byte offset of a (1-based line, 1-based character column) location, counted the way
/// `sqlparser`'s tokenizer counts (only `\n` starts a line).
fn byte_offset(sql: &str, loc: Location) -> Option<usize> {
    if loc.line == 0 {
        return None;
    }
    let (mut line, mut col) = (1u64, 1u64);
    for (i, c) in sql.char_indices() {
        if line == loc.line && col == loc.column {
            return Some(i);
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line == loc.line && col == loc.column).then_some(sql.len())
}

/// 1-based character position of `loc`.
fn char_position(sql: &str, loc: Location) -> Option<usize> {
    byte_offset(sql, loc).map(|b| sql[..b].chars().count() + 1)
}

fn end_position(sql: &str) -> usize {
    sql.chars().count() + 1
}

/// The lexeme starting at 1-based character `position` (for errors without a token).
fn lexeme_at(sql: &str, position: Option<usize>) -> String {
    let Some(pos) = position else {
        return "EOF".to_string();
    };
    let rest: String = sql.chars().skip(pos.saturating_sub(1)).collect();
    let mut chars = rest.chars();
    let Some(first) = chars.next() else {
        return "EOF".to_string();
    };
    let lexeme: String = if first == '\'' || first == '"' {
        let mut s = String::from(first);
        for c in chars {
            s.push(c);
            if c == first {
                break;
            }
        }
        s
    } else if first.is_alphanumeric() || first == '_' {
        rest.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
            .collect()
    } else {
        first.to_string()
    };
    const MAX: usize = 64;
    if lexeme.chars().count() > MAX {
        lexeme.chars().take(MAX).collect::<String>() + "..."
    } else {
        lexeme
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Statement {
        let mut v = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(v.len(), 1, "{sql}: {v:?}");
        v.remove(0)
    }

    fn err(sql: &str) -> ParseError {
        match parse(sql) {
            Ok(v) => panic!("{sql}: expected an error, got {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn empty_input() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse(" ;; ; ").unwrap().is_empty());
        assert!(parse("-- just a comment\n").unwrap().is_empty());
    }

    #[test]
    fn word_helpers() {
        assert!(is_reserved("with"));
        assert!(!is_reserved("system"));
        assert_eq!(lower_first("Unterminated"), "unterminated");
        assert_eq!(
            split_location("Expected: x, found: y at Line: 2, Column: 7"),
            (
                "Expected: x, found: y",
                Some(Location { line: 2, column: 7 })
            )
        );
        assert_eq!(split_location("nothing"), ("nothing", None));
    }

    #[test]
    fn positions() {
        let sql = "ab\ncdé f";
        assert_eq!(byte_offset(sql, Location { line: 1, column: 1 }), Some(0));
        assert_eq!(byte_offset(sql, Location { line: 2, column: 1 }), Some(3));
        assert_eq!(byte_offset(sql, Location { line: 2, column: 5 }), Some(8));
        assert_eq!(char_position(sql, Location { line: 2, column: 5 }), Some(8));
        assert_eq!(byte_offset(sql, Location { line: 0, column: 0 }), None);
        assert_eq!(lexeme_at("select 'abc", Some(8)), "'abc");
        assert_eq!(lexeme_at("select foo bar", Some(8)), "foo");
        assert_eq!(lexeme_at("x", Some(5)), "EOF");
    }

    #[test]
    fn show_virtual_clusters() {
        assert_eq!(
            one("SHOW VIRTUAL CLUSTERS"),
            Statement::ShowVirtualClusters {
                name: None,
                with_replication_status: false,
                with_prior_replication_details: false,
            }
        );
        assert_eq!(
            one("show virtual cluster Main with replication status"),
            Statement::ShowVirtualClusters {
                name: Some("main".into()),
                with_replication_status: true,
                with_prior_replication_details: false,
            }
        );
    }

    #[test]
    fn set_cluster_setting_values() {
        let v = |sql: &str| match one(sql) {
            Statement::SetClusterSetting { value, .. } => value,
            s => panic!("{s:?}"),
        };
        assert_eq!(
            v("SET CLUSTER SETTING a.b = -5"),
            Some(SettingValue::Number("-5".into()))
        );
        assert_eq!(v("SET CLUSTER SETTING a.b TO DEFAULT"), None);
        assert_eq!(
            v("SET CLUSTER SETTING a.b = 'x'"),
            Some(SettingValue::String("x".into()))
        );
        assert_eq!(
            v("SET CLUSTER SETTING a.b = FALSE"),
            Some(SettingValue::Bool(false))
        );
    }

    #[test]
    fn pg_fallthrough() {
        assert!(matches!(one("SELECT 1"), Statement::Pg(_)));
        assert!(matches!(one("GRANT SELECT ON t TO u"), Statement::Pg(_)));
        assert!(matches!(
            one("SET application_name = 'x'"),
            Statement::Pg(_)
        ));
    }

    #[test]
    fn errors_have_positions() {
        let e = err("SHOW VIRTUAL CLUSTERS junk");
        assert_eq!(
            e.message,
            "at or near \"junk\": syntax error: expected ; or end of input"
        );
        assert_eq!(e.position, Some(23));
        assert_eq!(e.code(), "42601");
        let e = err("CREATE VIRTUAL CLUSTER");
        assert_eq!(
            e.message,
            "at or near \"EOF\": syntax error: expected virtual cluster name"
        );
        assert_eq!(e.position, Some(23));
    }

    #[test]
    fn parse_one_counts() {
        assert!(parse_one("SELECT 1;").is_ok());
        assert!(parse_one("").is_err());
        assert!(parse_one("SELECT 1; SELECT 2").is_err());
    }
}
