//! How INSERT, `INSERT ... ON CONFLICT` and UPSERT write each proposed row, following
//! CockroachDB:
//!
//! - Arbiters are the unique constraints conflicts are looked for on. `ON CONFLICT (cols)`
//!   names the primary key or the unique index over exactly those columns (any order; 42P10 when
//!   there is none, 42703 for an unknown column); `ON CONFLICT ON CONSTRAINT name` names one
//!   (42704 when unknown). Without a target, `DO NOTHING` arbitrates on every unique constraint
//!   and `DO UPDATE` on the only one (0A000 when the table has several). UPSERT arbitrates on
//!   the primary key.
//! - A proposed row with a NULL in an arbiter's columns conflicts with nothing there. A row that
//!   conflicts on an arbiter is skipped (`DO NOTHING`) or updates the existing row (`DO UPDATE
//!   SET ... [WHERE ...]`, where `excluded.col` names the proposed value; a false WHERE leaves
//!   the row alone). A conflict on a unique constraint that is not an arbiter is 23505.
//! - Rows earlier in the same statement count as existing: a later duplicate is skipped by `DO
//!   NOTHING`, while `DO UPDATE` and UPSERT fail with 21000 `UPSERT or INSERT...ON CONFLICT
//!   command cannot affect row a second time` when a row the statement already inserted or
//!   updated conflicts again.
//! - UPSERT overwrites, in an existing row, the listed columns; without a column list, every
//!   column, those without a value getting their defaults (CockroachDB: "the value of columns
//!   that do not have new values will be updated to their default values"). Primary-key columns
//!   keep their stored values.
//! - NOT NULL is checked on the row actually written (a skipped row is not checked).

use std::collections::HashSet;

use sqlparser::ast::{self as pg, Expr};

use super::fk::ForeignKeys;
use crate::kv::Txn;
use crate::sql::catalog::TableDesc;
use crate::sql::error::{Result, SqlError};
use crate::sql::exec::{Ctx, decode_row, eval_ctx, object_last, row_key};
use crate::sql::expr::{self, Row, normalize};
use crate::sql::rows;
use crate::sql::sqlstate::SqlState;
use crate::sql::types::Datum;

/// A unique constraint conflicts are looked for on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Arbiter {
    /// The primary key.
    Primary,
    /// `t.indexes[i]` (unique).
    Index(usize),
}

/// What the statement does with a proposed row.
pub(super) enum Mode<'a> {
    /// Plain INSERT: any conflict is 23505.
    Insert,
    /// `ON CONFLICT ... DO NOTHING`.
    DoNothing(Vec<Arbiter>),
    /// `ON CONFLICT ... DO UPDATE SET ... [WHERE ...]`.
    DoUpdate {
        arbiter: Arbiter,
        assignments: &'a [pg::Assignment],
        selection: Option<&'a Expr>,
    },
    /// UPSERT: overwrite, in an existing row, every column (`all_columns`: no column list) or
    /// the listed ones.
    Upsert { all_columns: bool },
}

/// The mode of an INSERT or UPSERT statement.
pub(super) fn mode<'a>(t: &TableDesc, ins: &'a pg::Insert) -> Result<Mode<'a>> {
    if ins.replace_into {
        if ins.on.is_some() {
            return Err(SqlError::syntax("UPSERT cannot have an ON CONFLICT clause"));
        }
        return Ok(Mode::Upsert {
            all_columns: ins.columns.is_empty(),
        });
    }
    let oc = match &ins.on {
        None => return Ok(Mode::Insert),
        Some(pg::OnInsert::OnConflict(oc)) => oc,
        Some(other) => return Err(SqlError::unsupported(format!("{other}"))),
    };
    let target = match &oc.conflict_target {
        None => None,
        Some(pg::ConflictTarget::Columns { columns, .. }) => Some(by_columns(t, columns)?),
        Some(pg::ConflictTarget::OnConstraint(name)) => Some(by_name(t, &object_last(name))?),
    };
    Ok(match &oc.action {
        pg::OnConflictAction::DoNothing => Mode::DoNothing(match target {
            Some(a) => vec![a],
            None => all_unique(t),
        }),
        pg::OnConflictAction::DoUpdate(du) => {
            let arbiter = match target {
                Some(a) => a,
                None => match all_unique(t).as_slice() {
                    [one] => *one,
                    _ => {
                        return Err(SqlError::unsupported(
                            "there are multiple unique or exclusion constraints matching the ON CONFLICT specification",
                        ));
                    }
                },
            };
            Mode::DoUpdate {
                arbiter,
                assignments: &du.assignments,
                selection: du.selection.as_ref(),
            }
        }
    })
}

