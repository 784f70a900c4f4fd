//! Micro-benchmarks of the loop itself (criterion): what one op costs, round trip, in each
//! completion style on each backend, and what a timer costs with 100,000 others pending.
//!
//! `cargo bench --bench loop_ops` (results in target/criterion). A `Nop` makes the full trip:
//! submission, the backend (an io_uring NOP SQE, or an immediate epoll completion), dispatch,
//! delivery — so the numbers are the loop's overhead, not the kernel's I/O.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ringloop::{op, Backend, EventLoop};

fn backends() -> Vec<(&'static str, Backend)> {
    vec![("uring", Backend::Uring), ("epoll", Backend::Epoll)]
}

fn new_loop(backend: Backend) -> EventLoop {
    EventLoop::builder()
        .backend(backend)
        .entries(1024)
        .build()
        .expect("loop")
}

fn nop_styles(c: &mut Criterion) {
    let mut group = c.benchmark_group("nop");
    for (name, backend) in backends() {
        let mut lp = new_loop(backend);
        group.bench_function(format!("callback/{name}"), |b| {
            b.iter(|| {
                lp.submit_with(op::Nop, |_, res| {
                    black_box(res).ok();
                });
                lp.run_once(Some(Duration::ZERO)).unwrap();
            })
        });
        group.bench_function(format!("polling/{name}"), |b| {
            b.iter(|| {
                let t = lp.submit(op::Nop);
                loop {
                    if let Some(res) = lp.poll(&t) {
                        break black_box(res).ok();
                    }
                    lp.run_once(Some(Duration::ZERO)).unwrap();
                }
            })
        });
        group.bench_function(format!("blocking/{name}"), |b| {
            b.iter(|| {
                let t = lp.submit(op::Nop);
                black_box(lp.wait(t).unwrap()).ok();
            })
        });
        // 64 ops per turn: what batching saves (one io_uring_enter for 64 completions).
        group.bench_function(format!("callback_batch64/{name}"), |b| {
            b.iter(|| {
                for _ in 0..64 {
                    lp.submit_with(op::Nop, |_, res| {
                        black_box(res).ok();
                    });
                }
                while lp.run_once(Some(Duration::ZERO)).unwrap() == 0 {}
            })
        });
    }
    group.finish();
}

fn timers(c: &mut Criterion) {
    let mut group = c.benchmark_group("timer");
    let mut lp = new_loop(Backend::Epoll);
    // 100,000 pending timers in the heap while we measure.
    let pending: Vec<_> = (0..100_000u64)
        .map(|i| lp.timer(Duration::from_secs(3600 + i), |_| {}))
        .collect();
    group.bench_function("insert_cancel_with_100k_pending", |b| {
        b.iter(|| {
            let id = lp.timer(Duration::from_secs(60), |_| {});
            black_box(lp.cancel_timer(id));
        })
    });
    group.bench_function("insert_fire_with_100k_pending", |b| {
        b.iter_batched(
            || (),
            |_| {
                lp.timer(Duration::ZERO, |_| {});
                lp.run_once(Some(Duration::ZERO)).unwrap();
            },
            BatchSize::SmallInput,
        )
    });
    drop(pending);
    group.finish();
}

criterion_group!(benches, nop_styles, timers);
criterion_main!(benches);
