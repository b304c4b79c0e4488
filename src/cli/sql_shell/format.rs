//! Result formatting: the table (cockroach's layout, with wide characters and tabs measured),
//! TSV and CSV outputs of `tandem sql`. Pure functions over a [`ResultSet`].

use super::*;

/// One statement's result rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSet {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of text values (`None` = NULL).
    pub rows: Vec<Vec<Option<String>>>,
}

/// Formats a result in `format`.
pub fn format_result(format: OutputFormat, rs: &ResultSet) -> String {
    match format {
        OutputFormat::Table => format_table(&rs.columns, &rs.rows),
        OutputFormat::Tsv => format_delimited(&rs.columns, &rs.rows, '\t'),
        OutputFormat::Csv => format_delimited(&rs.columns, &rs.rows, ','),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Align {
    Left,
    Right,
    Center,
}

pub(super) fn looks_numeric(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.parse::<f64>().is_ok()
}

/// Column alignment from the values (the simple protocol carries no types): right for numbers,
/// centred for booleans, otherwise left, as cockroach aligns by type.
pub(super) fn column_alignment(rows: &[Vec<Option<String>>], col: usize) -> Align {
    let mut values = rows
        .iter()
        .filter_map(|r| r.get(col).and_then(|v| v.as_deref()))
        .peekable();
    if values.peek().is_none() {
        return Align::Left;
    }
    let values: Vec<&str> = values.collect();
    if values.iter().all(|v| looks_numeric(v)) {
        Align::Right
    } else if values.iter().all(|v| *v == "true" || *v == "false") {
        Align::Center
    } else {
        Align::Left
    }
}

/// Expands tabs like cockroach's tabwriter (cells of at least 4 columns, 1 space of padding),
/// aligning tab-separated cells across the lines of one value.
pub(super) fn expand_tabs(lines: Vec<String>) -> Vec<String> {
    if !lines.iter().any(|l| l.contains('\t')) {
        return lines;
    }
    let split: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let max_cells = split.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; max_cells];
    for cells in &split {
        for (i, cell) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            widths[i] = widths[i].max((cell.width() + 1).max(4));
        }
    }
    split
        .iter()
        .map(|cells| {
            let mut out = String::new();
            let last = cells.len().saturating_sub(1);
            for (i, cell) in cells.iter().enumerate() {
                out.push_str(cell);
                if i < last {
                    out.push_str(&" ".repeat(widths[i].saturating_sub(cell.width())));
                }
            }
            out
        })
        .collect()
}

pub(super) fn cell_lines(value: &str) -> Vec<String> {
    expand_tabs(
        value
            .split('\n')
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect(),
    )
}

pub(super) fn pad(text: &str, width: usize, align: Align) -> String {
    let gap = width.saturating_sub(text.width());
    let (left, right) = match align {
        Align::Left => (0, gap),
        Align::Right => (gap, 0),
        Align::Center => (gap / 2, gap - gap / 2),
    };
    format!("{}{}{}", " ".repeat(left), text, " ".repeat(right))
}

