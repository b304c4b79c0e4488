//! Brute-force protection of the console login: failed logins are counted per user and per
//! client address, and past a few of them further attempts wait, with an exponential backoff.
//!
//! Policy ([`ThrottlePolicy::default`]): a user may fail 5 times and an address 20 times (several
//! people behind one proxy) before backing off; every further failure locks that user, or that
//! address, for 1 s, then 2 s, 4 s, ... up to 5 minutes. While locked, every login attempt for
//! the user or from the address is answered 429 with `Retry-After` and no password is checked
//! (so a lockout also costs the node nothing). A successful login clears the user's and the
//! address's records; a record without failures for 15 minutes is forgotten. The trade-off is
//! the usual one of per-user backoff: someone hammering a user's login delays that user's own
//! logins, for at most the cap.
//!
//! Memory is bounded: each table keeps at most [`ThrottlePolicy::max_entries`] records; when full,
//! forgotten records are pruned first and then the one with the oldest failure is evicted.
//!
//! Logging is bounded too ([`LogLimiter`]): each failed or refused login is logged with the user
//! and the address, but at most [`LOG_BURST`] lines per [`LOG_INTERVAL`]; the lines left out are
//! counted and the count is logged with the next line that is let through.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// At most this many login lines per [`LOG_INTERVAL`].
pub const LOG_BURST: u32 = 10;
/// The window of [`LOG_BURST`].
pub const LOG_INTERVAL: Duration = Duration::from_secs(60);
/// User names longer than this are cut (in the table keys and the logs).
const MAX_USER_LEN: usize = 64;

/// How many failures are free and how the backoff grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures of one user before it backs off.
    pub free_per_user: u32,
    /// Failures from one address before it backs off.
    pub free_per_address: u32,
    /// The first lockout; each further failure doubles it.
    pub base_delay: Duration,
    /// The longest lockout.
    pub max_delay: Duration,
    /// A record without failures for this long is forgotten.
    pub forget_after: Duration,
    /// Records per table.
    pub max_entries: usize,
}

impl Default for ThrottlePolicy {
    fn default() -> ThrottlePolicy {
        ThrottlePolicy {
            free_per_user: 5,
            free_per_address: 20,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            forget_after: Duration::from_secs(15 * 60),
            max_entries: 10_000,
        }
    }
}

/// The failures of one user or address.
#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

/// Failures by key, with the lockout they earned.
#[derive(Debug)]
struct Table<K> {
    free: u32,
    records: HashMap<K, Record>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(free: u32) -> Table<K> {
        Table {
            free,
            records: HashMap::new(),
        }
    }

    /// How long `key` must still wait at `now`, if locked.
    fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let until = self.records.get(key)?.locked_until?;
        (until > now).then(|| until - now)
    }

    fn failed(&mut self, key: K, now: Instant, policy: &ThrottlePolicy) {
        if !self.records.contains_key(&key) && self.records.len() >= policy.max_entries {
            self.make_room(now, policy);
        }
        let r = self.records.entry(key).or_insert(Record {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if now.duration_since(r.last_failure) >= policy.forget_after {
            r.failures = 0;
        }
        r.failures = r.failures.saturating_add(1);
        r.last_failure = now;
        if r.failures > self.free {
            let doublings = (r.failures - self.free - 1).min(30);
            let delay = policy
                .base_delay
                .saturating_mul(1 << doublings)
                .min(policy.max_delay);
            r.locked_until = Some(now + delay);
        }
    }

    fn make_room(&mut self, now: Instant, policy: &ThrottlePolicy) {
        self.records
            .retain(|_, r| now.duration_since(r.last_failure) < policy.forget_after);
        if self.records.len() >= policy.max_entries {
            let oldest = self
                .records
                .iter()
                .min_by_key(|(_, r)| r.last_failure)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.records.remove(&k);
            }
        }
    }
}

/// The console's login throttle (one per server, shared by its workers).
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    tables: parking_lot::Mutex<(Table<String>, Table<IpAddr>)>,
}

impl Default for LoginThrottle {
    fn default() -> LoginThrottle {
        LoginThrottle::new(ThrottlePolicy::default())
    }
}

impl LoginThrottle {
    /// A throttle with `policy`.
    pub fn new(policy: ThrottlePolicy) -> LoginThrottle {
        LoginThrottle {
            tables: parking_lot::Mutex::new((
                Table::new(policy.free_per_user),
                Table::new(policy.free_per_address),
            )),
            policy,
        }
    }

    /// How long a login of `user` from `addr` must wait at `now` (None: it may try).
    pub fn wait(&self, user: &str, addr: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let tables = self.tables.lock();
        let by_user = tables.0.wait(&user_key(user), now);
        let by_addr = addr.and_then(|a| tables.1.wait(&a, now));
        by_user.max(by_addr)
    }

