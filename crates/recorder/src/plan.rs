//! Probe planning: which BPF programs (bpf/mio.bpf.c) capture each event kind on a given kernel.
//!
//! [`CATALOG`] lists, for every event kind and probe mode, the programs of the BPF object and the
//! kernel attach point each needs. [`plan`] is a pure function of [`KernelFacts`] (what the
//! kernel offers: tracepoints, traceable functions, whether kprobes and fentry work) and of the
//! mode the user asked for, so it is unit-tested from fixtures of kernels we do not run on. The
//! user asked for kprobes: `auto` prefers kprobes, then fentry, then tracepoints.

use std::collections::{BTreeMap, BTreeSet};

use mysql_io_format::{EventKind, ProbeMode};
use serde::{Deserialize, Serialize};

/// How the user asked events to be captured (`--probes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeChoice {
    /// The best mode the kernel offers for each kind: kprobe, then fentry, then tracepoint.
    Auto,
    /// kprobes wherever a kind has a kprobe variant.
    Kprobe,
    /// fentry/fexit wherever a kind has one.
    Fentry,
    /// Tracepoints wherever a kind has one.
    Tracepoint,
}

impl ProbeChoice {
    /// Parses `auto|kprobe|fentry|tracepoint`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "auto" => ProbeChoice::Auto,
            "kprobe" | "kprobes" => ProbeChoice::Kprobe,
            "fentry" => ProbeChoice::Fentry,
            "tracepoint" | "tracepoints" => ProbeChoice::Tracepoint,
            _ => return None,
        })
    }

    fn mode(self) -> Option<ProbeMode> {
        match self {
            ProbeChoice::Auto => None,
            ProbeChoice::Kprobe => Some(ProbeMode::Kprobe),
            ProbeChoice::Fentry => Some(ProbeMode::Fentry),
            ProbeChoice::Tracepoint => Some(ProbeMode::Tracepoint),
        }
    }
}

/// Where a program attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachPoint {
    /// A tracepoint `group:name`, through its perf event (the program gets the event's record).
    Tracepoint(&'static str),
    /// The raw form of a tracepoint `group:name` (the program gets the tracepoint's arguments,
    /// and no event record is built for it).
    RawTracepoint(&'static str),
    /// A kernel function (kprobe, kretprobe, fentry or fexit).
    Function(&'static str),
}

impl AttachPoint {
    /// `tracepoint:group:name`, `raw_tracepoint:group:name` or `function:name`, as shown to users.
    pub fn describe(&self) -> String {
        match self {
            AttachPoint::Tracepoint(t) => format!("tracepoint:{t}"),
            AttachPoint::RawTracepoint(t) => format!("raw_tracepoint:{t}"),
            AttachPoint::Function(f) => format!("function:{f}"),
        }
    }
}

/// One BPF program and where it attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramSpec {
    /// Function name in bpf/mio.bpf.c.
    pub program: &'static str,
    /// What the kernel must offer for it.
    pub attach: AttachPoint,
}

/// The programs that capture one event kind in one mode. A kind may have several variants of one
/// mode, for kernels that name the attach point differently or lack a cheaper one: the first the
/// kernel offers is used.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// The event kind.
    pub kind: EventKind,
    /// The probe mode.
    pub mode: ProbeMode,
    /// Programs attached where the kernel offers their attach point; a kind is captured when at
    /// least one attaches (e.g. `read` still works on a kernel without `preadv2`).
    pub programs: &'static [ProgramSpec],
    /// The programs come in (entry, return) pairs, each useless without the other: a pair is
    /// planned only when the kernel offers both.
    pub paired: bool,
    /// Programs the variant cannot do without (the raw syscall tracepoints' programs, which
    /// serve several kinds): a kernel without one of them cannot have the variant.
    pub needs: &'static [ProgramSpec],
}

