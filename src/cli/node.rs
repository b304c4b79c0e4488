//! The operator tools that talk to a node over the inter-node transport (see [`crate::rpc`]):
//! `tandem init --host=<addr>` asks a node started with `tandem start` to bootstrap the cluster,
//! and `tandem node status --host=<addr>` prints every node of the cluster. Both authenticate
//! with `client.root.crt` from `--certs-dir` (or run in plaintext with `--insecure`) and fail
//! with the node's message and a non-zero exit code.

use crate::node::status::NodeStatus;
use crate::rpc::{Service, peers};
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// `host[:port]` with the default port; a bare `:port` means localhost.
pub fn node_address(host: &str) -> String {
    let addr = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:26257")
    };
    if addr.starts_with(':') {
        format!("localhost{addr}")
    } else {
        addr
    }
}

fn root_tls(
    certs_dir: Option<&Path>,
    insecure: bool,
) -> anyhow::Result<Option<Arc<rustls::ClientConfig>>> {
    if insecure {
        return Ok(None);
    }
    let dir = certs_dir.context("--certs-dir is required unless --insecure")?;
    let cfg = crate::security::tls::client_config(
        Some(&dir.join("ca.crt")),
        None,
        Some((&dir.join("client.root.crt"), &dir.join("client.root.key"))),
        crate::security::tls::SslMode::VerifyFull,
    )
    .context("load certificates")?;
    Ok(Some(cfg))
}

/// Runs `tandem init`.
pub async fn run(host: &str, certs_dir: Option<&Path>, insecure: bool) -> anyhow::Result<()> {
    let id = init_cluster(host, certs_dir, insecure).await?;
    println!("Cluster successfully initialized (node {id})");
    Ok(())
}

/// Bootstraps the cluster on the node at `host`; returns the id of the node that did.
pub async fn init_cluster(
    host: &str,
    certs_dir: Option<&Path>,
    insecure: bool,
) -> anyhow::Result<String> {
    let addr = node_address(host);
    let tls = root_tls(certs_dir, insecure)?;
    let id = peers::call_once(
        &addr,
        tls,
        Service::Init,
        Vec::new(),
        Duration::from_secs(120),
    )
    .await
    .with_context(|| format!("initialize the cluster at {addr}"))?;
    Ok(String::from_utf8_lossy(&id).into_owned())
}

fn rfc3339(nanos: u64) -> String {
    if nanos == 0 {
        return "NULL".into();
    }
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_nanos(nanos))
        .to_string()
}

/// The table `tandem node status` prints.
pub fn status_table(rows: &[NodeStatus]) -> String {
    let header = [
        "id",
        "address",
        "sql_address",
        "build",
        "started_at",
        "updated_at",
        "is_available",
        "is_live",
        "replicas_leaseholders",
        "ranges",
        "ranges_underreplicated",
    ];
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.node_id.0.to_string(),
                r.address.clone(),
                r.sql_address.clone(),
                r.build.clone(),
                rfc3339(r.started_at),
                rfc3339(r.updated_at),
                (r.is_live && !r.draining).to_string(),
                r.is_live.to_string(),
                r.leases.to_string(),
                r.ranges.to_string(),
                r.underreplicated.to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            body.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!(" {c:<w$} "))
            .collect::<Vec<_>>()
            .join("|")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+"),
    );
    out.push('\n');
    for r in &body {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out.push_str(&format!(
        "({} row{})\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    out
}

/// Runs `tandem node status`.
pub async fn node_status(
    host: &str,
    certs_dir: Option<&Path>,
    insecure: bool,
) -> anyhow::Result<()> {
    let rows = fetch_status(host, certs_dir, insecure).await?;
    print!("{}", status_table(&rows));
    Ok(())
}

/// Every node's status as the node at `host` reads it from the node records.
pub async fn fetch_status(
    host: &str,
    certs_dir: Option<&Path>,
    insecure: bool,
) -> anyhow::Result<Vec<NodeStatus>> {
    let addr = node_address(host);
    let tls = root_tls(certs_dir, insecure)?;
    let raw = peers::call_once(
        &addr,
        tls,
        Service::Status,
        Vec::new(),
        Duration::from_secs(30),
    )
    .await
    .with_context(|| format!("node status from {addr}"))?;
    crate::rpc::decode_body(&raw).context("decode the node status")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::NodeId;

    #[test]
    fn addresses_get_the_default_port_and_host() {
        assert_eq!(node_address("n1"), "n1:26257");
        assert_eq!(node_address(":26300"), "localhost:26300");
        assert_eq!(node_address("10.0.0.1:5"), "10.0.0.1:5");
    }

    #[test]
    fn the_status_table_aligns_its_columns() {
        let row = NodeStatus {
            node_id: NodeId(1),
            address: "localhost:26257".into(),
            sql_address: "localhost:26257".into(),
            http_address: "localhost:8080".into(),
            build: "tandem 0.1.0".into(),
            started_at: 1_700_000_000_000_000_000,
            updated_at: 0,
            is_live: true,
            draining: false,
            ranges: 12,
            leases: 12,
            underreplicated: 0,
        };
        let t = status_table(&[row]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with(" id | address"), "{t}");
        assert!(lines[2].contains("| 2023-11-14T22:13:20Z | NULL"), "{t}");
        assert!(
            lines[2].ends_with("| 12                    | 12     | 0"),
            "{t}"
        );
        assert_eq!(lines[3], "(1 row)");
    }
}
