//! What the simulator takes from a trace: the buffered reads of every open file description in
//! time order (whatever API issued them), the fadvise calls and opens that change readahead
//! state, the recorded page-cache inserts and deletions (for oracle mode), the pages that were
//! cached before the trace started, and the kernel's own readahead decisions (to check the model
//! against).

use mysql_io_format::{
    AioOpcode, ChunkColumns, Event, EventBody, EventKind, FadviseAdvice, FileRef, ProbeMode, RaDecision,
    RaTrigger, Trace,
};
use rustc_hash::FxHashMap;

use crate::accounting::{Accounting, Recorded};
use crate::model::{Decision, Geometry, RaState, Trigger, Variant, Window};

/// A file the simulation follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIn {
    /// Device (kernel encoding).
    pub dev: u32,
    /// Inode.
    pub ino: u64,
    /// Path, or `dev:ino` when the trace has none.
    pub path: String,
    /// Size in bytes: the recorded size, or the end of the furthest read when larger.
    pub size: u64,
    /// Device geometry and folio support.
    pub geometry: Geometry,
    /// `read_ahead_kb` the kernel used for this file (its device's, or what its readahead
    /// decisions show).
    pub recorded_ra_kb: u64,
    /// Some read of it used O_DIRECT (those reads are not simulated).
    pub direct_reads: u64,
}

/// Something that happened, in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A buffered read.
    Read {
        /// Stream (open file description) index.
        stream: u32,
        /// Byte offset.
        pos: u64,
        /// Bytes asked for.
        count: u64,
        /// Bytes copied (what the read returned; `count` when not recorded).
        copied: u64,
    },
    /// A buffered read returned: the description's `prev_pos` is where it ended (threads
    /// sharing a description see it from then on, not from the read's start).
    ReadDone {
        /// Stream index.
        stream: u32,
        /// Byte after the last one copied.
        end: u64,
    },
    /// The description was opened: its readahead state starts afresh.
    Open {
        /// Stream index.
        stream: u32,
    },
    /// `posix_fadvise` on the description.
    Fadvise {
        /// Stream index.
        stream: u32,
        /// Advice.
        advice: FadviseAdvice,
        /// Byte offset.
        offset: u64,
        /// Bytes (0: to the end).
        len: u64,
    },
    /// The kernel cached a folio (oracle mode).
    Add {
        /// File index.
        file: u32,
        /// First page.
        index: u64,
        /// Pages.
        pages: u64,
    },
    /// The kernel dropped a folio (oracle mode).
    Delete {
        /// File index.
        file: u32,
        /// First page.
        index: u64,
        /// Pages.
        pages: u64,
    },
}

/// A simulated open file description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamIn {
    /// File index.
    pub file: u32,
    /// Opened during the trace (else its readahead state before the trace is unknown).
    pub opened: bool,
}

/// Everything the simulator needs from a trace.
#[derive(Debug, Clone)]
pub struct Input {
    /// Files read through the page cache.
    pub files: Vec<FileIn>,
    /// Open file descriptions.
    pub streams: Vec<StreamIn>,
    /// Reads, opens, fadvise calls, and the recorded cache changes, in time order.
    pub ops: Vec<Op>,
    /// Per file: pages cached before the trace started (inferred: a read found them, or a
    /// deletion removed them, before the trace shows them inserted).
    pub cached_at_start: Vec<Vec<u64>>,
    /// Per file: pages of `cached_at_start` that carried the readahead mark (the kernel made
    /// an async decision on them before the trace shows them inserted).
    pub marked_at_start: Vec<Vec<u64>>,
    /// Per file: the kernel's readahead decisions, in order.
    pub recorded: Vec<Vec<Decision>>,
    /// Per file: what the kernel did, as the trace shows it.
    pub kernel: Vec<Recorded>,
    /// Whether the recorded trigger states carry the window start (probes do, the 6.18
    /// tracepoints do not).
    pub recorded_start: bool,
    /// The model for the recorded kernel.
    pub variant: Variant,
    /// The recorded kernel has `page_cache_ra_order` ([`kernel_has_ra_order`]).
    pub ra_order: bool,
    /// The most pages the traced files held at once, and whether anything evicted them.
    pub peak_resident: u64,
    /// Pages the kernel evicted from the traced files (deletions other than truncation).
    pub evictions: u64,
    /// Reads left out because they used O_DIRECT.
    pub direct_reads: u64,
    /// Chunks that could not be decoded, one sentence each.
    pub damaged: Vec<String>,
}

