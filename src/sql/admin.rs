//! Administrative statements: virtual clusters, users and roles, system privileges, cluster
//! settings, session variables and the `SHOW` family.
//!
//! Privileges: `root` is a member of `admin`; admins may do everything. Virtual cluster
//! statements run only in the system virtual cluster and need `MANAGEVIRTUALCLUSTER` (or admin);
//! user management needs `CREATEROLE` (or admin); cluster settings need `MODIFYCLUSTERSETTING`
//! (or admin). A missing privilege is SQLSTATE 42501.

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

fn validate_username(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' || c == '.'
        })
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!(
                "username \"{name}\" invalid; usernames are case insensitive, must start with a letter or underscore, may contain letters, digits, dashes, periods, or underscores, and must not exceed 63 characters"
            ),
        ))
    }
}

fn apply_options(u: &mut UserRecord, o: &RoleOptions) {
    if let Some(p) = &o.password {
        u.scram_verifier = p.as_deref().map(scram::make_verifier);
    }
    if let Some(l) = o.login {
        u.login = l;
    }
    let mut set = |flag: Option<bool>, on: &str, off: &str| {
        if let Some(f) = flag {
            u.options.retain(|x| x != on && x != off);
            if f {
                u.options.push(on.to_string());
            }
        }
    };
    set(o.create_role, "CREATEROLE", "NOCREATEROLE");
    set(o.create_db, "CREATEDB", "NOCREATEDB");
    if let Some(v) = &o.valid_until {
        u.options.retain(|x| !x.starts_with("VALID UNTIL"));
        u.options.push(format!("VALID UNTIL={v}"));
    }
}

