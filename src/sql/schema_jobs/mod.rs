//! Schema changes as jobs: the statements that touch every row of a large table record a job in
//! their own transaction and leave the rows to it.
//!
//! - Backfills (`CREATE INDEX`, `ADD CONSTRAINT ... UNIQUE`, `ADD PRIMARY KEY`,
//!   `ADD COLUMN ... DEFAULT`): the statement adds a [`Mutation`](super::catalog::Mutation) in
//!   its write-only state to the descriptor and a `SCHEMA CHANGE` job ([`backfill`]). From the
//!   commit on, every row write maintains the new index or column (see `rows::mutations`)
//!   while the job writes the entries of the rows that existed,
//!   batch by batch, each batch its own transaction. The table stays readable and writable
//!   throughout; reads use the new index only once the job has validated it (unique entries
//!   counted against the rows) and made it public in one descriptor write.
//! - Drops (`DROP TABLE`, `DROP INDEX`, `DROP DATABASE`, `TRUNCATE`): the statement changes only
//!   descriptors (a TRUNCATE gives the table new, empty index ids) and records a
//!   `SCHEMA CHANGE GC` job ([`gc`]) that deletes the old keys in batches with ordinary MVCC
//!   deletions: tombstones, which rangefeeds (physical replication) carry like any write; the
//!   space itself is reclaimed by MVCC GC after the GC TTL.
//!
//! A table with at most `bulkio.index_backfill.batch_size` rows is changed in the statement's
//! own transaction instead (no job): one batch is what a job transaction would write anyway.
//!
//! After the statement's transaction commits (or the explicit transaction's COMMIT), the
//! session starts the jobs on this node and waits for the backfills (as CockroachDB does; an
//! error there is the statement's error, and the table is left as before the statement); drops
//! return at once. Jobs run in node-wide tasks ([`Registry`]), so a client that disconnects does
//! not stop them. On SIGTERM the node aborts them between batches; the record stays `running`
//! and any node resumes it when it starts ([`resume_all`]) from the last recorded batch.
//! Batches are idempotent, so two nodes running one job (a resume while another node still
//! runs it) only repeat work.

mod backfill;
mod gc;

use super::catalog::{Catalog, Mutation, TableDesc};
use super::error::{Result, SqlError};
use super::exec::{Ctx, MemoryAccount};
use super::sqlstate::SqlState;
use crate::ids::{JobId, TenantId};
use crate::jobs::{
    self, GcDetails, JobDetails, JobRecord, JobStatus, JobType, SchemaChangeDetails,
};
use crate::kv::{Store, Txn};
use crate::storage::keys::Span;
use std::collections::HashMap;
use std::sync::Arc;

/// Attempts of one job step that fails transiently (conflicts, unavailable ranges).
const BATCH_RETRIES: u32 = 100;

/// Default rows per batch (`bulkio.index_backfill.batch_size`).
const DEFAULT_BATCH: usize = 20_000;

/// Jobs recorded by the current transaction: (id, whether the statement waits for it).
#[derive(Clone, Debug, Default)]
pub struct PendingJobs(Arc<parking_lot::Mutex<Vec<(JobId, bool)>>>);

impl PendingJobs {
    fn push(&self, id: JobId, wait: bool) {
        self.0.lock().push((id, wait));
    }

    /// Forgets the jobs (their transaction rolled back, so their records do not exist).
    pub fn clear(&self) {
        self.0.lock().clear();
    }

    fn take(&self) -> Vec<(JobId, bool)> {
        std::mem::take(&mut *self.0.lock())
    }
}

/// A job's outcome as its waiters see it.
type Outcome = Option<std::result::Result<(), SqlError>>;

#[derive(Default)]
struct Inner {
    running: HashMap<
        JobId,
        (
            tokio::sync::watch::Receiver<Outcome>,
            tokio::task::AbortHandle,
        ),
    >,
    stopped: bool,
}

/// The schema-change jobs running on this node (one registry per store).
#[derive(Default)]
pub struct Registry {
    inner: parking_lot::Mutex<Inner>,
}

/// Starts job `id` on this node unless it already runs here or the node is stopping.
pub fn start(store: &Store, id: JobId) {
    let reg = store.extension::<Registry>();
    let mut inner = reg.inner.lock();
    if inner.stopped || inner.running.contains_key(&id) {
        return;
    }
    let (tx, rx) = tokio::sync::watch::channel(None);
    let (s, r) = (store.clone(), reg.clone());
    let task = tokio::spawn(async move {
        let out = run(&s, id).await;
        if let Err(e) = &out {
            tracing::warn!(%id, "schema change job failed: {}", e.message);
        }
        r.inner.lock().running.remove(&id);
        let _ = tx.send(Some(out));
    });
    inner.running.insert(id, (rx, task.abort_handle()));
}

