//! The event loop: ops in flight, completions, timers, and the turn that ties them together.
//!
//! One turn ([`EventLoop::run_once`]) is, in order:
//!
//! 1. forget dropped tickets (cancel their ops);
//! 2. wait in the driver — no longer than the nearest timer, not at all if work is queued;
//! 3. (epoll) retry the syscalls of ops whose fd became ready;
//! 4. fire due timers;
//! 5. run closures posted from other threads;
//! 6. hand every completion reaped in this turn to its owner: call its callback, or store it for
//!    its ticket.
//!
//! Completions produced while callbacks run (a new op that finished at once) wait for the next
//! turn, so a chain of callbacks can never recurse without bound or starve the kernel.
//!
//! The pieces: [`builder`] (configuration, backend probe), `submit` (the three completion
//! styles and cancel), `dispatch` (steps 1–6), `timers` (the heap), `inflight` (the
//! table), `entry` (type-erased ops), `entry_cache` (their
//! boxes, recycled), [`ticket`], [`id_map`] (a cheap hasher for generated ids, and a
//! map from op ids for the polling style), [`handle`] (cross-thread), [`stats`] and
//! `buf_pool` (multishot recv buffers).

pub(crate) mod buf_pool;
pub mod builder;
mod dispatch;
pub(crate) mod entry;
mod entry_cache;
pub mod handle;
pub mod id_map;
pub(crate) mod inflight;
pub mod stats;
mod submit;
pub mod ticket;
pub(crate) mod timers;

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::driver::wake::WakeFd;
use crate::driver::{BackendInfo, Driver, RawCompletion};
use buf_pool::BufPool;
use builder::Builder;
use handle::{HandleShared, LoopHandle};
use inflight::{InFlight, OpId};
use stats::Stats;
use ticket::Abandoned;
use timers::{TimerId, Timers};

/// What a timer does when it fires.
pub(crate) enum TimerAction {
    Once(Box<dyn FnOnce(&mut EventLoop)>),
    Repeat(Box<dyn FnMut(&mut EventLoop)>),
    /// Complete a [`Timeout`](crate::op::Timeout) op.
    Complete(OpId),
}

/// A single-threaded event loop over io_uring or epoll.
///
/// The loop is a value owned by the thread that built it (it is neither `Send` nor `Sync`). Other
/// threads reach it through a [`LoopHandle`].
pub struct EventLoop {
    // Field order matters for drop: the driver (and so the io_uring) goes first, after `Drop`
    // has already reaped every op the kernel held.
    pub(crate) driver: Driver,
    info: BackendInfo,
    pub(crate) inflight: InFlight,
    /// Tickets whose op finished since the last `finished()` call.
    pub(crate) finished: Vec<OpId>,
    /// Completions to hand out in this turn's dispatch.
    pub(crate) ready: Vec<RawCompletion>,
    /// The previous `ready` vector, kept to reuse its allocation.
    spare: Vec<RawCompletion>,
    /// epoll: tokens of ops to attempt again.
    pub(crate) retry: Vec<u64>,
    /// Completions for a multishot op whose entry was out (its callback was running and turned
    /// the loop itself); re-queued when the entry is back. See `dispatch`.
    pub(crate) deferred: Vec<RawCompletion>,
    /// epoll: multishot ops whose accept/recv loop is running (a stack: callbacks may nest).
    pub(crate) running_multi: Vec<OpId>,
    /// Multishot recvs waiting for a pool buffer.
    pub(crate) starved: Vec<OpId>,
    pub(crate) timers: Timers<TimerAction>,
    pub(crate) pool: Option<BufPool>,
    /// Boxes of finished once-ops, reused by the next op of the same type.
    pub(crate) entry_cache: entry_cache::EntryCache,
    pool_config: (u16, usize),
    pub(crate) abandoned: Abandoned,
    handle: Arc<HandleShared>,
    pub(crate) stats: Stats,
    pub(crate) in_flight: usize,
    pub(crate) stopped: bool,
}

impl EventLoop {
    /// A loop with default settings on the best backend available.
    pub fn new() -> io::Result<EventLoop> {
        Builder::default().build()
    }

