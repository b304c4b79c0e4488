//! The catalog of one virtual cluster, stored in system tables inside the tenant's own span
//! (`/Tenant/<id>/Table/<system table>/1/...`), so copying the span copies the catalog.
//!
//! | id | table | key | value |
//! |---|---|---|---|
//! | 1 | namespace | (parent id, name) | descriptor id |
//! | 2 | descriptor | (id) | [`Descriptor`] |
//! | 3 | users | (name) | [`UserRecord`] |
//! | 4 | role_members | (role, member) | admin option |
//! | 5 | system_privileges | (user) | privilege names |
//! | 6 | settings | (name) | value text |
//! | 7 | descriptor_id_seq | () | next id |
//! | 8 | tenants (system cluster only) | (id) | tenant record |
//! | 9 | jobs (system cluster only) | (id) | job record |
//! | 10 | schemas | (database id, name) | [`SchemaDesc`] |
//!
//! All reads and writes go through the caller's KV transaction, so catalog changes are atomic
//! with the statement that makes them. User descriptors start at id 100.
//!
//! Schemas: every database has the implicit `public` schema (no record); `CREATE SCHEMA` adds
//! one to the schemas table with an id from the descriptor sequence. A table's namespace entry
//! is `(database id, name)` in `public` and `(schema id, name)` in another schema
//! ([`TableDesc::namespace_parent`]); ids never collide because both come from one sequence.
//!
//! Descriptors are stored in versioned layouts ([`stored`]); foreign keys and their actions are
//! described in [`constraints`]; users, roles, system privileges and settings are read and
//! written in [`users`].

use super::error::{Result, SqlError};
use super::sqlstate::SqlState;
use super::types::{Datum, SqlType};
use super::typmod::TypeMod;
use crate::ids::TenantId;
use crate::kv::Txn;
use crate::storage::keys::{self, Span};
use crate::storage::records::{decode, encode};
use serde::{Deserialize, Serialize};

mod constraints;
mod stored;
mod users;

pub use constraints::{FkAction, FkMatch, ForeignKeyDesc};
use stored::{decode_descriptor, encode_descriptor};
pub use users::UserRecord;

/// System table ids.
pub mod tables {
    /// namespace
    pub const NAMESPACE: u32 = 1;
    /// descriptor
    pub const DESCRIPTOR: u32 = 2;
    /// users
    pub const USERS: u32 = 3;
    /// role_members
    pub const ROLE_MEMBERS: u32 = 4;
    /// system_privileges
    pub const SYSTEM_PRIVILEGES: u32 = 5;
    /// settings
    pub const SETTINGS: u32 = 6;
    /// descriptor_id_seq
    pub const DESCRIPTOR_ID_SEQ: u32 = 7;
    /// tenants
    pub const TENANTS: u32 = 8;
    /// jobs
    pub const JOBS: u32 = 9;
    /// schemas
    pub const SCHEMAS: u32 = 10;
    /// First id for user descriptors.
    pub const FIRST_USER_ID: u32 = 100;
}

/// `defaultdb`'s id.
pub const DEFAULTDB_ID: u32 = 50;
/// `postgres`'s id.
pub const POSTGRES_ID: u32 = 51;

/// A column of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnDesc {
    /// Column id (stable across renames).
    pub id: u32,
    /// Name.
    pub name: String,
    /// Type.
    pub ty: SqlType,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Default expression as SQL text.
    pub default: Option<String>,
    /// Hidden (the implicit `rowid`).
    pub hidden: bool,
    /// Width, length or precision beyond the type family (`INT2`, `VARCHAR(20)`, ...).
    pub typmod: TypeMod,
}

impl ColumnDesc {
    /// `v` as a value of this column: converted to its type, then checked (and rounded) by its
    /// modifier.
    pub fn coerce(&self, v: Datum) -> Result<Datum> {
        self.typmod.apply(v.coerce(self.ty)?)
    }
}

/// A table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableDesc {
    /// Descriptor id (= table id in keys).
    pub id: u32,
    /// Parent database.
    pub parent_id: u32,
    /// Schema: 0 for `public`, else the [`SchemaDesc`] id.
    pub schema_id: u32,
    /// Name.
    pub name: String,
    /// Columns in order.
    pub columns: Vec<ColumnDesc>,
    /// Primary key column ids, in key order.
    pub primary_key: Vec<u32>,
    /// The primary-key column ids stored in descending order (`PRIMARY KEY (a ASC, b DESC)`):
    /// their key bytes are complemented, so a scan meets larger values first.
    pub descending: Vec<u32>,
    /// Next column id.
    pub next_column_id: u32,
    /// Bumped on every schema change.
    pub version: u64,
    /// Secondary indexes.
    pub indexes: Vec<IndexDesc>,
    /// CHECK constraints.
    pub checks: Vec<CheckDesc>,
    /// Outbound foreign keys.
    pub foreign_keys: Vec<ForeignKeyDesc>,
    /// Next index id (the primary index is 1 until a primary-key change or TRUNCATE gives the
    /// rows new keys, see [`TableDesc::primary_index`]).
    pub next_index_id: u32,
    /// The primary index and the schema changes in progress (stored beside the fields above,
    /// see [`stored`]).
    #[serde(skip)]
    pub changes: SchemaChanges,
}

