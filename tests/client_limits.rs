//! What one client may take from a node, against a real node process: the size of a message
//! (`sql.conn.max_read_buffer_message_size`), its share of the connections
//! (`server.max_connections_per_gateway`), and memory (`--max-sql-memory`) for prepared
//! statements, portals and the rows of a COPY being received; and the DB Console login's
//! brute-force protection. Each limit answers the client with its SQLSTATE (08P01, 53300, 53200)
//! or HTTP status (429) and the node goes on serving everyone else.

mod common;

use std::time::Duration;

use common::{ClusterOptions, TestCluster, connect_url, rows, succeeds_soon};
use futures::SinkExt;
use tokio_postgres::Client;

const T: Duration = Duration::from_secs(60);

async fn node(extra: &[&str]) -> TestCluster {
    TestCluster::start(ClusterOptions {
        insecure: true,
        extra: extra.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
    .await
}

async fn connect(c: &TestCluster, user: &str) -> Result<Client, String> {
    connect_url(&c.url(user, None)).await
}

fn code(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_default()
}

async fn value(c: &Client, sql: &str) -> String {
    rows(c, sql).await[0][0].clone()
}

/// Prepares `sql` until the node refuses with 53200 (memory budget exceeded); the statements.
async fn fill(c: &Client, sql: &str) -> Vec<tokio_postgres::Statement> {
    let mut held = Vec::new();
    loop {
        match c.prepare(sql).await {
            Ok(s) => held.push(s),
            Err(e) => {
                assert_eq!(code(&e), "53200", "{e:?}");
                let msg = e.as_db_error().map(|d| d.message().to_string());
                assert!(
                    msg.unwrap_or_default().contains("memory budget exceeded"),
                    "{e:?}"
                );
                return held;
            }
        }
        assert!(held.len() < 100_000, "no bound on prepared statements");
    }
}

/// A simple query of about `n` bytes.
fn query_of(n: usize) -> String {
    format!("SELECT length('{}')", "x".repeat(n))
}

/// The message size limit is the cluster setting, read when a connection starts: a larger Query
/// gets FATAL 08P01 naming the size and the setting, and its connection is closed (the error
/// reaches the client); the node goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_size_limit_follows_the_cluster_setting() {
    let c = node(&[]).await;
    let root = connect(&c, "root").await.expect("connect");
    let setting = "sql.conn.max_read_buffer_message_size";
    assert_eq!(
        value(&root, &format!("SHOW CLUSTER SETTING {setting}")).await,
        "16 MiB"
    );
    let all = rows(&root, "SHOW CLUSTER SETTINGS").await;
    for name in [setting, "server.max_connections_per_gateway"] {
        assert!(
            all.iter().any(|r| r[0] == name),
            "{name} in SHOW CLUSTER SETTINGS"
        );
    }
    let e = root
        .simple_query(&format!("SET CLUSTER SETTING {setting} = '1 KiB'"))
        .await
        .expect_err("below the minimum");
    assert_eq!(code(&e), "22023");
    root.simple_query(&format!("SET CLUSTER SETTING {setting} = '64 KiB'"))
        .await
        .expect("set");
    assert_eq!(
        value(&root, &format!("SHOW CLUSTER SETTING {setting}")).await,
        "64 KiB"
    );

    // A connection keeps the limit it started with.
    assert_eq!(value(&root, &query_of(100_000)).await, "100000");

    let small = connect(&c, "root").await.expect("connect");
    assert_eq!(value(&small, &query_of(60_000)).await, "60000");
    let e = small
        .simple_query(&query_of(100_000))
        .await
        .expect_err("over the limit");
    let db = e
        .as_db_error()
        .expect("an error from the server, not a reset");
    assert_eq!(db.code().code(), "08P01");
    assert_eq!(db.severity(), "FATAL");
    assert_eq!(
        db.message(),
        "message size 98 KiB bigger than maximum allowed message size 64 KiB"
    );
    assert!(db.hint().unwrap_or_default().contains(setting), "{db:?}");
    succeeds_soon("the connection closes", T, || async {
        small.is_closed().then_some(())
    })
    .await;
    // Bind carries data too.
    let extended = connect(&c, "root").await.expect("connect");
    let e = extended
        .query_one("SELECT length($1)", &[&"y".repeat(100_000)])
        .await
        .expect_err("over the limit");
    assert_eq!(code(&e), "08P01");

    root.simple_query(&format!("RESET CLUSTER SETTING {setting}"))
        .await
        .expect("reset");
    let again = connect(&c, "root").await.expect("the node serves on");
    assert_eq!(value(&again, &query_of(100_000)).await, "100000");
}

/// `server.max_connections_per_gateway`: sessions beyond it get FATAL 53300 `sorry, too many
/// clients already`, except root and admins; closing one frees its place; 0 admits no one but
/// superusers, -1 (the default) everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_gateway_are_limited_except_for_superusers() {
    let c = node(&[]).await;
    let root = connect(&c, "root").await.expect("connect");
    root.batch_execute("CREATE USER alice; CREATE USER bob; GRANT admin TO bob")
        .await
        .expect("users");
    let setting = "server.max_connections_per_gateway";
    assert_eq!(
        value(&root, &format!("SHOW CLUSTER SETTING {setting}")).await,
        "-1"
    );
    root.batch_execute(&format!("SET CLUSTER SETTING {setting} = 3"))
        .await
        .expect("set");
    // root's own session counts: root + 2.
    let a1 = connect(&c, "alice").await.expect("second session");
    let _a2 = connect(&c, "alice").await.expect("third session");
    let refused = connect(&c, "alice").await.expect_err("a fourth");
    assert!(refused.contains("53300"), "{refused}");
    assert!(
        refused.contains("sorry, too many clients already"),
        "{refused}"
    );
    let _root2 = connect(&c, "root").await.expect("root is exempt");
    let _bob = connect(&c, "bob").await.expect("admins are exempt");
    drop(a1);
    root.batch_execute(&format!("SET CLUSTER SETTING {setting} = 5"))
        .await
        .expect("set");
    // 4 open (root, alice, root, bob): one more, once a1's connection is gone.
    let _a3 = succeeds_soon("a closed session frees its place", T, || async {
        connect(&c, "alice").await.ok()
    })
    .await;
    assert!(connect(&c, "alice").await.is_err(), "full again");
    root.batch_execute(&format!("SET CLUSTER SETTING {setting} = 0"))
        .await
        .expect("set");
    assert!(connect(&c, "alice").await.is_err(), "0: no one");
    connect(&c, "root").await.expect("but root");
    root.batch_execute(&format!("RESET CLUSTER SETTING {setting}"))
        .await
        .expect("reset");
    let mut many = Vec::new();
    for _ in 0..8 {
        many.push(connect(&c, "alice").await.expect("unlimited"));
    }
}

