//! What the asynchronous back ends (Linux AIO, io_uring) share: in-flight slots, each with its
//! own buffer, and the interface the worker drives them through.

use std::os::fd::RawFd;

use crate::plan::PlanRead;

use super::buf::AlignedBufs;
use super::worker::Tally;
use super::ExecError;

/// How long a reap may block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// Take what has completed, never block.
    No,
    /// Block until at least one completion.
    One,
    /// Block until at least one completion or this many ns passed.
    For(u64),
}

/// One in-flight read.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Slot {
    /// Index of the read in its thread's plan.
    pub(super) index: u32,
    /// Bytes asked.
    pub(super) count: u32,
    /// Due time (CLOCK_MONOTONIC ns; 0 when untimed).
    pub(super) due: u64,
    /// When its submission call started (CLOCK_MONOTONIC ns).
    pub(super) start: u64,
}

/// `depth` slots and their buffers; a slot is taken from preparation to completion.
#[derive(Debug)]
pub(super) struct Slots {
    meta: Vec<Slot>,
    busy: Vec<bool>,
    free: Vec<u32>,
    bufs: AlignedBufs,
}

impl Slots {
    /// `None` if the buffers cannot be allocated.
    pub(super) fn new(depth: u32, slot_len: usize) -> Option<Self> {
        let bufs = AlignedBufs::new(depth as usize, slot_len)?;
        Some(Self {
            meta: vec![Slot::default(); depth as usize],
            busy: vec![false; depth as usize],
            // Popped from the end: slot 0 first.
            free: (0..depth).rev().collect(),
            bufs,
        })
    }

    pub(super) fn free_count(&self) -> usize {
        self.free.len()
    }

    pub(super) fn take(&mut self, slot: Slot) -> Option<u32> {
        let s = self.free.pop()?;
        self.meta[s as usize] = slot;
        self.busy[s as usize] = true;
        Some(s)
    }

    pub(super) fn buf(&self, s: u32) -> *mut u8 {
        self.bufs.slot(s as usize)
    }

    #[cfg(test)]
    pub(super) fn bytes(&self, s: u32) -> &[u8] {
        self.bufs.bytes(s as usize)
    }

    pub(super) fn set_start(&mut self, s: u32, start: u64) {
        self.meta[s as usize].start = start;
    }

    /// Records the result of slot `s`, seen at `now`, and frees the slot.
    pub(super) fn complete(&mut self, s: u32, result: i64, now: u64, tally: &mut Tally<'_>) {
        let m = self.meta[s as usize];
        tally.record(m.index, m.count, m.due, m.start, now, result);
        self.busy[s as usize] = false;
        self.free.push(s);
    }

    /// Whether `s` is a slot in use (a completion naming anything else is ignored).
    pub(super) fn is_taken(&self, s: u64) -> bool {
        usize::try_from(s).ok().and_then(|s| self.busy.get(s)).copied().unwrap_or(false)
    }
}

/// A per-worker asynchronous back end.
///
/// Every implementation drains its in-flight reads when dropped, so their buffers are never
/// freed while the kernel may still write into them.
pub(super) trait Engine {
    /// Slots not in use.
    fn free_slots(&self) -> usize;
    /// Reads submitted and not yet reaped.
    fn in_flight(&self) -> usize;
    /// Queues a read into a free slot (the caller checked [`Engine::free_slots`]).
    fn prepare(&mut self, index: u32, read: &PlanRead, fd: RawFd, due: u64);
    /// Submits every queued read with as few calls as possible.
    fn submit(&mut self, tally: &mut Tally<'_>) -> Result<(), ExecError>;
    /// Reaps completions; returns how many.
    fn reap(&mut self, wait: Wait, tally: &mut Tally<'_>) -> Result<usize, ExecError>;
}
