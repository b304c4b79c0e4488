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

// ------------------------------------------------------------------------------------------
// Schema

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Table {
    Users,
    Vehicles,
    Rides,
    Histories,
    PromoCodes,
    UserPromoCodes,
}

const TABLES: [Table; 6] = [
    Table::Users,
    Table::Vehicles,
    Table::Rides,
    Table::Histories,
    Table::PromoCodes,
    Table::UserPromoCodes,
];

impl Table {
    fn name(self) -> &'static str {
        TABLE_NAMES[self as usize]
    }

    fn columns(self) -> usize {
        match self {
            Table::Users | Table::Histories | Table::PromoCodes | Table::UserPromoCodes => 5,
            Table::Vehicles => 8,
            Table::Rides => 10,
        }
    }

    /// The table body of movr.go (`--multi-region=false`), byte for byte.
    fn cockroach_schema(self) -> &'static str {
        match self {
            Table::Users => {
                "(
  id UUID NOT NULL,
  city VARCHAR NOT NULL,
  name VARCHAR NULL,
  address VARCHAR NULL,
  credit_card VARCHAR NULL,
  PRIMARY KEY (city ASC, id ASC)
)"
            }
            Table::Vehicles => {
                "(
  id UUID NOT NULL,
  city VARCHAR NOT NULL,
  type VARCHAR NULL,
  owner_id UUID NULL,
  creation_time TIMESTAMP NULL,
  status VARCHAR NULL,
  current_location VARCHAR NULL,
  ext JSONB NULL,
  PRIMARY KEY (city ASC, id ASC),
  INDEX vehicles_auto_index_fk_city_ref_users (city ASC, owner_id ASC)
)"
            }
            Table::Rides => {
                "(
  id UUID NOT NULL,
  city VARCHAR NOT NULL,
  vehicle_city VARCHAR NULL,
  rider_id UUID NULL,
  vehicle_id UUID NULL,
  start_address VARCHAR NULL,
  end_address VARCHAR NULL,
  start_time TIMESTAMP NULL,
  end_time TIMESTAMP NULL,
  revenue DECIMAL(10,2) NULL,
  PRIMARY KEY (city ASC, id ASC),
  INDEX rides_auto_index_fk_city_ref_users (city ASC, rider_id ASC),
  INDEX rides_auto_index_fk_vehicle_city_ref_vehicles (vehicle_city ASC, vehicle_id ASC),
  CONSTRAINT check_vehicle_city_city CHECK (vehicle_city = city)
)"
            }
            Table::Histories => {
                "(
  city VARCHAR NOT NULL,
  ride_id UUID NOT NULL,
  \"timestamp\" TIMESTAMP NOT NULL,
  lat FLOAT8 NULL,
  long FLOAT8 NULL,
  PRIMARY KEY (city ASC, ride_id ASC, \"timestamp\" ASC)
)"
            }
            Table::PromoCodes => {
                "(
  code VARCHAR NOT NULL,
  description VARCHAR NULL,
  creation_time TIMESTAMP NULL,
  expiration_time TIMESTAMP NULL,
  rules JSONB NULL,
  PRIMARY KEY (code ASC)
)"
            }
            Table::UserPromoCodes => {
                "(
  city VARCHAR NOT NULL,
  user_id UUID NOT NULL,
  code VARCHAR NOT NULL,
  \"timestamp\" TIMESTAMP NULL,
  usage_count INT NULL,
  PRIMARY KEY (city ASC, user_id ASC, code ASC)
)"
            }
        }
    }

    /// The same table for PostgreSQL: no `ASC` in the key, indexes created separately
    /// ([`Table::postgres_indexes`]).
    fn postgres_schema(self) -> &'static str {
        match self {
            Table::Users => {
                "(
  id UUID NOT NULL,
  city VARCHAR NOT NULL,
  name VARCHAR NULL,
  address VARCHAR NULL,
  credit_card VARCHAR NULL,
  PRIMARY KEY (city, id)
)"
            }
            Table::Vehicles => {
                "(
  id UUID NOT NULL,
  city VARCHAR NOT NULL,
  type VARCHAR NULL,
  owner_id UUID NULL,
  creation_time TIMESTAMP NULL,
  status VARCHAR NULL,
  current_location VARCHAR NULL,
  ext JSONB NULL,
  PRIMARY KEY (city, id)
)"
            }
            Table::Rides => {
                "(
  id UUID NOT NULL,
  city VARCHAR NOT NULL,
  vehicle_city VARCHAR NULL,
  rider_id UUID NULL,
  vehicle_id UUID NULL,
  start_address VARCHAR NULL,
  end_address VARCHAR NULL,
  start_time TIMESTAMP NULL,
  end_time TIMESTAMP NULL,
  revenue DECIMAL(10,2) NULL,
  PRIMARY KEY (city, id),
  CONSTRAINT check_vehicle_city_city CHECK (vehicle_city = city)
)"
            }
            Table::Histories => {
                "(
  city VARCHAR NOT NULL,
  ride_id UUID NOT NULL,
  \"timestamp\" TIMESTAMP NOT NULL,
  lat FLOAT8 NULL,
  long FLOAT8 NULL,
  PRIMARY KEY (city, ride_id, \"timestamp\")
)"
            }
            Table::PromoCodes => {
                "(
  code VARCHAR NOT NULL,
  description VARCHAR NULL,
  creation_time TIMESTAMP NULL,
  expiration_time TIMESTAMP NULL,
  rules JSONB NULL,
  PRIMARY KEY (code)
)"
            }
            Table::UserPromoCodes => {
                "(
  city VARCHAR NOT NULL,
  user_id UUID NOT NULL,
  code VARCHAR NOT NULL,
  \"timestamp\" TIMESTAMP NULL,
  usage_count INT NULL,
  PRIMARY KEY (city, user_id, code)
)"
            }
        }
    }

    fn postgres_indexes(self) -> &'static [&'static str] {
        match self {
            Table::Vehicles => &[
                "CREATE INDEX IF NOT EXISTS vehicles_auto_index_fk_city_ref_users ON vehicles (city, owner_id)",
            ],
            Table::Rides => &[
                "CREATE INDEX IF NOT EXISTS rides_auto_index_fk_city_ref_users ON rides (city, rider_id)",
                "CREATE INDEX IF NOT EXISTS rides_auto_index_fk_vehicle_city_ref_vehicles ON rides (vehicle_city, vehicle_id)",
            ],
            _ => &[],
        }
    }
}

