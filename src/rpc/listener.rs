//! The listener of `--listen-addr`: tells node connections from SQL clients and serves the
//! node side.
//!
//! Each accepted socket is classified by peeking its first four bytes (10 s at most): the
//! preface `TNDM` makes it a node connection, anything else is handed, unread, to the SQL server
//! through a channel (or closed when SQL has its own `--sql-addr`, or while the node drains).
//! A node connection then runs the TLS handshake (client certificate required: CN `node`, or
//! `root` for the `tandem init` / `tandem node status` tools, which may only call
//! [`Service::Init`] and [`Service::Status`]) and the hello exchange (frames of at most 64 KiB
//! until then, so an unauthenticated peer cannot make the node reserve a 256 MiB buffer), and
//! then serves frames:
//! raft messages go to [`NodeHandler::raft`], requests run concurrently (at most
//! [`MAX_INFLIGHT`] per connection, the reader waiting when that many run; lock requests of
//! [`Service::Locks`], which may wait long, are not counted) and their responses
//! share one writer task. A broken or misbehaving connection is closed; nothing it sends can
//! stop the accept loop.

use super::{Frame, Hello, NodeStream, PREFACE, RpcError, Service, framed, recv, send};
use crate::ids::{NodeId, RangeId};
use futures::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// Requests of one connection running at once.
pub const MAX_INFLIGHT: usize = 256;
/// How long a new connection may take to send its first bytes, TLS handshake and hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest frame before the hello exchange completes (a hello is a few dozen bytes).
const MAX_HELLO_FRAME: usize = 64 << 10;

/// The other end of a node connection, as authenticated.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Its socket address.
    pub addr: SocketAddr,
    /// The CN of its certificate (`None` on an insecure node).
    pub common_name: Option<String>,
    /// What it said about itself.
    pub hello: Hello,
}

impl Peer {
    /// Whether this peer is another node (not an operator tool). Every peer of an insecure
    /// node counts as one.
    pub fn is_node(&self) -> bool {
        self.common_name.as_deref().is_none_or(|cn| cn == "node")
    }

    fn may_call(&self, service: Service) -> bool {
        self.is_node() || matches!(service, Service::Init | Service::Status)
    }
}

/// What a node does with the traffic of its peers.
#[async_trait::async_trait]
pub trait NodeHandler: Send + Sync + 'static {
    /// The hello this node answers with.
    fn hello(&self) -> Hello;
    /// Handles one call; the error is a message for the caller.
    async fn call(
        &self,
        peer: &Peer,
        service: Service,
        body: Vec<u8>,
    ) -> std::result::Result<Vec<u8>, String>;
    /// Delivers a raft message from node `from` to the replica of `range` on this node.
    fn raft(
        &self,
        peer: &Peer,
        from: Option<NodeId>,
        range: RangeId,
        now: crate::clock::Timestamp,
        msg: Vec<u8>,
    );
}

/// Where SQL connections go.
pub type SqlSink = mpsc::Sender<(TcpStream, SocketAddr)>;

/// Accepts connections on `listener` until the task is aborted. `tls` None means `--insecure`;
/// `sql` None closes SQL connections (SQL has its own listener).
pub fn spawn(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Arc<dyn NodeHandler>,
    sql: Option<SqlSink>,
) -> JoinHandle<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tokio::spawn(
        async move {
            loop {
                let (sock, addr) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        // E.g. EMFILE: back off instead of spinning.
                        tracing::warn!("failed to accept a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, handler, sql) = (acceptor.clone(), handler.clone(), sql.clone());
                tokio::spawn(async move {
                    match classify(&sock).await {
                        Ok(true) => serve_node(sock, addr, acceptor, handler).await,
                        Ok(false) => match sql {
                            Some(sql) => {
                                if sql.send((sock, addr)).await.is_err() {
                                    tracing::debug!(%addr, "SQL connection refused: not serving SQL");
                                }
                            }
                            None => tracing::debug!(%addr, "SQL connection on the node port closed: SQL is served on --sql-addr"),
                        },
                        Err(e) => tracing::debug!(%addr, "connection closed before it was classified: {e}"),
                    }
                });
            }
        }
        .instrument(tracing::info_span!("listener", addr = %local)),
    )
}

