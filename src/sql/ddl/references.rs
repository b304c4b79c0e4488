//! Foreign keys in schema changes: declaring them (CREATE TABLE, `ALTER TABLE ... ADD
//! CONSTRAINT`) and what TRUNCATE, DROP TABLE and DROP DATABASE do about the keys that reference
//! a table, following CockroachDB.
//!
//! - A foreign key references the primary key or a unique index of a table of the same
//!   database (its columns in any order; 42830 otherwise, 0A000 across databases), with columns
//!   of the same types (42804). `MATCH FULL` and `MATCH SIMPLE` are supported, `MATCH PARTIAL`
//!   and deferrable constraints are not (0A000). `SET NULL` on a NOT NULL column, and `SET
//!   DEFAULT` on a NOT NULL column without a default, are refused up front (42830). What the
//!   actions do to rows is `crate::sql::dml`'s `fk` module.
//! - `TRUNCATE t` fails while another table not being truncated references `t` (0A000, `"t" is
//!   referenced by foreign key from table "c"`); `TRUNCATE ... CASCADE` truncates the
//!   referencing tables too, transitively.
//! - `DROP TABLE t` fails while a table not being dropped references `t` (2BP01, same message);
//!   `DROP TABLE ... CASCADE` drops those foreign-key constraints (not the tables).
//! - `DROP DATABASE d` is `CASCADE` by default: its tables and schemas go, and foreign keys of
//!   other databases' tables referencing them are dropped; `DROP DATABASE d RESTRICT` fails on a
//!   database holding tables or schemas (2BP01 `database "d" is not empty and RESTRICT was
//!   specified`).
//!
//! All of it runs in the statement's transaction.

use std::collections::HashSet;

use super::*;
use crate::sql::catalog::{FkAction, FkMatch, ForeignKeyDesc};

const INVALID_FOREIGN_KEY: SqlState = SqlState("42830");
const DEPENDENT_OBJECTS_STILL_EXIST: SqlState = SqlState("2BP01");

/// Resolves a foreign key `def` of `t` over the columns `cols` (named `name` when given).
pub async fn foreign_key(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    name: Option<String>,
    cols: &[String],
    def: &pg::ForeignKeyConstraint,
) -> Result<ForeignKeyDesc> {
    let target = &def.foreign_table;
    let parent = match resolve_table(ctx, txn, target).await {
        Ok(p) => p,
        // A self-reference in CREATE TABLE: the table is not in the catalog yet.
        Err(e)
            if e.state == SqlState::UNDEFINED_TABLE
                && t.id != 0
                && object_last(target) == t.name =>
        {
            t.clone()
        }
        Err(e) => return Err(e),
    };
    if parent.parent_id != t.parent_id {
        return Err(SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            "foreign references between databases are not allowed",
        ));
    }
    let column_ids = |tab: &TableDesc, names: &[String]| -> Result<Vec<u32>> {
        names
            .iter()
            .map(|c| {
                tab.column(c).map(|x| x.id).ok_or_else(|| {
                    SqlError::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!("column \"{c}\" does not exist"),
                    )
                })
            })
            .collect()
    };
    let ids = column_ids(t, cols)?;
    let ref_cols: Vec<String> = def
        .referred_columns
        .iter()
        .map(|c| normalize(&c.value, c.quote_style.is_some()))
        .collect();
    let ref_ids = if ref_cols.is_empty() {
        parent.primary_key.clone()
    } else {
        column_ids(&parent, &ref_cols)?
    };
    if ids.len() != ref_ids.len() {
        return Err(SqlError::syntax(format!(
            "{} columns must reference exactly {} columns in referenced table (found {})",
            ids.len(),
            ids.len(),
            ref_ids.len()
        )));
    }
    if !is_unique_key(&parent, &ref_ids) {
        return Err(SqlError::new(
            INVALID_FOREIGN_KEY,
            format!(
                "there is no unique constraint matching given keys for referenced table {}",
                parent.name
            ),
        ));
    }
    for (id, rid) in ids.iter().zip(&ref_ids) {
        let (c, p) = (column_of(t, *id)?, column_of(&parent, *rid)?);
        if c.ty != p.ty {
            return Err(SqlError::new(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "type of \"{}\" ({}) does not match foreign key \"{}\".\"{}\" ({})",
                    c.name,
                    c.ty.name(),
                    parent.name,
                    p.name,
                    p.ty.name()
                ),
            ));
        }
    }
    let match_type = match def.match_kind {
        None | Some(pg::ConstraintReferenceMatchKind::Simple) => FkMatch::Simple,
        Some(pg::ConstraintReferenceMatchKind::Full) => FkMatch::Full,
        Some(pg::ConstraintReferenceMatchKind::Partial) => {
            return Err(SqlError::unsupported("MATCH PARTIAL"));
        }
    };
    if let Some(c) = &def.characteristics
        && (c.deferrable == Some(true)
            || c.initially == Some(pg::DeferrableInitial::Deferred)
            || c.enforced == Some(false))
    {
        return Err(SqlError::unsupported(format!(
            "foreign key constraint characteristics {c}"
        )));
    }
    let on_delete = FkAction::from_ast(def.on_delete.as_ref());
    let on_update = FkAction::from_ast(def.on_update.as_ref());
    check_actions(ctx, txn, t, &ids, on_delete, on_update).await?;
    let name = name.unwrap_or_else(|| format!("{}_{}_fkey", t.name, cols.join("_")));
    Ok(ForeignKeyDesc {
        name,
        columns: ids,
        ref_table: parent.id,
        ref_columns: ref_ids,
        on_delete,
        on_update,
        match_type,
    })
}

