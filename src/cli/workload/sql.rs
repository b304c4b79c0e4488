//! SQL plumbing shared by the workloads: bind-parameter values that encode themselves for
//! whatever type the server inferred ([`Value`]), UUIDs ([`Uuid`]), transparent retries of
//! serialization failures ([`retrying`]), the server's SQL dialect ([`Dialect`]) and connecting
//! through [`crate::client`].

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::anyhow;
use bytes::{BufMut, BytesMut};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::rng::Rng;
use crate::client::{ConnUrl, connect, describe_pg_error};

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// A UUID, sent and received in the binary `uuid` format (or as text where the server typed
/// the parameter or column as a string).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// A random version-4 UUID drawn from `rng`.
    pub fn new_v4(rng: &mut Rng) -> Uuid {
        let mut b = [0u8; 16];
        rng.fill(&mut b);
        let mut u = Uuid(b);
        u.set_v4_bits();
        u
    }

    /// The `i`-th of `n` version-4 UUIDs spread evenly over the UUID space, as CockroachDB's
    /// `uuid.DeterministicV4`: the upper 8 bytes are `i * 2^64 / n`, the lower 8 bytes are `i`
    /// (big-endian, so the UUIDs sort in the order of `i`), then the version and variant bits.
    pub fn deterministic_v4(i: u64, n: u64) -> Uuid {
        assert!(i < n, "i must be in [0,{n}) was {i}");
        let spacing = (i as f64 * u64::MAX as f64 / n as f64) as u64;
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&spacing.to_be_bytes());
        b[8..].copy_from_slice(&i.to_be_bytes());
        let mut u = Uuid(b);
        u.set_v4_bits();
        u
    }

    fn set_v4_bits(&mut self) {
        self.0[6] = (self.0[6] & 0x0f) | 0x40;
        self.0[8] = (self.0[8] & 0x3f) | 0x80;
    }

    /// Parses the canonical `8-4-4-4-12` hex form (hyphens optional, braces not accepted).
    pub fn parse(s: &str) -> Option<Uuid> {
        let hex: Vec<u8> = s.bytes().filter(|&c| c != b'-').collect();
        if hex.len() != 32 {
            return None;
        }
        let mut b = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).ok()?;
            b[i] = u8::from_str_radix(text, 16).ok()?;
        }
        Some(Uuid(b))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

fn is_textual(ty: &Type) -> bool {
    *ty == Type::TEXT
        || *ty == Type::VARCHAR
        || *ty == Type::BPCHAR
        || *ty == Type::NAME
        || *ty == Type::UNKNOWN
}

impl<'a> FromSql<'a> for Uuid {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Uuid, BoxError> {
        if *ty == Type::UUID {
            let b: [u8; 16] = raw
                .try_into()
                .map_err(|_| format!("invalid uuid of {} bytes", raw.len()))?;
            return Ok(Uuid(b));
        }
        let text = std::str::from_utf8(raw)?;
        Uuid::parse(text).ok_or_else(|| format!("invalid uuid {text:?}").into())
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID || is_textual(ty)
    }
}

/// A bind parameter. tokio-postgres sends parameters in binary format with the type the server
/// inferred for each placeholder; a `Value` encodes itself for that type when the conversion
/// makes sense (an integer for INT2/INT4/INT8/NUMERIC, a UUID as `uuid` or text, ...), so the
/// same statement works whether `INT` means INT8 (CockroachDB) or INT4 (PostgreSQL).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A string.
    Text(String),
    /// A static string (city names, enumerations).
    Str(&'static str),
    /// A UUID.
    Uuid(Uuid),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// An integer meant for a DECIMAL column.
    Decimal(i64),
    /// A point in time for a TIMESTAMP or TIMESTAMPTZ column.
    Timestamp(SystemTime),
    /// JSON text for a JSONB or JSON column.
    Json(String),
}

fn mismatch(value: &Value, ty: &Type) -> BoxError {
    format!("cannot send {value:?} as a parameter of type {ty}").into()
}

/// Binary NUMERIC encoding of an integer (base-10000 digits, scale 0).
fn encode_numeric(v: i64, out: &mut BytesMut) {
    let mut u = v.unsigned_abs();
    let mut digits = Vec::new();
    while u > 0 {
        digits.push((u % 10_000) as i16);
        u /= 10_000;
    }
    let weight = digits.len().saturating_sub(1) as i16;
    digits.reverse();
    while digits.last() == Some(&0) {
        digits.pop();
    }
    out.put_i16(digits.len() as i16);
    out.put_i16(weight);
    out.put_u16(if v < 0 { 0x4000 } else { 0 });
    out.put_u16(0);
    for d in digits {
        out.put_i16(d);
    }
}

