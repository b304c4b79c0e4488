//! The statements tandem understands: every PostgreSQL statement `sqlparser` parses
//! ([`Statement::Pg`]) plus the CockroachDB statements it cannot (virtual clusters, cluster
//! settings, system privileges, users).

use std::fmt;

/// One parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// A statement sqlparser's PostgreSQL dialect parsed.
    Pg(Box<sqlparser::ast::Statement>),
    /// `SHOW VIRTUAL CLUSTERS` / `SHOW VIRTUAL CLUSTER x` [`WITH REPLICATION STATUS` |
    /// `WITH PRIOR REPLICATION DETAILS`].
    ShowVirtualClusters {
        /// `None` for all clusters.
        name: Option<String>,
        /// `WITH REPLICATION STATUS`.
        with_replication_status: bool,
        /// `WITH PRIOR REPLICATION DETAILS`.
        with_prior_replication_details: bool,
    },
    /// `CREATE VIRTUAL CLUSTER [IF NOT EXISTS] x [LIKE t] [FROM REPLICATION OF s ON 'uri'
    /// [WITH RETENTION = 'interval']]`.
    CreateVirtualCluster {
        /// New cluster's name.
        name: String,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// `LIKE <template>`.
        like: Option<String>,
        /// `FROM REPLICATION OF ...`.
        replication: Option<ReplicationSource>,
    },
    /// `ALTER VIRTUAL CLUSTER x <action>`.
    AlterVirtualCluster {
        /// The cluster.
        name: String,
        /// What to do.
        action: AlterVirtualClusterAction,
    },
    /// `DROP VIRTUAL CLUSTER [IF EXISTS] x [IMMEDIATE]`.
    DropVirtualCluster {
        /// The cluster.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
        /// `IMMEDIATE`.
        immediate: bool,
    },
    /// `SET CLUSTER SETTING name = value` (`None` for `= DEFAULT` / `TO DEFAULT`).
    SetClusterSetting {
        /// Dotted setting name, lowercased.
        name: String,
        /// The new value as written (string literal contents, number, boolean, identifier).
        value: Option<SettingValue>,
    },
    /// `SHOW CLUSTER SETTING name`.
    ShowClusterSetting {
        /// Dotted setting name, lowercased.
        name: String,
    },
    /// `SHOW [ALL] CLUSTER SETTINGS` / `SHOW PUBLIC CLUSTER SETTINGS`.
    ShowClusterSettings {
        /// `ALL`.
        all: bool,
    },
    /// `CREATE USER|ROLE [IF NOT EXISTS] x [[WITH] option ...]`.
    CreateUser {
        /// The user.
        name: String,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// Options given.
        options: RoleOptions,
        /// `CREATE ROLE` (defaults to NOLOGIN) rather than `CREATE USER` (LOGIN).
        is_role: bool,
    },
    /// `ALTER USER|ROLE [IF EXISTS] x [WITH] option ...`.
    AlterUser {
        /// The user.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
        /// Options to change.
        options: RoleOptions,
    },
    /// `DROP USER|ROLE [IF EXISTS] a, b`.
    DropUser {
        /// Users to drop.
        names: Vec<String>,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `GRANT SYSTEM priv, ... TO user, ...`.
    GrantSystem {
        /// Privileges.
        privileges: Vec<SystemPrivilege>,
        /// Grantees.
        grantees: Vec<String>,
    },
    /// `REVOKE SYSTEM priv, ... FROM user, ...`.
    RevokeSystem {
        /// Privileges.
        privileges: Vec<SystemPrivilege>,
        /// Users.
        grantees: Vec<String>,
    },
    /// `GRANT role, ... TO user, ... [WITH ADMIN OPTION]`.
    GrantRole {
        /// Roles granted.
        roles: Vec<String>,
        /// Members receiving them.
        members: Vec<String>,
        /// `WITH ADMIN OPTION`.
        with_admin: bool,
    },
    /// `REVOKE role, ... FROM user, ...`.
    RevokeRole {
        /// Roles revoked.
        roles: Vec<String>,
        /// Members losing them.
        members: Vec<String>,
    },
    /// `SHOW USERS` / `SHOW ROLES`.
    ShowUsers,
    /// `SHOW SYSTEM GRANTS [FOR user, ...]`.
    ShowSystemGrants {
        /// Restrict to these users.
        users: Option<Vec<String>>,
    },
    /// `SHOW DATABASES`.
    ShowDatabases,
    /// `SHOW TABLES [FROM db[.schema]]`.
    ShowTables {
        /// The database (current if `None`).
        database: Option<String>,
    },
    /// `SHOW INDEX[ES] FROM t`.
    ShowIndexes {
        /// The table.
        table: sqlparser::ast::ObjectName,
    },
    /// A statement reading CockroachDB's `[SHOW ...]` sources (`SELECT ... FROM [SHOW JOBS]`):
    /// each SHOW runs first and its rows become the named relation the statement reads.
    WithShowSources {
        /// The placeholder names (`__show_0`, ...) and the SHOW statements behind them.
        sources: Vec<(String, Statement)>,
        /// The statement, naming each source by its placeholder.
        stmt: Box<Statement>,
    },
    /// A query with `AS OF SYSTEM TIME <time>`: read at a past timestamp.
    AsOfSystemTime {
        /// The time as written: `'-10s'`, a timestamp string, or a decimal HLC timestamp.
        time: String,
        /// The query.
        stmt: Box<Statement>,
    },
    /// `ALTER TABLE t SPLIT AT VALUES (...), (...)`: split ranges at primary-key values.
    AlterTableSplitAt {
        /// The table name as written.
        table: sqlparser::ast::ObjectName,
        /// One row of primary-key prefix values per split point.
        rows: Vec<Vec<sqlparser::ast::Expr>>,
    },
    /// `ALTER TABLE [IF EXISTS] t ALTER PRIMARY KEY USING COLUMNS (a [ASC|DESC], ...)`.
    AlterPrimaryKey {
        /// The table name as written.
        table: sqlparser::ast::ObjectName,
        /// `IF EXISTS`.
        if_exists: bool,
        /// The new key's columns with their directions (`true` for DESC).
        columns: Vec<(String, bool)>,
        /// Followed by `USING HASH ...` (hash-sharded keys are not supported).
        hash: bool,
    },
    /// `ALTER TABLE t SCATTER [FROM (...) TO (...)]`: accepted; a single node has nowhere to move
    /// replicas.
    AlterTableScatter {
        /// The table name as written.
        table: sqlparser::ast::ObjectName,
    },
    /// `VACUUM ...` / `ANALYZE ...`: accepted for PostgreSQL tools (pgbench runs them). Storage
    /// needs no vacuuming (old MVCC versions go with the GC TTL) and the planner keeps no
    /// statistics, so after checking the tables exist there is nothing to do.
    Maintenance {
        /// `VACUUM` (else `ANALYZE`).
        vacuum: bool,
        /// The tables named (none: all).
        tables: Vec<sqlparser::ast::ObjectName>,
    },
    /// The rows a `COPY ... FROM STDIN` received, inserted at CopyDone (never parsed from SQL:
    /// the connection builds it, so the rows go through the session's transaction handling).
    CopyRows {
        /// The statement (table, columns, options).
        copy: super::copy::CopyFromStdin,
        /// The decoded rows.
        rows: Vec<super::copy::CopyRow>,
    },
    /// `SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER x [AS OF SYSTEM TIME t]`.
    ShowFingerprints {
        /// The cluster.
        name: String,
        /// `AS OF SYSTEM TIME` expression text.
        as_of: Option<String>,
    },
    /// `SHOW JOBS`.
    ShowJobs,
    /// A physical replication builtin called as a whole statement
    /// (`SELECT crdb_internal.start_replication_stream($1)`,
    /// `SELECT * FROM crdb_internal.stream_partition($1, $2)`, ...): it has side effects and
    /// may stream forever, so it runs outside the query engine.
    ReplicationBuiltin {
        /// Which builtin.
        func: ReplicationBuiltin,
        /// Its arguments.
        args: Vec<sqlparser::ast::Expr>,
    },
}