/// The foreign keys added after the load: `(statement as movr.go sends it, PostgreSQL's with a
/// constraint name so that adding it again fails instead of adding a duplicate)`.
const FOREIGN_KEYS: [(&str, &str); 5] = [
    (
        "ALTER TABLE vehicles ADD FOREIGN KEY (city, owner_id) REFERENCES users (city, id)",
        "ALTER TABLE vehicles ADD CONSTRAINT vehicles_city_owner_id_fkey FOREIGN KEY (city, owner_id) REFERENCES users (city, id)",
    ),
    (
        "ALTER TABLE rides ADD FOREIGN KEY (city, rider_id) REFERENCES users (city, id)",
        "ALTER TABLE rides ADD CONSTRAINT rides_city_rider_id_fkey FOREIGN KEY (city, rider_id) REFERENCES users (city, id)",
    ),
    (
        "ALTER TABLE rides ADD FOREIGN KEY (vehicle_city, vehicle_id) REFERENCES vehicles (city, id)",
        "ALTER TABLE rides ADD CONSTRAINT rides_vehicle_city_vehicle_id_fkey FOREIGN KEY (vehicle_city, vehicle_id) REFERENCES vehicles (city, id)",
    ),
    (
        "ALTER TABLE vehicle_location_histories ADD FOREIGN KEY (city, ride_id) REFERENCES rides (city, id)",
        "ALTER TABLE vehicle_location_histories ADD CONSTRAINT vehicle_location_histories_city_ride_id_fkey FOREIGN KEY (city, ride_id) REFERENCES rides (city, id)",
    ),
    (
        "ALTER TABLE user_promo_codes ADD FOREIGN KEY (city, user_id) REFERENCES users (city, id)",
        "ALTER TABLE user_promo_codes ADD CONSTRAINT user_promo_codes_city_user_id_fkey FOREIGN KEY (city, user_id) REFERENCES users (city, id)",
    ),
];

/// `INSERT INTO <table> VALUES ($1, ...), ...` for `rows` rows.
fn insert_sql(table: Table, rows: u64) -> String {
    let cols = table.columns();
    let mut sql = format!("INSERT INTO {} VALUES ", table.name());
    let mut p = 1;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&p.to_string());
            p += 1;
        }
        sql.push(')');
    }
    sql
}

// ------------------------------------------------------------------------------------------
// Data generation

/// The city (index into [`CITIES`]) of row `row` of `num_rows`: contiguous blocks of about
/// `num_rows / 9` rows per city, in [`CITIES`] order (movr's `cityDistributor`, in exact integer
/// arithmetic so that [`rows_for_city`] agrees with it).
pub fn city_for_row(num_rows: u64, row: u64) -> usize {
    let n = CITIES.len() as u128;
    ((u128::from(row) * n / u128::from(num_rows)) as usize).min(CITIES.len() - 1)
}

/// The rows `[lo, hi)` of `num_rows` that [`city_for_row`] assigns to city `city`.
pub fn rows_for_city(num_rows: u64, city: usize) -> (u64, u64) {
    let n = CITIES.len() as u128;
    let bound = |c: u128| ((c * u128::from(num_rows)).div_ceil(n) as u64).min(num_rows);
    (bound(city as u128), bound(city as u128 + 1))
}

fn rand_row_in_city(rng: &mut Rng, num_rows: u64, city: usize) -> u64 {
    let (lo, hi) = rows_for_city(num_rows, city);
    lo + rng.below((hi - lo).max(1))
}

fn vehicle_status(rng: &mut Rng) -> &'static str {
    match rng.below(100) {
        0..40 => "available",
        40..95 => "in_use",
        _ => "lost",
    }
}

