//! Isolation levels weaker than SERIALIZABLE, against a real node: accepted, run SERIALIZABLE,
//! and the client is told with a NOTICE (over the simple and the extended protocol). The rest
//! of the transaction-mode rules are in `tests/slt/txn_modes.slt`.

mod common;

use std::time::Duration;

use common::{ClusterOptions, TestCluster};

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weaker_isolation_levels_are_upgraded_with_a_notice() {
    let cluster = TestCluster::start(ClusterOptions {
        insecure: true,
        ..Default::default()
    })
    .await;
    let url = tandem::client::ConnUrl::parse(&cluster.url("root", None)).expect("url");
    let (c, mut info) = tokio::time::timeout(T, tandem::client::connect(&url))
        .await
        .expect("connect in time")
        .expect("connect");
    let mut next_notice = async || {
        tokio::time::timeout(T, info.notices.recv())
            .await
            .expect("a notice in time")
            .expect("connection open")
            .message()
            .to_string()
    };

    c.simple_query("BEGIN TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .await
        .expect("begin");
    assert_eq!(
        next_notice().await,
        "READ COMMITTED isolation level is not supported; upgrading to SERIALIZABLE"
    );
    let level = c
        .query_one("SHOW transaction_isolation", &[])
        .await
        .expect("show");
    assert_eq!(level.get::<_, String>(0), "serializable");
    c.simple_query("COMMIT").await.expect("commit");

    // Extended protocol.
    c.execute("BEGIN", &[]).await.expect("begin");
    c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", &[])
        .await
        .expect("set transaction");
    assert_eq!(
        next_notice().await,
        "REPEATABLE READ isolation level is not supported; upgrading to SERIALIZABLE"
    );
    c.execute("COMMIT", &[]).await.expect("commit");

    c.simple_query("SET default_transaction_isolation = 'read uncommitted'")
        .await
        .expect("set");
    assert_eq!(
        next_notice().await,
        "READ COMMITTED isolation level is not supported; upgrading to SERIALIZABLE"
    );
    // SERIALIZABLE itself is no upgrade: no notice, and the next one is the next upgrade's.
    c.simple_query("BEGIN ISOLATION LEVEL SERIALIZABLE; COMMIT")
        .await
        .expect("serializable");
    c.simple_query("BEGIN ISOLATION LEVEL SNAPSHOT; COMMIT")
        .await
        .expect("snapshot");
    assert_eq!(
        next_notice().await,
        "REPEATABLE READ isolation level is not supported; upgrading to SERIALIZABLE"
    );
}
