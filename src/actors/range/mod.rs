//! The range actor: one per range replica, owning the raft group.
//!
//! The actor owns a raft-rs `RawNode` over [`FjallRaftStorage`], the proposals waiting for
//! apply, and the rangefeed registrations. Requests are evaluated by callers through
//! [`replica::Replica`]; the actor only proposes, persists, applies and publishes.
//!
//! `on_ready` follows raft-rs's documented order, with asynchronous persistence so the actor's
//! thread never waits for an fsync:
//!
//! 1. send `messages` (may go before persisting);
//! 2. apply a snapshot if there is one (a new or lagging replica on another node; see
//!    `membership.rs`, which also holds membership changes and leadership tracking);
//! 3. append `entries` and the `HardState` to the log (one batch, buffered; written before the
//!    apply batch so the stored commit index is never below the applied index);
//! 4. apply `committed_entries`: one atomic fjall batch with the commands' writes and the new
//!    apply state, then publish rangefeed events and answer proposers. When the entries carry
//!    [`TABLE_APPLY_BYTES`] or more (bulk ingest, big commits), their MVCC versions are first
//!    written as durable sorted table files and only the rest goes into the batch: a crash
//!    between the two re-applies the entries, which rewrites identical versions;
//! 5. `advance_append_async`, then ask the group syncer for an fsync; when it is done, send the
//!    `persisted_messages` and call `on_persist_ready` (a `Persisted` message to ourselves).
//!    A ready that needs no fsync is reported persisted at once, unless an earlier ready's
//!    fsync is still in flight: reporting a later number reports the earlier ones too, so it
//!    waits for an fsync as well. A snapshot is reported applied to raft only once its own
//!    ready is persisted. Otherwise a replica that has just received its first snapshot can
//!    campaign with raft's applied index still 0 over a log that starts after the snapshot,
//!    and raft panics, taking every range of the node with it (the likely cause of the panic
//!    seen under `pgbench -i -s 100` on three nodes; not reproduced in a test).
//!
//! Proposals arriving while an fsync runs are appended by the next ready and share the next
//! fsync (group commit). If the actor stops, pending proposers get `Unavailable` (their oneshot
//! is dropped) and rangefeed subscribers see their channel close. A storage error while applying
//! is fatal: the actor logs it and stops, since its state would no longer match the log. So is a
//! panic of raft-rs (it panics on states it considers impossible): the handlers that drive raft
//! catch it, and only this replica stops, not the thread every range of the node runs on.

pub mod command;
pub mod error;
mod guard;
pub mod intent_times;
pub mod latch;
pub mod live_txns;
pub mod membership;
pub mod rangefeed;
pub use rangefeed::Subscribe;
pub mod replica;
pub mod transport;
pub mod tscache;

use crate::clock::Clock;
use crate::ids::{RangeId, RegistrationId, ReplicaId};
use crate::settings::KvSettings;
use crate::storage::raft_log::{self, FjallRaftStorage};
use crate::storage::records::ApplyState;
use crate::storage::{Engine, StorageError, WriteOp};
use actix::prelude::*;
use command::RaftCommand;
use error::RangeError;
use raft::prelude::{Entry, EntryType, Message as RaftMessage};
use raft::{RawNode, StateRole};
use rangefeed::{RangefeedError, RangefeedEvent, Registration};
use replica::ReplicaShared;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use transport::RaftTransport;

