//! The thin binding between a pattern's deadlines and an [`EventLoop`]: one loop timer, armed for
//! the nearest deadline and moved as that deadline changes.
//!
//! The patterns are pure data structures with time passed in, so they can be tested without a
//! loop. Whatever has deadlines (waiter timeouts, lease expiry, delayed jobs) implements
//! [`Deadline`]; a host that runs them on a loop either wraps the structure in a [`Timed`] (shared
//! ownership, the timer callback calls the host back with `&mut` access), or keeps its own state
//! and uses the lower-level [`DeadlineTimer`].
//!
//! Re-arming is lazy in one direction: when the nearest deadline moves *later* (a lease was
//! acked, a waiter served), the armed timer is kept; it fires early, finds nothing due, and is
//! re-armed for the new deadline. That trades a rare spurious wake-up for not cancelling and
//! re-inserting a heap entry on every ack in a busy queue. When the deadline moves earlier, the
//! timer is moved at once, so nothing ever fires late.

use std::cell::{Ref, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::{EventLoop, TimerId};

/// Something with deadlines: when must the host look at it again?
pub trait Deadline {
    /// The earliest pending deadline, if any.
    fn next_deadline(&mut self) -> Option<Instant>;
}

impl<K: std::hash::Hash + Eq + Clone, T> Deadline for crate::patterns::Waiters<K, T> {
    fn next_deadline(&mut self) -> Option<Instant> {
        crate::patterns::Waiters::next_deadline(self)
    }
}

/// One loop timer that tracks a moving deadline (low-level; see [`Timed`] for the convenient
/// form).
///
/// The owner calls [`DeadlineTimer::sync`] after anything that may have changed its nearest
/// deadline, and [`DeadlineTimer::fired`] first thing in the timer's callback.
#[derive(Debug, Default)]
pub struct DeadlineTimer {
    armed: Option<(Instant, TimerId)>,
}

impl DeadlineTimer {
    /// No timer armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// The deadline the loop timer is armed for.
    pub fn armed(&self) -> Option<Instant> {
        self.armed.map(|(d, _)| d)
    }

    /// Makes sure a loop timer fires no later than `deadline`. If a new timer is needed, `fire`
    /// becomes its callback (otherwise it is dropped unused). `None` cancels the timer, so an idle
    /// structure does not keep [`EventLoop::run`] alive. Returns true if a timer was (re)armed.
    pub fn sync(
        &mut self,
        lp: &mut EventLoop,
        deadline: Option<Instant>,
        fire: impl FnOnce(&mut EventLoop) + 'static,
    ) -> bool {
        match (deadline, self.armed) {
            (None, None) => false,
            (None, Some((_, id))) => {
                lp.cancel_timer(id);
                self.armed = None;
                false
            }
            // Armed early enough: keep it (see the module docs).
            (Some(d), Some((armed, _))) if armed <= d => false,
            (Some(d), armed) => {
                if let Some((_, id)) = armed {
                    lp.cancel_timer(id);
                }
                let after = d.saturating_duration_since(Instant::now());
                let id = lp.timer(after, fire);
                self.armed = Some((d, id));
                true
            }
        }
    }

    /// Records that the armed timer has fired (its id is no longer valid).
    pub fn fired(&mut self) {
        self.armed = None;
    }

    /// Cancels the timer, if armed.
    pub fn disarm(&mut self, lp: &mut EventLoop) {
        if let Some((_, id)) = self.armed.take() {
            lp.cancel_timer(id);
        }
    }
}

type OnDue<T> = Box<dyn FnMut(&mut EventLoop, &mut T, Instant)>;

struct Shared<T> {
    value: RefCell<T>,
    timer: RefCell<DeadlineTimer>,
    on_due: RefCell<OnDue<T>>,
}

/// A pattern structure shared with the loop, with one loop timer for its nearest deadline.
///
/// When the deadline passes, the loop calls `on_due(lp, &mut value, now)`; the host typically
/// calls the structure's `process(now)` there and flushes what it produced (timed-out waiters,
/// jobs for parked consumers) to its connections. After `on_due`, and after every
/// [`Timed::with`], the timer is re-armed for the new nearest deadline.
///
/// `Timed` is a cheap `Rc` clone, so connection callbacks can each hold one. The value lives in a
/// `RefCell`: inside `on_due`, use the `&mut T` given rather than calling [`Timed::with`] on a
/// clone (that would be a second mutable borrow and panics, as `RefCell` does).
///
/// ```
/// use std::time::{Duration, Instant};
/// use ringloop::patterns::{Timed, Waiters};
/// use ringloop::EventLoop;
///
/// let mut lp = EventLoop::new()?;
/// let timed_out = std::rc::Rc::new(std::cell::Cell::new(0));
/// let counter = timed_out.clone();
/// let waiters = Timed::new(Waiters::<&str, u32>::new(), move |_lp, w, now| {
///     while let Some((_id, _client)) = w.pop_expired(now) {
///         counter.set(counter.get() + 1); // answer the client: "nothing came"
///     }
/// });
/// let deadline = Instant::now() + Duration::from_millis(5);
/// waiters.with(&mut lp, |w| w.add("chan", 7, Some(deadline)));
/// lp.run()?; // returns once the timer fired and nothing is left to wait for
/// assert_eq!(timed_out.get(), 1);
/// assert!(Instant::now() >= deadline);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Timed<T> {
    shared: Rc<Shared<T>>,
}

