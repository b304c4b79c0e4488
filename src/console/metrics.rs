//! The node's Prometheus metrics ([`NodeMetrics`]) and their text exposition ([`gather_text`]),
//! served at `/_status/vars` and `/metrics`.
//!
//! Names follow CockroachDB's with `.` replaced by `_` (DESIGN.md §10): `sql_conns`,
//! `sql_query_count`, `txn_commits`, `ranges`, `sys_uptime`, ... Latencies are histograms in
//! seconds. Every metric here is one the node maintains: SQL metrics are updated by the pgwire
//! sessions as they happen; the KV, raft and storage counters already exist in the engine as
//! atomics (`KvMetrics`, `RangeMetrics`, `SyncStats`) and are copied in with
//! [`NodeMetrics::update_engine`], which the node calls periodically (e.g. every 10 s; a scrape
//! shows the last copy); `sys_uptime` is computed at each scrape.
//!
//! Registering fails if a name is already registered on the registry (two `NodeMetrics` on one
//! registry); each node owns one registry.

use std::time::Instant;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntGauge, Opts, Registry, TextEncoder,
};

use super::error::ConsoleError;

/// Bucket upper bounds (seconds) of the latency histograms: 100 µs to about 26 s, doubling.
fn latency_buckets() -> Vec<f64> {
    (0..19).map(|i| 0.0001 * f64::from(1u32 << i)).collect()
}

/// The node's metric families. Each field is registered on the registry given to
/// [`NodeMetrics::new`]; clones of the metric handles update the same series.
#[derive(Clone, Debug)]
pub struct NodeMetrics {
    /// `sql_conns`: open SQL (pgwire) connections. `inc()` on accept, `dec()` on close.
    pub sql_conns: IntGauge,
    /// `sql_mem_root_current`: bytes of the node's `--max-sql-memory` pool in use (statements,
    /// prepared statements, portals, COPY data being received).
    pub sql_mem_root_current: IntGauge,
    /// `sql_query_count`: SQL statements executed (successfully or not).
    pub sql_query_count: IntCounter,
    /// `sql_failure_count`: SQL statements that returned an error.
    pub sql_failure_count: IntCounter,
    /// `sql_service_latency`: time from receiving a statement to sending its last result
    /// (seconds).
    pub sql_service_latency: Histogram,
    /// `txn_commits`: KV transactions committed (from `KvMetrics::txn_commits`).
    pub txn_commits: IntCounter,
    /// `txn_commits1PC`: one-phase commits among them (from `KvMetrics::txn_commits_1pc`).
    pub txn_commits_1pc: IntCounter,
    /// `txn_restarts`: retryable errors returned to clients (from `KvMetrics::txn_restarts`).
    pub txn_restarts: IntCounter,
    /// `range_splits`: range splits performed (from `KvMetrics::splits`).
    pub range_splits: IntCounter,
    /// `raft_entries_applied`: raft entries applied by this node's replicas (from
    /// `RangeMetrics::entries_applied`).
    pub raft_entries_applied: IntCounter,
    /// `raft_log_appends`: raft ready iterations that appended log entries (from
    /// `RangeMetrics::appends`).
    pub raft_log_appends: IntCounter,
    /// `raft_table_applies`: apply passes that wrote their MVCC versions as sorted table
    /// files, bypassing the journal (from `RangeMetrics::table_applies`).
    pub raft_table_applies: IntCounter,
    /// `storage_fsyncs`: fsyncs of the store (from `SyncStats::syncs`).
    pub storage_fsyncs: IntCounter,
    /// `storage_disk_used_bytes`: bytes the store occupies on disk.
    pub storage_disk_used_bytes: IntGauge,
    /// `ranges`: range replicas on this node.
    pub ranges: IntGauge,
    /// `replicas_leaseholders`: range leases held by this node.
    pub replicas_leaseholders: IntGauge,
    /// `sys_uptime`: seconds since the node started; set at every scrape.
    pub sys_uptime: Gauge,
}

/// Cumulative engine counters, read from the engine's atomics and copied into the counters of
/// [`NodeMetrics`] by [`NodeMetrics::update_engine`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineTotals {
    /// `KvMetrics::txn_commits`.
    pub txn_commits: u64,
    /// `KvMetrics::txn_commits_1pc`.
    pub txn_commits_1pc: u64,
    /// `KvMetrics::txn_restarts`.
    pub txn_restarts: u64,
    /// `KvMetrics::splits`.
    pub range_splits: u64,
    /// `RangeMetrics::entries_applied`.
    pub raft_entries_applied: u64,
    /// `RangeMetrics::appends`.
    pub raft_log_appends: u64,
    /// `RangeMetrics::table_applies`.
    pub raft_table_applies: u64,
    /// `SyncStats::syncs`.
    pub storage_fsyncs: u64,
}

