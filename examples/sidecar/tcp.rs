//! TCP mode: every downstream connection is paired with a pooled upstream connection and bytes
//! are copied both ways, with back-pressure and half-close.
//!
//! * **No connect on the request path**: the pool is pre-warmed to its full size, so a new
//!   client normally gets an idle connection at once; only a burst beyond the pool waits (up to
//!   `--checkout-timeout`, then the client is closed).
//! * **Back-pressure**: bytes read from one side are queued on the other side's [`Link`]; when
//!   that queue is over `--high-water`, reading from the first side pauses (its recv is
//!   cancelled) until the queue has drained to a quarter of the mark. A slow reader therefore
//!   slows its writer down to its own pace, and memory per pair stays near two high-water marks.
//! * **Half-close**: end-of-file from one side is forwarded as `shutdown(SHUT_WR)` to the other
//!   once everything read before it has been written, and the other direction keeps flowing. A
//!   client that sends a request and half-closes still gets the whole answer; a server that
//!   closes after answering still gets everything the client sent. The pair is closed when both
//!   directions have ended, or at once when either socket fails (reset, broken pipe). A pair
//!   whose one side half-closed stays open while the other keeps it open (that is what TCP
//!   allows); a client that fully closed makes the next byte sent to it fail, which closes the
//!   pair.
//! * **Used upstreams are not reused**: after a pair, the upstream stream's state (half-read
//!   replies, a `SELECT`, a subscription...) belongs to that client, so the connection is marked
//!   dirty and closed by the pool, which opens a fresh one to stay warm.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::{Rc, Weak};
use std::time::Instant;

use bytes::Bytes;
use ringloop::net::Batch;
use ringloop::op::{self, AcceptMulti};
use ringloop::patterns::pool::{Pool, PoolError, PooledConn};
use ringloop::{EventLoop, OpId, PooledBuf};
use slab::Slab;
use socket2::Socket;

use crate::config::Config;
use crate::health::Health;
use crate::link::{Link, Recv};
use crate::stats::Counters;

/// Which socket of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Down,
    Up,
}

/// A pair's slab key plus a serial, so a late completion never reaches a newer pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PairId {
    key: usize,
    serial: u64,
}

/// One client and its upstream connection.
struct Pair {
    serial: u64,
    down_fd: Option<OwnedFd>,
    down: Link,
    /// The upstream connection, once checked out.
    up: Option<(PooledConn, Link)>,
    /// End-of-file seen from the client / from the upstream.
    down_eof: bool,
    up_eof: bool,
    /// Being torn down: waiting for our ops on both sockets to end.
    closing: bool,
}

impl Pair {
    fn link(&mut self, side: Side) -> Option<&mut Link> {
        match side {
            Side::Down => Some(&mut self.down),
            Side::Up => self.up.as_mut().map(|(_, l)| l),
        }
    }

    /// End-of-file was read from `side`.
    fn eof(&self, side: Side) -> bool {
        match side {
            Side::Down => self.down_eof,
            Side::Up => self.up_eof,
        }
    }

    /// Both directions ended and everything was written.
    fn finished(&self) -> bool {
        let up_idle = self.up.as_ref().is_none_or(|(_, l)| l.outbox.is_idle());
        self.down_eof && self.up_eof && up_idle && self.down.outbox.is_idle()
    }

    fn quiet(&self) -> bool {
        self.down.is_quiet() && self.up.as_ref().is_none_or(|(_, l)| l.is_quiet())
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Down => Side::Up,
        Side::Up => Side::Down,
    }
}

struct Inner {
    cfg: Rc<Config>,
    pool: Pool,
    health: Health,
    counters: Counters,
    pairs: Slab<Pair>,
    next_serial: u64,
    listener: Option<Socket>,
    accept_op: Option<OpId>,
    draining: bool,
}

/// The TCP-mode proxy (a cheap handle: clones share the state).
#[derive(Clone)]
pub struct Tcp {
    inner: Rc<RefCell<Inner>>,
}

