//! Identifier builtins: random UUIDs (`gen_random_uuid` and aliases) and `unique_rowid()`.

use super::*;

/// Calls `name`, one of this module's functions (the registry routes only those here).
pub(super) fn call(name: &str, _args: Vec<Datum>, _ctx: &EvalContext<'_>) -> Result<Datum> {
    Ok(match name {
        "gen_random_uuid" | "uuid_generate_v4" | "uuid_v4" => {
            Datum::Uuid(*uuid::Uuid::new_v4().as_bytes())
        }
        "unique_rowid" => Datum::Int(unique_rowid()),
        _ => return Err(not_here(name)),
    })
}

/// Registers the identifier builtins (volatile).
pub(super) fn register(r: &mut Reg) {
    use SqlType::*;
    r.add(
        &["gen_random_uuid", "uuid_generate_v4", "uuid_v4"],
        Class::Scalar,
        Volatility::Volatile,
        Some(call),
        vec![o(&[], Ret::T(Uuid))],
    );
    r.add(
        &["unique_rowid"],
        Class::Scalar,
        Volatility::Volatile,
        Some(call),
        vec![o(&[], Ret::T(Int))],
    );
}
