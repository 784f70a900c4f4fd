//! A client-side connection pool on the loop: a program that talks to an upstream (a database,
//! a cache, a backend service) checks a connection out, uses it with the loop's ops, and checks
//! it back in for the next user.
//!
//! ```no_run
//! use ringloop::patterns::pool::{Pool, PoolConfig};
//! use ringloop::EventLoop;
//!
//! let mut lp = EventLoop::new()?;
//! let mut config = PoolConfig::new("127.0.0.1:6379".parse().unwrap());
//! config.min_idle = 2;
//! let pool = Pool::new(&mut lp, config);
//! let p = pool.clone();
//! pool.checkout(&mut lp, move |lp, conn| match conn {
//!     Ok(conn) => {
//!         // ... op::Send / op::Recv on conn.fd(), then:
//!         p.checkin(lp, conn);
//!     }
//!     Err(e) => eprintln!("no upstream connection: {e}"),
//! });
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Checkouts
//!
//! Three styles, like the loop's ops: [`Pool::checkout`] (callback), [`Pool::checkout_ticket`]
//! (polling) and [`Pool::checkout_blocking`] (turns the loop until served). Every checkout joins
//! one first-come first-served queue, bounded by `max_waiters` (beyond it: [`PoolError::QueueFull`]
//! at once) and limited in time by `checkout_timeout` ([`PoolError::Timeout`]). Even when an idle
//! connection is ready, the answer comes from the loop (the serve step runs from a zero-delay
//! timer), never from inside `checkout`: a callback never runs on its caller's stack, so the
//! caller may hold borrows across the call.
//!
//! ## Which connections get reused
//!
//! Before an idle connection is handed out it gets one `recv(MSG_PEEK | MSG_DONTWAIT)`: `EAGAIN`
//! is healthy, `0` means the peer closed it, data means unsolicited bytes (the next user would
//! read them as its reply), an error means reset; all but `EAGAIN` close it, and the checkout
//! tries the next. This is one syscall, needs no op in flight per idle connection, and behaves
//! the same on io_uring and epoll (a recv armed on every idle socket would cost a buffer and an
//! in-flight op each, and a cancel on every checkout). One periodic sweep per pool (one timer,
//! not one per connection) does the same peek on idle connections and applies the idle timeout
//! (never below `min_idle`) and the lifetime (`max_lifetime` minus a random part of
//! `lifetime_jitter`), so a restarted upstream's dead connections are replaced before anyone
//! asks. Connections idle longer than `health_check_after` also go through the user's check
//! ([`Pool::set_health_check`], e.g. a PING) before being handed out.
//!
//! On [`Pool::checkin`] a connection is closed instead of kept if the user marked it dirty
//! ([`PooledConn::mark_dirty`]: left mid-request) or broken ([`PooledConn::mark_broken`]), if it
//! outlived its lifetime, or if the peek finds it closed or with unread bytes. Dropping a
//! [`PooledConn`] closes it and frees its slot.
//!
//! ## When the upstream is down
//!
//! A failed connect (refused, unreachable, `connect_timeout`) starts a backoff: no connect for
//! `backoff_base * 2^(n-1)` after `n` consecutive failures, capped at `backoff_max`; one success
//! resets it. Failing fast is the choice made for waiters: when a connect fails, every waiter that
//! nothing else in progress (other connects, idle connections, health checks) will answer gets
//! that error at once, [`PoolError::Connect`] or [`PoolError::ConnectTimeout`]; and during the
//! backoff, a checkout that finds no idle connection and no connect in flight fails at once with
//! the last error. A waiter that times out while the pool is down gets the connect error too. So
//! a dead upstream is reported as such, quickly, and never as a checkout timeout; callers
//! decide whether to retry. When the backoff ends, the pool connects again if anything wants a
//! connection (a waiter, the `min_idle` deficit).
//!
//! ## Lifetime of the pool
//!
//! While open, a pool keeps its sweep timer and one recv (its kick, see `kick.rs`) on the loop,
//! so [`EventLoop::run`] does not return; [`Pool::close`] ends both. Callbacks on the loop hold
//! the pool, so dropping every [`Pool`] handle does not close it: call `close`.
//!
//! ## Files
//!
//! `config` ([`PoolConfig`]), `error` ([`PoolError`]), `conn` ([`PooledConn`]), `stats`
//! ([`PoolStats`]), `checkout` (the waiter queue, [`CheckoutTicket`]), `serve` (matching waiters
//! and connections), `connect` (connect with timeout, failures), `backoff`, `health` (the peek,
//! [`HealthDone`]), `sweep` (the periodic sweep), `kick` (destructors waking the pool), `state`.

mod backoff;
mod checkout;
mod config;
mod conn;
mod connect;
mod error;
mod health;
mod kick;
mod serve;
mod state;
mod stats;
mod sweep;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

