//! Bind and Execute of the extended protocol, answered without flushing.
//!
//! BindComplete, DataRows and CommandComplete are buffered and reach the socket with the
//! ReadyForQuery of the next Sync (or at a Flush message), as PostgreSQL does. pgwire's default
//! handlers flush after BindComplete and after CommandComplete: for a point query those two
//! extra socket writes, and the client wake-ups they cause, cost more than the query itself.
//! Otherwise this follows pgwire's defaults: portals run once and are then fetched from
//! (`max_rows` > 0 suspends), an empty statement answers EmptyQueryResponse, and an error sends
//! ErrorResponse (the connection then skips to Sync).

use std::fmt::Debug;
use std::ops::Deref;
use std::sync::Arc;

use ::pgwire::api::copy::send_copy_in_response;
use ::pgwire::api::portal::{Portal, PortalExecutionState};
use ::pgwire::api::query::ExtendedQueryHandler;
use ::pgwire::api::results::{QueryResponse, SendableRowStream};
use ::pgwire::api::results::{Response, Tag};
use ::pgwire::api::store::{Entry, PortalStore};
use ::pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, PgWireConnectionState};
use ::pgwire::error::{ErrorInfo, PgWireError, PgWireResult, SEVERITY_ERROR};
use ::pgwire::messages::PgWireBackendMessage;
use ::pgwire::messages::data::RowDescription;
use ::pgwire::messages::extendedquery::{Bind, BindComplete, Execute, PortalSuspended};
use ::pgwire::messages::response::EmptyQueryResponse;
use futures::{FutureExt, Sink, SinkExt, StreamExt};

use crate::sql::error::SqlError;
use crate::sql::sqlstate::SqlState;

/// Feeds the DataRows of `rows`, flushing whenever the next row is not ready yet: rows of a
/// streamed result (a large scan, a replication stream) reach the client as they are produced
/// instead of waiting for the send buffer to fill, and a client that went away is noticed at
/// the flush. Rows that are all ready (an in-memory result) go out without extra flushes.
/// Returns how many rows were sent.
pub(super) async fn feed_rows<C>(
    client: &mut C,
    rows: &mut SendableRowStream,
) -> PgWireResult<usize>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let mut n = 0;
    loop {
        let next = match rows.next().now_or_never() {
            Some(next) => next,
            None => {
                client.flush().await?;
                rows.next().await
            }
        };
        match next {
            Some(row) => {
                client.feed(PgWireBackendMessage::DataRow(row?)).await?;
                n += 1;
            }
            None => return Ok(n),
        }
    }
}

/// A whole query response of the simple protocol: RowDescription, the rows ([`feed_rows`]),
/// CommandComplete.
pub(super) async fn send_query<C>(client: &mut C, mut response: QueryResponse) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let desc = RowDescription::new(response.row_schema().iter().map(Into::into).collect());
    client
        .feed(PgWireBackendMessage::RowDescription(desc))
        .await?;
    let rows = feed_rows(client, response.data_rows()).await?;
    let tag = Tag::new(response.command_tag()).with_rows(rows);
    client
        .feed(PgWireBackendMessage::CommandComplete(tag.into()))
        .await?;
    Ok(())
}

/// 08P01 unless a Bind asks for no result format, one for all columns, or one per column of its
/// statement's `columns`.
pub(super) fn check_result_formats(message: &Bind, columns: usize) -> Result<(), SqlError> {
    let formats = message.result_column_format_codes.len();
    if formats > 1 && formats != columns {
        return Err(SqlError::new(
            SqlState::PROTOCOL_VIOLATION,
            format!("bind message has {formats} result formats but query has {columns} columns"),
        ));
    }
    Ok(())
}

/// Bind: creates the portal and buffers BindComplete.
pub(super) async fn bind<C, S>(client: &mut C, message: Bind) -> PgWireResult<()>
where
    C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::PortalStore: PortalStore<Statement = S>,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    S: Clone + Send + Sync,
{
    let statement_name = message.statement_name.as_deref().unwrap_or(DEFAULT_NAME);
    let portal_name = message.portal_name.as_deref().unwrap_or(DEFAULT_NAME);
    match client.portal_store().get_statement(statement_name) {
        Some(Entry::Value(statement)) => {
            let portal = Portal::try_new(&message, statement)?;
            client.portal_store().put_portal(Arc::new(portal));
        }
        Some(Entry::Empty) => {
            if !message.parameters.is_empty() {
                return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                    SEVERITY_ERROR.to_owned(),
                    "08P01".to_owned(),
                    format!(
                        "bind message supplies {} parameters, but prepared statement {statement_name:?} requires 0",
                        message.parameters.len()
                    ),
                ))));
            }
            client.portal_store().put_empty_portal(portal_name);
        }
        None => return Err(PgWireError::StatementNotFound(statement_name.to_owned())),
    }
    client
        .feed(PgWireBackendMessage::BindComplete(BindComplete::new()))
        .await?;
    Ok(())
}

