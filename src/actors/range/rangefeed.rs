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

use super::error::RangeError;
use super::{RangeActor, StateRole};
use crate::clock::Timestamp;
use crate::ids::RegistrationId;
use crate::storage::Engine;
use crate::storage::keys::Span;
use crate::storage::mvcc::{self, Limits};
use actix::prelude::*;
use tokio::sync::mpsc;

/// An event delivered to a rangefeed subscriber (also across nodes: serde).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
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

/// Subscribe to the rangefeed of `span` (clamped to the range) from `start` (exclusive).
#[derive(Message)]
#[rtype(result = "Result<RegistrationId, RangeError>")]
pub struct Subscribe {
    /// The span to watch.
    pub span: crate::storage::keys::Span,
    /// Send versions newer than this.
    pub start: Timestamp,
    /// First send every value visible at `start`.
    pub initial_scan: bool,
    /// Where events go.
    pub sender: mpsc::Sender<RangefeedEvent>,
}

/// The catch-up scan of a registration finished.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct CatchUpDone {
    id: RegistrationId,
    result: Result<(), String>,
}

impl Handler<Subscribe> for RangeActor {
    type Result = Result<RegistrationId, RangeError>;
    /// Registers a rangefeed and starts its catch-up scan.
    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> Self::Result {
        if self.raw.raft.state != StateRole::Leader {
            return Err(self.not_leaseholder());
        }
        let desc_span = self.shared.desc().span;
        if !desc_span.contains(&msg.span) {
            return Err(RangeError::KeyMismatch {
                range: self.range_id,
                span: desc_span,
            });
        }
        let span = msg.span.clone();
        let id = RegistrationId(self.next_registration);
        self.next_registration += 1;
        self.registrations.insert(
            id,
            Registration {
                id,
                span: span.clone(),
                sender: msg.sender.clone(),
                buffered: Some(Vec::new()),
                resolved: msg.start,
            },
        );
        let engine = self.engine.clone();
        let addr = ctx.address();
        let sender = msg.sender;
        let (start, initial_scan) = (msg.start, msg.initial_scan);
        actix::spawn(async move {
            let result = catch_up(engine, span, start, initial_scan, sender).await;
            addr.do_send(CatchUpDone { id, result });
        });
        Ok(id)
    }
}

async fn catch_up(
    engine: Engine,
    span: crate::storage::keys::Span,
    start: Timestamp,
    initial_scan: bool,
    sender: mpsc::Sender<RangefeedEvent>,
) -> Result<(), String> {
    let limits = Limits {
        max_rows: 1024,
        max_bytes: 4 << 20,
    };
    let mut cursor = span.clone();
    if initial_scan {
        // The catch-up after an initial scan looks for versions above `start` that were applied
        // before the registration (later ones arrive live). Every such version is in the store
        // while the initial scan runs, which passes over it on its way to the value visible at
        // `start`; so when the initial scan passed over none, there is nothing to catch up and
        // the range is not read a second time (a replication stream's initial scan of an idle
        // range reads it once).
        let mut skipped_newer = false;
        loop {
            let (e, c) = (engine.clone(), cursor.clone());
            let page = tokio::task::spawn_blocking(move || mvcc::scan(&e, &c, start, limits))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            skipped_newer |= page.skipped_newer;
            for (key, value) in page.rows {
                sender
                    .send(RangefeedEvent::Value {
                        key,
                        ts: start,
                        value: Some(value),
                    })
                    .await
                    .map_err(|_| "subscriber gone".to_string())?;
            }
            match page.resume {
                Some(k) => cursor.start = k.into(),
                None => break,
            }
        }
        if !skipped_newer {
            return Ok(());
        }
        cursor = span.clone();
    }
    loop {
        let (e, c) = (engine.clone(), cursor.clone());
        let page = tokio::task::spawn_blocking(move || {
            mvcc::scan_versions(&e, &c, start, Timestamp::MAX, limits)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        // Versions come newest first per key; subscribers expect each key's versions in order.
        let mut rows = page.rows;
        let mut i = 0;
        while i < rows.len() {
            let mut j = i;
            while j < rows.len() && rows[j].key == rows[i].key {
                j += 1;
            }
            rows[i..j].reverse();
            i = j;
        }
        for v in rows {
            sender
                .send(RangefeedEvent::Value {
                    key: v.key,
                    ts: v.ts,
                    value: v.value,
                })
                .await
                .map_err(|_| "subscriber gone".to_string())?;
        }
        match page.resume {
            Some(k) => cursor.start = k.into(),
            None => return Ok(()),
        }
    }
}

impl Handler<CatchUpDone> for RangeActor {
    type Result = ();
    /// Flushes the events buffered during catch-up and makes the registration live.
    fn handle(&mut self, msg: CatchUpDone, _ctx: &mut Context<Self>) {
        let Some(reg) = self.registrations.get_mut(&msg.id) else {
            return;
        };
        if let Err(e) = msg.result {
            if let Some(reg) = self.registrations.remove(&msg.id) {
                reg.end(RangefeedError::CatchUp(e));
            }
            return;
        }
        let buffered = reg.buffered.take().unwrap_or_default();
        let mut ok = true;
        for ev in buffered {
            ok &= reg.publish(ev);
        }
        if !ok && let Some(reg) = self.registrations.remove(&msg.id) {
            reg.end(RangefeedError::Overflow);
        }
    }
}
