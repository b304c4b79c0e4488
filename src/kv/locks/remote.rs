//! Row locks taken at another node: the leaseholder of the key's range.
//!
//! A transaction whose gateway does not hold the lease of a key's range sends its lock request
//! there ([`LockCall::Acquire`], over [`Service::Locks`]); the leaseholder runs it against its
//! own [`LockTable`] exactly as a local request, and the call stays open until the table
//! answers (granted, busy, `lock_timeout`, deadlock). Every call carries the caller's clock and
//! every answer the serving node's, as KV requests do, so a waiter that is granted a lock after
//! its holder committed reads at a timestamp above that commit. The transport runs these calls
//! outside its per-connection limit on requests in flight, since they may wait for minutes.
//!
//! Ending a wait early: when the gateway gives up (statement timeout, cancel: before the
//! statement fails; deadlock across nodes, the statement's future dropped with its connection:
//! in the background), it sends [`LockCall::CancelWait`], which takes the waiter out of the
//! queue on the leaseholder (a cancel that overtakes its request leaves a marker that refuses
//! the request). If the lock was handed
//! over at that moment, the transaction keeps it until it ends, as on one node.
//!
//! Releasing: when a transaction ends, its gateway sends [`LockCall::Release`] to every node it
//! sent a lock request to (awaited by a commit, in the background after a rollback or drop), and
//! that node releases every lock and wait of the transaction. Best effort, backed by heartbeats:
//! while a transaction holds or waits for locks on other nodes, its gateway sends them
//! [`LockCall::Heartbeat`] every [`LOCK_HEARTBEAT`]; a node drops the locks and waits of a
//! transaction it has not heard of for [`LOCK_EXPIRY`] (its gateway died, restarted, or lost its
//! release). A lock dropped that way is safe to lose: locks only order transactions, the
//! commit-time checks keep them serializable (see [`super`]).
//!
//! Failures: a request that reaches a node that no longer holds the lease is answered
//! [`LockReply::NotLeaseholder`] and routed again; a transport failure during a wait fails a
//! locking SELECT's statement, while an UPDATE or DELETE goes on without its best-effort lock
//! (as after its wait limit); either way the wait is cancelled if the node is reachable, else it
//! expires with the transaction's heartbeats.

use super::{Acquired, LockRequest, LockTable};
use crate::clock::Timestamp;
use crate::ids::{NodeId, RangeId, TxnId};
use crate::kv::Store;
use crate::kv::remote::RangeHandle;
use crate::rpc::{RpcError, Service};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How often a gateway tells the nodes holding its transactions' locks that they are alive.
pub const LOCK_HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a node keeps the locks of a transaction whose gateway stopped heartbeating.
pub const LOCK_EXPIRY: Duration = Duration::from_secs(5);
/// How long a call that does not wait may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a release may take (a commit waits for it; a node that does not answer in time
/// expires the locks instead).
const RELEASE_TIMEOUT: Duration = Duration::from_secs(1);
/// The transport's limit on a lock wait (the serving node ends waits by their own limits).
const WAIT_CALL_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A call of [`Service::Locks`].
#[derive(Debug, Serialize, Deserialize)]
pub enum LockCall {
    /// Take `key` for `txn` in this node's table; `range` must be leased here.
    Acquire {
        /// The key's range.
        range: RangeId,
        /// The key.
        key: Vec<u8>,
        /// The transaction.
        txn: TxnId,
        /// The transaction's gateway.
        gateway: NodeId,
        /// Names this wait for [`LockCall::CancelWait`] (unique per gateway).
        wait: u64,
        /// The request.
        req: LockRequest,
    },
    /// The gateway gave up the wait `wait`.
    CancelWait {
        /// The gateway.
        gateway: NodeId,
        /// The wait.
        wait: u64,
    },
    /// `txn` ended: release its locks and waits here.
    Release {
        /// The transaction.
        txn: TxnId,
    },
    /// These transactions of `gateway` are alive.
    Heartbeat {
        /// The gateway.
        gateway: NodeId,
        /// Its transactions with locks or waits on this node.
        txns: Vec<TxnId>,
    },
    /// This node's wait-for edges ([`LockTable::wait_edges`]).
    Edges,
}

/// The answer to a [`LockCall`].
#[derive(Debug, Serialize, Deserialize)]
pub enum LockReply {
    /// For `Acquire`: the table's answer.
    Acquired(Acquired),
    /// For `Acquire`: this node does not hold the range's lease (route again).
    NotLeaseholder,
    /// For the calls without an answer.
    Done,
    /// For `Edges`.
    Edges(Vec<(TxnId, TxnId)>),
}

