//! The node's start-up sequence ([`run`]), one step per component in the order the
//! supervisor's module doc gives: configuration and TLS → store → listeners and peers → (for
//! `tandem start` on a new store) waiting for `tandem init` or a join → tenant registry and
//! cluster identity → SQL (pgwire) → HTTP console → node descriptor and liveness → the
//! [`NodeSupervisor`] → readiness (banner, ready file, `READY=1`) → drain on SIGTERM/SIGINT.
//!
//! Any step's failure ends start-up with an error naming the step; the process exits non-zero.

use super::{NodeConsole, NodeRouter, NodeSupervisor, sd_notify};
use crate::actors::tenant_registry::{RegistryAdmin, RegistryInner, TenantRegistry};
use crate::cli::start::READY_FILE_ENV;
use crate::config::NodeConfig;
use crate::console::ConsoleServer;
use crate::kv::Store;
use crate::node::service::NodeService;
use crate::pgwire::{PgServer, PgServerHandle};
use crate::rpc::peers::Peers;
use actix::prelude::*;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;

/// TLS of the node's servers: `None` with `--insecure`.
type Tls = Option<Arc<rustls::ServerConfig>>;

/// Connections handed over by the node listener when SQL shares the node port.
type SqlChannel = tokio::sync::mpsc::Receiver<(tokio::net::TcpStream, SocketAddr)>;

/// Runs the node until it has drained (see the module doc for the steps).
pub(super) async fn run(
    cfg: NodeConfig,
    single_node: bool,
) -> anyhow::Result<std::process::ExitCode> {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let tls = sql_tls(&cfg)?;
    let peers = crate::node::membership::node_peers(cfg.certs_dir.as_deref(), cfg.insecure)?;
    let store = open_store(&cfg, single_node, peers.clone()).await?;
    let listeners = Listeners::bind(&cfg).await?;
    let advertise = advertised_addr(&cfg, &listeners.listen_bound.to_string());
    introduce(&cfg, &store, &peers, &advertise);
    let initialized = store.is_member();
    let service = NodeService::new(store.clone(), initialized, bootstrap_fn(&store, &cfg));
    let (sql_tx, mut sql_rx) = tokio::sync::mpsc::channel(1024);
    let node_listener = crate::rpc::listener::spawn(
        listeners.node,
        node_tls(&cfg)?,
        service.clone(),
        listeners.sql.is_none().then_some(sql_tx),
    );
    let (listen_bound, sql_bound) = (listeners.listen_bound, listeners.sql_bound);
    if !(initialized || single_node) {
        let addrs = (sql_bound, listen_bound);
        wait_for_init_or_join(&store, &service, &peers, &advertise, addrs, &mut sql_rx).await?;
    }
    let registry = bootstrap_registry(store.clone(), &cfg).await?;
    set_cluster_identity(&store, &service, &peers).await?;
    let registry_addr = start_registry_actor(&registry);
    let draining = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let sql_memory =
        crate::sql::exec::MemoryPool::new(cfg.max_sql_memory_bytes().context("--max-sql-memory")?);
    let registry_metrics = prometheus::Registry::new();
    let sql_listen_addr = sql_bound.to_string();
    let replication = Arc::new(start_replication(
        &store,
        &registry,
        cfg.certs_dir.clone(),
        advertised_addr(&cfg, &sql_listen_addr),
        &registry_metrics,
    )?);
    service.set_replication(replication.env.clone());
    let router = Arc::new(NodeRouter {
        sql_memory: sql_memory.clone(),
        registry: registry.clone(),
        admin: RegistryAdmin {
            addr: registry_addr,
        },
        replication: replication.clone(),
        store: store.clone(),
        draining: draining.clone(),
    });
    let source = match listeners.sql {
        Some(l) => crate::pgwire::Connections::Listener(l),
        None => crate::pgwire::Connections::Channel(sql_rx),
    };
    let pg = PgServer::start_with(source, sql_bound, tls, router);
    let sql_addr = pg.local_addr().to_string();
    let backend = Arc::new(NodeConsole {
        registry: registry.clone(),
        store: store.clone(),
        ready: ready.clone(),
        replication,
    });
    let console = start_console(&cfg, backend, registry_metrics, t0).await?;
    let http_addr = console.server.local_addr().to_string();
    let addresses = NodeAddresses {
        node: advertise,
        sql: advertised_addr(&cfg, &sql_listen_addr),
        http: http_addr.clone(),
    };
    let heartbeat = join_liveness(&store, addresses, started).await?;
    spawn_metrics_updater(store.clone(), pg.clone(), sql_memory, console.metrics);
    if let Err(e) = crate::sql::schema_jobs::resume_all(&store).await {
        tracing::warn!("resume schema change jobs: {}", e.message);
    }
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let sup = NodeSupervisor {
        store: store.clone(),
        pg,
        console: Some(console.server),
        ready: ready.clone(),
        draining,
        done: Some(done_tx),
        query_wait: Duration::from_secs(10),
        heartbeat: Some(heartbeat),
        node_listener,
    }
    .start();
    ready.store(true, Ordering::SeqCst);
    let scheme = if console.https { "https" } else { "http" };
    announce_ready(
        &cfg,
        &store,
        started,
        scheme,
        &sql_addr,
        listen_bound,
        &http_addr,
    );
    tracing::info!(%sql_addr, %http_addr, "node ready in {:?}", t0.elapsed());
    spawn_drain_on_signal(sup);
    let _ = done_rx.await;
    println!("node drained and shut down");
    Ok(std::process::ExitCode::SUCCESS)
}

