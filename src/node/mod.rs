//! The node as a member of its cluster: what it serves to its peers over the inter-node
//! transport ([`service`]: init, join, forwarded KV requests, raft messages, node status), how
//! it becomes a member ([`membership`]), and its liveness heartbeat ([`liveness`]).
//!
//! `tandem init` bootstraps the node it is pointed at (node 1, holding the first ranges); nodes
//! started with `--join` get their ids from a member. Every node writes its descriptor and
//! heartbeats its liveness record (see [`crate::kv::nodes`]); the replicate queue
//! (`kv::replicas`) then gives every range voters on other live nodes. `tandem node status`
//! asks any node for every node's descriptor and liveness.

pub mod liveness;
pub mod membership;
pub mod service;
pub mod status;
