//! Micro-benchmarks of the RESP codec: the request decoder on a pipelined batch (what
//! `redis-benchmark -P 16` sends), on one large bulk arriving in reads, the hot reply encoders,
//! pub/sub fan-out with a pre-encoded frame, and the reply decoder.
//!
//! `cargo bench --bench resp`

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringloop::proto::resp::{
    encode, write_bulk, write_command, write_integer, write_ok, Protocol, ReplyDecoder,
    RequestDecoder, SharedFrame, Value,
};

fn decode_requests(c: &mut Criterion) {
    let mut g = c.benchmark_group("resp_request");

    // 16 pipelined `SET key:NNN <32 bytes>` commands in one read.
    let mut batch = BytesMut::new();
    for i in 0..16 {
        write_command(
            &mut batch,
            &[&b"SET"[..], format!("key:{i:03}").as_bytes(), &[b'v'; 32]],
        );
    }
    let batch = batch.freeze();
    g.throughput(Throughput::Elements(16));
    g.bench_function("multibulk_set_x16", |b| {
        let mut dec = RequestDecoder::new();
        b.iter(|| {
            let mut buf = BytesMut::from(&batch[..]);
            while let Some(cmd) = dec.decode(&mut buf).unwrap() {
                black_box(cmd);
            }
        })
    });

    let inline = Bytes::from(b"PING\r\n".repeat(16));
    g.bench_function("inline_ping_x16", |b| {
        let mut dec = RequestDecoder::new();
        b.iter(|| {
            let mut buf = BytesMut::from(&inline[..]);
            while let Some(cmd) = dec.decode(&mut buf).unwrap() {
                black_box(cmd);
            }
        })
    });

    // A 1 MiB value arriving in 16 KiB reads: the decoder is asked after each one, and must not
    // rescan what it already saw.
    let mut big = BytesMut::new();
    write_command(&mut big, &[&b"SET"[..], b"k", &vec![b'x'; 1 << 20]]);
    let big = big.freeze();
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("one_mib_bulk_in_16k_reads", |b| {
        let mut dec = RequestDecoder::new();
        b.iter(|| {
            let mut buf = BytesMut::with_capacity(big.len());
            for chunk in big.chunks(16 * 1024) {
                buf.extend_from_slice(chunk);
                if let Some(cmd) = dec.decode(&mut buf).unwrap() {
                    black_box(cmd);
                }
            }
        })
    });
    g.finish();
}

fn encode_replies(c: &mut Criterion) {
    let mut g = c.benchmark_group("resp_encode");
    g.throughput(Throughput::Elements(1));
    let mut out = BytesMut::with_capacity(1 << 16);
    g.bench_function("ok_integer_bulk", |b| {
        b.iter(|| {
            out.clear();
            write_ok(&mut out);
            write_integer(&mut out, black_box(123_456));
            write_bulk(&mut out, black_box(b"some value of 32 bytes, roughly."));
        })
    });

    let hgetall = Value::Map(
        (0..8)
            .map(|i| {
                (
                    Value::bulk(format!("field{i}")),
                    Value::bulk(format!("value{i}")),
                )
            })
            .collect(),
    );
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        g.bench_function(format!("map8_{proto:?}"), |b| {
            b.iter(|| {
                out.clear();
                encode(black_box(&hgetall), proto, &mut out);
            })
        });
    }

    // One publish to 1,000 subscribers: encode once, then clone the Bytes per subscriber.
    g.throughput(Throughput::Elements(1000));
    g.bench_function("fanout_1000_subscribers", |b| {
        b.iter(|| {
            let frame = SharedFrame::message(
                Bytes::from_static(b"news"),
                Bytes::from_static(b"a message of some 40 bytes, for example"),
            );
            for i in 0..1000 {
                let proto = if i % 4 == 0 {
                    Protocol::Resp3
                } else {
                    Protocol::Resp2
                };
                black_box(frame.bytes(proto));
            }
        })
    });
    g.finish();
}

fn decode_replies(c: &mut Criterion) {
    let mut g = c.benchmark_group("resp_reply");
    let mut input = BytesMut::new();
    let reply = Value::Array(
        (0..16)
            .map(|i| Value::bulk(format!("element-{i}")))
            .collect(),
    );
    encode(&reply, Protocol::Resp3, &mut input);
    let input = input.freeze();
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("array16_value", |b| {
        let mut dec = ReplyDecoder::new();
        b.iter(|| black_box(dec.decode(&mut BytesMut::from(&input[..])).unwrap()))
    });
    g.bench_function("array16_frame", |b| {
        let mut dec = ReplyDecoder::new();
        b.iter(|| black_box(dec.decode_frame(&mut BytesMut::from(&input[..])).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, decode_requests, encode_replies, decode_replies);
criterion_main!(benches);
