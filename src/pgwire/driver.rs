//! One SQL connection from its first byte to its close: TLS negotiation, reading each message
//! within its size limit, strict decoding ([`super::decode`]), dispatch to the handlers through
//! the `pgwire` crate's `process_message`, and the answer to whatever goes wrong.
//!
//! The stream can be anything bidirectional ([`ConnStream`]: a TCP socket, or an in-memory pipe
//! in tests), so every connection, real or not, runs this same code. Negotiation follows
//! PostgreSQL: an SSLRequest is answered `S` (TLS configured; bytes sent after the SSLRequest
//! before the handshake are refused) or `N`, a GSSENCRequest `N`; a first byte 0x16 is a direct
//! TLS handshake, accepted only with ALPN `postgresql`. Startup and authentication must finish
//! within [`STARTUP_TIMEOUT`].
//!
//! Failure: a malformed message is answered by an ErrorResponse, FATAL 08P01 (then the
//! connection closes) when its framing or structure is broken, a plain error otherwise (see
//! [`super::decode`]); nothing is left half-read. A panic while a message is handled is caught
//! ([`super::guard`]): the client gets FATAL XX000 and the connection closes; the node and its
//! other connections are unaffected.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use ::pgwire::api::{ClientInfo, DefaultClient, PgWireConnectionState};
use ::pgwire::error::{ErrorInfo, PgWireError};
use ::pgwire::messages::PgWireBackendMessage;
use ::pgwire::messages::PgWireFrontendMessage as Msg;
use ::pgwire::tokio::TlsAcceptor;
use ::pgwire::tokio::server::{PgWireMessageServerCodec, process_error, process_message};
use bytes::{Buf, Bytes, BytesMut};
use futures::SinkExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;
use tokio_util::codec::Framed;

use super::auth::Startup;
use super::copy::CopyIn;
use super::decode::{self, Decoded, Initial, Phase, Problem};
use super::encode::fatal;
use super::guard::{Guarded, guarded};
use super::handler::{Prepared, QueryHandler};
use super::server::{Canceller, Conn};
use crate::sql::error::SqlError;
use crate::sql::sqlstate::SqlState;

/// How long a client has from connecting to being authenticated (PostgreSQL's
/// `authentication_timeout`).
pub(super) const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the last words to a client (the error before closing) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// A TLS record starts with this byte (content type handshake).
const TLS_HANDSHAKE: u8 = 0x16;
const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// A byte stream a SQL connection runs over.
pub trait ConnStream: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static> ConnStream for T {}

type Socket = Framed<Box<dyn ConnStream>, PgWireMessageServerCodec<Prepared>>;

/// The handlers of one connection.
pub(super) struct Handlers {
    pub(super) startup: Arc<Startup>,
    pub(super) query: Arc<QueryHandler>,
    pub(super) copy: Arc<CopyIn>,
    pub(super) cancel: Arc<Canceller>,
}

