//! The start line: workers arrive once set up, the coordinator opens it with `t0` (or aborts).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
struct State {
    /// Workers that arrived.
    arrived: usize,
    /// Whether one of them failed its setup.
    failed: bool,
    /// Set once: `Some(t0)` to go, `None` to abort.
    decision: Option<Option<u64>>,
}

/// A barrier whose release carries the run's start time.
#[derive(Debug, Default)]
pub(super) struct Gate {
    state: Mutex<State>,
    cv: Condvar,
}

impl Gate {
    pub(super) fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent whatever a panicking holder did: plain counters.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `n` workers arrived; true when none of them failed.
    pub(super) fn wait_arrivals(&self, n: usize) -> bool {
        let mut st = self.lock();
        while st.arrived < n {
            st = self.cv.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        !st.failed
    }

    /// Releases the workers with start time `t0`.
    pub(super) fn open(&self, t0: u64) {
        self.decide(Some(t0));
    }

    /// Releases the workers without running.
    pub(super) fn abort(&self) {
        self.decide(None);
    }

    fn decide(&self, d: Option<u64>) {
        let mut st = self.lock();
        st.decision = Some(d);
        drop(st);
        self.cv.notify_all();
    }

    fn arrive(&self, ok: bool) {
        let mut st = self.lock();
        st.arrived += 1;
        st.failed |= !ok;
        drop(st);
        self.cv.notify_all();
    }

    fn wait_decision(&self) -> Option<u64> {
        let mut st = self.lock();
        loop {
            if let Some(d) = st.decision {
                return d;
            }
            st = self.cv.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A worker's ticket: arriving twice is impossible, and a worker that never arrives (it
/// panicked during setup) arrives as failed when the ticket is dropped.
#[derive(Debug)]
pub(super) struct Arrival<'a> {
    gate: &'a Gate,
    done: bool,
}

impl<'a> Arrival<'a> {
    pub(super) fn new(gate: &'a Gate) -> Self {
        Self { gate, done: false }
    }

    /// Arrives (`ok`: setup succeeded) and waits for the coordinator: `Some(t0)` to run.
    pub(super) fn arrive_and_wait(mut self, ok: bool) -> Option<u64> {
        self.done = true;
        self.gate.arrive(ok);
        self.gate.wait_decision()
    }
}

impl Drop for Arrival<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.gate.arrive(false);
        }
    }
}
