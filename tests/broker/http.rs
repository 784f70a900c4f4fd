//! The broker's HTTP front: every endpoint and error code, over plain HTTP clients (our blocking
//! test client; the raw socket for malformed bytes), with RESP clients on the other side to show
//! that both ports share the channels and the queues.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{q, Broker};
use crate::http_client::{request, HttpConn, HttpResponse, SseStream};

const WAIT: Duration = Duration::from_secs(5);

fn http(b: &Broker) -> SocketAddr {
    b.http.expect("the broker printed no HTTP LISTENING line")
}

fn get(b: &Broker, target: &str) -> HttpResponse {
    request(http(b), "GET", target, &[], b"")
}

fn post(b: &Broker, target: &str, body: &[u8]) -> HttpResponse {
    request(http(b), "POST", target, &[], body)
}

fn ids(v: &Value) -> Vec<u64> {
    v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}

pub fn http_publish_poll_and_long_poll(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut con = b.conn();

    // Publish over HTTP, poll it back.
    let r = post(&b, "/channels/news", b"first");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], 1);
    assert_eq!(r.json()["receivers"], 0);
    let r = get(&b, "/channels/news/messages?after=0");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["messages"][0]["data"], "first");
    assert_eq!(r.json()["last_id"], 1);
    // Nothing after the newest: an empty answer, at once.
    assert_eq!(
        ids(&get(&b, "/channels/news/messages?after=1").json()),
        Vec::<u64>::new()
    );

    // A long poll waits for a RESP PUBLISH, and carries every message after its id.
    let addr = http(&b);
    let t0 = Instant::now();
    let waiter = std::thread::spawn(move || {
        request(
            addr,
            "GET",
            "/channels/news/messages?after=1&wait=10",
            &[],
            b"",
        )
    });
    std::thread::sleep(Duration::from_millis(200));
    let n: i64 = q(&mut con, &["PUBLISH", "news", "second"]);
    assert_eq!(n, 1, "PUBLISH counts HTTP receivers too (the long poll)");
    let r = waiter.join().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "long poll answered late"
    );
    assert_eq!(r.json()["messages"][0]["data"], "second");
    assert_eq!(ids(&r.json()), vec![2]);

    // A long poll with nothing to say ends on schedule with an empty answer.
    let t0 = Instant::now();
    let r = get(&b, "/channels/news/messages?after=2&wait=0.4");
    let took = t0.elapsed();
    assert_eq!(ids(&r.json()), Vec::<u64>::new());
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // Binary payloads are not mangled.
    let _: i64 = redis::cmd("PUBLISH")
        .arg("news")
        .arg(&[0xff_u8, 0x00, 0xfe][..])
        .query(&mut con)
        .unwrap();
    let r = get(&b, "/channels/news/messages?after=2");
    assert_eq!(r.json()["messages"][0]["data_base64"], "/wD+");

    // Percent-encoded channel names reach the same channel as RESP's.
    let _: i64 = q(&mut con, &["PUBLISH", "a b/c", "x"]);
    let r = post(&b, "/channels/a%20b%2Fc", b"y");
    assert_eq!(r.json()["channel"], "a b/c");
}

pub fn http_long_polls_time_out_on_schedule(backend: &str) {
    let b = Broker::start(backend, &[]);
    let addr = http(&b);
    let t0 = Instant::now();
    let polls: Vec<_> = (0..50)
        .map(|i| {
            std::thread::spawn(move || {
                let wait = if i % 2 == 0 { "0.5" } else { "1" };
                let r = request(
                    addr,
                    "GET",
                    &format!("/channels/idle/messages?wait={wait}"),
                    &[],
                    b"",
                );
                (wait, r.status, Instant::now())
            })
        })
        .collect();
    for p in polls {
        let (wait, status, at) = p.join().unwrap();
        assert_eq!(status, 200);
        let took = at - t0;
        let want = Duration::from_secs_f64(wait.parse().unwrap());
        assert!(
            took >= want - Duration::from_millis(50),
            "{wait}s poll answered after {took:?}"
        );
        assert!(
            took < want + Duration::from_secs(2),
            "{wait}s poll answered after {took:?}"
        );
    }
    let stats = get(&b, "/stats").json();
    assert_eq!(stats["http"]["long_poll_timeouts"], 50);
    assert_eq!(stats["clients"]["long_polls"], 0);
}

