//! Shared helpers of the integration tests: `TestCluster` starts real `tandem` processes on
//! ephemeral loopback ports (the node binds port 0 and reports its addresses through the ready
//! file), with certificates made by `tandem cert`, and connects real clients to them.

#![allow(dead_code)]

pub mod kv;
pub mod replication;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of the `tandem` binary under test.
pub fn tandem_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tandem")
}

/// Runs `tandem <args>` to completion; returns (exit code, stdout, stderr).
pub fn run_tandem(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(tandem_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tandem");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Polls `f` until it returns `Some`, or panics after `timeout`.
pub async fn succeeds_soon<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The rows of a simple query as text (`NULL` for nulls); panics on a query error.
pub async fn rows(c: &tokio_postgres::Client, sql: &str) -> Vec<Vec<String>> {
    let msgs = c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    msgs.into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// One running node process.
pub struct TestNode {
    /// The child process.
    pub child: Option<Child>,
    /// Its store directory.
    pub store: PathBuf,
    /// SQL address (host:port).
    pub sql_addr: String,
    /// HTTP address (host:port).
    pub http_addr: String,
    /// Inter-node address (`--listen-addr` as bound).
    pub listen_addr: String,
    /// Arguments it was started with.
    pub args: Vec<String>,
    /// Where its output goes.
    pub log: PathBuf,
}

/// A cluster of test nodes sharing a temp directory and certificates.
pub struct TestCluster {
    /// Temp directory holding everything.
    pub dir: tempfile::TempDir,
    /// `certs/` (None when insecure).
    pub certs: Option<PathBuf>,
    /// The nodes.
    pub nodes: Vec<TestNode>,
}

/// Options for [`TestCluster::start`].
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Plaintext, no auth.
    pub insecure: bool,
    /// `--config-profile`.
    pub profile: &'static str,
    /// Extra flags.
    pub extra: Vec<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            insecure: false,
            profile: "default",
            extra: Vec::new(),
        }
    }
}

/// Creates a CA, a node certificate for localhost/127.0.0.1 and client certificates for `users`.
pub fn make_certs(dir: &Path, users: &[&str]) -> PathBuf {
    let certs = dir.join("certs");
    let ca_key = dir.join("safe/ca.key");
    let (c, o, e) = run_tandem(&[
        "cert",
        "create-ca",
        "--certs-dir",
        certs.to_str().expect("utf8"),
        "--ca-key",
        ca_key.to_str().expect("utf8"),
    ]);
    assert_eq!(c, 0, "create-ca: {o}{e}");
    let (c, o, e) = run_tandem(&[
        "cert",
        "create-node",
        "localhost",
        "127.0.0.1",
        "--certs-dir",
        certs.to_str().expect("utf8"),
        "--ca-key",
        ca_key.to_str().expect("utf8"),
    ]);
    assert_eq!(c, 0, "create-node: {o}{e}");
    for u in users {
        let (c, o, e) = run_tandem(&[
            "cert",
            "create-client",
            u,
            "--certs-dir",
            certs.to_str().expect("utf8"),
            "--ca-key",
            ca_key.to_str().expect("utf8"),
        ]);
        assert_eq!(c, 0, "create-client: {o}{e}");
    }
    certs
}

impl TestCluster {
    /// A temp directory with certificates for root and alice (unless insecure), no nodes yet.
    fn empty(opts: &ClusterOptions) -> TestCluster {
        // KEEP_TEST_DIRS=1 keeps the directory (stores, certificates, node logs) for a look
        // after the test.
        let keep = std::env::var_os("KEEP_TEST_DIRS").is_some();
        let dir = tempfile::Builder::new()
            .disable_cleanup(keep)
            .tempdir()
            .expect("tempdir");
        if keep {
            eprintln!("test cluster directory: {}", dir.path().display());
        }
        let certs = if opts.insecure {
            None
        } else {
            Some(make_certs(dir.path(), &["root", "alice"]))
        };
        TestCluster {
            dir,
            certs,
            nodes: Vec::new(),
        }
    }

    /// Starts one node with `start-single-node`.
    pub async fn start(opts: ClusterOptions) -> TestCluster {
        let mut c = TestCluster::empty(&opts);
        let store = c.dir.path().join("n1");
        let mut args: Vec<String> = vec![
            "start-single-node".into(),
            format!("--store={}", store.display()),
            "--listen-addr=127.0.0.1:0".into(),
            "--http-addr=127.0.0.1:0".into(),
            format!("--config-profile={}", opts.profile),
        ];
        match &c.certs {
            Some(certs) => args.push(format!("--certs-dir={}", certs.display())),
            None => args.push("--insecure".into()),
        }
        args.extend(opts.extra.iter().cloned());
        let node = TestNode::spawn(&store, args).await;
        c.nodes.push(node);
        c
    }

