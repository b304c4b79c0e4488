//! Row locks between concurrent transactions, against a real node: `SELECT ... FOR UPDATE`
//! makes writers and other lockers wait (and then see the holder's writes), `FOR SHARE` locks
//! are shared, `NOWAIT` / `SKIP LOCKED` / `lock_timeout` / `statement_timeout` / cancel end a
//! wait, and locks end with the transaction, the implicit transaction or the connection.
//! Single-session semantics are in `tests/slt/locking.slt`.

mod common;

use std::time::{Duration, Instant};

use common::{ClusterOptions, TestCluster, rows};
use tokio::task::JoinHandle;
use tokio_postgres::Client;

const T: Duration = Duration::from_secs(30);
/// How long a statement that must be blocked is watched before it is called blocked.
const BLOCKED: Duration = Duration::from_millis(500);

async fn cluster() -> TestCluster {
    TestCluster::start(ClusterOptions {
        insecure: true,
        ..Default::default()
    })
    .await
}

async fn client(c: &TestCluster) -> Client {
    c.connect("root", None).await.expect("connect")
}

async fn exec(c: &Client, sql: &str) {
    c.batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
}

/// A statement's rows as text, or its SQLSTATE and message.
type Outcome = Result<Vec<Vec<String>>, String>;

/// Runs `sql` on its own connection's task.
fn spawn(c: Client, sql: &'static str) -> JoinHandle<(Client, Outcome)> {
    tokio::spawn(async move {
        let r = run(&c, sql).await;
        (c, r)
    })
}

async fn run(c: &Client, sql: &str) -> Outcome {
    match c.simple_query(sql).await {
        Ok(msgs) => Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                    (0..r.len())
                        .map(|i| r.get(i).unwrap_or("NULL").to_string())
                        .collect(),
                ),
                _ => None,
            })
            .collect()),
        Err(e) => Err(match e.as_db_error() {
            Some(d) => format!("{}: {}", d.code().code(), d.message()),
            None => e.to_string(),
        }),
    }
}

/// Asserts the task is still waiting after [`BLOCKED`].
async fn assert_blocked<X>(h: &JoinHandle<X>, what: &str) {
    tokio::time::sleep(BLOCKED).await;
    assert!(!h.is_finished(), "{what} should wait for the lock");
}

async fn finish<X>(h: JoinHandle<X>) -> X {
    tokio::time::timeout(T, h)
        .await
        .expect("finishes in time")
        .expect("task")
}