/// TLS for SQL clients (and the node's other servers' certificates): required unless
/// `--insecure`.
fn sql_tls(cfg: &NodeConfig) -> anyhow::Result<Tls> {
    match (&cfg.certs_dir, cfg.insecure) {
        (_, true) => Ok(None),
        (Some(dir), false) => Ok(Some(
            crate::security::tls::server_config(dir, false).context("load node certificates")?,
        )),
        (None, false) => anyhow::bail!("--certs-dir is required unless --insecure is given"),
    }
}

/// TLS for inter-node traffic (client certificates required): `None` with `--insecure`.
fn node_tls(cfg: &NodeConfig) -> anyhow::Result<Tls> {
    Ok(match &cfg.certs_dir {
        Some(dir) if !cfg.insecure => Some(
            crate::security::tls::server_config_with_alpn(dir, true, &[])
                .context("load node certificates for inter-node traffic")?,
        ),
        _ => None,
    })
}

/// Opens the store: a single-node cluster's, or a member's (which may not be initialized yet).
async fn open_store(cfg: &NodeConfig, single_node: bool, peers: Peers) -> anyhow::Result<Store> {
    let mut kv = cfg.kv_settings().context("KV settings")?;
    kv.cache_bytes = cfg.cache_bytes().context("--cache")?;
    let store_path = cfg.store.clone();
    tokio::task::spawn_blocking(move || {
        if single_node {
            Store::open_single(&store_path, kv, peers)
        } else {
            Store::open_member(&store_path, kv, peers)
        }
    })
    .await
    .context("open store")?
    .with_context(|| format!("open store {}", cfg.store.display()))
}

/// The node's listening sockets, bound before anything is announced.
struct Listeners {
    /// `--listen-addr`: node traffic, and SQL too without `--sql-addr`.
    node: TcpListener,
    /// `--sql-addr`, when SQL gets its own listener.
    sql: Option<TcpListener>,
    listen_bound: SocketAddr,
    sql_bound: SocketAddr,
}

impl Listeners {
    /// Binds `--listen-addr` and (when given) `--sql-addr`; with `--sql-addr`, SQL gets its own
    /// listener and the node port carries node traffic only.
    async fn bind(cfg: &NodeConfig) -> anyhow::Result<Listeners> {
        let listen = cfg.listen_addr.to_string();
        let node = TcpListener::bind(&listen)
            .await
            .with_context(|| format!("listen on {listen}"))?;
        let listen_bound = node.local_addr().context("listener address")?;
        let sql = match &cfg.sql_addr {
            Some(a) => Some(
                TcpListener::bind(a.to_string())
                    .await
                    .with_context(|| format!("listen on --sql-addr {a}"))?,
            ),
            None => None,
        };
        let sql_bound = match &sql {
            Some(l) => l.local_addr().context("SQL listener address")?,
            None => listen_bound,
        };
        Ok(Listeners {
            node,
            sql,
            listen_bound,
            sql_bound,
        })
    }
}

