//! KV engine scenarios through the public `kv::Store` API: transactions across ranges, splits,
//! replication primitives, GC and restarts (rangefeeds: `kv_rangefeed.rs`). Each test opens its
//! own store in a temp directory with `KvSettings::for_tests()` (tiny ranges, 50 ms closed
//! timestamps).

mod common;

use common::kv::{key, open, with_timeout};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tandem::clock::Timestamp;
use tandem::ids::TenantId;
use tandem::kv::{KvError, Store};
use tandem::settings::KvSettings;
use tandem::storage::keys::{Span, index_span, tenant_span};
use tandem::storage::mvcc::Version;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_put_get_scan_delete_and_read_your_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut t = store.begin();
    t.put(&key(1, 1), b"one").expect("put");
    t.put(&key(1, 2), b"two").expect("put");
    assert_eq!(t.get(&key(1, 1)).await.expect("get"), Some(b"one".to_vec()));
    let ts1 = t.commit().await.expect("commit");

    let mut t = store.begin();
    t.delete(&key(1, 1)).expect("delete");
    let rows = t
        .scan(&index_span(TenantId(2), 1, 1), 100)
        .await
        .expect("scan");
    assert_eq!(rows, vec![(key(1, 2), b"two".to_vec())]);
    t.commit().await.expect("commit");

    // AS OF SYSTEM TIME sees the state at ts1.
    let mut past = store.begin_as_of(ts1).expect("as of");
    assert_eq!(
        past.get(&key(1, 1)).await.expect("get"),
        Some(b"one".to_vec())
    );
    assert!(matches!(past.put(&key(1, 3), b"x"), Err(KvError::ReadOnly)));
    let mut now = store.begin();
    assert_eq!(now.get(&key(1, 1)).await.expect("get"), None);
    store.shutdown().await;
}

/// Many concurrent transfers between accounts spread over several ranges: the total never
/// changes, every transfer is applied exactly once, and conflicts surface as retryable errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_bank_transfers_keep_total_across_ranges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    const ACCOUNTS: i64 = 24;
    const INITIAL: i64 = 1000;
    let mut t = store.begin();
    for a in 0..ACCOUNTS {
        t.put(&key(7, a), &INITIAL.to_be_bytes()).expect("put");
    }
    t.commit().await.expect("seed");
    for a in (4..ACCOUNTS).step_by(4) {
        store.split_at(&key(7, a)).await.expect("split");
    }
    assert!(
        store.range_descriptors().len() >= 7,
        "expected forced splits: {:?}",
        store.range_descriptors()
    );

    let retries = Arc::new(AtomicU64::new(0));
    let transfers = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let store = store.clone();
        let retries = retries.clone();
        let transfers = transfers.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = w * 7919 + 1;
            for _ in 0..30 {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let from = ((rng >> 33) % ACCOUNTS as u64) as i64;
                let to = ((rng >> 17) % ACCOUNTS as u64) as i64;
                if from == to {
                    continue;
                }
                loop {
                    let mut t = store.begin();
                    let res: Result<(), KvError> = async {
                        let fb = t.get(&key(7, from)).await?.expect("account exists");
                        let tb = t.get(&key(7, to)).await?.expect("account exists");
                        let f = i64::from_be_bytes(fb.try_into().expect("8 bytes"));
                        let tt = i64::from_be_bytes(tb.try_into().expect("8 bytes"));
                        t.put(&key(7, from), &(f - 1).to_be_bytes())?;
                        t.put(&key(7, to), &(tt + 1).to_be_bytes())?;
                        t.commit().await.map(|_| ())
                    }
                    .await;
                    match res {
                        Ok(()) => {
                            transfers.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Err(e) if e.is_retryable() => {
                            retries.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("transfer failed: {e}"),
                    }
                }
            }
        }));
    }
    // Meanwhile, readers check the invariant on consistent snapshots.
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                let mut t = store.begin();
                let rows = t.scan(&index_span(TenantId(2), 7, 1), usize::MAX).await;
                match rows {
                    Ok(rows) => {
                        let total: i64 = rows
                            .iter()
                            .map(|(_, v)| {
                                i64::from_be_bytes(v.clone().try_into().expect("8 bytes"))
                            })
                            .sum();
                        assert_eq!(total, ACCOUNTS * INITIAL, "a reader saw a torn transfer");
                    }
                    Err(e) => assert!(e.is_retryable(), "reader failed: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    for t in tasks {
        with_timeout("transfers", Duration::from_secs(120), t)
            .await
            .expect("task");
    }
    reader.await.expect("reader");
    let mut t = store.begin();
    let rows = t
        .scan(&index_span(TenantId(2), 7, 1), usize::MAX)
        .await
        .expect("final scan");
    assert_eq!(rows.len() as i64, ACCOUNTS);
    let total: i64 = rows
        .iter()
        .map(|(_, v)| i64::from_be_bytes(v.clone().try_into().expect("8 bytes")))
        .sum();
    assert_eq!(total, ACCOUNTS * INITIAL);
    // Net flow check: each committed transfer moved exactly one unit.
    let moved: i64 = rows
        .iter()
        .map(|(_, v)| (i64::from_be_bytes(v.clone().try_into().expect("8 bytes")) - INITIAL).abs())
        .sum();
    assert!(moved <= 2 * transfers.load(Ordering::Relaxed) as i64);
    assert!(transfers.load(Ordering::Relaxed) > 100);
    eprintln!(
        "transfers={} retries={}",
        transfers.load(Ordering::Relaxed),
        retries.load(Ordering::Relaxed)
    );
    assert!(
        retries.load(Ordering::Relaxed) > 0,
        "8 writers over 24 accounts should conflict at least once"
    );
    store.shutdown().await;
}

