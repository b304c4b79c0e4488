//! Conditional builtins: `nullif`, `coalesce`/`ifnull`, `greatest`/`least` (NULLs ignored, SQL
//! comparison of mixed numeric types).

use super::*;

/// Calls `name`, one of this module's functions (the registry routes only those here).
pub(super) fn call(name: &str, args: Vec<Datum>, _ctx: &EvalContext<'_>) -> Result<Datum> {
    Ok(match name {
        "nullif" => match args.as_slice() {
            [a, b] => {
                if compare(a, b)? == Some(std::cmp::Ordering::Equal) {
                    Datum::Null
                } else {
                    a.clone()
                }
            }
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    "unknown signature: nullif",
                ));
            }
        },
        "greatest" | "least" => {
            let mut best: Option<Datum> = None;
            for a in args.into_iter().filter(|a| !a.is_null()) {
                best = Some(match best {
                    None => a,
                    Some(b) => {
                        let o = compare(&a, &b)?.unwrap_or(std::cmp::Ordering::Equal);
                        let better = if name == "greatest" {
                            o == std::cmp::Ordering::Greater
                        } else {
                            o == std::cmp::Ordering::Less
                        };
                        if better { a } else { b }
                    }
                });
            }
            best.unwrap_or(Datum::Null)
        }
        "coalesce" | "ifnull" => args
            .into_iter()
            .find(|a| !a.is_null())
            .unwrap_or(Datum::Null),
        _ => return Err(not_here(name)),
    })
}

/// Registers the conditional builtins.
pub(super) fn register(r: &mut Reg) {
    use Param::Any;
    let c = call;
    r.scalar(&["nullif"], c, vec![o(&[Any, Any], Ret::Arg(0))]);
    r.scalar(
        &["coalesce", "ifnull", "greatest", "least"],
        c,
        vec![v(&[Any], Ret::Common)],
    );
}
