//! Group commit: one fsync for many waiting writers.
//!
//! Writers put their data into fjall with buffered durability and then call
//! [`GroupSyncer::sync`]. A dedicated thread loops: it takes every request queued so far, calls
//! `Database::persist(SyncData)` once, and answers them all. A request that arrives while an fsync
//! is running waits for the next one, so concurrent commits share fsyncs. If the fsync fails the
//! error goes to every waiter of that round; fjall poisons itself and the node must stop.

use crate::storage::error::{Result, StorageError};
use fjall::{Database, PersistMode};
use std::sync::mpsc;
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};
use tokio::sync::oneshot;

type Waiter = oneshot::Sender<std::result::Result<(), String>>;

/// Handle to the group-commit thread. Cheap to clone.
#[derive(Clone)]
pub struct GroupSyncer {
    tx: mpsc::Sender<Waiter>,
    db: Database,
    stats: Arc<SyncStats>,
}

/// Counters of the syncer.
#[derive(Debug, Default)]
pub struct SyncStats {
    /// fsyncs performed.
    pub syncs: AtomicU64,
    /// Requests served.
    pub requests: AtomicU64,
}

impl GroupSyncer {
    /// Starts the sync thread for `db`. The thread exits when every handle is dropped.
    pub fn start(db: Database) -> GroupSyncer {
        let (tx, rx) = mpsc::channel::<Waiter>();
        let stats = Arc::new(SyncStats::default());
        let st = stats.clone();
        let handle = db.clone();
        std::thread::Builder::new()
            .name("tandem-fsync".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while let Ok(w) = rx.try_recv() {
                        batch.push(w);
                    }
                    let res = db.persist(PersistMode::SyncData).map_err(|e| e.to_string());
                    st.syncs.fetch_add(1, Ordering::Relaxed);
                    st.requests.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    for w in batch {
                        let _ = w.send(res.clone());
                    }
                }
            })
            .expect("spawning the fsync thread at startup");
        GroupSyncer {
            tx,
            db: handle,
            stats,
        }
    }

    /// Waits until everything written before this call is on disk.
    pub async fn sync(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(tx).map_err(|_| StorageError::SyncerStopped)?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StorageError::Io(std::io::Error::other(e))),
            Err(_) => Err(StorageError::SyncerStopped),
        }
    }

    /// Blocking form of [`GroupSyncer::sync`] for start-up and shutdown paths (fsyncs directly).
    pub fn sync_blocking(&self) -> Result<()> {
        self.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    /// The syncer's counters.
    pub fn stats(&self) -> &SyncStats {
        &self.stats
    }
}
