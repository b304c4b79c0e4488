//! `tandem init --host=<addr> [--certs-dir=<dir> | --insecure]`: asks a node started with
//! `tandem start` to bootstrap the cluster (see `actors::init_listener` for the protocol).

use crate::actors::init_listener::INIT_REQUEST;
use anyhow::{Context, bail};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> anyhow::Result<String> {
    s.write_all(format!("{INIT_REQUEST}\n").as_bytes())
        .await
        .context("send init request")?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .await
        .context("read init reply")?;
    let line = line.trim_end().to_string();
    if let Some(id) = line.strip_prefix("OK ") {
        return Ok(id.to_string());
    }
    if let Some(e) = line.strip_prefix("ERR ") {
        bail!("{e}");
    }
    if line.is_empty() {
        bail!(
            "the node closed the connection without an answer (is it already initialized, or started with start-single-node?)"
        );
    }
    bail!("unexpected answer from the node: {line:?}");
}

/// Runs `tandem init`.
pub async fn run(host: &str, certs_dir: Option<&Path>, insecure: bool) -> anyhow::Result<()> {
    let addr = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:26257")
    };
    let addr = if addr.starts_with(':') {
        format!("localhost{addr}")
    } else {
        addr
    };
    let sock = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    .context("connect timed out")?
    .with_context(|| format!("connect to {addr}"))?;
    let id = if insecure {
        exchange(sock).await?
    } else {
        let dir = certs_dir.context("--certs-dir is required unless --insecure")?;
        let cfg = crate::security::tls::client_config(
            Some(&dir.join("ca.crt")),
            None,
            Some((&dir.join("client.root.crt"), &dir.join("client.root.key"))),
            crate::security::tls::SslMode::VerifyFull,
        )
        .context("load certificates")?;
        let host_only = addr
            .rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']').to_string())
            .unwrap_or_default();
        let name = rustls::pki_types::ServerName::try_from(host_only.clone())
            .with_context(|| format!("invalid host name {host_only}"))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::clone(&cfg))
            .connect(name, sock)
            .await
            .context("TLS handshake with the node")?;
        exchange(tls).await?
    };
    println!("Cluster successfully initialized (node {id})");
    Ok(())
}
