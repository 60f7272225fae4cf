//! Worker threads that issue the plan.
//!
//! [`open_streams`] opens one read-only description per [`PlanStream`](crate::PlanStream);
//! [`run`] starts one OS thread per [`ThreadPlan`](crate::ThreadPlan), releases them together and
//! has each issue its reads in plan order, through the recorded API, at the recorded times
//! (scaled by [`Speed`]) or as fast as it can.
//!
//! Timing is drift-compensated: every read has an absolute due time, `t0 + at_ns / scale`, and a
//! worker sleeps until that instant (or not at all when it is already late), so one late read
//! does not push the thread's later reads back. `t0` is one `CLOCK_MONOTONIC` value taken by the
//! coordinating thread once every worker has finished its setup.
//!
//! The syscalls, the Linux AIO and io_uring plumbing and the aligned buffers need `unsafe`; each
//! block is small and says why it is sound.
#![allow(unsafe_code)]

mod aio;
mod buf;
mod clock;
mod engine;
mod gate;
mod hist;
mod sync_io;
#[cfg(test)]
mod tests;
mod uring;
mod worker;

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::plan::{Api, Plan};

use clock::Halt;
use gate::{Arrival, Gate};
use hist::LagHist;
use worker::{WorkerCtx, WorkerOut};

/// A read that starts more than this after its due time is counted in [`LagStats::late_reads`].
pub const LATE_NS: u64 = 1_000_000;

/// The largest ring an io_uring instance accepts (the kernel's `IORING_MAX_ENTRIES`).
const MAX_QUEUE_DEPTH: u32 = 32_768;

/// The longest spin window accepted (10 ms).
const MAX_SPIN_NS: u64 = 10_000_000;

/// How often the progress callback is called.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// No waiting: each worker issues its next read as soon as the previous one was issued
    /// (synchronous APIs: returned). Lag is not measured.
    Max,
    /// Read `r` is due at `t0 + r.at_ns / factor`: `Scale(1.0)` is the recorded pace,
    /// `Scale(2.0)` twice as fast. The factor must be finite and positive.
    Scale(f64),
}

/// How to run a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOptions {
    /// Pace.
    pub speed: Speed,
    /// Linux AIO context and io_uring ring size per worker: at most this many of a worker's
    /// asynchronous reads are in flight at once (1..=32768).
    pub queue_depth: u32,
    /// Keep one [`ReadResult`] per issued read in [`ExecReport::results`].
    pub keep_results: bool,
    /// Timed runs: a worker sleeps until this long before a due time, then spins on the clock.
    /// A sleeping thread wakes some tens of µs late (more on a busy or virtualized box), a
    /// spinning one within a clock read; 0 sleeps all the way. Default 100 µs.
    pub spin_ns: u64,
    /// Timed runs: workers run at SCHED_FIFO priority 1, so that other processes' CPU work does
    /// not delay their wake-ups by up to a scheduler tick (needs CAP_SYS_NICE; spinning is
    /// bounded by `spin_ns` per read and the kernel's real-time throttling). Default off.
    pub realtime: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        Self {
            speed: Speed::Scale(1.0),
            queue_depth: 64,
            keep_results: false,
            spin_ns: 100_000,
            realtime: false,
        }
    }
}

/// The outcome of one issued read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadResult {
    /// Index of the worker's [`ThreadPlan`](crate::ThreadPlan) in [`Plan::threads`].
    pub thread: u32,
    /// Index of the read in that thread's [`reads`](crate::ThreadPlan::reads).
    pub index: u32,
    /// How late it started: start − due time, 0 when it started on time (always 0 at
    /// [`Speed::Max`]).
    pub lag_ns: u64,
    /// When it started (for AIO and io_uring: when its submission call started), in ns after
    /// the run's `t0`.
    pub start_ns: u64,
    /// How long it took. For AIO and io_uring this is the time from the submission call to the
    /// moment the worker saw the completion: completions are reaped between other work, so this
    /// is an upper bound on the device latency.
    pub latency_ns: u64,
    /// Bytes read, or a negative errno.
    pub result: i64,
}

/// Lag of reads behind their due times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LagStats {
    /// Whether lag was measured: false at [`Speed::Max`], where every figure below is 0.
    pub timed: bool,
    /// Median lag, ns (bucketed: within 1.6 % above the exact value).
    pub p50_ns: u64,
    /// 99th percentile lag, ns (bucketed like `p50_ns`).
    pub p99_ns: u64,
    /// Largest lag, ns (exact).
    pub max_ns: u64,
    /// Reads that started more than [`LATE_NS`] (1 ms) after their due time.
    pub late_reads: u64,
}

