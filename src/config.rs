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

const BUILTIN_DEFAULT: &str = include_str!("../config/default.toml");
const BUILTIN_PROFILES: &[(&str, &str)] = &[
    ("default", include_str!("../config/profiles/default.toml")),
    (
        "replication-source",
        include_str!("../config/profiles/replication-source.toml"),
    ),
    (
        "replication-target",
        include_str!("../config/profiles/replication-target.toml"),
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
// Errors

/// A configuration that cannot be used. The message names the key and, when known, the file or
/// variable that set it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config-profile` names no profile.
    #[error("unknown config profile {name:?}; known profiles: {known}")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The profiles that exist, comma-separated.
        known: String,
    },
    /// A configuration file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file that is not valid TOML.
    #[error("invalid TOML in {origin}: {message}")]
    Syntax {
        /// The file.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// An unknown key, a malformed value or a failed cross-field check.
    #[error("{}", describe_invalid(.key.as_deref(), .origin.as_deref(), .message))]
    Invalid {
        /// The dotted key (`kv.gc_ttl`, `bootstrap.virtual_clusters[1].name`), when known.
        key: Option<String>,
        /// The file, environment variable or flag that set it, when known.
        origin: Option<String>,
        /// What is wrong.
        message: String,
    },
}

fn describe_invalid(key: Option<&str>, origin: Option<&str>, message: &str) -> String {
    match (key, origin) {
        (Some(k), Some(o)) => format!("invalid configuration key `{k}` in {o}: {message}"),
        (Some(k), None) => format!("invalid configuration key `{k}`: {message}"),
        (None, Some(o)) => format!("invalid configuration in {o}: {message}"),
        (None, None) => format!("invalid configuration: {message}"),
    }
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: Some(key.into()),
            origin: None,
            message: message.into(),
        }
    }

    /// The dotted key the error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => key.as_deref(),
            _ => None,
        }
    }

    /// The file, environment variable or flag the error comes from, if known.
    pub fn origin(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { origin, .. } => origin.as_deref(),
            ConfigError::Syntax { origin, .. } => Some(origin),
            _ => None,
        }
    }

    /// Converts an error of the `config` crate raised while reading `origin`.
    fn from_config(err: config::ConfigError, origin: &str) -> ConfigError {
        if let config::ConfigError::FileParse { cause, .. } = err {
            return ConfigError::Syntax {
                origin: origin.to_string(),
                message: cause.to_string(),
            };
        }
        let (key, message) = split_config_error(err);
        ConfigError::Invalid {
            key,
            origin: Some(origin.to_string()),
            message,
        }
    }
}

/// Splits a `config` crate error into the full dotted key and a message without the key.
fn split_config_error(err: config::ConfigError) -> (Option<String>, String) {
    let (key, message) = split_config_error_inner(err);
    let key = key.map(|k| normalize_key(&k));
    // serde reports unknown fields by name, with the parent's key as the path.
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some(end) = rest.find('`')
    {
        let field = rest[..end].to_string();
        let message = format!("unknown key `{field}{}", &rest[end..]);
        return (join_keys(key, Some(field)), message);
    }
    (key, message)
}

fn split_config_error_inner(err: config::ConfigError) -> (Option<String>, String) {
    match err {
        config::ConfigError::At { error, key, .. } => {
            let (inner_key, message) = split_config_error_inner(*error);
            (join_keys(key, inner_key), message)
        }
        config::ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => {
            let bare = config::ConfigError::Type {
                origin: None,
                unexpected,
                expected,
                key: None,
            };
            (key, bare.to_string())
        }
        config::ConfigError::NotFound(key) => (Some(key), "missing required key".to_string()),
        other => (None, other.to_string()),
    }
}

/// The `config` crate writes list elements' fields as `list[0]field`; make it `list[0].field`.
fn normalize_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    let mut after_bracket = false;
    for c in key.chars() {
        if after_bracket && c != '[' && c != '.' {
            out.push('.');
        }
        after_bracket = c == ']';
        out.push(c);
    }
    out
}

