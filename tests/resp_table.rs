//! Table tests for the RESP codec: valid and invalid inputs with the exact expected commands,
//! values and error texts. The request cases include those of Redis's own
//! `tests/unit/protocol.tcl`, so the decoder answers as Redis does.

use bytes::{Bytes, BytesMut};
use ringloop::proto::resp::{
    encode_to_bytes, Limits, Protocol, ProtocolError, ReplyDecoder, RequestDecoder, Value,
};

/// How decoding a whole input ended, after the commands it produced.
#[derive(Debug, PartialEq)]
enum End {
    /// `Ok(None)` with this many bytes left in the buffer.
    Wait(usize),
    /// `Err` with this exact text.
    Err(String),
}

/// The arguments of each command decoded.
type Cmds = Vec<Vec<Vec<u8>>>;

fn requests_with(limits: Limits, input: &[u8]) -> (Cmds, End) {
    let mut dec = RequestDecoder::with_limits(limits);
    let mut buf = BytesMut::from(input);
    let mut cmds = Vec::new();
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(cmd)) => cmds.push(cmd.iter().map(|a| a.to_vec()).collect()),
            Ok(None) => return (cmds, End::Wait(buf.len())),
            Err(e) => return (cmds, End::Err(e.to_string())),
        }
    }
}

fn requests(input: &[u8]) -> (Cmds, End) {
    requests_with(Limits::DEFAULT, input)
}

fn cmd(args: &[&[u8]]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.to_vec()).collect()
}

fn err(text: &str) -> End {
    End::Err(text.to_string())
}

