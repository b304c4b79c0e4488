//! Serde deserializers for the configuration's typed fields: each accepts the TOML value or the
//! string an environment variable or flag carries, and parses it with the functions of
//! [`super::values`](super::values). A bad value becomes a serde error naming what was expected.

use super::*;

// ---------------------------------------------------------------------------------------------
// Field deserializers. All take strings (environment variables and flags are strings) and the
// natural TOML type.

pub(super) struct FnVisitor<F> {
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

pub(super) fn de_with<'de, D: Deserializer<'de>, T>(
    d: D,
    expecting: &'static str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    d.deserialize_any(FnVisitor { expecting, parse })
}

pub(super) fn de_sql_addr<'de, D: Deserializer<'de>>(d: D) -> Result<HostPort, D::Error> {
    de_with(d, "an address like \"localhost:26257\"", |s| {
        HostPort::parse(s, DEFAULT_SQL_PORT)
    })
}

pub(super) fn de_opt_sql_addr<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<HostPort>, D::Error> {
    de_sql_addr(d).map(Some)
}

pub(super) fn de_http_addr<'de, D: Deserializer<'de>>(d: D) -> Result<HostPort, D::Error> {
    de_with(d, "an address like \"localhost:8080\"", |s| {
        HostPort::parse(s, DEFAULT_HTTP_PORT)
    })
}

pub(super) fn de_memory<'de, D: Deserializer<'de>>(d: D) -> Result<MemorySize, D::Error> {
    de_with(
        d,
        "a size like \"128MiB\", \"25%\" or a number of bytes",
        MemorySize::parse,
    )
}

pub(super) fn de_byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    de_with(
        d,
        "a size like \"64MiB\" or a number of bytes",
        parse_byte_size,
    )
}

pub(super) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    de_with(d, "a duration like \"200ms\" or \"4h\"", |s| {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "invalid duration {s:?}: give a unit, e.g. \"{s}s\" or \"{s}ms\""
            ));
        }
        parse_duration(s)
    })
}

pub(super) fn de_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
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

pub(super) fn de_join<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<HostPort>, D::Error> {
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
pub(super) fn de_settings<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
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
