//! Key layout and encodings.
//!
//! The addressable keyspace (what ranges split and what MVCC versions are stored under):
//!
//! ```text
//! []                          KEY_MIN
//! 0x02 "meta" <end key>       range descriptors (the meta range, r1, never split)
//! 0x03                        META_END: start of the data ranges
//! 0xFE <tenant u64 BE> ...    /Tenant/<id>/...; table data below it:
//!     <table u32 BE> <index u32 BE> <memcomparable key columns>
//! 0xFF 0xFF                   KEY_MAX
//! ```
//!
//! Every virtual cluster owns exactly the span `[tenant_prefix(id), tenant_prefix(id+1))`, so a
//! copy of that span is a copy of the whole virtual cluster.
//!
//! MVCC versions live in the `mvcc` partition under `escape(key) 0x00 0x01 !timestamp`: the user
//! key is escaped (0x00 → 0x00 0xFF) and terminated so that all versions of a key are contiguous
//! and keys keep their order; the bitwise-inverted 12-byte timestamp makes newer versions sort
//! first. Decoding checks lengths and terminators and returns an error on malformed bytes.

use crate::clock::Timestamp;
use crate::ids::TenantId;
use crate::storage::error::StorageError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The smallest key.
pub const KEY_MIN: &[u8] = &[];
/// The largest key (exclusive end of the keyspace).
pub const KEY_MAX: &[u8] = &[0xFF, 0xFF];
/// Prefix of range descriptor records in the meta range.
pub const META_PREFIX: &[u8] = &[0x02, b'm', b'e', b't', b'a'];
/// End of the meta range; the first data range starts here.
pub const META_END: &[u8] = &[0x03];
/// First byte of every tenant key.
pub const TENANT_BYTE: u8 = 0xFE;

const TS_LEN: usize = 12;
const TERMINATOR: [u8; 2] = [0x00, 0x01];

/// An owned key in the addressable keyspace.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Key(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl Key {
    /// Borrow the bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The smallest key greater than this one (`self ++ 0x00`).
    pub fn next(&self) -> Key {
        let mut v = self.0.clone();
        v.push(0);
        Key(v)
    }
}

impl From<&[u8]> for Key {
    fn from(b: &[u8]) -> Key {
        Key(b.to_vec())
    }
}

impl From<Vec<u8>> for Key {
    fn from(b: Vec<u8>) -> Key {
        Key(b)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", pretty(&self.0))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", pretty(&self.0))
    }
}

/// A half-open key span `[start, end)`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Span {
    /// Inclusive start.
    pub start: Key,
    /// Exclusive end.
    pub end: Key,
}

impl Span {
    /// A span from raw bytes.
    pub fn new(start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) -> Span {
        Span {
            start: Key(start.into()),
            end: Key(end.into()),
        }
    }

    /// The span of one key.
    pub fn point(key: &[u8]) -> Span {
        let mut end = key.to_vec();
        end.push(0);
        Span::new(key.to_vec(), end)
    }

    /// The whole addressable keyspace.
    pub fn all() -> Span {
        Span::new(KEY_MIN, KEY_MAX)
    }

    /// Whether `key` lies inside the span.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        key >= self.start.as_bytes() && key < self.end.as_bytes()
    }

    /// Whether the two spans share at least one key.
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether `other` is entirely inside this span.
    pub fn contains(&self, other: &Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// The overlap of two spans, if any.
    pub fn intersect(&self, other: &Span) -> Option<Span> {
        let start = std::cmp::max(&self.start, &other.start).clone();
        let end = std::cmp::min(&self.end, &other.end).clone();
        (start < end).then_some(Span { start, end })
    }

    /// Whether the span holds no key.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// `/Tenant/<id>`: the first key of a tenant's span.
pub fn tenant_prefix(tenant: TenantId) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(TENANT_BYTE);
    k.extend_from_slice(&tenant.0.to_be_bytes());
    k
}

/// The whole span of a tenant.
pub fn tenant_span(tenant: TenantId) -> Span {
    let end = if tenant.0 == u64::MAX {
        KEY_MAX.to_vec()
    } else {
        tenant_prefix(TenantId(tenant.0 + 1))
    };
    Span::new(tenant_prefix(tenant), end)
}

