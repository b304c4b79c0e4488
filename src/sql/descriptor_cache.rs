//! A node-wide cache of table names resolved to descriptors, so a statement does not read the
//! namespace and descriptor tables (four KV reads) before reading its data.
//!
//! Entries are keyed by virtual cluster, current database, `search_path` and the name as
//! written, and are valid for one system-write epoch ([`crate::kv::system_writes`]): a
//! transaction uses or fills the cache only when [`crate::kv::Txn::system_cache_epoch`] allows
//! it (no catalog commit in flight, none of its own catalog writes, a read timestamp at or after
//! the last catalog commit), so a cached descriptor is exactly what reading the catalog at the
//! transaction's timestamp would return. Any catalog commit starts a new epoch, which empties
//! the cache at its next use. The cache is bounded; when full it starts over.

use std::collections::HashMap;

use super::catalog::TableDesc;
use crate::ids::TenantId;

/// Entries kept at most (then the cache is emptied and refilled).
const MAX_ENTRIES: usize = 4096;

/// What a cached name was resolved under.
pub type CacheKey = (TenantId, String, Vec<String>, Vec<String>);

#[derive(Debug, Default)]
struct Inner {
    epoch: u64,
    entries: HashMap<CacheKey, TableDesc>,
}

/// The cache (one per store, see [`crate::kv::Store::extension`]).
#[derive(Debug, Default)]
pub struct DescriptorCache {
    inner: parking_lot::Mutex<Inner>,
}

impl DescriptorCache {
    /// The descriptor `key` resolved to in `epoch`, if cached.
    pub fn get(&self, epoch: u64, key: &CacheKey) -> Option<TableDesc> {
        let inner = self.inner.lock();
        if inner.epoch != epoch {
            return None;
        }
        inner.entries.get(key).cloned()
    }

    /// Remembers that `key` resolved to `t` in `epoch` (entries of older epochs are dropped;
    /// an entry of an older epoch than the cache's is not kept).
    pub fn put(&self, epoch: u64, key: CacheKey, t: TableDesc) {
        let mut inner = self.inner.lock();
        if inner.epoch != epoch {
            if epoch < inner.epoch {
                return;
            }
            inner.entries.clear();
            inner.epoch = epoch;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(key, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_for_one_epoch() {
        let c = DescriptorCache::default();
        let key: CacheKey = (TenantId(2), "db".into(), Vec::new(), vec!["t".into()]);
        let t = TableDesc {
            id: 100,
            parent_id: 50,
            schema_id: 0,
            name: "t".into(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            descending: Vec::new(),
            next_column_id: 1,
            version: 1,
            indexes: Vec::new(),
            checks: Vec::new(),
            foreign_keys: Vec::new(),
            next_index_id: 2,
            changes: Default::default(),
        };
        c.put(4, key.clone(), t.clone());
        assert_eq!(c.get(4, &key), Some(t.clone()));
        assert_eq!(c.get(5, &key), None, "another epoch");
        c.put(
            6,
            (TenantId(2), "db".into(), Vec::new(), vec!["u".into()]),
            t.clone(),
        );
        assert_eq!(c.get(6, &key), None, "a newer epoch emptied the cache");
        c.put(4, key.clone(), t);
        assert_eq!(c.get(4, &key), None, "a stale reader does not refill it");
    }
}
