//! Dates, times, timestamps and intervals in text: PostgreSQL's input forms parsed into
//! tandem's representations (days or microseconds since the Unix epoch, months/days/micros for
//! intervals) and printed the way PostgreSQL prints them (TIMESTAMPTZ in UTC). A value that does
//! not parse is `None`; callers turn that into 22P02/22007.

use super::*;

const EPOCH_DATE: chrono::NaiveDate = match chrono::NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a valid date"),
};

/// Parses a timestamp (`2006-01-02 15:04:05.999999[-07:00]`, ISO with `T`, or a date) into
/// microseconds since the epoch (UTC when a zone is given).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let t = s.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp_micros());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f %:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ] {
        if let Ok(dt) = chrono::DateTime::parse_from_str(t, f) {
            return Some(dt.timestamp_micros());
        }
    }
    let t2 = t
        .trim_end_matches(" UTC")
        .trim_end_matches('Z')
        .trim_end_matches("+00");
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(t2, f) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    parse_date(t2).map(|d| i64::from(d) * 86_400_000_000)
}

/// Parses `YYYY-MM-DD` into days since the epoch.
pub fn parse_date(s: &str) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    i32::try_from((d - EPOCH_DATE).num_days()).ok()
}

/// Parses `HH:MM[:SS[.ffffff]]` into microseconds since midnight.
pub fn parse_time(s: &str) -> Option<i64> {
    let t = chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M:%S%.f")
        .or_else(|_| chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M"))
        .ok()?;
    Some((t - chrono::NaiveTime::MIN).num_microseconds().unwrap_or(0))
}

/// Formats a timestamp like PostgreSQL (`2024-01-02 03:04:05.123456`, `+00` for TIMESTAMPTZ).
pub fn format_timestamp(micros: i64, tz: bool) -> String {
    let Some(dt) = chrono::DateTime::from_timestamp_micros(micros) else {
        return micros.to_string();
    };
    let mut s = dt.format("%Y-%m-%d %H:%M:%S").to_string();
    let frac = micros.rem_euclid(1_000_000);
    if frac != 0 {
        let f = format!("{frac:06}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    if tz {
        s.push_str("+00");
    }
    s
}

/// Formats a date (`YYYY-MM-DD`).
pub fn format_date(days: i32) -> String {
    (EPOCH_DATE + chrono::Duration::days(i64::from(days)))
        .format("%Y-%m-%d")
        .to_string()
}

/// Formats a time of day.
pub fn format_time(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let mut s = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if frac != 0 {
        s.push('.');
        s.push_str(format!("{frac:06}").trim_end_matches('0'));
    }
    s
}

/// Formats an interval like PostgreSQL (`1 year 2 mons 3 days 04:05:06`).
pub fn format_interval(months: i32, days: i32, micros: i64) -> String {
    let mut parts = Vec::new();
    let (y, m) = (months / 12, months % 12);
    let plural =
        |n: i64, one: &str, many: &str| format!("{n} {}", if n.abs() == 1 { one } else { many });
    if y != 0 {
        parts.push(plural(i64::from(y), "year", "years"));
    }
    if m != 0 {
        parts.push(plural(i64::from(m), "mon", "mons"));
    }
    if days != 0 {
        parts.push(plural(i64::from(days), "day", "days"));
    }
    if micros != 0 || parts.is_empty() {
        let neg = micros < 0;
        let a = micros.unsigned_abs();
        let secs = a / 1_000_000;
        let frac = a % 1_000_000;
        let mut t = format!(
            "{}{:02}:{:02}:{:02}",
            if neg { "-" } else { "" },
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        );
        if frac != 0 {
            t.push('.');
            t.push_str(format!("{frac:06}").trim_end_matches('0'));
        }
        parts.push(t);
    }
    parts.join(" ")
}

/// The length of an interval text in microseconds, a month counting 30 days and a day 24 hours
/// (as PostgreSQL's `extract(epoch FROM interval)`); `None` if it is not an interval.
pub fn interval_total_micros(s: &str) -> Option<i128> {
    match parse_interval(s)? {
        Datum::Interval {
            months,
            days,
            micros,
        } => Some(
            i128::from(months) * 30 * 86_400_000_000
                + i128::from(days) * 86_400_000_000
                + i128::from(micros),
        ),
        _ => None,
    }
}

/// Parses intervals like `1 day`, `2 hours 30 minutes`, `1h30m`, `-10s`, `00:05:00`, `3 days 04:00:00`.
pub fn parse_interval(s: &str) -> Option<Datum> {
    let (mut months, mut days, mut micros) = (0i64, 0i64, 0i64);
    let t = s.trim().to_ascii_lowercase();
    if t.is_empty() {
        return None;
    }
    let mut tokens: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in t.chars() {
        if c.is_whitespace() {
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
        } else if !cur.is_empty()
            && (c.is_ascii_alphabetic()
                != cur.chars().last().is_some_and(|l| l.is_ascii_alphabetic()))
            && !(c == ':' || cur.ends_with(':'))
            && c != '.'
            && !cur.ends_with('.')
        {
            tokens.push(std::mem::take(&mut cur));
            cur.push(c);
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let mut i = 0;
    while i < tokens.len() {
        let tok = &tokens[i];
        if tok.contains(':') {
            let neg = tok.starts_with('-');
            let parts: Vec<&str> = tok.trim_start_matches('-').split(':').collect();
            let (h, m, sec): (f64, f64, f64) = match parts.as_slice() {
                [h, m] => (h.parse().ok()?, m.parse().ok()?, 0.0),
                [h, m, s] => (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?),
                _ => return None,
            };
            let v = ((h * 3600.0 + m * 60.0 + sec) * 1e6) as i64;
            micros += if neg { -v } else { v };
            i += 1;
            continue;
        }
        let n: f64 = tok.parse().ok()?;
        let unit = tokens.get(i + 1).map(String::as_str).unwrap_or("s");
        let u = match unit {
            "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => "millisecond",
            "us" | "usec" | "usecs" | "microsecond" | "microseconds" => "microsecond",
            "s" | "sec" | "secs" | "second" | "seconds" => "second",
            other => other.trim_end_matches('s'),
        };
        match u {
            "year" | "y" | "yr" => months += (n * 12.0) as i64,
            "mon" | "month" | "mo" => months += n as i64,
            "week" | "w" => days += (n * 7.0) as i64,
            "day" | "d" => days += n as i64,
            "hour" | "h" | "hr" => micros += (n * 3_600_000_000.0) as i64,
            "minute" | "min" | "m" => micros += (n * 60_000_000.0) as i64,
            "second" | "sec" | "" => micros += (n * 1_000_000.0) as i64,
            "millisecond" => micros += (n * 1000.0) as i64,
            "microsecond" => micros += n as i64,
            _ => return None,
        }
        i += 2;
    }
    Some(Datum::Interval {
        months: i32::try_from(months).ok()?,
        days: i32::try_from(days).ok()?,
        micros,
    })
}