/// Tells the peer set who this node is and whom it knows: its advertised address, the
/// `--join` seeds, the addresses remembered from earlier runs and (for a member) its node id.
fn introduce(cfg: &NodeConfig, store: &Store, peers: &Peers, advertise: &str) {
    peers.set_self_address(advertise.to_string());
    peers.add_seeds(cfg.join.iter().map(|j| j.to_string()));
    for (n, a) in crate::node::liveness::remembered_peers(store) {
        peers.set_address(n, a);
    }
    if store.is_member() {
        peers.set_hello(crate::rpc::Hello {
            cluster_id: None,
            node_id: Some(store.node_id()),
        });
    }
}

/// What `tandem init` runs on this node: the first ranges, then the virtual clusters.
fn bootstrap_fn(store: &Store, cfg: &NodeConfig) -> crate::node::service::Bootstrap {
    let (s, boot) = (store.clone(), cfg.bootstrap.clone());
    Arc::new(move || {
        let (s, boot) = (s.clone(), boot.clone());
        Box::pin(async move {
            let s2 = s.clone();
            tokio::task::spawn_blocking(move || s2.bootstrap_cluster())
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("bootstrap the first ranges: {e}"))?;
            RegistryInner::load_or_bootstrap(s.clone(), &boot)
                .await
                .map(|_| s.node_id().0.to_string())
                .map_err(|e| e.to_string())
        })
    })
}

/// A new node of `tandem start`: announces that it waits, then waits until `tandem init`
/// initializes it or it joins a running cluster (recording its node id). SQL clients are
/// turned away (their connection closes) meanwhile.
async fn wait_for_init_or_join(
    store: &Store,
    service: &Arc<NodeService>,
    peers: &Peers,
    advertise: &str,
    (sql_bound, listen_bound): (SocketAddr, SocketAddr),
    sql_rx: &mut SqlChannel,
) -> anyhow::Result<()> {
    println!(
        "initial startup completed.\nNode will now attempt to join a running cluster, or wait for `tandem init`.\nClient connections will be accepted after this completes successfully."
    );
    write_ready(&format!(
        "waiting_for_init\nsql_addr: {sql_bound}\nlisten_addr: {listen_bound}\n"
    ));
    let init = service.wait_initialized();
    tokio::pin!(init);
    let join = crate::node::membership::join(peers, advertise);
    tokio::pin!(join);
    loop {
        tokio::select! {
            _ = &mut init => return Ok(()),
            joined = &mut join => {
                let id = joined.node_id;
                for (n, a) in joined.nodes {
                    peers.set_address(n, a);
                }
                let s = store.clone();
                tokio::task::spawn_blocking(move || s.join_cluster(id))
                    .await
                    .context("join")?
                    .map_err(|e| anyhow::anyhow!("record the node id: {e}"))?;
                store.system_writes().set_shared();
                peers.set_hello(crate::rpc::Hello {
                    cluster_id: Some(joined.cluster_id.clone()),
                    node_id: Some(id),
                });
                println!("joined the cluster {} as node {}", joined.cluster_id, id.0);
                service.mark_initialized();
                return Ok(());
            }
            c = sql_rx.recv() => drop(c),
        }
    }
}

/// Loads the virtual clusters from KV (creating the configured ones on a new cluster).
async fn bootstrap_registry(store: Store, cfg: &NodeConfig) -> anyhow::Result<Arc<RegistryInner>> {
    RegistryInner::load_or_bootstrap(store, &cfg.bootstrap)
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap virtual clusters: {e}"))
}

/// Once the cluster exists: the node service and the peers greet others with the cluster id
/// and this node's id.
async fn set_cluster_identity(
    store: &Store,
    service: &Arc<NodeService>,
    peers: &Peers,
) -> anyhow::Result<()> {
    let cluster_id = store
        .cluster_id()
        .await
        .map_err(|e| anyhow::anyhow!("read the cluster id: {e}"))?;
    let hello = crate::rpc::Hello {
        cluster_id: Some(cluster_id),
        node_id: Some(store.node_id()),
    };
    service.set_hello(hello.clone());
    peers.set_hello(hello);
    Ok(())
}

/// The tenant registry actor, restarted by `actix::Supervisor` (reloading from KV) if it
/// panics.
fn start_registry_actor(registry: &Arc<RegistryInner>) -> Addr<TenantRegistry> {
    let registry_inner = registry.clone();
    actix::Supervisor::start(move |_| TenantRegistry::new(registry_inner.clone()))
}

