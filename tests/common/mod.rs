//! Shared helpers for the behavioural suite: building a loop on a chosen backend, loopback
//! socket pairs, temp files, a watchdog for blocking calls, and the macro that instantiates every
//! test once per backend.

#![allow(dead_code, unused_imports)]

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use ringloop::{op, Backend, Builder, EventLoop};

/// A loop forced onto `backend`; fails the test if that backend is unavailable.
pub fn new_loop(backend: Backend) -> EventLoop {
    new_loop_with(backend, |b| b)
}

/// Like [`new_loop`], with extra builder settings (e.g. a tiny receive pool).
pub fn new_loop_with(backend: Backend, configure: impl FnOnce(Builder) -> Builder) -> EventLoop {
    let _ = env_logger::builder().is_test(true).try_init();
    let builder = EventLoop::builder()
        .backend(backend)
        .entries(256)
        .recv_buffers(64, 4096);
    let lp = configure(builder)
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

/// A loopback listener on an ephemeral port.
pub fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A blocking client connected to `addr`, with a read timeout so a test never hangs on it.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.set_nodelay(true).unwrap();
    c
}

/// A loopback address where nothing listens (bound, then closed).
pub fn closed_port() -> SocketAddr {
    let (l, addr) = listener();
    drop(l);
    addr
}

/// A fresh, unconnected TCP socket (blocking: the loop must cope).
pub fn tcp_socket() -> socket2::Socket {
    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap()
}

/// An fd number that is certainly not open (above any RLIMIT_NOFILE we use).
pub const BAD_FD: RawFd = 1 << 29;

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

/// Turns the loop for about `d` (to let things happen that must not happen).
pub fn turn_for(lp: &mut EventLoop, d: Duration) {
    let end = Instant::now() + d;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        lp.run_once(Some((end - now).min(Duration::from_millis(10))))
            .unwrap();
    }
}

/// Polls a ticket, turning the loop, with a deadline.
pub fn poll_until<T: 'static>(lp: &mut EventLoop, t: &ringloop::Ticket<T>, secs: u64) -> T {
    let mut out = None;
    turn_until(lp, secs, |lp| {
        out = lp.poll(t);
        out.is_some()
    });
    out.unwrap()
}

/// `EventLoop::wait` with a watchdog: a blocking wait that never returns fails the test instead
/// of hanging it.
pub fn wait<T: 'static>(lp: &mut EventLoop, t: ringloop::Ticket<T>) -> T {
    let _dog = Watchdog::new(lp, 10);
    lp.wait(t).expect("loop failure while waiting")
}

/// After `secs`, posts a panicking closure to the loop, so that a call blocked inside the loop
/// (`wait`, `wait_next`, `run`, `run_once(None)`) fails loudly. Disarmed on drop.
pub struct Watchdog {
    disarmed: Arc<AtomicBool>,
}

impl Watchdog {
    pub fn new(lp: &EventLoop, secs: u64) -> Watchdog {
        let disarmed = Arc::new(AtomicBool::new(false));
        let flag = disarmed.clone();
        let handle = lp.handle();
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < end {
                if flag.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            if !flag.load(Ordering::Acquire) {
                let _ = handle.post(move |_| panic!("watchdog: still blocked after {secs}s"));
            }
        });
        Watchdog { disarmed }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.disarmed.store(true, Ordering::Release);
    }
}

pub fn fd(s: &impl AsRawFd) -> RawFd {
    s.as_raw_fd()
}

pub fn errno(e: &io::Error) -> i32 {
    e.raw_os_error()
        .unwrap_or_else(|| panic!("not an OS error: {e:?}"))
}

pub fn write_all(s: &mut TcpStream, data: &[u8]) {
    s.write_all(data).unwrap();
}

pub fn read_exact(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    s.read_exact(&mut v).unwrap();
    v
}

/// Reads until EOF (the peer closed); fails on timeout.
pub fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).unwrap();
    v
}

/// Deterministic, position-dependent test bytes (so reordering or loss shows).
pub fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed.wrapping_mul(7919)) % 251) as u8)
        .collect()
}

/// A value a callback fills in and the test reads.
pub type Slot<T> = Rc<RefCell<Option<T>>>;

pub fn slot<T>() -> Slot<T> {
    Rc::new(RefCell::new(None))
}

/// Items a callback appends to and the test reads.
pub type Log<T> = Rc<RefCell<Vec<T>>>;

pub fn log<T>() -> Log<T> {
    Rc::new(RefCell::new(Vec::new()))
}

/// A read-write temp file, already unlinked (it disappears when closed).
pub fn temp_file() -> File {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "ringloop-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    f
}

/// Raises the soft RLIMIT_NOFILE to at least `want` (up to the hard limit); returns the result.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    lim.rlim_cur
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
