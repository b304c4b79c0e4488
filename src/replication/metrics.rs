//! Physical replication metrics of the standby, exported at `/_status/vars` with CockroachDB's
//! names (`.` → `_`): replicated time, logical bytes, events, checkpoints, flushes, running
//! streams, failover progress, plus `physical_replication_replication_lag_seconds`
//! (now − replicated time of the most lagging stream, computed at each scrape) and
//! `physical_replication_flush_hist_nanos`-like flush latencies in seconds.
//!
//! Every job on the node updates the same series (as CockroachDB's are aggregated per node);
//! the replicated-time gauge shows the minimum over running streams, and 0 when none runs.

use crate::ids::JobId;
use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntGauge, Opts, Registry};
use std::collections::HashMap;
use std::sync::Arc;

/// The standby's replication metrics.
#[derive(Clone)]
pub struct ReplicationMetrics {
    /// `physical_replication_logical_bytes`: key and value bytes ingested.
    pub logical_bytes: IntCounter,
    /// `physical_replication_events_ingested`: versions ingested.
    pub events_ingested: IntCounter,
    /// `physical_replication_resolved_events_ingested`: checkpoints ingested.
    pub resolved_events_ingested: IntCounter,
    /// `physical_replication_flushes`: flushes to KV.
    pub flushes: IntCounter,
    /// `physical_replication_running`: streams ingesting now.
    pub running: IntGauge,
    /// `physical_replication_failover_progress`: ranges left to revert during a failover.
    pub failover_progress: IntGauge,
    /// `physical_replication_flush_seconds`: time spent in one flush.
    pub flush_seconds: Histogram,
    /// Replicated time (Unix nanoseconds) of each running stream.
    replicated: Arc<Mutex<HashMap<JobId, u64>>>,
}

/// Computes the two time gauges at scrape time from the running streams.
struct TimeGauges {
    replicated_time: Gauge,
    lag: Gauge,
    replicated: Arc<Mutex<HashMap<JobId, u64>>>,
}

impl Collector for TimeGauges {
    fn desc(&self) -> Vec<&Desc> {
        let mut d = self.replicated_time.desc();
        d.extend(self.lag.desc());
        d
    }
    fn collect(&self) -> Vec<MetricFamily> {
        let min = self.replicated.lock().values().copied().min();
        match min {
            Some(nanos) => {
                let t = nanos as f64 / 1e9;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                self.replicated_time.set(t.floor());
                self.lag.set((now - t).max(0.0));
            }
            None => {
                self.replicated_time.set(0.0);
                self.lag.set(0.0);
            }
        }
        let mut out = self.replicated_time.collect();
        out.extend(self.lag.collect());
        out
    }
}

impl ReplicationMetrics {
    /// Registers the metrics on `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<ReplicationMetrics> {
        let counter = |name: &str, help: &str| -> prometheus::Result<IntCounter> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let gauge = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let replicated: Arc<Mutex<HashMap<JobId, u64>>> = Default::default();
        registry.register(Box::new(TimeGauges {
            replicated_time: Gauge::with_opts(Opts::new(
                "physical_replication_replicated_time_seconds",
                "The replicated time of the physical replication stream in seconds since the unix epoch (minimum over running streams; 0 when none runs). Track replication lag via current time - physical_replication_replicated_time_seconds.",
            ))?,
            lag: Gauge::with_opts(Opts::new(
                "physical_replication_replication_lag_seconds",
                "Seconds between now and the replicated time of the most lagging running stream (0 when none runs).",
            ))?,
            replicated: replicated.clone(),
        }))?;
        let flush_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "physical_replication_flush_seconds",
                "Time spent flushing one batch of replicated versions to KV (seconds).",
            )
            .buckets((0..17).map(|i| 0.0005 * f64::from(1u32 << i)).collect()),
        )?;
        registry.register(Box::new(flush_seconds.clone()))?;
        Ok(ReplicationMetrics {
            logical_bytes: counter(
                "physical_replication_logical_bytes",
                "Logical bytes (sum of keys + values) ingested by all replication jobs",
            )?,
            events_ingested: counter(
                "physical_replication_events_ingested",
                "Events (MVCC versions) ingested by all replication jobs",
            )?,
            resolved_events_ingested: counter(
                "physical_replication_resolved_events_ingested",
                "Resolved events (checkpoints) ingested by all replication jobs",
            )?,
            flushes: counter(
                "physical_replication_flushes",
                "Total flushes across all replication jobs",
            )?,
            running: gauge(
                "physical_replication_running",
                "Number of currently running replication streams",
            )?,
            failover_progress: gauge(
                "physical_replication_failover_progress",
                "The number of ranges left to revert in order to complete an inflight failover",
            )?,
            flush_seconds,
            replicated,
        })
    }

    /// Metrics on a private registry (tests, or a node without an HTTP server).
    pub fn unregistered() -> ReplicationMetrics {
        // A fresh registry never holds these names already.
        ReplicationMetrics::new(&Registry::new()).unwrap_or_else(|_| unreachable!())
    }

    /// Records a stream's replicated time (Unix nanoseconds); `None` removes the stream.
    pub fn set_replicated(&self, job: JobId, nanos: Option<u64>) {
        let mut m = self.replicated.lock();
        match nanos {
            Some(n) => {
                m.insert(job, n);
            }
            None => {
                m.remove(&job);
            }
        }
    }
}