fn join_keys(parent: Option<String>, child: Option<String>) -> Option<String> {
    match (parent, child) {
        (Some(p), Some(c)) if c.starts_with('[') => Some(format!("{p}{c}")),
        (Some(p), Some(c)) => Some(format!("{p}.{c}")),
        (p, None) => p,
        (None, c) => c,
    }
}

// ---------------------------------------------------------------------------------------------
// Value types

/// A `host:port` address. An empty host means all interfaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// Host name or IP address, without brackets; empty for all interfaces.
    pub host: String,
    /// Port; 0 asks the OS for a free port.
    pub port: u16,
}

impl HostPort {
    /// `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    /// Parses `host:port`, `:port`, `[v6]:port`, `host` or `[v6]` (the last two get
    /// `default_port`).
    pub fn parse(s: &str, default_port: u16) -> Result<HostPort, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty address: expected host:port, e.g. localhost:26257".into());
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let end = rest
                .find(']')
                .ok_or_else(|| format!("invalid address {s:?}: missing ']'"))?;
            let host = &rest[..end];
            host.parse::<Ipv6Addr>()
                .map_err(|_| format!("invalid address {s:?}: {host:?} is not an IPv6 address"))?;
            let port = match &rest[end + 1..] {
                "" => None,
                after => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| format!("invalid address {s:?}: expected ':' after ']'"))?,
                ),
            };
            (host, port)
        } else if s.matches(':').count() > 1 {
            return Err(format!(
                "invalid address {s:?}: write IPv6 addresses in brackets, e.g. [::1]:26257"
            ));
        } else {
            match s.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        let port = match port {
            None => default_port,
            Some(p) => p.parse::<u16>().map_err(|_| {
                format!("invalid address {s:?}: port {p:?} is not a number from 0 to 65535")
            })?,
        };
        let host_ok = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
        if !host_ok {
            return Err(format!(
                "invalid address {s:?}: host {host:?} is not a host name or IP address"
            ));
        }
        Ok(HostPort::new(host, port))
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A memory budget: absolute, or a fraction of the system's memory (`"25%"`, `".25"`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MemorySize {
    /// This many bytes.
    Bytes(u64),
    /// This fraction of [`system_memory_bytes`], in (0, 1].
    Fraction(f64),
}

impl MemorySize {
    /// Parses `"25%"`, `".25"`, `"128MiB"`, `"1GB"` or `"134217728"`. Zero is rejected.
    pub fn parse(s: &str) -> Result<MemorySize, String> {
        let t = s.trim();
        if let Some(pct) = t.strip_suffix('%') {
            let p: f64 = pct
                .trim()
                .parse()
                .map_err(|_| format!("invalid size {s:?}: expected a percentage like \"25%\""))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(format!(
                    "invalid size {s:?}: a percentage must be above 0% and at most 100%"
                ));
            }
            return Ok(MemorySize::Fraction(p / 100.0));
        }
        if t.contains('.') && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
            let f: f64 = t
                .parse()
                .map_err(|_| format!("invalid size {s:?}: not a number"))?;
            if !(f > 0.0 && f < 1.0) {
                return Err(format!(
                    "invalid size {s:?}: a fraction of system memory must be between 0 and 1; \
                     write bytes as a whole number or with a unit like \"1.5GiB\""
                ));
            }
            return Ok(MemorySize::Fraction(f));
        }
        match parse_byte_size(t)? {
            0 => Err(format!("invalid size {s:?}: must be positive")),
            n => Ok(MemorySize::Bytes(n)),
        }
    }

    /// The size in bytes given the system's memory.
    pub fn resolve(&self, system_memory: u64) -> u64 {
        match *self {
            MemorySize::Bytes(n) => n,
            MemorySize::Fraction(f) => (system_memory as f64 * f) as u64,
        }
    }

    /// The size in bytes on this machine.
    pub fn to_bytes(&self) -> Result<u64, String> {
        match self {
            MemorySize::Bytes(n) => Ok(*n),
            MemorySize::Fraction(_) => Ok(self.resolve(system_memory_bytes()?)),
        }
    }
}

impl fmt::Display for MemorySize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MemorySize::Bytes(n) => f.write_str(&format_bytes(n)),
            MemorySize::Fraction(x) => write!(f, "{}%", x * 100.0),
        }
    }
}

