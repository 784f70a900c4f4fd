//! The client side: [`ReplyDecoder`] reads replies (every RESP2 and RESP3 type) from a server.
//!
//! Decoding is two passes over each reply, both linear:
//!
//! 1. **Scan** (incremental): walk the headers, skip bulk data by its length, keep a stack of
//!    "elements still expected" per open aggregate, and validate every line. The state is a few
//!    offsets and that stack, so a partial reply is never rescanned and waiting for a large bulk
//!    costs one comparison per read. Only when the stack empties is the reply complete.
//! 2. **Build** (on the complete, already validated bytes): split the reply off the buffer once
//!    and build the [`Value`], whose strings are slices of that one [`Bytes`].
//!
//! Splitting the passes keeps the incremental part free of half-built trees, and gives proxies a
//! cheap mode: [`ReplyDecoder::decode_frame`] stops after pass 1 and returns the raw bytes of one
//! reply, ready to forward. Both passes are loops with explicit stacks, never recursion, so a
//! hostile `*1\r\n*1\r\n...` can only hit [`Limits::max_depth`], not the thread's stack.

use bytes::{Bytes, BytesMut};

use super::error::ProtocolError;
use super::lex::{find, Line};
use super::limits::Limits;
use super::num::{parse_double, parse_lenient};
use super::value::Value;

/// Bulk data announced by a `$`, `!` or `=` header and not yet complete.
#[derive(Clone, Copy, Debug)]
struct PendingBulk {
    kind: u8,
    start: usize,
    len: usize,
}

/// Decodes server replies from a read buffer, incrementally.
///
/// ```
/// use bytes::BytesMut;
/// use ringloop::proto::resp::{ReplyDecoder, Value};
///
/// let mut dec = ReplyDecoder::new();
/// let mut buf = BytesMut::from(&b"%1\r\n+key\r\n*2\r\n:1\r\n#t\r\n$3\r\nab"[..]);
/// let first = dec.decode(&mut buf)?.unwrap();
/// assert_eq!(
///     first,
///     Value::Map(vec![(
///         Value::simple("key"),
///         Value::Array(vec![Value::Integer(1), Value::Boolean(true)])
///     )])
/// );
/// assert_eq!(dec.decode(&mut buf)?, None); // "$3\r\nab" is not complete
/// buf.extend_from_slice(b"c\r\n");
/// assert_eq!(dec.decode(&mut buf)?, Some(Value::bulk("abc")));
/// # Ok::<(), ringloop::proto::resp::ProtocolError>(())
/// ```
///
/// As with [`RequestDecoder`](super::RequestDecoder), between calls the buffer may only be
/// appended to; a buffer that shrank makes the decoder start the current reply over. An `Err` is
/// terminal for the connection.
#[derive(Debug)]
pub struct ReplyDecoder {
    limits: Limits,
    /// The first byte of the current reply not yet validated.
    pos: usize,
    /// Where the search for the current line's `\r` resumes.
    scan: usize,
    /// Bulk data being awaited.
    bulk: Option<PendingBulk>,
    /// For each open aggregate, how many elements it still expects.
    stack: Vec<usize>,
}

impl Default for ReplyDecoder {
    fn default() -> Self {
        ReplyDecoder::new()
    }
}

impl ReplyDecoder {
    /// A decoder with the default [`Limits`].
    pub fn new() -> ReplyDecoder {
        ReplyDecoder::with_limits(Limits::DEFAULT)
    }

