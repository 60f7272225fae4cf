//! What a trace shows of the page cache of the traced files: per file, the pages the kernel
//! inserted (read from disk) and in how many device requests, the pages it read ahead and what
//! became of them, and the hit ratio of reads. `analyze readahead` prints these; `simulate`
//! compares its model with them.
//!
//! One pass over the events in file order, keeping a state per cached page of the traced files:
//! - a page-cache insert is *demand* when the page lies in the range the inserting thread is
//!   reading: the range of its read syscall in progress, or of its page lookup
//!   (`filemap_get_pages`); else *read ahead*. The lookup tracepoint fires after the lookup (and
//!   the readahead it caused), the kprobe before it: inserts a thread makes before its next
//!   lookup are provisional, and that lookup claims those in its range as demand;
//! - a read-ahead page is *used* when a later lookup covers it while it is cached, *evicted
//!   unused* when it leaves the cache first, *unused at end* when the trace ends first;
//! - pages requested are the pages of each lookup (a read's continuation lookups, which cover
//!   the rest of the same range, are not counted twice);
//! - device requests (`read_ios`) are runs of one task's consecutive inserts of contiguous
//!   pages, split at the device's largest request (`max_sectors_kb`).

use mysql_io_format::{ChunkColumns, EventKind, ProbeMode, Trace, O_DIRECT};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::cache::{bits, pieces};

/// How far back (in events of the chunk) an insert looks for its task's previous event, to tell
/// whether it continues that task's run. Other tasks' events come in between: where folios are
/// one page (ext4 before 6.16), another thread's readahead alone is one event per page, and a
/// 512 KiB window is 128 of them.
const RUN_LOOKBACK: usize = 4096;

/// Page-cache and readahead figures of one file (or a total): what the trace shows of the
/// kernel ([`Accounting`]), or what the model did ([`crate::Counters::figures`]). The one
/// definition behind `analyze readahead` and every row of `simulate`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PageFigures {
    /// Sync readahead triggers (a page was missing).
    pub sync_triggers: u64,
    /// Async readahead triggers (a marked page was reached).
    pub async_triggers: u64,
    /// Windows decided (`ra_order` and `ra_unbounded`).
    pub windows: u64,
    /// Pages in the decided windows.
    pub window_pages: u64,
    /// Pages inserted into the cache (read from disk).
    pub pages_read: u64,
    /// Device requests those inserts made.
    pub read_ios: u64,
    /// Pages inserted beyond what the reading thread asked for.
    pub pages_read_ahead: u64,
    /// Read-ahead pages read later while cached.
    pub used: u64,
    /// Read-ahead pages evicted before being read.
    pub evicted_unused: u64,
    /// Read-ahead pages still unread when the trace ends.
    pub unused_at_end: u64,
    /// Pages reads asked for (buffered reads).
    pub pages_requested: u64,
    /// Of those, pages that had to be inserted for the read (misses).
    pub demand_inserts: u64,
    /// Some read used O_DIRECT.
    pub direct: bool,
}

impl PageFigures {
    /// `1 - demand_inserts / pages_requested` (0 when nothing was requested).
    pub fn hit_ratio(&self) -> f64 {
        if self.pages_requested == 0 {
            0.0
        } else {
            (1.0 - self.demand_inserts as f64 / self.pages_requested as f64).clamp(0.0, 1.0)
        }
    }

    /// `evicted_unused + unused_at_end`.
    pub fn wasted(&self) -> u64 {
        self.evicted_unused + self.unused_at_end
    }

    /// Bytes read from disk (`pages_read` pages of 4 KiB).
    pub fn bytes_read(&self) -> u64 {
        self.pages_read * 4096
    }

    /// Adds another file's figures (for totals).
    pub fn add(&mut self, o: &PageFigures) {
        self.sync_triggers += o.sync_triggers;
        self.async_triggers += o.async_triggers;
        self.windows += o.windows;
        self.window_pages += o.window_pages;
        self.pages_read += o.pages_read;
        self.read_ios += o.read_ios;
        self.pages_read_ahead += o.pages_read_ahead;
        self.used += o.used;
        self.evicted_unused += o.evicted_unused;
        self.unused_at_end += o.unused_at_end;
        self.pages_requested += o.pages_requested;
        self.demand_inserts += o.demand_inserts;
        self.direct |= o.direct;
    }
}