pub fn http_sse_stream_resume_and_gaps(backend: &str) {
    let b = Broker::start(backend, &["--history", "3"]);
    let mut con = b.conn();
    let addr = http(&b);

    let mut s = SseStream::open(addr, "/channels/feed/events", &[]);
    assert_eq!(s.header("cache-control"), Some("no-cache"));
    let _: i64 = q(&mut con, &["PUBLISH", "feed", "one"]);
    let _: i64 = q(&mut con, &["PUBLISH", "feed", "two\nlines"]);
    let e = s.next_event(WAIT).expect("first event");
    assert_eq!((e.id.as_deref(), e.data.as_str()), (Some("1"), "one"));
    let e = s.next_event(WAIT).expect("second event");
    assert_eq!(
        (e.id.as_deref(), e.data.as_str()),
        (Some("2"), "two\nlines")
    );
    assert_eq!(s.retry(), Some(2000), "retry: advice");

    // Resume after id 1: the history replays 2, then live messages follow, without a gap.
    let mut resumed = SseStream::open(addr, "/channels/feed/events", &[("Last-Event-ID", "1")]);
    let _: i64 = q(&mut con, &["PUBLISH", "feed", "three"]);
    let got: Vec<String> = (0..2)
        .map(|_| resumed.next_event(WAIT).expect("event").id.unwrap())
        .collect();
    assert_eq!(got, ["2", "3"]);

    // History keeps 3: resuming from 1 after 6 messages reports the 2 lost ones, then 4..6.
    for m in ["four", "five", "six"] {
        let _: i64 = q(&mut con, &["PUBLISH", "feed", m]);
    }
    let mut late = SseStream::open(addr, "/channels/feed/events?after=1", &[]);
    let gap = late.next_event(WAIT).expect("gap event");
    assert_eq!(gap.event, "gap");
    let g: Value = serde_json::from_str(&gap.data).unwrap();
    assert_eq!(g["missed"], 2);
    let got: Vec<String> = (0..3)
        .map(|_| late.next_event(WAIT).expect("event").data)
        .collect();
    assert_eq!(got, ["four", "five", "six"]);

    // An id from the future (ids restart with the broker): a reset event, then the history.
    let mut future = SseStream::open(addr, "/channels/feed/events", &[("Last-Event-ID", "99")]);
    assert_eq!(future.next_event(WAIT).expect("reset").event, "reset");
    assert_eq!(future.next_event(WAIT).expect("event").data, "four");

    // The first stream saw everything, in order, once.
    let rest: Vec<String> = (0..4).map(|_| s.next_event(WAIT).unwrap().data).collect();
    assert_eq!(rest, ["three", "four", "five", "six"]);
    // Polling after a lost id says so too.
    let r = get(&b, "/channels/feed/messages?after=1");
    assert_eq!(r.json()["missed"], 2);
    assert_eq!(ids(&r.json()), vec![4, 5, 6]);
}

