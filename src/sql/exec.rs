//! Statement execution for one session, on the KV transaction API.
//!
//! DDL changes descriptors in the tenant's catalog and DML reads and writes rows, all inside one
//! KV transaction: the session's explicit one, or a fresh implicit one that is retried on
//! serialization conflicts (up to [`IMPLICIT_RETRIES`] times) before the error reaches the client.
//!
//! Rows live at `/Tenant/<t>/Table/<table id>/1/<primary key>`; the value holds the non-NULL
//! columns by column id (see [`super::types`]). Queries run over one table: a WHERE clause that
//! fixes every primary-key column becomes a point read, anything else a scan of the table's span
//! with the filter applied row by row.
//!
//! Transaction control ([`txn_control`]) follows CockroachDB: a nested `BEGIN` is 25001 and
//! aborts the transaction; `COMMIT`, `ROLLBACK` and `SET TRANSACTION` outside one are 25P01; access modes
//! and isolation levels are in [`txn_modes`] (read-only transactions refuse writes with 25006;
//! every transaction runs SERIALIZABLE, weaker levels are upgraded with a NOTICE).
//!
//! Every statement runs on a stack sized for how deeply it nests ([`stack`], see
//! [`super::parser::limits`]): parsing already rejected anything deeper than
//! [`super::parser::limits::MAX_DEPTH`] with 54001, so no pass here can overflow a stack.

use super::admin;
use super::ast::Statement;
use super::catalog::{Catalog, DatabaseDesc, SchemaDesc, TableDesc};
use super::error::{Result, SqlError};
use super::expr::{EvalContext, normalize};
use super::session::{Column, QueryResult, Session, TxnState};
use super::sqlstate::SqlState;
use super::types::Datum;
use crate::ids::TenantId;
use crate::kv::Txn;
use sqlparser::ast::{self as pg, Expr, ObjectName};

/// Bumped before and after every statement that may change what a statement describes as
/// (DDL, ROLLBACK, settings...): connections cache their parsed and described statements under
/// this value and drop them when it moves.
static SCHEMA_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

mod as_of;
mod memory;
mod rerun;
mod resolve;
mod show_sources;
mod stack;
mod txn_control;
mod txn_modes;
pub use as_of::{absolute_timestamp, as_of_timestamp};
pub use memory::{MemoryAccount, MemoryPool, Reservation};
use rerun::{Rerunnable, rerun_after_lock_waits};
pub use resolve::{object_last, object_parts, resolve_name, resolve_table};
use show_sources::{MAX_DESCRIBE_PARAMS, with_show_sources};

/// The current [`SCHEMA_GENERATION`].
pub fn schema_generation() -> u64 {
    SCHEMA_GENERATION.load(std::sync::atomic::Ordering::Acquire)
}

/// Whether `stmt` leaves every description as it was (queries, DML, COPY, BEGIN/COMMIT).
fn keeps_descriptions(stmt: &Statement) -> bool {
    match stmt {
        Statement::Pg(s) => matches!(
            s.as_ref(),
            pg::Statement::Query(_)
                | pg::Statement::Insert(_)
                | pg::Statement::Update(_)
                | pg::Statement::Delete(_)
                | pg::Statement::StartTransaction { .. }
                | pg::Statement::Commit { .. }
                | pg::Statement::Copy { .. }
                | pg::Statement::Deallocate { .. }
        ),
        Statement::CopyRows { .. }
        | Statement::AsOfSystemTime { .. }
        | Statement::ReplicationBuiltin { .. }
        | Statement::ShowJobs
        | Statement::ShowFingerprints { .. } => true,
        _ => false,
    }
}

/// How often an implicit transaction is retried on a serialization conflict.
pub const IMPLICIT_RETRIES: u32 = 50;

/// Statements at most this many depth units deep may stream their rows (see
/// [`super::stream`]): a streamed result is evaluated while the connection sends it, on the
/// connection's own stack, not on one sized for the statement.
const STREAM_MAX_UNITS: usize = 32;

