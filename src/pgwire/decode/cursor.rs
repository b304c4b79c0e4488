//! Bounded reads of one message body ([`Cursor`]): every field must fit in what is left, a
//! string must be NUL-terminated inside the message, and [`Cursor::end`] checks nothing is left
//! over; any violation is 08P01. Text must be UTF-8 (22021 otherwise).

use super::{Problem, Result};
use crate::pgwire::encode::CHARACTER_NOT_IN_REPERTOIRE;
use crate::sql::error::SqlError;
use bytes::Bytes;

/// Reads fields from one message body.
pub(super) struct Cursor {
    buf: Bytes,
    pos: usize,
}

impl Cursor {
    pub(super) fn new(buf: Bytes) -> Cursor {
        Cursor { buf, pos: 0 }
    }

    pub(super) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(super) fn take(&mut self, n: usize) -> Result<Bytes> {
        if n > self.remaining() {
            return Err(Problem::violation("insufficient data left in message"));
        }
        let out = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&b);
        Ok(out)
    }

    pub(super) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub(super) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(super) fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    pub(super) fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub(super) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A NUL-terminated string (without the NUL).
    pub(super) fn cstr(&mut self) -> Result<Bytes> {
        let rest = &self.buf[self.pos..];
        let Some(n) = rest.iter().position(|b| *b == 0) else {
            return Err(Problem::violation("invalid string in message"));
        };
        let s = self.take(n)?;
        self.pos += 1;
        Ok(s)
    }

    pub(super) fn rest(&mut self) -> Bytes {
        let out = self.buf.slice(self.pos..);
        self.pos = self.buf.len();
        out
    }

    /// Everything must have been read.
    pub(super) fn end(&self) -> Result<()> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(Problem::violation("invalid message format"))
        }
    }
}

/// UTF-8 text (22021 naming the first bad bytes, as PostgreSQL words it).
pub(super) fn text(raw: &[u8]) -> Result<String> {
    match std::str::from_utf8(raw) {
        Ok(s) => Ok(s.to_owned()),
        Err(e) => {
            let at = e.valid_up_to();
            let bad = e.error_len().unwrap_or(raw.len() - at).max(1);
            let shown: Vec<String> = raw[at..at + bad]
                .iter()
                .map(|b| format!("0x{b:02x}"))
                .collect();
            Err(Problem::error(SqlError::new(
                CHARACTER_NOT_IN_REPERTOIRE,
                format!(
                    "invalid byte sequence for encoding \"UTF8\": {}",
                    shown.join(" ")
                ),
            )))
        }
    }
}

/// A statement or portal name: empty is the unnamed one.
pub(super) fn name(raw: &[u8]) -> Result<Option<String>> {
    let s = text(raw)?;
    Ok((!s.is_empty()).then_some(s))
}
