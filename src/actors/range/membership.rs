//! Raft membership of a range replica: messages from peers on other nodes, adding voters,
//! snapshots, and what changes when the lease (raft leadership) moves.
//!
//! - [`Step`] hands a peer's raft message to the group.
//! - [`AddVoter`] (leaseholder only) proposes a membership change adding a replica on another
//!   node as a learner, or promoting a learner to voter; the entry carries the
//!   [`ReplicaDescriptor`], and applying it updates the conf state and the range descriptor
//!   (which lists learners and voters alike) in the same batch on every replica. One change at
//!   a time: a second request while one is pending is refused. New replicas start as learners
//!   so that a replica still waiting for its snapshot never counts towards the quorum.
//! - [`TransferLease`] (leaseholder only) hands the lease to another voter: the replica stops
//!   serving at once (`ReplicaShared::transferring`; requests re-route and retry), waits for
//!   its proposals in flight to apply, then raft sends the target a `TimeoutNow` and it wins
//!   the next term. Every raft message carries the sender's clock, which the receiver adopts
//!   first, so the new leaseholder's clock (and so its timestamp cache floor, below) is above
//!   every timestamp the old one served. Raft abandons a transfer the target does not complete
//!   within an election timeout; the replica then serves again.
//! - A snapshot (sent by raft to a new or lagging replica) replaces the replica's span and raft
//!   state in one batch, synced with the ready that carries it; the replica then reports its
//!   descriptor to the store (`init_sink`) so requests can be routed to it.
//! - Leadership: proposals carry the proposing replica's id, so only the proposer answers its
//!   callers. A replica that gains the lease of a group with other voters raises its timestamp
//!   cache's low water mark and closed timestamp to its clock's `now`: a new leader is elected
//!   only after the old one went an election timeout (1 s by default, more than the 500 ms
//!   `max_offset`) without a quorum, so every read or closed timestamp the old leaseholder
//!   served is below that, and no write can slip under them. (An old leader cut off from its
//!   quorum keeps serving reads until check-quorum demotes it, at most one election timeout:
//!   CockroachDB closes this window with epoch leases, which tandem does not have yet.) A
//!   replica that loses the lease fails its pending proposals as ambiguous (they may still
//!   commit) and ends its rangefeed registrations: rangefeeds (and closed timestamps) are
//!   served by the leaseholder only, so a follower never checkpoints past writes it has not
//!   applied yet.

use super::error::RangeError;
use super::{RangeActor, StateRole};
use crate::storage::records::{ReplicaDescriptor, decode, encode};
use crate::storage::{StorageError, raft_log, snapshot};
use actix::prelude::*;
use protobuf::Message as _;
use raft::prelude::{ConfChange, ConfChangeType, Entry, Message as RaftMessage, Snapshot};
use std::sync::atomic::Ordering;
use tokio::sync::oneshot;

/// How long a lease transfer waits for the proposals in flight before it is abandoned.
pub const TRANSFER_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// A raft message from a peer replica.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Step {
    /// The message.
    pub msg: RaftMessage,
}

/// Start an election now (the right-hand side of a split, on the node that led the left-hand
/// side, so the lease stays where it was instead of going to whichever replica times out first).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Campaign;

/// Hand the lease (raft leadership) to another voter. Answered once the transfer started; it
/// completes when the target wins its election (within milliseconds when it is caught up) or
/// is abandoned after an election timeout, and the lease stays here.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TransferLease {
    /// The voter to hand the lease to.
    pub to: crate::ids::ReplicaId,
    /// Whether the transfer started.
    pub reply: oneshot::Sender<Result<(), RangeError>>,
}

/// Add a replica as a learner, or promote a learner to voter; answered once the change is
/// applied here.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddVoter {
    /// The replica.
    pub replica: ReplicaDescriptor,
    /// Add it as a learner (it receives the log and a snapshot but does not vote) instead of
    /// as a voter.
    pub learner: bool,
    /// The outcome.
    pub reply: oneshot::Sender<Result<(), RangeError>>,
}

