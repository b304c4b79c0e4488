//! Routing: which replica, on which node, serves a key.
//!
//! A key goes to its range's leaseholder (the raft leader). In order:
//! 1. the local replica whose span holds the key, if it holds the lease (always, for a range
//!    whose only replica is here);
//! 2. if the local replica knows another node leads the group, that node (if it knows no
//!    leader, routing goes on as if there were no local replica);
//! 3. the range cache: locations learned earlier from other nodes;
//! 4. otherwise every known node is asked ([`KvCall::Locate`]) until one that has a replica
//!    and knows the leaseholder answers; the answer is cached.
//!
//! A request that hits the wrong range or a node that lost the lease fails with a routing
//! error ([`RangeError::is_routing`]); [`Store::with_replica`] then forgets the cached location
//! and routes again, with back-off, for up to `ROUTING_TIMEOUT`. After "not this range" from a
//! node, the next attempt asks that node where the key is first: it has applied a split that a
//! lagging local replica (step 2 would route through it again and again) has not. Finding no route at all is
//! `Unavailable` once that time has passed.

use super::remote::{KvCall, KvReply, Location, RangeHandle, RemoteRange};
use super::{ROUTING_TIMEOUT, Store};
use crate::actors::range::error::RangeError;
use crate::actors::range::replica::Replica;
use crate::ids::{NodeId, RangeId};
use crate::rpc::Service;
use crate::storage::keys::{self, Span};
use crate::storage::records::RangeDescriptor;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a locate call may take.
const LOCATE_TIMEOUT: Duration = Duration::from_secs(3);

/// Locations of ranges without a local leaseholder, by start key.
#[derive(Default)]
pub(crate) struct RangeCache {
    by_start: RwLock<BTreeMap<Vec<u8>, (RangeDescriptor, NodeId)>>,
}

impl RangeCache {
    fn lookup(&self, key: &[u8]) -> Option<(RangeDescriptor, NodeId)> {
        let map = self.by_start.read();
        let (_, (d, n)) = map
            .range::<[u8], _>((std::ops::Bound::Unbounded, std::ops::Bound::Included(key)))
            .next_back()?;
        d.span.contains_key(key).then(|| (d.clone(), *n))
    }

    fn insert(&self, d: RangeDescriptor, node: NodeId) {
        let mut map = self.by_start.write();
        // Drop entries the new descriptor overlaps (older views of split or merged ranges).
        let stale: Vec<Vec<u8>> = map
            .iter()
            .filter(|(_, (o, _))| o.span.overlaps(&d.span))
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            map.remove(&k);
        }
        map.insert(d.span.start.0.clone(), (d, node));
    }

    fn forget(&self, range: RangeId) {
        self.by_start
            .write()
            .retain(|_, (d, _)| d.range_id != range);
    }
}

fn no_route(key: &[u8], why: &str) -> RangeError {
    RangeError::Unavailable {
        range: RangeId(0),
        reason: format!("no route to the range of {}: {why}", keys::pretty(key)),
    }
}

impl Store {
    /// The local replica whose span contains `key`, leaseholder or not.
    pub fn local_replica_for(&self, key: &[u8]) -> Option<Replica> {
        let ranges = self.inner.ranges.read();
        let (_, r) = ranges
            .range::<[u8], _>((std::ops::Bound::Unbounded, std::ops::Bound::Included(key)))
            .next_back()?;
        // Under the lock, without copying the descriptor: this runs for every request.
        let holds = r.shared.state.lock().desc.span.contains_key(key);
        holds.then(|| r.clone())
    }

    /// The local replicas overlapping `span`, each with the part of `span` it holds, in key
    /// order (rangefeeds and GC work on local replicas only).
    pub fn local_ranges_for(&self, span: &Span) -> Vec<(Replica, Span)> {
        let ranges = self.inner.ranges.read();
        let mut out = Vec::new();
        let first = ranges
            .range::<[u8], _>((
                std::ops::Bound::Unbounded,
                std::ops::Bound::Included(span.start.as_bytes()),
            ))
            .next_back()
            .map(|(k, _)| k.clone());
        let start = first.unwrap_or_default();
        for (_, r) in ranges.range(start..) {
            let d = r.shared.desc();
            if d.span.start >= span.end {
                break;
            }
            if let Some(part) = d.span.intersect(span) {
                out.push((r.clone(), part));
            }
        }
        out
    }

    fn is_sole_replica(&self, d: &RangeDescriptor) -> bool {
        d.replicas.len() == 1 && d.replicas[0].node_id == self.node_id()
    }

