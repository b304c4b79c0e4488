//! Strict decoding of what a client sends: the untyped first packet (SSLRequest, GSSENCRequest,
//! CancelRequest, StartupMessage) and every typed frontend message, into the `pgwire` crate's
//! message structs. The crate's own decoders are never used: they read past a message's end on
//! malformed input (and panic at the end of the buffer), silently replace invalid UTF-8, and let
//! a wrong length desynchronize the stream.
//!
//! Every message is decoded from exactly the bytes its length announced ([`super::driver`]
//! reads them, after checking the length against [`max_len`]): each field must fit, strings must
//! be NUL-terminated inside the message, counts must match what follows, nothing may be left over.
//! A violation of that structure is [`Problem::fatal`] (08P01: the client and the server no
//! longer agree on the protocol, so the connection closes after the error). Well-framed messages
//! whose content is unacceptable are plain errors the session survives (in the extended protocol
//! the connection then skips to Sync, as PostgreSQL does):
//! - invalid UTF-8 in a query, statement or portal name (22021);
//! - a Bind format code other than 0 (text) or 1 (binary) (22023), or a number of parameter
//!   format codes other than 0, 1 or the number of parameters (08P01);
//! - a Parse parameter type that is not a known type OID (08P01 `unknown oid type`) or a type
//!   tandem cannot decode parameters of (0A000);
//! - a Describe or Close of something other than a statement or a portal (08P01);
//! - a FunctionCall (0A000), or a message that has no place inside COPY (08P01).
//!
//! Before authentication everything is fatal. Which message types are allowed depends on the
//! [`Phase`]; a type byte no frontend message has is fatal everywhere.

use ::pgwire::messages::PgWireFrontendMessage as Msg;
use ::pgwire::messages::cancel::CancelRequest;
use ::pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use ::pgwire::messages::extendedquery::{Bind, Close, Describe, Execute, Flush, Parse, Sync};
use ::pgwire::messages::simplequery::Query;
use ::pgwire::messages::startup::{
    PasswordMessageFamily, SASLInitialResponse, SASLResponse, SecretKey, Startup,
};
use ::pgwire::messages::terminate::Terminate;
use bytes::Bytes;
use std::collections::BTreeMap;

use super::encode;
use crate::sql::error::SqlError;
use crate::sql::sqlstate::SqlState;

mod cursor;
use cursor::{Cursor, name, text};

/// The largest first packet (PostgreSQL's MAX_STARTUP_PACKET_LENGTH).
pub(super) const MAX_STARTUP_PACKET: usize = 10_000;
/// The largest authentication message (PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH).
pub(super) const MAX_AUTH_MESSAGE: usize = 65_535;
/// The largest Query, Parse, Bind, CopyData or CopyFail until a session reads its virtual
/// cluster's `sql.conn.max_read_buffer_message_size` (whose default this is).
pub(super) const MAX_MESSAGE: usize = 16 << 20;
/// The cluster setting that sets the largest Query, Parse, Bind, CopyData or CopyFail.
pub(super) const MAX_MESSAGE_SETTING: &str = "sql.conn.max_read_buffer_message_size";
/// The largest of the other messages (Execute, Describe, Close, Sync, ...: a name at most).
const MAX_SMALL_MESSAGE: usize = 65_535;

const SSL_REQUEST: u32 = 80_877_103;
const GSS_ENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    /// The connection must close after the error (FATAL).
    pub(super) fatal: bool,
    /// What the client is told.
    pub(super) error: SqlError,
}

impl Problem {
    /// A broken message structure: FATAL 08P01.
    pub(super) fn violation(message: impl Into<String>) -> Problem {
        Problem {
            fatal: true,
            error: SqlError::new(SqlState::PROTOCOL_VIOLATION, message),
        }
    }

    fn error(error: SqlError) -> Problem {
        Problem {
            fatal: false,
            error,
        }
    }

    fn into_fatal(mut self) -> Problem {
        self.fatal = true;
        self
    }
}

