//! The pool's shared state: what one `Rc` behind every [`Pool`](super::Pool) clone holds.
//!
//! Two parts on purpose. `State` sits in a `RefCell` and is only touched by the pool's own code,
//! which never calls user code (callbacks, health checks) while it is borrowed. The `Cell`s
//! beside it are for destructors (a dropped connection, a dropped `HealthDone`), which may run
//! anywhere, even while `State` is borrowed: they record the event there and ring the kick, and
//! the pool folds them in (`absorb`) at its next step.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use socket2::Socket;

use super::backoff::Backoff;
use super::checkout::{Deliver, Outcome, Queue};
use super::health::Check;
use super::kick::Kick;
use super::stats::Counters;
use super::{IdleOrder, PoolConfig, PooledConn};
use crate::{OpId, TimerId};

pub(crate) struct Inner {
    pub(crate) state: RefCell<State>,
    /// Checked-out connections dropped without checkin, not yet absorbed.
    pub(crate) dropped: Cell<usize>,
    /// Health checks whose `HealthDone` was dropped unused, not yet absorbed.
    pub(crate) abandoned_checks: Cell<usize>,
    /// `None` if the socket pair could not be made: then drops are absorbed at the next sweep
    /// or pool call instead of at once.
    pub(crate) kick: Option<Kick>,
    /// The user's health check (outside `State`: it runs user code).
    pub(crate) check: RefCell<Option<Check>>,
}

impl Inner {
    pub(crate) fn conn_dropped(&self) {
        self.dropped.set(self.dropped.get() + 1);
        if let Some(k) = &self.kick {
            k.ring();
        }
    }

    pub(crate) fn check_abandoned(&self) {
        self.abandoned_checks.set(self.abandoned_checks.get() + 1);
        if let Some(k) = &self.kick {
            k.ring();
        }
    }
}

/// An idle connection and since when.
pub(crate) struct Idle {
    pub(crate) conn: PooledConn,
    pub(crate) since: Instant,
}

/// A connect in flight.
pub(crate) struct Connecting {
    /// Owned here until the connect completes (the op borrows the fd).
    pub(crate) sock: Socket,
    pub(crate) op: Option<OpId>,
    pub(crate) timer: Option<TimerId>,
    /// The connect timer fired and cancelled the op.
    pub(crate) timed_out: bool,
}

pub(crate) struct State {
    pub(crate) config: PoolConfig,
    pub(crate) closed: bool,
    pub(crate) next_conn_id: u64,
    pub(crate) next_waiter_id: u64,
    pub(crate) next_connect_id: u64,
    /// Oldest-idle first: returns go to the back; LIFO takes from the back, FIFO from the front,
    /// and the idle timeout always retires from the front.
    pub(crate) idle: VecDeque<Idle>,
    /// Checked out, including connections in a user health check.
    pub(crate) in_use: usize,
    /// In a user health check (each will serve, or fail to serve, one waiter).
    pub(crate) checking: usize,
    pub(crate) connecting: HashMap<u64, Connecting>,
    pub(crate) waiters: Queue,
    /// Answers decided but not yet given (given by the serve step, from the loop).
    pub(crate) answers: VecDeque<(Deliver, Outcome)>,
    pub(crate) counters: Counters,
    pub(crate) backoff: Backoff,
    /// The zero-delay timer that runs the serve step, if pending.
    pub(crate) serve_timer: Option<TimerId>,
    pub(crate) sweep_timer: Option<TimerId>,
    /// The kick's recv.
    pub(crate) kick_op: Option<OpId>,
    /// xorshift64 state for lifetime jitter (no `rand` dependency for one random number per
    /// connection).
    pub(crate) rng: u64,
}

impl State {
    pub(crate) fn new(config: PoolConfig) -> State {
        // Seeded from the wall clock and a stack address: pools made together still differ.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (&config as *const PoolConfig as u64).rotate_left(32);
        State {
            config,
            closed: false,
            next_conn_id: 1,
            next_waiter_id: 1,
            next_connect_id: 1,
            idle: VecDeque::new(),
            in_use: 0,
            checking: 0,
            connecting: HashMap::new(),
            waiters: Queue::default(),
            answers: VecDeque::new(),
            counters: Counters::default(),
            backoff: Backoff::default(),
            serve_timer: None,
            sweep_timer: None,
            kick_op: None,
            rng: seed | 1,
        }
    }

    /// A number in `0..1`.
    pub(crate) fn random(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Connections open or connecting: what `max_size` bounds.
    pub(crate) fn open(&self) -> usize {
        self.idle.len() + self.in_use + self.connecting.len()
    }

    /// Takes the idle connection a checkout should get.
    pub(crate) fn pop_idle(&mut self) -> Option<Idle> {
        match self.config.order {
            IdleOrder::Lifo => self.idle.pop_back(),
            IdleOrder::Fifo => self.idle.pop_front(),
        }
    }

    /// Puts back what [`State::pop_idle`] took, where it was.
    pub(crate) fn unpop_idle(&mut self, idle: Idle) {
        match self.config.order {
            IdleOrder::Lifo => self.idle.push_back(idle),
            IdleOrder::Fifo => self.idle.push_front(idle),
        }
    }
}
