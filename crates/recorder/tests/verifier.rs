//! Every kprobe program of the BPF object passes this kernel's verifier, the variants written for
//! older kernels included (their CO-RE guards must leave code this kernel accepts). This kernel
//! has no kprobes to attach them to, but loading a kprobe program needs none: loading is where the
//! verifier runs. The Linux 6.1 guest (crates/cli/tests/guest_kprobe.rs) loads and attaches them
//! there. Needs root (CAP_BPF and CAP_PERFMON): as any BPF test here, it fails rather than skip.

use std::mem::MaybeUninit;

use mysql_io_recorder::loader::{load, object_programs, LoadOptions};

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "this test loads BPF programs: run it as root");
}

fn options() -> LoadOptions {
    LoadOptions {
        ringbuf_bytes: 1 << 16,
        self_tgid: std::process::id(),
        raw_enter_kinds: u32::MAX,
        raw_exit_kinds: u32::MAX,
        ..LoadOptions::default()
    }
}

#[test]
fn root_every_kprobe_program_passes_the_verifier() {
    require_root();
    let kprobes: Vec<String> =
        object_programs().expect("open the object").into_iter().filter(|p| p.starts_with("kp_")).collect();
    // The ones written for kernels older than this one are among them.
    for old in ["kp_ra_sync_old", "kp_ra_async_old", "kp_ra_unbounded_old", "kp_dio_read_old", "kp_ra_async"]
    {
        assert!(kprobes.iter().any(|p| p == old), "{old} is not in the object: {kprobes:?}");
    }
    let mut refused = Vec::new();
    for p in &kprobes {
        let mut storage = MaybeUninit::uninit();
        let loaded = load(&mut storage, &[p.as_str()], &options()).map(drop);
        if let Err(e) = loaded {
            refused.push(format!("{p}: {e}"));
        }
    }
    assert!(refused.is_empty(), "the verifier refused:\n{}", refused.join("\n"));
    // All of them in one object too (what a plan on an old kernel loads).
    let all: Vec<&str> = kprobes.iter().map(String::as_str).collect();
    let mut storage = MaybeUninit::uninit();
    load(&mut storage, &all, &options()).map(drop).expect("every kprobe program in one object");
}
