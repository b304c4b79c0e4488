//! Name resolution: `[db.][schema.]table` to a table descriptor, CockroachDB's rule for two-part
//! names, the session's `search_path` for unqualified ones, and the node's descriptor cache
//! ([`crate::sql::descriptor_cache`]) when the transaction may use it. Unknown names are
//! 42P01 (tables) or 3F000 (schemas).

use super::*;

/// The last part of a dotted name, normalized.
pub fn object_last(n: &ObjectName) -> String {
    n.0.last()
        .and_then(|p| p.as_ident())
        .map(|i| normalize(&i.value, i.quote_style.is_some()))
        .unwrap_or_default()
}

pub fn object_parts(n: &ObjectName) -> Vec<String> {
    n.0.iter()
        .filter_map(|p| p.as_ident())
        .map(|i| normalize(&i.value, i.quote_style.is_some()))
        .collect()
}

/// Where a `[db.][schema.]name` points: the database, the schema (`None`: `public`) and the
/// name. `a.b` is schema `a` of the current database when that schema exists, else table `b`
/// of database `a` (CockroachDB's rule). Unknown database or schema: `missing(what)`.
pub async fn resolve_name(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    name: &ObjectName,
    missing: impl Fn(&str) -> SqlError,
) -> Result<(DatabaseDesc, Option<SchemaDesc>, String)> {
    let parts = object_parts(name);
    let (db, schema, table) = match parts.as_slice() {
        [t] if !ctx.search_path.is_empty() => {
            let (dbd, schema) = search_schema(ctx, txn, t, &missing).await?;
            return Ok((dbd, schema, t.clone()));
        }
        [t] => (ctx.database.to_string(), None, t.clone()),
        [s, t] => {
            if s == "public" {
                (ctx.database.to_string(), None, t.clone())
            } else if let Some(d) = ctx.catalog.database(txn, ctx.database).await?
                && ctx.catalog.schema(txn, d.id, s).await?.is_some()
            {
                (ctx.database.to_string(), Some(s.clone()), t.clone())
            } else {
                (s.clone(), None, t.clone())
            }
        }
        [d, s, t] => (d.clone(), (s != "public").then(|| s.clone()), t.clone()),
        _ => return Err(SqlError::syntax(format!("invalid name {name}"))),
    };
    let dbd = ctx
        .catalog
        .database(txn, &db)
        .await?
        .ok_or_else(|| missing(&format!("database \"{db}\"")))?;
    let schema = match schema {
        None => None,
        Some(s) => Some(
            ctx.catalog
                .schema(txn, dbd.id, &s)
                .await?
                .ok_or_else(|| missing(&format!("schema \"{s}\"")))?,
        ),
    };
    Ok((dbd, schema, table))
}

/// The schema an unqualified name `t` means under a custom `search_path`: the first schema of
/// the path that has a table `t`, else (for a name about to be created, or to report as
/// missing) the first schema of the path that exists; `public` when none does. `$user` is the
/// schema named like the session's user, if there is one; the virtual schemas are skipped.
async fn search_schema(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &str,
    missing: &impl Fn(&str) -> SqlError,
) -> Result<(DatabaseDesc, Option<SchemaDesc>)> {
    let db = ctx.database;
    let dbd = ctx
        .catalog
        .database(txn, db)
        .await?
        .ok_or_else(|| missing(&format!("database \"{db}\"")))?;
    let mut first: Option<Option<SchemaDesc>> = None;
    for s in &ctx.search_path {
        let name = if s == "$user" { ctx.user } else { s.as_str() };
        let schema = match name {
            "public" => None,
            "pg_catalog" | "information_schema" | "crdb_internal" => continue,
            other => match ctx.catalog.schema(txn, dbd.id, other).await? {
                Some(sc) => Some(sc),
                None => continue,
            },
        };
        let parent = schema.as_ref().map_or(dbd.id, |sc| sc.id);
        if ctx.catalog.table(txn, parent, t).await?.is_some() {
            return Ok((dbd, schema));
        }
        first.get_or_insert(schema);
    }
    Ok((dbd, first.unwrap_or(None)))
}

/// Resolves `[db.][schema.]table` to a table descriptor (42P01 if missing), from the node's
/// descriptor cache when the transaction may use it ([`super::descriptor_cache`]).
pub async fn resolve_table(ctx: &Ctx<'_>, txn: &mut Txn, name: &ObjectName) -> Result<TableDesc> {
    let Some(epoch) = txn.system_cache_epoch() else {
        return resolve_table_uncached(ctx, txn, name).await;
    };
    let cache = txn
        .store()
        .extension::<crate::sql::descriptor_cache::DescriptorCache>();
    let key = (
        ctx.tenant,
        ctx.database.to_string(),
        ctx.search_path.clone(),
        object_parts(name),
    );
    if let Some(t) = cache.get(epoch, &key) {
        return Ok(t);
    }
    let t = resolve_table_uncached(ctx, txn, name).await?;
    if txn.system_cache_current(epoch) {
        cache.put(epoch, key, t.clone());
    }
    Ok(t)
}

/// [`resolve_table`] reading the catalog.
async fn resolve_table_uncached(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    name: &ObjectName,
) -> Result<TableDesc> {
    let undefined = || {
        SqlError::new(
            SqlState::UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        )
    };
    let (dbd, schema, table) = resolve_name(ctx, txn, name, |_| undefined()).await?;
    let parent = schema.as_ref().map_or(dbd.id, |s| s.id);
    ctx.catalog
        .table(txn, parent, &table)
        .await?
        .ok_or_else(undefined)
}
