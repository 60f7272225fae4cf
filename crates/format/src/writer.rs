//! Streaming trace writer.
//!
//! The caller's thread only appends events to column buffers ([`ChunkEncoder`]). When a chunk
//! closes (size bound, or its events span the time bound, or [`Writer::tick`] finds it open longer
//! than the time bound) its payload goes to a worker thread that compresses it with zstd, frames
//! it and writes it, so the caller never waits for compression or disk unless the queue of closed
//! chunks is full. A crash loses at most the open chunk and the queue.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::chunk::{ChunkEncoder, ChunkInfo, COMPRESSION_ZSTD};
use crate::error::{Error, Result};
use crate::meta::{ChunkIndexEntry, Footer, Header, Metadata, Totals};
use crate::record::{self, RecordKind, PREAMBLE_LEN};
use crate::{Event, EventBody};

/// Writer settings.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// A chunk closes once its payload reaches this many bytes before compression (checked every
    /// 64 events).
    pub chunk_bytes: usize,
    /// A chunk closes once its events span this long, or once it has been open this long by the
    /// wall clock (checked in [`Writer::push`] every 64 events and in [`Writer::tick`]).
    pub chunk_span: Duration,
    /// zstd level (1-19; 3 is zstd's default).
    pub zstd_level: i32,
    /// Closed chunks that may wait for the worker before [`Writer::push`] blocks.
    pub queue: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { chunk_bytes: 4 << 20, chunk_span: Duration::from_secs(1), zstd_level: 3, queue: 16 }
    }
}

/// Largest `chunk_bytes` accepted: keeps every record far below the 4 GiB framing limit and
/// below what readers accept.
pub const MAX_CHUNK_BYTES: usize = 64 << 20;

/// What a finished writer wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Summary {
    /// Events written.
    pub events: u64,
    /// Chunks written.
    pub chunks: u64,
    /// Bytes in the file.
    pub file_bytes: u64,
    /// Chunk payload bytes before compression.
    pub uncompressed_bytes: u64,
    /// Chunk payload bytes after compression.
    pub compressed_bytes: u64,
    /// Events reported lost by `lost` events.
    pub lost: u64,
}

/// Counters a recorder can show while the writer runs.
#[derive(Debug, Default)]
pub struct LiveStats {
    /// Bytes written to the sink so far.
    pub file_bytes: AtomicU64,
    /// Chunk payload bytes before compression, of chunks written so far.
    pub uncompressed_bytes: AtomicU64,
    /// Chunk payload bytes after compression, of chunks written so far.
    pub compressed_bytes: AtomicU64,
    /// Chunks written so far.
    pub chunks: AtomicU64,
}

enum Job {
    Chunk(ChunkInfo, Vec<u8>),
    Meta(u8, Vec<u8>),
    Finish(Totals),
}

/// Writes a trace to `W` (a file, or a `Vec<u8>` in tests).
pub struct Writer<W: Write + Send + 'static> {
    enc: ChunkEncoder,
    opts: WriterOptions,
    opened_at: Option<Instant>,
    tx: Option<SyncSender<Job>>,
    worker: Option<JoinHandle<std::io::Result<(W, u64)>>>,
    events: u64,
    kind_counts: [u64; 256],
    lost: BTreeMap<(u16, u8), u64>,
    t_min: u64,
    t_max: u64,
    live: Arc<LiveStats>,
    summary: Option<Summary>,
    sink: Option<W>,
    failed: Option<String>,
}

impl<W: Write + Send + 'static> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("events", &self.events)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send + 'static> Writer<W> {
    /// Writes the preamble and `header` to `sink` (errors show at once), then starts the worker.
    pub fn new(mut sink: W, header: &Header, opts: WriterOptions) -> Result<Self> {
        if opts.chunk_bytes == 0 || opts.chunk_bytes > MAX_CHUNK_BYTES {
            return Err(Error::WriterClosed(format!(
                "chunk size {} is outside 1..={MAX_CHUNK_BYTES} bytes",
                opts.chunk_bytes
            )));
        }
        let mut start = Vec::new();
        record::write_preamble(&mut start);
        let body = postcard::to_stdvec(header).map_err(|e| Error::WriterClosed(e.to_string()))?;
        record::write_record(&mut start, RecordKind::Header as u8, &body);
        sink.write_all(&start).and_then(|()| sink.flush()).map_err(Error::Write)?;
        debug_assert!(start.len() > PREAMBLE_LEN);

        let live = Arc::new(LiveStats::default());
        live.file_bytes.store(start.len() as u64, Ordering::Relaxed);
        let (tx, rx) = sync_channel(opts.queue.max(1));
        let worker_live = Arc::clone(&live);
        let level = opts.zstd_level;
        let offset = start.len() as u64;
        let worker = std::thread::Builder::new()
            .name("mio-writer".into())
            .spawn(move || run_worker(sink, rx, offset, level, &worker_live))
            .map_err(Error::Write)?;
        Ok(Writer {
            enc: ChunkEncoder::default(),
            opts,
            opened_at: None,
            tx: Some(tx),
            worker: Some(worker),
            events: 0,
            kind_counts: [0; 256],
            lost: BTreeMap::new(),
            t_min: u64::MAX,
            t_max: 0,
            live,
            summary: None,
            sink: None,
            failed: None,
        })
    }

