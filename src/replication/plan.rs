//! The plan of one streaming attempt of an ingestion job: which standby node runs the
//! processor of each partition, and the coordinator's side of those processors.
//!
//! [`start_plan`] assigns partition `i` to the `i`-th live, reachable standby node (the
//! coordinator first) and starts a task per partition: [`run_local`] runs the processor in
//! this process; [`run_remote`] starts it on its node (node service `Replication`), long-polls
//! its durable resolved spans and stops it. Both report to the coordinator through one channel
//! ([`Report`]). [`Plan::stop`] stops every processor and waits until each acknowledged (its
//! last flush is written); before a failover or DROP, a processor that could not be told is
//! waited out (it stops by itself once not polled for [`PROCESSOR_TTL`]).

use super::ReplicationError;
use super::event::ResolvedSpan;
use super::ingestion::{IngestionEnv, IngestionSettings};
use super::processor::{self, PROCESSOR_TTL, ProcessorCall, ProcessorReply, ProcessorSpec};
use super::spec::StreamSpec;
use crate::ids::{JobId, NodeId};
use crate::jobs::{self, IngestionDetails};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What a partition's processor tells the coordinator.
pub(super) enum Report {
    /// Durable resolved spans.
    Resolved(Vec<ResolvedSpan>),
    /// The processor ended with this error; `replan` when a new plan is all it takes.
    Failed {
        /// What happened.
        error: String,
        /// The partition's leases moved.
        replan: bool,
    },
}

/// The processors of one streaming attempt.
pub(super) struct Plan {
    stop: watch::Sender<bool>,
    /// One task per processor; each answers whether its processor is known to have stopped.
    tasks: Vec<tokio::task::JoinHandle<bool>>,
}

impl Plan {
    /// Stops every processor. With `settle`, a processor that could not be told (its node is
    /// down or cut off) is waited out: it stops by itself once not polled for
    /// [`PROCESSOR_TTL`], and its last flush gets [`processor::STOP_GRACE`].
    pub(super) async fn stop(self, settle: bool) {
        let _ = self.stop.send(true);
        let mut unacknowledged = 0;
        for t in self.tasks {
            if !matches!(
                tokio::time::timeout(Duration::from_secs(40), t).await,
                Ok(Ok(true))
            ) {
                unacknowledged += 1;
            }
        }
        if settle && unacknowledged > 0 {
            tracing::warn!(
                unacknowledged,
                "replication processors did not acknowledge their stop; waiting them out"
            );
            tokio::time::sleep(PROCESSOR_TTL + processor::STOP_GRACE).await;
        }
    }
}

/// The standby nodes that can run processors: live, not draining, reachable; this node first
/// if it is one of them, then by node id.
async fn processor_nodes(env: &IngestionEnv) -> Vec<NodeId> {
    let me = env.store.node_id();
    let Some(peers) = env.store.peers() else {
        return vec![me];
    };
    let Ok(all) = env.store.serving_nodes().await else {
        return vec![me];
    };
    let mut nodes: Vec<NodeId> = all
        .into_iter()
        .map(|(d, _)| d.node_id)
        .filter(|n| *n != me && peers.address(*n).is_some())
        .collect();
    nodes.sort();
    nodes.insert(0, me);
    nodes
}

/// Starts one processor per partition of `spec`, partition `i` on the `i`-th processor node
/// (round robin); their reports go to `tx`.
pub(super) async fn start_plan(
    env: &IngestionEnv,
    job: JobId,
    d: &IngestionDetails,
    spec: &StreamSpec,
    s: &IngestionSettings,
    tx: mpsc::Sender<Report>,
) -> Plan {
    let (stop, _) = watch::channel(false);
    let generation = jobs::new_job_id().0;
    let nodes = processor_nodes(env).await;
    let me = env.store.node_id();
    let mut tasks = Vec::new();
    for (i, p) in spec.partitions.iter().enumerate() {
        let pspec = ProcessorSpec {
            job,
            generation,
            index: i as u32,
            partition: p.clone(),
            source_uri: d.source_uri.clone(),
            stream_id: d.stream_id,
            source_tenant: d.source_tenant_id,
            dest_tenant: d.dest_tenant,
            initial_scan_ts: d.start_time,
            previous_replicated_ts: d.replicated_time,
            flush_bytes: s.flush_bytes as u64,
            connect_timeout_ms: s.connect_timeout.as_millis() as u64,
            idle_timeout_ms: s.idle_timeout.as_millis() as u64,
        };
        let node = nodes[i % nodes.len()];
        let (env, tx, stop_rx) = (env.clone(), tx.clone(), stop.subscribe());
        tracing::info!(%job, partition = i, source = %pspec.source_node(), standby = %node, "planned a replication partition");
        let task = if node == me {
            tokio::spawn(run_local(env, pspec, tx, stop_rx))
        } else {
            tokio::spawn(run_remote(env, node, pspec, tx, stop_rx))
        };
        tasks.push(task);
    }
    Plan { stop, tasks }
}

