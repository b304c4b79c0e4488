//! MVCC reads over the store.
//!
//! Visibility rule: a read at timestamp `T` sees, for each key, the newest committed version with
//! timestamp ≤ `T`; if that version is a tombstone the key is absent. Intents are not versions:
//! they live in the `locks` partition and the range layer decides what a reader does when it
//! meets one. All functions here are pure reads; writes happen only through [`super::WriteOp`].

use crate::clock::Timestamp;
use crate::ids::TxnId;
use crate::storage::error::Result;
use crate::storage::keys::{self, Span};
use crate::storage::records::{Intent, TxnRecord, decode};
use crate::storage::row_cache::Newest;
use crate::storage::{Engine, decode_mvcc_value, txn_record_key};

/// A key/value pair returned by a scan.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// One MVCC version.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Version {
    /// User key.
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    /// Version timestamp.
    pub ts: Timestamp,
    /// Value, `None` for a tombstone.
    #[serde(with = "serde_bytes")]
    pub value: Option<Vec<u8>>,
}

/// A page of a scan, with where to resume if limits were hit.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ScanPage<T> {
    /// The rows, in key order.
    pub rows: Vec<T>,
    /// First key not returned, if the scan stopped at a limit.
    pub resume: Option<Vec<u8>>,
    /// Bytes of keys and values returned.
    pub bytes: usize,
    /// [`scan`] passed over a version newer than its read timestamp (always `false` for
    /// version scans).
    #[serde(default)]
    pub skipped_newer: bool,
}

impl<T> Default for ScanPage<T> {
    fn default() -> Self {
        ScanPage {
            rows: Vec::new(),
            resume: None,
            bytes: 0,
            skipped_newer: false,
        }
    }
}

/// Limits of one scan page.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Most rows to return.
    pub max_rows: usize,
    /// Stop after this many bytes.
    pub max_bytes: usize,
}

impl Limits {
    /// No limits.
    pub const NONE: Limits = Limits {
        max_rows: usize::MAX,
        max_bytes: usize::MAX,
    };
}

/// Versions of one key a scan steps over before it seeks past the rest.
const ITERS_BEFORE_SEEK: usize = 8;

/// Where a scan that skipped too many versions of `key` goes on: past the key's history once
/// the key is `decided`, else to its newest version at or below `ts`.
fn seek_target(key: &[u8], decided: bool, ts: Timestamp) -> Vec<u8> {
    if decided {
        keys::mvcc_key_after_versions(key)
    } else {
        keys::encode_mvcc_key(key, ts)
    }
}

fn mvcc_range(span: &Span) -> (Vec<u8>, Vec<u8>) {
    (
        keys::mvcc_key_prefix(span.start.as_bytes()),
        keys::mvcc_key_prefix(span.end.as_bytes()),
    )
}

/// The newest version of `key` with timestamp ≤ `ts` (tombstones included).
pub fn get_version(engine: &Engine, key: &[u8], ts: Timestamp) -> Result<Option<Version>> {
    let lo = keys::encode_mvcc_key(key, ts);
    let hi = keys::encode_mvcc_key(key, Timestamp::MIN);
    if let Some(item) = engine
        .mvcc_partition(&lo)
        .range(lo.as_slice()..=hi.as_slice())
        .next()
    {
        let (k, v) = item.into_inner()?;
        let (uk, vts) = keys::decode_mvcc_key(&k)?;
        return Ok(Some(Version {
            key: uk,
            ts: vts,
            value: decode_mvcc_value(&v)?.map(<[u8]>::to_vec),
        }));
    }
    Ok(None)
}

/// The newest version of `key` (through the newest-version cache).
pub fn newest(engine: &Engine, key: &[u8]) -> Result<Newest> {
    match engine.row_cache().get(key) {
        Ok(n) => Ok(n),
        Err(epoch) => {
            let n = match get_version(engine, key, Timestamp::MAX)? {
                Some(v) => Newest {
                    ts: v.ts,
                    value: v.value,
                },
                None => Newest {
                    ts: Timestamp::MIN,
                    value: None,
                },
            };
            engine.row_cache().fill(key, n.clone(), epoch);
            Ok(n)
        }
    }
}

