//! The `movr` workload (CockroachDB's `pkg/workload/movr`; the spec is
//! `shared/reference/movr.md`): MovR, a fictional vehicle-sharing company.
//!
//! [`init`] creates the `movr` database and its six tables, loads the initial rows in batched
//! multi-row `INSERT`s with every value a bind parameter, splits users/vehicles/rides into
//! `--num-ranges` ranges and adds the five foreign keys. [`run`] runs `--concurrency` workers
//! for `--duration`, each repeating the movr operation mix over its own connection with
//! prepared statements, printing per-operation throughput and latency every second and a
//! summary at the end in the layout of `cockroach workload run`.
//!
//! Where CockroachDB's dialect and PostgreSQL's differ, [`Dialect::Cockroach`] sends the
//! statements exactly as `cockroach workload` does (inline `INDEX`, `UPSERT`, `IFNULL` over a
//! subquery without alias, `SPLIT AT`), and [`Dialect::Postgres`] sends equivalents PostgreSQL
//! accepts (separate `CREATE INDEX`, `INSERT ... ON CONFLICT ... DO UPDATE`, `COALESCE` over an
//! aliased subquery, named foreign keys, no splits). The dialect is detected from `version()`
//! unless `--dialect` says otherwise.
//!
//! The data is deterministic given `--seed`: row `i` of a table is generated from its own
//! generator seeded with `seed + i`, ids are evenly spaced version-4 UUIDs that sort in row
//! order, and every foreign key points at a row of the same city. The ids the run phase inserts
//! are random (as upstream), so that runs never collide with each other; its choices (cities,
//! operations, text) come from a generator seeded with `--seed` and the worker number.

use std::collections::{HashMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Statement};

use super::report::{OpSummary, Registry, TickPrinter};
use super::rng::{self, Rng};
use super::sql::{
    Dialect, Uuid, Value, connect_admin, connect_client, params, parse_duration, parse_urls,
    quote_ident, retrying, sql_error,
};
use crate::client::ConnUrl;

mod data;
mod init;
mod run;
mod schema;

pub use data::*;
pub use init::*;
pub use run::*;
use schema::*;

/// The nine cities, in the order the city distributor assigns rows to them.
pub const CITIES: [&str; 9] = [
    "new york",
    "boston",
    "washington dc",
    "seattle",
    "san francisco",
    "los angeles",
    "amsterdam",
    "paris",
    "rome",
];

/// The six tables, in creation and load order.
pub const TABLE_NAMES: [&str; 6] = [
    "users",
    "vehicles",
    "rides",
    "vehicle_location_histories",
    "promo_codes",
    "user_promo_codes",
];

/// The operations of the run phase, as named in the output (the histogram names of
/// `cockroach workload run movr`).
pub const OP_NAMES: [&str; 8] = [
    "readVehicles",
    "updateActiveRides",
    "createPromoCode",
    "applyPromoCode",
    "addUser",
    "addVehicle",
    "startRide",
    "endRide",
];

/// Probability that an operation is the read (`readVehicles`).
const READ_PERCENTAGE: f64 = 0.95;

const VEHICLE_TYPES: [&str; 3] = ["skateboard", "bike", "scooter"];
const VEHICLE_COLORS: [&str; 5] = ["red", "yellow", "blue", "green", "black"];
const BIKE_BRANDS: [&str; 7] = [
    "Merida",
    "Fuji",
    "Cervelo",
    "Pinarello",
    "Santa Cruz",
    "Kona",
    "Schwinn",
];
const PROMO_RULES: &str = r#"{"type": "percent_discount", "value": "10%"}"#;

/// Message CockroachDB gives when a foreign key is added twice (ignored, so init can re-run).
const DUPLICATE_FK_ERR: &str = "columns cannot be used by multiple foreign key constraints";

/// `2019-01-02 03:04:05.000000006 UTC`, the creation time of the generated rows.
fn creation_time() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_546_398_245, 6)
}

const DAY: Duration = Duration::from_secs(24 * 3600);
const HOUR: Duration = Duration::from_secs(3600);

/// The generator's flags (the same for `init` and `run`, as in `cockroach workload`; `run`
/// uses only `--seed`).
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct MovrFlags {
    /// Seed of the data generator: the same seed gives the same rows.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Initial number of users (at least 9).
    #[arg(long, default_value_t = 50)]
    pub num_users: u64,
    /// Initial number of vehicles (at least 9).
    #[arg(long, default_value_t = 15)]
    pub num_vehicles: u64,
    /// Initial number of rides (at least 9).
    #[arg(long, default_value_t = 500)]
    pub num_rides: u64,
    /// Initial number of ride location histories (at least 9).
    #[arg(long, default_value_t = 1000)]
    pub num_histories: u64,
    /// Initial number of promo codes.
    #[arg(long, default_value_t = 1000)]
    pub num_promo_codes: u64,
    /// Initial number of promo codes applied by users (at most --num-users).
    #[arg(long, default_value_t = 5)]
    pub num_user_promos: u64,
    /// Number of ranges users, vehicles and rides are split into with `ALTER TABLE ... SPLIT
    /// AT` (CockroachDB dialect only; 1 for no splits).
    #[arg(long, default_value_t = 9)]
    pub num_ranges: u64,
}

