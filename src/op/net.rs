//! Socket ops: accept, connect, recv, send, and vectored send.
//!
//! Sockets may be blocking or not: io_uring does not care, and on epoll recv/send pass
//! `MSG_DONTWAIT` while accept/connect make the fd non-blocking once. Every send passes
//! `MSG_NOSIGNAL`, so a vanished peer is an `EPIPE` error, never a process-killing `SIGPIPE`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use bytes::{Bytes, BytesMut};
use socket2::{SockAddr, SockAddrStorage};

use super::{
    done_or_wait, filled, has_spare, len_u32, result, spare, syscall_res, Attempt, Direction, Op,
    OpKind,
};

#[cfg(ringloop_uring)]
use io_uring::{opcode, squeue::Entry, types::Fd};

const ACCEPT_FLAGS: i32 = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
const SEND_FLAGS: i32 = libc::MSG_NOSIGNAL;

/// Accepts one connection on a listening socket. The new socket is non-blocking and close-on-exec.
pub struct Accept {
    fd: RawFd,
    addr: SockAddrStorage,
    addr_len: libc::socklen_t,
}

impl Accept {
    /// Accepts on the listening socket `fd` (which the caller keeps open until completion).
    pub fn new(fd: RawFd) -> Self {
        let addr = SockAddrStorage::zeroed();
        let addr_len = addr.size_of();
        Accept { fd, addr, addr_len }
    }

    fn addr_ptr(&mut self) -> *mut libc::sockaddr {
        (&mut self.addr as *mut SockAddrStorage).cast()
    }
}

// SAFETY: the entry points at `addr` and `addr_len`, inline fields of the boxed op.
unsafe impl Op for Accept {
    /// The accepted socket and the peer's address (`None` for non-IP sockets).
    type Output = io::Result<(OwnedFd, Option<SocketAddr>)>;
    const KIND: OpKind = OpKind::Accept;

    fn fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }
    fn needs_nonblocking_fd(&self) -> bool {
        true
    }
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        let addr = self.addr_ptr();
        opcode::Accept::new(Fd(self.fd), addr, &mut self.addr_len)
            .flags(ACCEPT_FLAGS)
            .build()
    }
    fn epoll_attempt(&mut self) -> Attempt {
        let addr = self.addr_ptr();
        // SAFETY: addr/addr_len are our own fields, sized as the kernel is told.
        let ret = unsafe { libc::accept4(self.fd, addr, &mut self.addr_len, ACCEPT_FLAGS) };
        done_or_wait(syscall_res(ret as isize), self.fd, Direction::Read)
    }
    fn complete(self, res: i32) -> Self::Output {
        let fd = result(res)?;
        // SAFETY: a successful accept returns a new fd that nobody else owns.
        let stream = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        // SAFETY: the kernel initialised `addr_len` bytes of the storage.
        let peer = unsafe { SockAddr::new(self.addr, self.addr_len) }.as_socket();
        Ok((stream, peer))
    }
}

/// Connects a socket to an address. The socket is borrowed: it stays the caller's.
pub struct Connect {
    fd: RawFd,
    addr: SockAddr,
    started: bool,
}

impl Connect {
    /// Connects socket `fd` (created by the caller, e.g. with `socket2`) to `addr`.
    pub fn new(fd: RawFd, addr: SocketAddr) -> Self {
        Connect {
            fd,
            addr: SockAddr::from(addr),
            started: false,
        }
    }
}

// SAFETY: the entry points at `addr`, an inline field of the boxed op.
unsafe impl Op for Connect {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Connect;

    fn fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }
    fn needs_nonblocking_fd(&self) -> bool {
        true
    }
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        opcode::Connect::new(Fd(self.fd), self.addr.as_ptr().cast(), self.addr.len()).build()
    }
    fn epoll_attempt(&mut self) -> Attempt {
        if !self.started {
            self.started = true;
            // SAFETY: addr is a valid sockaddr of the given length.
            let ret = unsafe { libc::connect(self.fd, self.addr.as_ptr().cast(), self.addr.len()) };
            let res = syscall_res(ret as isize);
            return if res == -libc::EINPROGRESS {
                Attempt::Wait(self.fd, Direction::Write)
            } else {
                Attempt::Done(res)
            };
        }
        // Writable after EINPROGRESS: SO_ERROR holds the outcome of the handshake.
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: err/len are live locals of the sizes given.
        let ret = unsafe {
            libc::getsockopt(
                self.fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        match syscall_res(ret as isize) {
            0 => Attempt::Done(-err),
            failed => Attempt::Done(failed),
        }
    }
    fn complete(self, res: i32) -> Self::Output {
        result(res).map(drop)
    }
}

/// Receives into the spare capacity of a `BytesMut` (`capacity() - len()` bytes at most).
pub struct Recv {
    fd: RawFd,
    buf: BytesMut,
}

impl Recv {
    /// Receives on `fd` into `buf`'s spare capacity; received bytes are appended to `buf`.
    pub fn new(fd: RawFd, buf: BytesMut) -> Self {
        Recv { fd, buf }
    }
}

// SAFETY: the entry points into `buf`'s heap allocation, which the op owns and never resizes
// while in flight.
unsafe impl Op for Recv {
    /// Bytes received (0 = the peer closed its side), and the buffer with them appended.
    type Output = (io::Result<usize>, BytesMut);
    const KIND: OpKind = OpKind::Recv;

    fn fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }
    fn validate(&self) -> Result<(), i32> {
        has_spare(&self.buf)
    }
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        let (ptr, len) = spare(&mut self.buf);
        opcode::Recv::new(Fd(self.fd), ptr, len_u32(len)).build()
    }
    fn epoll_attempt(&mut self) -> Attempt {
        let (ptr, len) = spare(&mut self.buf);
        // SAFETY: ptr..ptr+len is the spare capacity of our own buffer.
        let ret = unsafe { libc::recv(self.fd, ptr.cast(), len, libc::MSG_DONTWAIT) };
        done_or_wait(syscall_res(ret), self.fd, Direction::Read)
    }
    fn complete(self, res: i32) -> Self::Output {
        // SAFETY: both backends read into `spare(&mut self.buf)`; `res` is that read's count.
        unsafe { filled(self.buf, res) }
    }
}

