//! KV transactions: serializable, atomic across ranges.
//!
//! A [`Txn`] reads at its read timestamp and buffers its writes until commit (reads see the
//! buffer first). Commit:
//!
//! - all writes in one range: a one-phase commit, one raft command, no intents;
//! - otherwise: intents plus a pending transaction record at the anchor (first key) range and
//!   the intents in the other ranges, all in one round, then the record is flipped to
//!   committed (the commit point), and the intents are resolved in the background. Readers
//!   that meet an intent push the owner's record: committed → resolve, aborted → discard,
//!   pending → wait, abandoned (no heartbeat within `kv.transaction.abandoned_after`, and not
//!   committing on the anchor's node) → abort it; a missing record (not written yet, or removed
//!   after resolution) is pending while the intent is younger than that, else the push writes
//!   an aborted record that the committer's own record write then fails on (so a transaction
//!   older than half the expiry, whose intents look old at once, writes its record alone
//!   first). While a two-phase commit runs, its coordinator registers it in the node's
//!   [`LiveTxns`] and heartbeats the record every [`KvSettings::txn_heartbeat_interval`] from
//!   the start of the commit (a first round that writes a big COPY takes minutes), so a
//!   long commit is not taken for abandoned by each node's stale-intent sweeper, which pushes
//!   intents older than [`KvSettings::stale_intent_age`]. The registry is what protects a commit
//!   whose heartbeat is late because the node is busy applying its own intents.
//!
//! A write or the commit that a range cannot serve for a while (its lease moving) is sent
//! again (both are idempotent); a commit whose outcome stays unknown fails with
//! [`KvError::Ambiguous`] (40003) and leaves its intents to be resolved by the record, and an
//! abort that cannot confirm the record aborted leaves them too.
//!
//! Serializability: a write lands above every other transaction's read of its key (timestamp
//! cache) and above the newest committed version. If that pushes the commit timestamp above the
//! read timestamp, the transaction refreshes: it checks that nothing it read changed in between;
//! if something did, it fails with [`KvError::Retryable`] (SQLSTATE 40001) and leaves nothing
//! behind. Intent conflicts while committing are waited out briefly, then the committer aborts
//! itself (no deadlocks).
//!
//! Row locks (SELECT FOR UPDATE / FOR SHARE, UPDATE, DELETE) and the restartable statements that
//! re-run after a lock wait are in `txn/locking.rs`; the scan itself, and the detached readers
//! of a span at the transaction's snapshot that streamed queries take with them
//! ([`TxnReader`]), in `txn/reader.rs`.

use super::Store;
use super::error::{KvError, Result};
use crate::actors::range::error::RangeError;
use crate::actors::range::replica::Mutation;
use crate::clock::Timestamp;
use crate::ids::TxnId;
use crate::storage::keys::Span;
use crate::storage::mvcc::KeyValue;
use crate::storage::records::{TxnRecord, TxnStatus};
#[cfg(doc)]
use crate::{actors::range::live_txns::LiveTxns, settings::KvSettings};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

mod locking;
mod reader;
mod record;
pub use locking::{Locked, RowLock};
pub use reader::TxnReader;
use record::Heartbeat;

/// How long a request waits on other transactions' intents before giving up.
const INTENT_WAIT: Duration = Duration::from_secs(20);
/// Read spans a transaction remembers before condensing them.
const MAX_READ_SPANS: usize = 4096;
/// The key bytes read spans are grouped by when condensed: the tenant prefix (9 bytes) and the
/// table id (4).
const CONDENSE_PREFIX: usize = 13;
/// How many times a committer retries intent conflicts before aborting itself.
const COMMIT_CONFLICT_RETRIES: u32 = 20;
/// At most this many writes go into one raft command (intents, resolutions)...
pub(crate) const MAX_COMMAND_WRITES: usize = 4096;
/// ...holding at most about this many bytes of keys and values: a transaction that wrote
/// millions of rows is proposed, logged, applied and resolved in bounded pieces, never as one
/// command the size of the transaction.
pub(crate) const MAX_COMMAND_BYTES: usize = 4 << 20;
/// Commands written in parallel by one committer.
const PARALLEL_COMMANDS: usize = 8;
/// How many times a committer repeats a write (or the commit itself) that a range could not
/// serve (a lease moving under it), with a growing pause (~20 s in all).
const UNAVAILABLE_RETRIES: u32 = 60;