impl Default for MovrFlags {
    fn default() -> Self {
        MovrFlags {
            seed: 1,
            num_users: 50,
            num_vehicles: 15,
            num_rides: 500,
            num_histories: 1000,
            num_promo_codes: 1000,
            num_user_promos: 5,
            num_ranges: 9,
        }
    }
}

impl MovrFlags {
    /// Checks the row counts as `cockroach workload` does (every city needs a user, vehicle,
    /// ride and history so that the foreign keys can be built).
    pub fn validate(&self) -> anyhow::Result<()> {
        let n = CITIES.len() as u64;
        for (count, what) in [
            (self.num_users, "users"),
            (self.num_vehicles, "vehicles"),
            (self.num_rides, "rides"),
            (self.num_histories, "histories"),
        ] {
            if count < n {
                bail!("at least {n} {what} are required");
            }
        }
        if self.num_user_promos > self.num_users {
            bail!(
                "at most {} user promo codes are supported (--num-user-promos must not exceed --num-users)",
                self.num_users
            );
        }
        if self.num_ranges == 0 {
            bail!("--num-ranges must be at least 1");
        }
        Ok(())
    }

    fn rows(&self, table: Table) -> u64 {
        match table {
            Table::Users => self.num_users,
            Table::Vehicles => self.num_vehicles,
            Table::Rides => self.num_rides,
            Table::Histories => self.num_histories,
            Table::PromoCodes => self.num_promo_codes,
            Table::UserPromoCodes => self.num_user_promos,
        }
    }
}

/// Where and how to connect.
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct ConnFlags {
    /// Connection URLs (default postgres://root@localhost:26257?sslmode=disable); the
    /// database is replaced by --db, and workers use the URLs in turn. TLS URLs take
    /// sslmode=verify-full&sslrootcert=...&sslcert=...&sslkey=...; options=-ccluster=NAME
    /// selects a virtual cluster.
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,
    /// Database of the workload.
    #[arg(long, default_value = "movr")]
    pub db: String,
    /// Certificate directory: relative sslrootcert/sslcert/sslkey are looked up here, and
    /// ca.crt and client.<user>.crt/.key are used when a TLS URL names none.
    #[arg(long)]
    pub certs_dir: Option<PathBuf>,
    /// SQL dialect of the statements sent (auto: from the server's version()).
    #[arg(long, value_enum, default_value_t = Dialect::Auto)]
    pub dialect: Dialect,
}

impl Default for ConnFlags {
    fn default() -> Self {
        ConnFlags {
            urls: Vec::new(),
            db: "movr".to_string(),
            certs_dir: None,
            dialect: Dialect::Auto,
        }
    }
}

impl ConnFlags {
    /// The URLs as given (database unchanged).
    fn parse(&self) -> anyhow::Result<Vec<ConnUrl>> {
        if self.db.is_empty() {
            bail!("--db must not be empty");
        }
        parse_urls(&self.urls, self.certs_dir.as_deref())
    }

    /// The URLs with their database replaced by `--db`.
    fn db_urls(&self) -> anyhow::Result<Vec<ConnUrl>> {
        let mut urls = self.parse()?;
        for u in &mut urls {
            u.database = self.db.clone();
        }
        Ok(urls)
    }
}

/// `tandem workload init movr`.
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct InitOptions {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnFlags,
    /// Generator flags.
    #[command(flatten)]
    pub data: MovrFlags,
    /// Drop the existing database, if it exists, before creating it.
    #[arg(long)]
    pub drop: bool,
    /// Number of connections used to load the initial data.
    #[arg(long, default_value_t = 16)]
    pub init_conns: usize,
    /// Rows per INSERT statement while loading.
    #[arg(long, default_value_t = 1000, hide = true)]
    pub batch_size: u64,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            conn: ConnFlags::default(),
            data: MovrFlags::default(),
            drop: false,
            init_conns: 16,
            batch_size: 1000,
        }
    }
}

/// `tandem workload run movr`.
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnFlags,
    /// Generator flags.
    #[command(flatten)]
    pub data: MovrFlags,
    /// How long to run (e.g. 30s, 5m, 1h30m); 0 runs until interrupted (Ctrl-C).
    #[arg(long, default_value = "0", value_parser = parse_duration)]
    pub duration: Duration,
    /// Number of workers, each with its own connection (upstream movr always runs one).
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Interval between the progress lines.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub display_every: Duration,
    /// Stop after this many operations (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub max_ops: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            conn: ConnFlags::default(),
            data: MovrFlags::default(),
            duration: Duration::ZERO,
            concurrency: 1,
            display_every: Duration::from_secs(1),
            max_ops: 0,
        }
    }
}

/// What [`run`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// Time from the start of the workers until they were told to stop.
    pub elapsed: Duration,
    /// Serialization failures (SQLSTATE 40001) that were retried transparently.
    pub errors: u64,
    /// Every operation in name order (count 0 for operations that never ran).
    pub ops: Vec<OpSummary>,
    /// All operations together.
    pub result: OpSummary,
    /// The final report as printed (a `__total` block per operation and the `__result` block).
    pub text: String,
}

impl RunSummary {
    /// The summary of operation `name`.
    pub fn op(&self, name: &str) -> Option<&OpSummary> {
        self.ops.iter().find(|o| o.name == name)
    }
}
