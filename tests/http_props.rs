//! Property tests for the HTTP/1.1 request decoder and the Server-Sent Events codec:
//!
//! * arbitrary bytes (and HTTP-looking soup) never panic the decoder, and while it waits for
//!   more it never holds more than `max_head + max_body` bytes;
//! * valid requests, alone or pipelined, decode the same whole, split at every position, and in
//!   random chunks, and decode to what was encoded;
//! * `sse::event` → `EventDecoder` round-trips arbitrary UTF-8 data (with any line ends), event
//!   names and ids, in random chunks; arbitrary bytes never panic the event decoder.

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use ringloop::proto::http::{HttpError, Limits, Method, Request, RequestDecoder};
use ringloop::proto::sse::{self, Event, EventDecoder};
use std::time::Instant;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Feeding helpers

/// What a decoder made of a stream: the requests, and the error that ended it, if any.
type Outcome = (Vec<Request>, Option<HttpError>);

/// Feeds `input` in the given chunks (cut points), decoding after each, and checks the memory
/// bound whenever the decoder waits.
fn feed(input: &[u8], cuts: &[usize], limits: Limits) -> Outcome {
    let mut dec = RequestDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut start = 0;
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    ends.sort_unstable();
    ends.push(input.len());
    for end in ends {
        buf.extend_from_slice(&input[start..end.max(start)]);
        start = end.max(start);
        loop {
            match dec.decode(&mut buf, Instant::now()) {
                Ok(Some(req)) => out.push(req),
                Ok(None) => {
                    assert!(
                        buf.len() <= limits.max_head + limits.max_body,
                        "waiting with {} bytes buffered",
                        buf.len()
                    );
                    break;
                }
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn small() -> Limits {
    Limits {
        max_head: 96,
        max_headers: 4,
        max_body: 64,
    }
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![Just(Limits::default()), Just(small())]
}

fn cuts(max: usize) -> impl Strategy<Value = Vec<usize>> {
    vec(0..max.max(1), 0..8)
}

// ---------------------------------------------------------------------------------------------
// Generators

/// Pieces of HTTP, glued together at random: reaches deep into the decoder far more often than
/// uniform bytes.
fn soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        select(vec![
            &b"GET "[..],
            b"POST ",
            b"HEAD ",
            b"/",
            b"/a%20b?x=1",
            b" HTTP/1.1",
            b" HTTP/1.0",
            b" HTTP/2.0",
            b"\r\n",
            b"\n",
            b"\r",
            b"\r\n\r\n",
            b"Content-Length: ",
            b"Transfer-Encoding: chunked",
            b"Expect: 100-continue",
            b"Connection: close",
            b"Host: h",
            b": ",
            b"0",
            b"7",
            b"65",
            b"99999999999999999999999",
            b",",
            b" ",
            b"\0",
        ])
        .prop_map(<[u8]>::to_vec),
        vec(any::<u8>(), 0..8),
    ];
    vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// One valid request, as its wire bytes and what it must decode to.
#[derive(Clone, Debug)]
struct Valid {
    method: &'static str,
    target: String,
    minor: u8,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    crlf: bool,
}

impl Valid {
    fn wire(&self) -> Vec<u8> {
        let eol = if self.crlf { "\r\n" } else { "\n" };
        let mut s = format!("{} {} HTTP/1.{}{eol}", self.method, self.target, self.minor);
        for (n, v) in &self.headers {
            s.push_str(&format!(
                "{n}:{}{v}{eol}",
                if v.len() % 2 == 0 { " " } else { "" }
            ));
        }
        if !self.body.is_empty() || matches!(self.method, "POST" | "PUT" | "PATCH") {
            s.push_str(&format!("Content-Length: {}{eol}", self.body.len()));
        }
        s.push_str(eol);
        let mut wire = s.into_bytes();
        wire.extend_from_slice(&self.body);
        wire
    }

    fn check(&self, req: &Request) {
        assert_eq!(req.method_str, self.method);
        assert_eq!(req.method == Method::Other, self.method == "BREW");
        assert_eq!(req.target, self.target);
        assert_eq!(req.minor_version, self.minor);
        for (i, (n, v)) in self.headers.iter().enumerate() {
            let (name, value) = &req.headers[i];
            assert_eq!(name, &n.to_ascii_lowercase());
            assert_eq!(&value[..], v.as_bytes());
        }
        assert_eq!(&req.body[..], &self.body[..]);
    }
}

fn valid() -> impl Strategy<Value = Valid> {
    (
        select(vec![
            "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW",
        ]),
        "/[a-zA-Z0-9%._~/-]{0,24}(\\?[a-z0-9=&+%]{0,12})?",
        0..2u8,
        vec(
            (
                // Names that do not change the framing.
                "X-[A-Za-z0-9-]{1,10}",
                // Values without surrounding whitespace (which the decoder trims).
                "([!-~]([ -~]{0,16}[!-~])?)?",
            ),
            0..6,
        ),
        vec(any::<u8>(), 0..48),
        any::<bool>(),
    )
        .prop_map(|(method, target, minor, headers, body, crlf)| Valid {
            method,
            target,
            minor,
            headers,
            body,
            crlf,
        })
}

// ---------------------------------------------------------------------------------------------
// HTTP properties

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(input in vec(any::<u8>(), 0..1024), cuts in cuts(1024), limits in limits()) {
        feed(&input, &cuts, limits);
    }

    #[test]
    fn soup_never_panics_and_splits_cleanly(input in soup(), cuts in cuts(512), limits in limits()) {
        let whole = feed(&input, &[], limits);
        let split = feed(&input, &cuts, limits);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn valid_requests_split_anywhere(reqs in vec(valid(), 1..4), cuts in cuts(1024)) {
        let wire: Vec<u8> = reqs.iter().flat_map(Valid::wire).collect();
        let (whole, err) = feed(&wire, &[], Limits::default());
        prop_assert_eq!(err, None);
        prop_assert_eq!(whole.len(), reqs.len());
        for (r, v) in whole.iter().zip(&reqs) {
            v.check(r);
        }
        // Two chunks, cut at every position.
        for cut in 0..=wire.len() {
            let split = feed(&wire, &[cut], Limits::default());
            prop_assert_eq!(&split.0, &whole, "cut at {}", cut);
            prop_assert_eq!(split.1, None);
        }
        // Random chunks, and byte by byte.
        prop_assert_eq!(&feed(&wire, &cuts, Limits::default()).0, &whole);
        let every: Vec<usize> = (0..wire.len()).collect();
        prop_assert_eq!(&feed(&wire, &every, Limits::default()).0, &whole);
    }

    #[test]
    fn junk_after_valid_requests_does_not_change_them(
        reqs in vec(valid(), 1..3),
        junk in vec(any::<u8>(), 0..64),
        cuts in cuts(512),
    ) {
        let mut wire: Vec<u8> = reqs.iter().flat_map(Valid::wire).collect();
        wire.extend_from_slice(&junk);
        let (got, _) = feed(&wire, &cuts, Limits::default());
        prop_assert!(got.len() >= reqs.len());
        for (r, v) in got.iter().zip(&reqs) {
            v.check(r);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SSE properties

/// Data as a client sees it: every line end becomes `\n`.
fn normalize(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

fn sse_feed(stream: &[u8], cuts: &[usize]) -> Vec<Event> {
    let mut dec = EventDecoder::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut start = 0;
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(stream.len())).collect();
    ends.sort_unstable();
    ends.push(stream.len());
    for end in ends {
        buf.extend_from_slice(&stream[start..end.max(start)]);
        start = end.max(start);
        while let Some(e) = dec.decode(&mut buf) {
            out.push(e);
        }
    }
    out
}

#[derive(Clone, Debug)]
enum Block {
    Event(Option<u64>, Option<String>, String),
    Comment(String),
    Retry(u64),
}

fn block() -> impl Strategy<Value = Block> {
    let text = prop_oneof![any::<String>(), "[a-z\r\n :]{0,20}"];
    prop_oneof![
        6 => (any::<Option<u64>>(), proptest::option::of(any::<String>()), text)
            .prop_map(|(id, name, data)| Block::Event(id, name, data)),
        1 => any::<String>().prop_map(Block::Comment),
        1 => any::<u64>().prop_map(Block::Retry),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sse_round_trip(blocks in vec(block(), 0..8), cuts in cuts(2048)) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        let (mut last_id, mut retry) = (None, None);
        for b in &blocks {
            match b {
                Block::Event(id, name, data) => {
                    stream.extend_from_slice(&sse::event(*id, name.as_deref(), data.as_bytes()));
                    if let Some(id) = id {
                        last_id = Some(id.to_string());
                    }
                    let name = name.as_deref().map(|n| n.replace(['\r', '\n'], "")).unwrap_or_default();
                    expected.push(Event {
                        id: last_id.clone(),
                        event: if name.is_empty() { "message".into() } else { name },
                        data: normalize(data),
                        retry,
                    });
                }
                Block::Comment(text) => stream.extend_from_slice(&sse::comment(text)),
                Block::Retry(ms) => {
                    stream.extend_from_slice(&sse::retry(*ms));
                    retry = Some(*ms);
                }
            }
        }
        prop_assert_eq!(&sse_feed(&stream, &[]), &expected);
        prop_assert_eq!(&sse_feed(&stream, &cuts), &expected);
    }

    #[test]
    fn sse_arbitrary_bytes_split_cleanly(
        stream in prop_oneof![
            vec(any::<u8>(), 0..512),
            "(data|id|event|retry|:|\r|\n| |x|1|\u{feff}){0,60}".prop_map(String::into_bytes),
        ],
        cuts in cuts(512),
        at in any::<Index>(),
    ) {
        let whole = sse_feed(&stream, &[]);
        prop_assert_eq!(&sse_feed(&stream, &cuts), &whole);
        let one_cut = at.index(stream.len() + 1);
        prop_assert_eq!(&sse_feed(&stream, &[one_cut]), &whole);
    }
}
