//! Multishot ops: one submission, a stream of completions.
//!
//! * [`AcceptMulti`]: every incoming connection on a listener (io_uring: `IORING_OP_ACCEPT` with
//!   `IORING_ACCEPT_MULTISHOT`; epoll: an `accept4` loop on each readiness edge).
//! * [`RecvMulti`]: every chunk of data on a socket, each in a buffer taken from the loop's shared
//!   pool only when data arrives (io_uring: `IORING_RECV_MULTISHOT` with a provided-buffer ring;
//!   epoll: a `recv` loop into buffers from a free list).
//!
//! A stream ends after its first error (including `ECANCELED` after a cancel) and, for
//! `RecvMulti`, after end-of-file (`Ok(None)`). Anything else — the kernel ending the multishot
//! without an error (no `IORING_CQE_F_MORE`), or running out of pool buffers (`ENOBUFS`) — is
//! handled inside the loop by re-arming, invisible to the owner.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::{syscall_res, Direction, OpKind};
use crate::event_loop::buf_pool::{BufPool, PooledBuf};

#[cfg(ringloop_uring)]
use io_uring::{opcode, squeue::Entry, types::Fd};

/// What one attempt or completion of a multishot op produced.
#[doc(hidden)]
pub enum Step<T> {
    /// An item; the stream goes on.
    Item(T),
    /// The last item of the stream.
    Final(T),
    /// Nothing now; try again when the fd is ready (epoll).
    Wait(RawFd, Direction),
    /// No pool buffer was free; re-arm once one comes back.
    Starved,
}

/// What a multishot op may use while producing items.
#[doc(hidden)]
pub struct MultiCtx<'a> {
    pub(crate) pool: Option<&'a BufPool>,
}

mod sealed {
    pub trait Sealed {}
}

/// An op that completes many times. Implemented by [`AcceptMulti`] and [`RecvMulti`] only.
pub trait MultiOp: sealed::Sealed + 'static {
    /// One element of the stream.
    type Item: 'static;
    #[doc(hidden)]
    const KIND: OpKind;
    #[doc(hidden)]
    fn fd(&self) -> RawFd;
    #[doc(hidden)]
    fn uses_pool(&self) -> bool;
    #[doc(hidden)]
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry;
    #[doc(hidden)]
    fn epoll_attempt(&mut self, cx: &MultiCtx<'_>) -> Step<Self::Item>;
    #[doc(hidden)]
    fn uring_item(&mut self, res: i32, flags: u32, cx: &MultiCtx<'_>) -> Step<Self::Item>;
    /// True (once) if the last epoll attempt read less than it asked for from a stream socket:
    /// after a clean readiness edge, that means the socket is drained. Clears the flag.
    #[doc(hidden)]
    fn epoll_drained(&mut self) -> bool {
        false
    }
    /// The new fd an item carries (so the epoll driver forgets stale state for its number).
    #[doc(hidden)]
    fn item_fd(_item: &Self::Item) -> Option<RawFd> {
        None
    }
}

fn is_eagain(res: i32) -> bool {
    res == -libc::EAGAIN || res == -libc::EWOULDBLOCK
}

/// Accepts every connection on a listening socket until cancelled or an error occurs.
/// Each item is a new non-blocking, close-on-exec socket.
pub struct AcceptMulti {
    fd: RawFd,
}

impl AcceptMulti {
    /// Accepts on the listening socket `fd`.
    pub fn new(fd: RawFd) -> Self {
        AcceptMulti { fd }
    }
}

impl sealed::Sealed for AcceptMulti {}

impl MultiOp for AcceptMulti {
    /// A new connection, or the error that ended the stream (e.g. `EMFILE`, `ECANCELED`).
    type Item = io::Result<OwnedFd>;
    const KIND: OpKind = OpKind::AcceptMulti;

    fn fd(&self) -> RawFd {
        self.fd
    }
    fn uses_pool(&self) -> bool {
        false
    }
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        opcode::AcceptMulti::new(Fd(self.fd))
            .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            .build()
    }
    fn epoll_attempt(&mut self, _cx: &MultiCtx<'_>) -> Step<Self::Item> {
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: null address pointers are allowed by accept4 (the peer address is not wanted).
        let ret =
            unsafe { libc::accept4(self.fd, std::ptr::null_mut(), std::ptr::null_mut(), flags) };
        let res = syscall_res(ret as isize);
        if is_eagain(res) {
            return Step::Wait(self.fd, Direction::Read);
        }
        self.uring_item(res, 0, _cx)
    }
    fn uring_item(&mut self, res: i32, _flags: u32, _cx: &MultiCtx<'_>) -> Step<Self::Item> {
        if res >= 0 {
            // SAFETY: a successful accept returns a new fd that nobody else owns.
            Step::Item(Ok(unsafe { OwnedFd::from_raw_fd(res) }))
        } else if res == -libc::ECONNABORTED || res == -libc::EINTR {
            // The peer gave up before we accepted: not the listener's problem, keep going.
            Step::Wait(self.fd, Direction::Read)
        } else {
            Step::Final(Err(io::Error::from_raw_os_error(-res)))
        }
    }
    fn item_fd(item: &Self::Item) -> Option<RawFd> {
        use std::os::fd::AsRawFd;
        item.as_ref().ok().map(|fd| fd.as_raw_fd())
    }
}