/// Raft log entries kept after compaction, for followers that lag a little.
const LOG_KEEP: u64 = 256;
/// Compact the log once this many applied entries accumulate...
const LOG_COMPACT_EVERY: u64 = 1024;
/// ...or once the entries applied since the last compaction carry this many bytes. Bulk ingest
/// proposes 4 MiB entries: counting entries alone, the log would hold gigabytes that fjall
/// writes to table files and compacts only to delete them. A size-triggered compaction keeps
/// only what followers still need (`bulk_log_keep`), like CockroachDB's size-based raft log
/// truncation; a follower further behind catches up from a snapshot.
const LOG_COMPACT_BYTES: u64 = 8 << 20;
/// Entries a size-triggered compaction keeps at most (fewer when every follower has them): up
/// to 256 MiB of 4 MiB bulk entries, so a follower that a loaded machine slows down catches up
/// from the log. With 8 (32 MiB) a follower of a 3-node cluster on two busy cores fell behind
/// it during `pgbench -i -s 100`, and the snapshot of its range, which had grown past 1 GiB
/// in one COPY before splitting, exceeded the transport's frame limit: sent again and again,
/// never received.
const LOG_KEEP_BULK: u64 = 64;
/// Committed entries applied together that carry at least this many bytes write their MVCC
/// versions as sorted table files (`Engine::ingest_mvcc_tables`) instead of through fjall's
/// journal and memtable: the raft log already holds them durably, so the journal copy, the
/// memtable flush and most of the compaction after it are saved (CockroachDB applies bulk
/// ingest as SSTables for the same reason). Physical replication's initial scan is written
/// this way; small passes keep the batch path, whose cost per write is lower.
const TABLE_APPLY_BYTES: usize = 2 << 20;

/// Propose a command; the reply comes after it is applied.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Propose {
    /// The command.
    pub cmd: RaftCommand,
    /// Answered after apply (or dropped if the proposal is lost).
    pub reply: oneshot::Sender<error::Result<()>>,
}

/// The log entries of ready `number` are durable.
#[derive(Message)]
#[rtype(result = "()")]
struct Persisted {
    number: u64,
    messages: Vec<RaftMessage>,
    result: Result<(), String>,
}

/// Run the ready loop (coalesced).
#[derive(Message)]
#[rtype(result = "()")]
struct ProcessReady;

/// Stop the replica: fail pending proposals and end rangefeeds.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopReplica;

/// Information about the replica's raft group.
#[derive(Message)]
#[rtype(result = "RaftStatus")]
pub struct GetRaftStatus;

/// A snapshot of a replica's raft status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftStatus {
    /// Whether this replica leads its group (and so holds the lease).
    pub leader: bool,
    /// Current term.
    pub term: u64,
    /// Applied index.
    pub applied: u64,
    /// Last log index.
    pub last_index: u64,
    /// On the leader: voters whose log is behind the commit index (0 elsewhere).
    pub lagging_voters: usize,
    /// Voters in the group's configuration.
    pub voters: usize,
    /// On the leader: learners (replica id) and whether each has caught up with the commit
    /// index (empty elsewhere).
    pub learners: Vec<(u64, bool)>,
}

/// Counters a replica exports.
#[derive(Debug, Default)]
pub struct RangeMetrics {
    /// Raft entries applied.
    pub entries_applied: std::sync::atomic::AtomicU64,
    /// Ready iterations that appended entries.
    pub appends: std::sync::atomic::AtomicU64,
    /// Apply passes that wrote their MVCC versions as table files (`TABLE_APPLY_BYTES`).
    pub table_applies: std::sync::atomic::AtomicU64,
    /// Rangefeed events published.
    pub rangefeed_events: std::sync::atomic::AtomicU64,
    /// The most writes any applied command carried (bounded by the committer's command size,
    /// whatever the size of the transaction).
    pub max_command_ops: std::sync::atomic::AtomicU64,
}

/// The actor of one range replica.
pub struct RangeActor {
    range_id: RangeId,
    replica_id: ReplicaId,
    raw: RawNode<FjallRaftStorage>,
    engine: Engine,
    shared: Arc<ReplicaShared>,
    clock: Arc<Clock>,
    settings: Arc<KvSettings>,
    transport: Box<dyn RaftTransport>,
    metrics: Arc<RangeMetrics>,
    next_proposal: u64,
    pending: HashMap<u64, oneshot::Sender<error::Result<()>>>,
    /// A lease transfer: the target replica, when it was asked for, and whether raft was told
    /// (only once the proposals in flight applied).
    transfer: Option<(u64, std::time::Instant, bool)>,
    ready_scheduled: bool,
    /// Command bytes applied since the log was last compacted (in memory; a restart starts at 0).
    applied_log_bytes: u64,
    registrations: HashMap<RegistrationId, Registration>,
    next_registration: u64,
    /// New ranges created by splits applied here, for the store to start.
    split_sink: Option<mpsc::UnboundedSender<command::SplitTrigger>>,
    /// Where a replica initialised by a snapshot reports its descriptor.
    init_sink: Option<mpsc::UnboundedSender<crate::storage::records::RangeDescriptor>>,
    /// The index of a snapshot written but not yet synced; applied once it is.
    snapshot_applied: Option<(u64, u64)>,
    /// Readies whose fsync is still in flight: while there are any, a later ready that needs
    /// no fsync is not reported persisted on its own (that would report the earlier ones too,
    /// before their fsync, and clear a snapshot raft has not been told is applied).
    syncs_in_flight: usize,
    /// See [`RangeActorConfig::creation`].
    creation: Arc<parking_lot::Mutex<()>>,
    /// When raft was last ticked (see `started`).
    last_tick: std::time::Instant,
    /// Set once the actor has stopped on a fatal error (or a panic in raft): it touches raft
    /// no more.
    failed: bool,
}