type Result<T> = std::result::Result<T, Problem>;

/// The first packet of a connection.
#[derive(Debug)]
pub(super) enum Initial {
    /// SSLRequest.
    Ssl,
    /// GSSENCRequest.
    Gss,
    /// CancelRequest (a connection of its own).
    Cancel(CancelRequest),
    /// StartupMessage.
    Startup(Startup),
}

/// Where the connection is, which decides the messages it may receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Authentication started; the next message is the SASLInitialResponse.
    SaslInitial,
    /// The SASL exchange continues with SASLResponses.
    SaslContinue,
    /// A session: queries and the extended protocol.
    Ready,
    /// COPY FROM STDIN is receiving data.
    Copy,
    /// After an error in the extended protocol: everything up to Sync is discarded.
    AwaitingSync,
}

/// A decoded message, or one to discard unread (as PostgreSQL does).
#[derive(Debug)]
pub(super) enum Decoded {
    /// Hand to the handlers.
    Message(Msg),
    /// Discard: CopyData/CopyDone/CopyFail outside COPY, anything but Sync after an error.
    Skip,
}

/// Whether messages of type `tag` carry statements or data (Query, Parse, Bind, CopyData,
/// CopyFail, FunctionCall), limited by `sql.conn.max_read_buffer_message_size`.
pub(super) fn is_large(tag: u8) -> bool {
    matches!(tag, b'Q' | b'P' | b'B' | b'd' | b'f' | b'F')
}

/// The largest body (after the type byte and length) a message of type `tag` may have, where
/// `large` is the connection's limit for [`is_large`] types; None for a type byte no frontend
/// message has.
pub(super) fn max_len(tag: u8, large: usize) -> Option<usize> {
    match tag {
        _ if is_large(tag) => Some(large),
        b'p' => Some(MAX_AUTH_MESSAGE),
        b'E' | b'D' | b'C' | b'H' | b'S' | b'X' | b'c' => Some(MAX_SMALL_MESSAGE),
        _ => None,
    }
}

/// The error for a statement or data message longer than the connection's limit: FATAL 08P01
/// (the rest of the message is never read, so the connection cannot go on), with CockroachDB's
/// wording and a hint naming the setting.
pub(super) fn too_large(len: usize, max: usize) -> Problem {
    use crate::sql::cluster_settings::humanize_size;
    let mut p = Problem::violation(format!(
        "message size {} bigger than maximum allowed message size {}",
        humanize_size(len as u64),
        humanize_size(max as u64)
    ));
    p.error = p.error.with_hint(format!(
        "the maximum message size can be configured using the {MAX_MESSAGE_SETTING} cluster setting"
    ));
    p
}

/// The error for a type byte no frontend message has.
pub(super) fn unknown_type(tag: u8) -> Problem {
    Problem::violation(format!("invalid frontend message type {tag}"))
}

/// Decodes the first packet of a connection (`body`: what follows the 4-byte length, which the
/// caller checked to be 8..=[`MAX_STARTUP_PACKET`]). Every problem is fatal.
pub(super) fn initial(body: Bytes) -> Result<Initial> {
    let mut c = Cursor::new(body);
    let code = c.u32()?;
    let fixed = |c: &Cursor, what: &str| {
        if c.remaining() == 0 {
            Ok(())
        } else {
            Err(Problem::violation(format!("invalid length of {what}")))
        }
    };
    match code {
        SSL_REQUEST => fixed(&c, "SSLRequest").map(|_| Initial::Ssl),
        GSS_ENC_REQUEST => fixed(&c, "GSSENCRequest").map(|_| Initial::Gss),
        CANCEL_REQUEST => {
            let pid = c.i32()?;
            let key = c.rest();
            if !(4..=256).contains(&key.len()) {
                return Err(Problem::violation("invalid length of CancelRequest"));
            }
            Ok(Initial::Cancel(CancelRequest::new(
                pid,
                SecretKey::Bytes(key),
            )))
        }
        _ => startup(code, c).map_err(Problem::into_fatal),
    }
}

