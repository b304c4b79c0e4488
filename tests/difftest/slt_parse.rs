//! The SQLite sqllogictest format: records separated by blank lines, `#` comment lines,
//! `skipif <engine>`/`onlyif <engine>` conditions, `statement ok|error`, `query <types> [sort]
//! [label]` with the SQL up to `----` and one expected value per line (or `N values hashing
//! to <md5>`), `hash-threshold N` and `halt`. Also the engine-side rules of the format: how a
//! value is printed for its type letter (I: integer, truncating; R: `%.3f`; T: text, empty as
//! `(empty)`, unprintable bytes as `@`; NULL as `NULL`), `rowsort`/`valuesort`/`nosort`, and
//! the MD5 of the values.

use super::compare::Row;
use super::md5::Md5;

/// One record, with the line it starts on (its first line after any conditions).
#[derive(Clone, Debug)]
pub struct Record {
    pub line: usize,
    pub kind: RecordKind,
}

#[derive(Clone, Debug)]
pub enum RecordKind {
    Statement {
        sql: String,
        expect_ok: bool,
    },
    Query(QueryRecord),
    /// A record not for this engine (`skipif`/`onlyif`).
    Skipped,
    Halt,
}

#[derive(Clone, Debug)]
pub struct QueryRecord {
    pub sql: String,
    pub types: String,
    pub sort: Sort,
    /// The expected result lines (values, or one `N values hashing to H` line).
    pub expected: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    No,
    Row,
    Value,
}

/// The engine names tandem answers to in `skipif`/`onlyif`.
const ENGINES: [&str; 2] = ["postgresql", "cockroachdb"];

/// Parses a whole file.
pub fn parse(text: &str) -> Vec<Record> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_end();
        if l.is_empty() || l.starts_with('#') {
            i += 1;
            continue;
        }
        let mut skip = false;
        let mut toks: Vec<&str> = l.split_whitespace().collect();
        while matches!(toks.first(), Some(&"skipif") | Some(&"onlyif")) {
            let engine = toks.get(1).copied().unwrap_or("").to_ascii_lowercase();
            let matched = ENGINES.contains(&engine.as_str());
            if (toks[0] == "skipif") == matched {
                skip = true;
            }
            i += 1;
            toks = lines
                .get(i)
                .map_or(Vec::new(), |l| l.split_whitespace().collect());
        }
        let line = i + 1;
        // The record's body: up to the next blank line.
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && !lines[end].trim_end().is_empty() {
            end += 1;
        }
        let body: Vec<&str> = lines[start.min(lines.len())..end].to_vec();
        i = end;
        let kind = match toks.first().copied() {
            _ if skip => RecordKind::Skipped,
            Some("statement") => RecordKind::Statement {
                sql: body.join("\n"),
                expect_ok: toks.get(1) == Some(&"ok"),
            },
            Some("query") => {
                let split = body.iter().position(|l| l.trim_end() == "----");
                let (sql, expected) = match split {
                    Some(p) => (&body[..p], body[p + 1..].to_vec()),
                    None => (&body[..], Vec::new()),
                };
                RecordKind::Query(QueryRecord {
                    sql: sql.join("\n"),
                    types: toks.get(1).copied().unwrap_or("").to_string(),
                    sort: match toks.get(2).copied() {
                        Some("rowsort") => Sort::Row,
                        Some("valuesort") => Sort::Value,
                        _ => Sort::No,
                    },
                    expected: expected.iter().map(|s| s.trim_end().to_string()).collect(),
                })
            }
            Some("halt") => RecordKind::Halt,
            // hash-threshold: the expected results already show the effect.
            _ => continue,
        };
        out.push(Record { line, kind });
    }
    out
}

/// How the reference engine prints a value for the type letter.
pub fn format_value(letter: char, v: &Option<String>) -> String {
    let Some(v) = v else {
        return "NULL".into();
    };
    match letter {
        'I' => {
            if let Ok(i) = v.parse::<i64>() {
                return i.to_string();
            }
            match v.as_str() {
                "t" | "true" => "1".into(),
                "f" | "false" => "0".into(),
                _ => match v.parse::<f64>() {
                    Ok(f) => (f.trunc() as i64).to_string(),
                    Err(_) => "0".into(),
                },
            }
        }
        'R' => {
            let f = match v.as_str() {
                "t" | "true" => 1.0,
                "f" | "false" => 0.0,
                _ => v.parse::<f64>().unwrap_or(0.0),
            };
            format!("{f:.3}")
        }
        _ => {
            if v.is_empty() {
                return "(empty)".into();
            }
            v.bytes()
                .map(|b| {
                    if (b' '..=b'~').contains(&b) {
                        b as char
                    } else {
                        '@'
                    }
                })
                .collect()
        }
    }
}

