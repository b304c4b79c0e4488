//! Outgoing node connections: one per peer address, shared by everything on this node that talks
//! to that peer.
//!
//! A connection is a task that dials (preface, TLS with this node's certificate, hello), then
//! writes queued frames and routes responses to their callers. Its queue is bounded
//! ([`QUEUE`] frames): raft messages are dropped when it is full (raft retransmits), calls wait
//! for space until their deadline. When the connection breaks, every outstanding call fails with
//! [`RpcError::Unavailable`], queued frames are discarded (they would be stale), and the task
//! redials with exponential back-off from 50 ms to 2 s. While a peer is down, calls fail at once
//! instead of waiting for their deadline, so callers can try another node. Addresses of node ids
//! are learned from node descriptors ([`Peers::set_address`]).

use super::{Frame, Hello, NodeStream, PREFACE, Result, RpcError, Service, framed, recv, send};
use crate::ids::{NodeId, RangeId};
use futures::{SinkExt, StreamExt};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot, watch};

/// Frames queued per peer.
pub const QUEUE: usize = 4096;
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

type Pending = Mutex<HashMap<u64, oneshot::Sender<Result<Vec<u8>>>>>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Connecting,
    Up,
    Down(String),
}

struct Conn {
    addr: String,
    tx: mpsc::Sender<bytes::Bytes>,
    pending: Pending,
    state: Mutex<State>,
}

impl Conn {
    /// Fails every call waiting on this connection; `sent` says whether their frames may have
    /// reached the peer (the connection was up), otherwise they are [`RpcError::NotSent`] and
    /// safe to retry elsewhere.
    fn fail_all(&self, reason: &str, sent: bool) {
        let pending: Vec<_> = self.pending.lock().drain().collect();
        for (_, tx) in pending {
            let (addr, reason) = (self.addr.clone(), reason.to_string());
            let _ = tx.send(Err(if sent {
                RpcError::Unavailable { addr, reason }
            } else {
                RpcError::NotSent { addr, reason }
            }));
        }
    }
}

struct Inner {
    tls: Option<Arc<rustls::ClientConfig>>,
    hello: RwLock<Hello>,
    conns: Mutex<HashMap<String, Arc<Conn>>>,
    addrs: RwLock<HashMap<NodeId, String>>,
    /// Addresses known without a node id (`--join`).
    seeds: RwLock<Vec<String>>,
    /// This node's own advertised address (never dialled).
    self_addr: RwLock<Option<String>>,
    next_id: AtomicU64,
    stop: watch::Sender<bool>,
    /// Connection tasks run here, whichever thread first asks for a peer.
    runtime: tokio::runtime::Handle,
}

/// This node's connections to its peers. Cheap to clone.
#[derive(Clone)]
pub struct Peers {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Peers({} connections)", self.inner.conns.lock().len())
    }
}

impl Peers {
    /// Connections authenticated with `tls` (this node's certificate; None for `--insecure`).
    /// Must be called inside the tokio runtime that will run the connections.
    pub fn new(tls: Option<Arc<rustls::ClientConfig>>, hello: Hello) -> Peers {
        let (stop, _) = watch::channel(false);
        Peers {
            inner: Arc::new(Inner {
                tls,
                hello: RwLock::new(hello),
                conns: Mutex::new(HashMap::new()),
                addrs: RwLock::new(HashMap::new()),
                seeds: RwLock::new(Vec::new()),
                self_addr: RwLock::new(None),
                next_id: AtomicU64::new(1),
                stop,
                runtime: tokio::runtime::Handle::current(),
            }),
        }
    }

    /// Updates what this node says about itself on new connections (after init or join).
    pub fn set_hello(&self, hello: Hello) {
        *self.inner.hello.write() = hello;
    }

    /// Records where node `id` listens.
    pub fn set_address(&self, id: NodeId, addr: String) {
        self.inner.addrs.write().insert(id, addr);
    }

    /// Records this node's own advertised address.
    pub fn set_self_address(&self, addr: String) {
        *self.inner.self_addr.write() = Some(addr);
    }

    /// This node's own advertised address, if set.
    pub fn self_address(&self) -> Option<String> {
        self.inner.self_addr.read().clone()
    }

