//! SQLSTATE codes, as a newtype with named constants so raw strings never reach the wire.

use std::fmt;

/// A five-character SQLSTATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SqlState(pub &'static str);

impl SqlState {
    /// 00000
    pub const SUCCESSFUL_COMPLETION: SqlState = SqlState("00000");
    /// 08P01
    pub const PROTOCOL_VIOLATION: SqlState = SqlState("08P01");
    /// 0A000
    pub const FEATURE_NOT_SUPPORTED: SqlState = SqlState("0A000");
    /// 22P02
    pub const INVALID_TEXT_REPRESENTATION: SqlState = SqlState("22P02");
    /// 22003
    pub const NUMERIC_VALUE_OUT_OF_RANGE: SqlState = SqlState("22003");
    /// 22012
    pub const DIVISION_BY_ZERO: SqlState = SqlState("22012");
    /// 22023
    pub const INVALID_PARAMETER_VALUE: SqlState = SqlState("22023");
    /// 23502
    pub const NOT_NULL_VIOLATION: SqlState = SqlState("23502");
    /// 23505
    pub const UNIQUE_VIOLATION: SqlState = SqlState("23505");
    /// 25P02
    pub const IN_FAILED_SQL_TRANSACTION: SqlState = SqlState("25P02");
    /// 25001
    pub const ACTIVE_SQL_TRANSACTION: SqlState = SqlState("25001");
    /// 28000
    pub const INVALID_AUTHORIZATION_SPECIFICATION: SqlState = SqlState("28000");
    /// 28P01
    pub const INVALID_PASSWORD: SqlState = SqlState("28P01");
    /// 3D000
    pub const INVALID_CATALOG_NAME: SqlState = SqlState("3D000");
    /// 40001
    pub const SERIALIZATION_FAILURE: SqlState = SqlState("40001");
    /// 40003: the outcome of a commit is not known (CockroachDB's "result is ambiguous").
    pub const STATEMENT_COMPLETION_UNKNOWN: SqlState = SqlState("40003");
    /// 42501
    pub const INSUFFICIENT_PRIVILEGE: SqlState = SqlState("42501");
    /// 42601
    pub const SYNTAX_ERROR: SqlState = SqlState("42601");
    /// 42703
    pub const UNDEFINED_COLUMN: SqlState = SqlState("42703");
    /// 42704
    pub const UNDEFINED_OBJECT: SqlState = SqlState("42704");
    /// 42710
    pub const DUPLICATE_OBJECT: SqlState = SqlState("42710");
    /// 42P01
    pub const UNDEFINED_TABLE: SqlState = SqlState("42P01");
    /// 42P04
    pub const DUPLICATE_DATABASE: SqlState = SqlState("42P04");
    /// 42P07
    pub const DUPLICATE_TABLE: SqlState = SqlState("42P07");
    /// 42804
    pub const DATATYPE_MISMATCH: SqlState = SqlState("42804");
    /// 42883
    pub const UNDEFINED_FUNCTION: SqlState = SqlState("42883");
    /// 42P10
    pub const INVALID_COLUMN_REFERENCE: SqlState = SqlState("42P10");
    /// 42P16
    pub const INVALID_TABLE_DEFINITION: SqlState = SqlState("42P16");
    /// 53200
    pub const OUT_OF_MEMORY: SqlState = SqlState("53200");
    /// 55000
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: SqlState = SqlState("55000");
    /// 55P03
    pub const LOCK_NOT_AVAILABLE: SqlState = SqlState("55P03");
    /// 57014
    pub const QUERY_CANCELED: SqlState = SqlState("57014");
    /// 57P01
    pub const ADMIN_SHUTDOWN: SqlState = SqlState("57P01");
    /// 58030
    pub const IO_ERROR: SqlState = SqlState("58030");
    /// 58C00: CockroachDB's code for a range that could not serve a request in time.
    pub const RANGE_UNAVAILABLE: SqlState = SqlState("58C00");
    /// XX000
    pub const INTERNAL_ERROR: SqlState = SqlState("XX000");
    /// 3D000-like for virtual clusters: CockroachDB uses 42704 (undefined object).
    pub const UNDEFINED_VIRTUAL_CLUSTER: SqlState = SqlState("42704");
    /// 57P03: the virtual cluster is not serving.
    pub const CANNOT_CONNECT_NOW: SqlState = SqlState("57P03");
    /// 08006: a connection (e.g. to a replication source) failed.
    pub const CONNECTION_FAILURE: SqlState = SqlState("08006");

    /// Every named code, for [`SqlState::from_code`].
    const ALL: &'static [SqlState] = &[
        SqlState::SUCCESSFUL_COMPLETION,
        SqlState::PROTOCOL_VIOLATION,
        SqlState::FEATURE_NOT_SUPPORTED,
        SqlState::INVALID_TEXT_REPRESENTATION,
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        SqlState::DIVISION_BY_ZERO,
        SqlState::INVALID_PARAMETER_VALUE,
        SqlState::NOT_NULL_VIOLATION,
        SqlState::UNIQUE_VIOLATION,
        SqlState::IN_FAILED_SQL_TRANSACTION,
        SqlState::ACTIVE_SQL_TRANSACTION,
        SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
        SqlState::INVALID_PASSWORD,
        SqlState::INVALID_CATALOG_NAME,
        SqlState::SERIALIZATION_FAILURE,
        SqlState::RANGE_UNAVAILABLE,
        SqlState::INSUFFICIENT_PRIVILEGE,
        SqlState::SYNTAX_ERROR,
        SqlState::UNDEFINED_COLUMN,
        SqlState::UNDEFINED_OBJECT,
        SqlState::DUPLICATE_OBJECT,
        SqlState::UNDEFINED_TABLE,
        SqlState::DATATYPE_MISMATCH,
        SqlState::UNDEFINED_FUNCTION,
        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
        SqlState::LOCK_NOT_AVAILABLE,
        SqlState::QUERY_CANCELED,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::CONNECTION_FAILURE,
    ];

    /// The named code for a SQLSTATE received from another server (e.g. a replication
    /// source); codes tandem does not name map to XX000.
    pub fn from_code(code: &str) -> SqlState {
        SqlState::ALL
            .iter()
            .copied()
            .find(|s| s.0 == code)
            .unwrap_or(SqlState::INTERNAL_ERROR)
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
