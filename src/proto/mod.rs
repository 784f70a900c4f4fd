//! Protocols: bytes on the wire to messages and back. Codecs are pure and incremental: they
//! never block, never allocate without bound, and never panic on bad input.
//!
//! * [`resp`]: RESP2/RESP3, the Redis protocol (server and client side).
//! * [`http`]: HTTP/1.1 requests and responses for servers, on `httparse`.
//! * [`sse`]: Server-Sent Events, the `text/event-stream` body a browser's `EventSource` reads
//!   (the encoder for servers, the WHATWG parser for clients and tests).

pub mod http;
pub mod resp;
pub mod sse;
