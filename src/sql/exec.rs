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

use super::admin;
use super::ast::Statement;
use super::catalog::{Catalog, ColumnDesc, TableDesc};
use super::error::{Result, SqlError};
use super::expr::{self, EvalContext, Row, normalize};
use super::session::{Column, QueryResult, Session, TxnState};
use super::sqlstate::SqlState;
use super::types::{Datum, SqlType};
use crate::ids::TenantId;
use crate::kv::Txn;
use crate::storage::keys::{self, Span};
use crate::storage::records::{decode, encode};
use sqlparser::ast::{self as pg, Expr, ObjectName};

/// How often an implicit transaction is retried on a serialization conflict.
pub const IMPLICIT_RETRIES: u32 = 50;

/// Runs one statement in `session`.
pub async fn execute(
    session: &mut Session,
    stmt: &Statement,
    params: &[Datum],
) -> Result<QueryResult> {
    // Transaction control.
    if let Statement::Pg(s) = stmt {
        match s.as_ref() {
            pg::Statement::StartTransaction { .. } => {
                return match session.txn {
                    TxnState::Idle => {
                        session.txn = TxnState::Open(Box::new(session.env.store.begin()));
                        session.restart_savepoint = None;
                        session.txn_statements = 0;
                        Ok(QueryResult::Command("BEGIN".into()))
                    }
                    _ => Err({
                        if let TxnState::Open(mut t) =
                            std::mem::replace(&mut session.txn, TxnState::Aborted)
                        {
                            t.rollback();
                        }
                        SqlError::new(
                            SqlState::ACTIVE_SQL_TRANSACTION,
                            "there is already a transaction in progress",
                        )
                    }),
                };
            }
            pg::Statement::Commit { .. } => {
                return match std::mem::replace(&mut session.txn, TxnState::Idle) {
                    TxnState::Open(mut t) => {
                        t.commit().await?;
                        Ok(QueryResult::Command("COMMIT".into()))
                    }
                    TxnState::Aborted => Ok(QueryResult::Command("ROLLBACK".into())),
                    TxnState::Idle | TxnState::Released => {
                        Ok(QueryResult::Command("COMMIT".into()))
                    }
                };
            }
            pg::Statement::Rollback {
                savepoint: Some(sp),
                ..
            } => {
                let name = normalize(&sp.value, sp.quote_style.is_some());
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
                session.txn = TxnState::Open(Box::new(session.env.store.begin()));
                session.txn_statements = 0;
                return Ok(QueryResult::Command("ROLLBACK".into()));
            }
            pg::Statement::Rollback { .. } => {
                if let TxnState::Open(mut t) = std::mem::replace(&mut session.txn, TxnState::Idle) {
                    t.rollback();
                }
                session.restart_savepoint = None;
                return Ok(QueryResult::Command("ROLLBACK".into()));
            }
            pg::Statement::Savepoint { name } => {
                let name = normalize(&name.value, name.quote_style.is_some());
                return match &session.txn {
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
                    TxnState::Open(_) => {
                        if session.txn_statements == 0 && session.restart_savepoint.is_none() {
                            session.restart_savepoint = Some(name);
                            Ok(QueryResult::Command("SAVEPOINT".into()))
                        } else {
                            Err(SqlError::unsupported(
                                "savepoints after the start of a transaction",
                            ))
                        }
                    }
                };
            }
            pg::Statement::ReleaseSavepoint { name } => {
                let name = normalize(&name.value, name.quote_style.is_some());
                if session.restart_savepoint.as_deref() != Some(name.as_str()) {
                    return Err(SqlError::new(
                        SqlState("3B001"),
                        format!("savepoint \"{name}\" does not exist"),
                    ));
                }
                return match std::mem::replace(&mut session.txn, TxnState::Aborted) {
                    // RELEASE of the restart savepoint is the commit point (CockroachDB's
                    // client-side retry protocol); a 40001 here is retried with ROLLBACK TO SAVEPOINT.
                    TxnState::Open(mut t) => match t.commit().await {
                        Ok(_) => {
                            session.txn = TxnState::Released;
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
                };
            }
            _ => {}
        }
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
    // Statements that manage their own transactions or none.
    if let Some(r) = admin::execute_non_transactional(session, stmt).await {
        return r;
    }
    match std::mem::replace(&mut session.txn, TxnState::Idle) {
        TxnState::Open(mut txn) => {
            session.txn_statements += 1;
            let r = execute_in_txn(session, &mut txn, stmt, params).await;
            session.txn = if r.is_err() {
                txn.rollback();
                TxnState::Aborted
            } else {
                TxnState::Open(txn)
            };
            r
        }
        other => {
            session.txn = other;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let mut txn = session.env.store.begin();
                let r = match execute_in_txn(session, &mut txn, stmt, params).await {
                    Ok(res) => txn.commit().await.map(|_| res).map_err(SqlError::from),
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
    }
}

/// The timestamp an `AS OF SYSTEM TIME` value names: a negative interval relative to now
/// (`'-10s'`), a decimal HLC timestamp, a timestamp string, or `follower_read_timestamp()`.
pub fn as_of_timestamp(
    now: crate::clock::Timestamp,
    time: &str,
) -> Result<crate::clock::Timestamp> {
    use crate::clock::Timestamp;
    let t = time.trim();
    let bad = || {
        SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("AS OF SYSTEM TIME: value is neither timestamp, decimal, nor interval: {t}"),
        )
    };
    let ts = if t.eq_ignore_ascii_case("follower_read_timestamp()") {
        now.sub_duration(std::time::Duration::from_millis(4800))
    } else if t.starts_with('-') {
        match super::types::parse_interval(t) {
            Some(Datum::Interval {
                months,
                days,
                micros,
            }) => {
                let total = i128::from(months) * 30 * 86_400_000_000
                    + i128::from(days) * 86_400_000_000
                    + i128::from(micros);
                if total >= 0 {
                    return Err(SqlError::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        "AS OF SYSTEM TIME: interval value must be negative",
                    ));
                }
                let back = u64::try_from(-total).map_err(|_| bad())?;
                now.sub_duration(std::time::Duration::from_micros(back))
            }
            _ => return Err(bad()),
        }
    } else if t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        Timestamp::parse_decimal(t).ok_or_else(bad)?
    } else {
        let micros = super::types::parse_timestamp(t).ok_or_else(bad)?;
        Timestamp::from_wall(
            u64::try_from(micros)
                .map_err(|_| bad())?
                .saturating_mul(1000),
        )
    };
    if ts > now {
        return Err(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("AS OF SYSTEM TIME: cannot specify timestamp in the future ({ts} > {now})"),
        ));
    }
    Ok(ts)
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
}

/// The session's `statement_timeout` (`0` or unset: none; a bare number is milliseconds).
fn statement_timeout(session: &Session) -> Option<std::time::Duration> {
    let v = session.vars.get("statement_timeout")?.trim().to_string();
    if v.is_empty() || v == "0" {
        return None;
    }
    match v.parse::<u64>() {
        Ok(ms) => Some(std::time::Duration::from_millis(ms)),
        Err(_) => super::cluster_settings::parse_duration(&v).filter(|d| !d.is_zero()),
    }
}

/// Bytes of rows a statement holds; past the budget the statement fails with SQLSTATE 53200
/// instead of exhausting the node's memory.
#[derive(Debug, Default)]
pub struct MemoryAccount {
    used: std::sync::atomic::AtomicU64,
    budget: u64,
    /// `statement_timeout`: checked whenever rows are charged, so long-running work stops too.
    deadline: Option<std::time::Instant>,
}

impl MemoryAccount {
    /// An account with `budget` bytes (0 = unlimited).
    pub fn new(budget: u64) -> MemoryAccount {
        MemoryAccount {
            used: std::sync::atomic::AtomicU64::new(0),
            budget,
            deadline: None,
        }
    }

    /// Fails charges after `timeout` from now (`statement_timeout`).
    pub fn with_timeout(mut self, timeout: Option<std::time::Duration>) -> MemoryAccount {
        self.deadline = timeout.map(|t| std::time::Instant::now() + t);
        self
    }

    /// Charges the rows' approximate size.
    pub fn charge<'a>(&self, rows: impl IntoIterator<Item = &'a Vec<Datum>>) -> Result<()> {
        if let Some(d) = self.deadline
            && std::time::Instant::now() > d
        {
            return Err(SqlError::new(
                SqlState::QUERY_CANCELED,
                "query execution canceled due to statement timeout",
            ));
        }
        if self.budget == 0 {
            return Ok(());
        }
        let bytes: u64 = rows
            .into_iter()
            .map(|r| 24 + r.iter().map(datum_size).sum::<u64>())
            .sum();
        let used = self
            .used
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed)
            + bytes;
        if used > self.budget {
            return Err(SqlError::new(
                SqlState::OUT_OF_MEMORY,
                format!(
                    "root: memory budget exceeded: {used} bytes requested, {} bytes in budget",
                    self.budget
                ),
            )
            .with_hint("raise --max-sql-memory or make the query read less"));
        }
        Ok(())
    }
}

