//! [`Value`], one RESP2 or RESP3 message, and [`Protocol`], the version a connection speaks.
//!
//! One enum covers both versions because a server builds a reply once and encodes it for whichever
//! version the client negotiated (`HELLO 3`); the encoder, not the command code, decides how a
//! RESP3-only type looks to a RESP2 client.

use bytes::Bytes;

/// The RESP version a connection speaks. Every connection starts in RESP2; `HELLO 3` switches it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// RESP2: strings, errors, integers, bulk strings, arrays, and the two nulls `$-1` / `*-1`.
    #[default]
    Resp2,
    /// RESP3: RESP2 plus maps, sets, doubles, booleans, big numbers, verbatim strings, pushes,
    /// attributes and a single null `_`.
    Resp3,
}

impl Protocol {
    /// The protocol for a `HELLO` version argument: 2 or 3, anything else is `None` (Redis then
    /// answers `NOPROTO`).
    pub fn from_version(version: i64) -> Option<Protocol> {
        match version {
            2 => Some(Protocol::Resp2),
            3 => Some(Protocol::Resp3),
            _ => None,
        }
    }

    /// 2 or 3.
    pub fn version(self) -> u8 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// One RESP message, of either version.
///
/// Strings are [`Bytes`], so decoded values are zero-copy slices of the read buffer and encoded
/// payloads (a published message) can be shared without copying. How each variant is written for
/// each [`Protocol`] is listed on the variant; see [`encode`](super::encode()).
///
/// `PartialEq` compares doubles as `f64` does, so a `Double(NAN)` is not equal to itself.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `+OK`: a short status line. `\r` or `\n` inside are written as spaces (a status cannot
    /// span lines).
    Simple(Bytes),
    /// `-ERR message`: an error, its text starting with the error code (`ERR`, `WRONGTYPE`...).
    /// `\r` or `\n` inside are written as spaces, as Redis does; the encoder never uses RESP3's
    /// blob error (`!len`), which Redis never sends. Decoding gives this variant for `-` and `!`.
    Error(Bytes),
    /// `:42`.
    Integer(i64),
    /// `$5\r\nhello`: a binary-safe string.
    Bulk(Bytes),
    /// The null bulk string: `$-1` in RESP2, `_` in RESP3. What `GET` of a missing key returns.
    Null,
    /// The null array: `*-1` in RESP2, `_` in RESP3. What `BLPOP` returns on timeout. RESP3 has one
    /// null, so a `NullArray` sent as RESP3 decodes as [`Value::Null`].
    NullArray,
    /// `*N`: an array.
    Array(Vec<Value>),
    /// `%N` (RESP3): key-value pairs in order. RESP2: a flat array of 2N elements, as Redis sends
    /// `HGETALL` or `HELLO` to RESP2 clients.
    Map(Vec<(Value, Value)>),
    /// `~N` (RESP3): a set. RESP2: an array.
    Set(Vec<Value>),
    /// `,3.14` (RESP3). RESP2: a bulk string of the same text (`ZSCORE`'s RESP2 form).
    Double(f64),
    /// `#t` / `#f` (RESP3). RESP2: the integer 1 or 0.
    Boolean(bool),
    /// `(3492890328409238509324850943850943825024385` (RESP3): an integer too big for `i64`,
    /// as its decimal text. RESP2: a bulk string.
    BigNumber(Bytes),
    /// `=15\r\ntxt:Some string` (RESP3): a string with a three-byte format hint (`txt`, `mkd`).
    /// RESP2: a bulk string of the text alone.
    Verbatim {
        /// The format, e.g. `*b"txt"`.
        format: [u8; 3],
        /// The text after the `xxx:` prefix.
        text: Bytes,
    },
    /// `>N` (RESP3): an out-of-band message (pub/sub `message`, client-side caching
    /// `invalidate`). RESP2: an array, which is how RESP2 subscribers have always received them.
    Push(Vec<Value>),
    /// `|N` (RESP3): attributes (key-value pairs) attached to the value that follows. RESP2 has no
    /// attributes: only `value` is written.
    Attribute {
        /// The attribute pairs.
        attrs: Vec<(Value, Value)>,
        /// The value they describe.
        value: Box<Value>,
    },
}

impl Value {
    /// `+OK`.
    pub fn ok() -> Value {
        Value::Simple(Bytes::from_static(b"OK"))
    }

    /// A status reply, `+text`.
    pub fn simple(text: impl Into<Bytes>) -> Value {
        Value::Simple(text.into())
    }

    /// An error reply; `text` starts with the code: `Value::error("ERR no such key")`.
    pub fn error(text: impl Into<Bytes>) -> Value {
        Value::Error(text.into())
    }

    /// A bulk string.
    pub fn bulk(data: impl Into<Bytes>) -> Value {
        Value::Bulk(data.into())
    }

    /// The bytes of a string-like value (simple, error, bulk, big number, verbatim text), or
    /// `None` for every other variant.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Simple(b)
            | Value::Error(b)
            | Value::Bulk(b)
            | Value::BigNumber(b)
            | Value::Verbatim { text: b, .. } => Some(b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_versions() {
        assert_eq!(Protocol::from_version(2), Some(Protocol::Resp2));
        assert_eq!(Protocol::from_version(3), Some(Protocol::Resp3));
        assert_eq!(Protocol::from_version(4), None);
        assert_eq!(Protocol::Resp3.version(), 3);
        assert_eq!(Protocol::default(), Protocol::Resp2);
    }

    #[test]
    fn constructors() {
        assert_eq!(Value::ok(), Value::Simple(Bytes::from_static(b"OK")));
        assert_eq!(Value::bulk("x").as_bytes().map(|b| &b[..]), Some(&b"x"[..]));
        assert_eq!(Value::Integer(1).as_bytes(), None);
    }
}
