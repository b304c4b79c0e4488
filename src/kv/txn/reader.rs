//! Scans at a transaction's snapshot, and [`TxnReader`]: a detached reader of one span at a
//! [`Txn`]'s snapshot that a streamed query takes with it.
//!
//! [`scan_at`] is the one scan implementation: it reads committed versions (and waits out or
//! pushes other transactions' intents) at a timestamp on behalf of a transaction id, and merges
//! a write buffer over what it read. [`Txn::scan`] uses it with the transaction's own buffer and
//! records the span it read.
//!
//! A reader ([`Txn::reader`]) reads one span at the transaction's read timestamp, seeing the
//! transaction's writes buffered when it was taken (later writes of the transaction are not
//! seen: a statement sees the state at its start, like a PostgreSQL cursor). The whole span is
//! recorded as read in the transaction when the reader is taken, so a refresh or commit of the
//! transaction checks everything the reader may read, whenever it reads it: the reader's rows
//! are those of a serializable read at the transaction's commit timestamp, or the commit fails
//! with a retryable error. A reader holds no locks and writes nothing; it may outlive its
//! transaction (its reads are then of a snapshot that was already checked or discarded).

use super::{INTENT_WAIT, Result, Txn};
use crate::actors::range::error::RangeError;
use crate::clock::Timestamp;
use crate::ids::TxnId;
use crate::kv::Store;
use crate::storage::keys::Span;
use crate::storage::mvcc::{KeyValue, Limits};
use std::collections::BTreeMap;
use std::time::Instant;

/// Buffered writes: a value, or None for a delete.
pub(super) type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Reads up to `limit` rows of `span` in key order at `ts` as transaction `id`, with `writes`
/// merged over what is read.
pub(super) async fn scan_at(
    store: &Store,
    ts: Timestamp,
    id: TxnId,
    writes: &Writes,
    span: &Span,
    limit: usize,
) -> Result<Vec<KeyValue>> {
    let buffered: Vec<(Vec<u8>, Option<Vec<u8>>)> = writes
        .range(span.start.0.clone()..span.end.0.clone())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let fetch = limit.saturating_add(buffered.len());
    let mut rows: Vec<KeyValue> = Vec::new();
    let mut cursor = span.clone();
    let mut deadline = Instant::now() + INTENT_WAIT;
    while cursor.start < cursor.end && rows.len() < fetch {
        let c = cursor.clone();
        let want = fetch - rows.len();
        let res = store
            .with_replica(c.start.as_bytes(), |r| {
                let c = c.clone();
                async move {
                    let sub = r.part_of(&c)?;
                    let page = r
                        .scan(
                            &sub,
                            ts,
                            Some(id),
                            Limits {
                                max_rows: want,
                                max_bytes: usize::MAX,
                            },
                        )
                        .await?;
                    Ok((page, sub.end))
                }
            })
            .await;
        match res {
            // Resolving a big committed transaction's intents takes as long as it keeps
            // making progress.
            Err(RangeError::WriteIntents { intents }) if Instant::now() < deadline => {
                if store.handle_intents(intents, Some(id)).await? {
                    deadline = Instant::now() + INTENT_WAIT;
                }
            }
            Err(e) => return Err(e.into()),
            Ok((page, end)) => {
                rows.extend(page.rows);
                cursor.start = match page.resume {
                    Some(k) => k.into(),
                    None => end,
                };
            }
        }
    }
    // Merge the write buffer over what was read.
    let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = rows.into_iter().collect();
    let scanned_to = cursor.start.clone();
    for (k, v) in buffered {
        if cursor.start < cursor.end && k.as_slice() >= scanned_to.as_bytes() {
            continue;
        }
        match v {
            Some(v) => merged.insert(k, v),
            None => merged.remove(&k),
        };
    }
    Ok(merged.into_iter().take(limit).collect())
}

/// Reads one span at a transaction's snapshot (see the module docs).
pub struct TxnReader {
    store: Store,
    id: TxnId,
    read_ts: Timestamp,
    span: Span,
    /// The transaction's buffered writes in `span` when the reader was taken.
    writes: Writes,
}

impl std::fmt::Debug for TxnReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnReader")
            .field("txn", &self.id)
            .field("read_ts", &self.read_ts)
            .finish()
    }
}

impl TxnReader {
    /// The timestamp it reads at.
    pub fn read_timestamp(&self) -> Timestamp {
        self.read_ts
    }

    /// Reads up to `limit` rows of `span` (which must lie within the reader's span: the rest is
    /// not read) in key order.
    pub async fn scan(&self, span: &Span, limit: usize) -> Result<Vec<KeyValue>> {
        let start = span.start.clone().max(self.span.start.clone());
        let end = span.end.clone().min(self.span.end.clone());
        if start >= end {
            return Ok(Vec::new());
        }
        let span = Span { start, end };
        scan_at(
            &self.store,
            self.read_ts,
            self.id,
            &self.writes,
            &span,
            limit,
        )
        .await
    }
}

impl Txn {
    /// A reader of `span` at this transaction's snapshot, seeing its writes so far; the whole
    /// span counts as read by the transaction from now on (see the module docs).
    pub fn reader(&mut self, span: &Span) -> Result<TxnReader> {
        self.check_open()?;
        let writes: Writes = self
            .writes
            .range(span.start.0.clone()..span.end.0.clone())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.record_read(span.clone());
        Ok(TxnReader {
            store: self.store.clone(),
            id: self.id,
            read_ts: self.read_ts,
            span: span.clone(),
            writes,
        })
    }
}
