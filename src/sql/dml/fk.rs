//! Foreign keys over one statement: the checks, and the referential actions of `ON DELETE` and
//! `ON UPDATE`, as CockroachDB documents them.
//!
//! A statement tells [`ForeignKeys`] about every row it inserts, updates or deletes (INSERT,
//! UPSERT, `ON CONFLICT DO UPDATE`, UPDATE, DELETE, COPY) and calls [`ForeignKeys::finish`]
//! before it returns. Everything runs in the statement's transaction, so an error anywhere
//! leaves none of the statement's writes, cascaded ones included.
//!
//! Semantics:
//! - A key references something only when none of its columns is NULL (`MATCH SIMPLE`, the
//!   default); under `MATCH FULL` a key must be all NULL (references nothing) or all non-NULL,
//!   a mixture is 23503 at once.
//! - When a referenced key goes away — its row deleted, or its referenced columns changed — each
//!   foreign key referencing it acts by its `ON DELETE` / `ON UPDATE` action:
//!   - `NO ACTION` (the default) and `RESTRICT` (the same in CockroachDB): at the end of the
//!     statement, after every action has run, the old key must not be referenced any more unless
//!     the referenced table has it again; else 23503 `delete|update on table "p" violates foreign
//!     key constraint "fk" on table "c"`. So deleting a whole self-referencing tree in one
//!     statement works, and so does swapping two keys.
//!   - `CASCADE`: referencing rows are deleted (`ON DELETE`) or get the new key (`ON UPDATE`).
//!   - `SET NULL`: the referencing columns become NULL (23502 if one is NOT NULL; CREATE TABLE
//!     refuses that combination up front, as CockroachDB does).
//!   - `SET DEFAULT`: the referencing columns get their defaults (NULL without one); the
//!     default key must itself exist in the referenced table, checked like any written key.
//!
//!   Rows changed by an action are written like any other: CHECK, UNIQUE and NOT NULL hold,
//!   and their own referencing rows act in turn (multi-level and self-referencing cascades).
//! - Actions run breadth-first after the statement's own writes, batched per foreign key: all
//!   keys gone from a table in one round are looked up in the referencing table together (point
//!   or range reads over an index or the primary key starting with the referencing columns,
//!   else one scan). A statement runs at most [`CASCADES_LIMIT`] batches (CockroachDB's
//!   `foreign_key_cascades_limit` default); past it, 09000 `cascades limit (10000) reached`,
//!   which also stops a cycle of actions that would not end.
//! - Keys written by the statement (inserted rows, changed referencing columns, rows changed by
//!   `CASCADE`/`SET DEFAULT`) are checked at the end of the statement too, against the then
//!   current referenced table: inserting a parent and its child in either order in one
//!   statement works. A violation is 23503 `insert|update|upsert on table "c" violates foreign
//!   key constraint "fk"`.
//!
//! Memory: the pending checks and actions hold the keys the statement touched and are charged
//! to the statement's memory account (53200 past `--max-sql-memory`); cancellation and
//! `statement_timeout` are honoured between batches.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::kv::Txn;
use crate::sql::catalog::{FkAction, TableDesc};
use crate::sql::error::{Result, SqlError};
use crate::sql::exec::{Ctx, row_key};
use crate::sql::rows;
use crate::sql::sqlstate::SqlState;
use crate::sql::types::Datum;

/// Batches of referential actions one statement may run (CockroachDB's default
/// `foreign_key_cascades_limit`).
pub const CASCADES_LIMIT: usize = 10_000;

const FK_VIOLATION: SqlState = SqlState("23503");
const TRIGGERED_ACTION_EXCEPTION: SqlState = SqlState("09000");

/// A written key to check at the end: row `key` of `table` has `values` in foreign key `fk`.
struct Outbound {
    table: u32,
    fk: usize,
    key: Vec<u8>,
    values: Vec<Datum>,
    op: &'static str,
}

