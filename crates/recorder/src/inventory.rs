//! What the recorder learns from /proc and /sys rather than from BPF: the machine, the target
//! processes with their threads and open regular files, the mount table and the block devices,
//! returned as the `.mio` format's metadata types.
//!
//! Every device number returned is in the kernel's internal encoding (`major << 20 | minor`,
//! [`mysql_io_format::make_dev`]), the one BPF sees in `inode->i_sb->s_dev`, never `stat(2)`'s.
//!
//! Processes, threads and descriptors come and go while they are being read; one that vanishes
//! midway is skipped rather than reported as an error.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use mysql_io_format::{dev_major, make_dev, BlockDevice, FileInfo, OpenFd, ProcessInfo, ThreadInfo};
use procfs::process::{FDTarget, Process};
use procfs::ProcError;

/// Suffix the kernel appends to the path of an unlinked file in /proc links.
const DELETED_SUFFIX: &str = " (deleted)";

/// Longest `comm` the kernel keeps (`TASK_COMM_LEN` minus the terminating NUL).
const COMM_MAX_BYTES: usize = 15;

/// How often to re-read a descriptor whose number was reused between two reads of it.
const FD_READ_ATTEMPTS: usize = 3;

/// Errors of the inventory.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The process does not exist, is a thread rather than a process, or exited while being read.
    #[error("process {pid} does not exist (or exited while it was being read)")]
    NoSuchProcess {
        /// The process id asked for.
        pid: u32,
    },
    /// Reading a /proc or /sys file failed.
    #[error("could not read {what}: {source}")]
    Io {
        /// What was being read, naming the path.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A /proc file had content that could not be understood.
    #[error("could not parse {what}: {detail}")]
    Parse {
        /// What was being read, naming the path.
        what: String,
        /// What was wrong with it.
        detail: String,
    },
}

/// Machine facts for the trace header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// Host name (`uname -n`).
    pub host: String,
    /// Kernel release (`uname -r`).
    pub kernel_release: String,
    /// Kernel version string (`uname -v`).
    pub kernel_version: String,
    /// Machine architecture (`uname -m`).
    pub arch: String,
    /// Page size in bytes (0 when the system does not say).
    pub page_size: u32,
    /// Number of online CPUs.
    pub cpus: u32,
    /// Memory and page cache, from /proc/meminfo.
    pub memory: Memory,
}

/// What /proc/meminfo says about memory, in KiB (its `kB`); 0 for a value it does not give
/// (`MemAvailable` is missing before Linux 3.14) or when it cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    /// `MemTotal`: usable RAM.
    pub total_kb: u64,
    /// `MemAvailable`: the kernel's estimate of what new allocations could get without swapping.
    pub available_kb: u64,
    /// `Cached`: the page cache (shared memory and tmpfs included).
    pub page_cache_kb: u64,
}

/// Reads /proc/meminfo; all zeros when it cannot be read.
pub fn memory() -> Memory {
    fs::read_to_string("/proc/meminfo").map(|text| parse_meminfo(&text)).unwrap_or_default()
}

/// The [`Memory`] fields of a /proc/meminfo text (`Name:   12345 kB` lines). A line that is
/// not a whole number of kB leaves its field 0.
fn parse_meminfo(text: &str) -> Memory {
    let mut memory = Memory::default();
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let field = match name.trim() {
            "MemTotal" => &mut memory.total_kb,
            "MemAvailable" => &mut memory.available_kb,
            "Cached" => &mut memory.page_cache_kb,
            _ => continue,
        };
        let mut words = value.split_whitespace();
        if let (Some(Ok(kb)), Some("kB"), None) =
            (words.next().map(str::parse::<u64>), words.next(), words.next())
        {
            *field = kb;
        }
    }
    memory
}

/// Reads the host name, kernel release and version, architecture, page size, online CPUs and
/// memory.
pub fn host_facts() -> HostFacts {
    let uts = uname().unwrap_or_else(uname_from_proc);
    let cpus = sysconf(libc::_SC_NPROCESSORS_ONLN)
        .filter(|&n| n > 0)
        .or_else(|| {
            let n = std::thread::available_parallelism().ok()?.get();
            u32::try_from(n).ok()
        })
        .unwrap_or(1);
    HostFacts {
        host: uts.host,
        kernel_release: uts.release,
        kernel_version: uts.version,
        arch: uts.arch,
        page_size: sysconf(libc::_SC_PAGESIZE).unwrap_or(0),
        cpus,
        memory: memory(),
    }
}

