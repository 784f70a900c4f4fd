//! `net::Server` on both backends: a line protocol served to real std clients on other threads.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;
use ringloop::net::{
    listen, CloseReason, ConnId, Ctx, ListenOptions, Server, ServerOptions, Service,
};

/// `PING` → `PONG`; `ALL text` → `text` to every connection; `QUIT` → `BYE` then close;
/// `BIG n` → n bytes of `x`.
#[derive(Default)]
struct Lines {
    opened: usize,
    closed: Vec<String>,
}

impl Service for Lines {
    type Conn = usize;

    fn open(&mut self, _cx: &mut Ctx<'_, usize>, _id: ConnId) -> usize {
        self.opened += 1;
        0
    }

    fn data(
        &mut self,
        cx: &mut Ctx<'_, usize>,
        id: ConnId,
        lines: &mut usize,
        input: &mut BytesMut,
    ) {
        while let Some(end) = input.iter().position(|&b| b == b'\n') {
            let line = input.split_to(end + 1);
            let line = std::str::from_utf8(&line[..end])
                .unwrap_or("")
                .trim()
                .to_string();
            *lines += 1;
            match line.split_once(' ').unwrap_or((line.as_str(), "")) {
                ("PING", _) => drop(cx.send(id, Bytes::from_static(b"PONG\n"))),
                ("ALL", text) => {
                    let frame = Bytes::from(format!("{text}\n"));
                    for other in cx.conn_ids() {
                        cx.send(other, frame.clone());
                    }
                }
                ("QUIT", _) => {
                    cx.send(id, Bytes::from_static(b"BYE\n"));
                    cx.close_after_flush(id, CloseReason::Service("quit".into()));
                }
                ("BIG", n) => {
                    let n: usize = n.parse().unwrap_or(0);
                    cx.send(id, Bytes::from(vec![b'x'; n]));
                }
                _ => drop(cx.send(id, Bytes::from_static(b"ERR\n"))),
            }
        }
    }

    fn closed(
        &mut self,
        _cx: &mut Ctx<'_, usize>,
        _id: ConnId,
        _conn: usize,
        reason: &CloseReason,
    ) {
        self.closed.push(reason.to_string());
    }
}

fn start(backend: Backend, options: ServerOptions) -> (EventLoop, Server<Lines>, SocketAddr) {
    let mut lp = new_loop(backend);
    let socket = listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let server = Server::start(&mut lp, socket, Lines::default(), options);
    (lp, server, addr)
}

/// Turns the loop until the client thread is done, and returns its result.
fn serve_until<T>(lp: &mut EventLoop, client: JoinHandle<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client.is_finished() {
        assert!(
            Instant::now() < deadline,
            "client did not finish; {}",
            lp.stats()
        );
        lp.run_once(Some(Duration::from_millis(10))).unwrap();
    }
    client.join().expect("client thread")
}

