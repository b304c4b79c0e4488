//! The text form of arrays: PostgreSQL's `{a,"b c",NULL}` syntax, parsed into string elements
//! (the caller converts them to the element type) and printed with PostgreSQL's quoting rules.
//! Malformed input is 22P02; nested braces (multi-dimensional arrays) are 0A000.

use super::*;

/// 22P02 for a malformed array literal.
fn malformed_array(s: &str, detail: &str) -> SqlError {
    SqlError::new(
        SqlState::INVALID_TEXT_REPRESENTATION,
        format!("malformed array literal: \"{s}\""),
    )
    .with_hint(detail.to_string())
}

/// Parses PostgreSQL's array text form (`{1,2,NULL}`, `{"a b","c\\"d"}`) into string elements
/// (NULL for an unquoted `NULL`); the caller converts them to the element type.
pub fn parse_array(s: &str) -> Result<Vec<Datum>> {
    let t = s.trim();
    let inner = t
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| {
            malformed_array(s, "array value must start with \"{\" and end with \"}\"")
        })?;
    let mut out = Vec::new();
    if inner.trim().is_empty() {
        return Ok(out);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(malformed_array(s, "unterminated quoted element")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => item.push(c),
                        None => return Err(malformed_array(s, "unexpected end of input")),
                    },
                    Some(c) => item.push(c),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                match c {
                    ',' => break,
                    '{' if item.is_empty() => {
                        return Err(SqlError::unsupported(format!(
                            "multi-dimensional arrays ({s})"
                        )));
                    }
                    '{' | '}' | '"' => {
                        return Err(malformed_array(
                            s,
                            "only one-dimensional arrays are supported; quote special characters",
                        ));
                    }
                    '\\' => {
                        chars.next();
                        match chars.next() {
                            Some(e) => item.push(e),
                            None => return Err(malformed_array(s, "unexpected end of input")),
                        }
                    }
                    _ => {
                        item.push(c);
                        chars.next();
                    }
                }
            }
            let trimmed = item.trim_end().len();
            item.truncate(trimmed);
            if item.is_empty() {
                return Err(malformed_array(s, "unexpected \",\" or empty element"));
            }
        }
        if !quoted && item.eq_ignore_ascii_case("null") {
            out.push(Datum::Null);
        } else {
            out.push(Datum::String(item));
        }
        match chars.next() {
            None => return Ok(out),
            Some(',') => {}
            Some(_) => return Err(malformed_array(s, "junk after a quoted element")),
        }
    }
}

/// PostgreSQL's array text output: elements that are empty, `NULL`, or contain a delimiter,
/// brace, quote, backslash or space are double-quoted with `"` and `\` escaped.
pub fn format_array(items: &[Datum]) -> String {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item.to_text() {
            None => out.push_str("NULL"),
            Some(t) => {
                let quote = t.is_empty()
                    || t.eq_ignore_ascii_case("null")
                    || t.chars()
                        .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
                if quote {
                    out.push('"');
                    for c in t.chars() {
                        if c == '"' || c == '\\' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push('"');
                } else {
                    out.push_str(&t);
                }
            }
        }
    }
    out.push('}');
    out
}
