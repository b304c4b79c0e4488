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

use super::ast::{
    AlterVirtualClusterAction, ReplicationSource, RoleOptions, SettingValue, Statement,
    SystemPrivilege,
};

/// A syntax error.
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
}

impl ParseError {
    /// The SQLSTATE of every parse error: `42601` (syntax_error).
    pub const SQLSTATE: &'static str = "42601";

    /// The SQLSTATE code, `42601`.
    pub fn code(&self) -> &'static str {
        Self::SQLSTATE
    }

    fn near(near: &str, detail: &str, position: Option<usize>) -> ParseError {
        let message = if detail.is_empty() {
            format!("at or near \"{near}\": syntax error")
        } else {
            format!("at or near \"{near}\": syntax error: {detail}")
        };
        ParseError { message, position }
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
                return ParseError {
                    message: "syntax error: statement is too deeply nested".to_string(),
                    position: None,
                };
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

/// Parses `sql` into its statements. Empty input, or input with only semicolons, gives an empty
/// `Vec`.
pub fn parse(sql: &str) -> Result<Vec<Statement>, ParseError> {
    if let Some((rest, time)) = strip_as_of_system_time(sql) {
        let mut stmts = parse_plain(&rest)?;
        if stmts.len() != 1 {
            return Err(ParseError {
                message: "syntax error: AS OF SYSTEM TIME applies to exactly one statement".into(),
                position: None,
            });
        }
        let stmt = stmts.remove(0);
        return Ok(vec![Statement::AsOfSystemTime {
            time,
            stmt: Box::new(stmt),
        }]);
    }
    parse_plain(sql)
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

fn parse_with(
    sql: &str,
    dialect: &dyn sqlparser::dialect::Dialect,
) -> Result<Vec<Statement>, ParseError> {
    let parser = Parser::new(dialect)
        .try_with_sql(sql)
        .map_err(|e| ParseError::from_sqlparser(sql, e))?;
    let mut p = P { p: parser, sql };
    let mut out = Vec::new();
    loop {
        while p.p.consume_token(&Token::SemiColon) {}
        if p.peek(0) == &Token::EOF {
            break;
        }
        let stmt = match p.ours()? {
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
            None => Statement::Pg(Box::new(
                p.p.parse_statement()
                    .map_err(|e| ParseError::from_sqlparser(sql, e))?,
            )),
        };
        p.expect_end()?;
        out.push(stmt);
    }
    Ok(out)
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
        n => Err(ParseError {
            message: format!("syntax error: expected exactly one statement, got {n}"),
            position: None,
        }),
    }
}

/// The wrapper parser: `sqlparser`'s parser plus the input text (for error positions and raw
/// expression text).
struct P<'a> {
    p: Parser<'a>,
    sql: &'a str,
}

type R<T> = Result<T, ParseError>;

/// Whether `t` is the unquoted word `w` (case-insensitive), keyword or not.
fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
}

impl<'a> P<'a> {
    // ---- token helpers -------------------------------------------------------------------

    fn peek(&self, n: usize) -> &Token {
        &self.p.peek_nth_token_ref(n).token
    }

    fn peek_is(&self, n: usize, w: &str) -> bool {
        is_word(self.peek(n), w)
    }

    /// Whether the next tokens are exactly the words `ws`.
    fn peek_seq(&self, ws: &[&str]) -> bool {
        ws.iter().enumerate().all(|(i, w)| self.peek_is(i, w))
    }

    fn advance(&mut self, n: usize) {
        for _ in 0..n {
            self.p.advance_token();
        }
    }

    /// Consumes the word `w` if it is next.
    fn eat(&mut self, w: &str) -> bool {
        let yes = self.peek_is(0, w);
        if yes {
            self.p.advance_token();
        }
        yes
    }

    /// Consumes the words `ws` if they are all next; otherwise consumes nothing.
    fn eat_seq(&mut self, ws: &[&str]) -> bool {
        let yes = self.peek_seq(ws);
        if yes {
            self.advance(ws.len());
        }
        yes
    }