fn column_of(t: &TableDesc, id: u32) -> Result<&ColumnDesc> {
    t.column_index(id)
        .map(|i| &t.columns[i])
        .ok_or_else(|| SqlError::internal(format!("column {id} missing in {}", t.name)))
}

/// Whether `ids` are, in some order, the primary key or a unique index of `t`.
fn is_unique_key(t: &TableDesc, ids: &[u32]) -> bool {
    let set = |v: &[u32]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    };
    let wanted = set(ids);
    set(&t.primary_key) == wanted
        || t.indexes
            .iter()
            .any(|i| i.unique && set(&i.columns) == wanted)
}

/// CockroachDB refuses `SET NULL` on a NOT NULL column and `SET DEFAULT` on a NOT NULL column
/// without a default (42830), naming the column `db.schema.table.column`.
async fn check_actions(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    ids: &[u32],
    on_delete: FkAction,
    on_update: FkAction,
) -> Result<()> {
    let has = |a: FkAction| on_delete == a || on_update == a;
    for id in ids {
        let c = column_of(t, *id)?;
        if c.nullable {
            continue;
        }
        let problem = if has(FkAction::SetNull) {
            "SET NULL cascading action on column {} which has a NOT NULL constraint"
        } else if has(FkAction::SetDefault) && c.default.is_none() {
            "SET DEFAULT cascading action on column {} which has a NOT NULL constraint and a NULL default expression"
        } else {
            continue;
        };
        let qualified = format!("\"{}\"", qualified_column(ctx, txn, t, &c.name).await?);
        return Err(SqlError::new(
            INVALID_FOREIGN_KEY,
            format!("cannot add a {}", problem.replace("{}", &qualified)),
        ));
    }
    Ok(())
}

/// `db.schema.table.column`.
async fn qualified_column(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    column: &str,
) -> Result<String> {
    let db = ctx
        .catalog
        .databases(txn)
        .await?
        .into_iter()
        .find(|d| d.id == t.parent_id)
        .map_or_else(|| ctx.database.to_string(), |d| d.name);
    let schema = if t.schema_id == 0 {
        "public".to_string()
    } else {
        ctx.catalog
            .schemas(txn, t.parent_id)
            .await?
            .into_iter()
            .find(|s| s.id == t.schema_id)
            .map_or_else(|| "public".to_string(), |s| s.name)
    };
    Ok(format!("{db}.{schema}.{}.{column}", t.name))
}

