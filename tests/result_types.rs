//! Result column types as a client sees them in RowDescription (drivers decode by these OIDs):
//! decimal literals and INT / INT are NUMERIC, sum/avg follow CockroachDB (DECIMAL over INT and
//! DECIMAL, FLOAT over FLOAT), set operations and VALUES widen INT with DECIMAL to NUMERIC, and
//! values decode with the type described.

mod common;

use common::{ClusterOptions, TestCluster};
use tokio_postgres::types::Type;

async fn described(c: &tokio_postgres::Client, sql: &str) -> Vec<Type> {
    let stmt = c
        .prepare(sql)
        .await
        .unwrap_or_else(|e| panic!("prepare {sql}: {e}"));
    stmt.columns().iter().map(|c| c.type_().clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_results_are_described_with_cockroachdb_types() {
    let cluster = TestCluster::start(ClusterOptions {
        insecure: true,
        ..Default::default()
    })
    .await;
    let c = cluster.connect("root", None).await.expect("connect");
    c.batch_execute(
        "CREATE TABLE n (k INT PRIMARY KEY, i INT, f FLOAT, d DECIMAL);
         INSERT INTO n VALUES (1, 1, 0.5, 1.5), (2, 2, 1.5, 2.5)",
    )
    .await
    .expect("setup");
    let cases: &[(&str, &[Type])] = &[
        (
            "SELECT 0.1, 1e3, 1",
            &[Type::NUMERIC, Type::NUMERIC, Type::INT8],
        ),
        (
            "SELECT 1 / 2, i / 2, f / 2 FROM n",
            &[Type::NUMERIC, Type::NUMERIC, Type::FLOAT8],
        ),
        (
            "SELECT sum(i), avg(i), sum(f), avg(f), sum(d), avg(d) FROM n",
            &[
                Type::NUMERIC,
                Type::NUMERIC,
                Type::FLOAT8,
                Type::FLOAT8,
                Type::NUMERIC,
                Type::NUMERIC,
            ],
        ),
        ("SELECT i FROM n UNION SELECT 1.5", &[Type::NUMERIC]),
        // A scalar subquery that finds no row is a NULL of its column's type.
        (
            "SELECT (SELECT max(k) FROM n WHERE false), (SELECT d FROM n WHERE false), \
             (SELECT 1.5 FROM n WHERE false)",
            &[Type::INT8, Type::NUMERIC, Type::NUMERIC],
        ),
        (
            "SELECT * FROM (VALUES (1), (2.5)) AS v(x)",
            &[Type::NUMERIC],
        ),
        (
            "SELECT lag(k) OVER (ORDER BY k), row_number() OVER (), lead(f) OVER () FROM n",
            &[Type::INT8, Type::INT8, Type::FLOAT8],
        ),
        // A qualified column of an empty result is typed by that column, not by the first column
        // of the same name (d3.x0 is DECIMAL).
        (
            "SELECT NULLIF(d5.x0, d5.x0) - 1, d3.x0 FROM (SELECT 1.5 AS x0) AS d3 LEFT JOIN (SELECT k AS x0 FROM n WHERE false) AS d5 ON true",
            &[Type::INT8, Type::NUMERIC],
        ),
        // lag/lead with a default: the value's and the default's common type (not the offset's).
        (
            "SELECT lead(k::STRING, 2, 'x') OVER (ORDER BY k), lag(k, 1, 1.5) OVER () FROM n",
            &[Type::TEXT, Type::NUMERIC],
        ),
        (
            "SELECT CASE WHEN k > 1 THEN 1 ELSE 1.5 END FROM n",
            &[Type::NUMERIC],
        ),
        (
            "SELECT ts + INTERVAL '1 day', INTERVAL '1 hour' FROM (SELECT NULL::TIMESTAMP AS ts) AS s",
            &[Type::TIMESTAMP, Type::INTERVAL],
        ),
        // A correlated subquery that finds no row for any outer row, and IS [NOT] TRUE/UNKNOWN.
        (
            "SELECT (SELECT n2.d * 2 FROM n AS n2 WHERE n2.k = n.i + 10), \
             (SELECT n2.k FROM n AS n2 WHERE n2.k = n.k + 10), \
             NULL IS NOT TRUE, (k > 1) IS UNKNOWN, 'a' ~ 'b' FROM n",
            &[
                Type::NUMERIC,
                Type::INT8,
                Type::BOOL,
                Type::BOOL,
                Type::BOOL,
            ],
        ),
        // A window over a subquery, in a select item that a correlated subquery elsewhere makes
        // run per row: an uncorrelated one is a value (was 0A000), a correlated one keeps its
        // type (was TEXT, and FLOAT8 once added to an INT).
        (
            "SELECT CASE WHEN (SELECT n2.k > 0 FROM n AS n2 WHERE n2.k = n.k) \
             THEN last_value((SELECT 1.5)) OVER (ORDER BY k) END, \
             CASE WHEN (SELECT n2.k > 0 FROM n AS n2 WHERE n2.k = n.k) \
             THEN k + last_value((SELECT min(n3.d) FROM n AS n3 WHERE n.k > 1)) OVER () END, \
             CASE WHEN (SELECT n2.k > 0 FROM n AS n2 WHERE n2.k = n.k) \
             THEN last_value((SELECT min(n3.d) FROM n AS n3 WHERE n.k > 1)) OVER () END FROM n",
            &[Type::NUMERIC, Type::NUMERIC, Type::NUMERIC],
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(&described(&c, sql).await, want, "{sql}");
        // The rows decode with the described types (binary results through the driver).
        let rows = c
            .query(*sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(!rows.is_empty(), "{sql}");
    }
    // Describing runs the query over no rows, where an aggregate without GROUP BY still makes
    // a row: a constant the stored rows never reach that fails there (a quotient with more
    // digits than DECIMAL holds) does not fail the Describe of a query that runs fine.
    let sql = "SELECT 6 / NULLIF(-99999999999, 0) FROM (SELECT count(*) AS c FROM n) AS d \
               WHERE d.c = 0";
    assert_eq!(described(&c, sql).await, [Type::NUMERIC], "{sql}");
    assert!(c.query(sql, &[]).await.expect(sql).is_empty());
    let row = c
        .query_one("SELECT sum(i), avg(i) FROM n", &[])
        .await
        .expect("sum");
    let sum: rust_decimal::Decimal = row.get(0);
    let avg: rust_decimal::Decimal = row.get(1);
    assert_eq!(sum.to_string(), "3");
    assert_eq!(avg.to_string(), "1.5");
}

/// Output column names as PostgreSQL and CockroachDB derive them: a scalar subquery is named
/// after its one select item, RETURNING items like select items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_names_follow_postgresql_rules() {
    let cluster = TestCluster::start(ClusterOptions {
        insecure: true,
        ..Default::default()
    })
    .await;
    let c = cluster.connect("root", None).await.expect("connect");
    c.batch_execute("CREATE TABLE cn (k INT PRIMARY KEY, s STRING)")
        .await
        .expect("setup");
    let cases: &[(&str, &[&str])] = &[
        (
            "SELECT (SELECT count(*) FROM cn), (SELECT max(k) AS top FROM cn), (SELECT 1), \
             (SELECT cn.s FROM cn LIMIT 1), ((SELECT k FROM cn LIMIT 1))",
            &["count", "top", "?column?", "s", "k"],
        ),
        (
            "SELECT (SELECT max(x.k) FROM cn AS x WHERE x.s = cn.s), count(*) FROM cn GROUP BY 1",
            &["max", "count"],
        ),
        (
            "INSERT INTO cn VALUES (1, 'a') RETURNING cn.k, upper(s), k + 1, s AS t",
            &["k", "upper", "?column?", "t"],
        ),
    ];
    for (sql, want) in cases {
        let stmt = c
            .prepare(sql)
            .await
            .unwrap_or_else(|e| panic!("prepare {sql}: {e}"));
        let got: Vec<&str> = stmt.columns().iter().map(|c| c.name()).collect();
        assert_eq!(&got, want, "{sql}");
    }
}
