//! Query handling for one connection: the simple protocol (`Query` → [`Session::run`]) and the
//! extended protocol (Parse → [`parser::parse`] + [`exec::describe`], Bind/Execute →
//! [`exec::execute`]).
//!
//! The transaction status in every ReadyForQuery comes from the session itself (idle, in a
//! transaction, failed), not from guessing at command tags. Statement errors are answered with
//! an ErrorResponse carrying their SQLSTATE; in the extended protocol the connection then skips
//! to the next Sync, as PostgreSQL does.
//!
//! Parameter types: the client's declared types win; otherwise they are inferred
//! ([`super::params`]), and are `text` where nothing says otherwise.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ::pgwire::api::copy::send_copy_in_response;
use ::pgwire::api::portal::{Format, Portal};
use ::pgwire::api::query::{
    ExtendedQueryHandler, SimpleQueryHandler, send_execution_response, send_ready_for_query,
};
use ::pgwire::api::results::{CopyResponse, FieldInfo, QueryResponse, Response};
use ::pgwire::api::stmt::{QueryParser, StoredStatement};
use ::pgwire::api::store::{Entry, PortalStore};
use ::pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, PgWireConnectionState, Type};
use ::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use ::pgwire::messages::PgWireBackendMessage;
use ::pgwire::messages::extendedquery::{
    Bind, Close, CloseComplete, Execute, Parse, ParseComplete, Sync as PgSync,
    TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use ::pgwire::messages::response::EmptyQueryResponse;
use ::pgwire::messages::response::ReadyForQuery;
use ::pgwire::messages::simplequery::Query;
use futures::{Sink, SinkExt};

use super::copy::CopyInProgress;
use super::encode::{self, error};
use super::params;
use super::server::{Conn, WorkGuard};
use crate::sql::ast::Statement;
use crate::sql::error::SqlError;
use crate::sql::exec;
use crate::sql::parser;
use crate::sql::session::{Column, QueryResult, Session, TxnState};
use crate::sql::sqlstate::SqlState;
use crate::sql::types::Datum;

/// Statements a connection keeps parsed (the cache starts over when full).
const PARSE_CACHE_ENTRIES: usize = 256;
/// The fixed part of a prepared statement's memory charge.
const STATEMENT_OVERHEAD: u64 = 16 << 10;
/// A prepared statement's memory charge per byte of SQL text.
const STATEMENT_BYTES_PER_CHAR: u64 = 40;
/// The fixed part of a portal's memory charge.
const PORTAL_OVERHEAD: u64 = 512;
/// PostgreSQL's limit on bind parameters.
const MAX_PARAMETERS: usize = u16::MAX as usize;
/// 54023 too_many_arguments.
const TOO_MANY_ARGUMENTS: SqlState = SqlState("54023");

/// A prepared statement: the parsed statement, its parameter types and its result columns.
#[derive(Debug, Clone)]
pub(super) struct Prepared {
    stmt: Arc<Statement>,
    /// One type per parameter (`$1` is index 0): declared by the client, else inferred, else text.
    param_types: Vec<Type>,
    /// The result columns announced by Describe (empty: no rows).
    columns: Vec<Column>,
}

/// The extended protocol's statement parser (it needs the session for Describe).
pub(super) struct Parser {
    conn: Arc<Conn>,
}

/// The simple and extended query handler of one connection.
pub(super) struct QueryHandler {
    conn: Arc<Conn>,
    parser: Arc<Parser>,
}

/// PostgreSQL semantics: any error inside `BEGIN ... COMMIT` aborts the transaction (25P02 until
/// ROLLBACK). The executor does this for the errors it returns; this covers the ones it never
/// sees (a statement that fails to parse or describe) and the ones it leaves the transaction open
/// after (25001 for a nested BEGIN).
pub(super) fn abort_explicit_txn(session: &mut Session) {
    if matches!(session.txn, TxnState::Open(_))
        && let TxnState::Open(txn) = std::mem::replace(&mut session.txn, TxnState::Aborted)
    {
        session.abort_txn(txn, false);
    }
}

pub(super) fn no_session() -> PgWireError {
    error(SqlError::internal(
        "no session: the connection is not authenticated",
    ))
}

impl QueryHandler {
    /// After sending a result failed (a streamed result's rows ended in an error, or the
    /// client went away): the explicit transaction the statement ran in is aborted, as after
    /// any failed statement.
    async fn rows_failed(&self) {
        let mut guard = self.conn.session.lock().await;
        if let Some(session) = guard.as_mut() {
            abort_explicit_txn(session);
            self.conn.note_txn(session);
        }
    }

    /// Applies the `DEALLOCATE`s the last statements ran to the connection's statements.
    fn apply_deallocate<C>(&self, client: &C)
    where
        C: ClientPortalStore,
        C::PortalStore: PortalStore,
    {
        let pending = std::mem::take(&mut *self.conn.deallocate.lock());
        for d in pending {
            let mut held = self.conn.held.lock();
            let names = match d {
                Some(n) => vec![n],
                None => held.named_statements(),
            };
            for n in names {
                held.drop_statement(&n);
                client.portal_store().rm_statement(&n);
            }
        }
    }

    pub(super) fn new(conn: Arc<Conn>) -> QueryHandler {
        QueryHandler {
            parser: Arc::new(Parser { conn: conn.clone() }),
            conn,
        }
    }

    /// Sends the NOTICEs the last statements left in the session (an upgraded isolation level).
    async fn send_notices<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let notices = match self.conn.session.lock().await.as_mut() {
            Some(s) => std::mem::take(&mut s.notices),
            None => return Ok(()),
        };
        for n in notices {
            let info = ErrorInfo::new("NOTICE".to_owned(), "00000".to_owned(), n);
            client
                .feed(PgWireBackendMessage::NoticeResponse(info.into()))
                .await?;
        }
        Ok(())
    }

    fn count_failure(&self) {
        self.conn
            .shared
            .metrics
            .failures
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Runs a simple-protocol query string; one response per statement, stopping at the first
    /// error. Err only when the connection must close (drain).
    async fn run_simple(&self, sql: &str) -> PgWireResult<Vec<Response>> {
        let work = Arc::new(self.conn.begin_work()?);
        let start = Instant::now();
        let mut results = {
            let mut guard = self.conn.session.lock().await;
            let session = guard.as_mut().ok_or_else(no_session)?;
            let results = session.run(sql, &[]).await;
            if results.iter().any(Result::is_err) {
                abort_explicit_txn(session);
            }
            self.conn.note_txn(session);
            results
        };
        self.conn.shared.router.observe_latency(start.elapsed());
        for r in &mut results {
            hold_work(r, &work);
        }
        if results.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        Ok(results
            .into_iter()
            .map(|r| self.response(r, None, None))
            .collect())
    }

    /// Turns one statement's result into a pgwire response (rows encoded eagerly, so an encoding
    /// error becomes this statement's ErrorResponse instead of breaking the stream).
    fn response(
        &self,
        result: Result<QueryResult, SqlError>,
        described: Option<&[Column]>,
        format: Option<&Format>,
    ) -> Response {
        self.conn
            .shared
            .metrics
            .statements
            .fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(QueryResult::Rows { columns, rows }) => {
                // Extended protocol: encode as the client was told at Describe. Rows of another
                // shape than described would break the client's decoding: refuse them.
                let cols = match described {
                    Some(d) if d.len() == columns.len() => d,
                    Some(d) => {
                        self.count_failure();
                        let e = SqlError::unsupported(format!(
                            "statement returned {} columns but was described with {}; run it with the simple query protocol",
                            columns.len(),
                            d.len()
                        ));
                        return Response::Error(Box::new(e.into()));
                    }
                    None => &columns[..],
                };
                let fields = Arc::new(encode::fields(cols, format));
                match rows
                    .iter()
                    .map(|r| encode::encode_row(&fields, r))
                    .collect::<Result<Vec<_>, _>>()
                {
                    Ok(encoded) => Response::Query(QueryResponse::new(
                        fields,
                        futures::stream::iter(encoded.into_iter().map(Ok)),
                    )),
                    Err(e) => {
                        self.count_failure();
                        Response::Error(Box::new(e.into()))
                    }
                }
            }
            Ok(QueryResult::Stream { columns, rows }) => {
                let cols = match described {
                    Some(d) if d.len() == columns.len() => d.to_vec(),
                    Some(_) => {
                        self.count_failure();
                        let e = SqlError::internal("streamed columns differ from the description");
                        return Response::Error(Box::new(e.into()));
                    }
                    None => columns,
                };
                let fields = Arc::new(encode::fields(&cols, format));
                let encode_with = fields.clone();
                let stream = futures::StreamExt::map(
                    rows.0,
                    move |r: Result<Vec<crate::sql::types::Datum>, SqlError>| {
                        r.and_then(|row| encode::encode_row(&encode_with, &row))
                            .map_err(encode::error)
                    },
                );
                Response::Query(QueryResponse::new(fields, stream))
            }
            Ok(QueryResult::Deallocate(name)) => {
                let tag = if name.is_some() {
                    "DEALLOCATE"
                } else {
                    "DEALLOCATE ALL"
                };
                self.conn.deallocate.lock().push(name);
                Response::Execution(encode::command_tag(tag))
            }
            Ok(QueryResult::CopyIn { copy, columns }) => {
                let pool = self.conn.held.lock().pool();
                *self.conn.copy.lock() = Some(CopyInProgress::new(copy, columns, pool));
                Response::CopyIn(CopyResponse::new(0, columns, futures::stream::empty()))
            }
            Ok(QueryResult::Command(tag)) => {
                let t = encode::command_tag(&tag);
                match tag.as_str() {
                    "BEGIN" | "START TRANSACTION" => Response::TransactionStart(t),
                    "COMMIT" | "ROLLBACK" => Response::TransactionEnd(t),
                    _ => Response::Execution(t),
                }
            }
            Err(e) => {
                self.count_failure();
                Response::Error(Box::new(ErrorInfo::from(e)))
            }
        }
    }
}

