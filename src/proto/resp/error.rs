//! [`ProtocolError`]: why a byte stream is not RESP, worded as Redis words it.
//!
//! A protocol error is terminal for a connection: the server replies with the error text and
//! closes, because after a framing error it can no longer tell where the next command starts. So
//! the error must carry the exact reply text; [`ProtocolError::write_reply`] writes it.

use std::fmt;

use bytes::{BufMut, BytesMut};

/// Why the input is not valid RESP. [`Display`](fmt::Display) gives the full error reply text
/// Redis sends, e.g. `ERR Protocol error: invalid bulk length`.
///
/// The first group of variants are the request errors of Redis 7's `networking.c`, with its exact
/// wording. The others have no Redis counterpart: strict framing checks Redis skips (it never
/// looks at the two bytes after a `\r` or after bulk data), and reply-side errors.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A `*N` line longer than the inline limit without a `\r`.
    TooBigMultibulkCount,
    /// A `*N` count that is not an integer, or is above the multibulk limit.
    InvalidMultibulkLength,
    /// A `$N` line longer than the inline limit without a `\r`.
    TooBigBulkCount,
    /// A `$N` length that is not an integer, is negative (in a request), or is above the bulk
    /// limit.
    InvalidBulkLength,
    /// A multibulk request element that does not start with `$`; carries the byte found.
    ExpectedDollar(u8),
    /// An inline request line longer than the inline limit.
    TooBigInlineRequest,
    /// An inline request with an unterminated quote, or a closing quote not followed by a space.
    UnbalancedQuotes,
    /// A `\r` that ends a header or simple line is not followed by `\n`.
    ExpectedLf,
    /// Bulk data not followed by `\r\n` (the length was wrong, or the stream is desynchronised).
    ExpectedCrlfAfterBulk,
    /// Reply: a type byte RESP does not define; carries the byte found.
    UnknownType(u8),
    /// Reply: a simple or header line (not a request) longer than the inline limit.
    LineTooLong,
    /// Reply: a malformed integer (`:`), double (`,`), boolean (`#`), null (`_`), big number
    /// (`(`) or verbatim string (`=`); carries the type byte.
    InvalidValue(u8),
    /// Reply: aggregates nested deeper than [`Limits::max_depth`](super::Limits::max_depth).
    TooDeep,
    /// Reply: a RESP3 streamed string or aggregate (`$?`, `*?`...), which Redis never sends.
    StreamedUnsupported,
}

impl ProtocolError {
    /// Writes the error as a RESP simple error, `-ERR Protocol error: ...\r\n`: what a server
    /// sends before closing the connection.
    pub fn write_reply(&self, out: &mut BytesMut) {
        out.put_u8(b'-');
        out.extend_from_slice(&self.reply_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// The error text as bytes, exactly as Redis would put it on the wire (without the leading
    /// `-` and the trailing `\r\n`). It differs from [`Display`](fmt::Display) only for
    /// [`ExpectedDollar`](ProtocolError::ExpectedDollar) with a non-ASCII byte, which Redis
    /// sends raw and `Display` shows as `\xHH`.
    pub fn reply_bytes(&self) -> Vec<u8> {
        match *self {
            ProtocolError::ExpectedDollar(b) => {
                let mut v = b"ERR Protocol error: expected '$', got '".to_vec();
                v.push(sanitize(b));
                v.push(b'\'');
                v
            }
            _ => self.to_string().into_bytes(),
        }
    }
}

/// Redis formats this error with `addReplyErrorFormat`, which turns `\r` and `\n` into spaces so
/// the error line stays one line.
fn sanitize(b: u8) -> u8 {
    if b == b'\r' || b == b'\n' {
        b' '
    } else {
        b
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ERR Protocol error: ")?;
        match *self {
            ProtocolError::TooBigMultibulkCount => f.write_str("too big mbulk count string"),
            ProtocolError::InvalidMultibulkLength => f.write_str("invalid multibulk length"),
            ProtocolError::TooBigBulkCount => f.write_str("too big bulk count string"),
            ProtocolError::InvalidBulkLength => f.write_str("invalid bulk length"),
            ProtocolError::ExpectedDollar(b) => {
                let b = sanitize(b);
                if b.is_ascii() {
                    write!(f, "expected '$', got '{}'", char::from(b))
                } else {
                    write!(f, "expected '$', got '\\x{b:02x}'")
                }
            }
            ProtocolError::TooBigInlineRequest => f.write_str("too big inline request"),
            ProtocolError::UnbalancedQuotes => f.write_str("unbalanced quotes in request"),
            ProtocolError::ExpectedLf => f.write_str("expected LF after CR"),
            ProtocolError::ExpectedCrlfAfterBulk => f.write_str("expected CRLF after bulk data"),
            ProtocolError::UnknownType(b) => write!(f, "unknown reply type byte 0x{b:02x}"),
            ProtocolError::LineTooLong => f.write_str("too long line in reply"),
            ProtocolError::InvalidValue(b) => {
                write!(f, "invalid value of type '{}'", char::from(b))
            }
            ProtocolError::TooDeep => f.write_str("reply nested too deep"),
            ProtocolError::StreamedUnsupported => {
                f.write_str("streamed RESP3 types are not supported")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_redis_texts() {
        let cases = [
            (
                ProtocolError::InvalidBulkLength,
                "ERR Protocol error: invalid bulk length",
            ),
            (
                ProtocolError::InvalidMultibulkLength,
                "ERR Protocol error: invalid multibulk length",
            ),
            (
                ProtocolError::TooBigInlineRequest,
                "ERR Protocol error: too big inline request",
            ),
            (
                ProtocolError::TooBigBulkCount,
                "ERR Protocol error: too big bulk count string",
            ),
            (
                ProtocolError::TooBigMultibulkCount,
                "ERR Protocol error: too big mbulk count string",
            ),
            (
                ProtocolError::ExpectedDollar(b'x'),
                "ERR Protocol error: expected '$', got 'x'",
            ),
            (
                ProtocolError::ExpectedDollar(b'\r'),
                "ERR Protocol error: expected '$', got ' '",
            ),
            (
                ProtocolError::UnbalancedQuotes,
                "ERR Protocol error: unbalanced quotes in request",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
            assert_eq!(err.reply_bytes(), text.as_bytes());
        }
    }

    #[test]
    fn reply_is_one_simple_error_line() {
        let mut out = BytesMut::new();
        ProtocolError::ExpectedDollar(0xff).write_reply(&mut out);
        assert_eq!(
            &out[..],
            b"-ERR Protocol error: expected '$', got '\xff'\r\n"
        );
        assert_eq!(
            ProtocolError::ExpectedDollar(0xff).to_string(),
            "ERR Protocol error: expected '$', got '\\xff'"
        );
    }
}