/// Runs one statement in `session`, on a stack sized for how deeply it nests (see
/// [`super::parser::limits`]).
pub async fn execute(
    session: &mut Session,
    stmt: &Statement,
    params: &[Datum],
) -> Result<QueryResult> {
    let units = super::parser::statement_depth(stmt);
    stack::on_stack(units, async move {
        if keeps_descriptions(stmt) {
            return execute_statement(session, stmt, params, units).await;
        }
        SCHEMA_GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let r = execute_statement(session, stmt, params, units).await;
        SCHEMA_GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        r
    })
    .await
}

async fn execute_statement(
    session: &mut Session,
    stmt: &Statement,
    params: &[Datum],
    units: usize,
) -> Result<QueryResult> {
    if let Statement::WithShowSources { sources, stmt } = stmt {
        return with_show_sources(session, sources, stmt, params).await;
    }
    if let Statement::ReplicationBuiltin { func, args } = stmt {
        return super::replication::execute_builtin(session, *func, args, params).await;
    }
    if let Statement::Pg(s) = stmt
        && let Some(r) = txn_control::transaction_control(session, s).await
    {
        return r;
    }
    if let Statement::AsOfSystemTime { time, stmt } = stmt {
        if !matches!(session.txn, TxnState::Idle) {
            return Err(SqlError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                "inconsistent AS OF SYSTEM TIME timestamp: only allowed outside explicit transactions",
            ));
        }
        let ts = as_of_timestamp(session.env.store.now(), time)?;
        let mut txn = session.env.store.begin_as_of(ts)?;
        let r = execute_in_txn(session, &mut txn, stmt, params).await;
        txn.rollback();
        return r;
    }
    if matches!(session.txn, TxnState::Released) {
        return Err(SqlError::new(
            SqlState::ACTIVE_SQL_TRANSACTION,
            "the transaction was committed by RELEASE SAVEPOINT; only COMMIT or ROLLBACK may follow",
        ));
    }
    if session.in_failed_transaction() {
        return Err(SqlError::new(
            SqlState::IN_FAILED_SQL_TRANSACTION,
            "current transaction is aborted, commands ignored until end of transaction block",
        ));
    }
    if let Err(e) = txn_modes::check_read_only(session, stmt) {
        if let TxnState::Open(t) = std::mem::replace(&mut session.txn, TxnState::Idle) {
            session.abort_txn(t, false);
        }
        return Err(e);
    }
    // A weaker isolation level for the session: accepted, and upgraded.
    if let Statement::Pg(s) = stmt
        && let pg::Statement::Set(pg::Set::SingleAssignment {
            variable, values, ..
        }) = s.as_ref()
        && matches!(
            variable.to_string().to_ascii_lowercase().as_str(),
            "transaction_isolation" | "default_transaction_isolation"
        )
        && let Some(n) = values
            .first()
            .and_then(|v| txn_modes::upgrade_notice_for_name(&v.to_string()))
    {
        session.notices.push(n);
    }
    if matches!(stmt, Statement::Maintenance { vacuum: true, .. })
        && !matches!(session.txn, TxnState::Idle)
    {
        return Err(SqlError::new(
            SqlState::ACTIVE_SQL_TRANSACTION,
            "VACUUM cannot run inside a transaction block",
        ));
    }
    // DEALLOCATE: prepared statements belong to the connection, which acts on this result.
    if let Statement::Pg(s) = stmt
        && let pg::Statement::Deallocate { name, .. } = s.as_ref()
    {
        let all = name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all");
        return Ok(QueryResult::Deallocate((!all).then(|| name.value.clone())));
    }
    // COPY FROM STDIN: check the table and columns now, take the data next.
    if let Statement::Pg(s) = stmt
        && let Some(copy) = super::copy::from_stdin(s)
    {
        return copy_in(session, copy?).await;
    }
    // Statements that manage their own transactions or none.
    if let Some(r) = admin::execute_non_transactional(session, stmt).await {
        return r;
    }
    // A large single-table scan streams its rows instead of materialising them.
    let streamable = match stmt {
        Statement::Pg(s) if units <= STREAM_MAX_UNITS && !session.more_statements => {
            match s.as_ref() {
                pg::Statement::Query(q) => Some(q),
                _ => None,
            }
        }
        _ => None,
    };
    if let Some(q) = streamable
        && matches!(session.txn, TxnState::Open(_))
        && let Some(r) = super::stream::try_stream_in_txn(session, stmt, q, params).await?
    {
        return Ok(r);
    }
    match std::mem::replace(&mut session.txn, TxnState::Idle) {
        TxnState::Open(mut txn) => {
            session.txn_statements += 1;
            let r = execute_in_txn(session, &mut txn, stmt, params).await;
            match &r {
                Err(e) => session.abort_txn(txn, e.is_retryable()),
                Ok(_) => session.txn = TxnState::Open(txn),
            }
            r
        }
        other => {
            session.txn = other;
            if matches!(session.txn, TxnState::Idle)
                && let Some(q) = streamable
                && let Some(r) = super::stream::try_stream(session, stmt, q, params).await?
            {
                return Ok(r);
            }
            txn_control::run_implicit(session, stmt, params).await
        }
    }
}

