//! A trace's read operations as a polars frame, with the file and thread tables beside it.
//!
//! Every read a target did becomes one row, whatever its API: a `read`/`pread64`/`readv`/
//! `preadv`/`preadv2` syscall (one `read` event at its return since format 2.1; before, its
//! entry paired with the thread's next exit), a Linux AIO read (iocb paired with its completion),
//! or an io_uring read (request paired with its completion).
//! Chunks are decoded in parallel; pairs split across chunks are stitched in file order.
//!
//! The trace streams through in windows of chunks (decoded in parallel, appended in file order),
//! so only the frame itself grows with the trace: about 50 bytes a read, ids instead of strings;
//! names are attached after grouping.

use std::collections::BTreeMap;
use std::time::Duration;

use globset::{GlobBuilder, GlobMatcher};
use mysql_io_format::{ChunkColumns, EventKind, FileInfo, Header, ProbeMode, Trace, TraceSummary, O_DIRECT};
use polars::prelude::*;
use polars_arrow::bitmap::Bitmap;
use rustc_hash::FxHashMap;

use crate::names;
use crate::{AnalyzeError, Progress};

/// The API a read used (the `api` column's codes).
pub const APIS: [&str; 7] = ["read", "pread64", "readv", "preadv", "preadv2", "aio", "io_uring"];
const API_AIO: u8 = 5;
const API_URING: u8 = 6;

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
    /// recorded). Linux caps one read at 2 GiB - 4 KiB, so 32 bits hold counts and results.
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
}

/// A pairing key: what identifies the completion of a read started earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Syscall(u32),
    Aio(u64, u64),
    Uring(u64, u64),
}

/// `latency` of a read whose completion was not (yet) seen.
const UNKNOWN: u64 = u64::MAX;

/// Reads found in one chunk, with what could not be paired inside it.
#[derive(Debug, Default)]
struct Part {
    ts: Vec<u64>,
    latency: Vec<u64>,
    pid: Vec<u32>,
    tid: Vec<u32>,
    api: Vec<u8>,
    fd: Vec<i32>,
    ofd: Vec<u64>,
    /// Index into `files`.
    file: Vec<u32>,
    direct: Vec<bool>,
    pos: Vec<i64>,
    count: Vec<u32>,
    ret: Vec<i32>,
    /// The (device, inode) pairs this chunk's reads touch.
    files: Vec<(u32, u64)>,
    /// Starts without a completion in this chunk (the last one per key), in order.
    open: Vec<(Key, usize)>,
    /// Completions without a start in this chunk, in order: key, time, result.
    orphans: Vec<(Key, u64, i64)>,
}

/// The columns of one kind of read start (`syscall` only for read syscalls).
struct StartCols<'c> {
    code: u8,
    api: Option<&'c [u64]>,
    fixed_api: u8,
    /// fd, dev, ino, ofd, flags, pos, count.
    f: [&'c [u64]; 7],
    /// Key columns (AIO: ctx, iocb; io_uring: ring, request).
    key: [&'c [u64]; 2],
}

/// The columns of one kind of read completion.
struct EndCols<'c> {
    code: u8,
    key: [&'c [u64]; 2],
    ret: &'c [u64],
}

/// Column indices of the fields the loader reads, found by name in the format's layout.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// `read` (format 2.1): the start columns, then syscall, ret and latency_ns.
    rd: [usize; 7],
    rd_syscall: usize,
    rd_ret: usize,
    rd_latency: usize,
    re: [usize; 7],
    re_syscall: usize,
    rx_ret: usize,
    as_: [usize; 7],
    as_key: [usize; 2],
    ac_key: [usize; 2],
    ac_res: usize,
    us: [usize; 7],
    us_key: [usize; 2],
    uc_key: [usize; 2],
    uc_res: usize,
}

/// Index of `field` among `kind`'s columns.
pub(crate) fn column_index(kind: EventKind, field: &str) -> usize {
    kind.column_index(field).unwrap_or_else(|| panic!("{kind} has no column {field}"))
}

