//! Outcome classes, counters and the printed summary of a differential run, plus the list of
//! known mismatches (`tests/difftest/known_mismatches.txt`): a run fails on any crash and on any
//! mismatch whose key is not in that list, so new wrong answers fail CI while known ones (being
//! fixed) do not; a listed key that now matches is reported as fixed, to be removed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How one statement's outcome on tandem compares with PostgreSQL's (or with the expected
/// result of a sqllogictest record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Match,
    /// Different rows: a wrong answer.
    Mismatch,
    /// Same rows, different result column types.
    TypeMismatch,
    /// tandem errors where PostgreSQL answers.
    Unsupported,
    BothError,
    /// tandem answers where PostgreSQL errors.
    PgErrorOnly,
    /// The connection was lost or the node died.
    Crash,
    /// No answer from tandem within the statement timeout.
    Timeout,
    /// No answer from PostgreSQL within the statement timeout (or its session was lost): the
    /// statement has no reference and counts as unverified (a long run goes on).
    ReferenceFailed,
    /// sqllogictest: tandem differs from SQLite's expected result but agrees with PostgreSQL
    /// made to follow CockroachDB's rules: a dialect difference, not a wrong answer.
    Dialect,
    /// sqllogictest: a statement record's outcome differs from the expected one.
    StatementFailed,
    /// The record was skipped (`skipif`/`onlyif`).
    Skipped,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Match => "match",
            Class::Mismatch => "mismatch",
            Class::TypeMismatch => "type mismatch",
            Class::Unsupported => "unsupported",
            Class::BothError => "both error",
            Class::PgErrorOnly => "pg-only error",
            Class::Crash => "crash",
            Class::Timeout => "timeout",
            Class::ReferenceFailed => "reference failed",
            Class::Dialect => "dialect difference",
            Class::StatementFailed => "statement failed",
            Class::Skipped => "skipped",
        }
    }

    /// Classes that fail a CI run unless their key is listed as known.
    pub fn needs_listing(self) -> bool {
        matches!(self, Class::Mismatch | Class::TypeMismatch | Class::Timeout)
    }
}

/// One non-matching outcome worth reporting.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Finding {
    pub key: String,
    pub class: &'static str,
    pub tandem_sql: String,
    pub pg_sql: String,
    pub tandem: String,
    pub pg: String,
    pub detail: String,
}

/// Counters and findings of a run (shared by its workers).
#[derive(Default)]
pub struct Stats {
    inner: Mutex<Inner>,
    out: Option<PathBuf>,
}

