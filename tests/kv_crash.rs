//! Crash test: a child `tandem debug kv-workload` process commits two-range transactions and
//! records each acknowledgement; it is killed with SIGKILL at a (seeded) random moment, the store
//! is reopened, and every acknowledged transaction must be fully there and none half there;
//! every acknowledged bulk-ingest batch (written as table files when applied) must be complete.
//! Three rounds run on the same store, so recovery after recovery is covered too.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tandem::cli::kv_workload;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_crash_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    let acks = dir.path().join("acks");
    let seed: u64 = std::env::var("TANDEM_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    eprintln!("crash test seed {seed}");
    let mut rng = seed;
    let mut last_present = 0;
    let mut bulk_acknowledged = 0;
    for round in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["debug", "kv-workload", "--store"])
            .arg(&store_dir)
            .args(["--duration", "120s", "--writers", "4", "--ack-file"])
            .arg(&acks)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn workload");
        // Wait until this round has acknowledged something, then a random extra moment.
        let before = std::fs::read_to_string(&acks)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::fs::read_to_string(&acks)
            .map(|s| s.lines().count())
            .unwrap_or(0)
            < before + 20
        {
            assert!(
                Instant::now() < deadline,
                "workload acknowledged nothing in round {round}"
            );
            assert!(
                child.try_wait().expect("poll child").is_none(),
                "workload exited early"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis((rng >> 33) % 700)).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");

        let store = kv_workload::open_store(&store_dir).expect("reopen after kill");
        let report = kv_workload::check(&store, &acks).await.expect("check");
        store.shutdown().await;
        drop(store);
        eprintln!("round {round}: {report:?}");
        assert!(
            report.lost.is_empty(),
            "acknowledged writes lost: {:?}",
            report.lost
        );
        assert!(
            report.partial.is_empty(),
            "half-applied transactions: {:?}",
            report.partial
        );
        assert!(
            report.bulk_lost.is_empty(),
            "acknowledged bulk-ingest batches incomplete: {:?}",
            report.bulk_lost
        );
        assert!(report.acknowledged > 0 && report.present >= report.acknowledged);
        assert!(
            report.present >= last_present,
            "data disappeared between rounds"
        );
        last_present = report.present;
        bulk_acknowledged = report.bulk_acknowledged;
    }
    assert!(
        bulk_acknowledged > 0,
        "no bulk-ingest batch was acknowledged"
    );
}