/// Why reading a message stopped.
enum ReadError {
    Io(io::Error),
    Bad(Problem),
    /// A statement or data message longer than the limit: refused with this problem after
    /// `rest` more bytes (the unread remainder of the message) are discarded, so the client
    /// reads the error instead of a connection reset.
    TooLarge(Problem, usize),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Buffered bytes of the client not consumed yet.
#[derive(Default)]
struct Reader {
    buf: BytesMut,
}

impl Reader {
    /// Reads until `n` bytes are buffered (memory grows with what arrives, not with what a length
    /// field announces); false at end of stream.
    async fn fill<S: AsyncRead + Unpin + ?Sized>(
        &mut self,
        io: &mut S,
        n: usize,
    ) -> io::Result<bool> {
        while self.buf.len() < n {
            self.buf.reserve((n - self.buf.len()).min(64 << 10));
            if io.read_buf(&mut self.buf).await? == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The body of the next untyped packet (length, then body); None at end of stream.
    async fn packet<S: AsyncRead + Unpin + ?Sized>(
        &mut self,
        io: &mut S,
    ) -> Result<Option<Bytes>, ReadError> {
        if !self.fill(io, 4).await? {
            return Ok(None);
        }
        let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        let len = usize::try_from(len).unwrap_or(0);
        if !(8..=decode::MAX_STARTUP_PACKET).contains(&len) {
            return Err(ReadError::Bad(Problem::violation(
                "invalid length of startup packet",
            )));
        }
        if !self.fill(io, len).await? {
            return Ok(None);
        }
        let mut packet = self.buf.split_to(len);
        packet.advance(4);
        Ok(Some(packet.freeze()))
    }

    /// The type byte and body of the next message, whose body may be at most `large` bytes if
    /// it carries a statement or data ([`decode::is_large`]); None at end of stream.
    async fn message<S: AsyncRead + Unpin + ?Sized>(
        &mut self,
        io: &mut S,
        large: usize,
    ) -> Result<Option<(u8, Bytes)>, ReadError> {
        if !self.fill(io, 1).await? {
            return Ok(None);
        }
        let tag = self.buf[0];
        let max =
            decode::max_len(tag, large).ok_or_else(|| ReadError::Bad(decode::unknown_type(tag)))?;
        if !self.fill(io, 5).await? {
            return Ok(None);
        }
        let len = i32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        let body = usize::try_from(len).ok().and_then(|l| l.checked_sub(4));
        let body = match body {
            Some(b) if b <= max => b,
            Some(b) if decode::is_large(tag) => {
                let rest = (5 + b).saturating_sub(self.buf.len());
                self.buf.clear();
                return Err(ReadError::TooLarge(decode::too_large(b + 4, max), rest));
            }
            _ => {
                return Err(ReadError::Bad(Problem::violation(format!(
                    "invalid message length {len} for message type {tag}"
                ))));
            }
        };
        if !self.fill(io, 5 + body).await? {
            return Ok(None);
        }
        let mut msg = self.buf.split_to(5 + body);
        msg.advance(5);
        Ok(Some((tag, msg.freeze())))
    }
}

/// Bytes already read from a stream, served again before the rest of it (the first byte of a
/// direct TLS handshake).
struct Prefixed {
    prefix: Bytes,
    inner: Box<dyn ConnStream>,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let head = self.prefix.split_to(n);
            buf.put_slice(&head);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A FATAL ErrorResponse as bytes (before the framed socket exists).
fn error_bytes(e: SqlError) -> Vec<u8> {
    let mut buf = BytesMut::new();
    match PgWireBackendMessage::ErrorResponse(error_info(e).into()).encode(&mut buf) {
        Ok(()) => buf.to_vec(),
        Err(_) => Vec::new(),
    }
}

/// Writes a FATAL error to a raw stream and closes it (bounded in time).
async fn refuse_raw(io: &mut Box<dyn ConnStream>, e: SqlError) {
    let bytes = error_bytes(e);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        io.write_all(&bytes).await?;
        io.shutdown().await
    })
    .await;
}

/// Sends a FATAL error on the framed socket and closes it (bounded in time).
async fn refuse(socket: &mut Socket, e: SqlError) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        let response = PgWireBackendMessage::ErrorResponse(error_info(e).into());
        socket.send(response).await?;
        socket.close().await
    })
    .await;
}

/// Sends a FATAL error, then reads and discards up to `rest` bytes the client is still sending
/// (all bounded by [`CLOSE_TIMEOUT`]) before closing: closing with unread input would reset the
/// connection, and the client could lose the error.
async fn refuse_draining(socket: &mut Socket, e: SqlError, rest: usize) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        let response = PgWireBackendMessage::ErrorResponse(error_info(e).into());
        socket.send(response).await?;
        let io = socket.get_mut();
        let mut scratch = vec![0u8; 64 << 10];
        let mut left = rest;
        while left > 0 {
            let want = left.min(scratch.len());
            let n = io.read(&mut scratch[..want]).await?;
            if n == 0 {
                break;
            }
            left -= n;
        }
        socket.close().await
    })
    .await;
}

/// The FATAL form of `e`.
fn error_info(e: SqlError) -> ErrorInfo {
    match fatal(e) {
        PgWireError::UserError(info) => *info,
        other => other.into(),
    }
}

/// What negotiation produced: the stream (TLS or not) and the first packet if it was read.
struct Negotiated {
    io: Box<dyn ConnStream>,
    secure: bool,
    client_cn: Option<String>,
    first: Option<Initial>,
}