fn all_unique(t: &TableDesc) -> Vec<Arbiter> {
    std::iter::once(Arbiter::Primary)
        .chain(
            t.indexes
                .iter()
                .enumerate()
                .filter(|(_, i)| i.unique)
                .map(|(n, _)| Arbiter::Index(n)),
        )
        .collect()
}

fn by_columns(t: &TableDesc, columns: &[pg::Ident]) -> Result<Arbiter> {
    let mut ids = Vec::with_capacity(columns.len());
    for c in columns {
        let n = normalize(&c.value, c.quote_style.is_some());
        let col = t.column(&n).ok_or_else(|| {
            SqlError::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{n}\" does not exist"),
            )
        })?;
        ids.push(col.id);
    }
    let set = |v: &[u32]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v.dedup();
        v
    };
    let wanted = set(&ids);
    if set(&t.primary_key) == wanted {
        return Ok(Arbiter::Primary);
    }
    t.indexes
        .iter()
        .position(|i| i.unique && set(&i.columns) == wanted)
        .map(Arbiter::Index)
        .ok_or_else(|| {
            SqlError::new(
                SqlState::INVALID_COLUMN_REFERENCE,
                "there is no unique or exclusion constraint matching the ON CONFLICT specification",
            )
        })
}

fn by_name(t: &TableDesc, name: &str) -> Result<Arbiter> {
    if name == format!("{}_pkey", t.name) || name == "primary" {
        return Ok(Arbiter::Primary);
    }
    t.indexes
        .iter()
        .position(|i| i.unique && i.name == name)
        .map(Arbiter::Index)
        .ok_or_else(|| {
            SqlError::new(
                SqlState::UNDEFINED_OBJECT,
                format!(
                    "constraint \"{name}\" for table \"{}\" does not exist",
                    t.name
                ),
            )
        })
}

/// The existing row `row` conflicts with on `arbiter`, if any.
async fn conflicting(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    arbiter: Arbiter,
    row: &[Datum],
) -> Result<Option<(Vec<u8>, Vec<Datum>)>> {
    match arbiter {
        Arbiter::Primary => {
            let key = row_key(ctx.tenant, t, row)?;
            match txn.get(&key).await? {
                Some(raw) => Ok(Some((key, decode_row(t, &raw)?))),
                None => Ok(None),
            }
        }
        Arbiter::Index(i) => rows::row_by_unique_index(ctx, txn, t, &t.indexes[i], row).await,
    }
}

fn duplicate_pk(t: &TableDesc) -> SqlError {
    SqlError::new(
        SqlState::UNIQUE_VIOLATION,
        format!(
            "duplicate key value violates unique constraint \"{}_pkey\"",
            t.name
        ),
    )
}

/// The statement-wide state of writing proposed rows.
pub(super) struct Writer<'a, 'c> {
    pub ctx: &'a Ctx<'c>,
    pub t: &'a TableDesc,
    pub mode: Mode<'a>,
    pub params: &'a [Datum],
    pub fks: ForeignKeys,
    /// Primary keys of the rows this statement inserted or updated.
    affected: HashSet<Vec<u8>>,
}

impl<'a, 'c> Writer<'a, 'c> {
    /// A writer for `t` in `mode`.
    pub fn new(ctx: &'a Ctx<'c>, t: &'a TableDesc, mode: Mode<'a>, params: &'a [Datum]) -> Self {
        Writer {
            ctx,
            t,
            mode,
            params,
            fks: ForeignKeys::new(),
            affected: HashSet::new(),
        }
    }