/// The value of `key` visible at `ts`.
pub fn get(engine: &Engine, key: &[u8], ts: Timestamp) -> Result<Option<Vec<u8>>> {
    let n = newest(engine, key)?;
    if n.ts <= ts {
        return Ok(n.value);
    }
    Ok(get_version(engine, key, ts)?.and_then(|v| v.value))
}

/// The timestamp of the newest version of `key`, if any.
pub fn newest_version_ts(engine: &Engine, key: &[u8]) -> Result<Option<Timestamp>> {
    let n = newest(engine, key)?;
    Ok((!n.ts.is_zero()).then_some(n.ts))
}

/// Visible key/values in `span` at `ts`, in key order, up to the limits.
pub fn scan(
    engine: &Engine,
    span: &Span,
    ts: Timestamp,
    limits: Limits,
) -> Result<ScanPage<KeyValue>> {
    let (lo, hi) = mvcc_range(span);
    let mut page = ScanPage::default();
    let mut current: Option<Vec<u8>> = None;
    let mut decided = false;
    // A key with many versions (a hot row) is not walked version by version: after
    // `ITERS_BEFORE_SEEK` skipped versions the scan seeks past them (to the version visible at
    // `ts`, or to the next key), so a read costs the same however long the key's history is.
    let mut start = lo;
    'seek: loop {
        let mut skipped = 0usize;
        let mut reseek = None;
        for item in engine.mvcc_range(&start, &hi) {
            let (k, v) = item.into_inner()?;
            let (uk, vts) = keys::decode_mvcc_key(&k)?;
            if current.as_deref() != Some(&uk[..]) {
                current = Some(uk.clone());
                decided = false;
                skipped = 0;
            }
            if decided || vts > ts {
                page.skipped_newer |= vts > ts;
                skipped += 1;
                if skipped >= ITERS_BEFORE_SEEK {
                    reseek = Some(seek_target(&uk, decided, ts));
                    break;
                }
                continue;
            }
            decided = true;
            if let Some(val) = decode_mvcc_value(&v)? {
                if page.rows.len() >= limits.max_rows || page.bytes >= limits.max_bytes {
                    page.resume = Some(uk);
                    break 'seek;
                }
                page.bytes += uk.len() + val.len();
                page.rows.push((uk, val.to_vec()));
            }
        }
        match reseek {
            Some(next) if next < hi => start = next,
            _ => break,
        }
    }
    Ok(page)
}

/// Every version in `span` with `after < ts <= upto`, in key order (newest first per key).
pub fn scan_versions(
    engine: &Engine,
    span: &Span,
    after: Timestamp,
    upto: Timestamp,
    limits: Limits,
) -> Result<ScanPage<Version>> {
    let (lo, hi) = mvcc_range(span);
    let mut page = ScanPage::default();
    let mut last_key: Option<Vec<u8>> = None;
    for item in engine.mvcc_range(&lo, &hi) {
        let (k, v) = item.into_inner()?;
        let (uk, vts) = keys::decode_mvcc_key(&k)?;
        if vts <= after || vts > upto {
            continue;
        }
        // Stop only between keys so a page never splits one key's versions.
        if last_key.as_deref() != Some(&uk[..])
            && (page.rows.len() >= limits.max_rows || page.bytes >= limits.max_bytes)
        {
            page.resume = Some(uk);
            break;
        }
        let value = decode_mvcc_value(&v)?.map(<[u8]>::to_vec);
        page.bytes += uk.len() + 12 + value.as_ref().map_or(0, Vec::len);
        last_key = Some(uk.clone());
        page.rows.push(Version {
            key: uk,
            ts: vts,
            value,
        });
    }
    Ok(page)
}

/// Every version in `span`, all timestamps (for GC and revert planning).
pub fn scan_all_versions(
    engine: &Engine,
    span: &Span,
    limits: Limits,
) -> Result<ScanPage<Version>> {
    scan_versions(engine, span, Timestamp::MIN, Timestamp::MAX, limits)
}

