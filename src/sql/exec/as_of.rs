//! `AS OF SYSTEM TIME` values: the timestamp a relative interval, a decimal HLC timestamp, a
//! timestamp string or `follower_read_timestamp()` names.

use super::*;

/// The timestamp an `AS OF SYSTEM TIME` value names: a negative interval relative to now
/// (`'-10s'`), a decimal HLC timestamp, a timestamp string, or `follower_read_timestamp()`.
pub fn as_of_timestamp(
    now: crate::clock::Timestamp,
    time: &str,
) -> Result<crate::clock::Timestamp> {
    let t = time.trim();
    let bad = || {
        SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("AS OF SYSTEM TIME: value is neither timestamp, decimal, nor interval: {t}"),
        )
    };
    let ts = if t.eq_ignore_ascii_case("follower_read_timestamp()") {
        now.sub_duration(std::time::Duration::from_millis(4800))
    } else if t.starts_with('-') {
        let total = crate::sql::types::interval_total_micros(t).ok_or_else(bad)?;
        if total >= 0 {
            return Err(SqlError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                "AS OF SYSTEM TIME: interval value must be negative",
            ));
        }
        let back = u64::try_from(-total).map_err(|_| bad())?;
        now.sub_duration(std::time::Duration::from_micros(back))
    } else {
        absolute_timestamp(t).ok_or_else(bad)?
    };
    if ts > now {
        return Err(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("AS OF SYSTEM TIME: cannot specify timestamp in the future ({ts} > {now})"),
        ));
    }
    Ok(ts)
}

/// A timestamp written as CockroachDB's decimal HLC form (`<wall nanos>.<logical>`) or as a
/// timestamp string (`2026-01-01 00:00:00`).
pub fn absolute_timestamp(t: &str) -> Option<crate::clock::Timestamp> {
    use crate::clock::Timestamp;
    if t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Timestamp::parse_decimal(t);
    }
    let micros = u64::try_from(crate::sql::types::parse_timestamp(t)?).ok()?;
    Some(Timestamp::from_wall(micros.saturating_mul(1000)))
}
