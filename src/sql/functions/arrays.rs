//! Array functions: `array_length`, `cardinality`, `array_upper`/`array_lower`,
//! `array_append`/`array_prepend`/`array_cat`, `array_remove`/`array_replace`,
//! `array_position`/`array_positions`, `array_to_string` and `string_to_array`.
//!
//! Arrays are one-dimensional and 1-based; asking for another dimension gives NULL, as
//! PostgreSQL does for a dimension an array does not have. A string argument that looks like an
//! array literal (`'{a,b}'`) is parsed as one. Wrong argument counts or types are 42883.

use super::super::error::{Result, SqlError};
use super::super::operators::compare;
use super::super::sqlstate::SqlState;
use super::super::types::{Datum, ElemType, SqlType, parse_array};

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

fn signature_error(name: &str, args: &[Datum]) -> SqlError {
    let types: Vec<String> = args
        .iter()
        .map(|a| a.sql_type().map_or("unknown", |t| t.name()).to_lowercase())
        .collect();
    SqlError::new(
        SqlState::UNDEFINED_FUNCTION,
        format!("unknown signature: {name}({})", types.join(", ")),
    )
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

/// Calls array function `name` (the registry routes only array functions here).
pub fn call(name: &str, args: Vec<Datum>) -> Result<Datum> {
    let arr = |i: usize| -> Result<Option<Vec<Datum>>> {
        match args.get(i) {
            Some(d) => elements(name, d, &args),
            None => Err(signature_error(name, &args)),
        }
    };
    let arity = |lo: usize, hi: usize| -> Result<()> {
        if args.len() < lo || args.len() > hi {
            return Err(signature_error(name, &args));
        }
        Ok(())
    };
    Ok(match name {
        "array_length" | "array_upper" | "array_lower" => {
            arity(2, 2)?;
            let Some(items) = arr(0)? else {
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
            arity(1, 1)?;
            match arr(0)? {
                Some(items) if !items.is_empty() => Datum::Int(1),
                _ => Datum::Null,
            }
        }
        "cardinality" => {
            arity(1, 1)?;
            arr(0)?.map_or(Datum::Null, |items| Datum::Int(items.len() as i64))
        }
        "array_append" => {
            arity(2, 2)?;
            let mut items = arr(0)?.unwrap_or_default();
            let x = like_elements(args[1].clone(), &items)?;
            items.push(x);
            Datum::Array(items)
        }
        "array_prepend" => {
            arity(2, 2)?;
            let items = arr(1)?.unwrap_or_default();
            let mut out = vec![like_elements(args[0].clone(), &items)?];
            out.extend(items);
            Datum::Array(out)
        }
        "array_cat" => {
            arity(2, 2)?;
            match (arr(0)?, arr(1)?) {
                (None, None) => Datum::Null,
                (a, b) => Datum::Array(a.into_iter().chain(b).flatten().collect()),
            }
        }
        "array_remove" => {
            arity(2, 2)?;
            let Some(items) = arr(0)? else {
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
            arity(3, 3)?;
            let Some(items) = arr(0)? else {
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
        "array_position" | "array_positions" => {
            arity(2, if name == "array_position" { 3 } else { 2 })?;
            let Some(items) = arr(0)? else {
                return Ok(Datum::Null);
            };
            let x = like_elements(args[1].clone(), &items)?;
            let start = match args.get(2) {
                Some(Datum::Int(s)) => usize::try_from(*s - 1).unwrap_or(0),
                Some(Datum::Null) => return Ok(Datum::Null),
                Some(_) => return Err(signature_error(name, &args)),
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
        "array_to_string" => {
            arity(2, 3)?;
            let Some(items) = arr(0)? else {
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
            Datum::String(parts.join(&sep))
        }
        "string_to_array" => {
            arity(2, 3)?;
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
            Datum::Array(
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
            )
        }
        _ => return Err(signature_error(name, &args)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
