//! KV throughput: tandem's KV API next to the same operation on raw fjall, in one run.
//!
//! Run with `cargo bench --bench kv` (a release build). Every scenario opens a fresh tandem
//! [`Store`] (default [`KvSettings`], single node) and a fresh raw fjall database with the same
//! cache size, each in its own temporary directory, and measures:
//!
//! 1. **commit/s, 1 writer** — tandem: one tokio task looping `begin`, `put`, `commit` (durable:
//!    raft log + apply + fsync). Raw: a loop of `db.batch()` + insert + `commit()` +
//!    `db.persist(SyncData)`.
//! 2. **commit/s, 16 writers** — 16 tokio tasks doing the same on distinct keys, against 16
//!    threads each doing `insert` + `persist(SyncData)` on raw fjall. The tandem 16/1 ratio shows
//!    how well group commit shares fsyncs.
//! 3. **point get/s** — one caller reading random keys out of 10k preloaded (100 B values). The
//!    headline tandem figure opens a fresh `store.begin()` per read (like an autocommit `SELECT`);
//!    a second line reuses one read transaction. Raw: `keyspace.get`. Also a criterion group
//!    (`point_get`) over the same stores.
//! 4. **scan MB/s** — one `txn.scan(&span, usize::MAX)` over ~20 MB (20k keys, 1 KiB values)
//!    against a `keyspace.range(..)` iteration; bytes counted are user key + value bytes returned.
//! 5. **rangefeed events/s** — subscribe with `store.rangefeed(span, now, false)`, commit 10k keys
//!    (100 txns of 100 keys, one writer), and time from the first commit until every key has
//!    arrived as a `RangefeedEvent::Value`. Raw fjall has no equivalent.
//! 6. **ingest MB/s** — `store.ingest` of ~16 MB in 2 MB batches (1 KiB values, one tenant span)
//!    against raw fjall batches of the same bytes, each followed by `persist(SyncData)`.
//!
//! Tandem and raw repetitions are interleaved; the summary printed at the end gives the median
//! of 5 repetitions (and the min–max spread), since small noisy machines make single runs
//! misleading. MB is 10^6 bytes. When run without `--bench` (e.g. `cargo test --benches`), the
//! bench does one short repetition of everything as a smoke test.

use criterion::{BenchmarkId, Criterion, Throughput};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tandem::actors::range::rangefeed::RangefeedEvent;
use tandem::ids::TenantId;
use tandem::kv::{KvError, Store};
use tandem::settings::KvSettings;
use tandem::storage::keys::{self, Span};
use tandem::storage::mvcc::Version;
use tokio::runtime::Runtime;

type Result<T> = anyhow::Result<T>;

const TENANT: TenantId = TenantId(2);
const INDEX: u32 = 1;

/// How long each run of the scenarios and what size.
struct Config {
    reps: usize,
    commit_window: Duration,
    read_window: Duration,
    read_keys: i64,
    scan_keys: i64,
    feed_keys: i64,
    feed_txn_keys: i64,
    ingest_batches: usize,
    ingest_batch_keys: i64,
    criterion: bool,
}

impl Config {
    fn full() -> Config {
        Config {
            reps: 5,
            commit_window: Duration::from_millis(700),
            read_window: Duration::from_millis(400),
            read_keys: 10_000,
            scan_keys: 20_000,
            feed_keys: 10_000,
            feed_txn_keys: 100,
            ingest_batches: 8,
            ingest_batch_keys: 2048,
            criterion: true,
        }
    }