impl NodeMetrics {
    /// Creates the node's metrics and registers them on `registry`. `started` is the node's
    /// start, from which `sys_uptime` is computed at each scrape.
    pub fn new(registry: &Registry, started: Instant) -> Result<NodeMetrics, ConsoleError> {
        let counter = |name: &str, help: &str| -> Result<IntCounter, ConsoleError> {
            let c = IntCounter::with_opts(Opts::new(name, help))?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let gauge = |name: &str, help: &str| -> Result<IntGauge, ConsoleError> {
            let g = IntGauge::with_opts(Opts::new(name, help))?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };

        let sql_service_latency = Histogram::with_opts(
            HistogramOpts::new(
                "sql_service_latency",
                "Latency of SQL statement execution, from receipt to the last result (seconds)",
            )
            .buckets(latency_buckets()),
        )?;
        registry.register(Box::new(sql_service_latency.clone()))?;

        let sys_uptime = Gauge::with_opts(Opts::new("sys_uptime", "Process uptime (seconds)"))?;
        registry.register(Box::new(UptimeCollector {
            started,
            gauge: sys_uptime.clone(),
        }))?;

        Ok(NodeMetrics {
            sql_conns: gauge("sql_conns", "Number of open SQL connections")?,
            sql_mem_root_current: gauge(
                "sql_mem_root_current",
                "Bytes of the SQL memory pool (--max-sql-memory) in use",
            )?,
            sql_query_count: counter("sql_query_count", "Number of SQL statements executed")?,
            sql_failure_count: counter(
                "sql_failure_count",
                "Number of SQL statements that returned an error",
            )?,
            sql_service_latency,
            txn_commits: counter("txn_commits", "Number of committed KV transactions")?,
            txn_commits_1pc: counter(
                "txn_commits1PC",
                "Number of KV transactions committed in one phase",
            )?,
            txn_restarts: counter(
                "txn_restarts",
                "Number of retryable transaction errors returned to clients",
            )?,
            range_splits: counter("range_splits", "Number of range splits")?,
            raft_entries_applied: counter(
                "raft_entries_applied",
                "Number of raft log entries applied by this node's replicas",
            )?,
            raft_log_appends: counter(
                "raft_log_appends",
                "Number of raft ready iterations that appended log entries",
            )?,
            raft_table_applies: counter(
                "raft_table_applies",
                "Number of raft apply passes that wrote MVCC versions as sorted table files",
            )?,
            storage_fsyncs: counter("storage_fsyncs", "Number of fsyncs of the store")?,
            storage_disk_used_bytes: gauge(
                "storage_disk_used_bytes",
                "Bytes used by the store on disk",
            )?,
            ranges: gauge("ranges", "Number of range replicas on this node")?,
            replicas_leaseholders: gauge(
                "replicas_leaseholders",
                "Number of range leases held by this node",
            )?,
            sys_uptime,
        })
    }

    /// Copies the engine's cumulative counters into the Prometheus counters (which only go
    /// up: a total below the exported value, which only a restarted engine would report, is
    /// ignored). Call it from one task only, so two copies never race.
    pub fn update_engine(&self, totals: &EngineTotals) {
        let pairs = [
            (&self.txn_commits, totals.txn_commits),
            (&self.txn_commits_1pc, totals.txn_commits_1pc),
            (&self.txn_restarts, totals.txn_restarts),
            (&self.range_splits, totals.range_splits),
            (&self.raft_entries_applied, totals.raft_entries_applied),
            (&self.raft_log_appends, totals.raft_log_appends),
            (&self.raft_table_applies, totals.raft_table_applies),
            (&self.storage_fsyncs, totals.storage_fsyncs),
        ];
        for (counter, total) in pairs {
            let delta = total.saturating_sub(counter.get());
            if delta > 0 {
                counter.inc_by(delta);
            }
        }
    }
}

/// Exposes `sys_uptime`, setting it from the start instant each time the registry is gathered.
struct UptimeCollector {
    started: Instant,
    gauge: Gauge,
}

impl Collector for UptimeCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.gauge.set(self.started.elapsed().as_secs_f64());
        self.gauge.collect()
    }
}

/// Everything registered on `registry`, in the Prometheus text exposition format (version
/// 0.0.4, the content type [`prometheus::TEXT_FORMAT`]).
pub fn gather_text(registry: &Registry) -> Result<String, prometheus::Error> {
    let families = registry.gather();
    let mut out = String::new();
    TextEncoder::new().encode_utf8(&families, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn registers_and_exposes_every_family() {
        let registry = Registry::new();
        let m =
            NodeMetrics::new(&registry, Instant::now() - Duration::from_secs(5)).expect("register");
        m.sql_conns.inc();
        m.sql_query_count.inc_by(3);
        m.sql_service_latency.observe(0.002);
        m.ranges.set(7);
        let text = gather_text(&registry).expect("encode");
        for name in [
            "sql_conns 1",
            "sql_query_count 3",
            "sql_mem_root_current 0",
            "sql_failure_count 0",
            "sql_service_latency_bucket{le=\"+Inf\"} 1",
            "sql_service_latency_count 1",
            "txn_commits 0",
            "txn_commits1PC 0",
            "txn_restarts 0",
            "range_splits 0",
            "raft_entries_applied 0",
            "raft_log_appends 0",
            "raft_table_applies 0",
            "storage_fsyncs 0",
            "storage_disk_used_bytes 0",
            "ranges 7",
            "replicas_leaseholders 0",
            "# TYPE sys_uptime gauge",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        assert!(m.sys_uptime.get() >= 5.0, "uptime {}", m.sys_uptime.get());
    }

    #[test]
    fn engine_totals_only_move_counters_up() {
        let registry = Registry::new();
        let m = NodeMetrics::new(&registry, Instant::now()).expect("register");
        let mut t = EngineTotals {
            txn_commits: 10,
            storage_fsyncs: 4,
            ..EngineTotals::default()
        };
        m.update_engine(&t);
        assert_eq!(m.txn_commits.get(), 10);
        assert_eq!(m.storage_fsyncs.get(), 4);
        t.txn_commits = 12;
        t.storage_fsyncs = 1;
        m.update_engine(&t);
        assert_eq!(m.txn_commits.get(), 12);
        assert_eq!(m.storage_fsyncs.get(), 4);
    }

    #[test]
    fn registering_twice_fails() {
        let registry = Registry::new();
        NodeMetrics::new(&registry, Instant::now()).expect("first");
        assert!(matches!(
            NodeMetrics::new(&registry, Instant::now()),
            Err(ConsoleError::Metrics(_))
        ));
    }
}
