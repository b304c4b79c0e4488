//! The node as a member of its cluster: what it serves to its peers over the inter-node
//! transport ([`service`]: init, node status), and its liveness heartbeat ([`liveness`]).
//!
//! Membership in this version: `tandem init` bootstraps the node it is pointed at (node 1); the
//! node then writes its descriptor and heartbeats its liveness record (see [`crate::kv::nodes`]).
//! `tandem node status` asks any node for every node's descriptor and liveness. Joining further
//! nodes (`--join` naming other nodes) is refused at start-up until ranges replicate across
//! nodes.

pub mod liveness;
pub mod membership;
pub mod service;
pub mod status;
