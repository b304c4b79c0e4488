//! The console's endpoints, registered on an actix-web `App` by [`configure`].
//!
//! | route | who | answer |
//! |---|---|---|
//! | `GET /health` | anyone | 200 `{"status":"ok"}` while the process serves HTTP |
//! | `GET /health?ready=1` | anyone | 200 when the backend is ready, else 503 `{"msg": ...}` |
//! | `GET /_status/vars`, `GET /metrics` | anyone | the registry in Prometheus text format |
//! | `GET /` | anyone | the login page, or the overview when logged in |
//! | `POST /login` (form `user`, `password`) | anyone | 303 to `/` with a session cookie; 401 + login page on a bad password; 429 + `Retry-After` after too many failures ([`super::throttle`]) |
//! | `POST /logout` | anyone | ends the session, clears the cookie, 303 to `/` |
//! | `GET /nodes`, `GET /virtual-clusters` | logged in | HTML tables (303 to `/` when not logged in) |
//! | `GET /replication` | logged in | replication streams with lag charts (303 to `/` when not logged in) |
//! | `GET /api/v1/nodes`, `GET /api/v1/virtual-clusters` | logged in | JSON (401 when not logged in) |
//! | `GET /_status/replication` | logged in | JSON: the streams and their lag history (401 when not logged in) |
//! | `GET /console/replication.js` | anyone | the replication page's script (static, no data) |
//!
//! Every failure is an [`ApiError`] (JSON `{"msg": ...}`), including malformed query strings and
//! forms, unknown paths and wrong methods; the login form is the one exception, answering a
//! wrong password with the login page (status 401) so a browser shows the error.
//!
//! The session cookie is `HttpOnly`, `SameSite=Strict` (which also keeps other sites from
//! posting to `/logout`) and, when the server runs TLS, `Secure`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures::future::{Ready, ready};
use prometheus::Registry;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::lag_history::{LagHistory, LagSeries, unix_millis};
use super::metrics::gather_text;
use super::pages;
use super::session::{SESSION_COOKIE, SessionStore};
use super::throttle::{LogLimiter, LoginThrottle, user_key};
use super::{ConsoleBackend, NodeRow, ReplicationView, VirtualClusterRow};

/// The replication page's script: polls `/_status/replication` every second and redraws the
/// page's values and lag charts.
const REPLICATION_JS: &str = include_str!("replication.js");

/// What every handler shares: the node behind the console, the metrics registry and the
/// sessions. One instance per server, shared by all workers.
pub struct ConsoleState {
    /// The node's data.
    pub backend: Arc<dyn ConsoleBackend>,
    /// The registry exposed at `/_status/vars` and `/metrics`.
    pub registry: Registry,
    /// Console logins.
    pub sessions: SessionStore,
    /// The replication lag samples of the lag charts, filled by the server's sampler.
    pub lag_history: Arc<LagHistory>,
    /// Whether session cookies are marked `Secure` (the server runs TLS).
    pub secure_cookies: bool,
    /// Failed logins per user and address, and the backoff they earned.
    pub throttle: LoginThrottle,
    /// The rate limit of the failed-login log lines.
    pub login_log: LogLimiter,
}

/// Registers every route and the JSON error handlers for query strings and forms. The caller
/// adds the [`ConsoleState`] as `web::Data` and sets [`not_found`] as the default service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| ApiError::BadRequest(format!("bad query: {err}")).into()),
    )
    .app_data(
        web::FormConfig::default()
            .limit(16 * 1024)
            .error_handler(|err, _| ApiError::BadRequest(format!("bad form: {err}")).into()),
    )
    .service(resource("/health").route(web::get().to(health)))
    .service(resource("/_status/vars").route(web::get().to(metrics)))
    .service(resource("/metrics").route(web::get().to(metrics)))
    .service(resource("/").route(web::get().to(index)))
    .service(resource("/login").route(web::post().to(login)))
    .service(resource("/logout").route(web::post().to(logout)))
    .service(resource("/nodes").route(web::get().to(nodes_page)))
    .service(resource("/virtual-clusters").route(web::get().to(virtual_clusters_page)))
    .service(resource("/api/v1/nodes").route(web::get().to(api_nodes)))
    .service(resource("/api/v1/virtual-clusters").route(web::get().to(api_virtual_clusters)))
    .service(resource("/replication").route(web::get().to(replication_page)))
    .service(resource("/_status/replication").route(web::get().to(api_replication)))
    .service(resource("/console/replication.js").route(web::get().to(replication_js)));
}

