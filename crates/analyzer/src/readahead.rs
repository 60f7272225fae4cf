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
//! Chunks are decoded in parallel a few at a time and processed in order, so memory stays bounded
//! whatever the trace's length.

use std::collections::{BTreeMap, HashMap};

use globset::GlobBuilder;
use mysql_io_format::{ChunkColumns, EventKind, ProbeMode, Trace, O_DIRECT};
use rayon::prelude::*;
use serde::Serialize;

use crate::dataset::{column_index, Filter};
use crate::AnalyzeError;

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

const AHEAD: u8 = 1;

#[derive(Debug, Default)]
struct FileState {
    row: RaRow,
    /// Pages inserted ahead and not read yet.
    pages: HashMap<u64, u8>,
}

/// What a thread is looking up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Demand {
    dev: u32,
    ino: u64,
    first: u64,
    last: u64,
}

impl Demand {
    fn covers(&self, dev: u32, ino: u64, page: u64) -> bool {
        self.dev == dev && self.ino == ino && (self.first..=self.last).contains(&page)
    }
}

/// A thread's reading state.
#[derive(Debug, Default)]
struct Reader {
    /// Its read syscall in progress, if any.
    read: Option<Demand>,
    /// Its last page lookup (for telling a read's continuation lookups from a new read).
    lookup: Option<Demand>,
    /// Pages it inserted since its last lookup, counted as read ahead until a lookup claims them.
    provisional: Vec<(u32, u64, u64, bool)>,
}

#[derive(Debug, Clone, Copy)]
struct Cols {
    gp: [usize; 4],
    add: [usize; 4],
    del: [usize; 4],
    trig: [usize; 3],
    win: [usize; 4],
    re: [usize; 5],
}

impl Cols {
    fn new() -> Self {
        let c = column_index;
        let (gp, add, del) =
            (EventKind::FilemapGetPages, EventKind::PageCacheAdd, EventKind::PageCacheDelete);
        let (trig, win, re) = (EventKind::ReadaheadTrigger, EventKind::ReadaheadWindow, EventKind::ReadEnter);
        Cols {
            gp: [c(gp, "dev"), c(gp, "ino"), c(gp, "index"), c(gp, "last_index")],
            add: [c(add, "dev"), c(add, "ino"), c(add, "index"), c(add, "order")],
            del: [c(del, "dev"), c(del, "ino"), c(del, "index"), c(del, "order")],
            trig: [c(trig, "trigger"), c(trig, "dev"), c(trig, "ino")],
            win: [c(win, "dev"), c(win, "ino"), c(win, "size"), c(win, "decision")],
            re: [c(re, "file.dev"), c(re, "file.ino"), c(re, "pos"), c(re, "count"), c(re, "file.flags")],
        }
    }
}

struct Pass {
    cols: Cols,
    files: HashMap<(u32, u64), FileState>,
    readers: HashMap<u32, Reader>,
    /// Whether the trace has `filemap_get_pages` (else read syscalls define demand).
    get_pages: bool,
    /// Whether lookups are reported after the lookup (tracepoint) rather than before (kprobe).
    get_pages_after: bool,
    from: u64,
    to: u64,
}

impl Pass {
    fn file(&mut self, dev: u32, ino: u64) -> &mut FileState {
        self.files.entry((dev, ino)).or_default()
    }

    /// A page lookup by `tid` (or, without lookup events, a read syscall's range).
    fn lookup(&mut self, tid: u32, dev: u32, ino: u64, first: u64, last: u64, in_window: bool) {
        let range = Demand { dev, ino, first, last };
        let reader = self.readers.entry(tid).or_default();
        let continuation =
            reader.lookup.is_some_and(|d| d.dev == dev && d.ino == ino && d.last == last && first >= d.first);
        reader.lookup = Some(range);
        let claimed: Vec<(u32, u64, u64, bool)> = std::mem::take(&mut reader.provisional);
        for (d, n, p, counted) in claimed {
            let f = self.files.entry((d, n)).or_default();
            if range.covers(d, n, p) {
                // Inserted for this very lookup: demand after all.
                if f.pages.remove(&p).is_some() && counted {
                    f.row.pages_read_ahead -= 1;
                    f.row.demand_inserts += 1;
                }
            }
        }
        let f = self.file(dev, ino);
        if in_window && !continuation {
            f.row.pages_requested += last.saturating_sub(first) + 1;
        }
        for p in first..=last.min(first.saturating_add(1 << 20)) {
            if f.pages.remove(&p).is_some() {
                f.row.used += 1;
            }
        }
    }

