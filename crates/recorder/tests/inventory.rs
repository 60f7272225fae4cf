//! The inventory against the real /proc and /sys of this machine: a child process with known open
//! files, this test process's own threads, the mount table and the block devices.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mysql_io_format::{make_dev, O_DIRECT};
use mysql_io_recorder::inventory::{
    block_device_of, block_devices, find_by_comm, host_facts, open_file, process_exists, snapshot_process,
    thread_comm, InventoryError, Mounts, OpenFile,
};

const TS: u64 = 123_456_789;

/// Kills and reaps the child when the test ends, passed or failed.
struct ChildGuard(Child);

impl ChildGuard {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn command_output(program: &str, args: &[&str]) -> String {
    let output =
        Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(output.status.success(), "{program} {args:?} failed");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// `stat(2)`'s device in the kernel's encoding, computed independently of the inventory.
fn kernel_dev_of(path: &Path) -> u32 {
    let st_dev = fs::metadata(path).expect("stat").dev();
    make_dev(libc::major(st_dev), libc::minor(st_dev))
}

/// One line of /proc/self/mountinfo, parsed here rather than by the code under test.
struct MountLine {
    major: u32,
    minor: u32,
    mount_point: String,
    fs_type: String,
}

fn own_mountinfo() -> Vec<MountLine> {
    let text = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let (major, minor) = fields.get(2)?.split_once(':')?;
            Some(MountLine {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                mount_point: (*fields.get(4)?).to_owned(),
                fs_type: after.split(' ').next()?.to_owned(),
            })
        })
        .collect()
}

/// Filesystem type of the first mount of the filesystem holding `path`.
fn fs_type_of(path: &Path) -> String {
    let st_dev = fs::metadata(path).expect("stat").dev();
    own_mountinfo()
        .into_iter()
        .find(|mount| mount.major == libc::major(st_dev) && mount.minor == libc::minor(st_dev))
        .map(|mount| mount.fs_type)
        .expect("the filesystem of the path is in mountinfo")
}

fn pid_max() -> u32 {
    fs::read_to_string("/proc/sys/kernel/pid_max")
        .expect("read pid_max")
        .trim()
        .parse()
        .expect("pid_max is a number")
}

#[test]
fn host_facts_agree_with_uname() {
    let facts = host_facts();
    assert_eq!(facts.kernel_release, command_output("uname", &["-r"]));
    assert_eq!(facts.kernel_version, command_output("uname", &["-v"]));
    assert_eq!(facts.arch, command_output("uname", &["-m"]));
    assert_eq!(facts.host, command_output("hostname", &[]));
    assert_eq!(facts.page_size, 4096);
    let online: u32 =
        command_output("getconf", &["_NPROCESSORS_ONLN"]).parse().expect("getconf prints a number");
    assert_eq!(facts.cpus, online);
}

/// Files the child holds open, and what each should look like.
struct ChildFiles {
    _dir: tempfile::TempDir,
    stdin_file: PathBuf,
    read_file: PathBuf,
    read_write_file: PathBuf,
    deleted_file: PathBuf,
    /// `None` when the tempdir's filesystem refuses `O_DIRECT`.
    direct_file: Option<PathBuf>,
}

const STDIN_CONTENT: &[u8] = b"0123456789\n";
const STDIN_POS: u64 = 5;
const READ_CONTENT: &[u8] = b"seven\n";
const READ_WRITE_CONTENT: &[u8] = b"eight, opened read-write\n";
const DELETED_CONTENT: &[u8] = b"nine, unlinked while open\n";