impl Tcp {
    /// Starts accepting on `listener`, pairing clients with connections from `pool`.
    pub fn start(lp: &mut EventLoop, listener: Socket, pool: Pool, cfg: Rc<Config>) -> Tcp {
        let health = Health::new(cfg.down_after, cfg.down_retry);
        let tcp = Tcp {
            inner: Rc::new(RefCell::new(Inner {
                cfg,
                pool,
                health,
                counters: Counters::default(),
                pairs: Slab::new(),
                next_serial: 1,
                listener: Some(listener),
                accept_op: None,
                draining: false,
            })),
        };
        tcp.accept(lp);
        tcp
    }

    fn weak(&self) -> Weak<RefCell<Inner>> {
        Rc::downgrade(&self.inner)
    }

    fn from_weak(weak: &Weak<RefCell<Inner>>) -> Option<Tcp> {
        weak.upgrade().map(|inner| Tcp { inner })
    }

    fn accept(&self, lp: &mut EventLoop) {
        let Some(fd) = self.inner.borrow().listener.as_ref().map(|l| l.as_raw_fd()) else {
            return;
        };
        let weak = self.weak();
        let op = lp.submit_multi_with(AcceptMulti::new(fd), move |lp, accepted| {
            let Some(tcp) = Tcp::from_weak(&weak) else {
                return;
            };
            match accepted {
                Ok(fd) => tcp.on_accept(lp, fd),
                Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => {}
                Err(e) => {
                    // EMFILE and the like end the stream: retry shortly rather than stop serving.
                    log::warn!("accept failed: {e}; retrying in 100 ms");
                    tcp.inner.borrow_mut().accept_op = None;
                    lp.timer(std::time::Duration::from_millis(100), move |lp| {
                        tcp.accept(lp)
                    });
                }
            }
        });
        self.inner.borrow_mut().accept_op = Some(op);
    }

    fn on_accept(&self, lp: &mut EventLoop, fd: OwnedFd) {
        let pid = {
            let mut inner = self.inner.borrow_mut();
            let inner = &mut *inner;
            let refuse = if inner.draining {
                Some("shutting down".to_string())
            } else if inner.pairs.len() >= inner.cfg.maxclients {
                Some("max number of clients reached".to_string())
            } else {
                inner.health.down(Instant::now())
            };
            if let Some(why) = refuse {
                log::debug!("refusing a client: {why}");
                if why.contains("upstream down") {
                    inner.counters.rejected_down += 1;
                }
                lp.submit_with(op::Close::new(fd), |_, _| {});
                return;
            }
            let _ = socket2::SockRef::from(&fd).set_tcp_nodelay(true);
            inner.counters.clients += 1;
            inner.counters.open += 1;
            let serial = inner.next_serial;
            inner.next_serial += 1;
            let down = Link::new(fd.as_raw_fd(), inner.cfg.high_water);
            let key = inner.pairs.insert(Pair {
                serial,
                down_fd: Some(fd),
                down,
                up: None,
                down_eof: false,
                up_eof: false,
                closing: false,
            });
            PairId { key, serial }
        };
        // The client is not read until it has an upstream: nothing would take its bytes.
        let pool = self.inner.borrow().pool.clone();
        let weak = self.weak();
        pool.checkout(lp, move |lp, res| {
            if let Some(tcp) = Tcp::from_weak(&weak) {
                tcp.on_checkout(lp, pid, res);
            }
        });
    }

    fn on_checkout(&self, lp: &mut EventLoop, pid: PairId, res: Result<PooledConn, PoolError>) {
        let paired = {
            let mut inner = self.inner.borrow_mut();
            let inner = &mut *inner;
            match res {
                Ok(conn) => {
                    inner.health.connected();
                    inner.counters.checkouts += 1;
                    match pair_mut(&mut inner.pairs, pid) {
                        Some(pair) => {
                            let up = Link::new(conn.fd(), inner.cfg.high_water);
                            pair.up = Some((conn, up));
                            true
                        }
                        None => {
                            // Gone meanwhile (shutdown): the connection was never used.
                            inner.pool.checkin(lp, conn);
                            return;
                        }
                    }
                }
                Err(e) => {
                    if inner.health.checkout_failed(&e, Instant::now()) {
                        log::warn!("upstream {} marked down: {e}", inner.cfg.upstream);
                    }
                    log::info!("no upstream connection for a client: {e}");
                    inner.counters.upstream_errors += 1;
                    false
                }
            }
        };
        if paired {
            self.start_recv(lp, pid, Side::Down);
            self.start_recv(lp, pid, Side::Up);
        } else {
            self.close_pair(lp, pid);
        }
    }

