//! Rangefeeds across nodes: a part of a feed whose lease is on another node is served there
//! and its events cross the node channel.
//!
//! The subscribing node opens a feed on the leaseholder's node ([`KvCall::FeedOpen`]: span,
//! start, initial scan), then long-polls it ([`KvCall::FeedPoll`]: the queued events, or after
//! up to [`POLL_WAIT`] none) and closes it when done ([`KvCall::FeedClose`]). The serving node
//! runs an ordinary rangefeed restricted to its own leaseholder replicas: if the lease moves on,
//! its feed ends (`ended`), and the subscriber re-routes the part from its last checkpoint,
//! to this node or to the new leaseholder's. Delivery stays at-least-once and in order per
//! part: a checkpoint arrives after every value at or below it, as on the serving node.
//!
//! Bounds: the serving node buffers at most the rangefeed buffer's worth of events per feed
//! (a feed that is not polled overflows and re-subscribes from its checkpoint, as a local feed
//! does), and drops a feed not polled for [`FEED_TTL`] (its subscriber died or was cut off).
//! Failure on the subscribing side (node unreachable, feed gone) ends the remote part; it is
//! re-routed after a short pause.

use super::Store;
use super::remote::{KvCall, KvReply};
use crate::actors::range::rangefeed::RangefeedEvent;
use crate::clock::Timestamp;
use crate::ids::NodeId;
use crate::replication::frontier::SpanFrontier;
use crate::rpc::Service;
use crate::storage::keys::Span;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a poll waits for the first event.
pub const POLL_WAIT: Duration = Duration::from_millis(300);
/// A served feed not polled for this long is dropped.
pub const FEED_TTL: Duration = Duration::from_secs(10);
/// Most events returned by one poll.
const POLL_MAX: usize = 4096;

struct Hosted {
    rx: Arc<tokio::sync::Mutex<super::rangefeed::RangeFeed>>,
    last_poll: Arc<Mutex<Instant>>,
}

/// The feeds this node serves for other nodes.
#[derive(Default)]
pub(crate) struct HostedFeeds {
    next: AtomicU64,
    feeds: Mutex<HashMap<u64, Hosted>>,
}

impl Store {
    /// Serves the feed calls of [`Service::Kv`].
    pub(super) async fn serve_feed(&self, call: KvCall) -> KvReply {
        let hosted = &self.inner.feeds;
        match call {
            KvCall::FeedOpen {
                span,
                start,
                initial_scan,
            } => {
                let id = hosted.next.fetch_add(1, Ordering::Relaxed) + 1;
                let feed = self.rangefeed_local(span, start, initial_scan);
                let last_poll = Arc::new(Mutex::new(Instant::now()));
                hosted.feeds.lock().insert(
                    id,
                    Hosted {
                        rx: Arc::new(tokio::sync::Mutex::new(feed)),
                        last_poll: last_poll.clone(),
                    },
                );
                // Drop the feed once nobody polls it.
                let store = self.clone();
                self.inner.arbiter.spawn(async move {
                    loop {
                        tokio::time::sleep(FEED_TTL / 2).await;
                        if last_poll.lock().elapsed() >= FEED_TTL {
                            store.inner.feeds.feeds.lock().remove(&id);
                            return;
                        }
                        if !store.inner.feeds.feeds.lock().contains_key(&id) {
                            return;
                        }
                    }
                });
                KvReply::FeedOpened(id)
            }
            KvCall::FeedPoll { id } => {
                let Some((rx, last_poll)) = hosted
                    .feeds
                    .lock()
                    .get(&id)
                    .map(|h| (h.rx.clone(), h.last_poll.clone()))
                else {
                    return KvReply::FeedEvents {
                        events: Vec::new(),
                        ended: true,
                    };
                };
                *last_poll.lock() = Instant::now();
                let mut feed = rx.lock().await;
                let mut events = Vec::new();
                let mut ended = false;
                match tokio::time::timeout(POLL_WAIT, feed.next()).await {
                    Ok(Some(ev)) => events.push(ev),
                    Ok(None) => ended = true,
                    Err(_) => {}
                }
                while events.len() < POLL_MAX {
                    match feed.try_next() {
                        Some(ev) => events.push(ev),
                        None => break,
                    }
                }
                // A part of the span whose lease left this node ends the served feed: the
                // subscriber re-routes it.
                if events
                    .iter()
                    .any(|e| matches!(e, RangefeedEvent::Error { .. }))
                {
                    ended = true;
                }
                *last_poll.lock() = Instant::now();
                if ended {
                    hosted.feeds.lock().remove(&id);
                }
                KvReply::FeedEvents { events, ended }
            }
            KvCall::FeedClose { id } => {
                hosted.feeds.lock().remove(&id);
                KvReply::FeedEvents {
                    events: Vec::new(),
                    ended: true,
                }
            }
            KvCall::Locate { .. } | KvCall::Exec { .. } => KvReply::FeedEvents {
                events: Vec::new(),
                ended: true,
            },
        }
    }

