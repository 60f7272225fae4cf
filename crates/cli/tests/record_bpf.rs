//! The recorder on the real kernel (root): `mysql-io record` traces helper programs doing known
//! I/O on a loop-mounted ext4 filesystem with a chosen read_ahead_kb, and the trace must hold
//! exactly what they did. Test names start with `root_`; they fail (never skip) without root.

// The recorder's tests: the analysis-only build (`--no-default-features --features analysis`)
// has no recorder.
#![cfg(feature = "record")]

#[path = "../../recorder/tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mysql_io_format::{Event, EventBody, EventKind, ProbeMode, RaDecision, Read, TraceFile};
use serde_json::Value;
use support::{
    helper, json_lines, read_calls, require_root, text, triggers_of, windows_of, HelperProcess, LoopFs,
    Recording,
};

fn mysql_io() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mysql-io"))
}

/// Runs `mysql-io record ARGS -o TRACE -- CMD...` and returns its output (the command's stdout).
fn record_command(trace: &Path, extra: &[&str], command: &[&str]) -> Output {
    let out = mysql_io()
        .arg("record")
        .args(extra)
        .arg("-o")
        .arg(trace)
        .arg("--")
        .args(command)
        .output()
        .expect("run mysql-io record");
    assert!(out.status.success(), "record failed: {}", text(&out.stderr));
    out
}

struct Trace {
    events: Vec<Event>,
    files: BTreeMap<(u32, u64), String>,
    threads: BTreeMap<u32, String>,
    probes: BTreeMap<u8, ProbeMode>,
    lost: u64,
}

fn read_trace(path: &Path) -> Trace {
    let file = TraceFile::open(path).expect("open trace");
    let t = file.parse().expect("parse trace");
    assert!(t.damage().is_empty(), "{:?}", t.damage());
    let events: Vec<Event> = t.events().collect::<Result<_, _>>().expect("decode");
    let lost = t.footer().map(|f| f.totals.lost.iter().map(|l| l.2).sum()).unwrap_or(0);
    Trace {
        events,
        files: t.files().iter().map(|f| ((f.dev, f.ino), f.path.clone())).collect(),
        threads: t.threads().iter().map(|th| (th.tid, th.comm.clone())).collect(),
        probes: t.header().probes.iter().map(|p| (p.kind, p.mode)).collect(),
        lost,
    }
}

fn ino_of(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat").ino()
}

fn hex(v: &Value) -> u64 {
    let s = v.as_str().expect("hex string");
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex")
}

fn kernel_has_kprobes() -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe").exists()
        || Path::new("/sys/kernel/tracing/kprobe_events").exists()
        || Path::new("/sys/kernel/debug/tracing/kprobe_events").exists()
}