/// How many of `writes` (from the first) go into one command for the range spanning `span`.
fn command_len(writes: &[Mutation], span: &Span) -> usize {
    let mut bytes = 0;
    writes
        .iter()
        .take(MAX_COMMAND_WRITES)
        .take_while(|(k, v)| {
            bytes += k.len() + v.as_ref().map_or(0, |v| v.len());
            span.contains_key(k) && bytes <= MAX_COMMAND_BYTES
        })
        .count()
        .max(1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Committed,
    Aborted,
}

/// The buffered writes of a [`Txn`] at a SQL savepoint ([`Txn::savepoint`]).
#[derive(Clone, Debug)]
pub struct TxnSavepoint {
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// A KV transaction.
pub struct Txn {
    store: Store,
    id: TxnId,
    read_ts: Timestamp,
    write_ts: Timestamp,
    read_only: bool,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Whether `writes` has a system-table key (kept up to date by every change of `writes`).
    system_writes: bool,
    read_spans: Vec<Span>,
    state: State,
    /// Row locks held or waited for in this node's table (released at commit, rollback or
    /// drop; those on other nodes are recorded by the store, see `locks::remote`).
    locked: std::collections::BTreeSet<Vec<u8>>,
    /// How many of `read_spans` predate the running statement, while a statement that can be
    /// re-run is running (see [`Txn::begin_restartable_statement`]).
    statement_mark: Option<usize>,
    /// The running restartable statement waited for a lock and moved the read timestamp: its
    /// reads so far are stale and it must run again.
    statement_stale: bool,
}

impl std::fmt::Debug for Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Txn")
            .field("id", &self.id)
            .field("read_ts", &self.read_ts)
            .field("writes", &self.writes.len())
            .finish()
    }
}

/// How often a one-phase commit may move its timestamp before falling back to two phases.
const MAX_ONE_PHASE_REFRESHES: u32 = 2;

impl Drop for Txn {
    fn drop(&mut self) {
        self.release_locks();
    }
}

impl Txn {
    pub(super) fn new(store: Store, ts: Timestamp, read_only: bool) -> Txn {
        Txn {
            store,
            id: TxnId::random(),
            read_ts: ts,
            write_ts: ts,
            read_only,
            writes: BTreeMap::new(),
            system_writes: false,
            read_spans: Vec::new(),
            state: State::Open,
            locked: std::collections::BTreeSet::new(),
            statement_mark: None,
            statement_stale: false,
        }
    }

    /// Whether the transaction only reads (`AS OF SYSTEM TIME`).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// How many writes the transaction has buffered.
    pub fn buffered_writes(&self) -> usize {
        self.writes.len()
    }

    /// Ends the statement started by [`Txn::begin_restartable_statement`]; true when it must
    /// run again (it waited for a lock, and its reads predate the holder's commit).
    pub fn take_statement_stale(&mut self) -> bool {
        self.statement_mark = None;
        std::mem::take(&mut self.statement_stale)
    }

    /// The transaction's id.
    pub fn id(&self) -> TxnId {
        self.id
    }

    /// The timestamp reads happen at.
    pub fn read_timestamp(&self) -> Timestamp {
        self.read_ts
    }

    fn check_open(&self) -> Result<()> {
        match self.state {
            State::Open => Ok(()),
            State::Committed => Err(KvError::TxnFinished("committed")),
            State::Aborted => Err(KvError::TxnFinished("aborted")),
        }
    }

