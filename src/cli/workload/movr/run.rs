//! `tandem workload run movr`: the workers, the operation mix and its prepared statements in
//! both dialects, and the per-second and final reports.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
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
    pub(super) fn name(self) -> &'static str {
        OP_NAMES[self as usize]
    }
}

/// The write operations and their weights (they sum to 1).
pub(super) const WRITE_MIX: [(Op, f64); 6] = [
    (Op::CreatePromoCode, 0.03),
    (Op::ApplyPromoCode, 0.10),
    (Op::AddUser, 0.30),
    (Op::AddVehicle, 0.10),
    (Op::StartRide, 0.40),
    (Op::EndRide, 0.07),
];

/// The statements of the run phase in one dialect.
pub(super) struct RunSql {
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
pub(super) const COCKROACH_RUN_SQL: RunSql = RunSql {
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
pub(super) const POSTGRES_RUN_SQL: RunSql = RunSql {
    update_location: "INSERT INTO vehicle_location_histories VALUES ($1, $2, now(), $3, $4) ON CONFLICT (city, ride_id, \"timestamp\") DO UPDATE SET lat = excluded.lat, long = excluded.long",
    random_user: "SELECT COALESCE(a, b) FROM (SELECT (SELECT id FROM users WHERE city = $1 AND id > $2 ORDER BY id LIMIT 1) AS a, (SELECT id FROM users WHERE city = $1 ORDER BY id LIMIT 1) AS b) AS r",
    random_vehicle: "SELECT COALESCE(a, b) FROM (SELECT (SELECT id FROM vehicles WHERE city = $1 AND id > $2 ORDER BY id LIMIT 1) AS a, (SELECT id FROM vehicles WHERE city = $1 ORDER BY id LIMIT 1) AS b) AS r",
    random_promo_code: "SELECT COALESCE(a, b) FROM (SELECT (SELECT code FROM promo_codes WHERE code > $1 ORDER BY code LIMIT 1) AS a, (SELECT code FROM promo_codes ORDER BY code LIMIT 1) AS b) AS r",
    ..COCKROACH_RUN_SQL
};

/// The prepared statements of one worker.
pub(super) struct Prepared {
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
    pub(super) async fn new(client: &Client, sql: &RunSql) -> anyhow::Result<Prepared> {
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
pub(super) struct Worker {
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
    pub(super) async fn new(
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

    pub(super) async fn run_loop(
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
    pub(super) async fn step(&mut self) -> anyhow::Result<()> {
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
    pub(super) async fn exec(
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
    pub(super) async fn query_value<T>(
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

    pub(super) async fn random_user(&mut self, op: Op, city: &'static str) -> anyhow::Result<Uuid> {
        let probe = Uuid::new_v4(&mut self.ids);
        self.query_value(
            op,
            &self.stmts.random_user,
            self.sql.random_user,
            &[Value::Str(city), Value::Uuid(probe)],
        )
        .await
    }

    pub(super) async fn random_vehicle(
        &mut self,
        op: Op,
        city: &'static str,
    ) -> anyhow::Result<Uuid> {
        let probe = Uuid::new_v4(&mut self.ids);
        self.query_value(
            op,
            &self.stmts.random_vehicle,
            self.sql.random_vehicle,
            &[Value::Str(city), Value::Uuid(probe)],
        )
        .await
    }

    pub(super) async fn random_promo_code(&mut self, op: Op) -> anyhow::Result<String> {
        let probe = Uuid::new_v4(&mut self.ids);
        self.query_value(
            op,
            &self.stmts.random_promo_code,
            self.sql.random_promo_code,
            &[Value::Text(probe.to_string())],
        )
        .await
    }

    pub(super) async fn update_active_rides(&mut self) -> anyhow::Result<()> {
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

    pub(super) async fn create_promo_code(&mut self, id: Uuid) -> anyhow::Result<()> {
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

    pub(super) async fn apply_promo_code(&mut self, city: &'static str) -> anyhow::Result<()> {
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

    pub(super) async fn add_user(&mut self, id: Uuid, city: &'static str) -> anyhow::Result<()> {
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

    pub(super) async fn add_vehicle(&mut self, id: Uuid, city: &'static str) -> anyhow::Result<()> {
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

    pub(super) async fn start_ride(&mut self, id: Uuid, city: &'static str) -> anyhow::Result<()> {
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

    pub(super) async fn end_ride(&mut self) -> anyhow::Result<()> {
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