#[async_trait::async_trait]
impl SimpleQueryHandler for QueryHandler {
    /// Like pgwire's default, but the ReadyForQuery status comes from the session.
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let responses = self.run_simple(&query.query).await?;
        self.send_notices(client).await?;
        self.apply_deallocate(client);
        let status = self.conn.txn_status();
        client.set_transaction_status(status);
        for r in responses {
            match r {
                Response::Query(q) => {
                    if let Err(e) = super::portal::send_query(client, q).await {
                        self.rows_failed().await;
                        client.set_transaction_status(self.conn.txn_status());
                        return Err(e);
                    }
                }
                Response::Execution(tag)
                | Response::TransactionStart(tag)
                | Response::TransactionEnd(tag) => send_execution_response(client, tag).await?,
                Response::EmptyQuery => {
                    client
                        .feed(PgWireBackendMessage::EmptyQueryResponse(
                            EmptyQueryResponse::new(),
                        ))
                        .await?
                }
                Response::Error(e) => {
                    client
                        .feed(PgWireBackendMessage::ErrorResponse((*e).into()))
                        .await?
                }
                // COPY FROM STDIN is always a query string's last statement: the data follows,
                // and ReadyForQuery comes after CopyDone.
                Response::CopyIn(c) => {
                    send_copy_in_response(client, c).await?;
                    client.set_state(PgWireConnectionState::CopyInProgress(false));
                    return Ok(());
                }
                // tandem has no COPY TO.
                Response::CopyOut(_) | Response::CopyBoth(_) => {}
            }
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        send_ready_for_query(client, status).await
    }

    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.run_simple(query).await
    }
}