/// SSLRequest / GSSENCRequest / direct TLS, up to the first packet that is not a negotiation.
/// None: the connection is over (refused, broken or timed out).
async fn negotiate(
    mut io: Box<dyn ConnStream>,
    rd: &mut Reader,
    tls: Option<&TlsAcceptor>,
) -> Option<Negotiated> {
    let mut ssl_done = false;
    let mut gss_done = false;
    if !rd.fill(&mut io, 1).await.ok()? {
        return None;
    }
    if rd.buf[0] == TLS_HANDSHAKE {
        let acceptor = tls?;
        let prefixed = Prefixed {
            prefix: rd.buf.split().freeze(),
            inner: io,
        };
        let stream = acceptor.accept(prefixed).await.ok()?;
        if stream.get_ref().1.alpn_protocol() != Some(ALPN_POSTGRESQL) {
            tracing::debug!("direct TLS connection without ALPN postgresql refused");
            return None;
        }
        let client_cn = client_common_name(stream.get_ref().1.peer_certificates());
        return Some(Negotiated {
            io: Box::new(stream),
            secure: true,
            client_cn,
            first: None,
        });
    }
    loop {
        let packet = match rd.packet(&mut io).await {
            Ok(Some(p)) => p,
            Ok(None) | Err(ReadError::Io(_)) => return None,
            Err(ReadError::Bad(p) | ReadError::TooLarge(p, _)) => {
                refuse_raw(&mut io, p.error).await;
                return None;
            }
        };
        let initial = match guarded(|| decode::initial(packet)) {
            Ok(Ok(i)) => i,
            Ok(Err(p)) => {
                refuse_raw(&mut io, p.error).await;
                return None;
            }
            Err(_) => {
                refuse_raw(&mut io, SqlError::internal("malformed startup packet")).await;
                return None;
            }
        };
        match initial {
            Initial::Ssl if !ssl_done => {
                if !rd.buf.is_empty() {
                    let e = Problem::violation("received unencrypted data after SSL request");
                    refuse_raw(&mut io, e.error).await;
                    return None;
                }
                let Some(acceptor) = tls else {
                    io.write_all(b"N").await.ok()?;
                    ssl_done = true;
                    continue;
                };
                io.write_all(b"S").await.ok()?;
                io.flush().await.ok()?;
                let stream = acceptor.accept(io).await.ok()?;
                let client_cn = client_common_name(stream.get_ref().1.peer_certificates());
                return Some(Negotiated {
                    io: Box::new(stream),
                    secure: true,
                    client_cn,
                    first: None,
                });
            }
            Initial::Gss if !gss_done => {
                io.write_all(b"N").await.ok()?;
                gss_done = true;
            }
            Initial::Ssl | Initial::Gss => {
                let e = Problem::violation("duplicate SSL or GSS negotiation request");
                refuse_raw(&mut io, e.error).await;
                return None;
            }
            first => {
                return Some(Negotiated {
                    io,
                    secure: false,
                    client_cn: None,
                    first: Some(first),
                });
            }
        }
    }
}

