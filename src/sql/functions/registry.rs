//! The builtin-function registry: every function the SQL layer knows, by name, with its class
//! (scalar, aggregate, window, set-returning), volatility, overloads (parameter types and how
//! the result type follows from the argument types) and, for functions evaluated row by row,
//! the implementation. Evaluation ([`super::call`]), static typing of result columns
//! (`expr::infer`), the recognition of aggregate, window and set-returning calls in queries, and
//! `pg_catalog.pg_proc` all read this one table; a name that is not here is 42883 everywhere.
//!
//! Invariants: every name is lower case and registered once; every scalar entry has an
//! implementation that handles each arity its overloads declare (the unit tests call each one
//! with NULL arguments); aggregates, window and set-returning functions are computed by the
//! query operators (`query::aggregate`, `query::window`, `query::table_functions`).
//! Implementations check argument values themselves (an unknown literal reaches them as text);
//! the registry checks arity before calling them.

use super::*;
use crate::sql::types::ElemType;
use std::collections::HashMap;
use std::sync::LazyLock;

/// What kind of call a builtin is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// One value per row.
    Scalar,
    /// One value per group (`query::aggregate`).
    Aggregate,
    /// One value per row over a window (`query::window`).
    Window,
    /// Rows (`query::table_functions`).
    SetReturning,
}

impl Class {
    /// `pg_proc.prokind`.
    pub fn prokind(self) -> &'static str {
        match self {
            Class::Scalar | Class::SetReturning => "f",
            Class::Aggregate => "a",
            Class::Window => "w",
        }
    }
}

/// PostgreSQL's volatility classes (`pg_proc.provolatile`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Volatility {
    /// Same arguments, same result, forever.
    Immutable,
    /// Same result within one statement (the statement's clock, the session, the catalog).
    Stable,
    /// May differ on every call (`random()`, `gen_random_uuid()`).
    Volatile,
}

impl Volatility {
    /// `pg_proc.provolatile`.
    pub fn code(self) -> &'static str {
        match self {
            Volatility::Immutable => "i",
            Volatility::Stable => "s",
            Volatility::Volatile => "v",
        }
    }
}

/// A parameter's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// Any type (PostgreSQL's `any`/`anyelement`).
    Any,
    /// Any array.
    AnyArray,
    /// This type.
    T(SqlType),
}

impl Param {
    /// The PostgreSQL type OID of the parameter (`pg_proc.proargtypes`).
    pub fn oid(self) -> u32 {
        match self {
            Param::Any => 2283,
            Param::AnyArray => 2277,
            Param::T(t) => t.oid(),
        }
    }
}

/// How the result type follows from the (static) argument types.
#[derive(Clone, Copy, Debug)]
pub enum Ret {
    /// Always this type.
    T(SqlType),
    /// The type of argument `i`.
    Arg(usize),
    /// The common type of the typed arguments (numeric types widen: INT < DECIMAL < FLOAT).
    Common,
    /// `sum`/`avg` over argument 0: FLOAT and INTERVAL stay, anything else is DECIMAL.
    Sum,
    /// An array of argument 0's type.
    ArrayOfArg,
    /// The element type of argument 0 (an array).
    ElemOfArg,
    /// Computed from the function's name and the argument types.
    Fn(fn(&str, &[SqlType]) -> SqlType),
}

/// One signature of a builtin.
#[derive(Clone, Debug)]
pub struct Overload {
    pub params: Vec<Param>,
    /// The last parameter repeats (zero or more times).
    pub variadic: bool,
    pub ret: Ret,
}

impl Overload {
    fn accepts_arity(&self, n: usize) -> bool {
        if self.variadic {
            n + 1 >= self.params.len()
        } else {
            n == self.params.len()
        }
    }

