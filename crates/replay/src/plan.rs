//! What to replay: files, open file descriptions (streams) and each thread's reads.

use std::path::PathBuf;

/// The API a read is issued through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// `read(2)` at the description's file position (the recorded position is set first).
    Read,
    /// `pread64(2)`.
    Pread64,
    /// `readv(2)` at the description's file position.
    Readv,
    /// `preadv(2)`.
    Preadv,
    /// `preadv2(2)`.
    Preadv2,
    /// A Linux AIO read (`io_submit`).
    Aio,
    /// An io_uring read.
    Uring,
}

/// A file the replay reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFile {
    /// Path on this machine (already mapped).
    pub path: PathBuf,
    /// Size when recorded, in bytes.
    pub size: u64,
}

/// An open file description: opened once, shared by every thread that read through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanStream {
    /// Index into [`Plan::files`].
    pub file: u32,
    /// Opened with O_DIRECT.
    pub direct: bool,
}

/// One read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanRead {
    /// When it started, in ns after the first read of the plan started.
    pub at_ns: u64,
    /// Index into [`Plan::streams`].
    pub stream: u32,
    /// How it was issued.
    pub api: Api,
    /// Byte offset (for `read`/`readv`: the file position it read from).
    pub pos: u64,
    /// Bytes asked for.
    pub count: u32,
    /// AIO and io_uring: reads of one thread with the same batch were submitted by one call.
    /// Unused for the other APIs.
    pub batch: u32,
}

/// One recorded thread's reads, in recorded order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadPlan {
    /// The recorded thread id (for reports).
    pub tid: u32,
    /// Its reads, sorted by `at_ns` (ties keep recorded order).
    pub reads: Vec<PlanRead>,
}

/// Everything a replay issues.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Files, indexed by [`PlanStream::file`].
    pub files: Vec<PlanFile>,
    /// Descriptions, indexed by [`PlanRead::stream`].
    pub streams: Vec<PlanStream>,
    /// Threads.
    pub threads: Vec<ThreadPlan>,
}

impl Plan {
    /// Reads in all threads.
    pub fn reads(&self) -> usize {
        self.threads.iter().map(|t| t.reads.len()).sum()
    }

    /// Start of the last read, in ns after the first.
    pub fn span_ns(&self) -> u64 {
        self.threads.iter().filter_map(|t| t.reads.last()).map(|r| r.at_ns).max().unwrap_or(0)
    }
}
