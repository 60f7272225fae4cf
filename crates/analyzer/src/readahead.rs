//! `analyze readahead`: what the kernel read ahead, what of it was used, what was wasted, and
//! the page-cache hit ratio of reads; per file and in total.
//!
//! One pass over the events in file order, keeping a state per cached page of the traced files:
//! - a page-cache insert is *demand* when the page lies in the range the inserting thread is
//!   reading: the range of its read syscall in progress, or of its page lookup
//!   (`filemap_get_pages`); else *read ahead*. The lookup tracepoint fires after the lookup (and
//!   the readahead it caused), the kprobe before it: inserts a thread makes before its next
//!   lookup are provisional, and that lookup claims those in its range as demand;
//! - a read-ahead page is *used* when a later lookup covers it while it is cached, *evicted
//!   unused* when it leaves the cache first, *unused at end* when the trace ends first;
//!   `wasted = evicted unused + unused at end`;
//! - pages requested are the pages of each lookup (a read's continuation lookups, which cover
//!   the rest of the same range, are not counted twice); `hit_ratio = 1 - demand inserts / pages
//!   requested`.
//!
//! Chunks are decoded in parallel a window at a time and processed in order while the next window
//! is decoded, so memory stays bounded whatever the trace's length. Cached pages are kept as bits
//! in 64-page blocks.

use std::collections::BTreeMap;

use mysql_io_format::{ChunkColumns, EventKind, ProbeMode, Trace, O_DIRECT};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::dataset::{column_index, trace_start, Filter};
use crate::{AnalyzeError, Progress};

/// Readahead figures of one file (or the total).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RaRow {
    /// Path (or "dev:ino"), "total" for the total.
    pub file: String,
    /// Sync readahead triggers (a page was missing).
    pub sync_triggers: u64,
    /// Async readahead triggers (a marked page was reached).
    pub async_triggers: u64,
    /// Windows decided (`ra_order` and `ra_unbounded`).
    pub windows: u64,
    /// Pages in the decided windows.
    pub window_pages: u64,
    /// Pages inserted beyond what the reading thread asked for.
    pub pages_read_ahead: u64,
    /// Read-ahead pages read later while cached.
    pub used: u64,
    /// Read-ahead pages evicted before being read.
    pub evicted_unused: u64,
    /// Read-ahead pages still unread when the trace ends.
    pub unused_at_end: u64,
    /// `evicted_unused + unused_at_end`.
    pub wasted: u64,
    /// Pages reads asked for (buffered reads).
    pub pages_requested: u64,
    /// Of those, pages that had to be inserted for the read (misses).
    pub demand_inserts: u64,
    /// `1 - demand_inserts / pages_requested` (0 when nothing was requested).
    pub hit_ratio: f64,
    /// The file was read with O_DIRECT: readahead and the page cache do not apply.
    pub direct: bool,
}

/// The result of `analyze readahead`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RaReport {
    /// Files, most pages requested first.
    pub files: Vec<RaRow>,
    /// All files.
    pub total: RaRow,
    /// What limits the answer.
    pub warnings: Vec<String>,
}

/// A set of page indices, kept as 64-page blocks with a bit per page.
#[derive(Debug, Default)]
struct PageSet {
    blocks: FxHashMap<u64, u64>,
}

/// Bits `from..=to` of a 64-bit block.
fn bits(from: u64, to: u64) -> u64 {
    (u64::MAX >> (63 - (to - from))) << from
}

impl PageSet {
    fn insert(&mut self, first: u64, last: u64) {
        for b in first / 64..=last / 64 {
            let (lo, hi) = (first.max(b * 64) - b * 64, last.min(b * 64 + 63) - b * 64);
            *self.blocks.entry(b).or_default() |= bits(lo, hi);
        }
    }

    /// Removes pages `first..=last`; returns how many were in the set.
    fn remove(&mut self, first: u64, last: u64) -> u64 {
        if self.blocks.is_empty() || first > last {
            return 0;
        }
        let (b0, b1) = (first / 64, last / 64);
        let mut removed = 0;
        let mut clear = |b: u64, mask: &mut u64| {
            let (lo, hi) = (first.max(b * 64) - b * 64, last.min(b * 64 + 63) - b * 64);
            let m = bits(lo, hi);
            removed += u64::from((*mask & m).count_ones());
            *mask &= !m;
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

#[derive(Debug, Default)]
struct FileState {
    row: RaRow,
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
    /// dev, ino, flags of AIO and io_uring submissions.
    submit: [[usize; 3]; 2],
}

impl Cols {
    fn new() -> Self {
        let c = column_index;
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
            submit: [aio, uring].map(|k| ["file.dev", "file.ino", "file.flags"].map(|f| c(k, f))),
        }
    }
}

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
}

impl Pass {
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
                let n = f.ahead.remove(a, b);
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
        f.row.used += f.ahead.remove(range.first, range.last);
    }