/// A key gone from `parent` under NO ACTION / RESTRICT: at the end, foreign key `fk` of `child`
/// must not reference it (unless `parent` has it again).
struct Restrict {
    parent: u32,
    child: u32,
    fk: usize,
    values: Vec<Datum>,
    op: &'static str,
}

/// Pending referential action: foreign key `fk` of `child` lost the keys `old` of its
/// referenced table (with their replacements `new` for `ON UPDATE CASCADE`).
struct Action {
    child: u32,
    fk: usize,
    action: FkAction,
    on_delete: bool,
    old: Vec<Vec<Datum>>,
    new: Vec<Option<Vec<Datum>>>,
    /// Encodings of `old`: a key joins a batch once.
    seen: HashSet<Vec<u8>>,
}

/// The foreign-key work of one statement (see the module docs).
#[derive(Default)]
pub(crate) struct ForeignKeys {
    /// Descriptors of the tables involved, by id.
    tables: HashMap<u32, Arc<TableDesc>>,
    /// Per referenced table id: (referencing table id, index of its foreign key); filled from
    /// the catalog when first needed.
    inbound: Option<HashMap<u32, Vec<(u32, usize)>>>,
    outbound: Vec<Outbound>,
    restrict: Vec<Restrict>,
    queue: VecDeque<Action>,
    batches: usize,
    /// Tables an action changed rows of: their written keys are re-read before the check.
    changed_by_actions: HashSet<u32>,
}

impl ForeignKeys {
    /// Nothing recorded yet.
    pub fn new() -> ForeignKeys {
        ForeignKeys::default()
    }

    fn remember(&mut self, t: &TableDesc) {
        self.tables
            .entry(t.id)
            .or_insert_with(|| Arc::new(t.clone()));
    }

    fn table(&self, id: u32) -> Result<Arc<TableDesc>> {
        self.tables
            .get(&id)
            .cloned()
            .ok_or_else(|| SqlError::internal(format!("table {id} not loaded for foreign keys")))
    }

    /// The foreign keys referencing `t` (reading the table descriptors once per statement).
    async fn inbound_of(
        &mut self,
        ctx: &Ctx<'_>,
        txn: &mut Txn,
        t: &TableDesc,
    ) -> Result<Vec<(u32, usize)>> {
        if self.inbound.is_none() {
            let mut map: HashMap<u32, Vec<(u32, usize)>> = HashMap::new();
            for other in ctx.catalog.all_tables(txn).await? {
                for (i, fk) in other.foreign_keys.iter().enumerate() {
                    map.entry(fk.ref_table).or_default().push((other.id, i));
                }
                if !other.foreign_keys.is_empty() {
                    self.tables.entry(other.id).or_insert(Arc::new(other));
                }
            }
            self.inbound = Some(map);
        }
        let found = self
            .inbound
            .as_ref()
            .and_then(|m| m.get(&t.id))
            .cloned()
            .unwrap_or_default();
        Ok(found)
    }

    /// A row was inserted into `t` at `key`.
    pub fn inserted(
        &mut self,
        ctx: &Ctx<'_>,
        t: &TableDesc,
        key: &[u8],
        row: &[Datum],
        op: &'static str,
    ) -> Result<()> {
        if t.foreign_keys.is_empty() {
            return Ok(());
        }
        self.remember(t);
        for (i, fk) in t.foreign_keys.iter().enumerate() {
            if let Some(values) = rows::fk_key(t, fk, row)? {
                ctx.memory.charge(std::iter::once(&values))?;
                self.outbound.push(Outbound {
                    table: t.id,
                    fk: i,
                    key: key.to_vec(),
                    values,
                    op,
                });
            }
        }
        Ok(())
    }

