//! The evidence behind the verdict, gathered in one pass over the trace: the reads as
//! `crates/reads` defines them (the analyzer's and the simulator's definition), each counted
//! under its thread's role (`mysql_io_reads::names`, as `analyze threads` counts them), and the
//! kernel's readahead windows.
//!
//! What it keeps is small whatever the trace's length, except six numbers per read (stream,
//! file, start, offset, length, role: 30 bytes): the sequential runs need the reads in time
//! order per open file description, as `analyze sequentiality` orders them
//! (`mysql_io_reads::sequence`), and the files to draw are known only at the end. Per role: the read count, the latency histogram of the reads
//! whose completion was recorded (`mysql_io_reads::latency`, as `analyze threads`) and reads
//! per time bin. Per file of the [`TOP_FILES`] with most reads: a grid of time by offset, each
//! cell the reads that started in it under the role with most of them, and the readahead
//! windows the kernel decided for the file, thinned to one per slot of a finer grid.

use std::collections::BTreeMap;

use mysql_io_format::{EventKind, Trace};
use mysql_io_reads::latency::LatencyHistogram;
use mysql_io_reads::names::{self, ThreadName};
use mysql_io_reads::sequence::{run_bucket, stream_order, Walk, RUN_BUCKETS};
use mysql_io_reads::{ChunkReads, Extractor, FileKey, Stitcher, NOT_DONE};
use rustc_hash::FxHashMap;

/// Files drawn offset against time.
pub const TOP_FILES: usize = 6;
/// Time bins of an offset-against-time grid.
pub const TIME_BINS: u32 = 100;
/// Offset bins of an offset-against-time grid.
pub const OFFSET_BINS: u32 = 40;
/// Readahead windows drawn per file at most.
pub const MAX_WINDOWS: usize = 1500;
/// Bins of the reads-per-second plot at most (each a whole number of seconds).
pub const MAX_RATE_BINS: u64 = 300;

/// Bytes per page in readahead events (page indices).
const PAGE: u64 = 4096;

/// One thread role's reads.
#[derive(Debug, Clone)]
pub struct RoleEvidence {
    /// The role (`tid N` for a thread the trace does not name).
    pub role: String,
    /// Threads of this role that read.
    pub threads: u64,
    /// Reads its threads started.
    pub reads: u64,
    /// Latencies of those whose completion was recorded.
    pub latency: LatencyHistogram,
    /// Reads started per time bin ([`Evidence::rate_bin_ns`] wide, from [`Evidence::t0`]).
    pub per_bin: Vec<u64>,
}

/// What started a readahead window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// A read found a page missing.
    Sync,
    /// A read reached a page marked for readahead.
    Async,
    /// No trigger of the thread on the file before it in its chunk (forced readahead, such as
    /// `POSIX_FADV_WILLNEED`, or a trigger in the chunk before).
    Other,
}

/// A readahead window the kernel decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When.
    pub ts: u64,
    /// First byte.
    pub start: u64,
    /// Bytes.
    pub len: u64,
    /// What started it.
    pub trigger: Trigger,
}

/// A cell of the offset-against-time grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// Time bin (0..[`TIME_BINS`]).
    pub t: u32,
    /// Offset bin (0..[`OFFSET_BINS`]).
    pub o: u32,
    /// Reads that started in it.
    pub reads: u64,
    /// The role with most of them (index into [`Evidence::roles`]).
    pub role: usize,
}

/// One of the files with most reads.
#[derive(Debug, Clone)]
pub struct FileEvidence {
    /// Path (`dev:ino` when the trace has none).
    pub path: String,
    /// Reads.
    pub reads: u64,
    /// Offsets drawn: 0 to this (the file's size when recorded, or the furthest byte read or
    /// read ahead, whichever is larger).
    pub extent: u64,
    /// Non-empty cells.
    pub cells: Vec<Cell>,
    /// Readahead windows decided for the file.
    pub windows: u64,
    /// Of those, by trigger: sync, async, other.
    pub by_trigger: [u64; 3],
    /// The windows drawn (at most [`MAX_WINDOWS`], one per slot of a grid twice as fine as the
    /// cells', per trigger).
    pub drawn: Vec<Window>,
    /// Sequential runs of the file's reads by length ([`RUN_BUCKETS`]).
    pub runs: [u64; RUN_BUCKETS.len()],
}

