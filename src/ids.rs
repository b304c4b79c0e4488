//! Identifier newtypes shared by every layer.
//!
//! Every id that crosses a function boundary is one of these types, never a bare integer, so a
//! range id can never be passed where a tenant id is expected. Each has a `Display` that matches
//! how CockroachDB prints it (`r12`, `n1`, bare numbers for tenants).

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident, $inner:ty, $fmt:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, $fmt, self.0)
            }
        }
    };
}

id_newtype!(
    /// A node of a cluster (1-based).
    NodeId, u64, "n{}"
);
id_newtype!(
    /// A range: one raft group over a contiguous key span.
    RangeId, u64, "r{}"
);
id_newtype!(
    /// One replica of a range; also its raft peer id.
    ReplicaId, u64, "{}"
);
id_newtype!(
    /// A virtual cluster (tenant). 1 is the system virtual cluster.
    TenantId, u64, "{}"
);
id_newtype!(
    /// A KV transaction: random 128 bits, unique per attempt.
    TxnId, u128, "{:032x}"
);
id_newtype!(
    /// A job (a replication ingestion or producer job), as `SHOW JOBS` lists it.
    JobId, u64, "{}"
);
id_newtype!(
    /// A rangefeed registration on one replica.
    RegistrationId, u64, "{}"
);

impl TenantId {
    /// The system virtual cluster.
    pub const SYSTEM: TenantId = TenantId(1);
}

impl TxnId {
    /// A fresh random transaction id.
    pub fn random() -> TxnId {
        TxnId(rand::random::<u128>())
    }
}
