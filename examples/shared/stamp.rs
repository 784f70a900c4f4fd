//! The payload the fan-out benchmarks publish (`pubsub_bench`, `http_bench`): its send time and
//! sequence number as 32 ASCII hex digits, padded with `x` — text, so SSE and JSON carry it
//! unchanged, and checkable, so a lost, duplicated or reordered message is an error.

/// Bytes of the payload that carry data: send time and sequence, 16 hex digits each.
pub const STAMP: usize = 32;

/// The payload of message `seq` sent at `sent_ns` (ns since the run's base instant), `size`
/// bytes long (at least [`STAMP`]).
pub fn payload(size: usize, sent_ns: u64, seq: u64) -> Vec<u8> {
    let mut p = format!("{sent_ns:016x}{seq:016x}").into_bytes();
    p.resize(size.max(STAMP), b'x');
    p
}

/// Send time and sequence number from a payload.
pub fn parse_payload(p: &[u8]) -> Option<(u64, u64)> {
    let hex = |b: &[u8]| u64::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok();
    Some((hex(p.get(..16)?)?, hex(p.get(16..STAMP)?)?))
}
