//! The token cursor tandem's own statements are parsed with: [`P`] wraps `sqlparser`'s parser
//! and the input text, and offers word matching (case-insensitive, keyword or not), names,
//! strings and error positions. PostgreSQL's reserved words live here too. Never panics: running
//! out of tokens is a syntax error at the end of the input.

use super::*;

/// The wrapper parser: `sqlparser`'s parser plus the input text (for error positions and raw
/// expression text).
pub(super) struct P<'a> {
    pub(super) p: Parser<'a>,
    pub(super) sql: &'a str,
}

pub(super) type R<T> = Result<T, ParseError>;

/// Whether `t` is the unquoted word `w` (case-insensitive), keyword or not.
pub(super) fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
}

impl<'a> P<'a> {
    // ---- token helpers -------------------------------------------------------------------

    pub(super) fn peek(&self, n: usize) -> &Token {
        &self.p.peek_nth_token_ref(n).token
    }

    pub(super) fn peek_is(&self, n: usize, w: &str) -> bool {
        is_word(self.peek(n), w)
    }

    /// Whether the next tokens are exactly the words `ws`.
    pub(super) fn peek_seq(&self, ws: &[&str]) -> bool {
        ws.iter().enumerate().all(|(i, w)| self.peek_is(i, w))
    }

    pub(super) fn advance(&mut self, n: usize) {
        for _ in 0..n {
            self.p.advance_token();
        }
    }

    /// Consumes the word `w` if it is next.
    pub(super) fn eat(&mut self, w: &str) -> bool {
        let yes = self.peek_is(0, w);
        if yes {
            self.p.advance_token();
        }
        yes
    }

    /// Consumes the words `ws` if they are all next; otherwise consumes nothing.
    pub(super) fn eat_seq(&mut self, ws: &[&str]) -> bool {
        let yes = self.peek_seq(ws);
        if yes {
            self.advance(ws.len());
        }
        yes
    }

    pub(super) fn expect(&mut self, w: &str) -> R<()> {
        if self.eat(w) {
            Ok(())
        } else {
            Err(self.err_next(&format!("expected {w}")))
        }
    }

    pub(super) fn expect_seq(&mut self, ws: &[&str]) -> R<()> {
        for w in ws {
            self.expect(w)?;
        }
        Ok(())
    }

    /// An error about the next token.
    pub(super) fn err_next(&self, detail: &str) -> ParseError {
        ParseError::at(self.sql, self.p.peek_token_ref(), detail)
    }

    pub(super) fn at_end(&self) -> bool {
        matches!(self.peek(0), Token::SemiColon | Token::EOF)
    }

    /// Requires the end of the statement: `;` or the end of the input.
    pub(super) fn expect_end(&self) -> R<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.err_next("expected ; or end of input"))
        }
    }

    /// A name: a double-quoted identifier (case kept) or an unquoted, non-reserved word
    /// (lowercased).
    pub(super) fn name(&mut self, what: &str) -> R<String> {
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
    pub(super) fn name_list(&mut self, what: &str) -> R<Vec<String>> {
        let mut names = vec![self.name(what)?];
        while self.p.consume_token(&Token::Comma) {
            names.push(self.name(what)?);
        }
        Ok(names)
    }

    /// A dotted name whose parts may be any word (setting names): lowercased unless quoted.
    pub(super) fn dotted_name(&mut self, what: &str) -> R<String> {
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
    pub(super) fn string(&mut self, what: &str) -> R<String> {
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

    pub(super) fn is_string(t: &Token) -> bool {
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
    pub(super) fn offset(&self, loc: Location) -> usize {
        byte_offset(self.sql, loc).unwrap_or(self.sql.len())
    }

    // ---- dispatch --------------------------------------------------------------------------
}

/// PostgreSQL's reserved words (reserved and "reserved, can be function or type"): not usable as
/// unquoted names.
pub(super) const RESERVED: &[&str] = &[
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

pub(super) fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}
