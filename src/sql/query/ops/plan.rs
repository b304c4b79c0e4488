//! Which queries the operator pipeline covers, and building it.
//!
//! Covered: one SELECT block over one real table (no CTE, derived table, table function,
//! column aliases on the table), or over one such table joined with another (inner or left,
//! ON a condition: [`JoinShape`]; the joined table is the build side of a hash join), with WHERE, GROUP BY (plain expressions), HAVING,
//! aggregates, ORDER BY, LIMIT and OFFSET, and no DISTINCT, window function, set-returning
//! function, subquery or locking clause anywhere. [`shape`] says None for anything else and
//! the query runs on the materialising path. The select list, aggregate extraction, GROUP BY
//! and ORDER BY resolution use the materialising path's functions, so both see the same
//! query.

use super::aggregate::HashAggregate;
use super::join::HashJoin;
use super::scan::Scan;
use super::sort::Sort;
use super::{Env, Item, Limit, Operator, Project};
use crate::kv::TxnReader;
use crate::sql::catalog::TableDesc;
use crate::sql::error::Result;
use crate::sql::expr::{self, normalize};
use crate::sql::query::aggregate::{AggCall, extract_aggs};
use crate::sql::query::select::{col_ref, label, resolve_group_exprs, resolve_order};
use crate::sql::types::Datum;
use crate::storage::keys::Span;
use futures::StreamExt;
use futures::stream::BoxStream;
use sqlparser::ast::{self as pg, Expr, SelectItem, SetExpr, TableFactor};
use std::ops::ControlFlow;
use std::sync::Arc;

/// The parts of a query the pipeline covers.
pub struct Shape<'a> {
    /// The table.
    pub table: &'a pg::ObjectName,
    /// What the query calls the table (its alias, else its name).
    pub label: String,
    /// WHERE.
    pub filter: Option<&'a Expr>,
    /// The joined table, if any.
    pub join: Option<JoinShape<'a>>,
    sel: &'a pg::Select,
    order: Vec<pg::OrderByExpr>,
    limit: Option<&'a Expr>,
    offset: Option<&'a Expr>,
}

/// `FROM <table> [LEFT] JOIN <joined> ON <on>`: the joined table (the build side).
pub struct JoinShape<'a> {
    /// The joined table.
    pub table: &'a pg::ObjectName,
    /// What the query calls it.
    pub label: String,
    /// LEFT JOIN (else inner).
    pub left: bool,
    on: &'a Expr,
}

/// What a FROM item calls a plain table (its alias, else its name): None for anything else
/// (a table function, a derived table, column aliases).
fn table_factor(f: &TableFactor) -> Option<(&pg::ObjectName, String)> {
    let TableFactor::Table {
        name,
        alias,
        args: None,
        ..
    } = f
    else {
        return None;
    };
    if alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
        return None;
    }
    let label = alias.as_ref().map_or_else(
        || {
            name.0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| normalize(&i.value, i.quote_style.is_some()))
                .unwrap_or_default()
        },
        |a| normalize(&a.name.value, a.name.quote_style.is_some()),
    );
    Some((name, label))
}

/// The join of a FROM item with one join the pipeline covers: an inner or left join ON a
/// condition, of a plain table with another name.
fn join_shape<'a>(j: &'a pg::Join, first: &str) -> Option<JoinShape<'a>> {
    let (left, c) = match &j.join_operator {
        pg::JoinOperator::Join(c) | pg::JoinOperator::Inner(c) => (false, c),
        pg::JoinOperator::Left(c) | pg::JoinOperator::LeftOuter(c) => (true, c),
        _ => return None,
    };
    let pg::JoinConstraint::On(on) = c else {
        return None;
    };
    let (table, label) = table_factor(&j.relation)?;
    if j.global || label == first {
        return None;
    }
    Some(JoinShape {
        table,
        label,
        left,
        on,
    })
}

