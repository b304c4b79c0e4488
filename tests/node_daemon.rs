//! The node daemon end to end: real `tandem` processes started like the CockroachDB tutorial,
//! real clients (tokio-postgres through tandem's URL handling, psql with verify-full), real
//! certificates from `tandem cert`.

mod common;

use common::{ClusterOptions, TestCluster, connect_url, http_request, rows, run_tandem};
use std::time::Duration;

fn code(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no code: {e}"))
}

fn sv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The seed's SHOW VIRTUAL CLUSTERS outputs for the three profiles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_profiles_bootstrap_virtual_clusters() {
    let c = TestCluster::start(ClusterOptions {
        profile: "replication-source",
        ..Default::default()
    })
    .await;
    let sys = c
        .connect("root", Some("system"))
        .await
        .expect("connect system");
    assert_eq!(
        rows(&sys, "SHOW VIRTUAL CLUSTERS").await,
        vec![
            sv(&["1", "system", "ready", "shared"]),
            sv(&["2", "template", "ready", "none"]),
            sv(&["3", "application", "ready", "shared"])
        ]
    );
    // Without -ccluster the connection goes to the default target cluster, application.
    let app = c.connect("root", None).await.expect("connect default");
    let err = app
        .simple_query("SHOW VIRTUAL CLUSTERS")
        .await
        .expect_err("not the system cluster");
    assert_eq!(code(&err), "42501");
    assert_eq!(
        rows(
            &sys,
            "SHOW CLUSTER SETTING server.controller.default_target_cluster"
        )
        .await,
        vec![sv(&["application"])]
    );
    // The template is not serving.
    let e = c
        .connect("root", Some("template"))
        .await
        .expect_err("template is not serving");
    assert!(e.contains("not serving"), "{e}");

    let t = TestCluster::start(ClusterOptions {
        profile: "replication-target",
        ..Default::default()
    })
    .await;
    let sys = t.connect("root", Some("system")).await.expect("connect");
    assert_eq!(
        rows(&sys, "SHOW VIRTUAL CLUSTERS").await,
        vec![
            sv(&["1", "system", "ready", "shared"]),
            sv(&["2", "template", "ready", "none"])
        ]
    );

    let d = TestCluster::start(ClusterOptions::default()).await;
    let sys = d.connect("root", None).await.expect("connect");
    assert_eq!(
        rows(&sys, "SHOW VIRTUAL CLUSTERS").await,
        vec![sv(&["1", "system", "ready", "shared"])]
    );
}

/// psql connects with sslmode=verify-full and sees the seed's table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_psql_verify_full() {
    if std::process::Command::new("psql")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("psql not installed; skipping");
        return;
    }
    let c = TestCluster::start(ClusterOptions {
        profile: "replication-source",
        ..Default::default()
    })
    .await;
    let url = c.url("root", Some("system"));
    let out = std::process::Command::new("psql")
        .arg(&url)
        .args(["-X", "-c", "SHOW VIRTUAL CLUSTERS"])
        .output()
        .expect("run psql");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "psql failed: {}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(" id |    name     | data_state | service_mode"),
        "{text}"
    );
    assert!(
        text.contains("  3 | application | ready      | shared"),
        "{text}"
    );
    assert!(text.contains("(3 rows)"), "{text}");
}

