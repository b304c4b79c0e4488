//! What one client may hold on this node: its share of the connections, the size of each
//! message, and the memory of its prepared statements and portals.
//!
//! - Connections: `server.max_connections_per_gateway` of the client's virtual cluster (as in
//!   CockroachDB: negative = unlimited, the default; 0 = no new connections; n = at most n open
//!   sessions of that virtual cluster on this node). A session that would exceed it gets FATAL
//!   53300 `sorry, too many clients already`. `root` and members of `admin` are exempt (they count,
//!   but are never refused), so an operator can always get in. Only new connections are
//!   checked: lowering the limit closes nothing.
//! - Message size: `sql.conn.max_read_buffer_message_size` of the virtual cluster, read once when
//!   the session starts (like CockroachDB, a change applies to new connections). Before
//!   authentication only small messages are accepted anyway (see [`super::decode`]).
//! - Memory: every prepared statement and portal holds a [`Reservation`] in the node's
//!   `--max-sql-memory` pool ([`MemoryPool`]) for as long as it exists; one that the pool cannot
//!   grant fails Parse / Bind with 53200, and Close, DEALLOCATE, Sync (for the unnamed portal)
//!   and the end of the connection give the memory back. (SQL-level `PREPARE` is not supported.)
//!   The connection's parse cache holds such reservations too; an entry the pool cannot take is
//!   simply not cached. A statement is charged a fixed 16 KiB plus 40 bytes per byte of its text:
//!   what a prepared statement was measured to cost (about 17 KiB for a 34-byte SELECT, 23 KiB
//!   for a 200-byte INSERT ... ON CONFLICT); a portal its parameters plus 512 bytes.
//!
//! Settings are read in their own KV transaction at session start; a failure to read them fails
//! the connection (FATAL, with the KV error's SQLSTATE) rather than admitting it unchecked.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::ids::TenantId;
use crate::kv::Store;
use crate::sql::cluster_settings::{self, parse_size};
use crate::sql::error::SqlError;
use crate::sql::exec::{MemoryPool, Reservation};
use crate::sql::sqlstate::SqlState;

use super::decode::{MAX_MESSAGE, MAX_MESSAGE_SETTING};

/// The connection-limit setting.
const MAX_CONNECTIONS_SETTING: &str = "server.max_connections_per_gateway";
/// 53300 too_many_connections.
const TOO_MANY_CONNECTIONS: SqlState = SqlState("53300");

/// The limits a new session of a virtual cluster gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SessionLimits {
    /// The largest statement or data message.
    pub(super) max_message: usize,
    /// Sessions of the virtual cluster allowed on this node (negative: unlimited).
    pub(super) max_connections: i64,
}

impl SessionLimits {
    /// The virtual cluster's settings.
    pub(super) async fn read(store: &Store, tenant: TenantId) -> Result<SessionLimits, SqlError> {
        let size = cluster_settings::tenant_value(store, tenant, MAX_MESSAGE_SETTING).await?;
        let conns = cluster_settings::tenant_value(store, tenant, MAX_CONNECTIONS_SETTING).await?;
        Ok(SessionLimits {
            max_message: parse_size(&size)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(MAX_MESSAGE),
            max_connections: conns.trim().parse().unwrap_or(-1),
        })
    }
}

/// Open sessions per virtual cluster on this node.
#[derive(Debug, Default)]
pub(super) struct SessionCounts(parking_lot::Mutex<HashMap<TenantId, usize>>);

/// One admitted session; gives its place back when dropped.
#[derive(Debug)]
pub(super) struct SessionSlot {
    counts: Arc<SessionCounts>,
    tenant: TenantId,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock();
        if let Some(n) = counts.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.tenant);
            }
        }
    }
}

impl SessionCounts {
    /// Open sessions of `tenant`.
    #[cfg(test)]
    fn open(&self, tenant: TenantId) -> usize {
        self.0.lock().get(&tenant).copied().unwrap_or(0)
    }

    /// Admits one more session of `tenant` unless that would exceed `limit` (negative:
    /// unlimited) and the user is not `exempt`: then FATAL-worthy 53300.
    pub(super) fn admit(
        self: &Arc<Self>,
        tenant: TenantId,
        limit: i64,
        exempt: bool,
    ) -> Result<SessionSlot, SqlError> {
        let mut counts = self.0.lock();
        let n = counts.entry(tenant).or_insert(0);
        let full = usize::try_from(limit).is_ok_and(|limit| *n >= limit);
        if full && !exempt {
            return Err(SqlError::new(
                TOO_MANY_CONNECTIONS,
                "sorry, too many clients already",
            )
            .with_hint(format!(
                "the limit of open connections per node is set by the {MAX_CONNECTIONS_SETTING} cluster setting"
            )));
        }
        *n += 1;
        Ok(SessionSlot {
            counts: self.clone(),
            tenant,
        })
    }
}

