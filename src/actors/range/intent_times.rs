//! The timestamps of a replica's unresolved intents, indexed by key and by timestamp.
//!
//! The resolved timestamp (published to rangefeeds every closed-timestamp tick) must stay below
//! the oldest unresolved intent, and the stale-intent sweeper looks for intents older than a
//! cutoff. A transaction that wrote millions of rows leaves millions of intents until their
//! resolution is applied, so the oldest one is kept in a count per timestamp (O(log n) per
//! change, O(1) to read) instead of being found by scanning every key on every tick. The key
//! index gives its memory back once it is mostly empty again: a hash table keeps the capacity
//! of its largest size, and a replica that once held a million intents would keep ~100 MB for
//! as long as it lives.
//!
//! Invariant: `by_ts[t]` is the number of keys in `by_key` whose intent timestamp is `t`, and no
//! count is zero.

use crate::clock::Timestamp;
use std::collections::{BTreeMap, HashMap};

/// A key index at most this large is never shrunk.
const SHRINK_ABOVE: usize = 1024;

/// Unresolved intents: key → timestamp, plus how many keys hold each timestamp.
#[derive(Debug, Default)]
pub struct IntentTimes {
    by_key: HashMap<Vec<u8>, Timestamp>,
    by_ts: BTreeMap<Timestamp, usize>,
}

impl IntentTimes {
    /// Records (or moves) the intent on `key` at `ts`.
    pub fn insert(&mut self, key: Vec<u8>, ts: Timestamp) {
        if let Some(old) = self.by_key.insert(key, ts) {
            self.forget_ts(old);
        }
        *self.by_ts.entry(ts).or_insert(0) += 1;
    }

    /// Forgets the intent on `key`, if any.
    pub fn remove(&mut self, key: &[u8]) {
        if let Some(old) = self.by_key.remove(key) {
            self.forget_ts(old);
            self.shrink();
        }
    }

    /// Halves the key index's capacity (or less) once it is under a quarter full: amortized
    /// O(1) per removal, and memory proportional to the intents held, not to the most ever held.
    fn shrink(&mut self) {
        let cap = self.by_key.capacity();
        if cap > SHRINK_ABOVE && self.by_key.len() < cap / 4 {
            self.by_key.shrink_to(self.by_key.len() * 2);
        }
    }

    /// The key index's capacity (for tests).
    pub fn capacity(&self) -> usize {
        self.by_key.capacity()
    }

    fn forget_ts(&mut self, ts: Timestamp) {
        if let Some(n) = self.by_ts.get_mut(&ts) {
            *n -= 1;
            if *n == 0 {
                self.by_ts.remove(&ts);
            }
        }
    }

    /// Keeps only the intents whose key satisfies `keep`.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        let by_ts = &mut self.by_ts;
        self.by_key.retain(|k, ts| {
            let kept = keep(k);
            if !kept && let Some(n) = by_ts.get_mut(ts) {
                *n -= 1;
                if *n == 0 {
                    by_ts.remove(ts);
                }
            }
            kept
        });
        self.shrink();
    }

    /// The oldest intent's timestamp.
    pub fn min_ts(&self) -> Option<Timestamp> {
        self.by_ts.keys().next().copied()
    }

    /// Whether there is no unresolved intent.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Number of unresolved intents.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Up to `max` keys whose intents are older than `cutoff` (nothing to look at when the
    /// oldest is not).
    pub fn older_than(&self, cutoff: Timestamp, max: usize) -> Vec<Vec<u8>> {
        if self.min_ts().is_none_or(|t| t >= cutoff) {
            return Vec::new();
        }
        self.by_key
            .iter()
            .filter(|(_, ts)| **ts < cutoff)
            .map(|(k, _)| k.clone())
            .take(max)
            .collect()
    }
}

impl FromIterator<(Vec<u8>, Timestamp)> for IntentTimes {
    fn from_iter<I: IntoIterator<Item = (Vec<u8>, Timestamp)>>(iter: I) -> Self {
        let mut t = IntentTimes::default();
        for (k, ts) in iter {
            t.insert(k, ts);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(n: u64) -> Timestamp {
        Timestamp::from_wall(n)
    }

    #[test]
    fn oldest_follows_inserts_moves_removals_and_retain() {
        let mut t = IntentTimes::default();
        assert_eq!(t.min_ts(), None);
        t.insert(b"a".to_vec(), ts(5));
        t.insert(b"b".to_vec(), ts(3));
        t.insert(b"c".to_vec(), ts(3));
        assert_eq!(t.min_ts(), Some(ts(3)));
        t.remove(b"b");
        assert_eq!(t.min_ts(), Some(ts(3)));
        // Moving c's intent up leaves a as the oldest.
        t.insert(b"c".to_vec(), ts(9));
        assert_eq!(t.min_ts(), Some(ts(5)));
        assert_eq!(t.older_than(ts(6), 10), vec![b"a".to_vec()]);
        assert!(t.older_than(ts(5), 10).is_empty());
        t.retain(|k| k != b"a");
        assert_eq!(t.min_ts(), Some(ts(9)));
        assert_eq!(t.len(), 1);
        t.remove(b"c");
        t.remove(b"zz");
        assert!(t.is_empty());
        assert_eq!(t.min_ts(), None);
    }

    #[test]
    fn memory_follows_the_intents_held_not_the_most_ever_held() {
        let mut t = IntentTimes::default();
        let key = |i: u32| i.to_be_bytes().to_vec();
        for i in 0..100_000 {
            t.insert(key(i), ts(1 + u64::from(i % 7)));
        }
        assert!(t.capacity() >= 100_000);
        for i in 0..99_990 {
            t.remove(&key(i));
        }
        assert_eq!(t.len(), 10);
        assert!(t.capacity() <= SHRINK_ABOVE, "capacity {}", t.capacity());
        assert_eq!(t.min_ts(), Some(ts(1)));
        for i in 0..50_000 {
            t.insert(key(i), ts(2));
        }
        t.retain(|k| k >= key(49_990).as_slice());
        assert_eq!(t.len(), 20);
        assert!(t.capacity() <= SHRINK_ABOVE, "capacity {}", t.capacity());
    }
}
