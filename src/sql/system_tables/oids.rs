//! The object-identifier snapshot behind PostgreSQL's `reg*` types and catalog functions.
//!
//! psql, SQLAlchemy and psycopg describe objects with `x::regclass`, `'name'::regclass`,
//! `to_regtype('...')`, `pg_get_indexdef(oid)`, `pg_get_constraintdef(oid)` and
//! `pg_get_userbyid(oid)`. Expressions are evaluated synchronously, so a statement that uses any
//! of these gets an [`OidNames`] snapshot of the current database's relations, indexes,
//! constraints, schemas and roles, read in the statement's transaction before it runs
//! ([`needs_oid_names`] decides, [`OidNames::load`] reads).
//!
//! Casting follows PostgreSQL: a `reg*` value is an oid. A number or numeric string casts to
//! that oid; a name casts to the named object's oid (42P01/42704 when there is none; the
//! `to_reg*` functions give NULL instead). Casting an oid to a `reg*` type yields the object's
//! name for display (`conrelid::regclass` shows `users`), or the number when nothing has it.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{self as pg, DataType, Expr};

use super::*;
use crate::sql::sqlstate::SqlState;

/// A `reg*` type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegKind {
    /// `regclass`: relations (tables, indexes, system tables).
    Class,
    /// `regtype`: types.
    Type,
    /// `regnamespace`: schemas.
    Namespace,
    /// `regrole`: roles.
    Role,
    /// `regproc` / `regprocedure`: functions (none are catalogued; names stay names).
    Proc,
}

impl RegKind {
    /// The `reg*` type a parsed type names, if it is one.
    pub fn of(dt: &DataType) -> Option<RegKind> {
        let name = match dt {
            DataType::Regclass => return Some(RegKind::Class),
            DataType::Custom(name, _) => name,
            _ => return None,
        };
        let last = name.0.last()?.to_string().to_ascii_lowercase();
        Some(match last.as_str() {
            "regclass" => RegKind::Class,
            "regtype" => RegKind::Type,
            "regnamespace" => RegKind::Namespace,
            "regrole" => RegKind::Role,
            "regproc" | "regprocedure" => RegKind::Proc,
            _ => return None,
        })
    }
}

/// The real PostgreSQL oids of the system relations clients name (`'pg_class'::regclass`).
const SYSTEM_RELATIONS: &[(&str, i64)] = &[
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", 1259),
    ("pg_authid", 1260),
    ("pg_auth_members", 1261),
    ("pg_database", 1262),
    ("pg_attrdef", 2604),
    ("pg_constraint", 2606),
    ("pg_inherits", 2611),
    ("pg_index", 2610),
    ("pg_description", 2609),
    ("pg_namespace", 2615),
    ("pg_am", 2601),
    ("pg_trigger", 2620),
    ("pg_collation", 3456),
    ("pg_policy", 3256),
    ("pg_sequence", 2224),
    ("pg_roles", 11_000),
    ("pg_user", 11_001),
    ("pg_settings", 11_002),
    ("pg_tables", 11_003),
    ("pg_indexes", 11_004),
];

