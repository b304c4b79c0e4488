//! `CREATE SCHEMA [IF NOT EXISTS] [db.]name [AUTHORIZATION role]` and
//! `DROP SCHEMA [IF EXISTS] name, ... [CASCADE | RESTRICT]`.
//!
//! Schemas live in the catalog's schemas table ([`crate::sql::catalog`]). `public` always
//! exists and cannot be dropped (2BP01 like CockroachDB's refusal). DROP without CASCADE refuses
//! a schema that still holds tables (2BP01); with CASCADE its tables go too, data included, and
//! so do the foreign keys of other tables that reference them, in the statement's transaction. Creating needs the database to exist (3D000).

use super::*;

/// CREATE SCHEMA.
pub async fn create_schema(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    name: &pg::SchemaName,
    if_not_exists: bool,
) -> Result<QueryResult> {
    let (object, owner) = match name {
        pg::SchemaName::Simple(n) => (n.clone(), ctx.user.to_string()),
        pg::SchemaName::NamedAuthorization(n, role) => (n.clone(), role.value.clone()),
        pg::SchemaName::UnnamedAuthorization(role) => {
            (pg::ObjectName::from(vec![role.clone()]), role.value.clone())
        }
    };
    let parts = object_parts(&object);
    let (db, schema) = match parts.as_slice() {
        [s] => (ctx.database.to_string(), s.clone()),
        [d, s] => (d.clone(), s.clone()),
        _ => return Err(SqlError::syntax(format!("invalid schema name {object}"))),
    };
    let dbd = ctx.catalog.database(txn, &db).await?.ok_or_else(|| {
        SqlError::new(
            SqlState::INVALID_CATALOG_NAME,
            format!("database \"{db}\" does not exist"),
        )
    })?;
    ctx.catalog
        .create_schema(txn, dbd.id, &schema, &owner, if_not_exists)
        .await?;
    Ok(QueryResult::Command("CREATE SCHEMA".into()))
}

/// DROP SCHEMA.
pub async fn drop_schemas(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    names: &[ObjectName],
    if_exists: bool,
    cascade: bool,
) -> Result<QueryResult> {
    for n in names {
        let parts = object_parts(n);
        let (db, schema) = match parts.as_slice() {
            [s] => (ctx.database.to_string(), s.clone()),
            [d, s] => (d.clone(), s.clone()),
            _ => return Err(SqlError::syntax(format!("invalid schema name {n}"))),
        };
        if schema == "public" {
            return Err(SqlError::new(
                SqlState("2BP01"),
                "cannot drop schema \"public\"",
            ));
        }
        let found = match ctx.catalog.database(txn, &db).await? {
            Some(d) => ctx.catalog.schema(txn, d.id, &schema).await?,
            None => None,
        };
        let Some(s) = found else {
            if if_exists {
                continue;
            }
            return Err(SqlError::new(
                SqlState("3F000"),
                format!("unknown schema \"{schema}\""),
            ));
        };
        let tables: Vec<TableDesc> = ctx
            .catalog
            .tables(txn, s.parent_id)
            .await?
            .into_iter()
            .filter(|t| t.schema_id == s.id)
            .collect();
        if !tables.is_empty() && !cascade {
            return Err(SqlError::new(
                SqlState("2BP01"),
                format!(
                    "schema \"{schema}\" is not empty and CASCADE was not specified (it holds {})",
                    tables
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        super::references::release_references(ctx, txn, &tables, true).await?;
        for t in &tables {
            delete_span(txn, &table_span(ctx.tenant, t)).await?;
            ctx.catalog.drop_table(txn, t)?;
        }
        ctx.catalog.drop_schema(txn, &s)?;
    }
    Ok(QueryResult::Command("DROP SCHEMA".into()))
}
