//! String builtins: concatenation (`concat`, `concat_ws`), substrings and trimming, search
//! and replace (`strpos`, `replace`, `split_part`, `translate`), `left`/`right` (a negative
//! count leaves out characters from the other end), padding, case (`lower`, `upper`,
//! `initcap`), `repeat`, `reverse`, `length`, `md5` and `to_hex`, with PostgreSQL's and
//! CockroachDB's semantics (NULL in, NULL out unless stated). Results are bounded: a padding or
//! repeat request beyond [`MAX_RESULT_CHARS`] is 53200 "requested length too large", never a
//! huge allocation.

use super::super::error::{Result, SqlError};
use super::super::expr::EvalContext;
use super::super::sqlstate::SqlState;
use super::super::types::{Datum, SqlType};
use super::registry::{Param, Reg, Ret, o, v};

/// The longest string a padding function builds (in characters).
const MAX_RESULT_CHARS: i64 = 1 << 26;

fn signature(name: &str, args: &[Datum]) -> SqlError {
    SqlError::new(
        SqlState::UNDEFINED_FUNCTION,
        format!("unknown signature: {name}() with {} arguments", args.len()),
    )
}

fn text(d: &Datum) -> Option<String> {
    match d {
        Datum::Null => None,
        Datum::Bool(b) => Some(if *b { "true" } else { "false" }.to_string()),
        other => other.to_text(),
    }
}

/// Calls string function `name` (the registry routes only string functions here).
pub(super) fn call(name: &str, args: Vec<Datum>) -> Result<Datum> {
    match name {
        "lpad" | "rpad" => pad(name, &args),
        "initcap" => match args.as_slice() {
            [s] => Ok(text(s).map_or(Datum::Null, |s| Datum::String(initcap(&s)))),
            _ => Err(signature(name, &args)),
        },
        "concat_ws" => {
            let Some((sep, rest)) = args.split_first() else {
                return Err(signature(name, &args));
            };
            let Some(sep) = text(sep) else {
                return Ok(Datum::Null);
            };
            let parts: Vec<String> = rest.iter().filter_map(text).collect();
            Ok(Datum::String(parts.join(&sep)))
        }
        "translate" => match args.as_slice() {
            [s, from, to] => Ok(match (text(s), text(from), text(to)) {
                (Some(s), Some(from), Some(to)) => Datum::String(translate(&s, &from, &to)),
                _ => Datum::Null,
            }),
            _ => Err(signature(name, &args)),
        },
        "to_hex" => match args.as_slice() {
            [Datum::Int(i)] => Ok(Datum::String(format!("{:x}", *i as u64))),
            [Datum::Null] => Ok(Datum::Null),
            _ => Err(signature(name, &args)),
        },
        _ => basic(name, args),
    }
}

/// `lpad(s, n [, fill])` / `rpad`: `s` cut or filled (with `fill`, a space by default) to `n`
/// characters; an empty fill leaves a short `s` as it is.
fn pad(name: &str, args: &[Datum]) -> Result<Datum> {
    let (s, n, fill) = match args {
        [s, n] => (s, n, Some(" ".to_string())),
        [s, n, f] => (s, n, text(f)),
        _ => return Err(signature(name, args)),
    };
    let (Some(s), Datum::Int(n), Some(fill)) = (text(s), n, fill) else {
        return Ok(Datum::Null);
    };
    if *n > MAX_RESULT_CHARS {
        return Err(SqlError::new(
            SqlState::OUT_OF_MEMORY,
            "requested length too large",
        ));
    }
    let n = (*n).max(0) as usize;
    let chars: Vec<char> = s.chars().collect();
    if chars.len() >= n || fill.is_empty() {
        return Ok(Datum::String(chars.iter().take(n).collect()));
    }
    let filler: String = fill.chars().cycle().take(n - chars.len()).collect();
    Ok(Datum::String(if name == "lpad" {
        filler + &s
    } else {
        s + &filler
    }))
}

/// Upper-cases the first letter of each run of letters and digits, lower-cases the rest.
fn initcap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        if c.is_alphanumeric() {
            if in_word {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            in_word = true;
        } else {
            out.push(c);
            in_word = false;
        }
    }
    out
}

