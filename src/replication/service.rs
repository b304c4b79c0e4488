//! The node's [`ReplicationService`]: SQL's view of the replication producer and consumer
//! actors. Each call is one message; a stopped actor gives an internal error (the supervisor
//! restarts it).

use crate::actors::replication_consumer::{
    self as consumer, AlterReplication, CancelReplication, CreateReplication, ReplicationConsumer,
};
use crate::actors::replication_producer::{
    CompleteStream, GetStreamSpec, Heartbeat, OpenPartition, ReplicationProducer, StartStream,
};
use crate::clock::Timestamp;
use crate::ids::JobId;
use crate::jobs::JobRecord;
use crate::replication::ingestion::IngestionEnv;
use crate::sql::ast::{AlterVirtualClusterAction, ReplicationSource};
use crate::sql::error::{Result, SqlError};
use crate::sql::replication::ReplicationService;
use crate::sql::session::{QueryResult, RowStream};
use actix::{Addr, MailboxError};

/// The producer and consumer of one node.
#[derive(Clone)]
pub struct NodeReplication {
    /// The producer actor.
    pub producer: Addr<ReplicationProducer>,
    /// The consumer actor.
    pub consumer: Addr<ReplicationConsumer>,
    /// The consumer's environment (for reading live job progress).
    pub env: IngestionEnv,
}

fn mailbox(e: MailboxError) -> SqlError {
    SqlError::internal(format!("replication service unavailable: {e}"))
}

#[async_trait::async_trait]
impl ReplicationService for NodeReplication {
    async fn start_stream(&self, tenant: &str, user: &str) -> Result<Vec<u8>> {
        self.producer
            .send(StartStream {
                tenant_name: tenant.into(),
                user: user.into(),
            })
            .await
            .map_err(mailbox)?
    }
    async fn stream_spec(&self, id: JobId) -> Result<Vec<u8>> {
        self.producer
            .send(GetStreamSpec { id })
            .await
            .map_err(mailbox)?
    }
    async fn stream_partition(&self, id: JobId, spec: Vec<u8>) -> Result<RowStream> {
        self.producer
            .send(OpenPartition { id, spec })
            .await
            .map_err(mailbox)?
    }
    async fn stream_progress(&self, id: JobId, ts: Timestamp) -> Result<Vec<u8>> {
        self.producer
            .send(Heartbeat { id, ts })
            .await
            .map_err(mailbox)?
    }
    async fn complete_stream(&self, id: JobId, successful: bool) -> Result<()> {
        self.producer
            .send(CompleteStream { id, successful })
            .await
            .map_err(mailbox)?
    }
    async fn create_replication(
        &self,
        dest: &str,
        if_not_exists: bool,
        like: Option<&str>,
        source: &ReplicationSource,
        user: &str,
    ) -> Result<()> {
        self.consumer
            .send(CreateReplication {
                dest: dest.into(),
                if_not_exists,
                like: like.map(String::from),
                source: source.clone(),
                user: user.into(),
            })
            .await
            .map_err(mailbox)?
    }
    async fn alter_replication(
        &self,
        name: &str,
        action: &AlterVirtualClusterAction,
    ) -> Result<QueryResult> {
        self.consumer
            .send(AlterReplication {
                name: name.into(),
                action: action.clone(),
            })
            .await
            .map_err(mailbox)?
    }
    async fn cancel_replication(&self, name: &str) -> Result<()> {
        self.consumer
            .send(CancelReplication { name: name.into() })
            .await
            .map_err(mailbox)?
    }
    async fn jobs(&self) -> Result<Vec<JobRecord>> {
        consumer::ingestion_jobs(&self.env).await
    }
}
