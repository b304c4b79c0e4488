//! Array functions: `array_length`, `cardinality`, `array_upper`/`array_lower`,
//! `array_append`/`array_prepend`/`array_cat`, `array_remove`/`array_replace`,
//! `array_position`/`array_positions`, `array_to_string` and `string_to_array`.
//!
//! Arrays are one-dimensional and 1-based; asking for another dimension gives NULL, as
//! PostgreSQL does for a dimension an array does not have. A string argument that looks like an
//! array literal (`'{a,b}'`) is parsed as one. Wrong argument counts or types are 42883.

use super::super::error::Result;
use super::super::expr::EvalContext;
use super::super::operators::compare;
use super::super::types::{Datum, ElemType, SqlType, parse_array};
use super::registry::{Param, Reg, Ret, o};
use super::signature_error;

/// The static result type of array function `name` whose first argument has type `first`.
pub fn result_type(name: &str, first: Option<SqlType>, second: Option<SqlType>) -> SqlType {
    let text_array = SqlType::Array(ElemType::String);
    match name {
        "array_length" | "cardinality" | "array_upper" | "array_lower" | "array_ndims"
        | "array_position" => SqlType::Int,
        "array_positions" => SqlType::Array(ElemType::Int),
        "array_to_string" => SqlType::String,
        "string_to_array" => text_array,
        "array_prepend" => second.filter(|t| t.elem().is_some()).unwrap_or(text_array),
        _ => first.filter(|t| t.elem().is_some()).unwrap_or(text_array),
    }
}

/// An argument as array elements: an array, or a string in array text form. `Ok(None)` for
/// NULL.
fn elements(name: &str, d: &Datum, args: &[Datum]) -> Result<Option<Vec<Datum>>> {
    match d {
        Datum::Null => Ok(None),
        Datum::Array(items) => Ok(Some(items.clone())),
        Datum::String(s) if s.trim_start().starts_with('{') => parse_array(s).map(Some),
        _ => Err(signature_error(name, args)),
    }
}

fn dimension_one(d: &Datum) -> bool {
    matches!(d, Datum::Int(1))
}

fn equal(a: &Datum, b: &Datum) -> Result<bool> {
    Ok(match (a.is_null(), b.is_null()) {
        (true, true) => true,
        (false, false) => compare(a, b)? == Some(std::cmp::Ordering::Equal),
        _ => false,
    })
}

/// `x` converted to the element type of `items` (an untyped string literal appended to an
/// `INT8[]` becomes an integer).
fn like_elements(x: Datum, items: &[Datum]) -> Result<Datum> {
    match items.iter().find_map(Datum::sql_type) {
        Some(t) if x.sql_type() != Some(t) && !x.is_null() => x.coerce(t),
        _ => Ok(x),
    }
}

/// The arguments of one array function call, with the checks every one of them makes.
struct Call<'a> {
    name: &'a str,
    args: &'a [Datum],
}

impl Call<'_> {
    /// Argument `i` as array elements (`None` for NULL); 42883 when it is missing or no array.
    fn arr(&self, i: usize) -> Result<Option<Vec<Datum>>> {
        match self.args.get(i) {
            Some(d) => elements(self.name, d, self.args),
            None => Err(signature_error(self.name, self.args)),
        }
    }

    /// 42883 unless the call has `lo..=hi` arguments.
    fn arity(&self, lo: usize, hi: usize) -> Result<()> {
        if self.args.len() < lo || self.args.len() > hi {
            return Err(signature_error(self.name, self.args));
        }
        Ok(())
    }
}

/// Calls array function `name` (the registry routes only array functions here).
pub fn call(name: &str, args: Vec<Datum>) -> Result<Datum> {
    let c = Call { name, args: &args };
    match name {
        "array_length" | "array_upper" | "array_lower" | "array_ndims" | "cardinality" => {
            dimensions(&c)
        }
        "array_append" | "array_prepend" | "array_cat" => concatenate(&c),
        "array_remove" | "array_replace" => remove_or_replace(&c),
        "array_position" | "array_positions" => positions(&c),
        "array_to_string" => array_to_string(&c),
        "string_to_array" => string_to_array(&c),
        _ => Err(signature_error(name, &args)),
    }
}

