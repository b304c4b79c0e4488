//! `CREATE TABLE`: columns with their types, defaults and constraints, the primary key (with
//! directions; a hidden `rowid` when none is declared), inline and table-level indexes, CHECKs
//! (named `check_<cols>` when unnamed, as in CockroachDB) and foreign keys, all written in the
//! statement's transaction.

use super::*;

/// What the statement declares, before ids are given.
#[derive(Default)]
struct Declared {
    columns: Vec<ColumnDesc>,
    /// Primary-key column names, in key order.
    pk: Vec<String>,
    /// Primary-key columns declared DESC.
    pk_desc: Vec<String>,
    indexes: Vec<PendingIndex>,
    checks: Vec<(Option<String>, String)>,
    fks: Vec<PendingFk>,
}

/// `CREATE TABLE [IF NOT EXISTS] ...`.
pub async fn create_table(
    ctx: &Ctx<'_>,
    txn: &mut Txn,
    ct: &pg::CreateTable,
) -> Result<QueryResult> {
    let (dbd, schema, name) = crate::sql::exec::resolve_name(ctx, txn, &ct.name, |_| {
        SqlError::new(
            SqlState("3F000"),
            format!(
                "cannot create \"{}\" because the target database or schema does not exist",
                ct.name
            ),
        )
    })
    .await?;
    let schema_id = schema.as_ref().map_or(0, |s| s.id);
    if ctx
        .catalog
        .table(txn, if schema_id == 0 { dbd.id } else { schema_id }, &name)
        .await?
        .is_some()
    {
        if ct.if_not_exists {
            return Ok(QueryResult::Command("CREATE TABLE".into()));
        }
        return Err(SqlError::new(
            SqlState::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    let mut d = Declared::default();
    if let Some((src, opts)) = super::like::like_element(ct)? {
        let src = resolve_table(ctx, txn, src).await?;
        let copy = super::like::copy_like(&src, opts);
        for mut c in copy.columns {
            c.id = d.columns.len() as u32 + 1;
            d.columns.push(c);
        }
        d.pk = copy.pk;
        d.pk_desc = copy.pk_desc;
        d.indexes = copy.indexes;
        d.checks = copy.checks;
    }
    column_definitions(ct, &mut d)?;
    table_constraints(ct, &name, &mut d)?;
    let (primary_key, descending, next) = primary_key(&mut d)?;
    let (indexes, next_index_id) = indexes(&name, &d.columns, std::mem::take(&mut d.indexes))?;
    let mut desc = TableDesc {
        schema_id,
        id: 0,
        parent_id: dbd.id,
        name,
        columns: d.columns,
        primary_key,
        descending,
        next_column_id: next,
        version: 1,
        indexes,
        checks: named_checks(d.checks),
        foreign_keys: Vec::new(),
        next_index_id,
        changes: Default::default(),
    };
    // The id first, so that a foreign key to the table itself can name it.
    desc.id = ctx.catalog.next_id(txn).await?;
    let mut fk_descs = Vec::new();
    for (fname, cols, def) in d.fks {
        fk_descs.push(foreign_key(ctx, txn, &desc, fname, &cols, &def).await?);
    }
    desc.foreign_keys = fk_descs;
    let id = desc.id;
    ctx.catalog.create_table(txn, desc).await?;
    split_at_table_start(ctx.tenant, id, txn.store());
    Ok(QueryResult::Command("CREATE TABLE".into()))
}

/// The column definitions, with their inline constraints.
fn column_definitions(ct: &pg::CreateTable, d: &mut Declared) -> Result<()> {
    for c in &ct.columns {
        let cname = normalize(&c.name.value, c.name.quote_style.is_some());
        if d.columns.iter().any(|x: &ColumnDesc| x.name == cname) {
            return Err(SqlError::new(
                SqlState::DUPLICATE_OBJECT,
                format!("duplicate column name: \"{cname}\""),
            ));
        }
        let ty = SqlType::from_ast(&c.data_type)?;
        let mut nullable = true;
        let mut default = None;
        let serial = matches!(&c.data_type, pg::DataType::Custom(n, _) if n.to_string().to_lowercase().contains("serial"));
        if serial {
            default = Some("unique_rowid()".to_string());
        }
        for opt in &c.options {
            match &opt.option {
                pg::ColumnOption::NotNull => nullable = false,
                pg::ColumnOption::Null => nullable = true,
                pg::ColumnOption::Default(e) => default = Some(e.to_string()),
                pg::ColumnOption::PrimaryKey(_) => {
                    d.pk.push(cname.clone());
                    nullable = false;
                }
                pg::ColumnOption::Unique(u) => d.indexes.push((
                    u.name
                        .as_ref()
                        .or(u.index_name.as_ref())
                        .or(opt.name.as_ref())
                        .map(|n| n.value.clone()),
                    vec![(cname.clone(), false)],
                    true,
                )),
                pg::ColumnOption::Check(ck) => d.checks.push((
                    ck.name
                        .as_ref()
                        .or(opt.name.as_ref())
                        .map(|n| n.value.clone()),
                    ck.expr.to_string(),
                )),
                pg::ColumnOption::ForeignKey(fk) => d.fks.push((
                    fk.name
                        .as_ref()
                        .or(opt.name.as_ref())
                        .map(|n| n.value.clone()),
                    vec![cname.clone()],
                    fk.clone(),
                )),
                _ => {}
            }
        }
        d.columns.push(ColumnDesc {
            id: d.columns.len() as u32 + 1,
            name: cname,
            ty,
            nullable,
            default,
            hidden: false,
            typmod: TypeMod::from_ast(&c.data_type)?,
        });
    }
    Ok(())
}

/// The table-level constraints.
fn table_constraints(ct: &pg::CreateTable, name: &str, d: &mut Declared) -> Result<()> {
    for c in &ct.constraints {
        match c {
            pg::TableConstraint::PrimaryKey(p) => {
                if !d.pk.is_empty() {
                    return Err(SqlError::new(
                        SqlState::INVALID_TABLE_DEFINITION,
                        format!("multiple primary keys for table \"{name}\" are not allowed"),
                    ));
                }
                for ic in &p.columns {
                    let n = match &ic.column.expr {
                        Expr::Identifier(i) => normalize(&i.value, i.quote_style.is_some()),
                        other => {
                            return Err(SqlError::unsupported(format!(
                                "primary key expression {other}"
                            )));
                        }
                    };
                    if matches!(ic.column.options.sort, Some(pg::OrderBySort::Desc)) {
                        d.pk_desc.push(n.clone());
                    }
                    d.pk.push(n);
                }
            }
            pg::TableConstraint::Unique(u) => d.indexes.push((
                u.name
                    .as_ref()
                    .or(u.index_name.as_ref())
                    .map(|n| n.value.clone()),
                index_elems(&u.columns)?,
                true,
            )),
            pg::TableConstraint::Index(ix) => d.indexes.push((
                ix.name.as_ref().map(|n| n.value.clone()),
                index_elems(&ix.columns)?,
                false,
            )),
            pg::TableConstraint::Check(ck) => d.checks.push((
                ck.name.as_ref().map(|n| n.value.clone()),
                ck.expr.to_string(),
            )),
            pg::TableConstraint::ForeignKey(fk) => d.fks.push((
                fk.name.as_ref().map(|n| n.value.clone()),
                fk.columns
                    .iter()
                    .map(|c| normalize(&c.value, c.quote_style.is_some()))
                    .collect(),
                fk.clone(),
            )),
            other => return Err(SqlError::unsupported(format!("table constraint {other}"))),
        }
    }
    Ok(())
}

/// The primary key's column ids and descending ids, and the next column id: a hidden `rowid`
/// is added when no key is declared; key columns become NOT NULL.
fn primary_key(d: &mut Declared) -> Result<(Vec<u32>, Vec<u32>, u32)> {
    let columns = &mut d.columns;
    let mut next = columns.len() as u32 + 1;
    if d.pk.is_empty() {
        columns.push(ColumnDesc {
            id: next,
            name: "rowid".into(),
            ty: SqlType::Int,
            nullable: false,
            default: Some("unique_rowid()".into()),
            hidden: true,
            typmod: TypeMod::None,
        });
        next += 1;
        d.pk.push("rowid".into());
    }
    let mut primary_key = Vec::new();
    let mut descending = Vec::new();
    for n in &d.pk {
        let col = columns.iter_mut().find(|c| c.name == *n).ok_or_else(|| {
            SqlError::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{n}\" does not exist"),
            )
        })?;
        col.nullable = false;
        primary_key.push(col.id);
        if d.pk_desc.contains(n) {
            descending.push(col.id);
        }
    }
    Ok((primary_key, descending, next))
}

/// The declared indexes with ids from 2 and default names (`<table>_<cols>_key|idx`), and the
/// next index id.
fn indexes(
    name: &str,
    columns: &[ColumnDesc],
    pending: Vec<PendingIndex>,
) -> Result<(Vec<crate::sql::catalog::IndexDesc>, u32)> {
    let col_id = |columns: &[ColumnDesc], n: &str| -> Result<u32> {
        columns
            .iter()
            .find(|c| c.name == n)
            .map(|c| c.id)
            .ok_or_else(|| {
                SqlError::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!("column \"{n}\" does not exist"),
                )
            })
    };
    let mut indexes = Vec::new();
    let mut next_index_id = 2;
    for (iname, cols, unique) in pending {
        let ids = cols
            .iter()
            .map(|(c, _)| col_id(columns, c))
            .collect::<Result<Vec<_>>>()?;
        let descending = cols
            .iter()
            .zip(&ids)
            .filter(|((_, desc), _)| *desc)
            .map(|(_, id)| *id)
            .collect();
        let names: Vec<&str> = cols.iter().map(|(c, _)| c.as_str()).collect();
        let iname = iname.unwrap_or_else(|| {
            format!(
                "{name}_{}_{}",
                names.join("_"),
                if unique { "key" } else { "idx" }
            )
        });
        indexes.push(crate::sql::catalog::IndexDesc {
            id: next_index_id,
            name: iname,
            columns: ids,
            unique,
            descending,
        });
        next_index_id += 1;
    }
    Ok((indexes, next_index_id))
}

