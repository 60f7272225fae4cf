//! `analyze statements`: which client commands the reads were made for.
//!
//! A trace recorded with `record --statements` holds one `statement` event per client command a
//! server thread dispatched, written when the command returned: its time `ts` is the end, and the
//! command began `latency_ns` before it. The Dataset pass keeps these events (they are few beside
//! the reads) in [`Dataset::statements`].
//!
//! Attribution: a read belongs to the statement that was running on the same thread (process and
//! thread id) when the read started, that is whose interval `[ts - latency_ns, ts]` holds the
//! read's start (the reads frame's `ts`, for every API). A thread runs one command at a time; if
//! two recorded intervals of one thread overlap anyway, the one that began last wins. Reads that
//! no statement holds are never guessed at; they fall into one of two rows of their own:
//! - *outside statements*: the thread ran statements during the trace, but none when this read
//!   started (connection setup, work between commands, a statement whose event was lost);
//! - *background*: the thread ran no statement during the whole trace (InnoDB's own threads: I/O,
//!   purge, page cleaners, read-ahead; the server's other threads).
//!
//! Statements are grouped by digest (the normalised text's hash): the statements of one digest
//! are the same statement with other literals. Without a digest (0) a command either names a
//! statement prepared before the recording began (its text was never seen: grouped by connection
//! and statement id) or carries no statement text at all (ping, quit...: grouped by command).
//!
//! With `--since`/`--until`, reads are kept by their start as in every analysis, and a statement
//! is counted when its interval overlaps the window (every statement that holds a kept read
//! does). `--file` selects reads only: statements are counted whatever they read.

use std::collections::BTreeMap;

use mysql_io_format::{server_command_name, ChunkColumns, EventKind, ProbeMode, Trace};
use mysql_io_reads::sequence::{stream_order, Walk};
use mysql_io_reads::{API_AIO, API_URING};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use mysql_io_sim::{Accounting, Fate};

use crate::dataset::{values, Dataset, Filter};
use crate::latency::LatencyHistogram;
use crate::AnalyzeError;

/// One client command a server thread ran, as the trace recorded it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatementEvent {
    /// When the command returned (trace-clock ns).
    pub ts: u64,
    /// Nanoseconds from dispatch to return: the command began at `ts - latency_ns`.
    pub latency_ns: u64,
    /// The server process.
    pub pid: u32,
    /// The thread that ran the command.
    pub tid: u32,
    /// The client command (`enum_server_command`, see [`server_command_name`]).
    pub command: u8,
    /// The connection (the recorder's small number for it; 0 when not known).
    pub conn: u64,
    /// Prepared statement id of the commands that name one; 0 otherwise.
    pub stmt_id: u32,
    /// FNV-1a hash of `digest_text` (for an execute, of the prepared statement's); 0 without text.
    pub digest: u64,
    /// The statement normalised (literals replaced by `?`); empty in a redacted trace.
    pub digest_text: String,
    /// The raw text (only with `record --sql-text`).
    pub sql: String,
    /// Bytes of statement text the client sent.
    pub text_len: u32,
}

impl StatementEvent {
    /// When the command began.
    pub fn start(&self) -> u64 {
        self.ts.saturating_sub(self.latency_ns)
    }

    /// Whether the command ran at some time in `[from, to)`.
    fn overlaps(&self, (from, to): (u64, u64)) -> bool {
        self.start() < to && self.ts >= from
    }
}

/// The statement events of one decoded chunk, in file order.
pub(crate) fn from_chunk(c: &ChunkColumns) -> Vec<StatementEvent> {
    const K: EventKind = EventKind::Statement;
    let n = c.rows(K);
    if n == 0 {
        return Vec::new();
    }
    let fields = ["command", "latency_ns", "conn", "stmt_id", "digest", "digest_text", "sql", "text_len"]
        .map(|f| K.column_index(f));
    let [Some(command), Some(latency), Some(conn), Some(stmt_id), Some(digest), Some(text), Some(sql), Some(len)] =
        fields
    else {
        return Vec::new();
    };
    let (command_v, latency_v, conn_v, stmt_v, digest_v, len_v) = (
        c.column(K, command),
        c.column(K, latency),
        c.column(K, conn),
        c.column(K, stmt_id),
        c.column(K, digest),
        c.column(K, len),
    );
    let (ts, pid, tid) = (c.ts(), c.pid(), c.tid());
    let code = K.code();
    let mut out = Vec::with_capacity(n);
    for (i, _) in c.kind_codes().iter().enumerate().filter(|(_, &k)| k == code) {
        let r = out.len();
        out.push(StatementEvent {
            ts: ts[i],
            latency_ns: latency_v[r],
            pid: pid[i],
            tid: tid[i],
            command: command_v[r] as u8,
            conn: conn_v[r],
            stmt_id: stmt_v[r] as u32,
            digest: digest_v[r],
            digest_text: c.text(K, text, r),
            sql: c.text(K, sql, r),
            text_len: len_v[r] as u32,
        });
    }
    out
}

/// Whether the trace holds statement events (from its chunk index, without decoding).
pub fn recorded(trace: &Trace<'_>) -> bool {
    let code = EventKind::Statement.code();
    trace.chunks().iter().any(|c| c.info.kind_counts.iter().any(|&(k, n)| k == code && n > 0))
}

