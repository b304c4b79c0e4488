//! `ALTER TABLE t ALTER [COLUMN] c SET NOT NULL | DROP NOT NULL | SET DEFAULT e | DROP DEFAULT`.
//!
//! `SET NOT NULL` checks every existing row in the statement's transaction and fails with 23502
//! (nothing changes) when one holds NULL; `DROP NOT NULL` on a primary-key column is 42P16, as
//! in CockroachDB. Defaults are stored as SQL text, as `CREATE TABLE` stores them, and apply to
//! rows written afterwards. Changing a column's type is 0A000.

use super::*;

/// Applies `op` to column `name` of `t`.
pub(super) async fn alter_column(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &mut TableDesc,
    name: &pg::Ident,
    op: &pg::AlterColumnOperation,
) -> Result<()> {
    let n = normalize(&name.value, name.quote_style.is_some());
    let i = t.columns.iter().position(|c| c.name == n).ok_or_else(|| {
        SqlError::new(
            SqlState::UNDEFINED_COLUMN,
            format!("column \"{n}\" does not exist"),
        )
    })?;
    match op {
        pg::AlterColumnOperation::SetNotNull => {
            if t.columns[i].nullable {
                check_no_nulls(ctx, txn, t, i).await?;
                t.columns[i].nullable = false;
            }
        }
        pg::AlterColumnOperation::DropNotNull => {
            if t.primary_key.contains(&t.columns[i].id) {
                return Err(SqlError::new(
                    SqlState::INVALID_TABLE_DEFINITION,
                    format!("column \"{n}\" is in a primary index"),
                ));
            }
            t.columns[i].nullable = true;
        }
        pg::AlterColumnOperation::SetDefault { value } => {
            t.columns[i].default = match value {
                Expr::Value(v) if matches!(v.value, pg::Value::Null) => None,
                e => Some(e.to_string()),
            };
        }
        pg::AlterColumnOperation::DropDefault => t.columns[i].default = None,
        other => {
            return Err(SqlError::unsupported(format!(
                "ALTER TABLE ... ALTER COLUMN {n} {other}"
            )));
        }
    }
    t.version += 1;
    Ok(())
}

/// 23502 when a row of `t` holds NULL in column `i`.
async fn check_no_nulls(ctx: &Ctx<'_>, txn: &mut Txn, t: &TableDesc, i: usize) -> Result<()> {
    for (_, v) in txn.scan(&table_span(ctx.tenant, t), usize::MAX).await? {
        if decode_row(t, &v)?.get(i).is_none_or(Datum::is_null) {
            return Err(SqlError::new(
                SqlState::NOT_NULL_VIOLATION,
                format!(
                    "column \"{}\" of relation \"{}\" contains null values",
                    t.columns[i].name, t.name
                ),
            ));
        }
    }
    Ok(())
}
