//! A chunk: a batch of events stored column by column, then compressed.
//!
//! [`ChunkEncoder`] accumulates events into column streams; [`ChunkInfo`] is the chunk record's
//! header (counts, time range, sizes); [`decode_columns`] turns an uncompressed payload back into
//! [`ChunkColumns`] and, on request, events. The byte layout is specified in `docs/format.md`
//! ("Chunk record", "Chunk payload").

use crate::columns::{BulkCx, Codec, ColumnIn, ColumnOut, EncodeCx, SharedPredictors, TakeCx, Text};
use crate::event::{Event, EventBody, EventKind};
use crate::tables::{FifoTable, RecallLists};
use crate::varint::{self, Cursor, StreamError};

/// Stream ids of the columns every event has (kind code 0 in the stream id space).
const STREAM_KIND: u64 = 0;
const STREAM_TS_LOW: u64 = 1;
const STREAM_TASK: u64 = 2;
const STREAM_TID: u64 = 3;
const STREAM_TS_HIGH: u64 = 4;
/// Format 2: the time high parts that do not fit below 255 in their byte.
const STREAM_TS_OVER: u64 = 5;
const COMMON_STREAMS: usize = 6;

/// Format 2 time column: a high part of this value or more is stored as this byte, and the rest
/// (`high - TS_HIGH_ESCAPE`) as a varint in the overflow column.
const TS_HIGH_ESCAPE: u64 = 255;

/// Threads the tid column's table remembers (a power of two).
const TID_TABLE_LEN: usize = 32;

/// Entries of the per-thread cache of pid and cpu (direct-mapped by `tid % 256`).
const TASK_SLOTS: usize = 256;

/// Stream id of field column `i` of event kind `code`.
fn field_stream_id(code: u8, i: usize) -> u64 {
    (u64::from(code) << 6) | i as u64
}

/// Compression of a chunk payload.
pub(crate) const COMPRESSION_NONE: u8 = 0;
pub(crate) const COMPRESSION_ZSTD: u8 = 1;

/// Largest uncompressed payload a reader accepts (the writer's bound is far below it): protects
/// against a damaged length asking for gigabytes.
pub(crate) const MAX_PAYLOAD: u64 = 256 << 20;

/// What a chunk record says about its events before they are decoded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChunkInfo {
    /// Number of events.
    pub events: u64,
    /// Timestamp the chunk's time column starts from (the first event's).
    pub base_ts: u64,
    /// Smallest event timestamp.
    pub t_min: u64,
    /// Largest event timestamp.
    pub t_max: u64,
    /// Payload size before compression.
    pub uncompressed_len: u64,
    /// Events per kind: `(kind code, count)`, codes ascending.
    pub kind_counts: Vec<(u8, u64)>,
}

impl ChunkInfo {
    /// Appends the chunk header fields (after the compression byte) to `out`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        varint::put(out, self.events);
        varint::put(out, self.base_ts);
        varint::put(out, self.t_min);
        varint::put(out, self.t_max.wrapping_sub(self.t_min));
        varint::put(out, self.uncompressed_len);
        varint::put(out, self.kind_counts.len() as u64);
        for &(code, n) in &self.kind_counts {
            varint::put(out, u64::from(code));
            varint::put(out, n);
        }
    }

    pub(crate) fn read(c: &mut Cursor<'_>) -> Result<Self, String> {
        let e = |what: &'static str| move |err: StreamError| format!("chunk header {what}: {err}");
        let events = c.varint().map_err(e("event count"))?;
        let base_ts = c.varint().map_err(e("base time"))?;
        let t_min = c.varint().map_err(e("start time"))?;
        let t_max = t_min.wrapping_add(c.varint().map_err(e("time span"))?);
        let uncompressed_len = c.varint().map_err(e("payload length"))?;
        let n = c.varint().map_err(e("kind count"))?;
        if n > 256 {
            return Err(format!("chunk header lists {n} event kinds (at most 256 exist)"));
        }
        let mut kind_counts = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let code = c.varint().map_err(e("kind code"))?;
            let count = c.varint().map_err(e("kind count"))?;
            let code = u8::try_from(code).map_err(|_| format!("chunk header kind code {code} > 255"))?;
            kind_counts.push((code, count));
        }
        if uncompressed_len > MAX_PAYLOAD {
            return Err(format!(
                "chunk header claims a {uncompressed_len}-byte payload (limit {MAX_PAYLOAD})"
            ));
        }
        Ok(ChunkInfo { events, base_ts, t_min, t_max, uncompressed_len, kind_counts })
    }
}

