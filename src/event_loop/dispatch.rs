//! One turn of the loop, and the delivery of each completion to its owner.
//!
//! See the module docs of [`event_loop`](super) for the order of the phases and why completions
//! created during dispatch wait for the next turn.

use std::io;
use std::time::{Duration, Instant};

use super::entry::Next;
use super::inflight::{OpId, Parked, State};
use super::{EventLoop, TimerAction};
use crate::driver::{Driver, RawCompletion, TOKEN_CLEAN_EDGE};
use crate::op::OpKind;

/// How many items an epoll multishot op may produce per turn before others get a go.
const EPOLL_MULTISHOT_BUDGET: usize = 32;

impl EventLoop {
    pub(crate) fn turn(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        self.stats.turns += 1;
        // Completions handed out in this turn, counted where they are handed out: on epoll,
        // multishot items are delivered by `run_retries`, not through `ready`, and must count
        // the same as io_uring's CQEs (for the return value and `wakeups`).
        let completions_before = self.stats.completions;
        if !self.abandoned.borrow().is_empty() {
            self.reap_abandoned();
        }
        let timeout = self.wait_timeout(timeout);
        log::trace!("turn {}: wait {}", self.stats.turns, Wait(timeout));
        let woken = match &mut self.driver {
            #[cfg(ringloop_uring)]
            Driver::Uring(d) => d.wait(timeout, &mut self.ready)?,
            Driver::Epoll(d) => d.wait(timeout, &mut self.retry)?,
        };
        if !self.retry.is_empty() {
            self.run_retries();
        }
        self.fire_timers();
        if woken || self.handle.has_posted() {
            self.run_posted();
        }
        if !self.ready.is_empty() {
            self.dispatch_ready();
        }
        if !self.starved.is_empty() {
            self.rearm_starved();
        }
        let dispatched = (self.stats.completions - completions_before) as usize;
        if dispatched > 0 {
            self.stats.wakeups += 1;
        }
        Ok(dispatched)
    }

    /// Hands out this turn's completions. Callbacks may queue new ones (an op that finished at
    /// once): those land in the other vector and wait for the next turn.
    fn dispatch_ready(&mut self) {
        let mut batch = std::mem::replace(&mut self.ready, std::mem::take(&mut self.spare));
        log::trace!(
            "turn {}: dispatching {} completions",
            self.stats.turns,
            batch.len()
        );
        for completion in batch.drain(..) {
            self.dispatch(completion);
        }
        self.spare = batch;
    }

    /// The caller's timeout, shortened to the nearest timer, zero if work is already queued.
    fn wait_timeout(&mut self, requested: Option<Duration>) -> Option<Duration> {
        if self.has_queued_work() {
            return Some(Duration::ZERO);
        }
        let Some(deadline) = self.timers.next_deadline() else {
            return requested;
        };
        let until_timer = deadline.saturating_duration_since(Instant::now());
        Some(requested.map_or(until_timer, |r| r.min(until_timer)))
    }

    /// epoll: try again every op whose fd became ready (or whose multishot budget ran out).
    fn run_retries(&mut self) {
        let mut retry = std::mem::take(&mut self.retry);
        for token in retry.drain(..) {
            let clean_edge = token & TOKEN_CLEAN_EDGE != 0;
            let id = OpId::from_user_data(token & !TOKEN_CLEAN_EDGE);
            let Some(slot) = self.inflight.get(id) else {
                continue;
            };
            // Cancelled (or its fd closed) since it was queued here: `cancel` has already queued
            // its ECANCELED; another attempt could consume data nobody would receive, or touch
            // a closed fd number.
            if slot.cancel_requested {
                continue;
            }
            log::trace!("attempt {id} {} (fd ready, or newly armed)", slot.kind);
            match slot.state {
                State::Once(_) => self.send_to_driver(id, false),
                State::Multi(_) => self.run_multi_epoll(id, clean_edge),
                _ => {}
            }
        }
        // Keep the allocation for the next turn's list (one malloc and free per turn otherwise),
        // unless the attempts above queued retries of their own, which then are that list.
        if self.retry.is_empty() {
            self.retry = retry;
        }
    }

    /// `clean_edge`: the run follows a readable edge with no hang-up or error (see
    /// [`TOKEN_CLEAN_EDGE`]).
    fn run_multi_epoll(&mut self, id: OpId, clean_edge: bool) {
        let Some(slot) = self.inflight.get_mut(id) else {
            return;
        };
        let State::Multi(mut entry) = std::mem::replace(&mut slot.state, State::Busy) else {
            return;
        };
        // Listed while it runs, so that a Close submitted from its own callback (or one further
        // down the stack) cancels it too: `start_close` looks here.
        self.running_multi.push(id);
        let next = entry.run_epoll(self, id, EPOLL_MULTISHOT_BUDGET, clean_edge);
        self.running_multi.pop();
        self.after_multi(id, entry, next);
    }