/// A call or answer with the sender's clock.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope<T> {
    now: Timestamp,
    body: T,
}

/// The outcome of [`Store::acquire_remote`].
#[derive(Debug)]
pub enum RemoteAcquire {
    /// The leaseholder's answer (final: a lock it did not grant is not held).
    Answer(Acquired),
    /// The node does not hold the lease (any more): route again.
    Moved,
    /// The caller's `stop` completed first; the wait is being cancelled (the lock may have
    /// been granted meanwhile: it is released with the transaction).
    Stopped,
    /// The transport failed during the wait (outcome unknown, as for `Stopped`).
    Failed(String),
}

/// Where a key's lock is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockTarget {
    /// This node's table: it holds the lease.
    Local,
    /// The leaseholder `node` of `range`.
    Remote {
        /// The node.
        node: NodeId,
        /// The range.
        range: RangeId,
    },
}

/// The gateway side: which nodes hold locks or waits of this node's transactions.
#[derive(Debug, Default)]
pub(crate) struct GatewayLocks {
    txns: Mutex<HashMap<TxnId, BTreeSet<NodeId>>>,
    next_wait: AtomicU64,
}

/// The serving side: the locks and waits of transactions coordinated by other nodes.
#[derive(Debug, Default)]
pub(crate) struct HostedLocks {
    inner: Mutex<Hosted>,
}

#[derive(Debug, Default)]
struct Hosted {
    txns: HashMap<TxnId, HostedTxn>,
    waits: HashMap<(NodeId, u64), Wait>,
}

#[derive(Debug)]
struct HostedTxn {
    gateway: NodeId,
    keys: HashSet<Vec<u8>>,
    seen: Instant,
}

#[derive(Debug)]
enum Wait {
    /// Dropping the sender stops the wait.
    Running {
        txn: TxnId,
        _stop: oneshot::Sender<()>,
    },
    /// Cancelled before its request arrived.
    Cancelled(Instant),
}

impl HostedLocks {
    /// Registers a wait of `txn` for `key`: the future that completes when it is to stop, and
    /// whether the transaction did not have `key` here before. None: already cancelled.
    fn begin_wait(
        &self,
        txn: TxnId,
        gateway: NodeId,
        wait: u64,
        key: &[u8],
    ) -> Option<(oneshot::Receiver<()>, bool)> {
        let mut h = self.inner.lock();
        if let Some(Wait::Cancelled(_)) = h.waits.remove(&(gateway, wait)) {
            return None;
        }
        let t = h.txns.entry(txn).or_insert_with(|| HostedTxn {
            gateway,
            keys: HashSet::new(),
            seen: Instant::now(),
        });
        t.seen = Instant::now();
        let newly = t.keys.insert(key.to_vec());
        let (tx, rx) = oneshot::channel();
        h.waits
            .insert((gateway, wait), Wait::Running { txn, _stop: tx });
        Some((rx, newly))
    }

    /// Ends a wait with the table's answer `got`: a lock not granted that the transaction did
    /// not have before is released.
    fn end_wait(
        &self,
        table: &LockTable,
        txn: TxnId,
        (gateway, wait): (NodeId, u64),
        key: &[u8],
        newly: bool,
        got: Acquired,
    ) {
        let mut h = self.inner.lock();
        h.waits.remove(&(gateway, wait));
        if matches!(got, Acquired::Immediately | Acquired::AfterWaiting) {
            // Re-registered in case the transaction was released or expired meanwhile, so that
            // the lock still expires with it.
            let t = h.txns.entry(txn).or_insert_with(|| HostedTxn {
                gateway,
                keys: HashSet::new(),
                seen: Instant::now(),
            });
            t.keys.insert(key.to_vec());
        } else if newly {
            if let Some(t) = h.txns.get_mut(&txn) {
                t.keys.remove(key);
            }
            table.release(key, txn);
        }
    }

    fn cancel(&self, gateway: NodeId, wait: u64) {
        let mut h = self.inner.lock();
        if h.waits.remove(&(gateway, wait)).is_none() {
            h.waits
                .insert((gateway, wait), Wait::Cancelled(Instant::now()));
        }
    }

