//! The `LIKE <table>` element of `CREATE TABLE`: the new table starts with the visible columns
//! of the source (name, type with its modifier, NOT NULL), and with `INCLUDING` options also
//! their defaults (`DEFAULTS`), CHECK constraints (`CONSTRAINTS`) and the primary key and
//! secondary indexes with their directions (`INDEXES`), as CockroachDB copies them. Nothing is
//! copied beyond the columns unless asked for; later options override earlier ones (`INCLUDING
//! ALL EXCLUDING INDEXES`). Foreign keys are never copied. Tandem has no generated columns, so
//! `GENERATED` has nothing to copy.
//!
//! The statement parser yields only `INCLUDING DEFAULTS` / `EXCLUDING DEFAULTS` for now; the
//! other options (and other table elements beside `LIKE`) are still a syntax error there, so
//! `CONSTRAINTS`, `INDEXES` and `GENERATED` reach [`copy_like`] only through its own tests.
//!
//! Copied indexes get the new table's default names (`<table>_<columns>_idx`/`_key`); copied
//! CHECKs keep their names. The hidden `rowid` of a source without a declared primary key is not
//! copied: the new table gets its own.

use super::*;

/// What a `LIKE` element copies besides the columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct LikeOptions {
    /// Column defaults.
    pub defaults: bool,
    /// CHECK constraints.
    pub constraints: bool,
    /// The primary key and secondary indexes.
    pub indexes: bool,
}

/// What `LIKE` contributes to the new table's definition, in CREATE TABLE's own terms.
#[derive(Debug, Default)]
pub(super) struct LikeCopy {
    /// Columns (ids are the caller's to assign).
    pub columns: Vec<ColumnDesc>,
    /// Primary-key column names, and those of them stored DESC.
    pub pk: Vec<String>,
    pub pk_desc: Vec<String>,
    /// Secondary indexes: (name, columns with directions, unique); unnamed, so they get the new
    /// table's default names.
    pub indexes: Vec<PendingIndex>,
    /// CHECK constraints: (name, expression).
    pub checks: Vec<(Option<String>, String)>,
}

/// The options of the `LIKE` element of `ct`, if it has one. `CREATE TABLE t2 LIKE t` (no
/// parentheses) is not CockroachDB syntax: 0A000.
pub(super) fn like_element(ct: &pg::CreateTable) -> Result<Option<(&ObjectName, LikeOptions)>> {
    match &ct.like {
        None => Ok(None),
        Some(pg::CreateTableLikeKind::Plain(_)) => Err(SqlError::unsupported(
            "CREATE TABLE ... LIKE without parentheses (use CREATE TABLE t2 (LIKE t))",
        )),
        Some(pg::CreateTableLikeKind::Parenthesized(l)) => {
            let opts = LikeOptions {
                defaults: matches!(l.defaults, Some(pg::CreateTableLikeDefaults::Including)),
                ..LikeOptions::default()
            };
            Ok(Some((&l.name, opts)))
        }
    }
}

/// What `LIKE src` with `opts` copies.
pub(super) fn copy_like(src: &TableDesc, opts: LikeOptions) -> LikeCopy {
    let mut out = LikeCopy::default();
    let name_of = |id: u32| src.column_index(id).map(|i| src.columns[i].name.clone());
    for c in src.columns.iter().filter(|c| !c.hidden) {
        out.columns.push(ColumnDesc {
            id: 0,
            name: c.name.clone(),
            ty: c.ty,
            nullable: c.nullable,
            default: if opts.defaults {
                c.default.clone()
            } else {
                None
            },
            hidden: false,
            typmod: c.typmod,
        });
    }
    if opts.indexes {
        let visible_pk = src.primary_key.iter().all(|id| {
            src.column_index(*id)
                .is_some_and(|i| !src.columns[i].hidden)
        });
        if visible_pk {
            for id in &src.primary_key {
                if let Some(n) = name_of(*id) {
                    if src.descending.contains(id) {
                        out.pk_desc.push(n.clone());
                    }
                    out.pk.push(n);
                }
            }
        }
        for ix in &src.indexes {
            let cols: Vec<(String, bool)> = ix
                .columns
                .iter()
                .filter_map(|id| name_of(*id).map(|n| (n, ix.is_descending(*id))))
                .collect();
            out.indexes.push((None, cols, ix.unique));
        }
    }
    if opts.constraints {
        out.checks = src
            .checks
            .iter()
            .map(|c| (Some(c.name.clone()), c.expr.clone()))
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::catalog::{CheckDesc, IndexDesc};

    fn col(id: u32, name: &str, nullable: bool, hidden: bool) -> ColumnDesc {
        ColumnDesc {
            id,
            name: name.into(),
            ty: SqlType::Int,
            nullable,
            default: Some("7".into()),
            hidden,
            typmod: TypeMod::None,
        }
    }

    fn source(pk_hidden: bool) -> TableDesc {
        TableDesc {
            id: 100,
            parent_id: 50,
            schema_id: 0,
            name: "src".into(),
            columns: vec![
                col(1, "a", false, false),
                col(2, "b", true, false),
                col(3, "rowid", false, pk_hidden),
            ],
            primary_key: vec![if pk_hidden { 3 } else { 1 }],
            descending: vec![1],
            next_column_id: 4,
            version: 1,
            indexes: vec![IndexDesc {
                id: 2,
                name: "src_b_a_idx".into(),
                columns: vec![2, 1],
                unique: true,
                descending: vec![2],
            }],
            checks: vec![CheckDesc {
                name: "check_b".into(),
                expr: "b > 0".into(),
            }],
            foreign_keys: Vec::new(),
            next_index_id: 3,
            changes: Default::default(),
        }
    }

    /// By default only the visible columns (with NOT NULL, without defaults) are copied.
    #[test]
    fn columns_only_by_default() {
        let c = copy_like(&source(true), LikeOptions::default());
        let names: Vec<_> = c
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.nullable))
            .collect();
        assert_eq!(names, vec![("a", false), ("b", true)]);
        assert!(c.columns.iter().all(|c| c.default.is_none()));
        assert!(c.pk.is_empty() && c.indexes.is_empty() && c.checks.is_empty());
    }

    /// Every option: defaults, CHECKs, the primary key and indexes with their directions.
    #[test]
    fn everything_with_all_options() {
        let all = LikeOptions {
            defaults: true,
            constraints: true,
            indexes: true,
        };
        let c = copy_like(&source(false), all);
        assert_eq!(c.columns.len(), 3);
        assert!(c.columns.iter().all(|c| c.default.as_deref() == Some("7")));
        assert_eq!(
            (c.pk, c.pk_desc),
            (vec!["a".to_string()], vec!["a".to_string()])
        );
        assert_eq!(
            c.indexes,
            vec![(
                None,
                vec![("b".to_string(), true), ("a".to_string(), false)],
                true
            )]
        );
        assert_eq!(
            c.checks,
            vec![(Some("check_b".to_string()), "b > 0".to_string())]
        );
        // A hidden rowid key is not copied: the new table gets its own.
        let c = copy_like(&source(true), all);
        assert!(c.pk.is_empty());
        assert_eq!(c.columns.len(), 2);
    }
}