    fn fire_timers(&mut self) {
        // No clock read on a turn without timers: at one message per wake-up (a ping-pong
        // connection) the loop's own code is a visible share of the cost, and `clock_gettime`
        // in a VM is among its larger items.
        if self.timers.len() == 0 {
            return;
        }
        let now = Instant::now();
        while let Some((timer, action, _repeating)) = self.timers.pop_due(now) {
            self.stats.timers_fired += 1;
            match action {
                TimerAction::Complete(op) => self.complete_later(op, -libc::ETIME),
                TimerAction::Once(f) => f(self),
                TimerAction::Repeat(mut f) => {
                    f(self);
                    self.timers.put_back(timer, TimerAction::Repeat(f), now);
                }
            }
        }
    }

    fn run_posted(&mut self) {
        for f in self.handle.take_posted() {
            self.stats.posted += 1;
            f(self);
        }
        if self.handle.take_stop() {
            self.stopped = true;
        }
    }

    /// Hands one completion to its op's owner.
    fn dispatch(&mut self, c: RawCompletion) {
        let id = OpId::from_user_data(c.user_data);
        let uring = self.is_uring();
        let Some(slot) = self.inflight.get_mut(id) else {
            log::trace!("stale completion for {id} res={}", c.res);
            return;
        };
        if matches!(slot.state, State::Busy) {
            // The op's entry is out, delivering an earlier item further up the stack: its
            // callback turned the loop itself (e.g. a blocking `wait` inside a multishot
            // callback). Keep this completion until `after_multi` puts the entry back; dropping
            // it would lose an item (an accepted fd, or a pool buffer that never returns).
            self.deferred.push(c);
            return;
        }
        self.stats.completions += 1;
        match std::mem::replace(&mut slot.state, State::Busy) {
            State::Once(entry)
                if resubmits_on_eagain(uring, slot.kind, c.res, slot.cancel_requested) =>
            {
                // io_uring handed back EAGAIN for a socket op on an O_NONBLOCK socket (after a
                // poll-driven retry found no room, the op runs in a worker where the socket's
                // own O_NONBLOCK applies). Epoll would park it and retry on readiness; do the
                // same so the two backends agree: submit it again, it waits for room.
                slot.state = State::Once(entry);
                self.stats.eagain_resubmits += 1;
                log::trace!("resubmit {id} {}: EAGAIN from io_uring", slot.kind);
                self.send_to_driver(id, false);
            }
            State::Once(entry) => {
                let (kind, detached) = (slot.kind, slot.detached);
                slot.parked = Parked::Nowhere;
                log::trace!(
                    "complete {id} {kind} res={} after {}",
                    c.res,
                    Since(self.inflight.submitted_at(id))
                );
                if kind == crate::op::OpKind::Accept && c.res >= 0 {
                    self.fd_opened(c.res);
                }
                self.stats.completed[kind.index()] += 1;
                self.in_flight -= 1;
                entry.complete(self, id, c.res, detached);
            }
            State::Multi(mut entry) => {
                #[cfg(ringloop_uring)]
                let more =
                    matches!(self.driver, Driver::Uring(_)) && io_uring::cqueue::more(c.flags);
                #[cfg(not(ringloop_uring))]
                let more = false;
                log::trace!("item {id} {} res={} more={more}", slot.kind, c.res);
                let next = entry.on_completion(self, id, c.res, c.flags, more);
                self.after_multi(id, entry, next);
            }
            other => slot.state = other,
        }
    }

    fn is_uring(&self) -> bool {
        #[cfg(ringloop_uring)]
        return matches!(self.driver, Driver::Uring(_));
        #[cfg(not(ringloop_uring))]
        false
    }

