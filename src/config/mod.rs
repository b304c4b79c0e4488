//! Node configuration: what `tandem start` runs with, loaded from layered sources.
//!
//! # Layers
//!
//! [`load`] merges, each layer overriding the ones before it (DESIGN.md §11):
//!
//! 1. `config/default.toml`: every node key with its default;
//! 2. `config/profiles/<profile>.toml`: the config profile (`--config-profile`; `default`,
//!    `replication-source` or `replication-target`), which owns the `[bootstrap]` section: the
//!    virtual clusters and cluster settings created once, at cluster bootstrap (DESIGN.md §7);
//! 3. the `--config FILE` TOML file, if given;
//! 4. `TANDEM_*` environment variables;
//! 5. command-line flags, passed as dotted keys (`listen_addr`, `kv.gc_ttl`).
//!
//! The TOML files of layers 1 and 2 are compiled into the binary ([`builtin_profile`]), so an
//! installed binary needs no files; [`ConfigSources::config_dir`] reads them from a directory
//! instead (tests). Tables merge key by key; a list (`join`, `bootstrap.virtual_clusters`) set in
//! a layer replaces the whole list of the layers below.
//!
//! # Environment variables
//!
//! The `config` crate's [`config::Environment`] with prefix `TANDEM`, `prefix_separator("_")`
//! and `separator("__")`: after `TANDEM_`, a double underscore separates a section from its key
//! and names are case-insensitive. `TANDEM_LISTEN_ADDR=n1:26257` sets `listen_addr`,
//! `TANDEM_KV__GC_TTL=1h` sets `kv.gc_ttl`, `TANDEM_JOIN=n1:26257,n2:26257` sets `join`.
//! Variables whose value is empty count as unset (systemd environment files). The names in
//! [`RESERVED_ENV_VARS`] are not keys: `TANDEM_PROFILE` names the profile and `TANDEM_CONFIG` the
//! config file when [`ConfigSources`] does not, and `TANDEM_EXTRA_ARGS` is for the systemd unit.
//! Every other `TANDEM_*` variable must name a key.
//! Bootstrap cluster settings, whose names contain dots, can only be set in TOML files.
//!
//! # Values
//!
//! Addresses are `host:port`, `:port` (all interfaces), `[v6addr]:port` or a bare host (the
//! field's default port). Sizes are plain bytes or numbers with a unit, CockroachDB style:
//! `"128MiB"`, `"1GB"`; `cache` and `max_sql_memory` also take `"25%"` or `".25"` of the
//! system memory ([`MemorySize`], resolved by [`NodeConfig::cache_bytes`]). Durations are written
//! like `"200ms"`, `"4h"`, `"1h 30m"`.
//!
//! # Failure behaviour
//!
//! Nothing here touches the store. Every layer is first deserialized on its own, so an unknown
//! key or a malformed value is reported with the key and the file or variable it came from; then
//! the merged configuration is deserialized and [`NodeConfig::validate`]d, and a cross-field
//! error names the key and the highest layer that set it. Every error is a [`ConfigError`]; the
//! caller prints it and exits non-zero.

mod deserialize;
mod error;
mod load;
mod values;

use deserialize::*;
pub use error::*;
pub use load::*;
pub use values::*;

use crate::ids::TenantId;
use crate::settings::{self, InvalidSetting, KvSettings};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";
/// Prefix of the environment variables read as configuration (followed by `_`).
pub const ENV_PREFIX: &str = "TANDEM";
/// `TANDEM_*` variables that are not configuration keys and are skipped by the environment layer.
pub const RESERVED_ENV_VARS: &[&str] = &[
    ENV_PROFILE,
    ENV_CONFIG,
    ENV_EXTRA_ARGS,
    ENV_READY_FILE,
    "TANDEM_URL",
];
/// Names the profile when [`ConfigSources::profile`] is `None`.
pub const ENV_PROFILE: &str = "TANDEM_PROFILE";
/// Names the config file when [`ConfigSources::config_file`] is `None`.
pub const ENV_CONFIG: &str = "TANDEM_CONFIG";
/// Extra command-line arguments for `tandem start` in the systemd environment file
/// (`deploy/systemd/tandem.env.example`); read by systemd, not by tandem.
pub const ENV_EXTRA_ARGS: &str = "TANDEM_EXTRA_ARGS";
/// Where a node reports readiness and its addresses (`--background`, tests).
pub const ENV_READY_FILE: &str = "TANDEM_READY_FILE";
/// Default port of SQL and node-to-node addresses.
pub const DEFAULT_SQL_PORT: u16 = 26257;
/// Default port of the HTTP address.
pub const DEFAULT_HTTP_PORT: u16 = 8080;
/// The cluster setting that [`BootstrapConfig::default_target_cluster`] becomes.
pub const DEFAULT_TARGET_CLUSTER_SETTING: &str = "server.controller.default_target_cluster";