/// The producer builtins of physical cluster replication (`crdb_internal.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicationBuiltin {
    /// `start_replication_stream(tenant_name STRING) -> BYTES`.
    StartReplicationStream,
    /// `replication_stream_spec(stream_id INT) -> BYTES`.
    ReplicationStreamSpec,
    /// `stream_partition(stream_id INT, spec BYTES) -> SETOF (stream_event BYTES)`.
    StreamPartition,
    /// `replication_stream_progress(stream_id INT, frontier_ts STRING) -> BYTES`.
    ReplicationStreamProgress,
    /// `complete_replication_stream(stream_id INT, successful_ingestion BOOL) -> INT`.
    CompleteReplicationStream,
}

impl ReplicationBuiltin {
    /// Every builtin with its name.
    pub const ALL: &'static [(ReplicationBuiltin, &'static str)] = &[
        (
            ReplicationBuiltin::StartReplicationStream,
            "start_replication_stream",
        ),
        (
            ReplicationBuiltin::ReplicationStreamSpec,
            "replication_stream_spec",
        ),
        (ReplicationBuiltin::StreamPartition, "stream_partition"),
        (
            ReplicationBuiltin::ReplicationStreamProgress,
            "replication_stream_progress",
        ),
        (
            ReplicationBuiltin::CompleteReplicationStream,
            "complete_replication_stream",
        ),
    ];

    /// The function's name (without `crdb_internal.`).
    pub fn name(self) -> &'static str {
        ReplicationBuiltin::ALL
            .iter()
            .find(|(b, _)| *b == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }

    /// The argument types.
    pub fn arg_types(self) -> &'static [super::types::SqlType] {
        use super::types::SqlType::*;
        match self {
            ReplicationBuiltin::StartReplicationStream => &[String],
            ReplicationBuiltin::ReplicationStreamSpec => &[Int],
            ReplicationBuiltin::StreamPartition => &[Int, Bytes],
            ReplicationBuiltin::ReplicationStreamProgress => &[Int, String],
            ReplicationBuiltin::CompleteReplicationStream => &[Int, Bool],
        }
    }

    /// The result column.
    pub fn result_column(self) -> (&'static str, super::types::SqlType) {
        use super::types::SqlType::*;
        match self {
            ReplicationBuiltin::StreamPartition => ("stream_event", Bytes),
            ReplicationBuiltin::CompleteReplicationStream => ("complete_replication_stream", Int),
            other => (other.name(), Bytes),
        }
    }
}