/// Whether any version in `span` has `after < ts <= upto` (the refresh check).
pub fn has_versions_in(
    engine: &Engine,
    span: &Span,
    after: Timestamp,
    upto: Timestamp,
) -> Result<bool> {
    let (lo, hi) = mvcc_range(span);
    // Per key (versions newest first) only the newest version at or below `upto` matters: the
    // older ones are older still. A long history (a hot row) is skipped with a seek, as in
    // [`scan`].
    let mut start = lo;
    loop {
        let mut current: Option<Vec<u8>> = None;
        let mut decided = false;
        let mut skipped = 0usize;
        let mut reseek = None;
        for item in engine.mvcc_range(&start, &hi) {
            let k = item.key()?;
            let (uk, vts) = keys::decode_mvcc_key(&k)?;
            if current.as_deref() != Some(&uk[..]) {
                current = Some(uk.clone());
                decided = false;
                skipped = 0;
            }
            if !decided && vts <= upto {
                if vts > after {
                    return Ok(true);
                }
                decided = true;
                continue;
            }
            skipped += 1;
            if skipped >= ITERS_BEFORE_SEEK {
                reseek = Some(seek_target(&uk, decided, upto));
                break;
            }
        }
        match reseek {
            Some(next) if next < hi => start = next,
            _ => return Ok(false),
        }
    }
}

/// The intent on `key`, if any.
pub fn get_intent(engine: &Engine, key: &[u8]) -> Result<Option<Intent>> {
    match engine.locks().get(key)? {
        Some(raw) => Ok(Some(decode(&raw)?)),
        None => Ok(None),
    }
}

/// Intents in `span`, in key order.
///
/// A span of one key is a point lookup: the `locks` partition churns (every intent is written
/// and then deleted), and a range over a hot row's key steps through every version and tombstone
/// of it still in the memtable (9% of the node's CPU under pgbench tpcb-like went there, through
/// the refresh of each UPDATE's read), where a lookup seeks straight to the newest.
pub fn scan_intents(engine: &Engine, span: &Span, max: usize) -> Result<Vec<(Vec<u8>, Intent)>> {
    let start = span.start.as_bytes();
    let end = span.end.as_bytes();
    if max > 0 && end.len() == start.len() + 1 && end.starts_with(start) && end.last() == Some(&0) {
        return Ok(get_intent(engine, start)?
            .map(|i| vec![(start.to_vec(), i)])
            .unwrap_or_default());
    }
    let mut out = Vec::new();
    for item in engine
        .locks()
        .range(span.start.as_bytes()..span.end.as_bytes())
    {
        if out.len() >= max {
            break;
        }
        let (k, v) = item.into_inner()?;
        out.push((k.to_vec(), decode(&v)?));
    }
    Ok(out)
}

/// The record of transaction `txn_id` anchored at `anchor`.
pub fn get_txn_record(engine: &Engine, anchor: &[u8], txn_id: TxnId) -> Result<Option<TxnRecord>> {
    match engine.txns().get(txn_record_key(anchor, txn_id))? {
        Some(raw) => Ok(Some(decode(&raw)?)),
        None => Ok(None),
    }
}

/// Approximate live bytes (keys + values, all versions) in `span`.
pub fn span_bytes(engine: &Engine, span: &Span) -> Result<u64> {
    let (lo, hi) = mvcc_range(span);
    let mut n = 0u64;
    for item in engine.mvcc_range(&lo, &hi) {
        let (k, v) = item.into_inner()?;
        n += (k.len() + v.len()) as u64;
    }
    Ok(n)
}

/// A split key and the bytes of the span before it.
pub type SplitAt = (Vec<u8>, u64);

/// Approximate bytes of the intents (with their provisional values) in `span`.
fn intent_bytes(engine: &Engine, span: &Span) -> Result<u64> {
    let mut n = 0u64;
    for item in engine
        .locks()
        .range(span.start.as_bytes()..span.end.as_bytes())
    {
        let (k, v) = item.into_inner()?;
        n += (k.len() + v.len()) as u64;
    }
    Ok(n)
}