/// Everything the evidence plots show.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// First event time of the trace.
    pub t0: u64,
    /// Last event time.
    pub t1: u64,
    /// Reads in all.
    pub reads: u64,
    /// Roles, most reads first.
    pub roles: Vec<RoleEvidence>,
    /// Width of a reads-per-second bin, ns (a whole number of seconds).
    pub rate_bin_ns: u64,
    /// The files with most reads (unresolved files left out), most first.
    pub files: Vec<FileEvidence>,
    /// Sequential runs of all reads by length ([`RUN_BUCKETS`]; runs within a file, as
    /// `analyze sequentiality --by file` counts them).
    pub runs: [u64; RUN_BUCKETS.len()],
    /// Chunks that could not be decoded, one sentence each.
    pub damaged: Vec<String>,
}

/// Readahead windows of one chunk, in file order: (time, file, first page, pages, trigger).
type ChunkWindows = Vec<(u64, FileKey, u64, u64, Trigger)>;

fn windows_of(c: &mysql_io_format::ChunkColumns) -> ChunkWindows {
    let (trig, win) = (EventKind::ReadaheadTrigger, EventKind::ReadaheadWindow);
    if c.rows(win) == 0 {
        return Vec::new();
    }
    let col = |k: EventKind, f: &str| c.column(k, k.column_index(f).unwrap_or(usize::MAX));
    let t = ["trigger", "dev", "ino"].map(|f| col(trig, f));
    let w = ["dev", "ino", "index", "size"].map(|f| col(win, f));
    let (tc, wc) = (trig.code(), win.code());
    // Per thread: its last trigger in the chunk (kind code, file).
    let mut last: FxHashMap<u32, (u64, FileKey)> = FxHashMap::default();
    let (mut ti, mut wi) = (0, 0);
    let mut out = Vec::new();
    for (i, &k) in c.kind_codes().iter().enumerate() {
        if k == tc {
            if let (Some(&kind), Some(&dev), Some(&ino)) = (t[0].get(ti), t[1].get(ti), t[2].get(ti)) {
                last.insert(c.tid()[i], (kind, FileKey { dev: dev as u32, ino }));
            }
            ti += 1;
        } else if k == wc {
            if let (Some(&dev), Some(&ino), Some(&index), Some(&size)) =
                (w[0].get(wi), w[1].get(wi), w[2].get(wi), w[3].get(wi))
            {
                let file = FileKey { dev: dev as u32, ino };
                let trigger = match last.get(&c.tid()[i]) {
                    Some(&(0, f)) if f == file => Trigger::Sync,
                    Some(&(1, f)) if f == file => Trigger::Async,
                    _ => Trigger::Other,
                };
                out.push((c.ts()[i], file, index, size, trigger));
            }
            wi += 1;
        }
    }
    out
}

/// What the runs and the grids need of each read, in `seq` order.
#[derive(Debug, Default)]
struct Columns {
    stream: Vec<u32>,
    file: Vec<u32>,
    ts: Vec<u64>,
    pos: Vec<i64>,
    /// Bytes returned, or asked while the result is unknown (as `analyze sequentiality`).
    len: Vec<u32>,
    role: Vec<u16>,
}

/// The pass's state.
struct Gather {
    threads: BTreeMap<u32, ThreadName>,
    role_ids: FxHashMap<u32, u16>,
    role_names: Vec<String>,
    roles: Vec<RoleEvidence>,
    role_tids: Vec<rustc_hash::FxHashSet<u32>>,
    t0: u64,
    bin: u64,
    bins: usize,
    cols: Columns,
    windows: FxHashMap<FileKey, Vec<Window>>,
}

