//! The node supervisor: starts storage, ranges, the tenant registry, the SQL (pgwire) server and
//! the HTTP server, and drains on SIGTERM/SIGINT.
//!
//! Start-up order: configuration (validated before the store is touched) → store and ranges →
//! cluster bootstrap (`start-single-node`) or wait for `tandem init` (`start`) → tenant registry
//! → pgwire on `--listen-addr` → HTTP on `--http-addr` → readiness (`READY=1` to systemd, the
//! ready file for `--background` and tests, a banner on stdout). Drain: `STOPPING=1`, mark not
//! ready, stop accepting SQL, wait for sessions (up to `server.shutdown.query_wait`, default
//! 10 s) then close them, stop HTTP, stop the ranges and make the log durable, exit 0.
//!
//! The supervisor is an actix actor; the tenant registry runs under `actix::Supervisor` and is
//! restarted (reloading its directory from KV) if it panics. A failure to start any component
//! is fatal: the process reports it and exits non-zero.

use crate::actors::tenant_registry::{RegistryAdmin, RegistryInner, TenantRegistry};
use crate::cli::start::{READY_FILE_ENV, StartFlags};
use crate::config::NodeConfig;
use crate::console::{ConsoleBackend, ConsoleServer, NodeRow, RunningConsole, VirtualClusterRow};
use crate::ids::TenantId;
use crate::kv::Store;
use crate::node::service::NodeService;
use crate::pgwire::{ConnectionRouter, PgServer, PgServerHandle};
use crate::sql::catalog::{Catalog, UserRecord};
use crate::sql::error::SqlError;
use crate::sql::session::SessionEnv;
use actix::prelude::*;
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Entry point of `tandem start` / `start-single-node`.
pub fn main(flags: StartFlags, single_node: bool) -> anyhow::Result<std::process::ExitCode> {
    let cfg = match flags.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return Ok(std::process::ExitCode::from(2));
        }
    };
    if single_node && !cfg.join.is_empty() {
        anyhow::bail!("--join cannot be used with start-single-node");
    }
    if flags.background && std::env::var_os(READY_FILE_ENV).is_none() {
        crate::cli::start::daemonize(&cfg.store)?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let code = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // Room for ordinary SQL statements to run in place; deeper ones get a stack sized
            // for them (src/sql/parser/limits.rs). Only touched pages cost memory.
            .thread_stack_size(16 << 20)
            .enable_all()
            .build()
            .expect("building the node's tokio runtime at start-up")
    })
    .block_on(run(cfg, single_node))?;
    Ok(code)
}

/// Tells systemd about state changes (`Type=notify`); a no-op without `NOTIFY_SOCKET`.
fn sd_notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sock = match std::os::unix::net::UnixDatagram::unbound() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("failed to notify systemd: {e}");
            return;
        }
    };
    let p = path.to_string_lossy().to_string();
    let r = if let Some(abstract_name) = p.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), &p)
    };
    if let Err(e) = r {
        tracing::warn!("failed to notify systemd: {e}");
    }
}

