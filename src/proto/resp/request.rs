//! The server side: [`RequestDecoder`] turns the bytes a client sends into [`Command`]s.
//!
//! It follows Redis 7's `processMultibulkBuffer` / `processInlineBuffer`: a request starting
//! with `*` is multibulk, anything else is an inline line; empty requests (`*0`, `*-1`, a blank
//! line) are skipped silently; limits and error texts are Redis's (see [`Limits`] and
//! [`ProtocolError`]).
//!
//! Incremental without rescanning: the decoder remembers, in offsets, how far into the buffer the
//! current command has been validated (header read, arguments found, where the line search
//! stopped), and consumes nothing until the whole command is there. Then it splits the command's
//! bytes off the buffer once and hands out the arguments as slices of that one frozen [`Bytes`],
//! so arguments are never copied (except quoted inline ones, which need unescaping). Waiting for a
//! 100 MB bulk costs one length comparison per read.

use std::ops::Deref;

use bytes::{Buf, Bytes, BytesMut};

use super::error::ProtocolError;
use super::inline::{split_args, Arg};
use super::lex::{find, Line};
use super::limits::Limits;
use super::num::parse_strict;

/// At most this many argument slots are reserved from a `*N` header before the arguments arrive:
/// the count is the client's claim, and `*1048576\r\n` must not cost megabytes by itself.
const ARGS_PREALLOC: usize = 16;

/// Above this many argument slots, the reusable span list is released after a command, so one huge
/// `MSET` does not pin memory for the rest of the connection.
const SPANS_KEEP: usize = 1024;

/// One request: the command name and its arguments, as sent (never empty when it comes from a
/// decoder).
///
/// It dereferences to `[Bytes]`, so `cmd[1]`, `cmd.len()` and `cmd.iter()` work directly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    args: Vec<Bytes>,
}

impl Command {
    /// A command from its parts (the name first).
    pub fn new(args: Vec<Bytes>) -> Command {
        Command { args }
    }

    /// The command name as sent (any case), or empty for an empty command.
    pub fn name(&self) -> &[u8] {
        self.args.first().map_or(&[][..], |a| &a[..])
    }

    /// Whether the name is `name`, ignoring ASCII case as Redis does (`ping`, `PING`, `PiNg`).
    pub fn is(&self, name: &str) -> bool {
        self.name().eq_ignore_ascii_case(name.as_bytes())
    }

    /// The name and the arguments.
    pub fn args(&self) -> &[Bytes] {
        &self.args
    }

    /// The name and the arguments, owned.
    pub fn into_args(self) -> Vec<Bytes> {
        self.args
    }
}

impl Deref for Command {
    type Target = [Bytes];

    fn deref(&self) -> &[Bytes] {
        &self.args
    }
}

impl From<Command> for Vec<Bytes> {
    fn from(cmd: Command) -> Vec<Bytes> {
        cmd.args
    }
}

/// Where the decoder is inside the current command. All offsets are from the start of the buffer,
/// which is always the start of the current command (earlier commands were split off).
#[derive(Debug)]
enum State {
    /// Before the first line (a `*N` header or an inline line); the search for its end resumes
    /// at `scan`.
    Start { scan: usize },
    /// After the `*N` header of a multibulk request.
    Args {
        /// Arguments still to read.
        remaining: usize,
        /// The first byte not yet validated.
        pos: usize,
        /// Where the search for the `\r` of the current `$N` line resumes.
        scan: usize,
        /// The length from a `$N` line already read, while its data is awaited.
        bulk: Option<usize>,
    },
}

/// What one step of the decoder achieved.
enum Step {
    Command(Command),
    /// An empty request was consumed, or the state advanced: go on.
    Again,
    /// More bytes are needed.
    Wait,
}

