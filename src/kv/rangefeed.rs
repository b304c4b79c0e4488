//! Client-side rangefeeds over any span, across ranges and splits.
//!
//! [`Store::rangefeed`] subscribes to every range overlapping the span. Each registration is
//! forwarded by its own task into one channel; when a registration ends (split, overflow, replica
//! stop) its span is re-subscribed, on whatever ranges now hold it, from the last checkpoint it
//! delivered, so nothing at or above that checkpoint is missed (delivery is at-least-once). A
//! checkpoint event carries the span it resolves, which is always within the subscribed span.
//! The feed stops when the [`RangeFeed`] is dropped.
//!
//! Registrations are served by the leaseholder, and this version subscribes on this node's
//! replicas only. A part of the span whose lease is known to be on another node ends at once
//! with [`RangefeedError::LeaseElsewhere`] (the caller re-plans: physical replication asks the
//! primary for a new stream spec); one whose leaseholder is unknown, or that has no replica
//! here, is waited for up to [`LEASE_WAIT`] (an election, a split being applied), then ends the
//! same way.

use super::Store;
use crate::actors::range::Subscribe;
use crate::actors::range::error::RangeError;
use crate::actors::range::rangefeed::{RangefeedError, RangefeedEvent};
use crate::clock::Timestamp;
use crate::storage::keys::Span;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a part of a feed waits for this node to hold its lease.
pub const LEASE_WAIT: Duration = Duration::from_secs(10);

/// Events of one client-side rangefeed.
pub struct RangeFeed {
    rx: mpsc::Receiver<RangefeedEvent>,
}

impl RangeFeed {
    /// The next event; `None` once the store stopped.
    pub async fn next(&mut self) -> Option<RangefeedEvent> {
        self.rx.recv().await
    }

    /// The next event if one is queued.
    pub fn try_next(&mut self) -> Option<RangefeedEvent> {
        self.rx.try_recv().ok()
    }
}

impl Store {
    /// Subscribes to `span` from `start` (exclusive); with `initial_scan` the values visible at
    /// `start` come first.
    pub fn rangefeed(&self, span: Span, start: Timestamp, initial_scan: bool) -> RangeFeed {
        let (tx, rx) = mpsc::channel(self.settings().rangefeed_buffer);
        let store = self.clone();
        self.inner.arbiter.spawn(async move {
            store.subscribe_span(span, start, initial_scan, tx, None);
        });
        RangeFeed { rx }
    }

    fn subscribe_span(
        &self,
        span: Span,
        start: Timestamp,
        initial_scan: bool,
        out: mpsc::Sender<RangefeedEvent>,
        waiting_since: Option<Instant>,
    ) {
        let parts = self.local_ranges_for(&span);
        let covered = parts.first().is_some_and(|(_, p)| p.start == span.start)
            && parts.last().is_some_and(|(_, p)| p.end == span.end)
            && parts.windows(2).all(|w| w[0].1.end == w[1].1.start);
        if !covered {
            // A split is being applied and the new range is not routable yet, or this node has no
            // replica of part of the span: try again shortly, for a while.
            let since = waiting_since.unwrap_or_else(Instant::now);
            if since.elapsed() >= LEASE_WAIT {
                let _ = out.try_send(RangefeedEvent::Error {
                    span,
                    reason: RangefeedError::LeaseElsewhere("no replica on this node".into()),
                });
                return;
            }
            let store = self.clone();
            actix::spawn(async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                if !out.is_closed()
                    && !store
                        .inner
                        .stopping
                        .load(std::sync::atomic::Ordering::Relaxed)
                {
                    store.subscribe_span(span, start, initial_scan, out, Some(since));
                }
            });
            return;
        }
        for (replica, part) in parts {
            let store = self.clone();
            let out = out.clone();
            actix::spawn(async move {
                let (tx, mut rx) = mpsc::channel(store.settings().rangefeed_buffer);
                let sub = replica
                    .addr
                    .send(Subscribe {
                        span: part.clone(),
                        start,
                        initial_scan,
                        sender: tx,
                    })
                    .await;
                if !matches!(sub, Ok(Ok(_))) {
                    // The range changed under us (split, stop, lease moved): try again on the new
                    // layout; a lease that stays elsewhere ends this part of the feed.
                    let since = match &sub {
                        Ok(Err(RangeError::NotLeaseholder { leaseholder, .. })) => {
                            let since = waiting_since.unwrap_or_else(Instant::now);
                            // A lease known to be on another node (moved by rebalancing or
                            // after a failure) ends this part at once: the caller re-plans.
                            let elsewhere =
                                leaseholder.is_some_and(|n| n != store.node_id());
                            if elsewhere || since.elapsed() >= LEASE_WAIT {
                                let who =
                                    leaseholder.map_or("another node".into(), |n| n.to_string());
                                let _ = out
                                    .send(RangefeedEvent::Error {
                                        span: part,
                                        reason: RangefeedError::LeaseElsewhere(format!(
                                            "the lease is held by {who}"
                                        )),
                                    })
                                    .await;
                                return;
                            }
                            Some(since)
                        }
                        _ => None,
                    };
                    if out.is_closed()
                        || store
                            .inner
                            .stopping
                            .load(std::sync::atomic::Ordering::Relaxed)
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    store.subscribe_span(part, start, initial_scan, out, since);
                    return;
                }
                let mut resolved = start;
                let mut scanned = !initial_scan;
                loop {
                    match rx.recv().await {
                        Some(RangefeedEvent::Checkpoint { span, ts }) => {
                            resolved = resolved.max(ts);
                            scanned = true;
                            if out
                                .send(RangefeedEvent::Checkpoint { span, ts })
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        Some(RangefeedEvent::Error { .. }) | None => break,
                        Some(ev) => {
                            if out.send(ev).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                if out.is_closed()
                    || store
                        .inner
                        .stopping
                        .load(std::sync::atomic::Ordering::Relaxed)
                {
                    return;
                }
                // Re-subscribe from the last checkpoint; an unfinished initial scan starts over.
                store.subscribe_span(part, resolved, initial_scan && !scanned, out, None);
            });
        }
    }
}