/// Starts `sleep 30` holding: fd 0 a file at position 5, fd 1 a pipe, fd 2 an `O_DIRECT` file
/// (when the filesystem allows), fd 3 a directory, fd 4 /dev/null, fd 7 a file read-only, fd 8
/// a file read-write, fd 9 a file unlinked after opening.
fn spawn_child() -> (ChildGuard, ChildFiles) {
    let dir = tempfile::Builder::new().prefix("inventory-test").tempdir_in("/tmp").expect("tempdir");
    let dir_path = fs::canonicalize(dir.path()).expect("canonical tempdir");
    let write = |name: &str, content: &[u8]| {
        let path = dir_path.join(name);
        fs::write(&path, content).expect("write test file");
        path
    };
    let stdin_file = write("stdin", STDIN_CONTENT);
    let read_file = write("seven", READ_CONTENT);
    let read_write_file = write("eight", READ_WRITE_CONTENT);
    let deleted_file = write("nine", DELETED_CONTENT);

    // The child inherits the open file description, and with it the position.
    let mut stdin = File::open(&stdin_file).expect("open stdin file");
    stdin.seek(SeekFrom::Start(STDIN_POS)).expect("seek");

    let direct_path = dir_path.join("direct");
    let direct = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(&direct_path);
    let (stderr, direct_file) = match direct {
        Ok(file) => (Stdio::from(file), Some(direct_path)),
        // tmpfs (and a few others) refuse O_DIRECT with EINVAL: then only the O_DIRECT check is
        // skipped.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (Stdio::null(), None),
        Err(e) => panic!("cannot open {}: {e}", direct_path.display()),
    };

    let script = r#"exec 3<"$1" 4</dev/null 7<"$2" 8<>"$3" 9<"$4" && rm -f -- "$4" && exec sleep 30"#;
    let child = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&dir_path)
        .arg(&read_file)
        .arg(&read_write_file)
        .arg(&deleted_file)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn child");
    let guard = ChildGuard(child);

    // The shell has set up every descriptor once it has become `sleep`, but that alone is not
    // enough to take a snapshot: the kernel renames the task during exec before it places the new
    // argument vector (an empty cmdline for a moment), and then the dynamic loader and `sleep`'s
    // locale set-up open and close files of their own at fd 5. Wait for the child to be blocked
    // in its sleep.
    let proc_dir = format!("/proc/{}", guard.pid());
    let sleeping = libc::SYS_clock_nanosleep.to_string();
    let exec_done = || {
        fs::read_to_string(format!("{proc_dir}/comm")).ok().as_deref() == Some("sleep\n")
            && fs::read(format!("{proc_dir}/cmdline")).ok().as_deref() == Some(b"sleep\x0030\x00".as_slice())
            && fs::read_to_string(format!("{proc_dir}/syscall"))
                .is_ok_and(|s| s.split(' ').next() == Some(sleeping.as_str()))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !exec_done() {
        assert!(Instant::now() < deadline, "child was not asleep in `sleep 30` within 10 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    let files = ChildFiles { _dir: dir, stdin_file, read_file, read_write_file, deleted_file, direct_file };
    (guard, files)
}

/// Checks one open file against the file on disk (`metadata` taken before any unlink).
fn check_open_file(found: &OpenFile, pid: u32, fd: i32, path: &Path, metadata: &fs::Metadata, fs_type: &str) {
    let what = format!("fd {fd} ({})", path.display());
    let dev = make_dev(libc::major(metadata.dev()), libc::minor(metadata.dev()));
    assert_eq!(found.fd.pid, pid, "{what}");
    assert_eq!(found.fd.fd, fd, "{what}");
    assert_eq!(found.fd.dev, dev, "{what}: dev in kernel encoding");
    assert_eq!(found.fd.ino, metadata.ino(), "{what}");
    assert_eq!(found.fd.ofd, 0, "{what}");
    assert_eq!(found.file.dev, dev, "{what}");
    assert_eq!(found.file.ino, metadata.ino(), "{what}");
    assert_eq!(found.file.path, path.to_string_lossy(), "{what}");
    assert_eq!(found.file.size, metadata.size(), "{what}");
    assert_eq!(found.file.fs_type, fs_type, "{what}");
    assert_eq!(found.file.ts, TS, "{what}");
}

fn access_mode(flags: u32) -> u32 {
    flags & libc::O_ACCMODE as u32
}

#[test]
fn snapshot_of_a_child_finds_its_regular_files() {
    let (child, files) = spawn_child();
    let pid = child.pid();
    let metadata = |path: &Path| fs::metadata(path).expect("stat test file");
    let stdin_meta = metadata(&files.stdin_file);
    let read_meta = metadata(&files.read_file);
    let read_write_meta = metadata(&files.read_write_file);
    let direct_meta = files.direct_file.as_deref().map(metadata);
    // The unlinked file is still open: stat it through the child's descriptor.
    let deleted_meta = fs::metadata(format!("/proc/{pid}/fd/9")).expect("stat unlinked file");
    assert!(!files.deleted_file.exists(), "the shell unlinked fd 9's file");
    let fs_type = fs_type_of(&files.read_file);

    let snapshot = snapshot_process(pid, TS).expect("snapshot child");

    assert_eq!(snapshot.info.pid, pid);
    assert_eq!(snapshot.info.comm, "sleep");
    let exe = fs::read_link(format!("/proc/{pid}/exe")).expect("child exe");
    assert_eq!(snapshot.info.exe, exe.to_string_lossy());
    assert_eq!(snapshot.info.cmdline, ["sleep", "30"]);
    assert_eq!(snapshot.info.version, "");
    assert_eq!(snapshot.info.ts, TS);

    assert_eq!(snapshot.threads.len(), 1, "sleep has one thread: {:?}", snapshot.threads);
    let thread = &snapshot.threads[0];
    assert_eq!((thread.pid, thread.tid, thread.comm.as_str()), (pid, pid, "sleep"));
    assert_eq!((thread.role.as_str(), thread.ts), ("", TS));

    // fd 1 (pipe), 3 (directory) and 4 (/dev/null) are not regular files.
    let mut expected_fds = vec![0, 7, 8, 9];
    if files.direct_file.is_some() {
        expected_fds.push(2);
        expected_fds.sort_unstable();
    }
    let found_fds: Vec<i32> = snapshot.fds.iter().map(|open| open.fd.fd).collect();
    assert_eq!(found_fds, expected_fds);
    let by_fd = |fd: i32| {
        snapshot
            .fds
            .iter()
            .find(|open| open.fd.fd == fd)
            .unwrap_or_else(|| panic!("fd {fd} is in the snapshot"))
    };

    let stdin = by_fd(0);
    check_open_file(stdin, pid, 0, &files.stdin_file, &stdin_meta, &fs_type);
    assert_eq!(stdin.fd.pos, STDIN_POS);
    assert_eq!(access_mode(stdin.fd.flags), libc::O_RDONLY as u32);

    let read = by_fd(7);
    check_open_file(read, pid, 7, &files.read_file, &read_meta, &fs_type);
    assert_eq!(read.fd.pos, 0);
    assert_eq!(access_mode(read.fd.flags), libc::O_RDONLY as u32);
    assert_eq!(read.fd.flags & O_DIRECT, 0);

    let read_write = by_fd(8);
    check_open_file(read_write, pid, 8, &files.read_write_file, &read_write_meta, &fs_type);
    assert_eq!(access_mode(read_write.fd.flags), libc::O_RDWR as u32);

    // The path comes without the " (deleted)" the kernel appends.
    let deleted = by_fd(9);
    check_open_file(deleted, pid, 9, &files.deleted_file, &deleted_meta, &fs_type);

    if let (Some(path), Some(meta)) = (&files.direct_file, &direct_meta) {
        let direct = by_fd(2);
        check_open_file(direct, pid, 2, path, meta, &fs_type);
        assert_ne!(direct.fd.flags & O_DIRECT, 0, "O_DIRECT is in the flags");
        assert_eq!(access_mode(direct.fd.flags), libc::O_RDWR as u32);
    }

    // A single descriptor reads the same as in the snapshot; others are not regular files.
    assert_eq!(open_file(pid, 8, TS).as_ref(), Some(read_write));
    assert_eq!(open_file(pid, 9, TS).as_ref(), Some(deleted));
    for not_regular in [1, 3, 4, 42, -1] {
        assert_eq!(open_file(pid, not_regular, TS), None, "fd {not_regular}");
    }

    assert_eq!(thread_comm(pid, pid).as_deref(), Some("sleep"));
    assert_eq!(thread_comm(pid, std::process::id()), None, "not a thread of the child");

    assert!(find_by_comm(&["sleep"]).expect("find sleep").contains(&pid));
    assert!(find_by_comm(&["mysqld", "sleep"]).expect("find").contains(&pid));
    assert!(process_exists(pid));

    drop(child);
    assert!(!process_exists(pid), "the reaped child is gone");
    assert!(matches!(
        snapshot_process(pid, TS),
        Err(InventoryError::NoSuchProcess { pid: gone }) if gone == pid
    ));
}

/// A process that has exited but is not reaped yet (a zombie) keeps its comm in /proc; it is not
/// found (a server that has just stopped made `record` wait for it forever).
#[test]
fn find_by_comm_leaves_out_exited_processes() {
    let mut child = std::process::Command::new("sleep").arg("0").spawn().expect("spawn sleep 0");
    let pid = child.id();
    let state = || {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()))
    };
    let start = std::time::Instant::now();
    while state() != Some('Z') {
        assert!(start.elapsed().as_secs() < 10, "sleep 0 did not exit: state {:?}", state());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(!find_by_comm(&["sleep"]).expect("find sleep").contains(&pid), "a zombie is not running");
    child.wait().expect("reap");
}

#[test]
fn find_by_comm_matches_names_only() {
    assert_eq!(find_by_comm(&["no-such-comm-x"]).expect("find"), Vec::<u32>::new());
    assert_eq!(find_by_comm(&[]).expect("find"), Vec::<u32>::new());

    let own_comm = fs::read_to_string("/proc/self/comm").expect("own comm");
    let own = find_by_comm(&[own_comm.trim_end_matches('\n')]).expect("find own comm");
    assert!(!own.contains(&std::process::id()), "the caller is excluded");

    let init_comm = fs::read_to_string("/proc/1/comm").expect("comm of pid 1");
    let init = find_by_comm(&[init_comm.trim_end_matches('\n')]).expect("find init");
    assert!(init.contains(&1));
    assert!(init.windows(2).all(|pair| pair[0] < pair[1]), "ascending: {init:?}");
}

#[test]
fn missing_processes() {
    let impossible = pid_max() + 1;
    assert!(!process_exists(impossible));
    assert!(!process_exists(u32::MAX));
    assert!(process_exists(std::process::id()));

    let err = snapshot_process(impossible, TS).expect_err("no such process");
    assert!(matches!(err, InventoryError::NoSuchProcess { pid } if pid == impossible), "{err:?}");
    assert!(err.to_string().contains(&impossible.to_string()), "{err}");

    assert_eq!(thread_comm(impossible, impossible), None);
    assert_eq!(open_file(impossible, 0, TS), None);
}

/// Tid of the calling thread, from the `/proc/thread-self` link (`PID/task/TID`).
fn own_tid() -> u32 {
    let link = fs::read_link("/proc/thread-self").expect("read /proc/thread-self");
    link.file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse().ok())
        .expect("thread-self ends in the tid")
}

