//! The block devices under the replay files, and their readahead (`queue/read_ahead_kb`).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::mounts::{mount_of, mounts};
use super::undo::{self, Undo};
use super::SetupError;

/// The block device whose request queue serves a file's reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlockDevice {
    /// Kernel name of the device that owns the queue, e.g. `nvme0n1`, `dm-0`, `loop3` (for a file
    /// on a partition, the whole disk: partitions have no queue of their own).
    pub name: String,
    /// Its `queue` directory in sysfs, e.g. `/sys/devices/.../block/nvme0n1/queue`.
    pub sysfs_queue: PathBuf,
    /// Its device number.
    pub major: u32,
    /// Its device number.
    pub minor: u32,
    /// The partition the file is on (e.g. `nvme0n1p2`), if it is on one.
    pub partition: Option<String>,
}

impl BlockDevice {
    /// The `read_ahead_kb` file.
    pub fn read_ahead_kb_path(&self) -> PathBuf {
        self.sysfs_queue.join("read_ahead_kb")
    }

    /// The current `read_ahead_kb`.
    pub fn read_ahead_kb(&self) -> Result<u32, SetupError> {
        let path = self.read_ahead_kb_path();
        let text = fs::read_to_string(&path).map_err(|e| SetupError::io("read", &path, e))?;
        text.trim().parse().map_err(|_| {
            SetupError::io("parse", path, io::Error::new(io::ErrorKind::InvalidData, text.trim().to_owned()))
        })
    }
}

/// The block device whose readahead setting applies to reads of `path`.
///
/// Found from the file's `st_dev` (or, for a block device node such as a raw InnoDB data file, its
/// `st_rdev`) through `/sys/dev/block/MAJOR:MINOR`. A partition's queue is its disk's; device
/// mapper and loop devices have their own. Files on a filesystem without a block device (tmpfs,
/// overlayfs, NFS, and btrfs, whose files carry an anonymous device number) give an error that
/// names the filesystem.
pub fn device_of(path: &Path) -> Result<BlockDevice, SetupError> {
    let meta = fs::metadata(path).map_err(|e| SetupError::io("read the metadata of", path, e))?;
    let dev = if meta.file_type().is_block_device() { meta.rdev() } else { meta.dev() };
    let (major, minor) = split_dev(dev);
    match queue_device(Path::new("/sys"), major, minor)
        .map_err(|e| SetupError::io("resolve the block device of", path, e))?
    {
        Some(device) => Ok(device),
        None => {
            let fs = match mount_of(&mounts(), major, minor, path) {
                Some(m) => format!("{} ({} mounted at {})", m.fstype, m.source, m.mount_point.display()),
                None => format!("a filesystem with device number {major}:{minor}"),
            };
            Err(SetupError::NoBlockDevice { path: path.to_owned(), fs })
        }
    }
}

/// The distinct devices under `paths`, in first-seen order.
pub fn devices_of<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<BlockDevice>, SetupError> {
    let mut out: Vec<BlockDevice> = Vec::new();
    for path in paths {
        let device = device_of(path.as_ref())?;
        if !out.iter().any(|d| (d.major, d.minor) == (device.major, device.minor)) {
            out.push(device);
        }
    }
    Ok(out)
}

