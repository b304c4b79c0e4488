//! The DB Console's replication page against real nodes: a primary (`replication-source`) and a
//! standby (`replication-target`) tandem process, insecure, with the primary's `application`
//! virtual cluster replicated into the standby's `application`.
//!
//! Guards: `/_status/replication` (login required; the stream's virtual cluster, job id, state,
//! replicated and retained time, lag and a growing lag history on the standby; the producer
//! job on the primary; job id and state agreeing with `SHOW VIRTUAL CLUSTER ... WITH
//! REPLICATION STATUS`), `/replication` (login required, server-rendered values and chart), and the page
//! rendered by headless Chromium (`--dump-dom`): the state, the chart with data points, and the
//! page's script running under the console's Content-Security-Policy and refreshing from the
//! JSON endpoint. Chromium cannot be given a cookie on its command line, so it browses through a
//! small proxy in this test that adds the session cookie of a real console login to each
//! request. Without `/usr/bin/chromium` (or `chromium` on `PATH`) the browser part prints a note
//! and is skipped. Every wait polls with a deadline; nothing sleeps for a fixed time.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::{ClusterOptions, TestCluster, http_request, succeeds_soon};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CONSOLE_USER: &str = "console_viewer";
const CONSOLE_PASSWORD: &str = "v1ew&er=";

/// Rows of a simple query as text (`None` for NULL).
async fn rows(c: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let msgs = c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    msgs.into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(String::from)).collect())
            }
            _ => None,
        })
        .collect()
}

fn port_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(_, p)| p)
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Creates the console user on `cluster`'s system virtual cluster and logs in to its console;
/// returns the session token.
async fn console_login(cluster: &TestCluster) -> String {
    let sys = cluster
        .connect("root", Some("system"))
        .await
        .expect("connect to the system virtual cluster");
    sys.batch_execute(&format!(
        "CREATE USER {CONSOLE_USER} WITH PASSWORD '{CONSOLE_PASSWORD}'"
    ))
    .await
    .expect("create the console user");
    let body = format!(
        "user={CONSOLE_USER}&password={}",
        form_encode(CONSOLE_PASSWORD)
    );
    let (status, headers, text) = http_request(
        &cluster.node().http_addr,
        None,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &body,
    )
    .await;
    assert_eq!(status, 303, "login: {text}");
    headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .find_map(|(_, v)| {
            v.strip_prefix("tandem_session=")
                .map(|rest| rest.split(';').next().unwrap_or_default().to_string())
        })
        .expect("login sets the session cookie")
}

/// `GET path` with the session cookie; returns (status, body).
async fn get(cluster: &TestCluster, path: &str, token: Option<&str>) -> (u16, String) {
    let cookie = token.map(|t| format!("tandem_session={t}"));
    let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
    let (status, _, body) =
        http_request(&cluster.node().http_addr, None, "GET", path, &headers, "").await;
    (status, body)
}

