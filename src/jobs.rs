//! Jobs: long-running work recorded in the system virtual cluster's `jobs` table
//! (`/Tenant/1/Table/9/1/(id)`), listed by `SHOW JOBS`.
//!
//! Kinds: physical cluster replication's (the standby's `REPLICATION STREAM INGESTION` job, one
//! per replicating virtual cluster, and the primary's `REPLICATION STREAM PRODUCER` job, one per
//! stream, holding the source's protected timestamp), and the schema changer's
//! (`SCHEMA CHANGE`: a batched backfill, see `crate::sql::schema_jobs`; `SCHEMA CHANGE GC`: the
//! batched deletion of dropped tables' and indexes' data). A record is written in its own transaction; [`update`] reads, changes and writes
//! it in one transaction, so concurrent updates never lose each other. Records are durable and
//! replicated like any data: a node that restarts resumes its running jobs from them.
//!
//! Ids look like CockroachDB's (large, time-ordered): milliseconds since the epoch shifted left
//! by 15 bits plus 15 random bits.

use crate::clock::Timestamp;
use crate::ids::{JobId, TenantId};
use crate::kv::{KvError, Store};
use crate::replication::status::ReplicationStatus;
use crate::sql::catalog::tables;
use crate::storage::keys::{index_key, index_span};
use crate::storage::records::{decode, encode};
use serde::{Deserialize, Serialize};

/// The kind of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobType {
    /// The standby's consumer.
    ReplicationStreamIngestion,
    /// The primary's producer.
    ReplicationStreamProducer,
    /// A backfill (index, primary key).
    SchemaChange,
    /// The deletion of dropped data.
    SchemaChangeGc,
}

impl JobType {
    /// `SHOW JOBS`'s `job_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::ReplicationStreamIngestion => "REPLICATION STREAM INGESTION",
            JobType::ReplicationStreamProducer => "REPLICATION STREAM PRODUCER",
            JobType::SchemaChange => "SCHEMA CHANGE",
            JobType::SchemaChangeGc => "SCHEMA CHANGE GC",
        }
    }
}

/// A job's lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    /// Running (or retrying after an error).
    Running,
    /// Paused by a user.
    Paused,
    /// Done.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Canceled (e.g. its virtual cluster was dropped).
    Canceled,
}

impl JobStatus {
    /// `SHOW JOBS`'s `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Paused => "paused",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Canceled => "canceled",
        }
    }

    /// Whether the job is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
        )
    }
}

/// The consumer's state, persisted so a restart resumes where it was.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestionDetails {
    /// The replicating (destination) virtual cluster.
    pub dest_tenant: TenantId,
    /// The source virtual cluster's name on the primary.
    pub source_tenant_name: String,
    /// The source tenant id on the primary.
    pub source_tenant_id: TenantId,
    /// The source cluster's id.
    pub source_cluster_id: String,
    /// The primary's URI as given (secrets included; shown only redacted).
    pub source_uri: String,
    /// The producer's stream id.
    pub stream_id: JobId,
    /// The replication start time (the initial scan's timestamp).
    pub start_time: Timestamp,
    /// `RETENTION`, in seconds.
    pub retention_secs: u64,
    /// The replicated time; `None` until the initial scan is done.
    pub replicated_time: Option<Timestamp>,
    /// The destination's protected timestamp record (the retained time).
    pub dest_pts: Option<u128>,
    /// The replication state.
    pub status: ReplicationStatus,
    /// The failover time once `COMPLETE REPLICATION` set it.
    pub cutover_time: Option<Timestamp>,
    /// Revert progress during failover (0..1).
    pub failover_progress: f64,
    /// The last error, while retrying.
    pub last_error: Option<String>,
    /// SQL addresses of the source's nodes, learned from its stream specs: where the job
    /// reconnects (with the URI's credentials) when the node the URI names is down, whichever
    /// standby node runs it.
    pub source_nodes: Vec<String>,
}

impl IngestionDetails {
    /// The retained time: `max(replicated_time - retention, start_time)`, capped at the
    /// failover time once one is set.
    pub fn retained_time(&self) -> Timestamp {
        let mut t = match self.replicated_time {
            Some(r) => r
                .sub_duration(std::time::Duration::from_secs(self.retention_secs))
                .max(self.start_time),
            None => self.start_time,
        };
        if let Some(c) = self.cutover_time {
            t = t.min(c);
        }
        t
    }
}