/// `array_length`, `array_upper`, `array_lower` (dimension 1 only), `array_ndims` and
/// `cardinality`; NULL for an empty or NULL array.
fn dimensions(c: &Call<'_>) -> Result<Datum> {
    let (name, args) = (c.name, c.args);
    Ok(match name {
        "array_length" | "array_upper" | "array_lower" => {
            c.arity(2, 2)?;
            let Some(items) = c.arr(0)? else {
                return Ok(Datum::Null);
            };
            if items.is_empty() || !dimension_one(&args[1]) {
                return Ok(Datum::Null);
            }
            match name {
                "array_lower" => Datum::Int(1),
                _ => Datum::Int(items.len() as i64),
            }
        }
        "array_ndims" => {
            c.arity(1, 1)?;
            match c.arr(0)? {
                Some(items) if !items.is_empty() => Datum::Int(1),
                _ => Datum::Null,
            }
        }
        "cardinality" => {
            c.arity(1, 1)?;
            c.arr(0)?
                .map_or(Datum::Null, |items| Datum::Int(items.len() as i64))
        }
        _ => return Err(signature_error(name, args)),
    })
}

/// `array_append`, `array_prepend` (the element takes the array's element type) and
/// `array_cat` (NULL only when both are).
fn concatenate(c: &Call<'_>) -> Result<Datum> {
    let (name, args) = (c.name, c.args);
    Ok(match name {
        "array_append" => {
            c.arity(2, 2)?;
            let mut items = c.arr(0)?.unwrap_or_default();
            let x = like_elements(args[1].clone(), &items)?;
            items.push(x);
            Datum::Array(items)
        }
        "array_prepend" => {
            c.arity(2, 2)?;
            let items = c.arr(1)?.unwrap_or_default();
            let mut out = vec![like_elements(args[0].clone(), &items)?];
            out.extend(items);
            Datum::Array(out)
        }
        "array_cat" => {
            c.arity(2, 2)?;
            match (c.arr(0)?, c.arr(1)?) {
                (None, None) => Datum::Null,
                (a, b) => Datum::Array(a.into_iter().chain(b).flatten().collect()),
            }
        }
        _ => return Err(signature_error(name, args)),
    })
}

/// `array_remove` and `array_replace`: every element equal to the value (NULL equals NULL).
fn remove_or_replace(c: &Call<'_>) -> Result<Datum> {
    let (name, args) = (c.name, c.args);
    Ok(match name {
        "array_remove" => {
            c.arity(2, 2)?;
            let Some(items) = c.arr(0)? else {
                return Ok(Datum::Null);
            };
            let x = like_elements(args[1].clone(), &items)?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if !equal(&item, &x)? {
                    out.push(item);
                }
            }
            Datum::Array(out)
        }
        "array_replace" => {
            c.arity(3, 3)?;
            let Some(items) = c.arr(0)? else {
                return Ok(Datum::Null);
            };
            let from = like_elements(args[1].clone(), &items)?;
            let to = like_elements(args[2].clone(), &items)?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(if equal(&item, &from)? {
                    to.clone()
                } else {
                    item
                });
            }
            Datum::Array(out)
        }
        _ => return Err(signature_error(name, args)),
    })
}

/// `array_position(a, x [, start])` (the first 1-based index of `x`) and `array_positions`
/// (all of them).
fn positions(c: &Call<'_>) -> Result<Datum> {
    let (name, args) = (c.name, c.args);
    Ok(match name {
        "array_position" | "array_positions" => {
            c.arity(2, if name == "array_position" { 3 } else { 2 })?;
            let Some(items) = c.arr(0)? else {
                return Ok(Datum::Null);
            };
            let x = like_elements(args[1].clone(), &items)?;
            let start = match args.get(2) {
                Some(Datum::Int(s)) => usize::try_from(*s - 1).unwrap_or(0),
                Some(Datum::Null) => return Ok(Datum::Null),
                Some(_) => return Err(signature_error(name, c.args)),
                None => 0,
            };
            let mut hits = Vec::new();
            for (i, item) in items.iter().enumerate().skip(start) {
                if equal(item, &x)? {
                    hits.push(Datum::Int(i as i64 + 1));
                    if name == "array_position" {
                        break;
                    }
                }
            }
            if name == "array_positions" {
                Datum::Array(hits)
            } else {
                hits.into_iter().next().unwrap_or(Datum::Null)
            }
        }
        _ => return Err(signature_error(name, args)),
    })
}

/// `array_to_string(a, sep [, null])`: NULL elements left out unless `null` spells them.
fn array_to_string(c: &Call<'_>) -> Result<Datum> {
    let args = c.args;
    c.arity(2, 3)?;
    let Some(items) = c.arr(0)? else {
        return Ok(Datum::Null);
    };
    let Some(sep) = args[1].to_text() else {
        return Ok(Datum::Null);
    };
    let null = args.get(2).and_then(Datum::to_text);
    let parts: Vec<String> = items
        .iter()
        .filter_map(|d| d.to_text().or_else(|| null.clone()))
        .collect();
    Ok(Datum::String(parts.join(&sep)))
}

