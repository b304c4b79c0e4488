//! The one error type of the security layer ([`SecurityError`]), shared by certificate creation
//! (`certs`) and TLS configuration loading (`tls`).
//!
//! Invariant: every error that concerns a file names that file (the path is part of the
//! variant and of its message), so a CLI can print the error as-is and the operator knows which
//! file to fix. Nothing in this module recovers from errors: callers either report them
//! (`tandem cert ...` exits non-zero) or refuse to start a listener.

use std::io;
use std::path::PathBuf;

/// Result alias for the security layer.
pub type Result<T, E = SecurityError> = std::result::Result<T, E>;

/// Everything that can go wrong while creating, listing or loading certificates and keys.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// Reading, writing or creating `path` failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// An output file exists and overwriting was not requested.
    #[error("{} already exists; refusing to overwrite it (pass --overwrite to replace it)", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },

    /// The CA certificate (`<certs-dir>/ca.crt`) is missing.
    #[error("CA certificate {} not found; run `tandem cert create-ca` first", path.display())]
    MissingCaCert {
        /// Where the CA certificate was expected.
        path: PathBuf,
    },

    /// The CA private key (`--ca-key`) is missing.
    #[error("CA key {} not found; pass the --ca-key path that `tandem cert create-ca` wrote", path.display())]
    MissingCaKey {
        /// Where the CA key was expected.
        path: PathBuf,
    },

    /// Some other required file is missing (node certificate, client key, root CA, ...).
    #[error("{what} {} not found{hint}", path.display())]
    MissingFile {
        /// What the file is, e.g. "node certificate".
        what: &'static str,
        /// Where it was expected.
        path: PathBuf,
        /// Extra advice appended to the message (may be empty), e.g. "; run `tandem cert create-node`".
        hint: &'static str,
    },

    /// A PEM source (file or inline string) could not be decoded, or held no usable block.
    #[error("{origin}: bad PEM: {reason}")]
    BadPem {
        /// The file path, or a description of an inline source.
        origin: String,
        /// What was wrong.
        reason: String,
    },

    /// A certificate could not be parsed as X.509, or lacks a required field.
    #[error("{origin}: invalid certificate: {reason}")]
    BadCert {
        /// The file path, or a description of the source (e.g. "peer certificate").
        origin: String,
        /// What was wrong.
        reason: String,
    },

    /// A private key could not be parsed or used for signing.
    #[error("{}: invalid private key: {reason}", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },

    /// The certificate expected to be a CA is not one.
    #[error("{}: not a CA certificate (no basicConstraints CA:TRUE)", path.display())]
    NotCa {
        /// The certificate file.
        path: PathBuf,
    },

    /// A private key does not belong to the certificate it is paired with.
    #[error("key {} does not match certificate {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },

    /// A host given for a node certificate is neither an IP address nor a valid DNS name.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost {
        /// The host as given.
        host: String,
        /// What was wrong.
        reason: String,
    },

    /// `create-node` was called without any host.
    #[error("no hosts given: a node certificate needs at least one host name or IP address")]
    NoHosts,

    /// A user name for a client certificate is not acceptable.
    #[error("invalid user name {user:?}: {reason}")]
    InvalidUser {
        /// The user name as given.
        user: String,
        /// What was wrong.
        reason: String,
    },

    /// A certificate lifetime is zero, unparsable or too large.
    #[error("invalid certificate lifetime {value:?}: {reason}")]
    InvalidLifetime {
        /// The lifetime as given.
        value: String,
        /// What was wrong.
        reason: String,
    },

    /// rcgen failed to build or sign a certificate.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),

    /// An `sslmode` string is not one of the known modes.
    #[error(
        "invalid sslmode {0:?}: expected one of disable, allow, prefer, require, verify-ca, verify-full"
    )]
    InvalidSslMode(String),

    /// `verify-ca` / `verify-full` was asked for without a root CA certificate.
    #[error("sslmode={mode} needs a root CA certificate (sslrootcert)")]
    MissingRootCa {
        /// The mode that needs it.
        mode: &'static str,
    },

    /// A TLS client configuration was requested for `sslmode=disable`.
    #[error("sslmode=disable: no TLS configuration is built for unencrypted connections")]
    TlsDisabled,

    /// rustls rejected the configuration (bad key, unsupported algorithm, ...).
    #[error("TLS configuration error ({context}): {source}")]
    Tls {
        /// What was being configured.
        context: String,
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },

    /// rustls could not build a certificate verifier (e.g. empty root store).
    #[error("TLS verifier error ({context}): {source}")]
    Verifier {
        /// Which verifier was being built.
        context: String,
        /// The rustls error.
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
}

impl SecurityError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        SecurityError::Io {
            path: path.into(),
            source,
        }
    }
}
