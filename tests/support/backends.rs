//! `both_backends!` for the black-box tests of example servers (`tests/broker`,
//! `tests/sidecar`): each scenario is a `fn(backend: &str)` that starts its server with
//! `--backend <backend>`; the macro makes one `#[test]` per backend, in modules `uring` and
//! `epoll`, so `cargo test uring::` or `epoll::` runs one half. (The in-process suite has its
//! own macro in `tests/common`, which passes a `Backend` to build a loop instead.)

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod uring {
            $( #[test] fn $name() { super::$name("uring") } )*
        }
        mod epoll {
            $( #[test] fn $name() { super::$name("epoll") } )*
        }
    };
}
