//! The sqllogictest suite: every `tests/slt/*.slt` file runs, through the `sqllogictest` crate's
//! runner, against a real `tandem start-single-node --insecure` process over pgwire (one node per
//! file, so files are isolated from each other and can run in parallel).
//!
//! Statements go through the simple query protocol, so every value comes back as text: `NULL`
//! is shown as `NULL` and the empty string as `(empty)`. Errors display as
//! `db error: ERROR: <message> (SQLSTATE <code>)` and report their SQLSTATE to the runner, so a
//! file can expect an error by state (`statement error (42P01)`) or by a regex over the message
//! (`statement error relation .* does not exist`). The number of type letters of a `query`
//! record must match the number of result columns (the letters themselves are not checked: the
//! simple protocol carries no column types).
//!
//! A `connection <name>` record opens another session on the same node (same database).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{ClusterOptions, TestCluster, connect_url};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use tokio_postgres::SimpleQueryMessage;

/// An error from the node (or the connection), with its SQLSTATE when the server sent one.
#[derive(Debug)]
struct SqlError {
    message: String,
    sqlstate: Option<String>,
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqlError {}

impl From<tokio_postgres::Error> for SqlError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => SqlError {
                message: format!(
                    "db error: {}: {} (SQLSTATE {})",
                    db.severity(),
                    db.message(),
                    db.code().code()
                ),
                sqlstate: Some(db.code().code().to_string()),
            },
            None => SqlError {
                message: e.to_string(),
                sqlstate: None,
            },
        }
    }
}

/// One pgwire session of the node under test.
struct Tandem {
    client: tokio_postgres::Client,
}

impl Tandem {
    async fn connect(url: &str) -> Result<Tandem, SqlError> {
        let client = connect_url(url).await.map_err(|message| SqlError {
            message,
            sqlstate: None,
        })?;
        Ok(Tandem { client })
    }
}

#[async_trait::async_trait]
impl AsyncDB for Tandem {
    type Error = SqlError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        let messages = tokio::time::timeout(Duration::from_secs(30), self.client.simple_query(sql))
            .await
            .map_err(|_| SqlError {
                message: format!("statement timed out after 30s: {sql}"),
                sqlstate: None,
            })??;
        // The last statement of the string decides the output: its rows if it returned a row
        // description, otherwise its row count.
        let mut columns: Option<usize> = None;
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut count = 0u64;
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(cols) => {
                    columns = Some(cols.len());
                    rows.clear();
                }
                SimpleQueryMessage::Row(row) => {
                    columns.get_or_insert(row.len());
                    rows.push(
                        (0..row.len())
                            .map(|i| match row.get(i) {
                                None => "NULL".to_string(),
                                Some("") => "(empty)".to_string(),
                                Some(v) => v.to_string(),
                            })
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        Ok(match columns {
            Some(n) => DBOutput::Rows {
                types: vec![DefaultColumnType::Any; n],
                rows,
            },
            None => DBOutput::StatementComplete(count),
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "tandem"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }

    fn error_sql_state(err: &SqlError) -> Option<String> {
        err.sqlstate.clone()
    }
}

/// Same number of columns as type letters (the simple protocol carries no types to compare).
#[allow(clippy::ptr_arg)] // the signature is sqllogictest's `ColumnTypeValidator`
fn column_count_validator(
    actual: &Vec<DefaultColumnType>,
    expected: &Vec<DefaultColumnType>,
) -> bool {
    actual.len() == expected.len()
}

fn slt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt")
}

/// Starts a node, runs `tests/slt/<name>.slt` against it and panics with the runner's report
/// (the expected/actual diff and the file location) on the first mismatch.
async fn run_slt(name: &str) {
    let path = slt_dir().join(format!("{name}.slt"));
    assert!(path.exists(), "missing {}", path.display());
    let mut cluster = TestCluster::start(ClusterOptions {
        insecure: true,
        ..Default::default()
    })
    .await;
    let url = cluster.url("root", None);
    // Fail fast with the node's log if it does not accept connections.
    if let Err(e) = Tandem::connect(&url).await {
        panic!(
            "cannot connect to {url}: {e}\n{}",
            cluster.node().log_text()
        );
    }
    let mut runner = Runner::new(move || {
        let url = url.clone();
        async move { Tandem::connect(&url).await }
    });
    runner.with_column_validator(column_count_validator);
    runner.add_label("tandem");
    let result = runner.run_file_async(&path).await;
    runner.shutdown_async().await;
    if let Err(e) = result {
        // A node that died mid-file explains the failure better than the diff does.
        let node = &mut cluster.nodes[0];
        let exited = node
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        match exited {
            Some(status) => panic!(
                "{}\nthe node exited ({status}); its log:\n{}",
                e.display(false),
                node.log_text()
            ),
            None => panic!("{}", e.display(false)),
        }
    }
}

macro_rules! slt_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                run_slt(stringify!($name)).await;
            }
        )*

        /// Every `.slt` file has a test above (a new file must be added to the list).
        #[test]
        fn every_slt_file_is_listed() {
            let listed: &[&str] = &[$(stringify!($name)),*];
            let mut missing = Vec::new();
            for entry in std::fs::read_dir(slt_dir()).expect("tests/slt") {
                let path = entry.expect("dir entry").path();
                if path.extension().is_some_and(|e| e == "slt") {
                    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
                    if !listed.contains(&stem.as_str()) {
                        missing.push(stem);
                    }
                }
            }
            assert!(missing.is_empty(), "add these files to slt_tests!: {missing:?}");
        }
    };
}

slt_tests!(
    ddl,
    dml,
    select,
    joins,
    aggregates,
    subqueries,
    txn,
    users_settings,
    types,
    functions,
    constraints,
    catalogs,
    index_selection,
    window,
    schemas,
    arrays,
    table_functions,
    numeric_semantics,
    index_order_like,
    fk_actions,
    upsert,
    drop_truncate,
    limits,
    txn_modes,
    difftest_found,
    locking,
    alter_primary_key,
);
