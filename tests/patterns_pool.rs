//! The connection pool (`ringloop::patterns::pool`) against real loopback upstreams, on both
//! backends: pre-warm, reuse, limits and FCFS waiters, timeouts, queue bound, connect failures
//! and backoff, upstream restarts, retirement (dirty, broken, lifetime, idle timeout, health
//! check), idle order, the three checkout styles, drop and close.
//!
//! The upstream is a std `TcpListener` polled without blocking by the test between loop turns
//! (the kernel completes handshakes into its accept queue by itself), and every wait is a
//! bounded number of turns against a deadline, so a failure is an assertion, never a hang.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{closed_port, new_loop};
use ringloop::patterns::pool::{IdleOrder, Pool, PoolConfig, PoolError, PooledConn};
use ringloop::{op, Backend, EventLoop};

const MS: Duration = Duration::from_millis(1);
/// How long any condition may take before the test fails (generous for slow CI).
const PATIENCE: Duration = Duration::from_secs(5);

/// A loopback upstream whose connections the test accepts by polling.
struct Upstream {
    listener: TcpListener,
    addr: SocketAddr,
    conns: Vec<TcpStream>,
}

impl Upstream {
    fn new() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        Upstream {
            listener,
            addr,
            conns: Vec::new(),
        }
    }

    /// Accepts whatever is queued; returns how many connections were accepted in total.
    fn accept(&mut self) -> usize {
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(true).unwrap();
                    self.conns.push(s);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return self.conns.len(),
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    /// How many accepted connections the pool has closed (read returns EOF).
    fn closed_by_pool(&mut self) -> usize {
        let mut n = 0;
        for s in &mut self.conns {
            let mut b = [0u8; 16];
            match s.read(&mut b) {
                Ok(0) => n += 1,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => n += 1,
                _ => {}
            }
        }
        n
    }
}

/// Turns the loop until `cond` holds; false if it did not within `PATIENCE`.
fn turn_until(lp: &mut EventLoop, mut cond: impl FnMut(&mut EventLoop) -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if cond(lp) {
            return true;
        }
        lp.run_once(Some(2 * MS)).unwrap();
    }
    cond(lp)
}

/// Turns the loop for `d`.
fn turn_for(lp: &mut EventLoop, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        lp.run_once(Some(MS)).unwrap();
    }
}

fn config(addr: SocketAddr) -> PoolConfig {
    let mut c = PoolConfig::new(addr);
    c.checkout_timeout = Duration::from_secs(2);
    c.connect_timeout = Duration::from_secs(2);
    c.backoff_base = 5 * MS;
    c.backoff_max = 50 * MS;
    c
}

/// A callback checkout whose outcome lands in the returned cell.
type Got = Rc<RefCell<Option<Result<PooledConn, PoolError>>>>;
fn checkout_into(pool: &Pool, lp: &mut EventLoop) -> Got {
    let got: Got = Rc::default();
    let g = got.clone();
    pool.checkout(lp, move |_, r| *g.borrow_mut() = Some(r));
    got
}

fn take(lp: &mut EventLoop, got: &Got) -> Result<PooledConn, PoolError> {
    assert!(turn_until(lp, |_| got.borrow().is_some()), "no answer");
    got.borrow_mut().take().unwrap()
}

fn prewarm_opens_min_idle_before_any_checkout(backend: Backend) {
    let mut lp = new_loop(backend);
    let mut up = Upstream::new();
    let mut c = config(up.addr);
    c.min_idle = 3;
    let pool = Pool::new(&mut lp, c);
    assert!(turn_until(&mut lp, |_| up.accept() == 3 && pool.stats().idle == 3));
    let s = pool.stats();
    assert_eq!(
        (s.created, s.checkouts, s.connecting, s.in_use),
        (3, 0, 0, 0)
    );
    turn_for(&mut lp, 20 * MS);
    assert_eq!(up.accept(), 3, "no more than min_idle");
    pool.close(&mut lp);
}

