//! Descriptors as the descriptor table stores them: a postcard-encoded enum whose variants are
//! only ever appended (postcard encodes the variant index and no field names), so a store
//! written by an older tandem still decodes. Each older table layout is kept as a struct of its
//! own and converted on read; writes always use the newest layout.
//!
//! | index | variant | layout |
//! |---|---|---|
//! | 0 | `Database` | [`DatabaseDesc`] |
//! | 1 | `TableV1` | before column type modifiers ([`ColumnDesc::typmod`]) |
//! | 2 | `TableV2` | before key directions ([`TableDesc::descending`]) |
//! | 3 | `TableV3` | before foreign-key actions and match types ([`ForeignKeyDesc`]) |
//! | 4 | `TableV4` | before secondary-index directions ([`IndexDesc::descending`]) |
//! | 5 | `TableV5` | before schema-change state ([`TableDesc::changes`]) |
//! | 6 | `Table` | [`TableDesc`] with its [`SchemaChanges`] beside it |
//!
//! A record that does not decode is a corrupt catalog: `XX000`, never a panic.

use super::{
    CheckDesc, ColumnDesc, DatabaseDesc, Descriptor, FkAction, FkMatch, ForeignKeyDesc, IndexDesc,
    SchemaChanges, TableDesc, dec,
};
use crate::sql::error::Result;
use crate::sql::types::SqlType;
use crate::sql::typmod::TypeMod;
use crate::storage::records::encode;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
enum StoredDescriptor {
    Database(DatabaseDesc),
    TableV1(TableDescV1),
    TableV2(TableDescV2),
    TableV3(TableDescV3),
    TableV4(TableDescV4),
    TableV5(TableDesc),
    Table(TableDesc, SchemaChanges),
}

/// [`StoredDescriptor`] by reference, for encoding without a clone (same variant indexes).
#[derive(Serialize)]
enum StoredDescriptorRef<'a> {
    Database(&'a DatabaseDesc),
    #[allow(dead_code)]
    TableV1(()),
    #[allow(dead_code)]
    TableV2(()),
    #[allow(dead_code)]
    TableV3(()),
    #[allow(dead_code)]
    TableV4(()),
    #[allow(dead_code)]
    TableV5(()),
    Table(&'a TableDesc, &'a SchemaChanges),
}

/// The table layout before secondary indexes had directions.
#[derive(Serialize, Deserialize)]
struct TableDescV4 {
    id: u32,
    parent_id: u32,
    schema_id: u32,
    name: String,
    columns: Vec<ColumnDesc>,
    primary_key: Vec<u32>,
    descending: Vec<u32>,
    next_column_id: u32,
    version: u64,
    indexes: Vec<IndexDescV1>,
    checks: Vec<CheckDesc>,
    foreign_keys: Vec<ForeignKeyDesc>,
    next_index_id: u32,
}

/// A secondary index before directions: every column ascending.
#[derive(Serialize, Deserialize)]
struct IndexDescV1 {
    id: u32,
    name: String,
    columns: Vec<u32>,
    unique: bool,
}

fn upgrade_indexes(ixs: Vec<IndexDescV1>) -> Vec<IndexDesc> {
    ixs.into_iter()
        .map(|i| IndexDesc {
            id: i.id,
            name: i.name,
            columns: i.columns,
            unique: i.unique,
            descending: Vec::new(),
        })
        .collect()
}

/// The table layout before foreign keys had actions and a match type.
#[derive(Serialize, Deserialize)]
struct TableDescV3 {
    id: u32,
    parent_id: u32,
    schema_id: u32,
    name: String,
    columns: Vec<ColumnDesc>,
    primary_key: Vec<u32>,
    descending: Vec<u32>,
    next_column_id: u32,
    version: u64,
    indexes: Vec<IndexDescV1>,
    checks: Vec<CheckDesc>,
    foreign_keys: Vec<ForeignKeyDescV1>,
    next_index_id: u32,
}

/// A foreign key before actions: always `NO ACTION`, `MATCH SIMPLE`.
#[derive(Serialize, Deserialize)]
struct ForeignKeyDescV1 {
    name: String,
    columns: Vec<u32>,
    ref_table: u32,
    ref_columns: Vec<u32>,
}

impl From<ForeignKeyDescV1> for ForeignKeyDesc {
    fn from(f: ForeignKeyDescV1) -> ForeignKeyDesc {
        ForeignKeyDesc {
            name: f.name,
            columns: f.columns,
            ref_table: f.ref_table,
            ref_columns: f.ref_columns,
            on_delete: FkAction::NoAction,
            on_update: FkAction::NoAction,
            match_type: FkMatch::Simple,
        }
    }
}

fn upgrade_fks(fks: Vec<ForeignKeyDescV1>) -> Vec<ForeignKeyDesc> {
    fks.into_iter().map(ForeignKeyDesc::from).collect()
}

