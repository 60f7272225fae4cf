//! A trace's read operations as a polars frame, with the file and thread tables beside it.
//!
//! Every read a target did becomes one row, whatever its API, as `mysql_io_reads` defines a
//! read (the simulator and replay use the same definition): a read syscall, a Linux AIO read or
//! an io_uring read, with its completion paired across chunks. Streams are that crate's open
//! file descriptions, numbered here by their first kept read.
//!
//! The trace streams through in windows of chunks (decoded in parallel, appended in file order),
//! so only the frame itself grows with the trace: about 50 bytes a read, ids instead of strings;
//! names are attached after grouping.

use std::collections::BTreeMap;
use std::time::Duration;

use globset::{GlobBuilder, GlobMatcher};
use mysql_io_format::{EventKind, FileInfo, Header, ProbeMode, Trace, TraceSummary};
use mysql_io_reads::{ChunkReads, Extractor, Stitcher, NOT_DONE};
use polars::prelude::*;
use polars_arrow::bitmap::Bitmap;
use rustc_hash::FxHashMap;

use crate::names;
use crate::statements::{self, StatementEvent};
use crate::{AnalyzeError, Progress};

/// The API a read used (the `api` column's codes).
pub use mysql_io_reads::APIS;

/// Which reads to keep.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Keep reads that start at least this long after the trace starts.
    pub since: Option<Duration>,
    /// Keep reads that start before this long after the trace starts.
    pub until: Option<Duration>,
    /// Keep reads of files whose path (or file name) matches this glob.
    pub file: Option<String>,
}

/// A file the reads touch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileEntry {
    /// Device (kernel encoding).
    pub dev: u32,
    /// Inode.
    pub ino: u64,
    /// Path ("dev:ino" when the trace has none).
    pub path: String,
    /// Table (`schema.table` for InnoDB files, else the file name).
    pub table: String,
    /// Size when recorded.
    pub size: u64,
    /// Filesystem.
    pub fs_type: String,
    /// Some read of it used O_DIRECT.
    pub direct: bool,
}

/// A thread that read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ThreadEntry {
    /// Process.
    pub pid: u32,
    /// Thread.
    pub tid: u32,
    /// Kernel name (the last one recorded).
    pub comm: String,
    /// Role (see [`names::role`]).
    pub role: String,
}

/// Loaded trace: the reads frame, the tables, and what limits the answers.
#[derive(Debug)]
pub struct Dataset {
    /// One row per read operation, in file order (a read syscall's `read` event comes at its
    /// return, the other APIs' at their start: analyses order by `ts`); columns: `ts`
    /// (u64 ns), `latency_ns` (u64, null when the completion was not recorded), `pid` (u32),
    /// `tid` (u32), `api` (u8, index into [`APIS`]), `fd` (i32), `stream` (u32: the open file
    /// description), `file` (u32: index into [`Dataset::files`]), `direct` (bool: O_DIRECT),
    /// `pos` (i64), `count` (u32: bytes asked), `ret` (i32: bytes read or -errno, null when not
    /// recorded), `pages_inserted` (u32), `ra_sync` and `ra_async` (u16): what the read's thread
    /// did in the page cache while the read ran (`mysql_io_reads::Caused`; 0 for AIO and
    /// io_uring). Linux caps one read at 2 GiB - 4 KiB, so 32 bits hold counts and results.
    pub reads: DataFrame,
    /// Files, indexed by the `file` column.
    pub files: Vec<FileEntry>,
    /// Threads by tid.
    pub threads: BTreeMap<u32, ThreadEntry>,
    /// The trace's header.
    pub header: Header,
    /// First and last event time of the trace.
    pub t0: u64,
    /// Last event time.
    pub t_end: u64,
    /// What is wrong with the trace or limits the answer, one sentence each.
    pub warnings: Vec<String>,
    /// Events lost while recording.
    pub lost: u64,
    /// Every client command the trace recorded (`record --statements`), in file order, whatever
    /// the filter: a kept read may start inside a statement that began before the window.
    pub statements: Vec<StatementEvent>,
    /// Statement events lost while recording.
    pub lost_statements: u64,
    /// The time window reads were kept in: `[from, to)`, trace-clock ns.
    pub window: (u64, u64),
}

/// `latency` of a read whose completion was not (yet) seen.
const UNKNOWN: u64 = u64::MAX;

