//! Schema changes: CREATE TABLE (with its constraints), DROP, and `ALTER TABLE` (add/drop/rename column, add constraint
//! including foreign keys and a primary key, `ALTER PRIMARY KEY` ([`primary_key`]), rename), `CREATE INDEX` (with backfill) and `DROP INDEX`,
//! `TRUNCATE`, and `ALTER TABLE ... SPLIT AT VALUES` (a real range split). Foreign keys in DDL
//! (declaring them, and what TRUNCATE and DROP do about keys referencing a table) are
//! [`references`].
//!
//! Descriptor changes run in the statement's transaction. Backfills and deletions of a table
//! with at most one batch of rows (`bulkio.index_backfill.batch_size`) do too, so concurrent
//! readers see either the old schema with the old data or the new schema with its indexes
//! filled; on larger tables they are jobs ([`super::schema_jobs`]): write-only indexes
//! backfilled in batches while the table stays online, and GC jobs for dropped data.
//! `ADD COLUMN ... DEFAULT` fills existing rows the same way ([`add_column`]);
//! `ADD CONSTRAINT ... CHECK` still scans every row in the statement's transaction.

use super::catalog::{CheckDesc, ColumnDesc, IndexDesc, Mutation, TableDesc};
use super::error::{Result, SqlError};
use super::exec::{
    Ctx, decode_row, eval_ctx, object_last, object_parts, resolve_table, table_span,
};
use super::schema_jobs;
use crate::storage::keys::Span;
use sqlparser::ast::ObjectName;

/// An index declared in CREATE TABLE: its name, its columns with their directions (`true` for
/// DESC) and whether it is unique.
type PendingIndex = (Option<String>, Vec<(String, bool)>, bool);
/// A foreign key declared in CREATE TABLE: its name, its columns and the declaration.
type PendingFk = (Option<String>, Vec<String>, pg::ForeignKeyConstraint);
use super::expr::{self, normalize};
use super::rows;
use super::session::{Column, QueryResult};
use super::sqlstate::SqlState;
use super::types::{Datum, SqlType};
use super::typmod::TypeMod;
use crate::kv::{Store, Txn};
use crate::storage::keys;
use sqlparser::ast::{self as pg, Expr};

mod add_column;
mod alter_column;
mod create_table;
mod like;
mod primary_key;
mod references;
mod schema;

pub use create_table::create_table;
use create_table::default_check_name;
pub use primary_key::alter_primary_key;
pub use references::{foreign_key, truncate};
pub use schema::{create_schema, drop_schemas};

fn col_names(cols: &[pg::IndexColumn]) -> Vec<String> {
    cols.iter()
        .map(|ic| match &ic.column.expr {
            Expr::Identifier(i) => normalize(&i.value, i.quote_style.is_some()),
            other => other.to_string().to_lowercase(),
        })
        .collect()
}

/// The columns of an index definition with their directions (`true` for DESC). An explicit
/// `NULLS FIRST/LAST` other than the direction's own order (NULLs first ascending, last
/// descending) and `USING <operator>` are 0A000; a column named twice is 42701.
pub(super) fn index_elems(cols: &[pg::IndexColumn]) -> Result<Vec<(String, bool)>> {
    let mut out: Vec<(String, bool)> = Vec::with_capacity(cols.len());
    for (ic, name) in cols.iter().zip(col_names(cols)) {
        let desc = match &ic.column.options.sort {
            None | Some(pg::OrderBySort::Asc) => false,
            Some(pg::OrderBySort::Desc) => true,
            Some(_) => return Err(SqlError::unsupported("USING <operator> in an index column")),
        };
        if let Some(first) = ic.column.options.nulls_first
            && first == desc
        {
            return Err(SqlError::unsupported(format!(
                "NULLS {} in an index on {} column \"{name}\"",
                if first { "FIRST" } else { "LAST" },
                if desc { "a DESC" } else { "an ASC" }
            )));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(SqlError::new(
                SqlState("42701"),
                format!("index contains duplicate column \"{name}\""),
            ));
        }
        out.push((name, desc));
    }
    Ok(out)
}

