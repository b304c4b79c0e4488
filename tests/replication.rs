//! Physical cluster replication end to end: a primary and a standby tandem process
//! (`ReplicationClusters`), real clients (psql and tokio-postgres) over verify-full TLS. The
//! same suite runs on clusters of three nodes each in tests/replication_three_nodes.rs.

mod common;

/// Nodes per cluster.
const NODES: usize = 1;

include!("pcr/suite.rs");