/// Reads in flight, by what completes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Syscall(u32),
    Aio(u64, u64),
    Uring(u64, u64),
}

/// Per-file page set (64-page blocks), for telling cached-at-start pages apart.
#[derive(Debug, Default)]
struct Seen {
    blocks: FxHashMap<u64, u64>,
}

impl Seen {
    /// Marks `first..=last`; calls `fresh` for each page not seen before.
    fn mark(&mut self, first: u64, last: u64, mut fresh: impl FnMut(u64)) {
        for page in first..=last {
            let bit = 1u64 << (page % 64);
            let m = self.blocks.entry(page / 64).or_default();
            if *m & bit == 0 {
                *m |= bit;
                fresh(page);
            }
        }
    }
}

struct Builder {
    files: Vec<FileIn>,
    file_ids: FxHashMap<(u32, u64), u32>,
    streams: Vec<StreamIn>,
    stream_ids: FxHashMap<(u64, u32, i32, u32), u32>,
    ops: Vec<(u64, Op)>,
    pending: FxHashMap<Key, (u64, u32, u64, u64)>,
    seen: Vec<Seen>,
    cached_at_start: Vec<Vec<u64>>,
    marked_at_start: Vec<Vec<u64>>,
    recorded: Vec<Vec<Decision>>,
    /// Per tid: the file of its last trigger and that decision's place in `recorded` (windows
    /// attach to it).
    last_trigger: FxHashMap<u32, (u32, usize)>,
    first_ra_pages: Vec<Option<u64>>,
    fadvised: Vec<bool>,
    resident: i64,
    peak: i64,
    evictions: u64,
    direct_reads: u64,
    known: FxHashMap<(u32, u64), (String, u64, String)>,
    devices: FxHashMap<u32, (u32, u32)>,
    release: String,
    /// Devices on which the kernel inserted a folio of more than one page.
    large_inserts: rustc_hash::FxHashSet<u32>,
}

impl Builder {
    fn file(&mut self, dev: u32, ino: u64) -> u32 {
        if let Some(&id) = self.file_ids.get(&(dev, ino)) {
            return id;
        }
        let id = self.files.len() as u32;
        let (path, size, fs) = self
            .known
            .get(&(dev, ino))
            .cloned()
            .unwrap_or_else(|| (format!("{dev}:{ino}"), 0, String::new()));
        let (ra_kb, max_sectors_kb) = self.devices.get(&dev).copied().unwrap_or((128, 1280));
        self.files.push(FileIn {
            dev,
            ino,
            path,
            size,
            geometry: Geometry {
                io_pages: u64::from(max_sectors_kb / 4).max(1),
                large_folios: large_folios(&self.release, &fs),
                max_order: 9,
            },
            recorded_ra_kb: u64::from(ra_kb),
            direct_reads: 0,
        });
        self.file_ids.insert((dev, ino), id);
        self.seen.push(Seen::default());
        self.cached_at_start.push(Vec::new());
        self.marked_at_start.push(Vec::new());
        self.recorded.push(Vec::new());
        self.first_ra_pages.push(None);
        self.fadvised.push(false);
        id
    }

    fn stream(&mut self, pid: u32, fd: i32, file: &FileRef, opened: bool) -> u32 {
        let f = self.file(file.dev, file.ino);
        let key = if file.ofd != 0 { (file.ofd, 0, 0, f) } else { (0, pid, fd, f) };
        if let Some(&s) = self.stream_ids.get(&key) {
            if opened {
                // A description id seen again after an open: a new description.
                let s = self.streams.len() as u32;
                self.streams.push(StreamIn { file: f, opened: true });
                self.stream_ids.insert(key, s);
                return s;
            }
            return s;
        }
        let s = self.streams.len() as u32;
        self.streams.push(StreamIn { file: f, opened });
        self.stream_ids.insert(key, s);
        s
    }