/// Known reads on a file of a loop-mounted ext4 with read_ahead_kb 128 and 512: the trace holds
/// exactly its read calls (syscall, fd, offset, size, inode, result), the page-cache inserts of
/// that inode, and readahead decisions whose ra_pages is read_ahead_kb / 4.
#[test]
fn root_known_reads_are_recorded_exactly() {
    require_root();
    for ra_kb in [128u32, 512] {
        let fs = LoopFs::new(64, ra_kb);
        let data = fs.create_file("data", 4 << 20);
        let ino = ino_of(&data);
        let dir = tempfile::tempdir().expect("tempdir");
        let trace_path = dir.path().join("t.mio");
        let script = [
            "pread:0:16384",
            "pread:1048576:4096",
            "read:8192",
            "seek:65536",
            "read:4096",
            "preadv:2097152:4096,8192",
            "readv:4096,4096",
            "preadv2:3145728:16384",
        ];
        let reads = helper("reads");
        let mut cmd: Vec<&str> = vec![reads.to_str().expect("path"), data.to_str().expect("path")];
        cmd.extend(script);
        let out = record_command(&trace_path, &[], &cmd);
        let did = read_calls(json_lines(&out.stdout));
        assert_eq!(did.len(), 7, "{did:?}");

        let t = read_trace(&trace_path);
        assert_eq!(t.lost, 0);
        // Every read call on the data file, in order, one event each, and nothing else on it.
        let reads: Vec<(u64, Read)> = t
            .events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Read(r) if r.file.ino == ino => Some((e.ts, r.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(reads.len(), did.len(), "ra_kb {ra_kb}: {reads:?}");
        for ((_, r), d) in reads.iter().zip(&did) {
            assert_eq!(r.file.dev, fs.dev(), "device in kernel encoding");
            assert_eq!(r.syscall.name(), d["op"].as_str().expect("op"));
            assert_eq!(r.fd as i64, d["fd"].as_i64().expect("fd"));
            assert_eq!(r.pos, d["offset"].as_i64().expect("offset"), "{d}");
            assert_eq!(r.count as i64, d["len"].as_i64().expect("len"), "{d}");
            assert_eq!(r.ret, d["ret"].as_i64().expect("ret"), "{d}");
            // Each went through the page cache once (these sizes take one lookup batch), over
            // exactly its own pages.
            let first = r.pos as u64 / 4096;
            assert_eq!(
                (r.lookups, r.first_page, r.last_page),
                (1, first, (r.pos as u64 + r.count - 1) / 4096),
                "{d}"
            );
            assert!(r.latency_ns > 0 && r.latency_ns < 10_000_000_000, "{r:?}");
        }
        // One after the other: each read began after the previous one returned.
        for w in reads.windows(2) {
            assert!(w[1].0 - w[1].1.latency_ns >= w[0].0, "{w:?}");
        }
        let vector_counts: Vec<u32> = reads.iter().map(|(_, r)| r.iovcnt).collect();
        assert_eq!(vector_counts, [1, 1, 1, 1, 2, 2, 1]);
        // Their lookups are in their events: no separate filemap_get_pages on the file.
        assert!(!t.events.iter().any(|e| matches!(&e.body, EventBody::FilemapGetPages(g) if g.ino == ino)));
        assert_eq!(t.files.get(&(fs.dev(), ino)).map(String::as_str), Some(data.to_str().expect("path")));

        // The page-cache inserts of the file cover every page the reads asked for.
        let added: BTreeSet<u64> = t
            .events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::PageCacheAdd(p) if p.ino == ino => {
                    Some((p.index..p.index + (1 << p.order)).collect::<Vec<_>>())
                }
                _ => None,
            })
            .flatten()
            .collect();
        for (_, e) in &reads {
            for page in (e.pos as u64 / 4096)..(e.pos as u64 + e.count).div_ceil(4096) {
                assert!(added.contains(&page), "ra_kb {ra_kb}: page {page} of a read not inserted");
            }
        }
        // Readahead decisions carry the device's setting.
        let want_pages = ra_kb / 4;
        let triggers = triggers_of(&t.events, ino);
        assert!(!triggers.is_empty());
        assert!(triggers.iter().all(|r| r.state.ra_pages == want_pages), "{triggers:?}");
        let windows: Vec<_> =
            windows_of(&t.events, ino).into_iter().filter(|w| w.decision == RaDecision::Order).collect();
        assert!(!windows.is_empty());
        assert!(windows.iter().all(|w| w.ra_pages == want_pages), "{windows:?}");
        // The first read of the cold file starts a window at page 0 of at most ra_pages pages.
        assert_eq!(windows[0].index, 0);
        assert!(windows[0].size >= 4 && windows[0].size <= u64::from(want_pages), "{:?}", windows[0]);
        // On this kernel every kind is a tracepoint unless kprobes exist.
        let read_mode = t.probes[&EventKind::Read.code()];
        let want = if kernel_has_kprobes() { ProbeMode::Kprobe } else { ProbeMode::Tracepoint };
        assert_eq!(read_mode, want);
    }
}

