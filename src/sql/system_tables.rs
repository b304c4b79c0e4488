//! Virtual system tables: `pg_catalog`, `information_schema` and `crdb_internal` views computed
//! from the virtual cluster's catalog on every read.
//!
//! Object identifiers are stable: a table's `oid` is its descriptor id, a database's is its
//! descriptor id, the schemas are `pg_catalog` (11), `public` (2200), `information_schema`
//! (13000) and `crdb_internal` (14000), an index's oid is derived from its table and index ids
//! ([`index_oid`]), and roles and constraints get oids hashed from their names.
//!
//! Hidden columns (the implicit `rowid`) are left out everywhere, and so is a primary key made
//! only of hidden columns, so a table created without a primary key looks like a PostgreSQL
//! table without one. Every user table lives in the `public` schema of its database;
//! `information_schema` and the per-database `pg_catalog` tables show only the current
//! database (or the database named in a three-part name), like PostgreSQL.

use std::collections::HashMap;

use super::catalog::{DatabaseDesc, TableDesc};
use super::error::Result;
use super::exec::Ctx;
use super::query::{RelCol, Relation};
use super::types::{Datum, SqlType};
use crate::kv::Txn;

/// `pg_catalog`'s oid.
const PG_CATALOG_OID: i64 = 11;
/// `public`'s oid.
const PUBLIC_OID: i64 = 2200;
/// `information_schema`'s oid.
const INFORMATION_SCHEMA_OID: i64 = 13000;
/// `crdb_internal`'s oid.
const CRDB_INTERNAL_OID: i64 = 14000;
/// The btree access method's oid (`pg_am`).
const BTREE_AM_OID: i64 = 403;

const SCHEMAS: [(&str, i64); 4] = [
    ("crdb_internal", CRDB_INTERNAL_OID),
    ("information_schema", INFORMATION_SCHEMA_OID),
    ("pg_catalog", PG_CATALOG_OID),
    ("public", PUBLIC_OID),
];

fn rel(cols: &[(&str, SqlType)], rows: Vec<Vec<Datum>>) -> Relation {
    Relation {
        cols: cols
            .iter()
            .map(|(n, t)| RelCol {
                table: None,
                name: (*n).to_string(),
                ty: *t,
                hidden: false,
            })
            .collect(),
        rows,
    }
}

fn s(v: impl Into<String>) -> Datum {
    Datum::String(v.into())
}

fn i(v: impl Into<i64>) -> Datum {
    Datum::Int(v.into())
}

fn b(v: bool) -> Datum {
    Datum::Bool(v)
}

fn yes_no(v: bool) -> Datum {
    s(if v { "YES" } else { "NO" })
}

/// A stable oid for a named object (roles, constraints): FNV-1a folded into 31 bits, kept above
/// the range of descriptor ids and built-in oids.
fn name_oid(kind: &str, name: &str) -> i64 {
    let mut h: u32 = 0x811c_9dc5;
    for byte in kind.bytes().chain([0]).chain(name.bytes()) {
        h ^= u32::from(byte);
        h = h.wrapping_mul(0x0100_0193);
    }
    i64::from(h % 1_000_000_000) + 1_000_000_000
}

/// The oid of index `index_id` of table `table_id` (the primary index is 1).
pub fn index_oid(table_id: u32, index_id: u32) -> i64 {
    3_000_000_000 + i64::from(table_id) * 1000 + i64::from(index_id)
}

/// PostgreSQL's name for a type, as in `information_schema.columns.data_type`.
fn pg_type_name(ty: SqlType) -> &'static str {
    match ty {
        SqlType::Int => "bigint",
        SqlType::Float => "double precision",
        SqlType::String => "text",
        SqlType::Bool => "boolean",
        SqlType::Bytes => "bytea",
        SqlType::Decimal => "numeric",
        SqlType::Uuid => "uuid",
        SqlType::Timestamp => "timestamp without time zone",
        SqlType::TimestampTz => "timestamp with time zone",
        SqlType::Date => "date",
        SqlType::Time => "time without time zone",
        SqlType::Interval => "interval",
        SqlType::Jsonb => "jsonb",
    }
}

