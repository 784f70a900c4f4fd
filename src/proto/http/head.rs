//! From the bytes of a request head to a [`Head`]: `httparse` does the syntax (request line,
//! header tokens, line endings); this file adds what `httparse` leaves to its caller, namely the
//! message framing of RFC 9112 §6 and the checks that keep a request from being read two ways
//! (request smuggling): one `Content-Length` value at most, never together with
//! `Transfer-Encoding`, one `Host`.
//!
//! Nothing is consumed here; the [`RequestDecoder`](super::RequestDecoder) decides when a head is
//! worth parsing and what to do with the result.

use httparse::{Header, EMPTY_HEADER};

use super::error::HttpError;
use super::limits::Limits;
use super::request::Method;

/// Header slots kept on the stack; more (when [`Limits::max_headers`] allows it) go to the heap.
const STACK_HEADERS: usize = 64;

/// A parsed and validated request head, waiting for its body. Header values are kept as offsets
/// into the buffer, so they can be sliced out of the request's bytes once it is complete,
/// without copying.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) method_str: String,
    pub(crate) target: String,
    pub(crate) minor_version: u8,
    /// Lowercased name, offset and length of the (trimmed) value, from the start of the head.
    pub(crate) headers: Vec<(String, usize, usize)>,
    /// Bytes of the head, including the blank line that ends it.
    pub(crate) len: usize,
    /// Bytes of body that follow the head.
    pub(crate) body_len: usize,
    /// Whether the client waits for `100 Continue` before sending its body.
    pub(crate) expect_continue: bool,
}

/// Parses the head at the start of `buf`: `Ok(None)` if it is not complete within `buf`.
pub(crate) fn parse(buf: &[u8], limits: &Limits) -> Result<Option<Head>, HttpError> {
    // Every header line takes at least 3 bytes (`a:\n`), so more slots than that could never be
    // filled: the clamp keeps a huge `max_headers` from becoming a huge allocation without
    // changing when `TooManyHeaders` fires.
    let slots = limits.max_headers.min(buf.len() / 3 + 1);
    let mut stack = [EMPTY_HEADER; STACK_HEADERS];
    let mut heap;
    let headers: &mut [Header<'_>] = if slots <= STACK_HEADERS {
        stack.get_mut(..slots).unwrap_or_default()
    } else {
        heap = vec![EMPTY_HEADER; slots];
        &mut heap
    };
    let mut req = httparse::Request::new(headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge),
        Err(httparse::Error::Version) if names_other_version(buf) => {
            return Err(HttpError::VersionNotSupported)
        }
        Err(e) => return Err(HttpError::BadRequest(e.to_string())),
    };
    // A complete parse fills all three; anything else would be an httparse bug, answered as a bad
    // request rather than a panic.
    let (Some(method_str), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(HttpError::BadRequest("incomplete request line".into()));
    };
    let method = Method::from_token(method_str);

    let base = buf.as_ptr() as usize;
    let mut framing = Framing::default();
    let mut out = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        let value = h.value.trim_ascii();
        framing.note(&name, value)?;
        // `value` borrows from `buf`, so its address lies within it.
        let offset = (value.as_ptr() as usize).wrapping_sub(base);
        if offset.checked_add(value.len()).is_none_or(|end| end > len) {
            return Err(HttpError::BadRequest("header outside the head".into()));
        }
        out.push((name, offset, value.len()));
    }
    let body_len = framing.body_len(method, limits)?;
    Ok(Some(Head {
        method,
        method_str: method_str.to_owned(),
        target: target.to_owned(),
        minor_version,
        headers: out,
        len,
        body_len,
        // RFC 9110 §10.1.1: a server must ignore 100-continue from an HTTP/1.0 client, and there
        // is nothing to wait for without a body.
        expect_continue: framing.expect_continue && minor_version == 1 && body_len > 0,
    }))
}

/// The headers that decide how the body is framed, gathered over the whole head.
#[derive(Default)]
struct Framing {
    content_length: Option<u64>,
    transfer_encoding: bool,
    hosts: usize,
    expect_continue: bool,
}

impl Framing {
    fn note(&mut self, name: &str, value: &[u8]) -> Result<(), HttpError> {
        match name {
            "content-length" => {
                // RFC 9110 §8.6 lets a recipient accept a list of identical values
                // (`5, 5`, or the header repeated), which some proxies produce; different values
                // are the classic request-smuggling vector and are refused.
                for part in value.split(|&b| b == b',') {
                    let n = parse_length(part.trim_ascii())
                        .ok_or_else(|| HttpError::BadRequest("invalid Content-Length".into()))?;
                    if self.content_length.is_some_and(|prev| prev != n) {
                        return Err(HttpError::BadRequest(
                            "conflicting Content-Length values".into(),
                        ));
                    }
                    self.content_length = Some(n);
                }
            }
            "transfer-encoding" => self.transfer_encoding = true,
            "host" => self.hosts += 1,
            "expect" => {
                self.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
            }
            _ => {}
        }
        Ok(())
    }

    fn body_len(&self, method: Method, limits: &Limits) -> Result<usize, HttpError> {
        // RFC 9112 §3.2: several Host headers are a 400. A missing Host in HTTP/1.1 is also one
        // by the RFC, but accepted here: hand-written test requests (`nc`, raw sockets) often
        // omit it, and this server does no virtual hosting for it to matter.
        if self.hosts > 1 {
            return Err(HttpError::BadRequest("several Host headers".into()));
        }
        match (self.content_length, self.transfer_encoding) {
            (Some(_), true) => Err(HttpError::BadRequest(
                "both Content-Length and Transfer-Encoding".into(),
            )),
            (None, true) => Err(HttpError::ChunkedNotImplemented),
            (None, false) if method.needs_length() => Err(HttpError::LengthRequired),
            (None, false) => Ok(0),
            (Some(n), false) => match usize::try_from(n) {
                Ok(len) if len <= limits.max_body => Ok(len),
                _ => Err(HttpError::BodyTooLarge {
                    length: n,
                    limit: limits.max_body,
                }),
            },
        }
    }
}

/// `1*DIGIT` as a `u64`; `None` for anything else, including an overflow (no honest body is
/// 2^64 bytes long, so that is a malformed header rather than a large one).
fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// Whether the request line ends in a well-formed version (`HTTP/x.y`) that httparse refused,
/// i.e. one that is not 1.0 or 1.1: that is a 505, while a garbled version is a 400.
fn names_other_version(buf: &[u8]) -> bool {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let rest = buf.get(start..).unwrap_or_default();
    let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    matches!(
        version,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(parse_length(b"0"), Some(0));
        assert_eq!(parse_length(b"0012"), Some(12));
        assert_eq!(parse_length(b""), None);
        assert_eq!(parse_length(b"+1"), None);
        assert_eq!(parse_length(b"1 2"), None);
        assert_eq!(parse_length(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_length(b"18446744073709551616"), None);
    }

    #[test]
    fn versions() {
        assert!(names_other_version(b"GET / HTTP/2.0\r\n"));
        assert!(names_other_version(b"\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        assert!(names_other_version(b"GET / HTTP/1.2\n"));
        assert!(!names_other_version(b"GET / HTTP/1.1x\r\n"));
        assert!(!names_other_version(b"GET / http/1.1\r\n"));
        assert!(!names_other_version(b""));
    }
}
