//! The node's liveness heartbeat: every [`HEARTBEAT_INTERVAL`] the node rewrites its liveness
//! record with an expiration [`LIVENESS_DURATION`] ahead and its replica and lease counts. The
//! first heartbeat of a process bumps the epoch. Each heartbeat also reads the node
//! descriptors, so the node learns the addresses of nodes that joined later. A failed heartbeat is logged and retried at
//! the next tick (the node then shows as not live once its last record expires). On drain, a
//! last heartbeat marks the node draining.

use crate::kv::Store;
use crate::kv::nodes::Liveness;
use std::time::Duration;
use tokio::sync::watch;

/// How often a node heartbeats.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// How long the draining heartbeat may take.
const DRAIN_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a heartbeat keeps the node live.
pub const LIVENESS_DURATION: Duration = Duration::from_millis(4500);

/// Where the addresses of the other nodes are kept on this node (for a restart, before it can
/// read the node descriptors).
const PEERS_KEY: &str = "peer_addresses";

fn remember_peers(store: &Store, known: &[(crate::ids::NodeId, String)]) {
    let Ok(raw) = postcard::to_stdvec(known) else {
        return;
    };
    let engine = store.engine();
    if engine.get_local(PEERS_KEY).ok().flatten().as_deref() == Some(&raw[..]) {
        return;
    }
    if let Err(e) = engine.put_local(PEERS_KEY, &raw) {
        tracing::warn!("cannot record the peer addresses: {e}");
    }
}

/// The peer addresses recorded by an earlier run (empty if none or unreadable).
pub fn remembered_peers(store: &Store) -> Vec<(crate::ids::NodeId, String)> {
    store
        .engine()
        .get_local(PEERS_KEY)
        .ok()
        .flatten()
        .and_then(|raw| postcard::from_bytes(&raw).ok())
        .unwrap_or_default()
}

/// The running heartbeat loop.
pub struct Heartbeat {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    store: Store,
}

async fn beat(store: &Store, draining: bool, new_epoch: bool) -> crate::kv::Result<Liveness> {
    let live = store.peers().map_or(0, |p| p.known_addresses().len()) + 1;
    let target = store.settings().replication_factor.min(live);
    let (ranges, leases, underreplicated) = store.replica_counts(target).await;
    let l = Liveness {
        node_id: store.node_id(),
        epoch: 0,
        expiration: store.now().add_duration(LIVENESS_DURATION),
        draining,
        ranges,
        leases,
        underreplicated,
    };
    let l = store.heartbeat(l, new_epoch).await?;
    // Learn where the other nodes are (for forwarding and, later, raft traffic).
    if let Some(peers) = store.peers() {
        match store.nodes().await {
            Ok(nodes) => {
                if nodes.len() > 1 {
                    store.system_writes().set_shared();
                }
                let mut known: Vec<(crate::ids::NodeId, String)> = Vec::new();
                for (d, _) in nodes {
                    if d.node_id != store.node_id() {
                        peers.set_address(d.node_id, d.address.clone());
                        known.push((d.node_id, d.address));
                    }
                }
                remember_peers(store, &known);
            }
            Err(e) => tracing::debug!("cannot read the node records: {e}"),
        }
    }
    Ok(l)
}

impl Heartbeat {
    /// Starts heartbeating (the first heartbeat is awaited, so the node is live on return).
    pub async fn start(store: Store) -> crate::kv::Result<Heartbeat> {
        beat(&store, false, true).await?;
        let (stop, mut rx) = watch::channel(false);
        let s = store.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = rx.changed() => return,
                }
                if let Err(e) = beat(&s, false, false).await {
                    tracing::warn!("liveness heartbeat failed: {e}");
                }
            }
        });
        Ok(Heartbeat { stop, task, store })
    }

    /// Stops the loop after a last heartbeat that marks the node draining.
    pub async fn drain(self) {
        let _ = self.stop.send(true);
        // A heartbeat in flight may wait for a quorum that is gone: stop it.
        self.task.abort();
        // Bounded: without a quorum (the other nodes stopping too) the write cannot succeed.
        match tokio::time::timeout(DRAIN_HEARTBEAT_TIMEOUT, beat(&self.store, true, false)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("final liveness heartbeat failed: {e}"),
            Err(_) => tracing::warn!("final liveness heartbeat timed out"),
        }
    }
}
