//! The `SCHEMA CHANGE` job: backfills a write-only [`Mutation`] batch by batch, validates it and
//! makes it public.
//!
//! 1. Each batch is one transaction: it reads the next `batch` rows of the primary index (from
//!    the key recorded after the previous batch) and writes their entries in the mutation's
//!    index (for a new column, the rows again with the column's default). Concurrent writers maintain the same entries, so a batch and a writer touching one
//!    row conflict like any two transactions (one retries). Every step (the count, each batch,
//!    the progress records, validation, the swap) is also retried, with a growing pause (up to
//!    ~40 s in all), when a range cannot serve it in time (a lease moving, an overloaded node:
//!    58C00). The cursor and counts are recorded after each batch: an interrupted job resumes
//!    from the last one.
//! 2. Validation, at one timestamp: a unique index (or the new primary index) must hold as
//!    many entries as the table has rows, else two rows had equal keys (23505).
//! 3. The swap, one transaction: the mutation leaves the descriptor's write-only list and
//!    becomes public (a new primary key replaces the old one: its rows and secondary indexes
//!    are now the new ones, `rowid` is dropped, and a GC job deletes the old index spans).
//!
//! On failure (duplicate or NULL keys) the mutation is removed from the descriptor and a GC job
//! deletes what was written, so the table is as before the statement. A table dropped meanwhile
//! ends the job successfully (its GC job deletes everything).

use super::{
    BATCH_RETRIES, batch_size_in, count_span, enqueue_gc, job_ctx, pause, retry_transient,
};
use crate::ids::JobId;
use crate::jobs::{self, JobDetails, SchemaChangeDetails};
use crate::kv::{Store, Txn};
use crate::sql::catalog::{Mutation, TableDesc};
use crate::sql::error::{Result, SqlError};
use crate::sql::exec::{decode_row, table_span};
use crate::sql::rows;
use crate::sql::sqlstate::SqlState;
use crate::storage::keys::{Span, index_span};

/// Runs (or resumes) the backfill of job `id`.
pub(super) async fn run(store: &Store, id: JobId, mut d: SchemaChangeDetails) -> Result<()> {
    let ctx = job_ctx(d.tenant);
    let batch = retry_transient(|| async {
        let mut txn = store.begin();
        let b = batch_size_in(&ctx.catalog, &mut txn).await;
        txn.rollback();
        b
    })
    .await?;
    if d.rows_total == 0 && d.resume.is_none() {
        let total = retry_transient(|| async {
            let mut txn = store.begin();
            let r = async {
                let Some((t, _)) = load(&ctx, &mut txn, &d).await? else {
                    return Ok(None);
                };
                count_span(&mut txn, &table_span(d.tenant, &t), batch)
                    .await
                    .map(Some)
            }
            .await;
            txn.rollback();
            r
        })
        .await?;
        let Some(n) = total else {
            return Ok(());
        };
        d.rows_total = n;
        retry_transient(|| record(store, id, &d)).await?;
    }
    let r = async {
        while !d.backfilled {
            let Some(n) = one_batch(store, &mut d, batch).await? else {
                return Ok(false);
            };
            d.rows_done += n as u64;
            d.backfilled = n < batch;
            retry_transient(|| record(store, id, &d)).await?;
        }
        retry_transient(|| validate(store, &d, batch))
            .await
            .map(|_| true)
    }
    .await;
    match r {
        Ok(true) => swap(store, &d).await,
        Ok(false) => Ok(()),
        Err(e) => {
            abandon(store, &d).await?;
            Err(e)
        }
    }
}

async fn record(store: &Store, id: JobId, d: &SchemaChangeDetails) -> Result<()> {
    let d = d.clone();
    jobs::update(store, id, move |r| {
        r.details = JobDetails::SchemaChange(d.clone());
        Ok(())
    })
    .await?;
    Ok(())
}

/// The table and its mutation, `None` when either is gone (dropped, or already swapped).
async fn load(
    ctx: &crate::sql::exec::Ctx<'_>,
    txn: &mut Txn,
    d: &SchemaChangeDetails,
) -> Result<Option<(TableDesc, Mutation)>> {
    let Some(t) = ctx.catalog.table_by_id(txn, d.table_id).await? else {
        return Ok(None);
    };
    let m = t
        .changes
        .mutations
        .iter()
        .find(|m| m.index_id() == d.index_id)
        .cloned();
    Ok(m.map(|m| (t, m)))
}