/// `n` with the largest binary unit that divides it (`"128MiB"`), else plain bytes.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [(&str, u32); 5] = [
        ("PiB", 50),
        ("TiB", 40),
        ("GiB", 30),
        ("MiB", 20),
        ("KiB", 10),
    ];
    for (unit, shift) in UNITS {
        if n != 0 && n.trailing_zeros() >= shift {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

/// Parses a byte size: plain bytes (`"134217728"`) or a number with a unit, case-insensitive:
/// `B`, `KiB`/`Ki`, `MiB`, `GiB`, `TiB`, `PiB`, `EiB` (powers of 1024) and `KB`/`K`, `MB`, `GB`,
/// `TB`, `PB`, `EB` (powers of 1000), as CockroachDB accepts them. `"1.5GiB"` is allowed.
pub fn parse_byte_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    if num.is_empty() {
        return Err(format!(
            "invalid size {s:?}: expected bytes or a size like \"128MiB\""
        ));
    }
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "ki" | "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mi" | "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gi" | "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "ti" | "tib" => 1 << 40,
        "p" | "pb" => 1_000_000_000_000_000,
        "pi" | "pib" => 1 << 50,
        "e" | "eb" => 1_000_000_000_000_000_000,
        "ei" | "eib" => 1 << 60,
        _ => {
            return Err(format!(
                "invalid size {s:?}: unknown unit {unit:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
            ));
        }
    };
    let too_large = || format!("invalid size {s:?}: too large");
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(multiplier).ok_or_else(too_large);
    }
    let x: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: {num:?} is not a number"))?;
    let bytes = x * multiplier as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(too_large());
    }
    Ok(bytes as u64)
}

/// Parses a duration like `"200ms"`, `"4h"`, `"1h 30m"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?}: {e} (write e.g. \"200ms\", \"5s\", \"4h\")"))
}

/// Total memory available to this process: the machine's memory (`/proc/meminfo`), lowered to
/// the cgroup's memory limit when there is one.
pub fn system_memory_bytes() -> Result<u64, String> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").map_err(|e| {
        format!("cannot determine system memory (/proc/meminfo: {e}); give an absolute size like \"1GiB\"")
    })?;
    let mut total = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb.saturating_mul(1024))
        .ok_or_else(|| {
            "cannot determine system memory (no MemTotal in /proc/meminfo); give an absolute size"
                .to_string()
        })?;
    let mut limits = vec![PathBuf::from("/sys/fs/cgroup/memory/memory.limit_in_bytes")];
    if let Ok(cgroups) = std::fs::read_to_string("/proc/self/cgroup") {
        for line in cgroups.lines() {
            if let Some(path) = line.strip_prefix("0::") {
                let rel = path.trim().trim_start_matches('/');
                limits.push(Path::new("/sys/fs/cgroup").join(rel).join("memory.max"));
            }
        }
    }
    for path in limits {
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(limit) = text.trim().parse::<u64>()
            && limit > 0
            && limit < total
        {
            total = limit;
        }
    }
    Ok(total)
}

/// `data_state` of a virtual cluster (DESIGN.md §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum DataState {
    /// Being created or replicating into.
    Add,
    /// Holds usable data.
    Ready,
    /// Being dropped.
    Dropping,
}

/// `service_mode` of a virtual cluster (DESIGN.md §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum ServiceMode {
    /// Serves no SQL.
    None,
    /// Served by every node's shared SQL server.
    Shared,
    /// Stopping its SQL service.
    Stopping,
}

macro_rules! keyword_enum {
    ($ty:ident, $what:literal, $($variant:ident => $name:literal),+) => {
        impl $ty {
            /// The lowercase name, as `SHOW VIRTUAL CLUSTERS` prints it.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $(if s.trim().eq_ignore_ascii_case($name) { return Ok($ty::$variant); })+
                Err(format!(
                    concat!("unknown ", $what, " {:?}: expected one of ", $($name, " "),+),
                    s
                ).trim_end().to_string())
            }
        }
        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }
    };
}

keyword_enum!(DataState, "data_state", Add => "add", Ready => "ready", Dropping => "dropping");
keyword_enum!(ServiceMode, "service_mode", None => "none", Shared => "shared", Stopping => "stopping");

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
        _ => "kv",
    };
    ConfigError::invalid(key, format!("{} (setting {})", e.reason, e.name))
}

