//! A span frontier: the resolved timestamp of every part of a root span.
//!
//! The consumer forwards resolved spans from checkpoints into it (only after the versions
//! received before the checkpoint are durable); the frontier — the minimum over all parts — is
//! the replicated time. Invariants: the entries are disjoint, cover the root span exactly, and
//! a part's timestamp never goes down. Spans outside the root are clipped; adjacent parts with
//! the same timestamp are merged, so the map stays as small as the distinct timestamps.

use crate::clock::Timestamp;
use crate::storage::keys::{Key, Span};
use std::collections::BTreeMap;

/// Resolved timestamps over a root span.
#[derive(Clone, Debug)]
pub struct SpanFrontier {
    root: Span,
    /// start → (end, ts); disjoint, covering `root`.
    parts: BTreeMap<Key, (Key, Timestamp)>,
}

impl SpanFrontier {
    /// A frontier over `root`, every part at `start`.
    pub fn new(root: Span, start: Timestamp) -> SpanFrontier {
        let mut parts = BTreeMap::new();
        parts.insert(root.start.clone(), (root.end.clone(), start));
        SpanFrontier { root, parts }
    }

    /// The minimum timestamp over the root span.
    pub fn frontier(&self) -> Timestamp {
        self.parts
            .values()
            .map(|(_, ts)| *ts)
            .min()
            .unwrap_or_default()
    }

    /// Splits the part containing `at` so that a part starts at `at`.
    fn split_at(&mut self, at: &Key) {
        let Some((start, (end, ts))) = self
            .parts
            .range(..=at.clone())
            .next_back()
            .map(|(s, (e, t))| (s.clone(), (e.clone(), *t)))
        else {
            return;
        };
        if start == *at || end <= *at {
            return;
        }
        self.parts.insert(start, (at.clone(), ts));
        self.parts.insert(at.clone(), (end, ts));
    }

    /// Raises every part of `span` (clipped to the root) to at least `ts`; returns whether the
    /// frontier advanced.
    pub fn forward(&mut self, span: &Span, ts: Timestamp) -> bool {
        let Some(span) = self.root.intersect(span) else {
            return false;
        };
        if span.is_empty() {
            return false;
        }
        let before = self.frontier();
        self.split_at(&span.start);
        self.split_at(&span.end);
        let keys: Vec<Key> = self
            .parts
            .range(span.start.clone()..span.end.clone())
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            if let Some((_, t)) = self.parts.get_mut(&k)
                && *t < ts
            {
                *t = ts;
            }
        }
        self.merge();
        self.frontier() > before
    }

    fn merge(&mut self) {
        let mut merged: BTreeMap<Key, (Key, Timestamp)> = BTreeMap::new();
        let mut last: Option<Key> = None;
        for (s, (e, t)) in std::mem::take(&mut self.parts) {
            if let Some(l) = &last
                && let Some((le, lt)) = merged.get_mut(l)
                && *le == s
                && *lt == t
            {
                *le = e;
                continue;
            }
            last = Some(s.clone());
            merged.insert(s, (e, t));
        }
        self.parts = merged;
    }

    /// The parts, in key order.
    pub fn entries(&self) -> Vec<(Span, Timestamp)> {
        self.parts
            .iter()
            .map(|(s, (e, t))| {
                (
                    Span {
                        start: s.clone(),
                        end: e.clone(),
                    },
                    *t,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(w: u64) -> Timestamp {
        Timestamp {
            wall: w,
            logical: 0,
        }
    }
    fn sp(a: u8, b: u8) -> Span {
        Span::new(vec![a], vec![b])
    }

    #[test]
    fn minimum_over_parts() {
        let mut f = SpanFrontier::new(sp(10, 50), ts(1));
        assert!(!f.forward(&sp(10, 30), ts(5)));
        assert_eq!(f.frontier(), ts(1));
        assert!(f.forward(&sp(30, 50), ts(3)));
        assert_eq!(f.frontier(), ts(3));
        // Never goes down.
        assert!(!f.forward(&sp(10, 50), ts(2)));
        assert_eq!(f.frontier(), ts(3));
        assert!(f.forward(&sp(0, 255), ts(9)));
        assert_eq!(f.frontier(), ts(9));
        assert_eq!(f.entries(), vec![(sp(10, 50), ts(9))]);
    }

    #[test]
    fn clipped_and_covering() {
        let mut f = SpanFrontier::new(sp(10, 50), ts(1));
        assert!(!f.forward(&sp(60, 70), ts(9)));
        f.forward(&sp(20, 25), ts(4));
        f.forward(&sp(5, 15), ts(6));
        let e = f.entries();
        assert_eq!(e.first().unwrap().0.start, sp(10, 50).start);
        assert_eq!(e.last().unwrap().0.end, sp(10, 50).end);
        for w in e.windows(2) {
            assert_eq!(w[0].0.end, w[1].0.start);
        }
        assert_eq!(f.frontier(), ts(1));
    }
}
