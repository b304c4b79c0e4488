//! Operations over whole key spans, across ranges: physical replication's bulk ingest, revert to
//! a timestamp (failover), fingerprints, exports and MVCC garbage collection.
//!
//! Each walks the ranges overlapping its span in key order and re-routes on `KeyMismatch` when a
//! range splits under it. Ingest and revert void what the layers above cached from system tables
//! (see `system_writes`). Revert and GC are batched and safe to re-run after an interruption;
//! a failed ingest may have written some chunks, which re-ingesting the same versions overwrites
//! with identical values.

use super::{Result, Store, system_writes};
use crate::actors::range::error::RangeError;
use crate::clock::Timestamp;
use crate::storage::keys::{KEY_MAX, KEY_MIN, Span};
use crate::storage::mvcc::{self, Limits, Version};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Largest raft command a bulk ingest proposes (see `Store::ingest_sorted`): large enough that
/// one applied command is written as table files (the range actor's `TABLE_APPLY_BYTES`),
/// small enough that a 16 MiB flush still pipelines several.
const INGEST_CHUNK_BYTES: usize = 4 << 20;

impl Store {
    /// Writes MVCC versions with their given timestamps through raft, bypassing transactions
    /// (physical replication's bulk ingest). Versions may span several ranges.
    pub async fn ingest(&self, mut versions: Vec<Version>) -> Result<()> {
        versions.sort_by(|a, b| a.key.cmp(&b.key).then(b.ts.cmp(&a.ts)));
        // System-table versions void what the layers above cached (see `system_writes`).
        let system = versions
            .iter()
            .filter(|v| system_writes::is_system_key(&v.key))
            .map(|v| v.ts)
            .max();
        if system.is_some() {
            self.system_writes().begin();
        }
        let r = self.ingest_sorted(&versions).await;
        if system.is_some() {
            self.system_writes().end(system);
        }
        r
    }

    /// Cuts sorted versions into chunks of at most [`INGEST_CHUNK_BYTES`] within one range and
    /// proposes them all at once: raft pipelines them, so one chunk is applied while the next
    /// ones are written to the log and synced (a single big command would run those steps one
    /// after the other). A key's versions stay in one chunk, so chunks cover disjoint key spans and
    /// their latches never conflict.
    async fn ingest_sorted(&self, versions: &[Version]) -> Result<()> {
        let mut chunks = Vec::new();
        let mut i = 0;
        while i < versions.len() {
            let span = self.route(&versions[i].key).await?.desc().span;
            let mut j = i;
            let mut bytes = 0;
            while j < versions.len()
                && span.contains_key(&versions[j].key)
                && (j == i || bytes < INGEST_CHUNK_BYTES || versions[j].key == versions[j - 1].key)
            {
                bytes += versions[j].key.len() + versions[j].value.as_ref().map_or(0, Vec::len);
                j += 1;
            }
            chunks.push(&versions[i..j]);
            i = j;
        }
        futures::future::try_join_all(chunks.into_iter().map(|c| self.ingest_chunk(c))).await?;
        Ok(())
    }

