//! The listener: accepts TCP connections (or takes streams from [`PgServerHandle::serve_stream`]),
//! runs each one in its own task (see [`super::driver`]), tracks them, counts them, and drains
//! them.
//!
//! A connection task owns its socket and (after authentication) one
//! [`Session`]; both are dropped when the client disconnects, on a FATAL error, or when
//! [`PgServerHandle::drain`] cancels the task. A panic in a connection task ends that connection
//! only (XX000 to the client when it happens while a message is handled; counted either way).
//!
//! Drain: stop accepting (the listener is closed), refuse new statements of idle sessions with
//! FATAL 57P01 and close idle connections outside a transaction, let running statements and open
//! transactions finish until the timeout, then cancel whatever is left (dropping a task drops its
//! session, which rolls back an open transaction).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ::pgwire::api::ClientInfo;
use ::pgwire::api::auth::AuthDriver;
use ::pgwire::api::cancel::CancelHandler;
use ::pgwire::error::{PgWireError, PgWireResult};
use ::pgwire::messages::cancel::CancelRequest;
use ::pgwire::messages::response::TransactionStatus;
use ::pgwire::tokio::TlsAcceptor;
use ring::rand::SecureRandom;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};
use tracing::Instrument;

use super::ConnectionRouter;
use super::auth::{ServerParams, Startup};
use super::copy::{CopyIn, CopyInProgress};
use super::driver::{self, ConnStream, Handlers};
use super::encode::{error, fatal};
use super::guard::{self, Guarded};
use super::handler::{Prepared, QueryHandler, abort_explicit_txn};
use super::limits::{Held, SessionCounts, SessionSlot};
use crate::sql::error::SqlError;
use crate::sql::session::Session;
use crate::sql::sqlstate::SqlState;

/// Counters of the SQL listener, as plain atomics the node exports (e.g. `sql_conns`,
/// `sql_query_count`, `sql_failure_count`). All are cumulative except `connections_open`.
#[derive(Debug, Default)]
pub struct PgMetrics {
    /// TCP connections accepted.
    pub connections_total: AtomicU64,
    /// Connections currently open (accepted and not yet closed).
    pub connections_open: AtomicU64,
    /// Sessions started (successful authentications).
    pub sessions_total: AtomicU64,
    /// Connections refused during startup (routing, TLS, authentication, drain).
    pub auth_failures: AtomicU64,
    /// SQL statements executed, successfully or not.
    pub statements: AtomicU64,
    /// Statements (including ones that failed to parse or bind) answered with an error.
    pub failures: AtomicU64,
    /// Messages refused as malformed or out of place (answered 08P01, 22021, ...).
    pub protocol_errors: AtomicU64,
    /// Panics caught in connection tasks (each closed its connection with XX000). Any is a bug.
    pub panics: AtomicU64,
}

const IDLE: u8 = 0;
const BUSY: u8 = 1;
const CLOSING: u8 = 2;

/// State shared by every connection of one server.
pub(super) struct Shared {
    pub(super) router: Arc<dyn ConnectionRouter>,
    /// TLS configured: plaintext connections are refused and passwords or certificates required.
    pub(super) tls: bool,
    pub(super) metrics: Arc<PgMetrics>,
    draining: AtomicBool,
    pub(super) driver: AuthDriver<ServerParams>,
    /// Key of the mock SCRAM verifiers of unknown users (random per process).
    pub(super) mock_key: ring::hmac::Key,
    /// Cancel keys (the BackendKeyData each session was given) to their connections.
    cancel_keys: parking_lot::Mutex<HashMap<CancelKey, Weak<Conn>>>,
    /// Open sessions per virtual cluster (`server.max_connections_per_gateway`).
    pub(super) sessions: Arc<SessionCounts>,
}

/// A parse-cache key: the SQL text and the parameter types the client declared.
pub(super) type ParseKey = (String, Vec<Option<::pgwire::api::Type>>);

/// A parse-cache entry: schema generation, the statement, its memory.
pub(super) type CachedParse = (u64, Prepared, Option<crate::sql::exec::Reservation>);

