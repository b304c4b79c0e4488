//! The demo's two clusters as child processes of the running `tandem` executable.
//!
//! [`make_certs`] gives each cluster its own CA (key outside the certificates directory), a node
//! certificate for `localhost` and `127.0.0.1` (shared by the cluster's nodes) and a client
//! certificate for `root`, through the code behind `tandem cert`, in-process. [`start_cluster`]
//! starts one node with `tandem start-single-node`, or several as an operator would: the first
//! with `tandem start`, the others with `tandem start --join=<first>`, then `tandem init`
//! against the first (in-process). Every node listens on ephemeral loopback ports
//! (`127.0.0.1:0`), appends its output to a log file beside its store, and reports its
//! addresses and state through the ready file named by `TANDEM_READY_FILE`.
//!
//! Invariants: a [`Node`] owns its child process for its whole life; [`Node::stop`] asks it to
//! drain with SIGTERM and kills it if it has not exited after [`STOP_TIMEOUT`], and dropping a
//! `Node` that was not stopped kills it (SIGKILL) and reaps it, so no node outlives the demo on
//! any path that runs destructors (errors, Ctrl-C, SIGTERM). On failure (spawn error, early
//! exit, no ready file within [`READY_TIMEOUT`]) the error names the node and its log file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::cli::start::READY_FILE_ENV;
use crate::security::certs::{self, CA_CERT_FILE, CertOptions};

/// How long a node may take to write its ready file.
pub(super) const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a node may take to drain after SIGTERM before it is killed.
pub(super) const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The SQL user the demo connects as (with a client certificate).
pub(super) const ROOT: &str = "root";

/// Creates `<dir>/certs` (CA certificate, node certificate for `localhost` and `127.0.0.1`,
/// client certificate for root) and the CA key `<dir>/ca-key/ca.key`; returns the
/// certificates directory.
pub(super) fn make_certs(dir: &Path) -> anyhow::Result<PathBuf> {
    let certs_dir = dir.join("certs");
    let ca_key = dir.join("ca-key").join("ca.key");
    let opts = CertOptions::default();
    certs::create_ca(&certs_dir, &ca_key, &opts)
        .with_context(|| format!("create a CA in {}", certs_dir.display()))?;
    let hosts = ["localhost".to_string(), "127.0.0.1".to_string()];
    certs::create_node(&certs_dir, &ca_key, &hosts, &opts)
        .with_context(|| format!("create the node certificate in {}", certs_dir.display()))?;
    certs::create_client(&certs_dir, &ca_key, ROOT, &opts).with_context(|| {
        format!(
            "create the root client certificate in {}",
            certs_dir.display()
        )
    })?;
    Ok(certs_dir)
}

/// How a node starts.
#[derive(Clone, Copy)]
enum Start<'a> {
    /// `tandem start-single-node`.
    SingleNode,
    /// `tandem start`, joining the node at this address (none: the first node, waiting for
    /// `tandem init`).
    Member(Option<&'a str>),
}

/// Starts a cluster of `n` nodes named `<name>` (one node) or `<name>-n<i>` under `dir`
/// (`<dir>/n<i>` for several), pushing each node into `nodes` as soon as it runs so the caller
/// stops it whatever happens; returns once every node is ready.
pub(super) async fn start_cluster(
    name: &str,
    dir: &Path,
    certs_dir: &Path,
    profile: &str,
    n: usize,
    nodes: &mut Vec<Node>,
) -> anyhow::Result<()> {
    if n == 1 {
        let mut node = Node::spawn(name.to_string(), dir, certs_dir, profile, Start::SingleNode)?;
        let r = node.wait_state("ready").await;
        nodes.push(node);
        return r;
    }
    let first = nodes.len();
    let mut n1 = Node::spawn(
        format!("{name}-n1"),
        &dir.join("n1"),
        certs_dir,
        profile,
        Start::Member(None),
    )?;
    let r = n1.wait_state("waiting_for_init").await;
    let join = n1.listen_addr.clone();
    nodes.push(n1);
    r?;
    for i in 2..=n {
        nodes.push(Node::spawn(
            format!("{name}-n{i}"),
            &dir.join(format!("n{i}")),
            certs_dir,
            profile,
            Start::Member(Some(&join)),
        )?);
    }
    let id = crate::cli::node::init_cluster(&join, Some(certs_dir), false)
        .await
        .with_context(|| format!("[{name}] tandem init --host={join}"))?;
    println!("[{name}] tandem init --host={join}: cluster initialized by node {id}");
    for node in &mut nodes[first..] {
        node.wait_state("ready").await?;
    }
    Ok(())
}

