//! Reading a trace from bytes: [`Trace::parse`] finds the header, metadata and chunks (from the
//! footer's index, or by scanning when the footer is missing), and [`ChunkRef`] decodes one chunk
//! on whatever thread asks. [`TraceFile`] memory-maps a file for it.
//!
//! A trace cut short (crash, full disk) reads up to its last complete record; a damaged record
//! stops the scan there. Both are reported in [`Trace::damage`], never as a panic.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::chunk::{self, ChunkColumns, ChunkInfo, DecodeStats, COMPRESSION_NONE, COMPRESSION_ZSTD};
use crate::error::{Error, Result};
use crate::meta::{
    ChunkIndexEntry, FileInfo, Footer, Header, OpenFd, ProcessInfo, StatusSnapshot, ThreadInfo,
};
use crate::record::{
    self, FrameError, RawRecord, RecordKind, END_MAGIC, MAGIC, PREAMBLE_LEN, TRAILER_LEN, VERSION_MAJOR,
};
use crate::varint::Cursor;
use crate::Event;

/// Something wrong with a trace that still left part of it readable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Damage {
    /// The data ends inside a record: the recording was cut short. Everything before `offset` was
    /// read.
    Truncated {
        /// Offset of the incomplete record.
        offset: u64,
        /// Bytes that record needed.
        needed: u64,
        /// Bytes present.
        present: u64,
    },
    /// The data ends after a complete record but without a footer (the writer never finished).
    NoFooter {
        /// File length.
        offset: u64,
    },
    /// A record failed its CRC or could not be decoded; reading stopped there.
    Corrupt {
        /// Record number (the header is record 0).
        record: u64,
        /// Chunk number when the record is a chunk.
        chunk: Option<u64>,
        /// Offset of the record.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// The trailer pointed at a footer that could not be used; the file was scanned instead.
    BadFooter {
        /// What is wrong.
        detail: String,
    },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Truncated { offset, needed, present } => write!(
                f,
                "the trace ends inside a record at byte {offset} ({present} of {needed} bytes present): \
                 the recording was cut short, everything before it was read"
            ),
            Damage::NoFooter { offset } => write!(
                f,
                "the trace ends at byte {offset} without its footer: the recorder did not finish, \
                 every complete chunk was read"
            ),
            Damage::Corrupt { record, chunk: Some(c), offset, detail } => {
                write!(f, "chunk {c} (record {record}) at byte {offset} is damaged: {detail}; reading stopped there")
            }
            Damage::Corrupt { record, chunk: None, offset, detail } => {
                write!(f, "record {record} at byte {offset} is damaged: {detail}; reading stopped there")
            }
            Damage::BadFooter { detail } => {
                write!(f, "the footer is unusable ({detail}); the trace was scanned record by record")
            }
        }
    }
}

impl Damage {
    /// True for damage that a crash or full disk explains (the file is merely short), false for
    /// bytes that are wrong.
    pub fn is_truncation(&self) -> bool {
        matches!(self, Damage::Truncated { .. } | Damage::NoFooter { .. })
    }
}

/// One chunk of a trace, ready to be decoded on any thread.
#[derive(Debug, Clone)]
pub struct ChunkRef<'a> {
    /// Chunk number in file order, from 0.
    pub number: u64,
    /// Offset of the chunk record.
    pub offset: u64,
    /// What the chunk holds (from the footer's index or the chunk's own header).
    pub info: ChunkInfo,
    record: &'a [u8],
    /// The file's format major version (it decides how the payload is coded).
    major: u16,
}

impl<'a> ChunkRef<'a> {
    /// Size of the chunk record on disk.
    pub fn record_len(&self) -> u64 {
        self.record.len() as u64
    }

