//! One worker: issues one [`ThreadPlan`]'s reads in order, on time, through the recorded API.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::plan::{Api, PlanRead, ThreadPlan};

use super::aio::AioEngine;
use super::buf::{slot_len, AlignedBufs};
use super::clock::{self, Halt, STOP_POLL_NS};
use super::engine::{Engine, Wait};
use super::gate::Arrival;
use super::hist::LagHist;
use super::uring::UringEngine;
use super::{sync_io, ExecError, ReadResult, ThreadReport};

/// Progress is published every this many reads (and before every sleep).
const FLUSH_EVERY: u64 = 64;

/// While reads are in flight and the next due time is further than the spin window plus this,
/// wait for completions (with a timeout) rather than sleep, so they are reaped close to when
/// they happen.
const ASYNC_MARGIN_NS: u64 = 50_000;

/// What a worker needs from the run.
#[derive(Debug)]
pub(super) struct WorkerCtx<'a> {
    /// Index in `Plan::threads`.
    pub(super) thread: u32,
    pub(super) plan: &'a ThreadPlan,
    /// Raw descriptors, by stream.
    pub(super) fds: &'a [RawFd],
    /// By stream: read/readv must go through pread/preadv (several threads use the position).
    pub(super) shared_pos: &'a [bool],
    /// `None`: as fast as possible.
    pub(super) scale: Option<f64>,
    pub(super) queue_depth: u32,
    pub(super) keep_results: bool,
    /// Spin this long before a due time instead of sleeping.
    pub(super) spin_ns: u64,
    /// Run at SCHED_FIFO (timed runs only).
    pub(super) realtime: bool,
    pub(super) halt: Halt<'a>,
    /// Reads completed by all workers (published in steps).
    pub(super) done: &'a AtomicU64,
}

/// What a worker hands back.
#[derive(Debug)]
pub(super) struct WorkerOut {
    pub(super) report: ThreadReport,
    pub(super) hist: LagHist,
    /// Sorted by index; empty unless results are kept.
    pub(super) results: Vec<ReadResult>,
}

/// Due times.
#[derive(Debug, Clone, Copy)]
struct Timer {
    t0: u64,
    /// `None`: untimed; `Some(1.0)` is taken as is.
    scale: Option<f64>,
}

impl Timer {
    #[inline]
    fn timed(&self) -> bool {
        self.scale.is_some()
    }

    /// CLOCK_MONOTONIC ns at which a read recorded at `at_ns` is due (0 when untimed).
    #[inline]
    fn due(&self, at_ns: u64) -> u64 {
        match self.scale {
            None => 0,
            Some(1.0) => self.t0.saturating_add(at_ns),
            Some(s) => self.t0.saturating_add((at_ns as f64 / s) as u64),
        }
    }
}

/// Per-worker counters, lag histogram and (optionally) results.
#[derive(Debug)]
pub(super) struct Tally<'a> {
    thread: u32,
    t0: u64,
    timed: bool,
    reads: u64,
    bytes: u64,
    errors: u64,
    short: u64,
    as_pread: u64,
    hist: LagHist,
    results: Option<Vec<ReadResult>>,
    done: &'a AtomicU64,
    unflushed: u64,
}

impl<'a> Tally<'a> {
    pub(super) fn new(
        thread: u32,
        t0: u64,
        timed: bool,
        results: Option<Vec<ReadResult>>,
        done: &'a AtomicU64,
    ) -> Self {
        Self {
            thread,
            t0,
            timed,
            reads: 0,
            bytes: 0,
            errors: 0,
            short: 0,
            as_pread: 0,
            hist: LagHist::new(),
            results,
            done,
            unflushed: 0,
        }
    }

    /// Records one completed read: due time, start and end (CLOCK_MONOTONIC ns), result.
    #[inline]
    pub(super) fn record(&mut self, index: u32, count: u32, due: u64, start: u64, end: u64, result: i64) {
        self.reads += 1;
        if result < 0 {
            self.errors += 1;
        } else {
            self.bytes += result as u64;
            if (result as u64) < u64::from(count) {
                self.short += 1;
            }
        }
        let lag = if self.timed { start.saturating_sub(due) } else { 0 };
        if self.timed {
            self.hist.record(lag);
        }
        if let Some(r) = self.results.as_mut() {
            r.push(ReadResult {
                thread: self.thread,
                index,
                lag_ns: lag,
                start_ns: start.saturating_sub(self.t0),
                latency_ns: end.saturating_sub(start),
                result,
            });
        }
        self.unflushed += 1;
        if self.unflushed >= FLUSH_EVERY {
            self.flush();
        }
    }

