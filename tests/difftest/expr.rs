//! Random typed expressions for the differential tests. [`Gen::expr`] builds an expression of a
//! requested [`Ty`] over a [`Scope`] of columns, in one of three modes: over the rows of a FROM
//! clause ([`Mode::Row`], optionally with window functions), or over the groups of a grouped
//! query ([`Mode::Grouped`]: leaves are the grouping keys and aggregates).
//!
//! Only expressions on which CockroachDB and PostgreSQL agree are generated, each rendered in
//! both dialects where they spell it differently: INT is INT8 (integer literals and INT4-valued
//! functions get an `INT8` cast on the PostgreSQL side), `/` on integers is DECIMAL division,
//! and a DECIMAL quotient (and `avg`) has CockroachDB's 20 significant digits, rounded half away
//! from zero (`crdb_div(a, b)` in PostgreSQL, see [`super::env::CRDB_DIV`]: PostgreSQL's own
//! scale rule keeps 16 or more, and `(1 / 3) * 3 = 1` or `floor(...)` of a quotient then
//! differ by design), and ordering inside window and aggregate ORDER BY
//! puts NULLs first ascending and last descending (spelled out for PostgreSQL). Mixed-type
//! arithmetic that CockroachDB rejects (INT + FLOAT) is never generated; divisors go through
//! NULLIF(.., 0) so that division by zero is rare. DECIMALs cast to text are rounded to 6 places
//! first, since their display scale after `/` or `avg` differs by design.

use super::rng::Rng;
use super::schema::{Dual, Schema, Ty, int_literal, literal};

/// A column visible to an expression.
#[derive(Clone, Debug)]
pub struct ScopeCol {
    pub qual: String,
    pub name: String,
    pub ty: Ty,
}

impl ScopeCol {
    pub fn sql(&self) -> Dual {
        Dual::same(format!("{}.{}", self.qual, self.name))
    }
}

/// The columns an expression may use (those of the FROM clause, then those of enclosing
/// queries for correlated subqueries).
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub cols: Vec<ScopeCol>,
}

impl Scope {
    pub fn of_type(&self, ty: Ty) -> Vec<&ScopeCol> {
        self.cols.iter().filter(|c| c.ty == ty).collect()
    }

    /// This scope followed by `outer`'s columns.
    pub fn with_outer(&self, outer: &Scope) -> Scope {
        let mut cols = self.cols.clone();
        cols.extend(outer.cols.iter().cloned());
        Scope { cols }
    }
}

/// What a window function may order by: the single base table's primary key columns, which
/// make any window ORDER BY total.
#[derive(Clone, Debug)]
pub struct WinInfo {
    pub pk: Vec<Dual>,
}

/// Where an expression is evaluated.
#[derive(Clone, Copy, Debug)]
pub enum Mode<'a> {
    /// Per row; window functions allowed when `win` is set.
    Row { win: Option<&'a WinInfo> },
    /// Per group: leaves are the keys (expression, type) and aggregates over the scope.
    Grouped { keys: &'a [(Dual, Ty)] },
}

/// The generator's state: the random stream, the schema, a counter for unique aliases and the
/// nesting depth of subqueries.
pub struct Gen<'a> {
    pub rng: Rng,
    pub schema: &'a Schema,
    pub next_alias: usize,
    pub sub_depth: u32,
    /// The row bound of the last FROM clause built.
    pub last_est: u64,
}

/// A typed NULL.
pub fn null(ty: Ty) -> Dual {
    Dual::new(
        format!("NULL::{}", ty.tandem()),
        format!("NULL::{}", ty.pg()),
    )
}

/// `CAST(x AS ty)` in both dialects.
pub fn cast(x: &Dual, ty: Ty) -> Dual {
    Dual::new(
        format!("CAST({} AS {})", x.t, ty.tandem()),
        format!("CAST({} AS {})", x.p, ty.pg()),
    )
}

/// An ORDER BY item with CockroachDB's NULL order spelled out for PostgreSQL.
pub fn order_item(x: &Dual, desc: bool) -> Dual {
    if desc {
        Dual::new(format!("{} DESC", x.t), format!("{} DESC NULLS LAST", x.p))
    } else {
        Dual::new(format!("{} ASC", x.t), format!("{} ASC NULLS FIRST", x.p))
    }
}

/// A value PostgreSQL computes as INT4 where CockroachDB gives INT8.
fn int4(x: Dual) -> Dual {
    Dual::new(x.t, format!("({})::INT8", x.p))
}