/// The producer's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerDetails {
    /// The source tenant.
    pub tenant: TenantId,
    /// Its name.
    pub tenant_name: String,
    /// The replication start time.
    pub start_time: Timestamp,
    /// The protected timestamp record over the tenant span.
    pub pts_id: u128,
    /// The protected time (moves up with heartbeats).
    pub protected_time: Timestamp,
    /// How long the job lives without a heartbeat, in seconds.
    pub expiration_window_secs: u64,
    /// When it expires unless heartbeated.
    pub expiration: Timestamp,
}

/// A backfill's state, persisted after every batch so a restart resumes where it was.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchemaChangeDetails {
    /// The virtual cluster of the table.
    pub tenant: TenantId,
    /// The table.
    pub table_id: u32,
    /// The index id of the mutation being backfilled.
    pub index_id: u32,
    /// The next primary key to backfill from; `None` before the first batch.
    pub resume: Option<Vec<u8>>,
    /// Whether every row has been backfilled (then validation and the swap remain).
    pub backfilled: bool,
    /// Rows backfilled so far.
    pub rows_done: u64,
    /// Rows in the table when the job started (for the fraction).
    pub rows_total: u64,
}

/// A GC job's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GcDetails {
    /// The virtual cluster whose data is deleted.
    pub tenant: TenantId,
    /// What was dropped (`table t`, `index t@i`), for the running status.
    pub what: String,
    /// The key spans still to delete, as (start, end).
    pub spans: Vec<(Vec<u8>, Vec<u8>)>,
    /// Keys deleted so far.
    pub keys_done: u64,
    /// Keys to delete when the job started (for the fraction).
    pub keys_total: u64,
}

/// What kind of job and its state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum JobDetails {
    /// A consumer.
    Ingestion(IngestionDetails),
    /// A producer.
    Producer(ProducerDetails),
    /// A backfill.
    SchemaChange(SchemaChangeDetails),
    /// A deletion of dropped data.
    Gc(GcDetails),
}

/// One job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Id.
    pub id: JobId,
    /// Kind.
    pub job_type: JobType,
    /// Human-readable description.
    pub description: String,
    /// The user who started it.
    pub user: String,
    /// State.
    pub status: JobStatus,
    /// The node coordinating it.
    pub coordinator: u64,
    /// Created at.
    pub created: Timestamp,
    /// Last written at.
    pub modified: Timestamp,
    /// Finished at.
    pub finished: Option<Timestamp>,
    /// Why it failed.
    pub error: Option<String>,
    /// State.
    pub details: JobDetails,
}

impl JobRecord {
    /// The ingestion details, if a consumer.
    pub fn ingestion(&self) -> Option<&IngestionDetails> {
        match &self.details {
            JobDetails::Ingestion(d) => Some(d),
            _ => None,
        }
    }

    /// The producer details, if a producer.
    pub fn producer(&self) -> Option<&ProducerDetails> {
        match &self.details {
            JobDetails::Producer(d) => Some(d),
            _ => None,
        }
    }

    /// The replication state shown for an ingestion job: `replication paused` while the job is
    /// paused, the job's own state otherwise.
    pub fn replication_status(&self) -> Option<ReplicationStatus> {
        let d = self.ingestion()?;
        Some(if self.status == JobStatus::Paused {
            ReplicationStatus::Paused
        } else {
            d.status
        })
    }

    /// `SHOW JOBS`'s `running_status`.
    pub fn running_status(&self) -> String {
        match &self.details {
            JobDetails::Ingestion(d) if !self.status.is_terminal() => {
                let mut s = d.status.as_str().to_string();
                if let Some(e) = &d.last_error {
                    s.push_str(": ");
                    s.push_str(e);
                }
                s
            }
            JobDetails::Producer(d) if !self.status.is_terminal() => format!(
                "history retained since {} (expires {})",
                d.protected_time, d.expiration
            ),
            JobDetails::SchemaChange(d) if !self.status.is_terminal() => {
                if d.backfilled {
                    "validating and making the change public".to_string()
                } else {
                    format!("backfilling: {} of ~{} rows", d.rows_done, d.rows_total)
                }
            }
            JobDetails::Gc(d) if !self.status.is_terminal() => format!(
                "deleting the data of {}: {} of ~{} keys",
                d.what, d.keys_done, d.keys_total
            ),
            _ => String::new(),
        }
    }

