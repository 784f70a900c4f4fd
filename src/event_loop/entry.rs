//! Type-erased in-flight entries: an op plus where its completion goes.
//!
//! The table holds ops of every type, so each is boxed behind one of two small traits: a
//! once-op completes exactly once ([`OnceEntry`]); a multishot op yields a stream ([`MultiEntry`]).
//! The delivery choice — callback or ticket — is a field, not a different op: that is how one op
//! type serves all three completion styles.

use std::any::Any;
use std::collections::VecDeque;

use super::entry_cache::EntryCache;
use super::inflight::{OpId, State};
use super::EventLoop;
use crate::op::multishot::{MultiCtx, MultiOp, Step};
use crate::op::{Attempt, Op};

#[cfg(ringloop_uring)]
use io_uring::squeue::Entry;

/// Where a once-op's output goes. The callback is stored inline (generic `F`), so a callback op
/// lives in one allocation — the entry, often a kept one (`entry_cache`) — not two.
pub(crate) enum Delivery<F> {
    Callback(F),
    Ticket,
}

/// The callback type of ticket ops (never called).
pub(crate) type NoCallback<T> = fn(&mut EventLoop, T);

pub(crate) trait OnceEntry {
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry;
    fn epoll_attempt(&mut self) -> Attempt;
    /// Consumes the op: builds the output and hands it to its owner — the callback, or the
    /// slot (as [`State::Done`], this same entry holding the output until the ticket is polled).
    /// `detached`: the owner dropped its ticket (the slot's flag, passed in so the slot is not
    /// looked up again).
    fn complete(self: Box<Self>, lp: &mut EventLoop, id: OpId, res: i32, detached: bool);
    /// After a ticket op completed: moves its output into `into`, which must be an
    /// `Option<O::Output>` (anything else is left as it is).
    fn take_output(&mut self, into: &mut dyn Any);
    /// Hands the (emptied) box to the cache, for the next op of its type.
    fn recycle(self: Box<Self>, cache: &mut EntryCache);
}

/// An op until it completes, then (ticket style) its output until it is polled. One enum, so
/// the output lives in the allocation the op had: a ticket op costs one allocation, not two.
enum Stage<O: Op> {
    Pending(O),
    Done(O::Output),
    Taken,
}

pub(crate) struct Once<O: Op, F> {
    stage: Stage<O>,
    delivery: Delivery<F>,
}

impl<O: Op, F> Once<O, F> {
    pub(crate) fn new(op: O, delivery: Delivery<F>) -> Self {
        Once {
            stage: Stage::Pending(op),
            delivery,
        }
    }

    /// The entry boxed: in a kept box of this type if there is one (see `entry_cache`).
    pub(crate) fn boxed(self, cache: &mut EntryCache) -> Box<Self>
    where
        O: 'static,
        F: 'static,
    {
        match cache.take::<Self>() {
            Some(mut kept) => {
                *kept = self;
                kept
            }
            None => Box::new(self),
        }
    }

    /// The op, while it is pending: a slot in [`State::Once`] always holds one (its entry moves
    /// to [`State::Done`] when it completes), so the loop never asks for it afterwards.
    fn op(&mut self) -> &mut O {
        match &mut self.stage {
            Stage::Pending(op) => op,
            Stage::Done(_) | Stage::Taken => unreachable!("only a pending op is submitted"),
        }
    }
}

impl<O: Op, F: FnOnce(&mut EventLoop, O::Output) + 'static> OnceEntry for Once<O, F> {
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        self.op().uring_entry()
    }
    fn epoll_attempt(&mut self) -> Attempt {
        self.op().epoll_attempt()
    }
    fn complete(mut self: Box<Self>, lp: &mut EventLoop, id: OpId, res: i32, detached: bool) {
        let Stage::Pending(op) = std::mem::replace(&mut self.stage, Stage::Taken) else {
            return;
        };
        let output = op.complete(res);
        if let Delivery::Callback(callback) =
            std::mem::replace(&mut self.delivery, Delivery::Ticket)
        {
            lp.inflight.remove(id);
            // Emptied (its op and callback are out): back to the cache before the callback
            // runs, so the op the callback submits next can move into it.
            lp.entry_cache.give(self);
            callback(lp, output);
            return;
        }
        if detached {
            // Nobody will ever poll: drop the output now (closing any fd it carries).
            lp.inflight.remove(id);
            return;
        }
        self.stage = Stage::Done(output);
        if let Some(slot) = lp.inflight.get_mut(id) {
            slot.state = State::Done(self);
        }
        lp.finished.push(id);
    }
    fn take_output(&mut self, into: &mut dyn Any) {
        let Some(into) = into.downcast_mut::<Option<O::Output>>() else {
            return;
        };
        if let Stage::Done(output) = std::mem::replace(&mut self.stage, Stage::Taken) {
            *into = Some(output);
        }
    }
    fn recycle(self: Box<Self>, cache: &mut EntryCache) {
        cache.give(self);
    }
}

