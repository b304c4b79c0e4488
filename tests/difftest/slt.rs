//! Runs SQLite sqllogictest files (the public-domain corpus, vendored under tests/sqlite/) on
//! tandem, as engine "postgresql"/"cockroachdb" for `skipif`/`onlyif`. Each file gets a fresh
//! database on tandem and on PostgreSQL; statements run on both.
//!
//! A query whose result differs from SQLite's expected one is run on PostgreSQL made to follow
//! CockroachDB's rule for `/` on integers (DECIMAL division: public `/` operators for the
//! integer types, first on the session's search_path). If that gives tandem's result, the
//! difference is one of dialect ([`Class::Dialect`], e.g. `7/2*2` is 6 in SQLite, 7 in
//! CockroachDB); otherwise it is a [`Class::Mismatch`]. A query tandem rejects counts as
//! unsupported when plain PostgreSQL answers it and as "both error" when it does not.
//! Findings are keyed `slt:<path>:<line>`.

use std::path::Path;
use std::time::Duration;

use tokio_postgres::Client;

use super::conn::{Outcome, run};
use super::env::{Env, Loss};
use super::report::{Class, Finding, Known, Stats};
use super::slt_parse::{QueryRecord, RecordKind, matches_expected, parse, result_values};

/// PostgreSQL objects that give `/` on integers CockroachDB's meaning, a DECIMAL quotient of 20
/// significant digits (as [`super::env::CRDB_DIV`]; PostgreSQL's own NUMERIC division keeps 16,
/// and `75 / 68 * -68 + 68` then truncates to -6 where CockroachDB's -7.0000000000000000004 gives
/// -7). Created in template1, so every database has them; used only where `public` precedes
/// `pg_catalog` on the path.
const CRDB_DIVISION: &str = "
DO $$
DECLARE l text; r text;
BEGIN
  FOREACH l IN ARRAY ARRAY['int2','int4','int8'] LOOP
    FOREACH r IN ARRAY ARRAY['int2','int4','int8'] LOOP
      EXECUTE format('CREATE OR REPLACE FUNCTION public.crdb_div(%s, %s) RETURNS numeric
        LANGUAGE sql IMMUTABLE STRICT AS ''SELECT CASE WHEN q = 0 THEN 0::numeric
          ELSE round(q, 19 - floor(log(abs(q)))::int) END
          FROM (SELECT round($1::numeric, 80) / $2::numeric AS q) s''', l, r);
      IF NOT EXISTS (SELECT 1 FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
                     WHERE n.nspname = 'public' AND o.oprname = '/'
                       AND o.oprleft = l::regtype AND o.oprright = r::regtype) THEN
        EXECUTE format('CREATE OPERATOR public./ (LEFTARG = %s, RIGHTARG = %s,
          FUNCTION = public.crdb_div)', l, r);
      END IF;
    END LOOP;
  END LOOP;
END $$";

/// Prepares PostgreSQL for [`run_file`] (once per server).
pub async fn prepare_pg(env: &Env) {
    let c = env.postgres("template1").await;
    let o = run(&c, CRDB_DIVISION, Duration::from_secs(60)).await;
    assert!(
        o.is_ok(),
        "creating the DECIMAL division operators: {}",
        o.brief()
    );
}

#[derive(Clone, Debug)]
pub struct Config {
    pub timeout: Duration,
    pub print_max: usize,
}

struct Conns {
    db: String,
    t: Client,
    /// Plain PostgreSQL.
    p: std::sync::Arc<Client>,
    /// PostgreSQL with CockroachDB's integer division.
    pc: Client,
}

/// The directory of a corpus path, as its group in the summary.
pub fn group_of(rel: &str) -> String {
    match rel.rsplit_once('/') {
        Some((dir, _)) => dir.to_string(),
        None => "select".to_string(),
    }
}

fn finding(
    key: &str,
    class: Class,
    sql: &str,
    tandem: String,
    expected: String,
    detail: String,
) -> Finding {
    Finding {
        key: key.to_string(),
        class: class.name(),
        tandem_sql: sql.to_string(),
        pg_sql: String::new(),
        tandem,
        pg: expected,
        detail,
    }
}

fn brief_values(v: &[String]) -> String {
    let mut s = v.iter().take(12).cloned().collect::<Vec<_>>().join(" ");
    if v.len() > 12 {
        s.push_str(&format!(" ... ({} values)", v.len()));
    }
    if v.is_empty() {
        "(no values)".into()
    } else {
        s
    }
}

async fn run_tandem(env: &Env, c: &mut Conns, sql: &str, cfg: &Config) -> (Outcome, Option<Loss>) {
    env.run_tandem(&mut c.t, &c.db, sql, cfg.timeout).await
}

/// Records a lost connection or timeout on tandem; true if it was one.
#[allow(clippy::too_many_arguments)]
async fn broken(
    env: &Env,
    c: &mut Conns,
    o: &Outcome,
    loss: Option<Loss>,
    key: &str,
    sql: &str,
    stats: &Stats,
    known: &Known,
    cfg: &Config,
) -> bool {
    let class = match o {
        Outcome::Lost(_) => Class::Crash,
        Outcome::Timeout => Class::Timeout,
        _ => return false,
    };
    let detail = match loss {
        Some(Loss::Died(tail)) => format!("node died:\n{tail}"),
        Some(_) => "connection closed, node still running".into(),
        None if class == Class::Crash => "connection lost".into(),
        None => {
            let _ = c.t.cancel_token().cancel_query(tokio_postgres::NoTls).await;
            if let Ok(t) = env.tandem(&c.db).await {
                c.t = t;
            }
            String::new()
        }
    };
    stats.finding(
        class,
        finding(key, class, sql, o.brief(), String::new(), detail),
        known,
        cfg.print_max,
    );
    true
}

async fn query(
    env: &Env,
    c: &mut Conns,
    q: &QueryRecord,
    key: &str,
    stats: &Stats,
    known: &Known,
    cfg: &Config,
) -> Class {
    let (o, loss) = run_tandem(env, c, &q.sql, cfg).await;
    if broken(env, c, &o, loss, key, &q.sql, stats, known, cfg).await {
        return if matches!(o, Outcome::Timeout) {
            Class::Timeout
        } else {
            Class::Crash
        };
    }
    let rows = match o {
        Outcome::Rows(r) => r,
        Outcome::Done(_) => Vec::new(),
        Outcome::Error { code, message } => {
            let po = run(&c.p, &q.sql, cfg.timeout).await;
            if po.is_ok() {
                stats.unsupported(&code, &message, &q.sql);
                return Class::Unsupported;
            }
            return Class::BothError;
        }
        Outcome::Lost(_) | Outcome::Timeout => unreachable!("handled above"),
    };
    let values = result_values(q, &rows);
    if matches_expected(q, &values) {
        return Class::Match;
    }
    let (class, detail) = match run(&c.pc, &q.sql, cfg.timeout).await {
        Outcome::Rows(pr) => {
            let pv = result_values(q, &pr);
            if pv == values {
                (Class::Dialect, String::new())
            } else if matches_expected(q, &pv) {
                (
                    Class::Mismatch,
                    "PostgreSQL (with CockroachDB's integer division) gives the expected result"
                        .into(),
                )
            } else {
                (
                    Class::Mismatch,
                    format!(
                        "PostgreSQL (with CockroachDB's integer division) gives {}",
                        brief_values(&pv)
                    ),
                )
            }
        }
        // No reference to check tandem's answer against (PostgreSQL's INT4 literals overflow
        // where CockroachDB's INT8 do not, or it folds a constant division by zero in a branch
        // never taken): unverified, not a mismatch.
        other => (Class::PgErrorOnly, format!("PostgreSQL: {}", other.brief())),
    };
    stats.finding(
        class,
        finding(
            key,
            class,
            &q.sql,
            brief_values(&values),
            q.expected.join(" "),
            detail,
        ),
        known,
        if class == Class::Mismatch {
            cfg.print_max
        } else {
            0
        },
    );
    class
}

/// Runs one corpus file (`rel` is its path in the corpus, for keys and groups).
pub async fn run_file(
    env: &Env,
    path: &Path,
    rel: &str,
    n: usize,
    stats: &Stats,
    known: &Known,
    cfg: &Config,
) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let group = group_of(rel);
    let db = format!("slt_{n}");
    env.create_db(&db).await;
    let Ok(t) = env.tandem(&db).await else {
        panic!("cannot connect to tandem database {db}");
    };
    let p = env.postgres(&db).await;
    let pc = env
        .pg
        .connect_with(&db, "options='-c search_path=public,pg_catalog'")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut c = Conns {
        db,
        t,
        p: std::sync::Arc::new(p),
        pc,
    };
    for rec in parse(&text) {
        let key = format!("slt:{rel}:{}", rec.line);
        match rec.kind {
            RecordKind::Skipped => stats.count(Class::Skipped, Some(&group)),
            RecordKind::Halt => break,
            RecordKind::Statement { sql, expect_ok } => {
                let p_client = c.p.clone();
                let p_run = run(&p_client, &sql, cfg.timeout);
                let ((o, loss), _) = tokio::join!(run_tandem(env, &mut c, &sql, cfg), p_run);
                if broken(env, &mut c, &o, loss, &key, &sql, stats, known, cfg).await {
                    continue;
                }
                if o.is_ok() != expect_ok {
                    if let Outcome::Error { code, message } = &o {
                        stats.unsupported(code, message, &sql);
                    }
                    stats.count(Class::StatementFailed, Some(&group));
                }
            }
            RecordKind::Query(q) => {
                let class = query(env, &mut c, &q, &key, stats, known, cfg).await;
                stats.count(class, Some(&group));
            }
        }
    }
    let Conns { db, t, p, pc } = c;
    drop((t, p, pc));
    env.drop_db(&db).await;
}
