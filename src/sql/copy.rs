//! `COPY <table> [(<columns>)] FROM STDIN`: the statement's options and the decoding of the
//! client's data (PostgreSQL's text and CSV formats) into rows of text fields.
//!
//! The flow: executing the statement checks the table and columns and answers
//! [`QueryResult::CopyIn`](super::session::QueryResult::CopyIn); the connection then feeds every
//! CopyData message to a [`CopyDecoder`], which turns complete records into rows as they arrive
//! (a record may span messages, and in CSV a quoted field may span lines); at CopyDone the rows
//! are inserted by one statement, [`Statement::CopyRows`](super::ast::Statement::CopyRows), in the
//! session's explicit transaction or in one implicit transaction (retried on conflicts like any
//! other), so a COPY is atomic as in PostgreSQL: a bad line or a constraint violation inserts
//! nothing. The decoded rows are held until CopyDone, charged to the node's `--max-sql-memory`
//! pool as they arrive ([`CopyDecoder::memory`]): a COPY larger than what the pool can grant
//! fails with 53200 (answered at CopyDone; the rows are dropped at once and the rest of the data
//! is read and discarded) instead of growing the process.
//!
//! Text format: fields separated by the delimiter (default tab), one record per line (`\n` or
//! `\r\n`), `\N` for NULL, backslash escapes (`\t`, `\n`, `\\`, octal `\123`, hex `\x41`, ...)
//! and an optional `\.` end-of-data line. CSV: delimiter `,`, quote `"`, escape = quote,
//! unquoted empty field = NULL, quoted fields may contain delimiters, quotes and newlines.
//! Both formats take `HEADER` (the first line is skipped), `DELIMITER` and `NULL`. CSV is decoded here rather than with a CSV crate because PostgreSQL
//! tells a NULL (unquoted empty) from an empty string (`""`), which such crates do not expose.
//!
//! Errors carry PostgreSQL's SQLSTATEs and the line number: 22P04 (bad_copy_file_format) for
//! a wrong number of fields or an unterminated quote, 22021 for invalid UTF-8, 0A000 for
//! `FORMAT binary`, `COPY ... TO` and files/programs (a server never reads its own files for a
//! client).

use sqlparser::ast::{self as pg, CopyLegacyCsvOption, CopyLegacyOption, CopyOption, ObjectName};

use super::error::{Result, SqlError};
use super::sqlstate::SqlState;

/// 22P04 bad_copy_file_format.
const BAD_COPY_FILE_FORMAT: SqlState = SqlState("22P04");
/// 22021 character_not_in_repertoire (invalid UTF-8).
const BAD_ENCODING: SqlState = SqlState("22021");

/// The data format of a COPY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    /// PostgreSQL's text format.
    Text,
    /// CSV.
    Csv,
}

/// The options of `COPY ... FROM STDIN [WITH (...)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    /// Text or CSV.
    pub format: CopyFormat,
    /// The field delimiter.
    pub delimiter: u8,
    /// The string that stands for NULL (compared with the field as written, before unescaping).
    pub null: String,
    /// CSV: the first record is a header and is skipped.
    pub header: bool,
    /// CSV: the quote character.
    pub quote: u8,
    /// CSV: the escape character inside quoted fields.
    pub escape: u8,
}

impl CopyOptions {
    fn defaults(format: CopyFormat) -> CopyOptions {
        match format {
            CopyFormat::Text => CopyOptions {
                format,
                delimiter: b'\t',
                null: "\\N".into(),
                header: false,
                quote: b'"',
                escape: b'"',
            },
            CopyFormat::Csv => CopyOptions {
                format,
                delimiter: b',',
                null: String::new(),
                header: false,
                quote: b'"',
                escape: b'"',
            },
        }
    }
}

/// A `COPY ... FROM STDIN` statement, checked for what tandem supports.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyFromStdin {
    /// The table.
    pub table: ObjectName,
    /// The listed columns (empty: all visible columns in order).
    pub columns: Vec<String>,
    /// Format options.
    pub options: CopyOptions,
}

/// The COPY statement's table, columns and options; `None` when `stmt` is not a COPY.
pub fn from_stdin(stmt: &pg::Statement) -> Option<Result<CopyFromStdin>> {
    let pg::Statement::Copy {
        source,
        to,
        target,
        options,
        legacy_options,
        payload,
    } = stmt
    else {
        return None;
    };
    Some(check(
        source,
        *to,
        target,
        options,
        legacy_options,
        payload.is_some(),
    ))
}

