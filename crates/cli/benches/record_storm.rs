//! Recorder throughput (root): how many events per second `mysql-io record` writes with zero
//! drops while helper processes storm a cached file with small preads (each read is one `read`
//! event), and the bytes per event on disk. What recording costs the storm itself is
//! `record_overhead`'s business.
//!
//! Run: `cargo bench -p mysql-io --bench record_storm` as root (`-- --seconds N` to change the
//! storm's length). Every row runs the real recorder binary on the real kernel.

#[path = "../../recorder/tests/support/mod.rs"]
mod support;

use std::process::Command;

use mysql_io_format::{EventKind, TraceFile};

use support::bench_arg as arg;

fn main() {
    let seconds = arg("--seconds", 3.0);
    let bin = std::env::var("MYSQL_IO_BIN").unwrap_or_else(|_| {
        let exe = std::env::current_exe().expect("bench path");
        let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
        dir.join("mysql-io").to_string_lossy().into_owned()
    });
    assert!(
        std::path::Path::new(&bin).exists(),
        "build the binary first: cargo build --release -p mysql-io ({bin})"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("storm.dat");
    std::fs::write(&data, vec![7u8; 1 << 20]).expect("write data");
    let reads = support::helper("reads");
    let (r, d) = (reads.to_string_lossy().into_owned(), data.to_string_lossy().into_owned());

    println!("recorder storm benchmark: cached 64-byte preads over 64 KiB, {seconds} s per row");
    println!("  readers  reads/s      events/s recorded   lost   bytes/event   trace");
    for readers in [1, 2] {
        let trace = dir.path().join(format!("storm{readers}.mio"));
        let job = format!("{r} {d} loop:{seconds}:64:65536");
        let script = vec![job; readers].join(" & ") + " & wait";
        let out = Command::new(&bin)
            .args(["record", "-o"])
            .arg(&trace)
            .args(["--", "sh", "-c", &script])
            .output()
            .expect("run mysql-io record");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let did: u64 = support::json_lines(&out.stdout)
            .iter()
            .filter(|l| l["op"] == "loop")
            .map(|l| l["reads"].as_u64().expect("reads"))
            .sum();
        let file = TraceFile::open(&trace).expect("trace");
        let t = file.parse().expect("parse");
        let footer = t.footer().expect("footer");
        let lost: u64 = footer.totals.lost.iter().map(|l| l.2).sum();
        // The storm's events: between the first and last read of the storm.
        let mut first = u64::MAX;
        let mut last = 0;
        let mut storm_events = 0u64;
        t.for_each_event(|e| {
            if e.kind() == EventKind::Read {
                first = first.min(e.ts);
                last = last.max(e.ts);
                storm_events += 1;
            }
        })
        .expect("decode");
        let span = (last.saturating_sub(first)) as f64 / 1e9;
        let bytes = std::fs::metadata(&trace).expect("stat").len();
        println!(
            "  {readers:7}  {:>10.0}  {:>18.0}  {lost:>5}   {:>11.2}   {:.1} MiB, {} events",
            did as f64 / span.max(1e-9),
            storm_events as f64 / span,
            bytes as f64 / footer.totals.events as f64,
            bytes as f64 / (1 << 20) as f64,
            footer.totals.events
        );
    }
}
