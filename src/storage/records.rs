//! Records the store persists besides raw MVCC values: write intents, transaction records, range
//! descriptors and per-range apply state. All are encoded with postcard; decoding failures are
//! [`StorageError::Codec`], never panics.

use crate::clock::Timestamp;
use crate::ids::{NodeId, RangeId, ReplicaId, TxnId};
use crate::storage::error::Result;
use crate::storage::keys::{Key, Span};
use serde::{Deserialize, Serialize};

/// A provisional value of an uncommitted transaction (the lock on `key`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The writing transaction.
    pub txn_id: TxnId,
    /// The provisional write timestamp.
    pub ts: Timestamp,
    /// The value; `None` is a delete.
    #[serde(with = "serde_bytes")]
    pub value: Option<Vec<u8>>,
    /// Where the transaction record lives.
    pub anchor: Key,
}

/// The state of a transaction record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnStatus {
    /// Writing intents; not committed yet.
    Pending,
    /// Committed at the record's timestamp: every intent is a committed value.
    Committed,
    /// Aborted: every intent is to be discarded.
    Aborted,
}

/// A transaction record, stored at the transaction's anchor key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRecord {
    /// The transaction.
    pub txn_id: TxnId,
    /// Pending, committed or aborted.
    pub status: TxnStatus,
    /// The commit timestamp (for `Committed`), else the provisional one.
    pub ts: Timestamp,
    /// Wall time (nanos) of the last heartbeat; a pending record older than the expiry may be
    /// aborted by a pusher.
    pub heartbeat_wall: u64,
}

/// One replica of a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaDescriptor {
    /// The node holding the replica.
    pub node_id: NodeId,
    /// The replica's raft peer id.
    pub replica_id: ReplicaId,
}

/// A range: its span, its replicas and its generation (bumped by every split).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeDescriptor {
    /// The range.
    pub range_id: RangeId,
    /// The span it covers.
    pub span: Span,
    /// Its replicas (raft voters).
    pub replicas: Vec<ReplicaDescriptor>,
    /// Bumped on every split.
    pub generation: u64,
}

/// The applied state of a replica, written atomically with every applied batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyState {
    /// Index of the last applied raft entry.
    pub applied_index: u64,
    /// Log entries at or below this index have been deleted.
    pub truncated_index: u64,
    /// Term of the entry at `truncated_index`.
    pub truncated_term: u64,
}

/// Encodes a record with postcard.
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).expect("postcard encoding of in-memory records does not fail")
}

/// Decodes a record written by [`encode`].
pub fn decode<'a, T: Deserialize<'a>>(b: &'a [u8]) -> Result<T> {
    Ok(postcard::from_bytes(b)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::WriteOp;

    /// Byte strings are encoded with `serde_bytes`; postcard writes them exactly as it wrote the
    /// former `Vec<u8>` sequences, so stores and raft logs written before still decode.
    #[test]
    fn byte_strings_keep_the_sequence_encoding() {
        #[derive(Serialize)]
        enum OldOp {
            PutVersion {
                key: Vec<u8>,
                ts: Timestamp,
                value: Option<Vec<u8>>,
            },
        }
        let key = b"\x00tenant/key".to_vec();
        let value = vec![7u8; 300];
        let ts = Timestamp::from_wall(42);
        let old = encode(&OldOp::PutVersion {
            key: key.clone(),
            ts,
            value: Some(value.clone()),
        });
        let new = WriteOp::PutVersion {
            key,
            ts,
            value: Some(value),
        };
        assert_eq!(encode(&new), old);
        assert_eq!(decode::<WriteOp>(&old).expect("decodes"), new);
        let intent = Intent {
            txn_id: TxnId(9),
            ts,
            value: None,
            anchor: Key(b"a".to_vec()),
        };
        let old_intent = encode(&(TxnId(9), ts, None::<Vec<u8>>, b"a".to_vec()));
        assert_eq!(encode(&intent), old_intent);
    }
}
