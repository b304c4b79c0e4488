//! CockroachDB's `[SHOW ...]` sources: each SHOW runs first and its rows become a common table
//! expression of the statement that reads it (`SELECT ... FROM [SHOW INDEXES FROM t]`).

use super::*;

/// Runs a statement that reads `[SHOW ...]` sources: each SHOW runs first, then the statement
/// runs with the rows as common table expressions named by the placeholders.
pub(super) async fn with_show_sources(
    session: &mut Session,
    sources: &[(String, Statement)],
    stmt: &Statement,
    params: &[Datum],
) -> Result<QueryResult> {
    let mut ctes = Vec::with_capacity(sources.len());
    for (name, show) in sources {
        let r = Box::pin(execute(session, show, params)).await?;
        let QueryResult::Rows { columns, rows } = r else {
            return Err(SqlError::syntax(format!(
                "a [{}] source must be a statement that returns rows",
                "SHOW ..."
            )));
        };
        let cols: Vec<String> = columns
            .iter()
            .map(|c| format!("\"{}\"", c.name.replace('"', "\"\"")))
            .collect();
        let body = if rows.is_empty() {
            let nulls: Vec<String> = columns
                .iter()
                .map(|c| format!("NULL::{}", c.ty.name()))
                .collect();
            format!("SELECT {} WHERE false", nulls.join(", "))
        } else {
            let values: Vec<String> = rows
                .into_iter()
                .map(|r| {
                    let v: Vec<String> = r
                        .into_iter()
                        .map(|d| crate::sql::query::literal_expr(d).to_string())
                        .collect();
                    format!("({})", v.join(", "))
                })
                .collect();
            format!("VALUES {}", values.join(", "))
        };
        ctes.push(format!("{name} ({}) AS ({body})", cols.join(", ")));
    }
    let with_sql = format!("WITH {} SELECT 1", ctes.join(", "));
    let parsed =
        sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, &with_sql)
            .map_err(|e| SqlError::internal(format!("[SHOW ...] source: {e}")))?;
    let Some(pg::Statement::Query(q)) = parsed.into_iter().next() else {
        return Err(SqlError::internal(
            "[SHOW ...] source did not parse as a query",
        ));
    };
    let Some(with) = q.with else {
        return Err(SqlError::internal("[SHOW ...] source lost its WITH"));
    };
    // Put the sources in front of the statement's own WITH clause.
    let attach = |s: &Statement| -> Result<Statement> {
        let Statement::Pg(p) = s else {
            return Err(SqlError::unsupported(
                "[SHOW ...] sources in this statement",
            ));
        };
        let pg::Statement::Query(q) = p.as_ref() else {
            return Err(SqlError::unsupported("[SHOW ...] sources outside a query"));
        };
        let mut q = q.clone();
        match &mut q.with {
            Some(w) => {
                let mut all = with.cte_tables.clone();
                all.append(&mut w.cte_tables);
                w.cte_tables = all;
            }
            None => q.with = Some(with.clone()),
        }
        Ok(Statement::Pg(Box::new(pg::Statement::Query(q))))
    };
    let rewritten = match stmt {
        Statement::AsOfSystemTime { time, stmt } => Statement::AsOfSystemTime {
            time: time.clone(),
            stmt: Box::new(attach(stmt)?),
        },
        other => attach(other)?,
    };
    Box::pin(execute(session, &rewritten, params)).await
}

/// Parameters given (as NULL) when a statement is run to describe it.
pub(super) const MAX_DESCRIBE_PARAMS: usize = 64;
