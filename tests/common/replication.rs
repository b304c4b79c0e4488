//! `ReplicationClusters`: a primary (`replication-source` profile) and a standby
//! (`replication-target`) tandem process, each with its own CA, on ephemeral loopback ports,
//! plus the helpers physical replication tests share (text queries, replication status,
//! fingerprints, waiting for states).

#![allow(dead_code)]

use super::{ClusterOptions, TestCluster, TestNode, connect_url, succeeds_soon};
use std::time::Duration;

/// A primary and a standby.
pub struct ReplicationClusters {
    /// The primary.
    pub primary: TestCluster,
    /// The standby.
    pub standby: TestCluster,
    /// The replication user's password on the primary.
    pub repl_password: String,
}

/// Rows of a simple query as text (`None` for NULL).
pub async fn rows(c: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    try_rows(c, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Like [`rows`], returning the error message.
pub async fn try_rows(
    c: &tokio_postgres::Client,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, String> {
    let msgs = c
        .simple_query(sql)
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        })?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).map(String::from))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .collect())
}

/// The single value of a query.
pub async fn value(c: &tokio_postgres::Client, sql: &str) -> Option<String> {
    let r = rows(c, sql).await;
    assert_eq!(r.len(), 1, "{sql}: expected one row, got {r:?}");
    r[0][0].clone()
}

impl ReplicationClusters {
    /// Starts both clusters and creates the replication user `repl` on the primary.
    pub async fn start() -> ReplicationClusters {
        Self::start_nodes(1, 1).await
    }

