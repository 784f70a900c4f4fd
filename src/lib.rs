//! # ringloop
//!
//! An embeddable, single-threaded event loop for Linux whose I/O goes through **io_uring**, with
//! an **epoll** fallback (through `mio`) that behaves the same.
//!
//! The core idea is the *op*: one I/O request as a value that owns its buffers while the kernel
//! works on it, and gives them back with its completion. The same op can be driven in three
//! styles, which is the difference between asynchronous and synchronous I/O made visible:
//!
//! ```
//! use std::time::Duration;
//! use ringloop::{op, EventLoop};
//!
//! let mut lp = EventLoop::new()?;
//! println!("backend: {}", lp.backend());
//!
//! // 1. callback: asynchronous, the loop calls you.
//! lp.submit_with(op::Nop, |_lp, res| res.expect("nop"));
//!
//! // 2. polling: asynchronous, you ask later.
//! let ticket = lp.submit(op::Timeout::new(Duration::from_millis(1)));
//! while lp.poll(&ticket).is_none() {
//!     lp.run_once(None)?;
//! }
//!
//! // 3. blocking wait: synchronous, nothing else of yours runs meanwhile.
//! let ticket = lp.submit(op::Nop);
//! lp.wait(ticket)?.expect("nop");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Layers
//!
//! * [`driver`]: the two backends, and the probe that picks one ([`Backend`], [`BackendInfo`]).
//! * [`op`]: the ops (accept, connect, recv, send, vectored send, read/write at an offset,
//!   fsync, close, nop, timeout, and the multishot accept and recv).
//! * [`EventLoop`]: the in-flight table, completion delivery, timers, the cross-thread
//!   [`LoopHandle`], and [`Stats`].
//!
//! Set `RUST_LOG=ringloop=trace` (with `env_logger`) to watch every submission and completion.

#![warn(missing_docs)]
// Without io_uring (non-Linux targets, or RINGLOOP_NO_URING=1) the driver enum has one variant and
// the io_uring-only helpers go unused: that build must compile, not be lint-perfect.
#![cfg_attr(
    not(ringloop_uring),
    allow(
        irrefutable_let_patterns,
        unused_imports,
        unused_variables,
        unused_mut,
        dead_code
    )
)]

pub mod driver;
pub mod event_loop;
pub mod net;
pub mod op;
pub mod patterns;
pub mod proto;

pub use driver::{Backend, BackendInfo};
pub use event_loop::buf_pool::PooledBuf;
pub use event_loop::builder::{Builder, RECV_BUFFER_SIZE_EPOLL, RECV_BUFFER_SIZE_URING};
pub use event_loop::handle::LoopHandle;
pub use event_loop::id_map::OpIdMap;
pub use event_loop::inflight::OpId;
pub use event_loop::stats::Stats;
pub use event_loop::ticket::{StreamTicket, Ticket};
pub use event_loop::timers::TimerId;
pub use event_loop::EventLoop;