impl<'a> Gen<'a> {
    pub fn new(seed: u64, schema: &'a Schema) -> Gen<'a> {
        Gen {
            rng: Rng::new(seed),
            schema,
            next_alias: 0,
            sub_depth: 0,
            last_est: 1,
        }
    }

    pub fn alias(&mut self, prefix: &str) -> String {
        self.next_alias += 1;
        format!("{prefix}{}", self.next_alias)
    }

    /// A leaf of type `ty`: a column, key or aggregate, a literal or a typed NULL.
    fn leaf(&mut self, sc: &Scope, mode: Mode, ty: Ty) -> Dual {
        match mode {
            Mode::Row { win } => {
                if let Some(w) = win
                    && self.rng.chance(15)
                    && let Some(x) = self.window_call(sc, w, ty)
                {
                    return x;
                }
                let cols = sc.of_type(ty);
                if !cols.is_empty() && self.rng.chance(75) {
                    return self.rng.pick(&cols).sql();
                }
            }
            Mode::Grouped { keys } => {
                let ks: Vec<&(Dual, Ty)> = keys.iter().filter(|k| k.1 == ty).collect();
                if !ks.is_empty() && self.rng.chance(45) {
                    return self.rng.pick(&ks).0.clone();
                }
                if self.rng.chance(85)
                    && let Some(a) = self.agg_call(sc, ty)
                {
                    return a;
                }
            }
        }
        if self.rng.chance(8) {
            null(ty)
        } else {
            literal(&mut self.rng, ty)
        }
    }

    /// An expression of type `ty`, at most `depth` operators deep.
    pub fn expr(&mut self, sc: &Scope, mode: Mode, ty: Ty, depth: u32) -> Dual {
        if depth == 0 || self.rng.chance(30) {
            return self.leaf(sc, mode, ty);
        }
        let d = depth - 1;
        // Conditional forms work for every type.
        match self.rng.below(14) {
            0 => {
                let p = self.expr(sc, mode, Ty::Bool, d);
                let a = self.expr(sc, mode, ty, d);
                let b = self.expr(sc, mode, ty, d);
                return dual!("CASE WHEN {} THEN {} ELSE {} END", p, a, b);
            }
            1 => {
                let a = self.expr(sc, mode, ty, d);
                let b = self.expr(sc, mode, ty, d);
                return dual!("COALESCE({}, {})", a, b);
            }
            2 if ty != Ty::Jsonb => {
                let a = self.expr(sc, mode, ty, d);
                let b = self.expr(sc, mode, ty, d);
                return dual!("NULLIF({}, {})", a, b);
            }
            3 if self.sub_depth < 2 && ty != Ty::Jsonb && matches!(mode, Mode::Row { .. }) => {
                if let Some(s) = self.scalar_subquery(sc, ty) {
                    return s;
                }
            }
            _ => {}
        }
        match ty {
            Ty::Int => self.int_expr(sc, mode, d),
            Ty::Float => self.float_expr(sc, mode, d),
            Ty::Decimal => self.decimal_expr(sc, mode, d),
            Ty::Text => self.text_expr(sc, mode, d),
            Ty::Bool => self.bool_expr(sc, mode, d),
            Ty::Date | Ty::Timestamp => self.time_expr(sc, mode, ty, d),
            Ty::Jsonb => self.json_expr(sc, mode, d),
        }
    }

    fn int_expr(&mut self, sc: &Scope, mode: Mode, d: u32) -> Dual {
        let a = self.expr(sc, mode, Ty::Int, d);
        match self.rng.below(16) {
            0 => dual!("({} + {})", a, self.expr(sc, mode, Ty::Int, d)),
            1 => dual!("({} - {})", a, self.expr(sc, mode, Ty::Int, d)),
            2 => dual!("({} * {})", a, self.expr(sc, mode, Ty::Int, d)),
            3 => dual!("(- {})", a),
            4 => dual!(
                "({} % NULLIF({}, {}))",
                a,
                self.expr(sc, mode, Ty::Int, d),
                int_literal(0)
            ),
            5 => dual!("abs({})", a),
            6 => int4(dual!("length({})", self.expr(sc, mode, Ty::Text, d))),
            7 => {
                let s = self.expr(sc, mode, Ty::Text, d);
                let n = Dual::same(format!("'{}'", self.rng.pick(&["a", "b", "x", ""])));
                int4(dual!("strpos({}, {})", s, n))
            }
            8 => dual!("greatest({}, {})", a, self.expr(sc, mode, Ty::Int, d)),
            9 => dual!("least({}, {})", a, self.expr(sc, mode, Ty::Int, d)),
            10 => cast(&self.expr(sc, mode, Ty::Decimal, d), Ty::Int),
            11 => {
                // A FLOAT8 aggregate (its last bits depend on the algorithm and the order of
                // the rows) cast to INT is compared exactly: near 1e18 one unit in the last
                // place is 1,024. Such a cast is not generated.
                let x = self.expr(sc, mode, Ty::Float, d);
                if ["sum(", "avg(", "stddev(", "variance("]
                    .iter()
                    .any(|f| x.t.contains(f))
                {
                    cast(&self.expr(sc, mode, Ty::Decimal, d), Ty::Int)
                } else {
                    cast(&x, Ty::Int)
                }
            }
            12 => int4(dual!(
                "({} - {})",
                self.expr(sc, mode, Ty::Date, d),
                self.expr(sc, mode, Ty::Date, d)
            )),
            13 => {
                let field = Dual::same(*self.rng.pick(&["year", "month", "day"]));
                let src = if self.rng.chance(50) {
                    Ty::Date
                } else {
                    Ty::Timestamp
                };
                let x = self.expr(sc, mode, src, d);
                cast(&dual!("extract({} FROM {})", field, x), Ty::Int)
            }
            14 => {
                let op = Dual::same(*self.rng.pick(&["&", "|", "#"]));
                dual!("({} {} {})", a, op, self.expr(sc, mode, Ty::Int, d))
            }
            _ => dual!(
                "mod({}, NULLIF({}, {}))",
                a,
                self.expr(sc, mode, Ty::Int, d),
                int_literal(0)
            ),
        }
    }

    fn float_expr(&mut self, sc: &Scope, mode: Mode, d: u32) -> Dual {
        let a = self.expr(sc, mode, Ty::Float, d);
        match self.rng.below(12) {
            0 => dual!("({} + {})", a, self.expr(sc, mode, Ty::Float, d)),
            1 => dual!("({} - {})", a, self.expr(sc, mode, Ty::Float, d)),
            2 => dual!("({} * {})", a, self.expr(sc, mode, Ty::Float, d)),
            3 => dual!(
                "({} / NULLIF({}, 0::FLOAT8))",
                a,
                self.expr(sc, mode, Ty::Float, d)
            ),
            4 => dual!("(- {})", a),
            5 => dual!("abs({})", a),
            6 => dual!("sqrt(abs({}))", a),
            7 => {
                let f = Dual::same(*self.rng.pick(&["floor", "ceil", "round", "trunc"]));
                dual!("{}({})", f, a)
            }
            8 => cast(&self.expr(sc, mode, Ty::Int, d), Ty::Float),
            9 => cast(&self.expr(sc, mode, Ty::Decimal, d), Ty::Float),
            10 => dual!("power({}, 2)", a),
            _ => dual!("ln(abs({}) + 1)", a),
        }
    }

    fn decimal_expr(&mut self, sc: &Scope, mode: Mode, d: u32) -> Dual {
        let a = self.expr(sc, mode, Ty::Decimal, d);
        match self.rng.below(13) {
            0 => dual!("({} + {})", a, self.expr(sc, mode, Ty::Decimal, d)),
            1 => dual!("({} - {})", a, self.expr(sc, mode, Ty::Decimal, d)),
            2 => dual!("({} * {})", a, self.expr(sc, mode, Ty::Decimal, d)),
            3 => dual!("({} + {})", self.expr(sc, mode, Ty::Int, d), a),
            4 | 5 => {
                // INT / INT is DECIMAL division in CockroachDB.
                let x = self.expr(sc, mode, Ty::Int, d);
                let y = self.expr(sc, mode, Ty::Int, d);
                let zero = int_literal(0);
                Dual::new(
                    format!("({} / NULLIF({}, {}))", x.t, y.t, zero.t),
                    format!("crdb_div({}, NULLIF({}, {}))", x.p, y.p, zero.p),
                )
            }
            6 => {
                let b = self.expr(sc, mode, Ty::Decimal, d);
                Dual::new(
                    format!("({} / NULLIF({}, 0::DECIMAL))", a.t, b.t),
                    format!("crdb_div({}, NULLIF({}, 0::NUMERIC))", a.p, b.p),
                )
            }
            7 => {
                let places = Dual::same(self.rng.range(0, 3).to_string());
                dual!("round({}, {})", a, places)
            }
            8 => {
                let f = Dual::same(*self.rng.pick(&["floor", "ceil", "round", "trunc", "abs"]));
                dual!("{}({})", f, a)
            }
            9 => dual!("(- {})", a),
            10 => cast(&self.expr(sc, mode, Ty::Int, d), Ty::Decimal),
            11 => dual!("greatest({}, {})", a, self.expr(sc, mode, Ty::Decimal, d)),
            _ => dual!("({} * {})", self.expr(sc, mode, Ty::Int, d), a),
        }
    }

    fn text_expr(&mut self, sc: &Scope, mode: Mode, d: u32) -> Dual {
        let a = self.expr(sc, mode, Ty::Text, d);
        match self.rng.below(15) {
            0 | 1 => dual!("({} || {})", a, self.expr(sc, mode, Ty::Text, d)),
            2 => {
                let f = Dual::same(*self.rng.pick(&[
                    "upper", "lower", "trim", "ltrim", "rtrim", "reverse", "initcap",
                ]));
                dual!("{}({})", f, a)
            }
            3 => {
                let (i, n) = (self.rng.range(0, 4), self.rng.range(0, 4));
                dual!("substr({}, {})", a, Dual::same(format!("{i}, {n}")))
            }
            4 => dual!("replace({}, 'a', 'xy')", a),
            5 => {
                let f = Dual::same(*self.rng.pick(&["left", "right"]));
                let n = Dual::same(self.rng.range(-2, 4).to_string());
                dual!("{}({}, {})", f, a, n)
            }
            6 => dual!("repeat({}, 2)", a),
            7 => {
                let f = Dual::same(*self.rng.pick(&["lpad", "rpad"]));
                dual!("{}({}, 4, '*')", f, a)
            }
            8 => dual!("concat({}, {})", a, self.expr(sc, mode, Ty::Text, d)),
            9 => dual!(
                "concat_ws('-', {}, {})",
                a,
                self.expr(sc, mode, Ty::Text, d)
            ),
            10 => dual!("split_part({}, ',', 1)", a),
            11 => {
                let src =
                    *self
                        .rng
                        .pick(&[Ty::Int, Ty::Decimal, Ty::Date, Ty::Bool, Ty::Timestamp]);
                let x = self.expr(sc, mode, src, d);
                if src == Ty::Decimal {
                    // A DECIMAL's display scale after division or avg differs by design
                    // (CockroachDB's 20-digit context, PostgreSQL's computed scale): fix it.
                    cast(&dual!("round({}, 6)", x), Ty::Text)
                } else {
                    cast(&x, Ty::Text)
                }
            }
            12 => {
                let j = self.expr(sc, mode, Ty::Jsonb, d);
                let key = Dual::same(*self.rng.pick(&["'a'", "'bb'", "'c'"]));
                dual!("({} ->> {})", j, key)
            }
            13 => {
                let f = Dual::same(*self.rng.pick(&["md5", "upper"]));
                dual!("{}({})", f, a)
            }
            _ => dual!("translate({}, 'ab', 'AB')", a),
        }
    }

    /// A type for a comparison: any but JSONB is ordered.
    fn cmp_type(&mut self) -> Ty {
        *self.rng.pick(&[
            Ty::Int,
            Ty::Int,
            Ty::Int,
            Ty::Float,
            Ty::Decimal,
            Ty::Text,
            Ty::Text,
            Ty::Bool,
            Ty::Date,
            Ty::Timestamp,
        ])
    }

    fn bool_expr(&mut self, sc: &Scope, mode: Mode, d: u32) -> Dual {
        match self.rng.below(17) {
            0..=3 => {
                let ty = self.cmp_type();
                let a = self.expr(sc, mode, ty, d);
                let b = self.expr(sc, mode, ty, d);
                let op = Dual::same(*self.rng.pick(&["=", "<>", "<", "<=", ">", ">="]));
                dual!("({} {} {})", a, op, b)
            }
            4 => {
                let a = self.expr(sc, mode, Ty::Int, d);
                let b = self.expr(sc, mode, Ty::Decimal, d);
                let op = Dual::same(*self.rng.pick(&["=", "<", ">="]));
                dual!("({} {} {})", a, op, b)
            }
            5 => dual!("(NOT {})", self.expr(sc, mode, Ty::Bool, d)),
            6 | 7 => {
                let a = self.expr(sc, mode, Ty::Bool, d);
                let b = self.expr(sc, mode, Ty::Bool, d);
                let op = Dual::same(*self.rng.pick(&["AND", "OR"]));
                dual!("({} {} {})", a, op, b)
            }
            8 => {
                let ty = *self.rng.pick(&Ty::ALL);
                let a = self.expr(sc, mode, ty, d);
                let op = Dual::same(*self.rng.pick(&["IS NULL", "IS NOT NULL"]));
                dual!("({} {})", a, op)
            }
            9 => {
                let a = self.expr(sc, mode, Ty::Bool, d);
                let op = Dual::same(*self.rng.pick(&[
                    "IS TRUE",
                    "IS NOT TRUE",
                    "IS FALSE",
                    "IS NOT FALSE",
                    "IS UNKNOWN",
                ]));
                dual!("({} {})", a, op)
            }
            10 => {
                let ty = self.cmp_type();
                let x = self.expr(sc, mode, ty, d);
                let lo = self.expr(sc, mode, ty, d);
                let hi = self.expr(sc, mode, ty, d);
                let not = Dual::same(if self.rng.chance(30) { "NOT " } else { "" });
                dual!("({} {}BETWEEN {} AND {})", x, not, lo, hi)
            }
            11 => {
                let ty = self.cmp_type();
                let x = self.expr(sc, mode, ty, d);
                let n = self.rng.range(1, 4);
                let mut items: Vec<Dual> = (0..n).map(|_| literal(&mut self.rng, ty)).collect();
                if self.rng.chance(20) {
                    items.push(null(ty));
                }
                let list = Dual::join(&items, ", ");
                let not = Dual::same(if self.rng.chance(30) { "NOT " } else { "" });
                dual!("({} {}IN ({}))", x, not, list)
            }
            12 => {
                let x = self.expr(sc, mode, Ty::Text, d);
                let op = Dual::same(*self.rng.pick(&["LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE"]));
                let pat = Dual::same(*self.rng.pick(&[
                    "'a%'", "'%b'", "'_'", "'%'", "'a_c'", "'%x%'", "''", "'%\\%%'",
                ]));
                dual!("({} {} {})", x, op, pat)
            }
            13 => {
                let ty = *self.rng.pick(&Ty::ALL);
                let a = self.expr(sc, mode, ty, d);
                let b = self.expr(sc, mode, ty, d);
                let op = Dual::same(*self.rng.pick(&["IS DISTINCT FROM", "IS NOT DISTINCT FROM"]));
                dual!("({} {} {})", a, op, b)
            }
            14 if self.sub_depth < 2 && matches!(mode, Mode::Row { .. }) => self.subquery_pred(sc),
            15 => {
                let j = self.expr(sc, mode, Ty::Jsonb, d);
                let v = literal(&mut self.rng, Ty::Jsonb);
                let op = Dual::same(*self.rng.pick(&["@>", "=", "<>"]));
                dual!("({} {} {})", j, op, v)
            }
            _ => self.leaf(sc, mode, Ty::Bool),
        }
    }

    fn time_expr(&mut self, sc: &Scope, mode: Mode, ty: Ty, d: u32) -> Dual {
        let a = self.expr(sc, mode, ty, d);
        if ty == Ty::Date {
            match self.rng.below(5) {
                0 => dual!(
                    "({} + {})",
                    a,
                    Dual::same(self.rng.range(-40, 40).to_string())
                ),
                1 => dual!(
                    "({} - {})",
                    a,
                    Dual::same(self.rng.range(0, 40).to_string())
                ),
                2 => cast(&self.expr(sc, mode, Ty::Timestamp, d), Ty::Date),
                3 => dual!("greatest({}, {})", a, self.expr(sc, mode, Ty::Date, d)),
                _ => dual!("least({}, {})", a, self.expr(sc, mode, Ty::Date, d)),
            }
        } else {
            match self.rng.below(5) {
                0 => dual!("({} + INTERVAL '1 day 2 hours')", a),
                1 => dual!("({} - INTERVAL '3 hours')", a),
                2 => {
                    let unit =
                        Dual::same(*self.rng.pick(&["'day'", "'month'", "'hour'", "'year'"]));
                    dual!("date_trunc({}, {})", unit, a)
                }
                3 => cast(&self.expr(sc, mode, Ty::Date, d), Ty::Timestamp),
                _ => dual!("greatest({}, {})", a, self.expr(sc, mode, Ty::Timestamp, d)),
            }
        }
    }

    fn json_expr(&mut self, sc: &Scope, mode: Mode, d: u32) -> Dual {
        let a = self.expr(sc, mode, Ty::Jsonb, d);
        match self.rng.below(4) {
            // Not `-> 0`: PostgreSQL treats a scalar as a one-element array there.
            0 => dual!("({} -> 'a')", a),
            1 => dual!("({} -> 'c')", a),
            2 => dual!(
                "jsonb_build_object('k', {})",
                self.expr(sc, mode, Ty::Int, d)
            ),
            // A typed argument: PostgreSQL cannot type `to_jsonb('literal')`.
            _ => dual!(
                "to_jsonb({})",
                cast(&self.expr(sc, mode, Ty::Text, d), Ty::Text)
            ),
        }
    }
}
