//! `doctor`: what works on this machine, found by trying it. For every event kind, which probe
//! types really load and attach, and which one `record --probes auto` would use; the target
//! processes with their data files and O_DIRECT flags; the devices' readahead settings; the exact
//! command to run; and why recording cannot work, if it cannot.

use std::collections::BTreeMap;

use mysql_io_format::{dev_major, dev_minor, BlockDevice, EventKind, ProbeMode, O_DIRECT};
use serde::Serialize;

use crate::inventory;
use crate::loader;
use crate::plan::{self, mode_name, Availability, ProbeChoice, CATALOG};
use crate::privilege::{self, Privileges};
use crate::session::{self, RecordError, RecordOptions};

/// One probe type of one event kind.
#[derive(Debug, Clone, Serialize)]
pub struct VariantReport {
    /// kprobe, fentry or tracepoint.
    pub mode: &'static str,
    /// "works", or what failed.
    pub status: String,
    /// Where it attaches.
    pub attach: Vec<String>,
}

/// One event kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    /// Kind name.
    pub kind: &'static str,
    /// What `--probes auto` uses ("off" when nothing works).
    pub auto: &'static str,
    /// Every variant the recorder has for it.
    pub variants: Vec<VariantReport>,
}

/// A regular file a target has open.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// Path.
    pub path: String,
    /// Opened with O_DIRECT (readahead and the page cache do not apply).
    pub direct: bool,
    /// Filesystem.
    pub fs_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// A target process.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessReport {
    /// Pid.
    pub pid: u32,
    /// Name.
    pub comm: String,
    /// Executable.
    pub exe: String,
    /// Threads.
    pub threads: usize,
    /// Its regular open files (data files, logs).
    pub files: Vec<FileReport>,
    /// Whether `record --statements` can find its command dispatch: the symbol and server
    /// family, or why not.
    pub statements: String,
}

/// Everything doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// Kernel release.
    pub kernel: String,
    /// Kernel BTF present.
    pub btf: bool,
    /// The BPF programs can be loaded (root, or CAP_BPF and CAP_PERFMON): variants are tried.
    pub can_load: bool,
    /// The capabilities of the recipe, effective or not (`CAP_BPF yes, ...`).
    pub capabilities: String,
    /// Whether kprobes and fentry work here.
    pub kprobe: Availability,
    /// fentry/fexit.
    pub fentry: Availability,
    /// Per event kind.
    pub kinds: Vec<KindReport>,
    /// Target processes found.
    pub processes: Vec<ProcessReport>,
    /// Devices backing the targets' files (all block devices when there are no targets).
    pub devices: Vec<BlockDevice>,
    /// The command to run.
    pub command: String,
    /// Why recording cannot work; empty when it can.
    pub problems: Vec<String>,
}

