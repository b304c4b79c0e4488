//! Client side of tandem's SQL connections: CockroachDB-style connection URLs ([`ConnUrl`]) and
//! connecting to them with tokio-postgres over rustls ([`connect`]).
//!
//! tandem's own clients (`tandem sql`, the replication consumer, `tandem workload`) all go through
//! here. tokio-postgres only understands `sslmode=disable|prefer|require` and rejects
//! `sslrootcert`, `sslcert`, `sslkey` and `sslinline`, so a URL is parsed here first: the `ssl*`
//! parameters build a rustls configuration with [`crate::security::tls::client_config`], and
//! `options=-ccluster=<name>` (CockroachDB's spelling, with a second `=` inside the value) is
//! accepted as well as psql's `options=-ccluster%3D<name>`, `-c cluster=<name>` and
//! `--cluster=<name>`.
//!
//! Invariants: a [`ConnUrl`] never prints its password or inline key material (its `Debug` and
//! `Display` are [`ConnUrl::redacted`]); every error names the parameter or file it concerns and
//! never contains the password; TLS is ring-only (through `security::tls`), and
//! `sslmode=disable` is the only way to get a plaintext connection.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_postgres::error::DbError;
use tokio_postgres::{AsyncMessage, CancelToken, Client, Connection, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::security::certs::{CA_CERT_FILE, client_cert_file, client_key_file};
use crate::security::{SecurityError, SslMode};

/// Port tandem (like CockroachDB) listens on for SQL by default.
pub const DEFAULT_PORT: u16 = 26257;
/// User of a URL that names none.
pub const DEFAULT_USER: &str = "root";
/// Database of a URL that names none.
pub const DEFAULT_DATABASE: &str = "defaultdb";
/// Host of a URL that names none.
pub const DEFAULT_HOST: &str = "localhost";
/// Connect timeout used when the URL has no `connect_timeout` (as `cockroach sql`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How many server notices a connection buffers for [`ConnectionInfo::notices`] before it drops
/// new ones (a caller that never reads them must not grow memory).
const NOTICE_BUFFER: usize = 64;

/// The query parameters a URL may carry.
const KNOWN_PARAMS: &str = "options, sslmode, sslrootcert, sslcert, sslkey, sslinline, \
     application_name, connect_timeout, user, password, host, port, dbname";

/// Everything that can go wrong parsing a connection URL or connecting with it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is malformed.
    #[error("invalid connection URL: {reason}")]
    InvalidUrl {
        /// What is wrong (never contains the password).
        reason: String,
    },

    /// The URL's scheme is not `postgresql` or `postgres`.
    #[error(
        "invalid connection URL: unsupported scheme {0:?}; expected postgresql:// or postgres://"
    )]
    UnsupportedScheme(String),

    /// A query parameter tandem does not know.
    #[error("invalid connection URL: unknown parameter {name:?} (supported: {KNOWN_PARAMS})")]
    UnknownParameter {
        /// The parameter name.
        name: String,
    },

    /// A query parameter with a value that cannot be used.
    #[error("invalid connection URL: invalid value {value:?} for {name}: {reason}")]
    InvalidParameter {
        /// The parameter name.
        name: &'static str,
        /// The value as given (never a password or inline key).
        value: String,
        /// What is wrong.
        reason: String,
    },

    /// `sslmode` is not one of the known modes.
    #[error(
        "invalid connection URL: invalid sslmode {0:?}: expected one of disable, allow, prefer, require, verify-ca, verify-full"
    )]
    InvalidSslMode(String),

    /// A certificate or key file named by the URL does not exist.
    #[error("{param} file {} not found{}", path.display(), tried_suffix(tried))]
    MissingFile {
        /// The parameter that named it (`sslrootcert`, `sslcert`, `sslkey`).
        param: &'static str,
        /// The path as given in the URL.
        path: PathBuf,
        /// Other places looked at (relative to `--certs-dir`).
        tried: Vec<PathBuf>,
    },

    /// Inline PEM (`sslinline=true`) that cannot be used.
    #[error("{param} (inline): {reason}")]
    BadInlinePem {
        /// The parameter holding the PEM text.
        param: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// Building the TLS configuration failed (unreadable or mismatched certificate files, no
    /// root CA for a verifying mode, ...).
    #[error(transparent)]
    Tls(#[from] SecurityError),

    /// The connection could not be established (network, TLS handshake, authentication, unknown
    /// database or virtual cluster). A server-side refusal carries a SQLSTATE: see
    /// [`ClientError::db_error`].
    #[error("cannot connect to {target}: {}", describe_pg_error(source))]
    Connect {
        /// `host:port` connected to.
        target: String,
        /// The tokio-postgres error.
        #[source]
        source: tokio_postgres::Error,
    },
}

impl ClientError {
    /// The server's error (message, SQLSTATE, detail, hint) when the server refused the
    /// connection.
    pub fn db_error(&self) -> Option<&DbError> {
        match self {
            ClientError::Connect { source, .. } => source.as_db_error(),
            _ => None,
        }
    }

    fn invalid(reason: impl Into<String>) -> Self {
        ClientError::InvalidUrl {
            reason: reason.into(),
        }
    }
}

fn tried_suffix(tried: &[PathBuf]) -> String {
    if tried.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        format!(" (also tried {})", list.join(", "))
    }
}