    /// Counters shared with the worker, for progress display.
    pub fn live_stats(&self) -> Arc<LiveStats> {
        Arc::clone(&self.live)
    }

    /// Events pushed so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Appends one event.
    #[inline]
    pub fn push(&mut self, ev: &Event) -> Result<()> {
        if self.tx.is_none() {
            return Err(self.closed());
        }
        if let Some(first) = self.enc.first_ts() {
            if ev.ts.saturating_sub(first) >= self.opts.chunk_span.as_nanos() as u64 {
                self.close_chunk()?;
            }
        }
        if self.enc.is_empty() {
            self.opened_at = Some(Instant::now());
        }
        self.enc.push(ev);
        self.events += 1;
        self.kind_counts[ev.kind().code() as usize] += 1;
        self.t_min = self.t_min.min(ev.ts);
        self.t_max = self.t_max.max(ev.ts);
        if let EventBody::Lost(l) = &ev.body {
            let n = self.lost.entry((ev.cpu, l.kind)).or_default();
            *n = n.saturating_add(l.count);
        }
        if self.enc.len() % 64 == 0 && (self.enc.raw_len() >= self.opts.chunk_bytes || self.open_too_long()) {
            self.close_chunk()?;
        }
        Ok(())
    }

    fn open_too_long(&self) -> bool {
        self.opened_at.is_some_and(|t| t.elapsed() >= self.opts.chunk_span)
    }

    /// Closes the open chunk if it has been open longer than the time bound. Call it regularly
    /// when events may stop arriving, so that they reach the disk anyway.
    pub fn tick(&mut self) -> Result<()> {
        if !self.enc.is_empty() && self.open_too_long() {
            self.close_chunk()?;
        }
        Ok(())
    }

    /// Closes the open chunk now.
    pub fn flush(&mut self) -> Result<()> {
        if !self.enc.is_empty() {
            self.close_chunk()?;
        }
        Ok(())
    }

    /// Adds a metadata record (written in order with the chunks closed before it).
    pub fn write_metadata(&mut self, m: &Metadata) -> Result<()> {
        let (kind, body) = match m {
            Metadata::File(v) => (RecordKind::File, postcard::to_stdvec(v)),
            Metadata::OpenFd(v) => (RecordKind::OpenFd, postcard::to_stdvec(v)),
            Metadata::Thread(v) => (RecordKind::Thread, postcard::to_stdvec(v)),
            Metadata::Process(v) => (RecordKind::Process, postcard::to_stdvec(v)),
            Metadata::Status(v) => (RecordKind::Status, postcard::to_stdvec(v)),
        };
        let body = body.map_err(|e| Error::WriterClosed(e.to_string()))?;
        self.send(Job::Meta(kind as u8, body))
    }

    /// Writes a record of any kind, for tests of readers' handling of record kinds they do not
    /// know. Not for production use: readers skip kinds they do not know.
    #[doc(hidden)]
    pub fn write_raw_record(&mut self, kind: u8, body: Vec<u8>) -> Result<()> {
        self.send(Job::Meta(kind, body))
    }

    fn close_chunk(&mut self) -> Result<()> {
        let (info, payload) = self.enc.take();
        self.opened_at = None;
        self.send(Job::Chunk(info, payload))
    }

    fn send(&mut self, job: Job) -> Result<()> {
        let Some(tx) = &self.tx else { return Err(self.closed()) };
        if tx.send(job).is_err() {
            // The worker stopped: it failed. Collect its error.
            self.tx = None;
            return Err(self.join_worker().err().unwrap_or_else(|| self.closed()));
        }
        Ok(())
    }

    fn closed(&self) -> Error {
        Error::WriterClosed(self.failed.clone().unwrap_or_default())
    }

    fn join_worker(&mut self) -> Result<u64> {
        let Some(worker) = self.worker.take() else { return Err(self.closed()) };
        match worker.join() {
            Ok(Ok((sink, file_bytes))) => {
                self.sink = Some(sink);
                Ok(file_bytes)
            }
            Ok(Err(e)) => {
                self.failed = Some(e.to_string());
                Err(Error::Write(e))
            }
            Err(_) => {
                self.failed = Some("the writer thread panicked".into());
                Err(self.closed())
            }
        }
    }