const BUILTIN_DEFAULT: &str = include_str!("../../config/default.toml");
const BUILTIN_PROFILES: &[(&str, &str)] = &[
    (
        "default",
        include_str!("../../config/profiles/default.toml"),
    ),
    (
        "replication-source",
        include_str!("../../config/profiles/replication-source.toml"),
    ),
    (
        "replication-target",
        include_str!("../../config/profiles/replication-target.toml"),
    ),
];

/// The built-in `config/default.toml`.
pub fn builtin_default() -> &'static str {
    BUILTIN_DEFAULT
}

/// The built-in `config/profiles/<name>.toml`, if `name` is a built-in profile.
pub fn builtin_profile(name: &str) -> Option<&'static str> {
    BUILTIN_PROFILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// Names of the built-in profiles.
pub fn builtin_profile_names() -> impl Iterator<Item = &'static str> {
    BUILTIN_PROFILES.iter().map(|(n, _)| *n)
}

// ---------------------------------------------------------------------------------------------
// The configuration

/// Everything `tandem start` needs. Every struct rejects unknown keys; missing keys take the
/// values of [`NodeConfig::default`] (equal to `config/default.toml`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// The profile the configuration was loaded with (set by [`load`], not a key).
    #[serde(skip)]
    pub profile: String,
    /// Store directory.
    pub store: PathBuf,
    /// SQL and node-to-node listening address.
    #[serde(deserialize_with = "de_sql_addr")]
    pub listen_addr: HostPort,
    /// Address advertised to other nodes; default `listen_addr`.
    #[serde(deserialize_with = "de_opt_sql_addr")]
    pub advertise_addr: Option<HostPort>,
    /// Separate SQL address; default `listen_addr`.
    #[serde(deserialize_with = "de_opt_sql_addr")]
    pub sql_addr: Option<HostPort>,
    /// HTTP (console, health, metrics) address.
    #[serde(deserialize_with = "de_http_addr")]
    pub http_addr: HostPort,
    /// Nodes to join.
    #[serde(deserialize_with = "de_join")]
    pub join: Vec<HostPort>,
    /// Certificate directory; required unless `insecure`.
    pub certs_dir: Option<PathBuf>,
    /// Plaintext, unauthenticated connections (development only).
    #[serde(deserialize_with = "de_bool")]
    pub insecure: bool,
    /// Storage block cache.
    #[serde(deserialize_with = "de_memory")]
    pub cache: MemorySize,
    /// SQL execution memory budget.
    #[serde(deserialize_with = "de_memory")]
    pub max_sql_memory: MemorySize,
    /// Detach once ready.
    #[serde(deserialize_with = "de_bool")]
    pub background: bool,
    /// KV layer tunables.
    pub kv: KvConfig,
    /// Applied once, at cluster bootstrap.
    pub bootstrap: BootstrapConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            profile: DEFAULT_PROFILE.to_string(),
            store: PathBuf::from("tandem-data"),
            listen_addr: HostPort::new("localhost", DEFAULT_SQL_PORT),
            advertise_addr: None,
            sql_addr: None,
            http_addr: HostPort::new("localhost", DEFAULT_HTTP_PORT),
            join: Vec::new(),
            certs_dir: None,
            insecure: false,
            cache: MemorySize::Bytes(128 << 20),
            max_sql_memory: MemorySize::Fraction(0.25),
            background: false,
            kv: KvConfig::default(),
            bootstrap: BootstrapConfig::default(),
        }
    }
}

