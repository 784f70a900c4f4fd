//! `mio_echo` — comparison peer for `benches/echo_compare.sh`.
//!
//! A plain, carefully written single-threaded mio 1 echo server, i.e. what a
//! competent engineer would write by hand on top of epoll:
//!
//! * edge-triggered readiness (mio's only mode): on every event a connection
//!   reads until `WouldBlock`, because no further event comes for data that
//!   is already queued;
//! * echoed bytes are written straight from one shared 64 KiB scratch read
//!   buffer; only what the socket does not take is copied into that
//!   connection's pending-output buffer, and only then is WRITABLE interest
//!   added (and removed again once drained). An idle connection therefore
//!   holds no buffer at all;
//! * backpressure: a connection whose peer does not read its echoes stops
//!   being read once its pending output reaches 1 MiB, and resumes when it
//!   drains, so memory stays bounded.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

const USAGE: &str = "\
mio_echo - single-threaded mio (epoll, edge-triggered) TCP echo server

USAGE:
    mio_echo [--addr HOST:PORT]

OPTIONS:
    --addr HOST:PORT    address to listen on   [default: 127.0.0.1:7000]
    -h, --help          print this help
";

const LISTENER: Token = Token(usize::MAX);
/// Shared read buffer: one per server, not per connection.
const READ_BUF: usize = 64 * 1024;
/// Stop reading a connection once this much echo output is waiting for its peer.
const MAX_PENDING: usize = 1 << 20;
/// Accept queue length (std/mio default is 128, too small for connect bursts).
const BACKLOG: i32 = 1024;

struct Conn {
    stream: TcpStream,
    /// Echo bytes the socket did not accept yet; `pending[pos..]` is unsent.
    pending: Vec<u8>,
    pos: usize,
    /// WRITABLE interest is registered (only while `pending` is non-empty).
    want_write: bool,
    /// Reading was stopped because too much output is pending.
    paused: bool,
    /// Peer sent EOF; close once the pending output is written.
    read_closed: bool,
}

impl Conn {
    fn unsent(&self) -> usize {
        self.pending.len() - self.pos
    }

    /// Writes pending output until done or the socket is full.
    fn flush(&mut self) -> io::Result<()> {
        while self.pos < self.pending.len() {
            match self.stream.write(&self.pending[self.pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.pos = 0;
        self.pending.clear();
        // Give back memory a burst left behind, so idle connections stay free.
        if self.pending.capacity() > READ_BUF {
            self.pending = Vec::new();
        }
        Ok(())
    }

    /// Echoes `data`: directly if nothing is queued (the common case: no
    /// copy), otherwise behind the queued bytes to keep the order.
    fn echo(&mut self, data: &[u8]) -> io::Result<()> {
        let mut off = 0;
        if self.unsent() == 0 {
            while off < data.len() {
                match self.stream.write(&data[off..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => off += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        if off < data.len() {
            // Under sustained backpressure the buffer may never drain fully;
            // drop the sent prefix so it cannot grow without bound.
            if self.pos > 0 && self.pos >= self.pending.len() / 2 {
                self.pending.drain(..self.pos);
                self.pos = 0;
            }
            self.pending.extend_from_slice(&data[off..]);
        }
        Ok(())
    }

    /// Handles one readiness event. Returns false when the connection is done.
    fn drive(&mut self, buf: &mut [u8], readable: bool) -> io::Result<bool> {
        if self.unsent() > 0 {
            self.flush()?;
        }
        // A connection paused for backpressure still has unread data but will
        // get no new read edge for it, so it must be read again as soon as
        // its output has drained, even though this is a write event.
        let resume = self.paused && self.unsent() < MAX_PENDING;
        if resume {
            self.paused = false;
        }
        let mut read = readable || resume;
        while read && !self.read_closed {
            if self.unsent() >= MAX_PENDING {
                self.paused = true;
                break;
            }
            match self.stream.read(buf) {
                Ok(0) => self.read_closed = true,
                Ok(n) => self.echo(&buf[..n])?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => read = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(!(self.read_closed && self.unsent() == 0))
    }
}

fn parse_args() -> Result<Option<SocketAddr>, String> {
    let mut addr = "127.0.0.1:7000".to_string();
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
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    s.set_nonblocking(true)?;
    Ok(TcpListener::from_std(s.into()))
}

fn raise_nofile_limit() {
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
}

fn main() -> ExitCode {
    let addr = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mio_echo: {e}\nTry 'mio_echo --help'.");
            return ExitCode::from(2);
        }
    };
    raise_nofile_limit();
    match run(addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mio_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(addr: SocketAddr) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listener =
        bind(addr).map_err(|e| io::Error::new(e.kind(), format!("listen on {addr}: {e}")))?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!("mio_echo: listening on {addr}");

    let mut events = Events::with_capacity(1024);
    let mut conns: Slab<Conn> = Slab::new();
    let mut buf = vec![0u8; READ_BUF];
    // Set when accept failed for lack of resources (EMFILE...): the queued
    // connections produce no new edge, so accept is retried on a timer.
    let mut retry_accept = false;
    let mut last_err_log: Option<Instant> = None;

    loop {
        let timeout = retry_accept.then(|| Duration::from_millis(10));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if retry_accept {
            retry_accept = false;
            accept_all(
                &poll,
                &mut listener,
                &mut conns,
                &mut retry_accept,
                &mut last_err_log,
            );
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                accept_all(
                    &poll,
                    &mut listener,
                    &mut conns,
                    &mut retry_accept,
                    &mut last_err_log,
                );
                continue;
            }
            let key = ev.token().0;
            let Some(c) = conns.get_mut(key) else {
                continue;
            };
            let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
            // An I/O error (typically a reset when a client goes away
            // mid-stream, which is normal) just closes the connection.
            let keep = c.drive(&mut buf, readable).unwrap_or(false);
            if !keep {
                let mut c = conns.remove(key);
                let _ = poll.registry().deregister(&mut c.stream);
                continue;
            }
            // Ask for WRITABLE only while output is pending.
            let need_write = c.unsent() > 0;
            if need_write != c.want_write {
                let interest = if need_write {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                if poll
                    .registry()
                    .reregister(&mut c.stream, ev.token(), interest)
                    .is_err()
                {
                    let mut c = conns.remove(key);
                    let _ = poll.registry().deregister(&mut c.stream);
                    continue;
                }
                c.want_write = need_write;
            }
        }
    }
}

fn accept_all(
    poll: &Poll,
    listener: &mut TcpListener,
    conns: &mut Slab<Conn>,
    retry_accept: &mut bool,
    last_err_log: &mut Option<Instant>,
) {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nodelay(true);
                let entry = conns.vacant_entry();
                if poll
                    .registry()
                    .register(&mut stream, Token(entry.key()), Interest::READABLE)
                    .is_err()
                {
                    continue;
                }
                entry.insert(Conn {
                    stream,
                    pending: Vec::new(),
                    pos: 0,
                    want_write: false,
                    paused: false,
                    read_closed: false,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                if last_err_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    eprintln!("mio_echo: accept: {e}");
                    *last_err_log = Some(Instant::now());
                }
                *retry_accept = true;
                return;
            }
        }
    }
}
