//! Fuzzes the reader: any bytes must parse, summarize and decode without a panic, a hang or an
//! unbounded allocation. Run from crates/format: `cargo +nightly fuzz run read`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mysql_io_format::{ChunkColumns, Trace, TraceSummary};

fuzz_target!(|data: &[u8]| {
    let Ok(trace) = Trace::parse(data) else { return };
    let _ = TraceSummary::of(&trace);
    let mut cols = ChunkColumns::default();
    for c in trace.chunks() {
        if c.columns_into(&mut cols).is_ok() {
            let _ = cols.for_each_event(|e| {
                std::hint::black_box(e);
            });
        }
        let _ = c.for_each(|e| {
            std::hint::black_box(e);
        });
    }
    for e in trace.events() {
        let _ = std::hint::black_box(e);
    }
});