/// Decodes client requests (multibulk and inline) from a read buffer.
///
/// Feed it the connection's read buffer after each read; it returns one command per call while
/// whole commands are buffered:
///
/// ```
/// use bytes::BytesMut;
/// use ringloop::proto::resp::RequestDecoder;
///
/// let mut dec = RequestDecoder::new();
/// let mut buf = BytesMut::from(&b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhel"[..]);
/// assert_eq!(dec.decode(&mut buf)?, None); // incomplete: nothing consumed
/// buf.extend_from_slice(b"lo\r\n");
/// let cmd = dec.decode(&mut buf)?.unwrap();
/// assert_eq!(cmd.args(), [&b"SET"[..], b"k", b"hello"]);
/// assert!(buf.is_empty());
/// # Ok::<(), ringloop::proto::resp::ProtocolError>(())
/// ```
///
/// The decoder remembers progress as offsets into the buffer, so between calls the caller may only
/// *append* to it (or let the decoder consume from it). If the buffer shrinks anyway, the decoder
/// notices and starts the current command over; it never panics. After an `Err`, the connection
/// is unusable: reply with [`ProtocolError::write_reply`] and close, as Redis does.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: Limits,
    state: State,
    /// `(start, len)` of each argument of the current multibulk command; kept between commands to
    /// save an allocation per command.
    spans: Vec<(usize, usize)>,
}

impl Default for RequestDecoder {
    fn default() -> Self {
        RequestDecoder::new()
    }
}

impl RequestDecoder {
    /// A decoder with Redis's default [`Limits`].
    pub fn new() -> RequestDecoder {
        RequestDecoder::with_limits(Limits::DEFAULT)
    }

