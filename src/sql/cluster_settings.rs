//! The typed registry of cluster settings.
//!
//! Every setting has a name, a type, a default, a description and whether it is public. `SET
//! CLUSTER SETTING` validates the value against the type (unknown setting: 42704; wrong type or
//! range: 22023) and stores its canonical text in the virtual cluster's `settings` table; reads
//! fall back to the default. No feature is gated on `enterprise.license`.

use super::error::{Result, SqlError};
use super::sqlstate::SqlState;

/// A setting's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingType {
    /// `b`
    Bool,
    /// `i`
    Int,
    /// `f`
    Float,
    /// `s`
    String,
    /// `d` (e.g. `200ms`, `4h`)
    Duration,
    /// `z` (e.g. `64 MiB`)
    ByteSize,
}

impl SettingType {
    /// CockroachDB's one-letter code shown by SHOW ALL CLUSTER SETTINGS.
    pub fn code(&self) -> &'static str {
        match self {
            SettingType::Bool => "b",
            SettingType::Int => "i",
            SettingType::Float => "f",
            SettingType::String => "s",
            SettingType::Duration => "d",
            SettingType::ByteSize => "z",
        }
    }
}

/// One registered setting.
#[derive(Clone, Copy, Debug)]
pub struct SettingDef {
    /// Dotted name.
    pub name: &'static str,
    /// Type.
    pub ty: SettingType,
    /// Default (canonical text).
    pub default: &'static str,
    /// Shown by SHOW CLUSTER SETTINGS (not only ALL).
    pub public: bool,
    /// Only the system virtual cluster may change it.
    pub system_only: bool,
    /// Description.
    pub description: &'static str,
}

/// Every cluster setting tandem knows.
pub const SETTINGS: &[SettingDef] = &[
    SettingDef {
        name: "cluster.organization",
        ty: SettingType::String,
        default: "",
        public: true,
        system_only: false,
        description: "organization name",
    },
    SettingDef {
        name: "enterprise.license",
        ty: SettingType::String,
        default: "",
        public: true,
        system_only: false,
        description: "the encoded cluster license (accepted and stored; nothing is gated on it)",
    },
    SettingDef {
        name: "server.controller.default_target_cluster",
        ty: SettingType::String,
        default: "system",
        public: true,
        system_only: true,
        description: "name of the virtual cluster to use when SQL or HTTP clients don't specify a target cluster",
    },
    SettingDef {
        name: "kv.rangefeed.enabled",
        ty: SettingType::Bool,
        default: "false",
        public: true,
        system_only: true,
        description: "if set, rangefeed registration is enabled",
    },
    SettingDef {
        name: "kv.closed_timestamp.target_duration",
        ty: SettingType::Duration,
        default: "200ms",
        public: true,
        system_only: true,
        description: "if nonzero, attempt to provide closed timestamp notifications for timestamps trailing cluster time by approximately this duration",
    },
    SettingDef {
        name: "kv.range.max_bytes",
        ty: SettingType::ByteSize,
        default: "64 MiB",
        public: false,
        system_only: true,
        description: "ranges larger than this split",
    },
    SettingDef {
        name: "bulkio.index_backfill.batch_size",
        ty: SettingType::Int,
        default: "20000",
        public: false,
        system_only: false,
        description: "rows a schema-change backfill or GC job handles per transaction; smaller tables are changed in the statement's own transaction",
    },
    SettingDef {
        name: "gc.ttlseconds",
        ty: SettingType::Int,
        default: "14400",
        public: false,
        system_only: true,
        description: "seconds of MVCC history kept for AS OF SYSTEM TIME reads",
    },
    SettingDef {
        name: "diagnostics.reporting.enabled",
        ty: SettingType::Bool,
        default: "false",
        public: true,
        system_only: false,
        description: "enable reporting diagnostic metrics (tandem never reports anything)",
    },
    SettingDef {
        name: "server.shutdown.drain_wait",
        ty: SettingType::Duration,
        default: "0s",
        public: true,
        system_only: false,
        description: "the amount of time a server waits in an unready state before proceeding with a drain",
    },
    SettingDef {
        name: "server.shutdown.query_wait",
        ty: SettingType::Duration,
        default: "10s",
        public: true,
        system_only: false,
        description: "the timeout for waiting for active queries to finish during a drain",
    },
    SettingDef {
        name: "sql.conn.max_read_buffer_message_size",
        ty: SettingType::ByteSize,
        default: "16 MiB",
        public: true,
        system_only: false,
        description: "maximum buffer size to allow for ingesting sql statements; connections must be restarted for this to take effect",
    },
    SettingDef {
        name: "server.max_connections_per_gateway",
        ty: SettingType::Int,
        default: "-1",
        public: true,
        system_only: false,
        description: "the maximum number of SQL connections per gateway allowed at a given time (note: this will only limit future connection attempts and will not affect already established connections). Negative values result in unlimited number of connections. Superusers are not affected by this limit.",
    },
    SettingDef {
        name: "sql.defaults.default_int_size",
        ty: SettingType::Int,
        default: "8",
        public: true,
        system_only: false,
        description: "the size, in bytes, of an INT type",
    },
    SettingDef {
        name: "physical_replication.producer.timestamp_granularity",
        ty: SettingType::Duration,
        default: "0s",
        public: false,
        system_only: true,
        description: "the granularity at which replicated times are flushed",
    },
    SettingDef {
        name: "physical_replication.consumer.minimum_flush_interval",
        ty: SettingType::Duration,
        default: "100ms",
        public: false,
        system_only: true,
        description: "the minimum time between flushes of ingested data",
    },
    SettingDef {
        name: "physical_replication.consumer.heartbeat_frequency",
        ty: SettingType::Duration,
        default: "5s",
        public: false,
        system_only: true,
        description: "how often a replication consumer heartbeats the source (moving its protected timestamp to the retained time)",
    },
    SettingDef {
        name: "physical_replication.consumer.stream_idle_timeout",
        ty: SettingType::Duration,
        default: "15s",
        public: false,
        system_only: true,
        description: "a replication stream that delivers no event (checkpoints arrive several times a second) for this long is treated as broken and reconnected",
    },
    SettingDef {
        name: "stream_replication.job_liveness.timeout",
        ty: SettingType::Duration,
        default: "24h",
        public: false,
        system_only: true,
        description: "controls how long a producer job stays alive without heartbeats",
    },
    SettingDef {
        name: "version",
        ty: SettingType::String,
        default: "24.3",
        public: true,
        system_only: true,
        description: "set the active cluster version in the format '<major>.<minor>'",
    },
];

