//! Hash aggregation: GROUP BY and aggregates over its input as the rows arrive, never holding
//! the input. Each group keeps its first row (the scope of the grouped columns, as on the
//! materialising path) and one [`Accumulator`] per aggregate call; groups are charged to the
//! statement's memory account when they appear (53200 beyond `--max-sql-memory`). Once the
//! input is exhausted the groups come out in the order they first appeared, each as its first
//! row followed by the aggregates' values (the `__agg_<n>` columns); a query without GROUP BY
//! over no rows yields one group over a row of NULLs.

use super::super::accumulate::Accumulator;
use super::super::aggregate::AggCall;
use super::{BATCH, Batch, Env, Operator};
use crate::sql::error::Result;
use crate::sql::expr::{self, Row};
use crate::sql::types::Datum;
use sqlparser::ast::Expr;
use std::collections::HashMap;
use std::sync::Arc;

/// Groups its input's rows by `group_exprs` and aggregates each group.
pub(in crate::sql::query) struct HashAggregate {
    pub input: Box<dyn Operator>,
    pub env: Arc<Env>,
    /// The input row's scope names.
    pub names: Vec<String>,
    /// Width of the input rows.
    pub width: usize,
    pub group_exprs: Vec<Expr>,
    pub aggs: Vec<AggCall>,
    /// The finished groups, handed out last first (reversed); None until the input is read.
    pub out: Option<Vec<Vec<Datum>>>,
}

type Group = (Vec<Datum>, Vec<Accumulator>);

impl HashAggregate {
    /// Reads the whole input into groups.
    async fn consume(&mut self) -> Result<Vec<Group>> {
        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        while let Some(batch) = self.input.next_batch().await? {
            self.env.memory.check()?;
            let ectx = self.env.ectx();
            for values in batch {
                let row = Row {
                    names: &self.names,
                    values: &values,
                };
                let key: Vec<Datum> = self
                    .group_exprs
                    .iter()
                    .map(|g| expr::eval(g, Some(&row), &ectx))
                    .collect::<Result<_>>()?;
                let k = super::super::hash_key(key.iter());
                let i = match index.get(&k) {
                    Some(&i) => i,
                    None => {
                        // The group's first row, its key and its accumulators.
                        let accs = vec![Datum::Null; self.aggs.len()];
                        self.env.memory.charge([
                            &values,
                            &vec![Datum::String(k.clone())],
                            &accs,
                        ])?;
                        index.insert(k, groups.len());
                        let accs = self.aggs.iter().map(Accumulator::new).collect();
                        groups.push((values.clone(), accs));
                        groups.len() - 1
                    }
                };
                let accs = &mut groups[i].1;
                for (a, acc) in self.aggs.iter().zip(accs.iter_mut()) {
                    acc.add(a, &self.names, &values, &ectx, Some(&self.env.memory))?;
                }
            }
        }
        if groups.is_empty() && self.group_exprs.is_empty() {
            let accs = self.aggs.iter().map(Accumulator::new).collect();
            groups.push((vec![Datum::Null; self.width], accs));
        }
        Ok(groups)
    }
}

#[async_trait::async_trait]
impl Operator for HashAggregate {
    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        self.env.memory.check()?;
        if self.out.is_none() {
            let groups = self.consume().await?;
            let ectx = self.env.ectx();
            let mut out = Vec::with_capacity(groups.len());
            for (n, (mut scope, accs)) in groups.into_iter().enumerate() {
                if n % BATCH == 0 {
                    self.env.memory.check()?;
                }
                for (a, acc) in self.aggs.iter().zip(accs) {
                    scope.push(acc.finish(a, &ectx)?);
                }
                out.push(scope);
            }
            out.reverse();
            self.out = Some(out);
        }
        let Some(rows) = &mut self.out else {
            return Ok(None);
        };
        if rows.is_empty() {
            return Ok(None);
        }
        let n = rows.len().min(BATCH);
        Ok(Some(rows.drain(rows.len() - n..).rev().collect()))
    }
}
