//! Shared support for the recorder's root (BPF) integration tests: a loop-mounted ext4 fixture with its
//! own readahead setting, and small C workload programs whose JSON output says what they really did.
//!
//! Used as `mod support;` from several test files, each of which uses only part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use mysql_io_format::{Event, EventBody, ReadaheadTrigger, ReadaheadWindow};
use serde_json::Value;
use tempfile::TempDir;

/// An ext4 filesystem in a file, mounted on a loop device, with its own read_ahead_kb; torn down on drop
/// (also when a test panics).
#[derive(Debug)]
pub(crate) struct LoopFs {
    /// Holds the image; removed last so a failed teardown leaves evidence behind only in /tmp.
    image_dir: TempDir,
    image: PathBuf,
    /// Set once `losetup` attached the image, so a half-built fixture still gets detached.
    loop_name: Option<String>,
    mount_dir: TempDir,
    mounted: bool,
    dev: u32,
}

/// Runs a setup command, panicking with its command line and stderr when it fails.
fn run(program: &str, args: &[&OsStr]) -> String {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    if !output.status.success() {
        panic!("{} failed ({}): {}", command_line(program, args), output.status, stderr_of(&output));
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs a teardown command; returns a description of the failure instead of panicking.
fn try_run(program: &str, args: &[&OsStr]) -> Result<(), String> {
    match Command::new(program).args(args).stdin(Stdio::null()).output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => {
            Err(format!("{} failed ({}): {}", command_line(program, args), output.status, stderr_of(&output)))
        }
        Err(e) => Err(format!("cannot run {program}: {e}")),
    }
}

fn command_line(program: &str, args: &[&OsStr]) -> String {
    let mut line = program.to_owned();
    for arg in args {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Fails the test unless it runs as root: the BPF tests load programs and mount filesystems, and
/// never skip.
pub(crate) fn require_root() {
    assert!(
        is_root(),
        "this test loads BPF programs and mounts filesystems: run it as root (scripts/test does)"
    );
}

/// Output bytes as text.
pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

#[allow(unsafe_code)]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `losetup --find` picks a free device and then claims it; two threads doing it at once can pick the
/// same one, so attaches within this process take turns.
static LOSETUP_LOCK: Mutex<()> = Mutex::new(());

impl LoopFs {
    /// Creates a `size_mb` MiB image in a temp dir, formats it ext4, attaches it with
    /// `losetup --find --show`, mounts it on a fresh temp dir and sets the loop device's read_ahead_kb.
    /// Panics with the failing command and its stderr when not root or a command fails.
    pub(crate) fn new(size_mb: u64, read_ahead_kb: u32) -> LoopFs {
        assert!(is_root(), "LoopFs needs root (mkfs, losetup, mount); run the BPF tests as root");
        let image_dir = tempfile::Builder::new()
            .prefix("mysql-io-loopfs-img.")
            .tempdir()
            .expect("create temp dir for the ext4 image");
        let image = image_dir.path().join("fs.img");
        // Sparse: only what mkfs and the tests write takes space.
        File::create(&image)
            .and_then(|f| f.set_len(size_mb * 1024 * 1024))
            .unwrap_or_else(|e| panic!("create {size_mb} MiB image {}: {e}", image.display()));
        let mount_dir = tempfile::Builder::new()
            .prefix("mysql-io-loopfs-mnt.")
            .tempdir()
            .expect("create temp dir for the mount point");
        // Built before the commands run, so Drop undoes whatever step succeeded if a later one panics.
        let mut fs = LoopFs { image_dir, image, loop_name: None, mount_dir, mounted: false, dev: 0 };

        // 4 KiB blocks like a real data disk (mke2fs would pick 1 KiB for a small image), and no lazy
        // inode-table init so no background writer touches the device while tests trace it.
        run(
            "mkfs.ext4",
            &[
                "-q".as_ref(),
                "-F".as_ref(),
                "-b".as_ref(),
                "4096".as_ref(),
                "-E".as_ref(),
                "lazy_itable_init=0,lazy_journal_init=0".as_ref(),
                fs.image.as_os_str(),
            ],
        );

        let device = {
            let _turn = LOSETUP_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            run("losetup", &["--find".as_ref(), "--show".as_ref(), fs.image.as_os_str()])
        };
        let device = device.trim();
        let name = device
            .strip_prefix("/dev/")
            .unwrap_or_else(|| panic!("losetup printed an unexpected device name {device:?}"));
        fs.loop_name = Some(name.to_owned());

        run("mount", &["-t".as_ref(), "ext4".as_ref(), device.as_ref(), fs.mount_dir.path().as_os_str()]);
        fs.mounted = true;

        // Set after mounting: reconfiguring the loop device resets it, mounting does not.
        fs.set_read_ahead_kb(read_ahead_kb);

        fs.dev = read_dev(name);
        fs
    }

    /// Sets the loop device's read_ahead_kb (files opened from then on use it).
    pub(crate) fn set_read_ahead_kb(&self, read_ahead_kb: u32) {
        let ra_path = format!("/sys/block/{}/queue/read_ahead_kb", self.loop_name());
        fs::write(&ra_path, format!("{read_ahead_kb}\n"))
            .unwrap_or_else(|e| panic!("write {read_ahead_kb} to {ra_path}: {e}"));
    }

    pub(crate) fn mount_dir(&self) -> &Path {
        self.mount_dir.path()
    }

    /// The image file backing the loop device (as `losetup -a` lists it).
    pub(crate) fn image_path(&self) -> &Path {
        &self.image
    }

    /// Kernel-encoding device number of the mounted filesystem (`(major << 20) | minor`), i.e. the
    /// `s_dev` the kernel reports for its files.
    pub(crate) fn dev(&self) -> u32 {
        self.dev
    }

    /// "loopN"
    pub(crate) fn loop_name(&self) -> &str {
        self.loop_name.as_deref().expect("LoopFs::new always attaches a loop device")
    }

    /// Writes a file of `len` bytes (byte i = `(i * 31 + 7) as u8`, see [`file_byte`]), fsyncs it and
    /// drops it from the page cache so later reads go to the device. Returns its path.
    pub(crate) fn create_file(&self, name: &str, len: u64) -> PathBuf {
        let path = self.mount_dir().join(name);
        let mut file = File::create(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        let mut chunk = vec![0u8; 1 << 20];
        let mut written = 0u64;
        while written < len {
            let n = (len - written).min(chunk.len() as u64) as usize;
            for (i, byte) in chunk[..n].iter_mut().enumerate() {
                *byte = file_byte(written + i as u64);
            }
            file.write_all(&chunk[..n]).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            written += n as u64;
        }
        // Dirty pages cannot be dropped; after fsync they are clean.
        file.sync_all().unwrap_or_else(|e| panic!("fsync {}: {e}", path.display()));
        fadvise_dontneed(&file, &path);
        drop(file);
        self.drop_cache(&path);
        path
    }

    /// Drops one file's pages from the page cache, for tests that read a file twice.
    pub(crate) fn drop_cache(&self, path: &Path) {
        let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        fadvise_dontneed(&file, path);
    }
}

/// Content of byte `i` of every file written by [`LoopFs::create_file`].
pub(crate) fn file_byte(i: u64) -> u8 {
    (i.wrapping_mul(31).wrapping_add(7)) as u8
}

#[allow(unsafe_code)]
fn fadvise_dontneed(file: &File, path: &Path) {
    // SAFETY: the fd belongs to `file`, which stays open for the whole call; offset 0 and length 0
    // mean the whole file.
    let err = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if err != 0 {
        panic!("posix_fadvise(DONTNEED) on {}: {}", path.display(), std::io::Error::from_raw_os_error(err));
    }
}

/// Reads "MAJOR:MINOR" from sysfs and encodes it the way the kernel stores `s_dev`.
fn read_dev(loop_name: &str) -> u32 {
    let path = format!("/sys/block/{loop_name}/dev");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let parse = |s: &str| -> u32 {
        s.trim().parse().unwrap_or_else(|e| panic!("bad number {s:?} in {path} ({text:?}): {e}"))
    };
    let (major, minor) =
        text.trim().split_once(':').unwrap_or_else(|| panic!("{path} has no MAJOR:MINOR: {text:?}"));
    (parse(major) << 20) | parse(minor)
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        // Never panic here: this also runs while a failing test unwinds.
        if self.mounted {
            let dir = self.mount_dir.path().as_os_str();
            let mut result = try_run("umount", &[dir]);
            // A helper that is still exiting may keep the filesystem busy for a moment.
            for _ in 0..5 {
                if result.is_ok() {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
                result = try_run("umount", &[dir]);
            }
            if let Err(e) = result {
                eprintln!("LoopFs: {e}; falling back to a lazy unmount");
                if let Err(e) = try_run("umount", &["-l".as_ref(), dir]) {
                    eprintln!("LoopFs: {e}");
                }
            }
        }
        if let Some(name) = &self.loop_name {
            // After a lazy unmount the kernel detaches the device once it is no longer in use.
            if let Err(e) = try_run("losetup", &["-d".as_ref(), format!("/dev/{name}").as_ref()]) {
                eprintln!("LoopFs: {e}");
            }
        }
        if let Err(e) = fs::remove_file(&self.image) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("LoopFs: remove {}: {e}", self.image.display());
            }
        }
        // The TempDirs remove the (now empty) directories when the fields drop.
    }
}

/// Compiled helpers by name; the lock also keeps two threads from compiling the same helper at once.
static HELPERS: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
static HELPER_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Compiles `tests/helpers/<name>.c` (at most once per test process) and returns the binary's path.
/// Panics with the compiler's stderr on failure.
pub(crate) fn helper(name: &str) -> PathBuf {
    let mut helpers = HELPERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let helpers = helpers.get_or_insert_with(HashMap::new);
    if let Some(path) = helpers.get(name) {
        return path.clone();
    }
    let source = helpers_dir().join(format!("{name}.c"));
    assert!(source.is_file(), "no helper source {}", source.display());
    let binary = helper_dir().join(name);
    let mut cc = Command::new("cc");
    cc.args(["-O2", "-Wall", "-Werror"]);
    if name == "threads" || name == "pattern" {
        cc.arg("-pthread");
    }
    cc.arg("-o").arg(&binary).arg(&source);
    if name == "aio" {
        cc.arg("-laio");
    }
    let output = cc.stdin(Stdio::null()).output().expect("cannot run cc");
    if !output.status.success() {
        panic!("compiling {} failed ({}):\n{}", source.display(), output.status, stderr_of(&output));
    }
    helpers.insert(name.to_owned(), binary.clone());
    binary
}

/// `crates/recorder/tests/helpers`, found from this file's own path so that test files of other
/// crates can include this module (`#[path = ...] mod support;`): rustc names source files
/// relative to the workspace root, two levels above any crate's manifest.
fn helpers_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let here = Path::new(file!());
    let support = if here.is_absolute() { here.to_path_buf() } else { workspace.join(here) };
    support
        .parent()
        .and_then(Path::parent)
        .map(|tests| tests.join("helpers"))
        .expect("support/mod.rs has a parent")
}

/// This process's helper directory. Statics are never dropped, so instead of cleaning up at exit, the
/// directories of test processes that no longer run are removed here.
fn helper_dir() -> &'static Path {
    HELPER_DIR.get_or_init(|| {
        const PREFIX: &str = "mysql-io-test-helpers.";
        let tmp = std::env::temp_dir();
        if let Ok(entries) = fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let file_name = entry.file_name();
                let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else { continue };
                if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = tmp.join(format!("{PREFIX}{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        dir
    })
}

/// Parses a helper's stdout: one JSON object per line.
pub(crate) fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad helper line {line:?}: {e}")))
        .collect()
}

/// Runs a helper to completion with stdin closed, asserts that it succeeded and returns its JSON lines.
pub(crate) fn run_helper<S: AsRef<OsStr>>(name: &str, args: &[S]) -> Vec<Value> {
    let output = Command::new(helper(name))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run helper {name}: {e}"));
    assert!(
        output.status.success(),
        "helper {name} failed ({}): {}\nstdout:\n{}",
        output.status,
        stderr_of(&output),
        String::from_utf8_lossy(&output.stdout)
    );
    json_lines(&output.stdout)
}

/// A running helper that stops at `wait` (reads.c) or before its threads start (threads.c) until the
/// test lets it go, so a recorder can attach to its pid first. Killed on drop if still running, so a
/// failing test leaves no process behind to keep a [`LoopFs`] busy.
#[derive(Debug)]
pub(crate) struct HelperProcess {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: Option<ChildStderr>,
    lines: Vec<Value>,
}

impl HelperProcess {
    /// Starts a compiled helper with piped stdin/stdout/stderr.
    pub(crate) fn spawn<S: AsRef<OsStr>>(name: &str, args: &[S]) -> HelperProcess {
        let mut child = Command::new(helper(name))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start helper {name}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let stderr = child.stderr.take().expect("piped stderr");
        HelperProcess {
            name: name.to_owned(),
            child,
            stdin: Some(stdin),
            stdout,
            stderr: Some(stderr),
            lines: Vec::new(),
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads lines until the next `{"op":"ready"}` one and returns it (earlier lines are kept for
    /// [`finish`](Self::finish)). Panics with the helper's stderr if it exits first.
    pub(crate) fn wait_ready(&mut self) -> Value {
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).expect("read helper stdout");
            if n == 0 {
                let status = self.child.wait().expect("wait for helper");
                let stderr = self.stderr_text();
                panic!("helper {} exited ({status}) before it was ready: {stderr}", self.name);
            }
            if line.trim().is_empty() {
                continue;
            }
            let value: Value =
                serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("bad helper line {line:?}: {e}"));
            let ready = value["op"] == "ready";
            self.lines.push(value.clone());
            if ready {
                return value;
            }
        }
    }

    /// Lets a waiting helper continue (one newline on its stdin).
    pub(crate) fn go(&mut self) {
        let stdin = self.stdin.as_mut().expect("helper stdin is open until finish");
        stdin.write_all(b"\n").and_then(|()| stdin.flush()).expect("write to helper stdin");
    }

    /// Closes stdin, waits for the helper, asserts it succeeded and returns all its JSON lines.
    pub(crate) fn finish(mut self) -> Vec<Value> {
        self.stdin = None;
        let mut rest = Vec::new();
        self.stdout.read_to_end(&mut rest).expect("read helper stdout");
        let status = self.child.wait().expect("wait for helper");
        let stderr = self.stderr_text();
        assert!(status.success(), "helper {} failed ({status}): {stderr}", self.name);
        let mut lines = std::mem::take(&mut self.lines);
        lines.extend(json_lines(&rest));
        lines
    }

    fn stderr_text(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.stderr.take() {
            let _ = stderr.read_to_string(&mut text);
        }
        text.trim().to_owned()
    }
}

impl Drop for HelperProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `mysql-io record` a test started in the background. Its stderr is read on a thread, so that
/// waiting for the recorder to start has a real deadline and every line it printed is at hand
/// for failure messages. Killed on drop if still running.
#[derive(Debug)]
pub(crate) struct Recording {
    child: Child,
    lines: mpsc::Receiver<String>,
    reader: Option<thread::JoinHandle<()>>,
    /// What it printed so far.
    stderr: String,
}

impl Recording {
    /// Spawns `record` (a `mysql-io record ...` command) with stderr piped and returns once it
    /// says it is recording ("... Ctrl-C stops"): that line comes after every probe is attached
    /// and after the first SHOW GLOBAL STATUS snapshot, so whatever the test does next is traced.
    /// Panics with its stderr if it exits first or takes more than 60 s.
    pub(crate) fn start(record: &mut Command) -> Recording {
        let mut child = record.stderr(Stdio::piped()).spawn().expect("spawn mysql-io record");
        let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let (tx, lines) = mpsc::channel();
        let reader = thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut rec = Recording { child, lines, reader: Some(reader), stderr: String::new() };
        rec.wait_for("Ctrl-C stops", Duration::from_secs(60));
        rec
    }

    /// Waits until the recorder prints a line containing `what` and returns the line. Panics
    /// with everything it printed if it exits first or `timeout` passes.
    pub(crate) fn wait_for(&mut self, what: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    self.stderr.push_str(&line);
                    self.stderr.push('\n');
                    if line.contains(what) {
                        return line;
                    }
                }
                Err(e) => {
                    let why = match e {
                        mpsc::RecvTimeoutError::Timeout => format!("did not say {what:?} within {timeout:?}"),
                        mpsc::RecvTimeoutError::Disconnected => format!("exited before it said {what:?}"),
                    };
                    panic!("mysql-io record {why}:\n{}", self.stderr);
                }
            }
        }
    }

    /// The recorder's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (SIGINT is Ctrl-C) to the recorder.
    pub(crate) fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill({}, {signal}): {}", self.child.id(), std::io::Error::last_os_error());
    }

    /// Waits for the recorder to exit and returns its status and everything it printed on stderr.
    pub(crate) fn wait(mut self) -> (ExitStatus, String) {
        let status = self.child.wait().expect("wait for mysql-io record");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stderr reader");
        }
        let mut stderr = std::mem::take(&mut self.stderr);
        for line in self.lines.try_iter() {
            stderr.push_str(&line);
            stderr.push('\n');
        }
        (status, stderr)
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The folios of device `dev`'s files that left the page cache during the recording `trace`, per
/// name of the evicting thread (on these VMs, now and then DAMON's `kdamond` proactive reclaim).
pub(crate) fn evictions(trace: &Path, dev: u32) -> BTreeMap<String, u64> {
    let file = mysql_io_format::TraceFile::open(trace).expect("open trace");
    let t = file.parse().expect("parse trace");
    let names: BTreeMap<u32, &str> = t.threads().iter().map(|th| (th.tid, th.comm.as_str())).collect();
    let mut out = BTreeMap::new();
    for e in t.events() {
        let e = e.expect("decode event");
        if matches!(e.body, EventBody::PageCacheDelete(d) if d.dev == dev) {
            let who = names.get(&e.tid).map_or_else(|| format!("tid {}", e.tid), |n| n.to_string());
            *out.entry(who).or_default() += 1;
        }
    }
    out
}