/// Prepared statements and portals hold memory of the node's `--max-sql-memory` pool: one
/// session preparing statements without end gets 53200 at a bound, the pool being the node's,
/// another session is refused too; DEALLOCATE ALL and Close give the memory back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_are_bounded_by_sql_memory() {
    let c = node(&["--max-sql-memory=8MiB"]).await;
    let a = connect(&c, "root").await.expect("connect");
    let b = connect(&c, "root").await.expect("connect");
    let sql = "SELECT $1::INT8 + 1 AS next_value";
    let text = a
        .prepare("SELECT length($1::STRING)")
        .await
        .expect("prepare");
    let held = fill(&a, sql).await;
    let bound = held.len();
    assert!(bound > 100, "only {bound} statements fit in 8 MiB");
    let in_use = || async {
        let (_, _, text) =
            common::http_request(&c.node().http_addr, None, "GET", "/_status/vars", &[], "").await;
        text.lines()
            .find_map(|l| l.strip_prefix("sql_mem_root_current "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    succeeds_soon("the pool's use in the metrics", T, || async {
        in_use().await.filter(|b| *b > 7 << 20)
    })
    .await;
    let e = b.prepare(sql).await.expect_err("the pool is the node's");
    assert_eq!(code(&e), "53200");
    // A portal's parameters are charged at Bind (less than one more statement is left).
    let e = a
        .query_one(&text, &[&"p".repeat(64 << 10)])
        .await
        .expect_err("no room for the portal");
    assert_eq!(code(&e), "53200");
    let row = a
        .query_one(&text, &[&"small"])
        .await
        .expect("a small portal fits");
    assert_eq!(row.get::<_, i64>(0), 5);
    // The session survives; DEALLOCATE ALL frees everything it prepared.
    a.batch_execute("DEALLOCATE ALL").await.expect("deallocate");
    let s = b.prepare(sql).await.expect("room again");
    let row = b.query_one(&s, &[&41i64]).await.expect("runs");
    assert_eq!(row.get::<_, i64>(0), 42);
    drop(held);
    drop(s);

    // Close (tokio-postgres closes a statement when it is dropped) gives memory back too.
    let held = fill(&a, sql).await;
    assert!(
        held.len() + 2 >= bound,
        "the first round's memory came back: {} then {bound}",
        held.len()
    );
    drop(held);
    succeeds_soon("Close frees the statements", T, || async {
        a.prepare(sql).await.ok()
    })
    .await;
    succeeds_soon("the pool is nearly empty again", T, || async {
        in_use().await.filter(|b| *b < 1 << 20)
    })
    .await;
}

/// The node's peak resident memory (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM")
        * 1024
}

/// A COPY FROM STDIN far larger than `--max-sql-memory` gets 53200 at CopyDone, the node's
/// memory does not grow with the data it was sent (its rows are charged as they arrive and
/// dropped at the first refusal), nothing is inserted, and the session and node go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_larger_than_sql_memory_gets_53200_without_growing_the_node() {
    let c = node(&["--max-sql-memory=8MiB"]).await;
    let pid = c.node().pid().expect("running");
    let client = connect(&c, "root").await.expect("connect");
    client
        .batch_execute("CREATE TABLE t (id INT PRIMARY KEY, body STRING)")
        .await
        .expect("table");
    let before = peak_rss(pid);
    let sink = client
        .copy_in::<_, bytes::Bytes>("COPY t FROM STDIN")
        .await
        .expect("copy");
    futures::pin_mut!(sink);
    let body = "b".repeat(1000);
    let total: usize = 128 << 20;
    let mut sent = 0;
    let mut id = 0;
    while sent < total {
        let mut chunk = String::with_capacity(1 << 20);
        while chunk.len() < (1 << 20) - 1100 {
            chunk.push_str(&format!("{id}\t{body}\n"));
            id += 1;
        }
        sent += chunk.len();
        sink.send(bytes::Bytes::from(chunk)).await.expect("send");
    }
    let e = sink.finish().await.expect_err("too large");
    assert_eq!(code(&e), "53200", "{e:?}");
    let grown = peak_rss(pid).saturating_sub(before);
    assert!(
        grown < 64 << 20,
        "the node grew by {} MiB receiving {} MiB",
        grown >> 20,
        total >> 20
    );
    assert_eq!(value(&client, "SELECT count(*) FROM t").await, "0");
    let sink = client
        .copy_in::<_, bytes::Bytes>("COPY t FROM STDIN")
        .await
        .expect("copy");
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"1\tone\n2\ttwo\n"))
        .await
        .expect("send");
    assert_eq!(sink.finish().await.expect("a small COPY"), 2);
}