/// The `[kv]` section: [`KvSettings`] as written in configuration files.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KvConfig {
    /// [`KvSettings::closed_ts_target`].
    #[serde(deserialize_with = "de_duration")]
    pub closed_ts_target: Duration,
    /// [`KvSettings::closed_ts_interval`].
    #[serde(deserialize_with = "de_duration")]
    pub closed_ts_interval: Duration,
    /// [`KvSettings::range_max_bytes`].
    #[serde(deserialize_with = "de_byte_size")]
    pub range_max_bytes: u64,
    /// [`KvSettings::gc_ttl`].
    #[serde(deserialize_with = "de_duration")]
    pub gc_ttl: Duration,
    /// [`KvSettings::raft_tick`].
    #[serde(deserialize_with = "de_duration")]
    pub raft_tick: Duration,
    /// [`KvSettings::max_offset`].
    #[serde(deserialize_with = "de_duration")]
    pub max_offset: Duration,
    /// [`KvSettings::txn_expiry`].
    #[serde(deserialize_with = "de_duration")]
    pub txn_expiry: Duration,
    /// [`KvSettings::rangefeed_buffer`].
    pub rangefeed_buffer: usize,
    /// [`KvSettings::replication_factor`].
    pub replication_factor: usize,
}

impl Default for KvConfig {
    fn default() -> Self {
        use settings::defaults as d;
        KvConfig {
            closed_ts_target: d::CLOSED_TS_TARGET,
            closed_ts_interval: d::CLOSED_TS_INTERVAL,
            range_max_bytes: d::RANGE_MAX_BYTES,
            gc_ttl: d::GC_TTL,
            raft_tick: d::RAFT_TICK,
            max_offset: d::MAX_OFFSET,
            txn_expiry: d::TXN_EXPIRY,
            rangefeed_buffer: d::RANGEFEED_BUFFER,
            replication_factor: d::REPLICATION_FACTOR,
        }
    }
}

/// The `[bootstrap]` section, owned by the profile and applied once when the cluster is
/// initialised.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapConfig {
    /// Virtual clusters to create.
    pub virtual_clusters: Vec<VirtualClusterSpec>,
    /// Becomes `server.controller.default_target_cluster`.
    pub default_target_cluster: String,
    /// Cluster settings to set, name → value as `SET CLUSTER SETTING` takes it.
    #[serde(deserialize_with = "de_settings")]
    pub cluster_settings: BTreeMap<String, String>,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig {
            virtual_clusters: vec![VirtualClusterSpec {
                id: TenantId::SYSTEM,
                name: "system".into(),
                data_state: DataState::Ready,
                service_mode: ServiceMode::Shared,
            }],
            default_target_cluster: "system".into(),
            cluster_settings: BTreeMap::new(),
        }
    }
}

impl BootstrapConfig {
    /// Every cluster setting to apply at bootstrap: [`Self::cluster_settings`] plus
    /// `server.controller.default_target_cluster`.
    pub fn settings_to_apply(&self) -> BTreeMap<String, String> {
        let mut all = self.cluster_settings.clone();
        all.insert(
            DEFAULT_TARGET_CLUSTER_SETTING.to_string(),
            self.default_target_cluster.clone(),
        );
        all
    }
}

/// One virtual cluster created at bootstrap.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualClusterSpec {
    /// Tenant id; 1 is the system virtual cluster.
    pub id: TenantId,
    /// Name: lowercase letters, digits and hyphens.
    pub name: String,
    /// Initial data state.
    pub data_state: DataState,
    /// Initial service mode.
    pub service_mode: ServiceMode,
}

impl NodeConfig {
    /// The address advertised to other nodes and clients.
    pub fn advertise_addr(&self) -> &HostPort {
        self.advertise_addr.as_ref().unwrap_or(&self.listen_addr)
    }