/// Two transactions increment the same counter from the same snapshot: one must fail with a
/// retryable error instead of losing the other's update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_no_lost_update_on_concurrent_increment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let k = key(3, 1);
    let mut t = store.begin();
    t.put(&k, &0i64.to_be_bytes()).expect("put");
    t.commit().await.expect("seed");
    let mut a = store.begin();
    let mut b = store.begin();
    let va = i64::from_be_bytes(
        a.get(&k)
            .await
            .expect("get")
            .expect("exists")
            .try_into()
            .expect("8"),
    );
    let vb = i64::from_be_bytes(
        b.get(&k)
            .await
            .expect("get")
            .expect("exists")
            .try_into()
            .expect("8"),
    );
    a.put(&k, &(va + 1).to_be_bytes()).expect("put");
    b.put(&k, &(vb + 1).to_be_bytes()).expect("put");
    a.commit().await.expect("first commit wins");
    let err = b.commit().await.expect_err("second must not overwrite");
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("restart transaction"));
    let mut r = store.begin();
    assert_eq!(
        r.get(&k).await.expect("get"),
        Some(1i64.to_be_bytes().to_vec())
    );
    store.shutdown().await;
}

/// Ingest versions with given timestamps, fingerprint, write more, revert to T: the fingerprint
/// equals the one taken at T before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_ingest_revert_fingerprint_roundtrip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let span = tenant_span(TenantId(2));
    let base = store.now().wall;
    let mut versions = Vec::new();
    for i in 0..500i64 {
        for v in 0..3u64 {
            versions.push(Version {
                key: key(11, i),
                ts: Timestamp::from_wall(base - 10_000 + v * 100 + i as u64),
                value: Some(format!("{i}-{v}").into_bytes()),
            });
        }
    }
    // Table 11 is a system table id: ingesting it voids what SQL cached from system tables.
    let epoch = store
        .system_writes()
        .epoch_for(store.now(), false)
        .expect("nothing in flight");
    store.ingest(versions.clone()).await.expect("ingest");
    assert!(!store.system_writes().is_current(epoch));
    store.split_at(&key(11, 250)).await.expect("split");
    let t = store.now();
    let fp_t = store
        .fingerprint(&span, t, None)
        .await
        .expect("fingerprint");
    let fp_all = store
        .fingerprint(&span, t, Some(Timestamp::MIN))
        .await
        .expect("fingerprint revisions");
    assert_ne!(fp_t, 0);
    // Re-ingesting the same versions changes nothing.
    store.ingest(versions).await.expect("ingest again");
    assert_eq!(store.fingerprint(&span, t, None).await.expect("fp"), fp_t);
    // Later writes change the fingerprint at now, not at t.
    let mut txn = store.begin();
    for i in 0..50i64 {
        txn.put(&key(11, i * 7), b"later").expect("put");
        txn.delete(&key(11, i * 7 + 1)).expect("delete");
    }
    txn.put(&key(12, 1), b"new table").expect("put");
    txn.commit().await.expect("commit");
    let now = store.now();
    assert_ne!(store.fingerprint(&span, now, None).await.expect("fp"), fp_t);
    assert_eq!(store.fingerprint(&span, t, None).await.expect("fp"), fp_t);
    let mut progress = Vec::new();
    let epoch = store
        .system_writes()
        .epoch_for(store.now(), false)
        .expect("nothing in flight");
    store
        .revert_span(&span, t, 37, |p| progress.push(p))
        .await
        .expect("revert");
    assert!(!store.system_writes().is_current(epoch));
    assert_eq!(progress.last().copied(), Some(1.0));
    let after = store.now();
    assert_eq!(
        store.fingerprint(&span, after, None).await.expect("fp"),
        fp_t
    );
    assert_eq!(
        store
            .fingerprint(&span, after, Some(Timestamp::MIN))
            .await
            .expect("fp"),
        fp_all
    );
    store.shutdown().await;
}