/// Routes pgwire connections through the tenant registry and reads users from each cluster's
/// catalog.
struct NodeRouter {
    /// The node's `--max-sql-memory`, shared by every session of every virtual cluster.
    sql_memory: Arc<crate::sql::exec::MemoryPool>,
    registry: Arc<RegistryInner>,
    admin: RegistryAdmin,
    replication: Arc<crate::replication::service::NodeReplication>,
    store: Store,
    draining: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl ConnectionRouter for NodeRouter {
    async fn route(&self, cluster: Option<&str>) -> Result<(TenantId, String), SqlError> {
        self.registry.route(cluster)
    }
    async fn user(&self, tenant: TenantId, user: &str) -> Result<Option<UserRecord>, SqlError> {
        let mut txn = self.store.begin();
        let r = Catalog::new(tenant).user(&mut txn, user).await;
        txn.rollback();
        r
    }
    fn session_env(&self, tenant: TenantId) -> SessionEnv {
        let system = tenant == TenantId::SYSTEM;
        let clusters: Option<Arc<dyn crate::sql::session::VirtualClusterAdmin>> =
            system.then(|| Arc::new(self.admin.clone()) as _);
        let replication: Option<Arc<dyn crate::sql::replication::ReplicationService>> =
            system.then(|| self.replication.clone() as _);
        SessionEnv {
            store: self.store.clone(),
            clusters,
            replication,
            sql_memory: self.sql_memory.clone(),
        }
    }
    fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

/// The console's view of the node. Replication streams come from the same
/// [`crate::replication::service::NodeReplication`] SQL uses, so the console and
/// `SHOW VIRTUAL CLUSTER ... WITH REPLICATION STATUS` agree.
struct NodeConsole {
    registry: Arc<RegistryInner>,
    store: Store,
    ready: Arc<AtomicBool>,
    replication: Arc<crate::replication::service::NodeReplication>,
}

impl NodeConsole {
    /// The stream of one ingestion job, its lag measured at `now`.
    fn stream_row(
        &self,
        job: &crate::jobs::JobRecord,
        d: &crate::jobs::IngestionDetails,
        now: crate::clock::Timestamp,
    ) -> crate::console::StreamRow {
        use crate::console::wall_time;
        let status = job.replication_status().unwrap_or(d.status);
        crate::console::StreamRow {
            virtual_cluster: self
                .registry
                .get(d.dest_tenant)
                .map_or_else(|| format!("[{}]", d.dest_tenant), |r| r.name),
            virtual_cluster_id: d.dest_tenant,
            job_id: job.id.0,
            job_status: job.status.as_str().to_string(),
            status: status.as_str().to_string(),
            source_virtual_cluster: d.source_tenant_name.clone(),
            source: crate::client::ConnUrl::parse(&d.source_uri)
                .map(|u| u.redacted())
                .unwrap_or_else(|_| "<unparseable URI>".into()),
            replicated_time: d.replicated_time.map(|r| wall_time(r.wall)),
            retained_time: wall_time(d.retained_time().wall),
            replication_lag: d
                .replicated_time
                .map(|r| Duration::from_nanos(now.wall.saturating_sub(r.wall))),
            cutover_time: d.cutover_time.map(|c| wall_time(c.wall)),
            last_error: d.last_error.clone(),
        }
    }
}

#[async_trait::async_trait]
impl ConsoleBackend for NodeConsole {
    async fn check_password(&self, user: &str, password: &str) -> bool {
        let mut txn = self.store.begin();
        let u = Catalog::new(TenantId::SYSTEM).user(&mut txn, user).await;
        txn.rollback();
        let record = u.unwrap_or_else(|e| {
            tracing::warn!("console login: failed to read the user: {e}");
            None
        });
        // The hash is some milliseconds of CPU: off the HTTP worker.
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            crate::sql::scram::check_login(record.as_ref(), &password)
        })
        .await
        .unwrap_or(false)
    }
    async fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
    async fn nodes(&self) -> Vec<NodeRow> {
        let now = self.store.now();
        match self.store.nodes().await {
            Ok(nodes) => nodes
                .into_iter()
                .map(|(d, l)| {
                    let st = crate::node::status::NodeStatus::new(d, l, now);
                    NodeRow {
                        id: st.node_id,
                        address: st.address,
                        sql_address: st.sql_address,
                        build: st.build,
                        started_at: std::time::UNIX_EPOCH + Duration::from_nanos(st.started_at),
                        is_live: st.is_live,
                        ranges: st.ranges,
                        leases: st.leases,
                    }
                })
                .collect(),
            Err(e) => {
                tracing::warn!("console: cannot read the node records: {e}");
                Vec::new()
            }
        }
    }
    async fn virtual_clusters(&self) -> Vec<VirtualClusterRow> {
        let streams = self.replication().await.streams;
        self.registry
            .list()
            .into_iter()
            .map(|r| {
                let stream = streams.iter().find(|s| s.virtual_cluster_id == r.id);
                // As SHOW VIRTUAL CLUSTERS: a cluster still being added shows its stream's state.
                let data_state = match stream {
                    Some(s) if r.data_state == "add" => s.status.clone(),
                    _ => r.data_state,
                };
                VirtualClusterRow {
                    id: r.id,
                    name: r.name,
                    data_state,
                    service_mode: r.service_mode,
                    replication: stream.map(|s| crate::console::ReplicationRow {
                        job_id: s.job_id,
                        status: s.status.clone(),
                        source: s.source.clone(),
                        source_virtual_cluster: s.source_virtual_cluster.clone(),
                        replicated_time: s.replicated_time,
                        replication_lag: s.replication_lag,
                    }),
                }
            })
            .collect()
    }
    async fn replication(&self) -> crate::console::ReplicationView {
        use crate::console::{ProducerRow, ReplicationView, wall_time};
        use crate::sql::replication::ReplicationService as _;
        let now = self.store.now();
        let mut view = ReplicationView::empty(wall_time(now.wall));
        let jobs = match self.replication.jobs().await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!("console: cannot read the replication jobs: {e}");
                view.error = Some(e.to_string());
                return view;
            }
        };
        // The newest job that has not ended, per standby virtual cluster (jobs come oldest
        // first), as SHOW VIRTUAL CLUSTERS picks it.
        let mut seen = std::collections::HashSet::new();
        for job in jobs.iter().rev().filter(|j| !j.status.is_terminal()) {
            if let Some(d) = job.ingestion()
                && seen.insert(d.dest_tenant)
            {
                view.streams.push(self.stream_row(job, d, now));
            }
            if let Some(p) = job.producer() {
                view.producers.push(ProducerRow {
                    virtual_cluster: p.tenant_name.clone(),
                    job_id: job.id.0,
                    job_status: job.status.as_str().to_string(),
                    protected_time: wall_time(p.protected_time.wall),
                    expiration: wall_time(p.expiration.wall),
                });
            }
        }
        view.streams
            .sort_by(|a, b| a.virtual_cluster.cmp(&b.virtual_cluster));
        view.producers.reverse();
        view
    }
}

