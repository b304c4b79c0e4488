//! Command-line entry points of the `tandem` binary (argument parsing lives in `main.rs`).

pub mod demo;
pub mod kv_workload;
pub mod node;
pub mod sql_shell;
pub mod start;
pub mod workload;
