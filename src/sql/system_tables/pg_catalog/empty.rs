//! The catalogs clients query that tandem has no rows for, with their columns.

use super::*;

/// Catalogs tandem has nothing to put in (no collations beyond the default, policies, extended
/// statistics, publications, triggers, sequences, operator classes, rules or extensions): their columns, so clients' queries over them run and find no rows.
pub(super) const EMPTY_CATALOGS: &[(&str, &[(&str, SqlType)])] = &[
    (
        "pg_collation",
        &[
            ("oid", Int),
            ("collname", Str),
            ("collnamespace", Int),
            ("collowner", Int),
            ("collprovider", Str),
            ("collisdeterministic", Bool),
            ("collencoding", Int),
            ("collcollate", Str),
            ("collctype", Str),
        ],
    ),
    (
        "pg_policy",
        &[
            ("oid", Int),
            ("polname", Str),
            ("polrelid", Int),
            ("polcmd", Str),
            ("polpermissive", Bool),
            ("polroles", INT2_ARRAY),
            ("polqual", Str),
            ("polwithcheck", Str),
        ],
    ),
    (
        "pg_statistic_ext",
        &[
            ("oid", Int),
            ("stxrelid", Int),
            ("stxname", Str),
            ("stxnamespace", Int),
            ("stxowner", Int),
            ("stxstattarget", Int),
            ("stxkeys", Str),
            ("stxkind", TEXT_ARRAY),
        ],
    ),
    (
        "pg_publication",
        &[
            ("oid", Int),
            ("pubname", Str),
            ("pubowner", Int),
            ("puballtables", Bool),
            ("pubinsert", Bool),
            ("pubupdate", Bool),
            ("pubdelete", Bool),
            ("pubtruncate", Bool),
            ("pubviaroot", Bool),
        ],
    ),
    (
        "pg_publication_namespace",
        &[("oid", Int), ("pnpubid", Int), ("pnnspid", Int)],
    ),
    (
        "pg_publication_rel",
        &[
            ("oid", Int),
            ("prpubid", Int),
            ("prrelid", Int),
            ("prqual", Str),
            ("prattrs", INT2_ARRAY),
        ],
    ),
    (
        "pg_trigger",
        &[
            ("oid", Int),
            ("tgrelid", Int),
            ("tgparentid", Int),
            ("tgname", Str),
            ("tgfoid", Int),
            ("tgtype", Int),
            ("tgenabled", Str),
            ("tgisinternal", Bool),
            ("tgconstraint", Int),
        ],
    ),
    (
        "pg_sequence",
        &[
            ("seqrelid", Int),
            ("seqtypid", Int),
            ("seqstart", Int),
            ("seqincrement", Int),
            ("seqmax", Int),
            ("seqmin", Int),
            ("seqcache", Int),
            ("seqcycle", Bool),
        ],
    ),
    (
        "pg_opclass",
        &[
            ("oid", Int),
            ("opcmethod", Int),
            ("opcname", Str),
            ("opcnamespace", Int),
            ("opcowner", Int),
            ("opcfamily", Int),
            ("opcintype", Int),
            ("opcdefault", Bool),
            ("opckeytype", Int),
        ],
    ),
    (
        "pg_rewrite",
        &[
            ("oid", Int),
            ("rulename", Str),
            ("ev_class", Int),
            ("ev_type", Str),
        ],
    ),
    (
        "pg_depend",
        &[
            ("classid", Int),
            ("objid", Int),
            ("objsubid", Int),
            ("refclassid", Int),
            ("refobjid", Int),
            ("refobjsubid", Int),
            ("deptype", Str),
        ],
    ),
    (
        "pg_extension",
        &[
            ("oid", Int),
            ("extname", Str),
            ("extowner", Int),
            ("extnamespace", Int),
            ("extversion", Str),
        ],
    ),
];