/// The query's parts when the pipeline covers it.
pub fn shape(q: &pg::Query) -> Option<Shape<'_>> {
    if q.with.is_some() || !q.locks.is_empty() || q.fetch.is_some() {
        return None;
    }
    let order = match &q.order_by {
        None => Vec::new(),
        Some(ob) => match &ob.kind {
            pg::OrderByKind::Expressions(v) if ob.interpolate.is_none() => v.clone(),
            _ => return None,
        },
    };
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return None;
    };
    let plain_group_by =
        matches!(&sel.group_by, pg::GroupByExpr::Expressions(_, modifiers) if modifiers.is_empty());
    if sel.distinct.is_some()
        || sel.top.is_some()
        || sel.into.is_some()
        || !sel.named_window.is_empty()
        || sel.qualify.is_some()
        || !plain_group_by
        || sel.from.len() != 1
        || sel.from[0].joins.len() > 1
    {
        return None;
    }
    let (name, label) = table_factor(&sel.from[0].relation)?;
    let join = match sel.from[0].joins.first() {
        None => None,
        Some(j) => Some(join_shape(j, &label)?),
    };
    let pg::GroupByExpr::Expressions(groups, _) = &sel.group_by else {
        return None;
    };
    let mut exprs: Vec<&Expr> = sel.selection.iter().chain(sel.having.iter()).collect();
    exprs.extend(join.as_ref().map(|j| j.on));
    exprs.extend(groups);
    exprs.extend(order.iter().map(|o| &o.expr));
    for item in &sel.projection {
        match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => exprs.push(e),
            SelectItem::Wildcard(_) => {}
            SelectItem::QualifiedWildcard(
                pg::SelectItemQualifiedWildcardKind::ObjectName(q),
                _,
            ) => {
                // In a join, `x.*` must name one of the two tables.
                if let Some(j) = &join
                    && qualifier(q) != Some(label.clone())
                    && qualifier(q) != Some(j.label.clone())
                {
                    return None;
                }
            }
            _ => return None,
        }
    }
    if exprs.into_iter().any(unsupported_expr) {
        return None;
    }
    let (limit, offset) = match &q.limit_clause {
        None => (None, None),
        Some(pg::LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) if limit_by.is_empty() => (limit.as_ref(), offset.as_ref().map(|o| &o.value)),
        Some(_) => return None,
    };
    Some(Shape {
        table: name,
        label,
        filter: sel.selection.as_ref(),
        join,
        sel,
        order,
        limit,
        offset,
    })
}

/// The one-part name of `x.*`'s `x` (None for a longer name).
fn qualifier(q: &pg::ObjectName) -> Option<String> {
    match q.0.as_slice() {
        [p] => p
            .as_ident()
            .map(|i| normalize(&i.value, i.quote_style.is_some())),
        _ => None,
    }
}

