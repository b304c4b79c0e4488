//! The random differential run: rounds of (random schema, then random queries), each query run
//! on tandem and PostgreSQL and classified (see [`Class`]). Everything derives from one seed:
//! round `r`'s schema from `mix(seed, r)` and its query `q` from `mix(mix(seed, r), q)`, so a
//! finding's key `rand:<seed>/<r>/<q>` replays exactly (`DIFFTEST_REPLAY=<seed>/<r>/<q>`).
//! Workers run rounds `w, w + workers, ...` in their own database on each system.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::compare::{Kind, kind_of, normalize_oid, rows_eq};
use super::conn::{Outcome, describe, show};
use super::env::{Env, Loss, both};
use super::expr::Gen;
use super::query::Query;
use super::report::{Class, Finding, Known, Stats};
use super::rng::{Rng, mix};
use super::schema::Schema;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    /// Stop after this many queries (split evenly between the workers, so that which queries
    /// run does not depend on timing) ...
    pub max_queries: u64,
    /// ... or at this time.
    pub deadline: Option<Instant>,
    pub queries_per_round: u64,
    pub workers: usize,
    pub timeout: Duration,
    /// How many failing findings to print as they happen.
    pub print_max: usize,
}

/// The key of query `q` of round `r`.
pub fn key(seed: u64, r: u64, q: u64) -> String {
    format!("rand:{seed}/{r}/{q}")
}

pub fn schema_for(seed: u64, round: u64) -> Schema {
    Schema::generate(&mut Rng::new(mix(seed, round)))
}

/// The data changes that follow round `round`'s setup.
pub fn dml_for(seed: u64, round: u64, schema: &Schema) -> Vec<super::schema::Dual> {
    let mut g = Gen::new(mix(mix(seed, round), 0xD41), schema);
    let n = g.rng.range(0, 5);
    (0..n).map(|_| g.dml()).collect()
}

pub fn query_for(seed: u64, round: u64, q: u64, schema: &Schema) -> Query {
    Gen::new(mix(mix(seed, round), q + 1), schema).query()
}

/// One worker's connections.
struct Conns {
    db: String,
    t: Client,
    p: Client,
}

impl Conns {
    async fn reconnect_tandem(&mut self, env: &Env) -> bool {
        match env.tandem(&self.db).await {
            Ok(c) => {
                self.t = c;
                true
            }
            Err(e) => {
                eprintln!("cannot reconnect to tandem: {e}");
                false
            }
        }
    }
}

/// Creates the round's tables on both, then applies its data changes (when `dml`); false if
/// tandem could not (recorded as unsupported) or the two diverged (recorded as a mismatch).
#[allow(clippy::too_many_arguments)]
async fn setup(
    env: &Env,
    c: &mut Conns,
    seed: u64,
    round: u64,
    schema: &Schema,
    dml: bool,
    stats: &Stats,
    known: &Known,
    cfg: &Config,
) -> bool {
    for stmt in schema.setup() {
        let (to, po) = both(&c.t, &c.p, &stmt.t, &stmt.p, cfg.timeout).await;
        if !po.is_ok() {
            panic!(
                "generator bug: PostgreSQL rejects setup statement {}: {}",
                stmt.p,
                po.brief()
            );
        }
        match to {
            Outcome::Error { code, message } => {
                stats.unsupported(&code, &message, &stmt.t);
                return false;
            }
            Outcome::Lost(_) | Outcome::Timeout => {
                let _ = env.after_loss(env.generation()).await;
                c.reconnect_tandem(env).await;
                return false;
            }
            _ => {}
        }
    }
    if !dml {
        return true;
    }
    for (i, stmt) in dml_for(seed, round, schema).iter().enumerate() {
        let (to, po) = both(&c.t, &c.p, &stmt.t, &stmt.p, cfg.timeout).await;
        let agree = match (&to, &po) {
            (Outcome::Done(a), Outcome::Done(b)) => a == b,
            (Outcome::Error { .. }, Outcome::Error { .. }) => true,
            _ => false,
        };
        stats.count(
            if agree {
                Class::Match
            } else if to.is_ok() || !po.is_ok() {
                Class::Mismatch
            } else {
                Class::Unsupported
            },
            None,
        );
        if agree {
            continue;
        }
        let k = format!("rand:{seed}/{round}/dml{i}");
        if let Outcome::Error { code, message } = &to {
            stats.unsupported(code, message, &stmt.t);
        } else {
            let f = Finding {
                key: k,
                class: Class::Mismatch.name(),
                tandem_sql: stmt.t.clone(),
                pg_sql: stmt.p.clone(),
                tandem: show(&to, 4),
                pg: show(&po, 4),
                detail: "data change".into(),
            };
            stats.finding(Class::Mismatch, f, known, cfg.print_max);
        }
        if matches!(to, Outcome::Lost(_) | Outcome::Timeout) {
            let _ = env.after_loss(env.generation()).await;
            c.reconnect_tandem(env).await;
        }
        // The data may differ now: start the round again without data changes.
        return Box::pin(setup(env, c, seed, round, schema, false, stats, known, cfg)).await;
    }
    true
}