    fn expect(&mut self, w: &str) -> R<()> {
        if self.eat(w) {
            Ok(())
        } else {
            Err(self.err_next(&format!("expected {w}")))
        }
    }

    fn expect_seq(&mut self, ws: &[&str]) -> R<()> {
        for w in ws {
            self.expect(w)?;
        }
        Ok(())
    }

    /// An error about the next token.
    fn err_next(&self, detail: &str) -> ParseError {
        ParseError::at(self.sql, self.p.peek_token_ref(), detail)
    }

    fn at_end(&self) -> bool {
        matches!(self.peek(0), Token::SemiColon | Token::EOF)
    }

    /// Requires the end of the statement: `;` or the end of the input.
    fn expect_end(&self) -> R<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.err_next("expected ; or end of input"))
        }
    }

    /// A name: a double-quoted identifier (case kept) or an unquoted, non-reserved word
    /// (lowercased).
    fn name(&mut self, what: &str) -> R<String> {
        let tok = self.p.peek_token_ref();
        let name = match &tok.token {
            Token::Word(w) if w.quote_style.is_some() => {
                if w.value.is_empty() {
                    return Err(ParseError::at(
                        self.sql,
                        tok,
                        "zero-length delimited identifier",
                    ));
                }
                w.value.clone()
            }
            Token::Word(w) if !is_reserved(&w.value) => w.value.to_lowercase(),
            _ => return Err(ParseError::at(self.sql, tok, &format!("expected {what}"))),
        };
        self.p.advance_token();
        Ok(name)
    }

    /// `name [, name]...`
    fn name_list(&mut self, what: &str) -> R<Vec<String>> {
        let mut names = vec![self.name(what)?];
        while self.p.consume_token(&Token::Comma) {
            names.push(self.name(what)?);
        }
        Ok(names)
    }

    /// A dotted name whose parts may be any word (setting names): lowercased unless quoted.
    fn dotted_name(&mut self, what: &str) -> R<String> {
        let mut parts = Vec::new();
        loop {
            let tok = self.p.peek_token_ref();
            match &tok.token {
                Token::Word(w) if w.quote_style.is_some() && !w.value.is_empty() => {
                    parts.push(w.value.clone())
                }
                Token::Word(w) if w.quote_style.is_none() => parts.push(w.value.to_lowercase()),
                _ => return Err(ParseError::at(self.sql, tok, &format!("expected {what}"))),
            }
            self.p.advance_token();
            if !self.p.consume_token(&Token::Period) {
                return Ok(parts.join("."));
            }
        }
    }

    /// A string literal's contents.
    fn string(&mut self, what: &str) -> R<String> {
        let tok = self.p.peek_token_ref();
        let s = match &tok.token {
            Token::SingleQuotedString(s)
            | Token::EscapedStringLiteral(s)
            | Token::NationalStringLiteral(s)
            | Token::UnicodeStringLiteral(s) => s.clone(),
            Token::DollarQuotedString(d) => d.value.clone(),
            _ => {
                return Err(ParseError::at(
                    self.sql,
                    tok,
                    &format!("expected {what} (a string literal)"),
                ));
            }
        };
        self.p.advance_token();
        Ok(s)
    }

    fn is_string(t: &Token) -> bool {
        matches!(
            t,
            Token::SingleQuotedString(_)
                | Token::EscapedStringLiteral(_)
                | Token::NationalStringLiteral(_)
                | Token::UnicodeStringLiteral(_)
                | Token::DollarQuotedString(_)
        )
    }

    /// Byte offset of `loc` in the input (end of input for an empty location).
    fn offset(&self, loc: Location) -> usize {
        byte_offset(self.sql, loc).unwrap_or(self.sql.len())
    }

    // ---- dispatch --------------------------------------------------------------------------

    /// Parses one of tandem's own statements if the next tokens start one; `None` (nothing
    /// consumed) for everything `sqlparser` should handle.
    fn ours(&mut self) -> R<Option<Statement>> {
        // `VIRTUAL ...` / `TENANT` at token n: claimed, then `vc_words` requires `CLUSTER`.
        let vc = |p: &Self, n: usize| p.peek_is(n, "VIRTUAL") || p.peek_is(n, "TENANT");
        let user = |p: &Self, n: usize| p.peek_is(n, "USER") || p.peek_is(n, "ROLE");
        if self.peek_is(0, "SHOW")
            && (self.peek_is(1, "INDEXES") || self.peek_is(1, "INDEX") || self.peek_is(1, "KEYS"))
            && self.peek_is(2, "FROM")
        {
            self.advance(3);
            let table = self
                .p
                .parse_object_name(false)
                .map_err(|e| ParseError::from_sqlparser(self.sql, e))?;
            return Ok(Some(Statement::ShowIndexes { table }));
        }
        if self.peek_is(0, "ALTER") && self.peek_is(1, "TABLE") {
            // ALTER TABLE <name> SPLIT AT VALUES ... / SCATTER ...: find the word after the name.
            let mut n = 2;
            while matches!(self.peek(n), Token::Word(_) | Token::Period) {
                n += 1;
                if self.peek_is(n, "SPLIT") || self.peek_is(n, "SCATTER") {
                    break;
                }
            }
            if self.peek_is(n, "SPLIT") && self.peek_is(n + 1, "AT") {
                self.advance(2);
                let table = self
                    .p
                    .parse_object_name(false)
                    .map_err(|e| ParseError::from_sqlparser(self.sql, e))?;
                self.advance(2);
                let q = self
                    .p
                    .parse_query()
                    .map_err(|e| ParseError::from_sqlparser(self.sql, e))?;
                let sqlparser::ast::SetExpr::Values(v) = *q.body else {
                    return Err(self.err_next("expected VALUES after SPLIT AT"));
                };
                return Ok(Some(Statement::AlterTableSplitAt {
                    table,
                    rows: v.rows.into_iter().map(|r| r.to_vec()).collect(),
                }));
            }
            if self.peek_is(n, "SCATTER") {
                self.advance(2);
                let table = self
                    .p
                    .parse_object_name(false)
                    .map_err(|e| ParseError::from_sqlparser(self.sql, e))?;
                self.advance(1);
                // Skip an optional FROM (...) TO (...).
                while !matches!(self.peek(0), Token::SemiColon | Token::EOF) {
                    self.p.advance_token();
                }
                return Ok(Some(Statement::AlterTableScatter { table }));
            }
        }
        let stmt = if self.peek_is(0, "SHOW") {
            if self.peek_seq(&["SHOW", "VIRTUAL", "CLUSTERS"]) {
                self.advance(3);
                self.show_virtual_clusters(true)?
            } else if self.peek_seq(&["SHOW", "TENANTS"]) {
                self.advance(2);
                self.show_virtual_clusters(true)?
            } else if vc(self, 1) {
                self.advance(1);
                self.vc_words()?;
                self.show_virtual_clusters(false)?
            } else if self.peek_is(1, "CLUSTER") {
                self.advance(2);
                if self.eat("SETTING") {
                    let name = self.dotted_name("cluster setting name")?;
                    Statement::ShowClusterSetting { name }
                } else if self.eat("SETTINGS") {
                    Statement::ShowClusterSettings { all: false }
                } else {
                    return Err(self.err_next("expected SETTING or SETTINGS"));
                }
            } else if self.peek_seq(&["SHOW", "ALL", "CLUSTER", "SETTINGS"]) {
                self.advance(4);
                Statement::ShowClusterSettings { all: true }
            } else if self.peek_seq(&["SHOW", "PUBLIC", "CLUSTER", "SETTINGS"]) {
                self.advance(4);
                Statement::ShowClusterSettings { all: false }
            } else if self.peek_is(1, "USERS") || self.peek_is(1, "ROLES") {
                self.advance(2);
                Statement::ShowUsers
            } else if self.peek_is(1, "SYSTEM") {
                self.advance(2);
                self.expect("GRANTS")?;
                let users = if self.eat("FOR") {
                    Some(self.name_list("user name")?)
                } else {
                    None
                };
                Statement::ShowSystemGrants { users }
            } else if self.peek_is(1, "DATABASES") {
                self.advance(2);
                Statement::ShowDatabases
            } else if self.peek_is(1, "TABLES") {
                self.advance(2);
                let database = if self.eat("FROM") {
                    let mut parts = vec![self.name("database name")?];
                    if self.p.consume_token(&Token::Period) {
                        parts.push(self.name("schema name")?);
                    }
                    Some(parts.join("."))
                } else {
                    None
                };
                Statement::ShowTables { database }
            } else if self.peek_is(1, "EXPERIMENTAL_FINGERPRINTS") {
                self.advance(2);
                self.show_fingerprints()?
            } else {
                return Ok(None);
            }
        } else if self.peek_is(0, "CREATE") {
            if vc(self, 1) {
                self.advance(1);
                self.vc_words()?;
                self.create_virtual_cluster()?
            } else if user(self, 1) {
                let is_role = self.peek_is(1, "ROLE");
                self.advance(2);
                let if_not_exists = self.eat_seq(&["IF", "NOT", "EXISTS"]);
                let name = self.name(if is_role { "role name" } else { "user name" })?;
                let options = self.role_options(false)?;
                Statement::CreateUser {
                    name,
                    if_not_exists,
                    options,
                    is_role,
                }
            } else {
                return Ok(None);
            }
        } else if self.peek_is(0, "ALTER") {
            if vc(self, 1) {
                self.advance(1);
                self.vc_words()?;
                let name = self.name("virtual cluster name")?;
                let action = self.alter_virtual_cluster_action()?;
                Statement::AlterVirtualCluster { name, action }
            } else if user(self, 1) {
                // ALTER USER x RENAME TO / SET / RESET and ALTER ROLE ALL ... are PostgreSQL's.
                let name_at = if self.peek_is(2, "IF") && self.peek_is(3, "EXISTS") {
                    4
                } else {
                    2
                };
                if self.peek_is(name_at, "ALL")
                    || ["RENAME", "SET", "RESET"]
                        .iter()
                        .any(|w| self.peek_is(name_at + 1, w))
                {
                    return Ok(None);
                }
                let what = if self.peek_is(1, "ROLE") {
                    "role name"
                } else {
                    "user name"
                };
                self.advance(2);
                let if_exists = self.eat_seq(&["IF", "EXISTS"]);
                let name = self.name(what)?;
                let options = self.role_options(true)?;
                Statement::AlterUser {
                    name,
                    if_exists,
                    options,
                }
            } else {
                return Ok(None);
            }
        } else if self.peek_is(0, "DROP") {
            if vc(self, 1) {
                self.advance(1);
                self.vc_words()?;
                let if_exists = self.eat_seq(&["IF", "EXISTS"]);
                let name = self.name("virtual cluster name")?;
                let immediate = self.eat("IMMEDIATE");
                Statement::DropVirtualCluster {
                    name,
                    if_exists,
                    immediate,
                }
            } else if user(self, 1) {
                let what = if self.peek_is(1, "ROLE") {
                    "role name"
                } else {
                    "user name"
                };
                self.advance(2);
                let if_exists = self.eat_seq(&["IF", "EXISTS"]);
                let names = self.name_list(what)?;
                Statement::DropUser { names, if_exists }
            } else {
                return Ok(None);
            }
        } else if self.peek_seq(&["SET", "CLUSTER", "SETTING"]) {
            self.advance(3);
            let name = self.dotted_name("cluster setting name")?;
            if !self.p.consume_token(&Token::Eq) && !self.eat("TO") {
                return Err(self.err_next("expected = or TO"));
            }
            let value = self.setting_value()?;
            Statement::SetClusterSetting { name, value }
        } else if self.peek_seq(&["RESET", "CLUSTER", "SETTING"]) {
            self.advance(3);
            let name = self.dotted_name("cluster setting name")?;
            Statement::SetClusterSetting { name, value: None }
        } else if self.peek_is(0, "GRANT") {
            if self.peek_is(1, "SYSTEM") {
                self.advance(2);
                let privileges = self.system_privileges()?;
                self.expect("TO")?;
                let grantees = self.name_list("user name")?;
                Statement::GrantSystem {
                    privileges,
                    grantees,
                }
            } else if self.role_form("TO") {
                self.advance(1);
                let roles = self.name_list("role name")?;
                self.expect("TO")?;
                let members = self.name_list("user name")?;
                let with_admin = self.eat_seq(&["WITH", "ADMIN", "OPTION"]);
                Statement::GrantRole {
                    roles,
                    members,
                    with_admin,
                }
            } else {
                return Ok(None);
            }
        } else if self.peek_is(0, "REVOKE") {
            if self.peek_is(1, "SYSTEM") {
                self.advance(2);
                let privileges = self.system_privileges()?;
                self.expect("FROM")?;
                let grantees = self.name_list("user name")?;
                Statement::RevokeSystem {
                    privileges,
                    grantees,
                }
            } else if !self.peek_seq(&["REVOKE", "ADMIN", "OPTION"]) && self.role_form("FROM") {
                self.advance(1);
                let roles = self.name_list("role name")?;
                self.expect("FROM")?;
                let members = self.name_list("user name")?;
                Statement::RevokeRole { roles, members }
            } else {
                return Ok(None);
            }
        } else {
            return Ok(None);
        };
        Ok(Some(stmt))
    }

    /// For `GRANT`/`REVOKE`: whether this is the role-membership form, i.e. no `ON` before the
    /// `TO`/`FROM` (`GRANT SELECT ON t TO u` is an object privilege grant for sqlparser).
    fn role_form(&self, to: &str) -> bool {
        let mut i = 1;
        loop {
            match self.peek(i) {
                Token::SemiColon | Token::EOF => return false,
                t if is_word(t, "ON") => return false,
                t if is_word(t, to) => return i > 1,
                _ => i += 1,
            }
        }
    }

    // ---- virtual clusters ------------------------------------------------------------------

    /// `VIRTUAL CLUSTER` or `TENANT`.
    fn vc_words(&mut self) -> R<()> {
        if self.eat("VIRTUAL") {
            self.expect("CLUSTER")
        } else if self.eat("TENANT") {
            Ok(())
        } else {
            Err(self.err_next("expected VIRTUAL CLUSTER"))
        }
    }

    /// After `SHOW VIRTUAL CLUSTERS` (`plural`) or `SHOW VIRTUAL CLUSTER`.
    fn show_virtual_clusters(&mut self, plural: bool) -> R<Statement> {
        let name = if plural || self.eat("ALL") {
            None
        } else {
            Some(self.name("virtual cluster name")?)
        };
        let mut with_replication_status = false;
        let mut with_prior_replication_details = false;
        if self.eat("WITH") {
            loop {
                if self.eat("REPLICATION") {
                    self.expect("STATUS")?;
                    with_replication_status = true;
                } else if self.eat("PRIOR") {
                    self.expect_seq(&["REPLICATION", "DETAILS"])?;
                    with_prior_replication_details = true;
                } else {
                    return Err(
                        self.err_next("expected REPLICATION STATUS or PRIOR REPLICATION DETAILS")
                    );
                }
                if !self.p.consume_token(&Token::Comma) {
                    break;
                }
            }
        }
        Ok(Statement::ShowVirtualClusters {
            name,
            with_replication_status,
            with_prior_replication_details,
        })
    }

    /// After `CREATE VIRTUAL CLUSTER`.
    fn create_virtual_cluster(&mut self) -> R<Statement> {
        let if_not_exists = self.eat_seq(&["IF", "NOT", "EXISTS"]);
        let name = self.name("virtual cluster name")?;
        let like = if self.eat("LIKE") {
            Some(self.name("template virtual cluster name")?)
        } else {
            None
        };
        let replication = if self.eat("FROM") {
            self.expect_seq(&["REPLICATION", "OF"])?;
            let source = self.name("source virtual cluster name")?;
            self.expect("ON")?;
            let uri = self.string("source cluster URI")?;
            let mut retention = None;
            if self.eat("WITH") {
                loop {
                    if self.peek_is(0, "RETENTION") {
                        if retention.is_some() {
                            return Err(self.err_next("RETENTION given twice"));
                        }
                        self.advance(1);
                        let _ = self.p.consume_token(&Token::Eq);
                        retention = Some(self.string("retention interval")?);
                    } else {
                        return Err(self.err_next("expected replication option RETENTION"));
                    }
                    if !self.p.consume_token(&Token::Comma) {
                        break;
                    }
                }
            }
            Some(ReplicationSource {
                source,
                uri,
                retention,
            })
        } else {
            None
        };
        Ok(Statement::CreateVirtualCluster {
            name,
            if_not_exists,
            like,
            replication,
        })
    }

    /// After `ALTER VIRTUAL CLUSTER x`.
    fn alter_virtual_cluster_action(&mut self) -> R<AlterVirtualClusterAction> {
        use AlterVirtualClusterAction as A;
        Ok(if self.eat("START") {
            self.expect_seq(&["SERVICE", "SHARED"])?;
            A::StartServiceShared
        } else if self.eat("STOP") {
            self.expect("SERVICE")?;
            A::StopService
        } else if self.eat("RENAME") {
            self.expect("TO")?;
            A::RenameTo(self.name("new virtual cluster name")?)
        } else if self.eat("PAUSE") {
            self.expect("REPLICATION")?;
            A::PauseReplication
        } else if self.eat("RESUME") {
            self.expect("REPLICATION")?;
            A::ResumeReplication
        } else if self.eat("SET") {
            self.expect_seq(&["REPLICATION", "RETENTION"])?;
            let _ = self.p.consume_token(&Token::Eq);
            A::SetReplicationRetention(self.string("retention interval")?)
        } else if self.eat("COMPLETE") {
            self.expect_seq(&["REPLICATION", "TO"])?;
            if self.eat("LATEST") {
                A::CompleteReplicationToLatest
            } else if self.eat("SYSTEM") {
                self.expect("TIME")?;
                let ts = match self.peek(0) {
                    Token::Number(n, _) => {
                        let n = n.clone();
                        self.advance(1);
                        n
                    }
                    _ => self.string("timestamp")?,
                };
                A::CompleteReplicationToSystemTime(ts)
            } else {
                return Err(self.err_next("expected LATEST or SYSTEM TIME"));
            }
        } else {
            return Err(self.err_next(
                "expected START SERVICE SHARED, STOP SERVICE, RENAME TO, PAUSE REPLICATION, \
                 RESUME REPLICATION, SET REPLICATION RETENTION or COMPLETE REPLICATION",
            ));
        })
    }

    /// After `SHOW EXPERIMENTAL_FINGERPRINTS`.
    fn show_fingerprints(&mut self) -> R<Statement> {
        self.expect("FROM")?;
        self.vc_words()?;
        let name = self.name("virtual cluster name")?;
        let as_of = if self.eat("AS") {
            self.expect_seq(&["OF", "SYSTEM", "TIME"])?;
            if Self::is_string(self.peek(0))
                && matches!(self.peek(1), Token::SemiColon | Token::EOF)
            {
                Some(self.string("timestamp")?)
            } else {
                let start_tok = self.p.peek_token_ref();
                if matches!(start_tok.token, Token::SemiColon | Token::EOF) {
                    return Err(self.err_next("expected a timestamp expression"));
                }
                let start = self.offset(start_tok.span.start);
                self.p
                    .parse_expr()
                    .map_err(|e| ParseError::from_sqlparser(self.sql, e))?;
                let next = self.p.peek_token_ref();
                let end = if next.token == Token::EOF {
                    self.sql.len()
                } else {
                    self.offset(next.span.start)
                };
                Some(self.sql[start..end.max(start)].trim().to_string())
            }
        } else {
            None
        };
        Ok(Statement::ShowFingerprints { name, as_of })
    }

    // ---- cluster settings ------------------------------------------------------------------

    /// After `=`/`TO`: `DEFAULT` (`None`), a string, a (signed) number, `true`/`false` or an
    /// identifier.
    fn setting_value(&mut self) -> R<Option<SettingValue>> {
        let tok = self.p.peek_token_ref();
        let value = match &tok.token {
            t if is_word(t, "DEFAULT") => None,
            t if is_word(t, "TRUE") => Some(SettingValue::Bool(true)),
            t if is_word(t, "FALSE") => Some(SettingValue::Bool(false)),
            Token::Number(n, _) => Some(SettingValue::Number(n.clone())),
            Token::Minus | Token::Plus => {
                let neg = tok.token == Token::Minus;
                match self.peek(1) {
                    Token::Number(n, _) => {
                        let n = if neg { format!("-{n}") } else { n.clone() };
                        self.advance(1);
                        Some(SettingValue::Number(n))
                    }
                    _ => {
                        self.advance(1);
                        return Err(self.err_next("expected a number"));
                    }
                }
            }
            t if Self::is_string(t) => {
                return Ok(Some(SettingValue::String(self.string("setting value")?)));
            }
            Token::Word(w) if w.quote_style.is_some() => Some(SettingValue::Ident(w.value.clone())),
            Token::Word(w) => Some(SettingValue::Ident(w.value.to_lowercase())),
            _ => {
                return Err(ParseError::at(
                    self.sql,
                    tok,
                    "expected a setting value (string, number, true/false, identifier or DEFAULT)",
                ));
            }
        };
        self.p.advance_token();
        Ok(value)
    }

    // ---- users, roles, privileges ----------------------------------------------------------

    /// `[WITH] option...`; `ALTER` needs at least one option.
    fn role_options(&mut self, alter: bool) -> R<RoleOptions> {
        const EXPECTED: &str = "expected a role option (LOGIN, NOLOGIN, CREATEROLE, NOCREATEROLE, \
                                CREATEDB, NOCREATEDB, PASSWORD, VALID UNTIL)";
        let mut o = RoleOptions::default();
        let with = self.eat("WITH");
        if (alter || with) && self.at_end() {
            return Err(self.err_next(EXPECTED));
        }
        fn set<T>(p: &P<'_>, slot: &mut Option<T>, v: T, tok: &TokenWithSpan) -> R<()> {
            if slot.is_some() {
                return Err(ParseError::at(
                    p.sql,
                    tok,
                    "conflicting or redundant role options",
                ));
            }
            *slot = Some(v);
            Ok(())
        }
        while !self.at_end() {
            let tok = self.p.peek_token();
            let t = &tok.token;
            if is_word(t, "LOGIN") || is_word(t, "NOLOGIN") {
                set(self, &mut o.login, is_word(t, "LOGIN"), &tok)?;
                self.advance(1);
            } else if is_word(t, "CREATEROLE") || is_word(t, "NOCREATEROLE") {
                set(self, &mut o.create_role, is_word(t, "CREATEROLE"), &tok)?;
                self.advance(1);
            } else if is_word(t, "CREATEDB") || is_word(t, "NOCREATEDB") {
                set(self, &mut o.create_db, is_word(t, "CREATEDB"), &tok)?;
                self.advance(1);
            } else if is_word(t, "PASSWORD") {
                self.advance(1);
                let pw = if self.eat("NULL") {
                    None
                } else {
                    Some(self.string("password")?)
                };
                set(self, &mut o.password, pw, &tok)?;
            } else if is_word(t, "VALID") {
                self.advance(1);
                self.expect("UNTIL")?;
                let ts = self.string("timestamp")?;
                set(self, &mut o.valid_until, ts, &tok)?;
            } else {
                return Err(self.err_next(EXPECTED));
            }
        }
        Ok(o)
    }

    /// `priv [, priv]...` of `GRANT/REVOKE SYSTEM`.
    fn system_privileges(&mut self) -> R<Vec<SystemPrivilege>> {
        let mut privileges = Vec::new();
        loop {
            let tok = self.p.peek_token_ref();
            let word = match &tok.token {
                Token::Word(w) if w.quote_style.is_none() => w.value.clone(),
                _ => return Err(ParseError::at(self.sql, tok, "expected a system privilege")),
            };
            let Some(privilege) = SystemPrivilege::parse(&word) else {
                let known: Vec<&str> = SystemPrivilege::ALL_NAMED.iter().map(|(_, n)| *n).collect();
                return Err(ParseError::at(
                    self.sql,
                    tok,
                    &format!(
                        "unknown system privilege \"{}\" (expected one of {})",
                        word.to_uppercase(),
                        known.join(", ")
                    ),
                ));
            };
            self.p.advance_token();
            if privilege == SystemPrivilege::All {
                let _ = self.eat("PRIVILEGES");
            }
            if !privileges.contains(&privilege) {
                privileges.push(privilege);
            }
            if !self.p.consume_token(&Token::Comma) {
                return Ok(privileges);
            }
        }
    }
}

