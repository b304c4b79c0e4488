//! Starting and stopping the console's actix-web server.
//!
//! [`ConsoleServer::start`] binds the address synchronously (so a taken port is an immediate
//! [`ConsoleError::Bind`] and port 0 resolves to a real port before it returns), then spawns the
//! actix-server `Server` future on the current tokio runtime. That works both under the node's
//! actix `System` (which is a tokio runtime) and in a plain tokio runtime such as
//! `#[tokio::test]`: actix-server notices which one it runs in and starts its own worker
//! threads (two), each with a current-thread runtime, so requests never run on the caller's
//! threads. OS signals are not handled here (`disable_signals`): the node's supervisor owns
//! them and calls [`RunningConsole::stop`] when it drains.
//!
//! Alongside the server it starts the lag sampler ([`lag_history::spawn_sampler`]), which reads
//! the backend's replication streams once a second for the replication page's chart; it stops
//! with the server.
//!
//! With TLS the given rustls config is used as is, except its ALPN list, which actix-web sets
//! to `h2`, `http/1.1` (a pgwire config's `postgresql` entry is dropped).
//!
//! Failure behaviour: errors before serving (no runtime, bind) are returned and nothing keeps
//! running. Dropping a [`RunningConsole`] without calling `stop` leaves the server running
//! until its runtime shuts down.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpServer, web};
use prometheus::Registry;
use tracing::Instrument as _;

use super::ConsoleBackend;
use super::error::ConsoleError;
use super::lag_history::{self, LagHistory};
use super::routes::{self, ConsoleState};
use super::session::{SESSION_TTL, SessionStore};
use super::throttle::{LogLimiter, LoginThrottle};

/// HTTP worker threads. The console serves a handful of operators and scrapers.
const WORKERS: usize = 2;

/// How long a graceful stop waits for open requests before closing connections.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Content-Security-Policy of every response: the pages use inline CSS, scripts served by this
/// origin (no inline scripts), fetch from this origin and post forms to it; nothing else may
/// load, and no other site may frame them.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                   base-uri 'none'";

/// The console HTTP server of a node. See the module docs.
#[derive(Debug)]
pub struct ConsoleServer;

impl ConsoleServer {
    /// Binds `addr` (port 0 picks a free port), serving HTTPS with `tls` when given and plain
    /// HTTP otherwise, and starts serving on the current tokio runtime (or actix System). The
    /// console reads the node through `backend` and exposes `registry` as metrics.
    ///
    /// For the node certificate use
    /// `tandem::security::tls::server_config_with_alpn(certs_dir, false, &[b"http/1.1"])`
    /// (or `server_config`, whose pgwire ALPN entry is replaced here).
    pub fn start(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        backend: Arc<dyn ConsoleBackend>,
        registry: Registry,
    ) -> Result<RunningConsole, ConsoleError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConsoleError::NoRuntime)?;
        let is_tls = tls.is_some();
        let lag_history = Arc::new(LagHistory::default());
        let state = web::Data::new(ConsoleState {
            backend: backend.clone(),
            lag_history: lag_history.clone(),
            registry,
            sessions: SessionStore::new(SESSION_TTL),
            secure_cookies: is_tls,
            throttle: LoginThrottle::default(),
            login_log: LogLimiter::default(),
        });

        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .wrap(security_headers())
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .workers(WORKERS)
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_TIMEOUT.as_secs());

        let bind_error = |source| ConsoleError::Bind { addr, source };
        let server = match tls {
            Some(config) => {
                let mut config = rustls::ServerConfig::clone(&config);
                // actix-web prepends h2 and http/1.1 to whatever is configured.
                config.alpn_protocols.clear();
                server.bind_rustls_0_23(addr, config).map_err(bind_error)?
            }
            None => server.bind(addr).map_err(bind_error)?,
        };
        let local_addr = server.addrs().first().copied().ok_or_else(|| {
            bind_error(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no address was bound",
            ))
        })?;

        let server = server.run();
        let handle = server.handle();
        let scheme = if is_tls { "https" } else { "http" };
        let span = tracing::info_span!("console", addr = %local_addr);
        span.in_scope(|| tracing::info!("console listening on {scheme}://{local_addr}"));
        let task = runtime.spawn(server.instrument(span));
        let sampler = lag_history::spawn_sampler(
            &runtime,
            backend,
            lag_history,
            lag_history::SAMPLE_INTERVAL,
        );

        Ok(RunningConsole {
            local_addr,
            is_tls,
            handle,
            task,
            sampler,
            state,
        })
    }
}

fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CONTENT_SECURITY_POLICY, CSP))
}

/// A started console; stop it with [`RunningConsole::stop`].
pub struct RunningConsole {
    local_addr: SocketAddr,
    is_tls: bool,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<io::Result<()>>,
    sampler: tokio::task::JoinHandle<()>,
    state: web::Data<ConsoleState>,
}

impl std::fmt::Debug for RunningConsole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningConsole")
            .field("local_addr", &self.local_addr)
            .field("is_tls", &self.is_tls)
            .finish_non_exhaustive()
    }
}

impl RunningConsole {
    /// The bound address (with the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether the console serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.is_tls
    }

    /// The base URL, e.g. `https://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        let scheme = if self.is_tls { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// Console sessions currently logged in.
    pub fn live_sessions(&self) -> usize {
        self.state.sessions.len()
    }

    /// Stops accepting connections and stops the workers: with `graceful`, open requests get
    /// up to 5 s to finish; without, connections are closed at once. Returns when the server
    /// has stopped.
    pub async fn stop(self, graceful: bool) -> Result<(), ConsoleError> {
        self.sampler.abort();
        self.handle.stop(graceful).await;
        match self.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ConsoleError::Server(e.to_string())),
            Err(e) => Err(ConsoleError::Server(format!("server task ended: {e}"))),
        }
    }
}
