//! The inter-node transport: one authenticated channel between the nodes of a cluster, on the
//! same `--listen-addr` port as SQL.
//!
//! Wire format. A node connection opens with the 4-byte preface [`PREFACE`] (`TNDM`). No
//! PostgreSQL client sends those bytes first (a startup packet, SSLRequest or CancelRequest
//! starts with a big-endian length whose first byte is 0; PostgreSQL 17 direct TLS starts with
//! 0x16), so the listener tells node traffic from SQL by peeking four bytes
//! ([`listener`]). Unless the node runs `--insecure`, a TLS handshake follows in which both sides
//! present certificates of the cluster CA: the server its node certificate, the dialer its node
//! certificate (CN `node`) or, for `tandem init` only, `client.root` (CN `root`). Then frames: a
//! 4-byte big-endian length and a postcard-encoded [`Frame`] of at most [`MAX_FRAME`] bytes. The
//! dialer sends [`Frame::Hello`] first and the server answers with its own; a node refuses a
//! peer that belongs to another cluster.
//!
//! Frames carry opaque payloads: raft messages (their protobuf bytes) addressed to a range, and
//! requests and responses of a [`Service`] whose bodies the owning layer encodes. The transport
//! interprets none of them, so it depends on nothing above it.
//!
//! Failure: a connection that breaks fails its outstanding calls with [`RpcError::Unavailable`];
//! the dialer ([`peers`]) reconnects with exponential back-off (50 ms to 2 s). Raft messages go
//! through bounded queues and are dropped when a queue is full (raft retransmits); calls wait for
//! queue space up to their deadline. Nothing a peer sends can crash the node: a malformed frame
//! closes that connection.

pub mod listener;
pub mod peers;

use crate::ids::{NodeId, RangeId};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// The first bytes of every node connection.
pub const PREFACE: &[u8; 4] = b"TNDM";
/// The largest frame (a raft snapshot chunk or a bulk-ingest command fits well inside).
pub const MAX_FRAME: usize = 256 << 20;

/// Errors of the transport.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RpcError {
    /// The peer could not be reached or the connection broke.
    #[error("node {addr} unavailable: {reason}")]
    Unavailable {
        /// The peer's address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The call was not sent (peer address unknown, peer known to be down): retrying elsewhere
    /// is safe.
    #[error("node {addr} unreachable: {reason}")]
    NotSent {
        /// The peer's address (or node id).
        addr: String,
        /// Why.
        reason: String,
    },
    /// The call did not finish in time.
    #[error("call to node {addr} timed out")]
    Timeout {
        /// The peer's address.
        addr: String,
    },
    /// The peer handled the call and answered with an error.
    #[error("{0}")]
    Remote(String),
    /// The peer broke the protocol (bad preface, undecodable frame, wrong cluster).
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// Result of the transport layer.
pub type Result<T> = std::result::Result<T, RpcError>;

/// Who is talking: sent by both sides when a connection opens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's cluster, if it belongs to one yet (a joining node does not).
    pub cluster_id: Option<String>,
    /// The sender's node id, if it has one yet.
    pub node_id: Option<NodeId>,
}

impl Hello {
    /// Whether two ends may talk: both in the same cluster, or at least one without a cluster.
    pub fn compatible(&self, other: &Hello) -> std::result::Result<(), String> {
        match (&self.cluster_id, &other.cluster_id) {
            (Some(a), Some(b)) if a != b => Err(format!(
                "peer belongs to cluster {b}, this node to cluster {a}"
            )),
            _ => Ok(()),
        }
    }
}

/// The services a node serves to its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Service {
    /// `tandem init`: bootstrap the cluster on this node.
    Init,
    /// A new node asks for a node id.
    Join,
    /// A KV request forwarded to this node's replica of a range.
    Kv,
    /// A row-lock request for a range this node holds the lease of (may wait for minutes).
    Locks,
    /// A raft snapshot for a replica on this node.
    Snapshot,
    /// Node status (`tandem node status`).
    Status,
    /// Physical replication: partition processors run for another node's ingestion job.
    Replication,
}

