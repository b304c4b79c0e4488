//! Per-operation latency histograms and their text output, in the layout of
//! `cockroach workload run` (pkg/workload/cli/format.go): a line per operation every
//! `--display-every`, the column header every 20 lines, and at the end one `__total` block per
//! operation and a `__result` block over all of them.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::histogram::Histogram;

/// Header of the per-interval lines.
pub const TICK_HEADER: &str =
    "_elapsed___errors__ops/sec(inst)___ops/sec(cum)__p50(ms)__p95(ms)__p99(ms)_pMax(ms)";
/// Header of the final blocks (followed by `__total` or `__result`).
pub const TOTAL_HEADER: &str =
    "_elapsed___errors_____ops(total)___ops/sec(cum)__avg(ms)__p50(ms)__p95(ms)__p99(ms)_pMax(ms)";

#[derive(Default)]
struct OpHists {
    /// Since the last tick.
    tick: Histogram,
    /// Since the start.
    cumulative: Histogram,
}

/// Latency histograms of a fixed set of named operations, shared by the workers, plus the
/// error counter shown in the `errors` column (serialization failures that were retried).
pub struct Registry {
    names: Vec<&'static str>,
    /// Indexes into `names`, sorted by name (the order lines are printed in).
    order: Vec<usize>,
    hists: Vec<Mutex<OpHists>>,
    errors: AtomicU64,
}

/// The statistics of one operation over a period.
#[derive(Clone, Debug, PartialEq)]
pub struct OpSummary {
    /// Operation name (empty for the `__result` line over all operations).
    pub name: String,
    /// Operations completed.
    pub count: u64,
    /// `count` per second of the period.
    pub ops_per_sec: f64,
    /// Mean latency in milliseconds.
    pub mean_ms: f64,
    /// Median latency in milliseconds.
    pub p50_ms: f64,
    /// 95th percentile latency in milliseconds.
    pub p95_ms: f64,
    /// 99th percentile latency in milliseconds.
    pub p99_ms: f64,
    /// Maximum latency in milliseconds.
    pub max_ms: f64,
}

impl OpSummary {
    /// The statistics of `h` over `elapsed`.
    pub fn from_histogram(name: &str, h: &Histogram, elapsed: Duration) -> OpSummary {
        let secs = elapsed.as_secs_f64().max(1e-9);
        OpSummary {
            name: name.to_string(),
            count: h.count(),
            ops_per_sec: h.count() as f64 / secs,
            mean_ms: h.mean_nanos() / 1e6,
            p50_ms: h.quantile_ms(50.0),
            p95_ms: h.quantile_ms(95.0),
            p99_ms: h.quantile_ms(99.0),
            max_ms: h.quantile_ms(100.0),
        }
    }
}

/// The final report of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Totals {
    /// One entry per operation, in name order (operations that never ran have a count of 0).
    pub ops: Vec<OpSummary>,
    /// All operations together.
    pub result: OpSummary,
    /// The text printed: a `__total` block per operation, then the `__result` block.
    pub text: String,
}

impl Registry {
    /// A registry for the operations `names` (index `i` in [`Registry::record`] is `names[i]`).
    pub fn new(names: &[&'static str]) -> Registry {
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by_key(|&i| names[i]);
        Registry {
            names: names.to_vec(),
            order,
            hists: names.iter().map(|_| Mutex::default()).collect(),
            errors: AtomicU64::new(0),
        }
    }

    /// Records a successful operation `op` that took `latency`.
    pub fn record(&self, op: usize, latency: Duration) {
        let mut h = self.hists[op].lock();
        h.tick.record(latency);
        h.cumulative.record(latency);
    }

    /// The counter of retried errors.
    pub fn errors(&self) -> &AtomicU64 {
        &self.errors
    }

    /// Operations completed so far, all kinds together.
    pub fn total_count(&self) -> u64 {
        self.hists.iter().map(|h| h.lock().cumulative.count()).sum()
    }

    /// Takes the per-tick histograms of every operation that has run at least once (in name
    /// order) and resets them: `(name, tick, cumulative count)`.
    fn take_ticks(&self) -> Vec<(&'static str, Histogram, u64)> {
        let mut out = Vec::new();
        for &i in &self.order {
            let mut h = self.hists[i].lock();
            if h.cumulative.count() == 0 {
                continue;
            }
            let tick = std::mem::take(&mut h.tick);
            out.push((self.names[i], tick, h.cumulative.count()));
        }
        out
    }

    /// The final report over `elapsed`.
    pub fn totals(&self, elapsed: Duration) -> Totals {
        let errors = self.errors.load(Ordering::Relaxed);
        let mut text = String::new();
        let mut ops = Vec::new();
        let mut all = Histogram::new();
        for &i in &self.order {
            let h = self.hists[i].lock();
            let summary = OpSummary::from_histogram(self.names[i], &h.cumulative, elapsed);
            text.push_str(&format_final(elapsed, errors, &summary, "__total"));
            all.merge(&h.cumulative);
            ops.push(summary);
        }
        let result = OpSummary::from_histogram("", &all, elapsed);
        text.push_str(&format_final(elapsed, errors, &result, "__result"));
        Totals { ops, result, text }
    }
}

/// One block of the final report: a blank line, [`TOTAL_HEADER`] with `suffix`, and the line.
pub fn format_final(elapsed: Duration, errors: u64, s: &OpSummary, suffix: &str) -> String {
    format!(
        "\n{TOTAL_HEADER}{suffix}\n{:7.1}s {:8} {:14} {:14.1} {:8.1} {:8.1} {:8.1} {:8.1} {:8.1}  {}\n",
        elapsed.as_secs_f64(),
        errors,
        s.count,
        s.ops_per_sec,
        s.mean_ms,
        s.p50_ms,
        s.p95_ms,
        s.p99_ms,
        s.max_ms,
        s.name
    )
}

/// Writes the per-interval lines, with the header every 20 lines.
#[derive(Default)]
pub struct TickPrinter {
    lines: u64,
}

impl TickPrinter {
    /// Resets the tick histograms of `registry` and writes one line per operation that has run:
    /// `start_elapsed` since the start, `tick_elapsed` since the previous tick.
    pub fn tick(
        &mut self,
        out: &mut dyn Write,
        registry: &Registry,
        start_elapsed: Duration,
        tick_elapsed: Duration,
    ) -> std::io::Result<()> {
        let errors = registry.errors.load(Ordering::Relaxed);
        let start_secs = start_elapsed.as_secs_f64().max(1e-9);
        let tick_secs = tick_elapsed.as_secs_f64().max(1e-9);
        for (name, tick, cumulative) in registry.take_ticks() {
            if self.lines.is_multiple_of(20) {
                writeln!(out, "{TICK_HEADER}")?;
            }
            self.lines += 1;
            writeln!(
                out,
                "{:7.1}s {:8} {:14.1} {:14.1} {:8.1} {:8.1} {:8.1} {:8.1} {}",
                start_elapsed.as_secs_f64(),
                errors,
                tick.count() as f64 / tick_secs,
                cumulative as f64 / start_secs,
                tick.quantile_ms(50.0),
                tick.quantile_ms(95.0),
                tick.quantile_ms(99.0),
                tick.quantile_ms(100.0),
                name
            )?;
        }
        out.flush()
    }
}
