//! Actors.
pub mod range;
