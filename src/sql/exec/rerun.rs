//! Statements that re-run after a row-lock wait: a locking query, UPDATE and DELETE. When one
//! waited for a lock, the wait moved the transaction's read timestamp past the holder's commit
//! (checking only earlier statements' reads); the statement's buffered writes go back to where
//! they were and it runs again, reading the holder's writes (see
//! [`crate::sql::query::locking`]). Gives up with 40001 after [`MAX_LOCKING_RERUNS`] runs.

use super::*;

/// How many times a statement re-runs after lock waits before giving up with 40001.
const MAX_LOCKING_RERUNS: usize = 100;
/// Past this many buffered writes, UPDATE and DELETE do not re-run after a lock wait (the
/// snapshot of the write buffer a re-run needs would cost a copy of it): their lock waits check
/// every earlier read instead, which may fail with 40001.
const MAX_RERUN_SNAPSHOT: usize = 1024;

/// A statement that re-runs from scratch when it waited for a row lock.
#[derive(Clone, Copy)]
pub(super) enum Rerunnable<'s> {
    Query(&'s pg::Query),
    Update(&'s pg::Update),
    Delete(&'s pg::Delete),
}

/// Runs `stmt`; when it waited for a row lock (the lock wait moved the read timestamp past the
/// holder's commit, checking only earlier statements' reads), its buffered writes go back to
/// where they were and it runs again, reading the holder's writes (see
/// [`crate::sql::query::locking`]).
pub(super) async fn rerun_after_lock_waits(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    stmt: Rerunnable<'_>,
    params: &[Datum],
) -> Result<QueryResult> {
    let rerunnable = match stmt {
        Rerunnable::Query(q) => crate::sql::query::locking::has_locking(q),
        _ => txn.buffered_writes() <= MAX_RERUN_SNAPSHOT,
    };
    let snapshot = (rerunnable && !matches!(stmt, Rerunnable::Query(_))).then(|| txn.savepoint());
    let mut runs = 0;
    loop {
        if rerunnable {
            txn.begin_restartable_statement();
        }
        let res = match stmt {
            Rerunnable::Query(q) => query(ctx, txn, q, params).await,
            Rerunnable::Update(u) => crate::sql::dml::update(ctx, txn, u, params).await,
            Rerunnable::Delete(d) => crate::sql::dml::delete(ctx, txn, d, params).await,
        };
        let stale = rerunnable && txn.take_statement_stale();
        // A retryable error ended the transaction (a deadlock): nothing to re-run.
        if !stale || res.as_ref().is_err_and(SqlError::is_retryable) {
            return res;
        }
        runs += 1;
        if runs >= MAX_LOCKING_RERUNS {
            return Err(crate::kv::KvError::Retryable(
                "statement kept waiting for row locks".into(),
            )
            .into());
        }
        if let Some(sp) = &snapshot {
            txn.rollback_to(sp)?;
        }
    }
}

/// Output columns and rows of a query.
async fn query(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    q: &pg::Query,
    params: &[Datum],
) -> Result<QueryResult> {
    let rel = crate::sql::query::run_query(ctx, txn, q, params, &Default::default()).await?;
    Ok(QueryResult::Rows {
        columns: rel.columns(),
        rows: rel.rows,
    })
}