impl Variant {
    /// The programs to load where `has` says which attach points the kernel offers: the needs
    /// and the offered programs (whole pairs only); empty when a need is missing, or when the
    /// variant has programs and none is offered.
    pub fn offered_by(&self, has: impl Fn(&ProgramSpec) -> bool) -> Vec<&'static ProgramSpec> {
        if !self.needs.iter().all(&has) {
            return Vec::new();
        }
        let offered: Vec<&'static ProgramSpec> = if self.paired {
            self.programs.chunks(2).filter(|pair| pair.iter().all(&has)).flatten().collect()
        } else {
            self.programs.iter().filter(|p| has(p)).collect()
        };
        if offered.is_empty() && !self.programs.is_empty() {
            return Vec::new();
        }
        // The variant's own programs first: the first attach point is the one shown for a kind.
        offered.into_iter().chain(self.needs).collect()
    }

    /// Every program the variant can use, needs last.
    pub fn all_programs(&self) -> impl Iterator<Item = &'static ProgramSpec> {
        self.programs.iter().chain(self.needs)
    }
}

macro_rules! syscall_program {
    (tp, enter, $sys:literal) => {
        ProgramSpec {
            program: concat!("tp_", $sys, "_enter"),
            attach: AttachPoint::Tracepoint(concat!("syscalls:sys_enter_", $sys)),
        }
    };
    (tp, exit, $sys:literal) => {
        ProgramSpec {
            program: concat!("tp_", $sys, "_exit"),
            attach: AttachPoint::Tracepoint(concat!("syscalls:sys_exit_", $sys)),
        }
    };
    (kp, $dir:ident, $sys:literal) => {
        ProgramSpec {
            program: concat!("kp_", $sys, "_", stringify!($dir)),
            attach: AttachPoint::Function(concat!("__x64_sys_", $sys)),
        }
    };
    (fe, $dir:ident, $sys:literal) => {
        ProgramSpec {
            program: concat!("fe_", $sys, "_", stringify!($dir)),
            attach: AttachPoint::Function(concat!("__x64_sys_", $sys)),
        }
    };
}

/// The program every syscall's entry goes through (`raw_syscalls:sys_enter`); it handles the
/// syscalls of the kinds the recorder gives it (`mio_config.raw_enter_kinds`).
const RAW_ENTER: ProgramSpec =
    ProgramSpec { program: "rt_sys_enter", attach: AttachPoint::RawTracepoint("raw_syscalls:sys_enter") };
/// The same as [`RAW_ENTER`] for kernels with BTF-typed tracepoint arguments and pointer casts
/// (6.2+): it reads the registers and kernel structures directly, not by helper calls.
const BTF_ENTER: ProgramSpec =
    ProgramSpec { program: "bt_sys_enter", attach: AttachPoint::RawTracepoint("raw_syscalls:sys_enter") };
/// The same as [`RAW_EXIT`] with BTF-typed arguments (5.5+): the returns of the syscalls no kind
/// wants cost no map lookup.
const BTF_EXIT: ProgramSpec =
    ProgramSpec { program: "bt_sys_exit", attach: AttachPoint::RawTracepoint("raw_syscalls:sys_exit") };
/// The program every syscall's return goes through (`raw_syscalls:sys_exit`).
const RAW_EXIT: ProgramSpec =
    ProgramSpec { program: "rt_sys_exit", attach: AttachPoint::RawTracepoint("raw_syscalls:sys_exit") };

/// A kind made of syscall entries only: kprobes, fentry, the raw syscall tracepoint (cheapest for
/// the tasks that are not traced), the per-syscall tracepoints.
macro_rules! entry_variants {
    ($kind:ident, [$($sys:literal),*]) => {
        [
            Variant {
                kind: EventKind::$kind,
                mode: ProbeMode::Kprobe,
                programs: &[$(syscall_program!(kp, enter, $sys)),*],
                paired: false,
                needs: &[],
            },
            Variant {
                kind: EventKind::$kind,
                mode: ProbeMode::Fentry,
                programs: &[$(syscall_program!(fe, enter, $sys)),*],
                paired: false,
                needs: &[],
            },
            Variant { kind: EventKind::$kind, mode: ProbeMode::Tracepoint, programs: &[], paired: false, needs: &[BTF_ENTER] },
            Variant { kind: EventKind::$kind, mode: ProbeMode::Tracepoint, programs: &[], paired: false, needs: &[RAW_ENTER] },
            Variant {
                kind: EventKind::$kind,
                mode: ProbeMode::Tracepoint,
                programs: &[$(syscall_program!(tp, enter, $sys)),*],
                paired: false,
                needs: &[],
            },
        ]
    };
}

