//! Row locks: exclusive and shared, taken explicitly by `SELECT ... FOR UPDATE | FOR SHARE`
//! and implicitly by UPDATE and DELETE on the rows they change (as CockroachDB does with its
//! unreplicated locks).
//!
//! Serializability never depends on them: commit-time checks (timestamp cache, refresh) stay in
//! charge. The locks order conflicting transactions: a writer or locking reader waits for the
//! holder to finish, then moves its read timestamp past the holder's commit and reads the row
//! fresh, instead of computing on stale data and being restarted at commit with 40001.
//!
//! Modes: several transactions may hold a key [`LockMode::Shared`]; [`LockMode::Exclusive`]
//! excludes every other holder. A holder may upgrade (shared to exclusive; it waits for the other
//! shared holders, ahead of the queue). Requests are served first come, first served: a shared
//! request queues behind a waiting exclusive one, so writers are not starved.
//!
//! Waiting ends when the lock is granted, when the request's `lock_timeout` passes
//! ([`Acquired::LockTimeout`]), when the caller's `stop` future completes (statement timeout,
//! cancel: [`Acquired::Interrupted`]), or, for implicit requests only, after their best-effort
//! limit ([`Acquired::TimedOut`]: the writer proceeds unlocked and the commit-time checks decide).
//! A best-effort waiter never gives up on a key that a transaction holds explicitly: a row a
//! transaction selected FOR UPDATE / FOR SHARE is never written past its lock. A request that
//! would wait for a transaction that (through a chain of waits) waits for it is told at once
//! ([`Acquired::Deadlock`]; the transaction then restarts with 40001, as CockroachDB aborts one
//! side of a deadlock). A waiter whose wait is abandoned (timeout, dropped future) leaves the
//! queue; if the lock was handed to it at the same moment, it keeps it until its transaction
//! ends (callers record a key before waiting for it, so it is released then).
//!
//! Scope: one table per node, holding the locks of keys whose range this node held the lease of
//! when they were requested. A transaction's lock requests go to the leaseholder of the key's
//! range, wherever its SQL gateway is: straight into this table when the lease is local (no
//! network hop), otherwise over the inter-node transport ([`remote`]), so sessions on every node
//! queue behind each other. A wait for a transaction on another node's table is invisible to
//! [`Acquired::Deadlock`]; cycles across nodes are found by [`deadlock`] (after one second of
//! waiting, from the wait-for edges of every node). Locks are unreplicated, as CockroachDB's
//! unreplicated locks: a lease transfer or a restart of the leaseholder loses them (requests then
//! go to the new leaseholder, whose table does not know them). That is safe because
//! serializability never depends on them (see above): the commit-time checks still fail one side
//! of a conflict with 40001. Locks are released when the transaction commits, rolls back or is
//! dropped (the connection closed); [`remote`] says how a node drops the locks of a gateway that
//! can no longer release them.

use crate::ids::TxnId;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::time::Duration;
use tokio::sync::oneshot;

/// Lock strength.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LockMode {
    /// `FOR SHARE` / `FOR KEY SHARE`: compatible with other shared holders.
    Shared,
    /// `FOR UPDATE` / `FOR NO KEY UPDATE`, UPDATE, DELETE: excludes every other holder.
    Exclusive,
}

/// What to do when another transaction holds a conflicting lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaitPolicy {
    /// Wait (up to the request's limits).
    Block,
    /// Do not wait: [`Acquired::Busy`] (`NOWAIT`, `SKIP LOCKED`).
    NoWait,
}

/// One lock request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LockRequest {
    /// Strength.
    pub mode: LockMode,
    /// Taken by a locking SELECT (never given up by a best-effort waiter).
    pub explicit: bool,
    /// Waiting or not.
    pub policy: WaitPolicy,
    /// `lock_timeout`: how long to wait at most (None: no limit).
    pub lock_timeout: Option<Duration>,
    /// Implicit locks only: after this long, proceed without the lock unless a holder took it
    /// explicitly.
    pub best_effort: Option<Duration>,
}

/// The outcome of [`LockTable::acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Acquired {
    /// Free, compatible or already ours: no wait.
    Immediately,
    /// Another transaction held it; it is ours now.
    AfterWaiting,
    /// Held by others past the best-effort limit: proceed without it.
    TimedOut,
    /// Held by others and the request does not wait.
    Busy,
    /// Still held by others after `lock_timeout`.
    LockTimeout,
    /// The caller's `stop` future completed first.
    Interrupted,
    /// Waiting would close a cycle of waits (a deadlock): the caller must give up.
    Deadlock,
}

#[derive(Debug, Clone, Copy)]
struct Holder {
    txn: TxnId,
    mode: LockMode,
    explicit: bool,
}

