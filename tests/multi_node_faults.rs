//! Three-node clusters under faults: `kill -9` of a random node while a bank workload runs
//! (the total never changes, every acknowledged write survives, the other two nodes keep
//! serving), a minority cut off from the others refuses writes, and a node that was down
//! through many writes catches up from a raft snapshot.

mod common;

use common::replication::{kill_hard, restart_same_ports};
use common::{ClusterOptions, TestCluster, connect_url, rows, succeeds_soon};
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

const ACCOUNTS: i64 = 10;
const INITIAL: i64 = 100;

/// One transfer and one insert of `id`, through `db`, within a deadline. `Ok(true)` when both
/// were acknowledged.
async fn work(db: &tokio_postgres::Client, rng: &mut rand::rngs::StdRng, id: i64) -> bool {
    let from = rng.random_range(0..ACCOUNTS);
    let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
    let amount = rng.random_range(1..10);
    let sql = format!(
        "BEGIN; UPDATE bank SET bal = bal - {amount} WHERE id = {from}; \
         UPDATE bank SET bal = bal + {amount} WHERE id = {to}; INSERT INTO acked VALUES ({id}); COMMIT"
    );
    let r = tokio::time::timeout(Duration::from_secs(15), db.batch_execute(&sql)).await;
    let ok = matches!(r, Ok(Ok(())));
    if !ok {
        if std::env::var_os("FAULTS_DEBUG").is_some() {
            let msg = match &r {
                Ok(Err(e)) => e
                    .as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_string()),
                _ => "timed out".into(),
            };
            eprintln!("write {id} failed: {msg}");
        }
        // A failed statement leaves the session in an aborted transaction.
        let _ = tokio::time::timeout(Duration::from_secs(5), db.batch_execute("ROLLBACK")).await;
    }
    ok
}