impl Gather {
    fn role(&mut self, tid: u32) -> u16 {
        if let Some(&r) = self.role_ids.get(&tid) {
            return r;
        }
        let name = names::role_of(&self.threads, tid);
        let id = match self.role_names.iter().position(|n| *n == name) {
            Some(i) => i,
            None => {
                self.role_names.push(name.clone());
                self.roles.push(RoleEvidence {
                    role: name,
                    threads: 0,
                    reads: 0,
                    latency: LatencyHistogram::new(),
                    per_bin: vec![0; self.bins],
                });
                self.role_tids.push(Default::default());
                self.roles.len() - 1
            }
        };
        // Roles are few; more than 65,535 would all be counted under the last.
        let id = id.min(usize::from(u16::MAX)) as u16;
        self.role_tids[usize::from(id)].insert(tid);
        self.role_ids.insert(tid, id);
        id
    }

    fn push(&mut self, c: ChunkReads) {
        for done in &c.completions {
            let i = done.seq as usize;
            if let Some(&start) = self.cols.ts.get(i) {
                let role = usize::from(self.cols.role[i]);
                self.roles[role].latency.record(done.end_ts.saturating_sub(start));
                if done.result >= 0 {
                    self.cols.len[i] = done.result.min(i64::from(i32::MAX)) as u32;
                }
            }
        }
        let r = &c.reads;
        debug_assert_eq!(r.first_seq, self.cols.ts.len() as u64);
        for i in 0..r.len() {
            let role = self.role(r.tid[i]);
            let ev = &mut self.roles[usize::from(role)];
            ev.reads += 1;
            let bin = ((r.start_ts[i].saturating_sub(self.t0) / self.bin) as usize).min(self.bins - 1);
            ev.per_bin[bin] += 1;
            let done = r.end_ts[i] != NOT_DONE;
            if done {
                ev.latency.record(r.end_ts[i].saturating_sub(r.start_ts[i]));
            }
            let count = r.count[i].min(u64::from(u32::MAX)) as u32;
            let len =
                if done && r.result[i] >= 0 { r.result[i].min(i64::from(i32::MAX)) as u32 } else { count };
            self.cols.stream.push(r.stream[i]);
            self.cols.file.push(r.file[i]);
            self.cols.ts.push(r.start_ts[i]);
            self.cols.pos.push(r.pos[i]);
            self.cols.len.push(len);
            self.cols.role.push(role);
        }
    }

    fn add_windows(&mut self, w: ChunkWindows) {
        for (ts, file, index, size, trigger) in w {
            self.windows.entry(file).or_default().push(Window {
                ts,
                start: index.saturating_mul(PAGE),
                len: size.saturating_mul(PAGE),
                trigger,
            });
        }
    }
}

/// Gathers the evidence of `trace` in one pass.
pub fn gather(trace: &Trace<'_>) -> Evidence {
    let (t0, t1) = trace.time_range().unwrap_or((0, 0));
    let span = t1.saturating_sub(t0).max(1);
    let secs = span.div_ceil(1_000_000_000).max(1);
    let bin = secs.div_ceil(MAX_RATE_BINS).max(1) * 1_000_000_000;
    let bins = span.div_ceil(bin).max(1) as usize;
    let mut g = Gather {
        threads: names::threads(trace),
        role_ids: FxHashMap::default(),
        role_names: Vec::new(),
        roles: Vec::new(),
        role_tids: Vec::new(),
        t0,
        bin,
        bins,
        cols: Columns::default(),
        windows: FxHashMap::default(),
    };
    let extractor = Extractor::new();
    let mut stitcher = Stitcher::new(trace);
    let mut damaged = Vec::new();
    trace.map_in_order(
        0,
        |_, cols| (extractor.chunk(cols), windows_of(cols)),
        |_, part| match part {
            Ok((p, w)) => {
                let c = stitcher.push(p);
                g.push(c);
                g.add_windows(w);
            }
            Err(e) => damaged.push(format!("{e}: its events are left out")),
        },
    );
    let finished = stitcher.finish();
    g.finish(trace.files(), finished.files, t0, t1, span, damaged)
}

