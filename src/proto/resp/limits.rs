//! How much a peer may make a decoder hold: the bounds that turn "the client claims a 4 GiB
//! string" into a protocol error instead of an allocation.
//!
//! The defaults are Redis 7's: `proto-max-bulk-len` (512 MiB), the multibulk count limit
//! (1024 × 1024 arguments) and `PROTO_INLINE_MAX_SIZE` (64 KiB, which bounds both inline requests
//! and the `*N` / `$N` header lines). Nesting depth only matters for replies (requests are flat).

/// Bounds applied by [`RequestDecoder`](super::RequestDecoder) and
/// [`ReplyDecoder`](super::ReplyDecoder).
///
/// Build one from [`Limits::DEFAULT`] with struct update syntax:
///
/// ```
/// use ringloop::proto::resp::Limits;
/// let small = Limits { max_bulk_len: 1 << 20, ..Limits::DEFAULT };
/// assert_eq!(small.max_multibulk_len, 1024 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted bulk string, in bytes (Redis `proto-max-bulk-len`). A larger `$N` header is
    /// `ERR Protocol error: invalid bulk length`, before any of its bytes are awaited.
    pub max_bulk_len: usize,
    /// Largest accepted element count of a multibulk request or of a reply aggregate (for a map or
    /// an attribute, the number of pairs). Larger is `ERR Protocol error: invalid multibulk
    /// length`.
    pub max_multibulk_len: usize,
    /// Longest line: an inline request, or a header / simple line, excluding its line ending.
    /// Longer is `ERR Protocol error: too big inline request` (or the `... count string` variants
    /// for `*N` / `$N` lines, as in Redis).
    pub max_inline_len: usize,
    /// Deepest nesting of aggregates in a reply (`*1\r\n*1\r\n...`); requests are always flat.
    pub max_depth: usize,
}

impl Limits {
    /// Redis 7's limits, and a reply nesting depth of 128 (Redis itself never nests deeper than a
    /// handful of levels; the bound exists so a hostile peer cannot grow the decoder's stack).
    pub const DEFAULT: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        max_multibulk_len: 1024 * 1024,
        max_inline_len: 64 * 1024,
        max_depth: 128,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
