//! The node's store: one fjall database with a partition ("keyspace" in fjall 3) per concern.
//!
//! | partition | contents | key |
//! |---|---|---|
//! | `mvcc` | committed MVCC versions and tombstones | [`keys::encode_mvcc_key`] |
//! | `locks` | write intents (at most one per key) | user key |
//! | `txns` | transaction records | anchor key ++ txn id |
//! | `raft` | raft logs, hard states, apply states, range descriptors | range id ++ suffix |
//! | `local` | node-local metadata (node id, store ident) | name |
//!
//! Invariants: the replicated partitions (`mvcc`, `locks`, `txns`) are only written by applying
//! raft commands, and every applied batch also writes the replica's [`records::ApplyState`], in
//! one atomic fjall batch; so after a crash a replica's data is exactly the result of the entries
//! up to its applied index, and raft re-applies the rest from the durable log. The one exception
//! is bulk apply ([`Engine::ingest_mvcc_tables`]): MVCC versions of large applied batches are
//! written as table files, durable before the batch with the apply state, so a crash in between
//! leaves versions of entries that raft re-applies, rewriting the same versions (idempotent). The raft log is
//! made durable through the [`sync::GroupSyncer`] before entries are acknowledged. A fjall write
//! error poisons the database: callers treat [`StorageError::is_fatal`] errors by stopping the
//! node.

#![deny(missing_docs)]

pub mod error;
pub mod fingerprint;
pub mod keys;
pub mod mvcc;
pub mod raft_log;
pub mod records;
pub mod row_cache;
pub mod snapshot;
pub mod sync;

pub use error::{Result, StorageError};

use crate::clock::Timestamp;
use crate::ids::TxnId;
use fjall::config::CompressionPolicy;
use fjall::{CompressionType, Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch};
use records::{Intent, TxnRecord, encode};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use sync::GroupSyncer;

/// fjall background workers (flushes and compactions); see [`Engine::open`].
const FJALL_WORKERS: usize = 4;

/// Options for opening a store.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Block cache size in bytes (`--cache`).
    pub cache_bytes: u64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            cache_bytes: 128 << 20,
        }
    }
}

/// Handle to an open store. Cheap to clone; all clones share the database.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    path: PathBuf,
    db: Database,
    mvcc: Keyspace,
    locks: Keyspace,
    txns: Keyspace,
    raft: Keyspace,
    local: Keyspace,
    syncer: GroupSyncer,
    rows: row_cache::RowCache,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Engine({})", self.inner.path.display())
    }
}

/// One replicated write, as carried inside a raft command and applied to the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteOp {
    /// Write an MVCC version (`None` = tombstone) at the given timestamp.
    PutVersion {
        /// User key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Version timestamp.
        ts: Timestamp,
        /// Value, or `None` for a delete.
        #[serde(with = "serde_bytes")]
        value: Option<Vec<u8>>,
    },
    /// Remove one MVCC version (revert, GC).
    DeleteVersion {
        /// User key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Version timestamp.
        ts: Timestamp,
    },
    /// Write (or replace) the intent on a key.
    PutIntent {
        /// User key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// The intent.
        intent: Intent,
    },
    /// Remove the intent on a key.
    DeleteIntent {
        /// User key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// Write a transaction record at its anchor.
    PutTxnRecord {
        /// Anchor key.
        #[serde(with = "serde_bytes")]
        anchor: Vec<u8>,
        /// The record.
        record: TxnRecord,
    },
    /// Remove a transaction record.
    DeleteTxnRecord {
        /// Anchor key.
        #[serde(with = "serde_bytes")]
        anchor: Vec<u8>,
        /// The transaction.
        txn_id: TxnId,
    },
}

impl WriteOp {
    /// Approximate bytes this op adds to the store (for split sizing and metrics).
    pub fn size(&self) -> usize {
        match self {
            WriteOp::PutVersion { key, value, .. } => {
                key.len() + 14 + value.as_ref().map_or(1, |v| v.len() + 1)
            }
            WriteOp::PutIntent { key, intent } => {
                key.len() * 2 + intent.value.as_ref().map_or(0, Vec::len) + 40
            }
            WriteOp::PutTxnRecord { anchor, .. } => anchor.len() + 48,
            _ => 0,
        }
    }