/// Whether the recorder captured statements (`record --statements`), whether or not any ran.
pub fn probed(trace: &Trace<'_>) -> bool {
    trace.header().probe(EventKind::Statement).is_some_and(|p| p.mode != ProbeMode::Off)
}

/// [`owners`]' value for a read that started on a statement thread between its statements.
pub const OUTSIDE: u32 = u32::MAX - 1;
/// [`owners`]' value for a read on a thread that ran no statement in the trace.
pub const BACKGROUND: u32 = u32::MAX;

/// One thread's statements in order of their start.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u64,
    end: u64,
    /// The latest end among this span and those before it.
    reach: u64,
    /// Index into [`Dataset::statements`].
    idx: u32,
}

/// Every statement thread's spans.
#[derive(Debug, Default)]
struct Timelines(FxHashMap<(u32, u32), Vec<Span>>);

impl Timelines {
    fn of(statements: &[StatementEvent]) -> Self {
        let mut map: FxHashMap<(u32, u32), Vec<Span>> = FxHashMap::default();
        for (idx, s) in statements.iter().enumerate() {
            map.entry((s.pid, s.tid)).or_default().push(Span {
                start: s.start(),
                end: s.ts,
                reach: 0,
                idx: idx as u32,
            });
        }
        for spans in map.values_mut() {
            spans.sort_by_key(|s| (s.start, s.idx));
            let mut reach = 0;
            for s in spans.iter_mut() {
                reach = reach.max(s.end);
                s.reach = reach;
            }
        }
        Timelines(map)
    }

    /// The statement of `spans` running at `t`: of those holding it, the one that began last.
    fn find(spans: &[Span], t: u64) -> u32 {
        let mut i = spans.partition_point(|s| s.start <= t);
        while i > 0 {
            i -= 1;
            let s = &spans[i];
            if s.reach < t {
                break;
            }
            if s.end >= t {
                return s.idx;
            }
        }
        OUTSIDE
    }
}

/// The owner of every read of `ds`, by row: the index into [`Dataset::statements`] of the
/// statement running on its thread when it started, or [`OUTSIDE`], or [`BACKGROUND`].
pub fn owners(ds: &Dataset) -> Result<Vec<u32>, AnalyzeError> {
    owners_in(ds, &Timelines::of(&ds.statements))
}

/// [`owners`], with the statement threads' `timelines` already built.
fn owners_in(ds: &Dataset, timelines: &Timelines) -> Result<Vec<u32>, AnalyzeError> {
    let (ts, _) = values(ds.reads.column("ts")?.u64()?)?;
    let (pid, _) = values(ds.reads.column("pid")?.u32()?)?;
    let (tid, _) = values(ds.reads.column("tid")?.u32()?)?;
    let mut out = Vec::with_capacity(ts.len());
    // Reads come in runs of one thread: its spans are looked up once a run.
    let mut last: Option<((u32, u32), &[Span])> = None;
    for i in 0..ts.len() {
        let key = (pid[i], tid[i]);
        let spans = match last {
            Some((k, spans)) if k == key => spans,
            _ => {
                // A thread without statements has no spans.
                let spans = timelines.0.get(&key).map_or(&[][..], Vec::as_slice);
                last = Some((key, spans));
                spans
            }
        };
        out.push(if spans.is_empty() { BACKGROUND } else { Timelines::find(spans, ts[i]) });
    }
    Ok(out)
}

/// What became of the pages the reads of each owner (as [`owners`]: a statement's index,
/// [`OUTSIDE`] or [`BACKGROUND`]) read ahead: one more pass over `trace` following every
/// read-ahead page from the insert that brought it in (inside `ds.window`) to its first read,
/// its eviction or the trace's end. A page belongs to the statement running on the inserting
/// thread when it was inserted, as a read does; `filter`'s file pattern chooses the files.
fn readahead_fates(
    trace: &Trace<'_>,
    ds: &Dataset,
    timelines: &Timelines,
    filter: &Filter,
) -> Result<(FxHashMap<u32, Fate>, Vec<String>), AnalyzeError> {
    let select = filter.file_matcher()?;
    let mut pass = Accounting::new(trace, ds.window.0, ds.window.1).with_inserters();
    let mut warnings = Vec::new();
    trace.map_in_order(
        0,
        |_, cols| std::mem::take(cols),
        |_, cols| match cols {
            Ok(cols) => pass.chunk(&cols),
            Err(e) => warnings.push(format!("{e}: its events are left out of the readahead used and wasted")),
        },
    );
    let (_, fates) = pass.finish_with_inserters();
    let paths: FxHashMap<(u32, u64), &str> =
        trace.files().iter().map(|f| ((f.dev, f.ino), f.path.as_str())).collect();
    // Inserts carry a thread id only: thread ids are unique among the traced processes.
    let by_tid: FxHashMap<u32, &[Span]> =
        timelines.0.iter().map(|(&(_, tid), v)| (tid, v.as_slice())).collect();
    let mut out: FxHashMap<u32, Fate> = FxHashMap::default();
    for (who, fate) in fates {
        let (dev, ino) = who.file;
        let chosen = match paths.get(&who.file) {
            Some(p) => select(p),
            None => select(&format!("{dev}:{ino}")),
        };
        if !chosen {
            continue;
        }
        let owner = match by_tid.get(&who.tid) {
            Some(spans) => Timelines::find(spans, who.ts),
            None => BACKGROUND,
        };
        let o = out.entry(owner).or_default();
        o.used += fate.used;
        o.wasted += fate.wasted;
    }
    Ok((out, warnings))
}