/// Runs one query on both and classifies it.
async fn compare_one(
    env: &Env,
    c: &mut Conns,
    key: &str,
    q: &Query,
    stats: &Stats,
    known: &Known,
    cfg: &Config,
) -> Class {
    let (to_loss, po) = tokio::join!(
        env.run_tandem(&mut c.t, &c.db, &q.sql.t, cfg.timeout),
        super::conn::run(&c.p, &q.sql.p, cfg.timeout)
    );
    let (to, loss) = to_loss;
    let finding = |class: Class, detail: String, to: &Outcome, po: &Outcome| Finding {
        key: key.to_string(),
        class: class.name(),
        tandem_sql: q.sql.t.clone(),
        pg_sql: q.sql.p.clone(),
        tandem: show(to, 8),
        pg: show(po, 8),
        detail,
    };
    let class = match (&to, &po) {
        (Outcome::Lost(m), _) => {
            let detail = match loss {
                Some(Loss::Died(tail)) => format!("node died: {m}\n{tail}"),
                _ => format!("connection closed, node still running: {m}"),
            };
            stats.finding(
                Class::Crash,
                finding(Class::Crash, detail, &to, &po),
                known,
                cfg.print_max,
            );
            Class::Crash
        }
        (Outcome::Timeout, _) => {
            let cancel = c.t.cancel_token();
            let _ = cancel.cancel_query(tokio_postgres::NoTls).await;
            c.reconnect_tandem(env).await;
            stats.finding(
                Class::Timeout,
                finding(Class::Timeout, String::new(), &to, &po),
                known,
                cfg.print_max,
            );
            Class::Timeout
        }
        (_, Outcome::Timeout | Outcome::Lost(_)) => {
            // The reference failed (a PostgreSQL starved of CPU by other work): cancel it, start
            // a new session, and count the statement as unverified.
            let cancel = c.p.cancel_token();
            let _ = cancel.cancel_query(tokio_postgres::NoTls).await;
            c.p = env.postgres(&c.db).await;
            eprintln!("PostgreSQL failed on {}: {}", q.sql.p, po.brief());
            stats.finding(
                Class::ReferenceFailed,
                finding(Class::ReferenceFailed, String::new(), &to, &po),
                known,
                cfg.print_max,
            );
            Class::ReferenceFailed
        }
        (Outcome::Error { .. }, Outcome::Error { .. }) => Class::BothError,
        (Outcome::Error { code, message }, _) => {
            stats.unsupported(code, message, &q.sql.t);
            let detail = format!("{code}: {message}");
            stats.finding(
                Class::Unsupported,
                finding(Class::Unsupported, detail, &to, &po),
                known,
                0,
            );
            Class::Unsupported
        }
        (_, Outcome::Error { .. }) => {
            stats.finding(
                Class::PgErrorOnly,
                finding(Class::PgErrorOnly, String::new(), &to, &po),
                known,
                0,
            );
            Class::PgErrorOnly
        }
        (Outcome::Rows(tr), Outcome::Rows(pr)) => compare_rows(c, key, q, tr, pr, cfg)
            .await
            .map_or(Class::Match, |(class, detail)| {
                stats.finding(
                    class,
                    finding(class, detail, &to, &po),
                    known,
                    cfg.print_max,
                );
                class
            }),
        _ => {
            stats.finding(
                Class::Mismatch,
                finding(Class::Mismatch, "not a row result".into(), &to, &po),
                known,
                cfg.print_max,
            );
            Class::Mismatch
        }
    };
    stats.count(class, None);
    class
}

/// Compares rows, then (if equal) the result column types; `None` when both agree.
async fn compare_rows(
    c: &Conns,
    key: &str,
    q: &Query,
    tr: &[super::compare::Row],
    pr: &[super::compare::Row],
    cfg: &Config,
) -> Option<(Class, String)> {
    let p_types = match describe(&c.p, &q.sql.p, cfg.timeout).await {
        Ok(t) => t,
        Err(o) => panic!(
            "{key}: PostgreSQL cannot describe {}: {}",
            q.sql.p,
            o.brief()
        ),
    };
    let kinds: Vec<Kind> = p_types.iter().map(|o| kind_of(*o)).collect();
    if tr.first().is_some_and(|r| r.len() != p_types.len()) {
        return Some((Class::Mismatch, "different number of columns".into()));
    }
    if !rows_eq(&kinds, tr, pr, q.ordered) {
        let mut how = if q.ordered && rows_eq(&kinds, tr, pr, false) {
            "same rows in a different order".to_string()
        } else {
            "different rows".to_string()
        };
        // A known cause: tandem ordering NULLs as PostgreSQL does by default.
        if q.sql.p.contains(" NULLS ") {
            let pg_order = q
                .sql
                .p
                .replace(" NULLS FIRST", "")
                .replace(" NULLS LAST", "");
            if let Outcome::Rows(alt) = super::conn::run(&c.p, &pg_order, cfg.timeout).await
                && rows_eq(&kinds, tr, &alt, q.ordered)
            {
                how.push_str("; NULL order: tandem's result is PostgreSQL's with NULLs last ascending and first descending");
            }
        }
        return Some((Class::Mismatch, how));
    }
    match describe(&c.t, &q.sql.t, cfg.timeout).await {
        Err(o) => Some((
            Class::TypeMismatch,
            format!("tandem cannot describe it: {}", o.brief()),
        )),
        Ok(t_types) => {
            let tn: Vec<u32> = t_types.iter().map(|o| normalize_oid(*o)).collect();
            let pn: Vec<u32> = p_types.iter().map(|o| normalize_oid(*o)).collect();
            (tn != pn).then(|| {
                (
                    Class::TypeMismatch,
                    format!("column type OIDs: tandem {t_types:?}, PostgreSQL {p_types:?}"),
                )
            })
        }
    }
}

