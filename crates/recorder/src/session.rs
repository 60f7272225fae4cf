//! A recording session: finds the targets, plans and loads the probes (falling back per kind
//! when a planned program does not load), writes the header and what /proc knows, then streams
//! ring-buffer records into the trace writer until a stop condition, accounting for drops.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libbpf_rs::RingBufferBuilder;
use mysql_io_format::{
    Clock, Event, EventKind, Header, Lost, Metadata, ProbeInfo, ProbeMode, ProcessInfo, Writer, WriterOptions,
};

use crate::consumer::Consumer;
use crate::facts;
use crate::inventory;
use crate::loader::{self, LoadOptions};
use crate::plan::{self, Availability, KernelFacts, ProbeChoice, ProbePlan};
use crate::privilege::{self, Privileges};
use crate::redact::Redactor;
use crate::selfcheck;
use crate::watch::ServerWatch;

/// How often the ring buffer is drained when nothing wakes the consumer. The BPF programs commit
/// records without a wakeup (a wakeup per record costs the traced thread an interrupt, and on a VM
/// an exit to the hypervisor); at 2 M records/s of 120 bytes, 50 ms is 12 MiB, a fifth of the
/// default ring.
const DRAIN_EVERY: Duration = Duration::from_millis(50);

/// A record that takes the ring buffer past this share of its size wakes the consumer at once, so
/// that a burst between two timed drains cannot fill it.
const WAKE_FRACTION: f64 = 0.25;

/// How long the probes run before the self-check may call a kind silent.
const SELF_CHECK_AFTER: Duration = Duration::from_secs(5);

/// Kinds whose programs are planned but not loaded, for testing the self-check: a comma list of
/// kind names (`readahead_trigger,...`). The header still lists them as planned, as a probe that
/// attached and never fired would be.
const SILENCE_VAR: &str = "MYSQL_IO_SILENCE";

/// Process names traced when no target is named.
pub const DEFAULT_COMMS: [&str; 2] = ["mysqld", "mariadbd"];

/// What to record and how.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// The trace file to write.
    pub output: PathBuf,
    /// Overwrite `output` when it exists (otherwise recording refuses to start).
    pub force: bool,
    /// Stop after this long (None: until a signal or another stop condition).
    pub duration: Option<Duration>,
    /// Processes to trace, by pid.
    pub pids: Vec<u32>,
    /// Processes to trace, by name (running ones and ones that start during recording).
    pub comms: Vec<String>,
    /// Refuse to start when no process has one of `comms` (the default names: a user who did
    /// not name a process expects a running server; one who did may be waiting for it to start).
    pub comms_must_run: bool,
    /// A command to run and trace (`record -- CMD ARGS`).
    pub command: Vec<String>,
    /// Probe types.
    pub probes: ProbeChoice,
    /// Ring buffer size in bytes (a power of two).
    pub ringbuf_bytes: u32,
    /// Stop when the trace reaches this many bytes.
    pub max_size: Option<u64>,
    /// The recorder's command line, for the header.
    pub argv: Vec<String>,
    /// zstd level of the trace.
    pub zstd_level: i32,
    /// Asking the servers for their thread names and counters.
    pub server: ServerOptions,
    /// Replace paths, the host name and command lines (see [`crate::redact`]).
    pub redact: bool,
    /// Record the statements the servers run (uprobes on their command dispatch, see
    /// [`crate::dispatch`] and [`crate::statements`]).
    pub statements: bool,
    /// Keep statements' text as sent (otherwise only their digest and normalised text).
    pub sql_text: bool,
}

/// Whether and how to ask the traced servers (mysqld/mariadbd) about themselves.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Do not ask.
    pub off: bool,
    /// The server's socket (found from the process when `None`).
    pub socket: Option<PathBuf>,
    /// The user to connect as (the client's default when `None`).
    pub user: Option<String>,
    /// An option file for the client (`--defaults-file`: user and password), read instead
    /// of the client's own (`~/.my.cnf` of the user running the recorder).
    pub defaults_file: Option<PathBuf>,
}

