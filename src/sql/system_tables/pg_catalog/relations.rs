//! The `pg_catalog` tables that describe the current database's relations: `pg_class`,
//! `pg_attribute`, `pg_attrdef`, `pg_index`, `pg_indexes`, `pg_tables` and `pg_constraint`,
//! built from the table descriptors with PostgreSQL's column layouts (declared types and
//! modifiers, int2vector key columns, constraint oids shared with `reg*` lookups).
//!
//! [`per_database`] reads the target database's descriptors once into a [`DbRelations`], then
//! one builder per table turns them into rows; a database that does not exist shows no rows.

use super::*;
use crate::sql::types::SqlType::Float;

/// The descriptors of the database a `pg_catalog` name shows, read once per query.
struct DbRelations {
    /// The database owner's name (empty when the database does not exist).
    owner: String,
    tables: Vec<TableDesc>,
    /// The user-defined schemas (`public` is implicit).
    user_schemas: Vec<crate::sql::catalog::SchemaDesc>,
}

impl DbRelations {
    /// The name of the schema `t` lives in.
    fn schema_name(&self, t: &TableDesc) -> String {
        self.user_schemas
            .iter()
            .find(|s| s.id == t.schema_id)
            .map_or_else(|| "public".to_string(), |s| s.name.clone())
    }

    /// The tables by descriptor id (foreign key targets).
    fn by_id(&self) -> HashMap<u32, &TableDesc> {
        self.tables.iter().map(|t| (t.id, t)).collect()
    }
}

/// The `pg_catalog` tables that describe the current database's relations.
pub(in crate::sql::system_tables) async fn per_database(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    parts: &[String],
    table: &str,
) -> Result<Relation> {
    let db = match target_database(ctx, txn, parts).await? {
        Some(d) => DbRelations {
            tables: ctx.catalog.tables(txn, d.id).await?,
            user_schemas: ctx.catalog.schemas(txn, d.id).await?,
            owner: d.owner,
        },
        None => DbRelations {
            owner: String::new(),
            tables: Vec::new(),
            user_schemas: Vec::new(),
        },
    };
    Ok(match table {
        "pg_class" => pg_class(&db),
        "pg_attribute" => pg_attribute(&db),
        "pg_attrdef" => pg_attrdef(&db),
        "pg_index" => pg_index(&db),
        "pg_indexes" => pg_indexes(&db),
        "pg_tables" => pg_tables(&db),
        _ => pg_constraint(&db),
    })
}

/// `pg_class`: one row per table, then one per index of it.
fn pg_class(db: &DbRelations) -> Relation {
    let owner_oid = name_oid("role", &db.owner);
    let mut rows = Vec::new();
    for t in &db.tables {
        let indexes = all_indexes(t);
        rows.push(class_row_of_table(t, owner_oid, !indexes.is_empty()));
        for ix in indexes {
            rows.push(class_row_of_index(t, owner_oid, ix));
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
            ("reloptions", TEXT_ARRAY),
            ("relacl", TEXT_ARRAY),
            ("relpages", Int),
            ("relallvisible", Int),
        ],
        rows,
    )
}

/// The `pg_class` row of table `t` (`relkind` `r`).
fn class_row_of_table(t: &TableDesc, owner_oid: i64, has_index: bool) -> Vec<Datum> {
    let natts = t.columns.iter().filter(|c| !c.hidden).count() as i64;
    let mut row = vec![
        i(t.id),
        s(t.name.clone()),
        i(schema_oid(t.schema_id)),
        i(0),
        i(owner_oid),
        i(0),
        i(t.id),
        i(0),
        Datum::Float(-1.0),
        b(has_index),
        s("p"),
        s("r"),
        i(natts),
        i(t.checks.len() as i64),
        b(false),
        b(false),
    ];
    row.extend(class_tail(true));
    row
}

/// The `pg_class` row of index `ix` of table `t` (`relkind` `i`, the btree access method).
fn class_row_of_index(t: &TableDesc, owner_oid: i64, ix: IndexInfo) -> Vec<Datum> {
    let oid = index_oid(t.id, ix.id);
    let mut row = vec![
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
    ];
    row.extend(class_tail(false));
    row
}