/// libaio: every iocb of an io_submit decoded with its fd, offset, size and user data, and every
/// completion reaped by io_getevents.
#[test]
fn root_libaio_iocbs_and_completions() {
    require_root();
    let fs = LoopFs::new(64, 128);
    let data = fs.create_file("aio", 4 << 20);
    let ino = ino_of(&data);
    let dir = tempfile::tempdir().expect("tempdir");
    let trace_path = dir.path().join("aio.mio");
    let aio = helper("aio");
    let out = record_command(
        &trace_path,
        &[],
        &[aio.to_str().expect("path"), data.to_str().expect("path"), "16", "16384", "65536"],
    );
    let lines = json_lines(&out.stdout);
    let ctx = lines.iter().find(|l| l["op"] == "io_setup").expect("io_setup")["ctx"].as_u64().expect("ctx");
    let iocbs: BTreeMap<u64, &Value> =
        lines.iter().filter(|l| l["op"] == "iocb").map(|l| (hex(&l["iocb"]), l)).collect();
    assert_eq!(iocbs.len(), 16);

    let t = read_trace(&trace_path);
    let submits: Vec<_> = t
        .events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::AioSubmit(s) if s.file.ino == ino => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(submits.len(), 16, "{submits:?}");
    for s in &submits {
        let l = iocbs.get(&s.iocb).unwrap_or_else(|| panic!("unknown iocb {:#x}", s.iocb));
        assert_eq!(s.ctx, ctx);
        assert_eq!(s.fd as i64, l["fd"].as_i64().expect("fd"));
        assert_eq!(s.offset, l["offset"].as_i64().expect("offset"));
        assert_eq!(s.nbytes, l["len"].as_u64().expect("len"));
        assert_eq!(s.data, l["data"].as_u64().expect("data"));
        assert_eq!(s.opcode, mysql_io_format::AioOpcode::Pread);
    }
    let exit = t
        .events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::AioSubmitExit(x) if x.ctx == ctx => Some(x.clone()),
            _ => None,
        })
        .expect("io_submit exit");
    assert_eq!((exit.nr, exit.ret), (16, 16));
    let completions: Vec<_> = t
        .events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::AioComplete(c) if c.ctx == ctx => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(completions.len(), 16);
    for c in &completions {
        let l = iocbs.get(&c.iocb).expect("completion of a submitted iocb");
        assert_eq!(c.data, l["data"].as_u64().expect("data"));
        assert_eq!(c.res, 16384);
    }
}

/// A process already running, attached with -p, and threads it creates after recording started.
#[test]
fn root_attach_by_pid_follows_new_threads() {
    require_root();
    let fs = LoopFs::new(64, 128);
    let data = fs.create_file("threads", 1 << 20);
    let ino = ino_of(&data);
    let dir = tempfile::tempdir().expect("tempdir");
    let trace_path = dir.path().join("p.mio");
    let mut h = HelperProcess::spawn("threads", &[data.to_str().expect("path"), "3", "8192"]);
    let ready = h.wait_ready();
    let pid = h.pid();
    assert_eq!(ready["pid"].as_u64(), Some(u64::from(pid)));

    let rec = Recording::start(mysql_io().args(["record", "-p", &pid.to_string(), "-o"]).arg(&trace_path));
    h.go();
    let lines = h.finish();
    // The recorder stops by itself once its only target has exited.
    let (status, err) = rec.wait();
    assert!(status.success(), "{err}");
    assert!(err.contains("every traced process exited"), "{err}");

    let tids: BTreeSet<u32> = lines
        .iter()
        .filter(|l| l["op"] == "thread")
        .map(|l| l["tid"].as_u64().expect("tid") as u32)
        .collect();
    assert_eq!(tids.len(), 3);
    let t = read_trace(&trace_path);
    let forks: BTreeSet<u32> = t
        .events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::TaskFork(f) if e.pid == pid && f.child_pid == pid => Some(f.child_tid),
            _ => None,
        })
        .collect();
    assert!(tids.is_subset(&forks), "thread creations {forks:?} lack {tids:?}");
    for &tid in &tids {
        let reads: Vec<i64> = t
            .events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Read(r) if e.tid == tid && r.file.ino == ino => Some(r.pos),
                _ => None,
            })
            .collect();
        let did: Vec<i64> = lines
            .iter()
            .filter(|l| l["op"] == "pread64" && l["tid"].as_u64() == Some(u64::from(tid)))
            .map(|l| l["offset"].as_i64().expect("offset"))
            .collect();
        assert_eq!(reads, did, "thread {tid}");
        assert_eq!(reads.len(), 4);
        assert!(t.threads.get(&tid).is_some_and(|c| c.starts_with("worker-")), "{:?}", t.threads.get(&tid));
    }
}

/// No drops at the helpers' rates with the default ring buffer; a 16 KiB ring buffer under a read
/// storm loses events, and the trace says how many, of which kinds.
#[test]
fn root_drops_are_zero_normally_and_counted_when_the_buffer_is_tiny() {
    require_root();
    let fs = LoopFs::new(64, 128);
    let data = fs.create_file("storm", 1 << 20);
    let dir = tempfile::tempdir().expect("tempdir");
    let reads = helper("reads");
    let (r, d) = (reads.to_str().expect("path"), data.to_str().expect("path"));

    let normal = dir.path().join("normal.mio");
    record_command(&normal, &[], &[r, d, "loop:1:16384:1048576"]);
    let t = read_trace(&normal);
    let n = t.events.iter().filter(|e| e.kind() == EventKind::Read).count();
    assert!(n > 1000, "only {n} reads");
    assert_eq!(t.lost, 0);

    let tiny = dir.path().join("tiny.mio");
    let script = format!("{r} {d} loop:2:64:65536 & {r} {d} loop:2:64:65536 & wait");
    record_command(&tiny, &["--ringbuf-mb", "0.015625"], &["sh", "-c", &script]);
    let t = read_trace(&tiny);
    assert!(t.lost > 0, "a 16 KiB ring buffer under two read storms lost nothing");
    let lost_kinds: BTreeSet<u8> = t
        .events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Lost(l) => Some(l.kind),
            _ => None,
        })
        .collect();
    assert!(lost_kinds.iter().all(|&k| EventKind::from_code(k).is_some()), "{lost_kinds:?}");
    let info = mysql_io().args(["info", "--format", "json"]).arg(&tiny).output().expect("info");
    let v: Value = serde_json::from_slice(&info.stdout).expect("json");
    assert_eq!(v["lost"].as_u64(), Some(t.lost));
}