impl DoctorReport {
    /// True when `record` with the same targets would work.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Examines the machine. `opts` gives the targets as `record` would take them.
pub fn examine(opts: &RecordOptions) -> DoctorReport {
    let privileges = Privileges::current();
    let can_load = privileges.can_load_bpf();
    // Each missing privilege is named (recording stops at the first).
    let preflight = session::preflight_problems();
    let tracefs_unreadable = preflight.iter().any(|e| matches!(e, RecordError::Tracefs(_)));
    let mut problems: Vec<String> = preflight.iter().map(RecordError::to_string).collect();
    let mut facts = if can_load { session::kernel_facts() } else { crate::facts::gather() };
    if !can_load {
        facts.kprobe = Availability::Fails(
            "not tried: loading BPF programs needs root, or CAP_BPF and CAP_PERFMON".into(),
        );
        facts.fentry = facts.kprobe.clone();
    }
    if let Some(why) =
        privilege::memlock_problem(&facts.release, privilege::map_bytes(opts.ringbuf_bytes), &privileges)
    {
        problems.push(why);
    }

    // Try each variant for real (when programs can be loaded).
    let mut variants: BTreeMap<(EventKind, &'static str), VariantReport> = BTreeMap::new();
    for v in CATALOG {
        let offered = v.offered_by(|p| offered_here(&facts, p));
        let all: Vec<plan::ProgramSpec> = v.all_programs().copied().collect();
        let attach: Vec<String> = all.iter().map(|p| p.attach.describe()).collect();
        let global = match v.mode {
            ProbeMode::Kprobe => Some(&facts.kprobe),
            ProbeMode::Fentry => Some(&facts.fentry),
            _ => None,
        };
        let status = if let Some(Availability::Fails(r)) = global {
            format!("fails: {r}")
        } else if offered.is_empty() {
            "not on this kernel".to_string()
        } else if !can_load {
            "not tried (needs root, or CAP_BPF and CAP_PERFMON)".to_string()
        } else {
            let names: Vec<&str> = offered.iter().map(|p| p.program).collect();
            match loader::try_programs(&names) {
                Ok(()) if offered.len() == all.len() => "works".to_string(),
                Ok(()) => format!("works (without {})", missing(&all, &offered)),
                Err(e) => {
                    for p in &names {
                        facts.broken.insert((*p).to_string(), e.message.clone());
                    }
                    format!("fails: {}", e.message)
                }
            }
        };
        // Variants of one mode (an attach point under its old and new names) show as one: the
        // one that works, else the one that fails, else the absent one.
        let report = VariantReport { mode: mode_name(v.mode), status, attach };
        let rank = |r: &VariantReport| match r.status.as_str() {
            s if s.starts_with("works") => 2,
            "not on this kernel" => 0,
            _ => 1,
        };
        let slot = variants.entry((v.kind, mode_name(v.mode))).or_insert_with(|| report.clone());
        if rank(&report) > rank(slot) {
            *slot = report;
        }
    }
    let plan = match plan::plan(&facts, opts.probes) {
        Ok(p) => Some(p),
        // Without tracefs the kernel's offer is unknown, not empty: that problem is named above.
        Err(_) if tracefs_unreadable => None,
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    if let (Some(p), false) = (&plan, tracefs_unreadable) {
        if let Err(e) = plan::check_required(p, &facts.release) {
            problems.push(e);
        }
    }
    // Kernel probes only: statements come from the servers' binaries, said per process below.
    let kinds = EventKind::ALL
        .iter()
        .filter(|&&k| {
            k != EventKind::Lost && !plan::SUPERSEDED.contains(&k) && !plan::USER_SPACE.contains(&k)
        })
        .map(|&k| KindReport {
            kind: k.name(),
            auto: plan.as_ref().and_then(|p| p.get(k)).map_or("off", |kp| mode_name(kp.mode)),
            variants: variants.iter().filter(|((vk, _), _)| *vk == k).map(|(_, r)| r.clone()).collect(),
        })
        .collect();

    // Targets, their files, and the devices under them.
    let mut processes = Vec::new();
    let mut devices = Vec::new();
    let all_devices = inventory::block_devices();
    match session::resolve_targets(opts) {
        Ok(pids) => {
            if let Err(e) = session::check_targets(&pids) {
                problems.push(e.to_string());
            }
            for pid in pids {
                let Ok(s) = inventory::snapshot_process(pid, 0) else { continue };
                for f in &s.fds {
                    if let Some(d) = inventory::block_device_of(f.file.dev, &all_devices) {
                        if !devices.iter().any(|x: &BlockDevice| x.dev == d.dev) {
                            devices.push(d.clone());
                        }
                    }
                }
                processes.push(ProcessReport {
                    pid,
                    comm: s.info.comm.clone(),
                    exe: s.info.exe.clone(),
                    threads: s.threads.len(),
                    statements: match crate::dispatch::find_in_binary(std::path::Path::new(&format!(
                        "/proc/{pid}/exe"
                    ))) {
                        Ok(f) => format!("can be recorded (--statements): {} ({})", f.symbol, f.servers),
                        Err(e) => format!("cannot be recorded: {e}"),
                    },
                    files: s
                        .fds
                        .iter()
                        .map(|f| FileReport {
                            path: f.file.path.clone(),
                            direct: f.fd.flags & O_DIRECT != 0,
                            fs_type: f.file.fs_type.clone(),
                            size: f.file.size,
                        })
                        .collect(),
                });
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    if processes.is_empty() {
        devices = all_devices.into_iter().filter(|d| !d.name.starts_with("ram")).collect();
    }

    let mut command = String::from("sudo mysql-io record -d 60s");
    for p in &opts.pids {
        command.push_str(&format!(" -p {p}"));
    }
    if opts.pids.is_empty() && opts.comms != session::DEFAULT_COMMS {
        for c in &opts.comms {
            command.push_str(&format!(" --comm {c}"));
        }
    }
    if opts.probes != ProbeChoice::Auto {
        command.push_str(&format!(" --probes {}", format!("{:?}", opts.probes).to_lowercase()));
    }
    command.push_str(&format!(" -o {}", default_output_name(&inventory::host_facts().host)));

    DoctorReport {
        kernel: facts.release.clone(),
        btf: facts.btf,
        can_load,
        capabilities: privileges.describe(),
        kprobe: facts.kprobe.clone(),
        fentry: facts.fentry.clone(),
        kinds,
        processes,
        devices,
        command,
        problems,
    }
}

fn offered_here(facts: &plan::KernelFacts, p: &plan::ProgramSpec) -> bool {
    match p.attach {
        plan::AttachPoint::Tracepoint(t) | plan::AttachPoint::RawTracepoint(t) => {
            facts.tracepoints.contains(t)
        }
        plan::AttachPoint::Function(f) => facts.functions.contains(f),
    }
}

fn missing(all: &[plan::ProgramSpec], offered: &[&plan::ProgramSpec]) -> String {
    let mut names: Vec<String> = all
        .iter()
        .filter(|p| !offered.iter().any(|o| o.program == p.program))
        .map(|p| p.attach.describe())
        .collect();
    names.dedup();
    names.join(", ")
}

/// `HOST-YYYYMMDD-HHMMSS.mio` in local time (UTC when the local zone is unknown).
pub fn default_output_name(host: &str) -> String {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let mut tm = libc::tm {
        tm_sec: 0,
        tm_min: 0,
        tm_hour: 0,
        tm_mday: 0,
        tm_mon: 0,
        tm_year: 0,
        tm_wday: 0,
        tm_yday: 0,
        tm_isdst: 0,
        tm_gmtoff: 0,
        tm_zone: std::ptr::null(),
    };
    let t: libc::time_t = now;
    // SAFETY: localtime_r reads `t` and writes `tm`, both valid for the call.
    #[allow(unsafe_code)]
    let ok = !unsafe { libc::localtime_r(&t, &mut tm) }.is_null();
    let host = if host.is_empty() { "trace" } else { host };
    if !ok {
        return format!("{host}.mio");
    }
    format!(
        "{host}-{:04}{:02}{:02}-{:02}{:02}{:02}.mio",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// `major:minor` of a device.
pub fn dev_name(dev: u32) -> String {
    format!("{}:{}", dev_major(dev), dev_minor(dev))
}
