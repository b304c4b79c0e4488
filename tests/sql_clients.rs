//! PostgreSQL clients unchanged against a real tandem node: COPY FROM STDIN through
//! tokio-postgres (extended protocol) and psql's `\copy` (simple protocol), pgbench's own
//! `pgbench -i` (COPY-based load, VACUUM, ALTER TABLE ADD PRIMARY KEY) and a tpcb-like run,
//! query cancellation with the pgwire cancel request, psql's describe meta-commands, psycopg and
//! SQLAlchemy applications, binary arrays, and streamed results of large scans.

mod common;

use common::{ClusterOptions, TestCluster};
use futures::SinkExt;
use std::process::Command;

async fn insecure() -> TestCluster {
    TestCluster::start(ClusterOptions {
        insecure: true,
        ..Default::default()
    })
    .await
}

fn installed(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok();
    if !ok {
        eprintln!("{tool} not installed; skipping");
    }
    ok
}

async fn count(c: &tokio_postgres::Client, table: &str) -> i64 {
    c.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count")
        .get(0)
}

/// Sends `data` with COPY IN and returns the row count or the error's SQLSTATE and message.
async fn copy_in(
    c: &tokio_postgres::Client,
    stmt: &str,
    data: &[&[u8]],
) -> Result<u64, (String, String)> {
    let err = |e: tokio_postgres::Error| {
        let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
        let msg = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string());
        (code, msg)
    };
    let sink = c.copy_in::<_, bytes::Bytes>(stmt).await.map_err(err)?;
    futures::pin_mut!(sink);
    for chunk in data {
        sink.send(bytes::Bytes::copy_from_slice(chunk))
            .await
            .map_err(err)?;
    }
    sink.finish().await.map_err(err)
}

/// COPY FROM STDIN over the extended protocol: text and CSV, data split anywhere, defaults for
/// unlisted columns, NULLs, escapes; bad data and constraint violations insert nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_stdin_with_tokio_postgres() {
    let cluster = insecure().await;
    let c = cluster.connect("root", None).await.expect("connect");
    c.batch_execute(
        "CREATE TABLE items (id INT PRIMARY KEY, name STRING NOT NULL, price DECIMAL, \
         note STRING, added DATE DEFAULT '2026-01-01', tags JSONB)",
    )
    .await
    .unwrap();

    // Text format, one record split across messages, with escapes and \N.
    let n = copy_in(
        &c,
        "COPY items (id, name, price, note) FROM STDIN",
        &[
            b"1\twidget\t9.99\t\\N\n2\tga",
            b"dget\t19.5\ttab\\there\n3\tback\\\\slash\t0\tx\n",
        ],
    )
    .await
    .expect("text copy");
    assert_eq!(n, 3);
    let r = c
        .query_one(
            "SELECT name, note, added::STRING FROM items WHERE id = 2",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "gadget");
    assert_eq!(r.get::<_, String>(1), "tab\there");
    assert_eq!(r.get::<_, String>(2), "2026-01-01");
    let r = c
        .query_one("SELECT note IS NULL, name FROM items WHERE id = 1", &[])
        .await
        .unwrap();
    assert!(r.get::<_, bool>(0));
    let r = c
        .query_one("SELECT name FROM items WHERE id = 3", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "back\\slash");

    // CSV with a header, quotes, an embedded newline, NULL vs empty string, JSON.
    let n = copy_in(
        &c,
        "COPY items (id, name, note, tags) FROM STDIN WITH (FORMAT csv, HEADER)",
        &[b"id,name,note,tags\n10,\"a, \"\"quoted\"\" name\",,\"{\"\"k\"\": 1}\"\n11,multi,\"line1\nline2\",\n12,empty,\"\",\n"],
    )
    .await
    .expect("csv copy");
    assert_eq!(n, 3);
    let rows = c
        .query(
            "SELECT id, name, note, tags->>'k' FROM items WHERE id >= 10 ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, String>(1), "a, \"quoted\" name");
    assert_eq!(rows[0].get::<_, Option<String>>(2), None);
    assert_eq!(rows[0].get::<_, Option<String>>(3).as_deref(), Some("1"));
    assert_eq!(
        rows[1].get::<_, Option<String>>(2).as_deref(),
        Some("line1\nline2")
    );
    assert_eq!(rows[2].get::<_, Option<String>>(2).as_deref(), Some(""));
    assert_eq!(count(&c, "items").await, 6);

    // Errors: the whole COPY is refused and nothing from it is inserted.
    let bad: &[(&str, &[u8], &str)] = &[
        ("COPY items (id, name) FROM STDIN", b"20\tok\n21\n", "22P04"),
        (
            "COPY items (id, name) FROM STDIN",
            b"20\tok\n21\ta\tb\n",
            "22P04",
        ),
        (
            "COPY items (id, name) FROM STDIN",
            b"20\tok\nxx\tbad\n",
            "22P02",
        ),
        (
            "COPY items (id, name) FROM STDIN",
            b"20\tok\n1\tdup\n",
            "23505",
        ),
        (
            "COPY items (id, name) FROM STDIN",
            b"20\tok\n21\t\\N\n",
            "23502",
        ),
        (
            "COPY items (id, name) FROM STDIN WITH (FORMAT csv)",
            b"20,\"open\n",
            "22P04",
        ),
        ("COPY items (id, name) FROM STDIN", b"20\t\xff\n", "22021"),
    ];
    for (stmt, data, code) in bad {
        let e = copy_in(&c, stmt, &[data]).await.expect_err("must fail");
        assert_eq!(e.0, *code, "{stmt} {data:?}: {e:?}");
    }
    assert_eq!(count(&c, "items").await, 6);
    // Errors before any data: unknown table/column, unsupported forms. (After such an error
    // tokio-postgres's copy sink sends CopyFail + Sync, which gets a second ReadyForQuery from
    // PostgreSQL and tandem alike and confuses that client's next request, so each case uses its
    // own connection.)
    for (stmt, code) in [
        ("COPY nope FROM STDIN", "42P01"),
        ("COPY items (nope) FROM STDIN", "42703"),
        ("COPY items FROM STDIN WITH (FORMAT binary)", "0A000"),
        ("COPY items FROM '/etc/passwd'", "42501"),
    ] {
        let c = cluster.connect("root", None).await.expect("connect");
        let e = copy_in(&c, stmt, &[]).await.expect_err(stmt);
        assert_eq!(e.0, code, "{stmt}: {e:?}");
    }

    // Inside an explicit transaction: visible to it, gone after ROLLBACK.
    c.batch_execute("BEGIN").await.unwrap();
    copy_in(&c, "COPY items (id, name) FROM STDIN", &[b"30\tin-txn\n"])
        .await
        .unwrap();
    assert_eq!(count(&c, "items").await, 7);
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(count(&c, "items").await, 6);
    // The connection is still fine.
    c.batch_execute("INSERT INTO items (id, name) VALUES (40, 'after')")
        .await
        .unwrap();
    assert_eq!(count(&c, "items").await, 7);
}

