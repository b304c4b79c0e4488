//! Row locks between concurrent transactions, against a real node: `SELECT ... FOR UPDATE`
//! makes writers and other lockers wait (and then see the holder's writes), `FOR SHARE` locks
//! are shared, `NOWAIT` / `SKIP LOCKED` / `lock_timeout` / `statement_timeout` / cancel end a
//! wait, and locks end with the transaction, the implicit transaction or the connection; on three
//! nodes, sessions on every node wait for each other's locks (held by each range's
//! leaseholder), and deadlocks through locks on several nodes are broken. Single-session
//! semantics are in `tests/slt/locking.slt`.

mod common;

use std::time::{Duration, Instant};

use common::{ClusterOptions, TestCluster, rows, succeeds_soon};
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
    spawn_sql(c, sql.to_string())
}

fn spawn_sql(c: Client, sql: String) -> JoinHandle<(Client, Outcome)> {
    tokio::spawn(async move {
        let r = run(&c, &sql).await;
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

/// A three-node cluster whose table `m` (k 1..=6, v = k) has one range per row, fully
/// replicated, with the leases spread over the nodes and no longer moving (locks live with the
/// leases). Returns the cluster and how many leases there are.
async fn three_nodes() -> (TestCluster, u64) {
    let cluster = TestCluster::start_nodes(
        3,
        ClusterOptions {
            insecure: true,
            ..Default::default()
        },
    )
    .await;
    let c = common::connect_url(&cluster.url_on(0, "root", None))
        .await
        .expect("connect");
    exec(
        &c,
        "CREATE TABLE m (k INT PRIMARY KEY, v INT);
         INSERT INTO m VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6);
         ALTER TABLE m SPLIT AT VALUES (2), (3), (4), (5), (6)",
    )
    .await;
    cluster.wait_fully_replicated().await;
    // Lease rebalancing (every 3 s) moves nothing once the counts differ by at most one.
    let host = cluster.nodes[0].listen_addr.clone();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut stable: Option<(Instant, Vec<u64>)> = None;
    loop {
        let (_, out, _) = cluster.tool(&["node", "status", &format!("--host={host}")]);
        let leases: Vec<u64> = out
            .lines()
            .skip(2)
            .filter(|l| l.contains('|'))
            .map(|l| {
                l.split('|')
                    .nth(8)
                    .map_or(0, |x| x.trim().parse().unwrap_or(0))
            })
            .collect();
        let (min, max) = (leases.iter().min(), leases.iter().max());
        let balanced = leases.len() == 3 && min.zip(max).is_some_and(|(a, b)| b - a <= 1);
        match &stable {
            Some((since, l)) if balanced && *l == leases => {
                if since.elapsed() >= Duration::from_secs(4) {
                    eprintln!("leases per node: {leases:?}");
                    return (cluster, leases.iter().sum());
                }
            }
            _ => stable = balanced.then(|| (Instant::now(), leases.clone())),
        }
        assert!(Instant::now() < deadline, "leases not balanced: {out}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn col(v: &[&str]) -> Vec<Vec<String>> {
    v.iter().map(|x| vec![x.to_string()]).collect()
}

/// Row locks are taken at each range's leaseholder, whatever node the session is on: a lock
/// taken through one node makes writers and lockers through the others wait, NOWAIT fail and
/// SKIP LOCKED skip; a cancelled remote waiter leaves the queue, a closed connection's locks
/// are released at once, and a cycle of waits through locks on several nodes is broken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_order_sessions_on_every_node() {
    let (cluster, leases) = three_nodes().await;
    let on = |i: usize| {
        let url = cluster.url_on(i % 3, "root", None);
        async move { common::connect_url(&url).await.expect("connect") }
    };
    // Every pair of gateways (so the holder, the waiter or both are not the leaseholder): the
    // UPDATE waits until the holder commits, then applies on top of its write.
    for i in 0..3 {
        let k = i + 1;
        let (a, b) = (on(i).await, on(i + 1).await);
        exec(&a, "BEGIN").await;
        let locked = rows(&a, &format!("SELECT v FROM m WHERE k = {k} FOR UPDATE")).await;
        assert_eq!(locked, one(&k.to_string()));
        let upd = spawn_sql(b, format!("UPDATE m SET v = v * 10 WHERE k = {k}"));
        assert_blocked(&upd, &format!("UPDATE through n{}", (i + 1) % 3 + 1)).await;
        exec(
            &a,
            &format!("UPDATE m SET v = 100 + k WHERE k = {k}; COMMIT"),
        )
        .await;
        let (_b, r) = finish(upd).await;
        r.expect("update after the holder committed");
        let v = rows(&on(i + 2).await, &format!("SELECT v FROM m WHERE k = {k}")).await;
        assert_eq!(v, one(&((100 + k) * 10).to_string()));
    }

    // NOWAIT fails, SKIP LOCKED skips the row and lock_timeout ends a wait, through the other
    // nodes.
    let a = on(0).await;
    exec(&a, "BEGIN").await;
    rows(&a, "SELECT v FROM m WHERE k = 2 FOR UPDATE").await;
    for i in 1..3 {
        let b = on(i).await;
        let e = run(&b, "SELECT v FROM m WHERE k = 2 FOR UPDATE NOWAIT")
            .await
            .expect_err("NOWAIT on a locked row");
        assert_eq!(e, "55P03: could not obtain lock on row (k)=(2) in m@m_pkey");
        let skipped = "SELECT k FROM m WHERE k IN (1, 2, 3) ORDER BY k FOR UPDATE SKIP LOCKED";
        assert_eq!(rows(&b, skipped).await, col(&["1", "3"]));
        exec(&b, "SET lock_timeout = '200ms'").await;
        let e = run(&b, "SELECT v FROM m WHERE k = 2 FOR UPDATE")
            .await
            .expect_err("lock timeout");
        assert_eq!(
            e,
            "55P03: canceling statement due to lock timeout on row (k)=(2) in m@m_pkey"
        );
    }

    // Cancelled waiters leave the leaseholder's queue: once the holder commits, the row is
    // free, although the waiters' transactions are still open.
    let mut open = Vec::new();
    for i in 0..3 {
        let b = on(i).await;
        exec(&b, "BEGIN").await;
        let token = b.cancel_token();
        let waiting = spawn(b, "SELECT v FROM m WHERE k = 2 FOR UPDATE");
        assert_blocked(&waiting, "SELECT FOR UPDATE").await;
        token
            .cancel_query(tokio_postgres::NoTls)
            .await
            .expect("cancel");
        let (b, r) = finish(waiting).await;
        let e = r.expect_err("cancelled");
        assert!(e.starts_with("57014"), "{e}");
        open.push(b);
    }
    exec(&a, "COMMIT").await;
    let d = on(1).await;
    let v = rows(&d, "SELECT v FROM m WHERE k = 2 FOR UPDATE NOWAIT").await;
    assert_eq!(v, one("1020"));
    for b in &open {
        exec(b, "ROLLBACK").await;
    }

    // A connection closed while holding locks releases them on the leaseholder at once (well
    // before its heartbeats would expire them).
    for i in 0..3 {
        let a = on(i).await;
        exec(&a, "BEGIN").await;
        rows(&a, "SELECT v FROM m WHERE k = 4 FOR UPDATE").await;
        let b = on(i + 1).await;
        let e = run(&b, "SELECT v FROM m WHERE k = 4 FOR UPDATE NOWAIT")
            .await
            .expect_err("held through another node");
        assert!(e.starts_with("55P03"), "{e}");
        drop(a);
        let b = &b;
        succeeds_soon("the lock released", Duration::from_secs(3), || async move {
            run(b, "SELECT v FROM m WHERE k = 4 FOR UPDATE NOWAIT")
                .await
                .ok()
        })
        .await;
    }

    deadlock_across_nodes(&cluster, leases).await;
}

/// Six transactions through the three nodes each lock one row of `m`, then ask for the next
/// one's (the sixth for the first's): exactly one gives up with 40001, and the others finish
/// once it has. The six ranges' leases are not all on one node (balanced leases, fewer than
/// 16), so no node's table sees the whole cycle.
async fn deadlock_across_nodes(cluster: &TestCluster, leases: u64) {
    assert!(
        leases < 16,
        "{leases} leases: the rows may share a leaseholder"
    );
    let mut waits = Vec::new();
    for i in 0..6 {
        let c = common::connect_url(&cluster.url_on(i % 3, "root", None))
            .await
            .expect("connect");
        exec(&c, "BEGIN").await;
        rows(
            &c,
            &format!("SELECT v FROM m WHERE k = {} FOR UPDATE", i + 1),
        )
        .await;
        waits.push(c);
    }
    let started = Instant::now();
    let mut waits: Vec<Option<JoinHandle<(Client, Outcome)>>> = waits
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let next = (i + 1) % 6 + 1;
            Some(spawn_sql(
                c,
                format!("SELECT k FROM m WHERE k = {next} FOR UPDATE"),
            ))
        })
        .collect();
    let (mut done, mut deadlocked) = (0, 0);
    while waits.iter().any(Option::is_some) {
        assert!(started.elapsed() < T, "the cycle was not broken");
        for w in waits.iter_mut() {
            if !w.as_ref().is_some_and(|h| h.is_finished()) {
                continue;
            }
            let Some(h) = w.take() else { continue };
            let (c, r) = finish(h).await;
            match r {
                Ok(_) => {
                    exec(&c, "COMMIT").await;
                    done += 1;
                }
                Err(e) => {
                    assert!(e.starts_with("40001") && e.contains("deadlock"), "{e}");
                    eprintln!("deadlock broken after {:?}", started.elapsed());
                    exec(&c, "ROLLBACK").await;
                    deadlocked += 1;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!((done, deadlocked), (5, 1));
}
