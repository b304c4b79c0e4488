//! Which queries the operator pipeline covers, and building it.
//!
//! Covered: one SELECT block over one real table (no join, CTE, derived table, table
//! function, column aliases on the table), with WHERE, GROUP BY (plain expressions), HAVING,
//! aggregates, ORDER BY, LIMIT and OFFSET, and no DISTINCT, window function, set-returning
//! function, subquery or locking clause anywhere. [`shape`] says None for anything else and
//! the query runs on the materialising path. The select list, aggregate extraction, GROUP BY
//! and ORDER BY resolution use the materialising path's functions, so both see the same
//! query.

use super::aggregate::HashAggregate;
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
    sel: &'a pg::Select,
    order: Vec<pg::OrderByExpr>,
    limit: Option<&'a Expr>,
    offset: Option<&'a Expr>,
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
        || !sel.from[0].joins.is_empty()
    {
        return None;
    }
    let TableFactor::Table {
        name,
        alias,
        args: None,
        ..
    } = &sel.from[0].relation
    else {
        return None;
    };
    if alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
        return None;
    }
    let pg::GroupByExpr::Expressions(groups, _) = &sel.group_by else {
        return None;
    };
    let mut exprs: Vec<&Expr> = sel.selection.iter().chain(sel.having.iter()).collect();
    exprs.extend(groups);
    exprs.extend(order.iter().map(|o| &o.expr));
    for item in &sel.projection {
        match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => exprs.push(e),
            SelectItem::Wildcard(_) => {}
            SelectItem::QualifiedWildcard(
                pg::SelectItemQualifiedWildcardKind::ObjectName(_),
                _,
            ) => {}
            _ => return None,
        }
    }
    if exprs.into_iter().any(unsupported_expr) {
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
        sel,
        order,
        limit,
        offset,
    })
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
    fn items(&self, t: &TableDesc) -> Vec<(String, Expr, Option<usize>)> {
        let mut items = Vec::new();
        for item in &self.sel.projection {
            match item {
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                    for (i, c) in t.columns.iter().enumerate() {
                        if !c.hidden {
                            items.push((c.name.clone(), col_ref(i), Some(i)));
                        }
                    }
                }
                SelectItem::UnnamedExpr(e) => items.push((label(e), e.clone(), None)),
                SelectItem::ExprWithAlias { expr: e, alias } => items.push((
                    normalize(&alias.value, alias.quote_style.is_some()),
                    e.clone(),
                    None,
                )),
                _ => {}
            }
        }
        items
    }

    /// Builds the pipeline reading `span` of `t` through `reader` (the statement's snapshot,
    /// owned by the scan from now on).
    pub fn build(
        &self,
        t: TableDesc,
        reader: TxnReader,
        span: Span,
        env: Arc<Env>,
    ) -> Result<Pipeline> {
        let names = scope_names(&t, &self.label);
        let expanded = self.items(&t);
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
        let width = t.columns.len();
        let mut op: Box<dyn Operator> = Box::new(Scan {
            env: env.clone(),
            reader,
            table: t,
            names: names.clone(),
            cursor: span.start.0.clone(),
            end: span.end.0.clone(),
            filter: self.filter.cloned(),
            done: false,
        });
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