/// The node's HTTP server and the metrics it serves.
struct Console {
    server: crate::console::RunningConsole,
    metrics: crate::console::metrics::NodeMetrics,
    /// The server speaks HTTPS.
    https: bool,
}

/// Registers the node's metrics in `metrics` and starts the HTTP server (DB Console, metrics)
/// on `--http-addr`.
async fn start_console(
    cfg: &NodeConfig,
    backend: Arc<NodeConsole>,
    metrics: prometheus::Registry,
    t0: Instant,
) -> anyhow::Result<Console> {
    let http_tls = match &cfg.certs_dir {
        Some(dir) if !cfg.insecure => Some(
            crate::security::tls::server_config_with_alpn(dir, false, &[b"http/1.1"])
                .context("load node certificates for HTTP")?,
        ),
        _ => None,
    };
    let https = http_tls.is_some();
    let http: SocketAddr = tokio::net::lookup_host(cfg.http_addr.to_string())
        .await
        .with_context(|| format!("resolve {}", cfg.http_addr))?
        .next()
        .context("no address for --http-addr")?;
    let node_metrics = crate::console::metrics::NodeMetrics::new(&metrics, t0)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let server = ConsoleServer::start(http, http_tls, backend, metrics)
        .map_err(|e| anyhow::anyhow!("start HTTP server on {http}: {e}"))?;
    Ok(Console {
        server,
        metrics: node_metrics,
        https,
    })
}

/// The addresses other nodes and clients use for this node.
struct NodeAddresses {
    node: String,
    sql: String,
    http: String,
}

/// Writes this node's descriptor (addresses, build, start time) and starts its liveness
/// heartbeat (the first one must succeed).
async fn join_liveness(
    store: &Store,
    addresses: NodeAddresses,
    started: SystemTime,
) -> anyhow::Result<crate::node::liveness::Heartbeat> {
    let started_nanos = started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    store
        .put_node_descriptor(&crate::kv::nodes::NodeDescriptor {
            node_id: store.node_id(),
            address: addresses.node,
            sql_address: addresses.sql,
            http_address: addresses.http,
            build: format!("tandem {}", env!("CARGO_PKG_VERSION")),
            started_at: started_nanos,
        })
        .await
        .map_err(|e| anyhow::anyhow!("write the node descriptor: {e}"))?;
    crate::node::liveness::Heartbeat::start(store.clone())
        .await
        .map_err(|e| anyhow::anyhow!("first liveness heartbeat: {e}"))
}

/// Readiness: the banner on stdout, the ready file (the banner without the alignment of the
/// address lines) and `READY=1` to systemd.
fn announce_ready(
    cfg: &NodeConfig,
    store: &Store,
    started: SystemTime,
    scheme: &str,
    sql_addr: &str,
    listen_bound: SocketAddr,
    http_addr: &str,
) {
    let sql_url = match &cfg.certs_dir {
        Some(d) if !cfg.insecure => format!(
            "postgresql://root@{sql_addr}/defaultdb?sslcert={0}/client.root.crt&sslkey={0}/client.root.key&sslmode=verify-full&sslrootcert={0}/ca.crt",
            d.display()
        ),
        _ => format!("postgresql://root@{sql_addr}/defaultdb?sslmode=disable"),
    };
    let banner = format!(
        "tandem node starting at {}\nbuild:               tandem {}\nwebui:               {scheme}://{http_addr}\nsql:                 {sql_url}\nsql_addr:            {sql_addr}\nlisten_addr:         {listen_bound}\nhttp_addr:           {http_addr}\nstore:               path={}\nprofile:             {}\nnodeID:              {}\nready\n",
        humantime::format_rfc3339_seconds(started),
        env!("CARGO_PKG_VERSION"),
        cfg.store.display(),
        cfg.profile,
        store.node_id().0,
    );
    print!("{banner}");
    write_ready(
        &banner
            .replace("sql_addr:            ", "sql_addr:")
            .replace("listen_addr:         ", "listen_addr:")
            .replace("http_addr:           ", "http_addr:"),
    );
    sd_notify("READY=1");
}