    /// Starts `n` nodes with `tandem start`: node 1 without `--join`, the others joining it,
    /// then `tandem init` on node 1; returns when every node is ready.
    pub async fn start_nodes(n: usize, opts: ClusterOptions) -> TestCluster {
        let mut c = TestCluster::empty(&opts);
        let mut first = TestNode::launch(&c.dir.path().join("n1"), c.node_args(1, &opts, None));
        first.wait_for("waiting_for_init").await;
        let join = first.listen_addr.clone();
        c.nodes.push(first);
        for i in 2..=n {
            let args = c.node_args(i, &opts, Some(&join));
            c.nodes
                .push(TestNode::launch(&c.dir.path().join(format!("n{i}")), args));
        }
        let (code, out, err) = c.tool(&["init", &format!("--host={join}")]);
        assert_eq!(code, 0, "init: {out}{err}");
        for node in &mut c.nodes {
            node.wait_for("ready").await;
        }
        c
    }

    /// Arguments of node `i` of a multi-node cluster.
    pub fn node_args(&self, i: usize, opts: &ClusterOptions, join: Option<&str>) -> Vec<String> {
        let store = self.dir.path().join(format!("n{i}"));
        let mut args: Vec<String> = vec![
            "start".into(),
            format!("--store={}", store.display()),
            "--listen-addr=127.0.0.1:0".into(),
            "--http-addr=127.0.0.1:0".into(),
            format!("--config-profile={}", opts.profile),
        ];
        if let Some(j) = join {
            args.push(format!("--join={j}"));
        }
        match &self.certs {
            Some(certs) => args.push(format!("--certs-dir={}", certs.display())),
            None => args.push("--insecure".into()),
        }
        args.extend(opts.extra.iter().cloned());
        args
    }

    /// Runs a `tandem` operator command against this cluster (`--certs-dir` or `--insecure`
    /// appended).
    pub fn tool(&self, args: &[&str]) -> (i32, String, String) {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        match &self.certs {
            Some(certs) => all.push(format!("--certs-dir={}", certs.display())),
            None => all.push("--insecure".into()),
        }
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        run_tandem(&refs)
    }