// ---------------------------------------------------------------------------------------------
// Field deserializers. All take strings (environment variables and flags are strings) and the
// natural TOML type.

struct FnVisitor<F> {
    expecting: &'static str,
    parse: F,
}

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for FnVisitor<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.parse)(&v.to_string()).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        (self.parse)(&v.to_string()).map_err(E::custom)
    }
}

fn de_with<'de, D: Deserializer<'de>, T>(
    d: D,
    expecting: &'static str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    d.deserialize_any(FnVisitor { expecting, parse })
}

fn de_sql_addr<'de, D: Deserializer<'de>>(d: D) -> Result<HostPort, D::Error> {
    de_with(d, "an address like \"localhost:26257\"", |s| {
        HostPort::parse(s, DEFAULT_SQL_PORT)
    })
}

fn de_opt_sql_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<HostPort>, D::Error> {
    de_sql_addr(d).map(Some)
}

fn de_http_addr<'de, D: Deserializer<'de>>(d: D) -> Result<HostPort, D::Error> {
    de_with(d, "an address like \"localhost:8080\"", |s| {
        HostPort::parse(s, DEFAULT_HTTP_PORT)
    })
}

fn de_memory<'de, D: Deserializer<'de>>(d: D) -> Result<MemorySize, D::Error> {
    de_with(
        d,
        "a size like \"128MiB\", \"25%\" or a number of bytes",
        MemorySize::parse,
    )
}

fn de_byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    de_with(
        d,
        "a size like \"64MiB\" or a number of bytes",
        parse_byte_size,
    )
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    de_with(d, "a duration like \"200ms\" or \"4h\"", |s| {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "invalid duration {s:?}: give a unit, e.g. \"{s}s\" or \"{s}ms\""
            ));
        }
        parse_duration(s)
    })
}

fn de_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct BoolVisitor;
    impl Visitor<'_> for BoolVisitor {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(E::custom(format!(
                    "invalid boolean {v:?}: expected true or false"
                ))),
            }
        }
    }
    d.deserialize_any(BoolVisitor)
}

fn de_join<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<HostPort>, D::Error> {
    struct JoinVisitor;
    impl<'de> Visitor<'de> for JoinVisitor {
        type Value = Vec<HostPort>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of addresses or a comma-separated string of them")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<HostPort>, E> {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| HostPort::parse(s, DEFAULT_SQL_PORT).map_err(E::custom))
                .collect()
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<HostPort>, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(HostPort::parse(&s, DEFAULT_SQL_PORT).map_err(de::Error::custom)?);
            }
            Ok(out)
        }
    }
    d.deserialize_any(JoinVisitor)
}

/// Cluster setting values: strings, or TOML booleans and numbers written as their text.
fn de_settings<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Bool(bool),
        Int(i64),
        Float(f64),
        Str(String),
    }
    let raw = BTreeMap::<String, Scalar>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::Bool(b) => b.to_string(),
                Scalar::Int(i) => i.to_string(),
                Scalar::Float(f) => f.to_string(),
                Scalar::Str(s) => s,
            };
            (k, v)
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Loading

/// Where [`load`] reads the configuration from.
#[derive(Clone, Debug, Default)]
pub struct ConfigSources {
    /// `--config-profile`; default `TANDEM_PROFILE`, else `default`.
    pub profile: Option<String>,
    /// `--config FILE`; default `TANDEM_CONFIG`, else none.
    pub config_file: Option<PathBuf>,
    /// The process environment (`std::env::vars().collect()` in main); only `TANDEM_*` is read.
    pub env: Vec<(String, String)>,
    /// Command-line flags that were given, as dotted keys and string values
    /// (`("listen_addr", ":26257")`, `("kv.gc_ttl", "1h")`). Flags not given must be left out.
    pub overrides: Vec<(String, String)>,
    /// Read `default.toml` and `profiles/<profile>.toml` from this directory instead of the
    /// copies built into the binary.
    pub config_dir: Option<PathBuf>,
}

