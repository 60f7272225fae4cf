//! Running the model over a trace's operations at one `read_ahead_kb` setting.

use mysql_io_format::FadviseAdvice;
use serde::Serialize;

use crate::input::{Input, Op};
use crate::model::{Counters, Decision, Engine, RaState, Stream, Variant};

/// Where the simulated page cache gets its contents from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The recorded inserts and deletions are replayed as they happened, besides the model's own
    /// inserts: cache residency is the kernel's, which isolates the readahead algorithm.
    Oracle,
    /// The model keeps its own cache: the inserts its decisions make, evicted by a CLOCK when
    /// the capacity is reached.
    Free,
}

/// One simulated setting's results, per file (indices of [`Input::files`]).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `read_ahead_kb` simulated (`None`: each file's recorded setting).
    pub ra_kb: Option<u64>,
    /// Counters per file.
    pub counters: Vec<Counters>,
    /// Read-ahead pages never read by the end, per file.
    pub unused_at_end: Vec<u64>,
    /// The model's decisions per file, when asked for.
    pub decisions: Option<Vec<Vec<Decision>>>,
}

/// One file's results from [`run_group`].
#[derive(Debug, Clone)]
pub(crate) struct FileRun {
    pub counters: Counters,
    /// Read-ahead pages never read by the end.
    pub unused_at_end: u64,
    /// The model's decisions, when asked for.
    pub decisions: Option<Vec<Decision>>,
}

/// How one run goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunSpec {
    /// `read_ahead_kb` (`None`: each file's recorded setting).
    pub ra_kb: Option<u64>,
    pub mode: Mode,
    pub variant: Variant,
    /// Cache capacity in pages (`None`: unbounded).
    pub capacity: Option<u64>,
    /// Keep the model's decisions.
    pub log: bool,
}

/// Runs the model for `files` over their operations (`ops`, in time order). Returns per-file
/// results in the order of `files`.
pub(crate) fn run_group(input: &Input, files: &[u32], ops: &[Op], spec: RunSpec) -> Vec<FileRun> {
    let RunSpec { ra_kb, mode, variant, capacity, log } = spec;
    // Dense tables, no hashing: a file's place in this group, and each stream's state.
    const NONE: u32 = u32::MAX;
    let mut local = vec![NONE; input.files.len()];
    for (i, &f) in files.iter().enumerate() {
        local[f as usize] = i as u32;
    }
    let geos =
        files.iter().map(|&f| (input.files[f as usize].geometry, input.files[f as usize].size)).collect();
    let mut e = Engine::new(variant, geos, capacity, log).with_ra_order(input.ra_order);
    for (l, &f) in files.iter().enumerate() {
        // Runs of consecutive pages (a read's pages) go in together, in the list's order.
        let cached = &input.cached_at_start[f as usize];
        let mut i = 0;
        while i < cached.len() {
            let mut n = 1;
            while i + n < cached.len() && cached[i + n] == cached[i] + n as u64 {
                n += 1;
            }
            e.cached_before(l as u32, cached[i], n as u64);
            i += n;
        }
        for &p in &input.marked_at_start[f as usize] {
            e.mark(l as u32, p);
        }
    }
    let bdi_pages = |file: u32| ra_kb.unwrap_or(input.files[file as usize].recorded_ra_kb) / 4;
    let fresh = |stream: u32| {
        let file = input.streams[stream as usize].file;
        Stream { file: local[file as usize], ra: RaState::opened(bdi_pages(file)), random: false }
    };
    // Streams not seen yet have `file == NONE`.
    let unseen = Stream { file: NONE, ra: RaState::default(), random: false };
    let mut streams: Vec<Stream> = vec![unseen; input.streams.len()];
    let state = |streams: &mut Vec<Stream>, stream: u32| -> usize {
        let i = stream as usize;
        if streams[i].file == NONE {
            streams[i] = fresh(stream);
        }
        i
    };
    for op in ops {
        match *op {
            Op::Read { stream, pos, count, copied } => {
                let i = state(&mut streams, stream);
                e.read_start(&mut streams[i], pos, count, copied);
            }
            Op::ReadDone { stream, end } => {
                let s = &mut streams[stream as usize];
                if s.file != NONE {
                    e.read_done(s, end);
                }
            }
            Op::Open { stream } => {
                streams[stream as usize] = fresh(stream);
            }
            Op::Fadvise { stream, advice, offset, len } => {
                let file = input.streams[stream as usize].file;
                let i = state(&mut streams, stream);
                let s = &mut streams[i];
                match advice {
                    FadviseAdvice::Normal => {
                        s.ra.ra_pages = bdi_pages(file);
                        s.random = false;
                    }
                    FadviseAdvice::Random => s.random = true,
                    FadviseAdvice::Sequential => {
                        s.ra.ra_pages = 2 * bdi_pages(file);
                        s.random = false;
                    }
                    FadviseAdvice::WillNeed => {
                        let s = *s;
                        e.willneed(&s, offset, len);
                    }
                    FadviseAdvice::DontNeed if mode == Mode::Free => {
                        let last = if len == 0 { u64::MAX >> 12 } else { (offset + len - 1) >> 12 };
                        e.remove(local[file as usize], offset.div_ceil(4096), last);
                    }
                    _ => {}
                }
            }
            Op::Add { file, index, pages } if mode == Mode::Oracle => {
                let l = local[file as usize];
                if l != NONE {
                    e.external(l, index, pages);
                }
            }
            Op::Delete { file, index, pages } if mode == Mode::Oracle => {
                let l = local[file as usize];
                if l != NONE {
                    e.remove(l, index, index + pages - 1);
                }
            }
            Op::Add { .. } | Op::Delete { .. } => {}
        }
    }
    let unused = e.unused();
    let mut decisions = e.log.take();
    e.counters
        .iter()
        .enumerate()
        .map(|(i, c)| FileRun {
            counters: *c,
            unused_at_end: unused[i],
            decisions: decisions.as_mut().map(|d| std::mem::take(&mut d[i])),
        })
        .collect()
}

/// The file each operation belongs to.
pub(crate) fn op_file(input: &Input, op: &Op) -> u32 {
    match *op {
        Op::Read { stream, .. }
        | Op::ReadDone { stream, .. }
        | Op::Open { stream }
        | Op::Fadvise { stream, .. } => input.streams[stream as usize].file,
        Op::Add { file, .. } | Op::Delete { file, .. } => file,
    }
}
