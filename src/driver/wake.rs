//! The wake-up eventfd: how another thread interrupts a loop that is asleep in the kernel.
//!
//! Both backends keep a read armed on this fd (io_uring: a `READ` op with a reserved user_data;
//! epoll: a registration with a reserved token). A writer on any thread adds to the counter, the
//! read completes, and the loop returns from its wait. `pending` coalesces wake-ups: only the first
//! `wake()` after the loop last drained pays for the `write(2)`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// An eventfd shared between the loop and its `LoopHandle`s.
#[derive(Debug)]
pub(crate) struct WakeFd {
    fd: OwnedFd,
    pending: AtomicBool,
}

impl WakeFd {
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: eventfd has no pointer arguments; a non-negative return is a fresh fd we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(WakeFd {
            fd,
            pending: AtomicBool::new(false),
        })
    }

    /// Wakes the loop unless a wake-up is already on its way. Safe to call from any thread.
    pub(crate) fn wake(&self) -> io::Result<()> {
        if self.pending.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live stack variable to an eventfd we own.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        if n < 0 {
            let err = io::Error::last_os_error();
            // EAGAIN means the counter is saturated: the loop is certain to wake anyway.
            if err.raw_os_error() != Some(libc::EAGAIN) {
                self.pending.store(false, Ordering::Release);
                return Err(err);
            }
        }
        Ok(())
    }

    /// Called by the loop once it has woken, before it looks at posted work, so that a post made
    /// after this point triggers a fresh wake-up.
    pub(crate) fn clear(&self) {
        self.pending.store(false, Ordering::Release);
    }

    /// Empties the counter (epoll backend; io_uring reads it with an op instead).
    pub(crate) fn drain(&self) {
        let mut buf = 0u64;
        // SAFETY: reads at most 8 bytes into a live stack variable; the fd is non-blocking.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut buf as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for WakeFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
