//! `pg_catalog`: namespaces, classes, attributes, types, indexes, constraints, roles, settings.

use super::*;

mod empty;
mod relations;

use empty::EMPTY_CATALOGS;
use relations::per_database;

/// The names `pg_catalog` knows; anything else is not a virtual table.
const PG_CATALOG_TABLES: &[&str] = &[
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_type",
    "pg_database",
    "pg_roles",
    "pg_user",
    "pg_authid",
    "pg_auth_members",
    "pg_index",
    "pg_indexes",
    "pg_tables",
    "pg_constraint",
    "pg_attrdef",
    "pg_settings",
    "pg_description",
    "pg_inherits",
    "pg_am",
    "pg_collation",
    "pg_policy",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
    "pg_trigger",
    "pg_sequence",
    "pg_opclass",
    "pg_proc",
    "pg_rewrite",
    "pg_extension",
    "pg_depend",
    "pg_tablespace",
];

pub(super) async fn pg_catalog(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    parts: &[String],
    table: &str,
) -> Result<Option<Relation>> {
    use SqlType::{Bool, Int, String as Str};
    if !PG_CATALOG_TABLES.contains(&table) {
        return Ok(None);
    }
    let mut rows = Vec::new();
    if let Some((_, cols)) = EMPTY_CATALOGS.iter().find(|(n, _)| *n == table) {
        return Ok(Some(rel(cols, rows)));
    }
    let r = match table {
        "pg_namespace" => {
            if let Some(d) = target_database(ctx, txn, parts).await? {
                for us in ctx.catalog.schemas(txn, d.id).await? {
                    rows.push(vec![
                        i(schema_oid(us.id)),
                        s(us.name),
                        i(name_oid("role", &us.owner)),
                        Datum::Null,
                    ]);
                }
            }
            for (name, oid) in SCHEMAS {
                let owner = if name == "public" {
                    name_oid("role", "admin")
                } else {
                    name_oid("role", "node")
                };
                rows.push(vec![i(oid), s(name), i(owner), Datum::Null]);
            }
            rows.sort_by_key(|r| match r[0] {
                Datum::Int(o) => o,
                _ => 0,
            });
            rel(
                &[
                    ("oid", Int),
                    ("nspname", Str),
                    ("nspowner", Int),
                    ("nspacl", Str),
                ],
                rows,
            )
        }
        "pg_database" => {
            for d in ctx.catalog.databases(txn).await? {
                rows.push(vec![
                    i(d.id),
                    s(d.name),
                    i(name_oid("role", &d.owner)),
                    i(6),
                    s("C.UTF-8"),
                    s("C.UTF-8"),
                    b(false),
                    b(true),
                    i(-1),
                    i(0),
                    Datum::Null,
                    Datum::Null,
                    s("c"),
                ]);
            }
            rel(
                &[
                    ("oid", Int),
                    ("datname", Str),
                    ("datdba", Int),
                    ("encoding", Int),
                    ("datcollate", Str),
                    ("datctype", Str),
                    ("datistemplate", Bool),
                    ("datallowconn", Bool),
                    ("datconnlimit", Int),
                    ("dattablespace", Int),
                    (
                        "datacl",
                        SqlType::Array(crate::sql::types::ElemType::String),
                    ),
                    ("daticulocale", Str),
                    ("datlocprovider", Str),
                ],
                rows,
            )
        }
        "pg_roles" | "pg_user" | "pg_authid" => {
            let users = ctx.catalog.users(txn).await?;
            let members = ctx.catalog.role_members(txn).await?;
            for u in users {
                let is_admin = {
                    let mut seen = vec![u.name.clone()];
                    let mut k = 0;
                    while k < seen.len() {
                        let cur = seen[k].clone();
                        for (r, m) in &members {
                            if *m == cur && !seen.contains(r) {
                                seen.push(r.clone());
                            }
                        }
                        k += 1;
                    }
                    seen.iter().any(|r| r == "admin")
                };
                let createrole = is_admin
                    || u.options
                        .iter()
                        .any(|o| o.eq_ignore_ascii_case("CREATEROLE"));
                let createdb =
                    is_admin || u.options.iter().any(|o| o.eq_ignore_ascii_case("CREATEDB"));
                let oid = name_oid("role", &u.name);
                if table == "pg_user" {
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
            if table == "pg_user" {
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
            }
        }
        "pg_auth_members" => {
            for (role, member) in ctx.catalog.role_members(txn).await? {
                rows.push(vec![
                    i(name_oid("role", &role)),
                    i(name_oid("role", &member)),
                    i(name_oid("role", "node")),
                    b(role == "admin"),
                ]);
            }
            rel(
                &[
                    ("roleid", Int),
                    ("member", Int),
                    ("grantor", Int),
                    ("admin_option", Bool),
                ],
                rows,
            )
        }
        "pg_type" => {
            // Each base type, then its array type (`_int8`, category A, typelem = base).
            let types = PG_TYPES
                .iter()
                .flat_map(|&(oid, name, len, byval, category, array)| {
                    [
                        (oid, name.to_string(), len, byval, category, 0, array),
                        (array, format!("_{name}"), -1, false, "A", oid, 0),
                    ]
                });
            for (oid, name, len, byval, category, elem, array) in types {
                rows.push(vec![
                    i(oid),
                    s(&name),
                    i(PG_CATALOG_OID),
                    i(name_oid("role", "node")),
                    i(len),
                    b(byval),
                    s("b"),
                    s(category),
                    s(","),
                    i(0),
                    i(elem),
                    i(array),
                    b(false),
                    i(0),
                    i(-1),
                    i(0),
                    i(0),
                ]);
            }
            rel(
                &[
                    ("oid", Int),
                    ("typname", Str),
                    ("typnamespace", Int),
                    ("typowner", Int),
                    ("typlen", Int),
                    ("typbyval", Bool),
                    ("typtype", Str),
                    ("typcategory", Str),
                    ("typdelim", Str),
                    ("typrelid", Int),
                    ("typelem", Int),
                    ("typarray", Int),
                    ("typnotnull", Bool),
                    ("typbasetype", Int),
                    ("typtypmod", Int),
                    ("typndims", Int),
                    ("typcollation", Int),
                ],
                rows,
            )
        }
        "pg_settings" => {
            for (name, setting, vartype, desc) in [
                (
                    "application_name",
                    "",
                    "string",
                    "Sets the application name to be reported in statistics and logs.",
                ),
                (
                    "client_encoding",
                    "UTF8",
                    "string",
                    "Sets the client's character set encoding.",
                ),
                (
                    "DateStyle",
                    "ISO, MDY",
                    "string",
                    "Sets the display format for date and time values.",
                ),
                (
                    "default_transaction_isolation",
                    "serializable",
                    "enum",
                    "Sets the transaction isolation level of each new transaction.",
                ),
                (
                    "extra_float_digits",
                    "0",
                    "integer",
                    "Sets the number of digits displayed for floating-point values.",
                ),
                (
                    "integer_datetimes",
                    "on",
                    "bool",
                    "Datetimes are integer based.",
                ),
                (
                    "lock_timeout",
                    "0",
                    "integer",
                    "Sets the maximum allowed duration of any wait for a lock.",
                ),
                (
                    "max_identifier_length",
                    "128",
                    "integer",
                    "Shows the maximum identifier length.",
                ),
                (
                    "search_path",
                    "\"$user\", public",
                    "string",
                    "Sets the schema search order for names that are not schema-qualified.",
                ),
                (
                    "server_encoding",
                    "UTF8",
                    "string",
                    "Sets the server (database) character set encoding.",
                ),
                (
                    "server_version",
                    "13.0.0",
                    "string",
                    "Shows the server version.",
                ),
                (
                    "server_version_num",
                    "130000",
                    "integer",
                    "Shows the server version as an integer.",
                ),
                (
                    "standard_conforming_strings",
                    "on",
                    "bool",
                    "Causes '...' strings to treat backslashes literally.",
                ),
                (
                    "statement_timeout",
                    "0",
                    "integer",
                    "Sets the maximum allowed duration of any statement.",
                ),
                (
                    "TimeZone",
                    "UTC",
                    "string",
                    "Sets the time zone for displaying and interpreting time stamps.",
                ),
                (
                    "transaction_isolation",
                    "serializable",
                    "enum",
                    "Sets the current transaction's isolation level.",
                ),
            ] {
                rows.push(vec![
                    s(name),
                    s(setting),
                    Datum::Null,
                    s("Client Connection Defaults"),
                    s(desc),
                    s("user"),
                    s(vartype),
                    s("default"),
                ]);
            }
            rel(
                &[
                    ("name", Str),
                    ("setting", Str),
                    ("unit", Str),
                    ("category", Str),
                    ("short_desc", Str),
                    ("context", Str),
                    ("vartype", Str),
                    ("source", Str),
                ],
                rows,
            )
        }
        "pg_description" => rel(
            &[
                ("objoid", Int),
                ("classoid", Int),
                ("objsubid", Int),
                ("description", Str),
            ],
            rows,
        ),
        "pg_inherits" => rel(
            &[
                ("inhrelid", Int),
                ("inhparent", Int),
                ("inhseqno", Int),
                ("inhdetachpending", Bool),
            ],
            rows,
        ),
        "pg_proc" => pg_proc(),
        "pg_tablespace" => {
            for (oid, name) in [(1663, "pg_default"), (1664, "pg_global")] {
                rows.push(vec![
                    i(oid),
                    s(name),
                    i(name_oid("role", "node")),
                    Datum::Null,
                    Datum::Null,
                ]);
            }
            rel(
                &[
                    ("oid", Int),
                    ("spcname", Str),
                    ("spcowner", Int),
                    (
                        "spcacl",
                        SqlType::Array(crate::sql::types::ElemType::String),
                    ),
                    (
                        "spcoptions",
                        SqlType::Array(crate::sql::types::ElemType::String),
                    ),
                ],
                rows,
            )
        }
        "pg_am" => {
            rows.push(vec![i(BTREE_AM_OID), s("btree"), s("i")]);
            rel(&[("oid", Int), ("amname", Str), ("amtype", Str)], rows)
        }
        _ => return per_database(ctx, txn, parts, table).await.map(Some),
    };
    Ok(Some(r))
}

/// `pg_proc`: one row per overload of every builtin in the function registry (psql's `\df`,
/// ORMs' introspection). Argument-dependent result types are `anyelement`/`anyarray`.
fn pg_proc() -> Relation {
    use SqlType::{Bool, Int, String as Str};
    let mut rows = Vec::new();
    for b in crate::sql::functions::registry::all() {
        for o in &b.overloads {
            let args: Vec<String> = o.params.iter().map(|p| p.oid().to_string()).collect();
            let signature = format!("{}({})", b.name, args.join(","));
            rows.push(vec![
                i(name_oid("proc", &signature)),
                s(b.name),
                i(PG_CATALOG_OID),
                i(name_oid("role", "node")),
                s(b.class.prokind()),
                i(i64::from(o.declared_result_oid())),
                s(args.join(" ")),
                i(o.params.len() as i64),
                Datum::Bool(b.class == crate::sql::functions::registry::Class::SetReturning),
                s(b.volatility.code()),
                // The variadic parameter's type, 0 when there is none (PostgreSQL's rule).
                i(if o.variadic {
                    o.params.last().map_or(0, |p| i64::from(p.oid()))
                } else {
                    0
                }),
            ]);
        }
    }
    rel(
        &[
            ("oid", Int),
            ("proname", Str),
            ("pronamespace", Int),
            ("proowner", Int),
            ("prokind", Str),
            ("prorettype", Int),
            ("proargtypes", Str),
            ("pronargs", Int),
            ("proretset", Bool),
            ("provolatile", Str),
            ("provariadic", Int),
        ],
        rows,
    )
}
