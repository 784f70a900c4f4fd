//! `GET /`: one self-contained page (no build step, no external files, embedded in the binary)
//! that follows one channel three ways at once — polling every second, long polling, and SSE —
//! and counts, for each, the messages it got, the HTTP requests it made and the bytes it moved.
//! The seed's comparison of the three, measured live.

use bytes::Bytes;
use ringloop::proto::http::Response;

const PAGE: &[u8] = include_bytes!("page.html");

pub fn response() -> Response {
    Response::new(200)
        .header("Content-Type", "text/html; charset=utf-8")
        .header("Cache-Control", "no-cache")
        .body(Bytes::from_static(PAGE))
}