    /// Releases every lock and wait of the transactions `done` says are over.
    fn release_where(&self, table: &LockTable, done: impl Fn(TxnId, &HostedTxn) -> bool) {
        let mut h = self.inner.lock();
        let ended: Vec<TxnId> = h
            .txns
            .iter()
            .filter(|(id, t)| done(**id, t))
            .map(|(id, _)| *id)
            .collect();
        for txn in &ended {
            if let Some(t) = h.txns.remove(txn) {
                for k in t.keys {
                    table.release(&k, *txn);
                }
            }
        }
        let now = Instant::now();
        h.waits.retain(|_, w| match w {
            Wait::Running { txn, .. } => !ended.contains(txn),
            Wait::Cancelled(at) => now.duration_since(*at) < LOCK_EXPIRY * 2,
        });
    }

    /// Drops the locks and waits of the transactions not heard of for [`LOCK_EXPIRY`] at `now`.
    fn expire(&self, table: &LockTable, now: Instant) {
        self.release_where(table, |_, t| {
            now.saturating_duration_since(t.seen) > LOCK_EXPIRY
        });
    }

    fn heartbeat(&self, gateway: NodeId, txns: &[TxnId], now: Instant) {
        let mut h = self.inner.lock();
        for txn in txns {
            if let Some(t) = h.txns.get_mut(txn)
                && t.gateway == gateway
            {
                t.seen = now;
            }
        }
    }
}

/// Cancels a remote wait when dropped armed.
struct CancelGuard {
    store: Store,
    node: NodeId,
    wait: u64,
    armed: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (store, node) = (self.store.clone(), self.node);
        let call = LockCall::CancelWait {
            gateway: store.node_id(),
            wait: self.wait,
        };
        self.store.inner.arbiter.spawn(async move {
            if let Err(e) = store.call_locks_node(node, call, CALL_TIMEOUT).await {
                tracing::debug!(%node, "cancelling a lock wait: {e}");
            }
        });
    }
}

impl Store {
    /// Where `key`'s lock is taken: this node's table if it holds the lease of the key's range
    /// (always, for a single node), else the leaseholder.
    pub async fn lock_target(&self, key: &[u8]) -> crate::kv::Result<LockTarget> {
        let h = self.route(key).await?;
        Ok(match &h {
            RangeHandle::Local(_) => LockTarget::Local,
            RangeHandle::Remote(_) => LockTarget::Remote {
                node: h.node(self.node_id()),
                range: h.range_id(),
            },
        })
    }

    /// Records that `txn` may hold locks on `node` (heartbeats; released when it ends).
    pub(crate) fn note_remote_locks(&self, txn: TxnId, node: NodeId) {
        self.inner
            .gateway_locks
            .txns
            .lock()
            .entry(txn)
            .or_default()
            .insert(node);
    }

    /// Takes `key` for `txn` on `node`, the leaseholder of `range`, waiting there as `req`
    /// says until it answers or `stop` completes.
    pub async fn acquire_remote<S: Future<Output = ()> + ?Sized>(
        &self,
        target: (NodeId, RangeId),
        key: &[u8],
        txn: TxnId,
        req: LockRequest,
        stop: Pin<&mut S>,
    ) -> RemoteAcquire {
        let (node, range) = target;
        let wait = self
            .inner
            .gateway_locks
            .next_wait
            .fetch_add(1, Ordering::Relaxed);
        let call = LockCall::Acquire {
            range,
            key: key.to_vec(),
            txn,
            gateway: self.node_id(),
            wait,
            req,
        };
        let mut guard = CancelGuard {
            store: self.clone(),
            node,
            wait,
            armed: true,
        };
        tokio::select! {
            r = self.call_locks_node(node, call, WAIT_CALL_TIMEOUT) => match r {
                Ok(LockReply::Acquired(a)) => {
                    guard.armed = false;
                    RemoteAcquire::Answer(a)
                }
                Ok(LockReply::NotLeaseholder) | Err(RpcError::NotSent { .. }) => {
                    guard.armed = false;
                    self.forget_location(range);
                    RemoteAcquire::Moved
                }
                Ok(other) => RemoteAcquire::Failed(format!("unexpected answer {other:?}")),
                Err(e) => RemoteAcquire::Failed(e.to_string()),
            },
            _ = stop => {
                // Confirmed before the statement fails, so the row is free of this waiter
                // when the client hears of it; the guard tries again if this fails.
                let cancel = LockCall::CancelWait { gateway: self.node_id(), wait };
                if self.call_locks_node(node, cancel, CALL_TIMEOUT).await.is_ok() {
                    guard.armed = false;
                }
                RemoteAcquire::Stopped
            }
        }
    }

