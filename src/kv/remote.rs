//! KV requests to a range whose leaseholder is on another node.
//!
//! [`RangeHandle`] is what routing hands out for a range: the local replica when it holds the
//! lease, otherwise the leaseholder's node. Both answer the same methods with the same
//! semantics; a remote call is one [`KvCall::Exec`] over the inter-node transport
//! ([`crate::rpc::Service::Kv`]) carrying the request, the caller's clock (the serving node's
//! hybrid clock moves up to it, and the caller's to the answer's, so causality holds across
//! nodes) and the range id. The serving node checks that it still holds the lease, then runs
//! the request on its replica exactly as a local caller would.
//!
//! [`KvCall::Locate`] asks a node which range holds a key and which node holds its lease; a
//! node answers only for ranges it has a replica of.
//!
//! Errors keep their kind across the wire ([`WireError`]), so retries, refreshes and intent
//! handling work the same for remote ranges; a storage failure on the remote node arrives as
//! `Unavailable` with its message. Transport failures become `Unavailable` too, after which
//! routing forgets the cached location and tries again.

use super::Store;
use crate::actors::range::error::{RangeError, Result};
use crate::actors::range::replica::{Mutation, Replica};
use crate::clock::Timestamp;
use crate::ids::{NodeId, RangeId, TxnId};
use crate::rpc::Service;
use crate::storage::keys::Span;
use crate::storage::mvcc::{KeyValue, Limits, ScanPage, Version};
use crate::storage::records::{Intent, RangeDescriptor, TxnRecord, TxnStatus};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a forwarded request may take (transport and evaluation).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One replica operation, as [`Replica`]'s methods take it.
#[derive(Debug, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum KvRequest {
    Get {
        key: Vec<u8>,
        ts: Timestamp,
        txn: Option<TxnId>,
    },
    Scan {
        span: Span,
        ts: Timestamp,
        txn: Option<TxnId>,
        limits: Limits,
    },
    ScanVersions {
        span: Span,
        after: Timestamp,
        upto: Timestamp,
        limits: Limits,
    },
    Fingerprint {
        span: Span,
        ts: Timestamp,
        since: Option<Timestamp>,
    },
    Refresh {
        spans: Vec<Span>,
        from: Timestamp,
        to: Timestamp,
        txn: TxnId,
    },
    CommitOnePhase {
        txn: TxnId,
        ts: Timestamp,
        writes: Vec<Mutation>,
        can_bump: bool,
    },
    WriteIntents {
        txn: TxnId,
        ts: Timestamp,
        anchor: Vec<u8>,
        writes: Vec<Mutation>,
        record: Option<TxnRecord>,
    },
    EndTxn {
        anchor: Vec<u8>,
        txn: TxnId,
        commit: bool,
        ts: Timestamp,
    },
    PushTxn {
        anchor: Vec<u8>,
        txn: TxnId,
        intent_ts: Timestamp,
    },
    HeartbeatTxn {
        anchor: Vec<u8>,
        txn: TxnId,
    },
    ResolveIntents {
        txn: TxnId,
        keys: Vec<Vec<u8>>,
        status: TxnStatus,
        commit_ts: Timestamp,
    },
    DeleteTxnRecord {
        anchor: Vec<u8>,
        txn: TxnId,
    },
    Ingest {
        versions: Vec<Version>,
    },
    PutInline {
        writes: Vec<Mutation>,
    },
    Revert {
        span: Span,
        ts: Timestamp,
        max_ops: usize,
    },
    Gc {
        span: Span,
        threshold: Timestamp,
        max_ops: usize,
    },
    Split {
        key: Vec<u8>,
        right_id: RangeId,
    },
}

/// The answer to a [`KvRequest`].
#[derive(Debug, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum KvResponse {
    Value(Option<Vec<u8>>),
    Page(ScanPage<KeyValue>),
    Versions(ScanPage<Version>),
    Fingerprint(u64),
    Unit,
    Ts(Timestamp),
    Record(TxnRecord),
    Resume(Option<Vec<u8>>),
    Gc(Option<Vec<u8>>, usize),
    Split(RangeDescriptor, RangeDescriptor, Timestamp),
}

