//! Command-line entry points of the `tandem` binary (argument parsing lives in `main.rs`).

pub mod kv_workload;