impl Gather {
    fn finish(
        mut self,
        infos: &[mysql_io_format::FileInfo],
        file_keys: Vec<FileKey>,
        t0: u64,
        t1: u64,
        span: u64,
        damaged: Vec<String>,
    ) -> Evidence {
        for (ev, tids) in self.roles.iter_mut().zip(&self.role_tids) {
            ev.threads = tids.len() as u64;
        }
        let cols = std::mem::take(&mut self.cols);

        // Sequential runs, grouped by file.
        let order = stream_order(&cols.stream, &cols.ts);
        let mut per_file = vec![[0u64; RUN_BUCKETS.len()]; file_keys.len()];
        let mut walk = Walk::new();
        let mut count = |(file, n): (u32, u64)| {
            if let Some(f) = per_file.get_mut(file as usize) {
                f[run_bucket(n)] += 1;
            }
        };
        for &row in &order {
            let i = row as usize;
            let (_, ended) = walk.step(cols.stream[i], cols.pos[i], i64::from(cols.len[i]), cols.file[i]);
            ended.into_iter().for_each(&mut count);
        }
        walk.finish().into_iter().for_each(&mut count);
        drop(order);
        let mut runs = [0u64; RUN_BUCKETS.len()];
        for f in &per_file {
            for (a, b) in runs.iter_mut().zip(f) {
                *a += b;
            }
        }

        // The files with most reads.
        let mut reads_per_file = vec![0u64; file_keys.len()];
        for &f in &cols.file {
            reads_per_file[f as usize] += 1;
        }
        let known: FxHashMap<FileKey, &mysql_io_format::FileInfo> =
            infos.iter().map(|f| (FileKey { dev: f.dev, ino: f.ino }, f)).collect();
        let path =
            |k: FileKey| known.get(&k).map_or_else(|| format!("{}:{}", k.dev, k.ino), |f| f.path.clone());
        let mut top: Vec<u32> = (0..file_keys.len() as u32)
            .filter(|&f| reads_per_file[f as usize] > 0 && !file_keys[f as usize].is_unresolved())
            .collect();
        top.sort_by_cached_key(|&f| {
            (std::cmp::Reverse(reads_per_file[f as usize]), path(file_keys[f as usize]))
        });
        top.truncate(TOP_FILES);

        let mut files: Vec<FileEvidence> = top
            .iter()
            .map(|&f| {
                let key = file_keys[f as usize];
                let windows = self.windows.remove(&key).unwrap_or_default();
                let mut by_trigger = [0u64; 3];
                for w in &windows {
                    by_trigger[trigger_index(w.trigger)] += 1;
                }
                FileEvidence {
                    path: path(key),
                    reads: reads_per_file[f as usize],
                    extent: known
                        .get(&key)
                        .map_or(0, |i| i.size)
                        .max(windows.iter().map(|w| w.start.saturating_add(w.len)).max().unwrap_or(0)),
                    cells: Vec::new(),
                    windows: windows.len() as u64,
                    by_trigger,
                    drawn: windows,
                    runs: per_file[f as usize],
                }
            })
            .collect();
        // The furthest byte read, then the grid.
        let slot: FxHashMap<u32, usize> = top.iter().enumerate().map(|(i, &f)| (f, i)).collect();
        for i in 0..cols.file.len() {
            if let Some(&s) = slot.get(&cols.file[i]) {
                let end = (cols.pos[i].max(0) as u64).saturating_add(u64::from(cols.len[i]));
                files[s].extent = files[s].extent.max(end);
            }
        }
        let mut grids: Vec<FxHashMap<(u32, u32, u16), u64>> = vec![FxHashMap::default(); files.len()];
        let tbin = |ts: u64, bins: u32| {
            ((u128::from(ts.saturating_sub(t0)) * u128::from(bins) / u128::from(span)) as u32).min(bins - 1)
        };
        let obin = |pos: u64, extent: u64, bins: u32| {
            ((u128::from(pos) * u128::from(bins) / u128::from(extent.max(1))) as u32).min(bins - 1)
        };
        for i in 0..cols.file.len() {
            if let Some(&s) = slot.get(&cols.file[i]) {
                let (t, o) = (
                    tbin(cols.ts[i], TIME_BINS),
                    obin(cols.pos[i].max(0) as u64, files[s].extent, OFFSET_BINS),
                );
                *grids[s].entry((t, o, cols.role[i])).or_default() += 1;
            }
        }
        for (f, grid) in files.iter_mut().zip(grids) {
            let mut cells: FxHashMap<(u32, u32), (u64, u64, usize)> = FxHashMap::default();
            for ((t, o, role), n) in grid {
                let c = cells.entry((t, o)).or_insert((0, 0, usize::from(role)));
                c.0 += n;
                // The role with most reads in the cell; ties to the role with more reads overall
                // (the lower index once sorted below, so compare by name for stability).
                if n > c.1 || (n == c.1 && self.roles[usize::from(role)].role < self.roles[c.2].role) {
                    c.1 = n;
                    c.2 = usize::from(role);
                }
            }
            f.cells =
                cells.into_iter().map(|((t, o), (reads, _, role))| Cell { t, o, reads, role }).collect();
            f.cells.sort_unstable_by_key(|c| (c.t, c.o));
            // One window per slot of a grid twice as fine, per trigger.
            let mut seen: rustc_hash::FxHashSet<(u32, u32, u32, usize)> = Default::default();
            let extent = f.extent;
            f.drawn.retain(|w| {
                seen.insert((
                    tbin(w.ts, TIME_BINS * 2),
                    obin(w.start, extent, OFFSET_BINS * 2),
                    obin(w.start.saturating_add(w.len).saturating_sub(1), extent, OFFSET_BINS * 2),
                    trigger_index(w.trigger),
                ))
            });
            if f.drawn.len() > MAX_WINDOWS {
                let step = f.drawn.len().div_ceil(MAX_WINDOWS);
                f.drawn = f.drawn.iter().copied().step_by(step).collect();
            }
        }

        // Roles, most reads first; cells follow their role to its new index.
        let mut order: Vec<usize> = (0..self.roles.len()).collect();
        order.sort_by(|&a, &b| {
            self.roles[b]
                .reads
                .cmp(&self.roles[a].reads)
                .then_with(|| self.roles[a].role.cmp(&self.roles[b].role))
        });
        let mut new_index = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        for f in &mut files {
            for c in &mut f.cells {
                c.role = new_index[c.role];
            }
        }
        let mut roles: Vec<Option<RoleEvidence>> = self.roles.into_iter().map(Some).collect();
        let roles: Vec<RoleEvidence> = order.iter().filter_map(|&i| roles[i].take()).collect();

        Evidence { t0, t1, reads: cols.ts.len() as u64, roles, rate_bin_ns: self.bin, files, runs, damaged }
    }
}