/// The last pid and cpu of each thread (direct-mapped by tid). A thread keeps its pid and mostly
/// its CPU, so the task column only stores the events where this cache is wrong (a thread's
/// first event in the chunk, a migration, a slot shared by two threads).
#[derive(Debug, Clone)]
struct TaskCache(Vec<(u32, u32, u16)>);

impl Default for TaskCache {
    fn default() -> Self {
        // tid u32::MAX never occurs (tids are below 2^22), so no slot starts out matching.
        TaskCache(vec![(u32::MAX, 0, 0); TASK_SLOTS])
    }
}

impl TaskCache {
    #[inline]
    fn slot(&mut self, tid: u32) -> &mut (u32, u32, u16) {
        &mut self.0[tid as usize % TASK_SLOTS]
    }
}

/// Accumulates events into column streams until the writer closes the chunk.
#[derive(Debug)]
pub(crate) struct ChunkEncoder {
    kinds: Vec<u8>,
    ts_low: Vec<u8>,
    ts_high: Vec<u8>,
    ts_over: Vec<u8>,
    prev_ts: u64,
    tid: Vec<u8>,
    tids: FifoTable,
    task: Vec<u8>,
    tasks: TaskCache,
    /// Event index of the last task exception, and its pid and cpu.
    last_exception: (u64, u32, u16),
    /// Field columns, indexed by kind code; empty for kinds not seen yet.
    fields: Vec<Vec<ColumnOut>>,
    /// Kind codes with events in the open chunk.
    active: Vec<u8>,
    shared: SharedPredictors,
    recall: RecallLists,
    kind_counts: Vec<u64>,
    base_ts: u64,
    t_min: u64,
    t_max: u64,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        ChunkEncoder {
            kinds: Vec::new(),
            ts_low: Vec::new(),
            ts_high: Vec::new(),
            ts_over: Vec::new(),
            prev_ts: 0,
            tid: Vec::new(),
            tids: FifoTable::new(TID_TABLE_LEN),
            task: Vec::new(),
            tasks: TaskCache::default(),
            last_exception: (0, 0, 0),
            fields: (0..256).map(|_| Vec::new()).collect(),
            active: Vec::new(),
            shared: SharedPredictors::default(),
            recall: RecallLists::default(),
            kind_counts: vec![0; 256],
            base_ts: 0,
            t_min: u64::MAX,
            t_max: 0,
        }
    }
}

impl ChunkEncoder {
    pub(crate) fn len(&self) -> usize {
        self.kinds.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Time of the first event of the open chunk.
    pub(crate) fn first_ts(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.base_ts)
    }

    /// Bytes the payload would take now, before compression (close to exact).
    pub(crate) fn raw_len(&self) -> usize {
        let common = self.kinds.len()
            + self.ts_low.len()
            + self.ts_high.len()
            + self.ts_over.len()
            + self.tid.len()
            + self.task.len();
        let fields = self.active.iter().flat_map(|&k| &self.fields[k as usize]).map(|c| c.buf.len());
        common + fields.sum::<usize>()
    }