fn one(v: &str) -> Vec<Vec<String>> {
    vec![vec![v.to_string()]]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn for_update_makes_writers_and_lockers_wait_then_see_the_write() {
    let cluster = cluster().await;
    let (a, b, c) = (
        client(&cluster).await,
        client(&cluster).await,
        client(&cluster).await,
    );
    exec(
        &a,
        "CREATE TABLE kv (k INT PRIMARY KEY, v INT); INSERT INTO kv VALUES (1, 1), (2, 2), (3, 3)",
    )
    .await;

    // A point UPDATE (implicit transaction) waits for the row's FOR UPDATE lock, then applies
    // on top of the holder's write. Plain reads do not wait.
    exec(&a, "BEGIN").await;
    assert_eq!(
        rows(&a, "SELECT v FROM kv WHERE k = 1 FOR UPDATE").await,
        one("1")
    );
    let upd = spawn(b, "UPDATE kv SET v = v + 10 WHERE k = 1");
    assert_blocked(&upd, "UPDATE").await;
    assert_eq!(rows(&c, "SELECT v FROM kv WHERE k = 1").await, one("1"));
    // Past the 2 s best-effort limit of write locks too: the lock was taken explicitly.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!upd.is_finished(), "UPDATE went past an explicit lock");
    exec(&a, "UPDATE kv SET v = 100 WHERE k = 1; COMMIT").await;
    let (b, r) = finish(upd).await;
    r.expect("update after the lock");
    assert_eq!(rows(&c, "SELECT v FROM kv WHERE k = 1").await, one("110"));

    // A SELECT FOR UPDATE in another transaction waits, then returns the holder's write, and
    // its transaction commits (no 40001).
    exec(&a, "BEGIN").await;
    rows(&a, "SELECT v FROM kv WHERE k = 1 FOR UPDATE").await;
    exec(&b, "BEGIN").await;
    let sel = spawn(b, "SELECT v FROM kv WHERE k = 1 FOR UPDATE");
    assert_blocked(&sel, "SELECT FOR UPDATE").await;
    exec(&a, "UPDATE kv SET v = 200 WHERE k = 1; COMMIT").await;
    let (b, r) = finish(sel).await;
    assert_eq!(r.expect("locked read"), one("200"));
    exec(&b, "UPDATE kv SET v = v + 1 WHERE k = 1; COMMIT").await;
    assert_eq!(rows(&c, "SELECT v FROM kv WHERE k = 1").await, one("201"));

    // A scan (not a point read) locks the rows it returns; a waiting scan re-reads them.
    exec(&a, "BEGIN").await;
    rows(&a, "SELECT k FROM kv WHERE v >= 3 FOR UPDATE").await;
    exec(&b, "BEGIN").await;
    let scan = spawn(b, "SELECT k, v FROM kv WHERE v > 0 ORDER BY k FOR UPDATE");
    assert_blocked(&scan, "scanning SELECT FOR UPDATE").await;
    exec(&a, "UPDATE kv SET v = 33 WHERE k = 3; COMMIT").await;
    let (b, r) = finish(scan).await;
    assert_eq!(
        r.expect("locked scan"),
        vec![
            vec!["1".to_string(), "201".into()],
            vec!["2".into(), "2".into()],
            vec!["3".into(), "33".into()],
        ]
    );
    exec(&b, "COMMIT").await;

    // An UPDATE that scans, in an explicit transaction (no automatic retry), waits for a locked
    // row it matches, then runs again on the holder's write.
    exec(&a, "BEGIN").await;
    rows(&a, "SELECT k FROM kv WHERE k = 1 FOR UPDATE").await;
    exec(&b, "BEGIN").await;
    let upd = spawn(b, "UPDATE kv SET v = v + 1 WHERE v > 100 RETURNING k, v");
    assert_blocked(&upd, "scanning UPDATE").await;
    exec(&a, "UPDATE kv SET v = 300 WHERE k = 1; COMMIT").await;
    let (b, r) = finish(upd).await;
    assert_eq!(
        r.expect("update"),
        vec![vec!["1".to_string(), "301".into()]]
    );
    exec(&b, "COMMIT").await;

    // A transaction that began before another committed a write locks and reads that write.
    exec(&a, "BEGIN").await;
    exec(&b, "UPDATE kv SET v = 34 WHERE k = 3").await;
    assert_eq!(
        rows(&a, "SELECT v FROM kv WHERE k = 3 FOR UPDATE").await,
        one("34")
    );
    exec(&a, "UPDATE kv SET v = v + 1 WHERE k = 3; COMMIT").await;
    assert_eq!(rows(&c, "SELECT v FROM kv WHERE k = 3").await, one("35"));

    // A DELETE waits too; a rollback lets it go on with the row as it was.
    exec(&a, "BEGIN").await;
    rows(&a, "SELECT k FROM kv WHERE k = 2 FOR UPDATE").await;
    let del = spawn(b, "DELETE FROM kv WHERE k = 2 RETURNING v");
    assert_blocked(&del, "DELETE").await;
    exec(&a, "UPDATE kv SET v = 22 WHERE k = 2; ROLLBACK").await;
    let (_b, r) = finish(del).await;
    assert_eq!(r.expect("delete"), one("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nowait_skip_locked_and_timeouts_end_waits() {
    let cluster = cluster().await;
    let (a, b, c) = (
        client(&cluster).await,
        client(&cluster).await,
        client(&cluster).await,
    );
    exec(
        &a,
        "CREATE TABLE q (k INT PRIMARY KEY, v INT); INSERT INTO q VALUES (1, 1), (2, 2), (3, 3)",
    )
    .await;
    exec(&a, "BEGIN").await;
    rows(&a, "SELECT k FROM q WHERE k = 1 FOR UPDATE").await;

    let start = Instant::now();
    let e = run(&b, "SELECT * FROM q WHERE k = 1 FOR UPDATE NOWAIT")
        .await
        .expect_err("NOWAIT on a locked row");
    assert_eq!(e, "55P03: could not obtain lock on row (k)=(1) in q@q_pkey");
    let e = run(&b, "SELECT * FROM q FOR SHARE NOWAIT")
        .await
        .expect_err("NOWAIT share on an exclusively locked row");
    assert!(
        e.starts_with("55P03: could not obtain lock on row (k)=(1)"),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(2), "NOWAIT waited");
    // Unlocked rows: NOWAIT is fine.
    assert_eq!(
        rows(&b, "SELECT v FROM q WHERE k = 2 FOR UPDATE NOWAIT").await,
        one("2")
    );

    // SKIP LOCKED leaves locked rows out; with LIMIT it locks only what it returns (a queue).
    assert_eq!(
        rows(&b, "SELECT k FROM q ORDER BY k FOR UPDATE SKIP LOCKED").await,
        vec![vec!["2".to_string()], vec!["3".to_string()]]
    );
    exec(&b, "BEGIN").await;
    assert_eq!(
        rows(
            &b,
            "SELECT k FROM q ORDER BY k LIMIT 1 FOR UPDATE SKIP LOCKED"
        )
        .await,
        one("2")
    );
    assert_eq!(
        rows(
            &c,
            "SELECT k FROM q ORDER BY k LIMIT 1 FOR UPDATE SKIP LOCKED"
        )
        .await,
        one("3")
    );
    exec(&b, "ROLLBACK").await;
    // The extended protocol takes the same path.
    let e = b
        .query("SELECT v FROM q WHERE k = $1 FOR UPDATE NOWAIT", &[&1i64])
        .await
        .expect_err("NOWAIT over the extended protocol");
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE)
    );

    // lock_timeout: 55P03 for locking reads and writes alike.
    exec(&b, "SET lock_timeout = '300ms'").await;
    let start = Instant::now();
    let e = run(&b, "SELECT * FROM q WHERE k = 1 FOR UPDATE")
        .await
        .expect_err("lock timeout");
    assert_eq!(
        e,
        "55P03: canceling statement due to lock timeout on row (k)=(1) in q@q_pkey"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    let e = run(&b, "UPDATE q SET v = 0 WHERE k = 1")
        .await
        .expect_err("lock timeout of a write");
    assert!(
        e.starts_with("55P03: canceling statement due to lock timeout"),
        "{e}"
    );
    exec(&b, "SET lock_timeout = 0").await;

    // statement_timeout and cancel requests stop a wait with 57014.
    exec(&b, "SET statement_timeout = '300ms'").await;
    let e = run(&b, "SELECT * FROM q WHERE k = 1 FOR UPDATE")
        .await
        .expect_err("statement timeout");
    assert!(e.starts_with("57014"), "{e}");
    exec(&b, "SET statement_timeout = 0").await;
    let token = b.cancel_token();
    let waiting = spawn(b, "SELECT * FROM q WHERE k = 1 FOR UPDATE");
    assert_blocked(&waiting, "SELECT FOR UPDATE").await;
    token
        .cancel_query(tokio_postgres::NoTls)
        .await
        .expect("cancel");
    let (_b, r) = finish(waiting).await;
    assert!(r.expect_err("cancelled").starts_with("57014"));
    exec(&a, "COMMIT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn for_share_locks_are_shared_and_deadlocks_are_broken() {
    let cluster = cluster().await;
    let (a, b, c) = (
        client(&cluster).await,
        client(&cluster).await,
        client(&cluster).await,
    );
    exec(
        &a,
        "CREATE TABLE s (k INT PRIMARY KEY, v INT); INSERT INTO s VALUES (1, 1), (2, 2)",
    )
    .await;
    exec(&a, "BEGIN").await;
    exec(&b, "BEGIN").await;
    assert_eq!(
        rows(&a, "SELECT v FROM s WHERE k = 1 FOR SHARE").await,
        one("1")
    );
    assert_eq!(
        rows(&b, "SELECT v FROM s WHERE k = 1 FOR SHARE NOWAIT").await,
        one("1")
    );
    let e = run(&c, "SELECT v FROM s WHERE k = 1 FOR UPDATE NOWAIT")
        .await
        .expect_err("exclusive on a shared row");
    assert!(e.starts_with("55P03"), "{e}");
    // A writer waits for every shared holder.
    let upd = spawn(c, "UPDATE s SET v = 10 WHERE k = 1");
    assert_blocked(&upd, "UPDATE of a shared row").await;
    exec(&a, "COMMIT").await;
    assert_blocked(&upd, "UPDATE with one shared holder left").await;
    exec(&b, "COMMIT").await;
    let (c, r) = finish(upd).await;
    r.expect("update");

    // Two shared holders that both upgrade: one is told it deadlocked (40001), the other goes on.
    exec(&a, "BEGIN").await;
    exec(&b, "BEGIN").await;
    rows(&a, "SELECT v FROM s WHERE k = 2 FOR SHARE").await;
    rows(&b, "SELECT v FROM s WHERE k = 2 FOR SHARE").await;
    let first = spawn(a, "UPDATE s SET v = 20 WHERE k = 2");
    assert_blocked(&first, "upgrade").await;
    let e = run(&b, "UPDATE s SET v = 21 WHERE k = 2")
        .await
        .expect_err("deadlock");
    assert!(
        e.starts_with("40001: restart transaction: deadlock detected"),
        "{e}"
    );
    assert!(!e.contains("[") && !e.contains("\\x"), "raw key bytes: {e}");
    exec(&b, "ROLLBACK").await;
    let (a, r) = finish(first).await;
    r.expect("upgrade after the other gave up");
    exec(&a, "COMMIT").await;
    assert_eq!(rows(&c, "SELECT v FROM s WHERE k = 2").await, one("20"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_end_with_their_statement_transaction_or_connection() {
    let cluster = cluster().await;
    let (a, b) = (client(&cluster).await, client(&cluster).await);
    exec(
        &a,
        "CREATE TABLE r (k INT PRIMARY KEY, v INT); INSERT INTO r VALUES (1, 1)",
    )
    .await;
    // An implicit transaction's locks end with its statement.
    assert_eq!(
        rows(&a, "SELECT v FROM r WHERE k = 1 FOR UPDATE").await,
        one("1")
    );
    assert_eq!(
        rows(&b, "SELECT v FROM r WHERE k = 1 FOR UPDATE NOWAIT").await,
        one("1")
    );
    // A closed connection's locks are released.
    exec(&a, "BEGIN").await;
    rows(&a, "SELECT v FROM r WHERE k = 1 FOR UPDATE").await;
    let upd = spawn(b, "UPDATE r SET v = 2 WHERE k = 1");
    assert_blocked(&upd, "UPDATE").await;
    drop(a);
    let (b, r) = finish(upd).await;
    r.expect("update after the holder's connection closed");
    assert_eq!(rows(&b, "SELECT v FROM r").await, one("2"));

    // A transaction that read a row before another changed it fails at commit with a 40001
    // that names the key readably.
    let a = client(&cluster).await;
    exec(&a, "BEGIN").await;
    rows(&a, "SELECT v FROM r WHERE k = 1").await;
    exec(&b, "UPDATE r SET v = 3 WHERE k = 1").await;
    let e = match run(&a, "UPDATE r SET v = v + 1 WHERE k = 1").await {
        Err(e) => e,
        Ok(_) => run(&a, "COMMIT").await.expect_err("stale read"),
    };
    assert!(e.starts_with("40001"), "{e}");
    assert!(!e.contains("[") && !e.contains("\\x"), "raw key bytes: {e}");
}

/// With several nodes the lock table is each gateway node's own (see `kv::locks`): sessions on
/// one node wait for each other's locks; a session on another node does not wait, and the
/// conflict is caught at commit instead (40001), so the outcome stays serializable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_several_nodes_locks_order_the_sessions_of_one_node() {
    let cluster = TestCluster::start_nodes(
        3,
        ClusterOptions {
            insecure: true,
            ..Default::default()
        },
    )
    .await;
    let on = |i: usize| {
        let url = cluster.url_on(i, "root", None);
        async move { common::connect_url(&url).await.expect("connect") }
    };
    let (a, b, c) = (on(0).await, on(0).await, on(1).await);
    exec(
        &a,
        "CREATE TABLE m (k INT PRIMARY KEY, v INT); INSERT INTO m VALUES (1, 1)",
    )
    .await;
    exec(&a, "BEGIN").await;
    assert_eq!(
        rows(&a, "SELECT v FROM m WHERE k = 1 FOR UPDATE").await,
        one("1")
    );
    // Same node: waits.
    let same = spawn(b, "UPDATE m SET v = v * 10 WHERE k = 1");
    assert_blocked(&same, "UPDATE through the locker's node").await;
    // Another node: does not wait ...
    let other = tokio::time::timeout(T, run(&c, "UPDATE m SET v = v + 1 WHERE k = 1"))
        .await
        .expect("UPDATE through another node in time");
    other.expect("UPDATE through another node");
    // ... and the locker, which read the row before that write, cannot commit its own.
    let e = match run(&a, "UPDATE m SET v = 100 WHERE k = 1").await {
        Err(e) => {
            exec(&a, "ROLLBACK").await;
            e
        }
        Ok(_) => run(&a, "COMMIT").await.expect_err("stale read"),
    };
    assert!(e.starts_with("40001"), "{e}");
    let (_b, r) = finish(same).await;
    r.expect("update after the locker ended");
    assert_eq!(rows(&c, "SELECT v FROM m WHERE k = 1").await, one("20"));
}
