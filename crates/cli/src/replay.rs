//! `mysql-io replay`: re-issue a trace's reads on this machine.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mysql_io_format::TraceFile;
use mysql_io_replay::exec::{self, ExecOptions, ExecReport, Speed};
use mysql_io_replay::setup::{self, MemoryCgroup, PathMap, ReadaheadGuard};
use mysql_io_replay::trace::{plan_of, TracePlan};
use serde::Serialize;

use crate::output::{bytes, say, thousands};

/// Lag at p99 under which the box kept up with the recorded pace.
const KEPT_UP_P99_NS: u64 = 1_000_000;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mysql-io replay prod.mio --create /mnt/test/standin
        stand-in files of the recorded sizes, then the reads at the recorded pace
  sudo mysql-io replay prod.mio --map /var/lib/mysql=/mnt/copy --ra-kb 512 --drop-caches
        a copy of the datadir, at read_ahead_kb 512, from a cold cache
  sudo mysql-io replay prod.mio --create /mnt/t --ra-kb 32 --record replay-32.mio
        the same reads recorded, to compare: mysql-io compare prod.mio replay-32.mio
  mysql-io replay prod.mio --map /var/lib/mysql=/mnt/copy --speed max
        as fast as the box goes, in recorded order per thread

Files are opened read-only (O_RDONLY; O_DIRECT where the recording had it). Needs root only for
--ra-kb, --drop-caches, --memory-mb and --record. docs/replay.md has the details.")]
pub(crate) struct ReplayArgs {
    /// The trace whose reads to replay.
    trace: PathBuf,
    /// Where the recorded files are here: the recorded path prefix FROM becomes TO (repeatable).
    #[arg(long = "map", value_name = "FROM=TO")]
    maps: Vec<String>,
    /// Write stand-in files of the recorded sizes, filled with data, under DIR (empty or new)
    /// and replay on them.
    #[arg(long, value_name = "DIR", conflicts_with = "maps")]
    create: Option<PathBuf>,
    /// Pace: 1 as recorded, N times faster, or max (recorded order per thread, no waiting).
    #[arg(long, default_value = "1", value_parser = parse_speed)]
    speed: Speed,
    /// One worker per recorded thread (the only mode).
    #[arg(long, default_value = "as-recorded", value_parser = ["as-recorded"])]
    threads: String,
    /// Set read_ahead_kb of the devices under the files for the run, and restore it afterwards
    /// (also on Ctrl-C and errors).
    #[arg(long, value_name = "KB")]
    ra_kb: Option<u32>,
    /// Drop the page cache before the start (sync; echo 3 > /proc/sys/vm/drop_caches).
    #[arg(long)]
    drop_caches: bool,
    /// Run in a cgroup v2 whose memory.max is this many MiB, so the page cache is as tight as on
    /// the recorded host.
    #[arg(long, value_name = "MIB")]
    memory_mb: Option<u64>,
    /// Record the replay with the same recorder into this trace (the kernel's own readahead on
    /// this box).
    #[arg(long, value_name = "OUT.mio")]
    record: Option<PathBuf>,
    /// Replay even on files a running mysqld/mariadbd has open.
    #[arg(long)]
    force: bool,
    /// AIO and io_uring reads in flight per worker at most.
    #[arg(long, default_value_t = 64, value_name = "N")]
    queue_depth: u32,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_speed(s: &str) -> Result<Speed, String> {
    if s == "max" {
        return Ok(Speed::Max);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Scale(f)),
        _ => Err(format!("`{s}` is not a speed: give 1 (as recorded), a factor such as 2 or 0.5, or max")),
    }
}

/// What `replay` prints as JSON.
#[derive(Debug, Serialize)]
struct Report {
    trace: String,
    speed: String,
    reads_planned: u64,
    reads: u64,
    threads: usize,
    files: usize,
    left_out: LeftOut,
    recorded_s: f64,
    duration_s: f64,
    /// duration / (recorded / speed), at a timed speed.
    duration_ratio: Option<f64>,
    lag_p50_us: f64,
    lag_p99_us: f64,
    lag_max_us: f64,
    late_reads: u64,
    kept_up: Option<bool>,
    bytes: u64,
    errors: u64,
    short_reads: u64,
    issued_as_pread: u64,
    not_issued: u64,
    settings: Vec<String>,
    record: Option<String>,
}