/// How `analyze statements` groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatementsBy {
    /// By statement digest (the default).
    Digest,
    /// By server thread.
    Thread,
}

impl StatementsBy {
    /// Parses `digest|thread`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "digest" => Some(StatementsBy::Digest),
            "thread" => Some(StatementsBy::Thread),
            _ => None,
        }
    }
}

/// What a row of the per-digest table stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// The statements of one digest.
    Digest,
    /// The executes (fetches, closes) of one statement prepared before the recording began.
    Prepared,
    /// Commands of one kind that carry no statement text (ping, quit, ...).
    Command,
    /// Reads on statement threads that no statement was running for.
    OutsideStatements,
    /// Reads on threads that ran no statement.
    Background,
}

impl RowKind {
    /// Its name in CSV and JSON.
    pub fn name(self) -> &'static str {
        match self {
            RowKind::Digest => "digest",
            RowKind::Prepared => "prepared",
            RowKind::Command => "command",
            RowKind::OutsideStatements => "outside_statements",
            RowKind::Background => "background",
        }
    }
}

/// A group of statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Digest(u64),
    Prepared { conn: u64, stmt_id: u32 },
    Command(u8),
}

impl Key {
    fn of(s: &StatementEvent) -> Key {
        if s.digest != 0 {
            Key::Digest(s.digest)
        } else if s.stmt_id != 0 {
            Key::Prepared { conn: s.conn, stmt_id: s.stmt_id }
        } else {
            Key::Command(s.command)
        }
    }

    fn kind(self) -> RowKind {
        match self {
            Key::Digest(_) => RowKind::Digest,
            Key::Prepared { .. } => RowKind::Prepared,
            Key::Command(_) => RowKind::Command,
        }
    }
}

/// Statements grouped: each statement's group, and each group's key and label.
#[derive(Debug)]
pub(crate) struct Groups {
    /// Group of each statement (index into `keys`).
    pub(crate) of: Vec<u32>,
    keys: Vec<Key>,
    /// What each group is, as the table prints it.
    pub(crate) labels: Vec<String>,
}

impl Groups {
    pub(crate) fn of(statements: &[StatementEvent]) -> Groups {
        let mut ids: FxHashMap<Key, u32> = FxHashMap::default();
        let mut keys = Vec::new();
        let mut texts: Vec<Option<&str>> = Vec::new();
        let of = statements
            .iter()
            .map(|s| {
                let key = Key::of(s);
                let g = *ids.entry(key).or_insert_with(|| {
                    keys.push(key);
                    texts.push(None);
                    keys.len() as u32 - 1
                });
                let text = &mut texts[g as usize];
                if text.is_none() && !s.digest_text.is_empty() {
                    *text = Some(&s.digest_text);
                }
                g
            })
            .collect();
        let labels = keys.iter().zip(&texts).map(|(&k, &t)| label(k, t)).collect();
        Groups { of, keys, labels }
    }
}

/// The text the table shows for a group: its normalised statement (the first recorded), or what
/// stands in for it.
fn label(key: Key, text: Option<&str>) -> String {
    match (key, text) {
        (Key::Digest(_), Some(t)) => t.to_string(),
        (Key::Digest(_), None) => "(redacted)".into(),
        (Key::Prepared { conn: 0, stmt_id }, _) => format!("(prepared before the recording, id {stmt_id})"),
        (Key::Prepared { conn, stmt_id }, _) => {
            format!("(prepared before the recording, id {stmt_id}, connection {conn})")
        }
        (Key::Command(c), _) => match server_command_name(c) {
            "other" => format!("(command {c}, no statement text)"),
            name => format!("({name}, no statement text)"),
        },
    }
}

/// The label of the reads no statement holds.
pub const OUTSIDE_LABEL: &str = "outside statements";
/// The label of the reads of threads that ran no statement.
pub const BACKGROUND_LABEL: &str = "background";

/// Commands per name, e.g. `{"stmt_execute": 1200, "stmt_prepare": 4}`.
pub type CommandCounts = BTreeMap<&'static str, u64>;

/// One statement group, or the reads outside statements, or the background reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementRow {
    /// What the row stands for.
    pub kind: RowKind,
    /// The digest in 16 hex digits (`0000000000000000` for statements without one); null for the
    /// outside-statements and background rows.
    pub digest: Option<String>,
    /// The normalised statement, `(redacted)` when the trace keeps digests only, a stand-in
    /// without text, `outside statements` or `background`.
    pub statement: String,
    /// Statements run (overlapping the time window).
    pub statements: u64,
    /// Statements per client command.
    pub commands: CommandCounts,
    /// Their latency summed, milliseconds.
    pub total_latency_ms: f64,
    /// Their mean latency, microseconds; null without statements.
    pub mean_latency_us: Option<f64>,
    /// Their 99th percentile latency, microseconds (within 1.6%); null without statements.
    pub p99_latency_us: Option<f64>,
    /// Reads attributed.
    pub reads: u64,
    /// Bytes those reads returned (asked, when the result was not recorded).
    pub bytes: u64,
    /// Pages those reads inserted into the page cache: read from disk, readahead included.
    pub pages_from_disk: u64,
    /// Share of those reads that started where the previous read on their open file description
    /// ended (`analyze sequentiality`'s `seq_ratio`); null without reads.
    pub seq_ratio: Option<f64>,
    /// Sync readahead decisions the reads triggered.
    pub ra_sync: u64,
    /// Async readahead decisions the reads triggered.
    pub ra_async: u64,
    /// `ra_sync + ra_async`.
    pub readahead_triggered: u64,
    /// Pages the reads' threads read ahead while the statements ran that were read later while
    /// cached.
    pub ra_used: u64,
    /// Pages the reads' threads read ahead while the statements ran that were never read: evicted
    /// first, or unread when the trace ends.
    pub ra_wasted: u64,
}

