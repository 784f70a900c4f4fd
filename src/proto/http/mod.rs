//! HTTP/1.1 (and 1.0) for servers: a pure, incremental request codec, on `httparse`.
//!
//! Nothing here does I/O or knows about the event loop: the connection layer appends what it
//! reads to a [`BytesMut`](bytes::BytesMut), asks a [`RequestDecoder`] for whole [`Request`]s,
//! and writes the bytes of [`Response::encode`].
//!
//! * **Requests**: [`RequestDecoder`] parses the head with `httparse`, frames the body by
//!   `Content-Length` and checks it against [`Limits`] before awaiting it, supports pipelining
//!   (one request per call, the rest left in the buffer), `Expect: 100-continue`
//!   ([`RequestDecoder::take_continue`]) and slow-request timeouts
//!   ([`RequestDecoder::partial_since`]). Chunked request bodies are refused (501): the
//!   clients this serves (curl, browsers, test code) send `Content-Length`.
//! * **Routing helpers**: [`Request::segments`] and [`Request::query`] decode the target;
//!   [`Request::keep_alive`] applies the HTTP/1.0 and 1.1 persistence rules.
//! * **Responses**: [`Response`] is a status, headers and a body; [`Response::encode`] frames it
//!   with `Content-Length` (or as the answer to `HEAD`), and [`Response::encode_stream_head`]
//!   starts an open-ended body for Server-Sent Events ([`proto::sse`](crate::proto::sse)).
//! * **Errors**: each [`HttpError`] has its status code and a ready-made [`Response`]; any of
//!   them ends the connection.
//!
//! A minimal server loop over one connection's buffers:
//!
//! ```
//! use bytes::{BytesMut, Bytes};
//! use std::time::Instant;
//! use ringloop::proto::http::{Limits, Method, RequestDecoder, Response};
//!
//! fn on_read(dec: &mut RequestDecoder, input: &mut BytesMut, out: &mut Vec<Bytes>) -> bool {
//!     loop {
//!         match dec.decode(input, Instant::now()) {
//!             Ok(Some(req)) => {
//!                 let resp = match (req.method, req.segments().as_slice()) {
//!                     (Method::Get | Method::Head, [hello]) if hello == "hello" => {
//!                         Response::text(200, "hi\n")
//!                     }
//!                     _ => Response::text(404, "not found\n"),
//!                 };
//!                 out.push(resp.encode(req.keep_alive(), req.method == Method::Head));
//!                 if !req.keep_alive() {
//!                     return false; // close after writing
//!                 }
//!             }
//!             Ok(None) => {
//!                 if dec.take_continue() {
//!                     out.push(Bytes::from_static(b"HTTP/1.1 100 Continue\r\n\r\n"));
//!                 }
//!                 return true; // wait for more bytes
//!             }
//!             Err(e) => {
//!                 out.push(e.response().encode(false, false));
//!                 return false; // close after writing
//!             }
//!         }
//!     }
//! }
//!
//! let mut dec = RequestDecoder::new(Limits::default());
//! let mut input = BytesMut::from(&b"GET /hello HTTP/1.1\r\n\r\nHEAD /nope HTTP/1.0\r\n\r\n"[..]);
//! let mut out = Vec::new();
//! assert!(!on_read(&mut dec, &mut input, &mut out)); // the 1.0 request closes the connection
//! assert!(out[0].starts_with(b"HTTP/1.1 200 OK\r\n") && out[0].ends_with(b"\r\n\r\nhi\n"));
//! assert!(out[1].starts_with(b"HTTP/1.1 404 Not Found\r\n") && out[1].ends_with(b"\r\n\r\n"));
//! ```

mod decoder;
mod error;
mod head;
mod limits;
mod request;
mod response;
mod uri;

pub use decoder::RequestDecoder;
pub use error::HttpError;
pub use limits::Limits;
pub use request::{Method, Request};
pub use response::{reason, Response};
