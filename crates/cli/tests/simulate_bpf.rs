//! The simulator against the real kernel (root): workloads of known shape (the `pattern`
//! helper) are recorded on a loop-mounted ext4 filesystem at read_ahead_kb 128, 32 and 512, and
//! `mysql-io simulate` must
//! - reproduce at least 99% of the kernel's readahead decisions exactly in oracle mode,
//! - come within 5% of the pages and read requests the kernel issued, in free mode,
//! - predict from the 128 KiB trace what the 32 and 512 KiB recordings then measure, within 5%.
//!
//! A second family reads through one open file description shared by 2 to 8 streams (InnoDB's
//! case): interleaved in one thread (equal and unequal sizes, 4 KiB to 1 MiB, strides, random
//! reads beside scans), where the model must reproduce every decision in both modes, and from
//! several threads, held to the floors measured for them.
//!
//! The figures go to stdout and to `target/test-reports/simulate.md` and `simulate-shared.md`
//! (scripts/test prints them).
//! Test names start with `root_`; they fail (never skip) without root.

// The recorder's tests: the analysis-only build (`--no-default-features --features analysis`)
// has no recorder.
#![cfg(feature = "record")]

#[path = "../../recorder/tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;
use support::{evictions, helper, require_root, text, LoopFs};

/// The tests here take turns: each drops the page cache and records the whole machine's reads of
/// its files, which another test's recording at the same time would disturb.
static SERIAL: Mutex<()> = Mutex::new(());

fn mysql_io() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mysql-io"))
}

/// A workload: `pattern` specs with `{a}`, `{b}`, `{c}` standing for the three files.
struct Workload {
    name: &'static str,
    specs: &'static [&'static str],
}

const WORKLOADS: &[Workload] = &[
    Workload { name: "sequential 16 KiB", specs: &["1:{a}:seq:16384:1024"] },
    Workload { name: "reverse 16 KiB", specs: &["1:{a}:rev:16384:1024"] },
    Workload { name: "strided 16 KiB / 32 KiB", specs: &["1:{a}:stride:16384:512:32768"] },
    Workload { name: "random 16 KiB", specs: &["1:{a}:random:16384:1000:7"] },
    Workload { name: "two streams, one fd", specs: &["1:{a}:inter:16384:1024:8388608"] },
    // Two threads, each with its own descriptor on file a, 4 MiB apart: further than any window
    // reaches, so neither reads the other's pages (see the mix below).
    Workload { name: "two streams, two fds", specs: &["1:{a}:seq:16384:256", "2:{a}:seq:16384:256:8388608"] },
    Workload { name: "1 MiB scan", specs: &["1:{a}:seq:1048576:16"] },
    // Threads share file a but not its pages, nor the pages their readahead reaches: when two
    // threads race for the same pages, which one reads them from disk depends on timing (on a
    // loaded machine more so), and a recording at another setting can go the other way
    // (docs/simulate.md, "Limits").
    Workload {
        name: "mix: 3 files, 4 threads",
        specs: &[
            "1:{a}:seq:16384:256",
            "2:{b}:random:16384:500:3",
            "3:{c}:stride:4096:1000:12288",
            "4:{a}:seq:65536:100:8388608",
        ],
    },
];

/// Records workload `w` at `ra_kb` into `trace`. A recording during which folios of the files
/// left the page cache is made again (up to three times in all): on these VMs the kernel's
/// proactive reclaim (DAMON's `kdamond`, paging out file pages it judges cold, up to 128 MiB/s)
/// now and then takes a folio a moment after readahead brought it in, and the kernel then reads
/// it twice; the workload alone would not. Seen in CI runs: 1 folio of 4 pages read again (free
/// mode then 88.5% of decisions exact, the kernel's decisions after the re-read having been made
/// on another cache), and 3 folios that once shrank free mode's cache.
fn record(fs: &LoopFs, files: &[PathBuf], w: &Workload, ra_kb: u32, trace: &Path) {
    for attempt in 1..=3 {
        record_once(fs, files, w, ra_kb, trace);
        let evicted = evictions(trace, fs.dev());
        if evicted.is_empty() {
            return;
        }
        println!(
            "{} at {ra_kb} KiB, recording {attempt}: folios evicted while recording, by thread: {evicted:?}{}",
            w.name,
            if attempt < 3 { "; recorded again" } else { "; kept" }
        );
    }
}