/// One source of configuration, in precedence order.
enum Layer {
    Toml {
        origin: String,
        text: Cow<'static, str>,
    },
    Env {
        var: String,
        key: String,
        value: String,
    },
    Flag {
        key: String,
        value: String,
    },
}

impl Layer {
    fn origin(&self) -> String {
        match self {
            Layer::Toml { origin, .. } => origin.clone(),
            Layer::Env { var, .. } => format!("environment variable {var}"),
            Layer::Flag { .. } => "the command line".to_string(),
        }
    }

    fn add_to(
        &self,
        builder: config::ConfigBuilder<config::builder::DefaultState>,
    ) -> Result<config::ConfigBuilder<config::builder::DefaultState>, ConfigError> {
        Ok(match self {
            Layer::Toml { text, .. } => builder.add_source(config::File::from_str(
                text.as_ref(),
                config::FileFormat::Toml,
            )),
            Layer::Env { var, value, .. } => {
                let one = [(var.clone(), value.clone())].into_iter().collect();
                builder.add_source(env_source(one))
            }
            Layer::Flag { key, value } => builder
                .set_override(key.as_str(), value.as_str())
                .map_err(|e| ConfigError::from_config(e, &self.origin()))?,
        })
    }

    /// Deserializes this layer alone, so that its errors name it.
    fn check(&self) -> Result<(), ConfigError> {
        let origin = self.origin();
        let result = self
            .add_to(config::Config::builder())?
            .build()
            .and_then(|c| c.try_deserialize::<NodeConfig>())
            .map_err(|e| ConfigError::from_config(e, &origin));
        match (result, self) {
            (Ok(_), _) => Ok(()),
            (
                Err(ConfigError::Invalid {
                    key,
                    origin,
                    message,
                }),
                Layer::Env { .. },
            ) if message.starts_with("unknown key") => Err(ConfigError::Invalid {
                key,
                origin,
                message: format!(
                    "{message} (after {ENV_PREFIX}_, a double underscore separates a section \
                     from its key, e.g. {ENV_PREFIX}_KV__GC_TTL)"
                ),
            }),
            (Err(e), _) => Err(e),
        }
    }

    /// Whether this layer sets `key` (or a table or list containing it).
    fn sets(&self, key: &str) -> bool {
        let covers = |k: &str| {
            key == k || key.starts_with(&format!("{k}.")) || key.starts_with(&format!("{k}["))
        };
        match self {
            Layer::Toml { .. } => self
                .add_to(config::Config::builder())
                .ok()
                .and_then(|b| b.build().ok())
                .is_some_and(|c| {
                    // Cluster setting names contain dots: look them up in their table.
                    if let Some(name) = key.strip_prefix("bootstrap.cluster_settings.") {
                        return c
                            .get::<BTreeMap<String, config::Value>>("bootstrap.cluster_settings")
                            .is_ok_and(|t| t.contains_key(name));
                    }
                    // A list element: whoever set the list set it.
                    let k = key.find('[').map_or(key, |i| &key[..i]);
                    c.get::<config::Value>(k).is_ok()
                }),
            Layer::Env { key: k, .. } | Layer::Flag { key: k, .. } => covers(k),
        }
    }
}

fn env_source(vars: config::Map<String, String>) -> config::Environment {
    config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("_")
        .separator("__")
        .source(Some(vars))
}

/// The `TANDEM_*` configuration variables of `env`, sorted, with their dotted keys.
fn env_layers(env: &[(String, String)]) -> Vec<Layer> {
    let prefix = format!("{ENV_PREFIX}_");
    let mut out: Vec<Layer> = env
        .iter()
        .filter(|(var, value)| {
            var.len() > prefix.len()
                && var.is_char_boundary(prefix.len())
                && var[..prefix.len()].eq_ignore_ascii_case(&prefix)
                && !value.is_empty()
                && !RESERVED_ENV_VARS
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(var))
        })
        .map(|(var, value)| Layer::Env {
            var: var.clone(),
            key: var[prefix.len()..].to_lowercase().replace("__", "."),
            value: value.clone(),
        })
        .collect();
    out.sort_by(|a, b| match (a, b) {
        (Layer::Env { var: x, .. }, Layer::Env { var: y, .. }) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    });
    out
}

