//! Loading and attaching bpf/mio.bpf.c with libbpf-rs: enabling only the planned programs,
//! sizing the ring buffer, setting the configuration, capturing libbpf's messages, and finding
//! out by trying what really loads and attaches on this kernel. This is the one module that
//! deals with libbpf's quirks.

use std::collections::BTreeMap;
use std::mem::MaybeUninit;
use std::sync::Mutex;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject, PrintLevel};
use mysql_io_format::{EventKind, ProbeMode};

use crate::plan::{Availability, ProbePlan};
use crate::skel::{types, MioSkel, MioSkelBuilder};

/// What the recorder sets before loading.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Ring buffer size in bytes (a power of two, at least a page).
    pub ringbuf_bytes: u32,
    /// The recorder's own tgid (never traced; its children are followed when asked).
    pub self_tgid: u32,
    /// Process names whose exec makes the process a target (up to 4, 15 bytes each).
    pub follow_comms: Vec<String>,
    /// Follow the recorder's own children (`record -- CMD`).
    pub follow_children: bool,
    /// Wake the consumer when a record takes the ring buffer past this many bytes (records are
    /// otherwise committed without a wakeup, and the consumer drains on a timer).
    pub wake_bytes: u32,
    /// Kinds (bit `1 << code`) whose syscall entries the raw `sys_enter` program handles.
    pub raw_enter_kinds: u32,
    /// Kinds whose syscall returns the raw `sys_exit` program handles.
    pub raw_exit_kinds: u32,
}

/// Why loading or attaching failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    /// The program libbpf names as the culprit, when it does.
    pub program: Option<String>,
    /// What went wrong, with libbpf's last messages.
    pub message: String,
}

/// libbpf's messages since the last `take_log()` (libbpf prints through a global callback).
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn log_message(level: PrintLevel, msg: String) {
    if matches!(level, PrintLevel::Debug) {
        return;
    }
    if let Ok(mut log) = LOG.lock() {
        if log.len() > 200 {
            log.drain(..100);
        }
        log.push(msg.trim_end().to_string());
    }
}

fn take_log() -> Vec<String> {
    LOG.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default()
}

/// Routes libbpf's messages into the recorder instead of stderr (they show in errors).
pub fn capture_libbpf_messages() {
    libbpf_rs::set_print(Some((PrintLevel::Info, log_message)));
}

/// The program a libbpf message is about (`libbpf: prog 'name': ...`).
fn blamed_program(log: &[String]) -> Option<String> {
    log.iter().rev().find_map(|l| {
        let rest = &l[l.find("prog '")? + 6..];
        Some(rest[..rest.find('\'')?].to_string())
    })
}

fn load_error(what: &str, e: &libbpf_rs::Error) -> LoadError {
    let log = take_log();
    let program = blamed_program(&log);
    let tail: Vec<&String> = log.iter().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    let mut message = format!("{what}: {e}");
    if !tail.is_empty() {
        message.push_str(&format!(
            " (libbpf: {})",
            tail.iter().map(|s| s.trim_start_matches("libbpf: ")).collect::<Vec<_>>().join(" | ")
        ));
    }
    LoadError { program, message }
}

fn comm_bytes(name: &str) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (o, b) in out.iter_mut().zip(name.bytes().take(15)) {
        *o = b as i8;
    }
    out
}

/// The names of the programs in the BPF object, from the object file itself (nothing is loaded
/// into the kernel, so this needs no privilege).
pub fn object_programs() -> Result<Vec<String>, LoadError> {
    let mut storage = MaybeUninit::uninit();
    let open =
        MioSkelBuilder::default().open(&mut storage).map_err(|e| load_error("opening the BPF object", &e))?;
    Ok(open.open_object().progs().filter_map(|p| p.name().to_str().map(str::to_string)).collect())
}

