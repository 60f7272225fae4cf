//! The recorder: BPF probes on every thread of the target processes, streamed into a `.mio` trace.
//!
//! [`plan`] decides which BPF programs capture each event kind on this kernel (pure, tested from
//! fixtures); [`loader`] loads and attaches them; [`abi`] decodes their records; [`inventory`]
//! reads what /proc and /sys know about the targets and the machine; [`server`] asks the server
//! itself for its thread names and status counters; [`session`] runs a recording, with
//! [`consumer`] turning ring-buffer records into trace events. For `record --statements`,
//! [`dispatch`] finds the server's command-dispatch function by its symbol and [`digest`]
//! normalises a statement's text and digests it.
#![allow(unsafe_code)]

pub mod abi;
pub mod consumer;
pub mod digest;
pub mod dispatch;
pub mod doctor;
pub mod facts;
pub mod inventory;
pub mod loader;
pub mod plan;
pub mod privilege;
pub mod redact;
pub mod selfcheck;
pub mod server;
pub mod session;
pub mod statements;
mod watch;

mod skel {
    #![allow(missing_docs, unreachable_pub, clippy::all, clippy::unwrap_used, missing_debug_implementations)]
    include!(concat!(env!("OUT_DIR"), "/mio.skel.rs"));
}