/// The table layout before [`TableDesc::descending`].
#[derive(Serialize, Deserialize)]
struct TableDescV2 {
    id: u32,
    parent_id: u32,
    schema_id: u32,
    name: String,
    columns: Vec<ColumnDesc>,
    primary_key: Vec<u32>,
    next_column_id: u32,
    version: u64,
    indexes: Vec<IndexDescV1>,
    checks: Vec<CheckDesc>,
    foreign_keys: Vec<ForeignKeyDescV1>,
    next_index_id: u32,
}

/// The table layout before [`ColumnDesc::typmod`].
#[derive(Serialize, Deserialize)]
struct TableDescV1 {
    id: u32,
    parent_id: u32,
    name: String,
    columns: Vec<ColumnDescV1>,
    primary_key: Vec<u32>,
    next_column_id: u32,
    version: u64,
    indexes: Vec<IndexDescV1>,
    checks: Vec<CheckDesc>,
    foreign_keys: Vec<ForeignKeyDescV1>,
    next_index_id: u32,
}

#[derive(Serialize, Deserialize)]
struct ColumnDescV1 {
    id: u32,
    name: String,
    ty: SqlType,
    nullable: bool,
    default: Option<String>,
    hidden: bool,
}

impl From<StoredDescriptor> for Descriptor {
    fn from(d: StoredDescriptor) -> Descriptor {
        match d {
            StoredDescriptor::Database(db) => Descriptor::Database(db),
            StoredDescriptor::TableV5(t) => Descriptor::Table(t),
            StoredDescriptor::Table(mut t, changes) => {
                t.changes = changes;
                Descriptor::Table(t)
            }
            StoredDescriptor::TableV4(t) => Descriptor::Table(TableDesc {
                id: t.id,
                parent_id: t.parent_id,
                schema_id: t.schema_id,
                name: t.name,
                columns: t.columns,
                primary_key: t.primary_key,
                descending: t.descending,
                next_column_id: t.next_column_id,
                version: t.version,
                indexes: upgrade_indexes(t.indexes),
                checks: t.checks,
                foreign_keys: t.foreign_keys,
                next_index_id: t.next_index_id,
                changes: SchemaChanges::default(),
            }),
            StoredDescriptor::TableV3(t) => Descriptor::Table(TableDesc {
                id: t.id,
                parent_id: t.parent_id,
                schema_id: t.schema_id,
                name: t.name,
                columns: t.columns,
                primary_key: t.primary_key,
                descending: t.descending,
                next_column_id: t.next_column_id,
                version: t.version,
                indexes: upgrade_indexes(t.indexes),
                checks: t.checks,
                foreign_keys: upgrade_fks(t.foreign_keys),
                next_index_id: t.next_index_id,
                changes: SchemaChanges::default(),
            }),
            StoredDescriptor::TableV2(t) => Descriptor::Table(TableDesc {
                id: t.id,
                parent_id: t.parent_id,
                schema_id: t.schema_id,
                name: t.name,
                columns: t.columns,
                primary_key: t.primary_key,
                descending: Vec::new(),
                next_column_id: t.next_column_id,
                version: t.version,
                indexes: upgrade_indexes(t.indexes),
                checks: t.checks,
                foreign_keys: upgrade_fks(t.foreign_keys),
                next_index_id: t.next_index_id,
                changes: SchemaChanges::default(),
            }),
            StoredDescriptor::TableV1(t) => Descriptor::Table(TableDesc {
                id: t.id,
                parent_id: t.parent_id,
                schema_id: 0,
                name: t.name,
                columns: t
                    .columns
                    .into_iter()
                    .map(|c| ColumnDesc {
                        id: c.id,
                        name: c.name,
                        ty: c.ty,
                        nullable: c.nullable,
                        default: c.default,
                        hidden: c.hidden,
                        typmod: TypeMod::None,
                    })
                    .collect(),
                primary_key: t.primary_key,
                descending: Vec::new(),
                next_column_id: t.next_column_id,
                version: t.version,
                indexes: upgrade_indexes(t.indexes),
                checks: t.checks,
                foreign_keys: upgrade_fks(t.foreign_keys),
                next_index_id: t.next_index_id,
                changes: SchemaChanges::default(),
            }),
        }
    }
}

/// The stored bytes of a descriptor (newest layout).
pub(super) fn encode_descriptor(d: &Descriptor) -> Vec<u8> {
    match d {
        Descriptor::Database(db) => encode(&StoredDescriptorRef::Database(db)),
        Descriptor::Table(t) => encode(&StoredDescriptorRef::Table(t, &t.changes)),
    }
}