/// `ALTER TABLE t ADD [CONSTRAINT name] FOREIGN KEY ...`: the existing rows must satisfy it.
pub(super) async fn add_foreign_key(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &mut TableDesc,
    def: &pg::ForeignKeyConstraint,
) -> Result<()> {
    let cols: Vec<String> = def
        .columns
        .iter()
        .map(|c| normalize(&c.value, c.quote_style.is_some()))
        .collect();
    let f = foreign_key(
        ctx,
        txn,
        t,
        def.name.as_ref().map(|n| n.value.clone()),
        &cols,
        def,
    )
    .await?;
    if t.foreign_keys.iter().any(|x| x.columns == f.columns) {
        return Err(SqlError::new(
            SqlState::DUPLICATE_OBJECT,
            "columns cannot be used by multiple foreign key constraints",
        ));
    }
    if t.foreign_keys.iter().any(|x| x.name == f.name) {
        return Err(SqlError::new(
            SqlState::DUPLICATE_OBJECT,
            format!("duplicate constraint name: \"{}\"", f.name),
        ));
    }
    t.foreign_keys.push(f.clone());
    for (n, (_, v)) in txn
        .scan(&table_span(ctx.tenant, t), usize::MAX)
        .await?
        .into_iter()
        .enumerate()
    {
        if n % 1024 == 0 {
            ctx.memory.check()?;
        }
        let r = decode_row(t, &v)?;
        rows::check_foreign_key(ctx, txn, t, &f, &r, "insert").await?;
    }
    Ok(())
}

/// The tables (other than those in `except`) with foreign keys referencing one of `ids`.
async fn referencing(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    ids: &HashSet<u32>,
    except: &HashSet<u32>,
) -> Result<Vec<TableDesc>> {
    Ok(ctx
        .catalog
        .all_tables(txn)
        .await?
        .into_iter()
        .filter(|c| !except.contains(&c.id))
        .filter(|c| c.foreign_keys.iter().any(|f| ids.contains(&f.ref_table)))
        .collect())
}

fn referenced_by(parent: &str, child: &str) -> String {
    format!("\"{parent}\" is referenced by foreign key from table \"{child}\"")
}

/// A unique index that a foreign key of another table relies on (no other unique key of `t`
/// over the same columns) cannot be dropped: 2BP01.
pub(super) async fn check_index_unreferenced(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    idx: &IndexDesc,
) -> Result<()> {
    if !idx.unique {
        return Ok(());
    }
    let mut rest = t.clone();
    rest.indexes.retain(|i| i.id != idx.id);
    let ids = HashSet::from([t.id]);
    for c in referencing(ctx, txn, &ids, &HashSet::new()).await? {
        for f in c.foreign_keys.iter().filter(|f| f.ref_table == t.id) {
            if is_unique_key(t, &f.ref_columns) && !is_unique_key(&rest, &f.ref_columns) {
                return Err(SqlError::new(
                    DEPENDENT_OBJECTS_STILL_EXIST,
                    referenced_by(&idx.name, &c.name),
                ));
            }
        }
    }
    Ok(())
}

/// `TRUNCATE t, ... [CASCADE | RESTRICT]`.
pub async fn truncate(ctx: &Ctx<'_>, txn: &mut Txn, tr: &pg::Truncate) -> Result<QueryResult> {
    let cascade = matches!(tr.cascade, Some(pg::CascadeOption::Cascade));
    let mut tables: Vec<TableDesc> = Vec::new();
    for n in &tr.table_names {
        let t = resolve_table(ctx, txn, &n.name).await?;
        if !tables.iter().any(|x| x.id == t.id) {
            tables.push(t);
        }
    }
    // The referencing tables must be truncated too: named, or added by CASCADE (transitively).
    let mut i = 0;
    while i < tables.len() {
        let ids: HashSet<u32> = HashSet::from([tables[i].id]);
        let taken: HashSet<u32> = tables.iter().map(|t| t.id).collect();
        for c in referencing(ctx, txn, &ids, &taken).await? {
            if !cascade {
                return Err(SqlError::new(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    referenced_by(&tables[i].name, &c.name),
                )
                .with_hint(format!(
                    "Truncate table \"{}\" at the same time, or use TRUNCATE ... CASCADE.",
                    c.name
                )));
            }
            tables.push(c);
        }
        i += 1;
    }
    for t in &tables {
        schema_jobs::check_no_changes(t)?;
        if schema_jobs::is_small(ctx, txn, t).await? {
            for (k, _) in txn.scan(&table_span(ctx.tenant, t), usize::MAX).await? {
                txn.delete(&k)?;
            }
            for idx in &t.indexes {
                delete_index_entries(ctx, txn, t, idx).await?;
            }
            continue;
        }
        // New, empty indexes under new ids; a GC job deletes the old ones.
        let mut old = vec![keys::index_span(ctx.tenant, t.id, t.primary_index())];
        let mut nt = t.clone();
        nt.changes.primary_index = nt.next_index_id;
        nt.next_index_id += 1;
        for idx in &mut nt.indexes {
            old.push(keys::index_span(ctx.tenant, t.id, idx.id));
            idx.id = nt.next_index_id;
            nt.next_index_id += 1;
        }
        ctx.catalog.update_table(txn, &nt)?;
        schema_jobs::enqueue_gc(ctx, txn, format!("table {} (truncated)", t.name), old)?;
    }
    Ok(QueryResult::Command("TRUNCATE".into()))
}

