//! Build script: decides whether the io_uring backend is compiled in.
//!
//! io_uring exists only on Linux, so every other target gets the mio (epoll/kqueue) backend alone.
//! The rest of the crate tests `cfg(ringloop_uring)` rather than `target_os`, so the decision is
//! made in exactly one place.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ringloop_uring)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo::rustc-cfg=ringloop_uring");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
