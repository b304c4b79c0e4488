//! The pgwire listener end to end: a real `kv::Store` with a bootstrapped system catalog, a real
//! [`PgServer`] on 127.0.0.1:0, and real clients (tokio-postgres, `psql` when installed, and a
//! byte-level client for what drivers hide). Only the [`ConnectionRouter`] is a test double (one
//! virtual cluster, `system`).
//!
//! Guards against: rows sent as text when the client asked for binary; wrong ReadyForQuery
//! transaction status (breaks `client.transaction()` and psql's prompt); SQLSTATEs lost on the
//! way (42P01, 23505, 25P02, 28P01, 42704, 57P01, 08P01); untyped extended-protocol parameters
//! that cannot be bound; portal suspension with `max_rows`; TLS password (SCRAM) and
//! client-certificate login; plaintext refused in secure mode; garbage bytes taking down more than
//! their own connection; drain not closing sessions. Every wait has a timeout so regressions fail
//! instead of hanging.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tandem::ids::TenantId;
use tandem::kv::Store;
use tandem::pgwire::{ConnectionRouter, PgServer, PgServerHandle};
use tandem::security::{
    CertOptions, SslMode as TlsMode, client_config, create_ca, create_client, create_node,
    server_config,
};
use tandem::settings::KvSettings;
use tandem::sql::catalog::{Catalog, UserRecord};
use tandem::sql::error::SqlError;
use tandem::sql::scram;
use tandem::sql::session::SessionEnv;
use tandem::sql::sqlstate::SqlState as TState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage};