/// A duration setting of the system virtual cluster as set (`None` when unset, zero or not a
/// duration), read in its own transaction; for node services that read their tuning when
/// they start a unit of work.
pub async fn system_duration(
    store: &crate::kv::Store,
    name: &str,
) -> Result<Option<std::time::Duration>> {
    let mut txn = store.begin();
    let v = super::catalog::Catalog::new(crate::ids::TenantId::SYSTEM)
        .setting(&mut txn, name)
        .await;
    txn.rollback();
    Ok(v?.and_then(|t| parse_duration(&t)).filter(|d| !d.is_zero()))
}

/// The value of setting `name` in virtual cluster `tenant` as set, else its default, read in its
/// own transaction; for services that read their tuning when they start a unit of work (a
/// connection reads its limits when it starts).
pub async fn tenant_value(
    store: &crate::kv::Store,
    tenant: crate::ids::TenantId,
    name: &str,
) -> Result<String> {
    let def = lookup(name)?;
    let mut txn = store.begin();
    let v = super::catalog::Catalog::new(tenant)
        .setting(&mut txn, name)
        .await;
    txn.rollback();
    Ok(v?.unwrap_or_else(|| def.default.to_string()))
}

/// Looks up a setting.
pub fn lookup(name: &str) -> Result<&'static SettingDef> {
    SETTINGS.iter().find(|s| s.name == name).ok_or_else(|| {
        SqlError::new(
            SqlState::UNDEFINED_OBJECT,
            format!("unknown cluster setting '{name}'"),
        )
    })
}

/// Parses a duration like `200ms`, `1h30m`, `4h`, `10s`.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = String::from(c);
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() || n == 'µ' {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        let secs = match unit.as_str() {
            "ns" => v / 1e9,
            "us" | "µs" => v / 1e6,
            "ms" => v / 1e3,
            "s" => v,
            "m" => v * 60.0,
            "h" => v * 3600.0,
            _ => return None,
        };
        total += secs;
        any = true;
    }
    if !num.is_empty() || !any || !total.is_finite() || total < 0.0 {
        return None;
    }
    Some(std::time::Duration::from_secs_f64(total))
}

/// Parses a byte size like `16 MiB`, `64KiB`, `1000000` (bytes).
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().replace(' ', "");
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (n, u) = t.split_at(split);
    let v: f64 = n.parse().ok()?;
    let mult = match u.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "kib" => 1024.0,
        "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((v * mult) as u64)
}

