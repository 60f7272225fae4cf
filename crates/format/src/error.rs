//! The crate's error type: every variant carries the numbers needed to find the problem (chunk
//! number, byte offset, stored and computed CRC).

use std::path::PathBuf;

/// Errors reading or writing a trace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing the trace failed (disk full, closed pipe, ...).
    #[error("writing the trace failed: {0}")]
    Write(#[source] std::io::Error),
    /// The data does not start with the `.mio` magic bytes.
    #[error("not a mysql-io trace: it starts with {found}, not the .mio signature")]
    NotATrace {
        /// The first bytes found, printable.
        found: String,
    },
    /// The file is shorter than the preamble and header.
    #[error("the file is {len} bytes long, too short to hold a trace header (it may be empty or cut off at the start)")]
    TooShort {
        /// File length.
        len: u64,
    },
    /// Written by a newer, incompatible format version.
    #[error("this trace uses format {major}.{minor}, but this mysql-io reads format {supported}.x: upgrade mysql-io to read it")]
    NewerVersion {
        /// Major version in the file.
        major: u16,
        /// Minor version in the file.
        minor: u16,
        /// Major version this build reads.
        supported: u16,
    },
    /// The header record is missing or damaged: nothing in the file can be trusted.
    #[error("the trace header at byte {offset} is unreadable: {detail}")]
    BadHeader {
        /// Offset of the header record.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// A chunk's bytes do not match its CRC.
    #[error("chunk {chunk} at byte {offset} is damaged: CRC mismatch (stored {expected:#010x}, computed {actual:#010x})")]
    ChunkCrc {
        /// Chunk number, from 0.
        chunk: u64,
        /// Offset of the chunk record.
        offset: u64,
        /// CRC stored in the file.
        expected: u32,
        /// CRC computed from the bytes.
        actual: u32,
    },
    /// A chunk's CRC matched but its contents could not be decoded.
    #[error("chunk {chunk} at byte {offset} cannot be decoded: {detail}")]
    CorruptChunk {
        /// Chunk number, from 0.
        chunk: u64,
        /// Offset of the chunk record.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// A metadata record could not be read.
    #[error("record {record} at byte {offset} cannot be decoded: {detail}")]
    CorruptRecord {
        /// Record number, from 0 (the header is record 0).
        record: u64,
        /// Offset of the record.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// The writer was used after it failed or finished.
    #[error("the trace writer is closed{}", if .0.is_empty() { String::new() } else { format!(": {}", .0) })]
    WriterClosed(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