    #[inline]
    pub(crate) fn push(&mut self, ev: &Event) {
        let index = self.kinds.len() as u64;
        if index == 0 {
            // The time column's first delta is against the header's base_ts.
            self.base_ts = ev.ts;
            self.prev_ts = ev.ts;
        }
        // Time deltas are split into their low byte and the rest: the low byte of a nanosecond
        // gap is close to uniform noise, the rest is small and skewed, and zstd's entropy coder
        // models each far better apart than mixed in one varint.
        let d = varint::zigzag(ev.ts.wrapping_sub(self.prev_ts) as i64);
        self.prev_ts = ev.ts;
        self.ts_low.push(d as u8);
        let high = d >> 8;
        if high < TS_HIGH_ESCAPE {
            self.ts_high.push(high as u8);
        } else {
            self.ts_high.push(TS_HIGH_ESCAPE as u8);
            varint::put(&mut self.ts_over, high - TS_HIGH_ESCAPE);
        }
        self.t_min = self.t_min.min(ev.ts);
        self.t_max = self.t_max.max(ev.ts);
        let kind = ev.body.kind();
        let code = kind.code();
        self.kinds.push(code);
        self.tids.put(u64::from(ev.tid), &mut self.tid);
        let slot = self.tasks.slot(ev.tid);
        if *slot != (ev.tid, ev.pid, ev.cpu) {
            *slot = (ev.tid, ev.pid, ev.cpu);
            let (last, pid, cpu) = self.last_exception;
            let gap = if self.task.is_empty() { index } else { index - last - 1 };
            varint::put(&mut self.task, gap);
            varint::put(&mut self.task, varint::zigzag(i64::from(ev.pid) - i64::from(pid)));
            varint::put(&mut self.task, varint::zigzag(i64::from(ev.cpu) - i64::from(cpu)));
            self.last_exception = (index, ev.pid, ev.cpu);
        }
        if self.kind_counts[code as usize] == 0 {
            self.active.push(code);
        }
        self.kind_counts[code as usize] += 1;
        let cols = &mut self.fields[code as usize];
        if cols.is_empty() {
            cols.resize_with(kind.streams(), ColumnOut::default);
        }
        let mut cx = EncodeCx { cols, next: 0, shared: self.shared.of(ev.tid), recall: &mut self.recall };
        ev.body.put_columns(&mut cx);
    }

    /// Serializes the open chunk's payload and resets the encoder for the next chunk.
    pub(crate) fn take(&mut self) -> (ChunkInfo, Vec<u8>) {
        for (code, cols) in self.fields.iter_mut().enumerate() {
            if self.kind_counts[code] > 0 {
                cols.iter_mut().for_each(ColumnOut::end_run);
            }
        }
        let mut streams: Vec<(u64, &[u8])> = vec![
            (STREAM_KIND, &self.kinds),
            (STREAM_TS_LOW, &self.ts_low),
            (STREAM_TASK, &self.task),
            (STREAM_TID, &self.tid),
            (STREAM_TS_HIGH, &self.ts_high),
            (STREAM_TS_OVER, &self.ts_over),
        ];
        for (code, cols) in self.fields.iter().enumerate() {
            if self.kind_counts[code] == 0 {
                continue;
            }
            for (i, c) in cols.iter().enumerate() {
                streams.push((field_stream_id(code as u8, i), &c.buf));
            }
        }
        let data_len: usize = streams.iter().map(|s| s.1.len()).sum();
        let mut payload = Vec::with_capacity(data_len + streams.len() * 6 + 8);
        varint::put(&mut payload, streams.len() as u64);
        for (id, data) in &streams {
            varint::put(&mut payload, *id);
            varint::put(&mut payload, data.len() as u64);
        }
        for (_, data) in &streams {
            payload.extend_from_slice(data);
        }
        let info = ChunkInfo {
            events: self.kinds.len() as u64,
            base_ts: self.base_ts,
            t_min: self.t_min,
            t_max: self.t_max,
            uncompressed_len: payload.len() as u64,
            kind_counts: self
                .kind_counts
                .iter()
                .enumerate()
                .filter(|(_, &n)| n > 0)
                .map(|(c, &n)| (c as u8, n))
                .collect(),
        };
        self.kinds.clear();
        self.ts_low.clear();
        self.ts_high.clear();
        self.ts_over.clear();
        self.tid.clear();
        self.tids.clear();
        self.task.clear();
        self.tasks = TaskCache::default();
        self.last_exception = (0, 0, 0);
        for (code, cols) in self.fields.iter_mut().enumerate() {
            if self.kind_counts[code] > 0 {
                cols.iter_mut().for_each(ColumnOut::reset);
            }
        }
        self.kind_counts.iter_mut().for_each(|n| *n = 0);
        self.active.clear();
        self.shared = SharedPredictors::default();
        self.recall.clear();
        self.t_min = u64::MAX;
        self.t_max = 0;
        (info, payload)
    }
}

/// Result of decoding one chunk payload.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DecodeStats {
    /// Events delivered.
    pub events: u64,
    /// Events skipped because their kind is newer than this reader.
    pub unknown_kind: u64,
}