/// The tenant a key belongs to, if it is a tenant key.
pub fn decode_tenant(key: &[u8]) -> Option<TenantId> {
    if key.len() < 9 || key[0] != TENANT_BYTE {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&key[1..9]);
    Some(TenantId(u64::from_be_bytes(b)))
}

/// Replaces the tenant prefix of `key` (used when replicating one tenant into another).
pub fn rewrite_tenant(key: &[u8], to: TenantId) -> Option<Vec<u8>> {
    decode_tenant(key)?;
    let mut out = tenant_prefix(to);
    out.extend_from_slice(&key[9..]);
    Some(out)
}

/// `/Tenant/<t>/Table/<table>/<index>`: the prefix of one index of a table.
pub fn index_prefix(tenant: TenantId, table: u32, index: u32) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(&table.to_be_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// The span of one index of a table.
pub fn index_span(tenant: TenantId, table: u32, index: u32) -> Span {
    let start = index_prefix(tenant, table, index);
    let end = match index.checked_add(1) {
        Some(i) => index_prefix(tenant, table, i),
        None => index_prefix(tenant, table.saturating_add(1), 0),
    };
    Span::new(start, end)
}

/// `/Tenant/<t>/Table/<table>/<index>/<columns...>`: column values appended in memcomparable form,
/// so byte order equals the order of the values.
pub fn index_key<T: Serialize>(
    tenant: TenantId,
    table: u32,
    index: u32,
    columns: &T,
) -> Result<Vec<u8>, StorageError> {
    let mut k = index_prefix(tenant, table, index);
    let cols = memcomparable::to_vec(columns)
        .map_err(|e| StorageError::Codec(format!("encode key columns: {e}")))?;
    k.extend_from_slice(&cols);
    Ok(k)
}

/// Decodes the column values of a key built by [`index_key`].
pub fn decode_index_key<'de, T: Deserialize<'de>>(key: &'de [u8]) -> Result<T, StorageError> {
    if key.len() < 17 {
        return Err(StorageError::Codec("index key too short".into()));
    }
    memcomparable::from_slice(&key[17..])
        .map_err(|e| StorageError::Codec(format!("decode key columns: {e}")))
}

/// The meta record key for a range whose span ends at `end_key`.
pub fn meta_key(end_key: &[u8]) -> Vec<u8> {
    let mut k = META_PREFIX.to_vec();
    k.extend_from_slice(end_key);
    k
}

/// Appends the escaped form of `key` and the terminator.
fn escape_into(out: &mut Vec<u8>, key: &[u8]) {
    for &b in key {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&TERMINATOR);
}

/// The position before every version of `key` in the mvcc partition.
pub fn mvcc_key_prefix(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2 + TS_LEN);
    escape_into(&mut out, key);
    out
}

/// The mvcc partition key of `key` at `ts`.
pub fn encode_mvcc_key(key: &[u8], ts: Timestamp) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2 + TS_LEN);
    escape_into(&mut out, key);
    for b in ts.to_be_bytes() {
        out.push(!b);
    }
    out
}

/// An mvcc partition key after every version of `key` and before every version of any greater
/// user key (where a scan seeks to skip the rest of a key's history).
pub fn mvcc_key_after_versions(key: &[u8]) -> Vec<u8> {
    let mut out = encode_mvcc_key(key, Timestamp::MIN);
    out.push(0);
    out
}

