//! The PostgreSQL wire protocol listener: TLS, authentication, virtual cluster routing, and the
//! simple and extended query protocols on top of [`crate::sql`].
//!
//! Built on the `pgwire` crate (referred to as `::pgwire` inside this module):
//!
//! ```text
//!   TcpListener ──accept──► one task per connection: ::pgwire::tokio::process_socket
//!                              │ SSLRequest / TLS (rustls)            (server.rs)
//!                              ▼
//!                           StartupHandler: options -ccluster=x ─► ConnectionRouter::route
//!                              │ cert CN == user │ SCRAM-SHA-256 │ --insecure   (auth.rs)
//!                              ▼
//!                           one sql::Session per connection
//!                              │ Query ─► Session::run            (handler.rs)
//!                              │ Parse/Bind/Describe/Execute ─► parser::parse, exec::describe,
//!                              │                                exec::execute
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
//! SQLSTATE, mapped from [`crate::sql::error::SqlError`] in one place ([`encode`]). Nothing a
//! client sends can bring the listener down: a malformed or hostile connection only ends itself.

mod auth;
mod copy;
mod decode;
mod driver;
pub mod encode;
mod guard;
mod handler;
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