/// A descriptor from its stored bytes, whichever layout wrote them.
pub(super) fn decode_descriptor(b: &[u8]) -> Result<Descriptor> {
    dec::<StoredDescriptor>(b).map(Descriptor::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column() -> ColumnDesc {
        ColumnDesc {
            id: 1,
            name: "k".into(),
            ty: SqlType::Int,
            nullable: false,
            default: None,
            hidden: false,
            typmod: TypeMod::Int4,
        }
    }

    fn old_fk() -> ForeignKeyDescV1 {
        ForeignKeyDescV1 {
            name: "t_k_fkey".into(),
            columns: vec![1],
            ref_table: 9,
            ref_columns: vec![1],
        }
    }

    /// A table descriptor written before key directions existed (the `TableV2` layout, stored
    /// under the variant index the current layout had then) still decodes, all-ascending.
    #[test]
    fn descriptors_written_before_key_directions_decode() {
        let old = StoredDescriptor::TableV2(TableDescV2 {
            id: 7,
            parent_id: 1,
            schema_id: 0,
            name: "t".into(),
            columns: vec![column()],
            primary_key: vec![1],
            next_column_id: 2,
            version: 3,
            indexes: Vec::new(),
            checks: Vec::new(),
            foreign_keys: Vec::new(),
            next_index_id: 2,
        });
        let bytes = encode(&old);
        let Descriptor::Table(t) = decode_descriptor(&bytes).expect("decodes") else {
            panic!("not a table");
        };
        assert_eq!((t.id, t.primary_key.clone(), t.version), (7, vec![1], 3));
        assert!(t.descending.is_empty());
        assert_eq!(t.columns[0].typmod, TypeMod::Int4);
        // And the current layout round-trips with its directions.
        let mut now = t;
        now.descending = vec![1];
        let back = decode_descriptor(&encode_descriptor(&Descriptor::Table(now.clone())))
            .expect("round trip");
        assert_eq!(back, Descriptor::Table(now));
    }

    /// A table written before foreign-key actions existed (`TableV3`) decodes with `NO ACTION`
    /// and `MATCH SIMPLE` keys, and the current layout round-trips its actions.
    #[test]
    fn descriptors_written_before_foreign_key_actions_decode() {
        let old = StoredDescriptor::TableV3(TableDescV3 {
            id: 8,
            parent_id: 1,
            schema_id: 0,
            name: "t".into(),
            columns: vec![column()],
            primary_key: vec![1],
            descending: vec![1],
            next_column_id: 2,
            version: 4,
            indexes: Vec::new(),
            checks: Vec::new(),
            foreign_keys: vec![old_fk()],
            next_index_id: 2,
        });
        let Descriptor::Table(t) = decode_descriptor(&encode(&old)).expect("decodes") else {
            panic!("not a table");
        };
        assert_eq!(t.descending, vec![1]);
        let fk = &t.foreign_keys[0];
        assert_eq!((fk.name.as_str(), fk.ref_table), ("t_k_fkey", 9));
        assert_eq!(
            (fk.on_delete, fk.on_update, fk.match_type),
            (FkAction::NoAction, FkAction::NoAction, FkMatch::Simple)
        );
        let mut now = t;
        now.foreign_keys[0].on_delete = FkAction::Cascade;
        now.foreign_keys[0].on_update = FkAction::SetDefault;
        now.foreign_keys[0].match_type = FkMatch::Full;
        let back = decode_descriptor(&encode_descriptor(&Descriptor::Table(now.clone())))
            .expect("round trip");
        assert_eq!(back, Descriptor::Table(now));
    }

    /// A table written before secondary indexes had directions (`TableV4`) decodes with
    /// all-ascending indexes, and the current layout round-trips index directions.
    #[test]
    fn descriptors_written_before_index_directions_decode() {
        let old = StoredDescriptor::TableV4(TableDescV4 {
            id: 9,
            parent_id: 1,
            schema_id: 0,
            name: "t".into(),
            columns: vec![column()],
            primary_key: vec![1],
            descending: vec![1],
            next_column_id: 2,
            version: 5,
            indexes: vec![IndexDescV1 {
                id: 2,
                name: "t_k_idx".into(),
                columns: vec![1],
                unique: true,
            }],
            checks: Vec::new(),
            foreign_keys: Vec::new(),
            next_index_id: 3,
        });
        let Descriptor::Table(t) = decode_descriptor(&encode(&old)).expect("decodes") else {
            panic!("not a table");
        };
        assert_eq!((t.id, t.version, t.descending.clone()), (9, 5, vec![1]));
        let ix = &t.indexes[0];
        assert_eq!(
            (ix.name.as_str(), ix.unique, ix.columns.clone()),
            ("t_k_idx", true, vec![1])
        );
        assert!(ix.descending.is_empty());
        let mut now = t;
        now.indexes[0].descending = vec![1];
        let back = decode_descriptor(&encode_descriptor(&Descriptor::Table(now.clone())))
            .expect("round trip");
        assert_eq!(back, Descriptor::Table(now));
    }

    /// Bytes that are no descriptor are a corrupt catalog error, not a panic.
    #[test]
    fn garbage_is_an_error() {
        let e = decode_descriptor(&[0xff, 0xff, 0xff]).expect_err("garbage");
        assert_eq!(e.state, crate::sql::sqlstate::SqlState::INTERNAL_ERROR);
    }
}