    /// Whether arguments of these static types fit (STRING is also an unknown type, so it fits
    /// anything; INT fits DECIMAL and FLOAT parameters, DECIMAL fits FLOAT).
    fn fits(&self, args: &[SqlType]) -> bool {
        self.accepts_arity(args.len())
            && args.iter().enumerate().all(|(i, a)| {
                let p = self
                    .params
                    .get(i)
                    .or(self.params.last())
                    .copied()
                    .unwrap_or(Param::Any);
                match p {
                    Param::Any => true,
                    Param::AnyArray => matches!(a, SqlType::Array(_) | SqlType::String),
                    Param::T(t) => {
                        *a == t
                            || *a == SqlType::String
                            || matches!(
                                (a, t),
                                (SqlType::Int, SqlType::Decimal | SqlType::Float)
                                    | (SqlType::Decimal, SqlType::Float)
                                    | (SqlType::Timestamp, SqlType::TimestampTz)
                                    | (SqlType::Date, SqlType::Timestamp | SqlType::TimestampTz)
                            )
                    }
                }
            })
    }

    fn result_type(&self, name: &str, args: &[SqlType]) -> SqlType {
        let arg = |i: usize| args.get(i).copied().unwrap_or(SqlType::String);
        match self.ret {
            Ret::T(t) => t,
            Ret::Arg(i) => arg(i),
            Ret::Common => common_type(args),
            Ret::Sum => {
                crate::sql::expr::sum_type(args.first().copied().unwrap_or(SqlType::Decimal))
            }
            Ret::ArrayOfArg => arg(0)
                .array_of()
                .unwrap_or(SqlType::Array(ElemType::String)),
            Ret::ElemOfArg => arg(0).elem().unwrap_or(SqlType::String),
            Ret::Fn(f) => f(name, args),
        }
    }

    /// The declared result type (`pg_proc.prorettype`): argument-dependent results are `any`.
    pub fn declared_result_oid(&self) -> u32 {
        match self.ret {
            Ret::T(t) => t.oid(),
            Ret::ArrayOfArg => 2277,
            _ => 2283,
        }
    }
}

/// The common type of typed arguments: the first one that is not STRING (an unknown literal),
/// widened over the numeric types.
pub fn common_type(args: &[SqlType]) -> SqlType {
    let mut ty: Option<SqlType> = None;
    for t in args.iter().copied().filter(|t| *t != SqlType::String) {
        ty = Some(match ty {
            None => t,
            Some(cur) => cur.numeric_common(t).unwrap_or(cur),
        });
    }
    ty.unwrap_or(SqlType::String)
}

/// The type of `lag`/`lead(value, offset, default)`: the common type of the value and the default
/// (PostgreSQL's `anycompatible`; the offset does not take part).
fn value_or_default_type(_name: &str, args: &[SqlType]) -> SqlType {
    let pick = |i: usize| args.get(i).copied().unwrap_or(SqlType::String);
    common_type(&[pick(0), pick(2)])
}

/// Evaluates a scalar builtin: `(name, arguments, context)`.
pub type Impl = fn(&str, Vec<Datum>, &EvalContext<'_>) -> Result<Datum>;

/// A builtin function.
#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub class: Class,
    pub volatility: Volatility,
    pub overloads: Vec<Overload>,
    /// How to evaluate it per row (scalar functions, and set-returning ones that also have a
    /// scalar form).
    pub imp: Option<Impl>,
}

impl Builtin {
    /// Whether some overload takes `n` arguments.
    pub fn accepts_arity(&self, n: usize) -> bool {
        self.overloads.iter().any(|o| o.accepts_arity(n))
    }

    /// The result type for arguments of these static types: the first overload they fit, else
    /// the first with their number.
    pub fn result_type(&self, args: &[SqlType]) -> SqlType {
        self.overloads
            .iter()
            .find(|o| o.fits(args))
            .or_else(|| self.overloads.iter().find(|o| o.accepts_arity(args.len())))
            .or(self.overloads.first())
            .map_or(SqlType::String, |o| o.result_type(self.name, args))
    }
}