/// The running node's parts, owned by the supervisor actor.
pub struct NodeSupervisor {
    store: Store,
    pg: PgServerHandle,
    console: Option<RunningConsole>,
    ready: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
    done: Option<tokio::sync::oneshot::Sender<()>>,
    query_wait: Duration,
    heartbeat: Option<crate::node::liveness::Heartbeat>,
    node_listener: tokio::task::JoinHandle<()>,
}

impl Actor for NodeSupervisor {
    type Context = Context<Self>;
}

/// Drain and stop the node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

impl Handler<Drain> for NodeSupervisor {
    type Result = ResponseActFuture<Self, ()>;
    /// Drains: stop accepting, wait for sessions, stop HTTP and storage.
    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) -> Self::Result {
        if self.draining.swap(true, Ordering::SeqCst) {
            return Box::pin(actix::fut::ready(()));
        }
        sd_notify("STOPPING=1");
        tracing::info!("draining");
        self.ready.store(false, Ordering::SeqCst);
        let pg = self.pg.clone();
        let console = self.console.take();
        let store = self.store.clone();
        let wait = self.query_wait;
        let done = self.done.take();
        let heartbeat = self.heartbeat.take();
        let node_listener = self.node_listener.abort_handle();
        Box::pin(
            async move {
                // Schema-change jobs stop between batches and resume when a node starts.
                crate::sql::schema_jobs::shutdown(&store);
                pg.drain(wait).await;
                if let Some(h) = heartbeat {
                    h.drain().await;
                }
                if let Some(c) = console
                    && let Err(e) = c.stop(true).await
                {
                    tracing::warn!("failed to stop the HTTP server cleanly: {e}");
                }
                store.shutdown().await;
                node_listener.abort();
                tracing::info!("drained; exiting");
                if let Some(d) = done {
                    let _ = d.send(());
                }
            }
            .into_actor(self),
        )
    }
}

async fn bootstrap_registry(store: Store, cfg: &NodeConfig) -> anyhow::Result<Arc<RegistryInner>> {
    RegistryInner::load_or_bootstrap(store, &cfg.bootstrap)
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap virtual clusters: {e}"))
}

