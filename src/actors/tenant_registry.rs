//! The tenant registry: the directory of virtual clusters on this node.
//!
//! Records live in the system virtual cluster's `tenants` table (`/Tenant/1/Table/8/1/(id)`), so
//! they are replicated and durable like any data; the actor keeps the directory in memory and
//! every change goes to KV first (in one transaction with its side effects) and to memory after
//! the commit. New pgwire connections are routed through [`Route`]: a cluster serves SQL only
//! when it is `ready` and `shared`. If the actor dies, the supervisor restarts it and it reloads
//! the directory from KV; requests in flight fail with an internal error.
//!
//! In a cluster of several nodes, other nodes change the directory too: the actor then reloads
//! it from KV every second (a reload failure is logged and retried at the next tick).
//!
//! On first start the node bootstraps the clusters of its configuration profile (system, and
//! for `replication-source` also template and application), each with its own catalog, plus the
//! profile's cluster settings.

use crate::clock::Timestamp;
use crate::config::{BootstrapConfig, DataState, ServiceMode};
use crate::ids::TenantId;
use crate::kv::{KvError, Store};
use crate::sql::ast::AlterVirtualClusterAction;
use crate::sql::catalog::{Catalog, tables};
use crate::sql::error::SqlError;
use crate::sql::session::{QueryResult, VirtualClusterAdmin, VirtualClusterInfo};
use crate::sql::sqlstate::SqlState;
use crate::storage::keys::{index_key, index_span, tenant_span};
use crate::storage::records::{decode, encode};
use actix::prelude::*;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The setting naming the cluster that connections without `-ccluster` go to.
pub const DEFAULT_TARGET_CLUSTER: &str = "server.controller.default_target_cluster";

/// A virtual cluster's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// Tenant id.
    pub id: TenantId,
    /// Name.
    pub name: String,
    /// `add`, `ready` or `dropping`.
    pub data_state: String,
    /// `none`, `shared` or `stopping`.
    pub service_mode: String,
}

impl TenantRecord {
    fn info(&self) -> VirtualClusterInfo {
        VirtualClusterInfo {
            id: self.id,
            name: self.name.clone(),
            data_state: self.data_state.clone(),
            service_mode: self.service_mode.clone(),
        }
    }

    /// Whether it serves SQL.
    pub fn is_serving(&self) -> bool {
        self.data_state == DataState::Ready.as_str()
            && self.service_mode == ServiceMode::Shared.as_str()
    }
}

type SqlResult<T> = std::result::Result<T, SqlError>;

fn kv_err(e: KvError) -> SqlError {
    SqlError::from(e)
}

fn not_found(name: &str) -> SqlError {
    SqlError::new(
        SqlState::UNDEFINED_OBJECT,
        format!("virtual cluster \"{name}\" does not exist"),
    )
}

/// Checks a virtual cluster name (lowercase letters, digits and hyphens).
pub fn validate_name(name: &str) -> SqlResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!(
                "invalid virtual cluster name \"{name}\": must contain only lowercase letters, digits or hyphens"
            ),
        ))
    }
}

/// The registry's state, shared by the actor's handlers.
pub struct RegistryInner {
    store: Store,
    clusters: RwLock<BTreeMap<TenantId, TenantRecord>>,
    default_target: RwLock<String>,
}

impl RegistryInner {
    fn record_key(id: TenantId) -> SqlResult<Vec<u8>> {
        index_key(TenantId::SYSTEM, tables::TENANTS, 1, &(id.0,))
            .map_err(|e| SqlError::internal(e.to_string()))
    }

    /// Loads the directory from KV, bootstrapping a new cluster first if needed.
    pub async fn load_or_bootstrap(
        store: Store,
        boot: &BootstrapConfig,
    ) -> SqlResult<Arc<RegistryInner>> {
        let inner = Arc::new(RegistryInner {
            store,
            clusters: RwLock::new(BTreeMap::new()),
            default_target: RwLock::new("system".into()),
        });
        let bootstrapped = {
            let mut txn = inner.store.begin();
            let r = Catalog::new(TenantId::SYSTEM)
                .is_bootstrapped(&mut txn)
                .await?;
            txn.rollback();
            r
        };
        if !bootstrapped {
            inner.bootstrap(boot).await?;
        }
        inner.reload().await?;
        Ok(inner)
    }