#[test]
fn snapshot_of_self_lists_its_threads() {
    const NAMED: &str = "inv-test-thr";
    let own_pid = std::process::id();

    let (tid_sender, tid_receiver) = mpsc::channel();
    let mut releases = Vec::new();
    let mut handles = Vec::new();
    for index in 0..3 {
        let (release, wait_for_release) = mpsc::channel::<()>();
        releases.push(release);
        let tid_sender = tid_sender.clone();
        let builder = if index == 0 {
            std::thread::Builder::new().name(NAMED.to_owned())
        } else {
            std::thread::Builder::new()
        };
        let handle = builder
            .spawn(move || {
                let _ = tid_sender.send((index, own_tid()));
                // Blocks until the test drops the sender, passed or failed.
                let _ = wait_for_release.recv();
            })
            .expect("spawn thread");
        handles.push(handle);
    }
    drop(tid_sender);
    let mut tids: Vec<(usize, u32)> = tid_receiver.iter().take(3).collect();
    tids.sort_unstable();
    assert_eq!(tids.len(), 3);

    let tasks_before = fs::read_dir("/proc/self/task").expect("list tasks").count();
    let snapshot = snapshot_process(own_pid, TS).expect("snapshot self");
    // Other tests' threads come and go meanwhile.
    const SLACK: usize = 8;
    assert!(
        snapshot.threads.len() + SLACK >= tasks_before,
        "{} threads found, {tasks_before} tasks listed",
        snapshot.threads.len()
    );
    assert!(snapshot.threads.windows(2).all(|pair| pair[0].tid < pair[1].tid));
    assert!(snapshot.threads.iter().all(|thread| thread.pid == own_pid && thread.ts == TS));
    assert!(snapshot.threads.iter().any(|thread| thread.tid == own_pid), "main thread");
    for &(_, tid) in &tids {
        assert!(snapshot.threads.iter().any(|thread| thread.tid == tid), "thread {tid} listed");
    }
    let named_tid = tids[0].1;
    let named =
        snapshot.threads.iter().find(|thread| thread.comm == NAMED).expect("the named thread is listed");
    assert_eq!(named.tid, named_tid);
    assert_eq!(named.role, "");
    assert_eq!(thread_comm(own_pid, named_tid).as_deref(), Some(NAMED));

    // A thread id is not a process.
    assert!(!process_exists(named_tid));
    assert!(matches!(snapshot_process(named_tid, TS), Err(InventoryError::NoSuchProcess { .. })));

    drop(releases);
    for handle in handles {
        handle.join().expect("thread ends");
    }
}