/// A [`RangeError`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum WireError {
    KeyMismatch {
        range: RangeId,
        span: Span,
    },
    WriteIntents {
        intents: Vec<(Vec<u8>, Intent)>,
    },
    NeedsRefresh {
        ts: Timestamp,
    },
    RefreshFailed {
        key: Vec<u8>,
    },
    TxnAborted(String),
    TxnPending(String),
    Unavailable {
        range: RangeId,
        reason: String,
    },
    NotLeaseholder {
        range: RangeId,
        leaseholder: Option<NodeId>,
    },
    BelowGcThreshold {
        ts: Timestamp,
        threshold: Timestamp,
    },
    Storage(String),
}

impl From<RangeError> for WireError {
    fn from(e: RangeError) -> Self {
        match e {
            RangeError::KeyMismatch { range, span } => WireError::KeyMismatch { range, span },
            RangeError::WriteIntents { intents } => WireError::WriteIntents { intents },
            RangeError::NeedsRefresh { ts } => WireError::NeedsRefresh { ts },
            RangeError::RefreshFailed { key } => WireError::RefreshFailed { key },
            RangeError::TxnAborted(s) => WireError::TxnAborted(s),
            RangeError::TxnPending(s) => WireError::TxnPending(s),
            RangeError::Unavailable { range, reason } => WireError::Unavailable { range, reason },
            RangeError::NotLeaseholder { range, leaseholder } => {
                WireError::NotLeaseholder { range, leaseholder }
            }
            RangeError::BelowGcThreshold { ts, threshold } => {
                WireError::BelowGcThreshold { ts, threshold }
            }
            RangeError::Storage(s) => WireError::Storage(s.to_string()),
        }
    }
}

impl WireError {
    fn into_range_error(self, node: NodeId) -> RangeError {
        match self {
            WireError::KeyMismatch { range, span } => RangeError::KeyMismatch { range, span },
            WireError::WriteIntents { intents } => RangeError::WriteIntents { intents },
            WireError::NeedsRefresh { ts } => RangeError::NeedsRefresh { ts },
            WireError::RefreshFailed { key } => RangeError::RefreshFailed { key },
            WireError::TxnAborted(s) => RangeError::TxnAborted(s),
            WireError::TxnPending(s) => RangeError::TxnPending(s),
            WireError::Unavailable { range, reason } => RangeError::Unavailable { range, reason },
            WireError::NotLeaseholder { range, leaseholder } => {
                RangeError::NotLeaseholder { range, leaseholder }
            }
            WireError::BelowGcThreshold { ts, threshold } => {
                RangeError::BelowGcThreshold { ts, threshold }
            }
            WireError::Storage(s) => RangeError::Unavailable {
                range: RangeId(0),
                reason: format!("storage failure on {node}: {s}"),
            },
        }
    }
}

/// Where a range is served.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Location {
    /// The range's descriptor as the answering replica has it.
    pub desc: RangeDescriptor,
    /// The leaseholder's node and address, if the answering replica knows them.
    pub leaseholder: Option<(NodeId, String)>,
}

/// A call of [`Service::Kv`].
#[derive(Debug, Serialize, Deserialize)]
pub enum KvCall {
    /// Which range holds `key`, and where is its lease?
    Locate {
        /// The key.
        key: Vec<u8>,
    },
    /// Run `req` on this node's replica of `range`, which must hold the lease.
    Exec {
        /// The range.
        range: RangeId,
        /// The caller's clock.
        now: Timestamp,
        /// The request.
        req: KvRequest,
    },
    /// Open a rangefeed over `span` served by this node's leaseholder replicas
    /// ([`super::remote_feed`]).
    FeedOpen {
        /// The span.
        span: Span,
        /// Events above this timestamp.
        start: Timestamp,
        /// The values at `start` first.
        initial_scan: bool,
    },
    /// The events of an open feed since the last poll.
    FeedPoll {
        /// The feed.
        id: u64,
    },
    /// Close a feed.
    FeedClose {
        /// The feed.
        id: u64,
    },
}

