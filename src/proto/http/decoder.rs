//! [`RequestDecoder`]: the incremental part of request decoding. It decides when the buffered
//! bytes are worth handing to [`head::parse`], enforces the size limits while bytes trickle in,
//! waits for the body, and splits each complete request off the buffer.
//!
//! Cost stays linear however slowly a client writes: the head is parsed only when a new line
//! has arrived (at most [`Limits::max_headers`] + 2 times per request, since more lines is an
//! error) or when the size limit is reached, and waiting for a body costs one length
//! comparison per call. Empty lines before a request (RFC 9112 §2.2 says to ignore at least
//! one; some clients send a stray CRLF after a body) are consumed as they arrive, but count
//! towards [`Limits::max_head`], so a client cannot hold a connection open with newlines alone.

use std::time::Instant;

use bytes::{Buf, BytesMut};

use super::error::HttpError;
use super::head::{self, Head};
use super::limits::Limits;
use super::request::Request;

/// Where the decoder is inside the current request. Offsets are from the start of the buffer,
/// which is always the start of the current request (earlier ones were split off).
#[derive(Debug)]
enum State {
    /// Waiting for a complete head.
    Head {
        /// Bytes already searched for a line end since the last parse attempt.
        scan: usize,
        /// Empty lines consumed before this request, charged to `max_head`.
        skipped: usize,
    },
    /// The head is parsed and valid; waiting for `head.len + head.body_len` bytes.
    Body { head: Head },
}

impl State {
    const START: State = State::Head {
        scan: 0,
        skipped: 0,
    };
}

/// Decodes HTTP/1.0 and HTTP/1.1 requests from a connection's read buffer.
///
/// After each read, call [`decode`](RequestDecoder::decode) until it returns `Ok(None)`: each
/// call splits at most one complete request off the front of the buffer, leaving pipelined
/// requests behind it in place.
///
/// ```
/// use bytes::BytesMut;
/// use std::time::Instant;
/// use ringloop::proto::http::{Limits, Method, RequestDecoder};
///
/// let mut dec = RequestDecoder::new(Limits::default());
/// let mut buf = BytesMut::from(&b"POST /m HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel"[..]);
/// assert_eq!(dec.decode(&mut buf, Instant::now())?, None); // the body is incomplete
/// assert!(dec.partial_since().is_some());
/// buf.extend_from_slice(b"loGET / HTTP/1.1\r\n\r\n");
/// let post = dec.decode(&mut buf, Instant::now())?.unwrap();
/// assert_eq!((post.method, &post.body[..]), (Method::Post, &b"hello"[..]));
/// let get = dec.decode(&mut buf, Instant::now())?.unwrap();
/// assert_eq!(get.method, Method::Get);
/// assert!(buf.is_empty() && dec.partial_since().is_none());
/// # Ok::<(), ringloop::proto::http::HttpError>(())
/// ```
///
/// The decoder remembers its progress as offsets into the buffer, so between calls the caller
/// may only *append* to the buffer (or let the decoder consume from it). If the buffer shrinks
/// anyway, the decoder starts the current request over; it never panics.
///
/// After an [`HttpError`], the decoder's position in the stream is unknown (the head that would
/// say where the next request starts was refused): send [`HttpError::response`] with
/// `keep_alive = false` and close the connection. Calling `decode` again on the same buffer
/// reports the same error.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: Limits,
    state: State,
    /// When the first byte of the incomplete request was seen.
    since: Option<Instant>,
    /// A `100 Continue` is owed and has not been taken yet.
    continue_pending: bool,
}

impl Default for RequestDecoder {
    /// A decoder with [`Limits::DEFAULT`].
    fn default() -> Self {
        RequestDecoder::new(Limits::DEFAULT)
    }
}

impl RequestDecoder {
    /// A decoder applying `limits`.
    pub fn new(limits: Limits) -> Self {
        RequestDecoder {
            limits,
            state: State::START,
            since: None,
            continue_pending: false,
        }
    }