/// Signals → drain: the first SIGTERM or SIGINT sends [`super::Drain`] to the supervisor.
fn spawn_drain_on_signal(sup: Addr<NodeSupervisor>) {
    actix::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("failed to install signal handlers");
            return;
        };
        let sig = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!("received {sig}");
        // Operators watching the terminal or the journal see the shutdown, as with CockroachDB.
        println!("received {sig}: initiating graceful shutdown of the node (draining)");
        sup.do_send(super::Drain);
    });
}

/// The address others dial for a port of this node: `--advertise-addr`'s host with the port
/// actually bound.
fn advertised_addr(cfg: &NodeConfig, bound: &str) -> String {
    let port = bound.rsplit(':').next().unwrap_or("26257");
    let adv = cfg.advertise_addr().to_string();
    match adv.rsplit_once(':') {
        Some(("", _)) => format!("localhost:{port}"),
        Some((host, _)) => format!("{host}:{port}"),
        None => bound.to_string(),
    }
}

/// Starts the node's replication producer and consumer (resuming its ingestion jobs).
fn start_replication(
    store: &Store,
    registry: &Arc<RegistryInner>,
    certs_dir: Option<std::path::PathBuf>,
    sql_address: String,
    metrics: &prometheus::Registry,
) -> anyhow::Result<crate::replication::service::NodeReplication> {
    use crate::actors::replication_consumer::ReplicationConsumer;
    use crate::actors::replication_producer::ReplicationProducer;
    use crate::replication::ingestion::{IngestionEnv, IngestionSettings};
    let reg = registry.clone();
    let lookup: crate::actors::replication_producer::TenantLookup =
        Arc::new(move |name: &str| reg.find(name).map(|r| (r.id, r.name)));
    let producer_store = store.clone();
    let producer = actix::Supervisor::start(move |_| {
        ReplicationProducer::new(producer_store.clone(), sql_address.clone(), lookup.clone())
    });
    let env = IngestionEnv {
        store: store.clone(),
        registry: registry.clone(),
        certs_dir,
        metrics: crate::replication::metrics::ReplicationMetrics::new(metrics)
            .map_err(|e| anyhow::anyhow!("replication metrics: {e}"))?,
        live: Default::default(),
        processors: Default::default(),
        settings: IngestionSettings::default(),
    };
    let consumer_env = env.clone();
    let consumer =
        actix::Supervisor::start(move |_| ReplicationConsumer::new(consumer_env.clone()));
    Ok(crate::replication::service::NodeReplication {
        producer,
        consumer,
        env,
    })
}

/// Writes the ready file (`TANDEM_READY_FILE`, for `--background` and tests) atomically.
fn write_ready(text: &str) {
    if let Some(path) = std::env::var_os(READY_FILE_ENV) {
        let path = PathBuf::from(path);
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .is_err()
        {
            tracing::warn!("failed to write the ready file {}", path.display());
        }
    }
}

/// Refreshes the node's gauges from the store, the SQL server and the memory pool every second.
fn spawn_metrics_updater(
    store: Store,
    pg: PgServerHandle,
    sql_memory: Arc<crate::sql::exec::MemoryPool>,
    m: crate::console::metrics::NodeMetrics,
) {
    actix::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let km = store.metrics();
            let snapshot = crate::console::metrics::EngineTotals {
                txn_commits: km.txn_commits.load(Ordering::Relaxed),
                txn_commits_1pc: km.txn_commits_1pc.load(Ordering::Relaxed),
                txn_restarts: km.txn_restarts.load(Ordering::Relaxed),
                range_splits: km.splits.load(Ordering::Relaxed),
                raft_entries_applied: km.range.entries_applied.load(Ordering::Relaxed),
                raft_log_appends: km.range.appends.load(Ordering::Relaxed),
                raft_table_applies: km.range.table_applies.load(Ordering::Relaxed),
                storage_fsyncs: store
                    .engine()
                    .syncer()
                    .stats()
                    .syncs
                    .load(Ordering::Relaxed),
            };
            m.update_engine(&snapshot);
            m.storage_disk_used_bytes
                .set(store.engine().disk_space() as i64);
            m.ranges.set(store.range_descriptors().len() as i64);
            m.replicas_leaseholders
                .set(store.range_descriptors().len() as i64);
            m.sql_conns.set(pg.active_connections() as i64);
            m.sql_mem_root_current
                .set(i64::try_from(sql_memory.used()).unwrap_or(i64::MAX));
        }
    });
}
