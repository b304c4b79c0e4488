//! `pg_roles`, `pg_authid` and `pg_user`: the virtual cluster's users and roles, with the
//! privileges PostgreSQL shows as flags. A role is a superuser when it is `admin` or a member of
//! it (directly or through other roles); superusers can create roles and databases.

use super::*;

/// `pg_roles`/`pg_authid` (every user and role), or `pg_user` (login users only) when `users`.
pub(super) async fn roles(ctx: &Ctx<'_>, txn: &mut Txn, users: bool) -> Result<Relation> {
    let all = ctx.catalog.users(txn).await?;
    let members = ctx.catalog.role_members(txn).await?;
    let mut rows = Vec::new();
    for u in all {
        let is_admin = member_of_admin(&u.name, &members);
        let has = |option: &str| u.options.iter().any(|o| o.eq_ignore_ascii_case(option));
        let createrole = is_admin || has("CREATEROLE");
        let createdb = is_admin || has("CREATEDB");
        let oid = name_oid("role", &u.name);
        if users {
            if u.is_role {
                continue;
            }
            rows.push(vec![
                s(u.name),
                i(oid),
                b(createdb),
                b(is_admin),
                b(false),
                b(false),
                s("********"),
                Datum::Null,
                Datum::Null,
            ]);
        } else {
            rows.push(vec![
                i(oid),
                s(u.name),
                b(is_admin),
                b(true),
                b(createrole),
                b(createdb),
                b(u.login),
                b(false),
                b(false),
                i(-1),
                Datum::Null,
            ]);
        }
    }
    Ok(if users {
        rel(
            &[
                ("usename", Str),
                ("usesysid", Int),
                ("usecreatedb", Bool),
                ("usesuper", Bool),
                ("userepl", Bool),
                ("usebypassrls", Bool),
                ("passwd", Str),
                ("valuntil", Str),
                ("useconfig", Str),
            ],
            rows,
        )
    } else {
        rel(
            &[
                ("oid", Int),
                ("rolname", Str),
                ("rolsuper", Bool),
                ("rolinherit", Bool),
                ("rolcreaterole", Bool),
                ("rolcreatedb", Bool),
                ("rolcanlogin", Bool),
                ("rolreplication", Bool),
                ("rolbypassrls", Bool),
                ("rolconnlimit", Int),
                ("rolvaliduntil", Str),
            ],
            rows,
        )
    })
}

/// Whether `name` is `admin` or a member of it through any chain of `(role, member)` grants.
fn member_of_admin(name: &str, members: &[(String, String)]) -> bool {
    let mut seen = vec![name.to_string()];
    let mut k = 0;
    while k < seen.len() {
        let cur = seen[k].clone();
        for (r, m) in members {
            if *m == cur && !seen.contains(r) {
                seen.push(r.clone());
            }
        }
        k += 1;
    }
    seen.iter().any(|r| r == "admin")
}
