//! `sync_echo_server` — the synchronous baseline for the echo benchmark.
//!
//! Classic blocking design: std `TcpListener`/`TcpStream`, one OS thread per
//! connection, each thread doing blocking `read` then `write_all`. It is meant
//! to be an honest contrast to the event-loop servers, so it has no artificial
//! slowness: TCP_NODELAY is set, the echo path is a plain read/write loop, and
//! threads get a small (64 KiB) stack so thousands of connections fit.
//!
//! The accept loop uses a nonblocking listener waited on with `poll(2)` and a
//! short timeout, so that SIGINT/SIGTERM (which only set a flag) are noticed
//! promptly; the server then prints its totals and exits.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "\
sync_echo_server - blocking thread-per-connection TCP echo server (baseline)

USAGE:
    sync_echo_server [--addr HOST:PORT]

OPTIONS:
    --addr HOST:PORT    address to listen on        [default: 127.0.0.1:7001]
    -h, --help          print this help

Logs the connection count to stderr when it changes (at most once a second).
SIGINT or SIGTERM stops it and prints totals to stderr.
";

/// Stack for each connection thread. The echo loop needs a few KiB of frames
/// plus its buffer; the default 2 MiB would mostly be unused address space
/// and limit how many threads fit.
const THREAD_STACK: usize = 64 * 1024;
/// Echo buffer, on the connection thread's stack (so an idle connection
/// costs no heap and only the stack pages it actually touched).
const BUF_SIZE: usize = 16 * 1024;
/// Accept queue length; larger than std's default so connection bursts from
/// a load generator are not dropped (a dropped SYN costs a 1 s retransmit).
const BACKLOG: i32 = 1024;
/// How long the accept loop waits before re-checking the stop flag.
const POLL_MS: i32 = 250;

static STOP: AtomicBool = AtomicBool::new(false);
static ACCEPTED: AtomicU64 = AtomicU64::new(0);
static ACTIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Connections that ended with a reset / broken pipe: normal when a load
/// generator closes with data still in flight, so counted apart from errors.
static RESETS: AtomicU64 = AtomicU64::new(0);
static ERRORS: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: the one thing that is async-signal-safe here.
    STOP.store(true, Ordering::SeqCst);
}

fn parse_args() -> Result<Option<SocketAddr>, String> {
    let mut addr = "127.0.0.1:7001".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--addr" => addr = args.next().ok_or("--addr needs a value")?,
            a if a.starts_with("--addr=") => addr = a["--addr=".len()..].to_string(),
            a => return Err(format!("unexpected argument '{a}'")),
        }
    }
    addr.to_socket_addrs()
        .map_err(|e| format!("--addr '{addr}': {e}"))?
        .next()
        .map(Some)
        .ok_or_else(|| format!("--addr '{addr}': no address found"))
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Lets the benchmark restart the server on the same port right away.
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    Ok(s.into())
}

/// The whole server, per connection: read, write back, until EOF or error.
fn serve(mut s: TcpStream) {
    let mut buf = [0u8; BUF_SIZE];
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                count_error(&e);
                break;
            }
        };
        if let Err(e) = s.write_all(&buf[..n]) {
            count_error(&e);
            break;
        }
        BYTES.fetch_add(n as u64, Ordering::Relaxed);
    }
    ACTIVE.fetch_sub(1, Ordering::SeqCst);
}

fn count_error(e: &io::Error) {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => {
            RESETS.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            ERRORS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn handle(stream: TcpStream) {
    // The listener is nonblocking; make sure the connection is not (Linux
    // does not inherit the flag, but this is cheap insurance).
    if stream.set_nonblocking(false).is_err() || stream.set_nodelay(true).is_err() {
        ERRORS.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let active = ACTIVE.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(active, Ordering::SeqCst);
    let spawned = thread::Builder::new()
        .stack_size(THREAD_STACK)
        .spawn(move || serve(stream));
    if let Err(e) = spawned {
        // Out of threads or memory: drop this connection, keep serving others.
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
        ERRORS.fetch_add(1, Ordering::Relaxed);
        eprintln!("sync_echo_server: cannot spawn connection thread: {e}");
    }
}

/// Waits until the listener is readable, a signal arrives, or the timeout.
fn wait_readable(l: &TcpListener) {
    let mut pfd = libc::pollfd {
        fd: l.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; EINTR (a signal) just returns early.
    unsafe {
        libc::poll(&mut pfd, 1, POLL_MS);
    }
}

fn main() -> ExitCode {
    let addr = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sync_echo_server: {e}\nTry 'sync_echo_server --help'.");
            return ExitCode::from(2);
        }
    };
    // Raise the open-files soft limit to the hard limit: one fd per connection.
    // SAFETY: getrlimit/setrlimit only touch the struct passed in.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    let listener = match bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("sync_echo_server: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = listener.set_nonblocking(true) {
        eprintln!("sync_echo_server: {e}");
        return ExitCode::FAILURE;
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        let h = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, h);
        libc::signal(libc::SIGTERM, h);
    }
    eprintln!("sync_echo_server: listening on {addr} (thread per connection)");

    let started = Instant::now();
    let mut last_log = Instant::now();
    let mut logged_active = 0u64;
    let mut last_accept_err = Instant::now() - Duration::from_secs(10);
    while !STOP.load(Ordering::SeqCst) {
        wait_readable(&listener);
        loop {
            match listener.accept() {
                Ok((stream, _peer)) => {
                    ACCEPTED.fetch_add(1, Ordering::Relaxed);
                    handle(stream);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Typically EMFILE. The pending connection stays queued and
                    // poll would report it again at once, so pause briefly
                    // instead of spinning, and log at most once a second.
                    ERRORS.fetch_add(1, Ordering::Relaxed);
                    if last_accept_err.elapsed() >= Duration::from_secs(1) {
                        eprintln!("sync_echo_server: accept: {e}");
                        last_accept_err = Instant::now();
                    }
                    thread::sleep(Duration::from_millis(10));
                    break;
                }
            }
        }
        let active = ACTIVE.load(Ordering::SeqCst);
        if active != logged_active && last_log.elapsed() >= Duration::from_secs(1) {
            eprintln!("sync_echo_server: {active} connections");
            logged_active = active;
            last_log = Instant::now();
        }
    }
    eprintln!(
        "sync_echo_server: stopped after {:.1} s: accepted={} active={} peak={} bytes_echoed={} resets={} errors={}",
        started.elapsed().as_secs_f64(),
        ACCEPTED.load(Ordering::SeqCst),
        ACTIVE.load(Ordering::SeqCst),
        PEAK.load(Ordering::SeqCst),
        BYTES.load(Ordering::SeqCst),
        RESETS.load(Ordering::SeqCst),
        ERRORS.load(Ordering::SeqCst),
    );
    // Connection threads are blocked in read(); exiting the process closes them.
    ExitCode::SUCCESS
}
