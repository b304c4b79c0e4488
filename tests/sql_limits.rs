//! Statements that nest deeply, against a real node over both query protocols: each either
//! runs (PostgreSQL's answer) or fails with SQLSTATE 54001 `statement is too complex`, and the
//! node answers afterwards. Before the depth limit and the sized stacks
//! (`src/sql/parser/limits.rs`), a 100-term `SELECT 1+1+...` overflowed a worker thread's stack
//! and killed the process.

mod common;

use std::time::Duration;

use common::{ClusterOptions, TestCluster, connect_url};
use tokio_postgres::Client;

const T: Duration = Duration::from_secs(120);

/// What a statement must do.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// Run, answering this (the first column of the first row, as text).
    Value(&'static str),
    /// Fail with this SQLSTATE.
    Code(&'static str),
    /// Fail with one of these SQLSTATEs.
    OneOf(&'static [&'static str]),
}

async fn node() -> (TestCluster, String) {
    let cluster = TestCluster::start(ClusterOptions {
        insecure: true,
        ..Default::default()
    })
    .await;
    let url = cluster.url("root", None);
    (cluster, url)
}

/// The first column of the first row, or the SQLSTATE of the error.
async fn simple(c: &Client, sql: &str) -> Result<String, String> {
    let msgs = tokio::time::timeout(T, c.simple_query(sql))
        .await
        .unwrap_or_else(|_| panic!("timed out: {}", head(sql)));
    match msgs {
        Ok(msgs) => Ok(msgs
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some(r.get(0).unwrap_or("NULL").to_string())
                }
                _ => None,
            })
            .unwrap_or_default()),
        Err(e) => Err(code(&e, sql)),
    }
}

fn code(e: &tokio_postgres::Error, sql: &str) -> String {
    match e.as_db_error() {
        Some(db) => db.code().code().to_string(),
        None => panic!("{}: not a server error (did the node die?): {e}", head(sql)),
    }
}

fn head(sql: &str) -> String {
    sql.chars().take(80).collect::<String>() + if sql.len() > 80 { "..." } else { "" }
}

fn check(sql: &str, got: Result<String, String>, want: Want) {
    match (want, got) {
        (Want::Value(v), Ok(g)) => assert_eq!(g, v, "{}", head(sql)),
        (Want::Code(c), Err(g)) => assert_eq!(g, c, "{}", head(sql)),
        (Want::OneOf(cs), Err(g)) => assert!(cs.contains(&g.as_str()), "{}: {g}", head(sql)),
        (w, g) => panic!("{}: wanted {w:?}, got {g:?}", head(sql)),
    }
}

