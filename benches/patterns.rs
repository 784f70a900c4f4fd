//! Benchmarks of the patterns layer (placeholder until the patterns land).
fn main() {}