/// Opens the object with only `programs` enabled, applies `opts`, and loads it into the kernel.
/// `storage` holds the object and must outlive the returned skeleton.
pub fn load<'obj>(
    storage: &'obj mut MaybeUninit<OpenObject>,
    programs: &[&str],
    opts: &LoadOptions,
) -> Result<MioSkel<'obj>, LoadError> {
    let _ = take_log();
    let mut open =
        MioSkelBuilder::default().open(storage).map_err(|e| load_error("opening the BPF object", &e))?;
    for mut p in open.open_object_mut().progs_mut() {
        let enabled = p.name().to_str().is_some_and(|n| programs.contains(&n));
        p.set_autoload(enabled);
    }
    open.maps
        .events
        .set_max_entries(opts.ringbuf_bytes)
        .map_err(|e| load_error("sizing the ring buffer", &e))?;
    if let Some(rodata) = open.maps.rodata_data.as_deref_mut() {
        let mut comms = [[0i8; 16]; 4];
        for (slot, name) in comms.iter_mut().zip(&opts.follow_comms) {
            *slot = comm_bytes(name);
        }
        rodata.cfg = types::mio_config {
            self_tgid: opts.self_tgid,
            follow_comms: u32::from(!opts.follow_comms.is_empty()),
            follow_children: u32::from(opts.follow_children),
            wake_bytes: opts.wake_bytes,
            comms,
            raw_enter_kinds: opts.raw_enter_kinds,
            raw_exit_kinds: opts.raw_exit_kinds,
        };
    }
    open.load().map_err(|e| load_error("loading the BPF programs", &e))
}

/// [`load`] with storage that lives as long as the process: each recording session loads one
/// object (a few bytes of storage), and a skeleton that borrows nothing is simpler to retry and
/// to hand around.
pub fn load_static(programs: &[&str], opts: &LoadOptions) -> Result<MioSkel<'static>, LoadError> {
    let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
    load(storage, programs, opts)
}

/// The statement programs (`record --statements`): loaded with the planned ones when asked,
/// attached per server binary by [`attach_statements`], not by [`attach`].
pub const STATEMENT_PROGRAMS: [&str; 3] = ["stmt_mariadb", "stmt_mysql", "stmt_return"];

/// Attaches the statement probes to the dispatch function `f` of process `pid`'s program
/// `binary`: the return first (a command whose start is seen then always has its end seen), then
/// the entry that reads `f`'s argument layout.
pub fn attach_statements(
    skel: &MioSkel<'_>,
    pid: u32,
    binary: &std::path::Path,
    f: &crate::dispatch::DispatchFn,
) -> Result<Vec<Link>, LoadError> {
    let entry = match f.layout {
        crate::dispatch::ArgLayout::MariaDb => &skel.progs.stmt_mariadb,
        crate::dispatch::ArgLayout::MySql => &skel.progs.stmt_mysql,
    };
    let mut links = Vec::new();
    for (prog, retprobe) in [(&skel.progs.stmt_return, true), (entry, false)] {
        let _ = take_log();
        let opts =
            libbpf_rs::UprobeOpts { retprobe, func_name: Some(f.symbol.clone()), ..Default::default() };
        let link = prog.attach_uprobe_with_opts(pid as i32, binary, 0, opts).map_err(|e| {
            let what = if retprobe { "uretprobe" } else { "uprobe" };
            load_error(&format!("attaching a {what} to {} in {}", f.symbol, binary.display()), &e)
        })?;
        links.push(link);
    }
    Ok(links)
}

/// Whether a program handles syscall returns (`*_exit`): those are attached first, so that every
/// entry a program sees has its return seen too (a read whose return is missed is no record, and
/// its thread's next return would be taken for it).
fn is_return(name: &str) -> bool {
    name.ends_with("_exit")
}

/// The kretprobe programs, with the function and the event kind of each. A kretprobe takes one of
/// a fixed number of instances at every entry into its function, by any task, traced or not, and
/// gives it back at the return; a return that finds none left is missed, silently for the
/// program. Through the kprobe PMU, where libbpf makes them, that number is the kernel's default
/// (at least 10, twice the CPUs) and the misses cannot be read (before Linux 6.7); so the
/// recorder makes its kretprobes through tracefs, with [`KRETPROBE_MAXACTIVE`] instances, and
/// reads their misses from `kprobe_profile` (reported like lost events).
const KRETPROBES: &[(&str, &str, EventKind)] = &[("kp_vfs_read_exit", "vfs_read", EventKind::VfsReadExit)];

/// Instances of each kretprobe: the most the kernel allows (tasks inside `vfs_read` at once,
/// blocked readers of pipes and terminals included, on the whole host).
pub const KRETPROBE_MAXACTIVE: u32 = 4096;

/// A kretprobe made through tracefs; removed when dropped (after the program's link).
#[derive(Debug)]
pub struct TracefsKretprobe {
    tracefs: std::path::PathBuf,
    event: String,
    /// The kind its program records.
    pub kind: EventKind,
    /// What the trace header says of it.
    pub describe: String,
}