    /// A decoder with the given limits.
    pub fn with_limits(limits: Limits) -> ReplyDecoder {
        ReplyDecoder {
            limits,
            pos: 0,
            scan: 0,
            bulk: None,
            stack: Vec::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Forgets any partly scanned reply (for a buffer that was cleared).
    pub fn reset(&mut self) {
        self.pos = 0;
        self.scan = 0;
        self.bulk = None;
        self.stack.clear();
    }

    /// Decodes the next reply: `Ok(Some(value))` when a whole reply was buffered (exactly its
    /// bytes are consumed), `Ok(None)` when more bytes are needed (nothing consumed).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Value>, ProtocolError> {
        match self.decode_frame(buf)? {
            Some(frame) => build(&frame).map(Some),
            None => Ok(None),
        }
    }

    /// Like [`decode`](Self::decode), but returns the raw bytes of the reply instead of a
    /// [`Value`]: what a proxy forwards. The bytes are validated as thoroughly as by `decode`;
    /// the first byte is the reply's type (`>` for an out-of-band push).
    pub fn decode_frame(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, ProtocolError> {
        match self.scan(buf)? {
            Some(len) => {
                self.reset();
                Ok(Some(buf.split_to(len).freeze()))
            }
            None => Ok(None),
        }
    }

    /// Pass 1: returns the length of the complete reply at the front of `buf`, or `None`.
    fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let end_of_bulk = self.bulk.map_or(0, |b| b.start);
        if self.pos > buf.len() || self.scan > buf.len() || end_of_bulk > buf.len() {
            self.reset();
        }
        loop {
            if let Some(b) = self.bulk {
                let Some(end) = b
                    .start
                    .checked_add(b.len)
                    .filter(|e| e.checked_add(2).is_some())
                else {
                    return Err(ProtocolError::InvalidBulkLength);
                };
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(ProtocolError::ExpectedCrlfAfterBulk);
                }
                if b.kind == b'=' && (b.len < 4 || buf[b.start + 3] != b':') {
                    return Err(ProtocolError::InvalidValue(b'='));
                }
                self.bulk = None;
                self.pos = end + 2;
                self.scan = self.pos;
                if self.element_done() {
                    return Ok(Some(self.pos));
                }
                continue;
            }

            let pos = self.pos;
            // Refuse an unknown type byte at once, rather than after its line arrives.
            let Some(&kind) = buf.get(pos) else {
                return Ok(None);
            };
            if !b"+-:,#_($!=*~%>|".contains(&kind) {
                return Err(ProtocolError::UnknownType(kind));
            }
            let cr = match find(
                buf,
                pos,
                self.scan.max(pos + 1),
                self.limits.max_inline_len,
                b'\r',
            ) {
                Line::Found(cr) => cr,
                Line::NeedMore(s) => {
                    self.scan = s;
                    return Ok(None);
                }
                Line::TooLong => {
                    return Err(match kind {
                        b'$' | b'!' | b'=' => ProtocolError::TooBigBulkCount,
                        b'*' | b'~' | b'%' | b'>' | b'|' => ProtocolError::TooBigMultibulkCount,
                        _ => ProtocolError::LineTooLong,
                    })
                }
            };
            self.scan = cr;
            if cr + 1 >= buf.len() {
                return Ok(None);
            }
            if buf[cr + 1] != b'\n' {
                return Err(ProtocolError::ExpectedLf);
            }
            let body = &buf[pos + 1..cr];
            let next = cr + 2;
            match kind {
                b'+' | b'-' => {}
                b':' | b',' | b'#' | b'_' | b'(' => check_scalar(kind, body)?,
                b'$' | b'!' | b'=' => {
                    let len = length(body, ProtocolError::InvalidBulkLength)?;
                    if !(kind == b'$' && len == -1) {
                        if len < 0 || len as u64 > self.limits.max_bulk_len as u64 {
                            return Err(ProtocolError::InvalidBulkLength);
                        }
                        self.bulk = Some(PendingBulk {
                            kind,
                            start: next,
                            len: len as usize,
                        });
                        self.pos = next;
                        self.scan = next;
                        continue;
                    }
                }
                b'*' | b'~' | b'%' | b'>' | b'|' => {
                    let n = length(body, ProtocolError::InvalidMultibulkLength)?;
                    if !(kind == b'*' && n == -1) {
                        if n < 0 || n as u64 > self.limits.max_multibulk_len as u64 {
                            return Err(ProtocolError::InvalidMultibulkLength);
                        }
                        let n = n as usize;
                        // Maps and attributes count pairs; an attribute is followed by the value
                        // it describes, which belongs to it.
                        let elements = match kind {
                            b'%' => n.saturating_mul(2),
                            b'|' => n.saturating_mul(2).saturating_add(1),
                            _ => n,
                        };
                        if elements > 0 {
                            if self.stack.len() >= self.limits.max_depth {
                                return Err(ProtocolError::TooDeep);
                            }
                            self.stack.push(elements);
                            self.pos = next;
                            self.scan = next;
                            continue;
                        }
                    }
                }
                other => return Err(ProtocolError::UnknownType(other)),
            }
            // A complete scalar (or null, or empty aggregate).
            self.pos = next;
            self.scan = next;
            if self.element_done() {
                return Ok(Some(self.pos));
            }
        }
    }

    /// One element was completed: count it against the open aggregates, closing those that are
    /// now full. Returns whether the whole reply is complete.
    fn element_done(&mut self) -> bool {
        while let Some(left) = self.stack.last_mut() {
            *left -= 1;
            if *left > 0 {
                return false;
            }
            self.stack.pop();
        }
        true
    }
}

