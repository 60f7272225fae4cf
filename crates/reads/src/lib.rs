//! One definition of a read: what a `.mio` trace says each read operation was, for every
//! consumer (the analyzer's frame, the simulator's input, replay's plan).
//!
//! A read is one operation a target asked of a file, whatever the API: a `read`/`pread64`/
//! `readv`/`preadv`/`preadv2` syscall (a `read` event at its return since format 2.1; before,
//! a `read_enter` paired with the thread's next `read_exit`), a Linux AIO read (`IOCB_CMD_PREAD`/
//! `PREADV` iocb paired with its completion), or an io_uring read (`READ`/`READV`/`READ_FIXED`
//! request paired with its completion). Writes and other operations submitted through AIO or
//! io_uring are not reads; they are counted in [`ReadStats::not_reads`].
//!
//! Each read has:
//! - a sequence number (`seq`): its place in file order, counted from 0 over the whole trace
//!   (file order is the order of the event that defines the read: its start, or the `read`
//!   event at its return);
//! - who: process, thread, the API, the descriptor;
//! - what: the open file description (a *stream*, see below), the file ([`FileKey`], with
//!   [`FileKey::UNRESOLVED`] when the recorder could not tell: io_uring registered files), the
//!   O_DIRECT flag, the offset (`pos`, raw: for `read`/`readv` the description's file position)
//!   and the bytes asked (`count`);
//! - the outcome: the end time and the result (bytes, or a negative errno), both absent when the
//!   completion was not recorded (the trace ended first, or the completion was lost and a new
//!   read with the same key superseded the start: both are *unfinished*);
//! - what it caused ([`Caused`]): the pages its thread inserted into the page cache and the
//!   readahead decisions its thread triggered while it ran. A read syscall runs in its thread
//!   from entry to return, and the kernel reads the missing pages and decides readahead in that
//!   thread, so these are the read's own. For a `read_enter`/`read_exit` pair that is everything
//!   between the two; for a `read` event (at the return), what the thread did from its start
//!   (`ts - latency_ns`) to the event, after its previous read. AIO and io_uring reads are
//!   served in other contexts (the submit call, kernel workers): nothing is attributed to them.
//!
//! A stream is an open file description. The recorder names descriptions by an id (`ofd`) that
//! is unique only among descriptions open at the same time, so a stream is keyed by (`ofd`,
//! file), or by (process, fd, file) when the id is 0, and an open that returns a known key starts
//! a new stream. Descriptions open before recording started (the header's `open_fds`) are the
//! first streams.
//!
//! Chunks are decoded in parallel by [`Extractor::chunk`] (pure), then [`Stitcher::push`] numbers
//! reads, files and streams and pairs completions across chunks in file order. Pairing is the
//! serial rule, whatever the chunk size: a start waits for the next completion with its key; a
//! new start with the same key supersedes it; a completion without a waiting start is counted
//! and dropped.

pub mod latency;
pub mod names;
pub mod sequence;

use mysql_io_format::{ChunkColumns, EventKind, FadviseAdvice, Trace, O_DIRECT};
use rustc_hash::FxHashMap;

/// The API names, indexed by [`Read::api`] (read syscalls use their `ReadSyscall` code).
pub const APIS: [&str; 7] = ["read", "pread64", "readv", "preadv", "preadv2", "aio", "io_uring"];
/// [`Read::api`] of Linux AIO reads.
pub const API_AIO: u8 = 5;
/// [`Read::api`] of io_uring reads.
pub const API_URING: u8 = 6;
/// `end_ts` of a read whose completion is not (yet) known.
pub const NOT_DONE: u64 = u64::MAX;
/// `end_at` of a read that did not complete in its own chunk.
pub const ELSEWHERE: u32 = u32::MAX;

/// AIO opcodes that read (`IOCB_CMD_PREAD`, `IOCB_CMD_PREADV`).
const AIO_READS: [u64; 2] = [0, 7];
/// io_uring opcodes that read (`IORING_OP_READV`, `READ_FIXED`, `READ`).
const URING_READS: [u64; 3] = [1, 4, 22];

/// A file, by device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    /// Device (kernel encoding).
    pub dev: u32,
    /// Inode.
    pub ino: u64,
}

impl FileKey {
    /// What the recorder writes when it could not resolve the file (io_uring registered files).
    pub const UNRESOLVED: FileKey = FileKey { dev: 0, ino: 0 };

    /// Whether the file is unknown.
    pub fn is_unresolved(self) -> bool {
        self == Self::UNRESOLVED
    }
}

/// What a read syscall caused in the page cache, as its thread did it while the read ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Caused {
    /// Pages inserted into the page cache (read from disk: the pages it waited for and the
    /// readahead it started).
    pub pages: u32,
    /// Sync readahead decisions (a page it needed was missing).
    pub sync: u16,
    /// Async readahead decisions (it reached a page marked for readahead).
    pub async_: u16,
}

