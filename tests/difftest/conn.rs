//! Running one statement on a connection and capturing what happened: rows as text (simple
//! query protocol), a command's row count, a server error with its SQLSTATE, a lost connection
//! or a timeout. [`describe`] prepares the statement (extended protocol) for its result column
//! type OIDs, which is what drivers decode by.

use std::time::Duration;

use tokio_postgres::{Client, SimpleQueryMessage};

use super::compare::Row;

/// The outcome of one statement.
#[derive(Clone, Debug)]
pub enum Outcome {
    Rows(Vec<Row>),
    Done(u64),
    Error {
        code: String,
        message: String,
    },
    /// The connection broke (the server closed it or died).
    Lost(String),
    Timeout,
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Rows(_) | Outcome::Done(_))
    }

    /// A one-line description.
    pub fn brief(&self) -> String {
        match self {
            Outcome::Rows(r) => format!("{} rows", r.len()),
            Outcome::Done(n) => format!("ok ({n})"),
            Outcome::Error { code, message } => format!("error {code}: {message}"),
            Outcome::Lost(m) => format!("connection lost: {m}"),
            Outcome::Timeout => "timeout".into(),
        }
    }
}

fn from_error(e: tokio_postgres::Error) -> Outcome {
    match e.as_db_error() {
        Some(db) => Outcome::Error {
            code: db.code().code().to_string(),
            message: db.message().to_string(),
        },
        None => {
            if e.is_closed() {
                Outcome::Lost(e.to_string())
            } else {
                // An I/O error or a protocol violation: the connection is unusable either way.
                Outcome::Lost(format!("{e} ({e:?})"))
            }
        }
    }
}

/// Runs `sql` (one statement) through the simple query protocol.
pub async fn run(client: &Client, sql: &str, timeout: Duration) -> Outcome {
    let msgs = match tokio::time::timeout(timeout, client.simple_query(sql)).await {
        Err(_) => return Outcome::Timeout,
        Ok(Err(e)) => return from_error(e),
        Ok(Ok(m)) => m,
    };
    let mut rows: Option<Vec<Row>> = None;
    let mut count = 0;
    for m in msgs {
        match m {
            SimpleQueryMessage::RowDescription(_) => rows = Some(Vec::new()),
            SimpleQueryMessage::Row(r) => rows
                .get_or_insert_with(Vec::new)
                .push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect()),
            SimpleQueryMessage::CommandComplete(n) => count = n,
            _ => {}
        }
    }
    match rows {
        Some(r) => Outcome::Rows(r),
        None => Outcome::Done(count),
    }
}

/// The result column type OIDs of `sql` (prepared, not executed).
pub async fn describe(client: &Client, sql: &str, timeout: Duration) -> Result<Vec<u32>, Outcome> {
    match tokio::time::timeout(timeout, client.prepare(sql)).await {
        Err(_) => Err(Outcome::Timeout),
        Ok(Err(e)) => Err(from_error(e)),
        Ok(Ok(st)) => Ok(st.columns().iter().map(|c| c.type_().oid()).collect()),
    }
}

/// A short text of rows for reports (at most `max` rows).
pub fn show_rows(rows: &[Row], max: usize) -> String {
    let mut out: Vec<String> = rows
        .iter()
        .take(max)
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .map(|c| match c {
                    None => "NULL".to_string(),
                    Some(v) => format!("{v:?}"),
                })
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    if rows.len() > max {
        out.push(format!("... {} rows in all", rows.len()));
    }
    if out.is_empty() {
        "(no rows)".into()
    } else {
        out.join(" ")
    }
}

/// Short text of an outcome for reports.
pub fn show(o: &Outcome, max: usize) -> String {
    match o {
        Outcome::Rows(r) => show_rows(r, max),
        other => other.brief(),
    }
}
