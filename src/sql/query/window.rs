//! Window functions: `f(...) OVER ([PARTITION BY ...] [ORDER BY ...])` in a select list.
//!
//! Window calls are taken out of the select list ([`extract_windows`]) and replaced by hidden
//! columns `__win_<i>`; [`add_window_columns`] computes them over the rows that passed WHERE
//! (before DISTINCT, ORDER BY and LIMIT, as in PostgreSQL) and appends them to the input
//! relation, so the select list reads them like any column.
//!
//! Functions: `row_number`, `rank`, `dense_rank`, `percent_rank`, `cume_dist`, `ntile`, `lag`,
//! `lead`, `first_value`, `last_value`, `nth_value`, and the aggregates (`count`, `sum`, `avg`,
//! `min`, `max`, `string_agg`, `bool_and`, `bool_or`, ...). Frames ([`frame`]): `ROWS` and
//! `RANGE` clauses, by default the whole partition without ORDER BY, else from the partition's
//! start to the current row and its peers (rows with equal ORDER BY values). Named windows and
//! window functions in a grouped query are refused with 0A000. Aggregates are recomputed per
//! distinct frame, O(rows × frame) per partition.

use super::aggregate::{AggCall, compute_agg, is_aggregate};
use super::*;

mod frame;

/// One window call.
#[derive(Debug, Clone)]
pub(super) struct WindowCall {
    func: String,
    args: Vec<Expr>,
    /// The call as an aggregate (for aggregate window functions).
    agg: Option<AggCall>,
    partition_by: Vec<Expr>,
    order_by: Vec<pg::OrderByExpr>,
    /// The frame clause (None: the default frame).
    frame: Option<frame::FrameSpec>,
}

/// Replaces window calls in `e` with `__win_<i>` identifiers, recording them in `wins`.
pub(super) fn extract_windows(e: &Expr, wins: &mut Vec<(String, WindowCall)>) -> Result<Expr> {
    let mut out = e.clone();
    // Window calls outside subqueries (a subquery's windows are its own).
    let walk = super::walk::replace_outside_subqueries(&mut out, |x| {
        if let Expr::Function(f) = x
            && f.over.is_some()
        {
            match window_call(f) {
                Ok(call) => {
                    let key = f.to_string();
                    let idx = wins.iter().position(|(k, _)| *k == key).unwrap_or_else(|| {
                        wins.push((key, call));
                        wins.len() - 1
                    });
                    *x = Expr::Identifier(pg::Ident::new(format!("__win_{idx}")));
                }
                Err(err) => return std::ops::ControlFlow::Break(err),
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    match walk {
        std::ops::ControlFlow::Break(err) => Err(err),
        std::ops::ControlFlow::Continue(()) => Ok(out),
    }
}

fn window_call(f: &pg::Function) -> Result<WindowCall> {
    let spec = match &f.over {
        Some(pg::WindowType::WindowSpec(s)) => s,
        Some(pg::WindowType::NamedWindow(n)) => {
            return Err(SqlError::unsupported(format!("named window {n}")));
        }
        None => return Err(SqlError::internal("not a window call")),
    };
    let frame = frame::spec(spec.window_frame.as_ref())?;
    if spec.window_name.is_some() {
        return Err(SqlError::unsupported("window names in OVER (...)"));
    }
    let func = f.name.to_string().to_lowercase();
    let mut args = Vec::new();
    if let pg::FunctionArguments::List(l) = &f.args {
        for a in &l.args {
            match a {
                pg::FunctionArg::Unnamed(pg::FunctionArgExpr::Expr(x)) => args.push(x.clone()),
                pg::FunctionArg::Unnamed(pg::FunctionArgExpr::Wildcard) => {}
                other => {
                    return Err(SqlError::unsupported(format!(
                        "window function argument {other}"
                    )));
                }
            }
        }
    }
    let agg = if is_aggregate(&func) {
        // The same call without OVER, as the aggregate machinery parses it.
        let mut plain = f.clone();
        plain.over = None;
        let mut aggs = Vec::new();
        super::aggregate::extract_aggs(&Expr::Function(plain), &mut aggs)?;
        aggs.pop().map(|(_, a)| a)
    } else {
        use crate::sql::functions::registry::{Class, lookup};
        match lookup(&func) {
            Some(b) if b.class == Class::Window && b.accepts_arity(args.len()) => {}
            Some(b) if b.class == Class::Window => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("unknown signature: {func}() with {} arguments", args.len()),
                ));
            }
            _ => {
                return Err(SqlError::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("unknown window function: {func}()"),
                ));
            }
        }
        None
    };
    Ok(WindowCall {
        func,
        args,
        agg,
        partition_by: spec.partition_by.clone(),
        order_by: spec.order_by.clone(),
        frame,
    })
}

