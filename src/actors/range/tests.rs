//! Unit tests of the range actor.

use super::*;
use crate::ids::NodeId;
use crate::storage::EngineOptions;
use crate::storage::keys::Span;
use crate::storage::records::{RangeDescriptor, ReplicaDescriptor};
use protobuf::Message as _;

/// raft-rs panics on a stored commit index beyond the log; that is an error of this
/// replica's start, not a panic of the caller (the thread every range runs on).
#[test]
fn a_raft_panic_on_stored_state_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path(), &EngineOptions::default()).expect("open");
    let desc = RangeDescriptor {
        range_id: RangeId(3),
        span: Span::all(),
        replicas: vec![ReplicaDescriptor {
            node_id: NodeId(1),
            replica_id: ReplicaId(1),
        }],
        generation: 0,
    };
    let mut b = engine.batch();
    raft_log::write_initial_state(&engine, &mut b, &desc, raft_log::initial_apply_state());
    b.commit().expect("commit");
    let hs = raft::prelude::HardState {
        term: raft_log::RAFT_INIT_TERM,
        commit: 100,
        ..Default::default()
    };
    let mut key = RangeId(3).0.to_be_bytes().to_vec();
    key.push(2);
    engine
        .raft()
        .insert(key, hs.write_to_bytes().expect("encode"))
        .expect("insert");
    let clock = Arc::new(Clock::new(std::time::Duration::from_millis(500)));
    let cfg = RangeActorConfig {
        engine: engine.clone(),
        shared: ReplicaShared::new(desc, clock.now(), Default::default(), 0),
        clock,
        settings: Arc::new(KvSettings::default()),
        transport: Box::new(transport::LocalTransport),
        metrics: Arc::default(),
        split_sink: None,
        init_sink: None,
        creation: Arc::default(),
    };
    let err = RangeActor::create(cfg, ReplicaId(1)).expect_err("corrupt state must not start");
    assert!(err.to_string().contains("raft panicked"), "{err}");
}
