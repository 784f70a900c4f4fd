//! The client side of Server-Sent Events: [`EventDecoder`], the WHATWG "event stream
//! interpretation" algorithm, made incremental.
//!
//! The algorithm works line by line, and every line end (CR, LF, CRLF) is ASCII, so decoding
//! UTF-8 one line at a time (lossily, as the standard requires) gives the same text as decoding
//! the whole stream. A CR at the end of the buffer ends its line at once; a LF arriving next is
//! then skipped, so a CRLF split across two reads is one line end, not two.

use bytes::{Buf, BytesMut};

/// The UTF-8 byte order mark, ignored once at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Default bound on one event's data ([`EventDecoder::with_max_event`]).
const DEFAULT_MAX_EVENT: usize = 16 * 1024 * 1024;

/// One dispatched event, as `EventSource` would deliver it to a `message` listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The last event id in effect when this event was dispatched (set by this event's `id:`
    /// line or an earlier one); `None` if none was set, or an empty `id:` line reset it.
    pub id: Option<String>,
    /// The event type: the `event:` field, or `"message"` if the event had none (or an empty
    /// one).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The reconnection time in milliseconds in effect (the last valid `retry:` field seen so
    /// far in the stream), if any.
    pub retry: Option<u64>,
}

/// Parses a `text/event-stream` body into [`Event`]s, following the WHATWG rules: an optional
/// UTF-8 BOM; CRLF, LF or CR line ends; `:` comments; a field without a colon taking the empty
/// value; one space after the colon stripped; `retry` honoured only when it is all ASCII digits;
/// an `id` containing NUL ignored; an event dispatched by each blank line, and only if it had
/// data; the last event id carried over to later events.
///
/// Append what is read to a buffer and call [`decode`](EventDecoder::decode) until it returns
/// `None`; each call consumes the lines it used, leaving an incomplete last line in the buffer.
/// An event still incomplete when the stream ends is never dispatched, as the standard says.
///
/// The decoder buffers at most one event's data, bounded by
/// [`with_max_event`](EventDecoder::with_max_event): an event whose data outgrows the bound is
/// dropped whole. The incomplete line in the caller's buffer is the caller's to bound.
#[derive(Clone, Debug)]
pub struct EventDecoder {
    /// Whether the start of the stream (and its possible BOM) is behind us.
    started: bool,
    /// The previous line ended with CR: a LF at the start of the buffer belongs to it.
    skip_lf: bool,
    /// Bytes at the front of the buffer already searched for a line end.
    scan: usize,
    /// The standard's "data buffer", "event type buffer" and "last event ID buffer".
    data: String,
    event_type: String,
    id_buffer: String,
    /// The standard's "last event ID string", updated when an event is dispatched.
    last_event_id: String,
    retry: Option<u64>,
    max_event: usize,
    /// The current event's data outgrew `max_event`: drop it at the next blank line.
    oversized: bool,
}

impl Default for EventDecoder {
    fn default() -> Self {
        EventDecoder::new()
    }
}

impl EventDecoder {
    /// A decoder at the start of a stream, dropping events whose data exceeds 16 MiB.
    pub fn new() -> Self {
        EventDecoder::with_max_event(DEFAULT_MAX_EVENT)
    }

    /// A decoder dropping events whose data exceeds `max_event` bytes.
    pub fn with_max_event(max_event: usize) -> Self {
        EventDecoder {
            started: false,
            skip_lf: false,
            scan: 0,
            data: String::new(),
            event_type: String::new(),
            id_buffer: String::new(),
            last_event_id: String::new(),
            retry: None,
            max_event,
            oversized: false,
        }
    }

    /// Parses lines from the front of `buf` until an event is dispatched (returned) or no
    /// complete line is left (`None`). Consumes every line it parsed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Option<Event> {
        loop {
            if !self.started {
                if buf.starts_with(BOM) {
                    buf.advance(BOM.len());
                } else if BOM.starts_with(buf) {
                    return None; // empty, or a prefix of the BOM: cannot tell yet
                }
                self.started = true;
            }
            if self.skip_lf {
                match buf.first() {
                    None => return None,
                    Some(b'\n') => buf.advance(1),
                    Some(_) => {}
                }
                self.skip_lf = false;
            }
            let from = if self.scan <= buf.len() { self.scan } else { 0 };
            let Some(end) = buf
                .get(from..)
                .and_then(|rest| rest.iter().position(|&b| b == b'\r' || b == b'\n'))
                .map(|i| from + i)
            else {
                self.scan = buf.len();
                return None;
            };
            let line = buf.split_to(end);
            self.skip_lf = buf.first() == Some(&b'\r');
            buf.advance(1);
            self.scan = 0;
            if let Some(event) = self.line(&String::from_utf8_lossy(&line)) {
                return Some(event);
            }
        }
    }

    /// The last event id in effect (what a reconnecting client sends as `Last-Event-ID`), if
    /// any.
    pub fn last_event_id(&self) -> Option<&str> {
        (!self.last_event_id.is_empty()).then_some(self.last_event_id.as_str())
    }

    /// The reconnection time in milliseconds set by the stream's last valid `retry:` field, if
    /// any.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Processes one line (without its line end); returns the event a blank line dispatches.
    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            return self.dispatch();
        }
        let (field, value) = match line.split_once(':') {
            Some(("", _)) => return None, // a comment
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event_type),
            "data" => {
                if self
                    .data
                    .len()
                    .saturating_add(value.len())
                    .saturating_add(1)
                    > self.max_event
                {
                    self.oversized = true;
                    self.data = String::new(); // release it now, not at the blank line
                }
                if !self.oversized {
                    self.data.push_str(value);
                    self.data.push('\n');
                }
            }
            "id" if !value.contains('\0') => value.clone_into(&mut self.id_buffer),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // All digits, so only an overflow fails: ignore it like any invalid value.
                if let Ok(ms) = value.parse() {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
        None
    }

    /// The standard's "dispatch the event" steps, at a blank line.
    fn dispatch(&mut self) -> Option<Event> {
        self.last_event_id.clone_from(&self.id_buffer);
        let event_type = std::mem::take(&mut self.event_type);
        let mut data = std::mem::take(&mut self.data);
        if std::mem::take(&mut self.oversized) || data.is_empty() {
            return None;
        }
        if data.ends_with('\n') {
            data.pop();
        }
        Some(Event {
            id: self.last_event_id().map(str::to_owned),
            event: if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type
            },
            data,
            retry: self.retry,
        })
    }
}