/// Receives every chunk of data on a socket into buffers from the loop's shared pool.
pub struct RecvMulti {
    fd: RawFd,
    /// epoll: whether `fd` is a stream socket (asked once, at the first short read).
    stream: Option<bool>,
    /// epoll: the last read was short, on a stream socket.
    short: bool,
}

impl RecvMulti {
    /// Receives on `fd` until end-of-file, an error, or a cancel.
    pub fn new(fd: RawFd) -> Self {
        RecvMulti {
            fd,
            stream: None,
            short: false,
        }
    }

    /// A stream socket returns all it holds, up to the size asked for, so a short read there
    /// means "drained". A datagram socket returns one datagram per read, whatever else waits.
    fn is_stream(&mut self) -> bool {
        let fd = self.fd;
        *self.stream.get_or_insert_with(|| {
            let mut ty: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: ty/len are live locals of the sizes given.
            let ret = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_TYPE,
                    (&mut ty as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            ret == 0 && ty == libc::SOCK_STREAM
        })
    }
}

impl sealed::Sealed for RecvMulti {}

impl MultiOp for RecvMulti {
    /// `Ok(Some(bytes))` for data, `Ok(None)` at end-of-file (last item), `Err` (last item).
    type Item = io::Result<Option<PooledBuf>>;
    const KIND: OpKind = OpKind::RecvMulti;

    fn fd(&self) -> RawFd {
        self.fd
    }
    fn uses_pool(&self) -> bool {
        true
    }
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        opcode::RecvMulti::new(Fd(self.fd), crate::event_loop::buf_pool::BGID).build()
    }
    fn epoll_attempt(&mut self, cx: &MultiCtx<'_>) -> Step<Self::Item> {
        let pool = cx
            .pool
            .expect("the loop creates the pool before a RecvMulti runs");
        let Some((bid, ptr)) = pool.take() else {
            return Step::Starved;
        };
        // SAFETY: `ptr` is the start of buffer `bid`, which we just took out of the free list,
        // so nothing else reads or writes it; recv writes at most buf_size bytes.
        let ret = unsafe { libc::recv(self.fd, ptr.cast(), pool.buf_size(), libc::MSG_DONTWAIT) };
        let res = syscall_res(ret);
        if res > 0 {
            self.short = (res as usize) < pool.buf_size() && self.is_stream();
            return Step::Item(Ok(Some(pool.filled(bid, res as usize))));
        }
        pool.give_back(bid);
        if is_eagain(res) {
            return Step::Wait(self.fd, Direction::Read);
        }
        self.uring_item(res, 0, cx)
    }
    fn epoll_drained(&mut self) -> bool {
        std::mem::take(&mut self.short)
    }
    fn uring_item(&mut self, res: i32, flags: u32, cx: &MultiCtx<'_>) -> Step<Self::Item> {
        #[cfg(ringloop_uring)]
        let buffer = io_uring::cqueue::buffer_select(flags);
        #[cfg(not(ringloop_uring))]
        let buffer: Option<u16> = {
            let _ = flags;
            None
        };
        let pool = cx
            .pool
            .expect("the loop creates the pool before a RecvMulti runs");
        if res > 0 {
            if let Some(bid) = buffer {
                return Step::Item(Ok(Some(pool.claim(bid, res as usize))));
            }
        }
        if let Some(bid) = buffer {
            // A buffer came with a completion that carries no data: straight back to the ring.
            drop(pool.claim(bid, 0));
        }
        match res {
            0 => Step::Final(Ok(None)),
            r if r == -libc::ENOBUFS => Step::Starved,
            r if r > 0 => Step::Final(Err(io::Error::other("recv completed without a buffer"))),
            r => Step::Final(Err(io::Error::from_raw_os_error(-r))),
        }
    }
}
