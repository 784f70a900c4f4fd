//! A small fixed-size latency histogram (log-linear buckets, about 6 % precision).
//!
//! The patterns record publish-to-hand-off latency on every delivery, so recording must be a few
//! instructions and never allocate: the bucket of a value is its highest set bit plus the next
//! four bits (16 sub-buckets per power of two), the same idea as HdrHistogram with 4 significant
//! bits. 976 `u64` counters cover 1 ns to 584 years; values below 32 ns are exact. `hdrhistogram`
//! is only a dev-dependency of this crate, so the library carries this instead.

use std::fmt;
use std::time::Duration;

const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Values below this are their own bucket.
const EXACT: usize = 2 * SUB;
const BUCKETS: usize = EXACT + (64 - SUB_BITS as usize - 1) * SUB;

/// A histogram of durations, recorded in nanoseconds.
#[derive(Clone)]
pub struct LatencyHistogram {
    counts: Box<[u64]>,
    total: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

fn bucket_of(v: u64) -> usize {
    if v < EXACT as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros(); // >= SUB_BITS + 1
    let sub = ((v >> (msb - SUB_BITS)) as usize) & (SUB - 1);
    EXACT + (msb - SUB_BITS - 1) as usize * SUB + sub
}

/// The largest value that falls in bucket `b` (what quantiles report: never an underestimate).
fn bucket_high(b: usize) -> u64 {
    if b < EXACT {
        return b as u64;
    }
    let msb = (b - EXACT) / SUB + SUB_BITS as usize + 1;
    let sub = ((b - EXACT) % SUB) as u64;
    let shift = msb as u32 - SUB_BITS;
    let low = ((SUB as u64) | sub) << shift;
    low.saturating_add((1u64 << shift) - 1)
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one duration (saturating at `u64::MAX` nanoseconds).
    pub fn record(&mut self, d: Duration) {
        self.record_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records one value in nanoseconds.
    pub fn record_ns(&mut self, ns: u64) {
        self.counts[bucket_of(ns)] += 1;
        self.total += 1;
        self.sum_ns += u128::from(ns);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Number of values recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The smallest value recorded (exact).
    pub fn min(&self) -> Option<Duration> {
        (self.total > 0).then(|| Duration::from_nanos(self.min_ns))
    }

    /// The largest value recorded (exact).
    pub fn max(&self) -> Option<Duration> {
        (self.total > 0).then(|| Duration::from_nanos(self.max_ns))
    }

    /// The mean (exact).
    pub fn mean(&self) -> Option<Duration> {
        let mean = self.sum_ns.checked_div(u128::from(self.total))?;
        Some(Duration::from_nanos(
            u64::try_from(mean).unwrap_or(u64::MAX),
        ))
    }

    /// The value below which a fraction `q` (0.0..=1.0, clamped) of the recorded values fall,
    /// rounded up to its bucket's upper bound (at most ~6 % above the true value, and never above
    /// the maximum recorded).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        // The rank of the wanted value, 1-based; at least the first value.
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (b, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let v = bucket_high(b).min(self.max_ns).max(self.min_ns);
                return Some(Duration::from_nanos(v));
            }
        }
        self.max()
    }

    /// Adds every value of `other` to this histogram.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.sum_ns += other.sum_ns;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for LatencyHistogram {
    /// One line: `n=… min=… p50=… p99=… p999=… max=…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = |q| self.quantile(q).unwrap_or_default();
        write!(
            f,
            "n={} min={:?} p50={:?} p99={:?} p999={:?} max={:?}",
            self.total,
            self.min().unwrap_or_default(),
            q(0.5),
            q(0.99),
            q(0.999),
            self.max().unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_monotonic() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        let mut prev_high = None;
        for b in 0..BUCKETS {
            let high = bucket_high(b);
            assert_eq!(bucket_of(high), b, "bucket {b}");
            if let Some(p) = prev_high {
                assert_eq!(bucket_of(p + 1), b, "bucket {b} starts after {p}");
            }
            prev_high = Some(high);
        }
    }

    #[test]
    fn quantiles_within_precision() {
        let mut h = LatencyHistogram::new();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.len(), 1000);
        assert_eq!(h.min(), Some(Duration::from_micros(1)));
        assert_eq!(h.max(), Some(Duration::from_micros(1000)));
        let p50 = h.quantile(0.5).unwrap().as_nanos() as f64;
        assert!((500_000.0..=500_000.0 * 1.07).contains(&p50), "p50 {p50}");
        let p99 = h.quantile(0.99).unwrap().as_nanos() as f64;
        assert!((990_000.0..=1_000_000.0).contains(&p99), "p99 {p99}");
        assert_eq!(h.mean(), Some(Duration::from_nanos(500_500)));
    }
}