/// What one worker did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadReport {
    /// The recorded thread id.
    pub tid: u32,
    /// Reads issued and completed.
    pub reads: u64,
    /// Bytes those reads returned.
    pub bytes: u64,
    /// Reads that failed (negative result).
    pub errors: u64,
    /// Reads that returned fewer bytes than asked (0 at end of file included).
    pub short_reads: u64,
    /// `read`/`readv` reads issued as `pread`/`preadv` because several threads share the
    /// description's file position.
    pub issued_as_pread: u64,
    /// Reads of the plan not issued because the run was stopped.
    pub not_issued: u64,
    /// This worker's lag.
    pub lag: LagStats,
    /// When the worker finished (its last read completed), ns after `t0`.
    pub end_ns: u64,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecReport {
    /// From `t0` to the end of the last worker's last read, ns.
    pub duration_ns: u64,
    /// Reads in the plan.
    pub planned_reads: u64,
    /// Reads issued and completed.
    pub reads: u64,
    /// Bytes returned.
    pub bytes: u64,
    /// Reads that failed.
    pub errors: u64,
    /// Reads that returned fewer bytes than asked.
    pub short_reads: u64,
    /// `read`/`readv` reads issued as `pread`/`preadv` (see [`ThreadReport::issued_as_pread`]).
    pub issued_as_pread: u64,
    /// Reads not issued because the run was stopped.
    pub not_issued: u64,
    /// Whether the stop flag ended the run before every read was issued.
    pub stopped: bool,
    /// Lag over all workers.
    pub lag: LagStats,
    /// One entry per [`ThreadPlan`](crate::ThreadPlan), in plan order.
    pub per_thread: Vec<ThreadReport>,
    /// With [`ExecOptions::keep_results`]: every issued read, by thread then index.
    pub results: Option<Vec<ReadResult>>,
}

/// Why a run could not start or could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A file of the plan could not be opened.
    #[error("cannot open {} read-only{}: {source}", path.display(), if *direct { " with O_DIRECT" } else { "" })]
    Open {
        /// The file.
        path: PathBuf,
        /// Whether O_DIRECT was asked.
        direct: bool,
        /// Why.
        source: io::Error,
    },
    /// The plan refers to something it does not hold, or the options are out of range.
    #[error("cannot replay: {0}")]
    Invalid(String),
    /// A worker could not set up Linux AIO.
    #[error("io_setup for {depth} AIO reads failed for thread {tid}: {source} (the system-wide limit is /proc/sys/fs/aio-max-nr)")]
    AioSetup {
        /// Recorded thread id of the worker.
        tid: u32,
        /// Requested queue depth.
        depth: u32,
        /// Why.
        source: io::Error,
    },
    /// A worker could not create its io_uring ring.
    #[error("creating an io_uring ring of {depth} entries failed for thread {tid}: {source}")]
    UringSetup {
        /// Recorded thread id of the worker.
        tid: u32,
        /// Requested ring size.
        depth: u32,
        /// Why.
        source: io::Error,
    },
    /// A worker could not allocate its read buffers.
    #[error("cannot allocate {bytes} bytes of read buffers for thread {tid}")]
    Alloc {
        /// Recorded thread id of the worker.
        tid: u32,
        /// Size asked.
        bytes: usize,
    },
    /// Submitting or reaping asynchronous reads failed as a whole (not one read's error).
    #[error("{what} failed for thread {tid}: {source}")]
    Async {
        /// Recorded thread id of the worker.
        tid: u32,
        /// The call that failed.
        what: &'static str,
        /// Why.
        source: io::Error,
    },
    /// A worker could not switch to real-time scheduling.
    #[error("cannot run the worker of thread {tid} at SCHED_FIFO: {source}")]
    Realtime {
        /// Recorded thread id of the worker.
        tid: u32,
        /// Why.
        source: io::Error,
    },
    /// A worker thread could not be started.
    #[error("cannot start a worker thread: {0}")]
    Spawn(io::Error),
    /// A worker thread panicked.
    #[error("the worker of thread {tid} panicked")]
    Panicked {
        /// Recorded thread id of the worker.
        tid: u32,
    },
    /// Another worker failed, so this one did not run (`run` reports that failure instead).
    #[error("the run was aborted before it started")]
    Aborted,
}

