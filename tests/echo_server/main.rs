//! The echo server example against real sockets, on both backends and in every style.
//!
//! Each test starts `examples/echo_server` as a child process on an ephemeral port and talks to
//! it with plain blocking std sockets (an independent client, not our loop).

#[path = "../support/child.rs"]
mod child;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use child::ChildServer as Server;

fn start(backend: &str, style: &str, extra: &[&str]) -> Server {
    let mut args = vec![
        "--addr",
        "127.0.0.1:0",
        "--backend",
        backend,
        "--style",
        style,
    ];
    args.extend_from_slice(extra);
    Server::start("echo_server", &args)
}

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr).expect("connect");
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Deterministic pseudo-random bytes (xorshift), different per connection and message.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn echo_round_trip(s: &mut TcpStream, data: &[u8]) {
    s.write_all(data).unwrap();
    let mut got = vec![0; data.len()];
    s.read_exact(&mut got).unwrap();
    assert!(got == data, "echo differs ({} bytes)", data.len());
}

/// Many connections at once (one at a time for the blocking style, which serves sequentially),
/// random sizes up to 64 KiB, byte-exact.
fn random_payloads(backend: &str, style: &str) {
    let server = start(backend, style, &[]);
    let (conns, rounds) = if style == "blocking" {
        (3, 20)
    } else {
        (32, 20)
    };
    let concurrent = style != "blocking";
    let run = |c: u64| {
        let mut s = connect(&server);
        for r in 0..rounds {
            let len = 1 + (payload(c * 1000 + r, 2)[0] as usize * 257) % 65536;
            echo_round_trip(&mut s, &payload(c * 7919 + r, len));
        }
    };
    if concurrent {
        std::thread::scope(|scope| {
            for c in 0..conns {
                scope.spawn(move || run(c));
            }
        });
    } else {
        (0..conns).for_each(run);
    }
    assert!(server.stop(), "server exits cleanly on SIGTERM");
}

/// A connection that sends and never reads must not delay another connection's echo.
fn slow_reader_does_not_stall_others(backend: &str, style: &str) {
    let server = start(backend, style, &["--max-unsent", "262144"]);
    let mut hog = connect(&server);
    hog.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // Fill the hog's path until the kernel pushes back (its echo piles up, unread).
    let chunk = vec![7u8; 64 * 1024];
    let mut pushed = 0usize;
    while pushed < 64 << 20 {
        match hog.write(&chunk) {
            Ok(n) => pushed += n,
            Err(_) => break, // write timed out: back-pressure reached us
        }
    }
    let mut other = connect(&server);
    let start = Instant::now();
    for i in 0..50 {
        echo_round_trip(&mut other, &payload(i, 100));
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "50 round trips took {took:?} next to a hog"
    );
    drop(hog);
    assert!(server.stop());
}

