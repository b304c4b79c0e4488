//! Transaction modes, as CockroachDB has them:
//!
//! - **Access mode.** `BEGIN [TRANSACTION] READ ONLY | READ WRITE`, `SET TRANSACTION READ ONLY`
//!   and `SET transaction_read_only = on|off` set the explicit transaction's mode, at any point
//!   of it; a transaction starts with `default_transaction_read_only` (`SET
//!   default_transaction_read_only = on`, `SET SESSION CHARACTERISTICS AS TRANSACTION READ
//!   ONLY`), which also governs statements outside explicit transactions. In a read-only
//!   transaction every statement that could write (DML, DDL, users, grants, settings, virtual
//!   clusters, replication) fails with 25006 `cannot execute <TAG> in a read-only transaction`
//!   before it runs; queries without data-modifying parts, `SHOW`, `EXPLAIN`, `SET` and
//!   transaction control run. `SHOW transaction_read_only` answers `on` or `off`.
//! - **Isolation.** Every transaction runs SERIALIZABLE. `READ UNCOMMITTED`, `READ COMMITTED`,
//!   `REPEATABLE READ` and `SNAPSHOT` (in `BEGIN`, `SET TRANSACTION`, `SET
//!   [default_]transaction_isolation`) are accepted and upgraded with a NOTICE (CockroachDB
//!   upgrades them the same way where its weaker levels are not enabled); `SHOW
//!   transaction_isolation` answers `serializable`.
//! - **Outside a transaction**, `SET TRANSACTION` fails with 25P01 `there is no transaction in
//!   progress`, as `COMMIT` and `ROLLBACK` do (CockroachDB's behaviour; PostgreSQL only warns).

use super::*;
use sqlparser::ast::{TransactionAccessMode, TransactionIsolationLevel, TransactionMode};

/// 25006 read_only_sql_transaction.
const READ_ONLY_SQL_TRANSACTION: SqlState = SqlState("25006");
/// 25P01 no_active_sql_transaction.
pub(super) const NO_ACTIVE_SQL_TRANSACTION: SqlState = SqlState("25P01");

pub(super) fn no_transaction() -> SqlError {
    SqlError::new(
        NO_ACTIVE_SQL_TRANSACTION,
        "there is no transaction in progress",
    )
}

/// Whether a session variable holds a true boolean (`on`, `true`, `yes`, `1`).
fn truthy(v: &str) -> bool {
    matches!(
        v.trim().trim_matches('\'').to_ascii_lowercase().as_str(),
        "on" | "true" | "yes" | "1" | "t"
    )
}

/// `default_transaction_read_only` of `session`.
pub(super) fn default_read_only(session: &Session) -> bool {
    session
        .vars
        .get("default_transaction_read_only")
        .is_some_and(|v| truthy(v))
}

/// Whether statements of `session` run read-only now: its explicit transaction's mode, or the
/// session default outside one.
fn read_only_now(session: &Session) -> bool {
    match session.txn {
        TxnState::Idle => default_read_only(session),
        _ => session.txn_read_only,
    }
}

/// The NOTICE for a requested isolation level weaker than SERIALIZABLE (None for
/// SERIALIZABLE).
fn upgrade_notice(level: &TransactionIsolationLevel) -> Option<String> {
    let shown = match level {
        TransactionIsolationLevel::Serializable => return None,
        TransactionIsolationLevel::ReadUncommitted | TransactionIsolationLevel::ReadCommitted => {
            "READ COMMITTED"
        }
        TransactionIsolationLevel::RepeatableRead | TransactionIsolationLevel::Snapshot => {
            "REPEATABLE READ"
        }
    };
    Some(format!(
        "{shown} isolation level is not supported; upgrading to SERIALIZABLE"
    ))
}

/// The same for a level named in a session variable's value.
pub(super) fn upgrade_notice_for_name(value: &str) -> Option<String> {
    let v = value.trim().trim_matches('\'').to_ascii_lowercase();
    let level = match v.as_str() {
        "read uncommitted" => TransactionIsolationLevel::ReadUncommitted,
        "read committed" => TransactionIsolationLevel::ReadCommitted,
        "repeatable read" => TransactionIsolationLevel::RepeatableRead,
        "snapshot" => TransactionIsolationLevel::Snapshot,
        _ => return None,
    };
    upgrade_notice(&level)
}

