//! The sort operator: ORDER BY over its input's rows, which carry their sort keys after the
//! `width` output columns (see `Project`).
//!
//! With a bound (`ORDER BY ... LIMIT n [OFFSET m]`: the first n + m rows) it keeps at most
//! about twice the bound: whenever the buffer reaches that size it is sorted and cut back to
//! the bound, giving back the memory of what it dropped. The sort is stable and the rows that
//! are kept arrive before any later row with equal keys, so the result is exactly the first
//! rows of a full stable sort, as on the materialising path. Without a bound every row is kept
//! (charged to the statement's memory account: 53200 beyond `--max-sql-memory`; there is no
//! spilling). The input is consumed completely before the first row comes out.

use super::{BATCH, Batch, Env, Operator};
use crate::sql::error::Result;
use crate::sql::types::Datum;
use sqlparser::ast as pg;
use std::sync::Arc;

/// Sorts its input's rows by the keys after their first `width` columns.
pub(super) struct Sort {
    pub input: Box<dyn Operator>,
    pub env: Arc<Env>,
    pub order: Vec<pg::OrderByExpr>,
    pub width: usize,
    /// The rows wanted (LIMIT + OFFSET), if bounded.
    pub bound: Option<usize>,
    /// The sorted rows, handed out last first (reversed).
    pub sorted: Option<Vec<Vec<Datum>>>,
}

type Keyed = (Vec<Datum>, Vec<Datum>);

impl Sort {
    /// Sorts `rows` and cuts them back to the bound, releasing what is dropped. A cancel
    /// request or timeout during a long sort makes the remaining comparisons trivial, so the
    /// sort ends at once (its order no longer matters: the caller fails with 57014).
    fn cut(&self, rows: &mut Vec<Keyed>) -> Result<()> {
        let order = &self.order;
        let memory = &self.env.memory;
        let mut compared = 0u32;
        let mut stopped = false;
        crate::sql::query::heavy(rows.len(), || {
            rows.sort_by(|a, b| {
                compared = compared.wrapping_add(1);
                if compared.is_multiple_of(4096) && !stopped {
                    stopped = memory.check().is_err();
                }
                if stopped {
                    return std::cmp::Ordering::Equal;
                }
                crate::sql::query::select::compare_keys(&a.1, &b.1, order)
            })
        });
        memory.check()?;
        if let Some(b) = self.bound
            && rows.len() > b
        {
            let dropped = rows.split_off(b);
            self.env
                .memory
                .release(dropped.iter().flat_map(|(v, k)| [v, k]));
        }
        Ok(())
    }

    async fn consume(&mut self) -> Result<Vec<Vec<Datum>>> {
        let mut rows: Vec<Keyed> = Vec::new();
        let limit = self.bound.map(|b| b.saturating_mul(2).max(BATCH));
        while let Some(batch) = self.input.next_batch().await? {
            self.env.memory.check()?;
            for mut r in batch {
                let keys = r.split_off(self.width.min(r.len()));
                self.env.memory.charge([&r, &keys])?;
                rows.push((r, keys));
            }
            if limit.is_some_and(|l| rows.len() >= l) {
                self.cut(&mut rows)?;
            }
        }
        self.cut(&mut rows)?;
        let mut out: Vec<Vec<Datum>> = rows.into_iter().map(|(v, _)| v).collect();
        out.reverse();
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Operator for Sort {
    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        self.env.memory.check()?;
        if self.sorted.is_none() {
            let rows = self.consume().await?;
            self.sorted = Some(rows);
        }
        let Some(rows) = &mut self.sorted else {
            return Ok(None);
        };
        if rows.is_empty() {
            return Ok(None);
        }
        let n = rows.len().min(BATCH);
        let batch: Batch = rows.drain(rows.len() - n..).rev().collect();
        Ok(Some(batch))
    }
}