/// The `ext` JSON of a vehicle (keys sorted, as Go's `json.Marshal` of a map).
fn vehicle_metadata(rng: &mut Rng, vehicle_type: &str) -> String {
    let color = *rng.pick(&VEHICLE_COLORS);
    if vehicle_type == "bike" {
        let brand = *rng.pick(&BIKE_BRANDS);
        format!(r#"{{"brand":"{brand}","color":"{color}"}}"#)
    } else {
        format!(r#"{{"color":"{color}"}}"#)
    }
}

/// Whole-degree coordinates (lat in [-180, 180), long in [-90, 90), as upstream).
fn lat_long(rng: &mut Rng) -> (f64, f64) {
    let lat = -180.0 + rng.below(360) as f64;
    let long = -90.0 + rng.below(180) as f64;
    (lat, long)
}

/// `<row>_<three words>`, the code of promo code `row`.
fn promo_code(rng: &mut Rng, row: u64) -> String {
    format!("{row}_{}", rng::words(rng, 3).join("_")).to_lowercase()
}

/// The generator of the initial rows.
struct Generator {
    flags: MovrFlags,
    creation: SystemTime,
}

impl Generator {
    fn new(flags: &MovrFlags) -> Generator {
        Generator {
            flags: flags.clone(),
            creation: creation_time(),
        }
    }

    fn row_rng(&self, row: u64) -> Rng {
        Rng::new(self.flags.seed.wrapping_add(row))
    }

    fn user_id(&self, row: u64) -> Uuid {
        Uuid::deterministic_v4(row, self.flags.num_users)
    }

    /// Appends the values of row `row` of `table` to `out`.
    fn row(&self, table: Table, row: u64, out: &mut Vec<Value>) {
        let f = &self.flags;
        let mut rng = self.row_rng(row);
        match table {
            Table::Users => {
                let city = CITIES[city_for_row(f.num_users, row)];
                out.extend([
                    Value::Uuid(self.user_id(row)),
                    Value::Str(city),
                    Value::Text(rng::name(&mut rng)),
                    Value::Text(rng::street_address(&mut rng)),
                    Value::Text(rng::digits(&mut rng, 10)),
                ]);
            }
            Table::Vehicles => {
                let city_idx = city_for_row(f.num_vehicles, row);
                let vehicle_type = *rng.pick(&VEHICLE_TYPES);
                let owner = self.user_id(rand_row_in_city(&mut rng, f.num_users, city_idx));
                let status = vehicle_status(&mut rng);
                let location = rng::street_address(&mut rng);
                let ext = vehicle_metadata(&mut rng, vehicle_type);
                out.extend([
                    Value::Uuid(Uuid::deterministic_v4(row, f.num_vehicles)),
                    Value::Str(CITIES[city_idx]),
                    Value::Str(vehicle_type),
                    Value::Uuid(owner),
                    Value::Timestamp(self.creation),
                    Value::Str(status),
                    Value::Text(location),
                    Value::Json(ext),
                ]);
            }
            Table::Rides => {
                let city_idx = city_for_row(f.num_rides, row);
                let city = CITIES[city_idx];
                let rider = self.user_id(rand_row_in_city(&mut rng, f.num_users, city_idx));
                let vehicle_row = rand_row_in_city(&mut rng, f.num_vehicles, city_idx);
                let vehicle = Uuid::deterministic_v4(vehicle_row, f.num_vehicles);
                let start = self.creation - DAY * rng.below(30) as u32;
                let end = start + HOUR * rng.below(60) as u32;
                let start_address = rng::street_address(&mut rng);
                let end_address = rng::street_address(&mut rng);
                let revenue = rng.below(100) as i64;
                out.extend([
                    Value::Uuid(Uuid::deterministic_v4(row, f.num_rides)),
                    Value::Str(city),
                    Value::Str(city),
                    Value::Uuid(rider),
                    Value::Uuid(vehicle),
                    Value::Text(start_address),
                    Value::Text(end_address),
                    Value::Timestamp(start),
                    Value::Timestamp(end),
                    Value::Decimal(revenue),
                ]);
            }
            Table::Histories => {
                let city_idx = city_for_row(f.num_histories, row);
                let ride_row = rand_row_in_city(&mut rng, f.num_rides, city_idx);
                let ride = Uuid::deterministic_v4(ride_row, f.num_rides);
                let at = self.creation + Duration::from_millis(row);
                let (lat, long) = lat_long(&mut rng);
                out.extend([
                    Value::Str(CITIES[city_idx]),
                    Value::Uuid(ride),
                    Value::Timestamp(at),
                    Value::Float(lat),
                    Value::Float(long),
                ]);
            }
            Table::PromoCodes => {
                let code = promo_code(&mut rng, row);
                let description = rng::paragraph(&mut rng);
                let expiration = self.creation + DAY * rng.below(30) as u32;
                let created = expiration - DAY * rng.below(30) as u32;
                out.extend([
                    Value::Text(code),
                    Value::Text(description),
                    Value::Timestamp(created),
                    Value::Timestamp(expiration),
                    Value::Json(PROMO_RULES.to_string()),
                ]);
            }
            Table::UserPromoCodes => {
                let city = CITIES[city_for_row(f.num_users, row)];
                let code = promo_code(&mut rng, row);
                let at = self.creation + Duration::from_millis(row);
                let usage = rng.below(20) as i64;
                out.extend([
                    Value::Str(city),
                    Value::Uuid(self.user_id(row)),
                    Value::Text(code),
                    Value::Timestamp(at),
                    Value::Int(usage),
                ]);
            }
        }
    }
}

/// The rows of `table` generated for `flags`, each as its values (for checks and tests).
pub fn generate_rows(flags: &MovrFlags, table: &str) -> Option<Vec<Vec<Value>>> {
    let t = *TABLES.iter().find(|t| t.name() == table)?;
    let g = Generator::new(flags);
    Some(
        (0..flags.rows(t))
            .map(|i| {
                let mut v = Vec::new();
                g.row(t, i, &mut v);
                v
            })
            .collect(),
    )
}

// ------------------------------------------------------------------------------------------
// init

/// Progress of the initial load: a redrawn bar on a terminal, periodic lines otherwise.
struct Progress {
    total: u64,
    done: AtomicU64,
    tty: bool,
    start: Instant,
    last_line: parking_lot::Mutex<Instant>,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let now = Instant::now();
        Progress {
            total,
            done: AtomicU64::new(0),
            tty: std::io::stderr().is_terminal(),
            start: now,
            last_line: parking_lot::Mutex::new(now),
        }
    }

    fn add(&self, rows: u64) {
        self.done.fetch_add(rows, Ordering::Relaxed);
    }

    fn tick_interval(&self) -> Duration {
        if self.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        }
    }

    /// Redraws the bar (terminal) or prints a line at most every 5 s (otherwise).
    fn draw(&self, table: &str) {
        let done = self.done.load(Ordering::Relaxed);
        let total = self.total.max(1);
        let pct = done * 100 / total;
        let elapsed = self.start.elapsed().as_secs_f64();
        if self.tty {
            const WIDTH: u64 = 30;
            let filled = (done * WIDTH / total) as usize;
            let bar = format!(
                "{}{}",
                "#".repeat(filled),
                "-".repeat(WIDTH as usize - filled)
            );
            eprint!(
                "\r{table:<27} [{bar}] {done:>9}/{} rows {pct:>3}% {elapsed:6.1}s",
                self.total
            );
            let _ = std::io::stderr().flush();
        } else {
            let mut last = self.last_line.lock();
            if last.elapsed() >= Duration::from_secs(5) {
                *last = Instant::now();
                eprintln!(
                    "loading {table}: {done}/{} rows ({pct}%) {elapsed:.1}s",
                    self.total
                );
            }
        }
    }

    fn table_done(&self, table: &str, rows: u64, took: Duration) {
        if self.tty {
            self.draw(table);
        } else {
            eprintln!(
                "loaded {rows} rows into {table} in {:.1}s",
                took.as_secs_f64()
            );
        }
    }

    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

/// Runs `sql` on `client`, retrying serialization failures; errors name the statement.
async fn exec(client: &Client, retries: &AtomicU64, sql: &str) -> anyhow::Result<u64> {
    retrying(retries, || client.execute(sql, &[]))
        .await
        .map_err(|e| sql_error(&one_line(sql), &e))
}

/// `sql` on one line (whitespace runs collapsed), for error messages.
fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `tandem workload init movr`: creates the database and tables, loads the initial data
/// (tables that already hold rows are left as they are), splits and adds the foreign keys.
/// Progress goes to stderr, a closing line to stdout. Errors carry the statement, the server's
/// message and its SQLSTATE.
pub async fn init(opts: &InitOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    opts.data.validate()?;
    if opts.init_conns == 0 {
        bail!("--init-conns must be at least 1");
    }
    if opts.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let urls = opts.conn.parse()?;
    let db_urls = opts.conn.db_urls()?;
    let db = quote_ident(&opts.conn.db);
    let retries = AtomicU64::new(0);

    // Database.
    let admin = connect_admin(&urls[0], &opts.conn.db).await?;
    let dialect = opts.conn.dialect.resolve(&admin).await;
    if opts.drop {
        exec(&admin, &retries, &format!("DROP DATABASE IF EXISTS {db}")).await?;
    }
    match dialect {
        Dialect::Postgres => {
            let exists = admin
                .query_opt(
                    "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1",
                    &[&opts.conn.db],
                )
                .await
                .map_err(|e| sql_error("look up database", &e))?
                .is_some();
            if !exists {
                let sql = format!("CREATE DATABASE {db}");
                if let Err(e) = admin.execute(sql.as_str(), &[]).await
                    && e.code() != Some(&SqlState::DUPLICATE_DATABASE)
                {
                    return Err(sql_error(&sql, &e));
                }
            }
        }
        _ => {
            exec(
                &admin,
                &retries,
                &format!("CREATE DATABASE IF NOT EXISTS {db}"),
            )
            .await?;
        }
    }
    drop(admin);

    // Tables.
    let main = connect_client(&db_urls[0]).await?;
    for table in TABLES {
        let body = match dialect {
            Dialect::Postgres => table.postgres_schema(),
            _ => table.cockroach_schema(),
        };
        let sql = format!("CREATE TABLE IF NOT EXISTS {} {body}", table.name());
        exec(&main, &retries, &sql).await?;
        if dialect == Dialect::Postgres {
            for index in table.postgres_indexes() {
                exec(&main, &retries, index).await?;
            }
        }
    }

    // Data.
    let mut to_load = Vec::new();
    for table in TABLES {
        let rows = opts.data.rows(table);
        if rows == 0 {
            continue;
        }
        let sql = format!("SELECT 1 FROM {} LIMIT 1", table.name());
        let has_rows = !retrying(&retries, || main.query(sql.as_str(), &[]))
            .await
            .map_err(|e| sql_error(&sql, &e))?
            .is_empty();
        if has_rows {
            eprintln!(
                "{}.{} already has rows; not loading it (use --drop to start over)",
                opts.conn.db,
                table.name()
            );
        } else {
            to_load.push(table);
        }
    }
    let batch = opts.batch_size;
    let max_batches = to_load
        .iter()
        .map(|&t| opts.data.rows(t).div_ceil(batch))
        .max()
        .unwrap_or(0);
    let conns = (opts.init_conns as u64).min(max_batches).max(1) as usize;
    let mut pool = vec![main];
    let extra = futures::future::try_join_all(
        (1..conns).map(|i| connect_client(&db_urls[i % db_urls.len()])),
    )
    .await?;
    pool.extend(extra);

    let total_rows: u64 = to_load.iter().map(|&t| opts.data.rows(t)).sum();
    let progress = Progress::new(total_rows);
    let generator = Generator::new(&opts.data);
    for &table in &to_load {
        let table_start = Instant::now();
        let load = load_table(&generator, table, &pool, batch, &progress, &retries);
        tokio::pin!(load);
        let mut ticker = tokio::time::interval(progress.tick_interval());
        let result = loop {
            tokio::select! {
                r = &mut load => break r,
                _ = ticker.tick() => progress.draw(table.name()),
            }
        };
        if let Err(e) = result {
            progress.finish();
            return Err(e);
        }
        progress.table_done(table.name(), opts.data.rows(table), table_start.elapsed());
    }
    progress.finish();
    let main = &pool[0];

    // Splits (CockroachDB's dialect: PostgreSQL has no ranges).
    if dialect != Dialect::Postgres && opts.data.num_ranges > 1 {
        for table in [Table::Users, Table::Vehicles, Table::Rides] {
            for sql in split_statements(&opts.data, table) {
                exec(main, &retries, &sql).await?;
            }
        }
    }

    // Foreign keys (adding one that exists is not an error, so init can be re-run).
    for (cockroach, postgres) in FOREIGN_KEYS {
        let sql = if dialect == Dialect::Postgres {
            postgres
        } else {
            cockroach
        };
        if let Err(e) = retrying(&retries, || main.execute(sql, &[])).await {
            let duplicate = e.code() == Some(&SqlState::DUPLICATE_OBJECT)
                || e.as_db_error()
                    .is_some_and(|d| d.message().contains(DUPLICATE_FK_ERR));
            if !duplicate {
                return Err(sql_error(sql, &e));
            }
        }
    }

    println!(
        "movr: database {} ready: {} tables, {} rows loaded in {:.1}s",
        opts.conn.db,
        TABLES.len(),
        total_rows,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `ALTER TABLE <t> SPLIT AT VALUES ('<city>', '<id>')` for the `--num-ranges - 1` split points
/// of `table` (the keys of rows `i * rows / num_ranges`).
fn split_statements(flags: &MovrFlags, table: Table) -> Vec<String> {
    let rows = flags.rows(table);
    let mut out = Vec::new();
    let mut last = None;
    for i in 1..flags.num_ranges {
        let row = u64::try_from(u128::from(i) * u128::from(rows) / u128::from(flags.num_ranges))
            .unwrap_or(rows);
        if row == 0 || row >= rows || last == Some(row) {
            continue;
        }
        last = Some(row);
        let city = CITIES[city_for_row(rows, row)];
        let id = Uuid::deterministic_v4(row, rows);
        out.push(format!(
            "ALTER TABLE {} SPLIT AT VALUES ('{city}', '{id}')",
            table.name()
        ));
    }
    out
}

/// Loads every row of `table` in batches of `batch` rows, spread over the connections of
/// `pool` (each takes the next batch until none is left).
async fn load_table(
    generator: &Generator,
    table: Table,
    pool: &[Client],
    batch: u64,
    progress: &Progress,
    retries: &AtomicU64,
) -> anyhow::Result<()> {
    let rows = generator.flags.rows(table);
    let batches = rows.div_ceil(batch);
    let next = AtomicU64::new(0);
    let loaders = pool.iter().take(batches as usize).map(|client| {
        let next = &next;
        async move {
            let mut statements: HashMap<u64, Statement> = HashMap::new();
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    return Ok::<(), anyhow::Error>(());
                }
                let lo = b * batch;
                let hi = (lo + batch).min(rows);
                let n = hi - lo;
                let mut values = Vec::with_capacity(n as usize * table.columns());
                for i in lo..hi {
                    generator.row(table, i, &mut values);
                }
                let what = || {
                    format!(
                        "loading {}: INSERT INTO {} VALUES ({} rows of {} parameters)",
                        table.name(),
                        table.name(),
                        n,
                        table.columns()
                    )
                };
                if let std::collections::hash_map::Entry::Vacant(e) = statements.entry(n) {
                    let sql = insert_sql(table, n);
                    let stmt = retrying(retries, || client.prepare(&sql))
                        .await
                        .map_err(|e| sql_error(&what(), &e))?;
                    e.insert(stmt);
                }
                let stmt = &statements[&n];
                let p = params(&values);
                retrying(retries, || client.execute(stmt, &p))
                    .await
                    .map_err(|e| sql_error(&what(), &e))?;
                progress.add(n);
            }
        }
    });
    futures::future::try_join_all(loaders).await?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// run

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    ReadVehicles = 0,
    UpdateActiveRides = 1,
    CreatePromoCode = 2,
    ApplyPromoCode = 3,
    AddUser = 4,
    AddVehicle = 5,
    StartRide = 6,
    EndRide = 7,
}

impl Op {
    fn name(self) -> &'static str {
        OP_NAMES[self as usize]
    }
}