impl RangeActor {
    /// The context of a proposal: this replica's id and the proposal id.
    pub(super) fn proposal_context(&self, id: u64) -> Vec<u8> {
        let mut c = Vec::with_capacity(16);
        c.extend_from_slice(&self.replica_id.0.to_be_bytes());
        c.extend_from_slice(&id.to_be_bytes());
        c
    }

    /// Proposes through `propose` (given the entry context) and answers `reply` after apply,
    /// or at once if raft drops the proposal.
    pub(super) fn propose_tracked(
        &mut self,
        reply: oneshot::Sender<Result<(), RangeError>>,
        ctx: &mut Context<Self>,
        what: &str,
        propose: impl FnOnce(
            &mut raft::RawNode<raft_log::FjallRaftStorage>,
            Vec<u8>,
        ) -> raft::Result<()>,
    ) {
        let id = self.next_proposal;
        self.next_proposal += 1;
        let context = self.proposal_context(id);
        match propose(&mut self.raw, context) {
            Ok(()) => {
                self.pending.insert(id, reply);
                self.schedule_ready(ctx);
            }
            Err(e) => {
                let _ = reply.send(Err(RangeError::Unavailable {
                    range: self.range_id,
                    reason: format!("{what} dropped: {e}"),
                }));
            }
        }
    }

    /// The proposal id of an entry this replica proposed.
    pub(super) fn own_proposal(&self, context: &[u8]) -> Option<u64> {
        if context.len() != 16 {
            return None;
        }
        let (who, id) = context.split_at(8);
        let who = u64::from_be_bytes(who.try_into().ok()?);
        let id = u64::from_be_bytes(id.try_into().ok()?);
        (who == self.replica_id.0).then_some(id)
    }

    /// The error for a request that needs the lease this replica does not hold.
    pub(super) fn not_leaseholder(&self) -> RangeError {
        RangeError::NotLeaseholder {
            range: self.range_id,
            leaseholder: self.shared.leaseholder_node(),
        }
    }

    /// Moves a lease transfer on (every raft tick): raft is told once no proposal of this
    /// leaseholder is in flight (they would otherwise end ambiguous); the replica serves again
    /// if the proposals do not drain within [`TRANSFER_DRAIN`] or raft abandoned the transfer
    /// (the target did not win within an election timeout).
    pub(super) fn advance_transfer(&mut self) {
        let Some((to, asked, told)) = self.transfer else {
            return;
        };
        let abandon = if self.raw.raft.state != StateRole::Leader {
            true
        } else if !told {
            if self.pending.is_empty() {
                self.raw.transfer_leader(to);
                self.transfer = Some((to, asked, true));
                tracing::debug!(range = %self.range_id, to, "transferring the lease");
                false
            } else {
                asked.elapsed() >= TRANSFER_DRAIN
            }
        } else {
            self.raw.raft.lead_transferee.is_none()
        };
        if abandon {
            self.transfer = None;
            self.shared.transferring.store(false, Ordering::Relaxed);
            self.transfer = None;
            self.shared.notify.notify_waiters();
            tracing::debug!(range = %self.range_id, to, "lease transfer abandoned");
        }
    }

