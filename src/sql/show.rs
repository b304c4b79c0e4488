//! `SHOW CREATE TABLE`, `SHOW COLUMNS`, `SHOW INDEXES` and `EXPLAIN`.

use super::catalog::TableDesc;
use super::error::{Result, SqlError};
use super::exec::{Ctx, resolve_table};
use super::session::{Column, QueryResult};
use super::types::{Datum, SqlType};
use crate::kv::Txn;
use sqlparser::ast::{self as pg, ObjectName};

fn s(v: impl Into<String>) -> Datum {
    Datum::String(v.into())
}

fn col_name(t: &TableDesc, id: u32) -> String {
    t.columns
        .iter()
        .find(|c| c.id == id)
        .map(|c| c.name.clone())
        .unwrap_or_default()
}

fn quote(n: &str) -> String {
    let plain = n
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !n.starts_with(|c: char| c.is_ascii_digit());
    if plain && !["timestamp", "user", "table", "select", "order", "group"].contains(&n) {
        n.to_string()
    } else {
        format!("\"{}\"", n.replace('"', "\"\""))
    }
}

/// The CockroachDB-style `CREATE TABLE` text of a table.
pub async fn create_statement(ctx: &Ctx<'_>, txn: &mut Txn, t: &TableDesc) -> Result<String> {
    let mut lines = Vec::new();
    for c in t.columns.iter().filter(|c| !c.hidden) {
        let ty = c
            .typmod
            .type_name(c.ty)
            .unwrap_or_else(|| c.ty.name().to_string());
        let mut l = format!("\t{} {}", quote(&c.name), ty);
        l.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
        if let Some(d) = &c.default {
            l.push_str(&format!(" DEFAULT {d}"));
        }
        lines.push(l);
    }
    let pk: Vec<String> = t
        .primary_key
        .iter()
        .map(|id| format!("{} {}", quote(&col_name(t, *id)), direction(t, *id)))
        .collect();
    lines.push(format!(
        "\tCONSTRAINT {}_pkey PRIMARY KEY ({})",
        t.name,
        pk.join(", ")
    ));
    for i in &t.indexes {
        let cols: Vec<String> = i
            .columns
            .iter()
            .map(|id| {
                let dir = if i.is_descending(*id) { "DESC" } else { "ASC" };
                format!("{} {dir}", quote(&col_name(t, *id)))
            })
            .collect();
        lines.push(format!(
            "\t{}INDEX {} ({})",
            if i.unique { "UNIQUE " } else { "" },
            i.name,
            cols.join(", ")
        ));
    }
    for c in &t.checks {
        lines.push(format!("\tCONSTRAINT {} CHECK ({})", c.name, c.expr));
    }
    let mut text = format!("CREATE TABLE public.{} (\n{}\n)", t.name, lines.join(",\n"));
    for f in &t.foreign_keys {
        let parent = ctx.catalog.table_by_id(txn, f.ref_table).await?;
        let (pname, pcols) = match &parent {
            Some(p) => (
                p.name.clone(),
                f.ref_columns
                    .iter()
                    .map(|id| quote(&col_name(p, *id)))
                    .collect::<Vec<_>>(),
            ),
            None => ("?".into(), vec![]),
        };
        let cols: Vec<String> = f
            .columns
            .iter()
            .map(|id| quote(&col_name(t, *id)))
            .collect();
        text.push_str(&format!(
            ";\nALTER TABLE public.{} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES public.{}({}){}",
            t.name,
            f.name,
            cols.join(", "),
            pname,
            pcols.join(", "),
            f.options_sql()
        ));
    }
    Ok(text)
}

/// `SHOW CREATE TABLE t`.
pub async fn show_create(ctx: &Ctx<'_>, txn: &mut Txn, name: &ObjectName) -> Result<QueryResult> {
    let t = resolve_table(ctx, txn, name).await?;
    let text = create_statement(ctx, txn, &t).await?;
    Ok(QueryResult::Rows {
        columns: vec![
            Column::new("table_name", SqlType::String),
            Column::new("create_statement", SqlType::String),
        ],
        rows: vec![vec![s(t.name.clone()), s(text)]],
    })
}

