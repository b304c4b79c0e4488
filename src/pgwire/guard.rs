//! The last line of defence of a connection task: a panic while a message is handled is caught
//! ([`Guarded`]), so the connection can answer XX000 and close while the node and its other
//! connections go on.
//!
//! Logging is rate-limited: a client that triggers the same bug in a loop would otherwise write a
//! panic message (and, with `RUST_BACKTRACE` set, a backtrace of many KiB) per attempt. The
//! process-wide panic hook, installed once by [`install_hook`] and delegating to the previous
//! hook for every panic outside a guarded poll, logs a guarded panic (with its backtrace when
//! `RUST_BACKTRACE` asks for one) at most once per [`LOG_INTERVAL`], then how many were
//! suppressed. Every caught panic is counted (`PgMetrics::panics`).

use std::cell::Cell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::pin::Pin;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// At most one logged panic per interval.
pub(super) const LOG_INTERVAL: Duration = Duration::from_secs(60);

thread_local! {
    /// Set while this thread polls a [`Guarded`] future.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// When the last guarded panic was logged, and how many have not been since.
static LAST_LOGGED: parking_lot::Mutex<Option<Instant>> = parking_lot::const_mutex(None);
static SUPPRESSED: AtomicU64 = AtomicU64::new(0);

/// Installs the panic hook (once per process; later calls do nothing).
pub(super) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) {
                log_guarded(info);
            } else {
                previous(info);
            }
        }));
    });
}

/// Whether a panic at `now` may be logged, given when the last one was (updated if so).
fn log_slot(last: &mut Option<Instant>, now: Instant) -> bool {
    if last.is_some_and(|t| now.duration_since(t) < LOG_INTERVAL) {
        return false;
    }
    *last = Some(now);
    true
}

fn log_guarded(info: &PanicHookInfo<'_>) {
    if !log_slot(&mut LAST_LOGGED.lock(), Instant::now()) {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let suppressed = SUPPRESSED.swap(0, Ordering::Relaxed);
    let backtrace = std::backtrace::Backtrace::capture();
    tracing::error!(
        suppressed,
        "a SQL connection panicked and was closed with an internal error: {info}\n{backtrace}"
    );
}

/// A panic caught by [`Guarded`].
#[derive(Debug)]
pub(super) struct Panicked;

/// Polls the inner future (pinned by the caller, e.g. with `std::pin::pin!`) with panics caught:
/// a panic completes it with `Err(Panicked)`.
pub(super) struct Guarded<F>(pub(super) F);

impl<F: Future + Unpin> Future for Guarded<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let was = GUARDED.with(|g| g.replace(true));
        let inner = Pin::new(&mut self.0);
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx)));
        GUARDED.with(|g| g.set(was));
        match r {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(Panicked)),
        }
    }
}

/// Runs `f` with panics caught (for synchronous steps of a connection).
pub(super) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    let was = GUARDED.with(|g| g.replace(true));
    let r = std::panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    r.map_err(|_| Panicked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn panics_are_caught_and_the_future_completes() {
        install_hook();
        let r = Guarded(std::pin::pin!(async {
            tokio::task::yield_now().await;
            let v: Vec<u8> = Vec::new();
            v[usize::from(v.is_empty())]
        }))
        .await;
        assert!(r.is_err());
        assert_eq!(Guarded(std::pin::pin!(async { 7 })).await.ok(), Some(7));
        assert!(guarded(|| panic!("boom")).is_err());
        assert_eq!(guarded(|| 3).ok(), Some(3));
        assert!(!GUARDED.with(Cell::get), "flag restored");
    }

    #[test]
    fn one_panic_is_logged_per_interval() {
        let t0 = Instant::now();
        let mut last = None;
        assert!(log_slot(&mut last, t0));
        assert!(!log_slot(&mut last, t0 + Duration::from_secs(1)));
        assert!(!log_slot(
            &mut last,
            t0 + LOG_INTERVAL - Duration::from_millis(1)
        ));
        assert!(log_slot(&mut last, t0 + LOG_INTERVAL));
        assert!(!log_slot(
            &mut last,
            t0 + LOG_INTERVAL + Duration::from_secs(1)
        ));
    }
}