fn clamp_ret(ret: i64) -> i32 {
    ret.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Reads of the filtered trace, in the frame's final column types, appended part by part in
/// file order.
#[derive(Debug, Default)]
struct Builder {
    ts: Vec<u64>,
    latency: Vec<u64>,
    pid: Vec<u32>,
    tid: Vec<u32>,
    api: Vec<u8>,
    fd: Vec<i32>,
    stream: Vec<u32>,
    file: Vec<u32>,
    direct: Vec<bool>,
    pos: Vec<i64>,
    count: Vec<u32>,
    ret: Vec<i32>,
    inserted: Vec<u32>,
    ra_sync: Vec<u16>,
    ra_async: Vec<u16>,
    /// Kept reads still waiting for their completion: row by the read's `seq`.
    pending: FxHashMap<u64, u32>,
    /// Per stream of the read module: its number here (numbered by first kept read), or
    /// `u32::MAX` before.
    streams: Vec<u32>,
    next_stream: u32,
    /// Per file of the read module: its index in `files`, `None` when the file filter leaves it
    /// out (absent: not seen yet).
    file_ids: Vec<Option<u32>>,
    files: Vec<FileEntry>,
}

impl Builder {
    fn with_capacity(n: usize) -> Self {
        let mut b = Builder::default();
        b.ts.reserve_exact(n);
        b.latency.reserve_exact(n);
        b.pid.reserve_exact(n);
        b.tid.reserve_exact(n);
        b.api.reserve_exact(n);
        b.fd.reserve_exact(n);
        b.stream.reserve_exact(n);
        b.file.reserve_exact(n);
        b.direct.reserve_exact(n);
        b.pos.reserve_exact(n);
        b.count.reserve_exact(n);
        b.ret.reserve_exact(n);
        b.inserted.reserve_exact(n);
        b.ra_sync.reserve_exact(n);
        b.ra_async.reserve_exact(n);
        b
    }

    /// Appends a chunk's reads that pass the filters, and completes earlier chunks' reads.
    fn append(
        &mut self,
        c: ChunkReads,
        tables: &Stitcher,
        select: &impl Fn(&str) -> bool,
        known: &FxHashMap<(u32, u64), &FileInfo>,
        window: (u64, u64),
    ) {
        // What reads still running did in this chunk (before their completion, if it is here).
        for &(seq, did) in &c.caused {
            if let Some(&row) = self.pending.get(&seq) {
                let row = row as usize;
                self.inserted[row] = self.inserted[row].saturating_add(did.pages);
                self.ra_sync[row] = self.ra_sync[row].saturating_add(did.sync);
                self.ra_async[row] = self.ra_async[row].saturating_add(did.async_);
            }
        }
        for done in &c.completions {
            if let Some(row) = self.pending.remove(&done.seq) {
                let row = row as usize;
                self.latency[row] = done.end_ts.saturating_sub(self.ts[row]);
                self.ret[row] = clamp_ret(done.result);
            }
        }
        for seq in &c.superseded {
            self.pending.remove(seq);
        }
        for (id, &key) in tables.files().iter().enumerate().skip(self.file_ids.len()) {
            let f = known.get(&(key.dev, key.ino));
            let path = match f {
                Some(f) => f.path.clone(),
                None if key.is_unresolved() => "(io_uring registered file, not resolved)".to_string(),
                None => format!("{}:{}", key.dev, key.ino),
            };
            let kept = select(&path).then(|| {
                self.files.push(FileEntry {
                    dev: key.dev,
                    ino: key.ino,
                    table: names::table(&path),
                    path,
                    size: f.map_or(0, |f| f.size),
                    fs_type: f.map_or_else(String::new, |f| f.fs_type.clone()),
                    direct: false,
                });
                (self.files.len() - 1) as u32
            });
            debug_assert_eq!(id, self.file_ids.len());
            self.file_ids.push(kept);
        }
        self.streams.resize(tables.streams().len(), u32::MAX);
        let r = &c.reads;
        let mut w = 0; // r.waiting is in read order
        for i in 0..r.len() {
            while w < r.waiting.len() && (r.waiting[w] as usize) < i {
                w += 1;
            }
            let Some(id) = self.file_ids[r.file[i] as usize]
                .filter(|_| r.start_ts[i] >= window.0 && r.start_ts[i] < window.1)
            else {
                continue;
            };
            let row = self.ts.len() as u32;
            if r.waiting.get(w) == Some(&(i as u32)) {
                self.pending.insert(r.first_seq + i as u64, row);
            }
            let stream = &mut self.streams[r.stream[i] as usize];
            if *stream == u32::MAX {
                *stream = self.next_stream;
                self.next_stream += 1;
            }
            let done = r.end_ts[i] != NOT_DONE;
            self.ts.push(r.start_ts[i]);
            self.latency.push(if done {
                r.end_ts[i].saturating_sub(r.start_ts[i]).min(UNKNOWN - 1)
            } else {
                UNKNOWN
            });
            self.pid.push(r.pid[i]);
            self.tid.push(r.tid[i]);
            self.api.push(r.api[i]);
            self.fd.push(r.fd[i]);
            self.stream.push(*stream);
            self.file.push(id);
            self.direct.push(r.direct[i]);
            if r.direct[i] {
                self.files[id as usize].direct = true;
            }
            self.pos.push(r.pos[i]);
            // Linux caps one read at 2 GiB - 4 KiB, so counts and results fit 32 bits.
            self.count.push(r.count[i].min(u64::from(u32::MAX)) as u32);
            self.ret.push(if done { clamp_ret(r.result[i]) } else { 0 });
            self.inserted.push(r.caused[i].pages);
            self.ra_sync.push(r.caused[i].sync);
            self.ra_async.push(r.caused[i].async_);
        }
    }

    fn frame(self) -> Result<(DataFrame, Vec<FileEntry>), AnalyzeError> {
        let done: Bitmap = self.latency.iter().map(|&l| l != UNKNOWN).collect();
        let validity = (done.unset_bits() > 0).then_some(done);
        let latency = UInt64Chunked::from_vec_validity("latency_ns".into(), self.latency, validity.clone());
        let ret = Int32Chunked::from_vec_validity("ret".into(), self.ret, validity);
        let reads = DataFrame::new_infer_height(vec![
            UInt64Chunked::from_vec("ts".into(), self.ts).into_column(),
            latency.into_column(),
            UInt32Chunked::from_vec("pid".into(), self.pid).into_column(),
            UInt32Chunked::from_vec("tid".into(), self.tid).into_column(),
            UInt8Chunked::from_vec("api".into(), self.api).into_column(),
            Int32Chunked::from_vec("fd".into(), self.fd).into_column(),
            UInt32Chunked::from_vec("stream".into(), self.stream).into_column(),
            UInt32Chunked::from_vec("file".into(), self.file).into_column(),
            Column::new("direct".into(), self.direct),
            Int64Chunked::from_vec("pos".into(), self.pos).into_column(),
            UInt32Chunked::from_vec("count".into(), self.count).into_column(),
            ret.into_column(),
            UInt32Chunked::from_vec("pages_inserted".into(), self.inserted).into_column(),
            UInt16Chunked::from_vec("ra_sync".into(), self.ra_sync).into_column(),
            UInt16Chunked::from_vec("ra_async".into(), self.ra_async).into_column(),
        ])?;
        Ok((reads, self.files))
    }
}

/// Reads a trace into a [`Dataset`], keeping the reads `filter` selects.
pub fn load(trace: &Trace<'_>, filter: &Filter) -> Result<Dataset, AnalyzeError> {
    load_with(trace, filter, &|_, _| {})
}

/// [`load`], calling `progress(chunks done, chunks)` as it goes.
pub fn load_with(
    trace: &Trace<'_>,
    filter: &Filter,
    progress: &Progress<'_>,
) -> Result<Dataset, AnalyzeError> {
    let mut warnings: Vec<String> =
        trace.damage().iter().map(|d| format!("the trace is incomplete: {d}")).collect();
    let t0 = trace_start(trace);
    let t_end = trace.chunks().iter().filter(|c| c.info.events > 0).map(|c| c.info.t_max).max().unwrap_or(t0);
    let window = filter.window(t0);
    let select = filter.file_matcher()?;
    let known: FxHashMap<(u32, u64), &FileInfo> = trace.files().iter().map(|f| ((f.dev, f.ino), f)).collect();

    // Room for every read start the chunk headers count, so the columns never move.
    let starts: u64 = trace
        .chunks()
        .iter()
        .flat_map(|c| c.info.kind_counts.iter())
        .filter(|(k, _)| {
            [EventKind::Read, EventKind::ReadEnter, EventKind::AioSubmit, EventKind::UringSubmit]
                .iter()
                .any(|e| e.code() == *k)
        })
        .map(|&(_, n)| n)
        .sum();
    let mut b = Builder::with_capacity(usize::try_from(starts).unwrap_or(0).min(1 << 32));
    let extractor = Extractor::new();
    let mut stitcher = Stitcher::new(trace);
    let chunks = trace.chunks().len();
    let mut statements: Vec<StatementEvent> = Vec::new();
    trace.map_in_order(
        0,
        |_, cols| (extractor.chunk(cols), statements::from_chunk(cols)),
        |i, part| {
            match part {
                Ok((p, s)) => {
                    let c = stitcher.push(p);
                    b.append(c, &stitcher, &select, &known, window);
                    statements.extend(s);
                }
                Err(e) => warnings.push(format!("{e}: its events are left out")),
            }
            progress(i + 1, chunks);
        },
    );
    let (reads, files) = b.frame()?;

    // Threads: the last name recorded for each tid.
    let threads: BTreeMap<u32, ThreadEntry> = names::threads(trace)
        .into_iter()
        .map(|(tid, t)| (tid, ThreadEntry { pid: t.pid, tid, comm: t.comm, role: t.role }))
        .collect();

    let summary = TraceSummary::of(trace);
    if summary.lost > 0 {
        warnings.push(format!(
            "{} events were lost while recording (ring buffer full): counts and ratios are lower bounds",
            summary.lost
        ));
    }
    // Read syscalls are `read` events since format 2.1, `read_enter` and `read_exit` before.
    let captured = |kind: EventKind| {
        let mode = trace.header().probe(kind).map(|p| p.mode);
        !matches!(mode, None | Some(ProbeMode::Off)) || trace.header().probes.is_empty()
    };
    let syscalls: &[EventKind] = if captured(EventKind::Read) {
        &[]
    } else if trace.header().probe(EventKind::ReadEnter).is_some() {
        &[EventKind::ReadEnter, EventKind::ReadExit]
    } else {
        &[EventKind::Read]
    };
    for &kind in syscalls.iter().chain(&[EventKind::UringSubmit, EventKind::AioSubmit]) {
        if !captured(kind) {
            warnings.push(format!(
                "{kind} events were not captured on the recorded kernel: reads through it are missing"
            ));
        }
    }
    if summary.corrupt {
        warnings.extend(summary.damage.iter().filter(|d| d.contains("damaged")).cloned());
    }
    warnings.dedup();
    Ok(Dataset {
        reads,
        files,
        threads,
        header: trace.header().clone(),
        t0,
        t_end,
        warnings,
        lost: summary.lost,
        statements,
        lost_statements: summary.lost_by_kind.get(EventKind::Statement.name()).copied().unwrap_or(0),
        window,
    })
}

/// The values of a single-chunk column (as the loader builds them) and its validity.
pub(crate) fn values<T: PolarsNumericType>(
    ca: &ChunkedArray<T>,
) -> Result<(&[T::Native], Option<&Bitmap>), AnalyzeError> {
    if ca.chunks().len() != 1 {
        return Err(polars_err!(ComputeError: "column {} is not contiguous", ca.name()).into());
    }
    let arr = ca.downcast_as_array();
    Ok((arr.values().as_slice(), arr.validity()))
}

/// Time of the trace's first event (the header's start time when it has none).
pub(crate) fn trace_start(trace: &Trace<'_>) -> u64 {
    trace
        .chunks()
        .iter()
        .filter(|c| c.info.events > 0)
        .map(|c| c.info.t_min)
        .min()
        .unwrap_or(trace.header().start_ts)
}

impl Filter {
    /// The `[from, to)` time window, given the trace's first event time.
    pub(crate) fn window(&self, t0: u64) -> (u64, u64) {
        (
            self.since.map_or(0, |d| t0.saturating_add(d.as_nanos() as u64)),
            self.until.map_or(u64::MAX, |d| t0.saturating_add(d.as_nanos() as u64)),
        )
    }

    /// Whether a path passes `--file` (matched against the path or the file name).
    pub fn file_matcher(&self) -> Result<impl Fn(&str) -> bool + Sync, AnalyzeError> {
        let glob: Option<GlobMatcher> = match &self.file {
            Some(g) => Some(
                GlobBuilder::new(g)
                    .literal_separator(false)
                    .build()
                    .map_err(|e| AnalyzeError::BadFilter(format!("--file {g}: {e}")))?
                    .compile_matcher(),
            ),
            None => None,
        };
        Ok(move |path: &str| {
            glob.as_ref().is_none_or(|g| {
                g.is_match(path) || path.rsplit('/').next().is_some_and(|name| g.is_match(name))
            })
        })
    }
}

impl Dataset {
    /// Role of a thread (its comm's role when the trace names it, else "tid N").
    pub fn role_of(&self, tid: u32) -> String {
        self.threads.get(&tid).map_or_else(|| names::unnamed_role(tid), |t| t.role.clone())
    }

    /// Name of a thread.
    pub fn comm_of(&self, tid: u32) -> String {
        self.threads.get(&tid).map_or_else(String::new, |t| t.comm.clone())
    }

    /// Paths of the files read with O_DIRECT (readahead does not apply to them).
    pub fn direct_files(&self) -> Vec<String> {
        self.files.iter().filter(|f| f.direct).map(|f| f.path.clone()).collect()
    }
}
