//! Catalog and session builtins: the pg_catalog helpers psql and drivers call
//! (`pg_get_indexdef`, `format_type`, `to_regclass`, visibility and privilege checks), the
//! session's identity (`current_user`, `current_database`, `current_schema(s)`, `version`).
//! Facts the node does not track (relation sizes, comments, view definitions) are NULL, never
//! a made-up value.

use super::*;
use registry::Overload;

/// Calls `name`, one of this module's functions (the registry routes only those here).
pub(super) fn call(name: &str, args: Vec<Datum>, ctx: &EvalContext<'_>) -> Result<Datum> {
    let one = |a: &[Datum]| one_arg(name, a);
    Ok(match name {
        "pg_table_is_visible"
        | "pg_type_is_visible"
        | "pg_function_is_visible"
        | "has_table_privilege"
        | "has_schema_privilege"
        | "has_database_privilege" => Datum::Bool(true),
        "obj_description" | "col_description" | "shobj_description" => Datum::Null,
        "pg_get_expr" => match args.first() {
            Some(Datum::String(e)) => Datum::String(e.clone()),
            _ => Datum::Null,
        },
        "pg_get_userbyid" => match args.first() {
            Some(Datum::Int(oid)) => Datum::String(
                ctx.oids
                    .and_then(|n| n.role_name(*oid))
                    .unwrap_or_else(|| format!("unknown (OID={oid})")),
            ),
            _ => Datum::Null,
        },
        "pg_get_indexdef" => match (args.first(), args.get(1)) {
            (Some(Datum::Int(oid)), col) => {
                let col = match col {
                    Some(Datum::Int(c)) => *c,
                    _ => 0,
                };
                ctx.oids
                    .and_then(|n| n.index_def(*oid, col))
                    .map_or(Datum::Null, Datum::String)
            }
            _ => Datum::Null,
        },
        "pg_get_constraintdef" => match args.first() {
            Some(Datum::Int(oid)) => ctx
                .oids
                .and_then(|n| n.constraint_def(*oid))
                .map_or(Datum::Null, Datum::String),
            _ => Datum::Null,
        },
        "to_regclass" | "to_regtype" | "to_regnamespace" | "to_regrole" => {
            use crate::sql::system_tables::oids::{RegKind, reg_cast};
            let kind = match name {
                "to_regclass" => RegKind::Class,
                "to_regtype" => RegKind::Type,
                "to_regnamespace" => RegKind::Namespace,
                _ => RegKind::Role,
            };
            match one(&args)? {
                Datum::String(s) => reg_cast(kind, Datum::String(s), ctx.oids, false)?,
                Datum::Null => Datum::Null,
                other => {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_FUNCTION,
                        format!(
                            "unknown signature: {name}({})",
                            other
                                .sql_type()
                                .map_or("unknown", |t| t.name())
                                .to_lowercase()
                        ),
                    ));
                }
            }
        }
        // No table is partitioned: a relation's only "ancestor" is itself.
        "pg_partition_ancestors" | "pg_partition_root" => match one(&args)? {
            Datum::Null => Datum::Null,
            v => crate::sql::system_tables::oids::reg_cast(
                crate::sql::system_tables::oids::RegKind::Class,
                match v {
                    Datum::Int(i) => Datum::String(i.to_string()),
                    other => other,
                },
                ctx.oids,
                true,
            )?,
        },
        "pg_relation_is_publishable" => Datum::Bool(false),
        // Sizes are not tracked per relation: unknown (NULL), never a made-up number.
        "pg_table_size"
        | "pg_relation_size"
        | "pg_total_relation_size"
        | "pg_indexes_size"
        | "pg_database_size" => Datum::Null,
        "pg_size_pretty" => match one(&args)? {
            Datum::Null => Datum::Null,
            v => match v.coerce(SqlType::Int)? {
                Datum::Int(n) => Datum::String(size_pretty(n)),
                _ => Datum::Null,
            },
        },
        "pg_collation_is_visible" | "pg_is_in_recovery" => Datum::Bool(name != "pg_is_in_recovery"),
        "pg_get_serial_sequence"
        | "pg_get_statisticsobjdef_columns"
        | "pg_get_triggerdef"
        | "pg_get_viewdef"
        | "pg_get_functiondef"
        | "pg_get_function_result"
        | "pg_get_function_arguments"
        | "pg_get_function_identity_arguments"
        | "pg_tablespace_location" => Datum::Null,
        "current_schema" => Datum::String("public".into()),
        "current_schemas" => Datum::Array(vec![
            Datum::String("pg_catalog".into()),
            Datum::String("public".into()),
        ]),
        "pg_encoding_to_char" => Datum::String("UTF8".into()),
        "format_type" => match (args.first(), args.get(1)) {
            (Some(Datum::Int(oid)), typmod) => {
                let typmod = match typmod {
                    Some(Datum::Int(m)) => *m,
                    _ => -1,
                };
                Datum::String(crate::sql::system_tables::oids::format_type(*oid, typmod))
            }
            _ => Datum::Null,
        },
        "version" => Datum::String(version_string()),
        "current_user" | "session_user" => Datum::String(ctx.user.into()),
        "current_database" => Datum::String(ctx.database.into()),
        _ => return Err(not_here(name)),
    })
}