/// `string_to_array(s, sep [, null])`: a NULL separator splits into characters, an empty
/// one keeps `s` whole; pieces equal to `null` are NULL.
fn string_to_array(c: &Call<'_>) -> Result<Datum> {
    let args = c.args;
    c.arity(2, 3)?;
    let Some(s) = args[0].to_text() else {
        return Ok(Datum::Null);
    };
    let null = args.get(2).and_then(Datum::to_text);
    let pieces: Vec<String> = match args[1].to_text() {
        None => s.chars().map(String::from).collect(),
        Some(sep) if sep.is_empty() => vec![s.clone()],
        Some(sep) => s.split(sep.as_str()).map(String::from).collect(),
    };
    if s.is_empty() {
        return Ok(Datum::Array(Vec::new()));
    }
    Ok(Datum::Array(
        pieces
            .into_iter()
            .map(|p| {
                if null.as_deref() == Some(p.as_str()) {
                    Datum::Null
                } else {
                    Datum::String(p)
                }
            })
            .collect(),
    ))
}

/// [`call`] as the registry calls it (array builtins do not read the context).
fn builtin(name: &str, args: Vec<Datum>, _ctx: &EvalContext<'_>) -> Result<Datum> {
    call(name, args)
}

/// Registers the array builtins (result types by [`result_type`]).
pub(super) fn register(r: &mut Reg) {
    use Param::{Any, AnyArray, T};
    use SqlType::*;
    let a = builtin;
    let arr = Ret::Fn(|name, args| result_type(name, args.first().copied(), args.get(1).copied()));
    r.scalar(
        &["array_length", "array_upper", "array_lower"],
        a,
        vec![o(&[AnyArray, T(Int)], arr)],
    );
    r.scalar(
        &["cardinality", "array_ndims"],
        a,
        vec![o(&[AnyArray], arr)],
    );
    r.scalar(
        &[
            "array_append",
            "array_remove",
            "array_position",
            "array_positions",
        ],
        a,
        vec![o(&[AnyArray, Any], arr)],
    );
    r.scalar(&["array_prepend"], a, vec![o(&[Any, AnyArray], arr)]);
    r.scalar(&["array_cat"], a, vec![o(&[AnyArray, AnyArray], arr)]);
    r.scalar(&["array_replace"], a, vec![o(&[AnyArray, Any, Any], arr)]);
    r.scalar(
        &["array_to_string"],
        a,
        vec![
            o(&[AnyArray, T(String)], arr),
            o(&[AnyArray, T(String), T(String)], arr),
        ],
    );
    r.scalar(
        &["string_to_array"],
        a,
        vec![
            o(&[T(String), T(String)], arr),
            o(&[T(String), T(String), T(String)], arr),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::sqlstate::SqlState;

    fn ints(v: &[i64]) -> Datum {
        Datum::Array(v.iter().map(|i| Datum::Int(*i)).collect())
    }

    #[test]
    fn array_functions_follow_postgres() {
        assert_eq!(
            call("array_length", vec![ints(&[1, 2, 3]), Datum::Int(1)]).expect("len"),
            Datum::Int(3)
        );
        assert_eq!(
            call("array_length", vec![ints(&[]), Datum::Int(1)]).expect("len"),
            Datum::Null
        );
        assert_eq!(
            call("array_append", vec![ints(&[1]), Datum::String("2".into())]).expect("append"),
            ints(&[1, 2])
        );
        assert_eq!(
            call("array_remove", vec![ints(&[1, 2, 1]), Datum::Int(1)]).expect("remove"),
            ints(&[2])
        );
        assert_eq!(
            call("array_positions", vec![ints(&[1, 2, 1]), Datum::Int(1)]).expect("positions"),
            ints(&[1, 3])
        );
        assert_eq!(
            call(
                "string_to_array",
                vec![Datum::String("a,b,,c".into()), Datum::String(",".into())]
            )
            .expect("split")
            .to_text()
            .as_deref(),
            Some("{a,b,\"\",c}")
        );
        assert_eq!(
            call(
                "array_to_string",
                vec![
                    Datum::Array(vec![Datum::Int(1), Datum::Null, Datum::Int(3)]),
                    Datum::String("-".into()),
                    Datum::String("*".into())
                ]
            )
            .expect("join"),
            Datum::String("1-*-3".into())
        );
        assert_eq!(
            call("cardinality", vec![Datum::Int(1)])
                .expect_err("not an array")
                .state,
            SqlState::UNDEFINED_FUNCTION
        );
    }
}