    /// [`ReplicationClusters::start`] with clusters of several nodes (`tandem start --join` +
    /// `tandem init`; one node means `start-single-node`).
    pub async fn start_nodes(primary_nodes: usize, standby_nodes: usize) -> ReplicationClusters {
        let cluster = |n: usize, profile: &'static str| async move {
            let opts = ClusterOptions {
                profile,
                ..Default::default()
            };
            if n == 1 {
                TestCluster::start(opts).await
            } else {
                let c = TestCluster::start_nodes(n, opts).await;
                // Every range has its three voters before a test kills a node.
                c.wait_fully_replicated().await;
                c
            }
        };
        let primary = cluster(primary_nodes, "replication-source").await;
        let standby = cluster(standby_nodes, "replication-target").await;
        // The standby trusts the primary's CA through a copy in its certs directory.
        let (pc, sc) = (
            primary.certs.clone().expect("certs"),
            standby.certs.clone().expect("certs"),
        );
        std::fs::copy(pc.join("ca.crt"), sc.join("ca_primary.crt")).expect("copy primary CA");
        let c = ReplicationClusters {
            primary,
            standby,
            repl_password: "repl-secret-1".into(),
        };
        let sys = c.primary_sys().await;
        sys.batch_execute(&format!(
            "CREATE USER repl WITH PASSWORD '{}'; GRANT SYSTEM REPLICATION TO repl",
            c.repl_password
        ))
        .await
        .expect("create replication user");
        c
    }

    /// The primary's SQL port.
    pub fn primary_port(&self) -> String {
        port_of(&self.primary.node().sql_addr)
    }

    /// The source URI the standby uses: the `repl` user over verify-full TLS, trusting the
    /// primary's CA through `ca_primary.crt` (relative to the standby's `--certs-dir`).
    pub fn source_uri(&self) -> String {
        self.source_uri_with("repl", &self.repl_password, "ca_primary.crt")
    }

    /// A source URI with other credentials or root certificate.
    pub fn source_uri_with(&self, user: &str, password: &str, rootcert: &str) -> String {
        self.source_uri_at(&self.primary_port(), user, password, rootcert)
    }

    /// A source URI through another port (a proxy in front of the primary).
    pub fn source_uri_at(&self, port: &str, user: &str, password: &str, rootcert: &str) -> String {
        format!(
            "postgresql://{user}:{password}@localhost:{port}/defaultdb?options=-ccluster%3Dsystem&sslmode=verify-full&sslrootcert={rootcert}"
        )
    }

    /// Root on the primary's system virtual cluster.
    pub async fn primary_sys(&self) -> tokio_postgres::Client {
        self.primary
            .connect("root", Some("system"))
            .await
            .expect("primary system")
    }

    /// Root on the primary's application virtual cluster.
    pub async fn primary_app(&self) -> tokio_postgres::Client {
        self.primary
            .connect("root", Some("application"))
            .await
            .expect("primary application")
    }

    /// Root on the standby's system virtual cluster.
    pub async fn standby_sys(&self) -> tokio_postgres::Client {
        self.standby
            .connect("root", Some("system"))
            .await
            .expect("standby system")
    }

    /// Root on a standby virtual cluster (after failover).
    pub async fn standby_vc(&self, name: &str) -> Result<tokio_postgres::Client, String> {
        self.standby.connect("root", Some(name)).await
    }

    /// Starts replicating the primary's `application` into the standby's `dest`.
    pub async fn start_replication(&self, dest: &str) {
        let c = self.standby_sys().await;
        c.batch_execute(&format!(
            "CREATE VIRTUAL CLUSTER {dest} LIKE template FROM REPLICATION OF application ON '{}'",
            self.source_uri()
        ))
        .await
        .unwrap_or_else(|e| panic!("CREATE ... FROM REPLICATION: {e:?}"));
    }

    /// `(status, replicated_time as text or NULL)` of the standby's `dest`.
    pub async fn status(&self, c: &tokio_postgres::Client, dest: &str) -> (String, Option<String>) {
        let r = rows(
            c,
            &format!(
                "SELECT status, replicated_time FROM [SHOW VIRTUAL CLUSTER {dest} WITH REPLICATION STATUS]"
            ),
        )
        .await;
        (r[0][0].clone().unwrap_or_default(), r[0][1].clone())
    }

    /// Waits until `dest` is replicating with a replicated time at or after `after` (a
    /// timestamp text, e.g. the primary's `now()` after some writes).
    pub async fn wait_replicated_past(&self, dest: &str, after: &str) {
        let c = self.standby_sys().await;
        let sql = format!(
            "SELECT status, replicated_time >= '{after}'::TIMESTAMPTZ FROM [SHOW VIRTUAL CLUSTER {dest} WITH REPLICATION STATUS]"
        );
        succeeds_soon(
            "replicated time to advance",
            Duration::from_secs(60),
            || {
                let (c, sql) = (&c, &sql);
                async move {
                    // A cluster created through another node shows up here within a second.
                    let r = try_rows(c, sql).await.ok()?;
                    (r[0][0].as_deref() == Some("replicating") && r[0][1].as_deref() == Some("t"))
                        .then_some(())
                }
            },
        )
        .await;
    }

    /// Waits until `dest`'s status is `replication error: <reason>`; returns it.
    pub async fn wait_replication_error(&self, dest: &str) -> String {
        let c = self.standby_sys().await;
        let sql =
            format!("SELECT status FROM [SHOW VIRTUAL CLUSTER {dest} WITH REPLICATION STATUS]");
        succeeds_soon("replication error", Duration::from_secs(30), || {
            let (c, sql) = (&c, &sql);
            async move {
                let r = rows(c, sql).await;
                r[0][0]
                    .clone()
                    .filter(|s| s.starts_with("replication error"))
            }
        })
        .await
    }

    /// Fails `dest` over to the latest replicated time, waits until it is `ready`, and asserts
    /// that the primary's `application` and `dest` have equal fingerprints at the cutover time,
    /// which it returns.
    pub async fn fail_over_to_latest(&self, dest: &str) -> String {
        let ssys = self.standby_sys().await;
        let cut = value(
            &ssys,
            &format!("ALTER VIRTUAL CLUSTER {dest} COMPLETE REPLICATION TO LATEST"),
        )
        .await
        .expect("cutover");
        self.wait_ready(dest).await;
        let psys = self.primary_sys().await;
        assert_eq!(
            fingerprint(&psys, "application", &cut).await,
            fingerprint(&ssys, dest, &cut).await
        );
        cut
    }

    /// Waits until `dest`'s data state is `ready` (failover done).
    pub async fn wait_ready(&self, dest: &str) {
        let c = self.standby_sys().await;
        succeeds_soon("failover to complete", Duration::from_secs(60), || {
            let c = &c;
            async move {
                let r = rows(c, &format!("SHOW VIRTUAL CLUSTER {dest}")).await;
                (r[0][2].as_deref() == Some("ready")).then_some(())
            }
        })
        .await;
    }
}