fn single_byte(what: &str, c: char) -> Result<u8> {
    u8::try_from(c).ok().filter(u8::is_ascii).ok_or_else(|| {
        SqlError::unsupported(format!("COPY {what} must be a single one-byte character"))
    })
}

fn check(
    source: &pg::CopySource,
    to: bool,
    target: &pg::CopyTarget,
    options: &[CopyOption],
    legacy: &[CopyLegacyOption],
    inline: bool,
) -> Result<CopyFromStdin> {
    let pg::CopySource::Table {
        table_name,
        columns,
    } = source
    else {
        return Err(SqlError::unsupported("COPY (query) TO"));
    };
    if to {
        return Err(SqlError::unsupported("COPY ... TO"));
    }
    if !matches!(target, pg::CopyTarget::Stdin) {
        return Err(SqlError::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            "COPY from a file or program is not allowed; use COPY ... FROM STDIN (psql: \\copy)",
        ));
    }
    if inline {
        return Err(SqlError::unsupported(
            "COPY data inline in the query string; send it as CopyData after the statement",
        ));
    }
    // The format first: the other options' defaults depend on it.
    let mut format = CopyFormat::Text;
    for o in options {
        if let CopyOption::Format(f) = o {
            format = match f.value.to_ascii_lowercase().as_str() {
                "text" => CopyFormat::Text,
                "csv" => CopyFormat::Csv,
                "binary" => return Err(SqlError::unsupported("COPY ... FORMAT binary")),
                other => {
                    return Err(SqlError::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        format!("COPY format \"{other}\" not recognized"),
                    ));
                }
            };
        }
    }
    for o in legacy {
        match o {
            CopyLegacyOption::Csv(_) => format = CopyFormat::Csv,
            CopyLegacyOption::Binary => {
                return Err(SqlError::unsupported("COPY ... BINARY"));
            }
            _ => {}
        }
    }
    let mut opts = CopyOptions::defaults(format);
    let csv_only = |what: &str| -> Result<()> {
        if format == CopyFormat::Csv {
            Ok(())
        } else {
            Err(SqlError::unsupported(format!(
                "COPY {what} is available only in CSV mode"
            )))
        }
    };
    for o in options {
        match o {
            CopyOption::Format(_) => {}
            // FREEZE is a storage hint in PostgreSQL; rows are always visible at commit here.
            CopyOption::Freeze(_) => {}
            CopyOption::Delimiter(c) => opts.delimiter = single_byte("delimiter", *c)?,
            CopyOption::Null(s) => opts.null = s.clone(),
            CopyOption::Header(h) => opts.header = *h,
            CopyOption::Quote(c) => {
                csv_only("quote")?;
                opts.quote = single_byte("quote", *c)?;
            }
            CopyOption::Escape(c) => {
                csv_only("escape")?;
                opts.escape = single_byte("escape", *c)?;
            }
            CopyOption::Encoding(e) => {
                let e = e.to_ascii_uppercase().replace(['-', '_'], "");
                if e != "UTF8" {
                    return Err(SqlError::unsupported(format!(
                        "COPY ENCODING '{e}' (only UTF8)"
                    )));
                }
            }
            other => return Err(SqlError::unsupported(format!("COPY option {other}"))),
        }
    }
    for o in legacy {
        match o {
            CopyLegacyOption::Csv(csv) => {
                for c in csv {
                    match c {
                        CopyLegacyCsvOption::Header => opts.header = true,
                        CopyLegacyCsvOption::Quote(q) => opts.quote = single_byte("quote", *q)?,
                        CopyLegacyCsvOption::Escape(e) => opts.escape = single_byte("escape", *e)?,
                        other => {
                            return Err(SqlError::unsupported(format!("COPY option {other}")));
                        }
                    }
                }
            }
            CopyLegacyOption::Delimiter(c) => opts.delimiter = single_byte("delimiter", *c)?,
            CopyLegacyOption::Null(s) => opts.null = s.clone(),
            CopyLegacyOption::Header => opts.header = true,
            other => return Err(SqlError::unsupported(format!("COPY option {other}"))),
        }
    }
    if matches!(opts.delimiter, b'\r' | b'\n')
        || (format == CopyFormat::Text && opts.delimiter == b'\\')
    {
        return Err(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "COPY delimiter cannot be newline, carriage return or backslash",
        ));
    }
    if format == CopyFormat::Csv && opts.delimiter == opts.quote {
        return Err(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "COPY delimiter and quote must be different",
        ));
    }
    Ok(CopyFromStdin {
        table: table_name.clone(),
        columns: columns
            .iter()
            .map(|c| super::expr::normalize(&c.value, c.quote_style.is_some()))
            .collect(),
        options: opts,
    })
}

