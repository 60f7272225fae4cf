//! A memory limit for the replay: the whole process in a memory cgroup of its own.
//!
//! The page cache of the files a process reads is charged to its memory cgroup, so the cgroup's
//! limit bounds how much of the replay files stays cached, as a host with less memory would.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::mounts::{mounts, Mount};
use super::undo::{self, Undo};
use super::SetupError;

/// Which cgroup interface holds the memory controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// The unified hierarchy (`memory.max`, `memory.current`).
    V2,
    /// The legacy memory hierarchy (`memory.limit_in_bytes`), still found on hybrid setups.
    V1,
}

/// A snapshot of the replay cgroup's memory use, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemStats {
    /// The limit.
    pub limit: u64,
    /// Memory charged now (`memory.current`; v1 `memory.usage_in_bytes`).
    pub current: u64,
    /// Highest charge since the cgroup was made (`memory.peak`, kernel 5.19+; v1
    /// `memory.max_usage_in_bytes`).
    pub peak: Option<u64>,
    /// Page cache charged now (`memory.stat` `file`; v1 `cache`).
    pub file: u64,
    /// Evicted file pages read again: the cost of the limit (`workingset_refault_file`).
    pub refault_file: Option<u64>,
    /// Major page faults (`pgmajfault`).
    pub major_faults: Option<u64>,
}

/// The current process moved into a new memory cgroup with a limit, for as long as this lives.
///
/// [`MemoryCgroup::enter`] moves the **whole process**: a cgroup holds processes, not threads (the
/// memory controller cannot be threaded), so every thread, including ones started later, is
/// charged to it. Enter it before starting the replay's workers and before opening the replay
/// files. Pages cached before the move stay charged where they were: drop the replay files'
/// pages first (see [`super::drop_file_pages`]) so every page the replay reads is charged here.
///
/// Where the cgroup is made:
///
/// - cgroup v2: as a child of the hierarchy's root (`<mount>/mysql-io-replay-<pid>`), enabling
///   `memory` in the root's `cgroup.subtree_control` if needed (and leaving it enabled). The
///   root is the one place where that is allowed whatever processes sit in it (the
///   no-internal-processes rule); under a cgroup namespace the visible root is an ordinary cgroup
///   and the move can fail with a clear error.
/// - cgroup v1 (memory hierarchy): as a child of the process's current memory cgroup, so limits
///   above it still apply.
///
/// Swap is disabled for it where the kernel offers the knob (`memory.swap.max` /
/// `memory.memsw.limit_in_bytes`), so the limit cannot be dodged by swapping.
///
/// Dropping it (or [`MemoryCgroup::leave`], or a signal once [`super::restore_on_signals`] was
/// called) moves the process back to its original cgroup and removes the new one. Needs root (or
/// a delegated cgroup subtree).
#[derive(Debug)]
pub struct MemoryCgroup {
    version: CgroupVersion,
    dir: PathBuf,
    original: PathBuf,
    limit: u64,
    undo_ids: Vec<u64>,
}

/// The hierarchy holding the memory controller.
#[derive(Debug)]
struct Hierarchy {
    version: CgroupVersion,
    mount: Mount,
}

impl Hierarchy {
    fn find() -> Result<Self, SetupError> {
        let all = mounts();
        let v2 = all.iter().find(|m| m.fstype == "cgroup2");
        let mut detail = String::from("no cgroup2 filesystem is mounted");
        if let Some(m) = v2 {
            let controllers =
                fs::read_to_string(m.mount_point.join("cgroup.controllers")).unwrap_or_default();
            if controllers.split_whitespace().any(|c| c == "memory") {
                return Ok(Hierarchy { version: CgroupVersion::V2, mount: m.clone() });
            }
            detail = format!(
                "the cgroup2 hierarchy at {} has no memory controller (controllers: {})",
                m.mount_point.display(),
                controllers.trim()
            );
        }
        let v1 =
            all.iter().find(|m| m.fstype == "cgroup" && m.super_options.split(',').any(|o| o == "memory"));
        match v1 {
            Some(m) => Ok(Hierarchy { version: CgroupVersion::V1, mount: m.clone() }),
            None => Err(SetupError::NoMemoryCgroup { detail }),
        }
    }

