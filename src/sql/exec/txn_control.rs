//! Transaction control: `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`, `RELEASE SAVEPOINT`, `ROLLBACK
//! TO SAVEPOINT` (nested savepoints and CockroachDB's `cockroach_restart` client-side retry
//! protocol), and the implicit transaction that runs a statement issued outside `BEGIN`.
//!
//! Invariants: the session's [`TxnState`] is only changed here and by the statement runner that
//! aborts a failed transaction; a failed statement inside an explicit transaction leaves it
//! `Aborted` until `ROLLBACK` (or `ROLLBACK TO SAVEPOINT`); an implicit transaction is retried on
//! serialization conflicts up to [`IMPLICIT_RETRIES`] times and never left open.

use super::*;

/// What a transaction-control statement does, `None` for other statements.
pub(super) async fn transaction_control(
    session: &mut Session,
    s: &pg::Statement,
) -> Option<Result<QueryResult>> {
    Some(match s {
        pg::Statement::StartTransaction { modes, .. } => begin(session, modes),
        pg::Statement::Commit { .. } => commit(session).await,
        pg::Statement::Rollback {
            savepoint: Some(sp),
            ..
        } => rollback_to(session, sp),
        pg::Statement::Rollback { .. } => rollback(session),
        pg::Statement::Savepoint { name } => savepoint(session, name),
        pg::Statement::ReleaseSavepoint { name } => release_savepoint(session, name).await,
        pg::Statement::Set(pg::Set::SetTransaction {
            modes,
            session: session_default,
            ..
        }) => txn_modes::set_transaction(session, modes, *session_default),
        other => return txn_modes::transaction_variable(session, other),
    })
}

/// `BEGIN`: a new explicit transaction with the session's default modes and those given; inside
/// one, 25001 and the open transaction is aborted (CockroachDB).
fn begin(session: &mut Session, modes: &[pg::TransactionMode]) -> Result<QueryResult> {
    match session.txn {
        TxnState::Idle => {
            session.pending_jobs.clear();
            session.txn = TxnState::Open(Box::new(session.env.store.begin()));
            session.restart_savepoint = None;
            session.clear_savepoints();
            session.txn_statements = 0;
            session.txn_read_only = txn_modes::default_read_only(session);
            txn_modes::apply_modes(session, modes, false);
            Ok(QueryResult::Command("BEGIN".into()))
        }
        _ => Err({
            if let TxnState::Open(t) = std::mem::replace(&mut session.txn, TxnState::Aborted) {
                session.abort_txn(t, false);
            }
            SqlError::new(
                SqlState::ACTIVE_SQL_TRANSACTION,
                "there is already a transaction in progress",
            )
        }),
    }
}

/// `COMMIT`: commits (then starts the jobs the transaction created); after an error it is a
/// `ROLLBACK`; outside a transaction 25P01.
async fn commit(session: &mut Session) -> Result<QueryResult> {
    session.clear_savepoints();
    match std::mem::replace(&mut session.txn, TxnState::Idle) {
        TxnState::Open(mut t) => {
            t.commit().await?;
            crate::sql::schema_jobs::after_commit(&session.env.store, &session.pending_jobs)
                .await?;
            Ok(QueryResult::Command("COMMIT".into()))
        }
        TxnState::Aborted => Ok(QueryResult::Command("ROLLBACK".into())),
        TxnState::Released => Ok(QueryResult::Command("COMMIT".into())),
        TxnState::Idle => Err(txn_modes::no_transaction()),
    }
}

/// `ROLLBACK TO SAVEPOINT sp`: a nested savepoint, or the restart savepoint (a fresh transaction
/// with the savepoint still in place).
fn rollback_to(session: &mut Session, sp: &pg::Ident) -> Result<QueryResult> {
    let name = normalize(&sp.value, sp.quote_style.is_some());
    if let Some(at) = session.savepoints.iter().rposition(|(n, _)| *n == name) {
        return rollback_to_savepoint(session, at);
    }
    if session.restart_savepoint.as_deref() != Some(name.as_str()) {
        return Err(match session.txn {
            TxnState::Idle => {
                SqlError::new(SqlState("25P01"), "there is no transaction in progress")
            }
            _ => SqlError::new(
                SqlState("3B001"),
                format!(
                    "savepoint \"{name}\" does not exist or cannot be rolled back to (only a savepoint taken at the start of the transaction can)"
                ),
            ),
        });
    }
    // Restart: a fresh transaction, the savepoint still in place.
    if let TxnState::Open(mut t) = std::mem::replace(&mut session.txn, TxnState::Idle) {
        t.rollback();
    }
    session.clear_savepoints();
    session.txn = TxnState::Open(Box::new(session.env.store.begin()));
    session.txn_statements = 0;
    Ok(QueryResult::Command("ROLLBACK".into()))
}

/// `ROLLBACK`; outside a transaction 25P01.
fn rollback(session: &mut Session) -> Result<QueryResult> {
    if matches!(session.txn, TxnState::Idle) {
        return Err(txn_modes::no_transaction());
    }
    if let TxnState::Open(mut t) = std::mem::replace(&mut session.txn, TxnState::Idle) {
        t.rollback();
    }
    session.clear_savepoints();
    session.restart_savepoint = None;
    Ok(QueryResult::Command("ROLLBACK".into()))
}

