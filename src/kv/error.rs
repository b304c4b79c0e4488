//! Errors of the KV client layer.

use crate::actors::range::error::RangeError;
use crate::storage::StorageError;

/// What a KV operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The transaction conflicted and must be retried from the start (SQLSTATE 40001,
    /// "restart transaction").
    #[error("restart transaction: {0}")]
    Retryable(String),
    /// The transaction is finished (committed or rolled back) or was used after an error.
    #[error("kv: transaction is {0}")]
    TxnFinished(&'static str),
    /// A write in a read-only (`AS OF SYSTEM TIME`) transaction.
    #[error("kv: cannot write in a read-only transaction")]
    ReadOnly,
    /// A read below the GC threshold.
    #[error("kv: read timestamp {0} is below the GC threshold {1}")]
    BelowGcThreshold(crate::clock::Timestamp, crate::clock::Timestamp),
    /// A range could not serve the request in time.
    #[error("kv: range unavailable: {0}")]
    Unavailable(String),
    /// A commit whose outcome is not known: the request that would have committed it could not
    /// be confirmed either way (SQLSTATE 40003). Its intents are left for readers to resolve
    /// by the record, never removed as aborted.
    #[error("result is ambiguous: {0}")]
    Ambiguous(String),
    /// The request was malformed.
    #[error("kv: {0}")]
    InvalidArgument(String),
    /// A row lock could not be had: another transaction held it past `lock_timeout`
    /// (SQLSTATE 55P03).
    #[error("canceling statement due to lock timeout")]
    LockTimeout,
    /// A lock wait was stopped by its caller (statement timeout, cancel).
    #[error("lock wait interrupted")]
    Interrupted,
    /// A storage failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Any other range error.
    #[error(transparent)]
    Range(RangeError),
}

impl KvError {
    /// Whether retrying the whole transaction may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, KvError::Retryable(_))
    }
}

impl From<RangeError> for KvError {
    fn from(e: RangeError) -> Self {
        match e {
            RangeError::Storage(s) => KvError::Storage(s),
            RangeError::RefreshFailed { .. } | RangeError::TxnAborted(_) => {
                KvError::Retryable(e.to_string())
            }
            RangeError::Unavailable { .. } => KvError::Unavailable(e.to_string()),
            RangeError::BelowGcThreshold { ts, threshold } => {
                KvError::BelowGcThreshold(ts, threshold)
            }
            other => KvError::Range(other),
        }
    }
}

/// Result alias of the KV layer.
pub type Result<T> = std::result::Result<T, KvError>;
