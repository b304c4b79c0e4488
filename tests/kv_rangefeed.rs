//! Rangefeeds through the public `kv::Store` API: ordering of values and checkpoints across a
//! split, initial scans and their catch-up, and intents that would hold checkpoints back. Each
//! test opens its own store in a temp directory with `KvSettings::for_tests()` (tiny ranges,
//! 50 ms closed timestamps).

mod common;

use common::kv::{key, open, with_timeout};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tandem::actors::range::rangefeed::RangefeedEvent;
use tandem::clock::Timestamp;
use tandem::ids::TenantId;
use tandem::kv::Store;
use tandem::kv::rangefeed::RangeFeed;
use tandem::storage::keys::{Span, index_span};

async fn put(store: &Store, k: &[u8], v: &str) -> Timestamp {
    let mut t = store.begin();
    t.put(k, v.as_bytes()).expect("put");
    t.commit().await.expect("commit")
}

type Seen = BTreeSet<(Vec<u8>, Timestamp, Option<Vec<u8>>)>;

/// Every value the feed delivers until a checkpoint at or above `upto` covers all of `span`.
async fn values_until_resolved(feed: &mut RangeFeed, span: &Span, upto: Timestamp) -> Seen {
    let mut seen = Seen::new();
    let mut resolved: Vec<Span> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "{span} not resolved to {upto}; values so far: {seen:?}"
        );
        match with_timeout("rangefeed event", Duration::from_secs(10), feed.next())
            .await
            .expect("feed open")
        {
            RangefeedEvent::Value { key, ts, value } => {
                seen.insert((key, ts, value));
            }
            RangefeedEvent::Checkpoint { span: cs, ts } if ts >= upto => {
                resolved.push(cs);
                resolved.sort_by(|a, b| a.start.cmp(&b.start));
                let mut at = span.start.clone();
                for s in &resolved {
                    if s.start <= at && s.end > at {
                        at = s.end.clone();
                    }
                }
                if at >= span.end {
                    return seen;
                }
            }
            RangefeedEvent::Checkpoint { .. } => {}
            RangefeedEvent::Error { .. } => panic!("client feed surfaced an internal error"),
        }
    }
}

/// An initial scan delivers the values visible at its start timestamp, then every version above
/// it: those written before the feed started (caught up from the store) and those written after
/// (live). A span with nothing newer than the start is read once and still gets its live
/// writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_initial_scan_rangefeed_delivers_values_at_start_then_newer_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let v = |s: &str| Some(s.as_bytes().to_vec());

    // Newer versions written between the start timestamp and the subscription.
    let span = index_span(TenantId(2), 30, 1);
    put(&store, &key(30, 1), "old1").await;
    put(&store, &key(30, 4), "old4").await;
    let start = store.now();
    let t2 = put(&store, &key(30, 1), "new1").await;
    let t3 = put(&store, &key(30, 3), "new3").await;
    assert!(start < t2 && t2 < t3);
    let mut feed = store.rangefeed(span.clone(), start, true);
    let t4 = put(&store, &key(30, 5), "live5").await;
    let seen = values_until_resolved(&mut feed, &span, t4).await;
    for expected in [
        (key(30, 1), start, v("old1")),
        (key(30, 4), start, v("old4")),
        (key(30, 1), t2, v("new1")),
        (key(30, 3), t3, v("new3")),
        (key(30, 5), t4, v("live5")),
    ] {
        assert!(seen.contains(&expected), "missing {expected:?} in {seen:?}");
    }
    assert!(
        !seen
            .iter()
            .any(|(_, ts, val)| *ts == start && val == &v("new1")),
        "the initial scan shows values as of its start: {seen:?}"
    );

    // Nothing newer than the start: the initial scan alone, then live writes.
    let quiet = index_span(TenantId(2), 31, 1);
    put(&store, &key(31, 1), "q1").await;
    let start = store.now();
    let mut feed = store.rangefeed(quiet.clone(), start, true);
    let t5 = put(&store, &key(31, 2), "q2").await;
    let seen = values_until_resolved(&mut feed, &quiet, t5).await;
    assert!(seen.contains(&(key(31, 1), start, v("q1"))), "{seen:?}");
    assert!(seen.contains(&(key(31, 2), t5, v("q2"))), "{seen:?}");
    assert!(seen.iter().all(|(k, _, _)| quiet.contains_key(k)));
    store.shutdown().await;
}

