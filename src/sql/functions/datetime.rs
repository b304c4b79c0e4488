//! Date and time builtins: the statement's clock (`now()` and its aliases, `current_date`,
//! `localtimestamp`), the wall clock (`clock_timestamp()`), and `date_trunc` over TIMESTAMP,
//! TIMESTAMPTZ and DATE (a DATE is truncated as midnight UTC and gives a TIMESTAMPTZ, as in
//! CockroachDB) for every unit PostgreSQL knows from microseconds to millennium; an unknown
//! unit is 22023 "unsupported timespan", never a guess.

use super::*;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};

/// Calls `name`, one of this module's functions (the registry routes only those here).
pub(super) fn call(name: &str, args: Vec<Datum>, ctx: &EvalContext<'_>) -> Result<Datum> {
    Ok(match name {
        "current_date" => Datum::Date((ctx.now_nanos / 86_400_000_000_000) as i32),
        "localtimestamp" => Datum::Timestamp((ctx.now_nanos / 1000) as i64),
        "date_trunc" => match args.as_slice() {
            [Datum::Null, _] | [_, Datum::Null] => Datum::Null,
            [Datum::String(unit), Datum::Timestamp(t)] => Datum::Timestamp(truncate(unit, *t)?),
            [Datum::String(unit), Datum::TimestampTz(t)] => Datum::TimestampTz(truncate(unit, *t)?),
            [Datum::String(unit), Datum::Date(d)] => {
                Datum::TimestampTz(truncate(unit, i64::from(*d) * MICROS_PER_DAY)?)
            }
            _ => return Err(signature_error(name, &args)),
        },
        "now" | "current_timestamp" | "statement_timestamp" | "transaction_timestamp" => {
            Datum::TimestampTz((ctx.now_nanos / 1000) as i64)
        }
        "clock_timestamp" => Datum::TimestampTz(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64),
        ),
        _ => return Err(not_here(name)),
    })
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The type of `date_trunc(unit, v)`: a DATE gives a TIMESTAMPTZ, a timestamp its own type.
pub(super) fn truncated_type(_name: &str, args: &[SqlType]) -> SqlType {
    match args.get(1) {
        Some(t @ SqlType::Timestamp) => *t,
        _ => SqlType::TimestampTz,
    }
}

/// `micros` (since the epoch) truncated to the start of its `unit`.
fn truncate(unit: &str, micros: i64) -> Result<i64> {
    let out_of_range = || {
        SqlError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "timestamp out of range",
        )
    };
    let fixed = |unit_micros: i64| Ok(micros - micros.rem_euclid(unit_micros));
    let unit = unit.to_lowercase();
    match unit.as_str() {
        "microsecond" | "microseconds" => return Ok(micros),
        "millisecond" | "milliseconds" => return fixed(1_000),
        "second" | "seconds" => return fixed(1_000_000),
        "minute" | "minutes" => return fixed(60_000_000),
        "hour" | "hours" => return fixed(3_600_000_000),
        "day" | "days" => return fixed(MICROS_PER_DAY),
        _ => {}
    }
    let dt = DateTime::from_timestamp_micros(micros)
        .ok_or_else(out_of_range)?
        .naive_utc();
    let day = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d).ok_or_else(out_of_range);
    let (y, m) = (dt.year(), dt.month());
    let start = match unit.as_str() {
        "week" | "weeks" => {
            dt.date() - chrono::Days::new(u64::from(dt.weekday().num_days_from_monday()))
        }
        "month" | "months" => day(y, m, 1)?,
        "quarter" => day(y, (m - 1) / 3 * 3 + 1, 1)?,
        "year" | "years" => day(y, 1, 1)?,
        "decade" => day(y.div_euclid(10) * 10, 1, 1)?,
        // Centuries and millennia start at year 1, 101, ... (PostgreSQL's rule).
        "century" => day((y - 1).div_euclid(100) * 100 + 1, 1, 1)?,
        "millennium" => day((y - 1).div_euclid(1000) * 1000 + 1, 1, 1)?,
        other => {
            return Err(SqlError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("unsupported timespan: {other}"),
            ));
        }
    };
    Ok(NaiveDateTime::from(start).and_utc().timestamp_micros())
}

/// Registers the date and time builtins (the clock readers are stable, `clock_timestamp` volatile).
pub(super) fn register(r: &mut Reg) {
    use Param::T;
    use SqlType::*;
    let d = call;
    r.scalar(
        &["date_trunc"],
        d,
        vec![o(&[T(String), T(TimestampTz)], Ret::Fn(truncated_type))],
    );
    let stable = |r: &mut Reg, names: &[&'static str], ty: SqlType| {
        r.add(
            names,
            Class::Scalar,
            Volatility::Stable,
            Some(d),
            vec![o(&[], Ret::T(ty))],
        )
    };
    stable(
        r,
        &[
            "now",
            "current_timestamp",
            "statement_timestamp",
            "transaction_timestamp",
        ],
        TimestampTz,
    );
    stable(r, &["current_date"], Date);
    stable(r, &["localtimestamp"], Timestamp);
    r.add(
        &["clock_timestamp"],
        Class::Scalar,
        Volatility::Volatile,
        Some(d),
        vec![o(&[], Ret::T(TimestampTz))],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
            .expect("timestamp")
            .and_utc()
            .timestamp_micros()
    }

    #[test]
    fn truncates_to_every_unit() {
        let t = ts("2024-08-14 13:45:12.345678");
        let cases = [
            ("microseconds", "2024-08-14 13:45:12.345678"),
            ("milliseconds", "2024-08-14 13:45:12.345"),
            ("second", "2024-08-14 13:45:12"),
            ("minute", "2024-08-14 13:45:00"),
            ("hour", "2024-08-14 13:00:00"),
            ("day", "2024-08-14 00:00:00"),
            ("week", "2024-08-12 00:00:00"),
            ("month", "2024-08-01 00:00:00"),
            ("quarter", "2024-07-01 00:00:00"),
            ("YEAR", "2024-01-01 00:00:00"),
            ("decade", "2020-01-01 00:00:00"),
            ("century", "2001-01-01 00:00:00"),
            ("millennium", "2001-01-01 00:00:00"),
        ];
        for (unit, want) in cases {
            assert_eq!(truncate(unit, t).expect(unit), ts(want), "{unit}");
        }
        // Before the epoch, and a century boundary.
        assert_eq!(
            truncate("day", ts("1969-12-31 23:00:00")).unwrap(),
            ts("1969-12-31 00:00:00")
        );
        assert_eq!(
            truncate("century", ts("2000-06-01 00:00:00")).unwrap(),
            ts("1901-01-01 00:00:00")
        );
        assert!(truncate("fortnight", t).is_err());
    }
}