/// The write operations and their weights (they sum to 1).
const WRITE_MIX: [(Op, f64); 6] = [
    (Op::CreatePromoCode, 0.03),
    (Op::ApplyPromoCode, 0.10),
    (Op::AddUser, 0.30),
    (Op::AddVehicle, 0.10),
    (Op::StartRide, 0.40),
    (Op::EndRide, 0.07),
];

/// The statements of the run phase in one dialect.
struct RunSql {
    read_vehicles: &'static str,
    update_location: &'static str,
    random_user: &'static str,
    random_vehicle: &'static str,
    random_promo_code: &'static str,
    count_user_promo: &'static str,
    insert_user_promo: &'static str,
    insert_promo_code: &'static str,
    insert_user: &'static str,
    insert_vehicle: &'static str,
    insert_ride: &'static str,
    end_ride: &'static str,
}

/// As `cockroach workload run movr` sends them.
const COCKROACH_RUN_SQL: RunSql = RunSql {
    read_vehicles: "SELECT city, id FROM vehicles WHERE city = $1",
    update_location: "UPSERT INTO vehicle_location_histories VALUES ($1, $2, now(), $3, $4)",
    random_user: "SELECT IFNULL(a, b) FROM (SELECT (SELECT id FROM users WHERE city = $1 AND id > $2 ORDER BY id LIMIT 1) AS a, (SELECT id FROM users WHERE city = $1 ORDER BY id LIMIT 1) AS b);",
    random_vehicle: "SELECT IFNULL(a, b) FROM (SELECT (SELECT id FROM vehicles WHERE city = $1 AND id > $2 ORDER BY id LIMIT 1) AS a, (SELECT id FROM vehicles WHERE city = $1 ORDER BY id LIMIT 1) AS b);",
    random_promo_code: "SELECT IFNULL(a, b) FROM (SELECT (SELECT code FROM promo_codes WHERE code > $1 ORDER BY code LIMIT 1) AS a, (SELECT code FROM promo_codes ORDER BY code LIMIT 1) AS b);",
    count_user_promo: "SELECT count(*) FROM user_promo_codes WHERE city = $1 AND user_id = $2 AND code = $3",
    insert_user_promo: "INSERT INTO user_promo_codes VALUES ($1, $2, $3, now(), 1)",
    insert_promo_code: "INSERT INTO promo_codes VALUES ($1, $2, $3, $4, $5)",
    insert_user: "INSERT INTO users VALUES ($1, $2, $3, $4, $5)",
    insert_vehicle: "INSERT INTO vehicles VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    insert_ride: "INSERT INTO rides VALUES ($1, $2, $2, $3, $4, $5, NULL, now(), NULL, $6)",
    end_ride: "UPDATE rides SET end_address = $3, end_time = now() WHERE city = $1 AND id = $2",
};