#[derive(Debug)]
struct Waiter {
    txn: TxnId,
    mode: LockMode,
    explicit: bool,
    tx: oneshot::Sender<()>,
}

#[derive(Debug, Default)]
struct Entry {
    holders: Vec<Holder>,
    waiters: VecDeque<Waiter>,
}

impl Entry {
    /// Whether `txn` may hold the key in `mode` next to the current holders.
    fn compatible(&self, txn: TxnId, mode: LockMode) -> bool {
        self.holders
            .iter()
            .all(|h| h.txn == txn || (h.mode == LockMode::Shared && mode == LockMode::Shared))
    }

    fn holder(&self, txn: TxnId) -> Option<&Holder> {
        self.holders.iter().find(|h| h.txn == txn)
    }

    fn grant(&mut self, txn: TxnId, mode: LockMode, explicit: bool) {
        match self.holders.iter_mut().find(|h| h.txn == txn) {
            Some(h) => {
                h.mode = h.mode.max(mode);
                h.explicit |= explicit;
            }
            None => self.holders.push(Holder {
                txn,
                mode,
                explicit,
            }),
        }
    }

    /// Hands the lock to the waiters at the front of the queue that fit next to the holders;
    /// returns the transactions that left the queue (they no longer wait).
    fn grant_waiters(&mut self) -> Vec<TxnId> {
        let mut left = Vec::new();
        while let Some(w) = self.waiters.front() {
            if !self.compatible(w.txn, w.mode) {
                break;
            }
            let Some(w) = self.waiters.pop_front() else {
                break;
            };
            left.push(w.txn);
            // A waiter whose wait was dropped is skipped.
            if w.tx.send(()).is_ok() {
                self.grant(w.txn, w.mode, w.explicit);
            }
        }
        left
    }

    /// The transactions `txn`, queued for `mode`, waits for: conflicting holders and
    /// conflicting requests queued ahead of it. Nothing when it is not queued here.
    fn blockers(&self, txn: TxnId, mode: LockMode) -> Vec<TxnId> {
        let Some(pos) = self.waiters.iter().position(|w| w.txn == txn) else {
            return Vec::new();
        };
        let conflicts =
            |other: LockMode| other == LockMode::Exclusive || mode == LockMode::Exclusive;
        self.holders
            .iter()
            .filter(|h| h.txn != txn && conflicts(h.mode))
            .map(|h| h.txn)
            .chain(
                self.waiters
                    .iter()
                    .take(pos)
                    .filter(|w| conflicts(w.mode))
                    .map(|w| w.txn),
            )
            .collect()
    }

    fn is_free(&self) -> bool {
        self.holders.is_empty() && self.waiters.is_empty()
    }
}

#[derive(Debug, Default)]
struct Inner {
    locks: HashMap<Vec<u8>, Entry>,
    /// The key (and mode) each waiting transaction waits for.
    waiting_on: HashMap<TxnId, (Vec<u8>, LockMode)>,
}

impl Inner {
    /// Whether `txn`, waiting for `key`, waits (through a chain of waits) for itself.
    fn closes_cycle(&self, txn: TxnId, key: &[u8], mode: LockMode) -> bool {
        let Some(e) = self.locks.get(key) else {
            return false;
        };
        let mut stack = e.blockers(txn, mode);
        let mut seen: HashSet<TxnId> = HashSet::new();
        while let Some(cur) = stack.pop() {
            if cur == txn {
                return true;
            }
            if !seen.insert(cur) {
                continue;
            }
            if let Some((k, m)) = self.waiting_on.get(&cur)
                && let Some(e) = self.locks.get(k)
            {
                stack.extend(e.blockers(cur, *m));
            }
        }
        false
    }

    /// Takes `txn` out of `key`'s queue (its wait ended without the lock).
    fn leave_queue(&mut self, key: &[u8], txn: TxnId) {
        self.waiting_on.remove(&txn);
        if let Some(e) = self.locks.get_mut(key) {
            e.waiters.retain(|w| w.txn != txn);
        }
        self.grant_waiters(key);
    }

    /// Serves `key`'s queue (see [`Entry::grant_waiters`]) and forgets the key when it is free.
    fn grant_waiters(&mut self, key: &[u8]) {
        let Some(e) = self.locks.get_mut(key) else {
            return;
        };
        let granted = e.grant_waiters();
        if e.is_free() {
            self.locks.remove(key);
        }
        for t in granted {
            self.waiting_on.remove(&t);
        }
    }
}

/// Row locks by key.
#[derive(Debug, Default)]
pub struct LockTable {
    inner: parking_lot::Mutex<Inner>,
}

