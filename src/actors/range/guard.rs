//! What keeps one replica's failure to itself: a panic of raft-rs in a handler that drives
//! raft stops only that replica (as a fatal error), and an uninitialised replica that a split
//! applied since has superseded stops without writing again (see the parent module).

use super::RangeActor;
use crate::storage::raft_log;
use actix::prelude::*;

impl RangeActor {
    /// Runs one step of the actor that drives raft (`what` names it for the log). raft-rs
    /// panics on states it considers impossible; such a panic stops this replica only (as a
    /// fatal error), not the thread every range of the node runs on.
    pub(super) fn guarded(
        &mut self,
        ctx: &mut Context<Self>,
        what: &str,
        f: impl FnOnce(&mut Self, &mut Context<Self>),
    ) {
        if self.failed {
            return;
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self, ctx)));
        if let Err(p) = r {
            let e = format!("raft panicked: {}", panic_text(&p));
            self.fatal(ctx, what, e);
        }
    }

    /// Whether this replica is uninitialised and a split applied since has written its
    /// range's state: it stops without writing again (its raft state would overwrite the
    /// split's); the store starts the range from the split's state.
    pub(super) fn superseded_by_split(&self) -> bool {
        self.shared.desc().span.is_empty()
            && raft_log::read_descriptor(&self.engine, self.range_id)
                .ok()
                .flatten()
                .is_some_and(|d| !d.span.is_empty())
    }
}

/// The message of a caught panic.
pub(super) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
