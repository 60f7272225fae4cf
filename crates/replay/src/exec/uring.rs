//! io_uring reads (`IORING_OP_READ` at an explicit offset), one ring per worker.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, types, IoUring};

use crate::plan::PlanRead;

use super::clock;
use super::engine::{Engine, Slot, Slots, Wait};
use super::worker::Tally;
use super::ExecError;

/// One ring with `depth` slots; at most `depth` reads in flight, so its completion queue
/// (twice the submission queue) never overflows.
pub(super) struct UringEngine {
    tid: u32,
    ring: IoUring,
    slots: Slots,
    /// Reads pushed on the submission queue and not yet submitted.
    queued: Vec<u32>,
    in_kernel: usize,
}

impl std::fmt::Debug for UringEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringEngine")
            .field("tid", &self.tid)
            .field("queued", &self.queued.len())
            .field("in_kernel", &self.in_kernel)
            .finish_non_exhaustive()
    }
}

impl UringEngine {
    /// Allocates the slot buffers and creates the ring.
    pub(super) fn new(tid: u32, depth: u32, slot_len: usize) -> Result<Self, ExecError> {
        let slots = Slots::new(depth, slot_len).ok_or(ExecError::Alloc {
            tid,
            bytes: super::buf::AlignedBufs::size(depth as usize, slot_len),
        })?;
        let ring = IoUring::new(depth).map_err(|source| ExecError::UringSetup { tid, depth, source })?;
        Ok(Self { tid, ring, slots, queued: Vec::with_capacity(depth as usize), in_kernel: 0 })
    }

    #[cfg(test)]
    pub(super) fn slots(&self) -> &Slots {
        &self.slots
    }

    fn error(&self, what: &'static str, source: io::Error) -> ExecError {
        ExecError::Async { tid: self.tid, what, source }
    }

    /// Takes every completion in the queue, stamped `now`.
    fn take_completions(&mut self, tally: &mut Tally<'_>) -> usize {
        let now = clock::now_ns();
        let mut n = 0;
        for cqe in self.ring.completion() {
            let s = cqe.user_data();
            if self.slots.is_taken(s) {
                self.slots.complete(s as u32, i64::from(cqe.result()), now, tally);
                self.in_kernel -= 1;
                n += 1;
            }
        }
        n
    }

    /// Enters the kernel to wait for completions (and submit anything queued).
    fn enter(&mut self, wait: Wait) -> io::Result<()> {
        let rc = match wait {
            Wait::No => self.ring.submit(),
            Wait::One => self.ring.submit_and_wait(1),
            Wait::For(ns) => {
                let ts = types::Timespec::from(std::time::Duration::from_nanos(ns));
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        match rc {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Engine for UringEngine {
    fn free_slots(&self) -> usize {
        self.slots.free_count()
    }

    fn in_flight(&self) -> usize {
        self.in_kernel
    }

    fn prepare(&mut self, index: u32, read: &PlanRead, fd: RawFd, due: u64) {
        let Some(s) = self.slots.take(Slot { index, count: read.count, due, start: 0 }) else {
            debug_assert!(false, "prepare without a free slot");
            return;
        };
        let sqe = opcode::Read::new(types::Fd(fd), self.slots.buf(s), read.count)
            .offset(read.pos)
            .build()
            .user_data(u64::from(s));
        // SAFETY: the buffer is slot `s`'s, `count` <= slot length, and it stays allocated and
        // untouched until the completion naming `s` is reaped (the engine drains on drop).
        let pushed = unsafe { self.ring.submission().push(&sqe) };
        // At most `depth` slots exist and the queue holds `depth` entries, so it cannot be full.
        debug_assert!(pushed.is_ok(), "submission queue full");
        if pushed.is_ok() {
            self.queued.push(s);
        }
    }

    fn submit(&mut self, tally: &mut Tally<'_>) -> Result<(), ExecError> {
        if self.queued.is_empty() {
            return Ok(());
        }
        let start = clock::now_ns();
        for &s in &self.queued {
            self.slots.set_start(s, start);
        }
        let mut left = self.queued.len();
        let mut idle_retries = 0;
        while left > 0 {
            match self.ring.submit() {
                Ok(n) => {
                    let n = n.min(left);
                    left -= n;
                    self.in_kernel += n;
                    if n == 0 && left > 0 {
                        // Nothing taken: the kernel wants completions reaped first.
                        if self.in_kernel > 0 {
                            self.reap(Wait::One, tally)?;
                        } else if idle_retries < 1000 {
                            idle_retries += 1;
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        } else {
                            return Err(
                                self.error("io_uring_enter (submit)", io::Error::other("no entry taken"))
                            );
                        }
                    }
                }
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EAGAIN | libc::EBUSY) if self.in_kernel > 0 => {
                        self.reap(Wait::One, tally)?;
                    }
                    // Out of memory for requests with nothing to reap: retry for a second.
                    Some(libc::EAGAIN | libc::EBUSY) if idle_retries < 1000 => {
                        idle_retries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    _ => return Err(self.error("io_uring_enter (submit)", e)),
                },
            }
        }
        self.queued.clear();
        Ok(())
    }

    fn reap(&mut self, wait: Wait, tally: &mut Tally<'_>) -> Result<usize, ExecError> {
        if self.in_kernel == 0 {
            return Ok(0);
        }
        let mut n = self.take_completions(tally);
        if n == 0 && wait != Wait::No {
            self.enter(wait).map_err(|e| self.error("io_uring_enter (wait)", e))?;
            n = self.take_completions(tally);
        }
        Ok(n)
    }
}

impl Drop for UringEngine {
    fn drop(&mut self) {
        // Closing a ring does not wait for its reads; wait here so the slot buffers, dropped
        // after this, are no longer written to. Results are discarded.
        // Queued entries still on the submission queue are submitted by the first wait.
        let mut pending = self.in_kernel + self.queued.len();
        while pending > 0 {
            if self.ring.submit_and_wait(1).is_err_and(|e| e.raw_os_error() != Some(libc::EINTR)) {
                break;
            }
            let cq = self.ring.completion();
            pending = pending.saturating_sub(cq.len());
            cq.for_each(drop);
        }
    }
}
