//! Cluster settings statements: `SET CLUSTER SETTING`, `SHOW CLUSTER SETTING` and
//! `SHOW [ALL] CLUSTER SETTINGS`, inside the session's transaction. Values are stored in the
//! virtual cluster's catalog; settings of the system virtual cluster only are refused
//! elsewhere (42501).

use super::*;

/// `SET CLUSTER SETTING`: needs `MODIFYCLUSTERSETTING`; the value is validated against the
/// setting's type, `version` is managed by the cluster, and the node is told of the change.
pub(super) async fn set_cluster_setting(
    session: &Session,
    txn: &mut Txn,
    catalog: &Catalog,
    name: &str,
    value: Option<&SettingValue>,
) -> Result<QueryResult> {
    require(
        txn,
        catalog,
        &session.user,
        SystemPrivilege::ModifyClusterSetting,
    )
    .await?;
    let def = cluster_settings::lookup(name)?;
    if def.system_only && session.tenant != TenantId::SYSTEM {
        return Err(SqlError::privilege(format!(
            "setting {name} is only settable by the operator in the system virtual cluster"
        )));
    }
    if name == "version" {
        return Err(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "the cluster version is managed by the cluster",
        ));
    }
    let canonical = match value {
        None => None,
        Some(v) => {
            let text = match v {
                SettingValue::Bool(b) => b.to_string(),
                other => other.to_string(),
            };
            Some(cluster_settings::validate(def, &text)?)
        }
    };
    if name == "server.controller.default_target_cluster"
        && let (Some(v), Some(admin)) = (&canonical, &session.env.clusters)
        && !admin.list().await?.iter().any(|c| c.name == *v)
    {
        return Err(SqlError::new(
            SqlState::UNDEFINED_OBJECT,
            format!("virtual cluster \"{v}\" does not exist"),
        ));
    }
    catalog.put_setting(txn, name, canonical.as_deref())?;
    if let Some(admin) = &session.env.clusters {
        admin
            .setting_changed(session.tenant, name, canonical.as_deref())
            .await;
    }
    Ok(QueryResult::Command("SET CLUSTER SETTING".into()))
}

/// `SHOW CLUSTER SETTING name`: the stored value, else the default, typed by the setting.
pub(super) async fn show_cluster_setting(
    txn: &mut Txn,
    catalog: &Catalog,
    name: &str,
) -> Result<QueryResult> {
    let def = cluster_settings::lookup(name)?;
    let v = catalog
        .setting(txn, name)
        .await?
        .unwrap_or_else(|| def.default.to_string());
    let datum = match def.ty {
        cluster_settings::SettingType::Bool => Datum::Bool(v == "true"),
        cluster_settings::SettingType::Int => v.parse().map(Datum::Int).unwrap_or(s(v)),
        _ => s(v),
    };
    let ty = datum.sql_type().unwrap_or(SqlType::String);
    Ok(QueryResult::Rows {
        columns: vec![Column::new(name, ty)],
        rows: vec![vec![datum]],
    })
}

/// `SHOW [ALL] CLUSTER SETTINGS`: each (public) setting with its value and origin.
pub(super) async fn show_cluster_settings(
    txn: &mut Txn,
    catalog: &Catalog,
    all: bool,
) -> Result<QueryResult> {
    let stored: std::collections::BTreeMap<String, String> =
        catalog.settings(txn).await?.into_iter().collect();
    let mut out = Vec::new();
    for d in cluster_settings::SETTINGS
        .iter()
        .filter(|d| all || d.public)
    {
        let v = stored
            .get(d.name)
            .cloned()
            .unwrap_or_else(|| d.default.to_string());
        let origin = if stored.contains_key(d.name) {
            "override"
        } else {
            "default"
        };
        out.push(vec![
            s(d.name),
            s(v),
            s(d.ty.code()),
            Datum::Bool(d.public),
            s(d.description),
            s(d.default),
            s(origin),
        ]);
    }
    Ok(QueryResult::Rows {
        columns: vec![
            Column::new("variable", SqlType::String),
            Column::new("value", SqlType::String),
            Column::new("setting_type", SqlType::String),
            Column::new("public", SqlType::Bool),
            Column::new("description", SqlType::String),
            Column::new("default_value", SqlType::String),
            Column::new("origin", SqlType::String),
        ],
        rows: out,
    })
}