/// The builtin called `name` (any case; a `pg_catalog.` prefix is ignored).
pub fn lookup(name: &str) -> Option<&'static Builtin> {
    let lower;
    let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        lower = name.to_ascii_lowercase();
        lower.as_str()
    } else {
        name
    };
    REGISTRY.get(name.strip_prefix("pg_catalog.").unwrap_or(name))
}

/// Whether `name` is a builtin of class `class`.
pub fn is(name: &str, class: Class) -> bool {
    lookup(name).is_some_and(|b| b.class == class)
}

/// Every builtin, by name.
pub fn all() -> Vec<&'static Builtin> {
    let mut v: Vec<&Builtin> = REGISTRY.values().collect();
    v.sort_by_key(|b| b.name);
    v
}

static REGISTRY: LazyLock<HashMap<&'static str, Builtin>> = LazyLock::new(|| {
    let mut r = Reg(HashMap::new());
    super::catalog::register(&mut r);
    super::strings::register(&mut r);
    super::math::register(&mut r);
    super::conditional::register(&mut r);
    super::datetime::register(&mut r);
    super::json::register(&mut r);
    super::ids::register(&mut r);
    super::arrays::register(&mut r);
    query_entries(&mut r);
    r.0
});

/// The registry under construction.
pub(super) struct Reg(HashMap<&'static str, Builtin>);

impl Reg {
    /// Registers `names` (aliases sharing everything) as one builtin each.
    pub(super) fn add(
        &mut self,
        names: &[&'static str],
        class: Class,
        volatility: Volatility,
        imp: Option<Impl>,
        overloads: Vec<Overload>,
    ) {
        for name in names {
            let prev = self.0.insert(
                name,
                Builtin {
                    name,
                    class,
                    volatility,
                    overloads: overloads.clone(),
                    imp,
                },
            );
            debug_assert!(prev.is_none(), "builtin {name} registered twice");
        }
    }

    /// Registers immutable scalar functions.
    pub(super) fn scalar(&mut self, names: &[&'static str], imp: Impl, overloads: Vec<Overload>) {
        self.add(
            names,
            Class::Scalar,
            Volatility::Immutable,
            Some(imp),
            overloads,
        );
    }
}

/// A fixed-arity overload.
pub(super) fn o(params: &[Param], ret: Ret) -> Overload {
    Overload {
        params: params.to_vec(),
        variadic: false,
        ret,
    }
}

/// An overload whose last parameter repeats.
pub(super) fn v(params: &[Param], ret: Ret) -> Overload {
    Overload {
        params: params.to_vec(),
        variadic: true,
        ret,
    }
}

/// Aggregates, window functions and set-returning functions (computed by the query operators).
fn query_entries(r: &mut Reg) {
    use Class::*;
    use Param::{Any, AnyArray, T};
    use SqlType::*;
    use Volatility::Immutable;
    let agg = |r: &mut Reg, names: &[&'static str], ov: Vec<Overload>| {
        r.add(names, Aggregate, Immutable, None, ov)
    };
    agg(
        r,
        &["count"],
        vec![o(&[], Ret::T(Int)), o(&[Any], Ret::T(Int))],
    );
    agg(r, &["sum", "avg"], vec![o(&[Any], Ret::Sum)]);
    agg(r, &["min", "max"], vec![o(&[Any], Ret::Arg(0))]);
    agg(
        r,
        &[
            "variance",
            "var_samp",
            "var_pop",
            "stddev",
            "stddev_samp",
            "stddev_pop",
        ],
        vec![o(&[Any], Ret::Sum)],
    );
    agg(
        r,
        &["string_agg"],
        vec![o(&[T(String), T(String)], Ret::T(String))],
    );
    agg(r, &["array_agg"], vec![o(&[Any], Ret::ArrayOfArg)]);
    agg(
        r,
        &["bool_and", "bool_or", "every"],
        vec![o(&[T(Bool)], Ret::T(Bool))],
    );
    let win = |r: &mut Reg, names: &[&'static str], ov: Vec<Overload>| {
        r.add(names, Window, Immutable, None, ov)
    };
    win(
        r,
        &["row_number", "rank", "dense_rank"],
        vec![o(&[], Ret::T(Int))],
    );
    win(r, &["ntile"], vec![o(&[T(Int)], Ret::T(Int))]);
    win(
        r,
        &["percent_rank", "cume_dist"],
        vec![o(&[], Ret::T(Float))],
    );
    win(
        r,
        &["lag", "lead"],
        vec![
            o(&[Any], Ret::Arg(0)),
            o(&[Any, T(Int)], Ret::Arg(0)),
            o(&[Any, T(Int), Any], Ret::Fn(value_or_default_type)),
        ],
    );
    win(
        r,
        &["first_value", "last_value"],
        vec![o(&[Any], Ret::Arg(0))],
    );
    win(r, &["nth_value"], vec![o(&[Any, T(Int)], Ret::Arg(0))]);
    let srf = |r: &mut Reg, names: &[&'static str], imp: Option<Impl>, ov: Vec<Overload>| {
        r.add(names, SetReturning, Immutable, imp, ov)
    };
    srf(
        r,
        &["generate_series"],
        None,
        vec![
            o(&[T(Int), T(Int)], Ret::Arg(0)),
            o(&[T(Int), T(Int), T(Int)], Ret::Arg(0)),
            o(&[T(Timestamp), T(Timestamp), T(Interval)], Ret::Arg(0)),
            o(&[T(TimestampTz), T(TimestampTz), T(Interval)], Ret::Arg(0)),
        ],
    );
    srf(r, &["unnest"], None, vec![o(&[AnyArray], Ret::ElemOfArg)]);
    srf(
        r,
        &["generate_subscripts"],
        None,
        vec![o(&[AnyArray, T(Int)], Ret::T(Int))],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scalar_arity_is_implemented() {
        let ctx = EvalContext {
            params: &[],
            user: "root",
            database: "defaultdb",
            now_nanos: 0,
            oids: None,
        };
        for b in all() {
            let Some(imp) = b.imp else {
                assert_ne!(b.class, Class::Scalar, "{} has no implementation", b.name);
                continue;
            };
            for ov in &b.overloads {
                let args = vec![Datum::Null; ov.params.len()];
                if let Err(e) = imp(b.name, args, &ctx) {
                    assert!(
                        !e.message.contains("not routed"),
                        "{}: {}",
                        b.name,
                        e.message
                    );
                }
            }
        }
    }

    #[test]
    fn result_types_follow_arguments() {
        let t = |name: &str, args: &[SqlType]| lookup(name).map(|b| b.result_type(args));
        assert_eq!(
            t("date_trunc", &[SqlType::String, SqlType::Timestamp]),
            Some(SqlType::Timestamp)
        );
        assert_eq!(
            t("date_trunc", &[SqlType::String, SqlType::Date]),
            Some(SqlType::TimestampTz)
        );
        assert_eq!(
            t("greatest", &[SqlType::Int, SqlType::Decimal]),
            Some(SqlType::Decimal)
        );
        assert_eq!(
            t("coalesce", &[SqlType::String, SqlType::Date]),
            Some(SqlType::Date)
        );
        assert_eq!(t("sum", &[SqlType::Int]), Some(SqlType::Decimal));
        assert_eq!(t("length", &[SqlType::String]), Some(SqlType::Int));
        assert_eq!(t("PG_CATALOG.VERSION", &[]), Some(SqlType::String));
        assert!(lookup("no_such_function").is_none());
        assert!(is("count", Class::Aggregate) && is("lag", Class::Window));
        assert!(is("generate_series", Class::SetReturning) && is("lower", Class::Scalar));
    }
}
