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
use crate::actors::range::replica::Replica;
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

    /// Feeds `span` into `out`: each part from its local replica, or, when part of the span
    /// has no local replica, routed (after [`NO_REPLICA_WAIT`]) or waited for.
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
        let feed = Part {
            span,
            start,
            initial_scan,
            out,
            waiting_since,
            local_only,
        };
        if !covered && !local_only && waiting_since.is_some_and(|t| t.elapsed() >= NO_REPLICA_WAIT)
        {
            self.route_feed(feed);
            return;
        }
        if !covered {
            self.retry_uncovered(feed);
            return;
        }
        for (replica, span) in parts {
            let store = self.clone();
            let part = Part {
                span,
                out: feed.out.clone(),
                ..feed
            };
            actix::spawn(async move { store.feed_from_replica(replica, part).await });
        }
    }

    /// No local replica of part of the span (a node that is not one of its replicas'): routes
    /// it, and feeds each range from wherever its lease is.
    fn route_feed(&self, feed: Part) {
        let store = self.clone();
        let Part {
            span,
            start,
            initial_scan,
            out,
            ..
        } = feed;
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
                            n => store.subscribe_remote(n, part, start, initial_scan, out.clone()),
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
    }

    /// A split is being applied and the new range is not routable yet, or this node has no
    /// replica of part of the span: tries again shortly, for up to [`LEASE_WAIT`].
    fn retry_uncovered(&self, feed: Part) {
        let since = feed.waiting_since.unwrap_or_else(Instant::now);
        if since.elapsed() >= LEASE_WAIT {
            let _ = feed.out.try_send(RangefeedEvent::Error {
                span: feed.span,
                reason: RangefeedError::LeaseElsewhere("no replica on this node".into()),
            });
            return;
        }
        let store = self.clone();
        actix::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            if !store.feed_over(&feed.out) {
                store.resubscribe(feed, Some(since));
            }
        });
    }

    /// Feeds one part from its local replica, forwarding events until the registration ends,
    /// then re-subscribes from the last checkpoint (an unfinished initial scan starts over).
    async fn feed_from_replica(&self, replica: Replica, feed: Part) {
        let (tx, mut rx) = mpsc::channel(self.settings().rangefeed_buffer);
        let sub = replica
            .addr
            .send(Subscribe {
                span: feed.span.clone(),
                start: feed.start,
                initial_scan: feed.initial_scan,
                sender: tx,
            })
            .await;
        if !matches!(sub, Ok(Ok(_))) {
            let not_leaseholder = match &sub {
                Ok(Err(RangeError::NotLeaseholder { leaseholder, .. })) => Some(*leaseholder),
                _ => None,
            };
            self.subscribe_failed(feed, not_leaseholder).await;
            return;
        }
        let Some((resolved, scanned)) =
            forward(&mut rx, &feed.out, feed.start, feed.initial_scan).await
        else {
            return;
        };
        if self.feed_over(&feed.out) {
            return;
        }
        let initial_scan = feed.initial_scan && !scanned;
        self.resubscribe(
            Part {
                start: resolved,
                initial_scan,
                ..feed
            },
            None,
        );
    }

    /// The range changed under the subscription (split, stop, lease moved): tries again on
    /// the new layout. A lease known to be on another node (moved by rebalancing or after a
    /// failure) is fed from there, or, for a feed served to another node, ends at once (its
    /// subscriber re-routes); a lease that stays unknown for [`LEASE_WAIT`] ends this part of
    /// the feed. `not_leaseholder` is the leaseholder the range named, when it refused as
    /// not being it.
    async fn subscribe_failed(
        &self,
        feed: Part,
        not_leaseholder: Option<Option<crate::ids::NodeId>>,
    ) {
        let since = match not_leaseholder {
            Some(leaseholder) => {
                let since = feed.waiting_since.unwrap_or_else(Instant::now);
                let elsewhere = leaseholder.filter(|n| *n != self.node_id());
                if let Some(n) = elsewhere
                    && !feed.local_only
                {
                    self.subscribe_remote(n, feed.span, feed.start, feed.initial_scan, feed.out);
                    return;
                }
                if elsewhere.is_some() || since.elapsed() >= LEASE_WAIT {
                    let who = leaseholder.map_or("another node".into(), |n| n.to_string());
                    let _ = feed
                        .out
                        .send(RangefeedEvent::Error {
                            span: feed.span,
                            reason: RangefeedError::LeaseElsewhere(format!(
                                "the lease is held by {who}"
                            )),
                        })
                        .await;
                    return;
                }
                Some(since)
            }
            None => None,
        };
        if self.feed_over(&feed.out) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.resubscribe(feed, since);
    }

    /// [`Store::subscribe_span`] for the part again, waiting since `since` when it waits.
    fn resubscribe(&self, feed: Part, since: Option<Instant>) {
        self.subscribe_span(
            feed.span,
            feed.start,
            feed.initial_scan,
            feed.out,
            since,
            feed.local_only,
        );
    }

    /// The subscriber is gone or the store is stopping: the part ends.
    fn feed_over(&self, out: &mpsc::Sender<RangefeedEvent>) -> bool {
        out.is_closed()
            || self
                .inner
                .stopping
                .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A part of a feed: a span, from when, and where its events go.
struct Part {
    span: Span,
    start: Timestamp,
    initial_scan: bool,
    out: mpsc::Sender<RangefeedEvent>,
    /// Since when the part has waited for a replica or a leaseholder.
    waiting_since: Option<Instant>,
    /// Served to another node: never forwarded elsewhere.
    local_only: bool,
}

/// Forwards a registration's events to `out` until it ends (an error event or its end);
/// returns the last checkpoint forwarded (at least `start`) and whether the initial scan (if
/// any) finished, or `None` once `out` is gone.
async fn forward(
    rx: &mut mpsc::Receiver<RangefeedEvent>,
    out: &mpsc::Sender<RangefeedEvent>,
    start: Timestamp,
    initial_scan: bool,
) -> Option<(Timestamp, bool)> {
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
                    return None;
                }
            }
            Some(RangefeedEvent::Error { .. }) | None => return Some((resolved, scanned)),
            Some(ev) => {
                if out.send(ev).await.is_err() {
                    return None;
                }
            }
        }
    }
}
