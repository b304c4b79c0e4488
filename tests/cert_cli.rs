//! Integration test of the `tandem cert` library functions and the TLS configs built from their
//! files: creates a CA, a node certificate and client certificates in a temporary directory, then
//! runs real TLS handshakes over loopback TCP (tokio-rustls) between `server_config` and
//! `client_config` in each `SslMode`, checking what is accepted, what is rejected and that the
//! server sees the client certificate's CN as the user. Every network wait has a timeout; a
//! failed handshake is an expected outcome in some tests and is returned, never panicked on,
//! by the helpers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tandem::security::{
    CertOptions, CertUsage, SslMode, client_config, create_ca, create_client, create_node,
    format_list, list, peer_common_name, server_config,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A CA plus node and `root` client certificates in a temporary directory.
struct Pki {
    _tmp: tempfile::TempDir,
    certs: PathBuf,
}

impl Pki {
    fn new(node_hosts: &[&str]) -> Pki {
        let tmp = tempfile::tempdir().expect("tempdir");
        let certs = tmp.path().join("certs");
        let ca_key = tmp.path().join("my-safe-directory").join("ca.key");
        let opts = CertOptions::default();
        create_ca(&certs, &ca_key, &opts).expect("create-ca");
        let hosts: Vec<String> = node_hosts.iter().map(|h| h.to_string()).collect();
        create_node(&certs, &ca_key, &hosts, &opts).expect("create-node");
        create_client(&certs, &ca_key, "root", &opts).expect("create-client");
        Pki { _tmp: tmp, certs }
    }

    fn ca(&self) -> PathBuf {
        self.certs.join("ca.crt")
    }

    fn client_cert(&self, user: &str) -> (PathBuf, PathBuf) {
        (
            self.certs.join(format!("client.{user}.crt")),
            self.certs.join(format!("client.{user}.key")),
        )
    }

    fn client(&self, ca: &Path, with_cert: bool, mode: SslMode) -> Arc<ClientConfig> {
        let (cert, key) = self.client_cert("root");
        let client_cert = with_cert.then_some((cert.as_path(), key.as_path()));
        client_config(Some(ca), None, client_cert, mode).expect("client_config")
    }
}

/// What the server side of one connection saw: the client certificate's CN (if any).
type ServerOutcome = Result<Option<String>, String>;

/// One TLS connection over loopback: the server accepts, reports the client CN and writes
/// "hi"; the client connects as `server_name` and reads "hi". Returns both sides' outcomes.
async fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    server_name: &str,
) -> (ServerOutcome, Result<(), String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let acceptor = TlsAcceptor::from(server);
    let server_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let cn = match tls.get_ref().1.peer_certificates() {
            Some([leaf, ..]) => Some(peer_common_name(leaf).map_err(|e| e.to_string())?),
            _ => None,
        };
        tls.write_all(b"hi").await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(cn)
    });

    let name = ServerName::try_from(server_name.to_string()).expect("server name");
    let client_result = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut tls = TlsConnector::from(client)
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 2];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        if &buf != b"hi" {
            return Err(format!("unexpected greeting {buf:?}"));
        }
        Ok(())
    };
    let client_result = tokio::time::timeout(TIMEOUT, client_result)
        .await
        .unwrap_or_else(|_| Err("client timed out".into()));
    let server_result = match tokio::time::timeout(TIMEOUT, server_task).await {
        Ok(Ok(r)) => r,
        Ok(Err(join)) => Err(format!("server task failed: {join}")),
        Err(_) => Err("server timed out".into()),
    };
    (server_result, client_result)
}

#[tokio::test]
async fn verify_full_handshake_authenticates_client_as_root() {
    let pki = Pki::new(&["localhost", "127.0.0.1"]);
    let server = server_config(&pki.certs, false).expect("server_config");
    let client = pki.client(&pki.ca(), true, SslMode::VerifyFull);
    let (server_seen, client_result) = handshake(server, client, "localhost").await;
    assert_eq!(client_result, Ok(()));
    assert_eq!(server_seen, Ok(Some("root".to_string())));

    // Connecting by IP verifies the IP SAN.
    let server = server_config(&pki.certs, false).expect("server_config");
    let client = pki.client(&pki.ca(), true, SslMode::VerifyFull);
    let (server_seen, client_result) = handshake(server, client, "127.0.0.1").await;
    assert_eq!(client_result, Ok(()));
    assert_eq!(server_seen, Ok(Some("root".to_string())));
}

