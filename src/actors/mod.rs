//! Actors.
pub mod init_listener;
pub mod range;
pub mod supervisor;
pub mod tenant_registry;