/// Live figures, reported about once a second.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Time since recording started.
    pub elapsed: Duration,
    /// Events written so far.
    pub events: u64,
    /// Events per second over the last interval.
    pub events_per_sec: f64,
    /// Bytes of the trace file so far.
    pub file_bytes: u64,
    /// Compression ratio of the chunks written so far.
    pub compression: f64,
    /// Events lost so far (ring buffer full).
    pub lost: u64,
    /// Processes traced.
    pub targets: usize,
    /// What the self-check found since the last progress report ([`crate::selfcheck`]).
    pub warnings: Vec<String>,
}

/// Why recording stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The requested duration passed.
    Duration,
    /// SIGINT or SIGTERM.
    Signal,
    /// The trace reached `--max-size`.
    MaxSize,
    /// The command run with `--` exited, with this status.
    CommandExited(i32),
    /// Every traced process exited.
    TargetsExited,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Duration => f.write_str("the duration passed"),
            StopReason::Signal => f.write_str("interrupted"),
            StopReason::MaxSize => f.write_str("the trace reached --max-size"),
            StopReason::CommandExited(c) => write!(f, "the command exited with status {c}"),
            StopReason::TargetsExited => f.write_str("every traced process exited"),
        }
    }
}

/// What a finished session did.
#[derive(Debug, Clone)]
pub struct RecordSummary {
    /// The trace file.
    pub path: PathBuf,
    /// Events written.
    pub events: u64,
    /// Bytes of the trace file.
    pub file_bytes: u64,
    /// Events lost, per kind code (0: unknown).
    pub lost: BTreeMap<u8, u64>,
    /// How long it recorded.
    pub elapsed: Duration,
    /// Why it stopped.
    pub stop: StopReason,
    /// How each kind was captured.
    pub plan: ProbePlan,
    /// Processes traced at the start.
    pub targets: Vec<u32>,
    /// Chunk bytes before / after compression.
    pub compression: f64,
    /// Records the recorder could not decode (a BPF object that does not match this build).
    pub undecodable: u64,
    /// What the trace lacks and why (e.g. the server could not be asked for thread names).
    pub warnings: Vec<String>,
    /// Where statements were captured (`record --statements`): one uprobe attach point per
    /// server binary; empty when not asked or nowhere possible.
    pub statement_probes: Vec<String>,
}

