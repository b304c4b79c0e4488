//! A SQL session: one client connection's state in one virtual cluster.
//!
//! Holds the user, current database, session variables and the open explicit transaction (if
//! any), and runs statements through [`super::exec`]. Transaction states follow PostgreSQL: after
//! an error inside `BEGIN ... COMMIT` every statement fails with 25P02 until `ROLLBACK`.
//! Statements outside an explicit transaction run in their own transaction and are retried
//! automatically on serialization conflicts, like CockroachDB's implicit transactions. The
//! explicit transaction's access mode and the NOTICEs for the client live here too (the rules
//! are in [`super::exec`]'s `txn_modes`).

use super::ast::AlterVirtualClusterAction;
use super::error::{Result, SqlError};
use super::types::{Datum, SqlType};
use crate::ids::TenantId;
use crate::kv::{Store, Txn};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One result column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: SqlType,
    /// The declared width of a table column it shows (`INT2`, `FLOAT4`, ...), which decides the
    /// type clients are told.
    pub typmod: crate::sql::typmod::TypeMod,
}

impl Column {
    /// A column.
    pub fn new(name: impl Into<String>, ty: SqlType) -> Column {
        Column {
            name: name.into(),
            ty,
            typmod: Default::default(),
        }
    }
}

/// The result of one statement.
#[derive(Debug, PartialEq)]
pub enum QueryResult {
    /// Rows.
    Rows {
        /// Columns.
        columns: Vec<Column>,
        /// Rows, aligned with `columns`.
        rows: Vec<Vec<Datum>>,
    },
    /// Rows produced while the client reads them (a large scan, see [`super::stream`]).
    Stream {
        /// Columns.
        columns: Vec<Column>,
        /// Rows, aligned with `columns`; an error ends the result.
        rows: RowStream,
    },
    /// A command tag (e.g. `INSERT 0 1`, `CREATE TABLE`).
    Command(String),
    /// `DEALLOCATE [PREPARE] name | ALL`: the connection forgets the prepared statement(s)
    /// (`None`: all of them).
    Deallocate(Option<String>),
    /// `COPY ... FROM STDIN` accepted: the client now sends the data (see [`super::copy`]).
    CopyIn {
        /// The checked statement.
        copy: super::copy::CopyFromStdin,
        /// How many fields each row has.
        columns: usize,
    },
}

/// The rows of a [`QueryResult::Stream`]. Taken once by whoever sends them; a result is never
/// equal to another (there is nothing to compare before the rows are read).
pub struct RowStream(pub futures::stream::BoxStream<'static, Result<Vec<Datum>>>);

impl std::fmt::Debug for RowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowStream")
    }
}

impl PartialEq for RowStream {
    fn eq(&self, _: &RowStream) -> bool {
        false
    }
}

/// A virtual cluster as shown by `SHOW VIRTUAL CLUSTERS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualClusterInfo {
    /// Tenant id.
    pub id: TenantId,
    /// Name.
    pub name: String,
    /// `add`, `ready`, `dropping`.
    pub data_state: String,
    /// `none`, `shared`, `stopping`.
    pub service_mode: String,
}

/// Operations on virtual clusters, provided by the node's tenant registry (SQL does not know
/// how clusters are started or routed).
#[async_trait::async_trait]
pub trait VirtualClusterAdmin: Send + Sync + 'static {
    /// Every virtual cluster.
    async fn list(&self) -> Result<Vec<VirtualClusterInfo>>;
    /// Creates a virtual cluster (optionally copying a template's settings).
    async fn create(&self, name: &str, if_not_exists: bool, like: Option<&str>) -> Result<()>;
    /// Alters one.
    async fn alter(&self, name: &str, action: &AlterVirtualClusterAction) -> Result<QueryResult>;
    /// Drops one.
    async fn drop_cluster(&self, name: &str, if_exists: bool, immediate: bool) -> Result<()>;
    /// Called after a cluster setting changed in `tenant`.
    async fn setting_changed(&self, tenant: TenantId, name: &str, value: Option<&str>);
}