/// One running node.
pub(super) struct Node {
    /// `primary`, `standby`, or `primary-n2`...: prefixes every line printed about it.
    pub name: String,
    /// Its certificates directory (`--certs-dir`).
    pub certs_dir: PathBuf,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    /// The SQL address it reported (host:port).
    pub sql_addr: String,
    /// The HTTP (DB Console) address it reported (host:port).
    pub http_addr: String,
    /// The inter-node address it reported (host:port).
    pub listen_addr: String,
    /// Its process id.
    pub pid: u32,
    ready_file: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// Starts the node with its store in `<dir>/store` (not waiting for it).
    fn spawn(
        name: String,
        dir: &Path,
        certs_dir: &Path,
        profile: &str,
        how: Start<'_>,
    ) -> anyhow::Result<Node> {
        let exe = std::env::current_exe().context("find the tandem executable")?;
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let store = dir.join("store");
        let log = dir.join("node.log");
        let ready_file = dir.join("node.ready");
        let _ = std::fs::remove_file(&ready_file);
        let logf =
            std::fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let logf2 = logf
            .try_clone()
            .with_context(|| format!("duplicate the handle of {}", log.display()))?;
        let mut cmd = Command::new(exe);
        match how {
            Start::SingleNode => {
                cmd.arg("start-single-node");
            }
            Start::Member(join) => {
                cmd.arg("start");
                if let Some(j) = join {
                    cmd.arg(format!("--join={j}"));
                }
            }
        }
        let child = cmd
            .arg(format!("--config-profile={profile}"))
            .arg(format!("--store={}", store.display()))
            .arg(format!("--certs-dir={}", certs_dir.display()))
            .arg("--listen-addr=127.0.0.1:0")
            .arg("--http-addr=127.0.0.1:0")
            .env(READY_FILE_ENV, &ready_file)
            .stdin(Stdio::null())
            .stdout(logf)
            .stderr(logf2)
            .spawn()
            .with_context(|| format!("[{name}] start the node"))?;
        Ok(Node {
            pid: child.id(),
            name,
            certs_dir: certs_dir.to_path_buf(),
            log,
            sql_addr: String::new(),
            http_addr: String::new(),
            listen_addr: String::new(),
            ready_file,
            child: Some(child),
        })
    }

    /// Waits (polling, without blocking the runtime) until the ready file ends with `state`
    /// (`waiting_for_init` or `ready`) and lists the node's addresses.
    async fn wait_state(&mut self, state: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(text) = std::fs::read_to_string(&self.ready_file)
                && text.lines().any(|l| l.trim() == state)
            {
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("sql_addr:") {
                        self.sql_addr = v.trim().to_string();
                    }
                    if let Some(v) = line.strip_prefix("http_addr:") {
                        self.http_addr = v.trim().to_string();
                    }
                    if let Some(v) = line.strip_prefix("listen_addr:") {
                        self.listen_addr = v.trim().to_string();
                    }
                }
                let missing = if state == "ready" {
                    self.sql_addr.is_empty() || self.http_addr.is_empty()
                } else {
                    self.listen_addr.is_empty()
                };
                if missing {
                    bail!(
                        "[{}] the ready file {} lacks the node's addresses:\n{text}",
                        self.name,
                        self.ready_file.display()
                    );
                }
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child
                    .try_wait()
                    .with_context(|| format!("[{}] poll the node process", self.name))?
            {
                self.child = None;
                bail!(
                    "[{}] the node exited with {status} before becoming {state}; see {}",
                    self.name,
                    self.log.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "[{}] the node did not become {state} within {}s; see {}",
                    self.name,
                    READY_TIMEOUT.as_secs(),
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The port of the SQL address.
    pub(super) fn sql_port(&self) -> &str {
        port(&self.sql_addr)
    }

    /// The port of the HTTP address.
    pub(super) fn http_port(&self) -> &str {
        port(&self.http_addr)
    }

    /// The node's CA certificate.
    pub(super) fn ca_cert(&self) -> PathBuf {
        self.certs_dir.join(CA_CERT_FILE)
    }

    /// A URL for root (client certificate) into virtual cluster `cluster`, with absolute
    /// certificate paths, in the form `tandem sql --url` and tandem's client accept.
    pub(super) fn root_url(&self, cluster: &str) -> String {
        format!(
            "postgresql://{ROOT}@localhost:{}/defaultdb?options=-ccluster%3D{cluster}&sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
            self.sql_port(),
            self.ca_cert().display(),
            self.certs_dir.join(certs::client_cert_file(ROOT)).display(),
            self.certs_dir.join(certs::client_key_file(ROOT)).display(),
        )
    }

    /// The DB Console address.
    pub(super) fn console_url(&self) -> String {
        format!("https://localhost:{}", self.http_port())
    }

    /// Whether the process is still running (false once it exited or was stopped).
    pub(super) fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_))) => {
                self.child = None;
                false
            }
            Some(Err(_)) | None => false,
        }
    }

    /// Sends SIGTERM and waits up to [`STOP_TIMEOUT`] for the node to drain and exit, then
    /// kills it. Returns a description of how it ended.
    pub(super) async fn stop(&mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return "already exited".to_string();
        };
        let _ = std::fs::remove_file(&self.ready_file);
        if let Ok(Some(status)) = child.try_wait() {
            return format!("had already exited with {status}");
        }
        let term = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if term.is_ok_and(|s| s.success()) {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(Some(status)) => return format!("drained and exited ({status})"),
                    Ok(None) => tokio::time::sleep(Duration::from_millis(50)).await,
                    Err(_) => break,
                }
            }
        }
        let _ = child.kill();
        match child.wait() {
            Ok(status) => format!("killed ({status})"),
            Err(e) => format!("killed (wait failed: {e})"),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.ready_file);
    }
}

fn port(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(_, p)| p)
}