#[async_trait::async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    /// Bind, answered without a flush (see [`super::portal`]); the portal holds its parameters'
    /// memory under its name ([`super::limits`]; 53200 when the node's SQL memory cannot take
    /// it).
    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.statement_name.as_deref().unwrap_or(DEFAULT_NAME);
        if let Some(Entry::Value(stmt)) = client.portal_store().get_statement(name) {
            let columns = stmt.statement.columns.len();
            if let Err(e) = super::portal::check_result_formats(&message, columns) {
                return Err(self.conn.reject(client, e).await);
            }
        }
        let portal = message
            .portal_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_NAME.to_owned());
        let held = self
            .conn
            .held
            .lock()
            .portal(&portal, portal_bytes(&message));
        if let Err(e) = held {
            client.portal_store().rm_portal(&portal);
            return Err(self.conn.reject(client, e).await);
        }
        let bound = super::portal::bind(client, message).await;
        if bound.is_err() {
            self.conn.held.lock().drop_portal(&portal);
        }
        bound
    }

    /// pgwire's Close, giving back the statement's or portal's memory.
    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_NAME.to_owned());
        match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => {
                self.conn.held.lock().drop_statement(&name);
                client.portal_store().rm_statement(&name);
            }
            TARGET_TYPE_BYTE_PORTAL => {
                self.conn.held.lock().drop_portal(&name);
                client.portal_store().rm_portal(&name);
            }
            _ => {}
        }
        client
            .send(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
            .await?;
        Ok(())
    }

    /// pgwire's Sync, giving back the unnamed portal's memory with the portal.
    async fn on_sync<C>(&self, client: &mut C, _message: PgSync) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.conn.held.lock().drop_portal(DEFAULT_NAME);
        client.portal_store().rm_portal(DEFAULT_NAME);
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                client.transaction_status(),
            )))
            .await?;
        client.flush().await?;
        Ok(())
    }

    /// pgwire's Parse, holding the statement's memory under its name ([`super::limits`]; 53200
    /// when the node's SQL memory cannot take it).
    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_NAME.to_owned());
        let stmt = StoredStatement::parse(client, &message, self.query_parser()).await?;
        let bytes = statement_bytes(&message.query, stmt.as_ref().map(|s| &s.statement));
        let held = self.conn.held.lock().statement(&name, bytes);
        if let Err(e) = held {
            // The statement this Parse replaces is gone either way, as in PostgreSQL.
            client.portal_store().rm_statement(&name);
            return Err(self.conn.reject(client, e).await);
        }
        match stmt {
            Some(stmt) => client.portal_store().put_statement(Arc::new(stmt)),
            None => client.portal_store().put_empty_statement(&name),
        }
        client
            .send(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    /// Execute (see [`super::portal`]), then: the transaction status from the session, and after
    /// an error skip to Sync.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.conn.execute_failed.store(false, Ordering::Relaxed);
        let result = super::portal::execute(self, client, message).await;
        if result.is_err() {
            self.rows_failed().await;
        }
        self.send_notices(client).await?;
        self.apply_deallocate(client);
        client.set_transaction_status(self.conn.txn_status());
        if result.is_ok() && self.conn.execute_failed.swap(false, Ordering::Relaxed) {
            client.set_state(PgWireConnectionState::AwaitingSync);
        }
        result
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let response = match bind_params(portal) {
            Err(e) => {
                self.count_failure();
                Response::Error(Box::new(e.into()))
            }
            Ok(params) => {
                let work = Arc::new(self.conn.begin_work()?);
                let start = Instant::now();
                let mut result = {
                    let mut guard = self.conn.session.lock().await;
                    let session = guard.as_mut().ok_or_else(no_session)?;
                    let r = exec::execute(session, &prepared.stmt, &params).await;
                    if r.is_err() {
                        abort_explicit_txn(session);
                    }
                    self.conn.note_txn(session);
                    r
                };
                self.conn.shared.router.observe_latency(start.elapsed());
                hold_work(&mut result, &work);
                self.response(
                    result,
                    Some(&prepared.columns),
                    Some(&portal.result_column_format),
                )
            }
        };
        if matches!(response, Response::Error(_)) {
            self.conn.execute_failed.store(true, Ordering::Relaxed);
        }
        Ok(response)
    }
}