/// Administrative statements inside the session's transaction.
pub async fn execute_admin(
    session: &mut Session,
    txn: &mut Txn,
    stmt: &Statement,
) -> Result<QueryResult> {
    let catalog = Catalog::new(session.tenant);
    let user = session.user.clone();
    match stmt {
        Statement::CreateUser {
            name,
            if_not_exists,
            options,
            is_role,
        } => {
            require(txn, &catalog, &user, SystemPrivilege::CreateRole).await?;
            validate_username(name)?;
            if catalog.user(txn, name).await?.is_some() {
                if *if_not_exists {
                    return Ok(QueryResult::Command(
                        if *is_role {
                            "CREATE ROLE"
                        } else {
                            "CREATE USER"
                        }
                        .into(),
                    ));
                }
                return Err(SqlError::new(
                    SqlState::DUPLICATE_OBJECT,
                    format!("a role/user named {name} already exists"),
                ));
            }
            let mut u = UserRecord {
                name: name.clone(),
                scram_verifier: None,
                login: !*is_role,
                is_role: *is_role,
                options: vec![],
            };
            apply_options(&mut u, options);
            catalog.put_user(txn, &u)?;
            Ok(QueryResult::Command(
                if *is_role {
                    "CREATE ROLE"
                } else {
                    "CREATE USER"
                }
                .into(),
            ))
        }
        Statement::AlterUser {
            name,
            if_exists,
            options,
        } => {
            if options.password.is_some()
                && *name == user
                && options.login.is_none()
                && options.create_role.is_none()
            {
                // Users may change their own password.
            } else {
                require(txn, &catalog, &user, SystemPrivilege::CreateRole).await?;
            }
            let Some(mut u) = catalog.user(txn, name).await? else {
                if *if_exists {
                    return Ok(QueryResult::Command("ALTER ROLE".into()));
                }
                return Err(SqlError::new(
                    SqlState::UNDEFINED_OBJECT,
                    format!("role/user \"{name}\" does not exist"),
                ));
            };
            apply_options(&mut u, options);
            catalog.put_user(txn, &u)?;
            Ok(QueryResult::Command("ALTER ROLE".into()))
        }
        Statement::DropUser { names, if_exists } => {
            require(txn, &catalog, &user, SystemPrivilege::CreateRole).await?;
            for n in names {
                if n == "root" || n == "admin" || n == "public" {
                    return Err(SqlError::privilege(format!("cannot drop special role {n}")));
                }
                if *n == user {
                    return Err(SqlError::new(
                        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        "cannot drop the current user",
                    ));
                }
                if catalog.user(txn, n).await?.is_none() {
                    if *if_exists {
                        continue;
                    }
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("role/user \"{n}\" does not exist"),
                    ));
                }
                catalog.delete_user(txn, n).await?;
            }
            Ok(QueryResult::Command("DROP ROLE".into()))
        }
        Statement::GrantSystem {
            privileges,
            grantees,
        }
        | Statement::RevokeSystem {
            privileges,
            grantees,
        } => {
            let grant = matches!(stmt, Statement::GrantSystem { .. });
            require_admin(
                txn,
                &catalog,
                &user,
                if grant {
                    "grant system privileges"
                } else {
                    "revoke system privileges"
                },
            )
            .await?;
            for g in grantees {
                if catalog.user(txn, g).await?.is_none() {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("role/user \"{g}\" does not exist"),
                    ));
                }
                let mut have = catalog.system_privileges(txn, g).await?;
                for p in privileges {
                    let name = p.name().to_string();
                    if grant {
                        if !have.contains(&name) {
                            have.push(name);
                        }
                    } else if *p == SystemPrivilege::All {
                        have.clear();
                    } else {
                        have.retain(|x| *x != name);
                    }
                }
                have.sort();
                catalog.set_system_privileges(txn, g, &have)?;
            }
            Ok(QueryResult::Command(
                if grant { "GRANT" } else { "REVOKE" }.into(),
            ))
        }
        Statement::GrantRole {
            roles,
            members,
            with_admin,
        } => {
            require_admin(txn, &catalog, &user, "grant roles").await?;
            for r in roles {
                if catalog.user(txn, r).await?.is_none() {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("role/user \"{r}\" does not exist"),
                    ));
                }
                for m in members {
                    if catalog.user(txn, m).await?.is_none() {
                        return Err(SqlError::new(
                            SqlState::UNDEFINED_OBJECT,
                            format!("role/user \"{m}\" does not exist"),
                        ));
                    }
                    if catalog.roles_of(txn, r).await?.contains(m) {
                        return Err(SqlError::new(
                            SqlState::INVALID_PARAMETER_VALUE,
                            format!("making {m} a member of {r} would create a cycle"),
                        ));
                    }
                    catalog.add_role_member(txn, r, m, *with_admin)?;
                }
            }
            Ok(QueryResult::Command("GRANT".into()))
        }
        Statement::RevokeRole { roles, members } => {
            require_admin(txn, &catalog, &user, "revoke roles").await?;
            for r in roles {
                for m in members {
                    if r == "admin" && m == "root" {
                        return Err(SqlError::privilege("root must be a member of admin"));
                    }
                    catalog.remove_role_member(txn, r, m)?;
                }
            }
            Ok(QueryResult::Command("REVOKE".into()))
        }
        Statement::ShowUsers => {
            let members = catalog.role_members(txn).await?;
            let mut out = Vec::new();
            for u in catalog.users(txn).await? {
                let mut opts = u.options.clone();
                if !u.login {
                    opts.insert(0, "NOLOGIN".into());
                }
                let member_of: Vec<String> = members
                    .iter()
                    .filter(|(_, m)| *m == u.name)
                    .map(|(r, _)| r.clone())
                    .collect();
                out.push(vec![
                    s(u.name),
                    s(opts.join(", ")),
                    s(format!("{{{}}}", member_of.join(","))),
                ]);
            }
            Ok(rows(&["username", "options", "member_of"], out))
        }
        Statement::ShowSystemGrants { users } => {
            let mut out = Vec::new();
            for (u, privs) in catalog.all_system_privileges(txn).await? {
                if users.as_ref().is_some_and(|f| !f.contains(&u)) {
                    continue;
                }
                for p in privs {
                    out.push(vec![s(u.clone()), s(p), Datum::Bool(false)]);
                }
            }
            Ok(QueryResult::Rows {
                columns: vec![
                    Column::new("grantee", SqlType::String),
                    Column::new("privilege_type", SqlType::String),
                    Column::new("is_grantable", SqlType::Bool),
                ],
                rows: out,
            })
        }
        Statement::ShowDatabases => {
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
        Statement::ShowTables { database } => {
            let db = database.clone().unwrap_or_else(|| session.database.clone());
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
            out.sort_by(|a, b| {
                (a[0].to_text(), a[1].to_text()).cmp(&(b[0].to_text(), b[1].to_text()))
            });
            Ok(rows(&["schema_name", "table_name", "type", "owner"], out))
        }
        Statement::SetClusterSetting { name, value } => {
            require(txn, &catalog, &user, SystemPrivilege::ModifyClusterSetting).await?;
            let def = cluster_settings::lookup(name)?;
            if def.system_only && session.tenant != TenantId::SYSTEM {
                return Err(SqlError::privilege(format!(
                    "setting {name} is only settable by the operator in the system virtual cluster"
                )));
            }
            if name == "version" {
                return Err(SqlError::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    "the cluster version is managed by the cluster",
                ));
            }
            let canonical = match value {
                None => None,
                Some(v) => {
                    let text = match v {
                        SettingValue::Bool(b) => b.to_string(),
                        other => other.to_string(),
                    };
                    Some(cluster_settings::validate(def, &text)?)
                }
            };
            if name == "server.controller.default_target_cluster"
                && let (Some(v), Some(admin)) = (&canonical, &session.env.clusters)
                && !admin.list().await?.iter().any(|c| c.name == *v)
            {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_OBJECT,
                    format!("virtual cluster \"{v}\" does not exist"),
                ));
            }
            catalog.put_setting(txn, name, canonical.as_deref())?;
            if let Some(admin) = &session.env.clusters {
                admin
                    .setting_changed(session.tenant, name, canonical.as_deref())
                    .await;
            }
            Ok(QueryResult::Command("SET CLUSTER SETTING".into()))
        }
        Statement::ShowClusterSetting { name } => {
            let def = cluster_settings::lookup(name)?;
            let v = catalog
                .setting(txn, name)
                .await?
                .unwrap_or_else(|| def.default.to_string());
            let datum = match def.ty {
                cluster_settings::SettingType::Bool => Datum::Bool(v == "true"),
                cluster_settings::SettingType::Int => v.parse().map(Datum::Int).unwrap_or(s(v)),
                _ => s(v),
            };
            let ty = datum.sql_type().unwrap_or(SqlType::String);
            Ok(QueryResult::Rows {
                columns: vec![Column::new(name.clone(), ty)],
                rows: vec![vec![datum]],
            })
        }
        Statement::ShowClusterSettings { all } => {
            let stored: std::collections::BTreeMap<String, String> =
                catalog.settings(txn).await?.into_iter().collect();
            let mut out = Vec::new();
            for d in cluster_settings::SETTINGS
                .iter()
                .filter(|d| *all || d.public)
            {
                let v = stored
                    .get(d.name)
                    .cloned()
                    .unwrap_or_else(|| d.default.to_string());
                let origin = if stored.contains_key(d.name) {
                    "override"
                } else {
                    "default"
                };
                out.push(vec![
                    s(d.name),
                    s(v),
                    s(d.ty.code()),
                    Datum::Bool(d.public),
                    s(d.description),
                    s(d.default),
                    s(origin),
                ]);
            }
            Ok(QueryResult::Rows {
                columns: vec![
                    Column::new("variable", SqlType::String),
                    Column::new("value", SqlType::String),
                    Column::new("setting_type", SqlType::String),
                    Column::new("public", SqlType::Bool),
                    Column::new("description", SqlType::String),
                    Column::new("default_value", SqlType::String),
                    Column::new("origin", SqlType::String),
                ],
                rows: out,
            })
        }
        _ => Err(SqlError::internal("statement routed to the wrong executor")),
    }
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
        Statement::ShowIndexes { .. } => {
            let mut c = st(&["table_name", "index_name"]);
            c.push(Column::new("non_unique", SqlType::Bool));
            c.push(Column::new("seq_in_index", SqlType::Int));
            c.extend(st(&["column_name", "direction"]));
            c.push(Column::new("storing", SqlType::Bool));
            c.push(Column::new("implicit", SqlType::Bool));
            c
        }
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