pub fn http_sse_heartbeats_and_vanished_clients(backend: &str) {
    let b = Broker::start(backend, &["--sse-heartbeat", "0.2"]);
    let addr = http(&b);
    // Heartbeats are comments: read the raw bytes.
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.write_all(b"GET /channels/hb/events HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&seen).contains(": heartbeat") {
        assert!(
            Instant::now() < deadline,
            "no heartbeat: {:?}",
            String::from_utf8_lossy(&seen)
        );
        let mut buf = [0u8; 1024];
        let n = raw.read(&mut buf).unwrap();
        assert!(n > 0, "stream closed");
        seen.extend_from_slice(&buf[..n]);
    }
    // Clients that go away are noticed and leave no subscriber behind.
    let streams: Vec<SseStream> = (0..20)
        .map(|_| SseStream::open(addr, "/channels/hb/events", &[]))
        .collect();
    assert_eq!(get(&b, "/stats").json()["clients"]["sse"], 21);
    drop(streams);
    drop(raw);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = get(&b, "/stats").json();
        if stats["clients"]["sse"] == 0 && stats["pubsub"]["subscribers"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "vanished SSE clients linger: {stats}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Graceful shutdown ends open streams and exits cleanly.
    let _open = SseStream::open(addr, "/channels/hb/events", &[]);
    let (ok, _) = b.stop();
    assert!(ok, "broker did not exit cleanly with a stream open");
}

pub fn http_thousand_sse_clients(backend: &str) {
    let b = Broker::start(backend, &[]);
    let addr = http(&b);
    let mut streams: Vec<SseStream> = (0..1000)
        .map(|_| SseStream::open(addr, "/channels/wide/events", &[]))
        .collect();
    let mut con = b.conn();
    for i in 0..5 {
        let n: i64 = q(&mut con, &["PUBLISH", "wide", &format!("m{i}")]);
        assert_eq!(n, 1000, "PUBLISH counts every SSE stream as a receiver");
    }
    for (k, s) in streams.iter_mut().enumerate() {
        for i in 0..5 {
            let e = s
                .next_event(WAIT)
                .unwrap_or_else(|| panic!("stream {k} missed message {i}"));
            assert_eq!(e.data, format!("m{i}"), "stream {k}");
        }
    }
    assert_eq!(get(&b, "/stats").json()["clients"]["sse"], 1000);
}

pub fn http_queues_shared_with_resp(backend: &str) {
    let b = Broker::start(backend, &["--http-queue-max", "3"]);
    let mut con = b.conn();

    // HTTP push -> BRPOP worker.
    let r = post(&b, "/queues/jobs/jobs", b"from-http");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["length"], 1);
    let got: (String, String) = q(&mut con, &["BRPOP", "jobs", "1"]);
    assert_eq!(got.1, "from-http");

    // RESP LPUSH -> HTTP reserve, ack; a second ack is refused.
    let _: i64 = q(&mut con, &["LPUSH", "jobs", "a", "b"]);
    let r = post(&b, "/queues/jobs/reserve", b"");
    let job = r.json();
    assert_eq!(job["body"], "a", "reserve takes from the tail, like BRPOP");
    assert_eq!(job["attempt"], 1);
    let id = job["id"].as_u64().unwrap();
    assert_eq!(
        post(&b, &format!("/queues/jobs/jobs/{id}/ack"), b"").status,
        200
    );
    assert_eq!(
        post(&b, &format!("/queues/jobs/jobs/{id}/ack"), b"").status,
        404
    );

    // Nack puts it back; it comes again with attempt 2. The list shows it meanwhile.
    let r = post(&b, "/queues/jobs/reserve", b"").json();
    assert_eq!(r["body"], "b");
    let id = r["id"].as_u64().unwrap();
    let len: i64 = q(&mut con, &["LLEN", "jobs"]);
    assert_eq!(len, 0, "a reserved job is not in the list");
    assert_eq!(
        post(&b, &format!("/queues/jobs/jobs/{id}/nack"), b"").status,
        200
    );
    let len: i64 = q(&mut con, &["LLEN", "jobs"]);
    assert_eq!(len, 1, "a nacked job is back in the list");
    let r = post(&b, "/queues/jobs/reserve?lease=0.2", b"").json();
    assert_eq!(
        (r["body"].as_str(), r["attempt"].as_u64()),
        (Some("b"), Some(2))
    );

    // Not acked within its lease: handed to the next reserver.
    let r = post(&b, "/queues/jobs/reserve?wait=3", b"").json();
    assert_eq!(
        (r["body"].as_str(), r["attempt"].as_u64()),
        (Some("b"), Some(3))
    );
    let id = r["id"].as_u64().unwrap();
    assert_eq!(
        post(&b, &format!("/queues/jobs/jobs/{id}/ack"), b"").status,
        200
    );

    // An empty reserve: 204 after its wait; a parked reserve is served by a later LPUSH.
    let t0 = Instant::now();
    assert_eq!(post(&b, "/queues/jobs/reserve?wait=0.3", b"").status, 204);
    assert!(t0.elapsed() >= Duration::from_millis(250));
    let addr = http(&b);
    let waiter =
        std::thread::spawn(move || request(addr, "POST", "/queues/jobs/reserve?wait=10", &[], b""));
    std::thread::sleep(Duration::from_millis(200));
    let _: i64 = q(&mut con, &["LPUSH", "jobs", "late"]);
    assert_eq!(waiter.join().unwrap().json()["body"], "late");

    // A full queue answers 429 with Retry-After; nothing is lost.
    for i in 0..3 {
        assert_eq!(
            post(&b, "/queues/full/jobs", format!("j{i}").as_bytes()).status,
            200
        );
    }
    let r = post(&b, "/queues/full/jobs", b"j3");
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    let all: Vec<String> = q(&mut con, &["LRANGE", "full", "0", "-1"]);
    assert_eq!(all, ["j2", "j1", "j0"]);

    // A string key is not a queue.
    let _: () = q(&mut con, &["SET", "str", "v"]);
    assert_eq!(post(&b, "/queues/str/jobs", b"x").status, 409);
    assert_eq!(post(&b, "/queues/str/reserve", b"").status, 409);
    assert_eq!(post(&b, "/queues/jobs/jobs/abc/ack", b"").status, 400);
}