fn datum_size(d: &Datum) -> u64 {
    32 + match d {
        Datum::String(s) | Datum::Json(s) => s.len() as u64,
        Datum::Bytes(b) => b.len() as u64,
        _ => 0,
    }
}

async fn execute_in_txn(
    session: &mut Session,
    txn: &mut Txn,
    stmt: &Statement,
    params: &[Datum],
) -> Result<QueryResult> {
    let ctx = Ctx {
        tenant: session.tenant,
        user: &session.user.clone(),
        database: &session.database.clone(),
        catalog: Catalog::new(session.tenant),
        now_nanos: txn.read_timestamp().wall,
        describe_only: false,
        memory: MemoryAccount::new(session.env.max_sql_memory)
            .with_timeout(statement_timeout(session)),
    };
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
            pg::Statement::CreateTable(ct) => create_table(&ctx, txn, ct).await,
            pg::Statement::Drop {
                object_type,
                if_exists,
                names,
                ..
            } => drop(&ctx, txn, object_type, *if_exists, names).await,
            pg::Statement::Insert(ins) => super::dml::insert(&ctx, txn, ins, params).await,
            pg::Statement::Query(q) => query(&ctx, txn, q, params).await,
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
            pg::Statement::Truncate(tr) => {
                super::ddl::truncate(
                    &ctx,
                    txn,
                    &tr.table_names
                        .iter()
                        .map(|t| t.name.clone())
                        .collect::<Vec<_>>(),
                )
                .await
            }
            pg::Statement::Update(u) => super::dml::update(&ctx, txn, u, params).await,
            pg::Statement::Delete(d) => super::dml::delete(&ctx, txn, d, params).await,
            other => admin::execute_pg_misc(session, txn, other).await,
        },
        Statement::AlterTableSplitAt { table, rows } => {
            let store = session.env.store.clone();
            super::ddl::split_at(&ctx, txn, &store, table, rows).await
        }
        Statement::ShowIndexes { table } => super::show::show_indexes(&ctx, txn, table).await,
        Statement::AlterTableScatter { table } => {
            resolve_table(&ctx, txn, table).await?;
            Ok(QueryResult::Command("SCATTER".into()))
        }
        other => admin::execute_admin(session, txn, other).await,
    }
}

