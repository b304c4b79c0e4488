//! `SHOW / CREATE / ALTER / DROP VIRTUAL CLUSTER` and `SHOW EXPERIMENTAL_FINGERPRINTS`: run from
//! the system virtual cluster by users with `MANAGEVIRTUALCLUSTER` (or admin), outside any
//! transaction. Plain cluster changes go to the node's tenant registry; replication
//! (`FROM REPLICATION OF`, `PAUSE/RESUME/COMPLETE REPLICATION`, a replicating cluster's DROP) to
//! its replication service (see [`crate::sql::replication`]).

use super::*;

pub(super) async fn virtual_cluster(
    session: &mut Session,
    stmt: &Statement,
) -> Result<QueryResult> {
    if session.tenant != TenantId::SYSTEM {
        return Err(SqlError::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            "virtual cluster statements can only be run from the system virtual cluster",
        ));
    }
    let admin = session
        .env
        .clusters
        .clone()
        .ok_or_else(|| SqlError::internal("virtual cluster administration is not available"))?;
    {
        let catalog = Catalog::new(session.tenant);
        let mut txn = session.env.store.begin();
        let r = require(
            &mut txn,
            &catalog,
            &session.user,
            SystemPrivilege::ManageVirtualCluster,
        )
        .await;
        txn.rollback();
        r?;
    }
    match stmt {
        Statement::ShowVirtualClusters {
            name,
            with_replication_status,
            with_prior_replication_details,
        } => {
            let mut list = admin.list().await?;
            if let Some(n) = name {
                list.retain(|c| c.name == *n);
                if list.is_empty() {
                    return Err(SqlError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("virtual cluster \"{n}\" does not exist"),
                    ));
                }
            }
            list.sort_by_key(|c| c.id);
            crate::sql::replication::show_virtual_clusters(
                session,
                list,
                *with_replication_status,
                *with_prior_replication_details,
            )
            .await
        }
        Statement::ShowFingerprints { name, as_of } => {
            let info = admin
                .list()
                .await?
                .into_iter()
                .find(|c| c.name == *name)
                .ok_or_else(|| {
                    SqlError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("virtual cluster \"{name}\" does not exist"),
                    )
                })?;
            crate::sql::replication::show_fingerprints(session, info, as_of.as_deref()).await
        }
        Statement::CreateVirtualCluster {
            name,
            if_not_exists,
            like,
            replication,
        } => {
            if let Some(source) = replication {
                replication_service(session)?
                    .create_replication(
                        name,
                        *if_not_exists,
                        like.as_deref(),
                        source,
                        &session.user,
                    )
                    .await?;
            } else {
                admin.create(name, *if_not_exists, like.as_deref()).await?;
            }
            Ok(QueryResult::Command("CREATE VIRTUAL CLUSTER".into()))
        }
        Statement::AlterVirtualCluster { name, action } => {
            if crate::sql::replication::is_replication_action(action) {
                replication_service(session)?
                    .alter_replication(name, action)
                    .await
            } else {
                admin.alter(name, action).await
            }
        }
        Statement::DropVirtualCluster {
            name,
            if_exists,
            immediate,
        } => {
            if let Some(svc) = &session.env.replication {
                svc.cancel_replication(name).await?;
            }
            admin.drop_cluster(name, *if_exists, *immediate).await?;
            Ok(QueryResult::Command("DROP VIRTUAL CLUSTER".into()))
        }
        _ => Err(SqlError::internal("not a virtual cluster statement")),
    }
}

fn replication_service(
    session: &Session,
) -> Result<std::sync::Arc<dyn crate::sql::replication::ReplicationService>> {
    session
        .env
        .replication
        .clone()
        .ok_or_else(|| SqlError::internal("physical cluster replication is not available"))
}