/// psql's `\copy` (simple protocol, CopyData per line) in text and CSV; a bad file reports the
/// line and leaves the table unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_backslash_copy() {
    if !installed("psql") {
        return;
    }
    let cluster = insecure().await;
    let url = cluster.url("root", None);
    let dir = tempfile::tempdir().unwrap();
    let psql = |cmd: &str| {
        Command::new("psql")
            .arg(&url)
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-c", cmd])
            .output()
            .expect("psql")
    };
    let ok = |cmd: &str| {
        let out = psql(cmd);
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok("CREATE TABLE t (k INT PRIMARY KEY, v STRING)");
    let csv = dir.path().join("t.csv");
    let mut body = String::from("k,v\n");
    for i in 0..5000 {
        body.push_str(&format!("{i},\"value {i}\"\n"));
    }
    std::fs::write(&csv, body).unwrap();
    let out = ok(&format!(
        "\\copy t FROM '{}' WITH (FORMAT csv, HEADER)",
        csv.display()
    ));
    assert!(out.contains("COPY 5000"), "{out}");
    let txt = dir.path().join("t.txt");
    std::fs::write(&txt, "9000\tnine\n9001\t\\N\n").unwrap();
    let out = ok(&format!("\\copy t FROM '{}'", txt.display()));
    assert!(out.contains("COPY 2"), "{out}");
    let out = ok("SELECT count(*), count(v) FROM t");
    assert!(out.contains("5002 |  5001"), "{out}");

    std::fs::write(&txt, "9100\tok\n9101\tok\n9102\n").unwrap();
    let out = psql(&format!("\\copy t FROM '{}'", txt.display()));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3") && err.contains("missing data"),
        "{err}"
    );
    let out = ok("SELECT count(*) FROM t WHERE k >= 9100");
    assert!(out.contains(" 0\n"), "{out}");
}

