//! `tandem debug kv-workload` and `tandem debug kv-check`: a durability workload on the KV engine.
//!
//! The workload runs `writers` concurrent writers; each loop of writer `w` commits one
//! transaction that writes `/Tenant/2/Table/50/1/(w, seq)` and `/Tenant/2/Table/51/1/(w, seq)`
//! (two tables on different ranges, so every commit is a two-range commit with intents and a
//! transaction record) and then appends `w seq` to the acknowledgement file. `kv-check` reopens
//! the store and verifies that every acknowledged transaction is fully present and that no
//! transaction is half-present. Alongside, one bulk writer ingests batches of
//! [`BULK_ROWS`] ~1 KB versions into `/Tenant/2/Table/52/1/(batch, i)` through
//! [`Store::ingest`] (physical replication's write path; a batch is large enough to be applied
//! as table files) and appends `b batch`; the check verifies every acknowledged batch is
//! complete, value by value. Killing the workload with SIGKILL at any moment and running the
//! check is the crash test.

use crate::ids::TenantId;
use crate::kv::{KvError, Store};
use crate::settings::KvSettings;
use crate::storage::keys::{decode_index_key, index_key, index_span};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TABLE_A: u32 = 50;
const TABLE_B: u32 = 51;
const TABLE_BULK: u32 = 52;
/// Versions per bulk batch: ~2.5 MB, above the range actor's table-apply threshold.
pub const BULK_ROWS: u64 = 2500;

fn bulk_value(batch: u64, i: u64) -> Vec<u8> {
    let unit = format!("{batch}:{i};");
    unit.repeat(1000 / unit.len() + 1).into_bytes()
}

fn key(table: u32, w: u64, seq: u64) -> Result<Vec<u8>, KvError> {
    Ok(index_key(TenantId(2), table, 1, &(w, seq))?)
}

type AckFile = Option<Arc<parking_lot::Mutex<std::fs::File>>>;

/// Appends one acknowledgement line.
fn ack(acks: &AckFile, line: std::fmt::Arguments<'_>) -> Result<(), KvError> {
    if let Some(a) = acks {
        writeln!(a.lock(), "{line}")
            .map_err(|e| KvError::InvalidArgument(format!("write ack: {e}")))?;
    }
    Ok(())
}

/// What a workload run did.
#[derive(Debug, Clone, Copy)]
pub struct WorkloadSummary {
    /// Transactions committed.
    pub commits: u64,
    /// Retryable conflicts retried.
    pub retries: u64,
    /// Bulk batches ingested.
    pub bulk_batches: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// Runs the workload until `duration` passes; acknowledgements go to `ack_file` (appended).
pub async fn run(
    store: &Store,
    writers: u64,
    duration: Duration,
    ack_file: Option<&Path>,
) -> Result<WorkloadSummary, KvError> {
    // Put the two tables on different ranges.
    store
        .split_at(&index_span(TenantId(2), TABLE_B, 1).start.0)
        .await?;
    let acks = match ack_file {
        Some(p) => Some(Arc::new(parking_lot::Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| KvError::InvalidArgument(format!("open {}: {e}", p.display())))?,
        ))),
        None => None,
    };
    // Continue numbering after what earlier runs acknowledged.
    let start_seq = {
        let mut t = store.begin();
        t.scan(&index_span(TenantId(2), TABLE_A, 1), usize::MAX)
            .await?
            .len() as u64
            + 1
    };
    let commits = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let bulk_batches = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    {
        let (store, acks, bulk_batches) = (store.clone(), acks.clone(), bulk_batches.clone());
        let mut batch = bulk_rows(&store)
            .await?
            .keys()
            .map(|(b, _)| *b + 1)
            .max()
            .unwrap_or(1);
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < duration {
                let ts = store.now();
                let versions = (0..BULK_ROWS)
                    .map(|i| {
                        Ok(crate::storage::mvcc::Version {
                            key: index_key(TenantId(2), TABLE_BULK, 1, &(batch, i))?,
                            ts,
                            value: Some(bulk_value(batch, i)),
                        })
                    })
                    .collect::<Result<Vec<_>, KvError>>()?;
                store.ingest(versions).await?;
                ack(&acks, format_args!("b {batch}"))?;
                bulk_batches.fetch_add(1, Ordering::Relaxed);
                batch += 1;
            }
            Ok::<(), KvError>(())
        }));
    }
    for w in 0..writers {
        let (store, acks, commits, retries) = (
            store.clone(),
            acks.clone(),
            commits.clone(),
            retries.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut seq = start_seq;
            while started.elapsed() < duration {
                let value = format!("writer {w} seq {seq}");
                let (ka, kb) = (key(TABLE_A, w, seq)?, key(TABLE_B, w, seq)?);
                loop {
                    let mut t = store.begin();
                    t.put(&ka, value.as_bytes())?;
                    t.put(&kb, value.as_bytes())?;
                    match t.commit().await {
                        Ok(_) => break,
                        Err(e) if e.is_retryable() => {
                            retries.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => return Err(e),
                    }
                }
                ack(&acks, format_args!("{w} {seq}"))?;
                commits.fetch_add(1, Ordering::Relaxed);
                seq += 1;
            }
            Ok::<(), KvError>(())
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| KvError::Unavailable(format!("writer task: {e}")))??;
    }
    Ok(WorkloadSummary {
        commits: commits.load(Ordering::Relaxed),
        retries: retries.load(Ordering::Relaxed),
        bulk_batches: bulk_batches.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    })
}

