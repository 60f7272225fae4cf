//! Analysis speed and memory on a large generated trace: each `mysql-io analyze`, and `report`,
//! runs as its own process, timed, with its peak resident memory read from wait4(2).
//!
//! Run: `cargo bench --profile release -p mysql-io --bench analyze_large` (options after `--`:
//! `--events N`, default 100M; `--trace PATH`, default a cached file in the temp dir, made with
//! `mysql-io synth` when missing).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mysql-io"))
}

/// Runs `mysql-io ARGS`, returns (seconds, peak RSS in MiB).
fn measure(args: &[&str]) -> (f64, f64) {
    let start = Instant::now();
    // Reaped by wait4 below, which also gives its resource usage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(bin()).args(args).stdout(std::process::Stdio::null()).spawn().expect("spawn");
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills; the pid is our child's.
    #[allow(unsafe_code)]
    let rusage = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        let rc = libc::wait4(child.id() as i32, &mut status, 0, &mut ru);
        assert_eq!(rc, child.id() as i32, "wait4");
        ru
    };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{args:?} failed");
    (start.elapsed().as_secs_f64(), rusage.ru_maxrss as f64 / 1024.0)
}

fn main() {
    let events: u64 = arg("--events").and_then(|v| v.parse().ok()).unwrap_or(100_000_000);
    let trace = arg("--trace")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("mysql-io-bench-{events}.mio")));
    let path = trace.to_str().expect("utf-8 path");
    if !trace.exists() {
        eprintln!("generating {events} events into {path} ...");
        let ok = Command::new(bin())
            .args(["synth", "-o", path, "--events", &events.to_string(), "--seed", "11"])
            .status()
            .expect("synth");
        assert!(ok.success());
    }
    let size = std::fs::metadata(&trace).expect("stat").len();
    let info = Command::new(bin()).args(["info", path, "--format", "json"]).output().expect("info");
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("info json");
    let reads: u64 = ["read_enter", "uring_submit", "aio_submit"]
        .iter()
        .filter_map(|k| info["events_by_kind"][k].as_u64())
        .sum();
    println!(
        "analysis benchmark: {events} synthetic events ({:.1}M reads), {:.0} MiB trace, {} CPUs",
        reads as f64 / 1e6,
        size as f64 / (1 << 20) as f64,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("  command                          seconds   M events/s   peak memory");
    for args in [
        vec!["info", path],
        vec!["analyze", "sequentiality", path, "--format", "json"],
        vec!["analyze", "sequentiality", path, "--by", "thread", "--format", "json"],
        vec!["analyze", "readahead", path, "--format", "json"],
        vec!["analyze", "files", path, "--format", "json"],
        vec!["analyze", "threads", path, "--format", "json"],
    ] {
        let (secs, mib) = measure(&args);
        let name = args.iter().take_while(|a| **a != path).copied().collect::<Vec<_>>().join(" ")
            + if args.contains(&"thread") { " --by thread" } else { "" };
        println!("  {name:32} {secs:7.2}   {:10.1}   {mib:7.0} MiB", events as f64 / secs / 1e6);
    }
    // The report: the free-mode simulation at the default sweep (eight settings and the
    // recorded one) and the page; its size is what a user mails around (target: 5 MB).
    let page = std::env::temp_dir().join(format!("mysql-io-bench-{events}.html"));
    let (secs, mib) = measure(&["report", path, "-o", page.to_str().expect("utf-8 path")]);
    let html = std::fs::metadata(&page).expect("the report").len();
    let _ = std::fs::remove_file(&page);
    println!(
        "  {:32} {secs:7.2}   {:10.1}   {mib:7.0} MiB   page {:.0} KiB",
        "report",
        events as f64 / secs / 1e6,
        html as f64 / 1024.0
    );
}