/// A session's BackendKeyData: process id and secret key.
type CancelKey = (i32, Vec<u8>);

impl Shared {
    /// Whether new connections and new statements outside transactions are refused.
    pub(super) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed) || self.router.draining()
    }
}

/// One connection's state: its session and what drain needs to know about it.
pub(super) struct Conn {
    pub(super) shared: Arc<Shared>,
    /// The session, created once authentication succeeds.
    pub(super) session: tokio::sync::Mutex<Option<Session>>,
    /// IDLE, BUSY (running a statement) or CLOSING (being closed by drain).
    activity: AtomicU8,
    /// The session's transaction status after its last statement.
    txn_status: AtomicU8,
    /// Set when an Execute answered with an error (the extended protocol then skips to Sync).
    pub(super) execute_failed: AtomicBool,
    /// The `COPY ... FROM STDIN` waiting for its data.
    pub(super) copy: parking_lot::Mutex<Option<CopyInProgress>>,
    /// Parsed and described statements by SQL text and declared parameter types, valid while
    /// [`crate::sql::exec::schema_generation`] has the value stored with them, each with the
    /// memory it holds in the node's SQL memory pool (None before the session started).
    pub(super) parse_cache: parking_lot::Mutex<HashMap<ParseKey, CachedParse>>,
    /// The memory the connection's prepared statements and portals hold, by name (the names
    /// are also those `DEALLOCATE ALL` removes).
    pub(super) held: parking_lot::Mutex<Held>,
    /// The largest statement or data message (`sql.conn.max_read_buffer_message_size` of the
    /// session's virtual cluster, read when it started).
    pub(super) max_message: AtomicUsize,
    /// The session's place among the virtual cluster's connections on this node.
    pub(super) slot: parking_lot::Mutex<Option<SessionSlot>>,
    /// `DEALLOCATE`s run by the last statements, applied to the portal store by the handler
    /// (`None`: all).
    pub(super) deallocate: parking_lot::Mutex<Vec<Option<String>>>,
    /// Shared with the session: a cancel request sets it while a statement runs.
    pub(super) cancel: Arc<AtomicBool>,
    /// This connection's entry in [`Shared`]'s cancel keys, once authenticated.
    cancel_key: parking_lot::Mutex<Option<CancelKey>>,
    /// The CN of the client certificate presented in the TLS handshake (verified by rustls).
    pub(super) client_cn: parking_lot::Mutex<Option<String>>,
}

/// Marks a connection busy while it lives.
pub(super) struct WorkGuard(Arc<Conn>);

impl Drop for WorkGuard {
    fn drop(&mut self) {
        let _ = self
            .0
            .activity
            .compare_exchange(BUSY, IDLE, Ordering::AcqRel, Ordering::Acquire);
    }
}

impl Conn {
    fn new(shared: Arc<Shared>) -> Conn {
        Conn {
            shared,
            session: tokio::sync::Mutex::new(None),
            activity: AtomicU8::new(IDLE),
            txn_status: AtomicU8::new(0),
            execute_failed: AtomicBool::new(false),
            copy: parking_lot::Mutex::new(None),
            parse_cache: parking_lot::Mutex::new(HashMap::new()),
            held: parking_lot::Mutex::new(Held::default()),
            max_message: AtomicUsize::new(super::decode::MAX_MESSAGE),
            slot: parking_lot::Mutex::new(None),
            deallocate: parking_lot::Mutex::new(Vec::new()),
            cancel: Arc::new(AtomicBool::new(false)),
            cancel_key: parking_lot::Mutex::new(None),
            client_cn: parking_lot::Mutex::new(None),
        }
    }

    /// Makes the connection cancellable with its BackendKeyData.
    pub(super) fn register_cancel_key(self: &Arc<Self>, pid: i32, secret: Vec<u8>) {
        let key = (pid, secret);
        self.shared
            .cancel_keys
            .lock()
            .insert(key.clone(), Arc::downgrade(self));
        *self.cancel_key.lock() = Some(key);
    }

    /// Forgets the connection's cancel key (it is closing).
    fn unregister_cancel_key(&self) {
        if let Some(key) = self.cancel_key.lock().take() {
            self.shared.cancel_keys.lock().remove(&key);
        }
    }