    #[cfg(test)]
    pub(super) fn take_results(&mut self) -> Vec<ReadResult> {
        self.results.take().unwrap_or_default()
    }

    /// Publishes the reads done since the last flush.
    fn flush(&mut self) {
        if self.unflushed > 0 {
            self.done.fetch_add(self.unflushed, Ordering::Relaxed);
            self.unflushed = 0;
        }
    }
}

/// Everything allocated before the start.
#[derive(Debug)]
struct Resources {
    sync_buf: Option<AlignedBufs>,
    aio: Option<AioEngine>,
    uring: Option<UringEngine>,
    results: Option<Vec<ReadResult>>,
}

fn setup(ctx: &WorkerCtx<'_>) -> Result<Resources, ExecError> {
    let tid = ctx.plan.tid;
    let (mut sync_max, mut aio_max, mut uring_max) = (None, None, None);
    for r in &ctx.plan.reads {
        let m = match r.api {
            Api::Aio => &mut aio_max,
            Api::Uring => &mut uring_max,
            _ => &mut sync_max,
        };
        *m = Some(m.unwrap_or(0).max(r.count));
    }
    let sync_buf = match sync_max {
        None => None,
        Some(c) => {
            let len = slot_len(c);
            Some(AlignedBufs::new(1, len).ok_or(ExecError::Alloc { tid, bytes: len })?)
        }
    };
    let depth = ctx.queue_depth;
    let aio = aio_max.map(|c| AioEngine::new(tid, depth, slot_len(c))).transpose()?;
    let uring = uring_max.map(|c| UringEngine::new(tid, depth, slot_len(c))).transpose()?;
    let results = ctx.keep_results.then(|| Vec::with_capacity(ctx.plan.reads.len()));
    Ok(Resources { sync_buf, aio, uring, results })
}

/// Sets up, waits at the gate, replays, drains.
pub(super) fn run(ctx: WorkerCtx<'_>, arrival: Arrival<'_>) -> Result<WorkerOut, ExecError> {
    let res = setup(&ctx).and_then(|r| {
        if ctx.scale.is_some() {
            clock::fine_timer_slack();
            if ctx.realtime {
                clock::realtime().map_err(|source| ExecError::Realtime { tid: ctx.plan.tid, source })?;
            }
        }
        Ok(r)
    });
    let Some(t0) = arrival.arrive_and_wait(res.is_ok()) else {
        return Err(res.err().unwrap_or(ExecError::Aborted));
    };
    let Resources { sync_buf, mut aio, mut uring, results } = res?;
    let spin_ns = ctx.spin_ns;
    let timer = Timer { t0, scale: ctx.scale };
    let mut tally = Tally::new(ctx.thread, t0, timer.timed(), results, ctx.done);
    let reads = &ctx.plan.reads;

    let mut i = 0;
    while i < reads.len() {
        if ctx.halt.is_set() {
            break;
        }
        let r = &reads[i];
        let due = timer.due(r.at_ns);
        if timer.timed() && !wait_for(due, spin_ns, ctx.halt, &mut aio, &mut uring, &mut tally)? {
            break;
        }
        i = match (r.api, aio.as_mut(), uring.as_mut()) {
            (Api::Aio, Some(e), _) => issue_batch(e, &ctx, timer, i, &mut tally)?,
            (Api::Uring, _, Some(e)) => issue_batch(e, &ctx, timer, i, &mut tally)?,
            _ => {
                // Every synchronous API has the sync buffer (setup saw this read).
                let buf = sync_buf.as_ref().map_or(std::ptr::null_mut(), |b| b.slot(0));
                issue_sync(r, buf, &ctx, due, i as u32, &mut tally);
                i + 1
            }
        };
    }
    let not_issued = (reads.len() - i) as u64;

    if let Some(e) = aio.as_mut() {
        drain(e, &mut tally)?;
    }
    if let Some(e) = uring.as_mut() {
        drain(e, &mut tally)?;
    }
    let end = clock::now_ns();
    tally.flush();

    let mut results = tally.results.take().unwrap_or_default();
    results.sort_unstable_by_key(|r| r.index);
    Ok(WorkerOut {
        report: ThreadReport {
            tid: ctx.plan.tid,
            reads: tally.reads,
            bytes: tally.bytes,
            errors: tally.errors,
            short_reads: tally.short,
            issued_as_pread: tally.as_pread,
            not_issued,
            lag: tally.hist.stats(timer.timed()),
            end_ns: end.saturating_sub(t0),
        },
        hist: tally.hist,
        results,
    })
}