#[test]
fn block_devices_match_sysfs() {
    let devices = block_devices();
    assert!(!devices.is_empty());
    assert!(devices.windows(2).all(|pair| pair[0].name < pair[1].name), "sorted by name");

    for device in &devices {
        let sysfs = Path::new("/sys/class/block").join(&device.name);
        let dev_text = fs::read_to_string(sysfs.join("dev")).expect("read dev");
        let (major, minor) = dev_text.trim().split_once(':').expect("MAJOR:MINOR");
        let expected = make_dev(major.parse().expect("major"), minor.parse().expect("minor"));
        assert_eq!(device.dev, expected, "{}", device.name);

        let queue = if sysfs.join("partition").exists() {
            fs::canonicalize(&sysfs)
                .expect("canonical sysfs dir")
                .parent()
                .expect("a partition sits in its disk's dir")
                .join("queue")
        } else {
            sysfs.join("queue")
        };
        if let Ok(text) = fs::read_to_string(queue.join("read_ahead_kb")) {
            assert_eq!(device.read_ahead_kb.to_string(), text.trim(), "{}", device.name);
        }
    }

    for entry in fs::read_dir("/sys/class/block").expect("list block devices").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(devices.iter().any(|device| device.name == name), "{name} listed");
    }

    if Path::new("/sys/block/vda").exists() {
        let vda = devices.iter().find(|device| device.name == "vda").expect("vda is listed");
        let read_ahead = fs::read_to_string("/sys/block/vda/queue/read_ahead_kb").expect("read_ahead_kb");
        assert_eq!(vda.read_ahead_kb.to_string(), read_ahead.trim());
        let block_size =
            fs::read_to_string("/sys/block/vda/queue/logical_block_size").expect("logical_block_size");
        assert_eq!(vda.logical_block_size.to_string(), block_size.trim());
    }

    // An anonymous device (procfs) has no block device behind it.
    assert_eq!(block_device_of(kernel_dev_of(Path::new("/proc")), &devices), None);
    let root_dev = kernel_dev_of(Path::new("/"));
    if let Some(device) = block_device_of(root_dev, &devices) {
        assert_eq!(device.dev, root_dev);
    } else {
        assert_eq!(libc::major(fs::metadata("/").expect("stat /").dev()), 0, "only an anonymous / has none");
    }
}

