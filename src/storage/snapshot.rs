//! Raft snapshots of a range: every replicated record in its span, to initialise a replica on
//! another node (a new voter, or one too far behind for the log).
//!
//! A snapshot holds the range descriptor and the raw records of the span in the three
//! replicated partitions: MVCC versions (`[mvcc_key_prefix(start), mvcc_key_prefix(end))`),
//! intents (user keys in the span) and transaction records (anchors in the span). It is built
//! by the leader's range actor between two applies, so it is exactly the state at the applied
//! index the snapshot's metadata names. Applying it replaces everything the receiving node has in
//! that span, in one batch with the new raft state; a snapshot that does not decode is an error
//! and changes nothing.

use super::Engine;
use super::error::{Result, StorageError};
use super::keys::{self, Span};
use super::records::{RangeDescriptor, decode, encode};
use fjall::OwnedWriteBatch;
use serde::{Deserialize, Serialize};

/// Bytes of a transaction id at the end of a transaction record key.
const TXN_ID_LEN: usize = 16;

/// The contents of a range snapshot.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SnapshotData {
    /// The range as of the snapshot.
    pub desc: RangeDescriptor,
    /// Raw `mvcc` partition records.
    pub mvcc: Vec<Record>,
    /// Raw `locks` partition records.
    pub locks: Vec<Record>,
    /// Raw `txns` partition records.
    pub txns: Vec<Record>,
}

/// One raw key-value record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Partition key.
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    /// Value.
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
}

fn mvcc_bounds(span: &Span) -> (Vec<u8>, Vec<u8>) {
    (
        keys::mvcc_key_prefix(span.start.as_bytes()),
        keys::mvcc_key_prefix(span.end.as_bytes()),
    )
}

fn txn_bounds(span: &Span) -> (Vec<u8>, Vec<u8>) {
    let mut hi = span.end.0.clone();
    hi.extend_from_slice(&[0xFF; TXN_ID_LEN + 1]);
    (span.start.0.clone(), hi)
}

fn txn_anchor_in(span: &Span, key: &[u8]) -> bool {
    key.len() >= TXN_ID_LEN && span.contains_key(&key[..key.len() - TXN_ID_LEN])
}

fn collect(
    items: impl Iterator<Item = fjall::Guard>,
    keep: impl Fn(&[u8]) -> bool,
) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for item in items {
        let (k, v) = item.into_inner()?;
        if keep(&k) {
            out.push(Record {
                key: k.to_vec(),
                value: v.to_vec(),
            });
        }
    }
    Ok(out)
}

/// Reads the snapshot of `desc`'s span from the engine.
pub fn build(engine: &Engine, desc: &RangeDescriptor) -> Result<Vec<u8>> {
    let span = &desc.span;
    let (mlo, mhi) = mvcc_bounds(span);
    let (tlo, thi) = txn_bounds(span);
    let data = SnapshotData {
        desc: desc.clone(),
        mvcc: collect(engine.mvcc_range(&mlo, &mhi), |_| true)?,
        locks: collect(
            engine
                .locks()
                .range(span.start.as_bytes()..span.end.as_bytes()),
            |_| true,
        )?,
        txns: collect(engine.txns().range(tlo..thi), |k| txn_anchor_in(span, k))?,
    };
    Ok(encode(&data))
}

/// Decodes a snapshot.
pub fn decode_data(raw: &[u8]) -> Result<SnapshotData> {
    decode(raw).map_err(|e| StorageError::Codec(format!("undecodable range snapshot: {e}")))
}

