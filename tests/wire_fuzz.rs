//! Fuzzing of what SQL clients and node peers send, over the real connection handlers: the
//! pgwire server (in-memory connections through `PgServerHandle::serve_stream`, the code path of
//! every TCP connection) and the node port's framed transport (`rpc::listener::serve_connection`).
//!
//! Each iteration opens a connection, writes a generated input (in random chunks), closes its
//! writing side and reads until the server closes. The run fails on any panic (recorded by a
//! panic hook, and the pgwire server's own caught-panic counter), on a connection the server
//! neither answers nor closes within 30 s, on output that is not a sequence of whole messages,
//! and when a fresh well-formed connection stops being served (checked every
//! [`CHECK_EVERY`] iterations and at the end, also over TCP with a real client).
//!
//! By default a fixed number of seeded iterations runs (deterministic inputs, well under a
//! minute in a debug build). `FUZZ_SECONDS=600` runs each target for ten minutes instead,
//! `FUZZ_SEED` changes the inputs, `FUZZ_ITERATIONS` the count; see tests/fuzz/run.sh and
//! tests/fuzz/mod.rs. A failure names the seed and iteration that reproduce it.

mod fuzz;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fuzz::pg::{Mode, Target};
use fuzz::{Budget, Rng, panics, record_panics};

/// Iterations of the pgwire target without `FUZZ_SECONDS` / `FUZZ_ITERATIONS`.
const PG_ITERATIONS: u64 = 2500;
/// Iterations of the node port target without `FUZZ_SECONDS` / `FUZZ_ITERATIONS`.
const RPC_ITERATIONS: u64 = 20_000;
/// How often a fresh well-formed connection is checked.
const CHECK_EVERY: u64 = 250;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(512).map(|b| format!("{b:02x}")).collect()
}

