//! Housekeeping on the loop: the periodic sweep over idle connections, and the kick's recv.
//!
//! One repeating timer per pool (not one per connection), every
//! [`sweep_period`](super::PoolConfig) — a quarter of the shorter of the idle timeout and the
//! lifetime, between 1 ms and 1 s. Each sweep peeks every idle socket (peer closed, unsolicited
//! bytes, reset: closed as broken), retires connections past their lifetime, then closes the
//! longest-idle connections past the idle timeout while more than `min_idle` remain, and
//! finally runs the serve step, which refills `min_idle`.

use std::time::Instant;

use bytes::BytesMut;

use super::serve::{close_conn, retire_reason};
use super::Pool;
use crate::{op, EventLoop};

impl Pool {
    /// Arms the sweep timer (at start).
    pub(crate) fn arm_sweep(&self, lp: &mut EventLoop) {
        let period = self.inner.state.borrow().config.sweep_period();
        let pool = self.clone();
        let id = lp.timer_repeat(period, move |lp| pool.sweep(lp));
        self.inner.state.borrow_mut().sweep_timer = Some(id);
    }

    /// One sweep (see the module docs).
    pub(crate) fn sweep(&self, lp: &mut EventLoop) {
        self.absorb();
        {
            let mut st = self.inner.state.borrow_mut();
            if st.closed {
                return;
            }
            let now = Instant::now();
            let idle = std::mem::take(&mut st.idle);
            for entry in idle {
                match retire_reason(&entry.conn, now) {
                    Some(reason) => {
                        reason.count(&mut st);
                        close_conn(lp, entry.conn);
                    }
                    None => st.idle.push_back(entry),
                }
            }
            // The front is the longest idle (returns go to the back), so stop at the first one
            // still within the timeout.
            if let Some(timeout) = st.config.idle_timeout {
                while st.idle.len() > st.config.min_idle {
                    let expired = st
                        .idle
                        .front()
                        .is_some_and(|e| now.saturating_duration_since(e.since) >= timeout);
                    if !expired {
                        break;
                    }
                    if let Some(entry) = st.idle.pop_front() {
                        st.counters.s.closed_idle_timeout += 1;
                        close_conn(lp, entry.conn);
                    }
                }
            }
        }
        self.serve(lp);
    }

    /// Keeps one recv in flight on the kick socket while the pool is open.
    pub(crate) fn arm_kick(&self, lp: &mut EventLoop) {
        let Some(kick) = &self.inner.kick else {
            return;
        };
        if self.inner.state.borrow().closed {
            return;
        }
        let pool = self.clone();
        let op = lp.submit_with(
            op::Recv::new(kick.rx_fd(), BytesMut::with_capacity(8)),
            move |lp, (res, _buf)| pool.kicked(lp, res),
        );
        self.inner.state.borrow_mut().kick_op = Some(op);
    }

    fn kicked(&self, lp: &mut EventLoop, res: std::io::Result<usize>) {
        self.inner.state.borrow_mut().kick_op = None;
        if let Some(k) = &self.inner.kick {
            k.answered();
        }
        if self.inner.state.borrow().closed {
            return;
        }
        match res {
            Ok(_) => self.arm_kick(lp),
            // Not re-armed (a persistent error would spin): drops are then absorbed by the
            // sweep and the next pool call.
            Err(e) => log::warn!("ringloop pool: kick recv failed, drops noticed by sweep: {e}"),
        }
        self.serve(lp);
    }
}