fn a_returned_connection_is_reused(backend: Backend) {
    let mut lp = new_loop(backend);
    let mut up = Upstream::new();
    let pool = Pool::new(&mut lp, config(up.addr));
    let a = pool.checkout_blocking(&mut lp).unwrap();
    let (id, fd) = (a.id(), a.fd());
    assert_eq!(a.uses(), 1);
    assert!(a.created_at() <= Instant::now());
    pool.checkin(&mut lp, a);
    let b = pool.checkout_blocking(&mut lp).unwrap();
    assert_eq!((b.id(), b.fd(), b.uses()), (id, fd, 2));
    assert_eq!(up.accept(), 1);
    let s = pool.stats();
    assert_eq!((s.created, s.checkouts, s.in_use, s.idle), (1, 2, 1, 0));
    pool.checkin(&mut lp, b);
    pool.close(&mut lp);
}

fn max_size_queues_waiters_first_come_first_served(backend: Backend) {
    let mut lp = new_loop(backend);
    let mut up = Upstream::new();
    let mut c = config(up.addr);
    c.max_size = 1;
    let pool = Pool::new(&mut lp, c);
    let first = pool.checkout_blocking(&mut lp).unwrap();
    let order: Rc<RefCell<Vec<(u32, u64)>>> = Rc::default();
    for n in 1..=3 {
        let (order, p) = (order.clone(), pool.clone());
        pool.checkout(&mut lp, move |lp, r| {
            let conn = r.expect("served");
            order.borrow_mut().push((n, conn.id()));
            p.checkin(lp, conn); // hands it to the next waiter
        });
    }
    turn_for(&mut lp, 20 * MS);
    assert!(
        order.borrow().is_empty(),
        "all wait while the one connection is out"
    );
    assert_eq!(pool.stats().waiting, 3);
    let id = first.id();
    pool.checkin(&mut lp, first);
    assert!(turn_until(&mut lp, |_| order.borrow().len() == 3));
    assert_eq!(*order.borrow(), [(1, id), (2, id), (3, id)]);
    assert_eq!(up.accept(), 1, "never more than max_size");
    let s = pool.stats();
    assert_eq!((s.waits, s.checkouts, s.waiting), (4, 4, 0));
    assert!(s.wait_time_us_max >= 10_000, "{s:?}");
    assert!(s.wait_time_us_p50 <= s.wait_time_us_p99 && s.wait_time_us_p99 <= s.wait_time_us_max);
    pool.close(&mut lp);
}

fn checkout_times_out(backend: Backend) {
    let mut lp = new_loop(backend);
    let up = Upstream::new();
    let mut c = config(up.addr);
    c.max_size = 1;
    c.checkout_timeout = 30 * MS;
    let pool = Pool::new(&mut lp, c);
    let held = pool.checkout_blocking(&mut lp).unwrap();
    let start = Instant::now();
    let r = pool.checkout_blocking(&mut lp);
    assert!(matches!(r, Err(PoolError::Timeout)), "{r:?}");
    assert!(start.elapsed() >= 30 * MS);
    assert!(start.elapsed() < PATIENCE);
    let s = pool.stats();
    assert_eq!((s.timeouts, s.waiting), (1, 0));
    pool.checkin(&mut lp, held);
    pool.close(&mut lp);
}

fn a_full_queue_refuses_at_once(backend: Backend) {
    let mut lp = new_loop(backend);
    let up = Upstream::new();
    let mut c = config(up.addr);
    c.max_size = 1;
    c.max_waiters = 2;
    let pool = Pool::new(&mut lp, c);
    let held = pool.checkout_blocking(&mut lp).unwrap();
    let t1 = pool.checkout_ticket(&mut lp);
    let t2 = pool.checkout_ticket(&mut lp);
    let t3 = pool.checkout_ticket(&mut lp);
    assert!(t3.is_done(), "refused without waiting");
    assert!(matches!(t3.poll(), Some(Err(PoolError::QueueFull))));
    assert!(t3.poll().is_none(), "an outcome is given once");
    // The callback style gets the same, from the loop.
    let got = checkout_into(&pool, &mut lp);
    assert!(got.borrow().is_none(), "never inside checkout");
    assert!(matches!(take(&mut lp, &got), Err(PoolError::QueueFull)));
    assert!(!t1.is_done() && !t2.is_done());
    assert_eq!(pool.stats().queue_full, 2);
    pool.checkin(&mut lp, held);
    assert!(turn_until(&mut lp, |_| t1.is_done()));
    assert!(t1.poll().unwrap().is_ok());
    pool.close(&mut lp);
}

