//! The scan operator: one table's rows in a key span, read from KV [`super::BATCH`] at a time
//! through a reader of the statement's transaction ([`TxnReader`]: every batch reads the same
//! snapshot, with the transaction's writes from before the statement), decoded and filtered by
//! the WHERE clause. A consumer that stops early (LIMIT, a client that went away) drops the
//! operator and the reader with it. It yields to the runtime before each batch, so a long scan
//! never holds its thread.

use super::{BATCH, Batch, Env, Operator};
use crate::kv::TxnReader;
use crate::sql::catalog::TableDesc;
use crate::sql::error::Result;
use crate::sql::expr::{self, Row};
use crate::sql::scan::decode_row;
use crate::sql::types::Datum;
use crate::storage::keys::Span;
use sqlparser::ast::Expr;
use std::sync::Arc;

/// Reads `table`'s rows from `cursor` to `end`.
pub(super) struct Scan {
    pub env: Arc<Env>,
    pub reader: TxnReader,
    pub table: TableDesc,
    /// The row's scope names (for the filter).
    pub names: Vec<String>,
    pub cursor: Vec<u8>,
    pub end: Vec<u8>,
    pub filter: Option<Expr>,
    pub done: bool,
}

#[async_trait::async_trait]
impl Operator for Scan {
    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        while !self.done {
            // The node's other tasks on this thread (a cancel request among them) run between
            // batches even when KV answers at once.
            tokio::task::yield_now().await;
            self.env.memory.check()?;
            let span = Span::new(self.cursor.clone(), self.end.clone());
            let kvs = match self.reader.scan(&span, BATCH).await {
                Ok(kvs) => kvs,
                Err(e) => {
                    self.done = true;
                    return Err(e.into());
                }
            };
            if kvs.len() < BATCH {
                self.done = true;
            }
            if let Some((k, _)) = kvs.last() {
                let mut next = k.clone();
                next.push(0);
                self.cursor = next;
            }
            let ectx = self.env.ectx();
            let mut out = Vec::with_capacity(kvs.len());
            for (_, raw) in kvs {
                let row = decode_row(&self.table, &raw)?;
                if let Some(f) = &self.filter {
                    let scope = Row {
                        names: &self.names,
                        values: &row,
                    };
                    if !matches!(expr::eval(f, Some(&scope), &ectx)?, Datum::Bool(true)) {
                        continue;
                    }
                }
                out.push(row);
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }
}
