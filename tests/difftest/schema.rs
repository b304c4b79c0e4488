//! Random schemas and data for the differential tests: a few tables with random column types
//! (INT, FLOAT8, DECIMAL, STRING, BOOL, DATE, TIMESTAMP, JSONB), NULLs, single or composite
//! primary keys and secondary indexes, filled with values from small domains so that joins and
//! groups meet. Everything is rendered twice: once in tandem's (CockroachDB's) dialect and once
//! for PostgreSQL, where `INT` is written `BIGINT` (INT is INT8 in CockroachDB).
//!
//! Column names are tied to their type (`i1` is always INT, `s2` always STRING, ...) so that any
//! two tables sharing a name can be joined `USING` it.

use super::rng::Rng;

/// The column types the generator uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    Int,
    Float,
    Decimal,
    Text,
    Bool,
    Date,
    Timestamp,
    Jsonb,
}

impl Ty {
    /// The type's name in tandem.
    pub fn tandem(self) -> &'static str {
        match self {
            Ty::Int => "INT",
            Ty::Float => "FLOAT8",
            Ty::Decimal => "DECIMAL",
            Ty::Text => "STRING",
            Ty::Bool => "BOOL",
            Ty::Date => "DATE",
            Ty::Timestamp => "TIMESTAMP",
            Ty::Jsonb => "JSONB",
        }
    }

    /// The type's name in PostgreSQL (CockroachDB's INT is INT8).
    pub fn pg(self) -> &'static str {
        match self {
            Ty::Int => "INT8",
            Ty::Float => "FLOAT8",
            Ty::Decimal => "NUMERIC",
            Ty::Text => "TEXT",
            Ty::Bool => "BOOL",
            Ty::Date => "DATE",
            Ty::Timestamp => "TIMESTAMP",
            Ty::Jsonb => "JSONB",
        }
    }

    /// Whether the two systems agree on the type's ordering (JSONB orders differently).
    pub fn orderable(self) -> bool {
        self != Ty::Jsonb
    }

    pub fn numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Float | Ty::Decimal)
    }

    /// The prefix of column names of this type.
    fn prefix(self) -> &'static str {
        match self {
            Ty::Int => "i",
            Ty::Float => "f",
            Ty::Decimal => "d",
            Ty::Text => "s",
            Ty::Bool => "b",
            Ty::Date => "dt",
            Ty::Timestamp => "ts",
            Ty::Jsonb => "j",
        }
    }

    pub const ALL: [Ty; 8] = [
        Ty::Int,
        Ty::Float,
        Ty::Decimal,
        Ty::Text,
        Ty::Bool,
        Ty::Date,
        Ty::Timestamp,
        Ty::Jsonb,
    ];
}

/// A piece of SQL in both dialects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dual {
    /// For tandem.
    pub t: String,
    /// For PostgreSQL.
    pub p: String,
}

impl Dual {
    /// The same text for both.
    pub fn same(s: impl Into<String>) -> Dual {
        let s = s.into();
        Dual { t: s.clone(), p: s }
    }

    pub fn new(t: impl Into<String>, p: impl Into<String>) -> Dual {
        Dual {
            t: t.into(),
            p: p.into(),
        }
    }

    /// Joins duals with a separator.
    pub fn join(items: &[Dual], sep: &str) -> Dual {
        Dual {
            t: items
                .iter()
                .map(|d| d.t.as_str())
                .collect::<Vec<_>>()
                .join(sep),
            p: items
                .iter()
                .map(|d| d.p.as_str())
                .collect::<Vec<_>>()
                .join(sep),
        }
    }
}

/// Substitutes `args` for the `{}` of `fmt` in order.
pub fn fill<'a>(fmt: &str, mut args: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::with_capacity(fmt.len() + 32);
    let mut parts = fmt.split("{}");
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for part in parts {
        out.push_str(args.next().unwrap_or_default());
        out.push_str(part);
    }
    out
}

/// `dual!("{} + {}", a, b)`: fills the template with both dialects' texts of the arguments
/// (each argument is evaluated once).
macro_rules! dual {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {
        match [$(&$arg as &$crate::difftest::schema::Dual),*] {
            args => $crate::difftest::schema::Dual {
                t: $crate::difftest::schema::fill($fmt, args.iter().map(|d| d.t.as_str())),
                p: $crate::difftest::schema::fill($fmt, args.iter().map(|d| d.p.as_str())),
            },
        }
    };
}

/// One column.
#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub ty: Ty,
    pub not_null: bool,
}