async fn run(cfg: NodeConfig, single_node: bool) -> anyhow::Result<std::process::ExitCode> {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let mut kv = cfg.kv_settings().context("KV settings")?;
    kv.cache_bytes = cfg.cache_bytes().context("--cache")?;
    let tls = match (&cfg.certs_dir, cfg.insecure) {
        (_, true) => None,
        (Some(dir), false) => Some(
            crate::security::tls::server_config(dir, false).context("load node certificates")?,
        ),
        (None, false) => anyhow::bail!("--certs-dir is required unless --insecure is given"),
    };
    let store_path = cfg.store.clone();
    let peers = crate::node::membership::node_peers(cfg.certs_dir.as_deref(), cfg.insecure)?;
    let store_peers = peers.clone();
    let store = tokio::task::spawn_blocking(move || {
        if single_node {
            Store::open_single(&store_path, kv, store_peers)
        } else {
            Store::open_member(&store_path, kv, store_peers)
        }
    })
    .await
    .context("open store")?
    .with_context(|| format!("open store {}", cfg.store.display()))?;
    let listen = cfg.listen_addr.to_string();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listen on {listen}"))?;
    let listen_bound = listener.local_addr().context("listener address")?;
    // With --sql-addr, SQL gets its own listener and the node port carries node traffic only.
    let sql_listener = match &cfg.sql_addr {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a.to_string())
                .await
                .with_context(|| format!("listen on --sql-addr {a}"))?,
        ),
        None => None,
    };
    let sql_bound = match &sql_listener {
        Some(l) => l.local_addr().context("SQL listener address")?,
        None => listen_bound,
    };
    let advertise = advertised_addr(&cfg, &listen_bound.to_string());
    peers.set_self_address(advertise.clone());
    peers.add_seeds(cfg.join.iter().map(|j| j.to_string()));
    for (n, a) in crate::node::liveness::remembered_peers(&store) {
        peers.set_address(n, a);
    }
    if store.is_member() {
        peers.set_hello(crate::rpc::Hello {
            cluster_id: None,
            node_id: Some(store.node_id()),
        });
    }
    let initialized = store.is_member();
    let (s, boot) = (store.clone(), cfg.bootstrap.clone());
    let bootstrap: crate::node::service::Bootstrap = Arc::new(move || {
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
    });
    let service = NodeService::new(store.clone(), initialized, bootstrap);
    let node_tls = match &cfg.certs_dir {
        Some(dir) if !cfg.insecure => Some(
            crate::security::tls::server_config_with_alpn(dir, true, &[])
                .context("load node certificates for inter-node traffic")?,
        ),
        _ => None,
    };
    let (sql_tx, mut sql_rx) = tokio::sync::mpsc::channel(1024);
    let node_listener = crate::rpc::listener::spawn(
        listener,
        node_tls,
        service.clone(),
        sql_listener.is_none().then_some(sql_tx),
    );
    if !(initialized || single_node) {
        println!(
            "initial startup completed.\nNode will now attempt to join a running cluster, or wait for `tandem init`.\nClient connections will be accepted after this completes successfully."
        );
        write_ready(&format!(
            "waiting_for_init\nsql_addr: {sql_bound}\nlisten_addr: {listen_bound}\n"
        ));
        // SQL clients are turned away (their connection closes) until init or join.
        let init = service.wait_initialized();
        tokio::pin!(init);
        let join = crate::node::membership::join(&peers, &advertise);
        tokio::pin!(join);
        loop {
            tokio::select! {
                _ = &mut init => break,
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
                    break;
                }
                c = sql_rx.recv() => drop(c),
            }
        }
    }
    let registry = bootstrap_registry(store.clone(), &cfg).await?;
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
    let registry_inner = registry.clone();
    let registry_addr =
        actix::Supervisor::start(move |_| TenantRegistry::new(registry_inner.clone()));
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
    let source = match sql_listener {
        Some(l) => crate::pgwire::Connections::Listener(l),
        None => crate::pgwire::Connections::Channel(sql_rx),
    };
    let pg = PgServer::start_with(source, sql_bound, tls.clone(), router);
    let sql_addr = pg.local_addr().to_string();
    let http_tls = match &cfg.certs_dir {
        Some(dir) if !cfg.insecure => Some(
            crate::security::tls::server_config_with_alpn(dir, false, &[b"http/1.1"])
                .context("load node certificates for HTTP")?,
        ),
        _ => None,
    };
    let http: std::net::SocketAddr = tokio::net::lookup_host(cfg.http_addr.to_string())
        .await
        .with_context(|| format!("resolve {}", cfg.http_addr))?
        .next()
        .context("no address for --http-addr")?;
    let node_metrics = crate::console::metrics::NodeMetrics::new(&registry_metrics, t0)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let backend = Arc::new(NodeConsole {
        registry: registry.clone(),
        store: store.clone(),
        ready: ready.clone(),
        replication,
    });
    let console = ConsoleServer::start(http, http_tls.clone(), backend, registry_metrics)
        .map_err(|e| anyhow::anyhow!("start HTTP server on {http}: {e}"))?;
    let http_addr = console.local_addr().to_string();
    let started_nanos = started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    store
        .put_node_descriptor(&crate::kv::nodes::NodeDescriptor {
            node_id: store.node_id(),
            address: advertise.clone(),
            sql_address: advertised_addr(&cfg, &sql_listen_addr),
            http_address: http_addr.clone(),
            build: format!("tandem {}", env!("CARGO_PKG_VERSION")),
            started_at: started_nanos,
        })
        .await
        .map_err(|e| anyhow::anyhow!("write the node descriptor: {e}"))?;
    let heartbeat = crate::node::liveness::Heartbeat::start(store.clone())
        .await
        .map_err(|e| anyhow::anyhow!("first liveness heartbeat: {e}"))?;
    spawn_metrics_updater(store.clone(), pg.clone(), sql_memory, node_metrics);
    if let Err(e) = crate::sql::schema_jobs::resume_all(&store).await {
        tracing::warn!("resume schema change jobs: {}", e.message);
    }
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let sup = NodeSupervisor {
        store: store.clone(),
        pg,
        console: Some(console),
        ready: ready.clone(),
        draining,
        done: Some(done_tx),
        query_wait: Duration::from_secs(10),
        heartbeat: Some(heartbeat),
        node_listener,
    }
    .start();
    ready.store(true, Ordering::SeqCst);
    let scheme = if http_tls.is_some() { "https" } else { "http" };
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
    tracing::info!(%sql_addr, %http_addr, "node ready in {:?}", t0.elapsed());
    // Signals → drain.
    let s2 = sup.clone();
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
        s2.do_send(Drain);
    });
    let _ = done_rx.await;
    println!("node drained and shut down");
    Ok(std::process::ExitCode::SUCCESS)
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