impl Layout {
    fn new() -> Self {
        let (re, rx, as_, ac, us, uc) = (
            EventKind::ReadEnter,
            EventKind::ReadExit,
            EventKind::AioSubmit,
            EventKind::AioComplete,
            EventKind::UringSubmit,
            EventKind::UringComplete,
        );
        let file = |k: EventKind, pos: &str, count: &str| {
            ["fd", "file.dev", "file.ino", "file.ofd", "file.flags", pos, count].map(|f| column_index(k, f))
        };
        let rd = EventKind::Read;
        Layout {
            rd: file(rd, "pos", "count"),
            rd_syscall: column_index(rd, "syscall"),
            rd_ret: column_index(rd, "ret"),
            rd_latency: column_index(rd, "latency_ns"),
            re: file(re, "pos", "count"),
            re_syscall: column_index(re, "syscall"),
            rx_ret: column_index(rx, "ret"),
            as_: file(as_, "offset", "nbytes"),
            as_key: ["ctx", "iocb"].map(|f| column_index(as_, f)),
            ac_key: ["ctx", "iocb"].map(|f| column_index(ac, f)),
            ac_res: column_index(ac, "res"),
            us: file(us, "offset", "len"),
            us_key: ["ring", "req"].map(|f| column_index(us, f)),
            uc_key: ["ring", "req"].map(|f| column_index(uc, f)),
            uc_res: column_index(uc, "res"),
        }
    }
}