/// A resource whose other methods answer 405 as an [`ApiError`].
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        req.method(),
        req.path()
    )))
}

/// The default service: 404 for every path no route serves.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no such endpoint: {}",
        req.path()
    )))
}

/// The user of the request's session cookie. As an extractor it fails with 401
/// ([`ApiError::Unauthorized`]); `Option<LoggedIn>` gives `None` instead.
pub struct LoggedIn {
    /// The SQL user the session logged in as.
    pub user: String,
}

impl FromRequest for LoggedIn {
    type Error = ApiError;
    type Future = Ready<Result<LoggedIn, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(logged_in(req))
    }
}

fn logged_in(req: &HttpRequest) -> Result<LoggedIn, ApiError> {
    let state = state_of(req)?;
    let unauthorized = || ApiError::Unauthorized("log in to the console first".into());
    let cookie = req.cookie(SESSION_COOKIE).ok_or_else(unauthorized)?;
    let user = state
        .sessions
        .user(cookie.value())
        .ok_or_else(unauthorized)?;
    Ok(LoggedIn { user })
}

fn state_of(req: &HttpRequest) -> Result<&web::Data<ConsoleState>, ApiError> {
    req.app_data::<web::Data<ConsoleState>>()
        .ok_or_else(|| ApiError::Internal("console state is not registered on the app".into()))
}

#[derive(Debug, Deserialize)]
struct HealthQuery {
    ready: Option<String>,
}

async fn health(
    state: web::Data<ConsoleState>,
    query: web::Query<HealthQuery>,
) -> Result<HttpResponse, ApiError> {
    let check_ready = match query
        .ready
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("0" | "false" | "f" | "no") => false,
        Some("" | "1" | "true" | "t" | "yes") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "bad value for ready: {other:?} (expected 1, true, 0 or false)"
            )));
        }
    };
    if check_ready && !state.backend.is_ready().await {
        return Err(ApiError::Unavailable(
            "node is not ready: it is starting or draining".into(),
        ));
    }
    Ok(HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .insert_header(ContentType::json())
        .body(r#"{"status":"ok"}"#))
}

async fn metrics(state: web::Data<ConsoleState>) -> Result<HttpResponse, ApiError> {
    let text = gather_text(&state.registry)
        .map_err(|e| ApiError::Internal(format!("encode metrics: {e}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, prometheus::TEXT_FORMAT))
        .body(text))
}

/// An HTML response that browsers and proxies must not cache.
fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(ContentType::html())
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .body(body)
}

fn redirect_home() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .finish()
}

async fn index(state: web::Data<ConsoleState>, who: Option<LoggedIn>) -> HttpResponse {
    match who {
        None => html(StatusCode::OK, pages::login_page(None)),
        Some(who) => {
            let (nodes, clusters) =
                futures::join!(state.backend.nodes(), state.backend.virtual_clusters());
            html(
                StatusCode::OK,
                pages::overview_page(&who.user, &nodes, &clusters),
            )
        }
    }
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

fn session_cookie(state: &ConsoleState, token: String) -> Cookie<'static> {
    let max_age = i64::try_from(state.sessions.ttl().as_secs()).unwrap_or(i64::MAX);
    Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(max_age))
        .finish()
}

/// Logs a failed or refused login, within the log's rate limit.
fn log_failed_login(state: &ConsoleState, user: &str, addr: Option<IpAddr>, what: &str) {
    if let Some(suppressed) = state.login_log.admit(Instant::now()) {
        let address = addr.map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        tracing::warn!(user = ?user_key(user), %address, suppressed, "console login {what}");
    }
}

