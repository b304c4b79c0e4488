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
//! is fatal: the process reports it and exits non-zero. The start-up steps live in `startup`;
//! this module keeps the running node's parts (routing, console backend, drain).

use crate::actors::tenant_registry::{RegistryAdmin, RegistryInner};
use crate::cli::start::{READY_FILE_ENV, StartFlags};
use crate::console::{ConsoleBackend, NodeRow, RunningConsole, VirtualClusterRow};
use crate::ids::TenantId;
use crate::kv::Store;
use crate::pgwire::{ConnectionRouter, PgServerHandle};
use crate::sql::catalog::{Catalog, UserRecord};
use crate::sql::error::SqlError;
use crate::sql::session::SessionEnv;
use actix::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod startup;

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
    .block_on(startup::run(cfg, single_node))?;
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
