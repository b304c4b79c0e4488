//! `pg_catalog`: namespaces, classes, attributes, types, indexes, constraints, roles, settings.

use super::*;

mod empty;
mod relations;
mod roles;
mod settings;

use crate::sql::types::SqlType::{Bool, Int, String as Str};
use empty::EMPTY_CATALOGS;
use relations::per_database;
use roles::roles;
use settings::pg_settings;

/// The `text[]` type of ACL and option columns.
const TEXT_ARRAY: SqlType = SqlType::Array(ElemType::String);
/// The type of `int2vector`/`oidvector` columns (key columns, options), shown as arrays.
const INT2_ARRAY: SqlType = SqlType::Array(ElemType::Int);

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

/// The `pg_catalog` table `table`, or `None` when `pg_catalog` has no such table. Catalogs
/// tandem has nothing to show in are empty; the per-database ones come from [`per_database`].
pub(super) async fn pg_catalog(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    parts: &[String],
    table: &str,
) -> Result<Option<Relation>> {
    if !PG_CATALOG_TABLES.contains(&table) {
        return Ok(None);
    }
    if let Some((_, cols)) = EMPTY_CATALOGS.iter().find(|(n, _)| *n == table) {
        return Ok(Some(rel(cols, Vec::new())));
    }
    let r = match table {
        "pg_namespace" => pg_namespace(ctx, txn, parts).await?,
        "pg_database" => pg_database(ctx, txn).await?,
        "pg_roles" | "pg_user" | "pg_authid" => roles(ctx, txn, table == "pg_user").await?,
        "pg_auth_members" => pg_auth_members(ctx, txn).await?,
        "pg_type" => pg_type(),
        "pg_settings" => pg_settings(),
        "pg_description" => rel(
            &[
                ("objoid", Int),
                ("classoid", Int),
                ("objsubid", Int),
                ("description", Str),
            ],
            Vec::new(),
        ),
        "pg_inherits" => rel(
            &[
                ("inhrelid", Int),
                ("inhparent", Int),
                ("inhseqno", Int),
                ("inhdetachpending", Bool),
            ],
            Vec::new(),
        ),
        "pg_proc" => pg_proc(),
        "pg_tablespace" => pg_tablespace(),
        "pg_am" => rel(
            &[("oid", Int), ("amname", Str), ("amtype", Str)],
            vec![vec![i(BTREE_AM_OID), s("btree"), s("i")]],
        ),
        _ => return per_database(ctx, txn, parts, table).await.map(Some),
    };
    Ok(Some(r))
}

/// `pg_namespace`: the database's user-defined schemas and the built-in ones, by oid.
async fn pg_namespace(ctx: &Ctx<'_>, txn: &mut Txn, parts: &[String]) -> Result<Relation> {
    let mut rows = Vec::new();
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
    Ok(rel(
        &[
            ("oid", Int),
            ("nspname", Str),
            ("nspowner", Int),
            ("nspacl", Str),
        ],
        rows,
    ))
}

/// `pg_database`: every database of the virtual cluster.
async fn pg_database(ctx: &Ctx<'_>, txn: &mut Txn) -> Result<Relation> {
    let mut rows = Vec::new();
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
    Ok(rel(
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
            ("datacl", TEXT_ARRAY),
            ("daticulocale", Str),
            ("datlocprovider", Str),
        ],
        rows,
    ))
}

/// `pg_auth_members`: role memberships; members of `admin` hold the admin option.
async fn pg_auth_members(ctx: &Ctx<'_>, txn: &mut Txn) -> Result<Relation> {
    let mut rows = Vec::new();
    for (role, member) in ctx.catalog.role_members(txn).await? {
        rows.push(vec![
            i(name_oid("role", &role)),
            i(name_oid("role", &member)),
            i(name_oid("role", "node")),
            b(role == "admin"),
        ]);
    }
    Ok(rel(
        &[
            ("roleid", Int),
            ("member", Int),
            ("grantor", Int),
            ("admin_option", Bool),
        ],
        rows,
    ))
}

/// `pg_type`: each base type, then its array type (`_int8`, category A, typelem = base).
fn pg_type() -> Relation {
    let types = PG_TYPES
        .iter()
        .flat_map(|&(oid, name, len, byval, category, array)| {
            [
                (oid, name.to_string(), len, byval, category, 0, array),
                (array, format!("_{name}"), -1, false, "A", oid, 0),
            ]
        });
    let mut rows = Vec::new();
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

/// `pg_tablespace`: PostgreSQL's two built-in tablespaces.
fn pg_tablespace() -> Relation {
    let mut rows = Vec::new();
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
            ("spcacl", TEXT_ARRAY),
            ("spcoptions", TEXT_ARRAY),
        ],
        rows,
    )
}

/// `pg_proc`: one row per overload of every builtin in the function registry (psql's `\df`,
/// ORMs' introspection). Argument-dependent result types are `anyelement`/`anyarray`.
fn pg_proc() -> Relation {
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
