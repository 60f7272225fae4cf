//! What the simulator takes from a trace: the buffered reads of every open file description in
//! time order (whatever API issued them), the fadvise calls and opens that change readahead
//! state, the recorded page-cache inserts and deletions (for oracle mode), the pages that were
//! cached before the trace started, and the kernel's own readahead decisions (to check the model
//! against).

use mysql_io_format::{
    ChunkColumns, Event, EventBody, EventKind, FadviseAdvice, ProbeMode, RaDecision, RaTrigger, Trace,
};
use mysql_io_reads::{DescKind, Extractor, FileKey, Read, Stitcher, ELSEWHERE};
use rustc_hash::FxHashMap;

use crate::accounting::{Accounting, PageFigures};
use crate::model::{Decision, Geometry, RaState, Trigger, Variant, Window};
use crate::verdict::{DeviceIn, HostMemory};

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
    pub kernel: Vec<PageFigures>,
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
    /// Reads left out because the recorder could not tell their file (io_uring registered files).
    pub unresolved_reads: u64,
    /// Chunks that could not be decoded, one sentence each.
    pub damaged: Vec<String>,
    /// Block devices as the header lists them.
    pub devices: Vec<DeviceIn>,
    /// The recorded host's memory.
    pub memory: HostMemory,
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
    /// The read module's tables and pairing.
    reads: Stitcher,
    /// Per stream of the read module: the simulated stream (`u32::MAX`: none yet).
    stream_ids: Vec<u32>,
    ops: Vec<(u64, Op)>,
    /// Buffered reads waiting for their completion, by `seq`: start, stream, offset, count,
    /// thread.
    pending: FxHashMap<u64, (u64, u32, u64, u64, u32)>,
    /// Per thread: the file and time of its readahead triggers not yet matched with a read (a
    /// read syscall's event comes when it returns, after the triggers it caused).
    triggers: FxHashMap<u32, Vec<(u32, u64)>>,
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
    unresolved_reads: u64,
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

    /// The simulated stream of the read module's stream `s`.
    fn stream(&mut self, s: u32) -> u32 {
        let s = s as usize;
        if s >= self.stream_ids.len() {
            self.stream_ids.resize(self.reads.streams().len().max(s + 1), u32::MAX);
        }
        if self.stream_ids[s] == u32::MAX {
            let st = self.reads.streams()[s];
            let key = self.reads.files()[st.file as usize];
            let file = self.file(key.dev, key.ino);
            self.stream_ids[s] = self.streams.len() as u32;
            self.streams.push(StreamIn { file, opened: st.opened });
        }
        self.stream_ids[s]
    }

    /// A read begins (or a whole read, before [`Self::finish`]): O_DIRECT reads are counted and
    /// left out, and so are reads of files the recorder could not tell.
    fn start(&mut self, r: &Read) {
        let key: FileKey = self.reads.files()[r.file as usize];
        if key.is_unresolved() {
            self.unresolved_reads += 1;
            return;
        }
        let f = self.file(key.dev, key.ino);
        if r.direct {
            self.files[f as usize].direct_reads += 1;
            self.direct_reads += 1;
            return;
        }
        let s = self.stream(r.stream);
        // Read syscalls decide in the thread that made them (AIO and io_uring reads elsewhere, or
        // several at once): their first decision is theirs.
        let tid = if r.api < mysql_io_reads::API_AIO { r.tid } else { u32::MAX };
        self.pending.insert(r.seq, (r.start_ts, s, r.pos.max(0) as u64, r.count, tid));
    }

    fn finish(&mut self, seq: u64, done_ts: u64, ret: i64) {
        let Some((start_ts, stream, pos, count, tid)) = self.pending.remove(&seq) else { return };
        if ret < 0 {
            return; // failed: nothing was read
        }
        let copied = (ret as u64).min(count);
        let f = self.streams[stream as usize].file as usize;
        // A read that made a readahead decision is replayed when it made the first one: the
        // decision sees the description as other threads' reads left it by then (`prev_pos` of
        // a read that returned after this one began, on a shared description).
        let done = done_ts.max(start_ts);
        let mut ts = start_ts;
        if let Some(list) = self.triggers.get_mut(&tid) {
            if let Some(&(_, at)) =
                list.iter().find(|&&(tf, at)| tf as usize == f && (start_ts..=done).contains(&at))
            {
                ts = at;
            }
            list.retain(|&(_, at)| at > done);
        }
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
        // Reads still running when the trace ended, and reads whose completion was lost (a later
        // start with the same key superseded them): simulated with what they asked for.
        let mut left: Vec<(u64, u32, u64, u64, u32)> = self.pending.drain().map(|(_, v)| v).collect();
        left.sort_unstable();
        for (ts, stream, pos, count, _) in left {
            self.ops.push((ts, Op::Read { stream, pos, count, copied: count }));
            self.ops.push((ts, Op::ReadDone { stream, end: pos + count }));
        }
    }

    /// An open or fadvise on a buffered description.
    fn desc(&mut self, d: &mysql_io_reads::DescEvent) {
        if d.direct || self.reads.files()[d.file as usize].is_unresolved() {
            return;
        }
        let s = self.stream(d.stream);
        match d.kind {
            DescKind::Open => self.ops.push((d.ts, Op::Open { stream: s })),
            DescKind::Fadvise { advice, offset, len } => {
                let f = self.streams[s as usize].file as usize;
                self.fadvised[f] = true;
                self.ops.push((
                    d.ts,
                    Op::Fadvise { stream: s, advice, offset: offset.max(0) as u64, len: len.max(0) as u64 },
                ));
            }
        }
    }

    /// One chunk: the read module's reads, completions and description events, and the
    /// simulator's own events, in file order (a read starts, and is finished, where its events
    /// are, so that pages it copies are told apart from inserts around it).
    fn chunk(&mut self, c: mysql_io_reads::ChunkReads, events: Vec<(u32, Event)>) {
        let r = &c.reads;
        // Reads completed in this chunk, by where the completion is (AIO and io_uring complete
        // out of order; syscalls in order, so this is mostly sorted already).
        let mut finishes: Vec<(u32, u32)> =
            (0..r.len()).filter(|&i| r.end_at[i] != ELSEWHERE).map(|i| (r.end_at[i], i as u32)).collect();
        finishes.sort_unstable();
        // Four sorted sources merged by event index; at one index a read's start comes before
        // its finish (a whole `read` event is both).
        let (mut s, mut f, mut k, mut d) = (0usize, 0usize, 0usize, 0usize);
        // Returns the index of the next item left (u32::MAX: none).
        let mut upto = |b: &mut Self, limit: u32| loop {
            let start = (s < r.len()).then(|| (r.start_at[s], 0u8));
            let fin = finishes.get(f).map(|&(at, _)| (at, 1u8));
            let cpl = c.completions.get(k).map(|x| (x.at, 1u8));
            let desc = c.descs.get(d).map(|x| (x.at, 0u8));
            let Some(next) = [start, fin, cpl, desc].into_iter().flatten().min() else { return u32::MAX };
            if next.0 >= limit {
                return next.0;
            }
            if Some(next) == start {
                b.start(&r.read(s));
                s += 1;
            } else if Some(next) == desc {
                b.desc(&c.descs[d]);
                d += 1;
            } else if Some(next) == fin {
                let i = finishes[f].1 as usize;
                b.finish(r.first_seq + i as u64, r.end_ts[i], r.result[i]);
                f += 1;
            } else {
                let x = c.completions[k];
                b.finish(x.seq, x.end_ts, x.result);
                k += 1;
            }
        };
        let mut next = upto(self, 0);
        for (at, e) in events {
            if next < at {
                next = upto(self, at);
            }
            self.event(e);
        }
        upto(self, u32::MAX);
    }

    fn event(&mut self, e: Event) {
        let (ts, tid) = (e.ts, e.tid);
        match e.body {
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
                let list = self.triggers.entry(tid).or_default();
                if list.len() >= 64 {
                    list.drain(..32); // a thread whose triggers no read syscall claims
                }
                list.push((f, ts));
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

/// Kinds the simulator reads itself (reads, opens and fadvise come from `mysql_io_reads`).
const KINDS: [EventKind; 4] = [
    EventKind::PageCacheAdd,
    EventKind::PageCacheDelete,
    EventKind::ReadaheadTrigger,
    EventKind::ReadaheadWindow,
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
        reads: Stitcher::new(trace),
        stream_ids: Vec::new(),
        ops: Vec::new(),
        pending: FxHashMap::default(),
        triggers: FxHashMap::default(),
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
        unresolved_reads: 0,
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
    for st in 0..b.reads.streams().len() {
        let key = b.reads.files()[b.reads.streams()[st].file as usize];
        if !b.reads.streams()[st].direct && !key.is_unresolved() {
            b.stream(st as u32);
        }
    }
    let mut damaged = Vec::new();
    let codes: Vec<u8> = KINDS.iter().map(|k| k.code()).collect();
    let mut accounting = Accounting::new(trace, 0, u64::MAX);
    let extractor = Extractor::new();
    let chunks = trace.chunks().len();
    trace.map_in_order(
        0,
        |_, cols: &mut ChunkColumns| {
            let part = extractor.chunk(cols);
            // The simulator's own events, with their index among the chunk's events.
            let mut at = cols
                .kind_codes()
                .iter()
                .enumerate()
                .filter(|(_, c)| codes.contains(c))
                .map(|(i, _)| i as u32);
            let mut out = Vec::new();
            cols.for_each_event(|e| {
                if codes.contains(&e.kind().code()) {
                    out.push((at.next().unwrap_or(u32::MAX), e));
                }
            });
            (part, out, std::mem::take(cols))
        },
        |i, decoded| {
            match decoded {
                Ok((part, events, cols)) => {
                    accounting.chunk(&cols);
                    let c = b.reads.push(part);
                    b.chunk(c, events);
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
    let mut kernel = vec![PageFigures::default(); b.files.len()];
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
        unresolved_reads: b.unresolved_reads,
        damaged,
        devices: header
            .devices
            .iter()
            .map(|d| DeviceIn {
                dev: d.dev,
                name: d.name.clone(),
                settings_of: header.queue_device(d.dev).unwrap_or(&d.name).to_string(),
                read_ahead_kb: u64::from(d.read_ahead_kb),
                rotational: d.rotational,
            })
            .collect(),
        memory: HostMemory {
            total_kb: header.mem_total_kb,
            available_kb: header.mem_available_kb,
            page_cache_kb: header.page_cache_kb,
        },
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