impl Caused {
    fn add(&mut self, o: Caused) {
        self.pages = self.pages.saturating_add(o.pages);
        self.sync = self.sync.saturating_add(o.sync);
        self.async_ = self.async_.saturating_add(o.async_);
    }
}

/// An open file description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    /// Index into [`Stitcher::files`].
    pub file: u32,
    /// The recorder's description id (0 when it could not tell).
    pub ofd: u64,
    /// Process that first used it.
    pub pid: u32,
    /// Descriptor it was first used through.
    pub fd: i32,
    /// Opened during the trace (else it was open before recording started).
    pub opened: bool,
    /// O_DIRECT, as the description's flags were when first seen.
    pub direct: bool,
}

/// One read, whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// Place in file order over the whole trace.
    pub seq: u64,
    /// Start time (ns).
    pub start_ts: u64,
    /// End time, when the completion was recorded.
    pub end_ts: Option<u64>,
    /// Process.
    pub pid: u32,
    /// Thread that started it.
    pub tid: u32,
    /// API (index into [`APIS`]).
    pub api: u8,
    /// Descriptor (AIO and io_uring: the iocb's or SQE's fd).
    pub fd: i32,
    /// Description id as recorded.
    pub ofd: u64,
    /// Stream (index into [`Stitcher::streams`]).
    pub stream: u32,
    /// File (index into [`Stitcher::files`]).
    pub file: u32,
    /// O_DIRECT.
    pub direct: bool,
    /// Offset as recorded.
    pub pos: i64,
    /// Bytes asked.
    pub count: u64,
    /// Bytes read or a negative errno, when the completion was recorded.
    pub result: Option<i64>,
    /// Pages inserted and readahead triggered by its thread while it ran (read syscalls only).
    pub caused: Caused,
}

impl Read {
    /// Bytes copied: the result capped at `count`, 0 for a failed read, `None` when unknown.
    pub fn copied(&self) -> Option<u64> {
        self.result.map(|r| if r < 0 { 0 } else { (r as u64).min(self.count) })
    }

    /// Whether it failed (a negative result).
    pub fn failed(&self) -> bool {
        self.result.is_some_and(|r| r < 0)
    }
}

/// The reads whose defining event is in one chunk, in file order, as columns.
#[derive(Debug, Default, Clone)]
pub struct ReadBatch {
    /// `seq` of the first read.
    pub first_seq: u64,
    /// Start times.
    pub start_ts: Vec<u64>,
    /// End times ([`NOT_DONE`] when not complete in this chunk: see `waiting` and the
    /// [`Completion`]s of later chunks).
    pub end_ts: Vec<u64>,
    /// Processes.
    pub pid: Vec<u32>,
    /// Threads.
    pub tid: Vec<u32>,
    /// APIs.
    pub api: Vec<u8>,
    /// Descriptors.
    pub fd: Vec<i32>,
    /// Description ids.
    pub ofd: Vec<u64>,
    /// Streams.
    pub stream: Vec<u32>,
    /// Files.
    pub file: Vec<u32>,
    /// O_DIRECT.
    pub direct: Vec<bool>,
    /// Offsets.
    pub pos: Vec<i64>,
    /// Bytes asked.
    pub count: Vec<u64>,
    /// Results (meaningful where `end_ts` is not [`NOT_DONE`]).
    pub result: Vec<i64>,
    /// Index, among the chunk's events, of the event that defines the read.
    pub start_at: Vec<u32>,
    /// Index of the completion among the chunk's events ([`ELSEWHERE`] when not in it).
    pub end_at: Vec<u32>,
    /// What each read caused, as far as this chunk shows (a read that ends in a later chunk gets
    /// the rest through [`ChunkReads::caused`]).
    pub caused: Vec<Caused>,
    /// Reads of this batch still waiting for their completion at the end of the chunk.
    pub waiting: Vec<u32>,
}

impl ReadBatch {
    /// Number of reads.
    pub fn len(&self) -> usize {
        self.start_ts.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.start_ts.is_empty()
    }

    /// Read `i`, whole.
    pub fn read(&self, i: usize) -> Read {
        let done = self.end_ts[i] != NOT_DONE;
        Read {
            seq: self.first_seq + i as u64,
            start_ts: self.start_ts[i],
            end_ts: done.then_some(self.end_ts[i]),
            pid: self.pid[i],
            tid: self.tid[i],
            api: self.api[i],
            fd: self.fd[i],
            ofd: self.ofd[i],
            stream: self.stream[i],
            file: self.file[i],
            direct: self.direct[i],
            pos: self.pos[i],
            count: self.count[i],
            result: done.then_some(self.result[i]),
            caused: self.caused[i],
        }
    }