    /// Waits until every range has a voter on each node (clusters of three: replication factor 3) (panics with the last
    /// `tandem node status` output after a minute). Node status reports what each node saw at its
    /// last heartbeat (every second), so the condition must hold for 2.5 s running: a record from
    /// before a node learned of its peers could otherwise pass for a settled cluster.
    pub async fn wait_fully_replicated(&self) {
        let c = self;
        let host = c.nodes[0].listen_addr.clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut settled_since: Option<Instant> = None;
        loop {
            let (_, out, err) = c.tool(&["node", "status", &format!("--host={host}")]);
            let cell = |l: &str, i: usize| -> u64 {
                l.split('|')
                    .nth(i)
                    .map_or(0, |x| x.trim().parse().unwrap_or(0))
            };
            let rows: Vec<&str> = out.lines().skip(2).filter(|l| l.contains('|')).collect();
            let counts: Vec<u64> = rows.iter().map(|l| cell(l, 9)).collect();
            let under: u64 = rows.iter().map(|l| cell(l, 10)).sum();
            if counts.len() == c.nodes.len()
                && under == 0
                && counts.iter().all(|n| *n >= 2 && *n == counts[0])
            {
                let since = *settled_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(2500) {
                    return;
                }
            } else {
                settled_since = None;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = c
                    .nodes
                    .iter()
                    .map(|n| {
                        let t = n.log_text();
                        let tail: Vec<&str> = t.lines().rev().take(15).collect();
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    })
                    .collect();
                panic!(
                    "not fully replicated after 60 s:\n{out}{err}\n{}",
                    logs.join("\n----\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The first node.
    pub fn node(&self) -> &TestNode {
        &self.nodes[0]
    }

    /// A connection URL for `user` (cert auth) in `cluster`.
    pub fn url(&self, user: &str, cluster: Option<&str>) -> String {
        self.url_on(0, user, cluster)
    }

    /// A connection URL for `user` (cert auth) in `cluster` on node `i` (0-based).
    pub fn url_on(&self, i: usize, user: &str, cluster: Option<&str>) -> String {
        let n = &self.nodes[i];
        let opts = cluster
            .map(|c| format!("&options=-ccluster%3D{c}"))
            .unwrap_or_default();
        match &self.certs {
            Some(certs) => format!(
                "postgresql://{user}@localhost:{}/defaultdb?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}{opts}",
                port(&n.sql_addr),
                certs.join("ca.crt").display(),
                certs.join(format!("client.{user}.crt")).display(),
                certs.join(format!("client.{user}.key")).display()
            ),
            None => format!(
                "postgresql://{user}@127.0.0.1:{}/defaultdb?sslmode=disable{opts}",
                port(&n.sql_addr)
            ),
        }
    }

    /// A password URL (no client certificate) for `user`.
    pub fn password_url(&self, user: &str, password: &str, cluster: Option<&str>) -> String {
        let n = self.node();
        let opts = cluster
            .map(|c| format!("&options=-ccluster%3D{c}"))
            .unwrap_or_default();
        let certs = self.certs.as_ref().expect("secure cluster");
        format!(
            "postgresql://{user}:{password}@localhost:{}/defaultdb?sslmode=verify-full&sslrootcert={}{opts}",
            port(&n.sql_addr),
            certs.join("ca.crt").display()
        )
    }

    /// Connects with tandem's own client (URL rules of `tandem sql`).
    pub async fn connect(
        &self,
        user: &str,
        cluster: Option<&str>,
    ) -> Result<tokio_postgres::Client, String> {
        connect_url(&self.url(user, cluster)).await
    }
}

/// Connects to `url` with tandem's client.
pub async fn connect_url(url: &str) -> Result<tokio_postgres::Client, String> {
    let u = tandem::client::ConnUrl::parse(url).map_err(|e| e.to_string())?;
    let fut = tandem::client::connect(&u);
    match tokio::time::timeout(Duration::from_secs(20), fut).await {
        Ok(Ok((client, _))) => Ok(client),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connect timed out".into()),
    }
}

fn port(addr: &str) -> &str {
    addr.rsplit_once(':').map(|(_, p)| p).unwrap_or(addr)
}

impl TestNode {
    /// Spawns a node and waits until its ready file appears.
    pub async fn spawn(store: &Path, args: Vec<String>) -> TestNode {
        let mut node = TestNode::launch(store, args);
        node.wait_for("ready").await;
        node
    }

    /// The node process's id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Spawns a node without waiting for it.
    pub fn launch(store: &Path, args: Vec<String>) -> TestNode {
        std::fs::create_dir_all(store).expect("store dir");
        let ready = store.with_extension("ready");
        let _ = std::fs::remove_file(&ready);
        let log = store.with_extension("log");
        let logf = std::fs::File::create(&log).expect("log file");
        let child = Command::new(tandem_bin())
            .args(&args)
            .env("TANDEM_READY_FILE", &ready)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("dup"))
            .stderr(logf)
            .spawn()
            .expect("spawn tandem");
        TestNode {
            child: Some(child),
            store: store.to_path_buf(),
            sql_addr: String::new(),
            http_addr: String::new(),
            listen_addr: String::new(),
            args,
            log,
        }
    }

    /// Waits until the ready file says `state` (`ready`, or `waiting_for_init` for a node
    /// started with `tandem start`) and reads the addresses from it.
    pub async fn wait_for(&mut self, state: &str) {
        let ready = self.store.with_extension("ready");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && text.lines().any(|l| l == state)
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
                return;
            }
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("node exited with {st} before {state}:\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "node not {state} in 60s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The node's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Restarts the node with the same arguments.
    pub async fn restart(&mut self) {
        self.terminate();
        let n = TestNode::spawn(&self.store.clone(), self.args.clone()).await;
        *self = n;
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Logs `user` in to the DB Console at `addr`; returns the session cookie (`name=value`).
pub async fn console_login(addr: &str, ca: Option<&Path>, user: &str, password: &str) -> String {
    let (st, hdrs, body) = http_request(
        addr,
        ca,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("user={user}&password={password}"),
    )
    .await;
    assert!(
        st == 303 || st == 302 || st == 200,
        "login status {st}: {body}"
    );
    hdrs.iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.split(';').next().unwrap_or_default().to_string())
        .expect("session cookie")
}

/// A minimal HTTP/1.1 client for the node's console (HTTPS with the cluster CA, or plain).
pub async fn http_request(
    addr: &str,
    ca: Option<&Path>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sock = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect http");
    let port = addr.rsplit_once(':').map(|(_, p)| p).unwrap_or("80");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let mut raw = Vec::new();
    match ca {
        Some(ca) => {
            let cfg = tandem::security::tls::client_config(
                Some(ca),
                None,
                None,
                tandem::security::tls::SslMode::VerifyFull,
            )
            .expect("tls config");
            let mut cfg = (*cfg).clone();
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
            let mut s = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
                .connect(name, sock)
                .await
                .expect("https handshake");
            s.write_all(req.as_bytes()).await.expect("write");
            let _ = s.read_to_end(&mut raw).await;
        }
        None => {
            let mut s = sock;
            s.write_all(req.as_bytes()).await.expect("write");
            let _ = s.read_to_end(&mut raw).await;
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let hdrs = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    (status, hdrs, body.to_string())
}