/// Keeps the connection busy while a streamed result is produced (the statement is still
/// running: a cancel request reaches it, and drain waits for it), until its rows are consumed
/// or dropped.
fn hold_work(result: &mut Result<QueryResult, SqlError>, work: &Arc<WorkGuard>) {
    use futures::StreamExt;
    if let Ok(QueryResult::Stream { rows, .. }) = result {
        let held = work.clone();
        let inner = std::mem::replace(&mut rows.0, futures::stream::empty().boxed());
        rows.0 = inner
            .map(move |r| {
                let _busy = &held;
                r
            })
            .boxed();
    }
}

/// Bytes a prepared statement is charged: its text and the parsed statement, description and
/// parameter types made of it (parse trees take many times the text; see [`super::limits`]).
fn statement_bytes(sql: &str, prepared: Option<&Prepared>) -> u64 {
    let described = prepared.map_or(0, |p| {
        p.columns.len() * std::mem::size_of::<Column>() + p.param_types.len() * 64
    });
    STATEMENT_OVERHEAD + STATEMENT_BYTES_PER_CHAR * sql.len() as u64 + described as u64
}

/// Bytes a portal is charged: its parameters and format codes.
fn portal_bytes(bind: &Bind) -> u64 {
    let params: usize = bind
        .parameters
        .iter()
        .map(|p| 24 + p.as_ref().map_or(0, |b| b.len()))
        .sum();
    let formats = 2 * (bind.parameter_format_codes.len() + bind.result_column_format_codes.len());
    PORTAL_OVERHEAD + (params + formats) as u64
}

