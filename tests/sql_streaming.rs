//! Streaming execution: queries over one large table run through the pull-based operator
//! pipeline (scan, filter, projection, hash aggregation, sort / top-n, limit) without
//! materialising the table. With a `--max-sql-memory` smaller than the table, `count(*)`,
//! GROUP BY with few groups and ORDER BY ... LIMIT succeed (the materialising path fails with
//! 53200 on the same data); a full ORDER BY still fails with 53200; results equal the
//! materialising path's (the same query wrapped in a derived table, which materialises);
//! LIMIT stops the scan; a cancel request and `statement_timeout` stop every streamed
//! operator. Figures are printed (`cargo test --test sql_streaming -- --nocapture`).

mod common;

use common::{ClusterOptions, TestCluster, rows};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows in the wide table: about 15 MB as the memory account counts them.
const WIDE_ROWS: usize = 45_000;

async fn node(extra: &[&str]) -> (TestCluster, Arc<tokio_postgres::Client>) {
    let cluster = TestCluster::start(ClusterOptions {
        insecure: true,
        extra: extra.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
    .await;
    let c = cluster.connect("root", None).await.expect("connect");
    (cluster, Arc::new(c))
}

/// A node with 8 MiB of SQL memory, `wide`: WIDE_ROWS rows of 200-character strings, and
/// `tiny`: four rows, one per `wide.g` but the last.
async fn wide_node() -> (TestCluster, Arc<tokio_postgres::Client>) {
    let (cluster, c) = node(&["--max-sql-memory=8MiB"]).await;
    c.batch_execute("CREATE TABLE wide (k INT PRIMARY KEY, g INT, s STRING)")
        .await
        .expect("create");
    let step = 15_000;
    for start in (1..=WIDE_ROWS).step_by(step) {
        let end = (start + step - 1).min(WIDE_ROWS);
        c.batch_execute(&format!(
            "INSERT INTO wide SELECT i, i % 5, repeat('x', 200) FROM generate_series({start}, {end}) AS t(i)"
        ))
        .await
        .expect("load");
    }
    c.batch_execute(
        "CREATE TABLE tiny (g INT PRIMARY KEY, name STRING);
         INSERT INTO tiny SELECT i, 'g' || i::STRING FROM generate_series(0, 3) AS t(i)",
    )
    .await
    .expect("tiny");
    (cluster, c)
}

fn code(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_results_equal_the_materialising_path() {
    let (_cluster, c) = node(&[]).await;
    c.batch_execute(
        "CREATE TABLE big (k INT PRIMARY KEY, g INT, v INT, f FLOAT, s STRING, d DECIMAL, b BOOL);
         INSERT INTO big SELECT i, i % 7, CASE WHEN i % 11 = 0 THEN NULL ELSE i * 3 % 101 END,
           i::FLOAT / 8, 'n' || (i % 13)::STRING, (i % 17)::DECIMAL / 4, i % 3 = 0
           FROM generate_series(1, 5000) AS t(i);
         CREATE TABLE small (id INT PRIMARY KEY, name STRING, g INT);
         INSERT INTO small SELECT i, 'n' || i::STRING, CASE WHEN i = 4 THEN NULL ELSE i % 5 END
           FROM generate_series(0, 11) AS t(i)",
    )
    .await
    .expect("setup");
    let queries = [
        // Joins with the small table as the build side (big.g matches up to three rows).
        "SELECT big.k, small.name FROM big JOIN small ON big.g = small.g",
        "SELECT b.k, s.name, s.id FROM big AS b LEFT JOIN small AS s ON b.v = s.id AND s.name <> 'n3' WHERE b.k % 3 = 0",
        "SELECT big.k, small.id FROM big LEFT JOIN small ON big.g = small.g AND big.v > 50 WHERE small.id IS NULL OR big.k < 100",
        "SELECT s.name, count(*), sum(big.v), max(big.s) FROM big JOIN small AS s ON big.g = s.g GROUP BY s.name ORDER BY s.name",
        "SELECT big.k, small.id FROM big JOIN small ON big.v < small.id AND small.id < 3 ORDER BY big.k DESC, small.id LIMIT 50",
        "SELECT small.*, big.k FROM big JOIN small ON small.id = big.k",
        "SELECT count(*), count(small.id) FROM big LEFT JOIN small ON big.v = small.g",
        "SELECT * FROM big",
        "SELECT k, v * 2, s || 'x' FROM big WHERE v > 50 OR v IS NULL",
        "SELECT * FROM big WHERE k > 1000 AND k <= 3500 LIMIT 700 OFFSET 33",
        "SELECT count(*) FROM big",
        "SELECT count(*), count(v), sum(v), avg(v), min(s), max(d), sum(f), avg(d) FROM big",
        "SELECT stddev(v), variance(f), var_pop(d), stddev_pop(f), bool_and(b), bool_or(b), every(b) FROM big",
        "SELECT count(DISTINCT g), sum(DISTINCT v), string_agg(s, ',' ORDER BY k DESC), array_agg(v ORDER BY v DESC, k) FROM big WHERE k < 2000",
        "SELECT count(*) FILTER (WHERE b), sum(v) FILTER (WHERE g = 2) FROM big",
        "SELECT g, count(*), sum(v), max(s), avg(f) FROM big GROUP BY g",
        "SELECT g % 3 AS h, sum(k) FROM big WHERE k > 100 GROUP BY h HAVING count(*) > 10 ORDER BY sum(k) DESC",
        "SELECT s, b, min(k) FROM big GROUP BY s, b ORDER BY 3 DESC LIMIT 7 OFFSET 2",
        "SELECT sum(v) FROM big WHERE k > 10000",
        "SELECT g, count(*) FROM big WHERE k > 10000 GROUP BY g",
        "SELECT k, v, s FROM big ORDER BY v DESC NULLS LAST, s LIMIT 5 OFFSET 2",
        "SELECT k, v FROM big ORDER BY v, g DESC LIMIT 1500",
        "SELECT k, f FROM big WHERE g <> 3 ORDER BY f DESC",
        "SELECT k AS key, v FROM big ORDER BY key DESC LIMIT 3",
        "SELECT * FROM big ORDER BY s, d DESC, k LIMIT 20",
        "SELECT * FROM big LIMIT 0",
    ];
    for q in queries {
        let streamed = rows(&c, q).await;
        let materialised = rows(&c, &format!("SELECT * FROM ({q}) AS m")).await;
        assert_eq!(streamed, materialised, "{q}");
        // The extended protocol sends the streamed rows with the described types.
        let typed = c.query(q, &[]).await.unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(typed.len(), streamed.len(), "{q}");
    }
    // Errors are the materialising path's.
    let e = c
        .simple_query("SELECT v FROM big GROUP BY g")
        .await
        .expect_err("ungrouped");
    assert_eq!(code(&e), "42803");
    let e = c
        .simple_query("SELECT sum(s) FROM big")
        .await
        .expect_err("sum of strings");
    assert_eq!(code(&e), "42883");
    let e = c
        .simple_query("SELECT k / (k - 2500) FROM big ORDER BY k LIMIT 1")
        .await
        .expect_err("division by zero");
    assert_eq!(code(&e), "22012");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_and_top_n_run_within_a_small_memory_budget() {
    let (_cluster, c) = wide_node().await;
    // Materialised, the table is over the budget.
    let e = c
        .simple_query("SELECT * FROM (SELECT count(*) FROM wide) AS m")
        .await
        .expect_err("materialised count");
    assert_eq!(code(&e), "53200", "{e}");
    let n = WIDE_ROWS as i64;
    assert_eq!(
        rows(
            &c,
            "SELECT count(*), sum(k), min(s) = repeat('x', 200) FROM wide"
        )
        .await,
        vec![vec![
            n.to_string(),
            (n * (n + 1) / 2).to_string(),
            "t".into()
        ]]
    );
    let groups = rows(&c, "SELECT g, count(*) FROM wide GROUP BY g ORDER BY g").await;
    let expect: Vec<Vec<String>> = (0..5)
        .map(|g| vec![g.to_string(), (n / 5).to_string()])
        .collect();
    assert_eq!(groups, expect);
    assert_eq!(
        rows(
            &c,
            "SELECT k, length(s) FROM wide ORDER BY s, k DESC LIMIT 3 OFFSET 1"
        )
        .await,
        vec![
            vec![(n - 1).to_string(), "200".into()],
            vec![(n - 2).to_string(), "200".into()],
            vec![(n - 3).to_string(), "200".into()],
        ]
    );
    // A join with a small table streams the large one through it.
    assert_eq!(
        rows(
            &c,
            "SELECT tiny.name, count(*) FROM wide JOIN tiny ON wide.g = tiny.g GROUP BY tiny.name ORDER BY 1"
        )
        .await,
        (0..4)
            .map(|g| vec![format!("g{g}"), (n / 5).to_string()])
            .collect::<Vec<_>>()
    );
    assert_eq!(
        rows(
            &c,
            "SELECT count(*), count(t.name) FROM wide AS w LEFT JOIN tiny AS t ON w.g = t.g WHERE w.k > 10"
        )
        .await,
        vec![vec![(n - 10).to_string(), (n - 10 - (n - 10) / 5).to_string()]]
    );
    // A plain scan streams every row.
    let all = c.query("SELECT * FROM wide", &[]).await.expect("scan");
    assert_eq!(all.len(), WIDE_ROWS);
    // A full sort holds every row: over the budget.
    let e = c
        .simple_query("SELECT * FROM wide ORDER BY g, k DESC")
        .await
        .expect_err("full sort");
    assert_eq!(code(&e), "53200", "{e}");
    // The statement gave its memory back: the session goes on.
    assert_eq!(
        rows(&c, "SELECT count(*) FROM wide WHERE g = 1").await[0][0],
        "9000"
    );
}

/// Work per row that makes a scan of `wide` take a few seconds.
const HEAVY: &str = "length(repeat(s, 200)) > 0";

/// Statements over `wide` that run for seconds, one per streamed operator.
fn cases() -> Vec<(&'static str, String)> {
    vec![
        (
            "scan + count",
            format!("SELECT count(*) FROM wide WHERE {HEAVY}"),
        ),
        (
            "hash aggregation",
            format!("SELECT g, sum(k) FROM wide WHERE {HEAVY} GROUP BY g"),
        ),
        (
            "top-n sort",
            format!("SELECT k FROM wide WHERE {HEAVY} ORDER BY g, k DESC LIMIT 3"),
        ),
        (
            "hash join",
            format!("SELECT count(*) FROM wide JOIN tiny ON wide.g = tiny.g WHERE {HEAVY}"),
        ),
        (
            "full sort",
            format!("SELECT k FROM wide WHERE {HEAVY} ORDER BY g, k DESC"),
        ),
    ]
}

/// The longest a statement may take to stop after a cancel request or its timeout here (a
/// debug build on a shared machine); the printed figures are the measurement.
const BOUND: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_timeout_stop_streamed_operators() {
    let (_cluster, c) = wide_node().await;
    let mut slow = Vec::new();
    // Each case over both protocols (the extended one streams from the portal's Execute).
    for (extended, (name, sql)) in cases()
        .into_iter()
        .flat_map(|case| [(false, case.clone()), (true, case)])
    {
        let runner = c.clone();
        let q = sql.clone();
        let query = tokio::spawn(async move {
            if extended {
                runner.query(&q, &[]).await.map(|_| ())
            } else {
                runner.simple_query(&q).await.map(|_| ())
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!query.is_finished(), "{sql}: finished before the cancel");
        let sent = Instant::now();
        c.cancel_token()
            .cancel_query(tokio_postgres::NoTls)
            .await
            .expect("cancel request");
        let out = tokio::time::timeout(Duration::from_secs(60), query)
            .await
            .expect("ends")
            .expect("join");
        let took = sent.elapsed();
        let e = out.expect_err("cancelled");
        assert_eq!(code(&e), "57014", "{sql} (extended: {extended}): {e}");
        let protocol = if extended { "extended" } else { "simple" };
        println!(
            "cancel  {name:<18} {protocol:<8} stopped {:>6.1} ms after the request",
            took.as_secs_f64() * 1e3
        );
        if took > BOUND {
            slow.push(format!("cancel {name} {protocol}: {took:?}"));
        }
    }
    c.batch_execute("SET statement_timeout = '300ms'")
        .await
        .expect("set");
    for (name, sql) in cases() {
        let start = Instant::now();
        let e = c.simple_query(&sql).await.expect_err("times out");
        let took = start.elapsed();
        assert_eq!(code(&e), "57014", "{sql}: {e}");
        println!(
            "timeout {name:<18} stopped {:>6.1} ms after the timeout",
            (took.as_secs_f64() - 0.3) * 1e3
        );
        if took > BOUND + Duration::from_millis(300) {
            slow.push(format!("timeout {name}: {took:?}"));
        }
    }
    c.batch_execute("SET statement_timeout = 0")
        .await
        .expect("reset");
    // LIMIT stops the scan: five rows come back long before a full scan would end.
    let start = Instant::now();
    let five = rows(&c, &format!("SELECT k FROM wide WHERE {HEAVY} LIMIT 5")).await;
    let limited = start.elapsed();
    assert_eq!(five.len(), 5);
    let start = Instant::now();
    rows(&c, &format!("SELECT count(*) FROM wide WHERE {HEAVY}")).await;
    let full = start.elapsed();
    println!(
        "LIMIT 5 took {:.1} ms, the full scan {:.1} ms",
        limited.as_secs_f64() * 1e3,
        full.as_secs_f64() * 1e3
    );
    assert!(limited * 4 < full, "LIMIT did not stop the scan");
    // The first rows of a scan arrive before it ends.
    let start = Instant::now();
    let stream = c
        .query_raw(
            &format!("SELECT k FROM wide WHERE {HEAVY}"),
            std::iter::empty::<i32>(),
        )
        .await
        .expect("query");
    futures::pin_mut!(stream);
    use futures::StreamExt;
    let first = stream.next().await.expect("a row").expect("row");
    let first_at = start.elapsed();
    assert_eq!(first.get::<_, i64>(0), 1);
    let mut n = 1;
    while let Some(r) = stream.next().await {
        r.expect("row");
        n += 1;
    }
    let all_at = start.elapsed();
    assert_eq!(n, WIDE_ROWS);
    println!(
        "first row after {:.1} ms, all {n} after {:.1} ms",
        first_at.as_secs_f64() * 1e3,
        all_at.as_secs_f64() * 1e3
    );
    assert!(first_at * 4 < all_at, "the first row waited for the scan");
    assert!(slow.is_empty(), "slow to stop: {slow:?}");
}

/// Inside an explicit transaction queries stream too, through the transaction's snapshot: they
/// run within a budget the table exceeds, see the transaction's own earlier writes and not
/// later commits of others, and a failure while the rows are produced aborts the transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_transactions_stream_through_their_snapshot() {
    let (cluster, c) = wide_node().await;
    let other = cluster.connect("root", None).await.expect("connect");
    let n = WIDE_ROWS as i64;
    c.batch_execute("BEGIN").await.expect("begin");
    // Materialised, this count is over the budget (see above).
    assert_eq!(
        rows(&c, "SELECT count(*) FROM wide").await,
        vec![vec![n.to_string()]]
    );
    c.batch_execute("DELETE FROM wide WHERE k <= 10; INSERT INTO wide VALUES (100000, 1, 'own')")
        .await
        .expect("writes");
    assert_eq!(
        rows(&c, "SELECT count(*), min(k), max(k) FROM wide").await,
        vec![vec![(n - 9).to_string(), "11".into(), "100000".into()]]
    );
    let all = c.query("SELECT k, s FROM wide", &[]).await.expect("scan");
    assert_eq!(all.len(), WIDE_ROWS - 9);
    let last = all.last().expect("rows");
    assert_eq!(
        (last.get::<_, i64>(0), last.get::<_, String>(1)),
        (100000, "own".to_string())
    );
    assert_eq!(
        rows(&c, "SELECT k FROM wide ORDER BY s, k LIMIT 2").await,
        vec![vec!["100000".to_string()], vec!["11".to_string()]]
    );
    c.batch_execute("COMMIT").await.expect("commit");
    // Another transaction's commit after this one began is not seen.
    c.batch_execute("BEGIN").await.expect("begin");
    assert_eq!(
        rows(&c, "SELECT count(*) FROM wide").await,
        vec![vec![(n - 9).to_string()]]
    );
    other
        .batch_execute("INSERT INTO wide VALUES (100001, 1, 'other')")
        .await
        .expect("other insert");
    assert_eq!(
        rows(&c, "SELECT count(*), max(k) FROM wide").await,
        vec![vec![(n - 9).to_string(), "100000".into()]]
    );
    c.batch_execute("COMMIT").await.expect("commit");
    assert_eq!(
        rows(&c, "SELECT count(*) FROM wide WHERE k >= 100000").await,
        vec![vec!["2".to_string()]]
    );

    // An error after rows were sent aborts the transaction, over both protocols.
    for extended in [false, true] {
        c.batch_execute("BEGIN").await.expect("begin");
        let sql = "SELECT k / (k - 30000) FROM wide";
        let e = if extended {
            c.query(sql, &[])
                .await
                .map(|_| ())
                .expect_err("division by zero")
        } else {
            c.simple_query(sql)
                .await
                .map(|_| ())
                .expect_err("division by zero")
        };
        assert_eq!(code(&e), "22012", "{e}");
        let e = c.simple_query("SELECT 1").await.expect_err("aborted");
        assert_eq!(code(&e), "25P02", "extended: {extended}: {e}");
        c.batch_execute("ROLLBACK").await.expect("rollback");
    }
    assert_eq!(rows(&c, "SELECT 1").await, vec![vec!["1".to_string()]]);
}

/// A statement followed by others in the same query string does not stream: an error in its
/// rows stops the statements after it, as on the materialising path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_after_a_failing_scan_do_not_run() {
    let (_cluster, c) = node(&[]).await;
    c.batch_execute(
        "CREATE TABLE big (k INT PRIMARY KEY);
         INSERT INTO big SELECT i FROM generate_series(1, 5000) AS t(i);
         CREATE TABLE log (n INT)",
    )
    .await
    .expect("setup");
    let e = c
        .simple_query("SELECT k / (k - 3000) FROM big; INSERT INTO log VALUES (1)")
        .await
        .expect_err("division by zero");
    assert_eq!(code(&e), "22012", "{e}");
    assert_eq!(
        rows(&c, "SELECT count(*) FROM log").await,
        vec![vec!["0".to_string()]]
    );
}

/// A portal read a few rows at a time inside a transaction keeps the statement's snapshot while
/// other statements of the transaction run between its fetches (the same answer as the
/// materialising path: this guards the streamed one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_portal_keeps_its_snapshot() {
    let (cluster, _c) = wide_node().await;
    let mut c = cluster.connect("root", None).await.expect("connect");
    let tx = c.transaction().await.expect("begin");
    let portal = tx
        .bind("SELECT k FROM wide WHERE k > 43000", &[])
        .await
        .expect("bind");
    let first = tx.query_portal(&portal, 100).await.expect("fetch");
    assert_eq!(first.len(), 100);
    tx.batch_execute("DELETE FROM wide WHERE k > 44500; INSERT INTO wide VALUES (50000, 0, 'x')")
        .await
        .expect("writes between fetches");
    let mut n = first.len();
    let mut last = 0i64;
    loop {
        let more = tx.query_portal(&portal, 300).await.expect("fetch");
        if more.is_empty() {
            break;
        }
        n += more.len();
        last = more.last().map(|r| r.get(0)).unwrap_or(last);
    }
    assert_eq!((n, last), (2000, 45000));
    // Statements after it see the transaction's writes.
    let now = tx
        .query_one("SELECT count(*), max(k) FROM wide WHERE k > 43000", &[])
        .await
        .expect("count");
    assert_eq!((now.get::<_, i64>(0), now.get::<_, i64>(1)), (1501, 50000));
    tx.commit().await.expect("commit");
}
