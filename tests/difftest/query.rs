//! Random queries for the differential tests: SELECT with joins of every kind (INNER, LEFT,
//! RIGHT, FULL with ON or USING, CROSS), derived tables, WHERE with subqueries (scalar, IN,
//! EXISTS, ANY/ALL, correlated), GROUP BY/HAVING, aggregates without groups, window functions,
//! DISTINCT, set operations and ORDER BY/LIMIT/OFFSET.
//!
//! A query's ORDER BY either lists every output column (then the order is fully determined and
//! results are compared in order, and only then is LIMIT/OFFSET used) or is partial (results
//! are compared as multisets). FULL JOIN conditions are equalities only (PostgreSQL refuses
//! others).

use super::expr::{Gen, Mode, Scope, ScopeCol, WinInfo, order_item};
use super::schema::{Dual, Ty, int_literal};

/// A generated query.
#[derive(Clone, Debug)]
pub struct Query {
    pub sql: Dual,
    /// Output column types.
    pub types: Vec<Ty>,
    /// Whether ORDER BY fully determines the row order.
    pub ordered: bool,
}

/// One FROM item: its SQL, its columns, and its primary key columns if it is a base table.
struct FromItem {
    sql: Dual,
    cols: Vec<ScopeCol>,
    pk: Option<Vec<Dual>>,
    /// An upper bound of its row count.
    est: u64,
}

/// Joins stop growing beyond this many rows (an upper bound), to keep queries fast.
const MAX_JOIN_ROWS: u64 = 2500;