    /// Feeds `part` from `start` out of `node`'s leaseholder replicas into `out` until its
    /// feed there ends, then routes the part again from its last checkpoint.
    pub(super) fn subscribe_remote(
        &self,
        node: NodeId,
        part: Span,
        start: Timestamp,
        initial_scan: bool,
        out: mpsc::Sender<RangefeedEvent>,
    ) {
        let store = self.clone();
        self.inner.arbiter.spawn(async move {
            // The part may be several ranges over there: it is resolved up to the minimum of
            // their checkpoints.
            let mut frontier = SpanFrontier::new(part.clone(), start);
            let r = store
                .remote_feed(node, &part, start, initial_scan, &out, &mut frontier)
                .await;
            if let Err(e) = r {
                tracing::debug!(%node, ?part, "remote rangefeed ended: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if out.is_closed() || store.is_stopping() {
                return;
            }
            let resolved = frontier.frontier();
            let scanned = resolved > start;
            store.subscribe_span(
                part,
                resolved.max(start),
                initial_scan && !scanned,
                out,
                None,
                false,
            );
        });
    }

    async fn remote_feed(
        &self,
        node: NodeId,
        part: &Span,
        start: Timestamp,
        initial_scan: bool,
        out: &mpsc::Sender<RangefeedEvent>,
        frontier: &mut SpanFrontier,
    ) -> Result<(), String> {
        let peers = self
            .peers()
            .cloned()
            .ok_or_else(|| "no inter-node transport".to_string())?;
        let call = |c: KvCall, timeout: Duration| {
            let peers = peers.clone();
            async move {
                let body = crate::rpc::encode_body(&c).map_err(|e| e.to_string())?;
                let raw = peers
                    .call_node(node, Service::Kv, body, timeout)
                    .await
                    .map_err(|e| e.to_string())?;
                crate::rpc::decode_body::<KvReply>(&raw).map_err(|e| e.to_string())
            }
        };
        let id = match call(
            KvCall::FeedOpen {
                span: part.clone(),
                start,
                initial_scan,
            },
            Duration::from_secs(5),
        )
        .await?
        {
            KvReply::FeedOpened(id) => id,
            other => return Err(format!("unexpected answer {other:?}")),
        };
        let r = async {
            loop {
                let reply = tokio::select! {
                    r = call(KvCall::FeedPoll { id }, POLL_WAIT + Duration::from_secs(5)) => r?,
                    _ = out.closed() => return Ok(()),
                };
                let KvReply::FeedEvents { events, ended } = reply else {
                    return Err("unexpected answer to a feed poll".to_string());
                };
                for ev in events {
                    match ev {
                        RangefeedEvent::Checkpoint { span, ts } => {
                            frontier.forward(&span, ts);
                            if out
                                .send(RangefeedEvent::Checkpoint { span, ts })
                                .await
                                .is_err()
                            {
                                return Ok(());
                            }
                        }
                        // The served part ended (lease moved, split, overflow): re-route.
                        RangefeedEvent::Error { .. } => return Ok(()),
                        ev => {
                            if out.send(ev).await.is_err() {
                                return Ok(());
                            }
                        }
                    }
                }
                if ended {
                    return Ok(());
                }
            }
        }
        .await;
        let _ = call(KvCall::FeedClose { id }, Duration::from_secs(2)).await;
        r
    }
}
