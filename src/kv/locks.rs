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
//! rolls back or is dropped. A waiter gives up after its wait limit and proceeds unlocked, so a
//! lock cycle (two transactions locking two rows in opposite orders) costs a delay, never a
//! deadlock; the commit-time checks then decide.

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
}

#[derive(Debug)]
struct Entry {
    holder: TxnId,
    waiters: VecDeque<(TxnId, oneshot::Sender<()>)>,
}

/// Exclusive locks by key.
#[derive(Debug, Default)]
pub struct LockTable {
    locks: parking_lot::Mutex<HashMap<Vec<u8>, Entry>>,
}

impl LockTable {
    /// Takes `key` for `txn`, waiting up to `wait` for another holder to release it.
    pub async fn acquire(&self, key: &[u8], txn: TxnId, wait: Duration) -> Acquired {
        let rx = {
            let mut locks = self.locks.lock();
            match locks.get_mut(key) {
                None => {
                    locks.insert(
                        key.to_vec(),
                        Entry {
                            holder: txn,
                            waiters: VecDeque::new(),
                        },
                    );
                    return Acquired::Immediately;
                }
                Some(e) if e.holder == txn => return Acquired::Immediately,
                Some(e) => {
                    let (tx, rx) = oneshot::channel();
                    e.waiters.push_back((txn, tx));
                    rx
                }
            }
        };
        match tokio::time::timeout(wait, rx).await {
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
        let mut locks = self.locks.lock();
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
        self.locks.lock().len()
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
        while t.locks.lock().get(b"k".as_slice()).map(|e| e.waiters.len()) != Some(1) {
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
}
