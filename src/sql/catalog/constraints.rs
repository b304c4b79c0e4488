//! Foreign-key descriptors: the referencing and referenced columns, the referential actions
//! (`ON DELETE` / `ON UPDATE`) and the match type, as stored in a table's descriptor and shown
//! by `SHOW CREATE TABLE`. What the actions do to rows is [`crate::sql::dml`]'s business (see
//! its `fk` module); this module only describes them.

use serde::{Deserialize, Serialize};

/// What happens to referencing rows when the referenced key is deleted or updated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FkAction {
    /// The default: the statement fails if, at its end, the old key is still referenced.
    NoAction,
    /// Like `NO ACTION` (CockroachDB checks both at the end of the statement).
    Restrict,
    /// Referencing rows are deleted (`ON DELETE`) or get the new key (`ON UPDATE`).
    Cascade,
    /// The referencing columns become NULL.
    SetNull,
    /// The referencing columns get their default values (NULL without a default).
    SetDefault,
}

impl FkAction {
    /// The action from the parser's.
    pub fn from_ast(a: Option<&sqlparser::ast::ReferentialAction>) -> FkAction {
        use sqlparser::ast::ReferentialAction as R;
        match a {
            None | Some(R::NoAction) => FkAction::NoAction,
            Some(R::Restrict) => FkAction::Restrict,
            Some(R::Cascade) => FkAction::Cascade,
            Some(R::SetNull) => FkAction::SetNull,
            Some(R::SetDefault) => FkAction::SetDefault,
        }
    }

    /// SQL spelling (`NO ACTION`, `CASCADE`, ...).
    pub fn sql(self) -> &'static str {
        match self {
            FkAction::NoAction => "NO ACTION",
            FkAction::Restrict => "RESTRICT",
            FkAction::Cascade => "CASCADE",
            FkAction::SetNull => "SET NULL",
            FkAction::SetDefault => "SET DEFAULT",
        }
    }

    /// `pg_constraint.confupdtype`/`confdeltype` letter.
    pub fn pg_letter(self) -> &'static str {
        match self {
            FkAction::NoAction => "a",
            FkAction::Restrict => "r",
            FkAction::Cascade => "c",
            FkAction::SetNull => "n",
            FkAction::SetDefault => "d",
        }
    }

    /// Whether the action changes referencing rows (as opposed to checking for them).
    pub fn writes(self) -> bool {
        matches!(
            self,
            FkAction::Cascade | FkAction::SetNull | FkAction::SetDefault
        )
    }
}

/// How a composite key with NULLs matches (`MATCH SIMPLE`, the default, or `MATCH FULL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FkMatch {
    /// A key with any NULL column references nothing and is not checked.
    Simple,
    /// A key must be all NULL (references nothing) or all non-NULL (checked).
    Full,
}

/// A foreign key from this table's `columns` to `ref_table`'s `ref_columns`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKeyDesc {
    /// Name.
    pub name: String,
    /// Referencing column ids.
    pub columns: Vec<u32>,
    /// Referenced table id.
    pub ref_table: u32,
    /// Referenced column ids (the referenced table's primary key or a unique index).
    pub ref_columns: Vec<u32>,
    /// `ON DELETE` action.
    pub on_delete: FkAction,
    /// `ON UPDATE` action.
    pub on_update: FkAction,
    /// Match type.
    pub match_type: FkMatch,
}

impl ForeignKeyDesc {
    /// What follows `REFERENCES t(cols)` in CockroachDB's `SHOW CREATE TABLE`: ` MATCH FULL`,
    /// ` ON DELETE <action>`, ` ON UPDATE <action>`, each only when not the default.
    pub fn options_sql(&self) -> String {
        let mut out = String::new();
        if self.match_type == FkMatch::Full {
            out.push_str(" MATCH FULL");
        }
        if self.on_delete != FkAction::NoAction {
            out.push_str(" ON DELETE ");
            out.push_str(self.on_delete.sql());
        }
        if self.on_update != FkAction::NoAction {
            out.push_str(" ON UPDATE ");
            out.push_str(self.on_update.sql());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_show_only_what_differs_from_the_default() {
        let mut fk = ForeignKeyDesc {
            name: "f".into(),
            columns: vec![1],
            ref_table: 2,
            ref_columns: vec![1],
            on_delete: FkAction::NoAction,
            on_update: FkAction::NoAction,
            match_type: FkMatch::Simple,
        };
        assert_eq!(fk.options_sql(), "");
        fk.on_delete = FkAction::Cascade;
        fk.on_update = FkAction::SetNull;
        fk.match_type = FkMatch::Full;
        assert_eq!(
            fk.options_sql(),
            " MATCH FULL ON DELETE CASCADE ON UPDATE SET NULL"
        );
    }
}