/// The `uname(2)` fields [`HostFacts`] needs.
struct Uname {
    host: String,
    release: String,
    version: String,
    arch: String,
}

fn uname() -> Option<Uname> {
    // SAFETY: `utsname` is a plain struct of `c_char` arrays, for which all zeroes is valid.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable `utsname` that outlives the call.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    Some(Uname {
        host: c_chars_to_string(&uts.nodename),
        release: c_chars_to_string(&uts.release),
        version: c_chars_to_string(&uts.version),
        arch: c_chars_to_string(&uts.machine),
    })
}

/// Fallback for a failing `uname(2)` (it does not fail on Linux, but an empty header would be
/// worse than a second source).
fn uname_from_proc() -> Uname {
    let read = |name: &str| read_trimmed(Path::new("/proc/sys/kernel").join(name)).unwrap_or_default();
    Uname {
        host: read("hostname"),
        release: read("osrelease"),
        version: read("version"),
        arch: std::env::consts::ARCH.to_owned(),
    }
}

/// A NUL-terminated `c_char` array as text (lossy: kernel strings are not promised to be UTF-8).
fn c_chars_to_string(chars: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().take_while(|&&c| c != 0).flat_map(|c| c.to_ne_bytes()).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `sysconf(name)`, or `None` when the value is unknown or does not fit.
fn sysconf(name: libc::c_int) -> Option<u32> {
    // SAFETY: sysconf only reads a configuration value; any `name` is accepted (unknown ones
    // return -1).
    let value = unsafe { libc::sysconf(name) };
    u32::try_from(value).ok()
}

/// Processes (tgids) whose comm (`/proc/PID/comm`) is one of `names`, ascending, excluding the
/// caller's own pid and processes that have exited (zombies: a server that has just stopped and
/// whose parent has yet to reap it has nothing left to trace, and is not "running").
///
/// A name longer than the kernel keeps (15 bytes) matches on its first 15 bytes, as the kernel
/// truncates the comm of a process with such a name.
///
/// # Errors
///
/// [`InventoryError::Io`] when /proc cannot be listed.
pub fn find_by_comm(names: &[&str]) -> Result<Vec<u32>, InventoryError> {
    let own_pid = std::process::id();
    let wanted: Vec<&[u8]> =
        names.iter().map(|name| &name.as_bytes()[..name.len().min(COMM_MAX_BYTES)]).collect();
    let processes = procfs::process::all_processes().map_err(|e| proc_error("/proc", e))?;
    let mut pids = Vec::new();
    // Processes that vanish (or cannot be read) while /proc is listed are simply not matches.
    for process in processes.flatten() {
        let Ok(pid) = u32::try_from(process.pid) else {
            continue;
        };
        if pid == own_pid {
            continue;
        }
        let Ok(stat) = process.stat() else {
            continue;
        };
        if matches!(stat.state, 'Z' | 'X') {
            continue;
        }
        if wanted.contains(&stat.comm.as_bytes()) {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// True when a process with this tgid exists (a thread id is not a process). A process that has
/// exited but not yet been reaped by its parent (a zombie) still exists.
pub fn process_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // /proc/TID exists for every thread too, so only the tgid tells a process apart.
    Process::new(pid).and_then(|process| process.status()).is_ok_and(|status| status.tgid == pid)
}

/// One target process as found at the start of recording.
#[derive(Debug, Clone)]
pub struct ProcessSnapshot {
    /// The process: pid, comm, exe, cmdline and `ts`; `version` is left empty for the caller.
    pub info: ProcessInfo,
    /// Every thread in `/proc/PID/task`, ascending by tid.
    pub threads: Vec<ThreadInfo>,
    /// Every descriptor that refers to a regular file, ascending by descriptor.
    pub fds: Vec<OpenFile>,
}

/// A regular file open in a target process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFile {
    /// The descriptor: pid, fd, dev, ino, `ofd` 0 (not known from /proc), flags and position
    /// from fdinfo.
    pub fd: OpenFd,
    /// The file: dev, ino, path (without a trailing ` (deleted)`), size, filesystem type, `ts`.
    pub file: FileInfo,
}

/// Reads a process's info, threads and regular open files. `ts` is stamped on every record.
///
/// The executable path is empty when it cannot be read, and loses a trailing ` (deleted)` (a
/// server whose package was upgraded while it runs).
///
/// # Errors
///
/// [`InventoryError::NoSuchProcess`] when `pid` is not a process (or exits while being read);
/// another error when its /proc entries cannot be read or understood.
pub fn snapshot_process(pid: u32, ts: u64) -> Result<ProcessSnapshot, InventoryError> {
    let no_such_process = || InventoryError::NoSuchProcess { pid };
    let pid_i32 = i32::try_from(pid).map_err(|_| no_such_process())?;
    let in_process = |what: &str, err: ProcError| {
        if is_gone(&err) {
            no_such_process()
        } else {
            proc_error(format!("/proc/{pid}/{what}"), err)
        }
    };

    let process = Process::new(pid_i32).map_err(|e| in_process("", e))?;
    let status = process.status().map_err(|e| in_process("status", e))?;
    if status.tgid != pid_i32 {
        return Err(no_such_process());
    }
    let comm = process.stat().map_err(|e| in_process("stat", e))?.comm;
    let cmdline = process.cmdline().map_err(|e| in_process("cmdline", e))?;
    // Kernel threads and processes of other users may not show their executable.
    let exe =
        process.exe().map(|path| strip_deleted(path.to_string_lossy().into_owned())).unwrap_or_default();

    let threads = process_threads(&process, pid, ts).map_err(|e| in_process("task", e))?;

    let mounts = Mounts::read_for(pid);
    let mut fds = Vec::new();
    // The iterator already leaves out descriptors closed while the directory is listed.
    for fd_info in process.fd().map_err(|e| in_process("fd", e))?.flatten() {
        // Only a path can be a regular file; sockets, pipes and anonymous inodes cannot.
        if !matches!(fd_info.target, FDTarget::Path(_) | FDTarget::MemFD(_)) {
            continue;
        }
        if let Some(open_file) = read_open_file(pid, fd_info.fd, ts, &mounts) {
            fds.push(open_file);
        }
    }
    fds.sort_by_key(|open_file| open_file.fd.fd);

    Ok(ProcessSnapshot {
        info: ProcessInfo { pid, comm, exe, cmdline, version: String::new(), ts },
        threads,
        fds,
    })
}

/// Every thread of `process` that still exists by the time its name is read, ascending by tid.
fn process_threads(process: &Process, pid: u32, ts: u64) -> Result<Vec<ThreadInfo>, ProcError> {
    let mut threads = Vec::new();
    for task in process.tasks()?.flatten() {
        let (Ok(tid), Ok(stat)) = (u32::try_from(task.tid), task.stat()) else {
            continue;
        };
        threads.push(ThreadInfo { pid, tid, comm: stat.comm, role: String::new(), ts });
    }
    threads.sort_by_key(|thread| thread.tid);
    Ok(threads)
}

/// The current name of a thread, if it still exists.
pub fn thread_comm(pid: u32, tid: u32) -> Option<String> {
    let pid = i32::try_from(pid).ok()?;
    let tid = i32::try_from(tid).ok()?;
    // /proc/PID/task/TID only exists when TID belongs to PID.
    let task = Process::new(pid).ok()?.task_from_tid(tid).ok()?;
    Some(task.stat().ok()?.comm)
}

/// What a file descriptor of a process refers to now, if it is a regular file (used when the
/// recorder sees an fd/inode it does not know yet). Same rules as [`OpenFile`].
pub fn open_file(pid: u32, fd: i32, ts: u64) -> Option<OpenFile> {
    if fd < 0 {
        return None;
    }
    read_open_file(pid, fd, ts, &Mounts::read_for(pid))
}

/// Reads one descriptor from /proc/PID/fd and /proc/PID/fdinfo; `None` unless it is a regular
/// file that stays open (as the same file) while it is read.
fn read_open_file(pid: u32, fd: i32, ts: u64, mounts: &Mounts) -> Option<OpenFile> {
    let fd_path = PathBuf::from(format!("/proc/{pid}/fd/{fd}"));
    for _ in 0..FD_READ_ATTEMPTS {
        // Following the magic link stats the open file itself, even when it has been unlinked.
        let metadata = fs::metadata(&fd_path).ok()?;
        if !metadata.file_type().is_file() {
            return None;
        }
        let link = fs::read_link(&fd_path).ok()?;
        let fdinfo = read_fdinfo(pid, fd)?;
        // The descriptor was closed and its number reused between the reads: read it again.
        if fdinfo.ino.is_some_and(|ino| ino != metadata.ino()) {
            continue;
        }
        let dev = kernel_dev(metadata.dev());
        let ino = metadata.ino();
        return Some(OpenFile {
            fd: OpenFd { pid, fd, dev, ino, ofd: 0, flags: fdinfo.flags, pos: fdinfo.pos },
            file: FileInfo {
                dev,
                ino,
                path: strip_deleted(link.to_string_lossy().into_owned()),
                size: metadata.size(),
                fs_type: mounts.fs_type(dev).unwrap_or_default().to_owned(),
                ts,
            },
        });
    }
    None
}

/// The fields of `/proc/PID/fdinfo/FD` the inventory uses.
#[derive(Debug, PartialEq, Eq)]
struct FdInfoFields {
    pos: u64,
    flags: u32,
    /// Present since Linux 5.14.
    ino: Option<u64>,
}

fn read_fdinfo(pid: u32, fd: i32) -> Option<FdInfoFields> {
    parse_fdinfo(&fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?)
}

fn parse_fdinfo(text: &str) -> Option<FdInfoFields> {
    let (mut pos, mut flags, mut ino) = (None, None, None);
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "pos" => pos = value.parse().ok(),
            // The kernel prints f_flags in octal.
            "flags" => flags = u32::from_str_radix(value, 8).ok(),
            "ino" => ino = value.parse().ok(),
            _ => {}
        }
    }
    Some(FdInfoFields { pos: pos?, flags: flags?, ino })
}

