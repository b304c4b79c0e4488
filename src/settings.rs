//! Named tunables of the KV layer, with their defaults.
//!
//! Each setting has a dotted name (as `SET CLUSTER SETTING` will show it), a default and a
//! validation rule; [`KvSettings::for_tests`] builds a small valid configuration that makes
//! splits, closed timestamps and GC happen quickly.

use std::time::Duration;

/// Defaults of the KV settings.
pub mod defaults {
    use std::time::Duration;
    /// `kv.closed_timestamp.target_duration`.
    pub const CLOSED_TS_TARGET: Duration = Duration::from_millis(200);
    /// `kv.closed_timestamp.side_transport_interval`: how often checkpoints are published.
    pub const CLOSED_TS_INTERVAL: Duration = Duration::from_millis(50);
    /// `kv.range.max_bytes`: ranges larger than this split.
    pub const RANGE_MAX_BYTES: u64 = 64 << 20;
    /// `gc.ttlseconds`.
    pub const GC_TTL: Duration = Duration::from_secs(4 * 3600);
    /// `kv.raft.tick_interval`.
    pub const RAFT_TICK: Duration = Duration::from_millis(100);
    /// `server.clock.max_offset`.
    pub const MAX_OFFSET: Duration = Duration::from_millis(500);
    /// `kv.transaction.abandoned_after`: a pending transaction record without heartbeat for this
    /// long may be aborted by a pusher.
    pub const TXN_EXPIRY: Duration = Duration::from_secs(5);
    /// `kv.rangefeed.buffer_events`: events queued per registration before it is disconnected.
    pub const RANGEFEED_BUFFER: usize = 16 * 1024;
    /// `kv.replication_factor` (CockroachDB's zone setting `num_replicas`): voters per range,
    /// capped by the number of live nodes.
    pub const REPLICATION_FACTOR: usize = 3;
}

/// The KV layer's settings.
#[derive(Clone, Debug)]
pub struct KvSettings {
    /// How far closed timestamps trail now.
    pub closed_ts_target: Duration,
    /// How often closed timestamps advance and checkpoints are published.
    pub closed_ts_interval: Duration,
    /// Split ranges larger than this many bytes.
    pub range_max_bytes: u64,
    /// Keep MVCC history this long.
    pub gc_ttl: Duration,
    /// Raft tick.
    pub raft_tick: Duration,
    /// Maximum clock offset between nodes.
    pub max_offset: Duration,
    /// Pending transactions without heartbeat for this long may be aborted.
    pub txn_expiry: Duration,
    /// Rangefeed events queued per registration.
    pub rangefeed_buffer: usize,
    /// Voters per range (capped by the live nodes).
    pub replication_factor: usize,
    /// Block cache bytes.
    pub cache_bytes: u64,
}

impl Default for KvSettings {
    fn default() -> Self {
        KvSettings {
            closed_ts_target: defaults::CLOSED_TS_TARGET,
            closed_ts_interval: defaults::CLOSED_TS_INTERVAL,
            range_max_bytes: defaults::RANGE_MAX_BYTES,
            gc_ttl: defaults::GC_TTL,
            raft_tick: defaults::RAFT_TICK,
            max_offset: defaults::MAX_OFFSET,
            txn_expiry: defaults::TXN_EXPIRY,
            rangefeed_buffer: defaults::RANGEFEED_BUFFER,
            replication_factor: defaults::REPLICATION_FACTOR,
            cache_bytes: 128 << 20,
        }
    }
}

/// A setting value that failed validation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid setting {name}: {reason}")]
pub struct InvalidSetting {
    /// Dotted setting name.
    pub name: &'static str,
    /// Why it is invalid.
    pub reason: String,
}

impl KvSettings {
    /// Small values for tests: 64 KiB ranges, 50 ms closed timestamps.
    pub fn for_tests() -> KvSettings {
        KvSettings {
            closed_ts_target: Duration::from_millis(50),
            closed_ts_interval: Duration::from_millis(10),
            range_max_bytes: 64 << 10,
            cache_bytes: 16 << 20,
            ..KvSettings::default()
        }
    }

    /// How often a committing transaction heartbeats its record: a fifth of
    /// `kv.transaction.abandoned_after`.
    pub fn txn_heartbeat_interval(&self) -> Duration {
        self.txn_expiry / 5
    }

    /// How often each node sweeps its ranges for stale intents (a fifth of
    /// `kv.transaction.abandoned_after`)...
    pub fn stale_intent_sweep_interval(&self) -> Duration {
        self.txn_expiry / 5
    }

    /// ...and how old an intent must be for the sweep to push its transaction (two fifths).
    pub fn stale_intent_age(&self) -> Duration {
        self.txn_expiry * 2 / 5
    }

    /// Checks every setting's range.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let bad = |name, reason: &str| {
            Err(InvalidSetting {
                name,
                reason: reason.into(),
            })
        };
        if self.closed_ts_target.is_zero() {
            return bad("kv.closed_timestamp.target_duration", "must be positive");
        }
        if self.closed_ts_interval.is_zero() || self.closed_ts_interval > self.closed_ts_target {
            return bad(
                "kv.closed_timestamp.side_transport_interval",
                "must be positive and at most the target duration",
            );
        }
        if self.range_max_bytes < 4096 {
            return bad("kv.range.max_bytes", "must be at least 4096");
        }
        if self.raft_tick.is_zero() {
            return bad("kv.raft.tick_interval", "must be positive");
        }
        if self.txn_expiry < Duration::from_millis(50) {
            return bad("kv.transaction.abandoned_after", "must be at least 50ms");
        }
        if self.rangefeed_buffer == 0 {
            return bad("kv.rangefeed.buffer_events", "must be positive");
        }
        if !(1..=7).contains(&self.replication_factor) {
            return bad("kv.replication_factor", "must be between 1 and 7");
        }
        Ok(())
    }
}