fn a_refused_connect_is_reported_as_such(backend: Backend) {
    let mut lp = new_loop(backend);
    let mut c = config(closed_port());
    c.backoff_base = 200 * MS;
    c.backoff_max = 200 * MS;
    let pool = Pool::new(&mut lp, c);
    let start = Instant::now();
    match pool.checkout_blocking(&mut lp) {
        Err(PoolError::Connect(e)) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused),
        other => panic!("{other:?}"),
    }
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "not left to time out"
    );
    // While backing off, a checkout fails at once with the same error.
    let t = pool.checkout_ticket(&mut lp);
    assert!(t.is_done());
    match t.poll() {
        Some(Err(PoolError::Connect(e))) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused),
        other => panic!("{other:?}"),
    }
    let s = pool.stats();
    assert_eq!((s.connect_failures, s.timeouts, s.created), (1, 0, 0));
    pool.close(&mut lp);
}

/// A listener with a backlog of 0 whose queue is already full: the kernel drops further SYNs, so
/// a connect to it hangs (the loopback way to model a blackholed address).
fn blackhole() -> (socket2::Socket, TcpStream, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let filler = TcpStream::connect(addr).unwrap();
    (l, filler, addr)
}

fn a_connect_that_hangs_times_out_and_is_cancelled(backend: Backend) {
    let mut lp = new_loop(backend);
    let (_l, _filler, addr) = blackhole();
    let mut c = config(addr);
    c.connect_timeout = 40 * MS;
    let pool = Pool::new(&mut lp, c);
    let start = Instant::now();
    let r = pool.checkout_blocking(&mut lp);
    assert!(matches!(r, Err(PoolError::ConnectTimeout)), "{r:?}");
    assert!(start.elapsed() >= 40 * MS && start.elapsed() < Duration::from_secs(1));
    let s = pool.stats();
    assert_eq!((s.connect_failures, s.connecting, s.timeouts), (1, 0, 0));
    pool.close(&mut lp);
    // The cancelled connect has left the loop: nothing is left in flight.
    assert!(turn_until(&mut lp, |lp| !lp.has_work()));
}

fn reconnect_backoff_grows_and_is_capped(backend: Backend) {
    let mut lp = new_loop(backend);
    let mut c = config(closed_port());
    c.min_idle = 1; // keeps the pool trying on its own
    c.backoff_base = 10 * MS;
    c.backoff_max = 40 * MS;
    let pool = Pool::new(&mut lp, c);
    let mut seen = Vec::new();
    let mut last = 0;
    let end = Instant::now() + Duration::from_millis(300);
    while Instant::now() < end {
        lp.run_once(Some(MS)).unwrap();
        let n = pool.stats().connect_failures;
        if n != last {
            last = n;
            seen.push(Instant::now());
        }
    }
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.len() >= 4, "{gaps:?}");
    assert!(gaps[0] >= 9 * MS, "{gaps:?}");
    assert!(gaps[1] >= 19 * MS, "{gaps:?}");
    assert!(gaps[2] >= 38 * MS, "{gaps:?}");
    // Capped: later gaps do not keep doubling (80 ms would be the next step uncapped).
    assert!(gaps[3] >= 38 * MS && gaps[3] < 75 * MS, "{gaps:?}");
    pool.close(&mut lp);
}