#[derive(Debug, Serialize)]
struct LeftOut {
    failed: u64,
    unresolved: u64,
    no_path: u64,
}

pub(crate) fn run(a: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let file = TraceFile::open(&a.trace).with_context(|| format!("cannot open {}", a.trace.display()))?;
    let trace =
        file.parse().with_context(|| format!("{} is not a readable .mio trace", a.trace.display()))?;
    let tp = plan_of(&trace);
    if tp.plan.reads() == 0 {
        bail!(
            "{} has no reads to replay ({} reads recorded: {} failed, {} on unresolved files, {} on files without a path)",
            a.trace.display(),
            tp.reads,
            tp.failed,
            tp.unresolved,
            tp.no_path
        );
    }
    drop(trace);
    let mut plan = tp.plan.clone();
    let recorded: Vec<(PathBuf, u64)> = plan.files.iter().map(|f| (f.path.clone(), f.size)).collect();

    // Where the files are.
    plan.files = match (&a.create, a.maps.is_empty()) {
        (Some(dir), _) => {
            let total: u64 = recorded.iter().map(|(_, s)| s).sum();
            let bar = bar(total, "writing stand-ins");
            let (files, rep) = setup::create_standins(dir, &recorded, &|done, _| bar.set_position(done))?;
            bar.finish_and_clear();
            say!(
                "mysql-io: wrote {} stand-in files ({}) under {} in {:.1} s ({:.0} MiB/s)",
                rep.files,
                bytes(rep.bytes),
                dir.display(),
                rep.seconds,
                rep.mib_per_sec()
            );
            files
        }
        (None, false) => PathMap::parse(&a.maps)?.map_all(&recorded)?,
        (None, true) => bail!(
            "say where the recorded files are: --map FROM=TO (e.g. --map /var/lib/mysql=/mnt/copy), or --create DIR for stand-ins"
        ),
    };
    setup::check_sizes(&plan.files)?;
    let paths: Vec<PathBuf> = plan.files.iter().map(|f| f.path.clone()).collect();
    if !a.force {
        setup::live_server_files(&paths).refuse().context("refusing to replay (--force overrides)")?;
    }

    // The run's settings, undone on every way out (Ctrl-C included).
    setup::restore_on_signals()?;
    let mut settings = Vec::new();
    let ra = match a.ra_kb {
        Some(kb) => {
            let devices = setup::devices_of(&paths)?;
            let g = ReadaheadGuard::set(&devices, kb)?;
            say!("mysql-io: {}", g.restore_hint());
            for (d, old, new) in g.changes() {
                settings.push(format!("read_ahead_kb of {} {new} (was {old}, restored)", d.name));
            }
            Some(g)
        }
        None => {
            for d in setup::devices_of(&paths).unwrap_or_default() {
                if let Ok(kb) = d.read_ahead_kb() {
                    settings.push(format!("read_ahead_kb of {} {kb} (unchanged)", d.name));
                }
            }
            None
        }
    };
    if a.drop_caches {
        setup::drop_caches()?;
        settings.push("page cache dropped before the start".into());
    }
    let cgroup = match a.memory_mb {
        Some(mb) => {
            // Pages cached before stay charged to the cgroup that read them: drop them, so the
            // replay's cache is all under the limit.
            if !a.drop_caches {
                setup::drop_file_pages(&paths)?;
                settings.push("the files' cached pages dropped before the start (--memory-mb)".into());
            }
            let g = MemoryCgroup::enter(mb)?;
            settings.push(format!("memory limit {mb} MiB ({})", g.path().display()));
            Some(g)
        }
        None => None,
    };
    let recorder = match &a.record {
        Some(out) => Some(Recorder::start(out)?),
        None => None,
    };

    let speed = match a.speed {
        Speed::Max => "max".to_string(),
        Speed::Scale(f) => format!("{f}"),
    };
    say!(
        "mysql-io: replaying {} reads of {} threads on {} files (recorded over {:.1} s) at --speed {speed}; Ctrl-C stops (settings are restored)",
        thousands(plan.reads() as u64),
        plan.threads.len(),
        plan.files.len(),
        tp.span_ns as f64 / 1e9
    );
    let fds = exec::open_streams(&plan)?;
    // Workers spin the last 100 us before a due time (wakes on time, costs CPU): only when each
    // can have a CPU, else spinning workers would delay the others.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut opts = ExecOptions { speed: a.speed, queue_depth: a.queue_depth, ..ExecOptions::default() };
    if plan.threads.len() > cpus {
        opts.spin_ns = 0;
    }
    let stop = AtomicBool::new(false);
    let bar = bar(plan.reads() as u64, "replaying");
    let done = AtomicU64::new(0);
    let result = exec::run(
        &plan,
        &fds,
        &opts,
        &|n| {
            done.store(n, Ordering::Relaxed);
            bar.set_position(n);
        },
        &stop,
    );
    bar.finish_and_clear();
    drop(fds);
    let record = recorder.map(Recorder::stop).transpose()?;
    if let Some(g) = ra {
        g.restore()?;
    }
    if let Some(g) = cgroup {
        g.leave()?;
    }
    let rep = result?;
    let report = report_of(a, &tp, &plan, &rep, speed, settings, record);
    if a.json {
        crate::output::print(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        crate::output::print(&text(&report))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} {{eta}}"))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(len).with_style(style)
}

fn report_of(
    a: &ReplayArgs,
    tp: &TracePlan,
    plan: &mysql_io_replay::Plan,
    r: &ExecReport,
    speed: String,
    settings: Vec<String>,
    record: Option<String>,
) -> Report {
    let recorded_s = tp.span_ns as f64 / 1e9;
    let duration_s = r.duration_ns as f64 / 1e9;
    let factor = match a.speed {
        Speed::Max => None,
        Speed::Scale(f) => Some(f),
    };
    let duration_ratio = factor.filter(|_| recorded_s > 0.0).map(|f| duration_s / (recorded_s / f));
    let us = |ns: u64| ns as f64 / 1e3;
    Report {
        trace: a.trace.display().to_string(),
        speed,
        reads_planned: r.planned_reads,
        reads: r.reads,
        threads: plan.threads.len(),
        files: plan.files.len(),
        left_out: LeftOut { failed: tp.failed, unresolved: tp.unresolved, no_path: tp.no_path },
        recorded_s,
        duration_s,
        duration_ratio,
        lag_p50_us: us(r.lag.p50_ns),
        lag_p99_us: us(r.lag.p99_ns),
        lag_max_us: us(r.lag.max_ns),
        late_reads: r.lag.late_reads,
        kept_up: r.lag.timed.then_some(r.lag.p99_ns < KEPT_UP_P99_NS && !r.stopped),
        bytes: r.bytes,
        errors: r.errors,
        short_reads: r.short_reads,
        issued_as_pread: r.issued_as_pread,
        not_issued: r.not_issued,
        settings,
        record,
    }
}

fn text(r: &Report) -> String {
    let mut s = format!(
        "replayed {} of {} reads ({}) of {} threads on {} files in {:.2} s at --speed {}",
        thousands(r.reads),
        thousands(r.reads_planned),
        bytes(r.bytes),
        r.threads,
        r.files,
        r.duration_s,
        r.speed
    );
    match r.duration_ratio {
        Some(x) => s += &format!(" (recorded {:.2} s: {:.1}%)\n", r.recorded_s, 100.0 * x),
        None => s += &format!(" (recorded {:.2} s)\n", r.recorded_s),
    }
    if let Some(kept) = r.kept_up {
        s += &format!(
            "lag behind the recorded times: p50 {:.0} us, p99 {:.0} us, max {:.0} us; {} reads started over 1 ms late: {}\n",
            r.lag_p50_us,
            r.lag_p99_us,
            r.lag_max_us,
            thousands(r.late_reads),
            if kept { "the box kept up" } else { "the box did NOT keep up (timings are later than recorded)" }
        );
    }
    s += &format!(
        "errors {}, short reads {}, read/readv issued as pread (shared description) {}, not issued {}\n",
        thousands(r.errors),
        thousands(r.short_reads),
        thousands(r.issued_as_pread),
        thousands(r.not_issued)
    );
    let l = &r.left_out;
    if l.failed + l.unresolved + l.no_path > 0 {
        s += &format!(
            "left out: {} reads that failed when recorded, {} on unresolved io_uring files, {} on files without a recorded path\n",
            l.failed, l.unresolved, l.no_path
        );
    }
    for setting in &r.settings {
        s += &format!("setting: {setting}\n");
    }
    if let Some(out) = &r.record {
        s += &format!("recorded into {out}: compare with `mysql-io compare {} {out}`\n", r.trace);
    }
    s
}

#[cfg(not(feature = "record"))]
#[derive(Debug)]
struct Recorder;

#[cfg(not(feature = "record"))]
impl Recorder {
    fn start(_: &std::path::Path) -> anyhow::Result<Self> {
        bail!("this build of mysql-io cannot record (built without the `record` feature): drop --record")
    }

    fn stop(self) -> anyhow::Result<String> {
        Ok(String::new())
    }
}

#[cfg(feature = "record")]
use recorder::Recorder;

/// `mysql-io record` on this process, in a child process (so its own reads are not traced).
#[cfg(feature = "record")]
mod recorder {
    use std::io::{BufRead, BufReader};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use anyhow::{bail, Context};

    pub(super) struct Recorder {
        child: Child,
        out: PathBuf,
    }

    impl Recorder {
        pub(super) fn start(out: &std::path::Path) -> anyhow::Result<Self> {
            let exe = std::env::current_exe().context("cannot find this program to run the recorder")?;
            let mut cmd = Command::new(exe);
            cmd.args(["record", "--no-server-queries", "-p"])
                .arg(std::process::id().to_string())
                .arg("-o")
                .arg(out)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            // If this process dies without stopping it (SIGKILL), the recorder gets its Ctrl-C.
            // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of the new process; it is
            // async-signal-safe, as code between fork and exec must be.
            #[allow(unsafe_code)]
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
                    Ok(())
                });
            }
            let mut child = cmd.spawn().context("cannot start the recorder")?;
            let stderr = child.stderr.take().context("the recorder's stderr")?;
            let (tx, rx) = std::sync::mpsc::channel::<Result<(), String>>();
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                let mut last = String::new();
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.starts_with("mysql-io: recording ") {
                        if let Some(t) = tx.take() {
                            let _ = t.send(Ok(()));
                        }
                    } else if tx.is_none() {
                        eprintln!("{line}");
                    }
                    last = line;
                }
                if let Some(t) = tx.take() {
                    let _ = t.send(Err(last));
                }
            });
            let start = Instant::now();
            let ready = rx.recv_timeout(Duration::from_secs(120));
            match ready {
                Ok(Ok(())) => {}
                Ok(Err(last)) => {
                    let _ = child.wait();
                    bail!("the recorder (--record) did not start: {last}");
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!(
                        "the recorder (--record) did not attach within {:.0} s",
                        start.elapsed().as_secs_f64()
                    );
                }
            }
            Ok(Recorder { child, out: out.to_path_buf() })
        }

        pub(super) fn stop(mut self) -> anyhow::Result<String> {
            let pid = i32::try_from(self.child.id()).context("recorder pid")?;
            // SAFETY: kill(2) on our own child's pid with SIGINT, its Ctrl-C: it finishes the trace.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::kill(pid, libc::SIGINT) };
            if rc != 0 {
                bail!("cannot stop the recorder: {}", std::io::Error::last_os_error());
            }
            let status = self.child.wait().context("waiting for the recorder")?;
            if !status.success() {
                bail!(
                    "the recorder (--record) failed ({status}); its trace {} may be incomplete",
                    self.out.display()
                );
            }
            Ok(self.out.display().to_string())
        }
    }

    impl std::fmt::Debug for Recorder {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Recorder").field("pid", &self.child.id()).field("out", &self.out).finish()
        }
    }
}
