//! Transaction records at their anchor: heartbeats, commit/abort, pushes and removal.
//!
//! A pending record is alive while its coordinator heartbeats it (within
//! `kv.transaction.abandoned_after`) or while this node's [`LiveTxns`](crate::actors::range::live_txns::LiveTxns) says its coordinator is
//! still committing it here: only a record that is neither may be aborted by a pusher. Every
//! change goes through raft under the anchor's latch; a record that is gone or finalised makes
//! heartbeats and commits fail with `TxnAborted`.

use super::super::command::RaftCommand;
use super::super::error::{RangeError, Result};
use super::Replica;
use crate::clock::Timestamp;
use crate::ids::TxnId;
use crate::storage::WriteOp;
use crate::storage::keys::Span;
use crate::storage::mvcc;
use crate::storage::records::{TxnRecord, TxnStatus};

impl Replica {
    /// Refreshes a pending transaction record's heartbeat to now, so pushers do not take the
    /// transaction for abandoned while its coordinator is still committing. Fails with
    /// `TxnAborted` when the record is no longer pending; a record not written yet is left
    /// alone (the heartbeat starts with the commit).
    pub async fn heartbeat_txn(&self, anchor: &[u8], txn: TxnId) -> Result<()> {
        let (_guard, _) = self
            .begin_write(vec![Span::point(anchor)], &[], Some(txn), false)
            .await?;
        let mut rec = match mvcc::get_txn_record(&self.engine, anchor, txn)? {
            Some(r) if r.status == TxnStatus::Pending => r,
            Some(r) => return Err(RangeError::TxnAborted(format!("record is {:?}", r.status))),
            // Not written yet: the coordinator heartbeats from the start of its commit.
            None => return Ok(()),
        };
        rec.heartbeat_wall = self.clock.now().wall;
        self.put_txn_record(anchor, rec).await
    }

    /// Finalises a transaction record: commit at `ts` (only if still pending) or abort.
    pub async fn end_txn(
        &self,
        anchor: &[u8],
        txn: TxnId,
        commit: bool,
        ts: Timestamp,
    ) -> Result<()> {
        let (_guard, _) = self
            .begin_write(vec![Span::point(anchor)], &[], Some(txn), false)
            .await?;
        let rec = mvcc::get_txn_record(&self.engine, anchor, txn)?;
        let mut rec = match rec {
            Some(r) if r.status == TxnStatus::Pending => r,
            Some(r) if r.status == TxnStatus::Aborted && !commit => return Ok(()),
            // A commit retried after an ambiguous answer finds its own commit.
            Some(r) if r.status == TxnStatus::Committed && commit && r.ts == ts => return Ok(()),
            Some(r) => return Err(RangeError::TxnAborted(format!("record is {:?}", r.status))),
            None if !commit => return Ok(()),
            None => return Err(RangeError::TxnAborted("record not found".into())),
        };
        rec.status = if commit {
            TxnStatus::Committed
        } else {
            TxnStatus::Aborted
        };
        rec.ts = ts;
        self.put_txn_record(anchor, rec).await
    }

    /// Replicates a new version of the record at `anchor` (the caller holds its latch).
    async fn put_txn_record(&self, anchor: &[u8], record: TxnRecord) -> Result<()> {
        self.propose(RaftCommand {
            ops: vec![WriteOp::PutTxnRecord {
                anchor: anchor.to_vec(),
                record,
            }],
            split: None,
        })
        .await
    }

    /// Pushes the transaction that owns an intent written at `intent_ts`: returns its record if
    /// it is finalised, aborts it if it is abandoned (heartbeat expired and not committing on
    /// this node, see [`crate::actors::range::live_txns`]), or fails with
    /// [`RangeError::TxnPending`] while it is alive.
    ///
    /// A missing record is either not written yet (a committer writes its record and its other
    /// intents at once) or already removed (after every intent was resolved). While the intent
    /// is younger than the expiry (or its committer is registered here) that counts as pending;
    /// after, the push writes an aborted record in its place, which the committer's record
    /// write then finds (it fails), so an intent resolved away as aborted never belongs to a
    /// transaction that commits later.
    pub async fn push_txn(
        &self,
        anchor: &[u8],
        txn: TxnId,
        intent_ts: Timestamp,
    ) -> Result<TxnRecord> {
        let (_guard, _) = self
            .begin_write(vec![Span::point(anchor)], &[], None, false)
            .await?;
        let now = self.clock.now();
        let expiry = self.settings.txn_expiry.as_nanos() as u64;
        match mvcc::get_txn_record(&self.engine, anchor, txn)? {
            None => {
                if now.wall.saturating_sub(intent_ts.wall) < expiry || self.live_txns.contains(txn)
                {
                    return Err(RangeError::TxnPending(txn.to_string()));
                }
                let aborted = TxnRecord {
                    txn_id: txn,
                    status: TxnStatus::Aborted,
                    ts: now,
                    heartbeat_wall: 0,
                };
                self.put_txn_record(anchor, aborted.clone()).await?;
                Ok(aborted)
            }
            Some(r) if r.status != TxnStatus::Pending => Ok(r),
            Some(r) => {
                let age = now.wall.saturating_sub(r.heartbeat_wall);
                if age < expiry || self.live_txns.contains(txn) {
                    return Err(RangeError::TxnPending(txn.to_string()));
                }
                let aborted = TxnRecord {
                    status: TxnStatus::Aborted,
                    ..r
                };
                self.put_txn_record(anchor, aborted.clone()).await?;
                Ok(aborted)
            }
        }
    }

    /// Removes a finalised transaction record (after all its intents are resolved).
    pub async fn delete_txn_record(&self, anchor: &[u8], txn: TxnId) -> Result<()> {
        let (_guard, _) = self
            .begin_write(vec![Span::point(anchor)], &[], Some(txn), false)
            .await?;
        self.propose(RaftCommand {
            ops: vec![WriteOp::DeleteTxnRecord {
                anchor: anchor.to_vec(),
                txn_id: txn,
            }],
            split: None,
        })
        .await
    }
}
