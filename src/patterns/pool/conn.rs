//! [`PooledConn`]: one upstream connection while a user holds it.
//!
//! The socket is owned here (an `OwnedFd`), so whoever holds the value owns the connection:
//! giving it back with [`Pool::checkin`](super::Pool::checkin) lets the pool reuse or close it;
//! dropping it closes the socket and tells the pool its slot is free (through the pool's kick,
//! see `kick.rs`, since a destructor has no loop to act on).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Weak;
use std::time::Instant;

use super::state::Inner;

/// A pooled connection, owned by its user between checkout and checkin.
///
/// Use [`PooledConn::fd`] with the loop's ops ([`op::Send`](crate::op::Send),
/// [`op::Recv`](crate::op::Recv), ...). Give it back with
/// [`Pool::checkin`](super::Pool::checkin); if the exchange was left half-done, call
/// [`PooledConn::mark_dirty`] first, and if the connection failed, [`PooledConn::mark_broken`].
/// Dropping it instead closes the socket at once (a plain `close`, so cancel your own ops on it
/// first) and frees its slot in the pool.
pub struct PooledConn {
    pub(crate) fd: Option<OwnedFd>,
    pub(crate) id: u64,
    pub(crate) created_at: Instant,
    /// When this connection's (jittered) lifetime ends.
    pub(crate) expires_at: Option<Instant>,
    pub(crate) uses: u64,
    pub(crate) dirty: bool,
    pub(crate) broken: bool,
    /// The pool it came from: checkin checks it, Drop reports to it.
    pub(crate) home: Weak<Inner>,
}

impl PooledConn {
    /// The socket.
    pub fn fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, |fd| fd.as_raw_fd())
    }

    /// This connection's number, unique within its pool (for logs).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// When the connect finished.
    pub fn created_at(&self) -> Instant {
        self.created_at
    }

    /// How many checkouts this connection has served, this one included.
    pub fn uses(&self) -> u64 {
        self.uses
    }

    /// The user left it mid-request (an unread response, a partial write): the pool closes it on
    /// return instead of handing it to the next user, who would read someone else's reply.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// The user saw it fail (EOF, reset): the pool closes it on return and counts it as broken.
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// True once [`PooledConn::mark_dirty`] was called.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// True once [`PooledConn::mark_broken`] was called.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Takes the socket out, so that dropping `self` afterwards is not counted as a drop.
    pub(crate) fn take_fd(&mut self) -> Option<OwnedFd> {
        self.fd.take()
    }
}

impl AsRawFd for PooledConn {
    fn as_raw_fd(&self) -> RawFd {
        self.fd()
    }
}

impl std::fmt::Debug for PooledConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledConn")
            .field("id", &self.id)
            .field("fd", &self.fd())
            .field("uses", &self.uses)
            .field("dirty", &self.dirty)
            .field("broken", &self.broken)
            .finish()
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        // The pool takes the fd out of every connection it closes or keeps, so an fd still here
        // means the user dropped a checked-out connection: the socket closes with the `OwnedFd`,
        // and the pool is told its slot is free.
        if self.fd.take().is_some() {
            if let Some(inner) = self.home.upgrade() {
                inner.conn_dropped();
            }
        }
    }
}
