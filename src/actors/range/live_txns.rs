//! The transactions whose commit this node is coordinating right now.
//!
//! A pending transaction record counts as abandoned once its heartbeat is older than
//! `kv.transaction.abandoned_after`, but a heartbeat can be late without the transaction being
//! dead: it is a raft write to the anchor's range, and a big commit keeps the node's range
//! thread busy applying its own intents. So the coordinator also registers the transaction here
//! for as long as its commit runs (the [`LiveTxnGuard`] lives in the commit future: returning,
//! failing or being dropped unregisters it), and a push evaluated on this node never aborts a
//! registered transaction, whatever its heartbeat says. Only the heartbeat protects a
//! transaction whose anchor's leaseholder is another node. Nothing is persisted: after a
//! restart no transaction is registered, and the ones left pending expire as before.

use crate::ids::TxnId;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::Arc;

/// This node's committing transactions (cheap to clone; all clones share the set).
#[derive(Clone, Debug, Default)]
pub struct LiveTxns(Arc<Mutex<HashSet<TxnId>>>);

impl LiveTxns {
    /// Registers `txn` until the returned guard drops.
    pub fn register(&self, txn: TxnId) -> LiveTxnGuard {
        self.0.lock().insert(txn);
        LiveTxnGuard {
            txns: self.clone(),
            txn,
        }
    }

    /// Whether `txn`'s commit is running on this node.
    pub fn contains(&self, txn: TxnId) -> bool {
        self.0.lock().contains(&txn)
    }
}

/// Keeps a transaction registered in [`LiveTxns`] while alive.
#[derive(Debug)]
pub struct LiveTxnGuard {
    txns: LiveTxns,
    txn: TxnId,
}

impl Drop for LiveTxnGuard {
    fn drop(&mut self) {
        self.txns.0.lock().remove(&self.txn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_while_the_guard_lives() {
        let live = LiveTxns::default();
        let (a, b) = (TxnId::random(), TxnId::random());
        let guard = live.register(a);
        assert!(live.clone().contains(a));
        assert!(!live.contains(b));
        drop(guard);
        assert!(!live.contains(a));
    }
}