/// `pg_type.typname` of a type.
fn typname(ty: SqlType) -> &'static str {
    match ty {
        SqlType::Int => "int8",
        SqlType::Float => "float8",
        SqlType::String => "text",
        SqlType::Bool => "bool",
        SqlType::Bytes => "bytea",
        SqlType::Decimal => "numeric",
        SqlType::Uuid => "uuid",
        SqlType::Timestamp => "timestamp",
        SqlType::TimestampTz => "timestamptz",
        SqlType::Date => "date",
        SqlType::Time => "time",
        SqlType::Interval => "interval",
        SqlType::Jsonb => "jsonb",
    }
}

/// `pg_type` rows: (oid, typname, typlen, typbyval, typcategory, typarray).
const PG_TYPES: &[(i64, &str, i64, bool, &str, i64)] = &[
    (16, "bool", 1, true, "B", 1000),
    (17, "bytea", -1, false, "U", 1001),
    (19, "name", 64, false, "S", 1003),
    (20, "int8", 8, true, "N", 1016),
    (21, "int2", 2, true, "N", 1005),
    (23, "int4", 4, true, "N", 1007),
    (25, "text", -1, false, "S", 1009),
    (26, "oid", 4, true, "N", 1028),
    (700, "float4", 4, true, "N", 1021),
    (701, "float8", 8, true, "N", 1022),
    (1042, "bpchar", -1, false, "S", 1014),
    (1043, "varchar", -1, false, "S", 1015),
    (1082, "date", 4, true, "D", 1182),
    (1083, "time", 8, true, "D", 1183),
    (1114, "timestamp", 8, true, "D", 1115),
    (1184, "timestamptz", 8, true, "D", 1185),
    (1186, "interval", 16, false, "T", 1187),
    (1700, "numeric", -1, false, "N", 1231),
    (2950, "uuid", 16, false, "U", 2951),
    (3802, "jsonb", -1, false, "U", 3807),
];

/// Numeric precision, radix and scale of a type (`information_schema.columns`).
fn numeric_info(ty: SqlType) -> (Datum, Datum, Datum) {
    match ty {
        SqlType::Int => (i(64), i(2), i(0)),
        SqlType::Float => (i(53), i(2), Datum::Null),
        SqlType::Decimal => (Datum::Null, i(10), Datum::Null),
        _ => (Datum::Null, Datum::Null, Datum::Null),
    }
}

/// A constraint of a table, as `information_schema` and `pg_constraint` show it.
struct Constraint {
    name: String,
    /// `p`, `u`, `f` or `c`.
    kind: char,
    /// Column ids.
    columns: Vec<u32>,
    /// For `p`/`u`: the backing index id; for `f`: the referenced table's backing index.
    index: Option<(u32, u32)>,
    /// For `f`: referenced table id and column ids.
    references: Option<(u32, Vec<u32>)>,
    /// For `c`: the expression.
    check: Option<String>,
}

impl Constraint {
    fn type_name(&self) -> &'static str {
        match self.kind {
            'p' => "PRIMARY KEY",
            'u' => "UNIQUE",
            'f' => "FOREIGN KEY",
            _ => "CHECK",
        }
    }
}

fn pkey_name(t: &TableDesc) -> String {
    format!("{}_pkey", t.name)
}

/// Whether the primary key is visible (not only the hidden `rowid`).
fn has_visible_pk(t: &TableDesc) -> bool {
    t.primary_key
        .iter()
        .any(|id| t.column_index(*id).is_some_and(|ix| !t.columns[ix].hidden))
}

/// The index (table id, index id) of `table` whose columns are exactly `cols`: the primary key
/// or a unique index.
fn backing_index(table: Option<&TableDesc>, table_id: u32, cols: &[u32]) -> Option<(u32, u32)> {
    let t = table?;
    if t.primary_key == cols {
        return Some((table_id, 1));
    }
    t.indexes
        .iter()
        .find(|ix| ix.unique && ix.columns == cols)
        .map(|ix| (table_id, ix.id))
}

