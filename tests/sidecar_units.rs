//! The unit tests inside the sidecar's self-contained modules.
//!
//! An example's own `#[cfg(test)]` modules do not run under `cargo test`: built as a test
//! harness, an example is not built as the program the integration tests start. The modules
//! that stand alone (only `std` and `ringloop`) are compiled into this test crate instead, so
//! their tests run with everything else.

#[allow(dead_code)]
#[path = "../examples/sidecar/health.rs"]
mod health;
