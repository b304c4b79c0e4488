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

mod information_schema;
pub mod oids;
mod pg_catalog;

use information_schema::information_schema;
use pg_catalog::pg_catalog;
use std::collections::HashMap;

use super::catalog::{DatabaseDesc, FkAction, FkMatch, TableDesc};
use super::error::Result;
use super::exec::Ctx;
use super::query::{RelCol, Relation};
use super::types::{Datum, ElemType, SqlType};
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

/// The oid of the schema with catalog id `id` (0: `public`).
fn schema_oid(id: u32) -> i64 {
    if id == 0 {
        PUBLIC_OID
    } else {
        100_000 + i64::from(id)
    }
}

const SCHEMAS: [(&str, i64); 4] = [
    ("crdb_internal", CRDB_INTERNAL_OID),
    ("information_schema", INFORMATION_SCHEMA_OID),
    ("pg_catalog", PG_CATALOG_OID),
    ("public", PUBLIC_OID),
];

fn rel(cols: &[(&str, SqlType)], rows: Vec<Vec<Datum>>) -> Relation {
    debug_assert!(
        rows.iter().all(|r| r.len() == cols.len()),
        "virtual table rows must have one value per column"
    );
    Relation {
        cols: cols
            .iter()
            .map(|(n, t)| RelCol {
                table: None,
                name: (*n).to_string(),
                ty: *t,
                hidden: false,
                typmod: Default::default(),
                key: false,
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
        SqlType::Array(_) => "ARRAY",
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
        SqlType::Array(e) => match e {
            ElemType::Int => "_int8",
            ElemType::Float => "_float8",
            ElemType::String => "_text",
            ElemType::Bool => "_bool",
            ElemType::Bytes => "_bytea",
            ElemType::Decimal => "_numeric",
            ElemType::Uuid => "_uuid",
            ElemType::Timestamp => "_timestamp",
            ElemType::TimestampTz => "_timestamptz",
            ElemType::Date => "_date",
            ElemType::Time => "_time",
            ElemType::Interval => "_interval",
            ElemType::Jsonb => "_jsonb",
        },
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
    /// For `f`: `ON UPDATE` and `ON DELETE` actions and the match type.
    actions: Option<(FkAction, FkAction, FkMatch)>,
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
            actions: None,
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
            actions: None,
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
            actions: Some((fk.on_update, fk.on_delete, fk.match_type)),
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
            actions: None,
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

/// An `int2[]` of attribute numbers (`conkey`, `confkey`).
fn attnum_array(t: &TableDesc, ids: &[u32]) -> Datum {
    Datum::Array(ids.iter().map(|id| Datum::Int(attnum(t, *id))).collect())
}

/// `CREATE [UNIQUE] INDEX ...` text for `pg_indexes.indexdef`.
fn index_def(t: &TableDesc, schema: &str, ix: &IndexInfo) -> String {
    let (name, unique, cols) = (&ix.name, ix.unique, &ix.columns);
    format!(
        "CREATE {}INDEX {name} ON {schema}.{} USING btree ({})",
        if unique { "UNIQUE " } else { "" },
        t.name,
        cols.iter()
            .map(|c| {
                let desc = ix.descending.contains(c);
                format!(
                    "{} {}",
                    column_name(t, *c),
                    if desc { "DESC" } else { "ASC" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// One index of a table as the catalogs show it.
struct IndexInfo {
    id: u32,
    name: String,
    unique: bool,
    primary: bool,
    columns: Vec<u32>,
    /// The columns stored in descending order.
    descending: Vec<u32>,
}

impl IndexInfo {
    /// `pg_index.indoption`: per column, 1 (DESC) | 2 (NULLS FIRST); NULLs sort first ascending
    /// and last descending, so ASC is 2 and DESC is 1.
    fn indoption(&self) -> Vec<i64> {
        self.columns
            .iter()
            .map(|c| if self.descending.contains(c) { 1 } else { 2 })
            .collect()
    }
}

/// Every index of a table. A hidden primary key is still listed here (it exists), but not as a
/// constraint.
fn all_indexes(t: &TableDesc) -> Vec<IndexInfo> {
    let mut out = Vec::new();
    if has_visible_pk(t) {
        out.push(IndexInfo {
            id: 1,
            name: pkey_name(t),
            unique: true,
            primary: true,
            columns: t.primary_key.clone(),
            descending: t.descending.clone(),
        });
    }
    for ix in &t.indexes {
        out.push(IndexInfo {
            id: ix.id,
            name: ix.name.clone(),
            unique: ix.unique,
            primary: false,
            columns: ix.columns.clone(),
            descending: ix.descending.clone(),
        });
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
