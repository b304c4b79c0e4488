//! How a replica's raft messages reach its peers.
//!
//! The range actor hands every outgoing raft message to a [`RaftTransport`]. On a single node the
//! groups have one voter and never produce messages for other peers, so [`LocalTransport`] only
//! has to account for (and log) anything addressed elsewhere; the multi-node transport plugs in
//! here without changing the actor.

use crate::ids::RangeId;
use raft::prelude::Message as RaftMessage;

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