/// Applies `modes` (of `BEGIN` or `SET TRANSACTION`) to the explicit transaction, or with
/// `session_default` to the session's defaults.
pub(super) fn apply_modes(session: &mut Session, modes: &[TransactionMode], session_default: bool) {
    for m in modes {
        match m {
            TransactionMode::AccessMode(a) => {
                let ro = matches!(a, TransactionAccessMode::ReadOnly);
                if session_default {
                    session.vars.insert(
                        "default_transaction_read_only".into(),
                        if ro { "on" } else { "off" }.into(),
                    );
                } else {
                    session.txn_read_only = ro;
                }
            }
            TransactionMode::IsolationLevel(level) => {
                if let Some(n) = upgrade_notice(level) {
                    session.notices.push(n);
                }
            }
        }
    }
}

/// `SET TRANSACTION ...` / `SET SESSION CHARACTERISTICS AS TRANSACTION ...`.
pub(super) fn set_transaction(
    session: &mut Session,
    modes: &[TransactionMode],
    session_default: bool,
) -> Result<QueryResult> {
    if !session_default {
        match session.txn {
            TxnState::Idle => return Err(no_transaction()),
            TxnState::Aborted => return Err(aborted()),
            _ => {}
        }
    }
    apply_modes(session, modes, session_default);
    Ok(QueryResult::Command("SET".into()))
}

fn aborted() -> SqlError {
    SqlError::new(
        SqlState::IN_FAILED_SQL_TRANSACTION,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

/// `SET transaction_read_only = ...` and `SHOW transaction_read_only`, which act on the
/// transaction rather than a stored variable. None for other statements.
pub(super) fn transaction_variable(
    session: &mut Session,
    s: &pg::Statement,
) -> Option<Result<QueryResult>> {
    match s {
        pg::Statement::Set(pg::Set::SingleAssignment {
            variable, values, ..
        }) if variable
            .to_string()
            .eq_ignore_ascii_case("transaction_read_only") =>
        {
            let v = values.first().map(|e| match e {
                Expr::Value(v) => match &v.value {
                    pg::Value::SingleQuotedString(s) => s.clone(),
                    pg::Value::Boolean(b) => b.to_string(),
                    other => other.to_string(),
                },
                other => other.to_string(),
            });
            let Some(v) = v.filter(|v| {
                let v = v.to_ascii_lowercase();
                [
                    "on", "off", "true", "false", "t", "f", "yes", "no", "1", "0",
                ]
                .contains(&v.as_str())
            }) else {
                return Some(Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    "parameter \"transaction_read_only\" requires a Boolean value",
                )));
            };
            if !matches!(session.txn, TxnState::Idle) {
                session.txn_read_only = truthy(&v);
            }
            Some(Ok(QueryResult::Command("SET".into())))
        }
        pg::Statement::ShowVariable { variable }
            if variable.len() == 1
                && variable[0]
                    .value
                    .eq_ignore_ascii_case("transaction_read_only") =>
        {
            let on = read_only_now(session);
            Some(Ok(QueryResult::Rows {
                columns: vec![Column::new(
                    "transaction_read_only",
                    super::super::types::SqlType::String,
                )],
                rows: vec![vec![Datum::String(if on { "on" } else { "off" }.into())]],
            }))
        }
        _ => None,
    }
}

/// 25006 when `stmt` could write and the session runs read-only now.
pub(super) fn check_read_only(session: &Session, stmt: &Statement) -> Result<()> {
    if !read_only_now(session) {
        return Ok(());
    }
    match write_tag(stmt) {
        None => Ok(()),
        Some(tag) => Err(SqlError::new(
            READ_ONLY_SQL_TRANSACTION,
            format!("cannot execute {tag} in a read-only transaction"),
        )),
    }
}

