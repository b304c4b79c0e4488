//! The node's store: one fjall database with a partition ("keyspace" in fjall 3) per concern.
//!
//! | partition | contents | key |
//! |---|---|---|
//! | `mvcc` | committed MVCC versions and tombstones of the meta range and the system virtual cluster | [`keys::encode_mvcc_key`] |
//! | `mvcc_tenants` | committed MVCC versions and tombstones of every other virtual cluster (`/Tenant/2` and up) | [`keys::encode_mvcc_key`] |
//! | `locks` | write intents (at most one per key) | user key |
//! | `txns` | transaction records | anchor key ++ txn id |
//! | `raft` | raft logs, hard states, apply states, range descriptors | range id ++ suffix |
//! | `local` | node-local metadata (node id, store ident) | name |
//!
//! MVCC versions are split between two partitions at `/Tenant/2` so that a virtual cluster's
//! data (a physical replication stream's bulk ingest above all) has an LSM tree of its own:
//! fjall flushes a tree's memtable before every ingestion, and the system tables' steady small
//! writes (liveness, jobs, checkpoints) would otherwise sit in each flush, in level 0 next to the
//! ingested tables with a key range spanning them, pulling more of level 1 into each level-0
//! compaction (a standby writes ~20% fewer bytes during a 1 GiB initial scan without them). Readers never pick a partition
//! themselves: [`Engine::mvcc_range`] and [`Engine::mvcc_partition`] route by key, and a range
//! that straddles `/Tenant/2` reads both partitions in key order. Stores written before the
//! split are migrated when opened ([`Engine::open`]).
//!
//! Invariants: the replicated partitions (`mvcc`, `mvcc_tenants`, `locks`, `txns`) are only written by applying
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
use crate::ids::{TenantId, TxnId};
use fjall::config::{BlockSizePolicy, CompressionPolicy, PartitioningPolicy};
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
    mvcc_tenants: Keyspace,
    /// `mvcc` keys sort below this, `mvcc_tenants` keys at or above it.
    tenants_split: Vec<u8>,
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
        // The bulk partitions (MVCC versions, raft entries), whose options are fixed when a
        // store is created:
        // - LZ4 on every level (fjall leaves levels 0 and 1 uncompressed; Pebble compresses all
        //   levels): data is written to disk several times by flushes and compactions, and
        //   compressible rows then cost a fraction of their size each time.
        // - Partitioned index and filter blocks on every level (fjall partitions them from
        //   level 3 only): a table's full index is one block of ~40 bytes per 4 KiB data block,
        //   8.5 MB for an 83 MB table of compressible rows, read, checksummed and, once evicted
        //   from the block cache, read again by every new iterator; a scan opens one per page,
        //   so a replication stream's initial scan read its index again for every megabyte of
        //   rows (over half the primary's CPU). Partitioned, a table keeps a small top-level
        //   index in memory and reads 4 KiB index and filter partitions through the cache.
        // - 16 KiB data blocks (fjall: 4 KiB; Pebble, as CockroachDB runs it: 32 KiB): a
        //   quarter of the blocks to index, checksum, compress and merge per byte. A standby
        //   ingesting a 1 GiB initial scan: median 100.7 MB/s and 0.38 bytes written per byte
        //   against 85.2 MB/s and 0.45 (six alternating runs each); pgbench point selects and
        //   tpcb-like on one node: no slower (36160 / 954 against 31990 / 957 TPS).
        let compressed = || {
            KeyspaceCreateOptions::default()
                .data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4))
                .index_block_partitioning_policy(PartitioningPolicy::all(true))
                .filter_block_partitioning_policy(PartitioningPolicy::all(true))
                .data_block_size_policy(BlockSizePolicy::all(16 << 10))
        };
        let mvcc = db.keyspace("mvcc", compressed)?;
        let mvcc_tenants = db.keyspace("mvcc_tenants", compressed)?;
        let locks = db.keyspace("locks", KeyspaceCreateOptions::default)?;
        let txns = db.keyspace("txns", KeyspaceCreateOptions::default)?;
        let raft = db.keyspace("raft", compressed)?;
        let local = db.keyspace("local", KeyspaceCreateOptions::default)?;
        let syncer = GroupSyncer::start(db.clone());
        let rows = row_cache::RowCache::new((opts.cache_bytes / 4).max(8 << 20) as usize);
        let engine = Engine {
            inner: Arc::new(EngineInner {
                path,
                db,
                mvcc,
                mvcc_tenants,
                tenants_split: keys::mvcc_key_prefix(&keys::tenant_prefix(TenantId(2))),
                locks,
                txns,
                raft,
                local,
                syncer,
                rows,
            }),
        };
        engine.migrate_tenant_versions()?;
        Ok(engine)
    }

    /// Moves virtual-cluster versions that a store written before the `mvcc_tenants` partition
    /// kept in `mvcc`, in atomic batches (each moves its keys: a crash in between leaves every
    /// version in exactly one partition, and the next open moves the rest). Done once: a marker
    /// in `local` records it. A new store only writes the marker.
    fn migrate_tenant_versions(&self) -> Result<()> {
        const MARKER: &str = "mvcc_tenants_split";
        const BATCH_BYTES: usize = 4 << 20;
        if self.get_local(MARKER)?.is_some() {
            return Ok(());
        }
        let split = self.inner.tenants_split.clone();
        let mut moved = 0u64;
        loop {
            let mut batch = self.batch();
            let mut bytes = 0;
            for item in self.inner.mvcc.range(split.as_slice()..) {
                let (k, v) = item.into_inner()?;
                bytes += k.len() + v.len();
                batch.insert(&self.inner.mvcc_tenants, k.clone(), v);
                batch.remove(&self.inner.mvcc, k);
                moved += 1;
                if bytes >= BATCH_BYTES {
                    break;
                }
            }
            if bytes == 0 {
                break;
            }
            batch.commit()?;
        }
        if moved > 0 {
            tracing::info!(
                versions = moved,
                "moved virtual cluster versions to the mvcc_tenants partition"
            );
        }
        self.put_local(MARKER, b"1")
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

    /// The MVCC partition that holds (or would hold) the encoded MVCC key `key`.
    pub fn mvcc_partition(&self, key: &[u8]) -> &Keyspace {
        if key < self.inner.tenants_split.as_slice() {
            &self.inner.mvcc
        } else {
            &self.inner.mvcc_tenants
        }
    }

    /// MVCC entries with encoded keys in `[lo, hi)`, in key order, read from whichever
    /// partitions the interval covers.
    pub fn mvcc_range<'a>(
        &'a self,
        lo: &'a [u8],
        hi: &'a [u8],
    ) -> impl Iterator<Item = fjall::Guard> + 'a {
        let split = self.inner.tenants_split.as_slice();
        let low = (lo < split).then(|| self.inner.mvcc.range(lo..hi.min(split)));
        let high = (hi > split).then(|| self.inner.mvcc_tenants.range(lo.max(split)..hi));
        low.into_iter().flatten().chain(high.into_iter().flatten())
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
            WriteOp::PutVersion { key, ts, value } => {
                let k = keys::encode_mvcc_key(key, *ts);
                b.insert(
                    self.mvcc_partition(&k),
                    k,
                    encode_mvcc_value(value.as_deref()),
                )
            }
            WriteOp::DeleteVersion { key, ts } => {
                let k = keys::encode_mvcc_key(key, *ts);
                b.remove(self.mvcc_partition(&k), k)
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
        let split = self.inner.tenants_split.clone();
        let parts = [
            (&self.inner.mvcc, ops.range(..split.clone())),
            (&self.inner.mvcc_tenants, ops.range(split..)),
        ];
        for (partition, entries) in parts {
            if entries.clone().next().is_none() {
                continue;
            }
            let mut ingestion = partition.start_ingestion()?;
            for (key, value) in entries {
                match value {
                    Some(v) => ingestion.write(key.as_slice(), v.as_slice())?,
                    None => ingestion.write_tombstone(key.as_slice())?,
                }
            }
            ingestion.finish()?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::keys::{Span, tenant_prefix};
    use crate::storage::mvcc::{Limits, scan};

    fn key(tenant: u64, suffix: &[u8]) -> Vec<u8> {
        let mut k = tenant_prefix(TenantId(tenant));
        k.extend_from_slice(suffix);
        k
    }

    fn put(e: &Engine, key: &[u8], wall: u64) -> WriteOp {
        let op = WriteOp::PutVersion {
            key: key.to_vec(),
            ts: Timestamp::from_wall(wall),
            value: Some(format!("v{wall}").into_bytes()),
        };
        let mut b = e.batch();
        e.add_op(&mut b, &op);
        b.commit().expect("commit");
        op
    }

    fn all_keys(e: &Engine) -> Vec<Vec<u8>> {
        e.mvcc_range(&[], &keys::mvcc_key_prefix(keys::KEY_MAX))
            .map(|i| {
                let (k, _) = i.into_inner().expect("kv");
                keys::decode_mvcc_key(&k).expect("key").0
            })
            .collect()
    }

    fn scanned(e: &Engine, span: Span) -> Vec<Vec<u8>> {
        scan(e, &span, Timestamp::from_wall(100), Limits::NONE)
            .expect("scan")
            .rows
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }

    #[test]
    fn versions_are_split_at_tenant_2_and_read_back_in_key_order_across_the_split() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = Engine::open(dir.path(), &EngineOptions::default()).expect("open");
        let system = [key(1, b"z"), key(1, b"\xff\xff")];
        // `/Tenant/2` itself and keys that escape (0x00) right at the split.
        let tenants = [key(2, b""), key(2, b"\x00"), key(2, b"a"), key(7, b"b")];
        for (i, k) in system.iter().chain(&tenants).enumerate() {
            put(&e, k, 10 + i as u64);
        }
        // Bulk apply splits its versions the same way.
        let mut ops = std::collections::BTreeMap::new();
        for k in [key(1, b"y"), key(3, b"c")] {
            let op = WriteOp::PutVersion {
                key: k,
                ts: Timestamp::from_wall(50),
                value: Some(b"bulk".to_vec()),
            };
            let (ek, v) = Engine::mvcc_entry(&op).expect("mvcc entry");
            ops.insert(ek, v);
        }
        e.ingest_mvcc_tables(&ops).expect("ingest");
        let in_partition = |p: &Keyspace| {
            p.iter()
                .map(|i| {
                    let (k, _) = i.into_inner().expect("kv");
                    keys::decode_mvcc_key(&k).expect("key").0
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            in_partition(&e.inner.mvcc),
            vec![key(1, b"y"), key(1, b"z"), key(1, b"\xff\xff")]
        );
        assert_eq!(
            in_partition(&e.inner.mvcc_tenants),
            vec![
                key(2, b""),
                key(2, b"\x00"),
                key(2, b"a"),
                key(3, b"c"),
                key(7, b"b")
            ]
        );
        let mut expected: Vec<Vec<u8>> = system
            .iter()
            .chain(&tenants)
            .cloned()
            .chain([key(1, b"y"), key(3, b"c")])
            .collect();
        expected.sort();
        assert_eq!(all_keys(&e), expected);
        // A span across the split, one on each side, and one ending exactly at it.
        assert_eq!(
            scanned(&e, Span::new(key(1, b"z"), key(2, b"b"))),
            vec![
                key(1, b"z"),
                key(1, b"\xff\xff"),
                key(2, b""),
                key(2, b"\x00"),
                key(2, b"a")
            ]
        );
        assert_eq!(
            scanned(&e, Span::new(key(1, b""), tenant_prefix(TenantId(2)))),
            vec![key(1, b"y"), key(1, b"z"), key(1, b"\xff\xff")]
        );
        assert_eq!(
            scanned(&e, Span::new(key(3, b""), key(8, b""))),
            vec![key(3, b"c"), key(7, b"b")]
        );
        // Point reads and deletes route by key.
        let got = mvcc::get_version(&e, &key(2, b"\x00"), Timestamp::from_wall(100))
            .expect("get")
            .expect("found");
        assert_eq!(got.value.as_deref(), Some(&b"v13"[..]));
        let mut b = e.batch();
        e.add_op(
            &mut b,
            &WriteOp::DeleteVersion {
                key: key(2, b"\x00"),
                ts: Timestamp::from_wall(13),
            },
        );
        b.commit().expect("commit");
        assert!(
            mvcc::get_version(&e, &key(2, b"\x00"), Timestamp::from_wall(100))
                .expect("get")
                .is_none()
        );
    }

    #[test]
    fn a_store_written_before_the_split_is_migrated_once_when_opened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (system, tenant) = (key(1, b"s"), key(4, b"t"));
        {
            // The old layout: every version in `mvcc`, no marker.
            let e = Engine::open(dir.path(), &EngineOptions::default()).expect("open");
            for (i, k) in [&system, &tenant].into_iter().enumerate() {
                for n in 0..3u64 {
                    let ek = keys::encode_mvcc_key(k, Timestamp::from_wall(10 * (i as u64) + n));
                    e.inner
                        .mvcc
                        .insert(ek, encode_mvcc_value(Some(b"old")))
                        .expect("insert");
                }
            }
            e.inner.local.remove("mvcc_tenants_split").expect("remove");
        }
        let e = Engine::open(dir.path(), &EngineOptions::default()).expect("reopen");
        assert_eq!(e.inner.mvcc.iter().count(), 3, "system versions stay");
        assert_eq!(
            e.inner.mvcc_tenants.iter().count(),
            3,
            "tenant versions moved"
        );
        let mut expected = vec![system; 3];
        expected.extend(vec![tenant; 3]);
        assert_eq!(all_keys(&e), expected);
        assert!(e.get_local("mvcc_tenants_split").expect("local").is_some());
    }
}
