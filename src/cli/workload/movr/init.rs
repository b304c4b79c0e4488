//! `tandem workload init movr`: create the database and tables, load the rows in batches with
//! progress, split the ranges and add the foreign keys. Transient errors are retried; any other
//! error stops the load with the statement that failed.

use super::*;

/// Progress of the initial load: a redrawn bar on a terminal, periodic lines otherwise.
pub(super) struct Progress {
    total: u64,
    done: AtomicU64,
    tty: bool,
    start: Instant,
    last_line: parking_lot::Mutex<Instant>,
}

impl Progress {
    pub(super) fn new(total: u64) -> Progress {
        let now = Instant::now();
        Progress {
            total,
            done: AtomicU64::new(0),
            tty: std::io::stderr().is_terminal(),
            start: now,
            last_line: parking_lot::Mutex::new(now),
        }
    }

    pub(super) fn add(&self, rows: u64) {
        self.done.fetch_add(rows, Ordering::Relaxed);
    }

    pub(super) fn tick_interval(&self) -> Duration {
        if self.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        }
    }

    /// Redraws the bar (terminal) or prints a line at most every 5 s (otherwise).
    pub(super) fn draw(&self, table: &str) {
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

    pub(super) fn table_done(&self, table: &str, rows: u64, took: Duration) {
        if self.tty {
            self.draw(table);
        } else {
            eprintln!(
                "loaded {rows} rows into {table} in {:.1}s",
                took.as_secs_f64()
            );
        }
    }

    pub(super) fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

/// Runs `sql` on `client`, retrying serialization failures; errors name the statement.
pub(super) async fn exec(client: &Client, retries: &AtomicU64, sql: &str) -> anyhow::Result<u64> {
    retrying(retries, || client.execute(sql, &[]))
        .await
        .map_err(|e| sql_error(&one_line(sql), &e))
}

/// `sql` on one line (whitespace runs collapsed), for error messages.
pub(super) fn one_line(sql: &str) -> String {
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
    let retries = AtomicU64::new(0);
    let dialect = create_database(opts, &urls[0], &retries).await?;
    let main = connect_client(&db_urls[0]).await?;
    create_tables(&main, dialect, &retries).await?;
    let to_load = tables_to_load(opts, &main, &retries).await?;
    let pool = connection_pool(opts, main, &db_urls, &to_load).await?;
    let total_rows = load(opts, &pool, &to_load, &retries).await?;
    let main = &pool[0];
    // Splits (CockroachDB's dialect: PostgreSQL has no ranges).
    if dialect != Dialect::Postgres && opts.data.num_ranges > 1 {
        for table in [Table::Users, Table::Vehicles, Table::Rides] {
            for sql in split_statements(&opts.data, table) {
                exec(main, &retries, &sql).await?;
            }
        }
    }
    add_foreign_keys(main, dialect, &retries).await?;
    println!(
        "movr: database {} ready: {} tables, {} rows loaded in {:.1}s",
        opts.conn.db,
        TABLES.len(),
        total_rows,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Creates the database (after dropping it with `--drop`) through an administrative
/// connection; returns the server's dialect.
async fn create_database(
    opts: &InitOptions,
    url: &ConnUrl,
    retries: &AtomicU64,
) -> anyhow::Result<Dialect> {
    let db = quote_ident(&opts.conn.db);
    let admin = connect_admin(url, &opts.conn.db).await?;
    let dialect = opts.conn.dialect.resolve(&admin).await;
    if opts.drop {
        exec(&admin, retries, &format!("DROP DATABASE IF EXISTS {db}")).await?;
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
                retries,
                &format!("CREATE DATABASE IF NOT EXISTS {db}"),
            )
            .await?;
        }
    }
    Ok(dialect)
}

/// Creates the tables that do not exist yet (and, in PostgreSQL, their secondary indexes).
async fn create_tables(main: &Client, dialect: Dialect, retries: &AtomicU64) -> anyhow::Result<()> {
    for table in TABLES {
        let body = match dialect {
            Dialect::Postgres => table.postgres_schema(),
            _ => table.cockroach_schema(),
        };
        let sql = format!("CREATE TABLE IF NOT EXISTS {} {body}", table.name());
        exec(main, retries, &sql).await?;
        if dialect == Dialect::Postgres {
            for index in table.postgres_indexes() {
                exec(main, retries, index).await?;
            }
        }
    }
    Ok(())
}

/// The tables to load: those with rows to load that hold none yet (the others are named on
/// stderr and left as they are).
async fn tables_to_load(
    opts: &InitOptions,
    main: &Client,
    retries: &AtomicU64,
) -> anyhow::Result<Vec<Table>> {
    let mut to_load = Vec::new();
    for table in TABLES {
        let rows = opts.data.rows(table);
        if rows == 0 {
            continue;
        }
        let sql = format!("SELECT 1 FROM {} LIMIT 1", table.name());
        let has_rows = !retrying(retries, || main.query(sql.as_str(), &[]))
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
    Ok(to_load)
}

/// `main` and as many more connections (round robin over the URLs) as `--init-conns` allows
/// and the largest table has batches for.
async fn connection_pool(
    opts: &InitOptions,
    main: Client,
    db_urls: &[ConnUrl],
    to_load: &[Table],
) -> anyhow::Result<Vec<Client>> {
    let max_batches = to_load
        .iter()
        .map(|&t| opts.data.rows(t).div_ceil(opts.batch_size))
        .max()
        .unwrap_or(0);
    let conns = (opts.init_conns as u64).min(max_batches).max(1) as usize;
    let mut pool = vec![main];
    let extra = futures::future::try_join_all(
        (1..conns).map(|i| connect_client(&db_urls[i % db_urls.len()])),
    )
    .await?;
    pool.extend(extra);
    Ok(pool)
}

/// Loads the tables one after the other over `pool`, drawing the progress as it goes;
/// returns the rows loaded.
async fn load(
    opts: &InitOptions,
    pool: &[Client],
    to_load: &[Table],
    retries: &AtomicU64,
) -> anyhow::Result<u64> {
    let total_rows: u64 = to_load.iter().map(|&t| opts.data.rows(t)).sum();
    let progress = Progress::new(total_rows);
    let generator = Generator::new(&opts.data);
    for &table in to_load {
        let table_start = Instant::now();
        let load = load_table(&generator, table, pool, opts.batch_size, &progress, retries);
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
    Ok(total_rows)
}

/// Foreign keys (adding one that exists is not an error, so init can be re-run).
async fn add_foreign_keys(
    main: &Client,
    dialect: Dialect,
    retries: &AtomicU64,
) -> anyhow::Result<()> {
    for (cockroach, postgres) in FOREIGN_KEYS {
        let sql = if dialect == Dialect::Postgres {
            postgres
        } else {
            cockroach
        };
        if let Err(e) = retrying(retries, || main.execute(sql, &[])).await {
            let duplicate = e.code() == Some(&SqlState::DUPLICATE_OBJECT)
                || e.as_db_error()
                    .is_some_and(|d| d.message().contains(DUPLICATE_FK_ERR));
            if !duplicate {
                return Err(sql_error(sql, &e));
            }
        }
    }
    Ok(())
}

/// `ALTER TABLE <t> SPLIT AT VALUES ('<city>', '<id>')` for the `--num-ranges - 1` split points
/// of `table` (the keys of rows `i * rows / num_ranges`).
pub(super) fn split_statements(flags: &MovrFlags, table: Table) -> Vec<String> {
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
pub(super) async fn load_table(
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