/// pgbench's own initialization (COPY load, VACUUM, ADD PRIMARY KEY) and a tpcb-like run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_init_and_tpcb_like_run() {
    if !installed("pgbench") {
        return;
    }
    let cluster = insecure().await;
    let url = cluster.url("root", None);
    let out = Command::new("pgbench")
        .args(["-i", "-s", "1", &url])
        .output()
        .expect("pgbench -i");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pgbench -i: {err}");
    assert!(err.contains("creating primary keys"), "{err}");
    let c = cluster.connect("root", None).await.unwrap();
    assert_eq!(count(&c, "pgbench_accounts").await, 100_000);
    assert_eq!(count(&c, "pgbench_tellers").await, 10);
    assert_eq!(count(&c, "pgbench_branches").await, 1);
    let plan: Vec<String> = c
        .query(
            "EXPLAIN SELECT abalance FROM pgbench_accounts WHERE aid = 7",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    assert!(
        plan.iter()
            .any(|l| l.contains("point") || l.contains("lookup")),
        "the new primary key is used: {plan:?}"
    );

    // Serialization failures (40001) on the single branch row are retried by pgbench itself.
    let out = Command::new("pgbench")
        .args(["-T", "10", "-c", "4", "-j", "2", "--max-tries=50", &url])
        .output()
        .expect("pgbench -T");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench run: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("TPC-B (sort of)"), "{stdout}");
    let processed: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(processed > 0, "{stdout}");
    // The books balance: every transaction moved the same delta through all three tables.
    let sum = |t: &str, col: &str| {
        let c = &c;
        let q = format!("SELECT COALESCE(sum({col}), 0)::INT FROM {t}");
        async move { c.query_one(&q, &[]).await.unwrap().get::<_, i64>(0) }
    };
    let history = sum("pgbench_history", "delta").await;
    assert_eq!(sum("pgbench_accounts", "abalance").await, history);
    assert_eq!(sum("pgbench_tellers", "tbalance").await, history);
    assert_eq!(sum("pgbench_branches", "bbalance").await, history);
    assert_eq!(count(&c, "pgbench_history").await as u64, processed);
}

/// A pgwire cancel request (tokio-postgres's cancel token) stops a long query with 57014; the
/// session stays usable and later statements are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_stops_a_running_query() {
    let cluster = insecure().await;
    let c = std::sync::Arc::new(cluster.connect("root", None).await.expect("connect"));
    c.batch_execute("CREATE TABLE n (i INT PRIMARY KEY)")
        .await
        .unwrap();
    let values: Vec<String> = (0..400).map(|i| format!("({i})")).collect();
    c.batch_execute(&format!("INSERT INTO n VALUES {}", values.join(",")))
        .await
        .unwrap();
    // A cancel request for an idle session does nothing.
    let token = c.cancel_token();
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    assert_eq!(count(&c, "n").await, 400);

    // 400^3 = 64M joined rows: far longer than the test waits.
    let runner = c.clone();
    let query = tokio::spawn(async move {
        runner
            .query_one("SELECT count(*) FROM n a, n b, n c", &[])
            .await
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // Cancel until the query ends (the first request may arrive before it starts).
    while !query.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "query was not cancelled"
        );
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let err = query
        .await
        .unwrap()
        .expect_err("the query must be cancelled");
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err}");
    // The session works afterwards.
    assert_eq!(count(&c, "n").await, 400);
}

/// psycopg 3 runs a small application (every common parameter type, executemany, RETURNING,
/// transactions, SQLSTATE error classes, COPY, introspection): tests/clients/psycopg_app.py.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_application() {
    let has_psycopg = Command::new("python3")
        .args(["-c", "import psycopg"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_psycopg {
        eprintln!("python3 with psycopg not installed (.ci/run installs it); skipping");
        return;
    }
    let cluster = insecure().await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/psycopg_app.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(cluster.url("root", None))
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "psycopg app failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("psycopg app: ok"), "{stdout}");
    assert!(
        !stderr.contains("unimplemented"),
        "psycopg hit something unimplemented: {stderr}"
    );
}

/// SQLAlchemy 2's stock PostgreSQL dialect (over psycopg 3) runs a small application: first-connect
/// checks, Inspector reflection (tables, columns, keys, foreign keys, indexes, unique and check
/// constraints), metadata.create_all, ORM inserts with RETURNING, queries and relationships:
/// tests/clients/sqlalchemy_app.py.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_application() {
    let has_sqlalchemy = Command::new("python3")
        .args(["-c", "import psycopg, sqlalchemy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sqlalchemy {
        eprintln!(
            "python3 with psycopg and SQLAlchemy not installed (.ci/run installs them); skipping"
        );
        return;
    }
    let cluster = insecure().await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/sqlalchemy_app.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(cluster.url("root", None))
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SQLAlchemy app failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("sqlalchemy app: ok"), "{stdout}");
}