/// What the loop should do with a multishot op after an event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Still armed (io_uring `MORE`), or try again next turn (epoll budget used up).
    Continue,
    /// Submit it again (io_uring ended the multishot without an error).
    Rearm,
    /// Wait for readiness on this fd (epoll).
    Wait(std::os::fd::RawFd, crate::driver::Direction),
    /// Wait for a pool buffer.
    Starved,
    /// The stream has ended.
    End,
}

pub(crate) trait MultiEntry {
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry;
    /// One io_uring completion (also used for a cancel on epoll).
    fn on_completion(
        &mut self,
        lp: &mut EventLoop,
        id: OpId,
        res: i32,
        flags: u32,
        more: bool,
    ) -> Next;
    /// Runs the epoll accept/recv loop for at most `budget` items. `clean_edge`: the run follows
    /// a readable edge that reported no hang-up or error.
    fn run_epoll(&mut self, lp: &mut EventLoop, id: OpId, budget: usize, clean_edge: bool) -> Next;
    fn as_any(&mut self) -> &mut dyn Any;
    /// True for the ticket style (items queue up for the owner).
    fn has_queue(&self) -> bool;
}

/// Where a multishot op's items go. As with [`Delivery`], the callback is stored inline: each
/// item is handed over without a second pointer to chase (at thousands of connections, a cache
/// miss per message).
pub(crate) enum Sink<T, F> {
    Callback(F),
    Queue(VecDeque<T>),
}

pub(crate) struct Multi<M: MultiOp, F> {
    pub op: M,
    pub sink: Sink<M::Item, F>,
}

impl<M: MultiOp, F: FnMut(&mut EventLoop, M::Item)> Multi<M, F> {
    fn deliver(&mut self, lp: &mut EventLoop, id: OpId, item: M::Item) {
        lp.stats.multishot_items += 1;
        match &mut self.sink {
            Sink::Callback(callback) => callback(lp, item),
            Sink::Queue(queue) => {
                // Listed in `finished()` once per batch: the owner drains the queue with poll_next.
                if queue.is_empty() {
                    lp.finished.push(id);
                }
                queue.push_back(item)
            }
        }
    }

    /// Items waiting in a ticket's queue.
    pub(crate) fn pop(&mut self) -> Option<M::Item> {
        match &mut self.sink {
            Sink::Queue(queue) => queue.pop_front(),
            Sink::Callback(_) => None,
        }
    }
}

impl<M: MultiOp, F: FnMut(&mut EventLoop, M::Item) + 'static> MultiEntry for Multi<M, F> {
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        self.op.uring_entry()
    }

    fn on_completion(
        &mut self,
        lp: &mut EventLoop,
        id: OpId,
        res: i32,
        flags: u32,
        more: bool,
    ) -> Next {
        let step = self.op.uring_item(
            res,
            flags,
            &MultiCtx {
                pool: lp.pool.as_ref(),
            },
        );
        match step {
            Step::Item(item) => {
                self.deliver(lp, id, item);
                if more {
                    Next::Continue
                } else {
                    Next::Rearm
                }
            }
            Step::Final(item) => {
                self.deliver(lp, id, item);
                Next::End
            }
            Step::Wait(..) if more => Next::Continue,
            Step::Wait(..) => Next::Rearm,
            Step::Starved => Next::Starved,
        }
    }

    fn run_epoll(&mut self, lp: &mut EventLoop, id: OpId, budget: usize, clean_edge: bool) -> Next {
        for _ in 0..budget {
            // A short stream read after a clean edge drained the socket (see `TOKEN_CLEAN_EDGE`):
            // wait for the next edge rather than make a read that can only say EAGAIN.
            if self.op.epoll_drained() && clean_edge {
                return Next::Wait(self.op.fd(), crate::driver::Direction::Read);
            }
            lp.stats.syscalls += 1;
            let step = self.op.epoll_attempt(&MultiCtx {
                pool: lp.pool.as_ref(),
            });
            // Only an attempt that produced an item is a completion (as one CQE is on io_uring);
            // one that hit EAGAIN or an empty pool handed nothing to the owner.
            if matches!(step, Step::Item(_) | Step::Final(_)) {
                lp.stats.completions += 1;
            }
            if log::log_enabled!(log::Level::Trace) {
                let what = match &step {
                    Step::Item(_) => "item",
                    Step::Final(_) => "last item",
                    Step::Wait(..) => "would block",
                    Step::Starved => "no pool buffer free",
                };
                log::trace!("{id} {} epoll attempt: {what}", M::KIND);
            }
            match step {
                Step::Item(item) => {
                    if let Some(fd) = M::item_fd(&item) {
                        lp.fd_opened(fd);
                    }
                    self.deliver(lp, id, item)
                }
                Step::Final(item) => {
                    self.deliver(lp, id, item);
                    return Next::End;
                }
                Step::Wait(fd, dir) => return Next::Wait(fd, dir),
                Step::Starved => return Next::Starved,
            }
            // The callback may have cancelled this very stream.
            if lp.inflight.get(id).is_none_or(|s| s.cancel_requested) {
                break;
            }
        }
        Next::Continue
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn has_queue(&self) -> bool {
        matches!(self.sink, Sink::Queue(_))
    }
}