    /// Releases `txn`'s locks and waits on the other nodes (when it ends).
    pub async fn release_remote(&self, txn: TxnId) {
        let nodes = self.inner.gateway_locks.txns.lock().remove(&txn);
        let calls = nodes.into_iter().flatten().map(|node| async move {
            if let Err(e) = self
                .call_locks_node(node, LockCall::Release { txn }, RELEASE_TIMEOUT)
                .await
            {
                tracing::debug!(%node, %txn, "releasing locks (they expire): {e}");
            }
        });
        futures::future::join_all(calls).await;
    }

    /// [`Store::release_remote`] in the background (from synchronous code).
    pub(crate) fn spawn_release_remote(&self, txn: TxnId) {
        if !self.inner.gateway_locks.txns.lock().contains_key(&txn) {
            return;
        }
        let store = self.clone();
        self.inner
            .arbiter
            .spawn(async move { store.release_remote(txn).await });
    }

    async fn call_locks_node(
        &self,
        node: NodeId,
        call: LockCall,
        timeout: Duration,
    ) -> Result<LockReply, RpcError> {
        let addr = self
            .peers()
            .and_then(|p| p.address(node))
            .ok_or_else(|| RpcError::NotSent {
                addr: node.to_string(),
                reason: "address unknown".into(),
            })?;
        self.call_locks(&addr, call, timeout).await
    }

    /// One [`Service::Locks`] call to the node at `addr`.
    pub(crate) async fn call_locks(
        &self,
        addr: &str,
        call: LockCall,
        timeout: Duration,
    ) -> Result<LockReply, RpcError> {
        let peers = self.peers().ok_or_else(|| RpcError::NotSent {
            addr: addr.to_string(),
            reason: "no inter-node transport".into(),
        })?;
        let body = crate::rpc::encode_body(&Envelope {
            now: self.now(),
            body: call,
        })?;
        let raw = peers.call(addr, Service::Locks, body, timeout).await?;
        let reply: Envelope<LockReply> = crate::rpc::decode_body(&raw)?;
        let _ = self.clock().update(reply.now);
        Ok(reply.body)
    }

    /// Serves one [`Service::Locks`] call from another node.
    pub async fn serve_locks(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        let call: Envelope<LockCall> = crate::rpc::decode_body(body).map_err(|e| e.to_string())?;
        let _ = self.clock().update(call.now);
        let hosted = &self.inner.hosted_locks;
        let reply = match call.body {
            LockCall::Acquire {
                range,
                key,
                txn,
                gateway,
                wait,
                req,
            } => {
                let leased = self
                    .local_leaseholder(range)
                    .is_ok_and(|r| r.shared.desc().span.contains_key(&key));
                if !leased {
                    LockReply::NotLeaseholder
                } else if let Some((stop, newly)) = hosted.begin_wait(txn, gateway, wait, &key) {
                    let stop = async move {
                        let _ = stop.await;
                    };
                    let got = self.lock_table().acquire(&key, txn, req, stop).await;
                    hosted.end_wait(self.lock_table(), txn, (gateway, wait), &key, newly, got);
                    LockReply::Acquired(got)
                } else {
                    LockReply::Acquired(Acquired::Interrupted)
                }
            }
            LockCall::CancelWait { gateway, wait } => {
                hosted.cancel(gateway, wait);
                LockReply::Done
            }
            LockCall::Release { txn } => {
                hosted.release_where(self.lock_table(), |id, _| id == txn);
                LockReply::Done
            }
            LockCall::Heartbeat { gateway, txns } => {
                hosted.heartbeat(gateway, &txns, Instant::now());
                LockReply::Done
            }
            LockCall::Edges => LockReply::Edges(self.lock_table().wait_edges()),
        };
        crate::rpc::encode_body(&Envelope {
            now: self.now(),
            body: reply,
        })
        .map_err(|e| e.to_string())
    }

    /// Heartbeats this node's transactions' remote locks and expires the locks of other nodes'
    /// transactions whose heartbeats stopped, every [`LOCK_HEARTBEAT`], until the store stops.
    pub(crate) fn spawn_lock_upkeep(&self) {
        let store = self.clone();
        self.inner.arbiter.spawn(async move {
            let mut tick = tokio::time::interval(LOCK_HEARTBEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if store.is_stopping() {
                    break;
                }
                store
                    .inner
                    .hosted_locks
                    .expire(store.lock_table(), Instant::now());
                store.heartbeat_remote_locks().await;
            }
        });
    }