/// The answer to a [`KvCall`].
#[derive(Debug, Serialize, Deserialize)]
pub enum KvReply {
    /// For `Locate`: `None` if this node has no replica of the range.
    Located(Option<Location>),
    /// For `Exec`.
    Done {
        /// The serving node's clock after the request.
        now: Timestamp,
        /// The outcome.
        result: std::result::Result<KvResponse, WireError>,
    },
    /// For `FeedOpen`: the feed's id.
    FeedOpened(u64),
    /// For `FeedPoll` and `FeedClose`: events, and whether the feed is over.
    FeedEvents {
        /// The events, in order.
        events: Vec<crate::actors::range::rangefeed::RangefeedEvent>,
        /// The feed ended (its part is to be routed again).
        ended: bool,
    },
}

impl Replica {
    /// Runs one request (the serving side of a forwarded call).
    pub async fn execute(&self, req: KvRequest) -> Result<KvResponse> {
        Ok(match req {
            KvRequest::Get { key, ts, txn } => KvResponse::Value(self.get(&key, ts, txn).await?),
            KvRequest::Scan {
                span,
                ts,
                txn,
                limits,
            } => KvResponse::Page(self.scan(&span, ts, txn, limits).await?),
            KvRequest::ScanVersions {
                span,
                after,
                upto,
                limits,
            } => KvResponse::Versions(self.scan_versions(&span, after, upto, limits).await?),
            KvRequest::Fingerprint { span, ts, since } => {
                KvResponse::Fingerprint(self.fingerprint(&span, ts, since).await?)
            }
            KvRequest::Refresh {
                spans,
                from,
                to,
                txn,
            } => {
                self.refresh(&spans, from, to, txn).await?;
                KvResponse::Unit
            }
            KvRequest::CommitOnePhase {
                txn,
                ts,
                writes,
                can_bump,
            } => KvResponse::Ts(self.commit_one_phase(txn, ts, writes, can_bump).await?),
            KvRequest::WriteIntents {
                txn,
                ts,
                anchor,
                writes,
                record,
            } => KvResponse::Ts(self.write_intents(txn, ts, &anchor, writes, record).await?),
            KvRequest::EndTxn {
                anchor,
                txn,
                commit,
                ts,
            } => {
                self.end_txn(&anchor, txn, commit, ts).await?;
                KvResponse::Unit
            }
            KvRequest::PushTxn {
                anchor,
                txn,
                intent_ts,
            } => KvResponse::Record(self.push_txn(&anchor, txn, intent_ts).await?),
            KvRequest::HeartbeatTxn { anchor, txn } => {
                self.heartbeat_txn(&anchor, txn).await?;
                KvResponse::Unit
            }
            KvRequest::ResolveIntents {
                txn,
                keys,
                status,
                commit_ts,
            } => {
                self.resolve_intents(txn, keys, status, commit_ts).await?;
                KvResponse::Unit
            }
            KvRequest::DeleteTxnRecord { anchor, txn } => {
                self.delete_txn_record(&anchor, txn).await?;
                KvResponse::Unit
            }
            KvRequest::Ingest { versions } => {
                self.ingest(&versions).await?;
                KvResponse::Unit
            }
            KvRequest::PutInline { writes } => KvResponse::Ts(self.put_inline(writes).await?),
            KvRequest::Revert { span, ts, max_ops } => {
                KvResponse::Resume(self.revert(&span, ts, max_ops).await?)
            }
            KvRequest::Gc {
                span,
                threshold,
                max_ops,
            } => {
                let (resume, n) = self.gc(&span, threshold, max_ops).await?;
                KvResponse::Gc(resume, n)
            }
            KvRequest::Split { key, right_id } => {
                let (l, r, ts) = self.split(&key, right_id).await?;
                KvResponse::Split(l, r, ts)
            }
        })
    }
}

/// A range served on another node.
#[derive(Clone)]
pub struct RemoteRange {
    store: Store,
    node: NodeId,
    desc: RangeDescriptor,
}

/// A range as routing hands it out: the local leaseholder replica, or the remote leaseholder.
#[derive(Clone)]
pub enum RangeHandle {
    /// This node holds the lease.
    Local(Replica),
    /// Another node does.
    Remote(RemoteRange),
}

fn unexpected(what: &str, got: KvResponse) -> RangeError {
    RangeError::Unavailable {
        range: RangeId(0),
        reason: format!("unexpected answer to {what}: {got:?}"),
    }
}

