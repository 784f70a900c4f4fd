//! The serve step: the one place where waiting checkouts meet connections.
//!
//! It runs from the loop only (a zero-delay timer armed by [`Pool::schedule`], the sweep, the
//! kick), so answers never reach a caller on its own stack. In order, it: folds in what
//! destructors recorded (`absorb`); gives the answers already decided; hands idle connections to
//! waiters first come, first served, peeking each one first and routing stale ones through the
//! user's health check; and finally starts as many connects as the remaining waiters plus the
//! `min_idle` deficit need, within `max_size` and the backoff.
//!
//! No user code runs while the state is borrowed: each round borrows, decides one thing, lets
//! go, then acts.

use std::time::{Duration, Instant};

use super::checkout::{Deliver, Outcome};
use super::health::{peek, HealthDone, Peek};
use super::state::{Idle, State};
use super::{Pool, PooledConn};
use crate::{op, EventLoop};

/// What one round of the serve step decided.
enum Step {
    Answer(Deliver, Outcome),
    Check(PooledConn),
    Done,
}

impl Pool {
    /// Runs the serve step from the loop soon (coalesced: one zero-delay timer at most).
    pub(crate) fn schedule(&self, lp: &mut EventLoop) {
        let mut st = self.inner.state.borrow_mut();
        if st.serve_timer.is_some() {
            return;
        }
        let pool = self.clone();
        st.serve_timer = Some(lp.timer(Duration::ZERO, move |lp| {
            pool.inner.state.borrow_mut().serve_timer = None;
            pool.serve(lp);
        }));
    }

    /// Folds in the events destructors could only record: dropped connections (their slot is
    /// free) and health checks abandoned without a verdict.
    pub(crate) fn absorb(&self) {
        let dropped = self.inner.dropped.replace(0);
        let abandoned = self.inner.abandoned_checks.replace(0);
        if dropped == 0 && abandoned == 0 {
            return;
        }
        let mut st = self.inner.state.borrow_mut();
        st.in_use = st.in_use.saturating_sub(dropped);
        st.counters.s.closed_dropped += dropped as u64;
        st.checking = st.checking.saturating_sub(abandoned);
    }

    /// The serve step (see the module docs).
    pub(crate) fn serve(&self, lp: &mut EventLoop) {
        self.absorb();
        loop {
            let step = self.next_step(lp);
            match step {
                Step::Answer(deliver, outcome) => deliver.deliver(lp, outcome),
                Step::Check(conn) => self.run_check(lp, conn),
                Step::Done => break,
            }
        }
        self.maintain(lp);
    }

    fn next_step(&self, lp: &mut EventLoop) -> Step {
        let mut st = self.inner.state.borrow_mut();
        if let Some((deliver, outcome)) = st.answers.pop_front() {
            return Step::Answer(deliver, outcome);
        }
        let has_check = self.inner.check.try_borrow().is_ok_and(|c| c.is_some());
        let now = Instant::now();
        // Waiters beyond those a running health check will answer, while idle connections last.
        while !st.closed && st.waiters.len() > st.checking {
            let Some(Idle { mut conn, since }) = st.pop_idle() else {
                break;
            };
            if let Some(reason) = retire_reason(&conn, now) {
                reason.count(&mut st);
                close_conn(lp, conn);
                continue;
            }
            let stale = st
                .config
                .health_check_after
                .is_some_and(|after| now.saturating_duration_since(since) > after);
            if stale && has_check {
                st.in_use += 1;
                st.checking += 1;
                return Step::Check(conn);
            }
            let Some(waiter) = st.waiters.pop_first() else {
                // Only abandoned tickets were left.
                st.unpop_idle(Idle { conn, since });
                break;
            };
            if let Some(t) = waiter.timer {
                lp.cancel_timer(t);
            }
            conn.uses += 1;
            st.in_use += 1;
            st.counters.s.checkouts += 1;
            st.counters
                .record_wait(now.saturating_duration_since(waiter.since));
            return Step::Answer(waiter.deliver, Ok(conn));
        }
        Step::Done
    }

