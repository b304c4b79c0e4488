//! Row locks of a [`Txn`] (see [`crate::kv::locks`]): taking them at the leaseholder of each
//! key's range (this node's table, or another node's through [`crate::kv::locks::remote`]), and
//! the restartable statements that let a locking statement run again after a lock wait instead
//! of failing on its own stale reads. Locks are recorded in the transaction (keys of this node's
//! table, nodes of the others) before it waits, and released when it commits (waiting for the
//! other nodes), rolls back or is dropped (in the background). A wait longer than
//! [`crate::kv::locks::deadlock::DEADLOCK_TIMEOUT`] also looks for a deadlock across nodes.

use super::super::ROUTING_TIMEOUT;
use super::super::locks::remote::{LockTarget, RemoteAcquire};
use super::super::locks::{Acquired, LockMode, LockRequest, WaitPolicy};
use super::{KvError, Result, State, Txn};
use std::time::{Duration, Instant};

/// How long UPDATE/DELETE wait for another transaction's implicit row lock before going on
/// without it (never past an explicit one, see [`crate::kv::locks`]).
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// How a transaction locks one row (see [`Txn::lock_row`]).
#[derive(Debug, Clone, Copy)]
pub struct RowLock {
    /// Strength.
    pub mode: LockMode,
    /// Taken by a locking SELECT (FOR UPDATE / FOR SHARE) rather than by a write.
    pub explicit: bool,
    /// Fail or skip instead of waiting (`NOWAIT`, `SKIP LOCKED`).
    pub no_wait: bool,
    /// The session's `lock_timeout` (None: wait as long as it takes).
    pub lock_timeout: Option<Duration>,
}

/// The outcome of [`Txn::lock_row`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    /// The lock is held; no wait was needed.
    Held,
    /// The lock is held after waiting for another transaction: the read timestamp moved past
    /// its commit, and the row must be read again.
    AfterWaiting,
    /// An implicit lock was given up on after its best-effort wait: go on without it.
    NotHeld,
    /// Another transaction holds a conflicting lock and the request does not wait.
    Busy,
}

impl Txn {
    /// Starts a statement that its caller re-runs from scratch when [`Txn::take_statement_stale`]
    /// says so (a locking SELECT): a lock wait then checks only the reads of earlier statements
    /// when it moves the read timestamp, instead of failing on the statement's own stale reads.
    ///
    /// A transaction that has read nothing yet moves its read timestamp to now first (nothing
    /// to check): a locking read at the start of a transaction then sees the writes committed
    /// since it began instead of locking rows whose newer versions would fail it at commit.
    pub fn begin_restartable_statement(&mut self) {
        if self.read_spans.is_empty() && !self.read_only && self.state == State::Open {
            let now = self.store.now();
            if now > self.read_ts {
                self.read_ts = now;
                self.write_ts = self.write_ts.max(now);
            }
        }
        self.statement_mark = Some(self.read_spans.len());
        self.statement_stale = false;
    }