/// One server thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementThreadRow {
    /// `tid N`.
    pub thread: String,
    /// Process.
    pub pid: u32,
    /// Thread.
    pub tid: u32,
    /// Kernel name.
    pub comm: String,
    /// Role (as `analyze threads`).
    pub role: String,
    /// Statements it ran (overlapping the time window).
    pub statements: u64,
    /// Statement groups (digests) among them.
    pub digests: u64,
    /// Reads it started.
    pub reads: u64,
    /// Of those, reads that started inside one of its statements.
    pub reads_in_statements: u64,
    /// Bytes its reads returned.
    pub bytes: u64,
    /// Pages its reads inserted into the page cache.
    pub pages_from_disk: u64,
    /// `reads_in_statements / reads`; null without reads.
    pub in_statements_ratio: Option<f64>,
}

/// The result of `analyze statements`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementsReport {
    /// How the table groups.
    pub by: StatementsBy,
    /// Statements run (overlapping the time window).
    pub statements: u64,
    /// Reads in all.
    pub reads: u64,
    /// Reads that started inside a statement.
    pub reads_in_statements: u64,
    /// Statement groups, most pages read from disk first, then most reads.
    pub rows: Vec<StatementRow>,
    /// Reads on statement threads outside their statements.
    pub outside_statements: StatementRow,
    /// Reads on threads that ran no statement.
    pub background: StatementRow,
    /// Threads that read or ran statements, most pages read from disk first.
    pub threads: Vec<StatementThreadRow>,
    /// What limits the answer.
    pub warnings: Vec<String>,
}

/// Sums of one group.
#[derive(Debug, Default)]
struct Acc {
    statements: u64,
    commands: CommandCounts,
    lat_sum: u128,
    latency: LatencyHistogram,
    reads: u64,
    bytes: u64,
    pages: u64,
    seq: u64,
    ra_sync: u64,
    ra_async: u64,
    ra_used: u64,
    ra_wasted: u64,
}

impl Acc {
    fn row(&self, kind: RowKind, digest: Option<String>, statement: String) -> StatementRow {
        let n = self.statements;
        StatementRow {
            kind,
            digest,
            statement,
            statements: n,
            commands: self.commands.clone(),
            total_latency_ms: self.lat_sum as f64 / 1e6,
            mean_latency_us: (n > 0).then(|| self.lat_sum as f64 / n as f64 / 1e3),
            p99_latency_us: self.latency.percentile(99).map(|ns| ns as f64 / 1e3),
            reads: self.reads,
            bytes: self.bytes,
            pages_from_disk: self.pages,
            seq_ratio: (self.reads > 0).then(|| self.seq as f64 / self.reads as f64),
            ra_sync: self.ra_sync,
            ra_async: self.ra_async,
            readahead_triggered: self.ra_sync + self.ra_async,
            ra_used: self.ra_used,
            ra_wasted: self.ra_wasted,
        }
    }
}

/// Sums of one thread.
#[derive(Debug, Default)]
struct ThreadAcc {
    statements: u64,
    digests: FxHashSet<u32>,
    reads: u64,
    in_statements: u64,
    bytes: u64,
    pages: u64,
}

/// Per thread sums, in order of first appearance (reads come in runs of one thread: the last
/// thread is looked up first).
#[derive(Debug, Default)]
struct ThreadSums {
    ids: FxHashMap<(u32, u32), usize>,
    sums: Vec<((u32, u32), ThreadAcc)>,
    last: Option<((u32, u32), usize)>,
}

impl ThreadSums {
    fn get(&mut self, key: (u32, u32)) -> &mut ThreadAcc {
        let i = match self.last {
            Some((k, i)) if k == key => i,
            _ => {
                let next = self.sums.len();
                let i = *self.ids.entry(key).or_insert(next);
                if i == next {
                    self.sums.push((key, ThreadAcc::default()));
                }
                self.last = Some((key, i));
                i
            }
        };
        &mut self.sums[i].1
    }
}

/// Whether each read (by row) starts where the previous read on its open file description
/// ended, as `analyze sequentiality` judges it.
fn sequential(ds: &Dataset) -> Result<Vec<bool>, AnalyzeError> {
    let r = &ds.reads;
    let (stream, _) = values(r.column("stream")?.u32()?)?;
    let (ts, _) = values(r.column("ts")?.u64()?)?;
    let (pos, _) = values(r.column("pos")?.i64()?)?;
    let (count, _) = values(r.column("count")?.u32()?)?;
    let (ret, known) = values(r.column("ret")?.i32()?)?;
    let mut out = vec![false; stream.len()];
    let mut walk = Walk::new();
    for row in stream_order(stream, ts) {
        let i = row as usize;
        let (step, _) = walk.step(stream[i], pos[i], length(i, ret, known, count), 0);
        out[i] = step.sequential();
    }
    Ok(out)
}