impl Gen<'_> {
    fn base_table(&mut self) -> FromItem {
        let t = self.rng.pick(&self.schema.tables).clone();
        let a = self.alias("a");
        let cols = t
            .cols
            .iter()
            .map(|c| ScopeCol {
                qual: a.clone(),
                name: c.name.clone(),
                ty: c.ty,
            })
            .collect();
        let pk =
            t.pk.iter()
                .map(|i| Dual::same(format!("{a}.{}", t.cols[*i].name)))
                .collect();
        FromItem {
            sql: Dual::same(format!("{} AS {a}", t.name)),
            cols,
            pk: Some(pk),
            est: t.rows.len().max(1) as u64,
        }
    }

    fn derived_table(&mut self) -> FromItem {
        self.sub_depth += 1;
        let (core, types) = self.select_core(&Scope::default(), None);
        let est = self.last_est;
        self.sub_depth -= 1;
        let a = self.alias("d");
        let mut body = core;
        if types.iter().all(|t| t.orderable()) && self.rng.chance(25) {
            let (order, _) = self.full_order(types.len());
            let n = self.rng.range(0, 6);
            body = dual!(
                "{} ORDER BY {} LIMIT {}",
                body,
                order,
                Dual::same(n.to_string())
            );
        }
        let cols = types
            .iter()
            .enumerate()
            .map(|(i, ty)| ScopeCol {
                qual: a.clone(),
                name: format!("x{i}"),
                ty: *ty,
            })
            .collect();
        FromItem {
            sql: dual!("({}) AS {}", body, Dual::same(a.clone())),
            cols,
            pk: None,
            est,
        }
    }

    fn gen_from_item(&mut self) -> FromItem {
        if self.sub_depth < 2 && self.rng.chance(15) {
            self.derived_table()
        } else {
            self.base_table()
        }
    }

    /// Equalities between same-typed columns of `left` and `right`.
    fn equi_cond(&mut self, left: &[ScopeCol], right: &[ScopeCol]) -> Option<Dual> {
        let mut pairs = Vec::new();
        for l in left {
            for r in right {
                if l.ty == r.ty && l.ty != Ty::Jsonb {
                    pairs.push((l.sql(), r.sql()));
                }
            }
        }
        if pairs.is_empty() {
            return None;
        }
        let n = if self.rng.chance(20) { 2 } else { 1 };
        let conds: Vec<Dual> = (0..n)
            .map(|_| {
                let (l, r) = self.rng.pick(&pairs).clone();
                dual!("{} = {}", l, r)
            })
            .collect();
        Some(Dual::join(&conds, " AND "))
    }

    /// The FROM clause: one to three items joined; window info when it is one base table.
    fn gen_from(&mut self) -> (Dual, Scope, Option<WinInfo>) {
        let first = self.gen_from_item();
        let n = match self.rng.weighted(&[55, 35, 10]) {
            0 => 1,
            1 => 2,
            _ => 3,
        };
        if n == 1 {
            self.last_est = first.est;
            let win = first.pk.map(|pk| WinInfo { pk });
            return (first.sql, Scope { cols: first.cols }, win);
        }
        let mut sql = first.sql;
        let mut cols = first.cols;
        let mut est = first.est;
        for i in 1..n {
            let item = self.gen_from_item();
            if est * item.est > MAX_JOIN_ROWS {
                break;
            }
            est *= item.est;
            let kind = self.rng.weighted(&[30, 20, 8, 8, 8, 4, 14]);
            let common: Vec<String> = if i == 1 {
                item.cols
                    .iter()
                    .filter(|r| {
                        r.ty != Ty::Jsonb
                            && cols.iter().filter(|l| l.name == r.name).count() == 1
                            && cols.iter().any(|l| l.name == r.name && l.ty == r.ty)
                    })
                    .map(|r| r.name.clone())
                    .collect()
            } else {
                Vec::new()
            };
            let joined = match kind {
                4 => dual!("{} CROSS JOIN {}", sql, item.sql),
                5 => dual!("{}, {}", sql, item.sql),
                6 if !common.is_empty() => {
                    let c = self.rng.pick(&common).clone();
                    let jt = Dual::same(*self.rng.pick(&[
                        "JOIN",
                        "LEFT JOIN",
                        "FULL JOIN",
                        "RIGHT JOIN",
                    ]));
                    dual!(
                        "{} {} {} USING ({})",
                        sql,
                        jt,
                        item.sql,
                        Dual::same(c.clone())
                    )
                }
                _ => {
                    let jt = match kind {
                        1 => "LEFT JOIN",
                        2 => "RIGHT JOIN",
                        3 => "FULL JOIN",
                        _ => "JOIN",
                    };
                    let eq = self.equi_cond(&cols, &item.cols);
                    let cond = match (jt, eq) {
                        ("FULL JOIN", Some(eq)) => eq,
                        ("FULL JOIN", None) => Dual::same("true"),
                        (_, eq) => {
                            let mut both = Scope { cols: cols.clone() };
                            both.cols.extend(item.cols.iter().cloned());
                            let extra = if eq.is_none() || self.rng.chance(30) {
                                Some(self.expr(&both, Mode::Row { win: None }, Ty::Bool, 2))
                            } else {
                                None
                            };
                            match (eq, extra) {
                                (Some(e), Some(x)) => dual!("{} AND {}", e, x),
                                (Some(e), None) => e,
                                (None, Some(x)) => x,
                                (None, None) => Dual::same("true"),
                            }
                        }
                    };
                    dual!("{} {} {} ON {}", sql, Dual::same(jt), item.sql, cond)
                }
            };
            sql = joined;
            cols.extend(item.cols);
        }
        self.last_est = est;
        (sql, Scope { cols }, None)
    }

    /// A random output type.
    fn out_type(&mut self) -> Ty {
        *self.rng.pick(&[
            Ty::Int,
            Ty::Int,
            Ty::Int,
            Ty::Float,
            Ty::Decimal,
            Ty::Decimal,
            Ty::Text,
            Ty::Text,
            Ty::Bool,
            Ty::Date,
            Ty::Timestamp,
            Ty::Jsonb,
        ])
    }

    /// `SELECT ... FROM ... [WHERE] [GROUP BY [HAVING]]` without ORDER BY; output columns are
    /// named x0, x1, ...; `want` fixes their types.
    pub fn select_core(&mut self, outer: &Scope, want: Option<&[Ty]>) -> (Dual, Vec<Ty>) {
        let (from, scope, win) = self.gen_from();
        let full = scope.with_outer(outer);
        let types: Vec<Ty> = match want {
            Some(w) => w.to_vec(),
            None => {
                let n = self.rng.range(1, 4) as usize;
                (0..n).map(|_| self.out_type()).collect()
            }
        };
        let kind = self.rng.weighted(&[55, 30, 15]);
        let mut keys: Vec<(Dual, Ty)> = Vec::new();
        if kind == 1 {
            for _ in 0..self.rng.range(1, 2) {
                let col = self.rng.pick(&scope.cols).clone();
                let key = if self.rng.chance(75) {
                    (col.sql(), col.ty)
                } else {
                    let ty = self.out_type();
                    (self.expr(&scope, Mode::Row { win: None }, ty, 1), ty)
                };
                keys.push(key);
            }
        }
        let mut items = Vec::new();
        for (i, ty) in types.iter().enumerate() {
            let e = match kind {
                0 => self.expr(&full, Mode::Row { win: win.as_ref() }, *ty, 2),
                _ => self.grouped_expr(&scope, &keys, *ty),
            };
            items.push(dual!("{} AS {}", e, Dual::same(format!("x{i}"))));
        }
        let distinct = if kind == 0 && self.rng.chance(15) {
            "DISTINCT "
        } else {
            ""
        };
        let mut sql = dual!(
            "SELECT {}{} FROM {}",
            Dual::same(distinct),
            Dual::join(&items, ", "),
            from
        );
        if self.rng.chance(60) {
            let p = self.expr(&full, Mode::Row { win: None }, Ty::Bool, 3);
            sql = dual!("{} WHERE {}", sql, p);
        }
        if kind == 1 {
            // A bare integer would be an output position (both dialects; PostgreSQL's side
            // reads `5::INT8` as a constant): group by the constant instead.
            let ks: Vec<Dual> = keys
                .iter()
                .map(|k| {
                    let bare = k.0.t.trim_matches(|c| c == '(' || c == ')');
                    if bare.trim_start_matches('-').parse::<u64>().is_ok() {
                        dual!("({} + 0)", k.0)
                    } else {
                        k.0.clone()
                    }
                })
                .collect();
            sql = dual!("{} GROUP BY {}", sql, Dual::join(&ks, ", "));
        }
        if kind >= 1 && self.rng.chance(30) {
            let h = self.grouped_expr(&scope, &keys, Ty::Bool);
            sql = dual!("{} HAVING {}", sql, h);
        }
        (sql, types)
    }

    fn grouped_expr(&mut self, scope: &Scope, keys: &[(Dual, Ty)], ty: Ty) -> Dual {
        // Aggregate arguments never contain subqueries.
        let saved = self.sub_depth;
        self.sub_depth = 99;
        let e = self.expr(scope, Mode::Grouped { keys }, ty, 2);
        self.sub_depth = saved;
        e
    }

    /// ORDER BY every output position in a random order and direction.
    fn full_order(&mut self, n: usize) -> (Dual, Vec<usize>) {
        let mut pos: Vec<usize> = (1..=n).collect();
        self.rng.shuffle(&mut pos);
        let items: Vec<Dual> = pos
            .iter()
            .map(|p| order_item(&Dual::same(p.to_string()), self.rng.chance(40)))
            .collect();
        (Dual::join(&items, ", "), pos)
    }

    /// A whole query.
    pub fn query(&mut self) -> Query {
        let (mut sql, types) = self.select_core(&Scope::default(), None);
        if self.rng.chance(15) {
            let (other, _) = self.select_core(&Scope::default(), Some(&types));
            let op = *self.rng.pick(&[
                "UNION",
                "UNION ALL",
                "INTERSECT",
                "INTERSECT ALL",
                "EXCEPT",
                "EXCEPT ALL",
            ]);
            sql = dual!("({}) {} ({})", sql, Dual::same(op), other);
        }
        let mut ordered = false;
        if types.iter().all(|t| t.orderable()) && self.rng.chance(50) {
            let (order, _) = self.full_order(types.len());
            sql = dual!("{} ORDER BY {}", sql, order);
            ordered = true;
            if self.rng.chance(40) {
                let n = Dual::same(self.rng.range(0, 8).to_string());
                sql = dual!("{} LIMIT {}", sql, n);
            }
            if self.rng.chance(20) {
                let n = Dual::same(self.rng.range(0, 5).to_string());
                sql = dual!("{} OFFSET {}", sql, n);
            }
        } else if self.rng.chance(10) {
            let orderable: Vec<usize> =
                (0..types.len()).filter(|i| types[*i].orderable()).collect();
            if !orderable.is_empty() {
                let p = self.rng.pick(&orderable) + 1;
                let o = order_item(&Dual::same(p.to_string()), self.rng.chance(50));
                sql = dual!("{} ORDER BY {}", sql, o);
            }
        }
        Query {
            sql,
            types,
            ordered,
        }
    }

    /// `(SELECT agg FROM t WHERE ...)` or a primary-key lookup: at most one row.
    pub fn scalar_subquery(&mut self, outer: &Scope, ty: Ty) -> Option<Dual> {
        let item = self.base_table();
        let inner = Scope { cols: item.cols };
        let sc = inner.with_outer(outer);
        self.sub_depth += 1;
        let pk = item.pk.unwrap_or_default();
        let result = if pk.len() == 1 && self.rng.chance(35) {
            let v = self.expr(&inner, Mode::Row { win: None }, ty, 1);
            let key = if !outer.of_type(Ty::Int).is_empty() && self.rng.chance(70) {
                self.rng.pick(&outer.of_type(Ty::Int)).sql()
            } else {
                int_literal(self.rng.range(-2, 12))
            };
            Some(dual!(
                "(SELECT {} FROM {} WHERE {} = {})",
                v,
                item.sql,
                pk[0],
                key
            ))
        } else {
            let saved = self.sub_depth;
            self.sub_depth = 99;
            let agg = self.agg_call(&inner, ty);
            self.sub_depth = saved;
            agg.map(|agg| {
                let p = self.expr(&sc, Mode::Row { win: None }, Ty::Bool, 2);
                dual!("(SELECT {} FROM {} WHERE {})", agg, item.sql, p)
            })
        };
        self.sub_depth -= 1;
        result
    }

    /// EXISTS, IN or ANY/ALL over a (possibly correlated) subquery.
    pub fn subquery_pred(&mut self, outer: &Scope) -> Dual {
        let item = self.base_table();
        let inner = Scope { cols: item.cols };
        let sc = inner.with_outer(outer);
        self.sub_depth += 1;
        let row = Mode::Row { win: None };
        let p = self.expr(&sc, row, Ty::Bool, 2);
        let result = match self.rng.below(3) {
            0 => {
                let not = Dual::same(if self.rng.chance(30) { "NOT " } else { "" });
                dual!("({}EXISTS (SELECT 1 FROM {} WHERE {}))", not, item.sql, p)
            }
            k => {
                let ty = *self
                    .rng
                    .pick(&[Ty::Int, Ty::Int, Ty::Text, Ty::Decimal, Ty::Date]);
                let x = self.expr(outer, row, ty, 1);
                let v = self.expr(&sc, row, ty, 1);
                let op = if k == 1 {
                    *self.rng.pick(&["IN", "NOT IN"])
                } else {
                    *self
                        .rng
                        .pick(&["= ANY", "<> ALL", "< ANY", ">= ALL", "= ALL"])
                };
                dual!(
                    "({} {} (SELECT {} FROM {} WHERE {}))",
                    x,
                    Dual::same(op),
                    v,
                    item.sql,
                    p
                )
            }
        };
        self.sub_depth -= 1;
        result
    }
}