    async fn bootstrap(&self, boot: &BootstrapConfig) -> SqlResult<()> {
        let specs = boot.virtual_clusters.clone();
        let settings = boot.settings_to_apply();
        self.store
            .run_txn(20, |txn| {
                let specs = specs.clone();
                let settings = settings.clone();
                Box::pin(async move {
                    for s in &specs {
                        Catalog::new(s.id)
                            .bootstrap(txn)
                            .await
                            .map_err(|e| KvError::InvalidArgument(e.message))?;
                        let rec = TenantRecord {
                            id: s.id,
                            name: s.name.clone(),
                            data_state: s.data_state.as_str().into(),
                            service_mode: s.service_mode.as_str().into(),
                        };
                        txn.put(
                            &Self::record_key(s.id)
                                .map_err(|e| KvError::InvalidArgument(e.message))?,
                            &encode(&rec),
                        )?;
                    }
                    let sys = Catalog::new(TenantId::SYSTEM);
                    for (k, v) in &settings {
                        sys.put_setting(txn, k, Some(v))
                            .map_err(|e| KvError::InvalidArgument(e.message))?;
                    }
                    Ok(())
                })
            })
            .await
            .map_err(kv_err)?;
        tracing::info!(clusters = specs.len(), "bootstrapped virtual clusters");
        Ok(())
    }

    async fn reload(&self) -> SqlResult<()> {
        let mut txn = self.store.begin();
        let rows = txn
            .scan(
                &index_span(TenantId::SYSTEM, tables::TENANTS, 1),
                usize::MAX,
            )
            .await
            .map_err(kv_err)?;
        let target = Catalog::new(TenantId::SYSTEM)
            .setting(&mut txn, DEFAULT_TARGET_CLUSTER)
            .await?;
        txn.rollback();
        let mut map = BTreeMap::new();
        for (_, v) in rows {
            let r: TenantRecord = decode(&v)
                .map_err(|e| SqlError::internal(format!("corrupt tenant record: {e}")))?;
            map.insert(r.id, r);
        }
        *self.clusters.write() = map;
        *self.default_target.write() = target.unwrap_or_else(|| "system".into());
        Ok(())
    }

    /// Every virtual cluster.
    pub fn list(&self) -> Vec<TenantRecord> {
        self.clusters.read().values().cloned().collect()
    }

    /// The cluster named `name`.
    pub fn find(&self, name: &str) -> Option<TenantRecord> {
        self.by_name(name)
    }

    /// The cluster with id `id`.
    pub fn get(&self, id: TenantId) -> Option<TenantRecord> {
        self.clusters.read().get(&id).cloned()
    }

    fn next_id(&self) -> TenantId {
        TenantId(
            self.clusters
                .read()
                .keys()
                .map(|k| k.0)
                .max()
                .unwrap_or(1)
                .max(1)
                + 1,
        )
    }

    /// Creates the record of a virtual cluster that physical replication fills: `data_state`
    /// `add`, service `none`, and no catalog (its whole keyspace comes from the source).
    pub async fn create_replication_target(&self, name: &str) -> SqlResult<TenantId> {
        validate_name(name)?;
        if self.by_name(name).is_some() {
            return Err(SqlError::new(
                SqlState::DUPLICATE_OBJECT,
                format!("virtual cluster with name \"{name}\" already exists"),
            ));
        }
        let rec = TenantRecord {
            id: self.next_id(),
            name: name.into(),
            data_state: DataState::Add.as_str().into(),
            service_mode: ServiceMode::None.as_str().into(),
        };
        self.save(&rec).await?;
        Ok(rec.id)
    }

    /// Sets a cluster's `data_state` (physical replication marks a failed-over cluster
    /// `ready`).
    pub async fn set_data_state(&self, id: TenantId, state: DataState) -> SqlResult<()> {
        let mut rec = self.get(id).ok_or_else(|| not_found(&id.to_string()))?;
        rec.data_state = state.as_str().into();
        self.save(&rec).await
    }

