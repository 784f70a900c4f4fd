//! Choosing the backend, once per loop, and saying why.
//!
//! io_uring is used when all of this holds; the first thing that fails becomes the fallback
//! reason that the loop logs (one line) and reports through [`BackendInfo`]:
//!
//! 1. `io_uring_setup` works. It fails with `ENOSYS` on kernels built without io_uring,
//!    `EPERM` under seccomp (Docker's default profile) or `kernel.io_uring_disabled`, and
//!    `ENOMEM` when `RLIMIT_MEMLOCK` is too small for the rings (kernels before 5.12).
//! 2. The kernel has `IORING_FEAT_EXT_ARG` (5.11: timeouts passed to the wait) and
//!    `IORING_FEAT_NODROP` (5.5: no completion is ever dropped).
//! 3. Every opcode the loop submits is in `IORING_REGISTER_PROBE`'s list.
//! 4. The kernel is 6.0 or newer, for multishot recv from a provided-buffer ring (no probe reports
//!    multishot support, so the version is the only honest test).
//!
//! `RINGLOOP_BACKEND=uring|epoll|auto` overrides what the program asked for.

use std::io;

use super::{Backend, BackendInfo};

/// What the builder asks for.
#[derive(Clone, Debug)]
pub(crate) struct ProbeRequest {
    pub backend: Backend,
    pub entries: u32,
    /// Test hook: pretend `io_uring_setup` failed with this errno.
    pub simulate_setup_errno: Option<i32>,
    /// Test hook: pretend this opcode is missing.
    pub simulate_missing_opcode: Option<&'static str>,
    /// Ask for `IORING_SETUP_DEFER_TASKRUN` (completion work runs only when the loop waits).
    pub defer_taskrun: bool,
}

/// The outcome: a ring (on io_uring) plus the description of what was chosen.
pub(crate) struct Chosen {
    #[cfg(ringloop_uring)]
    pub ring: Option<io_uring::IoUring>,
    pub info: BackendInfo,
}

/// Reads `RINGLOOP_BACKEND`, which beats the program's own choice.
pub(crate) fn env_override() -> io::Result<Option<Backend>> {
    match std::env::var("RINGLOOP_BACKEND") {
        Ok(v) => v.parse().map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RINGLOOP_BACKEND: {e}"),
            )
        }),
        Err(_) => Ok(None),
    }
}

pub(crate) fn choose(req: &ProbeRequest) -> io::Result<Chosen> {
    let backend = env_override()?.unwrap_or(req.backend);
    if backend == Backend::Epoll {
        return Ok(epoll_info(None));
    }
    match try_uring(req) {
        Ok(chosen) => Ok(chosen),
        Err(why) if backend == Backend::Auto => {
            log::info!("ringloop: io_uring unavailable ({why}); falling back to epoll");
            Ok(epoll_info(Some(why)))
        }
        Err(why) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("io_uring backend requested but unavailable: {why}"),
        )),
    }
}

fn epoll_info(reason: Option<String>) -> Chosen {
    Chosen {
        #[cfg(ringloop_uring)]
        ring: None,
        info: BackendInfo {
            kind: Backend::Epoll,
            fallback_reason: reason,
            features: Vec::new(),
        },
    }
}

#[cfg(not(ringloop_uring))]
fn try_uring(_req: &ProbeRequest) -> Result<Chosen, String> {
    Err("io_uring exists only on Linux".to_string())
}