pub fn http_errors_and_limits(backend: &str) {
    let b = Broker::start(
        backend,
        &["--http-max-body", "1kb", "--http-request-timeout", "0.5"],
    );
    let addr = http(&b);
    assert_eq!(get(&b, "/nope").status, 404);
    let r = request(addr, "DELETE", "/stats", &[], b"");
    assert_eq!(r.status, 405);
    assert!(r.header("allow").unwrap().contains("GET"));
    assert_eq!(get(&b, "/channels/x").status, 405);
    assert_eq!(get(&b, "/channels/x/messages?after=oops").status, 400);
    assert_eq!(get(&b, "/channels/x/messages?wait=-1").status, 400);
    assert_eq!(post(&b, "/channels/x", &[b'x'; 2000]).status, 413);

    let raw = |bytes: &[u8]| -> (u16, bool) {
        let mut c = HttpConn::connect(addr);
        c.send_raw(bytes);
        let r = c.read_response();
        (r.status, r.closes())
    };
    assert_eq!(
        raw(b"POST /channels/x HTTP/1.1\r\nHost: t\r\n\r\n"),
        (411, true)
    );
    assert_eq!(
        raw(b"POST /channels/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"),
        (501, true)
    );
    assert_eq!(raw(b"GET / HTTP/2.0\r\n\r\n"), (505, true));
    assert_eq!(
        raw(b"GET / HTTP/1.1\r\nbad header line\r\n\r\n"),
        (400, true)
    );
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(raw(big.as_bytes()), (431, true));

    // HEAD: the GET's headers, no body.
    let mut c = HttpConn::connect(addr);
    let r = c.request("HEAD", "/", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert!(
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 1000
    );

    // HEAD on a stream or a long poll: the head at once, no body, the connection reusable.
    let mut c = HttpConn::connect(addr);
    let r = c.request("HEAD", "/channels/h/events", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(r.body.is_empty());
    let t0 = Instant::now();
    let r = c.request("HEAD", "/channels/h/messages?wait=10", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "HEAD waited like a long poll"
    );
    assert_eq!(c.request("GET", "/stats", &[], b"").status, 200);

    // Keep-alive and pipelining: answers in request order, even behind a long poll.
    let mut c = HttpConn::connect(addr);
    c.send("GET", "/channels/p/messages?wait=0.3", &[], b"");
    c.send("POST", "/channels/p", &[], b"hello");
    c.send("GET", "/channels/p/messages?after=0", &[], b"");
    let first = c.read_response().json();
    let second = c.read_response().json();
    let third = c.read_response().json();
    assert_eq!(
        ids(&first),
        Vec::<u64>::new(),
        "the long poll was answered first, empty"
    );
    assert_eq!(second["id"], 1);
    assert_eq!(ids(&third), vec![1]);

    // HTTP/1.0 closes unless asked to keep alive.
    let mut c = HttpConn::connect(addr);
    c.send_raw(b"GET /stats HTTP/1.0\r\n\r\n");
    assert!(c.read_response().closes());
    c.assert_closed(Duration::from_secs(2));

    // Expect: 100-continue gets its interim answer, then the real one.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /channels/c HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 25];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"abc").unwrap();
    let mut rest = [0u8; 12];
    s.read_exact(&mut rest).unwrap();
    assert_eq!(&rest, b"HTTP/1.1 200");

    // A request that never completes (slowloris) is answered 408 and closed.
    let mut c = HttpConn::connect(addr);
    c.send_raw(b"GET /stats HTTP/1.1\r\nHost: slow\r\n");
    c.set_timeout(Duration::from_secs(5));
    let r = c.read_response();
    assert_eq!(r.status, 408);
    c.assert_closed(Duration::from_secs(2));
    assert_eq!(get(&b, "/stats").json()["http"]["slow_requests"], 1);
}

pub fn http_auth_cors_page_and_stats(backend: &str) {
    let b = Broker::start(backend, &["--requirepass", "s3cret", "--http-cors", "*"]);
    let addr = http(&b);
    let r = get(&b, "/stats");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let ok = request(
        addr,
        "GET",
        "/stats",
        &[("Authorization", "Bearer s3cret")],
        b"",
    );
    assert_eq!(ok.status, 200);
    let stats = ok.json();
    let want = if backend == "uring" {
        "io_uring"
    } else {
        "epoll"
    };
    assert!(
        stats["loop"]["backend"].as_str().unwrap().starts_with(want),
        "{stats}"
    );
    assert_eq!(
        request(
            addr,
            "GET",
            "/stats",
            &[("Authorization", "Bearer wrong")],
            b""
        )
        .status,
        401
    );
    // EventSource cannot send headers: ?auth= works for streams.
    SseStream::open(addr, "/channels/x/events?auth=s3cret", &[]);
    // A CORS preflight.
    let r = request(
        addr,
        "OPTIONS",
        "/channels/x",
        &[("Origin", "http://elsewhere")],
        b"",
    );
    assert_eq!(r.status, 204);
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));

    // The page is served with the password too, and is self-contained.
    let page = request(addr, "GET", "/?auth=s3cret", &[], b"");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let html = page.text();
    assert!(html.contains("EventSource") && html.contains("wait=25"));
    assert!(
        !html.contains("src=\"http"),
        "the page must not load anything from elsewhere"
    );
}