/// The CN of the client certificate (already verified against the CA by rustls).
fn client_common_name(chain: Option<&[rustls::pki_types::CertificateDer<'_>]>) -> Option<String> {
    chain
        .and_then(|c| c.first())
        .and_then(|c| crate::security::peer_common_name(c.as_ref()).ok())
}

/// Serves one connection until it ends. `peer` is the client's address.
pub(super) async fn serve(
    io: Box<dyn ConnStream>,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    conn: Arc<Conn>,
    handlers: Handlers,
) {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut rd = Reader::default();
    let Ok(Some(mut n)) =
        tokio::time::timeout_at(deadline, negotiate(io, &mut rd, tls.as_ref())).await
    else {
        return;
    };
    let first = match n.first.take() {
        Some(first) => first,
        None => {
            // After TLS: the first packet is a startup message or a cancel request.
            let packet = match tokio::time::timeout_at(deadline, rd.packet(&mut n.io)).await {
                Ok(Ok(Some(p))) => p,
                Ok(Err(ReadError::Bad(p))) => return refuse_raw(&mut n.io, p.error).await,
                _ => return,
            };
            match guarded(|| decode::initial(packet)) {
                Ok(Ok(Initial::Ssl | Initial::Gss)) => {
                    let e = Problem::violation("SSL or GSS negotiation request after TLS");
                    return refuse_raw(&mut n.io, e.error).await;
                }
                Ok(Ok(first)) => first,
                Ok(Err(p)) => return refuse_raw(&mut n.io, p.error).await,
                Err(_) => {
                    let e = SqlError::internal("malformed startup packet");
                    return refuse_raw(&mut n.io, e).await;
                }
            }
        }
    };
    *conn.client_cn.lock() = n.client_cn.take();
    let client = DefaultClient::new(peer, n.secure);
    let mut socket = Framed::new(n.io, PgWireMessageServerCodec::new(client));
    socket.set_state(PgWireConnectionState::AwaitingStartup);
    let first = match first {
        Initial::Cancel(c) => Msg::CancelRequest(c),
        Initial::Startup(s) => Msg::Startup(s),
        Initial::Ssl | Initial::Gss => return,
    };
    run(&mut socket, &mut rd, first, deadline, &conn, &handlers).await;
}

/// The message loop, starting with the first packet.
async fn run(
    socket: &mut Socket,
    rd: &mut Reader,
    first: Msg,
    deadline: Instant,
    conn: &Arc<Conn>,
    h: &Handlers,
) {
    let mut next = Some(first);
    let mut sasl_started = false;
    loop {
        let state = socket.state();
        let msg = match next.take() {
            Some(m) => m,
            None => {
                let phase = match state {
                    PgWireConnectionState::AwaitingSslRequest
                    | PgWireConnectionState::AwaitingStartup => return,
                    PgWireConnectionState::AuthenticationInProgress if sasl_started => {
                        Phase::SaslContinue
                    }
                    PgWireConnectionState::AuthenticationInProgress => Phase::SaslInitial,
                    PgWireConnectionState::ReadyForQuery
                    | PgWireConnectionState::QueryInProgress => Phase::Ready,
                    PgWireConnectionState::CopyInProgress(_) => Phase::Copy,
                    PgWireConnectionState::AwaitingSync => Phase::AwaitingSync,
                };
                let authenticating = matches!(phase, Phase::SaslInitial | Phase::SaslContinue);
                let large = conn.max_message.load(Ordering::Relaxed);
                let read = rd.message(socket.get_mut(), large);
                let read = if authenticating {
                    match tokio::time::timeout_at(deadline, read).await {
                        Ok(r) => r,
                        Err(_) => return,
                    }
                } else {
                    read.await
                };
                let (tag, body) = match read {
                    Ok(Some(m)) => m,
                    Ok(None) => return,
                    Err(ReadError::Io(e)) => {
                        tracing::debug!("pgwire connection broke: {e}");
                        return;
                    }
                    Err(ReadError::Bad(p)) => {
                        count_protocol_error(conn);
                        return refuse(socket, p.error).await;
                    }
                    Err(ReadError::TooLarge(p, rest)) => {
                        count_protocol_error(conn);
                        return refuse_draining(socket, p.error, rest).await;
                    }
                };
                match guarded(|| decode::message(tag, body, phase)) {
                    Ok(Ok(Decoded::Message(m))) => m,
                    Ok(Ok(Decoded::Skip)) => continue,
                    Ok(Err(p)) => {
                        count_protocol_error(conn);
                        let answered =
                            Guarded(std::pin::pin!(reject(socket, p, tag, state, conn))).await;
                        match answered {
                            Ok(true) => continue,
                            Ok(false) => return,
                            Err(_) => return on_panic(socket, conn).await,
                        }
                    }
                    Err(_) => return on_panic(socket, conn).await,
                }
            }
        };
        if matches!(msg, Msg::Terminate(_)) {
            return;
        }
        if matches!(msg, Msg::PasswordMessageFamily(_)) {
            sasl_started = true;
        }
        let is_extended = match state {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => msg.is_extended_query(),
        };
        let is_cancel = matches!(msg, Msg::CancelRequest(_));
        let handled = Guarded(std::pin::pin!(process_message(
            msg,
            socket,
            h.startup.clone(),
            h.query.clone(),
            h.query.clone(),
            h.copy.clone(),
            h.cancel.clone(),
        )))
        .await;
        match handled {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let fatal = e.is_fatal();
                if process_error(socket, e, is_extended).await.is_err() || fatal {
                    return;
                }
            }
            Err(_) => return on_panic(socket, conn).await,
        }
        if is_cancel {
            return;
        }
    }
}

/// Answers a well-framed message the decoder refused; false when the connection must close.
async fn reject(
    socket: &mut Socket,
    p: Problem,
    tag: u8,
    state: PgWireConnectionState,
    conn: &Conn,
) -> bool {
    if p.fatal {
        refuse(socket, p.error).await;
        return false;
    }
    let wait_for_sync = match state {
        PgWireConnectionState::CopyInProgress(extended) => extended,
        _ => matches!(tag, b'P' | b'B' | b'E' | b'D' | b'C' | b'H' | b'S'),
    };
    let e = conn.reject(socket, p.error).await;
    process_error(socket, e, wait_for_sync).await.is_ok()
}

fn count_protocol_error(conn: &Conn) {
    conn.shared
        .metrics
        .protocol_errors
        .fetch_add(1, Ordering::Relaxed);
}

/// A handler panicked (logged by the panic hook): count it, tell the client, close.
async fn on_panic(socket: &mut Socket, conn: &Conn) {
    conn.shared.metrics.panics.fetch_add(1, Ordering::Relaxed);
    let e = SqlError::new(
        SqlState::INTERNAL_ERROR,
        "internal error: the server hit a bug while handling this connection's message; the connection is closed",
    );
    refuse(socket, e).await;
}
