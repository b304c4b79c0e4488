//! Aggregate and window function calls for the expression generator. Calls whose result
//! depends on an order the query does not fix are never generated: `string_agg` orders by its
//! own argument, and order-sensitive window functions (row_number, lag, first_value, ROWS
//! frames, ...) order by the table's primary key.

use super::expr::{Gen, Mode, Scope, WinInfo, order_item};
use super::schema::{Dual, Ty};

impl Gen<'_> {
    /// An aggregate over `sc` returning `ty`, if there is one for that type.
    pub fn agg_call(&mut self, sc: &Scope, ty: Ty) -> Option<Dual> {
        let row = Mode::Row { win: None };
        let distinct = if self.rng.chance(15) { "DISTINCT " } else { "" };
        let call = match ty {
            Ty::Int => match self.rng.below(5) {
                0 => Dual::same("count(*)"),
                1 => {
                    let t = *self.rng.pick(&Ty::ALL);
                    let x = self.expr(sc, row, t, 1);
                    Dual::new(
                        format!("count({distinct}{})", x.t),
                        format!("count({distinct}{})", x.p),
                    )
                }
                2 => {
                    let p = self.expr(sc, row, Ty::Bool, 1);
                    dual!("count(*) FILTER (WHERE {})", p)
                }
                _ => {
                    let f = *self.rng.pick(&["min", "max"]);
                    let x = self.expr(sc, row, Ty::Int, 2);
                    Dual::new(format!("{f}({})", x.t), format!("{f}({})", x.p))
                }
            },
            Ty::Float => {
                let f = *self
                    .rng
                    .pick(&["sum", "avg", "min", "max", "stddev", "variance"]);
                if f == "stddev" || f == "variance" {
                    // PostgreSQL's FLOAT8 algorithm leaves rounding residue where CockroachDB's
                    // gives 0 (1e-34 for equal small values, 5e49 for equal values of 1e40):
                    // the reference is the exact NUMERIC variance of the same values, rounded
                    // off, since a later division magnifies any residue. The argument is a
                    // column (or a literal): over computed values such as 1e10 * 12345 the
                    // variance of nearly equal FLOAT8 values is ill-conditioned, and any two
                    // float algorithms (tandem's, the exact reference) differ beyond tolerance.
                    let cols = sc.of_type(Ty::Float);
                    let x = if cols.is_empty() {
                        super::schema::literal(&mut self.rng, Ty::Float)
                    } else {
                        self.rng.pick(&cols).sql()
                    };
                    Dual::new(
                        format!("CAST(round(CAST({f}({}) AS DECIMAL), 6) AS FLOAT8)", x.t),
                        format!("CAST(round({f}(CAST({} AS NUMERIC)), 6) AS FLOAT8)", x.p),
                    )
                } else {
                    let x = self.expr(sc, row, Ty::Float, 2);
                    Dual::new(format!("{f}({})", x.t), format!("{f}({})", x.p))
                }
            }
            Ty::Decimal => {
                let src = if self.rng.chance(50) {
                    Ty::Int
                } else {
                    Ty::Decimal
                };
                let mut fs = vec!["sum", "avg"];
                if src == Ty::Decimal {
                    fs.extend(["min", "max"]);
                }
                if self.rng.chance(15) {
                    fs = vec!["stddev", "variance"];
                }
                let f = *self.rng.pick(&fs);
                let x = self.expr(sc, row, src, 2);
                let dis = if f == "sum" || f == "avg" {
                    distinct
                } else {
                    ""
                };
                if f == "stddev" || f == "variance" {
                    // PostgreSQL keeps fewer digits of a large NUMERIC standard deviation than
                    // CockroachDB's 20-digit context (of values {0, 0, 0, -99999999999} it
                    // gives 49999999999, which rounds down, for 49999999999.5): the reference
                    // is computed with 20 decimals kept, then both are rounded.
                    Dual::new(
                        format!("round({f}({}))", x.t),
                        format!("round({f}(CAST({} AS NUMERIC(1000, 20))))", x.p),
                    )
                } else if f == "avg" {
                    // CockroachDB's average is the sum divided with 20 significant digits.
                    Dual::new(
                        format!("avg({dis}{})", x.t),
                        format!("crdb_div(sum({dis}{}), count({dis}{}))", x.p, x.p),
                    )
                } else {
                    Dual::new(format!("{f}({dis}{})", x.t), format!("{f}({dis}{})", x.p))
                }
            }
            Ty::Text => {
                let x = self.expr(sc, row, Ty::Text, 2);
                if self.rng.chance(40) {
                    let o = order_item(&x, self.rng.chance(40));
                    dual!("string_agg({}, ',' ORDER BY {})", x, o)
                } else {
                    let f = *self.rng.pick(&["min", "max"]);
                    Dual::new(format!("{f}({})", x.t), format!("{f}({})", x.p))
                }
            }
            Ty::Bool => {
                let f = *self.rng.pick(&["bool_and", "bool_or"]);
                let x = self.expr(sc, row, Ty::Bool, 2);
                Dual::new(format!("{f}({})", x.t), format!("{f}({})", x.p))
            }
            Ty::Date | Ty::Timestamp => {
                let f = *self.rng.pick(&["min", "max"]);
                let x = self.expr(sc, row, ty, 2);
                Dual::new(format!("{f}({})", x.t), format!("{f}({})", x.p))
            }
            Ty::Jsonb => return None,
        };
        Some(call)
    }

    /// `PARTITION BY ... ORDER BY ...`: `total` makes the order total (ends with the key).
    fn window_spec(&mut self, sc: &Scope, w: &WinInfo, total: bool, ordered: bool) -> Dual {
        let mut parts = Vec::new();
        if self.rng.chance(50) {
            let cols: Vec<Dual> = sc
                .cols
                .iter()
                .filter(|c| c.ty.orderable())
                .map(|c| c.sql())
                .collect();
            if !cols.is_empty() {
                let c = self.rng.pick(&cols).clone();
                parts.push(dual!("PARTITION BY {}", c));
            }
        }
        if ordered {
            let mut items = Vec::new();
            let orderable: Vec<Dual> = sc
                .cols
                .iter()
                .filter(|c| c.ty.orderable())
                .map(|c| c.sql())
                .collect();
            if !total || self.rng.chance(50) {
                let c = self.rng.pick(&orderable).clone();
                items.push(order_item(&c, self.rng.chance(40)));
            }
            if total {
                for k in &w.pk {
                    items.push(order_item(k, self.rng.chance(40)));
                }
            }
            let items = Dual::join(&items, ", ");
            parts.push(dual!("ORDER BY {}", items));
        }
        Dual::join(&parts, " ")
    }

    /// A window function call of type `ty` over the single table `sc`.
    pub fn window_call(&mut self, sc: &Scope, w: &WinInfo, ty: Ty) -> Option<Dual> {
        let row = Mode::Row { win: None };
        let call = match (ty, self.rng.below(4)) {
            (Ty::Int, 0) => {
                let f = *self.rng.pick(&["row_number()", "rank()", "dense_rank()"]);
                let total = f == "row_number()";
                let spec = self.window_spec(sc, w, total, true);
                Dual::new(
                    format!("{f} OVER ({})", spec.t),
                    format!("{f} OVER ({})", spec.p),
                )
            }
            (Ty::Int, 1) => {
                let n = self.rng.range(1, 4);
                let spec = self.window_spec(sc, w, true, true);
                Dual::new(
                    format!("ntile({n}) OVER ({})", spec.t),
                    format!("(ntile({n}) OVER ({}))::INT8", spec.p),
                )
            }
            (Ty::Float, 0) => {
                let f = *self.rng.pick(&["percent_rank()", "cume_dist()"]);
                let spec = self.window_spec(sc, w, false, true);
                Dual::new(
                    format!("{f} OVER ({})", spec.t),
                    format!("{f} OVER ({})", spec.p),
                )
            }
            (_, 0) | (_, 1) if ty != Ty::Jsonb => {
                // Value functions: need a total order.
                let mut x = self.expr(sc, row, ty, 1);
                if ty == Ty::Text {
                    // A bare string literal is `unknown` to PostgreSQL's polymorphic window
                    // functions (an error there); CockroachDB types it STRING.
                    x.p = format!("CAST({} AS TEXT)", x.p);
                }
                let spec = self.window_spec(sc, w, true, true);
                match self.rng.below(5) {
                    0 => dual!("lag({}) OVER ({})", x, spec),
                    1 => {
                        let dflt = self.expr(sc, row, ty, 0);
                        dual!("lead({}, 2, {}) OVER ({})", x, dflt, spec)
                    }
                    2 => dual!("first_value({}) OVER ({})", x, spec),
                    3 => dual!("last_value({}) OVER ({})", x, spec),
                    _ => dual!("nth_value({}, 2) OVER ({})", x, spec),
                }
            }
            _ => {
                // An aggregate as a window function.
                let agg = self.agg_call(sc, ty)?;
                if agg.t.contains("FILTER")
                    || agg.t.contains("DISTINCT")
                    || agg.t.contains("ORDER BY")
                {
                    return None;
                }
                let frame = self.rng.below(4);
                let spec = self.window_spec(sc, w, frame >= 2, frame >= 1);
                let frame = match frame {
                    2 => " ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING",
                    3 => " ROWS UNBOUNDED PRECEDING",
                    _ => "",
                };
                // avg's reference is crdb_div(sum(x), count(x)) (see `agg_call`): over a window,
                // both aggregates take the window.
                let p = match avg_operand(&agg.p) {
                    Some(x) => format!(
                        "crdb_div(sum({x}) OVER ({}{frame}), count({x}) OVER ({}{frame}))",
                        spec.p, spec.p
                    ),
                    None => format!("{} OVER ({}{frame})", agg.p, spec.p),
                };
                Dual::new(format!("{} OVER ({}{frame})", agg.t, spec.t), p)
            }
        };
        Some(call)
    }
}

/// `x` of the reference text `crdb_div(sum(x), count(x))` that `agg_call` writes for `avg(x)`.
fn avg_operand(p: &str) -> Option<&str> {
    const SEP: &str = "), count(";
    let inner = p.strip_prefix("crdb_div(sum(")?.strip_suffix("))")?;
    let half = inner.len().checked_sub(SEP.len())? / 2;
    let (x, rest) = inner.split_at_checked(half)?;
    (rest.strip_prefix(SEP)? == x).then_some(x)
}
