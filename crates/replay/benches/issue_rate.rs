//! How fast the executor issues reads, and how closely it keeps a recorded pace.
//!
//! A 64 MiB file in /var/tmp (page-cached before measuring), then:
//! (a) 2 threads × 500k `pread64` of 4 KiB at random aligned offsets, as fast as possible;
//! (b) the same through io_uring, in batches of 8; (c) through Linux AIO, in batches of 8;
//! (d) a 2 s plan replayed at the recorded pace: 2 threads × 2000 reads at uniform random times.
//!
//! Run with `cargo bench -p mysql-io-replay --bench issue_rate`.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use mysql_io_replay::exec::{open_streams, run, ExecOptions, ExecReport, Speed};
use mysql_io_replay::{Api, Plan, PlanFile, PlanRead, PlanStream, ThreadPlan};

const FILE_SIZE: u64 = 64 << 20;
const BLOCK: u64 = 4096;
const THREADS: u32 = 2;
const REPEAT: usize = 3;

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn make_file(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8 + 1).collect();
    for _ in 0..FILE_SIZE >> 20 {
        f.write_all(&chunk).unwrap();
    }
    f.sync_all().unwrap();
    drop(f);
    // Read it once so every measured read hits the page cache.
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf).unwrap() > 0 {}
}

fn plan(path: &Path, threads: Vec<Vec<PlanRead>>) -> Plan {
    Plan {
        files: vec![PlanFile { path: path.to_path_buf(), size: FILE_SIZE }],
        streams: vec![PlanStream { file: 0, direct: false }],
        threads: threads
            .into_iter()
            .enumerate()
            .map(|(i, reads)| ThreadPlan { tid: i as u32 + 1, reads })
            .collect(),
    }
}

/// `n` random 4 KiB reads per thread through `api`, batch `i / batch`.
fn random_reads(path: &Path, api: Api, n: u32, batch: u32) -> Plan {
    let threads = (0..THREADS)
        .map(|t| {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (u64::from(t) + 1));
            (0..n)
                .map(|i| PlanRead {
                    at_ns: 0,
                    stream: 0,
                    api,
                    pos: rng.below(FILE_SIZE / BLOCK) * BLOCK,
                    count: BLOCK as u32,
                    batch: i / batch,
                })
                .collect()
        })
        .collect();
    plan(path, threads)
}

fn replay(p: &Plan, opts: &ExecOptions) -> ExecReport {
    let fds = open_streams(p).unwrap();
    let rep = run(p, &fds, opts, &|_| {}, &AtomicBool::new(false)).unwrap();
    assert_eq!(rep.reads, p.reads() as u64);
    assert_eq!(rep.errors, 0, "reads failed");
    assert_eq!(rep.bytes, rep.reads * BLOCK, "short reads");
    rep
}

fn issue_rate(name: &str, p: &Plan) {
    let mut rates = Vec::new();
    for _ in 0..REPEAT {
        let rep = replay(p, &ExecOptions { speed: Speed::Max, ..ExecOptions::default() });
        rates.push(rep.reads as f64 / (rep.duration_ns as f64 / 1e9));
    }
    let text: Vec<String> = rates.iter().map(|r| format!("{:.0}", r)).collect();
    let best = rates.iter().copied().fold(0.0, f64::max);
    println!("{name:<34} {:>10.0} reads/s (best of {REPEAT}: {})", best, text.join(", "));
}

/// The `cpu` line of /proc/stat: ticks (user, nice, system, idle, iowait, irq, softirq, steal).
fn cpu_ticks() -> [u64; 8] {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let mut t = [0; 8];
    if let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) {
        for (slot, v) in t.iter_mut().zip(line.split_whitespace().skip(1)) {
            *slot = v.parse().unwrap_or(0);
        }
    }
    t
}

/// Busy and stolen shares of the box between two samples, %.
fn box_load(a: [u64; 8], b: [u64; 8]) -> (f64, f64) {
    let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| y.saturating_sub(*x) as f64).collect();
    let total: f64 = d.iter().sum::<f64>().max(1.0);
    let idle = d[3] + d[4];
    (100.0 * (total - idle - d[7]) / total, 100.0 * d[7] / total)
}

fn fidelity(path: &Path, spin_ns: u64, realtime: bool) {
    const SPAN_NS: u64 = 2_000_000_000;
    const READS: u32 = 2000;
    let threads = (0..THREADS)
        .map(|t| {
            let mut rng = Rng(0x1234_5678 + u64::from(t));
            let mut at: Vec<u64> = (0..READS).map(|_| rng.below(SPAN_NS + 1)).collect();
            at.sort_unstable();
            at.into_iter()
                .map(|at_ns| PlanRead {
                    at_ns,
                    stream: 0,
                    api: Api::Pread64,
                    pos: rng.below(FILE_SIZE / BLOCK) * BLOCK,
                    count: BLOCK as u32,
                    batch: 0,
                })
                .collect()
        })
        .collect();
    let p = plan(path, threads);
    let opts = ExecOptions { speed: Speed::Scale(1.0), spin_ns, realtime, ..ExecOptions::default() };
    for _ in 0..REPEAT {
        let before = cpu_ticks();
        let rep = replay(&p, &opts);
        let (busy, steal) = box_load(before, cpu_ticks());
        let span = p.span_ns();
        let us = |ns: u64| ns as f64 / 1e3;
        println!(
            "    spin {:>3} µs{}: took {:.3} ms for a {:.3} ms span ({:+.3} %), lag p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs, {} reads > 1 ms late (CPUs {busy:.0} % busy, {steal:.1} % stolen)",
            spin_ns / 1000,
            if realtime { ", SCHED_FIFO" } else { "" },
            rep.duration_ns as f64 / 1e6,
            span as f64 / 1e6,
            (rep.duration_ns as f64 / span as f64 - 1.0) * 100.0,
            us(rep.lag.p50_ns),
            us(rep.lag.p99_ns),
            us(rep.lag.max_ns),
            rep.lag.late_reads
        );
    }
}

fn main() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let path = dir.path().join("issue-rate.dat");
    make_file(&path);
    println!("64 MiB file in {}, cached; {THREADS} threads, 4 KiB reads", dir.path().display());

    issue_rate("(a) pread64", &random_reads(&path, Api::Pread64, 500_000, 1));
    issue_rate("(b) io_uring, batches of 8", &random_reads(&path, Api::Uring, 500_000, 8));
    issue_rate("(c) Linux AIO, batches of 8", &random_reads(&path, Api::Aio, 500_000, 8));
    println!("(d) a 2 s plan at Scale(1.0), {THREADS} threads × 2000 pread64 at uniform random times:");
    let default = ExecOptions::default().spin_ns;
    for spin_ns in [0, 25_000, default] {
        fidelity(&path, spin_ns, false);
    }
    fidelity(&path, default, true);
}