/// Extracts the reads of one decoded chunk, pairing what it can.
fn extract(c: &ChunkColumns, l: &Layout) -> Part {
    let cols = |k: EventKind, idx: [usize; 7]| idx.map(|i| c.column(k, i));
    let starts = [
        StartCols {
            code: EventKind::ReadEnter.code(),
            api: Some(c.column(EventKind::ReadEnter, l.re_syscall)),
            fixed_api: 0,
            f: cols(EventKind::ReadEnter, l.re),
            key: [&[], &[]],
        },
        StartCols {
            code: EventKind::AioSubmit.code(),
            api: None,
            fixed_api: API_AIO,
            f: cols(EventKind::AioSubmit, l.as_),
            key: l.as_key.map(|i| c.column(EventKind::AioSubmit, i)),
        },
        StartCols {
            code: EventKind::UringSubmit.code(),
            api: None,
            fixed_api: API_URING,
            f: cols(EventKind::UringSubmit, l.us),
            key: l.us_key.map(|i| c.column(EventKind::UringSubmit, i)),
        },
    ];
    let ends = [
        EndCols {
            code: EventKind::ReadExit.code(),
            key: [&[], &[]],
            ret: c.column(EventKind::ReadExit, l.rx_ret),
        },
        EndCols {
            code: EventKind::AioComplete.code(),
            key: l.ac_key.map(|i| c.column(EventKind::AioComplete, i)),
            ret: c.column(EventKind::AioComplete, l.ac_res),
        },
        EndCols {
            code: EventKind::UringComplete.code(),
            key: l.uc_key.map(|i| c.column(EventKind::UringComplete, i)),
            ret: c.column(EventKind::UringComplete, l.uc_res),
        },
    ];
    let key_of = |which: usize, tid: u32, a: &[u64], b: &[u64], r: usize| match which {
        0 => Key::Syscall(tid),
        1 => Key::Aio(a[r], b[r]),
        _ => Key::Uring(a[r], b[r]),
    };

    let read = cols(EventKind::Read, l.rd);
    let (read_api, read_ret, read_latency) = (
        c.column(EventKind::Read, l.rd_syscall),
        c.column(EventKind::Read, l.rd_ret),
        c.column(EventKind::Read, l.rd_latency),
    );
    let read_code = EventKind::Read.code();
    let n_reads = starts.iter().map(|s| s.f[6].len()).sum::<usize>() + read[6].len();
    let mut p = Part::default();
    for v in [&mut p.ts, &mut p.latency, &mut p.ofd] {
        v.reserve(n_reads);
    }
    let mut pending: FxHashMap<Key, usize> = FxHashMap::default();
    let mut file_ids: FxHashMap<(u32, u64), u32> = FxHashMap::default();
    let mut rows = [0usize; 256];
    let (ts, tid, pid) = (c.ts(), c.tid(), c.pid());
    for (i, &code) in c.kind_codes().iter().enumerate() {
        let r = rows[code as usize];
        rows[code as usize] += 1;
        if code == read_code {
            // A whole read syscall, at its return.
            let [fd, dev, ino, ofd, flags, pos, count] = read.map(|col| col[r]);
            let file = (dev as u32, ino);
            let next = p.files.len() as u32;
            let id = *file_ids.entry(file).or_insert_with(|| {
                p.files.push(file);
                next
            });
            let latency = read_latency[r];
            p.ts.push(ts[i].saturating_sub(latency));
            p.latency.push(latency.min(UNKNOWN - 1));
            p.pid.push(pid[i]);
            p.tid.push(tid[i]);
            p.api.push(read_api[r] as u8);
            p.fd.push(fd as i64 as i32);
            p.ofd.push(ofd);
            p.file.push(id);
            p.direct.push(flags as u32 & O_DIRECT != 0);
            p.pos.push(pos as i64);
            p.count.push(count.min(u64::from(u32::MAX)) as u32);
            p.ret.push(clamp_ret(read_ret[r] as i64));
        } else if let Some(w) = starts.iter().position(|s| s.code == code) {
            let s = &starts[w];
            let [fd, dev, ino, ofd, flags, pos, count] = s.f.map(|col| col[r]);
            let key = key_of(w, tid[i], s.key[0], s.key[1], r);
            let file = (dev as u32, ino);
            let next = p.files.len() as u32;
            let id = *file_ids.entry(file).or_insert_with(|| {
                p.files.push(file);
                next
            });
            let row = p.ts.len();
            p.ts.push(ts[i]);
            p.latency.push(UNKNOWN);
            p.pid.push(pid[i]);
            p.tid.push(tid[i]);
            p.api.push(s.api.map_or(s.fixed_api, |a| a[r] as u8));
            p.fd.push(fd as i64 as i32);
            p.ofd.push(ofd);
            p.file.push(id);
            p.direct.push(flags as u32 & O_DIRECT != 0);
            p.pos.push(pos as i64);
            // The kernel caps a read at 2 GiB - 4 KiB, so counts and results fit 32 bits.
            let count = if w == 2 { count as u32 } else { count.min(u64::from(u32::MAX)) as u32 };
            p.count.push(count);
            p.ret.push(0);
            pending.insert(key, row);
        } else if let Some(w) = ends.iter().position(|e| e.code == code) {
            let e = &ends[w];
            let key = key_of(w, tid[i], e.key[0], e.key[1], r);
            // io_uring completions carry a 32-bit result.
            let ret = if w == 2 { e.ret[r] as i32 as i64 } else { e.ret[r] as i64 };
            match pending.remove(&key) {
                Some(row) => {
                    p.latency[row] = ts[i].saturating_sub(p.ts[row]);
                    p.ret[row] = clamp_ret(ret);
                }
                None => p.orphans.push((key, ts[i], ret)),
            }
        }
    }
    let mut open: Vec<(Key, usize)> = pending.into_iter().collect();
    open.sort_unstable_by_key(|&(_, n)| n);
    p.open = open;
    p
}

