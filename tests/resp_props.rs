//! Property tests for the RESP codec:
//!
//! * every value round-trips through encode → decode on both protocol versions (with RESP3-only
//!   types degraded as Redis degrades them for RESP2);
//! * split input anywhere decodes the same as whole input, for valid and arbitrary bytes, on both
//!   decoders, with default and with tiny limits;
//! * arbitrary bytes never panic and a decoder never consumes more than it was given.

use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use ringloop::proto::resp::{
    encode, encode_to_bytes, write_command, Limits, Protocol, ProtocolError, ReplyDecoder,
    RequestDecoder, Value,
};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Generators

fn any_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("NaN never equals itself", |d| !d.is_nan()),
        -1e6..1e6f64,
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any_bytes(16).prop_map(Value::Simple),
        any_bytes(16).prop_map(Value::Error),
        any::<i64>().prop_map(Value::Integer),
        any_bytes(32).prop_map(Value::Bulk),
        Just(Value::Null),
        Just(Value::NullArray),
        double().prop_map(Value::Double),
        any::<bool>().prop_map(Value::Boolean),
        "[-+]?[0-9]{1,40}".prop_map(|s| Value::BigNumber(Bytes::from(s))),
        (any::<[u8; 3]>(), any_bytes(16))
            .prop_map(|(format, text)| Value::Verbatim { format, text }),
    ]
}

/// Nested values of modest depth (at most 3 levels of aggregates).
fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((inner.clone(), inner.clone()), 0..3).prop_map(Value::Map),
            vec(inner.clone(), 0..4).prop_map(Value::Set),
            vec(inner.clone(), 0..4).prop_map(Value::Push),
            (vec((inner.clone(), inner.clone()), 0..2), inner).prop_map(|(attrs, v)| {
                Value::Attribute {
                    attrs,
                    value: Box::new(v),
                }
            }),
        ]
    })
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::Resp2), Just(Protocol::Resp3)]
}

/// Bytes with a RESP flavour: type bytes, digits, line ends and quotes, so the decoders get past
/// their first check far more often than with uniform bytes.
fn soup() -> impl Strategy<Value = Vec<u8>> {
    let tokens: Vec<&'static [u8]> = vec![
        b"*", b"$", b"\r\n", b"\r", b"\n", b"0", b"1", b"2", b"3", b"-1", b"-", b"9", b"abc", b" ",
        b"\"", b"'", b"\\", b"\\x4", b"\\xff", b":", b",", b"#t", b"_", b"(", b"%", b"~", b">",
        b"|", b"=", b"!", b"+", b"txt:", b"?", b"inf", b"1.5", b"PING", b"\t", b"\x00",
    ];
    vec(select(tokens), 0..80).prop_map(|ts| ts.concat())
}

/// A type byte or digit followed by anything.
fn prefixed() -> impl Strategy<Value = Vec<u8>> {
    (
        select(b"*$:+-%~>|=!#,_(0123456789".to_vec()),
        vec(any::<u8>(), 0..256),
    )
        .prop_map(|(first, rest)| {
            let mut v = vec![first];
            v.extend(rest);
            v
        })
}

/// Valid encodings with one byte overwritten: errors deep inside otherwise good input.
fn corrupted() -> impl Strategy<Value = Vec<u8>> {
    (vec(value(), 1..3), protocol(), any::<Index>(), any::<u8>()).prop_map(|(vals, p, at, b)| {
        let mut out = BytesMut::new();
        for v in &vals {
            encode(v, p, &mut out);
        }
        let mut out = out.to_vec();
        let i = at.index(out.len());
        out[i] = b;
        out
    })
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..2048), soup(), prefixed(), corrupted()]
}

fn cuts() -> impl Strategy<Value = Vec<Index>> {
    vec(any::<Index>(), 0..8)
}

fn tiny() -> Limits {
    Limits {
        max_bulk_len: 16,
        max_multibulk_len: 4,
        max_inline_len: 8,
        max_depth: 3,
    }
}

// ---------------------------------------------------------------------------------------------
// What a value looks like after a trip through a given protocol

fn sanitize(b: &Bytes) -> Bytes {
    b.iter()
        .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
        .collect::<Vec<u8>>()
        .into()
}

fn double_text(d: f64) -> Bytes {
    let enc = encode_to_bytes(&Value::Double(d), Protocol::Resp3);
    enc.slice(1..enc.len() - 2)
}

