//! The run's environment: where the trace's files are on this machine, whether they are fit to be
//! read, and the machine settings a replay changes for its duration.
//!
//! The pieces, in the order a run uses them:
//!
//! 1. [`PathMap`] turns recorded paths into local ones (`--map FROM=TO`), or [`create_standins`]
//!    writes full-size files with real data under an empty directory (`--create DIR`).
//! 2. [`check_sizes`] makes sure every file exists and is at least as large as when recorded.
//! 3. [`live_server_files`] finds running `mysqld`/`mariadbd` processes that use those files (the
//!    CLI refuses to go on unless `--force`).
//! 4. [`ReadaheadGuard`] sets the devices' `read_ahead_kb`, [`drop_caches`] or
//!    [`drop_file_pages`] makes the start cold, and [`MemoryCgroup`] bounds the page cache the
//!    replay may use. Each change is undone when its guard is dropped (also while a panic
//!    unwinds), and, once [`restore_on_signals`] was called, when SIGINT, SIGTERM or SIGHUP ends
//!    the process.
//!
//! Order matters: the readahead guard and the memory cgroup must be in place *before* the replay
//! opens its files and starts its workers (see each type's documentation for why).
//!
//! Every error is a [`SetupError`] whose message is one sentence saying what is wrong and what to
//! do about it.

use std::io;
use std::path::PathBuf;

mod cache;
mod cgroup;
mod device;
mod mounts;
mod paths;
mod servers;
mod standins;
mod sys;
mod undo;

#[cfg(test)]
mod testutil;

pub use cache::{drop_caches, drop_file_pages};
pub use cgroup::{CgroupVersion, MemStats, MemoryCgroup};
pub use device::{device_of, devices_of, BlockDevice, ReadaheadGuard};
pub use paths::{check_sizes, PathMap};
pub use servers::{live_server_files, LiveServers, ServerProcess, ServerUse, UseKind};
pub use standins::{create_standins, CreateReport};
pub use undo::restore_on_signals;

