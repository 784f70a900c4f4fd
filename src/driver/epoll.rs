//! The epoll driver (through mio): readiness, turned into completions by the loop.
//!
//! epoll cannot perform I/O, only say when an fd is worth trying. So the loop first tries the
//! syscall itself; only when it would block does it park the op here, keyed by fd and direction.
//! When mio reports the fd ready, the driver hands back the tokens of every op parked in that
//! direction and the loop tries them again. That retry is the whole "completion emulation".
//!
//! Registrations are edge-triggered and kept for the fd's lifetime (one `epoll_ctl` per fd, not
//! per op; a second one adds writing the first time a writer has to wait). Edge-triggering is
//! safe here because an op is parked only after its syscall returned `EAGAIN` (or, for a stream
//! socket, a short read: see `RecvMulti`), and any readiness that arrives after that produces a
//! new edge.

use std::io;
use std::num::NonZeroU64;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::wake::WakeFd;
use super::{Direction, TOKEN_CLEAN_EDGE};
use crate::event_loop::stats::DriverCounters;

const WAKE_TOKEN: Token = Token(usize::MAX - 1);
/// Larger fd numbers are refused (EBADF) rather than sizing the table after them.
const MAX_FD: RawFd = 1 << 24;

/// Per-fd state, in a vector indexed by fd number: fds are small dense integers, and this lookup
/// sits on the path of every parked op (a hash map cost a measurable share there).
#[derive(Default)]
struct FdTable {
    slots: Vec<Option<FdState>>,
}

impl FdTable {
    fn entry(&mut self, fd: RawFd) -> &mut FdState {
        let i = fd as usize;
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i].get_or_insert_with(FdState::default)
    }
    fn get(&self, fd: RawFd) -> Option<&FdState> {
        self.slots.get(usize::try_from(fd).ok()?)?.as_ref()
    }
    fn get_mut(&mut self, fd: RawFd) -> Option<&mut FdState> {
        self.slots.get_mut(usize::try_from(fd).ok()?)?.as_mut()
    }
    fn remove(&mut self, fd: RawFd) -> Option<FdState> {
        self.slots.get_mut(usize::try_from(fd).ok()?)?.take()
    }
}

#[derive(Default)]
struct FdState {
    /// What the fd is registered for (`None`: not registered). Writing is added only once a
    /// writer has had to wait: a socket registered for writing gets an edge for every ACK that
    /// frees send-buffer space, i.e. a spurious epoll wake-up per message on a request-response
    /// connection whose sends never block.
    interest: Option<Interest>,
    nonblocking: bool,
    readers: Waiters,
    writers: Waiters,
}

/// Tokens parked on one direction of an fd, in parking order. Almost always zero or one (one recv,
/// one send per socket), so the first sits inline and the rest behind one pointer: 16 bytes, so
/// that an fd's whole state fits in one cache line — parking and waking touch no second line,
/// and the table costs little per idle connection.
#[derive(Default)]
struct Waiters {
    /// Tokens are op ids, never 0 in practice; a 0 would simply go to `more`.
    first: Option<NonZeroU64>,
    /// Boxed on purpose: 8 bytes here instead of a `Vec`'s 24, for a list that is almost always
    /// empty (the extra allocation only happens when two ops wait on one direction of an fd).
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<u64>>>,
}

impl Waiters {
    fn push(&mut self, token: u64) {
        match NonZeroU64::new(token) {
            // Inline only when nothing waits: an older token in `more` must stay ahead.
            Some(token) if self.is_empty() => self.first = Some(token),
            _ => self.more.get_or_insert_with(Default::default).push(token),
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none() && self.more.as_ref().is_none_or(|m| m.is_empty())
    }

    fn remove(&mut self, token: u64) -> bool {
        if self.first.map(NonZeroU64::get) == Some(token) {
            self.first = None;
            return true;
        }
        if let Some(more) = &mut self.more {
            if let Some(i) = more.iter().position(|&t| t == token) {
                more.remove(i);
                return true;
            }
        }
        false
    }

    /// Moves every token, in order, to the end of `out`.
    fn drain_into(&mut self, out: &mut Vec<u64>) {
        if let Some(token) = self.first.take() {
            out.push(token.get());
        }
        if let Some(more) = &mut self.more {
            out.append(more);
        }
    }
}

pub(crate) struct EpollDriver {
    poll: Poll,
    events: Events,
    fds: FdTable,
    wake: Arc<WakeFd>,
    pub(crate) counters: DriverCounters,
}

impl EpollDriver {
    pub(crate) fn new(wake: Arc<WakeFd>, capacity: usize) -> io::Result<Self> {
        let poll = Poll::new()?;
        poll.registry().register(
            &mut SourceFd(&wake.as_raw_fd()),
            WAKE_TOKEN,
            Interest::READABLE,
        )?;
        Ok(EpollDriver {
            poll,
            events: Events::with_capacity(capacity.max(64)),
            fds: FdTable::default(),
            wake,
            counters: DriverCounters::default(),
        })
    }

