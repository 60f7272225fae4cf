//! What recording costs the traced processes (root), measured side by side in one run, in
//! alternating rounds, with medians: a read storm and a MariaDB point-select load, each untraced,
//! under bpftrace counting the same tracepoints in the kernel, and under `mysql-io record`.
//!
//! - **storm**: one thread `pread64`s 1 byte at a time through a cached 16 MiB file (the `reads`
//!   helper). Rates are the helper's own reads per second. A second storm under another process
//!   name runs while `mysql-io record` traces the first name: what a process that is *not*
//!   traced pays for the probes.
//! - **bpf**: one more recorded storm with `kernel.bpf_stats_enabled=1`, for the run time of each
//!   BPF program (bpftool's `run_time_ns` / `run_cnt`); kept apart because the statistics cost
//!   time themselves.
//! - **mariadb**: a throwaway MariaDB (`scripts/mariadb-sandbox`, buffered data files, a 16 MiB
//!   buffer pool) under `sysbench oltp_point_select --threads=2` on a table larger than the buffer
//!   pool: queries per second untraced, under bpftrace, under `mysql-io record -p PID`, and under
//!   `mysql-io record -p PID --statements` (the statement uprobes on top).
//!
//! For `mysql-io` the table also gives the recorder's CPU (user + system, of one core), the
//! events it wrote per second and the events it lost. Ratios are taken within each round and
//! their median printed (these VMs run faster and slower minutes); beside the rates, what the
//! traced process paid in CPU: per read for the storm, the server's per query for MariaDB.
//!
//! Run: `cargo bench --profile release -p mysql-io --bench record_overhead` as root;
//! options: `--rounds N` (3), `--seconds S` (storm runs, 5), `--mariadb-seconds S` (15),
//! `--no-mariadb`, `--no-bpf-stats`; `MYSQL_IO_BIN=PATH` measures another build of the recorder,
//! `MYSQL_IO_BEFORE=PATH` an older one beside it, `MYSQL_IO_BUILDS=LABEL=PATH,...` several more.
//! scripts/test runs `--rounds 1 --seconds 2 --mariadb-seconds 5`.

#[path = "../../recorder/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mysql_io_format::{EventBody, TraceFile};
use serde_json::Value;
use support::{helper, json_lines, Recording, Sandbox};

use support::bench_arg as arg;

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// The recorders under test: this build's (or `MYSQL_IO_BIN`'s), `MYSQL_IO_BEFORE`'s when set (an
/// older build), and each `LABEL=PATH` of `MYSQL_IO_BUILDS` (comma-separated: builds of single
/// changes, to measure what each bought), all in the same rounds.
fn recorders() -> Vec<(String, PathBuf)> {
    let mut v = vec![(
        "mysql-io record".to_string(),
        std::env::var_os("MYSQL_IO_BIN")
            .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mysql-io")), PathBuf::from),
    )];
    if let Some(before) = std::env::var_os("MYSQL_IO_BEFORE") {
        v.push(("mysql-io record (before)".to_string(), PathBuf::from(before)));
    }
    if let Ok(builds) = std::env::var("MYSQL_IO_BUILDS") {
        for b in builds.split(',').filter(|b| !b.is_empty()) {
            let Some((label, path)) = b.split_once('=') else {
                eprintln!("MYSQL_IO_BUILDS: `{b}` is not LABEL=PATH");
                std::process::exit(2);
            };
            v.push((format!("mysql-io record ({label})"), PathBuf::from(path)));
        }
    }
    v
}

/// The median of `a[i] / b[i]`: two modes measured in the same rounds, compared round by round.
fn paired(a: &[f64], b: &[f64]) -> f64 {
    median(&a.iter().zip(b).map(|(x, y)| x / y).collect::<Vec<_>>())
}

/// The median of some figures (the lower middle one of an even count).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(f64::NAN)
}

/// CPU seconds (user + system, all threads) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) comes first here, so utime and stime (fields 14 and 15) are f[11], f[12].
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    // SAFETY: sysconf has no preconditions.
    #[allow(unsafe_code)]
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    ticks as f64 / hz as f64
}