/// A kind made of syscall entries and returns. Kprobe mode takes the returns from a syscall
/// tracepoint, not from kretprobes: a kretprobe holds one of a fixed number of instances (its
/// maxactive) from entry to return for every task in the function, traced or not, and silently
/// misses returns once they run out, which a few tasks blocked in `read` on a pipe or a terminal
/// anywhere on the host are enough for. Raw tracepoints come first, per-syscall ones where the
/// raw ones do not load.
macro_rules! pair_variants {
    ($kind:ident, [$($sys:literal),*]) => {
        [
            Variant {
                kind: EventKind::$kind,
                mode: ProbeMode::Kprobe,
                programs: &[$(syscall_program!(kp, enter, $sys)),*],
                paired: false,
                needs: &[BTF_EXIT],
            },
            Variant {
                kind: EventKind::$kind,
                mode: ProbeMode::Kprobe,
                programs: &[$(syscall_program!(kp, enter, $sys)),*],
                paired: false,
                needs: &[RAW_EXIT],
            },
            Variant {
                kind: EventKind::$kind,
                mode: ProbeMode::Kprobe,
                programs: &[$(syscall_program!(kp, enter, $sys), syscall_program!(tp, exit, $sys)),*],
                paired: true,
                needs: &[],
            },
            Variant {
                kind: EventKind::$kind,
                mode: ProbeMode::Fentry,
                programs: &[$(syscall_program!(fe, enter, $sys), syscall_program!(fe, exit, $sys)),*],
                paired: true,
                needs: &[],
            },
            Variant {
                kind: EventKind::$kind,
                mode: ProbeMode::Tracepoint,
                programs: &[],
                paired: false,
                needs: &[BTF_ENTER, BTF_EXIT],
            },
            Variant {
                kind: EventKind::$kind,
                mode: ProbeMode::Tracepoint,
                programs: &[],
                paired: false,
                needs: &[RAW_ENTER, RAW_EXIT],
            },
            Variant {
                kind: EventKind::$kind,
                mode: ProbeMode::Tracepoint,
                programs: &[$(syscall_program!(tp, enter, $sys), syscall_program!(tp, exit, $sys)),*],
                paired: true,
                needs: &[],
            },
        ]
    };
}

const fn function(program: &'static str, f: &'static str) -> ProgramSpec {
    ProgramSpec { program, attach: AttachPoint::Function(f) }
}

const fn tracepoint(program: &'static str, t: &'static str) -> ProgramSpec {
    ProgramSpec { program, attach: AttachPoint::Tracepoint(t) }
}

const fn raw_tracepoint(program: &'static str, t: &'static str) -> ProgramSpec {
    ProgramSpec { program, attach: AttachPoint::RawTracepoint(t) }
}