/// GC removes history older than the threshold but never above a protected timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_gc_respects_protected_timestamps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let k = key(13, 1);
    let mut stamps = Vec::new();
    for v in 0..5i64 {
        let mut t = store.begin();
        t.put(&k, &v.to_be_bytes()).expect("put");
        stamps.push(t.commit().await.expect("commit"));
    }
    let span = tenant_span(TenantId(2));
    let pts = store
        .protect(span.clone(), stamps[1])
        .await
        .expect("protect");
    let removed = store.gc_below(store.now()).await.expect("gc");
    assert!(
        removed >= 1,
        "versions below the protected timestamp should go"
    );
    // Still readable at the protected timestamp.
    let mut at = store
        .begin_as_of(stamps[1])
        .expect("protected time is readable");
    assert_eq!(
        at.get(&k).await.expect("get"),
        Some(1i64.to_be_bytes().to_vec())
    );
    let versions = store
        .export(
            &span,
            Timestamp::MIN,
            Timestamp::MAX,
            tandem::storage::mvcc::Limits::NONE,
        )
        .await
        .expect("export");
    let mut ts: Vec<Timestamp> = versions
        .rows
        .iter()
        .filter(|v| v.key == k)
        .map(|v| v.ts)
        .collect();
    ts.sort();
    assert_eq!(
        ts,
        stamps[1..].to_vec(),
        "exactly the versions visible at or above the protected time remain"
    );
    store.release_protected(pts).await.expect("release");
    store.gc_below(store.now()).await.expect("gc");
    let versions = store
        .export(
            &span,
            Timestamp::MIN,
            Timestamp::MAX,
            tandem::storage::mvcc::Limits::NONE,
        )
        .await
        .expect("export");
    assert_eq!(versions.rows.iter().filter(|v| v.key == k).count(), 1);
    let mut old = store.begin_as_of(stamps[0]).expect("begin");
    assert!(
        matches!(old.get(&k).await, Err(KvError::BelowGcThreshold(..))),
        "reads below the GC threshold are refused"
    );
    store.shutdown().await;
}