    fn push_row(&mut self, r: &Row) {
        self.start_ts.push(r.start_ts);
        self.end_ts.push(NOT_DONE);
        self.pid.push(r.pid);
        self.tid.push(r.tid);
        self.api.push(r.api);
        self.fd.push(r.fd);
        self.ofd.push(r.ofd);
        self.stream.push(0);
        self.file.push(r.file);
        self.direct.push(r.direct);
        self.pos.push(r.pos);
        self.count.push(r.count);
        self.result.push(0);
        self.start_at.push(r.at);
        self.end_at.push(ELSEWHERE);
        self.caused.push(Caused::default());
    }
}

/// A read of an earlier chunk completed in this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// The read.
    pub seq: u64,
    /// End time.
    pub end_ts: u64,
    /// Bytes or a negative errno.
    pub result: i64,
    /// Index of the completion among this chunk's events.
    pub at: u32,
}

/// What a description event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescKind {
    /// The description was opened.
    Open,
    /// `posix_fadvise` on it.
    Fadvise {
        /// Advice.
        advice: FadviseAdvice,
        /// Byte offset.
        offset: i64,
        /// Bytes (0: to the end of the file).
        len: i64,
    },
}

/// An open or fadvise, with its stream resolved in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescEvent {
    /// Index among the chunk's events.
    pub at: u32,
    /// Time.
    pub ts: u64,
    /// Process.
    pub pid: u32,
    /// Thread.
    pub tid: u32,
    /// Stream.
    pub stream: u32,
    /// File.
    pub file: u32,
    /// The description has O_DIRECT.
    pub direct: bool,
    /// What happened.
    pub kind: DescKind,
}

/// What one chunk adds, in the order [`Stitcher::push`] returns it.
#[derive(Debug, Default, Clone)]
pub struct ChunkReads {
    /// Reads defined in the chunk.
    pub reads: ReadBatch,
    /// Reads of earlier chunks that completed in this one.
    pub completions: Vec<Completion>,
    /// Reads of earlier chunks that will never complete: a new start with the same key came in
    /// this chunk (their completion was lost). Reads of this chunk superseded in it are only
    /// left without an end.
    pub superseded: Vec<u64>,
    /// Opens and fadvise calls.
    pub descs: Vec<DescEvent>,
    /// More of what reads of earlier chunks caused (they were still running in this one).
    pub caused: Vec<(u64, Caused)>,
}

/// Counts over the whole trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Reads.
    pub reads: u64,
    /// Of those, O_DIRECT.
    pub direct: u64,
    /// Of those, failed (a negative result).
    pub failed: u64,
    /// Of those, without a recorded completion (still running at the end, or superseded).
    pub unfinished: u64,
    /// Of the unfinished, those superseded by a later start with the same key.
    pub superseded: u64,
    /// Of those, on a file the recorder could not resolve.
    pub unresolved: u64,
    /// Completions without a waiting start (their start was lost or came before the trace, or
    /// they complete AIO/io_uring operations that are not reads).
    pub unmatched_completions: u64,
    /// AIO and io_uring operations that are not reads (writes, fsync, ...).
    pub not_reads: u64,
}

/// What completes a read started earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Syscall(u32),
    Aio(u64, u64),
    Uring(u64, u64),
}

/// A key's state within one chunk.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// A read of this chunk waits (its index).
    Waiting(u32),
    /// Nothing waits.
    Idle,
}

/// A read as the extractor sees it, before stitching.
struct Row {
    start_ts: u64,
    pid: u32,
    tid: u32,
    api: u8,
    fd: i32,
    ofd: u64,
    /// Index into the chunk's files.
    file: u32,
    direct: bool,
    pos: i64,
    count: u64,
    at: u32,
}

/// An open or fadvise before stitching.
#[derive(Debug, Clone, Copy)]
struct LocalDesc {
    at: u32,
    ts: u64,
    pid: u32,
    tid: u32,
    fd: i32,
    ofd: u64,
    file: u32,
    direct: bool,
    kind: DescKind,
}

