//! The timestamp cache: the highest timestamp at which each key was read.
//!
//! A write to a key must land above every read of that key by another transaction, or it would
//! change what that read saw; the range bumps write timestamps past [`TimestampCache::max_for`].
//! Memory is bounded: past `capacity` entries the cache folds everything into its low-water mark
//! (a conservative answer for every key) and starts over. A replica starts with the low-water
//! mark at the clock's current time, since reads served before a restart are not remembered.

use crate::clock::Timestamp;
use crate::ids::TxnId;
use crate::storage::keys::Span;
use std::collections::BTreeMap;

/// Read timestamps by key and span.
#[derive(Debug)]
pub struct TimestampCache {
    low_water: Timestamp,
    points: BTreeMap<Vec<u8>, (Timestamp, Option<TxnId>)>,
    spans: Vec<(Span, Timestamp, Option<TxnId>)>,
    capacity: usize,
}

fn merge(cur: &mut (Timestamp, Option<TxnId>), ts: Timestamp, txn: Option<TxnId>) {
    if ts > cur.0 {
        *cur = (ts, txn);
    } else if ts == cur.0 && cur.1 != txn {
        cur.1 = None;
    }
}

impl TimestampCache {
    /// An empty cache whose answer for every key is at least `low_water`.
    pub fn new(low_water: Timestamp, capacity: usize) -> TimestampCache {
        TimestampCache {
            low_water,
            points: BTreeMap::new(),
            spans: Vec::new(),
            capacity: capacity.max(16),
        }
    }

    /// Records a read of `key` at `ts` by `txn`.
    pub fn add_point(&mut self, key: &[u8], ts: Timestamp, txn: Option<TxnId>) {
        if ts <= self.low_water {
            return;
        }
        match self.points.get_mut(key) {
            Some(cur) => merge(cur, ts, txn),
            None => {
                self.points.insert(key.to_vec(), (ts, txn));
            }
        }
        self.maybe_rotate();
    }

    /// Records a read of every key in `span` at `ts` by `txn`.
    pub fn add_span(&mut self, span: &Span, ts: Timestamp, txn: Option<TxnId>) {
        if ts <= self.low_water {
            return;
        }
        if let Some(e) = self.spans.iter_mut().find(|(s, _, _)| s == span) {
            let mut cur = (e.1, e.2);
            merge(&mut cur, ts, txn);
            e.1 = cur.0;
            e.2 = cur.1;
        } else {
            self.spans.push((span.clone(), ts, txn));
        }
        self.maybe_rotate();
    }

    fn maybe_rotate(&mut self) {
        // Spans are checked linearly, so they get a smaller budget than points.
        if self.points.len() + self.spans.len() * 16 <= self.capacity {
            return;
        }
        let max_point = self
            .points
            .values()
            .map(|v| v.0)
            .max()
            .unwrap_or(Timestamp::MIN);
        let max_span = self
            .spans
            .iter()
            .map(|v| v.1)
            .max()
            .unwrap_or(Timestamp::MIN);
        self.low_water = self.low_water.max(max_point).max(max_span);
        self.points.clear();
        self.spans.clear();
    }

    /// The timestamp a write of `key` by `txn` must exceed: the highest read of it by anyone else.
    pub fn max_for(&self, key: &[u8], txn: Option<TxnId>) -> Timestamp {
        let mut m = self.low_water;
        let other = |t: Option<TxnId>| t.is_none() || t != txn;
        if let Some((ts, t)) = self.points.get(key)
            && other(*t)
            && *ts > m
        {
            m = *ts;
        }
        for (s, ts, t) in &self.spans {
            if *ts > m && other(*t) && s.contains_key(key) {
                m = *ts;
            }
        }
        m
    }

