//! Submitting ops, in the three completion styles, and cancelling them.
//!
//! | style | once-op | multishot op |
//! |---|---|---|
//! | callback (async, push) | [`EventLoop::submit_with`] | [`EventLoop::submit_multi_with`] |
//! | polling (async, pull) | [`EventLoop::submit`] + [`EventLoop::poll`] | [`EventLoop::submit_multi`] + [`EventLoop::poll_next`] |
//! | blocking wait (sync) | [`EventLoop::submit`] + [`EventLoop::wait`] | [`EventLoop::wait_next`] |
//!
//! All of them go through `start`/`start_multi` below: one in-flight table, one route to the
//! driver; the style only decides where the output is delivered.

use std::io;
use std::time::Instant;

use super::entry::{Delivery, Multi, NoCallback, Once, Sink};
use super::inflight::{OpId, Parked, State};
use super::ticket::{StreamTicket, Ticket};
use super::{EventLoop, TimerAction};
use crate::driver::Driver;
use crate::op::multishot::MultiOp;
use crate::op::{Attempt, Op, Route};

fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

impl EventLoop {
    /// Callback style: submits `op`; the loop calls `f` with its output when it completes.
    /// Returns the op's id (for [`EventLoop::cancel`]).
    pub fn submit_with<O: Op>(
        &mut self,
        op: O,
        f: impl FnOnce(&mut EventLoop, O::Output) + 'static,
    ) -> OpId {
        self.start(op, Delivery::Callback(f))
    }

    /// Polling style: submits `op` and returns a ticket; collect the output with
    /// [`EventLoop::poll`] (or block for it with [`EventLoop::wait`]).
    pub fn submit<O: Op>(&mut self, op: O) -> Ticket<O::Output> {
        let id = self.start::<O, NoCallback<O::Output>>(op, Delivery::Ticket);
        Ticket::new(id, self.abandoned.clone())
    }