/// doctor and `record --probes auto` resolve to what this kernel offers (tracepoints here: no
/// kprobes); `--probes kprobe` on a kernel without kprobes is refused in one sentence.
#[test]
fn root_doctor_and_probe_choice() {
    require_root();
    let mut sleeper = Command::new("sleep").arg("60").spawn().expect("sleep");
    let pid = sleeper.id().to_string();
    let out = mysql_io().args(["doctor", "--format", "json", "-p", &pid]).output().expect("doctor");
    let v: Value = serde_json::from_slice(&out.stdout).expect("doctor json");
    let kinds = v["kinds"].as_array().expect("kinds");
    let read = kinds.iter().find(|k| k["kind"] == "read").expect("read");
    if kernel_has_kprobes() {
        assert_eq!(read["auto"], "kprobe");
    } else {
        assert_eq!(read["auto"], "tracepoint");
        assert_eq!(v["kprobe"]["state"], "fails");
        assert!(v["kprobe"]["reason"].as_str().expect("reason").contains("no kprobes"));
        for k in kinds.iter().filter(|k| k["kind"] != "vfs_read_enter" && k["kind"] != "vfs_read_exit") {
            assert_eq!(k["auto"], "tracepoint", "{k}");
        }
        let out = mysql_io()
            .args(["record", "--probes", "kprobe", "-d", "1s", "--", "true"])
            .output()
            .expect("record");
        assert_eq!(out.status.code(), Some(2));
        let err = text(&out.stderr);
        assert!(
            err.contains("--probes kprobe cannot work on this kernel") && err.contains("no kprobes"),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    assert!(out.status.success(), "doctor with a target should pass: {}", text(&out.stderr));
    assert_eq!(v["processes"][0]["comm"], "sleep");
    let human = mysql_io().args(["doctor", "-p", &pid]).output().expect("doctor");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let s = text(&human.stdout);
    assert!(
        s.contains(&format!("recording works here; run:\n  sudo mysql-io record -d 60s -p {pid} -o ")),
        "{s}"
    );
}

/// Bad input: one sentence, exit 2, nothing left behind.
#[test]
fn root_bad_input_is_refused_clearly() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let out_file: PathBuf = dir.path().join("x.mio");
    let o = out_file.to_str().expect("path");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["record", "-p", "4194999", "-o", o], "no process with pid 4194999"),
        (vec!["record", "-o", o], "no mysqld or mariadbd process is running"),
        (vec!["record", "-o", "/proc/no/such/dir/x.mio", "--", "true"], "cannot create the trace file"),
        (vec!["record", "--ringbuf-mb", "3", "-o", o, "--", "true"], "--ringbuf-mb must make a power of two"),
        (vec!["record", "-d", "soon", "-o", o], "invalid value 'soon'"),
        (vec!["record", "--max-size", "lots", "-o", o], "or none for no bound"),
        (
            vec!["record", "--mysql-defaults-file", "/no/such.cnf", "-o", o, "--", "true"],
            "cannot read the client option file /no/such.cnf",
        ),
    ];
    for (args, want) in cases {
        let out = mysql_io().args(&args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out_file.exists(), "{args:?} left {}", out_file.display());
    }
    // Not root and no capabilities: run as nobody.
    let out = as_nobody(&[])
        .args(["record", "-o", "/tmp/mysql-io-nobody.mio", "--", "true"])
        .output()
        .expect("setpriv");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("needs CAP_BPF and CAP_PERFMON") && err.contains("sudo"), "{err}");
}

