//! Writing RESP: [`encode`] for any [`Value`] in either [`Protocol`], `write_*` fast paths for the
//! replies a server sends most, and [`SharedFrame`] to encode a pub/sub message once for many
//! subscribers.
//!
//! RESP3-only types are degraded for RESP2 clients the way Redis's `addReply*` functions do it, so
//! command code builds one `Value` and never branches on the protocol. The encoder also refuses to
//! break framing: a `\r` or `\n` inside a one-line type (status, error, big number) is written as a
//! space, since a peer would otherwise read the rest as a new reply.

use std::cell::OnceCell;

use bytes::{BufMut, Bytes, BytesMut};

use super::num::{put_i64, put_u64, with_double};
use super::value::{Protocol, Value};

/// Writes a type byte, a length and `\r\n`: the header of bulks and aggregates.
fn header(out: &mut BytesMut, kind: u8, len: usize) {
    out.reserve(24);
    out.put_u8(kind);
    put_u64(out, len as u64);
    out.extend_from_slice(b"\r\n");
}

/// Writes `kind`, `text` with line breaks turned into spaces, then `\r\n`.
fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(text);
    }
    out.extend_from_slice(b"\r\n");
}

/// `+OK\r\n`, the most common reply of all.
pub fn write_ok(out: &mut BytesMut) {
    out.extend_from_slice(b"+OK\r\n");
}

/// `+PONG\r\n`.
pub fn write_pong(out: &mut BytesMut) {
    out.extend_from_slice(b"+PONG\r\n");
}

/// A status reply, `+text\r\n` (line breaks in `text` become spaces).
pub fn write_simple(out: &mut BytesMut, text: &[u8]) {
    line(out, b'+', text);
}

/// An error reply, `-text\r\n`; `text` starts with the error code, e.g. `b"ERR no such key"`
/// (line breaks become spaces, as Redis does for its formatted errors).
pub fn write_error(out: &mut BytesMut, text: &[u8]) {
    line(out, b'-', text);
}

/// An integer reply, `:n\r\n`.
pub fn write_integer(out: &mut BytesMut, n: i64) {
    out.reserve(24);
    out.put_u8(b':');
    put_i64(out, n);
    out.extend_from_slice(b"\r\n");
}