/// The DB Console login of a real node: failed logins are logged with the user and the client's
/// address, and a burst of them is throttled (429 with `Retry-After`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_login_failures_are_logged_and_throttled() {
    let c = node(&[]).await;
    let root = connect(&c, "root").await.expect("connect");
    root.batch_execute("CREATE USER carol WITH PASSWORD 'right-password'")
        .await
        .expect("user");
    let addr = c.node().http_addr.clone();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (status, headers, _) = common::http_request(
            &addr,
            None,
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "user=carol&password=wrong",
        )
        .await;
        if status == 429 {
            assert!(
                headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("retry-after")),
                "{headers:?}"
            );
        }
        statuses.push(status);
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    succeeds_soon("the failures in the log", T, || async {
        let log = c.node().log_text();
        log.lines()
            .any(|l| {
                l.contains("console login failed")
                    && l.contains("\"carol\"")
                    && l.contains("127.0.0.1")
            })
            .then_some(())
    })
    .await;
}

/// Implicit joins (`FROM a, b, c WHERE ...`) join by their equalities, in an order that follows
/// them, instead of building the cross product first: three tables of 3,000 rows (a cross
/// product of 27 billion rows, 9 million for the first two) join within 16 MiB of SQL memory,
/// and the columns stay in FROM order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_joins_do_not_build_the_cross_product() {
    let c = node(&["--max-sql-memory=16MiB"]).await;
    let client = connect(&c, "root").await.expect("connect");
    join_tables(&client, &["ia", "ib", "ic"]).await;
    let two = "SELECT count(*) FROM ia, ib WHERE ia.k = ib.k AND ib.v > 100";
    assert_eq!(value(&client, two).await, "2990");
    // ia and ib are connected only through ic: ic is joined second.
    let three = "SELECT ia.k, ib.v, ic.k FROM ia, ib, ic \
                 WHERE ia.k = ic.k AND ib.k = ic.k AND ic.v = 20000";
    assert_eq!(
        rows(&client, three).await,
        vec![vec!["2000", "20000", "2000"]]
    );
    let star = "SELECT * FROM ia, ib, ic WHERE ic.k = ib.k AND ia.k = ic.k AND ia.k = 7";
    assert_eq!(
        rows(&client, star).await,
        vec![vec!["7", "70", "7", "70", "7", "70"]]
    );
}