/// One chunk decoded into columns: the common columns for every event (time, kind, task, CPU)
/// and, per event kind, one array per field column with a value per event of that kind, in file
/// order. This is the fast path for columnar consumers; [`ChunkColumns::for_each_event`] builds
/// whole [`Event`]s from it. Decoding into the same value again reuses its allocations.
#[derive(Debug, Default)]
pub struct ChunkColumns {
    payload: Vec<u8>,
    ts: Vec<u64>,
    kind: Vec<u8>,
    tid: Vec<u32>,
    pid: Vec<u32>,
    cpu: Vec<u16>,
    /// Per kind code: field arrays (kept allocated across chunks; only kinds with rows are valid).
    fields: Vec<Vec<Vec<u64>>>,
    /// Per kind code: events of that kind in the chunk.
    rows: Vec<usize>,
    unknown_kind: u64,
}

impl ChunkColumns {
    pub(crate) fn payload_buf(&mut self) -> &mut Vec<u8> {
        &mut self.payload
    }

    /// Number of events (of every kind, including kinds this reader does not know).
    pub fn len(&self) -> usize {
        self.kind.len()
    }

    /// True when the chunk has no events.
    pub fn is_empty(&self) -> bool {
        self.kind.is_empty()
    }

    /// Event timestamps.
    pub fn ts(&self) -> &[u64] {
        &self.ts
    }

    /// Event kind codes ([`EventKind::code`]).
    pub fn kind_codes(&self) -> &[u8] {
        &self.kind
    }

    /// Thread ids.
    pub fn tid(&self) -> &[u32] {
        &self.tid
    }

    /// Process ids.
    pub fn pid(&self) -> &[u32] {
        &self.pid
    }

    /// CPUs.
    pub fn cpu(&self) -> &[u16] {
        &self.cpu
    }

    /// Events of kinds newer than this reader (present in the common columns, without fields).
    pub fn unknown_kind(&self) -> u64 {
        self.unknown_kind
    }

    /// Number of events of `kind`.
    pub fn rows(&self, kind: EventKind) -> usize {
        self.rows.get(kind.code() as usize).copied().unwrap_or(0)
    }

    /// The values of field column `column` (an index into [`EventKind::columns`]) of every event of
    /// `kind`, in file order, as 64 raw bits (see [`Bits`](crate::Bits); text columns hold payload
    /// ranges, read them with [`Self::text`]).
    pub fn column(&self, kind: EventKind, column: usize) -> &[u64] {
        if self.rows(kind) == 0 {
            return &[];
        }
        self.fields[kind.code() as usize].get(column).map_or(&[], Vec::as_slice)
    }

    /// Text value `row` of text column `column` of `kind` ("" when out of range).
    pub fn text(&self, kind: EventKind, column: usize, row: usize) -> String {
        if row >= self.rows(kind) || column >= kind.streams() {
            return String::new();
        }
        let mut cx =
            TakeCx { outs: &self.fields[kind.code() as usize], next: column, row, payload: &self.payload };
        <Text as Codec<String>>::take(&mut cx)
    }

    /// Calls `f` with every event of a known kind, in file order.
    pub fn for_each_event(&self, mut f: impl FnMut(Event)) -> DecodeStats {
        let mut rows = [0usize; 256];
        let events = assemble(self, &self.payload, 0..self.len(), &mut rows, &mut f);
        DecodeStats { events, unknown_kind: self.unknown_kind }
    }
}

/// Builds the events in `range` from decoded columns (`payload` is the chunk's payload, which
/// text values point into); `rows` counts, per kind, the rows already taken. Returns the number
/// of events delivered.
fn assemble(
    c: &ChunkColumns,
    payload: &[u8],
    range: std::ops::Range<usize>,
    rows: &mut [usize; 256],
    f: &mut impl FnMut(Event),
) -> u64 {
    let mut delivered = 0;
    for i in range {
        let code = c.kind[i];
        let Some(kind) = EventKind::from_code(code) else { continue };
        let row = &mut rows[code as usize];
        let mut cx = TakeCx { outs: &c.fields[code as usize], next: 0, row: *row, payload };
        *row += 1;
        let body = EventBody::take_columns(kind, &mut cx);
        f(Event { ts: c.ts[i], pid: c.pid[i], tid: c.tid[i], cpu: c.cpu[i], body });
        delivered += 1;
    }
    delivered
}

/// Events decoded per block: each block's values are decoded, resolved and (when events are
/// wanted) assembled while they are still in the CPU cache.
const BLOCK: usize = 4096;