/// Bytes read `i` returned, or asked for when its result is unknown or an error (as
/// `analyze sequentiality` counts them).
fn length(i: usize, ret: &[i32], known: Option<&polars_arrow::bitmap::Bitmap>, count: &[u32]) -> i64 {
    match known.is_none_or(|v| v.get_bit(i)) {
        true if ret[i] >= 0 => i64::from(ret[i]),
        _ => i64::from(count[i]),
    }
}

/// `analyze statements`: the reads of `ds` (loaded from `trace` with `filter`) attributed to the
/// statements running on their thread when they started, summed per statement group and per
/// thread, with the readahead they started and what became of it.
pub fn statements(
    trace: &Trace<'_>,
    ds: &Dataset,
    filter: &Filter,
    by: StatementsBy,
) -> Result<StatementsReport, AnalyzeError> {
    let groups = Groups::of(&ds.statements);
    let mut acc: Vec<Acc> = (0..groups.keys.len()).map(|_| Acc::default()).collect();
    let (mut outside, mut background) = (Acc::default(), Acc::default());
    let mut threads = ThreadSums::default();

    let mut counted = 0;
    for (s, &g) in ds.statements.iter().zip(&groups.of) {
        if !s.overlaps(ds.window) {
            continue;
        }
        counted += 1;
        let a = &mut acc[g as usize];
        a.statements += 1;
        *a.commands.entry(server_command_name(s.command)).or_default() += 1;
        a.lat_sum += u128::from(s.latency_ns);
        a.latency.record(s.latency_ns);
        let t = threads.get((s.pid, s.tid));
        t.statements += 1;
        t.digests.insert(g);
    }

    let timelines = Timelines::of(&ds.statements);
    let owner = owners_in(ds, &timelines)?;
    let seq = sequential(ds)?;
    let r = &ds.reads;
    let (pid, _) = values(r.column("pid")?.u32()?)?;
    let (tid, _) = values(r.column("tid")?.u32()?)?;
    let (count, _) = values(r.column("count")?.u32()?)?;
    let (ret, known) = values(r.column("ret")?.i32()?)?;
    let (inserted, _) = values(r.column("pages_inserted")?.u32()?)?;
    let (ra_sync, _) = values(r.column("ra_sync")?.u16()?)?;
    let (ra_async, _) = values(r.column("ra_async")?.u16()?)?;
    let (api, _) = values(r.column("api")?.u8()?)?;
    let direct = r.column("direct")?.bool()?;
    let (mut served_elsewhere, mut direct_inside, mut inside) = (0u64, 0u64, 0u64);
    for (i, is_direct) in direct.iter().enumerate() {
        let o = owner[i];
        let a = match o {
            OUTSIDE => &mut outside,
            BACKGROUND => &mut background,
            s => {
                inside += 1;
                served_elsewhere += u64::from(api[i] == API_AIO || api[i] == API_URING);
                direct_inside += u64::from(is_direct == Some(true));
                &mut acc[groups.of[s as usize] as usize]
            }
        };
        let bytes = length(i, ret, known, count).max(0) as u64;
        a.reads += 1;
        a.bytes += bytes;
        a.pages += u64::from(inserted[i]);
        a.seq += u64::from(seq[i]);
        a.ra_sync += u64::from(ra_sync[i]);
        a.ra_async += u64::from(ra_async[i]);
        let t = threads.get((pid[i], tid[i]));
        t.reads += 1;
        t.in_statements += u64::from(o < OUTSIDE);
        t.bytes += bytes;
        t.pages += u64::from(inserted[i]);
    }

    let (fates, fate_warnings) = readahead_fates(trace, ds, &timelines, filter)?;
    for (&o, fate) in &fates {
        let a = match o {
            OUTSIDE => &mut outside,
            BACKGROUND => &mut background,
            s => &mut acc[groups.of[s as usize] as usize],
        };
        a.ra_used += fate.used;
        a.ra_wasted += fate.wasted;
    }

    let mut rows: Vec<StatementRow> = acc
        .iter()
        .zip(&groups.keys)
        .zip(&groups.labels)
        .filter(|((a, _), _)| a.statements > 0 || a.reads > 0)
        .map(|((a, &key), label)| {
            let digest = match key {
                Key::Digest(d) => d,
                _ => 0,
            };
            a.row(key.kind(), Some(format!("{digest:016x}")), label.clone())
        })
        .collect();
    rows.sort_by(|a, b| {
        b.pages_from_disk
            .cmp(&a.pages_from_disk)
            .then(b.reads.cmp(&a.reads))
            .then(b.statements.cmp(&a.statements))
            .then_with(|| a.statement.cmp(&b.statement))
    });
    let mut threads: Vec<StatementThreadRow> = threads
        .sums
        .into_iter()
        .map(|((pid, tid), t)| StatementThreadRow {
            thread: format!("tid {tid}"),
            pid,
            tid,
            comm: ds.comm_of(tid),
            role: ds.role_of(tid),
            statements: t.statements,
            digests: t.digests.len() as u64,
            reads: t.reads,
            reads_in_statements: t.in_statements,
            bytes: t.bytes,
            pages_from_disk: t.pages,
            in_statements_ratio: (t.reads > 0).then(|| t.in_statements as f64 / t.reads as f64),
        })
        .collect();
    threads.sort_by(|a, b| {
        b.pages_from_disk
            .cmp(&a.pages_from_disk)
            .then(b.reads.cmp(&a.reads))
            .then((a.pid, a.tid).cmp(&(b.pid, b.tid)))
    });

    let mut warnings = ds.warnings.clone();
    warnings.extend(fate_warnings);
    if ds.lost_statements > 0 {
        warnings.push(format!(
            "{} statement events were lost while recording: the reads of those statements count as outside statements",
            ds.lost_statements
        ));
    }
    if counted == 0 {
        warnings.push(if ds.statements.is_empty() {
            "no client command ran while recording: every read is background".to_string()
        } else {
            "no statement ran in this time window: no read is attributed to one".to_string()
        });
    }
    if served_elsewhere > 0 {
        warnings.push(format!(
            "{served_elsewhere} reads inside statements went through AIO or io_uring: the kernel serves them \
             outside the thread, so the pages they read from disk and the readahead they caused are not counted \
             for their statement"
        ));
    }
    if direct_inside > 0 {
        warnings.push(format!(
            "{direct_inside} reads inside statements used O_DIRECT: they read every byte from the device without \
             the page cache, and pages from disk counts page-cache inserts only (their bytes are in bytes)"
        ));
    }
    Ok(StatementsReport {
        by,
        statements: counted,
        reads: owner.len() as u64,
        reads_in_statements: inside,
        rows,
        outside_statements: outside.row(RowKind::OutsideStatements, None, OUTSIDE_LABEL.into()),
        background: background.row(RowKind::Background, None, BACKGROUND_LABEL.into()),
        threads,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load, Filter};
    use mysql_io_format::{
        Event, FileInfo, FileRef, Header, Metadata, PageCacheAdd, PageCacheDelete, RaState, RaTrigger, Read,
        ReadSyscall, ReadaheadTrigger, Statement, ThreadInfo, Writer, WriterOptions,
    };

    const DEV: u32 = 8 << 20;
    const PID: u32 = 1;
    /// The connection thread, and InnoDB's I/O thread.
    const CONN: u32 = 10;
    const IO: u32 = 20;
    const SELECT: &str = "SELECT c FROM t WHERE id = ?";

    /// A trace being written: reads (with the pages they insert and a sync readahead decision)
    /// and statements, each event at its return.
    struct Rec(Writer<Vec<u8>>);

    impl Rec {
        fn new() -> Rec {
            let opts = WriterOptions { chunk_bytes: 150, ..WriterOptions::default() };
            let mut w = Writer::new(Vec::new(), &Header::default(), opts).expect("writer");
            for (ino, path) in [(1, "/data/db/t.ibd"), (2, "/data/ibdata1")] {
                let f = FileInfo { dev: DEV, ino, path: path.into(), ..FileInfo::default() };
                w.write_metadata(&Metadata::File(f)).expect("meta");
            }
            for (tid, comm) in [(CONN, "one_connection"), (IO, "ib_io_rd-1")] {
                let t = ThreadInfo { pid: PID, tid, comm: comm.into(), ..ThreadInfo::default() };
                w.write_metadata(&Metadata::Thread(t)).expect("meta");
            }
            Rec(w)
        }

        fn push(&mut self, ts: u64, tid: u32, body: impl Into<mysql_io_format::EventBody>) {
            self.0.push(&Event { ts, pid: PID, tid, cpu: 0, body: body.into() }).expect("push");
        }

        /// A 16 KiB pread64 of file `ino` at `pos`, from `start` for 50 us, that inserts `pages`
        /// pages (and makes a sync readahead decision when it inserts any).
        fn read(&mut self, tid: u32, start: u64, ino: u64, pos: i64, pages: u64) {
            if pages > 0 {
                let state = RaState::default();
                let index = pos as u64 / 4096;
                let trig =
                    ReadaheadTrigger { trigger: RaTrigger::Sync, dev: DEV, ino, index, req_count: 4, state };
                self.push(start + 1_000, tid, trig);
                for p in 0..pages {
                    self.push(start + 2_000, tid, PageCacheAdd { dev: DEV, ino, index: index + p, order: 0 });
                }
            }
            let read = Read {
                syscall: ReadSyscall::Pread64,
                fd: 5,
                file: FileRef { dev: DEV, ino, ofd: ino, flags: 0 },
                pos,
                count: 16384,
                iovcnt: 1,
                rw_flags: 0,
                ret: 16384,
                latency_ns: 50_000,
                lookups: 1,
                first_page: pos as u64 / 4096,
                last_page: pos as u64 / 4096 + 3,
            };
            self.push(start + 50_000, tid, read);
        }

        /// A command from `start` to `end` on the connection thread.
        fn statement(&mut self, start: u64, end: u64, command: u8, stmt_id: u32, text: &str, redact: bool) {
            let digest = if text.is_empty() { 0 } else { fnv(text) };
            let s = Statement {
                command,
                latency_ns: end - start,
                conn: 3,
                stmt_id,
                digest,
                digest_text: if redact { String::new() } else { text.into() },
                sql: String::new(),
                text_len: text.len() as u32,
            };
            self.push(end, CONN, s);
            self.0.flush().expect("flush");
        }

        fn finish(self) -> Vec<u8> {
            self.0.into_inner().expect("finish")
        }
    }

    fn fnv(s: &str) -> u64 {
        s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
    }

    /// Two runs of one query (three reads), a read between them, an execute of a statement
    /// prepared before the recording (one read), a ping (none); two reads of InnoDB's I/O thread.
    fn workload(redact: bool) -> Vec<u8> {
        let ms = 1_000_000;
        let mut r = Rec::new();
        r.read(IO, ms / 2, 2, 0, 1);
        // The first read starts when the statement does: it is the statement's.
        r.read(CONN, ms, 1, 0, 4);
        r.read(CONN, ms + 200_000, 1, 16384, 4);
        r.statement(ms, 2 * ms, 3, 0, SELECT, redact);
        r.read(CONN, 2 * ms + 500_000, 1, 32768, 0);
        r.read(CONN, 3 * ms + 100_000, 1, 1 << 20, 2);
        r.statement(3 * ms, 3 * ms + 500_000, 3, 0, SELECT, redact);
        r.read(CONN, 4 * ms + 100_000, 1, (1 << 20) + 16384, 0);
        r.statement(4 * ms, 5 * ms, 23, 7, "", redact);
        r.statement(5 * ms + 100_000, 5 * ms + 200_000, 14, 0, "", redact);
        r.read(IO, 6 * ms, 2, 1 << 20, 4);
        r.finish()
    }

    fn analyze(bytes: &[u8], filter: &Filter, by: StatementsBy) -> (Dataset, StatementsReport) {
        let t = Trace::parse(bytes).expect("parse");
        assert!(t.chunks().len() > 3, "the test wants statements and reads in several chunks");
        let ds = load(&t, filter).expect("load");
        let r = statements(&t, &ds, filter, by).expect("statements");
        (ds, r)
    }

    fn row<'a>(r: &'a StatementsReport, statement: &str) -> &'a StatementRow {
        r.rows.iter().find(|x| x.statement == statement).unwrap_or_else(|| panic!("no row {statement}"))
    }

    #[test]
    fn readahead_is_used_or_wasted_for_the_statement_whose_read_started_it() {
        let ms = 1_000_000;
        let mut r = Rec::new();
        // The statement's read asks for pages 0-3 of t.ibd and inserts 0-11: 8 pages read ahead.
        r.read(CONN, ms + 100_000, 1, 0, 12);
        r.statement(ms, 2 * ms, 3, 0, SELECT, false);
        // After it, on the same thread: pages 4-7 read (used); 8 and 9 evicted unread; 10 and 11
        // never read.
        r.read(CONN, 3 * ms, 1, 16384, 0);
        r.0.flush().expect("flush");
        for index in [8, 9] {
            r.push(4 * ms, IO, PageCacheDelete { dev: DEV, ino: 1, index, order: 0 });
        }
        r.0.flush().expect("flush");
        r.statement(4 * ms, 4 * ms + 10_000, 14, 0, "", false);
        // InnoDB's thread reads ahead 4 pages of ibdata1 that nothing reads.
        r.read(IO, 5 * ms, 2, 0, 8);
        r.statement(6 * ms, 6 * ms + 10_000, 14, 0, "", false);
        let bytes = r.finish();

        let (_, all) = analyze(&bytes, &Filter::default(), StatementsBy::Digest);
        let select = row(&all, SELECT);
        assert_eq!((select.ra_sync, select.ra_used, select.ra_wasted), (1, 4, 4));
        let (out, bg) = (&all.outside_statements, &all.background);
        assert_eq!((out.reads, out.ra_used, out.ra_wasted), (1, 0, 0));
        assert_eq!((bg.reads, bg.ra_used, bg.ra_wasted), (1, 0, 4));

        // The file pattern chooses the pages as it chooses the reads.
        let ibdata = Filter { file: Some("ibdata1".into()), ..Filter::default() };
        let (_, only) = analyze(&bytes, &ibdata, StatementsBy::Digest);
        assert_eq!((row(&only, SELECT).ra_used, row(&only, SELECT).ra_wasted), (0, 0));
        assert_eq!(only.background.ra_wasted, 4);

        // A window after the statement's read: its pages are not counted, used or not.
        let late = Filter { since: Some(std::time::Duration::from_millis(2)), ..Filter::default() };
        let (_, after) = analyze(&bytes, &late, StatementsBy::Digest);
        assert!(after.rows.iter().all(|x| x.ra_used + x.ra_wasted == 0), "{:?}", after.rows);
        assert_eq!(after.background.ra_wasted, 4);
    }

    #[test]
    fn reads_belong_to_the_statement_running_on_their_thread_when_they_started() {
        let bytes = workload(false);
        let (ds, r) = analyze(&bytes, &Filter::default(), StatementsBy::Digest);
        assert_eq!(ds.statements.len(), 4);
        assert!(recorded(&Trace::parse(&bytes).expect("parse")));
        // Reads in file order: IO, CONN x2 (first statement), CONN (between), CONN (second),
        // CONN (execute), IO.
        assert_eq!(owners(&ds).expect("owners"), [BACKGROUND, 0, 0, OUTSIDE, 1, 2, BACKGROUND]);
        assert_eq!((r.statements, r.reads, r.reads_in_statements), (4, 7, 4));

        let select = row(&r, SELECT);
        assert_eq!(select.kind, RowKind::Digest);
        assert_eq!(select.digest.as_deref(), Some(format!("{:016x}", fnv(SELECT)).as_str()));
        assert_eq!((select.statements, select.reads, select.bytes), (2, 3, 3 * 16384));
        assert_eq!((select.pages_from_disk, select.ra_sync, select.readahead_triggered), (10, 3, 3));
        // One run of 1 ms and one of 0.5 ms.
        assert_eq!(select.total_latency_ms, 1.5);
        assert_eq!(select.mean_latency_us, Some(750.0));
        assert_eq!(select.p99_latency_us, Some(1000.0));
        assert_eq!(select.commands, CommandCounts::from([("query", 2)]));
        // On the description: 0 (first), 16K (sequential), 32K (outside, sequential), 1M (a
        // jump), 1M + 16K (the execute's, sequential).
        assert_eq!(select.seq_ratio, Some(1.0 / 3.0));

        let prepared = row(&r, "(prepared before the recording, id 7, connection 3)");
        assert_eq!(prepared.kind, RowKind::Prepared);
        assert_eq!(prepared.digest.as_deref(), Some("0000000000000000"));
        assert_eq!((prepared.statements, prepared.reads, prepared.seq_ratio), (1, 1, Some(1.0)));
        let ping = row(&r, "(ping, no statement text)");
        assert_eq!((ping.kind, ping.statements, ping.reads, ping.seq_ratio), (RowKind::Command, 1, 0, None));
        // Most pages from disk first, then most reads.
        let order: Vec<&str> = r.rows.iter().map(|x| x.statement.as_str()).collect();
        assert_eq!(order[0], SELECT);
        assert_eq!(order.last(), Some(&"(ping, no statement text)"));

        let out = &r.outside_statements;
        assert_eq!(
            (out.kind, out.reads, out.pages_from_disk, out.statements),
            (RowKind::OutsideStatements, 1, 0, 0)
        );
        assert_eq!((out.digest.as_deref(), out.mean_latency_us, out.seq_ratio), (None, None, Some(1.0)));
        let bg = &r.background;
        assert_eq!(
            (bg.statement.as_str(), bg.reads, bg.pages_from_disk, bg.ra_sync),
            ("background", 2, 5, 2)
        );

        // The table: statement groups, then the two rows no statement explains.
        let t = r.table(1);
        assert_eq!(t.column("statement"), Some(vec![SELECT, "outside statements", "background"]));
        assert_eq!(t.column("runs"), Some(vec!["2", "-", "-"]));
        assert!(r
            .summary()
            .starts_with("4 of 7 reads (57.1%) started inside one of 4 statements; 1 (14.3%)"));
    }

    #[test]
    fn per_thread_the_share_of_reads_inside_statements() {
        let (_, r) = analyze(&workload(false), &Filter::default(), StatementsBy::Thread);
        let t: Vec<_> = r
            .threads
            .iter()
            .map(|t| {
                (
                    t.tid,
                    t.comm.as_str(),
                    t.statements,
                    t.digests,
                    t.reads,
                    t.pages_from_disk,
                    t.in_statements_ratio,
                )
            })
            .collect();
        assert_eq!(
            t,
            [(CONN, "one_connection", 4, 3, 5, 10, Some(0.8)), (IO, "ib_io_rd-1", 0, 0, 2, 5, Some(0.0))]
        );
        let table = r.threads_table(10);
        assert_eq!(table.column("in stmts"), Some(vec!["80.0%", "0.0%"]));
        assert_eq!(table.column("role"), Some(vec!["one_connection", "io_read_thread"]));
    }

    #[test]
    fn a_redacted_trace_groups_by_digest_without_text() {
        let (_, r) = analyze(&workload(true), &Filter::default(), StatementsBy::Digest);
        let select = row(&r, "(redacted)");
        assert_eq!(select.digest.as_deref(), Some(format!("{:016x}", fnv(SELECT)).as_str()));
        assert_eq!((select.statements, select.reads, select.pages_from_disk), (2, 3, 10));
        assert!(r.rows.iter().all(|x| x.statement != SELECT));
    }

    #[test]
    fn a_time_window_counts_the_statements_it_overlaps() {
        // From 1.7 ms after the first event (at 0.5 ms): the first statement is over; the read
        // between statements, the second statement and what follows remain.
        let since = Filter { since: Some(std::time::Duration::from_micros(1_700)), ..Filter::default() };
        let (ds, r) = analyze(&workload(false), &since, StatementsBy::Digest);
        assert_eq!(ds.statements.len(), 4, "every statement is kept for attribution");
        assert_eq!((r.statements, r.reads, r.reads_in_statements), (3, 4, 2));
        assert_eq!((row(&r, SELECT).statements, row(&r, SELECT).reads), (1, 1));
        assert_eq!((r.outside_statements.reads, r.background.reads), (1, 1));
    }

    #[test]
    fn overlapping_spans_give_the_read_to_the_one_that_began_last() {
        let s = |start: u64, end: u64| StatementEvent {
            ts: end,
            latency_ns: end - start,
            tid: 1,
            ..Default::default()
        };
        let t = Timelines::of(&[s(0, 100), s(10, 20), s(200, 300)]);
        let spans = &t.0[&(0, 1)];
        let at = |ts| Timelines::find(spans, ts);
        assert_eq!(
            [at(5), at(15), at(50), at(100), at(150), at(250), at(301)],
            [0, 1, 0, 0, OUTSIDE, 2, OUTSIDE]
        );
    }
}