impl Gen<'_> {
    /// A random UPDATE or DELETE (WHERE over one table, no subqueries), or an INSERT ... SELECT
    /// of new keys: data changes that secondary indexes must follow.
    pub fn dml(&mut self) -> Dual {
        let t = self.rng.pick(&self.schema.tables).clone();
        let a = self.alias("u");
        let scope = Scope {
            cols: t
                .cols
                .iter()
                .map(|c| ScopeCol {
                    qual: a.clone(),
                    name: c.name.clone(),
                    ty: c.ty,
                })
                .collect(),
        };
        let saved = self.sub_depth;
        self.sub_depth = 99;
        let row = Mode::Row { win: None };
        let pred = self.expr(&scope, row, Ty::Bool, 2);
        let name = Dual::same(format!("{} AS {a}", t.name));
        let stmt = match self.rng.below(3) {
            0 => dual!("DELETE FROM {} WHERE {}", name, pred),
            1 => {
                let mut sets = Vec::new();
                let mut cols: Vec<usize> = (t.pk.len()..t.cols.len()).collect();
                self.rng.shuffle(&mut cols);
                for &i in cols.iter().take(self.rng.range(1, 2) as usize) {
                    let c = &t.cols[i];
                    let v = self.expr(&scope, row, c.ty, 1);
                    sets.push(dual!("{} = {}", Dual::same(c.name.clone()), v));
                }
                dual!(
                    "UPDATE {} SET {} WHERE {}",
                    name,
                    Dual::join(&sets, ", "),
                    pred
                )
            }
            _ => {
                // Copies of some rows under keys shifted out of the way.
                let shift = int_literal(1000 + self.rng.range(0, 100) * 10);
                let items: Vec<Dual> = t
                    .cols
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let col = Dual::same(format!("{a}.{}", c.name));
                        if i == 0 {
                            dual!("{} + {}", col, shift)
                        } else {
                            col
                        }
                    })
                    .collect();
                let names: Vec<&str> = t.cols.iter().map(|c| c.name.as_str()).collect();
                dual!(
                    "INSERT INTO {} ({}) SELECT {} FROM {} WHERE {}",
                    Dual::same(t.name.clone()),
                    Dual::same(names.join(", ")),
                    Dual::join(&items, ", "),
                    name,
                    pred
                )
            }
        };
        self.sub_depth = saved;
        stmt
    }
}