/// Execute: runs the portal (first time) and buffers its rows and CommandComplete.
pub(super) async fn execute<H, C>(handler: &H, client: &mut C, message: Execute) -> PgWireResult<()>
where
    H: ExtendedQueryHandler,
    C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::PortalStore: PortalStore<Statement = H::Statement>,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
        return Err(PgWireError::NotReadyForQuery);
    }
    let mut transaction_status = client.transaction_status();
    client.set_state(PgWireConnectionState::QueryInProgress);
    let portal_name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
    let max_rows = message.max_rows.max(0) as usize;
    let portal = match client.portal_store().get_portal(portal_name) {
        Some(Entry::Value(portal)) => portal,
        Some(Entry::Empty) => {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
            client.set_state(PgWireConnectionState::ReadyForQuery);
            return Ok(());
        }
        None => return Err(PgWireError::PortalNotFound(portal_name.to_owned())),
    };
    let initial = matches!(
        portal.state().lock().await.deref(),
        PortalExecutionState::Initial
    );
    let needs_fetch = if initial {
        match handler.do_query(client, portal.as_ref(), max_rows).await? {
            // Without a row limit the rows stream straight to the client: pgwire's portal would
            // collect them all first, which an endless or very large result cannot afford.
            Response::Query(mut results) if max_rows == 0 => {
                let rows = feed_rows(client, results.data_rows()).await?;
                client
                    .feed(PgWireBackendMessage::CommandComplete(
                        Tag::new(results.command_tag()).with_rows(rows).into(),
                    ))
                    .await?;
                // Leave the portal finished, as if fetched to the end.
                portal
                    .start(QueryResponse::new(
                        results.row_schema(),
                        futures::stream::empty(),
                    ))
                    .await;
                let _ = portal.fetch(0).await?;
                false
            }
            Response::Query(results) => {
                portal.start(results).await;
                true
            }
            Response::EmptyQuery => {
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
                false
            }
            Response::Execution(tag) => {
                client
                    .feed(PgWireBackendMessage::CommandComplete(tag.into()))
                    .await?;
                false
            }
            Response::TransactionStart(tag) => {
                client
                    .feed(PgWireBackendMessage::CommandComplete(tag.into()))
                    .await?;
                transaction_status = transaction_status.to_in_transaction_state();
                false
            }
            Response::TransactionEnd(tag) => {
                client
                    .feed(PgWireBackendMessage::CommandComplete(tag.into()))
                    .await?;
                transaction_status = transaction_status.to_idle_state();
                client.portal_store().rm_portal(DEFAULT_NAME);
                false
            }
            Response::Error(err) => {
                client
                    .feed(PgWireBackendMessage::ErrorResponse((*err).into()))
                    .await?;
                transaction_status = transaction_status.to_error_state();
                false
            }
            Response::CopyIn(result) => {
                client.set_state(PgWireConnectionState::CopyInProgress(true));
                send_copy_in_response(client, result).await?;
                false
            }
            // tandem has no COPY TO.
            Response::CopyOut(_) | Response::CopyBoth(_) => false,
        }
    } else {
        true
    };
    if needs_fetch {
        fetch(client, &portal, max_rows).await?;
    }
    if !matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(transaction_status);
    }
    Ok(())
}

/// Rows fetched from a portal at a time.
const FETCH_CHUNK: usize = 1024;

/// Sends up to `max_rows` (0: all) more rows of a started portal, then PortalSuspended (the
/// limit was reached) or CommandComplete. The rows are fetched in chunks: pgwire's fetch
/// allocates room for as many rows as asked, and the count is the client's (up to 2^31 - 1,
/// which would abort the process on allocation failure); chunks also keep "all the rest" of a
/// large or endless result from being collected in memory.
async fn fetch<C, S>(client: &mut C, portal: &Portal<S>, max_rows: usize) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    S: Clone,
{
    let mut sent = 0;
    loop {
        let want = if max_rows == 0 {
            FETCH_CHUNK
        } else {
            (max_rows - sent).min(FETCH_CHUNK)
        };
        let mut fetched = portal.fetch(want).await?;
        let command_tag = fetched.response.command_tag().to_owned();
        sent += feed_rows(client, fetched.response.data_rows()).await?;
        if !fetched.suspended {
            let tag = Tag::new(&command_tag).with_rows(sent);
            return client
                .feed(PgWireBackendMessage::CommandComplete(tag.into()))
                .await
                .map_err(Into::into);
        }
        if max_rows != 0 && sent >= max_rows {
            return client
                .feed(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()))
                .await
                .map_err(Into::into);
        }
    }
}