/// What a session needs from the node.
#[derive(Clone)]
pub struct SessionEnv {
    /// The KV store.
    pub store: Store,
    /// Virtual cluster administration (system cluster sessions only).
    pub clusters: Option<Arc<dyn VirtualClusterAdmin>>,
    /// Physical cluster replication (system cluster sessions only).
    pub replication: Option<Arc<dyn super::replication::ReplicationService>>,
    /// The node's SQL memory (`--max-sql-memory`), shared by every session on the node.
    pub sql_memory: Arc<super::exec::MemoryPool>,
}

/// Explicit transaction state.
pub enum TxnState {
    /// No explicit transaction.
    Idle,
    /// Inside `BEGIN`.
    Open(Box<Txn>),
    /// An error happened inside `BEGIN`; only `ROLLBACK` (or `ROLLBACK TO SAVEPOINT` of the
    /// restart savepoint) is accepted.
    Aborted,
    /// `RELEASE SAVEPOINT cockroach_restart` committed the transaction; `COMMIT` ends the block.
    Released,
}

/// `search_path` until a session sets it.
const DEFAULT_SEARCH_PATH: &str = "\"$user\", public";

/// A SQL session.
pub struct Session {
    /// The virtual cluster.
    pub tenant: TenantId,
    /// The virtual cluster's name.
    pub cluster_name: String,
    /// The authenticated user.
    pub user: String,
    /// Current database.
    pub database: String,
    /// Session variables (`SET x = y`).
    pub vars: BTreeMap<String, String>,
    /// Explicit transaction.
    pub txn: TxnState,
    /// The savepoint taken at the start of the transaction (`SAVEPOINT cockroach_restart`):
    /// rolling back to it restarts the transaction.
    pub restart_savepoint: Option<String>,
    /// Nested savepoints of the explicit transaction (`SAVEPOINT x` anywhere in it), oldest
    /// first, each with the transaction's buffered writes when it was taken.
    pub savepoints: Vec<(String, crate::kv::TxnSavepoint)>,
    /// The KV transaction of an aborted explicit transaction that has savepoints: kept so that
    /// `ROLLBACK TO SAVEPOINT` can resume it.
    pub aborted_txn: Option<Box<crate::kv::Txn>>,
    /// Statements run in the current explicit transaction.
    pub txn_statements: usize,
    /// Whether the explicit transaction is read-only (see [`super::exec`]'s transaction modes).
    pub txn_read_only: bool,
    /// NOTICE messages for the client, sent (and cleared) by the connection after each
    /// statement.
    pub notices: Vec<String>,
    /// Node services.
    pub env: SessionEnv,
    /// Set by a pgwire cancel request for the connection: the running statement stops with
    /// 57014 at its next check (the connection clears it before each statement).
    pub cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Schema-change jobs recorded by the current transaction (started when it commits).
    pub pending_jobs: super::schema_jobs::PendingJobs,
    /// The running statement is followed by others in the same query string: its rows are not
    /// streamed (see [`super::stream`]), since they would be produced after those ran.
    pub more_statements: bool,
}

impl Session {
    /// A new session.
    pub fn new(
        env: SessionEnv,
        tenant: TenantId,
        cluster_name: &str,
        user: &str,
        database: &str,
    ) -> Session {
        let mut vars = BTreeMap::new();
        for (k, v) in [
            ("application_name", ""),
            ("client_encoding", "UTF8"),
            ("datestyle", "ISO, MDY"),
            ("timezone", "UTC"),
            ("search_path", DEFAULT_SEARCH_PATH),
            ("transaction_isolation", "serializable"),
            ("default_transaction_isolation", "serializable"),
            ("default_transaction_read_only", "off"),
            ("standard_conforming_strings", "on"),
            ("extra_float_digits", "0"),
            ("server_version", "13.0.0"),
            ("integer_datetimes", "on"),
            ("statement_timeout", "0"),
            ("lock_timeout", "0"),
        ] {
            vars.insert(k.to_string(), v.to_string());
        }
        Session {
            tenant,
            cluster_name: cluster_name.into(),
            user: user.into(),
            database: database.into(),
            vars,
            txn: TxnState::Idle,
            restart_savepoint: None,
            savepoints: Vec::new(),
            aborted_txn: None,
            txn_statements: 0,
            txn_read_only: false,
            notices: Vec::new(),
            env,
            cancel: Default::default(),
            pending_jobs: Default::default(),
            more_statements: false,
        }
    }