/// `ALTER TABLE`.
pub async fn alter_table(ctx: &Ctx<'_>, txn: &mut Txn, at: &pg::AlterTable) -> Result<QueryResult> {
    let mut t = match resolve_table(ctx, txn, &at.name).await {
        Ok(t) => t,
        Err(e) if at.if_exists && e.state == SqlState::UNDEFINED_TABLE => {
            return Ok(QueryResult::Command("ALTER TABLE".into()));
        }
        Err(e) => return Err(e),
    };
    if at.operations.iter().any(|op| {
        !matches!(
            op,
            pg::AlterTableOperation::RenameColumn { .. }
                | pg::AlterTableOperation::RenameTable { .. }
        )
    }) {
        schema_jobs::check_no_changes(&t)?;
    }
    for op in &at.operations {
        match op {
            pg::AlterTableOperation::AddColumn {
                if_not_exists,
                column_def,
                ..
            } => add_column::add_column(ctx, txn, &mut t, column_def, *if_not_exists).await?,
            pg::AlterTableOperation::DropColumn {
                column_names,
                if_exists,
                ..
            } => drop_columns(&mut t, column_names, *if_exists)?,
            pg::AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => rename_column(&mut t, old_column_name, new_column_name)?,
            pg::AlterTableOperation::RenameTable { table_name } => {
                rename_table(ctx, txn, &mut t, table_name).await?
            }
            pg::AlterTableOperation::AddConstraint { constraint, .. } => {
                add_constraint(ctx, txn, &mut t, constraint).await?
            }
            pg::AlterTableOperation::DropConstraint {
                name, if_exists, ..
            } => drop_constraint(ctx, txn, &mut t, name, *if_exists).await?,
            pg::AlterTableOperation::AlterColumn { column_name, op } => {
                alter_column::alter_column(ctx, txn, &mut t, column_name, op).await?
            }
            other => return Err(SqlError::unsupported(format!("ALTER TABLE ... {other}"))),
        }
    }
    ctx.catalog.update_table(txn, &t)?;
    Ok(QueryResult::Command("ALTER TABLE".into()))
}

/// `DROP COLUMN`: refused while the primary key, an index or a constraint uses the column.
fn drop_columns(t: &mut TableDesc, column_names: &[pg::Ident], if_exists: bool) -> Result<()> {
    for c in column_names {
        let n = normalize(&c.value, c.quote_style.is_some());
        let Some(col) = t.column(&n).cloned() else {
            if if_exists {
                continue;
            }
            return Err(SqlError::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{n}\" does not exist"),
            ));
        };
        if t.primary_key.contains(&col.id) {
            return Err(SqlError::new(
                SqlState::INVALID_COLUMN_REFERENCE,
                format!("column \"{n}\" is referenced by the primary key"),
            ));
        }
        if t.indexes.iter().any(|i| i.columns.contains(&col.id))
            || t.foreign_keys.iter().any(|f| f.columns.contains(&col.id))
        {
            return Err(SqlError::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("column \"{n}\" is referenced by an index or constraint; drop it first"),
            ));
        }
        // Rows keep the old value under the dropped column id; it is never read again.
        t.columns.retain(|c| c.id != col.id);
    }
    Ok(())
}

/// `RENAME COLUMN old TO new`.
fn rename_column(
    t: &mut TableDesc,
    old_column_name: &pg::Ident,
    new_column_name: &pg::Ident,
) -> Result<()> {
    let old = normalize(
        &old_column_name.value,
        old_column_name.quote_style.is_some(),
    );
    let new = normalize(
        &new_column_name.value,
        new_column_name.quote_style.is_some(),
    );
    if t.column(&new).is_some() {
        return Err(SqlError::new(
            SqlState::DUPLICATE_OBJECT,
            format!("column \"{new}\" already exists"),
        ));
    }
    let c = t
        .columns
        .iter_mut()
        .find(|c| c.name == old)
        .ok_or_else(|| {
            SqlError::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{old}\" does not exist"),
            )
        })?;
    c.name = new;
    Ok(())
}