/// One decoded record: a text field per column, `None` for NULL.
pub type CopyRow = Vec<Option<String>>;

/// Turns the client's CopyData into rows of `columns` fields each.
#[derive(Debug)]
pub struct CopyDecoder {
    opts: CopyOptions,
    columns: usize,
    /// Bytes not yet part of a complete record.
    pending: Vec<u8>,
    /// 1-based line number of the first byte of `pending` (for error messages).
    line: u64,
    /// The header line is still to be skipped.
    skip_header: bool,
    /// `\.` was seen: what follows is ignored.
    ended: bool,
    rows: Vec<CopyRow>,
    /// Approximate bytes of `rows`.
    held: u64,
}

/// Approximate bytes of a decoded row (the strings and their headers).
fn row_bytes(row: &CopyRow) -> u64 {
    24 + row
        .iter()
        .map(|f| 24 + f.as_ref().map_or(0, |s| s.len() as u64))
        .sum::<u64>()
}

impl CopyDecoder {
    /// A decoder for rows of `columns` fields.
    pub fn new(opts: CopyOptions, columns: usize) -> CopyDecoder {
        CopyDecoder {
            skip_header: opts.header,
            opts,
            columns,
            pending: Vec::new(),
            line: 1,
            ended: false,
            rows: Vec::new(),
            held: 0,
        }
    }

    /// Approximate bytes the decoder holds (rows decoded so far and the incomplete record), which
    /// the connection charges to the node's SQL memory as data arrives.
    pub fn memory(&self) -> u64 {
        self.held + self.pending.len() as u64
    }

    /// Rows decoded so far.
    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Drops every row and ignores the rest of the data (the COPY failed).
    pub fn discard(&mut self) {
        self.rows = Vec::new();
        self.pending = Vec::new();
        self.held = 0;
        self.ended = true;
    }

