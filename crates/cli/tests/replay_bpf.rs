//! `mysql-io replay` against the real kernel (root): workloads of known shape are recorded on
//! one loop-mounted ext4 at read_ahead_kb 128, then replayed with `--create` onto stand-ins on a
//! second loop ext4 at 128, 32 and 512 KiB with `--record`. The replay's own recording must show
//! - at the recorded setting, the pages read and device requests of the original within 5%;
//! - at 32 and 512 KiB, what `simulate` predicted from the original for those settings, within 5%
//!   (predict, then verify on real hardware);
//! - every thread's reads in recorded order (same files, offsets, sizes), and threads that ran
//!   together in the recording running together in the replay.
//!
//! The table goes to stdout and to `target/test-reports/replay.md`. Test names start with
//! `root_`; they fail (never skip) without root.

#![cfg(feature = "record")]

#[path = "../../recorder/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use mysql_io_format::{EventBody, TraceFile};
use serde_json::Value;
use support::{evictions, helper, require_root, text, LoopFs};

/// The tests here drop the page cache and time replays: run one at a time (a cache dropped by
/// one test in the middle of another's replay made it read 4.8x the pages in a CI run).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn mysql_io() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mysql-io"))
}

struct Workload {
    name: &'static str,
    specs: &'static [&'static str],
}

const WORKLOADS: &[Workload] = &[
    Workload { name: "sequential 16 KiB", specs: &["1:{a}:seq:16384:1024"] },
    Workload { name: "random 16 KiB", specs: &["1:{a}:random:16384:1000:7"] },
    Workload { name: "two streams, two fds", specs: &["1:{a}:seq:16384:256", "2:{a}:seq:16384:256:8388608"] },
    Workload {
        name: "mix: 3 files, 4 threads",
        specs: &[
            "1:{a}:seq:16384:256",
            "2:{b}:random:16384:500:3",
            "3:{c}:stride:4096:1000:12288",
            "4:{a}:seq:65536:100:8388608",
        ],
    },
];

fn drop_all_caches() {
    std::fs::write("/proc/sys/vm/drop_caches", "1").expect("write /proc/sys/vm/drop_caches");
}

/// Kernel figures of `trace` over the files under `dir`: (pages read, device requests).
fn kernel(trace: &Path, dir: &Path) -> (u64, u64) {
    let v = simulate(trace, dir, "128");
    let t = &v["recorded"]["total"];
    (num(t, "pages_read"), num(t, "read_ios"))
}