/// PostgreSQL has no UPSERT or IFNULL and (before 16) wants an alias on a subquery in FROM.
const POSTGRES_RUN_SQL: RunSql = RunSql {
    update_location: "INSERT INTO vehicle_location_histories VALUES ($1, $2, now(), $3, $4) ON CONFLICT (city, ride_id, \"timestamp\") DO UPDATE SET lat = excluded.lat, long = excluded.long",
    random_user: "SELECT COALESCE(a, b) FROM (SELECT (SELECT id FROM users WHERE city = $1 AND id > $2 ORDER BY id LIMIT 1) AS a, (SELECT id FROM users WHERE city = $1 ORDER BY id LIMIT 1) AS b) AS r",
    random_vehicle: "SELECT COALESCE(a, b) FROM (SELECT (SELECT id FROM vehicles WHERE city = $1 AND id > $2 ORDER BY id LIMIT 1) AS a, (SELECT id FROM vehicles WHERE city = $1 ORDER BY id LIMIT 1) AS b) AS r",
    random_promo_code: "SELECT COALESCE(a, b) FROM (SELECT (SELECT code FROM promo_codes WHERE code > $1 ORDER BY code LIMIT 1) AS a, (SELECT code FROM promo_codes ORDER BY code LIMIT 1) AS b) AS r",
    ..COCKROACH_RUN_SQL
};

