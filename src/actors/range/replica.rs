//! A replica's shared state and request evaluation.
//!
//! [`Replica`] is the handle the KV layer uses: reads are evaluated directly on the caller's task
//! against the store (after waiting out conflicting write latches and recording themselves in
//! the timestamp cache); writes take latches, are evaluated into a [`RaftCommand`] and handed to
//! the [`RangeActor`], which proposes, persists and applies them, and answers after apply. The
//! latches are released when the caller's guard drops, after the answer.
//!
//! [`ReplicaState`] (under one mutex) holds the descriptor, latches, timestamp cache, closed
//! timestamp and the timestamps of unresolved intents. Invariants: no write is evaluated at or
//! below the closed timestamp or a timestamp-cache entry of another transaction, and the resolved
//! timestamp published to rangefeeds is below every in-flight write and unresolved intent.

mod txn_record;

use super::command::{RaftCommand, SplitTrigger};
use super::error::{RangeError, Result};
use super::intent_times::IntentTimes;
use super::latch::{LatchGuard, LatchOwner, LatchSet, wait_then};
use super::live_txns::LiveTxns;
use super::tscache::TimestampCache;
use super::{Propose, RangeActor};
use crate::clock::{Clock, Timestamp};
use crate::ids::{RangeId, TxnId};
use crate::settings::KvSettings;
use crate::storage::fingerprint;
use crate::storage::keys::Span;
use crate::storage::mvcc::{self, KeyValue, Limits, ScanPage, Version};
use crate::storage::records::{Intent, RangeDescriptor, TxnRecord, TxnStatus};
use crate::storage::{Engine, WriteOp};
use actix::Addr;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Notify, oneshot};

/// Intents a read lists at a time (and reports in one conflict).
const INTENT_PAGE: usize = 1024;

/// Mutable state of a replica, shared between the actor and request evaluation.
#[derive(Debug)]
pub struct ReplicaState {
    /// The current descriptor.
    pub desc: RangeDescriptor,
    /// Held latches.
    pub latches: LatchSet,
    /// Read timestamps.
    pub tscache: TimestampCache,
    /// No write is accepted at or below this timestamp.
    pub closed_ts: Timestamp,
    /// Unresolved intents in the range: key → intent timestamp.
    pub intents: IntentTimes,
    /// Approximate bytes written since the range was created or sized.
    pub bytes: u64,
    /// `bytes` as last measured by a size check that did not split the range: the next check
    /// waits until the estimate has grown well past it (a range just under the split size is
    /// not rescanned after every write).
    pub sized_without_split: u64,
    /// Reads below this timestamp are refused: GC may have removed what they would see.
    pub gc_threshold: Timestamp,
    /// Set when the replica stops; every request then fails with `Unavailable`.
    pub stopped: bool,
}

impl ReplicaState {
    /// The highest timestamp below every in-flight write and unresolved intent, capped at the
    /// closed timestamp: what rangefeeds may report as resolved.
    pub fn resolved_ts(&self) -> Timestamp {
        let mut r = self.closed_ts;
        if let Some(t) = self.latches.min_ts() {
            r = r.min(t.prev());
        }
        if let Some(t) = self.intents.min_ts() {
            r = r.min(t.prev());
        }
        r
    }
}

/// State shared by a replica's actor and its callers.
#[derive(Debug)]
pub struct ReplicaShared {
    /// The range.
    pub range_id: RangeId,
    /// Mutable state.
    pub state: Mutex<ReplicaState>,
    /// Woken when a latch is released or the descriptor changes.
    pub notify: Notify,
    /// The raft leader's replica id as this replica last saw it (0: unknown). The leader holds
    /// the range's lease.
    pub leader: std::sync::atomic::AtomicU64,
    /// This replica's id in the group.
    pub replica_id: std::sync::atomic::AtomicU64,
    /// The leader is handing its lease to another replica: it serves nothing meanwhile.
    pub transferring: std::sync::atomic::AtomicBool,
    /// Nodes of peer replicas learned from their messages (replies of a replica whose
    /// descriptor does not list its peers yet: an uninitialised one).
    pub peer_nodes: Mutex<HashMap<u64, crate::ids::NodeId>>,
}

