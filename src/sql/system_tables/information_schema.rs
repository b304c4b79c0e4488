//! `information_schema`: tables, columns, schemata, constraints and their key columns.
//!
//! [`information_schema`] reads the target database's descriptors once into a [`Db`], then one
//! builder per view turns them into rows; a database that does not exist shows no rows (and
//! the session's database name as the catalog).

use super::*;
use crate::sql::catalog::SchemaDesc;
use crate::sql::types::SqlType::{Int, String as Str};

/// The descriptors of the database an `information_schema` name shows, read once per query.
struct Db {
    /// The database's name: every row's catalog.
    name: String,
    /// The database owner's name (empty when the database does not exist).
    owner: String,
    tables: Vec<TableDesc>,
    /// The user-defined schemas (`public` is implicit).
    user_schemas: Vec<SchemaDesc>,
}

impl Db {
    /// The catalog column: the database's name.
    fn cat(&self) -> Datum {
        s(self.name.clone())
    }

    /// The schema column of a row about table `t`.
    fn schema_of(&self, t: &TableDesc) -> Datum {
        s(self
            .user_schemas
            .iter()
            .find(|us| us.id == t.schema_id)
            .map_or_else(|| "public".to_string(), |us| us.name.clone()))
    }

    /// The tables by descriptor id (foreign key targets).
    fn by_id(&self) -> HashMap<u32, &TableDesc> {
        self.tables.iter().map(|t| (t.id, t)).collect()
    }
}

/// The `information_schema` view `table`, or `None` when there is no such view.
pub(super) async fn information_schema(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    parts: &[String],
    table: &str,
) -> Result<Option<Relation>> {
    if !INFORMATION_SCHEMA_TABLES.contains(&table) {
        return Ok(None);
    }
    let db = match target_database(ctx, txn, parts).await? {
        Some(d) => Db {
            tables: ctx.catalog.tables(txn, d.id).await?,
            user_schemas: ctx.catalog.schemas(txn, d.id).await?,
            name: d.name,
            owner: d.owner,
        },
        None => Db {
            name: ctx.database.to_string(),
            owner: String::new(),
            tables: Vec::new(),
            user_schemas: Vec::new(),
        },
    };
    let r = match table {
        "tables" => tables(&db),
        "columns" => columns(&db),
        "schemata" => schemata(&db),
        "table_constraints" => table_constraints(&db),
        "key_column_usage" => key_column_usage(&db),
        "referential_constraints" => referential_constraints(&db),
        "check_constraints" => check_constraints(&db),
        "views" => rel(
            &[
                ("table_catalog", Str),
                ("table_schema", Str),
                ("table_name", Str),
                ("view_definition", Str),
            ],
            Vec::new(),
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
            Vec::new(),
        ),
    };
    Ok(Some(r))
}

/// `tables`: one `BASE TABLE` row per table.
fn tables(db: &Db) -> Relation {
    let mut rows = Vec::new();
    for t in &db.tables {
        rows.push(vec![
            db.cat(),
            db.schema_of(t),
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

/// `columns`: the visible columns of each table with their PostgreSQL types.
fn columns(db: &Db) -> Relation {
    let mut rows = Vec::new();
    for t in &db.tables {
        for (ix, c) in t.columns.iter().enumerate().filter(|(_, c)| !c.hidden) {
            let (precision, radix, scale) = numeric_info(c.ty);
            rows.push(vec![
                db.cat(),
                db.schema_of(t),
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
                db.cat(),
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

/// `schemata`: the database's user-defined schemas, then the built-in ones (`public` owned by
/// the database owner, the others by `node`).
fn schemata(db: &Db) -> Relation {
    let mut rows = Vec::new();
    for us in &db.user_schemas {
        rows.push(vec![
            db.cat(),
            s(us.name.clone()),
            s(us.owner.clone()),
            Datum::Null,
            Datum::Null,
            Datum::Null,
            Datum::Null,
        ]);
    }
    for (name, _) in SCHEMAS {
        let owner = if name == "public" {
            db.owner.clone()
        } else {
            "node".to_string()
        };
        rows.push(vec![
            db.cat(),
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

/// `table_constraints`: the primary key, unique, foreign key and check constraints.
fn table_constraints(db: &Db) -> Relation {
    let by_id = db.by_id();
    let mut rows = Vec::new();
    for t in &db.tables {
        for c in constraints(t, &by_id) {
            rows.push(vec![
                db.cat(),
                db.schema_of(t),
                s(c.name.clone()),
                db.cat(),
                db.schema_of(t),
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

/// `key_column_usage`: the key columns of each constraint but checks, by position.
fn key_column_usage(db: &Db) -> Relation {
    let by_id = db.by_id();
    let mut rows = Vec::new();
    for t in &db.tables {
        for c in constraints(t, &by_id).into_iter().filter(|c| c.kind != 'c') {
            for (pos, col) in c.columns.iter().enumerate() {
                rows.push(vec![
                    db.cat(),
                    db.schema_of(t),
                    s(c.name.clone()),
                    db.cat(),
                    db.schema_of(t),
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

/// `referential_constraints`: each foreign key with its match type, actions and the
/// constraint of the key it references.
fn referential_constraints(db: &Db) -> Relation {
    let by_id = db.by_id();
    let mut rows = Vec::new();
    for t in &db.tables {
        for c in constraints(t, &by_id).into_iter().filter(|c| c.kind == 'f') {
            let unique = c.index.and_then(|ix| index_constraint_name(&by_id, ix));
            rows.push(vec![
                db.cat(),
                db.schema_of(t),
                s(c.name.clone()),
                db.cat(),
                db.schema_of(t),
                unique.map_or(Datum::Null, s),
                s(match c.actions {
                    Some((_, _, FkMatch::Full)) => "FULL",
                    _ => "NONE",
                }),
                s(c.actions.map_or("NO ACTION", |(u, _, _)| u.sql())),
                s(c.actions.map_or("NO ACTION", |(_, d, _)| d.sql())),
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

/// `check_constraints`: each check constraint's expression.
fn check_constraints(db: &Db) -> Relation {
    let by_id = db.by_id();
    let mut rows = Vec::new();
    for t in &db.tables {
        for c in constraints(t, &by_id).into_iter().filter(|c| c.kind == 'c') {
            rows.push(vec![
                db.cat(),
                db.schema_of(t),
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