    /// The address SQL clients connect to.
    pub fn sql_addr(&self) -> &HostPort {
        self.sql_addr.as_ref().unwrap_or(&self.listen_addr)
    }

    /// `cache` in bytes on this machine.
    pub fn cache_bytes(&self) -> Result<u64, ConfigError> {
        self.cache
            .to_bytes()
            .map_err(|m| ConfigError::invalid("cache", m))
    }

    /// `max_sql_memory` in bytes on this machine.
    pub fn max_sql_memory_bytes(&self) -> Result<u64, ConfigError> {
        self.max_sql_memory
            .to_bytes()
            .map_err(|m| ConfigError::invalid("max_sql_memory", m))
    }

    /// The KV layer's settings (`[kv]` plus the block cache), validated.
    pub fn kv_settings(&self) -> Result<KvSettings, ConfigError> {
        let kv = &self.kv;
        let s = KvSettings {
            closed_ts_target: kv.closed_ts_target,
            closed_ts_interval: kv.closed_ts_interval,
            range_max_bytes: kv.range_max_bytes,
            gc_ttl: kv.gc_ttl,
            raft_tick: kv.raft_tick,
            max_offset: kv.max_offset,
            txn_expiry: kv.txn_expiry,
            rangefeed_buffer: kv.rangefeed_buffer,
            replication_factor: kv.replication_factor,
            cache_bytes: self.cache_bytes()?,
        };
        s.validate().map_err(kv_setting_error)?;
        Ok(s)
    }

    /// Cross-field checks: store and security, memory sizes resolvable, KV settings in range,
    /// bootstrap virtual clusters consistent. The error names the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.store.as_os_str().is_empty() {
            return Err(ConfigError::invalid("store", "must not be empty"));
        }
        if !self.insecure && self.certs_dir.is_none() {
            return Err(ConfigError::invalid(
                "certs_dir",
                "a secure node needs a certificate directory (--certs-dir); \
                 use --insecure for local development",
            ));
        }
        if let Some(dir) = &self.certs_dir
            && dir.as_os_str().is_empty()
        {
            return Err(ConfigError::invalid("certs_dir", "must not be empty"));
        }
        self.max_sql_memory_bytes()?;
        self.kv_settings()?;
        self.validate_bootstrap()
    }

    fn validate_bootstrap(&self) -> Result<(), ConfigError> {
        let b = &self.bootstrap;
        let key = |i: usize, field: &str| format!("bootstrap.virtual_clusters[{i}].{field}");
        let mut ids = BTreeSet::new();
        let mut names = BTreeSet::new();
        for (i, vc) in b.virtual_clusters.iter().enumerate() {
            if vc.id.0 == 0 {
                return Err(ConfigError::invalid(key(i, "id"), "must be at least 1"));
            }
            if !ids.insert(vc.id) {
                return Err(ConfigError::invalid(
                    key(i, "id"),
                    format!("duplicate virtual cluster id {}", vc.id),
                ));
            }
            if let Err(m) = check_cluster_name(&vc.name) {
                return Err(ConfigError::invalid(key(i, "name"), m));
            }
            if !names.insert(vc.name.as_str()) {
                return Err(ConfigError::invalid(
                    key(i, "name"),
                    format!("duplicate virtual cluster name {:?}", vc.name),
                ));
            }
            let is_system_id = vc.id == TenantId::SYSTEM;
            if is_system_id != (vc.name == "system") {
                return Err(ConfigError::invalid(
                    key(i, "name"),
                    "the virtual cluster with id 1 must be named \"system\", and only it",
                ));
            }
            if is_system_id
                && (vc.data_state != DataState::Ready || vc.service_mode != ServiceMode::Shared)
            {
                return Err(ConfigError::invalid(
                    key(i, "service_mode"),
                    "the system virtual cluster must be ready and shared",
                ));
            }
        }
        if !ids.contains(&TenantId::SYSTEM) {
            return Err(ConfigError::invalid(
                "bootstrap.virtual_clusters",
                "must include the system virtual cluster (id 1, name \"system\")",
            ));
        }
        let target = b
            .virtual_clusters
            .iter()
            .find(|vc| vc.name == b.default_target_cluster)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "bootstrap.default_target_cluster",
                    format!(
                        "{:?} is not one of the bootstrap virtual clusters ({})",
                        b.default_target_cluster,
                        b.virtual_clusters
                            .iter()
                            .map(|vc| vc.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
        if target.data_state != DataState::Ready || target.service_mode != ServiceMode::Shared {
            return Err(ConfigError::invalid(
                "bootstrap.default_target_cluster",
                format!(
                    "{:?} does not serve SQL (it is {}, service {}); it must be ready and shared",
                    target.name, target.data_state, target.service_mode
                ),
            ));
        }
        for name in b.cluster_settings.keys() {
            let k = format!("bootstrap.cluster_settings.{name}");
            if name == DEFAULT_TARGET_CLUSTER_SETTING {
                return Err(ConfigError::invalid(
                    k,
                    "set bootstrap.default_target_cluster instead",
                ));
            }
            let ok = !name.is_empty()
                && !name.starts_with('.')
                && !name.ends_with('.')
                && !name.contains("..")
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
            if !ok {
                return Err(ConfigError::invalid(
                    k,
                    "not a cluster setting name (lowercase words separated by dots)",
                ));
            }
        }
        Ok(())
    }
}

/// Virtual cluster names, as CockroachDB accepts them: 1–100 lowercase letters, digits and
/// hyphens, starting and ending with a letter or digit.
fn check_cluster_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid virtual cluster name {name:?}: use 1 to 100 lowercase letters, digits and \
             hyphens, not starting or ending with a hyphen"
        ))
    }
}