fn trigger_index(t: Trigger) -> usize {
    match t {
        Trigger::Sync => 0,
        Trigger::Async => 1,
        Trigger::Other => 2,
    }
}

#[cfg(test)]
mod tests {
    use mysql_io_format::synth::SyntheticStream;
    use mysql_io_format::{Metadata, Trace, Writer, WriterOptions};

    use super::*;

    /// A synthetic trace in small chunks (so reads complete in later chunks than they start).
    fn synthetic(events: usize) -> Vec<u8> {
        let opts = WriterOptions { chunk_bytes: 16 << 10, ..WriterOptions::default() };
        let mut w = Writer::new(Vec::new(), &SyntheticStream::header(), opts).expect("writer");
        for f in SyntheticStream::files() {
            w.write_metadata(&Metadata::File(f)).expect("file");
        }
        for t in SyntheticStream::threads() {
            w.write_metadata(&Metadata::Thread(t)).expect("thread");
        }
        for ev in SyntheticStream::new(7, 20_000).take(events) {
            w.push(&ev).expect("event");
        }
        w.into_inner().expect("finish")
    }

    /// The gathered figures against the trace's reads taken whole (`mysql_io_reads::collect`)
    /// and counted here another way: per role, per file, latencies, and runs by a plain sort.
    #[test]
    fn the_evidence_adds_up_to_the_reads() {
        let data = synthetic(200_000);
        let trace = Trace::parse(&data).expect("trace");
        assert!(trace.chunks().len() > 10, "{} chunks", trace.chunks().len());
        let ev = gather(&trace);
        let (reads, finished, damaged) = mysql_io_reads::collect(&trace);
        assert!(damaged.is_empty() && ev.damaged.is_empty());
        assert!(reads.len() > 1000, "{} reads", reads.len());
        assert_eq!(ev.reads, reads.len() as u64);

        let threads = names::threads(&trace);
        let mut per_role: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for r in &reads {
            let e = per_role.entry(names::role_of(&threads, r.tid)).or_default();
            e.0 += 1;
            e.1 += u64::from(r.end_ts.is_some());
        }
        assert_eq!(ev.roles.len(), per_role.len());
        for role in &ev.roles {
            let (n, timed) = per_role[&role.role];
            assert_eq!((role.reads, role.latency.len()), (n, timed), "{}", role.role);
            assert_eq!(role.per_bin.iter().sum::<u64>(), n, "{}: reads per bin", role.role);
        }
        assert!(ev.roles.windows(2).all(|w| w[0].reads >= w[1].reads));

        // Each file's cells hold its reads; no cell is outside the grid.
        assert!(!ev.files.is_empty());
        for f in &ev.files {
            let id = finished.files.iter().position(|k| {
                *k != FileKey::UNRESOLVED && {
                    let p = trace.files().iter().find(|i| i.dev == k.dev && i.ino == k.ino);
                    p.is_some_and(|p| p.path == f.path)
                }
            });
            let id = id.expect("the file") as u32;
            let n = reads.iter().filter(|r| r.file == id).count() as u64;
            assert_eq!(f.reads, n, "{}", f.path);
            assert_eq!(f.cells.iter().map(|c| c.reads).sum::<u64>(), n, "{}: cells", f.path);
            assert!(f.cells.iter().all(|c| c.t < TIME_BINS && c.o < OFFSET_BINS));
            assert_eq!(f.by_trigger.iter().sum::<u64>(), f.windows);
            assert!(f.drawn.len() <= MAX_WINDOWS && f.drawn.len() as u64 <= f.windows);
        }
        assert!(ev.files.iter().any(|f| f.windows > 0), "the synthetic stream reads ahead");

        // Runs, counted by sorting the reads by (stream, start, seq) and cutting where a read does
        // not start where the one before on its stream ended (or the file changes).
        let mut sorted: Vec<&mysql_io_reads::Read> = reads.iter().collect();
        sorted.sort_by_key(|r| (r.stream, r.start_ts, r.seq));
        let mut runs = [0u64; RUN_BUCKETS.len()];
        let mut n = 0u64;
        let mut prev: Option<(u32, u32, i64)> = None;
        for r in sorted {
            let len = match r.result {
                Some(x) if x >= 0 => x,
                _ => r.count as i64,
            };
            let continues = prev == Some((r.stream, r.file, r.pos));
            if !continues && n > 0 {
                runs[run_bucket(n)] += 1;
                n = 0;
            }
            n += 1;
            prev = Some((r.stream, r.file, r.pos + len));
        }
        runs[run_bucket(n)] += 1;
        assert_eq!(ev.runs, runs);
        assert!(runs[1..].iter().sum::<u64>() > 0, "some runs are longer than one read");
    }
}