/// One table with its rows (as SQL literals).
#[derive(Clone, Debug)]
pub struct Table {
    pub name: String,
    pub cols: Vec<Column>,
    /// Column positions of the primary key.
    pub pk: Vec<usize>,
    /// Column positions of each secondary index.
    pub indexes: Vec<Vec<usize>>,
    pub rows: Vec<Vec<Dual>>,
}

/// A set of tables.
#[derive(Clone, Debug)]
pub struct Schema {
    pub tables: Vec<Table>,
}

/// A literal of `ty` from a small domain (never NULL).
pub fn literal(rng: &mut Rng, ty: Ty) -> Dual {
    match ty {
        Ty::Int => int_literal(match rng.weighted(&[80, 12, 8]) {
            0 => rng.range(-3, 12),
            1 => rng.range(-1000, 1000),
            _ => *rng.pick(&[
                2147483647,
                -2147483648,
                4294967296,
                1_000_000_007,
                -99_999_999_999,
            ]),
        }),
        Ty::Float => {
            let v = *rng.pick(&[
                "0.5", "1.5", "-2.25", "3", "0", "10.125", "0.1", "-7", "1e10", "2.5", "1e-5",
                "123.456",
            ]);
            Dual::same(format!("{v}::FLOAT8"))
        }
        Ty::Decimal => {
            let v = *rng.pick(&[
                "1.25",
                "-3.5",
                "0",
                "100.000",
                "2.50",
                "0.001",
                "12345.6789",
                "7",
                "-0.5",
                "3.14159",
                "99.99",
                "1",
            ]);
            if v.contains('.') {
                Dual::same(v)
            } else {
                Dual::same(format!("{v}::DECIMAL"))
            }
        }
        Ty::Text => {
            let v = *rng.pick(&[
                "",
                "a",
                "ab",
                "B",
                "abc",
                " x ",
                "hello world",
                "a%b",
                "Z_1",
                "x,y",
                "aB",
                "b",
                "zz",
                "10",
                "Ab",
            ]);
            Dual::same(format!("'{v}'"))
        }
        Ty::Bool => Dual::same(if rng.chance(50) { "true" } else { "false" }),
        Ty::Date => {
            let day = rng.range(0, 40);
            let (y, m, d) = (2023 + day / 20, 1 + (day % 12), 1 + (day * 7) % 28);
            Dual::same(format!("DATE '{y:04}-{m:02}-{d:02}'"))
        }
        Ty::Timestamp => {
            let day = rng.range(0, 30);
            let frac = if rng.chance(20) { ".5" } else { "" };
            Dual::same(format!(
                "TIMESTAMP '2024-{:02}-{:02} {:02}:{:02}:{:02}{frac}'",
                1 + day % 12,
                1 + (day * 3) % 28,
                (day * 5) % 24,
                (day * 7) % 60,
                (day * 11) % 60
            ))
        }
        Ty::Jsonb => {
            let v = *rng.pick(&[
                r#"{"a": 1}"#,
                r#"[1, 2]"#,
                r#""s""#,
                r#"null"#,
                r#"{"a": {"b": [1, "x"]}, "c": true}"#,
                r#"3.5"#,
                r#"{"a": "x", "bb": 2}"#,
                r#"[]"#,
            ]);
            Dual::same(format!("'{v}'::JSONB"))
        }
    }
}

/// An integer literal: INT8 in CockroachDB; PostgreSQL would make it INT4, so it gets a cast
/// there (so that, e.g., `2147483647 + 1` does not overflow in PostgreSQL only).
pub fn int_literal(v: i64) -> Dual {
    if v < 0 {
        Dual::new(format!("({v})"), format!("({v})::INT8"))
    } else {
        Dual::new(v.to_string(), format!("{v}::INT8"))
    }
}