    /// Puts a multishot entry back after an event and does what `next` says.
    fn after_multi(&mut self, id: OpId, entry: Box<dyn super::entry::MultiEntry>, next: Next) {
        let Some(slot) = self.inflight.get_mut(id) else {
            return;
        };
        slot.state = State::Multi(entry);
        if !self.deferred.is_empty() {
            // Completions that arrived while the entry was out (see `dispatch`): due now.
            let ud = id.user_data();
            let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
                .into_iter()
                .partition(|c| c.user_data == ud);
            self.deferred = others;
            self.ready.extend(mine);
        }
        let cancelled = slot.cancel_requested;
        match next {
            Next::End => self.finish_multi(id),
            Next::Continue if !cancelled || slot.parked == Parked::Kernel => {
                if slot.parked != Parked::Kernel {
                    slot.parked = Parked::Retry;
                    self.retry.push(id.user_data());
                }
            }
            // Cancelled while the op was not in the kernel: end it here, with ECANCELED.
            _ if cancelled => self.complete_later(id, -libc::ECANCELED),
            Next::Continue => unreachable!("handled above"),
            Next::Rearm => {
                self.stats.multishot_rearms += 1;
                self.arm_multi(id);
            }
            Next::Wait(fd, dir) => {
                let token = id.user_data();
                let parked = match &mut self.driver {
                    Driver::Epoll(d) => d.park(fd, dir, token),
                    #[cfg(ringloop_uring)]
                    Driver::Uring(_) => Ok(()),
                };
                match parked {
                    Ok(()) => {
                        log::trace!("park {id} fd={fd} {dir:?}");
                        slot.parked = Parked::Fd(fd)
                    }
                    Err(e) => self.complete_later(id, -e.raw_os_error().unwrap_or(libc::EIO)),
                }
            }
            Next::Starved => {
                log::trace!("{id} waits for a pool buffer");
                slot.parked = Parked::Starved;
                self.starved.push(id);
            }
        }
    }

    fn finish_multi(&mut self, id: OpId) {
        let submitted_at = self.inflight.submitted_at(id);
        let Some(slot) = self.inflight.get_mut(id) else {
            return;
        };
        log::trace!("end {id} {} after {}", slot.kind, Since(submitted_at));
        slot.parked = Parked::Nowhere;
        self.stats.completed[slot.kind.index()] += 1;
        self.in_flight -= 1;
        let State::Multi(entry) = &mut slot.state else {
            return;
        };
        // A callback stream, or a ticket nobody holds any more, is done with; a live ticket's
        // queue stays until it is drained and dropped.
        let has_reader = !slot.detached && entry.has_queue();
        if !has_reader {
            self.inflight.remove(id);
        }
    }

    fn rearm_starved(&mut self) {
        if self.pool.as_ref().is_none_or(|p| p.available() == 0) {
            return;
        }
        for id in std::mem::take(&mut self.starved) {
            if self
                .inflight
                .get(id)
                .is_some_and(|s| s.parked == Parked::Starved)
            {
                self.stats.multishot_rearms += 1;
                self.arm_multi(id);
            }
        }
    }

    /// Tickets dropped since the last turn: cancel what runs, drop what finished.
    fn reap_abandoned(&mut self) {
        let ids = std::mem::take(&mut *self.abandoned.borrow_mut());
        for id in ids {
            let Some(slot) = self.inflight.get_mut(id) else {
                continue;
            };
            let finished = matches!(slot.state, State::Done(_))
                || (matches!(slot.state, State::Multi(_)) && slot.parked == Parked::Nowhere);
            if finished {
                self.inflight.remove(id);
            } else {
                slot.detached = true;
                self.cancel(id);
            }
        }
    }

    /// On drop: make sure the kernel holds nothing of ours before memory is freed.
    pub(crate) fn shutdown_kernel_ops(&mut self) {
        #[cfg(ringloop_uring)]
        {
            let mut pending = self.inflight_parked_kernel();
            let Driver::Uring(d) = &mut self.driver else {
                return;
            };
            if !pending.is_empty() {
                let _ = d.cancel_all();
                let mut sink = Vec::new();
                for _ in 0..300 {
                    d.drain(Duration::from_millis(10), &mut sink);
                    for c in sink.drain(..) {
                        let more = io_uring::cqueue::more(c.flags);
                        if !more {
                            pending.retain(|id| id.user_data() != c.user_data);
                        }
                        if let Some(bid) = io_uring::cqueue::buffer_select(c.flags) {
                            if let Some(pool) = &self.pool {
                                drop(pool.claim(bid, 0));
                            }
                        }
                    }
                    if pending.is_empty() {
                        break;
                    }
                }
                if !pending.is_empty() {
                    // The kernel did not give these back in 3 s: leak them rather than free memory
                    // it may still write to.
                    log::warn!(
                        "ringloop: leaking {} ops the kernel did not release",
                        pending.len()
                    );
                    for id in pending {
                        if let Some(slot) = self.inflight.remove(id) {
                            std::mem::forget(slot);
                        }
                    }
                    if let Some(pool) = self.pool.take() {
                        std::mem::forget(pool);
                    }
                }
            }
            if self.pool.is_some() {
                let _ = d
                    .ring()
                    .submitter()
                    .unregister_buf_ring(super::buf_pool::BGID);
            }
        }
    }