/// `SAVEPOINT name`: nested savepoints, and CockroachDB's `cockroach_restart` as the first
/// statement of a transaction.
fn savepoint(session: &mut Session, name: &pg::Ident) -> Result<QueryResult> {
    let name = normalize(&name.value, name.quote_style.is_some());
    match &session.txn {
        TxnState::Idle => Err(SqlError::new(
            SqlState("25P01"),
            "there is no transaction in progress",
        )),
        TxnState::Aborted => Err(SqlError::new(
            SqlState::IN_FAILED_SQL_TRANSACTION,
            "current transaction is aborted, commands ignored until end of transaction block",
        )),
        TxnState::Released => Err(SqlError::new(
            SqlState::ACTIVE_SQL_TRANSACTION,
            "the transaction was already committed by RELEASE SAVEPOINT",
        )),
        TxnState::Open(t) => {
            if name == RESTART_SAVEPOINT {
                // CockroachDB's client-side retry protocol: only as the first
                // statement, and RELEASE of it commits.
                if session.txn_statements == 0 && session.restart_savepoint.is_none() {
                    session.restart_savepoint = Some(name);
                    Ok(QueryResult::Command("SAVEPOINT".into()))
                } else {
                    Err(SqlError::unsupported(
                        "SAVEPOINT cockroach_restart after the start of a transaction \
                         (it must be the transaction's first statement)",
                    ))
                }
            } else {
                let sp = t.savepoint();
                session.savepoints.push((name, sp));
                Ok(QueryResult::Command("SAVEPOINT".into()))
            }
        }
    }
}

/// `RELEASE SAVEPOINT name`: forgets a nested savepoint; releasing the restart savepoint
/// commits.
async fn release_savepoint(session: &mut Session, name: &pg::Ident) -> Result<QueryResult> {
    let name = normalize(&name.value, name.quote_style.is_some());
    if let Some(at) = session.savepoints.iter().rposition(|(n, _)| *n == name) {
        if session.in_failed_transaction() {
            return Err(SqlError::new(
                SqlState::IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        // Releasing keeps the writes; it forgets this savepoint and the later ones.
        session.savepoints.truncate(at);
        return Ok(QueryResult::Command("RELEASE".into()));
    }
    if session.restart_savepoint.as_deref() != Some(name.as_str()) {
        return Err(SqlError::new(
            SqlState("3B001"),
            format!("savepoint \"{name}\" does not exist"),
        ));
    }
    match std::mem::replace(&mut session.txn, TxnState::Aborted) {
        // RELEASE of the restart savepoint is the commit point (CockroachDB's
        // client-side retry protocol); a 40001 here is retried with ROLLBACK TO SAVEPOINT.
        TxnState::Open(mut t) => match t.commit().await {
            Ok(_) => {
                session.txn = TxnState::Released;
                crate::sql::schema_jobs::after_commit(&session.env.store, &session.pending_jobs)
                    .await?;
                Ok(QueryResult::Command("RELEASE".into()))
            }
            Err(e) => Err(e.into()),
        },
        other => {
            session.txn = other;
            Err(SqlError::new(
                SqlState::IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            ))
        }
    }
}

/// The savepoint name of CockroachDB's client-side retry protocol.
pub(super) const RESTART_SAVEPOINT: &str = "cockroach_restart";

/// `ROLLBACK TO SAVEPOINT` of nested savepoint `at`: the transaction's writes go back to what they
/// were when it was taken, later savepoints are forgotten (this one stays), and an aborted
/// transaction is open again.
fn rollback_to_savepoint(session: &mut Session, at: usize) -> Result<QueryResult> {
    let mut txn = match std::mem::replace(&mut session.txn, TxnState::Idle) {
        TxnState::Open(t) => t,
        TxnState::Aborted => match session.aborted_txn.take() {
            Some(t) => t,
            None => {
                session.txn = TxnState::Aborted;
                return Err(SqlError::new(
                    SqlState::IN_FAILED_SQL_TRANSACTION,
                    "current transaction is aborted, commands ignored until end of transaction block",
                ));
            }
        },
        other => {
            session.txn = other;
            return Err(SqlError::new(
                SqlState::ACTIVE_SQL_TRANSACTION,
                "the transaction was already committed by RELEASE SAVEPOINT",
            ));
        }
    };
    if let Err(e) = txn.rollback_to(&session.savepoints[at].1) {
        session.abort_txn(txn, true);
        return Err(e.into());
    }
    session.savepoints.truncate(at + 1);
    session.txn = TxnState::Open(txn);
    Ok(QueryResult::Command("ROLLBACK".into()))
}

/// Runs `stmt` in a transaction of its own, committed at once; retried on serialization conflicts.
pub(super) async fn run_implicit(
    session: &mut Session,
    stmt: &Statement,
    params: &[Datum],
) -> Result<QueryResult> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        session.pending_jobs.clear();
        let mut txn = session.env.store.begin();
        let r = match execute_in_txn(session, &mut txn, stmt, params).await {
            Ok(res) => match txn.commit().await {
                Ok(_) => {
                    crate::sql::schema_jobs::after_commit(&session.env.store, &session.pending_jobs)
                        .await
                        .map(|_| res)
                }
                Err(e) => Err(SqlError::from(e)),
            },
            Err(e) => {
                txn.rollback();
                Err(e)
            }
        };
        match r {
            Err(e) if e.is_retryable() && attempt < IMPLICIT_RETRIES => continue,
            other => return other,
        }
    }
}