/// The prepared statements of one worker.
struct Prepared {
    read_vehicles: Statement,
    update_location: Statement,
    random_user: Statement,
    random_vehicle: Statement,
    random_promo_code: Statement,
    count_user_promo: Statement,
    insert_user_promo: Statement,
    insert_promo_code: Statement,
    insert_user: Statement,
    insert_vehicle: Statement,
    insert_ride: Statement,
    end_ride: Statement,
}

impl Prepared {
    async fn new(client: &Client, sql: &RunSql) -> anyhow::Result<Prepared> {
        let prepare = |text: &'static str| async move {
            client
                .prepare(text)
                .await
                .map_err(|e| sql_error(&format!("prepare {text}"), &e))
        };
        Ok(Prepared {
            read_vehicles: prepare(sql.read_vehicles).await?,
            update_location: prepare(sql.update_location).await?,
            random_user: prepare(sql.random_user).await?,
            random_vehicle: prepare(sql.random_vehicle).await?,
            random_promo_code: prepare(sql.random_promo_code).await?,
            count_user_promo: prepare(sql.count_user_promo).await?,
            insert_user_promo: prepare(sql.insert_user_promo).await?,
            insert_promo_code: prepare(sql.insert_promo_code).await?,
            insert_user: prepare(sql.insert_user).await?,
            insert_vehicle: prepare(sql.insert_vehicle).await?,
            insert_ride: prepare(sql.insert_ride).await?,
            end_ride: prepare(sql.end_ride).await?,
        })
    }
}

/// One worker: a connection, its statements, its random generators and its active rides.
struct Worker {
    client: Client,
    stmts: Prepared,
    sql: &'static RunSql,
    /// Choices and text: seeded from `--seed` and the worker number.
    rng: Rng,
    /// New ids: from the OS, so that runs never insert the same ids.
    ids: Rng,
    active_rides: VecDeque<(&'static str, Uuid)>,
    registry: Arc<Registry>,
    creation: SystemTime,
}

impl Worker {
    async fn new(
        client: Client,
        sql: &'static RunSql,
        rng: Rng,
        registry: Arc<Registry>,
    ) -> anyhow::Result<Worker> {
        let stmts = Prepared::new(&client, sql).await?;
        Ok(Worker {
            client,
            stmts,
            sql,
            rng,
            ids: Rng::from_entropy(),
            active_rides: VecDeque::new(),
            registry,
            creation: creation_time(),
        })
    }

    async fn run_loop(
        mut self,
        stop: Arc<AtomicBool>,
        budget: Arc<AtomicI64>,
        errors: mpsc::UnboundedSender<anyhow::Error>,
    ) {
        while !stop.load(Ordering::Relaxed) {
            if budget.fetch_sub(1, Ordering::Relaxed) <= 0 {
                break;
            }
            if let Err(e) = self.step().await {
                let _ = errors.send(e);
                break;
            }
        }
    }

    /// One operation of the mix (`generateWorkSimulation`): 95% `readVehicles`, otherwise
    /// `updateActiveRides` followed by one weighted write.
    async fn step(&mut self) -> anyhow::Result<()> {
        let city = *self.rng.pick(&CITIES);
        let id = Uuid::new_v4(&mut self.ids);
        if self.rng.float64() <= READ_PERCENTAGE {
            let start = Instant::now();
            self.exec(
                Op::ReadVehicles,
                &self.stmts.read_vehicles,
                self.sql.read_vehicles,
                &[Value::Str(city)],
            )
            .await?;
            self.registry
                .record(Op::ReadVehicles as usize, start.elapsed());
            return Ok(());
        }

        let start = Instant::now();
        self.update_active_rides().await?;
        self.registry
            .record(Op::UpdateActiveRides as usize, start.elapsed());

        let pick = self.rng.float64();
        let mut acc = 0.0;
        let mut op = Op::EndRide;
        for (candidate, weight) in WRITE_MIX {
            acc += weight;
            if acc >= pick {
                op = candidate;
                break;
            }
        }
        let start = Instant::now();
        match op {
            Op::CreatePromoCode => self.create_promo_code(id).await?,
            Op::ApplyPromoCode => self.apply_promo_code(city).await?,
            Op::AddUser => self.add_user(id, city).await?,
            Op::AddVehicle => self.add_vehicle(id, city).await?,
            Op::StartRide => self.start_ride(id, city).await?,
            Op::EndRide => self.end_ride().await?,
            Op::ReadVehicles | Op::UpdateActiveRides => unreachable!("not a write"),
        }
        self.registry.record(op as usize, start.elapsed());
        Ok(())
    }