/// One chunk's reads before stitching: what [`Extractor::chunk`] returns.
#[derive(Debug, Default)]
pub struct Part {
    reads: ReadBatch,
    /// (device, inode) of the chunk's files; `reads.file` indexes it until stitching.
    files: Vec<FileKey>,
    descs: Vec<LocalDesc>,
    /// Keys whose first event in the chunk is a completion: it completes a read of an earlier
    /// chunk, if one waits.
    first_ends: Vec<(Key, Completion)>,
    /// Keys whose first event in the chunk is a start: a read of an earlier chunk still waiting
    /// on it is superseded.
    first_starts: Vec<Key>,
    /// Reads still waiting at the end of the chunk.
    waiting: Vec<(Key, u32)>,
    /// Per thread: what it did before any read syscall event of its own in this chunk, with times
    /// (a read of an earlier chunk still running caused it, or its first `read` event here, or
    /// a `read` event in a later chunk).
    lead: FxHashMap<u32, Vec<(u64, Caused)>>,
    /// Per thread: its first `read` event in the chunk (index, start time): what the thread did
    /// in earlier chunks from that start on is the read's.
    first_read: FxHashMap<u32, (u32, u64)>,
    /// Per thread: what it did after its last read syscall event in the chunk (or all of it, for
    /// threads without one), with times, for a `read` event in a later chunk.
    tail: FxHashMap<u32, Vec<(u64, Caused)>>,
    /// Threads with a read syscall event in the chunk.
    touched: rustc_hash::FxHashSet<u32>,
    /// Reads of this chunk superseded in it.
    superseded: u64,
    unmatched: u64,
    not_reads: u64,
}

/// Column indices of the fields a read, an open and a fadvise need: fd, file.dev, file.ino,
/// file.ofd, file.flags, then the offset and size columns.
type FileCols = [usize; 7];

/// Finds reads in decoded chunks ([`Extractor::chunk`] is pure: run it in parallel).
#[derive(Debug, Clone, Copy)]
pub struct Extractor {
    rd: FileCols,
    rd_syscall: usize,
    rd_ret: usize,
    rd_latency: usize,
    re: FileCols,
    re_syscall: usize,
    rx_ret: usize,
    aio: FileCols,
    aio_key: [usize; 2],
    aio_opcode: usize,
    aioc_key: [usize; 2],
    aioc_res: usize,
    ur: FileCols,
    ur_key: [usize; 2],
    ur_opcode: usize,
    urc_key: [usize; 2],
    urc_res: usize,
    open: [usize; 5],
    fadv: FileCols,
    fadv_advice: usize,
    add_order: usize,
    trig: usize,
}

fn col(kind: EventKind, field: &str) -> usize {
    match kind.column_index(field) {
        Some(i) => i,
        None => unreachable!("{kind} has no column {field}"),
    }
}

fn file_cols(kind: EventKind, pos: &str, count: &str) -> FileCols {
    ["fd", "file.dev", "file.ino", "file.ofd", "file.flags", pos, count].map(|f| col(kind, f))
}

impl Default for Extractor {
    fn default() -> Self {
        Self::new()
    }
}

impl Extractor {
    /// The column layout of this format version.
    pub fn new() -> Self {
        use EventKind as K;
        Extractor {
            rd: file_cols(K::Read, "pos", "count"),
            rd_syscall: col(K::Read, "syscall"),
            rd_ret: col(K::Read, "ret"),
            rd_latency: col(K::Read, "latency_ns"),
            re: file_cols(K::ReadEnter, "pos", "count"),
            re_syscall: col(K::ReadEnter, "syscall"),
            rx_ret: col(K::ReadExit, "ret"),
            aio: file_cols(K::AioSubmit, "offset", "nbytes"),
            aio_key: ["ctx", "iocb"].map(|f| col(K::AioSubmit, f)),
            aio_opcode: col(K::AioSubmit, "opcode"),
            aioc_key: ["ctx", "iocb"].map(|f| col(K::AioComplete, f)),
            aioc_res: col(K::AioComplete, "res"),
            ur: file_cols(K::UringSubmit, "offset", "len"),
            ur_key: ["ring", "req"].map(|f| col(K::UringSubmit, f)),
            ur_opcode: col(K::UringSubmit, "opcode"),
            urc_key: ["ring", "req"].map(|f| col(K::UringComplete, f)),
            urc_res: col(K::UringComplete, "res"),
            open: ["fd", "file.dev", "file.ino", "file.ofd", "file.flags"].map(|f| col(K::FileOpen, f)),
            fadv: file_cols(K::Fadvise, "offset", "len"),
            fadv_advice: col(K::Fadvise, "advice"),
            add_order: col(K::PageCacheAdd, "order"),
            trig: col(K::ReadaheadTrigger, "trigger"),
        }
    }