/// The last part of a dotted name, normalized.
pub fn object_last(n: &ObjectName) -> String {
    n.0.last()
        .and_then(|p| p.as_ident())
        .map(|i| normalize(&i.value, i.quote_style.is_some()))
        .unwrap_or_default()
}

fn object_parts(n: &ObjectName) -> Vec<String> {
    n.0.iter()
        .filter_map(|p| p.as_ident())
        .map(|i| normalize(&i.value, i.quote_style.is_some()))
        .collect()
}

/// Resolves `[db.][schema.]table` to a table descriptor (42P01 if missing).
/// A foreign key declared in CREATE TABLE: name, columns, target table, target columns.
type PendingFk = (Option<String>, Vec<String>, ObjectName, Vec<String>);

/// Resolves `[db.][schema.]table` (see [`Ctx`]).
pub async fn resolve_table(ctx: &Ctx<'_>, txn: &mut Txn, name: &ObjectName) -> Result<TableDesc> {
    let parts = object_parts(name);
    let (db, table) = match parts.as_slice() {
        [t] => (ctx.database.to_string(), t.clone()),
        [s, t] if s == "public" => (ctx.database.to_string(), t.clone()),
        [d, t] => (d.clone(), t.clone()),
        [d, _, t] => (d.clone(), t.clone()),
        _ => return Err(SqlError::syntax(format!("invalid table name {name}"))),
    };
    let dbd = ctx.catalog.database(txn, &db).await?.ok_or_else(|| {
        SqlError::new(
            SqlState::UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        )
    })?;
    ctx.catalog
        .table(txn, dbd.id, &table)
        .await?
        .ok_or_else(|| {
            SqlError::new(
                SqlState::UNDEFINED_TABLE,
                format!("relation \"{name}\" does not exist"),
            )
        })
}