/// A tokio-postgres error as one line: the server's message for server errors, otherwise the
/// error and its causes.
pub fn describe_pg_error(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Where a certificate or key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum CertSource {
    /// A PEM file.
    Path(PathBuf),
    /// PEM text given inline in the URL (`sslinline=true`).
    Inline(String),
}

impl fmt::Debug for CertSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertSource::Path(p) => f.debug_tuple("Path").field(p).finish(),
            CertSource::Inline(_) => f.write_str("Inline(..)"),
        }
    }
}

/// A parsed `postgresql://` connection URL.
///
/// `Debug` and `Display` show [`ConnUrl::redacted`]; use [`ConnUrl::to_url`] for the full URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnUrl {
    /// SQL user (default `root`).
    pub user: String,
    /// Password, if the URL has one.
    pub password: Option<String>,
    /// Host name, IP address, or a Unix socket directory (starting with `/`).
    pub host: String,
    /// Port (default 26257).
    pub port: u16,
    /// Database (default `defaultdb`).
    pub database: String,
    /// Virtual cluster from `options=-ccluster=<name>`.
    pub cluster: Option<String>,
    /// Other `-c name=value` settings from `options`, in order.
    pub settings: Vec<(String, String)>,
    /// TLS mode (default `verify-full`).
    pub sslmode: SslMode,
    /// Whether the URL named an `sslmode` (callers with an `--insecure` flag default to
    /// `disable` only when it did not).
    pub sslmode_explicit: bool,
    /// Root CA (`sslrootcert`).
    pub sslrootcert: Option<CertSource>,
    /// Client certificate (`sslcert`).
    pub sslcert: Option<CertSource>,
    /// Client key (`sslkey`).
    pub sslkey: Option<CertSource>,
    /// `application_name`.
    pub application_name: Option<String>,
    /// `connect_timeout` (seconds in the URL); `None` means [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Option<Duration>,
}

impl Default for ConnUrl {
    fn default() -> Self {
        ConnUrl {
            user: DEFAULT_USER.to_string(),
            password: None,
            host: DEFAULT_HOST.to_string(),
            port: DEFAULT_PORT,
            database: DEFAULT_DATABASE.to_string(),
            cluster: None,
            settings: Vec::new(),
            sslmode: SslMode::VerifyFull,
            sslmode_explicit: false,
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
            application_name: None,
            connect_timeout: None,
        }
    }
}

impl fmt::Debug for ConnUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnUrl({})", self.redacted())
    }
}

impl fmt::Display for ConnUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::str::FromStr for ConnUrl {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self, ClientError> {
        ConnUrl::parse(s)
    }
}

/// Characters escaped in user names and passwords.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Characters escaped in path and query values (`/` stays readable in file paths; `=` inside
/// `options` is escaped, which psql requires).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

fn decode(s: &str, what: &str) -> Result<String, ClientError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            ClientError::invalid(format!("{what} is not valid UTF-8 after percent-decoding"))
        })
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, ClientError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(ClientError::InvalidParameter {
            name,
            value: value.to_string(),
            reason: "expected true or false".into(),
        }),
    }
}

fn parse_port(value: &str) -> Result<u16, ClientError> {
    match value.parse::<u16>() {
        Ok(0) | Err(_) => Err(ClientError::InvalidParameter {
            name: "port",
            value: value.to_string(),
            reason: "expected a port number between 1 and 65535".into(),
        }),
        Ok(p) => Ok(p),
    }
}

/// Splits the `options` startup parameter into `(name, value)` settings: `-c name=value`,
/// `-cname=value` and `--name=value`, whitespace-separated, with `\` escaping the next
/// character as PostgreSQL does. Names have `-` replaced by `_`.
pub fn parse_startup_options(options: &str) -> Result<Vec<(String, String)>, ClientError> {
    // Tokenize on unescaped whitespace.
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut chars = options.chars();
    let mut in_token = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                in_token = true;
                if let Some(next) = chars.next() {
                    cur.push(next);
                }
            }
            c if c.is_whitespace() => {
                if in_token {
                    tokens.push(std::mem::take(&mut cur));
                    in_token = false;
                }
            }
            c => {
                in_token = true;
                cur.push(c);
            }
        }
    }
    if in_token {
        tokens.push(cur);
    }

    let bad = |token: &str, reason: &str| ClientError::InvalidParameter {
        name: "options",
        value: options.to_string(),
        reason: format!(
            "{reason} at {token:?}; expected -c name=value, -cname=value or --name=value"
        ),
    };
    let mut settings = Vec::new();
    let mut iter = tokens.iter();
    while let Some(token) = iter.next() {
        let assignment = if let Some(rest) = token.strip_prefix("--") {
            rest.to_string()
        } else if let Some(rest) = token.strip_prefix("-c") {
            if rest.is_empty() {
                match iter.next() {
                    Some(next) => next.clone(),
                    None => return Err(bad(token, "missing setting after -c")),
                }
            } else {
                rest.to_string()
            }
        } else {
            return Err(bad(token, "unsupported option"));
        };
        let Some((name, value)) = assignment.split_once('=') else {
            return Err(bad(&assignment, "missing '='"));
        };
        let name = name.trim().replace('-', "_");
        if name.is_empty() {
            return Err(bad(&assignment, "empty setting name"));
        }
        settings.push((name, value.to_string()));
    }
    Ok(settings)
}

