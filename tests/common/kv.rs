//! Helpers of the in-process KV tests (`kv_engine.rs`, `kv_rangefeed.rs`): a store in a temp
//! directory with test settings, table keys of virtual cluster 2, and a timeout that names what
//! it waited for.

use std::time::Duration;
use tandem::ids::TenantId;
use tandem::kv::Store;
use tandem::settings::KvSettings;
use tandem::storage::keys::index_key;

/// Key `i` of index 1 of `table` in virtual cluster 2.
pub fn key(table: u32, i: i64) -> Vec<u8> {
    index_key(TenantId(2), table, 1, &i).expect("encode key")
}

/// Opens a store with `KvSettings::for_tests()` (tiny ranges, 50 ms closed timestamps).
pub fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, KvSettings::for_tests()).expect("open store")
}

/// Awaits `f`, panicking with `what` after `d`.
pub async fn with_timeout<T>(
    what: &str,
    d: Duration,
    f: impl std::future::Future<Output = T>,
) -> T {
    tokio::time::timeout(d, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}