    /// The reads, opens and fadvise calls of one decoded chunk, paired where the chunk allows.
    pub fn chunk(&self, c: &ChunkColumns) -> Part {
        use EventKind as K;
        let cols = |k: EventKind, idx: FileCols| idx.map(|i| c.column(k, i));
        let rd = cols(K::Read, self.rd);
        let (rd_syscall, rd_ret, rd_latency) = (
            c.column(K::Read, self.rd_syscall),
            c.column(K::Read, self.rd_ret),
            c.column(K::Read, self.rd_latency),
        );
        let re = cols(K::ReadEnter, self.re);
        let re_syscall = c.column(K::ReadEnter, self.re_syscall);
        let rx_ret = c.column(K::ReadExit, self.rx_ret);
        let aio = cols(K::AioSubmit, self.aio);
        let aio_key = self.aio_key.map(|i| c.column(K::AioSubmit, i));
        let aio_opcode = c.column(K::AioSubmit, self.aio_opcode);
        let aioc_key = self.aioc_key.map(|i| c.column(K::AioComplete, i));
        let aioc_res = c.column(K::AioComplete, self.aioc_res);
        let ur = cols(K::UringSubmit, self.ur);
        let ur_key = self.ur_key.map(|i| c.column(K::UringSubmit, i));
        let ur_opcode = c.column(K::UringSubmit, self.ur_opcode);
        let urc_key = self.urc_key.map(|i| c.column(K::UringComplete, i));
        let urc_res = c.column(K::UringComplete, self.urc_res);
        let open = self.open.map(|i| c.column(K::FileOpen, i));
        let fadv = cols(K::Fadvise, self.fadv);
        let fadv_advice = c.column(K::Fadvise, self.fadv_advice);
        let add_order = c.column(K::PageCacheAdd, self.add_order);
        let trig = c.column(K::ReadaheadTrigger, self.trig);
        let (c_add, c_trig) = (K::PageCacheAdd.code(), K::ReadaheadTrigger.code());
        // Per thread: its read syscall in progress (read_enter seen, read_exit not yet), and what
        // it did since its last read syscall event (for its next `read` event).
        let mut active: FxHashMap<u32, u32> = FxHashMap::default();
        let mut since: FxHashMap<u32, Vec<(u64, Caused)>> = FxHashMap::default();

        let codes = [K::Read, K::ReadEnter, K::ReadExit, K::AioSubmit, K::AioComplete, K::UringSubmit]
            .map(EventKind::code);
        let [c_read, c_enter, c_exit, c_aio, c_aioc, c_ur] = codes;
        let (c_urc, c_open, c_fadv) = (K::UringComplete.code(), K::FileOpen.code(), K::Fadvise.code());

        let n = rd[6].len() + re[6].len() + aio[6].len() + ur[6].len();
        let mut p = Part::default();
        for v in [&mut p.reads.start_ts, &mut p.reads.end_ts, &mut p.reads.ofd, &mut p.reads.count] {
            v.reserve(n);
        }
        let mut slots: FxHashMap<Key, Slot> = FxHashMap::default();
        let mut file_ids: FxHashMap<FileKey, u32> = FxHashMap::default();
        let mut file_of = |p: &mut Part, dev: u64, ino: u64| -> u32 {
            let key = FileKey { dev: dev as u32, ino };
            let next = p.files.len() as u32;
            *file_ids.entry(key).or_insert_with(|| {
                p.files.push(key);
                next
            })
        };
        let mut rows = [0usize; 256];
        let (ts, tid, pid) = (c.ts(), c.tid(), c.pid());
        for (i, &code) in c.kind_codes().iter().enumerate() {
            let r = rows[code as usize];
            rows[code as usize] += 1;
            let at = i as u32;
            // A start: where it waits, or None for a whole read.
            let (f, api, key) = if code == c_read {
                (&rd, rd_syscall[r] as u8, None)
            } else if code == c_enter {
                (&re, re_syscall[r] as u8, Some(Key::Syscall(tid[i])))
            } else if code == c_aio {
                let key = Key::Aio(aio_key[0][r], aio_key[1][r]);
                if !AIO_READS.contains(&aio_opcode[r]) {
                    p.not_reads += 1;
                    continue;
                }
                (&aio, API_AIO, Some(key))
            } else if code == c_ur {
                let key = Key::Uring(ur_key[0][r], ur_key[1][r]);
                if !URING_READS.contains(&ur_opcode[r]) {
                    p.not_reads += 1;
                    continue;
                }
                (&ur, API_URING, Some(key))
            } else if code == c_add || code == c_trig {
                let did = if code == c_add {
                    Caused { pages: 1 << add_order[r].min(20), ..Caused::default() }
                } else if trig[r] == 1 {
                    Caused { async_: 1, ..Caused::default() }
                } else {
                    Caused { sync: 1, ..Caused::default() }
                };
                p.did(tid[i], ts[i], did, &active, &mut since);
                continue;
            } else {
                let end = if code == c_exit {
                    Some((Key::Syscall(tid[i]), rx_ret[r] as i64))
                } else if code == c_aioc {
                    Some((Key::Aio(aioc_key[0][r], aioc_key[1][r]), aioc_res[r] as i64))
                } else if code == c_urc {
                    // io_uring completions carry a 32-bit result.
                    Some((Key::Uring(urc_key[0][r], urc_key[1][r]), i64::from(urc_res[r] as i32)))
                } else {
                    None
                };
                if let Some((key, ret)) = end {
                    if code == c_exit {
                        active.remove(&tid[i]);
                        since.remove(&tid[i]);
                        p.touched.insert(tid[i]);
                    }
                    p.end(key, Completion { seq: 0, end_ts: ts[i], result: ret, at }, &mut slots);
                } else if code == c_open || code == c_fadv {
                    let (fd, dev, ino, ofd, flags) = if code == c_open {
                        (open[0][r], open[1][r], open[2][r], open[3][r], open[4][r])
                    } else {
                        (fadv[0][r], fadv[1][r], fadv[2][r], fadv[3][r], fadv[4][r])
                    };
                    let kind = if code == c_open {
                        DescKind::Open
                    } else {
                        DescKind::Fadvise {
                            advice: FadviseAdvice::from_code(fadv_advice[r] as u8),
                            offset: fadv[5][r] as i64,
                            len: fadv[6][r] as i64,
                        }
                    };
                    let file = file_of(&mut p, dev, ino);
                    p.descs.push(LocalDesc {
                        at,
                        ts: ts[i],
                        pid: pid[i],
                        tid: tid[i],
                        fd: fd as i64 as i32,
                        ofd,
                        file,
                        direct: flags as u32 & O_DIRECT != 0,
                        kind,
                    });
                }
                continue;
            };
            let [fd, dev, ino, ofd, flags, pos, count] = f.map(|col| col[r]);
            let file = file_of(&mut p, dev, ino);
            let count = if code == c_ur { u64::from(count as u32) } else { count };
            let start_ts = if key.is_none() { ts[i].saturating_sub(rd_latency[r]) } else { ts[i] };
            let row = Row {
                start_ts,
                pid: pid[i],
                tid: tid[i],
                api,
                fd: fd as i64 as i32,
                ofd,
                file,
                direct: flags as u32 & O_DIRECT != 0,
                pos: pos as i64,
                count,
                at,
            };
            let idx = p.reads.len() as u32;
            p.reads.push_row(&row);
            match key {
                None => {
                    p.reads.end_ts[idx as usize] = ts[i];
                    p.reads.result[idx as usize] = rd_ret[r] as i64;
                    p.reads.end_at[idx as usize] = at;
                    // What the thread did since it started is this read's.
                    let t = tid[i];
                    let mine = since.remove(&t).unwrap_or_default();
                    let caused = &mut p.reads.caused[idx as usize];
                    for &(when, did) in &mine {
                        if when >= start_ts {
                            caused.add(did);
                        }
                    }
                    if p.touched.insert(t) {
                        p.first_read.insert(t, (idx, start_ts));
                    }
                }
                Some(key) => {
                    if code == c_enter {
                        active.insert(tid[i], idx);
                        since.remove(&tid[i]);
                        p.touched.insert(tid[i]);
                    }
                    p.start(key, idx, &mut slots)
                }
            }
        }
        let mut waiting: Vec<(Key, u32)> = slots
            .into_iter()
            .filter_map(|(k, s)| match s {
                Slot::Waiting(i) => Some((k, i)),
                Slot::Idle => None,
            })
            .collect();
        waiting.sort_unstable_by_key(|&(_, i)| i);
        p.reads.waiting = waiting.iter().map(|&(_, i)| i).collect();
        p.waiting = waiting;
        p.tail = since;
        p
    }
}