/// Constraint name of an index (the primary key's or a unique index's).
fn index_constraint_name(
    by_id: &HashMap<u32, &TableDesc>,
    (table, index): (u32, u32),
) -> Option<String> {
    let t = by_id.get(&table)?;
    if index == 1 {
        return Some(pkey_name(t));
    }
    t.indexes
        .iter()
        .find(|ix| ix.id == index)
        .map(|ix| ix.name.clone())
}

fn constraints(t: &TableDesc, by_id: &HashMap<u32, &TableDesc>) -> Vec<Constraint> {
    let mut out = Vec::new();
    if has_visible_pk(t) {
        out.push(Constraint {
            name: pkey_name(t),
            kind: 'p',
            columns: t.primary_key.clone(),
            index: Some((t.id, 1)),
            references: None,
            check: None,
        });
    }
    for ix in t.indexes.iter().filter(|ix| ix.unique) {
        out.push(Constraint {
            name: ix.name.clone(),
            kind: 'u',
            columns: ix.columns.clone(),
            index: Some((t.id, ix.id)),
            references: None,
            check: None,
        });
    }
    for fk in &t.foreign_keys {
        let target = by_id.get(&fk.ref_table).copied();
        out.push(Constraint {
            name: fk.name.clone(),
            kind: 'f',
            columns: fk.columns.clone(),
            index: backing_index(target, fk.ref_table, &fk.ref_columns),
            references: Some((fk.ref_table, fk.ref_columns.clone())),
            check: None,
        });
    }
    for ck in &t.checks {
        out.push(Constraint {
            name: ck.name.clone(),
            kind: 'c',
            columns: Vec::new(),
            index: None,
            references: None,
            check: Some(ck.expr.clone()),
        });
    }
    out
}

/// 1-based attribute number of column `id`.
fn attnum(t: &TableDesc, id: u32) -> i64 {
    t.column_index(id).map_or(0, |ix| ix as i64 + 1)
}

fn column_name(t: &TableDesc, id: u32) -> String {
    t.column_index(id)
        .map(|ix| t.columns[ix].name.clone())
        .unwrap_or_default()
}

/// An `int2[]` literal of attribute numbers, as text (`{1,2}`).
fn attnum_array(t: &TableDesc, ids: &[u32]) -> Datum {
    s(format!(
        "{{{}}}",
        ids.iter()
            .map(|id| attnum(t, *id).to_string())
            .collect::<Vec<_>>()
            .join(",")
    ))
}