macro_rules! forward {
    ($self:ident, $local:expr, $req:expr, $pat:pat => $out:expr) => {
        match $self {
            RangeHandle::Local(r) => {
                let r = r.clone();
                #[allow(clippy::redundant_closure_call)]
                ($local)(r).await
            }
            RangeHandle::Remote(rr) => match rr.call($req).await? {
                $pat => Ok($out),
                other => Err(unexpected(stringify!($pat), other)),
            },
        }
    };
}

impl RemoteRange {
    /// A handle on `desc`'s range served by `node`.
    pub fn new(store: Store, node: NodeId, desc: RangeDescriptor) -> RemoteRange {
        RemoteRange { store, node, desc }
    }

    /// The node serving the range.
    pub(crate) fn node(&self) -> NodeId {
        self.node
    }

    async fn call(&self, req: KvRequest) -> Result<KvResponse> {
        let unavailable = |reason: String| RangeError::Unavailable {
            range: self.desc.range_id,
            reason,
        };
        let peers = self
            .store
            .peers()
            .ok_or_else(|| unavailable("no inter-node transport".into()))?;
        let call = KvCall::Exec {
            range: self.desc.range_id,
            now: self.store.now(),
            req,
        };
        let body = crate::rpc::encode_body(&call).map_err(|e| unavailable(e.to_string()))?;
        let raw = match peers
            .call_node(self.node, Service::Kv, body, CALL_TIMEOUT)
            .await
        {
            Ok(raw) => raw,
            Err(crate::rpc::RpcError::NotSent { reason, .. }) => {
                // Nothing reached the node: re-route (the lease may have moved).
                tracing::debug!(range = %self.desc.range_id, node = %self.node, "not sent: {reason}");
                self.store.forget_location(self.desc.range_id);
                return Err(RangeError::NotLeaseholder {
                    range: self.desc.range_id,
                    leaseholder: None,
                });
            }
            Err(e) => {
                self.store.forget_location(self.desc.range_id);
                return Err(unavailable(e.to_string()));
            }
        };
        match crate::rpc::decode_body::<KvReply>(&raw).map_err(|e| unavailable(e.to_string()))? {
            KvReply::Done { now, result } => {
                let _ = self.store.clock().update(now);
                result.map_err(|e| e.into_range_error(self.node))
            }
            other => Err(unavailable(format!("unexpected answer {other:?}"))),
        }
    }
}

impl RangeHandle {
    /// The range id.
    pub fn range_id(&self) -> RangeId {
        match self {
            RangeHandle::Local(r) => r.range_id(),
            RangeHandle::Remote(r) => r.desc.range_id,
        }
    }

    /// The range's descriptor (the local replica's, or the cached one of a remote range).
    pub fn desc(&self) -> RangeDescriptor {
        match self {
            RangeHandle::Local(r) => r.shared.desc(),
            RangeHandle::Remote(r) => r.desc.clone(),
        }
    }

    /// The part of `span` this range holds; `KeyMismatch` (re-route) if none.
    pub fn part_of(&self, span: &Span) -> Result<Span> {
        let d = self.desc();
        d.span.intersect(span).ok_or(RangeError::KeyMismatch {
            range: d.range_id,
            span: d.span,
        })
    }

    /// The node serving the range (`local` when it is this node's replica).
    pub fn node(&self, local: NodeId) -> NodeId {
        match self {
            RangeHandle::Local(_) => local,
            RangeHandle::Remote(r) => r.node,
        }
    }

    /// The local replica, if this node holds the lease.
    pub fn local(&self) -> Option<&Replica> {
        match self {
            RangeHandle::Local(r) => Some(r),
            RangeHandle::Remote(_) => None,
        }
    }

    /// See [`Replica::get`].
    pub async fn get(
        &self,
        key: &[u8],
        ts: Timestamp,
        txn: Option<TxnId>,
    ) -> Result<Option<Vec<u8>>> {
        forward!(self, |r: Replica| async move { r.get(key, ts, txn).await },
            KvRequest::Get { key: key.to_vec(), ts, txn },
            KvResponse::Value(v) => v)
    }