/// A set of page indices, kept as 64-page blocks with a bit per page.
#[derive(Debug, Default)]
struct PageSet {
    blocks: FxHashMap<u64, u64>,
}

impl PageSet {
    fn insert(&mut self, first: u64, last: u64) {
        for (b, lo, hi) in pieces(first, last) {
            *self.blocks.entry(b).or_default() |= bits(lo, hi);
        }
    }

    /// Removes pages `first..=last`; returns how many were in the set.
    fn remove(&mut self, first: u64, last: u64) -> u64 {
        self.remove_each(first, last, None)
    }

    /// [`PageSet::remove`], calling `each` with every page removed.
    fn remove_each(&mut self, first: u64, last: u64, mut each: Option<&mut dyn FnMut(u64)>) -> u64 {
        if self.blocks.is_empty() || first > last {
            return 0;
        }
        let (b0, b1) = (first / 64, last / 64);
        let mut removed = 0;
        let mut clear = |b: u64, mask: &mut u64| {
            let (lo, hi) = (first.max(b * 64) - b * 64, last.min(b * 64 + 63) - b * 64);
            let m = bits(lo, hi);
            let mut hit = *mask & m;
            removed += u64::from(hit.count_ones());
            *mask &= !m;
            if let Some(each) = each.as_mut() {
                while hit != 0 {
                    each(b * 64 + u64::from(hit.trailing_zeros()));
                    hit &= hit - 1;
                }
            }
        };
        if b1 - b0 > self.blocks.len() as u64 {
            // A range wider than the set: walk the set instead.
            self.blocks.retain(|&b, mask| {
                if (b0..=b1).contains(&b) {
                    clear(b, mask);
                }
                *mask != 0
            });
        } else {
            for b in b0..=b1 {
                if let Some(mask) = self.blocks.get_mut(&b) {
                    clear(b, mask);
                    if *mask == 0 {
                        self.blocks.remove(&b);
                    }
                }
            }
        }
        removed
    }

    fn len(&self) -> u64 {
        self.blocks.values().map(|m| u64::from(m.count_ones())).sum()
    }
}

/// A file (device, inode) and its figures.
pub type FileFigures = ((u32, u64), PageFigures);

/// The task and time of the insert that read a page ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Inserter {
    /// The inserting task.
    pub tid: u32,
    /// When it inserted the page (trace clock, ns).
    pub ts: u64,
    /// The file (device, inode).
    pub file: (u32, u64),
}

/// What became of the pages one insert read ahead (inserted inside the time window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fate {
    /// Read later while cached.
    pub used: u64,
    /// Evicted before being read, or still unread when the trace ends.
    pub wasted: u64,
}

/// Who read each read-ahead page ahead, for [`Accounting::with_inserters`].
#[derive(Debug, Default)]
struct Inserters {
    /// Pages read ahead inside the time window and not read yet, by (file, page).
    pages: FxHashMap<(u32, u64), Inserter>,
    fates: FxHashMap<Inserter, Fate>,
}