fn an_upstream_restart_is_detected_and_healed(backend: Backend) {
    let mut lp = new_loop(backend);
    let mut up = Upstream::new();
    let addr = up.addr;
    let mut c = config(addr);
    c.min_idle = 2;
    c.idle_timeout = Some(40 * MS); // sweeps every 10 ms
    let pool = Pool::new(&mut lp, c);
    assert!(turn_until(&mut lp, |_| up.accept() == 2 && pool.stats().idle == 2));
    let user = pool.checkout_blocking(&mut lp).unwrap();
    assert!(
        turn_until(&mut lp, |_| up.accept() == 3),
        "min_idle refilled"
    );
    // The upstream goes away: every connection closed, nobody listening.
    drop(up);
    // The user in flight gets EOF, not a hang.
    let t = lp.submit(op::Recv::new(user.fd(), BytesMut::with_capacity(16)));
    let (res, _) = lp.wait(t).unwrap();
    assert_eq!(res.unwrap(), 0);
    let mut user = user;
    user.mark_broken();
    pool.checkin(&mut lp, user);
    // The idle ones are found closed by the sweep; refills are refused meanwhile.
    assert!(turn_until(&mut lp, |_| {
        let s = pool.stats();
        s.idle == 0 && s.closed_broken == 3 && s.connect_failures > 0
    }));
    match pool.checkout_blocking(&mut lp) {
        Err(PoolError::Connect(e)) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused),
        other => panic!("{other:?}"),
    }
    // It comes back on the same port: the pool refills after its backoff.
    let mut up = Upstream {
        listener: TcpListener::bind(addr).unwrap(),
        addr,
        conns: Vec::new(),
    };
    up.listener.set_nonblocking(true).unwrap();
    assert!(turn_until(&mut lp, |_| pool.stats().idle == 2 && up.accept() == 2));
    assert!(pool.checkout_blocking(&mut lp).is_ok());
    pool.close(&mut lp);
}

fn unsolicited_bytes_retire_an_idle_connection(backend: Backend) {
    let mut lp = new_loop(backend);
    let mut up = Upstream::new();
    let pool = Pool::new(&mut lp, config(up.addr));
    let a = pool.checkout_blocking(&mut lp).unwrap();
    let id = a.id();
    pool.checkin(&mut lp, a);
    assert_eq!(up.accept(), 1);
    up.conns[0].write_all(b"-ERR late\r\n").unwrap();
    std::thread::sleep(10 * MS);
    let b = pool.checkout_blocking(&mut lp).unwrap();
    assert_ne!(
        b.id(),
        id,
        "a connection with unread bytes is not handed out"
    );
    assert_eq!(pool.stats().closed_broken, 1);
    pool.close(&mut lp);
}

fn a_dirty_return_is_closed(backend: Backend) {
    let mut lp = new_loop(backend);
    let mut up = Upstream::new();
    let pool = Pool::new(&mut lp, config(up.addr));
    let mut a = pool.checkout_blocking(&mut lp).unwrap();
    let id = a.id();
    a.mark_dirty();
    pool.checkin(&mut lp, a);
    let s = pool.stats();
    assert_eq!((s.closed_dirty, s.idle, s.in_use), (1, 0, 0));
    let b = pool.checkout_blocking(&mut lp).unwrap();
    assert_ne!(b.id(), id);
    assert!(turn_until(&mut lp, |_| {
        up.accept();
        up.closed_by_pool() == 1
    }));
    pool.close(&mut lp);
}

fn a_broken_return_is_closed(backend: Backend) {
    let mut lp = new_loop(backend);
    let up = Upstream::new();
    let pool = Pool::new(&mut lp, config(up.addr));
    let mut a = pool.checkout_blocking(&mut lp).unwrap();
    let id = a.id();
    a.mark_broken();
    pool.checkin(&mut lp, a);
    assert_eq!(pool.stats().closed_broken, 1);
    assert_ne!(pool.checkout_blocking(&mut lp).unwrap().id(), id);
    pool.close(&mut lp);
}