/// `CREATE [UNIQUE] INDEX ...` text for `pg_indexes.indexdef`.
fn index_def(t: &TableDesc, name: &str, unique: bool, cols: &[u32]) -> String {
    format!(
        "CREATE {}INDEX {name} ON public.{} USING btree ({})",
        if unique { "UNIQUE " } else { "" },
        t.name,
        cols.iter()
            .map(|c| format!("{} ASC", column_name(t, *c)))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Every index of a table: (index id, name, unique, primary, column ids). A hidden primary key
/// is still listed here (it exists), but not as a constraint.
fn all_indexes(t: &TableDesc) -> Vec<(u32, String, bool, bool, Vec<u32>)> {
    let mut out = Vec::new();
    if has_visible_pk(t) {
        out.push((1, pkey_name(t), true, true, t.primary_key.clone()));
    }
    for ix in &t.indexes {
        out.push((ix.id, ix.name.clone(), ix.unique, false, ix.columns.clone()));
    }
    out
}

/// The database whose objects a name shows: the first of a three-part name, else the session's.
async fn target_database(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    parts: &[String],
) -> Result<Option<DatabaseDesc>> {
    let name = if parts.len() == 3 {
        parts[0].as_str()
    } else {
        ctx.database
    };
    ctx.catalog.database(txn, name).await
}

/// The rows of a virtual table named by `parts` (`[schema, table]` or `[db, schema, table]`),
/// or `None` when the name is not a virtual table.
pub async fn virtual_table(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    parts: &[String],
) -> Result<Option<Relation>> {
    let (schema, table) = match parts {
        [s, t] => (s.as_str(), t.as_str()),
        [_, s, t] => (s.as_str(), t.as_str()),
        [t] if t.starts_with("pg_") => ("pg_catalog", t.as_str()),
        _ => return Ok(None),
    };
    if !matches!(
        schema,
        "pg_catalog" | "information_schema" | "crdb_internal"
    ) {
        return Ok(None);
    }
    let mut out = match schema {
        "crdb_internal" => crdb_internal(table),
        "information_schema" => information_schema(ctx, txn, parts, table).await?,
        _ => pg_catalog(ctx, txn, parts, table).await?,
    };
    if ctx.describe_only
        && let Some(r) = &mut out
    {
        r.rows.clear();
    }
    Ok(out)
}

fn crdb_internal(table: &str) -> Option<Relation> {
    match table {
        "node_build_info" => Some(rel(
            &[
                ("node_id", SqlType::Int),
                ("field", SqlType::String),
                ("value", SqlType::String),
            ],
            vec![
                vec![
                    Datum::Int(1),
                    Datum::String("Name".into()),
                    Datum::String("tandem".into()),
                ],
                vec![
                    Datum::Int(1),
                    Datum::String("Version".into()),
                    Datum::String(format!("v{}", env!("CARGO_PKG_VERSION"))),
                ],
                vec![
                    Datum::Int(1),
                    Datum::String("Tag".into()),
                    Datum::String(format!("v{}", env!("CARGO_PKG_VERSION"))),
                ],
                vec![
                    Datum::Int(1),
                    Datum::String("Compatible".into()),
                    Datum::String("CockroachDB v24.3".into()),
                ],
            ],
        )),
        _ => None,
    }
}

/// The names `information_schema` knows; anything else is not a virtual table.
const INFORMATION_SCHEMA_TABLES: &[&str] = &[
    "tables",
    "columns",
    "schemata",
    "table_constraints",
    "key_column_usage",
    "referential_constraints",
    "check_constraints",
    "views",
    "sequences",
];

async fn information_schema(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    parts: &[String],
    table: &str,
) -> Result<Option<Relation>> {
    use SqlType::{Int, String as Str};
    if !INFORMATION_SCHEMA_TABLES.contains(&table) {
        return Ok(None);
    }
    let (db_name, db_owner, tables) = match target_database(ctx, txn, parts).await? {
        Some(d) => {
            let tables = ctx.catalog.tables(txn, d.id).await?;
            (d.name, d.owner, tables)
        }
        None => (ctx.database.to_string(), String::new(), Vec::new()),
    };
    let by_id: HashMap<u32, &TableDesc> = tables.iter().map(|t| (t.id, t)).collect();
    let cat = || s(db_name.clone());
    let public = || s("public");
    let mut rows = Vec::new();
    let r = match table {
        "tables" => {
            for t in &tables {
                rows.push(vec![
                    cat(),
                    public(),
                    s(t.name.clone()),
                    s("BASE TABLE"),
                    yes_no(true),
                    yes_no(false),
                ]);
            }
            rel(
                &[
                    ("table_catalog", Str),
                    ("table_schema", Str),
                    ("table_name", Str),
                    ("table_type", Str),
                    ("is_insertable_into", Str),
                    ("is_typed", Str),
                ],
                rows,
            )
        }
        "columns" => {
            for t in &tables {
                for (ix, c) in t.columns.iter().enumerate().filter(|(_, c)| !c.hidden) {
                    let (precision, radix, scale) = numeric_info(c.ty);
                    rows.push(vec![
                        cat(),
                        public(),
                        s(t.name.clone()),
                        s(c.name.clone()),
                        i(ix as i64 + 1),
                        c.default.clone().map_or(Datum::Null, s),
                        yes_no(c.nullable),
                        s(pg_type_name(c.ty)),
                        Datum::Null,
                        precision,
                        radix,
                        scale,
                        cat(),
                        s("pg_catalog"),
                        s(typname(c.ty)),
                        yes_no(false),
                        s("NEVER"),
                        yes_no(true),
                    ]);
                }
            }
            rel(
                &[
                    ("table_catalog", Str),
                    ("table_schema", Str),
                    ("table_name", Str),
                    ("column_name", Str),
                    ("ordinal_position", Int),
                    ("column_default", Str),
                    ("is_nullable", Str),
                    ("data_type", Str),
                    ("character_maximum_length", Int),
                    ("numeric_precision", Int),
                    ("numeric_precision_radix", Int),
                    ("numeric_scale", Int),
                    ("udt_catalog", Str),
                    ("udt_schema", Str),
                    ("udt_name", Str),
                    ("is_identity", Str),
                    ("is_generated", Str),
                    ("is_updatable", Str),
                ],
                rows,
            )
        }
        "schemata" => {
            for (name, _) in SCHEMAS {
                let owner = if name == "public" {
                    db_owner.clone()
                } else {
                    "node".to_string()
                };
                rows.push(vec![
                    cat(),
                    s(name),
                    s(owner),
                    Datum::Null,
                    Datum::Null,
                    Datum::Null,
                    Datum::Null,
                ]);
            }
            rel(
                &[
                    ("catalog_name", Str),
                    ("schema_name", Str),
                    ("schema_owner", Str),
                    ("default_character_set_catalog", Str),
                    ("default_character_set_schema", Str),
                    ("default_character_set_name", Str),
                    ("sql_path", Str),
                ],
                rows,
            )
        }
        "table_constraints" => {
            for t in &tables {
                for c in constraints(t, &by_id) {
                    rows.push(vec![
                        cat(),
                        public(),
                        s(c.name.clone()),
                        cat(),
                        public(),
                        s(t.name.clone()),
                        s(c.type_name()),
                        yes_no(false),
                        yes_no(false),
                        yes_no(true),
                    ]);
                }
            }
            rel(
                &[
                    ("constraint_catalog", Str),
                    ("constraint_schema", Str),
                    ("constraint_name", Str),
                    ("table_catalog", Str),
                    ("table_schema", Str),
                    ("table_name", Str),
                    ("constraint_type", Str),
                    ("is_deferrable", Str),
                    ("initially_deferred", Str),
                    ("enforced", Str),
                ],
                rows,
            )
        }
        "key_column_usage" => {
            for t in &tables {
                for c in constraints(t, &by_id).into_iter().filter(|c| c.kind != 'c') {
                    for (pos, col) in c.columns.iter().enumerate() {
                        rows.push(vec![
                            cat(),
                            public(),
                            s(c.name.clone()),
                            cat(),
                            public(),
                            s(t.name.clone()),
                            s(column_name(t, *col)),
                            i(pos as i64 + 1),
                            if c.kind == 'f' {
                                i(pos as i64 + 1)
                            } else {
                                Datum::Null
                            },
                        ]);
                    }
                }
            }
            rel(
                &[
                    ("constraint_catalog", Str),
                    ("constraint_schema", Str),
                    ("constraint_name", Str),
                    ("table_catalog", Str),
                    ("table_schema", Str),
                    ("table_name", Str),
                    ("column_name", Str),
                    ("ordinal_position", Int),
                    ("position_in_unique_constraint", Int),
                ],
                rows,
            )
        }
        "referential_constraints" => {
            for t in &tables {
                for c in constraints(t, &by_id).into_iter().filter(|c| c.kind == 'f') {
                    let unique = c.index.and_then(|ix| index_constraint_name(&by_id, ix));
                    rows.push(vec![
                        cat(),
                        public(),
                        s(c.name.clone()),
                        cat(),
                        public(),
                        unique.map_or(Datum::Null, s),
                        s("NONE"),
                        s("NO ACTION"),
                        s("NO ACTION"),
                        s(t.name.clone()),
                        c.references
                            .as_ref()
                            .and_then(|(rt, _)| by_id.get(rt))
                            .map_or(Datum::Null, |rt| s(rt.name.clone())),
                    ]);
                }
            }
            rel(
                &[
                    ("constraint_catalog", Str),
                    ("constraint_schema", Str),
                    ("constraint_name", Str),
                    ("unique_constraint_catalog", Str),
                    ("unique_constraint_schema", Str),
                    ("unique_constraint_name", Str),
                    ("match_option", Str),
                    ("update_rule", Str),
                    ("delete_rule", Str),
                    ("table_name", Str),
                    ("referenced_table_name", Str),
                ],
                rows,
            )
        }
        "check_constraints" => {
            for t in &tables {
                for c in constraints(t, &by_id).into_iter().filter(|c| c.kind == 'c') {
                    rows.push(vec![
                        cat(),
                        public(),
                        s(c.name),
                        s(c.check.unwrap_or_default()),
                    ]);
                }
            }
            rel(
                &[
                    ("constraint_catalog", Str),
                    ("constraint_schema", Str),
                    ("constraint_name", Str),
                    ("check_clause", Str),
                ],
                rows,
            )
        }
        "views" => rel(
            &[
                ("table_catalog", Str),
                ("table_schema", Str),
                ("table_name", Str),
                ("view_definition", Str),
            ],
            rows,
        ),
        _ => rel(
            &[
                ("sequence_catalog", Str),
                ("sequence_schema", Str),
                ("sequence_name", Str),
                ("data_type", Str),
                ("start_value", Str),
                ("increment", Str),
            ],
            rows,
        ),
    };
    Ok(Some(r))
}

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
];

async fn pg_catalog(
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
    let r = match table {
        "pg_namespace" => {
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
                    ("datacl", Str),
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
            for &(oid, name, len, byval, category, array) in PG_TYPES {
                rows.push(vec![
                    i(oid),
                    s(name),
                    i(PG_CATALOG_OID),
                    i(name_oid("role", "node")),
                    i(len),
                    b(byval),
                    s("b"),
                    s(category),
                    s(","),
                    i(0),
                    i(0),
                    i(array),
                    b(false),
                    i(0),
                    i(-1),
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
            &[("inhrelid", Int), ("inhparent", Int), ("inhseqno", Int)],
            rows,
        ),
        "pg_am" => {
            rows.push(vec![i(BTREE_AM_OID), s("btree"), s("i")]);
            rel(&[("oid", Int), ("amname", Str), ("amtype", Str)], rows)
        }
        _ => return per_database(ctx, txn, parts, table).await.map(Some),
    };
    Ok(Some(r))
}

/// The `pg_catalog` tables that describe the current database's relations.
async fn per_database(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    parts: &[String],
    table: &str,
) -> Result<Relation> {
    use SqlType::{Bool, Float, Int, String as Str};
    let (owner, tables) = match target_database(ctx, txn, parts).await? {
        Some(d) => {
            let tables = ctx.catalog.tables(txn, d.id).await?;
            (d.owner, tables)
        }
        None => (String::new(), Vec::new()),
    };
    let owner_oid = name_oid("role", &owner);
    let by_id: HashMap<u32, &TableDesc> = tables.iter().map(|t| (t.id, t)).collect();
    let mut rows = Vec::new();
    Ok(match table {
        "pg_class" => {
            for t in &tables {
                let indexes = all_indexes(t);
                let natts = t.columns.iter().filter(|c| !c.hidden).count() as i64;
                rows.push(vec![
                    i(t.id),
                    s(t.name.clone()),
                    i(PUBLIC_OID),
                    i(0),
                    i(owner_oid),
                    i(0),
                    i(t.id),
                    i(0),
                    Datum::Float(-1.0),
                    b(!indexes.is_empty()),
                    s("p"),
                    s("r"),
                    i(natts),
                    i(t.checks.len() as i64),
                    b(false),
                    b(false),
                ]);
                for (id, name, _, _, cols) in indexes {
                    let oid = index_oid(t.id, id);
                    rows.push(vec![
                        i(oid),
                        s(name),
                        i(PUBLIC_OID),
                        i(0),
                        i(owner_oid),
                        i(BTREE_AM_OID),
                        i(oid),
                        i(0),
                        Datum::Float(-1.0),
                        b(false),
                        s("p"),
                        s("i"),
                        i(cols.len() as i64),
                        i(0),
                        b(false),
                        b(false),
                    ]);
                }
            }
            rel(
                &[
                    ("oid", Int),
                    ("relname", Str),
                    ("relnamespace", Int),
                    ("reltype", Int),
                    ("relowner", Int),
                    ("relam", Int),
                    ("relfilenode", Int),
                    ("reltablespace", Int),
                    ("reltuples", Float),
                    ("relhasindex", Bool),
                    ("relpersistence", Str),
                    ("relkind", Str),
                    ("relnatts", Int),
                    ("relchecks", Int),
                    ("relispartition", Bool),
                    ("relrowsecurity", Bool),
                ],
                rows,
            )
        }
        "pg_attribute" => {
            for t in &tables {
                for (ix, c) in t.columns.iter().enumerate().filter(|(_, c)| !c.hidden) {
                    rows.push(vec![
                        i(t.id),
                        s(c.name.clone()),
                        i(c.ty.oid()),
                        i(-1),
                        i(ix as i64 + 1),
                        i(0),
                        b(!c.nullable),
                        b(c.default.is_some()),
                        b(false),
                        s(""),
                        s(""),
                        b(false),
                        b(true),
                        i(0),
                    ]);
                }
                for (id, _, _, _, cols) in all_indexes(t) {
                    for (k, col) in cols.iter().enumerate() {
                        let ty = t
                            .column_index(*col)
                            .map_or(SqlType::Int, |ix| t.columns[ix].ty);
                        rows.push(vec![
                            i(index_oid(t.id, id)),
                            s(column_name(t, *col)),
                            i(ty.oid()),
                            i(-1),
                            i(k as i64 + 1),
                            i(0),
                            b(false),
                            b(false),
                            b(false),
                            s(""),
                            s(""),
                            b(false),
                            b(true),
                            i(0),
                        ]);
                    }
                }
            }
            rel(
                &[
                    ("attrelid", Int),
                    ("attname", Str),
                    ("atttypid", Int),
                    ("atttypmod", Int),
                    ("attnum", Int),
                    ("attndims", Int),
                    ("attnotnull", Bool),
                    ("atthasdef", Bool),
                    ("attisdropped", Bool),
                    ("attidentity", Str),
                    ("attgenerated", Str),
                    ("atthasmissing", Bool),
                    ("attislocal", Bool),
                    ("attcollation", Int),
                ],
                rows,
            )
        }
        "pg_attrdef" => {
            for t in &tables {
                for (ix, c) in t.columns.iter().enumerate().filter(|(_, c)| !c.hidden) {
                    if let Some(d) = &c.default {
                        let oid = name_oid("attrdef", &format!("{}.{}", t.id, c.id));
                        rows.push(vec![
                            i(oid),
                            i(t.id),
                            i(ix as i64 + 1),
                            s(d.clone()),
                            s(d.clone()),
                        ]);
                    }
                }
            }
            rel(
                &[
                    ("oid", Int),
                    ("adrelid", Int),
                    ("adnum", Int),
                    ("adbin", Str),
                    ("adsrc", Str),
                ],
                rows,
            )
        }
        "pg_index" => {
            for t in &tables {
                for (id, _, unique, primary, cols) in all_indexes(t) {
                    let keys = cols
                        .iter()
                        .map(|c| attnum(t, *c).to_string())
                        .collect::<Vec<_>>()
                        .join(" ");
                    rows.push(vec![
                        i(index_oid(t.id, id)),
                        i(t.id),
                        i(cols.len() as i64),
                        i(cols.len() as i64),
                        b(unique),
                        b(primary),
                        b(false),
                        b(true),
                        b(true),
                        b(true),
                        s(keys),
                        Datum::Null,
                        Datum::Null,
                    ]);
                }
            }
            rel(
                &[
                    ("indexrelid", Int),
                    ("indrelid", Int),
                    ("indnatts", Int),
                    ("indnkeyatts", Int),
                    ("indisunique", Bool),
                    ("indisprimary", Bool),
                    ("indisclustered", Bool),
                    ("indisvalid", Bool),
                    ("indisready", Bool),
                    ("indislive", Bool),
                    ("indkey", Str),
                    ("indexprs", Str),
                    ("indpred", Str),
                ],
                rows,
            )
        }
        "pg_indexes" => {
            for t in &tables {
                for (_, name, unique, _, cols) in all_indexes(t) {
                    let def = index_def(t, &name, unique, &cols);
                    rows.push(vec![
                        s("public"),
                        s(t.name.clone()),
                        s(name),
                        Datum::Null,
                        s(def),
                    ]);
                }
            }
            rel(
                &[
                    ("schemaname", Str),
                    ("tablename", Str),
                    ("indexname", Str),
                    ("tablespace", Str),
                    ("indexdef", Str),
                ],
                rows,
            )
        }
        "pg_tables" => {
            for t in &tables {
                rows.push(vec![
                    s("public"),
                    s(t.name.clone()),
                    s(owner.clone()),
                    Datum::Null,
                    b(!all_indexes(t).is_empty()),
                    b(false),
                    b(false),
                    b(false),
                ]);
            }
            rel(
                &[
                    ("schemaname", Str),
                    ("tablename", Str),
                    ("tableowner", Str),
                    ("tablespace", Str),
                    ("hasindexes", Bool),
                    ("hasrules", Bool),
                    ("hastriggers", Bool),
                    ("rowsecurity", Bool),
                ],
                rows,
            )
        }
        _ => {
            // pg_constraint
            for t in &tables {
                for c in constraints(t, &by_id) {
                    let (confrelid, confkey) = match &c.references {
                        Some((rt, cols)) => (
                            i(*rt),
                            by_id
                                .get(rt)
                                .map_or(Datum::Null, |target| attnum_array(target, cols)),
                        ),
                        None => (i(0), Datum::Null),
                    };
                    let (fk_action, fk_match) = if c.kind == 'f' {
                        ("a", "s")
                    } else {
                        (" ", " ")
                    };
                    rows.push(vec![
                        i(name_oid("constraint", &format!("{}.{}", t.id, c.name))),
                        s(c.name.clone()),
                        i(PUBLIC_OID),
                        s(c.kind.to_string()),
                        b(false),
                        b(false),
                        b(true),
                        i(t.id),
                        i(0),
                        i(c.index.map_or(0, |(tid, ix)| index_oid(tid, ix))),
                        confrelid,
                        s(fk_action),
                        s(fk_action),
                        s(fk_match),
                        if c.kind == 'c' {
                            Datum::Null
                        } else {
                            attnum_array(t, &c.columns)
                        },
                        confkey,
                        c.check.clone().map_or(Datum::Null, s),
                        c.check.map_or(Datum::Null, |e| s(format!("CHECK ({e})"))),
                    ]);
                }
            }
            rel(
                &[
                    ("oid", Int),
                    ("conname", Str),
                    ("connamespace", Int),
                    ("contype", Str),
                    ("condeferrable", Bool),
                    ("condeferred", Bool),
                    ("convalidated", Bool),
                    ("conrelid", Int),
                    ("contypid", Int),
                    ("conindid", Int),
                    ("confrelid", Int),
                    ("confupdtype", Str),
                    ("confdeltype", Str),
                    ("confmatchtype", Str),
                    ("conkey", Str),
                    ("confkey", Str),
                    ("conbin", Str),
                    ("consrc", Str),
                ],
                rows,
            )
        }
    })
}
