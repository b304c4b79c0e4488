//! `ALTER TABLE t ADD PRIMARY KEY (cols)` on a table created without one (pgbench creates its
//! tables that way, then adds the keys after loading them).
//!
//! Such a table is keyed by its hidden `rowid`. As CockroachDB does for these tables, the
//! statement re-keys every row by the new columns and drops `rowid`. A small table (one batch,
//! see [`schema_jobs`]) is rewritten in the statement's transaction: all old primary and index
//! entries are deleted, then every row is written again under the new descriptor. A larger one
//! gets a new primary index (and its secondary indexes new copies, as their entries end with the
//! primary key) built by a backfill job while the table stays online; the job swaps the indexes
//! in one descriptor write and a GC job deletes the old ones. A table that already has a
//! declared primary key gets 42P16; a NULL in a key column 23502; two rows with the same key
//! 23505, and nothing changes.

use super::*;

/// Makes `cols` the primary key of `t` (which must be keyed by the implicit `rowid`).
pub(super) async fn add_primary_key(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &mut TableDesc,
    cols: &[String],
) -> Result<()> {
    let rowid = match t.primary_key.as_slice() {
        [id] => t
            .column_index(*id)
            .filter(|i| t.columns[*i].hidden)
            .ok_or_else(|| multiple_keys(t))?,
        _ => return Err(multiple_keys(t)),
    };
    let mut ids = Vec::with_capacity(cols.len());
    for c in cols {
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
        ids.push(col.id);
    }
    schema_jobs::check_no_changes(t)?;
    if !schema_jobs::is_small(ctx, txn, t).await? {
        let index_id = t.next_index_id;
        let mut indexes = t.indexes.clone();
        for (n, i) in indexes.iter_mut().enumerate() {
            i.id = index_id + 1 + n as u32;
        }
        t.next_index_id = index_id + 1 + indexes.len() as u32;
        let m = Mutation::PrimaryKey {
            index_id,
            columns: ids,
            descending: Vec::new(),
            indexes,
            drop_column: Some(t.columns[rowid].id),
        };
        let description = format!(
            "ALTER TABLE {} ADD PRIMARY KEY ({})",
            t.name,
            cols.join(", ")
        );
        return schema_jobs::enqueue_backfill(ctx, txn, t, m, description);
    }
    let old = t.clone();
    let existing = txn.scan(&table_span(ctx.tenant, &old), usize::MAX).await?;
    for idx in &old.indexes {
        delete_index_entries(ctx, txn, &old, idx).await?;
    }
    let mut rows_out = Vec::with_capacity(existing.len());
    for (k, v) in existing {
        let mut row = decode_row(&old, &v)?;
        txn.delete(&k)?;
        row.remove(rowid);
        rows_out.push(row);
    }
    t.columns.remove(rowid);
    t.primary_key = ids;
    t.descending.clear();
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