fn gen_table(rng: &mut Rng, idx: usize) -> Table {
    let mut cols = vec![Column {
        name: "k".into(),
        ty: Ty::Int,
        not_null: true,
    }];
    let composite = rng.chance(25);
    if composite {
        cols.push(Column {
            name: "k2".into(),
            ty: Ty::Int,
            not_null: true,
        });
    }
    let ncols = rng.range(2, 7) as usize;
    for _ in 0..ncols {
        let ty = *rng.pick(&[
            Ty::Int,
            Ty::Int,
            Ty::Float,
            Ty::Decimal,
            Ty::Text,
            Ty::Text,
            Ty::Bool,
            Ty::Date,
            Ty::Timestamp,
            Ty::Jsonb,
        ]);
        let name = format!("{}{}", ty.prefix(), rng.range(1, 2));
        if cols.iter().any(|c| c.name == name) {
            continue;
        }
        cols.push(Column {
            name,
            ty,
            not_null: rng.chance(15),
        });
    }
    let pk: Vec<usize> = if composite { vec![0, 1] } else { vec![0] };
    let mut indexes = Vec::new();
    for _ in 0..rng.range(0, 2) {
        let candidates: Vec<usize> = (pk.len()..cols.len())
            .filter(|i| cols[*i].ty != Ty::Jsonb)
            .collect();
        if candidates.is_empty() {
            break;
        }
        let mut idx_cols = vec![*rng.pick(&candidates)];
        if rng.chance(40) {
            let c = *rng.pick(&candidates);
            if !idx_cols.contains(&c) {
                idx_cols.push(c);
            }
        }
        if !indexes.contains(&idx_cols) {
            indexes.push(idx_cols);
        }
    }
    let nrows = match rng.weighted(&[10, 60, 25, 5]) {
        0 => 0,
        1 => rng.range(1, 12),
        2 => rng.range(12, 30),
        _ => rng.range(60, 150),
    } as usize;
    let mut rows = Vec::with_capacity(nrows);
    let mut keys = std::collections::HashSet::new();
    while rows.len() < nrows {
        let k = rng.range(-5, 3 * nrows as i64 + 5);
        let k2 = rng.range(0, 3);
        if !keys.insert((k, if composite { k2 } else { 0 })) {
            continue;
        }
        let mut row = vec![Dual::same(k.to_string())];
        if composite {
            row.push(Dual::same(k2.to_string()));
        }
        for c in &cols[pk.len()..] {
            if !c.not_null && rng.chance(15) {
                row.push(Dual::same("NULL"));
            } else {
                row.push(literal(rng, c.ty));
            }
        }
        rows.push(row);
    }
    Table {
        name: format!("t{idx}"),
        cols,
        pk,
        indexes,
        rows,
    }
}

impl Schema {
    /// A random schema of 2 to 4 tables.
    pub fn generate(rng: &mut Rng) -> Schema {
        let n = rng.range(2, 4) as usize;
        Schema {
            tables: (0..n).map(|i| gen_table(rng, i)).collect(),
        }
    }

    /// The statements that create and fill the tables (after dropping them).
    pub fn setup(&self) -> Vec<Dual> {
        let mut out = Vec::new();
        for t in &self.tables {
            out.push(Dual::same(format!("DROP TABLE IF EXISTS {}", t.name)));
            let cols_t: Vec<String> = t
                .cols
                .iter()
                .map(|c| {
                    let nn = if c.not_null { " NOT NULL" } else { "" };
                    format!("{} {}{nn}", c.name, c.ty.tandem())
                })
                .collect();
            let cols_p: Vec<String> = t
                .cols
                .iter()
                .map(|c| {
                    let nn = if c.not_null { " NOT NULL" } else { "" };
                    format!("{} {}{nn}", c.name, c.ty.pg())
                })
                .collect();
            let pk: Vec<&str> = t.pk.iter().map(|i| t.cols[*i].name.as_str()).collect();
            let pk = pk.join(", ");
            out.push(Dual::new(
                format!(
                    "CREATE TABLE {} ({}, PRIMARY KEY ({pk}))",
                    t.name,
                    cols_t.join(", ")
                ),
                format!(
                    "CREATE TABLE {} ({}, PRIMARY KEY ({pk}))",
                    t.name,
                    cols_p.join(", ")
                ),
            ));
            for (i, idx) in t.indexes.iter().enumerate() {
                let cols: Vec<&str> = idx.iter().map(|c| t.cols[*c].name.as_str()).collect();
                out.push(Dual::same(format!(
                    "CREATE INDEX {}_idx{i} ON {} ({})",
                    t.name,
                    t.name,
                    cols.join(", ")
                )));
            }
            let names: Vec<&str> = t.cols.iter().map(|c| c.name.as_str()).collect();
            for chunk in t.rows.chunks(50) {
                let values: Vec<Dual> = chunk
                    .iter()
                    .map(|r| {
                        let row = Dual::join(r, ", ");
                        dual!("({})", row)
                    })
                    .collect();
                let values = Dual::join(&values, ", ");
                let head = Dual::same(format!(
                    "INSERT INTO {} ({}) VALUES ",
                    t.name,
                    names.join(", ")
                ));
                out.push(dual!("{}{}", head, values));
            }
        }
        out
    }
}