    /// See [`Replica::scan`].
    pub async fn scan(
        &self,
        span: &Span,
        ts: Timestamp,
        txn: Option<TxnId>,
        limits: Limits,
    ) -> Result<ScanPage<KeyValue>> {
        forward!(self, |r: Replica| async move { r.scan(span, ts, txn, limits).await },
            KvRequest::Scan { span: span.clone(), ts, txn, limits },
            KvResponse::Page(p) => p)
    }

    /// See [`Replica::scan_versions`].
    pub async fn scan_versions(
        &self,
        span: &Span,
        after: Timestamp,
        upto: Timestamp,
        limits: Limits,
    ) -> Result<ScanPage<Version>> {
        forward!(self, |r: Replica| async move { r.scan_versions(span, after, upto, limits).await },
            KvRequest::ScanVersions { span: span.clone(), after, upto, limits },
            KvResponse::Versions(p) => p)
    }

    /// See [`Replica::fingerprint`].
    pub async fn fingerprint(
        &self,
        span: &Span,
        ts: Timestamp,
        since: Option<Timestamp>,
    ) -> Result<u64> {
        forward!(self, |r: Replica| async move { r.fingerprint(span, ts, since).await },
            KvRequest::Fingerprint { span: span.clone(), ts, since },
            KvResponse::Fingerprint(f) => f)
    }

    /// See [`Replica::refresh`].
    pub async fn refresh(
        &self,
        spans: &[Span],
        from: Timestamp,
        to: Timestamp,
        txn: TxnId,
    ) -> Result<()> {
        forward!(self, |r: Replica| async move { r.refresh(spans, from, to, txn).await },
            KvRequest::Refresh { spans: spans.to_vec(), from, to, txn },
            KvResponse::Unit => ())
    }

    /// See [`Replica::commit_one_phase`].
    pub async fn commit_one_phase(
        &self,
        txn: TxnId,
        ts: Timestamp,
        writes: Vec<Mutation>,
        can_bump: bool,
    ) -> Result<Timestamp> {
        match self {
            RangeHandle::Local(r) => r.commit_one_phase(txn, ts, writes, can_bump).await,
            RangeHandle::Remote(rr) => match rr
                .call(KvRequest::CommitOnePhase {
                    txn,
                    ts,
                    writes,
                    can_bump,
                })
                .await?
            {
                KvResponse::Ts(t) => Ok(t),
                other => Err(unexpected("CommitOnePhase", other)),
            },
        }
    }

    /// See [`Replica::write_intents`].
    pub async fn write_intents(
        &self,
        txn: TxnId,
        ts: Timestamp,
        anchor: &[u8],
        writes: Vec<Mutation>,
        record: Option<TxnRecord>,
    ) -> Result<Timestamp> {
        match self {
            RangeHandle::Local(r) => r.write_intents(txn, ts, anchor, writes, record).await,
            RangeHandle::Remote(rr) => match rr
                .call(KvRequest::WriteIntents {
                    txn,
                    ts,
                    anchor: anchor.to_vec(),
                    writes,
                    record,
                })
                .await?
            {
                KvResponse::Ts(t) => Ok(t),
                other => Err(unexpected("WriteIntents", other)),
            },
        }
    }

    /// See [`Replica::end_txn`].
    pub async fn end_txn(
        &self,
        anchor: &[u8],
        txn: TxnId,
        commit: bool,
        ts: Timestamp,
    ) -> Result<()> {
        forward!(self, |r: Replica| async move { r.end_txn(anchor, txn, commit, ts).await },
            KvRequest::EndTxn { anchor: anchor.to_vec(), txn, commit, ts },
            KvResponse::Unit => ())
    }

    /// See [`Replica::push_txn`].
    pub async fn push_txn(
        &self,
        anchor: &[u8],
        txn: TxnId,
        intent_ts: Timestamp,
    ) -> Result<TxnRecord> {
        forward!(self, |r: Replica| async move { r.push_txn(anchor, txn, intent_ts).await },
            KvRequest::PushTxn { anchor: anchor.to_vec(), txn, intent_ts },
            KvResponse::Record(rec) => rec)
    }

