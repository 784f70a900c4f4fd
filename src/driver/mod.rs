//! Drivers: the two ways ringloop talks to the kernel.
//!
//! * `uring` submits ops to an io_uring and reaps their completions (Linux 6.0+).
//! * `epoll` waits for readiness with mio and lets the loop retry the syscall, which
//!   is how a completion is emulated on top of a readiness API.
//!
//! This is the bottom layer: it knows file descriptors, submission entries and 64-bit tokens
//! (`user_data`), never ops, buffers or callbacks. `probe` picks the driver once per loop.

pub(crate) mod epoll;
pub(crate) mod probe;
#[cfg(ringloop_uring)]
pub(crate) mod uring;
pub(crate) mod wake;

use std::fmt;

/// Which backend a loop should use. Overridden by `RINGLOOP_BACKEND=uring|epoll|auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// io_uring if the kernel allows it, epoll otherwise (the default).
    #[default]
    Auto,
    /// io_uring or an error saying why it is unavailable.
    Uring,
    /// epoll through mio, even where io_uring works.
    Epoll,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Backend::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(Backend::Uring),
            "epoll" | "mio" => Ok(Backend::Epoll),
            other => Err(format!(
                "unknown backend '{other}': expected uring, epoll or auto"
            )),
        }
    }
}

/// The backend a loop actually runs on, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendInfo {
    /// `Uring` or `Epoll` (never `Auto`).
    pub kind: Backend,
    /// Why io_uring is not used, when the loop runs on epoll. `None` when epoll was asked for.
    pub fallback_reason: Option<String>,
    /// io_uring setup flags and kernel features in use (empty on epoll).
    pub features: Vec<&'static str>,
}

impl BackendInfo {
    /// True when the loop runs on io_uring.
    pub fn is_uring(&self) -> bool {
        self.kind == Backend::Uring
    }
}

impl fmt::Display for BackendInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, &self.fallback_reason) {
            (Backend::Uring, _) => write!(f, "io_uring ({})", self.features.join(", ")),
            (_, Some(why)) => write!(f, "epoll (io_uring unavailable: {why})"),
            _ => write!(f, "epoll (requested)"),
        }
    }
}

/// One completion as the kernel reports it: io_uring's CQE, or the epoll emulation of one.
/// `res` is the syscall's return value, or `-errno`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawCompletion {
    pub user_data: u64,
    pub res: i32,
    pub flags: u32,
}

/// Which readiness an op waits for on the epoll backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The fd has data (or a connection) to take.
    Read,
    /// The fd has room to write (or a connect finished).
    Write,
}

/// user_data values that are not ops. Op ids keep the top bit clear (their generation is 31 bits).
pub(crate) const TOKEN_WAKE: u64 = u64::MAX;
/// Completions of cancel requests; their result is not interesting (the cancelled op reports).
pub(crate) const TOKEN_CANCEL: u64 = u64::MAX - 1;
/// epoll: set on a parked reader's token handed back for a readable edge that reported no
/// hang-up, error or urgent data (op ids keep this bit clear). A stream read made after such an
/// edge that comes back short has drained the socket: data or a FIN arriving later raises a new
/// edge, so the loop may wait for it instead of making a read bound to fail with `EAGAIN`.
pub(crate) const TOKEN_CLEAN_EDGE: u64 = 1 << 63;

/// The driver a loop runs on. One per loop, so the size difference between variants is moot.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Driver {
    #[cfg(ringloop_uring)]
    Uring(uring::UringDriver),
    Epoll(epoll::EpollDriver),
}

impl Driver {
    pub(crate) fn counters(&self) -> crate::event_loop::stats::DriverCounters {
        match self {
            #[cfg(ringloop_uring)]
            Driver::Uring(d) => d.counters,
            Driver::Epoll(d) => d.counters,
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            #[cfg(ringloop_uring)]
            Driver::Uring(_) => "io_uring",
            Driver::Epoll(_) => "epoll",
        }
    }
}

impl std::os::fd::AsRawFd for Driver {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            #[cfg(ringloop_uring)]
            Driver::Uring(d) => d.as_raw_fd(),
            Driver::Epoll(d) => d.as_raw_fd(),
        }
    }
}
