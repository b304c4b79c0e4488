//! Text forms of scalar values: floats (NaN, Infinity), booleans, bytea hex, decimals and JSONB
//! in PostgreSQL's canonical spacing. A value that does not parse is `None`.

/// Parses a float the way PostgreSQL does (including NaN and Infinity).
pub fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "infinity" | "+infinity" | "inf" => Some(f64::INFINITY),
        "-infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ => t.parse().ok(),
    }
}

/// Parses a boolean literal the way PostgreSQL does.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "yes" | "y" | "on" | "1" => Some(true),
        "f" | "false" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

pub(super) fn parse_bytea(s: &str) -> Vec<u8> {
    if let Some(hex) = s.strip_prefix("\\x") {
        let mut out = Vec::with_capacity(hex.len() / 2);
        let b = hex.as_bytes();
        let mut i = 0;
        while i + 1 < b.len() {
            match u8::from_str_radix(&hex[i..i + 2], 16) {
                Ok(v) => out.push(v),
                Err(_) => return s.as_bytes().to_vec(),
            }
            i += 2;
        }
        return out;
    }
    s.as_bytes().to_vec()
}

/// PostgreSQL's float8 text output (shortest round-trip form).
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        // The shortest digits that read back as the same float (as PostgreSQL 12+ prints
        // FLOAT8), in fixed notation for decimal exponents -4..14 and as `1.5e-05` / `1e+15`
        // outside them.
        let sci = format!("{f:e}");
        let Some((mantissa, exp)) = sci.split_once('e') else {
            return sci;
        };
        let exp: i32 = exp.parse().unwrap_or(0);
        if (-4..15).contains(&exp) {
            format!("{f}")
        } else {
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
        }
    }
}

/// Parses a decimal literal.
pub fn parse_decimal(s: &str) -> Option<rust_decimal::Decimal> {
    let t = s.trim();
    t.parse::<rust_decimal::Decimal>()
        .ok()
        .or_else(|| rust_decimal::Decimal::from_scientific(t).ok())
}

/// Canonical JSONB text: PostgreSQL's spacing (`{"a": 1, "b": [1, 2]}`), keys sorted.
pub fn canonical_json(s: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(s).ok()?;
    Some(json_text(&v))
}

/// Formats a JSON value the way PostgreSQL prints JSONB.
pub fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
            let inner: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}: {}",
                        serde_json::Value::String((*k).clone()),
                        json_text(&m[*k])
                    )
                })
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        serde_json::Value::Array(a) => format!(
            "[{}]",
            a.iter().map(json_text).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}