/// Leaves the queue when a wait ends without the lock, including when the waiting future is
/// dropped (statement cancelled).
struct QueueGuard<'a> {
    table: &'a LockTable,
    key: &'a [u8],
    txn: TxnId,
    armed: bool,
}

impl Drop for QueueGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.table.inner.lock().leave_queue(self.key, self.txn);
        }
    }
}

impl LockTable {
    /// Takes `key` for `txn` as `req` asks, waiting (if it does) for conflicting holders until
    /// they release it, a limit passes, or `stop` completes.
    pub async fn acquire(
        &self,
        key: &[u8],
        txn: TxnId,
        req: LockRequest,
        stop: impl Future<Output = ()>,
    ) -> Acquired {
        let mut rx = {
            let mut inner = self.inner.lock();
            let e = inner.locks.entry(key.to_vec()).or_default();
            if e.holder(txn).is_some_and(|h| h.mode >= req.mode) {
                e.grant(txn, req.mode, req.explicit);
                return Acquired::Immediately;
            }
            let upgrade = e.holder(txn).is_some();
            if e.compatible(txn, req.mode) && (upgrade || e.waiters.is_empty()) {
                e.grant(txn, req.mode, req.explicit);
                return Acquired::Immediately;
            }
            if req.policy == WaitPolicy::NoWait {
                if e.is_free() {
                    inner.locks.remove(key);
                }
                return Acquired::Busy;
            }
            let (tx, rx) = oneshot::channel();
            let w = Waiter {
                txn,
                mode: req.mode,
                explicit: req.explicit,
                tx,
            };
            if upgrade {
                e.waiters.push_front(w);
            } else {
                e.waiters.push_back(w);
            }
            inner.waiting_on.insert(txn, (key.to_vec(), req.mode));
            if inner.closes_cycle(txn, key, req.mode) {
                inner.leave_queue(key, txn);
                return Acquired::Deadlock;
            }
            rx
        };
        let mut guard = QueueGuard {
            table: self,
            key,
            txn,
            armed: true,
        };
        let timeout = sleep_or_never(req.lock_timeout);
        let mut best_effort = Box::pin(sleep_or_never(req.best_effort));
        tokio::pin!(timeout, stop);
        loop {
            tokio::select! {
                got = &mut rx => {
                    if got.is_ok() {
                        guard.armed = false;
                        return Acquired::AfterWaiting;
                    }
                    // The sender went away without a grant (cannot happen while queued):
                    // treat like a best-effort give-up.
                    return Acquired::TimedOut;
                }
                _ = &mut timeout => return Acquired::LockTimeout,
                _ = &mut stop => return Acquired::Interrupted,
                _ = &mut best_effort => {
                    if self.held_explicitly_by_other(key, txn) {
                        best_effort = Box::pin(sleep_or_never(None));
                        continue;
                    }
                    return Acquired::TimedOut;
                }
            }
        }
    }

    fn held_explicitly_by_other(&self, key: &[u8], txn: TxnId) -> bool {
        self.inner
            .lock()
            .locks
            .get(key)
            .is_some_and(|e| e.holders.iter().any(|h| h.txn != txn && h.explicit))
    }

    /// Whether a transaction other than `txn` holds `key` in a mode that conflicts with `mode`.
    pub fn is_held_by_other(&self, key: &[u8], txn: TxnId, mode: LockMode) -> bool {
        self.inner
            .lock()
            .locks
            .get(key)
            .is_some_and(|e| !e.compatible(txn, mode))
    }

    /// Releases `key` if `txn` holds it or waits for it (handing it to the next waiters).
    pub fn release(&self, key: &[u8], txn: TxnId) {
        let mut inner = self.inner.lock();
        let Some(e) = inner.locks.get_mut(key) else {
            return;
        };
        e.holders.retain(|h| h.txn != txn);
        e.waiters.retain(|w| w.txn != txn);
        inner.grant_waiters(key);
    }

    /// Every wait in the table as (waiter, a transaction it waits for): conflicting holders and
    /// conflicting requests queued ahead of it (for deadlock detection across nodes).
    pub fn wait_edges(&self) -> Vec<(TxnId, TxnId)> {
        let inner = self.inner.lock();
        let mut out = Vec::new();
        for (txn, (key, mode)) in &inner.waiting_on {
            if let Some(e) = inner.locks.get(key) {
                out.extend(e.blockers(*txn, *mode).into_iter().map(|b| (*txn, b)));
            }
        }
        out
    }

    /// How many keys are locked or waited for (for tests and metrics).
    pub fn len(&self) -> usize {
        self.inner.lock().locks.len()
    }

    /// Whether no key is locked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

async fn sleep_or_never(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

pub mod deadlock;
pub mod remote;

#[cfg(test)]
mod tests;