async fn create_table(ctx: &Ctx<'_>, txn: &mut Txn, ct: &pg::CreateTable) -> Result<QueryResult> {
    let parts = object_parts(&ct.name);
    let (db, name) = match parts.as_slice() {
        [t] => (ctx.database.to_string(), t.clone()),
        [s, t] if s == "public" => (ctx.database.to_string(), t.clone()),
        [d, t] | [d, _, t] => (d.clone(), t.clone()),
        _ => return Err(SqlError::syntax("invalid table name")),
    };
    let dbd = ctx.catalog.database(txn, &db).await?.ok_or_else(|| {
        SqlError::new(
            SqlState::INVALID_CATALOG_NAME,
            format!("database \"{db}\" does not exist"),
        )
    })?;
    if ctx.catalog.table(txn, dbd.id, &name).await?.is_some() {
        if ct.if_not_exists {
            return Ok(QueryResult::Command("CREATE TABLE".into()));
        }
        return Err(SqlError::new(
            SqlState::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    let mut columns = Vec::new();
    let mut pk: Vec<String> = Vec::new();
    let mut pending_indexes: Vec<(Option<String>, Vec<String>, bool)> = Vec::new();
    let mut checks: Vec<(Option<String>, String)> = Vec::new();
    let mut fks: Vec<PendingFk> = Vec::new();
    for (i, c) in ct.columns.iter().enumerate() {
        let cname = normalize(&c.name.value, c.name.quote_style.is_some());
        if columns.iter().any(|x: &ColumnDesc| x.name == cname) {
            return Err(SqlError::new(
                SqlState::DUPLICATE_OBJECT,
                format!("duplicate column name: \"{cname}\""),
            ));
        }
        let ty = SqlType::from_ast(&c.data_type)?;
        let mut nullable = true;
        let mut default = None;
        let serial = matches!(&c.data_type, pg::DataType::Custom(n, _) if n.to_string().to_lowercase().contains("serial"));
        if serial {
            default = Some("unique_rowid()".to_string());
        }
        for opt in &c.options {
            match &opt.option {
                pg::ColumnOption::NotNull => nullable = false,
                pg::ColumnOption::Null => nullable = true,
                pg::ColumnOption::Default(e) => default = Some(e.to_string()),
                pg::ColumnOption::PrimaryKey(_) => {
                    pk.push(cname.clone());
                    nullable = false;
                }
                pg::ColumnOption::Unique(u) => pending_indexes.push((
                    u.name
                        .as_ref()
                        .or(u.index_name.as_ref())
                        .map(|n| n.value.clone()),
                    vec![cname.clone()],
                    true,
                )),
                pg::ColumnOption::Check(ck) => checks.push((
                    ck.name.as_ref().map(|n| n.value.clone()),
                    ck.expr.to_string(),
                )),
                pg::ColumnOption::ForeignKey(fk) => fks.push((
                    fk.name.as_ref().map(|n| n.value.clone()),
                    vec![cname.clone()],
                    fk.foreign_table.clone(),
                    fk.referred_columns
                        .iter()
                        .map(|c| normalize(&c.value, c.quote_style.is_some()))
                        .collect(),
                )),
                _ => {}
            }
        }
        columns.push(ColumnDesc {
            id: i as u32 + 1,
            name: cname,
            ty,
            nullable,
            default,
            hidden: false,
        });
    }
    for c in &ct.constraints {
        match c {
            pg::TableConstraint::PrimaryKey(p) => {
                if !pk.is_empty() {
                    return Err(SqlError::new(
                        SqlState::INVALID_TABLE_DEFINITION,
                        format!("multiple primary keys for table \"{name}\" are not allowed"),
                    ));
                }
                for ic in &p.columns {
                    let n = match &ic.column.expr {
                        Expr::Identifier(i) => normalize(&i.value, i.quote_style.is_some()),
                        other => {
                            return Err(SqlError::unsupported(format!(
                                "primary key expression {other}"
                            )));
                        }
                    };
                    pk.push(n);
                }
            }
            pg::TableConstraint::Unique(u) => pending_indexes.push((
                u.name
                    .as_ref()
                    .or(u.index_name.as_ref())
                    .map(|n| n.value.clone()),
                u.columns
                    .iter()
                    .map(|ic| ic.column.expr.to_string().trim_matches('"').to_lowercase())
                    .collect(),
                true,
            )),
            pg::TableConstraint::Index(ix) => pending_indexes.push((
                ix.name.as_ref().map(|n| n.value.clone()),
                ix.columns
                    .iter()
                    .map(|ic| ic.column.expr.to_string().trim_matches('"').to_lowercase())
                    .collect(),
                false,
            )),
            pg::TableConstraint::Check(ck) => checks.push((
                ck.name.as_ref().map(|n| n.value.clone()),
                ck.expr.to_string(),
            )),
            pg::TableConstraint::ForeignKey(fk) => fks.push((
                fk.name.as_ref().map(|n| n.value.clone()),
                fk.columns
                    .iter()
                    .map(|c| normalize(&c.value, c.quote_style.is_some()))
                    .collect(),
                fk.foreign_table.clone(),
                fk.referred_columns
                    .iter()
                    .map(|c| normalize(&c.value, c.quote_style.is_some()))
                    .collect(),
            )),
            other => return Err(SqlError::unsupported(format!("table constraint {other}"))),
        }
    }
    let mut next = columns.len() as u32 + 1;
    if pk.is_empty() {
        columns.push(ColumnDesc {
            id: next,
            name: "rowid".into(),
            ty: SqlType::Int,
            nullable: false,
            default: Some("unique_rowid()".into()),
            hidden: true,
        });
        next += 1;
        pk.push("rowid".into());
    }
    let mut primary_key = Vec::new();
    for n in &pk {
        let col = columns.iter_mut().find(|c| c.name == *n).ok_or_else(|| {
            SqlError::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{n}\" does not exist"),
            )
        })?;
        col.nullable = false;
        primary_key.push(col.id);
    }
    let col_id = |columns: &[ColumnDesc], n: &str| -> Result<u32> {
        columns
            .iter()
            .find(|c| c.name == n)
            .map(|c| c.id)
            .ok_or_else(|| {
                SqlError::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!("column \"{n}\" does not exist"),
                )
            })
    };
    let mut indexes = Vec::new();
    let mut next_index_id = 2;
    for (iname, cols, unique) in pending_indexes {
        let ids = cols
            .iter()
            .map(|c| {
                col_id(
                    &columns,
                    c.trim_end_matches(" asc").trim_end_matches(" desc").trim(),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let iname = iname.unwrap_or_else(|| {
            format!(
                "{name}_{}_{}",
                cols.join("_"),
                if unique { "key" } else { "idx" }
            )
        });
        indexes.push(super::catalog::IndexDesc {
            id: next_index_id,
            name: iname,
            columns: ids,
            unique,
        });
        next_index_id += 1;
    }
    let checks = checks
        .into_iter()
        .enumerate()
        .map(|(i, (n, e))| super::catalog::CheckDesc {
            name: n.unwrap_or_else(|| format!("check_{i}")),
            expr: e,
        })
        .collect();
    let mut desc = TableDesc {
        id: 0,
        parent_id: dbd.id,
        name,
        columns,
        primary_key,
        next_column_id: next,
        version: 1,
        indexes,
        checks,
        foreign_keys: Vec::new(),
        next_index_id,
    };
    let mut fk_descs = Vec::new();
    for (fname, cols, target, ref_cols) in fks {
        fk_descs.push(foreign_key(ctx, txn, &desc, fname, &cols, &target, &ref_cols).await?);
    }
    desc.foreign_keys = fk_descs;
    ctx.catalog.create_table(txn, desc).await?;
    Ok(QueryResult::Command("CREATE TABLE".into()))
}

/// Resolves a foreign key definition of `t` (`cols` → `target(ref_cols)`, default the target's
/// primary key).
pub async fn foreign_key(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    name: Option<String>,
    cols: &[String],
    target: &ObjectName,
    ref_cols: &[String],
) -> Result<super::catalog::ForeignKeyDesc> {
    let parent = resolve_table(ctx, txn, target).await?;
    let ids = cols
        .iter()
        .map(|c| {
            t.column(c).map(|x| x.id).ok_or_else(|| {
                SqlError::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!("column \"{c}\" does not exist"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let ref_ids = if ref_cols.is_empty() {
        parent.primary_key.clone()
    } else {
        ref_cols
            .iter()
            .map(|c| {
                parent.column(c).map(|x| x.id).ok_or_else(|| {
                    SqlError::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!("column \"{c}\" does not exist"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?
    };
    if ids.len() != ref_ids.len() {
        return Err(SqlError::syntax(format!(
            "{} columns must reference exactly {} columns in referenced table (found {})",
            ids.len(),
            ids.len(),
            ref_ids.len()
        )));
    }
    let unique_target = ref_ids == parent.primary_key
        || parent
            .indexes
            .iter()
            .any(|i| i.unique && i.columns == ref_ids);
    if !unique_target {
        return Err(SqlError::new(
            SqlState("42830"),
            format!(
                "there is no unique constraint matching given keys for referenced table {}",
                parent.name
            ),
        ));
    }
    let name = name.unwrap_or_else(|| format!("{}_{}_fkey", t.name, cols.join("_")));
    Ok(super::catalog::ForeignKeyDesc {
        name,
        columns: ids,
        ref_table: parent.id,
        ref_columns: ref_ids,
    })
}

async fn drop(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    ty: &pg::ObjectType,
    if_exists: bool,
    names: &[ObjectName],
) -> Result<QueryResult> {
    match ty {
        pg::ObjectType::Table => {
            for n in names {
                match resolve_table(ctx, txn, n).await {
                    Ok(t) => {
                        delete_span(txn, &table_span(ctx.tenant, &t)).await?;
                        ctx.catalog.drop_table(txn, &t)?;
                    }
                    Err(e) if if_exists && e.state == SqlState::UNDEFINED_TABLE => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(QueryResult::Command("DROP TABLE".into()))
        }
        pg::ObjectType::Database => {
            for n in names {
                let name = object_last(n);
                match ctx.catalog.database(txn, &name).await? {
                    Some(d) => {
                        if name == ctx.database {
                            return Err(SqlError::new(
                                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                                format!("cannot drop the current database \"{name}\""),
                            ));
                        }
                        for t in ctx.catalog.drop_database(txn, &d).await? {
                            delete_span(txn, &table_span(ctx.tenant, &t)).await?;
                        }
                    }
                    None if if_exists => {}
                    None => {
                        return Err(SqlError::new(
                            SqlState::INVALID_CATALOG_NAME,
                            format!("database \"{name}\" does not exist"),
                        ));
                    }
                }
            }
            Ok(QueryResult::Command("DROP DATABASE".into()))
        }
        pg::ObjectType::Index => super::ddl::drop_index(ctx, txn, names, if_exists).await,
        other => Err(SqlError::unsupported(format!("DROP {other}"))),
    }
}

async fn delete_span(txn: &mut Txn, span: &Span) -> Result<()> {
    for (k, _) in txn.scan(span, usize::MAX).await? {
        txn.delete(&k)?;
    }
    Ok(())
}

/// The key span of a table's rows.
pub fn table_span(tenant: TenantId, t: &TableDesc) -> Span {
    keys::index_span(tenant, t.id, 1)
}

pub fn row_key(tenant: TenantId, t: &TableDesc, row: &[Datum]) -> Result<Vec<u8>> {
    let mut k = keys::index_prefix(tenant, t.id, 1);
    for id in &t.primary_key {
        let i = t
            .column_index(*id)
            .ok_or_else(|| SqlError::internal("primary key column missing"))?;
        row[i].encode_key(&mut k)?;
    }
    Ok(k)
}

pub fn encode_row(t: &TableDesc, row: &[Datum]) -> Vec<u8> {
    let cols: Vec<(u32, Datum)> = t
        .columns
        .iter()
        .zip(row)
        .filter(|(_, d)| !d.is_null())
        .map(|(c, d)| (c.id, d.clone()))
        .collect();
    encode(&cols)
}

pub fn decode_row(t: &TableDesc, raw: &[u8]) -> Result<Vec<Datum>> {
    let cols: Vec<(u32, Datum)> =
        decode(raw).map_err(|e| SqlError::internal(format!("corrupt row: {e}")))?;
    let mut row = vec![Datum::Null; t.columns.len()];
    for (id, d) in cols {
        if let Some(i) = t.column_index(id) {
            row[i] = d;
        }
    }
    Ok(row)
}

pub fn eval_ctx<'a>(ctx: &'a Ctx<'a>, params: &'a [Datum]) -> EvalContext<'a> {
    EvalContext {
        params,
        user: ctx.user,
        database: ctx.database,
        now_nanos: ctx.now_nanos,
    }
}

pub fn parse_expr(text: &str) -> Result<Expr> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::syntax(e.to_string()))
}

/// Rows of `t` matching `selection` (a point read when the primary key is fixed).
pub async fn matching_rows_pub(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    selection: Option<&Expr>,
    params: &[Datum],
) -> Result<Vec<(Vec<u8>, Vec<Datum>)>> {
    matching_rows(ctx, txn, t, selection, params, None).await
}

/// [`matching_rows_pub`] with the name the query gave the table (its alias).
pub async fn matching_rows_labeled(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    selection: Option<&Expr>,
    params: &[Datum],
    label: &str,
) -> Result<Vec<(Vec<u8>, Vec<Datum>)>> {
    matching_rows(ctx, txn, t, selection, params, Some(label)).await
}

async fn matching_rows(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    selection: Option<&Expr>,
    params: &[Datum],
    label: Option<&str>,
) -> Result<Vec<(Vec<u8>, Vec<Datum>)>> {
    let label = label.unwrap_or(&t.name);
    let names: Vec<String> = t
        .columns
        .iter()
        .map(|c| format!("{label}.{}", c.name))
        .collect();
    let ectx = eval_ctx(ctx, params);
    // Point lookup when every primary-key column is fixed by equality.
    if let Some(sel) = selection {
        let mut fixed: Vec<Option<Datum>> = vec![None; t.columns.len()];
        collect_equalities(sel, &names, &ectx, &mut fixed)?;
        if t.primary_key
            .iter()
            .all(|id| t.column_index(*id).is_some_and(|i| fixed[i].is_some()))
        {
            let mut probe = vec![Datum::Null; t.columns.len()];
            for id in &t.primary_key {
                let i = t
                    .column_index(*id)
                    .ok_or_else(|| SqlError::internal("pk column"))?;
                let v = fixed[i].take().unwrap_or(Datum::Null);
                probe[i] = match v.coerce(t.columns[i].ty) {
                    Ok(v) => v,
                    Err(_) => return Ok(Vec::new()),
                };
            }
            let key = row_key(ctx.tenant, t, &probe)?;
            let mut out = Vec::new();
            if let Some(raw) = txn.get(&key).await? {
                let row = decode_row(t, &raw)?;
                if passes(sel, &names, &row, &ectx)? {
                    out.push((key, row));
                }
            }
            return Ok(out);
        }
    }
    // A primary-key prefix fixed by equality: scan just that part of the table.
    if let Some(sel) = selection {
        let mut fixed: Vec<Option<Datum>> = vec![None; t.columns.len()];
        collect_equalities(sel, &names, &ectx, &mut fixed)?;
        let mut prefix = keys::index_prefix(ctx.tenant, t.id, 1);
        let mut n = 0;
        for id in &t.primary_key {
            let Some(i) = t.column_index(*id) else { break };
            let Some(v) = fixed[i].clone() else { break };
            let Ok(v) = v.coerce(t.columns[i].ty) else {
                return Ok(Vec::new());
            };
            v.encode_key(&mut prefix)?;
            n += 1;
        }
        if n > 0 {
            let mut end = prefix.clone();
            end.push(0xFF);
            let mut out = Vec::new();
            for (k, v) in txn.scan(&Span::new(prefix, end), usize::MAX).await? {
                let row = decode_row(t, &v)?;
                if passes(sel, &names, &row, &ectx)? {
                    out.push((k, row));
                }
            }
            return Ok(out);
        }
    }
    // A secondary index whose columns are all fixed by equality.
    if let Some(sel) = selection {
        let mut fixed: Vec<Option<Datum>> = vec![None; t.columns.len()];
        collect_equalities(sel, &names, &ectx, &mut fixed)?;
        for idx in &t.indexes {
            let vals: Option<Vec<Datum>> = idx
                .columns
                .iter()
                .map(|id| {
                    t.column_index(*id).and_then(|i| {
                        fixed[i]
                            .clone()
                            .and_then(|v| v.coerce(t.columns[i].ty).ok())
                    })
                })
                .collect();
            if let Some(vals) = vals {
                let mut out = Vec::new();
                for (k, row) in super::rows::rows_from_index(ctx, txn, t, idx, &vals).await? {
                    if passes(sel, &names, &row, &ectx)? {
                        out.push((k, row));
                    }
                }
                return Ok(out);
            }
        }
    }
    let mut out = Vec::new();
    for (k, v) in txn.scan(&table_span(ctx.tenant, t), usize::MAX).await? {
        let row = decode_row(t, &v)?;
        if selection
            .map(|s| passes(s, &names, &row, &ectx))
            .transpose()?
            .unwrap_or(true)
        {
            out.push((k, row));
        }
    }
    Ok(out)
}

fn passes(sel: &Expr, names: &[String], row: &[Datum], ectx: &EvalContext<'_>) -> Result<bool> {
    Ok(matches!(
        expr::eval(sel, Some(&Row { names, values: row }), ectx)?,
        Datum::Bool(true)
    ))
}

fn collect_equalities(
    e: &Expr,
    names: &[String],
    ectx: &EvalContext<'_>,
    fixed: &mut [Option<Datum>],
) -> Result<()> {
    match e {
        Expr::BinaryOp {
            left,
            op: pg::BinaryOperator::And,
            right,
        } => {
            collect_equalities(left, names, ectx, fixed)?;
            collect_equalities(right, names, ectx, fixed)
        }
        Expr::Nested(inner) => collect_equalities(inner, names, ectx, fixed),
        Expr::BinaryOp {
            left,
            op: pg::BinaryOperator::Eq,
            right,
        } => {
            for (col, val) in [(left, right), (right, left)] {
                if !matches!(
                    col.as_ref(),
                    Expr::Identifier(_) | Expr::CompoundIdentifier(_)
                ) {
                    continue;
                }
                if let Some(i) = expr::lookup(names, col)
                    && let Ok(v) = expr::eval(val, None, ectx)
                    && !v.is_null()
                {
                    fixed[i] = Some(v);
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Output columns and rows of a query.
async fn query(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    q: &pg::Query,
    params: &[Datum],
) -> Result<QueryResult> {
    let rel = super::query::run_query(ctx, txn, q, params, &Default::default()).await?;
    Ok(QueryResult::Rows {
        columns: rel.columns(),
        rows: rel.rows,
    })
}

/// The output columns a statement will produce, without running it (for Describe).
pub async fn describe(session: &mut Session, stmt: &Statement) -> Result<Vec<Column>> {
    if let Statement::AsOfSystemTime { stmt, .. } = stmt {
        return Box::pin(describe(session, stmt)).await;
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
        let ctx = Ctx {
            tenant: session.tenant,
            user: &session.user.clone(),
            database: &session.database.clone(),
            catalog: Catalog::new(session.tenant),
            now_nanos: 0,
            describe_only: true,
            memory: MemoryAccount::default(),
        };
        let t = match &mut session.txn {
            TxnState::Open(t) => resolve_table(&ctx, t, &table).await?,
            _ => {
                let mut txn = session.env.store.begin();
                let r = resolve_table(&ctx, &mut txn, &table).await;
                txn.rollback();
                r?
            }
        };
        return super::dml::returning_columns_of(&t, &items);
    }
    if let Some(cols) = super::show::describe(s) {
        return Ok(cols);
    }
    let pg::Statement::Query(q) = s.as_ref() else {
        return admin::describe_pg_misc(s);
    };
    // Run the query with NULL parameters (no side effects: it is a query) to learn its columns;
    // inside an explicit transaction it sees that transaction's schema.
    let ctx = Ctx {
        tenant: session.tenant,
        user: &session.user.clone(),
        database: &session.database.clone(),
        catalog: Catalog::new(session.tenant),
        now_nanos: 0,
        describe_only: true,
        memory: MemoryAccount::default(),
    };
    let params = vec![Datum::Null; 1 + q.to_string().matches('$').count()];
    let rel = match &mut session.txn {
        TxnState::Open(t) => {
            super::query::run_query(&ctx, t, q, &params, &Default::default()).await?
        }
        _ => {
            let mut txn = session.env.store.begin();
            let r = super::query::run_query(&ctx, &mut txn, q, &params, &Default::default()).await;
            txn.rollback();
            r?
        }
    };
    Ok(rel.columns())
}
