//! Deterministic fingerprints of a span.
//!
//! The fingerprint of a span at `T` is the XOR of `xxh3(key ‖ value)` over the newest non-deleted
//! version ≤ `T` of every key; with `all_revisions_since = Some(S)` it is instead the XOR of
//! `xxh3(key ‖ ts ‖ value-or-tombstone)` over every version in `(S, T]`. XOR makes the result
//! independent of how the span is cut into ranges or pages. Tenant keys are hashed without their
//! `/Tenant/<id>` prefix, so a virtual cluster and its replica under another tenant id compare
//! equal exactly when their contents are equal.

use crate::clock::Timestamp;
use crate::storage::Engine;
use crate::storage::error::Result;
use crate::storage::keys::{Span, decode_tenant};
use crate::storage::mvcc::{self, Limits};
use xxhash_rust::xxh3::Xxh3;

fn strip_tenant(key: &[u8]) -> &[u8] {
    if decode_tenant(key).is_some() {
        &key[9..]
    } else {
        key
    }
}

fn hash_kv(key: &[u8], ts: Option<Timestamp>, value: Option<&[u8]>) -> u64 {
    let mut h = Xxh3::new();
    let k = strip_tenant(key);
    h.update(&(k.len() as u64).to_le_bytes());
    h.update(k);
    if let Some(ts) = ts {
        h.update(&ts.to_be_bytes());
    }
    match value {
        Some(v) => {
            h.update(&[1]);
            h.update(v);
        }
        None => h.update(&[0]),
    }
    h.digest()
}

/// The fingerprint of `span` at `ts` (see the module docs).
pub fn fingerprint(
    engine: &Engine,
    span: &Span,
    ts: Timestamp,
    all_revisions_since: Option<Timestamp>,
) -> Result<u64> {
    let mut acc = 0u64;
    let mut cursor = span.clone();
    loop {
        let page_limits = Limits {
            max_rows: 10_000,
            max_bytes: 16 << 20,
        };
        let resume = match all_revisions_since {
            None => {
                let page = mvcc::scan(engine, &cursor, ts, page_limits)?;
                for (k, v) in &page.rows {
                    acc ^= hash_kv(k, None, Some(v));
                }
                page.resume
            }
            Some(since) => {
                let page = mvcc::scan_versions(engine, &cursor, since, ts, page_limits)?;
                for v in &page.rows {
                    acc ^= hash_kv(&v.key, Some(v.ts), v.value.as_deref());
                }
                page.resume
            }
        };
        match resume {
            Some(k) => cursor.start = k.into(),
            None => return Ok(acc),
        }
    }
}