/// Registers the catalog and session builtins (all stable).
pub(super) fn register(r: &mut Reg) {
    use Param::{Any, T};
    use SqlType::*;
    let mut add = |names: &[&'static str], ov: Vec<Overload>| {
        r.add(names, Class::Scalar, Volatility::Stable, Some(call), ov)
    };
    let text = Ret::T(String);
    add(
        &[
            "pg_table_is_visible",
            "pg_type_is_visible",
            "pg_function_is_visible",
            "pg_collation_is_visible",
        ],
        vec![o(&[T(Int)], Ret::T(Bool))],
    );
    add(
        &[
            "has_table_privilege",
            "has_schema_privilege",
            "has_database_privilege",
        ],
        vec![
            o(&[Any, Any], Ret::T(Bool)),
            o(&[Any, Any, Any], Ret::T(Bool)),
        ],
    );
    add(
        &["obj_description", "col_description", "shobj_description"],
        vec![o(&[T(Int)], text), o(&[T(Int), Any], text)],
    );
    add(
        &["pg_get_expr"],
        vec![o(&[Any, T(Int)], text), o(&[Any, T(Int), T(Bool)], text)],
    );
    add(
        &[
            "pg_get_userbyid",
            "pg_encoding_to_char",
            "pg_tablespace_location",
        ],
        vec![o(&[T(Int)], text)],
    );
    add(
        &["pg_get_indexdef"],
        vec![o(&[T(Int)], text), o(&[T(Int), T(Int), T(Bool)], text)],
    );
    add(
        &[
            "pg_get_constraintdef",
            "pg_get_viewdef",
            "pg_get_triggerdef",
        ],
        vec![o(&[Any], text), o(&[Any, T(Bool)], text)],
    );
    add(
        &[
            "pg_get_statisticsobjdef_columns",
            "pg_get_functiondef",
            "pg_get_function_result",
            "pg_get_function_arguments",
            "pg_get_function_identity_arguments",
        ],
        vec![o(&[T(Int)], text)],
    );
    add(&["pg_get_serial_sequence"], vec![o(&[Any, Any], text)]);
    add(
        &["to_regclass", "to_regtype", "to_regnamespace", "to_regrole"],
        vec![o(&[T(String)], Ret::T(Int))],
    );
    add(&["pg_partition_root"], vec![o(&[Any], Ret::T(Int))]);
    add(
        &["pg_relation_is_publishable"],
        vec![o(&[Any], Ret::T(Bool))],
    );
    add(
        &[
            "pg_table_size",
            "pg_relation_size",
            "pg_total_relation_size",
            "pg_indexes_size",
            "pg_database_size",
        ],
        vec![o(&[Any], Ret::T(Int))],
    );
    add(&["pg_size_pretty"], vec![o(&[T(Int)], text)]);
    add(&["pg_is_in_recovery"], vec![o(&[], Ret::T(Bool))]);
    add(
        &[
            "current_schema",
            "version",
            "current_user",
            "session_user",
            "current_database",
        ],
        vec![o(&[], text)],
    );
    add(
        &["current_schemas"],
        vec![o(&[T(Bool)], Ret::T(Array(ElemType::String)))],
    );
    add(&["format_type"], vec![o(&[T(Int), Any], text)]);
    r.add(
        &["pg_partition_ancestors"],
        Class::SetReturning,
        Volatility::Stable,
        Some(call),
        vec![o(&[Any], Ret::T(Int))],
    );
}