/// What a table's schema-change jobs keep in its descriptor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchemaChanges {
    /// The id of the index holding the rows.
    pub primary_index: u32,
    /// Changes being backfilled: writers maintain them, readers do not see them.
    pub mutations: Vec<Mutation>,
}

impl Default for SchemaChanges {
    fn default() -> SchemaChanges {
        SchemaChanges {
            primary_index: 1,
            mutations: Vec::new(),
        }
    }
}

/// A schema change in its write-only state: every row write keeps it up to date while a job
/// backfills the rows that existed before it; reads never use it until the job makes it public.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Mutation {
    /// A secondary index (`CREATE INDEX`, `ADD CONSTRAINT ... UNIQUE`).
    Index(IndexDesc),
    /// A new primary key (`ADD PRIMARY KEY` on a table keyed by `rowid`, `ALTER PRIMARY KEY`):
    /// the rows re-keyed under index `index_id`, the secondary indexes rebuilt under new ids
    /// (their entries end with the primary key; the list may add the old key as a unique
    /// index), and `drop_column` (the hidden `rowid`) removed at the swap.
    PrimaryKey {
        /// The new primary index.
        index_id: u32,
        /// The new key columns.
        columns: Vec<u32>,
        /// The new key's descending columns.
        descending: Vec<u32>,
        /// The secondary indexes under the new key (new ids, same names).
        indexes: Vec<IndexDesc>,
        /// The column dropped at the swap.
        drop_column: Option<u32>,
    },
    /// A new column with a default (`ADD COLUMN ... DEFAULT`): writers store its value in every
    /// row they write while the job stores it in the rows that existed; readers see the column
    /// once the job makes it public.
    Column {
        /// The id the job knows the change by, taken from the index ids (never an index).
        id: u32,
        /// The column.
        column: ColumnDesc,
        /// The statement's timestamp: `now()` in the default means the same for every row the
        /// job fills (nanoseconds since the epoch).
        now_nanos: u64,
    },
}

impl Mutation {
    /// The index id the mutation's job is known by.
    pub fn index_id(&self) -> u32 {
        match self {
            Mutation::Index(i) => i.id,
            Mutation::PrimaryKey { index_id, .. } => *index_id,
            Mutation::Column { id, .. } => *id,
        }
    }

    /// Every index the mutation writes (spans to clean up if it is abandoned).
    pub fn index_ids(&self) -> Vec<u32> {
        match self {
            Mutation::Index(i) => vec![i.id],
            Mutation::PrimaryKey {
                index_id, indexes, ..
            } => std::iter::once(*index_id)
                .chain(indexes.iter().map(|i| i.id))
                .collect(),
            // Values of a column that never became public are ignored by every reader (rows
            // are decoded by column id, and ids are not reused).
            Mutation::Column { .. } => Vec::new(),
        }
    }
}

/// A secondary index: `/Tenant/<t>/Table/<table>/<index id>/<columns...>/<pk...>` → empty, or
/// for unique indexes `.../<columns...>` → primary key (when no indexed column is NULL).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDesc {
    /// Index id (≥ 2).
    pub id: u32,
    /// Name.
    pub name: String,
    /// Indexed column ids, in order.
    pub columns: Vec<u32>,
    /// Whether values must be unique.
    pub unique: bool,
    /// The indexed column ids stored in descending order (`INDEX (a DESC, b)`): their key bytes
    /// are complemented, as in the primary key ([`TableDesc::descending`]).
    pub descending: Vec<u32>,
}

impl IndexDesc {
    /// Whether indexed column `id` is stored in descending order.
    pub fn is_descending(&self, id: u32) -> bool {
        self.descending.contains(&id)
    }
}

/// A CHECK constraint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDesc {
    /// Name.
    pub name: String,
    /// The boolean expression, as SQL text.
    pub expr: String,
}