/// A processor on this node.
async fn run_local(
    env: IngestionEnv,
    spec: ProcessorSpec,
    tx: mpsc::Sender<Report>,
    stop: watch::Receiver<bool>,
) -> bool {
    let (rtx, mut rrx) = mpsc::channel(64);
    let index = spec.index;
    let stopped = stop.clone();
    let forward = async {
        while let Some(r) = rrx.recv().await {
            if tx.send(Report::Resolved(r)).await.is_err() {
                break;
            }
        }
    };
    let (r, _) = tokio::join!(processor::run(env, spec, rtx, stop), forward);
    let (error, replan) = match r {
        Err(e) => (e.to_string(), matches!(e, ReplicationError::Replan(_))),
        Ok(()) if *stopped.borrow() => return true,
        Ok(()) => (format!("partition {index} ended"), false),
    };
    let _ = tx.send(Report::Failed { error, replan }).await;
    true
}

/// A processor on another standby node: started there, long-polled, stopped.
async fn run_remote(
    env: IngestionEnv,
    node: NodeId,
    spec: ProcessorSpec,
    tx: mpsc::Sender<Report>,
    mut stop: watch::Receiver<bool>,
) -> bool {
    let Some(peers) = env.store.peers().cloned() else {
        let _ = tx
            .send(Report::Failed {
                error: "no inter-node transport".into(),
                replan: false,
            })
            .await;
        return true;
    };
    let (job, generation, index) = (spec.job, spec.generation, spec.index);
    let call = |c: ProcessorCall, timeout: Duration| {
        let peers = peers.clone();
        async move {
            let body = crate::rpc::encode_body(&c).map_err(|e| e.to_string())?;
            let raw = peers
                .call_node(node, crate::rpc::Service::Replication, body, timeout)
                .await
                .map_err(|e| e.to_string())?;
            crate::rpc::decode_body::<ProcessorReply>(&raw).map_err(|e| e.to_string())
        }
    };
    let failed = |e: String| Report::Failed {
        error: format!("partition {index} on standby node {node}: {e}"),
        replan: false,
    };
    match call(
        ProcessorCall::Start(Box::new(spec)),
        Duration::from_secs(10),
    )
    .await
    {
        Ok(ProcessorReply::Started) => {}
        Ok(other) => {
            let _ = tx
                .send(failed(format!("unexpected answer {other:?}")))
                .await;
            return true;
        }
        Err(e) => {
            let _ = tx.send(failed(e)).await;
            return false;
        }
    }
    loop {
        let poll = call(
            ProcessorCall::Poll {
                job,
                generation,
                index,
            },
            Duration::from_secs(5),
        );
        tokio::select! {
            _ = stop.changed() => break,
            r = poll => match r {
                Ok(ProcessorReply::Progress { resolved, failed: f }) => {
                    if !resolved.is_empty() && tx.send(Report::Resolved(resolved)).await.is_err() {
                        break;
                    }
                    if let Some((error, replan)) = f {
                        let _ = tx.send(Report::Failed { error, replan }).await;
                        break;
                    }
                }
                Ok(other) => {
                    let _ = tx.send(failed(format!("unexpected answer {other:?}"))).await;
                    break;
                }
                Err(e) => {
                    let _ = tx.send(failed(e)).await;
                    break;
                }
            }
        }
    }
    matches!(
        call(
            ProcessorCall::Stop {
                job,
                generation,
                index
            },
            Duration::from_secs(35)
        )
        .await,
        Ok(ProcessorReply::Stopped)
    )
}
