//! CLOCK_MONOTONIC time in ns, and precise waits until an absolute instant.

use std::hint;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

/// What makes a worker stop issuing: the caller's stop flag, or another worker's failure.
#[derive(Debug, Clone, Copy)]
pub(super) struct Halt<'a> {
    pub(super) stop: &'a AtomicBool,
    pub(super) abort: &'a AtomicBool,
}

impl Halt<'_> {
    #[inline]
    pub(super) fn is_set(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.abort.load(Ordering::Relaxed)
    }
}

const NS: u64 = 1_000_000_000;

/// The longest single sleep, so that a stop request is seen quickly.
pub(super) const STOP_POLL_NS: u64 = 50_000_000;

/// CLOCK_MONOTONIC, ns.
#[inline]
pub(super) fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists, so the call
    // cannot fail (and through the vDSO it does not even enter the kernel).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * NS + ts.tv_nsec as u64
}

pub(super) fn timespec(ns: u64) -> libc::timespec {
    libc::timespec { tv_sec: (ns / NS) as libc::time_t, tv_nsec: (ns % NS) as libc::c_long }
}

/// Lets this thread's timers fire as precisely as the kernel can (the default slack is 50 µs).
pub(super) fn fine_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and only affects the calling thread.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
}

/// Moves this thread to SCHED_FIFO at the lowest real-time priority.
pub(super) fn realtime() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sleeps until CLOCK_MONOTONIC reaches `t` (ns); returns at once if it already did.
pub(super) fn sleep_until(t: u64) {
    let ts = timespec(t);
    loop {
        // SAFETY: `ts` is a valid timespec; no remainder is asked for with TIMER_ABSTIME.
        let rc = unsafe {
            libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &ts, std::ptr::null_mut())
        };
        if rc != libc::EINTR {
            return;
        }
    }
}

/// Spins until CLOCK_MONOTONIC reaches `t`; for the last few µs before a due time.
pub(super) fn spin_until(t: u64) {
    while now_ns() < t {
        hint::spin_loop();
    }
}

/// Waits until `t`: sleeps until `spin_ns` before it, then spins; false if `halt` was set first.
pub(super) fn wait_until(t: u64, spin_ns: u64, halt: Halt<'_>) -> bool {
    loop {
        let now = now_ns();
        if now >= t {
            return true;
        }
        if halt.is_set() {
            return false;
        }
        if t - now > spin_ns {
            sleep_until((t - spin_ns).min(now + STOP_POLL_NS));
        } else {
            spin_until(t);
            return true;
        }
    }
}
