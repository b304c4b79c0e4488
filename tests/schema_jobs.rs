//! Schema changes as jobs on a real node: backfills (indexes, primary keys, columns with a
//! default) run in batches under a `SCHEMA CHANGE` job while the table stays readable and
//! writable, drops return at once and leave the deletion to a
//! `SCHEMA CHANGE GC` job, SHOW JOBS shows both with their progress, and a node stopped by
//! SIGTERM during a backfill exits promptly and resumes the job when it starts again.
//!
//! `bulkio.index_backfill.batch_size` is set to a few hundred rows so that 50,000 rows take
//! many batches.

mod common;

use common::{ClusterOptions, TestCluster, rows, succeeds_soon};
use std::time::{Duration, Instant};
use tokio_postgres::Client;

const ROWS: i64 = 50_000;

async fn start() -> (TestCluster, Client) {
    let c = TestCluster::start(ClusterOptions {
        insecure: true,
        ..Default::default()
    })
    .await;
    let db = c.connect("root", None).await.expect("connect");
    db.batch_execute("SET CLUSTER SETTING bulkio.index_backfill.batch_size = 400")
        .await
        .expect("batch size");
    (c, db)
}

/// Fills `t (k INT, v INT)` with k = 1..ROWS, v = 2k.
async fn fill(db: &Client, t: &str) {
    for lo in (1..=ROWS).step_by(10_000) {
        db.batch_execute(&format!(
            "INSERT INTO {t} SELECT i, i * 2 FROM generate_series({lo}, {}) AS g(i)",
            lo + 9_999
        ))
        .await
        .expect("fill");
    }
}

/// The jobs of `job_type` as (description, status, fraction, error).
async fn jobs(db: &Client, job_type: &str) -> Vec<(String, String, f64, String)> {
    db.query(
        "SELECT description, status, fraction_completed::STRING, error FROM [SHOW JOBS] WHERE job_type = $1",
        &[&job_type],
    )
    .await
    .expect("show jobs")
    .iter()
    .map(|r| {
        let f: String = r.get(2);
        (r.get(0), r.get(1), f.parse().expect("fraction"), r.get(3))
    })
    .collect()
}

