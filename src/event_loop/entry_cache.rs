//! Recycled entry allocations: a finished once-op's box, kept for the next op of the same type.
//!
//! Every once-op lives in one heap allocation from submission to completion (its in-flight
//! entry: the op, its buffers and its callback). A server submits the same few kinds of op over
//! and over — the reply send of an echo server is always the same op type with the same closure
//! type — so instead of freeing the box when the op completes, the loop keeps it here, keyed by
//! its concrete type, and the next submission of that type moves its op into it. A message then
//! costs no malloc and no free (`tests/allocations.rs`), and the box it reuses is the one used
//! last, still in cache; at a thousand connections glibc's per-thread cache (seven chunks per
//! size) no longer absorbs the churn and each pair cost about 200 instructions (callgrind).
//!
//! Safe by construction: a box goes back only after its op completed (the kernel is done with
//! the buffers it pointed at), and comes out through `Box<dyn Any>::downcast`, so it can only be
//! reused for its own type. Bounded: at most [`MAX_KEPT`] boxes in all, of at most
//! [`MAX_TYPES`] types; beyond that they are freed as before.

use std::any::{Any, TypeId};

/// Boxes kept across all types: a turn with a thousand replies in flight gets them all back.
pub(crate) const MAX_KEPT: usize = 1024;
/// Op types with kept boxes. A program's hot ops are a handful of types, and a short list
/// scanned in order is cheaper than hashing a `TypeId` (measured: a `HashMap` cost as much as
/// the malloc and free it saved).
pub(crate) const MAX_TYPES: usize = 16;

#[derive(Default)]
pub(crate) struct EntryCache {
    lists: Vec<(TypeId, Vec<Box<dyn Any>>)>,
    kept: usize,
}

impl EntryCache {
    #[inline]
    fn list<T: 'static>(&mut self) -> Option<&mut Vec<Box<dyn Any>>> {
        let id = TypeId::of::<T>();
        self.lists
            .iter_mut()
            .find(|(kind, _)| *kind == id)
            .map(|(_, list)| list)
    }

    /// A box that held a `T` before, if one is kept.
    #[inline]
    pub(crate) fn take<T: 'static>(&mut self) -> Option<Box<T>> {
        let boxed = self.list::<T>()?.pop()?;
        self.kept -= 1;
        boxed.downcast::<T>().ok()
    }

    /// Keeps `boxed` (its op finished) for the next `take::<T>()`, or frees it if the cache is
    /// full.
    #[inline]
    pub(crate) fn give<T: 'static>(&mut self, boxed: Box<T>) {
        if self.kept >= MAX_KEPT {
            return;
        }
        if let Some(list) = self.list::<T>() {
            list.push(boxed);
        } else if self.lists.len() < MAX_TYPES {
            self.lists
                .push((TypeId::of::<T>(), vec![boxed as Box<dyn Any>]));
        } else {
            return;
        }
        self.kept += 1;
    }

    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_comes_back_only_for_its_own_type() {
        let mut cache = EntryCache::default();
        let first = Box::new(7u64);
        let addr = &*first as *const u64;
        cache.give(first);
        assert!(cache.take::<u32>().is_none(), "another type");
        let again = cache.take::<u64>().expect("kept");
        assert_eq!(&*again as *const u64, addr, "the same allocation");
        assert!(cache.take::<u64>().is_none(), "taken once");
        assert_eq!(cache.kept(), 0);
    }

    #[test]
    fn the_cache_keeps_at_most_max_kept_boxes() {
        let mut cache = EntryCache::default();
        for i in 0..MAX_KEPT + 10 {
            cache.give(Box::new(i));
        }
        assert_eq!(cache.kept(), MAX_KEPT);
        let mut n = 0;
        while cache.take::<usize>().is_some() {
            n += 1;
        }
        assert_eq!(n, MAX_KEPT);
    }

    #[test]
    fn boxes_of_more_than_max_types_types_are_freed() {
        let mut cache = EntryCache::default();
        // MAX_TYPES distinct types: arrays of different lengths.
        fn give_n<const N: usize>(cache: &mut EntryCache) {
            cache.give(Box::new([0u8; N]));
        }
        give_n::<1>(&mut cache);
        give_n::<2>(&mut cache);
        give_n::<3>(&mut cache);
        give_n::<4>(&mut cache);
        give_n::<5>(&mut cache);
        give_n::<6>(&mut cache);
        give_n::<7>(&mut cache);
        give_n::<8>(&mut cache);
        give_n::<9>(&mut cache);
        give_n::<10>(&mut cache);
        give_n::<11>(&mut cache);
        give_n::<12>(&mut cache);
        give_n::<13>(&mut cache);
        give_n::<14>(&mut cache);
        give_n::<15>(&mut cache);
        give_n::<16>(&mut cache);
        assert_eq!(cache.kept(), MAX_TYPES);
        give_n::<17>(&mut cache);
        assert_eq!(cache.kept(), MAX_TYPES, "a 17th type is not kept");
        assert!(cache.take::<[u8; 17]>().is_none());
        assert!(cache.take::<[u8; 16]>().is_some(), "the others still are");
    }
}
