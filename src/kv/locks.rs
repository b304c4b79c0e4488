//! Best-effort exclusive row locks, taken by UPDATE and DELETE on the rows they change (as
//! CockroachDB does with its unreplicated locks for implicit `SELECT FOR UPDATE`).
//!
//! Serializability never depends on them: commit-time checks (timestamp cache, refresh) stay in
//! charge. The locks only turn a pile-up of conflicting writers (every pgbench transaction
//! updates the same branch row) into a queue: a writer waits for the holder to finish, then
//! moves its read timestamp past the holder's commit and reads the row fresh, instead of
//! computing on stale data and being restarted at commit with 40001.
//!
//! The table lives in memory on this node (the single node serves every range; with several
//! nodes it belongs with the leaseholder). Locks are released when the transaction commits,
//! rolls back or is dropped. A transaction that would wait for a lock whose holder (through a
//! chain of waits) is waiting for it is told at once ([`Acquired::Deadlock`]; the transaction
//! then restarts with 40001, as CockroachDB aborts one side of a deadlock), and any other waiter
//! gives up after its wait limit and proceeds unlocked, leaving the decision to the commit-time
//! checks.

use crate::ids::TxnId;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::sync::oneshot;

/// The outcome of [`LockTable::acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// Free or already ours: no wait.
    Immediately,
    /// Another transaction held it; it is ours now.
    AfterWaiting,
    /// Still held by another transaction after the wait limit: proceed without it.
    TimedOut,
    /// Waiting would close a cycle of waits (a deadlock): the caller must give up.
    Deadlock,
}

#[derive(Debug)]
struct Entry {
    holder: TxnId,
    waiters: VecDeque<(TxnId, oneshot::Sender<()>)>,
}

#[derive(Debug, Default)]
struct Inner {
    locks: HashMap<Vec<u8>, Entry>,
    /// The key each waiting transaction waits for.
    waiting_on: HashMap<TxnId, Vec<u8>>,
}

impl Inner {
    /// Whether `txn` waiting for a key `holder` holds would close a cycle of waits.
    fn closes_cycle(&self, txn: TxnId, holder: TxnId) -> bool {
        let mut cur = holder;
        // Every step follows a distinct waiting transaction; the bound guards against a
        // cycle that does not include `txn`.
        for _ in 0..=self.waiting_on.len() {
            if cur == txn {
                return true;
            }
            let Some(key) = self.waiting_on.get(&cur) else {
                return false;
            };
            let Some(e) = self.locks.get(key) else {
                return false;
            };
            cur = e.holder;
        }
        false
    }
}

/// Exclusive locks by key.
#[derive(Debug, Default)]
pub struct LockTable {
    inner: parking_lot::Mutex<Inner>,
}

impl LockTable {
    /// Takes `key` for `txn`, waiting up to `wait` for another holder to release it.
    pub async fn acquire(&self, key: &[u8], txn: TxnId, wait: Duration) -> Acquired {
        let rx = {
            let mut inner = self.inner.lock();
            let holder = match inner.locks.get(key) {
                None => {
                    inner.locks.insert(
                        key.to_vec(),
                        Entry {
                            holder: txn,
                            waiters: VecDeque::new(),
                        },
                    );
                    return Acquired::Immediately;
                }
                Some(e) if e.holder == txn => return Acquired::Immediately,
                Some(e) => e.holder,
            };
            if inner.closes_cycle(txn, holder) {
                return Acquired::Deadlock;
            }
            let (tx, rx) = oneshot::channel();
            if let Some(e) = inner.locks.get_mut(key) {
                e.waiters.push_back((txn, tx));
            }
            inner.waiting_on.insert(txn, key.to_vec());
            rx
        };
        let got = tokio::time::timeout(wait, rx).await;
        self.inner.lock().waiting_on.remove(&txn);
        match got {
            Ok(Ok(())) => Acquired::AfterWaiting,
            _ => {
                // The hand-over may have raced with the timeout: do not keep a lock we gave up.
                self.release(key, txn);
                Acquired::TimedOut
            }
        }
    }

    /// Releases `key` if `txn` holds it (handing it to the next live waiter).
    pub fn release(&self, key: &[u8], txn: TxnId) {
        let mut inner = self.inner.lock();
        let locks = &mut inner.locks;
        let Some(e) = locks.get_mut(key) else {
            return;
        };
        if e.holder != txn {
            // A waiter that timed out leaves its (dead) place in the queue behind.
            e.waiters.retain(|(t, _)| *t != txn);
            return;
        }
        while let Some((next, tx)) = e.waiters.pop_front() {
            e.holder = next;
            if tx.send(()).is_ok() {
                return;
            }
        }
        locks.remove(key);
    }

    /// How many keys are locked (for tests and metrics).
    pub fn len(&self) -> usize {
        self.inner.lock().locks.len()
    }

    /// Whether no key is locked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn waiters_are_served_in_order_and_timeouts_proceed() {
        let t = Arc::new(LockTable::default());
        let (a, b, c) = (TxnId::random(), TxnId::random(), TxnId::random());
        let long = Duration::from_secs(10);
        assert_eq!(t.acquire(b"k", a, long).await, Acquired::Immediately);
        assert_eq!(t.acquire(b"k", a, long).await, Acquired::Immediately);
        // c gives up while a holds the lock.
        assert_eq!(
            t.acquire(b"k", c, Duration::from_millis(20)).await,
            Acquired::TimedOut
        );
        let t2 = t.clone();
        let waiter = tokio::spawn(async move { t2.acquire(b"k", b, long).await });
        while t
            .inner
            .lock()
            .locks
            .get(b"k".as_slice())
            .map(|e| e.waiters.len())
            != Some(1)
        {
            tokio::task::yield_now().await;
        }
        t.release(b"k", a);
        assert_eq!(waiter.await.unwrap(), Acquired::AfterWaiting);
        // b holds it now; a second release by a is a no-op.
        t.release(b"k", a);
        assert_eq!(t.len(), 1);
        t.release(b"k", b);
        assert!(t.is_empty());
    }

    #[tokio::test]
    async fn a_wait_that_closes_a_cycle_is_a_deadlock() {
        let t = Arc::new(LockTable::default());
        let (a, b) = (TxnId::random(), TxnId::random());
        let long = Duration::from_secs(10);
        assert_eq!(t.acquire(b"x", a, long).await, Acquired::Immediately);
        assert_eq!(t.acquire(b"y", b, long).await, Acquired::Immediately);
        // a waits for y (held by b) ...
        let t2 = t.clone();
        let a_waits = tokio::spawn(async move { t2.acquire(b"y", a, long).await });
        while !t.inner.lock().waiting_on.contains_key(&a) {
            tokio::task::yield_now().await;
        }
        // ... so b waiting for x (held by a) would be a cycle: refused at once.
        assert_eq!(t.acquire(b"x", b, long).await, Acquired::Deadlock);
        // b gives up and releases y: a gets it.
        t.release(b"y", b);
        assert_eq!(a_waits.await.unwrap(), Acquired::AfterWaiting);
        assert!(t.inner.lock().waiting_on.is_empty());
    }
}