    #[cfg(ringloop_uring)]
    fn inflight_parked_kernel(&self) -> Vec<OpId> {
        self.inflight
            .ids()
            .into_iter()
            .filter(|id| {
                self.inflight
                    .get(*id)
                    .is_some_and(|s| s.parked == Parked::Kernel)
            })
            .collect()
    }
}

/// Trace-log helper: how long ago an op was submitted (its clock is read only when tracing).
struct Since(Option<Instant>);

impl std::fmt::Display for Since {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(t) => write!(f, "{:.1?}", t.elapsed()),
            None => f.write_str("?"),
        }
    }
}

/// Trace-log helper: a wait timeout.
struct Wait(Option<Duration>);

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("until something happens"),
            Some(d) if d.is_zero() => f.write_str("none (work queued)"),
            Some(d) => write!(f, "up to {d:.1?}"),
        }
    }
}

/// Whether a completion with `res` is io_uring's `EAGAIN` for a socket op that should wait.
fn resubmits_on_eagain(uring: bool, kind: OpKind, res: i32, cancelled: bool) -> bool {
    uring
        && res == -libc::EAGAIN
        && !cancelled
        && matches!(kind, OpKind::Send | OpKind::SendVectored | OpKind::Recv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::RecvMulti;
    use std::cell::RefCell;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::rc::Rc;

    /// Every item of a multishot recv on `fd`, on an epoll loop, until the stream ends or the
    /// loop has turned `turns` times; `feed` runs after each turn with the items so far.
    fn epoll_items(fd: i32, turns: usize, mut feed: impl FnMut(usize)) -> Vec<Option<Vec<u8>>> {
        let mut lp = EventLoop::builder()
            .backend(crate::Backend::Epoll)
            .build()
            .unwrap();
        let items = Rc::new(RefCell::new(Vec::new()));
        let sink = items.clone();
        lp.submit_multi_with(RecvMulti::new(fd), move |_, item| {
            sink.borrow_mut().push(item.unwrap().map(|b| b.to_vec()));
        });
        for _ in 0..turns {
            lp.run_once(Some(Duration::from_millis(20))).unwrap();
            let n = items.borrow().len();
            if items.borrow().last() == Some(&None) {
                break;
            }
            feed(n);
        }
        let out = items.borrow().clone();
        out
    }

    #[test]
    fn a_short_read_does_not_hide_a_fin_that_came_with_the_data() {
        // Data and FIN arrive together while the loop sleeps (one coalesced edge, with RDHUP):
        // the short read of the data must not be taken for "drained", or the EOF would be lost.
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut a_opt = Some(());
        let items = epoll_items(b.as_raw_fd(), 50, |n| {
            if n == 0 {
                a.write_all(b"first").unwrap();
            } else if n == 1 && a_opt.take().is_some() {
                a.write_all(b"last").unwrap();
                a.shutdown(std::net::Shutdown::Write).unwrap();
            }
        });
        assert_eq!(
            items,
            vec![Some(b"first".to_vec()), Some(b"last".to_vec()), None]
        );
    }

    #[test]
    fn datagrams_queued_together_are_all_received() {
        // A datagram socket returns one datagram per read: a short read is not "drained" there.
        let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let mut sent = false;
        let items = epoll_items(b.as_raw_fd(), 20, |n| {
            if n == 0 && !sent {
                sent = true;
                for d in [&b"one"[..], b"two", b"three"] {
                    a.send(d).unwrap();
                }
            }
        });
        assert_eq!(
            items,
            vec![
                Some(b"one".to_vec()),
                Some(b"two".to_vec()),
                Some(b"three".to_vec())
            ]
        );
    }

    #[test]
    fn only_uring_socket_ops_that_would_block_are_resubmitted() {
        let eagain = -libc::EAGAIN;
        for kind in [OpKind::Send, OpKind::SendVectored, OpKind::Recv] {
            assert!(resubmits_on_eagain(true, kind, eagain, false), "{kind}");
            assert!(
                !resubmits_on_eagain(false, kind, eagain, false),
                "epoll parks by itself"
            );
            assert!(
                !resubmits_on_eagain(true, kind, eagain, true),
                "a cancel wins"
            );
            assert!(!resubmits_on_eagain(true, kind, -libc::EPIPE, false));
            assert!(!resubmits_on_eagain(true, kind, 5, false));
        }
        // Connect, accept and file ops report EAGAIN as it is.
        for kind in [
            OpKind::Connect,
            OpKind::Accept,
            OpKind::ReadAt,
            OpKind::Close,
        ] {
            assert!(!resubmits_on_eagain(true, kind, eagain, false), "{kind}");
        }
    }
}