pub fn http_slow_sse_client_is_disconnected(backend: &str) {
    let b = Broker::start(
        backend,
        &["--pubsub-hard-limit", "256kb", "--pubsub-soft-limit", "0"],
    );
    let addr = http(&b);
    // An SSE client with a tiny receive window that never reads.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut slow: TcpStream = sock.into();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    slow.write_all(b"GET /channels/firehose/events HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // A healthy stream on another channel is not affected.
    let mut calm = SseStream::open(addr, "/channels/calm/events", &[]);
    let mut con = b.conn();
    let payload = "x".repeat(64 << 10);
    let mut evicted = false;
    for i in 0..2000 {
        let _: i64 = q(&mut con, &["PUBLISH", "firehose", &payload]);
        if i % 10 == 0 && get(&b, "/stats").json()["clients"]["sse"] == 1 {
            evicted = true;
            break;
        }
    }
    assert!(evicted, "the slow SSE client was never disconnected");
    assert!(b.info_field(&mut con, "client_output_buffer_limit_disconnections") >= 1);
    let _: i64 = q(&mut con, &["PUBLISH", "calm", "ok"]);
    assert_eq!(calm.next_event(WAIT).expect("calm event").data, "ok");
    // The slow client's connection is closed: reading drains what was sent, then EOF.
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match slow.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => assert!(Instant::now() < deadline, "the stream was never closed"),
        }
    }
}