pub use checkout::CheckoutTicket;
pub use config::{IdleOrder, PoolConfig};
pub use conn::PooledConn;
pub use error::PoolError;
pub use health::HealthDone;
pub use stats::PoolStats;

use crate::EventLoop;
use checkout::{Deliver, Outcome, Slot, Waiter};
use serve::{close_conn, retire_reason};
use state::{Idle, Inner, State};

/// The pool: a cheap cloneable handle (an `Rc` inside), used from the loop's thread only.
///
/// See the [module docs](self) for how checkouts, reuse and failures behave.
#[derive(Clone)]
pub struct Pool {
    pub(crate) inner: Rc<Inner>,
}

impl Pool {
    /// A pool for `config.addr`. Starts opening `min_idle` connections at once (they complete
    /// as the loop turns), and arms the pool's sweep timer.
    pub fn new(lp: &mut EventLoop, config: PoolConfig) -> Pool {
        let kick = match kick::Kick::new() {
            Ok(k) => Some(k),
            Err(e) => {
                log::warn!("ringloop pool: no kick socket ({e}); drops noticed by the sweep");
                None
            }
        };
        let pool = Pool {
            inner: Rc::new(Inner {
                state: RefCell::new(State::new(config)),
                dropped: Cell::new(0),
                abandoned_checks: Cell::new(0),
                kick,
                check: RefCell::new(None),
            }),
        };
        pool.arm_kick(lp);
        pool.arm_sweep(lp);
        pool.maintain(lp);
        pool
    }

    /// Callback style: `f` runs from the loop (never inside this call) with a connection or the
    /// reason there is none. Waiters are served first come, first served.
    pub fn checkout(
        &self,
        lp: &mut EventLoop,
        f: impl FnOnce(&mut EventLoop, Result<PooledConn, PoolError>) + 'static,
    ) {
        self.enqueue(lp, Deliver::Callback(Box::new(f)));
    }

    /// Polling style: a ticket to check with [`CheckoutTicket::poll`] while the loop turns.
    /// Refusals that need no waiting (queue full, pool closed, upstream down) are in the ticket
    /// at once.
    pub fn checkout_ticket(&self, lp: &mut EventLoop) -> CheckoutTicket {
        let slot = Rc::new(RefCell::new(Slot::Pending));
        self.enqueue(lp, Deliver::Ticket(slot.clone()));
        CheckoutTicket { slot }
    }

    /// Blocking style: turns the loop (other work on it still runs) until this checkout is
    /// answered, at the latest after `checkout_timeout`. If the loop itself fails while turning,
    /// its error is returned as [`PoolError::Connect`].
    pub fn checkout_blocking(&self, lp: &mut EventLoop) -> Result<PooledConn, PoolError> {
        let ticket = self.checkout_ticket(lp);
        loop {
            if let Some(outcome) = ticket.poll() {
                return outcome;
            }
            // Dropping the ticket on error gives up the checkout.
            lp.run_once(None).map_err(PoolError::Connect)?;
        }
    }

    /// Gives a connection back. It is closed instead of reused if marked dirty or broken, past
    /// its lifetime, closed by the peer or holding unsolicited bytes, or if the pool is closed;
    /// otherwise it goes to the first waiter, or idle.
    pub fn checkin(&self, lp: &mut EventLoop, conn: PooledConn) {
        self.absorb();
        if !std::rc::Weak::ptr_eq(&conn.home, &Rc::downgrade(&self.inner)) {
            log::warn!("ringloop pool: checkin of a connection from another pool; closing it");
            // Its own pool counts it as dropped.
            return drop(conn);
        }
        {
            let mut st = self.inner.state.borrow_mut();
            st.in_use = st.in_use.saturating_sub(1);
            if st.closed {
                close_conn(lp, conn);
            } else if let Some(reason) = retire_reason(&conn, Instant::now()) {
                log::debug!(
                    "ringloop pool: connection {} closed on return: {reason:?}",
                    conn.id
                );
                reason.count(&mut st);
                close_conn(lp, conn);
            } else {
                st.idle.push_back(Idle {
                    conn,
                    since: Instant::now(),
                });
            }
        }
        // Serve a waiter, or replace what was closed.
        self.schedule(lp);
    }

    /// Sets the health check run on connections idle longer than `health_check_after` before
    /// they are handed out. The check gets the connection and must give it back through
    /// [`HealthDone::done`] with its verdict, now or later (after a PING round trip, say).
    /// Unhealthy connections are closed and counted, and the checkout tries the next one.
    pub fn set_health_check(
        &self,
        check: impl FnMut(&mut EventLoop, PooledConn, HealthDone) + 'static,
    ) {
        *self.inner.check.borrow_mut() = Some(Box::new(check));
    }

