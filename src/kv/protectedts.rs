//! Protected timestamps: records that stop MVCC GC from removing history a reader still needs
//! (physical replication protects its source span at its retained time).
//!
//! Records live in the system keyspace at `0x04 "pts" <id>` and are written transactionally, so
//! they are as durable and replicated as any data. GC of a range never removes a version that a
//! read at any protected timestamp over an overlapping span could see.

use super::Store;
use super::error::{KvError, Result};
use crate::clock::Timestamp;
use crate::storage::keys::Span;
use crate::storage::records::{decode, encode};
use serde::{Deserialize, Serialize};

const PTS_PREFIX: &[u8] = &[0x04, b'p', b't', b's'];

/// One protection record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedTimestamp {
    /// Record id.
    pub id: u128,
    /// The protected span.
    pub span: Span,
    /// Versions visible at this timestamp are kept.
    pub ts: Timestamp,
}

fn pts_key(id: u128) -> Vec<u8> {
    let mut k = PTS_PREFIX.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn pts_span() -> Span {
    let mut end = PTS_PREFIX.to_vec();
    end.push(0xFF);
    Span::new(PTS_PREFIX.to_vec(), end)
}

impl Store {
    /// Protects `span` at `ts`; returns the record id.
    pub async fn protect(&self, span: Span, ts: Timestamp) -> Result<u128> {
        let id = rand::random::<u128>();
        let rec = encode(&ProtectedTimestamp { id, span, ts });
        self.run_txn(100, |txn| {
            let rec = rec.clone();
            Box::pin(async move { txn.put(&pts_key(id), &rec) })
        })
        .await?;
        Ok(id)
    }

    /// Moves a protection record to `ts`.
    pub async fn update_protected(&self, id: u128, ts: Timestamp) -> Result<()> {
        self.run_txn(100, |txn| {
            Box::pin(async move {
                let raw = txn.get(&pts_key(id)).await?.ok_or_else(|| {
                    KvError::InvalidArgument(format!("no protected timestamp record {id:x}"))
                })?;
                let mut rec: ProtectedTimestamp = decode(&raw)?;
                rec.ts = ts;
                txn.put(&pts_key(id), &encode(&rec))
            })
        })
        .await?;
        Ok(())
    }

    /// Removes a protection record.
    pub async fn release_protected(&self, id: u128) -> Result<()> {
        self.run_txn(100, |txn| Box::pin(async move { txn.delete(&pts_key(id)) }))
            .await?;
        Ok(())
    }

    /// Every protection record.
    pub async fn protected_timestamps(&self) -> Result<Vec<ProtectedTimestamp>> {
        let mut txn = self.begin();
        let rows = txn.scan(&pts_span(), usize::MAX).await?;
        rows.iter()
            .map(|(_, v)| decode(v).map_err(KvError::from))
            .collect()
    }
}
