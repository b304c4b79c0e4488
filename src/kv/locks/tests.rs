use super::*;
use std::sync::Arc;

const LONG: Duration = Duration::from_secs(10);

fn req(mode: LockMode) -> LockRequest {
    LockRequest {
        mode,
        explicit: true,
        policy: WaitPolicy::Block,
        lock_timeout: None,
        best_effort: None,
    }
}

fn implicit(wait: Duration) -> LockRequest {
    LockRequest {
        explicit: false,
        best_effort: Some(wait),
        ..req(LockMode::Exclusive)
    }
}

async fn acquire(t: &LockTable, key: &[u8], txn: TxnId, r: LockRequest) -> Acquired {
    t.acquire(key, txn, r, std::future::pending()).await
}

/// Spawns `txn`'s request and returns once it is queued.
async fn spawn_waiter(
    t: &Arc<LockTable>,
    key: &'static [u8],
    txn: TxnId,
    r: LockRequest,
) -> tokio::task::JoinHandle<Acquired> {
    let t2 = t.clone();
    let h = tokio::spawn(async move { acquire(&t2, key, txn, r).await });
    while !t.inner.lock().waiting_on.contains_key(&txn) {
        tokio::task::yield_now().await;
    }
    h
}

#[tokio::test]
async fn waiters_are_served_in_order_and_best_effort_waits_proceed() {
    let t = Arc::new(LockTable::default());
    let (a, b, c) = (TxnId::random(), TxnId::random(), TxnId::random());
    let x = LockMode::Exclusive;
    assert_eq!(
        acquire(&t, b"k", a, implicit(LONG)).await,
        Acquired::Immediately
    );
    assert_eq!(acquire(&t, b"k", a, req(x)).await, Acquired::Immediately);
    // a now holds k explicitly: c's best-effort wait does not give up ...
    let c_waits = spawn_waiter(&t, b"k", c, implicit(Duration::from_millis(20))).await;
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(!c_waits.is_finished());
    let b_waits = spawn_waiter(&t, b"k", b, req(x)).await;
    t.release(b"k", a);
    // ... and is served first.
    assert_eq!(c_waits.await.unwrap(), Acquired::AfterWaiting);
    assert!(!b_waits.is_finished());
    t.release(b"k", c);
    assert_eq!(b_waits.await.unwrap(), Acquired::AfterWaiting);
    // An implicit holder's lock is given up on after the best-effort limit.
    assert_eq!(
        acquire(&t, b"j", a, implicit(LONG)).await,
        Acquired::Immediately
    );
    assert_eq!(
        acquire(&t, b"j", c, implicit(Duration::from_millis(20))).await,
        Acquired::TimedOut
    );
    t.release(b"k", b);
    t.release(b"j", a);
    assert!(t.is_empty());
    assert!(t.inner.lock().waiting_on.is_empty());
}

#[tokio::test]
async fn shared_holders_coexist_and_exclusive_waits_for_all() {
    let t = Arc::new(LockTable::default());
    let (a, b, c, d) = (
        TxnId::random(),
        TxnId::random(),
        TxnId::random(),
        TxnId::random(),
    );
    let (s, x) = (LockMode::Shared, LockMode::Exclusive);
    assert_eq!(acquire(&t, b"k", a, req(s)).await, Acquired::Immediately);
    assert_eq!(acquire(&t, b"k", b, req(s)).await, Acquired::Immediately);
    let c_waits = spawn_waiter(&t, b"k", c, req(x)).await;
    // A new shared request queues behind the waiting writer.
    let d_waits = spawn_waiter(&t, b"k", d, req(s)).await;
    t.release(b"k", a);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!c_waits.is_finished());
    t.release(b"k", b);
    assert_eq!(c_waits.await.unwrap(), Acquired::AfterWaiting);
    assert!(!d_waits.is_finished());
    t.release(b"k", c);
    assert_eq!(d_waits.await.unwrap(), Acquired::AfterWaiting);
    t.release(b"k", d);
    assert!(t.is_empty());
}