/// A bulk string reply, `$len\r\ndata\r\n` (the same in both protocols).
pub fn write_bulk(out: &mut BytesMut, data: &[u8]) {
    out.reserve(data.len() + 24);
    out.put_u8(b'$');
    put_u64(out, data.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The null bulk string: `$-1\r\n` in RESP2, `_\r\n` in RESP3.
pub fn write_null(out: &mut BytesMut, proto: Protocol) {
    out.extend_from_slice(match proto {
        Protocol::Resp2 => b"$-1\r\n",
        Protocol::Resp3 => b"_\r\n",
    });
}

/// The null array: `*-1\r\n` in RESP2, `_\r\n` in RESP3.
pub fn write_null_array(out: &mut BytesMut, proto: Protocol) {
    out.extend_from_slice(match proto {
        Protocol::Resp2 => b"*-1\r\n",
        Protocol::Resp3 => b"_\r\n",
    });
}

/// An array header, `*len\r\n`; the caller then writes `len` elements.
pub fn write_array_len(out: &mut BytesMut, len: usize) {
    header(out, b'*', len);
}

/// A map header for `pairs` key-value pairs: `%pairs` in RESP3, `*2×pairs` in RESP2. The caller
/// then writes key, value, key, value...
pub fn write_map_len(out: &mut BytesMut, pairs: usize, proto: Protocol) {
    match proto {
        Protocol::Resp2 => header(out, b'*', pairs.saturating_mul(2)),
        Protocol::Resp3 => header(out, b'%', pairs),
    }
}

/// A set header: `~len` in RESP3, `*len` in RESP2.
pub fn write_set_len(out: &mut BytesMut, len: usize, proto: Protocol) {
    header(out, if proto == Protocol::Resp3 { b'~' } else { b'*' }, len);
}

/// A push header (pub/sub messages): `>len` in RESP3, `*len` in RESP2.
pub fn write_push_len(out: &mut BytesMut, len: usize, proto: Protocol) {
    header(out, if proto == Protocol::Resp3 { b'>' } else { b'*' }, len);
}

/// A double: `,text\r\n` in RESP3, a bulk string of the same text in RESP2 (as `ZSCORE` replies).
/// `inf`, `-inf` and `nan` are spelled as Redis spells them.
pub fn write_double(out: &mut BytesMut, d: f64, proto: Protocol) {
    with_double(d, |text| match proto {
        Protocol::Resp2 => write_bulk(out, text),
        Protocol::Resp3 => {
            out.reserve(text.len() + 3);
            out.put_u8(b',');
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
    });
}

/// A boolean: `#t` / `#f` in RESP3, `:1` / `:0` in RESP2.
pub fn write_boolean(out: &mut BytesMut, b: bool, proto: Protocol) {
    out.extend_from_slice(match (proto, b) {
        (Protocol::Resp3, true) => b"#t\r\n",
        (Protocol::Resp3, false) => b"#f\r\n",
        (Protocol::Resp2, true) => b":1\r\n",
        (Protocol::Resp2, false) => b":0\r\n",
    });
}

/// A request as clients send it, `*N` then one bulk per argument: for tests, benchmarks and a
/// proxy talking to an upstream server.
pub fn write_command<A: AsRef<[u8]>>(out: &mut BytesMut, args: &[A]) {
    write_array_len(out, args.len());
    for a in args {
        write_bulk(out, a.as_ref());
    }
}

/// Writes `value` for a client speaking `proto`.
///
/// | value | RESP3 | RESP2 |
/// |---|---|---|
/// | `Null` / `NullArray` | `_` | `$-1` / `*-1` |
/// | `Map` | `%N` | `*2N`, keys and values flattened |
/// | `Set`, `Push` | `~N`, `>N` | `*N` |
/// | `Double` | `,1.5` | `$3\r\n1.5` |
/// | `Boolean` | `#t` | `:1` |
/// | `BigNumber` | `(123` | `$3\r\n123` |
/// | `Verbatim` | `=N\r\ntxt:...` | bulk of the text alone |
/// | `Attribute` | `\|N` pairs, then the value | the value alone |
/// | `Simple`, `Error`, `BigNumber` with a line break | spaces for the breaks | same |
///
/// Aggregates are written recursively: values come from the server's own code, not from the
/// network, so their depth is the program's choice.
pub fn encode(value: &Value, proto: Protocol, out: &mut BytesMut) {
    match value {
        Value::Simple(s) => write_simple(out, s),
        // Never a RESP3 blob error (`!`): Redis does not send them, so clients are least
        // likely to handle them; line breaks become spaces, as in Redis's formatted errors.
        Value::Error(e) => write_error(out, e),
        Value::Integer(n) => write_integer(out, *n),
        Value::Bulk(b) => write_bulk(out, b),
        Value::Null => write_null(out, proto),
        Value::NullArray => write_null_array(out, proto),
        Value::Array(items) => {
            write_array_len(out, items.len());
            for v in items {
                encode(v, proto, out);
            }
        }
        Value::Map(pairs) => {
            write_map_len(out, pairs.len(), proto);
            write_pairs(pairs, proto, out);
        }
        Value::Set(items) => {
            write_set_len(out, items.len(), proto);
            for v in items {
                encode(v, proto, out);
            }
        }
        Value::Double(d) => write_double(out, *d, proto),
        Value::Boolean(b) => write_boolean(out, *b, proto),
        Value::BigNumber(n) => match proto {
            Protocol::Resp2 => write_bulk(out, n),
            Protocol::Resp3 => line(out, b'(', n),
        },
        Value::Verbatim { format, text } => match proto {
            Protocol::Resp2 => write_bulk(out, text),
            Protocol::Resp3 => {
                header(out, b'=', text.len() + 4);
                out.reserve(text.len() + 6);
                out.extend_from_slice(format);
                out.put_u8(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
        },
        Value::Push(items) => {
            write_push_len(out, items.len(), proto);
            for v in items {
                encode(v, proto, out);
            }
        }
        Value::Attribute { attrs, value } => {
            if proto == Protocol::Resp3 {
                header(out, b'|', attrs.len());
                write_pairs(attrs, proto, out);
            }
            encode(value, proto, out);
        }
    }
}

fn write_pairs(pairs: &[(Value, Value)], proto: Protocol, out: &mut BytesMut) {
    for (k, v) in pairs {
        encode(k, proto, out);
        encode(v, proto, out);
    }
}

/// Encodes `value` into a new, immutable buffer: for a reply sent to many connections, where each
/// send is then a reference-count increment, not a copy.
pub fn encode_to_bytes(value: &Value, proto: Protocol) -> Bytes {
    let mut out = BytesMut::new();
    encode(value, proto, &mut out);
    out.freeze()
}

/// Decimal digits of `n` (at least one).
fn digits(n: usize) -> usize {
    let mut d = 1;
    let mut n = n / 10;
    while n > 0 {
        d += 1;
        n /= 10;
    }
    d
}

/// A push of bulk strings — `>N` in RESP3, `*N` in RESP2, then one `$len` bulk per part — in
/// one allocation of exactly the right size.
///
/// This is the pub/sub `message` / `pmessage` frame, built once per published message and route:
/// computing the length first spares the growth (and the reallocations) of encoding a [`Value`]
/// into an empty buffer, which was the largest single cost of a `PUBLISH` to one subscriber.
///
/// ```
/// use ringloop::proto::resp::{push_of_bulks, Protocol};
///
/// let f = push_of_bulks(Protocol::Resp3, &[b"message", b"news", b"hi"]);
/// assert_eq!(&f[..], b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
/// ```
pub fn push_of_bulks(proto: Protocol, parts: &[&[u8]]) -> Bytes {
    let len = 3
        + digits(parts.len())
        + parts
            .iter()
            .map(|p| 5 + digits(p.len()) + p.len())
            .sum::<usize>();
    let mut out = BytesMut::with_capacity(len);
    out.put_u8(if proto == Protocol::Resp3 { b'>' } else { b'*' });
    put_u64(&mut out, parts.len() as u64);
    out.extend_from_slice(b"\r\n");
    for part in parts {
        out.put_u8(b'$');
        put_u64(&mut out, part.len() as u64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    debug_assert_eq!(out.len(), len);
    out.freeze()
}

/// A message encoded at most once per protocol version, for pub/sub fan-out.
///
/// A `PUBLISH` to a channel with 10,000 subscribers should not encode the message 10,000 times.
/// Build a `SharedFrame` once per publish and call [`bytes`](Self::bytes) for each subscriber:
/// the first RESP2 subscriber encodes the RESP2 form, the first RESP3 one the RESP3 form, and
/// everyone else gets a cheap clone of those [`Bytes`]. Encoding is lazy, so a channel whose
/// subscribers all speak RESP2 never pays for the RESP3 form.
///
/// ```
/// use bytes::Bytes;
/// use ringloop::proto::resp::{Protocol, SharedFrame};
///
/// let msg = SharedFrame::message(Bytes::from_static(b"news"), Bytes::from_static(b"hi"));
/// assert_eq!(&msg.bytes(Protocol::Resp2)[..], b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
/// assert_eq!(&msg.bytes(Protocol::Resp3)[..], b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
/// ```
///
/// It uses [`OnceCell`], so it belongs to one thread, like the loop that fans the message out.
#[derive(Clone, Debug)]
pub struct SharedFrame {
    value: Value,
    resp2: OnceCell<Bytes>,
    resp3: OnceCell<Bytes>,
}

impl SharedFrame {
    /// Wraps any value.
    pub fn new(value: Value) -> SharedFrame {
        SharedFrame {
            value,
            resp2: OnceCell::new(),
            resp3: OnceCell::new(),
        }
    }

    /// A pub/sub `message` push: `["message", channel, payload]`.
    pub fn message(channel: Bytes, payload: Bytes) -> SharedFrame {
        SharedFrame::new(Value::Push(vec![
            Value::Bulk(Bytes::from_static(b"message")),
            Value::Bulk(channel),
            Value::Bulk(payload),
        ]))
    }

    /// A pattern-subscription `pmessage` push: `["pmessage", pattern, channel, payload]`.
    pub fn pmessage(pattern: Bytes, channel: Bytes, payload: Bytes) -> SharedFrame {
        SharedFrame::new(Value::Push(vec![
            Value::Bulk(Bytes::from_static(b"pmessage")),
            Value::Bulk(pattern),
            Value::Bulk(channel),
            Value::Bulk(payload),
        ]))
    }

    /// The value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The encoded bytes for `proto`, encoding them on first use.
    pub fn bytes(&self, proto: Protocol) -> Bytes {
        let cell = match proto {
            Protocol::Resp2 => &self.resp2,
            Protocol::Resp3 => &self.resp3,
        };
        cell.get_or_init(|| encode_to_bytes(&self.value, proto))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value, proto: Protocol) -> Vec<u8> {
        encode_to_bytes(v, proto).to_vec()
    }

    #[test]
    fn push_of_bulks_matches_the_value_encoder() {
        let long = vec![b'x'; 12_345];
        let cases: [&[&[u8]]; 4] = [
            &[],
            &[b""],
            &[b"message", b"news", b"hi"],
            &[b"pmessage", b"n*", b"news", &long],
        ];
        for parts in cases {
            for proto in [Protocol::Resp2, Protocol::Resp3] {
                let value = Value::Push(
                    parts
                        .iter()
                        .map(|p| Value::Bulk(Bytes::copy_from_slice(p)))
                        .collect(),
                );
                assert_eq!(
                    push_of_bulks(proto, parts),
                    encode_to_bytes(&value, proto),
                    "{parts:?} {proto:?}"
                );
            }
        }
    }

    #[test]
    fn fast_paths() {
        let mut out = BytesMut::new();
        write_ok(&mut out);
        write_pong(&mut out);
        write_integer(&mut out, -7);
        write_bulk(&mut out, b"hey");
        write_null(&mut out, Protocol::Resp2);
        write_null_array(&mut out, Protocol::Resp2);
        write_null(&mut out, Protocol::Resp3);
        write_command(&mut out, &["GET", "k"]);
        assert_eq!(
            &out[..],
            &b"+OK\r\n+PONG\r\n:-7\r\n$3\r\nhey\r\n$-1\r\n*-1\r\n_\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"[..]
        );
    }

    #[test]
    fn resp2_degradation() {
        let map = Value::Map(vec![(Value::bulk("a"), Value::Integer(1))]);
        assert_eq!(enc(&map, Protocol::Resp2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&map, Protocol::Resp3), b"%1\r\n$1\r\na\r\n:1\r\n");
        let set = Value::Set(vec![Value::Boolean(true), Value::Boolean(false)]);
        assert_eq!(enc(&set, Protocol::Resp2), b"*2\r\n:1\r\n:0\r\n");
        assert_eq!(enc(&set, Protocol::Resp3), b"~2\r\n#t\r\n#f\r\n");
        assert_eq!(enc(&Value::Double(1.5), Protocol::Resp2), b"$3\r\n1.5\r\n");
        assert_eq!(enc(&Value::Double(1.5), Protocol::Resp3), b",1.5\r\n");
        assert_eq!(
            enc(&Value::Double(f64::INFINITY), Protocol::Resp3),
            b",inf\r\n"
        );
        let big = Value::BigNumber(Bytes::from_static(b"12345678901234567890"));
        assert_eq!(
            enc(&big, Protocol::Resp2),
            b"$20\r\n12345678901234567890\r\n"
        );
        assert_eq!(enc(&big, Protocol::Resp3), b"(12345678901234567890\r\n");
        let verb = Value::Verbatim {
            format: *b"txt",
            text: Bytes::from_static(b"hi"),
        };
        assert_eq!(enc(&verb, Protocol::Resp2), b"$2\r\nhi\r\n");
        assert_eq!(enc(&verb, Protocol::Resp3), b"=6\r\ntxt:hi\r\n");
        let attr = Value::Attribute {
            attrs: vec![(Value::simple("ttl"), Value::Integer(3))],
            value: Box::new(Value::ok()),
        };
        assert_eq!(enc(&attr, Protocol::Resp2), b"+OK\r\n");
        assert_eq!(enc(&attr, Protocol::Resp3), b"|1\r\n+ttl\r\n:3\r\n+OK\r\n");
        assert_eq!(enc(&Value::NullArray, Protocol::Resp2), b"*-1\r\n");
        assert_eq!(enc(&Value::NullArray, Protocol::Resp3), b"_\r\n");
    }

    #[test]
    fn line_breaks_never_break_framing() {
        assert_eq!(enc(&Value::simple("a\r\nb"), Protocol::Resp3), b"+a  b\r\n");
        assert_eq!(
            enc(&Value::error("ERR a\nb"), Protocol::Resp2),
            b"-ERR a b\r\n"
        );
        assert_eq!(
            enc(&Value::error("ERR a\nb"), Protocol::Resp3),
            b"-ERR a b\r\n"
        );
    }

    #[test]
    fn shared_frame_encodes_once_per_protocol() {
        let f = SharedFrame::pmessage(
            Bytes::from_static(b"n*"),
            Bytes::from_static(b"news"),
            Bytes::from_static(b"x"),
        );
        let a = f.bytes(Protocol::Resp3);
        let b = f.bytes(Protocol::Resp3);
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "second call reuses the first encoding"
        );
        assert!(a.starts_with(b">4\r\n$8\r\npmessage\r\n"));
        assert!(f.bytes(Protocol::Resp2).starts_with(b"*4\r\n"));
    }
}
