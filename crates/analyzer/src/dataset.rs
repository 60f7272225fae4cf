//! A trace's read operations as a polars frame, with the file and thread tables beside it.
//!
//! Every read a target did becomes one row, whatever its API: a `read`/`pread64`/`readv`/
//! `preadv`/`preadv2` syscall (entry paired with the thread's next exit), a Linux AIO read
//! (iocb paired with its completion), or an io_uring read (request paired with its completion).
//! Chunks are decoded in parallel; pairs split across chunks are stitched in file order.
//!
//! The frame is kept small (about 40 bytes a row: ids instead of strings) so that 100M-event
//! traces fit in memory; names are attached after grouping.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use globset::{GlobBuilder, GlobMatcher};
use mysql_io_format::{ChunkColumns, EventKind, Header, ProbeMode, Trace, TraceSummary, O_DIRECT};
use polars::prelude::*;

use crate::names;
use crate::AnalyzeError;

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
    /// One row per read operation; columns: `ts` (u64 ns), `latency_ns` (u64, null when the
    /// completion was not recorded), `pid` (u32), `tid` (u32), `api` (u8, index into [`APIS`]),
    /// `fd` (i32), `stream` (u32: the open file description), `file` (u32: index into
    /// [`Dataset::files`]), `direct` (bool: O_DIRECT), `pos` (i64), `count` (u64: bytes asked),
    /// `ret` (i64: bytes read or -errno, null when not recorded).
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

/// Reads found in one chunk, with what could not be paired inside it.
#[derive(Debug, Default)]
struct Part {
    ts: Vec<u64>,
    end: Vec<u64>,
    pid: Vec<u32>,
    tid: Vec<u32>,
    api: Vec<u8>,
    fd: Vec<i32>,
    ofd: Vec<u64>,
    dev: Vec<u32>,
    ino: Vec<u64>,
    flags: Vec<u32>,
    pos: Vec<i64>,
    count: Vec<u64>,
    ret: Vec<Option<i64>>,
    /// Starts without a completion in this chunk (the last one per key), in order.
    open: Vec<(Key, usize)>,
    /// Completions without a start in this chunk, in order.
    orphans: Vec<(Key, u64, i64)>,
}

/// Column indices of the fields the loader reads, found by name in the format's layout.
#[derive(Debug, Clone, Copy)]
struct Layout {
    re_syscall: usize,
    re_fd: usize,
    re_dev: usize,
    re_ino: usize,
    re_ofd: usize,
    re_flags: usize,
    re_pos: usize,
    re_count: usize,
    rx_syscall: usize,
    rx_ret: usize,
    as_ctx: usize,
    as_iocb: usize,
    as_fd: usize,
    as_dev: usize,
    as_ino: usize,
    as_ofd: usize,
    as_flags: usize,
    as_offset: usize,
    as_nbytes: usize,
    ac_ctx: usize,
    ac_iocb: usize,
    ac_res: usize,
    us_ring: usize,
    us_req: usize,
    us_fd: usize,
    us_dev: usize,
    us_ino: usize,
    us_ofd: usize,
    us_flags: usize,
    us_offset: usize,
    us_len: usize,
    uc_ring: usize,
    uc_req: usize,
    uc_res: usize,
}