fn expected(v: &Value, p: Protocol) -> Value {
    let r2 = p == Protocol::Resp2;
    let all = |items: &[Value]| items.iter().map(|i| expected(i, p)).collect::<Vec<_>>();
    let pairs = |ps: &[(Value, Value)]| {
        ps.iter()
            .map(|(k, v)| (expected(k, p), expected(v, p)))
            .collect::<Vec<_>>()
    };
    match v {
        Value::Simple(s) => Value::Simple(sanitize(s)),
        Value::Error(e) => Value::Error(sanitize(e)),
        Value::NullArray if !r2 => Value::Null,
        Value::Array(items) => Value::Array(all(items)),
        Value::Map(ps) if r2 => Value::Array(
            ps.iter()
                .flat_map(|(k, v)| [expected(k, p), expected(v, p)])
                .collect(),
        ),
        Value::Map(ps) => Value::Map(pairs(ps)),
        Value::Set(items) if r2 => Value::Array(all(items)),
        Value::Set(items) => Value::Set(all(items)),
        Value::Push(items) if r2 => Value::Array(all(items)),
        Value::Push(items) => Value::Push(all(items)),
        Value::Double(d) if r2 => Value::Bulk(double_text(*d)),
        Value::Boolean(b) if r2 => Value::Integer(i64::from(*b)),
        Value::BigNumber(n) if r2 => Value::Bulk(n.clone()),
        Value::BigNumber(n) => Value::BigNumber(sanitize(n)),
        Value::Verbatim { text, .. } if r2 => Value::Bulk(text.clone()),
        Value::Attribute { value, .. } if r2 => expected(value, p),
        Value::Attribute { attrs, value } => Value::Attribute {
            attrs: pairs(attrs),
            value: Box::new(expected(value, p)),
        },
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Driving a decoder over whole or chunked input

trait Decoder {
    type Item: PartialEq + Debug;
    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, ProtocolError>;
}

impl Decoder for RequestDecoder {
    type Item = Vec<Bytes>;
    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let before = buf.len();
        let res = self.decode(buf)?;
        let consumed = before - buf.len();
        if let Some(cmd) = &res {
            assert!(consumed > 0, "a command from no bytes");
            let arg_bytes: usize = cmd.iter().map(|a| a.len()).sum();
            assert!(arg_bytes <= consumed, "arguments larger than their input");
            assert!(!cmd.is_empty(), "empty commands are skipped, not returned");
        }
        Ok(res.map(|c| c.into_args()))
    }
}

impl Decoder for ReplyDecoder {
    /// Debug text, because a decoded `nan` is not equal to itself.
    type Item = String;
    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<String>, ProtocolError> {
        let before = buf.len();
        let res = self.decode(buf)?;
        let consumed = before - buf.len();
        match &res {
            Some(_) => assert!(consumed > 0, "a reply from no bytes"),
            None => assert_eq!(consumed, 0, "a reply decoder consumed without a reply"),
        }
        Ok(res.map(|v| format!("{v:?}")))
    }
}

/// Raw frames: a second reply decoder mode, checked the same way.
struct Frames(ReplyDecoder);

impl Decoder for Frames {
    type Item = Bytes;
    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, ProtocolError> {
        let before = buf.len();
        let res = self.0.decode_frame(buf)?;
        if let Some(f) = &res {
            assert_eq!(f.len(), before - buf.len());
        }
        Ok(res)
    }
}

#[derive(Debug, PartialEq)]
struct Outcome<T> {
    items: Vec<T>,
    error: Option<ProtocolError>,
    left: usize,
}

/// Feeds `input` in chunks split at `cuts` (empty cuts: all at once), decoding after each
/// chunk until the decoder wants more, and stopping at the first error.
fn run<D: Decoder>(mut dec: D, input: &[u8], cuts: &[Index]) -> Outcome<D::Item> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut items = Vec::new();
    for p in points {
        buf.extend_from_slice(&input[fed..p]);
        fed = p;
        loop {
            let before = buf.len();
            match dec.step(&mut buf) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        items,
                        error: Some(error),
                        left: buf.len(),
                    }
                }
            }
            assert!(buf.len() <= before, "consumed more than given");
        }
    }
    Outcome {
        items,
        error: None,
        left: buf.len(),
    }
}

