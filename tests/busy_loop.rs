//! A loop that never sleeps still delivers I/O.
//!
//! A zero-delay timer re-armed every turn keeps every wait at zero. io_uring with
//! `DEFER_TASKRUN` finishes I/O (runs the deferred task work that posts the completion) only for
//! an `io_uring_enter` that asks for events, so a busy turn must ask too, or a recv stays
//! unannounced for as long as the loop is busy.

mod common;

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use common::*;

/// Re-arms itself for "now" on every turn.
fn spin(lp: &mut EventLoop) {
    lp.timer(Duration::ZERO, spin);
}

fn recv_completes_while_the_loop_stays_busy(b: Backend) {
    for defer in [false, true] {
        let mut lp = new_loop_with(b, |x| x.defer_taskrun(defer));
        let (server, mut client) = tcp_pair();
        let got = Rc::new(Cell::new(None));
        let g = got.clone();
        lp.submit_with(
            op::Recv::new(fd(&server), BytesMut::with_capacity(64)),
            move |_, (res, buf)| g.set(Some((res.ok(), buf.len()))),
        );
        lp.timer(Duration::ZERO, spin);
        // The recv is in the kernel, waiting, before the data is sent: its completion then
        // comes from the socket's wake-up (task work), not from the submission itself.
        for _ in 0..3 {
            lp.run_once(Some(Duration::ZERO)).unwrap();
        }
        assert!(got.get().is_none(), "nothing sent yet");
        client.write_all(b"hello").unwrap();
        let mut turns = 0;
        while got.get().is_none() && turns < 10_000 {
            lp.run_once(Some(Duration::from_millis(100))).unwrap();
            turns += 1;
        }
        assert_eq!(
            got.get(),
            Some((Some(5), 5)),
            "defer_taskrun={defer}: the recv after {turns} busy turns"
        );
    }
}

both_backends!(recv_completes_while_the_loop_stays_busy);
