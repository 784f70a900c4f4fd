//! Model-based property test of the job queue.
//!
//! Random interleavings of push (priorities, delays, either end), pop, reserve, parked pulls
//! (with and without timeouts), ack, nack (with and without delay), touch, stale acks, time
//! passing (lease expiry, delayed jobs, pull timeouts), cancelled waits and consumer disconnects
//! run against `Queues` and against a deliberately naive reference model (plain vectors, linear
//! scans). Every result must be identical — which jobs, in which order, which attempt, which
//! lease, which events — and after every step:
//!
//! * no job is lost: each pushed job is in exactly one place (ready, delayed, leased, popped,
//!   acked, dead-lettered);
//! * at-most-once: a popped job is never delivered again;
//! * FIFO: the ready order is (priority, position), and returned jobs keep their position.
//!
//! At the end, time runs out every lease and delay, one consumer drains and acks everything, and
//! every job must have ended acked, popped or dead-lettered (at-least-once completes).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use ringloop::patterns::pushpull::{
    ConsumerId, ConsumerOptions, Delivery, Event, JobId, LeaseId, PullRequest, Pulled, PushOptions,
    QueueConfig, QueueError, Queues, QueuesConfig, Returned, Wait,
};
use ringloop::patterns::WaiterId;

const Q: &[u8] = b"q";
const DLQ: &[u8] = b"dlq";
const MAX_DELIVERIES: u32 = 3;
const PREFETCH: [Option<usize>; 3] = [None, Some(2), Some(1)];

#[derive(Clone, Debug)]
enum Op {
    Push {
        prio: u32,
        delay: u64,
        front: bool,
    },
    Pop {
        c: usize,
        max: usize,
    },
    Reserve {
        c: usize,
        max: usize,
        lease: u64,
    },
    PullWait {
        c: usize,
        max: usize,
        lease: Option<u64>,
        timeout: Option<u64>,
    },
    Ack {
        pick: usize,
    },
    AckStale {
        pick: usize,
    },
    Nack {
        pick: usize,
        delay: Option<u64>,
    },
    Touch {
        pick: usize,
        extend: u64,
    },
    Advance {
        ms: u64,
    },
    Process,
    Disconnect {
        c: usize,
    },
    CancelWait {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u32..2, prop_oneof![3 => Just(0u64), 1 => 1u64..30], any::<bool>())
            .prop_map(|(prio, delay, front)| Op::Push { prio, delay, front }),
        2 => (0usize..3, 1usize..4).prop_map(|(c, max)| Op::Pop { c, max }),
        4 => (0usize..3, 1usize..4, 5u64..40).prop_map(|(c, max, lease)| Op::Reserve { c, max, lease }),
        3 => (0usize..3, 1usize..3, prop::option::of(5u64..40), prop::option::of(1u64..50))
            .prop_map(|(c, max, lease, timeout)| Op::PullWait { c, max, lease, timeout }),
        4 => any::<usize>().prop_map(|pick| Op::Ack { pick }),
        1 => any::<usize>().prop_map(|pick| Op::AckStale { pick }),
        3 => (any::<usize>(), prop::option::of(1u64..20)).prop_map(|(pick, delay)| Op::Nack { pick, delay }),
        1 => (any::<usize>(), 1u64..40).prop_map(|(pick, extend)| Op::Touch { pick, extend }),
        4 => (1u64..30).prop_map(|ms| Op::Advance { ms }),
        2 => Just(Op::Process),
        1 => (0usize..3).prop_map(|c| Op::Disconnect { c }),
        1 => any::<usize>().prop_map(|pick| Op::CancelWait { pick }),
    ]
}

#[derive(Clone, Debug)]
struct MJob {
    id: u64,
    order: i64,
    prio: u32,
    deliveries: u32,
}

#[derive(Clone, Debug)]
struct MLease {
    id: u64,
    c: usize,
    job: MJob,
    deadline: u64,
    duration: u64,
}

#[derive(Clone, Debug)]
struct MWait {
    id: WaiterId,
    c: usize,
    max: usize,
    lease: Option<u64>,
    deadline: Option<u64>,
}

/// What a delivery must be: (job, attempt, lease, lease deadline in ms).
type MDelivery = (u64, u32, Option<u64>, Option<u64>);

#[derive(Debug, PartialEq)]
enum MEvent {
    Served {
        waiter: WaiterId,
        c: usize,
        ds: Vec<MDelivery>,
    },
    TimedOut {
        waiter: WaiterId,
        c: usize,
    },
}

