//! `ALTER TABLE t ADD COLUMN c TYPE [NOT NULL] [DEFAULT e]`.
//!
//! Without a default the column is NULL in every existing row, which rows already say (a row
//! stores its non-NULL values by column id): only the descriptor changes, and `NOT NULL`
//! without a default is 23502 unless the table is empty. With a default every existing row
//! gets it, evaluated per row as CockroachDB does (`gen_random_uuid()` differs from row to
//! row; `now()` is the statement's timestamp in every row). A table of at most one batch
//! (see [`schema_jobs`]) is rewritten in the statement's transaction. A larger one gets the
//! column as a write-only [`Mutation::Column`] and a `SCHEMA CHANGE` job that fills the rows
//! in batches while the table stays readable and writable; the column becomes visible when
//! the job makes it public. A default that is NULL for a NOT NULL column fails the job with
//! 23502, and the table is left without the column.

use super::*;

/// Adds `def` to `t` (written by the caller); `Ok(false)` when it exists and `if_not_exists`.
pub(super) async fn add_column(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    t: &mut TableDesc,
    def: &pg::ColumnDef,
    if_not_exists: bool,
) -> Result<()> {
    let name = normalize(&def.name.value, def.name.quote_style.is_some());
    if t.column(&name).is_some() || pending_column(t, &name) {
        if if_not_exists {
            return Ok(());
        }
        return Err(SqlError::new(
            SqlState::DUPLICATE_OBJECT,
            format!(
                "column \"{name}\" of relation \"{}\" already exists",
                t.name
            ),
        ));
    }
    let ty = SqlType::from_ast(&def.data_type)?;
    let mut nullable = true;
    let mut default = None;
    for o in &def.options {
        match &o.option {
            pg::ColumnOption::NotNull => nullable = false,
            pg::ColumnOption::Default(e) => default = Some(e.to_string()),
            pg::ColumnOption::Null => {}
            other => {
                return Err(SqlError::unsupported(format!("ADD COLUMN ... {other}")));
            }
        }
    }
    let col = ColumnDesc {
        id: t.next_column_id,
        name,
        ty,
        nullable,
        default,
        hidden: false,
        typmod: TypeMod::from_ast(&def.data_type)?,
    };
    t.next_column_id += 1;
    if col.default.is_none() {
        if !nullable && !txn.scan(&table_span(ctx.tenant, t), 1).await?.is_empty() {
            return Err(not_null(&col));
        }
        t.columns.push(col);
        return Ok(());
    }
    // Evaluated once now, so that a bad expression, a type error or a NULL for a NOT NULL
    // column fails the statement rather than the job (a volatile default that is only
    // sometimes NULL still fails the job).
    rows::new_column_value(ctx, &col)?;
    let m = Mutation::Column {
        id: t.next_index_id,
        column: col,
        now_nanos: ctx.now_nanos,
    };
    if schema_jobs::is_small(ctx, txn, t).await? {
        let existing = txn.scan(&table_span(ctx.tenant, t), usize::MAX).await?;
        let mut rows_ = Vec::with_capacity(existing.len());
        for (_, v) in &existing {
            rows_.push(decode_row(t, v)?);
        }
        rows::backfill_rows(ctx, txn, t, &m, &rows_)?;
        if let Mutation::Column { column, .. } = m {
            t.columns.push(column);
        }
        return Ok(());
    }
    if t.changes
        .mutations
        .iter()
        .any(|m| matches!(m, Mutation::Column { .. }))
    {
        return Err(SqlError::unsupported(
            "adding more than one column with a default in one statement to a table of more than one batch",
        ));
    }
    t.next_index_id += 1;
    let description = format!("ALTER TABLE {} ADD COLUMN {}", t.name, def);
    schema_jobs::enqueue_backfill(ctx, txn, t, m, description)
}

/// Whether a column named `name` is being added to `t`.
fn pending_column(t: &TableDesc, name: &str) -> bool {
    t.changes
        .mutations
        .iter()
        .any(|m| matches!(m, Mutation::Column { column, .. } if column.name == name))
}

fn not_null(c: &ColumnDesc) -> SqlError {
    SqlError::new(
        SqlState::NOT_NULL_VIOLATION,
        format!(
            "null value in column \"{}\" violates not-null constraint",
            c.name
        ),
    )
}