/// Parses a `$N` / `*N` length; `?` (RESP3 streaming) gets its own error.
fn length(body: &[u8], err: ProtocolError) -> Result<i64, ProtocolError> {
    if body == b"?" {
        return Err(ProtocolError::StreamedUnsupported);
    }
    parse_lenient(body).ok_or(err)
}

/// Validates the body of a one-line scalar type.
fn check_scalar(kind: u8, body: &[u8]) -> Result<(), ProtocolError> {
    let ok = match kind {
        b':' => parse_lenient(body).is_some(),
        b',' => parse_double(body).is_some(),
        b'#' => body == b"t" || body == b"f",
        b'_' => body.is_empty(),
        b'(' => {
            let digits = match body.first() {
                Some(b'-' | b'+') => &body[1..],
                _ => body,
            };
            !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
        }
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(ProtocolError::InvalidValue(kind))
    }
}

/// An aggregate being built in pass 2.
struct Open {
    kind: u8,
    left: usize,
    items: Vec<Value>,
}

/// Pass 2: builds the value of one complete reply that pass 1 validated. It still returns errors
/// rather than panicking if the bytes are somehow not what pass 1 saw.
fn build(frame: &Bytes) -> Result<Value, ProtocolError> {
    let bad = || ProtocolError::InvalidValue(frame.first().copied().unwrap_or(0));
    let mut stack: Vec<Open> = Vec::new();
    let mut pos = 0;
    loop {
        // Search from after the type byte, so `pos < cr` and the slices below are in bounds.
        let cr = pos
            + 1
            + frame
                .get(pos + 1..)
                .and_then(|s| s.iter().position(|&b| b == b'\r'))
                .ok_or_else(bad)?;
        let kind = frame[pos];
        let body = frame.slice(pos + 1..cr);
        pos = cr + 2;
        let mut value = match kind {
            b'+' => Value::Simple(body),
            b'-' => Value::Error(body),
            b':' => Value::Integer(parse_lenient(&body).ok_or_else(bad)?),
            b',' => Value::Double(parse_double(&body).ok_or_else(bad)?),
            b'#' => Value::Boolean(&body[..] == b"t"),
            b'_' => Value::Null,
            b'(' => Value::BigNumber(body),
            b'$' | b'!' | b'=' => {
                let n = parse_lenient(&body).ok_or_else(bad)?;
                if n < 0 {
                    Value::Null
                } else {
                    let start = pos;
                    let end = start
                        .checked_add(n as usize)
                        .filter(|&e| e <= frame.len())
                        .ok_or_else(bad)?;
                    pos = end + 2;
                    let data = frame.slice(start..end);
                    match kind {
                        b'$' => Value::Bulk(data),
                        b'!' => Value::Error(data),
                        _ => {
                            let format = data
                                .get(..3)
                                .and_then(|f| <[u8; 3]>::try_from(f).ok())
                                .ok_or_else(bad)?;
                            Value::Verbatim {
                                format,
                                text: data.slice(4.min(data.len())..),
                            }
                        }
                    }
                }
            }
            b'*' | b'~' | b'%' | b'>' | b'|' => {
                let n = parse_lenient(&body).ok_or_else(bad)?;
                if n < 0 {
                    Value::NullArray
                } else {
                    let n = n as usize;
                    let left = match kind {
                        b'%' => n.saturating_mul(2),
                        b'|' => n.saturating_mul(2).saturating_add(1),
                        _ => n,
                    };
                    if left > 0 {
                        // Every element takes at least 3 bytes, so this bounds the reservation
                        // by the frame's size even if the count were a lie.
                        let cap = left.min(frame.len() / 3);
                        stack.push(Open {
                            kind,
                            left,
                            items: Vec::with_capacity(cap),
                        });
                        continue;
                    }
                    aggregate(kind, Vec::new()).ok_or_else(bad)?
                }
            }
            _ => return Err(bad()),
        };
        // Attach the finished value to its parent, closing every aggregate it completes.
        loop {
            let Some(top) = stack.last_mut() else {
                return Ok(value);
            };
            top.items.push(value);
            top.left -= 1;
            if top.left > 0 {
                break;
            }
            let Some(done) = stack.pop() else {
                return Err(bad());
            };
            value = aggregate(done.kind, done.items).ok_or_else(bad)?;
        }
    }
}