#[derive(Default)]
struct Model {
    ready: Vec<MJob>,
    delayed: Vec<(u64, MJob)>,
    leases: Vec<MLease>,
    waiters: Vec<MWait>,
    /// Dead-lettered jobs as (priority, id), in the order they died.
    dlq: Vec<(u32, u64)>,
    back: i64,
    front: i64,
    next_job: u64,
    next_lease: u64,
    popped: HashSet<u64>,
    acked: HashSet<u64>,
    settled_leases: Vec<u64>,
}

impl Model {
    fn held(&self, c: usize) -> usize {
        self.leases.iter().filter(|l| l.c == c).count()
    }

    fn credit(&self, c: usize, reserve: bool) -> usize {
        match (reserve, PREFETCH[c]) {
            (true, Some(p)) => p.saturating_sub(self.held(c)),
            _ => usize::MAX,
        }
    }

    /// Ready jobs in pull order.
    fn ready_order(&self) -> Vec<u64> {
        let mut r = self.ready.clone();
        r.sort_by_key(|j| (j.prio, j.order));
        r.iter().map(|j| j.id).collect()
    }

    fn take_front(&mut self) -> Option<MJob> {
        let i = (0..self.ready.len()).min_by_key(|&i| (self.ready[i].prio, self.ready[i].order))?;
        Some(self.ready.remove(i))
    }

    fn place_back(&mut self, mut job: MJob) {
        job.order = self.back;
        self.back += 1;
        self.ready.push(job);
    }

    /// A reserved job comes back.
    fn return_job(&mut self, job: MJob, delay: Option<u64>, now: u64) -> Returned {
        if job.deliveries >= MAX_DELIVERIES {
            self.dlq.push((job.prio, job.id));
            return Returned::DeadLettered;
        }
        match delay {
            Some(d) => {
                self.delayed.push((now + d, job));
                Returned::Delayed(at(now + d))
            }
            None => {
                self.ready.push(job);
                Returned::Ready
            }
        }
    }

    fn advance(&mut self, now: u64) {
        let mut due: Vec<MLease> = Vec::new();
        self.leases.retain(|l| {
            if l.deadline <= now {
                due.push(l.clone());
                false
            } else {
                true
            }
        });
        due.sort_by_key(|l| (l.deadline, l.id));
        for l in due {
            self.settled_leases.push(l.id);
            self.return_job(l.job, None, now);
        }
        let mut due: Vec<(u64, MJob)> = Vec::new();
        self.delayed.retain(|(t, j)| {
            if *t <= now {
                due.push((*t, j.clone()));
                false
            } else {
                true
            }
        });
        due.sort_by_key(|(t, j)| (*t, j.id));
        for (_, j) in due {
            self.place_back(j);
        }
    }

    fn take(&mut self, c: usize, n: usize, lease: Option<u64>, now: u64) -> Vec<MDelivery> {
        let mut out = Vec::new();
        while out.len() < n {
            let Some(mut job) = self.take_front() else {
                break;
            };
            job.deliveries += 1;
            match lease {
                None => {
                    self.popped.insert(job.id);
                    out.push((job.id, job.deliveries, None, None));
                }
                Some(d) => {
                    self.next_lease += 1;
                    out.push((job.id, job.deliveries, Some(self.next_lease), Some(now + d)));
                    self.leases.push(MLease {
                        id: self.next_lease,
                        c,
                        job,
                        deadline: now + d,
                        duration: d,
                    });
                }
            }
        }
        out
    }

    fn process(&mut self, now: u64) -> Vec<MEvent> {
        self.advance(now);
        let mut events = Vec::new();
        let mut due: Vec<(u64, usize)> = self
            .waiters
            .iter()
            .enumerate()
            .filter(|(_, w)| w.deadline.is_some_and(|d| d <= now))
            .map(|(i, w)| (w.deadline.unwrap(), i))
            .collect();
        due.sort(); // ties: parked first, first
        let gone: HashSet<usize> = due.iter().map(|&(_, i)| i).collect();
        for (_, i) in &due {
            let w = &self.waiters[*i];
            events.push(MEvent::TimedOut {
                waiter: w.id,
                c: w.c,
            });
        }
        let mut i = 0;
        self.waiters.retain(|_| {
            i += 1;
            !gone.contains(&(i - 1))
        });
        // Serve: first parked pull (in arrival order) whose consumer has credit.
        while !self.ready.is_empty() {
            let Some(i) = self
                .waiters
                .iter()
                .position(|w| self.credit(w.c, w.lease.is_some()) > 0)
            else {
                break;
            };
            let w = self.waiters.remove(i);
            let n = w.max.min(self.credit(w.c, w.lease.is_some()));
            let ds = self.take(w.c, n, w.lease, now);
            events.push(MEvent::Served {
                waiter: w.id,
                c: w.c,
                ds,
            });
        }
        events
    }
}

