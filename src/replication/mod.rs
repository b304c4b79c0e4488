//! Physical cluster replication (PCR): the pieces shared by the producer on the primary
//! ([`crate::actors::replication_producer`]) and the consumer on the standby
//! ([`crate::actors::replication_consumer`]).
//!
//! - [`event`]: the stream events `crdb_internal.stream_partition` returns, one per row, and
//!   their compressed encoding;
//! - [`spec`]: the producer/stream/partition specs exchanged through the `crdb_internal`
//!   builtins (as opaque `BYTES`, like CockroachDB's protobufs);
//! - [`frontier`]: the span frontier that turns resolved spans into the replicated time;
//! - [`status`]: the ingestion job's states and the status strings `SHOW VIRTUAL CLUSTERS`
//!   prints.
//!
//! Transport is plain pgwire (DESIGN.md §8): the consumer connects with tokio-postgres to the
//! primary's system virtual cluster. Deletes travel as tombstone versions: tandem's engine
//! writes point tombstones for every delete (there are no MVCC range tombstones), so a batch of
//! versions carries every change, and a version is replayed on the standby with its source
//! timestamp. Delivery is at-least-once; replaying a version is idempotent (same key, same
//! timestamp, same value).

pub mod event;
pub mod frontier;
pub mod ingestion;
pub mod metrics;
mod plan;
pub mod processor;
pub mod producer_stream;
pub mod service;
pub mod spec;
pub mod status;

/// Errors of the replication layer (decoding, the stream, the remote cluster).
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// Bytes from the network did not decode.
    #[error("replication: malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The remote cluster answered with an error or went away.
    #[error("replication: {0}")]
    Remote(String),
    /// A local KV operation failed.
    #[error("replication: {0}")]
    Kv(#[from] crate::kv::KvError),
    /// The stream's plan is out of date (a partition's leases moved): re-plan at once; not
    /// an error for the user.
    #[error("replication: re-plan: {0}")]
    Replan(String),
}