/// Makes the value of a complete aggregate from its elements.
fn aggregate(kind: u8, items: Vec<Value>) -> Option<Value> {
    fn pairs(items: Vec<Value>) -> Vec<(Value, Value)> {
        let mut out = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            out.push((k, v));
        }
        out
    }
    Some(match kind {
        b'*' => Value::Array(items),
        b'~' => Value::Set(items),
        b'>' => Value::Push(items),
        b'%' => Value::Map(pairs(items)),
        b'|' => {
            let mut items = items;
            let value = Box::new(items.pop()?);
            Value::Attribute {
                attrs: pairs(items),
                value,
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(input: &[u8]) -> Result<Option<Value>, ProtocolError> {
        ReplyDecoder::new().decode(&mut BytesMut::from(input))
    }

    #[test]
    fn scalars() {
        assert_eq!(one(b"+OK\r\n"), Ok(Some(Value::ok())));
        assert_eq!(one(b"-ERR x\r\n"), Ok(Some(Value::error("ERR x"))));
        assert_eq!(one(b":-42\r\n"), Ok(Some(Value::Integer(-42))));
        assert_eq!(one(b"$-1\r\n"), Ok(Some(Value::Null)));
        assert_eq!(one(b"*-1\r\n"), Ok(Some(Value::NullArray)));
        assert_eq!(one(b"_\r\n"), Ok(Some(Value::Null)));
        assert_eq!(one(b",1.5\r\n"), Ok(Some(Value::Double(1.5))));
        assert_eq!(one(b"#f\r\n"), Ok(Some(Value::Boolean(false))));
        assert_eq!(
            one(b"(-123\r\n"),
            Ok(Some(Value::BigNumber(Bytes::from_static(b"-123"))))
        );
        assert_eq!(one(b"!5\r\nA\r\nBC\r\n"), Ok(Some(Value::error("A\r\nBC"))));
        assert_eq!(
            one(b"=7\r\ntxt:abc\r\n"),
            Ok(Some(Value::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"abc")
            }))
        );
    }

    #[test]
    fn aggregates() {
        assert_eq!(one(b"*0\r\n"), Ok(Some(Value::Array(vec![]))));
        assert_eq!(one(b"%0\r\n"), Ok(Some(Value::Map(vec![]))));
        assert_eq!(
            one(b">2\r\n+a\r\n~1\r\n:1\r\n"),
            Ok(Some(Value::Push(vec![
                Value::simple("a"),
                Value::Set(vec![Value::Integer(1)])
            ])))
        );
        assert_eq!(
            one(b"*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n:2\r\n"),
            Ok(Some(Value::Array(vec![
                Value::Attribute {
                    attrs: vec![(Value::simple("k"), Value::simple("v"))],
                    value: Box::new(Value::Integer(1)),
                },
                Value::Integer(2),
            ])))
        );
    }

    #[test]
    fn errors() {
        assert_eq!(one(b"?x\r\n"), Err(ProtocolError::UnknownType(b'?')));
        assert_eq!(one(b":1x\r\n"), Err(ProtocolError::InvalidValue(b':')));
        assert_eq!(one(b"#x\r\n"), Err(ProtocolError::InvalidValue(b'#')));
        assert_eq!(one(b"_x\r\n"), Err(ProtocolError::InvalidValue(b'_')));
        assert_eq!(one(b"(\r\n"), Err(ProtocolError::InvalidValue(b'(')));
        assert_eq!(one(b"=2\r\nab\r\n"), Err(ProtocolError::InvalidValue(b'=')));
        assert_eq!(one(b"$-2\r\n"), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(one(b"~-1\r\n"), Err(ProtocolError::InvalidMultibulkLength));
        assert_eq!(one(b"$?\r\n"), Err(ProtocolError::StreamedUnsupported));
        assert_eq!(
            one(b"$1\r\nab\r\n"),
            Err(ProtocolError::ExpectedCrlfAfterBulk)
        );
        assert_eq!(one(b"+a\rb"), Err(ProtocolError::ExpectedLf));
        let deep = b"*1\r\n".repeat(200);
        assert_eq!(one(&deep), Err(ProtocolError::TooDeep));
    }

    #[test]
    fn frames_are_raw_bytes() {
        let mut dec = ReplyDecoder::new();
        let mut buf = BytesMut::from(&b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\np\r\n+OK\r\n"[..]);
        let push = dec.decode_frame(&mut buf).unwrap().unwrap();
        assert_eq!(&push[..], b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\np\r\n");
        assert_eq!(
            &dec.decode_frame(&mut buf).unwrap().unwrap()[..],
            b"+OK\r\n"
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn deep_nesting_within_limit_builds_without_recursion() {
        let depth = 100;
        let mut input = b"*1\r\n".repeat(depth);
        input.extend_from_slice(b":7\r\n");
        let mut v = one(&input).unwrap().unwrap();
        for _ in 0..depth {
            let Value::Array(mut items) = v else {
                panic!("not an array")
            };
            v = items.pop().unwrap();
        }
        assert_eq!(v, Value::Integer(7));
    }
}
