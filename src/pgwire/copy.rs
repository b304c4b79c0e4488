//! The COPY-in sub-protocol of one connection: CopyData, CopyDone and CopyFail after a
//! `COPY ... FROM STDIN` (see [`crate::sql::copy`] for the formats and the atomicity).
//!
//! [`CopyInProgress`] lives in the connection between the CopyInResponse and the client's
//! CopyDone/CopyFail. As in PostgreSQL, a decoding error does not interrupt the client: it is
//! remembered, the rest of the data is discarded, and the error is the answer to CopyDone, so
//! the protocol stays in step. CopyFail (e.g. psql's `\copy` interrupted) ends the COPY with
//! 57014 and inserts nothing. Inside an explicit transaction any failure aborts the transaction.
//! The decoded rows are charged to the node's SQL memory pool as they arrive; when it refuses,
//! the COPY fails with 53200 (at CopyDone, like a decoding error) and its rows are dropped at
//! once.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ::pgwire::api::ClientInfo;
use ::pgwire::api::copy::CopyHandler;
use ::pgwire::api::results::Tag;
use ::pgwire::error::{PgWireError, PgWireResult};
use ::pgwire::messages::PgWireBackendMessage;
use ::pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use futures::{Sink, SinkExt};

use super::encode::error;
use super::handler::{abort_explicit_txn, no_session};
use super::server::Conn;
use crate::sql::ast::Statement;
use crate::sql::copy::{CopyDecoder, CopyFromStdin};
use crate::sql::error::SqlError;
use crate::sql::exec::{self, MemoryPool, Reservation};
use crate::sql::sqlstate::SqlState;

/// A COPY waiting for its data.
#[derive(Debug)]
pub(super) struct CopyInProgress {
    copy: CopyFromStdin,
    decoder: CopyDecoder,
    /// The first decoding error (or 53200); later data is discarded.
    failed: Option<SqlError>,
    /// What the decoded rows hold in the node's SQL memory (None: no pool, e.g. before login).
    memory: Option<Reservation>,
}

impl CopyInProgress {
    pub(super) fn new(
        copy: CopyFromStdin,
        columns: usize,
        pool: Option<Arc<MemoryPool>>,
    ) -> CopyInProgress {
        CopyInProgress {
            decoder: CopyDecoder::new(copy.options.clone(), columns),
            copy,
            failed: None,
            memory: pool.map(Reservation::new),
        }
    }

    /// Decodes one CopyData and charges the rows to the pool; the first failure (a decoding
    /// error or 53200) is kept for CopyDone and the rows are dropped at once.
    fn feed(&mut self, data: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        let charged = self.decoder.feed(data).and_then(|()| {
            let bytes = self.decoder.memory();
            self.memory.as_mut().map_or(Ok(()), |m| m.resize(bytes))
        });
        if let Err(e) = charged {
            self.decoder.discard();
            self.memory = None;
            self.failed = Some(e);
        }
    }
}

/// The COPY handler of one connection.
pub(super) struct CopyIn {
    conn: Arc<Conn>,
}

impl CopyIn {
    pub(super) fn new(conn: Arc<Conn>) -> CopyIn {
        CopyIn { conn }
    }

    /// Ends a failed COPY: the explicit transaction (if any) is aborted.
    async fn fail(&self, e: SqlError) -> PgWireError {
        self.conn
            .shared
            .metrics
            .failures
            .fetch_add(1, Ordering::Relaxed);
        if let Some(session) = self.conn.session.lock().await.as_mut() {
            abort_explicit_txn(session);
            self.conn.note_txn(session);
        }
        error(e)
    }
}

#[async_trait::async_trait]
impl CopyHandler for CopyIn {
    async fn on_copy_data<C>(&self, _client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(c) = self.conn.copy.lock().as_mut() {
            c.feed(&copy_data.data);
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(c) = self.conn.copy.lock().take() else {
            return Err(error(SqlError::new(
                SqlState::PROTOCOL_VIOLATION,
                "CopyDone without a COPY in progress",
            )));
        };
        if let Some(e) = c.failed {
            return Err(self.fail(e).await);
        }
        // Held until the rows are inserted (or the statement failed).
        let _memory = c.memory;
        let rows = match c.decoder.finish() {
            Ok(rows) => rows,
            Err(e) => return Err(self.fail(e).await),
        };
        let _work = self.conn.begin_work()?;
        let start = Instant::now();
        let stmt = Statement::CopyRows { copy: c.copy, rows };
        let result = {
            let mut guard = self.conn.session.lock().await;
            let session = guard.as_mut().ok_or_else(no_session)?;
            let r = exec::execute(session, &stmt, &[]).await;
            if r.is_err() {
                abort_explicit_txn(session);
            }
            self.conn.note_txn(session);
            r
        };
        self.conn.shared.router.observe_latency(start.elapsed());
        self.conn
            .shared
            .metrics
            .statements
            .fetch_add(1, Ordering::Relaxed);
        client.set_transaction_status(self.conn.txn_status());
        match result {
            Ok(crate::sql::session::QueryResult::Command(tag)) => {
                let n = tag
                    .strip_prefix("COPY ")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                client
                    .send(PgWireBackendMessage::CommandComplete(
                        Tag::new("COPY").with_rows(n).into(),
                    ))
                    .await?;
                Ok(())
            }
            Ok(_) => Err(error(SqlError::internal("COPY returned rows"))),
            Err(e) => {
                self.conn
                    .shared
                    .metrics
                    .failures
                    .fetch_add(1, Ordering::Relaxed);
                Err(error(e))
            }
        }
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.conn.copy.lock().take();
        let e = self
            .fail(SqlError::new(
                SqlState::QUERY_CANCELED,
                format!("COPY from stdin failed: {}", fail.message),
            ))
            .await;
        client.set_transaction_status(self.conn.txn_status());
        e
    }
}