    /// Reads `key`.
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        if let Some(v) = self.writes.get(key) {
            return Ok(v.clone());
        }
        let (ts, id) = (self.read_ts, self.id);
        let mut deadline = Instant::now() + INTENT_WAIT;
        let store = self.store.clone();
        let v = loop {
            match store
                .with_replica(key, |r| async move { r.get(key, ts, Some(id)).await })
                .await
            {
                Err(RangeError::WriteIntents { intents }) if Instant::now() < deadline => {
                    if store.handle_intents(intents, Some(id)).await? {
                        deadline = Instant::now() + INTENT_WAIT;
                    }
                }
                other => break other?,
            }
        };
        self.record_read(Span::point(key));
        Ok(v)
    }

    /// Reads up to `limit` rows of `span` in key order.
    pub async fn scan(&mut self, span: &Span, limit: usize) -> Result<Vec<KeyValue>> {
        self.check_open()?;
        let out = reader::scan_at(
            &self.store,
            self.read_ts,
            self.id,
            &self.writes,
            span,
            limit,
        )
        .await?;
        let read_end = if out.len() == limit && limit > 0 {
            out.last()
                .map(|(k, _)| Span::point(k).end)
                .unwrap_or(span.end.clone())
        } else {
            span.end.clone()
        };
        self.record_read(Span {
            start: span.start.clone(),
            end: read_end.min(span.end.clone()),
        });
        Ok(out)
    }

    /// Remembers a read for refreshes; past `MAX_READ_SPANS` the spans are condensed into one
    /// bounding span per table (the first [`CONDENSE_PREFIX`] key bytes: tenant and table), and
    /// only if that is still too many into one bounding span. Refreshes then check more than was
    /// read, which is safe but may fail more; keeping tables apart means a long transaction
    /// over user tables is not failed by writes to other tables (such as job records).
    fn record_read(&mut self, span: Span) {
        self.read_spans.push(span);
        if self.read_spans.len() <= MAX_READ_SPANS {
            return;
        }
        let mut by_table: BTreeMap<Vec<u8>, Span> = BTreeMap::new();
        for s in self.read_spans.drain(..) {
            let p = s.start.0[..s.start.0.len().min(CONDENSE_PREFIX)].to_vec();
            match by_table.get_mut(&p) {
                Some(b) => {
                    b.start = b.start.clone().min(s.start);
                    b.end = b.end.clone().max(s.end);
                }
                None => {
                    by_table.insert(p, s);
                }
            }
        }
        self.read_spans = by_table.into_values().collect();
        if self.read_spans.len() > MAX_READ_SPANS / 2 {
            let start = self
                .read_spans
                .iter()
                .map(|s| s.start.clone())
                .min()
                .unwrap_or_default();
            let end = self
                .read_spans
                .iter()
                .map(|s| s.end.clone())
                .max()
                .unwrap_or_default();
            self.read_spans = vec![Span { start, end }];
            // The statement's own reads are merged with earlier ones: a lock wait must check
            // them all.
            self.statement_mark = None;
        }
    }

    /// Writes `value` at `key` (visible to this transaction now, to others at commit).
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_open()?;
        if self.read_only {
            return Err(KvError::ReadOnly);
        }
        self.system_writes |= super::system_writes::is_system_key(key);
        self.writes.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.check_open()?;
        if self.read_only {
            return Err(KvError::ReadOnly);
        }
        self.system_writes |= super::system_writes::is_system_key(key);
        self.writes.insert(key.to_vec(), None);
        Ok(())
    }

    /// The store this transaction runs on.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether any buffered write is to a system table (the catalog).
    pub fn has_system_writes(&self) -> bool {
        self.system_writes
    }

    /// The epoch under which this transaction may use cached system-table reads (see
    /// [`super::system_writes`]), or None when it must read them.
    pub fn system_cache_epoch(&self) -> Option<u64> {
        self.store
            .system_writes()
            .epoch_for(self.read_ts, self.has_system_writes())
    }

    /// Whether `epoch` is still current for caching.
    pub fn system_cache_current(&self, epoch: u64) -> bool {
        self.store.system_writes().is_current(epoch)
    }

    /// A savepoint: the writes buffered so far (SQL `SAVEPOINT`). Reads made after it stay in
    /// the read set when the transaction goes back to it, which can only cause a retry, never
    /// a missed conflict; row locks taken after it are kept until the transaction ends.
    pub fn savepoint(&self) -> TxnSavepoint {
        TxnSavepoint {
            writes: self.writes.clone(),
        }
    }

    /// Goes back to `sp`: the writes buffered since it are discarded. Fails when the
    /// transaction has already committed or aborted.
    pub fn rollback_to(&mut self, sp: &TxnSavepoint) -> Result<()> {
        match self.state {
            State::Open => {}
            State::Committed => return Err(KvError::TxnFinished("committed")),
            State::Aborted => return Err(KvError::TxnFinished("aborted")),
        }
        self.writes = sp.writes.clone();
        self.system_writes = self
            .writes
            .keys()
            .any(|k| super::system_writes::is_system_key(k));
        Ok(())
    }

    /// Discards the transaction's writes.
    pub fn rollback(&mut self) {
        self.release_locks();
        self.writes.clear();
        self.system_writes = false;
        self.state = State::Aborted;
    }

    fn fail(&mut self, e: KvError) -> KvError {
        self.state = State::Aborted;
        if e.is_retryable() {
            self.store
                .metrics()
                .txn_restarts
                .fetch_add(1, Ordering::Relaxed);
        }
        e
    }

    /// Commits; returns the commit timestamp.
    pub async fn commit(&mut self) -> Result<Timestamp> {
        self.check_open()?;
        if self.writes.is_empty() {
            self.state = State::Committed;
            self.release_locks_now().await;
            return Ok(self.read_ts);
        }
        let system = self.has_system_writes();
        let store = self.store.clone();
        if system {
            // See `system_writes`: commit after every transaction already running.
            store.system_writes().begin();
            if let Err(e) = self.refresh_to(store.now()).await {
                store.system_writes().end(None);
                self.release_locks();
                return Err(self.fail(e));
            }
        }
        let writes: Vec<Mutation> = std::mem::take(&mut self.writes).into_iter().collect();
        let result = self.commit_writes(writes).await;
        if system {
            store.system_writes().end(result.as_ref().ok().copied());
        }
        self.release_locks_now().await;
        match result {
            Ok(ts) => {
                self.state = State::Committed;
                self.store
                    .metrics()
                    .txn_commits
                    .fetch_add(1, Ordering::Relaxed);
                Ok(ts)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    async fn refresh_to(&mut self, ts: Timestamp) -> Result<()> {
        self.refresh_prefix_to(ts, usize::MAX).await
    }

    /// Moves the read timestamp to `ts` after checking that the first `n` read spans did not
    /// change in between (the others belong to a statement that will run again).
    async fn refresh_prefix_to(&mut self, ts: Timestamp, n: usize) -> Result<()> {
        if ts <= self.read_ts {
            return Ok(());
        }
        let spans = std::mem::take(&mut self.read_spans);
        for span in spans.iter().take(n) {
            let mut cursor = span.clone();
            while cursor.start < cursor.end {
                let c = cursor.clone();
                let (from, id) = (self.read_ts, self.id);
                let end = self
                    .store
                    .with_replica(c.start.as_bytes(), |r| {
                        let c = c.clone();
                        async move {
                            let sub = r.part_of(&c)?;
                            r.refresh(std::slice::from_ref(&sub), from, ts, id).await?;
                            Ok(sub.end)
                        }
                    })
                    .await
                    .map_err(|e| match e {
                        RangeError::RefreshFailed { .. } => {
                            KvError::Retryable(format!("{e} (read at {from}, needed {ts})"))
                        }
                        other => other.into(),
                    })?;
                cursor.start = end;
            }
        }
        self.read_spans = spans;
        self.read_ts = ts;
        self.write_ts = self.write_ts.max(ts);
        Ok(())
    }

    async fn commit_writes(&mut self, writes: Vec<Mutation>) -> Result<Timestamp> {
        let store = self.store.clone();
        let first = store.route(&writes[0].0).await?;
        let span = first.desc().span;
        if command_len(&writes, &span) == writes.len() {
            match self.commit_one_phase(first, writes.clone()).await {
                Err(KvError::Range(e)) if e.is_routing() => {}
                Ok(None) => {}
                Ok(Some(ts)) => return Ok(ts),
                Err(e) => return Err(e),
            }
        }
        self.commit_two_phase(writes).await
    }

    /// Commits in one raft command when every write is in one range. `Ok(None)`: give up on
    /// that and commit in two phases. That happens when the commit timestamp had to move (past a
    /// read or the closed timestamp) [`MAX_ONE_PHASE_REFRESHES`] times: a large write set can take
    /// longer to evaluate than the closed timestamp takes to pass it again, and retrying would
    /// livelock, while intents, once written, hold their place.
    async fn commit_one_phase(
        &mut self,
        replica: super::remote::RangeHandle,
        writes: Vec<Mutation>,
    ) -> Result<Option<Timestamp>> {
        let deadline = Instant::now() + INTENT_WAIT;
        let mut refreshes = 0;
        loop {
            let can_bump = self.read_spans.is_empty();
            match replica
                .commit_one_phase(self.id, self.write_ts, writes.clone(), can_bump)
                .await
            {
                Ok(ts) => {
                    self.store
                        .metrics()
                        .txn_commits_1pc
                        .fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(ts));
                }
                Err(RangeError::NeedsRefresh { .. }) if refreshes >= MAX_ONE_PHASE_REFRESHES => {
                    return Ok(None);
                }
                Err(RangeError::NeedsRefresh { ts }) => {
                    refreshes += 1;
                    self.refresh_to(ts).await?
                }
                Err(RangeError::WriteIntents { intents }) if Instant::now() < deadline => {
                    self.store.handle_intents(intents, Some(self.id)).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn commit_two_phase(&mut self, writes: Vec<Mutation>) -> Result<Timestamp> {
        let store = self.store.clone();
        let anchor = writes[0].0.clone();
        let id = self.id;
        let record = TxnRecord {
            txn_id: id,
            status: TxnStatus::Pending,
            ts: self.write_ts,
            heartbeat_wall: store.now().wall,
        };
        // Registered before the record exists, until this function returns or is dropped.
        let _live = store.inner.live_txns.register(id);
        // From the start: a first round that writes gigabytes (a big COPY) takes minutes, and
        // other nodes' pushers take a record without heartbeats for abandoned.
        let _heartbeat = Heartbeat::start(store.clone(), anchor.clone(), id);
        let mut remaining = writes;
        let mut written: Vec<Vec<u8>> = Vec::new();
        let mut commit_ts = self.write_ts;
        let mut first = true;
        let mut conflicts = 0;
        let mut unavailable = 0;
        // A transaction older than half the expiry writes its record alone first: its intents
        // carry its old timestamp, and one met before the record exists would be taken for
        // abandoned at once (see `Replica::push_txn`).
        let age = store.now().wall.saturating_sub(self.write_ts.wall);
        let record_first = age >= store.settings().txn_expiry.as_nanos() as u64 / 2;
        if record_first && let Err(e) = self.write_record_alone(&anchor, &record).await {
            self.abort_written(&anchor, Vec::new(), true).await;
            return Err(e);
        }
        while !remaining.is_empty() {
            let r = store.route(&remaining[0].0).await?;
            let n = command_len(&remaining, &r.desc().span);
            let chunk: Vec<Mutation> = remaining[..n].to_vec();
            let rec = (first && !record_first).then(|| record.clone());
            let write = r.write_intents(id, self.write_ts, &anchor, chunk.clone(), rec);
            let result = if first {
                // The record and every other range's intents in one round: a reader that meets
                // one of those intents before the record exists takes the transaction for
                // pending (see `Replica::push_txn`). What fails here is left to this loop,
                // which retries or gives up.
                let rest = remaining.split_off(n);
                let (res, (ts, keys, left)) =
                    futures::future::join(write, self.write_intents_parallel(&anchor, rest)).await;
                commit_ts = commit_ts.max(ts);
                written.extend(keys);
                remaining.extend(left);
                res
            } else {
                write.await
            };
            match result {
                Ok(ts) => {
                    unavailable = 0;
                    commit_ts = commit_ts.max(ts);
                    written.extend(chunk.into_iter().map(|(k, _)| k));
                    remaining.drain(..n);
                    first = false;
                }
                Err(e) if e.is_routing() => tokio::time::sleep(Duration::from_millis(1)).await,
                // A lease lost under the write: writing the same intents (and the pending
                // record) again is harmless.
                Err(RangeError::Unavailable { .. }) if unavailable < UNAVAILABLE_RETRIES => {
                    unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(10 * u64::from(unavailable))).await;
                }
                Err(RangeError::WriteIntents { intents })
                    if conflicts < COMMIT_CONFLICT_RETRIES =>
                {
                    conflicts += 1;
                    store.handle_intents(intents, Some(id)).await?;
                }
                Err(e) => {
                    let err = match e {
                        RangeError::WriteIntents { .. } => {
                            KvError::Retryable("write intent conflict while committing".into())
                        }
                        other => other.into(),
                    };
                    self.abort_written(&anchor, written, !first || record_first)
                        .await;
                    return Err(err);
                }
            }
        }
        if commit_ts > self.read_ts
            && !self.read_spans.is_empty()
            && let Err(e) = self.refresh_to(commit_ts).await
        {
            self.abort_written(&anchor, written, true).await;
            return Err(e);
        }
        match self.end_committing(&anchor, commit_ts).await {
            Ok(()) => {}
            Err(e @ KvError::Ambiguous(_)) => return Err(e),
            Err(e) => {
                self.abort_written(&anchor, written, true).await;
                return Err(e);
            }
        }
        // Committed. Resolve intents in the background; readers resolve them on demand anyway.
        let s = store.clone();
        tokio::spawn(async move {
            match s
                .resolve_keys(id, written, TxnStatus::Committed, commit_ts)
                .await
            {
                Ok(()) => {
                    let del = s.with_replica(&anchor, |r| {
                        let anchor = anchor.clone();
                        async move { r.delete_txn_record(&anchor, id).await }
                    });
                    if let Err(e) = del.await {
                        tracing::debug!(txn = %id, "failed to remove transaction record: {e}");
                    }
                }
                Err(e) => {
                    tracing::debug!(txn = %id, "failed to resolve intents (readers will): {e}")
                }
            }
        });
        Ok(commit_ts)
    }

    /// Writes intents for `writes` (sorted, outside the anchor's range), one command per range
    /// or [`command_len`] piece, [`PARALLEL_COMMANDS`] at a time. Returns the highest intent
    /// timestamp, the keys written, and the writes whose range refused them (split, conflict),
    /// for the caller to retry in order.
    async fn write_intents_parallel(
        &self,
        anchor: &[u8],
        writes: Vec<Mutation>,
    ) -> (Timestamp, Vec<Vec<u8>>, Vec<Mutation>) {
        let (id, ts) = (self.id, self.write_ts);
        let mut max_ts = ts;
        let mut written = Vec::new();
        let mut left = Vec::new();
        let mut rest = writes.as_slice();
        while !rest.is_empty() {
            let mut wave = Vec::new();
            while !rest.is_empty() && wave.len() < PARALLEL_COMMANDS {
                let Ok(r) = self.store.route(&rest[0].0).await else {
                    break;
                };
                let n = command_len(rest, &r.desc().span);
                wave.push((r, rest[..n].to_vec()));
                rest = &rest[n..];
            }
            if wave.is_empty() {
                break;
            }
            let results =
                futures::future::join_all(wave.into_iter().map(|(r, chunk)| async move {
                    let res = r.write_intents(id, ts, anchor, chunk.clone(), None).await;
                    (res, chunk)
                }))
                .await;
            for (res, chunk) in results {
                match res {
                    Ok(t) => {
                        max_ts = max_ts.max(t);
                        written.extend(chunk.into_iter().map(|(k, _)| k));
                    }
                    Err(_) => left.extend(chunk),
                }
            }
        }
        left.extend_from_slice(rest);
        left.sort_by(|a, b| a.0.cmp(&b.0));
        (max_ts, written, left)
    }

    /// Flips the record to committed at `commit_ts`, asking again while the anchor's range
    /// cannot answer (the request is idempotent). An error that leaves the outcome unknown is
    /// [`KvError::Ambiguous`]; any other means the transaction did not commit.
    async fn end_committing(&self, anchor: &[u8], commit_ts: Timestamp) -> Result<()> {
        let id = self.id;
        let mut unavailable = 0;
        loop {
            let end = self.store.with_replica(anchor, |r| async move {
                r.end_txn(anchor, id, true, commit_ts).await
            });
            match end.await {
                Ok(()) => return Ok(()),
                Err(RangeError::Unavailable { .. }) if unavailable < UNAVAILABLE_RETRIES => {
                    unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(10 * u64::from(unavailable))).await;
                }
                Err(e @ RangeError::Unavailable { .. }) => {
                    return Err(KvError::Ambiguous(e.to_string()));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Removes what an uncommitted transaction wrote: aborts its record (if it wrote one), then
    /// its intents. When the record cannot be aborted (its range unavailable, or the record is
    /// not pending any more), the intents stay: readers resolve them by the record, and a
    /// commit whose answer was lost must not lose its writes.
    async fn abort_written(&self, anchor: &[u8], written: Vec<Vec<u8>>, has_record: bool) {
        let store = &self.store;
        let id = self.id;
        if has_record {
            let r = store
                .with_replica(anchor, |r| async move {
                    r.end_txn(anchor, id, false, Timestamp::MIN).await
                })
                .await;
            if let Err(e) = r {
                tracing::debug!(txn = %id, "failed to abort transaction record: {e}");
                return;
            }
        }
        if let Err(e) = store
            .resolve_keys(id, written, TxnStatus::Aborted, Timestamp::MIN)
            .await
        {
            tracing::debug!(txn = %id, "failed to clean up aborted intents: {e}");
        }
        if has_record {
            let _ = store
                .with_replica(
                    anchor,
                    |r| async move { r.delete_txn_record(anchor, id).await },
                )
                .await;
        }
    }
}

impl Store {
    /// Runs `f` in a transaction, retrying it from scratch on retryable errors (up to
    /// `max_attempts`); returns its result and the commit timestamp.
    pub async fn run_txn<T, F>(&self, max_attempts: u32, mut f: F) -> Result<(T, Timestamp)>
    where
        F: for<'a> FnMut(&'a mut Txn) -> futures::future::BoxFuture<'a, Result<T>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut txn = self.begin();
            let res = match f(&mut txn).await {
                Ok(v) => txn.commit().await.map(|ts| (v, ts)),
                Err(e) => {
                    txn.rollback();
                    Err(e)
                }
            };
            match res {
                Err(e) if e.is_retryable() && attempt < max_attempts => {
                    tokio::time::sleep(Duration::from_micros(100 * u64::from(attempt.min(20))))
                        .await;
                }
                other => return other,
            }
        }
    }
}
