//! Administrative statements: virtual clusters, users and roles, system privileges, cluster
//! settings, session variables and the `SHOW` family.
//!
//! Privileges: `root` is a member of `admin`; admins may do everything. Virtual cluster
//! statements run only in the system virtual cluster and need `MANAGEVIRTUALCLUSTER` (or admin);
//! user management needs `CREATEROLE` (or admin); cluster settings need `MODIFYCLUSTERSETTING`
//! (or admin). A missing privilege is SQLSTATE 42501.
//!
//! [`execute_admin`] dispatches each statement to its step: virtual clusters live in
//! `virtual_clusters`, users, roles and system privileges in `users`, cluster settings in
//! `settings`; session variables and `SHOW` are answered here.

use super::ast::{
    AlterVirtualClusterAction, RoleOptions, SettingValue, Statement, SystemPrivilege,
};
use super::catalog::{Catalog, UserRecord};
use super::cluster_settings;
use super::error::{Result, SqlError};
use super::exec::object_last;
use super::expr::normalize;
use super::scram;
use super::session::{Column, QueryResult, Session};
use super::sqlstate::SqlState;
use super::types::{Datum, SqlType};
use crate::ids::TenantId;
use crate::kv::Txn;
use sqlparser::ast as pg;

mod settings;
mod users;
mod virtual_clusters;
use virtual_clusters::virtual_cluster;

fn s(v: impl Into<String>) -> Datum {
    Datum::String(v.into())
}

fn rows(cols: &[&str], rows: Vec<Vec<Datum>>) -> QueryResult {
    QueryResult::Rows {
        columns: cols
            .iter()
            .map(|c| Column::new(*c, SqlType::String))
            .collect(),
        rows,
    }
}

/// Whether `user` is an admin (member of `admin`, transitively).
pub async fn is_admin(txn: &mut Txn, catalog: &Catalog, user: &str) -> Result<bool> {
    Ok(catalog
        .roles_of(txn, user)
        .await?
        .iter()
        .any(|r| r == "admin"))
}

