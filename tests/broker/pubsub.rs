//! Pub/sub: channels, patterns, the RESP2 subscribed state, RESP3 pushes, fan-out at scale,
//! slow subscribers.

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use redis::{PushKind, Value};

use crate::harness::{q, raise_fd_limit, Broker, Raw};

pub fn subscribe_and_publish(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut sub_con = b.conn();
    let mut p = b.conn();
    let mut sub = sub_con.as_pubsub();
    sub.subscribe("news").unwrap();
    sub.subscribe("sport").unwrap();
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "news", "hello"]), 1);
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "nobody", "x"]), 0);
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "sport", "goal"]), 1);
    let m = sub.get_message().unwrap();
    assert_eq!(
        (
            m.get_channel_name(),
            m.get_payload::<String>().unwrap().as_str()
        ),
        ("news", "hello")
    );
    let m = sub.get_message().unwrap();
    assert_eq!(
        (
            m.get_channel_name(),
            m.get_payload::<String>().unwrap().as_str()
        ),
        ("sport", "goal")
    );
    let chans: Vec<String> = q(&mut p, &["PUBSUB", "CHANNELS"]);
    assert_eq!(chans, ["news", "sport"]);
    let chans: Vec<String> = q(&mut p, &["PUBSUB", "CHANNELS", "n*"]);
    assert_eq!(chans, ["news"]);
    let numsub: (String, i64, String, i64) = q(&mut p, &["PUBSUB", "NUMSUB", "news", "x"]);
    assert_eq!(numsub, ("news".into(), 1, "x".into(), 0));
    sub.unsubscribe("news").unwrap();
    // Pub/sub is global: a publisher on another database reaches the subscriber.
    q::<String>(&mut p, &["SELECT", "3"]);
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "sport", "again"]), 1);
    assert_eq!(
        sub.get_message().unwrap().get_payload::<String>().unwrap(),
        "again"
    );
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "news", "gone"]), 0);
}

pub fn pattern_subscriptions(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut sub_con = b.conn();
    let mut p = b.conn();
    let mut sub = sub_con.as_pubsub();
    sub.psubscribe("news.*").unwrap();
    sub.psubscribe("*.art").unwrap();
    sub.subscribe("news.art").unwrap();
    assert_eq!(q::<i64>(&mut p, &["PUBSUB", "NUMPAT"]), 2);
    // One message, three matching subscriptions: three deliveries, as in Redis.
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "news.art", "m"]), 3);
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = sub.get_message().unwrap();
        let pattern: Option<String> = m.from_pattern().then(|| m.get_pattern().unwrap());
        got.push(pattern);
    }
    got.sort();
    assert_eq!(got, [None, Some("*.art".into()), Some("news.*".into())]);
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "news.tech", "t"]), 1);
    let m = sub.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "news.tech");
    assert_eq!(m.get_pattern::<String>().unwrap(), "news.*");
    sub.punsubscribe("news.*").unwrap();
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "news.tech", "t"]), 0);
    assert_eq!(q::<i64>(&mut p, &["PUBSUB", "NUMPAT"]), 1);
}

pub fn resp2_subscribed_state(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut raw = b.raw();
    raw.roundtrip(
        &[b"SUBSCRIBE", b"a", b"b"],
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    raw.roundtrip(
        &[b"PSUBSCRIBE", b"c*"],
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:3\r\n",
    );
    raw.roundtrip(&[b"PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    raw.roundtrip(&[b"PING", b"x"], b"*2\r\n$4\r\npong\r\n$1\r\nx\r\n");
    raw.roundtrip(&[b"GET", b"k"], b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n");
    let mut p = b.conn();
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "cat", "meow"]), 1);
    raw.expect(b"*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$3\r\ncat\r\n$4\r\nmeow\r\n");
    raw.cmd(&[b"UNSUBSCRIBE"]);
    // Channels come back in no particular order.
    let mut buf = vec![0; 2 * "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n".len()];
    raw.s.read_exact(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.contains("$1\r\na\r\n") && text.contains("$1\r\nb\r\n") && text.ends_with(":1\r\n"),
        "{text}"
    );
    raw.roundtrip(
        &[b"PUNSUBSCRIBE"],
        b"*3\r\n$12\r\npunsubscribe\r\n$2\r\nc*\r\n:0\r\n",
    );
    // Out of the subscribed state: everything is allowed again.
    raw.roundtrip(&[b"PING"], b"+PONG\r\n");
    raw.roundtrip(
        &[b"UNSUBSCRIBE"],
        b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
    );
    // RESET leaves the subscribed state too.
    raw.roundtrip(
        &[b"SUBSCRIBE", b"z"],
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\nz\r\n:1\r\n",
    );
    raw.roundtrip(&[b"RESET"], b"+RESET\r\n");
    raw.roundtrip(&[b"GET", b"k"], b"$-1\r\n");
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "z", "x"]), 0);
}