    /// The row of `t` changed from `old` to `new` (at `new_key`, possibly a new key).
    #[allow(clippy::too_many_arguments)]
    pub async fn updated(
        &mut self,
        ctx: &Ctx<'_>,
        txn: &mut Txn,
        t: &TableDesc,
        old: &[Datum],
        new_key: &[u8],
        new: &[Datum],
        op: &'static str,
    ) -> Result<()> {
        self.updated_checking(ctx, txn, t, old, new_key, new, op, None)
            .await
    }

    /// [`Self::updated`], checking foreign key `force` of `t` even if its key did not change
    /// (an action just took the key it had away: `SET DEFAULT` may write the same value).
    #[allow(clippy::too_many_arguments)]
    async fn updated_checking(
        &mut self,
        ctx: &Ctx<'_>,
        txn: &mut Txn,
        t: &TableDesc,
        old: &[Datum],
        new_key: &[u8],
        new: &[Datum],
        op: &'static str,
        force: Option<usize>,
    ) -> Result<()> {
        for (i, fk) in t.foreign_keys.iter().enumerate() {
            let Some(values) = rows::fk_key(t, fk, new)? else {
                continue;
            };
            let before = rows::column_values(t, old, &fk.columns)?;
            if force != Some(i) && rows::same_values(&before, &values) {
                continue;
            }
            self.remember(t);
            ctx.memory.charge(std::iter::once(&values))?;
            self.outbound.push(Outbound {
                table: t.id,
                fk: i,
                key: new_key.to_vec(),
                values,
                op,
            });
        }
        // Only a changed primary-key or unique column can be referenced.
        if !unique_columns_changed(t, old, new) {
            return Ok(());
        }
        for (child, i) in self.inbound_of(ctx, txn, t).await? {
            let fk = self.table(child)?.foreign_keys[i].clone();
            let before = rows::column_values(t, old, &fk.ref_columns)?;
            if before.iter().any(Datum::is_null) {
                continue;
            }
            let after = rows::column_values(t, new, &fk.ref_columns)?;
            if rows::same_values(&before, &after) {
                continue;
            }
            self.gone(
                ctx,
                t,
                child,
                i,
                fk.on_update,
                false,
                before,
                Some(after),
                op,
            )?;
        }
        Ok(())
    }

    /// The row `old` of `t` was deleted.
    pub async fn deleted(
        &mut self,
        ctx: &Ctx<'_>,
        txn: &mut Txn,
        t: &TableDesc,
        old: &[Datum],
    ) -> Result<()> {
        for (child, i) in self.inbound_of(ctx, txn, t).await? {
            let fk = self.table(child)?.foreign_keys[i].clone();
            let before = rows::column_values(t, old, &fk.ref_columns)?;
            if before.iter().any(Datum::is_null) {
                continue;
            }
            self.gone(ctx, t, child, i, fk.on_delete, true, before, None, "delete")?;
        }
        Ok(())
    }

    /// Key `old` of `parent` went away: a check for NO ACTION / RESTRICT, else an action.
    #[allow(clippy::too_many_arguments)]
    fn gone(
        &mut self,
        ctx: &Ctx<'_>,
        parent: &TableDesc,
        child: u32,
        fk: usize,
        action: FkAction,
        on_delete: bool,
        old: Vec<Datum>,
        new: Option<Vec<Datum>>,
        op: &'static str,
    ) -> Result<()> {
        self.remember(parent);
        ctx.memory.charge(std::iter::once(&old))?;
        if !action.writes() {
            self.restrict.push(Restrict {
                parent: parent.id,
                child,
                fk,
                values: old,
                op,
            });
            return Ok(());
        }
        // Join a pending batch of the same foreign key and action, if any.
        let enc = rows::encoded(&old)?;
        if let Some(a) = self.queue.iter_mut().find(|a| {
            a.child == child && a.fk == fk && a.action == action && a.on_delete == on_delete
        }) {
            if a.seen.insert(enc) {
                a.old.push(old);
                a.new.push(new);
            }
            return Ok(());
        }
        self.queue.push_back(Action {
            child,
            fk,
            action,
            on_delete,
            old: vec![old],
            new: vec![new],
            seen: HashSet::from([enc]),
        });
        Ok(())
    }

