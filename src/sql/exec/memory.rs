//! The node's SQL memory and the budgets drawn from it.
//!
//! [`MemoryPool`] is the node's `--max-sql-memory`: one pool shared by every session of every
//! virtual cluster on the node, like CockroachDB's root SQL memory monitor. Two kinds of
//! accounts draw from it, and give back what they hold when dropped:
//! - [`MemoryAccount`]: one statement's rows (and its time budget: `statement_timeout`, cancel
//!   requests). A statement may use the whole pool, as in CockroachDB, but no more than what the
//!   other statements and sessions leave free.
//! - [`Reservation`]: what a session holds between statements (prepared statements, portals,
//!   the rows of a `COPY ... FROM STDIN` being received).
//!
//! A charge the pool cannot grant is SQLSTATE 53200 (the charge is not taken; the statement or
//! message fails and the session goes on); a passed deadline or a cancel request is 57014. A
//! pool of capacity 0 is unlimited (tests and tools).

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The node's SQL memory (`--max-sql-memory`), shared by every session.
#[derive(Debug, Default)]
pub struct MemoryPool {
    /// Bytes in the pool; 0 = unlimited.
    capacity: u64,
    used: AtomicU64,
}

impl MemoryPool {
    /// A pool of `capacity` bytes (0 = unlimited).
    pub fn new(capacity: u64) -> Arc<MemoryPool> {
        Arc::new(MemoryPool {
            capacity,
            used: AtomicU64::new(0),
        })
    }

    /// Bytes in the pool (0 = unlimited).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes currently held by statements and sessions.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `bytes` from the pool, or fails with 53200 taking nothing.
    fn reserve(&self, bytes: u64) -> Result<()> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.saturating_add(bytes);
            if self.capacity > 0 && next > self.capacity {
                return Err(SqlError::new(
                    SqlState::OUT_OF_MEMORY,
                    format!(
                        "root: memory budget exceeded: {bytes} bytes requested, {used} currently allocated, {} bytes in budget",
                        self.capacity
                    ),
                )
                .with_hint("raise --max-sql-memory, or hold less: fewer prepared statements, open portals or concurrent large queries"));
            }
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(now) => used = now,
            }
        }
    }

    /// Gives `bytes` back.
    fn release(&self, bytes: u64) {
        // Never below zero, even if a caller released more than it took.
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(bytes))
            });
    }
}

/// Bytes a session holds between statements, taken from the pool; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    pool: Arc<MemoryPool>,
    bytes: u64,
}

impl Reservation {
    /// An empty reservation in `pool`.
    pub fn new(pool: Arc<MemoryPool>) -> Reservation {
        Reservation { pool, bytes: 0 }
    }