/// Where a replicating virtual cluster streams from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationSource {
    /// The source virtual cluster's name on the primary.
    pub source: String,
    /// The primary's connection URI.
    pub uri: String,
    /// `WITH RETENTION = '...'`.
    pub retention: Option<String>,
}

/// `ALTER VIRTUAL CLUSTER` actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterVirtualClusterAction {
    /// `START SERVICE SHARED`.
    StartServiceShared,
    /// `STOP SERVICE`.
    StopService,
    /// `RENAME TO y`.
    RenameTo(String),
    /// `PAUSE REPLICATION`.
    PauseReplication,
    /// `RESUME REPLICATION`.
    ResumeReplication,
    /// `SET REPLICATION RETENTION = '...'`.
    SetReplicationRetention(String),
    /// `COMPLETE REPLICATION TO LATEST`.
    CompleteReplicationToLatest,
    /// `COMPLETE REPLICATION TO SYSTEM TIME '...'`.
    CompleteReplicationToSystemTime(String),
}

/// A cluster setting value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// A string literal's contents.
    String(String),
    /// A numeric literal.
    Number(String),
    /// `true` / `false`.
    Bool(bool),
    /// A bare identifier (e.g. an enum value).
    Ident(String),
}

impl fmt::Display for SettingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingValue::String(s) | SettingValue::Number(s) | SettingValue::Ident(s) => {
                f.write_str(s)
            }
            SettingValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Role options of `CREATE/ALTER USER`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleOptions {
    /// `PASSWORD 'x'` → `Some(Some(x))`; `PASSWORD NULL` → `Some(None)`.
    pub password: Option<Option<String>>,
    /// `LOGIN` / `NOLOGIN`.
    pub login: Option<bool>,
    /// `CREATEROLE` / `NOCREATEROLE`.
    pub create_role: Option<bool>,
    /// `CREATEDB` / `NOCREATEDB`.
    pub create_db: Option<bool>,
    /// `VALID UNTIL 'ts'`.
    pub valid_until: Option<String>,
}

/// System privileges (`GRANT SYSTEM ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SystemPrivilege {
    /// `ALL`.
    All,
    /// `REPLICATION`: run the replication producer functions.
    Replication,
    /// `MANAGEVIRTUALCLUSTER`: create, alter and drop virtual clusters.
    ManageVirtualCluster,
    /// `MODIFYCLUSTERSETTING`.
    ModifyClusterSetting,
    /// `VIEWCLUSTERSETTING`.
    ViewClusterSetting,
    /// `VIEWACTIVITY`.
    ViewActivity,
    /// `CANCELQUERY`.
    CancelQuery,
    /// `CREATEROLE`.
    CreateRole,
    /// `CREATEDB`.
    CreateDb,
    /// `VIEWSYSTEMTABLE`.
    ViewSystemTable,
}

impl SystemPrivilege {
    /// Every privilege with its SQL name.
    pub const ALL_NAMED: &'static [(SystemPrivilege, &'static str)] = &[
        (SystemPrivilege::All, "ALL"),
        (SystemPrivilege::Replication, "REPLICATION"),
        (
            SystemPrivilege::ManageVirtualCluster,
            "MANAGEVIRTUALCLUSTER",
        ),
        (
            SystemPrivilege::ModifyClusterSetting,
            "MODIFYCLUSTERSETTING",
        ),
        (SystemPrivilege::ViewClusterSetting, "VIEWCLUSTERSETTING"),
        (SystemPrivilege::ViewActivity, "VIEWACTIVITY"),
        (SystemPrivilege::CancelQuery, "CANCELQUERY"),
        (SystemPrivilege::CreateRole, "CREATEROLE"),
        (SystemPrivilege::CreateDb, "CREATEDB"),
        (SystemPrivilege::ViewSystemTable, "VIEWSYSTEMTABLE"),
    ];

    /// Parses a privilege name (case-insensitive).
    pub fn parse(name: &str) -> Option<SystemPrivilege> {
        Self::ALL_NAMED
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(p, _)| *p)
    }

    /// The SQL name.
    pub fn name(&self) -> &'static str {
        Self::ALL_NAMED
            .iter()
            .find(|(p, _)| p == self)
            .map(|(_, n)| *n)
            .unwrap_or("ALL")
    }
}