/// PostgreSQL's reserved words (reserved and "reserved, can be function or type"): not usable as
/// unquoted names.
const RESERVED: &[&str] = &[
    "ALL",
    "ANALYSE",
    "ANALYZE",
    "AND",
    "ANY",
    "ARRAY",
    "AS",
    "ASC",
    "ASYMMETRIC",
    "AUTHORIZATION",
    "BINARY",
    "BOTH",
    "CASE",
    "CAST",
    "CHECK",
    "COLLATE",
    "COLLATION",
    "COLUMN",
    "CONCURRENTLY",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "CURRENT_CATALOG",
    "CURRENT_DATE",
    "CURRENT_ROLE",
    "CURRENT_SCHEMA",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "DEFAULT",
    "DEFERRABLE",
    "DESC",
    "DISTINCT",
    "DO",
    "ELSE",
    "END",
    "EXCEPT",
    "FALSE",
    "FETCH",
    "FOR",
    "FOREIGN",
    "FREEZE",
    "FROM",
    "FULL",
    "GRANT",
    "GROUP",
    "HAVING",
    "ILIKE",
    "IN",
    "INITIALLY",
    "INNER",
    "INTERSECT",
    "INTO",
    "IS",
    "ISNULL",
    "JOIN",
    "LATERAL",
    "LEADING",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LOCALTIME",
    "LOCALTIMESTAMP",
    "NATURAL",
    "NOT",
    "NOTNULL",
    "NULL",
    "OFFSET",
    "ON",
    "ONLY",
    "OR",
    "ORDER",
    "OUTER",
    "OVERLAPS",
    "PLACING",
    "PRIMARY",
    "REFERENCES",
    "RETURNING",
    "RIGHT",
    "SELECT",
    "SESSION_USER",
    "SIMILAR",
    "SOME",
    "SYMMETRIC",
    "TABLE",
    "TABLESAMPLE",
    "THEN",
    "TO",
    "TRAILING",
    "TRUE",
    "UNION",
    "UNIQUE",
    "USER",
    "USING",
    "VARIADIC",
    "VERBOSE",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
];

fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
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
