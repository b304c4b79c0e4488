//! What this node serves to its peers and to operator tools over the inter-node transport.
//!
//! - [`Service::Init`]: bootstraps the cluster on an uninitialised node (once; a second init is
//!   refused with "cluster has already been initialized"). The answer is the node id.
//! - [`Service::Join`]: a new node asks to join; it gets a fresh node id, the cluster id and
//!   the addresses of the nodes known so far ([`JoinRequest`], [`JoinResponse`]).
//! - [`Service::Kv`]: a KV request forwarded to a range this node serves (see
//!   [`crate::kv::remote`]).
//! - [`Service::Locks`]: row-lock requests for ranges this node holds the lease of, and the
//!   releases, heartbeats and wait-for edges that go with them (see
//!   [`crate::kv::locks::remote`]).
//! - [`Service::Replication`]: partition processors of physical replication, run for an
//!   ingestion job coordinated by another node ([`crate::replication::processor::serve`]).
//! - [`Service::Status`]: every node's [`NodeStatus`], read from the node records.
//! - Raft messages go to the store's replicas (see `kv::replicas`); raft snapshots travel as
//!   raft messages, so [`Service::Snapshot`] is not served.
//!
//! Before init every service but Init answers "node is waiting for cluster initialization".

use super::status::NodeStatus;
use crate::ids::{NodeId, RangeId};
use crate::kv::Store;
use crate::rpc::listener::{NodeHandler, Peer};
use crate::rpc::{Hello, Service};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Mutex, Notify};

/// Bootstraps the cluster on this node; answers the node id or an error message.
pub type Bootstrap = Arc<dyn Fn() -> BoxFuture<'static, Result<String, String>> + Send + Sync>;

/// What a joining node sends.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct JoinRequest {
    /// The joining node's advertised address.
    pub address: String,
}

/// What it gets back.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct JoinResponse {
    /// Its node id.
    pub node_id: crate::ids::NodeId,
    /// The cluster's id.
    pub cluster_id: String,
    /// The nodes known so far and their addresses.
    pub nodes: Vec<(crate::ids::NodeId, String)>,
}

/// The node's [`NodeHandler`].
pub struct NodeService {
    store: Store,
    hello: parking_lot::RwLock<Hello>,
    initialized: AtomicBool,
    init_done: Notify,
    /// Serialises init attempts.
    init_lock: Mutex<()>,
    bootstrap: Bootstrap,
    /// Physical replication's processors (set once the node serves SQL).
    replication: std::sync::OnceLock<crate::replication::ingestion::IngestionEnv>,
}

impl NodeService {
    /// A service for `store`; `initialized` says whether the cluster exists already.
    pub fn new(store: Store, initialized: bool, bootstrap: Bootstrap) -> Arc<NodeService> {
        Arc::new(NodeService {
            store,
            hello: parking_lot::RwLock::new(Hello::default()),
            initialized: AtomicBool::new(initialized),
            init_done: Notify::new(),
            init_lock: Mutex::new(()),
            bootstrap,
            replication: std::sync::OnceLock::new(),
        })
    }

    /// Sets what the node says about itself.
    pub fn set_hello(&self, hello: Hello) {
        *self.hello.write() = hello;
    }

    /// Serves [`Service::Replication`] calls from now on.
    pub fn set_replication(&self, env: crate::replication::ingestion::IngestionEnv) {
        let _ = self.replication.set(env);
    }

    /// Marks the node initialised (after it joined a cluster).
    pub fn mark_initialized(&self) {
        self.initialized.store(true, Ordering::SeqCst);
        self.init_done.notify_waiters();
    }

    async fn join(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        let req: JoinRequest = crate::rpc::decode_body(body).map_err(|e| e.to_string())?;
        // From now on another node may change the catalog behind this node's caches.
        self.store.system_writes().set_shared();
        let node_id = self
            .store
            .allocate_node_id()
            .await
            .map_err(|e| format!("cannot allocate a node id: {e}"))?;
        let cluster_id = self
            .store
            .cluster_id()
            .await
            .map_err(|e| format!("cannot read the cluster id: {e}"))?;
        let nodes = self
            .store
            .nodes()
            .await
            .map_err(|e| format!("cannot read the node records: {e}"))?
            .into_iter()
            .map(|(d, _)| (d.node_id, d.address))
            .collect();
        if let Some(p) = self.store.peers() {
            p.set_address(node_id, req.address.clone());
        }
        tracing::info!(%node_id, address = %req.address, "node joined the cluster");
        crate::rpc::encode_body(&JoinResponse {
            node_id,
            cluster_id,
            nodes,
        })
        .map_err(|e| e.to_string())
    }

    /// Waits until the cluster is initialised (returns at once if it is).
    pub async fn wait_initialized(&self) {
        loop {
            let notified = self.init_done.notified();
            if self.initialized.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    async fn init(&self) -> Result<Vec<u8>, String> {
        let _guard = self.init_lock.lock().await;
        if self.initialized.load(Ordering::SeqCst) {
            return Err("cluster has already been initialized".into());
        }
        let id = (self.bootstrap)().await?;
        self.initialized.store(true, Ordering::SeqCst);
        self.init_done.notify_waiters();
        Ok(id.into_bytes())
    }

    async fn status(&self) -> Result<Vec<u8>, String> {
        let now = self.store.now();
        let rows: Vec<NodeStatus> = self
            .store
            .nodes()
            .await
            .map_err(|e| format!("cannot read the node records: {e}"))?
            .into_iter()
            .map(|(d, l)| NodeStatus::new(d, l, now))
            .collect();
        crate::rpc::encode_body(&rows).map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl NodeHandler for NodeService {
    fn hello(&self) -> Hello {
        self.hello.read().clone()
    }

    async fn call(&self, _peer: &Peer, service: Service, body: Vec<u8>) -> Result<Vec<u8>, String> {
        match service {
            Service::Init => self.init().await,
            _ if !self.initialized.load(Ordering::SeqCst) => {
                Err("node is waiting for cluster initialization (run tandem init)".into())
            }
            Service::Status => self.status().await,
            Service::Join => self.join(&body).await,
            Service::Kv => self.store.serve_kv(&body).await,
            Service::Locks => self.store.serve_locks(&body).await,
            Service::Replication => match self.replication.get() {
                Some(env) => crate::replication::processor::serve(env, &body).await,
                None => Err("this node does not serve replication yet".into()),
            },
            Service::Snapshot => Err(format!(
                "{service:?} is not served: ranges do not replicate across nodes in this version"
            )),
        }
    }

    fn raft(
        &self,
        _peer: &Peer,
        from: Option<NodeId>,
        range: RangeId,
        now: crate::clock::Timestamp,
        msg: Vec<u8>,
    ) {
        if !self.initialized.load(Ordering::SeqCst) {
            return;
        }
        // The sender's clock first (see `Frame::Raft`); a sender too far ahead is not heard.
        if let Err(e) = self.store.clock().update(now) {
            tracing::warn!(?from, %range, "raft message dropped: {e}");
            return;
        }
        self.store.deliver_raft(from, range, &msg);
    }
}
