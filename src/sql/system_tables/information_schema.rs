//! `information_schema`: tables, columns, schemata, constraints and their key columns.

use super::*;

pub(super) async fn information_schema(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    parts: &[String],
    table: &str,
) -> Result<Option<Relation>> {
    use SqlType::{Int, String as Str};
    if !INFORMATION_SCHEMA_TABLES.contains(&table) {
        return Ok(None);
    }
    let (db_name, db_owner, tables, user_schemas) = match target_database(ctx, txn, parts).await? {
        Some(d) => {
            let tables = ctx.catalog.tables(txn, d.id).await?;
            let schemas = ctx.catalog.schemas(txn, d.id).await?;
            (d.name, d.owner, tables, schemas)
        }
        None => (
            ctx.database.to_string(),
            String::new(),
            Vec::new(),
            Vec::new(),
        ),
    };
    let schema_names: HashMap<u32, String> = user_schemas
        .iter()
        .map(|s| (s.id, s.name.clone()))
        .collect();
    let by_id: HashMap<u32, &TableDesc> = tables.iter().map(|t| (t.id, t)).collect();
    let cat = || s(db_name.clone());
    let schema_of = |t: &TableDesc| {
        s(schema_names
            .get(&t.schema_id)
            .cloned()
            .unwrap_or_else(|| "public".into()))
    };
    let mut rows = Vec::new();
    let r = match table {
        "tables" => {
            for t in &tables {
                rows.push(vec![
                    cat(),
                    schema_of(t),
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
                        schema_of(t),
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
            for us in &user_schemas {
                rows.push(vec![
                    cat(),
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
                        schema_of(t),
                        s(c.name.clone()),
                        cat(),
                        schema_of(t),
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
                            schema_of(t),
                            s(c.name.clone()),
                            cat(),
                            schema_of(t),
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
                        schema_of(t),
                        s(c.name.clone()),
                        cat(),
                        schema_of(t),
                        unique.map_or(Datum::Null, s),
                        s(match c.actions {
                            Some((_, _, crate::sql::catalog::FkMatch::Full)) => "FULL",
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
        "check_constraints" => {
            for t in &tables {
                for c in constraints(t, &by_id).into_iter().filter(|c| c.kind == 'c') {
                    rows.push(vec![
                        cat(),
                        schema_of(t),
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
