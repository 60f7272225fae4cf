//! The process-wide list of changes to undo, and the signal thread that undoes them.
//!
//! Every guard that changes the machine ([`super::ReadaheadGuard`], [`super::MemoryCgroup`])
//! registers how to undo each change here *while holding the list's lock*, before or as it makes
//! the change, so a signal can never see a change that is not listed yet. On drop the guard takes
//! its own entries out (again under the lock) and runs them. The signal thread started by
//! [`restore_on_signals`] takes the lock, runs every entry still listed, newest first, and exits
//! the process without releasing the lock, so no guard can race it.
//!
//! SIGKILL (and a power cut, or an OOM kill) cannot be caught: nothing is undone then. That is why
//! the guards offer the previous values as text ([`super::ReadaheadGuard::restore_hint`]) for the
//! CLI to print when it makes the change.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::SetupError;

/// One change to undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Undo {
    /// Write `value` to the file `path` (a sysfs or cgroup attribute).
    Write { path: PathBuf, value: String },
    /// Remove the empty directory `path` (a cgroup).
    Rmdir(PathBuf),
}

impl Undo {
    pub(super) fn run(&self) -> io::Result<()> {
        match self {
            Undo::Write { path, value } => fs::write(path, value),
            Undo::Rmdir(path) => rmdir_retrying(path),
        }
    }
}

/// Removes a cgroup directory, retrying briefly while the kernel still counts a task that just
/// left it.
pub(super) fn rmdir_retrying(path: &std::path::Path) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match fs::remove_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 50 => {
                tries += 1;
                thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

#[derive(Debug)]
struct Entry {
    id: u64,
    undo: Undo,
}

static PENDING: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The locked list. Hold it across "change, then register" so the signal thread sees both or
/// neither.
#[derive(Debug)]
pub(super) struct Pending(MutexGuard<'static, Vec<Entry>>);

/// Locks the list (a panic elsewhere while it was held does not make it unusable).
pub(super) fn lock() -> Pending {
    Pending(PENDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

impl Pending {
    /// Lists a change to undo; returns its id.
    pub(super) fn push(&mut self, undo: Undo) -> u64 {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        self.0.push(Entry { id, undo });
        id
    }

    /// Takes the entries with these ids out of the list, newest first (the order to run them).
    pub(super) fn take(&mut self, ids: &[u64]) -> Vec<Undo> {
        let mut taken = Vec::new();
        let mut i = self.0.len();
        while i > 0 {
            i -= 1;
            if ids.contains(&self.0[i].id) {
                taken.push(self.0.remove(i).undo);
            }
        }
        taken
    }

    /// Runs and forgets every listed entry, newest first; returns the first error.
    fn run_all(&mut self) -> io::Result<()> {
        let mut first_err = Ok(());
        while let Some(entry) = self.0.pop() {
            if let Err(e) = entry.undo.run() {
                if first_err.is_ok() {
                    first_err = Err(e);
                }
            }
        }
        first_err
    }

    #[cfg(test)]
    pub(super) fn contains(&self, id: u64) -> bool {
        self.0.iter().any(|e| e.id == id)
    }
}

static INSTALLED: Mutex<bool> = Mutex::new(false);

/// Makes SIGINT (Ctrl-C), SIGTERM and SIGHUP undo every change still held by a guard
/// ([`super::ReadaheadGuard`], [`super::MemoryCgroup`]) and then end the process with exit status
/// 128 + the signal number (130 for Ctrl-C), the shell convention for "killed by a signal".
///
/// Call it once, early, before making any change; later calls do nothing. From then on these
/// signals no longer end the process by themselves: a background thread waits for the first one,
/// undoes the changes (readahead values written back, the process moved back to its original
/// cgroup and the replay's cgroup removed) and calls [`std::process::exit`], so destructors of
/// other threads do not run. A panic needs none of this: the guards' `Drop` runs while it unwinds
/// (unless the binary is built with `panic = "abort"`).
///
/// SIGKILL cannot be caught, so a `kill -9` leaves the changes in place: print the guards'
/// [`super::ReadaheadGuard::restore_hint`] when making them so the user can undo them by hand.
pub fn restore_on_signals() -> Result<(), SetupError> {
    let mut installed = INSTALLED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if *installed {
        return Ok(());
    }
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(|source| SetupError::Signals { source })?;
    thread::Builder::new()
        .name("mio-undo-on-signal".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let mut pending = lock();
                // Nothing useful can be done with an error here: the process is ending either way.
                let _ = pending.run_all();
                // `pending` stays locked on purpose: no guard may start undoing (or changing)
                // anything while the process exits.
                std::process::exit(128 + signal);
            }
        })
        .map_err(|source| SetupError::Signals { source })?;
    *installed = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_returns_own_entries_newest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let (ia, ib, other) = {
            let mut p = lock();
            let ia = p.push(Undo::Write { path: a.clone(), value: "1".into() });
            let other = p.push(Undo::Rmdir(dir.path().join("not-ours")));
            let ib = p.push(Undo::Write { path: a.clone(), value: "2".into() });
            (ia, ib, other)
        };
        let undos = lock().take(&[ia, ib]);
        assert_eq!(
            undos,
            vec![
                Undo::Write { path: a.clone(), value: "2".into() },
                Undo::Write { path: a.clone(), value: "1".into() }
            ]
        );
        for undo in &undos {
            undo.run().expect("write");
        }
        // Run newest first, so the oldest value is what stays.
        assert_eq!(fs::read_to_string(&a).expect("read"), "1");
        let mut p = lock();
        assert!(p.contains(other) && !p.contains(ia) && !p.contains(ib));
        p.take(&[other]);
        drop(p);

        fs::create_dir(&b).expect("mkdir");
        Undo::Rmdir(b.clone()).run().expect("rmdir");
        assert!(!b.exists());
        Undo::Rmdir(b).run().expect("a missing directory is already undone");
    }
}
