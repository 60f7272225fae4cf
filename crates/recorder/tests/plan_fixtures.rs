//! Probe planning from fixtures of kernels: the development machine's 6.18 (tracepoints only: no
//! kprobes, fentry refused), Debian 12's 6.1 (kprobes and fentry, no readahead tracepoints),
//! Ubuntu 22.04's 5.15 (no page_cache_ra_order, the old io_uring tracepoint), RHEL 9.2's 5.14
//! (folios and page_cache_ra_order backported, no io_uring), Debian 11's 5.10 (the file_ra_state
//! still an argument of the readahead functions, no filemap_get_pages) and RHEL 8's 4.18 (the
//! readahead entry points of before 5.10, no io_uring). The 6.18 and 6.1 facts were read from
//! real kernels; the others were written from published sources, each fact with its source in
//! the fixture's `sources` (the planner ignores that key). No root needed.

use mysql_io_format::{EventKind, ProbeMode};
use mysql_io_recorder::plan::{check_required, plan, KernelFacts, PlanError, ProbeChoice};

fn facts(name: &str) -> KernelFacts {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture json")
}

fn mode(p: &mysql_io_recorder::plan::ProbePlan, k: EventKind) -> ProbeMode {
    p.get(k).expect("planned").mode
}

#[test]
fn linux_6_18_without_kprobes_uses_tracepoints_and_says_why() {
    let f = facts("linux-6.18-tracepoints-only");
    let p = plan(&f, ProbeChoice::Auto).expect("plan");
    check_required(&p, &f.release).expect("recordable");
    for k in &p.kinds {
        match k.kind {
            EventKind::VfsReadEnter | EventKind::VfsReadExit => {
                assert_eq!(k.mode, ProbeMode::Off);
                assert!(
                    k.note.contains("kprobes unavailable") && k.note.contains("fentry unavailable"),
                    "{}",
                    k.note
                );
            }
            _ => assert_eq!(k.mode, ProbeMode::Tracepoint, "{:?}", k),
        }
    }
    // Read syscalls through the raw syscall tracepoints: one program for every entry (the
    // BTF-typed one first), one for every return.
    let read = p.get(EventKind::Read).expect("read");
    assert_eq!(read.programs, ["bt_sys_enter", "bt_sys_exit"]);
    assert_eq!(
        read.attach,
        ["raw_tracepoint:raw_syscalls:sys_enter", "raw_tracepoint:raw_syscalls:sys_exit"]
    );
    assert_eq!(p.programs().filter(|n| n.ends_with("sys_enter")).count(), 1, "loaded once for every kind");
    // Where the BTF-typed program does not load, the raw one; where neither does, the
    // per-syscall tracepoints, in pairs.
    let mut old = f.clone();
    old.broken.insert("bt_sys_enter".into(), "unknown func bpf_rdonly_cast".into());
    old.broken.insert("bt_sys_exit".into(), "attach type not supported".into());
    let p_old = plan(&old, ProbeChoice::Auto).expect("plan");
    assert_eq!(p_old.get(EventKind::Read).expect("read").programs, ["rt_sys_enter", "rt_sys_exit"]);
    old.broken.insert("rt_sys_enter".into(), "invalid argument".into());
    let p_older = plan(&old, ProbeChoice::Auto).expect("plan");
    assert_eq!(
        p_older.get(EventKind::Read).expect("read").programs,
        [
            "tp_read_enter",
            "tp_read_exit",
            "tp_pread64_enter",
            "tp_pread64_exit",
            "tp_readv_enter",
            "tp_readv_exit",
            "tp_preadv_enter",
            "tp_preadv_exit",
            "tp_preadv2_enter",
            "tp_preadv2_exit"
        ]
    );
    assert_eq!(p_older.get(EventKind::FileClose).expect("close").programs, ["tp_close_enter"]);
    // read_enter and read_exit are what older recorders wrote: not planned.
    assert!(p.get(EventKind::ReadEnter).is_none() && p.get(EventKind::ReadExit).is_none());
    assert!(read.note.contains("no kprobes"), "{}", read.note);
    assert_eq!(
        p.get(EventKind::ReadaheadWindow).expect("window").programs,
        ["tp_ra_order", "tp_ra_unbounded"]
    );
    // Forcing a mode the kernel lacks is refused with the reason; tracepoints are the same plan.
    match plan(&f, ProbeChoice::Kprobe) {
        Err(e @ PlanError::ModeUnavailable { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("--probes kprobe cannot work on this kernel: this kernel has no kprobes"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(plan(&f, ProbeChoice::Fentry), Err(PlanError::ModeUnavailable { mode: "fentry", .. })));
    // Forced tracepoints: the same programs, without notes about modes skipped.
    let forced = plan(&f, ProbeChoice::Tracepoint).expect("plan");
    let programs = |p: &mysql_io_recorder::plan::ProbePlan| {
        p.kinds.iter().map(|k| (k.mode, k.programs.clone())).collect::<Vec<_>>()
    };
    assert_eq!(programs(&forced), programs(&p));
}

#[test]
fn linux_6_1_with_kprobes_prefers_them() {
    let f = facts("linux-6.1-debian");
    let p = plan(&f, ProbeChoice::Auto).expect("plan");
    check_required(&p, &f.release).expect("recordable");
    for k in [
        EventKind::Read,
        EventKind::VfsReadEnter,
        EventKind::VfsReadExit,
        EventKind::AioSubmit,
        EventKind::AioComplete,
        EventKind::ReadaheadTrigger,
        EventKind::ReadaheadWindow,
        EventKind::FilemapGetPages,
        EventKind::DioRead,
        EventKind::FileOpen,
    ] {
        assert_eq!(mode(&p, k), ProbeMode::Kprobe, "{k}");
    }
    // Kinds with only a tracepoint keep it; io_uring's request tracepoint has its old name on 6.1
    // (as the guest test found), and the note does not mention the newer one.
    for k in [EventKind::PageCacheAdd, EventKind::UringSubmit, EventKind::TaskFork, EventKind::TaskRename] {
        assert_eq!(mode(&p, k), ProbeMode::Tracepoint, "{k}");
    }
    let uring = p.get(EventKind::UringSubmit).expect("uring");
    assert_eq!(uring.programs, ["tp_uring_submit_sqe"]);
    assert!(uring.note.is_empty(), "{}", uring.note);
    assert_eq!(p.get(EventKind::ReadaheadTrigger).expect("trigger").programs, ["kp_ra_sync", "kp_ra_async"]);
    assert_eq!(
        p.get(EventKind::ReadaheadWindow).expect("window").programs,
        ["kp_ra_order", "kp_ra_unbounded"]
    );
    // Reads: kprobes on the syscalls' entries, their returns from the syscall tracepoints (no
    // kretprobes: they miss returns past their maxactive).
    let read = p.get(EventKind::Read).expect("read");
    assert!(read.note.is_empty(), "{}", read.note);
    assert_eq!(
        read.programs,
        [
            "kp_read_enter",
            "kp_pread64_enter",
            "kp_readv_enter",
            "kp_preadv_enter",
            "kp_preadv2_enter",
            "bt_sys_exit"
        ]
    );
    assert_eq!(read.attach[0], "function:__x64_sys_read");
    assert_eq!(read.attach[5], "raw_tracepoint:raw_syscalls:sys_exit");
    assert_eq!(
        p.get(EventKind::AioComplete).expect("aio").programs[..],
        ["kp_io_getevents_enter", "kp_io_pgetevents_enter", "bt_sys_exit"]
    );
    assert_eq!(mode(&p, EventKind::AioSubmitExit), ProbeMode::Fentry);
    // Without the raw return tracepoint, each syscall's own.
    let mut no_raw = f.clone();
    no_raw.broken.insert("bt_sys_exit".into(), "invalid argument".into());
    let p_raw = plan(&no_raw, ProbeChoice::Auto).expect("plan");
    assert_eq!(p_raw.get(EventKind::Read).expect("read").programs.last(), Some(&"rt_sys_exit"));
    no_raw.broken.insert("rt_sys_exit".into(), "invalid argument".into());
    let p_nr = plan(&no_raw, ProbeChoice::Auto).expect("plan");
    assert_eq!(&p_nr.get(EventKind::Read).expect("read").programs[..2], ["kp_read_enter", "tp_read_exit"]);

    // Forced fentry: every kind with a variant uses it.
    let fe = plan(&f, ProbeChoice::Fentry).expect("plan");
    assert_eq!(mode(&fe, EventKind::Read), ProbeMode::Fentry);
    assert_eq!(&fe.get(EventKind::Read).expect("read").programs[..2], ["fe_read_enter", "fe_read_exit"]);
    assert_eq!(mode(&fe, EventKind::ReadaheadWindow), ProbeMode::Fentry);
    assert!(fe.get(EventKind::PageCacheAdd).expect("add").note.contains("no fentry variant"));
    // Forced tracepoints: where 6.1 has none (readahead), the kind falls back to kprobes and says so.
    let tp = plan(&f, ProbeChoice::Tracepoint).expect("plan");
    assert_eq!(mode(&tp, EventKind::Read), ProbeMode::Tracepoint);
    let trig = tp.get(EventKind::ReadaheadTrigger).expect("trigger");
    assert_eq!(trig.mode, ProbeMode::Kprobe);
    assert!(
        trig.note.contains("tracepoint: not on this kernel (tracepoint:readahead:page_cache_sync_ra"),
        "{}",
        trig.note
    );

    // A program that fails to load moves its whole kind to the next mode.
    let mut broken = f.clone();
    broken.broken.insert("kp_pread64_enter".into(), "verifier said no".into());
    let p2 = plan(&broken, ProbeChoice::Auto).expect("plan");
    let read = p2.get(EventKind::Read).expect("read");
    assert_eq!(read.mode, ProbeMode::Fentry);
    assert!(read.note.contains("kprobe failed here (verifier said no)"), "{}", read.note);
    assert_eq!(mode(&p2, EventKind::FileOpen), ProbeMode::Kprobe);

    // A syscall whose return the kernel cannot trace takes its entry out too (a read without
    // its return is no record), and the note says so.
    let mut no_exit = no_raw.clone();
    no_exit.tracepoints.remove("syscalls:sys_exit_preadv2");
    let p3 = plan(&no_exit, ProbeChoice::Auto).expect("plan");
    let read = p3.get(EventKind::Read).expect("read");
    assert_eq!(read.mode, ProbeMode::Kprobe);
    assert_eq!(read.programs.len(), 8);
    assert!(!read.programs.contains(&"kp_preadv2_enter"));
    assert!(read.note.contains("not on this kernel: tracepoint:syscalls:sys_exit_preadv2"), "{}", read.note);
}

#[test]
fn linux_5_15_lacks_ra_order_and_has_the_old_io_uring_tracepoint() {
    let f = facts("linux-5.15-ubuntu");
    let p = plan(&f, ProbeChoice::Auto).expect("plan");
    check_required(&p, &f.release).expect("recordable");
    let window = p.get(EventKind::ReadaheadWindow).expect("window");
    assert_eq!(window.mode, ProbeMode::Kprobe);
    assert_eq!(window.programs, ["kp_ra_unbounded"]);
    assert!(window.note.contains("not on this kernel: function:page_cache_ra_order"), "{}", window.note);
    // The old io_uring tracepoint is planned (whether its program loads on 5.15's io_kiocb is
    // found by trying it).
    let uring = p.get(EventKind::UringSubmit).expect("uring");
    assert_eq!(uring.mode, ProbeMode::Tracepoint);
    assert_eq!(uring.programs, ["tp_uring_submit_sqe"]);
    assert_eq!(mode(&p, EventKind::UringComplete), ProbeMode::Tracepoint);
    assert_eq!(mode(&p, EventKind::FilemapGetPages), ProbeMode::Kprobe);
}

/// The kinds every kernel of the range must capture with kprobes where they work, and how.
fn assert_kprobe_core(p: &mysql_io_recorder::plan::ProbePlan) {
    for k in [EventKind::Read, EventKind::VfsReadEnter, EventKind::AioSubmit, EventKind::FileOpen] {
        assert_eq!(mode(p, k), ProbeMode::Kprobe, "{k}");
    }
    for k in [EventKind::PageCacheAdd, EventKind::PageCacheDelete, EventKind::TaskFork, EventKind::TaskExec] {
        assert_eq!(mode(p, k), ProbeMode::Tracepoint, "{k}");
    }
}

#[test]
fn linux_5_15_takes_the_new_readahead_names_over_khugepaged_s_copy() {
    // Ubuntu's 5.15 lists page_cache_sync_readahead (a copy only khugepaged calls): the planner
    // must still take page_cache_sync_ra, which the read path calls.
    let f = facts("linux-5.15-ubuntu");
    assert!(f.functions.contains("page_cache_sync_readahead"));
    let p = plan(&f, ProbeChoice::Auto).expect("plan");
    assert_kprobe_core(&p);
    let trigger = p.get(EventKind::ReadaheadTrigger).expect("trigger");
    assert_eq!(trigger.programs, ["kp_ra_sync", "kp_ra_async"]);
    assert!(trigger.note.is_empty(), "{}", trigger.note);
}

#[test]
fn linux_5_14_rhel9_has_the_backported_folio_paths_and_no_io_uring() {
    let f = facts("linux-5.14-rhel9");
    let p = plan(&f, ProbeChoice::Auto).expect("plan");
    check_required(&p, &f.release).expect("recordable");
    assert_kprobe_core(&p);
    // RHEL 9.1 took page_cache_ra_order and filemap_get_pages from 5.18: planned as on 6.1.
    assert_eq!(p.get(EventKind::ReadaheadTrigger).expect("trigger").programs, ["kp_ra_sync", "kp_ra_async"]);
    let window = p.get(EventKind::ReadaheadWindow).expect("window");
    assert_eq!(window.programs, ["kp_ra_order", "kp_ra_unbounded"]);
    assert!(window.note.is_empty(), "{}", window.note);
    assert_eq!(p.get(EventKind::FilemapGetPages).expect("lookups").programs, ["kp_get_pages"]);
    assert_eq!(p.get(EventKind::DioRead).expect("dio").programs, ["kp_dio_read"]);
    // RHEL 9.0-9.2 are built without io_uring: off, and the note says the tracepoints are missing.
    for k in [EventKind::UringSubmit, EventKind::UringComplete] {
        let u = p.get(k).expect("uring");
        assert_eq!(u.mode, ProbeMode::Off, "{k}");
        assert!(u.note.contains("not on this kernel (tracepoint:io_uring:"), "{}", u.note);
    }
}

#[test]
fn linux_5_10_has_the_ra_argument_layout_and_no_page_lookups() {
    let f = facts("linux-5.10-lts");
    let p = plan(&f, ProbeChoice::Auto).expect("plan");
    check_required(&p, &f.release).expect("recordable");
    assert_kprobe_core(&p);
    // The same programs as on 5.15: their CO-RE guards read the file_ra_state from the arguments
    // where readahead_control has no `ra` (crates/recorder/tests/verifier.rs loads them).
    assert_eq!(p.get(EventKind::ReadaheadTrigger).expect("trigger").programs, ["kp_ra_sync", "kp_ra_async"]);
    let window = p.get(EventKind::ReadaheadWindow).expect("window");
    assert_eq!(window.programs, ["kp_ra_unbounded"]);
    assert!(window.note.contains("not on this kernel: function:page_cache_ra_order"), "{}", window.note);
    // filemap_get_pages arrived in 5.12 and its tracepoint later still: no lookups, said so.
    let lookups = p.get(EventKind::FilemapGetPages).expect("lookups");
    assert_eq!(lookups.mode, ProbeMode::Off);
    assert!(
        lookups.note.contains("functions not traceable here (function:filemap_get_pages)")
            && lookups
                .note
                .contains("tracepoint: not on this kernel (tracepoint:filemap:mm_filemap_get_pages)"),
        "{}",
        lookups.note
    );
    assert_eq!(p.get(EventKind::UringSubmit).expect("uring").programs, ["tp_uring_submit_sqe"]);
    // Forced fentry (5.10 has BPF trampolines): the readahead kinds take their fentry programs.
    let fe = plan(&f, ProbeChoice::Fentry).expect("plan");
    assert_eq!(fe.get(EventKind::ReadaheadTrigger).expect("trigger").programs, ["fe_ra_sync", "fe_ra_async"]);
}

#[test]
fn linux_4_18_rhel8_uses_the_readahead_entry_points_of_its_time() {
    let f = facts("linux-4.18-rhel8");
    let p = plan(&f, ProbeChoice::Auto).expect("plan");
    check_required(&p, &f.release).expect("recordable");
    assert_kprobe_core(&p);
    let trigger = p.get(EventKind::ReadaheadTrigger).expect("trigger");
    assert_eq!(trigger.mode, ProbeMode::Kprobe);
    assert_eq!(trigger.programs, ["kp_ra_sync_old", "kp_ra_async_old"]);
    assert_eq!(trigger.attach, ["function:page_cache_sync_readahead", "function:page_cache_async_readahead"]);
    // The newer names' absence is no news once the older ones work: no note.
    assert!(trigger.note.is_empty(), "{}", trigger.note);
    let window = p.get(EventKind::ReadaheadWindow).expect("window");
    assert_eq!(window.programs, ["kp_ra_unbounded_old"]);
    assert_eq!(window.attach, ["function:__do_page_cache_readahead"]);
    assert_eq!(p.get(EventKind::DioRead).expect("dio").programs, ["kp_dio_read_old"]);
    assert_eq!(mode(&p, EventKind::FilemapGetPages), ProbeMode::Off);
    // No io_uring in RHEL 8, no openat2 (only openat is planned, and the note says so).
    assert_eq!(mode(&p, EventKind::UringSubmit), ProbeMode::Off);
    let open = p.get(EventKind::FileOpen).expect("open");
    assert_eq!(open.programs[0], "kp_openat_enter");
    assert!(!open.programs.contains(&"kp_openat2_enter"));
    assert!(open.note.contains("not on this kernel: function:__x64_sys_openat2"), "{}", open.note);
    // fentry is not known to work on RHEL 8: planned as unknown (the loader tries it), and kinds
    // whose fentry program failed move to the next mode.
    let mut no_fentry = f.clone();
    no_fentry.broken.insert("fe_io_submit_exit".into(), "Operation not supported".into());
    let p2 = plan(&no_fentry, ProbeChoice::Auto).expect("plan");
    let exit = p2.get(EventKind::AioSubmitExit).expect("exit");
    assert_eq!(exit.mode, ProbeMode::Tracepoint);
    assert!(exit.note.contains("fentry failed here (Operation not supported)"), "{}", exit.note);
    // Without BTF-typed tracepoints or bpf_rdonly_cast (6.2), the raw syscall programs.
    let mut old = f.clone();
    old.broken.insert("bt_sys_enter".into(), "unknown func bpf_rdonly_cast".into());
    old.broken.insert("bt_sys_exit".into(), "attach type not supported".into());
    let p3 = plan(&old, ProbeChoice::Auto).expect("plan");
    assert_eq!(p3.get(EventKind::Read).expect("read").programs.last(), Some(&"rt_sys_exit"));
    let tp = plan(&old, ProbeChoice::Tracepoint).expect("plan");
    assert_eq!(tp.get(EventKind::Read).expect("read").programs, ["rt_sys_enter", "rt_sys_exit"]);
    // Forced tracepoints: the readahead kinds have none before 6.18, so they keep their kprobes.
    assert_eq!(mode(&tp, EventKind::ReadaheadTrigger), ProbeMode::Kprobe);
}

#[test]
fn nothing_to_attach_is_an_error_and_required_kinds_are_checked() {
    let mut f = facts("linux-6.18-tracepoints-only");
    f.tracepoints.clear();
    assert!(matches!(plan(&f, ProbeChoice::Auto), Err(PlanError::NothingAvailable { .. })));
    let mut f = facts("linux-6.18-tracepoints-only");
    f.tracepoints.retain(|t| {
        !t.starts_with("syscalls:sys_enter_read")
            && !t.starts_with("syscalls:sys_enter_p")
            && !t.starts_with("raw_syscalls")
    });
    let p = plan(&f, ProbeChoice::Auto).expect("plan");
    let err = check_required(&p, &f.release).expect_err("no read probe");
    assert!(
        err.starts_with("recording cannot work on this kernel (Linux 6.18.44-fc-v470): no probe for read"),
        "{err}"
    );
}
