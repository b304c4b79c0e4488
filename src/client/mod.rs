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

mod conn_url;
mod tls;

pub use conn_url::*;
use tls::*;

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
     application_name, connect_timeout, crdb_route, user, password, host, port, dbname";

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
    fn another_node_keeps_credentials_and_refuses_bad_addresses() {
        let u = parse(
            "postgresql://repl:pw@n1:26257/system?sslmode=verify-full&options=-ccluster%3Dsystem",
        );
        let v = u.with_address("10.0.0.2:26001").expect("address");
        assert_eq!((v.host.as_str(), v.port), ("10.0.0.2", 26001));
        assert_eq!(
            (v.user, v.password, v.sslmode),
            (u.user.clone(), u.password.clone(), u.sslmode)
        );
        assert_eq!(v.cluster, u.cluster);
        assert_eq!(
            u.with_address("[::1]:7").expect("v6").host_port(),
            "[::1]:7"
        );
        for bad in ["n2", "n2:", ":26257", "n2:x", "n2:0", "n2:70000"] {
            assert!(u.with_address(bad).is_err(), "{bad}");
        }
        assert!(!u.route_gateway);
        let g = parse("postgresql://repl@lb:26257/?crdb_route=gateway");
        assert!(g.route_gateway);
        assert_eq!(parse(&g.to_url()), g, "round-trips");
        assert!(!parse("postgresql://repl@lb/?crdb_route=node").route_gateway);
        assert!(ConnUrl::parse("postgresql://repl@lb/?crdb_route=everywhere").is_err());
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
