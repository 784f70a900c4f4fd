//! A deque kept in bounded chunks, so that growing never moves its whole content.
//!
//! A `VecDeque` that is full doubles its buffer and copies every element over. For a job queue
//! that is a latency bug, not a cost: at 262,144 jobs of 56 bytes the loop stops for a 14 MiB
//! copy plus the page faults of a fresh 28 MiB buffer, and `redis-benchmark -P 16 -t lpush` saw
//! the broker's max latency reach 12 ms as a list grew to 1.2 M jobs (BENCHMARKS.md). Here elements live in chunks
//! of at most [`CHUNK`]; growing adds a chunk, and the deque of chunks that still doubles is a
//! 256th of the size — the idea of Redis's quicklist. A small queue costs only its elements: a
//! lone chunk grows from empty like any `VecDeque` until it is full.
//!
//! Only what a priority lane of [`Queue`](super::queue) needs: both ends, an insert at a
//! partition point (a returned job goes back where it was), in-order iteration (`&deque`).

use std::collections::VecDeque;

/// Elements per chunk at most: 256 jobs are 14 KiB, small enough to copy when a chunk grows or
/// splits, large enough that the chunk handles are few.
pub(crate) const CHUNK: usize = 256;

pub(crate) struct ChunkedDeque<T> {
    /// Never holds an empty chunk, so the deque is empty exactly when this is.
    chunks: VecDeque<VecDeque<T>>,
    /// The last chunk emptied, kept so a deque going 0 → 1 → 0 does not allocate each time.
    spare: Option<VecDeque<T>>,
}

impl<T> Default for ChunkedDeque<T> {
    fn default() -> Self {
        ChunkedDeque {
            chunks: VecDeque::new(),
            spare: None,
        }
    }
}

impl<T> ChunkedDeque<T> {
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub(crate) fn front(&self) -> Option<&T> {
        self.chunks.front()?.front()
    }

    pub(crate) fn back(&self) -> Option<&T> {
        self.chunks.back()?.back()
    }

    /// A chunk to start: the spare, or a new one — full-sized unless it is the only chunk (a
    /// small deque should not pay for 256 elements).
    fn new_chunk(&mut self) -> VecDeque<T> {
        match self.spare.take() {
            Some(c) => c,
            None if self.chunks.is_empty() => VecDeque::new(),
            None => VecDeque::with_capacity(CHUNK),
        }
    }

    pub(crate) fn push_back(&mut self, v: T) {
        match self.chunks.back_mut() {
            Some(c) if c.len() < CHUNK => c.push_back(v),
            _ => {
                let mut c = self.new_chunk();
                c.push_back(v);
                self.chunks.push_back(c);
            }
        }
    }

    pub(crate) fn push_front(&mut self, v: T) {
        match self.chunks.front_mut() {
            Some(c) if c.len() < CHUNK => c.push_front(v),
            _ => {
                let mut c = self.new_chunk();
                c.push_front(v);
                self.chunks.push_front(c);
            }
        }
    }

    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let c = self.chunks.front_mut()?;
        let v = c.pop_front();
        if c.is_empty() {
            let c = self.chunks.pop_front();
            self.keep_spare(c);
        }
        v
    }

    pub(crate) fn pop_back(&mut self) -> Option<T> {
        let c = self.chunks.back_mut()?;
        let v = c.pop_back();
        if c.is_empty() {
            let c = self.chunks.pop_back();
            self.keep_spare(c);
        }
        v
    }

    fn keep_spare(&mut self, chunk: Option<VecDeque<T>>) {
        if let Some(c) = chunk {
            if c.capacity() <= 2 * CHUNK {
                self.spare = Some(c);
            }
        }
    }

    /// Inserts `v` at the partition point of `is_before` (which must be true for a prefix of the
    /// deque and false for the rest, as for `VecDeque::partition_point`). A full chunk splits in
    /// two rather than growing.
    pub(crate) fn insert_at_partition(&mut self, v: T, is_before: impl Fn(&T) -> bool) {
        // The first chunk whose last element does not go before `v` holds the partition point.
        let ci = self
            .chunks
            .partition_point(|c| c.back().is_some_and(&is_before));
        if ci == self.chunks.len() {
            self.push_back(v);
            return;
        }
        let chunk = &mut self.chunks[ci];
        let at = chunk.partition_point(&is_before);
        if chunk.len() < CHUNK {
            chunk.insert(at, v);
        } else {
            let tail = chunk.split_off(CHUNK / 2);
            self.chunks.insert(ci + 1, tail);
            if at <= CHUNK / 2 {
                self.chunks[ci].insert(at, v);
            } else {
                self.chunks[ci + 1].insert(at - CHUNK / 2, v);
            }
        }
    }
}