impl LatchOwner for ReplicaShared {
    fn release_latch(&self, id: u64) {
        self.state.lock().latches.remove(id);
        self.notify.notify_waiters();
    }
}

impl ReplicaShared {
    /// Shared state for a replica with `desc`, starting with the timestamp cache and closed
    /// timestamp at `floor`.
    pub fn new(
        desc: RangeDescriptor,
        floor: Timestamp,
        intents: IntentTimes,
        bytes: u64,
    ) -> Arc<ReplicaShared> {
        Arc::new(ReplicaShared {
            range_id: desc.range_id,
            state: Mutex::new(ReplicaState {
                desc,
                latches: LatchSet::default(),
                tscache: TimestampCache::new(floor, 64 * 1024),
                closed_ts: floor,
                intents,
                bytes,
                sized_without_split: 0,
                gc_threshold: Timestamp::MIN,
                stopped: false,
            }),
            notify: Notify::new(),
            leader: Default::default(),
            replica_id: Default::default(),
            transferring: Default::default(),
            peer_nodes: Mutex::new(HashMap::new()),
        })
    }

    /// The current descriptor.
    pub fn desc(&self) -> RangeDescriptor {
        self.state.lock().desc.clone()
    }
}

/// What a transaction writes: key and new value (`None` deletes).
pub type Mutation = (Vec<u8>, Option<Vec<u8>>);

/// Handle to one replica: evaluates requests and proposes writes to its actor.
#[derive(Clone)]
pub struct Replica {
    /// Shared state.
    pub shared: Arc<ReplicaShared>,
    /// The actor owning the raft group.
    pub addr: Addr<RangeActor>,
    engine: Engine,
    clock: Arc<Clock>,
    settings: Arc<KvSettings>,
    /// This node's committing transactions, which pushes never abort.
    live_txns: LiveTxns,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Replica({})", self.shared.range_id)
    }
}

fn check_span(s: &ReplicaState, range: RangeId, spans: &[Span]) -> Result<()> {
    if s.stopped {
        return Err(RangeError::Unavailable {
            range,
            reason: "replica stopped".into(),
        });
    }
    if spans.iter().all(|sp| s.desc.span.contains(sp)) {
        Ok(())
    } else {
        Err(RangeError::KeyMismatch {
            range,
            span: s.desc.span.clone(),
        })
    }
}

fn bounding_span(keys: impl Iterator<Item = Vec<u8>>) -> Option<Span> {
    let mut lo: Option<Vec<u8>> = None;
    let mut hi: Option<Vec<u8>> = None;
    for k in keys {
        if lo.as_ref().is_none_or(|l| &k < l) {
            lo = Some(k.clone());
        }
        if hi.as_ref().is_none_or(|h| &k > h) {
            hi = Some(k);
        }
    }
    Some(Span::point(&hi?).with_start(lo?))
}

/// Above this many keys a write latches one span covering them all instead of a span per key:
/// conflict checks compare every latch span with every other, so a bulk write (COPY, a large
/// INSERT) with a span per key would make them quadratic. The covering span only makes
/// concurrent work between the keys wait for the (short) write.
const MAX_LATCH_POINTS: usize = 32;

/// The latch spans for writing `keys`.
fn latch_spans(keys: &[Vec<u8>]) -> Vec<Span> {
    if keys.len() <= MAX_LATCH_POINTS {
        return keys.iter().map(|k| Span::point(k)).collect();
    }
    bounding_span(keys.iter().cloned()).into_iter().collect()
}

impl Span {
    fn with_start(mut self, start: Vec<u8>) -> Span {
        self.start = start.into();
        self
    }
}

