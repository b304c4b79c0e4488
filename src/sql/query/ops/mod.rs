//! Pull-based operators: a query over one table as a pipeline of operators, each pulling
//! batches of rows from its input when asked for its next batch, so rows reach the client as
//! they are produced and nothing holds the whole table.
//!
//! The pipeline is scan (batched KV reads at one snapshot, the WHERE filter) → hash join
//! (when the query joins a small second table; WHERE then filters the joined rows) → hash
//! aggregation (when grouped) → projection (HAVING, the select list, ORDER BY keys) → sort
//! (when ordered: a bounded top-n under LIMIT, else all rows) → limit/offset (stops pulling
//! once satisfied). [`plan`] decides which queries it covers and builds it; everything else
//! runs on the materialising path. Expressions, aggregates ([`super::accumulate`]), ORDER BY
//! comparison and LIMIT/OFFSET evaluation are the materialising path's own functions, so
//! results are the same.
//!
//! Every operator checks the statement's memory account ([`Env::memory`]) for a cancel
//! request or a passed `statement_timeout` at least once per batch (57014); what an operator
//! holds (groups, sorted rows, aggregate inputs it must keep) is charged to that account, and
//! a charge beyond `--max-sql-memory` fails the statement with 53200. An error ends the
//! pipeline: no further batches are produced.

use crate::sql::error::Result;
use crate::sql::exec::MemoryAccount;
use crate::sql::expr::{self, EvalContext, Row};
use crate::sql::types::Datum;
use sqlparser::ast::Expr;
use std::sync::Arc;

mod aggregate;
mod join;
pub mod plan;
mod scan;
mod sort;

pub use plan::{Pipeline, Shape, shape};

/// Rows per batch (and per KV read).
pub const BATCH: usize = 1024;

/// A batch of rows.
pub type Batch = Vec<Vec<Datum>>;

/// An operator: produces its output batch by batch.
#[async_trait::async_trait]
pub trait Operator: Send {
    /// The next batch of rows (never empty), or None when the operator is exhausted.
    async fn next_batch(&mut self) -> Result<Option<Batch>>;
}

/// What every operator of one statement shares: the evaluation context's facts and the
/// statement's memory account (budget, `statement_timeout`, cancel flag).
pub struct Env {
    /// Statement parameters.
    pub params: Vec<Datum>,
    /// The user.
    pub user: String,
    /// Current database.
    pub database: String,
    /// Statement time.
    pub now_nanos: u64,
    /// The statement's memory account.
    pub memory: MemoryAccount,
}

impl Env {
    /// The evaluation context for expressions.
    pub fn ectx(&self) -> EvalContext<'_> {
        EvalContext {
            params: &self.params,
            user: &self.user,
            database: &self.database,
            now_nanos: self.now_nanos,
            oids: None,
        }
    }
}

/// One output column of a projection.
#[derive(Clone, Debug)]
pub(super) enum Item {
    /// An input column as is (`*`).
    Column(usize),
    /// An expression over the input row.
    Expr(Box<Expr>),
}

/// Projection: the select list (and the ORDER BY keys, appended after it for the sort) over
/// each input row that passes `filter` (HAVING).
pub(super) struct Project {
    pub input: Box<dyn Operator>,
    pub env: Arc<Env>,
    /// The input row's scope names.
    pub names: Vec<String>,
    pub filter: Option<Expr>,
    pub items: Vec<Item>,
    /// The output columns' names (ORDER BY may name them).
    pub out_names: Vec<String>,
    /// ORDER BY keys, as the materialising path evaluates them.
    pub order: Vec<Expr>,
}

#[async_trait::async_trait]
impl Operator for Project {
    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        loop {
            self.env.memory.check()?;
            let Some(batch) = self.input.next_batch().await? else {
                return Ok(None);
            };
            let ectx = self.env.ectx();
            let mut out = Vec::with_capacity(batch.len());
            for values in &batch {
                let row = Row {
                    names: &self.names,
                    values,
                };
                if let Some(f) = &self.filter
                    && !matches!(expr::eval(f, Some(&row), &ectx)?, Datum::Bool(true))
                {
                    continue;
                }
                let mut vals = Vec::with_capacity(self.items.len() + self.order.len());
                for item in &self.items {
                    vals.push(match item {
                        Item::Column(i) => values.get(*i).cloned().unwrap_or(Datum::Null),
                        Item::Expr(e) => expr::eval(e, Some(&row), &ectx)?,
                    });
                }
                if !self.order.is_empty() {
                    let keys =
                        super::select::sort_keys(&self.order, &self.out_names, &vals, &row, &ectx)?;
                    vals.extend(keys);
                }
                out.push(vals);
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }
}

/// LIMIT/OFFSET: skips `skip` rows, passes at most `left`, and stops pulling its input (which is
/// dropped, ending the scan) once `left` is reached.
pub(super) struct Limit {
    pub input: Option<Box<dyn Operator>>,
    pub skip: usize,
    pub left: usize,
}

#[async_trait::async_trait]
impl Operator for Limit {
    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        loop {
            if self.left == 0 {
                self.input = None;
                return Ok(None);
            }
            let Some(input) = &mut self.input else {
                return Ok(None);
            };
            let Some(mut batch) = input.next_batch().await? else {
                self.input = None;
                return Ok(None);
            };
            let skipped = self.skip.min(batch.len());
            self.skip -= skipped;
            batch.drain(..skipped);
            batch.truncate(self.left);
            self.left -= batch.len();
            if !batch.is_empty() {
                return Ok(Some(batch));
            }
        }
    }
}