/// The CHECKs, unnamed ones named as CockroachDB does.
fn named_checks(checks: Vec<(Option<String>, String)>) -> Vec<crate::sql::catalog::CheckDesc> {
    let mut named: Vec<crate::sql::catalog::CheckDesc> = Vec::new();
    for (n, e) in checks {
        let name = match n {
            Some(n) => n,
            None => default_check_name(&e, &named),
        };
        named.push(crate::sql::catalog::CheckDesc { name, expr: e });
    }
    named
}

/// Tables of virtual clusters start their own range (as CockroachDB splits at table boundaries):
/// their leases, and so the rangefeeds and replication partitions over them, spread over the
/// nodes. The split runs in the background once the statement is done with the id; a failure
/// is logged (the table works in whatever range holds it) and, if the transaction does not
/// commit, an empty range is left at an unused id. System tables stay together.
fn split_at_table_start(tenant: crate::ids::TenantId, table: u32, store: &crate::kv::Store) {
    if tenant == crate::ids::TenantId::SYSTEM {
        return;
    }
    let store = store.clone();
    tokio::spawn(async move {
        let key = keys::index_prefix(tenant, table, 0);
        if let Err(e) = store.split_at(&key).await {
            tracing::debug!(%tenant, table, "split at the table's start: {e}");
        }
    });
}

/// CockroachDB's name for an unnamed CHECK: `check_` and the columns it mentions (`check_n`,
/// `check_a_b`), with a number appended when a table already has that name.
pub(super) fn default_check_name(
    expr: &str,
    existing: &[crate::sql::catalog::CheckDesc],
) -> String {
    let mut cols: Vec<String> = Vec::new();
    if let Ok(e) = crate::sql::exec::parse_expr(expr) {
        let _ = pg::visit_expressions(&e, |x| {
            if let pg::Expr::Identifier(i) = x {
                let n = normalize(&i.value, i.quote_style.is_some());
                if !cols.contains(&n) {
                    cols.push(n);
                }
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
    }
    let base = if cols.is_empty() {
        "check".to_string()
    } else {
        format!("check_{}", cols.join("_"))
    };
    let taken = |n: &str| existing.iter().any(|c| c.name == n);
    if !taken(&base) {
        return base;
    }
    (1..)
        .map(|k| format!("{base}{k}"))
        .find(|n| !taken(n))
        .unwrap_or(base)
}
