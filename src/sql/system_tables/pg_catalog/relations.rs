//! The `pg_catalog` tables that describe the current database's relations: `pg_class`,
//! `pg_attribute`, `pg_attrdef`, `pg_index`, `pg_indexes`, `pg_tables` and `pg_constraint`,
//! built from the table descriptors with PostgreSQL's column layouts (declared types and
//! modifiers, int2vector key columns, constraint oids shared with `reg*` lookups).

use super::*;

/// The `pg_catalog` tables that describe the current database's relations.
pub(in crate::sql::system_tables) async fn per_database(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    parts: &[String],
    table: &str,
) -> Result<Relation> {
    use SqlType::{Bool, Float, Int, String as Str};
    let (owner, tables, user_schemas) = match target_database(ctx, txn, parts).await? {
        Some(d) => {
            let tables = ctx.catalog.tables(txn, d.id).await?;
            let schemas = ctx.catalog.schemas(txn, d.id).await?;
            (d.owner, tables, schemas)
        }
        None => (String::new(), Vec::new(), Vec::new()),
    };
    let schema_name = |t: &TableDesc| {
        user_schemas
            .iter()
            .find(|s| s.id == t.schema_id)
            .map_or_else(|| "public".to_string(), |s| s.name.clone())
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
                    i(schema_oid(t.schema_id)),
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
                if let Some(r) = rows.last_mut() {
                    r.extend(class_tail(true));
                }
                for ix in indexes {
                    let oid = index_oid(t.id, ix.id);
                    rows.push(vec![
                        i(oid),
                        s(ix.name),
                        i(schema_oid(t.schema_id)),
                        i(0),
                        i(owner_oid),
                        i(BTREE_AM_OID),
                        i(oid),
                        i(0),
                        Datum::Float(-1.0),
                        b(false),
                        s("p"),
                        s("i"),
                        i(ix.columns.len() as i64),
                        i(0),
                        b(false),
                        b(false),
                    ]);
                    if let Some(r) = rows.last_mut() {
                        r.extend(class_tail(false));
                    }
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
                    ("relforcerowsecurity", Bool),
                    ("relhasrules", Bool),
                    ("relhastriggers", Bool),
                    ("relhassubclass", Bool),
                    ("reltoastrelid", Int),
                    ("reloftype", Int),
                    ("relreplident", Str),
                    ("relpartbound", Str),
                    (
                        "reloptions",
                        SqlType::Array(crate::sql::types::ElemType::String),
                    ),
                    (
                        "relacl",
                        SqlType::Array(crate::sql::types::ElemType::String),
                    ),
                    ("relpages", Int),
                    ("relallvisible", Int),
                ],
                rows,
            )
        }
        "pg_attribute" => {
            for t in &tables {
                for (ix, c) in t.columns.iter().enumerate().filter(|(_, c)| !c.hidden) {
                    let (typid, typmod) = declared_type(c.ty, c.typmod);
                    rows.push(vec![
                        i(t.id),
                        s(c.name.clone()),
                        i(typid),
                        i(typmod),
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
                    if let Some(r) = rows.last_mut() {
                        r.extend(attribute_tail(c.ty));
                    }
                }
                for ix in all_indexes(t) {
                    let id = ix.id;
                    for (k, col) in ix.columns.iter().enumerate() {
                        let (typid, typmod) = t.column_index(*col).map_or((20, -1), |ix| {
                            declared_type(t.columns[ix].ty, t.columns[ix].typmod)
                        });
                        rows.push(vec![
                            i(index_oid(t.id, id)),
                            s(column_name(t, *col)),
                            i(typid),
                            i(typmod),
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
                        if let Some(r) = rows.last_mut() {
                            r.extend(attribute_tail(SqlType::Int));
                        }
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
                    ("attstorage", Str),
                    ("attcompression", Str),
                    ("attstattarget", Int),
                    ("attlen", Int),
                    ("attinhcount", Int),
                    (
                        "attoptions",
                        SqlType::Array(crate::sql::types::ElemType::String),
                    ),
                    (
                        "attfdwoptions",
                        SqlType::Array(crate::sql::types::ElemType::String),
                    ),
                    (
                        "attacl",
                        SqlType::Array(crate::sql::types::ElemType::String),
                    ),
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
                for ix in all_indexes(t) {
                    let (id, unique, primary, cols) = (ix.id, ix.unique, ix.primary, &ix.columns);
                    // int2vector / oidvector columns, as arrays.
                    let keys = attnum_array(t, cols);
                    let zeros = Datum::Array(vec![i(0); cols.len()]);
                    let options = Datum::Array(ix.indoption().into_iter().map(i).collect());
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
                        keys,
                        Datum::Null,
                        Datum::Null,
                        b(false),
                        b(false),
                        b(true),
                        b(false),
                        options,
                        zeros.clone(),
                        zeros,
                    ]);
                }
            }
            let mut r = rel(
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
                    ("indkey", SqlType::Array(crate::sql::types::ElemType::Int)),
                    ("indexprs", Str),
                    ("indpred", Str),
                    ("indisreplident", Bool),
                    ("indisexclusion", Bool),
                    ("indimmediate", Bool),
                    ("indnullsnotdistinct", Bool),
                    (
                        "indoption",
                        SqlType::Array(crate::sql::types::ElemType::Int),
                    ),
                    ("indclass", SqlType::Array(crate::sql::types::ElemType::Int)),
                    (
                        "indcollation",
                        SqlType::Array(crate::sql::types::ElemType::Int),
                    ),
                ],
                rows,
            );
            for c in &mut r.cols {
                if matches!(
                    c.name.as_str(),
                    "indkey" | "indoption" | "indclass" | "indcollation"
                ) {
                    c.typmod = crate::sql::typmod::TypeMod::Int2Vector;
                }
            }
            r
        }
        "pg_indexes" => {
            for t in &tables {
                for ix in all_indexes(t) {
                    let def = index_def(t, &schema_name(t), &ix);
                    let name = ix.name;
                    rows.push(vec![
                        s(schema_name(t)),
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
                    s(schema_name(t)),
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
                    let (upd, del, fk_match) = match c.actions {
                        Some((u, d, m)) => (
                            u.pg_letter(),
                            d.pg_letter(),
                            if m == crate::sql::catalog::FkMatch::Full {
                                "f"
                            } else {
                                "s"
                            },
                        ),
                        None => (" ", " ", " "),
                    };
                    rows.push(vec![
                        i(oids::constraint_oid(t, &c.name)),
                        s(c.name.clone()),
                        i(schema_oid(t.schema_id)),
                        s(c.kind.to_string()),
                        b(false),
                        b(false),
                        b(true),
                        i(t.id),
                        i(0),
                        i(c.index.map_or(0, |(tid, ix)| index_oid(tid, ix))),
                        confrelid,
                        s(upd),
                        s(del),
                        s(fk_match),
                        if c.kind == 'c' {
                            Datum::Null
                        } else {
                            attnum_array(t, &c.columns)
                        },
                        confkey,
                        c.check.clone().map_or(Datum::Null, s),
                        c.check.map_or(Datum::Null, |e| s(format!("CHECK ({e})"))),
                        i(0),
                        b(true),
                        i(0),
                        b(false),
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
                    ("conkey", SqlType::Array(crate::sql::types::ElemType::Int)),
                    ("confkey", SqlType::Array(crate::sql::types::ElemType::Int)),
                    ("conbin", Str),
                    ("consrc", Str),
                    ("conparentid", Int),
                    ("conislocal", Bool),
                    ("coninhcount", Int),
                    ("connoinherit", Bool),
                ],
                rows,
            )
        }
    })
}

/// The `pg_class` columns past the basics: no row security, rules, inheritance, TOAST, typed
/// tables, partitions, options, ACLs or page counts. `relhastriggers` is set on tables, as
/// PostgreSQL sets it wherever foreign keys are checked (psql lists foreign keys only then).
fn class_tail(table: bool) -> [Datum; 12] {
    [
        b(false),
        b(false),
        b(table),
        b(false),
        i(0),
        i(0),
        s("d"),
        Datum::Null,
        Datum::Null,
        Datum::Null,
        i(0),
        i(0),
    ]
}

/// A column's `atttypid` and `atttypmod` as PostgreSQL records them: the declared width
/// (`int4`, `varchar(n)`, `numeric(p,s)`) rather than the storage family.
fn declared_type(ty: SqlType, m: crate::sql::typmod::TypeMod) -> (i64, i64) {
    use crate::sql::typmod::TypeMod;
    match (ty, m) {
        (SqlType::Int, TypeMod::Int2) => (21, -1),
        (SqlType::Int, TypeMod::Int4) => (23, -1),
        (SqlType::Float, TypeMod::Float4) => (700, -1),
        (SqlType::String, TypeMod::MaxChars(n)) => (1043, i64::from(n) + 4),
        (SqlType::Decimal, TypeMod::Numeric { precision, scale }) => {
            (1700, ((i64::from(precision) << 16) | i64::from(scale)) + 4)
        }
        _ => (i64::from(ty.oid()), -1),
    }
}

/// The `pg_attribute` columns past the basics: storage (`p` plain for fixed-width types, `x`
/// extended for the others), no compression, statistics target, length, no inheritance, options
/// or ACLs.
fn attribute_tail(ty: SqlType) -> [Datum; 8] {
    let fixed: Option<i64> = match ty {
        SqlType::Int
        | SqlType::Float
        | SqlType::Timestamp
        | SqlType::TimestampTz
        | SqlType::Time => Some(8),
        SqlType::Bool => Some(1),
        SqlType::Date => Some(4),
        SqlType::Uuid | SqlType::Interval => Some(16),
        _ => None,
    };
    [
        s(if fixed.is_some() { "p" } else { "x" }),
        s(""),
        i(-1),
        i(fixed.unwrap_or(-1)),
        i(0),
        Datum::Null,
        Datum::Null,
        Datum::Null,
    ]
}