/// `mysql-io` as user nobody with these capabilities (ambient, so they survive the exec).
fn as_nobody(caps: &[&str]) -> Command {
    let caps = caps.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(",");
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    if !caps.is_empty() {
        c.arg(format!("--inh-caps={caps}")).arg(format!("--ambient-caps={caps}"));
    }
    c.arg("--").arg(env!("CARGO_BIN_EXE_mysql-io"));
    c
}

/// Least privilege: user nobody with CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE
/// (no CAP_SYS_RESOURCE: this host's bounding set lacks it, and Linux 5.11+ does not need it)
/// records root's helper by pid exactly as root does; without CAP_SYS_PTRACE it refuses,
/// naming it, and doctor says what is effective.
#[test]
fn root_capabilities_instead_of_root_record_the_same_reads() {
    use std::os::unix::fs::PermissionsExt;
    require_root();
    const CAPS: [&str; 4] = ["bpf", "perfmon", "dac_read_search", "sys_ptrace"];
    let fs = LoopFs::new(64, 128);
    let data = fs.create_file("caps", 1 << 20);
    let ino = ino_of(&data);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let trace_path = dir.path().join("caps.mio");
    let mut h = HelperProcess::spawn("threads", &[data.to_str().expect("path"), "2", "8192"]);
    h.wait_ready();
    let pid = h.pid().to_string();

    // Each missing capability is named: tracefs (mode 0700) needs CAP_DAC_READ_SEARCH, root's
    // process CAP_SYS_PTRACE.
    let out =
        as_nobody(&CAPS[..2]).args(["record", "-p", &pid, "-o"]).arg(&trace_path).output().expect("setpriv");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("needs CAP_DAC_READ_SEARCH"), "{}", text(&out.stderr));
    let out =
        as_nobody(&CAPS[..3]).args(["record", "-p", &pid, "-o"]).arg(&trace_path).output().expect("setpriv");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("CAP_SYS_PTRACE") && err.contains(&format!("process {pid}")), "{err}");
    assert!(!trace_path.exists());

    let out = as_nobody(&CAPS).args(["doctor", "--format", "json", "-p", &pid]).output().expect("doctor");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("doctor json");
    assert_eq!(v["can_load"], true);
    let caps = v["capabilities"].as_str().expect("capabilities");
    assert!(caps.contains("CAP_BPF yes") && caps.contains("CAP_SYS_RESOURCE no"), "{caps}");
    assert!(v["processes"][0]["files"].as_array().is_some_and(|f| !f.is_empty()), "{v}");

    let rec = Recording::start(as_nobody(&CAPS).args(["record", "-p", &pid, "-o"]).arg(&trace_path));
    h.go();
    let lines = h.finish();
    let (status, err) = rec.wait();
    assert!(status.success(), "{err}");
    let t = read_trace(&trace_path);
    assert_eq!(t.lost, 0);
    let did: Vec<(u64, i64)> = lines
        .iter()
        .filter(|l| l["op"] == "pread64")
        .map(|l| (l["tid"].as_u64().expect("tid"), l["offset"].as_i64().expect("offset")))
        .collect();
    let mut recorded: Vec<(u64, i64)> = t
        .events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Read(r) if r.file.ino == ino => Some((u64::from(e.tid), r.pos)),
            _ => None,
        })
        .collect();
    let mut want = did.clone();
    want.sort_unstable();
    recorded.sort_unstable();
    assert_eq!(recorded, want);
    assert_eq!(want.len(), 8);
    assert_eq!(t.files.get(&(fs.dev(), ino)).map(String::as_str), Some(data.to_str().expect("path")));
}