/// Users, passwords, grants and privilege errors; virtual cluster isolation; virtual cluster DDL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_users_grants_and_isolation() {
    let c = TestCluster::start(ClusterOptions {
        profile: "replication-source",
        ..Default::default()
    })
    .await;
    let sys = c.connect("root", Some("system")).await.expect("connect");
    sys.simple_query("CREATE USER alice WITH LOGIN PASSWORD 'secret-pw'")
        .await
        .expect("create user");
    sys.simple_query("CREATE USER repl WITH PASSWORD 'repl-pw'")
        .await
        .expect("create user");
    sys.simple_query("GRANT SYSTEM REPLICATION TO repl")
        .await
        .expect("grant");
    assert_eq!(
        rows(&sys, "SHOW SYSTEM GRANTS").await,
        vec![sv(&["repl", "REPLICATION", "f"])]
    );
    let users = rows(&sys, "SHOW USERS").await;
    assert!(
        users.iter().any(|r| r[0] == "alice")
            && users
                .iter()
                .any(|r| r[0] == "root" && r[2].contains("admin")),
        "{users:?}"
    );
    // Password login; wrong password.
    let alice = connect_url(&c.password_url("alice", "secret-pw", Some("system")))
        .await
        .expect("password login");
    let e = connect_url(&c.password_url("alice", "wrong", Some("system")))
        .await
        .expect_err("wrong password");
    assert!(
        e.contains("28P01") || e.contains("password authentication failed"),
        "{e}"
    );
    let e = connect_url(&c.password_url("nobody", "x", Some("system")))
        .await
        .expect_err("unknown user");
    assert!(
        e.contains("28P01") || e.contains("password authentication failed"),
        "{e}"
    );
    // A non-admin running admin statements: 42501.
    for stmt in [
        "CREATE VIRTUAL CLUSTER nope",
        "CREATE USER mallory",
        "GRANT admin TO alice",
        "SET CLUSTER SETTING cluster.organization = 'x'",
    ] {
        let err = alice.simple_query(stmt).await.expect_err(stmt);
        assert_eq!(code(&err), "42501", "{stmt}: {err}");
    }
    sys.simple_query("GRANT admin TO alice")
        .await
        .expect("grant admin");
    alice
        .simple_query("SET CLUSTER SETTING cluster.organization = 'Acme'")
        .await
        .expect("admin now");
    sys.simple_query("REVOKE admin FROM alice")
        .await
        .expect("revoke");
    let err = alice
        .simple_query("CREATE USER mallory")
        .await
        .expect_err("revoked");
    assert_eq!(code(&err), "42501");
    sys.simple_query("ALTER USER alice WITH PASSWORD 'new-pw'")
        .await
        .expect("alter");
    connect_url(&c.password_url("alice", "new-pw", Some("system")))
        .await
        .expect("new password");
    // Settings.
    assert_eq!(
        rows(&sys, "SHOW CLUSTER SETTING cluster.organization").await,
        vec![sv(&["Acme"])]
    );
    sys.simple_query("SET CLUSTER SETTING enterprise.license = 'crl-0-xyz'")
        .await
        .expect("license accepted");
    let err = sys
        .simple_query("SET CLUSTER SETTING no.such.setting = 1")
        .await
        .expect_err("unknown");
    assert_eq!(code(&err), "42704");
    let err = sys
        .simple_query("SET CLUSTER SETTING kv.rangefeed.enabled = 'maybe'")
        .await
        .expect_err("bad type");
    assert_eq!(code(&err), "22023");
    assert!(
        rows(&sys, "SHOW ALL CLUSTER SETTINGS")
            .await
            .iter()
            .any(|r| r[0] == "enterprise.license")
    );
    // Isolation: a table in application is invisible in system.
    let app = c
        .connect("root", Some("application"))
        .await
        .expect("connect app");
    app.simple_query(
        "CREATE TABLE kv (k INT PRIMARY KEY, v STRING); INSERT INTO kv VALUES (1, 'one')",
    )
    .await
    .expect("app ddl");
    assert_eq!(
        rows(&app, "SHOW TABLES").await,
        vec![sv(&["public", "kv", "table", "root"])]
    );
    assert!(rows(&sys, "SHOW TABLES").await.is_empty());
    let err = sys
        .simple_query("SELECT * FROM kv")
        .await
        .expect_err("not visible");
    assert_eq!(code(&err), "42P01");
    // Virtual cluster DDL.
    sys.simple_query("CREATE VIRTUAL CLUSTER extra LIKE template")
        .await
        .expect("create vc");
    sys.simple_query("ALTER VIRTUAL CLUSTER extra START SERVICE SHARED")
        .await
        .expect("start");
    let extra = c
        .connect("root", Some("extra"))
        .await
        .expect("connect extra");
    assert!(rows(&extra, "SHOW TABLES").await.is_empty());
    sys.simple_query("ALTER VIRTUAL CLUSTER extra STOP SERVICE")
        .await
        .expect("stop");
    sys.simple_query("ALTER VIRTUAL CLUSTER extra RENAME TO renamed")
        .await
        .expect("rename");
    assert_eq!(
        rows(&sys, "SHOW VIRTUAL CLUSTER renamed").await,
        vec![sv(&["4", "renamed", "ready", "none"])]
    );
    sys.simple_query("DROP VIRTUAL CLUSTER renamed")
        .await
        .expect("drop");
    sys.simple_query("DROP VIRTUAL CLUSTER IF EXISTS renamed")
        .await
        .expect("drop if exists");
    let err = sys
        .simple_query("DROP VIRTUAL CLUSTER renamed")
        .await
        .expect_err("gone");
    assert_eq!(code(&err), "42704");
}

