//! Differential tests: the same statements on tandem and on PostgreSQL 15, results compared
//! (see tests/difftest/compare.rs for how), for the part of SQL where CockroachDB and
//! PostgreSQL agree; where they differ the generated PostgreSQL text follows CockroachDB's rule
//! (NULLs first ascending, INT is INT8, `/` on integers is DECIMAL).
//!
//! - `random_queries`: a seeded random query generator (tests/difftest/query.rs); a slice of
//!   `DIFFTEST_QUERIES` (default 1500) queries with seed `DIFFTEST_SEED` (default 1).
//! - `sqlite_corpus`: the vendored SQLite sqllogictest files (tests/sqlite/); the CI slice runs
//!   the files listed in `CI_SLT_FILES`.
//! - `long_run` (ignored; see bench/difftest/run.sh): both, for `DIFFTEST_SECONDS` of random
//!   queries and then every corpus file under `DIFFTEST_SLT_DIR`, printing the figures.
//! - `replay` (ignored): `DIFFTEST_REPLAY=<seed>/<round>/<query>` prints one random case.
//!
//! The slices fail on any crash and on any mismatch, type mismatch or timeout whose key is not
//! in tests/difftest/known_mismatches.txt. Without PostgreSQL 15 they print why and pass.

mod common;

#[allow(dead_code)]
mod difftest {
    #[macro_use]
    pub mod schema;
    pub mod compare;
    pub mod conn;
    pub mod env;
    pub mod expr;
    pub mod funcs;
    pub mod md5;
    pub mod pg;
    pub mod query;
    pub mod random;
    pub mod report;
    pub mod rng;
    pub mod slt;
    pub mod slt_parse;
}

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicUsize, Ordering};

use difftest::env::Env;
use difftest::report::{Known, Stats};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn known_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/difftest/known_mismatches.txt")
}

fn known() -> Arc<Known> {
    Arc::new(Known::load(&known_path()))
}

fn out_file(name: &str) -> Option<PathBuf> {
    std::env::var_os("DIFFTEST_OUT").map(|d| {
        let d = PathBuf::from(d);
        let _ = std::fs::create_dir_all(&d);
        d.join(name)
    })
}

async fn start_env() -> Option<Arc<Env>> {
    match Env::start().await {
        Ok(e) => Some(Arc::new(e)),
        Err(reason) => {
            eprintln!("SKIPPED: differential test needs PostgreSQL 15: {reason}");
            None
        }
    }
}

/// Fails with every crash and every unlisted failing finding. With `DIFFTEST_WRITE_KNOWN=1`
/// the list's entries under `prefix` are first replaced by this run's findings instead.
fn assert_clean(stats: &Stats, known: &Known, prefix: &str) {
    if std::env::var("DIFFTEST_WRITE_KNOWN").is_ok_and(|v| v == "1") {
        Known::rewrite(&known_path(), prefix, &stats.listed());
        eprintln!("rewrote the {prefix} entries of {}", known_path().display());
        let crashes = stats.crashes();
        assert!(
            crashes.is_empty(),
            "{} crashes:\n{}",
            crashes.len(),
            crashes.join("\n")
        );
        return;
    }
    let fixed = known.unseen(prefix, &stats.seen_known());
    if !fixed.is_empty() {
        eprintln!(
            "listed as known but not seen this run (fixed? remove them from known_mismatches.txt):\n  {}",
            fixed.join("\n  ")
        );
    }
    let crashes = stats.crashes();
    let new = stats.new_failures();
    assert!(
        crashes.is_empty() && new.is_empty(),
        "{} crashes, {} new mismatches (not in tests/difftest/known_mismatches.txt):\n{}\n{}",
        crashes.len(),
        new.len(),
        crashes.join("\n"),
        new.join("\n")
    );
}

async fn random_slice(env: Arc<Env>, cfg: difftest::random::Config, stats: Arc<Stats>) -> Duration {
    let start = Instant::now();
    difftest::random::run(env, cfg, known(), stats).await;
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_queries() {
    let Some(env) = start_env().await else { return };
    let seed = env_u64("DIFFTEST_SEED", 1);
    let cfg = difftest::random::Config {
        seed,
        max_queries: env_u64("DIFFTEST_QUERIES", 1500),
        deadline: None,
        queries_per_round: 250,
        workers: 2,
        timeout: Duration::from_secs(30),
        print_max: 20,
    };
    let stats = Arc::new(Stats::new(out_file("random-ci.jsonl")));
    let elapsed = random_slice(env, cfg, stats.clone()).await;
    eprintln!(
        "{}",
        stats.summary(&format!("random queries, seed {seed}"), elapsed, 20)
    );
    assert_clean(&stats, &known(), &format!("rand:{seed}/"));
}

/// The corpus files of the CI slice (paths under tests/sqlite/).
const CI_SLT_FILES: &[&str] = &[
    "select1.test",
    "select2.test",
    "evidence/in1.test",
    "evidence/in2.test",
    "evidence/slt_lang_aggfunc.test",
    "random/expr/slt_good_0.test",
    "index/commute/10/slt_good_0.test",
];

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sqlite")
}