    fn raw(&self) -> RawRecord<'a> {
        RawRecord { kind: RecordKind::Chunk as u8, offset: self.offset, bytes: self.record }
    }

    fn corrupt(&self, detail: impl Into<String>) -> Error {
        Error::CorruptChunk { chunk: self.number, offset: self.offset, detail: detail.into() }
    }

    /// Checks the chunk's CRC.
    pub fn verify(&self) -> Result<()> {
        let (expected, actual) = self.raw().crc();
        if expected != actual {
            return Err(Error::ChunkCrc { chunk: self.number, offset: self.offset, expected, actual });
        }
        Ok(())
    }

    /// Verifies the chunk and decompresses its payload into `buf`; returns the chunk's own header.
    fn payload_into(&self, buf: &mut Vec<u8>) -> Result<ChunkInfo> {
        self.verify()?;
        let body = self.raw().body();
        let (compression, info, data) = parse_chunk_body(body).map_err(|d| self.corrupt(d))?;
        if info.events != self.info.events || info.uncompressed_len != self.info.uncompressed_len {
            return Err(self.corrupt(format!(
                "its header ({} events, {} bytes) disagrees with the footer index ({} events, {} bytes)",
                info.events, info.uncompressed_len, self.info.events, self.info.uncompressed_len
            )));
        }
        let want = info.uncompressed_len as usize;
        buf.clear();
        match compression {
            COMPRESSION_ZSTD => {
                buf.reserve(want);
                zstd::bulk::Decompressor::new()
                    .and_then(|mut d| d.decompress_to_buffer(data, buf))
                    .map_err(|e| self.corrupt(format!("zstd: {e}")))?;
            }
            COMPRESSION_NONE => buf.extend_from_slice(data),
            other => return Err(self.corrupt(format!("unknown compression {other}"))),
        }
        if buf.len() != want {
            return Err(self
                .corrupt(format!("payload is {} bytes after decompression, header says {want}", buf.len())));
        }
        Ok(info)
    }

    /// Decodes the chunk into columns, reusing the buffers of `out` (decoding many chunks into one
    /// [`ChunkColumns`] avoids allocating for each).
    pub fn columns_into(&self, out: &mut ChunkColumns) -> Result<()> {
        let info = self.payload_into(out.payload_buf())?;
        chunk::decode_columns(out, &info, self.major, None::<&mut fn(Event)>).map_err(|d| self.corrupt(d))?;
        Ok(())
    }

    /// Decodes the chunk into `out` and calls `f` for each event, in order, as it is decoded
    /// (faster than decoding the columns and walking them afterwards).
    pub fn for_each_into(&self, out: &mut ChunkColumns, mut f: impl FnMut(Event)) -> Result<DecodeStats> {
        let info = self.payload_into(out.payload_buf())?;
        chunk::decode_columns(out, &info, self.major, Some(&mut f)).map_err(|d| self.corrupt(d))
    }

    /// Decodes the chunk into new columns (the fast path for columnar consumers).
    pub fn columns(&self) -> Result<ChunkColumns> {
        let mut out = ChunkColumns::default();
        self.columns_into(&mut out)?;
        Ok(out)
    }

    /// Decodes the chunk, calling `f` for each event in order. Events of kinds newer than this
    /// reader are skipped and counted in the returned stats.
    pub fn for_each(&self, f: impl FnMut(Event)) -> Result<DecodeStats> {
        self.for_each_into(&mut ChunkColumns::default(), f)
    }

    /// Decodes the chunk into a vector.
    pub fn events(&self) -> Result<Vec<Event>> {
        let mut v = Vec::with_capacity(self.info.events as usize);
        self.for_each(|e| v.push(e))?;
        Ok(v)
    }
}

/// Splits a chunk record body into compression, header and (compressed) payload.
fn parse_chunk_body(body: &[u8]) -> Result<(u8, ChunkInfo, &[u8]), String> {
    let mut c = Cursor::new(body);
    let compression = c.u8().map_err(|e| format!("chunk header: {e}"))?;
    let info = ChunkInfo::read(&mut c)?;
    Ok((compression, info, &body[c.position()..]))
}