    /// Runs the pending actions, then the checks. Call once, after the statement's writes.
    pub async fn finish(mut self, ctx: &Ctx<'_>, txn: &mut Txn) -> Result<()> {
        while let Some(a) = self.queue.pop_front() {
            self.batches += 1;
            if self.batches > CASCADES_LIMIT {
                return Err(SqlError::new(
                    TRIGGERED_ACTION_EXCEPTION,
                    format!("cascades limit ({CASCADES_LIMIT}) reached"),
                ));
            }
            ctx.memory.check()?;
            self.run_action(ctx, txn, a).await?;
        }
        self.check_restrict(ctx, txn).await?;
        self.check_outbound(ctx, txn).await
    }

    /// One batch: the rows of the referencing table holding any of the lost keys.
    async fn run_action(&mut self, ctx: &Ctx<'_>, txn: &mut Txn, a: Action) -> Result<()> {
        let child = self.table(a.child)?;
        let fk = child.foreign_keys[a.fk].clone();
        let matched = rows::rows_with_keys(ctx, txn, &child, &fk.columns, &a.old).await?;
        if matched.is_empty() {
            return Ok(());
        }
        self.changed_by_actions.insert(child.id);
        ctx.memory.charge(matched.iter().map(|(_, r, _)| r))?;
        let mut done: HashSet<Vec<u8>> = HashSet::new();
        for (key, row, n) in matched {
            if !done.insert(key.clone()) {
                continue;
            }
            if a.on_delete && a.action == FkAction::Cascade {
                rows::delete_row(ctx, txn, &child, &key, &row).await?;
                self.deleted(ctx, txn, &child, &row).await?;
                continue;
            }
            let mut new = row.clone();
            for (j, id) in fk.columns.iter().enumerate() {
                let i = child.column_index(*id).ok_or_else(|| {
                    SqlError::internal(format!("fk column {id} of {}", child.name))
                })?;
                new[i] = match a.action {
                    FkAction::Cascade => {
                        let v = a.new[n]
                            .as_ref()
                            .and_then(|v| v.get(j))
                            .cloned()
                            .ok_or_else(|| {
                                SqlError::internal("ON UPDATE CASCADE without a new key")
                            })?;
                        child.columns[i].coerce(v)?
                    }
                    FkAction::SetNull => Datum::Null,
                    _ => super::default_value(ctx, &child.columns[i], &[])?,
                };
            }
            super::not_null(&child, &new)?;
            let new_key = row_key(ctx.tenant, &child, &new)?;
            if new_key != key && txn.get(&new_key).await?.is_some() {
                return Err(SqlError::new(
                    SqlState::UNIQUE_VIOLATION,
                    format!(
                        "duplicate key value violates unique constraint \"{}_pkey\"",
                        child.name
                    ),
                ));
            }
            rows::write_row(ctx, txn, &child, Some((&key, &row)), &new).await?;
            self.updated_checking(ctx, txn, &child, &row, &new_key, &new, "update", Some(a.fk))
                .await?;
        }
        Ok(())
    }

