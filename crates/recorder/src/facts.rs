//! Kernel facts for probe planning, read from the running system: release, BTF, tracepoints
//! (tracefs `available_events`) and traceable functions (tracefs `available_filter_functions`,
//! else `/proc/kallsyms`). Whether kprobes and fentry really work is found by trying them
//! (`loader::probe_mode`), not guessed from here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::plan::{Availability, KernelFacts};

/// Where tracefs is, mounting it at /sys/kernel/tracing when it is not mounted anywhere.
pub fn tracefs() -> Option<PathBuf> {
    for dir in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        let d = Path::new(dir);
        if d.join("available_events").exists() {
            return Some(d.to_path_buf());
        }
    }
    // Not mounted: mount it (root only; failure just means no tracepoint facts).
    let target = c"/sys/kernel/tracing";
    // SAFETY: plain mount(2) with NUL-terminated constant strings and no data.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::mount(c"tracefs".as_ptr(), target.as_ptr(), c"tracefs".as_ptr(), 0, std::ptr::null())
    };
    let d = Path::new("/sys/kernel/tracing");
    (rc == 0 && d.join("available_events").exists()).then(|| d.to_path_buf())
}

/// The kernel release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// True when the kernel exposes its BTF (needed for CO-RE, fentry and BTF tracepoints).
pub fn has_btf() -> bool {
    Path::new("/sys/kernel/btf/vmlinux").exists()
}

/// Whether the kernel has the BPF ring buffer (5.8, RHEL 8.4): `None` when it cannot be asked
/// (no privilege to create BPF maps).
pub fn has_ringbuf() -> Option<bool> {
    // SAFETY: libbpf creates and closes a small ring buffer map; a null options pointer is
    // documented as "no options".
    #[allow(unsafe_code)]
    let rc = unsafe {
        libbpf_rs::libbpf_sys::libbpf_probe_bpf_map_type(
            libbpf_rs::libbpf_sys::BPF_MAP_TYPE_RINGBUF,
            std::ptr::null(),
        )
    };
    match rc {
        1 => Some(true),
        0 => Some(false),
        _ => None,
    }
}

/// Gathers the facts; kprobe and fentry availability are left `Unknown` for the loader to test.
pub fn gather() -> KernelFacts {
    let wanted = KernelFacts::wanted_functions();
    let trace = tracefs();
    let tracepoints = trace
        .as_ref()
        .and_then(|d| std::fs::read_to_string(d.join("available_events")).ok())
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default();
    let functions = trace
        .as_ref()
        .and_then(|d| std::fs::read_to_string(d.join("available_filter_functions")).ok())
        .map(|s| traceable_functions(&s, &wanted))
        .or_else(|| std::fs::read_to_string("/proc/kallsyms").ok().map(|s| kallsyms_functions(&s, &wanted)))
        .unwrap_or_default();
    KernelFacts {
        release: kernel_release(),
        btf: has_btf(),
        kprobe: Availability::Unknown,
        fentry: Availability::Unknown,
        tracepoints,
        functions,
        broken: Default::default(),
    }
}

/// Names from `available_filter_functions` ("name" or "name [module]") that the catalog uses.
fn traceable_functions(text: &str, wanted: &BTreeSet<&'static str>) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| wanted.contains(n))
        .map(str::to_string)
        .collect()
}

/// Text symbols from `/proc/kallsyms` ("addr t name [module]") that the catalog uses.
fn kallsyms_functions(text: &str, wanted: &BTreeSet<&'static str>) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (_, kind, name) = (it.next()?, it.next()?, it.next()?);
            matches!(kind, "t" | "T").then_some(name)
        })
        .filter(|n| wanted.contains(n))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_buffer_is_found_here() {
        // Linux 6.18 has it; as a user without CAP_BPF the kernel cannot be asked.
        // SAFETY: geteuid has no preconditions.
        #[allow(unsafe_code)]
        let root = unsafe { libc::geteuid() } == 0;
        assert_eq!(has_ringbuf(), if root { Some(true) } else { None });
    }

    #[test]
    fn parses_function_lists() {
        let wanted: BTreeSet<&'static str> = ["vfs_read", "page_cache_sync_ra"].into();
        let f = traceable_functions("vfs_read\nother_fn\npage_cache_sync_ra [some_mod]\n", &wanted);
        assert_eq!(f, ["page_cache_sync_ra".to_string(), "vfs_read".to_string()].into());
        let k = kallsyms_functions(
            "ffffffff81000000 T vfs_read\nffffffff81000001 d page_cache_sync_ra\nffffffff81000002 t other\n",
            &wanted,
        );
        assert_eq!(k, ["vfs_read".to_string()].into());
    }
}