    /// Parks `token` until `fd` is ready in `dir`.
    pub(crate) fn park(&mut self, fd: RawFd, dir: Direction, token: u64) -> io::Result<()> {
        if !(0..=MAX_FD).contains(&fd) {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        let state = self.fds.entry(fd);
        let needed = match dir {
            // PRIORITY, so that urgent data (which ends a TCP read early) marks its edge unclean.
            Direction::Read => Interest::READABLE | Interest::PRIORITY,
            Direction::Write => Interest::WRITABLE,
        };
        match state.interest {
            Some(interest)
                if interest.is_readable() >= needed.is_readable()
                    && interest.is_writable() >= needed.is_writable() => {}
            // Registered for reading only, and now a writer waits: add writing, for good (a
            // socket that once had to wait for room is likely to again). The MOD polls the fd,
            // so room that appeared since the EAGAIN is reported at once: no edge is lost.
            Some(interest) => {
                let interest = interest | needed;
                self.counters.syscalls += 1;
                let reg = self.poll.registry();
                reg.reregister(&mut SourceFd(&fd), Token(fd as usize), interest)?;
                state.interest = Some(interest);
            }
            None => {
                self.counters.syscalls += 1;
                let reg = self.poll.registry();
                match reg.register(&mut SourceFd(&fd), Token(fd as usize), needed) {
                    Ok(()) => {}
                    // Registered under a closed-and-reused number we never heard about: refresh it.
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                        reg.reregister(&mut SourceFd(&fd), Token(fd as usize), needed)?
                    }
                    Err(e) => return Err(e),
                }
                state.interest = Some(needed);
            }
        }
        match dir {
            Direction::Read => state.readers.push(token),
            Direction::Write => state.writers.push(token),
        }
        Ok(())
    }

    /// Removes a parked token (a cancel). Returns false if it was not parked.
    pub(crate) fn unpark(&mut self, fd: RawFd, token: u64) -> bool {
        let Some(state) = self.fds.get_mut(fd) else {
            return false;
        };
        state.readers.remove(token) || state.writers.remove(token)
    }

    /// Forgets `fd` before it is closed: deregisters it and returns every token parked on it.
    pub(crate) fn forget_fd(&mut self, fd: RawFd) -> Vec<u64> {
        let Some(mut state) = self.fds.remove(fd) else {
            return Vec::new();
        };
        if state.interest.is_some() {
            self.counters.syscalls += 1;
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        }
        let mut tokens = Vec::new();
        state.readers.drain_into(&mut tokens);
        state.writers.drain_into(&mut tokens);
        tokens
    }

    /// A new file got this number (accept returned it, or a fresh socket is being connected):
    /// what we knew about an earlier file with the same number, closed behind our back, is stale.
    /// Kept if ops are parked on it, since then it is the same file.
    pub(crate) fn fd_opened(&mut self, fd: RawFd) {
        if self
            .fds
            .get(fd)
            .is_some_and(|s| s.readers.is_empty() && s.writers.is_empty())
        {
            self.fds.remove(fd);
        }
    }

    /// Accept and connect have no per-call "don't block" flag, so their fd must be non-blocking.
    /// Checked once per fd.
    pub(crate) fn ensure_nonblocking(&mut self, fd: RawFd) -> io::Result<()> {
        if self.fds.get(fd).is_some_and(|s| s.nonblocking) {
            return Ok(());
        }
        if !(0..=MAX_FD).contains(&fd) {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        self.counters.syscalls += 2;
        // SAFETY: fcntl on an fd number has no memory effects; errors are reported.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        if flags & libc::O_NONBLOCK == 0
            && unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0
        {
            return Err(io::Error::last_os_error());
        }
        self.fds.entry(fd).nonblocking = true;
        Ok(())
    }

    /// Sleeps until some parked fd is ready or `timeout`; appends the tokens to retry to `ready`.
    /// Returns true if the wake eventfd fired.
    pub(crate) fn wait(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<u64>,
    ) -> io::Result<bool> {
        // Counted once, as a kernel wait (`Stats::syscalls` adds the waits to the others).
        self.counters.enters += 1;
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(false),
            Err(e) => return Err(e),
        }
        let mut woken = false;
        for event in self.events.iter() {
            if event.token() == WAKE_TOKEN {
                woken = true;
                continue;
            }
            let fd = event.token().0 as RawFd;
            let Some(state) = self.fds.get_mut(fd) else {
                continue;
            };
            // Errors and hang-ups wake both sides: the retried syscall reports what happened.
            let broken = event.is_error() || event.is_read_closed() || event.is_write_closed();
            if event.is_readable() || broken {
                let from = ready.len();
                state.readers.drain_into(ready);
                if !broken && !event.is_priority() {
                    for token in &mut ready[from..] {
                        *token |= TOKEN_CLEAN_EDGE;
                    }
                }
            }
            if event.is_writable() || broken {
                state.writers.drain_into(ready);
            }
        }
        if woken {
            self.counters.syscalls += 1;
            self.wake.clear();
            self.wake.drain();
        }
        Ok(woken)
    }
}

impl AsRawFd for EpollDriver {
    fn as_raw_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }
}
#[cfg(test)]
mod tests {
    use super::Waiters;

    fn drained(w: &mut Waiters) -> Vec<u64> {
        let mut out = Vec::new();
        w.drain_into(&mut out);
        out
    }

    #[test]
    fn waiters_keep_parking_order_through_removals() {
        let mut w = Waiters::default();
        assert!(w.is_empty());
        w.push(7);
        w.push(8);
        w.push(9);
        assert!(w.remove(7));
        // The inline place is free again, but older tokens wait behind it: a new one must go
        // after them, not before.
        w.push(10);
        assert!(!w.remove(42));
        assert_eq!(drained(&mut w), vec![8, 9, 10]);
        assert!(w.is_empty());
        w.push(11);
        assert_eq!(drained(&mut w), vec![11]);
    }

    #[test]
    fn a_zero_token_is_kept_too() {
        let mut w = Waiters::default();
        w.push(0);
        w.push(5);
        assert!(!w.is_empty());
        assert_eq!(drained(&mut w), vec![0, 5]);
        w.push(0);
        assert!(w.remove(0));
        assert!(w.is_empty());
    }
}