/// Whether the socket starts with the node preface (without consuming anything).
async fn classify(sock: &TcpStream) -> std::io::Result<bool> {
    let work = async {
        let mut buf = [0u8; 4];
        loop {
            let n = sock.peek(&mut buf).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if buf[..n] != PREFACE[..n] {
                return Ok(false);
            }
            if n == PREFACE.len() {
                return Ok(true);
            }
            // A prefix of the preface arrived; the rest is on its way.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, work)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

async fn handshake(
    mut sock: Box<dyn NodeStream>,
    addr: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    handler: &Arc<dyn NodeHandler>,
) -> Result<(super::FramedConn, Peer), RpcError> {
    let proto = |e: std::io::Error| RpcError::Protocol(e.to_string());
    let mut preface = [0u8; 4];
    sock.read_exact(&mut preface).await.map_err(proto)?;
    if &preface != PREFACE {
        return Err(RpcError::Protocol("not a node connection preface".into()));
    }
    let (stream, common_name): (Box<dyn NodeStream>, Option<String>) = match acceptor {
        None => (sock, None),
        Some(acc) => {
            let tls = acc.accept(sock).await.map_err(proto)?;
            let cn = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| crate::security::tls::peer_common_name(c).ok());
            match cn.as_deref() {
                Some("node") | Some("root") => (Box::new(tls), cn),
                other => {
                    return Err(RpcError::Protocol(format!(
                        "node connections need a node or root certificate, got CN {other:?}"
                    )));
                }
            }
        }
    };
    let mut conn = framed(stream);
    // Nothing bigger than a hello before the peer said who it is.
    conn.codec_mut().set_max_frame_length(MAX_HELLO_FRAME);
    let hello = match recv(&mut conn).await? {
        Some(Frame::Hello(h)) => h,
        other => {
            return Err(RpcError::Protocol(format!(
                "expected a hello, got {other:?}"
            )));
        }
    };
    let mine = handler.hello();
    if let Err(e) = mine.compatible(&hello) {
        let _ = send(
            &mut conn,
            &Frame::Response {
                id: 0,
                result: Err(e.clone()),
            },
        )
        .await;
        return Err(RpcError::Protocol(e));
    }
    send(&mut conn, &Frame::Hello(mine)).await?;
    conn.codec_mut().set_max_frame_length(super::MAX_FRAME);
    Ok((
        conn,
        Peer {
            addr,
            common_name,
            hello,
        },
    ))
}

async fn serve_node(
    sock: TcpStream,
    addr: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    handler: Arc<dyn NodeHandler>,
) {
    let _ = sock.set_nodelay(true);
    serve_connection(Box::new(sock), addr, acceptor, handler).await;
}

/// Serves one node connection over `stream` (any byte stream, starting with the preface; `addr`
/// is the peer's address) until it ends: the TLS handshake (`acceptor` None: `--insecure`), the
/// hello exchange, then frames. What the TCP listener runs for every node connection.
pub async fn serve_connection(
    sock: Box<dyn NodeStream>,
    addr: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    handler: Arc<dyn NodeHandler>,
) {
    let (conn, peer) =
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(sock, addr, acceptor, &handler))
            .await
        {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::debug!(%addr, "node connection refused: {e}");
                return;
            }
            Err(_) => {
                tracing::debug!(%addr, "node connection handshake timed out");
                return;
            }
        };
    let peer = Arc::new(peer);
    let (mut sink, mut stream) = conn.split();
    let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(MAX_INFLIGHT);
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if sink.send(b).await.is_err() {
                break;
            }
        }
    });
    let inflight = Arc::new(Semaphore::new(MAX_INFLIGHT));
    while let Some(item) = stream.next().await {
        let frame = match item
            .map_err(|e| RpcError::Protocol(e.to_string()))
            .and_then(|b| super::decode(&b))
        {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(%addr, "closing node connection: {e}");
                break;
            }
        };
        match frame {
            Frame::Raft {
                range,
                from,
                now,
                msg,
            } if peer.is_node() => handler.raft(&peer, from, range, now, msg),
            Frame::Request { id, service, body } => {
                // Lock waits may last minutes: they do not count against the limit (they are
                // bounded by the calling node's sessions), so they cannot stall raft traffic.
                let permit = if service == Service::Locks {
                    None
                } else {
                    match inflight.clone().acquire_owned().await {
                        Ok(p) => Some(p),
                        Err(_) => break,
                    }
                };
                let (handler, peer, tx) = (handler.clone(), peer.clone(), tx.clone());
                tokio::spawn(async move {
                    let result = if peer.may_call(service) {
                        handler.call(&peer, service, body).await
                    } else {
                        Err(format!(
                            "a {} certificate may not call {service:?}",
                            peer.common_name.as_deref().unwrap_or("client")
                        ))
                    };
                    let frame = Frame::Response {
                        id,
                        result: result.map(serde_bytes::ByteBuf::from),
                    };
                    match super::encode(&frame) {
                        Ok(b) => {
                            let _ = tx.send(b).await;
                        }
                        Err(e) => tracing::warn!("cannot encode a response: {e}"),
                    }
                    drop(permit);
                });
            }
            other => {
                tracing::debug!(%addr, "unexpected frame from a peer: {other:?}");
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::peers::Peers;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncWriteExt;

    struct Echo {
        raft: AtomicUsize,
        hello: Hello,
    }

    #[async_trait::async_trait]
    impl NodeHandler for Echo {
        fn hello(&self) -> Hello {
            self.hello.clone()
        }
        async fn call(
            &self,
            _peer: &Peer,
            service: Service,
            body: Vec<u8>,
        ) -> std::result::Result<Vec<u8>, String> {
            match service {
                Service::Status => Ok(body.into_iter().rev().collect()),
                _ => Err(format!("{service:?} refused")),
            }
        }
        fn raft(
            &self,
            _peer: &Peer,
            from: Option<NodeId>,
            _range: RangeId,
            _now: crate::clock::Timestamp,
            _msg: Vec<u8>,
        ) {
            if from == Some(NodeId(7)) {
                self.raft.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    async fn serve(
        cluster: Option<&str>,
    ) -> (
        String,
        Arc<Echo>,
        mpsc::Receiver<(TcpStream, SocketAddr)>,
        JoinHandle<()>,
    ) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let h = Arc::new(Echo {
            raft: AtomicUsize::new(0),
            hello: Hello {
                cluster_id: cluster.map(str::to_string),
                node_id: Some(NodeId(1)),
            },
        });
        let (tx, rx) = mpsc::channel(4);
        let task = spawn(l, None, h.clone(), Some(tx));
        (addr, h, rx, task)
    }

    #[tokio::test]
    async fn one_port_serves_calls_raft_frames_and_hands_sql_over() {
        let (addr, h, mut sql, task) = serve(Some("c1")).await;
        let peers = Peers::new(
            None,
            Hello {
                cluster_id: Some("c1".into()),
                node_id: Some(NodeId(7)),
            },
        );
        let out = peers
            .call(
                &addr,
                Service::Status,
                vec![1, 2, 3],
                Duration::from_secs(5),
            )
            .await
            .expect("call");
        assert_eq!(out, vec![3, 2, 1]);
        let err = peers
            .call(&addr, Service::Kv, vec![], Duration::from_secs(5))
            .await
            .expect_err("refused");
        assert_eq!(err, RpcError::Remote("Kv refused".into()));
        peers.set_address(NodeId(1), addr.clone());
        for _ in 0..3 {
            assert!(peers.send_raft(
                NodeId(1),
                RangeId(5),
                crate::clock::Timestamp::MIN,
                vec![0; 10]
            ));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while h.raft.load(Ordering::SeqCst) < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "raft frames not delivered"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // A PostgreSQL startup packet goes to the SQL side, unread.
        let mut pg = TcpStream::connect(&addr).await.expect("connect");
        pg.write_all(&[0, 0, 0, 8, 4, 210, 22, 47])
            .await
            .expect("write");
        let (mut got, _) = tokio::time::timeout(Duration::from_secs(5), sql.recv())
            .await
            .expect("in time")
            .expect("a SQL connection");
        let mut buf = [0u8; 8];
        tokio::io::AsyncReadExt::read_exact(&mut got, &mut buf)
            .await
            .expect("bytes kept");
        assert_eq!(buf, [0, 0, 0, 8, 4, 210, 22, 47]);
        peers.shutdown();
        task.abort();
    }

    #[tokio::test]
    async fn a_large_frame_before_the_hello_closes_the_connection() {
        let h = Arc::new(Echo {
            raft: AtomicUsize::new(0),
            hello: Hello::default(),
        });
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let addr = SocketAddr::from(([127, 0, 0, 1], 1));
        let task = tokio::spawn(serve_connection(Box::new(server), addr, None, h));
        // A 1 MiB frame announced before any hello: refused at once, not buffered.
        client.write_all(PREFACE).await.expect("preface");
        client
            .write_all(&(1u32 << 20).to_be_bytes())
            .await
            .expect("length");
        let mut buf = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut buf))
            .await
            .expect("closed in time")
            .expect("read");
        assert_eq!(n, 0);
        task.await.expect("served");
    }

    #[tokio::test]
    async fn other_clusters_and_dead_peers_are_refused_quickly() {
        let (addr, _h, _sql, task) = serve(Some("c1")).await;
        let stranger = Peers::new(
            None,
            Hello {
                cluster_id: Some("c2".into()),
                node_id: Some(NodeId(9)),
            },
        );
        let e = stranger
            .call(&addr, Service::Status, vec![], Duration::from_secs(5))
            .await
            .expect_err("other cluster");
        assert!(e.to_string().contains("cluster"), "{e}");
        task.abort();
        // Nothing listens any more: once the connection is known to be down, calls fail at once.
        let peers = Peers::new(None, Hello::default());
        let dead = {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            l.local_addr().expect("addr").to_string()
        };
        let _ = peers
            .call(&dead, Service::Status, vec![], Duration::from_secs(5))
            .await;
        let t = std::time::Instant::now();
        let e = peers
            .call(&dead, Service::Status, vec![], Duration::from_secs(5))
            .await
            .expect_err("down");
        assert!(matches!(e, RpcError::NotSent { .. }), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(1));
        peers.shutdown();
    }
}