    /// Records who leads the group now (see the module docs).
    pub(super) fn on_leader_change(&mut self, leader: u64) {
        let me = self.replica_id.0;
        self.shared.transferring.store(false, Ordering::Relaxed);
        let was = self.shared.leader.swap(leader, Ordering::Relaxed);
        let sole_voter = self.raw.raft.prs().conf().voters().ids().len() == 1;
        if leader == me && was != me && !sole_voter {
            let floor = self.clock.now();
            let mut s = self.shared.state.lock();
            s.tscache.raise_low_water(floor);
            if floor > s.closed_ts {
                s.closed_ts = floor;
            }
            tracing::debug!(range = %self.range_id, "acquired the lease");
        }
        if was == me && leader != me {
            for (_, reg) in self.registrations.drain() {
                reg.end(super::rangefeed::RangefeedError::LeaseLost);
            }
            for (_, reply) in self.pending.drain() {
                let _ = reply.send(Err(RangeError::Unavailable {
                    range: self.range_id,
                    reason: "result is ambiguous: the replica lost its lease".into(),
                }));
            }
            tracing::debug!(range = %self.range_id, leader, "lost the lease");
        }
        self.shared.notify.notify_waiters();
    }

    /// Writes a snapshot's data and raft state (synced with the ready that carries it).
    pub(super) fn apply_snapshot(
        &mut self,
        snap: &Snapshot,
        ready: u64,
    ) -> Result<(), StorageError> {
        let data = snapshot::decode_data(&snap.data)?;
        let mut batch = self.engine.batch();
        snapshot::apply(&self.engine, &mut batch, &data)?;
        raft_log::write_descriptor(&self.engine, &mut batch, &data.desc);
        self.raw.mut_store().apply_snapshot(&mut batch, snap)?;
        batch.commit()?;
        self.engine.row_cache().clear();
        let was_initialized = {
            let mut s = self.shared.state.lock();
            let was = !s.desc.span.is_empty();
            s.desc = data.desc.clone();
            s.intents = data
                .locks
                .iter()
                .filter_map(|r| {
                    decode::<crate::storage::records::Intent>(&r.value)
                        .ok()
                        .map(|i| (r.key.clone(), i.ts))
                })
                .collect();
            s.bytes = data
                .mvcc
                .iter()
                .map(|r| (r.key.len() + r.value.len()) as u64)
                .sum();
            was
        };
        self.snapshot_applied = Some((ready, snap.get_metadata().index));
        tracing::info!(range = %self.range_id, index = snap.get_metadata().index, records = data.mvcc.len(), "applied a raft snapshot");
        if !was_initialized && let Some(sink) = &self.init_sink {
            let _ = sink.send(data.desc);
        }
        self.shared.notify.notify_waiters();
        Ok(())
    }

    /// Applies a membership change entry into `batch`; returns the proposal to answer.
    pub(super) fn apply_conf_change(
        &mut self,
        e: &Entry,
        batch: &mut fjall::OwnedWriteBatch,
    ) -> Result<Option<u64>, RangeError> {
        if e.data.is_empty() {
            return Ok(None);
        }
        let cc = ConfChange::parse_from_bytes(&e.data)
            .map_err(|err| StorageError::Codec(format!("conf change: {err}")))?;
        let replica: ReplicaDescriptor = decode(&cc.context)?;
        let cs = self
            .raw
            .apply_conf_change(&cc)
            .map_err(|err| RangeError::Unavailable {
                range: self.range_id,
                reason: format!("apply a membership change: {err}"),
            })?;
        let mut desc = self.shared.desc();
        match cc.get_change_type() {
            ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                if !desc
                    .replicas
                    .iter()
                    .any(|r| r.replica_id == replica.replica_id)
                {
                    desc.replicas.push(replica);
                }
            }
            ConfChangeType::RemoveNode => {
                desc.replicas.retain(|r| r.replica_id != replica.replica_id)
            }
        }
        desc.generation += 1;
        raft_log::write_descriptor(&self.engine, batch, &desc);
        self.raw.mut_store().set_conf_state(batch, cs);
        self.shared.state.lock().desc = desc;
        Ok(self.own_proposal(&e.context))
    }
}

impl Handler<Step> for RangeActor {
    type Result = ();
    fn handle(&mut self, msg: Step, ctx: &mut Context<Self>) {
        self.guarded(ctx, "step a raft message", |act, ctx| {
            if let Err(e) = act.raw.step(msg.msg) {
                tracing::debug!(range = %act.range_id, "raft message refused: {e}");
            }
            act.schedule_ready(ctx);
        });
    }
}