    /// A read begins: `span` is its (offset, length) as asked.
    fn start(&mut self, ts: u64, key: Key, pid: u32, fd: i32, file: &FileRef, span: (i64, u64)) {
        let (pos, count) = span;
        let f = self.file(file.dev, file.ino);
        if file.is_direct() {
            self.files[f as usize].direct_reads += 1;
            self.direct_reads += 1;
            return;
        }
        let s = self.stream(pid, fd, file, false);
        self.pending.insert(key, (ts, s, pos.max(0) as u64, count));
    }

    fn finish(&mut self, done_ts: u64, key: Key, ret: i64) {
        let Some((ts, stream, pos, count)) = self.pending.remove(&key) else { return };
        if ret < 0 {
            return; // failed: nothing was read
        }
        let copied = (ret as u64).min(count);
        let f = self.streams[stream as usize].file as usize;
        if copied > 0 {
            let file = &mut self.files[f];
            file.size = file.size.max(pos + copied);
            // Pages this read copied that nothing inserted first were cached before the trace.
            let (first, last) = (pos >> 12, (pos + copied - 1) >> 12);
            let start = &mut self.cached_at_start[f];
            let mut fresh = 0;
            self.seen[f].mark(first, last, |p| {
                start.push(p);
                fresh += 1;
            });
            self.resident += fresh;
            self.peak = self.peak.max(self.resident);
        }
        self.ops.push((ts, Op::Read { stream, pos, count, copied }));
        if copied > 0 {
            self.ops.push((done_ts.max(ts), Op::ReadDone { stream, end: pos + copied }));
        }
    }

    fn unfinished(&mut self) {
        // Reads still running when the trace ended: simulated with what they asked for.
        let mut left: Vec<(u64, u32, u64, u64)> = self.pending.drain().map(|(_, v)| v).collect();
        left.sort_unstable();
        for (ts, stream, pos, count) in left {
            self.ops.push((ts, Op::Read { stream, pos, count, copied: count }));
            self.ops.push((ts, Op::ReadDone { stream, end: pos + count }));
        }
    }

