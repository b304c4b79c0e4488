//! The transaction record while a two-phase commit runs: its heartbeat (from the start of the
//! commit until it ends) and the record written on its own before any intent, for a
//! transaction old enough that its intents would look abandoned (see the parent module).

use super::{Result, Txn, UNAVAILABLE_RETRIES};
use crate::actors::range::error::RangeError;
use crate::ids::TxnId;
use crate::kv::Store;
use crate::storage::records::TxnRecord;
use std::time::Duration;

/// Heartbeats a pending transaction record until dropped.
pub(super) struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    pub(super) fn start(store: Store, anchor: Vec<u8>, txn: TxnId) -> Heartbeat {
        Heartbeat(tokio::spawn(async move {
            let mut tick = tokio::time::interval(store.settings().txn_heartbeat_interval());
            tick.tick().await;
            loop {
                tick.tick().await;
                let r = store
                    .with_replica(&anchor, |r| {
                        let anchor = anchor.clone();
                        async move { r.heartbeat_txn(&anchor, txn).await }
                    })
                    .await;
                if let Err(e) = r {
                    // Aborted by a pusher (the commit will find out) or unreachable: the
                    // next tick tries again only in the second case.
                    tracing::debug!(%txn, "transaction heartbeat: {e}");
                    if matches!(e, RangeError::TxnAborted(_)) {
                        break;
                    }
                }
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Txn {
    /// Writes the pending record on its own, sent again while its range is unavailable.
    pub(super) async fn write_record_alone(&self, anchor: &[u8], record: &TxnRecord) -> Result<()> {
        let (id, ts) = (self.id, self.write_ts);
        let mut unavailable = 0;
        loop {
            let r = self
                .store
                .with_replica(anchor, |r| {
                    let rec = Some(record.clone());
                    async move { r.write_intents(id, ts, anchor, Vec::new(), rec).await }
                })
                .await;
            match r {
                Ok(_) => return Ok(()),
                Err(RangeError::Unavailable { .. }) if unavailable < UNAVAILABLE_RETRIES => {
                    unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(10 * u64::from(unavailable))).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