#[cfg(ringloop_uring)]
fn try_uring(req: &ProbeRequest) -> Result<Chosen, String> {
    use io_uring::{opcode, IoUring};

    if let Some(errno) = req.simulate_setup_errno {
        return Err(explain_setup_error(io::Error::from_raw_os_error(errno)));
    }
    let entries = req.entries.clamp(8, 32768).next_power_of_two();
    let mut features = Vec::new();
    // Cooperative task running (5.19) avoids an IPI per completion; single issuer (6.0) lets
    // the kernel skip locking. Try them, then fall back to a plain ring if the kernel says EINVAL.
    let mut builder = IoUring::builder();
    builder
        .setup_cqsize(entries * 4)
        .setup_taskrun_flag()
        .setup_single_issuer();
    if req.defer_taskrun {
        builder.setup_defer_taskrun();
    } else {
        builder.setup_coop_taskrun();
    }
    let ring = match builder.build(entries) {
        Ok(ring) => {
            let mode = if req.defer_taskrun {
                "DEFER_TASKRUN"
            } else {
                "COOP_TASKRUN"
            };
            features.extend([mode, "TASKRUN_FLAG", "SINGLE_ISSUER"]);
            ring
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => IoUring::builder()
            .setup_cqsize(entries * 4)
            .build(entries)
            .map_err(explain_setup_error)?,
        Err(e) => return Err(explain_setup_error(e)),
    };
    let params = ring.params();
    if !params.is_feature_ext_arg() {
        return Err("kernel lacks IORING_FEAT_EXT_ARG (needs Linux 5.11)".into());
    }
    if !params.is_feature_nodrop() {
        return Err("kernel lacks IORING_FEAT_NODROP (needs Linux 5.5)".into());
    }
    features.extend(["EXT_ARG", "NODROP"]);
    if params.is_feature_fast_poll() {
        features.push("FAST_POLL");
    }

    let mut probe = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("IORING_REGISTER_PROBE failed: {e} (needs Linux 5.6)"))?;
    let needed: [(u8, &'static str); 12] = [
        (opcode::Nop::CODE, "NOP"),
        (opcode::Accept::CODE, "ACCEPT"),
        (opcode::Connect::CODE, "CONNECT"),
        (opcode::Recv::CODE, "RECV"),
        (opcode::Send::CODE, "SEND"),
        (opcode::SendMsg::CODE, "SENDMSG"),
        (opcode::Read::CODE, "READ"),
        (opcode::Write::CODE, "WRITE"),
        (opcode::Fsync::CODE, "FSYNC"),
        (opcode::Close::CODE, "CLOSE"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
        (opcode::Timeout::CODE, "TIMEOUT"),
    ];
    for (code, name) in needed {
        if !probe.is_supported(code) || req.simulate_missing_opcode == Some(name) {
            return Err(format!("kernel lacks opcode IORING_OP_{name}"));
        }
    }

    let (major, minor) = kernel_version();
    if (major, minor) < (6, 0) {
        return Err(format!(
            "kernel {major}.{minor} lacks multishot recv with provided buffer rings (needs 6.0)"
        ));
    }
    features.extend(["MULTISHOT_ACCEPT", "MULTISHOT_RECV", "PBUF_RING"]);
    Ok(Chosen {
        ring: Some(ring),
        info: BackendInfo {
            kind: Backend::Uring,
            fallback_reason: None,
            features,
        },
    })
}

/// Turns an `io_uring_setup` errno into the sentence an operator needs.
pub(crate) fn explain_setup_error(e: io::Error) -> String {
    let errno = e.raw_os_error().unwrap_or(0);
    match errno {
        libc::ENOSYS => {
            format!("io_uring_setup: ENOSYS ({e}): kernel without io_uring, or older than 5.1")
        }
        libc::EPERM => {
            let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "n/a".into());
            format!(
                "io_uring_setup: EPERM ({e}): blocked by a seccomp filter (e.g. Docker's default \
                 profile) or by sysctl kernel.io_uring_disabled (now {sysctl})"
            )
        }
        libc::ENOMEM => {
            let limit = memlock_limit_kib()
                .map(|k| format!("{k} KiB"))
                .unwrap_or_else(|| "unknown".into());
            format!(
                "io_uring_setup: ENOMEM ({e}): RLIMIT_MEMLOCK ({limit}) too small for the rings; \
                 raise `ulimit -l` or use Linux 5.12+"
            )
        }
        _ => format!("io_uring_setup failed: {e}"),
    }
}

fn memlock_limit_kib() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    (unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } == 0).then_some(lim.rlim_cur / 1024)
}

/// The running kernel's major and minor version, from uname(2).
pub(crate) fn kernel_version() -> (u32, u32) {
    // SAFETY: utsname is plain old data; uname fills it in.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname writes only into the struct we pass.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return (0, 0);
    }
    let release: String = uts
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8 as char)
        .collect();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_explanations_name_the_cause() {
        let eperm = explain_setup_error(io::Error::from_raw_os_error(libc::EPERM));
        assert!(
            eperm.contains("EPERM") && eperm.contains("seccomp"),
            "{eperm}"
        );
        let enomem = explain_setup_error(io::Error::from_raw_os_error(libc::ENOMEM));
        assert!(enomem.contains("RLIMIT_MEMLOCK"), "{enomem}");
        let enosys = explain_setup_error(io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(enosys.contains("ENOSYS"), "{enosys}");
    }

    #[test]
    fn backend_names_parse() {
        assert_eq!("uring".parse::<Backend>(), Ok(Backend::Uring));
        assert_eq!("EPOLL".parse::<Backend>(), Ok(Backend::Epoll));
        assert_eq!("auto".parse::<Backend>(), Ok(Backend::Auto));
        assert!("kqueue".parse::<Backend>().is_err());
    }

    #[test]
    fn kernel_version_is_read() {
        assert!(kernel_version().0 >= 3);
    }
}
