//! The raft log of one replica on fjall, implementing [`raft::Storage`].
//!
//! Keys in the `raft` partition are `range id (8 bytes BE) ‖ tag ‖ [index (8 bytes BE)]`:
//! tag 1 log entries, 2 hard state, 3 apply state, 4 range descriptor, 5 conf state. Entries and
//! hard state are written into the caller's batch (the range actor commits it and then waits for
//! the group syncer before telling raft they are persisted). The in-memory copies of hard state,
//! conf state and log bounds are updated by the same calls, so they always equal what the next
//! commit makes durable. A new single-voter group starts at index/term 5 (like TiKV), so no
//! snapshot is needed to initialise it.

// rust-protobuf messages are built field by field, as raft-rs's own examples do.
#![allow(clippy::field_reassign_with_default)]

use crate::ids::RangeId;
use crate::storage::Engine;
use crate::storage::error::{Result, StorageError};
use crate::storage::records::{ApplyState, RangeDescriptor, decode, encode};
use fjall::OwnedWriteBatch;
use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState};

/// Index and term of the first log position of a bootstrapped group.
pub const RAFT_INIT_INDEX: u64 = 5;
/// See [`RAFT_INIT_INDEX`].
pub const RAFT_INIT_TERM: u64 = 5;

const TAG_ENTRY: u8 = 1;
/// Entries kept in memory after append: at most this many...
const TAIL_ENTRIES: usize = 1024;
/// ...holding at most this many bytes of command data (bulk-ingest entries are 4 MiB each).
const TAIL_BYTES: usize = 32 << 20;
const TAG_HARD_STATE: u8 = 2;
const TAG_APPLY_STATE: u8 = 3;
const TAG_DESCRIPTOR: u8 = 4;
const TAG_CONF_STATE: u8 = 5;

fn state_key(range: RangeId, tag: u8) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.extend_from_slice(&range.0.to_be_bytes());
    k.push(tag);
    k
}

fn entry_key(range: RangeId, index: u64) -> Vec<u8> {
    let mut k = state_key(range, TAG_ENTRY);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// Raft storage of one replica.
pub struct FjallRaftStorage {
    engine: Engine,
    range_id: RangeId,
    hard_state: HardState,
    conf_state: ConfState,
    apply: ApplyState,
    last_index: u64,
    last_term: u64,
    /// The most recently appended entries (contiguous, ending at `last_index`), so committed
    /// entries are applied without reading them back from fjall.
    tail: std::collections::VecDeque<Entry>,
    /// Sum of the `data` lengths in `tail`.
    tail_bytes: usize,
}

impl std::fmt::Debug for FjallRaftStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallRaftStorage")
            .field("range", &self.range_id)
            .field("last_index", &self.last_index)
            .field("apply", &self.apply)
            .finish()
    }
}

/// Writes the initial raft state of a new replica with the given voters into `batch`.
pub fn write_initial_state(
    engine: &Engine,
    batch: &mut OwnedWriteBatch,
    desc: &RangeDescriptor,
    apply: ApplyState,
) {
    let mut hs = HardState::default();
    hs.term = apply.truncated_term.max(RAFT_INIT_TERM);
    hs.commit = apply.applied_index;
    let mut cs = ConfState::default();
    cs.voters = desc.replicas.iter().map(|r| r.replica_id.0).collect();
    let r = desc.range_id;
    batch.insert(
        engine.raft(),
        state_key(r, TAG_HARD_STATE),
        hs.write_to_bytes().expect("encoding a hard state"),
    );
    batch.insert(
        engine.raft(),
        state_key(r, TAG_CONF_STATE),
        cs.write_to_bytes().expect("encoding a conf state"),
    );
    batch.insert(engine.raft(), state_key(r, TAG_APPLY_STATE), encode(&apply));
    batch.insert(engine.raft(), state_key(r, TAG_DESCRIPTOR), encode(desc));
}

/// Writes the raft state of the right-hand range a split creates, unless this node already
/// holds that range initialised (a snapshot of the new range reached this node before the split
/// applied here: that state is newer and stays). The term and vote of an uninitialised replica
/// of the range are kept, so a vote it cast in a term is never forgotten. The caller holds the
/// store's range-creation lock. Returns whether it wrote.
pub fn write_split_right_state(
    engine: &Engine,
    batch: &mut OwnedWriteBatch,
    desc: &RangeDescriptor,
) -> Result<bool> {
    let range = desc.range_id;
    if read_descriptor(engine, range)?.is_some_and(|d| !d.span.is_empty()) {
        return Ok(false);
    }
    write_initial_state(engine, batch, desc, initial_apply_state());
    if let Some(raw) = engine.raft().get(state_key(range, TAG_HARD_STATE))? {
        let old = HardState::parse_from_bytes(&raw)?;
        if old.term > RAFT_INIT_TERM {
            let mut hs = HardState::default();
            hs.term = old.term;
            hs.vote = old.vote;
            hs.commit = RAFT_INIT_INDEX;
            batch.insert(
                engine.raft(),
                state_key(range, TAG_HARD_STATE),
                hs.write_to_bytes().expect("encoding a hard state"),
            );
        }
    }
    Ok(true)
}