#[derive(Default)]
struct Inner {
    counts: BTreeMap<Class, u64>,
    /// Normalised tandem error message -> (count, one example statement).
    unsupported: HashMap<String, (u64, String)>,
    /// Findings of the listed classes that are not known.
    new_failures: Vec<String>,
    crashes: Vec<String>,
    /// Every finding of the listed classes: (key, class, statement).
    listed: Vec<(String, &'static str, String)>,
    seen_known: HashSet<String>,
    printed: usize,
    /// Per-group (e.g. corpus directory) counts.
    groups: BTreeMap<String, BTreeMap<Class, u64>>,
}

/// Replaces literals and numbers in an error message so that messages group by cause.
pub fn normalize_message(code: &str, msg: &str) -> String {
    use std::sync::OnceLock;
    static RES: OnceLock<[regex::Regex; 3]> = OnceLock::new();
    let res = RES.get_or_init(|| {
        [
            regex::Regex::new(r#""[^"]*""#).expect("regex"),
            regex::Regex::new(r"'[^']*'").expect("regex"),
            regex::Regex::new(r"\b\d+\b").expect("regex"),
        ]
    });
    let m = res[0].replace_all(msg, "\"_\"");
    let m = res[1].replace_all(&m, "'_'");
    let m = res[2].replace_all(&m, "N");
    let mut m = m.into_owned();
    if m.len() > 160 {
        let mut cut = 160;
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        m.truncate(cut);
        m.push('…');
    }
    format!("{code}: {m}")
}

impl Stats {
    /// Stats that also append every finding as a JSON line to `out` (when set).
    pub fn new(out: Option<PathBuf>) -> Stats {
        if let Some(p) = &out {
            let _ = std::fs::remove_file(p);
        }
        Stats {
            inner: Mutex::default(),
            out,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one outcome (in `group` too, when given).
    pub fn count(&self, class: Class, group: Option<&str>) {
        let mut i = self.lock();
        *i.counts.entry(class).or_default() += 1;
        if let Some(g) = group {
            *i.groups
                .entry(g.to_string())
                .or_default()
                .entry(class)
                .or_default() += 1;
        }
    }

    /// Records tandem's error where PostgreSQL (or the expected result) had an answer.
    pub fn unsupported(&self, code: &str, message: &str, example: &str) {
        let key = normalize_message(code, message);
        let mut i = self.lock();
        let e = i.unsupported.entry(key).or_insert((0, example.to_string()));
        e.0 += 1;
    }

    /// Records a finding; prints the first `print_max` of the failing kinds; remembers the ones
    /// CI must fail on (crashes, and listed classes not in `known`).
    pub fn finding(&self, class: Class, f: Finding, known: &Known, print_max: usize) {
        if let Some(p) = &self.out
            && let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
            && let Ok(line) = serde_json::to_string(&f)
        {
            let _ = writeln!(file, "{line}");
        }
        let mut i = self.lock();
        if class.needs_listing() {
            i.listed
                .push((f.key.clone(), f.class, f.tandem_sql.clone()));
        }
        let is_known = known.contains(&f.key);
        if is_known {
            i.seen_known.insert(f.key.clone());
        }
        let fails = class == Class::Crash || (class.needs_listing() && !is_known);
        if fails {
            let text = format!(
                "{} [{}]\n  tandem:     {}\n  postgres:   {}\n  tandem ->   {}\n  expected -> {}{}",
                f.key,
                f.class,
                f.tandem_sql,
                f.pg_sql,
                f.tandem,
                f.pg,
                if f.detail.is_empty() {
                    String::new()
                } else {
                    format!("\n  {}", f.detail)
                }
            );
            if i.printed < print_max {
                i.printed += 1;
                eprintln!("{text}");
            }
            if class == Class::Crash {
                i.crashes.push(text);
            } else {
                i.new_failures.push(text);
            }
        }
    }

    pub fn total(&self, class: Class) -> u64 {
        self.lock().counts.get(&class).copied().unwrap_or(0)
    }

    pub fn crashes(&self) -> Vec<String> {
        self.lock().crashes.clone()
    }

    pub fn new_failures(&self) -> Vec<String> {
        self.lock().new_failures.clone()
    }

    /// Every finding of the listed classes this run: (key, class, statement).
    pub fn listed(&self) -> Vec<(String, &'static str, String)> {
        self.lock().listed.clone()
    }

    /// Known keys that occurred this run.
    pub fn seen_known(&self) -> HashSet<String> {
        self.lock().seen_known.clone()
    }

    /// The summary: counts per class, rate, top unsupported messages, per-group pass rates.
    pub fn summary(&self, title: &str, elapsed: Duration, top: usize) -> String {
        let i = self.lock();
        let total: u64 = i
            .counts
            .iter()
            .filter(|(c, _)| **c != Class::Skipped)
            .map(|(_, n)| *n)
            .sum();
        let mins = elapsed.as_secs_f64() / 60.0;
        let mut s = format!(
            "== {title}\nstatements compared: {total} in {:.1} s ({:.0}/minute)\n",
            elapsed.as_secs_f64(),
            if mins > 0.0 { total as f64 / mins } else { 0.0 }
        );
        for (c, n) in &i.counts {
            s.push_str(&format!("  {:<20} {n}\n", c.name()));
        }
        let mut un: Vec<(&String, &(u64, String))> = i.unsupported.iter().collect();
        un.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
        if !un.is_empty() {
            s.push_str(&format!(
                "top {} tandem errors where the reference answered:\n",
                top
            ));
            for (m, (n, ex)) in un.iter().take(top) {
                let mut ex = ex.replace('\n', " ");
                if ex.len() > 200 {
                    let mut cut = 200;
                    while !ex.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    ex.truncate(cut);
                    ex.push('…');
                }
                s.push_str(&format!("  {n:>6}  {m}\n          e.g. {ex}\n"));
            }
        }
        if !i.groups.is_empty() {
            s.push_str("per group: queries, passed, pass rate (of queries run), mismatches, dialect, unsupported, statement failures\n");
            for (g, cs) in &i.groups {
                let get = |c: Class| cs.get(&c).copied().unwrap_or(0);
                let queries: u64 = cs
                    .iter()
                    .filter(|(c, _)| !matches!(**c, Class::Skipped | Class::StatementFailed))
                    .map(|(_, n)| *n)
                    .sum();
                let rate = if queries > 0 {
                    100.0 * get(Class::Match) as f64 / queries as f64
                } else {
                    0.0
                };
                s.push_str(&format!(
                    "  {g:<28} {queries:>8} {:>8} {rate:>6.2}% {:>6} {:>6} {:>6} {:>6}\n",
                    get(Class::Match),
                    get(Class::Mismatch) + get(Class::Crash) + get(Class::Timeout),
                    get(Class::Dialect),
                    get(Class::Unsupported),
                    get(Class::StatementFailed)
                ));
            }
        }
        s
    }
}

/// A sort key that orders the numbers inside keys numerically.
fn natural(key: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut num: Option<u64> = None;
    for ch in key.chars() {
        if let Some(d) = ch.to_digit(10) {
            num = Some(num.unwrap_or(0).saturating_mul(10).saturating_add(d as u64));
        } else {
            if let Some(n) = num.take() {
                out.push((std::mem::take(&mut text), n));
            }
            text.push(ch);
        }
    }
    out.push((text, num.unwrap_or(0)));
    out
}

/// The committed list of known mismatches: one key per line (the rest of the line is a
/// comment), `#` starts a comment line.
#[derive(Default)]
pub struct Known {
    keys: HashSet<String>,
}

impl Known {
    pub fn load(path: &Path) -> Known {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect();
        Known { keys }
    }

    /// Rewrites the entries under `prefix` in the list file at `path` with `found` (key,
    /// class, statement), keeping everything else.
    pub fn rewrite(path: &Path, prefix: &str, found: &[(String, &'static str, String)]) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut out: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(prefix))
            .map(str::to_string)
            .collect();
        while out.last().is_some_and(|l| l.is_empty()) {
            out.pop();
        }
        let mut found = found.to_vec();
        found.sort_by_key(|a| natural(&a.0));
        found.dedup_by(|a, b| a.0 == b.0);
        for (key, class, sql) in found {
            let mut sql = sql.replace(['\n', '\t'], " ");
            if sql.len() > 140 {
                let mut cut = 140;
                while !sql.is_char_boundary(cut) {
                    cut -= 1;
                }
                sql.truncate(cut);
                sql.push('…');
            }
            out.push(format!("{key} {} {sql}", class.replace(' ', "-")));
        }
        out.push(String::new());
        if let Err(e) = std::fs::write(path, out.join("\n")) {
            panic!("writing {}: {e}", path.display());
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// Listed keys under `prefix` that did not occur as findings (fixed, or no longer run).
    pub fn unseen(&self, prefix: &str, seen: &HashSet<String>) -> Vec<String> {
        let mut v: Vec<String> = self
            .keys
            .iter()
            .filter(|k| k.starts_with(prefix) && !seen.contains(*k))
            .cloned()
            .collect();
        v.sort();
        v
    }
}