/// A /proc link target without the ` (deleted)` the kernel appends for an unlinked file.
fn strip_deleted(path: String) -> String {
    match path.strip_suffix(DELETED_SUFFIX) {
        Some(stripped) => stripped.to_owned(),
        None => path,
    }
}

/// `stat(2)`'s `st_dev` (glibc encoding) in the kernel's internal encoding.
fn kernel_dev(st_dev: u64) -> u32 {
    make_dev(libc::major(st_dev), libc::minor(st_dev))
}

/// `MAJOR:MINOR` (sysfs `dev` files, mountinfo field 3) in the kernel's internal encoding.
fn parse_major_minor(text: &str) -> Option<u32> {
    let (major, minor) = text.trim().split_once(':')?;
    Some(make_dev(major.parse().ok()?, minor.parse().ok()?))
}

/// Mount table: filesystem type per device.
#[derive(Debug, Clone, Default)]
pub struct Mounts {
    /// In mountinfo order, so the first entry of a device is the first mount of it.
    entries: Vec<MountEntry>,
}

#[derive(Debug, Clone)]
struct MountEntry {
    dev: u32,
    fs_type: String,
    mount_point: String,
}

impl Mounts {
    /// Reads the recorder's own mount table, `/proc/self/mountinfo`.
    ///
    /// # Errors
    ///
    /// When `/proc/self/mountinfo` cannot be read or parsed.
    pub fn read() -> Result<Mounts, InventoryError> {
        let infos = Process::myself()
            .and_then(|process| process.mountinfo())
            .map_err(|e| proc_error("/proc/self/mountinfo", e))?;
        Ok(Self::from_infos(infos))
    }

