//! Analysis of `.mio` traces on polars: the read operations of a trace as a frame with its file
//! and thread tables ([`dataset`]), and the analyses `mysql-io analyze` prints: sequentiality
//! ([`seq`]), files and threads ([`tables`], with latency percentiles from [`latency`]'s
//! histograms), readahead and hit ratios ([`readahead`]), the statements the reads were made
//! for ([`statements`]); and the Parquet/CSV export ([`export`]), also as hive partitions of a
//! fleet's traces ([`fleet`]). Definitions are in `docs/analysis.md`.

pub mod dataset;
pub mod export;
pub mod fleet;
pub mod readahead;
pub mod seq;
pub mod statements;
pub mod tables;
pub mod views;

pub use dataset::{load, load_with, Dataset, Filter};
/// Latency histograms and the names reads are grouped by live with the definition of a read
/// (`crates/reads`, no polars), so the report can use them too.
pub use mysql_io_reads::{latency, names};

/// A progress callback: `(chunks done, chunks in all)`; it may be called from several threads.
pub type Progress<'a> = dyn Fn(usize, usize) + Sync + 'a;
pub use polars;

/// Why an analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// A dataframe operation failed (a bug: the frames are built here).
    #[error("dataframe operation failed: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// The trace could not be read.
    #[error(transparent)]
    Trace(#[from] mysql_io_format::Error),
    /// A filter is malformed.
    #[error("{0}")]
    BadFilter(String),
    /// An output could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Output {
        /// The path.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An output directory is a file (or something else).
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: std::path::PathBuf,
    },
    /// A trace's partitions are already in the fleet directory.
    #[error("host={host}/trace={trace} is already exported ({}); --force replaces it", path.display())]
    PartitionExists {
        /// The host partition value.
        host: String,
        /// The trace id.
        trace: String,
        /// One of its partition directories.
        path: std::path::PathBuf,
    },
}
