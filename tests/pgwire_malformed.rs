//! Malformed protocol messages against a real `tandem` node (secure, started through
//! tests/common): each gets an ErrorResponse with the SQLSTATE PostgreSQL would send, the node
//! keeps serving other clients, and its log does not grow by a panic (and backtrace) per attempt.
//!
//! The cases are the ones that used to panic the connection task in the message decoders: a
//! SASLInitialResponse whose body ends right after the mechanism name (over TLS, no client
//! certificate, unknown user: before any authentication), and after login a Parse without its
//! parameter count, a Bind whose parameter is longer than the message, a CopyData with a length
//! field below 4; plus a simple query with invalid UTF-8 (22021, the session goes on), and an
//! Execute row limit of 2^31 - 1 (which aborted the node on an allocation of that many rows).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{ClusterOptions, TestCluster};
use tandem::security::{SslMode, client_config};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const T: Duration = Duration::from_secs(30);
/// Attempts of the pre-authentication case (a client looping on it).
const ATTEMPTS: usize = 60;

type Conn = TlsStream<TcpStream>;

fn typed(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn startup(user: &str) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for s in ["user", user, "database", "defaultdb"] {
        body.extend_from_slice(s.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut p = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    p.extend_from_slice(&body);
    p
}

fn query(sql: &[u8]) -> Vec<u8> {
    typed(b'Q', &[sql, b"\0"].concat())
}

/// The next backend message, None at end of stream.
async fn read_msg<S: AsyncRead + Unpin>(s: &mut S) -> Option<(u8, Vec<u8>)> {
    let tag = s.read_u8().await.ok()?;
    let len = s.read_i32().await.ok()?;
    let mut body = vec![0u8; usize::try_from(len).ok()?.checked_sub(4)?];
    s.read_exact(&mut body).await.ok()?;
    Some((tag, body))
}

/// Messages up to and including the first of type `until` (or the end of the stream).
async fn read_until<S: AsyncRead + Unpin>(s: &mut S, until: u8) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    tokio::time::timeout(T, async {
        while let Some(m) = read_msg(s).await {
            let done = m.0 == until;
            out.push(m);
            if done {
                break;
            }
        }
    })
    .await
    .expect("server answered in time");
    out
}

/// (severity, SQLSTATE) of an ErrorResponse body.
fn error_fields(body: &[u8]) -> (String, String) {
    let mut severity = String::new();
    let mut code = String::new();
    for f in body.split(|b| *b == 0) {
        match f.split_first() {
            Some((b'S', v)) => severity = String::from_utf8_lossy(v).into_owned(),
            Some((b'C', v)) => code = String::from_utf8_lossy(v).into_owned(),
            _ => {}
        }
    }
    (severity, code)
}

/// Asserts `msgs` hold an ErrorResponse (severity, SQLSTATE) and the server closed after it.
async fn expect_fatal(conn: &mut Conn, msgs: &[(u8, Vec<u8>)], what: &str) {
    let errors: Vec<_> = msgs
        .iter()
        .filter(|(t, _)| *t == b'E')
        .map(|(_, b)| error_fields(b))
        .collect();
    assert_eq!(
        errors,
        vec![("FATAL".to_string(), "08P01".to_string())],
        "{what}: {msgs:?}"
    );
    let end = tokio::time::timeout(T, read_msg(conn))
        .await
        .expect("closed in time");
    assert!(end.is_none(), "{what}: connection still open: {end:?}");
}

/// A TLS connection (SSLRequest first), with root's client certificate or none.
async fn tls(c: &TestCluster, with_cert: bool) -> Conn {
    let certs = c.certs.as_ref().expect("secure cluster");
    let (crt, key) = (certs.join("client.root.crt"), certs.join("client.root.key"));
    let cert = with_cert.then_some((crt.as_path(), key.as_path()));
    let config = client_config(Some(&certs.join("ca.crt")), None, cert, SslMode::VerifyFull)
        .expect("client tls config");
    let mut tcp = TcpStream::connect(&c.node().sql_addr)
        .await
        .expect("connect");
    tcp.write_all(&[0, 0, 0, 8, 4, 210, 22, 47])
        .await
        .expect("SSLRequest");
    assert_eq!(tcp.read_u8().await.expect("answer"), b'S');
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("server name");
    tokio_rustls::TlsConnector::from(Arc::clone(&config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake")
}

/// Logged in as root (certificate), ready for queries.
async fn session(c: &TestCluster) -> Conn {
    let mut conn = tls(c, true).await;
    send(&mut conn, &startup("root")).await;
    let msgs = read_until(&mut conn, b'Z').await;
    assert!(
        msgs.iter()
            .any(|(t, b)| *t == b'R' && b[..4] == [0, 0, 0, 0]),
        "login: {msgs:?}"
    );
    conn
}

async fn send<S: AsyncWrite + Unpin>(s: &mut S, bytes: &[u8]) {
    s.write_all(bytes).await.expect("send");
    s.flush().await.expect("flush");
}

/// Another client is served.
async fn still_serving(c: &TestCluster) {
    let client = c.connect("root", None).await.expect("connect");
    let row = tokio::time::timeout(T, client.query_one("SELECT 1", &[]))
        .await
        .expect("in time")
        .expect("SELECT 1");
    assert_eq!(row.get::<_, i64>(0), 1);
}

fn log_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_get_errors_and_the_node_keeps_serving() {
    let c = TestCluster::start(ClusterOptions::default()).await;
    let log = c.node().log.clone();
    let before = log_len(&log);

    // Before authentication: TLS without a certificate, a user that does not exist, and a
    // SASLInitialResponse that ends right after the mechanism name. A client looping on it.
    for _ in 0..ATTEMPTS {
        let mut conn = tls(&c, false).await;
        send(&mut conn, &startup("nosuchuser")).await;
        let msgs = read_until(&mut conn, b'R').await;
        assert!(
            msgs.iter()
                .any(|(t, b)| *t == b'R' && b[..4] == [0, 0, 0, 10]),
            "AuthenticationSASL: {msgs:?}"
        );
        send(&mut conn, &typed(b'p', b"SCRAM-SHA-256\0")).await;
        let msgs = read_until(&mut conn, b'E').await;
        expect_fatal(&mut conn, &msgs, "truncated SASLInitialResponse").await;
    }
    still_serving(&c).await;
    let grown = log_len(&log) - before;
    assert!(
        grown < 100 * ATTEMPTS as u64,
        "the log grew by {grown} bytes over {ATTEMPTS} attempts"
    );

    // After login: a Parse that ends after its query (no parameter count).
    let mut conn = session(&c).await;
    send(&mut conn, &typed(b'P', b"s1\0SELECT 1\0")).await;
    let msgs = read_until(&mut conn, b'E').await;
    expect_fatal(&mut conn, &msgs, "malformed Parse").await;

    // A Bind whose parameter is longer than the message.
    let mut conn = session(&c).await;
    let mut bind = b"\0s1\0\0\0\0\x01".to_vec();
    bind.extend_from_slice(&100i32.to_be_bytes());
    bind.extend_from_slice(b"1\0\0");
    let mut bytes = typed(b'P', b"s1\0SELECT $1::INT8\0\0\0");
    bytes.extend(typed(b'B', &bind));
    bytes.extend(typed(b'S', &[]));
    send(&mut conn, &bytes).await;
    let msgs = read_until(&mut conn, b'E').await;
    expect_fatal(&mut conn, &msgs, "malformed Bind").await;

    // A CopyData whose length field is below 4, during COPY FROM STDIN.
    let mut conn = session(&c).await;
    send(&mut conn, &query(b"CREATE TABLE t (a INT PRIMARY KEY)")).await;
    read_until(&mut conn, b'Z').await;
    send(&mut conn, &query(b"COPY t FROM STDIN")).await;
    let msgs = read_until(&mut conn, b'G').await;
    assert_eq!(
        msgs.last().map(|m| m.0),
        Some(b'G'),
        "CopyInResponse: {msgs:?}"
    );
    send(&mut conn, &[b'd', 0, 0, 0, 3, b'1', b'\n']).await;
    let msgs = read_until(&mut conn, b'E').await;
    expect_fatal(&mut conn, &msgs, "malformed CopyData").await;

    // Invalid UTF-8 in a simple query: 22021, and the session goes on.
    let mut conn = session(&c).await;
    send(&mut conn, &query(b"SELECT '\xc3\x28'")).await;
    let msgs = read_until(&mut conn, b'Z').await;
    let errors: Vec<_> = msgs
        .iter()
        .filter(|(t, _)| *t == b'E')
        .map(|(_, b)| error_fields(b))
        .collect();
    assert_eq!(
        errors,
        vec![("ERROR".to_string(), "22021".to_string())],
        "{msgs:?}"
    );
    send(&mut conn, &query(b"SELECT 1")).await;
    let msgs = read_until(&mut conn, b'Z').await;
    assert!(
        msgs.iter().any(|(t, b)| *t == b'D' && b.ends_with(b"1")),
        "{msgs:?}"
    );

    still_serving(&c).await;
    let text = c.node().log_text();
    assert!(
        !text.contains("panicked"),
        "the node logged a panic:\n{text}"
    );
}

/// Parse + Bind of `sql` (unnamed), then one Execute per row limit, then Sync.
fn extended(sql: &str, limits: &[i32]) -> Vec<u8> {
    let mut bytes = typed(b'P', &[b"\0", sql.as_bytes(), b"\0\0\0"].concat());
    bytes.extend(typed(b'B', b"\0\0\0\0\0\0\0\0"));
    for limit in limits {
        bytes.extend(typed(b'E', &[&b"\0"[..], &limit.to_be_bytes()].concat()));
    }
    bytes.extend(typed(b'S', &[]));
    bytes
}

fn tags(msgs: &[(u8, Vec<u8>)]) -> String {
    let mut out = String::new();
    let mut rows = 0;
    for (t, b) in msgs {
        if *t == b'D' {
            rows += 1;
            continue;
        }
        if rows > 0 {
            out.push_str(&format!("{rows}×D "));
            rows = 0;
        }
        match t {
            b'C' => out.push_str(&format!(
                "C({}) ",
                String::from_utf8_lossy(&b[..b.len() - 1])
            )),
            t => out.push_str(&format!("{} ", *t as char)),
        }
    }
    out.trim_end().to_string()
}

/// Execute's row limit is the client's: the largest one must not make the node reserve room for
/// that many rows (it aborted on the allocation failure), and limits above the server's fetch
/// chunk still suspend and resume exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_row_limits_of_any_size() {
    let c = TestCluster::start(ClusterOptions::default()).await;
    let mut conn = session(&c).await;
    send(&mut conn, &extended("SELECT 1", &[i32::MAX])).await;
    let msgs = read_until(&mut conn, b'Z').await;
    assert_eq!(tags(&msgs), "1 2 1×D C(SELECT 1) Z");

    let sql = "SELECT g FROM generate_series(1, 3000) AS g";
    send(&mut conn, &extended(sql, &[2500, 400, 0])).await;
    let msgs = read_until(&mut conn, b'Z').await;
    assert_eq!(tags(&msgs), "1 2 2500×D s 400×D s 100×D C(SELECT 100) Z");
    let values: Vec<i64> = msgs
        .iter()
        .filter(|(t, _)| *t == b'D')
        .map(|(_, b)| String::from_utf8_lossy(&b[6..]).parse().expect("int"))
        .collect();
    assert_eq!(values, (1..=3000).collect::<Vec<i64>>());
    still_serving(&c).await;
}