/// The result as the reference engine lists it: values formatted, then sorted.
pub fn result_values(q: &QueryRecord, rows: &[Row]) -> Vec<String> {
    let letters: Vec<char> = q.types.chars().collect();
    let mut formatted: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, v)| format_value(letters.get(i).copied().unwrap_or('T'), v))
                .collect()
        })
        .collect();
    match q.sort {
        Sort::Row => formatted.sort(),
        Sort::Value | Sort::No => {}
    }
    let mut values: Vec<String> = formatted.into_iter().flatten().collect();
    if q.sort == Sort::Value {
        values.sort();
    }
    values
}

/// Whether `values` are the expected result (listed or hashed).
pub fn matches_expected(q: &QueryRecord, values: &[String]) -> bool {
    if let [only] = &q.expected[..]
        && let Some((n, hash)) = only.split_once(" values hashing to ")
    {
        let mut m = Md5::default();
        for v in values {
            m.update(v.as_bytes());
            m.update(b"\n");
        }
        return n.trim().parse::<usize>() == Ok(values.len()) && m.hex() == hash.trim();
    }
    q.expected == values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records_conditions_and_results() {
        let text = "hash-threshold 8\n\nstatement ok\nCREATE TABLE t(a INT)\n\n\
                    skipif postgresql\nquery I nosort\nSELECT 1\n----\n1\n\n\
                    onlyif mysql\nstatement ok\nSELECT 2\n\n\
                    onlyif cockroachdb\nquery IT rowsort label-1\nSELECT a,\n 'x' FROM t\n----\n2\nx\n1\nx\n";
        let r = parse(text);
        assert_eq!(r.len(), 4);
        assert!(
            matches!(&r[0].kind, RecordKind::Statement { sql, expect_ok: true } if sql == "CREATE TABLE t(a INT)")
        );
        assert!(matches!(r[1].kind, RecordKind::Skipped));
        assert!(matches!(r[2].kind, RecordKind::Skipped));
        let RecordKind::Query(q) = &r[3].kind else {
            panic!("query")
        };
        assert_eq!(r[3].line, 17);
        assert_eq!(q.sql, "SELECT a,\n 'x' FROM t");
        assert_eq!(q.sort, Sort::Row);
        let rows = vec![
            vec![Some("2".to_string()), Some("x".to_string())],
            vec![Some("1".to_string()), Some("x".to_string())],
        ];
        assert_eq!(result_values(q, &rows), ["1", "x", "2", "x"]);
        assert!(!matches_expected(q, &result_values(q, &rows)));
    }

    #[test]
    fn formats_and_hashes_like_the_reference() {
        assert_eq!(format_value('I', &Some("3.75".into())), "3");
        assert_eq!(format_value('I', &Some("-3.5".into())), "-3");
        assert_eq!(format_value('I', &Some("t".into())), "1");
        assert_eq!(format_value('R', &Some("2".into())), "2.000");
        assert_eq!(format_value('T', &Some("".into())), "(empty)");
        assert_eq!(format_value('T', &Some("é".into())), "@@");
        assert_eq!(format_value('T', &None), "NULL");
        let q = QueryRecord {
            sql: String::new(),
            types: "I".into(),
            sort: Sort::Value,
            // md5("1\n2\n")
            expected: vec!["2 values hashing to 6ddb4095eb719e2a9f0a3f95677d24e0".into()],
        };
        let mut m = Md5::default();
        m.update(b"1\n2\n");
        assert_eq!(m.hex(), "6ddb4095eb719e2a9f0a3f95677d24e0");
        let rows = vec![vec![Some("2".to_string())], vec![Some("1".to_string())]];
        assert!(matches_expected(&q, &result_values(&q, &rows)));
    }
}