const T: Duration = Duration::from_secs(30);

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(T, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// The router double: one virtual cluster, `system` (tenant 1), users from the real catalog.
struct TestRouter {
    store: Store,
    draining: AtomicBool,
}

#[async_trait::async_trait]
impl ConnectionRouter for TestRouter {
    async fn route(&self, cluster: Option<&str>) -> Result<(TenantId, String), SqlError> {
        match cluster.unwrap_or("system") {
            "system" => Ok((TenantId::SYSTEM, "system".into())),
            other => Err(SqlError::new(
                TState::UNDEFINED_VIRTUAL_CLUSTER,
                format!("virtual cluster \"{other}\" does not exist"),
            )),
        }
    }

    async fn user(&self, tenant: TenantId, user: &str) -> Result<Option<UserRecord>, SqlError> {
        let mut txn = self.store.begin();
        let r = Catalog::new(tenant).user(&mut txn, user).await;
        txn.rollback();
        r
    }

    fn session_env(&self, _tenant: TenantId) -> SessionEnv {
        SessionEnv {
            replication: None,
            store: self.store.clone(),
            clusters: None,
            sql_memory: tandem::sql::exec::MemoryPool::new(0),
        }
    }

    fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

struct Node {
    _dir: tempfile::TempDir,
    router: Arc<TestRouter>,
    server: PgServerHandle,
}

fn user(name: &str, password: Option<&str>, login: bool) -> UserRecord {
    UserRecord {
        name: name.into(),
        scram_verifier: password.map(scram::make_verifier),
        login,
        is_role: false,
        options: vec![],
    }
}

/// A store with the system catalog plus users `alice` (password `pw`) and `nologin` (password
/// `pw`, NOLOGIN), served by a pgwire server.
async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store"), KvSettings::for_tests()).expect("open store");
    let catalog = Catalog::new(TenantId::SYSTEM);
    let mut txn = store.begin();
    within("bootstrap", catalog.bootstrap(&mut txn))
        .await
        .expect("bootstrap");
    catalog
        .put_user(&mut txn, &user("alice", Some("pw"), true))
        .expect("alice");
    catalog
        .put_user(&mut txn, &user("nologin", Some("pw"), false))
        .expect("nologin");
    within("commit bootstrap", txn.commit())
        .await
        .expect("commit");
    let router = Arc::new(TestRouter {
        store,
        draining: AtomicBool::new(false),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = PgServer::start(listener, tls, router.clone());
    Node {
        _dir: dir,
        router,
        server,
    }
}

fn insecure_config(addr: SocketAddr, user: &str) -> Config {
    let mut c = Config::new();
    c.host("127.0.0.1")
        .port(addr.port())
        .user(user)
        .dbname("defaultdb")
        .options("-ccluster=system");
    c
}

async fn connect_insecure(addr: SocketAddr) -> Client {
    let (client, conn) = within("connect", insecure_config(addr, "root").connect(NoTls))
        .await
        .expect("connect insecure");
    tokio::spawn(conn);
    client
}

fn code(e: &tokio_postgres::Error) -> Option<&str> {
    e.as_db_error().map(|d| d.code().code())
}

/// The server's message (tokio-postgres' Display is only "db error").
fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map_or_else(
        || format!("{e:?}"),
        |d| format!("{}: {}", d.severity(), d.message()),
    )
}

// ------------------------------------------------------------------------------------------
// A byte-level client, for ReadyForQuery status bytes and garbage.
// ------------------------------------------------------------------------------------------

async fn read_msg(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let tag = s.read_u8().await.ok()?;
    let len = s.read_i32().await.ok()?;
    let mut body = vec![0u8; usize::try_from(len).ok()?.checked_sub(4)?];
    s.read_exact(&mut body).await.ok()?;
    Some((tag, body))
}

/// Reads messages up to and including ReadyForQuery.
async fn read_until_ready(s: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let m = within("read message", read_msg(s))
            .await
            .expect("connection closed before ReadyForQuery");
        let done = m.0 == b'Z';
        out.push(m);
        if done {
            return out;
        }
    }
}

async fn raw_connect(addr: SocketAddr, user: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("tcp connect");
    let mut body = Vec::new();
    body.extend_from_slice(&196608i32.to_be_bytes());
    for (k, v) in [("user", user), ("database", "defaultdb")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = (i32::try_from(body.len() + 4).expect("small"))
        .to_be_bytes()
        .to_vec();
    msg.extend_from_slice(&body);
    s.write_all(&msg).await.expect("send startup");
    let msgs = read_until_ready(&mut s).await;
    assert!(
        msgs.iter()
            .any(|(t, b)| *t == b'R' && b[..4] == [0, 0, 0, 0]),
        "AuthenticationOk"
    );
    let params: Vec<String> = msgs
        .iter()
        .filter(|(t, _)| *t == b'S')
        .map(|(_, b)| String::from_utf8_lossy(b).replace('\0', "="))
        .collect();
    for want in [
        "server_version=13.0.0=",
        "DateStyle=ISO, MDY=",
        "TimeZone=UTC=",
        "client_encoding=UTF8=",
        "integer_datetimes=on=",
        "standard_conforming_strings=on=",
    ] {
        assert!(
            params.iter().any(|p| p == want),
            "ParameterStatus {want} in {params:?}"
        );
    }
    assert!(
        params.iter().any(|p| p.starts_with("crdb_version=tandem")),
        "{params:?}"
    );
    s
}

/// Runs a simple query; returns the message tags and the final ReadyForQuery status byte.
async fn raw_query(s: &mut TcpStream, sql: &str) -> (Vec<u8>, u8) {
    let mut msg = vec![b'Q'];
    msg.extend_from_slice(&(i32::try_from(sql.len() + 5).expect("small")).to_be_bytes());
    msg.extend_from_slice(sql.as_bytes());
    msg.push(0);
    s.write_all(&msg).await.expect("send query");
    let msgs = read_until_ready(s).await;
    let status = msgs.last().map(|(_, b)| b[0]).expect("ReadyForQuery");
    (msgs.iter().map(|(t, _)| *t).collect(), status)
}

/// Sends `bytes` (after an SSLRequest and the server's one-byte answer when `ssl_request`) and
/// expects the server to close the connection (read returns EOF or an error).
async fn send_garbage(addr: SocketAddr, ssl_request: bool, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).await.expect("tcp connect");
    if ssl_request {
        s.write_all(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")
            .await
            .expect("send SSLRequest");
        let answer = within("SSLRequest answer", s.read_u8())
            .await
            .expect("SSLRequest answer");
        assert!(answer == b'S' || answer == b'N', "{answer}");
    }
    let _ = s.write_all(bytes).await;
    let mut buf = vec![0u8; 4096];
    within(&format!("garbage connection closed: {bytes:?}"), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// Malformed (not merely incomplete: a client that stops mid-message is held until pgwire's
/// 60 s startup timeout, like PostgreSQL's authentication_timeout) bytes, each on its own
/// connection, then a normal connection.
async fn garbage_then_normal_connection(addr: SocketAddr, connect: impl AsyncFn() -> Client) {
    let mut bogus_version = 8i32.to_be_bytes().to_vec();
    bogus_version.extend_from_slice(&0x1234_5678i32.to_be_bytes());
    let http = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    for (ssl, bytes) in [
        (false, http.clone()),
        (false, vec![0xff; 64]),
        (false, bogus_version),
        (true, http),
        (true, vec![0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5]),
    ] {
        send_garbage(addr, ssl, &bytes).await;
    }
    let client = connect().await;
    let rows = within("query after garbage", client.query("SELECT 1", &[]))
        .await
        .expect("server still serves");
    assert_eq!(rows[0].get::<_, i64>(0), 1);
}

// ------------------------------------------------------------------------------------------
// Insecure mode
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_simple_and_extended_protocol() {
    let node = start(None).await;
    let addr = node.server.local_addr();
    let client = connect_insecure(addr).await;

    // Simple protocol: DDL, rows as text, command tags.
    within(
        "create",
        client.batch_execute("CREATE TABLE t (k INT PRIMARY KEY, v STRING)"),
    )
    .await
    .expect("create table");
    let msgs = within(
        "simple",
        client.simple_query("INSERT INTO t VALUES (10, 'ten'); SELECT k, v FROM t"),
    )
    .await
    .expect("simple batch");
    let (mut rows, mut tags) = (Vec::new(), Vec::new());
    for m in &msgs {
        match m {
            SimpleQueryMessage::Row(r) => {
                rows.push((r.get(0).map(str::to_owned), r.get(1).map(str::to_owned)))
            }
            SimpleQueryMessage::CommandComplete(n) => tags.push(*n),
            _ => {}
        }
    }
    assert_eq!(rows, vec![(Some("10".to_owned()), Some("ten".to_owned()))]);
    assert_eq!(tags, vec![1, 1], "INSERT 0 1 then SELECT 1");

    // Extended protocol with parameters typed by the client.
    let ins = within(
        "prepare",
        client.prepare_typed("INSERT INTO t VALUES ($1, $2)", &[Type::INT8, Type::TEXT]),
    )
    .await
    .expect("prepare typed");
    assert_eq!(
        within("insert 1", client.execute(&ins, &[&1i64, &"one"]))
            .await
            .expect("insert 1"),
        1
    );
    // ... and untyped: inferred from the target columns.
    assert_eq!(
        within(
            "insert 2",
            client.execute("INSERT INTO t VALUES ($1, $2)", &[&2i64, &"two"])
        )
        .await
        .expect("insert inferred"),
        1
    );
    let stmt = within(
        "prepare select",
        client.prepare("SELECT k, v FROM t WHERE k = $1"),
    )
    .await
    .expect("prepare select");
    assert_eq!(stmt.params(), &[Type::INT8]);
    assert_eq!(
        stmt.columns()
            .iter()
            .map(|c| c.type_().clone())
            .collect::<Vec<_>>(),
        vec![Type::INT8, Type::TEXT]
    );
    let row = within("query_one", client.query_one(&stmt, &[&2i64]))
        .await
        .expect("point select");
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, String>(1)),
        (2, "two".to_owned())
    );
    let all = within(
        "query all",
        client.query("SELECT k, v FROM t ORDER BY k", &[]),
    )
    .await
    .expect("select all");
    let got: Vec<(i64, String)> = all.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        vec![(1, "one".into()), (2, "two".into()), (10, "ten".into())]
    );
    // NULLs and UPDATE/DELETE counts.
    assert_eq!(
        within(
            "insert null",
            client.execute("INSERT INTO t (k) VALUES ($1)", &[&3i64])
        )
        .await
        .expect("insert null"),
        1
    );
    let v: Option<String> = within("null", client.query_one("SELECT v FROM t WHERE k = 3", &[]))
        .await
        .expect("null row")
        .get(0);
    assert_eq!(v, None);
    assert_eq!(
        within(
            "update",
            client.execute("UPDATE t SET v = $1 WHERE k = $2", &[&"three", &3i64])
        )
        .await
        .expect("update"),
        1
    );
    assert_eq!(
        within(
            "delete",
            client.execute("DELETE FROM t WHERE k = $1", &[&10i64])
        )
        .await
        .expect("delete"),
        1
    );

    // Binary results for every type.
    within(
        "create u",
        client.batch_execute("CREATE TABLE u (k INT PRIMARY KEY, f FLOAT, b BOOL, y BYTES)"),
    )
    .await
    .expect("create u");
    within(
        "insert u",
        client.execute(
            "INSERT INTO u VALUES ($1, $2, $3, $4)",
            &[&1i64, &1.5f64, &true, &vec![0u8, 255]],
        ),
    )
    .await
    .expect("insert u");
    let r = within(
        "select u",
        client.query_one("SELECT k, f, b, y FROM u", &[]),
    )
    .await
    .expect("select u");
    assert_eq!(
        (
            r.get::<_, i64>(0),
            r.get::<_, f64>(1),
            r.get::<_, bool>(2),
            r.get::<_, Vec<u8>>(3)
        ),
        (1, 1.5, true, vec![0, 255])
    );

    // Errors carry their SQLSTATE, in both protocols, and the connection keeps working.
    let e = within("missing table", client.simple_query("SELECT * FROM nope"))
        .await
        .expect_err("42P01");
    assert_eq!(e.code(), Some(&SqlState::UNDEFINED_TABLE));
    let e = within("missing table ext", client.query("SELECT * FROM nope", &[]))
        .await
        .expect_err("42P01");
    assert_eq!(e.code(), Some(&SqlState::UNDEFINED_TABLE));
    let e = within("duplicate", client.execute(&ins, &[&1i64, &"again"]))
        .await
        .expect_err("23505");
    assert_eq!(e.code(), Some(&SqlState::UNIQUE_VIOLATION));
    let e = within("syntax", client.query("SELEC 1", &[]))
        .await
        .expect_err("42601");
    assert_eq!(e.code(), Some(&SqlState::SYNTAX_ERROR));
    let e = within("two statements", client.prepare("SELECT 1; SELECT 2"))
        .await
        .expect_err("42601");
    assert_eq!(e.code(), Some(&SqlState::SYNTAX_ERROR));
    assert_eq!(
        within("after errors", client.query_one("SELECT 1", &[]))
            .await
            .expect("still fine")
            .get::<_, i64>(0),
        1
    );

    // Transactions through client.transaction(): commit, rollback, failed transaction.
    let mut client = client;
    let tx = within("begin", client.transaction()).await.expect("begin");
    within("tx insert", tx.execute(&ins, &[&4i64, &"four"]))
        .await
        .expect("tx insert");
    within("commit", tx.commit()).await.expect("commit");
    let tx = within("begin 2", client.transaction())
        .await
        .expect("begin 2");
    within("tx insert 2", tx.execute(&ins, &[&5i64, &"five"]))
        .await
        .expect("tx insert 2");
    within("rollback", tx.rollback()).await.expect("rollback");
    let tx = within("begin 3", client.transaction())
        .await
        .expect("begin 3");
    let e = within("tx error", tx.execute("SELECT * FROM nope", &[]))
        .await
        .expect_err("42P01");
    assert_eq!(e.code(), Some(&SqlState::UNDEFINED_TABLE));
    let e = within("tx aborted", tx.query("SELECT 1", &[]))
        .await
        .expect_err("25P02");
    assert_eq!(e.code(), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    within("rollback 3", tx.rollback())
        .await
        .expect("rollback failed txn");
    let ks: Vec<i64> = within("keys", client.query("SELECT k FROM t ORDER BY k", &[]))
        .await
        .expect("keys")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ks, vec![1, 2, 3, 4]);

    // Portal suspension: max_rows through pgwire.
    let tx = within("begin 4", client.transaction())
        .await
        .expect("begin 4");
    let portal = within("bind", tx.bind("SELECT k FROM t ORDER BY k", &[]))
        .await
        .expect("bind portal");
    let first = within("portal 1", tx.query_portal(&portal, 3))
        .await
        .expect("portal batch 1");
    let second = within("portal 2", tx.query_portal(&portal, 3))
        .await
        .expect("portal batch 2");
    assert_eq!((first.len(), second.len()), (3, 1));
    within("commit 4", tx.commit()).await.expect("commit 4");

    assert!(
        node.server.statements() > 10,
        "statements counted: {}",
        node.server.statements()
    );
    assert!(
        node.server.failures() >= 5,
        "failures counted: {}",
        node.server.failures()
    );
    assert!(node.server.connections_total() >= 1);
    drop(client);
    within("drain", node.server.drain(Duration::from_secs(5))).await;
    assert_eq!(node.server.active_connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_transaction_status_and_startup_errors() {
    let node = start(None).await;
    let addr = node.server.local_addr();

    // ReadyForQuery status bytes follow the session: idle, in transaction, failed.
    let mut s = raw_connect(addr, "root").await;
    assert_eq!(
        raw_query(&mut s, "").await,
        (vec![b'I', b'Z'], b'I'),
        "EmptyQueryResponse"
    );
    assert_eq!(
        raw_query(&mut s, "-- just a comment").await,
        (vec![b'I', b'Z'], b'I')
    );
    assert_eq!(raw_query(&mut s, "BEGIN").await.1, b'T');
    assert_eq!(
        raw_query(&mut s, "SELECT 1").await,
        (vec![b'T', b'D', b'C', b'Z'], b'T')
    );
    assert_eq!(
        raw_query(&mut s, "SELECT * FROM nope").await,
        (vec![b'E', b'Z'], b'E')
    );
    assert_eq!(
        raw_query(&mut s, "SELECT 1").await,
        (vec![b'E', b'Z'], b'E')
    );
    assert_eq!(raw_query(&mut s, "ROLLBACK").await.1, b'I');
    assert_eq!(
        raw_query(&mut s, "SELECT * FROM nope").await.1,
        b'I',
        "an implicit transaction's error leaves the session idle"
    );
    // An error stops the batch: the second statement never runs.
    let (tags, status) = raw_query(
        &mut s,
        "SELECT * FROM nope; CREATE TABLE never (k INT PRIMARY KEY)",
    )
    .await;
    assert_eq!((tags, status), (vec![b'E', b'Z'], b'I'));
    assert_eq!(raw_query(&mut s, "SELECT * FROM never").await.0[0], b'E');

    // Startup errors are FATAL with the right SQLSTATE; the server keeps serving.
    let e = within(
        "unknown user",
        insecure_config(addr, "mallory").connect(NoTls),
    )
    .await
    .err()
    .expect("unknown user");
    assert_eq!(code(&e), Some("28000"), "{}", message(&e));
    let e = within("nologin", insecure_config(addr, "nologin").connect(NoTls))
        .await
        .err()
        .expect("nologin");
    assert_eq!(code(&e), Some("28000"), "{}", message(&e));
    let mut c = insecure_config(addr, "root");
    c.options("-c cluster=nope");
    let e = within("unknown cluster", c.connect(NoTls))
        .await
        .err()
        .expect("unknown cluster");
    assert_eq!(code(&e), Some("42704"), "{}", message(&e));
    assert!(
        message(&e).contains("virtual cluster \"nope\" does not exist"),
        "{}",
        message(&e)
    );
    c.options("bogus");
    let e = within("bad options", c.connect(NoTls))
        .await
        .err()
        .expect("bad options");
    assert_eq!(code(&e), Some("42601"), "{}", message(&e));
    // `--cluster=` spelling, database default.
    let mut c = insecure_config(addr, "alice");
    c.options("--cluster=system");
    let (client, conn) = within("alice", c.connect(NoTls))
        .await
        .expect("alice without password in insecure mode");
    tokio::spawn(conn);
    assert_eq!(
        within("alice q", client.query_one("SELECT 1", &[]))
            .await
            .expect("alice query")
            .get::<_, i64>(0),
        1
    );

    // Draining router: new connections get 57P01.
    node.router.draining.store(true, Ordering::Relaxed);
    let e = within("draining", insecure_config(addr, "root").connect(NoTls))
        .await
        .err()
        .expect("draining");
    assert_eq!(code(&e), Some("57P01"), "{}", message(&e));
    node.router.draining.store(false, Ordering::Relaxed);

    garbage_then_normal_connection(addr, async || connect_insecure(addr).await).await;
    assert!(node.server.metrics().auth_failures.load(Ordering::Relaxed) >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_closes_idle_sessions_and_waits_for_transactions() {
    let node = start(None).await;
    let addr = node.server.local_addr();
    let idle = connect_insecure(addr).await;
    let busy = connect_insecure(addr).await;
    within(
        "create",
        busy.batch_execute("CREATE TABLE d (k INT PRIMARY KEY)"),
    )
    .await
    .expect("create");
    within(
        "begin",
        busy.batch_execute("BEGIN; INSERT INTO d VALUES (1)"),
    )
    .await
    .expect("begin");
    assert_eq!(node.server.active_connections(), 2);

    let server = node.server.clone();
    let drain = tokio::spawn(async move { server.drain(Duration::from_secs(20)).await });
    within("idle closed", async {
        while !idle.is_closed() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // The open transaction may finish; then its connection is closed too.
    within(
        "insert in txn",
        busy.batch_execute("INSERT INTO d VALUES (2)"),
    )
    .await
    .expect("statement inside the transaction during drain");
    within("commit", busy.batch_execute("COMMIT"))
        .await
        .expect("commit during drain");
    within("drain done", drain).await.expect("drain task");
    assert_eq!(node.server.active_connections(), 0);
    assert!(
        within("busy closed", busy.batch_execute("SELECT 1"))
            .await
            .is_err()
    );
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");

    // The committed rows are there.
    let store = node.router.store.clone();
    let mut txn = store.begin();
    let t = Catalog::new(TenantId::SYSTEM);
    let db = within("db", t.database(&mut txn, "defaultdb"))
        .await
        .expect("db")
        .expect("defaultdb");
    assert!(
        within("table", t.table(&mut txn, db.id, "d"))
            .await
            .expect("table")
            .is_some()
    );
    txn.rollback();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_runs_a_query_in_insecure_mode() {
    if !Path::new("/usr/bin/psql").exists() {
        eprintln!("psql not installed; skipping");
        return;
    }
    let node = start(None).await;
    let addr = node.server.local_addr();
    let url = format!(
        "postgresql://root@127.0.0.1:{}/defaultdb?sslmode=disable&options=-ccluster%3Dsystem",
        addr.port()
    );
    let out = within(
        "psql",
        tokio::process::Command::new("/usr/bin/psql")
            .arg(&url)
            .args(["-X", "-A", "-t", "-c", "SELECT 1"])
            .output(),
    )
    .await
    .expect("run psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    // With sslmode=prefer psql falls back to plaintext after the server's 'N'.
    let url = format!(
        "postgresql://root@127.0.0.1:{}/defaultdb?sslmode=prefer&options=-ccluster%3Dsystem",
        addr.port()
    );
    let out = within(
        "psql prefer",
        tokio::process::Command::new("/usr/bin/psql")
            .arg(&url)
            .args(["-X", "-A", "-t", "-c", "SELECT 2"])
            .output(),
    )
    .await
    .expect("run psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
}

// ------------------------------------------------------------------------------------------
// TLS mode
// ------------------------------------------------------------------------------------------

struct Certs {
    dir: tempfile::TempDir,
}

fn make_certs() -> Certs {
    let dir = tempfile::tempdir().expect("certs dir");
    let ca_key = dir.path().join("ca.key");
    let opts = CertOptions::default();
    create_ca(dir.path(), &ca_key, &opts).expect("create ca");
    create_node(
        dir.path(),
        &ca_key,
        &["localhost".to_owned(), "127.0.0.1".to_owned()],
        &opts,
    )
    .expect("create node");
    create_client(dir.path(), &ca_key, "root", &opts).expect("create client");
    Certs { dir }
}

fn tls_config(addr: SocketAddr, user: &str, password: Option<&str>, cluster: &str) -> Config {
    let mut c = Config::new();
    c.host("localhost")
        .hostaddr(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .port(addr.port())
        .user(user)
        .dbname("defaultdb")
        .options(format!("-ccluster={cluster}"))
        .ssl_mode(tokio_postgres::config::SslMode::Require);
    if let Some(p) = password {
        c.password(p);
    }
    c
}

async fn tls_connect(
    certs: &Certs,
    config: &Config,
    client_cert: bool,
) -> Result<Client, tokio_postgres::Error> {
    let d = certs.dir.path();
    let (crt, key) = (d.join("client.root.crt"), d.join("client.root.key"));
    let cfg = client_config(
        Some(&d.join("ca.crt")),
        None,
        client_cert.then_some((crt.as_path(), key.as_path())),
        TlsMode::VerifyFull,
    )
    .expect("client tls config");
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new((*cfg).clone());
    let (client, conn) = within("tls connect", config.connect(tls)).await?;
    tokio::spawn(conn);
    Ok(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_password_and_certificate_login() {
    let certs = make_certs();
    let node = start(Some(
        server_config(certs.dir.path(), false).expect("server tls config"),
    ))
    .await;
    let addr = node.server.local_addr();

    // SCRAM-SHA-256 against the stored verifier.
    let alice = tls_connect(
        &certs,
        &tls_config(addr, "alice", Some("pw"), "system"),
        false,
    )
    .await
    .expect("alice with password");
    assert_eq!(
        within("alice q", alice.query_one("SELECT 1", &[]))
            .await
            .expect("query")
            .get::<_, i64>(0),
        1
    );

    // Wrong password, unknown user, NOLOGIN: the same 28P01, revealing nothing.
    for (u, p) in [
        ("alice", "nope"),
        ("mallory", "pw"),
        ("nologin", "pw"),
        ("root", "pw"),
    ] {
        let e = tls_connect(&certs, &tls_config(addr, u, Some(p), "system"), false)
            .await
            .err()
            .unwrap_or_else(|| panic!("{u} must fail"));
        assert_eq!(code(&e), Some("28P01"), "{u}: {}", message(&e));
        assert!(
            message(&e).contains(&format!("password authentication failed for user {u}")),
            "{}",
            message(&e)
        );
    }

    // Client certificate (CN = root): no password.
    let root = tls_connect(&certs, &tls_config(addr, "root", None, "system"), true)
        .await
        .expect("root with client cert");
    within(
        "root ddl",
        root.batch_execute("CREATE TABLE s (k INT PRIMARY KEY)"),
    )
    .await
    .expect("root query");
    // A certificate for root does not log in as alice: password auth applies, and fails without one.
    assert!(
        tls_connect(&certs, &tls_config(addr, "alice", None, "system"), true)
            .await
            .is_err()
    );

    // Unknown virtual cluster.
    let e = tls_connect(&certs, &tls_config(addr, "root", None, "nope"), true)
        .await
        .expect_err("unknown cluster");
    assert_eq!(code(&e), Some("42704"), "{}", message(&e));

    // Plaintext is refused in secure mode.
    let mut plain = tls_config(addr, "root", None, "system");
    plain.ssl_mode(tokio_postgres::config::SslMode::Disable);
    let e = within("plaintext", plain.connect(NoTls))
        .await
        .err()
        .expect("plaintext refused");
    assert_eq!(code(&e), Some("08P01"), "{}", message(&e));
    assert!(
        message(&e).contains("SSL connection required"),
        "{}",
        message(&e)
    );

    // psql with sslmode=verify-full: client certificate, then SCRAM password.
    if Path::new("/usr/bin/psql").exists() {
        let d = certs.dir.path().display();
        let base = format!(
            "postgresql://{{}}@localhost:{}/defaultdb?options=-ccluster%3Dsystem&sslmode=verify-full&sslrootcert={d}/ca.crt",
            addr.port()
        );
        let root = format!(
            "{}&sslcert={d}/client.root.crt&sslkey={d}/client.root.key",
            base.replace("{}", "root")
        );
        let out = within(
            "psql cert",
            tokio::process::Command::new("/usr/bin/psql")
                .arg(&root)
                .args(["-X", "-A", "-t", "-c", "SELECT 3"])
                .output(),
        )
        .await
        .expect("run psql");
        assert!(
            out.status.success(),
            "psql (cert) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
        let alice = base.replace("{}", "alice");
        let out = within(
            "psql scram",
            tokio::process::Command::new("/usr/bin/psql")
                .arg(&alice)
                .env("PGPASSWORD", "pw")
                .args(["-X", "-A", "-t", "-c", "SELECT 4"])
                .output(),
        )
        .await
        .expect("run psql");
        assert!(
            out.status.success(),
            "psql (password) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4");
        let out = within(
            "psql bad",
            tokio::process::Command::new("/usr/bin/psql")
                .arg(&alice)
                .env("PGPASSWORD", "wrong")
                .args(["-X", "-c", "SELECT 5"])
                .output(),
        )
        .await
        .expect("run psql");
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("password authentication failed for user alice"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Garbage bytes close only their own connection.
    garbage_then_normal_connection(addr, async || {
        tls_connect(&certs, &tls_config(addr, "root", None, "system"), true)
            .await
            .expect("connect after garbage")
    })
    .await;
    within("drain", node.server.drain(Duration::from_secs(5))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_parameters_become_session_variables() {
    let node = start(None).await;
    let mut c = insecure_config(node.server.local_addr(), "root");
    c.application_name("myapp")
        .options("-ccluster=system -c search_path=foo");
    let (client, conn) = within("connect", c.connect(NoTls)).await.expect("connect");
    tokio::spawn(conn);
    let show = async |what: &str| -> String {
        within(what, client.query_one(what, &[]))
            .await
            .expect(what)
            .get(0)
    };
    assert_eq!(show("SHOW application_name").await, "myapp");
    assert_eq!(show("SHOW search_path").await, "foo");
    // VALUES is described like any query and works in both protocols.
    let rows = within("values", client.query("VALUES (1)", &[]))
        .await
        .expect("extended VALUES");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i64>(0), 1);
    assert_eq!(
        within("values simple", client.simple_query("VALUES (1)"))
            .await
            .expect("simple VALUES")
            .len(),
        3
    );
    // Untyped parameters get the type of the column they are compared with.
    within(
        "create",
        client.batch_execute("CREATE TABLE t (k INT PRIMARY KEY)"),
    )
    .await
    .expect("create");
    let st = within("prepare", client.prepare("SELECT k FROM t WHERE k = $1"))
        .await
        .expect("prepare");
    assert_eq!(st.params(), &[Type::INT8]);
}
