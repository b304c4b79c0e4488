//! The console's HTTP side through a real socket: a `ConsoleServer` on 127.0.0.1:0 with an
//! in-test `ConsoleBackend`, driven by a minimal HTTP/1.1 client written here (plain TCP, and
//! tokio-rustls trusting the test CA for HTTPS).
//!
//! Guards: `/health` and readiness (200/503), Prometheus text at `/_status/vars` and `/metrics`,
//! login (wrong password → 401 without a cookie; right → `HttpOnly; SameSite=Strict` cookie,
//! `Secure` under TLS), HTML escaping of backend values, the JSON API requiring a login, logout
//! invalidating the session, JSON errors for unknown paths and methods, HTTPS with the node
//! certificate and ALPN `http/1.1`, starting under an actix System, and start-up errors. Every
//! request runs under a timeout so a regression fails instead of hanging.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use prometheus::Registry;
use rustls::pki_types::ServerName;
use tandem::console::{
    ConsoleBackend, ConsoleError, ConsoleServer, NodeMetrics, NodeRow, ReplicationRow,
    RunningConsole, VirtualClusterRow,
};
use tandem::ids::{NodeId, TenantId};
use tandem::security::{CertOptions, SslMode, client_config, create_ca, create_node};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const TIMEOUT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "s3cret&=";

/// The test double of the node: one user `root` with [`PASSWORD`], one node, three virtual
/// clusters (one with an HTML-looking name, one a replication standby).
struct FakeNode {
    ready: AtomicBool,
    /// Password checks made.
    checks: AtomicUsize,
}

#[async_trait::async_trait]
impl ConsoleBackend for FakeNode {
    async fn check_password(&self, user: &str, password: &str) -> bool {
        self.checks.fetch_add(1, Ordering::SeqCst);
        user == "root" && password == PASSWORD
    }

    async fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    async fn nodes(&self) -> Vec<NodeRow> {
        vec![NodeRow {
            id: NodeId(1),
            address: "localhost:26257".into(),
            sql_address: "localhost:26257".into(),
            build: "tandem 0.1.0".into(),
            started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            is_live: true,
            ranges: 12,
            leases: 11,
        }]
    }

    async fn virtual_clusters(&self) -> Vec<VirtualClusterRow> {
        let vc = |id, name: &str, data_state: &str, service_mode: &str| VirtualClusterRow {
            id: TenantId(id),
            name: name.into(),
            data_state: data_state.into(),
            service_mode: service_mode.into(),
            replication: None,
        };
        let mut standby = vc(4, "standby", "replicating", "none");
        standby.replication = Some(ReplicationRow {
            job_id: 77,
            status: "replicating".into(),
            source: "postgresql://root@primary:26257/?sslmode=verify-full".into(),
            source_virtual_cluster: "main".into(),
            replicated_time: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_100)),
            replication_lag: Some(Duration::from_millis(1500)),
        });
        vec![
            vc(1, "system", "ready", "shared"),
            vc(2, "template", "ready", "none"),
            vc(3, "<b>app</b>", "ready", "shared"),
            standby,
        ]
    }
}

fn backend(ready: bool) -> Arc<FakeNode> {
    Arc::new(FakeNode {
        ready: AtomicBool::new(ready),
        checks: AtomicUsize::new(0),
    })
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal address")
}

fn start_plain(backend: Arc<FakeNode>, registry: Registry) -> RunningConsole {
    ConsoleServer::start(local(), None, backend, registry).expect("start console")
}

/// One parsed HTTP response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The `tandem_session=...` cookie value set by this response, if any.
    fn session_cookie(&self) -> Option<String> {
        self.headers_named("set-cookie").into_iter().find_map(|c| {
            c.strip_prefix("tandem_session=")
                .map(|rest| rest.split(';').next().unwrap_or_default().to_string())
        })
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A request: method, path, optional cookie, optional form body.
struct Req<'a> {
    method: &'a str,
    path: &'a str,
    cookie: Option<&'a str>,
    form: Option<String>,
}

