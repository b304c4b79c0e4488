//! Client-side rangefeeds over any span, across ranges and splits.
//!
//! [`Store::rangefeed`] subscribes to every range overlapping the span. Each registration is
//! forwarded by its own task into one channel; when a registration ends (split, overflow, replica
//! stop) its span is re-subscribed, on whatever ranges now hold it, from the last checkpoint it
//! delivered, so nothing at or above that checkpoint is missed (delivery is at-least-once). A
//! checkpoint event carries the span it resolves, which is always within the subscribed span.
//! The feed stops when the [`RangeFeed`] is dropped.
//!
//! Registrations are served by the leaseholder. A part of the span whose lease is on another
//! node is fed from there over the node channel ([`super::remote_feed`]), and routed again
//! whenever that feed ends (the lease moved on, the node went away); a part with no replica on
//! this node is routed likewise. A part whose leaseholder is unknown (an election) is waited
//! for, up to [`LEASE_WAIT`], then ends with [`RangefeedError::LeaseElsewhere`]. Feeds served
//! to another node ([`Store::rangefeed_local`]) never forward: a part whose lease is elsewhere
//! ends at once, and the subscriber routes it.

use super::Store;
use crate::actors::range::Subscribe;
use crate::actors::range::error::RangeError;
use crate::actors::range::rangefeed::{RangefeedError, RangefeedEvent};
use crate::clock::Timestamp;
use crate::storage::keys::Span;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a part of a feed waits for its leaseholder to be known.
pub const LEASE_WAIT: Duration = Duration::from_secs(10);

/// How long a part of a feed without a local replica waits (a split being applied here)
/// before it is routed to other nodes.
const NO_REPLICA_WAIT: Duration = Duration::from_millis(200);

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
        self.open_feed(span, start, initial_scan, false)
    }

    /// [`Store::rangefeed`] served by this node's leaseholder replicas only: a part whose lease
    /// is elsewhere ends with [`RangefeedError::LeaseElsewhere`] (what a remote subscriber gets;
    /// it then routes the part again).
    pub(super) fn rangefeed_local(
        &self,
        span: Span,
        start: Timestamp,
        initial_scan: bool,
    ) -> RangeFeed {
        self.open_feed(span, start, initial_scan, true)
    }

    fn open_feed(
        &self,
        span: Span,
        start: Timestamp,
        initial_scan: bool,
        local_only: bool,
    ) -> RangeFeed {
        let (tx, rx) = mpsc::channel(self.settings().rangefeed_buffer);
        let store = self.clone();
        self.inner.arbiter.spawn(async move {
            store.subscribe_span(span, start, initial_scan, tx, None, local_only);
        });
        RangeFeed { rx }
    }

    pub(super) fn subscribe_span(
        &self,
        span: Span,
        start: Timestamp,
        initial_scan: bool,
        out: mpsc::Sender<RangefeedEvent>,
        waiting_since: Option<Instant>,
        local_only: bool,
    ) {
        let parts = self.local_ranges_for(&span);
        let covered = parts.first().is_some_and(|(_, p)| p.start == span.start)
            && parts.last().is_some_and(|(_, p)| p.end == span.end)
            && parts.windows(2).all(|w| w[0].1.end == w[1].1.start);
        if !covered && !local_only && waiting_since.is_some_and(|t| t.elapsed() >= NO_REPLICA_WAIT)
        {
            // No local replica of part of the span (a node that is not one of its replicas'):
            // route it, and feed each range from wherever its lease is.
            let store = self.clone();
            actix::spawn(async move {
                match store.ranges_for(&span).await {
                    Ok(ranges) => {
                        for (h, part) in ranges {
                            match h.node(store.node_id()) {
                                n if n == store.node_id() => store.subscribe_span(
                                    part,
                                    start,
                                    initial_scan,
                                    out.clone(),
                                    None,
                                    false,
                                ),
                                n => store.subscribe_remote(
                                    n,
                                    part,
                                    start,
                                    initial_scan,
                                    out.clone(),
                                ),
                            }
                        }
                    }
                    Err(e) => {
                        let _ = out
                            .send(RangefeedEvent::Error {
                                span,
                                reason: RangefeedError::LeaseElsewhere(e.to_string()),
                            })
                            .await;
                    }
                }
            });
            return;
        }
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
                    store.subscribe_span(span, start, initial_scan, out, Some(since), local_only);
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
                            // after a failure): the part is fed from there, or, for a feed
                            // served to another node, ends at once (its subscriber re-routes).
                            let elsewhere = leaseholder.filter(|n| *n != store.node_id());
                            if let Some(n) = elsewhere
                                && !local_only
                            {
                                store.subscribe_remote(n, part, start, initial_scan, out);
                                return;
                            }
                            if elsewhere.is_some() || since.elapsed() >= LEASE_WAIT {
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
                    store.subscribe_span(part, start, initial_scan, out, since, local_only);
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
                store.subscribe_span(
                    part,
                    resolved,
                    initial_scan && !scanned,
                    out,
                    None,
                    local_only,
                );
            });
        }
    }
}