/// Opens one description per stream of `plan`, in stream order: `O_RDONLY | O_CLOEXEC`, plus
/// `O_DIRECT` for direct streams. Files are never created nor opened for writing.
pub fn open_streams(plan: &Plan) -> Result<Vec<OwnedFd>, ExecError> {
    let mut fds = Vec::with_capacity(plan.streams.len());
    for (si, stream) in plan.streams.iter().enumerate() {
        let file = plan.files.get(stream.file as usize).ok_or_else(|| {
            ExecError::Invalid(format!(
                "stream {si} names file {} but the plan has {} files",
                stream.file,
                plan.files.len()
            ))
        })?;
        let mut oo = OpenOptions::new();
        // `read(true)` alone is O_RDONLY; std adds O_CLOEXEC.
        oo.read(true);
        if stream.direct {
            oo.custom_flags(libc::O_DIRECT);
        }
        let f = oo.open(&file.path).map_err(|source| ExecError::Open {
            path: file.path.clone(),
            direct: stream.direct,
            source,
        })?;
        fds.push(OwnedFd::from(f));
    }
    Ok(fds)
}

/// Replays `plan` on `fds` (from [`open_streams`]: one per stream, in stream order).
///
/// One worker thread per [`ThreadPlan`](crate::ThreadPlan); all set up (buffers, AIO context,
/// io_uring ring), then are released together. `progress` is called from the calling thread about
/// every 100 ms, and once at the end, with the number of reads completed so far. Setting `stop`
/// makes every worker stop issuing (it is checked between reads and while waiting for a due
/// time); reads in flight are still awaited and the report counts the reads not issued.
///
/// Errors of single reads are results, never errors of the run.
pub fn run(
    plan: &Plan,
    fds: &[OwnedFd],
    opts: &ExecOptions,
    progress: &(dyn Fn(u64) + Sync),
    stop: &AtomicBool,
) -> Result<ExecReport, ExecError> {
    validate(plan, fds, opts)?;
    let shared_pos = shared_positions(plan);
    let raw_fds: Vec<i32> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let scale = match opts.speed {
        Speed::Max => None,
        Speed::Scale(s) => Some(s),
    };
    let done = AtomicU64::new(0);
    let finished = AtomicUsize::new(0);
    // Set when a worker fails after the start: the others stop issuing.
    let abort = AtomicBool::new(false);
    let gate = Gate::new();
    let coordinator = thread::current();

    let outs: Vec<Result<WorkerOut, ExecError>> = thread::scope(|s| {
        let mut handles = Vec::with_capacity(plan.threads.len());
        let mut spawn_error = None;
        for (ti, tp) in plan.threads.iter().enumerate() {
            let ctx = WorkerCtx {
                thread: ti as u32,
                plan: tp,
                fds: &raw_fds,
                shared_pos: &shared_pos,
                scale,
                queue_depth: opts.queue_depth,
                keep_results: opts.keep_results,
                spin_ns: opts.spin_ns,
                realtime: opts.realtime,
                halt: Halt { stop, abort: &abort },
                done: &done,
            };
            let arrival = Arrival::new(&gate);
            let finished = &finished;
            let abort = &abort;
            let coordinator = coordinator.clone();
            let spawned =
                thread::Builder::new().name(format!("replay-{}", tp.tid)).spawn_scoped(s, move || {
                    let _signal = FinishSignal { finished, coordinator, abort };
                    worker::run(ctx, arrival).inspect_err(|_| abort.store(true, Ordering::Relaxed))
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    spawn_error = Some(e);
                    break;
                }
            }
        }

        let all_ready = gate.wait_arrivals(handles.len());
        if spawn_error.is_some() || !all_ready {
            gate.abort();
        } else {
            gate.open(clock::now_ns());
        }

        // Monitor: progress every 100 ms until every worker is done (each one unparks us).
        let mut next_tick = Instant::now() + PROGRESS_EVERY;
        while finished.load(Ordering::Acquire) < handles.len() {
            let now = Instant::now();
            if now >= next_tick {
                progress(done.load(Ordering::Relaxed));
                next_tick = now + PROGRESS_EVERY;
            }
            thread::park_timeout(next_tick.saturating_duration_since(now));
        }
        progress(done.load(Ordering::Relaxed));

        let mut outs: Vec<Result<WorkerOut, ExecError>> = handles
            .into_iter()
            .zip(&plan.threads)
            .map(|(h, tp)| h.join().unwrap_or(Err(ExecError::Panicked { tid: tp.tid })))
            .collect();
        if let Some(e) = spawn_error {
            outs.push(Err(ExecError::Spawn(e)));
        }
        outs
    });

    merge(plan, outs, scale.is_some(), opts.keep_results)
}

/// Tells the coordinator a worker is done, even when the worker panicked (then the other workers
/// are told to stop too).
struct FinishSignal<'a> {
    finished: &'a AtomicUsize,
    coordinator: thread::Thread,
    abort: &'a AtomicBool,
}

