//! Numeric builtins: rounding (`round`, `trunc`, `floor`, `ceil`; DECIMAL half away from zero,
//! FLOAT half to even, as CockroachDB documents), `sqrt`, `exp`, `ln`, `sign`, `power`, `mod`,
//! `abs` (INT overflow is 22003) and `random`.

use super::*;

/// Calls `name`, one of this module's functions (the registry routes only those here).
pub(super) fn call(name: &str, args: Vec<Datum>, _ctx: &EvalContext<'_>) -> Result<Datum> {
    let one = |a: &[Datum]| one_arg(name, a);
    Ok(match name {
        "round" | "floor" | "ceil" | "ceiling" | "trunc" | "sqrt" | "exp" | "ln" | "sign" => {
            // Strict: a NULL value or NULL places is NULL.
            if args.iter().any(Datum::is_null) {
                return Ok(Datum::Null);
            }
            let v = args.first().cloned().unwrap_or(Datum::Null);
            let places = match args.get(1) {
                Some(Datum::Int(p)) => Some(*p),
                _ => None,
            };
            // round(INT, places) rounds like the DECIMAL it is taken as (`round(1250, -2)` is
            // 1300).
            let v = match v {
                Datum::Int(i) if places.is_some() => Datum::Decimal(rust_decimal::Decimal::from(i)),
                v => v,
            };
            match v {
                Datum::Null => Datum::Null,
                Datum::Decimal(d) if !matches!(name, "sqrt" | "exp" | "ln") => {
                    let mut r = match name {
                        "round" => round_decimal(d, places.unwrap_or(0))?,
                        "floor" => d.floor(),
                        "ceil" | "ceiling" => d.ceil(),
                        "trunc" => match places {
                            Some(p) => scale_decimal(d, p, rust_decimal::RoundingStrategy::ToZero)?,
                            None => d.trunc(),
                        },
                        _ => rust_decimal::Decimal::from(if d.is_zero() {
                            0
                        } else if d.is_sign_negative() {
                            -1
                        } else {
                            1
                        }),
                    };
                    // ceil(-0.5) is 0, not -0 (PostgreSQL prints no negative zero).
                    if r.is_zero() {
                        r.set_sign_positive(true);
                    }
                    Datum::Decimal(r)
                }
                Datum::Int(i) if !matches!(name, "sqrt" | "exp" | "ln") => {
                    if name == "sign" {
                        Datum::Int(i.signum())
                    } else {
                        Datum::Int(i)
                    }
                }
                other => {
                    let f = match other.coerce(SqlType::Float)? {
                        Datum::Float(f) => f,
                        _ => f64::NAN,
                    };
                    Datum::Float(match name {
                        "round" => {
                            // Half to even (banker's rounding), as CockroachDB documents.
                            let p = places.unwrap_or(0).clamp(-400, 400) as i32;
                            if p == 0 {
                                f.round_ties_even()
                            } else {
                                let m = 10f64.powi(p);
                                let r = (f * m).round_ties_even() / m;
                                if r.is_finite() { r } else { f }
                            }
                        }
                        "floor" => f.floor(),
                        "ceil" | "ceiling" => f.ceil(),
                        "trunc" => match places.map(|p| p.clamp(-400, 400) as i32) {
                            Some(p) if p != 0 => {
                                let m = 10f64.powi(p);
                                let r = (f * m).trunc() / m;
                                if r.is_finite() { r } else { f }
                            }
                            _ => f.trunc(),
                        },
                        "sqrt" => {
                            if f < 0.0 {
                                return Err(SqlError::new(
                                    SqlState::INVALID_PARAMETER_VALUE,
                                    "cannot take square root of a negative number",
                                ));
                            }
                            f.sqrt()
                        }
                        "exp" => finite(f.exp())?,
                        "ln" if f == 0.0 => {
                            return Err(SqlError::new(
                                SqlState("2201E"),
                                "cannot take logarithm of zero",
                            ));
                        }
                        "ln" if f < 0.0 => {
                            return Err(SqlError::new(
                                SqlState("2201E"),
                                "cannot take logarithm of a negative number",
                            ));
                        }
                        "ln" => f.ln(),
                        _ => f.signum(),
                    })
                }
            }
        }
        "power" | "pow" => match args.as_slice() {
            [a, b] if !a.is_null() && !b.is_null() => {
                let x = match a.clone().coerce(SqlType::Float)? {
                    Datum::Float(f) => f,
                    _ => f64::NAN,
                };
                let y = match b.clone().coerce(SqlType::Float)? {
                    Datum::Float(f) => f,
                    _ => f64::NAN,
                };
                Datum::Float(x.powf(y))
            }
            _ => Datum::Null,
        },
        "mod" => match args.as_slice() {
            [a, b] => binary(&BinaryOperator::Modulo, a.clone(), b.clone())?,
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    "unknown signature: mod",
                ));
            }
        },
        "random" => Datum::Float(rand::random::<f64>()),
        "abs" => match one(&args)? {
            Datum::Int(i) => Datum::Int(i.checked_abs().ok_or_else(|| {
                SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range")
            })?),
            Datum::Float(f) => Datum::Float(f.abs()),
            Datum::Decimal(d) => Datum::Decimal(d.abs()),
            Datum::Null => Datum::Null,
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("unknown signature: {name}"),
                ));
            }
        },
        _ => return Err(not_here(name)),
    })
}

/// 22003 for a FLOAT result that overflowed.
fn finite(f: f64) -> Result<f64> {
    if f.is_infinite() {
        return Err(SqlError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range: overflow",
        ));
    }
    Ok(f)
}

/// The type of `round(x, places)` / `trunc(x, places)`: an INT is rounded as a DECIMAL.
pub(super) fn rounded_type(_name: &str, args: &[SqlType]) -> SqlType {
    match args.first() {
        Some(SqlType::Int) | None => SqlType::Decimal,
        Some(t) => *t,
    }
}

/// Registers the numeric builtins (`random` is volatile).
pub(super) fn register(r: &mut Reg) {
    use Param::T;
    use SqlType::*;
    let m = call;
    r.scalar(
        &["round", "trunc"],
        m,
        vec![
            o(&[T(Decimal)], Ret::Arg(0)),
            o(&[T(Decimal), T(Int)], Ret::Fn(rounded_type)),
        ],
    );
    r.scalar(
        &["floor", "ceil", "ceiling", "sign", "abs"],
        m,
        vec![o(&[T(Decimal)], Ret::Arg(0))],
    );
    r.scalar(
        &["sqrt", "exp", "ln"],
        m,
        vec![o(&[T(Float)], Ret::T(Float))],
    );
    r.scalar(
        &["power", "pow"],
        m,
        vec![o(&[T(Float), T(Float)], Ret::T(Float))],
    );
    r.scalar(&["mod"], m, vec![o(&[T(Decimal), T(Decimal)], Ret::Common)]);
    r.add(
        &["random"],
        Class::Scalar,
        Volatility::Volatile,
        Some(m),
        vec![o(&[], Ret::T(Float))],
    );
}