/// Data, splits and raft state survive a restart; automatic splits happen past the size
/// threshold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_restart_keeps_data_and_ranges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ranges_before;
    {
        let store = open(dir.path());
        let value = vec![7u8; 1024];
        for batch in 0..20i64 {
            let mut t = store.begin();
            for i in 0..20i64 {
                t.put(&key(15, batch * 20 + i), &value).expect("put");
            }
            t.commit().await.expect("commit");
        }
        // 400 KiB over 64 KiB ranges: the size-based splitter must act.
        let deadline = Instant::now() + Duration::from_secs(30);
        while store.range_descriptors().len() < 4 {
            assert!(
                Instant::now() < deadline,
                "no automatic split: {:?}",
                store.range_descriptors()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let meta_deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ranges_now = store.range_descriptors();
            let meta = store.meta_descriptors().await.expect("meta");
            if meta.len() == ranges_now.len() && meta.iter().all(|m| ranges_now.contains(m)) {
                break;
            }
            assert!(
                Instant::now() < meta_deadline,
                "meta range out of date: {meta:?} vs {ranges_now:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ranges_before = store.range_descriptors();
        loop {
            let meta = store.meta_descriptors().await.expect("meta");
            if meta.len() == ranges_before.len() && meta.iter().all(|m| ranges_before.contains(m)) {
                break;
            }
            assert!(
                Instant::now() < meta_deadline,
                "meta range out of date: {meta:?} vs {ranges_before:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        store.shutdown().await;
    }
    let store = open(dir.path());
    let after = store.range_descriptors();
    assert!(after.len() >= ranges_before.len());
    let mut t = store.begin();
    let rows = t
        .scan(&index_span(TenantId(2), 15, 1), usize::MAX)
        .await
        .expect("scan");
    assert_eq!(rows.len(), 400);
    let mut t = store.begin();
    t.put(&key(15, 1000), b"after restart").expect("put");
    t.commit().await.expect("commit after restart");
    store.shutdown().await;
}

#[test]
fn kv_invalid_settings_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = KvSettings {
        range_max_bytes: 10,
        ..KvSettings::for_tests()
    };
    let err = Store::open(dir.path(), s).expect_err("tiny range size");
    assert!(err.to_string().contains("kv.range.max_bytes"), "{err}");
    let _ = Span::all();
}

/// A bulk ingest bigger than one raft command is cut into chunks proposed together, across a
/// range boundary, with a key's versions never split between chunks: the result equals
/// ingesting the same versions one at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_ingest_in_chunks_equals_one_by_one() {
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let (chunked, single) = (open(dir_a.path()), open(dir_b.path()));
    chunked.split_at(&key(60, 600)).await.expect("split");
    let span = tenant_span(TenantId(2));
    let base = chunked.now().wall - 1_000_000;
    let mut versions = Vec::new();
    for i in 0..1200i64 {
        for v in 0..2u64 {
            versions.push(Version {
                key: key(60, i),
                ts: Timestamp::from_wall(base + v * 10 + i as u64),
                // ~1.1 MiB per 600 keys: the split cuts the ingest into one chunk per range.
                value: (v == 0 || i % 5 != 0).then(|| vec![(i % 251) as u8; 1000]),
            });
        }
    }
    chunked
        .ingest(versions.clone())
        .await
        .expect("chunked ingest");
    for pair in versions.chunks(2) {
        single
            .ingest(pair.to_vec())
            .await
            .expect("one key at a time");
    }
    let t = chunked.now();
    for at in [Timestamp::from_wall(base + 600), t] {
        assert_eq!(
            chunked
                .fingerprint(&span, at, Some(Timestamp::MIN))
                .await
                .expect("fp"),
            single
                .fingerprint(&span, at, Some(Timestamp::MIN))
                .await
                .expect("fp"),
            "revisions up to {at}"
        );
        assert_eq!(
            chunked.fingerprint(&span, at, None).await.expect("fp"),
            single.fingerprint(&span, at, None).await.expect("fp"),
            "values at {at}"
        );
    }
    assert_ne!(chunked.fingerprint(&span, t, None).await.expect("fp"), 0);
    chunked.shutdown().await;
    single.shutdown().await;
}

/// Megabytes of versions applied together are written as sorted table files: reads, revisions,
/// later overwrites and reverts see the same data as versions ingested one key at a time
/// through the journal, also after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_bulk_apply_as_tables_equals_journal_path_and_survives_restart() {
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let (bulk, single) = (open(dir_a.path()), open(dir_b.path()));
    let span = tenant_span(TenantId(2));
    let base = bulk.now().wall - 1_000_000;
    let mut versions = Vec::new();
    for i in 0..6000i64 {
        for v in 0..2u64 {
            versions.push(Version {
                key: key(61, i),
                ts: Timestamp::from_wall(base + v * 10_000 + i as u64),
                // ~12 MiB: several 2 MiB apply passes.
                value: (v == 0 || i % 7 != 0).then(|| vec![(i % 251) as u8; 1000]),
            });
        }
    }
    bulk.ingest(versions.clone()).await.expect("bulk ingest");
    let applies = |s: &Store| {
        s.metrics()
            .range
            .table_applies
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert!(applies(&bulk) > 0, "no apply pass wrote tables");
    for pair in versions.chunks(2) {
        single
            .ingest(pair.to_vec())
            .await
            .expect("one key at a time");
    }
    assert_eq!(applies(&single), 0, "one key at a time took the table path");
    // Later writes through the journal shadow the tables; a revert deletes from them.
    // Reverting keys 5000.. to `mid` removes the second version of keys 5501..: tombstones
    // among them (every 7th key) turn back into values.
    let mid = Timestamp::from_wall(base + 15_500);
    for s in [&bulk, &single] {
        let mut t = s.begin();
        t.put(&key(61, 3), b"newer").expect("put");
        t.delete(&key(61, 4)).expect("delete");
        t.commit().await.expect("commit");
        let tail = Span::new(key(61, 5000), index_span(TenantId(2), 61, 1).end.0);
        s.revert_span(&tail, mid, 500, |_| {})
            .await
            .expect("revert");
    }
    async fn compare(a: &Store, b: &Store, span: &Span, mid: Timestamp, base: u64) {
        // Before the writes made after the ingest (their timestamps differ between stores):
        // revisions and values; now: values.
        let now = a.now().max(b.now());
        let before = Timestamp::from_wall(base + 20_000);
        for (at, revisions) in [mid, Timestamp::from_wall(base + 10_500), before]
            .into_iter()
            .flat_map(|at| [(at, Some(Timestamp::MIN)), (at, None)])
            .chain([(now, None)])
        {
            assert_eq!(
                a.fingerprint(span, at, revisions).await.expect("fp"),
                b.fingerprint(span, at, revisions).await.expect("fp"),
                "at {at}, revisions {revisions:?}"
            );
        }
        let mut t = a.begin();
        assert_eq!(
            t.get(&key(61, 3)).await.expect("get"),
            Some(b"newer".to_vec())
        );
        assert_eq!(t.get(&key(61, 4)).await.expect("get"), None);
        assert_eq!(
            t.get(&key(61, 14)).await.expect("get"),
            None,
            "ingested tombstone"
        );
        assert_eq!(
            t.get(&key(61, 15)).await.expect("get"),
            Some(vec![15u8; 1000])
        );
        assert_eq!(t.get(&key(61, 5005)).await.expect("get"), None);
        assert_eq!(
            t.get(&key(61, 5502)).await.expect("get"),
            Some(vec![(5502 % 251) as u8; 1000])
        );
        let rows = t
            .scan(&index_span(TenantId(2), 61, 1), usize::MAX)
            .await
            .expect("scan");
        // Keys 0, 7, .., 5495 deleted by the second version, and key 4.
        assert_eq!(rows.len(), 6000 - 786 - 1, "live rows");
    }
    compare(&bulk, &single, &span, mid, base).await;
    bulk.shutdown().await;
    drop(bulk);
    let bulk = open(dir_a.path());
    compare(&bulk, &single, &span, mid, base).await;
    bulk.shutdown().await;
    single.shutdown().await;
}

/// A committing transaction's heartbeat keeps pushers (readers, the stale-intent sweeper) from
/// aborting it; a record without one is aborted once `kv.transaction.abandoned_after` passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_txn_heartbeat_keeps_a_pending_record_alive() {
    use tandem::actors::range::error::RangeError;
    use tandem::ids::TxnId;
    use tandem::storage::records::{TxnRecord, TxnStatus};
    let dir = tempfile::tempdir().expect("tempdir");
    let expiry = Duration::from_millis(200);
    let settings = KvSettings {
        txn_expiry: expiry,
        ..KvSettings::for_tests()
    };
    let store = Store::open(dir.path(), settings).expect("open store");
    let pending = |txn| TxnRecord {
        txn_id: txn,
        status: TxnStatus::Pending,
        ts: store.now(),
        // Last heartbeat long ago (writing the record counts as one).
        heartbeat_wall: 0,
    };
    let (ka, kb) = (key(22, 1), key(22, 2));
    let (ta, tb) = (TxnId::random(), TxnId::random());
    let r = store.replica_for(&ka).expect("replica");
    for (k, t) in [(&ka, ta), (&kb, tb)] {
        r.write_intents(
            t,
            store.now(),
            k,
            vec![(k.clone(), Some(b"v".to_vec()))],
            Some(pending(t)),
        )
        .await
        .expect("write intents");
    }
    // `tb`'s heartbeat expires while `ta` keeps heartbeating.
    let until = Instant::now() + expiry + Duration::from_millis(50);
    while Instant::now() < until {
        r.heartbeat_txn(&ka, ta).await.expect("heartbeat");
        tokio::time::sleep(expiry / 5).await;
    }
    r.heartbeat_txn(&ka, ta).await.expect("heartbeat");
    assert!(
        matches!(
            r.push_txn(&ka, ta, store.now()).await,
            Err(RangeError::TxnPending(_))
        ),
        "a heartbeated transaction was not left alone"
    );
    let pushed = r.push_txn(&kb, tb, store.now()).await.expect("push");
    assert_eq!(
        pushed.status,
        TxnStatus::Aborted,
        "an abandoned record is aborted"
    );
    assert!(
        matches!(
            r.heartbeat_txn(&kb, tb).await,
            Err(RangeError::TxnAborted(_))
        ),
        "heartbeat of an aborted transaction must fail"
    );
    store.shutdown().await;
}

/// A transaction's reader (the scan of a streamed query) reads the transaction's snapshot with
/// the writes it had buffered when taken, and nothing written later by anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_txn_reader_reads_the_snapshot_with_earlier_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let span = index_span(TenantId(2), 21, 1);
    let mut setup = store.begin();
    setup.put(&key(21, 1), b"1").expect("put");
    setup.put(&key(21, 2), b"2").expect("put");
    setup.commit().await.expect("commit");
    let mut txn = store.begin();
    txn.put(&key(21, 3), b"own").expect("put");
    txn.delete(&key(21, 1)).expect("delete");
    let reader = txn.reader(&span).expect("reader");
    txn.put(&key(21, 4), b"later").expect("put");
    let mut other = store.begin();
    other.put(&key(21, 5), b"other").expect("put");
    other.commit().await.expect("commit");
    let rows = reader.scan(&span, 10).await.expect("scan");
    assert_eq!(
        rows,
        vec![(key(21, 2), b"2".to_vec()), (key(21, 3), b"own".to_vec())]
    );
    // Paging: a limit, then the rest of the span after the first row.
    let first = reader.scan(&span, 1).await.expect("scan");
    assert_eq!(first, vec![(key(21, 2), b"2".to_vec())]);
    let mut after = key(21, 2);
    after.push(0);
    let rest = reader
        .scan(&Span::new(after, span.end.0.clone()), 10)
        .await
        .expect("scan");
    assert_eq!(rest, vec![(key(21, 3), b"own".to_vec())]);
    store.shutdown().await;
}

