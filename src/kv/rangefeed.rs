//! Client-side rangefeeds over any span, across ranges and splits.
//!
//! [`Store::rangefeed`] subscribes to every range overlapping the span. Each registration is
//! forwarded by its own task into one channel; when a registration ends (split, overflow, replica
//! stop) its span is re-subscribed, on whatever ranges now hold it, from the last checkpoint it
//! delivered, so nothing at or above that checkpoint is missed (delivery is at-least-once). A
//! checkpoint event carries the span it resolves, which is always within the subscribed span.
//! The feed stops when the [`RangeFeed`] is dropped.

use super::Store;
use crate::actors::range::Subscribe;
use crate::actors::range::rangefeed::RangefeedEvent;
use crate::clock::Timestamp;
use crate::storage::keys::Span;
use std::time::Duration;
use tokio::sync::mpsc;

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
            store.subscribe_span(span, start, initial_scan, tx);
        });
        RangeFeed { rx }
    }

    fn subscribe_span(
        &self,
        span: Span,
        start: Timestamp,
        initial_scan: bool,
        out: mpsc::Sender<RangefeedEvent>,
    ) {
        let parts = self.local_ranges_for(&span);
        let covered = parts.first().is_some_and(|(_, p)| p.start == span.start)
            && parts.last().is_some_and(|(_, p)| p.end == span.end)
            && parts.windows(2).all(|w| w[0].1.end == w[1].1.start);
        if !covered {
            // A split is being applied and the new range is not routable yet: try again shortly.
            let store = self.clone();
            actix::spawn(async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                if !out.is_closed()
                    && !store
                        .inner
                        .stopping
                        .load(std::sync::atomic::Ordering::Relaxed)
                {
                    store.subscribe_span(span, start, initial_scan, out);
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
                    // The range changed under us (split or stop): try again on the new layout.
                    if out.is_closed()
                        || store
                            .inner
                            .stopping
                            .load(std::sync::atomic::Ordering::Relaxed)
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    store.subscribe_span(part, start, initial_scan, out);
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
                store.subscribe_span(part, resolved, initial_scan && !scanned, out);
            });
        }
    }
}
