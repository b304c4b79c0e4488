//! The cluster id: a UUID created once, on first use, and stored in the system keyspace at
//! `0x04 "cid"` (replicated and durable like any data). Physical replication records it as a
//! stream's source and in a promoted cluster's lineage (`<cluster id>:<tenant id>`).

use super::Store;
use super::error::{KvError, Result};

const CLUSTER_ID_KEY: &[u8] = &[0x04, b'c', b'i', b'd'];

impl Store {
    /// This cluster's id, created on first call.
    pub async fn cluster_id(&self) -> Result<String> {
        let fresh = uuid::Uuid::new_v4().to_string();
        let (id, _) = self
            .run_txn(20, |txn| {
                let fresh = fresh.clone();
                Box::pin(async move {
                    match txn.get(CLUSTER_ID_KEY).await? {
                        Some(v) => String::from_utf8(v).map_err(|_| {
                            KvError::InvalidArgument("corrupt cluster id record".into())
                        }),
                        None => {
                            txn.put(CLUSTER_ID_KEY, fresh.as_bytes())?;
                            Ok(fresh)
                        }
                    }
                })
            })
            .await?;
        Ok(id)
    }
}