    /// Whether an explicit transaction is open (or aborted).
    pub fn in_transaction(&self) -> bool {
        !matches!(self.txn, TxnState::Idle)
    }

    /// Aborts the explicit transaction after a statement failed in it (25P02 until ROLLBACK).
    /// When the transaction has savepoints and the error does not require a restart, its KV
    /// transaction is kept so `ROLLBACK TO SAVEPOINT` can resume it; otherwise it is rolled back.
    pub fn abort_txn(&mut self, mut txn: Box<crate::kv::Txn>, retryable: bool) {
        if self.savepoints.is_empty() || retryable {
            txn.rollback();
            self.savepoints.clear();
        } else {
            self.aborted_txn = Some(txn);
        }
        self.txn = TxnState::Aborted;
    }

    /// Forgets the explicit transaction's savepoints (it ended), rolling back a kept one.
    pub fn clear_savepoints(&mut self) {
        self.savepoints.clear();
        if let Some(mut t) = self.aborted_txn.take() {
            t.rollback();
        }
    }

    /// The schemas of `search_path` in order (`"$user"` kept as is), or empty when it is the
    /// default `"$user", public` (names then resolve in `public` without extra lookups).
    pub fn search_path(&self) -> Vec<String> {
        // Every statement asks: the default costs no parsing and no allocation.
        let Some(v) = self
            .vars
            .get("search_path")
            .filter(|v| v.as_str() != DEFAULT_SEARCH_PATH)
        else {
            return Vec::new();
        };
        let path: Vec<String> = v
            .split(',')
            .map(|p| {
                let p = p.trim();
                match p.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                    Some(q) => q.to_string(),
                    None => p.to_lowercase(),
                }
            })
            .filter(|p| !p.is_empty())
            .collect();
        let default = path.iter().all(|p| p == "$user" || p == "public");
        if default { Vec::new() } else { path }
    }

    /// Whether the explicit transaction failed.
    pub fn in_failed_transaction(&self) -> bool {
        matches!(self.txn, TxnState::Aborted)
    }

    /// Runs a SQL string (one or more statements) with parameters; one result per statement.
    /// Stops at the first error, whose index is returned with it.
    pub async fn run(&mut self, sql: &str, params: &[Datum]) -> Vec<Result<QueryResult>> {
        let stmts = match super::parser::parse(sql) {
            Ok(s) => s,
            Err(e) => {
                // An error inside an explicit transaction aborts it, as in PostgreSQL.
                if let TxnState::Open(t) = std::mem::replace(&mut self.txn, TxnState::Idle) {
                    self.abort_txn(t, false);
                }
                return vec![Err(e.into())];
            }
        };
        let mut out = Vec::with_capacity(stmts.len());
        for (i, s) in stmts.iter().enumerate() {
            self.more_statements = i + 1 < stmts.len();
            let mut r = super::exec::execute(self, s, params).await;
            self.more_statements = false;
            if matches!(r, Ok(QueryResult::CopyIn { .. })) && i + 1 < stmts.len() {
                r = Err(SqlError::unsupported(
                    "statements after COPY ... FROM STDIN in the same query string",
                ));
            }
            let failed = r.is_err() || matches!(r, Ok(QueryResult::CopyIn { .. }));
            out.push(r);
            if failed {
                break;
            }
        }
        out
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Session({}@{}/{})",
            self.user, self.cluster_name, self.database
        )
    }
}
