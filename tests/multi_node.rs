//! Clusters of several node processes: `tandem start --join` + `tandem init`, `tandem node
//! status`, SQL through any node (requests forwarded to the node serving each range), catalog
//! and virtual-cluster changes seen by every node, a node joining later, `--sql-addr`.

mod common;

use common::{ClusterOptions, TestCluster, TestNode, connect_url, rows, succeeds_soon};
use std::time::Duration;

/// (id, ranges) of each node in `tandem node status`.
fn status_ranges(out: &str) -> Vec<(String, u64)> {
    out.lines()
        .skip(2)
        .filter(|l| l.contains('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[0].to_string(), cells[9].parse().unwrap_or(0))
        })
        .collect()
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
/// node holding the leases, ingested through the standby's nodes, and the cutover data equals
/// the primary's. A stream pointed at a primary node without the leases fails with a clear
/// replication error instead of stalling.
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

    // A stream from a primary node that holds none of the leases is refused, not stalled.
    let holder = |out: &str, node: &str| -> u64 {
        out.lines()
            .skip(2)
            .find(|l| l.split('|').next().map(str::trim) == Some(node))
            .and_then(|l| l.split('|').nth(8))
            .map_or(0, |x| x.trim().parse().unwrap_or(0))
    };
    let host = rc.primary.nodes[0].listen_addr.clone();
    let (_, out, _) = rc
        .primary
        .tool(&["node", "status", &format!("--host={host}")]);
    // Splits keep their leases where the left-hand side's was: node 1 holds them all.
    let idle = (0..3)
        .find(|i| holder(&out, &(i + 1).to_string()) == 0)
        .unwrap_or_else(|| panic!("a primary node without leases:\n{out}"));
    {
        let port = rc.primary.nodes[idle]
            .sql_addr
            .rsplit_once(':')
            .map(|(_, p)| p.to_string())
            .expect("port");
        let uri = rc.source_uri_at(&port, "repl", &rc.repl_password, "ca_primary.crt");
        ssys.batch_execute(&format!(
            "CREATE VIRTUAL CLUSTER elsewhere FROM REPLICATION OF application ON '{uri}'"
        ))
        .await
        .expect("create");
        let err = rc.wait_replication_error("elsewhere").await;
        assert!(err.contains("lease"), "{err}");
    }
}