/// Whether `e` holds what the pipeline leaves to the materialising path: a subquery, a window
/// function or a set-returning function.
fn unsupported_expr(e: &Expr) -> bool {
    pg::visit_expressions(e, |x| {
        let found = match x {
            Expr::Subquery(_)
            | Expr::Exists { .. }
            | Expr::In {
                target: pg::InTarget::Subquery(_),
                ..
            } => true,
            Expr::Function(f) => {
                f.over.is_some()
                    || matches!(f.args, pg::FunctionArguments::Subquery(_))
                    || crate::sql::query::table_functions::is_set_returning(
                        &f.name.to_string().to_lowercase(),
                    )
            }
            _ => false,
        };
        if found {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// A built pipeline: its last operator.
pub struct Pipeline(Box<dyn Operator>);

impl Pipeline {
    /// The output rows, batch by batch; an error ends the stream.
    pub fn into_stream(self) -> BoxStream<'static, Result<Vec<Datum>>> {
        futures::stream::unfold(Some(self.0), |op| async move {
            let mut op = op?;
            match op.next_batch().await {
                Ok(None) => None,
                Ok(Some(batch)) => Some((
                    futures::stream::iter(batch.into_iter().map(Ok).collect::<Vec<_>>()),
                    Some(op),
                )),
                Err(e) => Some((futures::stream::iter(vec![Err(e)]), None)),
            }
        })
        .flatten()
        .boxed()
    }
}

/// The scope names of `t`'s columns in a query that calls it `label` (as the materialising
/// path names a table's columns: hidden ones marked).
fn scope_names(t: &TableDesc, label: &str) -> Vec<String> {
    t.columns
        .iter()
        .map(|c| {
            if c.hidden {
                format!("{}{label}.{}", expr::HIDDEN, c.name)
            } else {
                format!("{label}.{}", c.name)
            }
        })
        .collect()
}

impl Shape<'_> {
    /// The select list expanded: `(name, expression, column for * items)`.
    fn items(&self, tables: &[(&str, &TableDesc)]) -> Vec<(String, Expr, Option<usize>)> {
        let mut items = Vec::new();
        for item in &self.sel.projection {
            let only = match item {
                SelectItem::Wildcard(_) => None,
                SelectItem::QualifiedWildcard(
                    pg::SelectItemQualifiedWildcardKind::ObjectName(q),
                    _,
                ) if tables.len() > 1 => qualifier(q),
                SelectItem::QualifiedWildcard(..) => None,
                SelectItem::UnnamedExpr(e) => {
                    items.push((label(e), e.clone(), None));
                    continue;
                }
                SelectItem::ExprWithAlias { expr: e, alias } => {
                    items.push((
                        normalize(&alias.value, alias.quote_style.is_some()),
                        e.clone(),
                        None,
                    ));
                    continue;
                }
                _ => continue,
            };
            let mut base = 0;
            for (label, t) in tables {
                if only.as_deref().is_none_or(|o| o == *label) {
                    for (i, c) in t.columns.iter().enumerate() {
                        if !c.hidden {
                            items.push((c.name.clone(), col_ref(base + i), Some(base + i)));
                        }
                    }
                }
                base += t.columns.len();
            }
        }
        items
    }

    /// Builds the pipeline reading `span` of `t` through `reader` (the statement's snapshot,
    /// owned by the scan from now on), joined with `build` (the joined table's rows) when the
    /// query has a join.
    pub fn build(
        &self,
        t: TableDesc,
        reader: TxnReader,
        span: Span,
        build: Option<(TableDesc, Vec<Vec<Datum>>)>,
        env: Arc<Env>,
    ) -> Result<Pipeline> {
        let mut names = scope_names(&t, &self.label);
        let mut tables = vec![(self.label.as_str(), &t)];
        if let (Some(j), Some((bt, _))) = (&self.join, &build) {
            names.extend(scope_names(bt, &j.label));
            tables.push((j.label.as_str(), bt));
        }
        let expanded = self.items(&tables);
        let items: Vec<(String, Expr)> = expanded
            .iter()
            .map(|(n, e, _)| (n.clone(), e.clone()))
            .collect();
        let mut aggs: Vec<(String, AggCall)> = Vec::new();
        let rewritten: Vec<Expr> = items
            .iter()
            .map(|(_, e)| extract_aggs(e, &mut aggs))
            .collect::<Result<_>>()?;
        let having = self
            .sel
            .having
            .as_ref()
            .map(|h| extract_aggs(h, &mut aggs))
            .transpose()?;
        let order: Vec<Expr> = self
            .order
            .iter()
            .map(|o| extract_aggs(&resolve_order(&o.expr, &items), &mut aggs))
            .collect::<Result<_>>()?;
        let group_exprs: Vec<Expr> = match &self.sel.group_by {
            pg::GroupByExpr::Expressions(v, _) => v.clone(),
            pg::GroupByExpr::All(_) => Vec::new(),
        };
        let grouped = !aggs.is_empty() || !group_exprs.is_empty() || having.is_some();
        let ectx = env.ectx();
        let count = |e: Option<&Expr>| -> Result<usize> {
            match e {
                None => Ok(usize::MAX),
                Some(e) => crate::sql::query::count(&expr::eval(e, None, &ectx)?),
            }
        };
        let limit = count(self.limit)?;
        let offset = match self.offset {
            None => 0,
            some => count(some)?,
        };
        let left_width = t.columns.len();
        let width = names.len();
        let mut op: Box<dyn Operator> = Box::new(Scan {
            env: env.clone(),
            reader,
            table: t,
            names: names[..left_width].to_vec(),
            cursor: span.start.0.clone(),
            end: span.end.0.clone(),
            // With a join, WHERE filters the joined rows.
            filter: self.filter.filter(|_| self.join.is_none()).cloned(),
            done: false,
        });
        if let (Some(j), Some((bt, rows))) = (&self.join, build) {
            op = Box::new(HashJoin {
                input: op,
                env: env.clone(),
                names: names.clone(),
                left_width,
                right_width: bt.columns.len(),
                build: rows,
                left_join: j.left,
                on: j.on.clone(),
                filter: self.filter.cloned(),
                index: None,
            });
        }
        let out_names: Vec<String> = items.iter().map(|(n, _)| n.clone()).collect();
        let project_items: Vec<Item> = expanded
            .iter()
            .zip(rewritten)
            .map(|((_, _, col), e)| match col {
                Some(i) => Item::Column(*i),
                None => Item::Expr(Box::new(e)),
            })
            .collect();
        let n_aggs = aggs.len();
        let scope = if grouped {
            op = Box::new(HashAggregate {
                input: op,
                env: env.clone(),
                names: names.clone(),
                width,
                group_exprs: resolve_group_exprs(&group_exprs, &items, &names),
                aggs: aggs.into_iter().map(|(_, a)| a).collect(),
                out: None,
            });
            let mut scope = names;
            scope.extend((0..n_aggs).map(|i| format!("__agg_{i}")));
            scope
        } else {
            names
        };
        op = Box::new(Project {
            input: op,
            env: env.clone(),
            names: scope,
            filter: having,
            items: project_items,
            out_names,
            order,
        });
        if !self.order.is_empty() {
            op = Box::new(Sort {
                input: op,
                env: env.clone(),
                order: self.order.clone(),
                width: items.len(),
                bound: (limit != usize::MAX).then(|| limit.saturating_add(offset)),
                sorted: None,
            });
        }
        if limit != usize::MAX || offset > 0 {
            op = Box::new(Limit {
                input: Some(op),
                skip: offset,
                left: limit,
            });
        }
        Ok(Pipeline(op))
    }
}
