//! Runs fjall's background workers (memtable flushes and compactions) at a lower CPU priority
//! than the threads that serve requests, as RocksDB does for its compaction pool.
//!
//! Why: while one worker compacts, fjall's worker 0 hands the next compaction request back to
//! the queue and takes it again until a worker is free, spinning a core. On a two-core node that
//! core is the one raft apply, SQL and replication need: a physical-replication initial scan ran
//! about 30% slower (bench/pcr). A single worker would not spin, but is unsafe: a worker rotating
//! a memtable sends to the queue it alone drains, which write load can fill while it compacts
//! (fjall-rs/fjall#323). At nice 10 the workers still get every idle cycle, and about a tenth of
//! a busy core, so flushes and compactions keep up; if they fall behind, fjall's own write stall
//! slows writers down.
//!
//! How: Linux gives a new thread the nice value of the thread that creates it, and fjall starts
//! its workers while opening the database, so the database is opened on a short-lived thread
//! that first lowers its own priority. Nothing else changes priority, and no thread's priority
//! is ever raised (which would need privileges). If lowering fails (a sandbox refusing
//! nice), the database opens at normal priority and a debug line says so.

/// How many nice steps fjall's workers run below the thread that opens the store (normally
/// 0, so they run at 10; 19 is the lowest priority).
pub const WORKER_NICE: i32 = 10;

/// Runs `open` on a new thread [`WORKER_NICE`] steps below the caller's priority, so the threads
/// it starts inherit that priority, and returns its result (or why no thread could be started).
/// A panic in `open` is re-raised on the calling thread.
pub fn with_lowered_priority<T: Send + 'static>(
    open: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    let thread = std::thread::Builder::new()
        .name("storage-open".into())
        .spawn(move || {
            // SAFETY: nice only reads its argument; on Linux it changes this thread alone (it
            // caps at 19, and lowering priority needs no privilege).
            if unsafe { libc::nice(WORKER_NICE) } == -1 {
                tracing::debug!(err = %std::io::Error::last_os_error(), "fjall workers keep the opener's priority");
            }
            open()
        });
    match thread?.join() {
        Ok(v) => Ok(v),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nice_of(tid: &str) -> i64 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).expect("stat");
        // Fields after the parenthesised name: state is field 3, nice is field 19.
        let rest = &stat[stat.rfind(')').expect("comm ends") + 2..];
        rest.split(' ')
            .nth(16)
            .expect("nice field")
            .parse()
            .expect("number")
    }

    #[test]
    fn engine_workers_run_below_normal_priority() {
        // SAFETY: gettid has no arguments.
        let me = unsafe { libc::gettid() }.to_string();
        let mine = nice_of(&me);
        let dir = tempfile::tempdir().expect("tempdir");
        let _engine = crate::storage::Engine::open(
            dir.path(),
            &crate::storage::EngineOptions {
                cache_bytes: 8 << 20,
            },
        )
        .expect("open");
        // Every engine of this test process starts its workers the same way.
        let workers: Vec<i64> = std::fs::read_dir("/proc/self/task")
            .expect("linux")
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.trim_end() == "fjall:worker")
            })
            .map(|t| nice_of(&t.file_name().to_string_lossy()))
            .collect();
        assert!(!workers.is_empty(), "the engine started fjall workers");
        assert!(
            workers
                .iter()
                .all(|n| *n == (mine + WORKER_NICE as i64).min(19)),
            "worker nice values {workers:?}, opener {mine}"
        );
        assert_eq!(nice_of(&me), mine, "the opening thread keeps its priority");
    }
}
