//! Primary-key changes: `ALTER TABLE t ADD PRIMARY KEY (cols)` on a table created without one
//! (pgbench creates its tables that way, then adds the keys after loading them) and CockroachDB's
//! `ALTER TABLE t ALTER PRIMARY KEY USING COLUMNS (cols)`.
//!
//! Both re-key every row by the new columns (with their ASC/DESC directions). What happens to
//! the old key follows CockroachDB: the hidden `rowid` of a table created without a key is
//! dropped (unless a secondary index uses it); a declared key becomes a UNIQUE secondary index
//! `<table>_<columns>_key`, so queries and foreign keys that use it keep working, unless a
//! unique index on exactly those columns exists already. `ALTER PRIMARY KEY` to the current key
//! does nothing.
//!
//! A small table (one batch, see [`schema_jobs`]) is rewritten in the statement's transaction:
//! all old primary and index entries are deleted, then every row is written again under the new
//! descriptor. A larger one gets a new primary index (and its secondary indexes new copies, as
//! their entries end with the primary key) built by a backfill job while the table stays
//! online; the job swaps the indexes in one descriptor write and a GC job deletes the old ones.
//!
//! Errors: `ADD PRIMARY KEY` on a table that has a declared key 42P16; `ALTER PRIMARY KEY` on a
//! nullable column 42P15 (as CockroachDB: `ALTER COLUMN ... SET NOT NULL` first; `ADD PRIMARY
//! KEY` instead accepts nullable columns as PostgreSQL does and makes them NOT NULL); a NULL in
//! a key column 23502; two rows with the same key 23505. On any error nothing changes.

use super::*;

/// The key a change installs.
struct NewKey {
    /// Key column ids, in key order.
    columns: Vec<u32>,
    /// The descending ones.
    descending: Vec<u32>,
    /// The column dropped with the old key (the hidden `rowid`).
    drop_column: Option<u32>,
    /// The old key kept as a unique secondary index (its id is assigned by the change).
    keep_old: Option<IndexDesc>,
}

/// Makes `cols` the primary key of `t` (which must be keyed by the implicit `rowid`).
pub(super) async fn add_primary_key(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &mut TableDesc,
    cols: &[(String, bool)],
) -> Result<()> {
    if implicit_rowid(t).is_none() {
        return Err(multiple_keys(t));
    }
    let (columns, descending) = key_columns(t, cols, false)?;
    let key = NewKey {
        columns,
        descending,
        drop_column: droppable_rowid(t),
        keep_old: None,
    };
    let description = format!("ALTER TABLE {} ADD PRIMARY KEY ({})", t.name, listed(cols));
    change_primary_key(ctx, txn, t, key, description).await
}

/// `ALTER TABLE [IF EXISTS] name ALTER PRIMARY KEY USING COLUMNS (cols)`.
pub async fn alter_primary_key(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    name: &ObjectName,
    if_exists: bool,
    cols: &[(String, bool)],
) -> Result<QueryResult> {
    let done = || Ok(QueryResult::Command("ALTER TABLE".into()));
    let mut t = match resolve_table(ctx, txn, name).await {
        Ok(t) => t,
        Err(e) if if_exists && e.state == SqlState::UNDEFINED_TABLE => return done(),
        Err(e) => return Err(e),
    };
    schema_jobs::check_no_changes(&t)?;
    let (columns, descending) = key_columns(&t, cols, true)?;
    let sorted = |v: &[u32]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    };
    if columns == t.primary_key && sorted(&descending) == sorted(&t.descending) {
        return done();
    }
    let key = if implicit_rowid(&t).is_some() {
        NewKey {
            columns,
            descending,
            drop_column: droppable_rowid(&t),
            keep_old: None,
        }
    } else {
        let keep_old = old_key_index(&t);
        NewKey {
            columns,
            descending,
            drop_column: None,
            keep_old,
        }
    };
    let description = format!(
        "ALTER TABLE {} ALTER PRIMARY KEY USING COLUMNS ({})",
        t.name,
        listed(cols)
    );
    change_primary_key(ctx, txn, &mut t, key, description).await?;
    ctx.catalog.update_table(txn, &t)?;
    done()
}