/// Decodes an mvcc partition key into the user key and timestamp.
pub fn decode_mvcc_key(enc: &[u8]) -> Result<(Vec<u8>, Timestamp), StorageError> {
    if enc.len() < 2 + TS_LEN {
        return Err(StorageError::Codec(format!(
            "mvcc key too short ({} bytes)",
            enc.len()
        )));
    }
    let split = enc.len() - TS_LEN;
    let (head, ts_bytes) = enc.split_at(split);
    if head[head.len() - 2..] != TERMINATOR {
        return Err(StorageError::Codec("mvcc key terminator missing".into()));
    }
    let escaped = &head[..head.len() - 2];
    let mut key = Vec::with_capacity(escaped.len());
    let mut i = 0;
    while i < escaped.len() {
        let b = escaped[i];
        key.push(b);
        if b == 0 {
            if escaped.get(i + 1) != Some(&0xFF) {
                return Err(StorageError::Codec("mvcc key bad escape".into()));
            }
            i += 1;
        }
        i += 1;
    }
    let mut tsb = [0u8; TS_LEN];
    for (d, s) in tsb.iter_mut().zip(ts_bytes) {
        *d = !s;
    }
    Ok((key, Timestamp::from_be_bytes(tsb)))
}

/// Readable rendering of a key: CockroachDB-style `/Tenant/5/Table/104/1/...` where known, bytes
/// escaped otherwise.
pub fn pretty(key: &[u8]) -> String {
    if key.is_empty() {
        return "/Min".into();
    }
    if key == KEY_MAX {
        return "/Max".into();
    }
    if let Some(t) = decode_tenant(key) {
        let rest = &key[9..];
        let mut s = format!("/Tenant/{t}");
        if rest.len() >= 8 {
            let table = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let index = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
            s.push_str(&format!("/Table/{table}/{index}"));
            if rest.len() > 8 {
                s.push('/');
                s.push_str(&pretty_columns(&rest[8..]).unwrap_or_else(|| escape_bytes(&rest[8..])));
            }
        } else if !rest.is_empty() {
            s.push('/');
            s.push_str(&escape_bytes(rest));
        }
        return s;
    }
    if let Some(rest) = key.strip_prefix(META_PREFIX) {
        return format!("/Meta/{}", pretty(rest));
    }
    format!("\"{}\"", escape_bytes(key))
}

/// The key columns of a SQL row or index key (each a type tag and a memcomparable value), as
/// `1/"abc"`; None when they are not all of the common types or the bytes are cut short (any
/// bytes may reach this: it renders keys for error messages, and must never panic).
fn pretty_columns(b: &[u8]) -> Option<String> {
    let mut rest = b;
    let mut parts = Vec::new();
    while let Some((&tag, after)) = rest.split_first() {
        let len = match tag {
            0 | 1 => 8,
            3 => 1,
            2 => memcomparable_bytes_len(after)?,
            _ => return None,
        };
        let value = after.get(..len)?;
        let mut de = memcomparable::Deserializer::new(value);
        parts.push(match tag {
            0 => i64::deserialize(&mut de).ok()?.to_string(),
            1 => f64::deserialize(&mut de).ok()?.to_string(),
            2 => format!("{:?}", String::deserialize(&mut de).ok()?),
            _ => bool::deserialize(&mut de).ok()?.to_string(),
        });
        rest = &after[len..];
    }
    Some(parts.join("/"))
}

/// The length of the memcomparable string or bytes value at the start of `b`: a flag byte (0:
/// empty), then groups of 8 bytes and a marker that is 9 while more groups follow. None when
/// `b` ends first.
fn memcomparable_bytes_len(b: &[u8]) -> Option<usize> {
    if *b.first()? == 0 {
        return Some(1);
    }
    let mut n = 1;
    loop {
        let marker = *b.get(n + 8)?;
        n += 9;
        if marker != 9 {
            return Some(n);
        }
    }
}