/// Linux's `dev_t` layout (glibc's `major()`/`minor()`).
fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// Resolves `MAJOR:MINOR` under a sysfs root (a parameter so tests can use a fake tree).
/// `Ok(None)`: no such block device, or it has no settable readahead.
fn queue_device(sys: &Path, major: u32, minor: u32) -> io::Result<Option<BlockDevice>> {
    let link = sys.join(format!("dev/block/{major}:{minor}"));
    let dir = match fs::canonicalize(&link) {
        Ok(dir) => dir,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let name_of = |d: &Path| d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (owner, partition) = if dir.join("partition").exists() {
        let parent = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        (parent, Some(name_of(&dir)))
    } else {
        (dir, None)
    };
    let sysfs_queue = owner.join("queue");
    if !sysfs_queue.join("read_ahead_kb").exists() {
        return Ok(None);
    }
    let (major, minor) = fs::read_to_string(owner.join("dev"))
        .ok()
        .and_then(|s| {
            let (a, b) = s.trim().split_once(':')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or((major, minor));
    Ok(Some(BlockDevice { name: name_of(&owner), sysfs_queue, major, minor, partition }))
}

/// Sets `read_ahead_kb` on devices for as long as it lives; the old values are written back when
/// it is dropped (also while a panic unwinds), by [`ReadaheadGuard::restore`], or on SIGINT,
/// SIGTERM and SIGHUP once [`super::restore_on_signals`] was called.
///
/// **Set it before the replay opens its files.** A file description copies the device's
/// readahead (`file->f_ra.ra_pages`) when it is opened, so descriptions opened earlier keep the
/// old value for their whole life.
///
/// SIGKILL cannot be caught: show the user [`ReadaheadGuard::restore_hint`] when setting it.
#[derive(Debug)]
pub struct ReadaheadGuard {
    /// (device, old value, new value as read back).
    changed: Vec<(BlockDevice, String, String)>,
    undo_ids: Vec<u64>,
}

impl ReadaheadGuard {
    /// Writes `kb` to `queue/read_ahead_kb` of each distinct device (by device number). The kernel
    /// keeps whole pages, so the value read back can be lower than `kb` when it is not a multiple
    /// of the page size in KiB; [`ReadaheadGuard::restore_hint`] shows the value read back. If one
    /// write fails, the devices already changed are restored before the error is returned.
    pub fn set(devices: &[BlockDevice], kb: u32) -> Result<Self, SetupError> {
        let mut guard = ReadaheadGuard { changed: Vec::new(), undo_ids: Vec::new() };
        // Hold the undo list across each write and its registration so that a signal sees both.
        let mut pending = undo::lock();
        for device in devices {
            if guard.changed.iter().any(|(d, _, _)| (d.major, d.minor) == (device.major, device.minor)) {
                continue;
            }
            let path = device.read_ahead_kb_path();
            let fail =
                |source| SetupError::Readahead { device: device.name.clone(), path: path.clone(), source };
            let old = match fs::read_to_string(&path) {
                Ok(s) => s.trim().to_owned(),
                Err(e) => {
                    drop(pending);
                    return Err(fail(e));
                }
            };
            if let Err(e) = fs::write(&path, kb.to_string()) {
                drop(pending);
                return Err(fail(e)); // `guard` drops here and restores the earlier devices
            }
            guard.undo_ids.push(pending.push(Undo::Write { path: path.clone(), value: old.clone() }));
            let now =
                fs::read_to_string(&path).map(|s| s.trim().to_owned()).unwrap_or_else(|_| kb.to_string());
            guard.changed.push((device.clone(), old, now));
        }
        Ok(guard)
    }

    /// The devices changed, each with its old and new `read_ahead_kb`.
    pub fn changes(&self) -> impl Iterator<Item = (&BlockDevice, &str, &str)> {
        self.changed.iter().map(|(d, old, new)| (d, old.as_str(), new.as_str()))
    }

    /// What was changed and how to undo it by hand, one line per device, for the CLI to print
    /// when the guard is set (in case the process is killed with SIGKILL), e.g.
    /// `read_ahead_kb of loop3 set to 512 (was 128); to restore: echo 128 > /sys/.../read_ahead_kb`.
    pub fn restore_hint(&self) -> String {
        self.changed
            .iter()
            .map(|(d, old, new)| {
                format!(
                    "read_ahead_kb of {} set to {new} (was {old}); to restore: echo {old} > {}",
                    d.name,
                    d.read_ahead_kb_path().display()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Writes the old values back now, reporting the first failure (dropping does the same
    /// silently).
    pub fn restore(mut self) -> Result<(), SetupError> {
        self.restore_inner()
    }

    fn restore_inner(&mut self) -> Result<(), SetupError> {
        let mut pending = undo::lock();
        let undos = pending.take(&std::mem::take(&mut self.undo_ids));
        let mut first_err = None;
        for undo in &undos {
            if let (Err(source), Undo::Write { path, .. }) = (undo.run(), undo) {
                first_err.get_or_insert((path.clone(), source));
            }
        }
        drop(pending);
        match first_err {
            None => Ok(()),
            Some((path, source)) => {
                let device = self
                    .changed
                    .iter()
                    .find(|(d, _, _)| d.read_ahead_kb_path() == path)
                    .map_or_else(String::new, |(d, _, _)| d.name.clone());
                Err(SetupError::Readahead { device, path, source })
            }
        }
    }
}

impl Drop for ReadaheadGuard {
    fn drop(&mut self) {
        let _ = self.restore_inner();
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::time::Duration;

    use super::super::testutil::{self, ChildGuard, LoopFs};
    use super::*;

    #[test]
    fn splits_device_numbers() {
        assert_eq!(split_dev(254 << 8), (254, 0));
        assert_eq!(split_dev((259 << 8) | 5), (259, 5));
        // Large minor numbers use the high bits.
        let dev = (0x1234u64 & 0xff) | ((0x1234u64 & !0xff) << 12) | (8 << 8);
        assert_eq!(split_dev(dev), (8, 0x1234));
    }

    /// A fake sysfs: a disk with a partition, and a dm device.
    #[test]
    fn resolves_partitions_to_their_disk() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let sys = tmp.path();
        let disk = sys.join("devices/pci0/block/sdz");
        let part = disk.join("sdz2");
        let dm = sys.join("devices/virtual/block/dm-3");
        for d in [disk.join("queue"), part.clone(), dm.join("queue"), sys.join("dev/block")] {
            fs::create_dir_all(d).expect("mkdir");
        }
        fs::write(disk.join("dev"), "8:0\n").expect("write");
        fs::write(disk.join("queue/read_ahead_kb"), "128\n").expect("write");
        fs::write(part.join("dev"), "8:2\n").expect("write");
        fs::write(part.join("partition"), "2\n").expect("write");
        fs::write(dm.join("dev"), "253:3\n").expect("write");
        fs::write(dm.join("queue/read_ahead_kb"), "4096\n").expect("write");
        symlink("../../devices/pci0/block/sdz/sdz2", sys.join("dev/block/8:2")).expect("symlink");
        symlink("../../devices/virtual/block/dm-3", sys.join("dev/block/253:3")).expect("symlink");

        let p = queue_device(sys, 8, 2).expect("io").expect("found");
        assert_eq!((p.name.as_str(), p.major, p.minor), ("sdz", 8, 0));
        assert_eq!(p.partition.as_deref(), Some("sdz2"));
        assert_eq!(p.sysfs_queue, fs::canonicalize(&disk).expect("canon").join("queue"));
        let d = queue_device(sys, 253, 3).expect("io").expect("found");
        assert_eq!((d.name.as_str(), d.major, d.minor, d.partition), ("dm-3", 253, 3, None));
        assert!(queue_device(sys, 0, 45).expect("io").is_none());
    }

    /// A failure on the second device restores the first before returning (fake queue dirs).
    #[test]
    fn failed_set_rolls_back() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let fake = |name: &str, minor, value: Option<&str>| {
            let queue = tmp.path().join(name).join("queue");
            fs::create_dir_all(&queue).expect("mkdir");
            if let Some(v) = value {
                fs::write(queue.join("read_ahead_kb"), v).expect("write");
            }
            BlockDevice { name: name.into(), sysfs_queue: queue, major: 7, minor, partition: None }
        };
        let good = fake("good", 1, Some("128\n"));
        let dup = fake("good-again", 1, Some("128\n"));
        let bad = fake("bad", 2, None);
        let err = ReadaheadGuard::set(&[good.clone(), dup.clone(), bad], 512).expect_err("bad has no file");
        assert!(matches!(&err, SetupError::Readahead { device, .. } if device == "bad"), "{err}");
        assert_eq!(good.read_ahead_kb().expect("read"), 128, "rolled back");

        let guard = ReadaheadGuard::set(&[good.clone(), dup.clone()], 512).expect("set");
        assert_eq!(guard.changes().count(), 1, "same device number: changed once");
        assert_eq!(dup.read_ahead_kb().expect("read"), 128);
        drop(guard);
        assert_eq!(good.read_ahead_kb().expect("read"), 128);
    }

    #[test]
    fn tmpfs_has_no_block_device() {
        let dir = tempfile::tempdir_in("/dev/shm").expect("tempdir in /dev/shm");
        let file = dir.path().join("f");
        fs::write(&file, b"x").expect("write");
        let err = device_of(&file).expect_err("tmpfs");
        let msg = err.to_string();
        assert!(matches!(err, SetupError::NoBlockDevice { .. }), "{msg}");
        assert!(
            msg.contains(
                "is on tmpfs (tmpfs mounted at /dev/shm) with no block device whose read_ahead_kb can be set"
            ),
            "{msg}"
        );
        assert!(msg.ends_with("use a file on a block device or drop --ra-kb"), "{msg}");
    }

    /// device_of on a loop device, then the guard: set, restore on drop, restore on panic.
    #[test]
    fn loop_device_readahead_is_set_and_restored() {
        let Some(lfs) = LoopFs::new(false) else { return };
        let file = lfs.root().join("data");
        fs::write(&file, b"x").expect("write");
        let dev = device_of(&file).expect("a block device");
        assert_eq!(format!("/dev/{}", dev.name), lfs.loop_dev);
        assert_eq!(dev.major, 7);
        assert_eq!(dev.partition, None);
        let (ra_path, old) = lfs.readahead();
        assert_eq!(dev.read_ahead_kb_path(), fs::canonicalize(ra_path).expect("canon"));
        let old: u32 = old.parse().expect("number");
        let new = if old == 512 { 1024 } else { 512 };

        // Two files on one device: one entry.
        let other = lfs.root().join("other");
        fs::write(&other, b"y").expect("write");
        let devices = devices_of(&[&file, &other]).expect("devices");
        assert_eq!(devices.len(), 1);
        assert!(devices[0].name.starts_with("loop"), "only loop devices are changed by tests");

        {
            let guard = ReadaheadGuard::set(&devices, new).expect("set");
            assert_eq!(dev.read_ahead_kb().expect("read"), new);
            let hint = guard.restore_hint();
            assert!(hint.contains(&format!("set to {new} (was {old}); to restore: echo {old} > ")), "{hint}");
        }
        assert_eq!(dev.read_ahead_kb().expect("read"), old, "restored on drop");

        let guard = ReadaheadGuard::set(&devices, new).expect("set");
        guard.restore().expect("restore");
        assert_eq!(dev.read_ahead_kb().expect("read"), old, "restored explicitly");

        let result = std::panic::catch_unwind(|| {
            let _guard = ReadaheadGuard::set(&devices, new).expect("set");
            assert_eq!(devices[0].read_ahead_kb().expect("read"), new);
            panic!("boom");
        });
        assert!(result.is_err());
        assert_eq!(dev.read_ahead_kb().expect("read"), old, "restored while unwinding");
    }

    /// A file on a partition (loopNp1) resolves to the whole loop device's queue.
    #[test]
    fn partition_resolves_to_its_disk() {
        let Some(lfs) = LoopFs::new(true) else { return };
        let file = lfs.root().join("data");
        fs::write(&file, b"x").expect("write");
        let dev = device_of(&file).expect("a block device");
        assert_eq!(format!("/dev/{}", dev.name), lfs.loop_dev);
        assert_eq!(dev.partition.as_deref(), Some(lfs.fs_dev.trim_start_matches("/dev/")));
        assert_eq!(dev.major, 7, "the disk's own number, not the partition's");
        // A block device node resolves to the device it names.
        let node = device_of(Path::new(&lfs.fs_dev)).expect("the node");
        assert_eq!(node, dev);
    }

    /// SIGINT while a guard is set: the child restores the value and exits with 130.
    #[test]
    fn sigint_restores_readahead() {
        if testutil::child_role().as_deref() == Some("readahead-sigint") {
            let file = PathBuf::from(std::env::var("MIO_TEST_FILE").expect("file"));
            let guard = ReadaheadGuard::set(&[device_of(&file).expect("device")], 512).expect("set");
            super::super::restore_on_signals().expect("handlers");
            println!("MIO-READY {}", guard.restore_hint());
            std::thread::sleep(Duration::from_secs(30));
            println!("MIO-TIMEOUT");
            std::process::exit(3);
        }
        let Some(lfs) = LoopFs::new(false) else { return };
        let file = lfs.root().join("data");
        fs::write(&file, b"x").expect("write");
        let (ra_path, old) = lfs.readahead();
        if old == "512" {
            fs::write(ra_path, "256").expect("make the old value differ");
        }
        let old = fs::read_to_string(ra_path).expect("read").trim().to_owned();

        let mut child = ChildGuard::spawn(
            module_path!(),
            "sigint_restores_readahead",
            "readahead-sigint",
            &[("MIO_TEST_FILE", file.to_str().expect("utf-8"))],
        );
        let hint = child.wait_for("MIO-READY ");
        assert!(hint.contains(&format!("set to 512 (was {old})")), "{hint}");
        assert_eq!(fs::read_to_string(ra_path).expect("read").trim(), "512", "the child set it");
        child.signal("INT");
        let code = child.wait_code(Duration::from_secs(10));
        assert_eq!(code, Some(130), "stdout: {}", child.rest_of_stdout());
        assert_eq!(fs::read_to_string(ra_path).expect("read").trim(), old, "restored by the handler");
    }
}
