//! Starting cold: dropping cached pages before the replay.
//!
//! Two ways, for two situations:
//!
//! - [`drop_caches`] empties the whole page cache plus the dentry and inode caches. Needs root.
//!   Use it for a dedicated test box: the first reads then also pay for the filesystem metadata
//!   (inodes, extent trees) as a restarted server would, but every other program on the machine
//!   loses its cache too.
//! - [`drop_file_pages`] drops only the replay files' pages (`posix_fadvise(DONTNEED)`). Needs no
//!   root, only read access to the files, and leaves the rest of the machine alone. Use it on a
//!   shared machine or without root; metadata stays cached, and pages that are dirty or mapped by
//!   some process stay too (the stand-ins of `--create` are fsynced, so they go).

use std::fs::{self, File};
use std::path::PathBuf;

use super::{sys, SetupError};

/// Writes dirty pages out (`sync`), then drops the clean page cache, dentries and inodes
/// (`echo 3 > /proc/sys/vm/drop_caches`). Needs root.
///
/// Which to use:
///
/// - this, on a dedicated test box: the first reads then also pay for the filesystem metadata
///   (inodes, extent trees) as after a server restart, but every other program on the machine
///   loses its cache too;
/// - [`drop_file_pages`] on a shared machine or without root: only the replay files' data pages
///   go; metadata stays cached, and so do pages that are dirty or mapped by some process.
pub fn drop_caches() -> Result<(), SetupError> {
    // drop_caches only drops clean pages: write the dirty ones first.
    sys::sync_all_filesystems();
    fs::write("/proc/sys/vm/drop_caches", "3").map_err(|source| SetupError::DropCaches { source })
}

/// Drops the cached pages of each file (`posix_fadvise(POSIX_FADV_DONTNEED)` over the whole file).
/// Needs no root, only read access. Dirty pages and pages some process has mapped stay; see
/// [`drop_caches`] for when to use which.
pub fn drop_file_pages(paths: &[PathBuf]) -> Result<(), SetupError> {
    for path in paths {
        let file = File::open(path).map_err(|e| SetupError::io("open", path, e))?;
        sys::fadvise_dontneed(&file).map_err(|e| SetupError::io("drop the cached pages of", path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::process::Command;

    use super::super::testutil::{self, cached_pages};
    use super::*;

    #[test]
    fn drop_file_pages_empties_the_files_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        fs::write(&path, vec![7u8; 1 << 20]).expect("write");
        File::open(&path).expect("open").sync_all().expect("fsync");
        let mut buf = Vec::new();
        File::open(&path).expect("open").read_to_end(&mut buf).expect("read");
        let Some(before) = cached_pages(&path) else { return };
        assert!(before > 0, "the file was just read, so it is cached");
        drop_file_pages(std::slice::from_ref(&path)).expect("dropped");
        assert_eq!(cached_pages(&path), Some(0));

        let err = drop_file_pages(&[dir.path().join("missing")]).expect_err("missing");
        assert!(err.to_string().contains("could not open"), "{err}");
    }

    /// Running as an unprivileged user (through setpriv) gives the "needs root" sentence; the
    /// cache itself is never dropped by this test.
    #[test]
    fn drop_caches_without_root_says_so() {
        if testutil::child_role().as_deref() == Some("drop-caches") {
            let err = drop_caches().expect_err("not root");
            println!("MIO-RESULT {err}");
            return;
        }
        if !testutil::is_root() || !testutil::have("setpriv") {
            eprintln!("skipped: needs root and setpriv to become an unprivileged user");
            return;
        }
        let exe = std::env::current_exe().expect("exe");
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&exe)
            .args(testutil::child_args(module_path!(), "drop_caches_without_root_says_so"))
            .env(testutil::ROLE_VAR, "drop-caches")
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() && stdout.is_empty() {
            // The test binary may not be readable by nobody (e.g. under a private home).
            eprintln!(
                "skipped: the test binary did not run as nobody: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let line = stdout.lines().find_map(|l| Some(l.split_once("MIO-RESULT ")?.1)).expect("result line");
        assert!(
            line.starts_with("dropping the page cache through /proc/sys/vm/drop_caches failed"),
            "{line}"
        );
        assert!(line.contains("run as root"), "{line}");
    }

    /// Drops the whole machine's page cache, so it only runs when asked for
    /// (`cargo test -- --ignored`).
    #[test]
    #[ignore = "drops the page cache of the whole machine"]
    fn drop_caches_as_root() {
        drop_caches().expect("dropped");
    }
}
