//! Connection startup: the `options` parameter, virtual cluster routing, authentication and the
//! session that follows.
//!
//! Order of checks on the Startup message (each failure is a FATAL ErrorResponse, then the
//! connection closes; other connections are unaffected):
//! 1. a user name is required (28000); the database defaults to [`DEFAULT_DATABASE`];
//!    `options` must parse (42601);
//! 2. with TLS configured, a plaintext connection is refused (08P01, like CockroachDB's secure
//!    mode); while the node drains, new connections get 57P01;
//! 3. [`ConnectionRouter::route`] picks the virtual cluster (42704 unknown, 57P03 not serving);
//! 4. authentication:
//!    - `--insecure` (no TLS): any existing user that may log in, without a password
//!      (28000 otherwise);
//!    - TLS with a client certificate (already verified against the CA by rustls) whose CN is the
//!      user: no password (28000 if the user does not exist or may not log in);
//!    - otherwise SCRAM-SHA-256 against the user's stored verifier. Unknown users, users without
//!      a password and `NOLOGIN` roles run the exchange against a mock verifier and fail exactly
//!      like a wrong password (28P01), so the reply does not reveal whether the user exists.
//!
//! 5. the virtual cluster's connection limits ([`super::limits`]): 53300 `sorry, too many clients
//!    already` past `server.max_connections_per_gateway` (root and admins exempt); the message
//!    size limit and the memory pool for the session.
//!
//! Then the connection's [`Session`] is created and pgwire sends AuthenticationOk, the
//! ParameterStatus values drivers expect, BackendKeyData and ReadyForQuery.

use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::sync::Arc;

use ::pgwire::api::ClientInfo;
use ::pgwire::api::auth::mechanism::AuthMechanismFactory;
use ::pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use ::pgwire::api::auth::{
    AuthOutcome, AuthSource, LoginInfo, Password, ServerParameterProvider, StartupHandler,
    protocol_negotiation, save_startup_parameters_to_metadata,
};
use ::pgwire::error::{PgWireError, PgWireResult};
use ::pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use ::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::Sink;
use ring::hmac;

use super::encode::{INVALID_AUTHORIZATION, error, fatal};
use super::limits::SessionLimits;
use super::server::Conn;
use super::{ConnectionRouter, DEFAULT_DATABASE};
use crate::ids::TenantId;
use crate::sql::catalog::UserRecord;
use crate::sql::error::SqlError;
use crate::sql::scram;
use crate::sql::session::{Session, SessionEnv};
use crate::sql::sqlstate::SqlState;

/// The `server_version` reported to clients (CockroachDB reports 13.0.0 too).
pub const SERVER_VERSION: &str = "13.0.0";

/// The parsed `options` startup parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartupOptions {
    /// `cluster=<name>`: the virtual cluster to connect to.
    pub cluster: Option<String>,
    /// Every other `name=value`, in order (session variables; names lowercased, `-` → `_`).
    pub settings: Vec<(String, String)>,
}

/// Parses the raw `options` startup parameter: `-c name=value`, `-cname=value` and
/// `--name=value`, separated by whitespace, with libpq's backslash escapes (`\ ` is a space).
/// Anything else is a 42601 error, as in PostgreSQL.
pub fn parse_options(raw: &str) -> Result<StartupOptions, SqlError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut chars = raw.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                in_word = true;
                if let Some(next) = chars.next() {
                    cur.push(next);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }

    let invalid = |w: &str| {
        SqlError::syntax(format!(
            "invalid command-line argument for server process: {w}"
        ))
    };
    let mut out = StartupOptions::default();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let setting = if w == "-c" {
            it.next().ok_or_else(|| invalid(w))?.as_str()
        } else if let Some(rest) = w.strip_prefix("--") {
            rest
        } else if let Some(rest) = w.strip_prefix("-c") {
            rest
        } else {
            return Err(invalid(w));
        };
        let (name, value) = setting.split_once('=').ok_or_else(|| invalid(w))?;
        let name = name.trim().to_ascii_lowercase().replace('-', "_");
        if name.is_empty() {
            return Err(invalid(w));
        }
        if name == "cluster" {
            if value.is_empty() {
                return Err(SqlError::syntax(
                    "the cluster option needs a virtual cluster name",
                ));
            }
            out.cluster = Some(value.to_owned());
        } else {
            out.settings.push((name, value.to_owned()));
        }
    }
    Ok(out)
}

