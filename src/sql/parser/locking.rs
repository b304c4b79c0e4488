//! CockroachDB's and PostgreSQL's locking clause forms that `sqlparser` does not parse, rewritten
//! on the token stream into ones it does: `FOR NO KEY UPDATE` is `FOR UPDATE` and `FOR KEY SHARE`
//! is `FOR SHARE` (CockroachDB treats them as the same strengths), and `FOR x OF a, b [NOWAIT |
//! SKIP LOCKED]` becomes one clause per table, each with the wait policy.

use super::*;

/// Rewrites the locking clauses of `tokens` (see the module documentation).
pub(super) fn rewrite(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    if !tokens.iter().any(|t| is_word(&t.token, "FOR")) {
        return tokens;
    }
    let sig: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_)))
        .map(|(i, _)| i)
        .collect();
    let word = |k: usize, w: &str| sig.get(k).is_some_and(|&i| is_word(&tokens[i].token, w));
    let tok = |k: usize| tokens[sig[k]].clone();
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut next = 0; // next index of `tokens` to copy as is
    let mut k = 0;
    while k < sig.len() {
        if !word(k, "FOR") {
            k += 1;
            continue;
        }
        // The word that names the strength.
        let strength = if word(k + 1, "NO") && word(k + 2, "KEY") && word(k + 3, "UPDATE") {
            k + 3
        } else if word(k + 1, "KEY") && word(k + 2, "SHARE") {
            k + 2
        } else if word(k + 1, "UPDATE") || word(k + 1, "SHARE") {
            k + 1
        } else {
            k += 1;
            continue;
        };
        out.extend(tokens[next..sig[k]].iter().cloned());
        let head = [tok(k), space(&tok(k)), tok(strength)];
        let (names, wait, end) = of_list(&tokens, &sig, strength + 1);
        if names.len() < 2 {
            out.extend(head);
            next = sig[strength] + 1;
            k = strength + 1;
            continue;
        }
        for name in names {
            out.extend(head.iter().cloned());
            out.push(space(&head[0]));
            out.push(tok(strength + 1));
            out.push(space(&head[0]));
            out.extend(name);
            for t in wait.iter().cloned() {
                out.push(space(&head[0]));
                out.push(t);
            }
            out.push(space(&head[0]));
        }
        next = sig.get(end).copied().unwrap_or(tokens.len());
        k = end;
    }
    out.extend(tokens[next.min(tokens.len())..].iter().cloned());
    out
}

/// `OF name [, name ...] [NOWAIT | SKIP LOCKED]` starting at significant token `k`: the names
/// (each its tokens), the wait policy's tokens, and the significant index after the clause.
/// No names when there is no `OF`.
#[allow(clippy::type_complexity)]
fn of_list(
    tokens: &[TokenWithSpan],
    sig: &[usize],
    k: usize,
) -> (Vec<Vec<TokenWithSpan>>, Vec<TokenWithSpan>, usize) {
    let at = |j: usize| sig.get(j).map(|&i| &tokens[i]);
    let word = |j: usize, w: &str| at(j).is_some_and(|t| is_word(&t.token, w));
    if !word(k, "OF") {
        return (Vec::new(), Vec::new(), k);
    }
    let mut names: Vec<Vec<TokenWithSpan>> = Vec::new();
    let mut j = k + 1;
    loop {
        // A name: words joined by periods.
        let mut name = Vec::new();
        while let Some(t) = at(j) {
            if !matches!(t.token, Token::Word(_)) {
                break;
            }
            name.push(t.clone());
            j += 1;
            match at(j) {
                Some(p) if p.token == Token::Period => {
                    name.push(p.clone());
                    j += 1;
                }
                _ => break,
            }
        }
        names.push(name);
        match at(j) {
            Some(c) if c.token == Token::Comma => j += 1,
            _ => break,
        }
    }
    let mut wait = Vec::new();
    if word(j, "NOWAIT") {
        wait.extend(at(j).cloned());
        j += 1;
    } else if word(j, "SKIP") && word(j + 1, "LOCKED") {
        wait.extend(at(j).cloned());
        wait.extend(at(j + 1).cloned());
        j += 2;
    }
    (names, wait, j)
}

fn space(at: &TokenWithSpan) -> TokenWithSpan {
    TokenWithSpan::new(
        Token::Whitespace(sqlparser::tokenizer::Whitespace::Space),
        at.span,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(sql: &str) -> String {
        let toks = sqlparser::tokenizer::Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize_with_location()
            .expect("tokenizes");
        rewrite(toks)
            .iter()
            .map(|t| t.token.to_string())
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn strengths_and_table_lists_become_plain_clauses() {
        assert_eq!(
            render("SELECT * FROM t FOR NO KEY UPDATE"),
            "SELECT * FROM t FOR UPDATE"
        );
        assert_eq!(
            render("select * from t for key share nowait"),
            "select * from t for share nowait"
        );
        assert_eq!(
            render("SELECT 1 FROM a, s.b FOR UPDATE OF a, s.b SKIP LOCKED"),
            "SELECT 1 FROM a, s.b FOR UPDATE OF a SKIP LOCKED FOR UPDATE OF s.b SKIP LOCKED"
        );
        assert_eq!(
            render("SELECT 1 FROM a FOR SHARE OF a NOWAIT FOR UPDATE"),
            "SELECT 1 FROM a FOR SHARE OF a NOWAIT FOR UPDATE"
        );
        assert_eq!(render("SELECT 'for key share'"), "SELECT 'for key share'");
    }
}