    fn event(&mut self, e: Event) {
        let (ts, pid, tid) = (e.ts, e.pid, e.tid);
        match e.body {
            EventBody::ReadEnter(r) => {
                self.start(ts, Key::Syscall(tid), pid, r.fd, &r.file, (r.pos, r.count));
            }
            EventBody::ReadExit(r) => self.finish(ts, Key::Syscall(tid), r.ret),
            EventBody::Read(r) => {
                // One event at the return (format 2.1): the read began latency_ns earlier.
                let began = ts.saturating_sub(r.latency_ns);
                self.start(began, Key::Syscall(tid), pid, r.fd, &r.file, (r.pos, r.count));
                self.finish(ts, Key::Syscall(tid), r.ret);
            }
            EventBody::AioSubmit(a) if matches!(a.opcode, AioOpcode::Pread | AioOpcode::Preadv) => {
                self.start(ts, Key::Aio(a.ctx, a.iocb), pid, a.fd, &a.file, (a.offset, a.nbytes));
            }
            EventBody::AioComplete(a) => self.finish(ts, Key::Aio(a.ctx, a.iocb), a.res),
            EventBody::UringSubmit(u) => {
                self.start(ts, Key::Uring(u.ring, u.req), pid, u.fd, &u.file, (u.offset, u64::from(u.len)));
            }
            EventBody::UringComplete(u) => self.finish(ts, Key::Uring(u.ring, u.req), i64::from(u.res)),
            EventBody::FileOpen(o) if !o.file.is_direct() => {
                let s = self.stream(pid, o.fd, &o.file, true);
                self.ops.push((ts, Op::Open { stream: s }));
            }
            EventBody::Fadvise(a) if !a.file.is_direct() => {
                let s = self.stream(pid, a.fd, &a.file, false);
                let f = self.streams[s as usize].file as usize;
                self.fadvised[f] = true;
                self.ops.push((
                    ts,
                    Op::Fadvise {
                        stream: s,
                        advice: a.advice,
                        offset: a.offset.max(0) as u64,
                        len: a.len.max(0) as u64,
                    },
                ));
            }
            EventBody::PageCacheAdd(a) => {
                if a.order > 0 {
                    self.large_inserts.insert(a.dev);
                }
                let f = self.file(a.dev, a.ino);
                let pages = 1u64 << a.order.min(20);
                self.seen[f as usize].mark(a.index, a.index + pages - 1, |_| {});
                self.resident += pages as i64;
                self.peak = self.peak.max(self.resident);
                self.ops.push((ts, Op::Add { file: f, index: a.index, pages }));
            }
            EventBody::PageCacheDelete(d) => {
                let f = self.file(d.dev, d.ino) as usize;
                let pages = 1u64 << d.order.min(20);
                let start = &mut self.cached_at_start[f];
                let mut fresh = 0;
                self.seen[f].mark(d.index, d.index + pages - 1, |p| {
                    start.push(p);
                    fresh += 1;
                });
                // A page cached from before the trace counts as resident until now.
                self.resident += fresh;
                self.peak = self.peak.max(self.resident);
                self.resident -= pages as i64;
                self.evictions += pages;
                self.ops.push((ts, Op::Delete { file: f as u32, index: d.index, pages }));
            }
            EventBody::ReadaheadTrigger(t) => {
                let f = self.file(t.dev, t.ino);
                let s = t.state;
                if self.first_ra_pages[f as usize].is_none() && !self.fadvised[f as usize] {
                    self.first_ra_pages[f as usize] = Some(u64::from(s.ra_pages));
                }
                if t.trigger == RaTrigger::Async {
                    // A marked folio nothing in the trace inserted: cached, mark and all, before
                    // the trace started (a readahead window of the server's start-up).
                    let (start, marked) =
                        (&mut self.cached_at_start[f as usize], &mut self.marked_at_start[f as usize]);
                    let mut fresh = 0;
                    self.seen[f as usize].mark(t.index, t.index, |p| {
                        start.push(p);
                        marked.push(p);
                        fresh += 1;
                    });
                    self.resident += fresh;
                    self.peak = self.peak.max(self.resident);
                }
                self.last_trigger.insert(tid, (f, self.recorded[f as usize].len()));
                self.recorded[f as usize].push(Decision {
                    trigger: if t.trigger == RaTrigger::Async { Trigger::Async } else { Trigger::Sync },
                    index: t.index,
                    req: t.req_count,
                    before: RaState {
                        start: s.start,
                        size: u64::from(s.size),
                        async_size: u64::from(s.async_size),
                        ra_pages: u64::from(s.ra_pages),
                        order: s.order,
                        prev_pos: s.prev_pos,
                    },
                    windows: Vec::new(),
                });
            }
            EventBody::ReadaheadWindow(w) => {
                let f = self.file(w.dev, w.ino);
                // The window belongs to this thread's last trigger (threads decide at once).
                if let Some(&(tf, i)) = self.last_trigger.get(&tid).filter(|(tf, _)| *tf == f) {
                    if let Some(d) = self.recorded[tf as usize].get_mut(i) {
                        d.windows.push(Window {
                            unbounded: w.decision == RaDecision::Unbounded,
                            index: w.index,
                            size: w.size,
                            async_size: w.async_size,
                            order: if w.decision == RaDecision::Unbounded { 0 } else { w.order },
                        });
                    }
                }
            }
            _ => {}
        }
    }
}

