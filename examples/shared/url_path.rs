//! A channel name as one URL path segment, for the benchmark clients of the broker's HTTP front
//! (`pubsub_bench --sse`, `http_bench`).

/// Percent-encodes all but the unreserved characters (RFC 3986), so any name stays one segment.
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
