//! Benchmarks of the patterns layer (criterion), plus one memory measurement.
//!
//! `cargo bench --bench patterns` — results in target/criterion; the memory figures are printed
//! first (resident set growth, so they include allocator overhead, as a real process pays it).
//!
//! * `pubsub_fanout/{publish,deliver}/N`: one message to N subscribers of a channel, frames
//!   encoded once (`BytesEncoder`) and shared. `publish` times the fan-out alone (outboxes are
//!   drained outside the timing); `deliver` times publish plus draining every outbox (the full
//!   hand-off). Throughput is per delivery.
//! * `pubsub_patterns/publish_100_patterns`: a publish that must test 100 pattern subscriptions
//!   (none matching), the cost Redis also pays per pattern.
//! * `pushpull/*`: push + reserve + ack of one job, of 100 jobs in one pull, and push + pop.
//! * memory: bytes of resident memory per queued job with 1,000,000 jobs in one queue.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use ringloop::patterns::pubsub::{
    BytesEncoder, Format, Message, Outgoing, PubSub, PubSubConfig, SubscriberId, SubscriberOptions,
};
use ringloop::patterns::pushpull::{
    ConsumerOptions, PullRequest, Pulled, PushOptions, QueueConfig, Queues, QueuesConfig,
};

type Encode = fn(Format, &Message, Option<&Bytes>) -> Bytes;

/// A RESP-like frame, built once per message.
fn encode(_: Format, m: &Message, _: Option<&Bytes>) -> Bytes {
    let mut v = Vec::with_capacity(32 + m.channel.len() + m.payload.len());
    v.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n");
    v.extend_from_slice(format!("${}\r\n", m.channel.len()).as_bytes());
    v.extend_from_slice(&m.channel);
    v.extend_from_slice(format!("\r\n${}\r\n", m.payload.len()).as_bytes());
    v.extend_from_slice(&m.payload);
    v.extend_from_slice(b"\r\n");
    Bytes::from(v)
}

fn hub_with(n: usize) -> (PubSub<BytesEncoder<Encode>>, Vec<SubscriberId>) {
    let mut hub = PubSub::with_encoder(BytesEncoder(encode as Encode), PubSubConfig::default());
    let ids: Vec<_> = (0..n)
        .map(|_| {
            let id = hub.add_subscriber(SubscriberOptions::default());
            hub.subscribe(id, b"bench.channel").unwrap();
            id
        })
        .collect();
    (hub, ids)
}

fn drain_all(
    hub: &mut PubSub<BytesEncoder<Encode>>,
    ready: &mut Vec<SubscriberId>,
    now: Instant,
) -> usize {
    ready.clear();
    hub.take_ready(ready);
    let mut n = 0;
    for &id in ready.iter() {
        while let Ok(Some(item)) = hub.pop(id, now) {
            if let Outgoing::Message(frame) = item {
                n += frame.len();
            }
        }
    }
    n
}