impl Replica {
    /// A handle over a started actor.
    pub fn new(
        shared: Arc<ReplicaShared>,
        addr: Addr<RangeActor>,
        engine: Engine,
        clock: Arc<Clock>,
        settings: Arc<KvSettings>,
        live_txns: LiveTxns,
    ) -> Replica {
        Replica {
            shared,
            addr,
            engine,
            clock,
            settings,
            live_txns,
        }
    }

    /// The range id.
    pub fn range_id(&self) -> RangeId {
        self.shared.range_id
    }

    /// Waits for conflicting writes below `ts`, then records the read in the timestamp cache.
    async fn begin_read(
        &self,
        span: &Span,
        point: bool,
        ts: Timestamp,
        txn: Option<TxnId>,
    ) -> Result<bool> {
        let range = self.shared.range_id;
        wait_then(
            &self.shared.state,
            &self.shared.notify,
            |s| s.stopped || !s.desc.span.contains(span) || !s.latches.read_conflicts(span, ts),
            |s| {
                check_span(s, range, std::slice::from_ref(span))?;
                if ts < s.gc_threshold {
                    return Err(RangeError::BelowGcThreshold {
                        ts,
                        threshold: s.gc_threshold,
                    });
                }
                if point {
                    s.tscache.add_point(span.start.as_bytes(), ts, txn);
                } else {
                    s.tscache.add_span(span, ts, txn);
                }
                Ok(!s.intents.is_empty())
            },
        )
        .await
    }

    /// Takes write latches on `spans` and returns the lowest timestamp a write may use there:
    /// above the closed timestamp and every other transaction's read of `keys`.
    async fn begin_write(
        &self,
        spans: Vec<Span>,
        keys: &[Vec<u8>],
        txn: Option<TxnId>,
        respect_reads: bool,
    ) -> Result<(LatchGuard, Timestamp)> {
        let range = self.shared.range_id;
        let (id, floor) = wait_then(
            &self.shared.state,
            &self.shared.notify,
            |s| {
                s.stopped
                    || !spans.iter().all(|sp| s.desc.span.contains(sp))
                    || !s.latches.write_conflicts(&spans)
            },
            |s| -> Result<(u64, Timestamp)> {
                check_span(s, range, &spans)?;
                let mut floor = Timestamp::MIN;
                if respect_reads {
                    floor = s.closed_ts;
                    floor = floor.max(s.tscache.max_for_keys(keys, txn));
                    for sp in &spans {
                        if keys.is_empty() {
                            floor = floor.max(s.tscache.max_for_span(sp));
                        }
                    }
                }
                let latch_ts = if respect_reads {
                    floor.next()
                } else {
                    Timestamp::MIN
                };
                Ok((s.latches.insert(spans.clone(), latch_ts), floor))
            },
        )
        .await?;
        Ok((LatchGuard::new(self.shared.clone(), id), floor))
    }

