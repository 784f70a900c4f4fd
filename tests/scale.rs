//! Scale: 1,000 concurrent loopback connections echoed by one loop (callback style, multishot
//! accept), driven by client threads, verified byte for byte, in bounded time.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;

const CONNS: usize = 1000;
const CLIENT_THREADS: usize = 4;
const ROUNDS: usize = 2;
const MSG: usize = 2000;

#[derive(Default)]
struct Server {
    conns: RefCell<HashMap<RawFd, OwnedFd>>,
    accepted: Cell<usize>,
    closed: Cell<usize>,
    errors: RefCell<Vec<String>>,
}

fn echo(lp: &mut EventLoop, fd: RawFd, srv: Rc<Server>) {
    lp.submit_with(
        op::Recv::new(fd, BytesMut::with_capacity(4096)),
        move |lp, (res, buf)| match res {
            Ok(0) => {
                let owned = srv.conns.borrow_mut().remove(&fd).expect("known conn");
                lp.submit_with(op::Close::new(owned), move |_, res| {
                    if let Err(e) = res {
                        srv.errors.borrow_mut().push(format!("close: {e}"));
                    }
                    srv.closed.set(srv.closed.get() + 1);
                });
            }
            Ok(_) => send_all(lp, fd, buf.freeze(), srv),
            Err(e) => srv.errors.borrow_mut().push(format!("recv: {e}")),
        },
    );
}

fn send_all(lp: &mut EventLoop, fd: RawFd, data: Bytes, srv: Rc<Server>) {
    lp.submit_with(op::Send::new(fd, data), move |lp, (res, data)| match res {
        Ok(n) if n < data.len() => send_all(lp, fd, data.slice(n..), srv),
        Ok(_) => echo(lp, fd, srv),
        Err(e) => srv.errors.borrow_mut().push(format!("send: {e}")),
    });
}

/// One client thread: connects its share, then exchanges ROUNDS messages on every connection
/// (all written before any is read back, so all connections are busy at once), then closes.
fn clients(addr: SocketAddr, first: usize, count: usize) {
    let mut socks: Vec<TcpStream> = (0..count)
        .map(|_| {
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s.set_nodelay(true).unwrap();
            s
        })
        .collect();
    for round in 0..ROUNDS {
        for (i, s) in socks.iter_mut().enumerate() {
            s.write_all(&pattern((first + i) * ROUNDS + round, MSG))
                .unwrap();
        }
        for (i, s) in socks.iter_mut().enumerate() {
            let mut back = vec![0; MSG];
            s.read_exact(&mut back).unwrap();
            assert!(
                back == pattern((first + i) * ROUNDS + round, MSG),
                "conn {} round {round}: echo differs",
                first + i
            );
        }
    }
    for s in &socks {
        s.shutdown(Shutdown::Write).unwrap();
    }
    for s in &mut socks {
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "server closed after echoing everything");
    }
}

fn thousand_connections_echo(b: Backend) {
    // Both backends run at once in this binary: 2 × (1000 + 1000) fds, plus slack.
    let limit = raise_nofile(16_384);
    assert!(
        limit >= 4 * CONNS as u64 + 100,
        "RLIMIT_NOFILE too low: {limit}"
    );
    let mut lp = new_loop_with(b, |b| b.entries(1024));
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener.set_reuse_address(true).unwrap();
    listener
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    listener.listen(2048).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();

    let srv = Rc::new(Server::default());
    let s = srv.clone();
    let accept = lp.submit_multi_with(
        op::AcceptMulti::new(listener.as_raw_fd()),
        move |lp, item| match item {
            Ok(conn) => {
                let fd = conn.as_raw_fd();
                s.conns.borrow_mut().insert(fd, conn);
                s.accepted.set(s.accepted.get() + 1);
                echo(lp, fd, s.clone());
            }
            Err(e) => s.errors.borrow_mut().push(format!("accept: {e}")),
        },
    );

    let start = Instant::now();
    let per = CONNS / CLIENT_THREADS;
    let failed = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..CLIENT_THREADS)
        .map(|t| {
            let failed = failed.clone();
            thread::spawn(move || {
                let res = std::panic::catch_unwind(|| clients(addr, t * per, per));
                if let Err(panic) = res {
                    failed.store(true, Ordering::Release);
                    std::panic::resume_unwind(panic);
                }
            })
        })
        .collect();
    let mut peak_in_flight = 0;
    turn_until(&mut lp, 40, |lp| {
        peak_in_flight = peak_in_flight.max(lp.stats().in_flight);
        assert!(srv.errors.borrow().is_empty(), "{:?}", srv.errors.borrow());
        // A failed client thread ends the wait early; its panic is re-raised by join below.
        srv.closed.get() == CONNS || failed.load(Ordering::Acquire)
    });
    for t in threads {
        t.join().expect("client thread");
    }
    let took = start.elapsed();
    assert!(srv.errors.borrow().is_empty(), "{:?}", srv.errors.borrow());
    assert_eq!(srv.accepted.get(), CONNS);
    assert_eq!(srv.closed.get(), CONNS);
    assert!(srv.conns.borrow().is_empty());
    assert!(
        peak_in_flight > CONNS / 2,
        "connections were served concurrently (peak in flight {peak_in_flight})"
    );
    let st = lp.stats();
    assert_eq!(st.completed(op::OpKind::Close), CONNS as u64);
    assert!(st.completed(op::OpKind::Recv) >= (CONNS * (ROUNDS + 1)) as u64);
    assert!(lp.cancel(accept));
    turn_until(&mut lp, 5, |lp| lp.stats().in_flight == 0);
    eprintln!(
        "{b:?}: {CONNS} connections echoed in {took:?}; {}",
        lp.stats()
    );
}

both_backends!(thousand_connections_echo);