    /// Where this node's replica says `key`'s range is served (for [`KvCall::Locate`]).
    pub(crate) fn locate_local(&self, key: &[u8]) -> Option<Location> {
        let r = self.local_replica_for(key)?;
        let desc = r.shared.desc();
        let me = self.node_id();
        let holder = if r.shared.is_leaseholder() || self.is_sole_replica(&desc) {
            Some(me)
        } else {
            r.shared.leaseholder_node()
        };
        let leaseholder = holder.and_then(|n| {
            let addr = if n == me {
                self.peers().and_then(|p| p.self_address())
            } else {
                self.peers().and_then(|p| p.address(n))
            };
            addr.map(|a| (n, a))
        });
        Some(Location { desc, leaseholder })
    }

    /// This node's replica of `range` if it holds the lease (the serving side of a forwarded
    /// request).
    pub(crate) fn local_leaseholder(&self, range: RangeId) -> Result<Replica, RangeError> {
        let r = self
            .inner
            .ranges
            .read()
            .values()
            .find(|r| r.range_id() == range)
            .cloned();
        match r {
            Some(r) if r.shared.is_leaseholder() || self.is_sole_replica(&r.shared.desc()) => Ok(r),
            Some(r) => Err(RangeError::NotLeaseholder {
                range,
                leaseholder: r.shared.leaseholder_node(),
            }),
            None => Err(RangeError::NotLeaseholder {
                range,
                leaseholder: None,
            }),
        }
    }

    /// Forgets a cached location (after a transport failure or routing error).
    pub(crate) fn forget_location(&self, range: RangeId) {
        self.inner.range_cache.forget(range);
    }

    fn remote(&self, node: NodeId, desc: RangeDescriptor) -> RangeHandle {
        RangeHandle::Remote(RemoteRange::new(self.clone(), node, desc))
    }

    /// `key`'s range and leaseholder as node `node` knows them (a [`KvCall::Locate`] to it),
    /// when it answers with a range holding the key and a leaseholder.
    async fn locate_via(&self, node: NodeId, key: &[u8]) -> Option<RangeHandle> {
        let peers = self.peers()?;
        let addr = peers.address(node)?;
        let body = crate::rpc::encode_body(&KvCall::Locate { key: key.to_vec() }).ok()?;
        let raw = peers
            .call(&addr, Service::Kv, body, LOCATE_TIMEOUT)
            .await
            .ok()?;
        match crate::rpc::decode_body::<KvReply>(&raw).ok()? {
            KvReply::Located(Some(Location {
                desc,
                leaseholder: Some((holder, holder_addr)),
            })) if desc.span.contains_key(key) => {
                peers.set_address(holder, holder_addr);
                self.inner.range_cache.insert(desc.clone(), holder);
                Some(self.remote(holder, desc))
            }
            _ => None,
        }
    }

