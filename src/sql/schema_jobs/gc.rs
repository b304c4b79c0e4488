//! The `SCHEMA CHANGE GC` job: deletes the keys of dropped tables and indexes, a batch per
//! transaction, recording the remaining spans after each batch (a restart resumes there).
//!
//! Deletions are ordinary MVCC deletes: tombstones that reads at later timestamps see, that
//! rangefeeds deliver (a standby of physical replication deletes the same keys), and that MVCC
//! GC removes with the older versions once they are older than the GC TTL. Nothing reads these
//! spans any more (their descriptors or index ids are gone), so the job never conflicts with
//! statements.

use super::{count_span, pause, retry_transient};
use crate::ids::JobId;
use crate::jobs::{self, GcDetails, JobDetails};
use crate::kv::Store;
use crate::sql::error::Result;
use crate::storage::keys::Span;

/// Keys deleted per transaction.
const GC_BATCH: usize = 10_000;
/// Attempts of one batch on conflicts and unavailable ranges.
const RETRIES: u32 = 50;

/// Runs (or resumes) GC job `id`.
pub(super) async fn run(store: &Store, id: JobId, mut d: GcDetails) -> Result<()> {
    if d.keys_total == 0 && d.keys_done == 0 {
        d.keys_total = retry_transient(|| async {
            let mut txn = store.begin();
            let mut n = 0;
            for (s, e) in &d.spans {
                match count_span(&mut txn, &Span::new(s.clone(), e.clone()), GC_BATCH).await {
                    Ok(c) => n += c,
                    Err(err) => {
                        txn.rollback();
                        return Err(err);
                    }
                }
            }
            txn.rollback();
            Ok(n)
        })
        .await?;
        retry_transient(|| record(store, id, &d)).await?;
    }
    while let Some((s, e)) = d.spans.first().cloned() {
        let (n, next) = delete_batch(store, &Span::new(s, e)).await?;
        d.keys_done += n as u64;
        match next {
            Some(k) => d.spans[0].0 = k,
            None => {
                d.spans.remove(0);
            }
        }
        retry_transient(|| record(store, id, &d)).await?;
    }
    Ok(())
}

async fn record(store: &Store, id: JobId, d: &GcDetails) -> Result<()> {
    let d = d.clone();
    jobs::update(store, id, move |r| {
        r.details = JobDetails::Gc(d.clone());
        Ok(())
    })
    .await?;
    Ok(())
}

/// Deletes up to [`GC_BATCH`] keys at the start of `span` in one transaction: how many, and
/// where the rest starts (`None` when the span is empty now).
async fn delete_batch(store: &Store, span: &Span) -> Result<(usize, Option<Vec<u8>>)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut txn = store.begin();
        let r = async {
            let kvs = txn.scan(span, GC_BATCH).await?;
            for (k, _) in &kvs {
                txn.delete(k)?;
            }
            txn.commit().await?;
            let next = (kvs.len() == GC_BATCH)
                .then(|| kvs.last().map(|(k, _)| Span::point(k).end.0))
                .flatten();
            Ok::<_, crate::kv::KvError>((kvs.len(), next))
        }
        .await;
        match r {
            Err(e)
                if (e.is_retryable() || matches!(e, crate::kv::KvError::Unavailable(_)))
                    && attempt < RETRIES =>
            {
                txn.rollback();
                pause(attempt).await;
            }
            other => {
                if other.is_err() {
                    txn.rollback();
                }
                return Ok(other?);
            }
        }
    }
}