    /// The user key the op touches (anchor for txn records).
    pub fn key(&self) -> &[u8] {
        match self {
            WriteOp::PutVersion { key, .. }
            | WriteOp::DeleteVersion { key, .. }
            | WriteOp::PutIntent { key, .. }
            | WriteOp::DeleteIntent { key } => key,
            WriteOp::PutTxnRecord { anchor, .. } | WriteOp::DeleteTxnRecord { anchor, .. } => {
                anchor
            }
        }
    }
}

/// Encodes an MVCC value: tag 0 = tombstone, tag 1 followed by the bytes.
pub fn encode_mvcc_value(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        None => vec![0],
        Some(v) => {
            let mut out = Vec::with_capacity(v.len() + 1);
            out.push(1);
            out.extend_from_slice(v);
            out
        }
    }
}

/// Decodes [`encode_mvcc_value`].
pub fn decode_mvcc_value(raw: &[u8]) -> Result<Option<&[u8]>> {
    match raw.split_first() {
        Some((0, [])) => Ok(None),
        Some((1, rest)) => Ok(Some(rest)),
        _ => Err(StorageError::Codec("bad mvcc value tag".into())),
    }
}

/// The `txns` partition key of a record.
pub fn txn_record_key(anchor: &[u8], txn_id: TxnId) -> Vec<u8> {
    let mut k = Vec::with_capacity(anchor.len() + 16);
    k.extend_from_slice(anchor);
    k.extend_from_slice(&txn_id.0.to_be_bytes());
    k
}