/// The reader's whole span counts as read by its transaction: a write into it by another
/// transaction after the snapshot makes a commit that must move its timestamp fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_txn_reader_span_is_checked_at_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let span = index_span(TenantId(2), 22, 1);
    let mut txn = store.begin();
    let _reader = txn.reader(&span).expect("reader");
    let mut other = store.begin();
    other.put(&key(22, 7), b"1").expect("put");
    other.commit().await.expect("commit");
    // Writing the same key pushes the commit above the other write: the refresh finds that
    // write in the span the reader may have read.
    txn.put(&key(22, 7), b"2").expect("put");
    let e = txn.commit().await.expect_err("refresh fails");
    assert!(e.is_retryable(), "{e}");
    store.shutdown().await;
}

/// A transaction of many writes is proposed, applied and resolved in commands of bounded size
/// (not one command the size of the transaction), and every write is there afterwards with no
/// intent left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_large_transaction_commits_in_bounded_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = KvSettings {
        range_max_bytes: 1 << 30,
        ..KvSettings::for_tests()
    };
    let store = Store::open(dir.path(), settings).expect("open store");
    const N: i64 = 20_000;
    let mut t = store.begin();
    for i in 0..N {
        t.put(&key(31, i), &i.to_be_bytes()).expect("put");
    }
    t.commit().await.expect("commit");
    let max = store
        .metrics()
        .range
        .max_command_ops
        .load(Ordering::Relaxed);
    assert!(max > 0 && max <= 4096 + 1, "largest command: {max} writes");
    let mut r = store.begin();
    let rows = with_timeout(
        "scan",
        Duration::from_secs(60),
        r.scan(&index_span(TenantId(2), 31, 1), usize::MAX),
    )
    .await
    .expect("scan");
    assert_eq!(rows.len(), N as usize);
    assert!(
        rows.iter()
            .enumerate()
            .all(|(i, (_, v))| v.as_slice() == (i as i64).to_be_bytes()),
        "values differ"
    );
    store.shutdown().await;
}