    /// The directory of this process's cgroup in this hierarchy.
    fn current(&self) -> Result<PathBuf, SetupError> {
        let text = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| SetupError::io("read", "/proc/self/cgroup", e))?;
        let rel = text.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let wanted = match self.version {
                CgroupVersion::V2 => id == "0" && controllers.is_empty(),
                CgroupVersion::V1 => controllers.split(',').any(|c| c == "memory"),
            };
            wanted.then(|| PathBuf::from(path))
        });
        let rel = rel.ok_or_else(|| SetupError::NoMemoryCgroup {
            detail: "/proc/self/cgroup does not list this process's memory cgroup".into(),
        })?;
        // The path is relative to the hierarchy's root; the mount shows `root` of it.
        let inside = rel.strip_prefix(&self.mount.root).map_err(|_| SetupError::NoMemoryCgroup {
            detail: format!(
                "this process's cgroup {} is outside the mounted part {} of the hierarchy",
                rel.display(),
                self.mount.root.display()
            ),
        })?;
        Ok(self.mount.mount_point.join(inside))
    }
}

impl MemoryCgroup {
    /// Makes a memory cgroup limited to `limit_mib` MiB (page cache included) and moves this
    /// process into it. See the [type docs](MemoryCgroup) for where and what it requires.
    pub fn enter(limit_mib: u64) -> Result<Self, SetupError> {
        let limit = limit_mib.saturating_mul(1 << 20);
        let hierarchy = Hierarchy::find()?;
        let original = hierarchy.current()?;
        if hierarchy.version == CgroupVersion::V2 {
            enable_memory(&hierarchy.mount.mount_point)?;
        }
        let dir = group_dir(&hierarchy, &original, std::process::id());

        // `me` is declared before each lock is taken, so on an early return the lock is released
        // before `me` drops (its `Drop` takes the lock too).
        let mut me = MemoryCgroup { version: hierarchy.version, dir, original, limit, undo_ids: Vec::new() };
        // Register each undo under the lock together with its change (see `undo`).
        let mut pending = undo::lock();
        let created = fs::create_dir(&me.dir).or_else(|e| {
            // Left over from an earlier process with our pid that was killed: reuse it if empty.
            let procs = fs::read_to_string(me.dir.join("cgroup.procs")).unwrap_or_default();
            if e.kind() == io::ErrorKind::AlreadyExists && procs.trim().is_empty() {
                Ok(())
            } else {
                Err(cg_err("create the cgroup", &me.dir, e))
            }
        });
        if let Err(e) = created {
            drop(pending);
            return Err(e);
        }
        me.undo_ids.push(pending.push(Undo::Rmdir(me.dir.clone())));
        drop(pending);

        let (limit_file, swap_file) = match me.version {
            CgroupVersion::V2 => ("memory.max", "memory.swap.max"),
            CgroupVersion::V1 => ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"),
        };
        // Errors from here on: `me` drops and removes the directory.
        me.write(limit_file, &limit.to_string(), "set the memory limit in")?;
        if me.dir.join(swap_file).exists() {
            // v2 limits swap on its own (0); v1 limits memory+swap together (= the limit).
            let value = if me.version == CgroupVersion::V2 { 0 } else { limit };
            me.write(swap_file, &value.to_string(), "disable swap in")?;
        }

        let pid = std::process::id().to_string();
        let mut pending = undo::lock();
        let target = me.dir.join("cgroup.procs");
        if let Err(source) = fs::write(&target, &pid) {
            drop(pending);
            return Err(match source.raw_os_error() {
                Some(libc::EBUSY | libc::EOPNOTSUPP) => {
                    SetupError::CgroupMove { path: me.dir.clone(), source }
                }
                _ => cg_err("move this process into", &target, source),
            });
        }
        let back = Undo::Write { path: me.original.join("cgroup.procs"), value: pid };
        me.undo_ids.push(pending.push(back));
        Ok(me)
    }

