//! TLS configuration for tandem's servers (pgwire, console, inter-node) and clients (the SQL
//! shell, inter-node RPC, replication streams), built from the PEM files `tandem cert` writes.
//!
//! Invariants: ring is the only crypto provider; every config here is built with an explicit
//! ring provider, and [`install_crypto_provider`] (called by every constructor, and to be called
//! at the start of `main`) makes ring the process default for code that builds its own configs.
//! Servers present `node.crt`/`node.key` and verify client certificates against `ca.crt`;
//! clients verify servers according to [`SslMode`]. The SQL user of a client certificate is its
//! subject CN ([`peer_common_name`]).
//!
//! On failure (missing or malformed file, key not matching its certificate, no root CA for a
//! verifying mode) a [`SecurityError`] naming the file is returned and no config is built: a
//! server must refuse to start rather than fall back to plaintext.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};

use super::certs::{self, CA_CERT_FILE, NODE_CERT_FILE, NODE_KEY_FILE};
use super::error::{Result, SecurityError};

/// ALPN protocol id of PostgreSQL direct TLS (PostgreSQL 17 `sslnegotiation=direct`).
pub const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// Makes ring the process-wide default rustls crypto provider. Idempotent: a provider that is
/// already installed (by an earlier call or by another component) is left in place.
pub fn install_crypto_provider() {
    // Err means a default is already installed, which is exactly what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The pgwire server config: [`server_config_with_alpn`] advertising ALPN `postgresql` (clients
/// that send no ALPN, i.e. every client using `SSLRequest`, are unaffected).
pub fn server_config(certs_dir: &Path, require_client_cert: bool) -> Result<Arc<ServerConfig>> {
    server_config_with_alpn(certs_dir, require_client_cert, &[ALPN_POSTGRESQL])
}

/// A server config presenting `<certs_dir>/node.crt` + `node.key`. Client certificates are
/// verified against `<certs_dir>/ca.crt`; without `require_client_cert` a client may also
/// connect without one (pgwire then falls back to password authentication), but a client
/// certificate that is presented must chain to the CA. `alpn` lists the protocols offered (empty
/// = no ALPN; for the console use e.g. `[b"h2", b"http/1.1"]`).
pub fn server_config_with_alpn(
    certs_dir: &Path,
    require_client_cert: bool,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>> {
    install_crypto_provider();
    let cert_path = certs_dir.join(NODE_CERT_FILE);
    let key_path = certs_dir.join(NODE_KEY_FILE);
    let chain = load_certs_or(&cert_path, |path| SecurityError::MissingFile {
        what: "node certificate",
        path,
        hint: "; run `tandem cert create-node`",
    })?;
    let key = load_private_key_or(&key_path, |path| SecurityError::MissingFile {
        what: "node key",
        path,
        hint: "; run `tandem cert create-node`",
    })?;
    let roots = load_root_store(&certs_dir.join(CA_CERT_FILE))?;

    let provider = provider();
    let mut verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if !require_client_cert {
        verifier = verifier.allow_unauthenticated();
    }
    let verifier = verifier.build().map_err(|source| SecurityError::Verifier {
        context: "client certificate verifier".into(),
        source,
    })?;

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| tls_error("protocol versions", source))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| key_error(e, &cert_path, &key_path))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// How a client verifies the server, named as libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SslMode {
    /// No TLS at all; [`client_config`] refuses to build a config for it.
    Disable,
    /// Encrypt, but accept any server certificate (INSECURE: no protection against an active
    /// man in the middle). `allow` and `prefer` parse to this too: tandem clients always try TLS
    /// and do not fall back to plaintext.
    Require,
    /// Encrypt and check that the server certificate chains to the given root CA, but not that
    /// it was issued for the host name connected to.
    VerifyCa,
    /// Encrypt, check the chain and check that the host name is one of the certificate's SANs.
    #[default]
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether connections in this mode use TLS.
    pub fn uses_tls(self) -> bool {
        self != SslMode::Disable
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = SecurityError;

    /// Parses `disable | allow | prefer | require | verify-ca | verify-full` (case-insensitive);
    /// `allow` and `prefer` map to [`SslMode::Require`].
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "disable" => Ok(SslMode::Disable),
            "allow" | "prefer" | "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            _ => Err(SecurityError::InvalidSslMode(s.to_string())),
        }
    }
}

