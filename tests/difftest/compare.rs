//! Comparison of result sets from tandem and PostgreSQL. Values arrive as text (the simple
//! query protocol); PostgreSQL's column type decides how a column is compared:
//!
//! - FLOAT4/FLOAT8: as numbers with a relative tolerance of 1e-9 (sums in a different order),
//!   or an absolute one of 1e-5 (the residue of a different summation order after a
//!   cancellation: a few ulps of the largest generated float, 1e10);
//!   `Infinity`/`+Inf` and `NaN` spellings are equal.
//! - NUMERIC: as decimals without trailing fractional zeros (display scales differ, e.g. of
//!   `avg`); values with 16 or more significant digits (quotients, whose precision differs by
//!   design) agree when within a relative 1e-12.
//! - BOOL: `t`/`true` and `f`/`false` are equal.
//! - JSON/JSONB: as parsed JSON (object key order in the text differs by design).
//! - anything else: exact text.
//!
//! Rows are compared in order when the query's ORDER BY determines it, else as multisets
//! (sorted by a tolerant key, then a quadratic matching if the sorted pairing fails).
//! Column types are compared by OID with INT2/INT4 counted as INT8 (CockroachDB's INT is INT8,
//! so integer-valued expressions are INT8 there).

/// How a column's values compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Float,
    Numeric,
    Bool,
    Json,
    Exact,
}

/// The comparison kind of a PostgreSQL type OID.
pub fn kind_of(oid: u32) -> Kind {
    match oid {
        700 | 701 => Kind::Float,
        1700 => Kind::Numeric,
        16 => Kind::Bool,
        114 | 3802 => Kind::Json,
        _ => Kind::Exact,
    }
}

/// The OID with PostgreSQL's narrower integers widened to INT8.
pub fn normalize_oid(oid: u32) -> u32 {
    match oid {
        21 | 23 => 20,
        _ => oid,
    }
}

use std::collections::HashMap;

/// A text cell; `None` is NULL.
pub type Cell = Option<String>;
pub type Row = Vec<Cell>;

fn parse_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" | "inf" | "+inf" => Some(f64::INFINITY),
        "-infinity" | "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// A decimal's canonical text: no `+`, no trailing fractional zeros, no `-0`.