/// One recording of `w` at `ra_kb`, the page cache dropped first.
fn record_once(fs: &LoopFs, files: &[PathBuf], w: &Workload, ra_kb: u32, trace: &Path) {
    let _ = std::fs::remove_file(trace);
    fs.set_read_ahead_kb(ra_kb);
    // Room for the workload first, so that no memory pressure evicts its pages while it runs (a
    // CI run once had the model read 68 pages twice, the kernel none; kdamond, see `record`, may
    // have been the evictor). Clean page cache is only dropped, never lost.
    std::fs::write("/proc/sys/vm/drop_caches", "1").expect("write /proc/sys/vm/drop_caches");
    for f in files {
        fs.drop_cache(f);
    }
    let specs: Vec<String> = w
        .specs
        .iter()
        .map(|s| {
            files
                .iter()
                .zip(["{a}", "{b}", "{c}"])
                .fold(s.to_string(), |s, (f, name)| s.replace(name, f.to_str().expect("utf-8 path")))
        })
        .collect();
    let out = mysql_io()
        .arg("record")
        .arg("-o")
        .arg(trace)
        .arg("--")
        .arg(helper("pattern"))
        .args(&specs)
        .output()
        .expect("run mysql-io record");
    assert!(out.status.success(), "{}: record failed: {}", w.name, text(&out.stderr));
}