/// Escapes a value for the `options` startup parameter (backslash before whitespace and `\`).
fn escape_option_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '\\' || c.is_whitespace() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl ConnUrl {
    /// Parses a `postgresql://` (or `postgres://`) URL. Only the syntax is checked here:
    /// certificate paths are kept as written (see [`ConnUrl::resolve_files`]).
    ///
    /// Accepted query parameters: `options` (`-ccluster=x`, `-ccluster%3Dx`, `-c cluster=x`,
    /// `--cluster=x`, other `-c` settings), `sslmode` (`disable | allow | prefer | require |
    /// verify-ca | verify-full`; `allow` and `prefer` mean `require`), `sslrootcert`, `sslcert`,
    /// `sslkey`, `sslinline` (`true`: the three `ssl*` values are PEM text), `application_name`,
    /// `connect_timeout` (seconds), and libpq's `user`, `password`, `host`, `port`, `dbname`.
    /// Defaults: user `root`, host `localhost`, port 26257, database `defaultdb`, `verify-full`.
    pub fn parse(url: &str) -> Result<ConnUrl, ClientError> {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(ClientError::invalid(
                "expected postgresql://[user[:password]@]host[:port][/database][?parameters]",
            ));
        };
        let scheme_lower = scheme.to_ascii_lowercase();
        if scheme_lower != "postgresql" && scheme_lower != "postgres" {
            return Err(ClientError::UnsupportedScheme(scheme.to_string()));
        }
        // Split off the query ourselves: the url crate would drop raw newlines (inline PEM) and
        // treats `+` as-is, while we want plain percent-decoding of every value.
        let (base, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        if base.contains('#') || query.is_some_and(|q| q.contains('#')) {
            return Err(ClientError::invalid("fragments ('#') are not allowed"));
        }
        let authority = base.split('/').next().unwrap_or("");
        let host_part = authority.rsplit('@').next().unwrap_or("");
        if host_part.contains(',') {
            return Err(ClientError::invalid("multiple hosts are not supported"));
        }

        let parsed = url::Url::parse(&format!("postgresql://{base}"))
            .map_err(|e| ClientError::invalid(e.to_string()))?;

        let mut out = ConnUrl::default();
        if !parsed.username().is_empty() {
            out.user = decode(parsed.username(), "the user name")?;
        }
        if let Some(pw) = parsed.password() {
            let pw = decode(pw, "the password")?;
            if !pw.is_empty() {
                out.password = Some(pw);
            }
        }
        match parsed.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => out.host = decode(d, "the host")?,
            Some(url::Host::Ipv4(ip)) => out.host = ip.to_string(),
            Some(url::Host::Ipv6(ip)) => out.host = ip.to_string(),
            _ => {}
        }
        if let Some(port) = parsed.port() {
            out.port = parse_port(&port.to_string())?;
        }
        let path = parsed.path().trim_start_matches('/');
        if path.contains('/') {
            return Err(ClientError::invalid(format!(
                "the path must be a single database name, got {path:?}"
            )));
        }
        if !path.is_empty() {
            out.database = decode(path, "the database name")?;
        }

        let mut inline = false;
        let mut rootcert = None;
        let mut cert = None;
        let mut key = None;
        for pair in query.unwrap_or("").split('&') {
            if pair.is_empty() {
                continue;
            }
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(raw_name, "a parameter name")?;
            let value = decode(raw_value, &format!("the value of {name}"))?;
            match name.as_str() {
                "options" => {
                    for (setting, v) in parse_startup_options(&value)? {
                        if setting == "cluster" {
                            out.cluster = Some(v);
                        } else {
                            out.settings.push((setting, v));
                        }
                    }
                }
                "sslmode" => {
                    out.sslmode = value
                        .parse::<SslMode>()
                        .map_err(|_| ClientError::InvalidSslMode(value.clone()))?;
                    out.sslmode_explicit = true;
                }
                "sslrootcert" => rootcert = Some(value),
                "sslcert" => cert = Some(value),
                "sslkey" => key = Some(value),
                "sslinline" => inline = parse_bool("sslinline", &value)?,
                "application_name" => out.application_name = Some(value),
                "connect_timeout" => {
                    let secs: u64 =
                        value
                            .trim()
                            .parse()
                            .map_err(|_| ClientError::InvalidParameter {
                                name: "connect_timeout",
                                value: value.clone(),
                                reason: "expected a whole number of seconds".into(),
                            })?;
                    out.connect_timeout = (secs > 0).then(|| Duration::from_secs(secs));
                }
                "user" => out.user = value,
                "password" => out.password = (!value.is_empty()).then_some(value),
                "host" => out.host = value,
                "port" => out.port = parse_port(value.trim())?,
                "dbname" | "database" => out.database = value,
                _ => return Err(ClientError::UnknownParameter { name }),
            }
        }
        if out.user.is_empty() {
            return Err(ClientError::invalid("empty user name"));
        }
        if out.database.is_empty() {
            out.database = DEFAULT_DATABASE.to_string();
        }

        let source =
            |param: &'static str, v: Option<String>| -> Result<Option<CertSource>, ClientError> {
                match v {
                    None => Ok(None),
                    Some(v) if v.is_empty() => Ok(None),
                    Some(v) if inline => {
                        if !v.contains("-----BEGIN") {
                            return Err(ClientError::BadInlinePem {
                            param,
                            reason:
                                "sslinline=true but the value is not PEM text (no -----BEGIN line)"
                                    .into(),
                        });
                        }
                        Ok(Some(CertSource::Inline(v)))
                    }
                    Some(v) => Ok(Some(CertSource::Path(PathBuf::from(v)))),
                }
            };
        out.sslrootcert = source("sslrootcert", rootcert)?;
        out.sslcert = source("sslcert", cert)?;
        out.sslkey = source("sslkey", key)?;
        Ok(out)
    }

    /// [`ConnUrl::parse`] followed by [`ConnUrl::resolve_files`].
    pub fn parse_with_certs_dir(
        url: &str,
        certs_dir: Option<&Path>,
    ) -> Result<ConnUrl, ClientError> {
        let mut parsed = ConnUrl::parse(url)?;
        parsed.resolve_files(certs_dir)?;
        Ok(parsed)
    }

    /// Finds the certificate files this URL will use, as `cockroach sql` does:
    /// - a relative `sslrootcert`/`sslcert`/`sslkey` is used as given if it exists, otherwise
    ///   looked up under `certs_dir` (first the whole relative path, then its file name);
    ///   absolute paths must exist;
    /// - without `sslrootcert`, a verifying mode uses `<certs_dir>/ca.crt` if it exists;
    /// - without `sslcert`, `<certs_dir>/client.<user>.crt` and `.key` are used if both exist.
    ///
    /// Only the files the `sslmode` needs are checked (none for `disable`, no root CA for
    /// `require`). A missing file is a [`ClientError::MissingFile`] naming it.
    pub fn resolve_files(&mut self, certs_dir: Option<&Path>) -> Result<(), ClientError> {
        if !self.sslmode.uses_tls() {
            return Ok(());
        }
        let verifying = matches!(self.sslmode, SslMode::VerifyCa | SslMode::VerifyFull);

        if verifying {
            match &self.sslrootcert {
                Some(CertSource::Path(p)) => {
                    self.sslrootcert =
                        Some(CertSource::Path(resolve_path("sslrootcert", p, certs_dir)?));
                }
                Some(CertSource::Inline(_)) => {}
                None => {
                    if let Some(dir) = certs_dir {
                        let ca = dir.join(CA_CERT_FILE);
                        if ca.is_file() {
                            self.sslrootcert = Some(CertSource::Path(ca));
                        }
                    }
                }
            }
        }

        match (&self.sslcert, &self.sslkey) {
            (Some(CertSource::Path(c)), Some(CertSource::Path(k))) => {
                let c = resolve_path("sslcert", c, certs_dir)?;
                let k = resolve_path("sslkey", k, certs_dir)?;
                self.sslcert = Some(CertSource::Path(c));
                self.sslkey = Some(CertSource::Path(k));
            }
            (Some(CertSource::Inline(_)), Some(CertSource::Inline(_))) => {}
            (Some(_), None) => {
                return Err(ClientError::invalid("sslcert is given without sslkey"));
            }
            (None, Some(_)) => {
                return Err(ClientError::invalid("sslkey is given without sslcert"));
            }
            (Some(_), Some(_)) => {
                return Err(ClientError::invalid(
                    "sslcert and sslkey must both be files or both be inline PEM",
                ));
            }
            (None, None) => {
                if let Some(dir) = certs_dir {
                    let c = dir.join(client_cert_file(&self.user));
                    let k = dir.join(client_key_file(&self.user));
                    if c.is_file() && k.is_file() {
                        self.sslcert = Some(CertSource::Path(c));
                        self.sslkey = Some(CertSource::Path(k));
                    }
                }
            }
        }
        Ok(())
    }

    /// The URL with the password replaced by `redacted` and inline certificates and keys
    /// removed; safe to log and to show in `SHOW` output.
    pub fn redacted(&self) -> String {
        self.render(true)
    }

    /// The full URL, secrets included (for storing, e.g. a replication source).
    pub fn to_url(&self) -> String {
        self.render(false)
    }

    /// `user@host:port/db`, or `user@host:port/cluster/db` with a virtual cluster: the shell
    /// prompt.
    pub fn prompt_label(&self) -> String {
        let mut label = format!("{}@{}", self.user, self.host_port());
        if let Some(cluster) = &self.cluster {
            label.push('/');
            label.push_str(cluster);
        }
        label.push('/');
        label.push_str(&self.database);
        label
    }

    /// `host:port` (IPv6 addresses in brackets).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The `options` startup parameter: `-ccluster=<name>` and the other settings, or `None`.
    pub fn startup_options(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(cluster) = &self.cluster {
            parts.push(format!("-ccluster={}", escape_option_value(cluster)));
        }
        for (name, value) in &self.settings {
            parts.push(format!("-c{}={}", name, escape_option_value(value)));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    fn render(&self, redact: bool) -> String {
        let password = self.password.as_ref().map(|pw| {
            if redact {
                "redacted".to_string()
            } else {
                pw.clone()
            }
        });
        let mut params: Vec<(&str, String)> = Vec::new();
        let mut s = String::from("postgresql://");
        if self.host.starts_with('/') {
            // A Unix socket directory cannot be a URL host: everything goes in the query.
            params.push(("host", self.host.clone()));
            params.push(("port", self.port.to_string()));
            params.push(("user", self.user.clone()));
            if let Some(pw) = password {
                params.push(("password", pw));
            }
        } else {
            s.push_str(&utf8_percent_encode(&self.user, USERINFO).to_string());
            if let Some(pw) = password {
                s.push(':');
                s.push_str(&utf8_percent_encode(&pw, USERINFO).to_string());
            }
            s.push('@');
            s.push_str(&self.host_port());
        }
        s.push('/');
        s.push_str(&utf8_percent_encode(&self.database, QUERY_VALUE).to_string());

        if let Some(options) = self.startup_options() {
            params.push(("options", options));
        }
        if self.sslmode_explicit || self.sslmode != SslMode::VerifyFull {
            params.push(("sslmode", self.sslmode.as_str().to_string()));
        }
        let any_inline = [&self.sslrootcert, &self.sslcert, &self.sslkey]
            .iter()
            .any(|c| matches!(c, Some(CertSource::Inline(_))));
        for (name, src) in [
            ("sslrootcert", &self.sslrootcert),
            ("sslcert", &self.sslcert),
            ("sslkey", &self.sslkey),
        ] {
            match src {
                Some(CertSource::Path(p)) => params.push((name, p.display().to_string())),
                Some(CertSource::Inline(pem)) if !redact => params.push((name, pem.clone())),
                _ => {}
            }
        }
        if any_inline && !redact {
            params.push(("sslinline", "true".into()));
        }
        if let Some(app) = &self.application_name {
            params.push(("application_name", app.clone()));
        }
        if let Some(t) = self.connect_timeout {
            params.push(("connect_timeout", t.as_secs().to_string()));
        }
        for (i, (name, value)) in params.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(name);
            s.push('=');
            s.push_str(&utf8_percent_encode(value, QUERY_VALUE).to_string());
        }
        s
    }

    /// The rustls client configuration for this URL's `sslmode` and certificates. Errors for
    /// `sslmode=disable`.
    pub fn tls_config(&self) -> Result<rustls::ClientConfig, ClientError> {
        let (root_path, root_inline) = match &self.sslrootcert {
            Some(CertSource::Path(p)) => (Some(p.as_path()), None),
            Some(CertSource::Inline(pem)) => (None, Some(pem.as_str())),
            None => (None, None),
        };
        let client_paths = match (&self.sslcert, &self.sslkey) {
            (Some(CertSource::Path(c)), Some(CertSource::Path(k))) => {
                Some((c.as_path(), k.as_path()))
            }
            _ => None,
        };
        let config =
            crate::security::client_config(root_path, root_inline, client_paths, self.sslmode)?;
        let mut config = Arc::unwrap_or_clone(config);
        if let (Some(CertSource::Inline(cert)), Some(CertSource::Inline(key))) =
            (&self.sslcert, &self.sslkey)
        {
            let certified = inline_certified_key(cert, key)?;
            config.client_auth_cert_resolver = Arc::new(FixedClientCert(Arc::new(certified)));
        }
        Ok(config)
    }

    fn pg_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .user(&self.user)
            .host(&self.host)
            .port(self.port)
            .dbname(&self.database)
            .connect_timeout(self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT));
        if let Some(pw) = &self.password {
            config.password(pw);
        }
        if let Some(options) = self.startup_options() {
            config.options(options);
        }
        if let Some(app) = &self.application_name {
            config.application_name(app);
        }
        config.ssl_mode(if self.sslmode.uses_tls() {
            tokio_postgres::config::SslMode::Require
        } else {
            tokio_postgres::config::SslMode::Disable
        });
        config
    }
}

