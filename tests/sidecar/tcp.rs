//! TCP mode: bytes forwarded both ways unchanged, a large transfer with back-pressure, half-close,
//! and a client closed promptly when there is no upstream.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::fakes;
use crate::harness::{eventually, q, Proc, Raw};

pub fn tcp_forwards_both_ways(backend: &str) {
    let up = Proc::broker(0);
    let mut sc = Proc::sidecar(backend, up.addr, &["--mode", "tcp", "--pool-size", "4"]);
    {
        let mut c = sc.conn();
        q::<String>(&mut c, &["SET", "k", "v"]);
        assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
        // The client owns its upstream connection: its SELECT is its own.
        q::<String>(&mut c, &["SELECT", "5"]);
        assert_eq!(q::<Option<String>>(&mut c, &["GET", "k"]), None);
        // Several MB each way.
        let big = "x".repeat(6 << 20);
        q::<String>(&mut c, &["SET", "big", &big]);
        assert_eq!(q::<String>(&mut c, &["GET", "big"]), big);
        let mut other = sc.conn();
        assert_eq!(q::<String>(&mut other, &["GET", "k"]), "v");
    }
    // A used upstream connection is not reused: the pool closes it as dirty.
    eventually("used connections to be closed", || {
        sc.stat("closed_dirty") >= 2
    });
}

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

pub fn tcp_large_transfer_with_back_pressure(backend: &str) {
    let echo = fakes::echo();
    let sc = Proc::sidecar(
        backend,
        echo,
        &["--mode", "tcp", "--pool-size", "2", "--high-water", "64kb"],
    );
    // 1. 16 MB through and back, writer and reader at once; then half-close both ways.
    const TOTAL: usize = 16 << 20;
    let s = Raw::connect(sc.addr).s;
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk: Vec<u8> = (0..TOTAL).map(pattern).collect();
        for part in chunk.chunks(256 << 10) {
            w.write_all(part).unwrap();
        }
        // Half-close: we are done sending, the echo still has to come back.
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut r = s;
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    while got < TOTAL {
        let n = r.read(&mut buf).expect("read echo");
        assert!(n > 0, "EOF after {got} bytes");
        for (j, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, pattern(got + j), "byte {}", got + j);
        }
        got += n;
    }
    writer.join().unwrap();
    // The upstream answered our EOF with its own, forwarded to us.
    assert_eq!(r.read(&mut buf).unwrap(), 0);

    // 2. A client that writes and never reads is stopped by back-pressure: its writes stall
    //    after the socket buffers and two high-water marks fill, instead of the sidecar
    //    buffering everything.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_send_buffer_size(64 << 10).unwrap();
    sock.set_recv_buffer_size(64 << 10).unwrap();
    sock.connect(&sc.addr.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    const CAP: usize = 96 << 20;
    let chunk = vec![7u8; 64 << 10];
    let mut sent = 0usize;
    let mut stalled = false;
    while sent < CAP {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                stalled = true;
                break;
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    assert!(stalled, "wrote {sent} bytes without ever being held back");
    assert!(
        sent < 64 << 20,
        "{sent} bytes buffered before the writer stalled"
    );
    // Reading resumes the flow: everything comes back.
    let mut back = 0usize;
    let t0 = Instant::now();
    while back < sent {
        let n = s.read(&mut buf).expect("read back");
        assert!(n > 0);
        assert!(buf[..n].iter().all(|&b| b == 7));
        back += n;
        assert!(t0.elapsed() < Duration::from_secs(20));
    }
}

pub fn tcp_refused_upstream_closes_client(backend: &str) {
    let nobody = fakes::refused();
    let sc = Proc::sidecar(
        backend,
        nobody,
        &["--mode", "tcp", "--checkout-timeout", "500"],
    );
    let t0 = Instant::now();
    let mut c = sc.raw();
    assert!(c.closed(), "a client with no upstream is closed");
    assert!(t0.elapsed() < Duration::from_secs(3));
}