#[test]
fn mounts_know_the_root_filesystem() {
    let root = own_mountinfo().into_iter().find(|mount| mount.mount_point == "/").expect("/ is in mountinfo");
    let root_dev = make_dev(root.major, root.minor);
    let mounts = Mounts::read().expect("read mounts");
    assert_eq!(mounts.fs_type(root_dev), Some(root.fs_type.as_str()));
    assert!(mounts.mount_point(root_dev).is_some());
    assert_eq!(mounts.fs_type(make_dev(0, 0xfffff)), None);

    // A file on `/` (not on another mount) reports the device of `/` in kernel encoding.
    let candidates = ["/etc/os-release", "/usr/bin/sh", "/bin/sh", "/etc/passwd"];
    let on_root =
        candidates.iter().map(Path::new).find(|path| path.is_file() && kernel_dev_of(path) == root_dev);
    let Some(path) = on_root else {
        panic!("none of {candidates:?} is on the root filesystem");
    };
    let file = File::open(path).expect("open file on /");
    let open = open_file(std::process::id(), file.as_raw_fd(), TS).expect("open file is found");
    assert_eq!(open.file.dev, root_dev);
    assert_eq!(open.fd.dev, root_dev);
    assert_eq!(open.file.fs_type, root.fs_type);
}

#[test]
fn open_file_sees_writes_and_position() {
    let mut file = tempfile::tempfile_in("/tmp").expect("temp file");
    file.write_all(b"some bytes").expect("write");
    let open = open_file(std::process::id(), file.as_raw_fd(), TS).expect("temp file is found");
    assert_eq!(open.fd.pos, 10);
    assert_eq!(open.file.size, 10);
    assert_eq!(access_mode(open.fd.flags), libc::O_RDWR as u32);
    // An O_TMPFILE / unlinked file still has a path, without the " (deleted)".
    assert!(!open.file.path.ends_with(" (deleted)"), "{}", open.file.path);
}
