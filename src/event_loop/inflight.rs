//! The in-flight table: every op the loop owns, from submission until its owner has its result.
//!
//! A slot is addressed by an [`OpId`] = slab key + generation. The id doubles as the io_uring
//! `user_data` (generation in the high 32 bits, top bit always clear), so a completion for a slot
//! that has since been reused can never be mistaken for the new op.

use std::fmt;
use std::os::fd::RawFd;
use std::time::Instant;

use slab::Slab;

use super::entry::{MultiEntry, OnceEntry};
use super::timers::TimerId;
use crate::op::OpKind;

/// Identifies one submitted op for as long as the loop knows it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpId {
    index: u32,
    generation: u32,
}

impl OpId {
    pub(crate) fn user_data(self) -> u64 {
        ((self.generation as u64) << 32) | self.index as u64
    }
    pub(crate) fn from_user_data(ud: u64) -> OpId {
        OpId {
            index: ud as u32,
            generation: (ud >> 32) as u32,
        }
    }
}

impl fmt::Debug for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op#{}.{}", self.index, self.generation)
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Where an in-flight op is waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parked {
    /// In the io_uring.
    Kernel,
    /// In the epoll driver, until this fd is ready.
    Fd(RawFd),
    /// In the timer heap.
    Timer(TimerId),
    /// A multishot recv waiting for a pool buffer to come back.
    Starved,
    /// Its completion is queued for this turn's dispatch.
    Ready,
    /// (epoll multishot) queued to run its accept/recv loop again next turn.
    Retry,
    /// Finished (a ticket result or an ended stream waiting to be collected).
    Nowhere,
}

pub(crate) enum State {
    Once(Box<dyn OnceEntry>),
    Multi(Box<dyn MultiEntry>),
    /// A finished ticket op, holding its output until polled.
    Done(Box<dyn OnceEntry>),
    /// Taken out while its completion is being delivered.
    Busy,
}

pub(crate) struct Slot {
    generation: u32,
    pub kind: OpKind,
    pub fd: Option<RawFd>,
    pub parked: Parked,
    pub cancel_requested: bool,
    /// The owner dropped its ticket: the result will be dropped, not stored.
    pub detached: bool,
    pub state: State,
}

#[derive(Default)]
pub(crate) struct InFlight {
    slots: Slab<Slot>,
    generations: Vec<u32>,
    /// When each op was submitted, by slot index; only kept while trace logging is on (reading
    /// the clock costs more than the rest of a submission's bookkeeping). Not in [`Slot`]: its
    /// 16 bytes would take a slot from one cache line to two, and every completion reads one.
    submitted_at: Vec<Option<Instant>>,
}

impl InFlight {
    pub(crate) fn insert(&mut self, kind: OpKind, fd: Option<RawFd>, state: State) -> OpId {
        let entry = self.slots.vacant_entry();
        let index = entry.key();
        if index >= self.generations.len() {
            self.generations.resize(index + 1, 0);
        }
        // 31 bits, so user_data never reaches the reserved tokens at the top of the range.
        let generation = (self.generations[index] + 1) & 0x7fff_ffff;
        self.generations[index] = generation;
        entry.insert(Slot {
            generation,
            kind,
            fd,
            parked: Parked::Nowhere,
            cancel_requested: false,
            detached: false,
            state,
        });
        if log::max_level() >= log::LevelFilter::Trace {
            if index >= self.submitted_at.len() {
                self.submitted_at.resize(index + 1, None);
            }
            self.submitted_at[index] = Some(Instant::now());
        } else if let Some(stale) = self.submitted_at.get_mut(index) {
            // Trace logging was on for an earlier op in this slot: do not report its time.
            *stale = None;
        }
        OpId {
            index: index as u32,
            generation,
        }
    }

    pub(crate) fn get(&self, id: OpId) -> Option<&Slot> {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation)
    }

    pub(crate) fn get_mut(&mut self, id: OpId) -> Option<&mut Slot> {
        self.slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)
    }

    /// When `id` was submitted, if trace logging was on then.
    pub(crate) fn submitted_at(&self, id: OpId) -> Option<Instant> {
        self.get(id)?;
        self.submitted_at.get(id.index as usize).copied().flatten()
    }

    pub(crate) fn remove(&mut self, id: OpId) -> Option<Slot> {
        self.get(id)?;
        Some(self.slots.remove(id.index as usize))
    }

    pub(crate) fn ids(&self) -> Vec<OpId> {
        self.slots
            .iter()
            .map(|(i, s)| OpId {
                index: i as u32,
                generation: s.generation,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submission_time_is_kept_only_while_tracing_and_never_reported_stale() {
        let before = log::max_level();
        let mut table = InFlight::default();
        log::set_max_level(log::LevelFilter::Trace);
        let traced = table.insert(OpKind::Nop, None, State::Busy);
        assert!(table.submitted_at(traced).is_some());
        table.remove(traced);
        log::set_max_level(log::LevelFilter::Off);
        // Reuses the slot: the earlier op's time must not be reported for this one.
        let untraced = table.insert(OpKind::Nop, None, State::Busy);
        assert_eq!(untraced.index, traced.index);
        assert!(table.submitted_at(untraced).is_none());
        assert!(
            table.submitted_at(traced).is_none(),
            "a stale id has no time"
        );
        log::set_max_level(before);
    }
}
