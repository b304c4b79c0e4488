//! Stream events: what one row of `crdb_internal.stream_partition` carries.
//!
//! An event is either a batch of MVCC versions (with their original timestamps; `None` values
//! are tombstones) or a checkpoint: resolved spans with the timestamp up to which everything in
//! them has been sent. The producer guarantees that all versions at or below `T` in a span come
//! before the checkpoint resolving that span at `T` (the rangefeed's resolved-timestamp
//! property), so the consumer may advance its frontier once the versions received before a
//! checkpoint are durable.
//!
//! Wire form: one flag byte (`0` plain, `1` LZ4-compressed) followed by the postcard encoding
//! of [`StreamEvent`] (compressed with its length prepended). Events under 256 bytes are sent
//! plain. Decoding never panics: malformed bytes give [`ReplicationError::Malformed`].

use super::ReplicationError;
use crate::clock::Timestamp;
use crate::storage::keys::Span;
use crate::storage::mvcc::Version;
use serde::{Deserialize, Serialize};

/// Below this size an event is not worth compressing.
const COMPRESS_ABOVE: usize = 256;
/// Largest decompressed event accepted (a batch is flushed at about 1 MiB).
const MAX_EVENT_BYTES: usize = 256 << 20;

/// A span resolved at a timestamp.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedSpan {
    /// The span (source keys).
    pub span: Span,
    /// Everything in `span` at or below this timestamp has been sent.
    pub ts: Timestamp,
}

/// What an event carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventBody {
    /// MVCC versions in source keys, with their source timestamps.
    Batch(Vec<Version>),
    /// Resolved spans.
    Checkpoint(Vec<ResolvedSpan>),
}

/// One stream event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEvent {
    /// Position in the partition's stream, from 1.
    pub seq: u64,
    /// When the producer emitted it (Unix nanoseconds; for admit-latency measurements).
    pub emit_unix_nanos: i64,
    /// The payload.
    pub body: EventBody,
}

impl StreamEvent {
    /// The wire form; `compress` asks for LZ4 on events worth it.
    pub fn encode(&self, compress: bool) -> Vec<u8> {
        let plain = crate::storage::records::encode(self);
        if compress && plain.len() > COMPRESS_ABOVE {
            let mut out = vec![1u8];
            out.extend_from_slice(&lz4_flex::compress_prepend_size(&plain));
            out
        } else {
            let mut out = Vec::with_capacity(plain.len() + 1);
            out.push(0u8);
            out.extend_from_slice(&plain);
            out
        }
    }

    /// Decodes the wire form.
    pub fn decode(bytes: &[u8]) -> Result<StreamEvent, ReplicationError> {
        let bad = |reason: String| ReplicationError::Malformed {
            what: "stream event",
            reason,
        };
        let (flag, rest) = bytes
            .split_first()
            .ok_or_else(|| bad("empty event".into()))?;
        let owned;
        let plain: &[u8] = match flag {
            0 => rest,
            1 => {
                if rest.len() < 4 {
                    return Err(bad("truncated compressed event".into()));
                }
                let mut n = [0u8; 4];
                n.copy_from_slice(&rest[..4]);
                if u32::from_le_bytes(n) as usize > MAX_EVENT_BYTES {
                    return Err(bad("event larger than 256 MiB".into()));
                }
                owned =
                    lz4_flex::decompress_size_prepended(rest).map_err(|e| bad(e.to_string()))?;
                &owned
            }
            other => return Err(bad(format!("unknown encoding flag {other}"))),
        };
        crate::storage::records::decode(plain).map_err(|e| bad(e.to_string()))
    }

    /// Approximate payload bytes (keys and values), for the logical-bytes metric.
    pub fn logical_bytes(&self) -> u64 {
        match &self.body {
            EventBody::Batch(vs) => vs
                .iter()
                .map(|v| (v.key.len() + v.value.as_ref().map_or(0, Vec::len)) as u64)
                .sum(),
            EventBody::Checkpoint(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize) -> StreamEvent {
        StreamEvent {
            seq: 7,
            emit_unix_nanos: 42,
            body: EventBody::Batch(
                (0..n)
                    .map(|i| Version {
                        key: format!("key-{i:05}").into_bytes(),
                        ts: Timestamp {
                            wall: 100 + i as u64,
                            logical: 1,
                        },
                        value: (i % 3 != 0).then(|| vec![b'v'; 40]),
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn round_trips_plain_and_compressed() {
        for n in [0, 1, 500] {
            let ev = batch(n);
            for compress in [false, true] {
                let wire = ev.encode(compress);
                assert_eq!(StreamEvent::decode(&wire).unwrap(), ev);
            }
        }
        let big = batch(500);
        assert!(big.encode(true).len() < big.encode(false).len() / 2);
        let cp = StreamEvent {
            seq: 1,
            emit_unix_nanos: 0,
            body: EventBody::Checkpoint(vec![ResolvedSpan {
                span: Span::new(vec![1], vec![2]),
                ts: Timestamp {
                    wall: 5,
                    logical: 0,
                },
            }]),
        };
        assert_eq!(StreamEvent::decode(&cp.encode(true)).unwrap(), cp);
    }

    #[test]
    fn malformed_bytes_are_errors_not_panics() {
        let wire = batch(100).encode(true);
        for cut in [0, 1, 3, 5, wire.len() / 2, wire.len() - 1] {
            assert!(StreamEvent::decode(&wire[..cut]).is_err(), "cut at {cut}");
        }
        assert!(StreamEvent::decode(&[9, 1, 2]).is_err());
        let mut huge = vec![1u8];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(StreamEvent::decode(&huge).is_err());
        let mut flipped = batch(10).encode(false);
        flipped[3] ^= 0xFF;
        let _ = StreamEvent::decode(&flipped);
    }
}