/// A client config for `mode`.
///
/// Root CAs come from `root_ca_pem_path` (`sslrootcert`) and/or `inline_root_pem` (a PEM string,
/// e.g. from a replication source URI); `verify-ca` and `verify-full` need at least one, and
/// `require` ignores them. `client_cert` is `(certificate, key)` (`sslcert`, `sslkey`) for
/// certificate authentication. `verify-full` checks the server name passed to the connector
/// (e.g. `localhost` or an IP address) against the certificate's SANs. `disable` is an error:
/// there is nothing to configure.
pub fn client_config(
    root_ca_pem_path: Option<&Path>,
    inline_root_pem: Option<&str>,
    client_cert: Option<(&Path, &Path)>,
    mode: SslMode,
) -> Result<Arc<ClientConfig>> {
    install_crypto_provider();
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|source| tls_error("protocol versions", source))?;

    let builder = match mode {
        SslMode::Disable => return Err(SecurityError::TlsDisabled),
        SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert {
                algorithms: provider.signature_verification_algorithms,
            })),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let mut roots = RootCertStore::empty();
            if let Some(path) = root_ca_pem_path {
                let certs = load_certs_or(path, |path| SecurityError::MissingFile {
                    what: "root CA certificate",
                    path,
                    hint: "",
                })?;
                add_roots(&mut roots, certs, &path.display().to_string())?;
            }
            if let Some(pem) = inline_root_pem {
                let origin = "inline root CA certificate";
                let certs = parse_certs_pem(pem.as_bytes(), origin)?;
                if certs.is_empty() {
                    return Err(SecurityError::BadPem {
                        origin: origin.into(),
                        reason: "no CERTIFICATE block".into(),
                    });
                }
                add_roots(&mut roots, certs, origin)?;
            }
            if roots.is_empty() {
                return Err(SecurityError::MissingRootCa {
                    mode: mode.as_str(),
                });
            }
            if mode == SslMode::VerifyFull {
                builder.with_root_certificates(roots)
            } else {
                let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|source| SecurityError::Verifier {
                        context: "server certificate verifier".into(),
                        source,
                    })?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(IgnoreHostname { inner }))
            }
        }
    };

    let config = match client_cert {
        Some((cert_path, key_path)) => {
            let chain = load_certs_or(cert_path, |path| SecurityError::MissingFile {
                what: "client certificate",
                path,
                hint: "; run `tandem cert create-client`",
            })?;
            let key = load_private_key_or(key_path, |path| SecurityError::MissingFile {
                what: "client key",
                path,
                hint: "; run `tandem cert create-client`",
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| key_error(e, cert_path, key_path))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The subject common name of a DER certificate: for client-certificate authentication, the SQL
/// user the peer authenticated as. Errors if the certificate does not parse or has no CN.
pub fn peer_common_name(der: &[u8]) -> Result<String> {
    let origin = "peer certificate";
    let cert = certs::parse_x509(der, origin)?;
    certs::common_name(&cert).ok_or_else(|| SecurityError::BadCert {
        origin: origin.into(),
        reason: "no subject common name".into(),
    })
}

/// Loads every certificate of a PEM file (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    load_certs_or(path, |path| SecurityError::MissingFile {
        what: "certificate",
        path,
        hint: "",
    })
}

/// Loads the first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    load_private_key_or(path, |path| SecurityError::MissingFile {
        what: "private key",
        path,
        hint: "",
    })
}

/// Loads a root store from a PEM file of CA certificates (`ca.crt`).
pub fn load_root_store(path: &Path) -> Result<RootCertStore> {
    let certs = load_certs_or(path, |path| SecurityError::MissingCaCert { path })?;
    let mut roots = RootCertStore::empty();
    add_roots(&mut roots, certs, &path.display().to_string())?;
    Ok(roots)
}

/// Decodes the `CERTIFICATE` blocks of a PEM document (other blocks are skipped); `origin`
/// names the source in errors. May return an empty list.
pub(crate) fn parse_certs_pem(pem: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>> {
    rustls_pemfile::certs(&mut &pem[..])
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| SecurityError::BadPem {
            origin: origin.to_string(),
            reason: e.to_string(),
        })
}

