//! A latency histogram in the style of HdrHistogram: log-linear buckets with 128 linear
//! sub-buckets per power of two, so every recorded value is known to within 1/128 (< 0.8%),
//! from 1 ns up to `u64::MAX` ns, in a fixed 58 KiB. Quantiles report the highest value
//! equivalent to the bucket they fall in (as HdrHistogram's `ValueAtQuantile`), capped at the
//! exact maximum.

use std::time::Duration;

/// Linear sub-buckets per power of two (half of the first, exact, range).
const HALF: u64 = 128;
/// Values below this are counted exactly.
const EXACT: u64 = 2 * HALF;
/// Number of buckets: exact values, then `HALF` per power of two up to 2^63.
const BUCKETS: usize = (56 * HALF + EXACT) as usize;

/// Counts of recorded durations (nanoseconds).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

fn bucket_of(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let msb = 63 - u64::from(v.leading_zeros());
    let shift = msb - 7;
    (shift * HALF + (v >> shift)) as usize
}

/// The largest value that falls in bucket `idx`.
fn highest_in_bucket(idx: usize) -> u64 {
    let idx = idx as u64;
    if idx < EXACT {
        return idx;
    }
    let shift = idx / HALF - 1;
    let sub = idx - shift * HALF;
    let upper = (u128::from(sub) + 1) << shift;
    (upper - 1).min(u128::from(u64::MAX)) as u64
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records one value in nanoseconds.
    pub fn record_nanos(&mut self, v: u64) {
        self.counts[bucket_of(v)] += 1;
        self.total += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Records one duration.
    pub fn record(&mut self, d: Duration) {
        self.record_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest recorded value (0 when empty).
    pub fn max_nanos(&self) -> u64 {
        self.max
    }

    /// Smallest recorded value (0 when empty).
    pub fn min_nanos(&self) -> u64 {
        if self.total == 0 { 0 } else { self.min }
    }

    /// Mean of the recorded values (0 when empty).
    pub fn mean_nanos(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value at percentile `q` (0..=100): the highest value equivalent to the bucket holding
    /// the `round(q/100 * count)`-th smallest value, at most the maximum; 100 gives the maximum
    /// and an empty histogram gives 0.
    pub fn value_at_quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        if q >= 100.0 {
            return self.max;
        }
        let target = ((q.max(0.0) / 100.0 * self.total as f64 + 0.5) as u64).max(1);
        let mut seen = 0u64;
        for (idx, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return highest_in_bucket(idx).min(self.max);
            }
        }
        self.max
    }

    /// [`Histogram::value_at_quantile`] in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.value_at_quantile(q) as f64 / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut prev = None;
        for v in (0u64..5000).chain([1 << 20, (1 << 40) + 12345, u64::MAX]) {
            let b = bucket_of(v);
            assert!(highest_in_bucket(b) >= v, "{v}");
            if let Some(p) = prev {
                assert!(b >= p);
            }
            prev = Some(b);
            let hi = highest_in_bucket(b);
            assert!((hi - v) as f64 <= v as f64 / 127.0 + 1.0, "{v} {hi}");
        }
        assert!(bucket_of(u64::MAX) < BUCKETS);
    }
}