/// Echoes go out straight from the receive pool's buffers while the pool is more than half free,
/// and a send stuck behind a client that stopped reading holds its buffer. Twelve such clients
/// (paced 16 KiB messages into a tiny receive window, until the server stops reading them) and a
/// pool of only 8 buffers: a new connection must still be served.
fn slow_readers_cannot_starve_the_pool(backend: &str, style: &str) {
    let server = start(
        backend,
        style,
        &["--recv-buffers", "8", "--max-unsent", "65536"],
    );
    let mut hogs: Vec<TcpStream> = (0..12)
        .map(|_| {
            let sock =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            sock.set_recv_buffer_size(4096).unwrap();
            sock.connect(&server.addr.into()).unwrap();
            let hog = TcpStream::from(sock);
            hog.set_nodelay(true).unwrap();
            hog.set_write_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            hog
        })
        .collect();
    // Paced messages, each hog until its writes stall (the server stopped reading it, so its
    // sends to the hog are stuck).
    let message = vec![5u8; 16 * 1024];
    let mut stalled = vec![false; hogs.len()];
    let deadline = Instant::now() + Duration::from_secs(20);
    while stalled.contains(&false) && Instant::now() < deadline {
        for (hog, stalled) in hogs.iter_mut().zip(stalled.iter_mut()) {
            if !*stalled && hog.write(&message).is_err() {
                *stalled = true;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut other = connect(&server);
    for i in 0..20 {
        echo_round_trip(&mut other, &payload(i, 3000));
    }
    drop(hogs);
    assert!(server.stop());
}

/// A client that never reads: the server stops reading it (back-pressure) instead of buffering
/// everything, so its memory stays bounded.
fn back_pressure_bounds_memory(backend: &str, style: &str) {
    let mut server = start(backend, style, &["--max-unsent", "1048576"]);
    let mut conn = connect(&server);
    let baseline = server.rss_kib();
    conn.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = vec![1u8; 256 * 1024];
    let mut pushed = 0usize;
    let deadline = Instant::now() + Duration::from_secs(10);
    while pushed < 256 << 20 && Instant::now() < deadline {
        match conn.write(&chunk) {
            Ok(n) => pushed += n,
            Err(_) => break,
        }
    }
    let grown = server.rss_kib().saturating_sub(baseline);
    assert!(
        pushed < 256 << 20,
        "the server never pushed back ({pushed} bytes accepted)"
    );
    assert!(
        grown < 32 * 1024,
        "server RSS grew by {grown} KiB with a non-reading client ({pushed} bytes pushed): {:?}",
        server.stats(1)
    );
    // The echo is all still there, in order, once the client reads.
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0usize;
    while got < pushed {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "server closed early");
        assert!(buf[..n].iter().all(|&b| b == 1), "echo corrupted");
        got += n;
    }
    assert_eq!(got, pushed);
    assert!(server.stop());
}

/// `--threads 4`: every loop gets connections (SO_REUSEPORT spreads them) and serves them.
fn threads_share_the_port(backend: &str, style: &str) {
    let mut server = start(backend, style, &["--threads", "4"]);
    let mut conns: Vec<TcpStream> = (0..48).map(|_| connect(&server)).collect();
    if style == "blocking" {
        // Each blocking loop serves one connection at a time: talk to a few and close them.
        for (i, c) in conns.iter_mut().enumerate().take(4) {
            let _ = c.set_read_timeout(Some(Duration::from_millis(300)));
            let _ = c.write_all(&payload(i as u64, 10));
        }
        conns.clear();
        std::thread::sleep(Duration::from_millis(300));
    } else {
        for (i, c) in conns.iter_mut().enumerate() {
            echo_round_trip(c, &payload(i as u64, 1000));
        }
    }
    let stats = server.stats(4);
    assert_eq!(stats.len(), 4, "one STATS line per thread: {stats:?}");
    let busy = stats.iter().filter(|l| !l.contains(" accepted=0 ")).count();
    assert!(busy >= 2, "connections spread over threads: {stats:?}");
    drop(conns);
    assert!(server.stop());
}

macro_rules! matrix {
    ($($test:ident),*) => {
        $(
            mod $test {
                #[test] fn uring_callback() { super::$test("uring", "callback") }
                #[test] fn uring_polling() { super::$test("uring", "polling") }
                #[test] fn uring_blocking() { super::$test("uring", "blocking") }
                #[test] fn epoll_callback() { super::$test("epoll", "callback") }
                #[test] fn epoll_polling() { super::$test("epoll", "polling") }
                #[test] fn epoll_blocking() { super::$test("epoll", "blocking") }
            }
        )*
    };
}

matrix!(random_payloads, threads_share_the_port);

/// Back-pressure and fairness need concurrency, which the blocking style does not have by design.
macro_rules! async_matrix {
    ($($test:ident),*) => {
        $(
            mod $test {
                #[test] fn uring_callback() { super::$test("uring", "callback") }
                #[test] fn uring_polling() { super::$test("uring", "polling") }
                #[test] fn epoll_callback() { super::$test("epoll", "callback") }
                #[test] fn epoll_polling() { super::$test("epoll", "polling") }
            }
        )*
    };
}

async_matrix!(
    slow_reader_does_not_stall_others,
    slow_readers_cannot_starve_the_pool,
    back_pressure_bounds_memory
);