/// Every `.test` file under `dir`, as paths relative to it, sorted.
fn corpus_files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "test")
                && let Ok(rel) = p.strip_prefix(root)
            {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Runs corpus files (relative to `root`) with two workers.
async fn run_corpus(
    env: Arc<Env>,
    root: PathBuf,
    files: Vec<String>,
    stats: Arc<Stats>,
    print_max: usize,
) -> Duration {
    let start = Instant::now();
    difftest::slt::prepare_pg(&env).await;
    let next = Arc::new(AtomicUsize::new(0));
    let files = Arc::new(files);
    let cfg = difftest::slt::Config {
        timeout: Duration::from_secs(env_u64("DIFFTEST_TIMEOUT", 30)),
        print_max,
    };
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (env, root, files, stats, next, cfg) = (
            env.clone(),
            root.clone(),
            files.clone(),
            stats.clone(),
            next.clone(),
            cfg.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let known = known();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(rel) = files.get(i) else { break };
                let t0 = Instant::now();
                difftest::slt::run_file(&env, &root.join(rel), rel, i, &stats, &known, &cfg).await;
                eprintln!(
                    "[{}/{}] {rel} ({:.1} s)",
                    i + 1,
                    files.len(),
                    t0.elapsed().as_secs_f64()
                );
            }
        }));
    }
    for t in tasks {
        if let Err(e) = t.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_corpus() {
    let Some(env) = start_env().await else { return };
    let files: Vec<String> = match std::env::var("DIFFTEST_SLT_FILES") {
        Ok(list) => list.split(',').map(str::to_string).collect(),
        Err(_) => CI_SLT_FILES.iter().map(|s| s.to_string()).collect(),
    };
    let stats = Arc::new(Stats::new(out_file("sqlite-ci.jsonl")));
    let elapsed = run_corpus(env, corpus_root(), files, stats.clone(), 20).await;
    eprintln!(
        "{}",
        stats.summary("SQLite sqllogictest corpus (CI slice)", elapsed, 20)
    );
    assert_clean(&stats, &known(), "slt:");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long run: bench/difftest/run.sh"]
async fn long_run() {
    let Some(env) = start_env().await else { return };
    let seed = env_u64("DIFFTEST_SEED", 1);
    let secs = env_u64("DIFFTEST_SECONDS", 600);
    let cfg = difftest::random::Config {
        seed,
        max_queries: env_u64("DIFFTEST_QUERIES", u64::MAX),
        deadline: Some(Instant::now() + Duration::from_secs(secs)),
        queries_per_round: 500,
        workers: env_u64("DIFFTEST_WORKERS", 2) as usize,
        timeout: Duration::from_secs(env_u64("DIFFTEST_TIMEOUT", 30)),
        print_max: 0,
    };
    if secs > 0 {
        let stats = Arc::new(Stats::new(out_file("random.jsonl")));
        let elapsed = random_slice(env.clone(), cfg, stats.clone()).await;
        println!(
            "{}",
            stats.summary(&format!("random queries, seed {seed}"), elapsed, 20)
        );
    }
    if std::env::var("DIFFTEST_SLT").is_ok_and(|v| v == "0") {
        return;
    }
    let root = std::env::var_os("DIFFTEST_SLT_DIR").map_or_else(corpus_root, PathBuf::from);
    let mut files = corpus_files(&root);
    if let Ok(filter) = std::env::var("DIFFTEST_SLT_FILTER") {
        files.retain(|f| f.contains(&filter));
    }
    let stats = Arc::new(Stats::new(out_file("sqlite.jsonl")));
    let elapsed = run_corpus(env, root.clone(), files, stats.clone(), 0).await;
    println!(
        "{}",
        stats.summary(
            &format!("SQLite sqllogictest corpus under {}", root.display()),
            elapsed,
            20
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints one random case: DIFFTEST_REPLAY=<seed>/<round>/<query>"]
async fn replay() {
    let Some(env) = start_env().await else { return };
    let spec = std::env::var("DIFFTEST_REPLAY").expect("DIFFTEST_REPLAY=<seed>/<round>/<query>");
    difftest::random::replay(&env, &spec).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs DIFFTEST_SQL (statements separated by lines ending in ';') on both and prints the results"]
async fn sql() {
    let Some(env) = start_env().await else { return };
    let text = std::env::var("DIFFTEST_SQL").expect("DIFFTEST_SQL");
    let text = std::fs::read_to_string(&text).unwrap_or(text);
    env.create_db("difftest_sql").await;
    let t = env.tandem("difftest_sql").await.expect("connect");
    let p = env.postgres("difftest_sql").await;
    let mut stmt = String::new();
    for line in text.lines() {
        stmt.push_str(line);
        stmt.push('\n');
        if !line.trim_end().ends_with(';') {
            continue;
        }
        let s = std::mem::take(&mut stmt);
        let (a, b) = difftest::env::both(&t, &p, &s, &s, Duration::from_secs(30)).await;
        println!(
            "{}\n  tandem ->   {}\n  postgres -> {}",
            s.trim(),
            difftest::conn::show(&a, 30),
            difftest::conn::show(&b, 30)
        );
    }
}