/// Starts a `COPY ... FROM STDIN`: the table and columns must exist (checked in the session's
/// transaction, or a fresh one that only reads).
async fn copy_in(session: &mut Session, copy: super::copy::CopyFromStdin) -> Result<QueryResult> {
    let t = resolve_for_session(session, &copy.table).await?;
    let columns = super::dml::target_columns(&t, &copy.columns)?.len();
    Ok(QueryResult::CopyIn { copy, columns })
}

/// Resolves `name` for a statement that only looks at the table (Describe, the start of a
/// COPY): in the session's explicit transaction, else in a fresh one that is rolled back.
async fn resolve_for_session(session: &mut Session, name: &ObjectName) -> Result<TableDesc> {
    let (user, database) = (session.user.clone(), session.database.clone());
    let ctx = Ctx {
        tenant: session.tenant,
        user: &user,
        database: &database,
        catalog: Catalog::new(session.tenant),
        now_nanos: 0,
        describe_only: true,
        memory: MemoryAccount::default(),
        oids: None,
        search_path: session.search_path(),
        jobs: Default::default(),
        lock_timeout: None,
    };
    match &mut session.txn {
        TxnState::Open(txn) => resolve_table(&ctx, txn, name).await,
        _ => {
            let mut txn = session.env.store.begin();
            let t = resolve_table(&ctx, &mut txn, name).await;
            txn.rollback();
            t
        }
    }
}

/// Session facts an execution needs (borrowed separately from the transaction).
pub struct Ctx<'a> {
    /// The tenant.
    pub tenant: TenantId,
    /// The user.
    pub user: &'a str,
    /// Current database.
    pub database: &'a str,
    /// Catalog.
    pub catalog: Catalog,
    /// Statement time.
    pub now_nanos: u64,
    /// Only the result's shape is wanted (Describe): tables yield no rows.
    pub describe_only: bool,
    /// The statement's memory account (`--max-sql-memory`).
    pub memory: MemoryAccount,
    /// Object names by oid, for statements with `reg*` casts or catalog functions
    /// ([`super::system_tables::oids`]).
    pub oids: Option<std::sync::Arc<super::system_tables::oids::OidNames>>,
    /// The session's `search_path` (schemas for unqualified names), empty for the default
    /// (`"$user", public`).
    pub search_path: Vec<String>,
    /// Schema-change jobs the transaction recorded, started once it commits.
    pub jobs: super::schema_jobs::PendingJobs,
    /// The session's `lock_timeout`: how long a statement waits for a row lock (None: as long
    /// as it takes).
    pub lock_timeout: Option<std::time::Duration>,
}

impl<'a> Ctx<'a> {
    /// This context for learning a result's shape only: tables yield no rows.
    pub fn describing(&self) -> Ctx<'a> {
        Ctx {
            tenant: self.tenant,
            user: self.user,
            database: self.database,
            catalog: self.catalog,
            now_nanos: self.now_nanos,
            describe_only: true,
            memory: MemoryAccount::default(),
            oids: self.oids.clone(),
            search_path: self.search_path.clone(),
            jobs: Default::default(),
            lock_timeout: self.lock_timeout,
        }
    }
}

