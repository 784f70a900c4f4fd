//! File ops: read and write at an offset, fsync, and close.
//!
//! io_uring runs these asynchronously (in the kernel's worker pool when the file system cannot
//! do them without blocking). epoll cannot wait for a regular file at all (files are always
//! "ready"), so on the epoll backend they run synchronously when submitted and complete on the
//! next turn: the API is the same, the loop is just blocked for the duration of the syscall.

use std::io;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};

use bytes::{Bytes, BytesMut};

use super::{filled, has_spare, len_u32, result, spare, syscall_res, Attempt, Op, OpKind, Route};

#[cfg(ringloop_uring)]
use io_uring::{opcode, squeue::Entry, types::Fd};

/// Reads at `offset` into the spare capacity of a `BytesMut` (like `pread(2)`).
pub struct ReadAt {
    fd: RawFd,
    buf: BytesMut,
    offset: u64,
}

impl ReadAt {
    /// Reads from `fd` at `offset`, appending to `buf` (up to its spare capacity).
    pub fn new(fd: RawFd, buf: BytesMut, offset: u64) -> Self {
        ReadAt { fd, buf, offset }
    }
}

// SAFETY: the entry points into `buf`'s heap allocation, owned by the op and never resized.
unsafe impl Op for ReadAt {
    /// Bytes read (0 at end of file), and the buffer with them appended.
    type Output = (io::Result<usize>, BytesMut);
    const KIND: OpKind = OpKind::ReadAt;

    fn fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }
    fn validate(&self) -> Result<(), i32> {
        has_spare(&self.buf)
    }
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        let (ptr, len) = spare(&mut self.buf);
        opcode::Read::new(Fd(self.fd), ptr, len_u32(len))
            .offset(self.offset)
            .build()
    }
    fn epoll_attempt(&mut self) -> Attempt {
        let (ptr, len) = spare(&mut self.buf);
        // SAFETY: writes at most `len` bytes into our own buffer's spare capacity.
        let ret = unsafe { libc::pread(self.fd, ptr.cast(), len, self.offset as libc::off_t) };
        Attempt::Done(syscall_res(ret))
    }
    fn complete(self, res: i32) -> Self::Output {
        // SAFETY: both backends read into `spare(&mut self.buf)`; `res` is that read's count.
        unsafe { filled(self.buf, res) }
    }
}

/// Writes a `Bytes` at `offset` (like `pwrite(2)`; a short write is possible).
pub struct WriteAt {
    fd: RawFd,
    buf: Bytes,
    offset: u64,
}

impl WriteAt {
    /// Writes `buf` to `fd` at `offset`.
    pub fn new(fd: RawFd, buf: Bytes, offset: u64) -> Self {
        WriteAt { fd, buf, offset }
    }
}

// SAFETY: the entry points into `buf`, kept alive and unchanged by the op.
unsafe impl Op for WriteAt {
    /// Bytes written, and the buffer.
    type Output = (io::Result<usize>, Bytes);
    const KIND: OpKind = OpKind::WriteAt;

    fn fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        opcode::Write::new(Fd(self.fd), self.buf.as_ptr(), len_u32(self.buf.len()))
            .offset(self.offset)
            .build()
    }
    fn epoll_attempt(&mut self) -> Attempt {
        // SAFETY: reads our own buffer.
        let ret = unsafe {
            libc::pwrite(
                self.fd,
                self.buf.as_ptr().cast(),
                self.buf.len(),
                self.offset as libc::off_t,
            )
        };
        Attempt::Done(syscall_res(ret))
    }
    fn complete(self, res: i32) -> Self::Output {
        (result(res), self.buf)
    }
}

/// Flushes a file to stable storage (`fsync(2)`, or `fdatasync(2)` with [`Fsync::data_only`]).
pub struct Fsync {
    fd: RawFd,
    data_only: bool,
}

impl Fsync {
    /// Syncs data and metadata of `fd`.
    pub fn new(fd: RawFd) -> Self {
        Fsync {
            fd,
            data_only: false,
        }
    }
    /// Syncs data only (metadata such as mtime may lag), like `fdatasync(2)`.
    pub fn data_only(mut self) -> Self {
        self.data_only = true;
        self
    }
}

// SAFETY: the entry has no pointers.
unsafe impl Op for Fsync {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Fsync;

    fn fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        let mut op = opcode::Fsync::new(Fd(self.fd));
        if self.data_only {
            op = op.flags(io_uring::types::FsyncFlags::DATASYNC);
        }
        op.build()
    }
    fn epoll_attempt(&mut self) -> Attempt {
        // SAFETY: no memory is passed.
        let ret = unsafe {
            if self.data_only {
                libc::fdatasync(self.fd)
            } else {
                libc::fsync(self.fd)
            }
        };
        Attempt::Done(syscall_res(ret as isize))
    }
    fn complete(self, res: i32) -> Self::Output {
        result(res).map(drop)
    }
}

/// Closes an fd, first cancelling every op still pending on it.
///
/// This is the defined way to close an fd that has ops in flight: they complete with
/// `ECANCELED` (or with their own result if they raced to finish), and only then is the fd
/// closed, so no op can ever run against a different file that reused the number.
pub struct Close {
    fd: RawFd,
}

impl Close {
    /// Takes ownership of `fd`; it is closed even if the op fails.
    pub fn new(fd: OwnedFd) -> Self {
        Close {
            fd: fd.into_raw_fd(),
        }
    }
}

// SAFETY: the entry has no pointers.
unsafe impl Op for Close {
    type Output = io::Result<()>;
    const KIND: OpKind = OpKind::Close;

    fn fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }
    fn route(&self) -> Route {
        Route::CloseFd(self.fd)
    }
    #[cfg(ringloop_uring)]
    fn uring_entry(&mut self) -> Entry {
        opcode::Close::new(Fd(self.fd)).build()
    }
    fn epoll_attempt(&mut self) -> Attempt {
        // SAFETY: we own this fd (taken from an OwnedFd) and close it exactly once.
        let ret = unsafe { libc::close(self.fd) };
        Attempt::Done(syscall_res(ret as isize))
    }
    fn complete(self, res: i32) -> Self::Output {
        result(res).map(drop)
    }
}
