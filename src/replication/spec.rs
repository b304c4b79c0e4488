//! The specs exchanged through the producer builtins, as opaque `BYTES` (postcard), like
//! CockroachDB's protobufs:
//! - [`ProducerSpec`]: `start_replication_stream`'s answer;
//! - [`StreamSpec`]: `replication_stream_spec`'s answer: one [`Partition`] per primary node
//!   serving part of the tenant span, with that node's SQL address;
//! - [`PartitionSpec`]: what the consumer asks `stream_partition` for (spans, where to resume,
//!   compression, batch size);
//! - [`StreamStatus`]: `replication_stream_progress`'s answer.
//!
//! Decoding bytes from the network never panics; a malformed spec is a
//! [`ReplicationError::Malformed`].

use super::ReplicationError;
use crate::clock::Timestamp;
use crate::ids::{JobId, NodeId, TenantId};
use crate::storage::keys::Span;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

fn decode<T: DeserializeOwned>(what: &'static str, b: &[u8]) -> Result<T, ReplicationError> {
    crate::storage::records::decode(b).map_err(|e| ReplicationError::Malformed {
        what,
        reason: e.to_string(),
    })
}

/// `start_replication_stream`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerSpec {
    /// The stream (= the producer job's id).
    pub stream_id: JobId,
    /// The replication start time: the initial scan reads at it.
    pub start_time: Timestamp,
    /// The source cluster's id.
    pub source_cluster_id: String,
    /// The source tenant.
    pub source_tenant_id: TenantId,
}

/// One partition of a stream: spans served by one primary node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// The serving node.
    pub node_id: NodeId,
    /// Its SQL address (`host:port`).
    pub sql_address: String,
    /// The spans (source keys).
    pub spans: Vec<Span>,
}

/// `replication_stream_spec`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSpec {
    /// The source tenant.
    pub source_tenant_id: TenantId,
    /// The partitions; together they cover the tenant span.
    pub partitions: Vec<Partition>,
    /// The SQL addresses of every live source node, partitions or not: where a consumer
    /// reconnects when the node its URI names is down.
    pub sql_addresses: Vec<String>,
}

/// What `stream_partition` is asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionSpec {
    /// The spans to stream (within the stream's tenant span).
    pub spans: Vec<Span>,
    /// The initial scan's timestamp (the replication start time).
    pub initial_scan_ts: Timestamp,
    /// Where the consumer's frontier is: `Some` skips the initial scan and streams every
    /// version above it.
    pub previous_replicated_ts: Option<Timestamp>,
    /// LZ4-compress events.
    pub compressed: bool,
    /// Flush a batch once it holds this many bytes.
    pub batch_bytes: u64,
}

/// The producer's state as `replication_stream_progress` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamState {
    /// Running.
    Active,
    /// Finished, failed or expired.
    Inactive,
}

/// `replication_stream_progress`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStatus {
    /// The stream's state.
    pub state: StreamState,
    /// The source's protected timestamp after the heartbeat.
    pub protected_timestamp: Timestamp,
}

macro_rules! bytes_codec {
    ($t:ty, $what:literal) => {
        impl $t {
            /// The wire form.
            pub fn encode(&self) -> Vec<u8> {
                crate::storage::records::encode(self)
            }
            /// Decodes the wire form.
            pub fn decode(b: &[u8]) -> Result<$t, ReplicationError> {
                decode($what, b)
            }
        }
    };
}

bytes_codec!(ProducerSpec, "producer spec");
bytes_codec!(StreamSpec, "stream spec");
bytes_codec!(PartitionSpec, "partition spec");
bytes_codec!(StreamStatus, "stream status");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_and_reject_garbage() {
        let p = PartitionSpec {
            spans: vec![Span::new(vec![1], vec![2])],
            initial_scan_ts: Timestamp {
                wall: 3,
                logical: 4,
            },
            previous_replicated_ts: None,
            compressed: true,
            batch_bytes: 1 << 20,
        };
        assert_eq!(PartitionSpec::decode(&p.encode()).unwrap(), p);
        assert!(PartitionSpec::decode(&[0xFF, 0xFF, 0xFF]).is_err());
        assert!(StreamSpec::decode(&[]).is_err());
    }
}
