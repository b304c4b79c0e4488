//! Users and roles: `CREATE/ALTER/DROP USER|ROLE`, `GRANT/REVOKE SYSTEM`, role membership
//! (`GRANT/REVOKE role`) and `SHOW USERS` / `SHOW SYSTEM GRANTS`, inside the session's
//! transaction. User management needs `CREATEROLE` (or admin), grants need admin; a missing
//! privilege is 42501 and nothing is written.

use super::*;

/// `CREATE USER|ROLE`: needs `CREATEROLE`; an existing name is 42710 unless `IF NOT EXISTS`.
pub(super) async fn create_user(
    txn: &mut Txn,
    catalog: &Catalog,
    user: &str,
    name: &str,
    if_not_exists: bool,
    options: &RoleOptions,
    is_role: bool,
) -> Result<QueryResult> {
    require(txn, catalog, user, SystemPrivilege::CreateRole).await?;
    validate_username(name)?;
    if catalog.user(txn, name).await?.is_some() {
        if if_not_exists {
            return Ok(QueryResult::Command(
                if is_role {
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
        name: name.to_string(),
        scram_verifier: None,
        login: !is_role,
        is_role,
        options: vec![],
    };
    apply_options(&mut u, options);
    catalog.put_user(txn, &u)?;
    Ok(QueryResult::Command(
        if is_role {
            "CREATE ROLE"
        } else {
            "CREATE USER"
        }
        .into(),
    ))
}

/// `ALTER USER|ROLE`: needs `CREATEROLE`, except for users changing only their own password.
pub(super) async fn alter_user(
    txn: &mut Txn,
    catalog: &Catalog,
    user: &str,
    name: &str,
    if_exists: bool,
    options: &RoleOptions,
) -> Result<QueryResult> {
    if options.password.is_some()
        && name == user
        && options.login.is_none()
        && options.create_role.is_none()
    {
        // Users may change their own password.
    } else {
        require(txn, catalog, user, SystemPrivilege::CreateRole).await?;
    }
    let Some(mut u) = catalog.user(txn, name).await? else {
        if if_exists {
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

/// `DROP USER|ROLE`: needs `CREATEROLE`; `root`, `admin`, `public` and the current user stay.
pub(super) async fn drop_users(
    txn: &mut Txn,
    catalog: &Catalog,
    user: &str,
    names: &[String],
    if_exists: bool,
) -> Result<QueryResult> {
    require(txn, catalog, user, SystemPrivilege::CreateRole).await?;
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
            if if_exists {
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

/// `GRANT SYSTEM` (when `grant`) or `REVOKE SYSTEM`: admins only; `REVOKE SYSTEM ALL` clears.
pub(super) async fn grant_system(
    txn: &mut Txn,
    catalog: &Catalog,
    user: &str,
    grant: bool,
    privileges: &[SystemPrivilege],
    grantees: &[String],
) -> Result<QueryResult> {
    require_admin(
        txn,
        catalog,
        user,
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

/// `GRANT role TO member`: admins only; both must exist and the grant must not make a cycle.
pub(super) async fn grant_role(
    txn: &mut Txn,
    catalog: &Catalog,
    user: &str,
    roles: &[String],
    members: &[String],
    with_admin: bool,
) -> Result<QueryResult> {
    require_admin(txn, catalog, user, "grant roles").await?;
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
            catalog.add_role_member(txn, r, m, with_admin)?;
        }
    }
    Ok(QueryResult::Command("GRANT".into()))
}

/// `REVOKE role FROM member`: admins only; `root` stays a member of `admin`.
pub(super) async fn revoke_role(
    txn: &mut Txn,
    catalog: &Catalog,
    user: &str,
    roles: &[String],
    members: &[String],
) -> Result<QueryResult> {
    require_admin(txn, catalog, user, "revoke roles").await?;
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

/// `SHOW USERS`: each user or role with its options and the roles it is a member of.
pub(super) async fn show_users(txn: &mut Txn, catalog: &Catalog) -> Result<QueryResult> {
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

/// `SHOW SYSTEM GRANTS [FOR users]`: one row per (grantee, privilege).
pub(super) async fn show_system_grants(
    txn: &mut Txn,
    catalog: &Catalog,
    users: Option<&[String]>,
) -> Result<QueryResult> {
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

/// A user name CockroachDB accepts: lowercase letters, digits, `_`, `-` and `.`, not starting
/// with a digit, at most 63 characters (22023 otherwise).
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

/// Applies `CREATE/ALTER ROLE` options to a user record (the password as a SCRAM verifier).
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
