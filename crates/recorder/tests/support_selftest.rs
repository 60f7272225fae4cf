//! Exercises the root-only test support for real: the loop-mounted ext4 fixture and the C workload
//! helpers. Needs root, mkfs.ext4, losetup, mount, cc and libaio-dev.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{file_byte, helper, run_helper, HelperProcess, LoopFs};

const MIB: u64 = 1024 * 1024;

fn is_mounted(dir: &Path) -> bool {
    let mounts = fs::read_to_string("/proc/self/mounts").expect("read /proc/self/mounts");
    let dir = dir.to_str().expect("temp dirs have UTF-8 names");
    mounts.lines().any(|line| line.split_whitespace().nth(1) == Some(dir))
}

fn mount_line(dir: &Path) -> Option<String> {
    let mounts = fs::read_to_string("/proc/self/mounts").expect("read /proc/self/mounts");
    let dir = dir.to_str().expect("temp dirs have UTF-8 names");
    mounts.lines().find(|line| line.split_whitespace().nth(1) == Some(dir)).map(str::to_owned)
}

fn losetup_lists(image: &Path) -> bool {
    let output = Command::new("losetup").arg("-a").output().expect("run losetup -a");
    assert!(output.status.success(), "losetup -a failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).contains(image.to_str().expect("UTF-8 temp path"))
}

/// Bytes of `path` resident in the page cache, according to util-linux fincore.
fn cached_bytes(path: &Path) -> u64 {
    let output = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--raw", "--output", "RES"])
        .arg(path)
        .output()
        .expect("run fincore");
    assert!(output.status.success(), "fincore failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().parse().unwrap_or_else(|e| panic!("fincore printed {text:?}: {e}"))
}

fn read_ahead_kb(fs: &LoopFs) -> u32 {
    let path = format!("/sys/block/{}/queue/read_ahead_kb", fs.loop_name());
    let text = fs::read_to_string(&path).expect("read read_ahead_kb");
    text.trim().parse().expect("read_ahead_kb is a number")
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// The kernel sometimes finishes detaching a loop device shortly after the last user goes away.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no unsigned {key:?} in {v}"))
}

fn i(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("no integer {key:?} in {v}"))
}

fn ops<'a>(lines: &'a [Value], op: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["op"] == op).collect()
}

#[test]
fn loop_fs_mounts_with_its_own_readahead_and_cleans_up() {
    let a = LoopFs::new(64, 128);
    let b = LoopFs::new(64, 512);
    assert_ne!(a.loop_name(), b.loop_name());
    assert_ne!(a.mount_dir(), b.mount_dir());
    assert_ne!(a.dev(), b.dev());
    assert_eq!(read_ahead_kb(&a), 128);
    assert_eq!(read_ahead_kb(&b), 512);

    for fs in [&a, &b] {
        let line = mount_line(fs.mount_dir()).expect("mount dir is in /proc/self/mounts");
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[0], format!("/dev/{}", fs.loop_name()), "{line}");
        assert_eq!(fields[2], "ext4", "{line}");
        assert!(losetup_lists(fs.image_path()));

        // st_dev is the userspace encoding; the recorder sees the kernel's (major << 20) | minor.
        let st_dev = fs::metadata(fs.mount_dir()).expect("stat mount dir").dev();
        let kernel_dev = (libc::major(st_dev) << 20) | libc::minor(st_dev);
        assert_eq!(fs.dev(), kernel_dev);
        assert_eq!(libc::major(st_dev), 7, "loop devices have major 7");
    }

    let (image, mount_dir) = (a.image_path().to_owned(), a.mount_dir().to_owned());
    let len = MIB + 123;
    let path = a.create_file("data.bin", len);
    assert_eq!(path, mount_dir.join("data.bin"));
    assert_eq!(fs::metadata(&path).expect("stat file").dev(), fs::metadata(&mount_dir).expect("stat").dev());
    assert_eq!(cached_bytes(&path), 0, "create_file leaves nothing in the page cache");
    let content = fs::read(&path).expect("read file back");
    assert_eq!(content.len() as u64, len);
    let first_bad = content.iter().enumerate().position(|(i, &b)| b != file_byte(i as u64));
    assert_eq!(first_bad, None, "content differs");
    assert_eq!(&content[..4], &[7, 38, 69, 100]);
    assert!(cached_bytes(&path) >= len, "reading it cached it");
    a.drop_cache(&path);
    assert_eq!(cached_bytes(&path), 0, "drop_cache empties the page cache");

    drop(a);
    assert!(!is_mounted(&mount_dir), "still mounted after drop");
    // A loop device that another process has open at that moment (another test's `losetup -a`,
    // udev's probe) is only marked to detach when the last user closes it.
    eventually("the loop device is detached after drop", || !losetup_lists(&image));
    assert!(!image.exists() && !mount_dir.exists(), "temp files left behind");
    assert!(is_mounted(b.mount_dir()), "dropping one fixture leaves the other alone");
}

