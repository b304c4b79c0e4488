//! Resolution of intents nobody comes back for.
//!
//! A transaction's intents are normally resolved by its coordinator right after it commits or
//! aborts, and otherwise by the first reader that meets them. An intent whose coordinator died
//! (or whose node stopped before the asynchronous resolution ran) and that no reader touches
//! stays forever, and holds back the range's resolved timestamp: rangefeeds stop checkpointing
//! and a physical replication stream's replicated time stops advancing (CockroachDB's rangefeed
//! "txn pusher" exists for the same reason). So every
//! [`KvSettings::stale_intent_sweep_interval`] (1 s by default) each node looks at the ranges it
//! holds the lease of, and for intents older than [`KvSettings::stale_intent_age`] (2 s) pushes
//! their transactions like a reader would ([`Store::handle_intents`]): a finished
//! transaction's intents are resolved, an abandoned one (expired heartbeat, not committing on the
//! anchor's node) is aborted and its intents removed, a live one is left alone. At most
//! [`MAX_PER_RANGE`] intents per range per pass; failures are logged at debug level and retried
//! on the next pass.

use super::Store;
#[cfg(doc)]
use crate::settings::KvSettings;
use crate::storage::keys::Span;
use crate::storage::records::{Intent, decode};
/// Intents pushed per range per pass.
const MAX_PER_RANGE: usize = 1024;

impl Store {
    /// Runs the sweep until the store stops.
    pub(super) fn spawn_stale_intent_sweeper(&self) {
        let store = self.clone();
        self.inner.arbiter.spawn(async move {
            let every = store.settings().stale_intent_sweep_interval();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if store.is_stopping() {
                    break;
                }
                let n = store.resolve_stale_intents().await;
                if n > 0 {
                    tracing::debug!(intents = n, "pushed the transactions of stale intents");
                }
            }
        });
    }

    /// One sweep; returns how many stale intents it pushed.
    pub(super) async fn resolve_stale_intents(&self) -> usize {
        let cutoff = self.now().sub_duration(self.settings().stale_intent_age());
        let replicas: Vec<_> = self
            .inner
            .ranges
            .read()
            .values()
            .filter(|r| r.shared.is_leaseholder())
            .cloned()
            .collect();
        let mut pushed = 0;
        for r in replicas {
            let keys: Vec<Vec<u8>> = {
                r.shared
                    .state
                    .lock()
                    .intents
                    .older_than(cutoff, MAX_PER_RANGE)
            };
            if keys.is_empty() {
                continue;
            }
            let mut intents = Vec::with_capacity(keys.len());
            for k in keys {
                match self.inner.engine.locks().get(&k) {
                    Ok(Some(raw)) => match decode::<Intent>(&raw) {
                        Ok(i) => intents.push((k, i)),
                        Err(e) => tracing::warn!(key = ?Span::point(&k), "undecodable intent: {e}"),
                    },
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!("stale intents: {e}");
                        return pushed;
                    }
                }
            }
            pushed += intents.len();
            if let Err(e) = self.handle_intents(intents, None).await {
                tracing::debug!(range = %r.shared.range_id, "stale intents: {e}");
            }
        }
        pushed
    }
}