    /// A reservation of `bytes`, or 53200.
    pub fn of(pool: &Arc<MemoryPool>, bytes: u64) -> Result<Reservation> {
        let mut r = Reservation::new(pool.clone());
        r.resize(bytes)?;
        Ok(r)
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Grows or shrinks to `bytes`; growing past what the pool can grant is 53200 (the
    /// reservation keeps what it had).
    pub fn resize(&mut self, bytes: u64) -> Result<()> {
        if bytes > self.bytes {
            self.pool.reserve(bytes - self.bytes)?;
        } else {
            self.pool.release(self.bytes - bytes);
        }
        self.bytes = bytes;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.pool.release(self.bytes);
    }
}

/// Bytes of rows a statement holds; past the budget the statement fails with SQLSTATE 53200
/// instead of exhausting the node's memory. Drawn from a [`MemoryPool`] when made with
/// [`MemoryAccount::in_pool`] (and given back when dropped).
#[derive(Debug, Default)]
pub struct MemoryAccount {
    used: std::sync::atomic::AtomicU64,
    budget: u64,
    pool: Option<Arc<MemoryPool>>,
    /// `statement_timeout`: checked whenever rows are charged, so long-running work stops too.
    deadline: Option<std::time::Instant>,
    /// The session's cancel flag (pgwire cancel request), checked with the deadline.
    cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl MemoryAccount {
    /// An account with `budget` bytes (0 = unlimited).
    pub fn new(budget: u64) -> MemoryAccount {
        MemoryAccount {
            used: std::sync::atomic::AtomicU64::new(0),
            budget,
            pool: None,
            deadline: None,
            cancel: None,
        }
    }

    /// An account drawing from the node's pool (its budget is the pool's capacity).
    pub fn in_pool(pool: Arc<MemoryPool>) -> MemoryAccount {
        let mut account = MemoryAccount::new(pool.capacity());
        account.pool = Some(pool);
        account
    }

    /// Fails charges once `flag` is set (a cancel request).
    pub fn with_cancel(
        mut self,
        flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> MemoryAccount {
        self.cancel = Some(flag);
        self
    }

    /// 57014 when the statement was cancelled or ran past `statement_timeout`.
    pub fn check(&self) -> Result<()> {
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err(SqlError::new(
                SqlState::QUERY_CANCELED,
                "canceling statement due to user request",
            ));
        }
        if let Some(d) = self.deadline
            && std::time::Instant::now() > d
        {
            return Err(SqlError::new(
                SqlState::QUERY_CANCELED,
                "query execution canceled due to statement timeout",
            ));
        }
        Ok(())
    }

    /// Fails charges after `timeout` from now (`statement_timeout`).
    pub fn with_timeout(mut self, timeout: Option<std::time::Duration>) -> MemoryAccount {
        self.deadline = timeout.map(|t| std::time::Instant::now() + t);
        self
    }

    /// Charges the rows' approximate size.
    pub fn charge<'a>(&self, rows: impl IntoIterator<Item = &'a Vec<Datum>>) -> Result<()> {
        self.check()?;
        if self.budget == 0 {
            return Ok(());
        }
        let bytes = rows_size(rows);
        if let Some(pool) = &self.pool {
            pool.reserve(bytes)?;
        }
        let used = self
            .used
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed)
            + bytes;
        if used > self.budget {
            return Err(SqlError::new(
                SqlState::OUT_OF_MEMORY,
                format!(
                    "root: memory budget exceeded: {used} bytes requested, {} bytes in budget",
                    self.budget
                ),
            )
            .with_hint("raise --max-sql-memory or make the query read less"));
        }
        Ok(())
    }
}

impl MemoryAccount {
    /// Gives back the charge of rows the statement no longer holds (charged before with
    /// [`MemoryAccount::charge`]).
    pub fn release<'a>(&self, rows: impl IntoIterator<Item = &'a Vec<Datum>>) {
        if self.budget == 0 {
            return;
        }
        let bytes = rows_size(rows);
        let mut given = 0;
        let _ = self.used.fetch_update(
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Relaxed,
            |u| {
                given = u.min(bytes);
                Some(u - given)
            },
        );
        if let Some(pool) = &self.pool {
            pool.release(given);
        }
    }
}

/// The approximate size the account charges for `rows`.
fn rows_size<'a>(rows: impl IntoIterator<Item = &'a Vec<Datum>>) -> u64 {
    rows.into_iter()
        .map(|r| 24 + r.iter().map(datum_size).sum::<u64>())
        .sum()
}

impl Drop for MemoryAccount {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.release(*self.used.get_mut());
        }
    }
}

fn datum_size(d: &Datum) -> u64 {
    32 + match d {
        Datum::String(s) | Datum::Json(s) => s.len() as u64,
        Datum::Bytes(b) => b.len() as u64,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str) -> Vec<Datum> {
        vec![Datum::String(text.into())]
    }

    #[test]
    fn statements_and_reservations_share_the_pool_and_give_back_on_drop() {
        let pool = MemoryPool::new(1000);
        let held = Reservation::of(&pool, 600).expect("fits");
        assert_eq!(pool.used(), 600);
        let account = MemoryAccount::in_pool(pool.clone());
        let big = row(&"x".repeat(400));
        let e = account.charge([&big]).expect_err("600 + 456 > 1000");
        assert_eq!(e.state, SqlState::OUT_OF_MEMORY);
        assert_eq!(pool.used(), 600, "a refused charge takes nothing");
        account.charge([&row("small")]).expect("fits");
        assert!(pool.used() > 600);
        drop(account);
        assert_eq!(pool.used(), 600, "a statement gives back what it held");
        assert!(Reservation::of(&pool, 500).is_err());
        drop(held);
        assert_eq!(pool.used(), 0);
        let mut r = Reservation::new(pool.clone());
        r.resize(900).expect("fits");
        assert!(r.resize(1001).is_err());
        assert_eq!(r.bytes(), 900, "a refused growth keeps what it had");
        r.resize(100).expect("shrinks");
        assert_eq!(pool.used(), 100);
    }

    #[test]
    fn a_pool_of_zero_is_unlimited() {
        let pool = MemoryPool::new(0);
        let r = Reservation::of(&pool, u64::MAX / 2).expect("unlimited");
        assert_eq!(pool.used(), u64::MAX / 2);
        drop(r);
        assert_eq!(pool.used(), 0);
    }
}