    fn start_recv(&self, lp: &mut EventLoop, pid: PairId, side: Side) {
        let weak = self.weak();
        let mut inner = self.inner.borrow_mut();
        let Some(link) = pair_mut(&mut inner.pairs, pid).and_then(|p| p.link(side)) else {
            return;
        };
        link.start_recv(lp, move |lp, item| {
            if let Some(tcp) = Tcp::from_weak(&weak) {
                tcp.on_recv(lp, pid, side, item);
            }
        });
    }

    fn flush(&self, lp: &mut EventLoop, pid: PairId, side: Side) {
        let weak = self.weak();
        let mut inner = self.inner.borrow_mut();
        // A closing pair's client fd may already be closed (and its number reused): send nothing.
        let Some(link) = pair_mut(&mut inner.pairs, pid)
            .filter(|p| !p.closing)
            .and_then(|p| p.link(side))
        else {
            return;
        };
        link.flush(lp, move |lp, res, batch| {
            if let Some(tcp) = Tcp::from_weak(&weak) {
                tcp.on_sent(lp, pid, side, res, batch);
            }
        });
    }

    fn on_recv(
        &self,
        lp: &mut EventLoop,
        pid: PairId,
        side: Side,
        item: io::Result<Option<PooledBuf>>,
    ) {
        enum Next {
            Nothing,
            Forward,
            Resume,
            Close,
            Settle,
        }
        let next = {
            let mut inner = self.inner.borrow_mut();
            let inner = &mut *inner;
            let Some(pair) = pair_mut(&mut inner.pairs, pid) else {
                return;
            };
            let Some(link) = pair.link(side) else {
                return;
            };
            let what = link.on_recv(item);
            if pair.closing {
                // Draining our ops before the sockets go: data now has nowhere to go.
                Next::Settle
            } else {
                match what {
                    Recv::Data(buf) => {
                        let n = buf.len() as u64;
                        match side {
                            Side::Down => inner.counters.bytes_up += n,
                            Side::Up => inner.counters.bytes_down += n,
                        }
                        let data = Bytes::copy_from_slice(&buf);
                        drop(buf); // back to the loop's buffer pool at once
                        let over = match pair.link(other(side)) {
                            Some(to) => {
                                to.queue(data);
                                to.outbox.over_high_water()
                            }
                            None => false,
                        };
                        if over {
                            if let Some(from) = pair.link(side) {
                                from.pause(lp);
                            }
                        }
                        Next::Forward
                    }
                    Recv::Eof => {
                        log::debug!("pair {}: end of stream from {side:?}", pid.serial);
                        match side {
                            Side::Down => pair.down_eof = true,
                            Side::Up => pair.up_eof = true,
                        }
                        // Forward the EOF once what was read before it is written.
                        if let Some(to) = pair.link(other(side)) {
                            if to.outbox.is_idle() {
                                to.shutdown_write();
                            }
                        }
                        if pair.finished() {
                            Next::Close
                        } else {
                            Next::Nothing
                        }
                    }
                    Recv::Paused { resume: true } => Next::Resume,
                    Recv::Paused { resume: false } | Recv::Stopped => Next::Nothing,
                    Recv::Error(e) => {
                        log::debug!("pair {}: {side:?} recv failed: {e}", pid.serial);
                        Next::Close
                    }
                }
            }
        };
        match next {
            Next::Nothing => {}
            Next::Forward => self.flush(lp, pid, other(side)),
            Next::Resume => self.start_recv(lp, pid, side),
            Next::Close => self.close_pair(lp, pid),
            Next::Settle => self.settle(lp, pid),
        }
    }