/// The tag of a statement that could write, None for one that only reads (or only changes the
/// session).
fn write_tag(stmt: &Statement) -> Option<String> {
    let s = match stmt {
        Statement::Pg(s) => s.as_ref(),
        Statement::AsOfSystemTime { .. }
        | Statement::ShowVirtualClusters { .. }
        | Statement::ShowClusterSetting { .. }
        | Statement::ShowClusterSettings { .. }
        | Statement::ShowUsers
        | Statement::ShowSystemGrants { .. }
        | Statement::ShowDatabases
        | Statement::ShowTables { .. }
        | Statement::ShowIndexes { .. }
        | Statement::ShowFingerprints { .. }
        | Statement::ShowJobs
        | Statement::Maintenance { .. } => return None,
        Statement::WithShowSources { stmt, .. } => return write_tag(stmt),
        Statement::CopyRows { .. } => return Some("COPY".into()),
        Statement::ReplicationBuiltin { func, .. } => return Some(func.name().to_uppercase()),
        Statement::CreateVirtualCluster { .. } => return Some("CREATE VIRTUAL CLUSTER".into()),
        Statement::AlterVirtualCluster { .. } => return Some("ALTER VIRTUAL CLUSTER".into()),
        Statement::DropVirtualCluster { .. } => return Some("DROP VIRTUAL CLUSTER".into()),
        Statement::SetClusterSetting { .. } => return Some("SET CLUSTER SETTING".into()),
        Statement::CreateUser { .. } => return Some("CREATE ROLE".into()),
        Statement::AlterUser { .. } => return Some("ALTER ROLE".into()),
        Statement::DropUser { .. } => return Some("DROP ROLE".into()),
        Statement::GrantSystem { .. } | Statement::GrantRole { .. } => {
            return Some("GRANT".into());
        }
        Statement::RevokeSystem { .. } | Statement::RevokeRole { .. } => {
            return Some("REVOKE".into());
        }
        Statement::AlterTableSplitAt { .. }
        | Statement::AlterTableScatter { .. }
        | Statement::AlterPrimaryKey { .. } => {
            return Some("ALTER TABLE".into());
        }
    };
    let tag = match s {
        pg::Statement::Query(q) if crate::sql::query::locking::has_locking(q) => {
            return Some("SELECT FOR UPDATE".into());
        }
        pg::Statement::Query(q) => return writes_in_query(q).then(|| "INSERT".into()),
        pg::Statement::Explain {
            analyze, statement, ..
        } => {
            return if *analyze {
                write_tag(&Statement::Pg(statement.clone()))
            } else {
                None
            };
        }
        pg::Statement::ShowVariable { .. }
        | pg::Statement::ShowVariables { .. }
        | pg::Statement::ShowCreate { .. }
        | pg::Statement::ShowColumns { .. }
        | pg::Statement::ShowTables { .. }
        | pg::Statement::ShowDatabases { .. }
        | pg::Statement::ShowSchemas { .. }
        | pg::Statement::ShowFunctions { .. }
        | pg::Statement::ShowStatus { .. }
        | pg::Statement::ShowCollation { .. }
        | pg::Statement::Set(_)
        | pg::Statement::Use(_)
        | pg::Statement::StartTransaction { .. }
        | pg::Statement::Commit { .. }
        | pg::Statement::Rollback { .. }
        | pg::Statement::Savepoint { .. }
        | pg::Statement::ReleaseSavepoint { .. }
        | pg::Statement::Deallocate { .. }
        | pg::Statement::Discard { .. } => return None,
        pg::Statement::Insert(i) if i.replace_into => "UPSERT".into(),
        pg::Statement::Insert(_) => "INSERT".into(),
        pg::Statement::Update(_) => "UPDATE".into(),
        pg::Statement::Delete(_) => "DELETE".into(),
        pg::Statement::Truncate(_) => "TRUNCATE".into(),
        pg::Statement::CreateTable(_) => "CREATE TABLE".into(),
        pg::Statement::CreateIndex(_) => "CREATE INDEX".into(),
        pg::Statement::CreateDatabase { .. } => "CREATE DATABASE".into(),
        pg::Statement::CreateSchema { .. } => "CREATE SCHEMA".into(),
        pg::Statement::AlterTable(_) => "ALTER TABLE".into(),
        pg::Statement::Drop { object_type, .. } => format!("DROP {object_type}"),
        other => {
            // Anything else might write: named by its leading keywords.
            let text = other.to_string();
            let words: Vec<&str> = text.split_whitespace().take(2).collect();
            match words.as_slice() {
                [a, b]
                    if matches!(a.to_ascii_uppercase().as_str(), "CREATE" | "ALTER" | "DROP") =>
                {
                    format!("{} {}", a.to_ascii_uppercase(), b.to_ascii_uppercase())
                }
                [a, ..] => a.to_ascii_uppercase(),
                [] => "statement".into(),
            }
        }
    };
    Some(tag)
}

/// Whether a query has a data-modifying part (`WITH x AS (INSERT ...)`, `SELECT ... FOR
/// UPDATE` is a read).
fn writes_in_query(q: &pg::Query) -> bool {
    struct Finder(bool);
    impl pg::Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, q: &pg::Query) -> std::ops::ControlFlow<()> {
            let mut stack = vec![q.body.as_ref()];
            while let Some(e) = stack.pop() {
                match e {
                    pg::SetExpr::SetOperation { left, right, .. } => {
                        stack.push(left);
                        stack.push(right);
                    }
                    pg::SetExpr::Insert(_)
                    | pg::SetExpr::Update(_)
                    | pg::SetExpr::Delete(_)
                    | pg::SetExpr::Merge(_) => {
                        self.0 = true;
                        return std::ops::ControlFlow::Break(());
                    }
                    _ => {}
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut f = Finder(false);
    let _ = pg::Visit::visit(q, &mut f);
    f.0
}