/// `RENAME TO new`: 42P07 when the name is taken.
async fn rename_table(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &mut TableDesc,
    table_name: &pg::RenameTableNameKind,
) -> Result<()> {
    let (pg::RenameTableNameKind::As(n) | pg::RenameTableNameKind::To(n)) = table_name;
    let new = object_last(n);
    if ctx
        .catalog
        .table(txn, t.namespace_parent(), &new)
        .await?
        .is_some()
    {
        return Err(SqlError::new(
            SqlState::DUPLICATE_TABLE,
            format!("relation \"{new}\" already exists"),
        ));
    }
    ctx.catalog.drop_table(txn, t)?;
    t.name = new;
    ctx.catalog.reinsert_table(txn, t)?;
    Ok(())
}

/// `ADD CONSTRAINT`: FOREIGN KEY, CHECK (validated over the rows), UNIQUE, PRIMARY KEY.
async fn add_constraint(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &mut TableDesc,
    constraint: &pg::TableConstraint,
) -> Result<()> {
    match constraint {
        pg::TableConstraint::ForeignKey(fk) => {
            references::add_foreign_key(ctx, txn, t, fk).await?;
        }
        pg::TableConstraint::Check(ck) => {
            t.checks.push(CheckDesc {
                name: ck.name.as_ref().map_or_else(
                    || default_check_name(&ck.expr.to_string(), &t.checks),
                    |n| n.value.clone(),
                ),
                expr: ck.expr.to_string(),
            });
            for (_, v) in txn.scan(&table_span(ctx.tenant, t), usize::MAX).await? {
                let r = decode_row(t, &v)?;
                rows::check_constraints(ctx, txn, t, &r).await?;
            }
        }
        pg::TableConstraint::Unique(u) => {
            let name = u
                .name
                .as_ref()
                .or(u.index_name.as_ref())
                .map(|n| n.value.clone());
            add_index(ctx, txn, t, name, &index_elems(&u.columns)?, true).await?;
        }
        pg::TableConstraint::PrimaryKey(pk) => {
            primary_key::add_primary_key(ctx, txn, t, &index_elems(&pk.columns)?).await?;
        }
        other => return Err(SqlError::unsupported(format!("ADD CONSTRAINT {other}"))),
    }
    Ok(())
}

/// `DROP CONSTRAINT`: a CHECK, a foreign key, or a UNIQUE index (with its entries).
async fn drop_constraint(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &mut TableDesc,
    name: &pg::Ident,
    if_exists: bool,
) -> Result<()> {
    let n = normalize(&name.value, name.quote_style.is_some());
    let before = t.checks.len() + t.foreign_keys.len() + t.indexes.len();
    t.checks.retain(|c| c.name != n);
    t.foreign_keys.retain(|c| c.name != n);
    let dropped: Vec<IndexDesc> = t
        .indexes
        .iter()
        .filter(|i| i.name == n && i.unique)
        .cloned()
        .collect();
    for i in &dropped {
        references::check_index_unreferenced(ctx, txn, t, i).await?;
        delete_index_entries(ctx, txn, t, i).await?;
    }
    t.indexes.retain(|i| !(i.name == n && i.unique));
    if before == t.checks.len() + t.foreign_keys.len() + t.indexes.len() && !if_exists {
        return Err(SqlError::new(
            SqlState::UNDEFINED_OBJECT,
            format!(
                "constraint \"{n}\" of relation \"{}\" does not exist",
                t.name
            ),
        ));
    }
    Ok(())
}