fn escape_bytes(b: &[u8]) -> String {
    b.iter()
        .flat_map(|c| std::ascii::escape_default(*c))
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mvcc_key_roundtrip_with_zero_bytes() {
        let k = vec![0u8, 1, 0, 0xFF, 0];
        let ts = Timestamp {
            wall: 42,
            logical: 7,
        };
        let (dk, dts) = decode_mvcc_key(&encode_mvcc_key(&k, ts)).expect("decodes");
        assert_eq!(dk, k);
        assert_eq!(dts, ts);
    }

    #[test]
    fn mvcc_key_rejects_garbage() {
        assert!(decode_mvcc_key(b"short").is_err());
        assert!(decode_mvcc_key(&[7u8; 20]).is_err());
    }

    #[test]
    fn tenant_rewrite_keeps_suffix() {
        let k = index_key(TenantId(3), 104, 1, &(7i64, "x")).expect("encodes");
        let r = rewrite_tenant(&k, TenantId(5)).expect("tenant key");
        assert_eq!(decode_tenant(&r), Some(TenantId(5)));
        assert_eq!(&r[9..], &k[9..]);
        assert!(tenant_span(TenantId(5)).contains_key(&r));
        assert!(!tenant_span(TenantId(3)).contains_key(&r));
        assert_eq!(
            pretty(&index_prefix(TenantId(3), 104, 1)),
            "/Tenant/3/Table/104/1"
        );
    }

    #[test]
    fn pretty_shows_sql_key_columns() {
        // SQL row keys: a type tag, then the value, per column.
        let k = index_key(TenantId(3), 104, 1, &((0u8, 7i64), (2u8, "x y"))).expect("encodes");
        assert_eq!(pretty(&k), "/Tenant/3/Table/104/1/7/\"x y\"");
        // Anything else stays escaped bytes.
        let mut odd = index_prefix(TenantId(3), 104, 1);
        odd.extend_from_slice(&[0xee, 0x01]);
        assert_eq!(pretty(&odd), "/Tenant/3/Table/104/1/\\xee\\x01");
        // Cut short anywhere (a span bound, a prefix), it is rendered without panicking.
        for cut in 0..k.len() {
            let _ = pretty(&k[..cut]);
        }
        let long = index_key(TenantId(3), 104, 1, &(2u8, "a string of 17 ch")).expect("encodes");
        assert_eq!(pretty(&long), "/Tenant/3/Table/104/1/\"a string of 17 ch\"");
        for cut in 0..long.len() {
            let _ = pretty(&long[..cut]);
        }
    }

    proptest! {
        #[test]
        fn pretty_never_panics(key in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut k = index_prefix(TenantId(3), 104, 1);
            k.extend_from_slice(&key);
            let _ = pretty(&k);
        }
    }

    proptest! {
        #[test]
        fn mvcc_encoding_orders_by_key_then_newest_first(
            a in proptest::collection::vec(any::<u8>(), 0..12),
            b in proptest::collection::vec(any::<u8>(), 0..12),
            ta in (0u64..1000, 0u32..4), tb in (0u64..1000, 0u32..4),
        ) {
            let ta = Timestamp { wall: ta.0, logical: ta.1 };
            let tb = Timestamp { wall: tb.0, logical: tb.1 };
            let ea = encode_mvcc_key(&a, ta);
            let eb = encode_mvcc_key(&b, tb);
            let expected = a.cmp(&b).then(tb.cmp(&ta));
            prop_assert_eq!(ea.cmp(&eb), expected);
            let (da, dta) = decode_mvcc_key(&ea).expect("roundtrip");
            prop_assert_eq!(da, a.clone());
            prop_assert_eq!(dta, ta);
            // Every version of a key sorts at or after its prefix and before the next key's.
            prop_assert!(mvcc_key_prefix(&a) <= ea);
        }

        #[test]
        fn index_keys_preserve_column_order(x in any::<i64>(), y in any::<i64>(), s in ".{0,8}", t in ".{0,8}") {
            let kx = index_key(TenantId(2), 50, 1, &(x, s.clone())).expect("encodes");
            let ky = index_key(TenantId(2), 50, 1, &(y, t.clone())).expect("encodes");
            prop_assert_eq!(kx.cmp(&ky), (x, s.clone()).cmp(&(y, t.clone())));
            let back: (i64, String) = decode_index_key(&kx).expect("decodes");
            prop_assert_eq!(back, (x, s));
        }

        #[test]
        fn tenant_spans_are_disjoint_and_ordered(a in 1u64..1000, b in 1u64..1000) {
            let sa = tenant_span(TenantId(a));
            let sb = tenant_span(TenantId(b));
            prop_assert_eq!(sa.overlaps(&sb), a == b);
            prop_assert_eq!(sa.start.cmp(&sb.start), a.cmp(&b));
        }
    }
}
