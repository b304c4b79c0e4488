//! The raft command: what one log entry asks every replica to apply.
//!
//! Requests are evaluated on the leaseholder into a list of [`WriteOp`]s; the command carries
//! the result, not the request, so applying it is deterministic and cannot fail except on I/O.
//! The entry's context holds the proposing node's proposal id (8 bytes BE) so the proposer can
//! be answered after apply.

use crate::storage::WriteOp;
use crate::storage::error::Result;
use crate::storage::records::{RangeDescriptor, decode, encode};
use serde::{Deserialize, Serialize};

/// One replicated command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftCommand {
    /// The writes, applied in order in one atomic batch.
    pub ops: Vec<WriteOp>,
    /// Set when the command splits the range.
    pub split: Option<SplitTrigger>,
}

/// A split: the range becomes `left`, and a new range `right` starts at `left.span.end`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitTrigger {
    /// The updated descriptor of the splitting range.
    pub left: RangeDescriptor,
    /// The new range.
    pub right: RangeDescriptor,
}

impl RaftCommand {
    /// Encodes the command for a log entry.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a log entry's data.
    pub fn decode(data: &[u8]) -> Result<RaftCommand> {
        decode(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    #[test]
    fn raft_command_roundtrip() {
        let c = RaftCommand {
            ops: vec![WriteOp::PutVersion {
                key: b"k".to_vec(),
                ts: Timestamp::from_wall(3),
                value: None,
            }],
            split: None,
        };
        assert_eq!(RaftCommand::decode(&c.encode()).expect("decodes"), c);
        assert!(RaftCommand::decode(&[0xFF, 0xFF, 0xFF]).is_err());
    }
}
