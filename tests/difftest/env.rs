//! The two systems under comparison: a throwaway PostgreSQL 15 and a single tandem node
//! (`start-single-node --insecure` on ephemeral ports, through the tests' `TestCluster`), with
//! one database per worker on each. A tandem node that died is restarted (its store survives;
//! its address changes) so that a run goes on after a crash; both are stopped when dropped.

use std::time::Duration;

use tokio_postgres::Client;

use super::conn::{Outcome, run};
use super::pg::{self, PgServer};
use crate::common::{ClusterOptions, TestCluster, connect_url};

/// CockroachDB's DECIMAL division in PostgreSQL, created in every test database: the quotient
/// rounded (half away from zero, as CockroachDB's decimal context) to 20 significant digits.
/// PostgreSQL's own `/` keeps at least 16 significant digits by its scale rule.
pub const CRDB_DIV: &str = "CREATE FUNCTION crdb_div(a NUMERIC, b NUMERIC) RETURNS NUMERIC \
    LANGUAGE SQL IMMUTABLE STRICT AS $$ \
    SELECT CASE WHEN q = 0 THEN 0::NUMERIC ELSE round(q, 19 - floor(log(abs(q)))::INT) END \
    FROM (SELECT round(a, 80) / b AS q) s $$";

pub struct Env {
    pub pg: PgServer,
    cluster: tokio::sync::Mutex<TestCluster>,
    /// tandem's SQL URL for `defaultdb`; changes when the node restarts.
    url: std::sync::Mutex<String>,
    /// How many times the node was restarted.
    restarts: std::sync::atomic::AtomicU64,
}

/// What a lost connection meant.
pub enum Loss {
    /// The node died (and was restarted): the tail of its log.
    Died(String),
    /// The node was restarted after the statement started: another session's statement killed
    /// it; the statement deserves a retry.
    Collateral,
    /// The node closed the connection but is still running.
    Dropped,
}

impl Env {
    /// Starts both; `Err` with the reason when PostgreSQL 15 is not installed (the caller skips).
    pub async fn start() -> Result<Env, String> {
        let bindir = pg::find()?;
        let pg = PgServer::start(&bindir).unwrap_or_else(|e| panic!("{e}"));
        let cluster = TestCluster::start(ClusterOptions {
            insecure: true,
            ..Default::default()
        })
        .await;
        let url = cluster.url("root", None);
        Ok(Env {
            pg,
            cluster: tokio::sync::Mutex::new(cluster),
            url: std::sync::Mutex::new(url),
            restarts: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn tandem_url(&self, db: &str) -> String {
        let url = self.url.lock().unwrap_or_else(|e| e.into_inner()).clone();
        url.replacen("/defaultdb?", &format!("/{db}?"), 1)
    }

    /// Connects to tandem's database `db`; a node found dead meanwhile is restarted first.
    pub async fn tandem(&self, db: &str) -> Result<Client, String> {
        let mut last = String::new();
        for _ in 0..3 {
            match connect_url(&self.tandem_url(db)).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
            self.check_node().await;
        }
        Err(last)
    }

    /// Runs `sql` on tandem through `client` (reconnected to `db` when lost). A statement
    /// whose connection is lost runs once more after the node is back: when another session's
    /// statement killed the node, the retry succeeds and nothing is reported; the loss is
    /// returned only when the retry is lost too.
    pub async fn run_tandem(
        &self,
        client: &mut Client,
        db: &str,
        sql: &str,
        timeout: Duration,
    ) -> (Outcome, Option<Loss>) {
        let mut attempt = 0;
        loop {
            let generation = self.generation();
            let o = run(client, sql, timeout).await;
            if !matches!(o, Outcome::Lost(_)) {
                return (o, None);
            }
            let loss = self.after_loss(generation).await;
            if let Ok(c) = self.tandem(db).await {
                *client = c;
            }
            attempt += 1;
            if attempt == 2 {
                return (o, Some(loss));
            }
        }
    }

    pub async fn postgres(&self, db: &str) -> Client {
        self.pg
            .connect(db)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", self.pg.log()))
    }

    /// Creates database `db` afresh on both.
    pub async fn create_db(&self, db: &str) {
        let t = self.tandem("defaultdb").await.expect("connect to tandem");
        let p = self.postgres("postgres").await;
        let t_sql = format!("DROP DATABASE IF EXISTS {db} CASCADE");
        let p_sql = format!("DROP DATABASE IF EXISTS {db}");
        let to = Duration::from_secs(60);
        for (c, sql) in [(&t, t_sql), (&p, p_sql)] {
            let o = run(c, &sql, to).await;
            assert!(o.is_ok(), "{sql}: {}", o.brief());
        }
        for c in [&t, &p] {
            let sql = format!("CREATE DATABASE {db}");
            let o = run(c, &sql, to).await;
            assert!(o.is_ok(), "{sql}: {}", o.brief());
        }
        let p = self.postgres(db).await;
        let o = run(&p, CRDB_DIV, to).await;
        assert!(o.is_ok(), "{CRDB_DIV}: {}", o.brief());
    }

    /// Drops database `db` on both (PostgreSQL's even with sessions still open).
    pub async fn drop_db(&self, db: &str) {
        let to = Duration::from_secs(60);
        if let Ok(t) = self.tandem("defaultdb").await {
            let _ = run(&t, &format!("DROP DATABASE IF EXISTS {db} CASCADE"), to).await;
        }
        let p = self.postgres("postgres").await;
        let _ = run(
            &p,
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            to,
        )
        .await;
    }

    /// After a lost connection: whether the node had died (then it is restarted) and the tail
    /// of its log. A dying process closes its sockets before it can be reaped, so the process
    /// gets two seconds to be seen exiting before the node counts as alive.
    pub async fn check_node(&self) -> (bool, String) {
        let mut cluster = self.cluster.lock().await;
        let node = &mut cluster.nodes[0];
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        let exited = loop {
            let st = node
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if st.is_some() || std::time::Instant::now() >= deadline {
                break st;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let log = node.log_text();
        let tail: Vec<&str> = log.lines().rev().take(12).collect();
        let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
        let died = exited.is_some();
        if let Some(status) = exited {
            eprintln!("tandem exited ({status}); restarting it. Log tail:\n{tail}");
            node.restart().await;
            *self.url.lock().unwrap_or_else(|e| e.into_inner()) = cluster.url("root", None);
            self.restarts
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        (died, tail)
    }

    /// The number of restarts so far (read before a statement, for [`Env::after_loss`]).
    pub fn generation(&self) -> u64 {
        self.restarts.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Classifies a lost connection of a statement started at restart generation `before`.
    pub async fn after_loss(&self, before: u64) -> Loss {
        let (died, tail) = self.check_node().await;
        if died {
            Loss::Died(tail)
        } else if self.generation() != before {
            Loss::Collateral
        } else {
            Loss::Dropped
        }
    }

    /// Whether the node process is still running.
    pub async fn node_running(&self) -> bool {
        let mut cluster = self.cluster.lock().await;
        cluster.nodes[0]
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

/// Runs a statement on both systems at once.
pub async fn both(
    t: &Client,
    p: &Client,
    t_sql: &str,
    p_sql: &str,
    timeout: Duration,
) -> (Outcome, Outcome) {
    tokio::join!(run(t, t_sql, timeout), run(p, p_sql, timeout))
}