    /// Starts the connects the pool needs now: one per waiter nothing else will answer, plus the
    /// `min_idle` deficit, within `max_size`; none while backing off (a timer retries then).
    pub(crate) fn maintain(&self, lp: &mut EventLoop) {
        let to_start = {
            let mut st = self.inner.state.borrow_mut();
            if st.closed {
                return;
            }
            let uncovered = st.waiters.len().saturating_sub(st.checking + st.idle.len());
            let want = uncovered + st.config.min_idle.saturating_sub(st.idle.len());
            let room = st.config.max_size.saturating_sub(st.open());
            let n = want.saturating_sub(st.connecting.len()).min(room);
            if n > 0 && st.backoff.waiting(Instant::now()) {
                self.arm_backoff_timer(lp, &mut st);
                0
            } else {
                n
            }
        };
        for _ in 0..to_start {
            self.start_connect(lp);
        }
    }

    /// Hands `conn` to the user's health check.
    fn run_check(&self, lp: &mut EventLoop, conn: PooledConn) {
        let done = HealthDone {
            home: std::rc::Rc::downgrade(&self.inner),
            finished: false,
        };
        // Taken out while it runs, so a check that calls back into the pool (even
        // `set_health_check`) finds no borrow held.
        let check = self.inner.check.borrow_mut().take();
        match check {
            Some(mut check) => {
                check(lp, conn, done);
                let mut slot = self.inner.check.borrow_mut();
                if slot.is_none() {
                    *slot = Some(check);
                }
            }
            // Removed meanwhile (cannot happen today): count it healthy.
            None => done.done(lp, conn, true),
        }
    }

    /// The verdict of a user health check.
    pub(crate) fn health_done(&self, lp: &mut EventLoop, mut conn: PooledConn, healthy: bool) {
        self.absorb();
        if !std::rc::Weak::ptr_eq(&conn.home, &std::rc::Rc::downgrade(&self.inner)) {
            log::warn!("ringloop pool: health check returned a connection of another pool");
            return drop(conn);
        }
        {
            let mut st = self.inner.state.borrow_mut();
            st.checking = st.checking.saturating_sub(1);
            st.in_use = st.in_use.saturating_sub(1);
            if st.closed {
                close_conn(lp, conn);
            } else if !healthy || conn.fd.is_none() {
                st.counters.s.closed_health += 1;
                close_conn(lp, conn);
            } else {
                let now = Instant::now();
                match st.waiters.pop_first() {
                    Some(waiter) => {
                        if let Some(t) = waiter.timer {
                            lp.cancel_timer(t);
                        }
                        conn.uses += 1;
                        st.in_use += 1;
                        st.counters.s.checkouts += 1;
                        st.counters
                            .record_wait(now.saturating_duration_since(waiter.since));
                        st.answers.push_back((waiter.deliver, Ok(conn)));
                    }
                    // Its checkout gave up meanwhile: idle again, freshly checked.
                    None => st.idle.push_back(Idle { conn, since: now }),
                }
            }
        }
        self.schedule(lp);
    }
}

/// Why a connection must not be reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retire {
    Broken,
    Dirty,
    Lifetime,
}

impl Retire {
    pub(crate) fn count(self, st: &mut State) {
        let s = &mut st.counters.s;
        match self {
            Retire::Broken => s.closed_broken += 1,
            Retire::Dirty => s.closed_dirty += 1,
            Retire::Lifetime => s.closed_lifetime += 1,
        }
    }
}

/// Marks first (the user knows best), then age, then a peek at the socket.
pub(crate) fn retire_reason(conn: &PooledConn, now: Instant) -> Option<Retire> {
    if conn.broken {
        return Some(Retire::Broken);
    }
    if conn.dirty {
        return Some(Retire::Dirty);
    }
    if conn.expires_at.is_some_and(|at| now >= at) {
        return Some(Retire::Lifetime);
    }
    match conn.fd.as_ref().map(peek) {
        Some(Peek::Healthy) => None,
        Some(Peek::PeerClosed | Peek::Unsolicited | Peek::Failed) | None => Some(Retire::Broken),
    }
}

/// Closes a connection through the loop: `op::Close` cancels any op still pending on the fd
/// (a user's recv left behind) before closing it, on both backends.
pub(crate) fn close_conn(lp: &mut EventLoop, mut conn: PooledConn) {
    if let Some(fd) = conn.take_fd() {
        log::debug!("ringloop pool: closing connection {}", conn.id);
        lp.submit_with(op::Close::new(fd), |_, res| {
            if let Err(e) = res {
                log::debug!("ringloop pool: close failed: {e}");
            }
        });
    }
}