#[test]
fn loop_fs_is_torn_down_when_a_test_panics() {
    let mut paths = None;
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let fs = LoopFs::new(16, 256);
        fs.create_file("f", 4096);
        paths = Some((fs.image_path().to_owned(), fs.mount_dir().to_owned()));
        panic!("deliberate failure with a mounted LoopFs");
    }));
    let message = panic_message(&*result.expect_err("the closure panics"));
    assert!(message.contains("deliberate"), "{message}");
    let (image, mount_dir) = paths.expect("fixture was built");
    assert!(!is_mounted(&mount_dir));
    eventually("the loop device is detached after the panic", || !losetup_lists(&image));
}

#[test]
fn loop_fs_busy_at_drop_falls_back_to_a_lazy_unmount() {
    let fs = LoopFs::new(16, 128);
    let (image, mount_dir) = (fs.image_path().to_owned(), fs.mount_dir().to_owned());
    // An open file keeps the filesystem busy through all umount retries.
    let open_file = File::open(fs.create_file("busy", 4096)).expect("open file");
    drop(fs);
    assert!(!is_mounted(&mount_dir), "lazy unmount detaches the mount at once");
    drop(open_file);
    // The loop device is freed once the last user of the filesystem is gone.
    eventually("the loop device is detached", || !losetup_lists(&image));
}

#[test]
fn loop_fs_failure_names_the_command() {
    // A zero-sized image makes mkfs.ext4 fail before anything is attached.
    let result = panic::catch_unwind(|| LoopFs::new(0, 128));
    let message = panic_message(&*result.expect_err("mkfs fails on an empty image"));
    assert!(message.contains("mkfs.ext4") && message.contains("failed"), "{message}");
}

#[test]
fn reads_helper_reports_each_read() {
    let fs = LoopFs::new(64, 128);
    let path = fs.create_file("reads.bin", MIB);
    let script = [
        "wait",
        "pread:0:4096",
        "read:8192",
        "seek:65536",
        "read:4096",
        "readv:4096,8192",
        "preadv:131072:4096,4096,8192",
        "preadv2:262144:16384",
        "fadvise:random",
        "pread:524288:65536",
        "fadvise:sequential",
        "fadvise:normal",
        "sleep:1",
        "pread:1044480:8192",
    ];
    let mut args = vec![path.to_str().expect("UTF-8 path")];
    args.extend(script);
    let mut child = HelperProcess::spawn("reads", &args);
    let ready = child.wait_ready();
    assert_eq!(u(&ready, "pid"), u64::from(child.pid()));
    child.go();
    let pid = child.pid();
    let lines = child.finish();

    let open = &lines[0];
    assert_eq!(open["op"], "open");
    assert_eq!(open["path"], path.to_str().expect("UTF-8 path"));
    let fd = u(open, "fd");

    // (op, offset, requested length, return value)
    let expected: [(&str, u64, u64, i64); 8] = [
        ("pread64", 0, 4096, 4096),
        ("read", 0, 8192, 8192),
        ("read", 65536, 4096, 4096),
        ("readv", 69632, 12288, 12288),
        ("preadv", 131072, 16384, 16384),
        ("preadv2", 262144, 16384, 16384),
        ("pread64", 524288, 65536, 65536),
        // The last read crosses EOF: only 4096 bytes are left.
        ("pread64", 1044480, 8192, 4096),
    ];
    let reads: Vec<&Value> = lines.iter().filter(|l| l.get("ret").is_some()).collect();
    assert_eq!(reads.len(), expected.len(), "{lines:?}");
    for (line, (op, offset, len, ret)) in reads.iter().zip(expected) {
        assert_eq!(line["op"], op, "{line}");
        assert_eq!(u(line, "fd"), fd, "{line}");
        assert_eq!(u(line, "offset"), offset, "{line}");
        assert_eq!(u(line, "len"), len, "{line}");
        assert_eq!(i(line, "ret"), ret, "{line}");
        assert_eq!(u(line, "tid"), u64::from(pid), "single-threaded: tid is the pid; {line}");
    }
    let seeks = ops(&lines, "seek");
    assert_eq!(seeks.len(), 1);
    assert_eq!(u(seeks[0], "pos"), 65536);
    let advice: Vec<&Value> = ops(&lines, "fadvise").iter().map(|l| &l["advice"]).collect();
    assert_eq!(advice, ["random", "sequential", "normal"]);
    assert_eq!(ops(&lines, "sleep").len(), 1);
}

#[test]
fn reads_helper_loop_mode_counts_reads() {
    let fs = LoopFs::new(64, 128);
    let path = fs.create_file("loop.bin", MIB);
    let lines = run_helper("reads", &[path.to_str().expect("UTF-8 path"), "loop:0.3:4096:262144"]);
    assert_eq!(lines.len(), 2, "open and one summary line: {lines:?}");
    let summary = &lines[1];
    assert_eq!(summary["op"], "loop");
    assert!(u(summary, "reads") > 64, "{summary}");
    let seconds = summary["seconds"].as_f64().expect("seconds");
    assert!((0.3..5.0).contains(&seconds), "{summary}");
}