    /// The mount table as `pid` sees it (it may live in another mount namespace), else the
    /// recorder's own, else an empty one: a missing filesystem type is no reason to lose a file.
    fn read_for(pid: u32) -> Mounts {
        let of_process = i32::try_from(pid)
            .ok()
            .and_then(|pid| Process::new(pid).ok())
            .and_then(|process| process.mountinfo().ok());
        match of_process {
            Some(infos) => Self::from_infos(infos),
            None => Self::read().unwrap_or_default(),
        }
    }

    fn from_infos(infos: procfs::process::MountInfos) -> Mounts {
        let entries = infos
            .into_iter()
            .filter_map(|info| {
                Some(MountEntry {
                    dev: parse_major_minor(&info.majmin)?,
                    fs_type: info.fs_type,
                    mount_point: unescape_mount_path(&info.mount_point.to_string_lossy()),
                })
            })
            .collect();
        Mounts { entries }
    }

    /// Filesystem type (`ext4`, `xfs`, `tmpfs`, ...) of the filesystem on `dev` (kernel encoding).
    pub fn fs_type(&self, dev: u32) -> Option<&str> {
        self.entry(dev).map(|entry| entry.fs_type.as_str())
    }

    /// First mount point of the filesystem on `dev` (kernel encoding).
    pub fn mount_point(&self, dev: u32) -> Option<&str> {
        self.entry(dev).map(|entry| entry.mount_point.as_str())
    }

