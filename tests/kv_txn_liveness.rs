//! Liveness of committing transactions against pushers: a two-phase commit that takes much
//! longer than `kv.transaction.abandoned_after` (its heartbeats queue behind the node applying its
//! own intents) is never aborted by the stale-intent sweeper or by readers, while a transaction
//! nobody is committing any more still is. Timings are scaled down through the one setting they
//! derive from (`txn_expiry`).

mod common;

use common::kv::{key, with_timeout};
use std::time::{Duration, Instant};
use tandem::ids::TxnId;
use tandem::kv::Store;
use tandem::settings::KvSettings;
use tandem::storage::records::{TxnRecord, TxnStatus};

/// Rows of the big commit: enough that writing their intents outlasts the expiry many times.
const ROWS: i64 = 60_000;

fn settings() -> KvSettings {
    KvSettings {
        // Heartbeats every 10 ms, sweeps every 10 ms of intents older than 20 ms.
        txn_expiry: Duration::from_millis(50),
        // One range for the big table, so its intents are one long raft command.
        range_max_bytes: 64 << 20,
        ..KvSettings::for_tests()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_long_two_phase_commit_is_not_aborted_by_pushes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), settings()).expect("open store");
    // The anchor (first key) and the bulk in one range, one more key in another: a two-phase
    // commit whose first raft command carries the record and all the bulk's intents.
    store.split_at(&key(41, 0)).await.expect("split");
    let value = vec![7u8; 100];
    for round in 0..3 {
        let mut t = store.begin();
        for i in 0..ROWS {
            t.put(&key(40, round * ROWS + i), &value).expect("put");
        }
        t.put(&key(41, round), b"other range").expect("put");
        // Old enough for the sweeper before the first intent is written.
        tokio::time::sleep(Duration::from_millis(60)).await;
        let started = Instant::now();
        let res = with_timeout("big commit", Duration::from_secs(300), t.commit()).await;
        let took = started.elapsed();
        res.unwrap_or_else(|e| panic!("round {round}: commit after {took:?} failed: {e}"));
        eprintln!("round {round}: commit of {ROWS} rows took {took:?}");
    }
    let mut t = store.begin();
    let rows = t
        .scan(
            &tandem::storage::keys::index_span(tandem::ids::TenantId(2), 40, 1),
            usize::MAX,
        )
        .await
        .expect("scan");
    assert_eq!(rows.len() as i64, 3 * ROWS, "every committed row is there");
    t.rollback();

    // A pending transaction nobody commits (no coordinator on this node) is still aborted once
    // its heartbeat expired: the reader gets past its intent.
    let k = key(42, 1);
    let txn = TxnId::random();
    let r = store.replica_for(&k).expect("replica");
    let record = TxnRecord {
        txn_id: txn,
        status: TxnStatus::Pending,
        ts: store.now(),
        heartbeat_wall: 0,
    };
    r.write_intents(
        txn,
        store.now(),
        &k,
        vec![(k.clone(), Some(b"orphan".to_vec()))],
        Some(record),
    )
    .await
    .expect("write intent");
    let mut t = store.begin();
    let got = with_timeout(
        "read past an abandoned intent",
        Duration::from_secs(30),
        t.get(&k),
    )
    .await
    .expect("read");
    assert_eq!(got, None, "the abandoned transaction's write is discarded");
    store.shutdown().await;
}

/// A committer writes its record and its other ranges' intents in one round, so a reader can
/// meet an intent whose record does not exist yet: the push calls that pending while the intent
/// is young; an old one is aborted with a record in its place, and the committer's own record
/// write then fails instead of bringing the transaction back to life.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_intent_without_record_is_pending_then_aborted_for_good() {
    use tandem::actors::range::error::RangeError;
    use tandem::clock::Timestamp;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), settings()).expect("open store");
    store.split_at(&key(44, 0)).await.expect("split");
    let (anchor, other) = (key(43, 1), key(44, 1));
    let txn = TxnId::random();
    let now = store.now();
    let r_other = store.replica_for(&other).expect("replica");
    r_other
        .write_intents(
            txn,
            now,
            &anchor,
            vec![(other.clone(), Some(b"v".to_vec()))],
            None,
        )
        .await
        .expect("intent without a record");
    let r_anchor = store.replica_for(&anchor).expect("replica");
    match r_anchor.push_txn(&anchor, txn, now).await {
        Err(RangeError::TxnPending(_)) => {}
        other => panic!("a young intent without a record must be pending: {other:?}"),
    }
    let old = Timestamp::from_wall(now.wall - 10_000_000_000);
    let rec = r_anchor.push_txn(&anchor, txn, old).await.expect("push");
    assert_eq!(rec.status, TxnStatus::Aborted);
    let record = TxnRecord {
        txn_id: txn,
        status: TxnStatus::Pending,
        ts: now,
        heartbeat_wall: 0,
    };
    match r_anchor
        .write_intents(
            txn,
            now,
            &anchor,
            vec![(anchor.clone(), Some(b"a".to_vec()))],
            Some(record),
        )
        .await
    {
        Err(RangeError::TxnAborted(_)) => {}
        other => panic!("the record of an aborted transaction must not be written: {other:?}"),
    }
    // Committing is idempotent (a commit retried after an ambiguous answer finds its own),
    // and a committed record cannot be aborted: an abort that follows a lost commit answer
    // fails instead of discarding committed writes.
    let t2 = TxnId::random();
    let k2 = key(43, 3);
    let rec2 = TxnRecord {
        txn_id: t2,
        status: TxnStatus::Pending,
        ts: now,
        heartbeat_wall: 0,
    };
    r_anchor
        .write_intents(
            t2,
            now,
            &k2,
            vec![(k2.clone(), Some(b"c".to_vec()))],
            Some(rec2),
        )
        .await
        .expect("write");
    let commit_ts = store.now();
    for attempt in 0..2 {
        r_anchor
            .end_txn(&k2, t2, true, commit_ts)
            .await
            .unwrap_or_else(|e| panic!("commit attempt {attempt}: {e}"));
    }
    assert!(
        r_anchor
            .end_txn(&k2, t2, false, Timestamp::MIN)
            .await
            .is_err(),
        "a committed record must not be aborted"
    );
    // A transaction committing normally across the two ranges is unaffected.
    let mut t = store.begin();
    t.put(&key(43, 2), b"x").expect("put");
    t.put(&key(44, 2), b"y").expect("put");
    t.commit().await.expect("commit");
    let mut t = store.begin();
    assert_eq!(t.get(&key(44, 2)).await.expect("get"), Some(b"y".to_vec()));
    t.rollback();
    store.shutdown().await;
}
