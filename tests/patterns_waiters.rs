//! The long-poll waiter set: FIFO per key, multi-key waits, deadlines, and nothing left behind.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use ringloop::patterns::{WaiterId, Waiters};

fn ms(base: Instant, n: u64) -> Instant {
    base + Duration::from_millis(n)
}

#[test]
fn first_come_first_served_per_key() {
    let t = Instant::now();
    let mut w: Waiters<&str, u32> = Waiters::new();
    let a = w.add("q", 1, None);
    let b = w.add("q", 2, Some(ms(t, 10)));
    let c = w.add("other", 3, None);
    let d = w.add("q", 4, None);
    assert_eq!(w.waiting_on("q"), 3);
    let order: Vec<_> = w.iter_key("q").map(|(id, v)| (id, *v)).collect();
    assert_eq!(order, [(a, 1), (b, 2), (d, 4)]);
    assert_eq!(w.first("q"), Some(a));
    assert_eq!(w.pop_first("q"), Some((a, 1)));
    assert_eq!(w.pop_first("q"), Some((b, 2)));
    assert_eq!(w.pop_first("q"), Some((d, 4)));
    assert_eq!(w.pop_first("q"), None);
    assert_eq!(w.waiting_on("q"), 0);
    assert_eq!(w.keys().collect::<Vec<_>>(), [&"other"]);
    assert_eq!(w.remove(c), Some(3));
    assert!(w.is_empty());
    assert_eq!(w.keys().count(), 0, "no key is left behind");
    // b had a deadline; its heap entry is stale and must not surface.
    assert_eq!(w.next_deadline(), None);
}