    /// Decodes the complete records in `data` (plus what earlier calls left over).
    pub fn feed(&mut self, data: &[u8]) -> Result<()> {
        if self.ended {
            return Ok(());
        }
        self.pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(end) = self.record_end(start) {
            // `end` is the index of the record's terminating '\n'.
            let record = self.pending[start..end].to_vec();
            let lines = 1 + record.iter().filter(|b| **b == b'\n').count() as u64;
            self.record(&record)?;
            self.line += lines;
            start = end + 1;
            if self.ended {
                break;
            }
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// The rows, after the last CopyData (a last record without a newline counts).
    pub fn finish(mut self) -> Result<Vec<CopyRow>> {
        if !self.ended && !self.pending.is_empty() {
            let record = std::mem::take(&mut self.pending);
            self.record(&record)?;
        }
        Ok(self.rows)
    }

    /// The end of the record starting at `start` (its '\n'), if complete.
    fn record_end(&self, start: usize) -> Option<usize> {
        match self.opts.format {
            CopyFormat::Text => self.pending[start..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|i| start + i),
            CopyFormat::Csv => csv_record_end(&self.pending, start, &self.opts),
        }
    }

    fn error(&self, state: SqlState, msg: impl std::fmt::Display) -> SqlError {
        SqlError::new(state, format!("COPY line {}: {msg}", self.line))
    }

    fn record(&mut self, raw: &[u8]) -> Result<()> {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw == b"\\." {
            self.ended = true;
            return Ok(());
        }
        if self.skip_header {
            self.skip_header = false;
            return Ok(());
        }
        let fields = match self.opts.format {
            CopyFormat::Text => self.text_fields(raw)?,
            CopyFormat::Csv => self.csv_fields(raw)?,
        };
        if fields.len() < self.columns {
            return Err(self.error(
                BAD_COPY_FILE_FORMAT,
                format!(
                    "missing data for column {} (expected {} fields, got {})",
                    fields.len() + 1,
                    self.columns,
                    fields.len()
                ),
            ));
        }
        if fields.len() > self.columns {
            return Err(self.error(
                BAD_COPY_FILE_FORMAT,
                format!(
                    "extra data after last expected column (expected {} fields, got {})",
                    self.columns,
                    fields.len()
                ),
            ));
        }
        self.held += row_bytes(&fields);
        self.rows.push(fields);
        Ok(())
    }

    fn utf8(&self, bytes: Vec<u8>) -> Result<String> {
        String::from_utf8(bytes)
            .map_err(|_| self.error(BAD_ENCODING, "invalid byte sequence for encoding \"UTF8\""))
    }

    /// Text format: split on unescaped delimiters, compare with the NULL string, unescape.
    fn text_fields(&self, raw: &[u8]) -> Result<CopyRow> {
        let mut fields = Vec::new();
        let mut field_start = 0;
        let mut i = 0;
        loop {
            let at_end = i >= raw.len();
            if at_end || raw[i] == self.opts.delimiter {
                let f = &raw[field_start..i.min(raw.len())];
                fields.push(if f == self.opts.null.as_bytes() {
                    None
                } else {
                    Some(self.utf8(unescape_text(f))?)
                });
                if at_end {
                    break;
                }
                field_start = i + 1;
            } else if raw[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        Ok(fields)
    }

    /// CSV: quoted fields keep delimiters, newlines and doubled quotes; an unquoted field equal
    /// to the NULL string is NULL.
    fn csv_fields(&self, raw: &[u8]) -> Result<CopyRow> {
        let (q, esc, delim) = (self.opts.quote, self.opts.escape, self.opts.delimiter);
        let mut fields = Vec::new();
        let mut i = 0;
        loop {
            let mut value = Vec::new();
            let mut quoted = false;
            let mut unquoted_part = Vec::new();
            while i < raw.len() && raw[i] != delim {
                if raw[i] == q {
                    quoted = true;
                    i += 1;
                    loop {
                        if i >= raw.len() {
                            return Err(
                                self.error(BAD_COPY_FILE_FORMAT, "unterminated CSV quoted field")
                            );
                        }
                        let b = raw[i];
                        if b == esc && i + 1 < raw.len() && (raw[i + 1] == q || raw[i + 1] == esc) {
                            // With escape == quote this is the doubled quote `""`.
                            if esc != q || raw[i + 1] == q {
                                value.push(raw[i + 1]);
                                i += 2;
                                continue;
                            }
                        }
                        if b == q {
                            i += 1;
                            break;
                        }
                        value.push(b);
                        i += 1;
                    }
                } else {
                    value.push(raw[i]);
                    unquoted_part.push(raw[i]);
                    i += 1;
                }
            }
            let is_null = !quoted && unquoted_part == self.opts.null.as_bytes();
            fields.push(if is_null {
                None
            } else {
                Some(self.utf8(value)?)
            });
            if i >= raw.len() {
                break;
            }
            i += 1; // the delimiter
        }
        Ok(fields)
    }
}

/// CSV: the '\n' that ends the record starting at `start`, skipping newlines inside quotes.
fn csv_record_end(buf: &[u8], start: usize, opts: &CopyOptions) -> Option<usize> {
    let mut in_quotes = false;
    let mut i = start;
    while i < buf.len() {
        let b = buf[i];
        if in_quotes {
            if b == opts.escape && opts.escape != opts.quote && i + 1 < buf.len() {
                if buf[i + 1] == opts.quote || buf[i + 1] == opts.escape {
                    i += 2;
                    continue;
                }
            } else if b == opts.quote {
                // A doubled quote toggles out and straight back in.
                in_quotes = false;
            }
        } else if b == opts.quote {
            in_quotes = true;
        } else if b == b'\n' {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Undoes the text format's backslash escapes.
fn unescape_text(f: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(f.len());
    let mut i = 0;
    while i < f.len() {
        if f[i] != b'\\' || i + 1 >= f.len() {
            out.push(f[i]);
            i += 1;
            continue;
        }
        let c = f[i + 1];
        i += 2;
        match c {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                let mut n = 1;
                while n < 3 && i < f.len() && (b'0'..=b'7').contains(&f[i]) {
                    v = v * 8 + u32::from(f[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push((v & 0xFF) as u8);
            }
            b'x' if i < f.len() && f[i].is_ascii_hexdigit() => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 && i < f.len() && f[i].is_ascii_hexdigit() {
                    v = v * 16 + char::from(f[i]).to_digit(16).unwrap_or(0);
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> CopyOptions {
        CopyOptions::defaults(CopyFormat::Text)
    }

    fn csv() -> CopyOptions {
        CopyOptions::defaults(CopyFormat::Csv)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn text_rows_split_across_messages() {
        let mut d = CopyDecoder::new(text(), 3);
        d.feed(b"1\tab").unwrap();
        d.feed(b"c\t\\N\n2\t\\t\\\\x\\101\\x42\tz\r\n").unwrap();
        d.feed(b"\\.\nignored\n").unwrap();
        let rows = d.finish().unwrap();
        assert_eq!(
            rows,
            vec![
                vec![s("1"), s("abc"), None],
                vec![s("2"), s("\t\\xAB"), s("z")],
            ]
        );
    }

    #[test]
    fn text_escaped_delimiter_and_last_line_without_newline() {
        let mut d = CopyDecoder::new(text(), 2);
        d.feed(b"a\\\tb\tc").unwrap();
        assert_eq!(d.finish().unwrap(), vec![vec![s("a\tb"), s("c")]]);
    }

    #[test]
    fn wrong_field_counts_name_the_line() {
        let mut d = CopyDecoder::new(text(), 2);
        d.feed(b"1\t2\n3\n").unwrap_err();
        let mut d = CopyDecoder::new(text(), 2);
        let e = d.feed(b"1\t2\n3\t4\t5\n").unwrap_err();
        assert_eq!(e.state, BAD_COPY_FILE_FORMAT);
        assert!(e.message.contains("line 2"), "{}", e.message);
        assert!(e.message.contains("extra data"), "{}", e.message);
    }

    #[test]
    fn csv_quotes_nulls_and_embedded_newlines() {
        let mut o = csv();
        o.header = true;
        let mut d = CopyDecoder::new(o, 3);
        d.feed(b"id,name,note\n1,\"a,\"\"b\"\"\",\n2,\"\",\"line1\n")
            .unwrap();
        assert_eq!(d.rows(), 1);
        d.feed(b"line2\"\n").unwrap();
        let rows = d.finish().unwrap();
        assert_eq!(
            rows,
            vec![
                vec![s("1"), s("a,\"b\""), None],
                vec![s("2"), s(""), s("line1\nline2")],
            ]
        );
    }

    #[test]
    fn csv_unterminated_quote_is_an_error() {
        let mut d = CopyDecoder::new(csv(), 1);
        d.feed(b"\"abc").unwrap();
        let e = d.finish().unwrap_err();
        assert_eq!(e.state, BAD_COPY_FILE_FORMAT);
    }

    #[test]
    fn invalid_utf8_is_22021() {
        let mut d = CopyDecoder::new(text(), 1);
        let e = d.feed(b"\xff\xfe\n").unwrap_err();
        assert_eq!(e.state, BAD_ENCODING);
    }

    #[test]
    fn options_from_the_statement() {
        let parse = |sql: &str| {
            let stmts = sqlparser::parser::Parser::parse_sql(
                &sqlparser::dialect::PostgreSqlDialect {},
                sql,
            )
            .unwrap();
            from_stdin(&stmts[0]).unwrap()
        };
        let c =
            parse("COPY t (a, \"B\") FROM STDIN WITH (FORMAT csv, HEADER, DELIMITER ';')").unwrap();
        assert_eq!(c.columns, vec!["a".to_string(), "B".to_string()]);
        assert_eq!(c.options.format, CopyFormat::Csv);
        assert!(c.options.header);
        assert_eq!(c.options.delimiter, b';');
        let c = parse("COPY pgbench_accounts FROM STDIN WITH (FREEZE)").unwrap();
        assert_eq!(c.options, text());
        assert_eq!(
            parse("COPY t FROM STDIN WITH (FORMAT binary)")
                .unwrap_err()
                .state,
            SqlState::FEATURE_NOT_SUPPORTED
        );
        assert_eq!(
            parse("COPY t FROM '/etc/passwd'").unwrap_err().state,
            SqlState::INSUFFICIENT_PRIVILEGE
        );
        assert_eq!(
            parse("COPY t FROM STDIN WITH (QUOTE '|')")
                .unwrap_err()
                .state,
            SqlState::FEATURE_NOT_SUPPORTED
        );
    }
}
