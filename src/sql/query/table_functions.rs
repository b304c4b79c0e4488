//! Set-returning functions in FROM: `generate_series(start, stop[, step])` over integers,
//! decimals or timestamps (with an interval step), `unnest(array[, array ...])` (arrays side by
//! side, padded with NULLs) and `generate_subscripts(array, dim)`, each optionally `WITH
//! ORDINALITY` (a 1-based `ordinality` column).
//!
//! Arguments are evaluated once, without an outer row: a reference to an outer column is a
//! correlated use and reported as such (42703 becomes the correlated-subquery path). Rows are
//! charged to the statement's memory account as they are produced, so a huge series ends with
//! 53200, and a zero step is 22023, as in PostgreSQL.

use super::*;

/// Rows charged to the memory account at a time while a series is produced.
const CHARGE_EVERY: usize = 1024;

/// The rows of table function `name` called with `args`, or None when `name` is not one.
pub(super) fn table_function(
    ctx: &Ctx<'_>,
    name: &str,
    args: &[Expr],
    params: &[Datum],
    with_ordinality: bool,
) -> Result<Option<Relation>> {
    let name = name.strip_prefix("pg_catalog.").unwrap_or(name);
    if !is_set_returning(name) {
        return Ok(None);
    }
    let ectx = ectx(ctx, params);
    let values = args
        .iter()
        .map(|a| expr::eval(a, None, &ectx))
        .collect::<Result<Vec<_>>>()?;
    // A long series is synchronous work: off the async worker (see `heavy`), so that the node
    // keeps serving other connections, cancel requests among them.
    let work = series_len(&values);
    let Some((mut cols, mut rows)) = super::heavy(work, || rows_of(ctx, name, values))? else {
        return Ok(None);
    };
    if with_ordinality {
        cols.push(("ordinality".into(), SqlType::Int));
        for (i, r) in rows.iter_mut().enumerate() {
            r.push(Datum::Int(i as i64 + 1));
        }
    }
    Ok(Some(Relation {
        cols: cols
            .into_iter()
            .map(|(name, ty)| RelCol {
                table: None,
                name,
                ty,
                hidden: false,
                typmod: Default::default(),
                key: false,
            })
            .collect(),
        rows,
    }))
}

/// About how many rows `generate_series` makes with these arguments (0 for anything else).
fn series_len(v: &[Datum]) -> usize {
    let span = |a: i64, b: i64, step: i64| -> usize {
        if step == 0 {
            return 0;
        }
        usize::try_from((i128::from(b) - i128::from(a)) / i128::from(step)).unwrap_or(0)
    };
    match v {
        [Datum::Int(a), Datum::Int(b)] => span(*a, *b, 1),
        [Datum::Int(a), Datum::Int(b), Datum::Int(s)] => span(*a, *b, *s),
        [
            Datum::Timestamp(a) | Datum::TimestampTz(a),
            Datum::Timestamp(b) | Datum::TimestampTz(b),
            _,
        ] => span(*a, *b, 60_000_000),
        _ => 0,
    }
}

/// Whether `name` (without `pg_catalog.`) is a set-returning function tandem knows.
pub(super) fn is_set_returning(name: &str) -> bool {
    crate::sql::functions::registry::is(name, crate::sql::functions::registry::Class::SetReturning)
}

/// The values of set-returning call `f` in a select list (`SELECT unnest(a) FROM t`), for the
/// row `row`: the first column of its rows.
pub(super) fn select_list_values(
    ctx: &Ctx<'_>,
    f: &pg::Function,
    row: &Row<'_>,
    ectx: &EvalContext<'_>,
) -> Result<Vec<Datum>> {
    let name = f.name.to_string().to_lowercase();
    let args: Vec<Expr> = match &f.args {
        pg::FunctionArguments::List(l) => super::function_args(&l.args)?,
        pg::FunctionArguments::None => Vec::new(),
        pg::FunctionArguments::Subquery(_) => {
            return Err(SqlError::unsupported(format!("{name}(subquery)")));
        }
    };
    let values = args
        .iter()
        .map(|a| expr::eval(a, Some(row), ectx))
        .collect::<Result<Vec<_>>>()?;
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    Ok(rows_of(ctx, name, values)?
        .map(|(_, rows)| {
            rows.into_iter()
                .map(|r| r.into_iter().next().unwrap_or(Datum::Null))
                .collect()
        })
        .unwrap_or_default())
}