    /// See [`Replica::heartbeat_txn`].
    pub async fn heartbeat_txn(&self, anchor: &[u8], txn: TxnId) -> Result<()> {
        forward!(self, |r: Replica| async move { r.heartbeat_txn(anchor, txn).await },
            KvRequest::HeartbeatTxn { anchor: anchor.to_vec(), txn },
            KvResponse::Unit => ())
    }

    /// See [`Replica::resolve_intents`].
    pub async fn resolve_intents(
        &self,
        txn: TxnId,
        keys: Vec<Vec<u8>>,
        status: TxnStatus,
        commit_ts: Timestamp,
    ) -> Result<()> {
        match self {
            RangeHandle::Local(r) => r.resolve_intents(txn, keys, status, commit_ts).await,
            RangeHandle::Remote(rr) => match rr
                .call(KvRequest::ResolveIntents {
                    txn,
                    keys,
                    status,
                    commit_ts,
                })
                .await?
            {
                KvResponse::Unit => Ok(()),
                other => Err(unexpected("ResolveIntents", other)),
            },
        }
    }

    /// See [`Replica::delete_txn_record`].
    pub async fn delete_txn_record(&self, anchor: &[u8], txn: TxnId) -> Result<()> {
        forward!(self, |r: Replica| async move { r.delete_txn_record(anchor, txn).await },
            KvRequest::DeleteTxnRecord { anchor: anchor.to_vec(), txn },
            KvResponse::Unit => ())
    }

    /// See [`Replica::ingest`].
    pub async fn ingest(&self, versions: &[Version]) -> Result<()> {
        forward!(self, |r: Replica| async move { r.ingest(versions).await },
            KvRequest::Ingest { versions: versions.to_vec() },
            KvResponse::Unit => ())
    }

    /// See [`Replica::put_inline`].
    pub async fn put_inline(&self, writes: Vec<Mutation>) -> Result<Timestamp> {
        match self {
            RangeHandle::Local(r) => r.put_inline(writes).await,
            RangeHandle::Remote(rr) => match rr.call(KvRequest::PutInline { writes }).await? {
                KvResponse::Ts(t) => Ok(t),
                other => Err(unexpected("PutInline", other)),
            },
        }
    }

    /// See [`Replica::revert`].
    pub async fn revert(
        &self,
        span: &Span,
        ts: Timestamp,
        max_ops: usize,
    ) -> Result<Option<Vec<u8>>> {
        forward!(self, |r: Replica| async move { r.revert(span, ts, max_ops).await },
            KvRequest::Revert { span: span.clone(), ts, max_ops },
            KvResponse::Resume(k) => k)
    }

    /// See [`Replica::gc`].
    pub async fn gc(
        &self,
        span: &Span,
        threshold: Timestamp,
        max_ops: usize,
    ) -> Result<(Option<Vec<u8>>, usize)> {
        forward!(self, |r: Replica| async move { r.gc(span, threshold, max_ops).await },
            KvRequest::Gc { span: span.clone(), threshold, max_ops },
            KvResponse::Gc(k, n) => (k, n))
    }

    /// See [`Replica::split`].
    pub async fn split(
        &self,
        key: &[u8],
        right_id: RangeId,
    ) -> Result<(RangeDescriptor, RangeDescriptor, Timestamp)> {
        forward!(self, |r: Replica| async move { r.split(key, right_id).await },
            KvRequest::Split { key: key.to_vec(), right_id },
            KvResponse::Split(l, r, ts) => (l, r, ts))
    }
}

impl Store {
    /// Serves one [`Service::Kv`] call from another node.
    pub async fn serve_kv(&self, body: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let call: KvCall = crate::rpc::decode_body(body).map_err(|e| e.to_string())?;
        let reply = match call {
            KvCall::Locate { key } => KvReply::Located(self.locate_local(&key)),
            KvCall::Exec { range, now, req } => {
                let _ = self.clock().update(now);
                let result = match self.local_leaseholder(range) {
                    Ok(r) => r.execute(req).await.map_err(WireError::from),
                    Err(e) => Err(WireError::from(e)),
                };
                KvReply::Done {
                    now: self.now(),
                    result,
                }
            }
            feed => self.serve_feed(feed).await,
        };
        crate::rpc::encode_body(&reply).map_err(|e| e.to_string())
    }
}