fn simulate(trace: &Path, dir: &Path, ra_kb: &str) -> Value {
    let glob = format!("{}/*", dir.display());
    let out = mysql_io()
        .arg("simulate")
        .arg(trace)
        .args(["--ra-kb", ra_kb, "--mode", "free", "--file", &glob, "--format", "json", "--cache-mb", "4096"])
        .output()
        .expect("run mysql-io simulate");
    assert!(out.status.success(), "simulate failed: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("simulate prints JSON")
}

fn num(v: &Value, what: &str) -> u64 {
    v[what].as_u64().unwrap_or_else(|| panic!("no {what} in {v}"))
}

fn rel(got: u64, want: u64) -> f64 {
    (got as f64 - want as f64) / (want as f64).max(1.0)
}

/// Per thread (in order of first read): its reads as (file name, offset, size), and its time span.
type Timeline = (Vec<(String, i64, u64)>, (u64, u64));

fn timelines(trace: &Path) -> Vec<Timeline> {
    let file = TraceFile::open(trace).expect("open trace");
    let t = file.parse().expect("parse trace");
    let names: BTreeMap<(u32, u64), String> = t
        .files()
        .iter()
        .map(|f| ((f.dev, f.ino), f.path.rsplit('/').next().unwrap_or("").to_string()))
        .collect();
    let (reads, fin, _) = mysql_io_reads::collect(&t);
    let mut by: Vec<(u32, Timeline)> = Vec::new();
    for r in &reads {
        let key = fin.files[r.file as usize];
        let name = names.get(&(key.dev, key.ino)).cloned().unwrap_or_default();
        if !["a", "b", "c"].contains(&name.as_str()) {
            continue;
        }
        let i = match by.iter().position(|(tid, _)| *tid == r.tid) {
            Some(i) => i,
            None => {
                by.push((r.tid, (Vec::new(), (r.start_ts, r.start_ts))));
                by.len() - 1
            }
        };
        let tl = &mut by[i].1;
        tl.0.push((name, r.pos, r.count));
        tl.1 .1 = tl.1 .1.max(r.end_ts.unwrap_or(r.start_ts));
    }
    by.into_iter().map(|(_, t)| t).collect()
}

/// What the reads of files a, b and c caused: page inserts, readahead decisions.
fn caused(trace: &Path) -> (u64, u64) {
    let file = TraceFile::open(trace).expect("open trace");
    let t = file.parse().expect("parse trace");
    let ours: std::collections::BTreeSet<(u32, u64)> = t
        .files()
        .iter()
        .filter(|f| ["a", "b", "c"].iter().any(|n| f.path.ends_with(&format!("/{n}"))))
        .map(|f| (f.dev, f.ino))
        .collect();
    let (reads, fin, _) = mysql_io_reads::collect(&t);
    let mut out = (0, 0);
    for r in &reads {
        let key = fin.files[r.file as usize];
        if ours.contains(&(key.dev, key.ino)) {
            out.0 += u64::from(r.caused.pages);
            out.1 += u64::from(r.caused.sync) + u64::from(r.caused.async_);
        }
    }
    out
}

/// Whether some two threads' spans overlap.
fn overlapping(t: &[Timeline]) -> bool {
    t.iter().enumerate().any(|(i, a)| t[i + 1..].iter().any(|b| a.1 .0 < b.1 .1 && b.1 .0 < a.1 .1))
}

#[test]
fn root_replay_reproduces_the_recording_and_verifies_the_prediction() {
    require_root();
    let _serial = serial();
    let src = LoopFs::new(128, 128);
    let dst = LoopFs::new(512, 128);
    let files: Vec<PathBuf> = ["a", "b", "c"].iter().map(|n| src.create_file(n, 16 << 20)).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut table = String::from(
        "| workload | setting | expected (recording at 128, or predicted): pages / requests | replay measured | error |\n|---|---|---|---|---|\n",
    );
    let reports = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-reports");
    let _ = std::fs::create_dir_all(&reports);
    let mut failures = Vec::new();
    let path = |i: usize| files[i].to_str().expect("utf-8 path").to_string();
    for (n, w) in WORKLOADS.iter().enumerate() {
        // The recording, at 128 KiB, from a cold cache.
        drop_all_caches();
        for f in &files {
            src.drop_cache(f);
        }
        let original = dir.path().join(format!("{n}.mio"));
        let specs: Vec<String> = w
            .specs
            .iter()
            .map(|s| s.replace("{a}", &path(0)).replace("{b}", &path(1)).replace("{c}", &path(2)))
            .collect();
        let out = mysql_io()
            .arg("record")
            .arg("-o")
            .arg(&original)
            .arg("--")
            .arg(helper("pattern"))
            .args(&specs)
            .output()
            .expect("run mysql-io record");
        assert!(out.status.success(), "{}: record failed: {}", w.name, text(&out.stderr));
        let recorded = kernel(&original, src.mount_dir());
        // Every page the kernel read for these files was read by a read syscall's thread while
        // it ran: the reads' own attribution adds up to the kernel's total.
        let (caused, triggers) = caused(&original);
        if caused != recorded.0 {
            failures.push(format!(
                "{}: the reads caused {caused} page inserts, the kernel made {}",
                w.name, recorded.0
            ));
        }
        assert!(triggers > 0, "{}: no readahead decision attributed to a read", w.name);
        let predicted = simulate(&original, src.mount_dir(), "32,512");
        let want_tl = timelines(&original);

        for ra in [128u32, 32, 512] {
            drop_all_caches();
            let standins = dst.mount_dir().join(format!("{n}-{ra}"));
            let replayed = dir.path().join(format!("{n}-{ra}.mio"));
            let out = mysql_io()
                .arg("replay")
                .arg(&original)
                .arg("--create")
                .arg(&standins)
                .args(["--ra-kb", &ra.to_string(), "--record"])
                .arg(&replayed)
                .output()
                .expect("run mysql-io replay");
            assert!(out.status.success(), "{} at {ra}: replay failed: {}", w.name, text(&out.stderr));
            assert_eq!(
                std::fs::read_to_string(format!("/sys/block/{}/queue/read_ahead_kb", dst.loop_name()))
                    .expect("read_ahead_kb")
                    .trim(),
                "128",
                "the replay restores read_ahead_kb"
            );
            // Only the stand-ins of a, b and c: the trace also has the loader's reads of shared
            // libraries, which get stand-ins too (read cold there, cached in the recording).
            let mirror = standins.join(src.mount_dir().strip_prefix("/").expect("absolute mount"));
            let (gp, gi) = kernel(&replayed, &mirror);
            let (wp, wi) = if ra == 128 {
                recorded
            } else {
                let row = predicted["settings"]
                    .as_array()
                    .expect("settings")
                    .iter()
                    .find(|s| s["ra_kb"] == ra)
                    .unwrap_or_else(|| panic!("no {ra} KiB row"));
                (num(&row["total"], "pages_read"), num(&row["total"], "read_ios"))
            };
            let (ep, ei) = (rel(gp, wp), rel(gi, wi));
            if ep.abs() > 0.05 || ei.abs() > 0.05 {
                failures
                    .push(format!("{} at {ra}: replay {gp} pages {gi} requests, expected {wp} {wi}", w.name));
                let _ = std::fs::copy(&replayed, reports.join(format!("replay-{n}-{ra}.mio")));
            }
            let _ = writeln!(
                table,
                "| {} | {ra} KiB{} | {wp} / {wi} | {gp} / {gi} | {:+.1}% / {:+.1}% |",
                w.name,
                if ra == 128 { " (as recorded)" } else { " (predicted)" },
                ep * 100.0,
                ei * 100.0
            );

            // Per-thread order, and concurrency.
            let got_tl = timelines(&replayed);
            let seqs = |t: &[Timeline]| {
                let mut v: Vec<Vec<(String, i64, u64)>> = t.iter().map(|t| t.0.clone()).collect();
                v.sort();
                v
            };
            if seqs(&got_tl) != seqs(&want_tl) {
                failures.push(format!("{} at {ra}: the threads' reads differ from the recording", w.name));
            }
            if overlapping(&want_tl) && !overlapping(&got_tl) {
                failures.push(format!("{} at {ra}: threads that overlapped ran one after another", w.name));
            }
        }
    }
    println!("{table}");
    let _ = std::fs::write(reports.join("replay.md"), &table);
    assert!(failures.is_empty(), "replay is off:\n{}\n\n{table}", failures.join("\n"));
}

#[test]
fn root_bad_input_says_what_to_do_and_restores_the_device() {
    require_root();
    let _serial = serial();
    let dst = LoopFs::new(512, 128);
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/mariadb-sysbench.mio");
    let run = |args: &[&str]| {
        let out = mysql_io().arg("replay").arg(&trace).args(args).output().expect("run replay");
        (out.status.code(), text(&out.stderr))
    };
    // No --map nor --create.
    let (code, err) = run(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--map FROM=TO"), "{err}");
    // Paths no --map covers.
    let (code, err) = run(&["--map", "/nowhere=/tmp"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is not under any --map"), "{err}");
    // A file smaller than recorded: stand-ins, then one cut short.
    let standins = dst.mount_dir().join("s");
    let (code, err) = run(&["--create", standins.to_str().expect("utf-8"), "--speed", "max"]);
    assert_eq!(code, Some(0), "{err}");
    let map = format!("/={}/", standins.display());
    let ibdata = std::fs::read_dir(&standins)
        .ok()
        .and_then(|_| walk(&standins).into_iter().find(|p| p.ends_with("ibdata1")))
        .expect("a stand-in ibdata1");
    let f = std::fs::OpenOptions::new().write(true).open(&ibdata).expect("open stand-in");
    f.set_len(4096).expect("truncate");
    let (code, err) = run(&["--map", &map, "--ra-kb", "512"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("when recorded"), "{err}");
    // --create into a directory that is not empty.
    let (code, err) = run(&["--create", standins.to_str().expect("utf-8")]);
    assert_eq!(code, Some(2), "{err}");
    // A device that cannot be found: the files on tmpfs, with --ra-kb.
    let shm = tempfile::tempdir_in("/dev/shm").expect("tmpfs dir");
    let (code, err) = run(&["--create", shm.path().join("s").to_str().expect("utf-8"), "--ra-kb", "512"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("read_ahead_kb"), "{err}");
    // A trace without reads.
    let empty = dir.path().join("empty.mio");
    let sink = std::fs::File::create(&empty).expect("create");
    let mut w = mysql_io_format::Writer::new(sink, &mysql_io_format::Header::default(), Default::default())
        .expect("writer");
    w.finish().expect("finish");
    drop(w);
    let out =
        mysql_io().arg("replay").arg(&empty).args(["--create", "/tmp/x-none"]).output().expect("replay");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no reads"), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(format!("/sys/block/{}/queue/read_ahead_kb", dst.loop_name()))
            .expect("read_ahead_kb")
            .trim(),
        "128"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Page-cache inserts of `trace` by folio order: how the kernel sized the folios it read into.
fn folio_orders(trace: &Path) -> BTreeMap<u32, u64> {
    let file = TraceFile::open(trace).expect("open trace");
    let t = file.parse().expect("parse trace");
    let mut out = BTreeMap::new();
    for e in t.events() {
        if let EventBody::PageCacheAdd(a) = e.expect("decode event").body {
            *out.entry(a.order).or_default() += 1;
        }
    }
    out
}

/// The kernel's reclaim and compaction counters (`/proc/vmstat`) that move when memory is
/// short or fragmented: a replay that read more than its recording is read beside them.
fn vmstat() -> BTreeMap<String, u64> {
    const KEYS: [&str; 5] =
        ["pgscan_direct", "pgscan_kswapd", "allocstall_normal", "compact_stall", "compact_fail"];
    std::fs::read_to_string("/proc/vmstat")
        .expect("read /proc/vmstat")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(k, _)| KEYS.contains(k))
        .map(|(k, v)| (k.to_string(), v.trim().parse().unwrap_or(0)))
        .collect()
}

/// One replay of the demo recording at 128 KiB onto fresh stand-ins, compared with the recording:
/// the compare's total row, and what went wrong when pages or requests are off by more than 5%.
fn replay_demo(trace: &Path) -> (Value, Option<String>) {
    let dst = LoopFs::new(512, 128);
    let dir = tempfile::tempdir().expect("tempdir");
    let standins = dst.mount_dir().join("s");
    let replayed = dir.path().join("replay.mio");
    drop_all_caches();
    let before = vmstat();
    let out = mysql_io()
        .arg("replay")
        .arg(trace)
        .arg("--create")
        .arg(&standins)
        .args(["--ra-kb", "128", "--json", "--record"])
        .arg(&replayed)
        .output()
        .expect("run mysql-io replay");
    let after = vmstat();
    assert!(out.status.success(), "replay failed: {}", text(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).expect("replay prints JSON");
    println!("replay: {r}");
    assert_eq!(r["reads"], 192_668);
    let out = mysql_io().arg("compare").arg(trace).arg(&replayed).arg("--json").output().expect("compare");
    assert!(out.status.success(), "compare failed: {}", text(&out.stderr));
    let c: Value = serde_json::from_slice(&out.stdout).expect("compare prints JSON");
    let t = c["total"].clone();
    let mut off = String::new();
    for k in ["pages_read", "read_ios"] {
        let (a, b) = (num(&t["a"], k), num(&t["b"], k));
        println!("{k}: recording {a}, replay {b} ({:+.1}%)", rel(b, a) * 100.0);
        if rel(b, a).abs() > 0.05 {
            let _ = writeln!(off, "{k}: recording {a}, replay {b} ({:+.1}%)", rel(b, a) * 100.0);
        }
    }
    if off.is_empty() {
        return (t, None);
    }
    let moved: BTreeMap<_, _> =
        after.iter().map(|(k, v)| (k, v - before.get(k).copied().unwrap_or(0))).collect();
    let _ = writeln!(off, "total: {t}");
    for f in c["files"].as_array().into_iter().flatten() {
        let figures = |k: &str| (f["a"][k].as_u64().unwrap_or(0), f["b"][k].as_u64().unwrap_or(0));
        let (pages, ios) = (figures("pages_read"), figures("read_ios"));
        if pages.0 != pages.1 || ios.0 != ios.1 {
            let _ = writeln!(
                off,
                "{}: pages {} -> {}, requests {} -> {}",
                f["file"], pages.0, pages.1, ios.0, ios.1
            );
        }
    }
    let _ = writeln!(off, "reclaim and compaction during the replay (/proc/vmstat): {moved:?}");
    let _ =
        writeln!(off, "folios evicted during the replay, by thread: {:?}", evictions(&replayed, dst.dev()));
    let _ = writeln!(
        off,
        "inserts by folio order: recording {:?}, replay {:?}",
        folio_orders(trace),
        folio_orders(&replayed)
    );
    (t, Some(off))
}

/// The demo recording (MariaDB under sysbench, 5 threads, several of them on one file description)
/// replayed at its own setting reads the same pages in the same number of device requests, within
/// 5%. Its figures move from run to run: -1.5% to +2.9% in requests over 19 runs on an idle, a
/// CPU-loaded, a disk-loaded and a memory-short machine (threads that share a description race
/// inside the kernel's readahead decisions, docs/simulate.md), but +7.7% once in CI (pages
/// +1.4%). A likely cause, found later in the kernel tests: these VMs run DAMON's proactive
/// reclaim (`kdamond`), which now and then pages out a folio that readahead just brought in, to be
/// read again. A replay that misses is reported in full (per file, folio orders, reclaim, the
/// folios evicted and by whom) and run once more; the test fails when the second misses too.
#[test]
fn root_the_mariadb_recording_replays_within_5_percent() {
    require_root();
    let _serial = serial();
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/mariadb-sysbench.mio");
    let (_, first) = replay_demo(&trace);
    let Some(first) = first else { return };
    println!("the first replay missed 5%, replaying once more:\n{first}");
    let (_, second) = replay_demo(&trace);
    if let Some(second) = second {
        panic!("two replays missed 5%:\nfirst:\n{first}\nsecond:\n{second}");
    }
}

#[test]
fn root_ctrl_c_restores_read_ahead_kb() {
    use std::io::{BufRead, BufReader};
    require_root();
    let _serial = serial();
    let dst = LoopFs::new(512, 128);
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/mariadb-sysbench.mio");
    let mut child = mysql_io()
        .arg("replay")
        .arg(&trace)
        .arg("--create")
        .arg(dst.mount_dir().join("s"))
        .args(["--ra-kb", "512"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run mysql-io replay");
    let ra = || {
        std::fs::read_to_string(format!("/sys/block/{}/queue/read_ahead_kb", dst.loop_name()))
            .expect("read_ahead_kb")
            .trim()
            .to_string()
    };
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    // Once it replays (the recording lasts 11 s), the setting is in force; then Ctrl-C.
    let started = lines.by_ref().map_while(Result::ok).any(|l| l.contains("replaying"));
    assert!(started, "the replay did not start");
    assert_eq!(ra(), "512");
    std::thread::sleep(std::time::Duration::from_millis(500));
    // SAFETY: kill(2) with SIGINT on our own child.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "exits as interrupted");
    assert_eq!(ra(), "128", "Ctrl-C restores read_ahead_kb");
}
