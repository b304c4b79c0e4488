//! `tandem workload init|run movr` (reference/movr.md) against a real PostgreSQL 15 started
//! for the test (tandem's SQL engine does not cover movr yet), plus the generator, the
//! histogram, the report layout and the command-line parsing on their own.
//!
//! PostgreSQL comes from `/usr/local/bin/{initdb,pg_ctl}`; as root it runs as `nobody`. When
//! the binaries are missing the PostgreSQL tests print a note and pass.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use tandem::cli::workload::histogram::Histogram;
use tandem::cli::workload::movr::{
    self, CITIES, ConnFlags, InitOptions, MovrFlags, OP_NAMES, RunOptions, TABLE_NAMES,
};
use tandem::cli::workload::report::{OpSummary, TICK_HEADER, TOTAL_HEADER, format_final};
use tandem::cli::workload::sql::{Uuid, Value, parse_duration, parse_urls};
use tandem::cli::workload::{InitCommand, RunCommand, WorkloadCommand};
use tokio_postgres::{Client, NoTls};

const PG_BIN: &str = "/usr/local/bin";

/// A throwaway PostgreSQL server on 127.0.0.1 and an ephemeral port.
struct Postgres {
    dir: tempfile::TempDir,
    data: PathBuf,
    port: u16,
    as_nobody: bool,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn checked(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    fn start() -> Option<Postgres> {
        for bin in ["initdb", "pg_ctl", "postgres"] {
            if !Path::new(PG_BIN).join(bin).exists() {
                eprintln!("note: skipping: {PG_BIN}/{bin} not found (needs PostgreSQL 15)");
                return None;
            }
        }
        let as_nobody = is_root();
        let dir = tempfile::Builder::new()
            .prefix("movr-pg")
            .tempdir()
            .expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("mkdir data");
        if as_nobody {
            checked(
                Command::new("chown").args(["-R", "nobody"]).arg(dir.path()),
                "chown",
            );
        }
        let pg = Postgres {
            data,
            port: free_port(),
            as_nobody,
            dir,
        };
        checked(
            pg.command("initdb").arg("-D").arg(&pg.data).args([
                "-U",
                "root",
                "--auth=trust",
                "--no-locale",
                "-E",
                "UTF8",
                "--no-sync",
            ]),
            "initdb",
        );
        let options = format!(
            "-h 127.0.0.1 -p {} -c unix_socket_directories='' -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=100",
            pg.port
        );
        checked(
            pg.command("pg_ctl")
                .arg("-D")
                .arg(&pg.data)
                .arg("-l")
                .arg(pg.dir.path().join("postgres.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
            "pg_ctl start",
        );
        Some(pg)
    }

    fn command(&self, bin: &str) -> Command {
        let path = format!("{PG_BIN}/{bin}");
        let mut cmd = if self.as_nobody {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--", &path]);
            c
        } else {
            Command::new(path)
        };
        cmd.current_dir(self.dir.path());
        cmd
    }

    fn url(&self, db: &str) -> String {
        format!(
            "postgresql://root@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    async fn client(&self, db: &str) -> Client {
        let (client, conn) = tokio_postgres::connect(
            &format!("host=127.0.0.1 port={} user=root dbname={db}", self.port),
            NoTls,
        )
        .await
        .expect("connect to postgres");
        tokio::spawn(conn);
        client
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

async fn count(client: &Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

fn small_flags() -> MovrFlags {
    MovrFlags {
        seed: 7,
        num_users: 20,
        num_vehicles: 12,
        num_rides: 40,
        num_histories: 60,
        num_promo_codes: 25,
        num_user_promos: 5,
        num_ranges: 9,
    }
}

fn init_opts(pg: &Postgres, db: &str, data: MovrFlags) -> InitOptions {
    InitOptions {
        conn: ConnFlags {
            urls: vec![pg.url("postgres")],
            db: db.to_string(),
            ..ConnFlags::default()
        },
        data,
        init_conns: 3,
        batch_size: 7,
        ..InitOptions::default()
    }
}

/// The reference/movr.md §6 acceptance checks (adapted to PostgreSQL's catalog) plus the other
/// foreign keys, for the counts in `f`; `grown` allows more rows than loaded (after a run).
async fn check_movr(c: &Client, f: &MovrFlags, grown: bool) {
    for (table, want) in [
        ("users", f.num_users),
        ("vehicles", f.num_vehicles),
        ("rides", f.num_rides),
        ("vehicle_location_histories", f.num_histories),
        ("promo_codes", f.num_promo_codes),
        ("user_promo_codes", f.num_user_promos),
    ] {
        let got = count(c, &format!("SELECT count(*) FROM {table}")).await;
        if grown {
            assert!(got >= want as i64, "{table}: {got} < {want}");
        } else {
            assert_eq!(got, want as i64, "{table}");
        }
    }
    for table in ["users", "vehicles", "rides", "vehicle_location_histories"] {
        assert_eq!(
            count(c, &format!("SELECT count(DISTINCT city) FROM {table}")).await,
            9,
            "{table}"
        );
    }
    let cities: Vec<String> = c
        .query("SELECT DISTINCT city FROM users ORDER BY city", &[])
        .await
        .expect("cities")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut want: Vec<String> = CITIES.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(cities, want);

    for orphans in [
        "SELECT count(*) FROM rides r LEFT JOIN vehicles v ON v.city = r.vehicle_city AND v.id = r.vehicle_id WHERE v.id IS NULL",
        "SELECT count(*) FROM rides r LEFT JOIN users u ON u.city = r.city AND u.id = r.rider_id WHERE u.id IS NULL",
        "SELECT count(*) FROM vehicles v LEFT JOIN users u ON u.city = v.city AND u.id = v.owner_id WHERE u.id IS NULL",
        "SELECT count(*) FROM vehicle_location_histories h LEFT JOIN rides r ON r.city = h.city AND r.id = h.ride_id WHERE r.id IS NULL",
        "SELECT count(*) FROM user_promo_codes p LEFT JOIN users u ON u.city = p.city AND u.id = p.user_id WHERE u.id IS NULL",
        "SELECT count(*) FROM rides WHERE vehicle_city <> city",
    ] {
        assert_eq!(count(c, orphans).await, 0, "{orphans}");
    }

    // SHOW TABLES FROM movr: 6 tables.
    let tables: Vec<String> = c
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
            &[],
        )
        .await
        .expect("tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut want: Vec<String> = TABLE_NAMES.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(tables, want);
    assert_eq!(
        count(
            c,
            "SELECT count(*) FROM information_schema.table_constraints \
             WHERE table_schema = 'public' AND constraint_type = 'FOREIGN KEY'"
        )
        .await,
        5
    );
    assert_eq!(
        count(
            c,
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname LIKE '%auto_index%'"
        )
        .await,
        3
    );
    assert_eq!(
        count(c, "SELECT count(*) FROM vehicles WHERE NOT ext ? 'color'").await,
        0
    );
    assert_eq!(
        count(
            c,
            "SELECT count(*) FROM vehicles WHERE type = 'bike' AND NOT ext ? 'brand'"
        )
        .await,
        0
    );
}

async fn fingerprint(c: &Client) -> String {
    c.query_one(
        "SELECT (SELECT md5(string_agg(id::text || name || address || credit_card, ',' ORDER BY city, id)) FROM users) \
         || (SELECT md5(string_agg(code || description || creation_time::text || expiration_time::text || rules::text, ',' ORDER BY code)) FROM promo_codes) \
         || (SELECT md5(string_agg(id::text || rider_id::text || vehicle_id::text || start_time::text || revenue::text, ',' ORDER BY city, id)) FROM rides) \
         || (SELECT md5(string_agg(ride_id::text || \"timestamp\"::text || lat::text || long::text, ',' ORDER BY city, ride_id, \"timestamp\")) FROM vehicle_location_histories)",
        &[],
    )
    .await
    .expect("fingerprint")
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movr_init_and_run_on_postgres() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let flags = small_flags();

    // init: schema, data in 7-row batches over 3 connections, foreign keys.
    movr::init(&init_opts(&pg, "movr", flags.clone()))
        .await
        .expect("init movr");
    let c = pg.client("movr").await;
    check_movr(&c, &flags, false).await;

    // The rows are the generator's, and the ids sort in row order.
    let users = c
        .query(
            "SELECT id, city, name, address, credit_card FROM users ORDER BY id",
            &[],
        )
        .await
        .expect("users");
    let generated = movr::generate_rows(&flags, "users").expect("users rows");
    assert_eq!(users.len(), generated.len());
    for (row, want) in users.iter().zip(&generated) {
        let id: Uuid = row.get(0);
        assert_eq!(Value::Uuid(id), want[0]);
        assert_eq!(Value::Text(row.get::<_, String>(1)), text(&want[1]));
        assert_eq!(Value::Text(row.get::<_, String>(2)), want[2]);
    }
    let revenue_ok = count(
        &c,
        "SELECT count(*) FROM rides WHERE revenue >= 0 AND revenue < 100 AND revenue = trunc(revenue)",
    )
    .await;
    assert_eq!(revenue_ok, flags.num_rides as i64);
    let before = fingerprint(&c).await;

    // Re-running init leaves everything as it is.
    movr::init(&init_opts(&pg, "movr", flags.clone()))
        .await
        .expect("init movr again");
    check_movr(&c, &flags, false).await;
    assert_eq!(fingerprint(&c).await, before);
    drop(c);

    // --drop starts over with the same data (same seed).
    let mut again = init_opts(&pg, "movr", flags.clone());
    again.drop = true;
    again.init_conns = 16;
    again.batch_size = 1000;
    movr::init(&again).await.expect("init --drop");
    let c = pg.client("movr").await;
    check_movr(&c, &flags, false).await;
    assert_eq!(fingerprint(&c).await, before, "same seed, same data");
    let users_before = count(&c, "SELECT count(*) FROM users").await;

    // run --duration=5s --concurrency=4.
    let opts = RunOptions {
        conn: ConnFlags {
            urls: vec![pg.url("postgres")],
            ..ConnFlags::default()
        },
        data: flags.clone(),
        duration: Duration::from_secs(5),
        concurrency: 4,
        ..RunOptions::default()
    };
    let mut out = Vec::new();
    let summary = movr::run_with_output(&opts, &mut out)
        .await
        .expect("run movr");
    let out = String::from_utf8(out).expect("utf8");
    println!("{out}");
    assert_eq!(summary.errors, 0);
    assert!(summary.elapsed >= Duration::from_secs(5));
    assert!(
        summary.elapsed < Duration::from_secs(8),
        "{:?}",
        summary.elapsed
    );
    let names: Vec<&str> = summary.ops.iter().map(|o| o.name.as_str()).collect();
    let mut want = OP_NAMES.to_vec();
    want.sort();
    assert_eq!(names, want, "summary lists every operation in name order");
    for op in &summary.ops {
        assert!(op.count > 0, "{} never ran:\n{out}", op.name);
        assert!(op.p50_ms <= op.p95_ms && op.p95_ms <= op.p99_ms && op.p99_ms <= op.max_ms);
        assert!(out.contains(&format!(" {}\n", op.name)), "{}", op.name);
    }
    let reads = summary.op("readVehicles").expect("reads").count as f64;
    assert!(
        reads / summary.result.count as f64 > 0.8,
        "mostly reads: {summary:?}"
    );
    assert_eq!(
        summary.result.count,
        summary.ops.iter().map(|o| o.count).sum::<u64>()
    );
    assert!(out.starts_with(TICK_HEADER), "{out}");
    assert!(out.contains(&format!("{TOTAL_HEADER}__total")));
    assert!(out.ends_with(&summary.text));
    assert!(summary.text.contains(&format!("{TOTAL_HEADER}__result")));
    // Per-second lines for 4 seconds at least (8 operations each once they have run).
    let tick_lines = out
        .lines()
        .filter(|l| l.trim_start().starts_with("1.0s") || l.trim_start().starts_with("4.0s"))
        .count();
    assert!(tick_lines >= 8, "{out}");

    // The writes kept the data consistent.
    check_movr(&c, &flags, true).await;
    assert!(count(&c, "SELECT count(*) FROM users").await > users_before);

    // --max-ops bounds the worker calls (each is one read or one write, the writes also
    // record updateActiveRides).
    let bounded = RunOptions {
        max_ops: 300,
        concurrency: 2,
        duration: Duration::from_secs(60),
        ..opts.clone()
    };
    let summary = movr::run_with_output(&bounded, &mut std::io::sink())
        .await
        .expect("run --max-ops");
    let calls: u64 = summary
        .ops
        .iter()
        .filter(|o| o.name != "updateActiveRides")
        .map(|o| o.count)
        .sum();
    assert_eq!(calls, 300);
    assert_eq!(
        summary.op("updateActiveRides").expect("updates").count,
        300 - summary.op("readVehicles").expect("reads").count
    );
}

fn text(v: &Value) -> Value {
    match v {
        Value::Str(s) => Value::Text(s.to_string()),
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movr_errors_on_postgres() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let admin = pg.client("postgres").await;

    // Validation, before connecting.
    let mut bad = small_flags();
    bad.num_users = 5;
    let err = movr::init(&init_opts(&pg, "movr", bad))
        .await
        .expect_err("too few users");
    assert_eq!(err.to_string(), "at least 9 users are required");

    // A server error fails init with the statement, the message and the SQLSTATE.
    admin
        .batch_execute("CREATE DATABASE movr_bad")
        .await
        .expect("create db");
    let bad_db = pg.client("movr_bad").await;
    bad_db
        .batch_execute(
            "CREATE TABLE users (id UUID, city VARCHAR, name VARCHAR, address VARCHAR, \
             credit_card VARCHAR CHECK (credit_card = 'none'), PRIMARY KEY (city, id))",
        )
        .await
        .expect("create table");
    let err = movr::init(&init_opts(&pg, "movr_bad", small_flags()))
        .await
        .expect_err("check violation");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("loading users") && msg.contains("SQLSTATE 23514"),
        "{msg}"
    );

    // run on a database without the tables stops with the server's error.
    admin
        .batch_execute("CREATE DATABASE empty")
        .await
        .expect("create db");
    let opts = RunOptions {
        conn: ConnFlags {
            urls: vec![pg.url("postgres")],
            db: "empty".into(),
            ..ConnFlags::default()
        },
        duration: Duration::from_secs(2),
        ..RunOptions::default()
    };
    let err = movr::run_with_output(&opts, &mut std::io::sink())
        .await
        .expect_err("no tables");
    let msg = format!("{err:#}");
    assert!(msg.contains("SQLSTATE 42P01"), "{msg}");

    // A database that does not exist.
    let opts = RunOptions {
        conn: ConnFlags {
            db: "nope".into(),
            ..opts.conn.clone()
        },
        ..opts
    };
    let err = movr::run_with_output(&opts, &mut std::io::sink())
        .await
        .expect_err("no database");
    assert!(format!("{err:#}").contains("3D000"), "{err:#}");
}

// ---------------------------------------------------------------------------------------------
// Without a server.

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: WorkloadCommand,
}

#[test]
fn command_line() {
    let cli = Cli::try_parse_from(["tandem", "init", "movr"]).expect("parse");
    assert_eq!(
        cli.cmd,
        WorkloadCommand::Init(InitCommand::Movr(InitOptions::default()))
    );
    let cli = Cli::try_parse_from(["tandem", "run", "movr"]).expect("parse");
    assert_eq!(
        cli.cmd,
        WorkloadCommand::Run(RunCommand::Movr(RunOptions::default()))
    );

    let cli = Cli::try_parse_from([
        "tandem",
        "run",
        "movr",
        "--duration=5m",
        "--concurrency=4",
        "--seed=9",
        "postgresql://root@n1:26257/x?sslmode=verify-full&sslrootcert=certs/ca.crt",
    ])
    .expect("parse");
    let WorkloadCommand::Run(RunCommand::Movr(o)) = cli.cmd else {
        panic!("not run");
    };
    assert_eq!(o.duration, Duration::from_secs(300));
    assert_eq!(o.concurrency, 4);
    assert_eq!(o.data.seed, 9);
    assert_eq!(o.conn.urls.len(), 1);
    assert_eq!(o.conn.db, "movr");

    let cli = Cli::try_parse_from([
        "tandem",
        "init",
        "movr",
        "--drop",
        "--num-users=90",
        "--num-user-promos=0",
        "--db=m2",
        "--dialect=postgres",
        "--init-conns=4",
    ])
    .expect("parse");
    let WorkloadCommand::Init(InitCommand::Movr(o)) = cli.cmd else {
        panic!("not init");
    };
    assert!(o.drop);
    assert_eq!(o.data.num_users, 90);
    assert_eq!(o.data.num_user_promos, 0);
    assert_eq!(o.conn.db, "m2");
    assert_eq!(o.init_conns, 4);

    assert!(Cli::try_parse_from(["tandem", "run", "movr", "--duration=5"]).is_err());
    let urls = parse_urls(&[], None).expect("default url");
    assert_eq!(
        (urls[0].host.as_str(), urls[0].port, urls[0].user.as_str()),
        ("localhost", 26257, "root")
    );
    assert!(!urls[0].sslmode.uses_tls());
    assert_eq!(urls[0].database, "defaultdb");
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    assert!(parse_duration("5x").is_err());
}

#[test]
fn generator_is_deterministic_and_consistent() {
    let flags = MovrFlags::default();
    let total: usize = TABLE_NAMES
        .iter()
        .map(|t| movr::generate_rows(&flags, t).expect("table").len())
        .sum();
    assert_eq!(total, 50 + 15 + 500 + 1000 + 1000 + 5);

    let users = movr::generate_rows(&flags, "users").expect("users");
    assert_eq!(users, movr::generate_rows(&flags, "users").expect("users"));
    let other_seed = MovrFlags {
        seed: 2,
        ..flags.clone()
    };
    assert_ne!(
        users,
        movr::generate_rows(&other_seed, "users").expect("users")
    );

    // Ids sort in row order; cities come in contiguous blocks in CITIES order, 5 or 6 each.
    let ids: Vec<Uuid> = users
        .iter()
        .map(|r| match r[0] {
            Value::Uuid(u) => u,
            ref v => panic!("{v:?}"),
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    for id in &ids {
        let s = id.to_string();
        assert_eq!(&s[14..15], "4", "version 4: {s}");
        assert!("89ab".contains(&s[19..20]), "variant: {s}");
        assert_eq!(Uuid::parse(&s), Some(*id));
    }
    let cities: Vec<&str> = users
        .iter()
        .map(|r| match r[1] {
            Value::Str(s) => s,
            ref v => panic!("{v:?}"),
        })
        .collect();
    let mut order = cities.clone();
    order.dedup();
    assert_eq!(order, CITIES.to_vec());
    for c in CITIES {
        let n = cities.iter().filter(|&&x| x == c).count();
        assert!((5..=6).contains(&n), "{c}: {n}");
    }
    for i in 0..50 {
        let (lo, hi) = movr::rows_for_city(50, movr::city_for_row(50, i));
        assert!(lo <= i && i < hi);
    }

    // Foreign keys: every reference is a row of the same city.
    let key = |r: &Vec<Value>, city: usize, id: usize| match (&r[city], &r[id]) {
        (Value::Str(c), Value::Uuid(u)) => (c.to_string(), *u),
        other => panic!("{other:?}"),
    };
    let user_keys: HashSet<_> = users.iter().map(|r| key(r, 1, 0)).collect();
    let vehicles = movr::generate_rows(&flags, "vehicles").expect("vehicles");
    let vehicle_keys: HashSet<_> = vehicles.iter().map(|r| key(r, 1, 0)).collect();
    let rides = movr::generate_rows(&flags, "rides").expect("rides");
    let ride_keys: HashSet<_> = rides.iter().map(|r| key(r, 1, 0)).collect();
    for v in &vehicles {
        assert!(user_keys.contains(&key(v, 1, 3)));
        let Value::Json(ext) = &v[7] else {
            panic!("ext {v:?}")
        };
        assert!(ext.contains("\"color\""));
        assert_eq!(ext.contains("\"brand\""), v[2] == Value::Str("bike"));
    }
    for r in &rides {
        assert!(user_keys.contains(&key(r, 1, 3)));
        assert!(vehicle_keys.contains(&key(r, 2, 4)));
        assert_eq!(r[1], r[2]);
        let Value::Decimal(rev) = r[9] else {
            panic!("revenue {r:?}")
        };
        assert!((0..100).contains(&rev));
    }
    for h in movr::generate_rows(&flags, "vehicle_location_histories").expect("histories") {
        assert!(ride_keys.contains(&key(&h, 0, 1)));
    }
    for p in movr::generate_rows(&flags, "user_promo_codes").expect("user promos") {
        assert!(user_keys.contains(&key(&p, 0, 1)));
    }
    let codes: HashSet<String> = movr::generate_rows(&flags, "promo_codes")
        .expect("promo codes")
        .into_iter()
        .map(|r| match &r[0] {
            Value::Text(s) => s.clone(),
            v => panic!("{v:?}"),
        })
        .collect();
    assert_eq!(codes.len(), 1000, "codes are unique");
    assert!(
        codes.iter().all(|c| c.split('_').count() == 4),
        "<row>_w1_w2_w3"
    );

    assert_eq!(
        MovrFlags {
            num_histories: 8,
            ..flags.clone()
        }
        .validate()
        .expect_err("too few")
        .to_string(),
        "at least 9 histories are required"
    );
    assert!(
        MovrFlags {
            num_user_promos: 51,
            ..flags
        }
        .validate()
        .is_err()
    );
}

#[test]
fn histogram_quantiles() {
    let mut h = Histogram::new();
    assert_eq!(h.value_at_quantile(50.0), 0);
    for ms in 1..=1000u64 {
        h.record(Duration::from_millis(ms));
    }
    assert_eq!(h.count(), 1000);
    let p50 = h.quantile_ms(50.0);
    assert!((500.0..=504.0).contains(&p50), "{p50}");
    let p99 = h.quantile_ms(99.0);
    assert!((990.0..=998.0).contains(&p99), "{p99}");
    assert_eq!(h.quantile_ms(100.0), 1000.0);
    assert!((h.mean_nanos() / 1e6 - 500.5).abs() < 1e-6);
    let mut other = Histogram::new();
    other.record(Duration::from_secs(2));
    h.merge(&other);
    assert_eq!(h.count(), 1001);
    assert_eq!(h.quantile_ms(100.0), 2000.0);
    assert_eq!(h.min_nanos(), 1_000_000);
}

#[test]
fn report_layout_matches_cockroach_workload() {
    let s = OpSummary {
        name: "readVehicles".into(),
        count: 12345,
        ops_per_sec: 2469.0,
        mean_ms: 1.62,
        p50_ms: 1.4,
        p95_ms: 2.9,
        p99_ms: 4.7,
        max_ms: 31.5,
    };
    assert_eq!(
        format_final(Duration::from_secs(5), 0, &s, "__total"),
        "\n_elapsed___errors_____ops(total)___ops/sec(cum)__avg(ms)__p50(ms)__p95(ms)__p99(ms)_pMax(ms)__total\n    \
         5.0s        0          12345         2469.0      1.6      1.4      2.9      4.7     31.5  readVehicles\n"
    );
    assert_eq!(
        TICK_HEADER,
        "_elapsed___errors__ops/sec(inst)___ops/sec(cum)__p50(ms)__p95(ms)__p99(ms)_pMax(ms)"
    );
}
