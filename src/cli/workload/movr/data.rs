//! Deterministic data generation: which city a row belongs to and the values of row `i` of each
//! table, generated from a generator seeded with `seed + i` (so any row can be generated alone).

use super::*;

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

pub(super) fn rand_row_in_city(rng: &mut Rng, num_rows: u64, city: usize) -> u64 {
    let (lo, hi) = rows_for_city(num_rows, city);
    lo + rng.below((hi - lo).max(1))
}

pub(super) fn vehicle_status(rng: &mut Rng) -> &'static str {
    match rng.below(100) {
        0..40 => "available",
        40..95 => "in_use",
        _ => "lost",
    }
}

/// The `ext` JSON of a vehicle (keys sorted, as Go's `json.Marshal` of a map).
pub(super) fn vehicle_metadata(rng: &mut Rng, vehicle_type: &str) -> String {
    let color = *rng.pick(&VEHICLE_COLORS);
    if vehicle_type == "bike" {
        let brand = *rng.pick(&BIKE_BRANDS);
        format!(r#"{{"brand":"{brand}","color":"{color}"}}"#)
    } else {
        format!(r#"{{"color":"{color}"}}"#)
    }
}

/// Whole-degree coordinates (lat in [-180, 180), long in [-90, 90), as upstream).
pub(super) fn lat_long(rng: &mut Rng) -> (f64, f64) {
    let lat = -180.0 + rng.below(360) as f64;
    let long = -90.0 + rng.below(180) as f64;
    (lat, long)
}

/// `<row>_<three words>`, the code of promo code `row`.
pub(super) fn promo_code(rng: &mut Rng, row: u64) -> String {
    format!("{row}_{}", rng::words(rng, 3).join("_")).to_lowercase()
}

/// The generator of the initial rows.
pub(super) struct Generator {
    pub(super) flags: MovrFlags,
    creation: SystemTime,
}

impl Generator {
    pub(super) fn new(flags: &MovrFlags) -> Generator {
        Generator {
            flags: flags.clone(),
            creation: creation_time(),
        }
    }

    pub(super) fn row_rng(&self, row: u64) -> Rng {
        Rng::new(self.flags.seed.wrapping_add(row))
    }

    pub(super) fn user_id(&self, row: u64) -> Uuid {
        Uuid::deterministic_v4(row, self.flags.num_users)
    }

    /// Appends the values of row `row` of `table` to `out`.
    pub(super) fn row(&self, table: Table, row: u64, out: &mut Vec<Value>) {
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