fn base() -> Instant {
    thread_local!(static BASE: Instant = Instant::now());
    BASE.with(|b| *b)
}

fn at(ms: u64) -> Instant {
    base() + Duration::from_millis(ms)
}

fn to_m(d: &Delivery) -> MDelivery {
    (
        d.job.0,
        d.attempt,
        d.lease.map(|l| l.0),
        d.lease_deadline.map(|t| (t - base()).as_millis() as u64),
    )
}

fn pulled(p: Pulled) -> Result<Vec<MDelivery>, WaiterId> {
    match p {
        Pulled::Jobs { queue, deliveries } => {
            assert_eq!(queue, Q);
            Ok(deliveries.iter().map(to_m).collect())
        }
        Pulled::Empty => Ok(Vec::new()),
        Pulled::Waiting(w) => Err(w),
    }
}

struct Harness {
    q: Queues,
    m: Model,
    consumers: [ConsumerId; 3],
    now: u64,
    /// Where each job is, per the model, for the conservation check.
    pushed: Vec<u64>,
}

impl Harness {
    fn new() -> Self {
        let mut q = Queues::new(QueuesConfig::default());
        q.declare(
            Q,
            QueueConfig {
                max_deliveries: Some(MAX_DELIVERIES),
                dead_letter: Some(Bytes::from_static(DLQ)),
                ..QueueConfig::default()
            },
        )
        .unwrap();
        let consumers = PREFETCH.map(|prefetch| q.add_consumer(ConsumerOptions { prefetch }));
        Harness {
            q,
            m: Model::default(),
            consumers,
            now: 0,
            pushed: Vec::new(),
        }
    }

    fn slot_of(&self, id: ConsumerId) -> usize {
        self.consumers
            .iter()
            .position(|&c| c == id)
            .expect("a known consumer")
    }

