//! The movr schema: its six tables, their `CREATE` statements in both dialects, the foreign
//! keys added after the load and the multi-row `INSERT` each batch is sent with.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Table {
    Users,
    Vehicles,
    Rides,
    Histories,
    PromoCodes,
    UserPromoCodes,
}

pub(super) const TABLES: [Table; 6] = [
    Table::Users,
    Table::Vehicles,
    Table::Rides,
    Table::Histories,
    Table::PromoCodes,
    Table::UserPromoCodes,
];

impl Table {
    pub(super) fn name(self) -> &'static str {
        TABLE_NAMES[self as usize]
    }

    pub(super) fn columns(self) -> usize {
        match self {
            Table::Users | Table::Histories | Table::PromoCodes | Table::UserPromoCodes => 5,
            Table::Vehicles => 8,
            Table::Rides => 10,
        }
    }

    /// The table body of movr.go (`--multi-region=false`), byte for byte.
    pub(super) fn cockroach_schema(self) -> &'static str {
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
    pub(super) fn postgres_schema(self) -> &'static str {
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

    pub(super) fn postgres_indexes(self) -> &'static [&'static str] {
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
pub(super) const FOREIGN_KEYS: [(&str, &str); 5] = [
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
pub(super) fn insert_sql(table: Table, rows: u64) -> String {
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