/// The ParameterStatus values sent after authentication.
#[derive(Debug, Default)]
pub(super) struct ServerParams;

impl ServerParameterProvider for ServerParams {
    fn server_parameters<C>(&self, client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        let md = client.metadata();
        let mut p = HashMap::with_capacity(16);
        for (k, v) in [
            ("server_version", SERVER_VERSION),
            ("server_encoding", "UTF8"),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
            ("IntervalStyle", "postgres"),
            ("TimeZone", "UTC"),
            ("integer_datetimes", "on"),
            ("standard_conforming_strings", "on"),
            ("default_transaction_read_only", "off"),
            ("in_hot_standby", "off"),
        ] {
            p.insert(k.to_owned(), v.to_owned());
        }
        p.insert(
            "crdb_version".to_owned(),
            format!("tandem {}", env!("CARGO_PKG_VERSION")),
        );
        p.insert(
            "application_name".to_owned(),
            md.get("application_name").cloned().unwrap_or_default(),
        );
        if let Some(user) = md.get("user") {
            p.insert("session_authorization".to_owned(), user.clone());
        }
        Some(p)
    }
}

/// Who is logging in where; kept between the Startup message and the end of SCRAM.
#[derive(Debug, Clone)]
struct Login {
    tenant: TenantId,
    cluster: String,
    user: String,
    database: String,
    settings: Vec<(String, String)>,
    application_name: Option<String>,
}

/// The per-connection startup handler.
pub(super) struct Startup {
    conn: Arc<Conn>,
    pending: parking_lot::Mutex<Option<Login>>,
}

impl Startup {
    pub(super) fn new(conn: Arc<Conn>) -> Startup {
        Startup {
            conn,
            pending: parking_lot::Mutex::new(None),
        }
    }

    fn router(&self) -> &Arc<dyn ConnectionRouter> {
        &self.conn.shared.router
    }

    /// Handles the Startup message: checks, routing, and the start of authentication.
    async fn begin<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let md = client.metadata();
        let user = md
            .get("user")
            .filter(|u| !u.is_empty())
            .cloned()
            .ok_or_else(|| {
                fatal(SqlError::new(
                    INVALID_AUTHORIZATION,
                    "no username specified",
                ))
            })?;
        let database = md
            .get("database")
            .filter(|d| !d.is_empty())
            .cloned()
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let application_name = md.get("application_name").cloned();
        let options = parse_options(md.get("options").map_or("", String::as_str)).map_err(fatal)?;
        let shared = &self.conn.shared;
        if shared.tls && !client.is_secure() {
            return Err(fatal(SqlError::new(
                SqlState::PROTOCOL_VIOLATION,
                "node is running secure mode, SSL connection required",
            )));
        }
        if shared.is_draining() {
            return Err(fatal(SqlError::new(
                SqlState::ADMIN_SHUTDOWN,
                "server is not accepting clients, try another node",
            )));
        }
        let (tenant, cluster) = self
            .router()
            .route(options.cluster.as_deref())
            .await
            .map_err(fatal)?;
        tracing::debug!(%user, %cluster, %database, secure = client.is_secure(), "pgwire startup");
        let login = Login {
            tenant,
            cluster,
            user,
            database,
            settings: options.settings,
            application_name,
        };

        if !shared.tls {
            // --insecure: any existing user that may log in.
            self.check_may_login(&login).await?;
            return self.finish(client, login, None).await;
        }
        let cert_user = self.conn.client_cn.lock().clone();
        if cert_user.as_deref() == Some(login.user.as_str()) {
            self.check_may_login(&login).await?;
            return self.finish(client, login, None).await;
        }

