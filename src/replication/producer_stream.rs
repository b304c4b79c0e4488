//! The producer's side of one partition: a rangefeed over the partition's spans turned into
//! encoded [`StreamEvent`]s, the rows of `crdb_internal.stream_partition`.
//!
//! Without a previous replicated time the feed starts with an initial scan at the start time
//! (each key's value as of the start time, written at the start time); otherwise it streams
//! every version above the consumer's replicated time, so a resumed stream needs no new scan.
//! Versions are batched and a batch is flushed when it reaches the requested size or before a
//! checkpoint, so all data at or below a resolved timestamp precedes the checkpoint that
//! resolves it. Checkpoints that arrive together are coalesced into one event.
//!
//! Back-pressure: events go to the SQL connection through a channel of two rows; while the
//! consumer does not read, the task waits, the rangefeed's buffer fills, and the rangefeed
//! re-subscribes from its last checkpoint (catch-up scan) when it overflows — nothing is lost
//! and memory stays bounded. The task ends when the client goes away (the row stream is
//! dropped), when the stream is no longer active (`live` cleared: completed or expired), or
//! when the store stops.

use super::event::{EventBody, ResolvedSpan, StreamEvent};
use super::spec::PartitionSpec;
use crate::actors::range::rangefeed::{RangefeedError, RangefeedEvent};
use crate::kv::Store;
use crate::sql::error::SqlError;
use crate::sql::session::RowStream;
use crate::sql::sqlstate::SqlState;
use crate::sql::types::Datum;
use crate::storage::mvcc::Version;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

type Row = Result<Vec<Datum>, SqlError>;

/// Ends the error of a partition whose leases moved to another node: the consumer then asks
/// for a new stream spec at once instead of reporting a replication error.
pub const REPLAN_HINT: &str = "the partition's leases moved: re-plan the stream";

/// How often the task checks that its stream is still active while idle.
const LIVENESS_CHECK: Duration = Duration::from_millis(500);

fn unix_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Starts streaming `spec` and returns the rows. `stream_id` names the stream in errors.
pub fn start(
    store: Store,
    stream_id: u64,
    spec: PartitionSpec,
    live: Arc<AtomicBool>,
) -> RowStream {
    let (tx, rx) = mpsc::channel::<Row>(2);
    tokio::spawn(async move {
        if let Err(e) = run(store, stream_id, spec, live, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    RowStream(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|row| (row, rx))
    })))
}

struct Emitter<'a> {
    tx: &'a mpsc::Sender<Row>,
    seq: u64,
    compressed: bool,
}

impl Emitter<'_> {
    /// Sends one event; `false` once the client is gone.
    async fn emit(&mut self, body: EventBody) -> bool {
        self.seq += 1;
        let ev = StreamEvent {
            seq: self.seq,
            emit_unix_nanos: unix_nanos(),
            body,
        };
        let row = vec![Datum::Bytes(ev.encode(self.compressed))];
        self.tx.send(Ok(row)).await.is_ok()
    }
}

async fn run(
    store: Store,
    stream_id: u64,
    spec: PartitionSpec,
    live: Arc<AtomicBool>,
    tx: &mpsc::Sender<Row>,
) -> Result<(), SqlError> {
    let (start, initial_scan) = match spec.previous_replicated_ts {
        Some(ts) => (ts, false),
        None => (spec.initial_scan_ts, true),
    };
    let mut feeds: Vec<_> = spec
        .spans
        .iter()
        .map(|s| store.rangefeed(s.clone(), start, initial_scan))
        .collect();
    let mut out = Emitter {
        tx,
        seq: 0,
        compressed: spec.compressed,
    };
    let batch_bytes = spec.batch_bytes.clamp(4 << 10, 64 << 20) as usize;
    let mut batch: Vec<Version> = Vec::new();
    let mut bytes = 0usize;
    let mut resolved: Vec<ResolvedSpan> = Vec::new();
    loop {
        if !live.load(Ordering::Relaxed) {
            return Err(SqlError::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("replication stream {stream_id} is no longer active"),
            ));
        }
        // Wait for the next event of any feed (or a liveness check), then drain what is queued.
        let first = {
            let nexts = feeds.iter_mut().map(|f| Box::pin(f.next()));
            tokio::select! {
                (ev, _, _) = futures::future::select_all(nexts) => Some(ev),
                _ = tokio::time::sleep(LIVENESS_CHECK) => None,
                _ = tx.closed() => return Ok(()),
            }
        };
        let mut pending: Vec<RangefeedEvent> = Vec::new();
        match first {
            Some(Some(ev)) => pending.push(ev),
            Some(None) => {
                return Err(SqlError::new(
                    SqlState::CANNOT_CONNECT_NOW,
                    "the node is shutting down",
                ));
            }
            None => continue,
        }
        while pending.len() < 4096 {
            let before = pending.len();
            for f in feeds.iter_mut() {
                if let Some(ev) = f.try_next() {
                    pending.push(ev);
                }
            }
            if pending.len() == before {
                break;
            }
        }
        for ev in pending {
            match ev {
                RangefeedEvent::Value { key, ts, value } => {
                    bytes += key.len() + value.as_ref().map_or(0, Vec::len) + 16;
                    batch.push(Version { key, ts, value });
                    if bytes >= batch_bytes {
                        if !out.emit(EventBody::Batch(std::mem::take(&mut batch))).await {
                            return Ok(());
                        }
                        bytes = 0;
                    }
                }
                RangefeedEvent::Checkpoint { span, ts } => resolved.push(ResolvedSpan { span, ts }),
                RangefeedEvent::Error {
                    reason: reason @ RangefeedError::LeaseElsewhere(_),
                    ..
                } => {
                    return Err(SqlError::new(
                        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        format!("replication stream {stream_id}: {reason}; {REPLAN_HINT}"),
                    ));
                }
                RangefeedEvent::Error { span, reason } => {
                    tracing::debug!(%reason, ?span, stream_id, "rangefeed registration ended; re-subscribing");
                }
            }
        }
        if !resolved.is_empty() {
            if !batch.is_empty() {
                if !out.emit(EventBody::Batch(std::mem::take(&mut batch))).await {
                    return Ok(());
                }
                bytes = 0;
            }
            if !out
                .emit(EventBody::Checkpoint(std::mem::take(&mut resolved)))
                .await
            {
                return Ok(());
            }
        }
    }
}
