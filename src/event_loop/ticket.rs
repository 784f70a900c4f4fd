//! Tickets: the polling and blocking-wait styles' claim on a result.
//!
//! `submit` returns a [`Ticket`]; the output waits in the in-flight table until
//! [`EventLoop::poll`](crate::EventLoop::poll) takes it or
//! [`EventLoop::wait`](crate::EventLoop::wait) turns the loop until it is there. A multishot op
//! gives a [`StreamTicket`] whose items queue up until taken.
//!
//! Dropping a ticket is always safe: the id goes on the loop's abandoned list, and on its next
//! turn the loop cancels the op if it is still running and drops its output (buffers, accepted
//! fds) when it arrives. Nothing is freed while the kernel may still write to it.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;

use super::inflight::OpId;

pub(crate) type Abandoned = Rc<RefCell<Vec<OpId>>>;

/// A claim on the output of one submitted op (polling / blocking-wait styles).
#[must_use = "dropping a ticket cancels its op"]
pub struct Ticket<T> {
    id: OpId,
    abandoned: Abandoned,
    taken: Cell<bool>,
    _output: PhantomData<fn() -> T>,
}

/// A claim on the items of a multishot op `M` (items of type `M::Item`).
#[must_use = "dropping a stream ticket cancels its op"]
pub struct StreamTicket<M> {
    id: OpId,
    abandoned: Abandoned,
    _op: PhantomData<fn() -> M>,
}

impl<T> Ticket<T> {
    pub(crate) fn new(id: OpId, abandoned: Abandoned) -> Self {
        Ticket {
            id,
            abandoned,
            taken: Cell::new(false),
            _output: PhantomData,
        }
    }
    /// The op's id (matches [`EventLoop::finished`](crate::EventLoop::finished) and trace logs).
    pub fn id(&self) -> OpId {
        self.id
    }
    pub(crate) fn mark_taken(&self) {
        self.taken.set(true);
    }
    pub(crate) fn belongs_to(&self, abandoned: &Abandoned) -> bool {
        Rc::ptr_eq(&self.abandoned, abandoned)
    }
}

impl<M> StreamTicket<M> {
    pub(crate) fn new(id: OpId, abandoned: Abandoned) -> Self {
        StreamTicket {
            id,
            abandoned,
            _op: PhantomData,
        }
    }
    /// The op's id.
    pub fn id(&self) -> OpId {
        self.id
    }
    pub(crate) fn belongs_to(&self, abandoned: &Abandoned) -> bool {
        Rc::ptr_eq(&self.abandoned, abandoned)
    }
}

impl<T> Drop for Ticket<T> {
    fn drop(&mut self) {
        if !self.taken.get() {
            self.abandoned.borrow_mut().push(self.id);
        }
    }
}

impl<M> Drop for StreamTicket<M> {
    fn drop(&mut self) {
        self.abandoned.borrow_mut().push(self.id);
    }
}

impl<T> fmt::Debug for Ticket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ticket({:?})", self.id)
    }
}

impl<M> fmt::Debug for StreamTicket<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamTicket({:?})", self.id)
    }
}
