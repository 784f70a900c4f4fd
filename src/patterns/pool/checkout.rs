//! Checkouts waiting for a connection: how each is answered (callback or ticket), the FCFS queue
//! they wait in, and [`CheckoutTicket`], the polling style's handle.
//!
//! Every checkout becomes a [`Waiter`] in one FIFO queue, even when an idle connection is ready:
//! the answer is always given from the loop (a zero-delay timer runs the pool's serve step), never
//! from inside `checkout`, so a callback never runs on its caller's stack. The queue is a
//! `VecDeque` scanned linearly when a waiter times out: it is bounded by `max_waiters`, and a
//! timeout is the rare path.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use super::{PoolError, PooledConn};
use crate::{EventLoop, TimerId};

/// What a checkout resolves to.
pub(crate) type Outcome = Result<PooledConn, PoolError>;

/// The callback style's continuation.
pub(crate) type Callback = Box<dyn FnOnce(&mut EventLoop, Outcome)>;

/// Where a ticket's outcome waits until polled.
#[derive(Default)]
pub(crate) enum Slot {
    #[default]
    Pending,
    Ready(Outcome),
    Taken,
}

/// How a waiter is answered.
pub(crate) enum Deliver {
    Callback(Callback),
    Ticket(Rc<RefCell<Slot>>),
}

impl Deliver {
    /// A ticket nobody holds any more: serving it would only drop the connection.
    pub(crate) fn is_abandoned(&self) -> bool {
        matches!(self, Deliver::Ticket(slot) if Rc::strong_count(slot) == 1)
    }

    /// Answers. Tickets are filled in place; callbacks run here, so call this only from the
    /// loop (the serve step or a timer), with no pool state borrowed.
    pub(crate) fn deliver(self, lp: &mut EventLoop, outcome: Outcome) {
        match self {
            Deliver::Callback(f) => f(lp, outcome),
            Deliver::Ticket(slot) => *slot.borrow_mut() = Slot::Ready(outcome),
        }
    }
}

/// One queued checkout.
pub(crate) struct Waiter {
    pub(crate) id: u64,
    pub(crate) since: Instant,
    pub(crate) deliver: Deliver,
    /// Its checkout timeout.
    pub(crate) timer: Option<TimerId>,
}

/// The FIFO of waiting checkouts.
#[derive(Default)]
pub(crate) struct Queue {
    waiters: VecDeque<Waiter>,
}

impl Queue {
    pub(crate) fn len(&self) -> usize {
        self.waiters.len()
    }

    pub(crate) fn push(&mut self, w: Waiter) {
        self.waiters.push_back(w);
    }

    /// The first waiter still wanted; abandoned tickets met on the way are dropped.
    pub(crate) fn pop_first(&mut self) -> Option<Waiter> {
        while let Some(w) = self.waiters.pop_front() {
            if !w.deliver.is_abandoned() {
                return Some(w);
            }
        }
        None
    }

    /// Removes the waiter `id` (it timed out).
    pub(crate) fn remove(&mut self, id: u64) -> Option<Waiter> {
        let at = self.waiters.iter().position(|w| w.id == id)?;
        self.waiters.remove(at)
    }

    /// Everyone, in order (the pool is closing).
    pub(crate) fn drain(&mut self) -> Vec<Waiter> {
        self.waiters.drain(..).collect()
    }
}

/// The polling style's handle on one checkout: check it with [`CheckoutTicket::poll`] while the
/// loop turns.
///
/// Dropping a ticket gives up the checkout: a connection meant for it goes back to the pool.
pub struct CheckoutTicket {
    pub(crate) slot: Rc<RefCell<Slot>>,
}

impl CheckoutTicket {
    /// The outcome, once: `Some` the first time it is called after the checkout was answered,
    /// `None` before that and after.
    pub fn poll(&self) -> Option<Result<PooledConn, PoolError>> {
        let mut slot = self.slot.borrow_mut();
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Ready(outcome) => Some(outcome),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// True once the checkout was answered (whether or not the outcome was taken).
    pub fn is_done(&self) -> bool {
        !matches!(*self.slot.borrow(), Slot::Pending)
    }
}

impl std::fmt::Debug for CheckoutTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckoutTicket")
            .field("done", &self.is_done())
            .finish()
    }
}