impl Drop for FinishSignal<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.abort.store(true, Ordering::Relaxed);
        }
        self.finished.fetch_add(1, Ordering::Release);
        self.coordinator.unpark();
    }
}

fn validate(plan: &Plan, fds: &[OwnedFd], opts: &ExecOptions) -> Result<(), ExecError> {
    let bad = |msg: String| Err(ExecError::Invalid(msg));
    if fds.len() != plan.streams.len() {
        return bad(format!("{} descriptors given for {} streams", fds.len(), plan.streams.len()));
    }
    if let Speed::Scale(s) = opts.speed {
        if !(s.is_finite() && s > 0.0) {
            return bad(format!("speed factor {s} is not a finite positive number"));
        }
    }
    if opts.spin_ns > MAX_SPIN_NS {
        return bad(format!("spin window {} ns is above {MAX_SPIN_NS} ns", opts.spin_ns));
    }
    if opts.queue_depth == 0 || opts.queue_depth > MAX_QUEUE_DEPTH {
        return bad(format!("queue depth {} is not in 1..={MAX_QUEUE_DEPTH}", opts.queue_depth));
    }
    if u32::try_from(plan.threads.len()).is_err() {
        return bad(format!("{} threads is too many", plan.threads.len()));
    }
    for (si, st) in plan.streams.iter().enumerate() {
        if st.file as usize >= plan.files.len() {
            return bad(format!(
                "stream {si} names file {} but the plan has {} files",
                st.file,
                plan.files.len()
            ));
        }
    }
    for tp in &plan.threads {
        if u32::try_from(tp.reads.len()).is_err() {
            return bad(format!("thread {} has {} reads, too many", tp.tid, tp.reads.len()));
        }
        for (ri, r) in tp.reads.iter().enumerate() {
            if r.stream as usize >= plan.streams.len() {
                return bad(format!(
                    "read {ri} of thread {} names stream {} but the plan has {} streams",
                    tp.tid,
                    r.stream,
                    plan.streams.len()
                ));
            }
        }
    }
    Ok(())
}

/// For each stream: whether more than one thread reads at its file position (`read`/`readv`).
/// Such a position is racy, so those reads are issued at their recorded offset instead.
fn shared_positions(plan: &Plan) -> Vec<bool> {
    // Last thread seen reading positionally, and how many distinct ones.
    let mut last: Vec<Option<usize>> = vec![None; plan.streams.len()];
    let mut readers = vec![0u32; plan.streams.len()];
    for (ti, tp) in plan.threads.iter().enumerate() {
        for r in &tp.reads {
            if matches!(r.api, Api::Read | Api::Readv) {
                let s = r.stream as usize;
                if last[s] != Some(ti) {
                    last[s] = Some(ti);
                    readers[s] += 1;
                }
            }
        }
    }
    readers.into_iter().map(|n| n > 1).collect()
}

fn merge(
    plan: &Plan,
    outs: Vec<Result<WorkerOut, ExecError>>,
    timed: bool,
    keep: bool,
) -> Result<ExecReport, ExecError> {
    // Report the first real error; `Aborted` only says another worker failed.
    let mut first_error = None;
    let mut ok = Vec::with_capacity(outs.len());
    for o in outs {
        match o {
            Ok(w) => ok.push(w),
            Err(ExecError::Aborted) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if ok.len() != plan.threads.len() {
        return Err(ExecError::Aborted);
    }

    let mut all = LagHist::new();
    let mut report = ExecReport {
        duration_ns: 0,
        planned_reads: plan.reads() as u64,
        reads: 0,
        bytes: 0,
        errors: 0,
        short_reads: 0,
        issued_as_pread: 0,
        not_issued: 0,
        stopped: false,
        lag: LagStats::default(),
        per_thread: Vec::with_capacity(ok.len()),
        results: None,
    };
    let mut results = keep.then(|| Vec::with_capacity(ok.iter().map(|w| w.results.len()).sum()));
    for w in ok {
        let t = &w.report;
        report.duration_ns = report.duration_ns.max(t.end_ns);
        report.reads += t.reads;
        report.bytes += t.bytes;
        report.errors += t.errors;
        report.short_reads += t.short_reads;
        report.issued_as_pread += t.issued_as_pread;
        report.not_issued += t.not_issued;
        all.merge(&w.hist);
        report.per_thread.push(w.report);
        if let Some(r) = results.as_mut() {
            r.extend_from_slice(&w.results);
        }
    }
    report.stopped = report.not_issued > 0;
    report.lag = all.stats(timed);
    report.results = results;
    Ok(report)
}