fn encode_int(value: &Value, v: i64, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
    if *ty == Type::INT8 {
        out.put_i64(v);
    } else if *ty == Type::INT4 {
        out.put_i32(i32::try_from(v)?);
    } else if *ty == Type::INT2 {
        out.put_i16(i16::try_from(v)?);
    } else if *ty == Type::NUMERIC {
        encode_numeric(v, out);
    } else if *ty == Type::FLOAT8 {
        out.put_f64(v as f64);
    } else if *ty == Type::FLOAT4 {
        out.put_f32(v as f32);
    } else if is_textual(ty) {
        out.put_slice(v.to_string().as_bytes());
    } else {
        return Err(mismatch(value, ty));
    }
    Ok(IsNull::No)
}

/// `t` as `2006-01-02 15:04:05.999999+00:00` (Go's layout used by CockroachDB's workloads).
pub fn format_timestamp(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    let mut s = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    let micros = dt.microsecond();
    if micros > 0 {
        let frac = format!("{micros:06}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push_str("+00:00");
    s
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Text(s) => text_to_sql(self, s, ty, out),
            Value::Str(s) => text_to_sql(self, s, ty, out),
            Value::Uuid(u) => {
                if *ty == Type::UUID {
                    out.put_slice(&u.0);
                } else if is_textual(ty) {
                    out.put_slice(u.to_string().as_bytes());
                } else {
                    return Err(mismatch(self, ty));
                }
                Ok(IsNull::No)
            }
            Value::Int(v) | Value::Decimal(v) => encode_int(self, *v, ty, out),
            Value::Float(f) => {
                if *ty == Type::FLOAT8 {
                    out.put_f64(*f);
                } else if *ty == Type::FLOAT4 {
                    out.put_f32(*f as f32);
                } else if *ty == Type::NUMERIC && f.fract() == 0.0 && f.abs() < 9.0e15 {
                    encode_numeric(*f as i64, out);
                } else if is_textual(ty) {
                    out.put_slice(f.to_string().as_bytes());
                } else {
                    return Err(mismatch(self, ty));
                }
                Ok(IsNull::No)
            }
            Value::Timestamp(t) => {
                if *ty == Type::TIMESTAMP || *ty == Type::TIMESTAMPTZ {
                    t.to_sql(ty, out)
                } else if is_textual(ty) {
                    out.put_slice(format_timestamp(*t).as_bytes());
                    Ok(IsNull::No)
                } else {
                    Err(mismatch(self, ty))
                }
            }
            Value::Json(s) => {
                if *ty == Type::JSONB {
                    out.put_u8(1);
                    out.put_slice(s.as_bytes());
                } else if *ty == Type::JSON || is_textual(ty) {
                    out.put_slice(s.as_bytes());
                } else {
                    return Err(mismatch(self, ty));
                }
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn text_to_sql(value: &Value, s: &str, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
    if is_textual(ty) {
        out.put_slice(s.as_bytes());
        Ok(IsNull::No)
    } else if *ty == Type::UUID {
        let u = Uuid::parse(s).ok_or_else(|| mismatch(value, ty))?;
        out.put_slice(&u.0);
        Ok(IsNull::No)
    } else {
        Err(mismatch(value, ty))
    }
}

/// `values` as the parameter slice tokio-postgres wants.
pub fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// How many times one statement is retried after serialization failures before giving up.
pub const MAX_RETRIES: u32 = 100;

/// Whether `err` is a serialization failure (SQLSTATE 40001) that a retry may resolve.
pub fn is_retryable(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
}

/// Runs `f` (one statement in an implicit transaction) and runs it again, with a short
/// backoff, while it fails with SQLSTATE 40001, counting each retry in `retries`. Any other
/// error, or the [`MAX_RETRIES`]+1-th failure, is returned.
pub async fn retrying<T, F, Fut>(retries: &AtomicU64, mut f: F) -> Result<T, tokio_postgres::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tokio_postgres::Error>>,
{
    let mut attempt = 0u32;
    loop {
        match f().await {
            Err(e) if is_retryable(&e) && attempt < MAX_RETRIES => {
                attempt += 1;
                retries.fetch_add(1, Ordering::Relaxed);
                let backoff = Duration::from_millis(1u64 << attempt.min(7));
                tokio::time::sleep(backoff).await;
            }
            other => return other,
        }
    }
}

/// A statement's error as `what: message (SQLSTATE xxxxx)` plus the server's detail and hint.
pub fn sql_error(what: &str, err: &tokio_postgres::Error) -> anyhow::Error {
    let mut msg = format!("{what}: {}", describe_pg_error(err));
    if let Some(db) = err.as_db_error() {
        if let Some(detail) = db.detail() {
            msg.push_str(&format!("\nDETAIL: {detail}"));
        }
        if let Some(hint) = db.hint() {
            msg.push_str(&format!("\nHINT: {hint}"));
        }
    }
    anyhow!(msg)
}

/// Which SQL the workload sends where CockroachDB's dialect and PostgreSQL's differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    /// `cockroach` for servers whose `version()` names CockroachDB or tandem, `postgres` for
    /// PostgreSQL.
    Auto,
    /// CockroachDB's statements exactly as `cockroach workload` sends them (inline `INDEX`,
    /// `UPSERT`, `IFNULL`, `SPLIT AT`).
    Cockroach,
    /// Statements PostgreSQL accepts (separate `CREATE INDEX`, `INSERT ... ON CONFLICT`,
    /// `COALESCE`, no splits).
    Postgres,
}

impl Dialect {
    /// `self`, or for [`Dialect::Auto`] the dialect of the server `client` is connected to.
    pub async fn resolve(self, client: &Client) -> Dialect {
        if self != Dialect::Auto {
            return self;
        }
        match client.query_one("SELECT version()", &[]).await {
            Ok(row) => match row.try_get::<_, String>(0) {
                Ok(v) if v.contains("CockroachDB") || v.starts_with("tandem") => Dialect::Cockroach,
                Ok(v) if v.starts_with("PostgreSQL") => Dialect::Postgres,
                _ => Dialect::Cockroach,
            },
            Err(_) => Dialect::Cockroach,
        }
    }
}

/// Default URL of `tandem workload` (as `cockroach workload`).
pub const DEFAULT_URL: &str = "postgres://root@localhost:26257?sslmode=disable";

/// Parses `urls` (or [`DEFAULT_URL`] when empty), resolving certificate files against
/// `certs_dir`.
pub fn parse_urls(urls: &[String], certs_dir: Option<&Path>) -> anyhow::Result<Vec<ConnUrl>> {
    let defaults = [DEFAULT_URL.to_string()];
    let urls = if urls.is_empty() { &defaults[..] } else { urls };
    urls.iter()
        .map(|u| ConnUrl::parse_with_certs_dir(u, certs_dir).map_err(|e| anyhow!("{e}")))
        .collect()
}

/// Connects to `url`; the connection is driven by a spawned task.
pub async fn connect_client(url: &ConnUrl) -> anyhow::Result<Client> {
    let (client, _info) = connect(url).await.map_err(|e| anyhow!("{e}"))?;
    Ok(client)
}

/// Connects for database-level statements (`CREATE/DROP DATABASE`): to the URL's database
/// unless it is `target` (which may not exist yet, or is about to be dropped), falling back to
/// `defaultdb` and then `postgres` when the server says a database does not exist (3D000).
pub async fn connect_admin(url: &ConnUrl, target: &str) -> anyhow::Result<Client> {
    let mut candidates: Vec<String> = Vec::new();
    if url.database != target {
        candidates.push(url.database.clone());
    }
    for db in ["defaultdb", "postgres"] {
        if db != target && !candidates.iter().any(|c| c == db) {
            candidates.push(db.to_string());
        }
    }
    let mut last_err = None;
    for db in candidates {
        let mut u = url.clone();
        u.database = db;
        match connect(&u).await {
            Ok((client, _)) => return Ok(client),
            Err(e) => {
                let missing_db = e
                    .db_error()
                    .is_some_and(|d| *d.code() == SqlState::INVALID_CATALOG_NAME);
                if !missing_db {
                    return Err(anyhow!("{e}"));
                }
                last_err = Some(e);
            }
        }
    }
    match last_err {
        Some(e) => Err(anyhow!("{e}")),
        None => Err(anyhow!("no database to connect to")),
    }
}

/// `name` as an SQL identifier: as it is when it is a plain lowercase name, otherwise quoted.
pub fn quote_ident(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == b'_')
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Parses a Go-style duration: `0`, `500ms`, `30s`, `5m`, `1h30m`, `1.5s` (units `ns`, `us`,
/// `µs`, `ms`, `s`, `m`, `h`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "invalid duration {s:?}: expected a number at {rest:?}"
            ));
        }
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => {
                return Err(format!(
                    "invalid duration {s:?}: missing unit (e.g. 30s, 5m)"
                ));
            }
            other => return Err(format!("invalid duration {s:?}: unknown unit {other:?}")),
        };
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).map_err(|e| format!("invalid duration {s:?}: {e}"))
}