#[tokio::test]
async fn server_signed_by_another_ca_is_rejected() {
    let pki = Pki::new(&["localhost"]);
    let other = Pki::new(&["localhost"]);
    for mode in [SslMode::VerifyFull, SslMode::VerifyCa] {
        let server = server_config(&pki.certs, false).expect("server_config");
        let client = pki.client(&other.ca(), false, mode);
        let (server_seen, client_result) = handshake(server, client, "localhost").await;
        let err = client_result.expect_err("must not trust another CA");
        // Both CAs are named "Tandem CA", so webpki finds the issuer by name and fails on
        // its signature (BadSignature) rather than reporting UnknownIssuer.
        assert!(err.contains("invalid peer certificate"), "{mode}: {err}");
        assert!(server_seen.is_err(), "{mode}");
    }

    // `require` only encrypts: it accepts the unknown CA (documented as insecure).
    let server = server_config(&pki.certs, false).expect("server_config");
    let client = pki.client(&other.ca(), false, SslMode::Require);
    let (server_seen, client_result) = handshake(server, client, "localhost").await;
    assert_eq!(client_result, Ok(()));
    assert_eq!(server_seen, Ok(None));
}

#[tokio::test]
async fn name_not_in_sans_fails_verify_full_but_passes_verify_ca() {
    let pki = Pki::new(&["localhost"]);
    let server = server_config(&pki.certs, false).expect("server_config");
    let client = pki.client(&pki.ca(), true, SslMode::VerifyFull);
    let (_, client_result) = handshake(server, client, "db.example.com").await;
    let err = client_result.expect_err("name is not in the SANs");
    assert!(err.contains("not valid for name"), "{err}");

    let server = server_config(&pki.certs, false).expect("server_config");
    let client = pki.client(&pki.ca(), true, SslMode::VerifyCa);
    let (server_seen, client_result) = handshake(server, client, "db.example.com").await;
    assert_eq!(client_result, Ok(()));
    assert_eq!(server_seen, Ok(Some("root".to_string())));
}

#[tokio::test]
async fn client_certificates_are_optional_unless_required_and_must_chain_to_the_ca() {
    let pki = Pki::new(&["localhost"]);

    // Optional (pgwire): no client certificate is fine; the server sees no CN.
    let server = server_config(&pki.certs, false).expect("server_config");
    let client = pki.client(&pki.ca(), false, SslMode::VerifyFull);
    let (server_seen, client_result) = handshake(server, client, "localhost").await;
    assert_eq!(client_result, Ok(()));
    assert_eq!(server_seen, Ok(None));

    // Required (inter-node): no client certificate is rejected.
    let server = server_config(&pki.certs, true).expect("server_config");
    let client = pki.client(&pki.ca(), false, SslMode::VerifyFull);
    let (server_seen, client_result) = handshake(server, client, "localhost").await;
    assert!(server_seen.is_err(), "{server_seen:?}");
    assert!(client_result.is_err());

    // A client certificate from another CA is rejected even when optional.
    let other = Pki::new(&["localhost"]);
    let server = server_config(&pki.certs, false).expect("server_config");
    let (cert, key) = other.client_cert("root");
    let client = client_config(
        Some(&pki.ca()),
        None,
        Some((&cert, &key)),
        SslMode::VerifyFull,
    )
    .expect("client_config");
    let (server_seen, client_result) = handshake(server, client, "localhost").await;
    assert!(server_seen.is_err(), "{server_seen:?}");
    assert!(client_result.is_err());
}

#[test]
fn list_shows_ca_node_and_client() {
    let pki = Pki::new(&["localhost", "127.0.0.1"]);
    let infos = list(&pki.certs).expect("list");
    let usages: Vec<CertUsage> = infos.iter().map(|i| i.usage).collect();
    assert_eq!(usages, [CertUsage::Ca, CertUsage::Node, CertUsage::Client]);
    assert_eq!(infos[2].common_name, "root");
    assert_eq!(infos[1].sans, ["localhost", "127.0.0.1"]);
    let table = format_list(&infos);
    assert!(table.contains("client.root.crt"), "{table}");
}