/// A schema other than `public`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaDesc {
    /// Id (from the descriptor sequence).
    pub id: u32,
    /// Database.
    pub parent_id: u32,
    /// Name.
    pub name: String,
    /// Owner.
    pub owner: String,
}

impl TableDesc {
    /// The id of the index holding the rows.
    pub fn primary_index(&self) -> u32 {
        self.changes.primary_index
    }

    /// The table as a mutation writes it: for an index, the table with that index as its only
    /// secondary one (`false`: the row itself is not written again); for a new primary key,
    /// the table under the new key and indexes (`true`: the row is written under it too); for
    /// a new column, the table with the column and no secondary index (`false`: the caller
    /// writes the row with the column's value, see `rows::mutations`).
    pub fn mutation_view(&self, m: &Mutation) -> (TableDesc, bool) {
        let mut v = self.clone();
        v.changes.mutations.clear();
        match m {
            Mutation::Index(i) => {
                v.indexes = vec![i.clone()];
                (v, false)
            }
            Mutation::PrimaryKey {
                index_id,
                columns,
                descending,
                indexes,
                ..
            } => {
                v.changes.primary_index = *index_id;
                v.primary_key = columns.clone();
                v.descending = descending.clone();
                v.indexes = indexes.clone();
                (v, true)
            }
            Mutation::Column { column, .. } => {
                v.columns.push(column.clone());
                v.indexes.clear();
                (v, false)
            }
        }
    }

    /// The parent of the table's namespace entry: its database in `public`, else its schema.
    pub fn namespace_parent(&self) -> u32 {
        if self.schema_id == 0 {
            self.parent_id
        } else {
            self.schema_id
        }
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&ColumnDesc> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Index of the column with `id` in `columns`.
    pub fn column_index(&self, id: u32) -> Option<usize> {
        self.columns.iter().position(|c| c.id == id)
    }
}

/// A database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseDesc {
    /// Descriptor id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Owner.
    pub owner: String,
}

/// A descriptor.
#[derive(Clone, Debug, PartialEq)]
pub enum Descriptor {
    /// A database.
    Database(DatabaseDesc),
    /// A table.
    Table(TableDesc),
}

/// Catalog access for one tenant.
#[derive(Clone, Copy, Debug)]
pub struct Catalog {
    /// The tenant.
    pub tenant: TenantId,
}

fn key<T: Serialize>(tenant: TenantId, table: u32, cols: &T) -> Result<Vec<u8>> {
    keys::index_key(tenant, table, 1, cols).map_err(|e| SqlError::internal(e.to_string()))
}

fn dec<'a, T: Deserialize<'a>>(b: &'a [u8]) -> Result<T> {
    decode(b).map_err(|e| SqlError::internal(format!("corrupt catalog record: {e}")))
}

impl Catalog {
    /// Catalog of `tenant`.
    pub fn new(tenant: TenantId) -> Catalog {
        Catalog { tenant }
    }

    /// The span of a system table.
    pub fn table_span(&self, table: u32) -> Span {
        keys::index_span(self.tenant, table, 1)
    }

    /// Writes the initial catalog: `defaultdb`, `postgres`, the `root` user and the `admin` role.
    pub async fn bootstrap(&self, txn: &mut Txn) -> Result<()> {
        for (id, name) in [(DEFAULTDB_ID, "defaultdb"), (POSTGRES_ID, "postgres")] {
            self.put_descriptor(
                txn,
                &Descriptor::Database(DatabaseDesc {
                    id,
                    name: name.into(),
                    owner: "root".into(),
                }),
            )?;
            txn.put(
                &key(self.tenant, tables::NAMESPACE, &(0u32, name))?,
                &encode(&id),
            )?;
        }
        txn.put(
            &key(self.tenant, tables::DESCRIPTOR_ID_SEQ, &())?,
            &encode(&tables::FIRST_USER_ID),
        )?;
        for (name, is_role) in [("admin", true), ("root", false)] {
            self.put_user(
                txn,
                &UserRecord {
                    name: name.into(),
                    scram_verifier: None,
                    login: !is_role,
                    is_role,
                    options: vec![],
                },
            )?;
        }
        txn.put(
            &key(self.tenant, tables::ROLE_MEMBERS, &("admin", "root"))?,
            &encode(&true),
        )?;
        Ok(())
    }

    /// Whether the catalog was bootstrapped.
    pub async fn is_bootstrapped(&self, txn: &mut Txn) -> Result<bool> {
        Ok(txn
            .get(&key(self.tenant, tables::DESCRIPTOR_ID_SEQ, &())?)
            .await?
            .is_some())
    }

