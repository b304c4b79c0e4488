//! The replicas on this node: starting them, delivering raft messages from peers, creating
//! replicas that peers address before this node has any state for their range, and the
//! replicate queue that gives every range its voters.
//!
//! - A replica is started for each range descriptor found on disk, for each range a split
//!   creates, and for each raft message of a leader (append, heartbeat, snapshot) addressed to a
//!   range this node does not have: that replica starts *uninitialised* (no span, no log, its
//!   replica id recorded in a placeholder descriptor) and is routable only after raft's snapshot
//!   initialises it. Messages of other kinds (votes) for unknown ranges are dropped: they come
//!   from the other replicas of a range whose split has not applied here yet, and the split
//!   will create it.
//! - A split that creates a range this node already holds uninitialised replaces that replica
//!   with the split's state (the split's batch already wrote it, keeping the replica's term and
//!   vote; the uninitialised actor stops at its next ready without writing). One that finds
//!   the range already initialised by a snapshot leaves it alone. The range-creation lock
//!   orders the split's write against the creation of an uninitialised replica, which
//!   re-checks under it (two messages for a new range can race, and so can a split).
//! - The replicate queue runs every second on each node. For every range this node holds the
//!   lease of with fewer replicas than `kv.replication_factor` (capped by the live nodes), it
//!   adds a learner on the reachable live node with the fewest replicas, and promotes it to
//!   voter once it has caught up (after its snapshot); one change per range per pass, and only
//!   while every voter is caught up. Failures are logged and retried on the next pass.
//! - Lease rebalancing (every [`BALANCE_EVERY`]): a node holding more leases than its share
//!   (the live nodes' leases, from their liveness records, divided among them, rounded up)
//!   hands leases of fully replicated, caught-up ranges to the voter on the node with the
//!   fewest leases, as long as that strictly narrows the gap (no back-and-forth), at most
//!   [`BALANCE_MAX_MOVES`] per pass. So leases, which start where the first node or a split's
//!   left-hand side had them, end up spread over the nodes, and so do rangefeeds and
//!   replication partitions. A transfer stops the leaseholder serving first, waits for its
//!   proposals in flight, then lets raft hand leadership over (see `TransferLease`).

use super::{KvError, Result, Store};
use crate::actors::range::intent_times::IntentTimes;
use crate::actors::range::membership::{AddVoter, Step, TransferLease};
use crate::actors::range::replica::{Replica, ReplicaShared};
use crate::actors::range::transport::{LocalTransport, NodeTransport, RaftTransport};
use crate::actors::range::{GetRaftStatus, RangeActor, RangeActorConfig, StopReplica};
use crate::ids::{NodeId, RangeId, ReplicaId};
use crate::storage::mvcc;
use crate::storage::raft_log;
use crate::storage::records::{RangeDescriptor, ReplicaDescriptor};
use actix::prelude::*;
use protobuf::Message as _;
use raft::prelude::{Message as RaftMessage, MessageType};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often the replicate queue looks for under-replicated ranges.
const REPLICATE_EVERY: Duration = Duration::from_secs(1);

/// How often a node looks at its share of leases: longer than a heartbeat, so each pass sees
/// the lease counts the previous pass's transfers produced.
const BALANCE_EVERY: Duration = Duration::from_secs(3);

/// At most this many lease transfers per node per pass.
const BALANCE_MAX_MOVES: u64 = 8;

impl Store {
    /// Starts the replica of `desc` on this node (idempotent; see the module docs).
    pub(super) fn start_replica(&self, desc: RangeDescriptor) -> Result<()> {
        let existing = self.inner.by_id.read().get(&desc.range_id).cloned();
        if let Some(r) = existing {
            if !r.shared.desc().span.is_empty() || desc.span.is_empty() {
                return Ok(());
            }
            r.addr.do_send(StopReplica);
        }
        let floor = self.inner.clock.now();
        let mut intents = IntentTimes::default();
        if !desc.span.is_empty() {
            for (k, i) in mvcc::scan_intents(&self.inner.engine, &desc.span, usize::MAX)? {
                intents.insert(k, i.ts);
            }
        }
        let shared = ReplicaShared::new(desc.clone(), floor, intents, 0);
        let replica_id = desc
            .replicas
            .iter()
            .find(|r| r.node_id == self.node_id())
            .map(|r| r.replica_id)
            .unwrap_or(ReplicaId(1));
        let transport: Box<dyn RaftTransport> = match self.peers() {
            Some(p) => Box::new(NodeTransport::new(
                p.clone(),
                shared.clone(),
                self.inner.clock.clone(),
            )),
            None => Box::new(LocalTransport),
        };
        let cfg = RangeActorConfig {
            engine: self.inner.engine.clone(),
            shared: shared.clone(),
            clock: self.inner.clock.clone(),
            settings: self.inner.settings.clone(),
            transport,
            metrics: self.inner.metrics.range.clone(),
            split_sink: Some(self.inner.split_tx.clone()),
            init_sink: Some(self.inner.init_tx.clone()),
            creation: self.inner.creation.clone(),
        };
        let actor = RangeActor::create(cfg, replica_id)?;
        let addr = RangeActor::start_in_arbiter(&self.inner.arbiter, move |_| actor);
        let replica = Replica::new(
            shared,
            addr,
            self.inner.engine.clone(),
            self.inner.clock.clone(),
            self.inner.settings.clone(),
            self.inner.live_txns.clone(),
        );
        self.inner
            .by_id
            .write()
            .insert(desc.range_id, replica.clone());
        if !desc.span.is_empty() {
            self.inner
                .ranges
                .write()
                .insert(desc.span.start.0.clone(), replica);
        }
        Ok(())
    }

