//! Line search shared by both decoders: find a line terminator within a length limit, and say
//! where to resume when it is not there yet.
//!
//! Two properties matter more than speed here:
//!
//! * **No rescans.** A decoder keeps the returned resume offset, so a 60 KiB line arriving one
//!   byte per read is searched once overall, not once per read (which would be quadratic).
//! * **Split-invariance.** "Too long" is decided from the first `max + 1` bytes of the line only,
//!   never from how much happens to be buffered. Redis decides from the buffer length instead, so
//!   the same bytes can be accepted or refused depending on how reads split them; here the
//!   answer for a given byte stream is always the same, and matches Redis whenever the long line
//!   arrives before anything behind it.

/// The outcome of [`find`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// The terminator is at this offset.
    Found(usize),
    /// Not found yet; resume the search at this offset when more bytes arrive.
    NeedMore(usize),
    /// The line would be longer than allowed.
    TooLong,
}

/// Looks for `term` in the line starting at `start`, resuming at `from`. The line may hold at most
/// `max` bytes before its terminator; a terminator is looked for only within those and the byte
/// after them.
pub(crate) fn find(buf: &[u8], start: usize, from: usize, max: usize, term: u8) -> Line {
    // Exclusive end of the window in which the terminator is allowed to be.
    let window_end = start.saturating_add(max).saturating_add(1);
    let end = window_end.min(buf.len());
    let from = from.max(start);
    if from < end {
        if let Some(i) = buf[from..end].iter().position(|&b| b == term) {
            return Line::Found(from + i);
        }
    }
    if buf.len() >= window_end {
        Line::TooLong
    } else {
        Line::NeedMore(end.max(from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_resumes() {
        assert_eq!(find(b"abc\r\n", 0, 0, 10, b'\r'), Line::Found(3));
        assert_eq!(find(b"abc", 0, 0, 10, b'\r'), Line::NeedMore(3));
        assert_eq!(find(b"xxabc\r", 2, 5, 10, b'\r'), Line::Found(5));
        assert_eq!(find(b"", 0, 0, 10, b'\r'), Line::NeedMore(0));
    }

    #[test]
    fn limit_is_on_the_line_not_the_buffer() {
        // max 3: "abc\r" is fine, "abcd" without '\r' is too long whatever follows.
        assert_eq!(find(b"abc\r", 0, 0, 3, b'\r'), Line::Found(3));
        assert_eq!(find(b"abc", 0, 0, 3, b'\r'), Line::NeedMore(3));
        assert_eq!(find(b"abcd", 0, 0, 3, b'\r'), Line::TooLong);
        assert_eq!(find(b"abcd\r", 0, 0, 3, b'\r'), Line::TooLong);
        assert_eq!(find(b"--abcd", 2, 2, 3, b'\r'), Line::TooLong);
        assert_eq!(find(b"--abc", 2, 2, 3, b'\r'), Line::NeedMore(5));
    }
}