    fn events(&mut self) -> Vec<MEvent> {
        let mut ev = Vec::new();
        self.q.take_events(&mut ev);
        ev.into_iter()
            .map(|e| match e {
                Event::Served {
                    waiter,
                    consumer,
                    queue,
                    deliveries,
                } => {
                    assert_eq!(queue, Q);
                    MEvent::Served {
                        waiter,
                        c: self.slot_of(consumer),
                        ds: deliveries.iter().map(to_m).collect(),
                    }
                }
                Event::TimedOut { waiter, consumer } => MEvent::TimedOut {
                    waiter,
                    c: self.slot_of(consumer),
                },
            })
            .collect()
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let now = self.now;
        match *op {
            Op::Push { prio, delay, front } => {
                let mut opts = PushOptions::default().priority(prio);
                if front {
                    opts = opts.front();
                }
                if delay > 0 {
                    opts = opts.ready_at(at(now + delay));
                }
                let id = self.q.push(Q, Bytes::new(), opts, at(now)).unwrap();
                self.m.next_job += 1;
                prop_assert_eq!(id, JobId(self.m.next_job));
                self.pushed.push(id.0);
                let mut job = MJob {
                    id: id.0,
                    order: 0,
                    prio,
                    deliveries: 0,
                };
                if delay > 0 {
                    self.m.delayed.push((now + delay, job));
                } else if front {
                    self.m.front -= 1;
                    job.order = self.m.front;
                    self.m.ready.push(job);
                } else {
                    self.m.place_back(job);
                }
            }
            Op::Pop { c, max } => {
                let got = self
                    .q
                    .pull(self.consumers[c], &[Q], PullRequest::pop(max), at(now));
                self.m.advance(now);
                let want = self.m.take(c, max, None, now);
                prop_assert_eq!(pulled(got.unwrap()), Ok(want));
            }
            Op::Reserve { c, max, lease } => {
                let req = PullRequest::reserve(max, Duration::from_millis(lease));
                let got = self.q.pull(self.consumers[c], &[Q], req, at(now));
                self.m.advance(now);
                let credit = self.m.credit(c, true);
                if credit == 0 {
                    prop_assert_eq!(
                        got,
                        Err(QueueError::PrefetchLimit {
                            limit: PREFETCH[c].unwrap()
                        })
                    );
                } else {
                    let want = self.m.take(c, max.min(credit), Some(lease), now);
                    prop_assert_eq!(pulled(got.unwrap()), Ok(want));
                }
            }
            Op::PullWait {
                c,
                max,
                lease,
                timeout,
            } => {
                let mut req = match lease {
                    Some(l) => PullRequest::reserve(max, Duration::from_millis(l)),
                    None => PullRequest::pop(max),
                };
                req = req.wait(match timeout {
                    Some(t) => Wait::Until(at(now + t)),
                    None => Wait::Forever,
                });
                let got = self.q.pull(self.consumers[c], &[Q], req, at(now));
                self.m.advance(now);
                let credit = self.m.credit(c, lease.is_some());
                if credit == 0 {
                    let refused = matches!(got, Err(QueueError::PrefetchLimit { .. }));
                    prop_assert!(refused, "{:?}", got);
                } else if !self.m.ready.is_empty() {
                    let want = self.m.take(c, max.min(credit), lease, now);
                    prop_assert_eq!(pulled(got.unwrap()), Ok(want));
                } else {
                    let w = pulled(got.unwrap());
                    prop_assert!(w.is_err(), "parks when nothing is ready: {:?}", w);
                    self.m.waiters.push(MWait {
                        id: w.unwrap_err(),
                        c,
                        max,
                        lease,
                        deadline: timeout.map(|t| now + t),
                    });
                }
            }
            Op::Ack { pick } => {
                if self.m.leases.is_empty() {
                    return Ok(());
                }
                let l = self.m.leases.remove(pick % self.m.leases.len());
                prop_assert_eq!(self.q.ack(LeaseId(l.id)), Ok(JobId(l.job.id)));
                self.m.acked.insert(l.job.id);
                self.m.settled_leases.push(l.id);
            }
            Op::AckStale { pick } => {
                if self.m.settled_leases.is_empty() {
                    return Ok(());
                }
                let id = LeaseId(self.m.settled_leases[pick % self.m.settled_leases.len()]);
                prop_assert_eq!(self.q.ack(id), Err(QueueError::UnknownLease(id)));
                prop_assert_eq!(
                    self.q.nack(id, None, at(now)),
                    Err(QueueError::UnknownLease(id))
                );
            }
            Op::Nack { pick, delay } => {
                if self.m.leases.is_empty() {
                    return Ok(());
                }
                let l = self.m.leases.remove(pick % self.m.leases.len());
                let got = self
                    .q
                    .nack(LeaseId(l.id), delay.map(Duration::from_millis), at(now));
                self.m.settled_leases.push(l.id);
                let want = self.m.return_job(l.job, delay, now);
                prop_assert_eq!(got, Ok(want));
            }
            Op::Touch { pick, extend } => {
                if self.m.leases.is_empty() {
                    return Ok(());
                }
                let i = pick % self.m.leases.len();
                let l = &mut self.m.leases[i];
                let got = self
                    .q
                    .touch(LeaseId(l.id), Some(Duration::from_millis(extend)), at(now));
                l.deadline = now + extend;
                let _ = l.duration;
                prop_assert_eq!(got, Ok(at(now + extend)));
            }
            Op::Advance { ms } => {
                self.now += ms;
                let now = self.now;
                self.q.process(at(now));
                let want = self.m.process(now);
                prop_assert_eq!(self.events(), want);
            }
            Op::Process => {
                self.q.process(at(now));
                let want = self.m.process(now);
                prop_assert_eq!(self.events(), want);
            }
            Op::Disconnect { c } => {
                let n = self.q.remove_consumer(self.consumers[c], at(now)).unwrap();
                self.m.waiters.retain(|w| w.c != c);
                let mut mine: Vec<MLease> = Vec::new();
                self.m.leases.retain(|l| {
                    if l.c == c {
                        mine.push(l.clone());
                        false
                    } else {
                        true
                    }
                });
                mine.sort_by_key(|l| l.id);
                prop_assert_eq!(n, mine.len());
                for l in mine {
                    self.m.settled_leases.push(l.id);
                    self.m.return_job(l.job, None, now);
                }
                // The connection comes back as a new consumer.
                self.consumers[c] = self.q.add_consumer(ConsumerOptions {
                    prefetch: PREFETCH[c],
                });
            }
            Op::CancelWait { pick } => {
                if self.m.waiters.is_empty() {
                    return Ok(());
                }
                let w = self.m.waiters.remove(pick % self.m.waiters.len());
                prop_assert!(self.q.cancel_wait(w.id));
                prop_assert!(!self.q.cancel_wait(w.id));
            }
        }
        self.check()
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        let st = self.q.stats(Q).unwrap();
        prop_assert_eq!(st.ready, self.m.ready.len());
        prop_assert_eq!(st.delayed, self.m.delayed.len());
        prop_assert_eq!(st.reserved, self.m.leases.len());
        prop_assert_eq!(st.waiting, self.m.waiters.len());
        let order: Vec<u64> = self.q.ready_jobs(Q).map(|(id, _)| id.0).collect();
        prop_assert_eq!(
            order,
            self.m.ready_order(),
            "FIFO per priority, returns in place"
        );
        for c in 0..3 {
            prop_assert_eq!(self.q.held_by(self.consumers[c]).unwrap(), self.m.held(c));
        }
        // A dead-lettered job keeps its priority: the DLQ is FIFO per priority too.
        let dlq: Vec<u64> = self.q.ready_jobs(DLQ).map(|(id, _)| id.0).collect();
        let mut want: Vec<(usize, &(u32, u64))> = self.m.dlq.iter().enumerate().collect();
        want.sort_by_key(|(seq, (prio, _))| (*prio, *seq));
        let want: Vec<u64> = want.iter().map(|(_, (_, id))| *id).collect();
        prop_assert_eq!(dlq, want);
        let next = self
            .m
            .leases
            .iter()
            .map(|l| l.deadline)
            .chain(self.m.delayed.iter().map(|(t, _)| *t))
            .chain(self.m.waiters.iter().filter_map(|w| w.deadline))
            .min()
            .map(at);
        prop_assert_eq!(self.q.next_deadline(), next);
        // Conservation: every job is in exactly one place.
        let mut place: HashMap<u64, usize> = HashMap::new();
        let ids = self
            .m
            .ready
            .iter()
            .map(|j| j.id)
            .chain(self.m.delayed.iter().map(|(_, j)| j.id))
            .chain(self.m.leases.iter().map(|l| l.job.id))
            .chain(self.m.popped.iter().copied())
            .chain(self.m.acked.iter().copied())
            .chain(self.m.dlq.iter().map(|(_, id)| *id));
        for id in ids {
            *place.entry(id).or_default() += 1;
        }
        for id in &self.pushed {
            prop_assert_eq!(
                place.get(id).copied(),
                Some(1),
                "job {} is lost or duplicated",
                id
            );
        }
        prop_assert_eq!(place.len(), self.pushed.len());
        Ok(())
    }

