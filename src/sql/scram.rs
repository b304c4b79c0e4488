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

#[cfg(test)]
mod tests {
    use super::*;

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