/// Adds to `batch` the removal of everything in `span` and the snapshot's records.
pub fn apply(engine: &Engine, batch: &mut OwnedWriteBatch, data: &SnapshotData) -> Result<()> {
    let span = &data.desc.span;
    let (mlo, mhi) = mvcc_bounds(span);
    for r in collect(engine.mvcc_range(&mlo, &mhi), |_| true)? {
        batch.remove(engine.mvcc_partition(&r.key), r.key);
    }
    for r in collect(
        engine
            .locks()
            .range(span.start.as_bytes()..span.end.as_bytes()),
        |_| true,
    )? {
        batch.remove(engine.locks(), r.key);
    }
    let (tlo, thi) = txn_bounds(span);
    for r in collect(engine.txns().range(tlo..thi), |k| txn_anchor_in(span, k))? {
        batch.remove(engine.txns(), r.key);
    }
    for r in &data.mvcc {
        batch.insert(
            engine.mvcc_partition(&r.key),
            r.key.clone(),
            r.value.clone(),
        );
    }
    for r in &data.locks {
        batch.insert(engine.locks(), r.key.clone(), r.value.clone());
    }
    for r in &data.txns {
        batch.insert(engine.txns(), r.key.clone(), r.value.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::ids::{NodeId, RangeId, ReplicaId, TxnId};
    use crate::storage::records::{ReplicaDescriptor, TxnRecord, TxnStatus};
    use crate::storage::{EngineOptions, WriteOp};

    fn put(e: &Engine, ops: &[WriteOp]) {
        let mut b = e.batch();
        for op in ops {
            e.add_op(&mut b, op);
        }
        b.commit().expect("commit");
    }

    fn version(key: &[u8], wall: u64) -> WriteOp {
        WriteOp::PutVersion {
            key: key.to_vec(),
            ts: Timestamp::from_wall(wall),
            value: Some(format!("v{wall}").into_bytes()),
        }
    }

    #[test]
    fn a_snapshot_carries_its_span_and_replaces_the_receivers_copy() {
        let desc = RangeDescriptor {
            range_id: RangeId(9),
            span: Span::new(b"b".to_vec(), b"d".to_vec()),
            replicas: vec![ReplicaDescriptor {
                node_id: NodeId(1),
                replica_id: ReplicaId(1),
            }],
            generation: 0,
        };
        let record = TxnRecord {
            txn_id: TxnId(7),
            status: TxnStatus::Pending,
            ts: Timestamp::from_wall(5),
            heartbeat_wall: 5,
        };
        let (d1, d2) = (
            tempfile::tempdir().expect("t"),
            tempfile::tempdir().expect("t"),
        );
        let src = Engine::open(d1.path(), &EngineOptions::default()).expect("open");
        put(
            &src,
            &[
                version(b"a", 1),
                version(b"b", 1),
                version(b"b", 2),
                version(b"c\x00", 3),
                version(b"d", 4),
                WriteOp::PutTxnRecord {
                    anchor: b"c".to_vec(),
                    record: record.clone(),
                },
                WriteOp::PutTxnRecord {
                    anchor: b"d".to_vec(),
                    record,
                },
            ],
        );
        let raw = build(&src, &desc).expect("build");
        let data = decode_data(&raw).expect("decode");
        assert_eq!(data.mvcc.len(), 3, "b@1, b@2, c\\0@3 only");
        assert_eq!(data.txns.len(), 1, "the record anchored at c only");
        // The receiver has stale data in the span and its own data outside it.
        let dst = Engine::open(d2.path(), &EngineOptions::default()).expect("open");
        put(
            &dst,
            &[version(b"a", 9), version(b"bb", 9), version(b"d", 9)],
        );
        let mut b = dst.batch();
        apply(&dst, &mut b, &data).expect("apply");
        b.commit().expect("commit");
        let keys: Vec<(Vec<u8>, u64)> = dst
            .mvcc_range(&[], &keys::mvcc_key_prefix(keys::KEY_MAX))
            .map(|i| {
                let (k, _) = i.into_inner().expect("kv");
                let (k, ts) = keys::decode_mvcc_key(&k).expect("key");
                (k, ts.wall)
            })
            .collect();
        assert_eq!(
            keys,
            vec![
                (b"a".to_vec(), 9),
                (b"b".to_vec(), 2),
                (b"b".to_vec(), 1),
                (b"c\x00".to_vec(), 3),
                (b"d".to_vec(), 9)
            ]
        );
        assert!(decode_data(&[0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }
}