    fn chunk(&mut self, c: &ChunkColumns) {
        let mut rows = [0usize; 256];
        let k = |kind: EventKind| kind.code() as usize;
        let (gp, add, del, trig, win, re, rx) = (
            k(EventKind::FilemapGetPages),
            k(EventKind::PageCacheAdd),
            k(EventKind::PageCacheDelete),
            k(EventKind::ReadaheadTrigger),
            k(EventKind::ReadaheadWindow),
            k(EventKind::ReadEnter),
            k(EventKind::ReadExit),
        );
        let cols = self.cols;
        let v = |kind: EventKind, i: usize, r: usize| c.column(kind, i)[r];
        for (i, &code) in c.kind_codes().iter().enumerate() {
            let code = code as usize;
            let r = rows[code];
            rows[code] += 1;
            let (ts, tid) = (c.ts()[i], c.tid()[i]);
            let in_window = ts >= self.from && ts < self.to;
            if code == gp {
                let e = EventKind::FilemapGetPages;
                let [d, n, x, l] = cols.gp.map(|j| v(e, j, r));
                self.lookup(tid, d as u32, n, x, l.max(x), in_window);
            } else if code == re {
                let e = EventKind::ReadEnter;
                let [d, n, pos, count, flags] = cols.re.map(|j| v(e, j, r));
                let reader = self.readers.entry(tid).or_default();
                reader.provisional.clear();
                reader.lookup = None; // a new read: its first lookup is not a continuation
                reader.read = (count > 0 && flags as u32 & O_DIRECT == 0).then(|| Demand {
                    dev: d as u32,
                    ino: n,
                    first: pos / 4096,
                    last: pos.saturating_add(count - 1) / 4096,
                });
                if !self.get_pages {
                    if let Some(rd) = reader.read {
                        self.lookup(tid, rd.dev, rd.ino, rd.first, rd.last, in_window);
                    }
                }
            } else if code == rx {
                if let Some(reader) = self.readers.get_mut(&tid) {
                    reader.read = None;
                    reader.provisional.clear();
                }
            } else if code == add || code == del {
                let (e, idx) = if code == add {
                    (EventKind::PageCacheAdd, cols.add)
                } else {
                    (EventKind::PageCacheDelete, cols.del)
                };
                let [d, n, index, order] = idx.map(|j| v(e, j, r));
                let (dev, pages) = (d as u32, 1u64 << order.min(20));
                let reader = self.readers.entry(tid).or_default();
                let (read, lookup) = (reader.read, reader.lookup);
                let mut provisional = Vec::new();
                let f = self.files.entry((dev, n)).or_default();
                for p in index..index + pages {
                    if code == add {
                        // In the range of the read in progress, or of a lookup that came first
                        // (kprobe order): demand now. Otherwise provisional until the next lookup.
                        let demanded = read.is_some_and(|rd| rd.covers(dev, n, p))
                            || (read.is_none()
                                && lookup.is_some_and(|l| l.covers(dev, n, p))
                                && !self.get_pages_after);
                        if demanded {
                            if in_window {
                                f.row.demand_inserts += 1;
                            }
                            f.pages.remove(&p);
                        } else {
                            if in_window {
                                f.row.pages_read_ahead += 1;
                            }
                            f.pages.insert(p, AHEAD);
                            provisional.push((dev, n, p, in_window));
                        }
                    } else if f.pages.remove(&p).is_some() && in_window {
                        f.row.evicted_unused += 1;
                    }
                }
                if let Some(reader) = self.readers.get_mut(&tid) {
                    reader.provisional.extend(provisional);
                }
            } else if code == trig && in_window {
                let e = EventKind::ReadaheadTrigger;
                let [t, d, n] = cols.trig.map(|j| v(e, j, r));
                let f = self.file(d as u32, n);
                if t == 0 {
                    f.row.sync_triggers += 1;
                } else {
                    f.row.async_triggers += 1;
                }
            } else if code == win && in_window {
                let e = EventKind::ReadaheadWindow;
                let [d, n, size, _] = cols.win.map(|j| v(e, j, r));
                let f = self.file(d as u32, n);
                f.row.windows += 1;
                f.row.window_pages += size;
            }
        }
    }
}

