//! The PostgreSQL wire protocol listener: TLS, authentication, virtual cluster routing, and the
//! simple and extended query protocols on top of [`crate::sql`].
//!
//! Built on the `pgwire` crate (referred to as `::pgwire` inside this module) for its message
//! types, authentication driver and per-message dispatch; reading and decoding what clients send
//! is our own:
//!
//! ```text
//!   TcpListener ──accept──► one task per connection (server.rs), any byte stream
//!                              │ SSLRequest / GSSENCRequest / TLS (rustls), each message read
//!                              │ within its size limit                      (driver.rs)
//!                              │ strict decoding into pgwire's messages     (decode.rs)
//!                              │ panics caught per message                  (guard.rs)
//!                              ▼
//!                           StartupHandler: options -ccluster=x ─► ConnectionRouter::route
//!                              │ cert CN == user │ SCRAM-SHA-256 │ --insecure   (auth.rs)
//!                              ▼
//!                           one sql::Session per connection
//!                              │ Query ─► Session::run            (handler.rs)
//!                              │ Parse/Bind/Describe/Execute ─► parser::parse, exec::describe,
//!                              │                                exec::execute
//!                              │ parameter types of Parse                  (params.rs)
//!                              │ connection limits, statement and portal memory (limits.rs)
//!                              │ COPY FROM STDIN: CopyData/CopyDone ─► sql::copy (copy.rs)
//!                              │ CancelRequest (own connection, BackendKeyData) ─► the session's
//!                              │   cancel flag; its running statement fails with 57014 (server.rs)
//!                              ▼
//!                           Datum ⇄ text/binary wire values, SqlError ⇄ ErrorResponse (encode.rs)
//! ```
//!
//! The node provides a [`ConnectionRouter`] (the tenant registry: which virtual cluster serves a
//! connection, its users, the session environment, whether the node drains) and calls
//! [`PgServer::start`]; [`PgServerHandle::drain`] stops it. Every error a client sees carries a
//! SQLSTATE, mapped from [`crate::sql::error::SqlError`] in one place ([`encode`]).
//!
//! Nothing a client sends can crash the node, hang it or make it buffer without bound; a
//! malformed or hostile connection only ends itself:
//! - Sizes: the first packet is at most 10,000 bytes, authentication messages 64 KiB, Query,
//!   Parse, Bind, CopyData and CopyFail the virtual cluster's
//!   `sql.conn.max_read_buffer_message_size` (16 MiB by default; read when the session starts,
//!   so a change applies to new connections), other messages 64 KiB. A length outside its range
//!   is FATAL 08P01, checked before the body is read (a too-large statement or data message is
//!   told `message size X bigger than maximum allowed message size Y` with a hint naming the
//!   setting, and what the client still sends of it is read and discarded for a bounded time so
//!   the error is not lost to a connection reset); buffers grow with the bytes that arrive, not
//!   with the length announced. Startup and authentication must finish within 60 s.
//! - Connections and memory ([`limits`]): `server.max_connections_per_gateway` sessions per
//!   virtual cluster on the node (53300 beyond it; root and admins exempt); prepared statements,
//!   portals and the rows of a COPY being received hold memory of the node's `--max-sql-memory`
//!   pool, shared with running statements (53200 when it is exhausted).
//! - Structure: every message is decoded from exactly its announced bytes (fields inside the
//!   message, NUL-terminated strings, counts that match, nothing left over, parameter lengths of
//!   -1 or more, a type byte frontend messages have, a type the connection's phase allows). A
//!   violation is FATAL 08P01 and the connection closes; before authentication every refusal is
//!   FATAL.
//! - Content, in a session: invalid UTF-8 in a query or a name is 22021; a format code other than
//!   text (0) or binary (1) is 22023; parameter or result format counts that match neither 0, 1
//!   nor the parameters / columns are 08P01; a Parse parameter type OID that names no type is
//!   08P01 and a type tandem does not decode is 0A000. These are errors the session survives
//!   (the extended protocol skips to Sync; an explicit transaction is aborted, as for any
//!   failed statement).
//! - A panic while a message is handled is a bug: the connection gets FATAL XX000 and closes,
//!   [`PgMetrics::panics`] counts it, and it is logged at most once a minute (no backtrace per
//!   attempt from a client that repeats it).

mod auth;
mod copy;
mod decode;
mod driver;
pub mod encode;
mod guard;
mod handler;
mod limits;
mod params;
mod portal;
mod server;

pub use auth::{StartupOptions, parse_options};
pub use server::{Connections, PgMetrics, PgServer, PgServerHandle};

use crate::ids::TenantId;
use crate::sql::catalog::UserRecord;
use crate::sql::error::SqlError;
use crate::sql::session::SessionEnv;
use std::time::Duration;

/// The database a connection uses when the client names none.
pub const DEFAULT_DATABASE: &str = "defaultdb";

/// What the pgwire listener needs from the node: virtual cluster routing, users, and session
/// environments.
#[async_trait::async_trait]
pub trait ConnectionRouter: Send + Sync + 'static {
    /// Picks the virtual cluster for a new connection (`cluster` from the `options` startup
    /// parameter, else the default target cluster); Err when unknown (SqlState 42704, message
    /// `virtual cluster "x" does not exist`) or not serving (57P03 `virtual cluster "x" is not
    /// serving`).
    async fn route(&self, cluster: Option<&str>) -> Result<(TenantId, String), SqlError>;

    /// The user's record in that virtual cluster (None = unknown user).
    async fn user(&self, tenant: TenantId, user: &str) -> Result<Option<UserRecord>, SqlError>;

    /// Builds the environment for a new session in `tenant`.
    fn session_env(&self, tenant: TenantId) -> SessionEnv;

    /// True while the node drains: new connections get 57P01.
    fn draining(&self) -> bool;

    /// Called once per executed simple-query message and once per extended-protocol Execute,
    /// with the time from receiving it to having its results (for the node's
    /// `sql_service_latency` histogram). The default does nothing.
    fn observe_latency(&self, _elapsed: Duration) {}
}