    /// Takes this transaction's implicit row lock on `key` before changing it (UPDATE, DELETE;
    /// see [`super::locks`]). When another transaction held the lock, this waits for it to
    /// finish, then moves the read timestamp to now, checking that nothing read so far changed
    /// (40001 if something did): the caller must read `key` again, and will see the previous
    /// holder's write. Returns whether that happened.
    pub async fn lock_for_update(
        &mut self,
        key: &[u8],
        lock_timeout: Option<Duration>,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<bool> {
        let lock = RowLock {
            mode: LockMode::Exclusive,
            explicit: false,
            no_wait: false,
            lock_timeout,
        };
        Ok(self.lock_row(key, lock, stop).await? == Locked::AfterWaiting)
    }

    /// Takes a row lock on `key` (see [`super::locks`]). After a wait the read timestamp moves
    /// to now: inside a restartable statement only the earlier statements' reads are checked
    /// and the statement is marked stale; otherwise every read is checked (40001 if one
    /// changed). Fails with [`KvError::LockTimeout`] past `lock_timeout`,
    /// [`KvError::Interrupted`] when `stop` completes first, and 40001 on a deadlock.
    pub async fn lock_row(
        &mut self,
        key: &[u8],
        lock: RowLock,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<Locked> {
        self.check_open()?;
        if self.read_only {
            return Ok(Locked::NotHeld);
        }
        let req = LockRequest {
            mode: lock.mode,
            explicit: lock.explicit,
            policy: if lock.no_wait {
                WaitPolicy::NoWait
            } else {
                WaitPolicy::Block
            },
            lock_timeout: lock.lock_timeout,
            best_effort: (!lock.explicit).then_some(LOCK_WAIT),
        };
        let (store, id) = (self.store.clone(), self.id);
        let got = tokio::select! {
            // Polled first: a lock granted at once never starts the deadlock timer.
            biased;
            got = self.acquire(key, req, stop) => got?,
            // A deadlock across nodes (a cycle on one node is refused by its table at once):
            // the wait is abandoned (dropped), and the transaction gives up below.
            _ = store.deadlock_victim(id) => Acquired::Deadlock,
        };
        match got {
            Acquired::Immediately => Ok(Locked::Held),
            Acquired::AfterWaiting => {
                let now = store.now();
                let refreshed = match self.statement_mark {
                    Some(mark) => self.refresh_prefix_to(now, mark).await,
                    None => self.refresh_to(now).await,
                };
                if let Err(e) = refreshed {
                    self.release_locks();
                    return Err(self.fail(e));
                }
                self.statement_stale = self.statement_mark.is_some();
                Ok(Locked::AfterWaiting)
            }
            Acquired::TimedOut => Ok(Locked::NotHeld),
            Acquired::Busy => Ok(Locked::Busy),
            Acquired::LockTimeout => Err(KvError::LockTimeout),
            Acquired::Interrupted => Err(KvError::Interrupted),
            Acquired::Deadlock => {
                self.release_locks();
                Err(self.fail(KvError::Retryable(
                    "deadlock detected: this transaction and another wait for each other's row locks"
                        .into(),
                )))
            }
        }
    }

    /// Takes `key`'s lock at the leaseholder of its range: this node's table (no network hop)
    /// or another node's ([`crate::kv::locks::remote`]), routing again when the lease moved.
    async fn acquire(
        &mut self,
        key: &[u8],
        req: LockRequest,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<Acquired> {
        tokio::pin!(stop);
        let store = self.store.clone();
        let deadline = Instant::now() + ROUTING_TIMEOUT;
        loop {
            let (node, range) = match store.lock_target(key).await? {
                LockTarget::Local => {
                    // Recorded before waiting, so that a lock handed over as the wait is
                    // abandoned is still released when the transaction ends.
                    let newly = self.locked.insert(key.to_vec());
                    let got = store
                        .lock_table()
                        .acquire(key, self.id, req, stop.as_mut())
                        .await;
                    if newly && !matches!(got, Acquired::Immediately | Acquired::AfterWaiting) {
                        self.locked.remove(key);
                        store.lock_table().release(key, self.id);
                    }
                    return Ok(got);
                }
                LockTarget::Remote { node, range } => (node, range),
            };
            // Recorded before waiting too: the node releases what it holds when this ends.
            store.note_remote_locks(self.id, node);
            match store
                .acquire_remote((node, range), key, self.id, req, stop.as_mut())
                .await
            {
                RemoteAcquire::Answer(got) => return Ok(got),
                RemoteAcquire::Stopped => return Ok(Acquired::Interrupted),
                // A write's best-effort lock is not worth failing the write for.
                RemoteAcquire::Failed(e) if req.best_effort.is_some() => {
                    tracing::debug!(%node, "row lock request failed, going on without it: {e}");
                    return Ok(Acquired::TimedOut);
                }
                RemoteAcquire::Failed(e) => {
                    return Err(KvError::Unavailable(format!(
                        "row lock request to {node}: {e}"
                    )));
                }
                RemoteAcquire::Moved if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                RemoteAcquire::Moved => {
                    return Err(KvError::Unavailable(format!(
                        "row lock request: {node} no longer holds the lease of {range}"
                    )));
                }
            }
        }
    }

    /// Releases every lock of the transaction: at once on this node, in the background on the
    /// others (see [`Txn::release_locks_now`]).
    pub(super) fn release_locks(&mut self) {
        for k in std::mem::take(&mut self.locked) {
            self.store.lock_table().release(&k, self.id);
        }
        self.store.spawn_release_remote(self.id);
    }

    /// Releases every lock of the transaction, waiting for the other nodes to confirm (a
    /// commit: its locks are free when it returns).
    pub(super) async fn release_locks_now(&mut self) {
        self.store.release_remote(self.id).await;
        self.release_locks();
    }
}