/// A buffer a [`Send`] can own while the kernel reads from it.
///
/// # Safety
///
/// `as_bytes` must return the same memory, with the same contents, every time it is called for
/// as long as the value exists and is not mutated through `&mut`: the kernel keeps reading from
/// the pointer taken at submission after the borrow that produced it has ended. Owning buffers
/// with immutable or unique storage qualify (`Bytes`, `Vec<u8>`, `Box<[u8]>`, a pool buffer).
pub unsafe trait SendBuf: 'static {
    /// The bytes to send.
    fn as_bytes(&self) -> &[u8];
}

// SAFETY: `Bytes` storage is immutable and lives as long as any handle to it.
unsafe impl SendBuf for Bytes {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: the heap storage of a Vec/Box only moves or changes through `&mut`.
unsafe impl SendBuf for Vec<u8> {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: as for Vec.
unsafe impl SendBuf for Box<[u8]> {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: a static slice never moves or changes.
unsafe impl SendBuf for &'static [u8] {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: while a PooledBuf exists its buffer is out of the ring/free list: neither the kernel
// nor the loop writes to it, and the pool's memory stays mapped while any PooledBuf holds it.
unsafe impl SendBuf for crate::PooledBuf {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

/// Sends the bytes of one buffer (a short send is possible: check the count). Usually `Bytes`;
/// any [`SendBuf`] works — a [`PooledBuf`](crate::PooledBuf) received by a multishot recv can be
/// sent on without a copy (mind that the pool is shared: a send stuck behind a slow peer holds
/// its buffer).
pub struct Send<B: SendBuf = Bytes> {
    fd: RawFd,
    buf: B,
}

impl<B: SendBuf> Send<B> {
    /// Sends `buf` on `fd`.
    pub fn new(fd: RawFd, buf: B) -> Self {
        Send { fd, buf }
    }
}

// SAFETY: the entry points into `buf`, whose storage the op keeps alive and unchanged
// (`SendBuf`'s contract) until the completion hands it back.
unsafe impl<B: SendBuf> Op for Send<B> {
    /// Bytes sent, and the buffer (to resend the rest, or to reuse).
    type Output = (io::Result<usize>, B);
    const KIND: OpKind = OpKind::Send;

    fn fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        let bytes = self.buf.as_bytes();
        opcode::Send::new(Fd(self.fd), bytes.as_ptr(), len_u32(bytes.len()))
            .flags(SEND_FLAGS)
            .build()
    }
    fn epoll_attempt(&mut self) -> Attempt {
        let flags = SEND_FLAGS | libc::MSG_DONTWAIT;
        let bytes = self.buf.as_bytes();
        // SAFETY: reads our own buffer's bytes.
        let ret = unsafe { libc::send(self.fd, bytes.as_ptr().cast(), bytes.len(), flags) };
        done_or_wait(syscall_res(ret), self.fd, Direction::Write)
    }
    fn complete(self, res: i32) -> Self::Output {
        (result(res), self.buf)
    }
}

/// Sends several buffers with one `sendmsg` (gather I/O): a header and a body without copying.
pub struct SendVectored {
    fd: RawFd,
    bufs: Vec<Bytes>,
    iovecs: Vec<libc::iovec>,
    msg: libc::msghdr,
}

impl SendVectored {
    /// Sends `bufs`, in order, on `fd`. At most `IOV_MAX` (1024) buffers.
    pub fn new(fd: RawFd, bufs: Vec<Bytes>) -> Self {
        let iovecs: Vec<libc::iovec> = bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.as_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iovecs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = iovecs.len() as _;
        SendVectored {
            fd,
            bufs,
            iovecs,
            msg,
        }
    }
}

// SAFETY: the entry points at `msg` (inline), which points at `iovecs` (a Vec the op owns and
// never resizes), which point into `bufs` (kept alive by the op).
unsafe impl Op for SendVectored {
    /// Bytes sent in total, and the buffers.
    type Output = (io::Result<usize>, Vec<Bytes>);
    const KIND: OpKind = OpKind::SendVectored;

    fn fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }
    fn validate(&self) -> Result<(), i32> {
        if self.iovecs.len() > 1024 {
            return Err(libc::EMSGSIZE);
        }
        Ok(())
    }
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        opcode::SendMsg::new(Fd(self.fd), &self.msg)
            .flags(SEND_FLAGS as u32)
            .build()
    }
    fn epoll_attempt(&mut self) -> Attempt {
        let flags = SEND_FLAGS | libc::MSG_DONTWAIT;
        // SAFETY: msg describes our own iovecs and buffers.
        let ret = unsafe { libc::sendmsg(self.fd, &self.msg, flags) };
        done_or_wait(syscall_res(ret), self.fd, Direction::Write)
    }
    fn complete(self, res: i32) -> Self::Output {
        let _ = &self.iovecs;
        (result(res), self.bufs)
    }
}
