//! The `LIKE <table>` element of `CREATE TABLE`: the new table starts with the visible columns
//! of the source (name, type with its modifier, NOT NULL), and with `INCLUDING` options also
//! their defaults (`DEFAULTS`), CHECK constraints (`CONSTRAINTS`) and the primary key and
//! secondary indexes with their directions (`INDEXES`), as CockroachDB copies them. Nothing is
//! copied beyond the columns unless asked for; later options override earlier ones (`INCLUDING
//! ALL EXCLUDING INDEXES`). Foreign keys are never copied. Tandem has no generated columns, so
//! `GENERATED` has nothing to copy.
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
    pub indexes: Vec<(Option<String>, Vec<(String, bool)>, bool)>,
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