/// The session's `statement_timeout` (`0` or unset: none; a bare number is milliseconds).
pub(crate) fn statement_timeout(session: &Session) -> Option<std::time::Duration> {
    duration_var(session, "statement_timeout")
}

/// The session's `lock_timeout` (`0` or unset: none; a bare number is milliseconds).
pub(crate) fn lock_timeout(session: &Session) -> Option<std::time::Duration> {
    duration_var(session, "lock_timeout")
}

fn duration_var(session: &Session, name: &str) -> Option<std::time::Duration> {
    let v = session.vars.get(name)?.trim().to_string();
    if v.is_empty() || v == "0" {
        return None;
    }
    match v.parse::<u64>() {
        Ok(ms) => Some(std::time::Duration::from_millis(ms)),
        Err(_) => super::cluster_settings::parse_duration(&v).filter(|d| !d.is_zero()),
    }
}

async fn execute_in_txn(
    session: &mut Session,
    txn: &mut Txn,
    stmt: &Statement,
    params: &[Datum],
) -> Result<QueryResult> {
    let mut ctx = Ctx {
        tenant: session.tenant,
        user: &session.user.clone(),
        database: &session.database.clone(),
        catalog: Catalog::new(session.tenant),
        now_nanos: txn.read_timestamp().wall,
        describe_only: false,
        memory: MemoryAccount::in_pool(session.env.sql_memory.clone())
            .with_timeout(statement_timeout(session))
            .with_cancel(session.cancel.clone()),
        oids: None,
        search_path: session.search_path(),
        jobs: session.pending_jobs.clone(),
        lock_timeout: lock_timeout(session),
    };
    if let Statement::Pg(s) = stmt
        && super::system_tables::oids::needs_oid_names(s)
    {
        let names = super::system_tables::oids::OidNames::load(&ctx, txn).await?;
        ctx.oids = Some(std::sync::Arc::new(names));
    }
    match stmt {
        Statement::Pg(s) => match s.as_ref() {
            pg::Statement::CreateDatabase {
                db_name,
                if_not_exists,
                ..
            } => {
                let name = object_last(db_name);
                ctx.catalog
                    .create_database(txn, &name, ctx.user, *if_not_exists)
                    .await?;
                Ok(QueryResult::Command("CREATE DATABASE".into()))
            }
            pg::Statement::CreateTable(ct) => super::ddl::create_table(&ctx, txn, ct).await,
            pg::Statement::Drop {
                object_type: pg::ObjectType::Schema,
                if_exists,
                names,
                cascade,
                ..
            } => super::ddl::drop_schemas(&ctx, txn, names, *if_exists, *cascade).await,
            pg::Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                restrict,
                ..
            } => {
                let behavior = (*cascade, *restrict);
                super::ddl::drop(&ctx, txn, object_type, *if_exists, names, behavior).await
            }
            pg::Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => super::ddl::create_schema(&ctx, txn, schema_name, *if_not_exists).await,
            pg::Statement::Insert(ins) => super::dml::insert(&ctx, txn, ins, params).await,
            pg::Statement::Query(q) => {
                rerun_after_lock_waits(&ctx, txn, Rerunnable::Query(q), params).await
            }
            pg::Statement::AlterTable(at) => super::ddl::alter_table(&ctx, txn, at).await,
            pg::Statement::ShowCreate { obj_type, obj_name } => {
                super::show::check_create_kind(obj_type)?;
                super::show::show_create(&ctx, txn, obj_name).await
            }
            pg::Statement::ShowColumns { show_options, .. } => match show_options
                .show_in
                .as_ref()
                .and_then(|i| i.parent_name.as_ref())
            {
                Some(n) => super::show::show_columns(&ctx, txn, n).await,
                None => Err(SqlError::syntax("SHOW COLUMNS needs FROM <table>")),
            },
            pg::Statement::Explain {
                statement, analyze, ..
            } => {
                if *analyze {
                    return Err(SqlError::unsupported("EXPLAIN ANALYZE"));
                }
                super::show::explain(&ctx, txn, statement).await
            }
            pg::Statement::CreateIndex(ci) => super::ddl::create_index(&ctx, txn, ci).await,
            pg::Statement::Truncate(tr) => super::ddl::truncate(&ctx, txn, tr).await,
            pg::Statement::Update(u) => {
                rerun_after_lock_waits(&ctx, txn, Rerunnable::Update(u), params).await
            }
            pg::Statement::Delete(d) => {
                rerun_after_lock_waits(&ctx, txn, Rerunnable::Delete(d), params).await
            }
            other => admin::execute_pg_misc(session, txn, other).await,
        },
        Statement::AlterTableSplitAt { table, rows } => {
            let store = session.env.store.clone();
            super::ddl::split_at(&ctx, txn, &store, table, rows).await
        }
        Statement::ShowIndexes { table } => super::show::show_indexes(&ctx, txn, table).await,
        Statement::AlterPrimaryKey {
            table,
            if_exists,
            columns,
            hash,
        } => {
            if *hash {
                return Err(SqlError::unsupported(
                    "hash-sharded primary keys (USING HASH)",
                ));
            }
            super::ddl::alter_primary_key(&ctx, txn, table, *if_exists, columns).await
        }
        Statement::AlterTableScatter { table } => {
            resolve_table(&ctx, txn, table).await?;
            Ok(QueryResult::Command("SCATTER".into()))
        }
        Statement::CopyRows { copy, rows } => super::dml::copy_rows(&ctx, txn, copy, rows).await,
        Statement::Maintenance { vacuum, tables } => {
            for t in tables {
                resolve_table(&ctx, txn, t).await?;
            }
            Ok(QueryResult::Command(
                if *vacuum { "VACUUM" } else { "ANALYZE" }.into(),
            ))
        }
        other => admin::execute_admin(session, txn, other).await,
    }
}