/// Computes every window call over `input`'s rows and appends the results as hidden columns
/// `__win_<i>` (types from the values, else from the call).
pub(super) fn add_window_columns(
    input: &mut Relation,
    wins: &[(String, WindowCall)],
    ectx: &EvalContext<'_>,
) -> Result<()> {
    let names = input.scope_names();
    let mut columns = Vec::with_capacity(wins.len());
    for (_, w) in wins {
        columns.push(compute(w, &input.rows, &names, ectx)?);
    }
    let typed: Vec<(String, SqlType)> = names
        .iter()
        .cloned()
        .zip(input.cols.iter().map(|c| c.ty))
        .collect();
    for (i, (col, (_, w))) in columns.iter_mut().zip(wins).enumerate() {
        // The call's type from its argument's (a result described before any row exists must
        // match the values); the values' type where the call does not say.
        // The registry's result type for the arguments' static types; values decide only
        // where that is unknown.
        let args: Vec<SqlType> = match &w.agg {
            Some(a) => a.arg.iter().map(|x| expr::infer_type(x, &typed)).collect(),
            None => w.args.iter().map(|x| expr::infer_type(x, &typed)).collect(),
        };
        let ty = crate::sql::functions::registry::lookup(&w.func)
            .map(|b| b.result_type(&args))
            .filter(|t| *t != SqlType::String || w.func == "string_agg")
            .or_else(|| col.iter().find_map(Datum::sql_type))
            .unwrap_or(SqlType::String);
        // lag/lead's default may have another type than the value (`lead(k, 1, 1.5)` is
        // DECIMAL): every value takes the call's type.
        if matches!(w.func.as_str(), "lag" | "lead") && ty != SqlType::String {
            for d in col.iter_mut() {
                if d.sql_type().is_some_and(|t| t != ty) {
                    *d = std::mem::replace(d, Datum::Null).coerce(ty)?;
                }
            }
        }
        input.cols.push(RelCol {
            table: None,
            name: format!("__win_{i}"),
            ty,
            hidden: true,
            typmod: Default::default(),
            key: false,
        });
    }
    for (r, row) in input.rows.iter_mut().enumerate() {
        for col in &columns {
            row.push(col[r].clone());
        }
    }
    Ok(())
}

/// One window call's value for every row, in row order.
fn compute(
    w: &WindowCall,
    rows: &[Vec<Datum>],
    names: &[String],
    ectx: &EvalContext<'_>,
) -> Result<Vec<Datum>> {
    let eval = |e: &Expr, r: &Vec<Datum>| expr::eval(e, Some(&Row { names, values: r }), ectx);
    let partitions = partitions(w, rows, &eval)?;
    let mut out = vec![Datum::Null; rows.len()];
    let frame = frame::Frame::resolve(w.frame.as_ref(), ectx)?;
    for part in partitions {
        let (order, group_start, group_end) = sorted_partition(w, &part, rows, &eval)?;
        let n = order.len();
        let part_rows: Vec<&Vec<Datum>> = order.iter().map(|&i| &rows[i]).collect();
        let mut dense = 0i64;
        let mut prev_group = usize::MAX;
        let mut frame_cache: Option<(Option<(usize, usize)>, Datum)> = None;
        for j in 0..n {
            if group_start[j] != prev_group {
                dense += 1;
                prev_group = group_start[j];
            }
            let row = &rows[order[j]];
            let bounds = frame.bounds(j, n, (group_start[j], group_end[j]));
            let arg = |k: usize| -> Result<Datum> {
                w.args.get(k).map_or(Ok(Datum::Null), |e| eval(e, row))
            };
            let v = match w.func.as_str() {
                "row_number" => Datum::Int(j as i64 + 1),
                "rank" => Datum::Int(group_start[j] as i64 + 1),
                "dense_rank" => Datum::Int(dense),
                "percent_rank" => Datum::Float(if n > 1 {
                    group_start[j] as f64 / (n - 1) as f64
                } else {
                    0.0
                }),
                "cume_dist" => Datum::Float((group_end[j] + 1) as f64 / n as f64),
                "ntile" => {
                    let buckets = match arg(0)? {
                        Datum::Int(b) if b > 0 => b as usize,
                        _ => {
                            return Err(SqlError::new(
                                SqlState("22014"),
                                "argument of ntile must be greater than zero",
                            ));
                        }
                    };
                    // PostgreSQL: the first n % buckets buckets get one extra row.
                    let (size, extra) = (n / buckets, n % buckets);
                    let big = (size + 1) * extra;
                    let b = if j < big {
                        j / (size + 1)
                    } else {
                        extra + (j - big) / size.max(1)
                    };
                    Datum::Int(b as i64 + 1)
                }
                "lag" | "lead" => {
                    let offset = match w.args.get(1) {
                        Some(e) => match eval(e, row)? {
                            Datum::Int(o) => Some(o),
                            Datum::Null => None,
                            other => {
                                return Err(SqlError::new(
                                    SqlState("22023"),
                                    format!("{} offset must be an integer, not {other}", w.func),
                                ));
                            }
                        },
                        None => Some(1),
                    };
                    // A NULL offset gives NULL (PostgreSQL).
                    let Some(offset) = offset else {
                        out[order[j]] = Datum::Null;
                        continue;
                    };
                    let target = if w.func == "lag" {
                        j as i64 - offset
                    } else {
                        j as i64 + offset
                    };
                    match usize::try_from(target).ok().filter(|t| *t < n) {
                        Some(t) => eval(&w.args[0], part_rows[t])?,
                        None => arg(2)?,
                    }
                }
                "first_value" => match bounds {
                    Some((first, _)) => eval(&w.args[0], part_rows[first])?,
                    None => Datum::Null,
                },
                "last_value" => match bounds {
                    Some((_, last)) => eval(&w.args[0], part_rows[last])?,
                    None => Datum::Null,
                },
                "nth_value" => {
                    let k = match arg(1)? {
                        Datum::Int(k) if k > 0 => k as usize,
                        _ => {
                            return Err(SqlError::new(
                                SqlState("22016"),
                                "argument of nth_value must be greater than zero",
                            ));
                        }
                    };
                    match bounds {
                        Some((first, last)) if first + k - 1 <= last => {
                            eval(&w.args[0], part_rows[first + k - 1])?
                        }
                        _ => Datum::Null,
                    }
                }
                _ => {
                    let a = w
                        .agg
                        .as_ref()
                        .ok_or_else(|| SqlError::internal("window aggregate"))?;
                    // One computation per distinct frame (per peer group for the default one).
                    match &frame_cache {
                        Some((b, v)) if *b == bounds => v.clone(),
                        _ => {
                            let rows_in = match bounds {
                                Some((first, last)) => &part_rows[first..=last],
                                None => &part_rows[..0],
                            };
                            let v = compute_agg(a, rows_in, names, ectx)?;
                            frame_cache = Some((bounds, v.clone()));
                            v
                        }
                    }
                }
            };
            out[order[j]] = v;
        }
    }
    Ok(out)
}