#[test]
fn aio_helper_submits_and_reaps_all_iocbs() {
    let fs = LoopFs::new(64, 128);
    let path = fs.create_file("aio.bin", MIB);
    let (n, len, stride) = (8u64, 16384u64, 65536u64);
    let lines = run_helper(
        "aio",
        &[path.to_str().expect("UTF-8 path"), &n.to_string(), &len.to_string(), &stride.to_string()],
    );

    let setup = ops(&lines, "io_setup");
    assert_eq!(setup.len(), 1);
    let ctx = u(setup[0], "ctx");
    assert_ne!(ctx, 0);

    let iocbs = ops(&lines, "iocb");
    assert_eq!(iocbs.len() as u64, n);
    let mut address_of_data = HashMap::new();
    for (index, iocb) in iocbs.iter().enumerate() {
        let index = index as u64;
        assert_eq!(u(iocb, "index"), index);
        assert_eq!(u(iocb, "offset"), index * stride);
        assert_eq!(u(iocb, "len"), len);
        assert_eq!(u(iocb, "data"), 1000 + index);
        let address = iocb["iocb"].as_str().expect("iocb address").to_owned();
        assert!(address.starts_with("0x"), "{iocb}");
        address_of_data.insert(1000 + index, address);
    }
    let distinct: BTreeSet<&String> = address_of_data.values().collect();
    assert_eq!(distinct.len() as u64, n, "each iocb has its own address");

    let submit = ops(&lines, "io_submit");
    assert_eq!(submit.len(), 1, "one io_submit call");
    assert_eq!(u(submit[0], "ctx"), ctx);
    assert_eq!(u(submit[0], "nr"), n);
    assert_eq!(i(submit[0], "ret"), n as i64);

    let completions = ops(&lines, "complete");
    assert_eq!(completions.len() as u64, n);
    let mut seen = BTreeSet::new();
    for done in completions {
        assert_eq!(i(done, "res"), len as i64, "{done}");
        let data = u(done, "data");
        assert_eq!(done["iocb"].as_str(), address_of_data.get(&data).map(String::as_str), "{done}");
        seen.insert(data);
    }
    assert_eq!(seen, (1000..1000 + n).collect::<BTreeSet<_>>());
}

#[test]
fn threads_helper_reads_from_named_threads() {
    let fs = LoopFs::new(64, 128);
    let len = 16384u64;
    let path = fs.create_file("threads.bin", MIB);
    let mut child = HelperProcess::spawn("threads", &[path.to_str().expect("UTF-8 path"), "3", "16384"]);
    let ready = child.wait_ready();
    let pid = u(&ready, "pid");
    assert_eq!(pid, u64::from(child.pid()));
    child.go();
    let lines = child.finish();

    let threads = ops(&lines, "thread");
    assert_eq!(threads.len(), 3);
    let mut tid_of = HashMap::new();
    for t in &threads {
        let index = u(t, "i");
        assert_eq!(t["name"], format!("worker-{index}"));
        tid_of.insert(u(t, "tid"), index);
    }
    assert_eq!(tid_of.len(), 3, "distinct tids: {threads:?}");
    assert!(!tid_of.contains_key(&pid), "workers are not the main thread");

    let preads = ops(&lines, "pread64");
    assert_eq!(preads.len(), 12);
    let mut offsets = BTreeSet::new();
    for p in preads {
        let index = tid_of.get(&u(p, "tid")).unwrap_or_else(|| panic!("read from an unknown thread: {p}"));
        let offset = u(p, "offset");
        assert_eq!(offset / len / 4, *index, "thread {index} reads its own blocks: {p}");
        assert_eq!(u(p, "len"), len);
        assert_eq!(i(p, "ret"), len as i64);
        offsets.insert(offset);
    }
    assert_eq!(offsets, (0..12).map(|k| k * len).collect::<BTreeSet<_>>());
    assert_eq!(lines.last().map(|l| &l["op"]), Some(&Value::from("done")));
}

#[test]
fn helpers_fail_loudly() {
    let fs = LoopFs::new(16, 128);
    let path = fs.create_file("small.bin", 4096);
    let cases: [(&str, Vec<&str>, &str); 4] = [
        ("reads", vec![path.to_str().expect("UTF-8 path"), "bogus:1"], "unknown script item"),
        ("reads", vec!["/nonexistent/file", "pread:0:1"], "open"),
        ("aio", vec![path.to_str().expect("UTF-8 path"), "65", "4096"], "N must be"),
        ("threads", vec![path.to_str().expect("UTF-8 path"), "x", "4096"], "bad NTHREADS"),
    ];
    for (name, args, message) in cases {
        let output = Command::new(helper(name))
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {name}: {e}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name} {args:?} should fail");
        assert!(stderr.contains(message), "{name} {args:?}: stderr {stderr:?}");
    }

    // A waiting helper whose test goes away (stdin closed) stops instead of running unobserved.
    let mut child = HelperProcess::spawn("reads", &[path.to_str().expect("UTF-8 path"), "wait", "pread:0:1"]);
    child.wait_ready();
    let result = panic::catch_unwind(AssertUnwindSafe(move || child.finish()));
    let message = panic_message(&*result.expect_err("finish reports the failure"));
    assert!(message.contains("stdin closed"), "{message}");
}