/// Runs the random differential test with `cfg`; returns the counters.
pub async fn run(env: Arc<Env>, cfg: Config, known: Arc<Known>, stats: Arc<Stats>) {
    let mut tasks = Vec::new();
    for w in 0..cfg.workers {
        let (env, cfg, known, stats) = (env.clone(), cfg.clone(), known.clone(), stats.clone());
        let quota = cfg.max_queries / cfg.workers as u64
            + u64::from((w as u64) < cfg.max_queries % cfg.workers as u64);
        let done = AtomicU64::new(0);
        tasks.push(tokio::spawn(async move {
            let db = format!("difftest_w{w}");
            env.create_db(&db).await;
            let t = env.tandem(&db).await.expect("connect to tandem");
            let p = env.postgres(&db).await;
            let mut c = Conns { db, t, p };
            let mut round = w as u64;
            'rounds: loop {
                let schema = schema_for(cfg.seed, round);
                if !setup(
                    &env, &mut c, cfg.seed, round, &schema, true, &stats, &known, &cfg,
                )
                .await
                {
                    round += cfg.workers as u64;
                    if cfg.deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    continue;
                }
                for qn in 0..cfg.queries_per_round {
                    if done.fetch_add(1, Ordering::SeqCst) >= quota
                        || cfg.deadline.is_some_and(|d| Instant::now() >= d)
                    {
                        break 'rounds;
                    }
                    let q = query_for(cfg.seed, round, qn, &schema);
                    let k = key(cfg.seed, round, qn);
                    if compare_one(&env, &mut c, &k, &q, &stats, &known, &cfg).await == Class::Crash
                    {
                        // The node may have lost the round's tables with its process.
                        if !setup(
                            &env, &mut c, cfg.seed, round, &schema, true, &stats, &known, &cfg,
                        )
                        .await
                        {
                            break;
                        }
                    }
                }
                round += cfg.workers as u64;
            }
        }));
    }
    for t in tasks {
        if let Err(e) = t.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// Replays one key `seed/round/query`: prints the round's setup, the query in both dialects
/// and both results.
pub async fn replay(env: &Env, spec: &str) {
    let parts: Vec<u64> = spec
        .trim_start_matches("rand:")
        .split('/')
        .map(|p| p.parse().expect("DIFFTEST_REPLAY=<seed>/<round>/<query>"))
        .collect();
    let [seed, round, qn] = parts[..] else {
        panic!("DIFFTEST_REPLAY=<seed>/<round>/<query>");
    };
    let schema = schema_for(seed, round);
    env.create_db("difftest_replay").await;
    let t = env.tandem("difftest_replay").await.expect("connect");
    let p = env.postgres("difftest_replay").await;
    let to = Duration::from_secs(30);
    let mut stmts = schema.setup();
    stmts.extend(dml_for(seed, round, &schema));
    for s in stmts {
        println!("{};", s.t);
        let (a, b) = both(&t, &p, &s.t, &s.p, to).await;
        if !a.is_ok() || !b.is_ok() {
            println!("-- tandem: {} / postgres: {}", a.brief(), b.brief());
        }
    }
    let q = query_for(seed, round, qn, &schema);
    println!("\n-- tandem:\n{};\n-- postgres:\n{};", q.sql.t, q.sql.p);
    let (a, b) = both(&t, &p, &q.sql.t, &q.sql.p, to).await;
    println!(
        "-- tandem ->   {}\n-- postgres -> {}",
        show(&a, 50),
        show(&b, 50)
    );
    println!("-- ordered compare: {}", q.ordered);
    let ta = super::conn::describe(&t, &q.sql.t, to).await;
    let tb = super::conn::describe(&p, &q.sql.p, to).await;
    println!("-- result type OIDs: tandem {ta:?} / postgres {tb:?}");
    if let (Outcome::Rows(ra), Outcome::Rows(rb), Ok(oids)) = (&a, &b, &tb) {
        let kinds: Vec<Kind> = oids.iter().map(|o| kind_of(*o)).collect();
        println!(
            "-- rows agree: {} (as multisets: {})",
            rows_eq(&kinds, ra, rb, q.ordered),
            rows_eq(&kinds, ra, rb, false)
        );
    }
}
