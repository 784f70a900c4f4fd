//! The io_uring driver: a submission queue we fill, a completion queue we drain.
//!
//! The loop hands this driver ready-made submission entries tagged with a `user_data` token and
//! gets back [`RawCompletion`]s carrying the same token. The driver owns three concerns the loop
//! should not see:
//!
//! * a full submission queue is flushed to the kernel and the push retried (never an error);
//! * the wait has its timeout passed to `io_uring_enter` itself (`IORING_ENTER_EXT_ARG`, 5.11+),
//!   so sleeping until the next timer costs no extra op and no busy polling;
//! * completions the kernel had to hold back (CQ overflow, kept thanks to `IORING_FEAT_NODROP`) are
//!   flushed with another enter until the overflow flag clears, so no completion is lost.
//!
//! It also keeps a read armed on the loop's wake eventfd (token [`TOKEN_WAKE`]).

pub(crate) mod buf_ring;

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring};

use super::wake::WakeFd;
use super::{RawCompletion, TOKEN_CANCEL, TOKEN_WAKE};
use crate::event_loop::stats::DriverCounters;

pub(crate) struct UringDriver {
    ring: IoUring,
    wake: Arc<WakeFd>,
    /// Where the wake read lands. Boxed so its address is stable; never freed while the read is
    /// in the kernel (see `Drop`).
    wake_buf: Box<u64>,
    wake_armed: bool,
    /// Completions reaped while making room in a full queue; handed out by the next `wait`.
    backlog: Vec<RawCompletion>,
    pub(crate) counters: DriverCounters,
}

impl UringDriver {
    pub(crate) fn new(ring: IoUring, wake: Arc<WakeFd>) -> Self {
        UringDriver {
            ring,
            wake,
            wake_buf: Box::new(0),
            wake_armed: false,
            backlog: Vec::new(),
            counters: DriverCounters::default(),
        }
    }

    pub(crate) fn ring(&self) -> &IoUring {
        &self.ring
    }

