//! Simulation speed on a synthetic MariaDB-like trace (the `mysql-io synth` stream: 16 KiB
//! preads, mostly random, on 8 buffered 2 GiB tablespaces, with their readahead and evictions).
//!
//! Figures, side by side in one run:
//! - one core: the recorded setting plus 128 KiB, in a one-thread pool;
//! - all cores: the recorded setting plus a sweep of 0, 32, 128, 512 KiB (settings and files run
//!   in parallel);
//! - the same, free mode with a bounded cache (all files simulated together: no file
//!   parallelism);
//! - a recorded trace, `testdata/mariadb-sysbench.mio` (MariaDB under sysbench: mostly
//!   page-cache hits, where the synthetic stream is 55% misses), simulated 20 times over.
//!
//! "Accesses" are reads simulated (each 16 KiB read is one, summed over settings); pages are the
//! 4 KiB pages those reads asked for. Trace decoding and extraction are timed apart.
//!
//! Run: `cargo bench --profile release -p mysql-io-sim --bench simulate` (options after `--`:
//! `--events N`, default 20M; `--only TEXT`: the runs whose name has TEXT, e.g. for a profiler).

use std::time::Instant;

use mysql_io_format::synth::SyntheticStream;
use mysql_io_format::{Metadata, TraceFile, Writer, WriterOptions};
use mysql_io_sim::input::Op;
use mysql_io_sim::{simulate, Input, Mode, Options};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() {
    let events: u64 = arg("--events").and_then(|v| v.parse().ok()).unwrap_or(20_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("synth.mio");
    {
        let file = std::fs::File::create(&path).expect("create trace");
        let mut w = Writer::new(file, &SyntheticStream::header(), WriterOptions::default()).expect("writer");
        for f in SyntheticStream::files() {
            w.write_metadata(&Metadata::File(f)).expect("metadata");
        }
        for t in SyntheticStream::threads() {
            w.write_metadata(&Metadata::Thread(t)).expect("metadata");
        }
        for ev in SyntheticStream::new(11, 20_000).take(events as usize) {
            w.push(&ev).expect("push");
        }
        w.finish().expect("finish");
    }
    let file = TraceFile::open(&path).expect("open");
    let trace = file.parse().expect("parse");
    let t = Instant::now();
    let input = mysql_io_sim::extract(&trace);
    let extract_s = t.elapsed().as_secs_f64();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "simulation benchmark: {events} synthetic events, {} files, extraction {extract_s:.2} s ({:.1}M events/s), {cpus} CPUs",
        input.files.len(),
        events as f64 / extract_s / 1e6
    );
    println!("  run                                           settings  threads   accesses   seconds   M accesses/s   M accesses/s/core");
    let select = |_: &str| true;
    let only = arg("--only");
    // Runs `input` `times` times over; figures are for all of them together.
    let run = |input: &Input,
               name: &str,
               ra: &[u64],
               mode: Mode,
               cache_mb: Option<u64>,
               threads: usize,
               times: u32| {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            return;
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        let opts =
            Options { ra_kb: ra, mode, cache_mb, variant: None, select: &select, log_decisions: false };
        let t = Instant::now();
        let mut reads = 0;
        for _ in 0..times {
            reads += pool.install(|| simulate(input, &opts)).reads_simulated;
        }
        let s = t.elapsed().as_secs_f64();
        let rate = reads as f64 / s / 1e6;
        println!(
            "  {name:45} {:8}  {threads:7}  {reads:9}  {s:8.2}  {rate:13.1}  {:18.1}",
            ra.len() + 1,
            rate / threads as f64
        );
    };
    run(&input, "free, unbounded, one core", &[128], Mode::Free, None, 1, 1);
    run(&input, "free, unbounded, sweep", &[0, 32, 128, 512], Mode::Free, None, cpus, 1);
    run(&input, "oracle, one core", &[128], Mode::Oracle, None, 1, 1);
    run(&input, "free, 1 GiB cache (files together), one core", &[128], Mode::Free, Some(1024), 1, 1);
    run(&input, "free, 1 GiB cache, sweep", &[0, 32, 128, 512], Mode::Free, Some(1024), cpus, 1);

    // A recorded trace: MariaDB under sysbench, mostly page-cache hits (see testdata/README.md).
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/mariadb-sysbench.mio");
    let file = TraceFile::open(path).expect("open the recorded trace");
    let trace = file.parse().expect("parse the recorded trace");
    let input = mysql_io_sim::extract(&trace);
    println!(
        "recorded MariaDB trace ({} reads of {} files; each run below simulates it 20 times):",
        input.ops.iter().filter(|op| matches!(op, Op::Read { .. })).count(),
        input.files.len()
    );
    let sweep = [0, 16, 32, 64, 128, 256, 512, 1024];
    run(&input, "recorded: free, sweep of 8, one core", &sweep, Mode::Free, None, 1, 20);
    run(&input, "recorded: free, sweep of 8, all cores", &sweep, Mode::Free, None, cpus, 20);
    run(&input, "recorded: oracle, one core", &[128], Mode::Oracle, None, 1, 20);
}
