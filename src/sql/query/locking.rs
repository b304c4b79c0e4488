//! Locking reads: `SELECT ... FOR UPDATE | FOR NO KEY UPDATE | FOR SHARE | FOR KEY SHARE
//! [OF table, ...] [NOWAIT | SKIP LOCKED]`, and the SQL side of the row locks UPDATE and DELETE
//! take (the lock table itself is [`crate::kv::locks`]).
//!
//! As in CockroachDB, `FOR NO KEY UPDATE` is `FOR UPDATE` (an exclusive lock) and `FOR KEY SHARE`
//! is `FOR SHARE` (a shared lock; unlike CockroachDB's SERIALIZABLE default, which ignores
//! FOR SHARE unless `enable_shared_locking_for_serializable` is on, shared locks are always
//! taken, as in PostgreSQL). The rows locked are those the query block returns from the locked
//! tables: a scan of a locked table carries each row's primary key in a hidden column through
//! joins and WHERE; the block's output keeps it (hidden) through ORDER BY, and the rows are
//! locked in output order up to LIMIT/OFFSET (so `ORDER BY ... LIMIT 1 FOR UPDATE SKIP LOCKED`
//! locks one row). A locking clause also applies to the tables of subqueries in FROM (all of
//! them, or those of the one named by `OF`); CTEs, functions and system tables are not locked.
//!
//! Waiting: `NOWAIT` fails at once with 55P03 `could not obtain lock on row (k)=(v) in
//! t@t_pkey`; `SKIP LOCKED` leaves such rows out; otherwise the statement waits up to the
//! session's `lock_timeout` (0: no limit; then 55P03), `statement_timeout` or a cancel request
//! (57014). A statement that waited re-runs from scratch at a newer read timestamp (the lock
//! wait checked the transaction's earlier reads), so it returns the previous holder's writes
//! instead of failing at commit. Locks last until the transaction ends (in an implicit
//! transaction, until the statement's commit). They are held by the leaseholder of each row's
//! range, so sessions connected to any node of a cluster wait for each other; a cycle of waits
//! is broken with 40001, at once on one node, after about a second across nodes.
//!
//! Not allowed with a locking clause (0A000, as in PostgreSQL and CockroachDB): UNION /
//! INTERSECT / EXCEPT, DISTINCT, GROUP BY, HAVING, aggregate and window functions, set-returning
//! functions in the select list; `OF` a name that is not in FROM is 42P01; a read-only
//! transaction is 25006.

use super::*;
use crate::kv::locks::LockMode;
use crate::kv::{Locked, RowLock};
use sqlparser::ast::Visit;
use std::ops::ControlFlow;

/// Names of the hidden columns that carry a locked table's row key: this prefix, then the
/// table's label in the query. Their values are `ARRAY[key bytes, row description]`.
pub(super) const LOCK_COL: &str = "\u{1}lock:";

/// What to do with a row another transaction holds a conflicting lock on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Wait {
    /// Wait for it.
    Block,
    /// `SKIP LOCKED`: leave the row out.
    Skip,
    /// `NOWAIT`: fail.
    Error,
}

#[derive(Debug, Clone)]
struct Clause {
    mode: LockMode,
    of: Option<String>,
    wait: Wait,
}

/// The locking clauses in force for one query block.
#[derive(Debug, Clone, Default)]
pub struct LockSpec {
    clauses: Vec<Clause>,
}

fn clause_name(mode: LockMode) -> &'static str {
    match mode {
        LockMode::Exclusive => "FOR UPDATE",
        LockMode::Shared => "FOR SHARE",
    }
}

impl LockSpec {
    /// The clauses of `q` itself plus those `inherited` from an enclosing query (None when there
    /// are none).
    pub(super) fn for_query(q: &pg::Query, inherited: Option<LockSpec>) -> Option<LockSpec> {
        let mut spec = inherited.unwrap_or_default();
        for l in &q.locks {
            let mode = match l.lock_type {
                pg::LockType::Update => LockMode::Exclusive,
                pg::LockType::Share => LockMode::Shared,
            };
            let wait = match l.nonblock {
                None => Wait::Block,
                Some(pg::NonBlock::SkipLocked) => Wait::Skip,
                Some(pg::NonBlock::Nowait) => Wait::Error,
            };
            let of = l.of.as_ref().map(crate::sql::exec::object_last);
            spec.clauses.push(Clause { mode, of, wait });
        }
        (!spec.clauses.is_empty()).then_some(spec)
    }