impl std::fmt::Debug for RangeActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RangeActor({})", self.range_id)
    }
}

/// Everything needed to start a range actor.
pub struct RangeActorConfig {
    /// The store.
    pub engine: Engine,
    /// State shared with request evaluation.
    pub shared: Arc<ReplicaShared>,
    /// This node's clock.
    pub clock: Arc<Clock>,
    /// KV settings.
    pub settings: Arc<KvSettings>,
    /// Outgoing raft messages.
    pub transport: Box<dyn RaftTransport>,
    /// Counters.
    pub metrics: Arc<RangeMetrics>,
    /// Where applied splits are reported.
    pub split_sink: Option<mpsc::UnboundedSender<command::SplitTrigger>>,
    /// Where a replica initialised by a snapshot is reported.
    pub init_sink: Option<mpsc::UnboundedSender<crate::storage::records::RangeDescriptor>>,
    /// The store's range-creation lock: held while a split writes the raft state of the range
    /// it creates, and while the store creates an uninitialised replica for a peer's message,
    /// so neither overwrites the other's state.
    pub creation: Arc<parking_lot::Mutex<()>>,
}

impl RangeActor {
    /// Loads the replica's raft state and builds the actor (not yet started).
    pub fn create(cfg: RangeActorConfig, replica_id: ReplicaId) -> Result<RangeActor, RangeError> {
        let range_id = cfg.shared.range_id;
        let storage = FjallRaftStorage::load(&cfg.engine, range_id)?;
        let applied = storage.apply_state().applied_index;
        let raft_cfg = raft::Config {
            id: replica_id.0,
            election_tick: 10,
            heartbeat_tick: 3,
            applied,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            ..Default::default()
        };
        raft_cfg.validate().map_err(|e| RangeError::Unavailable {
            range: range_id,
            reason: format!("raft config: {e}"),
        })?;
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        cfg.shared
            .replica_id
            .store(replica_id.0, std::sync::atomic::Ordering::Relaxed);
        // raft-rs panics on a stored state it considers impossible: that replica does not
        // start, the node and its other replicas go on.
        let raw = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            RawNode::new(&raft_cfg, storage, &logger)
        }))
        .map_err(|p| RangeError::Unavailable {
            range: range_id,
            reason: format!(
                "raft panicked on the stored state: {}",
                guard::panic_text(&p)
            ),
        })?
        .map_err(|e| RangeError::Unavailable {
            range: range_id,
            reason: format!("raft: {e}"),
        })?;
        Ok(RangeActor {
            range_id,
            replica_id,
            raw,
            engine: cfg.engine,
            shared: cfg.shared,
            clock: cfg.clock,
            settings: cfg.settings,
            transport: cfg.transport,
            metrics: cfg.metrics,
            next_proposal: 1,
            pending: HashMap::new(),
            transfer: None,
            ready_scheduled: false,
            applied_log_bytes: 0,
            registrations: HashMap::new(),
            next_registration: 1,
            split_sink: cfg.split_sink,
            init_sink: cfg.init_sink,
            snapshot_applied: None,
            syncs_in_flight: 0,
            creation: cfg.creation,
            last_tick: std::time::Instant::now(),
            failed: false,
        })
    }

    fn schedule_ready(&mut self, ctx: &mut Context<Self>) {
        if !self.ready_scheduled {
            self.ready_scheduled = true;
            ctx.notify(ProcessReady);
        }
    }

    fn fatal(&mut self, ctx: &mut Context<Self>, what: &str, e: impl std::fmt::Display) {
        tracing::error!(range = %self.range_id, "failed to {what}: {e}; stopping replica");
        self.failed = true;
        self.shared.state.lock().stopped = true;
        self.shared.notify.notify_waiters();
        ctx.stop();
    }

    /// One pass of the ready loop (see the module docs for the order).
    fn on_ready(&mut self, ctx: &mut Context<Self>) {
        if !self.raw.has_ready() {
            return;
        }
        if self.superseded_by_split() {
            tracing::info!(range = %self.range_id, "uninitialised replica replaced by its split");
            self.failed = true;
            ctx.stop();
            return;
        }
        let mut rd = self.raw.ready();
        if let Some(ss) = rd.ss() {
            self.on_leader_change(ss.leader_id);
        }
        // 1. Messages that may be sent before persisting.
        let msgs = rd.take_messages();
        if !msgs.is_empty() {
            self.transport.send(self.range_id, msgs);
        }
        // 2. A snapshot replaces the replica's state (written and synced before anything else).
        if !rd.snapshot().is_empty()
            && let Err(e) = self.apply_snapshot(rd.snapshot(), rd.number())
        {
            self.fatal(ctx, "apply a raft snapshot", e);
            return;
        }
        // 3. Append entries and hard state.
        // A hard state that only moves the commit index is written but needs no fsync
        // (raft-rs's `must_sync`): the commit index is recoverable from the log.
        let needs_write = !rd.entries().is_empty() || rd.hs().is_some();
        let needs_sync = !rd.entries().is_empty() || rd.must_sync() || !rd.snapshot().is_empty();
        if needs_write {
            let mut batch = self.engine.batch();
            self.raw.mut_store().append(&mut batch, rd.entries());
            if let Some(hs) = rd.hs() {
                self.raw.mut_store().set_hard_state(&mut batch, hs);
            }
            if let Err(e) = batch.commit() {
                self.fatal(ctx, "append to the raft log", e);
                return;
            }
            self.metrics
                .appends
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        // 4. Committed entries, after the hard state that commits them is written (so a crash
        // never leaves an applied index above the stored commit index).
        let committed = rd.take_committed_entries();
        if let Err(e) = self.apply_entries(committed) {
            self.fatal(ctx, "apply committed raft entries", e);
            return;
        }
        let persisted = rd.take_persisted_messages();
        let number = rd.number();
        // 5. Persist asynchronously.
        self.raw.advance_append_async(rd);
        if needs_sync || self.syncs_in_flight > 0 {
            self.syncs_in_flight += 1;
            let syncer = self.engine.syncer().clone();
            let addr = ctx.address();
            actix::spawn(async move {
                let result = syncer.sync().await.map_err(|e| e.to_string());
                addr.do_send(Persisted {
                    number,
                    messages: persisted,
                    result,
                });
            });
        } else {
            if !persisted.is_empty() {
                self.transport.send(self.range_id, persisted);
            }
            self.raw.on_persist_ready(number);
            self.schedule_ready(ctx);
        }
    }

    /// Entries a size-triggered log compaction at `applied` keeps: on the leader, those some
    /// follower has not acknowledged yet, at most [`LOG_KEEP_BULK`] (a follower further
    /// behind catches up from a snapshot); on a follower none, as it sends no entries. So
    /// bulk entries are usually deleted while fjall still holds them in its memtable, and
    /// never reach table files.
    fn bulk_log_keep(&self, applied: u64) -> u64 {
        if self.raw.raft.state != StateRole::Leader {
            return 0;
        }
        let me = self.raw.raft.id;
        let min_match = self
            .raw
            .raft
            .prs()
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(_, p)| p.matched)
            .min()
            .unwrap_or(applied);
        applied.saturating_sub(min_match).min(LOG_KEEP_BULK)
    }

    fn apply_entries(&mut self, entries: Vec<Entry>) -> Result<(), RangeError> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        let last_index = last.index;
        let mut batch = self.engine.batch();
        // Megabytes of MVCC versions (bulk ingest, big commits) go to sorted table files (see
        // `TABLE_APPLY_BYTES`); the map keeps the last write of each key, as the batch would.
        let mut tables = (entries.iter().map(|e| e.data.len()).sum::<usize>() >= TABLE_APPLY_BYTES)
            .then(std::collections::BTreeMap::new);
        let mut applied_cmds: Vec<(Option<u64>, RaftCommand)> = Vec::with_capacity(entries.len());
        let mut conf_replies = Vec::new();
        let creation = self.creation.clone();
        let mut creating = None;
        for e in &entries {
            if e.get_entry_type() == EntryType::EntryConfChange {
                if let Some(id) = self.apply_conf_change(e, &mut batch)? {
                    conf_replies.push(id);
                }
                continue;
            }
            if e.get_entry_type() != EntryType::EntryNormal || e.data.is_empty() {
                continue;
            }
            let cmd = RaftCommand::decode(&e.data)?;
            self.metrics
                .max_command_ops
                .fetch_max(cmd.ops.len() as u64, std::sync::atomic::Ordering::Relaxed);
            let id = self.own_proposal(&e.context);
            for op in &cmd.ops {
                match tables
                    .as_mut()
                    .and_then(|t| Engine::mvcc_entry(op).map(|kv| (t, kv)))
                {
                    Some((t, (k, v))) => {
                        t.insert(k, v);
                    }
                    None => self.engine.add_op(&mut batch, op),
                }
            }
            if let Some(split) = &cmd.split {
                // Held until the batch is committed (see `RangeActorConfig::creation`).
                if creating.is_none() {
                    creating = Some(creation.lock());
                }
                raft_log::write_descriptor(&self.engine, &mut batch, &split.left);
                if !raft_log::write_split_right_state(&self.engine, &mut batch, &split.right)? {
                    tracing::info!(range = %split.right.range_id,
                        "split applied after a snapshot initialised the new range here");
                }
            }
            applied_cmds.push((id, cmd));
        }
        let mut apply = self.raw.store().apply_state();
        apply.applied_index = last_index;
        self.raw.mut_store().set_apply_state(&mut batch, apply);
        self.applied_log_bytes += entries.iter().map(|e| e.data.len() as u64).sum::<u64>();
        let in_log = apply.applied_index - apply.truncated_index;
        let keep = if in_log >= LOG_COMPACT_EVERY + LOG_KEEP {
            Some(LOG_KEEP)
        } else if self.applied_log_bytes >= LOG_COMPACT_BYTES && in_log > 0 {
            Some(self.bulk_log_keep(apply.applied_index))
        } else {
            None
        };
        if let Some(keep) = keep.filter(|k| *k < in_log) {
            self.raw
                .mut_store()
                .compact(&mut batch, apply.applied_index - keep)?;
            self.applied_log_bytes = 0;
        }
        if let Some(t) = &tables {
            // Durable before the apply state that covers it (a crash in between re-applies
            // the entries, rewriting the same versions).
            self.engine.ingest_mvcc_tables(t)?;
            self.metrics
                .table_applies
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        batch.commit().map_err(StorageError::from)?;
        drop(creating);
        // Before anyone is answered: the newest-version cache must match the store.
        for (_, cmd) in &applied_cmds {
            self.engine.after_commit(&cmd.ops);
        }
        self.metrics
            .entries_applied
            .fetch_add(entries.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.raw.advance_apply_to(last_index);
        for id in conf_replies {
            if let Some(reply) = self.pending.remove(&id) {
                let _ = reply.send(Ok(()));
            }
        }
        for (id, cmd) in applied_cmds {
            self.after_apply(&cmd);
            if let Some(reply) = id.and_then(|id| self.pending.remove(&id)) {
                let _ = reply.send(Ok(()));
            }
        }
        Ok(())
    }

    /// Updates in-memory state for an applied command and publishes rangefeed events.
    fn after_apply(&mut self, cmd: &RaftCommand) {
        {
            let mut s = self.shared.state.lock();
            for op in &cmd.ops {
                s.bytes += op.size() as u64;
                match op {
                    WriteOp::PutIntent { key, intent } => {
                        s.intents.insert(key.clone(), intent.ts);
                    }
                    WriteOp::DeleteIntent { key } => {
                        s.intents.remove(key);
                    }
                    _ => {}
                }
            }
            if let Some(split) = &cmd.split {
                s.desc = split.left.clone();
                let right = split.right.span.clone();
                s.intents.retain(|k| !right.contains_key(k));
            }
        }
        if !self.registrations.is_empty() {
            let mut dead = Vec::new();
            for op in &cmd.ops {
                if let WriteOp::PutVersion { key, ts, value } = op {
                    for (id, reg) in self.registrations.iter_mut() {
                        if reg.span.contains_key(key) {
                            self.metrics
                                .rangefeed_events
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if !reg.publish(RangefeedEvent::Value {
                                key: key.clone(),
                                ts: *ts,
                                value: value.clone(),
                            }) {
                                dead.push(*id);
                            }
                        }
                    }
                }
            }
            for id in dead {
                if let Some(reg) = self.registrations.remove(&id) {
                    reg.end(RangefeedError::Overflow);
                }
            }
        }
        if let Some(split) = &cmd.split {
            // Registrations that reach into the new range end; their clients re-subscribe.
            let left = split.left.span.clone();
            let ids: Vec<_> = self
                .registrations
                .iter()
                .filter(|(_, r)| !left.contains(&r.span))
                .map(|(id, _)| *id)
                .collect();
            for id in ids {
                if let Some(reg) = self.registrations.remove(&id) {
                    reg.end(RangefeedError::RangeSplit);
                }
            }
            if let Some(sink) = &self.split_sink {
                let _ = sink.send(split.clone());
            }
            self.shared.notify.notify_waiters();
        }
    }

    /// Advances the closed timestamp and publishes checkpoints.
    fn close_timestamps(&mut self) {
        // Only the leaseholder knows no write can still come below a timestamp (and one handing
        // its lease over closes nothing more).
        if self.raw.raft.state != StateRole::Leader || self.transfer.is_some() {
            return;
        }
        let target = self
            .clock
            .now()
            .sub_duration(self.settings.closed_ts_target);
        let resolved = {
            let mut s = self.shared.state.lock();
            if target > s.closed_ts {
                s.closed_ts = target;
            }
            s.resolved_ts()
        };
        let mut dead = Vec::new();
        for (id, reg) in self.registrations.iter_mut() {
            if reg.buffered.is_some() || resolved <= reg.resolved {
                continue;
            }
            reg.resolved = resolved;
            if !reg.publish(RangefeedEvent::Checkpoint {
                span: reg.span.clone(),
                ts: resolved,
            }) {
                dead.push(*id);
            }
        }
        for id in dead {
            if let Some(reg) = self.registrations.remove(&id) {
                reg.end(RangefeedError::Overflow);
            }
        }
    }
}