    /// Removes a cluster's record (after its data is gone, or undoing
    /// [`RegistryInner::create_replication_target`] when a later step fails).
    pub async fn remove_record(&self, id: TenantId) -> SqlResult<()> {
        let key = Self::record_key(id)?;
        self.store
            .run_txn(20, |txn| {
                let key = key.clone();
                Box::pin(async move { txn.delete(&key) })
            })
            .await
            .map_err(kv_err)?;
        self.clusters.write().remove(&id);
        Ok(())
    }

    fn by_name(&self, name: &str) -> Option<TenantRecord> {
        self.clusters
            .read()
            .values()
            .find(|r| r.name == name)
            .cloned()
    }

    async fn save(&self, rec: &TenantRecord) -> SqlResult<()> {
        let key = Self::record_key(rec.id)?;
        let raw = encode(rec);
        self.store
            .run_txn(20, |txn| {
                let (key, raw) = (key.clone(), raw.clone());
                Box::pin(async move { txn.put(&key, &raw) })
            })
            .await
            .map_err(kv_err)?;
        self.clusters.write().insert(rec.id, rec.clone());
        Ok(())
    }

    /// Picks the cluster for a new connection.
    pub fn route(&self, name: Option<&str>) -> SqlResult<(TenantId, String)> {
        let name = match name {
            Some(n) => n.to_string(),
            None => self.default_target.read().clone(),
        };
        let rec = self.by_name(&name).ok_or_else(|| not_found(&name))?;
        if !rec.is_serving() {
            return Err(SqlError::new(
                SqlState::CANNOT_CONNECT_NOW,
                format!(
                    "virtual cluster \"{name}\" is not serving (data_state {}, service_mode {})",
                    rec.data_state, rec.service_mode
                ),
            ));
        }
        Ok((rec.id, rec.name))
    }

    async fn create(&self, name: &str, if_not_exists: bool, like: Option<&str>) -> SqlResult<()> {
        validate_name(name)?;
        if self.by_name(name).is_some() {
            if if_not_exists {
                return Ok(());
            }
            return Err(SqlError::new(
                SqlState::DUPLICATE_OBJECT,
                format!("virtual cluster with name \"{name}\" already exists"),
            ));
        }
        let template = match like {
            Some(t) => Some(self.by_name(t).ok_or_else(|| not_found(t))?),
            None => None,
        };
        let id = self.next_id();
        let rec = TenantRecord {
            id,
            name: name.into(),
            data_state: DataState::Ready.as_str().into(),
            service_mode: ServiceMode::None.as_str().into(),
        };
        let key = Self::record_key(id)?;
        self.store
            .run_txn(20, |txn| {
                let (key, rec, template) = (key.clone(), rec.clone(), template.clone());
                Box::pin(async move {
                    let cat = Catalog::new(rec.id);
                    cat.bootstrap(txn)
                        .await
                        .map_err(|e| KvError::InvalidArgument(e.message))?;
                    if let Some(t) = template {
                        for (k, v) in Catalog::new(t.id)
                            .settings(txn)
                            .await
                            .map_err(|e| KvError::InvalidArgument(e.message))?
                        {
                            cat.put_setting(txn, &k, Some(&v))
                                .map_err(|e| KvError::InvalidArgument(e.message))?;
                        }
                    }
                    txn.put(&key, &encode(&rec))
                })
            })
            .await
            .map_err(kv_err)?;
        self.clusters.write().insert(id, rec);
        Ok(())
    }