/// A set-returning function's columns and rows for argument values `v`.
#[allow(clippy::type_complexity)]
fn rows_of(
    ctx: &Ctx<'_>,
    name: &str,
    v: Vec<Datum>,
) -> Result<Option<(Vec<(String, SqlType)>, Vec<Vec<Datum>>)>> {
    let values = || -> Result<Vec<Datum>> { Ok(v.clone()) };
    let (cols, rows): (Vec<(String, SqlType)>, Vec<Vec<Datum>>) = match name {
        "generate_series" => {
            let v = values()?;
            let (ty, rows) = generate_series(ctx, &v)?;
            (vec![("generate_series".into(), ty)], rows)
        }
        "unnest" => {
            let v = values()?;
            if v.is_empty() {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    "unknown signature: unnest()",
                ));
            }
            let mut arrays = Vec::with_capacity(v.len());
            let mut cols = Vec::with_capacity(v.len());
            for d in v {
                let ty = d.sql_type();
                let items = match d {
                    Datum::Null => Vec::new(),
                    Datum::Array(items) => items,
                    Datum::String(s) => crate::sql::types::parse_array(&s)?,
                    other => {
                        return Err(SqlError::new(
                            SqlState::UNDEFINED_FUNCTION,
                            format!(
                                "unknown signature: unnest({})",
                                other
                                    .sql_type()
                                    .map_or("unknown", |t| t.name())
                                    .to_lowercase()
                            ),
                        ));
                    }
                };
                cols.push((
                    "unnest".to_string(),
                    ty.and_then(SqlType::elem).unwrap_or(SqlType::String),
                ));
                arrays.push(items);
            }
            let n = arrays.iter().map(Vec::len).max().unwrap_or(0);
            let rows = (0..n)
                .map(|i| {
                    arrays
                        .iter()
                        .map(|a| a.get(i).cloned().unwrap_or(Datum::Null))
                        .collect()
                })
                .collect();
            (cols, rows)
        }
        "generate_subscripts" => {
            let v = values()?;
            let n = match v.first() {
                Some(Datum::Array(items)) if matches!(v.get(1), Some(Datum::Int(1))) => items.len(),
                _ => 0,
            };
            let rows = (1..=n).map(|i| vec![Datum::Int(i as i64)]).collect();
            (vec![("generate_subscripts".into(), SqlType::Int)], rows)
        }
        // No table is partitioned: a relation's only ancestor is itself.
        "pg_partition_ancestors" => {
            let v = values()?;
            let oid = match v.as_slice() {
                [d] => crate::sql::system_tables::oids::reg_cast(
                    crate::sql::system_tables::oids::RegKind::Class,
                    match d {
                        Datum::Int(i) => Datum::String(i.to_string()),
                        other => other.clone(),
                    },
                    ctx.oids.as_deref(),
                    true,
                )?,
                _ => {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_FUNCTION,
                        "unknown signature: pg_partition_ancestors",
                    ));
                }
            };
            let rows = if oid.is_null() {
                Vec::new()
            } else {
                vec![vec![oid]]
            };
            (vec![("relid".into(), SqlType::Int)], rows)
        }
        _ => return Ok(None),
    };
    Ok(Some((cols, rows)))
}

