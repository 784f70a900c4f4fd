//! Table tests for the HTTP/1.1 codec (`proto::http`) and the Server-Sent Events codec
//! (`proto::sse`): good and bad requests with their statuses, pipelining, `100-continue`,
//! keep-alive rules, target decoding, response encoding, event encoding and the WHATWG parsing
//! edge cases. The last section runs the blocking test client of `support/http_client.rs`
//! against a tiny thread-per-connection server built from the same codec.

#[path = "support/http_client.rs"]
mod http_client;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_client::{HttpConn, SseStream};
use ringloop::proto::http::{reason, HttpError, Limits, Method, Request, RequestDecoder, Response};
use ringloop::proto::sse::{self, Event, EventDecoder};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Decodes everything in `input` at once: the requests, then how it stopped (an error, or
/// `Ok(())` when more bytes are needed) and what is left in the buffer.
fn decode_all(input: &[u8], limits: Limits) -> (Vec<Request>, Result<(), HttpError>, BytesMut) {
    let mut dec = RequestDecoder::new(limits);
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    loop {
        match dec.decode(&mut buf, Instant::now()) {
            Ok(Some(req)) => out.push(req),
            Ok(None) => return (out, Ok(()), buf),
            Err(e) => return (out, Err(e), buf),
        }
    }
}

/// The one request `input` holds, which must be all of it.
fn one(input: &[u8]) -> Request {
    let (mut reqs, end, rest) = decode_all(input, Limits::default());
    assert_eq!(end, Ok(()), "{:?}", String::from_utf8_lossy(input));
    assert_eq!(reqs.len(), 1, "{:?}", String::from_utf8_lossy(input));
    assert!(rest.is_empty(), "left over: {rest:?}");
    reqs.remove(0)
}

/// The error `input` causes (with `limits`).
fn error(input: &[u8], limits: Limits) -> HttpError {
    match decode_all(input, limits) {
        (_, Err(e), _) => e,
        (reqs, Ok(()), rest) => panic!(
            "{:?}: no error; {} requests, {} bytes left",
            String::from_utf8_lossy(input),
            reqs.len(),
            rest.len()
        ),
    }
}

fn small() -> Limits {
    Limits {
        max_head: 128,
        max_headers: 4,
        max_body: 16,
    }
}

// ---------------------------------------------------------------------------------------------
// Good requests

#[test]
fn simple_get() {
    let req =
        one(b"GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Thing:  v  \r\nAccept: */*\r\n\r\n");
    assert_eq!(req.method, Method::Get);
    assert_eq!(req.method_str, "GET");
    assert_eq!(req.target, "/a/b?x=1");
    assert_eq!(req.minor_version, 1);
    let names: Vec<&str> = req.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["host", "x-thing", "accept"]);
    assert_eq!(req.header("X-THING"), Some(&b"v"[..]));
    assert_eq!(req.header_str("host"), Some("example.com"));
    assert_eq!(req.header("missing"), None);
    assert!(req.body.is_empty());
}

#[test]
fn methods() {
    for (token, method) in [
        ("GET", Method::Get),
        ("HEAD", Method::Head),
        ("POST", Method::Post),
        ("PUT", Method::Put),
        ("DELETE", Method::Delete),
        ("OPTIONS", Method::Options),
        ("PATCH", Method::Patch),
        ("PROPFIND", Method::Other),
        ("get", Method::Other), // methods are case-sensitive
    ] {
        let length = if matches!(method, Method::Post | Method::Put | Method::Patch) {
            "Content-Length: 0\r\n"
        } else {
            ""
        };
        let req = one(format!("{token} / HTTP/1.1\r\n{length}\r\n").as_bytes());
        assert_eq!((req.method, req.method_str.as_str()), (method, token));
    }
}