/// Validates `value` for `def` and returns its canonical text.
pub fn validate(def: &SettingDef, value: &str) -> Result<String> {
    let bad = |why: &str| {
        SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("invalid value for {}: {why}", def.name),
        )
    };
    Ok(match def.ty {
        SettingType::Bool => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "on" | "1" => "true".into(),
            "false" | "f" | "off" | "0" => "false".into(),
            _ => return Err(bad(&format!("could not parse \"{value}\" as type bool"))),
        },
        SettingType::Int => value
            .trim()
            .parse::<i64>()
            .map_err(|_| bad(&format!("could not parse \"{value}\" as type int")))?
            .to_string(),
        SettingType::Float => value
            .trim()
            .parse::<f64>()
            .map_err(|_| bad(&format!("could not parse \"{value}\" as type float")))?
            .to_string(),
        SettingType::String => value.to_string(),
        SettingType::Duration => {
            let d = parse_duration(value)
                .ok_or_else(|| bad(&format!("could not parse \"{value}\" as type interval")))?;
            format_duration(d)
        }
        SettingType::ByteSize => {
            let n = parse_size(value)
                .ok_or_else(|| bad(&format!("could not parse \"{value}\" as a byte size")))?;
            check_range(def, n as f64).map_err(|why| bad(&why))?;
            format_size(n)
        }
    })
    .and_then(|canonical| {
        if def.ty == SettingType::Int
            && let Ok(n) = canonical.parse::<i64>()
        {
            check_range(def, n as f64).map_err(|why| bad(&why))?;
        }
        Ok(canonical)
    })
}

/// The bounds of the numeric settings that have any.
fn check_range(def: &SettingDef, n: f64) -> std::result::Result<(), String> {
    let (min, max) = match def.name {
        // Below 16 KiB ordinary statements no longer fit; past 1 GiB nothing can be allocated
        // for one message (PostgreSQL's MaxAllocSize).
        "sql.conn.max_read_buffer_message_size" => (16.0 * 1024.0, 1024.0 * 1024.0 * 1024.0),
        _ => return Ok(()),
    };
    if n < min || n > max {
        return Err(format!(
            "must be between {} and {}",
            format_size(min as u64),
            format_size(max as u64)
        ));
    }
    Ok(())
}

/// A byte size rounded for people: `18 MiB`, `1.5 KiB`, `900 B`.
pub fn humanize_size(n: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if n >= size {
            let v = n as f64 / size as f64;
            return if v < 10.0 && !n.is_multiple_of(size) {
                format!("{v:.1} {unit}")
            } else {
                format!("{v:.0} {unit}")
            };
        }
    }
    format!("{n} B")
}

/// A byte size as CockroachDB shows it: `16 MiB`, `64 KiB`, or bytes (`1000 B`).
pub fn format_size(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit}", n / size);
        }
    }
    format!("{n} B")
}

/// Go-style duration text (`200ms`, `4h0m0s`).
pub fn format_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 && d.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let frac = d.subsec_millis();
    let sec = if frac > 0 {
        format!("{s}.{frac:03}s")
    } else {
        format!("{s}s")
    };
    if h > 0 {
        format!("{h}h{m}m{sec}")
    } else if m > 0 {
        format!("{m}m{sec}")
    } else {
        sec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_validate_by_type() {
        assert_eq!(
            validate(lookup("kv.rangefeed.enabled").expect("known"), "TRUE").expect("bool"),
            "true"
        );
        assert!(validate(lookup("kv.rangefeed.enabled").expect("known"), "maybe").is_err());
        assert_eq!(
            validate(
                lookup("kv.closed_timestamp.target_duration").expect("known"),
                "0.5s"
            )
            .expect("dur"),
            "500ms"
        );
        assert_eq!(
            lookup("no.such.setting").expect_err("unknown").state,
            SqlState::UNDEFINED_OBJECT
        );
        let size = lookup("sql.conn.max_read_buffer_message_size").expect("known");
        assert_eq!(validate(size, "64KiB").expect("size"), "64 KiB");
        assert_eq!(validate(size, "20000").expect("size"), "20000 B");
        assert!(validate(size, "1 KiB").is_err(), "below the minimum");
        assert!(validate(size, "2 GiB").is_err(), "above the maximum");
        assert_eq!(parse_size(size.default), Some(16 << 20));
        assert_eq!(humanize_size(18 << 20), "18 MiB");
        assert_eq!(humanize_size(1536), "1.5 KiB");
        assert_eq!(humanize_size(900), "900 B");
        assert_eq!(
            validate(
                lookup("server.max_connections_per_gateway").expect("known"),
                "-1"
            )
            .expect("int"),
            "-1"
        );
        assert_eq!(
            format_duration(std::time::Duration::from_secs(4 * 3600)),
            "4h0m0s"
        );
    }
}
