//! Latches: short-lived locks on key spans held by requests in flight on a replica.
//!
//! A write holds latches on the spans it writes from evaluation until its raft command is
//! applied, so no other request evaluates against state it is about to change. Reads do not hold
//! latches; they wait for overlapping write latches at or below their timestamp and then record
//! themselves in the timestamp cache, which pushes later writes above them. Latches are released
//! by dropping the [`LatchGuard`], on every path including errors and cancelled futures.

use crate::clock::Timestamp;
use crate::storage::keys::Span;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Notify;

/// One held latch.
#[derive(Debug, Clone)]
pub struct Latch {
    /// The spans it covers.
    pub spans: Vec<Span>,
    /// The lowest timestamp the holder may write at.
    pub ts: Timestamp,
}

/// The latches held on one replica.
#[derive(Debug, Default)]
pub struct LatchSet {
    next_id: u64,
    held: BTreeMap<u64, Latch>,
}

impl LatchSet {
    /// Whether a write over `spans` must wait.
    pub fn write_conflicts(&self, spans: &[Span]) -> bool {
        self.held
            .values()
            .any(|l| l.spans.iter().any(|a| spans.iter().any(|b| a.overlaps(b))))
    }

    /// Whether a read of `span` at `ts` must wait.
    pub fn read_conflicts(&self, span: &Span, ts: Timestamp) -> bool {
        self.held
            .values()
            .any(|l| l.ts <= ts && l.spans.iter().any(|a| a.overlaps(span)))
    }

    /// Whether a read of one key at `ts` must wait.
    pub fn read_conflicts_key(&self, key: &[u8], ts: Timestamp) -> bool {
        self.held
            .values()
            .any(|l| l.ts <= ts && l.spans.iter().any(|a| a.contains_key(key)))
    }

    /// Takes a latch (the caller checked for conflicts).
    pub fn insert(&mut self, spans: Vec<Span>, ts: Timestamp) -> u64 {
        self.next_id += 1;
        self.held.insert(self.next_id, Latch { spans, ts });
        self.next_id
    }

    /// Releases a latch.
    pub fn remove(&mut self, id: u64) {
        self.held.remove(&id);
    }

    /// The lowest timestamp of any held write latch.
    pub fn min_ts(&self) -> Option<Timestamp> {
        self.held.values().map(|l| l.ts).min()
    }

    /// Number of held latches.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether no latch is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// Anything that owns a [`LatchSet`] behind a mutex with a [`Notify`] for waiters.
pub trait LatchOwner: Send + Sync + 'static {
    /// Releases latch `id` and wakes waiters.
    fn release_latch(&self, id: u64);
}

/// Releases its latch when dropped.
pub struct LatchGuard {
    owner: Arc<dyn LatchOwner>,
    id: u64,
}

impl LatchGuard {
    /// A guard for latch `id` of `owner`.
    pub fn new(owner: Arc<dyn LatchOwner>, id: u64) -> LatchGuard {
        LatchGuard { owner, id }
    }
}

impl Drop for LatchGuard {
    fn drop(&mut self) {
        self.owner.release_latch(self.id);
    }
}

impl std::fmt::Debug for LatchGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LatchGuard({})", self.id)
    }
}

/// Waits (without holding the mutex) until `ready` is true under `mutex`, then runs `take` under
/// the same lock. The notification is registered before the lock is dropped, so no release is
/// missed.
pub async fn wait_then<S, R>(
    mutex: &Mutex<S>,
    notify: &Notify,
    mut ready: impl FnMut(&S) -> bool,
    take: impl FnOnce(&mut S) -> R,
) -> R {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        {
            let mut g = mutex.lock();
            if ready(&g) {
                return take(&mut g);
            }
            notified.as_mut().enable();
        }
        notified.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latches_conflict_by_overlap_and_timestamp() {
        let mut l = LatchSet::default();
        let id = l.insert(vec![Span::point(b"b")], Timestamp::from_wall(10));
        assert!(l.write_conflicts(&[Span::new(b"a".to_vec(), b"c".to_vec())]));
        assert!(!l.write_conflicts(&[Span::point(b"c")]));
        assert!(l.read_conflicts(&Span::point(b"b"), Timestamp::from_wall(10)));
        assert!(!l.read_conflicts(&Span::point(b"b"), Timestamp::from_wall(9)));
        l.remove(id);
        assert!(l.is_empty());
    }
}