/// tokio-postgres sends parameters and reads results in the binary format: every type round-trips
/// through a table, and binary parameters compare correctly in WHERE clauses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_parameters_of_every_type() {
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
    let cluster = insecure().await;
    let c = cluster.connect("root", None).await.expect("connect");
    c.batch_execute(
        "CREATE TABLE every (id INT PRIMARY KEY, i2 INT2, i4 INT4, i8 INT8, f4 FLOAT4, f8 FLOAT8, \
         d DECIMAL, b BOOL, s STRING, bs BYTES, u UUID, dt DATE, tm TIME, ts TIMESTAMP, \
         tz TIMESTAMPTZ, j JSONB)",
    )
    .await
    .unwrap();
    let dec: rust_decimal::Decimal = "12345.6789".parse().unwrap();
    let uuid = uuid::Uuid::new_v4();
    let date = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let time = NaiveTime::from_hms_micro_opt(13, 14, 15, 161718).unwrap();
    let ts = NaiveDateTime::new(date, time);
    let tz = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    let json = serde_json::json!({"a": [1, 2, {"b": null}], "c": "d"});
    let insert = c
        .prepare(
            "INSERT INTO every VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14, $15, $16)",
        )
        .await
        .unwrap();
    c.execute(
        &insert,
        &[
            &1i64,
            &-32768i16,
            &2147483647i32,
            &-9223372036854775807i64,
            &1.5f32,
            &-2.25e300f64,
            &dec,
            &true,
            &"héllo ✓",
            &vec![0u8, 1, 255],
            &uuid,
            &date,
            &time,
            &ts,
            &tz,
            &json,
        ],
    )
    .await
    .expect("insert with binary parameters");
    // NULL of every type.
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 16] = [
        &2i64,
        &None::<i16>,
        &None::<i32>,
        &None::<i64>,
        &None::<f32>,
        &None::<f64>,
        &None::<rust_decimal::Decimal>,
        &None::<bool>,
        &None::<String>,
        &None::<Vec<u8>>,
        &None::<uuid::Uuid>,
        &None::<NaiveDate>,
        &None::<NaiveTime>,
        &None::<NaiveDateTime>,
        &None::<chrono::DateTime<Utc>>,
        &None::<serde_json::Value>,
    ];
    c.execute(&insert, &params).await.expect("insert NULLs");

    let r = c
        .query_one("SELECT * FROM every WHERE id = $1", &[&1i64])
        .await
        .unwrap();
    let types: Vec<&str> = r.columns().iter().map(|c| c.type_().name()).collect();
    assert_eq!(
        types,
        [
            "int8",
            "int2",
            "int4",
            "int8",
            "float4",
            "float8",
            "numeric",
            "bool",
            "text",
            "bytea",
            "uuid",
            "date",
            "time",
            "timestamp",
            "timestamptz",
            "jsonb"
        ],
        "SELECT * describes each column with its declared type"
    );
    assert_eq!(r.get::<_, i16>("i2"), -32768);
    assert_eq!(r.get::<_, i32>("i4"), 2147483647);
    assert_eq!(r.get::<_, i64>("i8"), -9223372036854775807);
    assert_eq!(r.get::<_, f32>("f4"), 1.5);
    assert_eq!(r.get::<_, f64>("f8"), -2.25e300);
    assert_eq!(r.get::<_, rust_decimal::Decimal>("d"), dec);
    assert!(r.get::<_, bool>("b"));
    assert_eq!(r.get::<_, String>("s"), "héllo ✓");
    assert_eq!(r.get::<_, Vec<u8>>("bs"), vec![0u8, 1, 255]);
    assert_eq!(r.get::<_, uuid::Uuid>("u"), uuid);
    assert_eq!(r.get::<_, NaiveDate>("dt"), date);
    assert_eq!(r.get::<_, NaiveTime>("tm"), time);
    assert_eq!(r.get::<_, NaiveDateTime>("ts"), ts);
    assert_eq!(r.get::<_, chrono::DateTime<Utc>>("tz"), tz);
    assert_eq!(r.get::<_, serde_json::Value>("j"), json);

    let r = c
        .query_one("SELECT * FROM every WHERE id = $1", &[&2i64])
        .await
        .unwrap();
    for i in 1..r.len() {
        assert!(
            r.try_get::<_, Option<String>>(i)
                .map(|v| v.is_none())
                .unwrap_or(true),
            "column {i} is not NULL"
        );
    }
    assert_eq!(r.get::<_, Option<uuid::Uuid>>("u"), None);
    assert_eq!(r.get::<_, Option<rust_decimal::Decimal>>("d"), None);

    // Binary parameters in predicates, by type.
    let hits = |rows: Vec<tokio_postgres::Row>| rows.len();
    assert_eq!(
        hits(
            c.query("SELECT id FROM every WHERE u = $1", &[&uuid])
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        hits(
            c.query("SELECT id FROM every WHERE d = $1", &[&dec])
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        hits(
            c.query("SELECT id FROM every WHERE ts = $1", &[&ts])
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        hits(
            c.query("SELECT id FROM every WHERE tz = $1", &[&tz])
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        hits(
            c.query("SELECT id FROM every WHERE dt = $1", &[&date])
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        hits(
            c.query("SELECT id FROM every WHERE bs = $1", &[&vec![0u8, 1, 255]])
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        hits(
            c.query(
                "SELECT id FROM every WHERE j @> $1",
                &[&serde_json::json!({"c": "d"})]
            )
            .await
            .unwrap()
        ),
        1
    );
    assert_eq!(
        hits(
            c.query(
                "SELECT id FROM every WHERE i2 = $1 AND f4 = $2",
                &[&-32768i16, &1.5f32]
            )
            .await
            .unwrap()
        ),
        1
    );
}

/// psql's describe meta-commands run without an error and print what PostgreSQL's would: the
/// columns with their declared types, defaults and nullability, indexes, check constraints,
/// foreign keys in both directions (`\d`), index details, roles (`\du`), databases (`\l`),
/// schemas, and the `+` variants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_meta_commands() {
    if !installed("psql") {
        return;
    }
    let cluster = insecure().await;
    let url = cluster.url("root", None);
    let run = |cmd: &str| {
        let out = Command::new("psql")
            .arg(&url)
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-c", cmd])
            .output()
            .expect("psql");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.is_empty(), "{cmd}: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(
        "CREATE TABLE users (id INT8 PRIMARY KEY, name VARCHAR(20) NOT NULL DEFAULT 'x', \
         city TEXT, tags TEXT[], n INT4 CONSTRAINT n_positive CHECK (n > 0), \
         balance DECIMAL(10,2) CHECK (balance >= 0))",
    );
    run("CREATE INDEX users_city_idx ON users (city)");
    run("CREATE TABLE rides (id INT8 PRIMARY KEY, user_id INT8 REFERENCES users(id))");
    run("CREATE USER alice");

    let d = run("\\d users");
    for want in [
        "Table \"public.users\"",
        " id      | bigint                |           | not null | ",
        " name    | character varying(20) |           | not null | 'x'",
        " tags    | text[]                |           |          | ",
        " n       | integer               |           |          | ",
        " balance | numeric(10,2)         |           |          | ",
        "\"users_pkey\" PRIMARY KEY, btree (id ASC)",
        "\"users_city_idx\" btree (city ASC)",
        "Check constraints:",
        "\"n_positive\" CHECK ((n > 0))",
        "\"check_balance\" CHECK ((balance >= 0))",
        "Referenced by:",
        "TABLE \"rides\" CONSTRAINT \"rides_user_id_fkey\" FOREIGN KEY (user_id) REFERENCES users(id)",
    ] {
        assert!(d.contains(want), "\\d users lacks {want:?}:\n{d}");
    }
    let d = run("\\d rides");
    assert!(d.contains("Foreign-key constraints:"), "{d}");
    assert!(
        d.contains("\"rides_user_id_fkey\" FOREIGN KEY (user_id) REFERENCES users(id)"),
        "{d}"
    );
    let d = run("\\d+ users");
    assert!(d.contains("Storage") && d.contains("extended"), "{d}");
    let d = run("\\d users_city_idx");
    assert!(d.contains("Index \"public.users_city_idx\""), "{d}");
    assert!(d.contains("btree, for table \"public.users\""), "{d}");
    let du = run("\\du");
    assert!(du.contains(" alice "), "{du}");
    assert!(du.contains(" root ") && du.contains("{admin}"), "{du}");
    let dt = run("\\dt");
    assert!(dt.contains("public | users | table | root"), "{dt}");
    let di = run("\\di");
    assert!(
        di.contains("users_city_idx | index | root  | users"),
        "{di}"
    );
    let l = run("\\l");
    assert!(l.contains("defaultdb") && l.contains("postgres"), "{l}");
    let dn = run("\\dn");
    assert!(dn.contains("public"), "{dn}");
    for cmd in ["\\dt+", "\\di+", "\\l+", "\\dn+", "\\du+", "\\d"] {
        run(cmd);
    }
    // A name that does not exist is psql's own message, not a server error.
    let out = Command::new("psql")
        .arg(&url)
        .args(["-X", "-c", "\\d nosuch"])
        .output()
        .expect("psql");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Did not find any relation named"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A large single-table scan streams: 5 MB of rows come back from a node whose statements may
/// hold 1 MiB, over the simple and the extended protocol, in key order, with range predicates,
/// LIMIT/OFFSET and computed columns; a query that must hold them all (a sort) still stops with
/// 53200 and the node keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_scans_stream_within_the_memory_budget() {
    let cluster = TestCluster::start(ClusterOptions {
        insecure: true,
        extra: vec!["--max-sql-memory=1MiB".into()],
        ..Default::default()
    })
    .await;
    let c = cluster.connect("root", None).await.expect("connect");
    c.batch_execute("CREATE TABLE big (k INT PRIMARY KEY, v STRING)")
        .await
        .unwrap();
    for chunk in 0..10 {
        c.batch_execute(&format!(
            "INSERT INTO big SELECT g, repeat('x', 1000) FROM generate_series({}, {}) AS g",
            chunk * 500 + 1,
            chunk * 500 + 500
        ))
        .await
        .unwrap();
    }
    // Simple protocol.
    let msgs = c.simple_query("SELECT * FROM big").await.expect("streamed");
    let keys: Vec<i64> = msgs
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(|k| k.parse().unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(keys, (1..=5000).collect::<Vec<i64>>());
    // Extended protocol, binary results, a computed column.
    let rows = c
        .query(
            "SELECT k, length(v) AS n FROM big WHERE k > $1",
            &[&1000i64],
        )
        .await
        .expect("streamed");
    assert_eq!(rows.len(), 4000);
    assert_eq!(rows[0].get::<_, i64>(0), 1001);
    assert!(rows.iter().all(|r| r.get::<_, i64>(1) == 1000));
    let rows = c
        .query("SELECT k FROM big WHERE k >= 2000 LIMIT 3 OFFSET 2", &[])
        .await
        .unwrap();
    let keys: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(keys, vec![2002, 2003, 2004]);
    // A sort has to hold every row: over budget.
    let err = c
        .query("SELECT * FROM big ORDER BY v DESC, k", &[])
        .await
        .expect_err("a sort holds all rows");
    assert_eq!(err.code().map(|c| c.code()), Some("53200"), "{err}");
    assert_eq!(count(&c, "big WHERE k <= 10").await, 10);
}

/// Two transactions that update two rows in opposite orders deadlock on their row locks: one
/// is restarted at once with 40001 (a detected deadlock, not a lock-wait timeout), the other then
/// commits, and
/// the table shows exactly the committed transaction's writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_lock_deadlock_restarts_one_transaction_at_once() {
    let cluster = insecure().await;
    let a = cluster.connect("root", None).await.expect("connect");
    let b = cluster.connect("root", None).await.expect("connect");
    a.batch_execute(
        "CREATE TABLE acct (id INT PRIMARY KEY, n INT); INSERT INTO acct VALUES (1, 0), (2, 0)",
    )
    .await
    .unwrap();
    a.batch_execute("BEGIN; UPDATE acct SET n = 10 WHERE id = 1")
        .await
        .unwrap();
    b.batch_execute("BEGIN; UPDATE acct SET n = 20 WHERE id = 2")
        .await
        .unwrap();
    let a = std::sync::Arc::new(a);
    let a2 = a.clone();
    let a_waits = tokio::spawn(async move {
        a2.batch_execute("UPDATE acct SET n = 11 WHERE id = 2")
            .await
    });
    // Let a queue behind b's lock before b closes the cycle.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let b_result = b.batch_execute("UPDATE acct SET n = 21 WHERE id = 1").await;
    let (winner, loser_err) = match b_result {
        Err(e) => {
            // b closed the cycle and was restarted; a gets its lock once b rolls back.
            b.batch_execute("ROLLBACK").await.unwrap();
            a_waits.await.unwrap().expect("a proceeds");
            a.batch_execute("COMMIT").await.unwrap();
            ('a', e)
        }
        Ok(()) => {
            let e = a_waits.await.unwrap().expect_err("one side must restart");
            a.batch_execute("ROLLBACK").await.unwrap();
            b.batch_execute("COMMIT").await.unwrap();
            ('b', e)
        }
    };
    assert_eq!(
        loser_err.code().map(|c| c.code()),
        Some("40001"),
        "{loser_err}"
    );
    // Detected as a deadlock, not resolved by a lock-wait timeout and a commit-time check.
    let message = loser_err
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(message.contains("deadlock detected"), "{message}");
    let rows = a
        .query("SELECT n FROM acct ORDER BY id", &[])
        .await
        .unwrap();
    let n: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    if winner == 'a' {
        assert_eq!(n, vec![10, 11]);
    } else {
        assert_eq!(n, vec![21, 20]);
    }
}

/// `[SHOW ...]` sources work over the extended protocol too: described, bound and executed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_sources_over_the_extended_protocol() {
    let cluster = insecure().await;
    let c = cluster.connect("root", None).await.expect("connect");
    c.batch_execute("CREATE TABLE shown (k INT PRIMARY KEY, v STRING, w INT)")
        .await
        .unwrap();
    let rows = c
        .query(
            "SELECT column_name FROM [SHOW COLUMNS FROM shown] WHERE column_name <> $1 ORDER BY column_name",
            &[&"v"],
        )
        .await
        .expect("extended protocol");
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, vec!["k".to_string(), "w".to_string()]);
}

/// Arrays travel in PostgreSQL's binary array format both ways: typed `Vec`s as parameters
/// (with NULL elements and empty arrays), array columns and `array_agg` results read back as
/// `Vec`s, and `= ANY($1)` infers an array parameter from the column it is compared with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_array_parameters_and_results() {
    let cluster = insecure().await;
    let c = cluster.connect("root", None).await.expect("connect");
    c.batch_execute(
        "CREATE TABLE arr (id INT PRIMARY KEY, tags STRING[], nums INT8[], fs FLOAT8[])",
    )
    .await
    .unwrap();
    let insert = c
        .prepare("INSERT INTO arr VALUES ($1, $2, $3, $4)")
        .await
        .unwrap();
    let tags = vec![Some("a b".to_string()), None, Some("{c}".to_string())];
    c.execute(&insert, &[&1i64, &tags, &vec![1i64, -2, 3], &vec![0.5f64]])
        .await
        .expect("insert arrays");
    c.execute(
        &insert,
        &[
            &2i64,
            &Vec::<String>::new(),
            &Vec::<i64>::new(),
            &None::<Vec<f64>>,
        ],
    )
    .await
    .expect("insert empty arrays");

    let r = c
        .query_one("SELECT tags, nums, fs FROM arr WHERE id = $1", &[&1i64])
        .await
        .unwrap();
    assert_eq!(r.columns()[0].type_().name(), "_text");
    assert_eq!(r.columns()[1].type_().name(), "_int8");
    assert_eq!(r.get::<_, Vec<Option<String>>>(0), tags);
    assert_eq!(r.get::<_, Vec<i64>>(1), vec![1, -2, 3]);
    assert_eq!(r.get::<_, Vec<f64>>(2), vec![0.5]);
    let r = c
        .query_one("SELECT tags, nums, fs FROM arr WHERE id = 2", &[])
        .await
        .unwrap();
    assert!(r.get::<_, Vec<String>>(0).is_empty());
    assert!(r.get::<_, Vec<i64>>(1).is_empty());
    assert_eq!(r.get::<_, Option<Vec<f64>>>(2), None);

    // The text form of the same values, over the simple protocol.
    let rows = c
        .simple_query("SELECT tags FROM arr WHERE id = 1")
        .await
        .unwrap();
    let text = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    });
    assert_eq!(text.as_deref(), Some(r#"{"a b",NULL,"{c}"}"#));

    let ids: Vec<i64> = c
        .query(
            "SELECT id FROM arr WHERE id = ANY($1) ORDER BY id",
            &[&vec![2i64, 5, 1]],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![1, 2]);
    let agg: Vec<i64> = c
        .query_one("SELECT array_agg(id ORDER BY id DESC) FROM arr", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(agg, vec![2, 1]);
    let agg: Vec<i64> = c
        .query_one(
            "SELECT array_agg(n) FROM (SELECT unnest_n AS n FROM (VALUES (3), (4)) AS v(unnest_n))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(agg, vec![3, 4]);
    // A malformed binary array is 22P03, not a panic.
    let err = c
        .query("SELECT $1::INT8[]", &[&RawArray(vec![0, 0, 0, 1])])
        .await
        .expect_err("truncated array");
    assert_eq!(err.code().map(|c| c.code()), Some("22P03"));
}

/// Bytes sent as an `int8[]` parameter as they are (to send malformed arrays).
#[derive(Debug)]
struct RawArray(Vec<u8>);

impl tokio_postgres::types::ToSql for RawArray {
    fn to_sql(
        &self,
        _ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(tokio_postgres::types::IsNull::No)
    }
    fn accepts(_ty: &tokio_postgres::types::Type) -> bool {
        true
    }
    tokio_postgres::types::to_sql_checked!();
}

/// Connections reuse parsed statements, but never across a schema change, made by themselves or
/// by another connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parsed_statements_follow_schema_changes() {
    let cluster = insecure().await;
    let a = cluster.connect("root", None).await.expect("connect");
    let b = cluster.connect("root", None).await.expect("connect");
    a.batch_execute("CREATE TABLE evolve (k INT PRIMARY KEY); INSERT INTO evolve VALUES (1)")
        .await
        .unwrap();
    let width = |rows: Vec<tokio_postgres::Row>| rows[0].len();
    assert_eq!(
        width(a.query("SELECT * FROM evolve", &[]).await.unwrap()),
        1
    );
    assert_eq!(
        width(a.query("SELECT * FROM evolve", &[]).await.unwrap()),
        1
    );
    b.batch_execute("ALTER TABLE evolve ADD COLUMN v STRING DEFAULT 'x'")
        .await
        .unwrap();
    let rows = a.query("SELECT * FROM evolve", &[]).await.unwrap();
    assert_eq!(width(rows.clone()), 2);
    assert_eq!(rows[0].get::<_, String>(1), "x");
    a.batch_execute("ALTER TABLE evolve DROP COLUMN v")
        .await
        .unwrap();
    assert_eq!(
        width(a.query("SELECT * FROM evolve", &[]).await.unwrap()),
        1
    );
    b.batch_execute("DROP TABLE evolve").await.unwrap();
    let e = a.query("SELECT * FROM evolve", &[]).await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("42P01"));
}

/// Cached table descriptors follow the catalog exactly: another connection's uncommitted schema
/// change is invisible, its commit visible to the next statement; a transaction sees its own
/// uncommitted change; a dropped and recreated table is the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_descriptors_follow_committed_schema_changes() {
    let cluster = insecure().await;
    let a = cluster.connect("root", None).await.expect("connect");
    let b = cluster.connect("root", None).await.expect("connect");
    a.batch_execute("CREATE TABLE cached (k INT PRIMARY KEY); INSERT INTO cached VALUES (1)")
        .await
        .unwrap();
    let width = |rows: Vec<tokio_postgres::SimpleQueryMessage>| {
        rows.iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.len()),
                _ => None,
            })
            .unwrap_or(0)
    };
    for _ in 0..3 {
        assert_eq!(
            width(a.simple_query("SELECT * FROM cached").await.unwrap()),
            1
        );
    }
    b.batch_execute("BEGIN; ALTER TABLE cached ADD COLUMN v INT DEFAULT 7")
        .await
        .unwrap();
    assert_eq!(
        width(b.simple_query("SELECT * FROM cached").await.unwrap()),
        2,
        "a transaction sees its own schema change"
    );
    assert_eq!(
        width(a.simple_query("SELECT * FROM cached").await.unwrap()),
        1,
        "an uncommitted schema change is invisible to others"
    );
    b.batch_execute("COMMIT").await.unwrap();
    let rows = a.simple_query("SELECT * FROM cached").await.unwrap();
    assert_eq!(width(rows), 2, "the committed change is visible at once");
    a.batch_execute("INSERT INTO cached (k) VALUES (2)")
        .await
        .unwrap();
    let v = a
        .query_one("SELECT v FROM cached WHERE k = 2", &[])
        .await
        .unwrap();
    assert_eq!(
        v.get::<_, i64>(0),
        7,
        "inserts use the new column's default"
    );
    b.batch_execute("DROP TABLE cached; CREATE TABLE cached (name STRING PRIMARY KEY)")
        .await
        .unwrap();
    a.batch_execute("INSERT INTO cached VALUES ('new')")
        .await
        .unwrap();
    let n = a
        .query_one("SELECT count(*) FROM cached", &[])
        .await
        .unwrap();
    assert_eq!(n.get::<_, i64>(0), 1);
}
