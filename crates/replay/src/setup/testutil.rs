//! Test fixtures: loop-device filesystems, child processes, page-cache residency. Every fixture
//! undoes what it did in `Drop`, so a failing test leaves nothing behind.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Environment variable telling a re-executed test binary which child role to play.
pub(super) const ROLE_VAR: &str = "MIO_SETUP_TEST_ROLE";

/// The role this process plays, if it is a child started by a test.
pub(super) fn child_role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// Arguments that make the test binary run just one test (`module` is `module_path!()`).
pub(super) fn child_args(module: &str, test: &str) -> Vec<String> {
    let module = module.split_once("::").map_or(module, |(_crate, rest)| rest);
    vec![format!("{module}::{test}"), "--exact".into(), "--nocapture".into(), "--test-threads=1".into()]
}

pub(super) fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Uid:").map(|v| v.split_whitespace().nth(1) == Some("0")))
        })
        .unwrap_or(false)
}

/// Whether a command is on PATH (or in /sbin, /usr/sbin).
pub(super) fn have(cmd: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path.split(':').chain(["/sbin", "/usr/sbin"]).any(|dir| Path::new(dir).join(cmd).is_file());
    found
}

/// Runs a command; its trimmed stdout, or a description of the failure.
pub(super) fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd).args(args).output().map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!("{cmd} {args:?}: {} {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Pages of the file in the page cache (through util-linux `fincore`), `None` without fincore.
pub(super) fn cached_pages(path: &Path) -> Option<u64> {
    let path = path.to_str()?;
    run("fincore", &["--raw", "--noheadings", "--output", "PAGES", path]).ok()?.parse().ok()
}

/// A fresh ext4 filesystem on a loop device over a 64 MiB image, mounted in a temporary
/// directory. Drop restores the loop device's `read_ahead_kb`, unmounts and detaches it.
#[derive(Debug)]
pub(super) struct LoopFs {
    /// `/dev/loopN`.
    pub(super) loop_dev: String,
    /// The device holding the filesystem: `/dev/loopN`, or `/dev/loopNp1` when partitioned.
    pub(super) fs_dev: String,
    /// `read_ahead_kb` of the loop device when it was attached.
    ra: Option<(PathBuf, String)>,
    mounted: bool,
    mount: tempfile::TempDir,
    _image: tempfile::TempDir,
}

impl LoopFs {
    /// `None` (test skipped) when not root or the tools are missing.
    pub(super) fn new(partitioned: bool) -> Option<Self> {
        if !is_root() || !["losetup", "mkfs.ext4", "mount", "umount"].iter().all(|c| have(c)) {
            eprintln!("skipped: needs root, losetup, mkfs.ext4 and mount");
            return None;
        }
        let image_dir = tempfile::tempdir().expect("tempdir");
        let image = image_dir.path().join("disk.img");
        let mut file = File::create(&image).expect("create the image");
        file.set_len(64 << 20).expect("size the image");
        if partitioned {
            write_mbr(&mut file, 64 << 20);
        }
        drop(file);
        let image_str = image.to_str().expect("utf-8 path");
        let args: &[&str] =
            if partitioned { &["-f", "--show", "-P", image_str] } else { &["-f", "--show", image_str] };
        let loop_dev = run("losetup", args).expect("attach a loop device");
        let name = loop_dev.trim_start_matches("/dev/").to_owned();
        let mut me = LoopFs {
            fs_dev: loop_dev.clone(),
            loop_dev,
            ra: None,
            mounted: false,
            mount: tempfile::tempdir().expect("tempdir"),
            _image: image_dir,
        };
        let ra_path = PathBuf::from(format!("/sys/block/{name}/queue/read_ahead_kb"));
        let old = fs::read_to_string(&ra_path).expect("read read_ahead_kb");
        me.ra = Some((ra_path, old.trim().to_owned()));
        if partitioned {
            me.fs_dev = format!("{}p1", me.loop_dev);
            // A kernel without the msdos partition parser (CONFIG_MSDOS_PARTITION) does not scan
            // the table itself: partx reads it and adds the partition through BLKPG.
            if !wait_for_path(&me.fs_dev, Duration::from_secs(1)) {
                run("partx", &["-a", &me.loop_dev]).expect("add the partition with partx");
            }
            assert!(wait_for_path(&me.fs_dev, Duration::from_secs(10)), "{} did not appear", me.fs_dev);
        }
        run("mkfs.ext4", &["-q", "-F", &me.fs_dev]).expect("mkfs");
        let mount = me.mount.path().to_str().expect("utf-8 path").to_owned();
        run("mount", &[&me.fs_dev, &mount]).expect("mount");
        me.mounted = true;
        Some(me)
    }

    /// The mounted filesystem's root.
    pub(super) fn root(&self) -> &Path {
        self.mount.path()
    }

    /// The loop device's `read_ahead_kb` file and its value when attached.
    pub(super) fn readahead(&self) -> (&Path, &str) {
        let (path, value) = self.ra.as_ref().expect("set in new");
        (path, value)
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        if let Some((path, value)) = &self.ra {
            let _ = fs::write(path, value);
        }
        if self.mounted {
            let mount = self.mount.path().to_string_lossy().into_owned();
            if run("umount", &[&mount]).is_err() {
                let _ = run("umount", &["-l", &mount]);
            }
        }
        let _ = run("losetup", &["-d", &self.loop_dev]);
    }
}

fn wait_for_path(path: &str, timeout: Duration) -> bool {
    let start = Instant::now();
    while !Path::new(path).exists() {
        if start.elapsed() > timeout {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}

/// One Linux partition from sector 2048 to the end, in an MBR.
fn write_mbr(file: &mut File, size: u64) {
    let start: u32 = 2048;
    let sectors = u32::try_from(size / 512).expect("small image") - start;
    let mut sector = [0u8; 512];
    let entry = &mut sector[446..462];
    entry[4] = 0x83;
    entry[8..12].copy_from_slice(&start.to_le_bytes());
    entry[12..16].copy_from_slice(&sectors.to_le_bytes());
    sector[510] = 0x55;
    sector[511] = 0xaa;
    file.seek(SeekFrom::Start(0)).expect("seek");
    file.write_all(&sector).expect("write the MBR");
}

/// Writes `size` bytes of non-zero data (so reads really hit the disk) and fsyncs.
pub(super) fn write_data_file(path: &Path, size: u64) {
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(path).expect("create");
    let block: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8 + 1).collect();
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n]).expect("write");
        left -= n as u64;
    }
    file.sync_all().expect("fsync");
}

