//! The ingestion job's replication states, with the strings CockroachDB prints in
//! `SHOW VIRTUAL CLUSTERS` (`data_state` of a replicating cluster) and in the `status` column
//! of `WITH REPLICATION STATUS`.

use serde::{Deserialize, Serialize};

/// Where an ingestion job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicationStatus {
    /// Created; connecting to the primary.
    Initializing,
    /// Copying the source's data as of the start time.
    InitialScan,
    /// Streaming changes.
    Replicating,
    /// Paused by `ALTER VIRTUAL CLUSTER ... PAUSE REPLICATION`.
    Paused,
    /// A failover time is set and not reached yet.
    PendingFailover,
    /// Reverting to the failover time.
    FailingOver,
    /// The stream failed; the job retries with back-off.
    Error,
    /// Failover done: the cluster is `ready`.
    Completed,
}

impl ReplicationStatus {
    /// CockroachDB's status string.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationStatus::Initializing => "initializing replication",
            ReplicationStatus::InitialScan => "running initial scan",
            ReplicationStatus::Replicating => "replicating",
            ReplicationStatus::Paused => "replication paused",
            ReplicationStatus::PendingFailover => "replication pending failover",
            ReplicationStatus::FailingOver => "replication failing over",
            ReplicationStatus::Error => "replication error",
            ReplicationStatus::Completed => "ready",
        }
    }
}
