//! `mysql-io record` and `mysql-io doctor`: argument parsing and printing around the recorder.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use mysql_io_format::ProbeMode;
use mysql_io_recorder::doctor::{self, DoctorReport};
use mysql_io_recorder::plan::{mode_name, Availability, ProbeChoice};
use mysql_io_recorder::session::{self, Progress, RecordOptions, RecordSummary};

use crate::output::{self, bytes, say, thousands, Format};

/// Which processes to trace (shared by `record` and `doctor`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TargetArgs {
    /// Trace this process (repeatable). Default: every mysqld and mariadbd.
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pids: Vec<u32>,
    /// Trace processes with this name, running or started while recording (repeatable).
    #[arg(long = "comm", value_name = "NAME")]
    comms: Vec<String>,
    /// Probe types: auto prefers kprobes, then fentry, then tracepoints, per event kind.
    #[arg(long, value_name = "auto|kprobe|fentry|tracepoint", default_value = "auto", value_parser = parse_probes)]
    probes: ProbeChoice,
}

fn parse_probes(s: &str) -> Result<ProbeChoice, String> {
    ProbeChoice::parse(s)
        .ok_or_else(|| format!("`{s}` is not a probe type: use auto, kprobe, fentry or tracepoint"))
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  sudo mysql-io record -d 60s -o prod.mio          every mysqld/mariadbd, one minute
  sudo mysql-io record -p 1234 -d 5m               one process; file named after host and time
  sudo mysql-io record --comm mysqld --max-size 2G until Ctrl-C or 2 GiB
  sudo mysql-io record -o t.mio -- ./my-benchmark  run a command and trace it
  sudo mysql-io record --mysql-socket /run/mysqld/mysqld.sock --mysql-user monitor
  sudo mysql-io record --mysql-defaults-file /etc/mysql-io/client.cnf -d 60s
  sudo mysql-io record --statements -d 60s -o q.mio   which statements made the reads

The server is asked (through the mariadb/mysql client, on its socket) for its own thread names
(performance_schema.threads, when performance_schema is on) and its SHOW GLOBAL STATUS counters
at the start and the end; --no-server-queries skips that.

Ctrl-C, SIGTERM or SIGHUP (a dropped ssh session) stops recording cleanly: the trace is complete.
An existing trace file is never replaced without --force. Recording stops at 1 GiB of trace
unless --max-size says otherwise. Run `mysql-io doctor` first to see what works here.")]
pub(crate) struct RecordArgs {
    /// How long to record (e.g. 60s, 5m); default: until Ctrl-C.
    #[arg(short, long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Trace file to write (default: HOST-YYYYMMDD-HHMMSS.mio).
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    targets: TargetArgs,
    /// Ring buffer size in MiB: a power of two (fractions such as 0.25 allowed, down to one 4 KiB page).
    #[arg(long, default_value_t = 64.0)]
    ringbuf_mb: f64,
    /// Stop when the trace reaches this size (e.g. 500M, 2G), so an unattended recording cannot
    /// fill the disk; `none` for no bound.
    #[arg(long, value_name = "SIZE|none", default_value = "1G", value_parser = parse_max_size)]
    max_size: MaxSize,
    /// Overwrite the trace file if it exists (without it, an existing file is never replaced).
    #[arg(long)]
    force: bool,
    /// zstd level of the trace (1-19).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
    zstd_level: i32,
    /// The server's unix socket, to ask it for its thread names (performance_schema) and
    /// SHOW GLOBAL STATUS counters (default: found from the traced mysqld/mariadbd).
    #[arg(long, value_name = "PATH")]
    mysql_socket: Option<PathBuf>,
    /// User to ask the server as (default: the mariadb/mysql client's default, e.g. from
    /// ~/.my.cnf; MYSQL_PWD is honoured).
    #[arg(long, value_name = "USER")]
    mysql_user: Option<String>,
    /// A client option file to read instead of the client's own (~/.my.cnf of the user running
    /// the recorder, which under sudo is root's): user and password. MYSQL_PWD does not
    /// survive sudo; this does.
    #[arg(long, value_name = "PATH")]
    mysql_defaults_file: Option<PathBuf>,
    /// Do not ask the server anything (thread roles then come from OS thread names).
    #[arg(long, conflicts_with_all = ["mysql_socket", "mysql_user", "mysql_defaults_file"])]
    no_server_queries: bool,
    /// Replace file paths (each component by a token, extensions kept), the host name and
    /// command lines in the trace, for sharing it (docs/running-in-production.md).
    #[arg(long)]
    redact: bool,
    /// Also record each statement the server runs (a uprobe on its command dispatch function):
    /// when, on which thread, how long, and a digest of its normalised text (literals replaced
    /// by ?), so `analyze statements` can say which statements made the reads. Costs the server
    /// a trap per statement (docs/statements.md).
    #[arg(long)]
    statements: bool,
    /// With --statements: keep each statement's text as sent (its first 1024 bytes), literals
    /// included. Without it the trace holds only the normalised text and digest.
    #[arg(long, requires = "statements", conflicts_with = "redact")]
    sql_text: bool,
    /// A command to run and trace, after `--`.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

/// `--max-size`: a bound in bytes, or none.
#[derive(Debug, Clone, Copy)]
struct MaxSize(Option<u64>);

fn parse_max_size(s: &str) -> Result<MaxSize, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(MaxSize(None));
    }
    parse_size(s).map(|n| MaxSize(Some(n))).map_err(|e| format!("{e}, or none for no bound"))
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{s}` is not a size: write e.g. 500M or 2G"))
}

impl TargetArgs {
    fn options(&self, command: &[String]) -> RecordOptions {
        let default = self.pids.is_empty() && self.comms.is_empty() && command.is_empty();
        let comms = if default {
            session::DEFAULT_COMMS.iter().map(|s| s.to_string()).collect()
        } else {
            self.comms.clone()
        };
        RecordOptions {
            output: PathBuf::new(),
            force: false,
            duration: None,
            pids: self.pids.clone(),
            comms,
            comms_must_run: default,
            command: command.to_vec(),
            probes: self.probes,
            ringbuf_bytes: 64 << 20,
            max_size: None,
            argv: std::env::args().collect(),
            zstd_level: 3,
            server: session::ServerOptions::default(),
            redact: false,
            statements: false,
            sql_text: false,
        }
    }
}

/// Turns the arguments into validated options.
fn record_options(args: &RecordArgs) -> anyhow::Result<RecordOptions> {
    let ringbuf_bytes = args.ringbuf_mb * f64::from(1u32 << 20);
    if !(4096.0..=f64::from(1u32 << 31)).contains(&ringbuf_bytes)
        || ringbuf_bytes.fract() != 0.0
        || !(ringbuf_bytes as u64).is_power_of_two()
    {
        bail!(
            "--ringbuf-mb must make a power of two of bytes between 4 KiB and 2 GiB (e.g. 16, 64, 256, or 0.25), not {}",
            args.ringbuf_mb
        );
    }
    if args.targets.comms.iter().any(|c| c.is_empty() || c.len() > 15) {
        bail!("--comm takes a process name of 1 to 15 bytes (the kernel's comm)");
    }
    if args.targets.comms.len() > 4 {
        bail!("--comm can be given at most 4 times");
    }
    let mut opts = args.targets.options(&args.command);
    opts.output = args.output.clone().unwrap_or_else(|| {
        doctor::default_output_name(&mysql_io_recorder::inventory::host_facts().host).into()
    });
    opts.duration = args.duration;
    opts.ringbuf_bytes = ringbuf_bytes as u32;
    opts.max_size = args.max_size.0;
    opts.force = args.force;
    opts.zstd_level = args.zstd_level;
    opts.redact = args.redact;
    opts.statements = args.statements;
    opts.sql_text = args.sql_text;
    opts.server = session::ServerOptions {
        off: args.no_server_queries,
        socket: args.mysql_socket.clone(),
        user: args.mysql_user.clone(),
        defaults_file: args.mysql_defaults_file.clone(),
    };
    Ok(opts)
}

pub(crate) fn run_record(args: &RecordArgs) -> anyhow::Result<ExitCode> {
    let opts = record_options(args)?;
    let stop = Arc::new(AtomicBool::new(false));
    // A dropped ssh session (SIGHUP) or a service manager (SIGTERM) ends the recording the way
    // Ctrl-C does: the trace gets its footer and the server its closing counters. Under nohup
    // (SIGHUP ignored) the recording goes on, as the user asked.
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        if sig == signal_hook::consts::SIGHUP && ignored(sig) {
            continue;
        }
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing the signal handlers")?;
    }
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let what = match (&opts.pids[..], &opts.command[..]) {
        (_, [c, ..]) => format!("`{c}` and its children"),
        ([], []) if !opts.comms_must_run => {
            format!("{} processes (also ones that start later)", opts.comms.join(" and "))
        }
        ([], []) => opts.comms.join(" and ") + " processes",
        (p, []) => format!("process {}", p.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")),
    };
    let until = match (opts.duration, opts.command.is_empty()) {
        (Some(d), _) => format!("for {}", humantime::format_duration(d)),
        (None, false) => "until it exits".into(),
        (None, true) => "until stopped".into(),
    };
    let bound = match opts.max_size {
        Some(m) => format!(" or until {} are written (--max-size)", bytes(m)),
        None => String::new(),
    };
    let mut on_progress = |p: &Progress| {
        bar.set_message(format!(
            "{:>6.1} s  {} events ({}/s)  {} written  {:.1}x  lost {}",
            p.elapsed.as_secs_f64(),
            thousands(p.events),
            thousands(p.events_per_sec as u64),
            bytes(p.file_bytes),
            p.compression,
            thousands(p.lost)
        ));
        bar.tick();
        for w in &p.warnings {
            bar.suspend(|| say!("mysql-io: warning: {w}"));
        }
    };
    let mut on_attached = |plan: &mysql_io_recorder::plan::ProbePlan, targets: &[u32]| {
        let mut modes: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for k in &plan.kinds {
            *modes.entry(mode_name(k.mode)).or_default() += 1;
        }
        let modes: Vec<String> = modes.iter().map(|(m, n)| format!("{m} for {n} kinds")).collect();
        let pids = if targets.is_empty() || !opts.pids.is_empty() {
            String::new()
        } else {
            format!(" ({})", targets.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))
        };
        say!(
            "mysql-io: recording {what}{pids} {until}{bound} into {} ({}); Ctrl-C stops",
            opts.output.display(),
            modes.join(", ")
        );
    };
    let summary = session::record(&opts, &stop, &mut on_attached, &mut on_progress)?;
    bar.finish_and_clear();
    print_summary(&summary);
    Ok(ExitCode::SUCCESS)
}

/// The signal is ignored (SIG_IGN inherited, e.g. from nohup).
fn ignored(sig: libc::c_int) -> bool {
    // SAFETY: sigaction with a null new action only reads the current one into `old`.
    #[allow(unsafe_code)]
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

fn print_summary(s: &RecordSummary) {
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    let lost: u64 = s.lost.values().sum();
    say!(
        "mysql-io: recorded {:.1} s ({}): {} events ({}/s), {} ({:.2} bytes/event, compression {:.1}x), lost {}",
        secs,
        s.stop,
        thousands(s.events),
        thousands((s.events as f64 / secs) as u64),
        bytes(s.file_bytes),
        s.file_bytes as f64 / s.events.max(1) as f64,
        s.compression,
        thousands(lost)
    );
    let mut by_mode: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for k in &s.plan.kinds {
        by_mode.entry(mode_name(k.mode)).or_default().push(k.kind.name());
    }
    for (mode, kinds) in &by_mode {
        say!("mysql-io:   {mode}: {}", kinds.join(", "));
    }
    if !s.statement_probes.is_empty() {
        say!("mysql-io:   uprobe: statement ({})", s.statement_probes.join(", "));
    }
    if s.undecodable > 0 {
        say!(
            "mysql-io: warning: {} records could not be decoded (a BPF object from another build?)",
            s.undecodable
        );
    }
    if lost > 0 {
        say!("mysql-io: warning: {lost} events were lost (ring buffer full): try a larger --ringbuf-mb");
    }
    for w in &s.warnings {
        say!("mysql-io: warning: {w}");
    }
    say!("mysql-io: trace written to {}; next: mysql-io info {}", s.path.display(), s.path.display());
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  sudo mysql-io doctor                 what works here, for every mysqld/mariadbd
  sudo mysql-io doctor -p 1234
  sudo mysql-io doctor --format json

Exit status 0 when recording can work, 2 (with the reasons) when it cannot.")]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    targets: TargetArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub(crate) fn run_doctor(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let report = doctor::examine(&args.targets.options(&[]));
    match args.format {
        Format::Json => output::print(&(serde_json::to_string_pretty(&report)? + "\n"))?,
        Format::Table => output::print(&render_doctor(&report))?,
    }
    if report.ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &report.problems {
            say!("mysql-io: error: {p}");
        }
        Ok(ExitCode::from(2))
    }
}

fn availability(a: &Availability) -> String {
    match a {
        Availability::Works => "work".into(),
        Availability::Fails(r) => format!("do not work: {r}"),
        Availability::Unknown => "not tried".into(),
    }
}

fn render_doctor(r: &DoctorReport) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "kernel     Linux {}, BTF {}, BPF programs {}",
        r.kernel,
        if r.btf { "yes" } else { "NO" },
        if r.can_load { "can be loaded" } else { "CANNOT be loaded (root, or CAP_BPF and CAP_PERFMON)" }
    );
    let _ = writeln!(o, "privileges {}", r.capabilities);
    let _ = writeln!(o, "kprobes    {}", availability(&r.kprobe));
    let _ = writeln!(o, "fentry     {}", availability(&r.fentry));
    let _ = writeln!(o, "\nevent kind          auto        kprobe       fentry       tracepoint");
    for k in &r.kinds {
        let cell = |mode: &str| {
            k.variants.iter().find(|v| v.mode == mode).map_or("-".to_string(), |v| {
                if v.status == "works" || v.status.starts_with("works (") {
                    "works".into()
                } else if v.status.starts_with("fails") {
                    "fails".into()
                } else if v.status.starts_with("not on") {
                    "absent".into()
                } else {
                    "untried".into()
                }
            })
        };
        let _ = writeln!(
            o,
            "{:19} {:11} {:12} {:12} {}",
            k.kind,
            k.auto,
            cell("kprobe"),
            cell("fentry"),
            cell("tracepoint")
        );
    }
    let notes: Vec<String> = r
        .kinds
        .iter()
        .flat_map(|k| k.variants.iter().map(move |v| (k, v)))
        .filter(|(_, v)| {
            v.status.starts_with("works (") || (v.status.starts_with("fails") && v.mode == "tracepoint")
        })
        .map(|(k, v)| format!("  {} {}: {}", k.kind, v.mode, v.status))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(o, "notes\n{}", notes.join("\n"));
    }
    if r.processes.is_empty() {
        let _ = writeln!(o, "\ntargets    none found");
    }
    for p in &r.processes {
        let _ = writeln!(o, "\nprocess    {} {} ({}, {} threads)", p.pid, p.comm, p.exe, p.threads);
        let _ = writeln!(o, "statements {}", p.statements);
        for f in p.files.iter().take(40) {
            let _ = writeln!(
                o,
                "  {:60} {:6} {:>10}{}",
                f.path,
                f.fs_type,
                bytes(f.size),
                if f.direct { "  O_DIRECT (no readahead)" } else { "" }
            );
        }
        if p.files.len() > 40 {
            let _ = writeln!(o, "  ... and {} more files", p.files.len() - 40);
        }
    }
    let _ = writeln!(o);
    for d in &r.devices {
        let _ = writeln!(
            o,
            "device     {:10} {:>7} read_ahead_kb={} max_sectors_kb={}{}",
            d.name,
            doctor::dev_name(d.dev),
            d.read_ahead_kb,
            d.max_sectors_kb,
            if d.rotational { " rotational" } else { "" }
        );
    }
    if r.ok() {
        let _ = writeln!(o, "\nrecording works here; run:\n  {}", r.command);
    } else {
        let _ = writeln!(o, "\nrecording cannot work here:");
        for p in &r.problems {
            let _ = writeln!(o, "  - {p}");
        }
    }
    let _ = ProbeMode::Off;
    o
}