fn connections_past_their_lifetime_are_retired(backend: Backend) {
    let mut lp = new_loop(backend);
    let up = Upstream::new();
    let mut c = config(up.addr);
    c.max_lifetime = Some(30 * MS);
    c.lifetime_jitter = 10 * MS;
    let pool = Pool::new(&mut lp, c);
    // On return.
    let a = pool.checkout_blocking(&mut lp).unwrap();
    turn_for(&mut lp, 40 * MS);
    pool.checkin(&mut lp, a);
    assert_eq!(pool.stats().closed_lifetime, 1);
    // While idle, by the sweep.
    let b = pool.checkout_blocking(&mut lp).unwrap();
    pool.checkin(&mut lp, b);
    assert_eq!(pool.stats().idle, 1);
    assert!(turn_until(&mut lp, |_| pool.stats().closed_lifetime == 2));
    assert_eq!(pool.stats().idle, 0);
    pool.close(&mut lp);
}

fn the_idle_timeout_stops_at_min_idle(backend: Backend) {
    let mut lp = new_loop(backend);
    let up = Upstream::new();
    let mut c = config(up.addr);
    c.min_idle = 1;
    c.idle_timeout = Some(30 * MS);
    let pool = Pool::new(&mut lp, c);
    let conns: Vec<_> = (0..3)
        .map(|_| pool.checkout_blocking(&mut lp).unwrap())
        .collect();
    for conn in conns {
        pool.checkin(&mut lp, conn);
    }
    // Three returned, plus the one min_idle refilled while all three were out.
    assert!(turn_until(&mut lp, |_| pool.stats().idle == 4));
    assert!(turn_until(&mut lp, |_| pool.stats().closed_idle_timeout == 3));
    turn_for(&mut lp, 60 * MS);
    let s = pool.stats();
    assert_eq!(
        (s.idle, s.closed_idle_timeout),
        (1, 3),
        "never below min_idle"
    );
    pool.close(&mut lp);
}

fn a_failing_health_check_retires_the_connection(backend: Backend) {
    let mut lp = new_loop(backend);
    let up = Upstream::new();
    let mut c = config(up.addr);
    c.health_check_after = Some(10 * MS);
    let pool = Pool::new(&mut lp, c);
    let checked: Rc<RefCell<Vec<u64>>> = Rc::default();
    let log = checked.clone();
    // Unhealthy: connection 1. Healthy, after a delay (as a PING would take): the others.
    pool.set_health_check(move |lp, conn, done| {
        log.borrow_mut().push(conn.id());
        if conn.id() == 1 {
            done.done(lp, conn, false);
        } else {
            lp.timer(5 * MS, move |lp| done.done(lp, conn, true));
        }
    });
    let a = pool.checkout_blocking(&mut lp).unwrap();
    assert_eq!(a.id(), 1);
    pool.checkin(&mut lp, a);
    let fresh = pool.checkout_blocking(&mut lp).unwrap();
    assert_eq!(fresh.id(), 1, "not idle long enough to be checked");
    pool.checkin(&mut lp, fresh);
    turn_for(&mut lp, 20 * MS);
    let b = pool.checkout_blocking(&mut lp).unwrap();
    assert_eq!(b.id(), 2, "the unhealthy one is replaced");
    assert_eq!(pool.stats().closed_health, 1);
    pool.checkin(&mut lp, b);
    turn_for(&mut lp, 20 * MS);
    let c2 = pool.checkout_blocking(&mut lp).unwrap();
    assert_eq!(c2.id(), 2, "a healthy one is handed out after its check");
    assert_eq!(*checked.borrow(), [1, 2]);
    assert_eq!(pool.stats().closed_health, 1);
    pool.close(&mut lp);
}

fn idle_order_lifo_and_fifo(backend: Backend) {
    for (order, expect_last) in [(IdleOrder::Lifo, true), (IdleOrder::Fifo, false)] {
        let mut lp = new_loop(backend);
        let up = Upstream::new();
        let mut c = config(up.addr);
        c.order = order;
        let pool = Pool::new(&mut lp, c);
        let conns: Vec<_> = (0..3)
            .map(|_| pool.checkout_blocking(&mut lp).unwrap())
            .collect();
        let ids: Vec<u64> = conns.iter().map(|c| c.id()).collect();
        for conn in conns {
            pool.checkin(&mut lp, conn);
        }
        let got = pool.checkout_blocking(&mut lp).unwrap().id();
        let want = if expect_last { ids[2] } else { ids[0] };
        assert_eq!(got, want, "{order:?}");
        pool.close(&mut lp);
    }
}

