//! The pool's doorbell: lets a destructor (a dropped [`PooledConn`](super::PooledConn) or
//! [`HealthDone`](super::HealthDone)) get the pool to act on the loop.
//!
//! A destructor has no `&mut EventLoop`, yet a freed slot may let a queued checkout connect, or
//! `min_idle` need a refill. [`LoopHandle::post`](crate::LoopHandle::post) needs `Send` closures
//! and the pool is `Rc`; so the pool owns a non-blocking Unix datagram socket pair and keeps one
//! [`op::Recv`](crate::op::Recv) in flight on one end while it is open. A destructor records what
//! happened in a `Cell` and sends one datagram on the other end (at most one outstanding: a flag
//! coalesces a burst of drops); the recv's callback runs on the loop, does the pool's
//! bookkeeping and re-arms. Identical on both backends, no `unsafe`.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Socket, Type};

pub(crate) struct Kick {
    rx: Socket,
    tx: Socket,
    /// A datagram is on its way and not yet received.
    rung: Cell<bool>,
}

impl Kick {
    pub(crate) fn new() -> io::Result<Kick> {
        let (rx, tx) = Socket::pair(Domain::UNIX, Type::DGRAM, None)?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        Ok(Kick {
            rx,
            tx,
            rung: Cell::new(false),
        })
    }

    /// The end the pool's recv waits on.
    pub(crate) fn rx_fd(&self) -> RawFd {
        self.rx.as_raw_fd()
    }

    /// Rings, unless a ring is already on its way. A failed send (buffer full, cannot happen
    /// with one datagram outstanding) is ignored: the `Cell` counters still hold the news, and
    /// the pool's next sweep or call picks it up.
    pub(crate) fn ring(&self) {
        if !self.rung.replace(true) {
            if let Err(e) = self.tx.send(&[1]) {
                log::debug!("ringloop pool: kick not sent: {e}");
                self.rung.set(false);
            }
        }
    }

    /// The ring was received: the next one must be sent.
    pub(crate) fn answered(&self) {
        self.rung.set(false);
    }
}