        let source = VerifierSource {
            router: self.router().clone(),
            tenant,
            mock_key: shared.mock_key.clone(),
        };
        let mechanism = ScramAuth::new(Arc::new(source)).create();
        *self.pending.lock() = Some(login);
        match shared.driver.begin_authentication(client, mechanism).await {
            Ok(AuthOutcome::InProgress) => Ok(()),
            Ok(AuthOutcome::Authenticated { final_message, .. }) => {
                self.finish_pending(client, final_message).await
            }
            Err(e) => Err(self.auth_error(e)),
        }
    }

    /// Handles one SASL message.
    async fn advance<C>(&self, client: &mut C, message: PasswordMessageFamily) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self
            .conn
            .shared
            .driver
            .advance_authentication(client, message)
            .await
        {
            Ok(AuthOutcome::InProgress) => Ok(()),
            Ok(AuthOutcome::Authenticated { final_message, .. }) => {
                self.finish_pending(client, final_message).await
            }
            Err(e) => Err(self.auth_error(e)),
        }
    }

    /// Maps a failed authentication step to the FATAL error the client sees.
    fn auth_error(&self, e: PgWireError) -> PgWireError {
        let user = self
            .pending
            .lock()
            .as_ref()
            .map(|l| l.user.clone())
            .unwrap_or_default();
        match e {
            PgWireError::InvalidPassword(_) => fatal(SqlError::new(
                SqlState::INVALID_PASSWORD,
                format!("password authentication failed for user {user}"),
            )),
            PgWireError::UserError(mut info) => {
                info.severity = ::pgwire::error::SEVERITY_FATAL.to_owned();
                PgWireError::UserError(info)
            }
            // Malformed SASL messages: pgwire's own FATAL 08P01 errors.
            other => other,
        }
    }

    /// 28000 unless the user exists and may log in (insecure mode and certificate login).
    async fn check_may_login(&self, login: &Login) -> PgWireResult<()> {
        let record = self
            .router()
            .user(login.tenant, &login.user)
            .await
            .map_err(fatal)?;
        match record {
            Some(UserRecord { login: true, .. }) => Ok(()),
            Some(_) => Err(fatal(SqlError::new(
                INVALID_AUTHORIZATION,
                format!("role \"{}\" is not permitted to log in", login.user),
            ))),
            None => Err(fatal(SqlError::new(
                INVALID_AUTHORIZATION,
                format!("role \"{}\" does not exist", login.user),
            ))),
        }
    }

    async fn finish_pending<C>(
        &self,
        client: &mut C,
        final_message: Option<Authentication>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let login = self
            .pending
            .lock()
            .take()
            .ok_or(PgWireError::InvalidSASLState)?;
        self.finish(client, login, final_message).await
    }

    /// Reads the virtual cluster's connection limits ([`super::limits`]): admits the session
    /// (53300 when the virtual cluster has all the connections it may have on this node and the
    /// user is no superuser), sets the message size limit and the memory pool.
    async fn apply_limits(&self, env: &SessionEnv, login: &Login) -> PgWireResult<()> {
        let limits = SessionLimits::read(&env.store, login.tenant)
            .await
            .map_err(fatal)?;
        let sessions = &self.conn.shared.sessions;
        let slot = match sessions.admit(login.tenant, limits.max_connections, false) {
            Ok(slot) => slot,
            Err(e) => {
                if !is_superuser(&env.store, login).await.map_err(fatal)? {
                    tracing::info!(user = %login.user, cluster = %login.cluster, "connection refused: too many clients");
                    return Err(fatal(e));
                }
                sessions
                    .admit(login.tenant, limits.max_connections, true)
                    .map_err(fatal)?
            }
        };
        *self.conn.slot.lock() = Some(slot);
        self.conn
            .max_message
            .store(limits.max_message, std::sync::atomic::Ordering::Relaxed);
        self.conn.held.lock().set_pool(env.sql_memory.clone());
        Ok(())
    }

    /// Creates the session and completes the startup protocol.
    async fn finish<C>(
        &self,
        client: &mut C,
        login: Login,
        final_message: Option<Authentication>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let env = self.router().session_env(login.tenant);
        self.apply_limits(&env, &login).await?;
        let mut session = Session::new(
            env,
            login.tenant,
            &login.cluster,
            &login.user,
            &login.database,
        );
        for (k, v) in login.settings {
            session.vars.insert(k, v);
        }
        if let Some(app) = login.application_name {
            session.vars.insert("application_name".to_owned(), app);
        }
        session.cancel = self.conn.cancel.clone();
        *self.conn.session.lock().await = Some(session);
        self.conn
            .shared
            .metrics
            .sessions_total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(user = %login.user, cluster = %login.cluster, "pgwire session started");
        self.conn
            .shared
            .driver
            .complete_authentication(client, final_message)
            .await?;
        // The BackendKeyData just sent: a CancelRequest naming it stops this session's statement.
        let (pid, secret) = client.pid_and_secret_key();
        self.conn
            .register_cancel_key(pid, secret.to_bytes().to_vec());
        Ok(())
    }
}