/// One unit on a node connection.
#[derive(Debug, Serialize, Deserialize)]
pub enum Frame {
    /// The first frame in each direction.
    Hello(Hello),
    /// A raft message (protobuf bytes) for this node's replica of `range`.
    Raft {
        /// The range.
        range: RangeId,
        /// The sending node.
        from: Option<NodeId>,
        /// The sender's clock when it sent the message: the receiver's clock moves up to it
        /// before the message is stepped, so a leader that hands its lease over (its last
        /// message carries its clock) never served a read above the new leaseholder's clock.
        now: crate::clock::Timestamp,
        /// The encoded `raft::eraftpb::Message`.
        #[serde(with = "serde_bytes")]
        msg: Vec<u8>,
    },
    /// A call.
    Request {
        /// Matches the response.
        id: u64,
        /// Which service.
        service: Service,
        /// The service's encoding of the request.
        #[serde(with = "serde_bytes")]
        body: Vec<u8>,
    },
    /// The answer to request `id`.
    Response {
        /// The request's id.
        id: u64,
        /// The service's encoding of the answer, or the error message.
        result: std::result::Result<serde_bytes::ByteBuf, String>,
    },
}

/// A byte stream a node connection runs over (TCP or TLS over TCP).
pub trait NodeStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> NodeStream for T {}

/// A framed node connection.
pub type FramedConn = Framed<Box<dyn NodeStream>, LengthDelimitedCodec>;

/// Wraps a stream (after the preface and TLS) into frames.
pub fn framed(stream: Box<dyn NodeStream>) -> FramedConn {
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec();
    Framed::new(stream, codec)
}

/// Encodes a frame.
pub fn encode(frame: &Frame) -> Result<bytes::Bytes> {
    postcard::to_stdvec(frame)
        .map(bytes::Bytes::from)
        .map_err(|e| RpcError::Protocol(format!("encode frame: {e}")))
}

/// Decodes a frame.
pub fn decode(raw: &[u8]) -> Result<Frame> {
    postcard::from_bytes(raw).map_err(|e| RpcError::Protocol(format!("undecodable frame: {e}")))
}

/// Sends one frame.
pub async fn send(conn: &mut FramedConn, frame: &Frame) -> Result<()> {
    let bytes = encode(frame)?;
    conn.send(bytes)
        .await
        .map_err(|e| RpcError::Protocol(format!("write frame: {e}")))
}

/// Reads one frame; `None` when the peer closed the connection.
pub async fn recv(conn: &mut FramedConn) -> Result<Option<Frame>> {
    match conn.next().await {
        None => Ok(None),
        Some(Ok(b)) => decode(&b).map(Some),
        Some(Err(e)) => Err(RpcError::Protocol(format!("read frame: {e}"))),
    }
}

/// Encodes a service body.
pub fn encode_body<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(v).map_err(|e| RpcError::Protocol(format!("encode body: {e}")))
}

/// Decodes a service body.
pub fn decode_body<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T> {
    postcard::from_bytes(raw).map_err(|e| RpcError::Protocol(format!("undecodable body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_garbage_is_an_error() {
        let f = Frame::Request {
            id: 7,
            service: Service::Kv,
            body: vec![1, 2, 3],
        };
        let b = encode(&f).expect("encode");
        match decode(&b).expect("decode") {
            Frame::Request { id, service, body } => {
                assert_eq!((id, service, body), (7, Service::Kv, vec![1, 2, 3]));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            decode(&[0xFF, 0xFF, 0xFF]),
            Err(RpcError::Protocol(_))
        ));
    }

    #[test]
    fn hellos_of_different_clusters_are_incompatible() {
        let a = Hello {
            cluster_id: Some("a".into()),
            node_id: Some(NodeId(1)),
        };
        let b = Hello {
            cluster_id: Some("b".into()),
            node_id: Some(NodeId(2)),
        };
        assert!(a.compatible(&b).is_err());
        assert!(a.compatible(&Hello::default()).is_ok());
        assert!(a.compatible(&a.clone()).is_ok());
    }
}