fn startup(code: u32, mut c: Cursor) -> Result<Initial> {
    let (major, minor) = ((code >> 16) as u16, (code & 0xffff) as u16);
    if major != 3 {
        return Err(Problem {
            fatal: true,
            error: SqlError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                format!(
                    "unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.2"
                ),
            ),
        });
    }
    let layout =
        || Problem::violation("invalid startup packet layout: expected terminator as last byte");
    let mut parameters = BTreeMap::new();
    loop {
        let key = c.cstr().map_err(|_| layout())?;
        if key.is_empty() {
            break;
        }
        let value = c.cstr().map_err(|_| layout())?;
        parameters.insert(text(&key)?, text(&value)?);
    }
    c.end().map_err(|_| layout())?;
    let mut s = Startup::new();
    s.protocol_number_major = major;
    s.protocol_number_minor = minor;
    s.parameters = parameters;
    Ok(Initial::Startup(s))
}

/// Decodes one typed message received in `phase` (`body`: what follows the length, which the
/// caller checked against [`max_len`]).
pub(super) fn message(tag: u8, body: Bytes, phase: Phase) -> Result<Decoded> {
    if max_len(tag, MAX_MESSAGE).is_none() {
        return Err(unknown_type(tag));
    }
    let mut c = Cursor::new(body);
    if tag == b'X' {
        c.end()?;
        return Ok(Decoded::Message(Msg::Terminate(Terminate::new())));
    }
    match phase {
        Phase::SaslInitial | Phase::SaslContinue => {
            sasl(tag, c, phase == Phase::SaslInitial).map_err(Problem::into_fatal)
        }
        Phase::AwaitingSync => match tag {
            b'S' => c.end().map(|_| Decoded::Message(Msg::Sync(Sync::new()))),
            b'p' => Err(unknown_type(tag)),
            _ => Ok(Decoded::Skip),
        },
        Phase::Copy => match tag {
            b'd' => Ok(Decoded::Message(Msg::CopyData(CopyData::new(c.rest())))),
            b'c' => c
                .end()
                .map(|_| Decoded::Message(Msg::CopyDone(CopyDone::new()))),
            b'f' => copy_fail(c),
            b'H' => c.end().map(|_| Decoded::Message(Msg::Flush(Flush::new()))),
            b'S' => c.end().map(|_| Decoded::Message(Msg::Sync(Sync::new()))),
            b'p' => Err(unknown_type(tag)),
            _ => Err(Problem::error(SqlError::new(
                SqlState::PROTOCOL_VIOLATION,
                format!("unexpected message type 0x{tag:02X} during COPY from stdin"),
            ))),
        },
        Phase::Ready => ready(tag, c),
    }
}

fn sasl(tag: u8, mut c: Cursor, initial: bool) -> Result<Decoded> {
    if tag != b'p' {
        return Err(Problem::violation(format!(
            "expected SASL response, got message type {tag}"
        )));
    }
    let msg = if initial {
        let mechanism = text(&c.cstr()?)?;
        let len = c.i32()?;
        let data = match len {
            -1 => None,
            n if n >= 0 => Some(c.take(n as usize)?),
            _ => {
                return Err(Problem::violation(
                    "invalid SASLInitialResponse data length",
                ));
            }
        };
        c.end()?;
        PasswordMessageFamily::SASLInitialResponse(SASLInitialResponse::new(mechanism, data))
    } else {
        PasswordMessageFamily::SASLResponse(SASLResponse::new(c.rest()))
    };
    Ok(Decoded::Message(Msg::PasswordMessageFamily(msg)))
}

fn copy_fail(mut c: Cursor) -> Result<Decoded> {
    let message = c.cstr()?;
    c.end()?;
    Ok(Decoded::Message(Msg::CopyFail(CopyFail::new(text(
        &message,
    )?))))
}