/// One batch in its own transaction (retried on conflicts): the rows it covered, `None` when
/// the job has nothing left to do. Advances `d.resume`.
async fn one_batch(
    store: &Store,
    d: &mut SchemaChangeDetails,
    batch: usize,
) -> Result<Option<usize>> {
    let ctx = job_ctx(d.tenant);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut txn = store.begin();
        let r = async {
            let Some((t, m)) = load(&ctx, &mut txn, d).await? else {
                return Ok(None);
            };
            let mut span = table_span(d.tenant, &t);
            if let Some(k) = &d.resume {
                span.start = k.clone().into();
            }
            let kvs = txn.scan(&span, batch).await?;
            let mut rows_ = Vec::with_capacity(kvs.len());
            for (_, v) in &kvs {
                rows_.push(decode_row(&t, v)?);
            }
            rows::backfill_rows(&ctx, &mut txn, &t, &m, &rows_)?;
            txn.commit().await?;
            Ok::<_, SqlError>(Some((
                kvs.len(),
                kvs.last().map(|(k, _)| Span::point(k).end.0),
            )))
        }
        .await;
        match r {
            Ok(Some((n, last))) => {
                if let Some(k) = last {
                    d.resume = Some(k);
                }
                return Ok(Some(n));
            }
            Ok(None) => {
                txn.rollback();
                return Ok(None);
            }
            Err(e) if e.is_transient() && attempt < BATCH_RETRIES => {
                txn.rollback();
                if !e.is_retryable() {
                    // Conflicts with writers are expected; a range that cannot serve is not.
                    tracing::warn!(attempt, "backfill batch failed, retrying: {}", e.message);
                }
                pause(attempt).await;
            }
            Err(e) => {
                txn.rollback();
                return Err(e);
            }
        }
    }
}

/// Unique entries (or the new primary index) must be as many as the rows.
async fn validate(store: &Store, d: &SchemaChangeDetails, batch: usize) -> Result<()> {
    let ctx = job_ctx(d.tenant);
    let mut txn = store.begin();
    let r = async {
        let Some((t, m)) = load(&ctx, &mut txn, d).await? else {
            return Ok(());
        };
        let what = match &m {
            Mutation::Index(i) if i.unique => format!("unique index \"{}\"", i.name),
            Mutation::Index(_) | Mutation::Column { .. } => return Ok(()),
            Mutation::PrimaryKey { .. } => format!("unique index \"{}_pkey\"", t.name),
        };
        let rows_ = count_span(&mut txn, &table_span(d.tenant, &t), batch).await?;
        let entries =
            count_span(&mut txn, &index_span(d.tenant, t.id, m.index_id()), batch).await?;
        if rows_ != entries {
            return Err(SqlError::new(
                SqlState::UNIQUE_VIOLATION,
                format!("could not create {what}: duplicate key"),
            )
            .with_hint("the table holds rows with equal values in the new key"));
        }
        Ok(())
    }
    .await;
    txn.rollback();
    r
}

/// Runs `f` on the table in a transaction (retried on conflicts) and writes the descriptor.
async fn change_descriptor<F>(store: &Store, d: &SchemaChangeDetails, f: F) -> Result<()>
where
    F: Fn(&crate::sql::exec::Ctx<'_>, &mut Txn, &mut TableDesc, Mutation) -> Result<()>,
{
    let ctx = job_ctx(d.tenant);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut txn = store.begin();
        let r = async {
            let Some((mut t, m)) = load(&ctx, &mut txn, d).await? else {
                return Ok(());
            };
            t.changes.mutations.retain(|x| x.index_id() != d.index_id);
            f(&ctx, &mut txn, &mut t, m)?;
            ctx.catalog.update_table(&mut txn, &t)?;
            txn.commit().await?;
            Ok::<_, SqlError>(())
        }
        .await;
        match r {
            Err(e) if e.is_transient() && attempt < BATCH_RETRIES => {
                txn.rollback();
                pause(attempt).await;
            }
            other => {
                txn.rollback();
                // The GC jobs the change recorded run now (nobody waits for them).
                for (id, _) in ctx.jobs.take() {
                    if other.is_ok() {
                        super::start(store, id);
                    }
                }
                return other;
            }
        }
    }
}

/// Makes the mutation public.
async fn swap(store: &Store, d: &SchemaChangeDetails) -> Result<()> {
    change_descriptor(store, d, |ctx, txn, t, m| {
        match m {
            Mutation::Index(i) => t.indexes.push(i),
            Mutation::Column { column, .. } => t.columns.push(column),
            Mutation::PrimaryKey {
                index_id,
                columns,
                descending,
                indexes,
                drop_column,
            } => {
                let mut old = vec![index_span(ctx.tenant, t.id, t.primary_index())];
                old.extend(t.indexes.iter().map(|i| index_span(ctx.tenant, t.id, i.id)));
                enqueue_gc(ctx, txn, format!("the old primary key of {}", t.name), old)?;
                t.changes.primary_index = index_id;
                t.primary_key = columns;
                t.descending = descending;
                t.indexes = indexes;
                if let Some(c) = drop_column {
                    t.columns.retain(|x| x.id != c);
                }
                for c in &mut t.columns {
                    if t.primary_key.contains(&c.id) {
                        c.nullable = false;
                    }
                }
            }
        }
        Ok(())
    })
    .await
}

/// Removes the mutation and deletes what it wrote.
async fn abandon(store: &Store, d: &SchemaChangeDetails) -> Result<()> {
    change_descriptor(store, d, |ctx, txn, t, m| {
        let spans = m
            .index_ids()
            .into_iter()
            .map(|i| index_span(ctx.tenant, t.id, i))
            .collect();
        enqueue_gc(
            ctx,
            txn,
            format!("an abandoned change of {}", t.name),
            spans,
        )
    })
    .await
}
