//! Numbers in RESP text: integers written from a stack buffer (no `itoa` crate, no allocation),
//! Redis's strict integer parser for requests, and doubles in a form both RESP3 parsers and
//! `strtod` accept.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};

/// Writes `n` in decimal. A `u64` has at most 20 digits, so a stack buffer always fits.
pub(crate) fn put_u64(out: &mut BytesMut, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Writes `n` in decimal. `unsigned_abs` makes `i64::MIN` safe (its negation overflows).
pub(crate) fn put_i64(out: &mut BytesMut, n: i64) {
    if n < 0 {
        out.put_u8(b'-');
    }
    put_u64(out, n.unsigned_abs());
}

/// Parses a request length exactly like Redis's `string2ll`: an optional `-`, then either the
/// single digit `0` or a first digit 1-9 followed by digits, fitting an `i64`. No `+`, no leading
/// zeros, no spaces: `*03` or `$+3` are protocol errors in Redis, so they are here.
pub(crate) fn parse_strict(s: &[u8]) -> Option<i64> {
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    accumulate(neg, digits)
}

/// Parses an integer in a reply: an optional sign (`+` too, as the RESP3 spec allows) and at least
/// one digit. More lenient than [`parse_strict`] because a client should accept any valid server.
pub(crate) fn parse_lenient(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    accumulate(neg, digits)
}

/// Accumulates decimal digits in a `u64` magnitude with overflow checks, then applies the sign;
/// `-9223372036854775808` is accepted, one more is not.
fn accumulate(neg: bool, digits: &[u8]) -> Option<i64> {
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if neg {
        if v > i64::MIN.unsigned_abs() {
            None
        } else {
            Some(0i64.wrapping_sub_unsigned(v))
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// A fixed-size `fmt::Write` target, so formatting a double needs no heap allocation.
struct StackBuf {
    buf: [u8; 48],
    len: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Formats a double the way RESP3 wants it, calling `f` with the text.
///
/// `inf`, `-inf` and `nan` are Redis's spellings. Finite values use Rust's shortest round-trip
/// formatting, so decoding gives back exactly the same `f64`: plain notation for ordinary
/// magnitudes (`1`, `0.5`, `-3.25`), exponent notation outside `[1e-4, 1e17)` so that `1e300`
/// is not written as 301 digits. Both forms are valid RESP3 doubles and valid `strtod` input.
pub(crate) fn with_double<R>(d: f64, f: impl FnOnce(&[u8]) -> R) -> R {
    if d.is_nan() {
        return f(b"nan");
    }
    if d.is_infinite() {
        return f(if d > 0.0 { b"inf" } else { b"-inf" });
    }
    let mut sb = StackBuf {
        buf: [0; 48],
        len: 0,
    };
    let abs = d.abs();
    let res = if abs == 0.0 || (1e-4..1e17).contains(&abs) {
        write!(sb, "{d}")
    } else {
        write!(sb, "{d:e}")
    };
    match res {
        Ok(()) => f(&sb.buf[..sb.len]),
        // Cannot happen (the longest shortest-round-trip form is ~25 bytes), but if it did, a
        // heap string is still correct.
        Err(_) => f(format!("{d:e}").as_bytes()),
    }
}

/// Parses a RESP3 double body: what [`with_double`] writes, and anything else `f64::from_str`
/// takes (`1e+300`, `-0.5`, `inf`, `nan`...), which covers every Redis version's output.
pub(crate) fn parse_double(s: &[u8]) -> Option<f64> {
    std::str::from_utf8(s).ok()?.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_integers() {
        for n in [0i64, 1, -1, 9, 10, 12345, i64::MAX, i64::MIN] {
            let mut out = BytesMut::new();
            put_i64(&mut out, n);
            assert_eq!(&out[..], n.to_string().as_bytes());
        }
        let mut out = BytesMut::new();
        put_u64(&mut out, u64::MAX);
        assert_eq!(&out[..], u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn strict_is_string2ll() {
        let ok: &[(&[u8], i64)] = &[
            (b"0", 0),
            (b"7", 7),
            (b"-1", -1),
            (b"1048576", 1048576),
            (b"9223372036854775807", i64::MAX),
            (b"-9223372036854775808", i64::MIN),
        ];
        for &(s, v) in ok {
            assert_eq!(parse_strict(s), Some(v), "{:?}", String::from_utf8_lossy(s));
        }
        let bad: &[&[u8]] = &[
            b"",
            b"-",
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999999",
        ];
        for &s in bad {
            assert_eq!(parse_strict(s), None, "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn lenient_takes_plus_and_zeros() {
        assert_eq!(parse_lenient(b"+5"), Some(5));
        assert_eq!(parse_lenient(b"007"), Some(7));
        assert_eq!(parse_lenient(b"-0"), Some(0));
        assert_eq!(parse_lenient(b"-"), None);
        assert_eq!(parse_lenient(b""), None);
        assert_eq!(parse_lenient(b"1.5"), None);
    }

    #[test]
    fn doubles_round_trip_and_read_well() {
        let text = |d: f64| with_double(d, |b| String::from_utf8(b.to_vec()).unwrap());
        assert_eq!(text(1.0), "1");
        assert_eq!(text(-3.25), "-3.25");
        assert_eq!(text(0.1), "0.1");
        assert_eq!(text(1e300), "1e300");
        assert_eq!(text(1.5e-7), "1.5e-7");
        assert_eq!(text(f64::INFINITY), "inf");
        assert_eq!(text(f64::NEG_INFINITY), "-inf");
        assert_eq!(text(f64::NAN), "nan");
        for d in [
            0.0,
            -0.0,
            1.0 / 3.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            1e16,
            123456.789,
        ] {
            let back = parse_double(text(d).as_bytes()).unwrap();
            assert_eq!(back.to_bits(), d.to_bits(), "{d}");
        }
        assert_eq!(parse_double(b"1e+300"), Some(1e300));
        assert!(parse_double(b"nan").unwrap().is_nan());
        assert_eq!(parse_double(b""), None);
        assert_eq!(parse_double(b"1x"), None);
    }
}
