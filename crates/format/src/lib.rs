//! The `.mio` trace format of mysql-io: event model, streaming writer, and reader.
//!
//! A trace is a preamble, a [`Header`] record, then chunks of events (columnar, zstd-compressed,
//! CRC-checked) interleaved with metadata records (files, threads, processes, server counters),
//! and a [`Footer`] indexing it all. `docs/format.md` specifies it byte for byte.
//!
//! ```
//! use mysql_io_format::{Event, EventBody, Header, PageCacheAdd, Trace, Writer, WriterOptions};
//!
//! let mut w = Writer::new(Vec::new(), &Header::default(), WriterOptions::default())?;
//! let body = EventBody::PageCacheAdd(PageCacheAdd { dev: 8 << 20, ino: 12, index: 3, order: 0 });
//! w.push(&Event { ts: 1_000, pid: 10, tid: 11, cpu: 0, body })?;
//! let bytes = w.into_inner()?;
//!
//! let trace = Trace::parse(&bytes)?;
//! let events: Vec<Event> = trace.events().collect::<Result<_, _>>()?;
//! assert_eq!(events.len(), 1);
//! # Ok::<(), mysql_io_format::Error>(())
//! ```
//!
//! This crate has no BPF and no dataframe dependency: it builds and tests anywhere.

mod chunk;
mod columns;
mod error;
mod event;
mod meta;
mod reader;
mod record;
mod summary;
pub mod synth;
mod tables;

/// Internals exposed for the format benchmark's per-column report; not a stable API.
#[doc(hidden)]
pub mod diagnostics {
    pub use crate::chunk::{
        columns_from_raw_payload, decode_raw_payload, decode_raw_payload_of, encode_for_diagnostics,
        payload_streams,
    };
}
mod varint;
mod writer;

pub use chunk::{ChunkColumns, ChunkInfo, DecodeStats};
pub use columns::{Bits, ColumnDoc};
pub use error::{Error, Result};
pub use event::*;
pub use meta::{
    release_version, BlockDevice, ChunkIndexEntry, Clock, FileInfo, Footer, Header, Metadata, OpenFd,
    ProbeInfo, ProbeMode, ProcessInfo, StatusSnapshot, ThreadInfo, Totals,
};
pub use reader::{ChunkRef, Damage, Events, Trace, TraceFile};
pub use record::{RecordKind, END_MAGIC, MAGIC, PREAMBLE_LEN, TRAILER_LEN, VERSION_MAJOR, VERSION_MINOR};
pub use summary::{status_deltas, StatusDelta, TraceSummary, KEY_STATUS_COUNTERS};
pub use writer::{LiveStats, Summary, Writer, WriterOptions, MAX_CHUNK_BYTES};