    /// Records a failed login of `user` from `addr` at `now`.
    pub fn failed(&self, user: &str, addr: Option<IpAddr>, now: Instant) {
        let mut tables = self.tables.lock();
        let (users, addrs) = &mut *tables;
        users.failed(user_key(user), now, &self.policy);
        if let Some(a) = addr {
            addrs.failed(a, now, &self.policy);
        }
    }

    /// A successful login clears the user's and the address's records.
    pub fn succeeded(&self, user: &str, addr: Option<IpAddr>) {
        let mut tables = self.tables.lock();
        tables.0.records.remove(&user_key(user));
        if let Some(a) = addr {
            tables.1.records.remove(&a);
        }
    }
}

/// The table key (and log form) of a user name: trimmed, lowercased (SQL user names are
/// case-insensitive), at most [`MAX_USER_LEN`] characters.
pub fn user_key(user: &str) -> String {
    user.trim()
        .chars()
        .take(MAX_USER_LEN)
        .flat_map(char::to_lowercase)
        .collect()
}

/// Lets through at most [`LOG_BURST`] lines per [`LOG_INTERVAL`].
#[derive(Debug, Default)]
pub struct LogLimiter {
    state: parking_lot::Mutex<LogWindow>,
}

#[derive(Debug, Default)]
struct LogWindow {
    start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl LogLimiter {
    /// Whether a line may be logged at `now`; if so, how many were left out before it.
    pub fn admit(&self, now: Instant) -> Option<u64> {
        let mut w = self.state.lock();
        if w.start
            .is_none_or(|s| now.duration_since(s) >= LOG_INTERVAL)
        {
            w.start = Some(now);
            w.logged = 0;
        }
        if w.logged >= LOG_BURST {
            w.suppressed += 1;
            return None;
        }
        w.logged += 1;
        Some(std::mem::take(&mut w.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn a_user_backs_off_exponentially_after_its_free_failures() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(t.wait("Alice", A, t0), None);
            t.failed("Alice", A, t0);
        }
        assert_eq!(t.wait("alice", B, t0), None, "five failures are free");
        t.failed("alice", B, t0);
        assert_eq!(t.wait(" ALICE ", B, t0), Some(Duration::from_secs(1)));
        assert_eq!(t.wait("bob", B, t0), None, "other users are unaffected");
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(t.wait("alice", A, t1), None, "the lockout ends");
        t.failed("alice", A, t1);
        assert_eq!(t.wait("alice", A, t1), Some(Duration::from_secs(2)));
        let mut now = t1;
        for _ in 0..20 {
            t.failed("alice", B, now);
            now += Duration::from_secs(1);
        }
        assert_eq!(
            t.wait("alice", None, now),
            Some(Duration::from_secs(300) - Duration::from_secs(1)),
            "capped at five minutes"
        );
        t.succeeded("alice", A);
        assert_eq!(t.wait("alice", None, now), None, "a success clears it");
    }

    #[test]
    fn an_address_backs_off_across_users() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..21 {
            t.failed(&format!("user{i}"), A, t0);
        }
        assert_eq!(t.wait("someone", A, t0), Some(Duration::from_secs(1)));
        assert_eq!(t.wait("someone", B, t0), None);
        let later = t0 + Duration::from_secs(15 * 60);
        t.failed("x", A, later);
        assert_eq!(t.wait("y", A, later), None, "old failures are forgotten");
    }

    #[test]
    fn tables_stay_bounded() {
        let t = LoginThrottle::new(ThrottlePolicy {
            max_entries: 100,
            ..ThrottlePolicy::default()
        });
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(i));
            t.failed(
                &format!("u{i}"),
                Some(addr),
                t0 + Duration::from_millis(i.into()),
            );
        }
        let tables = t.tables.lock();
        assert!(tables.0.records.len() <= 100);
        assert!(tables.1.records.len() <= 100);
        assert!(tables.0.records.contains_key("u999"), "the newest stays");
    }

    #[test]
    fn logging_is_limited_per_interval() {
        let l = LogLimiter::default();
        let t0 = Instant::now();
        for _ in 0..LOG_BURST {
            assert_eq!(l.admit(t0), Some(0));
        }
        assert_eq!(l.admit(t0), None);
        assert_eq!(l.admit(t0 + Duration::from_secs(1)), None);
        assert_eq!(
            l.admit(t0 + LOG_INTERVAL),
            Some(2),
            "reports what it left out"
        );
    }

    #[test]
    fn user_keys_are_normalized_and_bounded() {
        assert_eq!(user_key("  Root "), "root");
        assert_eq!(user_key(&"x".repeat(1000)).len(), MAX_USER_LEN);
    }
}
