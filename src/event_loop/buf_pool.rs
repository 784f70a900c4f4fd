//! The shared receive-buffer pool behind [`RecvMulti`](crate::op::RecvMulti).
//!
//! One slab of `count × size` bytes serves every multishot recv of a loop. On io_uring the free
//! buffers sit in a provided-buffer ring, and the kernel picks one only when data arrives; on epoll
//! they sit in a free list and the loop picks one just before it calls `recv`. Either way an idle
//! connection holds no buffer, and a [`PooledBuf`] goes back to the pool when it is dropped.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;
use std::rc::Rc;

#[cfg(ringloop_uring)]
use crate::driver::uring::buf_ring::BufRing;

/// The buffer group id the loop registers its ring under.
pub(crate) const BGID: u16 = 0;

enum Backing {
    #[cfg(ringloop_uring)]
    Ring(BufRing),
    FreeList(Vec<u16>),
}

pub(crate) struct PoolShared {
    mem: NonNull<u8>,
    mem_len: usize,
    buf_size: usize,
    count: u16,
    backing: RefCell<Backing>,
    available: Cell<usize>,
}

/// A handle to the pool (cheap to clone).
#[derive(Clone)]
pub(crate) struct BufPool {
    shared: Rc<PoolShared>,
}

impl BufPool {
    fn alloc(count: u16, buf_size: usize, backing: Backing) -> Self {
        let mem_len = count as usize * buf_size;
        let mut mem = vec![0u8; mem_len].into_boxed_slice();
        let ptr = NonNull::new(mem.as_mut_ptr()).expect("boxed slice pointer is never null");
        std::mem::forget(mem);
        BufPool {
            shared: Rc::new(PoolShared {
                mem: ptr,
                mem_len,
                buf_size,
                count,
                backing: RefCell::new(backing),
                available: Cell::new(count as usize),
            }),
        }
    }

    /// A pool whose free buffers wait in a list (epoll backend).
    pub(crate) fn free_list(count: u16, buf_size: usize) -> Self {
        Self::alloc(
            count,
            buf_size,
            Backing::FreeList((0..count).rev().collect()),
        )
    }

    /// A pool whose free buffers wait in a provided-buffer ring; the caller registers the ring.
    #[cfg(ringloop_uring)]
    pub(crate) fn ring(count: u16, buf_size: usize) -> std::io::Result<Self> {
        let ring = BufRing::new(count)?;
        let pool = Self::alloc(count, buf_size, Backing::Ring(ring));
        {
            let shared = &pool.shared;
            let mut backing = shared.backing.borrow_mut();
            let Backing::Ring(ring) = &mut *backing else {
                unreachable!()
            };
            for bid in 0..count {
                ring.push(shared.buf_addr(bid), buf_size as u32, bid);
            }
            ring.publish();
        }
        Ok(pool)
    }

    /// Address and size of the ring to register with io_uring.
    #[cfg(ringloop_uring)]
    pub(crate) fn ring_registration(&self) -> Option<(u64, u16)> {
        match &*self.shared.backing.borrow() {
            Backing::Ring(ring) => Some((ring.addr(), ring.entries())),
            Backing::FreeList(_) => None,
        }
    }

    /// Buffers currently free (in the ring or the list).
    pub(crate) fn available(&self) -> usize {
        self.shared.available.get()
    }

    /// Number of buffers in the pool.
    pub(crate) fn count(&self) -> usize {
        self.shared.count as usize
    }

    /// Size of each buffer.
    pub(crate) fn buf_size(&self) -> usize {
        self.shared.buf_size
    }

    /// The kernel filled buffer `bid` with `len` bytes (io_uring): wrap it for the user.
    pub(crate) fn claim(&self, bid: u16, len: usize) -> PooledBuf {
        debug_assert!(bid < self.shared.count);
        self.shared
            .available
            .set(self.shared.available.get().saturating_sub(1));
        PooledBuf {
            shared: self.shared.clone(),
            bid,
            len: len.min(self.shared.buf_size),
        }
    }

    /// Takes a free buffer to receive into (epoll). `None` when the pool is exhausted.
    pub(crate) fn take(&self) -> Option<(u16, *mut u8)> {
        let bid = match &mut *self.shared.backing.borrow_mut() {
            Backing::FreeList(free) => free.pop()?,
            #[cfg(ringloop_uring)]
            Backing::Ring(_) => return None,
        };
        self.shared.available.set(self.shared.available.get() - 1);
        Some((bid, self.shared.buf_addr(bid) as *mut u8))
    }

    /// Wraps a buffer taken with [`BufPool::take`] that now holds `len` bytes.
    pub(crate) fn filled(&self, bid: u16, len: usize) -> PooledBuf {
        PooledBuf {
            shared: self.shared.clone(),
            bid,
            len: len.min(self.shared.buf_size),
        }
    }

    /// Returns a buffer that carried no data (a recv that hit EAGAIN, EOF or an error).
    pub(crate) fn give_back(&self, bid: u16) {
        self.shared.give_back(bid);
    }
}

impl PoolShared {
    fn buf_addr(&self, bid: u16) -> u64 {
        // SAFETY: bid < count, so the offset stays inside the allocation.
        unsafe { self.mem.as_ptr().add(bid as usize * self.buf_size) as u64 }
    }

    fn give_back(&self, bid: u16) {
        match &mut *self.backing.borrow_mut() {
            Backing::FreeList(free) => free.push(bid),
            #[cfg(ringloop_uring)]
            Backing::Ring(ring) => {
                ring.push(self.buf_addr(bid), self.buf_size as u32, bid);
                ring.publish();
            }
        }
        self.available.set(self.available.get() + 1);
    }
}

impl Drop for PoolShared {
    fn drop(&mut self) {
        // SAFETY: rebuilds the boxed slice leaked in `alloc`, with the same pointer and length.
        // The last PooledBuf is gone (each holds an Rc) and the loop has unregistered the ring
        // (or closed the io_uring) before its own handle dropped, so the kernel holds no buffer.
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.mem.as_ptr(),
                self.mem_len,
            )))
        };
    }
}

/// Bytes received by a [`RecvMulti`](crate::op::RecvMulti), in a buffer borrowed from the loop's
/// pool. Dropping it gives the buffer back, so hold it only as long as you need the bytes.
pub struct PooledBuf {
    shared: Rc<PoolShared>,
    bid: u16,
    len: usize,
}

impl PooledBuf {
    /// The pool's id for this buffer (visible in trace logs).
    pub fn buffer_id(&self) -> u16 {
        self.bid
    }
}

impl Deref for PooledBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: while this PooledBuf exists its buffer is out of the ring/free list, so neither
        // the kernel nor the loop writes to it; len <= buf_size keeps the slice in bounds.
        unsafe { std::slice::from_raw_parts(self.shared.buf_addr(self.bid) as *const u8, self.len) }
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for PooledBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBuf")
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        self.shared.give_back(self.bid);
    }
}