/// The tracefs group of the recorder's kretprobes; events are named `<program>_<recorder pid>`.
const KPROBE_GROUP: &str = "mysql_io";

impl TracefsKretprobe {
    /// Makes the kretprobe on `function` and opens a perf event on it, for `program`.
    fn create(
        tracefs: &std::path::Path,
        program: &str,
        function: &str,
        kind: EventKind,
    ) -> Result<(TracefsKretprobe, i32), String> {
        use std::io::Write;
        remove_stale_kretprobes(tracefs);
        let event = format!("{program}_{}", std::process::id());
        let line = format!("r{KRETPROBE_MAXACTIVE}:{KPROBE_GROUP}/{event} {function}\n");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(tracefs.join("kprobe_events"))
            .map_err(|e| format!("kprobe_events: {e}"))?;
        f.write_all(line.as_bytes())
            .map_err(|e| format!("adding `{}` to kprobe_events: {e}", line.trim()))?;
        let k = TracefsKretprobe {
            tracefs: tracefs.to_path_buf(),
            event,
            kind,
            describe: format!("function:{function} (kretprobe through tracefs, {KRETPROBE_MAXACTIVE} instances, misses counted)"),
        };
        let id_path = tracefs.join(format!("events/{KPROBE_GROUP}/{}/id", k.event));
        let id: u64 = std::fs::read_to_string(&id_path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("no event id in {}", id_path.display()))?;
        let pfd = perf_event_open_tracepoint(id)?;
        Ok((k, pfd))
    }

    /// Returns the kernel missed so far (`kprobe_profile`'s third column), if it says.
    pub fn missed(&self) -> Option<u64> {
        let profile = std::fs::read_to_string(self.tracefs.join("kprobe_profile")).ok()?;
        profile.lines().find_map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next()?;
            (name == self.event || name.ends_with(&format!("/{}", self.event)))
                .then(|| it.nth(1).and_then(|m| m.parse().ok()))
                .flatten()
        })
    }
}

impl Drop for TracefsKretprobe {
    fn drop(&mut self) {
        remove_kprobe_event(&self.tracefs, &self.event);
    }
}

fn remove_kprobe_event(tracefs: &std::path::Path, event: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(tracefs.join("kprobe_events")) {
        let _ = f.write_all(format!("-:{KPROBE_GROUP}/{event}\n").as_bytes());
    }
}

/// Removes the kretprobes of recorders that are gone (killed before they could remove theirs).
fn remove_stale_kretprobes(tracefs: &std::path::Path) {
    let Ok(events) = std::fs::read_to_string(tracefs.join("kprobe_events")) else { return };
    for l in events.lines() {
        // "r4096:mysql_io/kp_vfs_read_exit_1234 vfs_read"
        let Some(event) = l
            .split_whitespace()
            .next()
            .and_then(|s| s.split_once(&format!("{KPROBE_GROUP}/")))
            .map(|(_, e)| e)
        else {
            continue;
        };
        let pid = event.rsplit('_').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists()) {
            remove_kprobe_event(tracefs, event);
        }
    }
}

/// perf_event_open(2) on a tracepoint-like event (a tracefs kprobe) on CPU 0 for all tasks: a BPF
/// program attached to it runs on every CPU (the program array belongs to the event).
fn perf_event_open_tracepoint(id: u64) -> Result<i32, String> {
    // struct perf_event_attr, version 5 (112 bytes): type, size, config; the rest zero.
    const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
    let mut attr = [0u64; 14];
    attr[0] = 2 | (112u64 << 32); // PERF_TYPE_TRACEPOINT, size
    attr[1] = id;
    // SAFETY: perf_event_open reads `size` bytes of a zeroed attr that lives across the call.
    #[allow(unsafe_code)]
    let fd = unsafe {
        libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), -1i32, 0i32, -1i32, PERF_FLAG_FD_CLOEXEC)
    };
    if fd < 0 {
        return Err(format!("perf_event_open: {}", std::io::Error::last_os_error()));
    }
    Ok(fd as i32)
}

/// What is attached: the links (dropped first: fields drop in order), and the tracefs kretprobes
/// under some of them.
#[derive(Debug, Default)]
pub struct Attached {
    links: Vec<Link>,
    /// The kretprobes made through tracefs.
    pub kretprobes: Vec<TracefsKretprobe>,
    /// Kretprobes that had to be made the default way, with why (their misses are not counted).
    pub warnings: Vec<String>,
}