/// Kinds the simulator reads.
const KINDS: [EventKind; 14] = [
    EventKind::Read,
    EventKind::ReadEnter,
    EventKind::ReadExit,
    EventKind::AioSubmit,
    EventKind::AioComplete,
    EventKind::UringSubmit,
    EventKind::UringComplete,
    EventKind::FileOpen,
    EventKind::Fadvise,
    EventKind::PageCacheAdd,
    EventKind::PageCacheDelete,
    EventKind::ReadaheadTrigger,
    EventKind::ReadaheadWindow,
    EventKind::Lost,
];

/// Whether a filesystem caches files in large folios on a kernel release (XFS since 5.18,
/// ext4 regular files since 6.16, btrfs since 6.17 experimental: treated as not).
pub fn large_folios(release: &str, fs_type: &str) -> bool {
    let v = version_or_zero(release);
    match fs_type {
        "xfs" => v >= (5, 18),
        "ext4" => v >= (6, 16),
        _ => false,
    }
}

/// Whether the recorded kernel has `page_cache_ra_order` (upstream 5.18; RHEL 9 backported it in
/// 9.1, so the release alone cannot say): the header's readahead-window probe shows whether it
/// was attached to it. A trace without that probe falls back on the release.
pub fn kernel_has_ra_order(header: &mysql_io_format::Header) -> bool {
    match header.probe(EventKind::ReadaheadWindow) {
        Some(p) if p.mode != ProbeMode::Off && !p.attach.is_empty() => {
            p.attach.iter().any(|a| a.contains("page_cache_ra_order"))
        }
        _ => version_or_zero(&header.kernel_release) >= (5, 18),
    }
}

/// A release's (major, minor), 0 where a number is missing (an unknown kernel counts as old).
fn version_or_zero(release: &str) -> (u32, u32) {
    let (major, minor) = mysql_io_format::release_version(release);
    (major.unwrap_or(0), minor.unwrap_or(0))
}

/// Reads what the simulator needs from `trace`.
pub fn extract(trace: &Trace<'_>) -> Input {
    extract_with(trace, &|_, _| {})
}

/// [`extract`], calling `progress(chunks done, chunks)` as it goes.
pub fn extract_with(trace: &Trace<'_>, progress: &(dyn Fn(usize, usize) + Sync)) -> Input {
    let header = trace.header();
    let release = header.kernel_release.clone();
    let mut b = Builder {
        files: Vec::new(),
        file_ids: FxHashMap::default(),
        streams: Vec::new(),
        stream_ids: FxHashMap::default(),
        ops: Vec::new(),
        pending: FxHashMap::default(),
        seen: Vec::new(),
        cached_at_start: Vec::new(),
        marked_at_start: Vec::new(),
        recorded: Vec::new(),
        last_trigger: FxHashMap::default(),
        first_ra_pages: Vec::new(),
        fadvised: Vec::new(),
        resident: 0,
        peak: 0,
        evictions: 0,
        direct_reads: 0,
        known: trace
            .files()
            .iter()
            .map(|f| ((f.dev, f.ino), (f.path.clone(), f.size, f.fs_type.clone())))
            .collect(),
        devices: header.devices.iter().map(|d| (d.dev, (d.read_ahead_kb, d.max_sectors_kb))).collect(),
        release,
        large_inserts: Default::default(),
    };
    // Descriptions already open when recording started.
    for o in trace.open_fds() {
        let file = FileRef { dev: o.dev, ino: o.ino, ofd: o.ofd, flags: o.flags };
        if !file.is_direct() {
            b.stream(o.pid, o.fd, &file, false);
        }
    }
    let mut damaged = Vec::new();
    let codes: Vec<u8> = KINDS.iter().map(|k| k.code()).collect();
    let mut accounting = Accounting::new(trace, 0, u64::MAX);
    let chunks = trace.chunks().len();
    trace.map_in_order(
        0,
        |_, cols: &mut ChunkColumns| {
            let mut out = Vec::new();
            cols.for_each_event(|e| {
                if codes.contains(&e.kind().code()) {
                    out.push(e);
                }
            });
            (out, std::mem::take(cols))
        },
        |i, decoded| {
            match decoded {
                Ok((events, cols)) => {
                    accounting.chunk(&cols);
                    events.into_iter().for_each(|e| b.event(e));
                }
                Err(e) => damaged.push(format!("{e}: its events are left out")),
            }
            progress(i + 1, chunks);
        },
    );
    b.unfinished();
    // Time order; reads keep their start time, and a read that started before a recorded
    // insert comes before it (the insert is usually its own).
    b.ops.sort_by_key(|&(ts, _)| ts);
    for (f, file) in b.files.iter_mut().enumerate() {
        if let Some(p) = b.first_ra_pages[f] {
            // The description was opened with this setting (possibly before a change).
            file.recorded_ra_kb = p * 4;
        }
    }
    let variant = Variant::for_release(&header.kernel_release);
    let ra_order = kernel_has_ra_order(header);
    for file in &mut b.files {
        // Large folios where the release says the filesystem has them or the trace shows one,
        // and only where readahead can allocate them (page_cache_ra_order).
        let g = &mut file.geometry;
        g.large_folios = ra_order && (g.large_folios || b.large_inserts.contains(&file.dev));
    }
    let recorded_start = header
        .probe(EventKind::ReadaheadTrigger)
        .is_some_and(|p| p.mode != ProbeMode::Tracepoint && p.mode != ProbeMode::Off);
    let mut kernel = vec![Recorded::default(); b.files.len()];
    for (key, r) in accounting.finish() {
        if let Some(&f) = b.file_ids.get(&key) {
            kernel[f as usize] = r;
        }
    }
    Input {
        kernel,
        files: b.files,
        streams: b.streams,
        ops: b.ops.into_iter().map(|(_, op)| op).collect(),
        cached_at_start: b.cached_at_start,
        marked_at_start: b.marked_at_start,
        recorded: b.recorded,
        recorded_start,
        variant,
        ra_order,
        peak_resident: b.peak.max(0) as u64,
        evictions: b.evictions,
        direct_reads: b.direct_reads,
        damaged,
    }
}