impl<T> Clone for Timed<T> {
    fn clone(&self) -> Self {
        Timed {
            shared: self.shared.clone(),
        }
    }
}

impl<T: Deadline + 'static> Timed<T> {
    /// Wraps `value`; `on_due` runs on the loop when the nearest deadline has passed.
    pub fn new(value: T, on_due: impl FnMut(&mut EventLoop, &mut T, Instant) + 'static) -> Self {
        Timed {
            shared: Rc::new(Shared {
                value: RefCell::new(value),
                timer: RefCell::new(DeadlineTimer::new()),
                on_due: RefCell::new(Box::new(on_due)),
            }),
        }
    }

    /// Runs `f` on the value, then re-arms the timer for the (possibly new) nearest deadline.
    pub fn with<R>(&self, lp: &mut EventLoop, f: impl FnOnce(&mut T) -> R) -> R {
        let r = f(&mut self.shared.value.borrow_mut());
        self.rearm(lp);
        r
    }

    /// Read access to the value (do not hold it across a loop turn: the timer needs the value).
    pub fn borrow(&self) -> Ref<'_, T> {
        self.shared.value.borrow()
    }

    /// Re-arms the timer for the value's nearest deadline (after changes made through a path
    /// other than [`Timed::with`]).
    pub fn rearm(&self, lp: &mut EventLoop) {
        let Ok(mut value) = self.shared.value.try_borrow_mut() else {
            // Called while the value is borrowed (from inside `on_due`): the callback re-arms
            // when it returns.
            return;
        };
        let deadline = value.next_deadline();
        drop(value);
        let shared = self.shared.clone();
        self.shared
            .timer
            .borrow_mut()
            .sync(lp, deadline, move |lp| Timed { shared }.fire(lp));
    }

    /// The deadline the loop timer is armed for.
    pub fn armed(&self) -> Option<Instant> {
        self.shared.timer.borrow().armed()
    }

    /// Cancels the loop timer (for example before dropping the structure, so the loop does not
    /// keep it alive until the deadline).
    pub fn disarm(&self, lp: &mut EventLoop) {
        self.shared.timer.borrow_mut().disarm(lp);
    }

    fn fire(self, lp: &mut EventLoop) {
        self.shared.timer.borrow_mut().fired();
        let now = Instant::now();
        match (
            self.shared.value.try_borrow_mut(),
            self.shared.on_due.try_borrow_mut(),
        ) {
            (Ok(mut value), Ok(mut on_due)) => on_due(lp, &mut value, now),
            _ => {
                // The value is borrowed elsewhere (a `Ref` held across a loop turn): try again
                // shortly rather than panic inside the loop.
                log::warn!("patterns::Timed: value busy when its deadline fired; retrying");
                let shared = self.shared.clone();
                let id = lp.timer(Duration::from_millis(1), move |lp| {
                    Timed { shared }.fire(lp)
                });
                self.shared.timer.borrow_mut().armed = Some((now, id));
                return;
            }
        }
        self.rearm(lp);
    }
}