    /// A decoder with the given limits.
    pub fn with_limits(limits: Limits) -> RequestDecoder {
        RequestDecoder {
            limits,
            state: State::Start { scan: 0 },
            spans: Vec::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Forgets any partly decoded command (for a buffer that was cleared).
    pub fn reset(&mut self) {
        self.state = State::Start { scan: 0 };
        self.spans.clear();
    }

    /// Decodes the next command from the front of `buf`.
    ///
    /// * `Ok(Some(cmd))`: a whole command; exactly its bytes were removed from `buf`.
    /// * `Ok(None)`: the next command is not complete yet. Nothing of it was consumed, but empty
    ///   requests before it (blank lines, `*0`) may have been, as Redis skips them too.
    /// * `Err(e)`: the input is not RESP; reply with `e` and close the connection.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Command>, ProtocolError> {
        loop {
            let step = match self.state {
                State::Start { scan } => self.start(buf, scan)?,
                State::Args { .. } => self.args(buf)?,
            };
            match step {
                Step::Command(cmd) => return Ok(Some(cmd)),
                Step::Again => continue,
                Step::Wait => return Ok(None),
            }
        }
    }

    /// At a command boundary: read the `*N` header, or a whole inline line.
    fn start(&mut self, buf: &mut BytesMut, scan: usize) -> Result<Step, ProtocolError> {
        // A buffer shorter than our resume point was not just appended to: start over.
        let scan = if scan > buf.len() { 0 } else { scan };
        let Some(&first) = buf.first() else {
            self.state = State::Start { scan: 0 };
            return Ok(Step::Wait);
        };
        if first != b'*' {
            return self.inline(buf, scan);
        }
        let max = self.limits.max_inline_len;
        let cr = match find(buf, 0, scan.max(1), max, b'\r') {
            Line::Found(cr) => cr,
            Line::NeedMore(scan) => {
                self.state = State::Start { scan };
                return Ok(Step::Wait);
            }
            Line::TooLong => return Err(ProtocolError::TooBigMultibulkCount),
        };
        // Like Redis, act only once the byte after the '\r' is there too.
        if cr + 1 >= buf.len() {
            self.state = State::Start { scan: cr };
            return Ok(Step::Wait);
        }
        let count = match parse_strict(&buf[1..cr]) {
            Some(n) if n <= 0 => 0,
            Some(n) if n as u64 <= self.limits.max_multibulk_len as u64 => n as usize,
            _ => return Err(ProtocolError::InvalidMultibulkLength),
        };
        if buf[cr + 1] != b'\n' {
            return Err(ProtocolError::ExpectedLf);
        }
        if count == 0 {
            // `*0` and `*-1` are empty requests: Redis drops them without a reply.
            buf.advance(cr + 2);
            self.state = State::Start { scan: 0 };
            return Ok(Step::Again);
        }
        self.spans.clear();
        self.spans.reserve(count.min(ARGS_PREALLOC));
        self.state = State::Args {
            remaining: count,
            pos: cr + 2,
            scan: cr + 2,
            bulk: None,
        };
        Ok(Step::Again)
    }

    /// An inline request: one line, split by Redis's quoting rules.
    fn inline(&mut self, buf: &mut BytesMut, scan: usize) -> Result<Step, ProtocolError> {
        let nl = match find(buf, 0, scan, self.limits.max_inline_len, b'\n') {
            Line::Found(nl) => nl,
            Line::NeedMore(scan) => {
                self.state = State::Start { scan };
                return Ok(Step::Wait);
            }
            Line::TooLong => return Err(ProtocolError::TooBigInlineRequest),
        };
        // "\r\n" and a bare "\n" both end an inline line.
        let end = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        let parts = split_args(&buf[..end])?;
        let line = buf.split_to(nl + 1).freeze();
        self.state = State::Start { scan: 0 };
        if parts.is_empty() {
            return Ok(Step::Again);
        }
        let args = parts
            .into_iter()
            .map(|a| match a {
                Arg::Span(r) => line.slice(r),
                Arg::Owned(v) => Bytes::from(v),
            })
            .collect();
        Ok(Step::Command(Command { args }))
    }

    /// Inside a multibulk request: read `$N` lines and their data until all arguments are there.
    fn args(&mut self, buf: &mut BytesMut) -> Result<Step, ProtocolError> {
        let State::Args {
            mut remaining,
            mut pos,
            mut scan,
            mut bulk,
        } = self.state
        else {
            return Ok(Step::Again);
        };
        if pos > buf.len() || scan > buf.len() {
            // The buffer shrank behind our back; re-read the command from its start.
            self.reset();
            return Ok(Step::Again);
        }
        let limits = self.limits;
        let result = loop {
            if remaining == 0 {
                break Ok(None);
            }
            let len = match bulk {
                Some(len) => len,
                None => match find(buf, pos, scan, limits.max_inline_len, b'\r') {
                    Line::NeedMore(s) => {
                        scan = s;
                        break Ok(Some(()));
                    }
                    Line::TooLong => break Err(ProtocolError::TooBigBulkCount),
                    Line::Found(cr) => {
                        scan = cr;
                        if cr + 1 >= buf.len() {
                            break Ok(Some(()));
                        }
                        // Redis's order of checks: the '$', then the number.
                        if buf[pos] != b'$' {
                            break Err(ProtocolError::ExpectedDollar(buf[pos]));
                        }
                        let len = match parse_strict(&buf[pos + 1..cr]) {
                            Some(n) if n >= 0 && n as u64 <= limits.max_bulk_len as u64 => {
                                n as usize
                            }
                            _ => break Err(ProtocolError::InvalidBulkLength),
                        };
                        if buf[cr + 1] != b'\n' {
                            break Err(ProtocolError::ExpectedLf);
                        }
                        pos = cr + 2;
                        bulk = Some(len);
                        len
                    }
                },
            };
            // `pos + len` cannot overflow in practice (len <= max_bulk_len), but a configured
            // limit of usize::MAX must not make it panic either.
            let Some(end) = pos.checked_add(len).filter(|e| e.checked_add(2).is_some()) else {
                break Err(ProtocolError::InvalidBulkLength);
            };
            if buf.len() < end + 2 {
                break Ok(Some(()));
            }
            if &buf[end..end + 2] != b"\r\n" {
                break Err(ProtocolError::ExpectedCrlfAfterBulk);
            }
            self.spans.push((pos, len));
            pos = end + 2;
            scan = pos;
            bulk = None;
            remaining -= 1;
        };
        match result {
            Err(e) => Err(e),
            Ok(Some(())) => {
                self.state = State::Args {
                    remaining,
                    pos,
                    scan,
                    bulk,
                };
                Ok(Step::Wait)
            }
            Ok(None) => {
                let frame = buf.split_to(pos).freeze();
                let args = self
                    .spans
                    .iter()
                    .map(|&(s, l)| frame.slice(s..s + l))
                    .collect();
                self.spans.clear();
                if self.spans.capacity() > SPANS_KEEP {
                    self.spans = Vec::new();
                }
                self.state = State::Start { scan: 0 };
                Ok(Step::Command(Command { args }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>, usize) {
        let mut dec = RequestDecoder::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(cmd)) => out.push(cmd.iter().map(|a| a.to_vec()).collect()),
                Ok(None) => return (out, None, buf.len()),
                Err(e) => return (out, Some(e), buf.len()),
            }
        }
    }

    #[test]
    fn multibulk_and_inline() {
        let (cmds, err, left) =
            decode_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nSET a b\n*1\r\n$0\r\n\r\n");
        assert_eq!(err, None);
        assert_eq!(left, 0);
        assert_eq!(
            cmds,
            vec![
                vec![b"GET".to_vec(), b"k".to_vec()],
                vec![b"PING".to_vec()],
                vec![b"SET".to_vec(), b"a".to_vec(), b"b".to_vec()],
                vec![b"".to_vec()],
            ]
        );
    }

    #[test]
    fn empty_requests_are_skipped() {
        let (cmds, err, left) = decode_all(b"\r\n\n  \r\n*0\r\n*-1\r\n*-10\r\nPING\r\n");
        assert_eq!((cmds.len(), err, left), (1, None, 0));
    }

    #[test]
    fn incomplete_consumes_nothing() {
        let full = b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n";
        for cut in 0..full.len() {
            let mut dec = RequestDecoder::new();
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(dec.decode(&mut buf), Ok(None), "cut at {cut}");
            assert_eq!(buf.len(), cut);
            buf.extend_from_slice(&full[cut..]);
            let cmd = dec.decode(&mut buf).unwrap().unwrap();
            assert_eq!(cmd.args(), [&b"ECHO"[..], b"hello"]);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn arguments_share_the_frame() {
        let mut dec = RequestDecoder::new();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"[..]);
        let cmd = dec.decode(&mut buf).unwrap().unwrap();
        // Both slices point into one allocation: the second starts 9 bytes after the first.
        let a = cmd[0].as_ptr() as usize;
        let b = cmd[1].as_ptr() as usize;
        assert_eq!(b - a, 9);
    }

    #[test]
    fn shrunk_buffer_restarts() {
        let mut dec = RequestDecoder::new();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nke"[..]);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        buf.clear();
        buf.extend_from_slice(b"PING\r\n");
        assert!(dec.decode(&mut buf).unwrap().unwrap().is("ping"));
    }

    #[test]
    fn claimed_sizes_reserve_nothing() {
        // A client claiming a million arguments, the first of 512 MiB, costs a few slots.
        let mut dec = RequestDecoder::new();
        let mut buf = BytesMut::from(&b"*1048576\r\n$536870912\r\nabc"[..]);
        let cap = buf.capacity();
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert!(dec.spans.capacity() <= ARGS_PREALLOC);
        assert_eq!(buf.capacity(), cap);
        assert_eq!(buf.len(), 25, "nothing consumed");
    }

    #[test]
    fn command_helpers() {
        let cmd = Command::new(vec![Bytes::from_static(b"PiNg")]);
        assert!(cmd.is("ping"));
        assert_eq!(cmd.name(), b"PiNg");
        assert_eq!(Command::default().name(), b"");
        assert_eq!(Vec::from(cmd).len(), 1);
    }
}