    /// Delivers a raft message from a peer (node `from`, if it said) to this node's replica of
    /// `range`.
    pub fn deliver_raft(&self, from: Option<NodeId>, range: RangeId, raw: &[u8]) {
        let msg = match RaftMessage::parse_from_bytes(raw) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(%range, "undecodable raft message dropped: {e}");
                return;
            }
        };
        let existing = self.inner.by_id.read().get(&range).cloned();
        let replica = match existing {
            Some(r) => r,
            None => {
                let from_leader = matches!(
                    msg.get_msg_type(),
                    MessageType::MsgAppend | MessageType::MsgHeartbeat | MessageType::MsgSnapshot
                );
                if !from_leader || !self.is_member() {
                    return;
                }
                match self.create_uninitialized(range, ReplicaId(msg.to)) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(%range, "cannot create a replica for a peer's message: {e}");
                        return;
                    }
                }
            }
        };
        if let Some(node) = from {
            replica.shared.peer_nodes.lock().insert(msg.from, node);
        }
        replica.addr.do_send(Step { msg });
    }

    /// Under the range-creation lock, re-checked: another message may have created the
    /// replica meanwhile, and a split applied here may have written the range's state without
    /// its replica being started yet (that state is started, not overwritten).
    fn create_uninitialized(&self, range: RangeId, replica_id: ReplicaId) -> Result<Replica> {
        let _creating = self.inner.creation.lock();
        if let Some(r) = self.inner.by_id.read().get(&range).cloned() {
            return Ok(r);
        }
        let engine = &self.inner.engine;
        match raft_log::read_descriptor(engine, range)? {
            Some(desc) => self.start_replica(desc)?,
            None => {
                let mut batch = engine.batch();
                raft_log::write_uninitialized_state(engine, &mut batch, range);
                let desc = RangeDescriptor {
                    range_id: range,
                    replicas: vec![ReplicaDescriptor {
                        node_id: self.node_id(),
                        replica_id,
                    }],
                    ..Default::default()
                };
                raft_log::write_descriptor(engine, &mut batch, &desc);
                batch.commit().map_err(crate::storage::StorageError::from)?;
                tracing::info!(%range, %replica_id, "created an uninitialised replica for a peer");
                self.start_replica(desc)?;
            }
        }
        self.inner
            .by_id
            .read()
            .get(&range)
            .cloned()
            .ok_or_else(|| KvError::Unavailable(format!("replica of {range} did not start")))
    }

    /// Routes to replicas once a snapshot initialised them; runs the replicate queue.
    pub(super) fn spawn_replica_lifecycle(
        &self,
        mut init_rx: mpsc::UnboundedReceiver<RangeDescriptor>,
    ) {
        let store = self.clone();
        self.inner.arbiter.spawn(async move {
            while let Some(desc) = init_rx.recv().await {
                let r = store.inner.by_id.read().get(&desc.range_id).cloned();
                if let Some(r) = r {
                    store
                        .inner
                        .ranges
                        .write()
                        .insert(desc.span.start.0.clone(), r);
                }
            }
        });
        let store = self.clone();
        self.inner.arbiter.spawn(async move {
            let mut tick = tokio::time::interval(REPLICATE_EVERY);
            let mut last_balance = std::time::Instant::now();
            loop {
                tick.tick().await;
                if store.is_stopping() {
                    break;
                }
                if store.peers().is_none() || !store.is_member() {
                    continue;
                }
                if let Err(e) = store.replicate_once().await {
                    tracing::debug!("replicate queue: {e}");
                }
                if last_balance.elapsed() >= BALANCE_EVERY {
                    last_balance = std::time::Instant::now();
                    match store.balance_leases().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(moved = n, "lease rebalancing moved leases"),
                        Err(e) => tracing::debug!("lease rebalancing: {e}"),
                    }
                }
            }
        });
    }

    /// The replicas on this node that hold their range's lease.
    fn leaseholders(&self) -> Vec<Replica> {
        self.inner
            .ranges
            .read()
            .values()
            .filter(|r| r.shared.is_leaseholder())
            .cloned()
            .collect()
    }

    /// One pass of the replicate queue (see the module docs).
    async fn replicate_once(&self) -> Result<()> {
        let factor = self.inner.settings.replication_factor;
        let under = self.leaseholders();
        if under.is_empty() {
            return Ok(());
        }
        let Some(peers) = self.peers().cloned() else {
            return Ok(());
        };
        let mut live: Vec<(u64, NodeId)> = self
            .serving_nodes()
            .await?
            .into_iter()
            .map(|(d, l)| (l.ranges, d.node_id))
            .collect();
        live.sort();
        let target = factor.min(live.len());
        for r in under {
            let desc = r.shared.desc();
            let status = r
                .addr
                .send(GetRaftStatus)
                .await
                .map_err(|e| KvError::Unavailable(e.to_string()))?;
            if !status.leader || status.lagging_voters > 0 {
                continue;
            }
            // A learner that caught up becomes a voter; one still catching up is waited for.
            let change = if let Some((id, caught_up)) = status.learners.first() {
                if !caught_up {
                    continue;
                }
                let Some(rep) = desc.replicas.iter().find(|x| x.replica_id.0 == *id) else {
                    continue;
                };
                (*rep, false)
            } else {
                if desc.replicas.len() >= target {
                    continue;
                }
                // Only nodes this node can reach: their address is known.
                let Some(node) = live.iter().map(|(_, n)| *n).find(|n| {
                    !desc.replicas.iter().any(|x| x.node_id == *n) && peers.address(*n).is_some()
                }) else {
                    continue;
                };
                let replica_id = ReplicaId(
                    desc.replicas
                        .iter()
                        .map(|x| x.replica_id.0)
                        .max()
                        .unwrap_or(0)
                        + 1,
                );
                if let Some(e) = live.iter_mut().find(|(_, n)| *n == node) {
                    e.0 += 1;
                }
                (
                    ReplicaDescriptor {
                        node_id: node,
                        replica_id,
                    },
                    true,
                )
            };
            let (replica, learner) = change;
            if !change_membership(&r, replica, learner).await || !learner {
                continue;
            }
            // Promote the new learner as soon as its snapshot has caught it up, so the range
            // spends as little time as possible one voter short.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let Ok(st) = r.addr.send(GetRaftStatus).await else {
                    break;
                };
                if !st.leader {
                    break;
                }
                if st
                    .learners
                    .iter()
                    .any(|(id, caught_up)| *id == replica.replica_id.0 && *caught_up)
                {
                    change_membership(&r, replica, false).await;
                    break;
                }
            }
        }
        Ok(())
    }
}

