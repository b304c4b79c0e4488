//! Deadlocks across nodes.
//!
//! A node's [`LockTable`](super::LockTable) sees the waits queued in it, so a cycle of waits
//! whose locks all live on one node is refused at once ([`super::Acquired::Deadlock`]). A cycle
//! through locks on several nodes is found the way PostgreSQL finds deadlocks after
//! `deadlock_timeout`: a transaction that has waited for [`DEADLOCK_TIMEOUT`] collects the
//! wait-for edges of every node it knows ([`super::LockTable::wait_edges`], over
//! [`super::remote`]'s `Edges` call), and looks for a cycle through itself; it then looks again
//! every [`DEADLOCK_TIMEOUT`] while it still waits.
//!
//! One side only: each transaction on a cycle finds it, but only the one with the highest id
//! on the cycle it found gives up (40001). The transaction with the highest id of all those on
//! cycles is then always the highest on the cycle it finds, so every deadlock loses at least
//! one member, and normally exactly one. Edges are collected node by node, not in one snapshot,
//! so a cycle may be seen that was never whole (a wait that ended as another began); the price
//! is a spurious 40001, which clients retry. A node that does not answer within
//! [`EDGES_TIMEOUT`] contributes no edges (a cycle through it is found on a later look).

use super::remote::LockCall;
use crate::ids::TxnId;
use crate::kv::Store;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

/// How long a transaction waits before it looks for a deadlock across nodes.
pub const DEADLOCK_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a node may take to answer with its edges.
const EDGES_TIMEOUT: Duration = Duration::from_secs(1);

/// The members of a cycle of waits through `txn` in `edges` (waiter, waited-for), if any.
pub fn cycle_through(edges: &[(TxnId, TxnId)], txn: TxnId) -> Option<Vec<TxnId>> {
    let mut next: HashMap<TxnId, Vec<TxnId>> = HashMap::new();
    for (a, b) in edges {
        next.entry(*a).or_default().push(*b);
    }
    let mut parent: HashMap<TxnId, TxnId> = HashMap::new();
    let mut seen: HashSet<TxnId> = HashSet::from([txn]);
    let mut queue = VecDeque::from([txn]);
    while let Some(cur) = queue.pop_front() {
        for &n in next.get(&cur).map(Vec::as_slice).unwrap_or_default() {
            if n == txn {
                let mut cycle = vec![cur];
                let mut at = cur;
                while let Some(&p) = parent.get(&at) {
                    cycle.push(p);
                    at = p;
                }
                return Some(cycle);
            }
            if seen.insert(n) {
                parent.insert(n, cur);
                queue.push_back(n);
            }
        }
    }
    None
}

/// Whether `txn` is the one to give up on a deadlock found in `edges` (see the module docs).
pub fn is_victim(edges: &[(TxnId, TxnId)], txn: TxnId) -> bool {
    cycle_through(edges, txn).is_some_and(|c| c.iter().max() == Some(&txn))
}

impl Store {
    /// The wait-for edges of this node and of every other node that answers in time.
    pub async fn cluster_wait_edges(&self) -> Vec<(TxnId, TxnId)> {
        let mut edges = self.lock_table().wait_edges();
        let Some(peers) = self.peers() else {
            return edges;
        };
        let calls = peers.known_addresses().into_iter().map(|addr| {
            let store = self.clone();
            async move {
                store
                    .call_locks(&addr, LockCall::Edges, EDGES_TIMEOUT)
                    .await
            }
        });
        for reply in futures::future::join_all(calls).await {
            match reply {
                Ok(super::remote::LockReply::Edges(e)) => edges.extend(e),
                Ok(_) => {}
                Err(e) => tracing::debug!("deadlock detection: {e}"),
            }
        }
        edges
    }

    /// Completes when `txn`, waiting for a lock, is the one to give up on a deadlock across
    /// nodes: after [`DEADLOCK_TIMEOUT`], then at that interval. Never completes on a node
    /// without peers (its own table finds every cycle there at once).
    pub async fn deadlock_victim(&self, txn: TxnId) {
        if self.peers().is_none_or(|p| p.known_addresses().is_empty()) {
            return std::future::pending().await;
        }
        loop {
            tokio::time::sleep(DEADLOCK_TIMEOUT).await;
            let edges = self.cluster_wait_edges().await;
            if is_victim(&edges, txn) {
                tracing::debug!(%txn, "deadlock across nodes: giving up");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u128) -> TxnId {
        TxnId(n)
    }

    #[test]
    fn cycles_are_found_through_the_asking_transaction_only() {
        // 1 -> 2 -> 3 -> 1, and 4 -> 1 (4 waits, but is on no cycle).
        let edges = vec![(t(1), t(2)), (t(2), t(3)), (t(3), t(1)), (t(4), t(1))];
        let mut c = cycle_through(&edges, t(1)).expect("cycle");
        c.sort();
        assert_eq!(c, vec![t(1), t(2), t(3)]);
        assert!(cycle_through(&edges, t(4)).is_none());
        assert!(cycle_through(&[(t(1), t(2)), (t(2), t(3))], t(1)).is_none());
        assert!(cycle_through(&[], t(1)).is_none());
    }

    #[test]
    fn exactly_one_member_of_a_cycle_is_the_victim() {
        let edges = vec![(t(5), t(9)), (t(9), t(2)), (t(2), t(5))];
        let victims: Vec<u128> = [2, 5, 9]
            .into_iter()
            .filter(|n| is_victim(&edges, t(*n)))
            .collect();
        assert_eq!(victims, vec![9]);
        // Two cycles sharing 5: {5, 1} and {5, 9}; 9 gives up for one, 5 for the other.
        let edges = vec![(t(5), t(1)), (t(1), t(5)), (t(5), t(9)), (t(9), t(5))];
        assert!(is_victim(&edges, t(9)));
        assert!(!is_victim(&edges, t(1)));
    }
}
