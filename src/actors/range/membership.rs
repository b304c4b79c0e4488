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

    /// Records who leads the group now (see the module docs).
    pub(super) fn on_leader_change(&mut self, leader: u64) {
        let me = self.replica_id.0;
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
    pub(super) fn apply_snapshot(&mut self, snap: &Snapshot) -> Result<(), StorageError> {
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
        self.snapshot_applied = Some(snap.get_metadata().index);
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
        if let Err(e) = self.raw.step(msg.msg) {
            tracing::debug!(range = %self.range_id, "raft message refused: {e}");
        }
        self.schedule_ready(ctx);
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
        if self.raw.raft.has_pending_conf() {
            let _ = msg.reply.send(Err(RangeError::Unavailable {
                range: self.range_id,
                reason: "a membership change is in progress".into(),
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

/// Who holds the lease, as this replica knows it.
impl super::replica::ReplicaShared {
    /// Whether this replica holds the lease (leads its raft group).
    pub fn is_leaseholder(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let me = self.replica_id.load(Relaxed);
        me != 0 && self.leader.load(Relaxed) == me
    }

    /// The node of the leaseholder, if this replica knows it.
    pub fn leaseholder_node(&self) -> Option<crate::ids::NodeId> {
        let leader = self.leader.load(std::sync::atomic::Ordering::Relaxed);
        if leader == 0 {
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