impl Actor for RangeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        let voters = self
            .raw
            .raft
            .prs()
            .conf()
            .voters()
            .ids()
            .iter()
            .collect::<Vec<_>>();
        if voters == vec![self.replica_id.0]
            && let Err(e) = self.raw.campaign()
        {
            tracing::warn!(range = %self.range_id, "failed to campaign: {e}");
        }
        ctx.run_interval(self.settings.raft_tick, |act, ctx| {
            // After the thread stalled, actix's interval calls back once per missed period in
            // one burst, before the messages that queued meanwhile: a follower would campaign
            // and a leader step down (check_quorum) on heartbeats it has not read yet, and
            // leases moved under load. A burst counts as one tick.
            let now = std::time::Instant::now();
            if now.duration_since(act.last_tick) < act.settings.raft_tick / 2 {
                return;
            }
            act.last_tick = now;
            act.guarded(ctx, "tick raft", |act, ctx| {
                act.raw.tick();
                act.advance_transfer();
                act.schedule_ready(ctx);
            });
        });
        ctx.run_interval(self.settings.closed_ts_interval, |act, _ctx| {
            act.close_timestamps()
        });
        self.schedule_ready(ctx);
        tracing::debug!(range = %self.range_id, "range replica started");
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        {
            let mut s = self.shared.state.lock();
            s.stopped = true;
        }
        self.shared.notify.notify_waiters();
        for (_, reg) in self.registrations.drain() {
            reg.end(RangefeedError::ReplicaStopped);
        }
        self.pending.clear();
    }
}