/// Every way the BPF object can capture every event kind. `lost` is produced by the recorder
/// itself and has no programs.
pub static CATALOG: &[Variant] = &{
    let read = pair_variants!(Read, ["read", "pread64", "readv", "preadv", "preadv2"]);
    let aio_submit = entry_variants!(AioSubmit, ["io_submit"]);
    // A completion needs the entry (which remembers the events array) and the return.
    let aio_complete = pair_variants!(AioComplete, ["io_getevents", "io_pgetevents"]);
    let open = pair_variants!(FileOpen, ["openat", "openat2"]);
    let fadvise = entry_variants!(Fadvise, ["fadvise64"]);
    let close = entry_variants!(FileClose, ["close"]);
    [
        read[0],
        read[1],
        read[2],
        read[3],
        read[4],
        read[5],
        read[6],
        Variant {
            kind: EventKind::VfsReadEnter,
            mode: ProbeMode::Kprobe,
            programs: &[function("kp_vfs_read_enter", "vfs_read")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::VfsReadEnter,
            mode: ProbeMode::Fentry,
            programs: &[function("fe_vfs_read_enter", "vfs_read")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::VfsReadExit,
            mode: ProbeMode::Kprobe,
            programs: &[function("kp_vfs_read_exit", "vfs_read")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::VfsReadExit,
            mode: ProbeMode::Fentry,
            programs: &[function("fe_vfs_read_exit", "vfs_read")],
            paired: false,
            needs: &[],
        },
        aio_submit[0],
        aio_submit[1],
        aio_submit[2],
        aio_submit[3],
        aio_submit[4],
        // The return of io_submit; its kprobe variant would be a kretprobe (see pair_variants).
        Variant {
            kind: EventKind::AioSubmitExit,
            mode: ProbeMode::Fentry,
            programs: &[syscall_program!(fe, exit, "io_submit")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::AioSubmitExit,
            mode: ProbeMode::Tracepoint,
            programs: &[],
            paired: false,
            needs: &[BTF_EXIT],
        },
        Variant {
            kind: EventKind::AioSubmitExit,
            mode: ProbeMode::Tracepoint,
            programs: &[],
            paired: false,
            needs: &[RAW_EXIT],
        },
        Variant {
            kind: EventKind::AioSubmitExit,
            mode: ProbeMode::Tracepoint,
            programs: &[syscall_program!(tp, exit, "io_submit")],
            paired: false,
            needs: &[],
        },
        aio_complete[0],
        aio_complete[1],
        aio_complete[2],
        aio_complete[3],
        aio_complete[4],
        aio_complete[5],
        aio_complete[6],
        Variant {
            kind: EventKind::UringSubmit,
            mode: ProbeMode::Tracepoint,
            programs: &[tracepoint("tp_uring_submit", "io_uring:io_uring_submit_req")],
            paired: false,
            needs: &[],
        },
        // The same tracepoint under its older name (Debian 12's 6.1).
        Variant {
            kind: EventKind::UringSubmit,
            mode: ProbeMode::Tracepoint,
            programs: &[tracepoint("tp_uring_submit_sqe", "io_uring:io_uring_submit_sqe")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::UringComplete,
            mode: ProbeMode::Tracepoint,
            programs: &[tracepoint("tp_uring_complete", "io_uring:io_uring_complete")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::ReadaheadTrigger,
            mode: ProbeMode::Kprobe,
            programs: &[
                function("kp_ra_sync", "page_cache_sync_ra"),
                function("kp_ra_async", "page_cache_async_ra"),
            ],
            paired: false,
            needs: &[],
        },
        // Before 5.10 (RHEL 8): the exported entry points of the time. Listed after the newer
        // names, which win where both exist (Ubuntu's 5.11-5.15 keep a local copy of
        // page_cache_sync_readahead in khugepaged, which only khugepaged calls).
        Variant {
            kind: EventKind::ReadaheadTrigger,
            mode: ProbeMode::Kprobe,
            programs: &[
                function("kp_ra_sync_old", "page_cache_sync_readahead"),
                function("kp_ra_async_old", "page_cache_async_readahead"),
            ],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::ReadaheadTrigger,
            mode: ProbeMode::Fentry,
            programs: &[
                function("fe_ra_sync", "page_cache_sync_ra"),
                function("fe_ra_async", "page_cache_async_ra"),
            ],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::ReadaheadTrigger,
            mode: ProbeMode::Tracepoint,
            programs: &[
                tracepoint("tp_ra_sync", "readahead:page_cache_sync_ra"),
                tracepoint("tp_ra_async", "readahead:page_cache_async_ra"),
            ],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::ReadaheadWindow,
            mode: ProbeMode::Kprobe,
            programs: &[
                function("kp_ra_order", "page_cache_ra_order"),
                function("kp_ra_unbounded", "page_cache_ra_unbounded"),
            ],
            paired: false,
            needs: &[],
        },
        // Before 5.10: every window is read by __do_page_cache_readahead (there is no
        // page_cache_ra_order either).
        Variant {
            kind: EventKind::ReadaheadWindow,
            mode: ProbeMode::Kprobe,
            programs: &[function("kp_ra_unbounded_old", "__do_page_cache_readahead")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::ReadaheadWindow,
            mode: ProbeMode::Fentry,
            programs: &[
                function("fe_ra_order", "page_cache_ra_order"),
                function("fe_ra_unbounded", "page_cache_ra_unbounded"),
            ],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::ReadaheadWindow,
            mode: ProbeMode::Tracepoint,
            programs: &[
                tracepoint("tp_ra_order", "readahead:page_cache_ra_order"),
                tracepoint("tp_ra_unbounded", "readahead:page_cache_ra_unbounded"),
            ],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::PageCacheAdd,
            mode: ProbeMode::Tracepoint,
            programs: &[tracepoint("tp_page_add", "filemap:mm_filemap_add_to_page_cache")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::PageCacheDelete,
            mode: ProbeMode::Tracepoint,
            programs: &[tracepoint("tp_page_delete", "filemap:mm_filemap_delete_from_page_cache")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::FilemapGetPages,
            mode: ProbeMode::Kprobe,
            programs: &[function("kp_get_pages", "filemap_get_pages")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::FilemapGetPages,
            mode: ProbeMode::Fentry,
            programs: &[function("fe_get_pages", "filemap_get_pages")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::FilemapGetPages,
            mode: ProbeMode::Tracepoint,
            programs: &[raw_tracepoint("rt_get_pages", "filemap:mm_filemap_get_pages")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::FilemapGetPages,
            mode: ProbeMode::Tracepoint,
            programs: &[tracepoint("tp_get_pages", "filemap:mm_filemap_get_pages")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::DioRead,
            mode: ProbeMode::Kprobe,
            programs: &[function("kp_dio_read", "__iomap_dio_rw")],
            paired: false,
            needs: &[],
        },
        // Before 5.10: iomap_dio_rw itself.
        Variant {
            kind: EventKind::DioRead,
            mode: ProbeMode::Kprobe,
            programs: &[function("kp_dio_read_old", "iomap_dio_rw")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::DioRead,
            mode: ProbeMode::Fentry,
            programs: &[function("fe_dio_read", "__iomap_dio_rw")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::DioRead,
            mode: ProbeMode::Tracepoint,
            programs: &[tracepoint("rt_dio_read", "iomap:iomap_dio_rw_begin")],
            paired: false,
            needs: &[],
        },
        fadvise[0],
        fadvise[1],
        fadvise[2],
        fadvise[3],
        fadvise[4],
        open[0],
        open[1],
        open[2],
        open[3],
        open[4],
        open[5],
        open[6],
        close[0],
        close[1],
        close[2],
        close[3],
        close[4],
        Variant {
            kind: EventKind::TaskFork,
            mode: ProbeMode::Tracepoint,
            programs: &[tracepoint("rt_task_fork", "sched:sched_process_fork")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::TaskExec,
            mode: ProbeMode::Tracepoint,
            programs: &[tracepoint("rt_task_exec", "sched:sched_process_exec")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::TaskExit,
            mode: ProbeMode::Tracepoint,
            programs: &[tracepoint("rt_task_exit", "sched:sched_process_exit")],
            paired: false,
            needs: &[],
        },
        Variant {
            kind: EventKind::TaskRename,
            mode: ProbeMode::Tracepoint,
            programs: &[tracepoint("rt_task_rename", "task:task_rename")],
            paired: false,
            needs: &[],
        },
    ]
};

/// Whether a kind of probe works on this kernel, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "reason")]
pub enum Availability {
    /// Programs of this type load and attach.
    Works,
    /// They do not; the reason as the kernel gave it.
    Fails(String),
    /// Not tried (planning from facts alone).
    Unknown,
}

impl Availability {
    fn works(&self) -> bool {
        // Unknown is planned as working: the load proves it or the fallback takes over.
        !matches!(self, Availability::Fails(_))
    }
}

/// What the kernel offers, as planning needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelFacts {
    /// `uname -r`.
    pub release: String,
    /// `/sys/kernel/btf/vmlinux` exists.
    pub btf: bool,
    /// kprobes and kretprobes.
    pub kprobe: Availability,
    /// fentry and fexit.
    pub fentry: Availability,
    /// Tracepoints, as `group:name` (tracefs `available_events`).
    pub tracepoints: BTreeSet<String>,
    /// Traceable kernel functions (tracefs `available_filter_functions`, else kallsyms), limited
    /// to the ones the catalog uses.
    pub functions: BTreeSet<String>,
    /// Programs that failed to load or attach here, with why (planning avoids them).
    #[serde(default)]
    pub broken: BTreeMap<String, String>,
}

impl KernelFacts {
    /// The kernel has the attach point and the mode works (whether the program itself loads is
    /// `broken`'s business).
    fn offers(&self, spec: &ProgramSpec, mode: ProbeMode) -> bool {
        match (spec.attach, mode) {
            (AttachPoint::Tracepoint(t) | AttachPoint::RawTracepoint(t), _) => self.tracepoints.contains(t),
            (AttachPoint::Function(f), ProbeMode::Kprobe) => {
                self.kprobe.works() && self.functions.contains(f)
            }
            (AttachPoint::Function(f), ProbeMode::Fentry) => {
                self.btf && self.fentry.works() && self.functions.contains(f)
            }
            _ => false,
        }
    }

    /// Every attach point any catalog entry could use (what facts gathering needs to look up).
    pub fn wanted_functions() -> BTreeSet<&'static str> {
        CATALOG
            .iter()
            .flat_map(Variant::all_programs)
            .filter_map(|p| match p.attach {
                AttachPoint::Function(f) => Some(f),
                AttachPoint::Tracepoint(_) | AttachPoint::RawTracepoint(_) => None,
            })
            .collect()
    }
}

/// How one event kind will be captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindPlan {
    /// The kind.
    pub kind: EventKind,
    /// The mode chosen (`Off` when none is possible).
    pub mode: ProbeMode,
    /// Programs to load (those whose attach point the kernel offers).
    pub programs: Vec<&'static str>,
    /// Their attach points, as shown to users.
    pub attach: Vec<String>,
    /// Why this mode and not a preferred one, or what is missing; empty when nothing is.
    pub note: String,
}

/// The plan for every event kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbePlan {
    /// One entry per event kind (in code order), `lost` excluded.
    pub kinds: Vec<KindPlan>,
}

impl ProbePlan {
    /// The plan of one kind.
    pub fn get(&self, kind: EventKind) -> Option<&KindPlan> {
        self.kinds.iter().find(|k| k.kind == kind)
    }

    /// Every program to load, each once (the raw syscall tracepoints' programs serve several
    /// kinds).
    pub fn programs(&self) -> impl Iterator<Item = &'static str> + '_ {
        let mut seen = BTreeSet::new();
        self.kinds.iter().flat_map(|k| k.programs.iter().copied()).filter(move |p| seen.insert(*p))
    }

    /// The kinds (bit `1 << code`) whose plan includes `program`: what the raw syscall programs
    /// are told to handle.
    pub fn kinds_using(&self, program: &str) -> u32 {
        self.kinds
            .iter()
            .filter(|k| k.programs.contains(&program))
            .fold(0, |m, k| m | 1u32.checked_shl(u32::from(k.kind.code())).unwrap_or(0))
    }
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The forced mode does not work on this kernel.
    #[error("--probes {mode} cannot work on this kernel: {reason}; use --probes auto (it falls back to what works) or --probes tracepoint")]
    ModeUnavailable {
        /// The mode asked for.
        mode: &'static str,
        /// Why.
        reason: String,
    },
    /// Nothing at all can be captured.
    #[error("no event can be captured on this kernel (Linux {release}): it offers none of the tracepoints or functions mysql-io uses")]
    NothingAvailable {
        /// Kernel release.
        release: String,
    },
}

/// Kinds the recorder cannot work without.
const REQUIRED: &[EventKind] = &[EventKind::Read, EventKind::TaskFork];

/// Kinds that recorders before format 2.1 wrote and this one writes as another: a read syscall's
/// entry and return are one `read` event. They are not planned.
pub const SUPERSEDED: &[EventKind] = &[EventKind::ReadEnter, EventKind::ReadExit];

/// Kinds captured in the server's own code (uprobes), planned per server binary when asked
/// (`record --statements`, see [`crate::dispatch`]), not from the kernel's facts.
pub const USER_SPACE: &[EventKind] = &[EventKind::Statement];

/// Plans every event kind: for each, the first mode in preference order whose programs the
/// kernel offers. `choice` forces a mode where a kind has it; kinds without a variant in that mode
/// keep the one they have, with a note.
pub fn plan(facts: &KernelFacts, choice: ProbeChoice) -> Result<ProbePlan, PlanError> {
    if let Some(forced) = choice.mode() {
        let availability = match forced {
            ProbeMode::Kprobe => &facts.kprobe,
            ProbeMode::Fentry if !facts.btf => {
                return Err(PlanError::ModeUnavailable {
                    mode: "fentry",
                    reason: "the kernel has no BTF (/sys/kernel/btf/vmlinux)".into(),
                })
            }
            ProbeMode::Fentry => &facts.fentry,
            _ => &Availability::Works,
        };
        if let Availability::Fails(reason) = availability {
            return Err(PlanError::ModeUnavailable { mode: mode_name(forced), reason: reason.clone() });
        }
    }
    // The forced mode first, then the auto preference: a kind whose forced variant the kernel
    // lacks falls back, with a note.
    let mut order = Vec::new();
    for m in choice.mode().into_iter().chain([ProbeMode::Kprobe, ProbeMode::Fentry, ProbeMode::Tracepoint]) {
        if !order.contains(&m) {
            order.push(m);
        }
    }
    let mut kinds = Vec::new();
    for &kind in EventKind::ALL {
        if kind == EventKind::Lost || SUPERSEDED.contains(&kind) || USER_SPACE.contains(&kind) {
            continue;
        }
        let variants: Vec<&Variant> = CATALOG.iter().filter(|v| v.kind == kind).collect();
        let mut skipped = Vec::new();
        if let Some(forced) = choice.mode() {
            if !variants.iter().any(|v| v.mode == forced) {
                skipped.push(format!("no {} variant", mode_name(forced)));
            }
        }
        let candidates = order.iter().flat_map(|m| variants.iter().copied().filter(move |v| v.mode == *m));
        let mut chosen = None;
        // Why each variant was passed over, with its mode: a later variant of the same mode that
        // works makes its siblings' notes moot (the attach point under another name).
        let mut passed: Vec<(ProbeMode, String)> = Vec::new();
        for v in candidates {
            let offered = v.offered_by(|p| facts.offers(p, v.mode));
            // A program that failed here disqualifies its variant: better another mode than a
            // kind captured in part (an attach point the kernel lacks only drops that program).
            if offered.is_empty() || offered.iter().any(|p| facts.broken.contains_key(p.program)) {
                passed.push((v.mode, why_not(facts, v)));
                continue;
            }
            passed.retain(|(m, _)| *m != v.mode);
            let mut missing: Vec<String> =
                v.programs.iter().filter(|p| !facts.offers(p, v.mode)).map(|p| p.attach.describe()).collect();
            missing.dedup();
            chosen = Some((v, offered, missing));
            break;
        }
        for (_, why) in passed {
            // Two variants of a mode passed over for the same reason say it once.
            if !skipped.contains(&why) {
                skipped.push(why);
            }
        }
        let (mode, programs, attach, mut note) = match chosen {
            Some((v, offered, missing)) => {
                let mut note = skipped.join("; ");
                if !missing.is_empty() {
                    let sep = if note.is_empty() { "" } else { "; " };
                    note = format!("{note}{sep}not on this kernel: {}", missing.join(", "));
                }
                (
                    v.mode,
                    offered.iter().map(|p| p.program).collect(),
                    offered.iter().map(|p| p.attach.describe()).collect(),
                    note,
                )
            }
            None => (ProbeMode::Off, Vec::new(), Vec::new(), skipped.join("; ")),
        };
        if variants.is_empty() {
            note = "no probe exists for it".into();
        }
        kinds.push(KindPlan { kind, mode, programs, attach, note });
    }
    if kinds.iter().all(|k| k.mode == ProbeMode::Off) {
        return Err(PlanError::NothingAvailable { release: facts.release.clone() });
    }
    Ok(ProbePlan { kinds })
}

fn why_not(facts: &KernelFacts, v: &Variant) -> String {
    let name = mode_name(v.mode);
    if let Some(reason) = v.all_programs().find_map(|p| facts.broken.get(p.program)) {
        return format!("{name} failed here ({reason})");
    }
    match v.mode {
        ProbeMode::Kprobe => match &facts.kprobe {
            Availability::Fails(r) => format!("kprobes unavailable ({r})"),
            _ => format!("{name}: functions not traceable here ({})", attach_list(v)),
        },
        ProbeMode::Fentry if !facts.btf => "fentry needs BTF".into(),
        ProbeMode::Fentry => match &facts.fentry {
            Availability::Fails(r) => format!("fentry unavailable ({r})"),
            _ => format!("{name}: functions not traceable here ({})", attach_list(v)),
        },
        _ => format!("{name}: not on this kernel ({})", attach_list(v)),
    }
}

fn attach_list(v: &Variant) -> String {
    let mut names: Vec<String> = v.all_programs().map(|p| p.attach.describe()).collect();
    names.dedup();
    names.join(", ")
}

/// The lower-case name of a mode.
pub fn mode_name(m: ProbeMode) -> &'static str {
    match m {
        ProbeMode::Kprobe => "kprobe",
        ProbeMode::Fentry => "fentry",
        ProbeMode::Tracepoint => "tracepoint",
        ProbeMode::Off => "off",
        _ => "other",
    }
}

/// Checks that the kinds the recorder needs are planned.
pub fn check_required(plan: &ProbePlan, release: &str) -> Result<(), String> {
    for &k in REQUIRED {
        if plan.get(k).is_none_or(|p| p.mode == ProbeMode::Off) {
            return Err(format!(
                "recording cannot work on this kernel (Linux {release}): no probe for {k} ({})",
                plan.get(k).map(|p| p.note.as_str()).unwrap_or("not planned")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_variants_and_each_program_serves_one_kind() {
        for &k in EventKind::ALL {
            let n = CATALOG.iter().filter(|v| v.kind == k).count();
            let none = k == EventKind::Lost || SUPERSEDED.contains(&k) || USER_SPACE.contains(&k);
            assert_eq!(n == 0, none, "{k}");
        }
        // A program may serve two variants of its kind (a syscall's return tracepoint completes
        // both the kprobe and the tracepoint variant), never two kinds, nor twice in one
        // variant; only the raw syscall programs (needs) serve several kinds.
        let mut kind_of = BTreeMap::new();
        for v in CATALOG {
            let mut seen = BTreeSet::new();
            for p in v.all_programs() {
                assert!(seen.insert(p.program), "{} twice in a variant of {}", p.program, v.kind);
            }
            for p in v.programs {
                assert_eq!(*kind_of.entry(p.program).or_insert(v.kind), v.kind, "{}", p.program);
            }
            if v.paired {
                assert_eq!(v.programs.len() % 2, 0, "{}: pairs", v.kind);
            }
        }
        for p in CATALOG.iter().flat_map(|v| v.needs) {
            assert!(!kind_of.contains_key(p.program), "{} is a need and a program", p.program);
        }
    }
}