    /// Configure a loop: backend, queue sizes, buffer pool.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn from_parts(
        driver: Driver,
        info: BackendInfo,
        wake: Arc<WakeFd>,
        pool_config: (u16, usize),
    ) -> EventLoop {
        let stats = Stats {
            backend: driver.name(),
            ..Stats::default()
        };
        EventLoop {
            driver,
            info,
            inflight: InFlight::default(),
            finished: Vec::new(),
            ready: Vec::new(),
            spare: Vec::new(),
            retry: Vec::new(),
            deferred: Vec::new(),
            running_multi: Vec::new(),
            starved: Vec::new(),
            timers: Timers::default(),
            pool: None,
            entry_cache: Default::default(),
            pool_config,
            abandoned: Rc::new(RefCell::new(Vec::new())),
            handle: Arc::new(HandleShared::new(wake)),
            stats,
            in_flight: 0,
            stopped: false,
        }
    }

    /// Which backend this loop runs on, and why (`Display` gives one line for a log).
    pub fn backend(&self) -> &BackendInfo {
        &self.info
    }

    /// A handle for other threads: wake, post closures, stop.
    pub fn handle(&self) -> LoopHandle {
        LoopHandle {
            shared: self.handle.clone(),
        }
    }

    /// Runs turns until [`EventLoop::stop`] is called (here or through a handle) or nothing is
    /// left to do: no op in flight, no timer, no queued completion.
    pub fn run(&mut self) -> io::Result<()> {
        while !self.stopped && self.has_work() {
            self.turn(None)?;
        }
        self.stopped = false;
        Ok(())
    }

    /// One turn, for a host's own loop: waits at most `timeout` (`None` = until something
    /// happens, `Some(ZERO)` = not at all), dispatches, and submits whatever the callbacks queued,
    /// so the host may then sleep on [`AsRawFd::as_raw_fd`] until [`EventLoop::next_deadline`].
    /// Returns the number of completions dispatched.
    pub fn run_once(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let n = self.turn(timeout)?;
        #[cfg(ringloop_uring)]
        if let Driver::Uring(d) = &mut self.driver {
            d.flush()?;
        }
        Ok(n)
    }

    /// Makes `run()` return after the current turn (and a blocked `wait` return `Interrupted`).
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// True once [`EventLoop::stop`] or [`LoopHandle::stop`] was called and no `run()` or `wait`
    /// has consumed the request yet: for hosts that drive the loop with `run_once`.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// When the loop next needs a turn even if its fd stays quiet: now if work is queued,
    /// the nearest timer otherwise, `None` if only I/O can wake it.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        if self.has_queued_work() {
            return Some(Instant::now());
        }
        // io_uring: an op submitted outside a turn sits in the submission queue until the next
        // enter. A host sleeping on the ring fd meanwhile would wait for a completion of an op the
        // kernel never saw (forever, with no timer pending): that is queued work too.
        #[cfg(ringloop_uring)]
        if let Driver::Uring(d) = &mut self.driver {
            if d.has_unsubmitted() {
                return Some(Instant::now());
            }
        }
        self.timers.next_deadline()
    }

    /// True while ops are in flight, timers pending or completions queued.
    pub fn has_work(&self) -> bool {
        self.in_flight > 0 || self.timers.len() > 0 || self.has_queued_work()
    }

    fn has_queued_work(&self) -> bool {
        !self.ready.is_empty()
            || !self.retry.is_empty()
            || self.handle.has_posted()
            // A multishot recv starved of pool buffers resumes when one is back, which no
            // completion or readiness announces (the owner may drop a PooledBuf between turns,
            // and the data that starved it is already in the socket): without this the next
            // turn would sleep, possibly forever, while the stream could go on.
            || (!self.starved.is_empty() && self.pool.as_ref().is_some_and(|p| p.available() > 0))
    }

    /// Receive-pool buffers free right now, and the pool's size (`(0, 0)` before the first
    /// multishot recv creates the pool). A program that keeps a [`PooledBuf`](crate::PooledBuf)
    /// for a while — sending straight from it, say — can check first that enough are left for
    /// every other connection.
    pub fn recv_buffers_free(&self) -> (usize, usize) {
        self.pool
            .as_ref()
            .map_or((0, 0), |p| (p.available(), p.count()))
    }

    /// A snapshot of the loop's counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        let d = self.driver.counters();
        s.in_flight = self.in_flight;
        s.timers_pending = self.timers.len();
        s.kernel_waits = d.enters;
        s.syscalls += d.enters + d.syscalls;
        s.sq_full_flushes = d.sq_full_flushes;
        s.cq_overflows = d.cq_overflows;
        s
    }

    /// Ids of tickets with something to collect since the last call: once-ops that completed, and
    /// stream tickets that received items (the polling style's "what is done?", like reading a
    /// completion queue yourself).
    pub fn finished(&mut self) -> Vec<OpId> {
        std::mem::take(&mut self.finished)
    }

    /// [`EventLoop::finished`] into a vector the caller keeps: `ids` is cleared and filled with
    /// the ids, and the loop keeps the caller's old vector for the next ones. Called every turn,
    /// it allocates nothing (`finished` hands out its vector and starts a new one each time).
    pub fn collect_finished(&mut self, ids: &mut Vec<OpId>) {
        ids.clear();
        std::mem::swap(ids, &mut self.finished);
    }

    /// Runs `f` once, `after` from now. Returns an id for [`EventLoop::cancel_timer`].
    pub fn timer(&mut self, after: Duration, f: impl FnOnce(&mut EventLoop) + 'static) -> TimerId {
        self.timers.insert(
            timers::deadline_after(Instant::now(), after),
            None,
            TimerAction::Once(Box::new(f)),
        )
    }

    /// Runs `f` every `period` (first after one period) until cancelled. If the loop falls behind,
    /// missed ticks are skipped rather than run in a burst.
    pub fn timer_repeat(
        &mut self,
        period: Duration,
        f: impl FnMut(&mut EventLoop) + 'static,
    ) -> TimerId {
        let first = timers::deadline_after(Instant::now(), period);
        self.timers
            .insert(first, Some(period), TimerAction::Repeat(Box::new(f)))
    }

    /// Cancels a timer. Returns false if it already fired (one-shot) or was cancelled. A repeating
    /// timer may cancel itself from its own callback.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        match self.timers.cancel(id) {
            Some(Some(TimerAction::Complete(op))) => {
                // A Timeout op's timer: the op completes as cancelled.
                self.complete_later(op, -libc::ECANCELED);
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Queues a completion for this op, to be dispatched in the current or next turn.
    pub(crate) fn complete_later(&mut self, id: OpId, res: i32) {
        if let Some(slot) = self.inflight.get_mut(id) {
            slot.parked = inflight::Parked::Ready;
        }
        self.ready.push(RawCompletion {
            user_data: id.user_data(),
            res,
            flags: 0,
        });
    }

    /// Tells the loop that `fd` was closed without [`op::Close`](crate::op::Close) (for example by
    /// dropping an `OwnedFd`), so the epoll backend drops what it remembered about that number.
    /// Not needed for fds returned by accept ops or sockets passed to `Connect`: the loop notices
    /// those new numbers itself. A no-op on io_uring.
    pub fn forget_fd(&mut self, fd: RawFd) {
        if let Driver::Epoll(d) = &mut self.driver {
            for token in d.forget_fd(fd) {
                self.complete_later(OpId::from_user_data(token), -libc::ECANCELED);
            }
        }
    }

    pub(crate) fn fd_opened(&mut self, fd: RawFd) {
        if let Driver::Epoll(d) = &mut self.driver {
            d.fd_opened(fd);
        }
    }

    fn ensure_pool(&mut self) -> io::Result<BufPool> {
        if let Some(pool) = &self.pool {
            return Ok(pool.clone());
        }
        let (count, size) = self.pool_config;
        let pool = match &mut self.driver {
            #[cfg(ringloop_uring)]
            Driver::Uring(d) => {
                let pool = BufPool::ring(count, size)?;
                let (addr, entries) = pool.ring_registration().expect("a ring pool has a ring");
                // SAFETY: the ring memory belongs to the pool, which the loop keeps (and so keeps
                // mapped) until its Drop has unregistered the ring.
                unsafe {
                    d.ring().submitter().register_buf_ring_with_flags(
                        addr,
                        entries,
                        buf_pool::BGID,
                        0,
                    )?
                };
                pool
            }
            Driver::Epoll(_) => BufPool::free_list(count, size),
        };
        self.pool = Some(pool.clone());
        Ok(pool)
    }
}

impl AsRawFd for EventLoop {
    /// The backend's fd (the io_uring, or the epoll instance). It becomes readable when the loop
    /// has completions or events to process: a host can add it to its own poll set.
    fn as_raw_fd(&self) -> RawFd {
        self.driver.as_raw_fd()
    }
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("backend", &self.info.to_string())
            .field("in_flight", &self.in_flight)
            .field("timers", &self.timers.len())
            .finish()
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        self.handle.shut_down();
        self.shutdown_kernel_ops();
    }
}