/// `SHOW COLUMNS FROM t`.
pub async fn show_columns(ctx: &Ctx<'_>, txn: &mut Txn, name: &ObjectName) -> Result<QueryResult> {
    let t = resolve_table(ctx, txn, name).await?;
    let mut rows = Vec::new();
    for c in &t.columns {
        let mut indices = Vec::new();
        if t.primary_key.contains(&c.id) {
            indices.push(format!("{}_pkey", t.name));
        }
        indices.extend(
            t.indexes
                .iter()
                .filter(|i| i.columns.contains(&c.id))
                .map(|i| i.name.clone()),
        );
        rows.push(vec![
            s(c.name.clone()),
            s(c.typmod
                .type_name(c.ty)
                .unwrap_or_else(|| c.ty.name().to_string())),
            Datum::Bool(c.nullable),
            c.default.clone().map_or(Datum::Null, s),
            s(""),
            s(format!("{{{}}}", indices.join(","))),
            Datum::Bool(c.hidden),
        ]);
    }
    Ok(QueryResult::Rows {
        columns: vec![
            Column::new("column_name", SqlType::String),
            Column::new("data_type", SqlType::String),
            Column::new("is_nullable", SqlType::Bool),
            Column::new("column_default", SqlType::String),
            Column::new("generation_expression", SqlType::String),
            Column::new("indices", SqlType::String),
            Column::new("is_hidden", SqlType::Bool),
        ],
        rows,
    })
}

/// How column `id` is ordered in `t`'s primary key.
fn direction(t: &TableDesc, id: u32) -> &'static str {
    if t.descending.contains(&id) {
        "DESC"
    } else {
        "ASC"
    }
}

/// `SHOW INDEXES FROM t`.
pub async fn show_indexes(ctx: &Ctx<'_>, txn: &mut Txn, name: &ObjectName) -> Result<QueryResult> {
    let t = resolve_table(ctx, txn, name).await?;
    let mut rows = Vec::new();
    // As CockroachDB shows them: an index's own (`explicit`) leading columns (DESC when
    // `index_desc` lists them), then the primary-key columns a secondary index carries
    // (`implicit`, in the key's directions), then the columns the primary index stores
    // (`storing`, direction N/A).
    let mut push =
        |iname: &str, unique: bool, cols: &[u32], explicit: usize, index_desc: &[u32]| {
            let keyed = cols.len();
            let stored = if iname.ends_with("_pkey") && explicit == 0 {
                t.columns
                    .iter()
                    .filter(|c| !c.hidden && !cols.contains(&c.id))
                    .map(|c| c.id)
                    .collect()
            } else {
                Vec::new()
            };
            for (seq, id) in cols.iter().chain(&stored).enumerate() {
                let dir = if seq >= keyed {
                    "N/A"
                } else if seq >= explicit {
                    direction(&t, *id)
                } else if index_desc.contains(id) {
                    "DESC"
                } else {
                    "ASC"
                };
                let name = col_name(&t, *id);
                rows.push(vec![
                    s(t.name.clone()),
                    s(iname.to_string()),
                    Datum::Bool(!unique),
                    Datum::Int(seq as i64 + 1),
                    s(name.clone()),
                    s(name),
                    s(dir),
                    Datum::Bool(seq >= keyed),
                    Datum::Bool(explicit > 0 && seq >= explicit && seq < keyed),
                    Datum::Bool(true),
                ]);
            }
        };
    push(&format!("{}_pkey", t.name), true, &t.primary_key, 0, &[]);
    for i in &t.indexes {
        let mut cols = i.columns.clone();
        // Secondary indexes implicitly store the primary key.
        cols.extend(t.primary_key.iter().filter(|p| !i.columns.contains(p)));
        push(&i.name, i.unique, &cols, i.columns.len(), &i.descending);
    }
    Ok(QueryResult::Rows {
        columns: show_indexes_columns(),
        rows,
    })
}

/// The result columns of `SHOW INDEXES` (CockroachDB's).
pub fn show_indexes_columns() -> Vec<Column> {
    let b = |n: &str| Column::new(n, SqlType::Bool);
    let t = |n: &str| Column::new(n, SqlType::String);
    vec![
        t("table_name"),
        t("index_name"),
        b("non_unique"),
        Column::new("seq_in_index", SqlType::Int),
        t("column_name"),
        t("definition"),
        t("direction"),
        b("storing"),
        b("implicit"),
        b("visible"),
    ]
}