    fn smoke() -> Config {
        Config {
            reps: 1,
            commit_window: Duration::from_millis(100),
            read_window: Duration::from_millis(100),
            read_keys: 1_000,
            scan_keys: 1_000,
            feed_keys: 500,
            feed_txn_keys: 50,
            ingest_batches: 2,
            ingest_batch_keys: 256,
            criterion: false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `/Tenant/2/Table/<table>/1/<a>`.
fn key1(table: u32, a: i64) -> Vec<u8> {
    keys::index_key(TENANT, table, INDEX, &a).expect("encode key")
}

/// `/Tenant/2/Table/<table>/1/<a>/<b>`.
fn key2(table: u32, a: i64, b: i64) -> Vec<u8> {
    keys::index_key(TENANT, table, INDEX, &(a, b)).expect("encode key")
}

fn table_span(table: u32) -> Span {
    keys::index_span(TENANT, table, INDEX)
}

fn value(len: usize, seed: i64) -> Vec<u8> {
    (0..len)
        .map(|i| (seed as usize).wrapping_mul(31).wrapping_add(i) as u8)
        .collect()
}

/// Cheap deterministic pseudo-random numbers for key choice.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn open_store(rt: &Runtime, dir: &Path) -> Result<Store> {
    let store = rt.block_on(async { Store::open(dir, KvSettings::default()) })?;
    // The first write waits for the ranges to elect themselves leader; keep that out of timings.
    rt.block_on(async {
        let mut t = store.begin();
        t.put(&key1(1, 0), b"warm-up")?;
        t.commit().await?;
        Ok::<_, KvError>(())
    })?;
    Ok(store)
}

struct Raw {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

fn open_raw(dir: &Path) -> Result<Raw> {
    let db = fjall::Database::builder(dir).cache_size(128 << 20).open()?;
    let ks = db.keyspace("x", fjall::KeyspaceCreateOptions::default)?;
    Ok(Raw { db, ks })
}

/// Commits `rows` through tandem in transactions of `per_txn` keys.
async fn load_tandem(store: &Store, rows: &[(Vec<u8>, Vec<u8>)], per_txn: usize) -> Result<()> {
    for chunk in rows.chunks(per_txn) {
        let mut t = store.begin();
        for (k, v) in chunk {
            t.put(k, v)?;
        }
        t.commit().await?;
    }
    Ok(())
}

fn load_raw(raw: &Raw, rows: &[(Vec<u8>, Vec<u8>)], per_batch: usize) -> Result<()> {
    for chunk in rows.chunks(per_batch) {
        let mut b = raw.db.batch();
        for (k, v) in chunk {
            b.insert(&raw.ks, k.as_slice(), v.as_slice());
        }
        b.commit()?;
    }
    raw.db.persist(fjall::PersistMode::SyncData)?;
    Ok(())
}

fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn spread(xs: &[f64]) -> String {
    if xs.len() < 2 {
        return String::new();
    }
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{}–{}", fmt_num(lo), fmt_num(hi))
}

fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        "n/a".into()
    } else if x >= 100_000.0 {
        format!("{:.0}k", x / 1000.0)
    } else if x >= 1000.0 {
        format!("{:.0}", x)
    } else if x >= 10.0 {
        format!("{:.1}", x)
    } else {
        format!("{:.2}", x)
    }
}

/// One line of the final table.
struct Row {
    op: &'static str,
    unit: &'static str,
    tandem: Vec<f64>,
    raw: Vec<f64>,
    note: String,
}

impl Row {
    fn new(op: &'static str, unit: &'static str) -> Row {
        Row {
            op,
            unit,
            tandem: Vec::new(),
            raw: Vec::new(),
            note: String::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1 + 2: commit rates
// ---------------------------------------------------------------------------------------------

/// Commits of one key each by `writers` tasks until `window` passes; returns commits/s, the
/// number of commits and the number of retryable errors seen (retried, not counted).
fn tandem_commits(
    rt: &Runtime,
    store: &Store,
    table: u32,
    writers: usize,
    window: Duration,
) -> Result<(f64, u64, u64)> {
    let retries = Arc::new(AtomicU64::new(0));
    let val = value(64, 1);
    rt.block_on(async {
        let start = Instant::now();
        let deadline = start + window;
        let mut tasks = Vec::new();
        for w in 0..writers {
            let (store, val, retries) = (store.clone(), val.clone(), retries.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0i64;
                while Instant::now() < deadline {
                    let mut t = store.begin();
                    t.put(&key2(table, w as i64, n), &val)?;
                    match t.commit().await {
                        Ok(_) => n += 1,
                        Err(e) if e.is_retryable() => {
                            retries.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok::<i64, KvError>(n)
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await??;
        }
        Ok((
            total as f64 / start.elapsed().as_secs_f64(),
            total as u64,
            retries.load(Ordering::Relaxed),
        ))
    })
}

fn raw_commits_1(raw: &Raw, table: u32, window: Duration) -> Result<f64> {
    let val = value(64, 1);
    let start = Instant::now();
    let mut n = 0i64;
    while start.elapsed() < window {
        let mut b = raw.db.batch();
        b.insert(&raw.ks, key2(table, 0, n), val.as_slice());
        b.commit()?;
        raw.db.persist(fjall::PersistMode::SyncData)?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn raw_commits_n(raw: &Raw, table: u32, writers: usize, window: Duration) -> Result<f64> {
    let val = value(64, 1);
    let start = Instant::now();
    let deadline = start + window;
    let total = std::thread::scope(|s| -> Result<i64> {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let val = &val;
                s.spawn(move || -> Result<i64> {
                    let mut n = 0i64;
                    while Instant::now() < deadline {
                        raw.ks.insert(key2(table, w as i64, n), val.as_slice())?;
                        raw.db.persist(fjall::PersistMode::SyncData)?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.join().expect("writer thread panicked")?;
        }
        Ok(total)
    })?;
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

fn bench_commits(rt: &Runtime, cfg: &Config) -> Result<(Row, Row)> {
    let (tdir, rdir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let store = open_store(rt, tdir.path())?;
    let raw = open_raw(rdir.path())?;
    let mut one = Row::new("commit, 1 writer (fsync)", "commits/s");
    let mut many = Row::new("commit, 16 writers (fsync)", "commits/s");
    let mut retries = 0;
    let stats = store.engine().syncer().stats();
    let (mut syncs1, mut reqs1, mut commits1) = (0, 0, 0);
    let (mut syncs16, mut reqs16, mut commits16) = (0, 0, 0);
    for rep in 0..cfg.reps {
        let table = 1000 + rep as u32 * 2;
        let (s0, q0) = (
            stats.syncs.load(Ordering::Relaxed),
            stats.requests.load(Ordering::Relaxed),
        );
        let (r, n, x) = tandem_commits(rt, &store, table, 1, cfg.commit_window)?;
        syncs1 += stats.syncs.load(Ordering::Relaxed) - s0;
        reqs1 += stats.requests.load(Ordering::Relaxed) - q0;
        commits1 += n;
        one.tandem.push(r);
        retries += x;
        one.raw.push(raw_commits_1(&raw, table, cfg.commit_window)?);
        let (s0, q0) = (
            stats.syncs.load(Ordering::Relaxed),
            stats.requests.load(Ordering::Relaxed),
        );
        let (r, n, x) = tandem_commits(rt, &store, table + 1, 16, cfg.commit_window)?;
        commits16 += n;
        syncs16 += stats.syncs.load(Ordering::Relaxed) - s0;
        reqs16 += stats.requests.load(Ordering::Relaxed) - q0;
        many.tandem.push(r);
        retries += x;
        many.raw
            .push(raw_commits_n(&raw, table + 1, 16, cfg.commit_window)?);
        eprintln!(
            "  commits rep {rep}: tandem 1w {:.0}/s 16w {:.0}/s | raw 1w {:.0}/s 16w {:.0}/s",
            one.tandem[rep], many.tandem[rep], one.raw[rep], many.raw[rep]
        );
    }
    // "fsync" below = one round of tandem's group-commit thread (one persist(SyncData) call).
    one.note = format!(
        "tandem: {:.2} sync requests and {:.2} fsyncs per commit (raw: 1 fsync per commit)",
        reqs1 as f64 / commits1.max(1) as f64,
        syncs1 as f64 / commits1.max(1) as f64
    );
    many.note = format!(
        "tandem 16w/1w = {:.1}x (aim >= 10x); {:.2} sync requests per fsync, {:.2} commits per fsync",
        median(&many.tandem) / median(&one.tandem),
        reqs16 as f64 / syncs16.max(1) as f64,
        commits16 as f64 / syncs16.max(1) as f64
    );
    if retries > 0 {
        many.note.push_str(&format!(
            "; {retries} retryable errors (unexpected with distinct keys)"
        ));
    }
    rt.block_on(store.shutdown());
    Ok((one, many))
}

// ---------------------------------------------------------------------------------------------
// 3: point reads
// ---------------------------------------------------------------------------------------------

fn tandem_gets(
    rt: &Runtime,
    store: &Store,
    cfg: &Config,
    seed: u64,
    fresh_txn: bool,
) -> Result<f64> {
    let mut rng = XorShift(seed);
    let n_keys = cfg.read_keys as u64;
    rt.block_on(async {
        let mut shared = store.begin();
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < cfg.read_window {
            for _ in 0..64 {
                let k = key1(100, (rng.next() % n_keys) as i64);
                let v = if fresh_txn {
                    store.begin().get(&k).await?
                } else {
                    shared.get(&k).await?
                };
                assert!(v.is_some(), "preloaded key missing");
                n += 1;
            }
        }
        shared.rollback();
        Ok(n as f64 / start.elapsed().as_secs_f64())
    })
}

fn raw_gets(raw: &Raw, cfg: &Config, seed: u64) -> Result<f64> {
    let mut rng = XorShift(seed);
    let n_keys = cfg.read_keys as u64;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < cfg.read_window {
        for _ in 0..64 {
            let k = key1(100, (rng.next() % n_keys) as i64);
            assert!(raw.ks.get(&k)?.is_some(), "preloaded key missing");
            n += 1;
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn bench_gets(rt: &Runtime, cfg: &Config) -> Result<(Row, Row)> {
    let (tdir, rdir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let store = open_store(rt, tdir.path())?;
    let raw = open_raw(rdir.path())?;
    let rows: Vec<_> = (0..cfg.read_keys)
        .map(|i| (key1(100, i), value(100, i)))
        .collect();
    rt.block_on(load_tandem(&store, &rows, 500))?;
    load_raw(&raw, &rows, 500)?;

    let mut fresh = Row::new("point get (fresh txn per read)", "gets/s");
    let mut reused = Row::new("point get (one read txn)", "gets/s");
    for rep in 0..cfg.reps {
        let seed = 0x9E37_79B9_7F4A_7C15 ^ rep as u64;
        fresh.tandem.push(tandem_gets(rt, &store, cfg, seed, true)?);
        fresh.raw.push(raw_gets(&raw, cfg, seed)?);
        reused
            .tandem
            .push(tandem_gets(rt, &store, cfg, seed, false)?);
        reused.raw.push(*fresh.raw.last().unwrap());
        eprintln!(
            "  gets rep {rep}: tandem fresh {:.0}/s reused {:.0}/s | raw {:.0}/s",
            fresh.tandem[rep], reused.tandem[rep], fresh.raw[rep]
        );
    }
    fresh.note = format!(
        "tandem/raw = {:.2} (aim >= 0.5)",
        median(&fresh.tandem) / median(&fresh.raw)
    );
    reused.note = format!(
        "tandem/raw = {:.2}; raw column repeats the line above",
        median(&reused.tandem) / median(&reused.raw)
    );

    if cfg.criterion {
        let mut c = Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .configure_from_args();
        let mut g = c.benchmark_group("point_get");
        g.throughput(Throughput::Elements(1));
        let mut rng = XorShift(42);
        let n_keys = cfg.read_keys as u64;
        g.bench_function(BenchmarkId::new("tandem", "fresh_txn"), |b| {
            b.iter(|| {
                let k = key1(100, (rng.next() % n_keys) as i64);
                rt.block_on(store.begin().get(&k)).expect("get")
            })
        });
        g.bench_function(BenchmarkId::new("raw_fjall", "get"), |b| {
            b.iter(|| {
                let k = key1(100, (rng.next() % n_keys) as i64);
                raw.ks.get(&k).expect("get")
            })
        });
        g.finish();
    }
    rt.block_on(store.shutdown());
    Ok((fresh, reused))
}

// ---------------------------------------------------------------------------------------------
// 4: scans
// ---------------------------------------------------------------------------------------------

fn bench_scan(rt: &Runtime, cfg: &Config) -> Result<Row> {
    let (tdir, rdir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let store = open_store(rt, tdir.path())?;
    let raw = open_raw(rdir.path())?;
    let rows: Vec<_> = (0..cfg.scan_keys)
        .map(|i| (key1(400, i), value(1024, i)))
        .collect();
    let expect_bytes: usize = rows.iter().map(|(k, v)| k.len() + v.len()).sum();
    rt.block_on(load_tandem(&store, &rows, 500))?;
    load_raw(&raw, &rows, 500)?;
    drop(rows);
    let span = table_span(400);

    let tandem_scan = || -> Result<f64> {
        rt.block_on(async {
            let start = Instant::now();
            let mut t = store.begin();
            let out = t.scan(&span, usize::MAX).await?;
            let bytes: usize = out.iter().map(|(k, v)| k.len() + v.len()).sum();
            let secs = start.elapsed().as_secs_f64();
            anyhow::ensure!(
                out.len() == cfg.scan_keys as usize && bytes == expect_bytes,
                "tandem scan returned {} rows / {bytes} B",
                out.len()
            );
            Ok(bytes as f64 / 1e6 / secs)
        })
    };
    let raw_scan = || -> Result<f64> {
        let start = Instant::now();
        let (mut n, mut bytes) = (0usize, 0usize);
        for item in raw.ks.range(span.start.as_bytes()..span.end.as_bytes()) {
            let (k, v) = item.into_inner()?;
            bytes += k.len() + v.len();
            n += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        anyhow::ensure!(
            n == cfg.scan_keys as usize && bytes == expect_bytes,
            "raw scan returned {n} rows / {bytes} B"
        );
        Ok(bytes as f64 / 1e6 / secs)
    };

    // One untimed pass each to warm the block caches.
    tandem_scan()?;
    raw_scan()?;
    let mut row = Row::new("scan (~20 MB, 1 KiB values)", "MB/s");
    for rep in 0..cfg.reps {
        row.tandem.push(tandem_scan()?);
        row.raw.push(raw_scan()?);
        eprintln!(
            "  scan rep {rep}: tandem {:.1} MB/s | raw {:.1} MB/s",
            row.tandem[rep], row.raw[rep]
        );
    }
    row.note = format!(
        "{:.1} MB per scan; tandem/raw = {:.2}",
        expect_bytes as f64 / 1e6,
        median(&row.tandem) / median(&row.raw)
    );
    rt.block_on(store.shutdown());
    Ok(row)
}

// ---------------------------------------------------------------------------------------------
// 5: rangefeed
// ---------------------------------------------------------------------------------------------

struct FeedRun {
    events_per_sec: f64,
    commit_keys_per_sec: f64,
    lag: Duration,
    duplicates: u64,
    missing: usize,
}

fn feed_once(rt: &Runtime, store: &Store, table: u32, cfg: &Config) -> Result<FeedRun> {
    let n = cfg.feed_keys;
    let span = table_span(table);
    let val = value(100, 7);
    rt.block_on(async {
        let mut feed = store.rangefeed(span.clone(), store.now(), false);
        let consumer = tokio::spawn(async move {
            let mut seen = HashSet::new();
            let mut dups = 0u64;
            while seen.len() < n as usize {
                match tokio::time::timeout(Duration::from_secs(30), feed.next()).await {
                    Ok(Some(RangefeedEvent::Value { key, .. })) => {
                        if !seen.insert(key) {
                            dups += 1;
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            (Instant::now(), seen.len(), dups)
        });
        let start = Instant::now();
        let mut i = 0;
        while i < n {
            let mut t = store.begin();
            for j in i..(i + cfg.feed_txn_keys).min(n) {
                t.put(&key1(table, j), &val)?;
            }
            t.commit().await?;
            i += cfg.feed_txn_keys;
        }
        let committed = Instant::now();
        let (done, seen, dups) = consumer.await?;
        Ok(FeedRun {
            events_per_sec: seen as f64 / (done - start).as_secs_f64(),
            commit_keys_per_sec: n as f64 / (committed - start).as_secs_f64(),
            lag: done.saturating_duration_since(committed),
            duplicates: dups,
            missing: n as usize - seen,
        })
    })
}

fn bench_rangefeed(rt: &Runtime, cfg: &Config) -> Result<Row> {
    let tdir = tempfile::tempdir()?;
    let store = open_store(rt, tdir.path())?;
    let mut row = Row::new("rangefeed (10k keys, 100/txn)", "events/s");
    let (mut commit_rates, mut lags, mut dups, mut missing) = (Vec::new(), Vec::new(), 0, 0);
    for rep in 0..cfg.reps {
        let r = feed_once(rt, &store, 500 + rep as u32, cfg)?;
        eprintln!(
            "  rangefeed rep {rep}: {:.0} events/s (writes committed at {:.0} keys/s, last event {:.1} ms after last commit, {} dup, {} missing)",
            r.events_per_sec,
            r.commit_keys_per_sec,
            r.lag.as_secs_f64() * 1e3,
            r.duplicates,
            r.missing
        );
        row.tandem.push(r.events_per_sec);
        commit_rates.push(r.commit_keys_per_sec);
        lags.push(r.lag.as_secs_f64() * 1e3);
        dups += r.duplicates;
        missing += r.missing;
    }
    row.note = format!(
        "no raw equivalent; the writes committed at {:.0} keys/s and the last event came {:.1} ms after the last commit (medians)",
        median(&commit_rates),
        median(&lags)
    );
    if dups > 0 || missing > 0 {
        row.note.push_str(&format!(
            "; {dups} duplicate events (at-least-once), {missing} never arrived (30 s timeout)"
        ));
    }
    rt.block_on(store.shutdown());
    Ok(row)
}

// ---------------------------------------------------------------------------------------------
// 6: ingest
// ---------------------------------------------------------------------------------------------

fn bench_ingest(rt: &Runtime, cfg: &Config) -> Result<Row> {
    let mut row = Row::new("ingest (2 MB batches, 1 KiB values)", "MB/s");
    let mut total_mb = 0.0;
    for rep in 0..cfg.reps {
        // Fresh stores each repetition, so later ones do not pay for earlier ones' compactions
        // (or a range split: the default split size is 64 MB).
        let (tdir, rdir) = (tempfile::tempdir()?, tempfile::tempdir()?);
        let store = open_store(rt, tdir.path())?;
        let raw = open_raw(rdir.path())?;
        let table = 600;
        let batches: Vec<Vec<(Vec<u8>, Vec<u8>)>> = (0..cfg.ingest_batches as i64)
            .map(|b| {
                (0..cfg.ingest_batch_keys)
                    .map(|i| b * cfg.ingest_batch_keys + i)
                    .map(|i| (key1(table, i), value(1024, i)))
                    .collect()
            })
            .collect();
        let bytes: usize = batches
            .iter()
            .flatten()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        total_mb = bytes as f64 / 1e6;

        let ts = store.now();
        let versions: Vec<Vec<Version>> = batches
            .iter()
            .map(|b| {
                b.iter()
                    .map(|(k, v)| Version {
                        key: k.clone(),
                        ts,
                        value: Some(v.clone()),
                    })
                    .collect()
            })
            .collect();
        let secs = rt.block_on(async {
            let start = Instant::now();
            for batch in versions {
                store.ingest(batch).await?;
            }
            Ok::<_, KvError>(start.elapsed().as_secs_f64())
        })?;
        row.tandem.push(total_mb / secs);

        let start = Instant::now();
        for batch in &batches {
            let mut b = raw.db.batch();
            for (k, v) in batch {
                b.insert(&raw.ks, k.as_slice(), v.as_slice());
            }
            b.commit()?;
            raw.db.persist(fjall::PersistMode::SyncData)?;
        }
        row.raw.push(total_mb / start.elapsed().as_secs_f64());
        eprintln!(
            "  ingest rep {rep}: tandem {:.1} MB/s | raw {:.1} MB/s",
            row.tandem[rep], row.raw[rep]
        );

        // Spot-check that the ingested data is readable at a later timestamp.
        let last = key1(table, cfg.ingest_batches as i64 * cfg.ingest_batch_keys - 1);
        let got = rt.block_on(async { store.begin().get(&last).await })?;
        anyhow::ensure!(got.is_some(), "ingested key not readable");
        rt.block_on(store.shutdown());
    }
    row.note = format!(
        "{total_mb:.1} MB per run; tandem {:.0} MB/s (aim >= 100), tandem/raw = {:.2}",
        median(&row.tandem),
        median(&row.tandem) / median(&row.raw)
    );
    Ok(row)
}

// ---------------------------------------------------------------------------------------------

fn print_summary(rows: &[Row], cfg: &Config, elapsed: Duration) {
    println!();
    println!(
        "=== tandem KV vs raw fjall: median of {} repetitions (min–max) ===",
        cfg.reps
    );
    println!(
        "{:<36} {:>10} {:>10} {:>19} {:>10} {:>19} {:>7}",
        "operation", "unit", "tandem", "(spread)", "raw fjall", "(spread)", "t/raw"
    );
    for r in rows {
        let (t, x) = (median(&r.tandem), median(&r.raw));
        let ratio = if r.raw.is_empty() {
            "-".to_string()
        } else {
            format!("{:.2}", t / x)
        };
        let raw = if r.raw.is_empty() {
            "-".to_string()
        } else {
            fmt_num(x)
        };
        println!(
            "{:<36} {:>10} {:>10} {:>19} {:>10} {:>19} {:>7}",
            r.op,
            r.unit,
            fmt_num(t),
            spread(&r.tandem),
            raw,
            spread(&r.raw),
            ratio
        );
    }
    println!();
    for r in rows {
        if !r.note.is_empty() {
            println!("  {}: {}", r.op, r.note);
        }
    }
    println!("  (total bench time {:.0} s)", elapsed.as_secs_f64());
}

fn main() -> Result<()> {
    let started = Instant::now();
    let cfg = if std::env::args().any(|a| a == "--bench") {
        Config::full()
    } else {
        Config::smoke()
    };
    let rt = runtime();
    let mut rows = Vec::new();

    eprintln!("[1-2] commit rates");
    let (one, many) = bench_commits(&rt, &cfg)?;
    rows.push(one);
    rows.push(many);
    eprintln!("[3] point reads");
    let (fresh, reused) = bench_gets(&rt, &cfg)?;
    rows.push(fresh);
    rows.push(reused);
    eprintln!("[4] scans");
    rows.push(bench_scan(&rt, &cfg)?);
    eprintln!("[5] rangefeed");
    rows.push(bench_rangefeed(&rt, &cfg)?);
    eprintln!("[6] ingest");
    rows.push(bench_ingest(&rt, &cfg)?);

    print_summary(&rows, &cfg, started.elapsed());
    Ok(())
}