fn kv_setting_error(e: InvalidSetting) -> ConfigError {
    let key = match e.name {
        "kv.closed_timestamp.target_duration" => "kv.closed_ts_target",
        "kv.closed_timestamp.side_transport_interval" => "kv.closed_ts_interval",
        "kv.range.max_bytes" => "kv.range_max_bytes",
        "kv.raft.tick_interval" => "kv.raft_tick",
        "kv.rangefeed.buffer_events" => "kv.rangefeed_buffer",
        "gc.ttlseconds" => "kv.gc_ttl",
        "server.clock.max_offset" => "kv.max_offset",
        "kv.transaction.abandoned_after" => "kv.txn_expiry",
        "kv.replication_factor" => "kv.replication_factor",
        _ => "kv",
    };
    ConfigError::invalid(key, format!("{} (setting {})", e.reason, e.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_toml(text: &str) -> Result<NodeConfig, ConfigError> {
        Layer::Toml {
            origin: "test.toml".into(),
            text: Cow::Owned(text.to_string()),
        }
        .check()?;
        config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::from_config(e, "test.toml"))
    }

    #[test]
    fn default_toml_equals_rust_defaults() {
        let cfg = from_toml(builtin_default()).expect("default.toml parses");
        assert_eq!(cfg, NodeConfig::default());
    }

    #[test]
    fn builtin_profiles_parse_and_validate() {
        for name in builtin_profile_names() {
            let text = builtin_profile(name).expect("listed");
            let mut cfg = from_toml(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            cfg.insecure = true;
            cfg.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert!(builtin_profile("nope").is_none());
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("134217728"), Ok(128 << 20));
        assert_eq!(parse_byte_size("128MiB"), Ok(128 << 20));
        assert_eq!(parse_byte_size("128 mib"), Ok(128 << 20));
        assert_eq!(parse_byte_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_byte_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_byte_size("4096B"), Ok(4096));
        for bad in ["", "MiB", "12 parsecs", "1.2.3GiB", "99999999999EiB", "-5"] {
            assert!(parse_byte_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(MemorySize::parse("25%"), Ok(MemorySize::Fraction(0.25)));
        assert_eq!(MemorySize::parse(".25"), Ok(MemorySize::Fraction(0.25)));
        assert_eq!(
            MemorySize::parse("128MiB"),
            Ok(MemorySize::Bytes(128 << 20))
        );
        assert_eq!(MemorySize::Fraction(0.25).resolve(8 << 30), 2 << 30);
        assert_eq!(MemorySize::Bytes(7).resolve(8 << 30), 7);
        for bad in ["0", "0%", "101%", "abc%", "1.5", "0MiB", "lots"] {
            let e = MemorySize::parse(bad).expect_err(bad);
            assert!(e.contains(bad), "{e}");
        }
        assert_eq!(MemorySize::Bytes(128 << 20).to_string(), "128MiB");
        assert_eq!(MemorySize::Fraction(0.25).to_string(), "25%");
    }

    #[test]
    fn system_memory_is_known_here() {
        let total = system_memory_bytes().expect("linux test machine");
        assert!(total > 16 << 20);
        let quarter = MemorySize::Fraction(0.25).to_bytes().expect("resolves");
        assert!(quarter > 0 && quarter <= total / 4 + 1);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("4h"), Ok(Duration::from_secs(4 * 3600)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("4 fortnights").is_err());
        let e = from_toml("[kv]\ngc_ttl = 30").expect_err("unitless");
        assert_eq!(e.key(), Some("kv.gc_ttl"));
        assert!(e.to_string().contains("give a unit"), "{e}");
    }

    #[test]
    fn addresses() {
        let p = |s| HostPort::parse(s, 26257);
        assert_eq!(p("localhost:26257"), Ok(HostPort::new("localhost", 26257)));
        assert_eq!(p(":1234"), Ok(HostPort::new("", 1234)));
        assert_eq!(p("n1"), Ok(HostPort::new("n1", 26257)));
        assert_eq!(p("[::1]:5"), Ok(HostPort::new("::1", 5)));
        assert_eq!(p("[::1]"), Ok(HostPort::new("::1", 26257)));
        assert_eq!(p("127.0.0.1:0"), Ok(HostPort::new("127.0.0.1", 0)));
        assert_eq!(HostPort::new("::1", 5).to_string(), "[::1]:5");
        for bad in [
            "", "n1:99999", "n1:http", "::1:5", "[::1", "[nope]:1", "a b:1", "[::1]x",
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keyword_enums() {
        assert_eq!("READY".parse::<DataState>(), Ok(DataState::Ready));
        assert_eq!("none".parse::<ServiceMode>(), Ok(ServiceMode::None));
        let e = "sleeping".parse::<ServiceMode>().expect_err("unknown");
        assert_eq!(
            e,
            "unknown service_mode \"sleeping\": expected one of none shared stopping"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = from_toml("listn_addr = \"x:1\"").expect_err("unknown");
        assert_eq!(e.key(), Some("listn_addr"));
        assert_eq!(e.origin(), Some("test.toml"));
        let e = from_toml("[kv]\ngc_tl = \"1h\"").expect_err("unknown");
        assert_eq!(e.key(), Some("kv.gc_tl"));
        let e = from_toml(
            "[[bootstrap.virtual_clusters]]\nid = 1\nname = \"system\"\ndata_state = \"ready\"\n\
             service_mode = \"shared\"\ncolour = \"red\"",
        )
        .expect_err("unknown");
        assert_eq!(e.key(), Some("bootstrap.virtual_clusters[0].colour"));
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            ("cache = \"12 parsecs\"", "cache"),
            ("http_addr = \"n1:http\"", "http_addr"),
            ("insecure = \"maybe\"", "insecure"),
            ("[kv]\nraft_tick = \"fast\"", "kv.raft_tick"),
            ("[kv]\nrange_max_bytes = \"big\"", "kv.range_max_bytes"),
            (
                "[[bootstrap.virtual_clusters]]\nid = 1\nname = \"system\"\ndata_state = \"ready\"\n\
                 service_mode = \"sleeping\"",
                "bootstrap.virtual_clusters[0].service_mode",
            ),
            (
                "[[bootstrap.virtual_clusters]]\nid = 1\nname = \"system\"\ndata_state = \"ready\"",
                "bootstrap.virtual_clusters[0].service_mode",
            ),
        ];
        for (text, key) in cases {
            let e = from_toml(text).expect_err(text);
            assert_eq!(e.key(), Some(key), "{text}: {e}");
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn validate_checks_bootstrap_and_security() {
        let mut cfg = NodeConfig::default();
        let e = cfg.validate().expect_err("no certs");
        assert_eq!(e.key(), Some("certs_dir"));
        cfg.certs_dir = Some("certs".into());
        cfg.validate().expect("valid");

        let mut c = cfg.clone();
        c.bootstrap.default_target_cluster = "app".into();
        assert_eq!(
            c.validate().expect_err("target").key(),
            Some("bootstrap.default_target_cluster")
        );

        let mut c = cfg.clone();
        c.bootstrap.virtual_clusters.push(VirtualClusterSpec {
            id: TenantId(2),
            name: "template".into(),
            data_state: DataState::Ready,
            service_mode: ServiceMode::None,
        });
        c.bootstrap.default_target_cluster = "template".into();
        let e = c.validate().expect_err("not serving");
        assert!(e.to_string().contains("does not serve SQL"), "{e}");

        let mut c = cfg.clone();
        c.bootstrap.virtual_clusters[0].id = TenantId(2);
        assert_eq!(
            c.validate().expect_err("system id").key(),
            Some("bootstrap.virtual_clusters[0].name")
        );

        let mut c = cfg.clone();
        c.bootstrap.virtual_clusters.push(VirtualClusterSpec {
            id: TenantId(1),
            name: "other".into(),
            data_state: DataState::Ready,
            service_mode: ServiceMode::Shared,
        });
        assert_eq!(
            c.validate().expect_err("dup").key(),
            Some("bootstrap.virtual_clusters[1].id")
        );

        let mut c = cfg.clone();
        c.bootstrap
            .cluster_settings
            .insert(DEFAULT_TARGET_CLUSTER_SETTING.into(), "system".into());
        assert!(c.validate().is_err());

        let mut c = cfg.clone();
        c.kv.closed_ts_interval = Duration::from_secs(1);
        let e = c.validate().expect_err("interval > target");
        assert_eq!(e.key(), Some("kv.closed_ts_interval"));
    }

    #[test]
    fn kv_settings_map_every_field() {
        let mut cfg = NodeConfig {
            cache: MemorySize::Bytes(1 << 30),
            ..NodeConfig::default()
        };
        cfg.kv.gc_ttl = Duration::from_secs(60);
        cfg.kv.rangefeed_buffer = 7;
        let s = cfg.kv_settings().expect("valid");
        assert_eq!(s.cache_bytes, 1 << 30);
        assert_eq!(s.gc_ttl, Duration::from_secs(60));
        assert_eq!(s.rangefeed_buffer, 7);
        assert_eq!(s.closed_ts_target, settings::defaults::CLOSED_TS_TARGET);
        assert_eq!(s.range_max_bytes, settings::defaults::RANGE_MAX_BYTES);
    }

    #[test]
    fn settings_to_apply_include_the_default_target() {
        let b = from_toml(builtin_profile("replication-source").expect("builtin"))
            .expect("parses")
            .bootstrap;
        let s = b.settings_to_apply();
        assert_eq!(
            s.get("kv.rangefeed.enabled").map(String::as_str),
            Some("true")
        );
        assert_eq!(
            s.get(DEFAULT_TARGET_CLUSTER_SETTING).map(String::as_str),
            Some("application")
        );
    }

    #[test]
    fn env_keys() {
        let env = vec![
            ("TANDEM_KV__GC_TTL".to_string(), "1h".to_string()),
            ("TANDEM_PROFILE".to_string(), "default".to_string()),
            ("TANDEM_JOIN".to_string(), String::new()),
            ("HOME".to_string(), "/root".to_string()),
            ("TANDEM_LISTEN_ADDR".to_string(), ":1".to_string()),
        ];
        let keys: Vec<String> = env_layers(&env)
            .iter()
            .filter_map(|l| match l {
                Layer::Env { key, .. } => Some(key.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(keys, ["kv.gc_ttl", "listen_addr"]);
    }
}
