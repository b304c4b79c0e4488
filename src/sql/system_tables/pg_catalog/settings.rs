//! `pg_settings`: the session settings clients read at connect time, with the values every
//! tandem session starts with.

use super::*;

/// The settings `pg_settings` lists: (name, value, type, description), by name.
const SETTINGS: &[(&str, &str, &str, &str)] = &[
    (
        "application_name",
        "",
        "string",
        "Sets the application name to be reported in statistics and logs.",
    ),
    (
        "client_encoding",
        "UTF8",
        "string",
        "Sets the client's character set encoding.",
    ),
    (
        "DateStyle",
        "ISO, MDY",
        "string",
        "Sets the display format for date and time values.",
    ),
    (
        "default_transaction_isolation",
        "serializable",
        "enum",
        "Sets the transaction isolation level of each new transaction.",
    ),
    (
        "extra_float_digits",
        "0",
        "integer",
        "Sets the number of digits displayed for floating-point values.",
    ),
    (
        "integer_datetimes",
        "on",
        "bool",
        "Datetimes are integer based.",
    ),
    (
        "lock_timeout",
        "0",
        "integer",
        "Sets the maximum allowed duration of any wait for a lock.",
    ),
    (
        "max_identifier_length",
        "128",
        "integer",
        "Shows the maximum identifier length.",
    ),
    (
        "search_path",
        "\"$user\", public",
        "string",
        "Sets the schema search order for names that are not schema-qualified.",
    ),
    (
        "server_encoding",
        "UTF8",
        "string",
        "Sets the server (database) character set encoding.",
    ),
    (
        "server_version",
        "13.0.0",
        "string",
        "Shows the server version.",
    ),
    (
        "server_version_num",
        "130000",
        "integer",
        "Shows the server version as an integer.",
    ),
    (
        "standard_conforming_strings",
        "on",
        "bool",
        "Causes '...' strings to treat backslashes literally.",
    ),
    (
        "statement_timeout",
        "0",
        "integer",
        "Sets the maximum allowed duration of any statement.",
    ),
    (
        "TimeZone",
        "UTC",
        "string",
        "Sets the time zone for displaying and interpreting time stamps.",
    ),
    (
        "transaction_isolation",
        "serializable",
        "enum",
        "Sets the current transaction's isolation level.",
    ),
];

/// `pg_settings`: one row per entry of [`SETTINGS`], all user-settable connection defaults.
pub(super) fn pg_settings() -> Relation {
    let mut rows = Vec::new();
    for &(name, setting, vartype, desc) in SETTINGS {
        rows.push(vec![
            s(name),
            s(setting),
            Datum::Null,
            s("Client Connection Defaults"),
            s(desc),
            s("user"),
            s(vartype),
            s("default"),
        ]);
    }
    rel(
        &[
            ("name", Str),
            ("setting", Str),
            ("unit", Str),
            ("category", Str),
            ("short_desc", Str),
            ("context", Str),
            ("vartype", Str),
            ("source", Str),
        ],
        rows,
    )
}
