// The physical replication suite, included by tests/replication.rs (1 + 1 nodes) and
// tests/replication_three_nodes.rs (3 + 3 nodes) with `NODES` set.

use common::replication::{
    ReplicationClusters, connect_soon, fingerprint, kill_hard, now_text, restart_same_ports, rows,
    try_rows, value,
};
use common::{http_request, succeeds_soon};
use std::process::Command;
use std::time::Duration;

fn installed(bin: &str) -> bool {
    let ok = Command::new(bin)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("note: {bin} is not installed; skipping");
    }
    ok
}

/// Runs SQL through psql (verify-full TLS with client certificates) and returns stdout.
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(url)
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn load_rows(c: &tokio_postgres::Client, from: i64, to: i64) {
    c.batch_execute(&format!(
        "INSERT INTO kv SELECT g, 'v' || g::STRING FROM generate_series({from}, {to}) AS g"
    ))
    .await
    .expect("insert");
}

async fn metrics_text(node: &common::TestNode, certs: Option<&std::path::Path>) -> String {
    let ca = certs.map(|c| c.join("ca.crt"));
    let (status, _, body) = http_request(
        &node.http_addr,
        ca.as_deref(),
        "GET",
        "/_status/vars",
        &[],
        "",
    )
    .await;
    assert_eq!(status, 200);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_flow_with_psql_over_verify_full_tls() {
    if !installed("psql") {
        return;
    }
    let rc = ReplicationClusters::start_nodes(NODES, NODES).await;
    let psys = rc.primary.url("root", Some("system"));
    let papp = rc.primary.url("root", Some("application"));
    let ssys = rc.standby.url("root", Some("system"));
    psql(&papp, "CREATE TABLE kv (k INT PRIMARY KEY, v STRING)");
    psql(
        &papp,
        "INSERT INTO kv SELECT g, 'v' || g::STRING FROM generate_series(1, 2000) AS g",
    );
    assert_eq!(
        psql(
            &psys,
            "SELECT name, data_state, service_mode FROM [SHOW VIRTUAL CLUSTERS] ORDER BY id"
        ),
        "system|ready|shared\ntemplate|ready|none\napplication|ready|shared"
    );
    psql(
        &ssys,
        &format!(
            "CREATE VIRTUAL CLUSTER application LIKE template FROM REPLICATION OF application ON '{}'",
            rc.source_uri()
        ),
    );
    // The seed's listing: the replicating cluster shows its replication state.
    let listing = succeeds_soon("replicating", Duration::from_secs(60), || {
        let ssys = ssys.clone();
        async move {
            let out = psql(&ssys, "SHOW VIRTUAL CLUSTERS");
            out.contains("application|replicating|none").then_some(out)
        }
    })
    .await;
    assert!(listing.starts_with("1|system|ready|shared"), "{listing}");
    // Exactly the seed's columns, then replication_lag and status.
    let header = Command::new("psql")
        .arg(&ssys)
        .args([
            "-X",
            "-A",
            "-c",
            "SHOW VIRTUAL CLUSTER application WITH REPLICATION STATUS",
        ])
        .output()
        .expect("psql");
    let text = String::from_utf8_lossy(&header.stdout).into_owned();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap_or_default(),
        "id|name|data_state|service_mode|source_tenant_name|source_cluster_uri|replication_job_id|replicated_time|retained_time|cutover_time|replication_lag|status"
    );
    let row: Vec<&str> = lines.next().unwrap_or_default().split('|').collect();
    assert_eq!(row[1], "application");
    assert_eq!(row[2], "replicating");
    assert_eq!(row[4], "application");
    assert!(
        row[5].contains("redacted") && !row[5].contains(&rc.repl_password),
        "{}",
        row[5]
    );
    assert!(!row[7].is_empty() && !row[8].is_empty(), "times: {row:?}");
    assert_eq!(row[9], "");
    assert_eq!(row[11], "replicating");

    // Changes after the initial scan arrive with low lag.
    psql(&papp, "UPDATE kv SET v = 'changed' WHERE k <= 100");
    psql(&papp, "DELETE FROM kv WHERE k > 1900");
    psql(&papp, "INSERT INTO kv VALUES (5000, 'late')");
    let after = psql(&papp, "SELECT now()::STRING");
    rc.wait_replicated_past("application", &after).await;
    let lag = psql(
        &ssys,
        "SELECT extract(epoch FROM replication_lag) FROM [SHOW VIRTUAL CLUSTER application WITH REPLICATION STATUS]",
    );
    let lag: f64 = lag.parse().unwrap_or(f64::MAX);
    assert!(lag < 5.0, "replication lag {lag}s");

    // Both jobs are listed.
    assert_eq!(
        psql(&ssys, "SELECT job_type, status FROM [SHOW JOBS]"),
        "REPLICATION STREAM INGESTION|running"
    );
    assert_eq!(
        psql(&psys, "SELECT job_type, status FROM [SHOW JOBS]"),
        "REPLICATION STREAM PRODUCER|running"
    );
    // Metrics on the standby.
    let vars = metrics_text(rc.standby.node(), rc.standby.certs.as_deref()).await;
    for m in [
        "physical_replication_replicated_time_seconds",
        "physical_replication_logical_bytes",
        "physical_replication_events_ingested",
        "physical_replication_resolved_events_ingested",
        "physical_replication_flushes",
        "physical_replication_running 1",
        "physical_replication_failover_progress",
        "physical_replication_replication_lag_seconds",
    ] {
        assert!(vars.contains(m), "missing {m} in /_status/vars");
    }

    // Failover to the latest replicated time.
    let cutover = psql(
        &ssys,
        "ALTER VIRTUAL CLUSTER application COMPLETE REPLICATION TO LATEST",
    );
    assert!(cutover.contains('.'), "cutover_time {cutover}");
    rc.wait_ready("application").await;
    psql(
        &ssys,
        "ALTER VIRTUAL CLUSTER application START SERVICE SHARED",
    );
    assert!(
        psql(&ssys, "SHOW VIRTUAL CLUSTERS").contains("application|ready|shared"),
        "not serving"
    );
    let fp_primary = psql(
        &psys,
        &format!(
            "SELECT fingerprint FROM [SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER application] AS OF SYSTEM TIME '{cutover}'"
        ),
    );
    let fp_standby = psql(
        &ssys,
        &format!(
            "SELECT fingerprint FROM [SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER application] AS OF SYSTEM TIME '{cutover}'"
        ),
    );
    assert_eq!(fp_primary, fp_standby);
    let sapp = rc.standby.url("root", Some("application"));
    let q = "SELECT count(*), sum(k), count(*) FILTER (WHERE v = 'changed') FROM kv";
    assert_eq!(psql(&sapp, q), "1901|1810950|100");
    assert_eq!(
        psql(
            &papp,
            &format!(
                "SELECT count(*), sum(k), count(*) FILTER (WHERE v = 'changed') FROM kv AS OF SYSTEM TIME '{cutover}'"
            )
        ),
        psql(&sapp, q)
    );
    // The promoted cluster takes writes; lineage is recorded; the producer finished.
    psql(&sapp, "INSERT INTO kv VALUES (9999, 'standby')");
    let prior = psql(
        &ssys,
        "SELECT source_id, activation_time FROM [SHOW VIRTUAL CLUSTER application WITH PRIOR REPLICATION DETAILS]",
    );
    assert!(prior.ends_with(&format!(":3|{cutover}")), "{prior}");
    assert_eq!(
        psql(&ssys, "SELECT job_type, status FROM [SHOW JOBS]"),
        "REPLICATION STREAM INGESTION|succeeded"
    );
    succeeds_soon("producer finished", Duration::from_secs(30), || {
        let psys = psys.clone();
        async move { (psql(&psys, "SELECT status FROM [SHOW JOBS]") == "succeeded").then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_retention_and_failover_to_a_past_time() {
    let rc = ReplicationClusters::start_nodes(NODES, NODES).await;
    let app = rc.primary_app().await;
    app.batch_execute("CREATE TABLE kv (k INT PRIMARY KEY, v STRING)")
        .await
        .expect("create");
    load_rows(&app, 1, 500).await;
    rc.start_replication("standbyapp").await;
    let t0 = now_text(&app).await;
    rc.wait_replicated_past("standbyapp", &t0).await;
    let ssys = rc.standby_sys().await;

    // Pause: the replicated time stops; writes pile up on the primary.
    ssys.batch_execute("ALTER VIRTUAL CLUSTER standbyapp PAUSE REPLICATION")
        .await
        .expect("pause");
    let paused_at = succeeds_soon("paused", Duration::from_secs(20), || {
        let (rc, ssys) = (&rc, &ssys);
        async move {
            let (status, rt) = rc.status(ssys, "standbyapp").await;
            (status == "replication paused").then_some(rt)
        }
    })
    .await;
    assert_eq!(
        value(
            &ssys,
            "SELECT data_state FROM [SHOW VIRTUAL CLUSTER standbyapp]"
        )
        .await
        .as_deref(),
        Some("replication paused")
    );
    load_rows(&app, 501, 800).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rc.status(&ssys, "standbyapp").await.1, paused_at);
    assert_eq!(
        value(
            &ssys,
            "SELECT status FROM [SHOW JOBS] WHERE job_type = 'REPLICATION STREAM INGESTION'"
        )
        .await
        .as_deref(),
        Some("paused")
    );

    // Resume: catches up with what was written meanwhile.
    ssys.batch_execute("ALTER VIRTUAL CLUSTER standbyapp RESUME REPLICATION")
        .await
        .expect("resume");
    let t1 = now_text(&app).await;
    rc.wait_replicated_past("standbyapp", &t1).await;

    // Retention: a longer window keeps the retained time at the start.
    ssys.batch_execute("ALTER VIRTUAL CLUSTER standbyapp SET REPLICATION RETENTION = '36h'")
        .await
        .expect("retention");
    let bad = try_rows(
        &ssys,
        "ALTER VIRTUAL CLUSTER standbyapp SET REPLICATION RETENTION = 'forever'",
    )
    .await;
    assert!(bad.is_err_and(|e| e.contains("22023")));

    // A consistent point in the past: everything up to t1 is there, later writes are not.
    let t1_decimal = value(
        &app,
        &format!("SELECT (extract(epoch FROM '{t1}'::TIMESTAMPTZ) * 1000000)::INT8::STRING"),
    )
    .await
    .expect("t1");
    let t1_hlc = format!("{t1_decimal}000.0000000000");
    app.batch_execute("UPDATE kv SET v = 'after-t1' WHERE k <= 50; DELETE FROM kv WHERE k > 700")
        .await
        .expect("later writes");
    let t2 = now_text(&app).await;
    rc.wait_replicated_past("standbyapp", &t2).await;

    // Before the retained time is refused; a time in the past within the window works.
    let early = try_rows(
        &ssys,
        "ALTER VIRTUAL CLUSTER standbyapp COMPLETE REPLICATION TO SYSTEM TIME '2000-01-01 00:00:00'",
    )
    .await;
    assert!(
        early
            .as_ref()
            .is_err_and(|e| e.contains("before earliest safe cutover time")),
        "{early:?}"
    );
    let r = rows(
        &ssys,
        &format!("ALTER VIRTUAL CLUSTER standbyapp COMPLETE REPLICATION TO SYSTEM TIME '{t1_hlc}'"),
    )
    .await;
    assert_eq!(r[0][0].as_deref(), Some(t1_hlc.as_str()));
    rc.wait_ready("standbyapp").await;
    let psys = rc.primary_sys().await;
    assert_eq!(
        fingerprint(&psys, "application", &t1_hlc).await,
        fingerprint(&ssys, "standbyapp", &t1_hlc).await
    );
    ssys.batch_execute("ALTER VIRTUAL CLUSTER standbyapp START SERVICE SHARED")
        .await
        .expect("start service");
    let standby = rc
        .standby_vc("standbyapp")
        .await
        .expect("connect standby-app");
    let q = "SELECT count(*), count(*) FILTER (WHERE v = 'after-t1') FROM kv";
    assert_eq!(
        rows(&standby, q).await,
        vec![vec![Some("800".into()), Some("0".into())]]
    );
    assert_eq!(
        rows(&app, &format!("SELECT count(*), count(*) FILTER (WHERE v = 'after-t1') FROM kv AS OF SYSTEM TIME '{t1_hlc}'")).await,
        rows(&standby, q).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_restart_resumes_without_a_new_initial_scan() {
    let mut rc = ReplicationClusters::start_nodes(NODES, NODES).await;
    let app = rc.primary_app().await;
    app.batch_execute("CREATE TABLE kv (k INT PRIMARY KEY, v STRING)")
        .await
        .expect("create");
    load_rows(&app, 1, 3000).await;
    rc.start_replication("application").await;
    let t0 = now_text(&app).await;
    rc.wait_replicated_past("application", &t0).await;

    rc.standby.nodes[0].restart().await;
    load_rows(&app, 3001, 3100).await;
    let t1 = now_text(&app).await;
    rc.wait_replicated_past("application", &t1).await;
    // After the restart only the new versions (and system-table churn) were ingested, not the
    // 3000 rows of an initial scan.
    let vars = metrics_text(rc.standby.node(), rc.standby.certs.as_deref()).await;
    let events: u64 = vars
        .lines()
        .find_map(|l| l.strip_prefix("physical_replication_events_ingested "))
        .and_then(|v| v.trim().parse().ok())
        .expect("events metric");
    assert!(events < 1000, "{events} events ingested after restart");

    // A failover time in the future: the job keeps replicating until it is reached.
    let ssys = rc.standby_sys().await;
    let cut = value(
        &ssys,
        "ALTER VIRTUAL CLUSTER application COMPLETE REPLICATION TO SYSTEM TIME '+2s'",
    )
    .await
    .expect("cutover");
    assert_eq!(
        rc.status(&ssys, "application").await.0,
        "replication pending failover"
    );
    load_rows(&app, 3101, 3200).await;
    rc.wait_ready("application").await;
    let psys = rc.primary_sys().await;
    assert_eq!(
        fingerprint(&psys, "application", &cut).await,
        fingerprint(&ssys, "application", &cut).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_killed_then_restarted_replication_resumes() {
    let mut rc = ReplicationClusters::start_nodes(NODES, NODES).await;
    let app = rc.primary_app().await;
    app.batch_execute("CREATE TABLE kv (k INT PRIMARY KEY, v STRING)")
        .await
        .expect("create");
    load_rows(&app, 1, 300).await;
    rc.start_replication("application").await;
    let t0 = now_text(&app).await;
    rc.wait_replicated_past("application", &t0).await;
    load_rows(&app, 301, 400).await;
    drop(app);

    kill_hard(&mut rc.primary.nodes[0]);
    let ssys = rc.standby_sys().await;
    if NODES == 1 {
        let reason = rc.wait_replication_error("application").await;
        assert!(
            reason.contains("connect") || reason.contains("closed"),
            "{reason}"
        );
    } else {
        // The other primary nodes still serve: the stream re-plans without the dead node (the
        // URI names it; the job reconnects through the nodes earlier specs named).
        let app2 = connect_soon(&rc.primary.url_on(1, "root", Some("application"))).await;
        load_rows(&app2, 1001, 1050).await;
        let t = now_text(&app2).await;
        rc.wait_replicated_past("application", &t).await;
        app2.batch_execute("DELETE FROM kv WHERE k > 1000")
            .await
            .expect("undo");
    }
    assert_eq!(
        value(&ssys, "SELECT status FROM [SHOW JOBS]")
            .await
            .as_deref(),
        Some("running"),
        "the job never stops by itself"
    );

    restart_same_ports(&mut rc.primary.nodes[0]).await;
    let app = connect_soon(&rc.primary.url("root", Some("application"))).await;
    load_rows(&app, 401, 500).await;
    let t1 = now_text(&app).await;
    rc.wait_replicated_past("application", &t1).await;
    rc.fail_over_to_latest("application").await;
    ssys.batch_execute("ALTER VIRTUAL CLUSTER application START SERVICE SHARED")
        .await
        .expect("serve");
    let s = rc.standby_vc("application").await.expect("standby app");
    assert_eq!(
        value(&s, "SELECT count(*) FROM kv").await.as_deref(),
        Some("500")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sources_fail_clearly_and_leave_nothing_behind() {
    let rc = ReplicationClusters::start_nodes(NODES, NODES).await;
    let psys = rc.primary_sys().await;
    psys.batch_execute("CREATE USER nopriv WITH PASSWORD 'nopriv-pw'")
        .await
        .expect("user");
    let ssys = rc.standby_sys().await;
    let before = rows(&ssys, "SHOW VIRTUAL CLUSTERS").await;
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let cases = [
        (
            rc.source_uri_with("repl", "wrong-password", "ca_primary.crt"),
            "password authentication failed",
        ),
        (
            rc.source_uri_with("nopriv", "nopriv-pw", "ca_primary.crt"),
            "REPLICATION",
        ),
        // The standby's own CA does not sign the primary's certificate.
        (
            rc.source_uri_with("repl", &rc.repl_password, "ca.crt"),
            "certificate",
        ),
        (
            format!(
                "postgresql://repl:{}@127.0.0.1:{closed_port}/defaultdb?options=-ccluster%3Dsystem&sslmode=verify-full&sslrootcert=ca_primary.crt",
                rc.repl_password
            ),
            "could not connect",
        ),
        (
            rc.source_uri_with("repl", &rc.repl_password, "no-such-ca.crt"),
            "no-such-ca.crt",
        ),
        (
            "mysql://somewhere".to_string(),
            "invalid source cluster URI",
        ),
    ];
    for (uri, expect) in &cases {
        let err = try_rows(
            &ssys,
            &format!("CREATE VIRTUAL CLUSTER app2 FROM REPLICATION OF application ON '{uri}'"),
        )
        .await
        .expect_err("CREATE must fail");
        assert!(err.contains(expect), "{uri}: {err}");
        assert!(!err.contains(&rc.repl_password), "password leaked: {err}");
    }
    let unknown = try_rows(
        &ssys,
        &format!(
            "CREATE VIRTUAL CLUSTER app2 FROM REPLICATION OF nosuchcluster ON '{}'",
            rc.source_uri()
        ),
    )
    .await
    .expect_err("unknown source");
    assert!(
        unknown.contains("\"nosuchcluster\" does not exist"),
        "{unknown}"
    );
    let retention = try_rows(
        &ssys,
        &format!(
            "CREATE VIRTUAL CLUSTER app2 FROM REPLICATION OF application ON '{}' WITH RETENTION = 'soon'",
            rc.source_uri()
        ),
    )
    .await
    .expect_err("bad retention");
    assert!(retention.contains("RETENTION"), "{retention}");
    // Nothing left behind on either side.
    assert_eq!(rows(&ssys, "SHOW VIRTUAL CLUSTERS").await, before);
    assert!(rows(&ssys, "SHOW JOBS").await.is_empty());
    assert!(
        rows(
            &psys,
            "SELECT status FROM [SHOW JOBS] WHERE status = 'running'"
        )
        .await
        .is_empty(),
        "a producer job is still running on the primary"
    );
    // The builtins themselves are guarded.
    let nopriv = common::connect_url(&format!(
        "postgresql://nopriv:nopriv-pw@localhost:{}/defaultdb?options=-ccluster%3Dsystem&sslmode=verify-full&sslrootcert={}",
        rc.primary_port(),
        rc.primary.certs.as_ref().expect("certs").join("ca.crt").display()
    ))
    .await
    .expect("nopriv connects");
    let e = try_rows(
        &nopriv,
        "SELECT crdb_internal.start_replication_stream('application')",
    )
    .await
    .expect_err("privilege");
    assert!(e.contains("42501"), "{e}");
    let app = rc.primary_app().await;
    let e = try_rows(&app, "SELECT crdb_internal.replication_stream_spec(1)")
        .await
        .expect_err("system only");
    assert!(e.contains("system virtual cluster"), "{e}");
    let e = try_rows(&psys, "SELECT crdb_internal.replication_stream_spec(12345)")
        .await
        .expect_err("unknown stream");
    assert!(e.contains("does not exist"), "{e}");
    let e = try_rows(
        &psys,
        "SELECT * FROM crdb_internal.stream_partition(1, 'garbage'::BYTES)",
    )
    .await
    .expect_err("bad spec");
    assert!(
        e.contains("does not exist") || e.contains("malformed"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_replicating_cluster_stops_its_job_and_releases_the_producer() {
    let rc = ReplicationClusters::start_nodes(NODES, NODES).await;
    let app = rc.primary_app().await;
    app.batch_execute("CREATE TABLE kv (k INT PRIMARY KEY, v STRING)")
        .await
        .expect("create");
    load_rows(&app, 1, 200).await;
    rc.start_replication("application").await;
    let t0 = now_text(&app).await;
    rc.wait_replicated_past("application", &t0).await;
    let ssys = rc.standby_sys().await;
    ssys.batch_execute("DROP VIRTUAL CLUSTER application")
        .await
        .expect("drop");
    let names = rows(&ssys, "SELECT name FROM [SHOW VIRTUAL CLUSTERS]").await;
    assert!(
        !names.iter().any(|r| r[0].as_deref() == Some("application")),
        "{names:?}"
    );
    assert_eq!(
        value(&ssys, "SELECT status FROM [SHOW JOBS]")
            .await
            .as_deref(),
        Some("canceled")
    );
    let psys = rc.primary_sys().await;
    succeeds_soon("producer released", Duration::from_secs(30), || {
        let psys = &psys;
        async move {
            let r = rows(psys, "SELECT status FROM [SHOW JOBS]").await;
            (r[0][0].as_deref() == Some("failed")).then_some(())
        }
    })
    .await;
    // The name can be used again for a new stream, here with the primary's CA inline.
    let pem = std::fs::read_to_string(rc.primary.certs.as_ref().expect("certs").join("ca.crt"))
        .expect("read CA");
    let inline = format!(
        "postgresql://repl:{}@localhost:{}/defaultdb?options=-ccluster%3Dsystem&sslmode=verify-full&sslinline=true&sslrootcert={}",
        rc.repl_password,
        rc.primary_port(),
        percent_encoding::utf8_percent_encode(&pem, percent_encoding::NON_ALPHANUMERIC)
    );
    ssys.batch_execute(&format!(
        "CREATE VIRTUAL CLUSTER application FROM REPLICATION OF application ON '{inline}' WITH RETENTION = '10m'"
    ))
    .await
    .expect("create with sslinline");
    let shown = value(
        &ssys,
        "SELECT source_cluster_uri FROM [SHOW VIRTUAL CLUSTER application WITH REPLICATION STATUS]",
    )
    .await
    .unwrap_or_default();
    assert!(
        !shown.contains("BEGIN") && !shown.contains(&rc.repl_password),
        "{shown}"
    );
    let t1 = now_text(&app).await;
    rc.wait_replicated_past("application", &t1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_needs_rangefeeds_and_expires_without_heartbeats() {
    let primary = common::TestCluster::start(common::ClusterOptions::default()).await;
    let sys = primary
        .connect("root", Some("system"))
        .await
        .expect("connect");
    let e = try_rows(
        &sys,
        "SELECT crdb_internal.start_replication_stream('system')",
    )
    .await
    .expect_err("rangefeeds are off by default");
    assert!(e.contains("kv.rangefeed.enabled"), "{e}");
    sys.batch_execute(
        "SET CLUSTER SETTING kv.rangefeed.enabled = true; \
         SET CLUSTER SETTING stream_replication.job_liveness.timeout = '1s'",
    )
    .await
    .expect("settings");
    let spec = value(
        &sys,
        "SELECT crdb_internal.start_replication_stream('system')",
    )
    .await;
    assert!(spec.is_some_and(|s| s.starts_with("\\x")));
    let running = rows(
        &sys,
        "SELECT job_type, status, description FROM [SHOW JOBS]",
    )
    .await;
    assert_eq!(
        running[0][0].as_deref(),
        Some("REPLICATION STREAM PRODUCER")
    );
    assert_eq!(
        running[0][2].as_deref(),
        Some("History Retention for Physical Replication of system")
    );
    let error = succeeds_soon("producer to expire", Duration::from_secs(20), || {
        let sys = &sys;
        async move {
            let r = rows(sys, "SELECT status, error FROM [SHOW JOBS]").await;
            (r[0][0].as_deref() == Some("failed")).then(|| r[0][1].clone())
        }
    })
    .await;
    assert!(error.is_some_and(|e| e.contains("timed out")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_cut_is_reported_and_replication_resumes_when_it_heals() {
    let rc = ReplicationClusters::start_nodes(NODES, NODES).await;
    let ssys = rc.standby_sys().await;
    ssys.batch_execute(
        "SET CLUSTER SETTING physical_replication.consumer.stream_idle_timeout = '2s'",
    )
    .await
    .expect("setting");
    let proxy = common::replication::CutProxy::start(rc.primary.node().sql_addr.clone()).await;
    let app = rc.primary_app().await;
    app.batch_execute("CREATE TABLE kv (k INT PRIMARY KEY, v STRING)")
        .await
        .expect("create");
    load_rows(&app, 1, 300).await;
    // `crdb_route=gateway`: every connection goes through the proxy, as through a load
    // balancer, instead of dialing the nodes the stream spec names.
    let uri = format!(
        "{}&crdb_route=gateway",
        rc.source_uri_at(
            &proxy.port.to_string(),
            "repl",
            &rc.repl_password,
            "ca_primary.crt",
        )
    );
    ssys.batch_execute(&format!(
        "CREATE VIRTUAL CLUSTER application FROM REPLICATION OF application ON '{uri}'"
    ))
    .await
    .expect("create replication");
    let t0 = now_text(&app).await;
    rc.wait_replicated_past("application", &t0).await;

    proxy.cut();
    load_rows(&app, 301, 600).await;
    let reason = rc.wait_replication_error("application").await;
    assert!(
        reason.contains("no events")
            || reason.contains("did not answer")
            || reason.contains("timed out"),
        "{reason}"
    );
    proxy.heal();
    let t1 = now_text(&app).await;
    rc.wait_replicated_past("application", &t1).await;
    rc.fail_over_to_latest("application").await;
}