/// bpftrace counting tracepoints in the kernel, once its probes are attached.
struct Bpftrace {
    child: Child,
}

impl Bpftrace {
    fn start(program: &str) -> Bpftrace {
        let mut child = Command::new("bpftrace")
            .arg("-e")
            .arg(program)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run bpftrace (scripts/test installs it)");
        let out = BufReader::new(child.stdout.take().expect("piped"));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.starts_with("Attaching") => break,
                Ok(_) => {}
                Err(e) => panic!("bpftrace did not attach its probes: {e:?}"),
            }
        }
        // "Attaching N probes..." comes just before the attach itself.
        std::thread::sleep(Duration::from_millis(500));
        Bpftrace { child }
    }

    fn stop(mut self) {
        signal(self.child.id(), libc::SIGINT);
        let _ = self.child.wait();
    }
}

impl Drop for Bpftrace {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a child's pid.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// What a recording cost and wrote.
#[derive(Debug, Default, Clone, Copy)]
struct RecorderFigures {
    /// Share of one core the recorder used while the load ran.
    cpu: f64,
    /// Events written per second of the load.
    events_per_sec: f64,
    /// Events lost.
    lost: u64,
    /// Bytes of trace per second of the load.
    bytes_per_sec: f64,
}

/// `BIN record ARGS` around `load`, which returns the load's figure and how long it ran.
fn recorded<T>(
    bin: &Path,
    args: &[&str],
    trace: &Path,
    load: impl FnOnce() -> (T, f64),
) -> (T, RecorderFigures) {
    // Recorders refuse to replace a trace (older builds have no --force): each run starts clean.
    let _ = std::fs::remove_file(trace);
    let rec = Recording::start(
        Command::new(bin).arg("record").args(args).arg("-o").arg(trace).stdout(Stdio::null()),
    );
    let pid = rec.pid();
    let cpu0 = cpu_seconds(pid);
    let (figure, seconds) = load();
    let cpu1 = cpu_seconds(pid);
    rec.signal(libc::SIGINT);
    let (status, err) = rec.wait();
    assert!(status.success(), "mysql-io record failed: {err}");
    let file = TraceFile::open(trace).expect("trace");
    let t = file.parse().expect("parse");
    let footer = t.footer().expect("footer").clone();
    let bytes = std::fs::metadata(trace).map(|m| m.len()).unwrap_or(0);
    // Events of the load: the trace's events per second of its whole span is close enough for
    // loads that run from start to end (they do, minus start-up).
    let figures = RecorderFigures {
        cpu: (cpu1 - cpu0) / seconds,
        events_per_sec: footer.totals.events as f64 / seconds,
        lost: footer.totals.lost.iter().map(|l| l.2).sum(),
        bytes_per_sec: bytes as f64 / seconds,
    };
    (figure, figures)
}

/// The latencies of a trace's `read` events (this build's recordings; empty for older ones).
fn read_latencies(trace: &Path) -> Vec<u64> {
    let file = TraceFile::open(trace).expect("trace");
    let t = file.parse().expect("parse");
    let mut out = Vec::new();
    t.for_each_event(|e| {
        if let EventBody::Read(r) = &e.body {
            out.push(r.latency_ns);
        }
    })
    .expect("decode");
    out
}

/// CPU seconds (user + system) of this process's children that have ended and been waited for.
fn children_cpu() -> f64 {
    // SAFETY: getrusage writes the struct it is given.
    #[allow(unsafe_code)]
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// CPU nanoseconds per read of the storms so far, in order: what a read cost the storming
/// process (unlike its rate, this does not move when the VM's host takes the CPU away).
static STORM_CPU: std::sync::Mutex<Vec<f64>> = std::sync::Mutex::new(Vec::new());

/// One storm: reads per second of `binary` (the `reads` helper or a copy under another name);
/// its CPU per read goes to `STORM_CPU`.
fn storm(binary: &Path, data: &Path, seconds: f64) -> (f64, f64) {
    let cpu0 = children_cpu();
    let out = Command::new(binary)
        .arg(data)
        .arg(format!("loop:{seconds}:1:{}", 16 << 20))
        .output()
        .expect("run the storm");
    assert!(out.status.success(), "storm failed: {}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out.stdout);
    let l = lines.iter().find(|l| l["op"] == "loop").expect("loop line");
    let (reads, secs) = (l["reads"].as_f64().expect("reads"), l["seconds"].as_f64().expect("seconds"));
    let cpu = children_cpu() - cpu0;
    STORM_CPU.lock().expect("lock").push(cpu * 1e9 / reads);
    (reads / secs, secs)
}

/// The CPU per read of the last storm.
fn last_storm_cpu() -> f64 {
    STORM_CPU.lock().expect("lock").last().copied().unwrap_or(f64::NAN)
}

/// The bpftrace program counting, for `filter`, the tracepoints a read goes through.
fn bpftrace_program(filter: &str) -> String {
    [
        "tracepoint:syscalls:sys_enter_pread64",
        "tracepoint:syscalls:sys_exit_pread64",
        "tracepoint:filemap:mm_filemap_get_pages",
    ]
    .iter()
    .enumerate()
    .map(|(i, tp)| format!("{tp} /{filter}/ {{ @c{i} = count(); }}"))
    .collect::<Vec<_>>()
    .join(" ")
}

/// Every loaded BPF program, from bpftool (run time with kernel.bpf_stats_enabled=1):
/// id -> (name, runs, ns).
fn bpf_programs() -> BTreeMap<u64, (String, u64, u64)> {
    let out = Command::new("bpftool").args(["prog", "show", "--json"]).output().expect("run bpftool");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let id = p["id"].as_u64()?;
            let name = p["name"].as_str().unwrap_or("?").to_string();
            Some((id, (name, p["run_cnt"].as_u64().unwrap_or(0), p["run_time_ns"].as_u64().unwrap_or(0))))
        })
        .collect()
}

fn sysctl_bpf_stats(on: bool) {
    std::fs::write("/proc/sys/kernel/bpf_stats_enabled", if on { "1" } else { "0" })
        .expect("set bpf_stats_enabled");
}

/// Turns kernel.bpf_stats_enabled off when dropped.
struct StatsOn;
impl Drop for StatsOn {
    fn drop(&mut self) {
        sysctl_bpf_stats(false);
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn main() {
    support::require_root();
    // bpftrace finds tracepoints in tracefs, which a fresh boot may not have mounted yet (the
    // recorder mounts it itself; bpftrace may run first).
    if !Path::new("/sys/kernel/tracing/events").exists() {
        let _ = Command::new("mount").args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"]).status();
    }
    let rounds: usize = arg("--rounds", 3);
    let seconds: f64 = arg("--seconds", 5.0);
    let db_seconds: u32 = arg("--mariadb-seconds", 15);
    let dir = tempfile::tempdir().expect("tempdir");
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();

    // The storm's file, cached; a copy of the helper under another name for the bystander.
    let data = dir.path().join("storm.dat");
    std::fs::write(&data, (0..16u32 << 20).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
        .expect("write data");
    let reads = helper("reads");
    let bystander = dir.path().join("bystander");
    std::fs::copy(&reads, &bystander).expect("copy the helper");
    let _ = storm(&reads, &data, 0.5); // warm the cache and the binary

    println!(
        "recording cost, side by side: {rounds} round(s), modes alternating within each, medians; Linux {}",
        release.trim()
    );
    println!("\nstorm: 1-byte pread64 on a cached 16 MiB file, one thread, {seconds} s per run");
    let recs = recorders();
    let mut rates: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut figs: BTreeMap<String, Vec<RecorderFigures>> = BTreeMap::new();
    let mut latencies: Vec<u64> = Vec::new();
    let bt = bpftrace_program("comm == \"reads\"");
    let mut cpus: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut push = |k: &str, v: f64| {
        rates.entry(k.to_string()).or_default().push(v);
        cpus.entry(k.to_string()).or_default().push(last_storm_cpu());
    };
    for round in 0..rounds {
        push("untraced", storm(&reads, &data, seconds).0);
        push("bystander untraced", storm(&bystander, &data, seconds).0);
        let b = Bpftrace::start(&bt);
        push("bpftrace", storm(&reads, &data, seconds).0);
        push("bystander under bpftrace", storm(&bystander, &data, seconds).0);
        b.stop();
        for (label, bin) in &recs {
            let trace = dir.path().join(format!("storm{round}.mio"));
            let args = ["--comm", "reads", "--no-server-queries"];
            let (rate, f) = recorded(bin, &args, &trace, || storm(&reads, &data, seconds));
            push(label, rate);
            figs.entry(label.clone()).or_default().push(f);
            if latencies.is_empty() {
                latencies = read_latencies(&trace);
            }
            let (other, _) = recorded(bin, &args, &trace, || storm(&bystander, &data, seconds));
            push(&format!("bystander under {label}"), other);
        }
    }
    let m = |k: &str| median(&rates[k]);
    let c = |k: &str| median(&cpus[k]);
    // Ratios within each round, then their median: the host's slower and faster minutes cancel.
    let rate_ratio = |k: &str, base: &str| paired(&rates[k], &rates[base]);
    let cpu_ratio = |k: &str, base: &str| paired(&cpus[k], &cpus[base]);
    let untraced = m("untraced");
    println!(
        "  {:<38} {:>10} {:>9} {:>11} {:>9} {:>9}  runs (reads/s)",
        "", "reads/s", "×untraced", "CPU/read", "×untraced", "recorder"
    );
    let runs = |k: &str| rates[k].iter().map(|r| thousands(*r)).collect::<Vec<_>>().join(" ");
    let row = |name: &str, k: &str, recorder: String| {
        println!(
            "  {name:<38} {:>10} {:>9.3} {:>8.0} ns {:>9.2} {recorder:>9}  {}",
            thousands(m(k)),
            rate_ratio(k, "untraced"),
            c(k),
            cpu_ratio(k, "untraced"),
            runs(k)
        );
    };
    row("untraced", "untraced", String::new());
    row("bpftrace counting (same tracepoints)", "bpftrace", String::new());
    for (label, _) in &recs {
        row(label, label, pct(median(&figs[label].iter().map(|f| f.cpu).collect::<Vec<_>>())));
    }
    let (label, _) = &recs[0];
    println!(
        "  mysql-io ÷ bpftrace: {:.3} by rate, {:.3} by CPU per read (target ≥ 0.9)",
        rate_ratio(label, "bpftrace"),
        1.0 / cpu_ratio(label, "bpftrace")
    );
    let f = &figs[label];
    println!(
        "  mysql-io wrote {} events/s, {:.2} bytes/s per read/s, {} lost in all rounds",
        thousands(median(&f.iter().map(|f| f.events_per_sec).collect::<Vec<_>>())),
        median(&f.iter().map(|f| f.bytes_per_sec).collect::<Vec<_>>()) / m(label),
        f.iter().map(|f| f.lost).sum::<u64>()
    );
    println!(
        "  a process not traced, storming while the others run: {} reads/s untraced; under bpftrace {:.3} × ({:.3} × by CPU per read)",
        thousands(m("bystander untraced")),
        rate_ratio("bystander under bpftrace", "bystander untraced"),
        1.0 / cpu_ratio("bystander under bpftrace", "bystander untraced"),
    );
    for (label, _) in &recs {
        let k = format!("bystander under {label}");
        println!(
            "    under {label}: {:.3} × untraced ({:.3} × by CPU per read; target ≥ 0.97)",
            rate_ratio(&k, "bystander untraced"),
            1.0 / cpu_ratio(&k, "bystander untraced")
        );
    }
    if !latencies.is_empty() {
        latencies.sort_unstable();
        let q = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
        println!(
            "  latency mysql-io recorded for these reads: p50 {} ns, p99 {} ns; the whole read from user space, untraced: {:.0} ns",
            q(0.5),
            q(0.99),
            1e9 / untraced
        );
    }

    if !flag("--no-bpf-stats") {
        println!("\nBPF run time per program (kernel.bpf_stats_enabled=1, one more recorded storm; the statistics add time of their own)");
        let _on = StatsOn;
        sysctl_bpf_stats(true);
        for (i, (label, bin)) in recs.iter().enumerate() {
            println!("  {label}:");
            let trace = dir.path().join(format!("stats-{i}.mio"));
            // The recorder's programs are the ones loaded while it runs (bpftool here cannot say
            // which process holds a program).
            let others = bpf_programs();
            let rec = Recording::start(
                Command::new(bin)
                    .args(["record", "--comm", "reads", "--no-server-queries", "-o"])
                    .arg(&trace)
                    .stdout(Stdio::null()),
            );
            let ours = |all: BTreeMap<u64, (String, u64, u64)>| -> BTreeMap<String, (u64, u64)> {
                let mut m: BTreeMap<String, (u64, u64)> = BTreeMap::new();
                for (id, (name, runs, ns)) in all {
                    if !others.contains_key(&id) {
                        let e = m.entry(name).or_default();
                        e.0 += runs;
                        e.1 += ns;
                    }
                }
                m
            };
            let before = ours(bpf_programs());
            let (rate, _) = storm(&reads, &data, seconds);
            let after = ours(bpf_programs());
            rec.signal(libc::SIGINT);
            let _ = rec.wait();
            let reads_done = rate * seconds;
            println!("    {:<24} {:>12} {:>10} {:>12}", "program", "runs/read", "ns/run", "ns/read");
            let mut total = 0.0;
            for (name, &(runs, ns)) in &after {
                let (r0, n0) = before.get(name).copied().unwrap_or((0, 0));
                let (runs, ns) = (runs - r0, ns - n0);
                if runs == 0 {
                    continue;
                }
                let per_read = ns as f64 / reads_done;
                total += per_read;
                println!(
                    "    {name:<24} {:>12.2} {:>10.0} {:>12.0}",
                    runs as f64 / reads_done,
                    ns as f64 / runs as f64,
                    per_read
                );
            }
            println!(
                "    {:<24} {:>12} {:>10} {:>12.0}   (storm at {} reads/s)",
                "all",
                "",
                "",
                total,
                thousands(rate)
            );
        }
    }

    if flag("--no-mariadb") {
        return;
    }
    println!(
        "\nMariaDB 10.11 (buffered data files, 16 MiB buffer pool): sysbench oltp_point_select --threads=2, one table of 200,000 rows, {db_seconds} s per run"
    );
    let _one = support::one_server();
    let (sb, _) = Sandbox::start(&[]);
    sb.sysbench(&["oltp_point_select", "--tables=1", "--table-size=200000", "prepare"]);
    let pid = sb.restart();
    let server_cpu: std::cell::RefCell<Vec<f64>> = std::cell::RefCell::new(Vec::new());
    let run = |secs: u32| -> (f64, f64) {
        let cpu0 = cpu_seconds(pid);
        let out = sb.sysbench(&[
            "oltp_point_select",
            "--tables=1",
            "--table-size=200000",
            "--threads=2",
            &format!("--time={secs}"),
            "run",
        ]);
        let qps = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("queries:"))
            .and_then(|r| r.split('(').nth(1))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|r| r.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no QPS in sysbench's output:\n{out}"));
        // The server's CPU per query, which the VM's host taking the CPU away does not move.
        let queries = qps * f64::from(secs);
        server_cpu.borrow_mut().push((cpu_seconds(pid) - cpu0) * 1e6 / queries);
        (qps, f64::from(secs))
    };
    let _ = run(5); // warm-up: the table into the page cache, the buffer pool filled
    let bt = bpftrace_program(&format!("pid == {pid}"));
    let mut qps: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut cpq: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut db_figs: BTreeMap<String, Vec<RecorderFigures>> = BTreeMap::new();
    let mut note = |k: &str, q: f64| {
        qps.entry(k.to_string()).or_default().push(q);
        cpq.entry(k.to_string()).or_default().push(server_cpu.borrow().last().copied().unwrap_or(f64::NAN));
    };
    for round in 0..rounds {
        note("untraced", run(db_seconds).0);
        let b = Bpftrace::start(&bt);
        note("bpftrace", run(db_seconds).0);
        b.stop();
        for (label, bin) in &recs {
            let trace = dir.path().join(format!("db{round}.mio"));
            let (q, f) = recorded(bin, &["-p", &pid.to_string()], &trace, || run(db_seconds));
            note(label, q);
            db_figs.entry(label.clone()).or_default().push(f);
        }
        // The same recorder with the statement uprobes (a trap into the kernel at each
        // command's start and return).
        let (label, bin) = &recs[0];
        let trace = dir.path().join(format!("db{round}-statements.mio"));
        let (q, f) = recorded(bin, &["-p", &pid.to_string(), "--statements"], &trace, || run(db_seconds));
        let with = format!("{label} --statements");
        note(&with, q);
        db_figs.entry(with).or_default().push(f);
    }
    let statements_label = format!("{} --statements", recs[0].0);
    let m = |k: &str| median(&qps[k]);
    let c = |k: &str| median(&cpq[k]);
    let runs = |k: &str| qps[k].iter().map(|r| thousands(*r)).collect::<Vec<_>>().join(" ");
    println!(
        "  {:<38} {:>9} {:>7} {:>14} {:>7} {:>9} {:>9}  runs (QPS)",
        "", "QPS", "change", "server CPU/q", "change", "recorder", "events/s"
    );
    let row = |name: &str, k: &str, recorder: String, events: String| {
        println!(
            "  {name:<38} {:>9} {:>6.1}% {:>11.1} us {:>6.1}% {recorder:>9} {events:>9}  {}",
            thousands(m(k)),
            100.0 * (paired(&qps[k], &qps["untraced"]) - 1.0),
            c(k),
            100.0 * (paired(&cpq[k], &cpq["untraced"]) - 1.0),
            runs(k)
        );
    };
    row("untraced", "untraced", String::new(), String::new());
    row("bpftrace counting (same tracepoints)", "bpftrace", String::new(), String::new());
    for label in recs.iter().map(|(l, _)| l).chain([&statements_label]) {
        let f = &db_figs[label];
        row(
            label,
            label,
            pct(median(&f.iter().map(|f| f.cpu).collect::<Vec<_>>())),
            thousands(median(&f.iter().map(|f| f.events_per_sec).collect::<Vec<_>>())),
        );
    }
    let (label, _) = &recs[0];
    let f = &db_figs[label];
    println!(
        "  lost to mysql-io: {} of the QPS against untraced, {} against bpftrace; server CPU per query {} more than untraced, {} more than under bpftrace (target ≤ 2%); recorder CPU target ≤ 5%",
        pct(1.0 - paired(&qps[label], &qps["untraced"])),
        pct(1.0 - paired(&qps[label], &qps["bpftrace"])),
        pct(paired(&cpq[label], &cpq["untraced"]) - 1.0),
        pct(paired(&cpq[label], &cpq["bpftrace"]) - 1.0)
    );
    println!(
        "  --statements: {} of the QPS against recording without it, server CPU per query {} more (docs/statements.md)",
        pct(1.0 - paired(&qps[&statements_label], &qps[label])),
        pct(paired(&cpq[&statements_label], &cpq[label]) - 1.0)
    );
    println!(
        "  mysql-io wrote {} KiB/s of trace, {} lost in all rounds",
        thousands(median(&f.iter().map(|f| f.bytes_per_sec).collect::<Vec<_>>()) / 1024.0),
        f.iter().map(|f| f.lost).sum::<u64>()
    );
}