    /// Executes a prepared statement, retrying serialization failures; errors name the
    /// operation, the statement and the SQLSTATE.
    async fn exec(
        &self,
        op: Op,
        stmt: &Statement,
        sql: &str,
        values: &[Value],
    ) -> anyhow::Result<u64> {
        let p = params(values);
        retrying(self.registry.errors(), || self.client.execute(stmt, &p))
            .await
            .map_err(|e| sql_error(&format!("{}: {sql}", op.name()), &e))
    }

    /// Runs a one-row, one-column query (the random-row helpers).
    async fn query_value<T>(
        &self,
        op: Op,
        stmt: &Statement,
        sql: &str,
        values: &[Value],
    ) -> anyhow::Result<T>
    where
        T: for<'a> tokio_postgres::types::FromSql<'a>,
    {
        let p = params(values);
        let row = retrying(self.registry.errors(), || self.client.query_one(stmt, &p))
            .await
            .map_err(|e| sql_error(&format!("{}: {sql}", op.name()), &e))?;
        let value: Option<T> = row
            .try_get(0)
            .map_err(|e| anyhow!("{}: {sql}: {e}", op.name()))?;
        value.ok_or_else(|| {
            anyhow!(
                "{}: {sql}: no row found (is the movr database initialised? run `tandem workload init movr`)",
                op.name()
            )
        })
    }

    async fn random_user(&mut self, op: Op, city: &'static str) -> anyhow::Result<Uuid> {
        let probe = Uuid::new_v4(&mut self.ids);
        self.query_value(
            op,
            &self.stmts.random_user,
            self.sql.random_user,
            &[Value::Str(city), Value::Uuid(probe)],
        )
        .await
    }

    async fn random_vehicle(&mut self, op: Op, city: &'static str) -> anyhow::Result<Uuid> {
        let probe = Uuid::new_v4(&mut self.ids);
        self.query_value(
            op,
            &self.stmts.random_vehicle,
            self.sql.random_vehicle,
            &[Value::Str(city), Value::Uuid(probe)],
        )
        .await
    }

    async fn random_promo_code(&mut self, op: Op) -> anyhow::Result<String> {
        let probe = Uuid::new_v4(&mut self.ids);
        self.query_value(
            op,
            &self.stmts.random_promo_code,
            self.sql.random_promo_code,
            &[Value::Text(probe.to_string())],
        )
        .await
    }

