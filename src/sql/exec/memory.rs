//! The memory and time budget of one statement (`--max-sql-memory`, `statement_timeout`, cancel
//! requests): rows charged to it past the budget are SQLSTATE 53200, a passed deadline 57014.

use super::*;

/// Bytes of rows a statement holds; past the budget the statement fails with SQLSTATE 53200
/// instead of exhausting the node's memory.
#[derive(Debug, Default)]
pub struct MemoryAccount {
    used: std::sync::atomic::AtomicU64,
    budget: u64,
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
            deadline: None,
            cancel: None,
        }
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
        let bytes: u64 = rows
            .into_iter()
            .map(|r| 24 + r.iter().map(datum_size).sum::<u64>())
            .sum();
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

fn datum_size(d: &Datum) -> u64 {
    32 + match d {
        Datum::String(s) | Datum::Json(s) => s.len() as u64,
        Datum::Bytes(b) => b.len() as u64,
        _ => 0,
    }
}