    /// Allocates a descriptor id.
    pub async fn next_id(&self, txn: &mut Txn) -> Result<u32> {
        let k = key(self.tenant, tables::DESCRIPTOR_ID_SEQ, &())?;
        let id: u32 = match txn.get(&k).await? {
            Some(v) => dec(&v)?,
            None => tables::FIRST_USER_ID,
        };
        txn.put(&k, &encode(&(id + 1)))?;
        Ok(id)
    }

    fn put_descriptor(&self, txn: &mut Txn, d: &Descriptor) -> Result<()> {
        let id = match d {
            Descriptor::Database(db) => db.id,
            Descriptor::Table(t) => t.id,
        };
        txn.put(
            &key(self.tenant, tables::DESCRIPTOR, &(id,))?,
            &encode_descriptor(d),
        )?;
        Ok(())
    }

    async fn get_descriptor(&self, txn: &mut Txn, id: u32) -> Result<Option<Descriptor>> {
        match txn
            .get(&key(self.tenant, tables::DESCRIPTOR, &(id,))?)
            .await?
        {
            Some(v) => Ok(Some(decode_descriptor(&v)?)),
            None => Ok(None),
        }
    }

    async fn lookup(&self, txn: &mut Txn, parent: u32, name: &str) -> Result<Option<u32>> {
        match txn
            .get(&key(self.tenant, tables::NAMESPACE, &(parent, name))?)
            .await?
        {
            Some(v) => Ok(Some(dec(&v)?)),
            None => Ok(None),
        }
    }

    /// A database by name.
    pub async fn database(&self, txn: &mut Txn, name: &str) -> Result<Option<DatabaseDesc>> {
        let Some(id) = self.lookup(txn, 0, name).await? else {
            return Ok(None);
        };
        match self.get_descriptor(txn, id).await? {
            Some(Descriptor::Database(d)) => Ok(Some(d)),
            _ => Ok(None),
        }
    }

    /// Creates a database; error 42P04 if it exists (unless `if_not_exists`).
    pub async fn create_database(
        &self,
        txn: &mut Txn,
        name: &str,
        owner: &str,
        if_not_exists: bool,
    ) -> Result<bool> {
        if self.database(txn, name).await?.is_some() {
            if if_not_exists {
                return Ok(false);
            }
            return Err(SqlError::new(
                SqlState::DUPLICATE_DATABASE,
                format!("database \"{name}\" already exists"),
            ));
        }
        let id = self.next_id(txn).await?;
        self.put_descriptor(
            txn,
            &Descriptor::Database(DatabaseDesc {
                id,
                name: name.into(),
                owner: owner.into(),
            }),
        )?;
        txn.put(
            &key(self.tenant, tables::NAMESPACE, &(0u32, name))?,
            &encode(&id),
        )?;
        Ok(true)
    }