/// Where to split `span`: its size in bytes (MVCC versions and intents) and, when it holds at
/// least two keys, a key near its middle by bytes (at a key boundary) with the bytes before
/// that key. Intents count: a large transaction's writes are intents until resolved, and a
/// range holding a gigabyte of them must split like one holding versions (it did not, and its
/// raft snapshot outgrew the transport). One pass to size the span and half a pass over both
/// partitions, merged in key order, to find the middle.
pub fn split_point(engine: &Engine, span: &Span) -> Result<(u64, Option<SplitAt>)> {
    let total = span_bytes(engine, span)? + intent_bytes(engine, span)?;
    let (lo, hi) = mvcc_range(span);
    let mut versions = engine
        .mvcc_range(&lo, &hi)
        .map(|g| -> Result<(Vec<u8>, u64)> {
            let (k, v) = g.into_inner()?;
            Ok((keys::decode_mvcc_key(&k)?.0, (k.len() + v.len()) as u64))
        })
        .peekable();
    let mut intents = engine
        .locks()
        .range(span.start.as_bytes()..span.end.as_bytes())
        .map(|g| -> Result<(Vec<u8>, u64)> {
            let (k, v) = g.into_inner()?;
            Ok((k.to_vec(), (k.len() + v.len()) as u64))
        })
        .peekable();
    let mut before = 0u64;
    let mut current: Option<Vec<u8>> = None;
    loop {
        // The next record in user-key order (an intent before the versions of its key).
        let intent_first = match (versions.peek(), intents.peek()) {
            (_, Some(Err(_))) | (None, Some(_)) => true,
            (Some(Ok((vk, _))), Some(Ok((ik, _)))) => ik <= vk,
            (Some(_), _) => false,
            (None, None) => return Ok((total, None)),
        };
        let next = if intent_first {
            intents.next()
        } else {
            versions.next()
        };
        let Some(record) = next else {
            return Ok((total, None));
        };
        if let Some(found) = boundary(&mut current, &mut before, record?, total) {
            return Ok((total, Some(found)));
        }
    }
}