/// `mysql-io simulate TRACE --ra-kb KB --mode MODE` over the loop filesystem's files, as JSON.
fn simulate(trace: &Path, fs: &LoopFs, ra_kb: &str, mode: &str) -> Value {
    let glob = format!("{}/*", fs.mount_dir().display());
    let out = mysql_io()
        .arg("simulate")
        .arg(trace)
        .args(["--ra-kb", ra_kb, "--mode", mode, "--file", &glob, "--format", "json"])
        // Free mode's cache is as large as the machine's for these 48 MiB: otherwise it is sized
        // from whatever the kernel evicted while recording, and a few stray evictions (3 folios
        // in a CI run) shrank it to what the files held and turned a 512 KiB prediction 32% off.
        .args(if mode == "free" { &["--cache-mb", "4096"][..] } else { &[][..] })
        .output()
        .expect("run mysql-io simulate");
    assert!(out.status.success(), "simulate failed: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("simulate prints JSON")
}

fn num(v: &Value, what: &str) -> u64 {
    v[what].as_u64().unwrap_or_else(|| panic!("no {what} in {v}"))
}

fn rel(model: u64, kernel: u64) -> f64 {
    (model as f64 - kernel as f64) / (kernel as f64).max(1.0)
}

/// Compares what the 128 KiB trace predicted (`predicted`: `simulate --ra-kb 32,512` in free
/// mode) with what the recordings at those settings measured (`measured`: setting, pages,
/// requests, trace): a row per setting in `table`, and a failure where the pages are off by more
/// than `max_pages` or the requests by more than `max_requests` (not checked when `None`).
fn check_predictions(
    name: &str,
    predicted: &Value,
    measured: &[(u32, u64, u64, PathBuf)],
    max_pages: f64,
    max_requests: Option<f64>,
    table: &mut String,
    failures: &mut Vec<String>,
) {
    for (ra, kp, ki, _) in measured {
        let row = predicted["settings"]
            .as_array()
            .expect("settings")
            .iter()
            .find(|s| s["ra_kb"] == *ra)
            .unwrap_or_else(|| panic!("no {ra} KiB row"));
        let (pp, pi) = (num(&row["total"], "pages_read"), num(&row["total"], "read_ios"));
        let (ep, ei) = (rel(pp, *kp), rel(pi, *ki));
        if ep.abs() > max_pages || max_requests.is_some_and(|m| ei.abs() > m) {
            failures.push(format!("{name} predicted at {ra}: {pp} pages {pi} requests, measured {kp} {ki}"));
        }
        let _ = writeln!(
            table,
            "| {name} | {ra} KiB | {pp} / {pi} | {kp} / {ki} | {:+.1}% / {:+.1}% |",
            ep * 100.0,
            ei * 100.0
        );
    }
}

#[test]
fn root_the_simulator_agrees_with_the_kernel_and_predicts_other_settings() {
    require_root();
    let _turn = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let fs = LoopFs::new(128, 128);
    let files: Vec<PathBuf> = ["a", "b", "c"].iter().map(|n| fs.create_file(n, 16 << 20)).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut report = String::from(
        "| workload | recorded at | decisions exact (oracle) | free mode: pages / requests, model vs kernel |\n|---|---|---|---|\n",
    );
    let mut predictions = String::from(
        "| workload | setting | predicted from 128 KiB: pages / requests | measured: pages / requests | error |\n|---|---|---|---|---|\n",
    );
    let reports = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-reports");
    let _ = std::fs::create_dir_all(&reports);
    let mut failures = Vec::new();
    for (n, w) in WORKLOADS.iter().enumerate() {
        let mut measured = Vec::new();
        for ra in [128u32, 32, 512] {
            let trace = dir.path().join(format!("{n}-{ra}.mio"));
            record(&fs, &files, w, ra, &trace);

            let failed_before = failures.len();
            let oracle = simulate(&trace, &fs, &ra.to_string(), "oracle");
            let total = oracle["model_error"].as_array().and_then(|a| a.last()).expect("a total row").clone();
            let d = &total["decisions"];
            let (recorded, exact) = (num(d, "recorded"), num(d, "exact"));
            let rate = total["decisions_exact"].as_f64().expect("rate");
            if recorded < 10 || rate < 0.99 {
                failures.push(format!("{} at {ra}: {exact} of {recorded} decisions exact", w.name));
            }

            let free = simulate(&trace, &fs, &ra.to_string(), "free");
            let kernel = &free["recorded"]["total"];
            let model = &free["model_at_recorded"]["total"];
            let (kp, ki) = (num(kernel, "pages_read"), num(kernel, "read_ios"));
            let (mp, mi) = (num(model, "pages_read"), num(model, "read_ios"));
            if rel(mp, kp).abs() > 0.05 || rel(mi, ki).abs() > 0.05 {
                failures.push(format!(
                    "{} at {ra}, free mode: model {mp} pages {mi} requests, kernel {kp} {ki}",
                    w.name
                ));
            }
            let _ = writeln!(
                report,
                "| {} | {ra} KiB | {exact} / {recorded} ({:.1}%) | {mp} / {mi} vs {kp} / {ki} |",
                w.name,
                rate * 100.0
            );
            if failures.len() > failed_before {
                // Kept to look into: `mysql-io simulate --decisions` shows where the model parts.
                let _ = std::fs::copy(&trace, reports.join(format!("simulate-{n}-{ra}.mio")));
            }
            measured.push((ra, kp, ki, trace));
        }
        // Predict 32 and 512 from the 128 KiB trace, compare with what those recordings measured.
        let predicted = simulate(&measured[0].3, &fs, "32,512", "free");
        check_predictions(
            w.name,
            &predicted,
            &measured[1..],
            0.05,
            Some(0.05),
            &mut predictions,
            &mut failures,
        );
    }
    let out = format!("{report}\n{predictions}");
    println!("{out}");
    let _ = std::fs::write(reports.join("simulate.md"), &out);
    assert!(failures.is_empty(), "the model is off:\n{}\n\n{out}", failures.join("\n"));
}

/// A workload whose streams share one open file description (`=s:` in the `pattern` specs):
/// InnoDB's case, where every thread preads a tablespace through one descriptor and all their
/// streams update one readahead state. `{a}` is a 16 MiB file, `{b}` a 64 MiB one (its page
/// cache spans more than one 4096-page node of the xarray).
struct Shared {
    w: Workload,
    /// Read by several threads at once: the order of their reads, and so the kernel's figures,
    /// change from run to run.
    threads: bool,
}

const fn shared(name: &'static str, specs: &'static [&'static str], threads: bool) -> Shared {
    Shared { w: Workload { name, specs }, threads }
}

const SHARED: &[Shared] = &[
    shared("2 streams, 4 KiB", &["1r:=s:{a}:seq:4096:1024", "1r:=s:{a}:seq:4096:1024:8388608"], false),
    shared(
        "4 streams, 16 KiB",
        &[
            "1r:=s:{a}:seq:16384:256",
            "1r:=s:{a}:seq:16384:256:4194304",
            "1r:=s:{a}:seq:16384:256:8388608",
            "1r:=s:{a}:seq:16384:256:12582912",
        ],
        false,
    ),
    shared(
        "8 streams, 16 KiB, 64 MiB file",
        &[
            "1r:=s:{b}:seq:16384:256",
            "1r:=s:{b}:seq:16384:256:8388608",
            "1r:=s:{b}:seq:16384:256:16777216",
            "1r:=s:{b}:seq:16384:256:25165824",
            "1r:=s:{b}:seq:16384:256:33554432",
            "1r:=s:{b}:seq:16384:256:41943040",
            "1r:=s:{b}:seq:16384:256:50331648",
            "1r:=s:{b}:seq:16384:256:58720256",
        ],
        false,
    ),
    shared("16 KiB + 1 MiB streams", &["1r:=s:{a}:seq:16384:512", "1r:=s:{a}:seq:1048576:8:8388608"], false),
    shared(
        "4 / 64 / 256 KiB streams",
        &["1r:=s:{a}:seq:4096:1024", "1r:=s:{a}:seq:65536:64:4194304", "1r:=s:{a}:seq:262144:16:8388608"],
        false,
    ),
    shared(
        "stride 16/64 KiB + stream",
        &["1r:=s:{a}:stride:16384:128:65536", "1r:=s:{a}:seq:16384:512:8388608"],
        false,
    ),
    shared("random + scan", &["1r:=s:{a}:random:16384:400:11", "1r:=s:{a}:seq:16384:1024"], false),
    shared(
        "random + 2 scans, 64 MiB file",
        &["1r:=s:{b}:random:16384:600:5", "1r:=s:{b}:seq:65536:256", "1r:=s:{b}:seq:16384:512:33554432"],
        false,
    ),
    shared("2 threads, one fd", &["1:=s:{a}:seq:16384:512", "2:=s:{a}:seq:16384:512:8388608"], true),
    shared(
        "4 threads, one fd, 64 MiB file",
        &[
            "1:=s:{b}:seq:16384:512",
            "2:=s:{b}:seq:16384:512:16777216",
            "3:=s:{b}:seq:16384:512:33554432",
            "4:=s:{b}:seq:16384:512:50331648",
        ],
        true,
    ),
    shared(
        "3 threads: random + 2 scans",
        &["1:=s:{a}:random:16384:300:9", "2:=s:{a}:seq:16384:512", "3:=s:{a}:seq:65536:128:8388608"],
        true,
    ),
];

/// What one mode of `simulate` made of a trace at its recorded setting.
struct Fit {
    recorded: u64,
    exact: u64,
    pages: u64,
    requests: u64,
}

impl Fit {
    fn of(v: &Value) -> Fit {
        let total = v["model_error"].as_array().and_then(|a| a.last()).expect("a total row");
        let model = &v["model_at_recorded"]["total"];
        Fit {
            recorded: num(&total["decisions"], "recorded"),
            exact: num(&total["decisions"], "exact"),
            pages: num(model, "pages_read"),
            requests: num(model, "read_ios"),
        }
    }

    fn rate(&self) -> f64 {
        self.exact as f64 / (self.recorded as f64).max(1.0)
    }

    fn cell(&self) -> String {
        format!("{} / {} ({:.1}%)", self.exact, self.recorded, self.rate() * 100.0)
    }
}

/// Floors for the workloads read by several threads, below what four runs on this 2-core machine
/// measured (docs/simulate.md): their threads race for one readahead state, even within one
/// decision (a window read with the sizes another thread's decision left meanwhile), which no
/// replay of whole reads reproduces, and a decision that differs leaves the model's state
/// different for the decisions after it. Measured lows: decisions exact 18% (oracle) and 4%
/// (free), free mode's pages within 0.8% and requests within 12%, predicted pages within 0.1%.
const THREADS_EXACT_ORACLE: f64 = 0.10;
const THREADS_EXACT_FREE: f64 = 0.01;
const THREADS_PAGES: f64 = 0.02;
const THREADS_REQUESTS: f64 = 0.20;

#[test]
fn root_streams_sharing_one_file_description_are_modelled_like_the_kernel() {
    require_root();
    let _turn = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let fs = LoopFs::new(256, 128);
    let files = vec![fs.create_file("a", 16 << 20), fs.create_file("b", 64 << 20)];
    let dir = tempfile::tempdir().expect("tempdir");
    let mut report = String::from(
        "| workload | recorded at | decisions exact: oracle | free | pages read: kernel / oracle / free | requests: kernel / oracle / free |\n|---|---|---|---|---|---|\n",
    );
    let mut predictions = String::from(
        "| workload | setting | predicted from 128 KiB: pages / requests | measured: pages / requests | error |\n|---|---|---|---|---|\n",
    );
    let reports = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-reports");
    let _ = std::fs::create_dir_all(&reports);
    let mut failures = Vec::new();
    for (n, sw) in SHARED.iter().enumerate() {
        let w = &sw.w;
        // Single-threaded workloads replay exactly; threads get the measured floors.
        let threads = sw.threads;
        let mut measured = Vec::new();
        for ra in [128u32, 32, 512] {
            let trace = dir.path().join(format!("shared-{n}-{ra}.mio"));
            record(&fs, &files, w, ra, &trace);
            let failed_before = failures.len();
            let oracle = simulate(&trace, &fs, &ra.to_string(), "oracle");
            let free = simulate(&trace, &fs, &ra.to_string(), "free");
            let kernel = &free["recorded"]["total"];
            let (kp, ki) = (num(kernel, "pages_read"), num(kernel, "read_ios"));
            let (o, f) = (Fit::of(&oracle), Fit::of(&free));
            for (mode, fit) in [("oracle", &o), ("free", &f)] {
                let floor = match (threads, mode) {
                    (false, _) => 1.0,
                    (true, "oracle") => THREADS_EXACT_ORACLE,
                    (true, _) => THREADS_EXACT_FREE,
                };
                if fit.recorded < 10 || fit.rate() < floor {
                    failures.push(format!("{} at {ra}, {mode} mode: {} decisions exact", w.name, fit.cell()));
                }
                // Oracle mode counts only the pages of the model's own decisions: with threads,
                // those the kernel decided otherwise come in as the kernel's inserts.
                let (max_pages, max_requests) = match (threads, mode) {
                    (false, _) => (0.02, 0.02),
                    (true, "oracle") => continue,
                    (true, _) => (THREADS_PAGES, THREADS_REQUESTS),
                };
                if rel(fit.pages, kp).abs() > max_pages || rel(fit.requests, ki).abs() > max_requests {
                    failures.push(format!(
                        "{} at {ra}, {mode} mode: model {} pages {} requests, kernel {kp} {ki}",
                        w.name, fit.pages, fit.requests
                    ));
                }
            }
            let _ = writeln!(
                report,
                "| {} | {ra} KiB | {} | {} | {kp} / {} / {} | {ki} / {} / {} |",
                w.name,
                o.cell(),
                f.cell(),
                o.pages,
                f.pages,
                o.requests,
                f.requests
            );
            // Kept to look into when off, or all of them with MYSQL_IO_KEEP_TRACES set.
            if failures.len() > failed_before || std::env::var_os("MYSQL_IO_KEEP_TRACES").is_some() {
                let _ = std::fs::copy(&trace, reports.join(format!("simulate-shared-{n}-{ra}.mio")));
            }
            measured.push((ra, kp, ki, trace));
        }
        let predicted = simulate(&measured[0].3, &fs, "32,512", "free");
        // With threads the requests depend on how they happened to interleave: pages only.
        let (max_pages, max_requests) = if threads { (THREADS_PAGES, None) } else { (0.05, Some(0.05)) };
        check_predictions(
            w.name,
            &predicted,
            &measured[1..],
            max_pages,
            max_requests,
            &mut predictions,
            &mut failures,
        );
    }
    let out = format!("{report}\n{predictions}");
    println!("{out}");
    let _ = std::fs::write(reports.join("simulate-shared.md"), &out);
    assert!(failures.is_empty(), "the model is off:\n{}\n\n{out}", failures.join("\n"));
}