    /// The tenant a schema-change job belongs to (`None` for replication jobs, which belong to
    /// the system virtual cluster).
    pub fn schema_tenant(&self) -> Option<TenantId> {
        match &self.details {
            JobDetails::SchemaChange(d) => Some(d.tenant),
            JobDetails::Gc(d) => Some(d.tenant),
            _ => None,
        }
    }

    /// `SHOW JOBS`'s `fraction_completed`.
    pub fn fraction_completed(&self) -> f64 {
        if self.status == JobStatus::Succeeded {
            return 1.0;
        }
        let part = |done: u64, total: u64| {
            if total == 0 {
                0.0
            } else {
                (done as f64 / total as f64).min(0.99)
            }
        };
        match &self.details {
            JobDetails::Ingestion(d) => d.failover_progress,
            JobDetails::Producer(_) => 0.0,
            JobDetails::SchemaChange(d) if d.backfilled => 0.99,
            JobDetails::SchemaChange(d) => part(d.rows_done, d.rows_total),
            JobDetails::Gc(d) => part(d.keys_done, d.keys_total),
        }
    }
}

/// A new job id.
pub fn new_job_id() -> JobId {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    JobId(((millis << 15) | (rand::random::<u64>() & 0x7FFF)) & (i64::MAX as u64))
}

fn job_key(id: JobId) -> Result<Vec<u8>, KvError> {
    index_key(TenantId::SYSTEM, tables::JOBS, 1, &(id.0,))
        .map_err(|e| KvError::InvalidArgument(e.to_string()))
}

fn corrupt(e: impl std::fmt::Display) -> KvError {
    KvError::InvalidArgument(format!("corrupt job record: {e}"))
}

/// Writes a new job record in the caller's transaction (a schema change records its job
/// atomically with the descriptor change that needs it).
pub fn create_in(txn: &mut crate::kv::Txn, rec: &JobRecord) -> Result<(), KvError> {
    txn.put(&job_key(rec.id)?, &encode(rec))
}

/// Writes a new job record.
pub async fn create(store: &Store, rec: &JobRecord) -> Result<(), KvError> {
    let key = job_key(rec.id)?;
    let raw = encode(rec);
    store
        .run_txn(20, |txn| {
            let (key, raw) = (key.clone(), raw.clone());
            Box::pin(async move { txn.put(&key, &raw) })
        })
        .await?;
    Ok(())
}

/// Reads a job record.
pub async fn load(store: &Store, id: JobId) -> Result<Option<JobRecord>, KvError> {
    let key = job_key(id)?;
    let mut txn = store.begin();
    let raw = txn.get(&key).await;
    txn.rollback();
    match raw? {
        Some(v) => Ok(Some(decode(&v).map_err(corrupt)?)),
        None => Ok(None),
    }
}

/// Reads, changes and writes a job record in one transaction; returns the new record. `f` may
/// refuse the change with an error (nothing is written then).
pub async fn update<F>(store: &Store, id: JobId, f: F) -> Result<JobRecord, KvError>
where
    F: Fn(&mut JobRecord) -> Result<(), KvError>,
{
    let key = job_key(id)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut txn = store.begin();
        let r = async {
            let raw = txn
                .get(&key)
                .await?
                .ok_or_else(|| KvError::InvalidArgument(format!("job {id} does not exist")))?;
            let mut rec: JobRecord = decode(&raw).map_err(corrupt)?;
            f(&mut rec)?;
            rec.modified = txn.read_timestamp();
            txn.put(&key, &encode(&rec))?;
            txn.commit().await?;
            Ok::<JobRecord, KvError>(rec)
        }
        .await;
        match r {
            Ok(rec) => return Ok(rec),
            Err(e) if e.is_retryable() && attempt < 50 => {
                txn.rollback();
                tokio::time::sleep(std::time::Duration::from_millis(attempt.min(20))).await;
            }
            Err(e) => {
                txn.rollback();
                return Err(e);
            }
        }
    }
}

/// Every job, oldest first.
pub async fn list(store: &Store) -> Result<Vec<JobRecord>, KvError> {
    let mut txn = store.begin();
    let rows = txn
        .scan(&index_span(TenantId::SYSTEM, tables::JOBS, 1), usize::MAX)
        .await;
    txn.rollback();
    let mut out = Vec::new();
    for (_, v) in rows? {
        out.push(decode::<JobRecord>(&v).map_err(corrupt)?);
    }
    out.sort_by_key(|j| (j.created, j.id));
    Ok(out)
}