async fn kill_rounds(rounds: usize, seed: u64) {
    let mut c = TestCluster::start_nodes(3, ClusterOptions::default()).await;
    c.wait_fully_replicated().await;
    let setup = connect_url(&c.url_on(0, "root", None)).await.expect("n1");
    rows(&setup, "CREATE TABLE bank (id INT PRIMARY KEY, bal INT)").await;
    rows(&setup, "CREATE TABLE acked (id INT PRIMARY KEY)").await;
    let values: Vec<String> = (0..ACCOUNTS).map(|i| format!("({i}, {INITIAL})")).collect();
    rows(
        &setup,
        &format!("INSERT INTO bank VALUES {}", values.join(", ")),
    )
    .await;
    drop(setup);

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut acked: Vec<i64> = Vec::new();
    let mut next_id = 0i64;
    for round in 0..rounds {
        let victim = rng.random_range(0..3usize);
        let survivors: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
        let mut clients = Vec::new();
        for i in 0..3 {
            clients.push(connect_url(&c.url_on(i, "root", None)).await.ok());
        }
        // Writes through every node, then the victim dies mid-stream.
        for _ in 0..5 {
            let n = rng.random_range(0..3usize);
            if let Some(db) = &clients[n] {
                next_id += 1;
                if work(db, &mut rng, next_id).await {
                    acked.push(next_id);
                }
            }
        }
        kill_hard(&mut c.nodes[victim]);
        clients[victim] = None;
        // The other two serve writes again within a few seconds.
        let killed_at = Instant::now();
        let mut served = false;
        while killed_at.elapsed() < Duration::from_secs(20) {
            let n = survivors[rng.random_range(0..2usize)];
            if clients[n].as_ref().is_none_or(|c| c.is_closed()) {
                clients[n] = connect_url(&c.url_on(n, "root", None)).await.ok();
            }
            if let Some(db) = &clients[n] {
                next_id += 1;
                if work(db, &mut rng, next_id).await {
                    acked.push(next_id);
                    served = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            served,
            "round {round} (seed {seed}): no write succeeded on the two survivors of n{} within 20 s",
            victim + 1
        );
        tracing_failover(round, victim, killed_at.elapsed());
        for _ in 0..5 {
            let n = survivors[rng.random_range(0..2usize)];
            if let Some(db) = &clients[n] {
                next_id += 1;
                if work(db, &mut rng, next_id).await {
                    acked.push(next_id);
                }
            }
        }
        restart_same_ports(&mut c.nodes[victim]).await;
    }

    // Every node sees the same total and every acknowledged write.
    c.wait_fully_replicated().await;
    for i in 0..3 {
        let db = connect_url(&c.url_on(i, "root", None))
            .await
            .expect("connect");
        assert_eq!(
            rows(&db, "SELECT sum(bal), count(*) FROM bank").await,
            vec![vec![(ACCOUNTS * INITIAL).to_string(), ACCOUNTS.to_string()]],
            "seed {seed}"
        );
        let present: std::collections::HashSet<i64> = rows(&db, "SELECT id FROM acked")
            .await
            .into_iter()
            .map(|r| r[0].parse().expect("id"))
            .collect();
        let lost: Vec<i64> = acked
            .iter()
            .filter(|id| !present.contains(id))
            .copied()
            .collect();
        assert!(
            lost.is_empty(),
            "seed {seed}: acknowledged writes lost: {lost:?}"
        );
    }
    assert!(
        acked.len() >= rounds * 3,
        "seed {seed}: only {} writes acknowledged",
        acked.len()
    );
}

fn tracing_failover(round: usize, victim: usize, took: Duration) {
    eprintln!(
        "round {round}: n{} killed, writes served again after {took:?}",
        victim + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_of_one_node_keeps_the_bank_total_and_acknowledged_writes() {
    kill_rounds(10, 0x7A_4E_D3_11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: cargo test --test multi_node_faults -- --ignored"]
async fn kill_nine_soak() {
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(42);
    kill_rounds(60, seed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_refuses_writes_and_a_lagging_node_catches_up_from_a_snapshot() {
    let mut c = TestCluster::start_nodes(3, ClusterOptions::default()).await;
    c.wait_fully_replicated().await;
    let n1 = connect_url(&c.url_on(0, "root", None)).await.expect("n1");
    rows(&n1, "CREATE TABLE t (k INT PRIMARY KEY, v STRING)").await;
    rows(&n1, "INSERT INTO t VALUES (0, 'before')").await;

    // Cut n1 off: stop the other two processes. n1 alone is a minority and must not commit.
    let pid = |i: usize| {
        c.nodes[i]
            .child
            .as_ref()
            .map(|ch| ch.id())
            .expect("running")
    };
    let signal = |sig: &str, p: u32| {
        let _ = std::process::Command::new("kill")
            .args([sig, &p.to_string()])
            .status();
    };
    let (p2, p3) = (pid(1), pid(2));
    signal("-STOP", p2);
    signal("-STOP", p3);
    let r = tokio::time::timeout(
        Duration::from_secs(8),
        n1.simple_query("INSERT INTO t VALUES (1, 'minority')"),
    )
    .await;
    assert!(
        !matches!(r, Ok(Ok(_))),
        "a write committed on a node cut off from the majority"
    );
    signal("-CONT", p2);
    signal("-CONT", p3);
    drop(n1);
    // The majority is back: the write above did not happen, new writes do.
    let n2 = common::replication::connect_soon(&c.url_on(1, "root", None)).await;
    succeeds_soon(
        "writes after the partition heals",
        Duration::from_secs(30),
        || {
            let n2 = &n2;
            async move {
                n2.simple_query("UPSERT INTO t VALUES (2, 'healed')")
                    .await
                    .ok()
            }
        },
    )
    .await;
    let keys: Vec<Vec<String>> = rows(&n2, "SELECT k FROM t ORDER BY k").await;
    assert!(
        keys == vec![vec!["0".to_string()], vec!["2".to_string()]]
            || keys
                == vec![
                    vec!["0".to_string()],
                    vec!["1".to_string()],
                    vec!["2".to_string()]
                ],
        "{keys:?}"
    );

    // n3 is down while far more writes than the raft log keeps go through; on restart it
    // gets a snapshot.
    kill_hard(&mut c.nodes[2]);
    let n1 = common::replication::connect_soon(&c.url_on(0, "root", None)).await;
    let mut stmt = String::new();
    for batch in 0..60 {
        stmt.clear();
        let vals: Vec<String> = (0..50)
            .map(|i| format!("({}, 'row')", 1000 + batch * 50 + i))
            .collect();
        stmt.push_str(&format!("INSERT INTO t VALUES {}", vals.join(", ")));
        for _ in 0..20 {
            rows(&n1, &format!("UPDATE t SET v = 'x{batch}' WHERE k = 0")).await;
        }
        rows(&n1, &stmt).await;
    }
    restart_same_ports(&mut c.nodes[2]).await;
    succeeds_soon(
        "n3 catches up from a snapshot",
        Duration::from_secs(60),
        || {
            let log = c.nodes[2].log_text();
            async move { log.contains("applied a raft snapshot").then_some(()) }
        },
    )
    .await;
    // With n1 gone, n3 is needed for a quorum: its copy must be complete.
    kill_hard(&mut c.nodes[0]);
    let n3 = common::replication::connect_soon(&c.url_on(2, "root", None)).await;
    let count = succeeds_soon("reads through n2 and n3", Duration::from_secs(30), || {
        let n3 = &n3;
        async move {
            n3.simple_query("SELECT count(*) FROM t WHERE k >= 1000")
                .await
                .ok()
                .and_then(|m| {
                    m.into_iter().find_map(|x| match x {
                        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                        _ => None,
                    })
                })
        }
    })
    .await;
    assert_eq!(count, "3000");
    rows(&n3, "INSERT INTO t VALUES (99999, 'n2+n3')").await;
}