#[test]
fn multi_key_waiter_is_served_once_and_leaves_every_key() {
    let mut w: Waiters<&str, &str> = Waiters::new();
    let x = w.add_multi(["a", "b", "a"], "x", None); // duplicate key ignored
    let y = w.add("b", "y", None);
    assert_eq!(w.keys_of(x).copied().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(w.waiting_on("a"), 1);
    assert_eq!(w.waiting_on("b"), 2);
    // Served through "b": x was first there.
    assert_eq!(w.pop_first("b"), Some((x, "x")));
    assert_eq!(w.waiting_on("a"), 0, "x left key a too");
    assert_eq!(w.first("b"), Some(y));
    assert!(!w.contains(x));
    assert_eq!(w.remove(x), None, "stale id");
    assert_eq!(w.get(y), Some(&"y"));
    *w.get_mut(y).unwrap() = "y2";
    assert_eq!(w.remove(y), Some("y2"));
}

#[test]
fn deadlines_expire_in_order_and_leave_nothing() {
    let t = Instant::now();
    let mut w: Waiters<u8, &str> = Waiters::new();
    let late = w.add(1, "late", Some(ms(t, 30)));
    let early = w.add(1, "early", Some(ms(t, 10)));
    let tie1 = w.add(2, "tie1", Some(ms(t, 20)));
    let tie2 = w.add(1, "tie2", Some(ms(t, 20)));
    let never = w.add(1, "never", None);
    assert_eq!(w.deadline(early), Some(ms(t, 10)));
    assert_eq!(w.deadline(never), None);
    assert_eq!(w.next_deadline(), Some(ms(t, 10)));
    assert_eq!(w.pop_expired(ms(t, 9)), None, "not yet");
    assert_eq!(
        w.pop_expired(ms(t, 10)),
        Some((early, "early")),
        "at the deadline"
    );
    assert_eq!(w.pop_expired(ms(t, 25)), Some((tie1, "tie1")));
    assert_eq!(
        w.pop_expired(ms(t, 25)),
        Some((tie2, "tie2")),
        "ties: oldest first"
    );
    assert_eq!(w.pop_expired(ms(t, 25)), None);
    assert_eq!(w.next_deadline(), Some(ms(t, 30)));
    // Cancelled before its deadline: its entry never fires.
    assert_eq!(w.remove(late), Some("late"));
    assert_eq!(w.next_deadline(), None);
    assert_eq!(w.pop_expired(ms(t, 1000)), None);
    assert_eq!(
        w.iter_key(&1).map(|(id, _)| id).collect::<Vec<_>>(),
        [never]
    );
    assert_eq!(w.waiting_on(&2), 0);
}

#[test]
fn cancelled_deadlines_do_not_accumulate() {
    let t = Instant::now();
    let mut w: Waiters<u32, ()> = Waiters::new();
    let keep = w.add(0, (), Some(ms(t, 1)));
    for i in 0..10_000u64 {
        let id = w.add(1, (), Some(ms(t, 1000 + i)));
        w.remove(id);
    }
    assert!(w.heap_len() <= 140, "heap holds {} entries", w.heap_len());
    assert_eq!(w.len(), 1);
    assert_eq!(w.pop_expired(ms(t, 1)), Some((keep, ())));
    assert!(w.is_empty());
}

#[test]
fn drain_returns_everyone() {
    let mut w: Waiters<u8, u8> = Waiters::new();
    let a = w.add(1, 10, Some(Instant::now()));
    let b = w.add_multi([1, 2], 20, None);
    let mut all = w.drain();
    all.sort();
    let mut expected = vec![(a, 10), (b, 20)];
    expected.sort();
    assert_eq!(all, expected);
    assert!(w.is_empty());
    assert_eq!(w.waiting_on(&1), 0);
    assert_eq!(w.next_deadline(), None);
}

/// Operations for the model test.
#[derive(Clone, Debug)]
enum Op {
    Add { keys: Vec<u8>, deadline: Option<u8> },
    Remove(usize),
    PopFirst(u8),
    Expire(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (prop::collection::vec(0u8..3, 0..3), prop::option::of(0u8..50))
            .prop_map(|(keys, deadline)| Op::Add { keys, deadline }),
        1 => any::<usize>().prop_map(Op::Remove),
        2 => (0u8..3).prop_map(Op::PopFirst),
        1 => (0u8..60).prop_map(Op::Expire),
    ]
}

/// The reference: a plain list of (id, keys, deadline, seq) in insertion order.
#[derive(Default)]
struct Model {
    live: Vec<(WaiterId, Vec<u8>, Option<u8>, usize)>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn waiters_match_a_simple_model(ops in prop::collection::vec(op(), 1..80)) {
        let t = Instant::now();
        let mut w: Waiters<u8, usize> = Waiters::new();
        let mut m = Model::default();
        let mut seq = 0usize;
        let mut ever: Vec<WaiterId> = Vec::new();
        for op in ops {
            match op {
                Op::Add { keys, deadline } => {
                    let id = w.add_multi(keys.iter().copied(), seq, deadline.map(|d| ms(t, d.into())));
                    let mut k = Vec::new();
                    for key in keys { if !k.contains(&key) { k.push(key); } }
                    m.live.push((id, k, deadline, seq));
                    ever.push(id);
                    seq += 1;
                }
                Op::Remove(i) => {
                    if ever.is_empty() { continue; }
                    let id = ever[i % ever.len()];
                    let expected = m.live.iter().position(|e| e.0 == id).map(|p| m.live.remove(p).3);
                    prop_assert_eq!(w.remove(id), expected);
                }
                Op::PopFirst(key) => {
                    let expected = m.live.iter().position(|e| e.1.contains(&key))
                        .map(|p| { let e = m.live.remove(p); (e.0, e.3) });
                    prop_assert_eq!(w.pop_first(&key), expected);
                }
                Op::Expire(now) => {
                    let mut due: Vec<_> = m.live.iter()
                        .filter(|e| e.2.is_some_and(|d| d <= now))
                        .map(|e| (e.2.unwrap(), e.3, e.0))
                        .collect();
                    due.sort();
                    let mut got = Vec::new();
                    while let Some((id, v)) = w.pop_expired(ms(t, now.into())) { got.push((id, v)); }
                    let expected: Vec<_> = due.iter().map(|&(_, s, id)| (id, s)).collect();
                    prop_assert_eq!(got, expected);
                    m.live.retain(|e| e.2.is_none_or(|d| d > now));
                }
            }
            // Invariants after every step.
            prop_assert_eq!(w.len(), m.live.len());
            for key in 0u8..3 {
                let ours: Vec<_> = w.iter_key(&key).map(|(id, v)| (id, *v)).collect();
                let model: Vec<_> = m.live.iter().filter(|e| e.1.contains(&key)).map(|e| (e.0, e.3)).collect();
                prop_assert_eq!(w.waiting_on(&key), model.len());
                prop_assert_eq!(ours, model);
            }
            let next = m.live.iter().filter_map(|e| e.2).min().map(|d| ms(t, d.into()));
            prop_assert_eq!(w.next_deadline(), next);
        }
    }
}