/// Page-cache deletes of a file a target read are recorded whoever causes them: here the test
/// process itself, which is not traced, evicts the file while the target waits.
#[test]
fn root_evictions_by_other_tasks_are_recorded() {
    require_root();
    let fs = LoopFs::new(64, 128);
    let data = fs.create_file("evict", 1 << 20);
    let ino = ino_of(&data);
    let dir = tempfile::tempdir().expect("tempdir");
    let trace_path = dir.path().join("e.mio");
    let mut h =
        HelperProcess::spawn("reads", &[data.to_str().expect("path"), "wait", "pread:0:262144", "wait"]);
    h.wait_ready();
    let pid = h.pid();
    let rec = Recording::start(mysql_io().args(["record", "-p", &pid.to_string(), "-o"]).arg(&trace_path));
    h.go(); // the target reads 256 KiB, then waits again
    h.wait_ready();
    fs.drop_cache(&data); // evicted by the test process
    std::thread::sleep(Duration::from_millis(300));
    h.go();
    h.finish();
    let (status, err) = rec.wait();
    assert!(status.success(), "{err}");

    let t = read_trace(&trace_path);
    let me = std::process::id();
    let pages = |kind: EventKind, task: u32| -> BTreeSet<u64> {
        t.events
            .iter()
            .filter(|e| e.kind() == kind && e.pid == task)
            .filter_map(|e| match &e.body {
                EventBody::PageCacheAdd(p) if p.ino == ino => Some(p.index..p.index + (1 << p.order)),
                EventBody::PageCacheDelete(p) if p.ino == ino => Some(p.index..p.index + (1 << p.order)),
                _ => None,
            })
            .flatten()
            .collect()
    };
    // The pages the read returned (0-63); readahead beyond them may still be in flight when the
    // test evicts, and pages under I/O are not evicted.
    let added: BTreeSet<u64> = pages(EventKind::PageCacheAdd, pid).into_iter().filter(|&p| p < 64).collect();
    let deleted = pages(EventKind::PageCacheDelete, me);
    assert_eq!(added.len(), 64, "{added:?}");
    assert!(
        added.is_subset(&deleted),
        "pages read by the target but whose eviction was not seen: {:?}",
        added.difference(&deleted).collect::<Vec<_>>()
    );
}

/// Processes named with --comm that start while recording are traced from their exec on.
#[test]
fn root_processes_started_during_recording_are_followed() {
    require_root();
    let fs = LoopFs::new(64, 128);
    let data = fs.create_file("late", 1 << 20);
    let ino = ino_of(&data);
    let dir = tempfile::tempdir().expect("tempdir");
    // A copy of the reads helper under a name no other process has.
    let late = dir.path().join("mio-late-reader");
    std::fs::copy(helper("reads"), &late).expect("copy helper");
    let trace_path = dir.path().join("late.mio");
    let rec = Recording::start(
        mysql_io().args(["record", "--comm", "mio-late-reader", "-d", "6s", "-o"]).arg(&trace_path),
    );
    let out = Command::new(&late)
        .args([data.to_str().expect("path"), "pread:0:4096", "pread:8192:4096"])
        .output()
        .expect("run late reader");
    assert!(out.status.success());
    let pid = json_lines(&out.stdout).iter().find_map(|l| l["tid"].as_u64()).expect("tid") as u32;
    let (status, err) = rec.wait();
    assert!(status.success(), "{err}");
    let t = read_trace(&trace_path);
    let reads: Vec<i64> = t
        .events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Read(r) if e.pid == pid && r.file.ino == ino => Some(r.pos),
            _ => None,
        })
        .collect();
    assert_eq!(reads, [0, 8192]);
    assert!(t.events.iter().any(|e| e.pid == pid && e.kind() == EventKind::TaskExec));
}

/// The self-check: a readahead probe that is planned but never fires (its programs left out with
/// the test hook MYSQL_IO_SILENCE) is reported while cold buffered reads insert pages; with the
/// probe in place, nothing is said. The same reads either way: 32 reads of 4 KiB, 256 KiB apart,
/// from a cold 8 MiB file on its own filesystem.
#[test]
fn root_a_probe_that_never_fires_is_reported() {
    require_root();
    // 4 KiB every 256 KiB: beyond any window a 128 KiB readahead opens, so every read misses.
    let script: Vec<String> = (0..32).map(|i| format!("pread:{}:4096", i * 262144)).collect();
    let reads = helper("reads");
    let run = |silence: Option<&str>| -> (String, Trace) {
        let fs = LoopFs::new(16, 128);
        let data = fs.create_file("data", 8 << 20);
        let dir = tempfile::tempdir().expect("tempdir");
        let trace_path = dir.path().join("t.mio");
        let mut cmd = mysql_io();
        cmd.args(["record", "-o"]).arg(&trace_path).arg("--").arg(&reads).arg(&data).args(&script);
        if let Some(kinds) = silence {
            cmd.env("MYSQL_IO_SILENCE", kinds);
        }
        let out = cmd.output().expect("record");
        assert!(out.status.success(), "{}", text(&out.stderr));
        (text(&out.stderr), read_trace(&trace_path))
    };
    let (err, t) = run(Some("readahead_trigger"));
    let count = |t: &Trace, k: EventKind| t.events.iter().filter(|e| e.body.kind() == k).count();
    assert_eq!(count(&t, EventKind::ReadaheadTrigger), 0);
    assert!(count(&t, EventKind::PageCacheAdd) >= 16, "{}", count(&t, EventKind::PageCacheAdd));
    assert!(
        err.contains("warning: no readahead_trigger event yet although ")
            && err.contains(" buffered reads missed the page cache and inserted pages")
            && err.contains("is attached but has not fired"),
        "{err}"
    );
    // The header still says the kind was planned, as it would for a probe that never fired.
    assert_eq!(t.probes.get(&EventKind::ReadaheadTrigger.code()), Some(&ProbeMode::Tracepoint));
    let (err, t) = run(None);
    assert!(count(&t, EventKind::ReadaheadTrigger) > 0);
    assert!(!err.contains("has not fired"), "{err}");
}

