//! Process plumbing shared by the example servers (included with `#[path]`, not an example of
//! its own): signal handling through a `sigwait` thread, machine-readable stdout lines, and the
//! open-file limit.
//!
//! Signals are blocked in every thread and received synchronously by one thread, which then
//! talks to the loops through their `LoopHandle`s: a signal handler could do almost nothing
//! safely, a thread can post closures and stop loops.

#![allow(dead_code)]

/// What a signal asks of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT or SIGTERM: stop (gracefully).
    Stop(i32),
    /// SIGUSR1: print stats and go on.
    Report,
}

/// SIGINT, SIGTERM and SIGUSR1, blocked in the calling thread and every thread it starts later.
pub struct Signals {
    set: libc::sigset_t,
}

impl Signals {
    /// Call first in `main`, before any thread exists.
    pub fn block() -> Signals {
        // SAFETY: sigset_t is plain data initialised by sigemptyset; signal(2) and
        // pthread_sigmask(3) only read what we pass.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGUSR1] {
                libc::sigaddset(&mut set, sig);
                // A shell starts background jobs with SIGINT ignored, and an ignored signal is
                // discarded rather than left pending for sigwait: restore the default action (it
                // never runs, the signal is blocked) so Ctrl-C and `kill -INT` always reach us.
                libc::signal(sig, libc::SIG_DFL);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Signals { set }
        }
    }

    /// Waits for the next signal.
    pub fn next(&self) -> Signal {
        loop {
            let mut sig = 0;
            // SAFETY: sigwait reads the set and writes the signal number into `sig`.
            if unsafe { libc::sigwait(&self.set, &mut sig) } != 0 {
                continue;
            }
            return if sig == libc::SIGUSR1 {
                Signal::Report
            } else {
                Signal::Stop(sig)
            };
        }
    }
}

// SAFETY: a sigset_t is plain data; sending it to the signal thread is a copy.
unsafe impl Send for Signals {}

/// Prints one line on stdout and flushes it (scripts and tests read these); a closed stdout (the
/// reader went away) is not worth dying for.
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// CPU time (utime + stime) of process `pid` so far, in clock ticks (`/proc/PID/stat`).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`, which may itself contain spaces: utime and stime are 12 and 13.
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Microseconds of CPU per item between two `cpu_ticks` readings, formatted for a RESULT line.
pub fn cpu_us_per(before: Option<u64>, after: Option<u64>, items: u64) -> String {
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    match (before, after) {
        (Some(a), Some(b)) if items > 0 => {
            format!("{:.3}", (b - a) as f64 / hz * 1e6 / items as f64)
        }
        _ => "n/a".into(),
    }
}

/// Thousands of connections need thousands of fds: raise the soft limit to the hard one.
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: get/setrlimit read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