    async fn alter(
        &self,
        name: &str,
        action: &AlterVirtualClusterAction,
    ) -> SqlResult<QueryResult> {
        let mut rec = self.by_name(name).ok_or_else(|| not_found(name))?;
        match action {
            AlterVirtualClusterAction::StartServiceShared => {
                if rec.data_state != DataState::Ready.as_str() {
                    return Err(SqlError::new(
                        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        format!(
                            "virtual cluster \"{name}\" is not ready (data_state {})",
                            rec.data_state
                        ),
                    ));
                }
                rec.service_mode = ServiceMode::Shared.as_str().into();
            }
            AlterVirtualClusterAction::StopService => {
                if rec.id == TenantId::SYSTEM {
                    return Err(SqlError::new(
                        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        "cannot stop the system virtual cluster",
                    ));
                }
                rec.service_mode = ServiceMode::None.as_str().into();
            }
            AlterVirtualClusterAction::RenameTo(new) => {
                validate_name(new)?;
                if rec.id == TenantId::SYSTEM {
                    return Err(SqlError::new(
                        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        "cannot rename the system virtual cluster",
                    ));
                }
                if rec.service_mode != ServiceMode::None.as_str() {
                    return Err(SqlError::new(
                        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        format!(
                            "cannot rename virtual cluster \"{name}\" while its service is running; stop it first with ALTER VIRTUAL CLUSTER {name} STOP SERVICE"
                        ),
                    ));
                }
                if self.by_name(new).is_some() {
                    return Err(SqlError::new(
                        SqlState::DUPLICATE_OBJECT,
                        format!("virtual cluster with name \"{new}\" already exists"),
                    ));
                }
                rec.name = new.clone();
            }
            other => {
                return Err(SqlError::unsupported(format!(
                    "ALTER VIRTUAL CLUSTER ... {other:?} (physical cluster replication)"
                )));
            }
        }
        self.save(&rec).await?;
        Ok(QueryResult::Command("ALTER VIRTUAL CLUSTER".into()))
    }

    async fn drop_cluster(&self, name: &str, if_exists: bool, _immediate: bool) -> SqlResult<()> {
        let Some(mut rec) = self.by_name(name) else {
            return if if_exists {
                Ok(())
            } else {
                Err(not_found(name))
            };
        };
        if rec.id == TenantId::SYSTEM {
            return Err(SqlError::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                "cannot drop the system virtual cluster",
            ));
        }
        if rec.service_mode != ServiceMode::None.as_str() {
            return Err(SqlError::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "cannot drop virtual cluster \"{name}\" in service mode {}; stop it first with ALTER VIRTUAL CLUSTER {name} STOP SERVICE",
                    rec.service_mode
                ),
            ));
        }
        rec.data_state = DataState::Dropping.as_str().into();
        self.save(&rec).await?;
        // Remove the data: every version in the span, in batches, then the record.
        self.store
            .revert_span(&tenant_span(rec.id), Timestamp::MIN, 10_000, |_| {})
            .await
            .map_err(kv_err)?;
        self.remove_record(rec.id).await
    }
}

/// The registry actor.
pub struct TenantRegistry {
    inner: Arc<RegistryInner>,
}

impl TenantRegistry {
    /// An actor over loaded state.
    pub fn new(inner: Arc<RegistryInner>) -> TenantRegistry {
        TenantRegistry { inner }
    }
}

impl Actor for TenantRegistry {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::debug!(
            clusters = self.inner.list().len(),
            "tenant registry started"
        );
        ctx.run_interval(std::time::Duration::from_secs(1), |act, ctx| {
            if !act.inner.store.system_writes().is_shared() {
                return;
            }
            let inner = act.inner.clone();
            ctx.spawn(
                async move {
                    if let Err(e) = inner.reload().await {
                        tracing::warn!("cannot reload the virtual cluster directory: {e}");
                    }
                }
                .into_actor(act),
            );
        });
    }
}

impl Supervised for TenantRegistry {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        tracing::warn!("tenant registry restarting");
    }
}

/// List every virtual cluster.
#[derive(Message)]
#[rtype(result = "Vec<TenantRecord>")]
pub struct ListClusters;

/// Route a new connection.
#[derive(Message)]
#[rtype(result = "SqlResult<(TenantId, String)>")]
pub struct Route {
    /// The `-ccluster` option, if given.
    pub cluster: Option<String>,
}

/// Create a virtual cluster.
#[derive(Message)]
#[rtype(result = "SqlResult<()>")]
pub struct CreateCluster {
    /// Name.
    pub name: String,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// `LIKE`.
    pub like: Option<String>,
}

/// Alter a virtual cluster.
#[derive(Message)]
#[rtype(result = "SqlResult<QueryResult>")]
pub struct AlterCluster {
    /// Name.
    pub name: String,
    /// Action.
    pub action: AlterVirtualClusterAction,
}

/// Drop a virtual cluster.
#[derive(Message)]
#[rtype(result = "SqlResult<()>")]
pub struct DropCluster {
    /// Name.
    pub name: String,
    /// `IF EXISTS`.
    pub if_exists: bool,
    /// `IMMEDIATE`.
    pub immediate: bool,
}