fn three_checkout_styles_and_no_reentrant_callback(backend: Backend) {
    let mut lp = new_loop(backend);
    let up = Upstream::new();
    let mut c = config(up.addr);
    c.min_idle = 1;
    let pool = Pool::new(&mut lp, c);
    assert!(turn_until(&mut lp, |_| pool.stats().idle == 1));
    // Callback, with a connection ready: still delivered from the loop.
    let inside = Rc::new(Cell::new(true));
    let got: Got = Rc::default();
    let (i, g) = (inside.clone(), got.clone());
    pool.checkout(&mut lp, move |_, r| {
        assert!(!i.get(), "callback ran inside checkout");
        *g.borrow_mut() = Some(r);
    });
    inside.set(false);
    let a = take(&mut lp, &got).unwrap();
    // Ticket.
    let t = pool.checkout_ticket(&mut lp);
    assert!(!t.is_done());
    assert!(turn_until(&mut lp, |_| t.is_done()));
    let b = t.poll().unwrap().unwrap();
    assert!(t.poll().is_none());
    // Blocking.
    let c3 = pool.checkout_blocking(&mut lp).unwrap();
    let ids = [a.id(), b.id(), c3.id()];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    assert_eq!(pool.stats().in_use, 3);
    for conn in [a, b, c3] {
        pool.checkin(&mut lp, conn);
    }
    assert_eq!(pool.stats().in_use, 0);
    pool.close(&mut lp);
}

fn an_abandoned_ticket_releases_its_connection(backend: Backend) {
    let mut lp = new_loop(backend);
    let up = Upstream::new();
    let mut c = config(up.addr);
    c.max_size = 1;
    let pool = Pool::new(&mut lp, c);
    let held = pool.checkout_blocking(&mut lp).unwrap();
    drop(pool.checkout_ticket(&mut lp));
    let t = pool.checkout_ticket(&mut lp);
    pool.checkin(&mut lp, held);
    assert!(turn_until(&mut lp, |_| t.is_done()));
    assert!(t.poll().unwrap().is_ok());
    pool.close(&mut lp);
}

fn dropping_a_connection_frees_its_slot(backend: Backend) {
    let mut lp = new_loop(backend);
    let mut up = Upstream::new();
    let mut c = config(up.addr);
    c.max_size = 1;
    let pool = Pool::new(&mut lp, c);
    let held = pool.checkout_blocking(&mut lp).unwrap();
    let got = checkout_into(&pool, &mut lp);
    turn_for(&mut lp, 10 * MS);
    assert!(got.borrow().is_none());
    let start = Instant::now();
    drop(held);
    let b = take(&mut lp, &got).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "served at once, not at a sweep"
    );
    assert_eq!(b.id(), 2);
    let s = pool.stats();
    assert_eq!((s.closed_dropped, s.in_use, s.created), (1, 1, 2));
    assert!(turn_until(&mut lp, |_| {
        up.accept();
        up.closed_by_pool() == 1
    }));
    pool.close(&mut lp);
}