async fn replication_json(cluster: &TestCluster, token: &str) -> serde_json::Value {
    let (status, body) = get(cluster, "/_status/replication", Some(token)).await;
    assert_eq!(status, 200, "/_status/replication: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The lag samples of `vc` in a `/_status/replication` body.
fn samples_of<'a>(json: &'a serde_json::Value, vc: &str) -> &'a [serde_json::Value] {
    json["lag_history"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["virtual_cluster"] == vc))
        .and_then(|s| s["samples"].as_array())
        .map_or(&[], Vec::as_slice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_page_shows_streams_and_lag_chart() {
    let insecure = |profile| ClusterOptions {
        insecure: true,
        profile,
        extra: Vec::new(),
    };
    let primary = TestCluster::start(insecure("replication-source")).await;
    let standby = TestCluster::start(insecure("replication-target")).await;

    let app = primary
        .connect("root", Some("application"))
        .await
        .expect("connect to the primary's application");
    app.batch_execute(
        "CREATE TABLE accounts (id INT PRIMARY KEY, owner STRING, balance INT);
         INSERT INTO accounts VALUES (1, 'ada', 100), (2, 'grace', 250), (3, 'edsger', 75)",
    )
    .await
    .expect("create and fill a table on the primary");

    let sys = standby
        .connect("root", Some("system"))
        .await
        .expect("connect to the standby's system virtual cluster");
    sys.batch_execute(&format!(
        "CREATE VIRTUAL CLUSTER application FROM REPLICATION OF application ON \
         'postgresql://root@127.0.0.1:{}/defaultdb?sslmode=disable&options=-ccluster=system'",
        port_of(&primary.node().sql_addr)
    ))
    .await
    .expect("start replicating");
    let status_sql = "SELECT status, replication_job_id FROM \
                      [SHOW VIRTUAL CLUSTER application WITH REPLICATION STATUS]";
    let job_id = succeeds_soon("the standby to replicate", Duration::from_secs(90), || {
        let sys = &sys;
        async move {
            let r = rows(sys, status_sql).await;
            (r[0][0].as_deref() == Some("replicating")).then(|| r[0][1].clone())
        }
    })
    .await
    .expect("a replication job id");

    // The JSON endpoint and the page need a console login.
    let (status, body) = get(&standby, "/_status/replication", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = get(&standby, "/replication", None).await;
    assert_eq!(status, 303);
    let token = console_login(&standby).await;

    // The sampler records a lag every second; wait for a few samples.
    let json = succeeds_soon("lag samples", Duration::from_secs(30), || {
        let (standby, token) = (&standby, &token);
        async move {
            let json = replication_json(standby, token).await;
            (samples_of(&json, "application").len() >= 3).then_some(json)
        }
    })
    .await;
    let streams = json["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), 1, "{json}");
    let s = &streams[0];
    assert_eq!(s["virtual_cluster"], "application", "{json}");
    assert_eq!(s["source_virtual_cluster"], "application");
    assert_eq!(s["job_id"].as_str(), Some(job_id.as_str()));
    assert_eq!(s["job_status"], "running");
    assert_eq!(s["status"], "replicating");
    assert!(s["replicated_time"].is_string(), "{s}");
    assert!(s["retained_time"].is_string(), "{s}");
    assert!(s["cutover_time"].is_null());
    let lag = s["replication_lag"].as_f64().expect("a lag");
    assert!((0.0..60.0).contains(&lag), "lag {lag}");
    let source = s["source"].as_str().expect("source");
    assert!(
        source.contains(port_of(&primary.node().sql_addr)),
        "{source}"
    );
    assert!(json["producers"].as_array().is_some_and(Vec::is_empty));
    assert!(json["error"].is_null());
    assert_eq!(json["window_seconds"], 600);
    let samples = samples_of(&json, "application");
    let times: Vec<u64> = samples
        .iter()
        .map(|p| p[0].as_u64().expect("sample time"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert!(times.last() <= json["now_unix_ms"].as_u64().as_ref());
    assert!(
        samples
            .iter()
            .all(|p| p[1].as_f64().is_some_and(|l| l >= 0.0))
    );

    // The primary shows its producer job for the stream.
    let primary_token = console_login(&primary).await;
    let pjson = replication_json(&primary, &primary_token).await;
    let producers = pjson["producers"].as_array().expect("producers");
    assert!(
        producers
            .iter()
            .any(|p| p["virtual_cluster"] == "application" && p["job_status"] == "running"),
        "{pjson}"
    );
    assert!(pjson["streams"].as_array().is_some_and(Vec::is_empty));

    // The server-rendered page.
    let (status, html) = get(&standby, "/replication", Some(&token)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(r#"<section class="stream" data-virtual-cluster="application">"#));
    assert!(html.contains(r#"<td data-field="status">replicating</td>"#));
    assert!(html.contains(r#"<a href="/replication">Replication</a>"#));
    assert!(html.contains(r#"<script src="/console/replication.js" defer></script>"#));
    assert!(chart_points(&html) >= 3, "{html}");
    let (status, js) = get(&standby, "/console/replication.js", None).await;
    assert_eq!(status, 200);
    assert!(js.contains("/_status/replication") || js.contains("data-source"));
    // The virtual clusters page shows the stream too.
    let (_, vcs) = get(&standby, "/virtual-clusters", Some(&token)).await;
    assert!(vcs.contains(&format!(
        r#"<td class="num">{job_id}</td><td>replicating</td>"#
    )));

    let Some(chromium) = chromium() else {
        eprintln!("note: chromium is not installed; skipping the headless browser check");
        return;
    };
    let dom = render_in_chromium(&chromium, &standby, &token).await;
    assert!(
        dom.contains(r#"data-virtual-cluster="application""#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"<td data-field="status">replicating</td>"#),
        "{dom}"
    );
    assert!(chart_points(&dom) >= 3, "{dom}");
    assert!(
        polyline_points(&dom) >= 3,
        "the chart's line has its points: {dom}"
    );
    // The page's script ran (the CSP allows it) and refreshed from the JSON endpoint.
    let updates = attr_number(&dom, "data-updates").unwrap_or(0);
    assert!(updates >= 1, "the page script never refreshed: {dom}");
}

/// The `data-points` of the page's first lag chart (0 if there is none).
fn chart_points(html: &str) -> u64 {
    let Some(start) = html.find(r#"class="lag-chart""#) else {
        return 0;
    };
    attr_number(&html[start..], "data-points").unwrap_or(0)
}

/// How many `x,y` pairs the first lag line has.
fn polyline_points(html: &str) -> usize {
    let Some(start) = html.find(r#"class="lag-line""#) else {
        return 0;
    };
    let rest = &html[start..];
    let Some(p) = rest.find(r#"points=""#) else {
        return 0;
    };
    let value = &rest[p + 8..];
    let value = &value[..value.find('"').unwrap_or(0)];
    value
        .split_whitespace()
        .filter(|pair| {
            pair.split_once(',')
                .is_some_and(|(x, y)| x.parse::<f64>().is_ok() && y.parse::<f64>().is_ok())
        })
        .count()
}

/// The number in the first `name="..."` attribute of `html`.
fn attr_number(html: &str, name: &str) -> Option<u64> {
    let key = format!(r#"{name}=""#);
    let start = html.find(&key)? + key.len();
    let rest = &html[start..];
    rest[..rest.find('"')?].parse().ok()
}

/// The Chromium binary, if installed.
fn chromium() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/bin/chromium");
    if fixed.exists() {
        return Some(fixed);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromium"))
            .find(|p| p.exists())
    })
}

/// Renders `/replication` of `cluster` in headless Chromium (logged in as `token`) and returns
/// the DOM after 5 s of virtual time.
async fn render_in_chromium(chromium: &PathBuf, cluster: &TestCluster, token: &str) -> String {
    let upstream = cluster.node().http_addr.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let proxy_addr = listener.local_addr().expect("proxy address");
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let proxy = tokio::spawn(cookie_proxy(
        listener,
        upstream.clone(),
        format!("tandem_session={token}"),
        seen.clone(),
    ));
    let profile = tempfile::tempdir().expect("chromium profile dir");
    let url = format!("http://{upstream}/replication");
    let child = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=5000",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--proxy-server=http://{proxy_addr}"),
            // Chromium bypasses proxies for loopback unless told not to.
            "--proxy-bypass-list=<-loopback>",
            "--dump-dom",
            &url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromium");
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("chromium finished within 120 s")
        .expect("chromium output");
    proxy.abort();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let requests = seen.lock().clone();
    assert!(
        out.status.success() && !dom.is_empty(),
        "chromium failed ({}): {}\nrequests: {requests:?}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        requests.iter().any(|r| r.starts_with("GET /replication")),
        "chromium did not load the page through the proxy: {requests:?}"
    );
    eprintln!("chromium requested: {requests:?}");
    dom
}

/// A minimal HTTP forward proxy for Chromium: each request goes to `upstream` on a fresh
/// connection, in origin form, with `cookie` in place of any cookie header and
/// `Connection: close`; the response is piped back and the client connection closed. The
/// request lines are appended to `seen`.
async fn cookie_proxy(
    listener: TcpListener,
    upstream: String,
    cookie: String,
    seen: Arc<Mutex<Vec<String>>>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let (upstream, cookie, seen) = (upstream.clone(), cookie.clone(), seen.clone());
        tokio::spawn(async move {
            if let Err(e) = proxy_one(client, &upstream, &cookie, &seen).await {
                eprintln!("proxy: {e}");
            }
        });
    }
}

async fn proxy_one(
    mut client: TcpStream,
    upstream: &str,
    cookie: &str,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or("HTTP/1.1"),
    );
    let path = match target.strip_prefix(&format!("http://{upstream}")) {
        Some("") => "/",
        Some(p) => p,
        None => {
            client
                .write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await?;
            return Ok(());
        }
    };
    seen.lock().push(format!("{method} {path}"));
    let mut out = format!("{method} {path} {version}\r\n");
    let mut content_length = 0usize;
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if name == "content-length" {
            content_length = line
                .split_once(':')
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
        }
        if !matches!(
            name.as_str(),
            "cookie" | "connection" | "proxy-connection" | "keep-alive"
        ) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!("Cookie: {cookie}\r\nConnection: close\r\n\r\n"));
    let mut body = buf[head_end..].to_vec();
    while body.len() < content_length {
        let mut chunk = [0u8; 4096];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(out.as_bytes()).await?;
    up.write_all(&body).await?;
    let mut response = Vec::new();
    up.read_to_end(&mut response).await?;
    client.write_all(&response).await?;
    client.shutdown().await
}