/// Waits for job `id` to finish; its error, if it failed.
pub async fn wait(store: &Store, id: JobId) -> Result<()> {
    let rx = store
        .extension::<Registry>()
        .inner
        .lock()
        .running
        .get(&id)
        .map(|(rx, _)| rx.clone());
    if let Some(mut rx) = rx {
        // An error here means the task was aborted (the node is stopping).
        if let Ok(v) = rx.wait_for(Option::is_some).await
            && let Some(out) = v.clone()
        {
            return out;
        }
    }
    match jobs::load(store, id).await? {
        Some(r) if r.status == JobStatus::Succeeded => Ok(()),
        Some(r) if r.status.is_terminal() => Err(SqlError::new(
            SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            r.error.unwrap_or_else(|| "schema change failed".into()),
        )),
        _ => Err(SqlError::new(
            SqlState("57P01"),
            format!("the node is shutting down; schema change job {id} resumes when a node starts"),
        )),
    }
}

/// Starts the jobs `pending` recorded (their transaction has committed) and waits for those
/// the statement waits for; the first error.
pub async fn after_commit(store: &Store, pending: &PendingJobs) -> Result<()> {
    let all = pending.take();
    for (id, _) in &all {
        start(store, *id);
    }
    for (id, w) in all {
        if w {
            // The statement's transaction committed: its error must not make it run again.
            wait(store, id).await.map_err(|e| {
                if e.is_retryable() {
                    SqlError::new(SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE, e.message)
                } else {
                    e
                }
            })?;
        }
    }
    Ok(())
}

/// 55000 when `t` has a schema change in progress (changes of its indexes or columns wait
/// for it: a new primary key would not carry them over).
pub fn check_no_changes(t: &TableDesc) -> Result<()> {
    if t.changes.mutations.is_empty() {
        return Ok(());
    }
    Err(SqlError::new(
        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!(
            "table \"{}\" has a schema change in progress; retry when its job has finished",
            t.name
        ),
    )
    .with_hint("SHOW JOBS lists the running schema changes."))
}

/// Stops every job of this node (SIGTERM): they stay `running` in their records.
pub fn shutdown(store: &Store) {
    let reg = store.extension::<Registry>();
    let mut inner = reg.inner.lock();
    inner.stopped = true;
    for (_, (_, abort)) in inner.running.drain() {
        abort.abort();
    }
}

/// Starts every schema-change job recorded as running (at node start).
pub async fn resume_all(store: &Store) -> Result<()> {
    for j in jobs::list(store).await? {
        if j.schema_tenant().is_some() && j.status == JobStatus::Running {
            tracing::info!(id = %j.id, "resuming schema change job");
            start(store, j.id);
        }
    }
    Ok(())
}

/// Runs a job to its end and records how it ended.
async fn run(store: &Store, id: JobId) -> Result<()> {
    // No record: its transaction did not keep it (rolled back to a savepoint).
    let Some(rec) = jobs::load(store, id).await? else {
        return Ok(());
    };
    let out = match rec.details.clone() {
        JobDetails::SchemaChange(d) => backfill::run(store, id, d).await,
        JobDetails::Gc(d) => gc::run(store, id, d).await,
        _ => {
            return Err(SqlError::internal(format!(
                "job {id} is not a schema change"
            )));
        }
    };
    let now = store.now();
    let err = out.as_ref().err().map(|e| e.message.clone());
    jobs::update(store, id, |r| {
        r.status = if err.is_none() {
            JobStatus::Succeeded
        } else {
            JobStatus::Failed
        };
        r.error = err.clone();
        r.finished = Some(now);
        Ok(())
    })
    .await?;
    out
}

/// A statement context for a job's transactions.
fn job_ctx(tenant: TenantId) -> Ctx<'static> {
    Ctx {
        tenant,
        user: "node",
        database: "",
        catalog: Catalog::new(tenant),
        now_nanos: 0,
        describe_only: false,
        memory: MemoryAccount::default(),
        oids: None,
        search_path: Vec::new(),
        jobs: PendingJobs::default(),
        lock_timeout: None,
    }
}

/// Rows per batch for `tenant` (`bulkio.index_backfill.batch_size`).
async fn batch_size_in(catalog: &Catalog, txn: &mut Txn) -> Result<usize> {
    Ok(catalog
        .setting(txn, "bulkio.index_backfill.batch_size")
        .await?
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_BATCH))
}

/// Whether `t` is small enough to change in the statement's transaction (at most one batch).
pub async fn is_small(ctx: &Ctx<'_>, txn: &mut Txn, t: &TableDesc) -> Result<bool> {
    let batch = batch_size_in(&ctx.catalog, txn).await?;
    let span = super::exec::table_span(ctx.tenant, t);
    Ok(txn.scan(&span, batch + 1).await?.len() <= batch)
}

fn new_record(
    ctx: &Ctx<'_>,
    txn: &Txn,
    job_type: JobType,
    description: String,
    details: JobDetails,
) -> JobRecord {
    let now = txn.read_timestamp();
    JobRecord {
        id: jobs::new_job_id(),
        job_type,
        description,
        user: ctx.user.to_string(),
        status: JobStatus::Running,
        coordinator: txn.store().node_id().0,
        created: now,
        modified: now,
        finished: None,
        error: None,
        details,
    }
}