/// Decodes a portal's bind parameters into datums (text or binary, by the statement's types).
fn bind_params(portal: &Portal<Prepared>) -> Result<Vec<Datum>, SqlError> {
    let prepared = &portal.statement.statement;
    let given = portal.parameters.len();
    let wanted = prepared.param_types.len();
    if given != wanted {
        return Err(SqlError::new(
            SqlState::PROTOCOL_VIOLATION,
            format!(
                "bind message supplies {given} parameters, but prepared statement \"{}\" requires {wanted}",
                statement_name(&portal.statement.id)
            ),
        ));
    }
    if let Format::Individual(codes) = &portal.parameter_format
        && codes.len() != given
    {
        return Err(SqlError::new(
            SqlState::PROTOCOL_VIOLATION,
            format!(
                "bind message has {} parameter formats but {given} parameters",
                codes.len()
            ),
        ));
    }
    portal
        .parameters
        .iter()
        .zip(&prepared.param_types)
        .enumerate()
        .map(|(i, (raw, ty))| {
            encode::decode_param(
                i,
                raw.as_deref(),
                ty,
                encode::format_for(&portal.parameter_format, i)
                    == ::pgwire::api::results::FieldFormat::Binary,
            )
        })
        .collect()
}

fn statement_name(id: &str) -> &str {
    if id == ::pgwire::api::DEFAULT_NAME {
        ""
    } else {
        id
    }
}

#[async_trait::async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let _work = self.conn.begin_work()?;
        // Drivers parse the same unnamed statements again and again: reuse the description while
        // no statement that could change it has run.
        let key = (sql.to_string(), types.to_vec());
        let generation = exec::schema_generation();
        if let Some((g, p, _)) = self.conn.parse_cache.lock().get(&key)
            && *g == generation
        {
            return Ok(Some(p.clone()));
        }
        let mut guard = self.conn.session.lock().await;
        let session = guard.as_mut().ok_or_else(no_session)?;
        match prepare(session, sql, types).await {
            Ok(p) => {
                // The cache holds memory too: an entry the node's SQL memory cannot take is not
                // cached (the cache is an optimization; nothing fails for it).
                if let Some(prepared) = &p {
                    let pool = self.conn.held.lock().pool();
                    let memory = match pool {
                        Some(pool) => {
                            exec::Reservation::of(&pool, statement_bytes(sql, Some(prepared)))
                                .ok()
                                .map(Some)
                        }
                        None => Some(None),
                    };
                    if let Some(memory) = memory {
                        let mut cache = self.conn.parse_cache.lock();
                        if cache.len() >= PARSE_CACHE_ENTRIES {
                            cache.clear();
                        }
                        cache.insert(key, (generation, prepared.clone(), memory));
                    }
                }
                Ok(p)
            }
            Err(e) => {
                self.conn
                    .shared
                    .metrics
                    .failures
                    .fetch_add(1, Ordering::Relaxed);
                abort_explicit_txn(session);
                self.conn.note_txn(session);
                Err(error(e))
            }
        }
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt.param_types.clone())
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(encode::fields(&stmt.columns, column_format))
    }
}

/// Parses one statement, describes its result columns and settles its parameter types.
async fn prepare(
    session: &mut Session,
    sql: &str,
    types: &[Option<Type>],
) -> Result<Option<Prepared>, SqlError> {
    let mut stmts = parser::parse(sql).map_err(SqlError::from)?;
    let stmt = match stmts.len() {
        0 => return Ok(None),
        1 => stmts.remove(0),
        _ => {
            return Err(SqlError::syntax(
                "cannot insert multiple commands into a prepared statement",
            ));
        }
    };
    let count = params::placeholder_count(sql).max(types.len());
    if count > MAX_PARAMETERS {
        return Err(SqlError::new(
            TOO_MANY_ARGUMENTS,
            format!("statements can have at most {MAX_PARAMETERS} parameters"),
        ));
    }
    let columns = exec::describe(session, &stmt).await?;
    let inferred = params::infer_param_types(session, &stmt).await;
    let param_types = (0..count)
        .map(|i| {
            types
                .get(i)
                .cloned()
                .flatten()
                .or_else(|| inferred.get(&i).cloned())
                .unwrap_or(Type::TEXT)
        })
        .collect();
    Ok(Some(Prepared {
        stmt: Arc::new(stmt),
        param_types,
        columns,
    }))
}