    fn write(&self, file: &str, value: &str, what: &'static str) -> Result<(), SetupError> {
        let path = self.dir.join(file);
        fs::write(&path, value).map_err(|e| cg_err(what, &path, e))
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The cgroup the process came from (and returns to).
    pub fn original(&self) -> &Path {
        &self.original
    }

    /// Which interface is in use.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// The limit, in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// What to do by hand if the process is killed with SIGKILL before it can leave, for the CLI
    /// to print when entering (the process leaves a killed process's cgroup by exiting; only the
    /// empty directory remains).
    pub fn restore_hint(&self) -> String {
        format!(
            "memory limit {} in cgroup {}; if this run is killed, remove it with: rmdir {}",
            super::bytes(self.limit),
            self.dir.display(),
            self.dir.display()
        )
    }

    /// The cgroup's memory use now.
    pub fn stats(&self) -> Result<MemStats, SetupError> {
        let read = |file: &str| -> Result<Option<u64>, SetupError> {
            let path = self.dir.join(file);
            match fs::read_to_string(&path) {
                Ok(s) => Ok(s.trim().parse().ok()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(SetupError::io("read", path, e)),
            }
        };
        let stat_path = self.dir.join("memory.stat");
        let stat = fs::read_to_string(&stat_path).map_err(|e| SetupError::io("read", &stat_path, e))?;
        let field = |name: &str| {
            stat.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<u64>().ok())
        };
        let (current, peak, file) = match self.version {
            CgroupVersion::V2 => (read("memory.current")?, read("memory.peak")?, field("file")),
            CgroupVersion::V1 => {
                (read("memory.usage_in_bytes")?, read("memory.max_usage_in_bytes")?, field("cache"))
            }
        };
        Ok(MemStats {
            limit: self.limit,
            current: current.unwrap_or(0),
            peak,
            file: file.unwrap_or(0),
            refault_file: field("workingset_refault_file"),
            major_faults: field("pgmajfault"),
        })
    }

    /// Moves the process back and removes the cgroup now, reporting the first failure (dropping
    /// does the same silently).
    pub fn leave(mut self) -> Result<(), SetupError> {
        self.leave_inner()
    }

    fn leave_inner(&mut self) -> Result<(), SetupError> {
        let mut pending = undo::lock();
        let undos = pending.take(&std::mem::take(&mut self.undo_ids));
        let mut first_err = None;
        for undo in &undos {
            if let Err(e) = undo.run() {
                let (what, path) = match undo {
                    Undo::Write { path, .. } => ("move this process back into", path),
                    Undo::Rmdir(path) => ("remove the cgroup", path),
                };
                first_err.get_or_insert_with(|| cg_err(what, path, e));
            }
        }
        drop(pending);
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        let _ = self.leave_inner();
    }
}

/// Where the cgroup of process `pid`, now in `original`, is made.
fn group_dir(hierarchy: &Hierarchy, original: &Path, pid: u32) -> PathBuf {
    let parent = match hierarchy.version {
        CgroupVersion::V2 => &hierarchy.mount.mount_point,
        CgroupVersion::V1 => original,
    };
    parent.join(format!("mysql-io-replay-{pid}"))
}

fn cg_err(what: &'static str, path: &Path, source: io::Error) -> SetupError {
    SetupError::Cgroup { what, path: path.to_owned(), source }
}

/// Makes sure `memory` is in `dir`'s `cgroup.subtree_control` (cgroup v2).
fn enable_memory(dir: &Path) -> Result<(), SetupError> {
    let control = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&control).map_err(|e| cg_err("read", &control, e))?;
    if enabled.split_whitespace().any(|c| c == "memory") {
        return Ok(());
    }
    fs::write(&control, "+memory").map_err(|e| cg_err("enable the memory controller in", &control, e))
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Read;
    use std::time::Duration;

    use super::super::testutil::{self, ChildGuard};
    use super::*;

    const MIB: u64 = 1 << 20;

    /// Removes the cgroup directory a child that failed or was killed may have left.
    struct RemoveDir(PathBuf);

    impl RemoveDir {
        /// The directory the child `pid` (in our cgroup) makes.
        fn for_child(pid: u32) -> Self {
            let hierarchy = Hierarchy::find().expect("hierarchy");
            RemoveDir(group_dir(&hierarchy, &own_cgroup(&hierarchy), pid))
        }
    }

    impl Drop for RemoveDir {
        fn drop(&mut self) {
            let _ = undo::rmdir_retrying(&self.0);
        }
    }

    fn own_cgroup(h: &Hierarchy) -> PathBuf {
        h.current().expect("current cgroup")
    }

