//! [`ReadGate`]: pausing and resuming a connection's multishot recv for back-pressure.
//!
//! Reading pauses by cancelling the running `RecvMulti`. Items that were already on their way still
//! arrive (they are data and must be used), and a new recv may start only after the old stream has
//! ended with `ECANCELED` — two streams on one socket could deliver bytes out of order. This small
//! state machine encodes exactly that, so servers do not each get it subtly wrong.

/// Where a connection's reading stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadState {
    /// A multishot recv is running.
    Reading,
    /// Its cancel is on the way; start a new one once it has ended if `resume`.
    Pausing {
        /// The output drained meanwhile: resume as soon as the old stream ends.
        resume: bool,
    },
    /// No recv: waiting for the peer to drain our output.
    Paused,
    /// The peer closed its side (or reading is over for another reason).
    Eof,
}

/// The read side of a connection under back-pressure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadGate {
    state: ReadState,
}

impl Default for ReadGate {
    fn default() -> Self {
        ReadGate {
            state: ReadState::Reading,
        }
    }
}

impl ReadGate {
    /// A gate for a connection whose recv is running.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current state.
    pub fn state(&self) -> ReadState {
        self.state
    }

    /// Output was queued: if it is above the high-water mark and we are reading, returns true —
    /// the caller must cancel the running recv now.
    pub fn should_pause(&mut self, over_high_water: bool) -> bool {
        if over_high_water && self.state == ReadState::Reading {
            self.state = ReadState::Pausing { resume: false };
            return true;
        }
        false
    }

    /// The recv stream ended with `ECANCELED`. Returns true if a new recv must start now. A cancel
    /// we did not ask for (not pausing) returns false and leaves the state alone.
    pub fn on_cancelled(&mut self) -> bool {
        match self.state {
            ReadState::Pausing { resume: true } => {
                self.state = ReadState::Reading;
                true
            }
            ReadState::Pausing { resume: false } => {
                self.state = ReadState::Paused;
                false
            }
            _ => false,
        }
    }

    /// Output drained below the low-water mark. Returns true if a new recv must start now.
    pub fn on_drained(&mut self) -> bool {
        match self.state {
            ReadState::Paused => {
                self.state = ReadState::Reading;
                true
            }
            ReadState::Pausing { .. } => {
                self.state = ReadState::Pausing { resume: true };
                false
            }
            _ => false,
        }
    }

    /// The peer closed its side: no more reading.
    pub fn on_eof(&mut self) {
        self.state = ReadState::Eof;
    }

    /// True while a cancel we asked for is on its way (an `ECANCELED` then is expected).
    pub fn is_pausing(&self) -> bool {
        matches!(self.state, ReadState::Pausing { .. })
    }

    /// True after end-of-file.
    pub fn is_eof(&self) -> bool {
        self.state == ReadState::Eof
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_waits_for_the_old_stream_to_end() {
        let mut g = ReadGate::new();
        assert!(!g.should_pause(false));
        assert!(g.should_pause(true), "over the mark: cancel");
        assert!(!g.should_pause(true), "only one cancel");
        assert!(
            !g.on_drained(),
            "drained before the stream ended: no second stream yet"
        );
        assert!(g.on_cancelled(), "the old stream ended: now resume");
        assert_eq!(g.state(), ReadState::Reading);
    }

    #[test]
    fn paused_until_drained() {
        let mut g = ReadGate::new();
        g.should_pause(true);
        assert!(!g.on_cancelled());
        assert_eq!(g.state(), ReadState::Paused);
        assert!(g.on_drained());
        assert_eq!(g.state(), ReadState::Reading);
    }
}
