//! Server-Sent Events: the `text/event-stream` format that a browser's `EventSource` reads
//! (WHATWG HTML, "Server-sent events").
//!
//! An event stream is the open-ended body of an HTTP response (see
//! [`Response::event_stream`](crate::proto::http::Response::event_stream) and
//! [`encode_stream_head`](crate::proto::http::Response::encode_stream_head)): a sequence of
//! blocks of `field: value` lines, each block ended by a blank line.
//!
//! * **Server side**: [`event()`], [`comment()`] and [`retry()`] encode one block each, ready to
//!   be queued on a connection. They are pure functions of their arguments, so one encoded event
//!   can be shared by every subscriber of a channel.
//! * **Client side**: [`EventDecoder`] implements the WHATWG parsing rules, for tests and for
//!   programs that consume a stream; it is incremental like the other decoders here.
//!
//! ```
//! use bytes::BytesMut;
//! use ringloop::proto::sse::{self, EventDecoder};
//!
//! let mut stream = BytesMut::new();
//! stream.extend_from_slice(&sse::retry(2000));
//! stream.extend_from_slice(&sse::event(Some(7), Some("chat"), b"hello\nworld"));
//! stream.extend_from_slice(&sse::comment("keep-alive"));
//! assert_eq!(
//!     &stream[..],
//!     &b"retry: 2000\n\nid: 7\nevent: chat\ndata: hello\ndata: world\n\n: keep-alive\n\n"[..]
//! );
//!
//! let mut dec = EventDecoder::new();
//! let ev = dec.decode(&mut stream).expect("one event");
//! assert_eq!((ev.id.as_deref(), &ev.event[..], &ev.data[..]), (Some("7"), "chat", "hello\nworld"));
//! assert_eq!(ev.retry, Some(2000));
//! assert_eq!(dec.decode(&mut stream), None); // the comment is not an event
//! assert_eq!(dec.last_event_id(), Some("7"));
//! ```

mod decoder;
mod encode;

pub use decoder::{Event, EventDecoder};
pub use encode::{comment, event, retry};
