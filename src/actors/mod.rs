//! Actors.
pub mod range;
pub mod replication_consumer;
pub mod replication_producer;
pub mod supervisor;
pub mod tenant_registry;