fn load_certs_or(
    path: &Path,
    missing: impl FnOnce(std::path::PathBuf) -> SecurityError,
) -> Result<Vec<CertificateDer<'static>>> {
    let pem = certs::read(path, missing)?;
    let origin = path.display().to_string();
    let certs = parse_certs_pem(&pem, &origin)?;
    if certs.is_empty() {
        return Err(SecurityError::BadPem {
            origin,
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

fn load_private_key_or(
    path: &Path,
    missing: impl FnOnce(std::path::PathBuf) -> SecurityError,
) -> Result<PrivateKeyDer<'static>> {
    let pem = certs::read(path, missing)?;
    let bad = |reason: String| SecurityError::BadPem {
        origin: path.display().to_string(),
        reason,
    };
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad("no PRIVATE KEY block".into()))
}

fn add_roots(
    roots: &mut RootCertStore,
    certs: Vec<CertificateDer<'static>>,
    origin: &str,
) -> Result<()> {
    for cert in certs {
        roots.add(cert).map_err(|e| SecurityError::BadCert {
            origin: origin.to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

fn tls_error(context: &str, source: rustls::Error) -> SecurityError {
    SecurityError::Tls {
        context: context.to_string(),
        source,
    }
}

/// Maps rustls' certificate/key pairing errors, naming both files.
fn key_error(e: rustls::Error, cert: &Path, key: &Path) -> SecurityError {
    match e {
        rustls::Error::InconsistentKeys(_) => SecurityError::KeyMismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        },
        source => SecurityError::Tls {
            context: format!("{} with {}", cert.display(), key.display()),
            source,
        },
    }
}

/// `verify-ca`: full WebPKI verification except the host name check.
#[derive(Debug)]
struct IgnoreHostname {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for IgnoreHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // WebPkiServerVerifier checks the chain (and expiry) before the name, so a name error
        // means everything else passed.
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `require`: accepts any server certificate (INSECURE against an active attacker), but still
/// checks the handshake signatures so the session keys belong to whoever sent the certificate.
#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::certs::{CertOptions, create_ca, create_client, create_node};

    fn pki() -> (tempfile::TempDir, std::path::PathBuf) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let certs = tmp.path().join("certs");
        let ca_key = tmp.path().join("ca.key");
        let opts = CertOptions::default();
        create_ca(&certs, &ca_key, &opts).expect("ca");
        create_node(&certs, &ca_key, &["localhost".to_string()], &opts).expect("node");
        create_client(&certs, &ca_key, "root", &opts).expect("client");
        (tmp, certs)
    }

    #[test]
    fn sslmode_parses() {
        for (s, m) in [
            ("disable", SslMode::Disable),
            ("allow", SslMode::Require),
            ("prefer", SslMode::Require),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("Verify-Full", SslMode::VerifyFull),
        ] {
            assert_eq!(s.parse::<SslMode>().expect(s), m);
        }
        assert!(matches!(
            "verify_full".parse::<SslMode>(),
            Err(SecurityError::InvalidSslMode(_))
        ));
        assert_eq!(SslMode::VerifyCa.to_string(), "verify-ca");
    }

    #[test]
    fn configs_build_from_created_files() {
        let (_tmp, certs) = pki();
        let server = server_config(&certs, false).expect("server");
        assert_eq!(server.alpn_protocols, vec![ALPN_POSTGRESQL.to_vec()]);
        server_config_with_alpn(&certs, true, &[]).expect("server mTLS");
        let ca = certs.join(CA_CERT_FILE);
        let client = (certs.join("client.root.crt"), certs.join("client.root.key"));
        for mode in [SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull] {
            client_config(Some(&ca), None, Some((&client.0, &client.1)), mode).expect("client");
        }
        let inline = std::fs::read_to_string(&ca).expect("read");
        client_config(None, Some(&inline), None, SslMode::VerifyFull).expect("inline root");
        client_config(None, None, None, SslMode::Require).expect("require without root");
    }

    #[test]
    fn config_errors_name_the_problem() {
        let (tmp, certs) = pki();
        assert!(matches!(
            client_config(None, None, None, SslMode::VerifyFull),
            Err(SecurityError::MissingRootCa { .. })
        ));
        assert!(matches!(
            client_config(None, None, None, SslMode::Disable),
            Err(SecurityError::TlsDisabled)
        ));
        assert!(matches!(
            client_config(None, Some("garbage"), None, SslMode::VerifyCa),
            Err(SecurityError::BadPem { .. })
        ));
        let err = server_config(tmp.path(), false).expect_err("no node cert");
        assert!(err.to_string().contains("node.crt"), "{err}");

        // node.crt with the client's key: rustls notices the mismatch.
        std::fs::copy(certs.join("client.root.key"), certs.join(NODE_KEY_FILE)).expect("copy");
        let err = server_config(&certs, false).expect_err("mismatch");
        assert!(matches!(err, SecurityError::KeyMismatch { .. }), "{err}");
    }

    #[test]
    fn peer_common_name_reads_cn() {
        let (_tmp, certs) = pki();
        let der = load_certs(&certs.join("client.root.crt"))
            .expect("load")
            .remove(0);
        assert_eq!(peer_common_name(&der).expect("cn"), "root");
        assert!(peer_common_name(b"not a cert").is_err());
    }
}