fn env_lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn profile_layer(name: &str, config_dir: Option<&Path>) -> Result<Layer, ConfigError> {
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let unknown = |known: Vec<String>| ConfigError::UnknownProfile {
        name: name.to_string(),
        known: known.join(", "),
    };
    match config_dir {
        None => match builtin_profile(name) {
            Some(text) if valid_name => Ok(Layer::Toml {
                origin: format!("config/profiles/{name}.toml (built in)"),
                text: Cow::Borrowed(text),
            }),
            _ => Err(unknown(builtin_profile_names().map(String::from).collect())),
        },
        Some(dir) => {
            let profiles = dir.join("profiles");
            let path = profiles.join(format!("{name}.toml"));
            if !valid_name || !path.is_file() {
                let mut known: Vec<String> = std::fs::read_dir(&profiles)
                    .map(|entries| {
                        entries
                            .filter_map(|e| e.ok())
                            .filter_map(|e| {
                                let n = e.file_name().into_string().ok()?;
                                n.strip_suffix(".toml").map(String::from)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                known.sort();
                return Err(unknown(known));
            }
            Ok(Layer::Toml {
                origin: path.display().to_string(),
                text: Cow::Owned(read_file(&path)?),
            })
        }
    }
}

/// Loads, merges and validates the node configuration (see the module documentation for the
/// layers). The returned configuration has passed [`NodeConfig::validate`].
pub fn load(sources: &ConfigSources) -> Result<NodeConfig, ConfigError> {
    let profile = sources
        .profile
        .clone()
        .or_else(|| env_lookup(&sources.env, ENV_PROFILE).map(String::from))
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    let config_file = sources
        .config_file
        .clone()
        .or_else(|| env_lookup(&sources.env, ENV_CONFIG).map(PathBuf::from));

    let mut layers = Vec::new();
    layers.push(match &sources.config_dir {
        None => Layer::Toml {
            origin: "config/default.toml (built in)".into(),
            text: Cow::Borrowed(BUILTIN_DEFAULT),
        },
        Some(dir) => {
            let path = dir.join("default.toml");
            Layer::Toml {
                origin: path.display().to_string(),
                text: Cow::Owned(read_file(&path)?),
            }
        }
    });
    layers.push(profile_layer(&profile, sources.config_dir.as_deref())?);
    if let Some(path) = &config_file {
        layers.push(Layer::Toml {
            origin: path.display().to_string(),
            text: Cow::Owned(read_file(path)?),
        });
    }
    layers.extend(env_layers(&sources.env));
    layers.extend(sources.overrides.iter().map(|(key, value)| Layer::Flag {
        key: key.clone(),
        value: value.clone(),
    }));

    for layer in &layers {
        layer.check()?;
    }

    // Files in order, then the environment as one source (as the config crate intends), then
    // the flags as overrides.
    let mut builder = config::Config::builder();
    for layer in layers.iter().filter(|l| matches!(l, Layer::Toml { .. })) {
        builder = layer.add_to(builder)?;
    }
    let env_vars: config::Map<String, String> = layers
        .iter()
        .filter_map(|l| match l {
            Layer::Env { var, value, .. } => Some((var.clone(), value.clone())),
            _ => None,
        })
        .collect();
    if !env_vars.is_empty() {
        builder = builder.add_source(env_source(env_vars));
    }
    for layer in layers.iter().filter(|l| matches!(l, Layer::Flag { .. })) {
        builder = layer.add_to(builder)?;
    }
    let merged = "the merged configuration";
    let mut cfg: NodeConfig = builder
        .build()
        .map_err(|e| ConfigError::from_config(e, merged))?
        .try_deserialize()
        .map_err(|e| ConfigError::from_config(e, merged))?;
    cfg.profile = profile;

    cfg.validate().map_err(|e| match e {
        ConfigError::Invalid {
            key: Some(key),
            origin: None,
            message,
        } => {
            let origin = layers
                .iter()
                .rev()
                .find(|l| l.sets(&key))
                .map(Layer::origin);
            ConfigError::Invalid {
                key: Some(key),
                origin,
                message,
            }
        }
        other => other,
    })?;
    Ok(cfg)
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
