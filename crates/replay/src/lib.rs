//! Replays a trace's reads on real files: one worker per recorded thread, each issuing its reads
//! in recorded order through the recorded API ([`exec`]), with the run's settings (device
//! readahead, dropped caches, a memory limit) applied and undone by [`setup`].
//!
//! This crate knows nothing of the trace format: the caller turns a trace into a [`Plan`].

pub mod exec;
pub mod plan;
pub mod setup;

pub use plan::{Api, Plan, PlanFile, PlanRead, PlanStream, ThreadPlan};
