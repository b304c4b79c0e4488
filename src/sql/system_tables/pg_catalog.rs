//! `pg_catalog`: namespaces, classes, attributes, types, indexes, constraints, roles, settings.

use super::*;

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

/// Catalogs tandem has nothing to put in (no collations beyond the default, policies, extended
/// statistics, publications, triggers, sequences, operator classes, functions, rules or
/// extensions): their columns, so clients' queries over them run and find no rows.
const EMPTY_CATALOGS: &[(&str, &[(&str, SqlType)])] = {
    use SqlType::{Bool, Int, String as Str};
    const INT2_ARRAY: SqlType = SqlType::Array(crate::sql::types::ElemType::Int);
    const TEXT_ARRAY: SqlType = SqlType::Array(crate::sql::types::ElemType::String);
    &[
        (
            "pg_collation",
            &[
                ("oid", Int),
                ("collname", Str),
                ("collnamespace", Int),
                ("collowner", Int),
                ("collprovider", Str),
                ("collisdeterministic", Bool),
                ("collencoding", Int),
                ("collcollate", Str),
                ("collctype", Str),
            ],
        ),
        (
            "pg_policy",
            &[
                ("oid", Int),
                ("polname", Str),
                ("polrelid", Int),
                ("polcmd", Str),
                ("polpermissive", Bool),
                ("polroles", INT2_ARRAY),
                ("polqual", Str),
                ("polwithcheck", Str),
            ],
        ),
        (
            "pg_statistic_ext",
            &[
                ("oid", Int),
                ("stxrelid", Int),
                ("stxname", Str),
                ("stxnamespace", Int),
                ("stxowner", Int),
                ("stxstattarget", Int),
                ("stxkeys", Str),
                ("stxkind", TEXT_ARRAY),
            ],
        ),
        (
            "pg_publication",
            &[
                ("oid", Int),
                ("pubname", Str),
                ("pubowner", Int),
                ("puballtables", Bool),
                ("pubinsert", Bool),
                ("pubupdate", Bool),
                ("pubdelete", Bool),
                ("pubtruncate", Bool),
                ("pubviaroot", Bool),
            ],
        ),
        (
            "pg_publication_namespace",
            &[("oid", Int), ("pnpubid", Int), ("pnnspid", Int)],
        ),
        (
            "pg_publication_rel",
            &[
                ("oid", Int),
                ("prpubid", Int),
                ("prrelid", Int),
                ("prqual", Str),
                ("prattrs", INT2_ARRAY),
            ],
        ),
        (
            "pg_trigger",
            &[
                ("oid", Int),
                ("tgrelid", Int),
                ("tgparentid", Int),
                ("tgname", Str),
                ("tgfoid", Int),
                ("tgtype", Int),
                ("tgenabled", Str),
                ("tgisinternal", Bool),
                ("tgconstraint", Int),
            ],
        ),
        (
            "pg_sequence",
            &[
                ("seqrelid", Int),
                ("seqtypid", Int),
                ("seqstart", Int),
                ("seqincrement", Int),
                ("seqmax", Int),
                ("seqmin", Int),
                ("seqcache", Int),
                ("seqcycle", Bool),
            ],
        ),
        (
            "pg_opclass",
            &[
                ("oid", Int),
                ("opcmethod", Int),
                ("opcname", Str),
                ("opcnamespace", Int),
                ("opcowner", Int),
                ("opcfamily", Int),
                ("opcintype", Int),
                ("opcdefault", Bool),
                ("opckeytype", Int),
            ],
        ),
        (
            "pg_proc",
            &[
                ("oid", Int),
                ("proname", Str),
                ("pronamespace", Int),
                ("proowner", Int),
                ("prokind", Str),
                ("prorettype", Int),
                ("proargtypes", Str),
            ],
        ),
        (
            "pg_rewrite",
            &[
                ("oid", Int),
                ("rulename", Str),
                ("ev_class", Int),
                ("ev_type", Str),
            ],
        ),
        (
            "pg_depend",
            &[
                ("classid", Int),
                ("objid", Int),
                ("objsubid", Int),
                ("refclassid", Int),
                ("refobjid", Int),
                ("refobjsubid", Int),
                ("deptype", Str),
            ],
        ),
        (
            "pg_extension",
            &[
                ("oid", Int),
                ("extname", Str),
                ("extowner", Int),
                ("extnamespace", Int),
                ("extversion", Str),
            ],
        ),
    ]
};

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

/// The `pg_catalog` tables that describe the current database's relations.
pub(super) async fn per_database(
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
                for (id, name, _, _, cols) in indexes {
                    let oid = index_oid(t.id, id);
                    rows.push(vec![
                        i(oid),
                        s(name),
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
                        i(cols.len() as i64),
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
                for (id, _, _, _, cols) in all_indexes(t) {
                    for (k, col) in cols.iter().enumerate() {
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
                for (id, _, unique, primary, cols) in all_indexes(t) {
                    // int2vector / oidvector columns, as arrays.
                    let keys = attnum_array(t, &cols);
                    let zeros = Datum::Array(vec![i(0); cols.len()]);
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
                        zeros.clone(),
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
                for (_, name, unique, _, cols) in all_indexes(t) {
                    let def = index_def(t, &schema_name(t), &name, unique, &cols);
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
                    let (fk_action, fk_match) = if c.kind == 'f' {
                        ("a", "s")
                    } else {
                        (" ", " ")
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