/// Attaches `programs` of a loaded object, returns first. On the first failure, returns which
/// program failed.
pub fn attach(skel: &MioSkel<'_>, programs: &[&str]) -> Result<Attached, LoadError> {
    let mut out = Attached::default();
    let mut order: Vec<_> = skel.object().progs_mut().collect();
    order.sort_by_key(|p| !p.name().to_str().is_some_and(is_return));
    for p in order {
        let Some(name) = p.name().to_str().map(str::to_string) else { continue };
        if !programs.contains(&name.as_str()) {
            continue;
        }
        let _ = take_log();
        if let Some(&(_, function, kind)) = KRETPROBES.iter().find(|(n, _, _)| *n == name) {
            let made = crate::facts::tracefs()
                .ok_or_else(|| "no tracefs".to_string())
                .and_then(|t| TracefsKretprobe::create(&t, &name, function, kind))
                .and_then(|(k, pfd)| match p.attach_perf_event(pfd) {
                    Ok(link) => Ok((k, link)),
                    Err(e) => {
                        // SAFETY: closing the perf event fd opened above, which nothing else holds.
                        #[allow(unsafe_code)]
                        unsafe {
                            libc::close(pfd);
                        }
                        Err(format!("attaching to it: {e}"))
                    }
                });
            match made {
                Ok((k, link)) => {
                    out.links.push(link);
                    out.kretprobes.push(k);
                    continue;
                }
                Err(why) => out.warnings.push(format!(
                    "the kretprobe on {function} has the kernel's default instances and its misses are not counted ({why})"
                )),
            }
        }
        match p.attach() {
            Ok(link) => out.links.push(link),
            Err(e) => {
                let mut err = load_error(&format!("attaching {name}"), &e);
                err.program = Some(name);
                return Err(err);
            }
        }
    }
    Ok(out)
}

/// Small ring buffer for trial loads.
const TRIAL_RINGBUF: u32 = 1 << 16;

/// Loads and attaches `programs` in a throwaway object: Ok when all of them work here.
pub fn try_programs(programs: &[&str]) -> Result<(), LoadError> {
    let mut storage = MaybeUninit::uninit();
    // Every kind for the raw syscall programs, so that all their code is verified.
    let opts = LoadOptions {
        ringbuf_bytes: TRIAL_RINGBUF,
        self_tgid: std::process::id(),
        raw_enter_kinds: u32::MAX,
        raw_exit_kinds: u32::MAX,
        ..LoadOptions::default()
    };
    let skel = load(&mut storage, programs, &opts)?;
    attach(&skel, programs).map(drop)
}

/// Finds out whether a probe type works on this kernel by loading and attaching one program of
/// that type (on `close`, which every kernel has).
pub fn probe_mode(mode: ProbeMode) -> Availability {
    let program = match mode {
        ProbeMode::Kprobe => "kp_close_enter",
        ProbeMode::Fentry => "fe_close_enter",
        _ => "tp_close_enter",
    };
    match try_programs(&[program]) {
        Ok(()) => Availability::Works,
        Err(e) => Availability::Fails(explain(mode, &e.message)),
    }
}

/// A reason a user can act on, from what the kernel said when a probe type was tried.
fn explain(mode: ProbeMode, message: &str) -> String {
    let raw = short_reason(message);
    match mode {
        ProbeMode::Kprobe => {
            let pmu = std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists();
            let events = crate::facts::tracefs().is_some_and(|d| d.join("kprobe_events").exists());
            if !pmu && !events {
                "this kernel has no kprobes (no kprobe PMU and no kprobe_events: built without CONFIG_KPROBES)".into()
            } else {
                format!("kprobes exist but attaching one failed: {raw}")
            }
        }
        ProbeMode::Fentry if message.contains("EPERM") || message.contains("Operation not permitted") => {
            "the kernel refuses fentry/fexit programs (EPERM: BPF trampolines are not allowed here)".into()
        }
        _ => raw,
    }
}

/// The gist of a libbpf failure, for notes ("No such file or directory (os error 2)").
fn short_reason(message: &str) -> String {
    let base = message.split(" (libbpf:").next().unwrap_or(message);
    base.split_once(": ").map_or(base, |(_, r)| r).to_string()
}