    /// Marks the start of work on the session. While the server drains, a session outside a
    /// transaction gets FATAL 57P01 instead (and the connection closes).
    pub(super) fn begin_work(self: &Arc<Self>) -> PgWireResult<WorkGuard> {
        if self.shared.is_draining() && self.txn_status() == TransactionStatus::Idle {
            self.activity.store(CLOSING, Ordering::Release);
            return Err(fatal(SqlError::new(
                SqlState::ADMIN_SHUTDOWN,
                "server is shutting down",
            )));
        }
        // A cancel request aimed at an earlier statement must not stop this one.
        self.cancel.store(false, Ordering::Release);
        match self
            .activity
            .compare_exchange(IDLE, BUSY, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) | Err(BUSY) => Ok(WorkGuard(self.clone())),
            Err(_) => Err(fatal(SqlError::new(
                SqlState::ADMIN_SHUTDOWN,
                "server is shutting down",
            ))),
        }
    }

    /// A message refused without closing the connection (see [`super::decode`]): like any failed
    /// statement it counts as a failure and aborts an explicit transaction; a COPY in progress
    /// ends. Returns the error for the client.
    pub(super) async fn reject<C: ClientInfo>(&self, client: &mut C, e: SqlError) -> PgWireError {
        self.shared.metrics.failures.fetch_add(1, Ordering::Relaxed);
        self.copy.lock().take();
        if let Some(session) = self.session.lock().await.as_mut() {
            abort_explicit_txn(session);
            self.note_txn(session);
        }
        client.set_transaction_status(self.txn_status());
        error(e)
    }

    /// Records the session's transaction status after a statement.
    pub(super) fn note_txn(&self, session: &Session) {
        let s = if session.in_failed_transaction() {
            2
        } else if session.in_transaction() {
            1
        } else {
            0
        };
        self.txn_status.store(s, Ordering::Release);
    }

    /// The transaction status for ReadyForQuery.
    pub(super) fn txn_status(&self) -> TransactionStatus {
        match self.txn_status.load(Ordering::Acquire) {
            1 => TransactionStatus::Transaction,
            2 => TransactionStatus::Error,
            _ => TransactionStatus::Idle,
        }
    }

    /// Claims an idle connection outside a transaction for closing (drain).
    fn claim_idle(&self) -> bool {
        self.txn_status() == TransactionStatus::Idle
            && self
                .activity
                .compare_exchange(IDLE, CLOSING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}

/// Answers CancelRequest connections: the named session's running statement stops with 57014.
/// As in PostgreSQL, nothing is sent back, an unknown key is ignored, and a session that is not
/// running anything is unaffected.
pub(super) struct Canceller {
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl CancelHandler for Canceller {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes().to_vec());
        let conn = self
            .shared
            .cancel_keys
            .lock()
            .get(&key)
            .and_then(Weak::upgrade);
        match conn {
            Some(conn) if conn.activity.load(Ordering::Acquire) == BUSY => {
                tracing::info!(
                    pid = request.pid,
                    "cancel request: stopping the running statement"
                );
                conn.cancel.store(true, Ordering::Release);
            }
            Some(_) => tracing::debug!(pid = request.pid, "cancel request for an idle session"),
            None => tracing::debug!(pid = request.pid, "cancel request with an unknown key"),
        }
    }
}

struct Tracked {
    abort: Option<AbortHandle>,
    conn: Arc<Conn>,
}