    /// Writes the open chunk, the footer and the trailer. Calling it again returns the same
    /// summary. Dropping an unfinished writer finishes it (ignoring errors).
    pub fn finish(&mut self) -> Result<Summary> {
        if let Some(s) = &self.summary {
            return Ok(s.clone());
        }
        self.flush()?;
        let kind_counts =
            self.kind_counts.iter().enumerate().filter(|(_, &n)| n > 0).map(|(c, &n)| (c as u8, n)).collect();
        let totals = Totals {
            events: self.events,
            kind_counts,
            lost: self.lost.iter().map(|(&(cpu, kind), &n)| (cpu, kind, n)).collect(),
            uncompressed_bytes: 0, // the worker fills in the byte counts
            compressed_bytes: 0,
            t_min: if self.events == 0 { 0 } else { self.t_min },
            t_max: self.t_max,
        };
        self.send(Job::Finish(totals))?;
        self.tx = None;
        let file_bytes = self.join_worker()?;
        let summary = Summary {
            events: self.events,
            chunks: self.live.chunks.load(Ordering::Relaxed),
            file_bytes,
            uncompressed_bytes: self.live.uncompressed_bytes.load(Ordering::Relaxed),
            compressed_bytes: self.live.compressed_bytes.load(Ordering::Relaxed),
            lost: self.lost.values().fold(0, |a, &n| a.saturating_add(n)),
        };
        self.summary = Some(summary.clone());
        Ok(summary)
    }

    /// Finishes and returns the sink.
    pub fn into_inner(mut self) -> Result<W> {
        self.finish()?;
        self.sink.take().ok_or_else(|| self.closed())
    }
}

impl<W: Write + Send + 'static> Drop for Writer<W> {
    fn drop(&mut self) {
        if self.summary.is_none() && self.tx.is_some() {
            let _ = self.finish();
        }
    }
}

/// The worker: compresses, frames and writes records in the order they were sent, keeps the
/// index, and writes the footer at the end. Returns the sink and the final file length.
fn run_worker<W: Write>(
    mut sink: W,
    rx: Receiver<Job>,
    mut offset: u64,
    level: i32,
    live: &LiveStats,
) -> std::io::Result<(W, u64)> {
    let mut compressor = zstd::bulk::Compressor::new(level)?;
    let mut chunks = Vec::new();
    let mut metadata = Vec::new();
    let mut uncompressed = 0u64;
    let mut compressed = 0u64;
    let mut out = Vec::new();
    // The channel closing without a Finish (the Writer was leaked or its thread died) leaves a
    // file without footer, which readers handle like a crash.
    while let Ok(job) = rx.recv() {
        out.clear();
        match job {
            Job::Chunk(info, payload) => {
                let packed = compressor.compress(&payload)?;
                let mut body = Vec::with_capacity(packed.len() + 64);
                body.push(COMPRESSION_ZSTD);
                info.write(&mut body);
                body.extend_from_slice(&packed);
                record::write_record(&mut out, RecordKind::Chunk as u8, &body);
                chunks.push(ChunkIndexEntry::new(offset, out.len() as u64, &info));
                uncompressed += payload.len() as u64;
                compressed += packed.len() as u64;
                live.uncompressed_bytes.store(uncompressed, Ordering::Relaxed);
                live.compressed_bytes.store(compressed, Ordering::Relaxed);
                live.chunks.store(chunks.len() as u64, Ordering::Relaxed);
            }
            Job::Meta(kind, body) => {
                record::write_record(&mut out, kind, &body);
                metadata.push(offset);
            }
            Job::Finish(mut totals) => {
                totals.uncompressed_bytes = uncompressed;
                totals.compressed_bytes = compressed;
                let footer = Footer {
                    chunks: std::mem::take(&mut chunks),
                    metadata: std::mem::take(&mut metadata),
                    totals,
                };
                let body = postcard::to_stdvec(&footer).map_err(std::io::Error::other)?;
                record::write_record(&mut out, RecordKind::Footer as u8, &body);
                record::write_trailer(&mut out, offset);
                sink.write_all(&out)?;
                sink.flush()?;
                offset += out.len() as u64;
                live.file_bytes.store(offset, Ordering::Relaxed);
                return Ok((sink, offset));
            }
        }
        // Flushed record by record: what the sink has is always a readable prefix.
        sink.write_all(&out)?;
        sink.flush()?;
        offset += out.len() as u64;
        live.file_bytes.store(offset, Ordering::Relaxed);
    }
    Ok((sink, offset))
}