/// Why recording could not start or go on. Every message is one sentence saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A capability recording needs is missing (the message names it).
    #[error("{0}")]
    Privileges(String),
    /// tracefs cannot be read (the message names the capability).
    #[error("{0}")]
    Tracefs(String),
    /// No kernel BTF.
    #[error("this kernel has no BTF (/sys/kernel/btf/vmlinux is missing), which mysql-io needs to read kernel structures: use a kernel built with CONFIG_DEBUG_INFO_BTF=y (RHEL 8.2 and later, Ubuntu 20.10 and later, Debian 11 and later have it)")]
    NoBtf,
    /// No BPF ring buffer.
    #[error("this kernel has no BPF ring buffer (Linux 5.8; RHEL 8 has it from 8.4), which mysql-io streams its events through: record on a newer kernel (RHEL 8.4 or later)")]
    NoRingBuffer,
    /// A pid that is not a running process.
    #[error("no process with pid {0} is running: check the pid (ps -e -o pid,comm)")]
    NoSuchProcess(u32),
    /// No process with the target names.
    #[error("no {} process is running: start the server first, or name the process with -p PID or --comm NAME, or run a command with -- CMD", .0.join(" or "))]
    NoTargets(Vec<String>),
    /// The client option file given cannot be read.
    #[error("cannot read the client option file {}: {source}; give a readable file to --mysql-defaults-file", path.display())]
    OptionFile {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The output exists and `force` was not given.
    #[error("{} already exists: name another trace file with -o, or add --force to overwrite it", .0.display())]
    Exists(PathBuf),
    /// The output cannot be written.
    #[error("cannot create the trace file {}: {source}", path.display())]
    Output {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The plan cannot be made.
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    /// A kind the recorder needs cannot be captured.
    #[error("{0}")]
    Required(String),
    /// The BPF programs could not be loaded.
    #[error("the BPF programs could not be loaded even after falling back: {0}")]
    Load(loader::LoadError),
    /// The command could not be started.
    #[error("cannot run {command}: {source}")]
    Command {
        /// The command.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing the trace failed.
    #[error("writing the trace failed: {0}")]
    Write(#[from] mysql_io_format::Error),
    /// The ring buffer could not be read.
    #[error("reading the ring buffer failed: {0}")]
    RingBuffer(String),
}

/// Removes a file when dropped, unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Nanoseconds of a clock.
fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    #[allow(unsafe_code)]
    unsafe {
        libc::clock_gettime(clock, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Trace-clock now: CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// Kernel facts with kprobe and fentry availability found by trying them.
pub fn kernel_facts() -> KernelFacts {
    loader::capture_libbpf_messages();
    let mut f = facts::gather();
    f.kprobe = loader::probe_mode(ProbeMode::Kprobe);
    f.fentry =
        if f.btf { loader::probe_mode(ProbeMode::Fentry) } else { Availability::Fails("no BTF".into()) };
    f
}

/// What recording needs that is not about the kernel's probes, each missing piece named: the
/// capabilities to load BPF programs and read tracefs ([`crate::privilege`]; euid 0 is not
/// needed), and BTF. Empty when nothing is missing.
pub fn preflight_problems() -> Vec<RecordError> {
    let p = Privileges::current();
    let mut problems: Vec<RecordError> = p.bpf_problem().map(RecordError::Privileges).into_iter().collect();
    problems.extend(privilege::tracefs_problem(&p).map(RecordError::Tracefs));
    if !facts::has_btf() {
        problems.push(RecordError::NoBtf);
    }
    // Asked only where BPF may be used: without the privilege the kernel cannot be asked.
    if problems.is_empty() && facts::has_ringbuf() == Some(false) {
        problems.push(RecordError::NoRingBuffer);
    }
    problems
}

/// The first of [`preflight_problems`], if any.
pub fn preflight() -> Result<(), RecordError> {
    preflight_problems().into_iter().next().map_or(Ok(()), Err)
}

/// Checks that the targets' open files can be read (`CAP_SYS_PTRACE` for another user's).
pub fn check_targets(targets: &[u32]) -> Result<(), RecordError> {
    let p = Privileges::current();
    match targets.iter().find_map(|&pid| privilege::process_problem(pid, &p)) {
        Some(why) => Err(RecordError::Privileges(why)),
        None => Ok(()),
    }
}

/// The processes to trace at the start: the pids given, else the processes with the names given
/// (the default names when none are), else none when a command is to be run.
pub fn resolve_targets(opts: &RecordOptions) -> Result<Vec<u32>, RecordError> {
    for &pid in &opts.pids {
        if !inventory::process_exists(pid) {
            return Err(RecordError::NoSuchProcess(pid));
        }
    }
    let mut targets = opts.pids.clone();
    if !opts.comms.is_empty() {
        let names: Vec<&str> = opts.comms.iter().map(String::as_str).collect();
        let found = inventory::find_by_comm(&names).unwrap_or_default();
        if found.is_empty() && opts.pids.is_empty() && opts.command.is_empty() && opts.comms_must_run {
            return Err(RecordError::NoTargets(opts.comms.clone()));
        }
        targets.extend(found);
    }
    targets.sort_unstable();
    targets.dedup();
    Ok(targets)
}

/// Plans, loads and attaches the probes (with `targets` in the targets map before anything
/// attaches). When a planned program does not load or attach, finds the broken ones in throwaway
/// objects and plans around them; a first load that works costs one load only.
fn plan_and_load(
    facts: &mut KernelFacts,
    choice: ProbeChoice,
    load: &LoadOptions,
    targets: &[u32],
    statements: &mut Result<(), String>,
) -> Result<(crate::skel::MioSkel<'static>, loader::Attached, ProbePlan), RecordError> {
    let mut last = None;
    let silenced: Vec<String> = std::env::var(SILENCE_VAR)
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    for _ in 0..4 {
        let plan = plan::plan(facts, choice)?;
        plan::check_required(&plan, &facts.release).map_err(RecordError::Required)?;
        let programs: Vec<&str> = plan
            .programs()
            .filter(|p| {
                // A program of a silenced kind, unless another kind needs it too.
                let users: Vec<&plan::KindPlan> =
                    plan.kinds.iter().filter(|k| k.programs.contains(p)).collect();
                !users.iter().all(|k| silenced.iter().any(|s| s == k.kind.name()))
            })
            .collect();
        let load = LoadOptions {
            raw_enter_kinds: plan.kinds_using("rt_sys_enter") | plan.kinds_using("bt_sys_enter"),
            raw_exit_kinds: plan.kinds_using("rt_sys_exit") | plan.kinds_using("bt_sys_exit"),
            ..load.clone()
        };
        // The statement programs load with the others and attach later, per server binary.
        let mut loaded = programs.clone();
        if statements.is_ok() {
            loaded.extend(loader::STATEMENT_PROGRAMS);
        }
        let attempt = loader::load_static(&loaded, &load).and_then(|skel| {
            for &t in targets {
                loader::add_target(&skel, t)?;
            }
            let links = loader::attach(&skel, &programs)?;
            Ok((skel, links))
        });
        match attempt {
            Ok((skel, links)) => return Ok((skel, links, plan)),
            // The statement programs failing (a kernel older than their helpers) cost the
            // statements, not the recording.
            Err(e)
                if statements.is_ok()
                    && e.program.as_deref().is_some_and(|p| loader::STATEMENT_PROGRAMS.contains(&p)) =>
            {
                *statements = Err(format!("the statement probes do not load on this kernel ({e})"));
            }
            Err(e) => {
                let broken = loader::validate(&plan);
                if broken.is_empty() {
                    return Err(RecordError::Load(e));
                }
                facts.broken.extend(broken);
                last = Some(e);
            }
        }
    }
    Err(RecordError::Load(
        last.unwrap_or(loader::LoadError { program: None, message: "no attempt made".into() }),
    ))
}

/// The server's version, from `EXE --version` (mysqld and mariadbd print it and exit).
fn server_version(exe: &str) -> String {
    if exe.is_empty() {
        return String::new();
    }
    let Ok(mut child) =
        Command::new(exe).arg("--version").stdout(Stdio::piped()).stderr(Stdio::null()).spawn()
    else {
        return String::new();
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return String::new();
            }
        }
    }
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        use std::io::Read;
        let _ = s.read_to_string(&mut out);
    }
    out.split_whitespace().skip_while(|w| *w != "Ver").nth(1).unwrap_or("").trim_end_matches(',').to_string()
}

/// The statement probes of `record --statements`: a uprobe on each server's command dispatch,
/// found by symbol in its binary. A server without one (stripped, unknown) is recorded without
/// statements, and told so. `loaded` says whether the statement programs loaded, or why not.
/// Returns the links (the probes stay attached while they live), the header's entry for the
/// statement kind and one sentence per server left without statements.
fn attach_statement_probes(
    skel: &crate::skel::MioSkel<'_>,
    asked: bool,
    loaded: &Result<(), String>,
    snapshots: &[inventory::ProcessSnapshot],
) -> (Vec<libbpf_rs::Link>, ProbeInfo, Vec<String>) {
    let mut links = Vec::new();
    let mut notes = Vec::new();
    let mut probe = ProbeInfo {
        kind: EventKind::Statement.code(),
        mode: ProbeMode::Off,
        attach: Vec::new(),
        note: "not asked for (record --statements)".into(),
    };
    match (asked, loaded) {
        (false, _) => {}
        (true, Err(why)) => {
            probe.note = why.clone();
            notes.push(format!("statements not recorded: {why}"));
        }
        (true, Ok(())) => {
            probe.note.clear();
            for s in snapshots {
                match attach_statements_to(skel, s.info.pid, &s.info.exe) {
                    Ok((l, at)) => {
                        links.extend(l);
                        probe.mode = ProbeMode::Uprobe;
                        if !probe.attach.contains(&at) {
                            probe.attach.push(at);
                        }
                    }
                    Err(why) => {
                        let note = format!("process {} ({}): {why}", s.info.pid, s.info.comm);
                        notes.push(format!("statements not recorded for {note}"));
                        probe.note = note;
                    }
                }
            }
            if snapshots.is_empty() {
                probe.note = "no server was running when recording began".into();
                notes.push(
                    "no server is running yet: --statements attaches to a server when it starts, and records its statements from then on"
                        .into(),
                );
            }
        }
    }
    (links, probe, notes)
}

/// Attaches the statement probes to server process `pid` (`exe`: its program's path, to name it
/// in messages): the links and the attach point, or why not.
fn attach_statements_to(
    skel: &crate::skel::MioSkel<'_>,
    pid: u32,
    exe: &str,
) -> Result<(Vec<libbpf_rs::Link>, String), String> {
    let binary = PathBuf::from(format!("/proc/{pid}/exe"));
    let shown = if exe.is_empty() { binary.display().to_string() } else { exe.to_string() };
    let f = crate::dispatch::find_in_binary(&binary)
        .map_err(|e| e.to_string().replace(&binary.display().to_string(), &shown))?;
    let links = loader::attach_statements(skel, pid, &binary, &f).map_err(|e| e.to_string())?;
    Ok((links, format!("uprobe:{shown}:{}", f.symbol)))
}

/// The statement probes for a process that became a target during the recording (`record
/// --statements` following servers by name): attached when it is a server, with a sentence
/// saying so or why not; `None` for other programs.
fn statements_for_started(
    skel: &crate::skel::MioSkel<'_>,
    pid: u32,
    server_comms: &[String],
    links: &mut Vec<libbpf_rs::Link>,
) -> Option<String> {
    let comm = inventory::thread_comm(pid, pid)?;
    if !DEFAULT_COMMS.contains(&comm.as_str()) && !server_comms.contains(&comm) {
        return None;
    }
    let exe =
        std::fs::read_link(format!("/proc/{pid}/exe")).map(|p| p.display().to_string()).unwrap_or_default();
    Some(match attach_statements_to(skel, pid, &exe) {
        Ok((l, at)) => {
            links.extend(l);
            format!("statements recorded for process {pid} ({comm}) from now on ({at}): it started during the recording")
        }
        Err(why) => format!("statements not recorded for process {pid} ({comm}): {why}"),
    })
}

/// The header's per-kind probe list (with how the kretprobes were made).
fn probe_infos(plan: &ProbePlan, attached: &loader::Attached) -> Vec<ProbeInfo> {
    let mut v: Vec<ProbeInfo> = plan
        .kinds
        .iter()
        .map(|k| {
            let mut attach = k.attach.clone();
            if let Some(kret) = attached.kretprobes.iter().find(|r| r.kind == k.kind) {
                attach = vec![kret.describe.clone()];
            }
            ProbeInfo { kind: k.kind.code(), mode: k.mode, attach, note: k.note.clone() }
        })
        .collect();
    v.push(ProbeInfo {
        kind: EventKind::Lost.code(),
        mode: ProbeMode::Recorder,
        attach: vec!["ring buffer drop counters".into()],
        note: String::new(),
    });
    v
}

/// Records until a stop condition. `stop` is set by the caller's signal handler; `attached` is
/// called once the probes are attached (with the plan); `progress` about once a second.
pub fn record(
    opts: &RecordOptions,
    stop: &Arc<AtomicBool>,
    attached: &mut dyn FnMut(&ProbePlan, &[u32]),
    progress: &mut dyn FnMut(&Progress),
) -> Result<RecordSummary, RecordError> {
    preflight()?;
    let targets = resolve_targets(opts)?;
    check_targets(&targets)?;
    if let Some(path) = opts.server.defaults_file.as_ref().filter(|_| !opts.server.off) {
        std::fs::File::open(path).map_err(|source| RecordError::OptionFile { path: path.clone(), source })?;
    }
    // A trace that exists is somebody's recording: replaced only when asked (`--force`).
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(!opts.force)
        .create(opts.force)
        .truncate(opts.force)
        .mode(0o600)
        .open(&opts.output)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => RecordError::Exists(opts.output.clone()),
            _ => RecordError::Output { path: opts.output.clone(), source },
        })?;
    // An existing file keeps its mode on truncation: a trace holds paths and thread names.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|source| RecordError::Output { path: opts.output.clone(), source })?;
    // Until the header is written, a failure removes the file rather than leaving it empty.
    let cleanup = RemoveOnDrop(Some(opts.output.clone()));

    let mut facts = kernel_facts();
    let load_opts = LoadOptions {
        ringbuf_bytes: opts.ringbuf_bytes,
        wake_bytes: (f64::from(opts.ringbuf_bytes) * WAKE_FRACTION) as u32,
        self_tgid: std::process::id(),
        follow_comms: opts.comms.clone(),
        follow_children: !opts.command.is_empty(),
        // Set from the plan in plan_and_load.
        raw_enter_kinds: 0,
        raw_exit_kinds: 0,
    };
    let memlock = privilege::memlock_problem(
        &facts.release,
        privilege::map_bytes(opts.ringbuf_bytes),
        &Privileges::current(),
    );
    let mut statements_load: Result<(), String> =
        if opts.statements { Ok(()) } else { Err("not asked for (record --statements)".into()) };
    let (skel, mut links, plan) =
        plan_and_load(&mut facts, opts.probes, &load_opts, &targets, &mut statements_load).map_err(
            |e| match (e, memlock) {
                (RecordError::Load(l), Some(why)) => RecordError::Privileges(format!("{l}; {why}")),
                (e, _) => e,
            },
        )?;

    // The header: the machine and its memory, how each kind is captured, devices (and the
    // partitions' disks), the target processes.
    let host = inventory::host_facts();
    let start_ts = monotonic_ns();
    let realtime = clock_ns(libc::CLOCK_REALTIME);
    let mut snapshots = Vec::new();
    for &pid in &targets {
        if let Ok(mut s) = inventory::snapshot_process(pid, start_ts) {
            s.info.version = server_version(&s.info.exe);
            snapshots.push(s);
        }
    }
    // Kept to the end: the statement probes stay attached while their links live.
    let (mut statement_links, statement_probe, statement_notes) =
        attach_statement_probes(&skel, opts.statements, &statements_load, &snapshots);
    let statement_probes = statement_probe.attach.clone();
    let (devices, disks) = inventory::block_devices_and_disks();
    let mut header = Header {
        tool: format!("mysql-io {}", env!("CARGO_PKG_VERSION")),
        host: host.host,
        kernel_release: host.kernel_release,
        kernel_version: host.kernel_version,
        arch: host.arch,
        page_size: host.page_size,
        cpus: host.cpus,
        clock: Clock::Monotonic,
        clock_offset_ns: realtime as i64 - start_ts as i64,
        start_ts,
        command: opts.argv.clone(),
        probes: {
            let mut p = probe_infos(&plan, &links);
            p.push(statement_probe);
            p
        },
        devices,
        processes: snapshots.iter().map(|s| s.info.clone()).collect::<Vec<ProcessInfo>>(),
        mem_total_kb: host.memory.total_kb,
        mem_available_kb: host.memory.available_kb,
        page_cache_kb: host.memory.page_cache_kb,
        disks,
    };
    let redact = opts.redact.then(Redactor::default);
    if let Some(r) = &redact {
        r.header(&mut header);
    }
    let writer_opts = WriterOptions { zstd_level: opts.zstd_level, ..WriterOptions::default() };
    let writer = Writer::new(file, &header, writer_opts)?;
    cleanup.disarm();
    let live = writer.live_stats();
    let cwds = targets
        .iter()
        .filter_map(|&p| std::fs::read_link(format!("/proc/{p}/cwd")).ok().map(|c| (p, c)))
        .chain(std::env::current_dir().ok().map(|c| (std::process::id(), c)));
    let consumer = Rc::new(RefCell::new(Consumer::new(writer, cwds, targets.iter().copied(), redact)));
    consumer.borrow_mut().keep_sql_text(opts.sql_text);
    consumer.borrow_mut().warnings.extend(statement_notes);

    // The probes are attached: records wait in the ring buffer until the loop below reads them.
    let mut child: Option<Child> = match opts.command.split_first() {
        Some((cmd, args)) => Some(
            Command::new(cmd)
                .args(args)
                .spawn()
                .map_err(|source| RecordError::Command { command: opts.command.join(" "), source })?,
        ),
        None => None,
    };

    // What /proc knows about the targets: threads, open files.
    {
        let mut c = consumer.borrow_mut();
        for s in &snapshots {
            for t in &s.threads {
                c.threads.insert(t.tid);
                c.meta(Metadata::Thread(t.clone()))?;
            }
            for f in &s.fds {
                if c.files.insert((f.file.dev, f.file.ino)) {
                    c.meta(Metadata::File(f.file.clone()))?;
                }
                c.meta(Metadata::OpenFd(f.fd.clone()))?;
            }
        }
    }

    // The servers among the targets (or the one whose socket was given), asked about themselves.
    let servers: Vec<u32> = snapshots
        .iter()
        .filter(|s| opts.server.socket.is_some() || DEFAULT_COMMS.contains(&s.info.comm.as_str()))
        .map(|s| s.info.pid)
        .collect();
    let mut watch = ServerWatch::new(&opts.server, &servers);
    watch.ask_now(consumer.borrow_mut().writer(), true)?;
    watch.start_asking();

    let mut builder = RingBufferBuilder::new();
    let cb = Rc::clone(&consumer);
    builder
        .add(&skel.maps.events, move |data: &[u8]| cb.borrow_mut().on_record(data))
        .map_err(|e| RecordError::RingBuffer(e.to_string()))?;
    let ring = builder.build().map_err(|e| RecordError::RingBuffer(e.to_string()))?;

    attached(&plan, &targets);
    let started = Instant::now();
    let mut last_tick = Instant::now();
    let mut last_events = 0u64;
    let mut lost_seen: BTreeMap<(u16, u8), u64> = BTreeMap::new();
    let mut lost_total: BTreeMap<u8, u64> = BTreeMap::new();
    let account_drops = |consumer: &Rc<RefCell<Consumer>>,
                         seen: &mut BTreeMap<(u16, u8), u64>,
                         total: &mut BTreeMap<u8, u64>|
     -> mysql_io_format::Result<()> {
        let now = monotonic_ns();
        // Returns a kretprobe missed (no instance left), as the kernel counts them: CPU unknown.
        let missed = links.kretprobes.iter().filter_map(|k| Some(((0u16, k.kind.code()), k.missed()?)));
        for ((cpu, kind), n) in loader::read_drops(&skel).into_iter().chain(missed) {
            let prev = seen.insert((cpu, kind), n).unwrap_or(0);
            if n > prev {
                *total.entry(kind).or_default() += n - prev;
                let ev = Event { ts: now, pid: 0, tid: 0, cpu, body: Lost { kind, count: n - prev }.into() };
                consumer.borrow_mut().writer().push(&ev)?;
            }
        }
        Ok(())
    };
    // Kinds the self-check found silent, and what it and the consumer said.
    let mut silent: Vec<EventKind> = Vec::new();
    let mut self_check: Vec<String> = Vec::new();
    let stop_reason = loop {
        // Records are committed without waking this thread (only one that takes the ring past
        // WAKE_FRACTION of its size does), so the ring is drained after every wait, woken or not.
        let polled = ring.poll(DRAIN_EVERY).and_then(|()| ring.consume());
        if let Some(e) = consumer.borrow_mut().error.take() {
            return Err(e.into());
        }
        if let Err(e) = polled {
            if e.kind() != libbpf_rs::ErrorKind::Interrupted {
                return Err(RecordError::RingBuffer(e.to_string()));
            }
        }
        // Servers that started since: their statements from now on.
        let started_now = std::mem::take(&mut consumer.borrow_mut().started);
        if opts.statements && statements_load.is_ok() {
            for pid in started_now {
                if let Some(said) = statements_for_started(&skel, pid, &opts.comms, &mut statement_links) {
                    consumer.borrow_mut().warnings.push(said);
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            break StopReason::Signal;
        }
        if opts.duration.is_some_and(|d| started.elapsed() >= d) {
            break StopReason::Duration;
        }
        if let Some(c) = child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                break StopReason::CommandExited(status.code().unwrap_or(-1));
            }
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            account_drops(&consumer, &mut lost_seen, &mut lost_total)?;
            watch.drain(consumer.borrow_mut().writer())?;
            consumer.borrow_mut().writer().tick()?;
            let file_bytes = live.file_bytes.load(Ordering::Relaxed);
            if opts.max_size.is_some_and(|m| file_bytes >= m) {
                break StopReason::MaxSize;
            }
            if child.is_none()
                && opts.comms.is_empty()
                && !targets.iter().any(|&t| inventory::process_exists(t))
            {
                break StopReason::TargetsExited;
            }
            let mut new_warnings = std::mem::take(&mut consumer.borrow_mut().warnings);
            self_check.extend(new_warnings.iter().cloned());
            if started.elapsed() >= SELF_CHECK_AFTER {
                for (kind, why) in selfcheck::silent_kinds(&plan, &consumer.borrow().counts, &silent) {
                    silent.push(kind);
                    new_warnings.push(why.clone());
                    self_check.push(why);
                }
            }
            let events = consumer.borrow_mut().writer().events();
            let (raw, packed) = (
                live.uncompressed_bytes.load(Ordering::Relaxed),
                live.compressed_bytes.load(Ordering::Relaxed),
            );
            progress(&Progress {
                elapsed: started.elapsed(),
                events,
                events_per_sec: (events - last_events) as f64 / last_tick.elapsed().as_secs_f64(),
                file_bytes,
                compression: if packed == 0 { 0.0 } else { raw as f64 / packed as f64 },
                lost: lost_total.values().sum(),
                targets: targets.len(),
                warnings: new_warnings,
            });
            last_events = events;
            last_tick = Instant::now();
        }
    };

    let elapsed = started.elapsed();
    // The last counts of what was lost, then stop the probes and take what is still in the ring
    // buffer (the kretprobes' counts go with them).
    account_drops(&consumer, &mut lost_seen, &mut lost_total)?;
    let warnings = std::mem::take(&mut links.warnings);
    drop(links);
    drop(statement_links);
    ring.consume().map_err(|e| RecordError::RingBuffer(e.to_string()))?;
    for ((cpu, kind), n) in loader::read_drops(&skel) {
        let prev = lost_seen.insert((cpu, kind), n).unwrap_or(0);
        if n > prev {
            *lost_total.entry(kind).or_default() += n - prev;
            let ev = Event {
                ts: monotonic_ns(),
                pid: 0,
                tid: 0,
                cpu,
                body: Lost { kind, count: n - prev }.into(),
            };
            consumer.borrow_mut().writer().push(&ev)?;
        }
    }
    if let Some(mut c) = child {
        if c.try_wait().ok().flatten().is_none() {
            let _ = c.kill();
        }
        let _ = c.wait();
    }
    drop(ring);
    let mut consumer = Rc::try_unwrap(consumer)
        .map_err(|_| RecordError::RingBuffer("the ring buffer still holds the consumer".into()))?
        .into_inner();
    if let Some(e) = consumer.error.take() {
        return Err(e.into());
    }
    self_check.append(&mut consumer.warnings);
    // A last look, for recordings too short for the live one.
    for (_, why) in selfcheck::silent_kinds(&plan, &consumer.counts, &silent) {
        self_check.push(why);
    }
    let undecodable = consumer.undecodable();
    let mut writer = consumer.into_writer();
    watch.finish(&mut writer)?;
    let summary = writer.finish()?;
    Ok(RecordSummary {
        path: opts.output.clone(),
        events: summary.events,
        file_bytes: summary.file_bytes,
        lost: lost_total,
        elapsed,
        stop: stop_reason,
        plan,
        targets,
        compression: if summary.compressed_bytes == 0 {
            0.0
        } else {
            summary.uncompressed_bytes as f64 / summary.compressed_bytes as f64
        },
        undecodable,
        warnings: warnings.into_iter().chain(watch.warnings).chain(self_check).collect(),
        statement_probes,
    })
}