/// A cluster setting changed (reload routing-relevant settings).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SettingChanged {
    /// The tenant.
    pub tenant: TenantId,
    /// Setting name.
    pub name: String,
    /// New value (`None` = default).
    pub value: Option<String>,
}

impl Handler<ListClusters> for TenantRegistry {
    type Result = MessageResult<ListClusters>;
    /// Lists clusters from memory.
    fn handle(&mut self, _: ListClusters, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.inner.list())
    }
}

impl Handler<Route> for TenantRegistry {
    type Result = SqlResult<(TenantId, String)>;
    /// Routes a connection.
    fn handle(&mut self, m: Route, _: &mut Context<Self>) -> Self::Result {
        self.inner.route(m.cluster.as_deref())
    }
}

impl Handler<CreateCluster> for TenantRegistry {
    type Result = ResponseFuture<SqlResult<()>>;
    /// Creates and bootstraps a cluster.
    fn handle(&mut self, m: CreateCluster, _: &mut Context<Self>) -> Self::Result {
        let inner = self.inner.clone();
        Box::pin(async move {
            inner
                .create(&m.name, m.if_not_exists, m.like.as_deref())
                .await
        })
    }
}

impl Handler<AlterCluster> for TenantRegistry {
    type Result = ResponseFuture<SqlResult<QueryResult>>;
    /// Alters a cluster.
    fn handle(&mut self, m: AlterCluster, _: &mut Context<Self>) -> Self::Result {
        let inner = self.inner.clone();
        Box::pin(async move { inner.alter(&m.name, &m.action).await })
    }
}

impl Handler<DropCluster> for TenantRegistry {
    type Result = ResponseFuture<SqlResult<()>>;
    /// Drops a cluster and its data.
    fn handle(&mut self, m: DropCluster, _: &mut Context<Self>) -> Self::Result {
        let inner = self.inner.clone();
        Box::pin(async move { inner.drop_cluster(&m.name, m.if_exists, m.immediate).await })
    }
}

impl Handler<SettingChanged> for TenantRegistry {
    type Result = ();
    /// Tracks the default target cluster.
    fn handle(&mut self, m: SettingChanged, _: &mut Context<Self>) {
        if m.tenant == TenantId::SYSTEM && m.name == DEFAULT_TARGET_CLUSTER {
            *self.inner.default_target.write() = m.value.unwrap_or_else(|| "system".into());
        }
    }
}

/// [`VirtualClusterAdmin`] for SQL sessions, over the registry actor.
#[derive(Clone)]
pub struct RegistryAdmin {
    /// The actor.
    pub addr: Addr<TenantRegistry>,
}

fn mailbox(e: MailboxError) -> SqlError {
    SqlError::internal(format!("tenant registry unavailable: {e}"))
}

#[async_trait::async_trait]
impl VirtualClusterAdmin for RegistryAdmin {
    async fn list(&self) -> SqlResult<Vec<VirtualClusterInfo>> {
        Ok(self
            .addr
            .send(ListClusters)
            .await
            .map_err(mailbox)?
            .iter()
            .map(TenantRecord::info)
            .collect())
    }
    async fn create(&self, name: &str, if_not_exists: bool, like: Option<&str>) -> SqlResult<()> {
        self.addr
            .send(CreateCluster {
                name: name.into(),
                if_not_exists,
                like: like.map(String::from),
            })
            .await
            .map_err(mailbox)?
    }
    async fn alter(
        &self,
        name: &str,
        action: &AlterVirtualClusterAction,
    ) -> SqlResult<QueryResult> {
        self.addr
            .send(AlterCluster {
                name: name.into(),
                action: action.clone(),
            })
            .await
            .map_err(mailbox)?
    }
    async fn drop_cluster(&self, name: &str, if_exists: bool, immediate: bool) -> SqlResult<()> {
        self.addr
            .send(DropCluster {
                name: name.into(),
                if_exists,
                immediate,
            })
            .await
            .map_err(mailbox)?
    }
    async fn setting_changed(&self, tenant: TenantId, name: &str, value: Option<&str>) {
        self.addr.do_send(SettingChanged {
            tenant,
            name: name.into(),
            value: value.map(String::from),
        });
    }
}
