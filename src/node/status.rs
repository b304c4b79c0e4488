//! One row of `tandem node status` and of the console's node list, built from a node's
//! descriptor and liveness record.

use crate::clock::Timestamp;
use crate::ids::NodeId;
use crate::kv::nodes::{Liveness, NodeDescriptor};
use serde::{Deserialize, Serialize};

/// A node as `tandem node status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node.
    pub node_id: NodeId,
    /// Its inter-node address.
    pub address: String,
    /// Its SQL address.
    pub sql_address: String,
    /// Its HTTP address.
    pub http_address: String,
    /// Its build.
    pub build: String,
    /// Process start (Unix nanoseconds).
    pub started_at: u64,
    /// When the node last heartbeat (Unix nanoseconds), 0 if it never did.
    pub updated_at: u64,
    /// Heartbeating.
    pub is_live: bool,
    /// Shutting down.
    pub draining: bool,
    /// Replicas on the node.
    pub ranges: u64,
    /// Leases held by the node.
    pub leases: u64,
    /// Leased ranges with fewer voters than the replication factor allows.
    pub underreplicated: u64,
}

impl NodeStatus {
    /// The row of a node at `now`.
    pub fn new(d: NodeDescriptor, l: Option<Liveness>, now: Timestamp) -> NodeStatus {
        NodeStatus {
            node_id: d.node_id,
            address: d.address,
            sql_address: d.sql_address,
            http_address: d.http_address,
            build: d.build,
            started_at: d.started_at,
            updated_at: l.as_ref().map_or(0, |l| {
                l.expiration
                    .wall
                    .saturating_sub(super::liveness::LIVENESS_DURATION.as_nanos() as u64)
            }),
            is_live: l.as_ref().is_some_and(|l| l.is_live(now)),
            draining: l.as_ref().is_some_and(|l| l.draining),
            ranges: l.as_ref().map_or(0, |l| l.ranges),
            leases: l.as_ref().map_or(0, |l| l.leases),
            underreplicated: l.as_ref().map_or(0, |l| l.underreplicated),
        }
    }
}
