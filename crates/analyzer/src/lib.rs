//! Analysis of `.mio` traces on polars: the read operations of a trace as a frame with its file
//! and thread tables ([`dataset`]), and the analyses `mysql-io analyze` prints: sequentiality
//! ([`seq`]), files and threads ([`tables`], with latency percentiles from [`latency`]'s
//! histograms), readahead and hit ratios ([`readahead`]); and the Parquet/CSV export
//! ([`export`]). Definitions are in `docs/analysis.md`.

pub mod dataset;
pub mod export;
pub mod latency;
pub mod names;
pub mod readahead;
pub mod seq;
pub mod tables;

pub use dataset::{load, load_with, Dataset, Filter};

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
}