impl Engine {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: impl AsRef<Path>, opts: &EngineOptions) -> Result<Engine> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path)?;
        // Four fjall background workers (fjall's default is one per core, two here). fjall's
        // worker 0 never compacts while there are other workers: it hands each compaction
        // request back to the queue and, when no other worker is idle, takes it again at
        // once, spinning a core for as long as the others compact (fjall-rs/fjall#323 reworks
        // this). With two workers that was ~20% of the machine during an initial scan; with
        // three compacting workers a request nearly always finds one idle. One worker is no
        // way out: it can block on its own full queue under write load (same issue), and
        // running the workers at nice 10 let the compaction backlog stall writes (PCR lag p99
        // over 1 s under movr, bench/pcr).
        let db = Database::builder(&path)
            .cache_size(opts.cache_bytes)
            .worker_threads(FJALL_WORKERS)
            .open()?;
        // LZ4 on every level of the bulk partitions (fjall leaves levels 0 and 1 uncompressed;
        // Pebble compresses all levels): MVCC versions and raft entries are written to disk
        // several times by flushes and compactions, and compressible rows then cost a
        // fraction of their size each time. Keyspace options are fixed when a store is created.
        let compressed = || {
            KeyspaceCreateOptions::default()
                .data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4))
        };
        let mvcc = db.keyspace("mvcc", compressed)?;
        let locks = db.keyspace("locks", KeyspaceCreateOptions::default)?;
        let txns = db.keyspace("txns", KeyspaceCreateOptions::default)?;
        let raft = db.keyspace("raft", compressed)?;
        let local = db.keyspace("local", KeyspaceCreateOptions::default)?;
        let syncer = GroupSyncer::start(db.clone());
        let rows = row_cache::RowCache::new((opts.cache_bytes / 4).max(8 << 20) as usize);
        Ok(Engine {
            inner: Arc::new(EngineInner {
                path,
                db,
                mvcc,
                locks,
                txns,
                raft,
                local,
                syncer,
                rows,
            }),
        })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The group-commit syncer.
    pub fn syncer(&self) -> &GroupSyncer {
        &self.inner.syncer
    }

    /// A new write batch (buffered durability; make it durable with the syncer).
    pub fn batch(&self) -> OwnedWriteBatch {
        self.inner.db.batch()
    }

    /// The MVCC partition.
    pub fn mvcc(&self) -> &Keyspace {
        &self.inner.mvcc
    }

    /// The intents partition.
    pub fn locks(&self) -> &Keyspace {
        &self.inner.locks
    }

    /// The transaction records partition.
    pub fn txns(&self) -> &Keyspace {
        &self.inner.txns
    }

    /// The raft-state partition.
    pub fn raft(&self) -> &Keyspace {
        &self.inner.raft
    }

    /// The node-local partition.
    pub fn local(&self) -> &Keyspace {
        &self.inner.local
    }

    /// The newest-version cache.
    pub fn row_cache(&self) -> &row_cache::RowCache {
        &self.inner.rows
    }

    /// Updates the newest-version cache for ops that were just committed.
    pub fn after_commit(&self, ops: &[WriteOp]) {
        for op in ops {
            match op {
                WriteOp::PutVersion { key, ts, value } => {
                    self.inner.rows.on_put(key, *ts, value.as_deref())
                }
                WriteOp::DeleteVersion { key, .. } => self.inner.rows.on_delete(key),
                _ => {}
            }
        }
    }

    /// The fjall database (for snapshots).
    pub fn db(&self) -> &Database {
        &self.inner.db
    }

    /// Adds one replicated op to a batch.
    pub fn add_op(&self, b: &mut OwnedWriteBatch, op: &WriteOp) {
        match op {
            WriteOp::PutVersion { key, ts, value } => b.insert(
                &self.inner.mvcc,
                keys::encode_mvcc_key(key, *ts),
                encode_mvcc_value(value.as_deref()),
            ),
            WriteOp::DeleteVersion { key, ts } => {
                b.remove(&self.inner.mvcc, keys::encode_mvcc_key(key, *ts))
            }
            WriteOp::PutIntent { key, intent } => {
                b.insert(&self.inner.locks, key.clone(), encode(intent))
            }
            WriteOp::DeleteIntent { key } => b.remove(&self.inner.locks, key.clone()),
            WriteOp::PutTxnRecord { anchor, record } => b.insert(
                &self.inner.txns,
                txn_record_key(anchor, record.txn_id),
                encode(record),
            ),
            WriteOp::DeleteTxnRecord { anchor, txn_id } => {
                b.remove(&self.inner.txns, txn_record_key(anchor, *txn_id))
            }
        }
    }

    /// The `mvcc` partition entry an op writes (`None` value: deleted), for
    /// [`Self::ingest_mvcc_tables`]; `None` for ops on other partitions.
    pub fn mvcc_entry(op: &WriteOp) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
        match op {
            WriteOp::PutVersion { key, ts, value } => Some((
                keys::encode_mvcc_key(key, *ts),
                Some(encode_mvcc_value(value.as_deref())),
            )),
            WriteOp::DeleteVersion { key, ts } => Some((keys::encode_mvcc_key(key, *ts), None)),
            _ => None,
        }
    }

    /// Writes MVCC puts and deletes (`None`) as new sorted table files instead of through the
    /// journal and memtable: the bulk path of [`Self::add_op`] for large applied batches (see
    /// the range actor). `ops` maps encoded MVCC keys (ascending, each once) to encoded values.
    /// The tables are durable when this returns and shadow everything written before; writes
    /// that come later shadow them. Cost: fjall first flushes the keyspace's memtable and then
    /// finishes the tables holding its journal lock, so every writer of the node waits for that
    /// (a few fsyncs); callers use this only for batches of megabytes.
    pub fn ingest_mvcc_tables(
        &self,
        ops: &std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut ingestion = self.inner.mvcc.start_ingestion()?;
        for (key, value) in ops {
            match value {
                Some(v) => ingestion.write(key.as_slice(), v.as_slice())?,
                None => ingestion.write_tombstone(key.as_slice())?,
            }
        }
        ingestion.finish()?;
        Ok(())
    }

    /// Reads a node-local value.
    pub fn get_local(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.local.get(name)?.map(|v| v.to_vec()))
    }

    /// Writes a node-local value durably.
    pub fn put_local(&self, name: &str, value: &[u8]) -> Result<()> {
        self.inner.local.insert(name, value)?;
        self.inner.syncer.sync_blocking()
    }

    /// Bytes on disk.
    pub fn disk_space(&self) -> u64 {
        self.inner.db.disk_space().unwrap_or(0)
    }
}