/// Appends one logical table row (several lines when a value has several lines).
pub(super) fn render_table_row(
    out: &mut String,
    cells: &[Vec<String>],
    widths: &[usize],
    aligns: &[Align],
) {
    let height = cells.iter().map(Vec::len).max().unwrap_or(1);
    for line in 0..height {
        let mut text = String::from(" ");
        for (i, lines) in cells.iter().enumerate() {
            if i > 0 {
                text.push('|');
            }
            text.push(' ');
            let cell = lines.get(line).map(String::as_str).unwrap_or("");
            let width = widths.get(i).copied().unwrap_or(0);
            let align = aligns.get(i).copied().unwrap_or(Align::Left);
            text.push_str(&pad(cell, width, align));
            text.push(' ');
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
}

/// Formats rows as cockroach's table: centred headers, a `---+---` separator, rows (numbers
/// right-aligned, multi-line values on several lines, NULL as `NULL`), then `(N rows)`.
pub fn format_table(columns: &[String], rows: &[Vec<Option<String>>]) -> String {
    let mut out = String::new();
    if columns.is_empty() {
        out.push_str("--\n");
    } else {
        let header: Vec<Vec<String>> = columns.iter().map(|c| cell_lines(c)).collect();
        let body: Vec<Vec<Vec<String>>> = rows
            .iter()
            .map(|row| {
                (0..columns.len())
                    .map(|i| cell_lines(row.get(i).and_then(|v| v.as_deref()).unwrap_or("NULL")))
                    .collect()
            })
            .collect();
        let aligns: Vec<Align> = (0..columns.len())
            .map(|i| column_alignment(rows, i))
            .collect();
        let mut widths = vec![0usize; columns.len()];
        for cells in std::iter::once(&header).chain(body.iter()) {
            for (i, lines) in cells.iter().enumerate() {
                for line in lines {
                    widths[i] = widths[i].max(line.width());
                }
            }
        }
        let header_aligns = vec![Align::Center; columns.len()];
        render_table_row(&mut out, &header, &widths, &header_aligns);
        let separator: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        out.push('-');
        out.push_str(&separator.join("+"));
        out.push_str("-\n");
        for cells in &body {
            render_table_row(&mut out, cells, &widths, &aligns);
        }
    }
    let n = rows.len();
    out.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
    out
}

/// Quotes a CSV/TSV field when needed (Go `encoding/csv` rules, as cockroach): it contains the
/// delimiter, a quote, CR or LF, starts with whitespace, or is `\.`.
pub(super) fn delimited_field(value: &str, delimiter: char) -> String {
    let needs_quotes = value == "\\."
        || value.contains(delimiter)
        || value.contains(['"', '\r', '\n'])
        || value.chars().next().is_some_and(char::is_whitespace);
    if needs_quotes {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// Formats rows as delimiter-separated values with a header line (no row count), NULL as
/// `NULL`; a result without columns prints `# no columns` and `# empty` per row.
pub fn format_delimited(
    columns: &[String],
    rows: &[Vec<Option<String>>],
    delimiter: char,
) -> String {
    let mut out = String::new();
    if columns.is_empty() {
        out.push_str("# no columns\n");
        for _ in rows {
            out.push_str("# empty\n");
        }
        return out;
    }
    let sep = delimiter.to_string();
    let header: Vec<String> = columns
        .iter()
        .map(|c| delimited_field(c, delimiter))
        .collect();
    out.push_str(&header.join(&sep));
    out.push('\n');
    for row in rows {
        let fields: Vec<String> = (0..columns.len())
            .map(|i| {
                delimited_field(
                    row.get(i).and_then(|v| v.as_deref()).unwrap_or("NULL"),
                    delimiter,
                )
            })
            .collect();
        out.push_str(&fields.join(&sep));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn table_like_cockroach() {
        // cockroach: `values (123, '123'), (456, e'456\nfoobar')`
        let out = format_table(
            &cols(&["column1", "column2"]),
            &[
                row(&[Some("123"), Some("123")]),
                row(&[Some("456"), Some("456\nfoobar")]),
            ],
        );
        assert_eq!(
            out,
            "  column1 | column2\n\
             ----------+----------\n\
             \x20     123 | 123\n\
             \x20     456 | 456\n\
             \x20         | foobar\n\
             (2 rows)\n"
        );
        let out = format_table(&cols(&["a", "b"]), &[row(&[Some("1"), Some("x")])]);
        assert_eq!(out, "  a | b\n----+----\n  1 | x\n(1 row)\n");
        // No rows.
        assert_eq!(format_table(&cols(&["x"]), &[]), "  x\n-----\n(0 rows)\n");
        // No columns.
        assert_eq!(format_table(&[], &[vec![], vec![]]), "--\n(2 rows)\n");
    }

    #[test]
    fn table_headers_centre_and_nulls() {
        let out = format_table(
            &cols(&["id", "name", "ok"]),
            &[
                row(&[Some("1"), Some("Alice"), Some("true")]),
                row(&[Some("10"), None, Some("false")]),
            ],
        );
        assert_eq!(
            out,
            "  id | name  |  ok\n\
             -----+-------+--------\n\
             \x20  1 | Alice | true\n\
             \x20 10 | NULL  | false\n\
             (2 rows)\n"
        );
    }

    #[test]
    fn table_wide_chars_and_tabs() {
        let out = format_table(
            &cols(&["s"]),
            &[row(&[Some("κόσμε")]), row(&[Some("日本")])],
        );
        assert_eq!(out, "    s\n---------\n  κόσμε\n  日本\n(2 rows)\n");
        let out = format_table(
            &cols(&["s"]),
            &[row(&[Some("a\tb\tc\n12\t123123213\t12313")])],
        );
        assert_eq!(
            out,
            "           s\n\
             -----------------------\n\
             \x20 a   b         c\n\
             \x20 12  123123213 12313\n\
             (1 row)\n"
        );
    }

    #[test]
    fn tsv_and_csv_quoting() {
        let columns = cols(&["s", "t"]);
        let rows = vec![
            row(&[Some("a b"), Some("a, b")]),
            row(&[Some("\"a\""), Some("x\ny")]),
            row(&[Some("a\tb"), None]),
            row(&[Some(" lead"), Some("")]),
        ];
        assert_eq!(
            format_delimited(&columns, &rows, '\t'),
            "s\tt\na b\ta, b\n\"\"\"a\"\"\"\t\"x\ny\"\n\"a\tb\"\tNULL\n\" lead\"\t\n"
        );
        assert_eq!(
            format_delimited(&columns, &rows, ','),
            "s,t\na b,\"a, b\"\n\"\"\"a\"\"\",\"x\ny\"\na\tb,NULL\n\" lead\",\n"
        );
        assert_eq!(
            format_delimited(&[], &[vec![]], ','),
            "# no columns\n# empty\n"
        );
        assert_eq!(
            format_result(
                OutputFormat::Tsv,
                &ResultSet {
                    columns: cols(&["x"]),
                    rows: vec![]
                }
            ),
            "x\n"
        );
    }
}