/// `pg_attribute`: the visible columns of each table, then the key columns of its indexes.
fn pg_attribute(db: &DbRelations) -> Relation {
    let mut rows = Vec::new();
    for t in &db.tables {
        for (ix, c) in t.columns.iter().enumerate().filter(|(_, c)| !c.hidden) {
            let (typid, typmod) = declared_type(c.ty, c.typmod);
            let mut row = attribute_head(i64::from(t.id), c.name.clone(), (typid, typmod), ix);
            row.extend([b(!c.nullable), b(c.default.is_some())]);
            row.extend(attribute_middle());
            row.extend(attribute_tail(c.ty));
            rows.push(row);
        }
        for ix in all_indexes(t) {
            for (k, col) in ix.columns.iter().enumerate() {
                let typ = t.column_index(*col).map_or((20, -1), |ix| {
                    declared_type(t.columns[ix].ty, t.columns[ix].typmod)
                });
                let oid = index_oid(t.id, ix.id);
                let mut row = attribute_head(oid, column_name(t, *col), typ, k);
                row.extend([b(false), b(false)]);
                row.extend(attribute_middle());
                row.extend(attribute_tail(SqlType::Int));
                rows.push(row);
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
            ("attoptions", TEXT_ARRAY),
            ("attfdwoptions", TEXT_ARRAY),
            ("attacl", TEXT_ARRAY),
        ],
        rows,
    )
}

/// The first `pg_attribute` columns: relation, name, declared type and modifier, the 1-based
/// number of the attribute at 0-based position `pos`, no array dimensions.
fn attribute_head(relid: i64, name: String, (typid, typmod): (i64, i64), pos: usize) -> Vec<Datum> {
    vec![
        i(relid),
        s(name),
        i(typid),
        i(typmod),
        i(pos as i64 + 1),
        i(0),
    ]
}

/// The `pg_attribute` columns between `atthasdef` and the tail: not dropped, no identity, not
/// generated, no missing value, local, no collation.
fn attribute_middle() -> [Datum; 6] {
    [b(false), s(""), s(""), b(false), b(true), i(0)]
}

/// `pg_attrdef`: one row per column default.
fn pg_attrdef(db: &DbRelations) -> Relation {
    let mut rows = Vec::new();
    for t in &db.tables {
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

/// `pg_index`: one row per index, its key columns as int2vectors.
fn pg_index(db: &DbRelations) -> Relation {
    let mut rows = Vec::new();
    for t in &db.tables {
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
            ("indkey", INT2_ARRAY),
            ("indexprs", Str),
            ("indpred", Str),
            ("indisreplident", Bool),
            ("indisexclusion", Bool),
            ("indimmediate", Bool),
            ("indnullsnotdistinct", Bool),
            ("indoption", INT2_ARRAY),
            ("indclass", INT2_ARRAY),
            ("indcollation", INT2_ARRAY),
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

/// `pg_indexes`: one row per index with its `CREATE INDEX` text.
fn pg_indexes(db: &DbRelations) -> Relation {
    let mut rows = Vec::new();
    for t in &db.tables {
        for ix in all_indexes(t) {
            let def = index_def(t, &db.schema_name(t), &ix);
            let name = ix.name;
            rows.push(vec![
                s(db.schema_name(t)),
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

/// `pg_tables`: one row per table.
fn pg_tables(db: &DbRelations) -> Relation {
    let mut rows = Vec::new();
    for t in &db.tables {
        rows.push(vec![
            s(db.schema_name(t)),
            s(t.name.clone()),
            s(db.owner.clone()),
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

/// `pg_constraint`: the primary key, unique, foreign key and check constraints of each table.
fn pg_constraint(db: &DbRelations) -> Relation {
    let by_id = db.by_id();
    let mut rows = Vec::new();
    for t in &db.tables {
        for c in constraints(t, &by_id) {
            rows.push(constraint_row(t, c, &by_id));
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
            ("conkey", INT2_ARRAY),
            ("confkey", INT2_ARRAY),
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

/// The `pg_constraint` row of constraint `c` of table `t`: referenced table and columns and the
/// foreign key's action letters (blank for other kinds), no key columns for a check.
fn constraint_row(t: &TableDesc, c: Constraint, by_id: &HashMap<u32, &TableDesc>) -> Vec<Datum> {
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
            if m == FkMatch::Full { "f" } else { "s" },
        ),
        None => (" ", " ", " "),
    };
    vec![
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
    ]
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
