//! How much a client may make the [`RequestDecoder`](super::RequestDecoder) hold: the bounds
//! that turn "a 4 GiB header" or "`Content-Length: 99999999999`" into an error response
//! instead of an allocation.
//!
//! The defaults are deliberately modest, sized for an API server rather than an upload service:
//! 16 KiB of head is more than any browser sends (nginx's `large_client_header_buffers` default
//! is 4 × 8 KiB), 64 headers is more than curl or a browser sends, and 1 MiB of body is plenty
//! for JSON messages.

/// Bounds applied by [`RequestDecoder`](super::RequestDecoder).
///
/// Build one from [`Limits::DEFAULT`] with struct update syntax:
///
/// ```
/// use ringloop::proto::http::Limits;
/// let uploads = Limits { max_body: 64 << 20, ..Limits::DEFAULT };
/// assert_eq!(uploads.max_headers, 64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head in bytes: the request line, the header lines and the blank line that
    /// ends them (and any empty lines before the request line). A longer head is
    /// [`HttpError::HeadTooLarge`](super::HttpError::HeadTooLarge) (431), reported as soon as
    /// this many bytes are buffered without a complete head.
    pub max_head: usize,
    /// Most header lines in one request; more is
    /// [`HttpError::HeadTooLarge`](super::HttpError::HeadTooLarge) (431).
    pub max_headers: usize,
    /// Largest request body in bytes. A larger `Content-Length` is
    /// [`HttpError::BodyTooLarge`](super::HttpError::BodyTooLarge) (413), reported as soon as
    /// the head is parsed, before any of the body is awaited.
    pub max_body: usize,
}

impl Limits {
    /// 16 KiB of head, 64 headers, 1 MiB of body.
    pub const DEFAULT: Limits = Limits {
        max_head: 16 * 1024,
        max_headers: 64,
        max_body: 1024 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
