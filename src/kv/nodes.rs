//! The cluster's node records in the system keyspace: one descriptor per node (written when the
//! node starts: its addresses and build) and one liveness record per node (rewritten by the
//! node's heartbeat: an expiration, whether it drains, and the replica and lease counts it
//! reports). The first node of a cluster is node 1 (it bootstraps the ranges); joining nodes
//! get ids from a counter at `0x04 "nid"`, which starts after 1.
//!
//! ```text
//! 0x04 "nid"                  the last node id handed out (postcard u64)
//! 0x04 "node" <id u64 BE>     NodeDescriptor
//! 0x04 "lvns" <id u64 BE>     Liveness
//! ```
//!
//! A node is live while its record's expiration is in the future. Records are ordinary
//! replicated, transactional data: reading them works from any node and after any restart. A
//! record that does not decode is an error naming the node, never a panic.

use super::Store;
use super::error::{KvError, Result};
use crate::clock::Timestamp;
use crate::ids::NodeId;
use crate::storage::keys::Span;
use serde::{Deserialize, Serialize};

const NODE_ID_GEN: &[u8] = &[0x04, b'n', b'i', b'd'];
const DESC_PREFIX: &[u8] = &[0x04, b'n', b'o', b'd', b'e'];
const LIVENESS_PREFIX: &[u8] = &[0x04, b'l', b'v', b'n', b's'];

/// Where a node is and what it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDescriptor {
    /// The node.
    pub node_id: NodeId,
    /// The advertised inter-node address (`--advertise-addr`; also SQL unless `--sql-addr`).
    pub address: String,
    /// The advertised SQL address.
    pub sql_address: String,
    /// The HTTP (console) address.
    pub http_address: String,
    /// The build, e.g. `tandem 0.1.0`.
    pub build: String,
    /// When the process started (Unix nanoseconds).
    pub started_at: u64,
}

/// A node's heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Liveness {
    /// The node.
    pub node_id: NodeId,
    /// Incremented on each start of the node.
    pub epoch: u64,
    /// The node counts as live until then.
    pub expiration: Timestamp,
    /// The node is shutting down.
    pub draining: bool,
    /// Replicas stored on the node at the heartbeat.
    pub ranges: u64,
    /// Leases held by the node at the heartbeat.
    pub leases: u64,
    /// Ranges it holds the lease of with fewer voters than the replication factor allows.
    pub underreplicated: u64,
}

impl Liveness {
    /// Whether the node counts as live at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expiration > now
    }
}

fn id_key(prefix: &[u8], id: NodeId) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&id.0.to_be_bytes());
    k
}

fn prefix_span(prefix: &[u8]) -> Span {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    Span::new(prefix.to_vec(), end)
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, key: &[u8], raw: &[u8]) -> Result<T> {
    postcard::from_bytes(raw).map_err(|e| {
        KvError::InvalidArgument(format!(
            "corrupt {what} record at {}: {e}",
            crate::storage::keys::pretty(key)
        ))
    })
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(v).map_err(|e| KvError::InvalidArgument(format!("encode record: {e}")))
}

impl Store {
    /// Hands out the next node id (2 for the first node that joins).
    pub async fn allocate_node_id(&self) -> Result<NodeId> {
        let (id, _) = self
            .run_txn(50, |txn| {
                Box::pin(async move {
                    let last: u64 = match txn.get(NODE_ID_GEN).await? {
                        Some(raw) => decode("node id counter", NODE_ID_GEN, &raw)?,
                        None => 1,
                    };
                    txn.put(NODE_ID_GEN, &encode(&(last + 1))?)?;
                    Ok(NodeId(last + 1))
                })
            })
            .await?;
        Ok(id)
    }

    /// Writes (or rewrites) a node's descriptor.
    pub async fn put_node_descriptor(&self, d: &NodeDescriptor) -> Result<()> {
        let key = id_key(DESC_PREFIX, d.node_id);
        let value = encode(d)?;
        self.run_txn(50, |txn| {
            let (key, value) = (key.clone(), value.clone());
            Box::pin(async move { txn.put(&key, &value) })
        })
        .await?;
        Ok(())
    }

    /// A node's liveness record, if it ever heartbeat.
    pub async fn liveness(&self, id: NodeId) -> Result<Option<Liveness>> {
        let key = id_key(LIVENESS_PREFIX, id);
        let mut txn = self.begin();
        let raw = txn.get(&key).await;
        txn.rollback();
        raw?.map(|r| decode("liveness", &key, &r)).transpose()
    }

    /// Writes a node's liveness record; the epoch is bumped when `new_epoch`.
    pub async fn heartbeat(&self, l: Liveness, new_epoch: bool) -> Result<Liveness> {
        let key = id_key(LIVENESS_PREFIX, l.node_id);
        let (l, _) = self
            .run_txn(20, |txn| {
                let key = key.clone();
                let mut l = l.clone();
                Box::pin(async move {
                    let old: Option<Liveness> = match txn.get(&key).await? {
                        Some(raw) => Some(decode("liveness", &key, &raw)?),
                        None => None,
                    };
                    let epoch = old.map_or(0, |o| o.epoch);
                    l.epoch = if new_epoch { epoch + 1 } else { epoch.max(1) };
                    txn.put(&key, &encode(&l)?)?;
                    Ok(l)
                })
            })
            .await?;
        Ok(l)
    }

    /// The nodes that are live now and not draining (where new work may go), with their
    /// liveness records, by node id.
    pub async fn serving_nodes(&self) -> Result<Vec<(NodeDescriptor, Liveness)>> {
        let now = self.now();
        Ok(self
            .nodes()
            .await?
            .into_iter()
            .filter_map(|(d, l)| l.filter(|l| l.is_live(now) && !l.draining).map(|l| (d, l)))
            .collect())
    }

    /// Every node's descriptor with its liveness record, by node id.
    pub async fn nodes(&self) -> Result<Vec<(NodeDescriptor, Option<Liveness>)>> {
        let mut txn = self.begin();
        let descs = txn.scan(&prefix_span(DESC_PREFIX), usize::MAX).await;
        let lives = txn.scan(&prefix_span(LIVENESS_PREFIX), usize::MAX).await;
        txn.rollback();
        let mut live = std::collections::HashMap::new();
        for (k, v) in lives? {
            let l: Liveness = decode("liveness", &k, &v)?;
            live.insert(l.node_id, l);
        }
        descs?
            .into_iter()
            .map(|(k, v)| {
                let d: NodeDescriptor = decode("node descriptor", &k, &v)?;
                let l = live.remove(&d.node_id);
                Ok((d, l))
            })
            .collect()
    }
}
