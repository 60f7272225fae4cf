//! Loading and attaching bpf/mio.bpf.c with libbpf-rs: enabling only the planned programs,
//! sizing the ring buffer, setting the configuration, capturing libbpf's messages, and finding
//! out by trying what really loads and attaches on this kernel. This is the one module that
//! deals with libbpf's quirks.

use std::collections::BTreeMap;
use std::mem::MaybeUninit;
use std::sync::Mutex;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject, PrintLevel};
use mysql_io_format::ProbeMode;

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

/// Whether a program handles syscall returns (`*_exit`): those are attached first, so that every
/// entry a program sees has its return seen too (a read whose return is missed is no record, and
/// its thread's next return would be taken for it).
fn is_return(name: &str) -> bool {
    name.ends_with("_exit")
}

/// Attaches `programs` of a loaded object, returns first. On the first failure, returns which
/// program failed.
pub fn attach(skel: &MioSkel<'_>, programs: &[&str]) -> Result<Vec<Link>, LoadError> {
    let mut links = Vec::new();
    let mut order: Vec<_> = skel.object().progs_mut().collect();
    order.sort_by_key(|p| !p.name().to_str().is_some_and(is_return));
    for p in order {
        let Some(name) = p.name().to_str().map(str::to_string) else { continue };
        if !programs.contains(&name.as_str()) {
            continue;
        }
        let _ = take_log();
        match p.attach() {
            Ok(link) => links.push(link),
            Err(e) => {
                let mut err = load_error(&format!("attaching {name}"), &e);
                err.program = Some(name);
                return Err(err);
            }
        }
    }
    Ok(links)
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
    let empty = skel.maps.target_slots.lookup(&key, MapFlags::ANY).map_err(err)?.is_none_or(|v| v.iter().all(|&b| b == 0));
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

    #[test]
    fn comm_names_are_cut_to_fifteen_bytes() {
        let c = comm_bytes("a-very-long-process-name");
        assert_eq!(&c[..15], &"a-very-long-pro".bytes().map(|b| b as i8).collect::<Vec<_>>()[..]);
        assert_eq!(c[15], 0);
    }
}