async fn add_index(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &mut TableDesc,
    name: Option<String>,
    cols: &[(String, bool)],
    unique: bool,
) -> Result<IndexDesc> {
    let mut ids = Vec::with_capacity(cols.len());
    let mut descending = Vec::new();
    for (c, desc) in cols {
        let id = t.column(c).map(|x| x.id).ok_or_else(|| {
            SqlError::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{c}\" does not exist"),
            )
        })?;
        ids.push(id);
        if *desc {
            descending.push(id);
        }
    }
    let names: Vec<&str> = cols.iter().map(|(c, _)| c.as_str()).collect();
    let name = name.unwrap_or_else(|| {
        format!(
            "{}_{}_{}",
            t.name,
            names.join("_"),
            if unique { "key" } else { "idx" }
        )
    });
    if t.indexes.iter().any(|i| i.name == name) {
        return Err(SqlError::new(
            SqlState::DUPLICATE_OBJECT,
            format!("index with name \"{name}\" already exists"),
        ));
    }
    schema_jobs::check_no_changes(t)?;
    let idx = IndexDesc {
        id: t.next_index_id,
        name,
        columns: ids,
        unique,
        descending,
    };
    t.next_index_id += 1;
    if schema_jobs::is_small(ctx, txn, t).await? {
        rows::backfill_index(ctx, txn, t, &idx).await?;
        t.indexes.push(idx.clone());
    } else {
        let description = format!(
            "CREATE {}INDEX {} ON {} ({})",
            if unique { "UNIQUE " } else { "" },
            idx.name,
            t.name,
            names.join(", ")
        );
        schema_jobs::enqueue_backfill(ctx, txn, t, Mutation::Index(idx.clone()), description)?;
    }
    Ok(idx)
}

pub(super) async fn delete_index_entries(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &TableDesc,
    idx: &IndexDesc,
) -> Result<()> {
    for (k, _) in txn
        .scan(&keys::index_span(ctx.tenant, t.id, idx.id), usize::MAX)
        .await?
    {
        txn.delete(&k)?;
    }
    Ok(())
}

/// `CREATE [UNIQUE] INDEX [IF NOT EXISTS] name ON t (cols)`.
pub async fn create_index(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    ci: &pg::CreateIndex,
) -> Result<QueryResult> {
    let mut t = resolve_table(ctx, txn, &ci.table_name).await?;
    let name = ci.name.as_ref().map(object_last);
    if let Some(n) = &name
        && t.indexes.iter().any(|i| i.name == *n)
    {
        if ci.if_not_exists {
            return Ok(QueryResult::Command("CREATE INDEX".into()));
        }
        return Err(SqlError::new(
            SqlState::DUPLICATE_OBJECT,
            format!("index with name \"{n}\" already exists"),
        ));
    }
    add_index(
        ctx,
        txn,
        &mut t,
        name,
        &index_elems(&ci.columns)?,
        ci.unique,
    )
    .await?;
    ctx.catalog.update_table(txn, &t)?;
    Ok(QueryResult::Command("CREATE INDEX".into()))
}

/// `DROP INDEX [IF EXISTS] [t@]name`.
pub async fn drop_index(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    names: &[pg::ObjectName],
    if_exists: bool,
) -> Result<QueryResult> {
    for n in names {
        let full = n.to_string();
        let (table, index) = match full.split_once('@') {
            Some((t, i)) => (Some(t.to_string()), i.to_lowercase()),
            None => (None, object_last(n)),
        };
        let db = ctx
            .catalog
            .database(txn, ctx.database)
            .await?
            .ok_or_else(|| {
                SqlError::new(
                    SqlState::INVALID_CATALOG_NAME,
                    "current database does not exist",
                )
            })?;
        let mut found = None;
        for t in ctx.catalog.tables(txn, db.id).await? {
            if table.as_deref().is_some_and(|x| x.to_lowercase() != t.name) {
                continue;
            }
            if t.indexes.iter().any(|i| i.name == index) {
                found = Some(t);
                break;
            }
        }
        match found {
            Some(mut t) => {
                let idx = t
                    .indexes
                    .iter()
                    .find(|i| i.name == index)
                    .cloned()
                    .ok_or_else(|| SqlError::internal("index vanished"))?;
                references::check_index_unreferenced(ctx, txn, &t, &idx).await?;
                schema_jobs::check_no_changes(&t)?;
                if schema_jobs::is_small(ctx, txn, &t).await? {
                    delete_index_entries(ctx, txn, &t, &idx).await?;
                } else {
                    let span = keys::index_span(ctx.tenant, t.id, idx.id);
                    let what = format!("index {}@{}", t.name, idx.name);
                    schema_jobs::enqueue_gc(ctx, txn, what, vec![span])?;
                }
                t.indexes.retain(|i| i.id != idx.id);
                ctx.catalog.update_table(txn, &t)?;
            }
            None if if_exists => {}
            None => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_OBJECT,
                    format!("index \"{index}\" does not exist"),
                ));
            }
        }
    }
    Ok(QueryResult::Command("DROP INDEX".into()))
}

