//! A small blocking HTTP/1.1 client for tests (included with `#[path]` by the test binaries that
//! need it): one-shot requests, keep-alive and pipelining on one connection, and a Server-Sent
//! Events reader built on [`ringloop::proto::sse::EventDecoder`].
//!
//! It is deliberately independent of the server code under test except for the SSE parser: heads
//! are parsed with `httparse`, bodies framed by `Content-Length` (or by the connection closing).
//! Every read has a timeout ([`TIMEOUT`] unless changed), so a server that hangs fails the test
//! with a message instead of hanging it. Failures panic: this is test code.
//!
//! ```ignore
//! #[path = "support/http_client.rs"]
//! mod http_client;
//!
//! let resp = http_client::request(addr, "GET", "/health", &[], b"");
//! assert_eq!(resp.status, 200);
//! ```

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringloop::proto::sse::{Event, EventDecoder};

/// How long any single wait (connect, one response, opening a stream) may take by default.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Most headers accepted in a response head.
const MAX_HEADERS: usize = 64;

/// A complete response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Names as sent (any case), values as text (lossy UTF-8).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body in the message if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {:?}", self.text()))
    }

    /// Whether the server announced that it closes the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

/// One request on a fresh connection, sent with `Connection: close` (unless `headers` has a
/// `Connection` header of its own); returns the response.
pub fn request(
    addr: impl ToSocketAddrs,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut conn = HttpConn::connect(addr);
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if !has(headers, "connection") {
        all.push(("Connection", "close"));
    }
    conn.request(method, target, &all, body)
}

