//! The server side of Server-Sent Events: one block of the stream per call.
//!
//! Framing is by line, so nothing a caller passes may add a line end where the format does not
//! expect one: multi-line data becomes one `data:` line per line (the client joins them with
//! `\n` again), and CR / LF are removed from event names and comments, where the format has no
//! way to carry them.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

/// One event: an `id:` line if `id` is `Some`, an `event:` line if `event` is `Some`, then the
/// data split on `\r\n`, `\n` and `\r` into one `data:` line each, then the blank line that
/// dispatches it.
///
/// An empty `data` gives one empty `data:` line, so the client still dispatches the event
/// (with empty data). Line ends in `data` reach the client as `\n` whatever they were here. CR
/// and LF in `event` are removed, so a name cannot break the framing.
///
/// ```
/// use ringloop::proto::sse::event;
/// assert_eq!(&event(None, None, b"")[..], b"data: \n\n");
/// assert_eq!(&event(Some(3), None, b"a\r\nb\rc")[..], b"id: 3\ndata: a\ndata: b\ndata: c\n\n");
/// assert_eq!(&event(None, Some("up\ndate"), b"x")[..], b"event: update\ndata: x\n\n");
/// ```
pub fn event(id: Option<u64>, event: Option<&str>, data: &[u8]) -> Bytes {
    let mut out =
        BytesMut::with_capacity(32 + event.map_or(0, str::len) + data.len() + 8 * lines(data));
    if let Some(id) = id {
        let _ = writeln!(out, "id: {id}");
    }
    if let Some(name) = event {
        out.put_slice(b"event: ");
        put_one_line(&mut out, name.as_bytes());
        out.put_u8(b'\n');
    }
    let mut rest = data;
    loop {
        let end = rest
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(rest.len());
        out.put_slice(b"data: ");
        out.put_slice(rest.get(..end).unwrap_or_default());
        out.put_u8(b'\n');
        let terminator = match rest.get(end..) {
            None | Some([]) => break,
            Some([b'\r', b'\n', ..]) => 2,
            Some(_) => 1,
        };
        rest = rest.get(end + terminator..).unwrap_or_default();
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// A comment block, `: text\n\n`, which clients ignore: the usual heartbeat that keeps proxies
/// from timing out an idle stream and lets the server notice a dead client. CR and LF in `text`
/// are removed.
pub fn comment(text: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(text.len() + 4);
    out.put_slice(b": ");
    put_one_line(&mut out, text.as_bytes());
    out.put_slice(b"\n\n");
    out.freeze()
}

/// A `retry: ms\n\n` block: tells the client to wait `ms` milliseconds before reconnecting after
/// the stream ends.
pub fn retry(ms: u64) -> Bytes {
    Bytes::from(format!("retry: {ms}\n\n"))
}

/// How many lines `data` has, for sizing the output.
fn lines(data: &[u8]) -> usize {
    1 + data.iter().filter(|&&b| b == b'\n' || b == b'\r').count()
}

/// Writes `s` without its CR and LF bytes.
fn put_one_line(out: &mut BytesMut, s: &[u8]) {
    for part in s.split(|&b| b == b'\r' || b == b'\n') {
        out.put_slice(part);
    }
}
