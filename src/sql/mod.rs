//! SQL: parsing, planning and execution for one virtual cluster.
pub mod admin;
pub mod ast;
pub mod catalog;
pub mod cluster_settings;
pub mod ddl;
pub mod dml;
pub mod error;
pub mod exec;
pub mod expr;
pub mod parser;
pub mod query;
pub mod rows;
pub mod scram;
pub mod session;
pub mod sqlstate;
pub mod system_tables;
pub mod types;
