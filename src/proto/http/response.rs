//! [`Response`]: what a server answers, and its encoding to the bytes of an HTTP/1.1 response.
//!
//! Responses are always framed with `Content-Length` (the server knows the whole body when it
//! encodes), except streamed ones ([`Response::encode_stream_head`], for Server-Sent Events)
//! whose body runs until the connection closes. No chunked encoding: neither use needs it.
//!
//! The encoder owns the framing headers: a `Content-Length` or `Connection` header set by the
//! caller is dropped and replaced by the right one, so a response can never announce a length
//! different from the body it carries. CR and LF are removed from header names and values, so a
//! value taken from a request cannot split the response into two.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

/// An HTTP response: status, headers, body. Build it with the chaining methods, then
/// [`encode`](Response::encode) it:
///
/// ```
/// use ringloop::proto::http::Response;
///
/// let resp = Response::json(201, r#"{"id":7}"#).header("Location", "/items/7");
/// let wire = resp.encode(true, false);
/// assert_eq!(
///     &wire[..],
///     b"HTTP/1.1 201 Created\r\n\
///       Content-Type: application/json\r\n\
///       Location: /items/7\r\n\
///       Content-Length: 8\r\n\
///       Connection: keep-alive\r\n\
///       \r\n\
///       {\"id\":7}"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code, 100 to 999 (three digits on the wire).
    pub status: u16,
    /// Headers in the order they are written. `Content-Length` and `Connection` are written by
    /// the encoder; entries with those names are ignored.
    pub headers: Vec<(String, String)>,
    /// The body (not sent for `HEAD`, nor for 1xx, 204 and 304 responses).
    pub body: Bytes,
}

impl Response {
    /// A response with this status, no headers and an empty body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header (after the ones already set).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Response {
        self.body = body.into();
        self
    }

    /// A response with `Content-Type: application/json` and this body.
    pub fn json(status: u16, body: impl Into<Bytes>) -> Response {
        Response::new(status)
            .header("Content-Type", "application/json")
            .body(body)
    }

    /// A response with `Content-Type: text/plain; charset=utf-8` and this body.
    pub fn text(status: u16, body: impl Into<Bytes>) -> Response {
        Response::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(body)
    }

    /// The usual head of a Server-Sent Events stream: 200, `Content-Type: text/event-stream`,
    /// and `Cache-Control: no-cache` so no proxy or browser cache holds events back. Send it with
    /// [`encode_stream_head`](Response::encode_stream_head), then the events of
    /// [`proto::sse`](crate::proto::sse).
    pub fn event_stream() -> Response {
        Response::new(200)
            .header("Content-Type", "text/event-stream")
            .header("Cache-Control", "no-cache")
    }

    /// The value of the first header named `name` (ASCII case-insensitive), if any.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The full response: the status line `HTTP/1.1 {status} {reason}`, the headers,
    /// `Content-Length`, then `Connection: keep-alive` if `keep_alive` (harmless for HTTP/1.1
    /// clients, needed by HTTP/1.0 ones) or `Connection: close` if not, the blank line, and the
    /// body.
    ///
    /// `head_only` is for answering `HEAD`: the same head, including the `Content-Length` of the
    /// body that a `GET` would have carried, and no body. Responses that never have a body
    /// (1xx, 204, 304) get neither a body nor a `Content-Length` (RFC 9110 §8.6 forbids it for
    /// 1xx and 204); 1xx responses also keep the caller's `Connection` header (a `101` needs
    /// `Connection: upgrade`) instead of getting one from the encoder.
    pub fn encode(&self, keep_alive: bool, head_only: bool) -> Bytes {
        let informational = (100..200).contains(&self.status);
        let bodiless = informational || self.status == 204 || self.status == 304;
        let body_len = if bodiless || head_only {
            0
        } else {
            self.body.len()
        };
        let mut out = BytesMut::with_capacity(self.head_capacity() + body_len);
        self.write_status_and_headers(&mut out, informational);
        if !bodiless {
            let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        }
        if !informational {
            out.put_slice(if keep_alive {
                b"Connection: keep-alive\r\n"
            } else {
                b"Connection: close\r\n"
            });
        }
        out.put_slice(b"\r\n");
        if body_len > 0 {
            out.put_slice(&self.body);
        }
        out.freeze()
    }

    /// The head of a streamed response, for Server-Sent Events: the status line, the headers,
    /// `Connection: close` and the blank line, with no `Content-Length`. The body is whatever the
    /// server writes next, until it closes the connection; since the end of the body is the end
    /// of the connection, the connection is never reused afterwards. [`Response::body`] is
    /// ignored.
    ///
    /// ```
    /// use ringloop::proto::http::Response;
    /// let head = Response::event_stream().encode_stream_head();
    /// assert!(head.ends_with(b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"));
    /// ```
    pub fn encode_stream_head(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.head_capacity());
        self.write_status_and_headers(&mut out, false);
        out.put_slice(b"Connection: close\r\n\r\n");
        out.freeze()
    }

    /// An upper bound on the head's size, so encoding allocates once.
    fn head_capacity(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum();
        // Status line (at most "HTTP/1.1 65535 " + reason + CRLF), Content-Length, Connection,
        // final CRLF.
        64 + reason(self.status).len() + headers + 64
    }

    /// The status line and the caller's headers, minus the framing headers the encoder owns
    /// (`Connection` is the caller's only when `keep_connection`).
    fn write_status_and_headers(&self, out: &mut BytesMut, keep_connection: bool) {
        let _ = write!(out, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            if name.eq_ignore_ascii_case("content-length")
                || (!keep_connection && name.eq_ignore_ascii_case("connection"))
            {
                continue;
            }
            put_clean(out, name);
            out.put_slice(b": ");
            put_clean(out, value);
            out.put_slice(b"\r\n");
        }
    }
}

/// Writes `s` without its CR and LF bytes: a header line must stay one line whatever the caller
/// put in it (response splitting).
fn put_clean(out: &mut BytesMut, s: &str) {
    for part in s.as_bytes().split(|&b| b == b'\r' || b == b'\n') {
        out.put_slice(part);
    }
}

/// The standard reason phrase of a status code (RFC 9110 §15, plus 429 and 431 of RFC 6585), or
/// `""` for a code without one; the status line is still valid then (`HTTP/1.1 599 `).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