    /// Adds addresses of nodes whose ids are not known yet (`--join`).
    pub fn add_seeds(&self, addrs: impl IntoIterator<Item = String>) {
        let mut seeds = self.inner.seeds.write();
        for a in addrs {
            if !seeds.contains(&a) {
                seeds.push(a);
            }
        }
    }

    /// Every known address of another node: node addresses by id, then seeds.
    pub fn known_addresses(&self) -> Vec<String> {
        let me = self.self_address();
        let mut out: Vec<String> = {
            let addrs = self.inner.addrs.read();
            let mut v: Vec<(NodeId, String)> = addrs.iter().map(|(n, a)| (*n, a.clone())).collect();
            v.sort();
            v.into_iter().map(|(_, a)| a).collect()
        };
        for s in self.inner.seeds.read().iter() {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out.retain(|a| Some(a) != me.as_ref());
        out
    }

    /// The address of node `id`, if known.
    pub fn address(&self, id: NodeId) -> Option<String> {
        self.inner.addrs.read().get(&id).cloned()
    }

    /// Whether the connection to `addr` is currently up (false if never dialled).
    pub fn is_up(&self, addr: &str) -> bool {
        self.inner
            .conns
            .lock()
            .get(addr)
            .is_some_and(|c| *c.state.lock() == State::Up)
    }

    /// Stops every connection task.
    pub fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        self.inner.conns.lock().clear();
    }

