//! [`Request`]: one decoded HTTP/1.x request, and the accessors a router needs (path segments,
//! query parameters, headers, keep-alive).
//!
//! The request owns its parts: the method and target are small strings copied out of the head,
//! while header values and the body are [`Bytes`] slices of the one buffer the request was split
//! from, so they are never copied.

use bytes::Bytes;

use super::uri;

/// The request method. The common ones get a variant so a router can `match` on them; any other
/// token (`PROPFIND`, `BREW`...) is [`Method::Other`] and is still a valid request, with the
/// token in [`Request::method_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`: answer as for `GET`, without the body
    /// ([`Response::encode`](super::Response::encode) with `head_only`).
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `PATCH`
    Patch,
    /// Any other method token.
    Other,
}

impl Method {
    /// The method named by `token`. Methods are case-sensitive (RFC 9110 §9.1): `get` is
    /// [`Method::Other`].
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }

    /// Whether a request with this method is expected to carry a body, so that one without any
    /// framing header is refused with 411 rather than taken as empty.
    pub(crate) fn needs_length(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

/// One HTTP/1.0 or HTTP/1.1 request, as produced by
/// [`RequestDecoder`](super::RequestDecoder).
///
/// ```
/// use bytes::BytesMut;
/// use std::time::Instant;
/// use ringloop::proto::http::{Limits, Method, RequestDecoder};
///
/// let mut buf = BytesMut::from(
///     &b"GET /channels/a%20b/messages?after=3&q=x+y HTTP/1.1\r\nHost: h\r\n\r\n"[..],
/// );
/// let req = RequestDecoder::new(Limits::default())
///     .decode(&mut buf, Instant::now())?
///     .unwrap();
/// assert_eq!(req.method, Method::Get);
/// assert_eq!(req.path(), "/channels/a%20b/messages");
/// assert_eq!(req.segments(), ["channels", "a b", "messages"]);
/// assert_eq!(req.query("after").as_deref(), Some("3"));
/// assert_eq!(req.query("q").as_deref(), Some("x y"));
/// assert_eq!(req.header_str("HOST"), Some("h"));
/// assert!(req.keep_alive());
/// # Ok::<(), ringloop::proto::http::HttpError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The method token as sent (useful for [`Method::Other`]).
    pub method_str: String,
    /// The raw request-target, e.g. `/channels/a%20b/messages?after=3`: not decoded, so a `%2F`
    /// in a segment is still distinguishable from a `/`. See [`Request::path`],
    /// [`Request::segments`] and [`Request::query`].
    pub target: String,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// The headers in the order sent, names lowercased, values as sent (without surrounding
    /// whitespace). Repeated headers stay separate entries.
    pub headers: Vec<(String, Bytes)>,
    /// The body (`Content-Length` bytes; empty without `Content-Length`).
    pub body: Bytes,
}

impl Request {
    /// The path of the target, still percent-encoded: everything before `?`. For an
    /// absolute-form target (`http://host/p?q`, sent to proxies) it is the path part (`/p`).
    pub fn path(&self) -> &str {
        uri::path(&self.target)
    }

    /// The percent-decoded segments of the path, empty ones dropped:
    /// `/channels/a%20b//messages/` gives `["channels", "a b", "messages"]`. Decoding happens
    /// after splitting, so an encoded slash (`a%2Fb`) stays inside its segment. `+` is not a
    /// space in a path. Bytes that do not decode to UTF-8 become U+FFFD. `.` and `..` are
    /// returned as they are: a router that maps segments to files must reject them itself.
    pub fn segments(&self) -> Vec<String> {
        uri::segments(self.path())
    }

    /// The first value of `key` in the query string, decoded as a form (`%XX` escapes, `+` as
    /// space); `Some("")` for a key without `=`; `None` if the key is absent.
    pub fn query(&self, key: &str) -> Option<String> {
        uri::query(&self.target).and_then(|q| uri::query_value(q, key))
    }

    /// The value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &v[..])
    }

    /// The value of the first header named `name` as text: `None` if absent or not valid UTF-8;
    /// trimmed of surrounding whitespace.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// The values of every header named `name` (case-insensitive), in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &v[..])
    }

    /// Whether the header `name` (in any of its occurrences) lists `token` in its
    /// comma-separated value, ASCII case-insensitively: `Connection: Keep-Alive, Upgrade` has
    /// the tokens `keep-alive` and `upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers_named(name).any(|value| {
            value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    }

    /// Whether the connection stays open after the response (RFC 9112 §9.3): for HTTP/1.1 unless
    /// the client sent `Connection: close`; for HTTP/1.0 only if it sent
    /// `Connection: keep-alive` (and not `close`).
    pub fn keep_alive(&self) -> bool {
        if self.has_token("connection", "close") {
            return false;
        }
        self.minor_version >= 1 || self.has_token("connection", "keep-alive")
    }
}