/// What a thread may keep of what it did outside its reads, waiting for its next `read` event
/// (a thread that inserts pages without reading, by writing or faulting, must not grow it).
const TAIL_MAX: usize = 256;

impl Part {
    /// Thread `tid` inserted pages or triggered readahead at `ts`.
    fn did(
        &mut self,
        tid: u32,
        ts: u64,
        did: Caused,
        active: &FxHashMap<u32, u32>,
        since: &mut FxHashMap<u32, Vec<(u64, Caused)>>,
    ) {
        if let Some(&idx) = active.get(&tid) {
            self.reads.caused[idx as usize].add(did);
            return;
        }
        let v = if self.touched.contains(&tid) {
            since.entry(tid).or_default()
        } else {
            self.lead.entry(tid).or_default()
        };
        if v.len() == TAIL_MAX {
            v.remove(0);
        }
        v.push((ts, did));
    }

    fn start(&mut self, key: Key, idx: u32, slots: &mut FxHashMap<Key, Slot>) {
        match slots.insert(key, Slot::Waiting(idx)) {
            None => self.first_starts.push(key),
            // The earlier start's completion was lost: it stays without an end.
            Some(Slot::Waiting(_)) => self.superseded += 1,
            Some(Slot::Idle) => {}
        }
    }

    fn end(&mut self, key: Key, c: Completion, slots: &mut FxHashMap<Key, Slot>) {
        match slots.insert(key, Slot::Idle) {
            None => self.first_ends.push((key, c)),
            Some(Slot::Waiting(i)) => {
                let i = i as usize;
                self.reads.end_ts[i] = c.end_ts;
                self.reads.result[i] = c.result;
                self.reads.end_at[i] = c.at;
            }
            Some(Slot::Idle) => self.unmatched += 1,
        }
    }
}

