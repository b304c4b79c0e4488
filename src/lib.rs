//! tandem: a distributed SQL database with physical cluster replication.
//!
//! Layers, each importing only those below it: [`storage`] (fjall, MVCC, raft log) ←
//! [`actors::range`] (one actor per range replica, raft-rs) ← [`kv`] (range routing, transactions,
//! rangefeeds, replication primitives). [`clock`] and [`ids`] are shared by all.

pub mod actors;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod console;
pub mod ids;
pub mod jobs;
pub mod kv;
pub mod node;
pub mod pgwire;
pub mod replication;
pub mod rpc;
pub mod security;
pub mod settings;
pub mod sql;
pub mod storage;