/// WHERE conjuncts of one table filter it as it is loaded inside an explicit join tree too: a
/// cross join of 3,000 x 3,000 rows (9 M before) stays within 16 MiB; a volatile conjunct is
/// evaluated once per row (filtering early and again kept about a quarter of the rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_joins_filter_their_tables_early() {
    let c = node(&["--max-sql-memory=16MiB"]).await;
    let client = connect(&c, "root").await.expect("connect");
    join_tables(&client, &["xa", "xb"]).await;
    let cross = "SELECT count(*) FROM xa CROSS JOIN xb WHERE xa.k = 1 AND xb.v < 50";
    assert_eq!(value(&client, cross).await, "4");
    let left = "SELECT xa.k, xb.k FROM xa LEFT JOIN xb ON xb.k = xa.k + 2999 \
                JOIN xb AS xc ON xc.k = xa.k WHERE xa.v < 30 AND xc.v > 0 ORDER BY 1";
    assert_eq!(
        rows(&client, left).await,
        vec![vec!["1", "3000"], vec!["2", "NULL"]]
    );
    for q in [
        "SELECT count(*) FROM xa JOIN xb ON xa.k = xb.k WHERE xa.v * random() < xa.v * 0.5",
        "SELECT count(*) FROM xa, xb WHERE xa.k = xb.k AND xa.v * random() < xa.v * 0.5",
    ] {
        let n: i64 = value(&client, q).await.parse().expect("count");
        // Binomial(3000, 0.5): 1500 +- 27 (a filter applied twice keeps ~750).
        assert!((1200..=1800).contains(&n), "{q}: {n}");
    }
}

/// Tables `(k INT PRIMARY KEY, v INT)` of 3,000 rows each, `v = k * 10`.
async fn join_tables(client: &Client, names: &[&str]) {
    for t in names {
        client
            .batch_execute(&format!(
                "CREATE TABLE {t} (k INT PRIMARY KEY, v INT);
                 INSERT INTO {t} SELECT g, g * 10 FROM generate_series(1, 3000) AS g"
            ))
            .await
            .expect("setup");
    }
}