/// Before dropping the tables `dropped`: with `cascade`, drops the foreign keys of other tables
/// that reference them; without, fails (2BP01) if there are any.
pub(super) async fn release_references(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    dropped: &[TableDesc],
    cascade: bool,
) -> Result<()> {
    let ids: HashSet<u32> = dropped.iter().map(|t| t.id).collect();
    for mut c in referencing(ctx, txn, &ids, &ids).await? {
        if !cascade {
            let parent = c
                .foreign_keys
                .iter()
                .find_map(|f| dropped.iter().find(|t| t.id == f.ref_table))
                .map_or_else(String::new, |t| t.name.clone());
            return Err(SqlError::new(
                DEPENDENT_OBJECTS_STILL_EXIST,
                referenced_by(&parent, &c.name),
            )
            .with_hint("Use DROP ... CASCADE to drop the referencing foreign keys too."));
        }
        c.foreign_keys.retain(|f| !ids.contains(&f.ref_table));
        ctx.catalog.update_table(txn, &c)?;
    }
    Ok(())
}

/// `DROP TABLE [IF EXISTS] t, ... [CASCADE | RESTRICT]`.
pub(super) async fn drop_tables(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    names: &[ObjectName],
    if_exists: bool,
    cascade: bool,
) -> Result<QueryResult> {
    let mut tables: Vec<TableDesc> = Vec::new();
    for n in names {
        match resolve_table(ctx, txn, n).await {
            Ok(t) => {
                if !tables.iter().any(|x| x.id == t.id) {
                    tables.push(t);
                }
            }
            Err(e) if if_exists && e.state == SqlState::UNDEFINED_TABLE => {}
            Err(e) => return Err(e),
        }
    }
    release_references(ctx, txn, &tables, cascade).await?;
    for t in &tables {
        drop_table_data(ctx, txn, t).await?;
        ctx.catalog.drop_table(txn, t)?;
    }
    Ok(QueryResult::Command("DROP TABLE".into()))
}

/// `DROP DATABASE [IF EXISTS] d, ... [CASCADE | RESTRICT]` (CASCADE by default).
pub(super) async fn drop_databases(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    names: &[ObjectName],
    if_exists: bool,
    restrict: bool,
) -> Result<QueryResult> {
    for n in names {
        let name = object_last(n);
        let Some(d) = ctx.catalog.database(txn, &name).await? else {
            if if_exists {
                continue;
            }
            return Err(SqlError::new(
                SqlState::INVALID_CATALOG_NAME,
                format!("database \"{name}\" does not exist"),
            ));
        };
        if name == ctx.database {
            return Err(SqlError::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("cannot drop the current database \"{name}\""),
            ));
        }
        let tables = ctx.catalog.tables(txn, d.id).await?;
        if restrict && (!tables.is_empty() || !ctx.catalog.schemas(txn, d.id).await?.is_empty()) {
            return Err(SqlError::new(
                DEPENDENT_OBJECTS_STILL_EXIST,
                format!("database \"{name}\" is not empty and RESTRICT was specified"),
            ));
        }
        release_references(ctx, txn, &tables, true).await?;
        for t in ctx.catalog.drop_database(txn, &d).await? {
            drop_table_data(ctx, txn, &t).await?;
        }
    }
    Ok(QueryResult::Command("DROP DATABASE".into()))
}