    /// [`TimestampCache::max_for`] over many keys at once: the highest read of any of them by
    /// anyone else. Costs O(keys · log points + spans · log keys) instead of O(keys · spans),
    /// which matters for bulk writes (a COPY of 100k rows against thousands of cached spans).
    pub fn max_for_keys(&self, keys: &[Vec<u8>], txn: Option<TxnId>) -> Timestamp {
        let mut sorted: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        if !sorted.is_sorted() {
            sorted.sort_unstable();
        }
        let other = |t: Option<TxnId>| t.is_none() || t != txn;
        let mut m = self.low_water;
        for k in &sorted {
            if let Some((ts, t)) = self.points.get(*k)
                && other(*t)
                && *ts > m
            {
                m = *ts;
            }
        }
        for (s, ts, t) in &self.spans {
            if *ts > m && other(*t) {
                // The first key at or after the span's start: inside it if below its end.
                let i = sorted.partition_point(|k| *k < s.start.as_bytes());
                if i < sorted.len() && sorted[i] < s.end.as_bytes() {
                    m = *ts;
                }
            }
        }
        m
    }

    /// The highest read timestamp anywhere in `span` (used by splits and bulk writes).
    pub fn max_for_span(&self, span: &Span) -> Timestamp {
        let mut m = self.low_water;
        for (_, (ts, _)) in self.points.range(span.start.0.clone()..span.end.0.clone()) {
            m = m.max(*ts);
        }
        for (s, ts, _) in &self.spans {
            if s.overlaps(span) {
                m = m.max(*ts);
            }
        }
        m
    }

    /// Raises the low-water mark (e.g. on a new range to inherit its parent's reads).
    pub fn raise_low_water(&mut self, ts: Timestamp) {
        self.low_water = self.low_water.max(ts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_for_keys_agrees_with_max_for() {
        let mut c = TimestampCache::new(ts(1), 1 << 20);
        let me = Some(TxnId::random());
        let them = Some(TxnId::random());
        c.add_point(b"b", ts(5), them);
        c.add_point(b"d", ts(9), me);
        c.add_span(&Span::new(b"m".to_vec(), b"p".to_vec()), ts(7), them);
        c.add_span(&Span::new(b"x".to_vec(), b"z".to_vec()), ts(11), them);
        let keys = |ks: &[&[u8]]| ks.iter().map(|k| k.to_vec()).collect::<Vec<_>>();
        for ks in [
            keys(&[b"a"]),
            keys(&[b"d", b"a"]),
            keys(&[b"b", b"d"]),
            keys(&[b"n", b"a", b"c"]),
            keys(&[b"p", b"q", b"w"]),
            keys(&[b"y", b"b"]),
        ] {
            let expect = ks.iter().map(|k| c.max_for(k, me)).max().unwrap();
            assert_eq!(c.max_for_keys(&ks, me), expect, "{ks:?}");
        }
    }

    fn ts(w: u64) -> Timestamp {
        Timestamp::from_wall(w)
    }

    #[test]
    fn tscache_reports_reads_of_others_only() {
        let mut c = TimestampCache::new(ts(1), 1000);
        let a = Some(TxnId(1));
        let b = Some(TxnId(2));
        c.add_point(b"k", ts(10), a);
        assert_eq!(c.max_for(b"k", b), ts(10));
        assert_eq!(c.max_for(b"k", a), ts(1));
        c.add_span(&Span::new(b"a".to_vec(), b"z".to_vec()), ts(20), None);
        assert_eq!(c.max_for(b"m", a), ts(20));
        assert_eq!(c.max_for(b"zz", a), ts(1));
        assert_eq!(
            c.max_for_span(&Span::new(b"j".to_vec(), b"l".to_vec())),
            ts(20)
        );
    }

    #[test]
    fn tscache_rotation_is_conservative() {
        let mut c = TimestampCache::new(ts(1), 16);
        for i in 0..100u64 {
            c.add_point(&i.to_be_bytes(), ts(100 + i), None);
        }
        // After rotation every key answers at least the highest evicted read.
        assert!(c.max_for(&5u64.to_be_bytes(), None) >= ts(105));
        assert!(c.max_for(b"never-read", None) >= ts(180));
    }
}