/// Resolves one certificate path: as given, else under `certs_dir` (whole relative path, then
/// file name).
fn resolve_path(
    param: &'static str,
    path: &Path,
    certs_dir: Option<&Path>,
) -> Result<PathBuf, ClientError> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let mut tried = Vec::new();
    if path.is_relative()
        && let Some(dir) = certs_dir
    {
        let joined = dir.join(path);
        if joined.is_file() {
            return Ok(joined);
        }
        tried.push(joined);
        if let Some(name) = path.file_name() {
            let by_name = dir.join(name);
            if !tried.contains(&by_name) {
                if by_name.is_file() {
                    return Ok(by_name);
                }
                tried.push(by_name);
            }
        }
    }
    Err(ClientError::MissingFile {
        param,
        path: path.to_path_buf(),
        tried,
    })
}

fn inline_certified_key(cert_pem: &str, key_pem: &str) -> Result<CertifiedKey, ClientError> {
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| ClientError::BadInlinePem {
            param: "sslcert",
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(ClientError::BadInlinePem {
            param: "sslcert",
            reason: "no CERTIFICATE block".into(),
        });
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| ClientError::BadInlinePem {
            param: "sslkey",
            reason: e.to_string(),
        })?
        .ok_or_else(|| ClientError::BadInlinePem {
            param: "sslkey",
            reason: "no PRIVATE KEY block".into(),
        })?;
    CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider()).map_err(|e| {
        ClientError::BadInlinePem {
            param: "sslkey",
            reason: format!("unusable with sslcert: {e}"),
        }
    })
}

