//! The page cache and Linux readahead for `mysql-io`: what a trace shows ([`accounting`]), and
//! what other `read_ahead_kb` settings would have done ([`simulate`]).
//!
//! The simulator replays each open file description's recorded reads through a model of the
//! kernel's readahead ([`model`], after `mm/readahead.c` and `mm/filemap.c` of Linux 6.18 and
//! 6.1) and a model of the page cache ([`cache`]); at the recorded setting it is checked
//! against the kernel's own decisions and figures, which the trace holds. Definitions and
//! limits are in `docs/simulate.md`.

pub mod accounting;
mod cache;
pub mod compare;
pub mod input;
pub mod model;
pub mod report;
pub mod run;
pub mod tables;
pub mod verdict;
pub mod versus;

pub use accounting::{Accounting, Fate, Inserter, PageFigures};
pub use compare::Agreement;
pub use input::{extract, extract_with, Input};
pub use model::{Decision, Variant};
pub use report::{simulate, Figures, Options, Recommendation, SettingReport, SimReport};
pub use run::Mode;
pub use verdict::{DeviceVerdict, Point};
