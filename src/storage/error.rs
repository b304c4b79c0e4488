//! Errors of the storage layer.

use crate::ids::RangeId;

/// Everything that can go wrong reading or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// fjall failed (I/O, corruption, poisoned after a failed write: the node must stop).
    #[error("storage: {0}")]
    Fjall(#[from] fjall::Error),
    /// Bytes on disk did not decode.
    #[error("storage: corrupt or undecodable record: {0}")]
    Codec(String),
    /// A raft-state record a replica needs is missing.
    #[error("storage: range {0} has no {1}")]
    MissingRangeState(RangeId, &'static str),
    /// The group-commit syncer is gone (the node is shutting down).
    #[error("storage: sync thread stopped")]
    SyncerStopped,
    /// An I/O error outside fjall.
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
}

impl StorageError {
    /// Whether the store is unusable and the node must stop instead of retrying.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            StorageError::Fjall(fjall::Error::Poisoned) | StorageError::Fjall(fjall::Error::Io(_))
        )
    }
}

impl From<postcard::Error> for StorageError {
    fn from(e: postcard::Error) -> Self {
        StorageError::Codec(e.to_string())
    }
}

impl From<protobuf::ProtobufError> for StorageError {
    fn from(e: protobuf::ProtobufError) -> Self {
        StorageError::Codec(e.to_string())
    }
}

/// Result alias of the storage layer.
pub type Result<T> = std::result::Result<T, StorageError>;