fn get<'a>(path: &'a str, cookie: Option<&'a str>) -> Req<'a> {
    Req {
        method: "GET",
        path,
        cookie,
        form: None,
    }
}

fn post<'a>(path: &'a str, cookie: Option<&'a str>, form: &[(&str, &str)]) -> Req<'a> {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    Req {
        method: "POST",
        path,
        cookie,
        form: Some(body),
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Writes `req` as HTTP/1.1 with `Connection: close` and reads the whole response.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    req: &Req<'_>,
) -> Resp {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: console-test\r\n",
        req.method, req.path
    );
    if let Some(cookie) = req.cookie {
        head.push_str(&format!("Cookie: tandem_session={cookie}\r\n"));
    }
    let body = req.form.clone().unwrap_or_default();
    if req.form.is_some() {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body.as_bytes()).await.expect("write body");
    stream.flush().await.expect("flush");

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read response");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).expect("utf-8 head");
    let mut rest = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        rest = dechunk(&rest);
    } else if let Some((_, len)) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        let len: usize = len.parse().expect("content-length");
        assert!(rest.len() >= len, "short body: {} < {len}", rest.len());
        rest.truncate(len);
    }
    Resp {
        status,
        headers,
        body: String::from_utf8(rest).expect("utf-8 body"),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_str = std::str::from_utf8(&data[..line_end]).expect("chunk size");
        let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
            .expect("hex chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

async fn http(addr: SocketAddr, req: Req<'_>) -> Resp {
    tokio::time::timeout(TIMEOUT, async {
        let stream = TcpStream::connect(addr).await.expect("connect");
        exchange(stream, &addr.to_string(), &req).await
    })
    .await
    .expect("request timed out")
}

/// An HTTPS request to `addr`, verifying the server as `server_name` against `ca.crt`, offering
/// ALPN `http/1.1`; also returns the negotiated ALPN protocol.
async fn https(
    addr: SocketAddr,
    certs: &Path,
    server_name: &str,
    req: Req<'_>,
) -> (Resp, Option<Vec<u8>>) {
    let config = client_config(Some(&certs.join("ca.crt")), None, None, SslMode::VerifyFull)
        .expect("client config");
    let mut config = rustls::ClientConfig::clone(&config);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(server_name.to_string()).expect("server name");
    tokio::time::timeout(TIMEOUT, async {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let tls = connector.connect(name, tcp).await.expect("TLS handshake");
        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        (exchange(tls, server_name, &req).await, alpn)
    })
    .await
    .expect("request timed out")
}

async fn login(addr: SocketAddr) -> String {
    let resp = http(
        addr,
        post("/login", None, &[("user", "root"), ("password", PASSWORD)]),
    )
    .await;
    assert_eq!(resp.status, 303, "{resp:?}");
    resp.session_cookie().expect("session cookie")
}

#[tokio::test]
async fn health_and_readiness() {
    let node = backend(false);
    let console = start_plain(node.clone(), Registry::new());
    let addr = console.local_addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(console.url(), format!("http://{addr}"));

    let resp = http(addr, get("/health", None)).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), serde_json::json!({"status": "ok"}));
    assert_eq!(resp.header("content-type"), Some("application/json"));

    let resp = http(addr, get("/health?ready=1", None)).await;
    assert_eq!(resp.status, 503, "{resp:?}");
    let msg = resp.json()["msg"].as_str().expect("msg").to_string();
    assert!(msg.contains("not ready"), "{msg}");

    node.ready.store(true, Ordering::SeqCst);
    let resp = http(addr, get("/health?ready=1", None)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.json(), serde_json::json!({"status": "ok"}));

    let resp = http(addr, get("/health?ready=maybe", None)).await;
    assert_eq!(resp.status, 400, "{resp:?}");
    assert!(resp.json()["msg"].is_string());

    console.stop(true).await.expect("stop");
}