impl Handler<Campaign> for RangeActor {
    type Result = ();
    fn handle(&mut self, _: Campaign, ctx: &mut Context<Self>) {
        if self.raw.raft.state != StateRole::Leader
            && let Err(e) = self.raw.campaign()
        {
            tracing::debug!(range = %self.range_id, "cannot campaign: {e}");
        }
        self.schedule_ready(ctx);
    }
}

impl Handler<AddVoter> for RangeActor {
    type Result = ();
    fn handle(&mut self, msg: AddVoter, ctx: &mut Context<Self>) {
        if self.raw.raft.state != StateRole::Leader {
            let _ = msg.reply.send(Err(self.not_leaseholder()));
            return;
        }
        if self.raw.raft.has_pending_conf() || self.transfer.is_some() {
            let _ = msg.reply.send(Err(RangeError::Unavailable {
                range: self.range_id,
                reason: "a membership change or lease transfer is in progress".into(),
            }));
            return;
        }
        let mut cc = ConfChange::default();
        cc.set_change_type(if msg.learner {
            ConfChangeType::AddLearnerNode
        } else {
            ConfChangeType::AddNode
        });
        cc.node_id = msg.replica.replica_id.0;
        cc.context = encode(&msg.replica).into();
        self.propose_tracked(msg.reply, ctx, "membership change", |raw, context| {
            raw.propose_conf_change(context, cc)
        });
    }
}

impl Handler<TransferLease> for RangeActor {
    type Result = ();
    fn handle(&mut self, msg: TransferLease, ctx: &mut Context<Self>) {
        let refuse = |reason: &str| {
            Err(RangeError::Unavailable {
                range: self.range_id,
                reason: format!("cannot transfer the lease: {reason}"),
            })
        };
        let r = if self.raw.raft.state != StateRole::Leader {
            Err(self.not_leaseholder())
        } else if self.raw.raft.has_pending_conf() {
            refuse("a membership change is in progress")
        } else if self.transfer.is_some() {
            refuse("a transfer is in progress")
        } else if msg.to.0 == self.replica_id.0
            || !self.raw.raft.prs().conf().voters().contains(msg.to.0)
        {
            refuse("the target is not another voter")
        } else {
            // Serve nothing from now on: the clock that goes out with the transfer's raft
            // messages is above every timestamp this replica served (see `Frame::Raft`).
            self.shared.transferring.store(true, Ordering::Relaxed);
            self.transfer = Some((msg.to.0, std::time::Instant::now(), false));
            self.advance_transfer();
            Ok(())
        };
        let _ = msg.reply.send(r);
        self.schedule_ready(ctx);
    }
}

/// Who holds the lease, as this replica knows it.
impl super::replica::ReplicaShared {
    /// Whether this replica holds the lease (leads its raft group, and is not handing it over).
    pub fn is_leaseholder(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let me = self.replica_id.load(Relaxed);
        me != 0 && self.leader.load(Relaxed) == me && !self.transferring.load(Relaxed)
    }

    /// The node of the leaseholder, if this replica knows it (not while it hands it over).
    pub fn leaseholder_node(&self) -> Option<crate::ids::NodeId> {
        let leader = self.leader.load(std::sync::atomic::Ordering::Relaxed);
        if leader == 0 || self.transferring.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        self.node_of(leader)
    }

    /// The node of peer replica `replica`, from the descriptor or from its messages.
    pub fn node_of(&self, replica: u64) -> Option<crate::ids::NodeId> {
        let from_desc = self
            .state
            .lock()
            .desc
            .replicas
            .iter()
            .find(|r| r.replica_id.0 == replica)
            .map(|r| r.node_id);
        from_desc.or_else(|| self.peer_nodes.lock().get(&replica).copied())
    }
}