/// The rows' partitions (by the window's PARTITION BY values), in first-seen order.
fn partitions(
    w: &WindowCall,
    rows: &[Vec<Datum>],
    eval: &dyn Fn(&Expr, &Vec<Datum>) -> Result<Datum>,
) -> Result<Vec<Vec<usize>>> {
    let mut partitions: Vec<Vec<usize>> = Vec::new();
    let mut by_key: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        let key: Vec<Datum> = w
            .partition_by
            .iter()
            .map(|e| eval(e, r))
            .collect::<Result<_>>()?;
        let h = hash_key(key.iter());
        let p = *by_key.entry(h).or_insert_with(|| {
            partitions.push(Vec::new());
            partitions.len() - 1
        });
        partitions[p].push(i);
    }
    Ok(partitions)
}

/// A partition sorted by the window's ORDER BY (stable: ties keep input order): the row indexes
/// in order, and for each position the start and end of its peer group (the run of equal ORDER BY
/// keys; the whole partition without ORDER BY).
fn sorted_partition(
    w: &WindowCall,
    part: &[usize],
    rows: &[Vec<Datum>],
    eval: &dyn Fn(&Expr, &Vec<Datum>) -> Result<Datum>,
) -> Result<(Vec<usize>, Vec<usize>, Vec<usize>)> {
    let mut keyed: Vec<(Vec<Datum>, Vec<Datum>)> = Vec::with_capacity(part.len());
    for &i in part {
        let keys = w
            .order_by
            .iter()
            .map(|o| eval(&o.expr, &rows[i]))
            .collect::<Result<Vec<_>>>()?;
        keyed.push((vec![Datum::Int(i as i64)], keys));
    }
    if !w.order_by.is_empty() {
        super::select::sort_rows(&mut keyed, &w.order_by);
    }
    let order: Vec<usize> = keyed
        .iter()
        .map(|(v, _)| match v[0] {
            Datum::Int(i) => i as usize,
            _ => 0,
        })
        .collect();
    // Peer groups: runs of equal ORDER BY keys (the whole partition without ORDER BY).
    let mut group_end = vec![0usize; keyed.len()];
    let mut group_start = vec![0usize; keyed.len()];
    let ordered = !w.order_by.is_empty();
    let mut start = 0;
    for j in 0..keyed.len() {
        let last = j + 1 == keyed.len() || (ordered && !same_keys(&keyed[j].1, &keyed[j + 1].1));
        if last {
            for g in start..=j {
                group_start[g] = start;
                group_end[g] = j;
            }
            start = j + 1;
        }
    }
    Ok((order, group_start, group_end))
}

fn same_keys(a: &[Datum], b: &[Datum]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            (x.is_null() && y.is_null()) || x.compare(y) == Some(std::cmp::Ordering::Equal)
        })
}
