//! The join operator: an inner or left join of the rows its input streams (the probe side, the
//! query's first table) with a small table read before the first batch (the build side, the
//! joined table), then the WHERE filter over the joined rows.
//!
//! It is the materialising path's join (`query::join`) with the left side streamed: the build
//! rows are indexed by the ON clause's column equalities with the same key function
//! ([`super::super::join::build_index`]; without equalities every build row is a candidate),
//! candidates are checked by the rest of the ON clause, each probe row yields its matches in
//! build order (or, in a left join, one NULL-extended row), so the joined rows and their order
//! are the materialising path's. The build rows are charged to the statement's memory account
//! (53200 beyond `--max-sql-memory`); the probe side is never held.

use super::super::join::{build_index, equi_keys, probe_index};
use super::{Batch, Env, Operator};
use crate::sql::error::Result;
use crate::sql::expr::{self, Row};
use crate::sql::types::Datum;
use sqlparser::ast::Expr;
use std::collections::HashMap;
use std::sync::Arc;

/// Joins its input's rows with `build`.
pub(super) struct HashJoin {
    pub input: Box<dyn Operator>,
    pub env: Arc<Env>,
    /// The joined row's scope names (the probe side's columns, then the build side's).
    pub names: Vec<String>,
    /// Width of the probe rows.
    pub left_width: usize,
    /// Width of the build rows.
    pub right_width: usize,
    /// The build side's rows.
    pub build: Vec<Vec<Datum>>,
    /// LEFT JOIN: a probe row without matches yields one NULL-extended row.
    pub left_join: bool,
    pub on: Expr,
    /// WHERE, over the joined rows.
    pub filter: Option<Expr>,
    /// The build rows by key, once built: the key pairs, whether ON has other conjuncts, the
    /// index (None: no equalities, every build row is a candidate).
    pub index: Option<Index>,
}

/// The build side's index (see [`HashJoin::index`]).
pub(super) struct Index {
    keys: Vec<(usize, usize)>,
    residual: bool,
    by_key: Option<HashMap<String, Vec<usize>>>,
}

impl HashJoin {
    fn index(&mut self) -> Result<()> {
        if self.index.is_some() {
            return Ok(());
        }
        self.env.memory.charge(self.build.iter())?;
        let mut keys = Vec::new();
        let mut residual = false;
        equi_keys(
            &self.on,
            &self.names,
            self.left_width,
            &mut keys,
            &mut residual,
        );
        let by_key = (!keys.is_empty()).then(|| build_index(&self.build, &keys));
        self.index = Some(Index {
            keys,
            residual,
            by_key,
        });
        Ok(())
    }

    /// Whether the joined row `vals` passes `e`.
    fn passes(&self, e: &Expr, vals: &[Datum]) -> Result<bool> {
        let row = Row {
            names: &self.names,
            values: vals,
        };
        Ok(matches!(
            expr::eval(e, Some(&row), &self.env.ectx())?,
            Datum::Bool(true)
        ))
    }

    /// The joined rows of one probe row, filtered by WHERE, appended to `out`.
    fn probe(&self, lrow: &[Datum], out: &mut Batch) -> Result<()> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        let all: Vec<usize>;
        let cands: &[usize] = match &index.by_key {
            Some(by_key) => probe_index(by_key, lrow, &index.keys).map_or(&[], |c| c.as_slice()),
            None => {
                all = (0..self.build.len()).collect();
                &all
            }
        };
        let check_on = index.residual || index.by_key.is_none();
        let mut any = false;
        for &ri in cands {
            let mut v = lrow.to_vec();
            v.extend(self.build[ri].iter().cloned());
            if check_on && !self.passes(&self.on, &v)? {
                continue;
            }
            any = true;
            self.emit(v, out)?;
        }
        if !any && self.left_join {
            let mut v = lrow.to_vec();
            v.extend(std::iter::repeat_n(Datum::Null, self.right_width));
            self.emit(v, out)?;
        }
        Ok(())
    }

    fn emit(&self, v: Vec<Datum>, out: &mut Batch) -> Result<()> {
        if let Some(f) = &self.filter
            && !self.passes(f, &v)?
        {
            return Ok(());
        }
        out.push(v);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Operator for HashJoin {
    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        self.index()?;
        loop {
            self.env.memory.check()?;
            let Some(batch) = self.input.next_batch().await? else {
                return Ok(None);
            };
            let mut out = Vec::new();
            for (n, lrow) in batch.iter().enumerate() {
                // One probe row may match many build rows: check between rows too.
                if n % 64 == 0 {
                    self.env.memory.check()?;
                }
                self.probe(lrow, &mut out)?;
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }
}