/// A parsed trace borrowing its bytes.
#[derive(Debug)]
pub struct Trace<'a> {
    data: &'a [u8],
    version: (u16, u16),
    header: Header,
    chunks: Vec<ChunkRef<'a>>,
    files: Vec<FileInfo>,
    open_fds: Vec<OpenFd>,
    threads: Vec<ThreadInfo>,
    processes: Vec<ProcessInfo>,
    statuses: Vec<StatusSnapshot>,
    footer: Option<Footer>,
    damage: Vec<Damage>,
    unknown_records: u64,
}

impl<'a> Trace<'a> {
    /// Parses the structure of a trace: preamble, header, metadata, chunk list. Chunks are not
    /// decompressed. Fails only when the data is not a trace, is of a newer major version, or its
    /// header is unreadable; anything wrong after the header is reported by [`Self::damage`].
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        let version = check_preamble(data)?;
        let (header, header_len) = read_header(data)?;
        let mut trace = Trace {
            data,
            version,
            header,
            chunks: Vec::new(),
            files: Vec::new(),
            open_fds: Vec::new(),
            threads: Vec::new(),
            processes: Vec::new(),
            statuses: Vec::new(),
            footer: None,
            damage: Vec::new(),
            unknown_records: 0,
        };
        let first = PREAMBLE_LEN + header_len;
        match trace.footer_from_trailer() {
            Ok(Some(footer)) => match trace.load_from_footer(&footer) {
                Ok(()) => trace.footer = Some(footer),
                Err(detail) => {
                    trace.reset_tables();
                    trace.damage.push(Damage::BadFooter { detail });
                    trace.scan(first);
                }
            },
            Ok(None) => trace.scan(first),
            Err(detail) => {
                trace.damage.push(Damage::BadFooter { detail });
                trace.scan(first);
            }
        }
        Ok(trace)
    }

    fn reset_tables(&mut self) {
        self.chunks.clear();
        self.files.clear();
        self.open_fds.clear();
        self.threads.clear();
        self.processes.clear();
        self.statuses.clear();
        self.unknown_records = 0;
    }

    /// Reads the footer the trailer points at. `Ok(None)`: there is no trailer (the file was not
    /// finished); `Err`: there is one but it leads nowhere useful.
    fn footer_from_trailer(&self) -> Result<Option<Footer>, String> {
        let d = self.data;
        if d.len() < PREAMBLE_LEN + TRAILER_LEN || d[d.len() - 8..] != END_MAGIC {
            return Ok(None);
        }
        let t = d.len() - TRAILER_LEN;
        let off = Cursor::new(&d[t..]).u64_le().map_err(|e| format!("trailer: {e}"))?;
        let offset = usize::try_from(off)
            .ok()
            .filter(|&o| o >= PREAMBLE_LEN && o < t)
            .ok_or_else(|| format!("trailer points at byte {off}, outside the file"))?;
        let rec =
            record::frame_at(&d[..t], offset).map_err(|_| format!("no complete record at byte {offset}"))?;
        if rec.kind != RecordKind::Footer as u8 || !rec.crc_ok() {
            return Err(format!("the record at byte {offset} is not an intact footer"));
        }
        if rec.offset + rec.bytes.len() as u64 != t as u64 {
            return Err("the footer does not end where the trailer starts".into());
        }
        decode_meta::<Footer>(rec.body()).map(Some).map_err(|e| format!("footer: {e}"))
    }

    /// Takes chunks and metadata from an intact footer. Chunk extents come from the index as
    /// they are, so damage anywhere in a chunk record (its kind and length bytes included) shows
    /// as that chunk's CRC failure; a damaged metadata record is reported and skipped. Fails only
    /// when the index points outside the file.
    fn load_from_footer(&mut self, footer: &Footer) -> Result<(), String> {
        for (n, e) in footer.chunks.iter().enumerate() {
            let record = self.indexed_bytes(e.offset, e.record_len)?;
            self.chunks.push(ChunkRef {
                number: n as u64,
                offset: e.offset,
                info: chunk_info_from_index(e),
                record,
                major: self.version.0,
            });
        }
        for (n, &off) in footer.metadata.iter().enumerate() {
            // Record numbers count the header as 0; n + 1 is the metadata record's ordinal.
            let number = n as u64 + 1;
            let o = usize::try_from(off).map_err(|_| format!("index offset {off} too large"))?;
            let rec = match record::frame_at(self.data, o) {
                Ok(rec) if rec.crc_ok() => rec,
                Ok(rec) => {
                    let (expected, actual) = rec.crc();
                    let detail = format!("CRC mismatch (stored {expected:#010x}, computed {actual:#010x})");
                    self.damage.push(Damage::Corrupt { record: number, chunk: None, offset: off, detail });
                    continue;
                }
                Err(_) => {
                    let detail = "its length runs past the end of the file".to_string();
                    self.damage.push(Damage::Corrupt { record: number, chunk: None, offset: off, detail });
                    continue;
                }
            };
            if let Err(e) = self.add_metadata(&rec, number) {
                self.damage.push(Damage::Corrupt {
                    record: number,
                    chunk: None,
                    offset: off,
                    detail: e.to_string(),
                });
            }
        }
        Ok(())
    }

    fn indexed_bytes(&self, offset: u64, len: u64) -> Result<&'a [u8], String> {
        let end = offset.checked_add(len).filter(|&e| e <= self.data.len() as u64);
        match end {
            Some(end) if len >= record::FRAME_LEN as u64 => Ok(&self.data[offset as usize..end as usize]),
            _ => Err(format!("index entry at byte {offset} ({len} bytes) lies outside the file")),
        }
    }

    /// Reads records one after another from `offset`, stopping at the footer, the end of the data,
    /// or the first damaged record.
    fn scan(&mut self, mut offset: usize) {
        let mut record = 1u64; // the header was record 0
        loop {
            if offset == self.data.len() {
                self.damage.push(Damage::NoFooter { offset: offset as u64 });
                return;
            }
            let rec = match record::frame_at(self.data, offset) {
                Ok(r) => r,
                Err(FrameError::Truncated { need, have }) => {
                    self.damage.push(Damage::Truncated {
                        offset: offset as u64,
                        needed: need,
                        present: have,
                    });
                    return;
                }
            };
            let is_chunk = rec.kind == RecordKind::Chunk as u8;
            let chunk_no = is_chunk.then_some(self.chunks.len() as u64);
            let (expected, actual) = rec.crc();
            if expected != actual {
                // A damaged length would send the scan into garbage: stop here.
                self.damage.push(Damage::Corrupt {
                    record,
                    chunk: chunk_no,
                    offset: offset as u64,
                    detail: format!("CRC mismatch (stored {expected:#010x}, computed {actual:#010x})"),
                });
                return;
            }
            let result = match RecordKind::from_code(rec.kind) {
                Some(RecordKind::Chunk) => parse_chunk_body(rec.body()).map(|(_, info, _)| {
                    self.chunks.push(ChunkRef {
                        number: self.chunks.len() as u64,
                        offset: offset as u64,
                        info,
                        record: rec.bytes,
                        major: self.version.0,
                    });
                }),
                Some(RecordKind::Footer) => {
                    // An intact footer without a valid trailer: the file was cut inside the
                    // trailer. Everything is here; say so and keep the footer's totals.
                    let end = offset + rec.bytes.len();
                    if self.damage.is_empty() {
                        self.footer = decode_meta::<Footer>(rec.body()).ok();
                    }
                    if end + TRAILER_LEN != self.data.len()
                        || self.data[self.data.len().saturating_sub(8)..] != END_MAGIC
                    {
                        self.damage.push(Damage::Truncated {
                            offset: end as u64,
                            needed: TRAILER_LEN as u64,
                            present: (self.data.len() - end) as u64,
                        });
                    }
                    return;
                }
                Some(RecordKind::Header) => Err("a second header record".to_string()),
                Some(_) => self.add_metadata(&rec, record).map_err(|e| e.to_string()),
                None => {
                    self.unknown_records += 1;
                    Ok(())
                }
            };
            if let Err(detail) = result {
                self.damage.push(Damage::Corrupt { record, chunk: chunk_no, offset: offset as u64, detail });
                return;
            }
            offset += rec.bytes.len();
            record += 1;
        }
    }

    fn add_metadata(&mut self, rec: &RawRecord<'_>, number: u64) -> Result<()> {
        let err = |e: String| Error::CorruptRecord { record: number, offset: rec.offset, detail: e };
        let body = rec.body();
        match RecordKind::from_code(rec.kind) {
            Some(RecordKind::File) => self.files.push(decode_meta(body).map_err(err)?),
            Some(RecordKind::OpenFd) => self.open_fds.push(decode_meta(body).map_err(err)?),
            Some(RecordKind::Thread) => self.threads.push(decode_meta(body).map_err(err)?),
            Some(RecordKind::Process) => self.processes.push(decode_meta(body).map_err(err)?),
            Some(RecordKind::Status) => self.statuses.push(decode_meta(body).map_err(err)?),
            Some(RecordKind::Header | RecordKind::Chunk | RecordKind::Footer) => {
                return Err(err(format!("record kind {:#04x} where metadata was expected", rec.kind)))
            }
            None => self.unknown_records += 1,
        }
        Ok(())
    }

    /// The bytes the trace was parsed from.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Format version `(major, minor)` of the file.
    pub fn version(&self) -> (u16, u16) {
        self.version
    }

    /// The header record.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Chunks in file order.
    pub fn chunks(&self) -> &[ChunkRef<'a>] {
        &self.chunks
    }

    /// Files found while recording.
    pub fn files(&self) -> &[FileInfo] {
        &self.files
    }

    /// Descriptors open when recording started.
    pub fn open_fds(&self) -> &[OpenFd] {
        &self.open_fds
    }

    /// Thread names.
    pub fn threads(&self) -> &[ThreadInfo] {
        &self.threads
    }

    /// Traced processes found after the start (those found at the start are in the header).
    pub fn processes(&self) -> &[ProcessInfo] {
        &self.processes
    }

    /// Server counter snapshots.
    pub fn statuses(&self) -> &[StatusSnapshot] {
        &self.statuses
    }

    /// The footer, when the trace was finished and its footer is intact.
    pub fn footer(&self) -> Option<&Footer> {
        self.footer.as_ref()
    }

    /// What is wrong with the trace, if anything (empty for a complete, intact file).
    pub fn damage(&self) -> &[Damage] {
        &self.damage
    }

    /// Records of kinds this version does not know (skipped).
    pub fn unknown_records(&self) -> u64 {
        self.unknown_records
    }

    /// The smallest and largest event timestamps (trace clock, ns) of the readable chunks, from
    /// the chunk index; `None` when they hold no event.
    pub fn time_range(&self) -> Option<(u64, u64)> {
        self.chunks.iter().filter(|c| c.info.events > 0).fold(None, |r, c| {
            let (lo, hi) = r.unwrap_or((u64::MAX, 0));
            Some((lo.min(c.info.t_min), hi.max(c.info.t_max)))
        })
    }

    /// Number of events in the readable chunks (from chunk headers, without decoding).
    pub fn event_count(&self) -> u64 {
        self.chunks.iter().fold(0, |a, c| a.saturating_add(c.info.events))
    }

    /// Decodes every chunk in order, calling `f` for each event. Stops at the first chunk that
    /// fails to decode.
    pub fn for_each_event(&self, mut f: impl FnMut(Event)) -> Result<DecodeStats> {
        let mut total = DecodeStats::default();
        let mut cols = ChunkColumns::default();
        for c in &self.chunks {
            let s = c.for_each_into(&mut cols, &mut f)?;
            total.events = total.events.saturating_add(s.events);
            total.unknown_kind = total.unknown_kind.saturating_add(s.unknown_kind);
        }
        Ok(total)
    }

    /// Iterates over all events in file order, a chunk at a time. A chunk that fails to decode
    /// yields one `Err` and the iteration goes on with the next chunk.
    pub fn events(&self) -> Events<'_, 'a> {
        Events { chunks: self.chunks.iter(), current: Vec::new().into_iter() }
    }

    /// Runs `f` on every chunk in parallel (rayon's global pool), results in chunk order.
    pub fn par_chunks<T: Send>(&self, f: impl Fn(&ChunkRef<'a>) -> T + Sync + Send) -> Vec<T> {
        self.chunks.par_iter().map(f).collect()
    }

    /// Decodes every chunk to columns in parallel (rayon's global pool), each worker reusing one
    /// [`ChunkColumns`], and maps it with `f`; results in chunk order.
    pub fn par_map_columns<T: Send>(
        &self,
        f: impl Fn(&ChunkRef<'a>, &ChunkColumns) -> T + Sync + Send,
    ) -> Vec<Result<T>> {
        self.chunks
            .par_iter()
            .map_init(ChunkColumns::default, |cols, c| c.columns_into(cols).map(|()| f(c, cols)))
            .collect()
    }

    /// Streams the trace through `map` and `consume` with bounded memory: chunks are decoded and
    /// mapped in parallel a window at a time (`window` chunks; 0 picks two per rayon thread) and
    /// `consume` gets the results one by one in chunk order, running while the next window is
    /// decoded. `map` may take the columns (`std::mem::take`) to hand them on whole.
    pub fn map_in_order<T: Send>(
        &self,
        window: usize,
        map: impl Fn(&ChunkRef<'a>, &mut ChunkColumns) -> T + Sync + Send,
        mut consume: impl FnMut(usize, Result<T>) + Send,
    ) {
        let window = if window == 0 { rayon::current_num_threads().max(1) * 2 } else { window };
        let decode = |group: &[ChunkRef<'a>]| -> Vec<Result<T>> {
            group
                .par_iter()
                .map_init(ChunkColumns::default, |cols, c| c.columns_into(cols).map(|()| map(c, cols)))
                .collect()
        };
        let mut groups = self.chunks.chunks(window);
        let mut current = groups.next().map(decode).unwrap_or_default();
        let mut base = 0;
        for group in groups {
            let done = current.len();
            let (next, ()) = rayon::join(
                || decode(group),
                || {
                    for (i, r) in current.drain(..).enumerate() {
                        consume(base + i, r);
                    }
                },
            );
            base += done;
            current = next;
        }
        for (i, r) in current.into_iter().enumerate() {
            consume(base + i, r);
        }
    }

    /// Checks every chunk's CRC in parallel; the damaged chunks' errors in chunk order.
    pub fn verify_chunks(&self) -> Vec<Error> {
        self.par_chunks(ChunkRef::verify).into_iter().filter_map(Result::err).collect()
    }
}

/// Iterator over a trace's events; see [`Trace::events`].
#[derive(Debug)]
pub struct Events<'t, 'a> {
    chunks: std::slice::Iter<'t, ChunkRef<'a>>,
    current: std::vec::IntoIter<Event>,
}

impl Iterator for Events<'_, '_> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.current.next() {
                return Some(Ok(e));
            }
            let c = self.chunks.next()?;
            match c.events() {
                Ok(v) => self.current = v.into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

fn chunk_info_from_index(e: &ChunkIndexEntry) -> ChunkInfo {
    ChunkInfo {
        events: e.events,
        base_ts: 0, // only the chunk's own header has it; decoding re-reads that header
        t_min: e.t_min,
        t_max: e.t_max,
        uncompressed_len: e.uncompressed_len,
        kind_counts: e.kind_counts.clone(),
    }
}

fn check_preamble(data: &[u8]) -> Result<(u16, u16)> {
    let n = data.len().min(MAGIC.len());
    if data[..n] != MAGIC[..n] {
        return Err(Error::NotATrace { found: printable(&data[..n]) });
    }
    if data.len() < PREAMBLE_LEN {
        return Err(Error::TooShort { len: data.len() as u64 });
    }
    let major = u16::from_le_bytes([data[8], data[9]]);
    let minor = u16::from_le_bytes([data[10], data[11]]);
    if major > VERSION_MAJOR {
        return Err(Error::NewerVersion { major, minor, supported: VERSION_MAJOR });
    }
    if major == 0 {
        return Err(Error::BadHeader { offset: 8, detail: "format major version 0 does not exist".into() });
    }
    Ok((major, minor))
}

fn read_header(data: &[u8]) -> Result<(Header, usize)> {
    let offset = PREAMBLE_LEN as u64;
    let bad = |detail: String| Error::BadHeader { offset, detail };
    let rec = record::frame_at(data, PREAMBLE_LEN).map_err(|FrameError::Truncated { need, have }| {
        if have < 5 {
            Error::TooShort { len: data.len() as u64 }
        } else {
            bad(format!("the file ends inside it ({have} of {need} bytes present)"))
        }
    })?;
    if rec.kind != RecordKind::Header as u8 {
        return Err(bad(format!("the first record has kind {:#04x}, not the header's", rec.kind)));
    }
    let (expected, actual) = rec.crc();
    if expected != actual {
        return Err(bad(format!("CRC mismatch (stored {expected:#010x}, computed {actual:#010x})")));
    }
    let header = decode_meta(rec.body()).map_err(bad)?;
    Ok((header, rec.bytes.len()))
}

/// Decodes a postcard metadata body under the compatibility rule of `meta`: trailing unknown
/// bytes are ignored by postcard itself; missing trailing fields read as zeros, which in postcard
/// are 0, "", [], None, false and the first variant.
pub(crate) fn decode_meta<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    match postcard::from_bytes(body) {
        Ok(v) => Ok(v),
        Err(postcard::Error::DeserializeUnexpectedEnd) => {
            let mut padded = body.to_vec();
            padded.resize(body.len() + 4096, 0);
            postcard::from_bytes(&padded).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

fn printable(b: &[u8]) -> String {
    if b.is_empty() {
        return "nothing (an empty file)".into();
    }
    let text: String = b.iter().map(|&c| if (0x20..0x7f).contains(&c) { c as char } else { '.' }).collect();
    format!("{text:?}")
}

/// A trace file mapped into memory.
#[derive(Debug)]
pub struct TraceFile {
    path: PathBuf,
    map: Option<memmap2::Mmap>,
}

impl TraceFile {
    /// Opens and maps `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source| Error::Open { path: path.clone(), source };
        let file = std::fs::File::open(&path).map_err(open_err)?;
        let meta = file.metadata().map_err(open_err)?;
        if meta.is_dir() {
            return Err(open_err(std::io::Error::other("it is a directory")));
        }
        if meta.len() == 0 {
            return Ok(TraceFile { path, map: None });
        }
        // SAFETY: the map is read-only and private to this process. Traces are written once and
        // not modified afterwards; a trace still being written is only ever appended to, which
        // does not change the mapped prefix.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(open_err)?;
        Ok(TraceFile { path, map: Some(map) })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Parses the mapped bytes.
    pub fn parse(&self) -> Result<Trace<'_>> {
        Trace::parse(self.bytes())
    }
}