    fn on_sent(
        &self,
        lp: &mut EventLoop,
        pid: PairId,
        side: Side,
        res: io::Result<usize>,
        batch: Batch,
    ) {
        let (resume_other, close) = {
            let mut inner = self.inner.borrow_mut();
            let Some(pair) = pair_mut(&mut inner.pairs, pid) else {
                return;
            };
            let closing = pair.closing;
            let Some(link) = pair.link(side) else {
                return;
            };
            match link.on_sent(res, batch) {
                _ if closing => (false, false),
                Ok(drained) => {
                    // The EOF read from the other side is forwarded once its bytes are out.
                    let idle = link.outbox.is_idle();
                    let source_eof = pair.eof(other(side));
                    if idle && source_eof {
                        if let Some(link) = pair.link(side) {
                            link.shutdown_write();
                        }
                    }
                    let resume = drained
                        && pair
                            .link(other(side))
                            .map(|from| from.drained())
                            .unwrap_or(false);
                    (resume, pair.finished())
                }
                Err(e) => {
                    log::debug!("pair {}: {side:?} send failed: {e}", pid.serial);
                    (false, true)
                }
            }
        };
        if close {
            return self.close_pair(lp, pid);
        }
        if resume_other {
            self.start_recv(lp, pid, other(side));
        }
        self.flush(lp, pid, side);
        self.settle(lp, pid);
    }

    /// Tears a pair down: closes the client socket (which cancels our ops on it), ends both
    /// directions of the upstream socket so its ops end, then waits in [`Tcp::settle`].
    fn close_pair(&self, lp: &mut EventLoop, pid: PairId) {
        {
            let mut inner = self.inner.borrow_mut();
            let Some(pair) = pair_mut(&mut inner.pairs, pid) else {
                return;
            };
            if !pair.closing {
                pair.closing = true;
                pair.down.stop(lp);
                if let Some(fd) = pair.down_fd.take() {
                    lp.submit_with(op::Close::new(fd), |_, _| {});
                }
                if let Some((_, up)) = pair.up.as_mut() {
                    up.abort(lp);
                }
            }
        }
        self.settle(lp, pid);
    }

    /// Once a closing pair has no op of ours left, returns its upstream connection (dirty: its
    /// stream state belonged to this client) and forgets the pair.
    fn settle(&self, lp: &mut EventLoop, pid: PairId) {
        let mut inner = self.inner.borrow_mut();
        let inner = &mut *inner;
        let Some(pair) = pair_mut(&mut inner.pairs, pid) else {
            return;
        };
        if !pair.closing || !pair.quiet() {
            return;
        }
        let pair = inner.pairs.remove(pid.key);
        inner.counters.open = inner.counters.open.saturating_sub(1);
        if let Some((mut conn, _)) = pair.up {
            conn.mark_dirty();
            inner.pool.checkin(lp, conn);
        }
    }

    /// Graceful drain: stop accepting; open pairs go on until they end by themselves.
    pub fn drain(&self, lp: &mut EventLoop) {
        let (op, listener) = {
            let mut inner = self.inner.borrow_mut();
            inner.draining = true;
            (inner.accept_op.take(), inner.listener.take())
        };
        if let Some(op) = op {
            lp.cancel(op);
        }
        if let Some(listener) = listener {
            lp.submit_with(op::Close::new(OwnedFd::from(listener)), |_, _| {});
        }
    }

    /// The grace period is over: closes every pair still open.
    pub fn close_all(&self, lp: &mut EventLoop) {
        let ids: Vec<PairId> = self
            .inner
            .borrow()
            .pairs
            .iter()
            .map(|(key, p)| PairId {
                key,
                serial: p.serial,
            })
            .collect();
        for pid in ids {
            self.close_pair(lp, pid);
        }
    }

    /// Pairs not yet fully closed.
    pub fn open(&self) -> usize {
        self.inner.borrow().pairs.len()
    }

    /// The stats line.
    pub fn report(&self) -> String {
        let inner = self.inner.borrow();
        let ups = inner.pairs.iter().filter(|(_, p)| p.up.is_some()).count();
        inner
            .counters
            .line("tcp", 0, ups, 0, inner.health.is_down(Instant::now()))
    }
}

fn pair_mut(pairs: &mut Slab<Pair>, pid: PairId) -> Option<&mut Pair> {
    pairs.get_mut(pid.key).filter(|p| p.serial == pid.serial)
}