    async fn heartbeat_remote_locks(&self) {
        let mut by_node: HashMap<NodeId, Vec<TxnId>> = HashMap::new();
        for (txn, nodes) in self.inner.gateway_locks.txns.lock().iter() {
            for n in nodes {
                by_node.entry(*n).or_default().push(*txn);
            }
        }
        let gateway = self.node_id();
        let calls = by_node.into_iter().map(|(node, txns)| async move {
            let call = LockCall::Heartbeat { gateway, txns };
            if let Err(e) = self.call_locks_node(node, call, LOCK_HEARTBEAT).await {
                tracing::debug!(%node, "lock heartbeat: {e}");
            }
        });
        futures::future::join_all(calls).await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::{LockMode, WaitPolicy};
    use super::*;

    fn req(policy: WaitPolicy) -> LockRequest {
        LockRequest {
            mode: LockMode::Exclusive,
            explicit: true,
            policy,
            lock_timeout: None,
            best_effort: None,
        }
    }

    /// What a leaseholder does with a gateway's request (as `serve_locks`, without a range).
    async fn acquire(
        hosted: &HostedLocks,
        table: &LockTable,
        txn: TxnId,
        wait: (NodeId, u64),
        key: &[u8],
        policy: WaitPolicy,
    ) -> Acquired {
        let Some((stop, newly)) = hosted.begin_wait(txn, wait.0, wait.1, key) else {
            return Acquired::Interrupted;
        };
        let stop = async move {
            let _ = stop.await;
        };
        let got = table.acquire(key, txn, req(policy), stop).await;
        hosted.end_wait(table, txn, wait, key, newly, got);
        got
    }

    #[tokio::test]
    async fn locks_of_a_silent_gateway_expire_and_heartbeats_keep_them() {
        let (hosted, table) = (HostedLocks::default(), LockTable::default());
        let (a, b) = (TxnId(1), TxnId(2));
        let (n2, n3) = (NodeId(2), NodeId(3));
        let got = acquire(&hosted, &table, a, (n2, 1), b"k", WaitPolicy::Block).await;
        assert_eq!(got, Acquired::Immediately);
        let got = acquire(&hosted, &table, b, (n3, 1), b"j", WaitPolicy::Block).await;
        assert_eq!(got, Acquired::Immediately);
        // a's gateway goes quiet; b's keeps heartbeating (a heartbeat from another node for
        // b does not count).
        let start = Instant::now();
        hosted.heartbeat(n2, &[b], start + LOCK_EXPIRY * 3);
        hosted.expire(&table, start + LOCK_EXPIRY / 2);
        assert!(
            table.is_held_by_other(b"k", b, LockMode::Shared),
            "not expired yet"
        );
        hosted.heartbeat(n3, &[b], start + LOCK_EXPIRY);
        hosted.expire(&table, start + LOCK_EXPIRY + Duration::from_millis(100));
        assert!(
            !table.is_held_by_other(b"k", b, LockMode::Shared),
            "a expired"
        );
        assert!(table.is_held_by_other(b"j", a, LockMode::Shared), "b kept");
        let got = acquire(&hosted, &table, b, (n3, 2), b"k", WaitPolicy::NoWait).await;
        assert_eq!(got, Acquired::Immediately);
        hosted.expire(&table, start + LOCK_EXPIRY * 2 + Duration::from_millis(100));
        assert!(table.is_empty(), "b expired too");
    }

    #[tokio::test]
    async fn a_cancel_ends_a_wait_or_refuses_the_request_it_overtook() {
        let (hosted, table) = (HostedLocks::default(), LockTable::default());
        let (a, b) = (TxnId(1), TxnId(2));
        let n2 = NodeId(2);
        acquire(&hosted, &table, a, (n2, 1), b"k", WaitPolicy::Block).await;
        let waiting = acquire(&hosted, &table, b, (n2, 2), b"k", WaitPolicy::Block);
        let cancel = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(table.wait_edges(), vec![(b, a)]);
            hosted.cancel(n2, 2);
        };
        let (got, ()) = tokio::join!(waiting, cancel);
        assert_eq!(got, Acquired::Interrupted);
        assert!(table.wait_edges().is_empty(), "the waiter left the queue");
        // A cancel that arrives before its request.
        hosted.cancel(n2, 3);
        let got = acquire(&hosted, &table, b, (n2, 3), b"k", WaitPolicy::Block).await;
        assert_eq!(got, Acquired::Interrupted);
        // Releasing a frees its key for b.
        hosted.release_where(&table, |id, _| id == a);
        let got = acquire(&hosted, &table, b, (n2, 4), b"k", WaitPolicy::NoWait).await;
        assert_eq!(got, Acquired::Immediately);
    }
}
