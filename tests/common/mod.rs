//! Shared helpers for the behavioural suite: building a loop on a chosen backend, loopback
//! socket pairs, and the macro that instantiates every test once per backend.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

pub use ringloop::{op, Backend, EventLoop};

/// A loop forced onto `backend`; fails the test if that backend is unavailable.
pub fn new_loop(backend: Backend) -> EventLoop {
    let _ = env_logger::builder().is_test(true).try_init();
    let lp = EventLoop::builder()
        .backend(backend)
        .entries(256)
        .recv_buffers(64, 4096)
        .build()
        .unwrap_or_else(|e| panic!("cannot build a {backend:?} loop: {e}"));
    assert_eq!(
        lp.backend().kind,
        backend,
        "RINGLOOP_BACKEND must not be set while testing"
    );
    lp
}

/// A connected loopback pair: (our end, non-blocking, for the loop; the peer, blocking, for the
/// test to drive directly).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    client.set_nodelay(true).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (server, client)
}

/// Turns the loop until `done()` or the deadline (then panics: a test never hangs).
pub fn turn_until(lp: &mut EventLoop, secs: u64, mut done: impl FnMut(&mut EventLoop) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done(lp) {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s; stats: {}",
            lp.stats()
        );
        lp.run_once(Some(Duration::from_millis(50))).unwrap();
    }
}

pub fn fd(s: &impl AsRawFd) -> RawFd {
    s.as_raw_fd()
}

pub fn write_all(s: &mut TcpStream, data: &[u8]) {
    s.write_all(data).unwrap();
}

pub fn read_exact(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    s.read_exact(&mut v).unwrap();
    v
}

/// Generates `mod uring` and `mod epoll`, each with one `#[test]` per listed function; each
/// function takes the `Backend` to run on. One suite, two backends.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod uring {
            $( #[test] fn $name() { super::$name(ringloop::Backend::Uring) } )*
        }
        mod epoll {
            $( #[test] fn $name() { super::$name(ringloop::Backend::Epoll) } )*
        }
    };
}
