//! JSON builtins: `jsonb_typeof`, `jsonb_build_object`, `to_jsonb` (strict: SQL NULL in, SQL
//! NULL out) and their `json_` spellings.

use super::*;

/// Calls `name`, one of this module's functions (the registry routes only those here).
pub(super) fn call(name: &str, args: Vec<Datum>, _ctx: &EvalContext<'_>) -> Result<Datum> {
    let one = |a: &[Datum]| one_arg(name, a);
    Ok(match name {
        "jsonb_typeof" | "json_typeof" => match one(&args)? {
            Datum::Json(j) => Datum::String(
                match serde_json::from_str::<serde_json::Value>(&j)
                    .map_err(|e| SqlError::internal(e.to_string()))?
                {
                    serde_json::Value::Object(_) => "object",
                    serde_json::Value::Array(_) => "array",
                    serde_json::Value::String(_) => "string",
                    serde_json::Value::Number(_) => "number",
                    serde_json::Value::Bool(_) => "boolean",
                    serde_json::Value::Null => "null",
                }
                .into(),
            ),
            _ => Datum::Null,
        },
        "jsonb_build_object" | "json_build_object" => {
            let mut m = serde_json::Map::new();
            for pair in args.chunks(2) {
                if let [k, v] = pair {
                    m.insert(k.to_text().unwrap_or_default(), datum_to_json(v));
                }
            }
            Datum::Json(crate::sql::types::json_text(&serde_json::Value::Object(m)))
        }
        "to_jsonb" | "to_json" => match one(&args)? {
            // Strict: SQL NULL in, SQL NULL out (not the JSON `null`).
            Datum::Null => Datum::Null,
            v => Datum::Json(crate::sql::types::json_text(&datum_to_json(&v))),
        },
        _ => return Err(not_here(name)),
    })
}

/// Registers the JSON builtins.
pub(super) fn register(r: &mut Reg) {
    use Param::{Any, T};
    use SqlType::*;
    let text = Ret::T(String);
    let j = call;
    r.scalar(
        &["jsonb_typeof", "json_typeof"],
        j,
        vec![o(&[T(Jsonb)], text)],
    );
    r.scalar(
        &["jsonb_build_object", "json_build_object"],
        j,
        vec![v(&[Any], Ret::T(Jsonb))],
    );
    r.scalar(&["to_jsonb", "to_json"], j, vec![o(&[Any], Ret::T(Jsonb))]);
}