fn pubsub_fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("pubsub_fanout");
    let payload = Bytes::from(vec![b'x'; 64]);
    for n in [1usize, 100, 10_000] {
        group.throughput(Throughput::Elements(n as u64));
        let (mut hub, _) = hub_with(n);
        let mut ready = Vec::with_capacity(n);
        group.bench_with_input(BenchmarkId::new("publish", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let now = Instant::now();
                    let t = Instant::now();
                    black_box(hub.publish(b"bench.channel", payload.clone(), now));
                    total += t.elapsed();
                    black_box(drain_all(&mut hub, &mut ready, now));
                }
                total
            })
        });
        group.bench_with_input(BenchmarkId::new("deliver", n), &n, |b, _| {
            b.iter(|| {
                let now = Instant::now();
                black_box(hub.publish(b"bench.channel", payload.clone(), now));
                black_box(drain_all(&mut hub, &mut ready, now))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("pubsub_patterns");
    let (mut hub, ids) = hub_with(1);
    for i in 0..100 {
        hub.psubscribe(ids[0], format!("other.{i}.*").as_bytes())
            .unwrap();
    }
    let mut ready = Vec::new();
    group.bench_function("publish_100_patterns", |b| {
        b.iter(|| {
            let now = Instant::now();
            black_box(hub.publish(b"bench.channel", payload.clone(), now));
            black_box(drain_all(&mut hub, &mut ready, now))
        })
    });
    group.finish();
}

fn pushpull(c: &mut Criterion) {
    let mut group = c.benchmark_group("pushpull");
    let payload = Bytes::from(vec![b'j'; 64]);
    let mut q = Queues::new(QueuesConfig::default());
    let worker = q.add_consumer(ConsumerOptions::default());
    let lease = Duration::from_secs(30);
    group.throughput(Throughput::Elements(1));
    group.bench_function("push_reserve_ack", |b| {
        b.iter(|| {
            let now = Instant::now();
            q.push(b"jobs", payload.clone(), PushOptions::default(), now)
                .unwrap();
            let Ok(Pulled::Jobs { deliveries, .. }) =
                q.pull(worker, &[b"jobs"], PullRequest::reserve(1, lease), now)
            else {
                unreachable!()
            };
            q.ack(deliveries[0].lease.unwrap()).unwrap();
        })
    });
    group.bench_function("push_pop", |b| {
        b.iter(|| {
            let now = Instant::now();
            q.push(b"jobs", payload.clone(), PushOptions::default(), now)
                .unwrap();
            black_box(
                q.pull(worker, &[b"jobs"], PullRequest::pop(1), now)
                    .unwrap(),
            );
        })
    });
    group.throughput(Throughput::Elements(100));
    let batch: Vec<Bytes> = (0..100).map(|_| payload.clone()).collect();
    group.bench_function("push_reserve_ack_batch100", |b| {
        b.iter(|| {
            let now = Instant::now();
            q.push_all(b"jobs", batch.iter().cloned(), PushOptions::default(), now)
                .unwrap();
            let Ok(Pulled::Jobs { deliveries, .. }) =
                q.pull(worker, &[b"jobs"], PullRequest::reserve(100, lease), now)
            else {
                unreachable!()
            };
            for d in deliveries {
                q.ack(d.lease.unwrap()).unwrap();
            }
        })
    });
    group.finish();
}

/// Resident set size in bytes (Linux: /proc/self/statm, second field, in pages).
fn rss() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Bytes of resident memory per job with `n` jobs queued, each given by `payload(i)`.
fn memory_per_job(n: usize, payload: impl Fn(usize) -> Bytes) -> Option<f64> {
    let mut q = Queues::new(QueuesConfig {
        default_queue: QueueConfig {
            max_jobs: n,
            max_bytes: usize::MAX,
            ..QueueConfig::default()
        },
        auto_create: true,
    });
    q.declare(b"warm", QueueConfig::default()).ok()?;
    let before = rss()?;
    let now = Instant::now();
    for i in 0..n {
        q.push(b"mem", payload(i), PushOptions::default(), now)
            .ok()?;
    }
    let after = rss()?;
    assert_eq!(q.len(b"mem"), n);
    black_box(&q);
    Some((after.saturating_sub(before)) as f64 / n as f64)
}

fn memory_report() {
    let test_mode = std::env::args().any(|a| a == "--test" || a == "--list");
    let n = if test_mode { 10_000 } else { 1_000_000 };
    let shared = Bytes::from(vec![0u8; 64]);
    type Payload = Box<dyn Fn(usize) -> Bytes>;
    let rows: [(&str, Payload); 3] = [
        (
            "empty payload (queue structure only)",
            Box::new(|_| Bytes::new()),
        ),
        (
            "one shared 64-byte payload",
            Box::new(move |_| shared.clone()),
        ),
        (
            "distinct 64-byte payloads",
            Box::new(|i| Bytes::copy_from_slice(format!("{i:064}").as_bytes())),
        ),
    ];
    println!("memory per queued job, {n} jobs in one queue (RSS growth / jobs):");
    for (name, payload) in rows {
        match memory_per_job(n, payload) {
            Some(b) => println!("  {name}: {b:.1} bytes/job"),
            None => println!("  {name}: unavailable (no /proc/self/statm)"),
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = pubsub_fanout, pushpull
}

fn main() {
    memory_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