#[cfg(test)]
mod ra_order_tests {
    use super::*;
    use mysql_io_format::{Header, ProbeInfo};

    fn header(release: &str, window: Option<(ProbeMode, &[&str])>) -> Header {
        Header {
            kernel_release: release.into(),
            probes: window
                .map(|(mode, attach)| ProbeInfo {
                    kind: EventKind::ReadaheadWindow.code(),
                    mode,
                    attach: attach.iter().map(|a| a.to_string()).collect(),
                    note: String::new(),
                })
                .into_iter()
                .collect(),
            ..Header::default()
        }
    }

    #[test]
    fn page_cache_ra_order_is_known_from_the_probe_then_the_release() {
        let k = ProbeMode::Kprobe;
        // RHEL 9.2 is a 5.14 with page_cache_ra_order: the probe says so, not the release.
        let rhel9 = ["function:page_cache_ra_order", "function:page_cache_ra_unbounded"];
        assert!(kernel_has_ra_order(&header("5.14.0-284.30.1.el9_2.x86_64", Some((k, &rhel9)))));
        assert!(!kernel_has_ra_order(&header(
            "5.15.0-126-generic",
            Some((k, &["function:page_cache_ra_unbounded"]))
        )));
        assert!(!kernel_has_ra_order(&header(
            "4.18.0-513.el8.x86_64",
            Some((k, &["function:__do_page_cache_readahead"]))
        )));
        let tp = ["tracepoint:readahead:page_cache_ra_order", "tracepoint:readahead:page_cache_ra_unbounded"];
        assert!(kernel_has_ra_order(&header("6.18.44", Some((ProbeMode::Tracepoint, &tp)))));
        // No window probe: the release decides.
        assert!(!kernel_has_ra_order(&header("5.15.0-126-generic", Some((ProbeMode::Off, &[])))));
        assert!(kernel_has_ra_order(&header("6.1.0-28-amd64", None)));
        assert!(!kernel_has_ra_order(&header("5.17.3", None)));
    }
}