    /// Queues one entry, flushing the queue to the kernel first if it is full.
    ///
    /// # Safety
    /// Every pointer in `entry` must stay valid, and must not be read or written by anyone but the
    /// kernel, until the completion carrying the entry's user_data has been reaped.
    pub(crate) unsafe fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: forwarded from this function's contract.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            self.counters.sq_full_flushes += 1;
            self.enter_submit()?;
        }
    }

    /// Queues an entry that carries no pointers (cancel, close, nop), so it is safe by construction.
    fn push_plain(&mut self, entry: squeue::Entry) -> io::Result<()> {
        // SAFETY: callers only pass entries without pointers into user memory.
        unsafe { self.push(&entry) }
    }

    /// Asks the kernel to cancel the op tagged `user_data`. Best effort: the op may complete
    /// normally first; either way exactly one (final) completion arrives for it.
    pub(crate) fn cancel(&mut self, user_data: u64) -> io::Result<()> {
        self.push_plain(
            opcode::AsyncCancel::new(user_data)
                .build()
                .user_data(TOKEN_CANCEL),
        )
    }

    /// Cancels every op in the kernel (used when the loop is dropped).
    pub(crate) fn cancel_all(&mut self) -> io::Result<()> {
        let all = types::CancelBuilder::any();
        self.push_plain(
            opcode::AsyncCancel2::new(all)
                .build()
                .user_data(TOKEN_CANCEL),
        )
    }

    /// Cancels every op on `fd`, then submits `then` (a close): the hard link makes it run after
    /// the cancel whatever the cancel's result (ENOENT when nothing was pending).
    pub(crate) fn cancel_fd_then(&mut self, fd: RawFd, then: squeue::Entry) -> io::Result<()> {
        let cancel = opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fd(fd)).all())
            .build()
            .user_data(TOKEN_CANCEL)
            .flags(squeue::Flags::IO_HARDLINK);
        // Both must land in the same batch for the link to hold: make room for two first.
        let room = {
            let sq = self.ring.submission();
            sq.capacity() - sq.len()
        };
        if room < 2 {
            self.enter_submit()?;
        }
        self.push_plain(cancel)?;
        // SAFETY: forwarded: `then` is a close, which carries no pointers.
        unsafe { self.push(&then) }
    }

    /// True when entries wait in the submission queue (pushed since the last enter).
    pub(crate) fn has_unsubmitted(&mut self) -> bool {
        !self.ring.submission().is_empty()
    }

    /// Submits queued entries without waiting (for hosts that wait on the ring fd themselves).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if !self.ring.submission().is_empty() {
            self.enter_submit()?;
        }
        Ok(())
    }

    /// Submits what is queued, sleeps until at least one completion or `timeout`, and appends
    /// everything reaped to `out`. Returns true if the wake eventfd fired.
    pub(crate) fn wait(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<RawCompletion>,
    ) -> io::Result<bool> {
        if !self.wake_armed {
            self.arm_wake()?;
        }
        if !self.backlog.is_empty() {
            out.append(&mut self.backlog);
        }
        let ready = !out.is_empty() || !self.ring.completion().is_empty();
        let timeout = if ready { Some(Duration::ZERO) } else { timeout };
        let res = match timeout {
            Some(t) if t.is_zero() => {
                let sq = self.ring.submission();
                if !sq.is_empty() || sq.cq_overflow() || sq.taskrun() {
                    drop(sq);
                    self.counters.enters += 1;
                    // With the TASKRUN flag up, `submit` enters with GETEVENTS (io-uring
                    // 0.7.16), which is what makes DEFER_TASKRUN's deferred completions run
                    // while the loop stays busy (tests/busy_loop.rs).
                    self.ring.submit()
                } else {
                    Ok(0)
                }
            }
            Some(t) => {
                let ts = types::Timespec::new()
                    .sec(t.as_secs())
                    .nsec(t.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.counters.enters += 1;
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => {
                self.counters.enters += 1;
                self.ring.submit_and_wait(1)
            }
        };
        if let Err(e) = res {
            // ETIME: the timeout ran out; EINTR: a signal; EBUSY: the CQ is full and must be
            // drained first. All three mean "go and reap".
            match e.raw_os_error() {
                Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) => {}
                _ => return Err(e),
            }
        }
        Ok(self.reap(out))
    }

    /// Drains the completion queue, and the kernel's overflow list behind it.
    #[inline]
    fn reap(&mut self, out: &mut Vec<RawCompletion>) -> bool {
        let mut woken = false;
        loop {
            for cqe in self.ring.completion() {
                match cqe.user_data() {
                    TOKEN_WAKE => {
                        self.wake_armed = false;
                        woken = true;
                    }
                    TOKEN_CANCEL => {}
                    user_data => out.push(RawCompletion {
                        user_data,
                        res: cqe.result(),
                        flags: cqe.flags(),
                    }),
                }
            }
            if !self.ring.submission().cq_overflow() {
                break;
            }
            // The kernel is holding completions that did not fit: an enter with GETEVENTS moves
            // them into the (now drained) queue.
            self.counters.cq_overflows += 1;
            self.counters.enters += 1;
            if self.ring.submit().is_err() {
                break;
            }
        }
        if woken {
            self.wake.clear();
        }
        woken
    }

    fn enter_submit(&mut self) -> io::Result<()> {
        self.counters.enters += 1;
        match self.ring.submit() {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                // Completion queue full: drain it into the backlog so the kernel can go on.
                let mut backlog = std::mem::take(&mut self.backlog);
                let woken = self.reap(&mut backlog);
                self.backlog = backlog;
                self.wake_armed &= !woken;
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(()),
            Err(e) => Err(e),
        }
    }

    #[cold]
    fn arm_wake(&mut self) -> io::Result<()> {
        let entry = opcode::Read::new(
            types::Fd(self.wake.as_raw_fd()),
            (&mut *self.wake_buf as *mut u64).cast(),
            8,
        )
        .build()
        .user_data(TOKEN_WAKE);
        // SAFETY: `wake_buf` is a heap allocation owned by the driver; it is neither moved nor
        // freed until the read's completion is reaped (Drop waits for it, or leaks the buffer).
        unsafe { self.push(&entry)? };
        self.wake_armed = true;
        Ok(())
    }
}

impl AsRawFd for UringDriver {
    fn as_raw_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        if !self.wake_armed {
            return;
        }
        // The wake read may still be in the kernel: cancel it and wait for its completion before
        // `wake_buf` is freed. If it does not come back in time, leak the 8 bytes instead.
        let _ = self.cancel(TOKEN_WAKE);
        let mut sink = Vec::new();
        for _ in 0..100 {
            self.drain(Duration::from_millis(10), &mut sink);
            if !self.wake_armed {
                return;
            }
        }
        std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
    }
}

impl UringDriver {
    /// Waits up to `timeout` and reaps, without re-arming the wake read: used while shutting down.
    pub(crate) fn drain(&mut self, timeout: Duration, out: &mut Vec<RawCompletion>) {
        let ts = types::Timespec::new()
            .sec(timeout.as_secs())
            .nsec(timeout.subsec_nanos());
        let args = types::SubmitArgs::new().timespec(&ts);
        let _ = self.ring.submitter().submit_with_args(1, &args);
        out.append(&mut self.backlog);
        self.reap(out);
    }
}
