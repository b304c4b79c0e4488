//! Configuration value types and their parsers: addresses ([`HostPort`]), sizes ([`MemorySize`],
//! [`parse_byte_size`]), durations and the enums of the `start` flags. A value that does not
//! parse is an error message naming what was expected; nothing here panics on user input.

use super::*;

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