/// Where a stream is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum StreamKey {
    Ofd(u64, u32),
    Fd(u32, i32, u32),
}

/// Numbers files, streams and reads and pairs completions across chunks, chunk by chunk in file
/// order. State: the tables, and the reads waiting for a completion (in flight: bounded).
#[derive(Debug, Default)]
pub struct Stitcher {
    files: Vec<FileKey>,
    file_ids: FxHashMap<FileKey, u32>,
    streams: Vec<Stream>,
    stream_ids: FxHashMap<StreamKey, u32>,
    waiting: FxHashMap<Key, u64>,
    /// Per thread: what it did after its last read syscall event, for its next `read` event.
    tails: FxHashMap<u32, Vec<(u64, Caused)>>,
    next_seq: u64,
    stats: ReadStats,
}

/// The tables and counts once the trace is done.
#[derive(Debug, Default)]
pub struct Finished {
    /// Files, indexed by [`Read::file`].
    pub files: Vec<FileKey>,
    /// Streams, indexed by [`Read::stream`].
    pub streams: Vec<Stream>,
    /// Reads still waiting when the trace ended, by `seq`.
    pub unfinished: Vec<u64>,
    /// Counts.
    pub stats: ReadStats,
}

impl Stitcher {
    /// Starts with the descriptions open before recording (`trace.open_fds()`), in order.
    pub fn new(trace: &Trace<'_>) -> Self {
        let mut s = Stitcher::default();
        for o in trace.open_fds() {
            let file = s.file(FileKey { dev: o.dev, ino: o.ino });
            s.stream(o.pid, o.fd, o.ofd, file, false, o.flags & O_DIRECT != 0);
        }
        s
    }

    fn file(&mut self, key: FileKey) -> u32 {
        let next = self.files.len() as u32;
        *self.file_ids.entry(key).or_insert_with(|| {
            self.files.push(key);
            next
        })
    }

    /// The stream of a description; `opened` starts a new one when the key is known.
    fn stream(&mut self, pid: u32, fd: i32, ofd: u64, file: u32, opened: bool, direct: bool) -> u32 {
        let key = if ofd != 0 { StreamKey::Ofd(ofd, file) } else { StreamKey::Fd(pid, fd, file) };
        let next = self.streams.len() as u32;
        match self.stream_ids.get(&key) {
            Some(&s) if !opened => s,
            _ => {
                self.streams.push(Stream { file, ofd, pid, fd, opened, direct });
                self.stream_ids.insert(key, next);
                next
            }
        }
    }

    /// Files so far.
    pub fn files(&self) -> &[FileKey] {
        &self.files
    }

    /// Streams so far.
    pub fn streams(&self) -> &[Stream] {
        &self.streams
    }