fn close_answers_waiters_and_closes_everything(backend: Backend) {
    let mut lp = new_loop(backend);
    let mut up = Upstream::new();
    let mut c = config(up.addr);
    c.max_size = 2;
    c.min_idle = 1;
    let pool = Pool::new(&mut lp, c);
    let held = pool.checkout_blocking(&mut lp).unwrap();
    let held2 = pool.checkout_blocking(&mut lp).unwrap();
    pool.checkin(&mut lp, held2); // one idle
    let waiting = pool.checkout_ticket(&mut lp);
    let waiting2 = pool.checkout_ticket(&mut lp);
    assert!(turn_until(&mut lp, |_| waiting.is_done()));
    let w = waiting.poll().unwrap().unwrap();
    pool.checkin(&mut lp, w);
    assert!(!waiting2.is_done() || matches!(waiting2.poll(), Some(Ok(_))));
    pool.close(&mut lp);
    pool.close(&mut lp); // twice is fine
    assert!(turn_until(&mut lp, |_| waiting2.is_done()));
    let r = waiting2.poll();
    assert!(
        matches!(r, Some(Err(PoolError::Closed)) | Some(Ok(_))),
        "{r:?}"
    );
    assert!(matches!(
        pool.checkout_blocking(&mut lp),
        Err(PoolError::Closed)
    ));
    let got = checkout_into(&pool, &mut lp);
    assert!(matches!(take(&mut lp, &got), Err(PoolError::Closed)));
    pool.checkin(&mut lp, held); // closed on return
    assert_eq!(pool.stats().idle, 0);
    assert!(turn_until(&mut lp, |_| {
        up.accept();
        up.closed_by_pool() == up.conns.len()
    }));
    // The pool's timer and kick recv are gone: a `run()` would return.
    assert!(turn_until(&mut lp, |lp| !lp.has_work()));
}

fn a_waiter_gets_the_error_of_the_connect_made_for_it(backend: Backend) {
    let mut lp = new_loop(backend);
    let mut c = config(closed_port());
    c.backoff_base = 100 * MS;
    c.backoff_max = 100 * MS;
    let pool = Pool::new(&mut lp, c);
    let a = checkout_into(&pool, &mut lp);
    let b = checkout_into(&pool, &mut lp);
    for got in [a, b] {
        match take(&mut lp, &got) {
            Err(PoolError::Connect(e)) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(pool.stats().timeouts, 0);
    // After the backoff the pool tries again (and fails again, reported the same way).
    turn_for(&mut lp, 120 * MS);
    let r = pool.checkout_blocking(&mut lp);
    assert!(matches!(r, Err(PoolError::Connect(_))), "{r:?}");
    assert!(pool.stats().connect_failures >= 3);
    pool.close(&mut lp);
}

fn errors_display_and_config_roundtrips(backend: Backend) {
    let mut lp = new_loop(backend);
    let up = Upstream::new();
    let mut c = config(up.addr);
    c.max_size = 7;
    let pool = Pool::new(&mut lp, c);
    assert_eq!(pool.config().max_size, 7);
    assert_eq!(pool.config().addr, up.addr);
    let d = PoolConfig::new(up.addr);
    assert_eq!(
        (d.max_size, d.min_idle, d.max_waiters, d.order),
        (10, 0, 1024, IdleOrder::Lifo)
    );
    for e in [
        PoolError::Timeout,
        PoolError::QueueFull,
        PoolError::ConnectTimeout,
        PoolError::Closed,
        PoolError::Connect(std::io::Error::from(ErrorKind::ConnectionRefused)),
    ] {
        assert!(!e.to_string().is_empty());
    }
    let e: Box<dyn std::error::Error> = Box::new(PoolError::Connect(std::io::Error::from(
        ErrorKind::ConnectionRefused,
    )));
    assert!(e.source().is_some());
    pool.close(&mut lp);
}

both_backends!(
    prewarm_opens_min_idle_before_any_checkout,
    a_returned_connection_is_reused,
    max_size_queues_waiters_first_come_first_served,
    checkout_times_out,
    a_full_queue_refuses_at_once,
    a_refused_connect_is_reported_as_such,
    a_connect_that_hangs_times_out_and_is_cancelled,
    reconnect_backoff_grows_and_is_capped,
    an_upstream_restart_is_detected_and_healed,
    unsolicited_bytes_retire_an_idle_connection,
    a_dirty_return_is_closed,
    a_broken_return_is_closed,
    connections_past_their_lifetime_are_retired,
    the_idle_timeout_stops_at_min_idle,
    a_failing_health_check_retires_the_connection,
    idle_order_lifo_and_fifo,
    three_checkout_styles_and_no_reentrant_callback,
    an_abandoned_ticket_releases_its_connection,
    dropping_a_connection_frees_its_slot,
    close_answers_waiters_and_closes_everything,
    a_waiter_gets_the_error_of_the_connect_made_for_it,
    errors_display_and_config_roundtrips,
);