/// Data survives restarts; SIGTERM drains and exits 0; bad input is refused while the node stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_restart_drain_and_bad_input() {
    let mut c = TestCluster::start(ClusterOptions::default()).await;
    {
        let db = c.connect("root", None).await.expect("connect");
        db.simple_query("CREATE DATABASE bank; CREATE TABLE bank.accounts (id INT PRIMARY KEY, balance INT NOT NULL)").await.expect("ddl");
        db.simple_query("BEGIN; INSERT INTO bank.accounts VALUES (1, 100), (2, 50); COMMIT")
            .await
            .expect("txn");
        db.simple_query("UPDATE bank.accounts SET balance = balance - 10 WHERE id = 1")
            .await
            .expect("update");
        // Invalid SQL, then the session still works.
        let err = db.simple_query("SELEC 1").await.expect_err("syntax");
        assert_eq!(code(&err), "42601");
        let err = db
            .simple_query("INSERT INTO bank.accounts VALUES (1, 1)")
            .await
            .expect_err("dup");
        assert_eq!(code(&err), "23505");
        // Garbage bytes on the port close only that connection.
        use tokio::io::AsyncWriteExt;
        let mut g = tokio::net::TcpStream::connect(&c.node().sql_addr)
            .await
            .expect("tcp");
        let _ = g
            .write_all(b"\x00\x00\x00\x08garbage!garbage!garbage!")
            .await;
        drop(g);
        let e = c
            .connect("root", Some("nosuchcluster"))
            .await
            .expect_err("unknown cluster");
        assert!(e.contains("does not exist"), "{e}");
        assert_eq!(
            rows(&db, "SELECT balance FROM bank.accounts WHERE id = 1").await,
            vec![sv(&["90"])]
        );
    }
    let code_ = c.nodes[0].terminate();
    assert_eq!(
        code_,
        Some(0),
        "SIGTERM must drain and exit 0:\n{}",
        c.node().log_text()
    );
    assert!(
        c.node().log_text().contains("drain"),
        "{}",
        c.node().log_text()
    );
    c.nodes[0].restart().await;
    let db = c.connect("root", None).await.expect("reconnect");
    assert_eq!(
        rows(&db, "SELECT id, balance FROM bank.accounts ORDER BY id").await,
        vec![sv(&["1", "90"]), sv(&["2", "50"])]
    );
    assert_eq!(
        rows(&db, "SELECT count(*) FROM bank.accounts").await,
        vec![sv(&["2"])]
    );
    // Invalid configuration: clear error, non-zero exit, nothing written.
    let bad_store = c.dir.path().join("bad");
    let (code_, out, err) = run_tandem(&[
        "start-single-node",
        "--insecure",
        &format!("--store={}", bad_store.display()),
        "--cache=lots",
    ]);
    assert_ne!(code_, 0);
    assert!((out.clone() + &err).contains("cache"), "{out}{err}");
    assert!(
        !bad_store.exists(),
        "a bad configuration must not touch the store"
    );
}