fn client(addr: SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

fn request_reply_and_quit(b: Backend) {
    let (mut lp, server, addr) = start(b, ServerOptions::default());
    let t = std::thread::spawn(move || {
        let (mut s, mut r) = client(addr);
        s.write_all(b"PING\nPING\nNOPE\n").unwrap();
        let replies = [line(&mut r), line(&mut r), line(&mut r)];
        s.write_all(b"QUIT\n").unwrap();
        let bye = line(&mut r);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        (replies, bye, rest)
    });
    let (replies, bye, rest) = serve_until(&mut lp, t);
    assert_eq!(replies, ["PONG\n", "PONG\n", "ERR\n"]);
    assert_eq!(bye, "BYE\n");
    assert!(rest.is_empty(), "closed after the reply");
    turn_until(&mut lp, 5, |_| server.conn_count() == 0);
    server.call(&mut lp, |svc, _| assert_eq!(svc.closed, ["quit"]));
}

fn fan_out_to_every_connection(b: Backend) {
    let (mut lp, server, addr) = start(b, ServerOptions::default());
    let t = std::thread::spawn(move || {
        let mut conns: Vec<_> = (0..20).map(|_| client(addr)).collect();
        // Make sure all 20 are open on the server before broadcasting.
        for (s, r) in conns.iter_mut() {
            s.write_all(b"PING\n").unwrap();
            assert_eq!(line(r), "PONG\n");
        }
        conns[0].0.write_all(b"ALL hello\n").unwrap();
        conns.iter_mut().map(|(_, r)| line(r)).collect::<Vec<_>>()
    });
    let got = serve_until(&mut lp, t);
    assert_eq!(got.len(), 20);
    assert!(got.iter().all(|l| l == "hello\n"), "{got:?}");
    turn_until(&mut lp, 5, |_| server.conn_count() == 0);
    server.call(&mut lp, |svc, _| {
        assert_eq!(svc.opened, 20);
        assert!(
            svc.closed.iter().all(|r| r == "peer closed the connection"),
            "{:?}",
            svc.closed
        );
    });
}

fn input_limit_closes_the_connection(b: Backend) {
    let options = ServerOptions {
        max_input: 1024,
        ..ServerOptions::default()
    };
    let (mut lp, server, addr) = start(b, options);
    let t = std::thread::spawn(move || {
        let (mut s, mut r) = client(addr);
        let _ = s.write_all(&[b'a'; 8192]); // no newline: nothing parses
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).map(|_| rest.len())
    });
    let read = serve_until(&mut lp, t);
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "the server closed the connection: {read:?}"
    );
    turn_until(&mut lp, 5, |_| server.conn_count() == 0);
    server.call(&mut lp, |svc, _| {
        assert_eq!(svc.closed.len(), 1);
        assert!(
            svc.closed[0].contains("input buffer limit"),
            "{:?}",
            svc.closed
        );
    });
}

/// A client that asks for far more than it reads: past the hard output limit the connection is
/// closed instead of buffering without bound; what was sent before arrives intact.
fn output_limit_closes_a_client_that_does_not_read(b: Backend) {
    let options = ServerOptions {
        high_water: 64 << 10,
        max_output: 8 << 20,
        ..ServerOptions::default()
    };
    let (mut lp, server, addr) = start(b, options);
    // 1 MiB requested per line, 64 lines = 64 MiB > 8 MiB limit, but nothing is read for a while.
    let t = std::thread::spawn(move || {
        let (mut s, mut r) = client(addr);
        s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        // One write (768 bytes, one segment on loopback): the server parses all 64 requests in
        // one go, queues 64 MiB, and must hit its 8 MiB limit rather than buffer it all.
        s.write_all(&b"BIG 1048576\n".repeat(64)).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let mut total = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    assert!(buf[..n].iter().all(|&c| c == b'x'));
                    total += n;
                }
            }
        }
        total
    });
    let total = serve_until(&mut lp, t);
    turn_until(&mut lp, 5, |_| server.conn_count() == 0);
    server.call(&mut lp, |svc, _| {
        assert_eq!(svc.closed.len(), 1);
        assert!(
            svc.closed[0].contains("output buffer limit"),
            "{:?} after {total} bytes",
            svc.closed
        );
    });
    assert!(
        total < 64 << 20,
        "the server did not stop at its limit ({total} bytes)"
    );
}

fn max_conns_refuses_extra_clients(b: Backend) {
    let options = ServerOptions {
        max_conns: 2,
        ..ServerOptions::default()
    };
    let (mut lp, _server, addr) = start(b, options);
    let t = std::thread::spawn(move || {
        let mut ok: Vec<_> = (0..2).map(|_| client(addr)).collect();
        for (s, r) in ok.iter_mut() {
            s.write_all(b"PING\n").unwrap();
            assert_eq!(line(r), "PONG\n");
        }
        let (_s3, mut r3) = client(addr);
        let mut rest = Vec::new();
        let _ = r3.read_to_end(&mut rest);
        rest.len()
    });
    assert_eq!(
        serve_until(&mut lp, t),
        0,
        "the third client is closed at once"
    );
}

/// Streams `total` bytes to each client without ever queueing more than the high-water mark:
/// it refills from `drained`, the write-side back-pressure hook (what an SSE stream needs).
struct Streamer {
    total: usize,
    chunk: usize,
    max_unsent: usize,
}

