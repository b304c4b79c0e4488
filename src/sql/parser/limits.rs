//! How complex a statement may be, and how much stack the passes over it get.
//!
//! Every pass over a statement (parse, name resolution, type inference, planning, evaluation,
//! encoding, and `Drop` of the syntax tree) recurses once per nesting level, and a debug build
//! spends tens of KiB of stack per level (evaluation of a `+` chain: ~24 KiB a level; the node's
//! worker threads have 2 MiB). So nesting is bounded and the stack is sized from it:
//!
//! - **Before parsing**, a scan of the tokens counts the tokens that can extend a chain which
//!   `sqlparser` builds in a loop, without its recursion guard (infix operators, set operations,
//!   `[]` array type suffixes; every other nesting goes through its recursion counter, limited to
//!   [`PARSER_RECURSION_LIMIT`]). A statement may hold at most [`MAX_CHAIN_TOKENS`] of them and
//!   [`MAX_DEPTH`] consecutive `[]` suffixes. The parse then runs on a stack of
//!   [`parse_stack_bytes`] (grown with `stacker` when the thread has less left), enough to drop
//!   whatever partial tree an error leaves behind.
//! - **After parsing**, [`depth`] measures each statement's nesting in *units* (an expression
//!   counts 1, a query [`QUERY_UNITS`] plus its set-operation nesting, a table factor 1) with
//!   `sqlparser`'s visitor, which protects its own recursion. Above [`MAX_DEPTH`] units the
//!   statement is rejected with SQLSTATE 54001 `statement is too complex`, and dropped on the
//!   parse stack.
//! - **Execution** ([`crate::sql::exec`]) runs a statement on a stack of [`exec_stack_bytes`]
//!   of its depth: in place when the thread has that much left, else on a stack grown for each
//!   poll. Results are materialised (not streamed) for such statements, so no pass over them
//!   runs later on the connection's own stack. A statement accepted here is at most
//!   [`MAX_DEPTH`] units deep, which the per-unit budget covers with room to spare (measured
//!   with the tests in `tests/sql_limits.rs` against a debug build).
//!
//! Failure behaviour: too complex is SQLSTATE 54001, never a crash; nothing here allocates more
//! than a stack proportional to the statement's size.

use sqlparser::ast::{Expr, Query, SetExpr, TableFactor, Visit, Visitor};
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan};
use std::ops::ControlFlow;

/// SQLSTATE 54001 (statement_too_complex).
pub const TOO_COMPLEX: &str = "54001";

/// The deepest a statement may nest, in units (see [`depth`]): a 1000-term `1+1+...` (which
/// PostgreSQL evaluates; it fails at 10000 with 54001 on its default 2 MB `max_stack_depth`)
/// inside a query or two.
pub const MAX_DEPTH: usize = 1024;

/// Units one level of query nesting counts for: a subquery level runs through several `async`
/// planning and execution frames, each larger than an expression level's.
pub const QUERY_UNITS: usize = 4;

/// `sqlparser`'s recursion limit (nested parentheses, function calls, `CASE`, subqueries, ...):
/// each level of nesting consumes one or two.
pub const PARSER_RECURSION_LIMIT: usize = 256;

/// Tokens that can extend an unguarded chain (see the module docs) a statement may hold.
pub const MAX_CHAIN_TOKENS: usize = 1 << 20;

/// Stack for parsing anything: the parser's own frames and a statement's first levels.
const PARSE_BASE_BYTES: usize = 512 << 10;
/// Stack per level of `sqlparser` recursion that it does not protect itself (statements within
/// statements: `EXPLAIN`, `PREPARE ... AS`).
const PARSE_BYTES_PER_LEVEL: usize = 48 << 10;
/// Stack per chain token: dropping one level of a chain (a debug build spends ~80 bytes).
const DROP_BYTES_PER_CHAIN_TOKEN: usize = 256;

/// Stack for executing a statement of depth 0.
const EXEC_BASE_BYTES: usize = 768 << 10;
/// Stack per unit of depth while executing (a debug build spends up to ~27 KiB per expression
/// level, ~100 KiB per subquery level).
const EXEC_BYTES_PER_UNIT: usize = 64 << 10;

/// What [`scan`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenStats {
    /// Tokens other than whitespace.
    pub tokens: usize,
    /// Tokens that can extend an unguarded chain.
    pub chain: usize,
    /// Keywords: every statement starts with one, so they bound how deeply statements nest
    /// (`EXPLAIN EXPLAIN ...`, `PREPARE p AS PREPARE ...`), the one recursion of `sqlparser`
    /// that does not protect its stack itself.
    pub keywords: usize,
}

/// Why a statement is too complex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooComplex(pub String);

impl TooComplex {
    fn nesting(units: usize) -> TooComplex {
        TooComplex(format!(
            "statement is too complex: it nests more than {MAX_DEPTH} levels deep (found at least {units})"
        ))
    }
}