fn check_split<D: Decoder>(make: impl Fn() -> D, input: &[u8], cuts: &[Index]) {
    let whole = run(make(), input, &[]);
    let split = run(make(), input, cuts);
    // After an error the leftover depends on where the chunks ended; the decision must not.
    if whole.error.is_some() {
        assert_eq!((&whole.items, &whole.error), (&split.items, &split.error));
    } else {
        assert_eq!(whole, split);
    }
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(config())]

    #[test]
    fn values_round_trip_on_both_protocols(v in value()) {
        for p in [Protocol::Resp2, Protocol::Resp3] {
            let bytes = encode_to_bytes(&v, p);
            let mut buf = BytesMut::from(&bytes[..]);
            let got = ReplyDecoder::new().decode(&mut buf).unwrap();
            prop_assert_eq!(got, Some(expected(&v, p)), "{:?} as {:?}: {:?}", v, p, bytes);
            prop_assert!(buf.is_empty());
            // A proxy sees exactly the bytes that were sent.
            let mut buf = BytesMut::from(&bytes[..]);
            let frame = ReplyDecoder::new().decode_frame(&mut buf).unwrap();
            prop_assert_eq!(frame, Some(bytes));
        }
    }

    #[test]
    fn split_replies_decode_like_whole(vals in vec(value(), 1..4), p in protocol(), cuts in cuts()) {
        let mut input = BytesMut::new();
        for v in &vals {
            encode(v, p, &mut input);
        }
        let split = run(ReplyDecoder::new(), &input, &cuts);
        let want: Vec<String> = vals.iter().map(|v| format!("{:?}", expected(v, p))).collect();
        prop_assert_eq!(split, Outcome { items: want, error: None, left: 0 });
    }

    #[test]
    fn split_requests_decode_like_whole(
        cmds in vec((vec(vec(any::<u8>(), 0..12), 1..5), 0..3u8), 1..5),
        cuts in cuts(),
    ) {
        let mut input = BytesMut::new();
        for (args, style) in &cmds {
            match style {
                // Inline with every byte escaped in double quotes: exercises the quoting rules.
                1 => {
                    for a in args {
                        input.extend_from_slice(b" \"");
                        for b in a {
                            input.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                        }
                        input.extend_from_slice(b"\"");
                    }
                    input.extend_from_slice(b"\r\n");
                }
                // Inline in single quotes, bytes as they are apart from the few that matter.
                2 if args.iter().flatten().all(|&b| b != b'\'' && b != b'\\' && b != b'\r' && b != b'\n') => {
                    for a in args {
                        input.extend_from_slice(b"'");
                        input.extend_from_slice(a);
                        input.extend_from_slice(b"' ");
                    }
                    input.extend_from_slice(b"\n");
                }
                _ => write_command(&mut input, args),
            }
        }
        let split = run(RequestDecoder::new(), &input, &cuts);
        let want: Vec<Vec<Bytes>> = cmds
            .iter()
            .map(|(args, _)| args.iter().map(|a| Bytes::copy_from_slice(a)).collect())
            .collect();
        prop_assert_eq!(split, Outcome { items: want, error: None, left: 0 });
    }

    #[test]
    fn arbitrary_requests_never_panic_and_split_anywhere(input in input(), cuts in cuts()) {
        check_split(RequestDecoder::new, &input, &cuts);
        check_split(|| RequestDecoder::with_limits(tiny()), &input, &cuts);
    }

    #[test]
    fn arbitrary_replies_never_panic_and_split_anywhere(input in input(), cuts in cuts()) {
        check_split(ReplyDecoder::new, &input, &cuts);
        check_split(|| ReplyDecoder::with_limits(tiny()), &input, &cuts);
        check_split(|| Frames(ReplyDecoder::new()), &input, &cuts);
    }

    #[test]
    fn byte_at_a_time_equals_whole(input in prop_oneof![soup(), corrupted()]) {
        // The harshest split: every byte its own read.
        for limits in [Limits::DEFAULT, tiny()] {
            let whole = run(RequestDecoder::with_limits(limits), &input, &[]);
            let bytewise = run_bytewise(RequestDecoder::with_limits(limits), &input);
            prop_assert_eq!((&whole.items, &whole.error), (&bytewise.items, &bytewise.error));
            let whole = run(ReplyDecoder::with_limits(limits), &input, &[]);
            let bytewise = run_bytewise(ReplyDecoder::with_limits(limits), &input);
            prop_assert_eq!((&whole.items, &whole.error), (&bytewise.items, &bytewise.error));
        }
    }
}

/// Feeds `input` one byte per read.
fn run_bytewise<D: Decoder>(mut dec: D, input: &[u8]) -> Outcome<D::Item> {
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for &b in input {
        buf.extend_from_slice(&[b]);
        loop {
            match dec.step(&mut buf) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        items,
                        error: Some(error),
                        left: buf.len(),
                    }
                }
            }
        }
    }
    Outcome {
        items,
        error: None,
        left: buf.len(),
    }
}
