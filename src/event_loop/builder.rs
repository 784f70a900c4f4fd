//! [`Builder`]: how a loop is configured before the backend is chosen.

use std::io;
use std::sync::Arc;

use super::EventLoop;
use crate::driver::probe::{self, ProbeRequest};
use crate::driver::wake::WakeFd;
use crate::driver::{epoll::EpollDriver, Backend, Driver};

/// Configures and builds an [`EventLoop`].
///
/// ```
/// use ringloop::{Backend, EventLoop};
/// let lp = EventLoop::builder().backend(Backend::Auto).entries(256).build()?;
/// println!("running on {}", lp.backend());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    request: ProbeRequest,
    recv_count: u16,
    /// `None`: the backend's default, [`RECV_BUFFER_SIZE_URING`] or [`RECV_BUFFER_SIZE_EPOLL`].
    recv_size: Option<usize>,
}

/// Default size of a receive-pool buffer on io_uring. The kernel takes buffers from the ring in
/// order, so over time every buffer of the pool is touched: small buffers keep that working set
/// (and the resident memory) small, and a message larger than one buffer costs no extra syscall,
/// the multishot recv simply posts several buffers.
pub const RECV_BUFFER_SIZE_URING: usize = 4096;

/// Default size of a receive-pool buffer on epoll. The free list is last-in first-out, so only as
/// many buffers as are in use at once are ever touched, and a buffer's size costs address space,
/// not memory. It saves syscalls: an edge-triggered recv that *fills* its buffer must be followed
/// by another (the socket may hold more), which fails with `EAGAIN` when it did not; with buffers
/// larger than the typical message, one short read drains the socket. (4 KiB messages with 4 KiB
/// buffers cost 3 syscalls each instead of 2, and about 4 % more CPU per message than with 16 KiB
/// at 1,000 connections; BENCHMARKS.md.)
pub const RECV_BUFFER_SIZE_EPOLL: usize = 16384;

impl Default for Builder {
    fn default() -> Self {
        Builder {
            request: ProbeRequest {
                backend: Backend::Auto,
                entries: 1024,
                simulate_setup_errno: None,
                simulate_missing_opcode: None,
                defer_taskrun: false,
            },
            recv_count: 1024,
            recv_size: None,
        }
    }
}

impl Builder {
    /// Which backend to use (default [`Backend::Auto`]). `RINGLOOP_BACKEND` overrides it.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.request.backend = backend;
        self
    }

    /// io_uring submission queue size (rounded up to a power of two; the completion queue is 4×).
    /// A full queue is flushed and retried, so this bounds batching, not concurrency.
    pub fn entries(mut self, entries: u32) -> Self {
        self.request.entries = entries;
        self
    }

    /// The shared pool behind multishot recv: `count` buffers (a power of two, at most 32768) of
    /// `size` bytes. Allocated on first use; memory is touched only as buffers are used. Default:
    /// 1024 buffers of [`RECV_BUFFER_SIZE_URING`] or [`RECV_BUFFER_SIZE_EPOLL`] bytes, by backend.
    pub fn recv_buffers(mut self, count: u16, size: usize) -> Self {
        self.recv_count = count;
        self.recv_size = Some(size.max(1));
        self
    }

    /// Sets only the number of pool buffers; their size stays the backend's default.
    pub fn recv_buffer_count(mut self, count: u16) -> Self {
        self.recv_count = count;
        self
    }

    /// io_uring only: set up the ring with `IORING_SETUP_DEFER_TASKRUN` (Linux 6.1), so the kernel
    /// finishes completions only when the loop waits for them, in one batch, instead of
    /// interrupting whatever the thread is doing. Falls back to the default if refused.
    ///
    /// Off by default because it changes what the loop's fd means: with deferred task work the
    /// ring fd does not become readable when I/O finishes, so a host that sleeps in its own
    /// `poll(2)` on `EventLoop::as_raw_fd` would miss completions (tested in `tests/embed.rs`).
    /// Programs that drive the loop only with `run()`/`run_once()` may turn it on.
    pub fn defer_taskrun(mut self, on: bool) -> Self {
        self.request.defer_taskrun = on;
        self
    }

    /// Test hook: behave as if `io_uring_setup` had failed with `errno`.
    #[doc(hidden)]
    pub fn simulate_uring_setup_error(mut self, errno: i32) -> Self {
        self.request.simulate_setup_errno = Some(errno);
        self
    }

    /// Test hook: behave as if the kernel lacked `IORING_OP_<name>`.
    #[doc(hidden)]
    pub fn simulate_missing_opcode(mut self, name: &'static str) -> Self {
        self.request.simulate_missing_opcode = Some(name);
        self
    }

    /// Probes the backend and builds the loop on the calling thread.
    ///
    /// Fails if `RINGLOOP_BACKEND` is malformed, if io_uring was forced but is unavailable (the
    /// error says why), or if the kernel refuses an eventfd or epoll instance.
    pub fn build(self) -> io::Result<EventLoop> {
        let count = self.recv_count;
        if !count.is_power_of_two() || count > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "recv_buffers count must be a power of two, at most 32768",
            ));
        }
        let wake = Arc::new(WakeFd::new()?);
        let chosen = probe::choose(&self.request)?;
        #[cfg(ringloop_uring)]
        let driver = match chosen.ring {
            Some(ring) => Driver::Uring(crate::driver::uring::UringDriver::new(ring, wake.clone())),
            None => Driver::Epoll(EpollDriver::new(
                wake.clone(),
                self.request.entries as usize,
            )?),
        };
        #[cfg(not(ringloop_uring))]
        let driver = Driver::Epoll(EpollDriver::new(
            wake.clone(),
            self.request.entries as usize,
        )?);
        log::debug!("ringloop: event loop on {}", chosen.info);
        let size = self.recv_size.unwrap_or(match driver {
            Driver::Epoll(_) => RECV_BUFFER_SIZE_EPOLL,
            #[cfg(ringloop_uring)]
            Driver::Uring(_) => RECV_BUFFER_SIZE_URING,
        });
        Ok(EventLoop::from_parts(
            driver,
            chosen.info,
            wake,
            (count, size),
        ))
    }
}