/// Index of `field` among `kind`'s columns.
pub(crate) fn column_index(kind: EventKind, field: &str) -> usize {
    kind.columns()
        .iter()
        .position(|c| c.field == field)
        .unwrap_or_else(|| panic!("{kind} has no column {field}"))
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
        Layout {
            re_syscall: column_index(re, "syscall"),
            re_fd: column_index(re, "fd"),
            re_dev: column_index(re, "file.dev"),
            re_ino: column_index(re, "file.ino"),
            re_ofd: column_index(re, "file.ofd"),
            re_flags: column_index(re, "file.flags"),
            re_pos: column_index(re, "pos"),
            re_count: column_index(re, "count"),
            rx_syscall: column_index(rx, "syscall"),
            rx_ret: column_index(rx, "ret"),
            as_ctx: column_index(as_, "ctx"),
            as_iocb: column_index(as_, "iocb"),
            as_fd: column_index(as_, "fd"),
            as_dev: column_index(as_, "file.dev"),
            as_ino: column_index(as_, "file.ino"),
            as_ofd: column_index(as_, "file.ofd"),
            as_flags: column_index(as_, "file.flags"),
            as_offset: column_index(as_, "offset"),
            as_nbytes: column_index(as_, "nbytes"),
            ac_ctx: column_index(ac, "ctx"),
            ac_iocb: column_index(ac, "iocb"),
            ac_res: column_index(ac, "res"),
            us_ring: column_index(us, "ring"),
            us_req: column_index(us, "req"),
            us_fd: column_index(us, "fd"),
            us_dev: column_index(us, "file.dev"),
            us_ino: column_index(us, "file.ino"),
            us_ofd: column_index(us, "file.ofd"),
            us_flags: column_index(us, "file.flags"),
            us_offset: column_index(us, "offset"),
            us_len: column_index(us, "len"),
            uc_ring: column_index(uc, "ring"),
            uc_req: column_index(uc, "req"),
            uc_res: column_index(uc, "res"),
        }
    }
}

/// Extracts the reads of one decoded chunk, pairing what it can.
fn extract(cols: &ChunkColumns, l: &Layout) -> Part {
    let mut p = Part::default();
    let mut pending: HashMap<Key, usize> = HashMap::new();
    let mut rows = [0usize; 256];
    let (re, rx, as_, ac, us, uc) = (
        EventKind::ReadEnter.code(),
        EventKind::ReadExit.code(),
        EventKind::AioSubmit.code(),
        EventKind::AioComplete.code(),
        EventKind::UringSubmit.code(),
        EventKind::UringComplete.code(),
    );
    let c = |k: EventKind, i: usize| cols.column(k, i);
    let (ts, tid, pid) = (cols.ts(), cols.tid(), cols.pid());
    for (i, &code) in cols.kind_codes().iter().enumerate() {
        let r = rows[code as usize];
        rows[code as usize] += 1;
        let start = |p: &mut Part, pending: &mut HashMap<Key, usize>, key: Key, api: u8, row: [u64; 7]| {
            let [fd, dev, ino, ofd, flags, pos, count] = row;
            let n = p.ts.len();
            p.ts.push(ts[i]);
            p.end.push(0);
            p.pid.push(pid[i]);
            p.tid.push(tid[i]);
            p.api.push(api);
            p.fd.push(fd as i64 as i32);
            p.dev.push(dev as u32);
            p.ino.push(ino);
            p.ofd.push(ofd);
            p.flags.push(flags as u32);
            p.pos.push(pos as i64);
            p.count.push(count);
            p.ret.push(None);
            pending.insert(key, n);
        };
        let finish = |p: &mut Part, pending: &mut HashMap<Key, usize>, key: Key, ret: i64| match pending
            .remove(&key)
        {
            Some(n) => {
                p.end[n] = ts[i];
                p.ret[n] = Some(ret);
            }
            None => p.orphans.push((key, ts[i], ret)),
        };
        if code == re {
            let k = EventKind::ReadEnter;
            let row = [
                c(k, l.re_fd)[r],
                c(k, l.re_dev)[r],
                c(k, l.re_ino)[r],
                c(k, l.re_ofd)[r],
                c(k, l.re_flags)[r],
                c(k, l.re_pos)[r],
                c(k, l.re_count)[r],
            ];
            start(&mut p, &mut pending, Key::Syscall(tid[i]), c(k, l.re_syscall)[r] as u8, row);
        } else if code == rx {
            let _ = c(EventKind::ReadExit, l.rx_syscall);
            finish(&mut p, &mut pending, Key::Syscall(tid[i]), c(EventKind::ReadExit, l.rx_ret)[r] as i64);
        } else if code == as_ {
            let k = EventKind::AioSubmit;
            let key = Key::Aio(c(k, l.as_ctx)[r], c(k, l.as_iocb)[r]);
            let row = [
                c(k, l.as_fd)[r],
                c(k, l.as_dev)[r],
                c(k, l.as_ino)[r],
                c(k, l.as_ofd)[r],
                c(k, l.as_flags)[r],
                c(k, l.as_offset)[r],
                c(k, l.as_nbytes)[r],
            ];
            start(&mut p, &mut pending, key, API_AIO, row);
        } else if code == ac {
            let k = EventKind::AioComplete;
            let key = Key::Aio(c(k, l.ac_ctx)[r], c(k, l.ac_iocb)[r]);
            finish(&mut p, &mut pending, key, c(k, l.ac_res)[r] as i64);
        } else if code == us {
            let k = EventKind::UringSubmit;
            let key = Key::Uring(c(k, l.us_ring)[r], c(k, l.us_req)[r]);
            let row = [
                c(k, l.us_fd)[r],
                c(k, l.us_dev)[r],
                c(k, l.us_ino)[r],
                c(k, l.us_ofd)[r],
                c(k, l.us_flags)[r],
                c(k, l.us_offset)[r],
                c(k, l.us_len)[r] as u32 as u64,
            ];
            start(&mut p, &mut pending, key, API_URING, row);
        } else if code == uc {
            let k = EventKind::UringComplete;
            let key = Key::Uring(c(k, l.uc_ring)[r], c(k, l.uc_req)[r]);
            finish(&mut p, &mut pending, key, c(k, l.uc_res)[r] as i32 as i64);
        }
    }
    let mut open: Vec<(Key, usize)> = pending.into_iter().collect();
    open.sort_by_key(|&(_, n)| n);
    p.open = open;
    p
}

