//! Rangefeed registrations on one replica.
//!
//! A registration receives every MVCC version applied in its span (with its commit timestamp)
//! and checkpoints "span resolved at T". Promise: every version with timestamp ≤ T in the span
//! is sent before the checkpoint for T. Delivery is at-least-once: a version may be sent twice
//! (catch-up scan overlapping live events, re-subscription after a split), never lost.
//!
//! A new registration first runs a catch-up scan (optionally preceded by an initial scan of the
//! values at its start timestamp) off the actor; live events that apply meanwhile are buffered
//! and flushed when the catch-up ends, before any checkpoint. A registration whose consumer
//! falls `kv.rangefeed.buffer_events` behind, or whose range splits, is ended with an error
//! event; the client re-subscribes from its last checkpoint.

use crate::clock::Timestamp;
use crate::ids::RegistrationId;
use crate::storage::keys::Span;
use tokio::sync::mpsc;

/// An event delivered to a rangefeed subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangefeedEvent {
    /// A committed version.
    Value {
        /// User key.
        key: Vec<u8>,
        /// Commit timestamp.
        ts: Timestamp,
        /// Value, `None` for a delete.
        value: Option<Vec<u8>>,
    },
    /// Everything in `span` at or below `ts` has been delivered.
    Checkpoint {
        /// The resolved span.
        span: Span,
        /// The resolved timestamp.
        ts: Timestamp,
    },
    /// The registration ended; re-subscribe `span` from its last checkpoint.
    Error {
        /// The span this registration covered.
        span: Span,
        /// Why it ended.
        reason: RangefeedError,
    },
}

/// Why a registration ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangefeedError {
    /// The range split; the span now belongs to several ranges.
    #[error("rangefeed: range split")]
    RangeSplit,
    /// The consumer fell too far behind.
    #[error("rangefeed: consumer too slow, buffer overflowed")]
    Overflow,
    /// The replica is stopping.
    #[error("rangefeed: replica stopped")]
    ReplicaStopped,
    /// The replica lost its lease; rangefeeds are served by the leaseholder only.
    #[error("rangefeed: the replica lost its lease")]
    LeaseLost,
    /// This node does not serve part of the span (its lease stays on another node); the feed
    /// gives up on that part.
    #[error("rangefeed: not served by this node: {0}")]
    LeaseElsewhere(String),
    /// Reading the catch-up scan failed.
    #[error("rangefeed: catch-up scan failed: {0}")]
    CatchUp(String),
}

/// One subscriber on this replica.
#[derive(Debug)]
pub struct Registration {
    /// Its id.
    pub id: RegistrationId,
    /// The subscribed span (within the range).
    pub span: Span,
    /// Where events go.
    pub sender: mpsc::Sender<RangefeedEvent>,
    /// Live events held back while the catch-up scan runs.
    pub buffered: Option<Vec<RangefeedEvent>>,
    /// Last checkpoint sent.
    pub resolved: Timestamp,
}

impl Registration {
    /// Queues an event; returns false if the consumer is gone or too far behind.
    pub fn publish(&mut self, ev: RangefeedEvent) -> bool {
        if let Some(buf) = &mut self.buffered {
            buf.push(ev);
            return true;
        }
        self.sender.try_send(ev).is_ok()
    }

    /// Sends the terminal error (best effort).
    pub fn end(&self, reason: RangefeedError) {
        let _ = self.sender.try_send(RangefeedEvent::Error {
            span: self.span.clone(),
            reason,
        });
    }
}