/// `EXPLAIN <query>`: the access path of each table and the operators above them.
pub async fn explain(ctx: &Ctx<'_>, txn: &mut Txn, stmt: &pg::Statement) -> Result<QueryResult> {
    let mut lines: Vec<String> = Vec::new();
    let pg::Statement::Query(q) = stmt else {
        lines.push(format!(
            "• {}",
            stmt.to_string()
                .split_whitespace()
                .next()
                .unwrap_or("statement")
                .to_lowercase()
        ));
        return Ok(info(lines));
    };
    lines.push("distribution: local".into());
    lines.push("vectorized: false".into());
    lines.push(String::new());
    let mut depth = 0;
    let push = |lines: &mut Vec<String>, depth: &mut usize, l: String| {
        lines.push(format!("{}• {l}", "  ".repeat(*depth)));
        *depth += 1;
    };
    if q.limit_clause.is_some() {
        push(&mut lines, &mut depth, "limit".into());
    }
    if q.order_by.is_some() {
        push(&mut lines, &mut depth, "sort".into());
    }
    let pg::SetExpr::Select(sel) = q.body.as_ref() else {
        push(&mut lines, &mut depth, "union/values".into());
        return Ok(info(lines));
    };
    let grouped = !matches!(&sel.group_by, pg::GroupByExpr::Expressions(v, _) if v.is_empty()) || sel.projection.iter().any(|p| matches!(p, pg::SelectItem::UnnamedExpr(pg::Expr::Function(f)) | pg::SelectItem::ExprWithAlias { expr: pg::Expr::Function(f), .. } if ["count", "sum", "avg", "min", "max"].contains(&f.name.to_string().to_lowercase().as_str())));
    if grouped {
        push(&mut lines, &mut depth, "group (hash)".into());
    }
    if sel.selection.is_some() {
        push(&mut lines, &mut depth, "filter".into());
    }
    for tw in &sel.from {
        if !tw.joins.is_empty() {
            push(
                &mut lines,
                &mut depth,
                "hash join (equality) or cross join (other conditions)".into(),
            );
        }
        let mut factors = vec![&tw.relation];
        factors.extend(tw.joins.iter().map(|j| &j.relation));
        for f in factors {
            if let pg::TableFactor::Table { name, alias, .. } = f {
                if let Ok(t) = resolve_table(ctx, txn, name).await {
                    let label = alias
                        .as_ref()
                        .map(|a| a.name.value.clone())
                        .unwrap_or_else(|| t.name.clone());
                    let access = access_path(ctx, &t, &label, sel.selection.as_ref());
                    lines.push(format!("{}• scan", "  ".repeat(depth)));
                    lines.push(format!(
                        "{}  table: {}@{}_pkey",
                        "  ".repeat(depth),
                        t.name,
                        t.name
                    ));
                    lines.push(format!("{}  spans: {access}", "  ".repeat(depth)));
                }
            } else {
                lines.push(format!("{}• subquery", "  ".repeat(depth)));
            }
        }
    }
    Ok(info(lines))
}

/// The access path the executor will take (the same planner, [`super::scan::plan_access`]).
fn access_path(ctx: &Ctx<'_>, t: &TableDesc, label: &str, sel: Option<&pg::Expr>) -> String {
    let names = super::scan::column_names(t, label);
    let ectx = super::exec::eval_ctx(ctx, &[]);
    match super::scan::plan_access(ctx.tenant, t, sel, &names, &ectx) {
        Ok(a) => a.describe(t),
        Err(_) => "FULL SCAN".into(),
    }
}

fn info(lines: Vec<String>) -> QueryResult {
    QueryResult::Rows {
        columns: vec![Column::new("info", SqlType::String)],
        rows: lines.into_iter().map(|l| vec![Datum::String(l)]).collect(),
    }
}

/// Result columns of these statements (for Describe).
pub fn describe(stmt: &pg::Statement) -> Option<Vec<Column>> {
    Some(match stmt {
        pg::Statement::ShowCreate { .. } => vec![
            Column::new("table_name", SqlType::String),
            Column::new("create_statement", SqlType::String),
        ],
        pg::Statement::Explain { .. } => vec![Column::new("info", SqlType::String)],
        pg::Statement::ShowColumns { .. } => vec![
            Column::new("column_name", SqlType::String),
            Column::new("data_type", SqlType::String),
            Column::new("is_nullable", SqlType::Bool),
            Column::new("column_default", SqlType::String),
            Column::new("generation_expression", SqlType::String),
            Column::new("indices", SqlType::String),
            Column::new("is_hidden", SqlType::Bool),
        ],
        _ => return None,
    })
}

/// Checks a SHOW CREATE target type.
pub fn check_create_kind(kind: &pg::ShowCreateObject) -> Result<()> {
    match kind {
        pg::ShowCreateObject::Table => Ok(()),
        other => Err(SqlError::unsupported(format!("SHOW CREATE {other}"))),
    }
}