/// Replaces each character of `s` found in `from` by the one at the same position in `to`,
/// deleting it when `to` is shorter.
fn translate(s: &str, from: &str, to: &str) -> String {
    let from: Vec<char> = from.chars().collect();
    let to: Vec<char> = to.chars().collect();
    s.chars()
        .filter_map(|c| match from.iter().position(|f| *f == c) {
            Some(i) => to.get(i).copied(),
            None => Some(c),
        })
        .collect()
}

/// The basic string functions (concatenation, substrings, trimming, search and replace, case,
/// length, `md5`).
fn basic(name: &str, args: Vec<Datum>) -> Result<Datum> {
    let one = |a: &[Datum]| super::one_arg(name, a);
    Ok(match name {
        "concat" => Datum::String(args.iter().filter_map(Datum::to_text).collect()),
        "substr" | "substring" => match args.as_slice() {
            [Datum::Null, ..] => Datum::Null,
            [v, from, rest @ ..] => {
                let s: Vec<char> = v.to_text().unwrap_or_default().chars().collect();
                let from = match from {
                    Datum::Int(i) => *i,
                    _ => 1,
                };
                let len = match rest.first() {
                    Some(Datum::Int(l)) => Some(*l),
                    _ => None,
                };
                let start = ((from - 1).max(0) as usize).min(s.len());
                let end = match len {
                    Some(l) => ((from - 1 + l).max(0) as usize).min(s.len()),
                    None => s.len(),
                }
                .max(start);
                Datum::String(s[start..end].iter().collect())
            }
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    "unknown signature: substr",
                ));
            }
        },
        "btrim" | "ltrim" | "rtrim" => match args.as_slice() {
            [Datum::Null, ..] => Datum::Null,
            [v, rest @ ..] => {
                let s = v.to_text().unwrap_or_default();
                let chars: Vec<char> = match rest.first() {
                    Some(c) => c.to_text().unwrap_or_default().chars().collect(),
                    None => vec![' '],
                };
                let f = |c: char| chars.contains(&c);
                Datum::String(match name {
                    "ltrim" => s.trim_start_matches(f).to_string(),
                    "rtrim" => s.trim_end_matches(f).to_string(),
                    _ => s.trim_matches(f).to_string(),
                })
            }
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    "unknown signature: trim",
                ));
            }
        },
        "strpos" => match args.as_slice() {
            [Datum::String(h), Datum::String(n)] => Datum::Int(
                h.find(n.as_str())
                    .map_or(0, |i| h[..i].chars().count() as i64 + 1),
            ),
            _ => Datum::Null,
        },
        "replace" => match args.as_slice() {
            [Datum::String(s), Datum::String(a), Datum::String(b)] => {
                Datum::String(s.replace(a.as_str(), b))
            }
            _ => Datum::Null,
        },
        "split_part" => match args.as_slice() {
            [Datum::String(s), Datum::String(d), Datum::Int(n)] if *n >= 1 => Datum::String(
                s.split(d.as_str())
                    .nth((*n - 1) as usize)
                    .unwrap_or("")
                    .to_string(),
            ),
            _ => Datum::Null,
        },
        "left" | "right" => match args.as_slice() {
            [Datum::String(s), Datum::Int(n)] => {
                // A negative count leaves out that many characters from the other end.
                let c: Vec<char> = s.chars().collect();
                let len = c.len() as i64;
                let k = if *n < 0 {
                    len + (*n).max(-len)
                } else {
                    (*n).min(len)
                } as usize;
                Datum::String(if name == "left" {
                    c[..k].iter().collect()
                } else {
                    c[c.len() - k..].iter().collect()
                })
            }
            _ => Datum::Null,
        },
        "repeat" => match args.as_slice() {
            [Datum::String(s), Datum::Int(n)]
                if ((*n).max(0) as usize).saturating_mul(s.len()) <= 1 << 26 =>
            {
                Datum::String(s.repeat((*n).max(0) as usize))
            }
            [Datum::String(_), Datum::Int(_)] => {
                return Err(SqlError::new(
                    SqlState::OUT_OF_MEMORY,
                    "requested length too large",
                ));
            }
            _ => Datum::Null,
        },
        "reverse" => match one(&args)? {
            Datum::String(s) => Datum::String(s.chars().rev().collect()),
            v => v,
        },
        "md5" => match one(&args)? {
            Datum::Null => Datum::Null,
            v => Datum::String(format!(
                "{:x}",
                md5::compute(v.to_text().unwrap_or_default().as_bytes())
            )),
        },
        "lower" => match one(&args)? {
            Datum::String(s) => Datum::String(s.to_lowercase()),
            v => v,
        },
        "upper" => match one(&args)? {
            Datum::String(s) => Datum::String(s.to_uppercase()),
            v => v,
        },
        "length" | "char_length" => match one(&args)? {
            Datum::String(s) => Datum::Int(s.chars().count() as i64),
            Datum::Bytes(b) => Datum::Int(b.len() as i64),
            Datum::Null => Datum::Null,
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("unknown signature: {name}"),
                ));
            }
        },
        _ => return Err(super::not_here(name)),
    })
}