impl Handler<ProcessReady> for RangeActor {
    type Result = ();
    /// Runs the ready loop once.
    fn handle(&mut self, _: ProcessReady, ctx: &mut Context<Self>) {
        self.ready_scheduled = false;
        self.guarded(ctx, "process a raft ready", Self::on_ready);
    }
}

impl Handler<Propose> for RangeActor {
    type Result = ();
    /// Proposes a command to raft; answered after apply.
    fn handle(&mut self, msg: Propose, ctx: &mut Context<Self>) {
        if self.raw.raft.state != StateRole::Leader || self.transfer.is_some() {
            let _ = msg.reply.send(Err(self.not_leaseholder()));
            return;
        }
        self.guarded(ctx, "propose", |act, ctx| {
            act.propose_tracked(msg.reply, ctx, "proposal", |raw, context| {
                raw.propose(context, msg.cmd.encode())
            })
        });
    }
}

impl Handler<Persisted> for RangeActor {
    type Result = ();
    /// Finishes step 5 of the ready loop.
    fn handle(&mut self, msg: Persisted, ctx: &mut Context<Self>) {
        self.guarded(ctx, "finish a raft ready", |act, ctx| {
            act.on_persisted(msg, ctx)
        });
    }
}

impl RangeActor {
    fn on_persisted(&mut self, msg: Persisted, ctx: &mut Context<Self>) {
        if let Err(e) = msg.result {
            self.fatal(ctx, "sync the raft log", e);
            return;
        }
        if !msg.messages.is_empty() {
            self.transport.send(self.range_id, msg.messages);
        }
        self.syncs_in_flight = self.syncs_in_flight.saturating_sub(1);
        self.raw.on_persist_ready(msg.number);
        // Only once the snapshot's own ready is persisted (raft applies nothing above its
        // persisted index).
        if let Some((number, index)) = self.snapshot_applied
            && number <= msg.number
        {
            self.snapshot_applied = None;
            self.raw.advance_apply_to(index);
        }
        self.on_ready(ctx);
    }
}