    /// NO ACTION / RESTRICT: keys gone from a referenced table must not be referenced now,
    /// unless the referenced table has them again.
    async fn check_restrict(&mut self, ctx: &Ctx<'_>, txn: &mut Txn) -> Result<()> {
        let checks = std::mem::take(&mut self.restrict);
        // One lookup per foreign key, for all its keys.
        let mut by_fk: HashMap<(u32, usize), Vec<&Restrict>> = HashMap::new();
        for c in &checks {
            by_fk.entry((c.child, c.fk)).or_default().push(c);
        }
        let mut groups: Vec<_> = by_fk.into_iter().collect();
        groups.sort_by_key(|(k, _)| *k);
        for ((child_id, fk_idx), group) in groups {
            ctx.memory.check()?;
            let parent = self.table(group[0].parent)?;
            let child = self.table(child_id)?;
            let fk = &child.foreign_keys[fk_idx];
            let mut still_gone: Vec<&Restrict> = Vec::new();
            for c in group {
                if !rows::key_exists(ctx, txn, &parent, &fk.ref_columns, &c.values).await? {
                    still_gone.push(c);
                }
            }
            if still_gone.is_empty() {
                continue;
            }
            let keys: Vec<Vec<Datum>> = still_gone.iter().map(|c| c.values.clone()).collect();
            let found = rows::rows_with_keys(ctx, txn, &child, &fk.columns, &keys).await?;
            if let Some((_, _, n)) = found.iter().min_by_key(|(_, _, n)| *n) {
                let c = still_gone[*n];
                return Err(SqlError::new(
                    FK_VIOLATION,
                    format!(
                        "{} on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
                        c.op, parent.name, fk.name, child.name
                    ),
                )
                .with_hint(format!(
                    "Key ({})=({}) is still referenced from table \"{}\".",
                    rows::column_names(&parent, &fk.ref_columns),
                    show_values(&c.values),
                    child.name
                )));
            }
        }
        Ok(())
    }

    /// Keys the statement wrote must exist in the referenced tables.
    async fn check_outbound(&mut self, ctx: &Ctx<'_>, txn: &mut Txn) -> Result<()> {
        let checks = std::mem::take(&mut self.outbound);
        for (n, c) in checks.iter().enumerate() {
            if n % 1024 == 0 {
                ctx.memory.check()?;
            }
            let t = self.table(c.table)?;
            let fk = &t.foreign_keys[c.fk];
            if self.changed_by_actions.contains(&c.table) {
                // An action may have deleted or changed the row since: check what it holds now
                // (a newer version of the key was recorded when it was written).
                let Some(raw) = txn.get(&c.key).await? else {
                    continue;
                };
                let now = crate::sql::exec::decode_row(&t, &raw)?;
                match rows::fk_key(&t, fk, &now)? {
                    Some(v) if rows::same_values(&v, &c.values) => {}
                    _ => continue,
                }
            }
            let parent = match self.tables.get(&fk.ref_table) {
                Some(p) => p.clone(),
                None => {
                    let p = ctx
                        .catalog
                        .table_by_id(txn, fk.ref_table)
                        .await?
                        .ok_or_else(|| {
                            SqlError::internal(format!(
                                "foreign key {} references a dropped table",
                                fk.name
                            ))
                        })?;
                    let p = Arc::new(p);
                    self.tables.insert(fk.ref_table, p.clone());
                    p
                }
            };
            let parent = &*parent;
            if rows::key_exists(ctx, txn, parent, &fk.ref_columns, &c.values).await? {
                continue;
            }
            return Err(SqlError::new(
                FK_VIOLATION,
                format!(
                    "{} on table \"{}\" violates foreign key constraint \"{}\"",
                    c.op, t.name, fk.name
                ),
            )
            .with_hint(format!(
                "Key ({})=({}) is not present in table \"{}\".",
                rows::column_names(&t, &fk.columns),
                show_values(&c.values),
                parent.name
            )));
        }
        Ok(())
    }
}

fn show_values(vals: &[Datum]) -> String {
    vals.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a column of the primary key or of a unique index differs between `old` and `new`.
fn unique_columns_changed(t: &TableDesc, old: &[Datum], new: &[Datum]) -> bool {
    let changed = |id: &u32| {
        t.column_index(*id)
            .is_some_and(|i| match (old[i].is_null(), new[i].is_null()) {
                (true, true) => false,
                (false, false) => old[i].compare(&new[i]) != Some(std::cmp::Ordering::Equal),
                _ => true,
            })
    };
    t.primary_key.iter().any(changed)
        || t.indexes
            .iter()
            .filter(|i| i.unique)
            .any(|i| i.columns.iter().any(changed))
}