/// Values and checkpoints arrive in order across a split: every value at or below a checkpoint's
/// timestamp for its span is delivered before that checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_rangefeed_orders_values_before_checkpoints_across_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let span = index_span(TenantId(2), 9, 1);
    let start = store.now();
    let mut feed = store.rangefeed(span.clone(), start, false);
    let mut committed: BTreeMap<Vec<u8>, Timestamp> = BTreeMap::new();
    for i in 0..40i64 {
        if i == 20 {
            store.split_at(&key(9, 10)).await.expect("split");
        }
        let mut t = store.begin();
        t.put(&key(9, i), format!("v{i}").as_bytes()).expect("put");
        let ts = t.commit().await.expect("commit");
        committed.insert(key(9, i), ts);
    }
    let mut seen: BTreeMap<Vec<u8>, Timestamp> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let max_ts = *committed.values().max().expect("some");
    let mut left_ok = false;
    let mut right_ok = false;
    while !(left_ok && right_ok) {
        assert!(
            Instant::now() < deadline,
            "rangefeed did not resolve all writes; seen {} values",
            seen.len()
        );
        let ev = with_timeout("rangefeed event", Duration::from_secs(10), feed.next())
            .await
            .expect("feed open");
        match ev {
            RangefeedEvent::Value { key, ts, .. } => {
                seen.insert(key, ts);
            }
            RangefeedEvent::Checkpoint { span: cs, ts } => {
                assert!(span.contains(&cs), "checkpoint span {cs} outside {span}");
                for (k, cts) in &committed {
                    if cs.contains_key(k) && *cts <= ts {
                        assert_eq!(
                            seen.get(k),
                            Some(cts),
                            "checkpoint {ts} for {cs} arrived before the value committed at {cts}"
                        );
                    }
                }
                if ts >= max_ts {
                    left_ok |= cs.contains_key(&key(9, 0));
                    right_ok |= cs.contains_key(&key(9, 39));
                }
            }
            RangefeedEvent::Error { .. } => panic!("client feed surfaced an internal error"),
        }
    }
    assert_eq!(seen, committed);
    store.shutdown().await;
}

/// Intents of a committed transaction whose coordinator never resolved them (it died, or its
/// node stopped first) and that no reader touches: the stale-intent sweeper resolves them, so
/// the rangefeed delivers the value and checkpoints past it instead of stalling for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_stale_intents_of_a_finished_txn_do_not_hold_back_rangefeeds() {
    use tandem::ids::TxnId;
    use tandem::storage::records::{TxnRecord, TxnStatus};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let span = index_span(TenantId(2), 21, 1);
    let mut feed = store.rangefeed(span.clone(), store.now(), false);
    let k = key(21, 1);
    let txn = TxnId::random();
    let r = store.replica_for(&k).expect("replica");
    let record = TxnRecord {
        txn_id: txn,
        status: TxnStatus::Committed,
        ts: store.now(),
        heartbeat_wall: 0,
    };
    let ts = r
        .write_intents(
            txn,
            store.now(),
            &k,
            vec![(k.clone(), Some(b"orphan".to_vec()))],
            Some(record),
        )
        .await
        .expect("write intents");
    let mut value_seen = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            Instant::now() < deadline,
            "no checkpoint past the orphaned intent at {ts} (value seen: {value_seen})"
        );
        match with_timeout("rangefeed event", Duration::from_secs(10), feed.next())
            .await
            .expect("feed open")
        {
            RangefeedEvent::Value { key, value, .. } if key == k => {
                assert_eq!(value.as_deref(), Some(&b"orphan"[..]));
                value_seen = true;
            }
            RangefeedEvent::Checkpoint { span: cs, ts: cts } if cs.contains_key(&k) && cts > ts => {
                assert!(
                    value_seen,
                    "checkpoint {cts} before the committed value at {ts}"
                );
                break;
            }
            _ => {}
        }
    }
    let mut t = store.begin();
    assert_eq!(t.get(&k).await.expect("get"), Some(b"orphan".to_vec()));
    store.shutdown().await;
}
