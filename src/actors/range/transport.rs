//! How a replica's raft messages reach its peers.
//!
//! The range actor hands every outgoing raft message to a [`RaftTransport`]. [`NodeTransport`]
//! looks up the node of the addressed replica in the range descriptor and queues the message's
//! protobuf bytes on the connection to that node (best effort: a full queue or an unknown node
//! drops it, and raft retransmits). [`LocalTransport`] serves stores without peers (tests of the
//! KV layer), whose groups have one voter and never address anyone else.

use super::replica::ReplicaShared;
use crate::ids::RangeId;
use crate::rpc::peers::Peers;
use protobuf::Message as _;
use raft::prelude::Message as RaftMessage;
use std::sync::Arc;

/// Delivers raft messages to other replicas.
pub trait RaftTransport: Send + 'static {
    /// Sends messages (best effort; raft retries).
    fn send(&self, range: RangeId, msgs: Vec<RaftMessage>);
}

/// The transport of a node without peers.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalTransport;

impl RaftTransport for LocalTransport {
    fn send(&self, range: RangeId, msgs: Vec<RaftMessage>) {
        for m in msgs {
            tracing::warn!(%range, to = m.to, msg_type = ?m.get_msg_type(), "raft message for a peer on another node dropped: no inter-node transport");
        }
    }
}

/// The transport of a replica on a node with peers.
pub struct NodeTransport {
    peers: Peers,
    shared: Arc<ReplicaShared>,
    clock: Arc<crate::clock::Clock>,
}

impl NodeTransport {
    /// Sends `shared`'s messages over `peers`, each stamped with `clock`'s time.
    pub fn new(
        peers: Peers,
        shared: Arc<ReplicaShared>,
        clock: Arc<crate::clock::Clock>,
    ) -> NodeTransport {
        NodeTransport {
            peers,
            shared,
            clock,
        }
    }
}

impl RaftTransport for NodeTransport {
    fn send(&self, range: RangeId, msgs: Vec<RaftMessage>) {
        for m in msgs {
            let Some(node) = self.shared.node_of(m.to) else {
                tracing::debug!(%range, to = m.to, "raft message for an unknown replica dropped");
                continue;
            };
            let bytes = match m.write_to_bytes() {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(%range, "cannot encode a raft message: {e}");
                    continue;
                }
            };
            if !self.peers.send_raft(node, range, self.clock.now(), bytes) {
                tracing::debug!(%range, %node, "raft message dropped (queue full or address unknown)");
            }
        }
    }
}
