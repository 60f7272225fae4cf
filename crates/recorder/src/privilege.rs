//! What recording needs of the process: capabilities, not euid 0.
//!
//! - `CAP_BPF` and `CAP_PERFMON` load the programs and attach them (`CAP_SYS_ADMIN` instead on
//!   kernels before 5.8, which know neither).
//! - `CAP_DAC_READ_SEARCH` reads tracefs (mode 0700, root's): the tracepoints and functions the
//!   kernel offers, and the ids of the tracepoints the classic programs attach to.
//! - `CAP_SYS_PTRACE` reads the open files of a process of another user (`/proc/PID/fd`): the
//!   server runs as `mysql`.
//! - `CAP_SYS_RESOURCE` raises the locked-memory limit, which BPF maps are charged to on kernels
//!   before 5.11 (later ones charge the cgroup); a high enough `ulimit -l` does as well.
//! - Kprobe mode makes its kretprobes through tracefs, which needs writing there
//!   (`CAP_DAC_OVERRIDE`); without it they are made without the raised instance count, and the
//!   recorder warns so when it stops.

use std::path::Path;

/// A Linux capability the recorder may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    /// Its name, as `setpriv`, `setcap` and `capsh` take it.
    pub name: &'static str,
    bit: u32,
}

/// Bypass file permission checks (write to tracefs).
pub const DAC_OVERRIDE: Capability = Capability { name: "CAP_DAC_OVERRIDE", bit: 1 };
/// Read and search any file (tracefs).
pub const DAC_READ_SEARCH: Capability = Capability { name: "CAP_DAC_READ_SEARCH", bit: 2 };
/// Inspect other users' processes (`/proc/PID/fd`).
pub const SYS_PTRACE: Capability = Capability { name: "CAP_SYS_PTRACE", bit: 19 };
/// Everything, BPF included, on kernels before 5.8.
pub const SYS_ADMIN: Capability = Capability { name: "CAP_SYS_ADMIN", bit: 21 };
/// Raise the locked-memory limit.
pub const SYS_RESOURCE: Capability = Capability { name: "CAP_SYS_RESOURCE", bit: 24 };
/// Performance monitoring: tracing programs, perf events.
pub const PERFMON: Capability = Capability { name: "CAP_PERFMON", bit: 38 };
/// BPF programs and maps.
pub const BPF: Capability = Capability { name: "CAP_BPF", bit: 39 };

/// The capabilities the docs' recipe grants, in the order it names them.
pub const RECIPE: &[Capability] = &[BPF, PERFMON, DAC_READ_SEARCH, SYS_PTRACE, SYS_RESOURCE];

/// The process's effective capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privileges {
    effective: u64,
}

impl Privileges {
    /// This process's (`CapEff` of `/proc/self/status`; none when it cannot be read).
    pub fn current() -> Privileges {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        Privileges::from_status(&status)
    }

    /// From the text of a `/proc/PID/status`.
    pub fn from_status(status: &str) -> Privileges {
        let effective = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .unwrap_or(0);
        Privileges { effective }
    }

    /// The capability is effective.
    pub fn has(&self, c: Capability) -> bool {
        self.effective >> c.bit & 1 == 1
    }

    /// BPF tracing programs load and attach: `CAP_BPF` and `CAP_PERFMON`, or `CAP_SYS_ADMIN`.
    pub fn can_load_bpf(&self) -> bool {
        self.has(SYS_ADMIN) || (self.has(BPF) && self.has(PERFMON))
    }

    /// What of the recipe is effective and what is not, e.g. `CAP_BPF yes, CAP_SYS_PTRACE no`.
    pub fn describe(&self) -> String {
        let mut v: Vec<String> = RECIPE
            .iter()
            .map(|c| format!("{} {}", c.name, if self.has(*c) { "yes" } else { "no" }))
            .collect();
        if self.has(SYS_ADMIN) {
            v.push("CAP_SYS_ADMIN yes".into());
        }
        v.join(", ")
    }

    /// Why the BPF programs cannot be loaded, naming what is missing; `None` when they can.
    pub fn bpf_problem(&self) -> Option<String> {
        if self.can_load_bpf() {
            return None;
        }
        let missing: Vec<&str> = [BPF, PERFMON].iter().filter(|c| !self.has(**c)).map(|c| c.name).collect();
        Some(format!(
            "loading the BPF programs needs {} (or CAP_SYS_ADMIN on kernels before 5.8): run it with sudo, or grant the capabilities as docs/running-in-production.md shows (Least privilege)",
            missing.join(" and ")
        ))
    }
}

/// Why tracefs cannot be read, naming the capability; `None` when it can, or when it is not
/// mounted (planning then says what is missing).
pub fn tracefs_problem(p: &Privileges) -> Option<String> {
    for dir in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        match std::fs::File::open(Path::new(dir).join("available_events")) {
            Ok(_) => return None,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Some(format!(
                    "{dir} cannot be read{}: the recorder needs {} to see which tracepoints this kernel has",
                    if p.has(DAC_READ_SEARCH) { " even with CAP_DAC_READ_SEARCH" } else { "" },
                    DAC_READ_SEARCH.name
                ))
            }
            Err(_) => {}
        }
    }
    None
}