#[tokio::test]
async fn metrics_in_prometheus_text_format() {
    let registry = Registry::new();
    let metrics = NodeMetrics::new(&registry, Instant::now()).expect("metrics");
    metrics.sql_query_count.inc_by(5);
    metrics.sql_conns.set(2);
    metrics.sql_service_latency.observe(0.01);
    let console = start_plain(backend(true), registry);

    for path in ["/_status/vars", "/metrics"] {
        let resp = http(console.local_addr(), get(path, None)).await;
        assert_eq!(resp.status, 200, "{path}: {resp:?}");
        assert_eq!(
            resp.header("content-type"),
            Some("text/plain; version=0.0.4")
        );
        for line in [
            "# TYPE sql_query_count counter",
            "sql_query_count 5",
            "sql_conns 2",
            "sql_service_latency_count 1",
            "# TYPE sys_uptime gauge",
        ] {
            assert!(
                resp.body.contains(line),
                "{path}: no {line:?} in\n{}",
                resp.body
            );
        }
    }
    console.stop(false).await.expect("stop");
}

#[tokio::test]
async fn login_pages_api_and_logout() {
    let console = start_plain(backend(true), Registry::new());
    let addr = console.local_addr();

    // Not logged in: the login page, redirects from pages, 401 JSON from the API.
    let resp = http(addr, get("/", None)).await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.body
            .contains(r#"<form method="post" action="/login">"#),
        "{}",
        resp.body
    );
    let resp = http(addr, get("/virtual-clusters", None)).await;
    assert_eq!(resp.status, 303);
    assert_eq!(resp.header("location"), Some("/"));
    for path in ["/api/v1/nodes", "/api/v1/virtual-clusters"] {
        let resp = http(addr, get(path, None)).await;
        assert_eq!(resp.status, 401, "{path}: {resp:?}");
        assert!(resp.json()["msg"].as_str().expect("msg").contains("log in"));
        let resp = http(addr, get(path, Some("0123456789abcdef0123456789abcdef"))).await;
        assert_eq!(resp.status, 401, "{path} with a made-up token");
    }

    // Wrong password, unknown user: 401 with the login page and an error, no cookie.
    for (user, password) in [("root", "wrong"), ("nobody", PASSWORD), ("", "")] {
        let resp = http(
            addr,
            post("/login", None, &[("user", user), ("password", password)]),
        )
        .await;
        assert_eq!(resp.status, 401, "{user}: {resp:?}");
        assert!(
            resp.body.contains("Invalid user or password."),
            "{}",
            resp.body
        );
        assert_eq!(resp.session_cookie(), None);
    }
    assert_eq!(console.live_sessions(), 0);

    // Right password: a session cookie, HttpOnly and SameSite=Strict, not Secure over HTTP.
    let resp = http(
        addr,
        post("/login", None, &[("user", "root"), ("password", PASSWORD)]),
    )
    .await;
    assert_eq!(resp.status, 303, "{resp:?}");
    assert_eq!(resp.header("location"), Some("/"));
    let set_cookie = resp.headers_named("set-cookie").join("\n");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(set_cookie.contains("Path=/"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let token = resp.session_cookie().expect("cookie");
    assert_eq!(token.len(), 32, "{token}");
    assert_eq!(console.live_sessions(), 1);

    let resp = http(addr, get("/", Some(&token))).await;
    assert_eq!(resp.status, 200);
    assert!(resp.body.contains("Cluster overview"), "{}", resp.body);
    assert!(resp.body.contains(r#"href="/virtual-clusters""#));

    let resp = http(addr, get("/virtual-clusters", Some(&token))).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert!(
        resp.header("content-type")
            .expect("type")
            .starts_with("text/html")
    );
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    assert!(resp.header("content-security-policy").is_some());
    for cell in [
        "<td>system</td>",
        "<td>template</td>",
        "<td>standby</td>",
        "<td>replicating</td>",
    ] {
        assert!(resp.body.contains(cell), "no {cell} in {}", resp.body);
    }
    assert!(
        resp.body.contains("<td>&lt;b&gt;app&lt;/b&gt;</td>"),
        "{}",
        resp.body
    );
    assert!(!resp.body.contains("<b>app</b>"));
    assert!(resp.body.contains("1.500s"), "{}", resp.body);

    let resp = http(addr, get("/nodes", Some(&token))).await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.body.contains("<td>n1</td><td>localhost:26257</td>"),
        "{}",
        resp.body
    );
    assert!(resp.body.contains("2023-11-14T22:13:20Z"), "{}", resp.body);

    let resp = http(addr, get("/api/v1/virtual-clusters", Some(&token))).await;
    assert_eq!(resp.status, 200);
    let json = resp.json();
    let rows = json["virtual_clusters"].as_array().expect("rows");
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[2],
        serde_json::json!({"id": 3, "name": "<b>app</b>", "data_state": "ready",
                           "service_mode": "shared", "replication": null})
    );
    assert_eq!(rows[3]["replication"]["job_id"], 77);
    assert_eq!(rows[3]["replication"]["replication_lag"], 1.5);
    assert_eq!(
        rows[3]["replication"]["replicated_time"],
        "2023-11-14T22:15:00Z"
    );

    let resp = http(addr, get("/api/v1/nodes", Some(&token))).await;
    assert_eq!(resp.status, 200);
    let json = resp.json();
    assert_eq!(json["nodes"][0]["id"], 1);
    assert_eq!(json["nodes"][0]["is_live"], true);
    assert_eq!(json["nodes"][0]["started_at"], "2023-11-14T22:13:20Z");

    // Logout: the cookie is cleared and the old token no longer works.
    let resp = http(addr, post("/logout", Some(&token), &[])).await;
    assert_eq!(resp.status, 303);
    let cleared = resp.headers_named("set-cookie").join("\n");
    assert!(cleared.contains("tandem_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(console.live_sessions(), 0);
    let resp = http(addr, get("/api/v1/nodes", Some(&token))).await;
    assert_eq!(resp.status, 401);
    let resp = http(addr, get("/nodes", Some(&token))).await;
    assert_eq!(resp.status, 303);

    console.stop(true).await.expect("stop");
}

/// A burst of wrong passwords for one user: after five failures the user backs off (429 with
/// `Retry-After`, no password checked, not even the right one) until the lockout ends; then the
/// right password logs in. Other users are unaffected.
#[tokio::test]
async fn a_burst_of_wrong_passwords_is_throttled() {
    let node = backend(true);
    let console = start_plain(node.clone(), Registry::new());
    let addr = console.local_addr();
    let attempt = |user: &'static str, password: &'static str| {
        http(
            addr,
            post("/login", None, &[("user", user), ("password", password)]),
        )
    };
    for i in 0..6 {
        let resp = attempt("root", "wrong").await;
        assert_eq!(resp.status, 401, "attempt {i}: {resp:?}");
    }
    let checked = node.checks.load(Ordering::SeqCst);
    let mut throttled = 0;
    for _ in 0..20 {
        let resp = attempt("root", "wrong").await;
        if resp.status == 429 {
            throttled += 1;
            let secs: u64 = resp
                .header("retry-after")
                .expect("Retry-After")
                .parse()
                .expect("seconds");
            assert!((1..=300).contains(&secs), "{secs}");
            assert!(
                resp.body.contains("Too many failed login attempts"),
                "{}",
                resp.body
            );
        } else {
            // The lockout (1 s, then 2 s) may end during the burst on a slow machine.
            assert_eq!(resp.status, 401, "{resp:?}");
        }
    }
    assert!(
        throttled >= 10,
        "only {throttled} of 20 attempts were throttled"
    );
    assert!(
        node.checks.load(Ordering::SeqCst) - checked <= 20 - throttled,
        "a throttled attempt checks no password"
    );
    let resp = attempt("root", PASSWORD).await;
    assert_eq!(resp.status, 429, "locked: even the right password waits");
    let resp = attempt("nobody", "wrong").await;
    assert_eq!(resp.status, 401, "another user is not locked");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resp = attempt("root", PASSWORD).await;
        if resp.status == 303 {
            break;
        }
        assert_eq!(resp.status, 429, "{resp:?}");
        assert!(Instant::now() < deadline, "the lockout never ended");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let resp = attempt("root", "wrong").await;
    assert_eq!(resp.status, 401, "a success cleared the failures");
}

#[tokio::test]
async fn errors_are_json() {
    let console = start_plain(backend(true), Registry::new());
    let addr = console.local_addr();

    let resp = http(addr, get("/no/such/page", None)).await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json()["msg"], "no such endpoint: /no/such/page");

    let resp = http(addr, get("/login", None)).await;
    assert_eq!(resp.status, 405, "{resp:?}");
    assert!(resp.json()["msg"].as_str().expect("msg").contains("GET"));

    // A login without the form fields.
    let resp = http(addr, post("/login", None, &[("user", "root")])).await;
    assert_eq!(resp.status, 400, "{resp:?}");
    assert!(
        resp.json()["msg"]
            .as_str()
            .expect("msg")
            .starts_with("bad form")
    );

    console.stop(true).await.expect("stop");
}

#[tokio::test]
async fn https_with_node_certificate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let certs = tmp.path().join("certs");
    let ca_key = tmp.path().join("ca.key");
    let opts = CertOptions::default();
    create_ca(&certs, &ca_key, &opts).expect("create ca");
    create_node(
        &certs,
        &ca_key,
        &["localhost".into(), "127.0.0.1".into()],
        &opts,
    )
    .expect("create node");
    // The pgwire config (ALPN `postgresql`): the console must still negotiate http/1.1.
    let tls = tandem::security::server_config(&certs, false).expect("server config");

    let console = ConsoleServer::start(local(), Some(tls), backend(true), Registry::new())
        .expect("start console");
    assert!(console.is_tls());
    let addr = console.local_addr();
    assert_eq!(console.url(), format!("https://{addr}"));

    let (resp, alpn) = https(addr, &certs, "localhost", get("/health", None)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.json(), serde_json::json!({"status": "ok"}));
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));

    let (resp, _) = https(
        addr,
        &certs,
        "127.0.0.1",
        post("/login", None, &[("user", "root"), ("password", PASSWORD)]),
    )
    .await;
    assert_eq!(resp.status, 303, "{resp:?}");
    let set_cookie = resp.headers_named("set-cookie").join("\n");
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    let token = resp.session_cookie().expect("cookie");

    let (resp, _) = https(
        addr,
        &certs,
        "localhost",
        get("/virtual-clusters", Some(&token)),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(resp.body.contains("<td>&lt;b&gt;app&lt;/b&gt;</td>"));

    // Plain HTTP to the HTTPS port gets no HTTP answer.
    let plain = tokio::time::timeout(TIMEOUT, async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        buf
    })
    .await
    .expect("plain request timed out");
    assert!(!plain.starts_with(b"HTTP/1.1 200"));

    console.stop(true).await.expect("stop");
}

#[test]
fn runs_under_an_actix_system() {
    actix_rt::System::new().block_on(async {
        let console = start_plain(backend(true), Registry::new());
        let addr = console.local_addr();
        let token = login(addr).await;
        let resp = http(addr, get("/api/v1/nodes", Some(&token))).await;
        assert_eq!(resp.status, 200, "{resp:?}");
        console.stop(true).await.expect("stop");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_errors() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let err = ConsoleServer::start(addr, None, backend(true), Registry::new())
        .expect_err("port is taken");
    assert!(matches!(err, ConsoleError::Bind { .. }), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");

    let err = std::thread::spawn(|| {
        ConsoleServer::start(local(), None, backend(true), Registry::new())
            .expect_err("no runtime on this thread")
    })
    .join()
    .expect("thread");
    assert!(matches!(err, ConsoleError::NoRuntime), "{err}");
}