fn has(headers: &[(&str, &str)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// A connection for several requests (keep-alive), possibly pipelined: [`send`](HttpConn::send)
/// any number of requests, then [`read_response`](HttpConn::read_response) once for each, in
/// order.
pub struct HttpConn {
    stream: TcpStream,
    peer: SocketAddr,
    /// Bytes read but not yet part of a returned response.
    buf: Vec<u8>,
    /// For each request sent and not yet answered: whether it was a `HEAD` (no body follows).
    heads: VecDeque<bool>,
    timeout: Duration,
    eof: bool,
}

impl HttpConn {
    /// Connects, or panics saying to where.
    pub fn connect(addr: impl ToSocketAddrs) -> HttpConn {
        HttpConn::try_connect(addr).unwrap_or_else(|e| panic!("connect: {e}"))
    }

    /// Connects (trying each address `addr` resolves to).
    pub fn try_connect(addr: impl ToSocketAddrs) -> io::Result<HttpConn> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address");
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&a, TIMEOUT) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    stream.set_read_timeout(Some(TIMEOUT))?;
                    stream.set_write_timeout(Some(TIMEOUT))?;
                    return Ok(HttpConn {
                        stream,
                        peer: a,
                        buf: Vec::new(),
                        heads: VecDeque::new(),
                        timeout: TIMEOUT,
                        eof: false,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// How long one response may take from now on.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The underlying socket, e.g. to shut it down or write odd bytes.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Sends one request: the request line, `Host` (unless given), `headers`, a
    /// `Content-Length` when there is a body or the method usually has one (unless given), the
    /// blank line and the body.
    pub fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut req = format!("{method} {target} HTTP/1.1\r\n");
        if !has(headers, "host") {
            req.push_str(&format!("Host: {}\r\n", self.peer));
        }
        for (name, value) in headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        let usually_has_body = matches!(method, "POST" | "PUT" | "PATCH");
        if !has(headers, "content-length") && (!body.is_empty() || usually_has_body) {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.heads.push_back(method == "HEAD");
        self.send_raw(&bytes);
    }

    /// Writes bytes as they are (a hand-made request, half a request...). A response to them
    /// is read as the answer to a non-`HEAD` request.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write to {}: {e}", self.peer));
    }

    /// [`send`](HttpConn::send) then [`read_response`](HttpConn::read_response).
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        self.send(method, target, headers, body);
        self.read_response()
    }

    /// Reads the next response (skipping `100 Continue` and other interim ones); panics on a
    /// timeout, an early close or a malformed response.
    pub fn read_response(&mut self) -> HttpResponse {
        self.try_read_response()
            .unwrap_or_else(|e| panic!("reading a response from {}: {e}", self.peer))
    }

    /// Reads the next response, or says why it could not.
    pub fn try_read_response(&mut self) -> io::Result<HttpResponse> {
        let deadline = Instant::now() + self.timeout;
        let head_only = self.heads.pop_front().unwrap_or(false);
        let (status, headers) = loop {
            let (status, headers) = self.read_head(deadline)?;
            if (100..200).contains(&status) && status != 101 {
                continue; // interim response: the real one follows
            }
            break (status, headers);
        };
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let body = if head_only || status == 204 || status == 304 || status == 101 {
            Vec::new()
        } else if let Some(len) = find("content-length") {
            let len: usize = len.trim().parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("Content-Length {len:?}"),
                )
            })?;
            self.fill(len, deadline)?;
            self.buf.drain(..len).collect()
        } else if find("transfer-encoding").is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "chunked responses are not supported by the test client",
            ));
        } else {
            // Delimited by the connection closing.
            while !self.eof {
                self.read_more(deadline)?;
            }
            std::mem::take(&mut self.buf)
        };
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// Waits up to `timeout` for the server to close the connection, and panics unless it does
    /// (with no further bytes sent: a response nobody read is a failure too).
    pub fn assert_closed(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.eof {
            match self.read_more(deadline) {
                Ok(()) => {}
                // A reset is a close as well (the server closed with unread input).
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("connection to {} not closed: {e}", self.peer),
            }
        }
        assert!(
            self.buf.is_empty(),
            "unexpected bytes before close: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
    }

    /// Reads and parses one response head, leaving what follows it in `buf`.
    fn read_head(&mut self, deadline: Instant) -> io::Result<(u16, Vec<(String, String)>)> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut slots);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = resp.code.unwrap_or(0);
                    let headers = resp
                        .headers
                        .iter()
                        .map(|h| {
                            let value = String::from_utf8_lossy(h.value);
                            (h.name.to_owned(), value.trim().to_owned())
                        })
                        .collect();
                    self.buf.drain(..len);
                    return Ok((status, headers));
                }
                Ok(httparse::Status::Partial) => self.read_more(deadline)?,
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "bad response head ({e}): {:?}",
                            String::from_utf8_lossy(&self.buf)
                        ),
                    ))
                }
            }
        }
    }

    /// Reads until `buf` holds `len` bytes.
    fn fill(&mut self, len: usize, deadline: Instant) -> io::Result<()> {
        while self.buf.len() < len {
            self.read_more(deadline)?;
        }
        Ok(())
    }

    /// One read, appended to `buf`; an error at the deadline or at an early end of stream.
    fn read_more(&mut self, deadline: Instant) -> io::Result<()> {
        if self.eof {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed; unparsed bytes: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                Ok(())
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if is_timeout(&e) => Err(timed_out()),
            Err(e) => Err(e),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for the server")
}

/// A Server-Sent Events subscription: a `GET` whose response is an open-ended
/// `text/event-stream`, read event by event.
pub struct SseStream {
    conn: HttpConn,
    /// The response head's headers.
    pub headers: Vec<(String, String)>,
    buf: BytesMut,
    decoder: EventDecoder,
}

impl SseStream {
    /// Opens the stream (`GET path` with `Accept: text/event-stream` and `headers`, e.g.
    /// `Last-Event-ID`) and panics unless the answer is 200 with a `text/event-stream` type.
    pub fn open(addr: impl ToSocketAddrs, path: &str, headers: &[(&str, &str)]) -> SseStream {
        match SseStream::try_open(addr, path, headers) {
            Ok(stream) => stream,
            Err(resp) => panic!(
                "GET {path}: expected a 200 text/event-stream, got {} {:?}: {:?}",
                resp.status,
                resp.header("content-type"),
                resp.text()
            ),
        }
    }

    /// Opens the stream, or returns the (complete) response if it is not a 200
    /// `text/event-stream` one, e.g. to check a 404.
    pub fn try_open(
        addr: impl ToSocketAddrs,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<SseStream, HttpResponse> {
        let mut conn = HttpConn::connect(addr);
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if !has(headers, "accept") {
            all.push(("Accept", "text/event-stream"));
        }
        conn.send("GET", path, &all, b"");
        let deadline = Instant::now() + conn.timeout;
        let (status, headers) = conn
            .read_head(deadline)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let is_stream = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("content-type") && v.starts_with("text/event-stream")
        });
        if status == 200 && is_stream {
            let buf = BytesMut::from(&conn.buf[..]);
            conn.buf.clear();
            conn.heads.clear();
            return Ok(SseStream {
                conn,
                headers,
                buf,
                decoder: EventDecoder::new(),
            });
        }
        // Not a stream: read its body the usual way.
        let len = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let body = match conn.fill(len, deadline) {
            Ok(()) => conn.buf.drain(..len).collect(),
            Err(_) => std::mem::take(&mut conn.buf),
        };
        Err(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// The next event, waiting at most `timeout`; `None` on timeout or when the server closed
    /// the stream (see [`is_closed`](SseStream::is_closed)).
    pub fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.decoder.decode(&mut self.buf) {
                return Some(event);
            }
            if self.conn.eof {
                return None;
            }
            match self.conn.read_more(deadline) {
                Ok(()) => {
                    self.buf.extend_from_slice(&self.conn.buf);
                    self.conn.buf.clear();
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return None,
                Err(_) => {
                    self.conn.eof = true;
                    return None;
                }
            }
        }
    }

    /// Every event that arrives within `timeout` (for checking that nothing more came).
    pub fn drain(&mut self, timeout: Duration) -> Vec<Event> {
        let deadline = Instant::now() + timeout;
        let mut events = Vec::new();
        while let Some(event) = self.next_event(deadline.saturating_duration_since(Instant::now()))
        {
            events.push(event);
        }
        events
    }

    /// Whether the server has closed the stream (seen by a previous read).
    pub fn is_closed(&self) -> bool {
        self.conn.eof
    }

    /// The last event id received, for reconnecting with `Last-Event-ID`.
    pub fn last_event_id(&self) -> Option<&str> {
        self.decoder.last_event_id()
    }

    /// The reconnection delay the server asked for with `retry:`, if any.
    pub fn retry(&self) -> Option<u64> {
        self.decoder.retry()
    }

    /// The header of the stream's response named `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