    /// The strongest lock and wait policy the clauses ask for rows of the FROM item `label`
    /// (PostgreSQL's rule: the strongest strength, NOWAIT over SKIP LOCKED over waiting).
    pub(super) fn for_label(&self, label: &str) -> Option<(LockMode, Wait)> {
        self.clauses
            .iter()
            .filter(|c| c.of.as_deref().is_none_or(|o| o == label))
            .fold(None, |acc: Option<(LockMode, Wait)>, c| {
                Some(match acc {
                    None => (c.mode, c.wait),
                    Some((m, w)) => (m.max(c.mode), w.max(c.wait)),
                })
            })
    }

    /// The clauses that apply to the subquery in FROM labelled `label`, for all its tables.
    pub(super) fn inherited_by(&self, label: &str) -> Option<LockSpec> {
        let clauses: Vec<Clause> = self
            .clauses
            .iter()
            .filter(|c| c.of.as_deref().is_none_or(|o| o == label))
            .map(|c| Clause {
                of: None,
                ..c.clone()
            })
            .collect();
        (!clauses.is_empty()).then_some(LockSpec { clauses })
    }

    fn name(&self) -> &'static str {
        let strongest = self.clauses.iter().map(|c| c.mode).max();
        clause_name(strongest.unwrap_or(LockMode::Exclusive))
    }

    /// Rejects what a locking clause cannot apply to (see the module documentation).
    pub(super) fn check_query(&self, txn: &Txn, q: &pg::Query) -> Result<()> {
        let name = self.name();
        let not_allowed = |what: &str| {
            Err(SqlError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                format!("{name} is not allowed with {what}"),
            ))
        };
        let SetExpr::Select(sel) = q.body.as_ref() else {
            return not_allowed("UNION/INTERSECT/EXCEPT");
        };
        if sel.distinct.is_some() {
            return not_allowed("DISTINCT clause");
        }
        if !matches!(&sel.group_by, pg::GroupByExpr::Expressions(v, _) if v.is_empty()) {
            return not_allowed("GROUP BY clause");
        }
        if sel.having.is_some() {
            return not_allowed("HAVING clause");
        }
        let mut found = None;
        for item in &sel.projection {
            let e = match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                _ => continue,
            };
            let _ = e.visit(&mut FunctionKinds(&mut found));
        }
        if let Some(what) = found {
            return not_allowed(what);
        }
        let labels = from_labels(&sel.from);
        for c in &self.clauses {
            if let Some(of) = &c.of
                && !labels.contains(of)
            {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_TABLE,
                    format!(
                        "relation \"{of}\" in {} clause not found in FROM clause",
                        clause_name(c.mode)
                    ),
                ));
            }
        }
        if txn.is_read_only() {
            return Err(SqlError::new(
                SqlState("25006"),
                format!("cannot execute SELECT {name} in a read-only transaction"),
            ));
        }
        Ok(())
    }
}

/// Finds the first aggregate, window or set-returning call in an expression (not inside a
/// subquery, which is a query block of its own).
struct FunctionKinds<'a>(&'a mut Option<&'static str>);

