//! [`HttpError`]: why a byte stream is not an acceptable HTTP/1.1 request, with the status code
//! and the response a server sends for it.
//!
//! Every error is terminal for the connection. Framing comes from the head (`Content-Length`), so
//! once the head is rejected the decoder cannot know where the next request starts; a server
//! writes [`HttpError::response`] with `keep_alive = false` and closes, as nginx and hyper do.

use std::fmt;

use super::response::Response;

/// Why a request was rejected. Each variant maps to one status code ([`HttpError::status`]);
/// [`Display`](fmt::Display) gives the explanation sent in the body of [`HttpError::response`].
///
/// After any `HttpError` the decoder's position in the stream is unknown: reply and close the
/// connection. (Calling [`RequestDecoder::decode`](super::RequestDecoder::decode) again on the
/// same buffer just reports the same error.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// 400: a malformed request line or header, a bad `Content-Length` (not digits, several
    /// different values, or together with `Transfer-Encoding`), several `Host` headers... The
    /// string says what was wrong.
    BadRequest(String),
    /// 431: the head is longer than [`Limits::max_head`](super::Limits::max_head) or has more
    /// than [`Limits::max_headers`](super::Limits::max_headers) header lines.
    HeadTooLarge,
    /// 413: the `Content-Length` is above [`Limits::max_body`](super::Limits::max_body); reported
    /// as soon as the head is parsed, before the body arrives.
    BodyTooLarge {
        /// The `Content-Length` the client announced.
        length: u64,
        /// The configured limit.
        limit: usize,
    },
    /// 411: a `POST`, `PUT` or `PATCH` with neither `Content-Length` nor `Transfer-Encoding`, so
    /// the end of its body cannot be known.
    LengthRequired,
    /// 501: a request body with `Transfer-Encoding` (chunked), which this codec does not decode.
    /// Clients that know the length up front (curl, browsers' `fetch` with a string body) send
    /// `Content-Length` instead.
    ChunkedNotImplemented,
    /// 505: a well-formed version other than HTTP/1.0 and HTTP/1.1, e.g. `HTTP/2.0` (which is what
    /// the HTTP/2 connection preface looks like to an HTTP/1 parser).
    VersionNotSupported,
}

impl HttpError {
    /// The status code to answer with: 400, 431, 413, 411, 501 or 505.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::BadRequest(_) => 400,
            HttpError::HeadTooLarge => 431,
            HttpError::BodyTooLarge { .. } => 413,
            HttpError::LengthRequired => 411,
            HttpError::ChunkedNotImplemented => 501,
            HttpError::VersionNotSupported => 505,
        }
    }

    /// The response to send before closing: the status, and a `text/plain` body with the
    /// explanation. Encode it with `keep_alive = false`.
    ///
    /// ```
    /// use ringloop::proto::http::HttpError;
    /// let resp = HttpError::LengthRequired.response();
    /// let wire = resp.encode(false, false);
    /// assert!(wire.starts_with(b"HTTP/1.1 411 Length Required\r\n"));
    /// ```
    pub fn response(&self) -> Response {
        Response::text(self.status(), format!("{self}\n"))
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadRequest(why) => write!(f, "bad request: {why}"),
            HttpError::HeadTooLarge => f.write_str("request head too large"),
            HttpError::BodyTooLarge { length, limit } => write!(
                f,
                "request body of {length} bytes exceeds the limit of {limit} bytes"
            ),
            HttpError::LengthRequired => {
                f.write_str("a request with a body needs a Content-Length header")
            }
            HttpError::ChunkedNotImplemented => f.write_str(
                "Transfer-Encoding request bodies are not supported; send a Content-Length",
            ),
            HttpError::VersionNotSupported => {
                f.write_str("HTTP version not supported; use HTTP/1.1 or HTTP/1.0")
            }
        }
    }
}

impl std::error::Error for HttpError {}