#[test]
fn valid_requests() {
    let cases: Vec<(&[u8], Cmds)> = vec![
        (b"*1\r\n$4\r\nPING\r\n", vec![cmd(&[b"PING"])]),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n",
            vec![cmd(&[b"SET", b"k", b""])],
        ),
        (b"*1\r\n$4\r\na\r\nb\r\n", vec![cmd(&[b"a\r\nb"])]),
        (b"PING\r\n", vec![cmd(&[b"PING"])]),
        (b"PING\n", vec![cmd(&[b"PING"])]),
        (b" PING\t\r\n", vec![cmd(&[b"PING"])]),
        (
            b"SET a b\nGET a\r\n",
            vec![cmd(&[b"SET", b"a", b"b"]), cmd(&[b"GET", b"a"])],
        ),
        (
            b"SET k \"a \\\"b\\\"\\x00\"\r\n",
            vec![cmd(&[b"SET", b"k", b"a \"b\"\x00"])],
        ),
        (b"ECHO 'it\\'s'\n", vec![cmd(&[b"ECHO", b"it's"])]),
        (b"ECHO \"\"\n", vec![cmd(&[b"ECHO", b""])]),
        // Not a '*': inline, even when it looks like RESP.
        (b"$3\r\nfoo\r\n", vec![cmd(&[b"$3"]), cmd(&[b"foo"])]),
        // Empty requests are skipped, as in Redis ("Handle an empty query", "Negative multibulk
        // length").
        (b"\r\n", vec![]),
        (
            b"*-10\r\n*0\r\n\n   \r\n*1\r\n$1\r\nx\r\n",
            vec![cmd(&[b"x"])],
        ),
        // Pipelining: several commands in one read.
        (
            b"*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$1\r\n1\r\n",
            vec![cmd(&[b"PING"]), cmd(&[b"PING"]), cmd(&[b"ECHO", b"1"])],
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            requests(input),
            (want, End::Wait(0)),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn incomplete_requests_wait_without_consuming() {
    let inputs: &[&[u8]] = &[
        b"*",
        b"*2",
        b"*2\r",
        b"*2\r\n",
        b"*2\r\n$3",
        b"*2\r\n$3\r",
        b"*2\r\n$3\r\nGET",
        b"*2\r\n$3\r\nGET\r",
        b"*2\r\n$3\r\nGET\r\n",
        b"*2\r\n$3\r\nGET\r\n$1\r\nk",
        b"*2\r\n$3\r\nGET\r\n$1\r\nk\r",
        b"PING",
        b"PING\r",
        b"SET k \"unfinished",
        // Allowed by the limits, just not here yet.
        b"*1048576\r\n",
        b"*1\r\n$536870912\r\n",
    ];
    for &input in inputs {
        assert_eq!(
            requests(input),
            (vec![], End::Wait(input.len())),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn invalid_requests_give_redis_error_texts() {
    let cases: &[(&[u8], &str)] = &[
        // From Redis's protocol.tcl.
        (
            b"*20000000\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
            "ERR Protocol error: expected '$', got 'f'",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*blabla\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        // string2ll is strict.
        (
            b"*1048577\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        (b"*01\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*+1\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*\r\n", "ERR Protocol error: invalid multibulk length"),
        (
            b"*1\r\n$536870913\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (b"*1\r\n$+1\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$\r\n", "ERR Protocol error: invalid bulk length"),
        (
            b"*1\r\n$99999999999999999999\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        // The byte found is quoted; line breaks become spaces.
        (b"*1\r\n:1\r\n", "ERR Protocol error: expected '$', got ':'"),
        (b"*1\r\n\r\n", "ERR Protocol error: expected '$', got ' '"),
        // Inline quoting.
        (
            b"ECHO \"a\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"ECHO 'a\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"ECHO \"a\"x\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"ECHO 'a'x\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"ECHO \"a\\\"\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
        // Strict framing where Redis skips the bytes unchecked.
        (b"*1\rX", "ERR Protocol error: expected LF after CR"),
        (b"*1\r\n$3\rX", "ERR Protocol error: expected LF after CR"),
        (
            b"*1\r\n$3\r\nabcXY",
            "ERR Protocol error: expected CRLF after bulk data",
        ),
    ];
    for &(input, text) in cases {
        assert_eq!(
            requests(input).1,
            err(text),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn line_length_limits_match_redis() {
    // An inline line may hold 64 KiB before its '\n'.
    let line = vec![b'x'; 65536];
    assert_eq!(requests(&line), (vec![], End::Wait(65536)));
    let mut longer = line.clone();
    longer.push(b'x');
    assert_eq!(
        requests(&longer).1,
        err("ERR Protocol error: too big inline request")
    );
    let mut ok = line.clone();
    ok.push(b'\n');
    assert_eq!(requests(&ok).0.len(), 1);

    // The same bound for `*N` and `$N` lines, with their own texts; a long number that does end
    // in time is just an invalid length.
    for (prefix, too_big, invalid) in [
        (
            &b"*"[..],
            "ERR Protocol error: too big mbulk count string",
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            &b"*1\r\n$"[..],
            "ERR Protocol error: too big bulk count string",
            "ERR Protocol error: invalid bulk length",
        ),
    ] {
        let mut large = prefix.to_vec();
        large.extend(std::iter::repeat_n(b'0', 65535));
        assert_eq!(requests(&large).1, End::Wait(large.len()));
        let mut plus = large.clone();
        plus.push(b'0');
        assert_eq!(requests(&plus).1, err(too_big));
        let mut cr = large.clone();
        cr.push(b'\r');
        assert_eq!(requests(&cr).1, End::Wait(cr.len()));
        cr.push(b'\n');
        assert_eq!(requests(&cr).1, err(invalid));
    }
}

#[test]
fn configurable_limits() {
    let small = Limits {
        max_bulk_len: 3,
        max_multibulk_len: 2,
        max_inline_len: 8,
        ..Limits::DEFAULT
    };
    assert_eq!(
        requests_with(small, b"*1\r\n$3\r\nabc\r\n").0,
        vec![cmd(&[b"abc"])]
    );
    assert_eq!(
        requests_with(small, b"*1\r\n$4\r\n").1,
        err("ERR Protocol error: invalid bulk length")
    );
    assert_eq!(
        requests_with(small, b"*3\r\n").1,
        err("ERR Protocol error: invalid multibulk length")
    );
    assert_eq!(
        requests_with(small, b"12345678\n").0,
        vec![cmd(&[b"12345678"])]
    );
    assert_eq!(
        requests_with(small, b"123456789").1,
        err("ERR Protocol error: too big inline request")
    );
}

#[test]
fn protocol_error_reply_bytes() {
    let mut out = BytesMut::new();
    ProtocolError::InvalidBulkLength.write_reply(&mut out);
    assert_eq!(&out[..], b"-ERR Protocol error: invalid bulk length\r\n");
}

fn replies(input: &[u8]) -> (Vec<Value>, End) {
    let mut dec = ReplyDecoder::new();
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(v)) => out.push(v),
            Ok(None) => return (out, End::Wait(buf.len())),
            Err(e) => return (out, End::Err(e.to_string())),
        }
    }
}

fn b(s: &'static [u8]) -> Bytes {
    Bytes::from_static(s)
}

#[test]
fn valid_replies() {
    let cases: Vec<(&[u8], Value)> = vec![
        (b"+OK\r\n", Value::ok()),
        (b"+\r\n", Value::simple("")),
        (
            b"-WRONGTYPE Operation\r\n",
            Value::error("WRONGTYPE Operation"),
        ),
        (b":0\r\n", Value::Integer(0)),
        (b":+7\r\n", Value::Integer(7)),
        (b":-9223372036854775808\r\n", Value::Integer(i64::MIN)),
        (b"$0\r\n\r\n", Value::bulk("")),
        (b"$2\r\n\r\n\r\n", Value::bulk("\r\n")),
        (b"$-1\r\n", Value::Null),
        (b"*-1\r\n", Value::NullArray),
        (b"_\r\n", Value::Null),
        (b",3.25\r\n", Value::Double(3.25)),
        (b",-inf\r\n", Value::Double(f64::NEG_INFINITY)),
        (b",1e+300\r\n", Value::Double(1e300)),
        (b",10\r\n", Value::Double(10.0)),
        (b"#t\r\n", Value::Boolean(true)),
        (
            b"(3492890328409238509324850943850943825024385\r\n",
            Value::BigNumber(b(b"3492890328409238509324850943850943825024385")),
        ),
        (
            b"=15\r\ntxt:Some string\r\n",
            Value::Verbatim {
                format: *b"txt",
                text: b(b"Some string"),
            },
        ),
        (
            b"!21\r\nSYNTAX invalid syntax\r\n",
            Value::error("SYNTAX invalid syntax"),
        ),
        (
            b"*2\r\n$1\r\na\r\n*0\r\n",
            Value::Array(vec![Value::bulk("a"), Value::Array(vec![])]),
        ),
        (
            b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
            Value::Map(vec![
                (Value::simple("first"), Value::Integer(1)),
                (Value::simple("second"), Value::Integer(2)),
            ]),
        ),
        (
            b"~2\r\n+a\r\n+b\r\n",
            Value::Set(vec![Value::simple("a"), Value::simple("b")]),
        ),
        (
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nmsg\r\n",
            Value::Push(vec![
                Value::bulk("message"),
                Value::bulk("ch"),
                Value::bulk("msg"),
            ]),
        ),
        (
            b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n*1\r\n:2039123\r\n",
            Value::Attribute {
                attrs: vec![(
                    Value::simple("key-popularity"),
                    Value::Map(vec![(Value::bulk("a"), Value::Double(0.1923))]),
                )],
                value: Box::new(Value::Array(vec![Value::Integer(2039123)])),
            },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            replies(input),
            (vec![want], End::Wait(0)),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn invalid_replies() {
    let cases: &[(&[u8], ProtocolError)] = &[
        (b"x\r\n", ProtocolError::UnknownType(b'x')),
        (b"\r\n", ProtocolError::UnknownType(b'\r')),
        (b":\r\n", ProtocolError::InvalidValue(b':')),
        (
            b":9223372036854775808\r\n",
            ProtocolError::InvalidValue(b':'),
        ),
        (b",abc\r\n", ProtocolError::InvalidValue(b',')),
        (b"#true\r\n", ProtocolError::InvalidValue(b'#')),
        (b"(12a\r\n", ProtocolError::InvalidValue(b'(')),
        (b"=3\r\ntxt\r\n", ProtocolError::InvalidValue(b'=')),
        (b"=4\r\ntxtx\r\n", ProtocolError::InvalidValue(b'=')),
        (b"$x\r\n", ProtocolError::InvalidBulkLength),
        (b"!-1\r\n", ProtocolError::InvalidBulkLength),
        (b"$536870913\r\n", ProtocolError::InvalidBulkLength),
        (b"*1048577\r\n", ProtocolError::InvalidMultibulkLength),
        (b"%-1\r\n", ProtocolError::InvalidMultibulkLength),
        (b"*?\r\n", ProtocolError::StreamedUnsupported),
        (b"$3\r\nabcd\r\n", ProtocolError::ExpectedCrlfAfterBulk),
        (b":1\r\n\n", ProtocolError::UnknownType(b'\n')),
        (b":1\rx", ProtocolError::ExpectedLf),
    ];
    for (input, want) in cases {
        assert_eq!(
            replies(input).1,
            End::Err(want.to_string()),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let long = [b"+".as_slice(), &vec![b'a'; 65537]].concat();
    assert_eq!(
        replies(&long).1,
        End::Err(ProtocolError::LineTooLong.to_string())
    );
}

#[test]
fn hot_encodings() {
    use ringloop::proto::resp::{write_bulk, write_integer, write_null, write_ok, write_pong};
    let mut out = BytesMut::new();
    write_ok(&mut out);
    write_pong(&mut out);
    write_integer(&mut out, 1000);
    write_bulk(&mut out, b"v");
    write_null(&mut out, Protocol::Resp2);
    assert_eq!(&out[..], b"+OK\r\n+PONG\r\n:1000\r\n$1\r\nv\r\n$-1\r\n");
    // What redis-py 8 (RESP3) and redis-cli (RESP2) see for a pub/sub message.
    let msg = Value::Push(vec![
        Value::bulk("message"),
        Value::bulk("ch"),
        Value::bulk("hi"),
    ]);
    assert_eq!(
        &encode_to_bytes(&msg, Protocol::Resp2)[..],
        b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
    );
    assert_eq!(
        &encode_to_bytes(&msg, Protocol::Resp3)[..],
        b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
    );
}