/// Adds mutation `m` to `t` (written by the caller) and records its backfill job, which the
/// statement waits for after its commit.
pub fn enqueue_backfill(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &mut TableDesc,
    m: Mutation,
    description: String,
) -> Result<()> {
    let details = JobDetails::SchemaChange(SchemaChangeDetails {
        tenant: ctx.tenant,
        table_id: t.id,
        index_id: m.index_id(),
        resume: None,
        backfilled: false,
        rows_done: 0,
        rows_total: 0,
    });
    t.changes.mutations.push(m);
    let rec = new_record(ctx, txn, JobType::SchemaChange, description, details);
    jobs::create_in(txn, &rec)?;
    ctx.jobs.push(rec.id, true);
    Ok(())
}

/// Records a job deleting `spans` of `tenant` (dropped data); the statement does not wait.
pub fn enqueue_gc(ctx: &Ctx<'_>, txn: &mut Txn, what: String, spans: Vec<Span>) -> Result<()> {
    if spans.is_empty() {
        return Ok(());
    }
    let details = JobDetails::Gc(GcDetails {
        tenant: ctx.tenant,
        what: what.clone(),
        spans: spans.into_iter().map(|s| (s.start.0, s.end.0)).collect(),
        keys_done: 0,
        keys_total: 0,
    });
    let rec = new_record(
        ctx,
        txn,
        JobType::SchemaChangeGc,
        format!("GC for {what}"),
        details,
    );
    jobs::create_in(txn, &rec)?;
    ctx.jobs.push(rec.id, false);
    Ok(())
}

/// The span of every index of table `id`.
pub fn whole_table_span(tenant: TenantId, id: u32) -> Span {
    use crate::storage::keys::index_prefix;
    Span::new(
        index_prefix(tenant, id, 0),
        index_prefix(tenant, id.saturating_add(1), 0),
    )
}

/// The pause before attempt `attempt + 1` of a step that failed transiently: growing, ~40 s
/// over [`BATCH_RETRIES`] attempts.
pub(super) async fn pause(attempt: u32) {
    tokio::time::sleep(std::time::Duration::from_millis(
        10 * u64::from(attempt.min(50)),
    ))
    .await;
}

/// Runs `step` again while it fails transiently (a conflict, or a range that could not serve it
/// in time: a lease moving, a node overloaded or restarting). Every step of the job reads or
/// writes only what running it again reads or writes too, so repeating one is safe even when
/// its commit's outcome was ambiguous; giving up on a 10-million-row backfill because one
/// call timed out would throw all of it away.
pub(super) async fn retry_transient<T, F, Fut>(mut step: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match step().await {
            Err(e) if e.is_transient() && attempt < BATCH_RETRIES => {
                tracing::warn!(
                    attempt,
                    "schema change step failed, retrying: {}",
                    e.message
                );
                pause(attempt).await;
            }
            other => return other,
        }
    }
}

/// Counts the keys of `span` at `txn`'s timestamp, a page at a time.
async fn count_span(txn: &mut Txn, span: &Span, page: usize) -> Result<u64> {
    let mut n = 0u64;
    let mut cursor = span.clone();
    loop {
        let rows = txn.scan(&cursor, page).await?;
        n += rows.len() as u64;
        match rows.last() {
            Some((k, _)) if rows.len() == page => cursor.start = Span::point(k).end,
            _ => return Ok(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::KvError;

    #[test]
    fn an_unavailable_range_is_transient() {
        let e: SqlError = KvError::Unavailable(
            "range: r5 unavailable: call to node 127.0.0.1:1 timed out".into(),
        )
        .into();
        assert!(e.is_transient(), "{e:?}");
        assert_eq!(e.state, SqlState::RANGE_UNAVAILABLE);
        assert!(!SqlError::from(KvError::InvalidArgument("x".into())).is_transient());
        // A range that kept answering "not this range" past the routing deadline (a split a
        // lagging replica had not applied yet) is transient too.
        let mismatch = KvError::Range(crate::actors::range::error::RangeError::KeyMismatch {
            range: crate::ids::RangeId(35),
            span: crate::storage::keys::Span::new(b"a".to_vec(), b"b".to_vec()),
        });
        assert!(SqlError::from(mismatch).is_transient());
    }

    #[tokio::test]
    async fn transient_failures_are_retried_and_others_are_not() {
        let mut calls = 0;
        let r = retry_transient(|| {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(SqlError::from(KvError::Unavailable("timed out".into())))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r.ok(), Some(3));
        let mut calls = 0;
        let r: Result<()> = retry_transient(|| {
            calls += 1;
            async { Err(SqlError::new(SqlState::UNIQUE_VIOLATION, "dup")) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}
