//! Errors of range replicas.

use crate::clock::Timestamp;
use crate::ids::RangeId;
use crate::storage::StorageError;
use crate::storage::keys::Span;
use crate::storage::records::Intent;

/// What a replica answers when it cannot serve a request as asked.
#[derive(Debug, thiserror::Error)]
pub enum RangeError {
    /// The request's keys are not (or no longer) in this range; refresh routing and retry.
    #[error("range: {range} does not contain the requested keys (range span {span})")]
    KeyMismatch {
        /// The replica's range.
        range: RangeId,
        /// Its current span.
        span: Span,
    },
    /// Intents of other transactions are in the way; resolve or wait for them, then retry.
    #[error("range: conflicting intents on {} key(s)", .intents.len())]
    WriteIntents {
        /// The conflicting intents and their keys.
        intents: Vec<(Vec<u8>, Intent)>,
    },
    /// The write could only happen at a higher timestamp than the transaction read at; the
    /// transaction must refresh its reads to that timestamp (or restart).
    #[error("range: write pushed to {ts}; transaction must refresh")]
    NeedsRefresh {
        /// The timestamp the write can happen at.
        ts: Timestamp,
    },
    /// A refresh found a newer write in a span the transaction read.
    #[error(
        "range: refresh failed: {} was written after the transaction read it",
        crate::storage::keys::pretty(key)
    )]
    RefreshFailed {
        /// The first conflicting key.
        key: Vec<u8>,
    },
    /// The transaction record is aborted or gone: the transaction cannot commit.
    #[error("range: transaction aborted ({0})")]
    TxnAborted(String),
    /// The pushed transaction is still alive; the pusher must wait or restart.
    #[error("range: transaction {0} is still pending")]
    TxnPending(String),
    /// The replica's actor stopped or the proposal was dropped (shutdown, lost leadership).
    #[error("range: {range} unavailable: {reason}")]
    Unavailable {
        /// The range.
        range: RangeId,
        /// Why.
        reason: String,
    },
    /// This replica does not hold the range's lease; `leaseholder` is the node that does, if
    /// known. The client re-routes and retries.
    #[error("range: {range}: not the leaseholder (leaseholder {})", .leaseholder.map_or("unknown".to_string(), |n| n.to_string()))]
    NotLeaseholder {
        /// The range.
        range: RangeId,
        /// The node holding the lease, if known.
        leaseholder: Option<crate::ids::NodeId>,
    },
    /// The read is below the range's GC threshold.
    #[error("range: read timestamp {ts} is below the GC threshold {threshold}")]
    BelowGcThreshold {
        /// The read timestamp.
        ts: Timestamp,
        /// The threshold.
        threshold: Timestamp,
    },
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl RangeError {
    /// Whether the client should refresh its range cache and retry.
    pub fn is_key_mismatch(&self) -> bool {
        matches!(self, RangeError::KeyMismatch { .. })
    }

    /// Whether the request went to the wrong node or range and should be re-routed.
    pub fn is_routing(&self) -> bool {
        matches!(
            self,
            RangeError::KeyMismatch { .. } | RangeError::NotLeaseholder { .. }
        )
    }
}

/// Result alias of the range layer.
pub type Result<T> = std::result::Result<T, RangeError>;