fn sum(n: usize) -> String {
    format!("SELECT 1{}", "+1".repeat(n - 1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_statements_run_or_fail_with_54001_and_the_node_survives() {
    let (cluster, url) = node().await;
    let c = connect_url(&url).await.expect("connect");
    simple(&c, "CREATE TABLE t (a INT PRIMARY KEY)")
        .await
        .unwrap();
    simple(&c, "INSERT INTO t VALUES (1), (2), (3)")
        .await
        .unwrap();

    let or_chain = |n: usize| {
        let terms: Vec<String> = (0..n).map(|i| format!("a = {}", i + 3)).collect();
        format!("SELECT count(*) FROM t WHERE {}", terms.join(" OR "))
    };
    let cases: Vec<(String, Want)> = vec![
        (sum(300), Want::Value("300")),
        (sum(1000), Want::Value("1000")),
        (sum(10_000), Want::Code("54001")),
        (sum(100_000), Want::Code("54001")),
        // A syntax error after a long chain: the partial tree is dropped safely.
        (sum(100_000) + " +", Want::Code("42601")),
        (sum(1000) + " +", Want::Code("42601")),
        (
            format!("SELECT {}1{}", "(".repeat(100), ")".repeat(100)),
            Want::Value("1"),
        ),
        (
            format!("SELECT {}1{}", "(".repeat(1000), ")".repeat(1000)),
            Want::Code("54001"),
        ),
        (
            format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000)),
            Want::Code("54001"),
        ),
        (
            format!("SELECT {}1{}", "(SELECT ".repeat(30), ")".repeat(30)),
            Want::Value("1"),
        ),
        (
            format!("SELECT {}1{}", "(SELECT ".repeat(1000), ")".repeat(1000)),
            Want::Code("54001"),
        ),
        (
            format!(
                "SELECT {}1{}",
                "CASE WHEN true THEN ".repeat(100),
                " ELSE 0 END".repeat(100)
            ),
            Want::Value("1"),
        ),
        (
            format!(
                "SELECT {}1{}",
                "CASE WHEN true THEN ".repeat(10_000),
                " ELSE 0 END".repeat(10_000)
            ),
            // sqlparser tries a CASE operand first and reports the failed alternative.
            Want::OneOf(&["54001", "42601"]),
        ),
        (
            format!("SELECT {}1{}", "abs(".repeat(200), ")".repeat(200)),
            Want::Value("1"),
        ),
        (or_chain(300), Want::Value("1")),
        (or_chain(1000), Want::Value("1")),
        (or_chain(10_000), Want::Code("54001")),
        (
            format!("SELECT 1{}", "::INT8".repeat(1000)),
            Want::Value("1"),
        ),
        (
            format!("SELECT 1{}", "::INT8".repeat(100_000)),
            Want::Code("54001"),
        ),
        (
            format!("SELECT NULL::INT{}", "[]".repeat(100_000)),
            Want::Code("54001"),
        ),
        (
            format!(
                "SELECT count(*) FROM ({}) AS u",
                vec!["SELECT 1"; 500].join(" UNION ALL ")
            ),
            Want::Value("500"),
        ),
        (
            vec!["SELECT 1"; 100_000].join(" UNION ALL "),
            Want::Code("54001"),
        ),
        (
            format!("SELECT {}true", "NOT ".repeat(100)),
            Want::Value("t"),
        ),
        (
            format!("SELECT {}true", "NOT ".repeat(100_000)),
            Want::OneOf(&["54001", "42601"]),
        ),
        (
            format!("SELECT {}1", "- ".repeat(100_000)),
            Want::OneOf(&["54001", "42601"]),
        ),
        (
            format!("SELECT {}1{}", "ARRAY[".repeat(10_000), "]".repeat(10_000)),
            Want::Code("54001"),
        ),
        (
            format!("{}SELECT 1", "EXPLAIN ".repeat(10_000)),
            Want::Code("54001"),
        ),
        (
            format!("{}SELECT 1", "PREPARE p AS ".repeat(10_000)),
            Want::Code("54001"),
        ),
    ];
    for (sql, want) in &cases {
        let got = simple(&c, sql).await;
        check(sql, got, *want);
    }

    // The extended protocol: Parse (describe included), Bind, Execute.
    for (n, want) in [
        (300usize, Want::Value("300")),
        (1000, Want::Value("1000")),
        (10_000, Want::Code("54001")),
        (100_000, Want::Code("54001")),
    ] {
        let terms: Vec<String> = (1..=n).map(|i| format!("${i}::INT8")).collect();
        let sql = format!("SELECT {}", terms.join(" + "));
        let got = match tokio::time::timeout(T, c.prepare(&sql))
            .await
            .expect("prepare")
        {
            Err(e) => Err(code(&e, &sql)),
            Ok(stmt) => {
                let ones = vec![1i64; n];
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = ones
                    .iter()
                    .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                match tokio::time::timeout(T, c.query_one(&stmt, &params))
                    .await
                    .expect("execute")
                {
                    Ok(row) => Ok(row.get::<_, i64>(0).to_string()),
                    Err(e) => Err(code(&e, &sql)),
                }
            }
        };
        check(&sql, got, want);
    }
    for (sql, want) in &cases[..4] {
        let got = match c.prepare(sql).await {
            Err(e) => Err(code(&e, sql)),
            Ok(stmt) => match c.query_one(&stmt, &[]).await {
                Ok(row) => Ok(row.get::<_, i64>(0).to_string()),
                Err(e) => Err(code(&e, sql)),
            },
        };
        check(sql, got, *want);
    }

    // The node is still up, and the same connection still works.
    assert_eq!(simple(&c, "SELECT 41 + 1").await.unwrap(), "42");
    let fresh = connect_url(&url)
        .await
        .expect("connect after the deep statements");
    assert_eq!(simple(&fresh, "SELECT count(*) FROM t").await.unwrap(), "3");
    drop(cluster);
}