    /// Pages `first..=last` of `file` inserted into the cache by `tid`.
    fn insert(&mut self, tid: u32, file: u32, first: u64, last: u64, in_window: bool) {
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
            f.ahead.remove(a, b);
            if in_window {
                f.row.demand_inserts += b - a + 1;
            }
        }
        for (a, b) in ahead.into_iter().flatten() {
            f.ahead.insert(a, b);
            if in_window {
                f.row.pages_read_ahead += b - a + 1;
            }
        }
    }

    fn chunk(&mut self, c: &ChunkColumns) {
        let cols = self.cols;
        let code = |k: EventKind| k.code();
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
                    self.insert(tid, file, first, last, in_window);
                } else {
                    let f = &mut self.files[file as usize];
                    let n = f.ahead.remove(first, last);
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

/// Analyzes readahead over the whole trace (the time window of `filter` limits what is counted;
/// page states are followed from the start).
pub fn readahead(trace: &Trace<'_>, filter: &Filter) -> Result<RaReport, AnalyzeError> {
    readahead_with(trace, filter, &|_, _| {})
}

/// [`readahead`], calling `progress(chunks done, chunks)` as it goes.
pub fn readahead_with(
    trace: &Trace<'_>,
    filter: &Filter,
    progress: &Progress<'_>,
) -> Result<RaReport, AnalyzeError> {
    let header = trace.header();
    let has = |k: EventKind| header.probe(k).is_some_and(|p| p.mode != ProbeMode::Off);
    let counts: BTreeMap<u8, u64> = trace
        .chunks()
        .iter()
        .flat_map(|c| c.info.kind_counts.iter().copied())
        .fold(BTreeMap::new(), |mut m, (k, n)| {
            *m.entry(k).or_default() += n;
            m
        });
    let t0 = trace_start(trace);
    let (from, to) = filter.window(t0);
    let select = filter.file_matcher()?;
    let mut pass = Pass {
        cols: Cols::new(),
        files: Vec::new(),
        keys: Vec::new(),
        file_ids: FxHashMap::default(),
        direct: FxHashMap::default(),
        readers: Vec::new(),
        reader_ids: FxHashMap::default(),
        get_pages: counts.contains_key(&EventKind::FilemapGetPages.code()) || has(EventKind::FilemapGetPages),
        get_pages_after: header
            .probe(EventKind::FilemapGetPages)
            .is_none_or(|p| p.mode == ProbeMode::Tracepoint),
        from,
        to,
        last_file: None,
        last_reader: None,
    };
    let mut warnings: Vec<String> =
        trace.damage().iter().map(|d| format!("the trace is incomplete: {d}")).collect();
    let chunks = trace.chunks().len();
    trace.map_in_order(
        0,
        |_, cols| std::mem::take(cols),
        |i, cols| {
            match cols {
                Ok(cols) => pass.chunk(&cols),
                Err(e) => warnings.push(format!("{e}: its events are left out")),
            }
            progress(i + 1, chunks);
        },
    );

    // Names, O_DIRECT, the file filter, totals.
    let paths: FxHashMap<(u32, u64), &str> =
        trace.files().iter().map(|f| ((f.dev, f.ino), f.path.as_str())).collect();
    let mut total = RaRow { file: "total".into(), ..RaRow::default() };
    let mut files: Vec<RaRow> = Vec::new();
    for (key, st) in pass.keys.iter().zip(pass.files) {
        let (dev, ino) = *key;
        let path = paths.get(key).map_or_else(|| format!("{dev}:{ino}"), |p| (*p).to_string());
        if !select(&path) {
            continue;
        }
        let mut r = st.row;
        r.file = path;
        r.unused_at_end = st.ahead.len();
        r.wasted = r.evicted_unused + r.unused_at_end;
        r.direct = pass.direct.contains_key(key);
        r.hit_ratio = hit_ratio(r.pages_requested, r.demand_inserts);
        for (t, x) in [
            (&mut total.sync_triggers, r.sync_triggers),
            (&mut total.async_triggers, r.async_triggers),
            (&mut total.windows, r.windows),
            (&mut total.window_pages, r.window_pages),
            (&mut total.pages_read_ahead, r.pages_read_ahead),
            (&mut total.used, r.used),
            (&mut total.evicted_unused, r.evicted_unused),
            (&mut total.unused_at_end, r.unused_at_end),
            (&mut total.wasted, r.wasted),
            (&mut total.pages_requested, r.pages_requested),
            (&mut total.demand_inserts, r.demand_inserts),
        ] {
            *t += x;
        }
        files.push(r);
    }
    total.hit_ratio = hit_ratio(total.pages_requested, total.demand_inserts);
    files.sort_by(|a, b| b.pages_requested.cmp(&a.pages_requested).then_with(|| a.file.cmp(&b.file)));

    for f in files.iter().filter(|f| f.direct) {
        warnings.push(format!("{} is read with O_DIRECT: readahead does not apply to it", f.file));
    }
    for (kind, what) in [
        (EventKind::PageCacheAdd, "page-cache inserts"),
        (EventKind::ReadaheadWindow, "readahead windows"),
        (EventKind::ReadaheadTrigger, "readahead triggers"),
    ] {
        if !has(kind) && !header.probes.is_empty() {
            warnings.push(format!("{what} were not captured on the recorded kernel: their figures are 0"));
        }
    }
    if !pass.get_pages {
        warnings.push(
            "the trace has no filemap_get_pages events: demand is taken from read syscalls only (io_uring and AIO reads count as read ahead)"
                .into(),
        );
    }
    Ok(RaReport { files, total, warnings })
}

fn hit_ratio(requested: u64, misses: u64) -> f64 {
    if requested == 0 {
        0.0
    } else {
        (1.0 - misses as f64 / requested as f64).clamp(0.0, 1.0)
    }
}