fn ready(tag: u8, mut c: Cursor) -> Result<Decoded> {
    let msg = match tag {
        b'Q' => {
            let query = c.cstr()?;
            c.end()?;
            Msg::Query(Query::new(text(&query)?))
        }
        b'P' => parse(c)?,
        b'B' => bind(c)?,
        b'E' => {
            let portal = c.cstr()?;
            let max_rows = c.i32()?;
            c.end()?;
            Msg::Execute(Execute::new(name(&portal)?, max_rows))
        }
        b'D' | b'C' => {
            let target = c.u8()?;
            let target_name = c.cstr()?;
            c.end()?;
            if target != b'S' && target != b'P' {
                let what = if tag == b'D' { "DESCRIBE" } else { "CLOSE" };
                return Err(Problem::error(SqlError::new(
                    SqlState::PROTOCOL_VIOLATION,
                    format!("invalid {what} message subtype {target}"),
                )));
            }
            let n = name(&target_name)?;
            if tag == b'D' {
                Msg::Describe(Describe::new(target, n))
            } else {
                Msg::Close(Close::new(target, n))
            }
        }
        b'H' => c.end().map(|_| Msg::Flush(Flush::new()))?,
        b'S' => c.end().map(|_| Msg::Sync(Sync::new()))?,
        // Leftovers of a COPY that failed: PostgreSQL ignores them too.
        b'd' | b'c' | b'f' => return Ok(Decoded::Skip),
        b'F' => {
            return Err(Problem::error(SqlError::unsupported(
                "the function call sub-protocol",
            )));
        }
        _ => return Err(unknown_type(tag)),
    };
    Ok(Decoded::Message(msg))
}

fn parse(mut c: Cursor) -> Result<Msg> {
    let stmt = c.cstr()?;
    let query = c.cstr()?;
    let n = c.u16()?;
    let mut type_oids = Vec::with_capacity(usize::from(n).min(c.remaining() / 4));
    for _ in 0..n {
        type_oids.push(c.u32()?);
    }
    c.end()?;
    let stmt = name(&stmt)?;
    let query = text(&query)?;
    for oid in &type_oids {
        encode::check_declared_param(*oid).map_err(Problem::error)?;
    }
    Ok(Msg::Parse(Parse::new(stmt, query, type_oids)))
}

fn format_codes(c: &mut Cursor) -> Result<Vec<i16>> {
    let n = c.u16()?;
    let mut codes = Vec::with_capacity(usize::from(n).min(c.remaining() / 2));
    for _ in 0..n {
        codes.push(c.i16()?);
    }
    Ok(codes)
}