impl<'a, T> IntoIterator for &'a ChunkedDeque<T> {
    type Item = &'a T;
    type IntoIter = std::iter::Flatten<std::collections::vec_deque::Iter<'a, VecDeque<T>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.chunks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        PushBack,
        PushFront,
        PopFront,
        PopBack,
        /// Insert a key between existing ones, at this fraction of the range.
        Insert(u16),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => Just(Op::PushBack),
            3 => Just(Op::PushFront),
            3 => Just(Op::PopFront),
            2 => Just(Op::PopBack),
            3 => any::<u16>().prop_map(Op::Insert),
            1 => Just(Op::Clear),
        ]
    }

    /// Runs `ops` (each repeated `burst` times, so chunks fill and split) on a `ChunkedDeque` of
    /// sorted keys and on a `VecDeque` model, comparing after every step.
    fn check(ops: &[Op], burst: usize) {
        let mut d = ChunkedDeque::<i64>::default();
        let mut model = VecDeque::<i64>::new();
        // Keys are spaced so inserts between neighbours always find a free key.
        let (mut lo, mut hi) = (0i64, 0i64);
        for op in ops {
            for _ in 0..burst {
                match op {
                    Op::PushBack => {
                        hi += 1 << 20;
                        d.push_back(hi);
                        model.push_back(hi);
                    }
                    Op::PushFront => {
                        lo -= 1 << 20;
                        d.push_front(lo);
                        model.push_front(lo);
                    }
                    Op::PopFront => assert_eq!(d.pop_front(), model.pop_front()),
                    Op::PopBack => assert_eq!(d.pop_back(), model.pop_back()),
                    Op::Insert(f) => {
                        if model.len() < 2 {
                            continue;
                        }
                        let i = 1 + (*f as usize * (model.len() - 1)) / (u16::MAX as usize + 1);
                        let (a, b) = (model[i - 1], model[i]);
                        if b - a < 2 {
                            continue;
                        }
                        let k = a + (b - a) / 2;
                        d.insert_at_partition(k, |&x| x < k);
                        let at = model.partition_point(|&x| x < k);
                        model.insert(at, k);
                    }
                    Op::Clear => {
                        d = ChunkedDeque::default();
                        model.clear();
                    }
                }
                assert_eq!(
                    d.chunks.iter().map(VecDeque::len).sum::<usize>(),
                    model.len()
                );
                assert_eq!(d.is_empty(), model.is_empty());
                assert_eq!(d.front(), model.front());
                assert_eq!(d.back(), model.back());
            }
            assert!(d.into_iter().eq(model.iter()));
            assert!(d.into_iter().rev().eq(model.iter().rev()));
            assert!(d.chunks.iter().all(|c| !c.is_empty() && c.len() <= CHUNK));
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_vecdeque(ops in prop::collection::vec(op(), 0..60), burst in 1usize..300) {
            check(&ops, burst);
        }
    }

    #[test]
    fn growing_adds_chunks_instead_of_moving_elements() {
        let mut d = ChunkedDeque::default();
        for i in 0..10 * CHUNK {
            d.push_back(i);
        }
        assert_eq!(d.chunks.len(), 10);
        // Every chunk but the first was allocated at its final size and never moved.
        assert!(d.chunks.iter().skip(1).all(|c| c.capacity() >= CHUNK));
        assert!(d.into_iter().copied().eq(0..10 * CHUNK));
    }

    #[test]
    fn a_small_deque_costs_only_its_elements() {
        let mut d = ChunkedDeque::default();
        d.push_back(1u64);
        assert!(d.chunks[0].capacity() < CHUNK);
        assert_eq!(d.pop_front(), Some(1));
        // Emptied: no chunk left, the allocation kept for the next push.
        assert!(d.chunks.is_empty() && d.spare.is_some());
        d.push_back(2);
        assert!(d.spare.is_none());
    }
}
