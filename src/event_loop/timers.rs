//! The timer heap: every deadline of a loop, one binary heap, one wait timeout.
//!
//! Insert and pop are O(log n); cancel is O(1) (the slab entry goes, its heap entry is skipped
//! when it surfaces). Cancelled entries still in the heap are counted, and the heap is rebuilt
//! when they outnumber the live ones, so a program that keeps re-arming idle timeouts does not
//! grow the heap without bound: cancel stays amortised O(log n) in space and time.
//!
//! The heap is generic over what a timer does (`A`), so the loop's callbacks and op timeouts are
//! stored without this file knowing about either.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use slab::Slab;

/// `from + after`, saturating at about a century ahead: `Duration::MAX` ("never") would
/// otherwise overflow `Instant` and panic.
pub(crate) fn deadline_after(from: Instant, after: Duration) -> Instant {
    const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    // A monotonic clock a century from now cannot overflow (its seconds are an i64).
    from.checked_add(after.min(NEVER))
        .expect("a deadline a century ahead fits an Instant")
}

/// Identifies a timer (slab key plus a sequence number, so a stale id never matches a new timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    key: usize,
    seq: u64,
}

struct Entry<A> {
    seq: u64,
    deadline: Instant,
    period: Option<Duration>,
    /// `None` while the action is out being run.
    action: Option<A>,
}

pub(crate) struct Timers<A> {
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    entries: Slab<Entry<A>>,
    next_seq: u64,
    stale_in_heap: usize,
}

impl<A> Default for Timers<A> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            entries: Slab::new(),
            next_seq: 0,
            stale_in_heap: 0,
        }
    }
}

impl<A> Timers<A> {
    /// Adds a timer firing at `deadline`, then every `period` if given.
    pub(crate) fn insert(
        &mut self,
        deadline: Instant,
        period: Option<Duration>,
        action: A,
    ) -> TimerId {
        let seq = self.next_seq;
        self.next_seq += 1;
        // A zero period would fire forever within one turn.
        let period = period.map(|p| p.max(Duration::from_micros(1)));
        let key = self.entries.insert(Entry {
            seq,
            deadline,
            period,
            action: Some(action),
        });
        self.heap.push(Reverse((deadline, seq, key)));
        TimerId { key, seq }
    }

    /// Cancels a timer; returns its action if it was pending (or being run).
    pub(crate) fn cancel(&mut self, id: TimerId) -> Option<Option<A>> {
        match self.entries.get(id.key) {
            Some(e) if e.seq == id.seq => {}
            _ => return None,
        }
        let entry = self.entries.remove(id.key);
        if entry.action.is_some() {
            self.stale_in_heap += 1;
            self.compact_if_needed();
        }
        Some(entry.action)
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.skip_stale();
        self.heap.peek().map(|Reverse((deadline, _, _))| *deadline)
    }

    /// Takes the next timer due at `now`, if any. A repeating timer stays registered (its action is
    /// out until [`Timers::put_back`]); a one-shot timer is removed.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(TimerId, A, bool)> {
        self.skip_stale();
        let Reverse((deadline, seq, key)) = *self.heap.peek()?;
        if deadline > now {
            return None;
        }
        self.heap.pop();
        let entry = &mut self.entries[key];
        let id = TimerId { key, seq };
        let action = entry
            .action
            .take()
            .expect("a live heap entry has its action");
        if entry.period.is_some() {
            return Some((id, action, true));
        }
        self.entries.remove(key);
        Some((id, action, false))
    }

    /// Re-arms a repeating timer after its action ran (unless it was cancelled meanwhile).
    pub(crate) fn put_back(&mut self, id: TimerId, action: A, now: Instant) {
        let Some(entry) = self.entries.get_mut(id.key).filter(|e| e.seq == id.seq) else {
            return;
        };
        let period = entry.period.unwrap_or(Duration::from_micros(1));
        let mut next = deadline_after(entry.deadline, period);
        if next <= now {
            // Fell behind (a long callback, a stopped loop): skip missed ticks instead of bursting.
            next = deadline_after(now, period);
        }
        entry.deadline = next;
        entry.action = Some(action);
        self.heap.push(Reverse((next, id.seq, id.key)));
    }

    /// Pending timers.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn skip_stale(&mut self) {
        while let Some(Reverse((_, seq, key))) = self.heap.peek() {
            let live =
                matches!(self.entries.get(*key), Some(e) if e.seq == *seq && e.action.is_some());
            if live {
                return;
            }
            self.heap.pop();
            self.stale_in_heap = self.stale_in_heap.saturating_sub(1);
        }
    }

    fn compact_if_needed(&mut self) {
        if self.stale_in_heap > 64 && self.stale_in_heap > self.entries.len() {
            let entries = &self.entries;
            self.heap.retain(|Reverse((_, seq, key))| {
                matches!(entries.get(*key), Some(e) if e.seq == *seq && e.action.is_some())
            });
            self.stale_in_heap = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_order_and_skips_cancelled() {
        let now = Instant::now();
        let mut t = Timers::default();
        let a = t.insert(now + Duration::from_millis(3), None, "c");
        t.insert(now + Duration::from_millis(1), None, "a");
        t.insert(now + Duration::from_millis(2), None, "b");
        let d = t.insert(now + Duration::from_millis(4), None, "d");
        assert!(t.cancel(d).is_some());
        assert!(t.cancel(d).is_none(), "second cancel is a no-op");
        let later = now + Duration::from_millis(10);
        let fired: Vec<_> = std::iter::from_fn(|| t.pop_due(later).map(|(_, a, _)| a)).collect();
        assert_eq!(fired, ["a", "b", "c"]);
        assert!(t.cancel(a).is_none(), "a fired timer cannot be cancelled");
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn repeating_timer_rearms_and_skips_missed_ticks() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.insert(
            now + Duration::from_millis(1),
            Some(Duration::from_millis(1)),
            (),
        );
        let late = now + Duration::from_millis(100);
        let (id, action, repeating) = t.pop_due(late).unwrap();
        assert!(repeating);
        t.put_back(id, action, late);
        assert!(
            t.pop_due(late).is_none(),
            "missed ticks are skipped, not burst"
        );
        assert_eq!(t.next_deadline(), Some(late + Duration::from_millis(1)));
    }

    #[test]
    fn heap_is_compacted_when_cancelled_entries_dominate() {
        let now = Instant::now();
        let mut t = Timers::default();
        for i in 0..10_000u64 {
            let id = t.insert(now + Duration::from_secs(60 + i), None, i);
            t.cancel(id);
        }
        assert!(
            t.heap.len() <= 130,
            "heap holds {} stale entries",
            t.heap.len()
        );
        assert_eq!(t.len(), 0);
    }
}