/// /health, metrics and the DB Console login over HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_console_and_metrics() {
    let c = TestCluster::start(ClusterOptions {
        profile: "replication-source",
        ..Default::default()
    })
    .await;
    let ca = c.certs.as_ref().expect("certs").join("ca.crt");
    let http = c.node().http_addr.clone();
    let (st, _, body) = http_request(&http, Some(&ca), "GET", "/health?ready=1", &[], "").await;
    assert_eq!(st, 200, "{body}");
    let (st, _, body) = http_request(&http, Some(&ca), "GET", "/_status/vars", &[], "").await;
    assert_eq!(st, 200);
    for m in [
        "sql_conns",
        "ranges",
        "raft_entries_applied",
        "storage_fsyncs",
    ] {
        assert!(body.contains(m), "metric {m} missing:\n{body}");
    }
    let sys = c.connect("root", Some("system")).await.expect("connect");
    sys.simple_query("CREATE USER webuser WITH PASSWORD 'web-pw'")
        .await
        .expect("user");
    let (st, _, _) = http_request(
        &http,
        Some(&ca),
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "user=webuser&password=nope",
    )
    .await;
    assert_eq!(st, 401);
    let cookie = common::console_login(&http, Some(&ca), "webuser", "web-pw").await;
    let (st, _, page) = http_request(
        &http,
        Some(&ca),
        "GET",
        "/virtual-clusters",
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(st, 200);
    assert!(
        page.contains("application") && page.contains("template"),
        "{page}"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// `tandem start` waits for `tandem init`; `--background` detaches once ready; `tandem sql -e`
/// prints results and exits non-zero on errors; `tandem version`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_start_init_background_and_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    // start + init (insecure).
    let store = dir.path().join("n1");
    let ready = dir.path().join("n1.ready");
    let log = std::fs::File::create(dir.path().join("n1.log")).expect("log");
    let mut child = std::process::Command::new(common::tandem_bin())
        .args([
            "start",
            "--insecure",
            &format!("--store={}", store.display()),
            "--listen-addr=127.0.0.1:0",
            "--http-addr=127.0.0.1:0",
        ])
        .env("TANDEM_READY_FILE", &ready)
        .stdout(log.try_clone().expect("dup"))
        .stderr(log)
        .spawn()
        .expect("spawn");
    let addr = common::succeeds_soon("waiting for init", Duration::from_secs(60), || {
        let text = std::fs::read_to_string(&ready).unwrap_or_default();
        async move {
            text.lines()
                .find_map(|l| l.strip_prefix("sql_addr:").map(|a| a.trim().to_string()))
                .filter(|_| text.starts_with("waiting_for_init"))
        }
    })
    .await;
    // A SQL client before init is refused; init succeeds once; the node then serves SQL.
    assert!(
        connect_url(&format!(
            "postgresql://root@{addr}/defaultdb?sslmode=disable"
        ))
        .await
        .is_err()
    );
    let (c, out, err) = run_tandem(&["init", "--insecure", &format!("--host={addr}")]);
    assert_eq!(c, 0, "init: {out}{err}");
    assert!(out.contains("Cluster successfully initialized"), "{out}");
    common::succeeds_soon("ready after init", Duration::from_secs(60), || {
        let text = std::fs::read_to_string(&ready).unwrap_or_default();
        async move { text.contains("\nready\n").then_some(()) }
    })
    .await;
    let db = connect_url(&format!(
        "postgresql://root@{addr}/defaultdb?sslmode=disable"
    ))
    .await
    .expect("connect after init");
    assert_eq!(
        rows(&db, "SHOW VIRTUAL CLUSTERS").await,
        vec![sv(&["1", "system", "ready", "shared"])]
    );
    // tandem sql -e: results, then an error exit code.
    let url = format!("postgresql://root@{addr}/defaultdb?sslmode=disable");
    let (c, out, err) = run_tandem(&[
        "sql",
        "--url",
        &url,
        "-e",
        "CREATE TABLE t (k INT PRIMARY KEY, v STRING); INSERT INTO t VALUES (1, 'x')",
        "-e",
        "SELECT k, v FROM t",
    ]);
    assert_eq!(c, 0, "{out}{err}");
    assert!(out.contains("k\tv") && out.contains("1\tx"), "{out}");
    let (c, _, err) = run_tandem(&["sql", "--url", &url, "-e", "SELECT * FROM nosuch"]);
    assert_ne!(c, 0);
    assert!(err.contains("42P01"), "{err}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    // --background: returns once ready, the node keeps running.
    let bg_store = dir.path().join("bg");
    let (c, out, err) = run_tandem(&[
        "start-single-node",
        "--insecure",
        "--background",
        &format!("--store={}", bg_store.display()),
        "--listen-addr=127.0.0.1:0",
        "--http-addr=127.0.0.1:0",
    ]);
    assert_eq!(c, 0, "{out}{err}");
    let bg_addr = out
        .lines()
        .find_map(|l| l.strip_prefix("sql_addr:").map(|a| a.trim().to_string()))
        .expect("banner has sql_addr");
    let bg = connect_url(&format!(
        "postgresql://root@{bg_addr}/defaultdb?sslmode=disable"
    ))
    .await
    .expect("background node serves");
    assert_eq!(rows(&bg, "SELECT 1 + 1").await, vec![sv(&["2"])]);
    let (_, _, _) = run_tandem(&["version"]);
    // Stop the background node through SQL-free means: find it by its store in /proc.
    let pid = std::fs::read_dir("/proc")
        .expect("proc")
        .filter_map(|e| e.ok())
        .find_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.contains("start-single-node") && cmd.contains(&bg_store.display().to_string()))
                .then(|| e.file_name().to_string_lossy().to_string())
        });
    if let Some(pid) = pid {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
    }
    let (c, out, _) = run_tandem(&["version"]);
    assert_eq!(c, 0);
    assert!(out.starts_with("tandem "), "{out}");
}

/// `--max-sql-memory` bounds what one statement may hold: past it, SQLSTATE 53200, and the node
/// keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_sql_memory_budget() {
    let c = TestCluster::start(ClusterOptions {
        insecure: true,
        extra: vec!["--max-sql-memory=1MiB".into()],
        ..Default::default()
    })
    .await;
    let db = c.connect("root", None).await.expect("connect");
    db.simple_query("CREATE TABLE big (k INT PRIMARY KEY, v STRING)")
        .await
        .expect("ddl");
    let values: Vec<String> = (0..300)
        .map(|i| format!("({i}, repeat('x', 1000))"))
        .collect();
    db.simple_query(&format!("INSERT INTO big VALUES {}", values.join(",")))
        .await
        .expect("load");
    let err = db
        .simple_query("SELECT count(*) FROM big AS a, big AS b")
        .await
        .expect_err("over budget");
    assert_eq!(code(&err), "53200", "{err}");
    assert_eq!(
        rows(&db, "SELECT count(*) FROM big").await,
        vec![sv(&["300"])]
    );
}