pub fn canonical_decimal(s: &str) -> String {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body.contains(['e', 'E']) || body.eq_ignore_ascii_case("nan") {
        return s.to_ascii_lowercase();
    }
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let mut out = String::new();
    if neg && !(int == "0" && frac.is_empty()) {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

fn significant_digits(canon: &str) -> usize {
    let digits: String = canon.chars().filter(|c| c.is_ascii_digit()).collect();
    digits.trim_start_matches('0').len()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let scale = a.abs().max(b.abs());
    (a - b).abs() <= rel * scale || (a - b).abs() < 1e-300
}

/// The absolute difference under which two floats are equal (see [`value_eq`]).
const FLOAT_RESIDUE: f64 = 1e-5;

/// Whether two non-NULL values of a column of `kind` are equal.
pub fn value_eq(kind: Kind, a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match kind {
        Kind::Float => match (parse_float(a), parse_float(b)) {
            // Rounding residue of a different summation order near zero (a variance of equal
            // values is 0 in one and 1e-34 in the other) counts as equal, and so does the
            // residue a cancellation leaves: the generated floats reach 1e10, whose ulp is
            // 1.9e-6, so `1e10 - sum(f)` over rows summed in another order (primary key order
            // here, insertion order there) differs by a few ulps of 1e10 on a result near 12.3.
            (Some(x), Some(y)) => close(x, y, 1e-9) || (x - y).abs() < FLOAT_RESIDUE,
            _ => false,
        },
        Kind::Numeric => {
            let (ca, cb) = (canonical_decimal(a), canonical_decimal(b));
            if ca == cb {
                return true;
            }
            if significant_digits(&ca).max(significant_digits(&cb)) < 16 {
                return false;
            }
            match (ca.parse::<f64>(), cb.parse::<f64>()) {
                (Ok(x), Ok(y)) => close(x, y, 1e-12),
                _ => false,
            }
        }
        Kind::Bool => bool_text(a).is_some() && bool_text(a) == bool_text(b),
        Kind::Json => match (
            serde_json::from_str::<serde_json::Value>(a),
            serde_json::from_str::<serde_json::Value>(b),
        ) {
            (Ok(x), Ok(y)) => json_eq(&x, &y),
            _ => false,
        },
        Kind::Exact => false,
    }
}

fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            canonical_decimal(&x.to_string()) == canonical_decimal(&y.to_string())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn bool_text(s: &str) -> Option<bool> {
    match s {
        "t" | "true" | "TRUE" | "True" => Some(true),
        "f" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

pub fn cell_eq(kind: Kind, a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => value_eq(kind, x, y),
        _ => false,
    }
}

fn row_eq(kinds: &[Kind], a: &Row, b: &Row) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .enumerate()
            .all(|(i, (x, y))| cell_eq(kinds.get(i).copied().unwrap_or(Kind::Exact), x, y))
}

/// A sort key under which tolerant-equal rows (almost always) sort together.
/// A row's sort key: per column (NULL 0 / number 1 / text 2, a number's total-order bits, text).
type SortKey = Vec<(u8, i64, String)>;

fn sort_key(kinds: &[Kind], row: &Row) -> SortKey {
    // Numbers sort by value (a float's total order), so that tolerant-equal values of the two
    // sides take the same place among the others; a coarse text key (7 digits) made every value
    // near 2147483644 one key, and the stable order within it paired 2147483905 with 2147483603.
    let num = |f: f64| {
        let b = f.to_bits() as i64;
        (1, b ^ (((b >> 63) as u64) >> 1) as i64, String::new())
    };
    row.iter()
        .enumerate()
        .map(|(i, c)| match c {
            None => (0, 0, String::new()),
            Some(v) => match kinds.get(i).copied().unwrap_or(Kind::Exact) {
                Kind::Float => parse_float(v).map_or((2, 0, v.clone()), num),
                Kind::Numeric => {
                    let c = canonical_decimal(v);
                    if significant_digits(&c) >= 16 {
                        c.parse::<f64>().map_or((2, 0, c), num)
                    } else {
                        (2, 0, c)
                    }
                }
                Kind::Bool => (2, 0, bool_text(v).map_or(v.clone(), |b| b.to_string())),
                Kind::Json => (
                    2,
                    0,
                    serde_json::from_str::<serde_json::Value>(v)
                        .map_or(v.clone(), |j| j.to_string()),
                ),
                Kind::Exact => (2, 0, v.clone()),
            },
        })
        .collect()
}

/// Whether the two row lists agree (in order when `ordered`, else as multisets).
pub fn rows_eq(kinds: &[Kind], a: &[Row], b: &[Row], ordered: bool) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if ordered {
        return a.iter().zip(b).all(|(x, y)| row_eq(kinds, x, y));
    }
    let mut sa: Vec<(SortKey, &Row)> = a.iter().map(|r| (sort_key(kinds, r), r)).collect();
    let mut sb: Vec<(SortKey, &Row)> = b.iter().map(|r| (sort_key(kinds, r), r)).collect();
    sa.sort_by(|x, y| x.0.cmp(&y.0));
    sb.sort_by(|x, y| x.0.cmp(&y.0));
    if sa.iter().zip(&sb).all(|(x, y)| row_eq(kinds, x.1, y.1)) {
        return true;
    }
    // Tolerant equality is not transitive with the sort: identical rows pair up first (else
    // `1e10 + 3` could take the partner of `9999999997.75`, equal within the float tolerance,
    // and leave its own partner unmatched), then the rest match greedily.
    let mut exact: HashMap<&Row, usize> = HashMap::new();
    for y in b {
        *exact.entry(y).or_default() += 1;
    }
    let mut rest_a = Vec::new();
    for x in a {
        match exact.get_mut(x) {
            Some(n) if *n > 0 => *n -= 1,
            _ => rest_a.push(x),
        }
    }
    let mut rest_b: Vec<&Row> = Vec::new();
    for y in b {
        if let Some(n) = exact.get_mut(y)
            && *n > 0
        {
            *n -= 1;
            rest_b.push(y);
        }
    }
    if rest_a.len() > 3000 {
        return false;
    }
    let mut used = vec![false; rest_b.len()];
    'rows: for x in rest_a {
        for (j, y) in rest_b.iter().enumerate() {
            if !used[j] && row_eq(kinds, x, y) {
                used[j] = true;
                continue 'rows;
            }
        }
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: &[Option<&str>]) -> Row {
        v.iter().map(|c| c.map(str::to_string)).collect()
    }

    #[test]
    fn decimals_compare_by_value_and_quotients_with_tolerance() {
        assert_eq!(canonical_decimal("2.500"), "2.5");
        assert_eq!(canonical_decimal("-0.000"), "0");
        assert_eq!(canonical_decimal("100"), "100");
        assert!(value_eq(Kind::Numeric, "2.5000000000000000", "2.5"));
        assert!(!value_eq(Kind::Numeric, "2.5", "2.6"));
        assert!(value_eq(
            Kind::Numeric,
            "0.33333333333333333333",
            "0.3333333333333333333333333"
        ));
        assert!(!value_eq(Kind::Numeric, "0.3333", "0.33333333333333333333"));
    }

    #[test]
    fn floats_bools_and_json() {
        assert!(value_eq(Kind::Float, "0.30000000000000004", "0.3"));
        assert!(!value_eq(Kind::Float, "0.31", "0.3"));
        // 1e10 - (1e10 + 12.3) summed in two orders.
        assert!(value_eq(
            Kind::Float,
            "-12.30000114440918",
            "-12.299999237060547"
        ));
        assert!(!value_eq(Kind::Float, "0.00001", "0.00003"));
        assert!(value_eq(Kind::Float, "Infinity", "+Inf"));
        assert!(value_eq(Kind::Bool, "t", "true"));
        assert!(!value_eq(Kind::Bool, "t", "f"));
        assert!(value_eq(
            Kind::Json,
            r#"{"bb": 1, "a": [1.0]}"#,
            r#"{"a": [1.0], "bb": 1}"#
        ));
        assert!(!value_eq(Kind::Json, r#"{"a": 1}"#, r#"{"a": 2}"#));
        assert!(!value_eq(Kind::Exact, "a", "A"));
    }

    #[test]
    fn close_floats_pair_by_value_not_by_a_coarse_key() {
        // Every value is within the relative tolerance (2.1) of its neighbours but not of all.
        let vals = [
            "2147483642",
            "2147483644",
            "2147483603.598",
            "2147483905.6666665",
        ];
        let rows = |d: &str, order: &[usize]| -> Vec<Row> {
            order
                .iter()
                .map(|&i| row(&[Some(vals[i]), Some(d)]))
                .collect()
        };
        let kinds = [Kind::Float, Kind::Numeric];
        let a = rows("12345682.4", &[0, 1, 2, 3]);
        let b = rows("12345682.4000000000000000000", &[3, 2, 1, 0]);
        assert!(rows_eq(&kinds, &a, &b, false));
        let c = rows("12345682.4", &[0, 1, 2, 2]);
        assert!(!rows_eq(&kinds, &a, &c, false));
    }

    #[test]
    fn identical_rows_pair_up_before_tolerant_ones() {
        let row = |v: &str| vec![Some(v.to_string())];
        // Equal keys under the sort; each close (1e-9) to its neighbour but not beyond.
        let a = vec![
            row("9999999997.75"),
            row("10000000003"),
            row("10000000010.125"),
        ];
        let b = vec![
            row("10000000003"),
            row("10000000010.125"),
            row("9999999997.75"),
        ];
        assert!(rows_eq(&[Kind::Float], &a, &b, false));
        let c = vec![
            row("10000000003"),
            row("10000000010.125"),
            row("20000000000"),
        ];
        assert!(!rows_eq(&[Kind::Float], &a, &c, false));
        let d = vec![
            row("10000000003"),
            row("10000000010.125"),
            row("9999999998.75"),
        ];
        assert!(rows_eq(&[Kind::Float], &a, &d, false));
        // Also past the greedy pass's size limit.
        let many = |mut v: Vec<Row>| {
            v.extend((0..3000).map(|i| row(&i.to_string())));
            v
        };
        assert!(rows_eq(&[Kind::Float], &many(a.clone()), &many(b), false));
        assert!(!rows_eq(&[Kind::Float], &many(a), &many(c), false));
    }

    #[test]
    fn multisets_and_order() {
        let k = [Kind::Exact, Kind::Float];
        let a = vec![row(&[Some("x"), Some("1")]), row(&[None, Some("2.0")])];
        let b = vec![
            row(&[None, Some("2")]),
            row(&[Some("x"), Some("1.0000000000001")]),
        ];
        assert!(rows_eq(&k, &a, &b, false));
        assert!(!rows_eq(&k, &a, &b, true));
        let c = vec![row(&[None, Some("2")]), row(&[None, Some("2")])];
        assert!(!rows_eq(&k, &a, &c, false));
    }
}
