//! The newest-version cache: for recently read or written keys, the newest MVCC version (or the
//! fact that the key has none), so point reads at current timestamps skip the MVCC seek.
//!
//! Invariant: an entry, when present, is exactly the newest version of its key in the `mvcc`
//! partition. It is kept by the apply path (which updates entries after every committed batch,
//! before the writers are answered and their latches released) and filled by readers on misses.
//! A reader may only fill an entry if nothing touched the key's shard in between: every removal
//! (delete, eviction) and every write to a key without an entry bumps the shard's epoch, and a
//! fill carries the epoch it read under. Memory is bounded per shard; a full shard drops a
//! pseudo-random eighth of its entries.

use crate::clock::Timestamp;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::BuildHasher;

const SHARDS: usize = 64;

/// The newest version of a key: its timestamp (MIN if the key has no version) and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Newest {
    /// Timestamp of the newest version; `Timestamp::MIN` when the key has none.
    pub ts: Timestamp,
    /// Its value (`None` for a tombstone or no version).
    pub value: Option<Vec<u8>>,
}

struct Shard {
    map: HashMap<Vec<u8>, Newest>,
    bytes: usize,
    epoch: u64,
}

/// A sharded cache of newest versions.
pub struct RowCache {
    shards: Vec<Mutex<Shard>>,
    shard_budget: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl std::fmt::Debug for RowCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RowCache({} bytes per shard)", self.shard_budget)
    }
}

fn entry_size(key: &[u8], n: &Newest) -> usize {
    key.len() + n.value.as_ref().map_or(0, Vec::len) + 64
}

impl RowCache {
    /// A cache holding about `budget_bytes` of keys and values.
    pub fn new(budget_bytes: usize) -> RowCache {
        RowCache {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        bytes: 0,
                        epoch: 0,
                    })
                })
                .collect(),
            shard_budget: (budget_bytes / SHARDS).max(4096),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn shard(&self, key: &[u8]) -> &Mutex<Shard> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    /// The cached newest version of `key`, and the shard epoch to fill with on a miss.
    pub fn get(&self, key: &[u8]) -> Result<Newest, u64> {
        let s = self.shard(key).lock();
        match s.map.get(key) {
            Some(n) => Ok(n.clone()),
            None => Err(s.epoch),
        }
    }

    /// Fills `key` after a miss, unless the shard changed since `epoch`.
    pub fn fill(&self, key: &[u8], newest: Newest, epoch: u64) {
        let mut s = self.shard(key).lock();
        if s.epoch != epoch || s.map.contains_key(key) {
            return;
        }
        self.insert(&mut s, key.to_vec(), newest);
    }

    fn insert(&self, s: &mut Shard, key: Vec<u8>, newest: Newest) {
        let size = entry_size(&key, &newest);
        if s.bytes + size > self.shard_budget {
            self.evict(s);
        }
        s.bytes += size;
        s.map.insert(key, newest);
    }

    /// Frees an eighth of a full shard: entries are dropped by a hash of their key salted with
    /// the epoch, so each eviction takes a different pseudo-random sample and the rest stay
    /// (clearing the whole shard made the hit rate fall to zero every time it filled up).
    /// Bumps the epoch: a fill read before the eviction may be stale by now.
    fn evict(&self, s: &mut Shard) {
        let target = self.shard_budget - self.shard_budget / 8;
        let salt = s.epoch;
        let mut bytes = s.bytes;
        for modulus in [8u64, 4, 2, 1] {
            if bytes <= target {
                break;
            }
            s.map.retain(|k, n| {
                if bytes <= target {
                    return true;
                }
                let h = self.hasher.hash_one((salt, &k[..]));
                if h % modulus == 0 {
                    bytes = bytes.saturating_sub(entry_size(k, n));
                    false
                } else {
                    true
                }
            });
        }
        s.bytes = bytes;
        s.epoch += 1;
    }

    /// A version of `key` at `ts` was written (applied).
    pub fn on_put(&self, key: &[u8], ts: Timestamp, value: Option<&[u8]>) {
        let mut s = self.shard(key).lock();
        match s.map.get_mut(key) {
            Some(n) if n.ts <= ts => {
                *n = Newest {
                    ts,
                    value: value.map(<[u8]>::to_vec),
                };
            }
            Some(_) => {}
            None => s.epoch += 1,
        }
    }

    /// Drops every entry (a raft snapshot replaced a span wholesale).
    pub fn clear(&self) {
        for shard in &self.shards {
            let mut s = shard.lock();
            s.map.clear();
            s.bytes = 0;
            s.epoch += 1;
        }
    }

    /// A version of `key` was removed (revert, GC).
    pub fn on_delete(&self, key: &[u8]) {
        let mut s = self.shard(key).lock();
        if let Some(n) = s.map.remove(key) {
            s.bytes = s.bytes.saturating_sub(entry_size(key, &n));
        }
        s.epoch += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(w: u64) -> Timestamp {
        Timestamp::from_wall(w)
    }

    #[test]
    fn row_cache_fill_refused_after_concurrent_write() {
        let c = RowCache::new(1 << 20);
        let epoch = c.get(b"k").expect_err("empty");
        c.on_put(b"k", ts(5), Some(b"new"));
        c.fill(
            b"k",
            Newest {
                ts: ts(1),
                value: Some(b"old".to_vec()),
            },
            epoch,
        );
        assert!(c.get(b"k").is_err(), "a stale fill must be refused");
        let epoch = c.get(b"k").expect_err("still empty");
        c.fill(
            b"k",
            Newest {
                ts: ts(5),
                value: Some(b"new".to_vec()),
            },
            epoch,
        );
        assert_eq!(c.get(b"k").expect("cached").ts, ts(5));
        c.on_put(b"k", ts(3), Some(b"older ingest"));
        assert_eq!(c.get(b"k").expect("cached").value, Some(b"new".to_vec()));
        c.on_put(b"k", ts(7), None);
        assert_eq!(
            c.get(b"k").expect("cached"),
            Newest {
                ts: ts(7),
                value: None
            }
        );
        c.on_delete(b"k");
        assert!(c.get(b"k").is_err());
    }

    #[test]
    fn row_cache_stays_within_budget() {
        let c = RowCache::new(64 * 4096);
        for i in 0..10_000u32 {
            let k = i.to_be_bytes();
            let e = c.get(&k).expect_err("new");
            c.fill(
                &k,
                Newest {
                    ts: ts(1),
                    value: Some(vec![0; 100]),
                },
                e,
            );
        }
        let total: usize = c.shards.iter().map(|s| s.lock().bytes).sum();
        assert!(total <= 64 * 4096, "{total}");
        let exact: usize = c
            .shards
            .iter()
            .map(|s| {
                let s = s.lock();
                s.map.iter().map(|(k, n)| entry_size(k, n)).sum::<usize>()
            })
            .sum();
        assert_eq!(exact, total, "the byte count follows the entries");
        // A full cache keeps most of its entries when it evicts.
        assert!(total > 64 * 4096 / 2, "{total}");
    }
}
