//! Statement text, without a server: splitting input into complete statements (quotes, dollar
//! quotes and comments respected) and rebuilding the command tag a statement completes with.
//! Pure functions; malformed text (an unclosed quote) is an unfinished statement, never a panic.

/// Splits `input` into its complete statements (each ended by a `;` outside quotes, quoted
/// identifiers, dollar quotes and comments; returned trimmed and without the `;`, empty and
/// comment-only statements skipped) and the byte offset just past the last terminating `;`
/// (0 if there is none): `input[offset..]` is the unfinished rest.
pub fn split_statements(input: &str) -> (Vec<String>, usize) {
    let bytes = input.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut end = 0;
    let mut i = 0;
    let mut significant = false;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b';' => {
                if significant {
                    statements.push(input[start..i].trim().to_string());
                }
                significant = false;
                i += 1;
                start = i;
                end = i;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = match input[i..].find('\n') {
                    Some(n) => i + n + 1,
                    None => bytes.len(),
                };
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(bytes, i);
                continue;
            }
            b'\'' => {
                let escapes = i > 0
                    && matches!(bytes[i - 1], b'e' | b'E')
                    && (i < 2 || !is_ident_byte(bytes[i - 2]));
                i = skip_quoted(bytes, i, b'\'', escapes);
            }
            b'"' => i = skip_quoted(bytes, i, b'"', false),
            b'$' if i == 0 || !is_ident_byte(bytes[i - 1]) => match dollar_tag(bytes, i) {
                Some(tag_len) => {
                    let tag = &input[i..i + tag_len];
                    i = match input[i + tag_len..].find(tag) {
                        Some(n) => i + tag_len + n + tag_len,
                        None => bytes.len(),
                    };
                }
                None => i += 1,
            },
            _ => i += 1,
        }
        if !b.is_ascii_whitespace() {
            significant = true;
        }
    }
    (statements, end)
}

/// Whether `text` holds nothing but whitespace, comments and empty statements.
pub fn is_blank(text: &str) -> bool {
    let (statements, end) = split_statements(text);
    statements.is_empty() && {
        let (rest, _) = split_statements(&format!("{};", &text[end..]));
        rest.is_empty()
    }
}