    async fn update_active_rides(&mut self) -> anyhow::Result<()> {
        let rides: Vec<(&'static str, Uuid)> = self.active_rides.iter().take(10).copied().collect();
        for (city, ride) in rides {
            let (lat, long) = lat_long(&mut self.rng);
            self.exec(
                Op::UpdateActiveRides,
                &self.stmts.update_location,
                self.sql.update_location,
                &[
                    Value::Str(city),
                    Value::Uuid(ride),
                    Value::Float(lat),
                    Value::Float(long),
                ],
            )
            .await?;
        }
        Ok(())
    }

    async fn create_promo_code(&mut self, id: Uuid) -> anyhow::Result<()> {
        let expiration = self.creation + DAY * self.rng.below(30) as u32;
        let created = expiration - DAY * self.rng.below(30) as u32;
        let description = rng::paragraph(&mut self.rng);
        self.exec(
            Op::CreatePromoCode,
            &self.stmts.insert_promo_code,
            self.sql.insert_promo_code,
            &[
                Value::Text(id.to_string()),
                Value::Text(description),
                Value::Timestamp(created),
                Value::Timestamp(expiration),
                Value::Json(PROMO_RULES.to_string()),
            ],
        )
        .await?;
        Ok(())
    }

    async fn apply_promo_code(&mut self, city: &'static str) -> anyhow::Result<()> {
        let op = Op::ApplyPromoCode;
        let user = self.random_user(op, city).await?;
        let code = self.random_promo_code(op).await?;
        let key = [Value::Str(city), Value::Uuid(user), Value::Text(code)];
        let count: i64 = self
            .query_value(
                op,
                &self.stmts.count_user_promo,
                self.sql.count_user_promo,
                &key,
            )
            .await?;
        if count == 0 {
            let p = params(&key);
            let result = retrying(self.registry.errors(), || {
                self.client.execute(&self.stmts.insert_user_promo, &p)
            })
            .await;
            match result {
                Ok(_) => {}
                // Another worker applied the same code to the same user in between.
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {}
                Err(e) => {
                    return Err(sql_error(
                        &format!("{}: {}", op.name(), self.sql.insert_user_promo),
                        &e,
                    ));
                }
            }
        }
        Ok(())
    }

    async fn add_user(&mut self, id: Uuid, city: &'static str) -> anyhow::Result<()> {
        let name = rng::name(&mut self.rng);
        let address = rng::street_address(&mut self.rng);
        let card = rng::digits(&mut self.rng, 10);
        self.exec(
            Op::AddUser,
            &self.stmts.insert_user,
            self.sql.insert_user,
            &[
                Value::Uuid(id),
                Value::Str(city),
                Value::Text(name),
                Value::Text(address),
                Value::Text(card),
            ],
        )
        .await?;
        Ok(())
    }

    async fn add_vehicle(&mut self, id: Uuid, city: &'static str) -> anyhow::Result<()> {
        let owner = self.random_user(Op::AddVehicle, city).await?;
        let vehicle_type = *self.rng.pick(&VEHICLE_TYPES);
        let status = vehicle_status(&mut self.rng);
        let location = rng::street_address(&mut self.rng);
        let ext = vehicle_metadata(&mut self.rng, vehicle_type);
        self.exec(
            Op::AddVehicle,
            &self.stmts.insert_vehicle,
            self.sql.insert_vehicle,
            &[
                Value::Uuid(id),
                Value::Str(city),
                Value::Str(vehicle_type),
                Value::Uuid(owner),
                Value::Timestamp(self.creation),
                Value::Str(status),
                Value::Text(location),
                Value::Json(ext),
            ],
        )
        .await?;
        Ok(())
    }

    async fn start_ride(&mut self, id: Uuid, city: &'static str) -> anyhow::Result<()> {
        let rider = self.random_user(Op::StartRide, city).await?;
        let vehicle = self.random_vehicle(Op::StartRide, city).await?;
        let address = rng::street_address(&mut self.rng);
        let revenue = self.rng.below(100) as i64;
        self.exec(
            Op::StartRide,
            &self.stmts.insert_ride,
            self.sql.insert_ride,
            &[
                Value::Uuid(id),
                Value::Str(city),
                Value::Uuid(rider),
                Value::Uuid(vehicle),
                Value::Text(address),
                Value::Decimal(revenue),
            ],
        )
        .await?;
        self.active_rides.push_back((city, id));
        Ok(())
    }

    async fn end_ride(&mut self) -> anyhow::Result<()> {
        if self.active_rides.len() > 1 {
            let Some((city, ride)) = self.active_rides.pop_front() else {
                return Ok(());
            };
            let address = rng::street_address(&mut self.rng);
            self.exec(
                Op::EndRide,
                &self.stmts.end_ride,
                self.sql.end_ride,
                &[Value::Str(city), Value::Uuid(ride), Value::Text(address)],
            )
            .await?;
        }
        Ok(())
    }
}

/// `tandem workload run movr`, printing to stdout. See [`run_with_output`].
pub async fn run(opts: &RunOptions) -> anyhow::Result<RunSummary> {
    let mut stdout = std::io::stdout();
    run_with_output(opts, &mut stdout).await
}

/// Runs `--concurrency` workers until `--duration` has passed (or `--max-ops` operations
/// were done, or Ctrl-C), writing a line per operation every `--display-every` and the final
/// summary to `out`. Serialization failures (40001) are retried and counted in the `errors`
/// column; any other error stops the run and is returned with its SQLSTATE.
pub async fn run_with_output(
    opts: &RunOptions,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<RunSummary> {
    if opts.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if opts.display_every.is_zero() {
        bail!("--display-every must be positive");
    }
    let urls = opts.conn.db_urls()?;
    let clients = futures::future::try_join_all(
        (0..opts.concurrency).map(|i| connect_client(&urls[i % urls.len()])),
    )
    .await?;
    let dialect = opts.conn.dialect.resolve(&clients[0]).await;
    let sql: &'static RunSql = if dialect == Dialect::Postgres {
        &POSTGRES_RUN_SQL
    } else {
        &COCKROACH_RUN_SQL
    };
    let registry = Arc::new(Registry::new(&OP_NAMES));
    let workers =
        futures::future::try_join_all(clients.into_iter().enumerate().map(|(i, client)| {
            let rng = Rng::derived(opts.data.seed, i as u64);
            Worker::new(client, sql, rng, Arc::clone(&registry))
        }))
        .await?;

    let stop = Arc::new(AtomicBool::new(false));
    let budget = Arc::new(AtomicI64::new(if opts.max_ops == 0 {
        i64::MAX
    } else {
        i64::try_from(opts.max_ops).unwrap_or(i64::MAX)
    }));
    let (err_tx, mut err_rx) = mpsc::unbounded_channel();
    let mut set = JoinSet::new();
    let start = Instant::now();
    for w in workers {
        set.spawn(w.run_loop(Arc::clone(&stop), Arc::clone(&budget), err_tx.clone()));
    }
    drop(err_tx);

    let start_tokio = tokio::time::Instant::from_std(start);
    let mut ticker = tokio::time::interval_at(start_tokio + opts.display_every, opts.display_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let deadline = (!opts.duration.is_zero()).then(|| start_tokio + opts.duration);
    let until_deadline = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until_deadline);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut printer = TickPrinter::default();
    let mut last_tick = start;
    let mut failure: Option<anyhow::Error> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let now = Instant::now();
                printer.tick(out, &registry, now - start, now - last_tick)?;
                last_tick = now;
            }
            Some(e) = err_rx.recv() => {
                failure = Some(e);
                break;
            }
            joined = set.join_next(), if !set.is_empty() => {
                if let Some(Err(e)) = joined {
                    failure = Some(anyhow!("worker failed: {e}"));
                    break;
                }
                if set.is_empty() {
                    break;
                }
            }
            _ = &mut until_deadline => break,
            _ = &mut ctrl_c => break,
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(joined) = set.join_next().await {
            if let Err(e) = joined {
                return Err(anyhow!("worker failed: {e}"));
            }
        }
        Ok(())
    })
    .await;
    match drained {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            failure.get_or_insert(e);
        }
        Err(_) => set.abort_all(),
    }
    if failure.is_none() {
        failure = err_rx.try_recv().ok();
    }
    if let Some(e) = failure {
        return Err(e.context(format!(
            "movr run stopped after {:.1}s",
            elapsed.as_secs_f64()
        )));
    }

    let totals = registry.totals(elapsed);
    out.write_all(totals.text.as_bytes())?;
    out.flush()?;
    Ok(RunSummary {
        elapsed,
        errors: registry.errors().load(Ordering::Relaxed),
        ops: totals.ops,
        result: totals.result,
        text: totals.text,
    })
}
