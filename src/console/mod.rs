//! The node's HTTP side (DESIGN.md §2, §9, §10): health checks, Prometheus metrics and the DB
//! Console, served by actix-web on `--http-addr`, over HTTPS with the node certificate unless the
//! node runs `--insecure`.
//!
//! # Pieces
//!
//! - [`server`]: [`ConsoleServer::start`] binds and runs the actix-web `HttpServer` (two workers,
//!   OS signals left to the node's supervisor) and returns a [`RunningConsole`] to stop it.
//! - [`routes`]: the endpoints. `/health` and `/health?ready=1`; `/_status/vars` and `/metrics`
//!   (Prometheus text format); the console pages `/`, `/nodes`, `/virtual-clusters`,
//!   `/replication` with `POST /login` and `POST /logout`; the JSON API `/api/v1/nodes`,
//!   `/api/v1/virtual-clusters` and `/_status/replication`.
//! - [`session`]: console logins, as random 128-bit tokens held in memory with an expiry.
//! - [`throttle`]: brute-force protection of `POST /login` (per-user and per-address backoff,
//!   429 with `Retry-After`) and the rate limit of its log lines.
//! - [`pages`]: server-rendered HTML (inline CSS, no external assets, every value escaped).
//! - [`metrics`]: [`NodeMetrics`], the node's metric families, and [`gather_text`].
//! - [`lag_history`]: the replication page's lag chart data, a bounded in-memory ring buffer of
//!   per-virtual-cluster lag samples taken every second by a task the server starts.
//! - [`error`]: [`ConsoleError`] (starting and stopping the server) and [`ApiError`] (every
//!   failed request, rendered as JSON `{"msg": ...}`).
//!
//! # Decoupling
//!
//! The console reads the node only through the [`ConsoleBackend`] trait (password checks,
//! readiness, the node list, the virtual cluster list, the replication streams) and a `prometheus::Registry`; the node
//! implements the trait over its tenant registry, users and liveness and hands both to
//! [`ConsoleServer::start`].
//!
//! # Failure behaviour
//!
//! Starting fails with a [`ConsoleError`] if the address cannot be bound or no tokio runtime is
//! running; the node must then refuse to start. Once running, a failing request never affects
//! other requests: backend answers are plain values, and rendering or encoding errors become an
//! `ApiError` response. Sessions live in memory only, so a restart logs every user out.

pub mod error;
pub mod lag_history;
pub mod metrics;
pub mod pages;
pub mod routes;
pub mod server;
pub mod session;
pub mod throttle;

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::ids::{NodeId, TenantId};

pub use error::{ApiError, ConsoleError};
pub use metrics::{EngineTotals, NodeMetrics, gather_text};
pub use server::{ConsoleServer, RunningConsole};

/// What the console needs from the node. Implemented by the node over its real state (users,
/// liveness, tenant registry) with `#[async_trait::async_trait]`; every method is called per
/// request, so answers are always current. Methods must not fail: an implementation that
/// cannot reach some source answers `false` or an empty list and logs why. The returned
/// futures must be `Send` (async-trait's default).
#[async_trait::async_trait]
pub trait ConsoleBackend: Send + Sync + 'static {
    /// Whether `password` is the password of the SQL user `user` (who must be allowed to log
    /// in). Used by the console login form. An implementation must do the same work (a full
    /// password-hash verification) whether the user exists, has a password or may log in, so
    /// the time it takes reveals nothing ([`crate::sql::scram::check_login`]).
    async fn check_password(&self, user: &str, password: &str) -> bool;

    /// Whether the node is ready to serve SQL (`/health?ready=1`): started, not draining.
    async fn is_ready(&self) -> bool;

    /// The nodes of the cluster, as this node knows them.
    async fn nodes(&self) -> Vec<NodeRow>;

    /// The virtual clusters of the cluster.
    async fn virtual_clusters(&self) -> Vec<VirtualClusterRow>;

    /// The physical replication streams this cluster takes part in: ingestion into its standby
    /// virtual clusters and producer streams out of its virtual clusters. Polled every second
    /// for the lag chart, so it should be cheap. The default (a node without replication)
    /// answers no streams.
    async fn replication(&self) -> ReplicationView {
        ReplicationView::empty(SystemTime::now())
    }
}

/// One node, as listed on the console's nodes page and by `/api/v1/nodes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRow {
    /// The node's id.
    pub id: NodeId,
    /// The advertised inter-node address (`host:port`).
    pub address: String,
    /// The advertised SQL (pgwire) address.
    pub sql_address: String,
    /// The build the node runs (e.g. `tandem 0.1.0`).
    pub build: String,
    /// When the node process started; rendered as RFC 3339 in JSON.
    #[serde(serialize_with = "ser::rfc3339")]
    pub started_at: SystemTime,
    /// Whether the node is live (heartbeating).
    pub is_live: bool,
    /// Range replicas stored on the node.
    pub ranges: u64,
    /// Range leases held by the node.
    pub leases: u64,
}

