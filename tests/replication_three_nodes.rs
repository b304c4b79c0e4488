//! The physical cluster replication suite (tests/pcr/suite.rs) on a primary and a standby of
//! three nodes each: streams partitioned by the primary nodes holding leases, ingested on
//! every standby node.

mod common;

/// Nodes per cluster.
const NODES: usize = 3;

include!("pcr/suite.rs");