/// Tries every program of a plan in one throwaway object, and then one by one for the ones that
/// fail, so that one broken program does not hide the others. Returns the broken programs with
/// why; an empty map means the plan works as a whole.
pub fn validate(plan: &ProbePlan) -> BTreeMap<String, String> {
    let all: Vec<&str> = plan.programs().collect();
    if try_programs(&all).is_ok() {
        return BTreeMap::new();
    }
    let mut broken = BTreeMap::new();
    for kind in &plan.kinds {
        if kind.programs.is_empty() {
            continue;
        }
        if try_programs(&kind.programs).is_ok() {
            continue;
        }
        for &p in &kind.programs {
            if let Err(e) = try_programs(&[p]) {
                broken.insert(p.to_string(), short_reason(&e.message));
            }
        }
    }
    broken
}

/// Adds a process to the targets: the map, and its slot of the fast check (as `add_target` in
/// bpf/mio.bpf.c does: a slot holding another target stays as it is).
pub fn add_target(skel: &MioSkel<'_>, tgid: u32) -> Result<(), LoadError> {
    let err = |e: libbpf_rs::Error| LoadError {
        program: None,
        message: format!("adding process {tgid} to the targets: {e}"),
    };
    skel.maps.targets.update(&tgid.to_ne_bytes(), &[1u8], MapFlags::ANY).map_err(err)?;
    let key = (tgid & (crate::abi::TARGET_SLOTS - 1)).to_ne_bytes();
    let empty = skel
        .maps
        .target_slots
        .lookup(&key, MapFlags::ANY)
        .map_err(err)?
        .is_none_or(|v| v.iter().all(|&b| b == 0));
    if empty {
        skel.maps.target_slots.update(&key, &tgid.to_ne_bytes(), MapFlags::ANY).map_err(err)?;
    }
    Ok(())
}

/// Drop counters: records lost per kind code, summed over CPUs, and per CPU.
pub fn read_drops(skel: &MioSkel<'_>) -> BTreeMap<(u16, u8), u64> {
    let mut out = BTreeMap::new();
    for kind in 0..crate::abi::KIND_SLOTS {
        let Ok(Some(per_cpu)) = skel.maps.drops.lookup_percpu(&kind.to_ne_bytes(), MapFlags::ANY) else {
            continue;
        };
        for (cpu, v) in per_cpu.iter().enumerate() {
            let mut b = [0u8; 8];
            if v.len() >= 8 {
                b.copy_from_slice(&v[..8]);
            }
            let n = u64::from_ne_bytes(b);
            if n > 0 {
                out.insert((cpu as u16, kind as u8), n);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_blamed_program_and_the_reason() {
        let log = vec!["libbpf: prog 'kp_close_enter': failed to create kprobe 'x'".to_string()];
        assert_eq!(blamed_program(&log).as_deref(), Some("kp_close_enter"));
        assert_eq!(
            short_reason("attaching kp_close_enter: No such file or directory (os error 2) (libbpf: ...)"),
            "No such file or directory (os error 2)"
        );
    }

    /// Every program the planner can ask for exists in the BPF object, under that name, and every
    /// program of the object is one the planner can ask for (or the statement programs, which
    /// `record --statements` attaches per binary). No root needed: the object is opened, not loaded.
    #[test]
    fn the_catalog_and_the_bpf_object_name_the_same_programs() {
        let object: std::collections::BTreeSet<String> =
            object_programs().expect("open").into_iter().collect();
        let catalog: std::collections::BTreeSet<String> = crate::plan::CATALOG
            .iter()
            .flat_map(crate::plan::Variant::all_programs)
            .map(|p| p.program.to_string())
            .chain(["kp_close_enter", "fe_close_enter", "tp_close_enter"].map(String::from))
            .chain(STATEMENT_PROGRAMS.map(String::from))
            .collect();
        let missing: Vec<&String> = catalog.difference(&object).collect();
        assert!(missing.is_empty(), "the catalog names programs the object lacks: {missing:?}");
        let unused: Vec<&String> = object.difference(&catalog).collect();
        assert!(unused.is_empty(), "the object has programs nothing plans: {unused:?}");
    }

    #[test]
    fn comm_names_are_cut_to_fifteen_bytes() {
        let c = comm_bytes("a-very-long-process-name");
        assert_eq!(&c[..15], &"a-very-long-pro".bytes().map(|b| b as i8).collect::<Vec<_>>()[..]);
        assert_eq!(c[15], 0);
    }
}
