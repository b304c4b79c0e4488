//! Console login sessions: after a successful `POST /login` the browser holds a random 128-bit
//! token in a cookie, and this store maps the token to the SQL user it logged in as until it
//! expires or the user logs out.
//!
//! Invariants: tokens come from the thread-local CSPRNG (`rand::rng()`, ChaCha-based), are
//! compared only through a hash-map lookup, and are never logged. An expired session is
//! treated as absent and removed when seen; expired sessions are also pruned on every login,
//! so the map holds at most the sessions created within one TTL.
//!
//! Sessions live in this process's memory only: a restarted node has none, and every user has
//! to log in again. Several nodes do not share sessions.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How long a console login lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "tandem_session";

#[derive(Debug, Clone)]
struct Session {
    user: String,
    expires: Instant,
}

/// The in-memory session table, shared by all HTTP workers.
#[derive(Debug)]
pub struct SessionStore {
    ttl: Duration,
    sessions: Mutex<HashMap<String, Session>>,
}

impl SessionStore {
    /// An empty store whose sessions last `ttl`.
    pub fn new(ttl: Duration) -> SessionStore {
        SessionStore {
            ttl,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// How long a new session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Starts a session for `user` and returns its token (32 lowercase hex digits).
    pub fn create(&self, user: &str) -> String {
        let token = new_token();
        let now = Instant::now();
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            token.clone(),
            Session {
                user: user.to_string(),
                expires: now + self.ttl,
            },
        );
        token
    }

    /// The user of a live session, or `None` if the token is unknown or expired.
    pub fn user(&self, token: &str) -> Option<String> {
        let now = Instant::now();
        let mut sessions = self.sessions.lock();
        match sessions.get(token) {
            Some(s) if s.expires > now => Some(s.user.clone()),
            Some(_) => {
                sessions.remove(token);
                None
            }
            None => None,
        }
    }

    /// Ends a session; returns whether it existed.
    pub fn remove(&self, token: &str) -> bool {
        self.sessions.lock().remove(token).is_some()
    }

    /// Live sessions (for tests and diagnostics).
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.sessions
            .lock()
            .values()
            .filter(|s| s.expires > now)
            .count()
    }

    /// Whether there is no live session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A fresh session token: 128 random bits as 32 hex digits.
fn new_token() -> String {
    let bits: u128 = rand::random();
    let mut s = String::with_capacity(32);
    // Writing to a String cannot fail.
    let _ = write!(s, "{bits:032x}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_lookup_remove() {
        let store = SessionStore::new(SESSION_TTL);
        let a = store.create("root");
        let b = store.create("alice");
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_eq!(store.user(&a).as_deref(), Some("root"));
        assert_eq!(store.user(&b).as_deref(), Some("alice"));
        assert_eq!(store.user("nope"), None);
        assert!(store.remove(&a));
        assert!(!store.remove(&a));
        assert_eq!(store.user(&a), None);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn expired_sessions_are_absent_and_pruned() {
        let store = SessionStore::new(Duration::ZERO);
        let t = store.create("root");
        assert_eq!(store.user(&t), None);
        store.create("root");
        store.create("root");
        assert!(store.is_empty());
        // Pruned on login: only the newest (already expired) entry can remain.
        assert!(store.sessions.lock().len() <= 1);
    }
}
