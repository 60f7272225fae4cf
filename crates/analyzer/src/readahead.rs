//! `analyze readahead`: what the kernel read ahead, what of it was used, what was wasted, the
//! device requests it made, and the page-cache hit ratio of reads; per file and in total. The
//! accounting itself (what counts as demand, read ahead, used, wasted) is
//! [`mysql_io_sim::accounting`], shared with `simulate`.
//!
//! Chunks are decoded in parallel a window at a time and processed in order while the next window
//! is decoded, so memory stays bounded whatever the trace's length.

use mysql_io_format::{EventKind, ProbeMode, Trace};
use mysql_io_sim::{Accounting, PageFigures};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::dataset::{trace_start, Filter};
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
    /// Pages inserted into the cache (read from disk).
    pub pages_read: u64,
    /// Device requests those inserts made (runs of one task's contiguous inserts, split at the
    /// device's `max_sectors_kb`).
    pub read_ios: u64,
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

impl RaRow {
    fn of(file: String, r: &PageFigures) -> RaRow {
        RaRow {
            file,
            sync_triggers: r.sync_triggers,
            async_triggers: r.async_triggers,
            windows: r.windows,
            window_pages: r.window_pages,
            pages_read: r.pages_read,
            read_ios: r.read_ios,
            pages_read_ahead: r.pages_read_ahead,
            used: r.used,
            evicted_unused: r.evicted_unused,
            unused_at_end: r.unused_at_end,
            wasted: r.wasted(),
            pages_requested: r.pages_requested,
            demand_inserts: r.demand_inserts,
            hit_ratio: r.hit_ratio(),
            direct: r.direct,
        }
    }
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
    /// The servers' own counters over the recording (InnoDB's view beside the kernel's).
    pub server_status: Vec<mysql_io_format::StatusDelta>,
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
    let t0 = trace_start(trace);
    let (from, to) = filter.window(t0);
    let select = filter.file_matcher()?;
    let mut pass = Accounting::new(trace, from, to);
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
    let has_lookups = pass.has_lookups();
    let mut sum = PageFigures::default();
    let mut files: Vec<RaRow> = Vec::new();
    for (key, rec) in pass.finish() {
        let (dev, ino) = key;
        let path = paths.get(&key).map_or_else(|| format!("{dev}:{ino}"), |p| (*p).to_string());
        if !select(&path) {
            continue;
        }
        sum.add(&rec);
        files.push(RaRow::of(path, &rec));
    }
    let mut total = RaRow::of("total".into(), &sum);
    // The total is not a file: O_DIRECT is said per file.
    total.direct = false;
    files.sort_by(|a, b| b.pages_requested.cmp(&a.pages_requested).then_with(|| a.file.cmp(&b.file)));

    let direct: Vec<&str> = files.iter().filter(|f| f.direct).map(|f| f.file.as_str()).collect();
    let buffered: Vec<&str> =
        files.iter().filter(|f| !f.direct && f.pages_requested > 0).map(|f| f.file.as_str()).collect();
    warnings.extend(crate::tables::direct_warnings(&direct, &buffered));
    for (kind, what) in [
        (EventKind::PageCacheAdd, "page-cache inserts"),
        (EventKind::ReadaheadWindow, "readahead windows"),
        (EventKind::ReadaheadTrigger, "readahead triggers"),
    ] {
        if !has(kind) && !header.probes.is_empty() {
            warnings.push(format!("{what} were not captured on the recorded kernel: their figures are 0"));
        }
    }
    if !has_lookups {
        warnings.push(
            "the trace has no filemap_get_pages events: demand is taken from read syscalls only (io_uring and AIO reads count as read ahead)"
                .into(),
        );
    }
    Ok(RaReport { files, total, warnings, server_status: mysql_io_format::status_deltas(trace) })
}