/// Decodes the payload in `out`'s buffer into `out`'s columns. With `sink`, also delivers every
/// event of a known kind, block by block. Errors are descriptions; the caller adds the chunk
/// number and offset.
/// `major` is the file's format major version (1 or 2: they code the time column and zero runs
/// differently).
pub(crate) fn decode_columns<F: FnMut(Event)>(
    out: &mut ChunkColumns,
    info: &ChunkInfo,
    major: u16,
    mut sink: Option<&mut F>,
) -> Result<DecodeStats, String> {
    // The payload is borrowed out of `out` while the columns beside it are filled.
    let payload = std::mem::take(&mut out.payload);
    let result = decode_into(out, &payload, info, major < 2, &mut sink);
    out.payload = payload;
    result
}

/// Adds the number of events of each kind code in `kinds` to `counts` (256 entries). Four
/// tables, summed at the end, so that runs of one kind do not wait on their own increments.
fn count_kinds(kinds: &[u8], counts: &mut [usize]) {
    let mut t = [[0u32; 256]; 4];
    let mut quads = kinds.chunks_exact(4);
    for q in &mut quads {
        t[0][q[0] as usize] += 1;
        t[1][q[1] as usize] += 1;
        t[2][q[2] as usize] += 1;
        t[3][q[3] as usize] += 1;
    }
    for &k in quads.remainder() {
        t[0][k as usize] += 1;
    }
    for (c, n) in counts.iter_mut().enumerate().take(256) {
        *n += (t[0][c] + t[1][c] + t[2][c] + t[3][c]) as usize;
    }
}