/// A child process killed and reaped on drop.
#[derive(Debug)]
pub(super) struct ChildGuard {
    pub(super) child: Child,
    stdout: Option<BufReader<ChildStdout>>,
}

impl ChildGuard {
    /// Starts this test binary again to play `role` in the test `test` of `module`.
    pub(super) fn spawn(module: &str, test: &str, role: &str, env: &[(&str, &str)]) -> Self {
        let exe = std::env::current_exe().expect("exe");
        let mut child = Command::new(exe)
            .args(child_args(module, test))
            .env(ROLE_VAR, role)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the child");
        let stdout = child.stdout.take().map(BufReader::new);
        ChildGuard { child, stdout }
    }

    /// Wraps a child started some other way.
    pub(super) fn wrap(child: Child) -> Self {
        ChildGuard { child, stdout: None }
    }

    /// Reads the child's stdout until a line containing `prefix` (libtest may have printed
    /// "test NAME ... " before it on the same line); returns what follows it.
    pub(super) fn wait_for(&mut self, prefix: &str) -> String {
        let stdout = self.stdout.as_mut().expect("stdout is piped");
        let mut line = String::new();
        loop {
            line.clear();
            let n = stdout.read_line(&mut line).expect("read the child's stdout");
            assert!(n > 0, "the child ended before printing {prefix}");
            if let Some((_, rest)) = line.trim_end().split_once(prefix) {
                return rest.to_owned();
            }
        }
    }

    /// The rest of the child's stdout.
    pub(super) fn rest_of_stdout(&mut self) -> String {
        let mut s = String::new();
        if let Some(stdout) = self.stdout.as_mut() {
            let _ = stdout.read_to_string(&mut s);
        }
        s
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal with kill(1).
    pub(super) fn signal(&self, name: &str) {
        run("kill", &[&format!("-{name}"), &self.pid().to_string()]).expect("kill");
    }

    /// Waits at most `timeout` for the child to end; its exit code (`None` if killed by a signal).
    pub(super) fn wait_code(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(start.elapsed() < timeout, "the child did not end within {timeout:?}");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