    /// Runs out every lease and delay, then one consumer reserves and acks everything left.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        for c in 0..3 {
            let id = self.consumers[c];
            for w in self.m.waiters.iter().filter(|w| w.c == c) {
                self.q.cancel_wait(w.id);
            }
            let _ = id;
        }
        self.m.waiters.clear();
        self.now += 10_000;
        self.q.process(at(self.now));
        let want = self.m.process(self.now);
        prop_assert_eq!(self.events(), want);
        loop {
            let req = PullRequest::reserve(16, Duration::from_secs(1));
            let got = pulled(
                self.q
                    .pull(self.consumers[0], &[Q], req, at(self.now))
                    .unwrap(),
            );
            let ds = got.unwrap();
            if ds.is_empty() {
                break;
            }
            for (job, _, lease, _) in ds {
                prop_assert!(!self.m.popped.contains(&job), "a popped job came back");
                self.q.ack(LeaseId(lease.unwrap())).unwrap();
                self.m.acked.insert(job);
            }
        }
        let st = self.q.stats(Q).unwrap();
        prop_assert_eq!((st.ready, st.delayed, st.reserved, st.bytes), (0, 0, 0, 0));
        for id in &self.pushed {
            let done = self.m.acked.contains(id)
                || self.m.popped.contains(id)
                || self.m.dlq.iter().any(|(_, d)| d == id);
            prop_assert!(done, "job {} neither acked, popped nor dead-lettered", id);
        }
        prop_assert_eq!(
            st.acked as usize + self.m.popped.len() + self.m.dlq.len(),
            self.pushed.len(),
            "every job ended exactly once"
        );
        prop_assert_eq!(st.dead_lettered as usize, self.m.dlq.len());
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn queue_matches_reference_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut h = Harness::new();
        for op in &ops {
            h.step(op)?;
        }
        h.finish()?;
    }
}
