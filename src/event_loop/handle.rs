//! [`LoopHandle`]: the one part of a loop that other threads may touch.
//!
//! A handle wakes the loop (an eventfd write, coalesced) and posts closures that the loop runs
//! on its own thread during its next turn. It does not keep the loop alive: `run()` still returns
//! when the loop has no ops or timers, and posting to a dropped loop is an error.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::EventLoop;
use crate::driver::wake::WakeFd;

type Posted = Box<dyn FnOnce(&mut EventLoop) + Send>;

pub(crate) struct HandleShared {
    wake: Arc<WakeFd>,
    posted: Mutex<Vec<Posted>>,
    has_posted: AtomicBool,
    stop: AtomicBool,
    alive: AtomicBool,
}

impl HandleShared {
    pub(crate) fn new(wake: Arc<WakeFd>) -> Self {
        HandleShared {
            wake,
            posted: Mutex::new(Vec::new()),
            has_posted: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            alive: AtomicBool::new(true),
        }
    }

    pub(crate) fn has_posted(&self) -> bool {
        self.has_posted.load(Ordering::Acquire)
    }

    pub(crate) fn take_posted(&self) -> Vec<Posted> {
        self.has_posted.store(false, Ordering::Release);
        std::mem::take(&mut *self.posted.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn take_stop(&self) -> bool {
        self.stop.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn shut_down(&self) {
        self.alive.store(false, Ordering::Release);
        // Closures that will never run are dropped here, on the loop's thread.
        drop(self.take_posted());
    }
}

/// A `Send + Sync` handle to wake a loop and post work to it from any thread.
#[derive(Clone)]
pub struct LoopHandle {
    pub(crate) shared: Arc<HandleShared>,
}

impl LoopHandle {
    /// Interrupts the loop's wait (the next turn returns promptly). Coalesced: many wakes before
    /// the loop runs cost one eventfd write.
    pub fn wake(&self) -> io::Result<()> {
        self.shared.wake.wake()
    }

    /// Runs `f` on the loop's thread during its next turn, and wakes it.
    pub fn post(&self, f: impl FnOnce(&mut EventLoop) + Send + 'static) -> io::Result<()> {
        if !self.shared.alive.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the event loop has been dropped",
            ));
        }
        self.shared
            .posted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(f));
        self.shared.has_posted.store(true, Ordering::Release);
        self.wake()
    }

    /// Asks the loop to return from `run()` after its current turn.
    pub fn stop(&self) -> io::Result<()> {
        self.shared.stop.store(true, Ordering::Release);
        self.wake()
    }

    /// False once the loop has been dropped.
    pub fn is_alive(&self) -> bool {
        self.shared.alive.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopHandle")
            .field("alive", &self.is_alive())
            .finish()
    }
}