async fn login(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let LoginForm { user, password } = form.into_inner();
    let user = user.trim().to_string();
    // The socket's address: a forwarding header would let a client pick its own.
    let addr = req.peer_addr().map(|a| a.ip());
    if let Some(wait) = state.throttle.wait(&user, addr, Instant::now()) {
        log_failed_login(&state, &user, addr, "refused: too many failed attempts");
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut resp = html(
            StatusCode::TOO_MANY_REQUESTS,
            pages::login_page(Some(
                "Too many failed login attempts. Wait a moment and try again.",
            )),
        );
        if let Ok(v) = header::HeaderValue::from_str(&secs.max(1).to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    if user.is_empty() || !state.backend.check_password(&user, &password).await {
        state.throttle.failed(&user, addr, Instant::now());
        log_failed_login(&state, &user, addr, "failed");
        return html(
            StatusCode::UNAUTHORIZED,
            pages::login_page(Some("Invalid user or password.")),
        );
    }
    state.throttle.succeeded(&user, addr);
    let token = state.sessions.create(&user);
    tracing::info!(user = ?user_key(&user), "console login");
    let mut resp = redirect_home();
    if let Err(e) = resp.add_cookie(&session_cookie(&state, token)) {
        return HttpResponse::from_error(ApiError::Internal(format!("set session cookie: {e}")));
    }
    resp
}

async fn logout(state: web::Data<ConsoleState>, req: HttpRequest) -> HttpResponse {
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        state.sessions.remove(cookie.value());
    }
    let mut removal = session_cookie(&state, String::new());
    removal.make_removal();
    let mut resp = redirect_home();
    if let Err(e) = resp.add_cookie(&removal) {
        return HttpResponse::from_error(ApiError::Internal(format!("clear session cookie: {e}")));
    }
    resp
}

async fn nodes_page(state: web::Data<ConsoleState>, who: Option<LoggedIn>) -> HttpResponse {
    let Some(who) = who else {
        return redirect_home();
    };
    let nodes = state.backend.nodes().await;
    html(StatusCode::OK, pages::nodes_page(&who.user, &nodes))
}

async fn virtual_clusters_page(
    state: web::Data<ConsoleState>,
    who: Option<LoggedIn>,
) -> HttpResponse {
    let Some(who) = who else {
        return redirect_home();
    };
    let clusters = state.backend.virtual_clusters().await;
    html(
        StatusCode::OK,
        pages::virtual_clusters_page(&who.user, &clusters),
    )
}

/// The body of `/api/v1/nodes`.
#[derive(Serialize)]
struct NodesBody<'a> {
    nodes: &'a [NodeRow],
}

/// The body of `/api/v1/virtual-clusters`.
#[derive(Serialize)]
struct VirtualClustersBody<'a> {
    virtual_clusters: &'a [VirtualClusterRow],
}

async fn api_nodes(state: web::Data<ConsoleState>, _who: LoggedIn) -> HttpResponse {
    let nodes = state.backend.nodes().await;
    HttpResponse::Ok().json(NodesBody { nodes: &nodes })
}

async fn api_virtual_clusters(state: web::Data<ConsoleState>, _who: LoggedIn) -> HttpResponse {
    let clusters = state.backend.virtual_clusters().await;
    HttpResponse::Ok().json(VirtualClustersBody {
        virtual_clusters: &clusters,
    })
}

/// The body of `/_status/replication`: the [`ReplicationView`] fields, the view's time in Unix
/// milliseconds (the lag charts' right edge), the charts' span and every lag series.
#[derive(Serialize)]
struct ReplicationBody<'a> {
    #[serde(flatten)]
    view: &'a ReplicationView,
    now_unix_ms: u64,
    window_seconds: u64,
    lag_history: Vec<LagSeries>,
}

async fn replication_page(state: web::Data<ConsoleState>, who: Option<LoggedIn>) -> HttpResponse {
    let Some(who) = who else {
        return redirect_home();
    };
    let view = state.backend.replication().await;
    let history = state.lag_history.snapshot();
    html(
        StatusCode::OK,
        pages::replication_page(&who.user, &view, &history, state.lag_history.window()),
    )
}

async fn api_replication(state: web::Data<ConsoleState>, _who: LoggedIn) -> HttpResponse {
    let view = state.backend.replication().await;
    HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(ReplicationBody {
            view: &view,
            now_unix_ms: unix_millis(view.now),
            window_seconds: state.lag_history.window().as_secs(),
            lag_history: state.lag_history.snapshot(),
        })
}

async fn replication_js() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoCache]))
        .body(REPLICATION_JS)
}
