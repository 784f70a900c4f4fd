//! What an op costs the heap, counted: once a loop has seen an op type (the same op with the
//! same callback type, as a server's reply send always is), another op of it costs no
//! allocation — its in-flight entry reuses a box a finished op of the type left behind, and a
//! ticket's output waits in that same box; a multishot item costs none; a turn costs none.
//!
//! A message's cost at one connection is mostly code run cold (BENCHMARKS.md, "instructions per
//! message"), and a malloc and free are 150–200 instructions of it: these counts keep one from
//! slipping into the hot path unseen. The counting allocator (`allocation-counter`) is this test
//! binary's global allocator and counts per thread, so tests running in parallel do not mix.

mod common;

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;

use common::*;
use ringloop::op::RecvMulti;

/// Messages per measurement: enough that a stray allocation per turn would show.
const N: u64 = 200;

/// A loop with logging off: a log line allocates as it is formatted (`RUST_LOG=trace` would
/// add one per op), and these counts are of the loop's own work.
fn quiet_loop(b: Backend) -> EventLoop {
    let lp = new_loop(b);
    log::set_max_level(log::LevelFilter::Off);
    lp
}

/// Allocations made on this thread while `f` runs.
fn allocations(f: impl FnOnce()) -> u64 {
    allocation_counter::measure(f).count_total
}

/// Runs `n` nops in the callback style, to completion, counting them in `done`.
fn nops_with_callbacks(lp: &mut EventLoop, n: u64, done: &Rc<Cell<u64>>) {
    let target = done.get() + n;
    for _ in 0..n {
        let done = done.clone();
        lp.submit_with(op::Nop, move |_, r| {
            r.unwrap();
            done.set(done.get() + 1);
        });
    }
    turn_until(lp, 5, |_| done.get() == target);
}

/// Runs `n` nops in the polling style: submit all, turn, poll each.
fn nops_with_tickets(lp: &mut EventLoop, n: u64) {
    let tickets: Vec<_> = (0..n).map(|_| lp.submit(op::Nop)).collect();
    let mut left = n;
    let mut outputs = Vec::with_capacity(n as usize);
    turn_until(lp, 5, |lp| {
        for t in &tickets {
            if let Some(out) = lp.poll(t) {
                outputs.push(out);
                left -= 1;
            }
        }
        left == 0
    });
    assert!(outputs.iter().all(|r| r.is_ok()));
    drop(tickets);
}

/// Runs `f` until the loop's own vectors have grown to what `f` needs: the completions of a
/// turn go into one vector while the last turn's are dispatched from the other, so both must.
fn warm_up(lp: &mut EventLoop, mut f: impl FnMut(&mut EventLoop)) {
    for _ in 0..3 {
        f(lp);
    }
}

fn a_callback_op_of_a_known_type_costs_no_allocation(b: Backend) {
    let mut lp = quiet_loop(b);
    let done = Rc::new(Cell::new(0));
    warm_up(&mut lp, |lp| nops_with_callbacks(lp, N, &done));
    let count = allocations(|| nops_with_callbacks(&mut lp, N, &done));
    assert_eq!(count, 0, "each op moves into a box a finished one left");
}

fn the_first_ops_of_a_type_cost_one_allocation_each(b: Backend) {
    let mut lp = quiet_loop(b);
    let done = Rc::new(Cell::new(0));
    warm_up(&mut lp, |lp| nops_with_callbacks(lp, N, &done));
    // A closure type the loop has not seen: no box of it is kept yet.
    let fresh = Rc::new(Cell::new(0u64));
    // Counted while submitting: completing them also grows the cache's list for the new type.
    let count = allocations(|| {
        for _ in 0..N {
            let fresh = fresh.clone();
            lp.submit_with(op::Nop, move |_, r| {
                r.unwrap();
                fresh.set(fresh.get() + 1);
            });
        }
    });
    assert_eq!(count, N, "one entry per op, nothing else");
    turn_until(&mut lp, 5, |_| fresh.get() == N);
}

fn a_ticket_op_of_a_known_type_costs_no_allocation(b: Backend) {
    let mut lp = quiet_loop(b);
    warm_up(&mut lp, |lp| nops_with_tickets(lp, N));
    // Measured around the loop's part only: the test's own ticket vector is allocated outside.
    let mut tickets = Some(Vec::with_capacity(N as usize));
    let count = allocations(|| {
        let mut ts = tickets.take().unwrap();
        ts.extend((0..N).map(|_| lp.submit(op::Nop)));
        let mut polled = 0;
        turn_until(&mut lp, 5, |lp| {
            polled += ts.iter().filter(|t| lp.poll(t).is_some()).count() as u64;
            polled == N
        });
    });
    assert_eq!(
        count, 0,
        "the output waits in the op's box, which a polled op leaves behind for the next"
    );
}

fn a_multishot_item_costs_no_allocation(b: Backend) {
    let mut lp = quiet_loop(b);
    let (server, mut client) = tcp_pair();
    let items = Rc::new(Cell::new(0u64));
    let seen = items.clone();
    lp.submit_multi_with(RecvMulti::new(fd(&server)), move |_, item| {
        let buf = item.expect("recv").expect("data, not EOF");
        assert_eq!(&buf[..], b"ping");
        seen.set(seen.get() + 1);
    });
    let mut exchange = |lp: &mut EventLoop, n: u64| {
        for _ in 0..n {
            let before = items.get();
            client.write_all(b"ping").unwrap();
            turn_until(lp, 5, |_| items.get() > before);
        }
    };
    warm_up(&mut lp, |lp| exchange(lp, N));
    let count = allocations(|| exchange(&mut lp, N));
    assert_eq!(count, 0, "a pool buffer per item, no heap");
}

fn an_echo_round_trip_costs_no_allocation(b: Backend) {
    // The echo server's hot path: a multishot recv item, sent back from its own pool buffer.
    let mut lp = quiet_loop(b);
    let (server, mut client) = tcp_pair();
    let sent = Rc::new(Cell::new(0u64));
    let count_sent = sent.clone();
    let fd = fd(&server);
    lp.submit_multi_with(RecvMulti::new(fd), move |lp, item| {
        let buf = item.expect("recv").expect("data, not EOF");
        let count_sent = count_sent.clone();
        lp.submit_with(op::Send::new(fd, buf), move |_, (res, _buf)| {
            assert_eq!(res.unwrap(), 4);
            count_sent.set(count_sent.get() + 1);
        });
    });
    let mut round_trips = |lp: &mut EventLoop, n: u64| {
        let mut reply = [0u8; 4];
        for _ in 0..n {
            let before = sent.get();
            client.write_all(b"ping").unwrap();
            turn_until(lp, 5, |_| sent.get() > before);
            std::io::Read::read_exact(&mut client, &mut reply).unwrap();
            assert_eq!(&reply, b"ping");
        }
    };
    warm_up(&mut lp, |lp| round_trips(lp, N));
    let count = allocations(|| round_trips(&mut lp, N));
    assert_eq!(count, 0, "the reply's send reuses the last reply's box");
}

both_backends!(
    a_callback_op_of_a_known_type_costs_no_allocation,
    the_first_ops_of_a_type_cost_one_allocation_each,
    a_ticket_op_of_a_known_type_costs_no_allocation,
    a_multishot_item_costs_no_allocation,
    an_echo_round_trip_costs_no_allocation,
);