impl Streamer {
    fn refill(&mut self, cx: &mut Ctx<'_, usize>, id: ConnId, left: &mut usize, high: usize) {
        while *left > 0 && cx.unsent(id).unwrap_or(usize::MAX) < high {
            let n = self.chunk.min(*left);
            cx.send(id, Bytes::from(vec![b's'; n]));
            *left -= n;
            self.max_unsent = self.max_unsent.max(cx.unsent(id).unwrap_or(0));
        }
    }
}

const STREAM_HIGH: usize = 256 << 10;

impl Service for Streamer {
    type Conn = usize;
    fn open(&mut self, cx: &mut Ctx<'_, usize>, id: ConnId) -> usize {
        let mut left = self.total;
        self.refill(cx, id, &mut left, STREAM_HIGH);
        left
    }
    fn data(&mut self, _: &mut Ctx<'_, usize>, _: ConnId, _: &mut usize, input: &mut BytesMut) {
        input.clear();
    }
    fn drained(&mut self, cx: &mut Ctx<'_, usize>, id: ConnId, left: &mut usize) {
        self.refill(cx, id, left, STREAM_HIGH);
    }
}

fn drained_lets_a_producer_stream_without_buffering(b: Backend) {
    let mut lp = new_loop(b);
    let socket = listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let options = ServerOptions {
        high_water: STREAM_HIGH,
        ..ServerOptions::default()
    };
    let total = 32 << 20;
    let service = Streamer {
        total,
        chunk: 64 << 10,
        max_unsent: 0,
    };
    let server = Server::start(&mut lp, socket, service, options);
    let t = std::thread::spawn(move || {
        let (_s, mut r) = client(addr);
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0usize;
        while got < total {
            let n = r.read(&mut buf).unwrap();
            assert!(n > 0, "stream ended early at {got}");
            assert!(buf[..n].iter().all(|&c| c == b's'));
            got += n;
        }
        got
    });
    assert_eq!(serve_until(&mut lp, t), total);
    server.call(&mut lp, |svc, _| {
        assert!(
            svc.max_unsent <= STREAM_HIGH + (64 << 10),
            "queued {} bytes at most; the hook should keep it near the mark",
            svc.max_unsent
        );
    });
}

/// Two ports, one server: a connection on the second listener is told apart by `Ctx::listener`
/// and reached by an `ALL` sent on the first; stopping closes both ports.
fn two_listeners_share_one_table(b: Backend) {
    let (mut lp, server, addr) = start(b, ServerOptions::default());
    let socket = listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr2 = socket.local_addr().unwrap().as_socket().unwrap();
    let second = server.add_listener(&mut lp, socket);
    assert_eq!(second.index(), 1);
    let t = std::thread::spawn(move || {
        let (s2, mut r2) = client(addr2);
        let (mut s1, mut r1) = client(addr);
        s1.write_all(b"ALL hi\n").unwrap();
        ((line(&mut r1), line(&mut r2)), (s1, s2))
    });
    // The clients stay connected (returned from the thread) while the origins are checked.
    let (got, _clients) = serve_until(&mut lp, t);
    assert_eq!(got, ("hi\n".into(), "hi\n".into()));
    let origins = server.call(&mut lp, |_, cx| {
        let mut o: Vec<usize> = cx
            .conn_ids()
            .into_iter()
            .filter_map(|id| cx.listener(id))
            .map(|l| l.index())
            .collect();
        o.sort();
        o
    });
    assert_eq!(origins, vec![0, 1]);
    server.stop_accepting(&mut lp);
    for _ in 0..20 {
        lp.run_once(Some(Duration::from_millis(5))).unwrap();
    }
    assert!(TcpStream::connect(addr).is_err(), "first port still open");
    assert!(TcpStream::connect(addr2).is_err(), "second port still open");
}

both_backends!(
    two_listeners_share_one_table,
    drained_lets_a_producer_stream_without_buffering,
    request_reply_and_quit,
    fan_out_to_every_connection,
    input_limit_closes_the_connection,
    output_limit_closes_a_client_that_does_not_read,
    max_conns_refuses_extra_clients,
);
