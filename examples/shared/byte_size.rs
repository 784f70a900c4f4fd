//! Byte sizes as Redis's memory directives write them — `1024`, `64kb`, `32mb`, `1gb`
//! (1024-based) and `64k`, `32m` (1000-based) — for the examples' flags and the broker's
//! `CONFIG SET`, so every example reads sizes the same way.

/// Parses a byte size; the error is Redis's own text for a bad memory value.
pub fn parse_bytes(v: &str) -> Result<usize, String> {
    let v = v.trim().to_ascii_lowercase();
    let (num, mul) = [
        ("kb", 1usize << 10),
        ("mb", 1 << 20),
        ("gb", 1 << 30),
        ("k", 1000),
        ("m", 1_000_000),
        ("g", 1_000_000_000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suffix, mul)| v.strip_suffix(suffix).map(|n| (n.to_string(), *mul)))
    .unwrap_or((v.clone(), 1));
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("argument must be a memory value, got '{v}'"))
}