/// [`call`] as the registry calls it (string builtins do not read the context).
fn builtin(name: &str, args: Vec<Datum>, _ctx: &EvalContext<'_>) -> Result<Datum> {
    call(name, args)
}

/// Registers the string builtins.
pub(super) fn register(r: &mut Reg) {
    use Param::{Any, T};
    use SqlType::*;
    let text = Ret::T(String);
    let s = builtin;
    r.scalar(&["concat"], s, vec![v(&[Any], text)]);
    r.scalar(&["concat_ws"], s, vec![v(&[T(String), Any], text)]);
    r.scalar(
        &["substr", "substring"],
        s,
        vec![
            o(&[T(String), T(Int)], text),
            o(&[T(String), T(Int), T(Int)], text),
        ],
    );
    r.scalar(
        &["btrim", "ltrim", "rtrim"],
        s,
        vec![o(&[T(String)], text), o(&[T(String), T(String)], text)],
    );
    r.scalar(
        &["strpos"],
        s,
        vec![o(&[T(String), T(String)], Ret::T(Int))],
    );
    r.scalar(
        &["replace", "translate"],
        s,
        vec![o(&[T(String), T(String), T(String)], text)],
    );
    r.scalar(
        &["split_part"],
        s,
        vec![o(&[T(String), T(String), T(Int)], text)],
    );
    r.scalar(
        &["left", "right", "repeat"],
        s,
        vec![o(&[T(String), T(Int)], text)],
    );
    r.scalar(
        &["lpad", "rpad"],
        s,
        vec![
            o(&[T(String), T(Int)], text),
            o(&[T(String), T(Int), T(String)], text),
        ],
    );
    r.scalar(
        &["reverse", "lower", "upper", "initcap"],
        s,
        vec![o(&[T(String)], text)],
    );
    r.scalar(&["md5"], s, vec![o(&[Any], text)]);
    r.scalar(&["to_hex"], s, vec![o(&[T(Int)], text)]);
    r.scalar(
        &["length", "char_length"],
        s,
        vec![o(&[T(String)], Ret::T(Int)), o(&[T(Bytes)], Ret::T(Int))],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Datum {
        Datum::String(x.into())
    }

    #[test]
    fn string_functions_follow_postgres() {
        let run = |name: &str, args: Vec<Datum>| call(name, args).unwrap();
        assert_eq!(
            run("lpad", vec![s("ab"), Datum::Int(5), s("xy")]),
            s("xyxab")
        );
        assert_eq!(run("lpad", vec![s("abcdef"), Datum::Int(3)]), s("abc"));
        assert_eq!(run("rpad", vec![s("ab"), Datum::Int(4)]), s("ab  "));
        assert_eq!(run("rpad", vec![s("ab"), Datum::Int(-1)]), s(""));
        assert_eq!(run("lpad", vec![s("ab"), Datum::Int(5), s("")]), s("ab"));
        assert!(call("lpad", vec![s("a"), Datum::Int(1 << 40)]).is_err());
        assert_eq!(
            run("initcap", vec![s("hELLO wORLD-x1y")]),
            s("Hello World-X1y")
        );
        assert_eq!(
            run(
                "concat_ws",
                vec![s(","), s("a"), Datum::Null, Datum::Int(2)]
            ),
            s("a,2")
        );
        assert_eq!(run("concat_ws", vec![Datum::Null, s("a")]), Datum::Null);
        assert_eq!(
            run("translate", vec![s("abcab"), s("ab"), s("x")]),
            s("xcx")
        );
        assert_eq!(run("to_hex", vec![Datum::Int(255)]), s("ff"));
        assert_eq!(run("to_hex", vec![Datum::Int(-1)]), s("ffffffffffffffff"));
    }
}