    /// A snapshot of the counters and gauges.
    pub fn stats(&self) -> PoolStats {
        self.absorb();
        let st = self.inner.state.borrow();
        PoolStats {
            in_use: st.in_use,
            idle: st.idle.len(),
            connecting: st.connecting.len(),
            waiting: st.waiters.len(),
            ..st.counters.snapshot()
        }
    }

    /// The configuration the pool was made with.
    pub fn config(&self) -> PoolConfig {
        self.inner.state.borrow().config.clone()
    }

    /// Closes the pool: idle connections are closed, connects cancelled, waiters answered with
    /// [`PoolError::Closed`] (from the loop), new checkouts refused; checked-out connections are
    /// closed when returned. Ends the pool's timer and recv, so [`EventLoop::run`] can return.
    pub fn close(&self, lp: &mut EventLoop) {
        self.absorb();
        let mut st = self.inner.state.borrow_mut();
        if st.closed {
            return;
        }
        st.closed = true;
        for entry in std::mem::take(&mut st.idle) {
            close_conn(lp, entry.conn);
        }
        for w in st.waiters.drain() {
            if let Some(t) = w.timer {
                lp.cancel_timer(t);
            }
            st.answers.push_back((w.deliver, Err(PoolError::Closed)));
        }
        // Their completions see `closed` and close the sockets.
        for c in st.connecting.values_mut() {
            if let Some(t) = c.timer.take() {
                lp.cancel_timer(t);
            }
            if let Some(op) = c.op {
                lp.cancel(op);
            }
        }
        for t in [st.sweep_timer.take(), st.backoff.timer.take()]
            .into_iter()
            .flatten()
        {
            lp.cancel_timer(t);
        }
        if let Some(op) = st.kick_op.take() {
            lp.cancel(op);
        }
        drop(st);
        self.schedule(lp);
    }

    /// Queues a checkout, or refuses it at once (closed, queue full, upstream down).
    fn enqueue(&self, lp: &mut EventLoop, deliver: Deliver) {
        self.absorb();
        let refusal = {
            let mut st = self.inner.state.borrow_mut();
            let now = Instant::now();
            if st.closed {
                Some(PoolError::Closed)
            } else if st.waiters.len() >= st.config.max_waiters {
                st.counters.s.queue_full += 1;
                Some(PoolError::QueueFull)
            } else if st.idle.is_empty()
                && st.connecting.is_empty()
                && st.backoff.waiting(now)
                && st.backoff.last.is_some()
            {
                st.backoff.last.as_ref().map(|f| f.to_error())
            } else {
                None
            }
        };
        if let Some(err) = refusal {
            return self.answer_later(lp, deliver, Err(err));
        }
        let timeout = {
            let mut st = self.inner.state.borrow_mut();
            if st.idle.is_empty() {
                st.counters.s.waits += 1;
            }
            st.config.checkout_timeout
        };
        let id = {
            let mut st = self.inner.state.borrow_mut();
            st.next_waiter_id += 1;
            st.next_waiter_id
        };
        let pool = self.clone();
        let timer = lp.timer(timeout, move |lp| pool.waiter_expired(lp, id));
        self.inner.state.borrow_mut().waiters.push(Waiter {
            id,
            since: Instant::now(),
            deliver,
            timer: Some(timer),
        });
        self.schedule(lp);
    }

    /// Gives an answer from the loop: tickets at once (no user code runs), callbacks through
    /// the serve step.
    fn answer_later(&self, lp: &mut EventLoop, deliver: Deliver, outcome: Outcome) {
        match deliver {
            Deliver::Ticket(_) => deliver.deliver(lp, outcome),
            Deliver::Callback(_) => {
                self.inner
                    .state
                    .borrow_mut()
                    .answers
                    .push_back((deliver, outcome));
                self.schedule(lp);
            }
        }
    }

    /// A waiter's checkout timeout passed. While the pool is down the connect error is the
    /// truer answer, so it is given instead of `Timeout`.
    fn waiter_expired(&self, lp: &mut EventLoop, id: u64) {
        let (w, outcome) = {
            let mut st = self.inner.state.borrow_mut();
            let Some(w) = st.waiters.remove(id) else {
                return;
            };
            let outcome = match &st.backoff.last {
                Some(f) if st.backoff.failures > 0 => f.to_error(),
                _ => {
                    st.counters.s.timeouts += 1;
                    PoolError::Timeout
                }
            };
            (w, outcome)
        };
        w.deliver.deliver(lp, Err(outcome));
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Ok(st) = self.inner.state.try_borrow() else {
            return f.write_str("Pool { <busy> }");
        };
        f.debug_struct("Pool")
            .field("addr", &st.config.addr)
            .field("idle", &st.idle.len())
            .field("in_use", &st.in_use)
            .field("connecting", &st.connecting.len())
            .field("waiting", &st.waiters.len())
            .field("closed", &st.closed)
            .finish()
    }
}