pub fn resp3_pushes(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut sub = b.resp3();
    let (tx, rx) = mpsc::channel();
    sub.set_push_sender(tx);
    sub.subscribe_resp3("ch").unwrap();
    sub.psubscribe_resp3("c*").unwrap();
    // In RESP3 the crate does not wait for the subscribe confirmations (they are pushes): a
    // round trip on the same connection makes sure both were processed before publishing.
    let _: String = q(&mut sub, &["PING"]);
    let mut p = b.conn();
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "ch", "hello"]), 2);
    // In RESP3 a subscriber may run any command; pushes arrive in between.
    assert_eq!(q::<Option<String>>(&mut sub, &["GET", "k"]), None);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut kinds = Vec::new();
    while kinds.len() < 4 && Instant::now() < deadline {
        if let Ok(push) = rx.recv_timeout(Duration::from_millis(100)) {
            if push.kind == PushKind::Message {
                assert_eq!(
                    push.data,
                    vec![
                        Value::BulkString(b"ch".to_vec()),
                        Value::BulkString(b"hello".to_vec())
                    ]
                );
            }
            kinds.push(push.kind);
        } else {
            let _: String = q(&mut sub, &["PING"]);
        }
    }
    assert_eq!(
        kinds,
        [
            PushKind::Subscribe,
            PushKind::PSubscribe,
            PushKind::Message,
            PushKind::PMessage
        ]
    );
    // Byte-exact: a push frame, and the publisher's own message before its reply.
    let mut raw = b.raw();
    raw.cmd(&[b"HELLO", b"3"]);
    // This is the third connection: id 3.
    raw.expect(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.0\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:3\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n");
    raw.roundtrip(
        &[b"SUBSCRIBE", b"me"],
        b">3\r\n$9\r\nsubscribe\r\n$2\r\nme\r\n:1\r\n",
    );
    raw.roundtrip(
        &[b"PUBLISH", b"me", b"x"],
        b">3\r\n$7\r\nmessage\r\n$2\r\nme\r\n$1\r\nx\r\n:1\r\n",
    );
    raw.roundtrip(&[b"PING"], b"+PONG\r\n");
}

pub fn thousand_subscribers(backend: &str) {
    raise_fd_limit();
    let b = Broker::start(backend, &[]);
    const N: usize = 1000;
    let mut subs: Vec<Raw> = (0..N).map(|_| b.raw()).collect();
    for s in &mut subs {
        s.cmd(&[b"SUBSCRIBE", b"fan"]);
    }
    for s in &mut subs {
        s.expect(b"*3\r\n$9\r\nsubscribe\r\n$3\r\nfan\r\n:1\r\n");
    }
    let mut p = b.conn();
    let numsub: (String, i64) = q(&mut p, &["PUBSUB", "NUMSUB", "fan"]);
    assert_eq!(numsub.1, N as i64);
    for i in 0..3 {
        assert_eq!(
            q::<i64>(&mut p, &["PUBLISH", "fan", &format!("m{i}")]),
            N as i64
        );
    }
    for s in &mut subs {
        for i in 0..3 {
            s.expect(format!("*3\r\n$7\r\nmessage\r\n$3\r\nfan\r\n$2\r\nm{i}\r\n").as_bytes());
        }
    }
    drop(subs);
    b.wait_info(&mut p, "connected_clients", 1);
    let numsub: (String, i64) = q(&mut p, &["PUBSUB", "NUMSUB", "fan"]);
    assert_eq!(numsub.1, 0);
}

pub fn slow_subscriber_is_disconnected(backend: &str) {
    let b = Broker::start(
        backend,
        &["--pubsub-hard-limit", "256kb", "--pubsub-soft-limit", "0"],
    );
    // A subscriber with a tiny receive window that never reads.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&b.addr.into()).unwrap();
    let mut slow = Raw::from_stream(sock.into());
    slow.s
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    slow.cmd(&[b"SUBSCRIBE", b"firehose"]);
    slow.expect(b"*3\r\n$9\r\nsubscribe\r\n$8\r\nfirehose\r\n:1\r\n");
    // A healthy subscriber on another channel is not affected.
    let mut fine_con = b.conn();
    let mut fine = fine_con.as_pubsub();
    fine.subscribe("calm").unwrap();
    let mut p = b.conn();
    let payload = "x".repeat(64 << 10);
    let mut evicted = false;
    for i in 0..2000 {
        q::<i64>(&mut p, &["PUBLISH", "firehose", &payload]);
        if i % 10 == 0 {
            let numsub: (String, i64) = q(&mut p, &["PUBSUB", "NUMSUB", "firehose"]);
            if numsub.1 == 0 {
                evicted = true;
                break;
            }
        }
    }
    assert!(evicted, "the slow subscriber was never disconnected");
    assert!(b.info_field(&mut p, "client_output_buffer_limit_disconnections") >= 1);
    assert!(slow.closed(), "the slow subscriber's connection is closed");
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "calm", "ok"]), 1);
    assert_eq!(
        fine.get_message().unwrap().get_payload::<String>().unwrap(),
        "ok"
    );
}