/// The descriptor stored for `range` on this node, if any (an uninitialised replica's has an
/// empty span).
pub fn read_descriptor(engine: &Engine, range: RangeId) -> Result<Option<RangeDescriptor>> {
    match engine.raft().get(state_key(range, TAG_DESCRIPTOR))? {
        Some(raw) => Ok(Some(decode(&raw)?)),
        None => Ok(None),
    }
}

/// Writes the raft state of a replica created by a message from a peer, before a snapshot
/// gives it data: no log, no voters, and a descriptor with only its range id (an empty span).
pub fn write_uninitialized_state(engine: &Engine, batch: &mut OwnedWriteBatch, range: RangeId) {
    let desc = RangeDescriptor {
        range_id: range,
        ..Default::default()
    };
    let apply = ApplyState::default();
    batch.insert(
        engine.raft(),
        state_key(range, TAG_HARD_STATE),
        HardState::default()
            .write_to_bytes()
            .expect("encoding a hard state"),
    );
    batch.insert(
        engine.raft(),
        state_key(range, TAG_CONF_STATE),
        ConfState::default()
            .write_to_bytes()
            .expect("encoding a conf state"),
    );
    batch.insert(
        engine.raft(),
        state_key(range, TAG_APPLY_STATE),
        encode(&apply),
    );
    batch.insert(
        engine.raft(),
        state_key(range, TAG_DESCRIPTOR),
        encode(&desc),
    );
}

/// The initial apply state of a bootstrapped group.
pub fn initial_apply_state() -> ApplyState {
    ApplyState {
        applied_index: RAFT_INIT_INDEX,
        truncated_index: RAFT_INIT_INDEX,
        truncated_term: RAFT_INIT_TERM,
    }
}

/// Writes a range descriptor into `batch`.
pub fn write_descriptor(engine: &Engine, batch: &mut OwnedWriteBatch, desc: &RangeDescriptor) {
    batch.insert(
        engine.raft(),
        state_key(desc.range_id, TAG_DESCRIPTOR),
        encode(desc),
    );
}

/// Every range descriptor stored on this node.
pub fn load_descriptors(engine: &Engine) -> Result<Vec<RangeDescriptor>> {
    let mut out = Vec::new();
    for item in engine.raft().iter() {
        let (k, v) = item.into_inner()?;
        if k.len() == 9 && k[8] == TAG_DESCRIPTOR {
            out.push(decode(&v)?);
        }
    }
    Ok(out)
}

impl FjallRaftStorage {
    /// Loads the raft state of `range_id`.
    pub fn load(engine: &Engine, range_id: RangeId) -> Result<FjallRaftStorage> {
        let raft = engine.raft();
        let hs_raw = raft
            .get(state_key(range_id, TAG_HARD_STATE))?
            .ok_or(StorageError::MissingRangeState(range_id, "hard state"))?;
        let cs_raw = raft
            .get(state_key(range_id, TAG_CONF_STATE))?
            .ok_or(StorageError::MissingRangeState(range_id, "conf state"))?;
        let ap_raw = raft
            .get(state_key(range_id, TAG_APPLY_STATE))?
            .ok_or(StorageError::MissingRangeState(range_id, "apply state"))?;
        let mut hard_state = HardState::parse_from_bytes(&hs_raw)?;
        let conf_state = ConfState::parse_from_bytes(&cs_raw)?;
        let apply: ApplyState = decode(&ap_raw)?;
        // Applied entries were committed; a commit index persisted in an older hard state is
        // raised to match (stores written before the append-then-apply order needed this).
        hard_state.commit = hard_state.commit.max(apply.applied_index);
        let mut s = FjallRaftStorage {
            engine: engine.clone(),
            range_id,
            hard_state,
            conf_state,
            apply,
            last_index: apply.truncated_index,
            last_term: apply.truncated_term,
            tail: std::collections::VecDeque::new(),
            tail_bytes: 0,
        };
        let lo = entry_key(range_id, 0);
        let hi = entry_key(range_id, u64::MAX);
        if let Some(item) = raft.range(lo..=hi).next_back() {
            let (_, v) = item.into_inner()?;
            let e = Entry::parse_from_bytes(&v)?;
            if e.index > s.last_index {
                s.last_index = e.index;
                s.last_term = e.term;
            }
        }
        Ok(s)
    }

