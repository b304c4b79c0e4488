//! Becoming a member of a cluster: the node's connections to its peers and the join loop.
//!
//! A node started with `tandem start` on an empty store is not a member yet. It waits for
//! whichever comes first: `tandem init` pointed at it (it bootstraps the cluster and becomes
//! node 1), or a successful join: every second it asks each `--join` address other than its
//! own for a node id ([`Service::Join`]). A node that is itself waiting for init answers "node
//! is waiting for cluster initialization", and the loop goes on. Once joined, the node id is
//! stored locally, so a restart neither joins again nor waits.

use super::service::{JoinRequest, JoinResponse};
use crate::rpc::peers::Peers;
use crate::rpc::{Hello, Service};
use std::path::Path;
use std::time::Duration;

/// How often the join loop retries.
const JOIN_RETRY: Duration = Duration::from_secs(1);

/// The node's outgoing connections, authenticated with its node certificate (plaintext for
/// `--insecure`).
pub fn node_peers(certs_dir: Option<&Path>, insecure: bool) -> anyhow::Result<Peers> {
    use anyhow::Context as _;
    let tls = match certs_dir {
        Some(dir) if !insecure => Some(
            crate::security::tls::client_config(
                Some(&dir.join(crate::security::certs::CA_CERT_FILE)),
                None,
                Some((
                    &dir.join(crate::security::certs::NODE_CERT_FILE),
                    &dir.join(crate::security::certs::NODE_KEY_FILE),
                )),
                crate::security::tls::SslMode::VerifyFull,
            )
            .context("load the node certificate for inter-node connections")?,
        ),
        _ => None,
    };
    Ok(Peers::new(tls, Hello::default()))
}

/// Asks the seeds for a node id until one answers.
pub async fn join(peers: &Peers, me: &str) -> JoinResponse {
    let mut last_logged = String::new();
    loop {
        for addr in peers.known_addresses() {
            let body = match crate::rpc::encode_body(&JoinRequest {
                address: me.to_string(),
            }) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!("cannot encode a join request: {e}");
                    continue;
                }
            };
            match peers
                .call(&addr, Service::Join, body, Duration::from_secs(10))
                .await
                .and_then(|raw| crate::rpc::decode_body::<JoinResponse>(&raw))
            {
                Ok(r) => return r,
                Err(e) => {
                    let msg = format!("join via {addr}: {e}");
                    if msg != last_logged {
                        tracing::info!("{msg}; retrying");
                        last_logged = msg;
                    }
                }
            }
        }
        tokio::time::sleep(JOIN_RETRY).await;
    }
}