impl Store {
    /// One pass of lease rebalancing (see the module docs); returns how many transfers
    /// started.
    async fn balance_leases(&self) -> Result<usize> {
        let me = self.node_id();
        let mine = self.leaseholders();
        let mut counts: HashMap<NodeId, u64> = self
            .serving_nodes()
            .await?
            .into_iter()
            .map(|(d, l)| (d.node_id, l.leases))
            .collect();
        if counts.len() < 2 || !counts.contains_key(&me) {
            return Ok(0);
        }
        counts.insert(me, mine.len() as u64);
        let total: u64 = counts.values().sum();
        let share = total.div_ceil(counts.len() as u64);
        let mut excess = (mine.len() as u64)
            .saturating_sub(share)
            .min(BALANCE_MAX_MOVES);
        let mut moved = 0;
        for r in mine {
            if excess == 0 {
                break;
            }
            let desc = r.shared.desc();
            let Ok(status) = r.addr.send(GetRaftStatus).await else {
                continue;
            };
            if !status.leader
                || status.lagging_voters > 0
                || !status.learners.is_empty()
                || status.voters != desc.replicas.len()
            {
                continue;
            }
            let mine_now = counts.get(&me).copied().unwrap_or(0);
            let Some((target, replica)) = desc
                .replicas
                .iter()
                .filter(|x| x.node_id != me)
                .filter_map(|x| {
                    counts
                        .get(&x.node_id)
                        .map(|c| (*c, x.node_id, x.replica_id))
                })
                .min()
                .filter(|(c, _, _)| c + 1 < mine_now)
                .map(|(_, n, id)| (n, id))
            else {
                continue;
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            r.addr.do_send(TransferLease {
                to: replica,
                reply: tx,
            });
            if let Ok(Ok(())) = rx.await {
                *counts.entry(me).or_default() -= 1;
                *counts.entry(target).or_default() += 1;
                excess -= 1;
                moved += 1;
                tracing::debug!(range = %desc.range_id, to = %target, "moving a lease to balance nodes");
            }
        }
        Ok(moved)
    }
}

/// Proposes one membership change on the leaseholder `r` and waits for it; true if applied.
async fn change_membership(r: &Replica, replica: ReplicaDescriptor, learner: bool) -> bool {
    let range = r.range_id();
    let (tx, rx) = tokio::sync::oneshot::channel();
    r.addr.do_send(AddVoter {
        replica,
        learner,
        reply: tx,
    });
    let what = if learner { "learner" } else { "voter" };
    match tokio::time::timeout(Duration::from_secs(10), rx).await {
        Ok(Ok(Ok(()))) => {
            tracing::info!(%range, node = %replica.node_id, replica_id = %replica.replica_id, "added a {what}");
            true
        }
        Ok(Ok(Err(e))) => {
            tracing::debug!(%range, "adding a {what} failed: {e}");
            false
        }
        _ => {
            tracing::debug!(%range, "adding a {what} timed out");
            false
        }
    }
}