    /// Takes the ticket's output if the op has completed. Never blocks, never turns the loop.
    /// Returns `None` before completion, and after the output has been taken.
    pub fn poll<T: 'static>(&mut self, ticket: &Ticket<T>) -> Option<T> {
        // Ids are per loop: a ticket from another loop must not take this loop's outputs.
        if !ticket.belongs_to(&self.abandoned) {
            return None;
        }
        let slot = self.inflight.get(ticket.id())?;
        if !matches!(slot.state, State::Done(_)) {
            return None;
        }
        let State::Done(mut entry) = self.inflight.remove(ticket.id())?.state else {
            return None;
        };
        ticket.mark_taken();
        let mut output: Option<T> = None;
        entry.take_output(&mut output);
        entry.recycle(&mut self.entry_cache);
        output
    }

    /// Blocking-wait style: turns the loop (serving every other op, timer and callback meanwhile)
    /// until this op completes, and returns its output. The op's own error is inside its output;
    /// the `Err` here means the loop failed, or was stopped ([`EventLoop::stop`] or
    /// [`LoopHandle::stop`](crate::LoopHandle::stop)) while waiting: then the error is
    /// `ErrorKind::Interrupted` and the op is cancelled, so a synchronous caller can unwind.
    pub fn wait<T: 'static>(&mut self, ticket: Ticket<T>) -> io::Result<T> {
        loop {
            if let Some(output) = self.poll(&ticket) {
                return Ok(output);
            }
            if !ticket.belongs_to(&self.abandoned) || self.inflight.get(ticket.id()).is_none() {
                return Err(io::Error::other("ticket does not belong to this loop"));
            }
            self.turn(None)?;
            self.check_stopped()?;
        }
    }

    fn check_stopped(&mut self) -> io::Result<()> {
        if self.stopped {
            self.stopped = false;
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "event loop stopped while waiting",
            ));
        }
        Ok(())
    }

    /// Callback style for a multishot op: `f` gets every item until the stream ends.
    pub fn submit_multi_with<M: MultiOp>(
        &mut self,
        op: M,
        f: impl FnMut(&mut EventLoop, M::Item) + 'static,
    ) -> OpId {
        self.start_multi(op, Sink::Callback(f))
    }

    /// Polling style for a multishot op: items queue up until taken with
    /// [`EventLoop::poll_next`] or [`EventLoop::wait_next`].
    pub fn submit_multi<M: MultiOp>(&mut self, op: M) -> StreamTicket<M> {
        let id = self.start_multi::<M, NoCallback<M::Item>>(op, Sink::Queue(Default::default()));
        StreamTicket::new(id, self.abandoned.clone())
    }

    /// The next queued item of a stream, if any. Never blocks.
    pub fn poll_next<M: MultiOp>(&mut self, ticket: &StreamTicket<M>) -> Option<M::Item> {
        if !ticket.belongs_to(&self.abandoned) {
            return None;
        }
        let slot = self.inflight.get_mut(ticket.id())?;
        let State::Multi(entry) = &mut slot.state else {
            return None;
        };
        entry
            .as_any()
            .downcast_mut::<Multi<M, NoCallback<M::Item>>>()?
            .pop()
    }

    /// Blocks (turning the loop) until the stream's next item; `None` once it has ended and
    /// every item was taken. Like [`EventLoop::wait`], returns `Interrupted` if the loop is stopped.
    pub fn wait_next<M: MultiOp>(
        &mut self,
        ticket: &StreamTicket<M>,
    ) -> io::Result<Option<M::Item>> {
        if !ticket.belongs_to(&self.abandoned) {
            return Err(io::Error::other("stream ticket belongs to another loop"));
        }
        loop {
            if let Some(item) = self.poll_next::<M>(ticket) {
                return Ok(Some(item));
            }
            match self.inflight.get(ticket.id()) {
                Some(slot) if slot.parked != Parked::Nowhere => {}
                _ => return Ok(None),
            }
            self.turn(None)?;
            self.check_stopped()?;
        }
    }

    /// Requests cancellation of an op. Returns true if a cancel was issued (the op was in flight
    /// and not already being cancelled).
    ///
    /// The op still completes exactly once, with `ECANCELED` — or with its real result if it
    /// finished first — and its buffers come back with that completion. On io_uring the cancel is
    /// an `IORING_OP_ASYNC_CANCEL`; until its effect is seen, the kernel still owns the op.
    pub fn cancel(&mut self, id: OpId) -> bool {
        let Some(slot) = self.inflight.get_mut(id) else {
            return false;
        };
        if slot.cancel_requested || matches!(slot.state, State::Done(_)) {
            return false;
        }
        slot.cancel_requested = true;
        log::trace!("cancel {id} {} parked={:?}", slot.kind, slot.parked);
        match slot.parked {
            Parked::Kernel =>
            {
                #[cfg(ringloop_uring)]
                if let Driver::Uring(d) = &mut self.driver {
                    if let Err(e) = d.cancel(id.user_data()) {
                        log::warn!("ringloop: cancel of {id} could not be queued: {e}");
                    }
                }
            }
            Parked::Fd(fd) => {
                if let Driver::Epoll(d) = &mut self.driver {
                    d.unpark(fd, id.user_data());
                }
                self.complete_later(id, -libc::ECANCELED);
            }
            Parked::Timer(timer) => {
                self.timers.cancel(timer);
                self.complete_later(id, -libc::ECANCELED);
            }
            Parked::Starved => {
                self.starved.retain(|s| *s != id);
                self.complete_later(id, -libc::ECANCELED);
            }
            // In the retry list: it will be skipped there (see `run_retries`).
            Parked::Retry => self.complete_later(id, -libc::ECANCELED),
            // Ready: its completion is already queued and stands. Nowhere: a finished stream.
            // Busy (no parking yet) is handled where the callback returns.
            Parked::Ready | Parked::Nowhere => {}
        }
        true
    }

    fn start<O: Op, F: FnOnce(&mut EventLoop, O::Output) + 'static>(
        &mut self,
        op: O,
        delivery: Delivery<F>,
    ) -> OpId {
        let (kind, fd, route) = (O::KIND, op.fd(), op.route());
        let validated = op.validate();
        let nonblocking = op.needs_nonblocking_fd();
        let id = self.inflight.insert(
            kind,
            fd,
            State::Once(Once::new(op, delivery).boxed(&mut self.entry_cache)),
        );
        self.stats.submitted[kind.index()] += 1;
        self.in_flight += 1;
        log::trace!("submit {id} {kind} fd={fd:?} route={route:?}");
        if let Err(errno) = validated {
            self.complete_later(id, -errno);
            return id;
        }
        match route {
            Route::Timer(after) => {
                let timer = self.timers.insert(
                    super::timers::deadline_after(Instant::now(), after),
                    None,
                    TimerAction::Complete(id),
                );
                self.park(id, Parked::Timer(timer));
            }
            Route::CloseFd(fd) => self.start_close(id, fd),
            Route::Kernel => {
                if kind == crate::op::OpKind::Connect {
                    if let Some(fd) = fd {
                        self.fd_opened(fd);
                    }
                }
                if nonblocking {
                    if let (Driver::Epoll(d), Some(fd)) = (&mut self.driver, fd) {
                        if let Err(e) = d.ensure_nonblocking(fd) {
                            self.complete_later(id, -errno_of(&e));
                            return id;
                        }
                    }
                }
                self.send_to_driver(id, true);
            }
        }
        id
    }

    pub(crate) fn park(&mut self, id: OpId, parked: Parked) {
        if let Some(slot) = self.inflight.get_mut(id) {
            slot.parked = parked;
        }
    }

    /// io_uring: queue the SQE. epoll: try the syscall now, park on readiness if it would block.
    pub(crate) fn send_to_driver(&mut self, id: OpId, first_attempt: bool) {
        let Some(slot) = self.inflight.get_mut(id) else {
            return;
        };
        let State::Once(entry) = &mut slot.state else {
            return;
        };
        match &mut self.driver {
            #[cfg(ringloop_uring)]
            Driver::Uring(d) => {
                let sqe = entry.uring_entry().user_data(id.user_data());
                // SAFETY: the SQE points into the op boxed in this slot. The box is neither moved
                // nor dropped until the completion with this user_data is dispatched: cancel only
                // asks the kernel, dropped tickets detach, and Drop reaps or leaks kernel-held ops.
                match unsafe { d.push(&sqe) } {
                    Ok(()) => slot.parked = Parked::Kernel,
                    Err(e) => self.complete_later(id, -errno_of(&e)),
                }
            }
            Driver::Epoll(d) => {
                // A nop makes no syscall: do not let it inflate the count.
                if slot.kind != crate::op::OpKind::Nop {
                    self.stats.syscalls += 1;
                }
                match entry.epoll_attempt() {
                    Attempt::Done(res) => {
                        if first_attempt {
                            self.stats.immediate += 1;
                        }
                        self.complete_later(id, res);
                    }
                    Attempt::Wait(fd, dir) => match d.park(fd, dir, id.user_data()) {
                        Ok(()) => {
                            slot.parked = Parked::Fd(fd);
                            self.stats.parked += 1;
                            log::trace!("park {id} fd={fd} {dir:?}");
                        }
                        Err(e) => self.complete_later(id, -errno_of(&e)),
                    },
                }
            }
        }
    }

    /// Close: cancel everything pending on the fd, then close it.
    fn start_close(&mut self, id: OpId, fd: std::os::fd::RawFd) {
        // Besides starved streams, epoll multishot ops queued for their next attempt (just armed,
        // or out of budget) or running right now (this Close comes from their callback) are not
        // parked in the driver either, so `forget_fd` below would miss them and their next
        // attempt would run against the closed number (EBADF, or another file that reused it).
        // Marked cancelled here, they end with ECANCELED instead (`run_retries`, `run_epoll`).
        let retry_ids = self
            .retry
            .iter()
            .map(|&token| OpId::from_user_data(token & !crate::driver::TOKEN_CLEAN_EDGE));
        let unparked_on_fd: Vec<OpId> = self
            .starved
            .iter()
            .copied()
            .chain(retry_ids)
            .chain(self.running_multi.iter().copied())
            .filter(|s| {
                self.inflight
                    .get(*s)
                    .is_some_and(|slot| slot.fd == Some(fd))
            })
            .collect();
        for op in unparked_on_fd {
            self.cancel(op);
        }
        match &mut self.driver {
            #[cfg(ringloop_uring)]
            Driver::Uring(d) => {
                let Some(slot) = self.inflight.get_mut(id) else {
                    return;
                };
                let State::Once(entry) = &mut slot.state else {
                    return;
                };
                let sqe = entry.uring_entry().user_data(id.user_data());
                match d.cancel_fd_then(fd, sqe) {
                    Ok(()) => slot.parked = Parked::Kernel,
                    Err(e) => self.complete_later(id, -errno_of(&e)),
                }
            }
            Driver::Epoll(d) => {
                for token in d.forget_fd(fd) {
                    let op = OpId::from_user_data(token);
                    if let Some(slot) = self.inflight.get_mut(op) {
                        slot.cancel_requested = true;
                    }
                    self.complete_later(op, -libc::ECANCELED);
                }
                self.send_to_driver(id, true);
            }
        }
    }

    fn start_multi<M: MultiOp, F: FnMut(&mut EventLoop, M::Item) + 'static>(
        &mut self,
        op: M,
        sink: Sink<M::Item, F>,
    ) -> OpId {
        let (kind, fd) = (M::KIND, op.fd());
        let pool = if op.uses_pool() {
            Some(self.ensure_pool())
        } else {
            None
        };
        let is_accept = kind == crate::op::OpKind::AcceptMulti;
        let id = self
            .inflight
            .insert(kind, Some(fd), State::Multi(Box::new(Multi { op, sink })));
        self.stats.submitted[kind.index()] += 1;
        self.in_flight += 1;
        log::trace!("submit {id} {kind} fd={fd} (multishot)");
        if let Some(Err(e)) = pool {
            self.complete_later(id, -errno_of(&e));
            return id;
        }
        if is_accept {
            self.fd_opened(fd);
            if let Driver::Epoll(d) = &mut self.driver {
                if let Err(e) = d.ensure_nonblocking(fd) {
                    self.complete_later(id, -errno_of(&e));
                    return id;
                }
            }
        }
        self.arm_multi(id);
        id
    }

    /// (Re)starts a multishot op: io_uring gets a new SQE; epoll runs it on the next turn.
    pub(crate) fn arm_multi(&mut self, id: OpId) {
        let Some(slot) = self.inflight.get_mut(id) else {
            return;
        };
        let State::Multi(entry) = &mut slot.state else {
            return;
        };
        match &mut self.driver {
            #[cfg(ringloop_uring)]
            Driver::Uring(d) => {
                let sqe = entry.uring_entry().user_data(id.user_data());
                // SAFETY: multishot SQEs point at no user memory (the kernel picks pool buffers
                // from the registered ring, which the loop keeps alive).
                match unsafe { d.push(&sqe) } {
                    Ok(()) => slot.parked = Parked::Kernel,
                    Err(e) => self.complete_later(id, -errno_of(&e)),
                }
            }
            Driver::Epoll(_) => {
                slot.parked = Parked::Retry;
                self.retry.push(id.user_data());
            }
        }
    }
}
