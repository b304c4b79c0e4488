//! The node port's target: [`tandem::rpc::listener::serve_connection`] (what the listener runs
//! for every node connection) of an insecure node over in-memory connections, with a handler
//! that serves `Status` calls (echoing the body reversed) and refuses the rest. Inputs: the
//! preface, hellos, requests, raft messages and unexpected frames, mutated at the byte and
//! frame level.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tandem::clock::Timestamp;
use tandem::ids::{NodeId, RangeId};
use tandem::rpc::listener::{NodeHandler, Peer, serve_connection};
use tandem::rpc::{Frame, Hello, PREFACE, Service};

use super::pg::drive;
use super::{Rng, chunks, mutate_bytes};

/// The node side of the fuzzed connections.
pub struct Echo {
    pub raft: AtomicU64,
    pub calls: AtomicU64,
}

impl Echo {
    fn hello() -> Hello {
        Hello {
            cluster_id: Some("fuzz".into()),
            node_id: Some(NodeId(1)),
        }
    }
}

#[async_trait::async_trait]
impl NodeHandler for Echo {
    fn hello(&self) -> Hello {
        Echo::hello()
    }

    async fn call(&self, _peer: &Peer, service: Service, body: Vec<u8>) -> Result<Vec<u8>, String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match service {
            Service::Status => Ok(body.into_iter().rev().collect()),
            other => Err(format!("{other:?} refused")),
        }
    }

    fn raft(
        &self,
        _peer: &Peer,
        _from: Option<NodeId>,
        _range: RangeId,
        _now: Timestamp,
        _msg: Vec<u8>,
    ) {
        self.raft.fetch_add(1, Ordering::Relaxed);
    }
}

/// A length-prefixed frame.
pub fn framed(frame: &Frame) -> Vec<u8> {
    let body = tandem::rpc::encode(frame).expect("encode");
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// Sends `chunks` on a new node connection and returns what came back until it closed.
pub async fn exchange(
    handler: &Arc<Echo>,
    chunks: Vec<Vec<u8>>,
    port: u16,
) -> Result<Vec<u8>, String> {
    let (client, server) = tokio::io::duplex(1 << 16);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let h: Arc<dyn NodeHandler> = handler.clone();
    tokio::spawn(serve_connection(Box::new(server), addr, None, h));
    drive(client, chunks).await
}

/// The frames in `out`.
fn frames(out: &[u8]) -> Result<Vec<Frame>, String> {
    let mut at = 0;
    let mut frames = Vec::new();
    while at < out.len() {
        let len = out
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or("partial length")?;
        let body = out.get(at + 4..at + 4 + len).ok_or("partial frame")?;
        frames.push(tandem::rpc::decode(body).map_err(|e| e.to_string())?);
        at += 4 + len;
    }
    Ok(frames)
}

/// A well-formed connection gets the hello and the answer to a `Status` call.
pub async fn healthy(handler: &Arc<Echo>) -> Result<(), String> {
    let mut bytes = PREFACE.to_vec();
    bytes.extend(framed(&Frame::Hello(Echo::hello())));
    bytes.extend(framed(&Frame::Request {
        id: 1,
        service: Service::Status,
        body: vec![1, 2, 3],
    }));
    let out = exchange(handler, vec![bytes], 1).await?;
    let got = frames(&out)?;
    match got.as_slice() {
        [
            Frame::Hello(_),
            Frame::Response {
                id: 1,
                result: Ok(b),
            },
        ] if b.to_vec() == vec![3u8, 2, 1] => Ok(()),
        other => Err(format!("unexpected answer: {other:?}")),
    }
}

fn random_frame(rng: &mut Rng) -> Frame {
    let service = *rng.pick(&[
        Service::Init,
        Service::Join,
        Service::Kv,
        Service::Snapshot,
        Service::Status,
        Service::Replication,
    ]);
    let len = rng.below(40);
    let body = rng.bytes(len);
    match rng.below(10) {
        0 => Frame::Hello(Hello {
            cluster_id: rng.chance(50).then(|| "other".to_string()),
            node_id: Some(NodeId(rng.next() % 8)),
        }),
        1..=3 => Frame::Raft {
            range: RangeId(rng.next() % 16),
            from: Some(NodeId(rng.next() % 8)),
            now: Timestamp::MIN,
            msg: body,
        },
        4 => Frame::Response {
            id: rng.next(),
            result: Ok(serde_bytes::ByteBuf::from(body)),
        },
        _ => Frame::Request {
            id: rng.next(),
            service,
            body,
        },
    }
}

/// The bytes of one iteration.
pub fn case(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = PREFACE.to_vec();
    if rng.chance(5) {
        mutate_bytes(rng, &mut bytes);
    }
    if rng.chance(90) {
        let mut hello = framed(&Frame::Hello(Echo::hello()));
        if rng.chance(10) {
            mutate_bytes(rng, &mut hello);
        }
        bytes.extend(hello);
    }
    for _ in 0..rng.below(12) {
        let mut f = match rng.below(10) {
            0 => {
                let len = rng.below(32);
                rng.bytes(len)
            }
            _ => framed(&random_frame(rng)),
        };
        match rng.below(10) {
            0 => mutate_bytes(rng, &mut f),
            1 if f.len() > 4 => {
                // Inside the payload, keeping the length right.
                let mut body = f.split_off(4);
                mutate_bytes(rng, &mut body);
                f = (body.len() as u32).to_be_bytes().to_vec();
                f.extend(body);
            }
            2 if f.len() >= 4 => {
                let len = rng.length(f.len() as i32 - 4).to_be_bytes();
                f[..4].copy_from_slice(&len);
            }
            _ => {}
        }
        bytes.extend(f);
    }
    bytes
}

/// Splits the case for writing.
pub fn case_chunks(rng: &mut Rng, bytes: &[u8]) -> Vec<Vec<u8>> {
    chunks(rng, bytes)
}
