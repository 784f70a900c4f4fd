//! Ops: one I/O request each, as a value that owns what the kernel may touch.
//!
//! Submitting an op moves it (buffer, address storage and all) into the loop's in-flight table,
//! boxed, so nothing the kernel was told about can move or be freed until its completion comes
//! back. The completion turns the op back into its [`Op::Output`], which returns every buffer to
//! the caller, on success and on error alike.
//!
//! Each op says how to run on both backends:
//! * [`Op::uring_entry`]: the io_uring submission entry (pointers into the boxed op);
//! * [`Op::epoll_attempt`]: the non-blocking syscall to try now, or the readiness to wait for.
//!
//! The families live in [`net`] (accept, connect, recv, send), [`file`](mod@file)
//! (read/write at an offset, fsync, close), [`misc`] (nop, timeout) and
//! [`multishot`] (one submission, many completions).

pub mod file;
pub mod misc;
pub mod multishot;
pub mod net;

use std::fmt;

use bytes::BytesMut;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

pub use crate::driver::Direction;
pub use file::{Close, Fsync, ReadAt, WriteAt};
pub use misc::{Nop, Timeout};
pub use multishot::{AcceptMulti, RecvMulti};
pub use net::{Accept, Connect, Recv, Send, SendBuf, SendVectored};

/// What an epoll attempt achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The syscall ran: its return value, or `-errno`.
    Done(i32),
    /// The syscall would block: try again when `fd` is ready in this direction.
    Wait(RawFd, Direction),
}

/// Where the loop sends an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// To the kernel (io_uring), or to an attempt/readiness cycle (epoll).
    Kernel,
    /// To the loop's own timer heap, on both backends.
    Timer(Duration),
    /// To the kernel, after every other op still pending on this fd has been cancelled.
    CloseFd(RawFd),
}

/// One I/O request.
///
/// # Safety
/// Implementors promise that the pointers in [`Op::uring_entry`] point only into memory owned by
/// `self` (inline fields, or heap allocations that `self` owns and does not resize), and that this
/// memory is not accessed by `self` until [`Op::complete`] is called. The loop keeps the op boxed
/// and untouched while it is in flight, so those addresses stay valid for the kernel.
pub unsafe trait Op: 'static {
    /// What the completion gives back (the result plus every owned resource).
    type Output: 'static;
    /// For stats and trace logs.
    const KIND: OpKind;

    /// The fd the op works on, if any (used to cancel ops when their fd is closed).
    fn fd(&self) -> Option<RawFd> {
        None
    }
    /// Checked before submission; `Err(errno)` completes the op at once with that error.
    fn validate(&self) -> Result<(), i32> {
        Ok(())
    }
    /// Where the loop sends this op.
    fn route(&self) -> Route {
        Route::Kernel
    }
    /// Whether the epoll backend must make the fd non-blocking (accept and connect have no
    /// per-call flag for it; recv and send use `MSG_DONTWAIT`).
    fn needs_nonblocking_fd(&self) -> bool {
        false
    }
    /// The io_uring submission entry (its user_data is set by the loop).
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> io_uring::squeue::Entry;
    /// Tries the syscall without blocking (epoll backend; also file I/O, which runs synchronously).
    fn epoll_attempt(&mut self) -> Attempt;
    /// Turns the raw result (`res >= 0`, or `-errno`) back into the output.
    fn complete(self, res: i32) -> Self::Output;
}

macro_rules! op_kinds {
    ($($name:ident => $text:literal,)*) => {
        /// The kind of an op, for stats and trace logs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum OpKind { $(#[doc = $text] $name,)* }

        impl OpKind {
            /// Every kind, in `index()` order.
            pub const ALL: &'static [OpKind] = &[$(OpKind::$name,)*];
            /// How many kinds exist.
            pub const COUNT: usize = Self::ALL.len();
            /// A stable position in [`OpKind::ALL`] (for counters indexed by kind).
            pub fn index(self) -> usize { self as usize }
            /// Lower-case name, as in logs.
            pub fn as_str(self) -> &'static str {
                match self { $(OpKind::$name => $text,)* }
            }
        }
    };
}

op_kinds! {
    Nop => "nop",
    Accept => "accept",
    AcceptMulti => "accept_multi",
    Connect => "connect",
    Recv => "recv",
    RecvMulti => "recv_multi",
    Send => "send",
    SendVectored => "send_vectored",
    ReadAt => "read_at",
    WriteAt => "write_at",
    Fsync => "fsync",
    Close => "close",
    Timeout => "timeout",
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `res >= 0` as a count, `-errno` as the matching `io::Error`.
pub fn result(res: i32) -> io::Result<usize> {
    if res >= 0 {
        Ok(res as usize)
    } else {
        Err(io::Error::from_raw_os_error(-res))
    }
}

/// A libc return value turned into the `res` convention (`-errno` on failure).
pub(crate) fn syscall_res(ret: isize) -> i32 {
    if ret < 0 {
        -io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    } else {
        ret as i32
    }
}

/// `Done` or, for `EAGAIN`, `Wait` on `fd` in `dir`.
pub(crate) fn done_or_wait(res: i32, fd: RawFd, dir: Direction) -> Attempt {
    if res == -libc::EAGAIN || res == -libc::EWOULDBLOCK {
        Attempt::Wait(fd, dir)
    } else {
        Attempt::Done(res)
    }
}

/// The spare capacity of a read buffer (`Recv`, `ReadAt`): where the kernel may write.
pub(crate) fn spare(buf: &mut BytesMut) -> (*mut u8, usize) {
    let spare = buf.spare_capacity_mut();
    (spare.as_mut_ptr().cast(), spare.len())
}

/// Refuses a read buffer with no spare capacity: a zero-length read would "succeed" with 0,
/// indistinguishable from end of stream.
pub(crate) fn has_spare(buf: &BytesMut) -> Result<(), i32> {
    if buf.capacity() == buf.len() {
        return Err(libc::ENOBUFS);
    }
    Ok(())
}

/// A read's output: the count, and the buffer with the `res` bytes read appended.
///
/// # Safety
/// When `res > 0`, the kernel must have written `res` bytes at the start of `buf`'s spare
/// capacity (as a read into [`spare`] does).
pub(crate) unsafe fn filled(mut buf: BytesMut, res: i32) -> (io::Result<usize>, BytesMut) {
    if res > 0 {
        // SAFETY: forwarded from this function's contract.
        unsafe { buf.set_len(buf.len() + res as usize) };
    }
    (result(res), buf)
}

/// Converts a length to the u32 an SQE holds, capping (a short I/O is always allowed).
pub(crate) fn len_u32(len: usize) -> u32 {
    len.min(u32::MAX as usize) as u32
}