/// `ALTER TABLE t SPLIT AT VALUES (...)`: splits the range holding each primary-key prefix.
pub async fn split_at(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    store: &Store,
    table: &pg::ObjectName,
    rows_: &[Vec<Expr>],
) -> Result<QueryResult> {
    let t = resolve_table(ctx, txn, table).await?;
    let ectx = eval_ctx(ctx, &[]);
    let mut out = Vec::new();
    for r in rows_ {
        if r.len() > t.primary_key.len() {
            return Err(SqlError::syntax(format!(
                "too many columns in SPLIT AT data: {} > {}",
                r.len(),
                t.primary_key.len()
            )));
        }
        let mut key = keys::index_prefix(ctx.tenant, t.id, t.primary_index());
        for (e, id) in r.iter().zip(&t.primary_key) {
            let i = t
                .column_index(*id)
                .ok_or_else(|| SqlError::internal("pk column"))?;
            let v = expr::eval(e, None, &ectx)?.coerce(t.columns[i].ty)?;
            super::scan::encode_key_column(&t, *id, &v, &mut key)?;
        }
        store.split_at(&key).await?;
        out.push(vec![
            Datum::Bytes(key.clone()),
            Datum::String(keys::pretty(&key)),
            Datum::Null,
        ]);
    }
    Ok(QueryResult::Rows {
        columns: vec![
            Column::new("key", SqlType::Bytes),
            Column::new("pretty", SqlType::String),
            Column::new("split_enforced_until", SqlType::Timestamp),
        ],
        rows: out,
    })
}

/// `DROP TABLE | DATABASE | INDEX ... [CASCADE | RESTRICT]` (schemas: [`drop_schemas`]).
pub async fn drop(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    ty: &pg::ObjectType,
    if_exists: bool,
    names: &[ObjectName],
    (cascade, restrict): (bool, bool),
) -> Result<QueryResult> {
    match ty {
        pg::ObjectType::Table => references::drop_tables(ctx, txn, names, if_exists, cascade).await,
        pg::ObjectType::Database => {
            references::drop_databases(ctx, txn, names, if_exists, restrict).await
        }
        pg::ObjectType::Index => super::ddl::drop_index(ctx, txn, names, if_exists).await,
        other => Err(SqlError::unsupported(format!("DROP {other}"))),
    }
}

async fn delete_span(txn: &mut Txn, span: &Span) -> Result<()> {
    for (k, _) in txn.scan(span, usize::MAX).await? {
        txn.delete(&k)?;
    }
    Ok(())
}

/// Deletes the data of dropped table `t` (every index): in the transaction when it is small,
/// else by a GC job.
async fn drop_table_data(ctx: &Ctx<'_>, txn: &mut Txn, t: &TableDesc) -> Result<()> {
    let span = schema_jobs::whole_table_span(ctx.tenant, t.id);
    if schema_jobs::is_small(ctx, txn, t).await? {
        return delete_span(txn, &span).await;
    }
    schema_jobs::enqueue_gc(ctx, txn, format!("table {}", t.name), vec![span])
}