fn generate_series(ctx: &Ctx<'_>, v: &[Datum]) -> Result<(SqlType, Vec<Vec<Datum>>)> {
    let zero_step = || {
        SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "step size cannot equal zero",
        )
    };
    let mut rows = Vec::new();
    let push = |rows: &mut Vec<Vec<Datum>>, d: Datum| -> Result<()> {
        rows.push(vec![d]);
        if rows.len().is_multiple_of(CHARGE_EVERY) {
            ctx.memory
                .charge(rows[rows.len() - CHARGE_EVERY..].iter())?;
        }
        Ok(())
    };
    if v.iter().any(Datum::is_null) {
        return Ok((SqlType::Int, rows));
    }
    // A timestamp series takes an untyped string step as an interval ('1 hour').
    let v: Vec<Datum> = match v {
        [
            a @ (Datum::Timestamp(_) | Datum::TimestampTz(_)),
            b,
            Datum::String(step),
        ] => vec![
            a.clone(),
            b.clone(),
            Datum::String(step.clone()).coerce(SqlType::Interval)?,
        ],
        other => other.to_vec(),
    };
    let v = v.as_slice();
    let ty = match v {
        [Datum::Int(a), Datum::Int(b)] | [Datum::Int(a), Datum::Int(b), Datum::Int(_)] => {
            let step = match v.get(2) {
                Some(Datum::Int(s)) => *s,
                _ => 1,
            };
            if step == 0 {
                return Err(zero_step());
            }
            let (mut x, end) = (*a, *b);
            while (step > 0 && x <= end) || (step < 0 && x >= end) {
                push(&mut rows, Datum::Int(x))?;
                match x.checked_add(step) {
                    Some(n) => x = n,
                    None => break,
                }
            }
            SqlType::Int
        }
        [
            a @ (Datum::Timestamp(_) | Datum::TimestampTz(_) | Datum::String(_)),
            b,
            step @ Datum::Interval { .. },
        ] => {
            let ty = match (a, b) {
                (Datum::TimestampTz(_), _) | (_, Datum::TimestampTz(_)) => SqlType::TimestampTz,
                _ => SqlType::Timestamp,
            };
            let start = a.clone().coerce(ty)?;
            let end = b.clone().coerce(ty)?;
            if matches!(
                step,
                Datum::Interval {
                    months: 0,
                    days: 0,
                    micros: 0
                }
            ) {
                return Err(zero_step());
            }
            let forward = crate::sql::operators::binary(
                &pg::BinaryOperator::Plus,
                start.clone(),
                step.clone(),
            )?
            .compare(&start)
                == Some(std::cmp::Ordering::Greater);
            let mut x = start;
            loop {
                let past = match x.compare(&end) {
                    Some(std::cmp::Ordering::Greater) => forward,
                    Some(std::cmp::Ordering::Less) => !forward,
                    _ => false,
                };
                if past {
                    break;
                }
                push(&mut rows, x.clone())?;
                x = crate::sql::operators::binary(&pg::BinaryOperator::Plus, x, step.clone())?;
            }
            ty
        }
        [a, b] | [a, b, _]
            if matches!(a, Datum::Decimal(_) | Datum::Float(_) | Datum::Int(_))
                && matches!(b, Datum::Decimal(_) | Datum::Float(_) | Datum::Int(_)) =>
        {
            let dec = |d: &Datum| -> Result<rust_decimal::Decimal> {
                match d.clone().coerce(SqlType::Decimal)? {
                    Datum::Decimal(x) => Ok(x),
                    _ => Err(SqlError::internal("decimal")),
                }
            };
            let (mut x, end) = (dec(a)?, dec(b)?);
            let step = match v.get(2) {
                Some(s) => dec(s)?,
                None => rust_decimal::Decimal::ONE,
            };
            if step.is_zero() {
                return Err(zero_step());
            }
            let positive = step.is_sign_positive();
            while (positive && x <= end) || (!positive && x >= end) {
                push(&mut rows, Datum::Decimal(x))?;
                match x.checked_add(step) {
                    Some(n) => x = n,
                    None => break,
                }
            }
            SqlType::Decimal
        }
        other => {
            let types: Vec<String> = other
                .iter()
                .map(|d| d.sql_type().map_or("unknown", |t| t.name()).to_lowercase())
                .collect();
            return Err(SqlError::new(
                SqlState::UNDEFINED_FUNCTION,
                format!("unknown signature: generate_series({})", types.join(", ")),
            ));
        }
    };
    Ok((ty, rows))
}