impl Inserters {
    /// Pages of `file` leaving the read-ahead set: used, wasted, or neither (claimed as demand).
    fn settle(&mut self, file: u32, page: u64, used: Option<bool>) {
        if let Some(who) = self.pages.remove(&(file, page)) {
            if let Some(used) = used {
                let f = self.fates.entry(who).or_default();
                if used {
                    f.used += 1;
                } else {
                    f.wasted += 1;
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct FileState {
    row: PageFigures,
    /// Pages inserted ahead and not read yet.
    ahead: PageSet,
}

/// A range of pages of a file (an index into the pass's files), inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    file: u32,
    first: u64,
    last: u64,
}

impl Range {
    /// The part of `first..=last` of `file` inside this range.
    fn clip(&self, file: u32, first: u64, last: u64) -> Option<(u64, u64)> {
        let (a, b) = (first.max(self.first), last.min(self.last));
        (self.file == file && a <= b).then_some((a, b))
    }
}

/// Pages a thread inserted before its next lookup: read ahead unless that lookup wants them.
#[derive(Debug, Clone, Copy)]
struct Provisional {
    range: Range,
    /// Counted in the figures (inserted inside the time window).
    counted: bool,
}

/// A thread's reading state.
#[derive(Debug, Default)]
struct Reader {
    /// Its buffered read syscall in progress, if any.
    read: Option<Range>,
    /// Its last page lookup (for telling a read's continuation lookups from a new read).
    lookup: Option<Range>,
    provisional: Vec<Provisional>,
}

/// Column indices, found by name in the format's layout.
#[derive(Debug, Clone, Copy)]
struct Cols {
    gp: [usize; 4],
    add: [usize; 4],
    del: [usize; 4],
    trig: [usize; 3],
    win: [usize; 3],
    re: [usize; 5],
    /// dev, ino, flags, pos, count, lookups, first and last page of `read` events (format 2.1).
    rd: [usize; 8],
    /// dev, ino, flags of AIO and io_uring submissions.
    submit: [[usize; 3]; 2],
}

impl Cols {
    fn new() -> Self {
        let c = |k: EventKind, f: &str| k.column_index(f).unwrap_or_else(|| panic!("{k} has no column {f}"));
        let (gp, add, del) =
            (EventKind::FilemapGetPages, EventKind::PageCacheAdd, EventKind::PageCacheDelete);
        let (trig, win, re) = (EventKind::ReadaheadTrigger, EventKind::ReadaheadWindow, EventKind::ReadEnter);
        let (aio, uring) = (EventKind::AioSubmit, EventKind::UringSubmit);
        Cols {
            gp: ["dev", "ino", "index", "last_index"].map(|f| c(gp, f)),
            add: ["dev", "ino", "index", "order"].map(|f| c(add, f)),
            del: ["dev", "ino", "index", "order"].map(|f| c(del, f)),
            trig: ["trigger", "dev", "ino"].map(|f| c(trig, f)),
            win: ["dev", "ino", "size"].map(|f| c(win, f)),
            re: ["file.dev", "file.ino", "pos", "count", "file.flags"].map(|f| c(re, f)),
            rd: ["file.dev", "file.ino", "file.flags", "pos", "count", "lookups", "first_page", "last_page"]
                .map(|f| c(EventKind::Read, f)),
            submit: [aio, uring].map(|k| ["file.dev", "file.ino", "file.flags"].map(|f| c(k, f))),
        }
    }
}

#[derive(Debug)]
struct Pass {
    cols: Cols,
    files: Vec<FileState>,
    keys: Vec<(u32, u64)>,
    file_ids: FxHashMap<(u32, u64), u32>,
    /// Files some read opened with O_DIRECT.
    direct: FxHashMap<(u32, u64), ()>,
    readers: Vec<Reader>,
    reader_ids: FxHashMap<u32, u32>,
    /// Whether the trace has `filemap_get_pages` (else read syscalls define demand).
    get_pages: bool,
    /// Whether lookups are reported after the lookup (tracepoint) rather than before (kprobe).
    get_pages_after: bool,
    from: u64,
    to: u64,
    /// The last file and reader looked up (consecutive events mostly share them).
    last_file: Option<((u32, u64), u32)>,
    last_reader: Option<(u32, u32)>,
    /// Per task: the device request its inserts are building (file, next page, pages, row of
    /// its last insert in the chunk).
    runs: FxHashMap<u32, (u32, u64, u64, usize)>,
    /// Device geometry: `io_pages` by device.
    io_pages: FxHashMap<u32, u64>,
    /// Who read each page ahead, when asked for.
    inserters: Option<Inserters>,
}

/// Removes `first..=last` from `file`'s read-ahead set, telling `inserters` (when followed) what
/// became of each page: `used`, wasted, or neither (`None`: demand after all).
fn take_ahead(
    f: &mut FileState,
    inserters: &mut Option<Inserters>,
    file: u32,
    first: u64,
    last: u64,
    used: Option<bool>,
) -> u64 {
    match inserters {
        Some(ins) => f.ahead.remove_each(first, last, Some(&mut |p| ins.settle(file, p, used))),
        None => f.ahead.remove(first, last),
    }
}

impl Pass {
    fn io_pages(&self, file: u32) -> u64 {
        self.io_pages.get(&self.keys[file as usize].0).copied().unwrap_or(320).max(1)
    }

    fn file_id(&mut self, dev: u32, ino: u64) -> u32 {
        let key = (dev, ino);
        if let Some((k, id)) = self.last_file {
            if k == key {
                return id;
            }
        }
        let next = self.files.len() as u32;
        let id = *self.file_ids.entry(key).or_insert(next);
        if id == next {
            self.files.push(FileState::default());
            self.keys.push(key);
        }
        self.last_file = Some((key, id));
        id
    }

    fn reader(&mut self, tid: u32) -> &mut Reader {
        let id = match self.last_reader {
            Some((t, id)) if t == tid => id,
            _ => {
                let next = self.readers.len() as u32;
                let id = *self.reader_ids.entry(tid).or_insert(next);
                if id == next {
                    self.readers.push(Reader::default());
                }
                self.last_reader = Some((tid, id));
                id
            }
        };
        &mut self.readers[id as usize]
    }

    /// A page lookup by `tid` (or, without lookup events, a read syscall's range).
    fn lookup(&mut self, tid: u32, range: Range, in_window: bool) {
        let reader = self.reader(tid);
        let continuation = reader
            .lookup
            .is_some_and(|d| d.file == range.file && d.last == range.last && range.first >= d.first);
        reader.lookup = Some(range);
        let claimed = std::mem::take(&mut reader.provisional);
        for p in &claimed {
            // Inserted for this very lookup: demand after all.
            if let Some((a, b)) = range.clip(p.range.file, p.range.first, p.range.last) {
                let f = &mut self.files[p.range.file as usize];
                let n = take_ahead(f, &mut self.inserters, p.range.file, a, b, None);
                if p.counted {
                    f.row.pages_read_ahead -= n;
                    f.row.demand_inserts += n;
                }
            }
        }
        // Give the buffer back for reuse.
        let mut claimed = claimed;
        claimed.clear();
        self.reader(tid).provisional = claimed;
        let f = &mut self.files[range.file as usize];
        if in_window && !continuation {
            f.row.pages_requested += range.last - range.first + 1;
        }
        f.row.used += take_ahead(f, &mut self.inserters, range.file, range.first, range.last, Some(true));
    }

    /// Pages `first..=last` of `file` inserted into the cache by `tid`.
    fn insert(&mut self, tid: u32, ts: u64, file: u32, first: u64, last: u64, in_window: bool) {
        let after = self.get_pages_after;
        let reader = self.reader(tid);
        // In the range of the read in progress, or of a lookup that came first (kprobe order):
        // demand now. Otherwise read ahead, provisionally until the next lookup.
        let demand = match (reader.read, reader.lookup) {
            (Some(rd), _) => rd.clip(file, first, last),
            (None, Some(l)) if !after => l.clip(file, first, last),
            _ => None,
        };
        let mut ahead: [Option<(u64, u64)>; 2] = [None, None];
        match demand {
            Some((a, b)) => {
                if a > first {
                    ahead[0] = Some((first, a - 1));
                }
                if b < last {
                    ahead[1] = Some((b + 1, last));
                }
            }
            None => ahead[0] = Some((first, last)),
        }
        for (a, b) in ahead.into_iter().flatten() {
            reader
                .provisional
                .push(Provisional { range: Range { file, first: a, last: b }, counted: in_window });
        }
        let f = &mut self.files[file as usize];
        if let Some((a, b)) = demand {
            take_ahead(f, &mut self.inserters, file, a, b, None);
            if in_window {
                f.row.demand_inserts += b - a + 1;
            }
        }
        for (a, b) in ahead.into_iter().flatten() {
            f.ahead.insert(a, b);
            if in_window {
                f.row.pages_read_ahead += b - a + 1;
            }
            if let Some(ins) = &mut self.inserters {
                let who = Inserter { tid, ts, file: self.keys[file as usize] };
                for p in a..=b {
                    if in_window {
                        ins.pages.insert((file, p), who);
                    } else {
                        ins.pages.remove(&(file, p));
                    }
                }
            }
        }
    }

    fn chunk(&mut self, c: &ChunkColumns) {
        let cols = self.cols;
        let code = |k: EventKind| k.code();
        let rd_c = code(EventKind::Read);
        let (gp_c, add_c, del_c, trig_c, win_c, re_c, rx_c, aio_c, uring_c) = (
            code(EventKind::FilemapGetPages),
            code(EventKind::PageCacheAdd),
            code(EventKind::PageCacheDelete),
            code(EventKind::ReadaheadTrigger),
            code(EventKind::ReadaheadWindow),
            code(EventKind::ReadEnter),
            code(EventKind::ReadExit),
            code(EventKind::AioSubmit),
            code(EventKind::UringSubmit),
        );
        let gp = cols.gp.map(|j| c.column(EventKind::FilemapGetPages, j));
        let add = cols.add.map(|j| c.column(EventKind::PageCacheAdd, j));
        let del = cols.del.map(|j| c.column(EventKind::PageCacheDelete, j));
        let trig = cols.trig.map(|j| c.column(EventKind::ReadaheadTrigger, j));
        let win = cols.win.map(|j| c.column(EventKind::ReadaheadWindow, j));
        let re = cols.re.map(|j| c.column(EventKind::ReadEnter, j));
        let rd = cols.rd.map(|j| c.column(EventKind::Read, j));
        let aio = cols.submit[0].map(|j| c.column(EventKind::AioSubmit, j));
        let uring = cols.submit[1].map(|j| c.column(EventKind::UringSubmit, j));
        let mut rows = [0usize; 256];
        let (ts, tids) = (c.ts(), c.tid());
        for (i, &k) in c.kind_codes().iter().enumerate() {
            let r = rows[k as usize];
            rows[k as usize] += 1;
            let tid = tids[i];
            let in_window = ts[i] >= self.from && ts[i] < self.to;
            if k == add_c || k == del_c {
                let v = if k == add_c { &add } else { &del };
                let file = self.file_id(v[0][r] as u32, v[1][r]);
                let (first, order) = (v[2][r], v[3][r].min(20));
                let last = first.saturating_add((1 << order) - 1);
                if k == add_c {
                    self.insert(tid, ts[i], file, first, last, in_window);
                    if in_window {
                        let row = &mut self.files[file as usize].row;
                        row.pages_read += last - first + 1;
                        // A device request per contiguous run of one task's inserts (its
                        // previous event was the insert just before), split at io_pages.
                        let prev = (i.saturating_sub(RUN_LOOKBACK)..i).rev().find(|&j| tids[j] == tid);
                        let io = self.io_pages(file);
                        let ios = |n: u64| n.div_ceil(io);
                        let run = self.runs.get(&tid).copied().filter(|&(rf, next, _, at)| {
                            rf == file
                                && next == first
                                && prev.is_some_and(|j| j == at && c.kind_codes()[j] == add_c)
                        });
                        let row = &mut self.files[file as usize].row;
                        let len = match run {
                            Some((_, _, len, _)) => {
                                row.read_ios += ios(len + last - first + 1) - ios(len);
                                len + last - first + 1
                            }
                            None => {
                                row.read_ios += ios(last - first + 1);
                                last - first + 1
                            }
                        };
                        self.runs.insert(tid, (file, last + 1, len, i));
                    }
                } else {
                    let f = &mut self.files[file as usize];
                    let n = take_ahead(f, &mut self.inserters, file, first, last, Some(false));
                    if in_window {
                        f.row.evicted_unused += n;
                    }
                }
            } else if k == gp_c {
                let file = self.file_id(gp[0][r] as u32, gp[1][r]);
                let (first, last) = (gp[2][r], gp[3][r].max(gp[2][r]));
                self.lookup(tid, Range { file, first, last }, in_window);
            } else if k == re_c {
                let [d, n, pos, count, flags] = re.map(|col| col[r]);
                let direct = flags as u32 & O_DIRECT != 0;
                if direct {
                    self.direct.insert((d as u32, n), ());
                }
                let file = self.file_id(d as u32, n);
                let read = (count > 0 && !direct).then(|| Range {
                    file,
                    first: pos / 4096,
                    last: pos.saturating_add(count - 1) / 4096,
                });
                let reader = self.reader(tid);
                reader.provisional.clear();
                reader.lookup = None; // a new read: its first lookup is not a continuation
                reader.read = read;
                if let (false, Some(rd)) = (self.get_pages, read) {
                    self.lookup(tid, rd, in_window);
                }
            } else if k == rd_c {
                // A read syscall as one event at its return, after the inserts it caused (as a
                // lookup tracepoint comes after them): its lookups claim those inserts.
                let [d, n, flags, pos, count, lookups, first, last] = rd.map(|col| col[r]);
                let direct = flags as u32 & O_DIRECT != 0;
                if direct {
                    self.direct.insert((d as u32, n), ());
                }
                let file = self.file_id(d as u32, n);
                let range = if lookups > 0 {
                    Some(Range { file, first, last: last.max(first) })
                } else {
                    // Without lookup events in the trace, reads define demand (as above).
                    (!self.get_pages && count > 0 && !direct).then(|| Range {
                        file,
                        first: pos / 4096,
                        last: pos.saturating_add(count - 1) / 4096,
                    })
                };
                let reader = self.reader(tid);
                reader.read = None;
                reader.lookup = None; // a new read: its lookups are not a continuation
                if let Some(range) = range {
                    self.lookup(tid, range, in_window);
                }
                // The next read's inserts come before its own event: nothing of this one's may
                // claim them.
                let reader = self.reader(tid);
                reader.provisional.clear();
                reader.lookup = None;
            } else if k == rx_c {
                let reader = self.reader(tid);
                reader.read = None;
                reader.provisional.clear();
            } else if k == aio_c || k == uring_c {
                let v = if k == aio_c { &aio } else { &uring };
                if v[2][r] as u32 & O_DIRECT != 0 {
                    self.direct.insert((v[0][r] as u32, v[1][r]), ());
                }
            } else if k == trig_c && in_window {
                let file = self.file_id(trig[1][r] as u32, trig[2][r]);
                let row = &mut self.files[file as usize].row;
                if trig[0][r] == 0 {
                    row.sync_triggers += 1;
                } else {
                    row.async_triggers += 1;
                }
            } else if k == win_c && in_window {
                let file = self.file_id(win[0][r] as u32, win[1][r]);
                let row = &mut self.files[file as usize].row;
                row.windows += 1;
                row.window_pages += win[2][r];
            }
        }
    }
}
/// The accounting of a whole trace, fed chunk by chunk in file order.
#[derive(Debug)]
pub struct Accounting {
    pass: Pass,
}

impl Accounting {
    /// An accounting of `trace` counting what happens in `[from, to)` (page states are followed
    /// from the start whatever the window).
    pub fn new(trace: &Trace<'_>, from: u64, to: u64) -> Self {
        let header = trace.header();
        let has = |k: EventKind| header.probe(k).is_some_and(|p| p.mode != ProbeMode::Off);
        let lookups = trace.chunks().iter().any(|c| {
            c.info.kind_counts.iter().any(|&(k, n)| k == EventKind::FilemapGetPages.code() && n > 0)
        });
        Accounting {
            pass: Pass {
                cols: Cols::new(),
                files: Vec::new(),
                keys: Vec::new(),
                file_ids: FxHashMap::default(),
                direct: FxHashMap::default(),
                readers: Vec::new(),
                reader_ids: FxHashMap::default(),
                get_pages: lookups || has(EventKind::FilemapGetPages),
                get_pages_after: header
                    .probe(EventKind::FilemapGetPages)
                    .is_none_or(|p| p.mode == ProbeMode::Tracepoint),
                from,
                to,
                last_file: None,
                last_reader: None,
                runs: FxHashMap::default(),
                io_pages: header.devices.iter().map(|d| (d.dev, u64::from(d.max_sectors_kb / 4))).collect(),
                inserters: None,
            },
        }
    }

    /// Also follows who read each page ahead (the task and time of its insert), for
    /// [`Accounting::finish_with_inserters`]: one map entry per read-ahead page not read yet.
    pub fn with_inserters(mut self) -> Self {
        self.pass.inserters = Some(Inserters::default());
        self
    }

    /// Accounts the events of the next chunk.
    pub fn chunk(&mut self, c: &ChunkColumns) {
        self.pass.chunk(c);
    }

    /// Whether demand comes from page lookups (`filemap_get_pages`); without them it comes from
    /// read syscalls only.
    pub fn has_lookups(&self) -> bool {
        self.pass.get_pages
    }

    /// Per file (device, inode): what the trace showed.
    pub fn finish(self) -> Vec<FileFigures> {
        self.finish_with_inserters().0
    }

    /// [`Accounting::finish`], and what became of the pages each insert read ahead inside the
    /// time window (empty unless made [`Accounting::with_inserters`]): used when read later while
    /// cached, wasted when evicted first or still unread at the end (wherever that falls).
    pub fn finish_with_inserters(self) -> (Vec<FileFigures>, FxHashMap<Inserter, Fate>) {
        let mut p = self.pass;
        let fates = match p.inserters.take() {
            Some(mut ins) => {
                for who in std::mem::take(&mut ins.pages).into_values() {
                    ins.fates.entry(who).or_default().wasted += 1;
                }
                ins.fates
            }
            None => FxHashMap::default(),
        };
        let files = p
            .keys
            .iter()
            .zip(p.files)
            .map(|(key, st)| {
                let mut r = st.row;
                r.unused_at_end = st.ahead.len();
                r.direct = p.direct.contains_key(key);
                (*key, r)
            })
            .collect();
        (files, fates)
    }
}