/// A scan page that ends before another transaction's intents returns at once: only intents
/// before the page's end are in its way (a `LIMIT`ed read of the first rows of a table does not
/// wait for a large transaction's intents further on); a page reaching them reports them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_scan_page_ends_before_intents_further_on() {
    use tandem::actors::range::error::RangeError;
    use tandem::ids::TxnId;
    use tandem::storage::mvcc::Limits;
    use tandem::storage::records::{TxnRecord, TxnStatus};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), KvSettings::for_tests()).expect("open store");
    let mut t = store.begin();
    for i in 0..100 {
        t.put(&key(23, i), &i.to_be_bytes()).expect("put");
    }
    t.commit().await.expect("commit");
    // A pending transaction holds intents on rows 50..60.
    let other = TxnId::random();
    let anchor = key(23, 50);
    let r = store.replica_for(&anchor).expect("replica");
    let writes = (50..60)
        .map(|i| (key(23, i), Some(b"new".to_vec())))
        .collect();
    let record = TxnRecord {
        txn_id: other,
        status: TxnStatus::Pending,
        ts: store.now(),
        heartbeat_wall: store.now().wall,
    };
    r.write_intents(other, store.now(), &anchor, writes, Some(record))
        .await
        .expect("write intents");
    let span = index_span(TenantId(2), 23, 1);
    let limits = |n| Limits {
        max_rows: n,
        max_bytes: usize::MAX,
    };
    let page = r
        .scan(&span, store.now(), None, limits(10))
        .await
        .expect("a page before the intents");
    assert_eq!(page.rows.len(), 10);
    assert_eq!(page.resume.as_deref(), Some(key(23, 10).as_slice()));
    let page = r
        .scan(&span, store.now(), None, limits(50))
        .await
        .expect("a page ending right before the intents");
    assert_eq!(page.rows.len(), 50);
    match r.scan(&span, store.now(), None, limits(51)).await {
        Err(RangeError::WriteIntents { intents }) => assert_eq!(intents.len(), 10),
        other => panic!("a page reaching the intents: {other:?}"),
    }
    // The transaction itself reads through its own intents.
    let page = r
        .scan(&span, store.now(), Some(other), limits(1000))
        .await
        .expect("own intents");
    assert_eq!(page.rows.len(), 100);
    store.shutdown().await;
}
