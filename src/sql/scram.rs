//! SCRAM-SHA-256 password verifiers, in PostgreSQL's stored form
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64 parts). Passwords are never
//! stored; only these verifiers are.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::{digest, hmac, pbkdf2, rand::SecureRandom};
use std::num::NonZeroU32;

/// Iterations for new verifiers (PostgreSQL's default).
pub const ITERATIONS: u32 = 4096;

/// A parsed verifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// Salt.
    pub salt: Vec<u8>,
    /// SHA-256(ClientKey).
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
}

fn salted(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    let iters = NonZeroU32::new(iterations.max(1)).expect("max(1) is non-zero");
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iters,
        salt,
        password.as_bytes(),
        &mut out,
    );
    out
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
        .as_ref()
        .to_vec()
}

/// Builds a verifier for `password` with a random salt.
pub fn make_verifier(password: &str) -> String {
    let mut salt = [0u8; 16];
    // The system RNG failing is not recoverable; fall back to a time-derived salt rather than panic.
    if ring::rand::SystemRandom::new().fill(&mut salt).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        salt.copy_from_slice(&t.to_le_bytes());
    }
    verifier_with_salt(password, &salt, ITERATIONS)
}

/// Builds a verifier with a given salt (deterministic; for tests).
pub fn verifier_with_salt(password: &str, salt: &[u8], iterations: u32) -> String {
    let sp = salted(password, salt, iterations);
    let client_key = hmac_sha256(&sp, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, &client_key)
        .as_ref()
        .to_vec();
    let server_key = hmac_sha256(&sp, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        B64.encode(salt),
        B64.encode(stored_key),
        B64.encode(server_key)
    )
}

/// Parses a stored verifier.
pub fn parse(v: &str) -> Option<Verifier> {
    let rest = v.strip_prefix("SCRAM-SHA-256$")?;
    let (iter_salt, keys) = rest.split_once('$')?;
    let (iters, salt) = iter_salt.split_once(':')?;
    let (stored, server) = keys.split_once(':')?;
    Some(Verifier {
        iterations: iters.parse().ok()?,
        salt: B64.decode(salt).ok()?,
        stored_key: B64.decode(stored).ok()?,
        server_key: B64.decode(server).ok()?,
    })
}

/// Checks a cleartext password against a verifier (for the DB Console login).
pub fn check_password(verifier: &str, password: &str) -> bool {
    let Some(v) = parse(verifier) else {
        return false;
    };
    let sp = salted(password, &v.salt, v.iterations);
    let client_key = hmac_sha256(&sp, b"Client Key");
    let stored = digest::digest(&digest::SHA256, &client_key);
    // Constant-time comparison: fold the XOR of every byte.
    let a = stored.as_ref();
    a.len() == v.stored_key.len()
        && a.iter()
            .zip(&v.stored_key)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A verifier of a random password no one knows, with a random salt and the iterations of new
/// verifiers: checking a password against it costs what checking against a real one does.
fn dummy_verifier() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut secret = [0u8; 32];
        // Without system randomness the password is still never sent by anyone (and a match is
        // refused anyway, see `check_login`).
        let _ = ring::rand::SystemRandom::new().fill(&mut secret);
        make_verifier(&B64.encode(secret))
    })
}

/// What a password login is checked against: the user's verifier when the user exists, may log
/// in and has a password, else the dummy verifier (and then no password is accepted).
fn login_verifier(user: Option<&crate::sql::catalog::UserRecord>) -> (&str, bool) {
    match user {
        Some(u) if u.login => match u.scram_verifier.as_deref() {
            Some(v) if parse(v).is_some() => (v, true),
            _ => (dummy_verifier(), false),
        },
        _ => (dummy_verifier(), false),
    }
}

/// Checks a cleartext password login (the DB Console's): true only for a user that exists, may
/// log in and has this password. Unknown users, users without a password and `NOLOGIN` roles
/// take a full verification against a dummy verifier of the same cost, so how long a failed
/// login takes does not reveal which users exist or have a password.
pub fn check_login(user: Option<&crate::sql::catalog::UserRecord>, password: &str) -> bool {
    let (verifier, may_succeed) = login_verifier(user);
    check_password(verifier, password) && may_succeed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::catalog::UserRecord;

    fn user(verifier: Option<String>, login: bool) -> UserRecord {
        UserRecord {
            name: "u".into(),
            scram_verifier: verifier,
            login,
            is_role: false,
            options: vec![],
        }
    }

    #[test]
    fn logins_without_a_usable_password_verify_against_the_dummy() {
        let real = make_verifier("pw");
        let with_pw = user(Some(real.clone()), true);
        let no_pw = user(None, true);
        let nologin = user(Some(real.clone()), false);
        let broken = user(Some("md5abc".into()), true);
        assert_eq!(login_verifier(Some(&with_pw)), (real.as_str(), true));
        for (what, u) in [
            ("unknown", None),
            ("no password", Some(&no_pw)),
            ("NOLOGIN", Some(&nologin)),
            ("unparseable verifier", Some(&broken)),
        ] {
            let (v, may) = login_verifier(u);
            assert_eq!(v, dummy_verifier(), "{what}");
            assert!(!may, "{what}");
        }
        // The dummy costs what a real verifier costs: it parses, with the same iterations.
        let dummy = parse(dummy_verifier()).expect("the dummy parses");
        assert_eq!(dummy.iterations, parse(&real).expect("parses").iterations);
        assert_eq!(dummy.salt.len(), parse(&real).expect("parses").salt.len());
        assert!(check_login(Some(&with_pw), "pw"));
        assert!(!check_login(Some(&with_pw), "wrong"));
        assert!(!check_login(Some(&nologin), "pw"));
        assert!(!check_login(None, "pw"));
    }

    /// The timing the dummy verification buys, measured: the fastest of several tries of each
    /// kind of failed login stay within a factor of each other (without the dummy, an unknown
    /// user fails in microseconds and a wrong password in milliseconds). The fastest try is the
    /// work itself: load on a busy machine (a test suite beside it) only adds time, and made
    /// medians of 9 tries differ 16-fold once.
    #[test]
    fn failed_logins_take_comparable_time() {
        let with_pw = user(Some(make_verifier("pw")), true);
        let no_pw = user(None, true);
        let kinds = [None, Some(&no_pw), Some(&with_pw)];
        let _ = check_login(None, "warm-up"); // builds the dummy verifier
        let mut times: [Vec<std::time::Duration>; 3] = Default::default();
        for _ in 0..15 {
            for (k, u) in kinds.iter().enumerate() {
                let t = std::time::Instant::now();
                assert!(!check_login(*u, "wrong"));
                times[k].push(t.elapsed());
            }
        }
        let fastest =
            |v: Vec<std::time::Duration>| v.into_iter().min().map_or(0.0, |d| d.as_secs_f64());
        let [unknown, no_password, wrong] = times.map(fastest);
        for (what, t) in [("unknown user", unknown), ("no password", no_password)] {
            let ratio = wrong / t;
            assert!(
                (1.0 / 3.0..3.0).contains(&ratio),
                "{what}: {t} s against {wrong} s for a wrong password"
            );
        }
    }

    #[test]
    fn verifier_roundtrip_and_check() {
        let v = make_verifier("s3cret");
        assert!(v.starts_with("SCRAM-SHA-256$4096:"));
        assert!(!v.contains("s3cret"));
        assert!(check_password(&v, "s3cret"));
        assert!(!check_password(&v, "wrong"));
        let p = parse(&v).expect("parses");
        assert_eq!(p.stored_key.len(), 32);
        assert!(parse("md5abc").is_none());
    }
}