    /// Proposes a command and waits until it is applied.
    async fn propose(&self, cmd: RaftCommand) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.addr
            .try_send(Propose { cmd, reply: tx })
            .or_else(|e| match e {
                actix::prelude::SendError::Full(m) => {
                    self.addr.do_send(m);
                    Ok(())
                }
                actix::prelude::SendError::Closed(_) => Err(RangeError::Unavailable {
                    range: self.shared.range_id,
                    reason: "range actor stopped".into(),
                }),
            })?;
        rx.await.map_err(|_| RangeError::Unavailable {
            range: self.shared.range_id,
            reason: "proposal dropped".into(),
        })?
    }

    fn conflicting_intent(
        &self,
        key: &[u8],
        txn: Option<TxnId>,
        read_ts: Option<Timestamp>,
    ) -> Result<Option<Intent>> {
        match mvcc::get_intent(&self.engine, key)? {
            Some(i) if Some(i.txn_id) != txn && read_ts.is_none_or(|ts| i.ts <= ts) => Ok(Some(i)),
            _ => Ok(None),
        }
    }

    /// The value of `key` at `ts` as seen by `txn`.
    pub async fn get(
        &self,
        key: &[u8],
        ts: Timestamp,
        txn: Option<TxnId>,
    ) -> Result<Option<Vec<u8>>> {
        let range = self.shared.range_id;
        // The point-read fast path: no span allocation, one lock, the newest-version cache.
        let has_intents = wait_then(
            &self.shared.state,
            &self.shared.notify,
            |s| {
                s.stopped
                    || !s.desc.span.contains_key(key)
                    || !s.latches.read_conflicts_key(key, ts)
            },
            |s| {
                if s.stopped || !s.desc.span.contains_key(key) {
                    return check_span(s, range, &[Span::point(key)]).map(|_| false);
                }
                if ts < s.gc_threshold {
                    return Err(RangeError::BelowGcThreshold {
                        ts,
                        threshold: s.gc_threshold,
                    });
                }
                s.tscache.add_point(key, ts, txn);
                Ok(!s.intents.is_empty())
            },
        )
        .await?;
        if has_intents && let Some(i) = self.conflicting_intent(key, txn, Some(ts))? {
            return Err(RangeError::WriteIntents {
                intents: vec![(key.to_vec(), i)],
            });
        }
        Ok(mvcc::get(&self.engine, key, ts)?)
    }

    /// Visible rows of `span` at `ts` as seen by `txn`.
    pub async fn scan(
        &self,
        span: &Span,
        ts: Timestamp,
        txn: Option<TxnId>,
        limits: Limits,
    ) -> Result<ScanPage<KeyValue>> {
        if !self.begin_read(span, false, ts, txn).await? {
            return Ok(mvcc::scan(&self.engine, span, ts, limits)?);
        }
        // Intents are listed before the rows are read: one written later lands above `ts`
        // (the read is in the timestamp cache), so the list holds every intent the rows could
        // show. Only those before the page's end matter: a page of the first rows of a span
        // holding a large transaction's unresolved intents must not wait for all of them.
        let found = mvcc::scan_intents(&self.engine, span, INTENT_PAGE)?;
        let blocking = |i: &Intent| Some(i.txn_id) != txn && i.ts <= ts;
        let Some(first) = found.iter().position(|(_, i)| blocking(i)) else {
            // Every intent of `read` is in `found`, and none is in the way.
            let mut read = span.clone();
            if found.len() == INTENT_PAGE
                && let Some((k, _)) = found.last()
            {
                read.end = Span::point(k).end;
            }
            let mut page = mvcc::scan(&self.engine, &read, ts, limits)?;
            if page.resume.is_none() && read.end < span.end {
                page.resume = Some(read.end.0);
            }
            return Ok(page);
        };
        let upto = Span {
            start: span.start.clone(),
            end: Span::point(&found[first].0).end,
        };
        let page = mvcc::scan(&self.engine, &upto, ts, limits)?;
        if page.resume.is_some() {
            // The page is full before the first intent in the way.
            return Ok(page);
        }
        let intents: Vec<_> = found.into_iter().filter(|(_, i)| blocking(i)).collect();
        Err(RangeError::WriteIntents { intents })
    }

    /// Every version in `span` with `after < ts <= upto` (an export; records a read at `upto`).
    pub async fn scan_versions(
        &self,
        span: &Span,
        after: Timestamp,
        upto: Timestamp,
        limits: Limits,
    ) -> Result<ScanPage<Version>> {
        self.begin_read(span, false, upto, None).await?;
        let intents: Vec<_> = mvcc::scan_intents(&self.engine, span, 1024)?
            .into_iter()
            .filter(|(_, i)| i.ts <= upto)
            .collect();
        if !intents.is_empty() {
            return Err(RangeError::WriteIntents { intents });
        }
        Ok(mvcc::scan_versions(
            &self.engine,
            span,
            after,
            upto,
            limits,
        )?)
    }

    /// The fingerprint of `span` at `ts` (see [`fingerprint::fingerprint`]).
    pub async fn fingerprint(
        &self,
        span: &Span,
        ts: Timestamp,
        since: Option<Timestamp>,
    ) -> Result<u64> {
        self.begin_read(span, false, ts, None).await?;
        let intents: Vec<_> = mvcc::scan_intents(&self.engine, span, 1024)?
            .into_iter()
            .filter(|(_, i)| i.ts <= ts)
            .collect();
        if !intents.is_empty() {
            return Err(RangeError::WriteIntents { intents });
        }
        Ok(fingerprint::fingerprint(&self.engine, span, ts, since)?)
    }

    /// Checks that nothing was written in `spans` in `(from, to]` by anyone but `txn`, and records
    /// reads at `to` so nothing can be written there later below `to`.
    pub async fn refresh(
        &self,
        spans: &[Span],
        from: Timestamp,
        to: Timestamp,
        txn: TxnId,
    ) -> Result<()> {
        for span in spans {
            self.begin_read(span, false, to, Some(txn)).await?;
            if let Some((k, _)) = mvcc::scan_intents(&self.engine, span, 1024)?
                .into_iter()
                .find(|(_, i)| i.txn_id != txn && i.ts <= to)
            {
                return Err(RangeError::RefreshFailed { key: k });
            }
            if mvcc::has_versions_in(&self.engine, span, from, to)? {
                return Err(RangeError::RefreshFailed {
                    key: span.start.0.clone(),
                });
            }
        }
        Ok(())
    }

    /// Evaluates a transaction's writes at or above `ts`: returns the timestamp they can be
    /// written at, or a conflict.
    fn evaluate_writes(
        &self,
        writes: &[Mutation],
        txn: TxnId,
        mut ts: Timestamp,
    ) -> Result<Timestamp> {
        let mut conflicts = Vec::new();
        for (k, _) in writes {
            if let Some(i) = self.conflicting_intent(k, Some(txn), None)? {
                conflicts.push((k.clone(), i));
                continue;
            }
            if let Some(newest) = mvcc::newest_version_ts(&self.engine, k)?
                && newest >= ts
            {
                ts = newest.next();
            }
        }
        if !conflicts.is_empty() {
            return Err(RangeError::WriteIntents { intents: conflicts });
        }
        Ok(ts)
    }

    /// Commits a transaction whose writes all live in this range in one raft command (no intents,
    /// no transaction record). With `can_bump` false a needed timestamp increase is returned as
    /// [`RangeError::NeedsRefresh`] and nothing is written.
    pub async fn commit_one_phase(
        &self,
        txn: TxnId,
        ts: Timestamp,
        writes: Vec<Mutation>,
        can_bump: bool,
    ) -> Result<Timestamp> {
        let keys: Vec<Vec<u8>> = writes.iter().map(|(k, _)| k.clone()).collect();
        let spans = latch_spans(&keys);
        let (_guard, floor) = self.begin_write(spans, &keys, Some(txn), true).await?;
        let start = ts.max(floor.next());
        let write_ts = self.evaluate_writes(&writes, txn, start)?;
        if write_ts != ts && !can_bump {
            return Err(RangeError::NeedsRefresh { ts: write_ts });
        }
        let ops = writes
            .into_iter()
            .map(|(key, value)| WriteOp::PutVersion {
                key,
                ts: write_ts,
                value,
            })
            .collect();
        self.propose(RaftCommand { ops, split: None }).await?;
        Ok(write_ts)
    }

    /// Writes intents for `writes` (and, if given, the pending transaction record at the anchor,
    /// which must be in this range). Returns the timestamp the intents were written at.
    pub async fn write_intents(
        &self,
        txn: TxnId,
        ts: Timestamp,
        anchor: &[u8],
        writes: Vec<Mutation>,
        record: Option<TxnRecord>,
    ) -> Result<Timestamp> {
        let keys: Vec<Vec<u8>> = writes.iter().map(|(k, _)| k.clone()).collect();
        let mut spans: Vec<Span> = latch_spans(&keys);
        if record.is_some() {
            spans.push(Span::point(anchor));
        }
        let (_guard, floor) = self.begin_write(spans, &keys, Some(txn), true).await?;
        if record.is_some()
            && let Some(r) = mvcc::get_txn_record(&self.engine, anchor, txn)?
            && r.status != TxnStatus::Pending
        {
            // A pusher found an intent of this transaction without a record and aborted it.
            return Err(RangeError::TxnAborted(format!("record is {:?}", r.status)));
        }
        let write_ts = self.evaluate_writes(&writes, txn, ts.max(floor.next()))?;
        let mut ops: Vec<WriteOp> = writes
            .into_iter()
            .map(|(key, value)| WriteOp::PutIntent {
                key,
                intent: Intent {
                    txn_id: txn,
                    ts: write_ts,
                    value,
                    anchor: anchor.to_vec().into(),
                },
            })
            .collect();
        if let Some(mut r) = record {
            r.ts = r.ts.max(write_ts);
            // The record's heartbeat starts when it is written, not when the commit began.
            r.heartbeat_wall = r.heartbeat_wall.max(self.clock.now().wall);
            ops.push(WriteOp::PutTxnRecord {
                anchor: anchor.to_vec(),
                record: r,
            });
        }
        self.propose(RaftCommand { ops, split: None }).await?;
        Ok(write_ts)
    }

    /// Resolves `txn`'s intents on `keys`: committed ones become versions at `commit_ts`,
    /// aborted ones disappear. Keys without an intent of `txn` are skipped.
    pub async fn resolve_intents(
        &self,
        txn: TxnId,
        keys: Vec<Vec<u8>>,
        status: TxnStatus,
        commit_ts: Timestamp,
    ) -> Result<()> {
        let spans = latch_spans(&keys);
        let (_guard, _) = self.begin_write(spans, &[], Some(txn), false).await?;
        let mut ops = Vec::new();
        for key in keys {
            let Some(intent) = mvcc::get_intent(&self.engine, &key)? else {
                continue;
            };
            if intent.txn_id != txn {
                continue;
            }
            if status == TxnStatus::Committed {
                ops.push(WriteOp::PutVersion {
                    key: key.clone(),
                    ts: commit_ts,
                    value: intent.value,
                });
            }
            ops.push(WriteOp::DeleteIntent { key });
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.propose(RaftCommand { ops, split: None }).await
    }

    /// Writes MVCC versions with their given timestamps, bypassing transactions (bulk ingest for
    /// physical replication into an offline tenant).
    pub async fn ingest(&self, versions: &[Version]) -> Result<()> {
        let lo = versions.iter().map(|v| &v.key).min();
        let hi = versions.iter().map(|v| &v.key).max();
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ok(());
        };
        let span = Span::point(hi).with_start(lo.clone());
        let (_guard, _) = self.begin_write(vec![span], &[], None, false).await?;
        let ops = versions
            .iter()
            .map(|v| WriteOp::PutVersion {
                key: v.key.clone(),
                ts: v.ts,
                value: v.value.clone(),
            })
            .collect();
        self.propose(RaftCommand { ops, split: None }).await
    }

    /// Plain writes at the current time without a transaction (for meta records).
    pub async fn put_inline(&self, writes: Vec<Mutation>) -> Result<Timestamp> {
        let txn = TxnId::random();
        let ts = self.clock.now();
        self.commit_one_phase(txn, ts, writes, true).await
    }

    /// Deletes up to `max_ops` versions (and intents) in `span` above `ts`; returns where to
    /// continue, or `None` when the span holds nothing above `ts` any more.
    pub async fn revert(
        &self,
        span: &Span,
        ts: Timestamp,
        max_ops: usize,
    ) -> Result<Option<Vec<u8>>> {
        let (_guard, _) = self
            .begin_write(vec![span.clone()], &[], None, false)
            .await?;
        let page = mvcc::scan_versions(
            &self.engine,
            span,
            ts,
            Timestamp::MAX,
            Limits {
                max_rows: max_ops,
                max_bytes: usize::MAX,
            },
        )?;
        let mut ops: Vec<WriteOp> = page
            .rows
            .into_iter()
            .map(|v| WriteOp::DeleteVersion {
                key: v.key,
                ts: v.ts,
            })
            .collect();
        for (key, intent) in mvcc::scan_intents(&self.engine, span, max_ops)? {
            if intent.ts > ts {
                ops.push(WriteOp::DeleteIntent { key });
            }
        }
        if !ops.is_empty() {
            self.propose(RaftCommand { ops, split: None }).await?;
        }
        Ok(page.resume)
    }

    /// Garbage-collects versions in `span` no read at or above `threshold` can see: for each
    /// key, everything older than its newest version at or below `threshold`, and that version
    /// too if it is a tombstone. Returns where to continue and how many versions were removed.
    pub async fn gc(
        &self,
        span: &Span,
        threshold: Timestamp,
        max_ops: usize,
    ) -> Result<(Option<Vec<u8>>, usize)> {
        let (_guard, _) = self
            .begin_write(vec![span.clone()], &[], None, false)
            .await?;
        let page = mvcc::scan_all_versions(
            &self.engine,
            span,
            Limits {
                max_rows: max_ops,
                max_bytes: usize::MAX,
            },
        )?;
        let mut ops = Vec::new();
        let mut i = 0;
        let rows = page.rows;
        while i < rows.len() {
            let key = &rows[i].key;
            let mut j = i;
            while j < rows.len() && rows[j].key == *key {
                j += 1;
            }
            // rows[i..j] are the versions of one key, newest first.
            if let Some(p) = (i..j).find(|&p| rows[p].ts <= threshold) {
                let from = if rows[p].value.is_none() { p } else { p + 1 };
                for v in &rows[from..j] {
                    ops.push(WriteOp::DeleteVersion {
                        key: v.key.clone(),
                        ts: v.ts,
                    });
                }
            }
            i = j;
        }
        let n = ops.len();
        if !ops.is_empty() {
            self.propose(RaftCommand { ops, split: None }).await?;
        }
        Ok((page.resume, n))
    }

    /// Splits the range at `key` into itself (left) and a new range `right_id`; returns both new
    /// descriptors. Writes are held back only while the split command applies.
    pub async fn split(
        &self,
        key: &[u8],
        right_id: RangeId,
    ) -> Result<(RangeDescriptor, RangeDescriptor, Timestamp)> {
        let desc = self.shared.desc();
        if !desc.span.contains_key(key) || key == desc.span.start.as_bytes() {
            return Err(RangeError::KeyMismatch {
                range: desc.range_id,
                span: desc.span,
            });
        }
        let (_guard, _) = self
            .begin_write(vec![desc.span.clone()], &[], None, false)
            .await?;
        let desc = self.shared.desc();
        if !desc.span.contains_key(key) || key == desc.span.start.as_bytes() {
            return Err(RangeError::KeyMismatch {
                range: desc.range_id,
                span: desc.span,
            });
        }
        let mut left = desc.clone();
        left.span.end = key.to_vec().into();
        left.generation += 1;
        let right = RangeDescriptor {
            range_id: right_id,
            span: Span {
                start: key.to_vec().into(),
                end: desc.span.end.clone(),
            },
            replicas: desc.replicas.clone(),
            generation: left.generation,
        };
        let floor = {
            let s = self.shared.state.lock();
            s.tscache.max_for_span(&right.span).max(s.closed_ts)
        };
        self.propose(RaftCommand {
            ops: vec![],
            split: Some(SplitTrigger {
                left: left.clone(),
                right: right.clone(),
            }),
        })
        .await?;
        Ok((left, right, floor))
    }
}
