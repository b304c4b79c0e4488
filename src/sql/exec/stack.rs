//! Running a statement on a stack sized for how deeply it nests (see
//! [`crate::sql::parser::limits`]): each poll of the statement's future runs in place when the
//! thread has [`limits::exec_stack_bytes`] left, else on a stack grown for that poll. Shallow
//! statements (nearly all) never grow one.

use crate::sql::parser::limits;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// `fut`, polled with at least the stack a statement `units` deep needs.
pub(super) fn on_stack<F: Future>(units: usize, fut: F) -> OnStack<F> {
    OnStack {
        fut: Box::pin(fut),
        bytes: limits::exec_stack_bytes(units),
    }
}

/// See [`on_stack`].
pub(super) struct OnStack<F> {
    fut: Pin<Box<F>>,
    bytes: usize,
}

impl<F: Future> Future for OnStack<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let fut = this.fut.as_mut();
        stacker::maybe_grow(this.bytes, this.bytes, || fut.poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recurses `n` levels with a large frame each: more than a 2 MiB thread has for n = 64.
    fn deep(n: usize) -> usize {
        let frame = std::hint::black_box([n as u8; 32 << 10]);
        if n == 0 {
            return frame[0] as usize;
        }
        deep(n - 1) + frame[1] as usize
    }

    #[test]
    fn polls_on_a_grown_stack() {
        // A thread with a small stack: in place, 64 levels of 32 KiB would overflow it.
        let t = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(|| {
                let fut = on_stack(limits::MAX_DEPTH, async { deep(64) });
                futures::executor::block_on(fut)
            })
            .expect("spawn");
        assert_eq!(t.join().expect("no overflow"), (1..=64).sum::<usize>());
    }
}
