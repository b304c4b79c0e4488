//! Clusters of several node processes: `tandem start --join` + `tandem init`, `tandem node
//! status`, SQL through any node (requests forwarded to the node serving each range), catalog
//! and virtual-cluster changes seen by every node, a node joining later, `--sql-addr`.

mod common;

use common::{ClusterOptions, TestCluster, TestNode, connect_url, rows, succeeds_soon};
use std::time::Duration;

/// (id, the number in column `col`) of each node in `tandem node status`.
fn status_column(out: &str, col: usize) -> Vec<(String, u64)> {
    out.lines()
        .skip(2)
        .filter(|l| l.contains('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[0].to_string(), cells[col].parse().unwrap_or(0))
        })
        .collect()
}

/// (id, ranges) of each node in `tandem node status`.
fn status_ranges(out: &str) -> Vec<(String, u64)> {
    status_column(out, 9)
}

fn status_ids(out: &str) -> Vec<(String, String)> {
    // id | address | ... | is_available | is_live | ...
    out.lines()
        .skip(2)
        .filter(|l| l.contains('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[0].to_string(), cells[7].to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_join_serve_sql_from_any_node_and_a_fourth_joins_later() {
    let mut c = TestCluster::start_nodes(3, ClusterOptions::default()).await;
    // Every node is in the node status, live, whichever node is asked.
    for n in 0..3 {
        let host = c.nodes[n].listen_addr.clone();
        let (code, out, err) = c.tool(&["node", "status", &format!("--host={host}")]);
        assert_eq!(code, 0, "{out}{err}");
        let ids = status_ids(&out);
        assert_eq!(
            ids,
            vec![
                ("1".into(), "true".into()),
                ("2".into(), "true".into()),
                ("3".into(), "true".into())
            ],
            "{out}"
        );
    }
    // Every range gets a replica on every node (replication factor 3), through snapshots.
    let host = c.nodes[0].listen_addr.clone();
    succeeds_soon(
        "every range on three nodes",
        Duration::from_secs(30),
        || {
            let (_, out, _) = c.tool(&["node", "status", &format!("--host={host}")]);
            async move {
                let r = status_ranges(&out);
                let under: u64 = out
                    .lines()
                    .skip(2)
                    .filter_map(|l| l.split('|').nth(10))
                    .map(|x| x.trim().parse::<u64>().unwrap_or(0))
                    .sum();
                (r.len() == 3 && under == 0 && r.iter().all(|(_, n)| *n >= 2 && *n == r[0].1))
                    .then_some(())
            }
        },
    )
    .await;
    // The DB Console of any node lists every node.
    let sys = connect_url(&c.url_on(0, "root", Some("system")))
        .await
        .expect("system");
    sys.batch_execute("CREATE USER webuser WITH PASSWORD 'web-pw'")
        .await
        .expect("user");
    let ca = c.certs.as_ref().expect("certs").join("ca.crt");
    let http = c.nodes[2].http_addr.clone();
    let cookie = common::console_login(&http, Some(&ca), "webuser", "web-pw").await;
    let (st, _, body) = common::http_request(
        &http,
        Some(&ca),
        "GET",
        "/api/v1/nodes",
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body.matches("\"is_live\":true").count(), 3, "{body}");
    // A second init is refused.
    let host = c.nodes[1].listen_addr.clone();
    let (code, _, err) = c.tool(&["init", &format!("--host={host}")]);
    assert_ne!(code, 0);
    assert!(err.contains("already been initialized"), "{err}");

    // SQL through every node: a table created on one is written on another and read on the
    // third; a schema change is seen everywhere at once.
    let n1 = connect_url(&c.url_on(0, "root", None)).await.expect("n1");
    let n2 = connect_url(&c.url_on(1, "root", None)).await.expect("n2");
    let n3 = connect_url(&c.url_on(2, "root", None)).await.expect("n3");
    rows(&n2, "CREATE TABLE kv (k INT PRIMARY KEY, v STRING)").await;
    rows(&n3, "INSERT INTO kv VALUES (1, 'one'), (2, 'two')").await;
    assert_eq!(
        rows(&n1, "SELECT k, v FROM kv ORDER BY k").await,
        vec![vec!["1", "one"], vec!["2", "two"]]
    );
    rows(&n1, "ALTER TABLE kv ADD COLUMN w INT DEFAULT 7").await;
    assert_eq!(
        rows(&n3, "SELECT k, w FROM kv ORDER BY k").await,
        vec![vec!["1", "7"], vec!["2", "7"]]
    );
    rows(&n2, "DROP TABLE kv").await;
    let err = n3
        .simple_query("SELECT * FROM kv")
        .await
        .expect_err("dropped everywhere");
    assert_eq!(err.code().map(|c| c.code()), Some("42P01"), "{err}");
    // A transaction spanning statements on one node sees its own writes and commits.
    rows(&n2, "CREATE TABLE acct (id INT PRIMARY KEY, bal INT)").await;
    rows(&n2, "INSERT INTO acct VALUES (1, 100), (2, 0)").await;
    n3.batch_execute(
        "BEGIN; UPDATE acct SET bal = bal - 30 WHERE id = 1; UPDATE acct SET bal = bal + 30 WHERE id = 2; COMMIT",
    )
    .await
    .expect("transfer through n3");
    assert_eq!(
        rows(&n1, "SELECT sum(bal), min(bal) FROM acct").await,
        vec![vec!["100", "30"]]
    );
    // Virtual clusters created on one node are routable on the others.
    rows(&n1, "CREATE VIRTUAL CLUSTER app").await;
    rows(&n1, "ALTER VIRTUAL CLUSTER app START SERVICE SHARED").await;
    let app_url = c.url_on(2, "root", Some("app"));
    let app = succeeds_soon("app routable on n3", Duration::from_secs(20), || {
        let u = app_url.clone();
        async move { connect_url(&u).await.ok() }
    })
    .await;
    assert_eq!(rows(&app, "SELECT 1 + 1").await, vec![vec!["2"]]);

    // A fourth node joins through node 2 and serves SQL.
    let join = c.nodes[1].listen_addr.clone();
    let args = c.node_args(4, &ClusterOptions::default(), Some(&join));
    let mut n4 = TestNode::launch(&c.dir.path().join("n4"), args);
    n4.wait_for("ready").await;
    c.nodes.push(n4);
    let n4c = connect_url(&c.url_on(3, "root", None)).await.expect("n4");
    assert_eq!(
        rows(&n4c, "SELECT bal FROM acct ORDER BY id").await,
        vec![vec!["70"], vec!["30"]]
    );
    let host = c.nodes[3].listen_addr.clone();
    let (code, out, err) = c.tool(&["node", "status", &format!("--host={host}")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_ids(&out).len(), 4, "{out}");

    // A restarted joined node keeps its id and does not join again.
    c.nodes[2].restart().await;
    let text = c.nodes[2].log_text();
    assert!(!text.contains("joined the cluster"), "{text}");
    let n3 = connect_url(&c.url_on(2, "root", None))
        .await
        .expect("n3 again");
    assert_eq!(
        rows(&n3, "SELECT sum(bal) FROM acct").await,
        vec![vec!["100"]]
    );
    for n in &mut c.nodes {
        assert_eq!(n.terminate(), Some(0), "{}", n.log_text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_addr_moves_sql_off_the_node_port() {
    let c = TestCluster::start_nodes(
        1,
        ClusterOptions {
            insecure: true,
            extra: vec!["--sql-addr=127.0.0.1:0".into()],
            ..Default::default()
        },
    )
    .await;
    let n = c.node();
    assert_ne!(n.sql_addr, n.listen_addr);
    let db = connect_url(&c.url("root", None)).await.expect("SQL port");
    assert_eq!(rows(&db, "SELECT 1").await, vec![vec!["1"]]);
    let on_node_port = format!(
        "postgresql://root@{}/defaultdb?sslmode=disable",
        n.listen_addr
    );
    assert!(connect_url(&on_node_port).await.is_err());
    let (code, out, err) = c.tool(&["node", "status", &format!("--host={}", n.listen_addr)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&n.sql_addr), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_port_refuses_garbage_and_foreign_certificates() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let c = TestCluster::start_nodes(1, ClusterOptions::default()).await;
    let addr = c.node().listen_addr.clone();
    // The node preface followed by garbage instead of a TLS handshake: the connection closes and
    // the node keeps serving.
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.write_all(b"TNDM\x00\x01garbage-garbage-garbage")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(15), s.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert!(n < buf.len());
    // Certificates of another CA are refused.
    let other = tempfile::tempdir().expect("tempdir");
    let other_certs = common::make_certs(other.path(), &["root"]);
    let (code, _, err) = common::run_tandem(&[
        "node",
        "status",
        &format!("--host={addr}"),
        &format!("--certs-dir={}", other_certs.display()),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("node status from"), "{err}");
    let db = connect_url(&c.url("root", None))
        .await
        .expect("still serving");
    assert_eq!(rows(&db, "SELECT 1").await, vec![vec!["1"]]);
}

/// Physical replication between two three-node clusters: the stream is read from the primary
/// nodes holding the leases, ingested through the standby's nodes, and the cutover data equals
/// the primary's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn physical_replication_between_three_node_clusters() {
    use common::replication::{ReplicationClusters, now_text, rows as text_rows};
    let rc = ReplicationClusters::start_nodes(3, 3).await;
    let app = rc.primary_app().await;
    app.batch_execute(
        "CREATE TABLE acct (id INT PRIMARY KEY, bal INT);
         INSERT INTO acct SELECT i, 100 FROM generate_series(1, 200) AS g(i)",
    )
    .await
    .expect("load the primary");
    rc.start_replication("standby").await;
    let psys = rc.primary_sys().await;
    let t = now_text(&psys).await;
    rc.wait_replicated_past("standby", &t).await;
    app.batch_execute(
        "UPDATE acct SET bal = bal + 1 WHERE id <= 50; DELETE FROM acct WHERE id > 190",
    )
    .await
    .expect("more writes");
    let t = now_text(&psys).await;
    rc.wait_replicated_past("standby", &t).await;
    rc.fail_over_to_latest("standby").await;
    let ssys = rc.standby_sys().await;
    ssys.batch_execute("ALTER VIRTUAL CLUSTER standby START SERVICE SHARED")
        .await
        .expect("start service");
    // Read the promoted cluster through another standby node.
    let url = rc.standby.url_on(2, "root", Some("standby"));
    let db = succeeds_soon(
        "promoted cluster routable on n3",
        Duration::from_secs(30),
        || {
            let u = url.clone();
            async move { connect_url(&u).await.ok() }
        },
    )
    .await;
    assert_eq!(
        text_rows(&db, "SELECT count(*), sum(bal) FROM acct").await,
        vec![vec![Some("190".to_string()), Some("19050".to_string())]]
    );

    assert_eq!(
        rows(&db, "SELECT 1").await.len(),
        1,
        "the promoted cluster answers"
    );
}

/// (node id, leases) per node from `tandem node status`.
fn status_leases(out: &str) -> Vec<(String, u64)> {
    status_column(out, 8)
}

/// Leases spread over the primary's nodes (rebalancing), so the stream spec has one partition
/// per node holding leases, each with that node's SQL address; the standby's ingestion
/// connects to each. Then the primary node the URI names and the standby node coordinating
/// the job are killed during streaming: the job is adopted by a live standby node, re-plans
/// against the surviving primary nodes, and replicates past writes made after the deaths; the
/// cutover's fingerprints match and no acknowledged row is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn physical_replication_survives_a_primary_and_a_standby_node_dying() {
    use common::replication::{
        ReplicationClusters, connect_soon, kill_hard, now_text, rows as text_rows,
    };
    use tandem::replication::spec::{ProducerSpec, StreamSpec};
    let mut rc = ReplicationClusters::start_nodes(3, 3).await;
    let app = rc.primary_app().await;
    app.batch_execute(
        "CREATE TABLE acct (id INT PRIMARY KEY, bal INT);
         INSERT INTO acct SELECT i, 100 FROM generate_series(1, 400) AS g(i);
         ALTER TABLE acct SPLIT AT VALUES (100), (200), (300);
         CREATE TABLE log (id INT PRIMARY KEY, note STRING)",
    )
    .await
    .expect("load the primary");

    // Leases spread over the three primary nodes.
    let host = rc.primary.nodes[0].listen_addr.clone();
    let spread = succeeds_soon(
        "leases on every primary node",
        Duration::from_secs(60),
        || {
            let (_, out, _) = rc
                .primary
                .tool(&["node", "status", &format!("--host={host}")]);
            let leases = status_leases(&out);
            let ok = leases.len() == 3 && leases.iter().all(|(_, n)| *n > 0);
            async move { ok.then_some(leases) }
        },
    )
    .await;
    eprintln!("leases per node: {spread:?}");

    // The spec names one partition per node holding leases, at that node's SQL address.
    let psys = rc.primary_sys().await;
    let row = psys
        .query_one(
            "SELECT crdb_internal.start_replication_stream('application')",
            &[],
        )
        .await
        .expect("start a stream");
    let producer = ProducerSpec::decode(&row.get::<_, Vec<u8>>(0)).expect("producer spec");
    let id = producer.stream_id.0 as i64;
    let row = psys
        .query_one("SELECT crdb_internal.replication_stream_spec($1)", &[&id])
        .await
        .expect("spec");
    let spec = StreamSpec::decode(&row.get::<_, Vec<u8>>(0)).expect("stream spec");
    let mut nodes: Vec<u64> = spec.partitions.iter().map(|p| p.node_id.0).collect();
    nodes.dedup();
    assert!(
        spec.partitions.len() >= 2,
        "partitions: {:?}",
        spec.partitions
    );
    assert_eq!(nodes.len(), spec.partitions.len(), "one partition per node");
    let sql_addrs: Vec<String> = rc
        .primary
        .nodes
        .iter()
        .map(|n| n.sql_addr.clone())
        .collect();
    for p in &spec.partitions {
        assert!(
            sql_addrs.iter().any(|a| a.ends_with(&format!(
                ":{}",
                p.sql_address.rsplit(':').next().unwrap_or("")
            ))),
            "partition address {} is a primary node's SQL address ({sql_addrs:?})",
            p.sql_address
        );
    }
    psys.execute(
        "SELECT crdb_internal.complete_replication_stream($1, false)",
        &[&id],
    )
    .await
    .expect("complete the probe stream");

    // Replicate, with the URI naming primary node 2 and the job coordinated by standby node 2.
    let port = rc.primary.nodes[1]
        .sql_addr
        .rsplit_once(':')
        .map(|(_, p)| p.to_string())
        .expect("port");
    let uri = rc.source_uri_at(&port, "repl", &rc.repl_password, "ca_primary.crt");
    let s2 = connect_soon(&rc.standby.url_on(1, "root", Some("system"))).await;
    s2.batch_execute(&format!(
        "CREATE VIRTUAL CLUSTER standby FROM REPLICATION OF application ON '{uri}'"
    ))
    .await
    .expect("create the replication through standby node 2");
    drop(s2);

    // A writer through primary node 1 for the whole test.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let url = rc.primary.url_on(0, "root", Some("application"));
        tokio::spawn(async move {
            let c = connect_soon(&url).await;
            let mut acked = Vec::new();
            let mut i = 0i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                if c.execute("INSERT INTO log VALUES ($1, 'x')", &[&i])
                    .await
                    .is_ok()
                {
                    acked.push(i);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            acked
        })
    };
    let t = now_text(&psys).await;
    rc.wait_replicated_past("standby", &t).await;
    // The partitions are ingested on several standby nodes.
    let ca = rc.standby.certs.clone().expect("certs").join("ca.crt");
    let mut ingesting = Vec::new();
    for (i, n) in rc.standby.nodes.iter().enumerate() {
        let (_, _, body) =
            common::http_request(&n.http_addr, Some(&ca), "GET", "/_status/vars", &[], "").await;
        let events: f64 = body
            .lines()
            .find(|l| l.starts_with("physical_replication_events_ingested "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if events > 0.0 {
            ingesting.push(i + 1);
        }
    }
    assert!(
        ingesting.len() >= 2,
        "standby nodes that ingested events: {ingesting:?}"
    );

    kill_hard(&mut rc.primary.nodes[1]);
    kill_hard(&mut rc.standby.nodes[1]);
    app.batch_execute("UPDATE acct SET bal = bal + 1 WHERE id % 7 = 0")
        .await
        .expect("write after the deaths");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked = writer.await.expect("writer");
    assert!(
        acked.len() > 10,
        "the writer made progress: {}",
        acked.len()
    );
    let t = now_text(&psys).await;
    rc.wait_replicated_past("standby", &t).await;

    let cut = rc.fail_over_to_latest("standby").await;
    let ssys = rc.standby_sys().await;
    ssys.batch_execute("ALTER VIRTUAL CLUSTER standby START SERVICE SHARED")
        .await
        .expect("start service");
    let db = succeeds_soon("promoted cluster", Duration::from_secs(30), || {
        let u = rc.standby.url_on(0, "root", Some("standby"));
        async move { connect_url(&u).await.ok() }
    })
    .await;
    let got: Vec<i64> = db
        .query("SELECT id FROM log ORDER BY id", &[])
        .await
        .expect("promoted log")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let on_primary: Vec<i64> = app
        .query(
            &format!("SELECT id FROM log AS OF SYSTEM TIME '{cut}' ORDER BY id"),
            &[],
        )
        .await
        .expect("primary log")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(got, on_primary, "the log at the cutover time");
    let missing: Vec<&i64> = acked.iter().filter(|i| !got.contains(i)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged rows missing after cutover: {missing:?}"
    );
    assert_eq!(
        text_rows(&db, "SELECT count(*) FROM acct WHERE bal = 101").await,
        vec![vec![Some("57".to_string())]],
        "the update made after the deaths arrived"
    );
}