fn decode_into<F: FnMut(Event)>(
    out: &mut ChunkColumns,
    payload: &[u8],
    info: &ChunkInfo,
    legacy: bool,
    sink: &mut Option<&mut F>,
) -> Result<DecodeStats, String> {
    let (mut common, found) = stream_table(payload)?;
    if legacy {
        // Format 1 has no overflow column (its high parts are a number column).
        common[STREAM_TS_OVER as usize] = Some((0, 0));
    }
    let kinds = common[STREAM_KIND as usize].map_or(&[][..], |(o, l)| &payload[o..o + l]);
    if kinds.len() as u64 != info.events {
        return Err(format!("kind column holds {} bytes for {} events", kinds.len(), info.events));
    }
    if common[STREAM_TS_LOW as usize].is_none() || common[STREAM_TS_HIGH as usize].is_none() {
        return Err("the time columns are missing".into());
    }
    let n = kinds.len();
    out.kind.clear();
    out.kind.extend_from_slice(kinds);
    out.rows.clear();
    out.rows.resize(256, 0);
    count_kinds(kinds, &mut out.rows);
    out.fields.resize_with(256, Vec::new);
    out.unknown_kind = 0;
    out.ts.clear();
    out.ts.reserve(n);
    out.tid.clear();
    out.tid.reserve(n);
    out.pid.clear();
    out.pid.reserve(n);
    out.cpu.clear();
    out.cpu.reserve(n);

    // Columns this reader knows but the chunk lacks (an older writer) read from zero bytes: two
    // per event covers every codec (a table miss reads two varints).
    let missing = common.iter().any(Option::is_none)
        || (0..256).any(|c| {
            out.rows[c] > 0
                && EventKind::from_code(c as u8)
                    .is_some_and(|k| (0..k.streams()).any(|i| found[c].get(i).copied().flatten().is_none()))
        });
    let zeros = if missing { vec![0u8; 2 * n] } else { Vec::new() };
    let column = |s: Option<(usize, usize)>| match s {
        Some((o, l)) => ColumnIn::new(&payload[o..o + l], o, true, legacy),
        None => ColumnIn::new(&zeros, 0, false, legacy),
    };
    let err = |what: &'static str| move |e: StreamError| format!("{what} column: {e}");
    let mut ts_low = column(common[STREAM_TS_LOW as usize]);
    let mut ts_high = column(common[STREAM_TS_HIGH as usize]);
    let high_bytes = if legacy { &[][..] } else { ts_high.cur.bytes(n).map_err(err("time"))? };
    // An absent overflow column is an empty one: a high part that needs it is an error.
    let mut ts_over = match common[STREAM_TS_OVER as usize] {
        Some((o, l)) => Cursor::new(&payload[o..o + l]),
        None => Cursor::new(&[]),
    };
    let mut tid_col = column(common[STREAM_TID as usize]);
    let mut task_col = column(common[STREAM_TASK as usize]);
    let low = ts_low.cur.bytes(n).map_err(err("time"))?;

    let mut ins: Vec<Vec<ColumnIn<'_>>> = (0..256).map(|_| Vec::new()).collect();
    let mut ordered = [false; 256];
    let mut known = [false; 256];
    for code in 0..256usize {
        if out.rows[code] == 0 {
            continue;
        }
        let Some(kind) = EventKind::from_code(code as u8) else {
            out.unknown_kind += out.rows[code] as u64;
            continue;
        };
        known[code] = true;
        ordered[code] = kind.ordered();
        ins[code] = (0..kind.streams()).map(|i| column(found[code].get(i).copied().flatten())).collect();
        let cols = &mut out.fields[code];
        cols.resize_with(kind.streams(), Vec::new);
        for c in cols.iter_mut() {
            c.clear();
            c.reserve(out.rows[code]);
        }
    }

    let mut t = info.base_ts;
    let mut tids = FifoTable::new(TID_TABLE_LEN);
    let mut tasks = TaskDecoder::new(&mut task_col.cur)?;
    let mut shared = SharedPredictors::default();
    let mut recall = RecallLists::default();
    let mut next_row = [0usize; 256];
    let mut take_row = [0usize; 256];
    let mut block_rows = [0usize; 256];
    let mut stats = DecodeStats { events: 0, unknown_kind: out.unknown_kind };
    let mut start = 0;
    let mut high = Vec::with_capacity(BLOCK);
    while start < n {
        let end = (start + BLOCK).min(n);
        // Common columns.
        if legacy {
            high.clear();
            ts_high.bulk(end - start, &mut high, |_, v| v).map_err(err("time"))?;
            out.ts.extend(low[start..end].iter().zip(&high).map(|(&l, &h)| {
                t = t.wrapping_add(varint::unzigzag((h << 8) | u64::from(l)) as u64);
                t
            }));
        } else {
            ts_block(&low[start..end], &high_bytes[start..end], &mut ts_over, &mut t, &mut out.ts)
                .map_err(err("time"))?;
        }
        out.tid.resize(end, 0);
        out.pid.resize(end, 0);
        out.cpu.resize(end, 0);
        tid_block(&mut tid_col.cur, &mut tids, &mut out.tid[start..end]).map_err(err("tid"))?;
        tasks.block(
            start,
            &out.tid[start..end],
            &mut out.pid[start..end],
            &mut out.cpu[start..end],
            &mut task_col.cur,
        )?;
        // Phase 1: each field column on its own.
        block_rows.fill(0);
        count_kinds(&kinds[start..end], &mut block_rows);
        for code in 0..256usize {
            if block_rows[code] == 0 || !known[code] {
                continue;
            }
            let kind = EventKind::from_code(code as u8).unwrap_or(EventKind::Lost);
            let mut cx =
                BulkCx { ins: &mut ins[code], outs: &mut out.fields[code], next: 0, rows: block_rows[code] };
            EventBody::bulk_columns(kind, &mut cx).map_err(|e| format!("{} columns: {e}", kind.name()))?;
        }
        // Phase 2: what depends on other kinds, in file order.
        // Runs of one kind (a readahead's page inserts) are dispatched once.
        let mut i = start;
        while i < end {
            let code = kinds[i];
            let run_end = kinds[i + 1..end].iter().position(|&k| k != code).map_or(end, |p| i + 1 + p);
            let c = code as usize;
            if ordered[c] {
                let kind = EventKind::from_code(code).unwrap_or(EventKind::Lost);
                EventBody::order_run(
                    kind,
                    &mut ins[c],
                    &mut out.fields[c],
                    next_row[c],
                    &out.tid[i..run_end],
                    &mut shared,
                    &mut recall,
                )
                .map_err(|e| format!("{} columns: {e}", kind.name()))?;
                next_row[c] += run_end - i;
            }
            i = run_end;
        }
        // Phase 3, when events are wanted: assemble while the block is hot.
        if let Some(f) = sink.as_mut() {
            stats.events += assemble(out, payload, start..end, &mut take_row, f);
        }
        start = end;
    }
    if tasks.exception != usize::MAX {
        return Err("task column: lists events past the end of the chunk".into());
    }
    for (what, c) in [("time", &ts_low), ("time", &ts_high), ("tid", &tid_col), ("task", &task_col)] {
        c.check_end().map_err(err(what))?;
    }
    if !ts_over.is_empty() {
        return Err(err("time")(StreamError::Trailing));
    }
    for (code, cols) in ins.iter().enumerate() {
        for c in cols {
            c.check_end().map_err(|e| format!("kind {code} columns: {e}"))?;
        }
    }
    if sink.is_none() {
        stats.events = n as u64 - stats.unknown_kind;
    }
    Ok(stats)
}