#[test]
fn bodies() {
    let req = one(b"POST /m HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(&req.body[..], b"hello");
    // A body on GET is legal with a Content-Length.
    let req = one(b"GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(&req.body[..], b"hi");
    // Identical repeated lengths are one length.
    let req = one(b"PUT / HTTP/1.1\r\nContent-Length: 3, 3\r\ncontent-length: 3\r\n\r\nabc");
    assert_eq!(&req.body[..], b"abc");
    // Zero, and leading zeros.
    assert!(one(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        .body
        .is_empty());
    assert_eq!(
        &one(b"POST / HTTP/1.1\r\nContent-Length: 002\r\n\r\nok").body[..],
        b"ok"
    );
    // DELETE without a length has an empty body (not 411).
    assert!(one(b"DELETE /x HTTP/1.1\r\n\r\n").body.is_empty());
    // A body can hold anything, including what looks like another request.
    let req = one(b"POST / HTTP/1.1\r\nContent-Length: 18\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    assert_eq!(&req.body[..], b"GET / HTTP/1.1\r\n\r\n");
}

#[test]
fn lenient_framing() {
    // Bare LF line ends.
    let req = one(b"GET /lf HTTP/1.0\nHost: h\n\n");
    assert_eq!((req.target.as_str(), req.minor_version), ("/lf", 0));
    // Empty lines before the request line are skipped (RFC 9112 §2.2).
    let req = one(b"\r\n\r\n\nGET / HTTP/1.1\r\n\r\n");
    assert_eq!(req.method, Method::Get);
    // A missing Host is accepted.
    one(b"GET / HTTP/1.1\r\n\r\n");
    // Header values need not be UTF-8.
    let req = one(b"GET / HTTP/1.1\r\nX-Bin: \xff\xfe\r\n\r\n");
    assert_eq!(req.header("x-bin"), Some(&b"\xff\xfe"[..]));
    assert_eq!(req.header_str("x-bin"), None);
    // Repeated headers stay separate, in order; header() gives the first.
    let req = one(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\na: 3\r\n\r\n");
    assert_eq!(req.header_str("a"), Some("1"));
    assert_eq!(
        req.headers_named("A").collect::<Vec<_>>(),
        [&b"1"[..], b"3"]
    );
}

#[test]
fn pipelined_requests() {
    let input = b"GET /1 HTTP/1.1\r\n\r\n\
        POST /2 HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody\
        \r\n\
        HEAD /3 HTTP/1.1\r\n\r\n\
        GET /4 HT";
    let mut dec = RequestDecoder::new(Limits::default());
    let mut buf = BytesMut::from(&input[..]);
    let t0 = Instant::now();
    let r1 = dec.decode(&mut buf, t0).unwrap().unwrap();
    assert_eq!((r1.method, r1.target.as_str()), (Method::Get, "/1"));
    // The rest stays in the buffer, untouched.
    assert!(buf.starts_with(b"POST /2"));
    let r2 = dec.decode(&mut buf, t0).unwrap().unwrap();
    assert_eq!((r2.target.as_str(), &r2.body[..]), ("/2", &b"body"[..]));
    // The stray CRLF after a body is skipped.
    let r3 = dec.decode(&mut buf, t0).unwrap().unwrap();
    assert_eq!((r3.method, r3.target.as_str()), (Method::Head, "/3"));
    assert_eq!(dec.decode(&mut buf, t0), Ok(None));
    assert_eq!(&buf[..], b"GET /4 HT");
    assert_eq!(dec.partial_since(), Some(t0));
    buf.extend_from_slice(b"TP/1.1\r\n\r\n");
    let r4 = dec.decode(&mut buf, Instant::now()).unwrap().unwrap();
    assert_eq!(r4.target, "/4");
    assert!(buf.is_empty());
    assert_eq!(dec.partial_since(), None);
}

#[test]
fn waiting_consumes_nothing() {
    let full = b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
    let mut dec = RequestDecoder::new(Limits::default());
    let mut buf = BytesMut::new();
    for (i, &b) in full.iter().enumerate() {
        buf.extend_from_slice(&[b]);
        let got = dec.decode(&mut buf, Instant::now()).unwrap();
        if i + 1 < full.len() {
            assert_eq!(got, None, "after {} bytes", i + 1);
            assert_eq!(buf.len(), i + 1);
        } else {
            assert_eq!(&got.unwrap().body[..], b"0123456789");
        }
    }
}

#[test]
fn partial_since_tracks_the_first_byte() {
    let mut dec = RequestDecoder::new(Limits::default());
    let mut buf = BytesMut::new();
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(1);
    let t2 = t0 + Duration::from_secs(2);
    assert_eq!(dec.decode(&mut buf, t0), Ok(None));
    assert_eq!(dec.partial_since(), None);
    buf.extend_from_slice(b"GE");
    assert_eq!(dec.decode(&mut buf, t1), Ok(None));
    assert_eq!(dec.partial_since(), Some(t1));
    buf.extend_from_slice(b"T / HTTP/1.1\r\n");
    assert_eq!(dec.decode(&mut buf, t2), Ok(None));
    assert_eq!(
        dec.partial_since(),
        Some(t1),
        "the clock does not restart per read"
    );
    buf.extend_from_slice(b"\r\n");
    assert!(dec.decode(&mut buf, t2).unwrap().is_some());
    assert_eq!(dec.partial_since(), None);
    // Empty lines alone count as a partial request: they cannot keep a connection alive.
    buf.extend_from_slice(b"\r\n");
    assert_eq!(dec.decode(&mut buf, t2), Ok(None));
    assert!(buf.is_empty());
    assert_eq!(dec.partial_since(), Some(t2));
}

#[test]
fn shrunk_buffer_restarts() {
    let mut dec = RequestDecoder::new(Limits::default());
    let mut buf = BytesMut::from(&b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n"[..]);
    assert_eq!(dec.decode(&mut buf, Instant::now()), Ok(None));
    buf.clear();
    buf.extend_from_slice(b"GET /other HTTP/1.1\r\n\r\n");
    assert_eq!(
        dec.decode(&mut buf, Instant::now())
            .unwrap()
            .unwrap()
            .target,
        "/other"
    );
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn errors_and_statuses() {
    let d = Limits::default();
    let table: &[(&[u8], Limits, u16)] = &[
        // Malformed heads.
        (b"GARBAGE\r\n\r\n", d, 400),
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", d, 400),
        (b"GET / HTTP/1.1\r\nName : v\r\n\r\n", d, 400),
        (b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", d, 400),
        (b"GET  / HTTP/1.1\r\n\r\n", d, 400),
        (b"GET /\r\n\r\n", d, 400),
        (b"GET / FOO/1.1\r\n\r\n", d, 400),
        (b"GET / HTTP/1.1x\r\n\r\n", d, 400),
        (b"GET / http/1.1\r\n\r\n", d, 400),
        (b"\x00\x01\x02\n", d, 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", d, 400),
        // Versions.
        (b"GET / HTTP/2.0\r\n\r\n", d, 505),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", d, 505),
        (b"GET / HTTP/1.2\r\n\r\n", d, 505),
        (b"GET / HTTP/0.9\r\n\r\n", d, 505),
        // Content-Length.
        (b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", d, 400),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", d, 400),
        (b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", d, 400),
        (b"POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", d, 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", d, 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", d, 400),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            d,
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            d,
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            d,
            400,
        ),
        // Transfer-Encoding.
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            d,
            501,
        ),
        (b"GET / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", d, 501),
        // Length required.
        (b"POST / HTTP/1.1\r\n\r\n", d, 411),
        (b"PUT / HTTP/1.1\r\n\r\n", d, 411),
        (b"PATCH / HTTP/1.0\r\n\r\n", d, 411),
        // Too large.
        (
            b"POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n",
            small(),
            413,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n",
            d,
            413,
        ),
        (
            b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
            small(),
            431,
        ),
    ];
    for (input, limits, status) in table {
        let e = error(input, *limits);
        assert_eq!(
            e.status(),
            *status,
            "{:?} gave {e:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn body_too_large_is_known_before_the_body() {
    let e = error(b"POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n", small());
    assert_eq!(
        e,
        HttpError::BodyTooLarge {
            length: 17,
            limit: 16
        }
    );
    // 16 is fine.
    let (reqs, end, _) = decode_all(
        b"POST / HTTP/1.1\r\nContent-Length: 16\r\n\r\n0123456789abcdef",
        small(),
    );
    assert_eq!((reqs.len(), end), (1, Ok(())));
}

#[test]
fn head_limits() {
    let limits = small(); // max_head = 128
                          // A head of exactly max_head bytes is accepted, one more byte is 431.
    let head = |len: usize| {
        let fixed = b"GET / HTTP/1.1\r\nX: \r\n\r\n".len();
        format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(len - fixed))
    };
    assert_eq!(head(128).len(), 128);
    let (reqs, end, _) = decode_all(head(128).as_bytes(), limits);
    assert_eq!((reqs.len(), end), (1, Ok(())));
    assert_eq!(error(head(129).as_bytes(), limits), HttpError::HeadTooLarge);
    // Reported as soon as max_head bytes are buffered, without waiting for the end of the head.
    assert_eq!(error(&[b'A'; 128], limits), HttpError::HeadTooLarge);
    let (_, end, _) = decode_all(&[b'A'; 127], limits);
    assert_eq!(end, Ok(()));
    // A long target counts too.
    let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(200));
    assert_eq!(error(long.as_bytes(), limits), HttpError::HeadTooLarge);
    // Empty lines before the request count towards the head.
    assert_eq!(error(&b"\r\n".repeat(65), limits), HttpError::HeadTooLarge);
    // Too many headers, found before the head is complete.
    let many = "GET / HTTP/1.1\r\n".to_owned() + &"A: 1\r\n".repeat(5);
    assert_eq!(error(many.as_bytes(), limits), HttpError::HeadTooLarge);
    // The default allows 64 headers, not 65.
    let h64 = "GET / HTTP/1.1\r\n".to_owned() + &"A: 1\r\n".repeat(64) + "\r\n";
    assert_eq!(one(h64.as_bytes()).headers.len(), 64);
    let h65 = "GET / HTTP/1.1\r\n".to_owned() + &"A: 1\r\n".repeat(65) + "\r\n";
    assert_eq!(
        error(h65.as_bytes(), Limits::default()),
        HttpError::HeadTooLarge
    );
}

#[test]
fn errors_are_sticky_and_well_formed() {
    let mut dec = RequestDecoder::new(Limits::default());
    let mut buf = BytesMut::from(&b"GET / HTTP/3.0\r\n\r\n"[..]);
    let e1 = dec.decode(&mut buf, Instant::now()).unwrap_err();
    let e2 = dec.decode(&mut buf, Instant::now()).unwrap_err();
    assert_eq!(e1, e2);

    for e in [
        HttpError::BadRequest("why".into()),
        HttpError::HeadTooLarge,
        HttpError::BodyTooLarge {
            length: 5,
            limit: 4,
        },
        HttpError::LengthRequired,
        HttpError::ChunkedNotImplemented,
        HttpError::VersionNotSupported,
    ] {
        let wire = e.response().encode(false, false);
        let text = String::from_utf8(wire.to_vec()).unwrap();
        let status_line = format!("HTTP/1.1 {} {}\r\n", e.status(), reason(e.status()));
        assert!(text.starts_with(&status_line), "{text}");
        assert!(!reason(e.status()).is_empty());
        assert!(text.contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.ends_with(&format!("\r\n\r\n{e}\n")), "{text}");
        let _: &dyn std::error::Error = &e;
    }
    assert!(HttpError::BadRequest("x y".into())
        .to_string()
        .contains("x y"));
    assert!(HttpError::BodyTooLarge {
        length: 5,
        limit: 4
    }
    .to_string()
    .contains('5'));
}

// ---------------------------------------------------------------------------------------------
// 100-continue

#[test]
fn expect_continue() {
    let mut dec = RequestDecoder::new(Limits::default());
    let mut buf = BytesMut::from(
        &b"POST /up HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n"[..],
    );
    assert!(!dec.take_continue());
    assert_eq!(dec.decode(&mut buf, Instant::now()), Ok(None));
    assert!(dec.take_continue());
    assert!(!dec.take_continue(), "once per request");
    assert_eq!(dec.decode(&mut buf, Instant::now()), Ok(None));
    assert!(!dec.take_continue(), "not again on the next read");
    buf.extend_from_slice(b"da");
    assert_eq!(dec.decode(&mut buf, Instant::now()), Ok(None));
    assert!(!dec.take_continue());
    buf.extend_from_slice(b"ta");
    assert_eq!(
        &dec.decode(&mut buf, Instant::now()).unwrap().unwrap().body[..],
        b"data"
    );
    assert!(!dec.take_continue());

    // No 100 when the body came with the head, for HTTP/1.0, or for an empty body.
    for input in [
        &b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"[..],
        b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
        b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
        b"POST / HTTP/1.1\r\nExpect: something-else\r\nContent-Length: 2\r\n\r\n",
    ] {
        let mut dec = RequestDecoder::new(Limits::default());
        let mut buf = BytesMut::from(input);
        let _ = dec.decode(&mut buf, Instant::now()).unwrap();
        assert!(!dec.take_continue(), "{:?}", String::from_utf8_lossy(input));
    }
    // A too-large body is refused instead of invited.
    let mut dec = RequestDecoder::new(small());
    let mut buf = BytesMut::from(
        &b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 99\r\n\r\n"[..],
    );
    assert_eq!(
        dec.decode(&mut buf, Instant::now()).unwrap_err().status(),
        413
    );
    assert!(!dec.take_continue());
}

// ---------------------------------------------------------------------------------------------
// Keep-alive and target decoding

#[test]
fn keep_alive_rules() {
    let table: &[(&str, bool)] = &[
        ("GET / HTTP/1.1\r\n\r\n", true),
        ("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false),
        ("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", false),
        (
            "GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n",
            false,
        ),
        (
            "GET / HTTP/1.1\r\nConnection: upgrade\r\nConnection: close\r\n\r\n",
            false,
        ),
        ("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", true),
        ("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true),
        ("GET / HTTP/1.0\r\n\r\n", false),
        ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        (
            "GET / HTTP/1.0\r\nConnection: upgrade ,  keep-alive\r\n\r\n",
            true,
        ),
        (
            "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            false,
        ),
        ("GET / HTTP/1.0\r\nConnection: keepalive\r\n\r\n", false),
    ];
    for (input, keep) in table {
        assert_eq!(one(input.as_bytes()).keep_alive(), *keep, "{input:?}");
    }
}

#[test]
fn target_decoding() {
    let req = |target: &str| one(format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes());
    let r = req("/channels/a%20b/messages?after=3");
    assert_eq!(r.path(), "/channels/a%20b/messages");
    assert_eq!(r.segments(), ["channels", "a b", "messages"]);
    assert_eq!(r.query("after").as_deref(), Some("3"));
    assert_eq!(r.query("before"), None);

    let table: &[(&str, &str, &[&str])] = &[
        ("/", "/", &[]),
        ("//a///b/", "//a///b/", &["a", "b"]),
        ("/a%2Fb/c", "/a%2Fb/c", &["a/b", "c"]),
        ("/a+b", "/a+b", &["a+b"]),
        ("/caf%C3%A9", "/caf%C3%A9", &["café"]),
        ("/bad%zz%4", "/bad%zz%4", &["bad%zz%4"]),
        ("/%ff", "/%ff", &["\u{fffd}"]),
        ("/x?y=/z", "/x", &["x"]),
        ("/x#frag", "/x", &["x"]),
        ("http://host:8080/p/q?r=1", "/p/q", &["p", "q"]),
        ("http://host", "/", &[]),
        ("*", "*", &["*"]),
    ];
    for (target, path, segments) in table {
        let r = req(target);
        assert_eq!(r.target, *target);
        assert_eq!(r.path(), *path, "{target}");
        assert_eq!(r.segments(), *segments, "{target}");
    }

    let r = req("/s?q=a+b%21&q=second&empty=&flag&enc%20key=v&x=%E2%9C%93");
    assert_eq!(r.query("q").as_deref(), Some("a b!"));
    assert_eq!(r.query("empty").as_deref(), Some(""));
    assert_eq!(r.query("flag").as_deref(), Some(""));
    assert_eq!(r.query("enc key").as_deref(), Some("v"));
    assert_eq!(r.query("x").as_deref(), Some("✓"));
    assert_eq!(req("/s?a=1#b=2").query("b"), None);
}

// ---------------------------------------------------------------------------------------------
// Responses

#[test]
fn response_encoding() {
    let r = Response::text(200, "hi");
    assert_eq!(
        &r.encode(true, false)[..],
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi"
    );
    assert_eq!(
        &r.encode(false, false)[..],
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
    );
    // HEAD: the same head, including the real length, and no body.
    assert_eq!(
        &r.encode(true, true)[..],
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"
    );
    assert_eq!(
        &Response::json(404, "{}").encode(true, false)[..],
        b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"
    );
    // Empty body.
    assert_eq!(
        &Response::new(200).encode(true, false)[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
    );
    // 204 and 304 carry no body and (204) no length.
    assert_eq!(
        &Response::new(204).body("ignored").encode(true, false)[..],
        b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"
    );
    assert_eq!(
        &Response::new(304).encode(false, false)[..],
        b"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n"
    );
    // 1xx keeps the caller's Connection header.
    assert_eq!(
        &Response::new(101)
            .header("Connection", "upgrade")
            .header("Upgrade", "websocket")
            .encode(true, false)[..],
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
    );
    // The encoder owns the framing headers, and keeps header lines single lines.
    assert_eq!(
        &Response::new(200)
            .header("content-length", "999")
            .header("Connection", "close")
            .header("X-Evil", "a\r\nSet-Cookie: b")
            .body("abc")
            .encode(true, false)[..],
        b"HTTP/1.1 200 OK\r\nX-Evil: aSet-Cookie: b\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc"
    );
    // A status without a standard reason still gives a valid status line.
    assert!(Response::new(599)
        .encode(false, false)
        .starts_with(b"HTTP/1.1 599 \r\n"));
    // Accessors.
    let r = Response::new(201)
        .header("Location", "/x")
        .body(Bytes::from_static(b"b"));
    assert_eq!(
        (r.status, r.header_value("location"), &r.body[..]),
        (201, Some("/x"), &b"b"[..])
    );
}

#[test]
fn stream_head() {
    let head = Response::event_stream()
        .header("X-Accel-Buffering", "no")
        .body("ignored")
        .encode_stream_head();
    assert_eq!(
        &head[..],
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn reasons() {
    for (status, text) in [
        (100, "Continue"),
        (200, "OK"),
        (201, "Created"),
        (204, "No Content"),
        (301, "Moved Permanently"),
        (400, "Bad Request"),
        (404, "Not Found"),
        (405, "Method Not Allowed"),
        (409, "Conflict"),
        (411, "Length Required"),
        (413, "Content Too Large"),
        (429, "Too Many Requests"),
        (431, "Request Header Fields Too Large"),
        (500, "Internal Server Error"),
        (501, "Not Implemented"),
        (503, "Service Unavailable"),
        (505, "HTTP Version Not Supported"),
        (799, ""),
    ] {
        assert_eq!(reason(status), text);
    }
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events: encoding

#[test]
fn sse_encoding() {
    // (id, event name, data, wire)
    type Row<'a> = (Option<u64>, Option<&'a str>, &'a [u8], &'a [u8]);
    let table: &[Row] = &[
        (None, None, b"", b"data: \n\n"),
        (None, None, b"x", b"data: x\n\n"),
        (Some(0), None, b"x", b"id: 0\ndata: x\n\n"),
        (
            Some(u64::MAX),
            Some("e"),
            b"x",
            b"id: 18446744073709551615\nevent: e\ndata: x\n\n",
        ),
        (None, None, b"a\nb", b"data: a\ndata: b\n\n"),
        (
            None,
            None,
            b"a\r\nb\rc\n",
            b"data: a\ndata: b\ndata: c\ndata: \n\n",
        ),
        (None, None, b"\n", b"data: \ndata: \n\n"),
        (None, None, b"\r\r\n", b"data: \ndata: \ndata: \n\n"),
        (None, None, b" lead", b"data:  lead\n\n"),
        (None, Some("a\r\nb\rc"), b"", b"event: abc\ndata: \n\n"),
        (None, Some(""), b"x", b"event: \ndata: x\n\n"),
    ];
    for (id, event, data, wire) in table {
        assert_eq!(
            &sse::event(*id, *event, data)[..],
            *wire,
            "{id:?} {event:?} {:?}",
            String::from_utf8_lossy(data)
        );
    }
    assert_eq!(&sse::comment("ping")[..], b": ping\n\n");
    assert_eq!(&sse::comment("a\nb\r")[..], b": ab\n\n");
    assert_eq!(&sse::comment("")[..], b": \n\n");
    assert_eq!(&sse::retry(1500)[..], b"retry: 1500\n\n");
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events: decoding

/// All events in `stream`, fed whole.
fn events(stream: &[u8]) -> Vec<Event> {
    let mut dec = EventDecoder::new();
    let mut buf = BytesMut::from(stream);
    std::iter::from_fn(|| dec.decode(&mut buf)).collect()
}

fn ev(id: Option<&str>, event: &str, data: &str) -> Event {
    Event {
        id: id.map(str::to_owned),
        event: event.to_owned(),
        data: data.to_owned(),
        retry: None,
    }
}

#[test]
fn sse_round_trip() {
    let mut stream = Vec::new();
    stream.extend_from_slice(&sse::event(
        Some(1),
        None,
        b"line one\nline two\r\nline three",
    ));
    stream.extend_from_slice(&sse::comment("heartbeat"));
    stream.extend_from_slice(&sse::event(None, Some("update"), b""));
    stream.extend_from_slice(&sse::event(Some(2), Some("x"), "ünï\rcode".as_bytes()));
    assert_eq!(
        events(&stream),
        [
            ev(Some("1"), "message", "line one\nline two\nline three"),
            ev(Some("1"), "update", ""),
            ev(Some("2"), "x", "ünï\ncode"),
        ]
    );
}

#[test]
fn sse_whatwg_examples() {
    // The examples of the WHATWG "Server-sent events" section.
    assert_eq!(
        events(b"data: YHOO\ndata: +2\ndata: 10\n\n"),
        [ev(None, "message", "YHOO\n+2\n10")]
    );
    assert_eq!(
        events(
            b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n"
        ),
        [
            ev(Some("1"), "message", "first event"),
            ev(None, "message", "second event"), // the empty id reset the last event id
        ]
    );
    assert_eq!(
        events(b"data\n\ndata\ndata\n\ndata:"),
        [ev(None, "message", ""), ev(None, "message", "\n")]
    );
    assert_eq!(
        events(b"data:test\n\ndata: test\n\n"),
        [ev(None, "message", "test"), ev(None, "message", "test")]
    );
}

#[test]
fn sse_line_ends() {
    let expected = [ev(Some("7"), "e", "a\nb")];
    for stream in [
        &b"id: 7\nevent: e\ndata: a\ndata: b\n\n"[..],
        b"id: 7\r\nevent: e\r\ndata: a\r\ndata: b\r\n\r\n",
        b"id: 7\revent: e\rdata: a\rdata: b\r\r",
        b"id: 7\r\nevent: e\rdata: a\ndata: b\r\n\n",
    ] {
        assert_eq!(
            events(stream),
            expected,
            "{:?}",
            String::from_utf8_lossy(stream)
        );
        // Byte by byte, so every CR is at the end of the buffer once.
        let mut dec = EventDecoder::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in stream {
            buf.extend_from_slice(&[b]);
            got.extend(std::iter::from_fn(|| dec.decode(&mut buf)));
        }
        assert_eq!(
            got,
            expected,
            "bytewise {:?}",
            String::from_utf8_lossy(stream)
        );
    }
    // CR LF split across reads is one line end, not an extra blank line (which would dispatch).
    let mut dec = EventDecoder::new();
    let mut buf = BytesMut::from(&b"data: a\r"[..]);
    assert_eq!(dec.decode(&mut buf), None);
    buf.extend_from_slice(b"\ndata: b\r");
    assert_eq!(dec.decode(&mut buf), None);
    buf.extend_from_slice(b"\n\r\n");
    assert_eq!(dec.decode(&mut buf), Some(ev(None, "message", "a\nb")));
}

#[test]
fn sse_fields() {
    // BOM at the start is ignored (also when split), but only there.
    assert_eq!(
        events(b"\xEF\xBB\xBFdata: x\n\n"),
        [ev(None, "message", "x")]
    );
    let mut dec = EventDecoder::new();
    let mut buf = BytesMut::from(&b"\xEF\xBB"[..]);
    assert_eq!(dec.decode(&mut buf), None);
    buf.extend_from_slice(b"\xBFdata: y\n\n");
    assert_eq!(dec.decode(&mut buf), Some(ev(None, "message", "y")));
    assert_eq!(
        events(b"data: x\n\n\xEF\xBB\xBFdata: y\n\n"),
        [ev(None, "message", "x")],
        "a later BOM makes the field name unknown"
    );
    // Only one space after the colon is removed; none is needed.
    assert_eq!(events(b"data:  two\n\n"), [ev(None, "message", " two")]);
    assert_eq!(events(b"data:\tx\n\n"), [ev(None, "message", "\tx")]);
    // Unknown fields and field names with other case are ignored.
    assert_eq!(
        events(b"Data: x\nfoo: y\ndata: z\n\n"),
        [ev(None, "message", "z")]
    );
    // No data, no event, but the id still takes effect.
    let mut dec = EventDecoder::new();
    let mut buf = BytesMut::from(&b"id: 5\nevent: e\n\ndata: d\n\n"[..]);
    assert_eq!(dec.decode(&mut buf), Some(ev(Some("5"), "message", "d")));
    // An id with NUL is ignored; the previous one stays.
    assert_eq!(
        events(b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\n"),
        [ev(Some("1"), "message", "a"), ev(Some("1"), "message", "b")]
    );
    // An event type of "" means message; an event type does not carry over.
    assert_eq!(
        events(b"event:\ndata: a\n\nevent: e\ndata: b\n\ndata: c\n\n"),
        [
            ev(None, "message", "a"),
            ev(None, "e", "b"),
            ev(None, "message", "c")
        ]
    );
    // An unterminated event is not dispatched.
    assert_eq!(events(b"data: a\n"), []);
    // Invalid UTF-8 becomes U+FFFD.
    assert_eq!(events(b"data: \xff\n\n"), [ev(None, "message", "\u{fffd}")]);
}

#[test]
fn sse_retry_and_last_id() {
    let mut dec = EventDecoder::new();
    let mut buf = BytesMut::from(
        &b"retry: 100\n\nretry: x1\nretry: 1 \nretry:\nretry: -5\nretry: 99999999999999999999999\ndata: a\nid: 9\n\n"[..],
    );
    let e = dec.decode(&mut buf).unwrap();
    assert_eq!(e.retry, Some(100), "invalid retry values are ignored");
    assert_eq!(e.id.as_deref(), Some("9"));
    assert_eq!((dec.retry(), dec.last_event_id()), (Some(100), Some("9")));
    buf.extend_from_slice(b"retry:250\n\n");
    assert_eq!(dec.decode(&mut buf), None);
    assert_eq!(dec.retry(), Some(250));
    buf.extend_from_slice(b"id\n\n");
    assert_eq!(dec.decode(&mut buf), None);
    assert_eq!(dec.last_event_id(), None, "an empty id resets it");
    assert!(buf.is_empty());
}

#[test]
fn sse_oversized_event_is_dropped() {
    let mut dec = EventDecoder::with_max_event(8);
    let mut buf = BytesMut::from(&b"data: 12345\ndata: 67890\n\ndata: ok\n\n"[..]);
    assert_eq!(dec.decode(&mut buf), Some(ev(None, "message", "ok")));
}

// ---------------------------------------------------------------------------------------------
// The test client against a tiny server made of the codec

/// A thread-per-connection server: `/echo?x=..` answers the query value, `/body` the request
/// body, `/json` a JSON document, `/events` an event stream (three events, then it stays open),
/// anything else 404. HEAD is answered like GET without the body.
fn serve() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            thread::spawn(move || connection(stream));
        }
    });
    addr
}

fn connection(mut stream: TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut dec = RequestDecoder::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        loop {
            let req = match dec.decode(&mut buf, Instant::now()) {
                Ok(Some(req)) => req,
                Ok(None) => break,
                Err(e) => {
                    let _ = stream.write_all(&e.response().encode(false, false));
                    return;
                }
            };
            let head_only = req.method == Method::Head;
            let resp = match req.segments().first().map(String::as_str) {
                Some("echo") => Response::text(200, req.query("x").unwrap_or_default()),
                Some("body") => Response::new(200).body(req.body.clone()),
                Some("json") => Response::json(200, r#"{"ok":true,"n":[1,2]}"#),
                Some("events") => {
                    let mut out = Response::event_stream().encode_stream_head().to_vec();
                    out.extend_from_slice(&sse::retry(500));
                    out.extend_from_slice(&sse::event(Some(1), None, b"first"));
                    out.extend_from_slice(&sse::comment("heartbeat"));
                    out.extend_from_slice(&sse::event(Some(2), Some("tick"), b"two\nlines"));
                    out.extend_from_slice(&sse::event(None, None, b"third"));
                    let _ = stream.write_all(&out);
                    // Keep the stream open until the client goes away.
                    let _ = stream.read(&mut chunk);
                    return;
                }
                _ => Response::text(404, "no such thing\n"),
            };
            let _ = stream.write_all(&resp.encode(req.keep_alive(), head_only));
            if !req.keep_alive() {
                return;
            }
        }
        if dec.take_continue() {
            let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn client_one_shot_requests() {
    let addr = serve();
    let r = http_client::request(addr, "GET", "/echo?x=a+b%21", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "a b!"));
    assert!(r.closes(), "one-shot requests ask for Connection: close");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));

    let r = http_client::request(addr, "POST", "/body", &[("X-A", "1")], b"payload");
    assert_eq!((r.status, &r.body[..]), (200, &b"payload"[..]));

    let r = http_client::request(addr, "GET", "/json", &[], b"");
    assert_eq!(r.json()["n"][1], 2);

    let r = http_client::request(addr.to_string(), "GET", "/missing", &[], b"");
    assert_eq!(r.status, 404);

    // POST without a body still gets a Content-Length: 0 from the client, so no 411.
    let r = http_client::request(addr, "POST", "/body", &[], b"");
    assert_eq!((r.status, r.body.len()), (200, 0));
}

#[test]
fn client_keep_alive_and_pipelining() {
    let addr = serve();
    let mut conn = HttpConn::connect(addr);
    for i in 0..3 {
        let r = conn.request("GET", &format!("/echo?x={i}"), &[], b"");
        assert_eq!((r.status, r.text()), (200, i.to_string()));
        assert_eq!(r.header("connection"), Some("keep-alive"));
    }
    // HEAD: the length of the GET body, and no body (the next response parses fine).
    conn.send("HEAD", "/echo?x=hello", &[], b"");
    conn.send("GET", "/echo?x=after", &[], b"");
    conn.send(
        "POST",
        "/body",
        &[("Expect", "100-continue")],
        &[b'z'; 3000],
    );
    let head = conn.read_response();
    assert_eq!(
        (head.status, head.header("content-length"), head.body.len()),
        (200, Some("5"), 0)
    );
    assert_eq!(conn.read_response().text(), "after");
    assert_eq!(conn.read_response().body, vec![b'z'; 3000]);

    // HTTP/1.0 without keep-alive: the server answers and closes.
    conn.send_raw(b"GET /echo?x=old HTTP/1.0\r\n\r\n");
    let r = conn.read_response();
    assert_eq!((r.text().as_str(), r.closes()), ("old", true));
    conn.assert_closed(Duration::from_secs(5));
}

#[test]
fn client_sees_errors_then_close() {
    let addr = serve();
    let mut conn = HttpConn::connect(addr);
    conn.send_raw(b"POST /body HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    let r = conn.read_response();
    assert_eq!(r.status, 501);
    assert!(r.closes());
    assert!(r.text().contains("Transfer-Encoding"));
    conn.assert_closed(Duration::from_secs(5));
}

#[test]
fn client_reads_event_streams() {
    let addr = serve();
    let mut stream = SseStream::open(addr, "/events", &[]);
    assert_eq!(stream.header("cache-control"), Some("no-cache"));
    let t = Duration::from_secs(5);
    let e1 = stream.next_event(t).unwrap();
    assert_eq!((e1.id.as_deref(), e1.data.as_str()), (Some("1"), "first"));
    let e2 = stream.next_event(t).unwrap();
    assert_eq!(
        (e2.event.as_str(), e2.data.as_str()),
        ("tick", "two\nlines")
    );
    let e3 = stream.next_event(t).unwrap();
    assert_eq!((e3.id.as_deref(), e3.data.as_str()), (Some("2"), "third"));
    assert_eq!(
        (stream.last_event_id(), stream.retry()),
        (Some("2"), Some(500))
    );
    // Nothing more: a timeout, not a hang.
    assert!(stream.drain(Duration::from_millis(100)).is_empty());
    assert!(!stream.is_closed());

    // Not a stream: the response comes back for inspection.
    match SseStream::try_open(addr, "/missing", &[]) {
        Ok(_) => panic!("/missing is not an event stream"),
        Err(r) => assert_eq!((r.status, r.text().as_str()), (404, "no such thing\n")),
    }
}