    /// Every database.
    pub async fn databases(&self, txn: &mut Txn) -> Result<Vec<DatabaseDesc>> {
        let mut out = Vec::new();
        for (_, v) in txn
            .scan(&self.table_span(tables::DESCRIPTOR), usize::MAX)
            .await?
        {
            if let Descriptor::Database(d) = decode_descriptor(&v)? {
                out.push(d);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Drops a database, its schemas and its tables' descriptors (data is removed by the caller).
    pub async fn drop_database(&self, txn: &mut Txn, db: &DatabaseDesc) -> Result<Vec<TableDesc>> {
        let tables = self.tables(txn, db.id).await?;
        for t in &tables {
            self.drop_table(txn, t)?;
        }
        for s in self.schemas(txn, db.id).await? {
            self.drop_schema(txn, &s)?;
        }
        txn.delete(&key(
            self.tenant,
            tables::NAMESPACE,
            &(0u32, db.name.as_str()),
        )?)?;
        txn.delete(&key(self.tenant, tables::DESCRIPTOR, &(db.id,))?)?;
        Ok(tables)
    }

    /// A schema of a database (`None` for `public`, which has no record, and unknown names).
    pub async fn schema(&self, txn: &mut Txn, db: u32, name: &str) -> Result<Option<SchemaDesc>> {
        match txn
            .get(&key(self.tenant, tables::SCHEMAS, &(db, name))?)
            .await?
        {
            Some(v) => Ok(Some(dec(&v)?)),
            None => Ok(None),
        }
    }

    /// The schemas of a database (without `public`), by name.
    pub async fn schemas(&self, txn: &mut Txn, db: u32) -> Result<Vec<SchemaDesc>> {
        let mut out = Vec::new();
        for (_, v) in txn
            .scan(&self.table_span(tables::SCHEMAS), usize::MAX)
            .await?
        {
            let s: SchemaDesc = dec(&v)?;
            if s.parent_id == db {
                out.push(s);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Creates a schema; false if it exists and `if_not_exists` (42P06 otherwise).
    pub async fn create_schema(
        &self,
        txn: &mut Txn,
        db: u32,
        name: &str,
        owner: &str,
        if_not_exists: bool,
    ) -> Result<bool> {
        if name == "public" || self.schema(txn, db, name).await?.is_some() {
            if if_not_exists {
                return Ok(false);
            }
            return Err(SqlError::new(
                SqlState("42P06"),
                format!("schema \"{name}\" already exists"),
            ));
        }
        let s = SchemaDesc {
            id: self.next_id(txn).await?,
            parent_id: db,
            name: name.into(),
            owner: owner.into(),
        };
        txn.put(
            &key(self.tenant, tables::SCHEMAS, &(db, name))?,
            &encode(&s),
        )?;
        Ok(true)
    }

    /// Removes a schema's record (its tables are the caller's business).
    pub fn drop_schema(&self, txn: &mut Txn, s: &SchemaDesc) -> Result<()> {
        txn.delete(&key(
            self.tenant,
            tables::SCHEMAS,
            &(s.parent_id, s.name.as_str()),
        )?)?;
        Ok(())
    }

    /// A table by namespace parent (its database for `public`, else its schema) and name.
    pub async fn table(&self, txn: &mut Txn, db: u32, name: &str) -> Result<Option<TableDesc>> {
        let Some(id) = self.lookup(txn, db, name).await? else {
            return Ok(None);
        };
        match self.get_descriptor(txn, id).await? {
            Some(Descriptor::Table(t)) => Ok(Some(t)),
            _ => Ok(None),
        }
    }

    /// Creates a table (an id of 0 is allocated here).
    pub async fn create_table(&self, txn: &mut Txn, mut desc: TableDesc) -> Result<TableDesc> {
        if desc.id == 0 {
            desc.id = self.next_id(txn).await?;
        }
        self.put_descriptor(txn, &Descriptor::Table(desc.clone()))?;
        txn.put(
            &key(
                self.tenant,
                tables::NAMESPACE,
                &(desc.namespace_parent(), desc.name.as_str()),
            )?,
            &encode(&desc.id),
        )?;
        Ok(desc)
    }

    /// Writes a changed table descriptor (bumping its version).
    pub fn update_table(&self, txn: &mut Txn, t: &TableDesc) -> Result<()> {
        let mut t = t.clone();
        t.version += 1;
        self.put_descriptor(txn, &Descriptor::Table(t))
    }

    /// A table by id.
    pub async fn table_by_id(&self, txn: &mut Txn, id: u32) -> Result<Option<TableDesc>> {
        match self.get_descriptor(txn, id).await? {
            Some(Descriptor::Table(t)) => Ok(Some(t)),
            _ => Ok(None),
        }
    }

    /// Writes a table's descriptor and name (after a rename).
    pub fn reinsert_table(&self, txn: &mut Txn, t: &TableDesc) -> Result<()> {
        self.put_descriptor(txn, &Descriptor::Table(t.clone()))?;
        txn.put(
            &key(
                self.tenant,
                tables::NAMESPACE,
                &(t.namespace_parent(), t.name.as_str()),
            )?,
            &encode(&t.id),
        )?;
        Ok(())
    }

    /// Removes a table's descriptor and name.
    pub fn drop_table(&self, txn: &mut Txn, t: &TableDesc) -> Result<()> {
        txn.delete(&key(
            self.tenant,
            tables::NAMESPACE,
            &(t.namespace_parent(), t.name.as_str()),
        )?)?;
        txn.delete(&key(self.tenant, tables::DESCRIPTOR, &(t.id,))?)?;
        Ok(())
    }

    /// Tables of a database, by name.
    pub async fn tables(&self, txn: &mut Txn, db: u32) -> Result<Vec<TableDesc>> {
        let mut out = Vec::new();
        for (_, v) in txn
            .scan(&self.table_span(tables::DESCRIPTOR), usize::MAX)
            .await?
        {
            if let Descriptor::Table(t) = decode_descriptor(&v)?
                && t.parent_id == db
            {
                out.push(t);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Every table of every database.
    pub async fn all_tables(&self, txn: &mut Txn) -> Result<Vec<TableDesc>> {
        let mut out = Vec::new();
        for (_, v) in txn
            .scan(&self.table_span(tables::DESCRIPTOR), usize::MAX)
            .await?
        {
            if let Descriptor::Table(t) = decode_descriptor(&v)? {
                out.push(t);
            }
        }
        Ok(out)
    }
}