/// An existing trace is not replaced without --force; SIGTERM and SIGHUP end a recording cleanly
/// (complete trace, exit 0); the default size bound is announced; --max-size stops it; the trace is
/// mode 0600 even over an existing file.
#[test]
fn root_stop_conditions_and_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sleeper = Command::new("sleep").arg("60").spawn().expect("sleep");
    let trace_path = dir.path().join("term.mio");
    std::fs::write(&trace_path, "old").expect("write");
    std::fs::set_permissions(&trace_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let sleeper_pid = sleeper.id().to_string();
    // An existing file is somebody's trace: refused without --force, and left as it was.
    let out =
        mysql_io().args(["record", "-p", &sleeper_pid, "-o"]).arg(&trace_path).output().expect("record");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&trace_path).expect("read"), "old");
    // SIGTERM (a service manager) and SIGHUP (the ssh session dropped) end it like Ctrl-C.
    // SIGHUP is reset to its default for the recorder: tests run under nohup pass it on ignored.
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let rec = Recording::start(
            Command::new("env")
                .args(["--default-signal=HUP", env!("CARGO_BIN_EXE_mysql-io")])
                .args(["record", "--force", "-p", &sleeper_pid, "-o"])
                .arg(&trace_path),
        );
        rec.signal(sig);
        let (status, err) = rec.wait();
        assert!(status.success(), "signal {sig}: {err}");
        assert!(err.contains("(interrupted)"), "{err}");
        assert!(err.contains("or until 1.0 GiB are written (--max-size)"), "{err}");
        let mode = std::fs::metadata(&trace_path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let file = TraceFile::open(&trace_path).expect("open");
        let t = file.parse().expect("parse");
        assert!(t.footer().is_some() && t.damage().is_empty(), "signal {sig}: {:?}", t.damage());
    }
    // Under nohup (SIGHUP ignored) a hang-up does not stop it; Ctrl-C still does.
    let rec = Recording::start(
        Command::new("nohup")
            .arg(env!("CARGO_BIN_EXE_mysql-io"))
            .args(["record", "--force", "-p", &sleeper_pid, "-o"])
            .arg(&trace_path),
    );
    rec.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(1500));
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", rec.pid())).unwrap_or_default();
    let state = stat.rsplit_once(')').map_or("", |(_, r)| r.trim_start()).chars().next();
    assert!(matches!(state, Some('S' | 'R')), "not running after SIGHUP under nohup: {stat}");
    rec.signal(libc::SIGINT);
    let (status, err) = rec.wait();
    assert!(status.success(), "{err}");
    let _ = sleeper.kill();
    let _ = sleeper.wait();

    let fs = LoopFs::new(64, 128);
    let data = fs.create_file("big", 1 << 20);
    let sized = dir.path().join("sized.mio");
    let reads = helper("reads");
    let started = Instant::now();
    let out = mysql_io()
        .args(["record", "--max-size", "64K", "-o"])
        .arg(&sized)
        .args(["--", reads.to_str().expect("path"), data.to_str().expect("path"), "loop:20:64:65536"])
        .output()
        .expect("record");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("the trace reached --max-size"), "{}", text(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(15), "did not stop early");
    assert!(std::fs::metadata(&sized).expect("stat").len() >= 64 << 10);
}