/// Waits until `due`, reaping completions meanwhile; false if `halt` was set first.
fn wait_for(
    due: u64,
    spin_ns: u64,
    halt: Halt<'_>,
    aio: &mut Option<AioEngine>,
    uring: &mut Option<UringEngine>,
    tally: &mut Tally<'_>,
) -> Result<bool, ExecError> {
    if clock::now_ns() >= due {
        return Ok(true);
    }
    tally.flush();
    loop {
        let now = clock::now_ns();
        if now >= due {
            return Ok(true);
        }
        let left = due - now;
        let aio_busy = aio.as_ref().is_some_and(|e| e.in_flight() > 0);
        let uring_busy = uring.as_ref().is_some_and(|e| e.in_flight() > 0);
        let margin = spin_ns + ASYNC_MARGIN_NS;
        if left <= margin || !(aio_busy || uring_busy) {
            return Ok(clock::wait_until(due, spin_ns, halt));
        }
        if halt.is_set() {
            return Ok(false);
        }
        let budget = Wait::For((left - margin).min(STOP_POLL_NS));
        match (aio.as_mut(), uring.as_mut()) {
            (Some(a), u) if aio_busy => {
                a.reap(budget, tally)?;
                if let Some(u) = u {
                    u.reap(Wait::No, tally)?;
                }
            }
            (_, Some(u)) => {
                u.reap(budget, tally)?;
            }
            _ => {}
        }
        tally.flush();
    }
}

/// Issues the run of reads from `i` that share its API and batch value: queued, then submitted
/// by one call (several when the queue fills up). Returns the index after the batch.
fn issue_batch<E: Engine>(
    eng: &mut E,
    ctx: &WorkerCtx<'_>,
    timer: Timer,
    i: usize,
    tally: &mut Tally<'_>,
) -> Result<usize, ExecError> {
    let reads = &ctx.plan.reads;
    let (api, batch) = (reads[i].api, reads[i].batch);
    eng.reap(Wait::No, tally)?;
    let mut j = i;
    while j < reads.len() && reads[j].api == api && reads[j].batch == batch {
        while eng.free_slots() == 0 {
            eng.submit(tally)?;
            if eng.in_flight() == 0 {
                return Err(ExecError::Async {
                    tid: ctx.plan.tid,
                    what: "finding a free slot",
                    source: std::io::Error::other("every slot is busy but none is in flight"),
                });
            }
            eng.reap(Wait::One, tally)?;
        }
        let r = &reads[j];
        eng.prepare(j as u32, r, ctx.fds[r.stream as usize], timer.due(r.at_ns));
        j += 1;
    }
    eng.submit(tally)?;
    Ok(j)
}

/// Waits for every read in flight.
fn drain<E: Engine>(eng: &mut E, tally: &mut Tally<'_>) -> Result<(), ExecError> {
    while eng.in_flight() > 0 {
        eng.reap(Wait::One, tally)?;
    }
    Ok(())
}

/// Issues one synchronous read into `buf` (at least `r.count` bytes).
#[inline]
fn issue_sync(r: &PlanRead, buf: *mut u8, ctx: &WorkerCtx<'_>, due: u64, index: u32, tally: &mut Tally<'_>) {
    let s = r.stream as usize;
    let fd = ctx.fds[s];
    let shared = ctx.shared_pos[s];
    let start = clock::now_ns();
    let result = match r.api {
        Api::Pread64 => sync_io::pread(fd, buf, r.count, r.pos),
        Api::Preadv => sync_io::preadv(fd, buf, r.count, r.pos),
        Api::Preadv2 => sync_io::preadv2(fd, buf, r.count, r.pos),
        Api::Read if shared => sync_io::pread(fd, buf, r.count, r.pos),
        Api::Readv if shared => sync_io::preadv(fd, buf, r.count, r.pos),
        Api::Read => sync_io::read_at_position(fd, buf, r.count, r.pos, false),
        Api::Readv => sync_io::read_at_position(fd, buf, r.count, r.pos, true),
        // Asynchronous reads never get here (the worker has their engine).
        Api::Aio | Api::Uring => -i64::from(libc::EINVAL),
    };
    let end = clock::now_ns();
    if shared && matches!(r.api, Api::Read | Api::Readv) {
        tally.as_pread += 1;
    }
    tally.record(index, r.count, due, start, end, result);
}