#[tokio::test]
async fn nowait_timeout_and_stop_end_a_wait() {
    let t = Arc::new(LockTable::default());
    let (a, b) = (TxnId::random(), TxnId::random());
    let (s, x) = (LockMode::Shared, LockMode::Exclusive);
    assert_eq!(acquire(&t, b"k", a, req(x)).await, Acquired::Immediately);
    let nowait = LockRequest {
        policy: WaitPolicy::NoWait,
        ..req(s)
    };
    assert_eq!(acquire(&t, b"k", b, nowait).await, Acquired::Busy);
    assert!(t.is_held_by_other(b"k", b, s));
    assert!(!t.is_held_by_other(b"k", a, x));
    let timed = LockRequest {
        lock_timeout: Some(Duration::from_millis(20)),
        ..req(x)
    };
    assert_eq!(acquire(&t, b"k", b, timed).await, Acquired::LockTimeout);
    let stop = tokio::time::sleep(Duration::from_millis(20));
    assert_eq!(
        t.acquire(b"k", b, req(x), stop).await,
        Acquired::Interrupted
    );
    // A dropped wait leaves the queue too.
    let h = spawn_waiter(&t, b"k", b, req(x)).await;
    h.abort();
    let _ = h.await;
    {
        let inner = t.inner.lock();
        assert!(inner.waiting_on.is_empty());
        assert!(inner.locks.get(b"k".as_slice()).unwrap().waiters.is_empty());
    }
    t.release(b"k", a);
    assert!(t.is_empty());
}

#[tokio::test]
async fn a_wait_that_closes_a_cycle_is_a_deadlock() {
    let t = Arc::new(LockTable::default());
    let (a, b) = (TxnId::random(), TxnId::random());
    let x = LockMode::Exclusive;
    assert_eq!(acquire(&t, b"x", a, req(x)).await, Acquired::Immediately);
    assert_eq!(acquire(&t, b"y", b, req(x)).await, Acquired::Immediately);
    // a waits for y (held by b) ...
    let a_waits = spawn_waiter(&t, b"y", a, req(x)).await;
    // ... so b waiting for x (held by a) would be a cycle: refused at once.
    assert_eq!(acquire(&t, b"x", b, req(x)).await, Acquired::Deadlock);
    // b gives up and releases y: a gets it.
    t.release(b"y", b);
    assert_eq!(a_waits.await.unwrap(), Acquired::AfterWaiting);
    assert!(t.inner.lock().waiting_on.is_empty());
}

#[tokio::test]
async fn two_shared_holders_upgrading_deadlock() {
    let t = Arc::new(LockTable::default());
    let (a, b) = (TxnId::random(), TxnId::random());
    let (s, x) = (LockMode::Shared, LockMode::Exclusive);
    assert_eq!(acquire(&t, b"k", a, req(s)).await, Acquired::Immediately);
    assert_eq!(acquire(&t, b"k", b, req(s)).await, Acquired::Immediately);
    let a_waits = spawn_waiter(&t, b"k", a, req(x)).await;
    assert_eq!(acquire(&t, b"k", b, req(x)).await, Acquired::Deadlock);
    t.release(b"k", b);
    assert_eq!(a_waits.await.unwrap(), Acquired::AfterWaiting);
    t.release(b"k", a);
    assert!(t.is_empty());
}

#[tokio::test]
async fn a_lock_handed_over_but_not_yet_taken_is_no_deadlock() {
    let t = Arc::new(LockTable::default());
    let (a, b, c) = (TxnId::random(), TxnId::random(), TxnId::random());
    let x = LockMode::Exclusive;
    assert_eq!(acquire(&t, b"k", a, req(x)).await, Acquired::Immediately);
    let b_waits = spawn_waiter(&t, b"k", b, req(x)).await;
    // b is handed the lock; its task has not run since (single-threaded runtime, no yield).
    t.release(b"k", a);
    // c now waits for b, which waits for nothing.
    let c_wait = tokio::time::timeout(Duration::from_millis(50), acquire(&t, b"k", c, req(x)));
    assert!(
        c_wait.await.is_err(),
        "c should wait, not be told of a deadlock"
    );
    assert_eq!(b_waits.await.unwrap(), Acquired::AfterWaiting);
    t.release(b"k", b);
    assert!(t.is_empty());
    assert!(t.inner.lock().waiting_on.is_empty());
}