/// Presents one fixed client certificate (inline `sslcert`/`sslkey`).
#[derive(Debug)]
struct FixedClientCert(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for FixedClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A server notice (`NOTICE`, `WARNING`, ...) received on a connection.
pub type Notice = DbError;

/// What [`connect`] learned about the connection.
#[derive(Debug)]
pub struct ConnectionInfo {
    /// `host:port` connected to.
    pub target: String,
    /// The server's `server_version` parameter.
    pub server_version: Option<String>,
    /// Whether the connection is encrypted.
    pub tls: bool,
    /// The TLS mode used.
    pub sslmode: SslMode,
    /// Server notices, in order (the newest are dropped if more than a few dozen are unread).
    pub notices: mpsc::Receiver<Notice>,
}

/// Connects to `url` with tokio-postgres: over rustls with the URL's `sslmode` and
/// certificates (`disable`: plaintext), sending `options=-ccluster=<name>` and
/// `application_name` when given. The connection is driven by a spawned tokio task (a tokio
/// runtime is required), which ends when the [`Client`] is dropped or the server goes away.
pub async fn connect(url: &ConnUrl) -> Result<(Client, ConnectionInfo), ClientError> {
    crate::security::install_crypto_provider();
    let config = url.pg_config();
    let target = url.host_port();
    let connect_err = |source| ClientError::Connect {
        target: target.clone(),
        source,
    };
    if url.sslmode.uses_tls() {
        let tls = MakeRustlsConnect::new(url.tls_config()?);
        let (client, conn) = config.connect(tls).await.map_err(connect_err)?;
        Ok((client, spawn_connection(conn, url, target.clone(), true)))
    } else {
        let (client, conn) = config.connect(NoTls).await.map_err(connect_err)?;
        Ok((client, spawn_connection(conn, url, target.clone(), false)))
    }
}

/// Asks the server to cancel the statement running on the connection `token` belongs to (a new
/// connection made with the same TLS settings as `url`).
pub async fn cancel_query(url: &ConnUrl, token: &CancelToken) -> Result<(), ClientError> {
    let target = url.host_port();
    let result = if url.sslmode.uses_tls() {
        token
            .cancel_query(MakeRustlsConnect::new(url.tls_config()?))
            .await
    } else {
        token.cancel_query(NoTls).await
    };
    result.map_err(|source| ClientError::Connect { target, source })
}

fn spawn_connection<S, T>(
    mut conn: Connection<S, T>,
    url: &ConnUrl,
    target: String,
    tls: bool,
) -> ConnectionInfo
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let server_version = conn.parameter("server_version").map(str::to_string);
    let (tx, rx) = mpsc::channel(NOTICE_BUFFER);
    let task_target = target.clone();
    tokio::spawn(async move {
        loop {
            match futures::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notice(notice))) => {
                    // Full or closed: the caller is not reading notices; drop them.
                    let _ = tx.try_send(notice);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!(target = %task_target, error = %e, "SQL connection ended with an error");
                    break;
                }
                None => break,
            }
        }
    });
    ConnectionInfo {
        target,
        server_version,
        tls,
        sslmode: url.sslmode,
        notices: rx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> ConnUrl {
        match ConnUrl::parse(url) {
            Ok(u) => u,
            Err(e) => panic!("parse {url}: {e}"),
        }
    }

    #[test]
    fn defaults() {
        let u = parse("postgresql://");
        assert_eq!(u.user, "root");
        assert_eq!(u.host, "localhost");
        assert_eq!(u.port, 26257);
        assert_eq!(u.database, "defaultdb");
        assert_eq!(u.sslmode, SslMode::VerifyFull);
        assert!(!u.sslmode_explicit);
        assert_eq!(u.cluster, None);
        let u = parse("postgres://bob@db.example:5432");
        assert_eq!(
            (u.user.as_str(), u.host.as_str(), u.port),
            ("bob", "db.example", 5432)
        );
        assert_eq!(u.database, "defaultdb");
    }

    #[test]
    fn cluster_option_spellings() {
        for q in [
            "options=-ccluster=system",
            "options=-ccluster%3Dsystem",
            "options=-c%20cluster%3Dsystem",
            "options=-c cluster=system",
            "options=--cluster=system",
            "options=--cluster%3Dsystem",
        ] {
            let u = parse(&format!("postgresql://root@n1:26257/defaultdb?{q}"));
            assert_eq!(u.cluster.as_deref(), Some("system"), "{q}");
            assert_eq!(
                u.startup_options().as_deref(),
                Some("-ccluster=system"),
                "{q}"
            );
        }
        let u = parse("postgresql://root@h/db?options=-ccluster=app%20-c%20statement_timeout%3D5s");
        assert_eq!(u.cluster.as_deref(), Some("app"));
        assert_eq!(
            u.settings,
            vec![("statement_timeout".to_string(), "5s".to_string())]
        );
        assert_eq!(
            u.startup_options().as_deref(),
            Some("-ccluster=app -cstatement_timeout=5s")
        );
        assert!(matches!(
            ConnUrl::parse("postgresql://h/?options=-x"),
            Err(ClientError::InvalidParameter {
                name: "options",
                ..
            })
        ));
        assert!(ConnUrl::parse("postgresql://h/?options=-c").is_err());
        assert!(ConnUrl::parse("postgresql://h/?options=-ccluster").is_err());
    }

    #[test]
    fn sslmodes() {
        for (v, m) in [
            ("disable", SslMode::Disable),
            ("allow", SslMode::Require),
            ("prefer", SslMode::Require),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
            ("VERIFY-FULL", SslMode::VerifyFull),
        ] {
            let u = parse(&format!("postgresql://h/?sslmode={v}"));
            assert_eq!(u.sslmode, m, "{v}");
            assert!(u.sslmode_explicit);
        }
        let err = ConnUrl::parse("postgresql://h/?sslmode=sometimes").expect_err("bad mode");
        assert!(matches!(err, ClientError::InvalidSslMode(_)), "{err}");
        assert!(err.to_string().contains("sometimes"), "{err}");
    }

    #[test]
    fn full_cockroach_url() {
        let u = parse(
            "postgresql://repl:s3cr%40t@n1:26257/movr?options=-ccluster=system&sslmode=verify-full\
             &sslrootcert=certs/ca.crt&sslcert=certs/client.root.crt&sslkey=certs/client.root.key\
             &application_name=tandem%20sql&connect_timeout=5",
        );
        assert_eq!(u.user, "repl");
        assert_eq!(u.password.as_deref(), Some("s3cr@t"));
        assert_eq!(u.host, "n1");
        assert_eq!(u.database, "movr");
        assert_eq!(u.cluster.as_deref(), Some("system"));
        assert_eq!(u.sslrootcert, Some(CertSource::Path("certs/ca.crt".into())));
        assert_eq!(
            u.sslcert,
            Some(CertSource::Path("certs/client.root.crt".into()))
        );
        assert_eq!(
            u.sslkey,
            Some(CertSource::Path("certs/client.root.key".into()))
        );
        assert_eq!(u.application_name.as_deref(), Some("tandem sql"));
        assert_eq!(u.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(u.prompt_label(), "repl@n1:26257/system/movr");
        // The full URL round-trips.
        assert_eq!(parse(&u.to_url()), u);
    }

    #[test]
    fn ipv6_and_query_overrides() {
        let u = parse("postgresql://root@[::1]:26000/db");
        assert_eq!(u.host, "::1");
        assert_eq!(u.host_port(), "[::1]:26000");
        let u = parse("postgresql:///db?host=/tmp/sock&port=5433&user=alice&password=pw&dbname=x");
        assert_eq!(
            (u.host.as_str(), u.port, u.user.as_str()),
            ("/tmp/sock", 5433, "alice")
        );
        assert_eq!(u.password.as_deref(), Some("pw"));
        assert_eq!(u.database, "x");
        assert_eq!(parse(&u.to_url()), u);
    }

    #[test]
    fn redaction() {
        let u = parse(
            "postgresql://repl:hunter2@n1:26257?options=-ccluster=system&sslmode=verify-full&sslrootcert=certs/ca_primary.crt",
        );
        let r = u.redacted();
        assert!(!r.contains("hunter2"), "{r}");
        assert_eq!(
            r,
            "postgresql://repl:redacted@n1:26257/defaultdb?options=-ccluster%3Dsystem&sslmode=verify-full&sslrootcert=certs/ca_primary.crt"
        );
        assert_eq!(format!("{u}"), r);
        assert!(!format!("{u:?}").contains("hunter2"));

        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let enc = utf8_percent_encode(pem, NON_ALPHANUMERIC).to_string();
        let u = parse(&format!(
            "postgresql://root@h/?sslinline=true&sslmode=verify-full&sslrootcert={enc}&sslcert={enc}&sslkey={}",
            utf8_percent_encode(
                "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n",
                NON_ALPHANUMERIC
            )
        ));
        let r = u.redacted();
        assert!(
            !r.contains("BEGIN") && !r.contains("sslinline") && !r.contains("sslkey"),
            "{r}"
        );
        assert!(!format!("{u:?}").contains("PRIVATE"));
        assert!(u.to_url().contains("sslinline=true"));
    }

    #[test]
    fn inline_pem() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB+/x=\n-----END CERTIFICATE-----\n";
        let enc = utf8_percent_encode(pem, NON_ALPHANUMERIC).to_string();
        let u = parse(&format!("postgresql://h/?sslinline=true&sslrootcert={enc}"));
        // `+` stays `+` (no form decoding) and newlines survive.
        assert_eq!(u.sslrootcert, Some(CertSource::Inline(pem.to_string())));
        // Raw newlines inside the query also survive (the URL as a whole is trimmed).
        let u = parse(&format!("postgresql://h/?sslinline=true&sslrootcert={pem}"));
        assert_eq!(
            u.sslrootcert,
            Some(CertSource::Inline(pem.trim_end().to_string()))
        );
        let err = ConnUrl::parse("postgresql://h/?sslinline=true&sslrootcert=certs/ca.crt")
            .expect_err("not pem");
        assert!(
            matches!(
                err,
                ClientError::BadInlinePem {
                    param: "sslrootcert",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn errors() {
        let cases = [
            ("localhost:26257", "expected postgresql://"),
            ("mysql://root@h/db", "unsupported scheme"),
            ("postgresql://root@h:notaport/db", "invalid"),
            ("postgresql://root@h:99999/db", "invalid"),
            ("postgresql://root@h1:1,h2:2/db", "multiple hosts"),
            ("postgresql://root@h/db/extra", "single database"),
            (
                "postgresql://root@h/db?sslmod=disable",
                "unknown parameter \"sslmod\"",
            ),
            (
                "postgresql://root@h/db?connect_timeout=soon",
                "connect_timeout",
            ),
            ("postgresql://root@h/db?sslinline=maybe", "sslinline"),
            ("postgresql://root:pw@h/db#frag", "fragment"),
        ];
        for (url, want) in cases {
            let err = ConnUrl::parse(url).expect_err(url);
            let msg = err.to_string();
            assert!(msg.contains(want), "{url}: {msg}");
        }
        // The password never appears in an error.
        let err = ConnUrl::parse("postgresql://root:topsecret@h:bad/db").expect_err("bad port");
        assert!(!err.to_string().contains("topsecret"), "{err}");
    }

    #[test]
    fn relative_cert_paths_resolve_against_certs_dir() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let certs = tmp.path().join("certs");
        std::fs::create_dir_all(&certs).expect("mkdir");
        for f in [
            "ca.crt",
            "client.root.crt",
            "client.root.key",
            "client.bob.crt",
            "client.bob.key",
        ] {
            std::fs::write(certs.join(f), "x").expect("write");
        }
        // `certs/ca.crt` relative to cwd does not exist; found by file name in the certs dir.
        let u = ConnUrl::parse_with_certs_dir(
            "postgresql://root@h/?sslmode=verify-full&sslrootcert=certs/ca.crt&sslcert=client.root.crt&sslkey=client.root.key",
            Some(&certs),
        )
        .expect("resolve");
        assert_eq!(u.sslrootcert, Some(CertSource::Path(certs.join("ca.crt"))));
        assert_eq!(
            u.sslcert,
            Some(CertSource::Path(certs.join("client.root.crt")))
        );
        assert_eq!(
            u.sslkey,
            Some(CertSource::Path(certs.join("client.root.key")))
        );

        // Relative to the certs dir's parent via the whole relative path.
        let u = ConnUrl::parse_with_certs_dir(
            "postgresql://root@h/?sslmode=verify-ca&sslrootcert=certs/ca.crt",
            Some(tmp.path()),
        )
        .expect("resolve");
        assert_eq!(
            u.sslrootcert,
            Some(CertSource::Path(tmp.path().join("certs/ca.crt")))
        );

        // Absolute paths are used as they are.
        let abs = certs.join("ca.crt");
        let u = ConnUrl::parse_with_certs_dir(
            &format!("postgresql://root@h/?sslrootcert={}", abs.display()),
            None,
        )
        .expect("absolute");
        assert_eq!(u.sslrootcert, Some(CertSource::Path(abs)));

        // Defaults from the certs dir: ca.crt and client.<user>.crt/key.
        let u =
            ConnUrl::parse_with_certs_dir("postgresql://bob@h/", Some(&certs)).expect("defaults");
        assert_eq!(u.sslrootcert, Some(CertSource::Path(certs.join("ca.crt"))));
        assert_eq!(
            u.sslcert,
            Some(CertSource::Path(certs.join("client.bob.crt")))
        );
        assert_eq!(
            u.sslkey,
            Some(CertSource::Path(certs.join("client.bob.key")))
        );
        let u =
            ConnUrl::parse_with_certs_dir("postgresql://carol@h/", Some(&certs)).expect("no cert");
        assert_eq!(u.sslcert, None);
        // `require` needs no root CA; `disable` checks nothing.
        let u =
            ConnUrl::parse_with_certs_dir("postgresql://carol@h/?sslmode=require", Some(&certs))
                .expect("require");
        assert_eq!(u.sslrootcert, None);
        ConnUrl::parse_with_certs_dir(
            "postgresql://h/?sslmode=disable&sslrootcert=/nope/ca.crt",
            None,
        )
        .expect("disable ignores files");

        // Missing files name the path and where else we looked.
        let err = ConnUrl::parse_with_certs_dir(
            "postgresql://root@h/?sslrootcert=nope/ca2.crt",
            Some(&certs),
        )
        .expect_err("missing");
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                ClientError::MissingFile {
                    param: "sslrootcert",
                    ..
                }
            ),
            "{msg}"
        );
        assert!(
            msg.contains("nope/ca2.crt")
                && msg.contains(&certs.join("ca2.crt").display().to_string()),
            "{msg}"
        );
        let err = ConnUrl::parse_with_certs_dir(
            "postgresql://root@h/?sslcert=/abs/client.crt&sslkey=/abs/client.key",
            None,
        )
        .expect_err("missing");
        assert!(err.to_string().contains("/abs/client.crt"), "{err}");
        let err = ConnUrl::parse_with_certs_dir(
            "postgresql://root@h/?sslcert=client.root.crt",
            Some(&certs),
        )
        .expect_err("no key");
        assert!(err.to_string().contains("without sslkey"), "{err}");
    }

    #[test]
    fn tls_config_errors_name_the_problem() {
        let u = parse("postgresql://root@h/?sslmode=verify-full");
        let err = u.tls_config().expect_err("no root ca");
        assert!(err.to_string().contains("sslrootcert"), "{err}");
        let u = parse(
            "postgresql://root@h/?sslmode=verify-full&sslrootcert=/definitely/missing/ca.crt",
        );
        let err = u.tls_config().expect_err("missing ca");
        assert!(
            err.to_string().contains("/definitely/missing/ca.crt"),
            "{err}"
        );
        let u = parse("postgresql://root@h/?sslmode=require");
        assert!(u.tls_config().is_ok());
    }

    #[test]
    fn startup_option_escaping() {
        let settings =
            parse_startup_options(r"-csearch_path=a\ b --statement-timeout=1s").expect("parse");
        assert_eq!(
            settings,
            vec![
                ("search_path".to_string(), "a b".to_string()),
                ("statement_timeout".to_string(), "1s".to_string())
            ]
        );
        let u = ConnUrl {
            settings,
            ..ConnUrl::default()
        };
        assert_eq!(
            u.startup_options().as_deref(),
            Some(r"-csearch_path=a\ b -cstatement_timeout=1s")
        );
    }
}
