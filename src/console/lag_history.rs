//! The replication lag history behind the console's lag chart: per standby virtual cluster, a
//! ring buffer of `(time, lag)` samples taken from [`ConsoleBackend::replication`] every
//! [`SAMPLE_INTERVAL`] by the task [`spawn_sampler`] starts with the console server.
//!
//! Invariants: a series holds only samples from the last [`WINDOW`] (measured on the node's
//! clock, the `now` of the newest view), at most [`MAX_SAMPLES`] of them, oldest first, with
//! strictly increasing times; at most [`MAX_SERIES`] series exist, and a series whose samples
//! have all aged out is dropped. So memory stays bounded however long the node runs and however
//! many virtual clusters come and go. A stream without a replicated time yet (initial scan)
//! adds no sample.
//!
//! Failure behaviour: the history lives in memory only (a restarted node starts an empty
//! chart). A backend call that panics is logged and the sampler carries on with the next tick;
//! a backend that cannot read its streams answers an empty view, which adds nothing while old
//! samples age out.

use std::collections::{BTreeMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::FutureExt as _;
use parking_lot::Mutex;
use serde::Serialize;
use serde::ser::{SerializeTuple, Serializer};

use super::{ConsoleBackend, ReplicationView};

/// How often the sampler reads the backend.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// How much history a series keeps.
pub const WINDOW: Duration = Duration::from_secs(10 * 60);

/// The most samples one series keeps (one window at one sample per interval).
pub const MAX_SAMPLES: usize = 600;

/// The most virtual clusters the history follows at once.
pub const MAX_SERIES: usize = 64;

/// One lag measurement. Serialized as `[unix_millis, lag_seconds]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagSample {
    /// When it was measured (the node's clock).
    pub at: SystemTime,
    /// `at - replicated_time`.
    pub lag: Duration,
}

impl LagSample {
    /// `at` as milliseconds since the Unix epoch (0 for times before it).
    pub fn unix_millis(&self) -> u64 {
        unix_millis(self.at)
    }
}

/// `t` as milliseconds since the Unix epoch (0 before it, saturating far in the future).
pub fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Serialize for LagSample {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.unix_millis())?;
        t.serialize_element(&self.lag.as_secs_f64())?;
        t.end()
    }
}

/// The samples of one virtual cluster, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LagSeries {
    /// The standby virtual cluster.
    pub virtual_cluster: String,
    /// Its samples, oldest first.
    pub samples: Vec<LagSample>,
}

/// The bounded lag history of every followed virtual cluster. See the module docs.
#[derive(Debug)]
pub struct LagHistory {
    window: Duration,
    max_samples: usize,
    series: Mutex<BTreeMap<String, VecDeque<LagSample>>>,
}

impl Default for LagHistory {
    fn default() -> Self {
        LagHistory::new(WINDOW, MAX_SAMPLES)
    }
}

