//! Ordering of commits that write system tables (a virtual cluster's catalog: namespace,
//! descriptors, schemas, users, settings, jobs), so that layers above can cache what they read
//! from them without reading on every statement.
//!
//! A transaction whose writes touch a system table commits like this: the in-flight count goes
//! up and the epoch changes; the transaction moves its timestamp to the current time (so it
//! commits after every transaction that had already started, whatever those read from a
//! cache); it commits; the last system commit timestamp is raised to its commit timestamp; the
//! epoch changes again and the in-flight count goes down.
//!
//! A reader may use a cached value, or cache what it read, only under [`SystemWrites::epoch_for`]:
//! no system commit in flight, none of its own writes in system tables, and a read timestamp at
//! or after the last system commit. Then the cached value is what a read at its timestamp would
//! return: every system commit before it is reflected (the epoch changed after it), and every
//! later one will commit at a later timestamp. Bulk writes that bypass transactions (ingest,
//! revert) must call [`SystemWrites::bump`].
//!
//! The tracker sees the commits of this node only. Once the node knows the cluster has other
//! nodes ([`SystemWrites::set_shared`]), whose system commits it would not see, nothing may be
//! cached: every reader reads.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::clock::Timestamp;
use crate::storage::keys;

/// User tables start at this id; lower ids are system tables.
const FIRST_USER_TABLE: u32 = 100;

/// Whether `key` belongs to a system table of some tenant.
pub fn is_system_key(key: &[u8]) -> bool {
    if keys::decode_tenant(key).is_none() || key.len() < 13 {
        return false;
    }
    let mut table = [0u8; 4];
    table.copy_from_slice(&key[9..13]);
    u32::from_be_bytes(table) < FIRST_USER_TABLE
}

/// The node's system-commit tracker (see the module docs).
#[derive(Debug, Default)]
pub struct SystemWrites {
    epoch: AtomicU64,
    in_flight: AtomicUsize,
    last_commit: parking_lot::Mutex<Timestamp>,
    /// Other nodes may commit system writes too.
    shared: std::sync::atomic::AtomicBool,
}

impl SystemWrites {
    /// A system-writing commit starts.
    pub(super) fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// A system-writing commit ended, at `committed` if it committed.
    pub(super) fn end(&self, committed: Option<Timestamp>) {
        if let Some(ts) = committed {
            let mut last = self.last_commit.lock();
            if ts > *last {
                *last = ts;
            }
        }
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// System tables changed outside a transaction (ingest, revert): cached values are void.
    pub fn bump(&self, at: Timestamp) {
        self.begin();
        self.end(Some(at));
    }

    /// Records that other nodes belong to the cluster (see the module docs). Never undone
    /// while the process runs.
    pub fn set_shared(&self) {
        if !self.shared.swap(true, Ordering::SeqCst) {
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Whether other nodes belong to the cluster.
    pub fn is_shared(&self) -> bool {
        self.shared.load(Ordering::SeqCst)
    }

    /// The epoch a reader at `read_ts` may cache under, or None when it must read.
    pub fn epoch_for(&self, read_ts: Timestamp, own_system_writes: bool) -> Option<u64> {
        if own_system_writes
            || self.in_flight.load(Ordering::SeqCst) > 0
            || self.shared.load(Ordering::SeqCst)
        {
            return None;
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        if read_ts < *self.last_commit.lock() {
            return None;
        }
        Some(epoch)
    }

    /// Whether `epoch` is still current (no system commit started since it was read).
    pub fn is_current(&self, epoch: u64) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
            && !self.shared.load(Ordering::SeqCst)
            && self.epoch.load(Ordering::SeqCst) == epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;

    #[test]
    fn readers_cache_only_between_system_commits() {
        let sw = SystemWrites::default();
        assert!(is_system_key(&keys::index_prefix(TenantId(2), 2, 1)));
        assert!(!is_system_key(&keys::index_prefix(TenantId(2), 100, 1)));
        let ts = |w: u64| Timestamp {
            wall: w,
            logical: 0,
        };
        let e = sw.epoch_for(ts(10), false).expect("nothing in flight");
        assert!(
            sw.epoch_for(ts(10), true).is_none(),
            "own catalog writes read through"
        );
        sw.begin();
        assert!(
            sw.epoch_for(ts(10), false).is_none(),
            "a commit is in flight"
        );
        assert!(!sw.is_current(e));
        sw.end(Some(ts(20)));
        assert!(
            sw.epoch_for(ts(15), false).is_none(),
            "older than the last system commit"
        );
        let e2 = sw.epoch_for(ts(25), false).expect("after it");
        assert_ne!(e, e2);
        assert!(sw.is_current(e2));
        sw.set_shared();
        assert!(!sw.is_current(e2), "caches from before are void");
        assert!(
            sw.epoch_for(ts(30), false).is_none(),
            "nothing is cached once other nodes commit too"
        );
    }
}
