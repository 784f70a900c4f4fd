//! Opening connections: a non-blocking socket, an [`op::Connect`] raced with a
//! `connect_timeout` timer (the loser is cancelled), and what a failure does to the pool —
//! backoff, and the waiters it leaves without a connection.
//!
//! The socket is made with `socket2` (non-blocking, `TCP_NODELAY`: pooled connections carry
//! request/response traffic where Nagle only adds latency) and owned by the pool's `connecting`
//! table until the op completes, so the fd the op borrows outlives it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};

use super::error::Failure;
use super::serve::close_conn;
use super::state::{Connecting, Idle, State};
use super::{Pool, PooledConn};
use crate::{op, EventLoop};

fn socket_for(addr: std::net::SocketAddr) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.set_tcp_nodelay(true)?;
    Ok(sock)
}

impl Pool {
    /// Starts one connect.
    pub(crate) fn start_connect(&self, lp: &mut EventLoop) {
        let (addr, timeout) = {
            let st = self.inner.state.borrow();
            (st.config.addr, st.config.connect_timeout)
        };
        let sock = match socket_for(addr) {
            Ok(s) => s,
            // Out of fds, most likely: a failure like any other, with backoff.
            Err(e) => return self.connect_failed(lp, Failure::of(&e)),
        };
        let fd = sock.as_raw_fd();
        let key = {
            let mut st = self.inner.state.borrow_mut();
            let key = st.next_connect_id;
            st.next_connect_id += 1;
            st.connecting.insert(
                key,
                Connecting {
                    sock,
                    op: None,
                    timer: None,
                    timed_out: false,
                },
            );
            key
        };
        log::debug!("ringloop pool: connecting to {addr}");
        let pool = self.clone();
        let op = lp.submit_with(op::Connect::new(fd, addr), move |lp, res| {
            pool.connect_done(lp, key, res)
        });
        let pool = self.clone();
        let timer = lp.timer(timeout, move |lp| pool.connect_timer_fired(lp, key));
        // The completion is dispatched in a later turn, never inside `submit_with`: the entry is
        // still there.
        if let Some(c) = self.inner.state.borrow_mut().connecting.get_mut(&key) {
            c.op = Some(op);
            c.timer = Some(timer);
        }
    }

    fn connect_timer_fired(&self, lp: &mut EventLoop, key: u64) {
        let op = {
            let mut st = self.inner.state.borrow_mut();
            let Some(c) = st.connecting.get_mut(&key) else {
                return;
            };
            c.timer = None;
            c.timed_out = true;
            c.op
        };
        // The connect completes (with ECANCELED, or connected if it won the race) and
        // `connect_done` decides; the socket stays owned until then.
        if let Some(op) = op {
            lp.cancel(op);
        }
    }

    fn connect_done(&self, lp: &mut EventLoop, key: u64, res: io::Result<()>) {
        self.absorb();
        let Some(c) = self.inner.state.borrow_mut().connecting.remove(&key) else {
            return;
        };
        if let Some(t) = c.timer {
            lp.cancel_timer(t);
        }
        let closed = self.inner.state.borrow().closed;
        match res {
            Ok(()) => {
                let fd = OwnedFd::from(c.sock);
                let mut st = self.inner.state.borrow_mut();
                st.backoff.succeeded();
                st.counters.s.created += 1;
                let now = Instant::now();
                let lifetime = {
                    let j = st.random();
                    st.config.lifetime(j)
                };
                let conn = PooledConn {
                    fd: Some(fd),
                    id: st.next_conn_id,
                    created_at: now,
                    expires_at: lifetime.map(|l| now + l),
                    uses: 0,
                    dirty: false,
                    broken: false,
                    home: std::rc::Rc::downgrade(&self.inner),
                };
                st.next_conn_id += 1;
                log::debug!("ringloop pool: connection {} open", conn.id);
                if closed {
                    close_conn(lp, conn);
                    return;
                }
                st.idle.push_back(Idle { conn, since: now });
            }
            // Cancelled by close(): nothing to report.
            Err(_) if closed => return,
            Err(e) => {
                let f = if c.timed_out {
                    Failure::Timeout
                } else {
                    Failure::of(&e)
                };
                log::debug!(
                    "ringloop pool: connect failed: {e} (timed out: {})",
                    c.timed_out
                );
                // The socket (no op on it any more) closes here.
                drop(c.sock);
                return self.connect_failed(lp, f);
            }
        }
        self.schedule(lp);
    }

    /// A connect failed: back off, and fail the waiters nothing else will answer with this
    /// error (FCFS: the longest-waiting first). Reported as what it was, never as a timeout.
    pub(crate) fn connect_failed(&self, lp: &mut EventLoop, f: Failure) {
        {
            let mut st = self.inner.state.borrow_mut();
            st.counters.s.connect_failures += 1;
            let (base, max) = (st.config.backoff_base, st.config.backoff_max);
            let delay = st.backoff.failed(f.clone(), base, max);
            log::debug!(
                "ringloop pool: backing off {delay:?} after {} failures",
                st.backoff.failures
            );
            let covered = st.connecting.len() + st.checking + st.idle.len();
            let unanswered = st.waiters.len().saturating_sub(covered);
            for _ in 0..unanswered {
                let Some(w) = st.waiters.pop_first() else {
                    break;
                };
                if let Some(t) = w.timer {
                    lp.cancel_timer(t);
                }
                st.answers.push_back((w.deliver, Err(f.to_error())));
            }
            if let Some(t) = st.backoff.timer.take() {
                lp.cancel_timer(t);
            }
            self.arm_backoff_timer(lp, &mut st);
        }
        self.schedule(lp);
    }

    /// Arms the timer that retries when the backoff ends (if not armed already).
    pub(crate) fn arm_backoff_timer(&self, lp: &mut EventLoop, st: &mut State) {
        if st.backoff.timer.is_some() {
            return;
        }
        let Some(until) = st.backoff.until else {
            return;
        };
        let pool = self.clone();
        let after = until.saturating_duration_since(Instant::now());
        st.backoff.timer = Some(lp.timer(after, move |lp| {
            pool.inner.state.borrow_mut().backoff.timer = None;
            pool.serve(lp);
        }));
    }
}