/// The fingerprint of virtual cluster `vc` at `ts` (decimal) through `c` (a system VC).
pub async fn fingerprint(c: &tokio_postgres::Client, vc: &str, ts: &str) -> String {
    value(
        c,
        &format!(
            "SELECT fingerprint FROM [SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER {vc}] AS OF SYSTEM TIME '{ts}'"
        ),
    )
    .await
    .expect("fingerprint")
}

/// The cluster's current time as text (`now()`), for comparisons with replicated times.
pub async fn now_text(c: &tokio_postgres::Client) -> String {
    value(c, "SELECT now()::STRING").await.expect("now")
}

fn port_of(addr: &str) -> String {
    addr.rsplit_once(':')
        .map(|(_, p)| p)
        .unwrap_or(addr)
        .to_string()
}

/// Kills the node with SIGKILL (no drain).
pub fn kill_hard(node: &mut TestNode) {
    if let Some(mut c) = node.child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Restarts a stopped (or running) node on the SQL and HTTP ports it had, so that URIs
/// pointing at it stay valid.
pub async fn restart_same_ports(node: &mut TestNode) {
    kill_hard(node);
    let (sql, http) = (node.sql_addr.clone(), node.http_addr.clone());
    let args: Vec<String> = node
        .args
        .iter()
        .map(|a| {
            if a.starts_with("--listen-addr=") {
                format!("--listen-addr={sql}")
            } else if a.starts_with("--http-addr=") {
                format!("--http-addr={http}")
            } else {
                a.clone()
            }
        })
        .collect();
    let store = node.store.clone();
    *node = TestNode::spawn(&store, args).await;
}

/// Connects to a URL with tandem's client, retrying until it works (a restarting node).
pub async fn connect_soon(url: &str) -> tokio_postgres::Client {
    succeeds_soon("connect", Duration::from_secs(30), || async move {
        connect_url(url).await.ok()
    })
    .await
}

/// A TCP proxy on an ephemeral loopback port in front of `target` that can cut the network:
/// while cut, no byte is forwarded and connections stay open (as when packets are dropped, so
/// neither side sees an error); [`CutProxy::heal`] closes the connections that were frozen and
/// forwards new ones again.
pub struct CutProxy {
    /// The proxy's port.
    pub port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    /// Starts forwarding to `target` (`host:port`).
    pub async fn start(target: String) -> CutProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let generation = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (c, g) = (cut.clone(), generation.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                    continue;
                };
                let born = g.load(Ordering::SeqCst);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                for (mut r, mut w) in [
                    (
                        Box::new(cr) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                        Box::new(sw) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
                    ),
                    (Box::new(sr), Box::new(cw)),
                ] {
                    let (c, g) = (c.clone(), g.clone());
                    tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = vec![0u8; 64 << 10];
                        loop {
                            if g.load(Ordering::SeqCst) != born {
                                return;
                            }
                            let n = match tokio::time::timeout(
                                Duration::from_millis(100),
                                r.read(&mut buf),
                            )
                            .await
                            {
                                Err(_) => continue,
                                Ok(Ok(0)) | Ok(Err(_)) => return,
                                Ok(Ok(n)) => n,
                            };
                            while c.load(Ordering::SeqCst) {
                                if g.load(Ordering::SeqCst) != born {
                                    return;
                                }
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            if w.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        });
        CutProxy {
            port,
            cut,
            generation,
            task,
        }
    }

    /// Stops forwarding (connections stay open, silently).
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Closes the frozen connections and forwards again.
    pub fn heal(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