fn fail(target: &str, budget: &Budget, i: u64, what: &str, detail: &str, input: &[u8]) -> ! {
    panic!(
        "{target} fuzz failed at iteration {i} (reproduce: FUZZ_SEED={:#x} FUZZ_START={i} \
         FUZZ_ITERATIONS=1): {what}: {detail}\ninput ({} bytes, hex): {}",
        budget.seed,
        input.len(),
        hex(input)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgwire_connections_survive_any_input() {
    record_panics();
    let target = Target::start().await;
    let budget = Budget::from_env(PG_ITERATIONS);
    let started = Instant::now();
    let mut i = budget.start;
    let mut bytes_sent = 0usize;
    let mut coverage = fuzz::pg::Coverage::default();
    while budget.more(i) {
        budget.progress("pgwire", i, 1000);
        let mut rng = Rng::for_iteration(budget.seed, i);
        let case = fuzz::pg::case(&mut rng, &target.seeds);
        let chunks = case.chunks(&mut rng);
        bytes_sent += case.bytes.len();
        let port = 1024 + (i % 60_000) as u16;
        let out = match target.exchange(case.mode, chunks, port).await {
            Ok(out) => out,
            Err(e) => fail("pgwire", &budget, i, case.what, &e, &case.bytes),
        };
        match fuzz::pg::backend_messages(&out, case.leading) {
            Ok(messages) => coverage.add(&messages),
            Err(e) => {
                let detail = format!("{e}; output {}", hex(&out));
                fail("pgwire", &budget, i, case.what, &detail, &case.bytes);
            }
        }
        let caught = target.insecure.metrics().panics.load(Ordering::Relaxed)
            + target.secure.metrics().panics.load(Ordering::Relaxed);
        if caught > 0 || !panics().is_empty() {
            let detail = format!(
                "{caught} caught by the server; hook: {:?}; output: {}",
                panics(),
                String::from_utf8_lossy(&out)
            );
            fail("pgwire", &budget, i, case.what, &detail, &case.bytes);
        }
        if (i + 1).is_multiple_of(CHECK_EVERY) {
            for mode in [Mode::Plain, Mode::TlsCert] {
                if let Err(e) = target.healthy(mode).await {
                    fail("pgwire", &budget, i, "fresh connection", &e, &case.bytes);
                }
            }
        }
        i += 1;
    }
    for mode in [Mode::Plain, Mode::TlsCert] {
        target
            .healthy(mode)
            .await
            .expect("fresh connection at the end");
    }
    // A real client over TCP.
    let addr = target.insecure.local_addr();
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(addr.port())
        .user("root")
        .dbname("defaultdb");
    let (client, conn) = tokio::time::timeout(
        Duration::from_secs(30),
        config.connect(tokio_postgres::NoTls),
    )
    .await
    .expect("connect in time")
    .expect("connect over TCP");
    tokio::spawn(conn);
    let row = client.query_one("SELECT 1", &[]).await.expect("SELECT 1");
    assert_eq!(row.get::<_, i64>(0), 1);
    drop(client);
    // Every fuzzed connection ended.
    let deadline = Instant::now() + Duration::from_secs(30);
    while target.insecure.active_connections() + target.secure.active_connections() > 0 {
        assert!(
            Instant::now() < deadline,
            "connections left open after the run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(panics().is_empty(), "{:?}", panics());
    eprintln!(
        "pgwire fuzz: {} iterations ({} KiB sent) in {:.1?}, seed {:#x}, no panic, no hang; \
         {} logins, {} ReadyForQuery, {} rows, errors by SQLSTATE {:?}",
        i - budget.start,
        bytes_sent >> 10,
        started.elapsed(),
        budget.seed,
        coverage.logins,
        coverage.ready,
        coverage.rows,
        coverage.codes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_port_connections_survive_any_input() {
    record_panics();
    let handler = Arc::new(fuzz::rpc::Echo {
        raft: AtomicU64::new(0),
        calls: AtomicU64::new(0),
    });
    let budget = Budget::from_env(RPC_ITERATIONS);
    let started = Instant::now();
    let mut i = budget.start;
    while budget.more(i) {
        budget.progress("node port", i, 100_000);
        let mut rng = Rng::for_iteration(budget.seed, i);
        let bytes = fuzz::rpc::case(&mut rng);
        let chunks = fuzz::rpc::case_chunks(&mut rng, &bytes);
        let port = 1024 + (i % 60_000) as u16;
        if let Err(e) = fuzz::rpc::exchange(&handler, chunks, port).await {
            fail("node port", &budget, i, "connection", &e, &bytes);
        }
        if !panics().is_empty() {
            fail(
                "node port",
                &budget,
                i,
                "panic",
                &format!("{:?}", panics()),
                &bytes,
            );
        }
        if (i + 1).is_multiple_of(CHECK_EVERY)
            && let Err(e) = fuzz::rpc::healthy(&handler).await
        {
            fail("node port", &budget, i, "fresh connection", &e, &bytes);
        }
        i += 1;
    }
    fuzz::rpc::healthy(&handler)
        .await
        .expect("fresh connection at the end");
    assert!(panics().is_empty(), "{:?}", panics());
    eprintln!(
        "node port fuzz: {} iterations in {:.1?} ({} calls, {} raft messages delivered), seed {:#x}, no panic, no hang",
        i - budget.start,
        started.elapsed(),
        handler.calls.load(Ordering::Relaxed),
        handler.raft.load(Ordering::Relaxed),
        budget.seed
    );
}

/// Found by the pgwire target: Execute's row limit is the client's, and pgwire's portal fetch
/// allocated room for that many rows at once; 2^31 - 1 aborted the process on the allocation
/// failure (with the system allocator this test binary uses).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_with_the_largest_row_limit() {
    let target = Target::start().await;
    let mut bytes = fuzz::pg::startup(&[("user", "root"), ("database", "defaultdb")]);
    bytes.extend(fuzz::pg::typed(b'P', b"\0SELECT 1\0\0\0"));
    bytes.extend(fuzz::pg::typed(b'B', &[0; 8]));
    bytes.extend(fuzz::pg::typed(
        b'E',
        &[&[0][..], &i32::MAX.to_be_bytes()].concat(),
    ));
    bytes.extend(fuzz::pg::typed(b'S', &[]));
    bytes.extend(fuzz::pg::typed(b'X', &[]));
    let out = target
        .exchange(Mode::Plain, vec![bytes], 1)
        .await
        .expect("answered");
    let tags: Vec<u8> = fuzz::pg::backend_messages(&out, 0)
        .expect("whole messages")
        .iter()
        .map(|m| m[0])
        .filter(|t| b"12DCZ".contains(t))
        .collect();
    assert_eq!(tags, b"Z12DCZ", "{}", String::from_utf8_lossy(&out));
}