impl Handler<StopReplica> for RangeActor {
    type Result = ();
    /// Stops the actor.
    fn handle(&mut self, _: StopReplica, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<GetRaftStatus> for RangeActor {
    type Result = MessageResult<GetRaftStatus>;
    /// Reports the raft status.
    fn handle(&mut self, _: GetRaftStatus, _ctx: &mut Context<Self>) -> Self::Result {
        let st = self.raw.store().apply_state();
        let last = raft::Storage::last_index(self.raw.store()).unwrap_or(0);
        let leader = self.raw.raft.state == StateRole::Leader;
        let committed = self.raw.raft.raft_log.committed;
        let (lagging_voters, learners) = if leader {
            let prs = self.raw.raft.prs();
            let lagging = prs
                .iter()
                .filter(|(id, pr)| prs.conf().voters().contains(**id) && pr.matched < committed)
                .count();
            let learners = prs
                .conf()
                .learners()
                .iter()
                .map(|id| (*id, prs.get(*id).is_some_and(|pr| pr.matched >= committed)))
                .collect();
            (lagging, learners)
        } else {
            (0, Vec::new())
        };
        MessageResult(RaftStatus {
            lagging_voters,
            voters: self.raw.raft.prs().conf().voters().ids().len(),
            learners,
            leader,
            term: self.raw.raft.term,
            applied: st.applied_index,
            last_index: last,
        })
    }
}

/// The apply state of a range as stored (for tests and status pages).
pub fn stored_apply_state(engine: &Engine, range: RangeId) -> Result<ApplyState, StorageError> {
    Ok(FjallRaftStorage::load(engine, range)?.apply_state())
}

#[cfg(test)]
mod tests;
