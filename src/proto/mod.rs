//! Protocols: bytes on the wire to messages and back (RESP today; HTTP/1.1 and SSE planned).
//! Codecs are pure and incremental: they never block, never allocate without bound, and never
//! panic on bad input.

pub mod resp;