/// A real recording analyzed: 64 sequential 16 KiB preads, then 4 far jumps, through one
/// descriptor. The analyses agree with what the helper did: 68 reads, 63 sequential, read-ahead
/// pages used by the sequential run.
#[test]
fn root_analysis_of_a_real_recording_agrees_with_the_helper() {
    require_root();
    let fs = LoopFs::new(64, 128);
    let data = fs.create_file("seqdata", 4 << 20);
    let dir = tempfile::tempdir().expect("tempdir");
    let trace_path = dir.path().join("a.mio");
    let reads = helper("reads");
    let mut script: Vec<String> = (0..64).map(|i| format!("pread:{}:16384", i * 16384)).collect();
    script.extend(
        ["pread:3145728:16384", "pread:1048576:16384", "pread:524288:16384", "pread:2621440:16384"]
            .map(String::from),
    );
    let mut cmd: Vec<&str> = vec![reads.to_str().expect("path"), data.to_str().expect("path")];
    cmd.extend(script.iter().map(String::as_str));
    let out = record_command(&trace_path, &[], &cmd);
    let did = json_lines(&out.stdout).iter().filter(|l| l["op"] == "pread64").count();
    assert_eq!(did, 68);

    let t = trace_path.to_str().expect("path");
    let json = |args: &[&str]| -> Value {
        let out = mysql_io().args(args).output().expect("analyze");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let seq = json(&["analyze", "sequentiality", t, "--file", "seqdata", "--format", "json"]);
    let row = &seq["rows"][0];
    assert_eq!(row["group"].as_str(), data.to_str());
    assert_eq!(row["reads"], 68);
    assert_eq!(row["bytes"], 68 * 16384);
    assert!((row["seq_ratio"].as_f64().expect("f") - 63.0 / 68.0).abs() < 1e-12, "{row}");
    assert!((row["near_seq_ratio"].as_f64().expect("f") - 63.0 / 68.0).abs() < 1e-12, "{row}");
    assert_eq!(row["reverse_ratio"], 0.0);
    let runs: Vec<(String, u64)> = row["run_length_histogram"]
        .as_array()
        .expect("runs")
        .iter()
        .filter(|b| b["count"] != 0)
        .map(|b| (b["bucket"].as_str().expect("s").to_string(), b["count"].as_u64().expect("n")))
        .collect();
    assert_eq!(runs, [("1".to_string(), 4), ("33-64".to_string(), 1)]);

    let files = json(&["analyze", "files", t, "--file", "seqdata", "--format", "json"]);
    let f = &files["files"][0];
    assert_eq!(f["reads"], 68);
    assert_eq!(f["apis"]["pread64"], 68);
    assert_eq!(f["direct"], false);

    // The sequential run was served by readahead: pages read ahead and then used, and most of
    // the 272 requested pages were hits.
    let ra = json(&["analyze", "readahead", t, "--file", "seqdata", "--format", "json"]);
    let r = &ra["files"][0];
    assert_eq!(r["pages_requested"], 68 * 4);
    assert!(r["pages_read_ahead"].as_u64().expect("n") >= 200, "{r}");
    assert!(r["used"].as_u64().expect("n") >= 200, "{r}");
    assert!(r["hit_ratio"].as_f64().expect("f") > 0.7, "{r}");
    assert!(r["async_triggers"].as_u64().expect("n") > 0, "{r}");

    let threads = json(&["analyze", "threads", t, "--file", "seqdata", "--format", "json"]);
    assert_eq!(threads["threads"][0]["reads"], 68);
    assert_eq!(threads["threads"][0]["comm"], "reads");
}

/// `--redact`: the file's name, the host name and the command lines do not reach the trace; the
/// extension and the reads do.
#[test]
fn root_redact_keeps_shapes_not_names() {
    require_root();
    let fs = LoopFs::new(64, 128);
    let data = fs.create_file("customer_orders.ibd", 1 << 20);
    let dir = tempfile::tempdir().expect("tempdir");
    let trace_path = dir.path().join("r.mio");
    let reads = helper("reads");
    let cmd =
        [reads.to_str().expect("path"), data.to_str().expect("path"), "pread:0:16384", "pread:65536:16384"];
    record_command(&trace_path, &["--redact"], &cmd);
    let bytes = std::fs::read(&trace_path).expect("read trace");
    let file = TraceFile::open(&trace_path).expect("open trace");
    let t = file.parse().expect("parse trace");
    assert_eq!(t.header().host, "redacted");
    assert!(t.header().command.iter().all(|a| !a.contains('/')), "{:?}", t.header().command);
    let ino = ino_of(&data);
    let f = t.files().iter().find(|f| f.ino == ino).expect("the data file is in the trace");
    assert!(f.path.ends_with(".ibd") && !f.path.contains("customer_orders"), "{}", f.path);
    // Nowhere in the file, compressed or not (the metadata records are not compressed).
    let needle = b"customer_orders";
    assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    let reads = read_trace(&trace_path)
        .events
        .iter()
        .filter(|e| matches!(&e.body, EventBody::Read(r) if r.file.ino == ino))
        .count();
    assert_eq!(reads, 2);
}