/// One virtual cluster, as listed on the console's virtual clusters page and by
/// `/api/v1/virtual-clusters`. The first four fields are those of `SHOW VIRTUAL CLUSTERS`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualClusterRow {
    /// The virtual cluster's (tenant) id.
    pub id: TenantId,
    /// Its name.
    pub name: String,
    /// Its data state, as `SHOW VIRTUAL CLUSTERS` prints it (`ready`, `replicating`, ...).
    pub data_state: String,
    /// Its service mode, as `SHOW VIRTUAL CLUSTERS` prints it (`none`, `shared`, ...).
    pub service_mode: String,
    /// The replication stream into this virtual cluster, if it is a standby.
    pub replication: Option<ReplicationRow>,
}

/// The replication stream feeding a standby virtual cluster (DESIGN.md §8).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicationRow {
    /// The replication job's id.
    pub job_id: u64,
    /// The job's status (e.g. `replicating`, `paused`).
    pub status: String,
    /// The source connection URI, already redacted (no password, no inline certificates).
    pub source: String,
    /// The name of the virtual cluster replicated from on the source.
    pub source_virtual_cluster: String,
    /// Everything up to this time has been replicated; `None` before the initial scan ends.
    #[serde(serialize_with = "ser::opt_rfc3339")]
    pub replicated_time: Option<SystemTime>,
    /// How far `replicated_time` lags behind now; rendered as seconds in JSON.
    #[serde(serialize_with = "ser::opt_secs")]
    pub replication_lag: Option<Duration>,
}

/// The replication streams of the cluster, as the replication page and `/_status/replication`
/// show them. Everything comes from the node's job records (with live progress), read at `now`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicationView {
    /// The node's clock when the view was read; lags are measured from it.
    #[serde(serialize_with = "ser::rfc3339")]
    pub now: SystemTime,
    /// One entry per standby virtual cluster with a replication job that has not ended, in
    /// virtual cluster name order.
    pub streams: Vec<StreamRow>,
    /// The producer jobs (this cluster as a primary) that have not ended.
    pub producers: Vec<ProducerRow>,
    /// Why the streams could not be read, when they could not; the lists are empty then.
    pub error: Option<String>,
}

impl ReplicationView {
    /// No streams, read at `now`.
    pub fn empty(now: SystemTime) -> ReplicationView {
        ReplicationView {
            now,
            streams: Vec::new(),
            producers: Vec::new(),
            error: None,
        }
    }
}

/// One ingestion (standby-side) replication stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamRow {
    /// The standby virtual cluster written to.
    pub virtual_cluster: String,
    /// Its (tenant) id.
    pub virtual_cluster_id: TenantId,
    /// The ingestion job's id, as a string (job ids exceed JavaScript's exact integers).
    #[serde(serialize_with = "ser::display")]
    pub job_id: u64,
    /// The job's status (`running`, `paused`, ...).
    pub job_status: String,
    /// The replication state, as `SHOW VIRTUAL CLUSTER ... WITH REPLICATION STATUS` prints
    /// it (`replicating`, `running initial scan`, `replication paused`, ...).
    pub status: String,
    /// The virtual cluster replicated from, on the primary.
    pub source_virtual_cluster: String,
    /// The primary's connection URI, redacted (no password, no inline certificates).
    pub source: String,
    /// Everything up to this time has been replicated; `None` before the initial scan ends.
    #[serde(serialize_with = "ser::opt_rfc3339")]
    pub replicated_time: Option<SystemTime>,
    /// The standby can fail over to any time from this one on.
    #[serde(serialize_with = "ser::rfc3339")]
    pub retained_time: SystemTime,
    /// `now - replicated_time`; rendered as seconds in JSON.
    #[serde(serialize_with = "ser::opt_secs")]
    pub replication_lag: Option<Duration>,
    /// The failover time, once `COMPLETE REPLICATION` set one.
    #[serde(serialize_with = "ser::opt_rfc3339")]
    pub cutover_time: Option<SystemTime>,
    /// The last error of the stream, while it retries.
    pub last_error: Option<String>,
}

/// One producer (primary-side) replication stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProducerRow {
    /// The virtual cluster streamed out.
    pub virtual_cluster: String,
    /// The producer job's id, as a string.
    #[serde(serialize_with = "ser::display")]
    pub job_id: u64,
    /// The job's status.
    pub job_status: String,
    /// History is retained (protected from garbage collection) since this time.
    #[serde(serialize_with = "ser::rfc3339")]
    pub protected_time: SystemTime,
    /// The job ends unless the standby heartbeats before this time.
    #[serde(serialize_with = "ser::rfc3339")]
    pub expiration: SystemTime,
}

/// A node timestamp's wall time (Unix nanoseconds) as a `SystemTime`.
pub fn wall_time(wall_nanos: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(wall_nanos)
}

/// `t` as RFC 3339 in UTC to the second (`2024-05-01T12:00:00Z`). Times before 1970 or after
/// the year 9999 (which RFC 3339 cannot show) are clamped to those bounds rather than panicking.
pub fn format_time(t: SystemTime) -> String {
    // 9999-12-31T23:59:59Z, the last second humantime can format.
    const MAX_SECS: u64 = 253_402_300_799;
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(MAX_SECS);
    humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .to_string()
}

/// Serde helpers for the row types: times as RFC 3339 strings, durations as seconds.
mod ser {
    use std::time::{Duration, SystemTime};

    use serde::Serializer;

    pub(super) fn rfc3339<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*t))
    }

    pub(super) fn opt_rfc3339<S: Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => rfc3339(t, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn display<T: std::fmt::Display, S: Serializer>(
        v: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(super) fn opt_secs<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}