/// The readahead triggers about inode `ino`, in trace order.
pub(crate) fn triggers_of(events: &[Event], ino: u64) -> Vec<ReadaheadTrigger> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ReadaheadTrigger(r) if r.ino == ino => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// The readahead windows about inode `ino` (decided and unbounded), in trace order.
pub(crate) fn windows_of(events: &[Event], ino: u64) -> Vec<ReadaheadWindow> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ReadaheadWindow(w) if w.ino == ino => Some(w.clone()),
            _ => None,
        })
        .collect()
}

/// The lines of the `reads` helper's output that are read calls (not opens or notes).
pub(crate) fn read_calls(lines: Vec<Value>) -> Vec<Value> {
    lines
        .into_iter()
        .filter(|l| {
            ["pread64", "read", "preadv", "readv", "preadv2"].contains(&l["op"].as_str().unwrap_or(""))
        })
        .collect()
}

/// Runs a command to completion and returns its output, panicking with its stdout and stderr when
/// it fails.
pub(crate) fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}{}", text(&out.stdout), text(&out.stderr));
    out
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A throwaway MariaDB (`scripts/mariadb-sandbox`: its own loop-mounted ext4, socket, no
/// network); stopped and removed (filesystem unmounted) when dropped, on failure too.
#[derive(Debug)]
pub(crate) struct Sandbox {
    dir: PathBuf,
    _parent: TempDir,
}

/// One server at a time: two sandboxes starting and running sysbench side by side on a 2-core
/// machine make each other's recordings (and thread races) less like the other runs of the test.
static ONE_SERVER: Mutex<()> = Mutex::new(());

/// Holds the one-server lock.
pub(crate) fn one_server() -> std::sync::MutexGuard<'static, ()> {
    // A test that failed while holding the lock poisons it; the next one runs anyway.
    ONE_SERVER.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sandbox {
    /// Starts a server (`extra`: the script's options) and returns it with its pid.
    pub(crate) fn start(extra: &[&str]) -> (Sandbox, u32) {
        let parent = tempfile::Builder::new().prefix("mysql-io-mariadb.").tempdir().expect("tempdir");
        let sb = Sandbox { dir: parent.path().join("sandbox"), _parent: parent };
        let pid = sb.script("start", extra);
        (sb, pid)
    }

    fn script(&self, verb: &str, extra: &[&str]) -> u32 {
        let out = run_ok(
            Command::new(workspace().join("scripts/mariadb-sandbox")).arg(verb).arg(&self.dir).args(extra),
        );
        // What the script said on a start that worked in the end (a retried install) is shown
        // with the test's output when the test fails, and with --nocapture.
        if !out.stderr.is_empty() {
            eprintln!("mariadb-sandbox {verb}: {}", text(&out.stderr));
        }
        text(&out.stdout)
            .trim()
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .expect("the sandbox prints the pid")
    }

    /// Clean shutdown, data pages dropped from the page cache, start again (empty buffer pool).
    pub(crate) fn restart(&self) -> u32 {
        self.script("restart", &[])
    }

    /// The server's unix socket.
    pub(crate) fn socket(&self) -> String {
        self.dir.join("mysqld.sock").to_string_lossy().into_owned()
    }

    /// Runs one SQL statement as root and returns what it printed (tab-separated, no headers).
    pub(crate) fn sql(&self, q: &str) -> String {
        let out = run_ok(
            Command::new("mariadb")
                .args(["--no-defaults", "-uroot", "-N", "-B"])
                .arg(format!("--socket={}", self.socket()))
                .arg(format!("--execute={q}")),
        );
        text(&out.stdout)
    }

    /// Runs sysbench against the server's sbtest database and returns what it printed.
    pub(crate) fn sysbench(&self, args: &[&str]) -> String {
        let out = run_ok(
            Command::new("sysbench")
                .args(args)
                .args(["--db-driver=mysql", "--mysql-user=root", "--mysql-db=sbtest"])
                .arg(format!("--mysql-socket={}", self.socket())),
        );
        text(&out.stdout)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let r = Command::new(workspace().join("scripts/mariadb-sandbox")).arg("stop").arg(&self.dir).status();
        if !matches!(r, Ok(s) if s.success()) {
            eprintln!("mariadb-sandbox stop {} failed: {r:?}", self.dir.display());
        }
    }
}

/// A benchmark's option `name VALUE` from its command line, or `default`.
pub(crate) fn bench_arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
