//! Ops that do no I/O: `Nop` (a full round trip through the backend, the unit of loop overhead)
//! and `Timeout` (a one-shot timer that completes like any other op).

use std::io;
use std::time::Duration;

use super::{result, Attempt, Op, OpKind, Route};

#[cfg(ringloop_uring)]
use io_uring::{opcode, squeue::Entry};

/// Does nothing, through the whole submission/completion path (a NOP SQE on io_uring; an
/// immediate completion on epoll). Handy to measure what the loop itself costs.
#[derive(Debug, Default)]
pub struct Nop;

// SAFETY: the entry has no pointers.
unsafe impl Op for Nop {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Nop;

    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        opcode::Nop::new().build()
    }
    fn epoll_attempt(&mut self) -> Attempt {
        Attempt::Done(0)
    }
    fn complete(self, res: i32) -> Self::Output {
        result(res).map(drop)
    }
}

/// Completes after a duration: `Ok(())` when it expires, `Err(ECANCELED)` if cancelled first.
///
/// Served by the loop's timer heap on both backends (O(log n) per timer, one wait timeout for
/// all of them) rather than by one kernel timeout op each.
#[derive(Debug)]
pub struct Timeout {
    after: Duration,
}

impl Timeout {
    /// Expires `after` from submission.
    pub fn new(after: Duration) -> Self {
        Timeout { after }
    }
}

// SAFETY: never sent to the kernel (routed to the loop's timers).
unsafe impl Op for Timeout {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Timeout;

    fn route(&self) -> Route {
        Route::Timer(self.after)
    }
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        unreachable!("timeouts are routed to the loop's timer heap")
    }
    fn epoll_attempt(&mut self) -> Attempt {
        unreachable!("timeouts are routed to the loop's timer heap")
    }
    fn complete(self, res: i32) -> Self::Output {
        if res == -libc::ETIME {
            Ok(())
        } else {
            result(res).map(drop)
        }
    }
}