    /// The persisted apply state.
    pub fn apply_state(&self) -> ApplyState {
        self.apply
    }

    /// The range's descriptor as stored with its raft state.
    pub fn descriptor(&self) -> Result<RangeDescriptor> {
        let raw = self
            .engine
            .raft()
            .get(state_key(self.range_id, TAG_DESCRIPTOR))?
            .ok_or(StorageError::MissingRangeState(self.range_id, "descriptor"))?;
        decode(&raw)
    }

    /// Appends entries (replacing any conflicting suffix) into `batch`.
    pub fn append(&mut self, batch: &mut OwnedWriteBatch, entries: &[Entry]) {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return;
        };
        for e in entries {
            batch.insert(
                self.engine.raft(),
                entry_key(self.range_id, e.index),
                e.write_to_bytes().expect("encoding a raft entry"),
            );
        }
        for stale in last.index + 1..=self.last_index {
            batch.remove(self.engine.raft(), entry_key(self.range_id, stale));
        }
        debug_assert!(
            first.index <= self.last_index + 1,
            "log gap: appending {} after {}",
            first.index,
            self.last_index
        );
        self.last_index = last.index;
        self.last_term = last.term;
        while self.tail.back().is_some_and(|e| e.index >= first.index) {
            if let Some(e) = self.tail.pop_back() {
                self.tail_bytes -= e.data.len();
            }
        }
        if self.tail.back().is_some_and(|e| e.index + 1 != first.index) {
            self.tail.clear();
            self.tail_bytes = 0;
        }
        self.tail_bytes += entries.iter().map(|e| e.data.len()).sum::<usize>();
        self.tail.extend(entries.iter().cloned());
        while self.tail.len() > 1
            && (self.tail.len() > TAIL_ENTRIES || self.tail_bytes > TAIL_BYTES)
        {
            if let Some(e) = self.tail.pop_front() {
                self.tail_bytes -= e.data.len();
            }
        }
    }

    /// Records a new hard state into `batch`.
    pub fn set_hard_state(&mut self, batch: &mut OwnedWriteBatch, hs: &HardState) {
        batch.insert(
            self.engine.raft(),
            state_key(self.range_id, TAG_HARD_STATE),
            hs.write_to_bytes().expect("encoding a hard state"),
        );
        self.hard_state = hs.clone();
    }

    /// Records the commit index (part of the hard state).
    pub fn set_commit(&mut self, batch: &mut OwnedWriteBatch, commit: u64) {
        let mut hs = self.hard_state.clone();
        hs.commit = commit;
        self.set_hard_state(batch, &hs);
    }

    /// Records a new apply state into `batch` (committed together with the applied data).
    pub fn set_apply_state(&mut self, batch: &mut OwnedWriteBatch, apply: ApplyState) {
        batch.insert(
            self.engine.raft(),
            state_key(self.range_id, TAG_APPLY_STATE),
            encode(&apply),
        );
        self.apply = apply;
    }

    /// Replaces the log by a snapshot's position: no entries, applied and truncated at the
    /// snapshot's index, its conf state (the caller writes the snapshot's data in `batch`).
    pub fn apply_snapshot(&mut self, batch: &mut OwnedWriteBatch, snap: &Snapshot) -> Result<()> {
        let meta = snap.get_metadata();
        let lo = entry_key(self.range_id, 0);
        let hi = entry_key(self.range_id, u64::MAX);
        for item in self.engine.raft().range(lo..=hi) {
            let k = item.key()?;
            batch.remove(self.engine.raft(), k);
        }
        self.tail.clear();
        self.tail_bytes = 0;
        self.last_index = meta.index;
        self.last_term = meta.term;
        let mut hs = self.hard_state.clone();
        hs.commit = hs.commit.max(meta.index);
        hs.term = hs.term.max(meta.term);
        self.set_hard_state(batch, &hs);
        self.set_conf_state(batch, meta.get_conf_state().clone());
        self.set_apply_state(
            batch,
            ApplyState {
                applied_index: meta.index,
                truncated_index: meta.index,
                truncated_term: meta.term,
            },
        );
        Ok(())
    }

    /// Records a new conf state (after a membership change is applied).
    pub fn set_conf_state(&mut self, batch: &mut OwnedWriteBatch, cs: ConfState) {
        batch.insert(
            self.engine.raft(),
            state_key(self.range_id, TAG_CONF_STATE),
            cs.write_to_bytes().expect("encoding a conf state"),
        );
        self.conf_state = cs;
    }

    /// Deletes log entries up to and including `index` (must be applied) into `batch`.
    pub fn compact(&mut self, batch: &mut OwnedWriteBatch, index: u64) -> Result<()> {
        if index <= self.apply.truncated_index || index > self.apply.applied_index {
            return Ok(());
        }
        let term = raft::Storage::term(self, index)
            .map_err(|e| StorageError::Codec(format!("compact: {e}")))?;
        for i in self.apply.truncated_index + 1..=index {
            batch.remove(self.engine.raft(), entry_key(self.range_id, i));
        }
        let mut apply = self.apply;
        apply.truncated_index = index;
        apply.truncated_term = term;
        self.set_apply_state(batch, apply);
        Ok(())
    }

    /// Removes every raft-state record of this range (the range was merged away or destroyed).
    pub fn destroy(engine: &Engine, batch: &mut OwnedWriteBatch, range_id: RangeId) -> Result<()> {
        let lo = state_key(range_id, 0);
        let hi = state_key(range_id, u8::MAX);
        for item in engine.raft().range(lo..=hi) {
            let k = item.key()?;
            batch.remove(engine.raft(), k);
        }
        Ok(())
    }

    fn read_entry(&self, index: u64) -> raft::Result<Entry> {
        let raw = self
            .engine
            .raft()
            .get(entry_key(self.range_id, index))
            .map_err(|e| raft::Error::Store(raft::StorageError::Other(Box::new(e))))?
            .ok_or(raft::Error::Store(raft::StorageError::Unavailable))?;
        Entry::parse_from_bytes(&raw)
            .map_err(|e| raft::Error::Store(raft::StorageError::Other(Box::new(e))))
    }
}