    fn entry(&self, dev: u32) -> Option<&MountEntry> {
        self.entries.iter().find(|entry| entry.dev == dev)
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape_mount_path(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every block device in /sys/class/block (disks and partitions, loop devices included; skip
/// ones whose `dev` file cannot be read). For a partition, the queue settings are its disk's
/// (the partition's sysfs dir has no `queue`; its parent dir does). Sorted by name.
///
/// Queue settings that cannot be read are 0 (`false` for `rotational`).
pub fn block_devices() -> Vec<BlockDevice> {
    block_devices_and_disks().0
}

/// [`block_devices`], and for each partition among them its `dev` and the name of the disk whose
/// `queue/` it uses (the header's `disks`), in the devices' order. A device with a queue of its
/// own is not in the second list, nor is a partition whose disk has no `queue/`.
pub fn block_devices_and_disks() -> (Vec<BlockDevice>, Vec<(u32, String)>) {
    block_devices_in(Path::new("/sys/class/block"))
}

/// [`block_devices_and_disks`] of the sysfs block class directory `class_dir`.
fn block_devices_in(class_dir: &Path) -> (Vec<BlockDevice>, Vec<(u32, String)>) {
    let Ok(entries) = fs::read_dir(class_dir) else {
        return (Vec::new(), Vec::new());
    };
    let mut found: Vec<(BlockDevice, Option<String>)> = entries
        .flatten()
        .filter_map(|entry| {
            let dir = entry.path();
            let dev = parse_major_minor(&read_trimmed(dir.join("dev"))?)?;
            let queue = queue_of(&dir);
            let read_queue_u32 = |name: &str| {
                queue
                    .as_ref()
                    .and_then(|queue| read_trimmed(queue.dir.join(name)))
                    .and_then(|text| text.parse::<u32>().ok())
                    .unwrap_or(0)
            };
            let device = BlockDevice {
                dev,
                name: entry.file_name().to_string_lossy().into_owned(),
                read_ahead_kb: read_queue_u32("read_ahead_kb"),
                max_sectors_kb: read_queue_u32("max_sectors_kb"),
                rotational: read_queue_u32("rotational") != 0,
                logical_block_size: read_queue_u32("logical_block_size"),
            };
            Some((device, queue.and_then(|queue| queue.disk)))
        })
        .collect();
    found.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let disks = found.iter().filter_map(|(device, disk)| Some((device.dev, disk.clone()?))).collect();
    (found.into_iter().map(|(device, _)| device).collect(), disks)
}

/// Where a block device's queue settings are.
struct Queue {
    /// The `queue` directory.
    dir: PathBuf,
    /// The disk it belongs to when it is not the device's own (the device is a partition).
    disk: Option<String>,
}

/// The `queue` directory holding a block device's settings: its own, or for a partition its
/// disk's (the partition's real sysfs directory sits inside the disk's, which is named after
/// the disk).
fn queue_of(device_dir: &Path) -> Option<Queue> {
    let own = device_dir.join("queue");
    if own.is_dir() {
        return Some(Queue { dir: own, disk: None });
    }
    // /sys/class/block/NAME is a symlink; the parent must be taken of the real directory.
    let real = fs::canonicalize(device_dir).ok()?;
    let disk_dir = real.parent()?;
    let dir = disk_dir.join("queue");
    let disk = disk_dir.file_name()?.to_string_lossy().into_owned();
    dir.is_dir().then_some(Queue { dir, disk: Some(disk) })
}

/// The block device (kernel encoding) backing a filesystem device, when it is one: a filesystem
/// on a disk, partition, loop or device-mapper device has that device as its `s_dev`. `None` for
/// anonymous devices (major 0: tmpfs, overlay, btrfs, ...) and devices not in `devices`.
pub fn block_device_of(fs_dev: u32, devices: &[BlockDevice]) -> Option<&BlockDevice> {
    if dev_major(fs_dev) == 0 {
        return None;
    }
    devices.iter().find(|device| device.dev == fs_dev)
}

/// A small text file's content without surrounding whitespace, `None` when it cannot be read.
fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    fs::read_to_string(path).ok().map(|text| text.trim().to_owned())
}

/// True when `err` means the process, thread or descriptor no longer exists.
fn is_gone(err: &ProcError) -> bool {
    match err {
        ProcError::NotFound(_) => true,
        ProcError::Io(source, _) => {
            source.kind() == io::ErrorKind::NotFound || source.raw_os_error() == Some(libc::ESRCH)
        }
        _ => false,
    }
}

fn proc_error(what: impl Into<String>, err: ProcError) -> InventoryError {
    let what = what.into();
    match err {
        ProcError::Io(source, _) => InventoryError::Io { what, source },
        ProcError::PermissionDenied(_) => {
            InventoryError::Io { what, source: io::ErrorKind::PermissionDenied.into() }
        }
        ProcError::NotFound(_) => InventoryError::Io { what, source: io::ErrorKind::NotFound.into() },
        other => InventoryError::Parse { what, detail: other.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_flags_are_octal() {
        let text = "pos:\t4096\nflags:\t0140002\nmnt_id:\t31\nino:\t1234\n";
        assert_eq!(parse_fdinfo(text), Some(FdInfoFields { pos: 4096, flags: 0o140002, ino: Some(1234) }));
    }

    #[test]
    fn fdinfo_without_ino_still_parses() {
        let parsed = parse_fdinfo("pos:\t0\nflags:\t02\nmnt_id:\t1\n");
        assert_eq!(parsed.map(|fields| fields.ino), Some(None));
        assert_eq!(parse_fdinfo("flags:\t02\n"), None);
    }

    #[test]
    fn major_minor_is_kernel_encoded() {
        assert_eq!(parse_major_minor("254:3\n"), Some(make_dev(254, 3)));
        assert_eq!(parse_major_minor("7:300"), Some((7 << 20) | 300));
        assert_eq!(parse_major_minor("nonsense"), None);
    }

    #[test]
    fn stat_dev_is_converted_to_kernel_encoding() {
        // glibc puts minor bits above 255 at bit 20 and up; the kernel keeps them in bits 0..20.
        let st_dev = libc::makedev(259, 300);
        assert_eq!(kernel_dev(st_dev), make_dev(259, 300));
    }

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount_path(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape_mount_path(r"/a\134b"), r"/a\b");
        assert_eq!(unescape_mount_path(r"/trailing\04"), r"/trailing\04");
    }

    #[test]
    fn deleted_suffix_is_stripped_once() {
        assert_eq!(strip_deleted("/x/ib_logfile0 (deleted)".into()), "/x/ib_logfile0");
        assert_eq!(strip_deleted("/x/y".into()), "/x/y");
    }

    #[test]
    fn anonymous_devices_have_no_block_device() {
        let devices = [BlockDevice { dev: make_dev(0, 25), name: "weird".into(), ..BlockDevice::default() }];
        assert!(block_device_of(make_dev(0, 25), &devices).is_none());
    }

    /// The lines of a real /proc/meminfo (Linux 6.1) that matter here and their neighbours, with
    /// `SwapCached` (not the page cache) and a unit-less line in between.
    const MEMINFO: &str = "\
MemTotal:       25165824 kB
MemFree:         1048576 kB
MemAvailable:   22334567 kB
Buffers:          102400 kB
Cached:          2202010 kB
SwapCached:          512 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
";

    #[test]
    fn meminfo_gives_total_available_and_page_cache() {
        let m = parse_meminfo(MEMINFO);
        assert_eq!(m, Memory { total_kb: 25_165_824, available_kb: 22_334_567, page_cache_kb: 2_202_010 });
        // A kernel without MemAvailable (before 3.14), and a line that is not in kB.
        let old = parse_meminfo("MemTotal: 1000 kB\nCached: 12 pages\n");
        assert_eq!(old, Memory { total_kb: 1000, available_kb: 0, page_cache_kb: 0 });
        assert_eq!(parse_meminfo(""), Memory::default());
    }

    #[test]
    fn this_machines_memory_is_read() {
        let m = memory();
        assert!(m.total_kb > 0, "{m:?}");
        assert!(m.available_kb > 0 && m.available_kb <= m.total_kb, "{m:?}");
        assert!(m.page_cache_kb < m.total_kb, "{m:?}");
        assert_eq!(host_facts().memory.total_kb, m.total_kb, "MemTotal does not change");
    }

    /// A sysfs block class directory as the kernel lays it out: `class/block/NAME` links into
    /// `devices/.../NAME`, a partition's directory sits inside its disk's and has no `queue`.
    fn fake_sysfs(root: &Path) -> PathBuf {
        let write = |path: PathBuf, text: &str| {
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, text).expect("write");
        };
        let devices = root.join("devices/pci0000:00/0000:00:04.0/nvme/nvme0");
        let disk = devices.join("nvme0n1");
        write(disk.join("dev"), "259:0\n");
        write(disk.join("queue/read_ahead_kb"), "512\n");
        write(disk.join("queue/rotational"), "0\n");
        write(disk.join("nvme0n1p2/dev"), "259:2\n");
        write(disk.join("nvme0n1p2/partition"), "2\n");
        let dm = root.join("devices/virtual/block/dm-0");
        write(dm.join("dev"), "253:0\n");
        write(dm.join("queue/read_ahead_kb"), "4096\n");
        let class = root.join("class/block");
        fs::create_dir_all(&class).expect("mkdir");
        for target in [disk.clone(), disk.join("nvme0n1p2"), dm] {
            let name = target.file_name().expect("name").to_owned();
            std::os::unix::fs::symlink(&target, class.join(name)).expect("symlink");
        }
        class
    }

    #[test]
    fn a_partition_names_the_disk_whose_queue_it_uses() {
        let root = tempfile::tempdir().expect("tempdir");
        let (devices, disks) = block_devices_in(&fake_sysfs(root.path()));
        let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["dm-0", "nvme0n1", "nvme0n1p2"]);
        let ra: Vec<u32> = devices.iter().map(|d| d.read_ahead_kb).collect();
        assert_eq!(ra, [4096, 512, 512], "the partition has its disk's settings");
        assert_eq!(disks, [(make_dev(259, 2), "nvme0n1".to_string())]);
        assert_eq!(block_devices_in(&root.path().join("missing")), (vec![], vec![]));
    }

    #[test]
    fn this_machines_partitions_have_disks_with_queues() {
        let (devices, disks) = block_devices_and_disks();
        for (dev, disk) in &disks {
            let partition = devices.iter().find(|d| d.dev == *dev).expect("a listed device");
            assert!(Path::new("/sys/class/block").join(&partition.name).join("partition").exists());
            assert!(devices.iter().any(|d| &d.name == disk), "{disk} is listed too");
            assert!(Path::new("/sys/class/block").join(disk).join("queue").is_dir());
        }
        for d in &devices {
            let dir = Path::new("/sys/class/block").join(&d.name);
            let listed = disks.iter().any(|(dev, _)| *dev == d.dev);
            if dir.join("queue").is_dir() {
                assert!(!listed, "{} has a queue of its own", d.name);
            } else if dir.join("partition").exists() {
                assert!(listed, "partition {} names its disk", d.name);
            }
        }
    }
}
