//! Cancellation reaches every operator: a pgwire cancel request and `statement_timeout` stop a
//! long statement whichever operator is running (set-returning function, nested-loop and hash
//! joins, grouping, sort, window, DISTINCT, a correlated subquery), with 57014, and the session
//! stays usable. Each case prints how long the statement took to stop after the request
//! (`cargo test --test sql_cancel -- --nocapture`); the assertion bound is generous because this
//! machine is shared and noisy; the figures are the measurement.

mod common;

use common::{ClusterOptions, TestCluster};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Statements that run for many seconds, one per operator kind.
const CASES: &[(&str, &str)] = &[
    (
        "generate_series + count",
        "SELECT count(*) FROM generate_series(1, 300000000)",
    ),
    ("nested-loop join", "SELECT count(*) FROM n a, n b, n c"),
    (
        "hash join",
        "SELECT count(*) FROM n a JOIN n b ON a.i % 7 = b.i % 7 JOIN n c ON b.i % 5 = c.i % 5",
    ),
    (
        "group by",
        "SELECT a.i % 97, count(*) FROM n a, n b, n c GROUP BY 1",
    ),
    (
        "sort",
        "SELECT a.i, b.i, c.i FROM n a, n b, n c ORDER BY a.i * b.i - c.i LIMIT 1",
    ),
    (
        "window",
        "SELECT max(r) FROM (SELECT row_number() OVER (ORDER BY a.i - b.i) AS r FROM n a, n b, n c) AS w",
    ),
    (
        "distinct",
        "SELECT count(*) FROM (SELECT DISTINCT a.i * 1000000 + b.i * 1000 + c.i FROM n a, n b, n c) AS d",
    ),
    (
        "correlated subquery",
        "SELECT count(*) FROM n a, n b WHERE a.i < (SELECT count(*) FROM n c WHERE c.i <= a.i + b.i)",
    ),
];

/// The longest a statement may take to stop after a cancel request in this test.
const BOUND: Duration = Duration::from_secs(3);

async fn setup() -> (TestCluster, Arc<tokio_postgres::Client>) {
    let cluster = TestCluster::start(ClusterOptions {
        insecure: true,
        ..Default::default()
    })
    .await;
    let c = cluster.connect("root", None).await.expect("connect");
    c.batch_execute(
        "CREATE TABLE n (i INT PRIMARY KEY);
         INSERT INTO n SELECT generate_series(1, 400)",
    )
    .await
    .expect("setup");
    (cluster, Arc::new(c))
}

/// Runs `sql`, sends one cancel request after `after`, and returns how long the statement
/// took to end after the request.
async fn cancel_after(c: &Arc<tokio_postgres::Client>, sql: &str, after: Duration) -> Duration {
    let runner = c.clone();
    let sql_owned = sql.to_string();
    let query = tokio::spawn(async move { runner.simple_query(&sql_owned).await });
    tokio::time::sleep(after).await;
    assert!(!query.is_finished(), "{sql}: finished before the cancel");
    let sent = Instant::now();
    c.cancel_token()
        .cancel_query(tokio_postgres::NoTls)
        .await
        .expect("cancel request");
    let out = tokio::time::timeout(Duration::from_secs(60), query)
        .await
        .unwrap_or_else(|_| panic!("{sql}: not cancelled within 60 s"))
        .expect("join");
    let took = sent.elapsed();
    let err = out.expect_err("the statement must be cancelled");
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{sql}: {err}");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_stops_every_operator() {
    let (_cluster, c) = setup().await;
    let mut slow = Vec::new();
    for (name, sql) in CASES {
        // The series is materialised (its rows charged to --max-sql-memory): cancel it early,
        // before it can reach the budget.
        let after = if sql.contains("generate_series") {
            250
        } else {
            700
        };
        let took = cancel_after(&c, sql, Duration::from_millis(after)).await;
        println!(
            "cancel {name:<24} stopped {:>6.1} ms after the request",
            took.as_secs_f64() * 1e3
        );
        if took > BOUND {
            slow.push(format!("{name}: {took:?}"));
        }
        // The session is usable afterwards.
        let row = c
            .query_one("SELECT count(*) FROM n", &[])
            .await
            .expect("count");
        assert_eq!(row.get::<_, i64>(0), 400);
    }
    assert!(slow.is_empty(), "slow to cancel: {slow:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_stops_every_operator() {
    let (_cluster, c) = setup().await;
    c.batch_execute("SET statement_timeout = '400ms'")
        .await
        .expect("set");
    let mut slow = Vec::new();
    for (name, sql) in CASES {
        let start = Instant::now();
        let err = c
            .simple_query(sql)
            .await
            .expect_err("the statement must time out");
        let took = start.elapsed();
        assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{sql}: {err}");
        println!(
            "timeout {name:<24} stopped {:>6.1} ms after start (timeout 400 ms)",
            took.as_secs_f64() * 1e3
        );
        if took > BOUND + Duration::from_millis(400) {
            slow.push(format!("{name}: {took:?}"));
        }
    }
    assert!(slow.is_empty(), "slow to time out: {slow:?}");
}