/// Why the run's environment could not be set up. The message is one sentence: what is wrong and
/// what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A `--map` argument is not `FROM=TO`.
    #[error("--map `{arg}` {why}: write it as FROM=TO, e.g. --map /var/lib/mysql=/mnt/copy")]
    BadMap {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        why: &'static str,
    },

    /// Two `--map` arguments have the same FROM.
    #[error("--map {} is given twice: keep only one mapping for it", from.display())]
    DuplicateMap {
        /// The repeated FROM.
        from: PathBuf,
    },

    /// Recorded paths that no `--map` covers.
    #[error(
        "{} is not under any --map FROM ({count} of the trace's {total} files are not): add a \
         --map FROM=TO that covers it",
        first.display()
    )]
    Unmapped {
        /// The first such path.
        first: PathBuf,
        /// How many paths are not mapped.
        count: usize,
        /// How many paths there are.
        total: usize,
    },

    /// Replay files that do not exist.
    #[error(
        "{} does not exist{}: point --map at a copy of the recorded files or make stand-ins \
         with --create DIR",
        first.display(),
        and_more(*count, "missing")
    )]
    Missing {
        /// The first missing file.
        first: PathBuf,
        /// How many are missing.
        count: usize,
    },

    /// A replay path that is neither a regular file nor a block device.
    #[error(
        "{} is neither a regular file nor a block device: point --map at the data files \
         themselves",
        path.display()
    )]
    NotAFile {
        /// The path.
        path: PathBuf,
    },

    /// A replay file smaller than when it was recorded.
    #[error(
        "{} has {} but had {} when recorded{}, so reads past its end would come back short: use \
         a full-size copy or make stand-ins with --create DIR",
        path.display(),
        bytes(*actual),
        bytes(*recorded),
        and_more(*count, "short")
    )]
    Short {
        /// The first such file.
        path: PathBuf,
        /// Its size now.
        actual: u64,
        /// Its size when recorded.
        recorded: u64,
        /// How many files are short.
        count: usize,
    },

    /// The `--create` directory already has something in it.
    #[error(
        "the --create directory {} is not empty: give a new or empty directory so that nothing \
         in it is overwritten",
        dir.display()
    )]
    CreateDirNotEmpty {
        /// The directory.
        dir: PathBuf,
    },

    /// A recorded path whose stand-in could land outside the `--create` directory.
    #[error(
        "the recorded path `{}` is empty or has a `..` component, so its stand-in could land \
         outside the --create directory: use --map with a copy of the files instead of --create",
        path.display()
    )]
    UnsafeRecordedPath {
        /// The recorded path.
        path: PathBuf,
    },

    /// Not enough room for the stand-ins.
    #[error(
        "{} has {} free but the stand-ins need {}: give a --create directory on a filesystem \
         with more room",
        dir.display(),
        bytes(*free),
        bytes(*need)
    )]
    NoSpace {
        /// The `--create` directory.
        dir: PathBuf,
        /// Bytes the stand-ins need.
        need: u64,
        /// Bytes available to this user.
        free: u64,
    },

    /// A running database server uses a replay file.
    #[error(
        "{} is used by the running {comm} (pid {pid}, {how}){}, and a replay would disturb its \
         cache and I/O: stop the server or pass --force",
        path.display(),
        and_more(*count, "in use")
    )]
    LiveServer {
        /// The first file in use.
        path: PathBuf,
        /// The server's pid.
        pid: u32,
        /// The server's command name.
        comm: String,
        /// How it uses the file.
        how: UseKind,
        /// How many files are in use.
        count: usize,
    },

    /// Running database servers whose open files could not be listed.
    #[error(
        "{comm} (pid {pid}) is running but its open files cannot be inspected ({source}): run \
         as root so the check can see them, or pass --force"
    )]
    ServerHidden {
        /// The server's pid.
        pid: u32,
        /// The server's command name.
        comm: String,
        /// Why its `/proc/PID/fd` could not be read.
        source: io::Error,
    },

    /// A replay file on a filesystem without a block device.
    #[error(
        "{} is on {fs} with no block device whose read_ahead_kb can be set: use a file on a \
         block device or drop --ra-kb",
        path.display()
    )]
    NoBlockDevice {
        /// The file.
        path: PathBuf,
        /// The filesystem, e.g. "tmpfs (tmpfs mounted at /dev/shm)".
        fs: String,
    },

    /// Writing a device's `read_ahead_kb` failed.
    #[error(
        "could not set read_ahead_kb of {device} through {} ({source}): run as root or drop \
         --ra-kb",
        path.display()
    )]
    Readahead {
        /// The device's name.
        device: String,
        /// The sysfs file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },

    /// Dropping the whole page cache needs root.
    #[error(
        "dropping the page cache through /proc/sys/vm/drop_caches failed ({source}): run as \
         root, or drop only the replay files' pages (posix_fadvise needs no root)"
    )]
    DropCaches {
        /// What failed.
        source: io::Error,
    },

    /// No memory cgroup controller to use.
    #[error(
        "there is no usable memory cgroup controller ({detail}): mount cgroup v2 with the memory \
         controller (or v1's memory hierarchy), or run without a memory limit"
    )]
    NoMemoryCgroup {
        /// What was found instead.
        detail: String,
    },

    /// A cgroup operation failed.
    #[error(
        "could not {what} {} ({source}): run as root on a host that lets this process create \
         cgroups, or run without a memory limit",
        path.display()
    )]
    Cgroup {
        /// What was being done, e.g. "create the cgroup".
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },

    /// The kernel refused to move this process into the new cgroup.
    #[error(
        "the kernel refused to move this process into {} ({source}), which happens when the \
         current cgroup is threaded or the target breaks the no-internal-processes rule: run the \
         replay from a plain leaf cgroup (e.g. under systemd-run --scope) or without a memory \
         limit",
        path.display()
    )]
    CgroupMove {
        /// The target cgroup.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },

    /// Installing the signal handlers failed.
    #[error(
        "could not install the SIGINT/SIGTERM/SIGHUP handlers that undo the run's settings \
         ({source}): run without --ra-kb and without a memory limit"
    )]
    Signals {
        /// What failed.
        source: io::Error,
    },

    /// Any other file operation.
    #[error("could not {what} {} ({source}): check the path and its permissions", path.display())]
    Io {
        /// What was being done, e.g. "read".
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
}

impl SetupError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        SetupError::Io { what, path: path.into(), source }
    }
}

/// " (and N more are WHAT)" when there is more than one.
fn and_more(count: usize, what: &str) -> String {
    match count {
        0 | 1 => String::new(),
        2 => format!(" (and 1 more is {what})"),
        n => format!(" (and {} more are {what})", n - 1),
    }
}

/// A byte count for messages: exact below 1 MiB, else also in MiB or GiB.
pub(crate) fn bytes(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    if n < MIB {
        format!("{n} bytes")
    } else if n < GIB {
        format!("{n} bytes ({:.1} MiB)", n as f64 / MIB as f64)
    } else {
        format!("{n} bytes ({:.2} GiB)", n as f64 / GIB as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_sentence() {
        let errors = [
            SetupError::Missing { first: "/d/a".into(), count: 3 },
            SetupError::Short { path: "/d/a".into(), actual: 10, recorded: 3 << 20, count: 1 },
            SetupError::DropCaches { source: io::Error::from_raw_os_error(13) },
        ];
        for e in errors {
            let s = e.to_string();
            assert!(!s.contains('\n'), "{s}");
            assert!(!s.trim_end().ends_with('.'), "the CLI adds the full stop: {s}");
            assert_eq!(s.matches(": ").count(), 1, "one 'what is wrong: what to do' split: {s}");
        }
        assert_eq!(and_more(3, "missing"), " (and 2 more are missing)");
        assert_eq!(bytes(3 << 20), "3145728 bytes (3.0 MiB)");
    }
}