pub(super) fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Index just past the closing quote of the quoted text starting at `open` (or the end).
pub(super) fn skip_quoted(bytes: &[u8], open: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if backslash_escapes && b == b'\\' {
            i += 2;
            continue;
        }
        if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// Index just past the (nested) block comment starting at `open` (or the end).
pub(super) fn skip_block_comment(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i + 1 < bytes.len() {
        if bytes[i] == b'/' && bytes[i + 1] == b'*' {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// Length of the dollar-quote tag (`$$` or `$name$`) starting at `i`, if there is one.
pub(super) fn dollar_tag(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if bytes.get(j).is_some_and(|b| b.is_ascii_digit()) {
        return None; // $1: a parameter, not a quote
    }
    while j < bytes.len() && is_ident_byte(bytes[j]) {
        j += 1;
    }
    (bytes.get(j) == Some(&b'$')).then_some(j + 1 - i)
}

/// The leading keywords of a statement, upper-cased, after comments and `(`.
pub(super) fn leading_words(stmt: &str, max: usize) -> Vec<String> {
    let mut text = stmt.trim_start();
    loop {
        if let Some(rest) = text.strip_prefix("--") {
            text = rest.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if text.starts_with("/*") {
            let end = skip_block_comment(text.as_bytes(), 0);
            text = text[end..].trim_start();
        } else if let Some(rest) = text.strip_prefix('(') {
            text = rest.trim_start();
        } else {
            break;
        }
    }
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .take_while(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
        .take(max)
        .map(str::to_ascii_uppercase)
        .collect()
}

/// The PostgreSQL-style command tag of a statement that returned no rows, from its leading
/// keywords and the row count: `INSERT 0 1`, `UPDATE 3`, `CREATE TABLE`, `SET CLUSTER
/// SETTING`, `BEGIN`, ...
pub fn command_tag(stmt: &str, rows: u64) -> String {
    let words = leading_words(stmt, 8);
    let Some(first) = words.first().map(String::as_str) else {
        return "OK".to_string();
    };
    let word = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match first {
        "INSERT" | "UPSERT" => format!("INSERT 0 {rows}"),
        "UPDATE" | "DELETE" | "SELECT" | "MOVE" | "FETCH" | "COPY" | "MERGE" | "VALUES"
        | "TABLE" => {
            let tag = if matches!(first, "VALUES" | "TABLE") {
                "SELECT"
            } else {
                first
            };
            format!("{tag} {rows}")
        }
        "CREATE" | "DROP" | "ALTER" => {
            const MODIFIERS: &[&str] = &[
                "OR",
                "REPLACE",
                "UNIQUE",
                "TEMP",
                "TEMPORARY",
                "UNLOGGED",
                "GLOBAL",
                "LOCAL",
            ];
            let mut i = 1;
            while MODIFIERS.contains(&word(i)) {
                i += 1;
            }
            let object = word(i);
            match object {
                "" => first.to_string(),
                "VIRTUAL" | "MATERIALIZED" | "FOREIGN" | "EVENT" if !word(i + 1).is_empty() => {
                    format!("{first} {object} {}", word(i + 1))
                }
                _ => format!("{first} {object}"),
            }
        }
        "SET" if word(1) == "CLUSTER" && word(2) == "SETTING" => "SET CLUSTER SETTING".into(),
        "SET" if word(1) == "TRANSACTION" => "SET TRANSACTION".into(),
        "USE" => "SET".into(),
        "START" if word(1) == "TRANSACTION" => "START TRANSACTION".into(),
        "END" => "COMMIT".into(),
        "ABORT" => "ROLLBACK".into(),
        "TRUNCATE" => "TRUNCATE".into(),
        "DISCARD" if !word(1).is_empty() => format!("DISCARD {}", word(1)),
        _ => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_statements() {
        let (s, end) = split_statements("select 1 as a, 'x' as b; create table t(a int)");
        assert_eq!(s, vec!["select 1 as a, 'x' as b"]);
        assert_eq!(end, "select 1 as a, 'x' as b;".len());

        let input = "select ';' , \"a;b\", $$x;y$$, $tag$ $$ ; $tag$, e'\\';' -- c;\n; /* ; /* ; */ ; */ select 2;";
        let (s, end) = split_statements(input);
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(
            s[0].starts_with("select ';'") && s[0].ends_with("-- c;"),
            "{s:?}"
        );
        assert_eq!(s[1], "/* ; /* ; */ ; */ select 2");
        assert_eq!(end, input.len());

        // Unterminated quote: nothing complete yet.
        let (s, end) = split_statements("select 'abc;\n");
        assert!(s.is_empty());
        assert_eq!(end, 0);
        // Empty statements are skipped.
        let (s, _) = split_statements(";; select 1;;");
        assert_eq!(s, vec!["select 1"]);
        // $1 is a parameter, not a dollar quote.
        let (s, _) = split_statements("select $1; select 2;");
        assert_eq!(s, vec!["select $1", "select 2"]);
        // 'e' as the end of an identifier does not start an escape string.
        let (s, _) = split_statements("select name'\\'; select 3;");
        assert_eq!(s.len(), 2, "{s:?}");
    }

    #[test]
    fn blank_text() {
        assert!(is_blank(""));
        assert!(is_blank("  \n -- comment\n /* c */ ;"));
        assert!(!is_blank("select 1"));
        assert!(!is_blank("-- c\nselect"));
    }

    #[test]
    fn command_tags() {
        for (stmt, rows, tag) in [
            ("create table t(a int)", 0, "CREATE TABLE"),
            ("CREATE UNIQUE INDEX i ON t(a)", 0, "CREATE INDEX"),
            ("create or replace view v as select 1", 0, "CREATE VIEW"),
            ("create database d", 0, "CREATE DATABASE"),
            (
                "CREATE VIRTUAL CLUSTER app LIKE template",
                0,
                "CREATE VIRTUAL CLUSTER",
            ),
            (
                "alter virtual cluster app stop service",
                0,
                "ALTER VIRTUAL CLUSTER",
            ),
            ("drop table if exists t", 0, "DROP TABLE"),
            ("insert into t values (1)", 1, "INSERT 0 1"),
            ("upsert into t values (1), (2)", 2, "INSERT 0 2"),
            ("update t set a = 2", 3, "UPDATE 3"),
            ("delete from t", 0, "DELETE 0"),
            ("-- hi\n  begin", 0, "BEGIN"),
            ("commit", 0, "COMMIT"),
            ("set cluster setting x = 1", 0, "SET CLUSTER SETTING"),
            ("SET application_name = 'x'", 0, "SET"),
            ("grant admin to bob", 0, "GRANT"),
            ("use movr", 0, "SET"),
            ("", 0, "OK"),
        ] {
            assert_eq!(command_tag(stmt, rows), tag, "{stmt}");
        }
    }
}
