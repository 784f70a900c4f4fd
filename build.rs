//! Build script: decides whether the io_uring backend is compiled in.
//!
//! io_uring exists only on Linux, so every other target gets the mio (epoll/kqueue) backend alone.
//! The rest of the crate tests `cfg(ringloop_uring)` rather than `target_os`, so the decision is
//! made in exactly one place. `RINGLOOP_NO_URING=1` builds the epoll-only crate on Linux too: CI
//! uses it to prove that the non-Linux configuration still compiles.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ringloop_uring)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=RINGLOOP_NO_URING");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let opted_out = std::env::var_os("RINGLOOP_NO_URING").is_some_and(|v| v != "0");
    if os == "linux" && !opted_out {
        println!("cargo::rustc-cfg=ringloop_uring");
    }
}
