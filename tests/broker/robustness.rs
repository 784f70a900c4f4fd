//! Bad input, limits, timeouts, protected mode, shutdown.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::child::example_path;
use crate::harness::{q, Broker};

pub fn malformed_input(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut bystander = b.conn();
    let cases: [(&[u8], &[u8]); 5] = [
        (
            b"*1\r\n$999999999999\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*99999999999\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\nfoo\r\n",
            b"-ERR Protocol error: expected '$', got 'f'\r\n",
        ),
        (
            b"SET \"a b\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            &[b'a'; 70_000],
            b"-ERR Protocol error: too big inline request\r\n",
        ),
    ];
    for (input, reply) in cases {
        let mut raw = b.raw();
        raw.send(input);
        raw.expect(reply);
        assert!(
            raw.closed(),
            "closed after {:?}",
            String::from_utf8_lossy(&input[..input.len().min(20)])
        );
        assert_eq!(q::<String>(&mut bystander, &["PING"]), "PONG");
    }
    // Commands before the bad one are answered first.
    let mut raw = b.raw();
    raw.send(b"PING\r\n*1\r\n$-5\r\n");
    raw.expect(b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n");
    assert!(raw.closed());
    // A truncated frame waits for the rest; nothing is answered meanwhile.
    let mut raw = b.raw();
    raw.send(b"*2\r\n$4\r\nECHO\r\n$5\r\nhel");
    assert!(raw.silent_for(Duration::from_millis(200)));
    raw.send(b"lo\r\n");
    raw.expect(b"$5\r\nhello\r\n");
    // A huge declared bulk (within limits) also just waits, costing nothing up front.
    raw.send(b"*2\r\n$4\r\nECHO\r\n$100000000\r\nabc");
    assert!(raw.silent_for(Duration::from_millis(100)));
    assert_eq!(q::<String>(&mut bystander, &["PING"]), "PONG");
    // Binary garbage never takes the server down.
    let mut raw = b.raw();
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let _ = raw.s.write_all(&junk);
    let _ = raw.closed();
    assert_eq!(q::<String>(&mut bystander, &["PING"]), "PONG");
    let info: String = q(&mut bystander, &["INFO", "stats"]);
    assert!(info.contains("total_error_replies_protocol:"));
}

pub fn inline_commands(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut raw = b.raw();
    raw.send(b"SET k \"hello world\"\r\n");
    raw.expect(b"+OK\r\n");
    raw.send(b"GET k\n");
    raw.expect(b"$11\r\nhello world\r\n");
    raw.send(b"\r\n\r\nRPUSH q 'a b' \"\\x41\"\r\nLRANGE q 0 -1\r\n");
    raw.expect(b":2\r\n*2\r\n$3\r\na b\r\n$1\r\nA\r\n");
    raw.send(b"ping\r\n");
    raw.expect(b"+PONG\r\n");
}

pub fn query_buffer_limit(backend: &str) {
    let b = Broker::start(backend, &["--query-buffer-limit", "1mb"]);
    let mut raw = b.raw();
    raw.send(b"*2\r\n$4\r\nECHO\r\n$3000000\r\n");
    let chunk = vec![b'x'; 64 << 10];
    for _ in 0..24 {
        if raw.s.write_all(&chunk).is_err() {
            break;
        }
    }
    assert!(
        raw.closed(),
        "a client over the query buffer limit is closed"
    );
    let mut c = b.conn();
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
}

pub fn maxclients(backend: &str) {
    let b = Broker::start(backend, &["--maxclients", "2"]);
    let mut c1 = b.raw();
    let mut c2 = b.raw();
    c1.roundtrip(&[b"PING"], b"+PONG\r\n");
    c2.roundtrip(&[b"PING"], b"+PONG\r\n");
    let mut c3 = b.raw();
    c3.expect(b"-ERR max number of clients reached\r\n");
    assert!(c3.closed());
    drop(c1);
    // Once a slot is free, connections are accepted again.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = b.raw();
        c.cmd(&[b"PING"]);
        let mut buf = [0u8; 7];
        if std::io::Read::read_exact(&mut c.s, &mut buf).is_ok() && &buf == b"+PONG\r\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no slot freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn idle_timeout(backend: &str) {
    let b = Broker::start(backend, &["--timeout", "1"]);
    let mut idle = b.raw();
    idle.roundtrip(&[b"PING"], b"+PONG\r\n");
    let mut sub = b.raw();
    sub.roundtrip(
        &[b"SUBSCRIBE", b"c"],
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
    );
    assert!(idle.closed(), "an idle client is closed after --timeout");
    // Subscribers are exempt, as in Redis.
    sub.roundtrip(&[b"PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
}

pub fn protected_mode(backend: &str) {
    let out = Command::new(example_path("broker"))
        .args(["--port", "0", "--backend", backend, "--bind", "0.0.0.0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("protected mode") && err.contains("--requirepass"),
        "{err}"
    );
    // With a password it starts, and demands it.
    let b = Broker::start(backend, &["--bind", "0.0.0.0", "--requirepass", "pw"]);
    let mut raw = crate::harness::Raw::connect(([127, 0, 0, 1], b.port()).into());
    raw.roundtrip(&[b"PING"], b"-NOAUTH Authentication required.\r\n");
    raw.roundtrip(&[b"AUTH", b"pw"], b"+OK\r\n");
}

/// `--defer-taskrun` (on by default) changes how io_uring finishes completions, not what the
/// broker does: both modes serve pub/sub, INFO says which one runs, and a bad value is refused.
pub fn defer_taskrun_modes(backend: &str) {
    for (flag, deferred) in [(None, true), (Some("off"), false), (Some("on"), true)] {
        let extra: Vec<&str> = flag.map_or(vec![], |v| vec!["--defer-taskrun", v]);
        let b = Broker::start(backend, &extra);
        let mut sub = b.raw();
        sub.roundtrip(
            &[b"SUBSCRIBE", b"c"],
            b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
        );
        let mut c = b.conn();
        let n: i64 = q(&mut c, &["PUBLISH", "c", "hi"]);
        assert_eq!(n, 1);
        sub.expect(b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n");
        let info: String = q(&mut c, &["INFO"]);
        let detail = info
            .lines()
            .find(|l| l.starts_with("loop_backend_detail:"))
            .unwrap_or_else(|| panic!("no loop_backend_detail in {info}"));
        let expect_deferred = deferred && backend == "uring";
        assert_eq!(
            detail.contains("DEFER_TASKRUN"),
            expect_deferred,
            "{flag:?}: {detail}"
        );
    }
    let out = Command::new(example_path("broker"))
        .args([
            "--port",
            "0",
            "--backend",
            backend,
            "--defer-taskrun",
            "sometimes",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--defer-taskrun sometimes"), "{err}");
}

pub fn graceful_shutdown(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut c = b.conn();
    let mut idle = b.raw();
    let mut blocked = b.raw();
    blocked.cmd(&[b"BLPOP", b"q", b"0"]);
    let mut sub = b.raw();
    sub.roundtrip(
        &[b"SUBSCRIBE", b"c"],
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
    );
    b.wait_info(&mut c, "blocked_clients", 1);
    // Connections are served normally up to the signal.
    idle.cmd(&[b"PING"]);
    idle.expect(b"+PONG\r\n");
    let (ok, stdout) = b.stop();
    assert!(ok, "exit status");
    assert!(stdout.contains("STATS connections=4"), "{stdout}");
    assert!(stdout.contains("syscalls="), "{stdout}");
    for s in [&mut idle, &mut blocked, &mut sub] {
        assert!(s.closed());
    }
}

pub fn sigint_and_quit(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut raw = b.raw();
    // QUIT answers, then closes; a pipelined command after it is never run.
    raw.send(b"QUIT\r\nPING\r\n");
    raw.expect(b"+OK\r\n");
    assert!(raw.closed());
    let mut c = b.conn();
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
    let (ok, stdout) = b.stop_with(libc::SIGINT);
    assert!(ok && stdout.contains("STATS connections=2"), "{stdout}");
}