impl LagHistory {
    /// An empty history keeping `window` of at most `max_samples` samples per series.
    pub fn new(window: Duration, max_samples: usize) -> LagHistory {
        LagHistory {
            window,
            max_samples: max_samples.max(1),
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// How much history a series keeps.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Adds a sample at `view.now` for every stream with a lag, then drops what fell out of
    /// the window (or over the sample limit). A view not newer than a series' last sample adds
    /// nothing to that series.
    pub fn record(&self, view: &ReplicationView) {
        let now = view.now;
        let mut series = self.series.lock();
        for stream in &view.streams {
            let Some(lag) = stream.replication_lag else {
                continue;
            };
            if !series.contains_key(&stream.virtual_cluster) && series.len() >= MAX_SERIES {
                tracing::debug!(
                    virtual_cluster = %stream.virtual_cluster,
                    "replication lag history is full; not following this virtual cluster"
                );
                continue;
            }
            let samples = series.entry(stream.virtual_cluster.clone()).or_default();
            if samples.back().is_some_and(|last| last.at >= now) {
                continue;
            }
            samples.push_back(LagSample { at: now, lag });
        }
        let oldest = now
            .checked_sub(self.window)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        series.retain(|_, samples| {
            while samples.len() > self.max_samples || samples.front().is_some_and(|s| s.at < oldest)
            {
                samples.pop_front();
            }
            !samples.is_empty()
        });
    }

    /// Every series, in virtual cluster name order.
    pub fn snapshot(&self) -> Vec<LagSeries> {
        self.series
            .lock()
            .iter()
            .map(|(name, samples)| LagSeries {
                virtual_cluster: name.clone(),
                samples: samples.iter().copied().collect(),
            })
            .collect()
    }

    /// The samples of `virtual_cluster`, oldest first (empty if it is not followed).
    pub fn samples(&self, virtual_cluster: &str) -> Vec<LagSample> {
        self.series
            .lock()
            .get(virtual_cluster)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Starts the sampler on `runtime`: every `interval` it reads `backend.replication()` and
/// records it in `history`, until the returned task is aborted.
pub fn spawn_sampler(
    runtime: &tokio::runtime::Handle,
    backend: Arc<dyn ConsoleBackend>,
    history: Arc<LagHistory>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match AssertUnwindSafe(backend.replication()).catch_unwind().await {
                Ok(view) => history.record(&view),
                Err(_) => tracing::error!("reading replication streams panicked; lag not sampled"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::StreamRow;
    use crate::ids::TenantId;

    fn stream(name: &str, lag: Option<u64>) -> StreamRow {
        StreamRow {
            virtual_cluster: name.into(),
            virtual_cluster_id: TenantId(3),
            job_id: 1,
            job_status: "running".into(),
            status: "replicating".into(),
            source_virtual_cluster: "main".into(),
            source: "postgresql://root@src:26257/".into(),
            replicated_time: None,
            retained_time: SystemTime::UNIX_EPOCH,
            replication_lag: lag.map(Duration::from_millis),
            cutover_time: None,
            last_error: None,
        }
    }

    fn view(at_secs: u64, streams: Vec<StreamRow>) -> ReplicationView {
        ReplicationView {
            streams,
            ..ReplicationView::empty(SystemTime::UNIX_EPOCH + Duration::from_secs(at_secs))
        }
    }

    #[test]
    fn keeps_a_bounded_window_per_cluster() {
        let h = LagHistory::new(Duration::from_secs(10), 5);
        for t in 100..120 {
            h.record(&view(t, vec![stream("a", Some(t * 10)), stream("b", None)]));
        }
        let a = h.samples("a");
        assert_eq!(a.len(), 5, "capped at max_samples");
        assert_eq!(a[0].unix_millis(), 115_000);
        assert_eq!(a[4].lag, Duration::from_millis(1190));
        assert!(h.samples("b").is_empty(), "no lag, no sample");
        // The same time again adds nothing.
        h.record(&view(119, vec![stream("a", Some(1))]));
        assert_eq!(h.samples("a").len(), 5);
        // Once the stream is gone its samples age out and the series disappears.
        h.record(&view(125, vec![]));
        assert_eq!(h.samples("a").len(), 5);
        h.record(&view(200, vec![]));
        assert!(h.snapshot().is_empty());
    }

    #[test]
    fn serializes_samples_as_pairs() {
        let h = LagHistory::default();
        h.record(&view(2, vec![stream("app", Some(1500))]));
        let json = serde_json::to_string(&h.snapshot()).expect("serialize");
        assert_eq!(
            json,
            r#"[{"virtual_cluster":"app","samples":[[2000,1.5]]}]"#
        );
    }

    #[test]
    fn follows_a_bounded_number_of_clusters() {
        let h = LagHistory::default();
        let streams = (0..MAX_SERIES + 3)
            .map(|i| stream(&format!("vc{i:03}"), Some(1)))
            .collect();
        h.record(&view(1, streams));
        assert_eq!(h.snapshot().len(), MAX_SERIES);
    }
}
