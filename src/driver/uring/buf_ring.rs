//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19+).
//!
//! Instead of giving every pending recv its own buffer, the application lends the kernel a ring of
//! buffer descriptors; a multishot recv picks one only when data actually arrives and reports its
//! id in the completion flags. An idle connection therefore holds no read buffer at all.
//!
//! This file is only the ring protocol: descriptors written at `tail`, published with one release
//! store of the tail index. Which memory the descriptors point at, and when a buffer comes back,
//! is the business of the loop's buffer pool.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

pub(crate) struct BufRing {
    base: NonNull<BufRingEntry>,
    entries: u16,
    tail: u16,
    map_len: usize,
}

impl BufRing {
    /// Maps a page-aligned ring of `entries` descriptors (a power of two, at most 32768).
    pub(crate) fn new(entries: u16) -> io::Result<Self> {
        if !entries.is_power_of_two() || entries > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer ring size must be a power of two up to 32768",
            ));
        }
        let map_len = entries as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping with no address hint; checked for MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(ptr.cast()).expect("mmap returned null");
        Ok(BufRing {
            base,
            entries,
            tail: 0,
            map_len,
        })
    }

    pub(crate) fn addr(&self) -> u64 {
        self.base.as_ptr() as u64
    }

    pub(crate) fn entries(&self) -> u16 {
        self.entries
    }

    /// Writes one descriptor at the (unpublished) tail.
    pub(crate) fn push(&mut self, addr: u64, len: u32, bid: u16) {
        let idx = (self.tail & (self.entries - 1)) as usize;
        // SAFETY: idx < entries, inside the mapping. The kernel only reads descriptors between
        // its head and the published tail, and this slot is at or past the published tail.
        let entry = unsafe { &mut *self.base.as_ptr().add(idx) };
        entry.set_addr(addr);
        entry.set_len(len);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes every pushed descriptor visible to the kernel.
    pub(crate) fn publish(&self) {
        // SAFETY: the tail field lives in the first descriptor of our live mapping. The kernel
        // reads it with acquire ordering, pairing with this release store, so it sees the
        // descriptors written before.
        unsafe {
            let tail = BufRingEntry::tail(self.base.as_ptr()) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping. The pool that owns this ring unregisters it from the
        // io_uring (or the ring is already closed) before dropping it, so the kernel no longer
        // reads it.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.map_len) };
    }
}