    /// The child: enter 64 MiB, read a 256 MiB file, check the charges, leave; then enter again
    /// and only drop. The test process itself never moves, so other tests are unaffected.
    fn child_reads_under_limit() {
        let file = PathBuf::from(std::env::var("MIO_TEST_FILE").expect("file"));
        let hierarchy = Hierarchy::find().expect("hierarchy");
        let before = own_cgroup(&hierarchy);
        super::super::drop_file_pages(std::slice::from_ref(&file)).expect("start cold");

        let cg = MemoryCgroup::enter(64).expect("enter");
        println!("MIO-GROUP {}", cg.path().display());
        assert!(cg.restore_hint().ends_with(&format!("rmdir {}", cg.path().display())));
        assert_eq!(own_cgroup(&hierarchy), cg.path(), "moved in");
        assert_eq!(cg.original(), before);
        let mut f = File::open(&file).expect("open");
        let mut buf = vec![0u8; MIB as usize];
        let mut total = 0u64;
        loop {
            let n = f.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        assert_eq!(total, 256 * MIB);
        let stats = cg.stats().expect("stats");
        println!("MIO-STATS {stats:?}");
        let slack = 2 * MIB;
        assert_eq!(stats.limit, 64 * MIB);
        assert!(stats.current <= stats.limit + slack, "{stats:?}");
        assert!(stats.file <= stats.limit, "{stats:?}");
        assert!(stats.file > 8 * MIB, "the reads were charged here: {stats:?}");
        if let Some(peak) = stats.peak {
            assert!(peak <= stats.limit + slack && peak >= stats.file, "{stats:?}");
        }
        if let Some(pages) = testutil::cached_pages(&file) {
            assert!(pages * 4096 <= 64 * MIB, "{pages} pages of the file stayed cached");
        }
        let dir = cg.path().to_owned();
        cg.leave().expect("leave");
        assert!(!dir.exists(), "removed");
        assert_eq!(own_cgroup(&hierarchy), before, "moved back");

        {
            let cg = MemoryCgroup::enter(64).expect("enter again");
            assert_eq!(own_cgroup(&hierarchy), cg.path());
        }
        assert!(!dir.exists(), "removed on drop");
        assert_eq!(own_cgroup(&hierarchy), before, "moved back on drop");
        println!("MIO-DONE");
    }

    fn child_waits_for_signal() {
        let cg = MemoryCgroup::enter(64).expect("enter");
        super::super::restore_on_signals().expect("handlers");
        println!("MIO-READY {}", cg.path().display());
        std::thread::sleep(Duration::from_secs(30));
        std::process::exit(3);
    }

    fn usable() -> bool {
        if !testutil::is_root() {
            eprintln!("skipped: needs root");
            return false;
        }
        if let Err(e) = Hierarchy::find() {
            eprintln!("skipped: {e}");
            return false;
        }
        true
    }

    #[test]
    fn limit_bounds_the_page_cache() {
        match testutil::child_role().as_deref() {
            Some("cgroup-read") => return child_reads_under_limit(),
            Some(_) => return,
            None => {}
        }
        if !usable() {
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("big");
        testutil::write_data_file(&file, 256 * MIB);
        let mut child = ChildGuard::spawn(
            module_path!(),
            "limit_bounds_the_page_cache",
            "cgroup-read",
            &[("MIO_TEST_FILE", file.to_str().expect("utf-8"))],
        );
        let cleanup = RemoveDir::for_child(child.pid());
        let group = PathBuf::from(child.wait_for("MIO-GROUP "));
        assert_eq!(group, cleanup.0);
        let code = child.wait_code(Duration::from_secs(120));
        let rest = child.rest_of_stdout();
        assert_eq!(code, Some(0), "child output: {rest}");
        assert!(rest.contains("MIO-DONE"), "{rest}");
        eprintln!("{}", rest.lines().find(|l| l.starts_with("MIO-STATS")).unwrap_or_default());
        assert!(!group.exists(), "{} is left behind", group.display());
    }

    #[test]
    fn sigint_leaves_and_removes_the_cgroup() {
        match testutil::child_role().as_deref() {
            Some("cgroup-sigint") => return child_waits_for_signal(),
            Some(_) => return,
            None => {}
        }
        if !usable() {
            return;
        }
        let mut child =
            ChildGuard::spawn(module_path!(), "sigint_leaves_and_removes_the_cgroup", "cgroup-sigint", &[]);
        let cleanup = RemoveDir::for_child(child.pid());
        let group = PathBuf::from(child.wait_for("MIO-READY "));
        assert_eq!(group, cleanup.0);
        let procs = fs::read_to_string(group.join("cgroup.procs")).expect("procs");
        assert_eq!(procs.trim(), child.pid().to_string());
        child.signal("INT");
        assert_eq!(child.wait_code(Duration::from_secs(10)), Some(130));
        assert!(!group.exists(), "the handler removed {}", group.display());
    }

    #[test]
    fn finds_a_hierarchy_or_says_why() {
        match Hierarchy::find() {
            Ok(h) => {
                let current = h.current().expect("current");
                assert!(
                    current.starts_with(&h.mount.mount_point) && current.is_dir(),
                    "{}",
                    current.display()
                );
            }
            Err(e) => assert!(e.to_string().contains("run without a memory limit"), "{e}"),
        }
    }
}