/// Counts `tokens` (see [`TokenStats`]); too many chain tokens, or more than [`MAX_DEPTH`]
/// consecutive `[]` type suffixes, are too complex.
pub fn scan(tokens: &[TokenWithSpan]) -> Result<TokenStats, TooComplex> {
    let mut stats = TokenStats {
        tokens: 0,
        chain: 0,
        keywords: 0,
    };
    // Consecutive `[ [n] ]` groups (an array type's suffixes are parsed in a loop).
    let mut run = 0usize;
    let mut prev_open = false;
    let mut in_group = false;
    for t in tokens {
        let tok = &t.token;
        if matches!(tok, Token::Whitespace(_) | Token::EOF) {
            continue;
        }
        stats.tokens += 1;
        if chain_capable(tok) {
            stats.chain += 1;
        }
        if matches!(tok, Token::Word(w) if w.keyword != Keyword::NoKeyword) {
            stats.keywords += 1;
        }
        match tok {
            Token::LBracket if !in_group => {
                in_group = true;
                prev_open = true;
            }
            Token::Number(..) if in_group && prev_open => prev_open = false,
            Token::RBracket if in_group => {
                in_group = false;
                prev_open = false;
                run += 1;
                if run > MAX_DEPTH {
                    return Err(TooComplex::nesting(run));
                }
            }
            _ => {
                in_group = false;
                prev_open = false;
                run = 0;
            }
        }
    }
    if stats.chain > MAX_CHAIN_TOKENS {
        return Err(TooComplex(format!(
            "statement is too complex: more than {MAX_CHAIN_TOKENS} operators"
        )));
    }
    Ok(stats)
}

/// Whether `tok` can be the token that adds a level to a chain `sqlparser` builds in a loop:
/// every token but identifiers, literals, placeholders and `,` `(` `)` `;` (an infix operator is
/// punctuation or a keyword; a set operation a keyword; an array type suffix `[`).
fn chain_capable(tok: &Token) -> bool {
    match tok {
        Token::Word(w) => !matches!(
            w.keyword,
            Keyword::NoKeyword | Keyword::NULL | Keyword::TRUE | Keyword::FALSE | Keyword::DEFAULT
        ),
        Token::Number(..)
        | Token::Char(_)
        | Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::TripleSingleQuotedString(_)
        | Token::TripleDoubleQuotedString(_)
        | Token::DollarQuotedString(_)
        | Token::SingleQuotedByteStringLiteral(_)
        | Token::DoubleQuotedByteStringLiteral(_)
        | Token::TripleSingleQuotedByteStringLiteral(_)
        | Token::TripleDoubleQuotedByteStringLiteral(_)
        | Token::SingleQuotedRawStringLiteral(_)
        | Token::DoubleQuotedRawStringLiteral(_)
        | Token::TripleSingleQuotedRawStringLiteral(_)
        | Token::TripleDoubleQuotedRawStringLiteral(_)
        | Token::NationalStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_)
        | Token::HexStringLiteral(_)
        | Token::Placeholder(_)
        | Token::Comma
        | Token::LParen
        | Token::RParen
        | Token::SemiColon
        | Token::Whitespace(_)
        | Token::EOF => false,
        _ => true,
    }
}

/// The stack parsing tokens with `stats` may need: the parser's unprotected recursion (at most
/// one level per keyword) and dropping the longest chain an error can leave behind. (Its other
/// recursion grows its own stack when less than 128 KiB is left.)
pub fn parse_stack_bytes(stats: TokenStats) -> usize {
    PARSE_BASE_BYTES
        + stats.keywords.min(PARSER_RECURSION_LIMIT) * PARSE_BYTES_PER_LEVEL
        + stats.chain * DROP_BYTES_PER_CHAIN_TOKEN
}

/// The stack executing a statement `units` deep may need.
pub fn exec_stack_bytes(units: usize) -> usize {
    EXEC_BASE_BYTES + units.min(MAX_DEPTH) * EXEC_BYTES_PER_UNIT
}

/// The nesting depth of `node` in units (see the module docs), counting no further than
/// `cutoff + 1`.
pub fn depth<V: Visit + ?Sized>(node: &V, cutoff: usize) -> usize {
    let mut d = Depth {
        cur: 0,
        max: 0,
        cutoff,
        entered: Vec::new(),
    };
    let _ = node.visit(&mut d);
    d.max
}

/// Err when `node` nests deeper than [`MAX_DEPTH`] units.
pub fn check<V: Visit + ?Sized>(node: &V) -> Result<(), TooComplex> {
    match depth(node, MAX_DEPTH) {
        d if d > MAX_DEPTH => Err(TooComplex::nesting(d)),
        _ => Ok(()),
    }
}