#[async_trait::async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let result = match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                self.begin(client).await
            }
            PgWireFrontendMessage::PasswordMessageFamily(msg) => self.advance(client, msg).await,
            _ => Err(fatal(SqlError::new(
                SqlState::PROTOCOL_VIOLATION,
                "expected an authentication response",
            ))),
        };
        if result.is_err() {
            self.conn
                .shared
                .metrics
                .auth_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }
}

/// Whether the login's user is `root` or a member of `admin`.
async fn is_superuser(store: &crate::kv::Store, login: &Login) -> Result<bool, SqlError> {
    if login.user == "root" {
        return Ok(true);
    }
    let mut txn = store.begin();
    let catalog = crate::sql::catalog::Catalog::new(login.tenant);
    let r = crate::sql::admin::is_admin(&mut txn, &catalog, &login.user).await;
    txn.rollback();
    r
}

/// SCRAM secrets from the virtual cluster's users. Unknown users, users without a password and
/// `NOLOGIN` roles get a per-user mock verifier no password matches.
struct VerifierSource {
    router: Arc<dyn ConnectionRouter>,
    tenant: TenantId,
    mock_key: hmac::Key,
}

impl Debug for VerifierSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierSource")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl VerifierSource {
    /// A deterministic verifier for `user` that no password matches (its keys are HMACs under a
    /// per-process random key, not derived from any password).
    fn mock(&self, user: &str) -> ScramSecret {
        let derive = |label: &str| {
            hmac::sign(&self.mock_key, format!("{label}\0{user}").as_bytes())
                .as_ref()
                .to_vec()
        };
        let mut salt = derive("salt");
        salt.truncate(16);
        ScramSecret::Verifier {
            salt,
            iterations: scram::ITERATIONS as usize,
            stored_key: derive("stored"),
            server_key: derive("server"),
        }
    }
}

#[async_trait::async_trait]
impl AuthSource for VerifierSource {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        // Only SCRAM with stored verifiers is offered; no plaintext password exists.
        Err(error(SqlError::internal(
            "password lookup is not supported",
        )))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = login.user().unwrap_or_default();
        let record = self.router.user(self.tenant, user).await.map_err(fatal)?;
        let verifier = record
            .filter(|r| r.login)
            .and_then(|r| r.scram_verifier)
            .and_then(|v| scram::parse(&v));
        let secret = match verifier {
            Some(v) => ScramSecret::Verifier {
                salt: v.salt,
                iterations: v.iterations as usize,
                stored_key: v.stored_key,
                server_key: v.server_key,
            },
            None => self.mock(user),
        };
        Ok((secret, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_in_every_spelling() {
        for raw in [
            "-ccluster=system",
            "-c cluster=system",
            "--cluster=system",
            "  -c   cluster=system  ",
        ] {
            assert_eq!(
                parse_options(raw).expect(raw).cluster.as_deref(),
                Some("system"),
                "{raw}"
            );
        }
        let o = parse_options("-c search_path=a\\ b --statement-timeout=5s -ccluster=app")
            .expect("several");
        assert_eq!(o.cluster.as_deref(), Some("app"));
        assert_eq!(
            o.settings,
            vec![
                ("search_path".to_owned(), "a b".to_owned()),
                ("statement_timeout".to_owned(), "5s".to_owned())
            ]
        );
        assert_eq!(parse_options("").expect("empty"), StartupOptions::default());
        for bad in ["cluster=x", "-c", "-cnovalue", "--=x", "-ccluster="] {
            assert_eq!(
                parse_options(bad).map_err(|e| e.state),
                Err(SqlState::SYNTAX_ERROR),
                "{bad}"
            );
        }
    }
}