/// Why process `pid`'s open files cannot be read, naming the capability; `None` when they can.
pub fn process_problem(pid: u32, p: &Privileges) -> Option<String> {
    // Listing /proc/PID/fd may be allowed (CAP_DAC_READ_SEARCH) where reading its links is not:
    // those take ptrace access, as the executable's link does.
    match std::fs::read_link(format!("/proc/{pid}/exe")) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Some(format!(
            "the open files of process {pid} (another user's) cannot be read{}: the recorder needs {} to map its reads to files",
            if p.has(SYS_PTRACE) { " even with CAP_SYS_PTRACE" } else { "" },
            SYS_PTRACE.name
        )),
        _ => None,
    }
}

/// The locked memory the recorder's maps take: the ring buffer and up to about 16 MiB of tables
/// (per-thread reads, files).
pub fn map_bytes(ringbuf_bytes: u32) -> u64 {
    u64::from(ringbuf_bytes) + (16 << 20)
}

/// Why BPF maps of `bytes` may not fit the locked-memory limit: kernels before 5.11 charge them
/// to `RLIMIT_MEMLOCK`, which only `CAP_SYS_RESOURCE` raises. `None` when they fit or the kernel
/// charges the cgroup instead.
pub fn memlock_problem(release: &str, bytes: u64, p: &Privileges) -> Option<String> {
    let (major, minor) = mysql_io_format::release_version(release);
    let version = (major?, minor?);
    if version >= (5, 11) || p.has(SYS_RESOURCE) {
        return None;
    }
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given.
    #[allow(unsafe_code)]
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } == 0;
    if !ok || lim.rlim_cur == libc::RLIM_INFINITY || lim.rlim_cur >= bytes {
        return None;
    }
    Some(format!(
        "Linux {release} charges BPF maps to the locked-memory limit ({} KiB here, about {} KiB needed) and raising it needs {}: grant it, or raise the limit (ulimit -l unlimited; LimitMEMLOCK=infinity under systemd)",
        lim.rlim_cur >> 10,
        bytes >> 10,
        SYS_RESOURCE.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_read_from_the_status_text() {
        // setpriv --ambient-caps=+bpf,+perfmon,+dac_read_search,+sys_ptrace, as on this host.
        let p = Privileges::from_status("Name:\tx\nCapInh:\t0\nCapEff:\t000000c000080004\nCapBnd:\t1\n");
        assert!(p.has(BPF) && p.has(PERFMON) && p.has(DAC_READ_SEARCH) && p.has(SYS_PTRACE));
        assert!(!p.has(SYS_ADMIN) && !p.has(SYS_RESOURCE) && !p.has(DAC_OVERRIDE));
        assert!(p.can_load_bpf());
        assert_eq!(p.bpf_problem(), None);
        // CAP_BPF alone does not attach tracing programs.
        let p = Privileges::from_status("CapEff:\t0000008000000000\n");
        assert!(p.has(BPF) && !p.can_load_bpf());
        let why = p.bpf_problem().expect("a problem");
        assert!(why.contains("CAP_PERFMON") && !why.contains("CAP_BPF and"), "{why}");
        // Root on a kernel before 5.8 (capabilities 0-37: no CAP_PERFMON, no CAP_BPF):
        // CAP_SYS_ADMIN covers it.
        let old = Privileges::from_status("CapEff:\t0000003fffffffff\n");
        assert!(!old.has(BPF) && old.has(SYS_ADMIN) && old.can_load_bpf());
        // Docker's default set has neither.
        assert!(!Privileges::from_status("CapEff:\t00000000a80425fb\n").can_load_bpf());
        // Nothing readable: nothing effective.
        assert!(!Privileges::from_status("").can_load_bpf());
    }

    #[test]
    fn the_memlock_limit_matters_before_5_11_only() {
        let none = Privileges::from_status("CapEff:\t0\n");
        assert_eq!(memlock_problem("6.1.0-27-amd64", u64::MAX, &none), None);
        assert_eq!(memlock_problem("5.11.0", u64::MAX, &none), None);
        let with = Privileges::from_status("CapEff:\t0000000001000000\n");
        assert_eq!(memlock_problem("5.4.0-150-generic", u64::MAX, &with), None);
        // Whether 5.4 without the capability is a problem depends on this process's limit.
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes the struct it is given.
        #[allow(unsafe_code)]
        unsafe {
            libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim);
        }
        let got = memlock_problem("4.18.0-553.el8_10.x86_64", u64::MAX, &none);
        assert_eq!(got.is_some(), lim.rlim_cur != libc::RLIM_INFINITY, "{got:?}");
        if let Some(why) = got {
            assert!(why.contains("CAP_SYS_RESOURCE") && why.contains("ulimit -l"), "{why}");
        }
    }
}