    /// Ingests sorted versions range by range (a chunk normally lies in one range, but the range
    /// may split before it is proposed).
    async fn ingest_chunk(&self, versions: &[Version]) -> Result<()> {
        let mut i = 0;
        while i < versions.len() {
            let r = self.route(&versions[i].key).await?;
            let span = r.desc().span;
            let mut j = i;
            while j < versions.len() && span.contains_key(&versions[j].key) {
                j += 1;
            }
            match r.ingest(&versions[i..j]).await {
                Ok(()) => i = j,
                Err(e) if e.is_routing() => tokio::time::sleep(Duration::from_millis(1)).await,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Removes every version above `ts` in `span`, in batches of `batch` ops; calls `progress`
    /// with the fraction of ranges done. Safe to re-run after an interruption.
    pub async fn revert_span(
        &self,
        span: &Span,
        ts: Timestamp,
        batch: usize,
        mut progress: impl FnMut(f64),
    ) -> Result<()> {
        // The span may hold system tables: what was cached from them is void afterwards.
        self.system_writes().begin();
        let r = self.revert_span_inner(span, ts, batch, &mut progress).await;
        self.system_writes().end(Some(self.now()));
        r
    }

    async fn revert_span_inner(
        &self,
        span: &Span,
        ts: Timestamp,
        batch: usize,
        progress: &mut impl FnMut(f64),
    ) -> Result<()> {
        let parts = self.ranges_for(span).await?;
        let total = parts.len().max(1);
        for (n, (_, part)) in parts.into_iter().enumerate() {
            let mut cursor = part.clone();
            loop {
                let c = cursor.clone();
                let resume = self
                    .with_replica(c.start.as_bytes(), |r| {
                        let c = c.clone();
                        async move {
                            let sub = r.part_of(&c)?;
                            let res = r.revert(&sub, ts, batch).await?;
                            Ok(res.or_else(|| (sub.end < c.end).then(|| sub.end.0.clone())))
                        }
                    })
                    .await?;
                match resume {
                    Some(k) => cursor.start = k.into(),
                    None => break,
                }
            }
            progress((n + 1) as f64 / total as f64);
        }
        Ok(())
    }

    /// The fingerprint of `span` at `ts` (XOR over ranges; see `storage::fingerprint`).
    pub async fn fingerprint(
        &self,
        span: &Span,
        ts: Timestamp,
        since: Option<Timestamp>,
    ) -> Result<u64> {
        let mut acc = 0u64;
        let mut cursor = span.clone();
        while cursor.start < cursor.end {
            let c = cursor.clone();
            let (fp, end) = self
                .with_replica(c.start.as_bytes(), |r| {
                    let c = c.clone();
                    async move {
                        let sub = r.part_of(&c)?;
                        let fp = loop {
                            match r.fingerprint(&sub, ts, since).await {
                                Err(RangeError::WriteIntents { intents }) => {
                                    self.handle_intents(intents, None).await?;
                                }
                                other => break other?,
                            }
                        };
                        Ok((fp, sub.end))
                    }
                })
                .await?;
            acc ^= fp;
            cursor.start = end;
        }
        Ok(acc)
    }

    /// All MVCC versions in `span` with `after < ts <= upto`, across ranges (an export).
    pub async fn export(
        &self,
        span: &Span,
        after: Timestamp,
        upto: Timestamp,
        limits: Limits,
    ) -> Result<mvcc::ScanPage<Version>> {
        let mut out = mvcc::ScanPage::default();
        let mut cursor = span.clone();
        while cursor.start < cursor.end {
            let c = cursor.clone();
            let rest = Limits {
                max_rows: limits.max_rows.saturating_sub(out.rows.len()),
                max_bytes: limits.max_bytes.saturating_sub(out.bytes),
            };
            if rest.max_rows == 0 || rest.max_bytes == 0 {
                out.resume = Some(cursor.start.0.clone());
                break;
            }
            let (page, end) = self
                .with_replica(c.start.as_bytes(), |r| {
                    let c = c.clone();
                    async move {
                        let sub = r.part_of(&c)?;
                        loop {
                            match r.scan_versions(&sub, after, upto, rest).await {
                                Err(RangeError::WriteIntents { intents }) => {
                                    self.handle_intents(intents, None).await?;
                                }
                                other => return Ok((other?, sub.end)),
                            }
                        }
                    }
                })
                .await?;
            out.bytes += page.bytes;
            out.rows.extend(page.rows);
            if let Some(resume) = page.resume {
                out.resume = Some(resume);
                break;
            }
            cursor.start = end;
        }
        Ok(out)
    }

    /// Garbage-collects versions older than the GC TTL in every range, never above a protected
    /// timestamp. Returns the number of versions removed.
    pub async fn run_gc(&self) -> Result<u64> {
        let now = self.now();
        let ttl_threshold = now.sub_duration(self.inner.settings.gc_ttl);
        self.gc_below(ttl_threshold).await
    }

    /// Garbage-collects versions no read at or above `threshold` can see (capped by protected
    /// timestamps).
    pub async fn gc_below(&self, threshold: Timestamp) -> Result<u64> {
        let records = self.protected_timestamps().await?;
        let mut removed = 0u64;
        // Each node collects the ranges it holds the lease of; GC is a raft command.
        for (r, span) in self.local_ranges_for(&Span::new(KEY_MIN, KEY_MAX)) {
            if !r.shared.is_leaseholder() {
                continue;
            }
            let mut t = threshold;
            for p in &records {
                if p.span.overlaps(&span) {
                    t = t.min(p.ts);
                }
            }
            if t.is_zero() {
                continue;
            }
            let mut cursor = span.clone();
            loop {
                let (resume, n) = match r.gc(&cursor, t, 10_000).await {
                    Ok(r) => r,
                    Err(e) if e.is_key_mismatch() => break,
                    Err(e) => return Err(e.into()),
                };
                removed += n as u64;
                match resume {
                    Some(k) => cursor.start = k.into(),
                    None => break,
                }
            }
            let mut st = r.shared.state.lock();
            st.gc_threshold = st.gc_threshold.max(t);
        }
        self.inner
            .metrics
            .gc_versions
            .fetch_add(removed, Ordering::Relaxed);
        Ok(removed)
    }
}