/// One record (its user key and bytes) of [`split_point`]'s walk: the split point when a new key
/// starts past the middle, else the walk goes on.
fn boundary(
    current: &mut Option<Vec<u8>>,
    before: &mut u64,
    (uk, bytes): (Vec<u8>, u64),
    total: u64,
) -> Option<SplitAt> {
    if current.as_ref() != Some(&uk) {
        if current.is_some() && *before >= total / 2 {
            return Some((uk, *before));
        }
        *current = Some(uk);
    }
    *before += bytes;
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{EngineOptions, WriteOp};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    pub(crate) fn new_test_engine() -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = Engine::open(
            dir.path(),
            &EngineOptions {
                cache_bytes: 8 << 20,
            },
        )
        .expect("open");
        (dir, e)
    }

    fn write(e: &Engine, ops: &[WriteOp]) {
        let mut b = e.batch();
        for op in ops {
            e.add_op(&mut b, op);
        }
        b.commit().expect("commit");
        e.after_commit(ops);
    }

    fn ts(w: u64) -> Timestamp {
        Timestamp::from_wall(w)
    }

    #[test]
    fn split_point_halves_by_bytes_at_a_key_boundary() {
        let (_d, e) = new_test_engine();
        let span = Span::new(b"k".to_vec(), b"l".to_vec());
        assert_eq!(split_point(&e, &span).expect("sized"), (0, None));
        // Ten keys of two versions each: the split key never separates a key's versions.
        let ops: Vec<WriteOp> = (0..10u8)
            .flat_map(|i| {
                [1, 2].map(|w| WriteOp::PutVersion {
                    key: vec![b'k', b'0' + i],
                    ts: ts(w),
                    value: Some(vec![i; 100]),
                })
            })
            .collect();
        write(&e, &ops);
        let (total, point) = split_point(&e, &span).expect("sized");
        assert_eq!(total, span_bytes(&e, &span).expect("sized"));
        let (key, left) = point.expect("ten keys split");
        assert_eq!(key, b"k5".to_vec());
        let left_span = Span::new(b"k".to_vec(), key.clone());
        assert_eq!(left, span_bytes(&e, &left_span).expect("sized"));
        assert_eq!(left * 2, total);
        // One key (however many versions) cannot split.
        let one = Span::new(b"k3".to_vec(), b"k4".to_vec());
        assert!(split_point(&e, &one).expect("sized").1.is_none());
    }

    #[test]
    fn split_point_counts_intents() {
        let (_d, e) = new_test_engine();
        let span = Span::new(b"k".to_vec(), b"l".to_vec());
        // A large transaction's writes, still intents: the range must be able to split.
        let intent = |i: u8| WriteOp::PutIntent {
            key: vec![b'k', b'0' + i],
            intent: Intent {
                txn_id: TxnId(7),
                ts: ts(5),
                value: Some(vec![i; 100]),
                anchor: crate::storage::keys::Key(b"k0".to_vec()),
            },
        };
        write(&e, &(0..10u8).map(intent).collect::<Vec<_>>());
        let (total, point) = split_point(&e, &span).expect("sized");
        assert!(total > 1000, "{total}");
        let (key, left) = point.expect("ten intents split");
        assert_eq!(key, b"k5".to_vec());
        assert_eq!(left * 2, total);
        // Versions and intents together, in key order: versions on k0..k4, intents on k5..k9.
        let (_d2, e2) = new_test_engine();
        write(
            &e2,
            &(0..5u8)
                .map(|i| WriteOp::PutVersion {
                    key: vec![b'k', b'0' + i],
                    ts: ts(1),
                    value: Some(vec![i; 100]),
                })
                .chain((5..10u8).map(intent))
                .collect::<Vec<_>>(),
        );
        let (total, point) = split_point(&e2, &span).expect("sized");
        let (key, left) = point.expect("split");
        assert!(key.as_slice() > b"k3".as_slice() && key.as_slice() < b"k8".as_slice());
        assert!(
            left > total / 3 && left < total * 2 / 3,
            "{left} of {total}"
        );
    }

    #[test]
    fn mvcc_reads_see_newest_version_at_or_below() {
        let (_d, e) = new_test_engine();
        write(
            &e,
            &[
                WriteOp::PutVersion {
                    key: b"a".to_vec(),
                    ts: ts(10),
                    value: Some(b"1".to_vec()),
                },
                WriteOp::PutVersion {
                    key: b"a".to_vec(),
                    ts: ts(20),
                    value: None,
                },
                WriteOp::PutVersion {
                    key: b"a".to_vec(),
                    ts: ts(30),
                    value: Some(b"3".to_vec()),
                },
                WriteOp::PutVersion {
                    key: b"b".to_vec(),
                    ts: ts(15),
                    value: Some(b"b".to_vec()),
                },
            ],
        );
        assert_eq!(get(&e, b"a", ts(5)).expect("read"), None);
        assert_eq!(get(&e, b"a", ts(10)).expect("read"), Some(b"1".to_vec()));
        assert_eq!(get(&e, b"a", ts(25)).expect("read"), None);
        assert_eq!(get(&e, b"a", ts(31)).expect("read"), Some(b"3".to_vec()));
        let page = scan(
            &e,
            &Span::new(b"a".to_vec(), b"c".to_vec()),
            ts(25),
            Limits::NONE,
        )
        .expect("scan");
        assert_eq!(page.rows, vec![(b"b".to_vec(), b"b".to_vec())]);
        let w = scan_versions(
            &e,
            &Span::new(b"a".to_vec(), b"c".to_vec()),
            ts(10),
            ts(20),
            Limits::NONE,
        )
        .expect("scan");
        assert_eq!(
            w.rows
                .iter()
                .map(|v| (v.key.clone(), v.ts))
                .collect::<Vec<_>>(),
            vec![(b"a".to_vec(), ts(20)), (b"b".to_vec(), ts(15))]
        );
    }

    #[test]
    fn scan_resumes_at_limit() {
        let (_d, e) = new_test_engine();
        let ops: Vec<_> = (0..10u8)
            .map(|i| WriteOp::PutVersion {
                key: vec![b'k', i],
                ts: ts(1),
                value: Some(vec![i]),
            })
            .collect();
        write(&e, &ops);
        let span = Span::new(b"k".to_vec(), b"l".to_vec());
        let p = scan(
            &e,
            &span,
            ts(2),
            Limits {
                max_rows: 4,
                max_bytes: usize::MAX,
            },
        )
        .expect("scan");
        assert_eq!(p.rows.len(), 4);
        assert_eq!(p.resume, Some(vec![b'k', 4]));
    }

    #[test]
    fn a_hot_key_with_a_long_history_reads_like_any_other() {
        let (_d, e) = new_test_engine();
        let ops: Vec<WriteOp> = (1..=500u64)
            .map(|w| WriteOp::PutVersion {
                key: b"hot".to_vec(),
                ts: ts(w),
                value: Some(w.to_be_bytes().to_vec()),
            })
            .chain([
                WriteOp::PutVersion {
                    key: b"hos".to_vec(),
                    ts: ts(3),
                    value: Some(vec![1]),
                },
                WriteOp::PutVersion {
                    key: b"hou".to_vec(),
                    ts: ts(7),
                    value: Some(vec![2]),
                },
            ])
            .collect();
        write(&e, &ops);
        let span = Span::new(b"ho".to_vec(), b"hp".to_vec());
        for read in [2u64, 5, 250, 499, 500, 10_000] {
            let p = scan(&e, &span, ts(read), Limits::NONE).expect("scan");
            let mut want = Vec::new();
            if read >= 3 {
                want.push((b"hos".to_vec(), vec![1]));
            }
            want.push((b"hot".to_vec(), read.min(500).to_be_bytes().to_vec()));
            if read >= 7 {
                want.push((b"hou".to_vec(), vec![2]));
            }
            assert_eq!(p.rows, want, "read at {read}");
        }
        // The refresh check over the same history.
        let refresh = |a: u64, b: u64| has_versions_in(&e, &span, ts(a), ts(b)).expect("refresh");
        assert!(refresh(250, 260));
        assert!(refresh(499, 10_000));
        assert!(!refresh(500, 10_000));
        assert!(refresh(2, 3), "hos at 3");
        assert!(!refresh(0, 0));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Random histories: every read at every timestamp equals a model's answer.
        #[test]
        fn mvcc_visibility_matches_model(history in proptest::collection::vec((0u8..4, 1u64..20, proptest::option::of(any::<u8>())), 1..80)) {
            let (_d, e) = new_test_engine();
            let mut model: BTreeMap<(u8, u64), Option<u8>> = BTreeMap::new();
            for (k, t, v) in &history {
                model.insert((*k, *t), *v);
                write(&e, &[WriteOp::PutVersion { key: vec![*k], ts: ts(*t), value: v.map(|b| vec![b]) }]);
            }
            for read_ts in 0..22u64 {
                let mut expected = Vec::new();
                for k in 0u8..4 {
                    let newest = model.range((k, 0)..=(k, read_ts)).next_back().and_then(|(_, v)| *v);
                    prop_assert_eq!(get(&e, &[k], ts(read_ts)).expect("get"), newest.map(|b| vec![b]));
                    if let Some(b) = newest { expected.push((vec![k], vec![b])); }
                }
                let page = scan(&e, &Span::new(vec![0u8], vec![9u8]), ts(read_ts), Limits::NONE).expect("scan");
                prop_assert_eq!(page.rows, expected);
                for after in [0u64, read_ts / 2, read_ts.saturating_sub(1)] {
                    let any = model.keys().any(|(_, t)| *t > after && *t <= read_ts);
                    prop_assert_eq!(
                        has_versions_in(&e, &Span::new(vec![0u8], vec![9u8]), ts(after), ts(read_ts)).expect("refresh"),
                        any
                    );
                }
            }
        }
    }
}