/// Chunks decoded at once (per rayon thread): bounds memory on long traces.
const CHUNKS_PER_THREAD: usize = 2;

/// Analyzes readahead over the whole trace (the time window of `filter` limits what is counted;
/// page states are followed from the start).
pub fn readahead(trace: &Trace<'_>, filter: &Filter) -> Result<RaReport, AnalyzeError> {
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
    let t0 = trace.chunks().iter().filter(|c| c.info.events > 0).map(|c| c.info.t_min).min().unwrap_or(0);
    let mut pass = Pass {
        cols: Cols::new(),
        files: HashMap::new(),
        readers: HashMap::new(),
        get_pages: counts.contains_key(&EventKind::FilemapGetPages.code()) || has(EventKind::FilemapGetPages),
        get_pages_after: header
            .probe(EventKind::FilemapGetPages)
            .is_none_or(|p| p.mode == ProbeMode::Tracepoint),
        from: filter.since.map_or(0, |d| t0.saturating_add(d.as_nanos() as u64)),
        to: filter.until.map_or(u64::MAX, |d| t0.saturating_add(d.as_nanos() as u64)),
    };
    let mut warnings: Vec<String> =
        trace.damage().iter().map(|d| format!("the trace is incomplete: {d}")).collect();
    let window = rayon::current_num_threads().max(1) * CHUNKS_PER_THREAD;
    for group in trace.chunks().chunks(window) {
        let decoded: Vec<_> = group.par_iter().map(|c| c.columns()).collect();
        for d in decoded {
            match d {
                Ok(cols) => pass.chunk(&cols),
                Err(e) => warnings.push(format!("{e}: its events are left out")),
            }
        }
    }

    // Names, O_DIRECT, the file filter, totals.
    let paths: HashMap<(u32, u64), String> =
        trace.files().iter().map(|f| ((f.dev, f.ino), f.path.clone())).collect();
    let glob = match &filter.file {
        Some(g) => Some(
            GlobBuilder::new(g)
                .literal_separator(false)
                .build()
                .map_err(|e| AnalyzeError::BadFilter(format!("--file {g}: {e}")))?
                .compile_matcher(),
        ),
        None => None,
    };
    let direct = direct_files(trace)?;
    let mut total = RaRow { file: "total".into(), ..RaRow::default() };
    let mut files: Vec<RaRow> = Vec::new();
    for ((dev, ino), mut st) in pass.files {
        let path = paths.get(&(dev, ino)).cloned().unwrap_or_else(|| format!("{dev}:{ino}"));
        if glob
            .as_ref()
            .is_some_and(|g| !g.is_match(&path) && !path.rsplit('/').next().is_some_and(|n| g.is_match(n)))
        {
            continue;
        }
        let r = &mut st.row;
        r.file = path;
        r.unused_at_end = st.pages.values().filter(|&&s| s == AHEAD).count() as u64;
        r.wasted = r.evicted_unused + r.unused_at_end;
        r.direct = direct.contains(&(dev, ino));
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
        files.push(st.row);
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

/// Files any read opened with O_DIRECT.
fn direct_files(trace: &Trace<'_>) -> Result<std::collections::HashSet<(u32, u64)>, AnalyzeError> {
    let re = EventKind::ReadEnter;
    let (d, n, f) =
        (column_index(re, "file.dev"), column_index(re, "file.ino"), column_index(re, "file.flags"));
    let sets = trace.par_map_columns(|_, c| {
        let (dev, ino, flags) = (c.column(re, d), c.column(re, n), c.column(re, f));
        (0..flags.len())
            .filter(|&i| flags[i] as u32 & O_DIRECT != 0)
            .map(|i| (dev[i] as u32, ino[i]))
            .collect::<std::collections::HashSet<_>>()
    });
    Ok(sets.into_iter().flatten().flatten().collect())
}