    /// The limits this decoder applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decodes at most one complete request from the front of `buf`, consuming exactly its
    /// bytes (and any empty lines before it); pipelined requests behind it stay in `buf`.
    /// `Ok(None)` means more bytes are needed.
    ///
    /// `now` is only recorded, for [`partial_since`](RequestDecoder::partial_since): pass the
    /// time of the read that filled the buffer (the loop's cached time is fine).
    ///
    /// Limit violations are reported as early as they can be known: a head longer than
    /// [`Limits::max_head`] as soon as that many bytes are buffered, a too-large body as soon as
    /// the head is parsed. So while this returns `Ok(None)`, `buf` holds at most `max_head +
    /// max_body` bytes.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        now: Instant,
    ) -> Result<Option<Request>, HttpError> {
        if self.since.is_none() && !buf.is_empty() {
            self.since = Some(now);
        }
        let result = self.step(buf);
        match &result {
            Ok(Some(_)) => {
                // The rest of the buffer, if any, is the start of the next request, which
                // arrived no later than now.
                self.since = (!buf.is_empty()).then_some(now);
                self.continue_pending = false;
            }
            Ok(None) => {}
            Err(_) => {
                self.state = State::START;
                self.continue_pending = false;
            }
        }
        result
    }

    /// When the first byte of the request still incomplete in the buffer was seen by
    /// [`decode`](RequestDecoder::decode) (the `now` it was given), or `None` if no partial
    /// request is buffered.
    ///
    /// This is the clock for slow-request (slowloris) timeouts: a server closes the connection
    /// when a partial request is older than its limit, however steadily the bytes trickle in.
    pub fn partial_since(&self) -> Option<Instant> {
        self.since
    }

    /// True once per request when its head carried `Expect: 100-continue` and was parsed, but
    /// its body has not all arrived: the server should then write `HTTP/1.1 100 Continue\r\n\r\n`
    /// (curl sends the header for bodies over 1 KiB, then waits a second for it before sending
    /// the body anyway). Check it after `decode` returns `Ok(None)`.
    ///
    /// Never true for HTTP/1.0 requests or empty bodies (RFC 9110 §10.1.1), nor once the request
    /// has been returned.
    pub fn take_continue(&mut self) -> bool {
        std::mem::take(&mut self.continue_pending)
    }

    /// Advances through the states as far as the buffered bytes allow. The state is taken out
    /// while it is worked on and put back only when waiting, so an error or a finished request
    /// leaves the decoder at the start of the next request.
    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, HttpError> {
        loop {
            match std::mem::replace(&mut self.state, State::START) {
                State::Head {
                    mut scan,
                    mut skipped,
                } => {
                    let blank = leading_empty_lines(buf);
                    if blank > 0 {
                        buf.advance(blank);
                        skipped = skipped.saturating_add(blank);
                        scan = 0;
                    }
                    let Some(limit) = self.limits.max_head.checked_sub(skipped) else {
                        return Err(HttpError::HeadTooLarge);
                    };
                    let at_limit = !buf.is_empty() && buf.len() >= limit;
                    let new_line = buf.get(scan..).is_some_and(|new| new.contains(&b'\n'));
                    if !new_line && !at_limit {
                        self.state = State::Head {
                            scan: buf.len(),
                            skipped,
                        };
                        return Ok(None);
                    }
                    let window = buf.get(..limit).unwrap_or(&buf[..]);
                    match head::parse(window, &self.limits)? {
                        Some(head) => {
                            self.continue_pending = head.expect_continue
                                && buf.len() < head.len.saturating_add(head.body_len);
                            self.state = State::Body { head };
                        }
                        // A partial head that already fills the limit can only be too long.
                        None if at_limit => return Err(HttpError::HeadTooLarge),
                        None => {
                            self.state = State::Head {
                                scan: buf.len(),
                                skipped,
                            };
                            return Ok(None);
                        }
                    }
                }
                State::Body { head } => {
                    if buf.len() < head.len {
                        // The caller took bytes away, so the offsets are meaningless: start the
                        // request over (the state is already back at the start).
                        continue;
                    }
                    let total = head.len.saturating_add(head.body_len);
                    if buf.len() < total {
                        self.state = State::Body { head };
                        return Ok(None);
                    }
                    return Ok(Some(split_request(buf, head, total)));
                }
            }
        }
    }
}

/// How many bytes of `\r\n` / `\n` empty lines start `buf` (a lone trailing `\r` waits for its
/// `\n`; a `\r` followed by anything else is left for httparse to refuse).
fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut n = 0;
    loop {
        match buf.get(n..) {
            Some([b'\n', ..]) => n += 1,
            Some([b'\r', b'\n', ..]) => n += 2,
            _ => return n,
        }
    }
}

/// Splits the `total` bytes of a complete request off `buf` and hands out its header values and
/// body as slices of them.
fn split_request(buf: &mut BytesMut, head: Head, total: usize) -> Request {
    let bytes = buf.split_to(total).freeze();
    let headers = head
        .headers
        .into_iter()
        .map(|(name, offset, len)| (name, bytes.slice(offset..offset + len)))
        .collect();
    Request {
        method: head.method,
        method_str: head.method_str,
        target: head.target,
        minor_version: head.minor_version,
        headers,
        body: bytes.slice(head.len..),
    }
}