/// Writes rows k > ROWS (and updates old ones) on a second connection until `stop`; returns
/// the keys written.
fn writer(
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Vec<i64>> {
    tokio::spawn(async move {
        let db = common::connect_url(&url).await.expect("writer connect");
        let mut written = Vec::new();
        let mut k = ROWS + 1;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let r = db
                .batch_execute(&format!(
                    "INSERT INTO t VALUES ({k}, {}); UPDATE t SET v = v WHERE k = {}",
                    k * 2,
                    k % ROWS + 1
                ))
                .await;
            if r.is_ok() {
                written.push(k);
                k += 1;
            }
            // A count while the backfill runs: the table stays readable.
            let n: i64 = db
                .query_one("SELECT count(*) FROM t", &[])
                .await
                .expect("read during backfill")
                .get(0);
            assert!(n >= ROWS, "rows went missing during the backfill: {n}");
        }
        written
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_index_backfills_in_batches_while_the_table_is_written() {
    let (c, db) = start().await;
    db.batch_execute("CREATE TABLE t (k INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    fill(&db, "t").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let w = writer(c.url("root", None), stop.clone());
    // Progress is visible while the job runs.
    let watcher = {
        let db = c.connect("root", None).await.unwrap();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..400 {
                for (_, status, f, _) in jobs(&db, "SCHEMA CHANGE").await {
                    if status == "running" {
                        seen.push(f);
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            seen
        })
    };
    db.batch_execute("CREATE INDEX t_v_idx ON t (v)")
        .await
        .expect("create index");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = w.await.unwrap();
    watcher.abort();
    assert!(
        !written.is_empty(),
        "no write went through during the backfill"
    );
    let j = jobs(&db, "SCHEMA CHANGE").await;
    assert_eq!(j.len(), 1, "{j:?}");
    assert_eq!(j[0].0, "CREATE INDEX t_v_idx ON t (v)");
    assert_eq!((j[0].1.as_str(), j[0].2), ("succeeded", 1.0));
    // The index is used and complete: old rows and the ones written during the backfill.
    let plan = rows(&db, "EXPLAIN SELECT k FROM t WHERE v = 4").await;
    assert!(format!("{plan:?}").contains("t_v_idx"), "{plan:?}");
    for k in [1, 777, ROWS / 2, ROWS]
        .into_iter()
        .chain(written.iter().copied())
    {
        let got = rows(&db, &format!("SELECT k FROM t WHERE v = {}", k * 2)).await;
        assert_eq!(got, vec![vec![k.to_string()]], "v = {}", k * 2);
    }
}

/// Polls SHOW JOBS on its own connection until `stop`; returns the fractions seen on running
/// `SCHEMA CHANGE` jobs.
fn watch_progress(
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Vec<f64>> {
    tokio::spawn(async move {
        let db = common::connect_url(&url).await.expect("watcher connect");
        let mut seen = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            for (_, status, f, _) in jobs(&db, "SCHEMA CHANGE").await {
                if status == "running" {
                    seen.push(f);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        seen
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_column_with_a_default_fills_rows_in_batches_while_the_table_is_written() {
    let (c, db) = start().await;
    db.batch_execute("CREATE TABLE t (k INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    fill(&db, "t").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let w = writer(c.url("root", None), stop.clone());
    let watcher = watch_progress(c.url("root", None), stop.clone());
    db.batch_execute("ALTER TABLE t ADD COLUMN d INT NOT NULL DEFAULT 7")
        .await
        .expect("add column");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = w.await.unwrap();
    let seen = watcher.await.unwrap();
    assert!(
        !written.is_empty(),
        "no write went through during the backfill"
    );
    assert!(
        seen.iter().any(|f| *f > 0.0 && *f < 1.0),
        "no progress seen in SHOW JOBS: {seen:?}"
    );
    let j = jobs(&db, "SCHEMA CHANGE").await;
    assert_eq!(j.len(), 1, "{j:?}");
    assert!(j[0].0.starts_with("ALTER TABLE t ADD COLUMN d"), "{j:?}");
    assert_eq!((j[0].1.as_str(), j[0].2), ("succeeded", 1.0));
    // Every row has the value: the old ones and those written during the backfill.
    let total = (ROWS + written.len() as i64).to_string();
    assert_eq!(
        rows(&db, "SELECT count(*), count(*) FILTER (WHERE d = 7) FROM t").await,
        vec![vec![total.clone(), total.clone()]]
    );
    // A volatile default: one value per row.
    db.batch_execute("ALTER TABLE t ADD COLUMN u UUID DEFAULT gen_random_uuid()")
        .await
        .expect("add uuid column");
    assert_eq!(
        rows(&db, "SELECT count(DISTINCT u) FROM t").await,
        vec![vec![total.clone()]]
    );
    // NULL for some rows of a NOT NULL column: 23502, and the table is as before.
    let err = db
        .batch_execute(
            "ALTER TABLE t ADD COLUMN e INT NOT NULL DEFAULT CASE WHEN random() < 0.01 THEN NULL ELSE 1 END",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23502"), "{err}");
    let err = db.batch_execute("SELECT e FROM t").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42703"), "{err}");
    db.batch_execute("INSERT INTO t (k, v) VALUES (0, 0)")
        .await
        .expect("insert after the failed change");
    assert_eq!(
        rows(&db, "SELECT d FROM t WHERE k = 0").await,
        vec![vec!["7".to_string()]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_primary_key_rekeys_in_batches_and_rejects_duplicates() {
    let (c, db) = start().await;
    db.batch_execute("CREATE TABLE t (k INT NOT NULL, v INT); CREATE TABLE d (k INT NOT NULL)")
        .await
        .unwrap();
    // Loaded in one transaction, as pgbench -i's COPY does: the key change starts while the
    // load's intents are still being resolved, and SHOW JOBS shows it with its progress.
    db.batch_execute(&format!(
        "INSERT INTO t SELECT i, i * 2 FROM generate_series(1, {ROWS}) AS g(i)"
    ))
    .await
    .expect("load");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let w = writer(c.url("root", None), stop.clone());
    let watcher = watch_progress(c.url("root", None), stop.clone());
    db.batch_execute("ALTER TABLE t ADD PRIMARY KEY (k)")
        .await
        .expect("add primary key");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = w.await.unwrap();
    let seen = watcher.await.unwrap();
    assert!(
        seen.iter().any(|f| *f > 0.0 && *f < 1.0),
        "no progress seen in SHOW JOBS: {seen:?}"
    );
    let total = ROWS + written.len() as i64;
    let n = rows(&db, "SELECT count(*) FROM t").await;
    assert_eq!(n, vec![vec![total.to_string()]]);
    let err = db
        .batch_execute("INSERT INTO t VALUES (5, 0)")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23505"), "{err}");
    let plan = rows(&db, "EXPLAIN SELECT v FROM t WHERE k = 5").await;
    assert!(!format!("{plan:?}").contains("full scan"), "{plan:?}");
    assert_eq!(
        rows(&db, "SELECT v FROM t WHERE k = 12345").await,
        vec![vec!["24690".to_string()]]
    );
    // Duplicates: the job fails with 23505 and the table is as before.
    db.batch_execute(
        "INSERT INTO d SELECT i FROM generate_series(1, 3000) AS g(i); INSERT INTO d VALUES (42)",
    )
    .await
    .unwrap();
    let err = db
        .batch_execute("ALTER TABLE d ADD PRIMARY KEY (k)")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23505"), "{err}");
    db.batch_execute("INSERT INTO d VALUES (42)").await.unwrap();
    assert_eq!(
        rows(&db, "SELECT count(*) FROM d").await,
        vec![vec!["3002".to_string()]]
    );
    let j = jobs(&db, "SCHEMA CHANGE").await;
    assert_eq!(j.len(), 2, "{j:?}");
    assert_eq!(j[0].1, "succeeded");
    assert_eq!(j[1].1, "failed");
    assert!(j[1].3.contains("duplicate key"), "{j:?}");
}

/// ALTER PRIMARY KEY on a table with a declared key and a secondary index: the job re-keys the
/// rows while a writer inserts and updates, the old key stays unique through `t_k_key`, the
/// secondary index is rebuilt under the new key, and the new key's order is the scan order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alter_primary_key_rekeys_online_and_keeps_the_old_key_unique() {
    let (c, db) = start().await;
    db.batch_execute(
        "CREATE TABLE t (k INT PRIMARY KEY, v INT NOT NULL, w INT); CREATE INDEX t_w_idx ON t (w)",
    )
    .await
    .unwrap();
    fill(&db, "t").await;
    db.batch_execute("UPDATE t SET w = k % 100 WHERE k <= 1000")
        .await
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let w = writer(c.url("root", None), stop.clone());
    let watcher = watch_progress(c.url("root", None), stop.clone());
    db.batch_execute("ALTER TABLE t ALTER PRIMARY KEY USING COLUMNS (v DESC)")
        .await
        .expect("alter primary key");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = w.await.unwrap();
    let seen = watcher.await.unwrap();
    assert!(
        seen.iter().any(|f| *f > 0.0 && *f < 1.0),
        "no progress seen in SHOW JOBS: {seen:?}"
    );
    let j = jobs(&db, "SCHEMA CHANGE").await;
    assert!(
        j.iter().any(|(d, s, ..)| s == "succeeded"
            && d == "ALTER TABLE t ALTER PRIMARY KEY USING COLUMNS (v DESC)"),
        "{j:?}"
    );
    let total = ROWS + written.len() as i64;
    assert_eq!(
        rows(&db, "SELECT count(*), count(DISTINCT k), max(v) FROM t").await,
        vec![vec![
            total.to_string(),
            total.to_string(),
            (2 * (ROWS + written.len() as i64)).to_string()
        ]]
    );
    // The new key's order is the primary index's: descending v.
    assert_eq!(
        rows(&db, "SELECT k FROM t LIMIT 2").await,
        vec![vec![total.to_string()], vec![(total - 1).to_string()]]
    );
    let create = rows(&db, "SELECT create_statement FROM [SHOW CREATE TABLE t]").await;
    let create = &create[0][0];
    assert!(
        create.contains("CONSTRAINT t_pkey PRIMARY KEY (v DESC)")
            && create.contains("UNIQUE INDEX t_k_key (k ASC)")
            && create.contains("INDEX t_w_idx (w ASC)"),
        "{create}"
    );
    for (sql, code) in [
        ("INSERT INTO t VALUES (7, 1, 0)", "23505"),
        ("INSERT INTO t VALUES (-7, 14, 0)", "23505"),
    ] {
        let err = db.batch_execute(sql).await.unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some(code), "{sql}: {err}");
    }
    for (sql, want) in [
        ("SELECT v FROM t WHERE k = 12345", "24690"),
        ("SELECT k FROM t WHERE v = 24690", "12345"),
        ("SELECT count(*) FROM t WHERE w = 7", "10"),
    ] {
        assert_eq!(rows(&db, sql).await, vec![vec![want.to_string()]], "{sql}");
        let plan = rows(&db, &format!("EXPLAIN {sql}")).await;
        assert!(
            !format!("{plan:?}").contains("full scan"),
            "{sql}: {plan:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drop_and_truncate_return_at_once_and_gc_deletes_the_data() {
    let (mut c, db) = start().await;
    db.batch_execute("CREATE TABLE t (k INT PRIMARY KEY, v INT); CREATE INDEX ON t (v); CREATE TABLE u (k INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    fill(&db, "t").await;
    fill(&db, "u").await;
    let ids: Vec<i64> = rows(
        &db,
        "SELECT 't'::regclass::oid UNION ALL SELECT 'u'::regclass::oid",
    )
    .await
    .iter()
    .map(|r| r[0].parse().unwrap())
    .collect();
    let t0 = Instant::now();
    db.batch_execute("DROP TABLE t").await.unwrap();
    let drop_took = t0.elapsed();
    let t0 = Instant::now();
    db.batch_execute("TRUNCATE u").await.unwrap();
    let truncate_took = t0.elapsed();
    assert!(
        drop_took < Duration::from_secs(2),
        "DROP took {drop_took:?}"
    );
    assert!(
        truncate_took < Duration::from_secs(2),
        "TRUNCATE took {truncate_took:?}"
    );
    assert_eq!(
        rows(&db, "SELECT count(*) FROM u").await,
        vec![vec!["0".to_string()]]
    );
    db.batch_execute("INSERT INTO u VALUES (1, 2)")
        .await
        .unwrap();
    succeeds_soon("GC jobs done", Duration::from_secs(120), || async {
        let j = jobs(&db, "SCHEMA CHANGE GC").await;
        (j.len() == 2 && j.iter().all(|x| x.1 == "succeeded" && x.2 == 1.0)).then_some(())
    })
    .await;
    // Read the store itself: only u's new row is left of either table.
    drop(db);
    c.nodes[0].terminate();
    let store = tandem::kv::Store::open(&c.nodes[0].store, tandem::settings::KvSettings::default())
        .expect("open store");
    for id in ids {
        let span =
            tandem::sql::schema_jobs::whole_table_span(tandem::ids::TenantId::SYSTEM, id as u32);
        let mut txn = store.begin();
        let left = txn.scan(&span, usize::MAX).await.expect("scan");
        txn.rollback();
        assert!(left.len() <= 1, "table {id}: {} keys left", left.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_a_backfill_stops_the_node_and_the_job_resumes() {
    let (mut c, db) = start().await;
    db.batch_execute("SET CLUSTER SETTING bulkio.index_backfill.batch_size = 100; CREATE TABLE t (k INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    fill(&db, "t").await;
    let url = c.url("root", None);
    let ddl = tokio::spawn(async move {
        let db = common::connect_url(&url).await.unwrap();
        db.batch_execute("CREATE UNIQUE INDEX t_v_key ON t (v)")
            .await
    });
    succeeds_soon("backfill under way", Duration::from_secs(60), || async {
        let j = jobs(&db, "SCHEMA CHANGE").await;
        j.iter()
            .any(|x| x.1 == "running" && x.2 > 0.0)
            .then_some(())
    })
    .await;
    drop(db);
    let t0 = Instant::now();
    assert_eq!(c.nodes[0].terminate(), Some(0), "exit code");
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(15), "SIGTERM took {took:?}");
    assert!(
        ddl.await.unwrap().is_err(),
        "the statement cannot succeed on a stopped node"
    );
    c.nodes[0].restart().await;
    let db = c.connect("root", None).await.unwrap();
    succeeds_soon("job resumed and done", Duration::from_secs(180), || async {
        let j = jobs(&db, "SCHEMA CHANGE").await;
        (j.len() == 1 && j[0].1 == "succeeded").then_some(())
    })
    .await;
    assert_eq!(
        rows(&db, "SELECT k FROM t WHERE v = 2468").await,
        vec![vec!["1234".to_string()]]
    );
    let err = db
        .batch_execute("INSERT INTO t VALUES (0, 2468)")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23505"), "{err}");
}