fn bind(mut c: Cursor) -> Result<Msg> {
    let portal = c.cstr()?;
    let stmt = c.cstr()?;
    let param_formats = format_codes(&mut c)?;
    let n = c.u16()?;
    let mut params = Vec::with_capacity(usize::from(n).min(c.remaining() / 4));
    for i in 1..=n {
        match c.i32()? {
            -1 => params.push(None),
            len if len >= 0 => params.push(Some(c.take(len as usize)?)),
            len => {
                return Err(Problem::violation(format!(
                    "invalid length {len} of bind parameter ${i}"
                )));
            }
        }
    }
    let result_formats = format_codes(&mut c)?;
    c.end()?;
    let portal = name(&portal)?;
    let stmt = name(&stmt)?;
    if let Some(code) = param_formats
        .iter()
        .chain(&result_formats)
        .find(|f| **f != 0 && **f != 1)
    {
        return Err(Problem::error(SqlError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("unsupported format code: {code}"),
        )));
    }
    if param_formats.len() > 1 && param_formats.len() != params.len() {
        return Err(Problem::error(SqlError::new(
            SqlState::PROTOCOL_VIOLATION,
            format!(
                "bind message has {} parameter formats but {} parameters",
                param_formats.len(),
                params.len()
            ),
        )));
    }
    Ok(Msg::Bind(Bind::new(
        portal,
        stmt,
        param_formats,
        params,
        result_formats,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cstr(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(s);
        out.push(0);
    }

    fn msg(tag: u8, body: Vec<u8>, phase: Phase) -> Result<Decoded> {
        message(tag, Bytes::from(body), phase)
    }

    fn problem(r: Result<Decoded>) -> Problem {
        match r {
            Err(p) => p,
            Ok(d) => panic!("accepted: {d:?}"),
        }
    }

    fn fatal_08p01(r: Result<Decoded>) {
        let p = problem(r);
        assert!(p.fatal, "{p:?}");
        assert_eq!(p.error.state, SqlState::PROTOCOL_VIOLATION, "{p:?}");
    }

    fn error(r: Result<Decoded>, state: &str) {
        let p = problem(r);
        assert!(!p.fatal, "{p:?}");
        assert_eq!(p.error.state.0, state, "{p:?}");
    }

    fn decoded(r: Result<Decoded>) -> Msg {
        match r {
            Ok(Decoded::Message(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    fn bind_body(formats: &[i16], params: &[Option<&[u8]>], results: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        cstr(&mut b, b"");
        cstr(&mut b, b"s1");
        b.extend_from_slice(&(formats.len() as u16).to_be_bytes());
        formats
            .iter()
            .for_each(|f| b.extend_from_slice(&f.to_be_bytes()));
        b.extend_from_slice(&(params.len() as u16).to_be_bytes());
        for p in params {
            match p {
                Some(v) => {
                    b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    b.extend_from_slice(v);
                }
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        b.extend_from_slice(&(results.len() as u16).to_be_bytes());
        results
            .iter()
            .for_each(|f| b.extend_from_slice(&f.to_be_bytes()));
        b
    }

    #[test]
    fn first_packets() {
        let mut body = 196_608u32.to_be_bytes().to_vec();
        for s in [&b"user"[..], b"root", b"database", b"db"] {
            cstr(&mut body, s);
        }
        body.push(0);
        match initial(Bytes::from(body.clone())).expect("startup") {
            Initial::Startup(s) => {
                assert_eq!((s.protocol_number_major, s.protocol_number_minor), (3, 0));
                assert_eq!(s.parameters.get("user").map(String::as_str), Some("root"));
                assert_eq!(s.parameters.get("database").map(String::as_str), Some("db"));
            }
            other => panic!("{other:?}"),
        }
        // Without its final terminator, a key without a value, trailing bytes, bad UTF-8.
        for bad in [
            body[..body.len() - 1].to_vec(),
            [&body[..body.len() - 4], b"\0"].concat(),
            [&body[..], b"x"].concat(),
            [&body[..4], b"user\0\xff\xfe\0\0"].concat(),
        ] {
            let p = initial(Bytes::from(bad.clone())).expect_err("malformed");
            assert!(p.fatal, "{bad:?}: {p:?}");
        }
        let old = [0, 2, 0, 0, 0];
        assert_eq!(
            initial(Bytes::copy_from_slice(&old))
                .expect_err("2.0")
                .error
                .state,
            SqlState::FEATURE_NOT_SUPPORTED
        );
        assert!(matches!(
            initial(Bytes::copy_from_slice(&SSL_REQUEST.to_be_bytes())),
            Ok(Initial::Ssl)
        ));
        assert!(matches!(
            initial(Bytes::copy_from_slice(&GSS_ENC_REQUEST.to_be_bytes())),
            Ok(Initial::Gss)
        ));
        assert!(initial(Bytes::from([&SSL_REQUEST.to_be_bytes()[..], &[0]].concat())).is_err());
        let cancel = |key: usize| {
            let mut b = CANCEL_REQUEST.to_be_bytes().to_vec();
            b.extend_from_slice(&7i32.to_be_bytes());
            b.extend(std::iter::repeat_n(9u8, key));
            initial(Bytes::from(b))
        };
        match cancel(4).expect("cancel") {
            Initial::Cancel(c) => {
                assert_eq!(c.pid, 7);
                assert_eq!(c.secret_key.to_bytes().as_ref(), &[9, 9, 9, 9]);
            }
            other => panic!("{other:?}"),
        }
        assert!(cancel(32).is_ok());
        assert!(cancel(3).is_err() && cancel(257).is_err());
    }

    #[test]
    fn sasl_messages() {
        let mut b = Vec::new();
        cstr(&mut b, b"SCRAM-SHA-256");
        // The body ends right after the mechanism name (no data length).
        fatal_08p01(msg(b'p', b.clone(), Phase::SaslInitial));
        for len in [-2i32, 5, i32::MAX] {
            let mut bad = b.clone();
            bad.extend_from_slice(&len.to_be_bytes());
            bad.extend_from_slice(b"n,,n");
            fatal_08p01(msg(b'p', bad, Phase::SaslInitial));
        }
        let mut ok = b.clone();
        ok.extend_from_slice(&4i32.to_be_bytes());
        ok.extend_from_slice(b"n,,n");
        match decoded(msg(b'p', ok, Phase::SaslInitial)) {
            Msg::PasswordMessageFamily(PasswordMessageFamily::SASLInitialResponse(r)) => {
                assert_eq!(r.auth_method, "SCRAM-SHA-256");
                assert_eq!(r.data.as_deref(), Some(&b"n,,n"[..]));
            }
            other => panic!("{other:?}"),
        }
        let mut none = b.clone();
        none.extend_from_slice(&(-1i32).to_be_bytes());
        assert!(msg(b'p', none, Phase::SaslInitial).is_ok());
        assert!(msg(b'p', vec![1, 2, 3], Phase::SaslContinue).is_ok());
        // Anything but a SASL message, or bad UTF-8, is fatal during authentication.
        fatal_08p01(msg(b'Q', b"SELECT 1\0".to_vec(), Phase::SaslInitial));
        let p = problem(msg(
            b'p',
            b"\xff\0\xff\xff\xff\xff".to_vec(),
            Phase::SaslInitial,
        ));
        assert!(p.fatal, "{p:?}");
        // A SASL message after login is not a message type a session has.
        fatal_08p01(msg(b'p', vec![], Phase::Ready));
    }

    #[test]
    fn session_messages() {
        match decoded(msg(b'Q', b"SELECT 1\0".to_vec(), Phase::Ready)) {
            Msg::Query(q) => assert_eq!(q.query, "SELECT 1"),
            other => panic!("{other:?}"),
        }
        fatal_08p01(msg(b'Q', b"SELECT 1".to_vec(), Phase::Ready));
        fatal_08p01(msg(b'Q', b"SELECT 1\0\0".to_vec(), Phase::Ready));
        error(
            msg(b'Q', b"SELECT '\xc3\x28'\0".to_vec(), Phase::Ready),
            "22021",
        );

        let mut parse = Vec::new();
        cstr(&mut parse, b"s1");
        cstr(&mut parse, b"SELECT $1");
        // Ends after the query: no parameter count.
        fatal_08p01(msg(b'P', parse.clone(), Phase::Ready));
        let with_types = |oids: &[u32], count: u16| {
            let mut b = parse.clone();
            b.extend_from_slice(&count.to_be_bytes());
            oids.iter()
                .for_each(|o| b.extend_from_slice(&o.to_be_bytes()));
            msg(b'P', b, Phase::Ready)
        };
        match decoded(with_types(&[20], 1)) {
            Msg::Parse(p) => {
                assert_eq!(p.name.as_deref(), Some("s1"));
                assert_eq!(p.type_oids, vec![20]);
            }
            other => panic!("{other:?}"),
        }
        assert!(with_types(&[0, 1043, 1015, 3802, 705], 5).is_ok());
        fatal_08p01(with_types(&[20], 2));
        fatal_08p01(with_types(&[20, 20], 1));
        error(with_types(&[99_999], 1), "08P01");
        error(with_types(&[600], 1), "0A000");

        assert!(matches!(
            decoded(msg(
                b'B',
                bind_body(&[0, 1], &[Some(b"1"), None], &[1]),
                Phase::Ready
            )),
            Msg::Bind(_)
        ));
        let good = bind_body(&[], &[Some(b"abc")], &[]);
        // A parameter longer than the message, cut short, trailing bytes, a negative length.
        fatal_08p01(msg(b'B', good[..good.len() - 3].to_vec(), Phase::Ready));
        fatal_08p01(msg(b'B', [&good[..], b"x"].concat(), Phase::Ready));
        let mut long = good.clone();
        let at = good.len() - 2 - 3 - 4;
        long[at..at + 4].copy_from_slice(&100i32.to_be_bytes());
        fatal_08p01(msg(b'B', long, Phase::Ready));
        let mut negative = bind_body(&[], &[None], &[]);
        let at = negative.len() - 2 - 4;
        negative[at..at + 4].copy_from_slice(&(-2i32).to_be_bytes());
        fatal_08p01(msg(b'B', negative, Phase::Ready));
        error(
            msg(b'B', bind_body(&[2], &[None], &[]), Phase::Ready),
            "22023",
        );
        error(
            msg(b'B', bind_body(&[], &[None], &[-1]), Phase::Ready),
            "22023",
        );
        error(
            msg(
                b'B',
                bind_body(&[0, 0], &[None, None, None], &[]),
                Phase::Ready,
            ),
            "08P01",
        );

        assert!(matches!(
            decoded(msg(b'D', b"Sname\0".to_vec(), Phase::Ready)),
            Msg::Describe(_)
        ));
        error(msg(b'D', b"Xname\0".to_vec(), Phase::Ready), "08P01");
        error(msg(b'C', b"Q\0".to_vec(), Phase::Ready), "08P01");
        fatal_08p01(msg(b'D', vec![], Phase::Ready));
        assert!(matches!(
            decoded(msg(b'E', b"\0\0\0\0\x05".to_vec(), Phase::Ready)),
            Msg::Execute(e) if e.name.is_none() && e.max_rows == 5
        ));
        fatal_08p01(msg(b'E', b"\0\0\0".to_vec(), Phase::Ready));
        fatal_08p01(msg(b'S', vec![0], Phase::Ready));
        fatal_08p01(msg(b'Z', vec![], Phase::Ready));
        error(msg(b'F', vec![1, 2, 3], Phase::Ready), "0A000");
        assert!(matches!(
            msg(b'd', vec![1], Phase::Ready),
            Ok(Decoded::Skip)
        ));
    }

    #[test]
    fn copy_and_sync_phases() {
        assert!(matches!(
            decoded(msg(b'd', b"1\t2\n".to_vec(), Phase::Copy)),
            Msg::CopyData(d) if d.data.as_ref() == b"1\t2\n"
        ));
        assert!(matches!(
            decoded(msg(b'c', vec![], Phase::Copy)),
            Msg::CopyDone(_)
        ));
        fatal_08p01(msg(b'c', vec![1], Phase::Copy));
        assert!(matches!(
            decoded(msg(b'f', b"stop\0".to_vec(), Phase::Copy)),
            Msg::CopyFail(f) if f.message == "stop"
        ));
        error(msg(b'Q', b"SELECT 1\0".to_vec(), Phase::Copy), "08P01");
        fatal_08p01(msg(b'p', vec![], Phase::Copy));
        assert!(matches!(
            msg(b'Q', b"garbage".to_vec(), Phase::AwaitingSync),
            Ok(Decoded::Skip)
        ));
        assert!(matches!(
            decoded(msg(b'S', vec![], Phase::AwaitingSync)),
            Msg::Sync(_)
        ));
        assert!(matches!(
            decoded(msg(b'X', vec![], Phase::AwaitingSync)),
            Msg::Terminate(_)
        ));
        fatal_08p01(msg(b'?', vec![], Phase::AwaitingSync));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            tag in any::<u8>(),
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            use Phase::*;
            for phase in [SaslInitial, SaslContinue, Ready, Copy, AwaitingSync] {
                let _ = message(tag, Bytes::from(body.clone()), phase);
            }
            let _ = initial(Bytes::from(body));
        }
    }
}