/// Whether `user` holds system privilege `p` (directly, through a role, or as admin).
pub async fn has_system_privilege(
    txn: &mut Txn,
    catalog: &Catalog,
    user: &str,
    p: SystemPrivilege,
) -> Result<bool> {
    let roles = catalog.roles_of(txn, user).await?;
    if roles.iter().any(|r| r == "admin") {
        return Ok(true);
    }
    for r in roles {
        let privs = catalog.system_privileges(txn, &r).await?;
        if privs.iter().any(|x| x == p.name() || x == "ALL") {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn require(txn: &mut Txn, catalog: &Catalog, user: &str, p: SystemPrivilege) -> Result<()> {
    if has_system_privilege(txn, catalog, user, p).await? {
        Ok(())
    } else {
        Err(SqlError::privilege(format!(
            "user {user} does not have {} system privilege",
            p.name()
        )))
    }
}

async fn require_admin(txn: &mut Txn, catalog: &Catalog, user: &str, what: &str) -> Result<()> {
    if is_admin(txn, catalog, user).await? {
        Ok(())
    } else {
        Err(SqlError::privilege(format!(
            "only users with the admin role are allowed to {what}"
        )))
    }
}

/// Statements that run outside the session's KV transaction; `None` for everything else.
pub async fn execute_non_transactional(
    session: &mut Session,
    stmt: &Statement,
) -> Option<Result<QueryResult>> {
    match stmt {
        Statement::ShowJobs => Some(super::replication::show_jobs(session).await),
        Statement::ShowVirtualClusters { .. }
        | Statement::ShowFingerprints { .. }
        | Statement::CreateVirtualCluster { .. }
        | Statement::AlterVirtualCluster { .. }
        | Statement::DropVirtualCluster { .. } => Some(virtual_cluster(session, stmt).await),
        Statement::Pg(p) => match p.as_ref() {
            pg::Statement::Set(set) => Some(set_var(session, set).await),
            pg::Statement::ShowVariable { variable } => Some(show_var(session, variable)),
            pg::Statement::Use(u) => {
                let name = match u {
                    pg::Use::Database(n)
                    | pg::Use::Object(n)
                    | pg::Use::Schema(n)
                    | pg::Use::Catalog(n) => object_last(n),
                    _ => return Some(Err(SqlError::unsupported("this USE form"))),
                };
                Some(
                    set_database(session, &name)
                        .await
                        .map(|_| QueryResult::Command("SET".into())),
                )
            }
            _ => None,
        },
        _ => None,
    }
}

async fn set_database(session: &mut Session, name: &str) -> Result<()> {
    let catalog = Catalog::new(session.tenant);
    let mut txn = session.env.store.begin();
    let exists = catalog.database(&mut txn, name).await?.is_some() || name == "system";
    txn.rollback();
    if !exists {
        return Err(SqlError::new(
            SqlState::INVALID_CATALOG_NAME,
            format!("database \"{name}\" does not exist"),
        ));
    }
    session.database = name.to_string();
    Ok(())
}

fn var_value(values: &[pg::Expr]) -> String {
    values
        .iter()
        .map(|v| match v {
            pg::Expr::Value(v) => match &v.value {
                pg::Value::SingleQuotedString(s) | pg::Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            pg::Expr::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn set_var(session: &mut Session, set: &pg::Set) -> Result<QueryResult> {
    let (name, value) = match set {
        pg::Set::SingleAssignment {
            variable, values, ..
        } => (variable.to_string().to_lowercase(), var_value(values)),
        pg::Set::SetTimeZone { value, .. } => (
            "timezone".to_string(),
            var_value(std::slice::from_ref(value)),
        ),
        pg::Set::SetNames { charset_name, .. } => {
            ("client_encoding".to_string(), charset_name.to_string())
        }
        pg::Set::SetTransaction { .. } => {
            return Ok(QueryResult::Command("SET TRANSACTION".into()));
        }
        other => return Err(SqlError::unsupported(format!("{other}"))),
    };
    match name.as_str() {
        "database" => set_database(session, &value).await?,
        "transaction_isolation" | "default_transaction_isolation" => {
            let v = value.to_lowercase();
            if ![
                "serializable",
                "read committed",
                "repeatable read",
                "snapshot",
                "read uncommitted",
            ]
            .contains(&v.as_str())
            {
                return Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"{name}\": \"{value}\""),
                ));
            }
            // Everything runs at SERIALIZABLE, as in CockroachDB's default configuration.
            session.vars.insert(name, "serializable".into());
        }
        _ => {
            session.vars.insert(name, value);
        }
    }
    Ok(QueryResult::Command("SET".into()))
}

fn show_var(session: &Session, variable: &[pg::Ident]) -> Result<QueryResult> {
    let name = variable
        .iter()
        .map(|i| i.value.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    // `SHOW TIME ZONE` is `SHOW timezone`.
    let name = if name == "time zone" {
        "timezone".to_string()
    } else {
        name
    };
    let value = match name.as_str() {
        "database" => session.database.clone(),
        "session_user" | "current_user" => session.user.clone(),
        "transaction isolation level" | "transaction_isolation" => "serializable".into(),
        "server_version_num" => "130000".into(),
        "all" => {
            let rows_ = session
                .vars
                .iter()
                .map(|(k, v)| vec![s(k.clone()), s(v.clone())])
                .collect();
            return Ok(rows(&["variable", "value"], rows_));
        }
        _ => session.vars.get(&name).cloned().ok_or_else(|| {
            SqlError::new(
                SqlState::UNDEFINED_OBJECT,
                format!("unrecognized configuration parameter \"{name}\""),
            )
        })?,
    };
    let col = if name == "transaction isolation level" {
        "transaction_isolation".to_string()
    } else {
        name
    };
    Ok(QueryResult::Rows {
        columns: vec![Column::new(col, SqlType::String)],
        rows: vec![vec![s(value)]],
    })
}

/// Administrative statements inside the session's transaction: one step per statement.
pub async fn execute_admin(
    session: &mut Session,
    txn: &mut Txn,
    stmt: &Statement,
) -> Result<QueryResult> {
    let catalog = Catalog::new(session.tenant);
    let user = session.user.as_str();
    match stmt {
        Statement::CreateUser {
            name,
            if_not_exists,
            options,
            is_role,
        } => users::create_user(txn, &catalog, user, name, *if_not_exists, options, *is_role).await,
        Statement::AlterUser {
            name,
            if_exists,
            options,
        } => users::alter_user(txn, &catalog, user, name, *if_exists, options).await,
        Statement::DropUser { names, if_exists } => {
            users::drop_users(txn, &catalog, user, names, *if_exists).await
        }
        Statement::GrantSystem {
            privileges,
            grantees,
        } => users::grant_system(txn, &catalog, user, true, privileges, grantees).await,
        Statement::RevokeSystem {
            privileges,
            grantees,
        } => users::grant_system(txn, &catalog, user, false, privileges, grantees).await,
        Statement::GrantRole {
            roles,
            members,
            with_admin,
        } => users::grant_role(txn, &catalog, user, roles, members, *with_admin).await,
        Statement::RevokeRole { roles, members } => {
            users::revoke_role(txn, &catalog, user, roles, members).await
        }
        Statement::ShowUsers => users::show_users(txn, &catalog).await,
        Statement::ShowSystemGrants { users } => {
            users::show_system_grants(txn, &catalog, users.as_deref()).await
        }
        Statement::ShowDatabases => show_databases(txn, &catalog).await,
        Statement::ShowTables { database } => {
            show_tables(session, txn, &catalog, database.as_ref()).await
        }
        Statement::SetClusterSetting { name, value } => {
            settings::set_cluster_setting(session, txn, &catalog, name, value.as_ref()).await
        }
        Statement::ShowClusterSetting { name } => {
            settings::show_cluster_setting(txn, &catalog, name).await
        }
        Statement::ShowClusterSettings { all } => {
            settings::show_cluster_settings(txn, &catalog, *all).await
        }
        _ => Err(SqlError::internal("statement routed to the wrong executor")),
    }
}

/// `SHOW DATABASES`: every database and `system`, by name.
async fn show_databases(txn: &mut Txn, catalog: &Catalog) -> Result<QueryResult> {
    let mut out: Vec<Vec<Datum>> = catalog
        .databases(txn)
        .await?
        .into_iter()
        .map(|d| vec![s(d.name), s(d.owner)])
        .collect();
    out.push(vec![s("system"), s("node")]);
    out.sort_by(|a, b| a[0].compare(&b[0]).unwrap_or(std::cmp::Ordering::Equal));
    Ok(rows(&["database_name", "owner"], out))
}

/// `SHOW TABLES [FROM db[.schema]]`: the database's tables by schema and name (3D000 when the
/// database does not exist).
async fn show_tables(
    session: &Session,
    txn: &mut Txn,
    catalog: &Catalog,
    database: Option<&String>,
) -> Result<QueryResult> {
    let db = database
        .cloned()
        .unwrap_or_else(|| session.database.clone());
    let db = db.split('.').next().unwrap_or_default().to_string();
    let d = catalog.database(txn, &db).await?.ok_or_else(|| {
        SqlError::new(
            SqlState::INVALID_CATALOG_NAME,
            format!("database \"{db}\" does not exist"),
        )
    })?;
    let schemas: std::collections::HashMap<u32, String> = catalog
        .schemas(txn, d.id)
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let mut out: Vec<Vec<Datum>> = catalog
        .tables(txn, d.id)
        .await?
        .into_iter()
        .map(|t| {
            let schema = schemas
                .get(&t.schema_id)
                .cloned()
                .unwrap_or_else(|| "public".into());
            vec![s(schema), s(t.name), s("table"), s(d.owner.clone())]
        })
        .collect();
    out.sort_by(|a, b| (a[0].to_text(), a[1].to_text()).cmp(&(b[0].to_text(), b[1].to_text())));
    Ok(rows(&["schema_name", "table_name", "type", "owner"], out))
}

/// PostgreSQL statements that are neither DDL nor DML handled in `exec`.
pub async fn execute_pg_misc(
    _session: &mut Session,
    _txn: &mut Txn,
    stmt: &pg::Statement,
) -> Result<QueryResult> {
    match stmt {
        pg::Statement::ShowTables { .. } => Err(SqlError::unsupported("this SHOW TABLES form")),
        other => {
            let text = other.to_string();
            let head: String = text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            Err(SqlError::unsupported(head))
        }
    }
}

/// Result columns of administrative statements (for Describe).
pub fn describe_admin(stmt: &Statement) -> Result<Vec<Column>> {
    let st = |names: &[&str]| {
        names
            .iter()
            .map(|n| Column::new(*n, SqlType::String))
            .collect::<Vec<_>>()
    };
    Ok(match stmt {
        Statement::ShowVirtualClusters {
            with_replication_status,
            with_prior_replication_details,
            ..
        } => super::replication::show_columns(
            *with_replication_status,
            *with_prior_replication_details,
        ),
        Statement::ShowFingerprints { .. } => super::replication::fingerprint_columns(),
        Statement::ShowJobs => super::replication::jobs_columns(),
        Statement::AlterVirtualCluster {
            action:
                AlterVirtualClusterAction::CompleteReplicationToLatest
                | AlterVirtualClusterAction::CompleteReplicationToSystemTime(_),
            ..
        } => vec![Column::new("cutover_time", SqlType::Decimal)],
        Statement::ShowUsers => st(&["username", "options", "member_of"]),
        Statement::ShowIndexes { .. } => super::show::show_indexes_columns(),
        Statement::AlterTableSplitAt { .. } => vec![
            Column::new("key", SqlType::Bytes),
            Column::new("pretty", SqlType::String),
            Column::new("split_enforced_until", SqlType::Timestamp),
        ],
        Statement::ShowSystemGrants { .. } => vec![
            Column::new("grantee", SqlType::String),
            Column::new("privilege_type", SqlType::String),
            Column::new("is_grantable", SqlType::Bool),
        ],
        Statement::ShowDatabases => st(&["database_name", "owner"]),
        Statement::ShowTables { .. } => st(&["schema_name", "table_name", "type", "owner"]),
        Statement::ShowClusterSetting { name } => {
            let ty = match cluster_settings::lookup(name)?.ty {
                cluster_settings::SettingType::Bool => SqlType::Bool,
                cluster_settings::SettingType::Int => SqlType::Int,
                _ => SqlType::String,
            };
            vec![Column::new(name.clone(), ty)]
        }
        Statement::ShowClusterSettings { .. } => {
            let mut c = st(&["variable", "value", "setting_type"]);
            c.push(Column::new("public", SqlType::Bool));
            c.extend(st(&["description", "default_value", "origin"]));
            c
        }
        _ => Vec::new(),
    })
}

/// Result columns of miscellaneous PostgreSQL statements (for Describe).
pub fn describe_pg_misc(stmt: &pg::Statement) -> Result<Vec<Column>> {
    Ok(match stmt {
        pg::Statement::ShowVariable { variable } => {
            let name = variable
                .iter()
                .map(|i| normalize(&i.value, false))
                .collect::<Vec<_>>()
                .join(" ");
            let col = if name == "transaction isolation level" {
                "transaction_isolation".to_string()
            } else {
                name
            };
            vec![Column::new(col, SqlType::String)]
        }
        _ => Vec::new(),
    })
}