impl raft::Storage for FjallRaftStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _ctx: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.apply.truncated_index {
            return Err(raft::Error::Store(raft::StorageError::Compacted));
        }
        if high > self.last_index + 1 {
            return Err(raft::Error::Store(raft::StorageError::Unavailable));
        }
        let max = max_size.into();
        let mut out = Vec::with_capacity((high - low) as usize);
        let mut size = 0u64;
        if let Some(front) = self.tail.front()
            && front.index <= low
        {
            for e in self
                .tail
                .iter()
                .skip((low - front.index) as usize)
                .take((high - low) as usize)
            {
                size += u64::from(protobuf::Message::compute_size(e));
                if !out.is_empty() && max.is_some_and(|m| size > m) {
                    break;
                }
                out.push(e.clone());
            }
            return Ok(out);
        }
        let lo = entry_key(self.range_id, low);
        let hi = entry_key(self.range_id, high);
        for item in self.engine.raft().range(lo..hi) {
            let (_, v) = item
                .into_inner()
                .map_err(|e| raft::Error::Store(raft::StorageError::Other(Box::new(e))))?;
            let e = Entry::parse_from_bytes(&v)
                .map_err(|e| raft::Error::Store(raft::StorageError::Other(Box::new(e))))?;
            size += v.len() as u64;
            if !out.is_empty() && max.is_some_and(|m| size > m) {
                break;
            }
            out.push(e);
        }
        if out.is_empty() && low < high {
            return Err(raft::Error::Store(raft::StorageError::Unavailable));
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.apply.truncated_index {
            return Ok(self.apply.truncated_term);
        }
        if idx < self.apply.truncated_index {
            return Err(raft::Error::Store(raft::StorageError::Compacted));
        }
        if idx == self.last_index {
            return Ok(self.last_term);
        }
        if idx > self.last_index {
            return Err(raft::Error::Store(raft::StorageError::Unavailable));
        }
        if let Some(front) = self.tail.front()
            && front.index <= idx
            && let Some(e) = self.tail.get((idx - front.index) as usize)
        {
            return Ok(e.term);
        }
        Ok(self.read_entry(idx)?.term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.apply.truncated_index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last_index)
    }

    fn snapshot(&self, _request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        // Built between applies on the actor's thread, so the engine holds exactly the state at
        // the applied index.
        let other = |e: StorageError| raft::Error::Store(raft::StorageError::Other(Box::new(e)));
        let desc = self.descriptor().map_err(other)?;
        let data = crate::storage::snapshot::build(&self.engine, &desc).map_err(other)?;
        let index = self.apply.applied_index;
        let term = self.term(index)?;
        let mut snap = Snapshot::default();
        snap.data = data.into();
        let meta = snap.mut_metadata();
        meta.index = index;
        meta.term = term;
        meta.set_conf_state(self.conf_state.clone());
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{NodeId, ReplicaId};
    use crate::storage::EngineOptions;
    use crate::storage::keys::Span;
    use crate::storage::records::ReplicaDescriptor;
    use raft::Storage;

    /// A split's new range over an uninitialised replica keeps its term and vote; over a
    /// replica a snapshot initialised, it writes nothing.
    #[test]
    fn split_right_state_keeps_votes_and_newer_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = Engine::open(dir.path(), &EngineOptions::default()).expect("open");
        let desc = RangeDescriptor {
            range_id: RangeId(9),
            span: Span::all(),
            replicas: vec![ReplicaDescriptor {
                node_id: NodeId(1),
                replica_id: ReplicaId(2),
            }],
            generation: 0,
        };
        let mut b = e.batch();
        write_uninitialized_state(&e, &mut b, RangeId(9));
        let mut hs = HardState::default();
        hs.term = 8;
        hs.vote = 3;
        b.insert(
            e.raft(),
            state_key(RangeId(9), TAG_HARD_STATE),
            hs.write_to_bytes().expect("encode"),
        );
        b.commit().expect("commit");
        let mut b = e.batch();
        assert!(write_split_right_state(&e, &mut b, &desc).expect("write"));
        b.commit().expect("commit");
        let s = FjallRaftStorage::load(&e, RangeId(9)).expect("load");
        let st = s.initial_state().expect("state");
        assert_eq!(
            (st.hard_state.term, st.hard_state.vote, st.hard_state.commit),
            (8, 3, RAFT_INIT_INDEX)
        );
        assert_eq!(s.apply_state().applied_index, RAFT_INIT_INDEX);
        // Now initialised (as by a snapshot at index 40): a second split write leaves it.
        let mut b = e.batch();
        let apply = ApplyState {
            applied_index: 40,
            truncated_index: 40,
            truncated_term: 8,
        };
        write_initial_state(&e, &mut b, &desc, apply);
        b.commit().expect("commit");
        let mut b = e.batch();
        assert!(!write_split_right_state(&e, &mut b, &desc).expect("write"));
        b.commit().expect("commit");
        let s = FjallRaftStorage::load(&e, RangeId(9)).expect("load");
        assert_eq!(s.apply_state().applied_index, 40);
        assert_eq!(
            read_descriptor(&e, RangeId(9))
                .expect("read")
                .map(|d| d.range_id),
            Some(RangeId(9))
        );
        assert!(read_descriptor(&e, RangeId(10)).expect("read").is_none());
    }

    #[test]
    fn raft_state_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let desc = RangeDescriptor {
            range_id: RangeId(7),
            span: Span::all(),
            replicas: vec![ReplicaDescriptor {
                node_id: NodeId(1),
                replica_id: ReplicaId(1),
            }],
            generation: 0,
        };
        {
            let e = Engine::open(dir.path(), &EngineOptions::default()).expect("open");
            let mut b = e.batch();
            write_initial_state(&e, &mut b, &desc, initial_apply_state());
            b.commit().expect("commit");
            let mut s = FjallRaftStorage::load(&e, RangeId(7)).expect("load");
            let mut b = e.batch();
            let ents: Vec<Entry> = (6..=9)
                .map(|i| {
                    let mut en = Entry::default();
                    en.index = i;
                    en.term = 6;
                    en.data = vec![i as u8].into();
                    en
                })
                .collect();
            s.append(&mut b, &ents);
            let mut hs = HardState::default();
            hs.term = 6;
            hs.vote = 1;
            hs.commit = 9;
            s.set_hard_state(&mut b, &hs);
            b.commit().expect("commit");
            e.syncer().sync_blocking().expect("sync");
        }
        let e = Engine::open(dir.path(), &EngineOptions::default()).expect("reopen");
        let s = FjallRaftStorage::load(&e, RangeId(7)).expect("load");
        assert_eq!(s.last_index().expect("last"), 9);
        assert_eq!(s.first_index().expect("first"), 6);
        assert_eq!(s.term(8).expect("term"), 6);
        assert_eq!(s.initial_state().expect("state").hard_state.commit, 9);
        assert_eq!(s.initial_state().expect("state").conf_state.voters, vec![1]);
        let ents = s
            .entries(6, 10, None, GetEntriesContext::empty(false))
            .expect("entries");
        assert_eq!(
            ents.iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![6, 7, 8, 9]
        );
        assert_eq!(s.descriptor().expect("desc"), desc);
        assert_eq!(load_descriptors(&e).expect("descs"), vec![desc]);
    }
}