    /// Counts so far.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// Adds the next chunk's part (parts must come in file order).
    pub fn push(&mut self, part: Part) -> ChunkReads {
        let Part {
            mut reads,
            files,
            descs,
            first_ends,
            first_starts,
            waiting,
            lead,
            first_read,
            tail,
            touched,
            superseded,
            unmatched,
            not_reads,
        } = part;
        let mut out = ChunkReads::default();
        // What threads did before any read syscall event of theirs here: for their read still
        // running from an earlier chunk (enter/exit pairs; before it completes or is superseded).
        let mut lead = lead;
        lead.retain(|tid, did| match self.waiting.get(&Key::Syscall(*tid)) {
            Some(&seq) => {
                let mut sum = Caused::default();
                did.iter().for_each(|&(_, d)| sum.add(d));
                out.caused.push((seq, sum));
                false
            }
            None => true,
        });
        out.caused.sort_unstable_by_key(|&(seq, _)| seq);
        // Completions and supersessions of earlier chunks' reads (each key is in one list).
        for (key, mut c) in first_ends {
            match self.waiting.remove(&key) {
                Some(seq) => {
                    c.seq = seq;
                    if c.result < 0 {
                        self.stats.failed += 1;
                    }
                    out.completions.push(c);
                }
                None => self.stats.unmatched_completions += 1,
            }
        }
        for key in first_starts {
            if let Some(seq) = self.waiting.remove(&key) {
                out.superseded.push(seq);
            }
        }
        self.stats.superseded += (out.superseded.len() as u64) + superseded;
        // Else for their first `read` event here, from its start on, with what they did in
        // earlier chunks.
        for (tid, (idx, start)) in first_read {
            let mut earlier = self.tails.remove(&tid).unwrap_or_default();
            earlier.extend(lead.remove(&tid).unwrap_or_default());
            let caused = &mut reads.caused[idx as usize];
            for (when, did) in earlier {
                if when >= start {
                    caused.add(did);
                }
            }
        }
        // A thread whose first read syscall event here is an entry or an exit: what it did before
        // belongs to no read. Other threads keep it for their next `read` event.
        for tid in touched {
            self.tails.remove(&tid);
            lead.remove(&tid);
        }
        for (tid, mut later) in lead.into_iter().chain(tail) {
            let v = self.tails.entry(tid).or_default();
            v.append(&mut later);
            if v.len() > TAIL_MAX {
                v.drain(..v.len() - TAIL_MAX);
            }
        }
        self.stats.unmatched_completions += unmatched;
        self.stats.not_reads += not_reads;

        // Files, then streams in file order (opens split streams as they come).
        let ids: Vec<u32> = files.iter().map(|&k| self.file(k)).collect();
        let mut d = 0;
        let mut last: Option<(u32, i32, u64, u32, u32)> = None;
        for i in 0..reads.len() {
            while d < descs.len() && descs[d].at < reads.start_at[i] {
                out.descs.push(self.desc(&descs[d], &ids));
                last = None;
                d += 1;
            }
            let file = ids[reads.file[i] as usize];
            reads.file[i] = file;
            let (pid, fd, ofd) = (reads.pid[i], reads.fd[i], reads.ofd[i]);
            reads.stream[i] = match last {
                Some((p, f, o, fi, s)) if (p, f, o, fi) == (pid, fd, ofd, file) => s,
                _ => {
                    let s = self.stream(pid, fd, ofd, file, false, reads.direct[i]);
                    last = Some((pid, fd, ofd, file, s));
                    s
                }
            };
            self.stats.reads += 1;
            self.stats.direct += u64::from(reads.direct[i]);
            self.stats.unresolved += u64::from(self.files[file as usize].is_unresolved());
            if reads.end_ts[i] != NOT_DONE && reads.result[i] < 0 {
                self.stats.failed += 1;
            }
        }
        for desc in &descs[d..] {
            out.descs.push(self.desc(desc, &ids));
        }
        reads.first_seq = self.next_seq;
        for (key, i) in waiting {
            self.waiting.insert(key, self.next_seq + u64::from(i));
        }
        self.next_seq += reads.len() as u64;
        out.reads = reads;
        out
    }

    fn desc(&mut self, d: &LocalDesc, ids: &[u32]) -> DescEvent {
        let file = ids[d.file as usize];
        let stream = self.stream(d.pid, d.fd, d.ofd, file, d.kind == DescKind::Open, d.direct);
        DescEvent { at: d.at, ts: d.ts, pid: d.pid, tid: d.tid, stream, file, direct: d.direct, kind: d.kind }
    }

    /// The tables and counts; reads still waiting are unfinished.
    pub fn finish(mut self) -> Finished {
        let mut unfinished: Vec<u64> = self.waiting.values().copied().collect();
        unfinished.sort_unstable();
        // Superseded reads never complete either.
        self.stats.unfinished = unfinished.len() as u64 + self.stats.superseded;
        Finished { files: self.files, streams: self.streams, unfinished, stats: self.stats }
    }
}

/// Every read of `trace`, whole, in file order (for consumers that want rows, not columns:
/// replay, tests). Chunks that cannot be decoded are left out and named in the returned
/// sentences.
pub fn collect(trace: &Trace<'_>) -> (Vec<Read>, Finished, Vec<String>) {
    let ex = Extractor::new();
    let mut st = Stitcher::new(trace);
    let mut reads: Vec<Read> = Vec::new();
    let mut damaged = Vec::new();
    trace.map_in_order(
        0,
        |_, cols| ex.chunk(cols),
        |_, part| match part {
            Ok(p) => {
                let out = st.push(p);
                let first = reads.len() as u64;
                debug_assert_eq!(first, out.reads.first_seq);
                for (seq, did) in &out.caused {
                    reads[*seq as usize].caused.add(*did);
                }
                for c in &out.completions {
                    let r = &mut reads[c.seq as usize];
                    r.end_ts = Some(c.end_ts);
                    r.result = Some(c.result);
                }
                reads.extend((0..out.reads.len()).map(|i| out.reads.read(i)));
            }
            Err(e) => damaged.push(format!("{e}: its events are left out")),
        },
    );
    (reads, st.finish(), damaged)
}