struct Depth {
    cur: usize,
    max: usize,
    cutoff: usize,
    /// Units added by each `pre_visit_*` still open, undone by its `post_visit_*`.
    entered: Vec<usize>,
}

impl Depth {
    fn enter(&mut self, units: usize) -> ControlFlow<()> {
        self.cur += units;
        self.entered.push(units);
        self.max = self.max.max(self.cur);
        if self.cur > self.cutoff {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn leave(&mut self) -> ControlFlow<()> {
        if let Some(u) = self.entered.pop() {
            self.cur -= u;
        }
        ControlFlow::Continue(())
    }
}

impl Visitor for Depth {
    type Break = ();

    fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.enter(1)
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.leave()
    }

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        self.enter(QUERY_UNITS + set_operation_depth(&q.body))
    }

    fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
        self.leave()
    }

    fn pre_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<()> {
        self.enter(1)
    }

    fn post_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<()> {
        self.leave()
    }
}

/// How deeply `body`'s set operations (`UNION`, `EXCEPT`, `INTERSECT`) nest, without recursion
/// (a chain of them is built in a loop and can be as long as the statement). Parenthesised
/// queries inside are counted when the visitor reaches them.
fn set_operation_depth(body: &SetExpr) -> usize {
    let mut max = 0;
    let mut stack = vec![(body, 0usize)];
    while let Some((e, d)) = stack.pop() {
        max = max.max(d);
        if let SetExpr::SetOperation { left, right, .. } = e {
            stack.push((left, d + 1));
            stack.push((right, d + 1));
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::tokenizer::Tokenizer;

    fn stats(sql: &str) -> Result<TokenStats, TooComplex> {
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize_with_location()
            .expect("tokenize");
        scan(&tokens)
    }

    fn units(sql: &str) -> usize {
        let stmt = sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .expect("parse")
            .remove(0);
        depth(&stmt, usize::MAX - 1)
    }

    #[test]
    fn chain_tokens_are_operators_and_keywords() {
        let s = stats("SELECT a + 1, 'x' || b FROM t WHERE c IS NULL AND d = $1").unwrap();
        // SELECT + || FROM WHERE IS AND =
        assert_eq!(s.chain, 8);
        assert_eq!(s.tokens, 18);
        // SELECT FROM WHERE IS NULL AND
        assert_eq!(s.keywords, 6);
        let s =
            stats("INSERT INTO t VALUES (1, 'a', NULL, TRUE), (2, 'b', DEFAULT, FALSE)").unwrap();
        assert_eq!(s.chain, 3);
    }

    #[test]
    fn array_type_suffixes_are_bounded() {
        let ok = format!("SELECT x::INT{}", "[]".repeat(MAX_DEPTH));
        assert!(stats(&ok).is_ok());
        let deep = format!("SELECT x::INT{}", "[3]".repeat(MAX_DEPTH + 1));
        assert!(stats(&deep).is_err());
        // Subscripts of a value are a flat list, but are not told apart from a type here:
        // separated by anything else, runs start over.
        let sep = format!("SELECT {}", "a[1] + ".repeat(MAX_DEPTH + 5) + "1");
        assert!(stats(&sep).is_ok());
    }

    #[test]
    fn depth_units() {
        assert_eq!(units("SELECT 1"), QUERY_UNITS + 1);
        assert_eq!(units("SELECT 1 + 1 + 1"), QUERY_UNITS + 3);
        assert_eq!(units("SELECT ((1))"), QUERY_UNITS + 3);
        assert_eq!(
            units("SELECT (SELECT 1)"),
            QUERY_UNITS + 1 + QUERY_UNITS + 1
        );
        let union = ["SELECT 1"; 10].join(" UNION ALL ");
        assert_eq!(units(&union), QUERY_UNITS + 9 + 1);
        assert_eq!(units("SELECT a FROM t"), QUERY_UNITS + 1);
    }

    #[test]
    fn check_rejects_deep_chains_without_recursing() {
        let sql = format!("SELECT 1{}", "+1".repeat(100_000));
        let stmt = sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, &sql)
            .expect("parse")
            .remove(0);
        let e = check(&stmt).unwrap_err();
        assert!(e.0.starts_with("statement is too complex"), "{e:?}");
        // Dropping it needs a stack proportional to its depth.
        stacker::grow(64 << 20, move || drop(stmt));
    }

    #[test]
    fn stack_sizes_grow_with_the_statement() {
        let small = parse_stack_bytes(TokenStats {
            tokens: 10,
            chain: 3,
            keywords: 4,
        });
        assert!(small < 1 << 20, "{small}");
        assert!(exec_stack_bytes(10) < 2 << 20);
        assert_eq!(
            exec_stack_bytes(MAX_DEPTH * 10),
            exec_stack_bytes(MAX_DEPTH)
        );
    }
}