impl pg::Visitor for FunctionKinds<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _q: &pg::Query) -> ControlFlow<()> {
        // Subqueries are checked when they run; their calls are not this block's.
        ControlFlow::Break(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e {
            let name = f.name.to_string().to_lowercase();
            let what = if f.over.is_some() {
                Some("window functions")
            } else if aggregate::is_aggregate(name.trim_start_matches("pg_catalog.")) {
                Some("aggregate functions")
            } else if table_functions::is_set_returning(&name) {
                Some("set-returning functions in the target list")
            } else {
                None
            };
            if what.is_some() {
                *self.0 = what;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

/// The labels of a FROM list's items (aliases, else table names), joins included.
fn from_labels(from: &[pg::TableWithJoins]) -> Vec<String> {
    fn factor(f: &TableFactor, out: &mut Vec<String>) {
        match f {
            TableFactor::Table { name, alias, .. } => out.push(match alias {
                Some(a) => normalize(&a.name.value, a.name.quote_style.is_some()),
                None => crate::sql::exec::object_last(name),
            }),
            TableFactor::Derived { alias: Some(a), .. } => {
                out.push(normalize(&a.name.value, a.name.quote_style.is_some()))
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                factor(&table_with_joins.relation, out);
                for j in &table_with_joins.joins {
                    factor(&j.relation, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for t in from {
        factor(&t.relation, &mut out);
        for j in &t.joins {
            factor(&j.relation, &mut out);
        }
    }
    out
}

/// Whether a statement has a locking clause anywhere (it then runs as a restartable statement,
/// see the module documentation).
pub fn has_locking(q: &pg::Query) -> bool {
    struct Find;
    impl pg::Visitor for Find {
        type Break = ();
        fn pre_visit_query(&mut self, q: &pg::Query) -> ControlFlow<()> {
            if q.locks.is_empty() {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        }
    }
    q.visit(&mut Find).is_break()
}

/// The hidden lock column of a scan labelled `label`.
pub(super) fn lock_column(label: &str) -> RelCol {
    RelCol {
        table: Some(label.to_string()),
        name: format!("{LOCK_COL}{label}"),
        ty: SqlType::Bytes,
        hidden: true,
        typmod: Default::default(),
        key: false,
    }
}

/// The lock column's value for the row `row` of `t` stored at `key`.
pub(super) fn lock_value(t: &TableDesc, key: Vec<u8>, row: &[Datum]) -> Datum {
    Datum::Array(vec![Datum::Bytes(key), Datum::String(describe_row(t, row))])
}

/// `(k1, k2)=(v1, 'v2') in t@t_pkey`: a row by its primary key, as CockroachDB names it in
/// lock errors.
pub fn describe_row(t: &TableDesc, row: &[Datum]) -> String {
    let mut names = Vec::new();
    let mut vals = Vec::new();
    for id in &t.primary_key {
        if let Some(i) = t.columns.iter().position(|c| c.id == *id) {
            names.push(t.columns[i].name.clone());
            vals.push(match row.get(i) {
                Some(Datum::String(s)) => format!("'{}'", s.replace('\'', "''")),
                Some(d) => d.to_string(),
                None => "NULL".into(),
            });
        }
    }
    format!(
        "({})=({}) in {}@{}_pkey",
        names.join(", "),
        vals.join(", "),
        t.name,
        t.name
    )
}

/// Completes when the statement is cancelled or passes `statement_timeout` (lock waits stop
/// then).
pub async fn interrupted(ctx: &Ctx<'_>) {
    loop {
        if ctx.memory.check().is_err() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Locks the row at `key` (described by `desc`) for this statement. Ok(false): the row is to be
/// skipped (`SKIP LOCKED`). Errors are SQL's: 55P03 (NOWAIT, lock_timeout), 57014, 40001.
pub async fn lock_key(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    key: &[u8],
    desc: &str,
    mode: LockMode,
    wait: Wait,
    explicit: bool,
) -> Result<Locked> {
    let lock = RowLock {
        mode,
        explicit,
        no_wait: wait != Wait::Block,
        lock_timeout: ctx.lock_timeout,
    };
    match txn.lock_row(key, lock, interrupted(ctx)).await {
        Ok(Locked::Busy) if wait == Wait::Error => Err(SqlError::new(
            SqlState::LOCK_NOT_AVAILABLE,
            format!("could not obtain lock on row {desc}"),
        )),
        Ok(l) => Ok(l),
        Err(crate::kv::KvError::LockTimeout) => Err(SqlError::new(
            SqlState::LOCK_NOT_AVAILABLE,
            format!("canceling statement due to lock timeout on row {desc}"),
        )),
        Err(crate::kv::KvError::Interrupted) => Err(ctx
            .memory
            .check()
            .err()
            .unwrap_or_else(|| crate::kv::KvError::Interrupted.into())),
        Err(e) => Err(e.into()),
    }
}

/// Locks the rows of a locking query block's output (ordered) up to `offset + limit` kept
/// rows, drops the rows SKIP LOCKED skips, and removes the hidden lock columns.
pub(super) async fn lock_output(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    rel: &mut Relation,
    spec: &LockSpec,
    wanted: usize,
) -> Result<()> {
    let cols: Vec<(usize, LockMode, Wait)> = rel
        .cols
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let label = c.name.strip_prefix(LOCK_COL)?;
            let (m, w) = spec.for_label(label)?;
            Some((i, m, w))
        })
        .collect();
    let mut kept = Vec::new();
    for row in std::mem::take(&mut rel.rows) {
        if kept.len() >= wanted {
            break;
        }
        let mut skip = false;
        for (i, mode, wait) in &cols {
            // NULL: the outer side of a join without a row of this table.
            let Some(Datum::Array(parts)) = row.get(*i) else {
                continue;
            };
            let [Datum::Bytes(key), Datum::String(desc)] = parts.as_slice() else {
                continue;
            };
            if lock_key(ctx, txn, key, desc, *mode, *wait, true).await? == Locked::Busy {
                skip = true;
                break;
            }
        }
        if !skip {
            kept.push(row);
        }
    }
    let hidden: Vec<bool> = rel
        .cols
        .iter()
        .map(|c| c.name.starts_with(LOCK_COL))
        .collect();
    if hidden.iter().any(|h| *h) {
        for r in &mut kept {
            let mut i = 0;
            r.retain(|_| {
                i += 1;
                !hidden[i - 1]
            });
        }
        rel.cols.retain(|c| !c.name.starts_with(LOCK_COL));
    }
    rel.rows = kept;
    Ok(())
}