/// What [`check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Acknowledged transactions.
    pub acknowledged: usize,
    /// Transactions found in the store.
    pub present: usize,
    /// Acknowledged transactions missing from the store.
    pub lost: Vec<(u64, u64)>,
    /// Transactions with only one of their two writes present.
    pub partial: Vec<(u64, u64)>,
    /// Acknowledged bulk batches.
    pub bulk_acknowledged: usize,
    /// Acknowledged bulk batches with a version missing or wrong.
    pub bulk_lost: Vec<u64>,
}

impl CheckReport {
    /// Whether durability and atomicity held.
    pub fn ok(&self) -> bool {
        self.lost.is_empty() && self.partial.is_empty() && self.bulk_lost.is_empty()
    }
}

/// The bulk table's rows: (batch, i) → value.
async fn bulk_rows(
    store: &Store,
) -> Result<std::collections::BTreeMap<(u64, u64), Vec<u8>>, KvError> {
    let mut t = store.begin();
    t.scan(&index_span(TenantId(2), TABLE_BULK, 1), usize::MAX)
        .await?
        .into_iter()
        .map(|(k, v)| Ok((decode_index_key(&k)?, v)))
        .collect()
}

/// Verifies the store against the acknowledgement file.
pub async fn check(store: &Store, ack_file: &Path) -> Result<CheckReport, KvError> {
    let text = std::fs::read_to_string(ack_file).unwrap_or_default();
    let mut acked = BTreeSet::new();
    let mut bulk_acked = BTreeSet::new();
    for line in text.lines() {
        if let Some(b) = line.strip_prefix("b ")
            && let Ok(b) = b.parse::<u64>()
            && text.contains(&format!("{line}\n"))
        {
            bulk_acked.insert(b);
            continue;
        }
        let mut it = line.split_whitespace();
        // A line cut short by the kill is not an acknowledgement.
        if let (Some(w), Some(s), None) = (it.next(), it.next(), it.next())
            && let (Ok(w), Ok(s)) = (w.parse::<u64>(), s.parse::<u64>())
            && text.contains(&format!("{line}\n"))
        {
            acked.insert((w, s));
        }
    }
    let mut t = store.begin();
    let a: BTreeSet<(u64, u64)> = t
        .scan(&index_span(TenantId(2), TABLE_A, 1), usize::MAX)
        .await?
        .iter()
        .map(|(k, _)| decode_index_key(k))
        .collect::<Result<_, _>>()?;
    let b: BTreeSet<(u64, u64)> = t
        .scan(&index_span(TenantId(2), TABLE_B, 1), usize::MAX)
        .await?
        .iter()
        .map(|(k, _)| decode_index_key(k))
        .collect::<Result<_, _>>()?;
    let bulk = bulk_rows(store).await?;
    let bulk_lost = bulk_acked
        .iter()
        .copied()
        .filter(|&b| (0..BULK_ROWS).any(|i| bulk.get(&(b, i)) != Some(&bulk_value(b, i))))
        .collect();
    Ok(CheckReport {
        bulk_acknowledged: bulk_acked.len(),
        bulk_lost,
        acknowledged: acked.len(),
        present: a.len(),
        lost: acked
            .iter()
            .filter(|x| !a.contains(x) || !b.contains(x))
            .copied()
            .collect(),
        partial: a.symmetric_difference(&b).copied().collect(),
    })
}

/// Opens a store with settings for the workload.
pub fn open_store(path: &Path) -> Result<Store, KvError> {
    Store::open(
        path,
        KvSettings {
            range_max_bytes: 256 << 10,
            ..KvSettings::default()
        },
    )
}