/// Format 2 time column for a block: low bytes, high bytes (255 escapes to the overflow column),
/// zigzag deltas summed from `t`.
#[inline(never)]
fn ts_block(
    low: &[u8],
    high: &[u8],
    over: &mut Cursor<'_>,
    t: &mut u64,
    out: &mut Vec<u64>,
) -> Result<(), StreamError> {
    let from = out.len();
    out.resize(from + low.len(), 0);
    let mut acc = *t;
    for ((o, &l), &h) in out[from..].iter_mut().zip(low).zip(high) {
        let mut h = u64::from(h);
        if h == TS_HIGH_ESCAPE {
            h = h.wrapping_add(over.varint()?);
        }
        acc = acc.wrapping_add(varint::unzigzag((h << 8) | u64::from(l)) as u64);
        *o = acc;
    }
    *t = acc;
    Ok(())
}

/// The tid column for a block.
#[inline(never)]
fn tid_block(cur: &mut Cursor<'_>, tids: &mut FifoTable, out: &mut [u32]) -> Result<(), StreamError> {
    for o in out {
        *o = tids.get(cur)? as u32;
    }
    Ok(())
}

/// A task column stream error, described as the other columns' are.
fn task_err(e: StreamError) -> String {
    format!("task column: {e}")
}

/// Decoding state of the task column: the per-thread cache and the next listed event.
#[derive(Debug)]
struct TaskDecoder {
    cache: TaskCache,
    /// Index of the next event whose pid/cpu the task column lists (usize::MAX: none left).
    exception: usize,
    pid: u32,
    cpu: u16,
}

impl TaskDecoder {
    fn new(cur: &mut Cursor<'_>) -> Result<Self, String> {
        let mut d = TaskDecoder { cache: TaskCache::default(), exception: 0, pid: 0, cpu: 0 };
        d.exception = Self::next_gap(cur, 0)?;
        Ok(d)
    }

    fn next_gap(c: &mut Cursor<'_>, from: usize) -> Result<usize, String> {
        if c.is_empty() {
            return Ok(usize::MAX);
        }
        let gap = c.varint().map_err(task_err)?;
        Ok(usize::try_from(gap).ok().and_then(|g| from.checked_add(g)).unwrap_or(usize::MAX))
    }

    /// Fills pid and cpu of the events `start..` whose tids are `tids`.
    #[inline(never)]
    fn block(
        &mut self,
        start: usize,
        tids: &[u32],
        pid: &mut [u32],
        cpu: &mut [u16],
        c: &mut Cursor<'_>,
    ) -> Result<(), String> {
        for (j, ((&tid, p), u)) in tids.iter().zip(pid).zip(cpu).enumerate() {
            let i = start + j;
            let slot = self.cache.slot(tid);
            if i == self.exception {
                self.pid = (i64::from(self.pid) + varint::unzigzag(c.varint().map_err(task_err)?)) as u32;
                self.cpu = (i64::from(self.cpu) + varint::unzigzag(c.varint().map_err(task_err)?)) as u16;
                *slot = (tid, self.pid, self.cpu);
                self.exception = Self::next_gap(c, i + 1)?;
            } else if slot.0 != tid {
                return Err(format!("task column: event {i} (thread {tid}) has no pid and cpu"));
            }
            *p = slot.1;
            *u = slot.2;
        }
        Ok(())
    }
}

/// Common-stream slots and per-kind field-stream slots, as `(offset, length)` in the payload.
type StreamTable = ([Option<(usize, usize)>; COMMON_STREAMS], Vec<Vec<Option<(usize, usize)>>>);