/// Reads a trace into a [`Dataset`], keeping the reads `filter` selects.
pub fn load(trace: &Trace<'_>, filter: &Filter) -> Result<Dataset, AnalyzeError> {
    let layout = Layout::new();
    let parts = trace.par_map_columns(|_, cols| extract(cols, &layout));
    let mut warnings: Vec<String> =
        trace.damage().iter().map(|d| format!("the trace is incomplete: {d}")).collect();

    // Stitch the parts in file order: completions a part could not pair belong to starts of
    // earlier parts.
    let mut all = Part::default();
    let mut pending: HashMap<Key, usize> = HashMap::new();
    for part in parts {
        let part = match part {
            Ok(p) => p,
            Err(e) => {
                warnings.push(format!("{e}: its events are left out"));
                continue;
            }
        };
        for &(key, ts, ret) in &part.orphans {
            if let Some(n) = pending.remove(&key) {
                all.end[n] = ts;
                all.ret[n] = Some(ret);
            }
        }
        let base = all.ts.len();
        for &(key, n) in &part.open {
            pending.insert(key, base + n);
        }
        all.ts.extend(part.ts);
        all.end.extend(part.end);
        all.pid.extend(part.pid);
        all.tid.extend(part.tid);
        all.api.extend(part.api);
        all.fd.extend(part.fd);
        all.ofd.extend(part.ofd);
        all.dev.extend(part.dev);
        all.ino.extend(part.ino);
        all.flags.extend(part.flags);
        all.pos.extend(part.pos);
        all.count.extend(part.count);
        all.ret.extend(part.ret);
    }

    let summary_t = trace.chunks().iter().filter(|c| c.info.events > 0);
    let t0 = summary_t.clone().map(|c| c.info.t_min).min().unwrap_or(trace.header().start_ts);
    let t_end = summary_t.map(|c| c.info.t_max).max().unwrap_or(t0);
    let from = filter.since.map_or(0, |d| t0.saturating_add(d.as_nanos() as u64));
    let to = filter.until.map_or(u64::MAX, |d| t0.saturating_add(d.as_nanos() as u64));

    // Files: ids in order of first read; names from the trace's file records.
    let known: HashMap<(u32, u64), &mysql_io_format::FileInfo> =
        trace.files().iter().map(|f| ((f.dev, f.ino), f)).collect();
    let glob: Option<GlobMatcher> = match &filter.file {
        Some(g) => Some(
            GlobBuilder::new(g)
                .literal_separator(false)
                .build()
                .map_err(|e| AnalyzeError::BadFilter(format!("--file {g}: {e}")))?
                .compile_matcher(),
        ),
        None => None,
    };
    let mut files: Vec<FileEntry> = Vec::new();
    let mut file_ids: HashMap<(u32, u64), Option<u32>> = HashMap::new();
    let mut streams: HashMap<(u64, u32, i32, u32), u32> = HashMap::new();

    let n = all.ts.len();
    let mut keep = Vec::with_capacity(n);
    let mut col_file = Vec::with_capacity(n);
    let mut col_stream = Vec::with_capacity(n);
    for i in 0..n {
        let key = (all.dev[i], all.ino[i]);
        let id = *file_ids.entry(key).or_insert_with(|| {
            let f = known.get(&key);
            let path = f.map_or_else(|| format!("{}:{}", key.0, key.1), |f| f.path.clone());
            let selected = glob.as_ref().is_none_or(|g| {
                g.is_match(&path) || path.rsplit('/').next().is_some_and(|name| g.is_match(name))
            });
            selected.then(|| {
                files.push(FileEntry {
                    dev: key.0,
                    ino: key.1,
                    table: names::table(&path),
                    path,
                    size: f.map_or(0, |f| f.size),
                    fs_type: f.map_or_else(String::new, |f| f.fs_type.clone()),
                });
                (files.len() - 1) as u32
            })
        });
        let in_window = all.ts[i] >= from && all.ts[i] < to;
        let Some(id) = id.filter(|_| in_window) else {
            keep.push(false);
            continue;
        };
        keep.push(true);
        col_file.push(id);
        // The open file description, or (process, fd, file) when the recorder could not tell.
        let k = if all.ofd[i] != 0 { (all.ofd[i], 0, 0, 0) } else { (0, all.pid[i], all.fd[i], id) };
        let next = streams.len() as u32;
        col_stream.push(*streams.entry(k).or_insert(next));
    }

    macro_rules! kept {
        ($v:expr) => {
            $v.iter().zip(&keep).filter(|(_, &k)| k).map(|(x, _)| *x).collect::<Vec<_>>()
        };
    }
    let latency: Vec<Option<u64>> = all
        .ts
        .iter()
        .zip(&all.end)
        .zip(&keep)
        .filter(|(_, &k)| k)
        .map(|((&s, &e), _)| (e >= s && e != 0).then(|| e - s))
        .collect();
    let direct: Vec<bool> =
        all.flags.iter().zip(&keep).filter(|(_, &k)| k).map(|(&f, _)| f & O_DIRECT != 0).collect();
    let reads = DataFrame::new_infer_height(vec![
        Column::new("ts".into(), kept!(all.ts)),
        Column::new("latency_ns".into(), latency),
        Column::new("pid".into(), kept!(all.pid)),
        Column::new("tid".into(), kept!(all.tid)),
        Column::new("api".into(), kept!(all.api)),
        Column::new("fd".into(), kept!(all.fd)),
        Column::new("stream".into(), col_stream),
        Column::new("file".into(), col_file),
        Column::new("direct".into(), direct),
        Column::new("pos".into(), kept!(all.pos)),
        Column::new("count".into(), kept!(all.count)),
        Column::new("ret".into(), kept!(all.ret)),
    ])?;

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
    for kind in [EventKind::ReadEnter, EventKind::ReadExit, EventKind::UringSubmit, EventKind::AioSubmit] {
        let mode = trace.header().probe(kind).map(|p| p.mode);
        if matches!(mode, None | Some(ProbeMode::Off)) && !trace.header().probes.is_empty() {
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

impl Dataset {
    /// Role of a thread (its comm's role when the trace names it, else "tid N").
    pub fn role_of(&self, tid: u32) -> String {
        self.threads.get(&tid).map_or_else(|| format!("tid {tid}"), |t| t.role.clone())
    }

    /// Name of a thread.
    pub fn comm_of(&self, tid: u32) -> String {
        self.threads.get(&tid).map_or_else(String::new, |t| t.comm.clone())
    }

    /// Files read with O_DIRECT, as warnings (readahead does not apply to them).
    pub fn direct_files(&self) -> Result<Vec<String>, AnalyzeError> {
        let file = self.reads.column("file")?.u32()?;
        let direct = self.reads.column("direct")?.bool()?;
        let mut seen = std::collections::BTreeSet::new();
        for (f, d) in file.iter().zip(direct.iter()) {
            if let (Some(f), Some(true)) = (f, d) {
                seen.insert(f);
            }
        }
        Ok(seen.into_iter().map(|f| self.files[f as usize].path.clone()).collect())
    }
}