pub use super::ddl::foreign_key;
pub use super::scan::{
    decode_row, encode_row, matching_rows_labeled, matching_rows_pub, row_key, table_span,
};

pub fn eval_ctx<'a>(ctx: &'a Ctx<'a>, params: &'a [Datum]) -> EvalContext<'a> {
    EvalContext {
        params,
        user: ctx.user,
        database: ctx.database,
        now_nanos: ctx.now_nanos,
        oids: ctx.oids.as_deref(),
    }
}

pub fn parse_expr(text: &str) -> Result<Expr> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::syntax(e.to_string()))
}

/// The output columns a statement will produce, without running it (for Describe), on a stack
/// sized for how deeply it nests.
pub async fn describe(session: &mut Session, stmt: &Statement) -> Result<Vec<Column>> {
    let units = super::parser::statement_depth(stmt);
    stack::on_stack(units, describe_statement(session, stmt)).await
}

async fn describe_statement(session: &mut Session, stmt: &Statement) -> Result<Vec<Column>> {
    if let Statement::AsOfSystemTime { stmt, .. } = stmt {
        return Box::pin(describe_statement(session, stmt)).await;
    }
    // `[SHOW ...]` sources only read: run the statement (NULL parameters) to learn its columns.
    if let Statement::WithShowSources { .. } = stmt {
        let params = vec![Datum::Null; MAX_DESCRIBE_PARAMS];
        return match Box::pin(execute(session, stmt, &params)).await? {
            QueryResult::Rows { columns, .. } => Ok(columns),
            _ => Ok(Vec::new()),
        };
    }
    if let Statement::ReplicationBuiltin { func, .. } = stmt {
        return Ok(super::replication::builtin_columns(*func));
    }
    let Statement::Pg(s) = stmt else {
        return admin::describe_admin(stmt);
    };
    let returning = match s.as_ref() {
        pg::Statement::Insert(i) => i.returning.as_ref().and_then(|r| match &i.table {
            pg::TableObject::TableName(n) => Some((n.clone(), r.clone())),
            _ => None,
        }),
        pg::Statement::Update(u) => match (&u.table.relation, &u.returning) {
            (pg::TableFactor::Table { name, .. }, Some(r)) => Some((name.clone(), r.clone())),
            _ => None,
        },
        pg::Statement::Delete(d) => match (&d.from, &d.returning) {
            (pg::FromTable::WithFromKeyword(t) | pg::FromTable::WithoutKeyword(t), Some(r)) => {
                match t.first().map(|t| &t.relation) {
                    Some(pg::TableFactor::Table { name, .. }) => Some((name.clone(), r.clone())),
                    _ => None,
                }
            }
            _ => None,
        },
        _ => None,
    };
    if let Some((table, items)) = returning {
        let t = resolve_for_session(session, &table).await?;
        return super::dml::returning_columns_of(&t, &items);
    }
    if let Some(cols) = super::show::describe(s) {
        return Ok(cols);
    }
    let pg::Statement::Query(q) = s.as_ref() else {
        return admin::describe_pg_misc(s);
    };
    // Run the query with NULL parameters (no side effects: it is a query) over no rows to learn
    // its columns. Over no rows a branch the data never reaches can run (an aggregate of no rows
    // is one row) and fail on a constant (`6 / -99999999999` needs more digits than DECIMAL
    // has): then the query runs over its rows, as Execute would, and only its error is final.
    // A locking query is never run for this (its locks would outlive the Describe).
    match describe_query(session, s, q, true).await {
        Err(e) if e.state.0.starts_with("22") && !locks_rows(q) => {
            describe_query(session, s, q, false).await
        }
        other => other,
    }
}