    fn conn(&self, addr: &str) -> Arc<Conn> {
        let mut conns = self.inner.conns.lock();
        if let Some(c) = conns.get(addr) {
            return c.clone();
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let conn = Arc::new(Conn {
            addr: addr.to_string(),
            tx,
            pending: Mutex::new(HashMap::new()),
            state: Mutex::new(State::Connecting),
        });
        conns.insert(addr.to_string(), conn.clone());
        self.inner
            .runtime
            .spawn(run(self.inner.clone(), conn.clone(), rx));
        conn
    }

    /// Sends a raft message to node `to`; false if it was dropped (unknown node, queue full).
    pub fn send_raft(
        &self,
        to: NodeId,
        range: RangeId,
        now: crate::clock::Timestamp,
        msg: Vec<u8>,
    ) -> bool {
        let Some(addr) = self.address(to) else {
            return false;
        };
        let conn = self.conn(&addr);
        let from = self.inner.hello.read().node_id;
        match super::encode(&Frame::Raft {
            range,
            from,
            now,
            msg,
        }) {
            Ok(b) => conn.tx.try_send(b).is_ok(),
            Err(_) => false,
        }
    }

    /// Calls `service` on node `to`.
    pub async fn call_node(
        &self,
        to: NodeId,
        service: Service,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        let addr = self.address(to).ok_or_else(|| RpcError::NotSent {
            addr: to.to_string(),
            reason: "address unknown".into(),
        })?;
        self.call(&addr, service, body, timeout).await
    }

    /// Calls `service` on the node at `addr`.
    pub async fn call(
        &self,
        addr: &str,
        service: Service,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        let conn = self.conn(addr);
        if let State::Down(reason) = conn.state.lock().clone() {
            return Err(RpcError::NotSent {
                addr: addr.to_string(),
                reason,
            });
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = super::encode(&Frame::Request { id, service, body })?;
        let (tx, rx) = oneshot::channel();
        conn.pending.lock().insert(id, tx);
        let work = async {
            conn.tx.send(frame).await.map_err(|_| RpcError::NotSent {
                addr: addr.to_string(),
                reason: "connection closed".into(),
            })?;
            rx.await.map_err(|_| RpcError::Unavailable {
                addr: addr.to_string(),
                reason: "connection closed".into(),
            })?
        };
        let r = tokio::time::timeout(timeout, work).await;
        conn.pending.lock().remove(&id);
        r.map_err(|_| RpcError::Timeout {
            addr: addr.to_string(),
        })?
    }
}

/// The connection task of one peer address.
async fn run(inner: Arc<Inner>, conn: Arc<Conn>, mut rx: mpsc::Receiver<bytes::Bytes>) {
    let mut stop = inner.stop.subscribe();
    let mut backoff = BACKOFF_MIN;
    loop {
        if *stop.borrow() {
            return;
        }
        let hello = inner.hello.read().clone();
        let mut was_up = false;
        let reason = match dial(&conn.addr, inner.tls.clone(), hello).await {
            Ok((framed, _)) => {
                was_up = true;
                *conn.state.lock() = State::Up;
                backoff = BACKOFF_MIN;
                let (mut sink, mut stream) = framed.split();
                let reader = async {
                    loop {
                        match stream.next().await {
                            None => return "closed by the peer".to_string(),
                            Some(Err(e)) => return e.to_string(),
                            Some(Ok(b)) => match super::decode(&b) {
                                Ok(Frame::Response { id, result }) => {
                                    if let Some(tx) = conn.pending.lock().remove(&id) {
                                        let _ = tx.send(
                                            result.map(|b| b.into_vec()).map_err(RpcError::Remote),
                                        );
                                    }
                                }
                                Ok(other) => return format!("unexpected frame {other:?}"),
                                Err(e) => return e.to_string(),
                            },
                        }
                    }
                };
                let writer = async {
                    while let Some(b) = rx.recv().await {
                        if let Err(e) = sink.send(b).await {
                            return e.to_string();
                        }
                    }
                    "queue closed".to_string()
                };
                tokio::select! {
                    r = reader => r,
                    r = writer => r,
                    _ = stop.changed() => return,
                }
            }
            Err(e) => e.to_string(),
        };
        tracing::debug!(addr = %conn.addr, "node connection down: {reason}");
        *conn.state.lock() = State::Down(reason.clone());
        conn.fail_all(&reason, was_up);
        while rx.try_recv().is_ok() {}
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// The TLS server name of `addr` (`host:port`, `[v6]:port`; an empty host is `localhost`).
pub fn server_name(addr: &str) -> Result<rustls::pki_types::ServerName<'static>> {
    let host = addr
        .rsplit_once(':')
        .map_or(addr, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let host = if host.is_empty() { "localhost" } else { host };
    rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| RpcError::Protocol(format!("invalid host name {host}: {e}")))
}

/// Opens one node connection: TCP, preface, TLS (unless `tls` is None), hello exchange. Returns
/// the framed connection and the peer's hello.
pub async fn dial(
    addr: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
    hello: Hello,
) -> Result<(super::FramedConn, Hello)> {
    let unavailable = |reason: String| RpcError::Unavailable {
        addr: addr.to_string(),
        reason,
    };
    let work = async {
        let mut sock = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let _ = sock.set_nodelay(true);
        sock.write_all(PREFACE)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let stream: Box<dyn NodeStream> = match tls {
            None => Box::new(sock),
            Some(cfg) => {
                let name = server_name(addr)?;
                let s = tokio_rustls::TlsConnector::from(cfg)
                    .connect(name, sock)
                    .await
                    .map_err(|e| unavailable(format!("TLS handshake: {e}")))?;
                Box::new(s)
            }
        };
        let mut conn = framed(stream);
        send(&mut conn, &Frame::Hello(hello)).await?;
        match recv(&mut conn).await {
            Ok(Some(Frame::Hello(h))) => Ok((conn, h)),
            Ok(Some(Frame::Response { result: Err(e), .. })) => Err(RpcError::Protocol(e)),
            Ok(Some(other)) => Err(RpcError::Protocol(format!(
                "expected a hello, got {other:?}"
            ))),
            Ok(None) => Err(unavailable("closed during the handshake".into())),
            Err(e) => Err(unavailable(e.to_string())),
        }
    };
    tokio::time::timeout(DIAL_TIMEOUT, work)
        .await
        .map_err(|_| unavailable("connect timed out".into()))?
}

/// One call over a fresh connection (operator tools: `tandem init`, `tandem node status`).
pub async fn call_once(
    addr: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
    service: Service,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Vec<u8>> {
    let work = async {
        let (mut conn, _) = dial(addr, tls, Hello::default()).await?;
        send(
            &mut conn,
            &Frame::Request {
                id: 1,
                service,
                body,
            },
        )
        .await?;
        match recv(&mut conn).await? {
            Some(Frame::Response { result, .. }) => {
                result.map(|b| b.into_vec()).map_err(RpcError::Remote)
            }
            Some(other) => Err(RpcError::Protocol(format!(
                "expected a response, got {other:?}"
            ))),
            None => Err(RpcError::Unavailable {
                addr: addr.to_string(),
                reason: "closed before answering".into(),
            }),
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| RpcError::Timeout {
            addr: addr.to_string(),
        })?
}