/// Whether statement `s` needs an [`OidNames`] snapshot to evaluate.
pub fn needs_oid_names(s: &pg::Statement) -> bool {
    let mut found = false;
    let _ = pg::visit_expressions(s, |e| {
        let hit = match e {
            Expr::Cast { data_type, .. } => RegKind::of(data_type).is_some(),
            Expr::Function(f) => {
                let name = f.name.0.last().map(|p| p.to_string().to_ascii_lowercase());
                matches!(
                    name.as_deref(),
                    Some(
                        "to_regclass"
                            | "to_regtype"
                            | "to_regnamespace"
                            | "to_regrole"
                            | "pg_get_indexdef"
                            | "pg_get_constraintdef"
                            | "pg_get_userbyid"
                            | "pg_get_serial_sequence"
                    )
                )
            }
            _ => false,
        };
        if hit {
            found = true;
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}

/// One relation's name.
#[derive(Clone, Debug)]
struct RelName {
    schema: String,
    name: String,
}

/// A statement's snapshot of object names by oid.
#[derive(Debug, Default)]
pub struct OidNames {
    relations: HashMap<i64, RelName>,
    namespaces: HashMap<i64, String>,
    roles: HashMap<i64, String>,
    /// Index oid -> (`CREATE INDEX ...` text, column names).
    index_defs: HashMap<i64, (String, Vec<String>)>,
    /// Constraint oid -> `PRIMARY KEY (id)`, `FOREIGN KEY (a) REFERENCES t(b)`, ...
    constraint_defs: HashMap<i64, String>,
}

impl OidNames {
    /// Reads the current database's objects and the roles in `txn`.
    pub async fn load(ctx: &Ctx<'_>, txn: &mut Txn) -> Result<OidNames> {
        let mut out = OidNames::default();
        for (name, oid) in SCHEMAS {
            out.namespaces.insert(oid, name.to_string());
        }
        for (name, oid) in SYSTEM_RELATIONS {
            out.relations.insert(
                *oid,
                RelName {
                    schema: "pg_catalog".into(),
                    name: (*name).to_string(),
                },
            );
        }
        for u in ctx.catalog.users(txn).await? {
            out.roles.insert(name_oid("role", &u.name), u.name);
        }
        for r in ["node", "admin", "root", "public"] {
            out.roles.insert(name_oid("role", r), r.to_string());
        }
        let Some(db) = ctx.catalog.database(txn, ctx.database).await? else {
            return Ok(out);
        };
        let schemas = ctx.catalog.schemas(txn, db.id).await?;
        for sc in &schemas {
            out.namespaces.insert(schema_oid(sc.id), sc.name.clone());
        }
        let tables = ctx.catalog.tables(txn, db.id).await?;
        let by_id: HashMap<u32, &TableDesc> = tables.iter().map(|t| (t.id, t)).collect();
        for t in &tables {
            let schema = out
                .namespaces
                .get(&schema_oid(t.schema_id))
                .cloned()
                .unwrap_or_else(|| "public".into());
            out.relations.insert(
                i64::from(t.id),
                RelName {
                    schema: schema.clone(),
                    name: t.name.clone(),
                },
            );
            for ix in all_indexes(t) {
                let oid = index_oid(t.id, ix.id);
                out.relations.insert(
                    oid,
                    RelName {
                        schema: schema.clone(),
                        name: ix.name.clone(),
                    },
                );
                let columns = ix.columns.iter().map(|c| column_name(t, *c)).collect();
                out.index_defs
                    .insert(oid, (index_def(t, &schema, &ix), columns));
            }
            for c in constraints(t, &by_id) {
                let oid = constraint_oid(t, &c.name);
                let cols = |t: &TableDesc, ids: &[u32]| {
                    ids.iter()
                        .map(|id| quote_ident(&column_name(t, *id)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let def = match c.kind {
                    'p' | 'u' => format!("{} ({})", c.type_name(), cols(t, &c.columns)),
                    'f' => {
                        let (target, ref_cols) = match &c.references {
                            Some((rt, rc)) => match by_id.get(rt) {
                                Some(target) => (quote_ident(&target.name), cols(target, rc)),
                                None => (rt.to_string(), String::new()),
                            },
                            None => (String::new(), String::new()),
                        };
                        format!(
                            "FOREIGN KEY ({}) REFERENCES {target}({ref_cols})",
                            cols(t, &c.columns)
                        )
                    }
                    _ => format!("CHECK (({}))", c.check.clone().unwrap_or_default()),
                };
                out.constraint_defs.insert(oid, def);
            }
        }
        Ok(out)
    }

    /// `pg_get_indexdef(oid)` (column 0) or the name of index column `column` (1-based).
    pub fn index_def(&self, oid: i64, column: i64) -> Option<String> {
        let (def, cols) = self.index_defs.get(&oid)?;
        if column <= 0 {
            Some(def.clone())
        } else {
            cols.get(usize::try_from(column - 1).ok()?).cloned()
        }
    }

    /// `pg_get_constraintdef(oid)`.
    pub fn constraint_def(&self, oid: i64) -> Option<String> {
        self.constraint_defs.get(&oid).cloned()
    }

    /// `pg_get_userbyid(oid)`.
    pub fn role_name(&self, oid: i64) -> Option<String> {
        self.roles.get(&oid).cloned()
    }

    /// The oid `name` denotes as a `kind` (None when nothing has that name).
    fn lookup(&self, kind: RegKind, name: &str) -> Option<i64> {
        let parts: Vec<String> = name.split('.').map(unquote).collect();
        match kind {
            RegKind::Class => {
                let (schema, rel) = match parts.as_slice() {
                    [r] => (None, r.as_str()),
                    [s, r] => (Some(s.as_str()), r.as_str()),
                    [_, s, r] => (Some(s.as_str()), r.as_str()),
                    _ => return None,
                };
                // Unqualified names search public, then pg_catalog (the default search_path).
                let order: Vec<&str> = match schema {
                    Some(s) => vec![s],
                    None => vec!["public", "pg_catalog"],
                };
                order.iter().find_map(|s| {
                    self.relations
                        .iter()
                        .find(|(_, r)| r.schema == *s && r.name == rel)
                        .map(|(oid, _)| *oid)
                })
            }
            RegKind::Type => {
                let t = parts.last()?.to_ascii_lowercase();
                let t = type_alias(&t);
                let (base, array) = match t.strip_suffix("[]") {
                    Some(b) => (type_alias(b), true),
                    None => (t, false),
                };
                PG_TYPES
                    .iter()
                    .find(|(_, n, ..)| *n == base)
                    .map(|&(oid, _, _, _, _, arr)| if array { arr } else { oid })
            }
            RegKind::Namespace => {
                let n = parts.last()?;
                self.namespaces
                    .iter()
                    .find(|(_, v)| *v == n)
                    .map(|(k, _)| *k)
            }
            RegKind::Role => {
                let n = parts.last()?;
                self.roles.iter().find(|(_, v)| *v == n).map(|(k, _)| *k)
            }
            RegKind::Proc => None,
        }
    }

    /// The display name of oid `oid` as a `kind`.
    fn name_of(&self, kind: RegKind, oid: i64) -> Option<String> {
        match kind {
            RegKind::Class => self.relations.get(&oid).map(|r| {
                if r.schema == "public" || r.schema == "pg_catalog" {
                    quote_ident(&r.name)
                } else {
                    format!("{}.{}", quote_ident(&r.schema), quote_ident(&r.name))
                }
            }),
            RegKind::Type => type_display_name(oid).map(str::to_string),
            RegKind::Namespace => self.namespaces.get(&oid).cloned(),
            RegKind::Role => self.roles.get(&oid).cloned(),
            RegKind::Proc => None,
        }
    }
}

/// The oid of constraint `name` of table `t` (as `pg_constraint.oid` shows it).
pub(super) fn constraint_oid(t: &TableDesc, name: &str) -> i64 {
    name_oid("constraint", &format!("{}.{}", t.id, name))
}

fn unquote(part: &str) -> String {
    let p = part.trim();
    match p.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(q) => q.replace("\"\"", "\""),
        None => p.to_lowercase(),
    }
}

/// `name`, double-quoted when it is not a plain lower-case identifier.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// PostgreSQL's spellings of the built-in types (`integer` -> `int4`, ...).
fn type_alias(t: &str) -> &str {
    match t {
        "integer" | "int" => "int4",
        "bigint" => "int8",
        "smallint" => "int2",
        "real" => "float4",
        "double precision" | "float" => "float8",
        "boolean" => "bool",
        "character varying" => "varchar",
        "character" | "char" => "bpchar",
        "decimal" => "numeric",
        "string" => "text",
        "bytes" => "bytea",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        "time without time zone" => "time",
        "json" => "jsonb",
        other => other,
    }
}

/// `format_type`'s name for a type oid (without modifier).
pub fn type_display_name(oid: i64) -> Option<&'static str> {
    Some(match oid {
        16 => "boolean",
        17 => "bytea",
        19 => "name",
        20 => "bigint",
        21 => "smallint",
        23 => "integer",
        25 => "text",
        26 => "oid",
        700 => "real",
        701 => "double precision",
        1042 => "character",
        1043 => "character varying",
        1082 => "date",
        1083 => "time without time zone",
        1114 => "timestamp without time zone",
        1184 => "timestamp with time zone",
        1186 => "interval",
        1700 => "numeric",
        2950 => "uuid",
        3802 => "jsonb",
        1000 => "boolean[]",
        1001 => "bytea[]",
        1003 => "name[]",
        1016 => "bigint[]",
        1005 => "smallint[]",
        1007 => "integer[]",
        1009 => "text[]",
        1028 => "oid[]",
        1021 => "real[]",
        1022 => "double precision[]",
        1014 => "character[]",
        1015 => "character varying[]",
        1182 => "date[]",
        1183 => "time without time zone[]",
        1115 => "timestamp without time zone[]",
        1185 => "timestamp with time zone[]",
        1187 => "interval[]",
        1231 => "numeric[]",
        2951 => "uuid[]",
        3807 => "jsonb[]",
        _ => return None,
    })
}

/// `format_type(oid, typmod)`: `character varying(20)`, `numeric(10,2)`, `bigint[]`, ...
pub fn format_type(oid: i64, typmod: i64) -> String {
    let Some(base) = type_display_name(oid) else {
        return "???".into();
    };
    if typmod < 0 {
        return base.to_string();
    }
    match oid {
        1042 | 1043 => format!("{base}({})", typmod - 4),
        1700 => {
            let m = typmod - 4;
            format!("{base}({},{})", m >> 16, m & 0xffff)
        }
        _ => base.to_string(),
    }
}

/// Casts `v` to a `kind` value: strings (numbers or names) become oids (`strict`: an unknown
/// name is an error, else NULL); an integer oid becomes its object's name, for display.
pub fn reg_cast(
    kind: RegKind,
    v: Datum,
    names: Option<&OidNames>,
    strict: bool,
) -> crate::sql::error::Result<Datum> {
    let display = matches!(v, Datum::Int(_));
    let oid = match v {
        Datum::Null => return Ok(Datum::Null),
        Datum::Int(i) => i,
        Datum::String(s) => match s.trim().parse::<i64>() {
            Ok(i) => i,
            Err(_) => match names.and_then(|n| n.lookup(kind, &s)) {
                Some(oid) => oid,
                None if kind == RegKind::Proc => return Ok(Datum::String(s)),
                None if !strict => return Ok(Datum::Null),
                None => {
                    let (state, what) = match kind {
                        RegKind::Class => (SqlState::UNDEFINED_TABLE, "relation"),
                        RegKind::Type => (SqlState::UNDEFINED_OBJECT, "type"),
                        RegKind::Namespace => (SqlState("3F000"), "schema"),
                        _ => (SqlState::UNDEFINED_OBJECT, "role"),
                    };
                    return Err(crate::sql::error::SqlError::new(
                        state,
                        format!("{what} \"{s}\" does not exist"),
                    ));
                }
            },
        },
        other => {
            return Err(crate::sql::error::SqlError::new(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "invalid cast from {} to an object identifier",
                    other.sql_type().map_or("unknown", |t| t.name())
                ),
            ));
        }
    };
    if display && let Some(name) = names.and_then(|n| n.name_of(kind, oid)) {
        return Ok(Datum::String(name));
    }
    Ok(Datum::Int(oid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_and_formats() {
        assert_eq!(format_type(1043, 24), "character varying(20)");
        assert_eq!(format_type(1700, ((10 << 16) | 2) + 4), "numeric(10,2)");
        assert_eq!(format_type(1009, -1), "text[]");
        let names = OidNames::default();
        assert_eq!(names.lookup(RegKind::Type, "integer"), Some(23));
        assert_eq!(names.lookup(RegKind::Type, "text[]"), Some(1009));
        assert_eq!(
            reg_cast(
                RegKind::Type,
                Datum::String("hstore".into()),
                Some(&names),
                false
            )
            .expect("to_regtype"),
            Datum::Null
        );
        assert_eq!(
            reg_cast(
                RegKind::Class,
                Datum::String("nope".into()),
                Some(&names),
                true
            )
            .expect_err("strict")
            .state,
            SqlState::UNDEFINED_TABLE
        );
        assert_eq!(
            reg_cast(RegKind::Class, Datum::String("2606".into()), None, true).expect("numeric"),
            Datum::Int(2606)
        );
        assert_eq!(quote_ident("Users"), "\"Users\"");
    }
}