/// Whether `q` or any query inside it has a locking clause (`FOR UPDATE`, ...).
fn locks_rows(q: &pg::Query) -> bool {
    struct Find;
    impl pg::Visitor for Find {
        type Break = ();
        fn pre_visit_query(&mut self, q: &pg::Query) -> std::ops::ControlFlow<()> {
            if q.locks.is_empty() {
                std::ops::ControlFlow::Continue(())
            } else {
                std::ops::ControlFlow::Break(())
            }
        }
    }
    pg::Visit::visit(q, &mut Find).is_break()
}

/// The columns of query `q` (statement `s`), run with NULL parameters over no rows
/// (`describe_only`) or over the stored rows; inside an explicit transaction it sees that
/// transaction's schema, and a transaction of its own is rolled back.
async fn describe_query(
    session: &mut Session,
    s: &pg::Statement,
    q: &pg::Query,
    describe_only: bool,
) -> Result<Vec<Column>> {
    let ctx = Ctx {
        tenant: session.tenant,
        user: &session.user.clone(),
        database: &session.database.clone(),
        catalog: Catalog::new(session.tenant),
        now_nanos: 0,
        describe_only,
        memory: MemoryAccount::default(),
        oids: None,
        search_path: session.search_path(),
        jobs: Default::default(),
        lock_timeout: None,
    };
    let params = vec![Datum::Null; 1 + q.to_string().matches('$').count()];
    let needs_oids = super::system_tables::oids::needs_oid_names(s);
    let mut ctx = ctx;
    let rel = match &mut session.txn {
        TxnState::Open(t) => {
            if needs_oids {
                let names = super::system_tables::oids::OidNames::load(&ctx, t).await?;
                ctx.oids = Some(std::sync::Arc::new(names));
            }
            super::query::run_query(&ctx, t, q, &params, &Default::default()).await?
        }
        _ => {
            let mut txn = session.env.store.begin();
            let r = async {
                if needs_oids {
                    let names = super::system_tables::oids::OidNames::load(&ctx, &mut txn).await?;
                    ctx.oids = Some(std::sync::Arc::new(names));
                }
                super::query::run_query(&ctx, &mut txn, q, &params, &Default::default()).await
            }
            .await;
            txn.rollback();
            r?
        }
    };
    Ok(rel.columns())
}
