//! SQL errors: every error carries a SQLSTATE, assigned here and nowhere else.

use super::sqlstate::SqlState;
use crate::kv::KvError;

/// An error returned to a SQL client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    /// The SQLSTATE.
    pub state: SqlState,
    /// The primary message.
    pub message: String,
    /// Optional hint.
    pub hint: Option<String>,
}

impl SqlError {
    /// An error with a code and message.
    pub fn new(state: SqlState, message: impl Into<String>) -> SqlError {
        SqlError {
            state,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> SqlError {
        self.hint = Some(hint.into());
        self
    }

    /// 42601.
    pub fn syntax(message: impl Into<String>) -> SqlError {
        SqlError::new(SqlState::SYNTAX_ERROR, message)
    }

    /// 0A000.
    pub fn unsupported(what: impl Into<String>) -> SqlError {
        SqlError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!("unimplemented: {}", what.into()),
        )
    }

    /// 42501.
    pub fn privilege(message: impl Into<String>) -> SqlError {
        SqlError::new(SqlState::INSUFFICIENT_PRIVILEGE, message)
    }

    /// XX000.
    pub fn internal(message: impl Into<String>) -> SqlError {
        SqlError::new(
            SqlState::INTERNAL_ERROR,
            format!("internal error: {}", message.into()),
        )
    }

    /// Whether the client should retry its transaction.
    pub fn is_retryable(&self) -> bool {
        self.state == SqlState::SERIALIZATION_FAILURE
    }

    /// Whether running the same work again may succeed: a conflict, or a range that could not
    /// serve it in time (a lease moving, an overloaded or restarting node).
    pub fn is_transient(&self) -> bool {
        self.is_retryable() || self.state == SqlState::RANGE_UNAVAILABLE
    }
}

impl From<KvError> for SqlError {
    fn from(e: KvError) -> SqlError {
        match &e {
            KvError::Retryable(_) => SqlError::new(SqlState::SERIALIZATION_FAILURE, e.to_string())
                .with_hint("See: https://www.cockroachlabs.com/docs/stable/transaction-retry-error-reference.html"),
            KvError::BelowGcThreshold(..) => SqlError::new(SqlState::INVALID_PARAMETER_VALUE, e.to_string()),
            KvError::ReadOnly => SqlError::new(SqlState::INVALID_PARAMETER_VALUE, "cannot execute a write in a read-only transaction"),
            KvError::InvalidArgument(_) => SqlError::new(SqlState::INVALID_PARAMETER_VALUE, e.to_string()),
            KvError::TxnFinished(_) => SqlError::new(SqlState::IN_FAILED_SQL_TRANSACTION, e.to_string()),
            KvError::Storage(_) => SqlError::new(SqlState::IO_ERROR, e.to_string()),
            KvError::LockTimeout => SqlError::new(SqlState::LOCK_NOT_AVAILABLE, e.to_string()),
            KvError::Interrupted => SqlError::new(SqlState::QUERY_CANCELED, "canceling statement due to user request"),
            // A request that found no range holding its keys in time is unavailable too.
            KvError::Unavailable(_) => SqlError::new(SqlState::RANGE_UNAVAILABLE, e.to_string()),
            KvError::Ambiguous(_) => {
                SqlError::new(SqlState::STATEMENT_COMPLETION_UNKNOWN, e.to_string())
            }
            KvError::Range(r) if r.is_routing() => {
                SqlError::new(SqlState::RANGE_UNAVAILABLE, e.to_string())
            }
            KvError::Range(_) => SqlError::internal(e.to_string()),
        }
    }
}

impl From<crate::storage::StorageError> for SqlError {
    fn from(e: crate::storage::StorageError) -> SqlError {
        SqlError::new(SqlState::IO_ERROR, e.to_string())
    }
}

/// Result alias of the SQL layer.
pub type Result<T> = std::result::Result<T, SqlError>;