struct Inner {
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    local_addr: SocketAddr,
    conns: parking_lot::Mutex<HashMap<u64, Tracked>>,
    next_id: AtomicU64,
    stop: watch::Sender<bool>,
    accept_task: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

/// Removes a connection from the tracking map when its task ends (or is cancelled).
struct Untrack {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for Untrack {
    fn drop(&mut self) {
        if let Some(t) = self.inner.conns.lock().remove(&self.id) {
            t.conn.unregister_cancel_key();
        }
        self.inner
            .shared
            .metrics
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// The PostgreSQL wire protocol server.
pub struct PgServer;

impl PgServer {
    /// Serves on an already-bound listener (tests bind 127.0.0.1:0). `tls` None means
    /// `--insecure` (plaintext only; SSLRequest is answered 'N'); with TLS, plaintext connections
    /// are refused with a clear error, like CockroachDB's secure mode. Must be called inside a
    /// tokio runtime; the server runs until [`PgServerHandle::drain`] (dropping the handle does not
    /// stop it).
    pub fn start(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        router: Arc<dyn ConnectionRouter>,
    ) -> PgServerHandle {
        let local_addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        Self::start_with(Connections::Listener(listener), local_addr, tls, router)
    }

    /// Serves the connections of `source`; `local_addr` is the address clients dialled (the
    /// node's listener, when it hands SQL connections over after telling them from node
    /// traffic).
    pub fn start_with(
        source: Connections,
        local_addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        router: Arc<dyn ConnectionRouter>,
    ) -> PgServerHandle {
        let mut seed = [0u8; 32];
        if ring::rand::SystemRandom::new().fill(&mut seed).is_err() {
            // No system randomness: mix the clock in; mock verifiers stay unguessable in practice
            // and never match a password anyway.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            seed[..16].copy_from_slice(&t.to_le_bytes());
        }
        let shared = Arc::new(Shared {
            router,
            tls: tls.is_some(),
            metrics: Arc::new(PgMetrics::default()),
            draining: AtomicBool::new(false),
            driver: AuthDriver::new(ServerParams),
            mock_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &seed),
            cancel_keys: parking_lot::Mutex::new(HashMap::new()),
            sessions: Arc::new(SessionCounts::default()),
        });
        let (stop, stop_rx) = watch::channel(false);
        let acceptor = tls.map(TlsAcceptor::from);
        let inner = Arc::new(Inner {
            shared,
            tls: acceptor.clone(),
            local_addr,
            conns: parking_lot::Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            stop,
            accept_task: parking_lot::Mutex::new(None),
        });
        guard::install_hook();
        let span = tracing::info_span!("pgwire_listener", addr = %local_addr);
        let task =
            tokio::spawn(accept_loop(inner.clone(), source, acceptor, stop_rx).instrument(span));
        *inner.accept_task.lock() = Some(task);
        tracing::info!(addr = %local_addr, secure = inner.shared.tls, "pgwire server listening");
        PgServerHandle { inner }
    }
}

/// Where a [`PgServer`] gets its connections.
pub enum Connections {
    /// Its own listener.
    Listener(TcpListener),
    /// Sockets accepted (and told from node traffic) by the node's listener.
    Channel(tokio::sync::mpsc::Receiver<(TcpStream, SocketAddr)>),
}

async fn accept_loop(
    inner: Arc<Inner>,
    mut source: Connections,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = match &mut source {
            Connections::Listener(listener) => tokio::select! {
                _ = stop.changed() => break,
                r = listener.accept() => r,
            },
            Connections::Channel(rx) => tokio::select! {
                _ = stop.changed() => break,
                r = rx.recv() => match r {
                    Some(c) => Ok(c),
                    None => break,
                },
            },
        };
        match accepted {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                spawn_connection(&inner, Box::new(tcp), peer, tls.clone());
            }
            Err(e) => {
                // E.g. EMFILE: back off instead of spinning; the listener stays up.
                tracing::warn!("failed to accept a pgwire connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    tracing::info!("pgwire server stopped accepting connections");
}

fn spawn_connection(
    inner: &Arc<Inner>,
    io: Box<dyn ConnStream>,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
) {
    let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
    let metrics = &inner.shared.metrics;
    metrics.connections_total.fetch_add(1, Ordering::Relaxed);
    metrics.connections_open.fetch_add(1, Ordering::Relaxed);
    let conn = Arc::new(Conn::new(inner.shared.clone()));
    let handlers = Handlers {
        startup: Arc::new(Startup::new(conn.clone())),
        query: Arc::new(QueryHandler::new(conn.clone())),
        copy: Arc::new(CopyIn::new(conn.clone())),
        cancel: Arc::new(Canceller {
            shared: inner.shared.clone(),
        }),
    };
    // Track before spawning so the task's Untrack always finds (and removes) its entry; the lock
    // is not held across the spawn.
    inner.conns.lock().insert(
        id,
        Tracked {
            abort: None,
            conn: conn.clone(),
        },
    );
    let untrack = Untrack {
        inner: inner.clone(),
        id,
    };
    let span = tracing::info_span!("pgwire_conn", conn = id, %peer);
    let task = tokio::spawn(
        async move {
            let _untrack = untrack;
            let metrics = conn.shared.metrics.clone();
            let serve = driver::serve(io, peer, tls, conn, handlers);
            // Panics while a message is handled are answered inside; this catches the rest.
            if Guarded(std::pin::pin!(serve)).await.is_err() {
                metrics.panics.fetch_add(1, Ordering::Relaxed);
            }
        }
        .instrument(span),
    );
    if let Some(t) = inner.conns.lock().get_mut(&id) {
        t.abort = Some(task.abort_handle());
    }
}

/// A running [`PgServer`]. Cloning gives another handle to the same server.
#[derive(Clone)]
pub struct PgServerHandle {
    inner: Arc<Inner>,
}

impl PgServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Serves one more connection over `stream` (any byte stream; `peer` is the client's address)
    /// exactly as an accepted TCP connection: same negotiation, limits, tracking and drain.
    /// Refused (dropped) once the server drains.
    pub fn serve_stream<S>(&self, stream: S, peer: SocketAddr)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sync + 'static,
    {
        if self.is_draining() {
            return;
        }
        spawn_connection(&self.inner, Box::new(stream), peer, self.inner.tls.clone());
    }

    /// Connections currently open (including ones still in startup).
    pub fn active_connections(&self) -> usize {
        self.inner.conns.lock().len()
    }

    /// The server's counters.
    pub fn metrics(&self) -> Arc<PgMetrics> {
        self.inner.shared.metrics.clone()
    }

    /// TCP connections accepted so far.
    pub fn connections_total(&self) -> u64 {
        self.inner
            .shared
            .metrics
            .connections_total
            .load(Ordering::Relaxed)
    }

    /// Statements executed so far.
    pub fn statements(&self) -> u64 {
        self.inner.shared.metrics.statements.load(Ordering::Relaxed)
    }

    /// Statements answered with an error so far.
    pub fn failures(&self) -> u64 {
        self.inner.shared.metrics.failures.load(Ordering::Relaxed)
    }

    /// Whether [`PgServerHandle::drain`] has started.
    pub fn is_draining(&self) -> bool {
        self.inner.shared.draining.load(Ordering::Relaxed)
    }

    /// Stops accepting connections, waits up to `timeout` for sessions to finish (idle sessions
    /// outside a transaction are closed at once; running statements and open transactions may
    /// complete), then cancels the rest. Returns when every connection is gone (or, if a
    /// cancelled task does not stop within 5 s more, gives up waiting).
    pub async fn drain(&self, timeout: Duration) {
        self.inner.shared.draining.store(true, Ordering::Relaxed);
        let _ = self.inner.stop.send(true);
        let accept = self.inner.accept_task.lock().take();
        if let Some(task) = accept {
            let _ = task.await;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut cancelled = false;
        loop {
            {
                let conns = self.inner.conns.lock();
                if conns.is_empty() {
                    break;
                }
                let now = tokio::time::Instant::now();
                if now >= deadline && !cancelled {
                    tracing::info!(
                        remaining = conns.len(),
                        "drain timeout: cancelling the remaining SQL connections"
                    );
                    cancelled = true;
                }
                if now >= deadline + Duration::from_secs(5) {
                    tracing::warn!(
                        remaining = conns.len(),
                        "failed to stop every SQL connection during drain"
                    );
                    break;
                }
                for t in conns.values() {
                    if let Some(a) = &t.abort
                        && (cancelled || t.conn.claim_idle())
                    {
                        a.abort();
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::info!("pgwire server drained");
    }
}

impl std::fmt::Debug for PgServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServerHandle")
            .field("local_addr", &self.inner.local_addr)
            .field("active_connections", &self.active_connections())
            .finish()
    }
}
