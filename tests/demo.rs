//! `tandem demo` end to end, through the built binary: two clusters of three nodes (and of one
//! node with `--nodes 1`) on loopback, movr on the
//! primary, replication into the standby, cutover, matching fingerprints and row counts, the
//! connection strings printed, and no node process left behind when the demo exits. Also the
//! flag checks that fail before any node starts.
//!
//! The demo runs in its own process group, so the check that nothing outlives it covers every
//! process it started, and a demo that hangs past the timeout is killed with its whole group.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(240);

/// Whether any process of process group `pgid` is alive.
fn group_alive(pgid: u32) -> bool {
    Command::new("kill")
        .args(["-0", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs `tandem <args>` in its own process group with output to files; returns (exit code,
/// stdout, stderr, process group). Kills the group and panics after [`TIMEOUT`].
fn run_demo(dir: &Path, args: &[&str]) -> (i32, String, String, u32) {
    let out_path = dir.join("demo.stdout");
    let err_path = dir.join("demo.stderr");
    let out = std::fs::File::create(&out_path).expect("stdout file");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .expect("spawn tandem demo");
    let pgid = child.id();
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll tandem demo") {
            break status;
        }
        if Instant::now() > deadline {
            kill_group(pgid);
            let _ = child.wait();
            panic!(
                "tandem demo did not finish within {}s\nstdout:\n{}\nstderr:\n{}",
                TIMEOUT.as_secs(),
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(&out_path).unwrap_or_default(),
        std::fs::read_to_string(&err_path).unwrap_or_default(),
        pgid,
    )
}

/// The value after `key` up to the next space, comma or parenthesis on every line with it.
fn values_after<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.split_once(key).map(|(_, rest)| rest))
        .map(|rest| rest.split([' ', ',', ')']).next().unwrap_or(""))
        .collect()
}

#[test]
fn demo_replicates_cuts_over_and_leaves_nothing_running() {
    check_demo(3, "5s");
}

/// `--nodes 1`: two single-node clusters (`tandem start-single-node`).
#[test]
fn demo_on_single_node_clusters() {
    check_demo(1, "2s");
}

/// Runs the demo with `nodes` nodes per cluster and checks everything it printed and left.
fn check_demo(nodes: usize, duration: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = tmp.path().join("work");
    let work_s = work.to_str().expect("utf8 path");
    let n_arg = nodes.to_string();
    let (code, out, err, pgid) = run_demo(
        tmp.path(),
        &[
            "demo",
            "--duration",
            duration,
            "--nodes",
            &n_arg,
            "--dir",
            work_s,
        ],
    );
    // Node names: `primary` / `standby` for one node, `primary-n1`... for several.
    let names: Vec<String> = ["primary", "standby"]
        .iter()
        .flat_map(|c| {
            (1..=nodes).map(move |i| {
                if nodes == 1 {
                    c.to_string()
                } else {
                    format!("{c}-n{i}")
                }
            })
        })
        .collect();
    let first = |cluster: &str| {
        if nodes == 1 {
            cluster.to_string()
        } else {
            format!("{cluster}-n1")
        }
    };
    let node_dir = |name: &str| match name.split_once("-n") {
        Some((cluster, i)) => work.join(cluster).join(format!("n{i}")),
        None => work.join(name),
    };
    let context = format!("stdout:\n{out}\nstderr:\n{err}");
    let alive = group_alive(pgid);
    kill_group(pgid);
    if code != 0 {
        // The work directory goes with the test's temporary directory: keep what explains
        // the failure (the nodes' warnings and errors) in the test's output.
        for name in &names {
            let log = std::fs::read_to_string(node_dir(name).join("node.log")).unwrap_or_default();
            let bad: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .collect();
            eprintln!("--- {name}: {} warnings/errors, the last 30:", bad.len());
            for l in &bad[bad.len().saturating_sub(30)..] {
                eprintln!("{l}");
            }
        }
    }
    assert_eq!(code, 0, "tandem demo failed\n{context}");
    assert!(!alive, "a process of the demo outlived it\n{context}");

    // Every step, from the real clusters.
    for name in &names {
        let needle = format!("[{name}] started (pid ");
        assert!(out.contains(&needle), "missing {needle:?}\n{context}");
    }
    if nodes > 1 {
        assert!(
            out.contains(
                "[primary] leases per node at the end of the workload (tandem node status): n1 "
            ),
            "{context}"
        );
        assert!(
            out.contains("tandem start --join, tandem init"),
            "{context}"
        );
    }
    for needle in [
        "GRANT SYSTEM REPLICATION TO repl",
        "[standby] CREATE VIRTUAL CLUSTER application LIKE template FROM REPLICATION OF application ON 'postgresql://repl:***@localhost:",
        "[standby] replicating, replicated time ",
        "[primary] movr finished: ",
        "[standby] caught up: replicating",
        "COMPLETE REPLICATION TO LATEST: cutover time ",
        "[standby] application: data_state ready",
        "START SERVICE SHARED",
        "serves SQL",
        "[verify] fingerprints match",
        "[verify] movr.rides: primary ",
        "[verify] the standby holds exactly the primary's data at the cutover time",
    ] {
        assert!(out.contains(needle), "missing {needle:?}\n{context}");
    }
    assert!(
        !out.contains("DIFFER"),
        "the clusters differ at cutover\n{context}"
    );
    assert!(
        out.contains("replication lag during the workload ("),
        "no lag statistics\n{context}"
    );
    // The password of repl is never printed.
    assert!(
        !out.contains("postgresql://repl:") || out.contains("postgresql://repl:***@"),
        "{context}"
    );

    // Fingerprints: the same non-empty number on both sides.
    let fp_line = out
        .lines()
        .find(|l| l.starts_with("[verify] fingerprint of application"))
        .unwrap_or_else(|| panic!("no fingerprint line\n{context}"));
    let primary_fp = values_after(fp_line, "primary ");
    let standby_fp = values_after(fp_line, "standby ");
    assert_eq!(primary_fp, standby_fp, "{context}");
    assert!(
        primary_fp
            .first()
            .is_some_and(|f| !f.is_empty() && f.trim_start_matches('-').parse::<i64>().is_ok()),
        "{context}"
    );

    // Connection strings for both clusters and both virtual clusters, with certificate paths
    // that exist, and the DB Consoles.
    for (cluster, vc) in [
        ("primary", "system"),
        ("primary", "application"),
        ("standby", "system"),
        ("standby", "application"),
    ] {
        let shown = first(cluster);
        let line = out
            .lines()
            .find(|l| {
                let mut w = l.split_whitespace();
                w.next() == Some(shown.as_str()) && w.next() == Some(vc)
            })
            .unwrap_or_else(|| panic!("no connection string for {cluster} {vc}\n{context}"));
        assert!(
            line.contains("postgresql://root@localhost:")
                && line.contains(&format!("options=-ccluster%3D{vc}"))
                && line.contains("sslmode=verify-full"),
            "{line}"
        );
        let certs = work.join(cluster).join("certs");
        for file in ["ca.crt", "client.root.crt", "client.root.key"] {
            let path = certs.join(file);
            assert!(
                line.contains(path.to_str().expect("utf8")),
                "{line} lacks {}",
                path.display()
            );
            assert!(path.exists(), "{} missing", path.display());
        }
    }
    assert!(out.contains("DB Console (log in as user demo"), "{context}");
    for name in &names {
        let console = out
            .lines()
            .filter(|l| {
                let mut w = l.split_whitespace();
                w.next() == Some(name.as_str())
                    && w.next()
                        .is_some_and(|u| u.starts_with("https://localhost:"))
            })
            .count();
        assert_eq!(console, 1, "DB Console of {name}\n{context}");
    }

    // Nothing left running: the nodes' PIDs are gone, their SQL ports refuse connections and
    // their ready files are removed; their logs and the movr log stay in --dir.
    let pids = values_after(&out, "started (pid ");
    assert_eq!(pids.len(), 2 * nodes, "{context}");
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "node pid {pid} still exists\n{context}"
        );
    }
    let addrs = values_after(&out, ": SQL ");
    assert_eq!(addrs.len(), 2 * nodes, "{context}");
    for addr in addrs {
        assert!(
            std::net::TcpStream::connect_timeout(
                &addr.parse().expect("socket address"),
                Duration::from_secs(2)
            )
            .is_err(),
            "{addr} still accepts connections\n{context}"
        );
    }
    for name in &names {
        let dir = node_dir(name);
        assert!(!dir.join("node.ready").exists(), "{context}");
        assert!(
            dir.join("node.log").exists(),
            "{} missing\n{context}",
            dir.display()
        );
        assert!(out.contains(&format!("[{name}] stopped: ")), "{context}");
    }
    assert!(work.join("movr.log").exists(), "{context}");
}

#[test]
fn demo_rejects_bad_flags_before_starting_anything() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let busy = tmp.path().join("busy");
    std::fs::create_dir_all(&busy).expect("mkdir");
    std::fs::write(busy.join("file"), "x").expect("write");
    let busy_s = busy.to_str().expect("utf8 path");
    let (code, out, err, pgid) = run_demo(tmp.path(), &["demo", "--dir", busy_s]);
    kill_group(pgid);
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("is not empty"), "stderr:\n{err}");
    assert!(!out.contains("started (pid"), "stdout:\n{out}");

    let (code, _, err, pgid) = run_demo(tmp.path(), &["demo", "--duration", "0s"]);
    kill_group(pgid);
    assert_ne!(code, 0);
    assert!(err.contains("--duration must be at least 1s"), "{err}");

    let (code, _, err, pgid) = run_demo(tmp.path(), &["demo", "--duration", "soon"]);
    kill_group(pgid);
    assert_ne!(code, 0);
    assert!(err.contains("--duration"), "{err}");
}