/// What one connection's prepared statements and portals hold in the node's memory pool, by
/// name (the unnamed ones under `""`).
#[derive(Debug, Default)]
pub(super) struct Held {
    pool: Option<Arc<MemoryPool>>,
    statements: BTreeMap<String, Reservation>,
    portals: BTreeMap<String, Reservation>,
}

impl Held {
    /// Charges from now on to `pool` (the session's).
    pub(super) fn set_pool(&mut self, pool: Arc<MemoryPool>) {
        self.pool = Some(pool);
    }

    /// The session's pool (None before the session starts).
    pub(super) fn pool(&self) -> Option<Arc<MemoryPool>> {
        self.pool.clone()
    }

    /// Replaces what statement `name` holds by `bytes` (53200 when the pool cannot grant them;
    /// the old statement's memory is given back first, as the statement it replaces goes).
    pub(super) fn statement(&mut self, name: &str, bytes: u64) -> Result<(), SqlError> {
        hold(&self.pool, &mut self.statements, name, bytes)
    }

    /// Replaces what portal `name` holds by `bytes` (53200 as for statements).
    pub(super) fn portal(&mut self, name: &str, bytes: u64) -> Result<(), SqlError> {
        hold(&self.pool, &mut self.portals, name, bytes)
    }

    /// Statement `name` is gone.
    pub(super) fn drop_statement(&mut self, name: &str) {
        self.statements.remove(name);
    }

    /// Portal `name` is gone.
    pub(super) fn drop_portal(&mut self, name: &str) {
        self.portals.remove(name);
    }

    /// Names of the named statements (for `DEALLOCATE ALL`).
    pub(super) fn named_statements(&self) -> Vec<String> {
        self.statements
            .keys()
            .filter(|n| !n.is_empty() && n.as_str() != ::pgwire::api::DEFAULT_NAME)
            .cloned()
            .collect()
    }

    /// Bytes held by statements and portals.
    #[cfg(test)]
    fn bytes(&self) -> u64 {
        self.statements
            .values()
            .chain(self.portals.values())
            .map(Reservation::bytes)
            .sum()
    }
}

fn hold(
    pool: &Option<Arc<MemoryPool>>,
    map: &mut BTreeMap<String, Reservation>,
    name: &str,
    bytes: u64,
) -> Result<(), SqlError> {
    map.remove(name);
    let Some(pool) = pool else {
        return Ok(());
    };
    map.insert(name.to_owned(), Reservation::of(pool, bytes)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_admitted_up_to_the_limit_and_superusers_always() {
        let counts = Arc::new(SessionCounts::default());
        let t = TenantId::SYSTEM;
        let a = counts.admit(t, 2, false).expect("first");
        let _b = counts.admit(t, 2, false).expect("second");
        let e = counts.admit(t, 2, false).expect_err("third");
        assert_eq!(e.state, TOO_MANY_CONNECTIONS);
        assert_eq!(e.message, "sorry, too many clients already");
        let root = counts.admit(t, 2, true).expect("exempt");
        assert_eq!(counts.open(t), 3);
        drop(root);
        drop(a);
        let _c = counts.admit(t, 2, false).expect("a place was freed");
        assert!(counts.admit(t, 0, false).is_err(), "0 admits nobody");
        let _d = counts.admit(t, -1, false).expect("negative is unlimited");
    }

    #[test]
    fn held_memory_is_replaced_by_name_and_given_back() {
        let pool = MemoryPool::new(1000);
        let mut held = Held::default();
        held.statement("s", 500)
            .expect("no pool yet: nothing charged");
        assert_eq!(pool.used(), 0);
        held.set_pool(pool.clone());
        held.statement("s", 400).expect("fits");
        held.statement("s", 700).expect("replaces the 400");
        assert_eq!(pool.used(), 700);
        let e = held.portal("", 400).expect_err("over");
        assert_eq!(e.state, SqlState::OUT_OF_MEMORY);
        held.portal("", 300).expect("fits");
        assert_eq!(held.bytes(), 1000);
        held.statement("", 1).expect_err("full");
        assert_eq!(held.named_statements(), vec!["s".to_string()]);
        held.drop_statement("s");
        held.drop_portal("");
        assert_eq!(pool.used(), 0);
        held.statement("t", 10).expect("fits");
        drop(held);
        assert_eq!(pool.used(), 0, "a closed connection gives everything back");
    }
}