/// `a, b DESC`.
fn listed(cols: &[(String, bool)]) -> String {
    cols.iter()
        .map(|(c, desc)| {
            if *desc {
                format!("{c} DESC")
            } else {
                c.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The position of the hidden `rowid` when it is `t`'s whole key.
fn implicit_rowid(t: &TableDesc) -> Option<usize> {
    match t.primary_key.as_slice() {
        [id] => t.column_index(*id).filter(|i| t.columns[*i].hidden),
        _ => None,
    }
}

/// The implicit `rowid`'s id, when no secondary index uses it (it then goes with the old key).
fn droppable_rowid(t: &TableDesc) -> Option<u32> {
    let id = t.columns[implicit_rowid(t)?].id;
    (!t.indexes.iter().any(|i| i.columns.contains(&id))).then_some(id)
}

/// The new key's column ids and descending ids. `require_not_null`: nullable columns are
/// refused (42P15) instead of being made NOT NULL.
fn key_columns(
    t: &TableDesc,
    cols: &[(String, bool)],
    require_not_null: bool,
) -> Result<(Vec<u32>, Vec<u32>)> {
    let mut ids = Vec::with_capacity(cols.len());
    let mut descending = Vec::new();
    for (c, desc) in cols {
        let col = t.column(c).filter(|c| !c.hidden).ok_or_else(|| {
            SqlError::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{c}\" does not exist"),
            )
        })?;
        if ids.contains(&col.id) {
            return Err(SqlError::new(
                SqlState("42701"),
                format!("column \"{c}\" appears twice in primary key constraint"),
            ));
        }
        if require_not_null && col.nullable {
            return Err(SqlError::new(
                SqlState("42P15"),
                format!("cannot use nullable column \"{c}\" in primary key"),
            )
            .with_hint(format!(
                "ALTER TABLE {} ALTER COLUMN {c} SET NOT NULL first",
                t.name
            )));
        }
        ids.push(col.id);
        if *desc {
            descending.push(col.id);
        }
    }
    Ok((ids, descending))
}

/// The old declared key as a unique secondary index (id assigned later), `None` when a unique
/// index on exactly those columns exists.
fn old_key_index(t: &TableDesc) -> Option<IndexDesc> {
    let columns = t.primary_key.clone();
    if t.indexes.iter().any(|i| i.unique && i.columns == columns) {
        return None;
    }
    let names: Vec<&str> = columns
        .iter()
        .filter_map(|id| t.column_index(*id).map(|i| t.columns[i].name.as_str()))
        .collect();
    let base = format!("{}_{}_key", t.name, names.join("_"));
    let taken = |n: &str| t.indexes.iter().any(|i| i.name == n);
    let name = std::iter::once(base.clone())
        .chain((1..).map(|n| format!("{base}{n}")))
        .find(|n| !taken(n))
        .unwrap_or(base);
    Some(IndexDesc {
        id: 0,
        name,
        columns,
        unique: true,
        descending: t.descending.clone(),
    })
}

/// Installs `key` on `t`: in this transaction for a small table, else as a backfill job.
async fn change_primary_key(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &mut TableDesc,
    key: NewKey,
    description: String,
) -> Result<()> {
    schema_jobs::check_no_changes(t)?;
    if !schema_jobs::is_small(ctx, txn, t).await? {
        let index_id = t.next_index_id;
        let mut indexes = t.indexes.clone();
        indexes.extend(key.keep_old);
        for (n, i) in indexes.iter_mut().enumerate() {
            i.id = index_id + 1 + n as u32;
        }
        t.next_index_id = index_id + 1 + indexes.len() as u32;
        let m = Mutation::PrimaryKey {
            index_id,
            columns: key.columns,
            descending: key.descending,
            indexes,
            drop_column: key.drop_column,
        };
        return schema_jobs::enqueue_backfill(ctx, txn, t, m, description);
    }
    rewrite_rows(ctx, txn, t, key).await
}

/// The small-table path: every row and index entry deleted and written again under `key`.
async fn rewrite_rows(ctx: &Ctx<'_>, txn: &mut Txn, t: &mut TableDesc, key: NewKey) -> Result<()> {
    let old = t.clone();
    let existing = txn.scan(&table_span(ctx.tenant, &old), usize::MAX).await?;
    for idx in &old.indexes {
        delete_index_entries(ctx, txn, &old, idx).await?;
    }
    let dropped = key.drop_column.and_then(|id| old.column_index(id));
    let mut rows_out = Vec::with_capacity(existing.len());
    for (k, v) in existing {
        let mut row = decode_row(&old, &v)?;
        txn.delete(&k)?;
        if let Some(i) = dropped {
            row.remove(i);
        }
        rows_out.push(row);
    }
    if let Some(i) = dropped {
        t.columns.remove(i);
    }
    t.primary_key = key.columns;
    t.descending = key.descending;
    if let Some(mut idx) = key.keep_old {
        idx.id = t.next_index_id;
        t.next_index_id += 1;
        t.indexes.push(idx);
    }
    for c in &mut t.columns {
        if t.primary_key.contains(&c.id) {
            c.nullable = false;
        }
    }
    t.version += 1;
    for row in rows_out {
        for id in &t.primary_key {
            if let Some(i) = t.column_index(*id)
                && row[i].is_null()
            {
                return Err(SqlError::new(
                    SqlState::NOT_NULL_VIOLATION,
                    format!("column \"{}\" contains null values", t.columns[i].name),
                ));
            }
        }
        let key = super::super::exec::row_key(ctx.tenant, t, &row)?;
        if txn.get(&key).await?.is_some() {
            return Err(SqlError::new(
                SqlState::UNIQUE_VIOLATION,
                format!("could not create unique index \"{}_pkey\"", t.name),
            )
            .with_hint("the table holds rows with equal values in the new key"));
        }
        ctx.memory.charge(std::iter::once(&row))?;
        rows::write_row(ctx, txn, t, None, &row).await?;
    }
    Ok(())
}

fn multiple_keys(t: &TableDesc) -> SqlError {
    SqlError::new(
        SqlState::INVALID_TABLE_DEFINITION,
        format!(
            "multiple primary keys for table \"{}\" are not allowed",
            t.name
        ),
    )
}