fn stream_table(payload: &[u8]) -> Result<StreamTable, String> {
    let mut c = Cursor::new(payload);
    let e = |err: StreamError| format!("stream table: {err}");
    let n_streams = c.varint().map_err(e)?;
    if n_streams > 256 * 64 {
        return Err(format!("stream table lists {n_streams} streams"));
    }
    let mut table = Vec::with_capacity(n_streams as usize);
    for _ in 0..n_streams {
        table.push((c.varint().map_err(e)?, c.varint().map_err(e)?));
    }
    let mut common = [None; COMMON_STREAMS];
    let mut found: Vec<Vec<Option<(usize, usize)>>> = (0..256).map(|_| Vec::new()).collect();
    let mut offset = c.position();
    for (id, len) in table {
        let len = usize::try_from(len).ok().filter(|&l| l <= payload.len() - offset).ok_or_else(|| {
            format!("stream {id} is {len} bytes but {} remain in the payload", payload.len() - offset)
        })?;
        if id >> 6 > 255 {
            return Err(format!("stream id {id} names no event kind"));
        }
        let (code, i) = ((id >> 6) as usize, (id & 63) as usize);
        let slot = if code == 0 {
            match common.get_mut(i) {
                Some(s) => s,
                None => {
                    offset += len; // a common column from a newer writer
                    continue;
                }
            }
        } else {
            let cols = &mut found[code];
            if cols.len() <= i {
                cols.resize(i + 1, None);
            }
            &mut cols[i]
        };
        if slot.is_some() {
            return Err(format!("stream {id} appears twice"));
        }
        *slot = Some((offset, len));
        offset += len;
    }
    Ok((common, found))
}

/// Diagnostic: `(stream id, raw bytes)` of every stream in a payload.
#[doc(hidden)]
pub fn payload_streams(payload: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut c = Cursor::new(payload);
    let n = c.varint().unwrap_or(0);
    let table: Vec<(u64, u64)> = (0..n).map(|_| (c.varint().unwrap_or(0), c.varint().unwrap_or(0))).collect();
    table.into_iter().map(|(id, len)| (id, c.bytes(len as usize).unwrap_or_default().to_vec())).collect()
}

/// Diagnostic: the payload a chunk of exactly `events` would have.
#[doc(hidden)]
pub fn encode_for_diagnostics(events: &[Event]) -> Vec<u8> {
    let mut e = ChunkEncoder::default();
    events.iter().for_each(|ev| e.push(ev));
    e.take().1
}

/// The chunk header a bare payload implies: as many events as its kind column holds.
fn raw_payload_info(payload: &[u8]) -> Result<ChunkInfo, String> {
    let (common, _) = stream_table(payload)?;
    let events = common[STREAM_KIND as usize].map_or(0, |(_, l)| l as u64);
    Ok(ChunkInfo {
        events,
        base_ts: 0,
        t_min: 0,
        t_max: 0,
        uncompressed_len: payload.len() as u64,
        kind_counts: vec![],
    })
}

/// Diagnostic: decodes `payload` (an uncompressed chunk payload, as [`encode_for_diagnostics`]
/// makes) into `out`'s columns, with no CRC check and no decompression: the column decoding
/// alone, for the benchmark's breakdown.
#[doc(hidden)]
pub fn columns_from_raw_payload(payload: &mut Vec<u8>, out: &mut ChunkColumns) -> Result<(), String> {
    let info = raw_payload_info(payload)?;
    // The payload is lent to `out` and given back, not copied.
    std::mem::swap(payload, &mut out.payload);
    let result = decode_columns(out, &info, crate::VERSION_MAJOR, None::<&mut fn(Event)>).map(|_| ());
    std::mem::swap(payload, &mut out.payload);
    result
}

/// Diagnostic and fuzzing entry: decodes `payload` as an uncompressed chunk payload of the current
/// format whose header claims as many events as its kind column holds. Returns the events decoded.
#[doc(hidden)]
pub fn decode_raw_payload(payload: &[u8]) -> Result<u64, String> {
    decode_raw_payload_of(payload, crate::VERSION_MAJOR)
}

/// [`decode_raw_payload`] for a payload of format major version `major` (1 takes the format 1
/// decoding path).
#[doc(hidden)]
pub fn decode_raw_payload_of(payload: &[u8], major: u16) -> Result<u64, String> {
    let info = raw_payload_info(payload)?;
    let mut out = ChunkColumns { payload: payload.to_vec(), ..ChunkColumns::default() };
    let mut n = 0u64;
    let stats = decode_columns(
        &mut out,
        &info,
        major,
        Some(&mut |e: Event| {
            n += 1;
            std::hint::black_box(e);
        }),
    )?;
    Ok(stats.events.max(n))
}