    /// Writes one proposed row (`full`, with `listed` marking the columns the statement gave);
    /// returns the row written, or `None` when it was skipped.
    pub async fn write(
        &mut self,
        txn: &mut Txn,
        full: Vec<Datum>,
        listed: &[bool],
    ) -> Result<Option<Vec<Datum>>> {
        let (ctx, t) = (self.ctx, self.t);
        let existing = match &self.mode {
            Mode::Insert => None,
            Mode::DoNothing(arbiters) => {
                for a in arbiters {
                    if conflicting(ctx, txn, t, *a, &full).await?.is_some() {
                        return Ok(None);
                    }
                }
                None
            }
            Mode::DoUpdate { arbiter, .. } => conflicting(ctx, txn, t, *arbiter, &full).await?,
            Mode::Upsert { .. } => conflicting(ctx, txn, t, Arbiter::Primary, &full).await?,
        };
        let Some((key, old)) = existing else {
            return self.insert(txn, full).await.map(Some);
        };
        if self.affected.contains(&key) {
            return Err(SqlError::new(
                SqlState("21000"),
                "UPSERT or INSERT...ON CONFLICT command cannot affect row a second time",
            )
            .with_hint(
                "Ensure that no rows proposed for insertion within the same command have duplicate constrained values.",
            ));
        }
        let new = match &self.mode {
            Mode::Upsert { all_columns } => (0..t.columns.len())
                .map(|i| {
                    let pk = t.primary_key.contains(&t.columns[i].id);
                    if !pk && (*all_columns || listed[i]) {
                        full[i].clone()
                    } else {
                        old[i].clone()
                    }
                })
                .collect(),
            Mode::DoUpdate {
                assignments,
                selection,
                ..
            } => match self.assign(&old, &full, assignments, *selection)? {
                Some(new) => new,
                None => return Ok(None),
            },
            Mode::Insert | Mode::DoNothing(_) => {
                return Err(SqlError::internal("conflict without an update"));
            }
        };
        super::not_null(t, &new)?;
        let new_key = row_key(ctx.tenant, t, &new)?;
        if new_key != key && txn.get(&new_key).await?.is_some() {
            return Err(duplicate_pk(t));
        }
        rows::write_row(ctx, txn, t, Some((&key, &old)), &new).await?;
        let op = if matches!(self.mode, Mode::Upsert { .. }) {
            "upsert"
        } else {
            "insert"
        };
        self.fks
            .updated(ctx, txn, t, &old, &new_key, &new, op)
            .await?;
        self.affected.insert(new_key);
        Ok(Some(new))
    }

    async fn insert(&mut self, txn: &mut Txn, full: Vec<Datum>) -> Result<Vec<Datum>> {
        let (ctx, t) = (self.ctx, self.t);
        super::not_null(t, &full)?;
        let key = row_key(ctx.tenant, t, &full)?;
        // The arbiter lookups above already read the key when the primary key arbitrates.
        if txn.get(&key).await?.is_some() {
            return Err(duplicate_pk(t));
        }
        rows::write_row(ctx, txn, t, None, &full).await?;
        let op = if matches!(self.mode, Mode::Upsert { .. }) {
            "upsert"
        } else {
            "insert"
        };
        self.fks.inserted(ctx, t, &key, &full, op)?;
        if matches!(self.mode, Mode::DoUpdate { .. } | Mode::Upsert { .. }) {
            self.affected.insert(key);
        }
        Ok(full)
    }

    /// `DO UPDATE SET ... [WHERE ...]` over the existing row `old` and the proposed `full`
    /// (`excluded.col`); `None` when the WHERE clause is not true.
    fn assign(
        &self,
        old: &[Datum],
        full: &[Datum],
        assignments: &[pg::Assignment],
        selection: Option<&Expr>,
    ) -> Result<Option<Vec<Datum>>> {
        let t = self.t;
        let ectx = eval_ctx(self.ctx, self.params);
        let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        let mut scope_names = names.clone();
        scope_names.extend(names.iter().map(|n| format!("excluded.{n}")));
        let mut scope_vals = old.to_vec();
        scope_vals.extend(full.iter().cloned());
        let scope = Row {
            names: &scope_names,
            values: &scope_vals,
        };
        if let Some(sel) = selection
            && !matches!(expr::eval(sel, Some(&scope), &ectx)?, Datum::Bool(true))
        {
            return Ok(None);
        }
        let mut new = old.to_vec();
        for a in assignments {
            let pg::AssignmentTarget::ColumnName(c) = &a.target else {
                return Err(SqlError::unsupported("tuple assignment"));
            };
            let cn = object_last(c);
            let i = names.iter().position(|x| *x == cn).ok_or_else(|| {
                SqlError::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!("column \"{cn}\" does not exist"),
                )
            })?;
            new[i] = t.columns[i].coerce(expr::eval(&a.value, Some(&scope), &ectx)?)?;
        }
        Ok(Some(new))
    }
}
