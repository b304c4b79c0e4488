//! `tandem workload init|run movr` against a real tandem node: the acceptance checks of
//! reference/movr.md §6 after init, then a short run without errors.

mod common;

use common::{ClusterOptions, TestCluster, run_tandem};

async fn one(c: &tokio_postgres::Client, sql: &str) -> String {
    let msgs = c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    msgs.into_iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movr_init_and_run_on_tandem() {
    let c = TestCluster::start(ClusterOptions {
        insecure: true,
        ..Default::default()
    })
    .await;
    let url = format!("postgresql://root@{}?sslmode=disable", c.node().sql_addr);
    let (code, out, err) = run_tandem(&["workload", "init", "movr", &url]);
    assert_eq!(code, 0, "init failed: {out}{err}\n{}", c.node().log_text());
    let db = common::connect_url(&format!(
        "postgresql://root@{}/movr?sslmode=disable",
        c.node().sql_addr
    ))
    .await
    .expect("connect");
    for (table, n) in [
        ("users", "50"),
        ("vehicles", "15"),
        ("rides", "500"),
        ("vehicle_location_histories", "1000"),
        ("promo_codes", "1000"),
        ("user_promo_codes", "5"),
    ] {
        assert_eq!(
            one(&db, &format!("SELECT count(*) FROM movr.{table}")).await,
            n,
            "{table}"
        );
    }
    assert_eq!(
        one(&db, "SELECT count(DISTINCT city) FROM movr.users").await,
        "9"
    );
    assert_eq!(one(&db, "SELECT count(*) FROM movr.rides r LEFT JOIN movr.vehicles v ON v.city = r.vehicle_city AND v.id = r.vehicle_id WHERE v.id IS NULL").await, "0");
    assert_eq!(
        one(
            &db,
            "SELECT count(*) FROM movr.rides WHERE vehicle_city <> city"
        )
        .await,
        "0"
    );
    let tables = db
        .simple_query("SHOW TABLES FROM movr")
        .await
        .expect("show tables");
    assert_eq!(
        tables
            .iter()
            .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
            .count(),
        6
    );
    let (code, out, err) = run_tandem(&[
        "workload",
        "run",
        "movr",
        "--duration=5s",
        "--concurrency=2",
        &url,
    ]);
    assert_eq!(code, 0, "run failed: {out}{err}");
    assert!(
        out.contains("readVehicles") && out.contains("__result"),
        "{out}"
    );
}
