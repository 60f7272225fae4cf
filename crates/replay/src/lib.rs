//! Replays a trace's reads on real files: one worker per recorded thread, each issuing its reads
//! in recorded order through the recorded API ([`exec`]), with the run's settings (device
//! readahead, dropped caches, a memory limit) applied and undone by [`setup`].
//!
//! [`trace::plan_of`] turns a trace into a [`Plan`] (the reads as `mysql_io_reads` defines
//! them); the executor and the settings know nothing of the trace format.

pub mod exec;
pub mod plan;
pub mod setup;
pub mod trace;

pub use plan::{Api, Plan, PlanFile, PlanRead, PlanStream, ThreadPlan};
