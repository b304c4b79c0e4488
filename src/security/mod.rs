//! Security: the certificate authority and certificate files behind `tandem cert` ([`certs`]),
//! rustls configurations for tandem's TLS servers and clients ([`tls`]), and their one error
//! type ([`SecurityError`]).
//!
//! Invariants: ring is the only rustls crypto provider in the build (no aws-lc-rs), private keys
//! are never readable by other users (mode 0600 from creation), and every error names the file,
//! host or user it concerns. Failures are returned, never panicked on: a command fails with the
//! error's message, and a server must refuse to start instead of serving without TLS.

pub mod certs;
pub mod error;
pub mod tls;

pub use certs::{
    CertInfo, CertOptions, CertUsage, create_ca, create_client, create_node, format_list, list,
};
pub use error::{Result, SecurityError};
pub use tls::{
    SslMode, client_config, install_crypto_provider, peer_common_name, server_config,
    server_config_with_alpn,
};