fn clamp_ret(ret: i64) -> i32 {
    ret.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Where a stream (open file description) is found: by its id, or by (process, fd, file)
/// when the recorder could not tell the description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum StreamKey {
    Ofd(u64),
    Fd(u32, i32, u32),
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
    /// Reads started in earlier parts, waiting for their completion: the row, or `None` for a
    /// read the filters leave out.
    pending: FxHashMap<Key, Option<u32>>,
    streams: FxHashMap<StreamKey, u32>,
    /// Per (device, inode): its index in `files`, `None` when the file filter leaves it out.
    file_ids: FxHashMap<(u32, u64), Option<u32>>,
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
        b
    }

    /// Appends a part's reads that pass the filters, and completes earlier parts' reads.
    fn append(
        &mut self,
        p: Part,
        select: &impl Fn(&str) -> bool,
        known: &FxHashMap<(u32, u64), &FileInfo>,
        window: (u64, u64),
    ) {
        for &(key, ts, ret) in &p.orphans {
            if let Some(Some(row)) = self.pending.remove(&key) {
                let row = row as usize;
                self.latency[row] = ts.saturating_sub(self.ts[row]);
                self.ret[row] = clamp_ret(ret);
            }
        }
        let ids: Vec<Option<u32>> = p
            .files
            .iter()
            .map(|&key| {
                *self.file_ids.entry(key).or_insert_with(|| {
                    let f = known.get(&key);
                    let path = f.map_or_else(|| format!("{}:{}", key.0, key.1), |f| f.path.clone());
                    select(&path).then(|| {
                        self.files.push(FileEntry {
                            dev: key.0,
                            ino: key.1,
                            table: names::table(&path),
                            path,
                            size: f.map_or(0, |f| f.size),
                            fs_type: f.map_or_else(String::new, |f| f.fs_type.clone()),
                            direct: false,
                        });
                        (self.files.len() - 1) as u32
                    })
                })
            })
            .collect();
        let mut rows: Vec<Option<u32>> = Vec::with_capacity(p.ts.len());
        let mut last: Option<(StreamKey, u32)> = None;
        for i in 0..p.ts.len() {
            let id = ids[p.file[i] as usize];
            let Some(id) = id.filter(|_| p.ts[i] >= window.0 && p.ts[i] < window.1) else {
                rows.push(None);
                continue;
            };
            rows.push(Some(self.ts.len() as u32));
            let key =
                if p.ofd[i] != 0 { StreamKey::Ofd(p.ofd[i]) } else { StreamKey::Fd(p.pid[i], p.fd[i], id) };
            let stream = match last {
                Some((k, s)) if k == key => s,
                _ => {
                    let next = self.streams.len() as u32;
                    let s = *self.streams.entry(key).or_insert(next);
                    last = Some((key, s));
                    s
                }
            };
            self.ts.push(p.ts[i]);
            self.latency.push(p.latency[i]);
            self.pid.push(p.pid[i]);
            self.tid.push(p.tid[i]);
            self.api.push(p.api[i]);
            self.fd.push(p.fd[i]);
            self.stream.push(stream);
            self.file.push(id);
            self.direct.push(p.direct[i]);
            if p.direct[i] {
                self.files[id as usize].direct = true;
            }
            self.pos.push(p.pos[i]);
            self.count.push(p.count[i]);
            self.ret.push(p.ret[i]);
        }
        for (key, n) in p.open {
            self.pending.insert(key, rows[n]);
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
    let layout = Layout::new();
    let chunks = trace.chunks().len();
    trace.map_in_order(
        0,
        |_, cols| extract(cols, &layout),
        |i, part| {
            match part {
                Ok(p) => b.append(p, &select, &known, window),
                Err(e) => warnings.push(format!("{e}: its events are left out")),
            }
            progress(i + 1, chunks);
        },
    );
    let (reads, files) = b.frame()?;

    // Threads: the last name recorded for each tid.
    let mut threads: BTreeMap<u32, ThreadEntry> = BTreeMap::new();
    let mut infos: Vec<&mysql_io_format::ThreadInfo> = trace.threads().iter().collect();
    infos.sort_by_key(|t| t.ts);
    for t in infos {
        let e = threads.entry(t.tid).or_insert_with(|| ThreadEntry {
            pid: t.pid,
            tid: t.tid,
            comm: String::new(),
            role: String::new(),
        });
        e.comm = t.comm.clone();
        // A server role, once known, outlives later renames.
        if !t.role.is_empty() || e.role.is_empty() {
            e.role = names::role(&t.comm, &t.role);
        }
    }

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
        self.threads.get(&tid).map_or_else(|| format!("tid {tid}"), |t| t.role.clone())
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
