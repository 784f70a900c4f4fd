//! Counters: what the loop did, readable at any time with [`EventLoop::stats`](crate::EventLoop::stats).
//!
//! They answer the questions a student or an operator asks of a reactor: how many syscalls per
//! message, how many completions each wake-up brought, did the submission queue fill, did the
//! kernel ever have to hold completions back.

use std::fmt;

use crate::op::OpKind;

/// Counters kept by a driver (the part of [`Stats`] only the backend can see).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DriverCounters {
    /// `io_uring_enter` or `epoll_wait` calls.
    pub enters: u64,
    /// Other syscalls the driver made (`epoll_ctl`, `fcntl`, eventfd reads).
    pub syscalls: u64,
    /// Times the submission queue was full and had to be flushed early.
    pub sq_full_flushes: u64,
    /// Times the kernel reported held-back completions (CQ overflow).
    pub cq_overflows: u64,
}

/// A snapshot of a loop's counters.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// "io_uring" or "epoll".
    pub backend: &'static str,
    /// Ops submitted, by [`OpKind::index`].
    pub submitted: [u64; OpKind::COUNT],
    /// Ops completed (final completion), by [`OpKind::index`].
    pub completed: [u64; OpKind::COUNT],
    /// Extra completions of multishot ops (one submission, many results).
    pub multishot_items: u64,
    /// Multishot ops re-armed after the kernel ended them (no `MORE` flag, or out of buffers).
    pub multishot_rearms: u64,
    /// Ops in flight now.
    pub in_flight: usize,
    /// Turns of the loop (`run_once` calls, counting those made by `run` and `wait`).
    pub turns: u64,
    /// `io_uring_enter` (io_uring) or `epoll_wait` (epoll) calls.
    pub kernel_waits: u64,
    /// Every syscall the loop made: the waits above, plus on epoll each attempted I/O syscall,
    /// `epoll_ctl` and `fcntl`. On io_uring the ops themselves cost no syscall.
    pub syscalls: u64,
    /// Completions handed to their owners.
    pub completions: u64,
    /// Turns that brought at least one completion.
    pub wakeups: u64,
    /// epoll: ops whose first attempt succeeded without waiting.
    pub immediate: u64,
    /// epoll: ops that had to wait for readiness.
    pub parked: u64,
    /// Timer callbacks run and timeouts expired.
    pub timers_fired: u64,
    /// Timers pending now.
    pub timers_pending: usize,
    /// Closures posted from other threads and run.
    pub posted: u64,
    /// Submission queue was full and flushed early (never an error).
    pub sq_full_flushes: u64,
    /// The kernel held completions back because the completion queue was full; all were reaped.
    pub cq_overflows: u64,
    /// io_uring socket ops that came back with `EAGAIN` and were resubmitted (see
    /// `docs/DESIGN.md`, "EAGAIN from io_uring"): the op waits, as it would on epoll.
    pub eagain_resubmits: u64,
}

impl Stats {
    /// Ops of `kind` submitted.
    pub fn submitted(&self, kind: OpKind) -> u64 {
        self.submitted[kind.index()]
    }
    /// Ops of `kind` completed.
    pub fn completed(&self, kind: OpKind) -> u64 {
        self.completed[kind.index()]
    }
    /// All ops submitted.
    pub fn total_submitted(&self) -> u64 {
        self.submitted.iter().sum()
    }
    /// All ops completed.
    pub fn total_completed(&self) -> u64 {
        self.completed.iter().sum()
    }
    /// Average completions per wake-up that had any: high means batching works.
    pub fn completions_per_wakeup(&self) -> f64 {
        if self.wakeups == 0 {
            0.0
        } else {
            self.completions as f64 / self.wakeups as f64
        }
    }
}

impl fmt::Display for Stats {
    /// One line, `key=value` pairs, easy to grep and to parse.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "backend={} turns={} kernel_waits={} syscalls={} completions={} wakeups={} \
             per_wakeup={:.2} in_flight={} immediate={} parked={} multishot_items={} \
             multishot_rearms={} timers_fired={} timers_pending={} posted={} sq_full_flushes={} \
             cq_overflows={} eagain_resubmits={}",
            self.backend,
            self.turns,
            self.kernel_waits,
            self.syscalls,
            self.completions,
            self.wakeups,
            self.completions_per_wakeup(),
            self.in_flight,
            self.immediate,
            self.parked,
            self.multishot_items,
            self.multishot_rearms,
            self.timers_fired,
            self.timers_pending,
            self.posted,
            self.sq_full_flushes,
            self.cq_overflows,
            self.eagain_resubmits,
        )?;
        for kind in OpKind::ALL {
            let (s, c) = (self.submitted(*kind), self.completed(*kind));
            if s + c > 0 {
                write!(f, " {kind}={s}/{c}")?;
            }
        }
        Ok(())
    }
}