    /// The handle serving `key` now (one routing attempt; see the module docs).
    pub async fn range_for(&self, key: &[u8]) -> Result<RangeHandle, RangeError> {
        if let Some(r) = self.local_replica_for(key) {
            if r.shared.is_leaseholder() || self.is_sole_replica(&r.shared.state.lock().desc) {
                return Ok(RangeHandle::Local(r));
            }
            if let Some(n) = r.shared.leaseholder_node()
                && n != self.node_id()
            {
                return Ok(self.remote(n, r.shared.desc()));
            }
            // The local replica does not know the leaseholder (an election, or the leader cannot
            // reach this node): ask the other nodes below.
        }
        if let Some((d, n)) = self.inner.range_cache.lookup(key) {
            return Ok(self.remote(n, d));
        }
        let peers = self
            .peers()
            .ok_or_else(|| no_route(key, "no local replica and no other nodes"))?;
        let body = crate::rpc::encode_body(&KvCall::Locate { key: key.to_vec() })
            .map_err(|e| no_route(key, &e.to_string()))?;
        let mut last = "no node answered".to_string();
        for addr in peers.known_addresses() {
            let raw = match peers
                .call(&addr, Service::Kv, body.clone(), LOCATE_TIMEOUT)
                .await
            {
                Ok(raw) => raw,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            match crate::rpc::decode_body::<KvReply>(&raw) {
                Ok(KvReply::Located(Some(Location {
                    desc,
                    leaseholder: Some((node, node_addr)),
                }))) if desc.span.contains_key(key) => {
                    peers.set_address(node, node_addr);
                    self.inner.range_cache.insert(desc.clone(), node);
                    return Ok(self.remote(node, desc));
                }
                Ok(KvReply::Located(Some(_))) => last = format!("{addr} knows no leaseholder"),
                Ok(_) => {}
                Err(e) => last = e.to_string(),
            }
        }
        Err(no_route(key, &last))
    }

    /// The local replica serving `key` (compatibility for callers that need the replica
    /// itself: splits and size accounting); `Unavailable` if it is served elsewhere.
    pub fn replica_for(&self, key: &[u8]) -> super::Result<Replica> {
        self.local_replica_for(key).ok_or_else(|| {
            super::KvError::Unavailable(format!("no local range for key {}", keys::pretty(key)))
        })
    }

    /// The handle serving `key`, routing again (with back-off, up to the routing timeout)
    /// while no route is found.
    pub async fn route(&self, key: &[u8]) -> super::Result<RangeHandle> {
        Ok(self.with_replica(key, |h| async move { Ok(h) }).await?)
    }

    /// Runs `f` against the handle for `key`, re-routing on routing errors and missing routes
    /// until it succeeds or the routing timeout passes.
    pub(crate) async fn with_replica<T, F, Fut>(
        &self,
        key: &[u8],
        mut f: F,
    ) -> Result<T, RangeError>
    where
        F: FnMut(RangeHandle) -> Fut,
        Fut: std::future::Future<Output = Result<T, RangeError>>,
    {
        let deadline = Instant::now() + ROUTING_TIMEOUT;
        let mut backoff = Duration::from_micros(200);
        // The node that last answered "not this range": it has applied a split this node's
        // replica (a follower behind on its log) or cache has not, so it is asked first.
        let mut ask_first: Option<NodeId> = None;
        loop {
            let routed = match ask_first.take() {
                Some(n) => match self.locate_via(n, key).await {
                    Some(h) => Ok(h),
                    None => self.range_for(key).await,
                },
                None => self.range_for(key).await,
            };
            let err = match routed {
                Ok(h) => {
                    let range = h.range_id();
                    let node = match &h {
                        RangeHandle::Remote(r) => Some(r.node()),
                        RangeHandle::Local(_) => None,
                    };
                    match f(h).await {
                        Err(e) if e.is_routing() => {
                            self.forget_location(range);
                            if e.is_key_mismatch() {
                                ask_first = node;
                            }
                            e
                        }
                        other => return other,
                    }
                }
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(err);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(50));
        }
    }

    /// The ranges overlapping `span`, each with the part of `span` it holds, in key order,
    /// wherever they are served.
    pub async fn ranges_for(&self, span: &Span) -> Result<Vec<(RangeHandle, Span)>, RangeError> {
        let mut out = Vec::new();
        let mut cursor = span.start.clone();
        while cursor < span.end {
            let key = cursor.0.clone();
            let h = self.with_replica(&key, |h| async move { Ok(h) }).await?;
            let d = h.desc();
            let Some(part) = d.span.intersect(span) else {
                break;
            };
            cursor = d.span.end.clone();
            out.push((h, part));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(id: u64, start: &[u8], end: &[u8]) -> RangeDescriptor {
        RangeDescriptor {
            range_id: RangeId(id),
            span: Span::new(start.to_vec(), end.to_vec()),
            ..Default::default()
        }
    }

    #[test]
    fn the_range_cache_finds_keys_and_forgets_overlapped_views() {
        let c = RangeCache::default();
        c.insert(desc(2, b"a", b"m"), NodeId(1));
        c.insert(desc(3, b"m", b"z"), NodeId(2));
        assert_eq!(
            c.lookup(b"b").map(|(d, n)| (d.range_id, n)),
            Some((RangeId(2), NodeId(1)))
        );
        assert_eq!(
            c.lookup(b"m").map(|(d, n)| (d.range_id, n)),
            Some((RangeId(3), NodeId(2)))
        );
        assert!(c.lookup(b"z").is_none(), "past every cached span");
        assert!(c.lookup(b"0").is_none(), "before every cached span");
        // r2 split into [a, f) and [f, m): the newer view replaces the old one.
        c.insert(desc(4, b"f", b"m"), NodeId(3));
        assert!(c.lookup(b"b").is_none(), "the stale r2 entry is gone");
        assert_eq!(c.lookup(b"g").map(|(d, _)| d.range_id), Some(RangeId(4)));
        c.forget(RangeId(4));
        assert!(c.lookup(b"g").is_none());
        assert!(c.lookup(b"n").is_some());
    }
}
